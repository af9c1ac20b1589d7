/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data-driven codec tests: one file per case under tests/data/<area>/<name>.case,
 * each run as its own cmocka test. Header-only so each test_<format>.c
 * includes it without a build change. Format, one directive per line
 * ('#' starts a comment line):
 *
 *   ct 110                      content format number
 *   base /3/0                   request path
 *   type /3/0/13 Time           what type_of() answers for that path (a
 *                               resource entry also covers its instances)
 *   mode decode|encode|roundtrip
 *   error EBADMSG               expected errno of the mode's direction(s)
 *   payload "C string"          payload with \n \t \r \0 \\ \" \xNN escapes
 *   payload [...]               payload: the rest of the line as it is
 *   payload-hex 0a 0b ...       payload as hex
 *   payload:                    payload block: the following lines up to a
 *   ...                         line "." joined with '\n'
 *   .
 *   record [@prefix] /path Type [value] [t=time]
 *
 * Record values: String/Corelnk a quoted C string; Opaque hex ("-" when
 * empty); Integer/Time/Unsigned decimal; Float anything strtod reads
 * exactly (decimal or 0x1p-1074); Boolean true/false; Objlnk oid:iid;
 * None nothing. decode compares the decoded records with the expected ones
 * in order; encode compares the encoded bytes with the payload; roundtrip
 * does both. An expected error also checks that the output is unchanged.
 */
#pragma once

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/lwm2m.h"
#include "record_equal.h"
#include "testutil.h"

#define CC_MAX_TYPES 64

struct cc_type {
	struct lwm2m_path path;
	enum lwm2m_type type;
};

struct cc_case {
	char *file;
	uint16_t ct;
	struct lwm2m_path base;
	struct cc_type types[CC_MAX_TYPES];
	size_t ntypes;
	bool do_decode, do_encode;
	int error; /* expected negative errno, 0 for success */
	uint8_t *payload;
	size_t payload_len;
	struct lwm2m_records recs; /* expected records; bytes in its arena */
};

static inline enum lwm2m_type cc_type_of(void *ctx, const struct lwm2m_path *p)
{
	const struct cc_case *c = ctx;

	for (size_t i = 0; i < c->ntypes; i++)
		if (lwm2m_path_cmp(&c->types[i].path, p) == 0)
			return c->types[i].type;
	if (p->len == 4) {
		struct lwm2m_path res = *p;
		res.len = 3;
		return cc_type_of(ctx, &res);
	}
	return LWM2M_TYPE_NONE;
}

