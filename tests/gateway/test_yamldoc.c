/* SPDX-License-Identifier: Apache-2.0 */
/* common/yamldoc: tree shape, positions, and every rejected construct. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/yamldoc.h"
#include "gwtest.h"

static struct ydoc *load_ok(const char *text)
{
	struct gwt_diag d;
	struct ydoc *doc = NULL;

	gwt_diag_init(&d);
	assert_int_equal(ydoc_load_buffer("t.yaml", text, strlen(text), NULL, &d.diag, &doc), 0);
	assert_int_equal(d.diag.errors, 0);
	assert_non_null(doc);
	gwt_diag_clear(&d);
	return doc;
}

static void test_positions(void **state)
{
	(void)state;
	struct ydoc *doc = load_ok("# comment\n"
				   "a: 1\n"
				   "b:\n"
				   "  c: 'two'\n"
				   "  d: [x, \"y\"]\n"
				   "e:\n"
				   "  - f: |\n"
				   "      text\n"
				   "  - ~\n");
	const struct ynode *root = ydoc_root(doc), *b, *d, *e, *f;

	assert_int_equal(root->kind, YNODE_MAP);
	assert_int_equal(root->map.n, 3);
	assert_int_equal(root->line, 2);
	assert_int_equal(root->col, 1);
	assert_string_equal(root->file, "t.yaml");

	/* key "a" at 2:1, its value at 2:4 */
	assert_true(ynode_scalar_eq(ynode_map_key(root, 0), "a"));
	assert_int_equal(ynode_map_key(root, 0)->line, 2);
	assert_int_equal(ynode_map_value(root, 0)->col, 4);
	assert_int_equal(ynode_map_value(root, 0)->style, YSCALAR_PLAIN);

	b = ynode_map_get(root, "b");
	assert_non_null(b);
	assert_int_equal(b->kind, YNODE_MAP);
	assert_int_equal(b->line, 4);
	assert_int_equal(b->col, 3);
	assert_true(ynode_scalar_eq(ynode_map_get(b, "c"), "two"));
	assert_int_equal(ynode_map_get(b, "c")->style, YSCALAR_QUOTED);
	assert_int_equal(ynode_map_get(b, "c")->line, 4);
	assert_int_equal(ynode_map_get(b, "c")->col, 6);

	d = ynode_map_get(b, "d");
	assert_int_equal(d->kind, YNODE_SEQ);
	assert_int_equal(d->seq.n, 2);
	assert_int_equal(d->line, 5);
	assert_int_equal(d->col, 6);
	assert_true(ynode_scalar_eq(&d->seq.items[1], "y"));
	assert_int_equal(d->seq.items[1].col, 10);

	e = ynode_map_get(root, "e");
	assert_int_equal(e->kind, YNODE_SEQ);
	assert_int_equal(e->seq.n, 2);
	f = ynode_map_get(&e->seq.items[0], "f");
	assert_int_equal(f->style, YSCALAR_BLOCK);
	assert_string_equal(f->scalar.str, "text\n");
	assert_true(ynode_is_null(&e->seq.items[1]));
	assert_int_equal(e->seq.items[1].line, 9);
	assert_int_equal(e->seq.items[1].col, 5);

	assert_null(ynode_map_get(root, "zzz"));
	assert_null(ynode_map_get(d, "x")); /* not a mapping */
	assert_true(ydoc_memory(doc) > 0);
	ydoc_free(doc);
}

static void test_null_and_describe(void **state)
{
	(void)state;
	struct ydoc *doc = load_ok("a: ~\nb: null\nc:\nd: 'null'\ne: NULL\nf: [1]\ng: {}\n");
	const struct ynode *r = ydoc_root(doc);

	assert_true(ynode_is_null(ynode_map_get(r, "a")));
	assert_true(ynode_is_null(ynode_map_get(r, "b")));
	assert_true(ynode_is_null(ynode_map_get(r, "c")));
	assert_false(ynode_is_null(ynode_map_get(r, "d"))); /* quoted: a string */
	assert_true(ynode_is_null(ynode_map_get(r, "e")));
	assert_string_equal(ynode_describe(ynode_map_get(r, "c")), "an empty value");
	assert_string_equal(ynode_describe(ynode_map_get(r, "d")), "a scalar");
	assert_string_equal(ynode_describe(ynode_map_get(r, "f")), "a sequence");
	assert_string_equal(ynode_describe(ynode_map_get(r, "g")), "a mapping");
	assert_int_equal(ynode_map_get(r, "g")->map.n, 0);
	ydoc_free(doc);
}

