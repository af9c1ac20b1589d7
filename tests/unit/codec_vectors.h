/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden-vector driver shared by the binary codec tests (TLV, SenML CBOR,
 * LwM2M CBOR). Header-only: each test_<codec>.c is built alone with
 * testutil.c.
 *
 * A vector is one .hex file under tests/data/<codec>/ whose comments carry
 * directives:
 *   # @base /3/0              request path (required)
 *   # @rec <path> <Type> <value> [@t=<time>]
 *                             an expected record, in order; path may carry
 *                             an Object 25 prefix ("/dev0/3303/0/5700")
 *   # @exact                  encoding the records gives exactly these bytes
 *   # @error EBADMSG|EINVAL|ERANGE|ENOTSUP
 *                             decoding must fail so (and leave out alone)
 *   # @truncate               every strict non-empty prefix must fail with
 *                             -EBADMSG
 * Types: None String Integer Unsigned Float Boolean Opaque Time Objlnk
 * Corelnk. Values: decimal integers, strtod() floats (hex floats, nan,
 * inf), true/false, oid:iid, Opaque in hex, String/Corelnk as the rest of
 * the line, None as "-".
 */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/codec_internal.h"
#include "record_equal.h"
#include "testutil.h"

typedef int (*cv_encode_fn)(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out);
typedef int (*cv_decode_fn)(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

static const char *const cv_type_names[LWM2M_TYPE__MAX] = {
	"None", "String", "Integer", "Unsigned", "Float", "Boolean", "Opaque", "Time", "Objlnk", "Corelnk",
};

/* The resource types the tests know (registry-like, but fixed):
 *  - /3 Device (TS Appendix E.3 types),
 *  - /1 Server, /2 Access Control, /66 the TS's Object Link example,
 *  - /9999 a test object whose resource rid has type rid % 10 (0 = not
 *    known, 1 String ... 9 Corelnk, in enum lwm2m_type order). */
static enum lwm2m_type cv_type_of(void *ctx, const struct lwm2m_path *p)
{
	(void)ctx;
	if (p->len < 3)
		return LWM2M_TYPE_NONE;
	uint16_t rid = p->id[2];
	switch (p->id[0]) {
	case 1:
		switch (rid) {
		case 0:
		case 1:
		case 2:
		case 3:
		case 5:
			return LWM2M_TYPE_INTEGER;
		case 6:
			return LWM2M_TYPE_BOOLEAN;
		case 7:
			return LWM2M_TYPE_STRING;
		default:
			return LWM2M_TYPE_NONE;
		}
	case 2:
		return rid == 0 || rid == 1 || rid == 2 || rid == 3 ? LWM2M_TYPE_INTEGER : LWM2M_TYPE_NONE;
	case 3:
		switch (rid) {
		case 0:
		case 1:
		case 2:
		case 3:
		case 14:
		case 15:
		case 16:
		case 17:
		case 18:
		case 19:
			return LWM2M_TYPE_STRING;
		case 6:
		case 7:
		case 8:
		case 9:
		case 10:
		case 11:
		case 20:
		case 21:
			return LWM2M_TYPE_INTEGER;
		case 13:
			return LWM2M_TYPE_TIME;
		default:
			return LWM2M_TYPE_NONE;
		}
	case 66:
		return rid == 0   ? LWM2M_TYPE_OBJLNK
		       : rid == 1 ? LWM2M_TYPE_STRING
		       : rid == 2 ? LWM2M_TYPE_INTEGER
				  : LWM2M_TYPE_NONE;
	case 9999:
		return (enum lwm2m_type)(rid % 10);
	default:
		return LWM2M_TYPE_NONE;
	}
}

struct cv_vector {
	char name[256];
	struct lwm2m_path base;
	struct lwm2m_records want; /* expected records (bytes in want's arena) */
	uint8_t *data;             /* the payload, exact-size allocation */
	size_t len;
	bool exact, truncate;
	int error;
};

static int cv_parse_type(const char *s, size_t n)
{
	for (int t = 0; t < LWM2M_TYPE__MAX; t++)
		if (strlen(cv_type_names[t]) == n && memcmp(cv_type_names[t], s, n) == 0)
			return t;
	fail_msg("unknown type '%.*s'", (int)n, s);
	return -1;
}

static void cv_parse_path(const char *s, size_t n, struct lwm2m_records *owner, struct lwm2m_record *rec)
{
	struct lwm2m_span pfx;

	if (lwm2m_path_parse(s, n, &rec->path, &pfx) < 0) {
		/* The parser refuses the reserved id 65535, which TLV's
		 * "instance not given" records use: read those by hand. */
		struct lwm2m_path p = { .len = 0 };
		unsigned long v;
		char buf[64], *save = NULL;
		snprintf(buf, sizeof(buf), "%.*s", (int)n, s);
		for (char *seg = strtok_r(buf, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
			v = strtoul(seg, NULL, 10);
			if (p.len == 4 || v > 65535)
				fail_msg("bad path '%.*s'", (int)n, s);
			p.id[p.len++] = (uint16_t)v;
		}
		rec->path = p;
		return;
	}
	if (pfx.len) {
		rec->prefix.ptr = lwm2m_records_dup(owner, pfx.ptr, pfx.len);
		rec->prefix.len = pfx.len;
	}
}

/* "@rec <path> <Type> <value> [@t=<time>]" after the "@rec ". */
static void cv_parse_rec(char *s, struct lwm2m_records *out)
{
	struct lwm2m_record *rec = lwm2m_records_add(out);
	char *sp, *val, *t;
	size_t n;

	assert_non_null(rec);
	if ((t = strstr(s, " @t="))) {
		rec->has_time = true;
		rec->time = strtod(t + 4, NULL);
		*t = 0;
	}
	sp = strchr(s, ' ');
	assert_non_null(sp);
	cv_parse_path(s, (size_t)(sp - s), out, rec);
	s = sp + 1;
	sp = strchr(s, ' ');
	n = sp ? (size_t)(sp - s) : strlen(s);
	rec->value.type = (uint8_t)cv_parse_type(s, n);
	val = sp ? sp + 1 : s + n;
	switch (rec->value.type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		rec->value.i = strtoll(val, NULL, 0);
		break;
	case LWM2M_TYPE_UNSIGNED:
		rec->value.u = strtoull(val, NULL, 0);
		break;
	case LWM2M_TYPE_FLOAT:
		rec->value.f = strtod(val, NULL);
		break;
	case LWM2M_TYPE_BOOLEAN:
		rec->value.b = strcmp(val, "true") == 0;
		break;
	case LWM2M_TYPE_OBJLNK: {
		unsigned a, b;
		assert_int_equal(sscanf(val, "%u:%u", &a, &b), 2);
		rec->value.lnk.oid = (uint16_t)a;
		rec->value.lnk.iid = (uint16_t)b;
		break;
	}
	case LWM2M_TYPE_OPAQUE: {
		size_t bn;
		uint8_t *b = tu_hex(val, &bn);
		rec->value.bytes.ptr = lwm2m_records_dup(out, b, bn);
		rec->value.bytes.len = bn;
		free(b);
		break;
	}
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		rec->value.bytes.len = strlen(val);
		rec->value.bytes.ptr = lwm2m_records_dup(out, val, strlen(val));
		break;
	default:
		break;
	}
}

static int cv_parse_errno(const char *s)
{
	static const struct {
		const char *name;
		int e;
	} names[] = {
		{ "EBADMSG", EBADMSG }, { "EINVAL", EINVAL }, { "ERANGE", ERANGE }, { "ENOTSUP", ENOTSUP }
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(s, names[i].name, strlen(names[i].name)) == 0)
			return -names[i].e;
	fail_msg("unknown error '%s'", s);
	return 0;
}

static void cv_load(const char *rel, struct cv_vector *v)
{
	size_t len, n;
	char *text = (char *)tu_read_data(rel, &len), *save = NULL, *copy = strdup(text);
	bool have_base = false;
	uint8_t *raw;

	assert_non_null(copy);
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", rel);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# @", 3) != 0)
			continue;
		line += 3;
		if (strncmp(line, "base ", 5) == 0) {
			if (lwm2m_path_parse(line + 5, strlen(line + 5), &v->base, NULL) < 0)
				fail_msg("%s: bad @base", rel);
			have_base = true;
		} else if (strncmp(line, "rec ", 4) == 0) {
			cv_parse_rec(line + 4, &v->want);
		} else if (strcmp(line, "exact") == 0) {
			v->exact = true;
		} else if (strcmp(line, "truncate") == 0) {
			v->truncate = true;
		} else if (strncmp(line, "error ", 6) == 0) {
			v->error = cv_parse_errno(line + 6);
		} else {
			fail_msg("%s: unknown directive @%s", rel, line);
		}
	}
	if (!have_base)
		fail_msg("%s: no @base", rel);
	raw = tu_hex(text, &n);
	v->data = malloc(n ? n : 1);
	assert_non_null(v->data);
	if (n)
		memcpy(v->data, raw, n);
	v->len = n;
	free(raw);
	free(copy);
	free(text);
}

