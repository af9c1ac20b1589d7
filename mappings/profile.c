/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profile loader: YAML mapping files -> immutable, shared struct
 * mapping_profile, checked against the object registry.
 *
 * Include and override rules (documented for users in
 * mappings/profiles/example.yaml):
 *  - `include:` names one profile or a list; they are applied in order, then
 *    the including profile's own `objects:` on top;
 *  - a resource defined again replaces the earlier definition as a whole
 *    (keys are not merged: a half-inherited transform is a trap);
 *  - `~` (null) as a resource removes it, as an instance removes the instance
 *    and every resource under it;
 *  - `bridge:` is inherited; a different bridge than a base's is an error (the
 *    base's sources would be parsed by the wrong bridge); `description:` and
 *    `defaults:` are not inherited (defaults apply to the file they are in,
 *    so a base's points keep the base's defaults);
 *  - a cycle is an error naming the whole chain.
 * Inherited points are copied (a few dozen bytes each) but their parsed
 * sources stay owned by the base profile; the set frees all together.
 */
#include "mappings/mapping.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/schema.h"

struct mapping_profile {
	char *name;
	char *file;
	const char *description;
	const char *generate; /* `generate:` (in doc), NULL */
	const char *firmware; /* `firmware:` (in doc or an included profile's), NULL */
	const struct mapping_source_ops *ops;
	uint64_t poll_usec, max_age_usec;
	struct ydoc *doc;
	struct mapping_point *points;
	bool *owned; /* per point: this profile frees its source/write/execute */
	size_t npoints;
	struct lwm2m_path *inst;
	size_t ninst;
	void **blocks; /* enum tables and word lists of own points */
	size_t nblocks;
};

struct set_entry {
	char *name;
	int status; /* 0 loaded, negative errno: failed (reported once) */
	bool loading;
	struct mapping_profile *p;
};

struct mapping_set {
	const struct lwm2m_registry *reg;
	const struct mapping_source_ops *const *kinds;
	char *search_path;
	struct set_entry *v;
	size_t n, cap;
	const char *stack[32]; /* names being loaded, for cycle messages */
	size_t depth;
};

/* ---- small helpers ------------------------------------------------------------ */

struct loader {
	struct mapping_set *set;
	struct diag *diag;
	unsigned errors;
	struct mapping_profile *p;
};

static void lerr(struct loader *L, const struct ynode *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void lerr(struct loader *L, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	L->errors++;
	va_start(ap, fmt);
	diag_reportv(L->diag, DIAG_ERROR, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

static int keep_block(struct mapping_profile *p, void *b)
{
	void **nb = realloc(p->blocks, (p->nblocks + 1) * sizeof(*nb));

	if (!nb) {
		free(b);
		return -ENOMEM;
	}
	p->blocks = nb;
	p->blocks[p->nblocks++] = b;
	return 0;
}

static const char *res_name(const struct lwm2m_resdef *d)
{
	return d && d->name ? d->name : "?";
}

static const char *ptxt(const struct lwm2m_path *p, char buf[32])
{
	lwm2m_path_format(p, buf);
	return buf;
}

static bool type_is_numeric(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_INTEGER || t == LWM2M_TYPE_UNSIGNED || t == LWM2M_TYPE_FLOAT ||
	       t == LWM2M_TYPE_TIME;
}

static bool type_is_integer(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_INTEGER || t == LWM2M_TYPE_UNSIGNED || t == LWM2M_TYPE_TIME;
}

static bool type_is_bytes(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_STRING || t == LWM2M_TYPE_OPAQUE || t == LWM2M_TYPE_CORELNK;
}

static char *join(const char *const *v, size_t n, const char *sep)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + strlen(sep);
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, sep);
		strcat(s, v[i]);
	}
	return s;
}

/* Strict finite decimal number (a YAML scalar). */
static int parse_number(const struct ynode *n, double *out)
{
	char *end;
	double d;

	if (n->kind != YNODE_SCALAR || n->scalar.len == 0 || strlen(n->scalar.str) != n->scalar.len)
		return -EINVAL;
	if (strspn(n->scalar.str, "0123456789+-.eE") != n->scalar.len)
		return -EINVAL; /* no hex, inf, nan */
	errno = 0;
	d = strtod(n->scalar.str, &end);
	if (*end || errno == ERANGE || !isfinite(d))
		return -EINVAL;
	*out = d;
	return 0;
}

/* ---- schema of a resource entry ------------------------------------------------- */

struct res_spec {
	const struct ynode *constant, *source, *write, *execute, *scale, *offset, *enum_map, *min, *max;
	const char *device, *unit, *description;
	bool writable;
	int raw, order, round;
	uint64_t length, width, bit, bits;
	struct schema_list true_words, false_words;
	uint64_t poll, max_age;
	bool historical;
};

static const struct schema_enum_word raw_words[] = {
	{ "value", MAPPING_RAW_VALUE },     { "int8", MAPPING_RAW_INT8 },
	{ "uint8", MAPPING_RAW_UINT8 },     { "int16", MAPPING_RAW_INT16 },
	{ "uint16", MAPPING_RAW_UINT16 },   { "int24", MAPPING_RAW_INT24 },
	{ "uint24", MAPPING_RAW_UINT24 },   { "int32", MAPPING_RAW_INT32 },
	{ "uint32", MAPPING_RAW_UINT32 },   { "int64", MAPPING_RAW_INT64 },
	{ "uint64", MAPPING_RAW_UINT64 },   { "float32", MAPPING_RAW_FLOAT32 },
	{ "float64", MAPPING_RAW_FLOAT64 }, { "string", MAPPING_RAW_STRING },
	{ "bits", MAPPING_RAW_BITS },       { NULL },
};

static const struct schema_enum_word order_words[] = {
	{ "ABCD", MAPPING_ORDER_ABCD },
	{ "BADC", MAPPING_ORDER_BADC },
	{ "CDAB", MAPPING_ORDER_CDAB },
	{ "DCBA", MAPPING_ORDER_DCBA },
	{ "big", MAPPING_ORDER_ABCD, true },
	{ "little", MAPPING_ORDER_DCBA, true },
	{ NULL },
};

static const struct schema_enum_word round_words[] = {
	{ "none", MAPPING_ROUND_NONE },   { "nearest", MAPPING_ROUND_NEAREST },
	{ "floor", MAPPING_ROUND_FLOOR }, { "ceil", MAPPING_ROUND_CEIL },
	{ "trunc", MAPPING_ROUND_TRUNC }, { NULL },
};

static const struct schema_key word_elem = { .kind = SCHEMA_STRING, .max_len = 64 };

#define OFF(f) offsetof(struct res_spec, f)
static const struct schema_key res_keys[] = {
	{ "const", SCHEMA_NODE, .offset = OFF(constant), .node_kind = YNODE_SCALAR,
	  .doc = "a constant value of the resource's type" },
	{ "device", SCHEMA_STRING, .offset = OFF(device), .max_len = 64,
	  .doc = "the value of this device variable (e.g. serial) from the device's configuration" },
	{ "source", SCHEMA_NODE, .offset = OFF(source), .node_kind = -1,
	  .doc = "where the bridge reads the value (bridge-specific)" },
	{ "writable", SCHEMA_BOOL, .offset = OFF(writable), .doc = "LwM2M Write goes back to the source" },
	{ "write", SCHEMA_NODE, .offset = OFF(write), .node_kind = -1,
	  .doc = "where an LwM2M Write goes (bridge-specific), implies writable" },
	{ "execute", SCHEMA_NODE, .offset = OFF(execute), .node_kind = -1,
	  .doc = "the action of an LwM2M Execute (bridge-specific)" },
	{ "raw", SCHEMA_ENUM, .offset = OFF(raw), .words = raw_words, .def_int = MAPPING_RAW_VALUE },
	{ "order", SCHEMA_ENUM, .offset = OFF(order), .words = order_words, .def_int = MAPPING_ORDER_ABCD },
	{ "length", SCHEMA_UINT, .offset = OFF(length), .umin = 1, .umax = 65535 },
	{ "width", SCHEMA_UINT, .offset = OFF(width), .umin = 8, .umax = 64 },
	{ "bit", SCHEMA_UINT, .offset = OFF(bit), .umax = 63 },
	{ "bits", SCHEMA_UINT, .offset = OFF(bits), .umin = 1, .umax = 64 },
	{ "scale", SCHEMA_NODE, .offset = OFF(scale), .node_kind = YNODE_SCALAR },
	{ "offset", SCHEMA_NODE, .offset = OFF(offset), .node_kind = YNODE_SCALAR },
	{ "round", SCHEMA_ENUM, .offset = OFF(round), .words = round_words, .def_int = MAPPING_ROUND_NONE },
	{ "enum", SCHEMA_NODE, .offset = OFF(enum_map), .node_kind = YNODE_MAP },
	{ "true_words", SCHEMA_LIST, .offset = OFF(true_words), .elem = &word_elem, .min_items = 1 },
	{ "false_words", SCHEMA_LIST, .offset = OFF(false_words), .elem = &word_elem, .min_items = 1 },
	{ "min", SCHEMA_NODE, .offset = OFF(min), .node_kind = YNODE_SCALAR },
	{ "max", SCHEMA_NODE, .offset = OFF(max), .node_kind = YNODE_SCALAR },
	{ "unit", SCHEMA_STRING, .offset = OFF(unit), .max_len = 32 },
	{ "poll", SCHEMA_DURATION, .offset = OFF(poll), .umin = 1000, .umax = 7 * USEC_PER_DAY },
	{ "max_age", SCHEMA_DURATION, .offset = OFF(max_age), .umax = 7 * USEC_PER_DAY },
	{ "historical", SCHEMA_BOOL, .offset = OFF(historical),
	  .doc = "every sample reaches the server, observed or not (store-and-forward)" },
	{ "description", SCHEMA_STRING, .offset = OFF(description) },
	{ NULL },
};
#undef OFF