static void test_empty_document(void **state)
{
	(void)state;
	struct ydoc *doc = load_ok("# only a comment\n");
	const struct ynode *r = ydoc_root(doc);

	assert_int_equal(r->kind, YNODE_SCALAR);
	assert_true(ynode_is_null(r));
	assert_int_equal(r->line, 1);
	assert_int_equal(r->col, 1);
	ydoc_free(doc);

	doc = NULL;
	assert_int_equal(ydoc_load_buffer("e.yaml", NULL, 0, NULL, NULL, &doc), 0);
	assert_true(ynode_is_null(ydoc_root(doc)));
	ydoc_free(doc);
}

static void test_nul_in_scalar(void **state)
{
	(void)state;
	struct ydoc *doc = load_ok("k: \"a\\0b\"\n");
	const struct ynode *v = ynode_map_get(ydoc_root(doc), "k");

	assert_int_equal(v->scalar.len, 3);
	assert_memory_equal(v->scalar.str, "a\0b", 3);
	ydoc_free(doc);
}

/* Load text that must fail; check the return and the exact messages. */
static void expect_fail(const char *text, int ret, const char *const *msgs, size_t n)
{
	struct gwt_diag d;
	struct ydoc *doc = (struct ydoc *)1;

	gwt_diag_init(&d);
	assert_int_equal(ydoc_load_buffer("bad.yaml", text, strlen(text), NULL, &d.diag, &doc), ret);
	assert_null(doc);
	for (size_t i = 0; i < d.n; i++)
		print_message("# %s\n", d.msg[i]);
	assert_int_equal(d.n, n);
	assert_int_equal(d.diag.errors, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(d.msg[i], msgs[i]);
	gwt_diag_clear(&d);
}

static void test_anchors_aliases_tags(void **state)
{
	(void)state;
	/* All three kinds reported in one run, each at its own position. */
	static const char *const msgs[] = {
		"bad.yaml:1:4: YAML anchors are not supported (anchor '&x')",
		"bad.yaml:2:4: YAML aliases are not supported (alias '*x')",
		"bad.yaml:3:4: YAML tags are not supported (tag 'tag:yaml.org,2002:str')",
		"bad.yaml:4:4: YAML anchors are not supported (anchor '&m')",
	};
	expect_fail("a: &x 1\nb: *x\nc: !!str 3\nd: &m {e: 1}\n", -EBADMSG, msgs, 4);
}

static void test_alias_bomb(void **state)
{
	(void)state;
	/* The classic "billion laughs": rejected at the first anchor and
	 * alias, never expanded. */
	const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
	struct gwt_diag d;
	struct ydoc *doc = NULL;

	gwt_diag_init(&d);
	assert_int_equal(ydoc_load_buffer("bomb.yaml", bomb, strlen(bomb), NULL, &d.diag, &doc), -EBADMSG);
	assert_null(doc);
	assert_int_equal(d.diag.errors, 4 + 27);
	assert_string_equal(d.msg[0], "bomb.yaml:1:4: YAML anchors are not supported (anchor '&a')");
	assert_string_equal(d.msg[2], "bomb.yaml:2:8: YAML aliases are not supported (alias '*a')");
	gwt_diag_clear(&d);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		/* the inner mapping ends, and is checked, first */
		"bad.yaml:5:3: duplicate key 'x' (first defined at line 4, column 5)",
		"bad.yaml:3:1: duplicate key 'a' (first defined at line 1, column 1)",
	};
	expect_fail("a: 1\nb: 2\na: 3\nc: {x: 1,\n  x: 2}\n", -EBADMSG, msgs, 2);
}

static void test_duplicate_keys_big_map(void **state)
{
	(void)state;
	/* More than 16 keys: the sort-based check, same messages, in
	 * document order of the first definition. */
	char text[1024];
	size_t len = 0;
	for (int i = 0; i < 30; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "k%d: %d\n", i, i);
	len += (size_t)snprintf(text + len, sizeof(text) - len, "k7: again\nk3: again\nk7: thrice\n");
	static const char *const msgs[] = {
		"bad.yaml:32:1: duplicate key 'k3' (first defined at line 4, column 1)",
		"bad.yaml:31:1: duplicate key 'k7' (first defined at line 8, column 1)",
		"bad.yaml:33:1: duplicate key 'k7' (first defined at line 8, column 1)",
	};
	expect_fail(text, -EBADMSG, msgs, 3);
}

