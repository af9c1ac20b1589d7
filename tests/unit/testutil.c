/* SPDX-License-Identifier: Apache-2.0 */
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *data_path(const char *rel)
{
	const char *dir = getenv("FG_TEST_DATA");
	char *p = NULL;

	if (!dir)
		fail_msg("FG_TEST_DATA is not set (run through meson test)");
	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		fail_msg("out of memory");
	return p;
}

uint8_t *tu_read_data(const char *rel, size_t *len)
{
	char *path = data_path(rel);
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		fail_msg("cannot open %s", path);
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = (cap + 4096 + 1) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, 4096, f);
		n += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	free(path);
	buf[n] = 0;
	*len = n;
	return buf;
}

uint8_t *tu_hex(const char *text, size_t *len)
{
	size_t cap = strlen(text) / 2 + 1, n = 0;
	uint8_t *out = malloc(cap);
	int hi = -1;

	assert_non_null(out);
	for (const char *p = text; *p; p++) {
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			if (!*p)
				break;
			continue;
		}
		if (isspace((unsigned char)*p))
			continue;
		if (!isxdigit((unsigned char)*p))
			fail_msg("bad hex character '%c'", *p);
		int v = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0)
		fail_msg("odd number of hex digits");
	*len = n;
	return out;
}

uint8_t *tu_read_hex(const char *rel, size_t *len)
{
	size_t tlen;
	uint8_t *t = tu_read_data(rel, &tlen);
	uint8_t *b = tu_hex((const char *)t, len);

	free(t);
	return b;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tu_list_data(const char *dir, const char *suffix, char ***names)
{
	char *path = data_path(dir);
	DIR *d = opendir(path);
	char **v = NULL;
	size_t n = 0, slen = strlen(suffix);
	struct dirent *e;

	if (!d)
		fail_msg("cannot open directory %s", path);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < slen || strcmp(e->d_name + l - slen, suffix) != 0)
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		v[n] = strdup(e->d_name);
		assert_non_null(v[n]);
		n++;
	}
	closedir(d);
	free(path);
	if (n)
		qsort(v, n, sizeof(*v), cmp_names);
	*names = v;
	return n;
}
