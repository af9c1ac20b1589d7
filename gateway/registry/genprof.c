/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Generated profiles (bridge_host.generated): profiles a bridge made from
 * what the field says about itself, shared by name and kept while a device
 * uses them. Each lives in a mapping set of its own, so that the last
 * device to go frees it: a field that keeps announcing new kinds of
 * devices costs memory for what exists, not for everything it ever said
 * (the configuration's set frees nothing before a reload).
 *
 * Kept sorted by name: one lookup per discovery, thousands of devices.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"

struct genprof {
	char *name;
	struct mapping_set *set;
	const struct mapping_profile *profile;
	unsigned refs;
};

struct genprofs {
	struct genprof **v; /* sorted by name */
	size_t n, cap;
};

static const char *name_at(const void *ctx, size_t i)
{
	return ((const struct genprofs *)ctx)->v[i]->name;
}

static size_t find_slot(const struct genprofs *s, const char *name, bool *found)
{
	return reg_name_slot(s ? s->n : 0, name_at, s, name, found);
}

int genprof_get(struct genprofs **sp, const struct lwm2m_registry *objects, const char *search_path,
		const char *name, const char *file, const char *text, size_t len, struct diag *diag,
		struct genprof **out)
{
	struct genprofs *s = *sp;
	struct genprof *g;
	bool found;
	size_t at;
	int r;

	*out = NULL;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		*sp = s;
	}
	at = find_slot(s, name, &found);
	if (found) {
		s->v[at]->refs++;
		*out = s->v[at];
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct genprof **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	g = calloc(1, sizeof(*g));
	if (!g || !(g->name = strdup(name)) ||
	    !(g->set = mapping_set_new(objects, bridge_source_kinds(), search_path))) {
		if (g)
			free(g->name);
		free(g);
		return -ENOMEM;
	}
	r = mapping_set_load_buffer(g->set, name, file, text, len, diag, &g->profile);
	if (r < 0) {
		mapping_set_free(g->set);
		free(g->name);
		free(g);
		return r;
	}
	g->refs = 1;
	memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
	s->v[at] = g;
	s->n++;
	*out = g;
	return 0;
}

const struct mapping_profile *genprof_profile(const struct genprof *g)
{
	return g->profile;
}

void genprof_unref(struct genprofs *s, struct genprof *g)
{
	bool found;
	size_t at;

	if (!g || --g->refs > 0)
		return;
	at = find_slot(s, g->name, &found);
	if (found && s->v[at] == g) {
		memmove(&s->v[at], &s->v[at + 1], (s->n - at - 1) * sizeof(*s->v));
		s->n--;
	}
	mapping_set_free(g->set);
	free(g->name);
	free(g);
}

struct genprofs *genprofs_free(struct genprofs *s)
{
	if (!s)
		return NULL;
	/* Devices hold the references: by now they are gone. */
	for (size_t i = 0; i < s->n; i++) {
		mapping_set_free(s->v[i]->set);
		free(s->v[i]->name);
		free(s->v[i]);
	}
	free(s->v);
	free(s);
	return NULL;
}
