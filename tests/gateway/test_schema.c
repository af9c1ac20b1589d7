/* SPDX-License-Identifier: Apache-2.0 */
/* common/schema: every key kind, defaults, and the exact error messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/schema.h"
#include "gwtest.h"

struct inner {
	int64_t port;
	bool on;
};

struct item {
	const char *name;
	uint64_t count;
};

struct cfg {
	const char *s;
	int64_t i;
	uint64_t u;
	bool b;
	uint64_t d;
	int e;
	struct inner in;
	struct schema_list items; /* struct item */
	struct schema_list words; /* const char * */
	const struct ynode *any;
	int custom;
	const char *checked;
};

static const struct schema_enum_word colors[] = {
	{ "red", 1 }, { "green", 2 }, { "blue", 3 }, { "grey", 4 }, { "gray", 4, .alias = true }, { NULL },
};

static const struct schema_key inner_keys[] = {
	{ .name = "port",
	  .kind = SCHEMA_INT,
	  .required = true,
	  .offset = offsetof(struct inner, port),
	  .min = 1,
	  .max = 65535 },
	{ .name = "on", .kind = SCHEMA_BOOL, .offset = offsetof(struct inner, on), .def_bool = true },
	{ NULL },
};
static const struct schema_section inner_section = { "inner", sizeof(struct inner), inner_keys, NULL };

static const struct schema_key item_keys[] = {
	{ .name = "name", .kind = SCHEMA_STRING, .required = true, .offset = offsetof(struct item, name) },
	{ .name = "count",
	  .kind = SCHEMA_UINT,
	  .offset = offsetof(struct item, count),
	  .umin = 1,
	  .umax = 10,
	  .def_uint = 1 },
	{ NULL },
};

static int item_checks;

/* Cross-key rule: a name "none" must have count 1. */
static int check_item(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct item *it = obj;
	item_checks++;
	/* Runs even when keys failed: skip rules whose inputs are bad. */
	if (!schema_key_ok(ctx, "name") || !schema_key_ok(ctx, "count"))
		return 0;
	if (strcmp(it->name, "none") == 0 && it->count != 1)
		schema_error(ctx, map, "%s: 'none' needs count 1", ctx->path);
	return 0;
}
static const struct schema_section item_section = { "item", sizeof(struct item), item_keys, check_item };
static const struct schema_key item_elem = { .kind = SCHEMA_SECTION, .section = &item_section };
static const struct schema_key word_elem = { .kind = SCHEMA_STRING, .max_len = 5 };

static int parse_custom(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	(void)k;
	/* Custom parsers see the path of their key and the ctx userdata. */
	assert_string_equal(ctx->path, "custom");
	assert_string_equal((const char *)ctx->userdata, "ud");
	if (ynode_scalar_eq(n, "magic")) {
		*(int *)t = 42;
		return 0;
	}
	schema_error(ctx, n, "not magic");
	return -EINVAL;
}

static int check_upper(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	const char *s = *(const char **)t;
	(void)k;
	for (; *s; s++)
		if (*s < 'A' || *s > 'Z') {
			schema_error(ctx, n, "'%s' must be upper case", ctx->path);
			return -EINVAL;
		}
	return 0;
}