static const struct schema_section res_section = { "resource", sizeof(struct res_spec), res_keys, NULL };

struct defaults_spec {
	uint64_t poll, max_age;
	bool historical;
};

static const struct schema_key defaults_keys[] = {
	{ "poll", SCHEMA_DURATION, .offset = offsetof(struct defaults_spec, poll), .umin = 1000,
	  .umax = 7 * USEC_PER_DAY },
	{ "max_age", SCHEMA_DURATION, .offset = offsetof(struct defaults_spec, max_age),
	  .umax = 7 * USEC_PER_DAY },
	{ "historical", SCHEMA_BOOL, .offset = offsetof(struct defaults_spec, historical) },
	{ NULL },
};

static const struct schema_section defaults_section = { "defaults", sizeof(struct defaults_spec),
							defaults_keys, NULL };

struct top_spec {
	const char *profile, *description, *bridge, *generate, *firmware;
	const struct ynode *include, *objects;
	struct defaults_spec defaults;
};

static const struct schema_key top_keys[] = {
	{ "profile", SCHEMA_STRING, .offset = offsetof(struct top_spec, profile), .max_len = 128 },
	{ "description", SCHEMA_STRING, .offset = offsetof(struct top_spec, description) },
	{ "bridge", SCHEMA_STRING, .offset = offsetof(struct top_spec, bridge), .max_len = 32 },
	{ "generate", SCHEMA_STRING, .offset = offsetof(struct top_spec, generate), .max_len = 32 },
	{ "firmware", SCHEMA_STRING, .offset = offsetof(struct top_spec, firmware), .max_len = 160 },
	{ "include", SCHEMA_NODE, .offset = offsetof(struct top_spec, include), .node_kind = -1 },
	{ "defaults", SCHEMA_SECTION, .offset = offsetof(struct top_spec, defaults),
	  .section = &defaults_section },
	{ "objects", SCHEMA_NODE, .offset = offsetof(struct top_spec, objects), .node_kind = YNODE_MAP },
	{ NULL },
};

static const struct schema_section top_section = { "profile", sizeof(struct top_spec), top_keys, NULL };

/* ---- the set --------------------------------------------------------------------- */

struct mapping_set *mapping_set_new(const struct lwm2m_registry *reg,
				    const struct mapping_source_ops *const *kinds, const char *search_path)
{
	struct mapping_set *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->reg = reg;
	s->kinds = kinds;
	s->search_path = strdup(search_path ? search_path : MAPPING_DEFAULT_PATH);
	if (!s->search_path) {
		free(s);
		return NULL;
	}
	return s;
}

static void profile_free(struct mapping_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->npoints; i++) {
		struct mapping_point *pt = &p->points[i];
		if (!p->owned[i] || !pt->ops || !pt->ops->free)
			continue;
		pt->ops->free(pt->source);
		pt->ops->free(pt->write);
		pt->ops->free(pt->execute);
	}
	for (size_t i = 0; i < p->nblocks; i++)
		free(p->blocks[i]);
	free(p->blocks);
	free(p->points);
	free(p->owned);
	free(p->inst);
	ydoc_free(p->doc);
	free(p->name);
	free(p->file);
	free(p);
}

struct mapping_set *mapping_set_free(struct mapping_set *set)
{
	if (!set)
		return NULL;
	/* Later profiles may share sources of earlier ones; sources are freed
	 * by their owner only, so order does not matter. */
	for (size_t i = 0; i < set->n; i++) {
		profile_free(set->v[i].p);
		free(set->v[i].name);
	}
	free(set->v);
	free(set->search_path);
	free(set);
	return NULL;
}

const char *mapping_set_search_path(const struct mapping_set *set)
{
	return set->search_path;
}

size_t mapping_set_count(const struct mapping_set *set)
{
	size_t n = 0;

	for (size_t i = 0; i < set->n; i++)
		n += set->v[i].status == 0 && set->v[i].p;
	return n;
}

static struct set_entry *set_find(struct mapping_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

static struct set_entry *set_add(struct mapping_set *set, const char *name)
{
	if (set->n == set->cap) {
		size_t nc = set->cap ? set->cap * 2 : 16;
		struct set_entry *nv = realloc(set->v, nc * sizeof(*nv));
		if (!nv)
			return NULL;
		set->v = nv;
		set->cap = nc;
	}
	struct set_entry *e = &set->v[set->n];
	*e = (struct set_entry){ .name = strdup(name) };
	if (!e->name)
		return NULL;
	set->n++;
	return e;
}

/* Profile names are file names without a directory: [A-Za-z0-9_.-], no
 * leading dot (no "../x", no hidden files). */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 128 && s[0] != '.' &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* First <dir>/<name>.yaml on the path, malloc'ed, or NULL. */
static char *find_file(const struct mapping_set *set, const char *name)
{
	const char *p = set->search_path;

	while (*p) {
		size_t dl = strcspn(p, ":");
		char *path = NULL;
		if (dl > 0 && asprintf(&path, "%.*s/%s.yaml", (int)dl, p, name) >= 0) {
			if (access(path, R_OK) == 0)
				return path;
			free(path);
		}
		p += dl;
		if (*p == ':')
			p++;
	}
	return NULL;
}

/* A known profile name close to name, from the set and the search path. */
static char *suggest_name(const struct mapping_set *set, const char *name)
{
	const char **cands = NULL;
	char **owned = NULL;
	size_t nc = 0, no = 0;
	char *res = NULL;
	const char *p = set->search_path;

	for (size_t i = 0; i < set->n; i++) {
		const char **nv = realloc(cands, (nc + 2) * sizeof(*nv));
		if (!nv)
			goto out;
		cands = nv;
		cands[nc++] = set->v[i].name;
	}
	while (*p) {
		size_t dl = strcspn(p, ":");
		char *dir = strndup(p, dl);
		DIR *d = dir && dl ? opendir(dir) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d))) {
			size_t l = strlen(de->d_name);
			if (l <= 5 || strcmp(de->d_name + l - 5, ".yaml") != 0 || de->d_name[0] == '.')
				continue;
			char **no2 = realloc(owned, (no + 1) * sizeof(*no2));
			const char **nv = realloc(cands, (nc + 2) * sizeof(*nv));
			if (no2)
				owned = no2;
			if (nv)
				cands = nv;
			if (!no2 || !nv || !(owned[no] = strndup(de->d_name, l - 5)))
				break;
			cands[nc++] = owned[no++];
		}
		if (d)
			closedir(d);
		free(dir);
		p += dl;
		if (*p == ':')
			p++;
	}
	if (cands) {
		cands[nc] = NULL;
		const char *h = schema_suggest(name, cands);
		if (h)
			res = strdup(h);
	}
out:
	for (size_t i = 0; i < no; i++)
		free(owned[i]);
	free(owned);
	free(cands);
	return res;
}

static int load_doc(struct mapping_set *set, const char *name, struct ydoc *doc, struct diag *diag,
		    struct mapping_profile **out);

