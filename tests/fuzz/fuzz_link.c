/* SPDX-License-Identifier: Apache-2.0 */
/* CoRE link-format parser on any input. What parses must encode, and the
 * encoding must parse to the same links (uri, names, unescaped values,
 * has_value and quoted flags). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct collected {
	struct lwm2m_link *v;
	size_t n;
	struct lwm2m_records arena; /* only its byte arena is used */
};

static struct lwm2m_span keep(struct collected *c, struct lwm2m_span s)
{
	struct lwm2m_span k = { lwm2m_records_dup(&c->arena, s.ptr, s.len), s.len };

	if (!k.ptr)
		abort();
	return k;
}

static int collect(void *ctx, const struct lwm2m_link *l)
{
	struct collected *c = ctx;
	struct lwm2m_link *v = realloc(c->v, (c->n + 1) * sizeof(*v));

	if (!v)
		abort();
	c->v = v;
	v[c->n] = *l;
	v[c->n].uri = keep(c, l->uri);
	for (size_t i = 0; i < l->nparams; i++) {
		v[c->n].params[i].name = keep(c, l->params[i].name);
		v[c->n].params[i].value = keep(c, l->params[i].value);
	}
	c->n++;
	return 0;
}

static bool span_eq(struct lwm2m_span a, struct lwm2m_span b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void release(struct collected *c)
{
	free(c->v);
	lwm2m_records_clear(&c->arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collected first = { 0 }, second = { 0 };
	struct lwm2m_buf b = { 0 };

	if (lwm2m_link_parse((const char *)data, size, collect, &first) != 0)
		goto out;
	if (lwm2m_link_encode(&b, first.v, first.n) != 0)
		abort();
	if (lwm2m_link_parse((const char *)b.data, b.len, collect, &second) != 0 || second.n != first.n)
		abort();
	for (size_t i = 0; i < first.n; i++) {
		const struct lwm2m_link *x = &first.v[i], *y = &second.v[i];
		if (!span_eq(x->uri, y->uri) || x->nparams != y->nparams)
			abort();
		for (size_t k = 0; k < x->nparams; k++) {
			const struct lwm2m_link_param *p = &x->params[k], *q = &y->params[k];
			if (!span_eq(p->name, q->name) || !span_eq(p->value, q->value) ||
			    p->has_value != q->has_value || p->quoted != q->quoted)
				abort();
		}
	}
out:
	release(&first);
	release(&second);
	lwm2m_buf_free(&b);
	return 0;
}