static const struct schema_key cfg_keys[] = {
	{ .name = "s",
	  .kind = SCHEMA_STRING,
	  .offset = offsetof(struct cfg, s),
	  .def_str = "dflt",
	  .max_len = 8 },
	{ .name = "i",
	  .kind = SCHEMA_INT,
	  .offset = offsetof(struct cfg, i),
	  .min = -10,
	  .max = 10,
	  .def_int = -3 },
	{ .name = "u", .kind = SCHEMA_UINT, .offset = offsetof(struct cfg, u), .def_uint = 7 },
	{ .name = "b", .kind = SCHEMA_BOOL, .offset = offsetof(struct cfg, b) },
	{ .name = "d",
	  .kind = SCHEMA_DURATION,
	  .offset = offsetof(struct cfg, d),
	  .umin = USEC_PER_MSEC,
	  .umax = USEC_PER_DAY,
	  .step = USEC_PER_MSEC,
	  .def_uint = 2 * USEC_PER_SEC },
	{ .name = "e",
	  .kind = SCHEMA_ENUM,
	  .offset = offsetof(struct cfg, e),
	  .words = colors,
	  .def_int = 2 },
	{ .name = "in",
	  .kind = SCHEMA_SECTION,
	  .offset = offsetof(struct cfg, in),
	  .section = &inner_section },
	{ .name = "items",
	  .kind = SCHEMA_LIST,
	  .offset = offsetof(struct cfg, items),
	  .elem = &item_elem,
	  .max_items = 3 },
	{ .name = "words",
	  .kind = SCHEMA_LIST,
	  .offset = offsetof(struct cfg, words),
	  .elem = &word_elem,
	  .min_items = 1 },
	{ .name = "any", .kind = SCHEMA_NODE, .offset = offsetof(struct cfg, any), .node_kind = YNODE_MAP },
	{ .name = "custom",
	  .kind = SCHEMA_CUSTOM,
	  .offset = offsetof(struct cfg, custom),
	  .parse = parse_custom,
	  .size = sizeof(int) },
	{ .name = "checked",
	  .kind = SCHEMA_STRING,
	  .offset = offsetof(struct cfg, checked),
	  .parse = check_upper },
	{ NULL },
};
static const struct schema_section cfg_section = { "test", sizeof(struct cfg), cfg_keys, NULL };

struct run {
	struct ydoc *doc;
	struct cfg cfg;
	struct gwt_diag d;
	int r;
};

static void run_parse(struct run *run, const char *text)
{
	memset(run, 0, sizeof(*run));
	gwt_diag_init(&run->d);
	assert_int_equal(ydoc_load_buffer("s.yaml", text, strlen(text), NULL, &run->d.diag, &run->doc), 0);
	run->r = schema_parse(&cfg_section, ydoc_root(run->doc), &run->cfg, &run->d.diag, (void *)"ud");
	for (size_t i = 0; i < run->d.n; i++)
		print_message("# %s\n", run->d.msg[i]);
}

static void run_done(struct run *run)
{
	schema_free(&cfg_section, &run->cfg);
	ydoc_free(run->doc);
	gwt_diag_clear(&run->d);
}

