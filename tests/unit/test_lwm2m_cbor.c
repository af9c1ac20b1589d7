/* SPDX-License-Identifier: Apache-2.0 */
/* LwM2M CBOR (lwm2m/lwm2m_cbor.c): golden and error vectors in
 * tests/data/lwm2m_cbor/ (written by tests/data/cbor/gen_vectors.py and
 * checked there with cbor2), round trips of every type and payload shape,
 * the shortest key forms, encoder errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_vectors.h"

static void test_vectors(void **state)
{
	(void)state;
	assert_true(cv_run_dir("lwm2m_cbor", lwm2m_lwm2m_cbor_encode, lwm2m_lwm2m_cbor_decode) >= 35);
}

static const struct lwm2m_value values[][2] = {
	[LWM2M_TYPE_STRING] = { V_STR("with\0nul"), V_STR("") },
	[LWM2M_TYPE_INTEGER] = { V_INT(INT64_MIN), V_INT(INT64_MAX) },
	[LWM2M_TYPE_UNSIGNED] = { V_UINT(UINT64_MAX), V_UINT(0) },
	[LWM2M_TYPE_FLOAT] = { V_FLT(0x1.fffffffffffffp+1023), V_FLT(-0x1p-1074) },
	[LWM2M_TYPE_BOOLEAN] = { V_BOOL(true), V_BOOL(false) },
	[LWM2M_TYPE_OPAQUE] = { V_OPQ("\x00\x01\xff"), V_OPQ("") },
	[LWM2M_TYPE_TIME] = { V_TIME(INT64_MIN), V_TIME(1700000000) },
	[LWM2M_TYPE_OBJLNK] = { V_OBJ(3, 0), V_OBJ(65535, 65535) },
	[LWM2M_TYPE_CORELNK] = { V_LNK("</3303/0>"), V_LNK("") },
};

static void test_roundtrip_types_shapes(void **state)
{
	(void)state;
	cv_roundtrip_shapes(lwm2m_lwm2m_cbor_encode, lwm2m_lwm2m_cbor_decode, values);
}

/* The encoder's key forms: one id per level, an array for a chain of
 * three or more single-child levels. */
static void test_key_forms(void **state)
{
	static const struct {
		struct lwm2m_path path;
		const char *hex;
	} cases[] = {
		/* {[3, 0, 9]: 1} */
		{ LWM2M_PATH(3, 0, 9), "a1830300 0901" },
		/* {[3, 0, 7, 1]: 1} */
		{ LWM2M_PATH(3, 0, 7, 1), "a1840300 070101" },
		/* {3: null} */
		{ LWM2M_PATH(3), "a103f6" },
		/* {3: {0: null}} */
		{ LWM2M_PATH(3, 0), "a103a100f6" },
	};
	struct lwm2m_path root = { .len = 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lwm2m_record r = { .path = cases[i].path, .value = V_INT(1) };
		struct lwm2m_buf b = { 0 };
		size_t n;
		uint8_t *want = tu_hex(cases[i].hex, &n);
		if (r.path.len < 3)
			r.value.type = LWM2M_TYPE_NONE;
		assert_int_equal(lwm2m_lwm2m_cbor_encode(&root, &r, 1, &b), 0);
		assert_int_equal(b.len, n);
		assert_memory_equal(b.data, want, n);
		free(want);
		lwm2m_buf_free(&b);
	}
}

static void test_encode_errors(void **state)
{
	struct lwm2m_buf b = { 0 };
	struct lwm2m_path root = { .len = 0 }, inst = LWM2M_PATH(9999, 0);
	struct lwm2m_record r[2] = {
		{ .path = LWM2M_PATH(9999, 0, 2), .value = V_INT(1) },
		{ .path = LWM2M_PATH(9999, 0, 2), .value = V_INT(2) },
	};

	(void)state;
	assert_int_equal(lwm2m_buf_append(&b, "keep", 4), 0);
	/* the same path twice */
	assert_int_equal(lwm2m_lwm2m_cbor_encode(&inst, r, 2, &b), -EINVAL);
	/* a leaf that is also a parent */
	r[1].path = LWM2M_PATH(9999, 0, 2, 0);
	assert_int_equal(lwm2m_lwm2m_cbor_encode(&inst, r, 2, &b), -EINVAL);
	/* unsorted */
	r[0].path = LWM2M_PATH(9999, 0, 5);
	assert_int_equal(lwm2m_lwm2m_cbor_encode(&inst, r, 2, &b), -EINVAL);
	/* outside base */
	r[0].path = LWM2M_PATH(9999, 1, 2);
	assert_int_equal(lwm2m_lwm2m_cbor_encode(&inst, r, 1, &b), -EINVAL);
	/* a value on an instance, and a value-less root */
	r[0].path = inst;
	assert_int_equal(lwm2m_lwm2m_cbor_encode(&inst, r, 1, &b), -EINVAL);
	r[0] = (struct lwm2m_record){ .path = { .len = 0 } };
	assert_int_equal(lwm2m_lwm2m_cbor_encode(&root, r, 1, &b), -EINVAL);
	/* an Object 25 prefix has no place in LwM2M CBOR */
	r[0] = (struct lwm2m_record){ .path = LWM2M_PATH(9999, 0, 2),
				      .value = V_INT(1),
				      .prefix = { "dev0", 4 } };
	assert_int_equal(lwm2m_lwm2m_cbor_encode(&root, r, 1, &b), -ENOTSUP);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "keep", 4);
	lwm2m_buf_free(&b);
}

/* Paths come from the root whatever the request path: a Write on /9999/0
 * may not carry /9999/1, and a payload relative to the base is refused. */
static void test_base_bounds(void **state)
{
	/* {0: {2: 5}} would be /0/2 relative to nothing */
	static const uint8_t relative[] = { 0xa1, 0x00, 0xa1, 0x02, 0x05 };
	/* {[9999, 0, 2]: 5} */
	static const uint8_t full[] = { 0xa1, 0x83, 0x19, 0x27, 0x0f, 0x00, 0x02, 0x05 };
	struct lwm2m_path inst = LWM2M_PATH(9999, 0), other = LWM2M_PATH(9999, 1);
	struct lwm2m_records out = { 0 };

	(void)state;
	assert_int_equal(lwm2m_lwm2m_cbor_decode(&inst, relative, sizeof(relative), cv_type_of, NULL, &out),
			 -EBADMSG);
	assert_int_equal(lwm2m_lwm2m_cbor_decode(&other, full, sizeof(full), cv_type_of, NULL, &out),
			 -EBADMSG);
	assert_int_equal(lwm2m_lwm2m_cbor_decode(&inst, full, sizeof(full), cv_type_of, NULL, &out), 0);
	assert_int_equal(out.n, 1);
	assert_true(out.v[0].path.len == 3 && out.v[0].path.id[0] == 9999 && out.v[0].value.i == 5);
	lwm2m_records_clear(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),     cmocka_unit_test(test_roundtrip_types_shapes),
		cmocka_unit_test(test_key_forms),   cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_base_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