static inline int cc_errno(const char *s)
{
	static const struct {
		const char *name;
		int e;
	} names[] = {
		{ "EBADMSG", EBADMSG }, { "EINVAL", EINVAL },
		{ "ENOTSUP", ENOTSUP }, { "EPROTONOSUPPORT", EPROTONOSUPPORT },
		{ "ERANGE", ERANGE },   { "ENOENT", ENOENT },
		{ "ENOMEM", ENOMEM },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return -names[i].e;
	fail_msg("unknown errno name %s", s);
	return 0;
}

/* Parse a quoted C-like string at *p (on '"'); returns malloc'd bytes. */
static inline uint8_t *cc_cstring(const char **p, size_t *len, const char *file)
{
	const char *s = *p;
	uint8_t *out = malloc(strlen(s) + 1);
	size_t n = 0;

	assert_non_null(out);
	if (*s != '"')
		fail_msg("%s: expected a quoted string at '%s'", file, s);
	s++;
	while (*s && *s != '"') {
		if (*s != '\\') {
			out[n++] = (uint8_t)*s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'n':
			out[n++] = '\n';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case '0':
			out[n++] = 0;
			break;
		case '\\':
		case '"':
			out[n++] = (uint8_t)*s;
			break;
		case 'x': {
			char hex[3] = { s[1], s[2], 0 };
			if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
				fail_msg("%s: bad \\x escape", file);
			out[n++] = (uint8_t)strtoul(hex, NULL, 16);
			s += 2;
			break;
		}
		default:
			fail_msg("%s: unknown escape \\%c", file, *s);
		}
		s++;
	}
	if (*s != '"')
		fail_msg("%s: unterminated string", file);
	*p = s + 1;
	*len = n;
	return out;
}

static inline struct lwm2m_path cc_path(const char *s, size_t n, const char *file)
{
	struct lwm2m_path p;

	if (lwm2m_path_parse(s, n, &p, NULL) < 0)
		fail_msg("%s: bad path %.*s", file, (int)n, s);
	return p;
}

static inline const char *cc_word(const char **p, size_t *len)
{
	const char *s = *p;

	while (*s == ' ' || *s == '\t')
		s++;
	const char *w = s;
	while (*s && *s != ' ' && *s != '\t')
		s++;
	*len = (size_t)(s - w);
	*p = s;
	return w;
}

static inline void cc_record(struct cc_case *c, const char *line)
{
	struct lwm2m_record *r = lwm2m_records_add(&c->recs);
	const char *p = line, *w;
	size_t wl;
	enum lwm2m_type t;

	assert_non_null(r);
	w = cc_word(&p, &wl);
	if (wl && w[0] == '@') {
		r->prefix.ptr = lwm2m_records_dup(&c->recs, w + 1, wl - 1);
		r->prefix.len = wl - 1;
		w = cc_word(&p, &wl);
	}
	r->path = cc_path(w, wl, c->file);
	w = cc_word(&p, &wl);
	if (wl == 4 && strncmp(w, "None", 4) == 0)
		t = LWM2M_TYPE_NONE;
	else if (wl == 8 && strncmp(w, "Unsigned", 8) == 0)
		t = LWM2M_TYPE_UNSIGNED;
	else if (lwm2m_type_from_name(w, wl, &t) < 0)
		fail_msg("%s: unknown type %.*s", c->file, (int)wl, w);
	r->value.type = (uint8_t)t;
	while (*p == ' ')
		p++;
	switch (t) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK: {
		size_t n;
		uint8_t *b = cc_cstring(&p, &n, c->file);
		r->value.bytes.ptr = lwm2m_records_dup(&c->recs, b, n);
		r->value.bytes.len = n;
		free(b);
		break;
	}
	case LWM2M_TYPE_OPAQUE: {
		w = cc_word(&p, &wl);
		char *hex = strndup(w, wl);
		size_t n = 0;
		uint8_t *b = strcmp(hex, "-") == 0 ? calloc(1, 1) : tu_hex(hex, &n);
		r->value.bytes.ptr = lwm2m_records_dup(&c->recs, b, n);
		r->value.bytes.len = n;
		free(b);
		free(hex);
		break;
	}
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		errno = 0;
		r->value.i = strtoll(p, (char **)&p, 10);
		assert_int_equal(errno, 0);
		break;
	case LWM2M_TYPE_UNSIGNED:
		errno = 0;
		r->value.u = strtoull(p, (char **)&p, 10);
		assert_int_equal(errno, 0);
		break;
	case LWM2M_TYPE_FLOAT:
		r->value.f = strtod(p, (char **)&p);
		break;
	case LWM2M_TYPE_BOOLEAN:
		w = cc_word(&p, &wl);
		r->value.b = wl == 4 && strncmp(w, "true", 4) == 0;
		break;
	case LWM2M_TYPE_OBJLNK: {
		unsigned a, b;
		int used = 0;
		if (sscanf(p, "%u:%u%n", &a, &b, &used) != 2)
			fail_msg("%s: bad objlnk %s", c->file, p);
		r->value.lnk.oid = (uint16_t)a;
		r->value.lnk.iid = (uint16_t)b;
		p += used;
		break;
	}
	default:
		break;
	}
	w = cc_word(&p, &wl);
	if (wl > 2 && strncmp(w, "t=", 2) == 0) {
		r->has_time = true;
		r->time = strtod(w + 2, NULL);
	} else if (wl) {
		fail_msg("%s: trailing text in record line: %.*s", c->file, (int)wl, w);
	}
}