static void test_complex_key(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"bad.yaml:1:3: mapping keys must be scalars, got a sequence",
	};
	expect_fail("? [a, b]\n: 1\n", -EBADMSG, msgs, 1);
}

static void test_syntax_error(void **state)
{
	(void)state;
	static const char *const msgs1[] = {
		"bad.yaml:3:2: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
		"sequence at "
		"line 2, column 4)",
	};
	expect_fail("a: 1\nb: [1, 2\nc: 3\n", -EBADMSG, msgs1, 1);

	static const char *const msgs2[] = {
		"bad.yaml:2:5: YAML syntax error: mapping values are not allowed in this context",
	};
	expect_fail("a: 1\nb: c: d\n", -EBADMSG, msgs2, 1);

	static const char *const msgs3[] = {
		"bad.yaml:3:2: YAML syntax error: did not find expected key (while parsing a block mapping "
		"at line "
		"1, column 1)",
	};
	expect_fail("a:\n  b: 1\n c: 2\n", -EBADMSG, msgs3, 1);
}

#define READER_HINT                                                                                        \
	"; expected UTF-8 text (or UTF-16 with a byte order mark) of printable characters, tabs and line " \
	"breaks"

/* What libyaml's reader rejects is reported at its line and column (it
 * gives only a byte offset), counted like every other position: in
 * characters, after a byte order mark, CR LF / CR / LF / NEL line breaks. */
static void test_reader_errors(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		const char *msg;
	} cases[] = {
#define T(s, m) { s, sizeof(s) - 1, m }
		T("a: \xff\n",
		  "bad.yaml:1:4: YAML error: invalid leading UTF-8 octet (byte 0xFF)" READER_HINT),
		T("a: 1\r\nb: 2\r\nc: x\x01\n",
		  "bad.yaml:3:5: YAML error: control characters are not allowed (U+0001)" READER_HINT),
		T("a: 1\rb: \x1b[0m\n",
		  "bad.yaml:2:4: YAML error: control characters are not allowed (U+001B)" READER_HINT),
		T("a: 1\xc2\x85"
		  "b: \x02",
		  "bad.yaml:2:4: YAML error: control characters are not allowed (U+0002)" READER_HINT),
		T("a: 1\nb: x\x00y\n",
		  "bad.yaml:2:5: YAML error: control characters are not allowed (U+0000)" READER_HINT),
		/* the character whose second byte is wrong, not that byte */
		T("k: \xe2\x82x\n",
		  "bad.yaml:1:4: YAML error: invalid trailing UTF-8 octet (byte 0x78)" READER_HINT),
		T("k:\n  - \xc3\xa9t\xc3\xa9 \xe2\x82",
		  "bad.yaml:2:9: YAML error: incomplete UTF-8 octet sequence" READER_HINT),
		T("\xc3\xa9: \xc3\xbc\x7f",
		  "bad.yaml:1:5: YAML error: control characters are not allowed (U+007F)" READER_HINT),
		T("k: \xc0\xaf", "bad.yaml:1:4: YAML error: invalid length of a UTF-8 sequence" READER_HINT),
		T("k: \xed\xa0\x80",
		  "bad.yaml:1:4: YAML error: invalid Unicode character (U+D800)" READER_HINT),
		T("k: \xef\xbf\xbe",
		  "bad.yaml:1:4: YAML error: control characters are not allowed (U+FFFE)" READER_HINT),
		/* a UTF-8 byte order mark is not a column */
		T("\xef\xbb\xbf"
		  "a: 1\nb: \x7f",
		  "bad.yaml:2:4: YAML error: control characters are not allowed (U+007F)" READER_HINT),
		/* UTF-16 with its byte order mark, little and big endian */
		T("\xff\xfe"
		  "a\0:\0 \0001\0\n\0b\0:\0 \0\x07\0",
		  "bad.yaml:2:4: YAML error: control characters are not allowed (U+0007)" READER_HINT),
		T("\xfe\xff\0a\0:\0 \xdc\x00",
		  "bad.yaml:1:4: YAML error: unexpected low surrogate area (U+DC00)" READER_HINT),
		T("\xfe\xff\0a\0:\0 \0b\0",
		  "bad.yaml:1:5: YAML error: incomplete UTF-16 character" READER_HINT),
#undef T
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gwt_diag d;
		struct ydoc *doc = (struct ydoc *)1;

		gwt_diag_init(&d);
		assert_int_equal(
			ydoc_load_buffer("bad.yaml", cases[i].text, cases[i].len, NULL, &d.diag, &doc),
			-EBADMSG);
		assert_null(doc);
		for (size_t j = 0; j < d.n; j++)
			print_message("# %s\n", d.msg[j]);
		assert_int_equal(d.n, 1);
		assert_string_equal(d.msg[0], cases[i].msg);
		gwt_diag_clear(&d);
	}
}

