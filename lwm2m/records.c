/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record lists and their arena. Decoders copy unescaped strings, decoded
 * base64 and prefixes into the arena so records never point into a buffer
 * the caller may free; one lwm2m_records_clear() releases everything.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

struct lwm2m_arena {
	struct lwm2m_arena *next;
	size_t used, cap;
	alignas(max_align_t) uint8_t data[];
};

#define ARENA_CHUNK 2048

void lwm2m_records_clear(struct lwm2m_records *r)
{
	struct lwm2m_arena *a, *next;

	if (!r)
		return;
	for (a = r->arena; a; a = next) {
		next = a->next;
		free(a);
	}
	free(r->v);
	*r = (struct lwm2m_records){ 0 };
}

struct lwm2m_record *lwm2m_records_add(struct lwm2m_records *r)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct lwm2m_record *v;

		if (cap > SIZE_MAX / sizeof(*v))
			return NULL;
		v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n] = (struct lwm2m_record){ 0 };
	return &r->v[r->n++];
}

void *lwm2m_records_alloc(struct lwm2m_records *r, size_t n)
{
	struct lwm2m_arena *a = r->arena;
	size_t need = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);

	if (need < n)
		return NULL;
	if (!a || a->cap - a->used < need) {
		size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		if (cap > SIZE_MAX - sizeof(*a))
			return NULL;
		a = malloc(sizeof(*a) + cap);
		if (!a)
			return NULL;
		a->used = 0;
		a->cap = cap;
		/* A large block goes behind the current chunk so the current
		 * chunk's free space stays usable. */
		if (r->arena && need > ARENA_CHUNK) {
			a->next = r->arena->next;
			r->arena->next = a;
		} else {
			a->next = r->arena;
			r->arena = a;
		}
	}
	void *p = a->data + a->used;
	a->used += need;
	return p;
}

const void *lwm2m_records_dup(struct lwm2m_records *r, const void *p, size_t n)
{
	void *q = lwm2m_records_alloc(r, n ? n : 1);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

static int record_cmp(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	size_t n = a->prefix.len < b->prefix.len ? a->prefix.len : b->prefix.len;
	int c = n ? memcmp(a->prefix.ptr, b->prefix.ptr, n) : 0;

	if (c)
		return c;
	if (a->prefix.len != b->prefix.len)
		return a->prefix.len < b->prefix.len ? -1 : 1;
	return lwm2m_path_cmp(&a->path, &b->path);
}

static void merge_sort(struct lwm2m_record *v, struct lwm2m_record *tmp, size_t n)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	merge_sort(v, tmp, mid);
	merge_sort(v + mid, tmp, n - mid);
	while (i < mid && j < n)
		tmp[k++] = record_cmp(&v[j], &v[i]) < 0 ? v[j++] : v[i++];
	while (i < mid)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

void lwm2m_records_sort(struct lwm2m_records *r)
{
	struct lwm2m_record *tmp;

	if (r->n < 2)
		return;
	tmp = malloc(r->n * sizeof(*tmp));
	if (tmp) {
		merge_sort(r->v, tmp, r->n);
		free(tmp);
		return;
	}
	/* No memory for the merge: a stable insertion sort still works. */
	for (size_t i = 1; i < r->n; i++) {
		struct lwm2m_record x = r->v[i];
		size_t j = i;
		while (j > 0 && record_cmp(&r->v[j - 1], &x) > 0) {
			r->v[j] = r->v[j - 1];
			j--;
		}
		r->v[j] = x;
	}
}
