/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value templates (mappings/template.c) against the golden vectors of
 * tests/data/mappings/template/: each line's template rendered on its
 * payload through the MQTT bridge's value_json (mqtt_template_json, json-c),
 * and the compile-time refusals with their reasons. The same vectors are
 * rendered by Jinja2 in template_jinja.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridges/mqtt/mqtt_internal.h"
#include "tests/unit/testutil.h"

static const struct {
	const char *name;
	int err;
} errs[] = { { "ENOENT", -ENOENT }, { "EINVAL", -EINVAL }, { "ERANGE", -ERANGE }, { "EBADMSG", -EBADMSG } };

/* The next line of text that is neither empty nor a comment, split at tabs. */
static size_t fields(char **cursor, char **f, size_t max, unsigned *line)
{
	for (;;) {
		char *l = *cursor, *nl;
		size_t n = 0;
		if (!l || !*l)
			return 0;
		nl = strchr(l, '\n');
		*cursor = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		(*line)++;
		if (*l == '#' || *l == '\0')
			continue;
		while (n < max) {
			char *t = strchr(l, '\t');
			f[n++] = l;
			if (!t)
				break;
			*t = '\0';
			l = t + 1;
		}
		return n;
	}
}

static void test_render_vectors(void **state)
{
	size_t len;
	char *text = (char *)tu_read_data("mappings/template/render.txt", &len), *cur = text, *f[4];
	unsigned line = 0, cases = 0;
	size_t n;

	(void)state;
	while ((n = fields(&cur, f, 4, &line)) > 0) {
		struct mapping_template *t = NULL;
		struct mqtt_payload pl;
		char why[200], out[256];
		int r, want = 0;

		if (n < 3)
			fail_msg("render.txt:%u: expected TEMPLATE<TAB>PAYLOAD<TAB>EXPECTED", line);
		r = mapping_template_compile(f[0], &t, why, sizeof(why));
		if (r < 0)
			fail_msg("render.txt:%u: '%s' does not compile: %s", line, f[0], why);
		mqtt_payload_init(&pl, f[1], strlen(f[1]));
		r = mapping_template_render(t, f[1], strlen(f[1]), mqtt_template_json, &pl, out, sizeof(out));
		if (f[2][0] == '!') {
			for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
				if (strcmp(f[2] + 1, errs[i].name) == 0)
					want = errs[i].err;
			if (!want)
				fail_msg("render.txt:%u: unknown error %s", line, f[2]);
			if (r != want)
				fail_msg("render.txt:%u: %s on %s: %d ('%s'), expected %s", line, f[0], f[1],
					 r, r >= 0 ? out : "", f[2]);
		} else if (r < 0 || strcmp(out, f[2] + 1) != 0)
			fail_msg("render.txt:%u: %s on %s: %d '%s', expected '%s'", line, f[0], f[1], r,
				 r >= 0 ? out : "", f[2] + 1);
		mqtt_payload_clear(&pl);
		mapping_template_free(t);
		cases++;
	}
	assert_true(cases >= 60);
	free(text);
}

static void test_compile_refusals(void **state)
{
	size_t len;
	char *text = (char *)tu_read_data("mappings/template/compile.txt", &len), *cur = text, *f[2];
	unsigned line = 0, cases = 0;
	size_t n;

	(void)state;
	while ((n = fields(&cur, f, 2, &line)) > 0) {
		struct mapping_template *t = NULL;
		char why[300];
		int r;

		if (n == 1 && f[0][0] != '\0') /* a line starting with a tab: the empty template */
			fail_msg("compile.txt:%u: expected TEMPLATE<TAB>REASON", line);
		r = mapping_template_compile(n == 2 ? f[0] : "", &t, why, sizeof(why));
		if (r != -EINVAL || t)
			fail_msg("compile.txt:%u: '%s' compiled (%d)", line, f[0], r);
		if (!strstr(why, f[n - 1]))
			fail_msg("compile.txt:%u: '%s': reason '%s' does not say '%s'", line, f[0], why,
				 f[n - 1]);
		cases++;
	}
	assert_true(cases >= 20);
	free(text);
}

static void test_api(void **state)
{
	struct mapping_template *t;
	struct mapping_tval v;
	char why[200], buf[8];

	(void)state;
	assert_int_equal(mapping_template_compile("{{ value | float * 2 }}", &t, why, sizeof(why)), 0);
	assert_false(mapping_template_uses_json(t));
	assert_string_equal(mapping_template_text(t), "{{ value | float * 2 }}");
	assert_int_equal(mapping_template_eval(t, "1.25", 4, NULL, NULL, &v), 0);
	assert_int_equal(v.kind, MAPPING_TVAL_FLOAT);
	assert_true(v.f == 2.5);
	/* value_json without a resolver: not JSON. */
	mapping_template_free(t);
	assert_int_equal(mapping_template_compile("{{ value_json.a }}", &t, why, sizeof(why)), 0);
	assert_true(mapping_template_uses_json(t));
	assert_int_equal(mapping_template_eval(t, "{}", 2, NULL, NULL, &v), -EBADMSG);
	mapping_template_free(t);
	/* Too small a buffer. */
	assert_int_equal(mapping_template_compile("{{ value }}", &t, why, sizeof(why)), 0);
	assert_int_equal(mapping_template_render(t, "123456789", 9, NULL, NULL, buf, sizeof(buf)), -ENOBUFS);
	assert_null(mapping_template_free(t));
	assert_null(mapping_template_free(NULL));
	/* Python's repr of floats. */
	static const struct {
		double d;
		const char *s;
	} reprs[] = { { 0.0, "0.0" },
		      { -0.0, "-0.0" },
		      { 1e16, "1e+16" },
		      { 1e15, "1000000000000000.0" },
		      { 1e-4, "0.0001" },
		      { 1e-5, "1e-05" },
		      { 0.1 + 0.2, "0.30000000000000004" },
		      { 1.5e300, "1.5e+300" },
		      { 123.456, "123.456" } };
	for (size_t i = 0; i < sizeof(reprs) / sizeof(reprs[0]); i++) {
		char r[40];
		mapping_py_float_repr(reprs[i].d, r, sizeof(r));
		assert_string_equal(r, reprs[i].s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_vectors),
		cmocka_unit_test(test_compile_refusals),
		cmocka_unit_test(test_api),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
