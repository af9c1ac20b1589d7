/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/lwm2m.h"

static void test_append_grow(void **state)
{
	struct lwm2m_buf b = { 0 };
	(void)state;

	for (int i = 0; i < 1000; i++)
		assert_int_equal(lwm2m_buf_putc(&b, (uint8_t)i), 0);
	assert_int_equal(b.len, 1000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(b.data[i], (uint8_t)i);
	assert_int_equal(lwm2m_buf_append(&b, "\0x", 2), 0);
	assert_int_equal(b.len, 1002);
	assert_int_equal(b.data[1000], 0);
	assert_int_equal(b.data[1001], 'x');
	assert_int_equal(lwm2m_buf_append(&b, NULL, 0), 0);
	lwm2m_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_true(b.cap >= 1002);
	lwm2m_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	lwm2m_buf_free(NULL);
}

static void test_printf(void **state)
{
	struct lwm2m_buf b = { 0 };
	char big[300];
	(void)state;

	assert_int_equal(lwm2m_buf_printf(&b, "</%u/%u>", 3, 0), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "</3/0>", 6);
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(lwm2m_buf_printf(&b, ",%s", big), 0);
	assert_int_equal(b.len, 6 + 1 + 299);
	assert_int_equal(b.data[b.len - 1], 'z');
	lwm2m_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_grow),
		cmocka_unit_test(test_printf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
