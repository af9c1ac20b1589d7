/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in object table and registry lookups (loading DDF files is
 * tested in test_ddf.c, including that the table matches the OMA XML). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/lwm2m.h"

static const struct lwm2m_resdef *res(const struct lwm2m_registry *r, uint16_t oid, uint16_t rid)
{
	const struct lwm2m_objdef *d = lwm2m_registry_find(r, oid);
	assert_non_null(d);
	return lwm2m_objdef_find_res(d, rid);
}

static void test_builtin_set(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	/* ...and fieldgate's own: Bridge Statistics and Field Device. */
	static const uint16_t want[] = { 0, 1, 3, 4, 5, 9, 25, 3200, 3201, 3202, 3203, 26241, 26242 };
	size_t ipso = 0;
	(void)state;

	assert_non_null(r);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_non_null(lwm2m_registry_find(r, want[i]));
	/* 3300..3350 as present in the OMA registry (3307 and 3309 are not) */
	for (uint16_t oid = 3300; oid <= 3350; oid++) {
		if (lwm2m_registry_find(r, oid))
			ipso++;
		else
			assert_true(oid == 3307 || oid == 3309);
	}
	assert_int_equal(ipso, 49);
	assert_int_equal(lwm2m_registry_count(r), 13 + 49);
	assert_null(lwm2m_registry_find(r, 2));
	assert_null(lwm2m_registry_find(r, 3351));
	assert_null(lwm2m_registry_find(r, 65535));
	lwm2m_registry_free(r);
}

/* Sorted objects, sorted unique resources, sane fields everywhere: the
 * binary searches depend on it. */
static void test_builtin_sorted_and_sane(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	(void)state;

	for (size_t i = 0; i < lwm2m_registry_count(r); i++) {
		const struct lwm2m_objdef *d = lwm2m_registry_at(r, i);
		assert_non_null(d);
		if (i > 0)
			assert_true(lwm2m_registry_at(r, i - 1)->oid < d->oid);
		assert_ptr_equal(lwm2m_registry_find(r, d->oid), d);
		assert_non_null(d->name);
		assert_true(strlen(d->name) > 0);
		assert_true(d->nres > 0);
		assert_true(d->ver_major >= 1);
		for (size_t k = 0; k < d->nres; k++) {
			const struct lwm2m_resdef *rd = &d->res[k];
			if (k > 0)
				assert_true(d->res[k - 1].rid < rd->rid);
			assert_ptr_equal(lwm2m_objdef_find_res(d, rd->rid), rd);
			assert_true(rd->type < LWM2M_TYPE__MAX);
			assert_int_equal(rd->ops & ~(LWM2M_OP_R | LWM2M_OP_W | LWM2M_OP_E), 0);
			/* executable resources carry no value */
			if (rd->ops & LWM2M_OP_E)
				assert_int_equal(rd->type, LWM2M_TYPE_NONE);
			assert_non_null(rd->name);
			if (rd->units)
				assert_true(strlen(rd->units) > 0);
			if (rd->flags & LWM2M_RES_HAS_RANGE)
				assert_true(rd->min <= rd->max);
		}
	}
	assert_null(lwm2m_registry_at(r, lwm2m_registry_count(r)));
	lwm2m_registry_free(r);
}

