/* SPDX-License-Identifier: Apache-2.0 */
/* SenML CBOR (lwm2m/senml_cbor.c): golden and error vectors in
 * tests/data/senml_cbor/ (written by tests/data/cbor/gen_vectors.py and
 * checked there with cbor2), round trips of every type and payload shape,
 * encoder errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_vectors.h"
#include "lwm2m/cbor.h"

static void test_vectors(void **state)
{
	(void)state;
	assert_true(cv_run_dir("senml_cbor", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode) >= 40);
}

/* Two values of each type on object 9999 (type = rid % 10): limits first. */
static const struct lwm2m_value values[][2] = {
	[LWM2M_TYPE_STRING] = { V_STR("with\0nul"), V_STR("") },
	[LWM2M_TYPE_INTEGER] = { V_INT(INT64_MIN), V_INT(INT64_MAX) },
	[LWM2M_TYPE_UNSIGNED] = { V_UINT(UINT64_MAX), V_UINT(0) },
	[LWM2M_TYPE_FLOAT] = { V_FLT(0x1.fffffffffffffp+1023), V_FLT(0x1p-1074) },
	[LWM2M_TYPE_BOOLEAN] = { V_BOOL(true), V_BOOL(false) },
	[LWM2M_TYPE_OPAQUE] = { V_OPQ("\x00\x01\xff"), V_OPQ("") },
	[LWM2M_TYPE_TIME] = { V_TIME(1700000000), V_TIME(-1) },
	[LWM2M_TYPE_OBJLNK] = { V_OBJ(3, 0), V_OBJ(65535, 65535) },
	[LWM2M_TYPE_CORELNK] = { V_LNK("</3303/0>"), V_LNK("") },
};

static void test_roundtrip_types_shapes(void **state)
{
	(void)state;
	cv_roundtrip_shapes(lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, values);
}

/* Timestamps and prefixes survive; so do records without value. */
static void test_roundtrip_time_prefix(void **state)
{
	struct lwm2m_record r[4] = {
		{ .path = LWM2M_PATH(9999, 0, 4),
		  .value = V_FLT(1.0 / 3),
		  .has_time = true,
		  .time = 1.5e9 + 0.25 },
		{ .path = LWM2M_PATH(9999, 0, 4), .value = V_FLT(2), .has_time = true, .time = -10 },
		{ .path = LWM2M_PATH(9999, 0, 4), .value = V_FLT(3), .has_time = true, .time = 0x1p70 },
		{ .path = LWM2M_PATH(9999, 1) },
	};
	struct lwm2m_path root = { .len = 0 }, base = LWM2M_PATH(9999);

	(void)state;
	cv_roundtrip("timestamps", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, &root, r, 4);
	cv_roundtrip("timestamps under /9999", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, &base, r, 4);
	for (int i = 0; i < 4; i++)
		r[i].prefix = (struct lwm2m_span){ "gw-01.a_b~c", 11 };
	cv_roundtrip("prefixed", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, &root, r, 4);
	cv_roundtrip("prefixed under /9999", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, &base, r, 4);
	r[3].prefix = (struct lwm2m_span){ "dev9", 4 };
	cv_roundtrip("mixed prefixes", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, &root, r, 4);
	/* the root itself, as a Read-Composite request of everything */
	struct lwm2m_record all = { .path = { .len = 0 } };
	cv_roundtrip("root", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, &root, &all, 1);
	all.prefix = (struct lwm2m_span){ "dev0", 4 };
	cv_roundtrip("prefixed root", lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, &root, &all, 1);
}

/* A Float is always a CBOR float, in its narrowest exact width. */
static void test_float_encoding(void **state)
{
	static const struct {
		double v;
		uint8_t major7_ai; /* 25 half, 26 single, 27 double */
	} cases[] = { { 2.0, 25 }, { -0.0, 25 }, { 65504, 25 }, { 65505, 26 }, { 0.1, 27 }, { 1e300, 27 } };
	struct lwm2m_path p = LWM2M_PATH(9999, 0, 4);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lwm2m_record r = { .path = p, .value = V_FLT(cases[i].v) };
		struct lwm2m_buf b = { 0 };
		assert_int_equal(lwm2m_senml_cbor_encode(&p, &r, 1, &b), 0);
		/* [ {-2: "/9999/0/4", 2: <float>} ]: the float is last */
		size_t width = cases[i].major7_ai == 25 ? 2 : cases[i].major7_ai == 26 ? 4 : 8;
		assert_true(b.len > width + 1);
		assert_int_equal(b.data[b.len - width - 1], 0xe0 | cases[i].major7_ai);
		lwm2m_buf_free(&b);
	}
}

