/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/lwm2m.h"
#include "testutil.h"

/* Parse input (exact-size heap copy, no NUL: ASan catches any read past n)
 * and describe the result like the data file does. */
static void describe(const char *in, size_t n, bool with_prefix, char *out, size_t outsz)
{
	char *copy = malloc(n ? n : 1);
	struct lwm2m_path p = { .len = 0 };
	struct lwm2m_span pfx = { .ptr = "x", .len = 99 };
	char buf[32];
	int r;

	assert_non_null(copy);
	memcpy(copy, in, n);
	r = lwm2m_path_parse(copy, n, &p, with_prefix ? &pfx : NULL);
	if (r < 0) {
		assert_int_equal(r, -EBADMSG);
		/* outputs untouched on error */
		assert_int_equal(p.len, 0);
		assert_int_equal(pfx.len, 99);
		snprintf(out, outsz, "EBADMSG");
	} else {
		assert_int_equal(r, 0);
		assert_true(lwm2m_path_format(&p, buf) > 0);
		if (with_prefix && pfx.len) {
			assert_true(pfx.ptr >= copy && pfx.ptr + pfx.len <= copy + n);
			snprintf(out, outsz, "%.*s|%s", (int)pfx.len, pfx.ptr, buf);
		} else {
			if (with_prefix)
				assert_int_equal(pfx.len, 0);
			snprintf(out, outsz, "%s", buf);
		}
	}
	free(copy);
}

static void test_parse_cases(void **state)
{
	size_t len;
	char *text = (char *)tu_read_data("path/parse.txt", &len);
	int cases = 0;
	(void)state;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *q1, *q2, exp_p[200], exp_n[200], got[200];
		if (line[0] == '#' || line[0] == '\0')
			continue;
		q1 = strchr(line, '"');
		q2 = q1 ? strchr(q1 + 1, '"') : NULL;
		if (!q2 || sscanf(q2 + 1, "%199s %199s", exp_p, exp_n) != 2)
			fail_msg("bad line in parse.txt: %s", line);

		describe(q1 + 1, (size_t)(q2 - q1 - 1), true, got, sizeof(got));
		if (strcmp(got, exp_p) != 0)
			fail_msg("\"%.*s\" with prefix: got %s, expected %s", (int)(q2 - q1 - 1), q1 + 1, got,
				 exp_p);
		describe(q1 + 1, (size_t)(q2 - q1 - 1), false, got, sizeof(got));
		if (strcmp(got, exp_n) != 0)
			fail_msg("\"%.*s\" without prefix: got %s, expected %s", (int)(q2 - q1 - 1), q1 + 1,
				 got, exp_n);
		cases++;
	}
	assert_true(cases >= 50);
	free(text);
}