static void cv_free(struct cv_vector *v)
{
	lwm2m_records_clear(&v->want);
	free(v->data);
}

static uint64_t cv_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static void cv_format(const struct lwm2m_record *r, char *out, size_t cap)
{
	char p[32];
	int n = lwm2m_path_format(&r->path, p);
	const struct lwm2m_value *v = &r->value;

	n = snprintf(out, cap, "%.*s%s%s ", (int)r->prefix.len, r->prefix.ptr ? r->prefix.ptr : "",
		     r->prefix.len ? "" : "", n > 0 ? p : "?");
	out += n, cap -= (size_t)n;
	n = snprintf(out, cap, "%s ", v->type < LWM2M_TYPE__MAX ? cv_type_names[v->type] : "??");
	out += n, cap -= (size_t)n;
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		n = snprintf(out, cap, "%" PRId64, v->i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		n = snprintf(out, cap, "%" PRIu64, v->u);
		break;
	case LWM2M_TYPE_FLOAT:
		n = snprintf(out, cap, "%a (bits %016" PRIx64 ")", v->f, cv_bits(v->f));
		break;
	case LWM2M_TYPE_BOOLEAN:
		n = snprintf(out, cap, "%s", v->b ? "true" : "false");
		break;
	case LWM2M_TYPE_OBJLNK:
		n = snprintf(out, cap, "%u:%u", v->lnk.oid, v->lnk.iid);
		break;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
	case LWM2M_TYPE_OPAQUE:
		n = snprintf(out, cap, "[%zu] ", v->bytes.len);
		for (size_t i = 0; i < v->bytes.len && i < 24 && (size_t)n + 3 < cap; i++)
			n += snprintf(out + n, cap - (size_t)n, "%02x", v->bytes.ptr[i]);
		break;
	default:
		n = 0;
		break;
	}
	out += n, cap -= (size_t)n;
	if (r->has_time)
		snprintf(out, cap, " @t=%.17g", r->time);
}

