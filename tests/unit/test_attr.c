/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <locale.h>
#include <math.h>
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

static const struct {
	const char *name;
	uint32_t bit;
} names[] = {
	{ "pmin", LWM2M_ATTR_PMIN },   { "pmax", LWM2M_ATTR_PMAX }, { "gt", LWM2M_ATTR_GT },
	{ "lt", LWM2M_ATTR_LT },       { "st", LWM2M_ATTR_ST },     { "epmin", LWM2M_ATTR_EPMIN },
	{ "epmax", LWM2M_ATTR_EPMAX },
};

static void describe(const struct lwm2m_attrs *a, char *out, size_t n)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint32_t b = names[i].bit;
		if (a->unset & b) {
			snprintf(out, n, "unset %s", names[i].name);
			return;
		}
		if (!(a->set & b))
			continue;
		switch (b) {
		case LWM2M_ATTR_PMIN:
			snprintf(out, n, "pmin=%u", a->pmin);
			return;
		case LWM2M_ATTR_PMAX:
			snprintf(out, n, "pmax=%u", a->pmax);
			return;
		case LWM2M_ATTR_EPMIN:
			snprintf(out, n, "epmin=%u", a->epmin);
			return;
		case LWM2M_ATTR_EPMAX:
			snprintf(out, n, "epmax=%u", a->epmax);
			return;
		case LWM2M_ATTR_GT:
			snprintf(out, n, "gt=%.17g", a->gt);
			return;
		case LWM2M_ATTR_LT:
			snprintf(out, n, "lt=%.17g", a->lt);
			return;
		default:
			snprintf(out, n, "st=%.17g", a->st);
			return;
		}
	}
	snprintf(out, n, "nothing");
}

/* Each "quoted input" of a data file, as an exact-size heap copy. */
static char *next_case(char **cursor, size_t *n, char *rest, size_t restsz)
{
	char *line;

	while ((line = strsep(cursor, "\n"))) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *q1 = strchr(line, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
		if (!q2)
			fail_msg("bad data line: %s", line);
		*n = (size_t)(q2 - q1 - 1);
		char *copy = malloc(*n ? *n : 1);
		assert_non_null(copy);
		memcpy(copy, q1 + 1, *n);
		snprintf(rest, restsz, "%s", q2 + 1);
		return copy;
	}
	return NULL;
}

static void test_param_cases(void **state)
{
	size_t len, n;
	char *text = (char *)tu_read_data("attr/params.txt", &len), *cur = text, rest[200];
	char *in;
	int cases = 0;
	(void)state;

	while ((in = next_case(&cur, &n, rest, sizeof(rest)))) {
		struct lwm2m_attrs a = { 0 };
		char exp[200] = "", exp2[100] = "", got[200];
		if (sscanf(rest, "%99s %99s", exp, exp2) == 2)
			strcat(strcat(exp, " "), exp2);
		int r = lwm2m_attrs_parse_param(in, n, &a);
		if (r < 0) {
			assert_int_equal(r, -EINVAL);
			/* nothing recorded on error */
			assert_int_equal(a.set, 0);
			assert_int_equal(a.unset, 0);
			snprintf(got, sizeof(got), "EINVAL");
		} else {
			/* exactly one attribute recorded */
			assert_int_equal(__builtin_popcount(a.set | a.unset), 1);
			describe(&a, got, sizeof(got));
		}
		if (strcmp(got, exp) != 0)
			fail_msg("\"%.*s\": got %s, expected %s", (int)n, in, got, exp);
		free(in);
		cases++;
	}
	assert_true(cases >= 60);
	free(text);
}

static void test_query_cases(void **state)
{
	size_t len, n;
	char *text = (char *)tu_read_data("attr/query.txt", &len), *cur = text, rest[200];
	char *in;
	int cases = 0;
	(void)state;

	while ((in = next_case(&cur, &n, rest, sizeof(rest)))) {
		char ep[32], ev[32];
		struct lwm2m_attrs a = { 0 };
		assert_int_equal(sscanf(rest, "%31s %31s", ep, ev), 2);
		int r = lwm2m_attrs_parse_query(in, n, &a);
		if (strcmp(ep, "ok") == 0) {
			if (r != 0)
				fail_msg("\"%.*s\": parse gave %d", (int)n, in, r);
			int v = lwm2m_attrs_validate(&a);
			if (v != (strcmp(ev, "ok") == 0 ? 0 : -EINVAL))
				fail_msg("\"%.*s\": validate gave %d, expected %s", (int)n, in, v, ev);
		} else {
			if (r != -EINVAL)
				fail_msg("\"%.*s\": parse gave %d, expected -EINVAL", (int)n, in, r);
			/* a failed query leaves the set as it was */
			assert_int_equal(a.set, 0);
			assert_int_equal(a.unset, 0);
		}
		free(in);
		cases++;
	}
	assert_true(cases >= 25);
	free(text);
}