static int get_profile(struct mapping_set *set, const char *name, const struct ynode *at, struct diag *diag,
		       const struct mapping_profile **out)
{
	struct set_entry *e;
	char *path;
	struct ydoc *doc = NULL;
	struct mapping_profile *p = NULL;
	int r;

	if (!name_ok(name)) {
		diag_report(
			diag, DIAG_ERROR, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0,
			"invalid profile name '%s': a file name without directory, of letters, digits, '_', "
			"'.' and '-'",
			name);
		return -EINVAL;
	}
	e = set_find(set, name);
	if (e && e->loading) {
		char chain[1024] = "";
		size_t len = 0;
		for (size_t i = 0; i < set->depth; i++)
			if (strcmp(set->stack[i], name) == 0) {
				for (size_t j = i; j < set->depth && len < sizeof(chain); j++)
					len += (size_t)snprintf(chain + len, sizeof(chain) - len, "%s -> ",
								set->stack[j]);
				break;
			}
		diag_report(diag, DIAG_ERROR, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0,
			    "include cycle: %s%s", chain, name);
		return -ELOOP;
	}
	if (e) {
		*out = e->p;
		return e->status;
	}
	path = find_file(set, name);
	if (!path) {
		char *hint = suggest_name(set, name);
		if (hint)
			diag_report(
				diag, DIAG_ERROR, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0,
				"unknown profile '%s', did you mean '%s'? (no %s.yaml in the search path %s)",
				name, hint, name, set->search_path);
		else
			diag_report(diag, DIAG_ERROR, at ? at->file : NULL, at ? at->line : 0,
				    at ? at->col : 0,
				    "unknown profile '%s' (no %s.yaml in the search path %s)", name, name,
				    set->search_path);
		free(hint);
		return -ENOENT;
	}
	e = set_add(set, name);
	if (!e) {
		free(path);
		return -ENOMEM;
	}
	size_t idx = (size_t)(e - set->v);
	e->loading = true;
	r = ydoc_load_file(path, NULL, diag, &doc);
	free(path);
	if (r == 0)
		r = load_doc(set, name, doc, diag, &p);
	else
		r = r == -ENOMEM ? r : -EINVAL;
	e = &set->v[idx]; /* set->v may have moved while loading includes */
	e->loading = false;
	e->status = r;
	e->p = p;
	*out = p;
	return r;
}

int mapping_set_get(struct mapping_set *set, const char *name, const struct ynode *at, struct diag *diag,
		    const struct mapping_profile **out)
{
	const struct mapping_profile *p = NULL;
	int r;

	if (!set || !name || !out)
		return -EINVAL;
	r = get_profile(set, name, at, diag, &p);
	*out = r == 0 ? p : NULL;
	return r;
}

static int load_named(struct mapping_set *set, const char *name, struct ydoc *doc, int r, struct diag *diag,
		      const struct mapping_profile **out)
{
	struct set_entry *e;
	struct mapping_profile *p = NULL;

	if (out)
		*out = NULL;
	if (!name_ok(name)) {
		diag_report(diag, DIAG_ERROR, NULL, 0, 0, "invalid profile name '%s'", name);
		ydoc_free(doc);
		return -EINVAL;
	}
	if (set_find(set, name)) {
		ydoc_free(doc);
		return -EEXIST;
	}
	e = set_add(set, name);
	if (!e) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	size_t idx = (size_t)(e - set->v);
	if (r == 0) {
		e->loading = true;
		r = load_doc(set, name, doc, diag, &p);
	} else {
		r = r == -ENOMEM ? r : -EINVAL;
	}
	e = &set->v[idx];
	e->loading = false;
	e->status = r;
	e->p = p;
	if (out && r == 0)
		*out = p;
	return r;
}

int mapping_set_load_buffer(struct mapping_set *set, const char *name, const char *file, const void *data,
			    size_t len, struct diag *diag, const struct mapping_profile **out)
{
	struct ydoc *doc = NULL;
	int r;

	if (!set || !name)
		return -EINVAL;
	r = ydoc_load_buffer(file ? file : name, data, len, NULL, diag, &doc);
	return load_named(set, name, doc, r, diag, out);
}

int mapping_set_load_file(struct mapping_set *set, const char *name, const char *path, struct diag *diag,
			  const struct mapping_profile **out)
{
	struct ydoc *doc = NULL;
	int r;

	if (!set || !name || !path)
		return -EINVAL;
	r = ydoc_load_file(path, NULL, diag, &doc);
	return load_named(set, name, doc, r, diag, out);
}

/* ---- building a profile ----------------------------------------------------------- */

static int add_point(struct mapping_profile *p, const struct mapping_point *pt, bool owned)
{
	struct mapping_point *np = realloc(p->points, (p->npoints + 1) * sizeof(*np));
	bool *no;

	if (!np)
		return -ENOMEM;
	p->points = np;
	no = realloc(p->owned, (p->npoints + 1) * sizeof(*no));
	if (!no)
		return -ENOMEM;
	p->owned = no;
	p->points[p->npoints] = *pt;
	p->owned[p->npoints] = owned;
	p->npoints++;
	return 0;
}

static bool path_eq(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
	return lwm2m_path_cmp(a, b) == 0;
}

/* Remove points at or below path (an inherited definition being replaced or
 * removed). Inherited points are never owned, so nothing is freed. */
static void remove_points(struct mapping_profile *p, const struct lwm2m_path *path)
{
	size_t j = 0;

	for (size_t i = 0; i < p->npoints; i++) {
		if (lwm2m_path_is_under(&p->points[i].path, path) && !p->owned[i])
			continue;
		p->points[j] = p->points[i];
		p->owned[j] = p->owned[i];
		j++;
	}
	p->npoints = j;
}

static bool has_instance(const struct mapping_profile *p, const struct lwm2m_path *ip)
{
	for (size_t i = 0; i < p->ninst; i++)
		if (path_eq(&p->inst[i], ip))
			return true;
	return false;
}