static bool cv_record_equal(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	return tu_record_equal(a, b);
}

static void cv_assert_records(const char *what, const struct lwm2m_record *got, size_t ngot,
			      const struct lwm2m_record *want, size_t nwant)
{
	char a[256], b[256];

	for (size_t i = 0; i < ngot || i < nwant; i++) {
		if (i >= ngot) {
			cv_format(&want[i], b, sizeof(b));
			fail_msg("%s: record %zu missing, want %s", what, i, b);
		}
		if (i >= nwant) {
			cv_format(&got[i], a, sizeof(a));
			fail_msg("%s: extra record %zu: %s", what, i, a);
		}
		if (!cv_record_equal(&got[i], &want[i])) {
			cv_format(&got[i], a, sizeof(a));
			cv_format(&want[i], b, sizeof(b));
			fail_msg("%s: record %zu is %s, want %s", what, i, a, b);
		}
	}
}

static void cv_hexdump(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && k + 3 < cap; i++)
		k += (size_t)snprintf(out + k, cap - k, "%02x", p[i]);
}

/* A decode that must fail with err and leave a non-empty out untouched. */
static void cv_expect_fail(const char *what, cv_decode_fn dec, const struct lwm2m_path *base,
			   const uint8_t *p, size_t n, int err)
{
	struct lwm2m_records out = { 0 };
	struct lwm2m_record *sentinel = lwm2m_records_add(&out);
	int r;

	assert_non_null(sentinel);
	sentinel->path = LWM2M_PATH(1, 2, 3);
	sentinel->value = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 42 };
	r = dec(base, p, n, cv_type_of, NULL, &out);
	if (r != err)
		fail_msg("%s: decode gave %d, want %d", what, r, err);
	assert_int_equal(out.n, 1);
	assert_true(out.v[0].path.len == 3 && out.v[0].path.id[2] == 3 && out.v[0].value.i == 42);
	lwm2m_records_clear(&out);
}

