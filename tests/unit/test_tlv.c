/* SPDX-License-Identifier: Apache-2.0 */
/* OMA-LwM2M TLV (lwm2m/tlv.c): the TS examples and error vectors in
 * tests/data/tlv/, round trips of every type and payload shape, length and
 * integer width boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_vectors.h"

static void test_vectors(void **state)
{
	(void)state;
	assert_true(cv_run_dir("tlv", lwm2m_tlv_encode, lwm2m_tlv_decode) >= 30);
}

/* One value of each type on object 9999 (type = rid % 10). */
static const struct lwm2m_value values[] = {
	[LWM2M_TYPE_STRING] = V_STR("with\0nul"),     [LWM2M_TYPE_INTEGER] = V_INT(-40000),
	[LWM2M_TYPE_UNSIGNED] = V_UINT(0xfffffffful), [LWM2M_TYPE_FLOAT] = V_FLT(-0.0),
	[LWM2M_TYPE_BOOLEAN] = V_BOOL(true),          [LWM2M_TYPE_OPAQUE] = V_OPQ("\x00\x01\xff"),
	[LWM2M_TYPE_TIME] = V_TIME(1700000000),       [LWM2M_TYPE_OBJLNK] = V_OBJ(3, 0),
	[LWM2M_TYPE_CORELNK] = V_LNK("</3303/0>"),
};

/* Each type, as a resource, a resource instance, inside a multiple
 * resource, an instance and an object. */
static void test_roundtrip_types_shapes(void **state)
{
	(void)state;
	for (unsigned t = LWM2M_TYPE_STRING; t < LWM2M_TYPE__MAX; t++) {
		struct lwm2m_record one = { .path = LWM2M_PATH(9999, 1, (uint16_t)t), .value = values[t] };
		struct lwm2m_record multi[2] = {
			{ .path = LWM2M_PATH(9999, 1, (uint16_t)(10 + t), 0), .value = values[t] },
			{ .path = LWM2M_PATH(9999, 1, (uint16_t)(10 + t), 300), .value = values[t] },
		};
		struct lwm2m_record inst[3] = { one, multi[0], multi[1] };
		struct lwm2m_record obj[4] = { one, multi[0], multi[1], one };
		obj[3].path.id[1] = 7;
		char what[64];

		snprintf(what, sizeof(what), "type %u resource", t);
		cv_roundtrip(what, lwm2m_tlv_encode, lwm2m_tlv_decode, &one.path, &one, 1);
		snprintf(what, sizeof(what), "type %u resource instance", t);
		cv_roundtrip(what, lwm2m_tlv_encode, lwm2m_tlv_decode, &multi[1].path, &multi[1], 1);
		snprintf(what, sizeof(what), "type %u multiple resource", t);
		struct lwm2m_path res = LWM2M_PATH(9999, 1, (uint16_t)(10 + t));
		cv_roundtrip(what, lwm2m_tlv_encode, lwm2m_tlv_decode, &res, multi, 2);
		snprintf(what, sizeof(what), "type %u instance", t);
		struct lwm2m_path ip = LWM2M_PATH(9999, 1);
		cv_roundtrip(what, lwm2m_tlv_encode, lwm2m_tlv_decode, &ip, inst, 3);
		snprintf(what, sizeof(what), "type %u object", t);
		struct lwm2m_path op = LWM2M_PATH(9999);
		cv_roundtrip(what, lwm2m_tlv_encode, lwm2m_tlv_decode, &op, obj, 4);
	}
}

static size_t encoded_len(const struct lwm2m_record *r)
{
	struct lwm2m_buf b = { 0 };
	size_t n;

	assert_int_equal(lwm2m_tlv_encode(&r->path, r, 1, &b), 0);
	n = b.len;
	lwm2m_buf_free(&b);
	return n;
}

