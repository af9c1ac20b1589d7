/* SPDX-License-Identifier: Apache-2.0 */
/* The private CBOR reader/writer (lwm2m/cbor.c) against RFC 8949's own
 * examples (tests/data/cbor/) and its well-formedness rules. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/cbor.h"
#include "testutil.h"

static uint64_t bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

/* An exact-size heap copy, so ASan sees any read past the end. */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

static void assert_encoding(const struct lwm2m_buf *b, const uint8_t *want, size_t n, const char *line)
{
	if (b->len != n || memcmp(b->data, want, n) != 0) {
		char got[256] = "";
		for (size_t i = 0; i < b->len && i < 100; i++)
			snprintf(got + 2 * i, 3, "%02x", b->data[i]);
		fail_msg("%s: encoded as %s", line, got);
	}
}

/* One line of rfc8949_appendix_a.txt. */
static void check_vector(char *line)
{
	char kind[16], val[128], extra[64], hex[128];
	int fields = sscanf(line, "%15s %127s %63s %127s", kind, val, extra, hex);
	bool decode_only = fields == 4;
	const char *hx = decode_only ? hex : extra;
	size_t n, vn = 0;
	uint8_t *raw = tu_hex(hx, &n), *data = exact_copy(raw, n), *vb = NULL;
	struct lw_cbor_reader r;
	struct lwm2m_buf b = { 0 };
	struct lwm2m_value v;
	struct lw_cbor_str s;
	uint64_t tag;
	bool flag;
	int e = 0;

	assert_true(fields == 3 || (fields == 4 && strcmp(extra, "decode") == 0));
	free(raw);
	lw_cbor_reader_init(&r, data, n);
	if (strcmp(kind, "int") == 0) {
		long long want = strtoll(val, NULL, 10);
		assert_int_equal(lw_cbor_read_number(&r, &v), 0);
		assert_int_equal(v.type, LWM2M_TYPE_INTEGER);
		assert_true(v.i == want);
		e = lw_cbor_put_int(&b, want);
	} else if (strcmp(kind, "uint") == 0) {
		unsigned long long want = strtoull(val, NULL, 10);
		assert_int_equal(lw_cbor_read_number(&r, &v), 0);
		assert_int_equal(v.type, LWM2M_TYPE_UNSIGNED);
		assert_true(v.u == want);
		e = lw_cbor_put_uint(&b, want);
	} else if (strcmp(kind, "range") == 0) {
		assert_int_equal(lw_cbor_read_number(&r, &v), -ERANGE);
		assert_ptr_equal(r.p, data);
		decode_only = true;
	} else if (strcmp(kind, "float") == 0) {
		double want = strtod(val, NULL);
		assert_int_equal(lw_cbor_read_number(&r, &v), 0);
		assert_int_equal(v.type, LWM2M_TYPE_FLOAT);
		if (isnan(want))
			assert_true(isnan(v.f));
		else
			assert_true(bits(v.f) == bits(want));
		e = lw_cbor_put_float(&b, want);
	} else if (strcmp(kind, "bool") == 0) {
		assert_int_equal(lw_cbor_read_bool(&r, &flag), 0);
		assert_int_equal(flag, strcmp(val, "true") == 0);
		e = lw_cbor_put_bool(&b, flag);
	} else if (strcmp(kind, "null") == 0 || strcmp(kind, "undefined") == 0 ||
		   strcmp(kind, "simple") == 0) {
		struct lw_cbor_head h;
		unsigned want = kind[0] == 'n' ? CBOR_NULL : kind[0] == 'u' ? CBOR_UNDEFINED : atoi(val);
		assert_true(lw_cbor_head(&r, &h) > 0);
		assert_int_equal(h.major, CBOR_SIMPLE);
		assert_int_equal(h.arg, want);
		assert_int_equal(lw_cbor_read_bool(&(struct lw_cbor_reader){ data, data + n, 0 }, &flag),
				 -EBADMSG);
		e = lw_cbor_put_simple(&b, (uint8_t)want);
	} else if (strcmp(kind, "bytes") == 0 || strcmp(kind, "text") == 0) {
		uint8_t major = kind[0] == 'b' ? CBOR_BYTES : CBOR_TEXT;
		uint8_t *copy;
		if (strcmp(val, "-") != 0)
			vb = tu_hex(val, &vn);
		assert_int_equal(lw_cbor_read_str(&r, major, &s), 0);
		assert_int_equal(s.len, vn);
		copy = malloc(vn + 1);
		assert_non_null(copy);
		lw_cbor_str_copy(&s, copy);
		assert_memory_equal(copy, vb ? vb : (uint8_t *)"", vn);
		free(copy);
		/* The other string type must not be taken for this one. */
		assert_int_equal(lw_cbor_read_str(&(struct lw_cbor_reader){ data, data + n, 0 },
						  major == CBOR_BYTES ? CBOR_TEXT : CBOR_BYTES, &s),
				 -EBADMSG);
		e = lw_cbor_put_str(&b, major, vb, vn);
	} else if (strcmp(kind, "tag") == 0) {
		assert_int_equal(lw_cbor_read_tag(&r, &tag), 0);
		assert_int_equal(tag, strtoull(val, NULL, 10));
		assert_int_equal(lw_cbor_skip(&r), 0);
		decode_only = true;
	} else if (strcmp(kind, "struct") == 0) {
		assert_int_equal(lw_cbor_skip(&r), 0);
		assert_int_equal(r.depth, 0);
		decode_only = true;
	} else {
		fail_msg("unknown kind in: %s", line);
	}
	if (strcmp(kind, "range") != 0)
		assert_true(lw_cbor_at_end(&r));
	assert_int_equal(e, 0);
	if (!decode_only)
		assert_encoding(&b, data, n, line);
	/* Any item skips whole, and every strict prefix of it is refused. */
	lw_cbor_reader_init(&r, data, n);
	assert_int_equal(lw_cbor_skip(&r), 0);
	assert_true(lw_cbor_at_end(&r));
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *part = exact_copy(data, cut);
		lw_cbor_reader_init(&r, part, cut);
		assert_int_equal(lw_cbor_skip(&r), -EBADMSG);
		assert_ptr_equal(r.p, part);
		free(part);
	}
	lwm2m_buf_free(&b);
	free(vb);
	free(data);
}