static inline void cc_load(struct cc_case *c, const char *dir, const char *name)
{
	char rel[512];
	size_t len;
	char *text, *line, *save = NULL;
	bool in_block = false;
	size_t block_cap = 0;

	snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	memset(c, 0, sizeof(*c));
	c->file = strdup(rel);
	c->ct = LWM2M_CT_NONE;
	text = (char *)tu_read_data(rel, &len);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (in_block) {
			if (strcmp(line, ".") == 0) {
				in_block = false;
				continue;
			}
			size_t l = strlen(line);
			if (c->payload_len + l + 2 > block_cap) {
				block_cap = (c->payload_len + l + 2) * 2;
				c->payload = realloc(c->payload, block_cap);
				assert_non_null(c->payload);
			}
			if (c->payload_len)
				c->payload[c->payload_len++] = '\n';
			memcpy(c->payload + c->payload_len, line, l);
			c->payload_len += l;
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (strncmp(line, "ct ", 3) == 0) {
			c->ct = (uint16_t)strtoul(line + 3, NULL, 10);
		} else if (strncmp(line, "base ", 5) == 0) {
			c->base = cc_path(line + 5, strlen(line + 5), c->file);
		} else if (strncmp(line, "type ", 5) == 0) {
			const char *p = line + 5, *w;
			size_t wl;
			assert_true(c->ntypes < CC_MAX_TYPES);
			w = cc_word(&p, &wl);
			c->types[c->ntypes].path = cc_path(w, wl, c->file);
			while (*p == ' ')
				p++;
			if (strcmp(p, "Unsigned") == 0)
				c->types[c->ntypes].type = LWM2M_TYPE_UNSIGNED;
			else if (lwm2m_type_from_name(p, strlen(p), &c->types[c->ntypes].type) < 0)
				fail_msg("%s: unknown type %s", c->file, p);
			c->ntypes++;
		} else if (strncmp(line, "mode ", 5) == 0) {
			const char *m = line + 5;
			c->do_decode = strcmp(m, "decode") == 0 || strcmp(m, "roundtrip") == 0;
			c->do_encode = strcmp(m, "encode") == 0 || strcmp(m, "roundtrip") == 0;
			if (!c->do_decode && !c->do_encode)
				fail_msg("%s: unknown mode %s", c->file, m);
		} else if (strncmp(line, "error ", 6) == 0) {
			c->error = cc_errno(line + 6);
		} else if (strncmp(line, "payload-hex ", 12) == 0) {
			c->payload = tu_hex(line + 12, &c->payload_len);
		} else if (strncmp(line, "payload \"", 9) == 0) {
			const char *p = line + 8;
			c->payload = cc_cstring(&p, &c->payload_len, c->file);
		} else if (strncmp(line, "payload ", 8) == 0) {
			c->payload_len = strlen(line + 8);
			c->payload = (uint8_t *)strdup(line + 8);
		} else if (strcmp(line, "payload:") == 0) {
			in_block = true;
		} else if (strncmp(line, "record ", 7) == 0) {
			cc_record(c, line + 7);
		} else {
			fail_msg("%s: unknown directive: %s", c->file, line);
		}
	}
	if (c->ct == LWM2M_CT_NONE)
		fail_msg("%s: no ct", c->file);
	if (!c->do_decode && !c->do_encode)
		fail_msg("%s: no mode", c->file);
	free(text);
}

static inline void cc_free(struct cc_case *c)
{
	lwm2m_records_clear(&c->recs);
	free(c->payload);
	free(c->file);
}

