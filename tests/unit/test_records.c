/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/lwm2m.h"
#include "lwm2m/codec_internal.h"

static void test_add_and_arena(void **state)
{
	struct lwm2m_records r = { 0 };
	(void)state;

	for (int i = 0; i < 100; i++) {
		struct lwm2m_record *rec = lwm2m_records_add(&r);
		assert_non_null(rec);
		assert_int_equal(rec->path.len, 0);
		assert_false(rec->has_time);
		rec->path = LWM2M_PATH(3, 0, (uint16_t)i);
	}
	assert_int_equal(r.n, 100);
	assert_int_equal(r.v[99].path.id[2], 99);

	/* Small and large allocations stay valid and aligned until clear. */
	const char *a = lwm2m_records_dup(&r, "hello", 5);
	uint8_t *big = lwm2m_records_alloc(&r, 10000);
	const char *b = lwm2m_records_dup(&r, "world", 5);
	assert_non_null(a);
	assert_non_null(big);
	assert_non_null(b);
	memset(big, 0xAB, 10000);
	assert_memory_equal(a, "hello", 5);
	assert_memory_equal(b, "world", 5);
	assert_int_equal((uintptr_t)big % sizeof(void *), 0);
	assert_non_null(lwm2m_records_dup(&r, NULL, 0));

	lwm2m_records_clear(&r);
	assert_int_equal(r.n, 0);
	assert_null(r.v);
	assert_null(r.arena);
	lwm2m_records_clear(NULL);
}

static void test_sort_stable(void **state)
{
	struct lwm2m_records r = { 0 };
	static const uint16_t order[][3] = {
		{ 3, 0, 7 }, { 1, 0, 1 }, { 3, 0, 1 }, { 3, 0, 7 }, { 3303, 0, 5700 }
	};
	(void)state;

	for (size_t i = 0; i < 5; i++) {
		struct lwm2m_record *rec = lwm2m_records_add(&r);
		rec->path = LWM2M_PATH(order[i][0], order[i][1], order[i][2]);
		rec->value.type = LWM2M_TYPE_INTEGER;
		rec->value.i = (int64_t)i;
	}
	struct lwm2m_record *p = lwm2m_records_add(&r);
	p->path = LWM2M_PATH(1, 0, 1);
	p->prefix = (struct lwm2m_span){ "dev0", 4 };
	p->value.type = LWM2M_TYPE_INTEGER;
	p->value.i = 5;

	lwm2m_records_sort(&r);
	/* Unprefixed first, then by path; equal paths keep their order. */
	static const int64_t expect[] = { 1, 2, 0, 3, 4, 5 };
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(r.v[i].value.i, expect[i]);
	lwm2m_records_clear(&r);
}

static void test_senml_names(void **state)
{
	struct lwm2m_records r = { 0 };
	struct lwm2m_path p;
	struct lwm2m_span pfx;
	(void)state;

	assert_int_equal(lwm2m_senml_resolve_name("/3/0/", 5, "1", 1, &p, &pfx, &r), 0);
	assert_int_equal(p.len, 3);
	assert_int_equal(p.id[2], 1);
	assert_int_equal(pfx.len, 0);
	assert_int_equal(lwm2m_senml_resolve_name("/dev0/3303/", 11, "0/5700", 6, &p, &pfx, &r), 0);
	assert_int_equal(p.len, 3);
	assert_int_equal(p.id[0], 3303);
	assert_int_equal(pfx.len, 4);
	assert_memory_equal(pfx.ptr, "dev0", 4);
	/* A prefix where the caller cannot take one, relative names, junk. */
	assert_int_equal(lwm2m_senml_resolve_name("/dev0/3303/", 11, "0", 1, &p, NULL, &r), -EBADMSG);
	assert_int_equal(lwm2m_senml_resolve_name("", 0, "3/0/1", 5, &p, &pfx, &r), -EBADMSG);
	assert_int_equal(lwm2m_senml_resolve_name("", 0, "", 0, &p, &pfx, &r), -EBADMSG);
	assert_int_equal(lwm2m_senml_resolve_name("/3/0/", 5, "70000", 5, &p, &pfx, &r), -EBADMSG);
	char long_name[200];
	memset(long_name, '1', sizeof(long_name));
	long_name[0] = '/';
	assert_int_equal(lwm2m_senml_resolve_name(long_name, 100, long_name, 100, &p, &pfx, &r), -EBADMSG);
	lwm2m_records_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_arena),
		cmocka_unit_test(test_sort_stable),
		cmocka_unit_test(test_senml_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