static int add_instance(struct mapping_profile *p, const struct lwm2m_path *ip)
{
	struct lwm2m_path *ni;

	if (has_instance(p, ip))
		return 0;
	ni = realloc(p->inst, (p->ninst + 1) * sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	p->inst = ni;
	p->inst[p->ninst++] = *ip;
	return 0;
}

static void remove_instance(struct mapping_profile *p, const struct lwm2m_path *ip)
{
	size_t j = 0;

	for (size_t i = 0; i < p->ninst; i++)
		if (!path_eq(&p->inst[i], ip))
			p->inst[j++] = p->inst[i];
	p->ninst = j;
}

static int include_one(struct loader *L, const struct ynode *n)
{
	const struct mapping_profile *base = NULL;
	char name[160];
	int r;

	if (n->kind != YNODE_SCALAR || ynode_is_null(n)) {
		lerr(L, n, "'include' must name a profile (a string), got %s", ynode_describe(n));
		return -EINVAL;
	}
	if (n->scalar.len >= sizeof(name) || strlen(n->scalar.str) != n->scalar.len) {
		lerr(L, n, "invalid profile name in 'include'");
		return -EINVAL;
	}
	memcpy(name, n->scalar.str, n->scalar.len + 1);
	if (L->set->depth >= sizeof(L->set->stack) / sizeof(L->set->stack[0])) {
		lerr(L, n, "includes nested too deeply (more than %zu levels)",
		     sizeof(L->set->stack) / sizeof(L->set->stack[0]));
		return -ELOOP;
	}
	r = get_profile(L->set, name, n, L->diag, &base);
	if (r < 0) {
		/* Unknown names and cycles were reported here; a base with
		 * errors reported its own: say why this profile fails too. */
		L->errors++;
		if (r == -EINVAL)
			diag_report(L->diag, DIAG_ERROR, n->file, n->line, n->col,
				    "included profile '%s' has errors", name);
		return r;
	}
	if (base->ops) {
		if (L->p->ops && L->p->ops != base->ops) {
			lerr(L, n, "included profile '%s' is for bridge '%s', this one for '%s'", name,
			     base->ops->kind, L->p->ops->kind);
			return -EINVAL;
		}
		L->p->ops = base->ops;
	}
	if (base->firmware)
		L->p->firmware = base->firmware;
	for (size_t i = 0; i < base->ninst; i++) {
		r = add_instance(L->p, &base->inst[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < base->npoints; i++) {
		remove_points(L->p, &base->points[i].path); /* an earlier include's definition */
		r = add_point(L->p, &base->points[i], false);
		if (r < 0)
			return r;
	}
	return 0;
}

/* `generate: <what>`: a word the bridge kind's parser accepts. */
static const char *check_generate(struct loader *L, const struct ynode *at, const char *what, bool has_bridge,
				  const struct mapping_source_ops *ops)
{
	const char *const *w = ops ? ops->generators : NULL;
	size_t n = 0;
	char *list;

	if (!has_bridge) {
		lerr(L, at, "'generate: %s' needs a 'bridge:' (the bridge kind generates the profile)", what);
		return NULL;
	}
	if (!ops)
		return NULL; /* the unknown bridge is reported */
	for (size_t i = 0; w && w[i]; i++)
		if (strcmp(w[i], what) == 0)
			return w[i];
	while (w && w[n])
		n++;
	list = join(w, n, ", ");
	const char *hint = w ? schema_suggest(what, w) : NULL;
	if (hint)
		lerr(L, at, "%s bridges cannot generate '%s', did you mean '%s'? (they generate: %s)",
		     ops->kind, what, hint, list && *list ? list : "nothing");
	else
		lerr(L, at, "%s bridges cannot generate '%s' (they generate: %s)", ops->kind, what,
		     list && *list ? list : "nothing");
	free(list);
	return NULL;
}

static const struct mapping_source_ops *find_kind(struct loader *L, const struct ynode *at, const char *kind)
{
	const char *names[64];
	size_t n = 0;

	for (size_t i = 0; L->set->kinds && L->set->kinds[i] && n < 63; i++) {
		if (strcmp(L->set->kinds[i]->kind, kind) == 0)
			return L->set->kinds[i];
		names[n++] = L->set->kinds[i]->kind;
	}
	names[n] = NULL;
	const char *hint = schema_suggest(kind, names);
	char *list = join(names, n, ", ");
	if (hint)
		lerr(L, at, "unknown bridge '%s', did you mean '%s'? (available: %s)", kind, hint,
		     list && *list ? list : "none");
	else
		lerr(L, at, "unknown bridge '%s' (available: %s)", kind, list && *list ? list : "none");
	free(list);
	return NULL;
}

/* An id: decimal 0..65534, nothing else. */
static int parse_id(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > LWM2M_ID_MAX)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static void suggest_resource(struct loader *L, const struct ynode *kn, const struct lwm2m_objdef *od)
{
	const char **names = calloc((size_t)od->nres + 1, sizeof(*names));
	const char *hint = NULL;
	const struct lwm2m_resdef *hd = NULL;

	if (names) {
		size_t n = 0;
		for (size_t i = 0; i < od->nres; i++)
			if (od->res[i].name)
				names[n++] = od->res[i].name;
		hint = schema_suggest(kn->scalar.str, names);
		for (size_t i = 0; hint && i < od->nres; i++)
			if (od->res[i].name == hint)
				hd = &od->res[i];
	}
	if (hd)
		lerr(L, kn, "unknown resource '%s' in object %u (%s), did you mean %u (%s)?", kn->scalar.str,
		     od->oid, od->name ? od->name : "?", hd->rid, hd->name);
	else
		lerr(L, kn, "unknown resource '%s' in object %u (%s): resources are numbers such as %u (%s)",
		     kn->scalar.str, od->oid, od->name ? od->name : "?", od->nres ? od->res[0].rid : 0,
		     od->nres ? res_name(&od->res[0]) : "?");
	free(names);
}

static const char *ops_text(uint8_t ops, char buf[8])
{
	size_t n = 0;

	if (ops & LWM2M_OP_R)
		buf[n++] = 'R';
	if (ops & LWM2M_OP_W)
		buf[n++] = 'W';
	if (ops & LWM2M_OP_E)
		buf[n++] = 'E';
	if (!n)
		buf[n++] = '-';
	buf[n] = '\0';
	return buf;
}

static bool value_in_ddf_range(const struct lwm2m_resdef *d, const struct lwm2m_value *v)
{
	if (!(d->flags & LWM2M_RES_HAS_RANGE))
		return true;
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		return (double)v->i >= d->min && (double)v->i <= d->max;
	case LWM2M_TYPE_UNSIGNED:
		return (double)v->u >= d->min && (double)v->u <= d->max;
	case LWM2M_TYPE_FLOAT:
		return v->f >= d->min && v->f <= d->max;
	case LWM2M_TYPE_STRING:
		/* Ranges of strings are lengths. */
		return (double)v->bytes.len >= d->min && (double)v->bytes.len <= d->max;
	default:
		return true;
	}
}

static const char *type_hint(enum lwm2m_type t)
{
	switch (t) {
	case LWM2M_TYPE_INTEGER:
		return "a decimal integer";
	case LWM2M_TYPE_UNSIGNED:
		return "a non-negative decimal integer";
	case LWM2M_TYPE_FLOAT:
		return "a decimal number";
	case LWM2M_TYPE_BOOLEAN:
		return "true or false";
	case LWM2M_TYPE_TIME:
		return "seconds since 1970 (an integer)";
	case LWM2M_TYPE_OBJLNK:
		return "an object link 'oid:iid'";
	default:
		return "a string";
	}
}

/* A scalar as a value of the resource's type; reported on failure. */
static int scalar_value(struct loader *L, const struct ynode *n, const struct mapping_point *pt,
			const char *what, struct lwm2m_value *out)
{
	char pb[32];
	int r;

	if (n->kind != YNODE_SCALAR) {
		lerr(L, n, "%s of %s must be a scalar, got %s", what, ptxt(&pt->path, pb), ynode_describe(n));
		return -EINVAL;
	}
	r = mapping_value_from_text((enum lwm2m_type)pt->type, n->scalar.str, n->scalar.len, out);
	if (r < 0) {
		lerr(L, n, "invalid %s '%s' for %s (%s, %s): expected %s", what, n->scalar.str,
		     ptxt(&pt->path, pb), res_name(pt->def), lwm2m_type_name((enum lwm2m_type)pt->type),
		     type_hint((enum lwm2m_type)pt->type));
		return -EINVAL;
	}
	if (!value_in_ddf_range(pt->def, out)) {
		lerr(L, n, "%s '%s' for %s (%s) is outside the object definition's range %g..%g", what,
		     n->scalar.str, ptxt(&pt->path, pb), res_name(pt->def), pt->def->min, pt->def->max);
		return -EINVAL;
	}
	return 0;
}

static int parse_enum_map(struct loader *L, const struct ynode *map, struct mapping_point *pt)
{
	struct mapping_enum_entry *tab;
	enum mapping_raw raw = (enum mapping_raw)pt->xf.raw;
	int r;

	if (map->map.n == 0) {
		lerr(L, map, "'enum' must have at least one entry");
		return -EINVAL;
	}
	tab = calloc(map->map.n, sizeof(*tab));
	if (!tab || keep_block(L->p, tab) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < map->map.n; i++) {
		const struct ynode *k = ynode_map_key(map, i), *v = ynode_map_value(map, i);
		struct mapping_enum_entry *e = &tab[i];
		if (raw == MAPPING_RAW_STRING) {
			e->raw = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
						       .bytes = { (const uint8_t *)k->scalar.str,
								  k->scalar.len } };
		} else if (raw == MAPPING_RAW_VALUE && k->style == YSCALAR_QUOTED) {
			/* "0" quoted: the device sends the text, not the number. */
			e->raw = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
						       .bytes = { (const uint8_t *)k->scalar.str,
								  k->scalar.len } };
		} else if (schema_parse_int(k->scalar.str, &e->raw.i) == 0) {
			e->raw.type = LWM2M_TYPE_INTEGER;
		} else if (schema_parse_uint(k->scalar.str, &e->raw.u) == 0) {
			e->raw.type = LWM2M_TYPE_UNSIGNED;
		} else if (raw == MAPPING_RAW_VALUE) {
			bool b;
			if (k->style == YSCALAR_PLAIN && schema_parse_bool(k->scalar.str, &b) == 0 &&
			    (strcasecmp(k->scalar.str, "true") == 0 ||
			     strcasecmp(k->scalar.str, "false") == 0))
				e->raw = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = b };
			else
				e->raw = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
							       .bytes = { (const uint8_t *)k->scalar.str,
									  k->scalar.len } };
		} else {
			lerr(L, k, "enum key '%s' must be an integer: raw type '%s' is numeric",
			     k->scalar.str, mapping_raw_name(raw));
			continue;
		}
		r = scalar_value(L, v, pt, "enum value", &e->val);
		if (r == -ENOMEM)
			return r;
	}
	pt->xf.enums = tab;
	pt->xf.nenums = map->map.n;
	return 0;
}

