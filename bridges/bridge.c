/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge kinds of this build and the life of an instance's base. The
 * kinds register themselves before main() (BRIDGE_KIND_REGISTER); after
 * that the table is only read.
 */
#include "bridges/bridge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kinds the source tree has, in the build's order (bridges/meson.build
 * passes them, built or not): a configuration naming one that is not built
 * gets "not available in this build" instead of "unknown". */
static const char *const known[] = { BRIDGE_KINDS_KNOWN, NULL };

static const struct bridge_kind *kinds[BRIDGE_KINDS_MAX];
static size_t nkinds;

void bridge_kind_register(const struct bridge_kind *kind)
{
	if (nkinds == BRIDGE_KINDS_MAX || bridge_kind_find(kind->name)) {
		/* Two kinds of one name, or too many, linked into one program. */
		fprintf(stderr, "fieldgate: bridge kind '%s' cannot be registered (%s)\n", kind->name,
			nkinds == BRIDGE_KINDS_MAX ? "too many kinds" : "the name is taken");
		abort();
	}
	/* Kept in name order: the order of constructors is the linker's. */
	size_t i = nkinds++;
	for (; i > 0 && strcmp(kinds[i - 1]->name, kind->name) > 0; i--)
		kinds[i] = kinds[i - 1];
	kinds[i] = kind;
}

const struct bridge_kind *bridge_kind_find(const char *name)
{
	for (size_t i = 0; i < nkinds; i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

static bool is_known(const char *name)
{
	for (size_t i = 0; known[i]; i++)
		if (strcmp(known[i], name) == 0)
			return true;
	return false;
}

const char *bridge_kind_name(size_t i)
{
	size_t nknown = sizeof(known) / sizeof(known[0]) - 1;

	if (i < nknown)
		return known[i];
	i -= nknown;
	for (size_t k = 0; k < nkinds; k++)
		if (!is_known(kinds[k]->name) && i-- == 0)
			return kinds[k]->name;
	return NULL;
}

const struct mapping_source_ops *const *bridge_source_kinds(void)
{
	static const struct mapping_source_ops *sources[BRIDGE_KINDS_MAX + 1];
	size_t n = 0;

	/* Filled at each call (cheap): the kinds do not change after main(). */
	for (size_t i = 0; i < nkinds; i++)
		if (kinds[i]->source_ops)
			sources[n++] = kinds[i]->source_ops;
	sources[n] = NULL;
	return sources;
}

int bridge_new(const struct bridge_kind *kind, const char *name, const struct ynode *body,
	       const struct bridge_host *host, struct bridge **out)
{
	struct bridge *b;
	int r;

	*out = NULL;
	b = calloc(1, kind->size > sizeof(*b) ? kind->size : sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->kind = kind;
	b->host = *host;
	b->name = strdup(name);
	r = b->name ? kind->init(b, body) : -ENOMEM;
	if (r < 0) {
		bridge_free(b);
		return r;
	}
	*out = b;
	return 0;
}

struct bridge *bridge_free(struct bridge *b)
{
	if (!b)
		return NULL;
	if (b->kind->done)
		b->kind->done(b);
	free(b->name);
	free(b);
	return NULL;
}
