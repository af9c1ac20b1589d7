/* SPDX-License-Identifier: Apache-2.0 */
/* text/plain (0) and opaque (42): golden vectors in tests/data/text/ (one .case file each),
 * plus round trips of every type and the output-unchanged rules. */
#include "codec_cases.h"

static enum lwm2m_type fixed_type(void *ctx, const struct lwm2m_path *p)
{
	(void)p;
	return *(const enum lwm2m_type *)ctx;
}

/* Encode one value at /1/2/3 as text, decode it back with its type. */
static void roundtrip(uint16_t ct, const struct lwm2m_value *v)
{
	struct lwm2m_path base = LWM2M_PATH(1, 2, 3);
	struct lwm2m_record rec = { .path = base, .value = *v };
	struct lwm2m_records got = { 0 };
	struct lwm2m_buf b = { 0 };
	enum lwm2m_type t = v->type;

	assert_int_equal(lwm2m_encode(ct, &base, &rec, 1, &b), 0);
	assert_int_equal(lwm2m_decode(ct, &base, b.data, b.len, fixed_type, &t, &got), 0);
	assert_int_equal(got.n, 1);
	if (!cc_record_equal(&got.v[0], &rec)) {
		cc_print_record("want", &rec);
		cc_print_record("got ", &got.v[0]);
		fail_msg("round trip of %s through \"%.*s\"", lwm2m_type_name(v->type), (int)b.len, b.data);
	}
	lwm2m_records_clear(&got);
	lwm2m_buf_free(&b);
}

static void test_roundtrip_every_type(void **state)
{
	static const uint8_t bytes[] = { 0, 1, 2, 0xff, 'a', 0 };
	static const uint8_t utf8[] = { 0, 'a', 0xc3, 0xa9, '\n', 0 };
	static const double floats[] = {
		0.1, -0.0, 1e308, 5e-324, 2.2250738585072014e-308, 123456789.125, -1.5e-7, 9007199254740993.0
	};
	static const int64_t ints[] = { INT64_MIN, -1, 0, 1, INT64_MAX };
	struct lwm2m_value v;
	(void)state;

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = ints[i] });
		roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_TIME, .i = ints[i] });
	}
	roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = UINT64_MAX });
	roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = 0 });
	for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++)
		roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = floats[i] });
	roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = true });
	roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = false });
	roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_OBJLNK, .lnk = { 0, 65535 } });
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		v = (struct lwm2m_value){ .type = LWM2M_TYPE_OPAQUE, .bytes = { bytes, len } };
		roundtrip(LWM2M_CT_TEXT, &v);
		roundtrip(LWM2M_CT_OPAQUE, &v);
	}
	for (size_t len = 0; len <= sizeof(utf8); len++) {
		if (len == 3)
			continue; /* half of a two-byte character */
		v = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { utf8, len } };
		roundtrip(LWM2M_CT_TEXT, &v);
	}
	v = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { bytes, sizeof(bytes) } };
	struct lwm2m_record bad = { .path = LWM2M_PATH(1, 2, 3), .value = v };
	struct lwm2m_buf b = { 0 };
	assert_int_equal(lwm2m_encode(LWM2M_CT_TEXT, &bad.path, &bad, 1, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	lwm2m_buf_free(&b);
	v = (struct lwm2m_value){ .type = LWM2M_TYPE_CORELNK, .bytes = { (const uint8_t *)"</1/0>", 6 } };
	roundtrip(LWM2M_CT_TEXT, &v);
}

/* Every float printed by the encoder reads back as the same bits. */
static void test_float_sweep(void **state)
{
	uint64_t x = 0x9E3779B97F4A7C15u;
	(void)state;

	for (int i = 0; i < 2000; i++) {
		double f;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&f, &x, sizeof(f));
		if (!isfinite(f))
			continue;
		roundtrip(LWM2M_CT_TEXT, &(struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = f });
	}
}

/* Output untouched on error: records count restored, buffer length kept. */
static void test_errors_leave_output(void **state)
{
	struct lwm2m_path base = LWM2M_PATH(3, 0, 9);
	enum lwm2m_type t = LWM2M_TYPE_INTEGER;
	struct lwm2m_records got = { 0 };
	struct lwm2m_buf b = { 0 };
	struct lwm2m_record rec = { .path = base, .value = { .type = LWM2M_TYPE_FLOAT, .f = INFINITY } };
	(void)state;

	assert_int_equal(lwm2m_decode(LWM2M_CT_TEXT, &base, (const uint8_t *)"12", 2, fixed_type, &t, &got),
			 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.v[0].value.i, 12);
	assert_int_equal(lwm2m_decode(LWM2M_CT_TEXT, &base, (const uint8_t *)"1 2", 3, fixed_type, &t, &got),
			 -EBADMSG);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.v[0].value.i, 12);

	assert_int_equal(lwm2m_buf_append(&b, "keep", 4), 0);
	assert_int_equal(lwm2m_encode(LWM2M_CT_TEXT, &base, &rec, 1, &b), -EINVAL);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	/* The text codec appends after what is there. */
	rec.value = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = -7 };
	assert_int_equal(lwm2m_encode(LWM2M_CT_TEXT, &base, &rec, 1, &b), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "keep-7", 6);
	lwm2m_buf_free(&b);
	lwm2m_records_clear(&got);
}

/* No type_of at all: text is a String, opaque is Opaque. */
static void test_null_type_of(void **state)
{
	struct lwm2m_path base = LWM2M_PATH(3, 0, 0);
	struct lwm2m_records got = { 0 };
	(void)state;

	assert_int_equal(lwm2m_decode(LWM2M_CT_TEXT, &base, (const uint8_t *)"7", 1, NULL, NULL, &got), 0);
	assert_int_equal(got.v[0].value.type, LWM2M_TYPE_STRING);
	assert_int_equal(lwm2m_decode(LWM2M_CT_OPAQUE, &base, (const uint8_t *)"7", 1, NULL, NULL, &got), 0);
	assert_int_equal(got.v[1].value.type, LWM2M_TYPE_OPAQUE);
	assert_int_equal(got.v[1].value.bytes.len, 1);
	assert_int_equal(got.v[1].value.bytes.ptr[0], '7');
	lwm2m_records_clear(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_float_sweep),
		cmocka_unit_test(test_errors_leave_output),
		cmocka_unit_test(test_null_type_of),
	};
	return cc_run_group("text", tests, sizeof(tests) / sizeof(tests[0]), "text");
}