static int copy_words(struct loader *L, const struct schema_list *l, const char *const **out, size_t *n)
{
	const char **w;

	if (!l->n)
		return 0;
	w = calloc(l->n, sizeof(*w));
	if (!w || keep_block(L->p, w) < 0)
		return -ENOMEM;
	memcpy(w, l->items, l->n * sizeof(*w));
	*out = w;
	*n = l->n;
	return 0;
}

/* Only with a source: these keys describe how a field value is decoded. */
static const char *const transform_keys[] = { "raw",        "order",       "length", "width", "bit",
					      "bits",       "scale",       "offset", "round", "enum",
					      "true_words", "false_words", "min",    "max",   "poll",
					      "max_age",    NULL };

static int build_point(struct loader *L, const struct ynode *kn, const struct ynode *vn,
		       struct mapping_point *pt, const struct top_spec *top)
{
	struct res_spec rs = { 0 };
	struct mapping_transform *xf = &pt->xf;
	enum lwm2m_type type = (enum lwm2m_type)pt->type;
	unsigned before = L->errors;
	struct diag *d = L->diag;
	unsigned derr = d ? d->errors : 0;
	char pb[32], ob[8];
	int r;

	const char *pathtxt = ptxt(&pt->path, pb);
	/* Messages name the resource: "unknown key 'sorce' in '/3303/0/5700'". */
	struct schema_ctx sctx = { .diag = L->diag, .userdata = L };
	schema_path_push_key(&sctx, pathtxt);
	r = schema_parse_section(&sctx, &res_section, vn, &rs);
	if (r == -ENOMEM)
		goto out;
	if (r < 0 || sctx.errors)
		L->errors++;

	const struct ynode *given[3] = { rs.constant, ynode_map_get(vn, "device"), rs.source };
	const char *given_names[3] = { "const", "device", "source" };
	size_t ngiven = 0;
	for (size_t i = 0; i < 3; i++) {
		if (!given[i])
			continue;
		if (ngiven++)
			lerr(L,
			     ynode_map_get(vn, given_names[i]) ? ynode_map_get(vn, given_names[i]) - 1 : vn,
			     "%s: give one of 'const', 'device' or 'source', not several", pathtxt);
	}

	if (type == LWM2M_TYPE_NONE && (rs.constant || rs.device || rs.source)) {
		lerr(L, kn, "%s (%s) is executable and has no value: use 'execute:', not a value source",
		     pathtxt, res_name(pt->def));
	}
	pt->from = MAPPING_FROM_NONE;
	pt->unit = rs.unit ? rs.unit : pt->def->units;
	pt->poll_usec = rs.poll ? rs.poll : top->defaults.poll;
	pt->max_age_usec = rs.max_age ? rs.max_age : top->defaults.max_age;
	pt->historical = rs.historical || top->defaults.historical;
	pt->file = kn->file;
	pt->line = kn->line;
	pt->col = kn->col;

	if (rs.constant && type != LWM2M_TYPE_NONE) {
		pt->from = MAPPING_FROM_CONST;
		scalar_value(L, rs.constant, pt, "constant", &pt->constant);
	} else if (rs.device) {
		pt->from = MAPPING_FROM_DEVICE;
		pt->device_var = rs.device;
	} else if (rs.source) {
		pt->from = MAPPING_FROM_SOURCE;
	}

	/* A write-only resource (a register that cannot be read back) has a
	 * transform too: its inverse encodes what is written. */
	if (pt->from != MAPPING_FROM_SOURCE) {
		for (size_t i = 0; transform_keys[i]; i++) {
			const struct ynode *tn = ynode_map_get(vn, transform_keys[i]);
			bool timing =
				!strcmp(transform_keys[i], "poll") || !strcmp(transform_keys[i], "max_age");
			if (tn && (!rs.write || timing))
				lerr(L, tn - 1, "'%s' of %s only applies to a resource with a 'source:'%s",
				     transform_keys[i], pathtxt, timing ? "" : " or 'write:'");
		}
	}

	/* The bridge part. */
	if ((rs.source || rs.write || rs.execute || rs.writable) && !L->p->ops) {
		const struct ynode *at = rs.source    ? rs.source
					 : rs.write   ? rs.write
					 : rs.execute ? rs.execute
						      : vn;
		lerr(L, at,
		     "%s: a source or action needs the profile's 'bridge:' (the bridge kind that reads it)",
		     pathtxt);
	}
	pt->ops = L->p->ops;
	if (pt->from == MAPPING_FROM_SOURCE) {
		if (!(pt->def->ops & LWM2M_OP_R) && type != LWM2M_TYPE_NONE)
			lerr(L, kn,
			     "%s (%s) is not readable (operations: %s): a source cannot feed it; use "
			     "'write:'",
			     pathtxt, res_name(pt->def), ops_text(pt->def->ops, ob));
		if (pt->ops && pt->ops->parse) {
			r = pt->ops->parse(MAPPING_ROLE_READ, rs.source, L->diag, &pt->source);
			if (r == -ENOMEM)
				goto out;
			if (r < 0)
				L->errors++;
		}
	}
	if (rs.writable || rs.write) {
		if (!(pt->def->ops & LWM2M_OP_W)) {
			const struct ynode *at = rs.write ? rs.write - 1 : ynode_map_get(vn, "writable") - 1;
			lerr(L, at,
			     "%s (%s) is read-only in object %u (operations: %s): it cannot be written",
			     pathtxt, res_name(pt->def), pt->path.id[0], ops_text(pt->def->ops, ob));
		} else if (!rs.write && pt->from != MAPPING_FROM_SOURCE) {
			lerr(L, ynode_map_get(vn, "writable") - 1,
			     "%s: 'writable: true' writes back to the 'source:', and there is none; give "
			     "'write:'",
			     pathtxt);
		} else if (pt->ops && pt->ops->parse) {
			pt->writable = true;
			r = pt->ops->parse(MAPPING_ROLE_WRITE, rs.write, L->diag, &pt->write);
			if (r == -ENOMEM)
				goto out;
			if (r < 0)
				L->errors++;
		}
	}
	if (rs.execute) {
		if (!(pt->def->ops & LWM2M_OP_E)) {
			lerr(L, rs.execute - 1, "%s (%s) is not executable (operations: %s)", pathtxt,
			     res_name(pt->def), ops_text(pt->def->ops, ob));
		} else if (pt->ops && pt->ops->parse) {
			pt->executable = true;
			r = pt->ops->parse(MAPPING_ROLE_EXECUTE, rs.execute, L->diag, &pt->execute);
			if (r == -ENOMEM)
				goto out;
			if (r < 0)
				L->errors++;
		}
	}

	/* The transform. */
	xf->raw = (uint8_t)rs.raw;
	xf->order = (uint8_t)rs.order;
	xf->round = (uint8_t)rs.round;
	xf->length = (uint32_t)rs.length;
	xf->bit = (uint8_t)rs.bit;
	xf->bits = (uint8_t)rs.bits;
	const char *rawname = mapping_raw_name((enum mapping_raw)rs.raw);
	const struct ynode *rawn = ynode_map_get(vn, "raw");
	bool numeric_raw = rs.raw != MAPPING_RAW_VALUE && rs.raw != MAPPING_RAW_STRING;
	bool integer_raw = numeric_raw && !(rs.raw == MAPPING_RAW_FLOAT32 || rs.raw == MAPPING_RAW_FLOAT64);