static void test_encode_errors(void **state)
{
	struct lwm2m_buf b = { 0 };
	struct lwm2m_path p = LWM2M_PATH(9999, 0, 4);
	struct lwm2m_record r = { .path = p, .value = V_FLT(1), .has_time = true, .time = __builtin_nan("") };

	(void)state;
	assert_int_equal(lwm2m_buf_append(&b, "keep", 4), 0);
	assert_int_equal(lwm2m_senml_cbor_encode(&p, &r, 1, &b), -EINVAL); /* NaN time */
	r.time = __builtin_inf();
	assert_int_equal(lwm2m_senml_cbor_encode(&p, &r, 1, &b), -EINVAL);
	r.has_time = false;
	r.value.type = LWM2M_TYPE__MAX;
	assert_int_equal(lwm2m_senml_cbor_encode(&p, &r, 1, &b), -EINVAL);
	assert_int_equal(b.len, 4);
	lwm2m_buf_free(&b);
}

static void test_decode_without_types(void **state)
{
	/* [{0: "/3/0/9", 2: 100}, {0: "/3/0/1", 3: "x"}] with type_of NULL */
	static const uint8_t data[] = { 0x82, 0xa2, 0x00, 0x66, '/',  '3',  '/',  '0', '/',
					'9',  0x02, 0x18, 0x64, 0xa2, 0x00, 0x66, '/', '3',
					'/',  '0',  '/',  '1',  0x03, 0x61, 'x' };
	struct lwm2m_path root = { .len = 0 };
	struct lwm2m_records out = { 0 };

	(void)state;
	assert_int_equal(lwm2m_senml_cbor_decode(&root, data, sizeof(data), NULL, NULL, &out), 0);
	assert_int_equal(out.n, 2);
	assert_true(out.v[0].value.type == LWM2M_TYPE_INTEGER && out.v[0].value.i == 100);
	assert_true(out.v[1].value.type == LWM2M_TYPE_STRING && out.v[1].value.bytes.len == 1);
	/* decoded bytes live in the records' arena, not in the payload */
	assert_true(out.v[1].value.bytes.ptr < data || out.v[1].value.bytes.ptr >= data + sizeof(data));
	lwm2m_records_clear(&out);
}

/* Many records: an indefinite array of 1000 small maps, then the cap. */
static void test_many_records(void **state)
{
	struct lwm2m_buf b = { 0 };
	struct lwm2m_records out = { 0 };
	struct lwm2m_path root = { .len = 0 };

	(void)state;
	assert_int_equal(lwm2m_buf_putc(&b, 0x9f), 0);
	/* the first record sets bn, the others repeat the name: {} */
	static const uint8_t first[] = { 0xa2, 0x21, 0x66, '/', '3', '/', '0', '/', '9', 0x02, 0x01 };
	assert_int_equal(lwm2m_buf_append(&b, first, sizeof(first)), 0);
	for (int i = 1; i < 1000; i++)
		assert_int_equal(lwm2m_buf_putc(&b, 0xa0), 0);
	assert_int_equal(lwm2m_buf_putc(&b, 0xff), 0);
	assert_int_equal(lwm2m_senml_cbor_decode(&root, b.data, b.len, cv_type_of, NULL, &out), 0);
	assert_int_equal(out.n, 1000);
	assert_int_equal(out.v[999].path.id[2], 9);
	assert_int_equal(out.v[999].value.type, LWM2M_TYPE_NONE);
	lwm2m_records_clear(&out);

	b.len--;
	for (int i = 1000; i < LW_DECODE_MAX_RECORDS + 1; i++)
		assert_int_equal(lwm2m_buf_putc(&b, 0xa0), 0);
	assert_int_equal(lwm2m_buf_putc(&b, 0xff), 0);
	assert_int_equal(lwm2m_senml_cbor_decode(&root, b.data, b.len, cv_type_of, NULL, &out), -EBADMSG);
	assert_int_equal(out.n, 0);
	lwm2m_records_clear(&out);
	lwm2m_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_roundtrip_types_shapes),
		cmocka_unit_test(test_roundtrip_time_prefix),
		cmocka_unit_test(test_float_encoding),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_decode_without_types),
		cmocka_unit_test(test_many_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
