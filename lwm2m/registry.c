/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The set of object definitions: the built-in table plus DDF files loaded at
 * run time (ddf.c). Lookups are binary searches over a sorted pointer array,
 * so a registry of the whole OMA registry (~330 objects) costs ~9 compares.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/registry_internal.h"

const struct lwm2m_resdef *lwm2m_objdef_find_res(const struct lwm2m_objdef *d, uint16_t rid)
{
	size_t lo = 0, hi;

	if (!d)
		return NULL;
	hi = d->nres;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint16_t m = d->res[mid].rid;
		if (m == rid)
			return &d->res[mid];
		if (m < rid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Index of oid, or of where it would be inserted (*found tells which). */
static size_t lookup(const struct lwm2m_registry *r, uint16_t oid, bool *found)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint16_t m = r->defs[mid]->oid;
		if (m == oid) {
			*found = true;
			return mid;
		}
		if (m < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct lwm2m_registry *lwm2m_registry_new(void)
{
	struct lwm2m_registry *r = calloc(1, sizeof(*r));
	size_t n = lwm2m_builtin_objdefs_count;

	if (!r)
		return NULL;
	r->defs = malloc(n * sizeof(*r->defs));
	if (!r->defs) {
		free(r);
		return NULL;
	}
	/* The table is generated sorted by oid; the unit test checks it. */
	for (size_t i = 0; i < n; i++)
		r->defs[i] = &lwm2m_builtin_objdefs[i];
	r->n = r->cap = n;
	return r;
}

struct lwm2m_registry *lwm2m_registry_free(struct lwm2m_registry *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->nowned; i++)
		free(r->owned[i]);
	free(r->owned);
	free(r->defs);
	free(r);
	return NULL;
}

const struct lwm2m_objdef *lwm2m_registry_find(const struct lwm2m_registry *r, uint16_t oid)
{
	bool found;
	size_t i;

	if (!r)
		return NULL;
	i = lookup(r, oid, &found);
	return found ? r->defs[i] : NULL;
}

size_t lwm2m_registry_count(const struct lwm2m_registry *r)
{
	return r ? r->n : 0;
}

const struct lwm2m_objdef *lwm2m_registry_at(const struct lwm2m_registry *r, size_t i)
{
	return r && i < r->n ? r->defs[i] : NULL;
}

enum lwm2m_type lwm2m_registry_type_of(void *registry, const struct lwm2m_path *p)
{
	const struct lwm2m_resdef *rd;

	if (!registry || !p || p->len < 3)
		return LWM2M_TYPE_NONE;
	rd = lwm2m_objdef_find_res(lwm2m_registry_find(registry, p->id[LWM2M_OID]), p->id[LWM2M_RID]);
	return rd ? (enum lwm2m_type)rd->type : LWM2M_TYPE_NONE;
}

static size_t grown(size_t cap, size_t need)
{
	while (cap < need)
		cap = cap ? cap + cap / 2 + 4 : 16;
	return cap;
}

static int reserve(struct lwm2m_registry *r, size_t n)
{
	if (r->n + n > r->cap) {
		size_t c = grown(r->cap, r->n + n);
		const struct lwm2m_objdef **v = realloc(r->defs, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->defs = v;
		r->cap = c;
	}
	if (r->nowned + n > r->capowned) {
		size_t c = grown(r->capowned, r->nowned + n);
		void **v = realloc(r->owned, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->owned = v;
		r->capowned = c;
	}
	return 0;
}

static bool newer_or_equal(const struct lwm2m_objdef *a, const struct lwm2m_objdef *b)
{
	if (a->ver_major != b->ver_major)
		return a->ver_major > b->ver_major;
	return a->ver_minor >= b->ver_minor;
}

int lwm2m_registry_commit(struct lwm2m_registry *r, struct lwm2m_objdef **defs, size_t n)
{
	int count = 0;

	/* Reserve first: after this point nothing can fail, so the registry
	 * either takes every definition or none. Growing the capacity of an
	 * array does not change what the registry holds. */
	if (reserve(r, n) < 0)
		return -ENOMEM;

	for (size_t k = 0; k < n; k++) {
		struct lwm2m_objdef *d = defs[k];
		bool found;
		size_t i = lookup(r, d->oid, &found);

		if (found) {
			if (!newer_or_equal(d, r->defs[i])) {
				free(d);
				continue;
			}
			r->defs[i] = d;
		} else {
			memmove(&r->defs[i + 1], &r->defs[i], (r->n - i) * sizeof(*r->defs));
			r->defs[i] = d;
			r->n++;
		}
		r->owned[r->nowned++] = d;
		count++;
	}
	return count;
}