	if (rs.width) {
		if (rs.raw != MAPPING_RAW_BITS)
			lerr(L, ynode_map_get(vn, "width"), "'width' applies to raw 'bits' only");
		else if (rs.width != 8 && rs.width != 16 && rs.width != 32 && rs.width != 64)
			lerr(L, ynode_map_get(vn, "width"), "invalid width %llu (expected 8, 16, 32 or 64)",
			     (unsigned long long)rs.width);
		else
			xf->width = (uint8_t)rs.width;
	}
	if (rs.length && rs.raw != MAPPING_RAW_STRING)
		lerr(L, ynode_map_get(vn, "length"), "'length' applies to raw 'string' only (raw is '%s')",
		     rawname);
	if ((ynode_map_get(vn, "bit") || rs.bits) && !integer_raw)
		lerr(L, ynode_map_get(vn, "bit") ? ynode_map_get(vn, "bit") : ynode_map_get(vn, "bits"),
		     "bit extraction needs an integer raw type or 'bits' (raw is '%s')", rawname);
	else if (integer_raw && (ynode_map_get(vn, "bit") || rs.bits || rs.raw == MAPPING_RAW_BITS)) {
		unsigned width = (unsigned)mapping_raw_size((enum mapping_raw)rs.raw, xf->width) * 8;
		unsigned count = rs.bits ? (unsigned)rs.bits : 1;
		if (rs.bit + count > width)
			lerr(L, ynode_map_get(vn, "bit") ? ynode_map_get(vn, "bit") : vn,
			     "bits %llu..%llu do not fit a %u-bit raw value", (unsigned long long)rs.bit,
			     (unsigned long long)(rs.bit + count - 1), width);
	}
	if ((rs.raw == MAPPING_RAW_INT24 || rs.raw == MAPPING_RAW_UINT24) &&
	    (rs.order == MAPPING_ORDER_BADC || rs.order == MAPPING_ORDER_CDAB))
		lerr(L, ynode_map_get(vn, "order"),
		     "order %s needs whole 16-bit words; a 24-bit value takes ABCD or DCBA",
		     order_words[rs.order].word);

	const struct ynode *scn = rs.scale, *ofn = rs.offset;
	double scale = 1, offset = 0;
	if (scn && parse_number(scn, &scale) < 0)
		lerr(L, scn, "invalid scale '%s' of %s: expected a decimal number", scn->scalar.str, pathtxt);
	else if (scn && scale == 0)
		lerr(L, scn, "scale of %s must not be 0 (writes could not be inverted)", pathtxt);
	if (ofn && parse_number(ofn, &offset) < 0)
		lerr(L, ofn, "invalid offset '%s' of %s: expected a decimal number", ofn->scalar.str,
		     pathtxt);
	if (scale != 1 || offset != 0) {
		xf->has_scale = true;
		xf->scale = scale;
		xf->offset = offset;
		if (scale != 0 && fabs(scale) < 1) {
			double inv = 1.0 / scale, ni = nearbyint(inv);
			if (ni >= 2 && ni < 1e15 && 1.0 / ni == scale)
				xf->scale_div = (uint64_t)ni;
		}
	}
	if (pt->from != MAPPING_FROM_SOURCE)
		; /* reported above: no transform without a source */
	else if ((scn || ofn) && (rs.enum_map || rs.raw == MAPPING_RAW_STRING || type == LWM2M_TYPE_BOOLEAN ||
				  type_is_bytes(type)))
		lerr(L, scn ? scn - 1 : ofn - 1,
		     "scale/offset of %s need a numeric value and a numeric resource without 'enum' "
		     "(resource is %s)",
		     pathtxt, lwm2m_type_name(type));
	else if (xf->has_scale && type_is_integer(type) && rs.round == MAPPING_ROUND_NONE &&
		 (scale != nearbyint(scale) || offset != nearbyint(offset)))
		lerr(L, scn ? scn : ofn,
		     "scale %g / offset %g of %s give fractions, but %s (%s) is an %s resource: map it to a "
		     "Float "
		     "resource or set 'round:'",
		     scale, offset, pathtxt, pathtxt, res_name(pt->def), lwm2m_type_name(type));

