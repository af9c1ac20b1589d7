/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CoRE link format: one tests/data/link/<name>.link file per case.
 *   doc "..."            the document (C escapes)
 *   error EBADMSG        expected parse error
 *   link <uri>           an expected link...
 *   param name           ...and its parameters: without value,
 *   param name=token     with a token value,
 *   param name="..."     with a quoted value (C escapes, unescaped form)
 *   reencode "..."       what lwm2m_link_encode() of the parsed links gives
 *                        (default: the document itself)
 * Every parsed document is also encoded and parsed again, which must give
 * the same links.
 */
#include "codec_cases.h"

#define MAX_LINKS 64

/* Links with their own copies of every span (parse spans may be scratch). */
struct links {
	struct lwm2m_link v[MAX_LINKS];
	size_t n;
	char *mem[MAX_LINKS * (1 + 2 * LWM2M_LINK_MAX_PARAMS)];
	size_t nmem;
};

static struct lwm2m_span keep(struct links *ls, const char *p, size_t n)
{
	char *c = malloc(n + 1);

	assert_non_null(c);
	if (n)
		memcpy(c, p, n);
	c[n] = 0;
	assert_true(ls->nmem < sizeof(ls->mem) / sizeof(ls->mem[0]));
	ls->mem[ls->nmem++] = c;
	return (struct lwm2m_span){ c, n };
}

static void links_free(struct links *ls)
{
	for (size_t i = 0; i < ls->nmem; i++)
		free(ls->mem[i]);
	ls->nmem = 0;
	ls->n = 0;
}

static int collect(void *ctx, const struct lwm2m_link *l)
{
	struct links *ls = ctx;
	struct lwm2m_link *d;

	if (ls->n == MAX_LINKS)
		return -E2BIG;
	d = &ls->v[ls->n++];
	*d = *l;
	d->uri = keep(ls, l->uri.ptr, l->uri.len);
	for (size_t i = 0; i < l->nparams; i++) {
		d->params[i].name = keep(ls, l->params[i].name.ptr, l->params[i].name.len);
		d->params[i].value = keep(ls, l->params[i].value.ptr, l->params[i].value.len);
	}
	return 0;
}

static bool span_eq(const struct lwm2m_span *a, const struct lwm2m_span *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static bool links_equal(const struct links *a, const struct links *b, bool check_quoted)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct lwm2m_link *x = &a->v[i], *y = &b->v[i];
		if (!span_eq(&x->uri, &y->uri) || x->nparams != y->nparams)
			return false;
		for (size_t k = 0; k < x->nparams; k++) {
			const struct lwm2m_link_param *p = &x->params[k], *q = &y->params[k];
			if (!span_eq(&p->name, &q->name) || !span_eq(&p->value, &q->value) ||
			    p->has_value != q->has_value || (check_quoted && p->quoted != q->quoted))
				return false;
		}
	}
	return true;
}

static void print_links(const char *tag, const struct links *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		const struct lwm2m_link *l = &ls->v[i];
		fprintf(stderr, "# %s: <%.*s>", tag, (int)l->uri.len, l->uri.ptr);
		for (size_t k = 0; k < l->nparams; k++)
			fprintf(stderr, " ;%.*s%s%s%.*s%s", (int)l->params[k].name.len, l->params[k].name.ptr,
				l->params[k].has_value ? "=" : "", l->params[k].quoted ? "\"" : "",
				(int)l->params[k].value.len, l->params[k].value.ptr,
				l->params[k].quoted ? "\"" : "");
		fprintf(stderr, "\n");
	}
}

static void run_link_case(void **state)
{
	const char *name = *state;
	char rel[256], *text, *line, *save = NULL;
	struct links want = { 0 }, got = { 0 }, again = { 0 };
	uint8_t *doc = NULL, *reencode = NULL;
	size_t len, doc_len = 0, re_len = 0;
	int error = 0, r;
	struct lwm2m_buf b = { 0 };

	snprintf(rel, sizeof(rel), "link/%s", name);
	text = (char *)tu_read_data(rel, &len);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p;
		if (line[0] == '#' || !line[0])
			continue;
		if (strncmp(line, "doc ", 4) == 0) {
			p = line + 4;
			doc = cc_cstring(&p, &doc_len, rel);
		} else if (strncmp(line, "reencode ", 9) == 0) {
			p = line + 9;
			reencode = cc_cstring(&p, &re_len, rel);
		} else if (strncmp(line, "error ", 6) == 0) {
			error = cc_errno(line + 6);
		} else if (strncmp(line, "link <", 6) == 0) {
			char *end = strrchr(line, '>');
			assert_non_null(end);
			assert_true(want.n < MAX_LINKS);
			want.v[want.n] = (struct lwm2m_link){ 0 };
			want.v[want.n].uri = keep(&want, line + 6, (size_t)(end - line - 6));
			want.n++;
		} else if (strncmp(line, "param ", 6) == 0) {
			struct lwm2m_link *l = &want.v[want.n - 1];
			struct lwm2m_link_param *prm = &l->params[l->nparams++];
			const char *eq = strchr(line + 6, '=');
			assert_true(want.n > 0 && l->nparams <= LWM2M_LINK_MAX_PARAMS);
			prm->name = keep(&want, line + 6, eq ? (size_t)(eq - line - 6) : strlen(line + 6));
			if (!eq)
				continue;
			prm->has_value = true;
			if (eq[1] == '"') {
				size_t vl;
				p = eq + 1;
				uint8_t *v = cc_cstring(&p, &vl, rel);
				prm->value = keep(&want, (const char *)v, vl);
				prm->quoted = true;
				free(v);
			} else {
				prm->value = keep(&want, eq + 1, strlen(eq + 1));
			}
		} else {
			fail_msg("%s: unknown directive %s", rel, line);
		}
	}
	assert_non_null(doc);
	r = lwm2m_link_parse((const char *)doc, doc_len, collect, &got);
	if (r != error)
		fail_msg("%s: parse returned %d, want %d", rel, r, error);
	if (r == 0) {
		if (!links_equal(&got, &want, true)) {
			print_links("want", &want);
			print_links("got ", &got);
			fail_msg("%s: parsed links differ", rel);
		}
		assert_int_equal(lwm2m_link_encode(&b, got.v, got.n), 0);
		if (!reencode) {
			reencode = doc;
			re_len = doc_len;
		}
		if (b.len != re_len || (re_len && memcmp(b.data, reencode, re_len) != 0))
			fail_msg("%s: encoded as %.*s", rel, (int)b.len, b.data);
		assert_int_equal(lwm2m_link_parse((const char *)b.data, b.len, collect, &again), 0);
		assert_true(links_equal(&got, &again, false));
	}
	if (reencode != doc)
		free(reencode);
	free(doc);
	free(text);
	lwm2m_buf_free(&b);
	links_free(&want);
	links_free(&got);
	links_free(&again);
}

