/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counted shared copies of short texts that thousands of targets have in
 * common: the IoT Device Objects text of /25/N/3 (the same for every device
 * of a profile, gateway.c) and a target's gateway endpoint name (target.c).
 * One copy of each distinct text instead of one per device (a malloc chunk
 * of 32 bytes at least, or ~90 bytes of store). A few distinct texts in
 * practice; hashed so that thousands of different ones cost no walk.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

struct fg_str {
	struct fg_str *next; /* in its bucket */
	uint32_t refs, hash;
	char text[]; /* NUL-terminated */
};

struct fg_strtab {
	size_t count, nbucket; /* nbucket: a power of two */
	struct fg_str *bucket[];
};

static uint32_t hash_of(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static struct fg_str *str_of(const char *text)
{
	return (struct fg_str *)(void *)(text - offsetof(struct fg_str, text));
}

/* Twice the buckets when the texts outnumber them; best effort (chains
 * only get longer without memory). */
static struct fg_strtab *grow(struct fg_strtab *t)
{
	size_t nb = t ? t->nbucket * 2 : 8;
	struct fg_strtab *g;

	if (t && t->count < t->nbucket)
		return t;
	g = calloc(1, sizeof(*g) + nb * sizeof(g->bucket[0]));
	if (!g)
		return t;
	g->nbucket = nb;
	for (size_t i = 0; t && i < t->nbucket; i++)
		while (t->bucket[i]) {
			struct fg_str *x = t->bucket[i];

			t->bucket[i] = x->next;
			x->next = g->bucket[x->hash & (nb - 1)];
			g->bucket[x->hash & (nb - 1)] = x;
		}
	g->count = t ? t->count : 0;
	free(t);
	return g;
}

const char *fg_str_get(struct lwm2m_client *c, const void *p, size_t n)
{
	uint32_t h;
	struct fg_str **b, *x;

	if (n == 0)
		p = ""; /* an empty lwm2m_buf has no data */
	else if (memchr(p, '\0', n))
		return NULL;
	h = hash_of(p, n);
	c->strtab = grow(c->strtab);
	if (!c->strtab)
		return NULL;
	b = &c->strtab->bucket[h & (c->strtab->nbucket - 1)];
	for (x = *b; x; x = x->next)
		if (x->hash == h && strncmp(x->text, p, n) == 0 && x->text[n] == '\0') {
			x->refs++;
			return x->text;
		}
	x = malloc(sizeof(*x) + n + 1);
	if (!x)
		return NULL;
	*x = (struct fg_str){ .next = *b, .refs = 1, .hash = h };
	if (n)
		memcpy(x->text, p, n);
	x->text[n] = '\0';
	*b = x;
	c->strtab->count++;
	return x->text;
}

void fg_str_put(struct lwm2m_client *c, const char *text)
{
	struct fg_str *x = text ? str_of(text) : NULL, **pp;

	if (!x || --x->refs > 0)
		return;
	for (pp = &c->strtab->bucket[x->hash & (c->strtab->nbucket - 1)]; *pp != x; pp = &(*pp)->next)
		;
	*pp = x->next;
	free(x);
	if (--c->strtab->count == 0) {
		free(c->strtab);
		c->strtab = NULL;
	}
}