static void test_parse_length_bounds(void **state)
{
	struct lwm2m_path p;
	struct lwm2m_span pfx;
	(void)state;

	/* Only n bytes count: the rest of the buffer is not part of the path. */
	assert_int_equal(lwm2m_path_parse("/3/0/7junk", 6, &p, NULL), 0);
	assert_int_equal(p.len, 3);
	assert_int_equal(p.id[2], 7);
	assert_int_equal(lwm2m_path_parse("/3/0/7/1/2", 8, &p, NULL), 0);
	assert_int_equal(p.len, 4);
	assert_int_equal(p.id[3], 1);
	assert_int_equal(lwm2m_path_parse("/dev0/3", 5, &p, &pfx), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(pfx.len, 4);
	/* An embedded NUL is a byte like any other: not a digit. */
	assert_int_equal(lwm2m_path_parse("/3\0/0", 5, &p, NULL), -EBADMSG);
	/* NULL with n == 0 is the root; NULL with n > 0 is a caller bug. */
	assert_int_equal(lwm2m_path_parse(NULL, 0, &p, NULL), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(lwm2m_path_parse(NULL, 3, &p, NULL), -EINVAL);
	assert_int_equal(lwm2m_path_parse("/3", 2, NULL, NULL), -EINVAL);
}

static void test_parse_values(void **state)
{
	struct lwm2m_path p;
	struct lwm2m_span pfx;
	(void)state;

	assert_int_equal(lwm2m_path_parse("/dev0/3303/1/5700", 17, &p, &pfx), 0);
	assert_int_equal(p.len, 3);
	assert_int_equal(p.id[LWM2M_OID], 3303);
	assert_int_equal(p.id[LWM2M_IID], 1);
	assert_int_equal(p.id[LWM2M_RID], 5700);
	assert_int_equal(pfx.len, 4);
	assert_memory_equal(pfx.ptr, "dev0", 4);

	/* No prefix: the span is empty, not left as it was. */
	pfx = (struct lwm2m_span){ .ptr = "zz", .len = 2 };
	assert_int_equal(lwm2m_path_parse("/1/2", 4, &p, &pfx), 0);
	assert_int_equal(pfx.len, 0);
	assert_int_equal(p.len, 2);
	assert_int_equal(p.id[0], 1);
	assert_int_equal(p.id[1], 2);
}

static void test_format(void **state)
{
	char buf[32];
	struct lwm2m_path p;
	(void)state;

	p = (struct lwm2m_path){ .len = 0 };
	assert_int_equal(lwm2m_path_format(&p, buf), 1);
	assert_string_equal(buf, "/");
	p = LWM2M_PATH(3);
	assert_int_equal(lwm2m_path_format(&p, buf), 2);
	assert_string_equal(buf, "/3");
	p = LWM2M_PATH(3303, 0, 5700);
	assert_int_equal(lwm2m_path_format(&p, buf), 12);
	assert_string_equal(buf, "/3303/0/5700");
	p = LWM2M_PATH(65535, 65535, 65535, 65535);
	assert_int_equal(lwm2m_path_format(&p, buf), 24);
	assert_string_equal(buf, "/65535/65535/65535/65535");
	p.len = 5;
	assert_int_equal(lwm2m_path_format(&p, buf), -EINVAL);
}

static void test_cmp(void **state)
{
	struct lwm2m_path root = { .len = 0 };
	struct lwm2m_path a = LWM2M_PATH(3), b = LWM2M_PATH(3, 0), c = LWM2M_PATH(3, 0, 7),
			  d = LWM2M_PATH(3, 0, 7, 0), e = LWM2M_PATH(3, 0, 8), f = LWM2M_PATH(4),
			  g = LWM2M_PATH(3, 1), h = LWM2M_PATH(3303, 0, 5700);
	const struct lwm2m_path *order[] = { &root, &a, &b, &c, &d, &e, &g, &f, &h };
	(void)state;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
			int r = lwm2m_path_cmp(order[i], order[j]);
			if (i < j)
				assert_true(r < 0);
			else if (i > j)
				assert_true(r > 0);
			else
				assert_int_equal(r, 0);
		}
	}
	/* Numeric, not textual: 10 after 9. */
	struct lwm2m_path n9 = LWM2M_PATH(9), n10 = LWM2M_PATH(10);
	assert_true(lwm2m_path_cmp(&n9, &n10) < 0);
}

static void test_is_under(void **state)
{
	struct lwm2m_path root = { .len = 0 };
	struct lwm2m_path obj = LWM2M_PATH(3), inst = LWM2M_PATH(3, 0), res = LWM2M_PATH(3, 0, 7),
			  ri = LWM2M_PATH(3, 0, 7, 1), other = LWM2M_PATH(3, 1, 7), o4 = LWM2M_PATH(4);
	(void)state;

	assert_true(lwm2m_path_is_under(&ri, &root));
	assert_true(lwm2m_path_is_under(&ri, &obj));
	assert_true(lwm2m_path_is_under(&ri, &inst));
	assert_true(lwm2m_path_is_under(&ri, &res));
	assert_true(lwm2m_path_is_under(&ri, &ri));
	assert_true(lwm2m_path_is_under(&root, &root));
	assert_false(lwm2m_path_is_under(&res, &ri));
	assert_false(lwm2m_path_is_under(&inst, &res));
	assert_false(lwm2m_path_is_under(&other, &inst));
	assert_false(lwm2m_path_is_under(&obj, &o4));
	assert_false(lwm2m_path_is_under(&root, &obj));
}

/* Every formatted path reads back as itself. */
static void test_roundtrip(void **state)
{
	static const uint16_t ids[] = { 0, 1, 9, 10, 99, 100, 3303, 5700, 65534 };
	const size_t n = sizeof(ids) / sizeof(ids[0]);
	char buf[32];
	(void)state;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			for (uint8_t len = 0; len <= 4; len++) {
				struct lwm2m_path p = { .id = { ids[i], ids[j], ids[(i + j) % n],
								ids[(i * j) % n] },
							.len = len },
						  q;
				for (unsigned k = len; k < 4; k++)
					p.id[k] = 0;
				int l = lwm2m_path_format(&p, buf);
				assert_true(l > 0);
				assert_int_equal(lwm2m_path_parse(buf, (size_t)l, &q, NULL), 0);
				assert_int_equal(q.len, len);
				assert_int_equal(lwm2m_path_cmp(&p, &q), 0);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cases),  cmocka_unit_test(test_parse_length_bounds),
		cmocka_unit_test(test_parse_values), cmocka_unit_test(test_format),
		cmocka_unit_test(test_cmp),          cmocka_unit_test(test_is_under),
		cmocka_unit_test(test_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