static void test_query_values(void **state)
{
	struct lwm2m_attrs a = { 0 };
	const char q[] = "pmin=10&pmax=60&gt=25.5&lt=-4&st=0.5&epmin=1&epmax=30&junk";
	(void)state;

	/* n excludes "&junk": only n bytes are read */
	assert_int_equal(lwm2m_attrs_parse_query(q, sizeof(q) - 1 - 5, &a), 0);
	assert_int_equal(a.set, LWM2M_ATTR_PMIN | LWM2M_ATTR_PMAX | LWM2M_ATTR_GT | LWM2M_ATTR_LT |
					LWM2M_ATTR_ST | LWM2M_ATTR_EPMIN | LWM2M_ATTR_EPMAX);
	assert_int_equal(a.unset, 0);
	assert_int_equal(a.pmin, 10);
	assert_int_equal(a.pmax, 60);
	assert_true(a.gt == 25.5);
	assert_true(a.lt == -4.0);
	assert_true(a.st == 0.5);
	assert_int_equal(a.epmin, 1);
	assert_int_equal(a.epmax, 30);
	assert_int_equal(lwm2m_attrs_validate(&a), 0);

	/* a bad parameter later in the query leaves an already-filled set alone */
	struct lwm2m_attrs b = a;
	assert_int_equal(lwm2m_attrs_parse_query("pmin=1", 6, &b), -EINVAL); /* pmin already given */
	assert_memory_equal(&a, &b, sizeof(a));

	assert_int_equal(lwm2m_attrs_parse_param(NULL, 1, &b), -EINVAL);
	assert_int_equal(lwm2m_attrs_parse_query(NULL, 1, &b), -EINVAL);
	assert_int_equal(lwm2m_attrs_parse_query(NULL, 0, &b), 0);
	assert_int_equal(lwm2m_attrs_validate(NULL), -EINVAL);
}

static void test_locale_independent(void **state)
{
	struct lwm2m_attrs a = { 0 };
	(void)state;

	/* With a ','-decimal locale (if installed) "2.5" must still be 2.5. */
	const char *old = setlocale(LC_NUMERIC, NULL);
	char *saved = old ? strdup(old) : NULL;
	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8"))
		setlocale(LC_NUMERIC, "fr_FR.UTF-8");
	assert_int_equal(lwm2m_attrs_parse_param("gt=2.5", 6, &a), 0);
	assert_true(a.gt == 2.5);
	assert_int_equal(lwm2m_attrs_parse_param("lt=2,5", 6, &a), -EINVAL);
	setlocale(LC_NUMERIC, saved ? saved : "C");
	free(saved);
}

static void test_validate_direct(void **state)
{
	struct lwm2m_attrs a = { 0 };
	(void)state;

	/* Values of attributes that are not set do not matter. */
	a.pmin = 100;
	a.pmax = 1;
	a.lt = 10;
	a.gt = 1;
	assert_int_equal(lwm2m_attrs_validate(&a), 0);

	a = (struct lwm2m_attrs){ .set = LWM2M_ATTR_ST, .st = -1 };
	assert_int_equal(lwm2m_attrs_validate(&a), -EINVAL);
	a = (struct lwm2m_attrs){ .set = LWM2M_ATTR_GT, .gt = NAN };
	assert_int_equal(lwm2m_attrs_validate(&a), -EINVAL);
	a = (struct lwm2m_attrs){ .set = LWM2M_ATTR_LT, .lt = INFINITY };
	assert_int_equal(lwm2m_attrs_validate(&a), -EINVAL);
	a = (struct lwm2m_attrs){
		.set = LWM2M_ATTR_LT | LWM2M_ATTR_GT | LWM2M_ATTR_ST, .lt = 0, .gt = 1, .st = 0
	};
	assert_int_equal(lwm2m_attrs_validate(&a), 0);
	a.st = 0.5; /* 0 + 2 * 0.5 == 1: not below gt */
	assert_int_equal(lwm2m_attrs_validate(&a), -EINVAL);
	a.st = 0.49;
	assert_int_equal(lwm2m_attrs_validate(&a), 0);
}

static void test_apply(void **state)
{
	struct lwm2m_attrs stored = { 0 }, req = { 0 };
	(void)state;

	assert_int_equal(lwm2m_attrs_parse_query("pmin=10&pmax=60&gt=30", 21, &req), 0);
	lwm2m_attrs_apply(&stored, &req);
	assert_int_equal(stored.set, LWM2M_ATTR_PMIN | LWM2M_ATTR_PMAX | LWM2M_ATTR_GT);
	assert_int_equal(stored.unset, 0);
	assert_int_equal(stored.pmin, 10);
	assert_int_equal(stored.pmax, 60);
	assert_true(stored.gt == 30);

	/* overwrite one, remove one, add one; others stay */
	req = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("pmin=5&pmax&lt=1.5", 18, &req), 0);
	struct lwm2m_attrs merged = stored;
	lwm2m_attrs_apply(&merged, &req);
	assert_int_equal(lwm2m_attrs_validate(&merged), 0);
	assert_int_equal(merged.set, LWM2M_ATTR_PMIN | LWM2M_ATTR_GT | LWM2M_ATTR_LT);
	assert_int_equal(merged.pmin, 5);
	assert_int_equal(merged.pmax, 0);
	assert_true(merged.gt == 30);
	assert_true(merged.lt == 1.5);
	assert_int_equal(merged.unset, 0);

	/* removing something that is not set is harmless */
	req = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("epmax&st", 8, &req), 0);
	lwm2m_attrs_apply(&merged, &req);
	assert_int_equal(merged.set, LWM2M_ATTR_PMIN | LWM2M_ATTR_GT | LWM2M_ATTR_LT);

	/* the merged set is what validation is about: lt=40 alone is fine,
	 * but not with the stored gt=30 */
	req = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("lt=40", 5, &req), 0);
	assert_int_equal(lwm2m_attrs_validate(&req), 0);
	struct lwm2m_attrs m2 = merged;
	lwm2m_attrs_apply(&m2, &req);
	assert_int_equal(lwm2m_attrs_validate(&m2), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_param_cases),     cmocka_unit_test(test_query_cases),
		cmocka_unit_test(test_query_values),    cmocka_unit_test(test_locale_independent),
		cmocka_unit_test(test_validate_direct), cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