/* Decode, compare, encode back (exactly when asked), decode again. */
static void cv_run(const struct cv_vector *v, cv_encode_fn enc, cv_decode_fn dec)
{
	struct lwm2m_records got = { 0 }, again = { 0 };
	struct lwm2m_buf b = { 0 };
	char msg[400], hex[1024];
	int r;

	if (v->error) {
		cv_expect_fail(v->name, dec, &v->base, v->data, v->len, v->error);
		return;
	}
	r = dec(&v->base, v->data, v->len, cv_type_of, NULL, &got);
	if (r != 0)
		fail_msg("%s: decode gave %d", v->name, r);
	cv_assert_records(v->name, got.v, got.n, v->want.v, v->want.n);

	/* The expected records (sorted, as encoders take them) encode to these
	 * bytes, or at least to bytes that decode to the same records. */
	struct lwm2m_records sorted = { 0 };
	for (size_t i = 0; i < v->want.n; i++) {
		struct lwm2m_record *rec = lwm2m_records_add(&sorted);
		assert_non_null(rec);
		*rec = v->want.v[i];
	}
	lwm2m_records_sort(&sorted);
	r = enc(&v->base, sorted.v, sorted.n, &b);
	if (r != 0)
		fail_msg("%s: encode gave %d", v->name, r);
	if (v->exact && (b.len != v->len || memcmp(b.data, v->data, v->len) != 0)) {
		cv_hexdump(b.data, b.len, hex, sizeof(hex));
		fail_msg("%s: encoded as %s", v->name, hex);
	}
	r = dec(&v->base, b.data, b.len, cv_type_of, NULL, &again);
	if (r != 0)
		fail_msg("%s: re-decode gave %d", v->name, r);
	snprintf(msg, sizeof(msg), "%s (re-decoded)", v->name);
	cv_assert_records(msg, again.v, again.n, sorted.v, sorted.n);
	lwm2m_records_clear(&sorted);

	if (v->truncate) {
		/* From one byte on: an empty payload is a valid TLV object. */
		for (size_t cut = 1; cut < v->len; cut++) {
			uint8_t *part = malloc(cut ? cut : 1);
			assert_non_null(part);
			memcpy(part, v->data, cut);
			snprintf(msg, sizeof(msg), "%s cut at %zu", v->name, cut);
			cv_expect_fail(msg, dec, &v->base, part, cut, -EBADMSG);
			free(part);
		}
	}
	lwm2m_buf_free(&b);
	lwm2m_records_clear(&got);
	lwm2m_records_clear(&again);
}

/* Every .hex vector of tests/data/<dir>; returns how many ran. */
static size_t cv_run_dir(const char *dir, cv_encode_fn enc, cv_decode_fn dec)
{
	char **names, rel[256];
	size_t n = tu_list_data(dir, ".hex", &names);

	for (size_t i = 0; i < n; i++) {
		struct cv_vector v;
		snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
		cv_load(rel, &v);
		cv_run(&v, enc, dec);
		cv_free(&v);
		free(names[i]);
	}
	free(names);
	return n;
}

/* Encode recs at base, decode the result, and expect recs back. */
static void cv_roundtrip(const char *what, cv_encode_fn enc, cv_decode_fn dec, const struct lwm2m_path *base,
			 const struct lwm2m_record *recs, size_t n)
{
	struct lwm2m_buf b = { 0 };
	struct lwm2m_records got = { 0 };
	int r = enc(base, recs, n, &b);

	if (r != 0)
		fail_msg("%s: encode gave %d", what, r);
	r = dec(base, b.data, b.len, cv_type_of, NULL, &got);
	if (r != 0) {
		char hex[1024];
		cv_hexdump(b.data, b.len, hex, sizeof(hex));
		fail_msg("%s: decode of %s gave %d", what, hex, r);
	}
	cv_assert_records(what, got.v, got.n, recs, n);
	lwm2m_buf_free(&b);
	lwm2m_records_clear(&got);
}

#include "value_literals.h"

/* Every payload shape for each type, with two values per type (values[t][0]
 * and [1]) on object 9999: a resource, a resource instance, a multiple
 * resource, an instance, an object and a composite across objects. */
__attribute__((unused)) static void cv_roundtrip_shapes(cv_encode_fn enc, cv_decode_fn dec,
							const struct lwm2m_value (*values)[2])
{
	for (unsigned t = LWM2M_TYPE_STRING; t < LWM2M_TYPE__MAX; t++) {
		struct lwm2m_record one = { .path = LWM2M_PATH(9999, 1, (uint16_t)t), .value = values[t][0] };
		struct lwm2m_record multi[2] = {
			{ .path = LWM2M_PATH(9999, 1, (uint16_t)(10 + t), 0), .value = values[t][0] },
			{ .path = LWM2M_PATH(9999, 1, (uint16_t)(10 + t), 300), .value = values[t][1] },
		};
		struct lwm2m_record inst[3] = { one, multi[0], multi[1] };
		struct lwm2m_record obj[4] = { one, multi[0], multi[1], one };
		struct lwm2m_record comp[3] = { { .path = LWM2M_PATH(3, 0, 9), .value = V_INT(100) },
						one,
						one };
		struct lwm2m_path res = LWM2M_PATH(9999, 1, (uint16_t)(10 + t)), ip = LWM2M_PATH(9999, 1),
				  op = LWM2M_PATH(9999), root = { .len = 0 };
		obj[3].path.id[1] = 7;
		comp[2].path.id[1] = 2;
		comp[2].value = values[t][1];

		cv_roundtrip("resource", enc, dec, &one.path, &one, 1);
		cv_roundtrip("resource instance", enc, dec, &multi[1].path, &multi[1], 1);
		cv_roundtrip("multiple", enc, dec, &res, multi, 2);
		cv_roundtrip("instance", enc, dec, &ip, inst, 3);
		cv_roundtrip("object", enc, dec, &op, obj, 4);
		cv_roundtrip("composite", enc, dec, &root, comp, 3);
	}
}