static void test_two_documents(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"bad.yaml:2:1: only one YAML document per file is supported",
	};
	expect_fail("a: 1\n---\nb: 2\n", -EBADMSG, msgs, 1);
}

static void test_limits(void **state)
{
	(void)state;
	struct ydoc_limits lim = { .max_bytes = 16, .max_depth = 3, .max_nodes = 5 };
	struct gwt_diag d;
	struct ydoc *doc = NULL;

	gwt_diag_init(&d);
	assert_int_equal(ydoc_load_buffer("l.yaml", "a: 1\nb: 2\nc: 3\nd: 4\n", 20, &lim, &d.diag, &doc),
			 -EFBIG);
	assert_string_equal(d.msg[0], "l.yaml: file is larger than 16 bytes");
	gwt_diag_clear(&d);

	assert_int_equal(ydoc_load_buffer("l.yaml", "[[[[1]]]]", 9, &lim, &d.diag, &doc), -EBADMSG);
	assert_string_equal(d.msg[0], "l.yaml:1:4: nesting deeper than 3 levels");
	gwt_diag_clear(&d);

	assert_int_equal(ydoc_load_buffer("l.yaml", "[1, 2, 3, 4, 5]", 15, &lim, &d.diag, &doc), -EBADMSG);
	assert_string_equal(d.msg[0], "l.yaml:1:14: document has more than 5 nodes");
	assert_null(doc);
	gwt_diag_clear(&d);

	/* Exactly at the limits is fine. */
	assert_int_equal(ydoc_load_buffer("l.yaml", "[[[1, 2]]]", 10, &lim, &d.diag, &doc), 0);
	assert_int_equal(d.n, 0);
	doc = ydoc_free(doc);
	assert_null(doc);

	/* The default depth limit stops deep nesting well before libyaml or
	 * the stack could suffer. */
	char deep[300];
	memset(deep, '[', 150);
	memset(deep + 150, ']', 150);
	assert_int_equal(ydoc_load_buffer("deep.yaml", deep, 300, NULL, &d.diag, &doc), -EBADMSG);
	assert_string_equal(d.msg[0], "deep.yaml:1:65: nesting deeper than 64 levels");
	gwt_diag_clear(&d);
}

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/fg-yamldoc-XXXXXX";
	struct gwt_diag d;
	struct ydoc *doc = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x: [1]\n", 7), 7);
	close(fd);
	gwt_diag_init(&d);
	assert_int_equal(ydoc_load_file(path, NULL, &d.diag, &doc), 0);
	assert_string_equal(ydoc_name(doc), path);
	assert_string_equal(ynode_map_get(ydoc_root(doc), "x")->file, path);
	ydoc_free(doc);
	unlink(path);

	assert_int_equal(ydoc_load_file(path, NULL, &d.diag, &doc), -ENOENT);
	assert_null(doc);
	char want[128];
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(d.msg[0], want);
	gwt_diag_clear(&d);

	assert_int_equal(ydoc_load_file("/tmp", NULL, &d.diag, &doc), -EISDIR);
	assert_string_equal(d.msg[0], "/tmp: is a directory, not a YAML file");
	gwt_diag_clear(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_null_and_describe),
		cmocka_unit_test(test_empty_document),
		cmocka_unit_test(test_nul_in_scalar),
		cmocka_unit_test(test_anchors_aliases_tags),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_duplicate_keys_big_map),
		cmocka_unit_test(test_complex_key),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_reader_errors),
		cmocka_unit_test(test_two_documents),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