static void test_integer_widths(void **state)
{
	static const struct {
		int64_t v;
		size_t bytes;
	} ints[] = {
		{ 0, 1 },
		{ 127, 1 },
		{ -128, 1 },
		{ 128, 2 },
		{ -129, 2 },
		{ 32767, 2 },
		{ -32768, 2 },
		{ 32768, 4 },
		{ -32769, 4 },
		{ INT32_MAX, 4 },
		{ INT32_MIN, 4 },
		{ (int64_t)INT32_MAX + 1, 8 },
		{ (int64_t)INT32_MIN - 1, 8 },
		{ INT64_MAX, 8 },
		{ INT64_MIN, 8 },
	};
	static const struct {
		uint64_t v;
		size_t bytes;
	} uints[] = {
		{ 0, 1 },
		{ 255, 1 },
		{ 256, 2 },
		{ 65535, 2 },
		{ 65536, 4 },
		{ 0xffffffffu, 4 },
		{ 0x100000000ull, 8 },
		{ UINT64_MAX, 8 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		struct lwm2m_record r = { .path = LWM2M_PATH(9999, 0, 2), .value = V_INT(ints[i].v) };
		/* head: type byte, 8-bit id, and the length inline */
		assert_int_equal(encoded_len(&r), 2 + ints[i].bytes + (ints[i].bytes == 8));
		cv_roundtrip("integer", lwm2m_tlv_encode, lwm2m_tlv_decode, &r.path, &r, 1);
		r.path.id[2] = 7;
		r.value.type = LWM2M_TYPE_TIME;
		cv_roundtrip("time", lwm2m_tlv_encode, lwm2m_tlv_decode, &r.path, &r, 1);
	}
	for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		struct lwm2m_record r = { .path = LWM2M_PATH(9999, 0, 3), .value = V_UINT(uints[i].v) };
		assert_int_equal(encoded_len(&r), 2 + uints[i].bytes + (uints[i].bytes == 8));
		cv_roundtrip("unsigned", lwm2m_tlv_encode, lwm2m_tlv_decode, &r.path, &r, 1);
	}
	/* Longer-than-needed integers are still read right. */
	static const uint8_t wide[] = { 0xc8, 0x02, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe };
	struct lwm2m_path p = LWM2M_PATH(9999, 0, 2);
	struct lwm2m_records out = { 0 };
	assert_int_equal(lwm2m_tlv_decode(&p, wide, sizeof(wide), cv_type_of, NULL, &out), 0);
	assert_true(out.n == 1 && out.v[0].value.type == LWM2M_TYPE_INTEGER && out.v[0].value.i == -2);
	lwm2m_records_clear(&out);
}

