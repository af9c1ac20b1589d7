/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/lwm2m.h"

static void test_type_names(void **state)
{
	(void)state;
	for (unsigned t = 0; t < LWM2M_TYPE__MAX; t++) {
		const char *n = lwm2m_type_name(t);
		enum lwm2m_type back = LWM2M_TYPE__MAX;
		assert_non_null(n);
		assert_int_equal(lwm2m_type_from_name(n, strlen(n), &back), 0);
		assert_int_equal(back, t);
	}
	enum lwm2m_type t;
	assert_int_equal(lwm2m_type_from_name("unsigned integer", 16, &t), 0);
	assert_int_equal(t, LWM2M_TYPE_UNSIGNED);
	assert_int_equal(lwm2m_type_from_name("none", 4, &t), 0);
	assert_int_equal(t, LWM2M_TYPE_NONE);
	assert_int_equal(lwm2m_type_from_name("Flaot", 5, &t), -EINVAL);
	/* A prefix of a name is not the name. */
	assert_int_equal(lwm2m_type_from_name("Float", 3, &t), -EINVAL);
	assert_null(lwm2m_type_name(LWM2M_TYPE__MAX));
	assert_string_equal(lwm2m_ct_name(LWM2M_CT_SENML_CBOR), "application/senml+cbor");
	assert_null(lwm2m_ct_name(1234));
}

static struct lwm2m_value vi(int64_t i)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = i };
}
static struct lwm2m_value vu(uint64_t u)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = u };
}
static struct lwm2m_value vf(double f)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = f };
}

static void test_convert_integers(void **state)
{
	struct lwm2m_value out, in;
	(void)state;

	in = vi(5);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_FLOAT, &out), 0);
	assert_int_equal(out.type, LWM2M_TYPE_FLOAT);
	assert_true(out.f == 5.0);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_UNSIGNED, &out), 0);
	assert_true(out.u == 5);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_TIME, &out), 0);
	assert_int_equal(out.type, LWM2M_TYPE_TIME);
	assert_true(out.i == 5);

	in = vi(-1);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_UNSIGNED, &out), -ERANGE);
	in = vi(INT64_MIN);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), 0);
	assert_true(out.i == INT64_MIN);
	/* -2^63 is exactly a double. */
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_FLOAT, &out), 0);
	assert_true(out.f == -9223372036854775808.0);
	/* 2^53 + 1 is not. */
	in = vi((INT64_C(1) << 53) + 1);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_FLOAT, &out), -ERANGE);
	in = vi(INT64_MAX);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_FLOAT, &out), -ERANGE);

	in = vu(UINT64_MAX);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), -ERANGE);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_FLOAT, &out), -ERANGE);
	in = vu((uint64_t)INT64_MAX);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), 0);
	assert_true(out.i == INT64_MAX);

	in = vi(1);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_BOOLEAN, &out), 0);
	assert_true(out.b);
	in = vi(2);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_BOOLEAN, &out), -ERANGE);
}

static void test_convert_floats(void **state)
{
	struct lwm2m_value out, in;
	(void)state;

	in = vf(2.0);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), 0);
	assert_true(out.i == 2);
	in = vf(2.5);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), -ERANGE);
	in = vf(-3.0);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_UNSIGNED, &out), -ERANGE);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), 0);
	assert_true(out.i == -3);
	in = vf(9223372036854775808.0); /* 2^63 */
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), -ERANGE);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_UNSIGNED, &out), 0);
	assert_true(out.u == UINT64_C(9223372036854775808));
	in = vf(-9223372036854775808.0);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), 0);
	assert_true(out.i == INT64_MIN);
	in = vf(18446744073709551616.0); /* 2^64 */
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_UNSIGNED, &out), -ERANGE);
	in = vf(INFINITY);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), -ERANGE);
	in = vf(NAN);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_UNSIGNED, &out), -ERANGE);
	in = vf(0.1);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_FLOAT, &out), 0);
	assert_true(out.f == 0.1);
}

static void test_convert_other(void **state)
{
	static const uint8_t s[] = { 'a', 0, 'b' };
	struct lwm2m_value in = { .type = LWM2M_TYPE_STRING, .bytes = { s, sizeof(s) } }, out;
	(void)state;

	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_CORELNK, &out), 0);
	assert_int_equal(out.bytes.len, 3);
	assert_ptr_equal(out.bytes.ptr, s);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_OPAQUE, &out), -EINVAL);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), -EINVAL);
	in = vi(3);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_STRING, &out), -EINVAL);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_OBJLNK, &out), -EINVAL);
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_OBJLNK, .lnk = { 3, 0 } };
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_OBJLNK, &out), 0);
	assert_int_equal(out.lnk.oid, 3);
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_INTEGER, &out), -EINVAL);
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_NONE };
	assert_int_equal(lwm2m_value_convert(&in, LWM2M_TYPE_FLOAT, &out), -EINVAL);
}

static void check_fmt(double v, const char *expect)
{
	char out[32];
	int n = lwm2m_fmt_double(v, out);
	assert_int_equal(n, (int)strlen(expect));
	assert_string_equal(out, expect);
	assert_true(strtod(out, NULL) == v);
}

static void test_fmt_double(void **state)
{
	char out[32];
	(void)state;

	check_fmt(0.1, "0.1");
	check_fmt(25.5, "25.5");
	check_fmt(0.1 + 0.2, "0.30000000000000004");
	check_fmt(5e-324, "5e-324");
	check_fmt(1e308, "1e+308");
	check_fmt(-0.0, "-0");
	check_fmt(DBL_MAX, "1.7976931348623157e+308");
	check_fmt(9007199254740993.0, "9007199254740992");
	check_fmt(123456789012345678.0, "1.2345678901234568e+17");
	assert_int_equal(lwm2m_fmt_double(NAN, out), -EINVAL);
	assert_int_equal(lwm2m_fmt_double(-INFINITY, out), -EINVAL);
}

/* Every double read back exactly, over a spread of magnitudes and bits. */
static void test_fmt_double_roundtrip(void **state)
{
	uint64_t x = 0x9E3779B97F4A7C15u;
	char out[32];
	(void)state;

	for (int i = 0; i < 200000; i++) {
		double d;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (!isfinite(d))
			continue;
		assert_true(lwm2m_fmt_double(d, out) > 0);
		assert_true(strtod(out, NULL) == d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),     cmocka_unit_test(test_convert_integers),
		cmocka_unit_test(test_convert_floats), cmocka_unit_test(test_convert_other),
		cmocka_unit_test(test_fmt_double),     cmocka_unit_test(test_fmt_double_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
