/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway/bundle/: the verdict on each seed of tests/fuzz/corpus/bundle
 * (written by tests/fuzz/gen_bundle.py) and its first message, and a
 * valid bundle written below a folder: exactly its files, nothing else.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gateway/bundle/bundle.h"

static char first[512];

static void keep_first(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		       const char *msg)
{
	(void)ctx;
	if (!first[0])
		diag_format(first, sizeof(first), sev, file, line, col, msg);
}

static int seed(const char *name, const char *dir, struct gw_bundle **out)
{
	char path[1024];
	struct diag diag = { .fn = keep_first };

	first[0] = '\0';
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/bundle/%s", getenv("FG_SOURCE_DIR"), name);
	return gw_bundle_extract_file(path, dir, &diag, out);
}

static void test_verdicts(void **state)
{
	static const struct {
		const char *seed;
		int err;
		const char *msg; /* part of the first message */
	} cases[] = {
		{ "valid.tar", 0, "" },
		{ "valid.tar.gz", 0, "" },
		{ "objects.tar", 0, "" },
		{ "dotdot.tar", -EBADMSG, "archive entry profiles/../../x.yaml: not a bundle file" },
		{ "absolute.tar", -EBADMSG, "archive entry /tmp/acme-th.yaml: not a bundle file" },
		{ "symlink.tar", -EBADMSG, "archive entry profiles/link.yaml: not a regular file" },
		{ "device.tar", -EBADMSG, "archive entry profiles/dev.yaml: not a regular file" },
		{ "unlisted.tar", -EBADMSG, "profiles/other.yaml is in the archive but not listed" },
		{ "missing.tar", -EBADMSG, "profile 'acme-th' is listed but profiles/acme-th.yaml is not" },
		{ "bad-manifest.tar", -EBADMSG, "bundle.yaml:3:1: unknown key 'foo'" },
		{ "not-a-tar.bin", -ENOTSUP, "not a tar archive" },
		{ "truncated.tar", -EBADMSG, "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gw_bundle *b = NULL;
		int r = seed(cases[i].seed, NULL, &b);
		print_message("# %s: %d %s\n", cases[i].seed, r, first);
		assert_int_equal(r, cases[i].err);
		assert_true(strstr(first, cases[i].msg) != NULL);
		assert_true((r == 0) == (b != NULL));
		gw_bundle_free(b);
	}
}

static void test_extract(void **state)
{
	char dir[] = "/tmp/fg-bundle-XXXXXX", path[256];
	struct gw_bundle *b = NULL;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(seed("valid.tar", dir, &b), 0);
	assert_string_equal(b->name, "acme");
	assert_string_equal(b->version, "1.0");
	assert_int_equal(b->nprofiles, 1);
	assert_string_equal(b->profiles[0], "acme-th");
	assert_int_equal(b->nobjects, 0);
	gw_bundle_free(b);
	snprintf(path, sizeof(path), "%s/profiles/acme-th.yaml", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* The manifest is kept: the installed bundle is read from it. */
	assert_int_equal(gw_bundle_load_dir(dir, NULL, &b), 0);
	assert_string_equal(b->name, "acme");
	gw_bundle_free(b);
	/* A damaged archive into a folder: refused, the caller removes it. */
	assert_int_equal(gw_bundle_remove_dir(dir), 0);
	assert_int_equal(stat(dir, &st), -1);
	assert_non_null(mkdtemp(strcpy(dir, "/tmp/fg-bundle-XXXXXX")));
	assert_int_equal(seed("symlink.tar", dir, &b), -EBADMSG);
	snprintf(path, sizeof(path), "%s/profiles/link.yaml", dir);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(gw_bundle_remove_dir(dir), 0);
}

static void test_manifest(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "name: acme\nversion: 1\n", "m.yaml:1:1: the bundle lists no profiles and no objects" },
		{ "name: .hidden\nversion: 1\nprofiles: [a]\n", "m.yaml:1:7: bad bundle name '.hidden'" },
		{ "version: 1\nprofiles: [a]\n", "m.yaml:1:1: 'name' is missing" },
		{ "name: [a]\nversion: 1\nprofiles: [a]\n",
		  "m.yaml:1:7: 'name' must be a string, got a sequence" },
		{ "name: a\nversion: 1\nprofiles: [a, a]\n", "m.yaml:3:15: 'profiles': 'a' is listed twice" },
		{ "name: a\nversion: 1\nprofiles: [../x]\n", "m.yaml:3:12: 'profiles': bad name ../x" },
		{ "- a\n", "m.yaml:1:1: a bundle manifest is a mapping" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct diag diag = { .fn = keep_first };
		struct gw_bundle *b = NULL;
		first[0] = '\0';
		assert_int_equal(
			gw_bundle_manifest_parse("m.yaml", bad[i].text, strlen(bad[i].text), &diag, &b),
			-EINVAL);
		print_message("# %s\n", first);
		assert_non_null(strstr(first, bad[i].msg));
		assert_null(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_extract),
		cmocka_unit_test(test_manifest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