static void test_float_widths(void **state)
{
	static const struct {
		double v;
		size_t bytes;
	} cases[] = {
		{ 0.5, 4 },
		{ -0.0, 4 },
		{ 0.1, 8 },
		{ 16777216.0, 4 },
		{ 16777217.0, 8 },
		{ 1e300, 8 },
		{ 3.4028234663852886e+38, 4 },
		{ 0x1p-149, 4 },
		{ 4.9406564584124654e-324, 8 },
		{ __builtin_inf(), 4 },
		{ __builtin_nan(""), 4 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lwm2m_record r = { .path = LWM2M_PATH(9999, 0, 4), .value = V_FLT(cases[i].v) };
		assert_int_equal(encoded_len(&r), 2 + cases[i].bytes + (cases[i].bytes == 8));
		cv_roundtrip("float", lwm2m_tlv_encode, lwm2m_tlv_decode, &r.path, &r, 1);
	}
}

/* Length fields of 0-7 inline, 8, 16 and 24 bits, with 8- and 16-bit ids. */
static void test_lengths(void **state)
{
	static const size_t lens[] = { 0, 7, 8, 255, 256, 65535, 65536, 70000 };
	uint8_t *blob = malloc(70000);

	(void)state;
	assert_non_null(blob);
	for (size_t i = 0; i < 70000; i++)
		blob[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (uint16_t rid = 6; rid <= 306; rid += 300) {
			struct lwm2m_record r = { .path = LWM2M_PATH(9999, 0, rid),
						  .value = { .type = LWM2M_TYPE_OPAQUE,
							     .bytes = { blob, lens[i] } } };
			size_t head = 1 + (rid > 255 ? 2 : 1) +
				      (lens[i] < 8         ? 0
				       : lens[i] <= 0xff   ? 1
				       : lens[i] <= 0xffff ? 2
							   : 3);
			assert_int_equal(encoded_len(&r), head + lens[i]);
			cv_roundtrip("length", lwm2m_tlv_encode, lwm2m_tlv_decode, &r.path, &r, 1);
			/* nested: the multiple resource's own length grows too */
			r.path = LWM2M_PATH(9999, 0, rid, 1);
			struct lwm2m_path res = LWM2M_PATH(9999, 0, rid);
			cv_roundtrip("nested length", lwm2m_tlv_encode, lwm2m_tlv_decode, &res, &r, 1);
		}
	}
	free(blob);
}

static void test_encode_errors(void **state)
{
	struct lwm2m_buf b = { 0 };
	struct lwm2m_path root = { .len = 0 }, inst = LWM2M_PATH(9999, 0), res = LWM2M_PATH(9999, 0, 2);
	struct lwm2m_record r[2] = {
		{ .path = LWM2M_PATH(9999, 0, 2), .value = V_INT(1) },
		{ .path = LWM2M_PATH(9999, 0, 2), .value = V_INT(2) },
	};

	(void)state;
	assert_int_equal(lwm2m_buf_append(&b, "keep", 4), 0);
	/* a composite */
	assert_int_equal(lwm2m_tlv_encode(&root, r, 1, &b), -ENOTSUP);
	/* the same resource twice */
	assert_int_equal(lwm2m_tlv_encode(&inst, r, 2, &b), -EINVAL);
	/* single and multiple at once */
	r[1].path = LWM2M_PATH(9999, 0, 2, 0);
	assert_int_equal(lwm2m_tlv_encode(&inst, r, 2, &b), -EINVAL);
	assert_int_equal(lwm2m_tlv_encode(&res, r, 2, &b), -EINVAL);
	/* two records for one resource instance */
	struct lwm2m_path ri = LWM2M_PATH(9999, 0, 2, 0);
	r[0].path = ri;
	assert_int_equal(lwm2m_tlv_encode(&ri, r, 2, &b), -EINVAL);
	/* outside base */
	r[0].path = LWM2M_PATH(9999, 1, 2);
	assert_int_equal(lwm2m_tlv_encode(&inst, r, 1, &b), -EINVAL);
	/* a record without value where TLV needs one */
	r[0].path = LWM2M_PATH(9999, 0, 2, 0);
	r[0].value.type = LWM2M_TYPE_NONE;
	assert_int_equal(lwm2m_tlv_encode(&inst, r, 1, &b), -ENOTSUP);
	/* an Object 25 prefix */
	r[0] = (struct lwm2m_record){ .path = LWM2M_PATH(9999, 0, 2),
				      .value = V_INT(1),
				      .prefix = { "dev0", 4 } };
	assert_int_equal(lwm2m_tlv_encode(&inst, r, 1, &b), -ENOTSUP);
	/* more than a 24-bit length can say (never read: refused first) */
	r[0] = (struct lwm2m_record){ .path = LWM2M_PATH(9999, 0, 6),
				      .value = { .type = LWM2M_TYPE_OPAQUE,
						 .bytes = { (const uint8_t *)"", 1u << 24 } } };
	assert_int_equal(lwm2m_tlv_encode(&inst, r, 1, &b), -ENOTSUP);
	/* a value on an instance path */
	r[0] = (struct lwm2m_record){ .path = LWM2M_PATH(9999, 0), .value = V_INT(1) };
	struct lwm2m_path obj = LWM2M_PATH(9999);
	assert_int_equal(lwm2m_tlv_encode(&obj, r, 1, &b), -EINVAL);
	/* nothing was left behind by any failure */
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	/* an empty instance encodes to nothing */
	assert_int_equal(lwm2m_tlv_encode(&inst, r, 0, &b), 0);
	assert_int_equal(b.len, 4);
	lwm2m_buf_free(&b);
}

static void test_decode_without_types(void **state)
{
	/* No type_of: every value is Opaque bytes. */
	static const uint8_t data[] = { 0xc1, 0x09, 0x64, 0xc3, 0x00, 'a', 'b', 'c' };
	struct lwm2m_path inst = LWM2M_PATH(3, 0);
	struct lwm2m_records out = { 0 };

	(void)state;
	assert_int_equal(lwm2m_tlv_decode(&inst, data, sizeof(data), NULL, NULL, &out), 0);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[0].value.type, LWM2M_TYPE_OPAQUE);
	assert_int_equal(out.v[0].value.bytes.len, 1);
	assert_int_equal(out.v[0].value.bytes.ptr[0], 0x64);
	assert_int_equal(out.v[1].value.type, LWM2M_TYPE_OPAQUE);
	assert_memory_equal(out.v[1].value.bytes.ptr, "abc", 3);
	/* decoded bytes are copies, not pointers into the payload */
	assert_true(out.v[1].value.bytes.ptr < data || out.v[1].value.bytes.ptr >= data + sizeof(data));
	lwm2m_records_clear(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_roundtrip_types_shapes),
		cmocka_unit_test(test_integer_widths),
		cmocka_unit_test(test_float_widths),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_decode_without_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
