/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interop helper for tests/interop/cbor2_interop.py: speaks our SenML CBOR
 * and LwM2M CBOR codecs on stdin/stdout so that an independent CBOR
 * implementation (Debian's python3-cbor2) can check them both ways.
 *
 *   codec_tool encode senml|lwm2m BASE   fixed records at or below BASE,
 *                                        encoded, to stdout
 *   codec_tool decode senml|lwm2m BASE   a payload from stdin, decoded; one
 *                                        record per line on stdout:
 *       path TAB prefix TAB type TAB value TAB time
 *   (value: decimal integers, floats as C99 hex (%a), true/false, oid:iid,
 *   String/Corelnk/Opaque as hex; prefix and time "-" when absent)
 *
 * Exit status 0, or 1 with the error on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/codec_internal.h"

#include "value_literals.h"

/* The fixed records; the Python side states the same list. */
static const struct lwm2m_record fixed[] = {
	{ .path = LWM2M_PATH(3, 0, 0), .value = V_STR("Open Mobile Alliance") },
	{ .path = LWM2M_PATH(3, 0, 9), .value = V_INT(100) },
	{ .path = LWM2M_PATH(3, 0, 13), .value = V_TIME(1700000000) },
	{ .path = LWM2M_PATH(9999, 0, 1), .value = V_STR("h\xc3\xa9llo \xe2\x82\xac") },
	{ .path = LWM2M_PATH(9999, 0, 2), .value = V_INT(INT64_MIN) },
	{ .path = LWM2M_PATH(9999, 0, 3), .value = V_UINT(UINT64_MAX) },
	{ .path = LWM2M_PATH(9999, 0, 4), .value = V_FLT(1.5) },
	{ .path = LWM2M_PATH(9999, 0, 5), .value = V_BOOL(true) },
	{ .path = LWM2M_PATH(9999, 0, 6), .value = V_OPQ("\x00\xff\x00") },
	{ .path = LWM2M_PATH(9999, 0, 8), .value = { .type = LWM2M_TYPE_OBJLNK, .lnk = { 3, 0 } } },
	{ .path = LWM2M_PATH(9999, 0, 9), .value = V_LNK("</3303/0>") },
	{ .path = LWM2M_PATH(9999, 0, 12, 0), .value = V_INT(-1) },
	{ .path = LWM2M_PATH(9999, 0, 12, 1), .value = V_INT(1) },
	{ .path = LWM2M_PATH(9999, 0, 14), .value = V_FLT(2.0) },
	{ .path = LWM2M_PATH(9999, 0, 24), .value = V_FLT(100000.0) },
	{ .path = LWM2M_PATH(9999, 0, 34), .value = V_FLT(0.1) },
	{ .path = LWM2M_PATH(9999, 0, 44), .value = V_FLT(3.4028234663852886e+38) },
	{ .path = LWM2M_PATH(9999, 1, 2), .value = V_INT(7), .has_time = true, .time = 1700000000.5 },
};

static const char *const type_names[LWM2M_TYPE__MAX] = {
	"None", "String", "Integer", "Unsigned", "Float", "Boolean", "Opaque", "Time", "Objlnk", "Corelnk",
};

/* The types the interop script assumes: /3 Device resources 0 (String), 9
 * (Integer), 13 (Time); object 9999's resource rid has type rid % 10. */
static enum lwm2m_type type_of(void *ctx, const struct lwm2m_path *p)
{
	(void)ctx;
	if (p->len < 3)
		return LWM2M_TYPE_NONE;
	if (p->id[0] == 3)
		return p->id[2] == 0    ? LWM2M_TYPE_STRING
		       : p->id[2] == 9  ? LWM2M_TYPE_INTEGER
		       : p->id[2] == 13 ? LWM2M_TYPE_TIME
					: LWM2M_TYPE_NONE;
	if (p->id[0] == 9999)
		return (enum lwm2m_type)(p->id[2] % 10);
	return LWM2M_TYPE_NONE;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void print_record(const struct lwm2m_record *r)
{
	char path[32];
	const struct lwm2m_value *v = &r->value;

	lwm2m_path_format(&r->path, path);
	printf("%s\t", path);
	if (r->prefix.len)
		printf("%.*s\t", (int)r->prefix.len, r->prefix.ptr);
	else
		printf("-\t");
	printf("%s\t", v->type < LWM2M_TYPE__MAX ? type_names[v->type] : "?");
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		printf("%" PRId64, v->i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		printf("%" PRIu64, v->u);
		break;
	case LWM2M_TYPE_FLOAT:
		printf("%a", v->f);
		break;
	case LWM2M_TYPE_BOOLEAN:
		printf("%s", v->b ? "true" : "false");
		break;
	case LWM2M_TYPE_OBJLNK:
		printf("%u:%u", v->lnk.oid, v->lnk.iid);
		break;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		print_hex(v->bytes.ptr, v->bytes.len);
		break;
	default:
		printf("-");
		break;
	}
	if (r->has_time)
		printf("\t%a\n", r->time);
	else
		printf("\t-\n");
}

static int encode(bool senml, const struct lwm2m_path *base)
{
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf out = { 0 };
	int r;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!lwm2m_path_is_under(&fixed[i].path, base))
			continue;
		struct lwm2m_record *rec = lwm2m_records_add(&recs);
		if (!rec)
			return -ENOMEM;
		*rec = fixed[i];
		/* LwM2M CBOR has no timestamps: keep its records comparable. */
		if (!senml)
			rec->has_time = false;
	}
	lwm2m_records_sort(&recs);
	r = senml ? lwm2m_senml_cbor_encode(base, recs.v, recs.n, &out)
		  : lwm2m_lwm2m_cbor_encode(base, recs.v, recs.n, &out);
	if (r == 0 && out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
		r = -EIO;
	lwm2m_buf_free(&out);
	lwm2m_records_clear(&recs);
	return r;
}

static int decode(bool senml, const struct lwm2m_path *base)
{
	struct lwm2m_records recs = { 0 };
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;
	int r;

	for (;;) {
		if (len == cap) {
			uint8_t *p = realloc(data, cap = cap ? 2 * cap : 4096);
			if (!p) {
				free(data);
				return -ENOMEM;
			}
			data = p;
		}
		size_t got = fread(data + len, 1, cap - len, stdin);
		len += got;
		if (got == 0)
			break;
	}
	r = senml ? lwm2m_senml_cbor_decode(base, data, len, type_of, NULL, &recs)
		  : lwm2m_lwm2m_cbor_decode(base, data, len, type_of, NULL, &recs);
	for (size_t i = 0; r == 0 && i < recs.n; i++)
		print_record(&recs.v[i]);
	lwm2m_records_clear(&recs);
	free(data);
	return r;
}

int main(int argc, char **argv)
{
	struct lwm2m_path base;
	bool senml;
	int r;

	if (argc != 4 || (strcmp(argv[2], "senml") != 0 && strcmp(argv[2], "lwm2m") != 0) ||
	    lwm2m_path_parse(argv[3], strlen(argv[3]), &base, NULL) < 0) {
		fprintf(stderr, "usage: %s encode|decode senml|lwm2m BASE\n", argv[0]);
		return 2;
	}
	senml = strcmp(argv[2], "senml") == 0;
	if (strcmp(argv[1], "encode") == 0)
		r = encode(senml, &base);
	else if (strcmp(argv[1], "decode") == 0)
		r = decode(senml, &base);
	else
		r = -EINVAL;
	if (r < 0) {
		fprintf(stderr, "%s %s: %s\n", argv[1], argv[2], strerror(-r));
		return 1;
	}
	return 0;
}
