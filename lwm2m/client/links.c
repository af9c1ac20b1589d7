/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object list of Register and Update (CoRE links of the store's
 * instances and the declared objects, with the versions announced).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

/* ---- the object list of Register and Update ---------------------------- */

struct link_item {
	uint16_t oid;
	uint16_t iid; /* 0xFFFF: the object itself (declared, no instance) */
};

static int collect_inst(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	struct {
		struct link_item *v;
		size_t n, cap;
	} *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct link_item *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct link_item){ def->oid, iid };
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct link_item *x = a, *y = b;

	if (x->oid != y->oid)
		return x->oid < y->oid ? -1 : 1;
	/* The bare object (0xFFFF) sorts first: swap so it reads lowest. */
	uint16_t xi = (uint16_t)(x->iid + 1), yi = (uint16_t)(y->iid + 1);
	return xi < yi ? -1 : xi > yi;
}

unsigned fg_announced_version(const struct lwm2m_objdef *def, uint8_t enabler)
{
	unsigned v = def->ver_major * 10u + def->ver_minor;

	if (enabler < 10)
		return v;
	/* Registry facts (LWM2MVersion of the DDFs): the core objects 0-7 of
	 * LwM2M 1.0 are all version 1.0, their later versions need LwM2M 1.1,
	 * except Server 1.2 (LwM2M 1.2). */
	if (def->oid <= 7 && enabler == 10)
		return 10;
	if (def->oid == 1 && v > enabler)
		return enabler;
	return v;
}

int fg_links(const struct lwm2m_client *c, const struct lwm2m_store *s, const uint16_t *declared,
	     size_t ndeclared, bool comma, uint8_t enabler, struct lwm2m_buf *out)
{
	struct {
		struct link_item *v;
		size_t n, cap;
	} l = { 0 };
	int r = 0;

	if (s) {
		r = lwm2m_store_foreach_instance(s, collect_inst, &l);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < ndeclared; i++) {
		r = collect_inst(&l, &(struct lwm2m_objdef){ .oid = declared[i] }, 0xFFFF);
		if (r < 0)
			goto out;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_item);
	for (size_t i = 0; i < l.n; i++) {
		uint16_t oid = l.v[i].oid;
		bool first = i == 0 || l.v[i - 1].oid != oid;
		const char *sep = comma ? "," : "";

		/* Security and OSCORE are never announced (TS Register). */
		if (oid == 0 || oid == 21)
			continue;
		if (!first) {
			if (l.v[i].iid == 0xFFFF)
				continue;
		} else {
			const struct lwm2m_objdef *def = lwm2m_registry_find(c->reg, oid);
			unsigned v = def ? fg_announced_version(def, enabler) : 10;
			bool has_inst = false, ver = v != 10;

			for (size_t k = i; k < l.n && l.v[k].oid == oid; k++)
				has_inst |= l.v[k].iid != 0xFFFF;
			/* </oid> alone for an object without instances, and
			 * before the instances when it carries a version. */
			if (ver)
				r = lwm2m_buf_printf(out, "%s</%u>;ver=%u.%u", sep, oid, v / 10, v % 10);
			else if (!has_inst)
				r = lwm2m_buf_printf(out, "%s</%u>", sep, oid);
			if (r < 0)
				goto out;
			if (ver || !has_inst)
				comma = true, sep = ",";
			if (l.v[i].iid == 0xFFFF)
				continue;
		}
		r = lwm2m_buf_printf(out, "%s</%u/%u>", sep, oid, l.v[i].iid);
		if (r < 0)
			goto out;
		comma = true;
	}
	r = 0;
out:
	free(l.v);
	return r;
}

int fg_ep_links(const struct lwm2m_endpoint *ep, struct lwm2m_buf *out)
{
	int r = lwm2m_buf_printf(out, "</>;rt=\"oma.lwm2m\";ct=%u", (unsigned)fg_ep_default_ct(ep));

	if (r < 0)
		return r;
	return fg_links(ep->c, ep->store, ep->declared, ep->ndeclared, true, ep->version, out);
}