static int stop_at_second(void *ctx, const struct lwm2m_link *l)
{
	int *count = ctx;
	(void)l;
	return ++*count == 2 ? 42 : 0;
}

/* A non-zero callback return stops parsing and is returned as is. */
static void test_callback_stops(void **state)
{
	static const char doc[] = "</1>,</2>,</3>";
	int count = 0;
	(void)state;

	assert_int_equal(lwm2m_link_parse(doc, strlen(doc), stop_at_second, &count), 42);
	assert_int_equal(count, 2);
	assert_int_equal(lwm2m_link_parse(NULL, 1, stop_at_second, &count), -EINVAL);
}

/* Encoding quotes what a token cannot carry and escapes '"', '\' and
 * control characters; it refuses names and URIs it cannot write. */
static void test_encode_rules(void **state)
{
	struct lwm2m_buf b = { 0 };
	struct lwm2m_link l = { .uri = { "/3/0", 4 }, .nparams = 4 };
	static const char want[] = "</3/0>;pmin=10;rt=\"a b\";x=\"q\\\"\\\\\\\n\";obs,</>;ver=\"2.0\"";
	(void)state;

	l.params[0] = (struct lwm2m_link_param){ { "pmin", 4 }, { "10", 2 }, true, false };
	l.params[1] = (struct lwm2m_link_param){ { "rt", 2 }, { "a b", 3 }, true, false };
	l.params[2] = (struct lwm2m_link_param){ { "x", 1 }, { "q\"\\\n", 4 }, true, false };
	l.params[3] = (struct lwm2m_link_param){ { "obs", 3 }, { NULL, 0 }, false, false };
	struct lwm2m_link ls[2] = { l, { .uri = { "/", 1 }, .nparams = 1 } };
	ls[1].params[0] = (struct lwm2m_link_param){ { "ver", 3 }, { "2.0", 3 }, true, true };
	assert_int_equal(lwm2m_link_encode(&b, ls, 2), 0);
	if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
		fail_msg("encoded %.*s", (int)b.len, b.data);

	/* Errors leave the buffer as it was. */
	size_t before = b.len;
	ls[0].uri = (struct lwm2m_span){ "/a>b", 4 };
	assert_int_equal(lwm2m_link_encode(&b, ls, 2), -EINVAL);
	ls[0].uri = (struct lwm2m_span){ "/3/0", 4 };
	ls[1].params[0].name = (struct lwm2m_span){ "a b", 3 };
	assert_int_equal(lwm2m_link_encode(&b, ls, 2), -EINVAL);
	ls[1].params[0].name = (struct lwm2m_span){ "", 0 };
	assert_int_equal(lwm2m_link_encode(&b, ls, 2), -EINVAL);
	assert_int_equal(b.len, before);
	lwm2m_buf_free(&b);
}

int main(void)
{
	char **names = NULL;
	size_t n;
	struct CMUnitTest *all;
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_encode_rules),
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	int r;

	if (!getenv("FG_TEST_DATA")) {
		fprintf(stderr, "FG_TEST_DATA is not set (run through meson test)\n");
		return 1;
	}
	n = tu_list_data("link", ".link", &names);
	all = calloc(nfixed + n, sizeof(*all));
	assert_non_null(all);
	memcpy(all, fixed, sizeof(fixed));
	for (size_t i = 0; i < n; i++)
		all[nfixed + i] = (struct CMUnitTest){ .name = names[i],
						       .test_func = run_link_case,
						       .initial_state = names[i] };
	r = _cmocka_run_group_tests("link", all, nfixed + n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(all);
	return r;
}