/* One record as a case-file line, for failure messages. */
static inline void cc_print_record(const char *tag, const struct lwm2m_record *r)
{
	char path[32];
	const struct lwm2m_value *v = &r->value;

	lwm2m_path_format(&r->path, path);
	fprintf(stderr, "# %s: %s%.*s %s %s ", tag, r->prefix.len ? "@" : "", (int)r->prefix.len,
		r->prefix.len ? r->prefix.ptr : "", path, lwm2m_type_name(v->type));
	switch (v->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
	case LWM2M_TYPE_OPAQUE:
		for (size_t i = 0; i < v->bytes.len; i++)
			fprintf(stderr, "%02x", v->bytes.ptr[i]);
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		fprintf(stderr, "%" PRId64, v->i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		fprintf(stderr, "%" PRIu64, v->u);
		break;
	case LWM2M_TYPE_FLOAT:
		fprintf(stderr, "%a (%.17g)", v->f, v->f);
		break;
	case LWM2M_TYPE_BOOLEAN:
		fprintf(stderr, "%s", v->b ? "true" : "false");
		break;
	case LWM2M_TYPE_OBJLNK:
		fprintf(stderr, "%u:%u", v->lnk.oid, v->lnk.iid);
		break;
	default:
		break;
	}
	if (r->has_time)
		fprintf(stderr, " t=%.17g", r->time);
	fprintf(stderr, "\n");
}

/* Exact equality: doubles bit for bit (so -0.0 differs from 0.0). */
static inline bool cc_record_equal(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	return tu_record_equal(a, b);
}

static inline void cc_assert_records(const char *file, const struct lwm2m_records *got, size_t from,
				     const struct lwm2m_records *want)
{
	bool ok = got->n - from == want->n;

	for (size_t i = 0; ok && i < want->n; i++)
		ok = cc_record_equal(&got->v[from + i], &want->v[i]);
	if (ok)
		return;
	for (size_t i = 0; i < want->n; i++)
		cc_print_record("want", &want->v[i]);
	for (size_t i = from; i < got->n; i++)
		cc_print_record("got ", &got->v[i]);
	fail_msg("%s: decoded records differ", file);
}

static inline void cc_run_case(void **state)
{
	const char *const *names = *state;
	struct cc_case c;
	int r;

	cc_load(&c, names[0], names[1]);
	if (c.do_decode) {
		/* A sentinel record first: decoding appends and, on error,
		 * must leave it as the only one. */
		struct lwm2m_records got = { 0 };
		struct lwm2m_record *s = lwm2m_records_add(&got);
		assert_non_null(s);
		s->path = LWM2M_PATH(9, 9);
		r = lwm2m_decode(c.ct, &c.base, c.payload, c.payload_len, cc_type_of, &c, &got);
		if (r != c.error)
			fail_msg("%s: decode returned %d (%s), want %d", c.file, r, strerror(-r), c.error);
		assert_true(got.n >= 1);
		assert_int_equal(got.v[0].path.len, 2);
		if (r < 0)
			assert_int_equal(got.n, 1);
		else
			cc_assert_records(c.file, &got, 1, &c.recs);
		lwm2m_records_clear(&got);
	}
	if (c.do_encode) {
		struct lwm2m_buf b = { 0 };
		assert_int_equal(lwm2m_buf_append(&b, "X", 1), 0);
		r = lwm2m_encode(c.ct, &c.base, c.recs.v, c.recs.n, &b);
		if (r != c.error)
			fail_msg("%s: encode returned %d (%s), want %d", c.file, r, strerror(-r), c.error);
		if (r < 0) {
			assert_int_equal(b.len, 1);
		} else if (b.len - 1 != c.payload_len || memcmp(b.data + 1, c.payload, c.payload_len) != 0) {
			fprintf(stderr, "# want: %.*s\n# got:  %.*s\n", (int)c.payload_len,
				(const char *)c.payload, (int)(b.len - 1), (const char *)b.data + 1);
			fail_msg("%s: encoded payload differs", c.file);
		}
		lwm2m_buf_free(&b);
	}
	cc_free(&c);
}

/* Run the fixed tests plus one test per .case file in tests/data/<dir>, as
 * one group (one TAP plan). */
static inline int cc_run_group(const char *group, const struct CMUnitTest *fixed, size_t nfixed,
			       const char *dir)
{
	char **names = NULL;
	size_t n = 0;
	struct CMUnitTest *all;
	const char *(*states)[2];
	int r;

	/* tu_list_data fails through cmocka's fail_msg outside a test: check
	 * the variable here so the message is readable. */
	if (!getenv("FG_TEST_DATA")) {
		fprintf(stderr, "FG_TEST_DATA is not set (run through meson test)\n");
		return 1;
	}
	n = tu_list_data(dir, ".case", &names);
	all = calloc(nfixed + n, sizeof(*all));
	states = calloc(n ? n : 1, sizeof(*states));
	if (!all || !states)
		return 1;
	memcpy(all, fixed, nfixed * sizeof(*all));
	for (size_t i = 0; i < n; i++) {
		states[i][0] = dir;
		states[i][1] = names[i];
		all[nfixed + i] = (struct CMUnitTest){ .name = names[i],
						       .test_func = cc_run_case,
						       .initial_state = (void *)states[i] };
	}
	r = _cmocka_run_group_tests(group, all, nfixed + n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(states);
	free(all);
	return r;
}

/* type_of() answering from the records themselves: the type each record
 * path carries in recs (None when absent). */
struct cc_typed {
	const struct lwm2m_record *recs;
	size_t n;
};

static inline enum lwm2m_type cc_typed_of(void *ctx, const struct lwm2m_path *p)
{
	const struct cc_typed *t = ctx;

	for (size_t i = 0; i < t->n; i++)
		if (lwm2m_path_cmp(&t->recs[i].path, p) == 0)
			return (enum lwm2m_type)t->recs[i].value.type;
	return LWM2M_TYPE_NONE;
}

/* Encode recs (sorted) as ct at base, decode the result with the records'
 * own types, and require the same records back. */
static inline void cc_roundtrip(uint16_t ct, const struct lwm2m_path *base, const struct lwm2m_record *recs,
				size_t n)
{
	struct cc_typed typed = { recs, n };
	struct lwm2m_records got = { 0 };
	struct lwm2m_buf b = { 0 };
	int r;

	r = lwm2m_encode(ct, base, recs, n, &b);
	if (r < 0)
		fail_msg("encode as %u failed: %d", ct, r);
	r = lwm2m_decode(ct, base, b.data, b.len, cc_typed_of, &typed, &got);
	if (r < 0)
		fail_msg("decode of %.*s failed: %d", (int)b.len, (const char *)b.data, r);
	struct lwm2m_records want = { .v = (struct lwm2m_record *)recs, .n = n };
	if (got.n != n) {
		fprintf(stderr, "# payload: %.*s\n", (int)b.len, (const char *)b.data);
		cc_assert_records("round trip", &got, 0, &want);
	}
	for (size_t i = 0; i < n; i++) {
		if (!cc_record_equal(&got.v[i], &recs[i])) {
			fprintf(stderr, "# payload: %.*s\n", (int)b.len, (const char *)b.data);
			cc_assert_records("round trip", &got, 0, &want);
		}
	}
	lwm2m_records_clear(&got);
	lwm2m_buf_free(&b);
}

/* One record of every type, with boundary values, below /3303/0 (times on
 * some, none on others). Bytes point to static data. */
static inline size_t cc_every_type(struct lwm2m_record *out, size_t max)
{
	static const uint8_t bin[] = { 0, 0xff, 0x80, 'a', 0 };
	static const uint8_t str[] = { 'a', 0, 'b', '"', '\\', '\n', 0x01, 0x1f, 0xc3, 0xa9, '/' };
	const struct lwm2m_value vals[] = {
		{ .type = LWM2M_TYPE_STRING, .bytes = { str, sizeof(str) } },
		{ .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"", 0 } },
		{ .type = LWM2M_TYPE_INTEGER, .i = INT64_MIN },
		{ .type = LWM2M_TYPE_INTEGER, .i = INT64_MAX },
		{ .type = LWM2M_TYPE_INTEGER, .i = 0 },
		{ .type = LWM2M_TYPE_UNSIGNED, .u = UINT64_MAX },
		{ .type = LWM2M_TYPE_UNSIGNED, .u = 0 },
		{ .type = LWM2M_TYPE_FLOAT, .f = 0.1 },
		{ .type = LWM2M_TYPE_FLOAT, .f = 1e308 },
		{ .type = LWM2M_TYPE_FLOAT, .f = 5e-324 },
		{ .type = LWM2M_TYPE_FLOAT, .f = -0.0 },
		{ .type = LWM2M_TYPE_FLOAT, .f = 3.0 },
		{ .type = LWM2M_TYPE_FLOAT, .f = -1.7976931348623157e308 },
		{ .type = LWM2M_TYPE_BOOLEAN, .b = true },
		{ .type = LWM2M_TYPE_BOOLEAN, .b = false },
		{ .type = LWM2M_TYPE_OPAQUE, .bytes = { bin, sizeof(bin) } },
		{ .type = LWM2M_TYPE_OPAQUE, .bytes = { bin, 0 } },
		{ .type = LWM2M_TYPE_OPAQUE, .bytes = { bin, 1 } },
		{ .type = LWM2M_TYPE_OPAQUE, .bytes = { bin, 2 } },
		{ .type = LWM2M_TYPE_TIME, .i = 1700000000 },
		{ .type = LWM2M_TYPE_TIME, .i = -1 },
		{ .type = LWM2M_TYPE_OBJLNK, .lnk = { 3303, 0 } },
		{ .type = LWM2M_TYPE_OBJLNK, .lnk = { 65535, 65535 } },
		{ .type = LWM2M_TYPE_CORELNK, .bytes = { (const uint8_t *)"</3303/0>;ver=1.1", 17 } },
		{ .type = LWM2M_TYPE_NONE },
	};
	size_t n = sizeof(vals) / sizeof(vals[0]);

	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		out[i] = (struct lwm2m_record){ .path = LWM2M_PATH(3303, 0, (uint16_t)(i + 1)),
						.value = vals[i] };
		if (i % 3 == 1) {
			out[i].has_time = true;
			out[i].time = i % 2 ? 1700000000.5 + (double)i : -(double)i;
		}
	}
	return n;
}