/* Parse text and expect exactly these messages (and -EINVAL when any). */
static void expect(const char *text, const char *const *msgs, size_t n)
{
	struct run run;

	run_parse(&run, text);
	assert_int_equal(run.d.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(run.d.msg[i], msgs[i]);
	assert_int_equal(run.r, n ? -EINVAL : 0);
	run_done(&run);
}

static void test_all_kinds(void **state)
{
	(void)state;
	struct run run;

	item_checks = 0;
	run_parse(&run, "s: hello\n"
			"i: -10\n"
			"u: 18446744073709551615\n"
			"b: yes\n"
			"d: 1h30m500ms\n"
			"e: gray\n"
			"in: {port: 5683}\n"
			"items:\n"
			"  - name: a\n"
			"    count: 10\n"
			"  - {name: b}\n"
			"words: [x, yy]\n"
			"any: {whatever: [1, 2]}\n"
			"custom: magic\n"
			"checked: ABC\n");
	assert_int_equal(run.r, 0);
	assert_int_equal(run.d.n, 0);
	assert_string_equal(run.cfg.s, "hello");
	assert_int_equal(run.cfg.i, -10);
	assert_true(run.cfg.u == UINT64_MAX);
	assert_true(run.cfg.b);
	assert_true(run.cfg.d == 90 * USEC_PER_MIN + 500 * USEC_PER_MSEC);
	assert_int_equal(run.cfg.e, 4);
	assert_int_equal(run.cfg.in.port, 5683);
	assert_true(run.cfg.in.on); /* default inside a section */
	assert_int_equal(run.cfg.items.n, 2);
	const struct item *it = run.cfg.items.items;
	assert_string_equal(it[0].name, "a");
	assert_int_equal(it[0].count, 10);
	assert_string_equal(it[1].name, "b");
	assert_int_equal(it[1].count, 1); /* default inside a list element */
	assert_int_equal(item_checks, 2);
	assert_int_equal(run.cfg.words.n, 2);
	assert_string_equal(((const char **)run.cfg.words.items)[1], "yy");
	assert_non_null(run.cfg.any);
	assert_int_equal(run.cfg.any->kind, YNODE_MAP);
	assert_int_equal(run.cfg.custom, 42);
	assert_string_equal(run.cfg.checked, "ABC");
	run_done(&run);
}

static void test_defaults(void **state)
{
	(void)state;
	struct run run;

	run_parse(&run, "words: [a]\ns: ~\n"); /* null on an optional key: the default */
	assert_int_equal(run.r, 0);
	assert_string_equal(run.cfg.s, "dflt");
	assert_int_equal(run.cfg.i, -3);
	assert_int_equal(run.cfg.u, 7);
	assert_false(run.cfg.b);
	assert_true(run.cfg.d == 2 * USEC_PER_SEC);
	assert_int_equal(run.cfg.e, 2);
	assert_int_equal(run.cfg.in.port, 0); /* absent section: defaults, required keys not asked */
	assert_true(run.cfg.in.on);
	assert_int_equal(run.cfg.items.n, 0);
	assert_null(run.cfg.items.items);
	assert_null(run.cfg.any);
	run_done(&run);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	static const char *const m1[] = {
		"s.yaml:2:1: unknown key 'ittems' at the top level, did you mean 'items'? (accepted keys: s, "
		"i, u, b, d, "
		"e, in, items, words, any, custom, checked)",
		"s.yaml:3:6: unknown key 'prot' in 'in', did you mean 'port'? (accepted keys: port, on)",
		"s.yaml:4:1: unknown key 'zzzzzz' at the top level (accepted keys: s, i, u, b, d, e, in, "
		"items, words, "
		"any, custom, checked)",
	};
	expect("words: [a]\nittems: []\nin: {prot: 1, port: 2}\nzzzzzz: 1\n", m1, 3);

	/* Case differences are typos too; and the key the hint names is not
	 * reported missing on top of it. */
	static const char *const m2[] = {
		"s.yaml:3:5: unknown key 'PORT' in 'in', did you mean 'port'? (accepted keys: port, on)",
	};
	expect("words: [a]\nin:\n    PORT: 1\n", m2, 1);
	static const char *const m3[] = {
		"s.yaml:3:5: unknown key 'on_off' in 'in' (accepted keys: port, on)",
		"s.yaml:3:5: missing required key 'port' in 'in'",
	};
	expect("words: [a]\nin:\n    on_off: 1\n", m3, 2);
}

static void test_enum(void **state)
{
	(void)state;
	static const char *const m[] = {
		"s.yaml:1:4: invalid value 'gren' for 'e', did you mean 'green'? (expected one of: red, "
		"green, blue, "
		"grey)",
	};
	expect("e: gren\nwords: [a]\n", m, 1);
	static const char *const m2[] = {
		"s.yaml:1:4: invalid value 'purple' for 'e' (expected one of: red, green, blue, grey)",
	};
	expect("e: purple\nwords: [a]\n", m2, 1);
	static const char *const m3[] = {
		"s.yaml:1:4: 'e' must be one of a set of words, got a sequence",
	};
	expect("e: [red]\nwords: [a]\n", m3, 1);
}

static void test_numbers(void **state)
{
	(void)state;
	static const char *const m[] = {
		"s.yaml:1:4: value 11 for 'i' is out of range (-10..10)",
		"s.yaml:2:4: invalid unsigned integer '-1' for 'u'",
		"s.yaml:3:26: value 0 for 'items[0].count' is out of range (1..10)",
		"s.yaml:4:12: invalid integer '0x10' for 'in.port'",
		"s.yaml:5:4: invalid boolean 'maybe' for 'b' (expected true or false)",
	};
	expect("i: 11\nu: -1\nitems: [{name: a, count: 0}]\nin: {port: 0x10}\nb: maybe\nwords: [a]\n", m, 5);

	static const char *const m2[] = {
		"s.yaml:1:4: value 18446744073709551616 for 'u' is out of range (0..18446744073709551615)",
		"s.yaml:2:4: invalid integer '+5' for 'i'",
		"s.yaml:3:12: invalid integer ' 5' for 'in.port'",
		"s.yaml:4:26: value for 'items[0].count' contains a NUL byte",
	};
	expect("u: 18446744073709551616\ni: '+5'\nin: {port: ' 5'}\nitems: [{name: a, count: "
	       "\"1\\0\"}]\nwords: [a]\n",
	       m2, 4);
}

static void test_strict_parsers(void **state)
{
	(void)state;
	int64_t i;
	uint64_t u;
	bool b;

	assert_int_equal(schema_parse_int("-9223372036854775808", &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(schema_parse_int("9223372036854775807", &i), 0);
	assert_true(i == INT64_MAX);
	assert_int_equal(schema_parse_int("9223372036854775808", &i), -ERANGE);
	assert_int_equal(schema_parse_int("+5", &i), -EINVAL);
	assert_int_equal(schema_parse_int(" 5", &i), -EINVAL);
	assert_int_equal(schema_parse_int("5 ", &i), -EINVAL);
	assert_int_equal(schema_parse_int("-", &i), -EINVAL);
	assert_int_equal(schema_parse_int("", &i), -EINVAL);
	assert_int_equal(schema_parse_int("1e3", &i), -EINVAL);
	assert_int_equal(schema_parse_uint("18446744073709551615", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(schema_parse_uint("18446744073709551616", &u), -ERANGE);
	assert_int_equal(schema_parse_uint("-1", &u), -EINVAL);
	assert_int_equal(schema_parse_uint("-0", &u), -EINVAL);
	assert_int_equal(schema_parse_bool("On", &b), 0);
	assert_true(b);
	assert_int_equal(schema_parse_bool("no", &b), 0);
	assert_false(b);
	assert_int_equal(schema_parse_bool("1", &b), -EINVAL);
}

static void test_durations(void **state)
{
	(void)state;
	uint64_t d;
	char buf[64];

	assert_int_equal(schema_parse_duration("10s", &d), 0);
	assert_true(d == 10 * USEC_PER_SEC);
	assert_int_equal(schema_parse_duration("500ms", &d), 0);
	assert_true(d == 500 * USEC_PER_MSEC);
	assert_int_equal(schema_parse_duration("2m", &d), 0);
	assert_true(d == 2 * USEC_PER_MIN);
	assert_int_equal(schema_parse_duration("2min", &d), 0);
	assert_true(d == 2 * USEC_PER_MIN);
	assert_int_equal(schema_parse_duration("1d2h3m4s5ms6us", &d), 0);
	assert_true(d == USEC_PER_DAY + 2 * USEC_PER_HOUR + 3 * USEC_PER_MIN + 4 * USEC_PER_SEC +
				 5 * USEC_PER_MSEC + 6);
	assert_int_equal(schema_parse_duration("0", &d), 0);
	assert_true(d == 0);
	assert_int_equal(schema_parse_duration("10", &d), -EINVAL);
	assert_int_equal(schema_parse_duration("10x", &d), -EINVAL);
	assert_int_equal(schema_parse_duration("s", &d), -EINVAL);
	assert_int_equal(schema_parse_duration("1.5s", &d), -EINVAL);
	assert_int_equal(schema_parse_duration("-1s", &d), -EINVAL);
	assert_int_equal(schema_parse_duration("10 s", &d), -EINVAL);
	assert_int_equal(schema_parse_duration("", &d), -EINVAL);
	assert_int_equal(schema_parse_duration("300000000d", &d), -ERANGE);
	assert_int_equal(schema_parse_duration("99999999999999999999us", &d), -ERANGE);

	schema_format_duration(90 * USEC_PER_MIN + 500 * USEC_PER_MSEC, buf, sizeof(buf));
	assert_string_equal(buf, "1h30m500ms");
	schema_format_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	schema_format_duration(UINT64_MAX, buf, sizeof(buf));
	assert_int_equal(schema_parse_duration(buf, &d), 0);
	assert_true(d == UINT64_MAX);

	static const char *const m1[] = {
		"s.yaml:1:4: invalid duration '10' for 'd' (expected a number with a unit: us, ms, s, m, h "
		"or d, such "
		"as 10s, 500ms or 2m)",
	};
	expect("d: 10\nwords: [a]\n", m1, 1);
	static const char *const m2[] = {
		"s.yaml:1:4: duration '2d' for 'd' is out of range (1ms..1d)",
	};
	expect("d: 2d\nwords: [a]\n", m2, 1);
	static const char *const m3[] = {
		"s.yaml:1:4: duration '1500us' for 'd' must be a whole multiple of 1ms",
	};
	expect("d: 1500us\nwords: [a]\n", m3, 1);
	static const char *const m4[] = {
		"s.yaml:1:4: duration '99999999999999999999s' for 'd' is out of range (1ms..1d)",
	};
	expect("d: 99999999999999999999s\nwords: [a]\n", m4, 1);
}

static void test_required_and_kinds(void **state)
{
	(void)state;
	static const char *const m[] = {
		"s.yaml:1:5: 'in' must be a mapping, got a sequence",
		"s.yaml:2:8: 'items' must be a sequence, got a mapping",
		"s.yaml:3:4: 's' must be a string, got a mapping",
		"s.yaml:4:6: 'any' must be a mapping, got a sequence",
		"s.yaml:5:12: 'words[1]' is longer than 5 bytes",
		"s.yaml:6:10: 'checked' must be upper case",
	};
	expect("in: [1]\nitems: {a: 1}\ns: {x: 1}\nany: []\nwords: [a, toolong]\nchecked: abc\n", m, 6);

	static const char *const m2[] = {
		"s.yaml:1:12: 'in.port' must not be empty",
		"s.yaml:2:8: 'words' needs at least 1 entry, got 0",
	};
	expect("in: {port: }\nwords: []\n", m2, 2);

	static const char *const m3[] = {
		"s.yaml:1:8: 'items' has 4 entries, at most 3 are allowed",
		"s.yaml:2:5: missing required key 'port' in 'in'",
	};
	expect("items: [{name: a}, {name: b}, {name: c}, {name: d}]\nin: {on: true}\nwords: [a]\n", m3, 2);

	static const char *const m4[] = {
		"s.yaml:1:1: the top level must be a mapping, got a sequence",
	};
	expect("- 1\n", m4, 1);
}

static void test_every_error_reported(void **state)
{
	(void)state;
	/* Errors in several places and levels all come out, in document
	 * order; a list element with an error does not hide the next one;
	 * the cross-key check runs on every element and skips the rules
	 * whose keys did not parse. */
	static const char *const m[] = {
		"s.yaml:1:4: value 99 for 'i' is out of range (-10..10)",
		"s.yaml:3:22: value 11 for 'items[0].count' is out of range (1..10)",
		"s.yaml:4:5: items[1]: 'none' needs count 1",
		"s.yaml:5:5: missing required key 'name' in 'items[2]'",
		"s.yaml:6:9: not magic",
		"s.yaml:7:4: invalid value 'pink' for 'e' (expected one of: red, green, blue, grey)",
	};
	item_checks = 0;
	expect("i: 99\nitems:\n  - {name: a, count: 11}\n  - {name: none, count: 2}\n  - {count: 3}\ncustom: "
	       "plain\ne: pink\nwords: [a]\n",
	       m, 6);
	assert_int_equal(item_checks, 3);
}

static void test_edit_distance(void **state)
{
	(void)state;
	static const char *const cands[] = { "name", "state_dir", "objects_dir", NULL };
	static const char *const levels[] = { "err", "warning", "notice", "info", "debug", NULL };

	assert_int_equal(schema_edit_distance("", ""), 0);
	assert_int_equal(schema_edit_distance("abc", ""), 3);
	assert_int_equal(schema_edit_distance("nmae", "name"), 1); /* transposition */
	assert_int_equal(schema_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(schema_edit_distance("NAME", "name"), 0);
	assert_string_equal(schema_suggest("nmae", cands), "name");
	assert_string_equal(schema_suggest("statedir", cands), "state_dir");
	assert_string_equal(schema_suggest("object_dir", cands), "objects_dir");
	assert_null(schema_suggest("port", cands));
	assert_null(schema_suggest("", cands));
	assert_string_equal(schema_suggest("error", levels), "err");
	assert_string_equal(schema_suggest("warn", levels), "warning");
	assert_string_equal(schema_suggest("debgu", levels), "debug");
	assert_null(schema_suggest("verbose", levels));
}

/* Keys marked secret are told to the parse's on_secret with their dotted
 * path, present and non-null only, whether their value parses or not. */
struct secret_seen {
	size_t n;
	char what[4][128];
};

static void on_secret(void *ud, const struct ynode *value, const char *key, enum schema_secret kind)
{
	struct secret_seen *s = ud;

	assert_true(s->n < 4);
	snprintf(s->what[s->n++], sizeof(s->what[0]), "%s=%s %u:%u %s", key, value->scalar.str, value->line,
		 value->col, kind == SCHEMA_SECRET_FILE ? "file" : "value");
}

struct sec_item {
	const char *user, *password, *key;
};
struct sec_cfg {
	struct schema_list items;
	const char *token;
};

static const struct schema_key sec_item_keys[] = {
	{ .name = "user", .kind = SCHEMA_STRING, .offset = offsetof(struct sec_item, user) },
	{ .name = "password",
	  .kind = SCHEMA_STRING,
	  .offset = offsetof(struct sec_item, password),
	  .max_len = 4,
	  .secret = SCHEMA_SECRET },
	{ .name = "key",
	  .kind = SCHEMA_STRING,
	  .offset = offsetof(struct sec_item, key),
	  .secret = SCHEMA_SECRET_FILE },
	{ NULL },
};
static const struct schema_section sec_item_section = { "item", sizeof(struct sec_item), sec_item_keys,
							NULL };
static const struct schema_key sec_item_elem = { .kind = SCHEMA_SECTION, .section = &sec_item_section };
static const struct schema_key sec_keys[] = {
	{ .name = "items",
	  .kind = SCHEMA_LIST,
	  .offset = offsetof(struct sec_cfg, items),
	  .elem = &sec_item_elem },
	{ .name = "token",
	  .kind = SCHEMA_STRING,
	  .offset = offsetof(struct sec_cfg, token),
	  .secret = SCHEMA_SECRET },
	{ NULL },
};
static const struct schema_section sec_section = { "sec", sizeof(struct sec_cfg), sec_keys, NULL };

static void test_secrets(void **state)
{
	static const char text[] = "items:\n"
				   "  - {user: a, password: toolong, key: /k.pem}\n"
				   "  - {user: b, password: ~, key: }\n"
				   "token: t0k\n";
	struct secret_seen seen = { 0 };
	struct sec_cfg cfg = { 0 };
	struct ydoc *doc = NULL;
	struct gwt_diag d;

	(void)state;
	gwt_diag_init(&d);
	assert_int_equal(ydoc_load_buffer("s.yaml", text, strlen(text), NULL, &d.diag, &doc), 0);
	assert_int_equal(
		schema_parse_secrets(&sec_section, ydoc_root(doc), &cfg, &d.diag, NULL, on_secret, &seen),
		-EINVAL); /* the password is too long: still a secret */
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.what[0], "items[0].password=toolong 2:25 value");
	assert_string_equal(seen.what[1], "items[0].key=/k.pem 2:39 file");
	assert_string_equal(seen.what[2], "token=t0k 4:8 value");
	schema_free(&sec_section, &cfg);
	/* Without a callback (schema_parse) nothing is told. */
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(schema_parse(&sec_section, ydoc_root(doc), &cfg, NULL, NULL), -EINVAL);
	schema_free(&sec_section, &cfg);
	ydoc_free(doc);
	gwt_diag_clear(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_kinds),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_strict_parsers),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_required_and_kinds),
		cmocka_unit_test(test_every_error_reported),
		cmocka_unit_test(test_edit_distance),
		cmocka_unit_test(test_secrets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