static void test_builtin_spot_checks(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	const struct lwm2m_objdef *d;
	const struct lwm2m_resdef *rd;
	(void)state;

	/* Object 25, LwM2M Gateway 2.0 */
	d = lwm2m_registry_find(r, 25);
	assert_string_equal(d->name, "LwM2M Gateway");
	assert_int_equal(d->ver_major, 2);
	assert_int_equal(d->ver_minor, 0);
	assert_int_equal(d->flags, LWM2M_OBJ_MULTIPLE);
	assert_int_equal(d->nres, 3);
	assert_int_equal(d->res[0].rid, 0);
	assert_string_equal(d->res[0].name, "Device ID");
	assert_int_equal(d->res[0].type, LWM2M_TYPE_STRING);
	assert_int_equal(d->res[0].ops, LWM2M_OP_R);
	assert_int_equal(d->res[0].flags, LWM2M_RES_MANDATORY);
	assert_int_equal(d->res[1].rid, 1);
	assert_string_equal(d->res[1].name, "Prefix");
	assert_int_equal(d->res[2].rid, 3);
	assert_int_equal(d->res[2].type, LWM2M_TYPE_CORELNK);

	/* Device object */
	d = lwm2m_registry_find(r, 3);
	assert_string_equal(d->name, "Device");
	assert_int_equal(d->flags, LWM2M_OBJ_MANDATORY);
	rd = res(r, 3, 0);
	assert_string_equal(rd->name, "Manufacturer");
	assert_int_equal(rd->type, LWM2M_TYPE_STRING);
	assert_int_equal(rd->ops, LWM2M_OP_R);
	rd = res(r, 3, 4);
	assert_string_equal(rd->name, "Reboot");
	assert_int_equal(rd->ops, LWM2M_OP_E);
	assert_int_equal(rd->type, LWM2M_TYPE_NONE);
	assert_int_equal(rd->flags, LWM2M_RES_MANDATORY);
	rd = res(r, 3, 7);
	assert_null(rd->units); /* the 1.2 DDF leaves Units empty */
	assert_int_equal(rd->flags, LWM2M_RES_MULTIPLE);
	rd = res(r, 3, 11);
	assert_int_equal(rd->flags, LWM2M_RES_MULTIPLE | LWM2M_RES_MANDATORY | LWM2M_RES_HAS_RANGE);
	assert_true(rd->min == 0 && rd->max == 32);
	rd = res(r, 3, 9);
	assert_string_equal(rd->name, "Battery Level");
	assert_int_equal(rd->type, LWM2M_TYPE_INTEGER);
	assert_true(rd->flags & LWM2M_RES_HAS_RANGE);
	assert_true(rd->min == 0 && rd->max == 100);
	assert_string_equal(rd->units, "/100");
	rd = res(r, 3, 13);
	assert_string_equal(rd->name, "Current Time");
	assert_int_equal(rd->type, LWM2M_TYPE_TIME);
	assert_int_equal(rd->ops, LWM2M_OP_R | LWM2M_OP_W);

	/* Server object: Short Server ID 1..65534 */
	rd = res(r, 1, 0);
	assert_true(rd->flags & LWM2M_RES_HAS_RANGE);
	assert_true(rd->min == 1 && rd->max == 65534);
	assert_int_equal(res(r, 1, 1)->type, LWM2M_TYPE_INTEGER);
	assert_string_equal(res(r, 1, 1)->units, "s");

	/* IPSO: shared resources, per-object mandatory marks */
	d = lwm2m_registry_find(r, 3303);
	assert_string_equal(d->name, "Temperature");
	assert_int_equal(d->ver_major, 1);
	assert_int_equal(d->ver_minor, 1);
	assert_int_equal(d->flags, LWM2M_OBJ_MULTIPLE);
	rd = res(r, 3303, 5700);
	assert_string_equal(rd->name, "Sensor Value");
	assert_int_equal(rd->type, LWM2M_TYPE_FLOAT);
	assert_int_equal(rd->ops, LWM2M_OP_R);
	assert_int_equal(rd->flags, LWM2M_RES_MANDATORY);
	assert_null(rd->units);
	assert_int_equal(res(r, 3303, 5601)->flags & LWM2M_RES_MANDATORY, 0);
	assert_int_equal(res(r, 3303, 5605)->ops, LWM2M_OP_E);
	assert_null(res(r, 3303, 5800));
	assert_null(res(r, 3303, 0));
	assert_int_equal(res(r, 3305, 5800)->flags & LWM2M_RES_MANDATORY, LWM2M_RES_MANDATORY);
	assert_int_equal(res(r, 3311, 5850)->type, LWM2M_TYPE_BOOLEAN);
	assert_int_equal(res(r, 3311, 5850)->ops, LWM2M_OP_R | LWM2M_OP_W);

	/* Security: resources without operations (bootstrap only) */
	rd = res(r, 0, 0);
	assert_string_equal(rd->name, "LWM2M  Server URI");
	assert_int_equal(rd->ops, 0);
	assert_int_equal(rd->type, LWM2M_TYPE_STRING);

	assert_null(lwm2m_objdef_find_res(NULL, 0));
	lwm2m_registry_free(r);
}

static void test_type_of(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	struct lwm2m_path p;
	(void)state;

	p = LWM2M_PATH(3303, 0, 5700);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_FLOAT);
	p = LWM2M_PATH(3, 0, 7, 2);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_INTEGER);
	p = LWM2M_PATH(25, 1, 3);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_CORELNK);
	p = LWM2M_PATH(3, 0, 4);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_NONE);
	p = LWM2M_PATH(3, 0);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_NONE);
	p = LWM2M_PATH(3, 0, 9999);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_NONE);
	p = LWM2M_PATH(42, 0, 1);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_NONE);
	assert_int_equal(lwm2m_registry_type_of(NULL, &p), LWM2M_TYPE_NONE);
	assert_int_equal(lwm2m_registry_type_of(r, NULL), LWM2M_TYPE_NONE);
	lwm2m_registry_free(r);
}

static void test_independent_and_null(void **state)
{
	struct lwm2m_registry *a = lwm2m_registry_new(), *b = lwm2m_registry_new();
	(void)state;

	/* Built-ins are shared constant data: both registries point at them. */
	assert_ptr_equal(lwm2m_registry_find(a, 3), lwm2m_registry_find(b, 3));
	assert_null(lwm2m_registry_free(a));
	assert_non_null(lwm2m_registry_find(b, 3));
	assert_null(lwm2m_registry_free(b));
	assert_null(lwm2m_registry_free(NULL));
	assert_null(lwm2m_registry_find(NULL, 3));
	assert_int_equal(lwm2m_registry_count(NULL), 0);
	assert_null(lwm2m_registry_at(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_set),          cmocka_unit_test(test_builtin_sorted_and_sane),
		cmocka_unit_test(test_builtin_spot_checks),  cmocka_unit_test(test_type_of),
		cmocka_unit_test(test_independent_and_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