	if (pt->from == MAPPING_FROM_SOURCE && !rs.enum_map) {
		if (rs.raw == MAPPING_RAW_STRING && !type_is_bytes(type) && type != LWM2M_TYPE_BOOLEAN)
			lerr(L, rawn,
			     "raw 'string' cannot become %s (%s, %s): a String is not a number; use 'enum:', "
			     "or "
			     "raw 'value' for text numbers",
			     pathtxt, res_name(pt->def), lwm2m_type_name(type));
		else if (numeric_raw && (type_is_bytes(type) || type == LWM2M_TYPE_OBJLNK))
			lerr(L, rawn, "raw '%s' cannot become %s (%s, %s) without an 'enum:'", rawname,
			     pathtxt, res_name(pt->def), lwm2m_type_name(type));
		else if ((rs.raw == MAPPING_RAW_FLOAT32 || rs.raw == MAPPING_RAW_FLOAT64) &&
			 type_is_integer(type) && rs.round == MAPPING_ROUND_NONE)
			lerr(L, rawn,
			     "raw '%s' into %s (%s), an %s resource, would truncate: map it to a Float "
			     "resource or "
			     "set 'round:'",
			     rawname, pathtxt, res_name(pt->def), lwm2m_type_name(type));
		else if (type == LWM2M_TYPE_OBJLNK && rs.raw == MAPPING_RAW_VALUE)
			lerr(L, kn, "%s is an Objlnk: only 'enum:' can map field values to it", pathtxt);
	}
	if (rs.enum_map && pt->from == MAPPING_FROM_SOURCE) {
		r = parse_enum_map(L, rs.enum_map, pt);
		if (r < 0)
			goto out;
	}
	if (rs.true_words.n || rs.false_words.n) {
		if (type != LWM2M_TYPE_BOOLEAN && !rs.enum_map)
			lerr(L, ynode_map_get(vn, rs.true_words.n ? "true_words" : "false_words") - 1,
			     "true_words/false_words need a Boolean resource (%s is %s)", pathtxt,
			     lwm2m_type_name(type));
		if (copy_words(L, &rs.true_words, &xf->true_words, &xf->ntrue) < 0 ||
		    copy_words(L, &rs.false_words, &xf->false_words, &xf->nfalse) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (rs.min || rs.max) {
		if (!type_is_numeric(type))
			lerr(L, (rs.min ? rs.min : rs.max) - 1, "min/max need a numeric resource (%s is %s)",
			     pathtxt, lwm2m_type_name(type));
		if (rs.min && parse_number(rs.min, &xf->min) < 0)
			lerr(L, rs.min, "invalid min '%s': expected a decimal number", rs.min->scalar.str);
		else if (rs.min)
			xf->has_min = true;
		if (rs.max && parse_number(rs.max, &xf->max) < 0)
			lerr(L, rs.max, "invalid max '%s': expected a decimal number", rs.max->scalar.str);
		else if (rs.max)
			xf->has_max = true;
		if (xf->has_min && xf->has_max && xf->min > xf->max)
			lerr(L, rs.max, "max %g of %s is below its min %g", xf->max, pathtxt, xf->min);
	}

	if (L->errors == before && (!d || d->errors == derr) && pt->ops && pt->ops->check &&
	    pt->from == MAPPING_FROM_SOURCE) {
		r = pt->ops->check(pt, L->diag);
		if (r == -ENOMEM)
			goto out;
		if (r < 0)
			L->errors++;
	}
	r = 0;
out:
	schema_free(&res_section, &rs);
	return r;
}

static void free_point_sources(struct mapping_point *pt)
{
	if (pt->ops && pt->ops->free) {
		pt->ops->free(pt->source);
		pt->ops->free(pt->write);
		pt->ops->free(pt->execute);
	}
	pt->source = pt->write = pt->execute = NULL;
}

static int parse_instance(struct loader *L, const struct ynode *kn, const struct ynode *vn,
			  const struct top_spec *top)
{
	struct lwm2m_path ip;
	const struct lwm2m_objdef *od;
	char pb[32];
	int r;

	if (lwm2m_path_parse(kn->scalar.str, kn->scalar.len, &ip, NULL) < 0 || ip.len != 2) {
		lerr(L, kn,
		     "invalid instance '%s' in 'objects': expected '/<object>/<instance>', e.g. '/3303/0'",
		     kn->scalar.str);
		return 0;
	}
	od = lwm2m_registry_find(L->set->reg, ip.id[0]);
	if (!od) {
		lerr(L, kn,
		     "unknown object %u in '%s': the registry has no definition of it (add its DDF file to "
		     "the "
		     "objects directory)",
		     ip.id[0], kn->scalar.str);
		return 0;
	}
	if (ynode_is_null(vn)) {
		/* Remove an inherited instance. */
		remove_points(L->p, &ip);
		remove_instance(L->p, &ip);
		return 0;
	}
	if (vn->kind != YNODE_MAP) {
		lerr(L, vn, "instance %s must be a mapping of resources, got %s", ptxt(&ip, pb),
		     ynode_describe(vn));
		return 0;
	}
	if (!(od->flags & LWM2M_OBJ_MULTIPLE)) {
		for (size_t i = 0; i < L->p->ninst; i++)
			if (L->p->inst[i].id[0] == ip.id[0] && L->p->inst[i].id[1] != ip.id[1]) {
				lerr(L, kn,
				     "object %u (%s) is single-instance, and the profile already has "
				     "instance /%u/%u",
				     ip.id[0], od->name ? od->name : "?", ip.id[0], L->p->inst[i].id[1]);
				return 0;
			}
	}
	r = add_instance(L->p, &ip);
	if (r < 0)
		return r;

	for (size_t i = 0; i < vn->map.n; i++) {
		const struct ynode *rk = ynode_map_key(vn, i), *rv = ynode_map_value(vn, i);
		const char *s = rk->scalar.str, *slash = memchr(s, '/', rk->scalar.len);
		struct mapping_point pt = { 0 };
		uint16_t rid, riid = 0;

		if (parse_id(s, slash ? (size_t)(slash - s) : rk->scalar.len, &rid) < 0 ||
		    (slash && parse_id(slash + 1, rk->scalar.len - (size_t)(slash + 1 - s), &riid) < 0)) {
			if (!slash)
				suggest_resource(L, rk, od);
			else
				lerr(L, rk,
				     "invalid resource '%s': expected '<resource>' or "
				     "'<resource>/<instance>'",
				     s);
			continue;
		}
		pt.def = lwm2m_objdef_find_res(od, rid);
		if (!pt.def) {
			lerr(L, rk, "unknown resource %u in object %u (%s)", rid, od->oid,
			     od->name ? od->name : "?");
			continue;
		}
		pt.type = pt.def->type;
		pt.path = slash ? LWM2M_PATH(ip.id[0], ip.id[1], rid, riid)
				: LWM2M_PATH(ip.id[0], ip.id[1], rid);
		if ((pt.def->flags & LWM2M_RES_MULTIPLE) && !slash) {
			lerr(L, rk, "resource %u (%s) of object %u is multiple-instance: write it as '%u/0'",
			     rid, res_name(pt.def), od->oid, rid);
			continue;
		}
		if (!(pt.def->flags & LWM2M_RES_MULTIPLE) && slash) {
			lerr(L, rk, "resource %u (%s) of object %u is single-instance: write it as '%u'", rid,
			     res_name(pt.def), od->oid, rid);
			continue;
		}
		/* Two own definitions of one path ("5700" and "05700"). */
		bool dup = false;
		for (size_t j = 0; j < L->p->npoints; j++)
			if (L->p->owned[j] && path_eq(&L->p->points[j].path, &pt.path)) {
				lerr(L, rk, "%s is defined twice (also at line %u)",
				     ptxt(&pt.path, (char[32]){ 0 }), L->p->points[j].line);
				dup = true;
			}
		if (dup)
			continue;
		remove_points(L->p, &pt.path); /* the override rule: replaced as a whole */
		if (ynode_is_null(rv))
			continue;
		if (rv->kind != YNODE_MAP) {
			lerr(L, rv,
			     "resource %s must be a mapping (e.g. '{ const: ... }' or '{ source: ... }'), "
			     "got %s",
			     ptxt(&pt.path, pb), ynode_describe(rv));
			continue;
		}
		r = build_point(L, rk, rv, &pt, top);
		if (r == 0)
			r = add_point(L->p, &pt, true);
		if (r < 0) {
			free_point_sources(&pt);
			return r;
		}
	}
	return 0;
}

/* ---- `firmware:` ------------------------------------------------------------------- */

/* The resources of /5/0 the bridge kind runs, and how each reaches it.
 * 6 PkgName and 8 Protocol Support are left out: the field names no
 * package, and the image never passes through the gateway (no protocol
 * of 8's list is used to fetch it). */
static const struct {
	uint16_t rid;
	int8_t role; /* enum mapping_role, -1: a constant */
} firmware_res[] = {
	{ 0, MAPPING_ROLE_WRITE },
	{ 1, MAPPING_ROLE_WRITE },
	{ 2, MAPPING_ROLE_EXECUTE },
	{ 3, MAPPING_ROLE_READ },
	{ 5, MAPPING_ROLE_READ },
	{ 7, MAPPING_ROLE_READ },
	{ 9, -1 },
	{ 10, MAPPING_ROLE_EXECUTE },
};

static int firmware_point(struct loader *L, const struct ynode *at, const char *what,
			  const struct lwm2m_objdef *od, uint16_t rid, int role)
{
	struct mapping_point pt = { .path = LWM2M_PATH(5, 0, rid), .ops = L->p->ops };
	char why[200] = "";
	void **slot = NULL;
	int r;

	pt.def = lwm2m_objdef_find_res(od, rid);
	if (!pt.def) {
		lerr(L, at,
		     "'firmware: %s' needs resource %u of object 5, which the registry's definition lacks",
		     what, rid);
		return 0;
	}
	pt.type = pt.def->type;
	pt.unit = pt.def->units;
	pt.file = at->file;
	pt.line = at->line;
	pt.col = at->col;
	switch (role) {
	case MAPPING_ROLE_READ:
		pt.from = MAPPING_FROM_SOURCE;
		slot = &pt.source;
		break;
	case MAPPING_ROLE_WRITE:
		pt.writable = true;
		slot = &pt.write;
		if (rid == 1) { /* Package URI reads "" until a server writes one */
			pt.from = MAPPING_FROM_CONST;
			pt.constant = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING };
			pt.constant.bytes.ptr = (const uint8_t *)"";
		}
		break;
	case MAPPING_ROLE_EXECUTE:
		pt.executable = true;
		slot = &pt.execute;
		break;
	default: /* 9 Delivery Method: 0, pull only (the field fetches the image) */
		pt.from = MAPPING_FROM_CONST;
		pt.constant = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 0 };
		break;
	}
	if (slot) {
		r = L->p->ops->firmware(what, (enum mapping_role)role, rid, slot, why, sizeof(why));
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			lerr(L, at, "invalid 'firmware: %s': %s", what, why);
			return -EINVAL;
		}
	}
	r = add_point(L->p, &pt, true);
	if (r < 0)
		free_point_sources(&pt);
	return r;
}

/* `firmware: <what>`: the bridge kind's Object 5 at /5/0, declared here
 * and run by the kind; refused where the kind has none, and where the
 * profile writes /5/0 itself (two owners of one state machine). */
static int add_firmware(struct loader *L, const struct ynode *at, const char *what, bool has_bridge)
{
	const struct lwm2m_path ip = LWM2M_PATH(5, 0);
	const struct lwm2m_objdef *od = lwm2m_registry_find(L->set->reg, 5);
	int r;

	if (!has_bridge) {
		lerr(L, at, "'firmware: %s' needs a 'bridge:' (the bridge kind runs the update)", what);
		return 0;
	}
	if (!L->p->ops)
		return 0; /* the unknown bridge is reported */
	if (!L->p->ops->firmware) {
		const char *names[64];
		size_t n = 0;
		for (size_t i = 0; L->set->kinds && L->set->kinds[i] && n < 63; i++)
			if (L->set->kinds[i]->firmware)
				names[n++] = L->set->kinds[i]->kind;
		char *list = join(names, n, ", ");
		lerr(L, at, "%s bridges update no firmware: remove 'firmware: %s' (bridges that do: %s)",
		     L->p->ops->kind, what, list && *list ? list : "none");
		free(list);
		return 0;
	}
	if (!od) {
		lerr(L, at, "'firmware: %s' needs object 5 (Firmware Update) in the registry", what);
		return 0;
	}
	for (size_t i = 0; i < L->p->npoints; i++)
		if (L->p->owned[i] && lwm2m_path_is_under(&L->p->points[i].path, &ip)) {
			lerr(L, at, "'firmware: %s' runs /5/0, which this profile also defines at line %u",
			     what, L->p->points[i].line);
			return 0;
		}
	remove_points(L->p, &ip); /* an included profile's firmware: this one's replaces it */
	r = add_instance(L->p, &ip);
	for (size_t i = 0; r >= 0 && i < sizeof(firmware_res) / sizeof(firmware_res[0]); i++) {
		r = firmware_point(L, at, what, od, firmware_res[i].rid, firmware_res[i].role);
		if (r == -EINVAL)
			return 0; /* reported once */
	}
	if (r >= 0)
		L->p->firmware = what;
	return r;
}

static int point_cmp(const void *a, const void *b)
{
	return lwm2m_path_cmp(&((const struct mapping_point *)a)->path,
			      &((const struct mapping_point *)b)->path);
}