static void test_rfc8949_examples(void **state)
{
	size_t len, count = 0;
	char *text = (char *)tu_read_data("cbor/rfc8949_appendix_a.txt", &len), *save = NULL;

	(void)state;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == 0)
			continue;
		check_vector(line);
		count++;
	}
	assert_true(count >= 70);
	free(text);
}

static void test_malformed(void **state)
{
	size_t len, count = 0;
	char *text = (char *)tu_read_data("cbor/malformed.txt", &len), *save = NULL;

	(void)state;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct lw_cbor_reader r;
		size_t n;
		uint8_t *raw, *data;

		if (line[0] == '#' || line[0] == 0)
			continue;
		raw = tu_hex(line, &n);
		data = exact_copy(raw, n);
		lw_cbor_reader_init(&r, data, n);
		if (lw_cbor_skip(&r) != -EBADMSG)
			fail_msg("accepted malformed %s", line);
		assert_ptr_equal(r.p, data);
		assert_int_equal(r.depth, 0);
		free(raw);
		free(data);
		count++;
	}
	assert_true(count >= 90);
	free(text);
}

static void test_int64_limits(void **state)
{
	struct lwm2m_buf b = { 0 };
	struct lw_cbor_reader r;
	struct lwm2m_value v;
	static const uint8_t min[] = { 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t below[] = { 0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t max[] = { 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t above[] = { 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0 };

	(void)state;
	assert_int_equal(lw_cbor_put_int(&b, INT64_MIN), 0);
	assert_memory_equal(b.data, min, sizeof(min));
	lw_cbor_reader_init(&r, min, sizeof(min));
	assert_int_equal(lw_cbor_read_number(&r, &v), 0);
	assert_true(v.type == LWM2M_TYPE_INTEGER && v.i == INT64_MIN);
	/* -1 - 2^63 is one below INT64_MIN */
	lw_cbor_reader_init(&r, below, sizeof(below));
	assert_int_equal(lw_cbor_read_number(&r, &v), -ERANGE);
	lwm2m_buf_reset(&b);
	assert_int_equal(lw_cbor_put_int(&b, INT64_MAX), 0);
	assert_memory_equal(b.data, max, sizeof(max));
	lw_cbor_reader_init(&r, max, sizeof(max));
	assert_int_equal(lw_cbor_read_number(&r, &v), 0);
	assert_true(v.type == LWM2M_TYPE_INTEGER && v.i == INT64_MAX);
	lw_cbor_reader_init(&r, above, sizeof(above));
	assert_int_equal(lw_cbor_read_number(&r, &v), 0);
	assert_true(v.type == LWM2M_TYPE_UNSIGNED && v.u == (uint64_t)INT64_MAX + 1);
	/* Non-preferred (longer) heads are still well-formed. */
	static const uint8_t longer[] = { 0x1b, 0, 0, 0, 0, 0, 0, 0, 5 };
	lw_cbor_reader_init(&r, longer, sizeof(longer));
	assert_int_equal(lw_cbor_read_number(&r, &v), 0);
	assert_true(v.type == LWM2M_TYPE_INTEGER && v.i == 5);
	lwm2m_buf_free(&b);
}

/* Every half converts to a double and back to exactly the same bits. */
static void test_half_roundtrip(void **state)
{
	(void)state;
	for (uint32_t h = 0; h <= 0xffff; h++) {
		double d = lw_half_to_double((uint16_t)h);
		uint16_t back;
		uint32_t f;
		assert_true(lw_double_to_half(d, &back));
		assert_int_equal(back, h);
		assert_true(lw_double_to_single(d, &f));
		assert_true(bits(lw_single_to_double(f)) == bits(d));
	}
	/* Just outside half's reach, each way. */
	uint16_t h;
	assert_false(lw_double_to_half(65505.0, &h));
	assert_false(lw_double_to_half(65536.0, &h));
	assert_false(lw_double_to_half(ldexp(1, -25), &h));
	assert_false(lw_double_to_half(ldexp(3, -25), &h));
	assert_false(lw_double_to_half(1.0 + ldexp(1, -11), &h));
	assert_true(lw_double_to_half(ldexp(1, -24), &h) && h == 0x0001);
	assert_true(lw_double_to_half(ldexp(1023, -24), &h) && h == 0x03ff);
	assert_false(lw_double_to_half(ldexp(1, -1074), &h)); /* a double subnormal */
}

static void test_float_widths(void **state)
{
	static const struct {
		double d;
		size_t len;
	} cases[] = {
		{ 0.5, 3 },
		{ 2.0, 3 },
		{ 1.0 / 3.0, 9 },
		{ 0.1, 9 },
		{ 16777216.0, 5 },      /* 2^24: single exact, beyond half */
		{ 16777217.0, 9 },      /* 2^24 + 1: no single */
		{ 0x1.fffffep+127, 5 }, /* FLT_MAX */
		{ 3.0e38, 9 },
		{ 1e39, 9 },
		{ 1.17549435e-38, 9 }, /* not exactly FLT_MIN */
		{ 0x1p-126, 5 },       /* FLT_MIN */
		{ 0x1p-149, 5 },       /* smallest single subnormal */
		{ 0x1p-150, 9 },
		{ 4.9406564584124654e-324, 9 },
		{ 1.7976931348623157e308, 9 },
	};
	uint32_t f;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lwm2m_buf b = { 0 };
		struct lw_cbor_reader r;
		struct lwm2m_value v;
		assert_int_equal(lw_cbor_put_float(&b, cases[i].d), 0);
		if (b.len != cases[i].len)
			fail_msg("%a encoded in %zu bytes, want %zu", cases[i].d, b.len, cases[i].len);
		lw_cbor_reader_init(&r, b.data, b.len);
		assert_int_equal(lw_cbor_read_number(&r, &v), 0);
		assert_true(bits(v.f) == bits(cases[i].d));
		lwm2m_buf_free(&b);
	}
	/* NaN payloads survive: a signalling single NaN stays one. */
	double snan = lw_single_to_double(0x7f800001u);
	assert_true(isnan(snan));
	assert_true(lw_double_to_single(snan, &f) && f == 0x7f800001u);
	uint64_t odd = 0x7ff0000000000001ull;
	double dn;
	memcpy(&dn, &odd, sizeof(dn));
	struct lwm2m_buf b = { 0 };
	assert_int_equal(lw_cbor_put_float(&b, dn), 0);
	assert_int_equal(b.len, 9);
	lwm2m_buf_free(&b);
}

static void test_strings(void **state)
{
	/* (_ "strea", "ming") and a 40-byte definite string */
	static const uint8_t chunked[] = {
		0x7f, 0x65, 's', 't', 'r', 'e', 'a', 0x64, 'm', 'i', 'n', 'g', 0xff
	};
	struct lw_cbor_reader r;
	struct lw_cbor_str s;
	struct lwm2m_records recs = { 0 };
	const uint8_t *p;
	uint8_t small[4], big[16];

	(void)state;
	lw_cbor_reader_init(&r, chunked, sizeof(chunked));
	assert_int_equal(lw_cbor_read_str(&r, CBOR_TEXT, &s), 0);
	assert_true(s.chunked);
	assert_int_equal(s.len, 9);
	assert_true(lw_cbor_str_eq(&s, "streaming"));
	assert_false(lw_cbor_str_eq(&s, "streamin"));
	assert_false(lw_cbor_str_eq(&s, "streaminG"));
	assert_int_equal(lw_cbor_str_flat(&s, small, sizeof(small), &p), -EBADMSG);
	assert_int_equal(lw_cbor_str_flat(&s, big, sizeof(big), &p), 0);
	assert_memory_equal(p, "streaming", 9);
	assert_int_equal(lw_cbor_str_dup(&s, &recs, &p), 0);
	assert_memory_equal(p, "streaming", 9);
	lwm2m_records_clear(&recs);

	/* Writer: lengths 23, 24, 255, 256 take 1, 2, 2 and 3 head bytes. */
	static const size_t lens[] = { 0, 23, 24, 255, 256, 65535, 65536 };
	static const size_t heads[] = { 1, 1, 2, 2, 3, 3, 5 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct lwm2m_buf b = { 0 };
		uint8_t *payload = calloc(1, lens[i] + 1);
		assert_non_null(payload);
		assert_int_equal(lw_cbor_put_str(&b, CBOR_BYTES, payload, lens[i]), 0);
		assert_int_equal(b.len, heads[i] + lens[i]);
		lw_cbor_reader_init(&r, b.data, b.len);
		assert_int_equal(lw_cbor_read_str(&r, CBOR_BYTES, &s), 0);
		assert_int_equal(s.len, lens[i]);
		assert_false(s.chunked);
		assert_true(lw_cbor_at_end(&r));
		free(payload);
		lwm2m_buf_free(&b);
	}
}

static void test_containers(void **state)
{
	/* {_ 1: [_ 2, 3], 4: 5} */
	static const uint8_t m[] = { 0xbf, 0x01, 0x9f, 0x02, 0x03, 0xff, 0x04, 0x05, 0xff };
	/* an array claiming 2^32-1 items in 3 bytes */
	static const uint8_t huge[] = { 0x9a, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02 };
	struct lw_cbor_reader r;
	struct lw_cbor_iter it, in;
	struct lwm2m_value v;
	int64_t sum = 0;
	int e, items = 0;

	(void)state;
	lw_cbor_reader_init(&r, m, sizeof(m));
	assert_int_equal(lw_cbor_enter(&r, CBOR_MAP, &it), 0);
	assert_int_equal(r.depth, 1);
	while ((e = lw_cbor_next(&r, &it)) > 0) {
		assert_int_equal(lw_cbor_read_number(&r, &v), 0);
		sum += v.i;
		if (v.i == 1) {
			assert_int_equal(lw_cbor_enter(&r, CBOR_ARRAY, &in), 0);
			while ((e = lw_cbor_next(&r, &in)) > 0) {
				assert_int_equal(lw_cbor_read_number(&r, &v), 0);
				sum += v.i;
				items++;
			}
			assert_int_equal(e, 0);
		} else {
			assert_int_equal(lw_cbor_read_number(&r, &v), 0);
			sum += v.i;
		}
	}
	assert_int_equal(e, 0);
	assert_int_equal(sum, 15);
	assert_int_equal(items, 2);
	assert_int_equal(r.depth, 0);
	assert_true(lw_cbor_at_end(&r));

	lw_cbor_reader_init(&r, huge, sizeof(huge));
	assert_int_equal(lw_cbor_enter(&r, CBOR_ARRAY, &it), -EBADMSG);
	assert_ptr_equal(r.p, huge);
	lw_cbor_reader_init(&r, m, sizeof(m));
	assert_int_equal(lw_cbor_enter(&r, CBOR_ARRAY, &it), -EBADMSG);

	/* Exactly the depth limit nests; one more does not. */
	uint8_t deep[LW_CBOR_MAX_DEPTH + 1];
	memset(deep, 0x81, LW_CBOR_MAX_DEPTH);
	deep[LW_CBOR_MAX_DEPTH] = 0x00;
	lw_cbor_reader_init(&r, deep, sizeof(deep));
	assert_int_equal(lw_cbor_skip(&r), 0);
	/* tags count as nesting too */
	uint8_t tags[LW_CBOR_MAX_DEPTH + 2];
	memset(tags, 0xc1, sizeof(tags) - 1);
	tags[sizeof(tags) - 1] = 0x00;
	lw_cbor_reader_init(&r, tags, sizeof(tags));
	assert_int_equal(lw_cbor_skip(&r), -EBADMSG);
}

static void test_objlnk(void **state)
{
	static const char *const bad[] = { "",     ":",    "1:",  ":1",   "1:2:3",    "65536:0", "0:65536",
					   "-1:2", "1 :2", "a:b", "1:2 ", "123456:1", "1;2" };
	struct lwm2m_value v;
	char out[12];

	(void)state;
	assert_int_equal(lw_objlnk_parse((const uint8_t *)"3:0", 3, &v), 0);
	assert_true(v.type == LWM2M_TYPE_OBJLNK && v.lnk.oid == 3 && v.lnk.iid == 0);
	assert_int_equal(lw_objlnk_parse((const uint8_t *)"65535:65535", 11, &v), 0);
	assert_true(v.lnk.oid == 65535 && v.lnk.iid == 65535);
	assert_int_equal(lw_objlnk_format(&v, out), 11);
	assert_string_equal(out, "65535:65535");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (lw_objlnk_parse((const uint8_t *)bad[i], strlen(bad[i]), &v) != -EINVAL)
			fail_msg("accepted objlnk '%s'", bad[i]);
}

static void test_value_as(void **state)
{
	struct lwm2m_value in = { .type = LWM2M_TYPE_INTEGER, .i = 5 }, out;

	(void)state;
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_FLOAT, &out), 0);
	assert_true(out.type == LWM2M_TYPE_FLOAT && out.f == 5.0);
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_NONE, &out), 0);
	assert_true(out.type == LWM2M_TYPE_INTEGER && out.i == 5);
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_STRING, &out), -EINVAL);
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_OPAQUE, &out), -EINVAL);
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 2.5 };
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_INTEGER, &out), -ERANGE);
	in.f = -1;
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_UNSIGNED, &out), -ERANGE);
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"</1>", 4 } };
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_CORELNK, &out), 0);
	assert_int_equal(out.type, LWM2M_TYPE_CORELNK);
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_OBJLNK, &out), -EINVAL);
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = true };
	assert_int_equal(lw_value_as(&in, LWM2M_TYPE_INTEGER, &out), -EINVAL);
}

static void test_check_tree(void **state)
{
	struct lwm2m_record r[3] = {
		{ .path = LWM2M_PATH(3, 0, 7, 1) },
		{ .path = LWM2M_PATH(3, 0, 1) },
		{ .path = LWM2M_PATH(3, 0, 7, 0) },
	};

	(void)state;
	assert_int_equal(lw_records_check_tree(r, 3), 0);
	r[1].path = LWM2M_PATH(3, 0, 7);
	assert_int_equal(lw_records_check_tree(r, 3), -EBADMSG);
	r[1].path = LWM2M_PATH(3, 0, 7, 1);
	assert_int_equal(lw_records_check_tree(r, 3), -EBADMSG);
	assert_int_equal(lw_records_check_tree(r, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc8949_examples), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_int64_limits),     cmocka_unit_test(test_half_roundtrip),
		cmocka_unit_test(test_float_widths),     cmocka_unit_test(test_strings),
		cmocka_unit_test(test_containers),       cmocka_unit_test(test_objlnk),
		cmocka_unit_test(test_value_as),         cmocka_unit_test(test_check_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