static int inst_cmp(const void *a, const void *b)
{
	return lwm2m_path_cmp(a, b);
}

/* Sort points keeping the owned flags aligned. */
static int sort_points(struct mapping_profile *p)
{
	struct {
		struct mapping_point pt;
		bool owned;
	} * tmp;

	if (p->npoints < 2)
		return 0;
	tmp = calloc(p->npoints, sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	for (size_t i = 0; i < p->npoints; i++) {
		tmp[i].pt = p->points[i];
		tmp[i].owned = p->owned[i];
	}
	qsort(tmp, p->npoints, sizeof(*tmp), point_cmp); /* pt is the first member */
	for (size_t i = 0; i < p->npoints; i++) {
		p->points[i] = tmp[i].pt;
		p->owned[i] = tmp[i].owned;
	}
	free(tmp);
	return 0;
}

static int load_doc(struct mapping_set *set, const char *name, struct ydoc *doc, struct diag *diag,
		    struct mapping_profile **out)
{
	struct mapping_profile *p = calloc(1, sizeof(*p));
	struct top_spec top = { 0 };
	struct loader L = { .set = set, .diag = diag, .p = p };
	unsigned derr = diag ? diag->errors : 0;
	const struct ynode *root = ydoc_root(doc);
	int r;

	*out = NULL;
	if (!p) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	p->doc = doc;
	p->name = strdup(name);
	p->file = strdup(ydoc_name(doc));
	if (!p->name || !p->file) {
		r = -ENOMEM;
		goto fail;
	}
	if (set->depth < sizeof(set->stack) / sizeof(set->stack[0]))
		set->stack[set->depth++] = p->name;
	else {
		r = -ELOOP;
		goto fail_nostack;
	}

	r = schema_parse(&top_section, root, &top, diag, &L);
	if (r == -ENOMEM)
		goto fail;
	if (r < 0)
		L.errors++;
	if (top.profile && strcmp(top.profile, name) != 0)
		lerr(&L, ynode_map_get(root, "profile"),
		     "profile name '%s' does not match its file name '%s.yaml' (devices refer to it by file "
		     "name)",
		     top.profile, name);
	p->description = top.description;
	p->poll_usec = top.defaults.poll;
	p->max_age_usec = top.defaults.max_age;
	if (top.bridge)
		p->ops = find_kind(&L, ynode_map_get(root, "bridge"), top.bridge);
	if (top.generate)
		p->generate = check_generate(&L, ynode_map_get(root, "generate"), top.generate,
					     top.bridge != NULL, p->ops);

	if (top.include) {
		if (top.include->kind == YNODE_SEQ) {
			for (size_t i = 0; i < top.include->seq.n; i++) {
				r = include_one(&L, &top.include->seq.items[i]);
				if (r == -ENOMEM)
					goto fail;
			}
		} else {
			r = include_one(&L, top.include);
			if (r == -ENOMEM)
				goto fail;
		}
	}
	if (!top.objects && !top.include && !top.generate)
		lerr(&L, root, "profile '%s' has no 'objects:' (and includes nothing)", name);
	for (size_t i = 0; top.objects && i < top.objects->map.n; i++) {
		r = parse_instance(&L, ynode_map_key(top.objects, i), ynode_map_value(top.objects, i), &top);
		if (r == -ENOMEM)
			goto fail;
	}
	if (top.firmware) {
		r = add_firmware(&L, ynode_map_get(root, "firmware"), top.firmware, top.bridge != NULL);
		if (r == -ENOMEM)
			goto fail;
	}
	r = sort_points(p);
	if (r < 0)
		goto fail;
	if (p->ninst > 1)
		qsort(p->inst, p->ninst, sizeof(*p->inst), inst_cmp);
	if (L.errors || (diag && diag->errors > derr)) {
		r = -EINVAL;
		goto fail;
	}
	set->depth--;
	schema_free(&top_section, &top);
	*out = p;
	return 0;
fail:
	set->depth--;
fail_nostack:
	schema_free(&top_section, &top);
	profile_free(p);
	return r;
}

/* ---- accessors ----------------------------------------------------------------------- */

const char *mapping_profile_name(const struct mapping_profile *p)
{
	return p->name;
}

const char *mapping_profile_file(const struct mapping_profile *p)
{
	return p->file;
}

const char *mapping_profile_description(const struct mapping_profile *p)
{
	return p->description;
}

const char *mapping_profile_generate(const struct mapping_profile *p)
{
	return p->generate;
}

const char *mapping_profile_firmware(const struct mapping_profile *p)
{
	return p->firmware;
}

const char *mapping_profile_bridge(const struct mapping_profile *p)
{
	return p->ops ? p->ops->kind : NULL;
}

uint64_t mapping_profile_poll_usec(const struct mapping_profile *p)
{
	return p->poll_usec;
}

uint64_t mapping_profile_max_age_usec(const struct mapping_profile *p)
{
	return p->max_age_usec;
}

size_t mapping_profile_npoints(const struct mapping_profile *p)
{
	return p->npoints;
}

const struct mapping_point *mapping_profile_point(const struct mapping_profile *p, size_t i)
{
	return i < p->npoints ? &p->points[i] : NULL;
}

const struct mapping_point *mapping_profile_find(const struct mapping_profile *p,
						 const struct lwm2m_path *path)
{
	size_t lo = 0, hi = p->npoints;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = lwm2m_path_cmp(&p->points[mid].path, path);
		if (c == 0)
			return &p->points[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t mapping_profile_ninstances(const struct mapping_profile *p)
{
	return p->ninst;
}

struct lwm2m_path mapping_profile_instance(const struct mapping_profile *p, size_t i)
{
	return i < p->ninst ? p->inst[i] : (struct lwm2m_path){ 0 };
}

/* ---- devices ---------------------------------------------------------------------------- */

int mapping_instantiate(const struct mapping_profile *p, struct lwm2m_store *store, mapping_var_fn var,
			void *ctx)
{
	int r;

	if (!p || !store)
		return -EINVAL;
	/* Every point holds one value at most (its first sample makes it). */
	r = lwm2m_store_reserve(store, p->ninst, p->npoints);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->ninst; i++) {
		r = lwm2m_store_add_instance(store, p->inst[i].id[0], p->inst[i].id[1]);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	for (size_t i = 0; i < p->npoints; i++) {
		const struct mapping_point *pt = &p->points[i];
		struct lwm2m_value v;
		if (pt->from == MAPPING_FROM_CONST) {
			/* The profile outlives the stores made from it (a
			 * device holds its configuration's generation, or its
			 * generated profile): its constants are not copied. */
			r = lwm2m_store_set_borrowed(store, &pt->path, &pt->constant);
			if (r < 0)
				return r;
			continue;
		} else if (pt->from == MAPPING_FROM_DEVICE && var) {
			const char *s = var(ctx, pt->device_var);
			if (!s)
				return -ENOENT;
			r = mapping_value_from_text((enum lwm2m_type)pt->type, s, strlen(s), &v);
			if (r < 0)
				return r;
			if (!value_in_ddf_range(pt->def, &v))
				return -ERANGE;
		} else {
			continue;
		}
		r = lwm2m_store_set(store, &pt->path, &v);
		if (r < 0)
			return r;
	}
	return 0;
}

int mapping_decode(const struct mapping_point *pt, const struct mapping_sample *in, struct lwm2m_value *out)
{
	struct lwm2m_value v;
	int r;

	if (!pt || !in || !out)
		return -EINVAL;
	r = mapping_transform_decode(&pt->xf, (enum lwm2m_type)pt->type, in, &v);
	if (r < 0)
		return r;
	if (pt->def && !value_in_ddf_range(pt->def, &v))
		return -ERANGE;
	*out = v;
	return 0;
}

int mapping_encode(const struct mapping_point *pt, const struct lwm2m_value *in, uint8_t *buf, size_t cap,
		   struct mapping_sample *out)
{
	struct lwm2m_value v;
	int r;

	if (!pt || !in || !out)
		return -EINVAL;
	if (!pt->writable)
		return -EPERM;
	if (in->type != pt->type) {
		r = lwm2m_value_convert(in, (enum lwm2m_type)pt->type, &v);
		if (r < 0)
			return r;
	} else {
		v = *in;
	}
	if (pt->def && !value_in_ddf_range(pt->def, &v))
		return -ERANGE;
	return mapping_transform_encode(&pt->xf, (enum lwm2m_type)pt->type, &v, buf, cap, out);
}
