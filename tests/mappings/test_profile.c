/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profile loader: exact diagnostics of broken profiles (each
 * tests/data/mappings/broken/X.yaml beside X.expected), include/override/
 * cycle rules, registry checks, the shipped profiles, instantiation into a
 * store, and shared lookups for many devices.
 *
 * FG_MAP_REGEN=1 rewrites the .expected files (review the diff!).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/schema.h"
#include "mappings/mapping.h"
#include "tests/unit/testutil.h"

/* ---- the test bridge: source { addr: <int>, coil: <bool> } ---------------- */

struct tsrc {
	int64_t addr;
	bool coil;
	enum mapping_role role;
};

static int tsrc_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	struct tsrc *s;
	int bad = 0;

	if (!node) {
		if (role != MAPPING_ROLE_WRITE)
			return -EINVAL;
		*out = NULL;
		return 0;
	}
	if (node->kind != YNODE_MAP) {
		diag_report(diag, DIAG_ERROR, node->file, node->line, node->col,
			    "test source must be a mapping, got %s", ynode_describe(node));
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->role = role;
	for (size_t i = 0; i < node->map.n; i++) {
		const struct ynode *k = ynode_map_key(node, i), *v = ynode_map_value(node, i);
		if (ynode_scalar_eq(k, "addr") && v->kind == YNODE_SCALAR &&
		    schema_parse_int(v->scalar.str, &s->addr) == 0)
			continue;
		if (ynode_scalar_eq(k, "coil") && v->kind == YNODE_SCALAR &&
		    schema_parse_bool(v->scalar.str, &s->coil) == 0)
			continue;
		diag_report(diag, DIAG_ERROR, k->file, k->line, k->col, "test source: bad key '%s'",
			    k->scalar.str);
		bad = 1;
	}
	if (bad) {
		free(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

static void tsrc_free(void *p)
{
	free(p);
}

static int tsrc_check(const struct mapping_point *pt, struct diag *diag)
{
	const struct tsrc *s = pt->source;

	if (s && s->coil && pt->xf.raw != MAPPING_RAW_UINT8) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "test: a coil is one bit, raw must be uint8 (got %s)",
			    mapping_raw_name((enum mapping_raw)pt->xf.raw));
		return -EINVAL;
	}
	return 0;
}

/* `firmware: fieldfw` (any other word is refused with a reason). */
static int tsrc_firmware(const char *what, enum mapping_role role, uint16_t rid, void **out, char *why,
			 size_t why_size)
{
	struct tsrc *s;

	(void)role;
	if (strcmp(what, "fieldfw") != 0) {
		snprintf(why, why_size, "test bridges update firmware through 'fieldfw'");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->addr = rid;
	*out = s;
	return 0;
}

static const char *const test_generators[] = { "selfdescribed", NULL };
static const struct mapping_source_ops test_ops = { "test",     tsrc_parse,      tsrc_free,
						    tsrc_check, test_generators, tsrc_firmware };
/* The shipped example is written for Modbus; any mapping is fine here. */
static int any_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	(void)role;
	(void)diag;
	*out = node ? strdup("src") : NULL;
	return 0;
}
static const struct mapping_source_ops modbus_ops = { "modbus", any_parse, free, NULL };
static const struct mapping_source_ops *const kinds[] = { &test_ops, &modbus_ops, NULL };

/* ---- diagnostics captured as text, data dir prefix removed ---------------- */

struct capture {
	char *text;
	size_t len;
};

static void capture_fn(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		       const char *msg)
{
	struct capture *c = ctx;
	const char *dir = getenv("FG_TEST_DATA");
	char buf[2048];
	size_t dl = dir ? strlen(dir) : 0;

	if (file && dir && strncmp(file, dir, dl) == 0 && file[dl] == '/')
		file += dl + 1;
	int n = diag_format(buf, sizeof(buf), sev, file, line, col, msg);
	c->text = realloc(c->text, c->len + (size_t)n + 2);
	assert_non_null(c->text);
	memcpy(c->text + c->len, buf, (size_t)n);
	c->len += (size_t)n;
	c->text[c->len++] = '\n';
	c->text[c->len] = '\0';
}

struct fx {
	struct lwm2m_registry *reg;
	struct mapping_set *set;
	struct capture cap;
	struct diag diag;
	char path[1024];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *data = getenv("FG_TEST_DATA"), *src = getenv("FG_SOURCE_DIR");

	if (!f || !data || !src)
		return -1;
	f->reg = lwm2m_registry_new();
	snprintf(f->path, sizeof(f->path), "%s/mappings/broken:%s/mappings/profiles:%s/mappings/profiles",
		 data, data, src);
	f->set = mapping_set_new(f->reg, kinds, f->path);
	f->diag = (struct diag){ .fn = capture_fn, .ctx = &f->cap };
	*state = f;
	return f->reg && f->set ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mapping_set_free(f->set);
	lwm2m_registry_free(f->reg);
	free(f->cap.text);
	free(f);
	return 0;
}

/* Diagnostics name the search path, which holds the checkout's absolute
 * location: the expected files say @SRC@ there. Returns a new string. */
static char *with_srcdir_placeholder(const char *text)
{
	const char *src = getenv("FG_SOURCE_DIR");
	size_t sl = src ? strlen(src) : 0;
	char *out = malloc(strlen(text) * 2 + 16), *o = out;

	assert_non_null(out);
	while (*text) {
		if (sl && strncmp(text, src, sl) == 0) {
			o = stpcpy(o, "@SRC@");
			text += sl;
		} else {
			*o++ = *text++;
		}
	}
	*o = 0;
	return out;
}

static void test_broken(void **state)
{
	struct fx *f = *state;
	char **names;
	size_t n = tu_list_data("mappings/broken", ".yaml", &names);
	bool regen = getenv("FG_MAP_REGEN") != NULL;

	assert_true(n >= 8);
	for (size_t i = 0; i < n; i++) {
		char name[128], rel[256];
		const struct mapping_profile *p = (const void *)1;
		size_t len;

		snprintf(name, sizeof(name), "%.*s", (int)(strlen(names[i]) - 5), names[i]);
		/* A fresh set: each file's messages alone, none cached. */
		mapping_set_free(f->set);
		f->set = mapping_set_new(f->reg, kinds, f->path);
		assert_non_null(f->set);
		free(f->cap.text);
		f->cap = (struct capture){ 0 };
		f->diag.errors = 0;
		int r = mapping_set_get(f->set, name, NULL, &f->diag, &p);
		if (r >= 0)
			fail_msg("%s loaded", names[i]);
		assert_null(p);
		assert_true(f->diag.errors > 0);
		snprintf(rel, sizeof(rel), "mappings/broken/%s.expected", name);
		char *got = with_srcdir_placeholder(f->cap.text ? f->cap.text : "");
		if (regen) {
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", getenv("FG_TEST_DATA"), rel);
			FILE *out = fopen(path, "w");
			assert_non_null(out);
			fputs(got, out);
			fclose(out);
		} else {
			char *want = (char *)tu_read_data(rel, &len);
			if (strcmp(want, got) != 0)
				fail_msg("%s: diagnostics differ.\n--- expected\n%s--- got\n%s", names[i],
					 want, got);
			free(want);
		}
		free(got);
		/* A cached failure answers quietly with the same error. */
		unsigned before = f->diag.errors;
		assert_int_equal(mapping_set_get(f->set, name, NULL, &f->diag, &p),
				 r == -ELOOP ? -EINVAL : r);
		assert_int_equal(f->diag.errors, before);
		free(names[i]);
	}
	free(names);
}

static const char *vars(void *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "serial") == 0 ? "SN-0042" : NULL;
}

static const char *no_vars(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return NULL;
}

static void assert_str_value(struct lwm2m_store *s, struct lwm2m_path p, const char *want)
{
	struct lwm2m_value v;

	assert_int_equal(lwm2m_store_get(s, &p, &v), 0);
	assert_int_equal(v.type, LWM2M_TYPE_STRING);
	assert_int_equal(v.bytes.len, strlen(want));
	assert_memory_equal(v.bytes.ptr, want, strlen(want));
}

static void test_demo_sensor(void **state)
{
	struct fx *f = *state;
	const struct mapping_profile *p;
	struct lwm2m_store *s;
	struct lwm2m_value v;

	assert_int_equal(mapping_set_get(f->set, "demo-sensor", NULL, &f->diag, &p), 0);
	assert_int_equal(f->diag.errors, 0);
	assert_string_equal(mapping_profile_name(p), "demo-sensor");
	assert_null(mapping_profile_bridge(p));
	assert_int_equal(mapping_profile_ninstances(p), 2);
	assert_int_equal(mapping_profile_instance(p, 1).id[0], 3303);

	s = lwm2m_store_new(f->reg);
	assert_int_equal(mapping_instantiate(p, s, vars, NULL), 0);
	assert_str_value(s, LWM2M_PATH(3, 0, 0), "fieldgate demo");
	assert_str_value(s, LWM2M_PATH(3, 0, 2), "SN-0042");
	assert_str_value(s, LWM2M_PATH(3303, 0, 5701), "Cel");
	struct lwm2m_path sv = LWM2M_PATH(3303, 0, 5700);
	assert_true(lwm2m_store_has(s, &LWM2M_PATH(3303, 0)));
	assert_int_equal(lwm2m_store_get(s, &sv, &v), -ENOENT);
	const struct mapping_point *pt = mapping_profile_find(p, &sv);
	assert_non_null(pt);
	assert_int_equal(pt->from, MAPPING_FROM_NONE);
	assert_string_equal(pt->unit, "Cel");
	/* instantiating twice keeps the instances */
	assert_int_equal(mapping_instantiate(p, s, vars, NULL), 0);
	lwm2m_store_free(s);

	s = lwm2m_store_new(f->reg);
	assert_int_equal(mapping_instantiate(p, s, no_vars, NULL), -ENOENT);
	lwm2m_store_free(s);
	s = lwm2m_store_new(f->reg);
	assert_int_equal(mapping_instantiate(p, s, NULL, NULL), 0);
	assert_int_equal(lwm2m_store_get(s, &LWM2M_PATH(3, 0, 2), &v), -ENOENT);
	lwm2m_store_free(s);
}

static void test_example(void **state)
{
	struct fx *f = *state;
	const struct mapping_profile *p;
	const struct mapping_point *pt;
	struct lwm2m_value v;
	struct mapping_sample smp;
	uint8_t buf[16];

	assert_int_equal(mapping_set_get(f->set, "example", NULL, &f->diag, &p), 0);
	assert_string_equal(mapping_profile_bridge(p), "modbus");
	assert_int_equal(mapping_profile_poll_usec(p), 10000000);

	pt = mapping_profile_find(p, &LWM2M_PATH(3303, 0, 5700));
	assert_non_null(pt);
	assert_int_equal(pt->from, MAPPING_FROM_SOURCE);
	assert_int_equal(pt->xf.raw, MAPPING_RAW_INT16);
	assert_int_equal(pt->xf.scale_div, 10);
	assert_int_equal(pt->poll_usec, 5000000);
	assert_int_equal(pt->max_age_usec, 15000000);
	assert_false(pt->writable);
	assert_string_equal(pt->source, "src");
	const uint8_t raw[] = { 0x00, 0xd7 };
	smp = (struct mapping_sample){ .bytes = raw, .len = 2 };
	assert_int_equal(mapping_decode(pt, &smp, &v), 0);
	assert_int_equal(v.type, LWM2M_TYPE_FLOAT);
	assert_true(v.f == 21.5);
	const uint8_t hot[] = { 0x05, 0x00 }; /* 128.0 > max 125 */
	smp.bytes = hot;
	assert_int_equal(mapping_decode(pt, &smp, &v), -ERANGE);
	assert_int_equal(mapping_encode(pt, &v, buf, sizeof(buf), &smp), -EPERM);

	/* 3/0/6/0 constant of a multiple resource */
	pt = mapping_profile_find(p, &LWM2M_PATH(3, 0, 6, 0));
	assert_non_null(pt);
	assert_int_equal(pt->constant.i, 1);
	pt = mapping_profile_find(p, &LWM2M_PATH(3, 0, 4));
	assert_true(pt->executable);
	assert_string_equal(pt->execute, "src");

	/* Dimmer: writable, DDF range 0..100 checked both ways */
	pt = mapping_profile_find(p, &LWM2M_PATH(3312, 0, 5851));
	assert_non_null(pt);
	assert_true(pt->writable);
	v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 42 };
	assert_int_equal(mapping_encode(pt, &v, buf, sizeof(buf), &smp), 0);
	assert_int_equal(smp.len, 2);
	assert_int_equal(smp.bytes[1], 42);
	v.i = 101;
	assert_int_equal(mapping_encode(pt, &v, buf, sizeof(buf), &smp), -ERANGE);
	const uint8_t d101[] = { 0, 101 };
	smp = (struct mapping_sample){ .bytes = d101, .len = 2 };
	assert_int_equal(mapping_decode(pt, &smp, &v), -ERANGE);

	/* enum, both ways */
	pt = mapping_profile_find(p, &LWM2M_PATH(3312, 0, 5750));
	assert_int_equal(pt->xf.nenums, 3);
	const uint8_t two[] = { 0, 2 };
	smp = (struct mapping_sample){ .bytes = two, .len = 2 };
	assert_int_equal(mapping_decode(pt, &smp, &v), 0);
	assert_int_equal(v.bytes.len, 7);
	assert_memory_equal(v.bytes.ptr, "cooling", 7);
	const uint8_t three[] = { 0, 3 };
	smp.bytes = three;
	assert_int_equal(mapping_decode(pt, &smp, &v), -ENOENT);

	/* bits */
	pt = mapping_profile_find(p, &LWM2M_PATH(3306, 0, 5850));
	const uint8_t word[] = { 0x00, 0x08 };
	smp = (struct mapping_sample){ .bytes = word, .len = 2 };
	assert_int_equal(mapping_decode(pt, &smp, &v), 0);
	assert_int_equal(v.type, LWM2M_TYPE_BOOLEAN);
	assert_true(v.b);

	/* a constant of a resource instance lands in the store */
	struct lwm2m_store *st = lwm2m_store_new(f->reg);
	assert_int_equal(mapping_instantiate(p, st, vars, NULL), 0);
	assert_int_equal(lwm2m_store_get(st, &LWM2M_PATH(3, 0, 6, 0), &v), 0);
	assert_int_equal(v.type, LWM2M_TYPE_INTEGER);
	assert_int_equal(v.i, 1);
	assert_true(lwm2m_store_has(st, &LWM2M_PATH(3306, 0)));
	lwm2m_store_free(st);

	/* points are sorted */
	for (size_t i = 1; i < mapping_profile_npoints(p); i++)
		assert_true(lwm2m_path_cmp(&mapping_profile_point(p, i - 1)->path,
					   &mapping_profile_point(p, i)->path) < 0);
	assert_null(mapping_profile_point(p, mapping_profile_npoints(p)));
}

static void test_include(void **state)
{
	struct fx *f = *state;
	const struct mapping_profile *base, *var, *var2;
	const struct mapping_point *pt, *bpt;

	assert_int_equal(mapping_set_get(f->set, "th-variant2", NULL, &f->diag, &var2), 0);
	assert_int_equal(f->diag.errors, 0);
	assert_int_equal(mapping_set_count(f->set), 3); /* base and variant loaded once, by the include */
	assert_int_equal(mapping_set_get(f->set, "th-variant", NULL, &f->diag, &var), 0);
	assert_int_equal(mapping_set_get(f->set, "th-base", NULL, &f->diag, &base), 0);
	assert_int_equal(mapping_set_count(f->set), 3);
	assert_string_equal(mapping_profile_bridge(var2), "test"); /* inherited */

	/* base untouched */
	assert_int_equal(mapping_profile_ninstances(base), 4);
	assert_non_null(mapping_profile_find(base, &LWM2M_PATH(3303, 0, 5701)));

	/* override replaces the whole definition */
	pt = mapping_profile_find(var, &LWM2M_PATH(3303, 0, 5700));
	assert_int_equal(pt->xf.raw, MAPPING_RAW_FLOAT32);
	assert_int_equal(pt->xf.order, MAPPING_ORDER_CDAB);
	assert_false(pt->xf.has_scale); /* not merged with the base's scale */
	assert_int_equal(pt->poll_usec, 2000000);
	assert_int_equal(((const struct tsrc *)pt->source)->addr, 10);
	const uint8_t f215[] = { 0x00, 0x00, 0x41, 0xac }; /* 21.5f, words swapped */
	struct mapping_sample smp = { .bytes = f215, .len = 4 };
	struct lwm2m_value v;
	assert_int_equal(mapping_decode(pt, &smp, &v), 0);
	assert_true(v.type == LWM2M_TYPE_FLOAT && v.f == 21.5);
	/* removal of a resource and of an instance */
	assert_null(mapping_profile_find(var, &LWM2M_PATH(3303, 0, 5701)));
	assert_null(mapping_profile_find(var, &LWM2M_PATH(3304, 1, 5700)));
	assert_int_equal(mapping_profile_ninstances(var), 4); /* 3/0 3303/0 3304/0 3312/0 */
	/* inherited points share the base's parsed source */
	pt = mapping_profile_find(var, &LWM2M_PATH(3304, 0, 5700));
	bpt = mapping_profile_find(base, &LWM2M_PATH(3304, 0, 5700));
	assert_ptr_equal(pt->source, bpt->source);
	assert_int_equal(pt->poll_usec, 10000000); /* the base's defaults stay with its points */
	/* model overridden, serial inherited */
	pt = mapping_profile_find(var, &LWM2M_PATH(3, 0, 1));
	assert_memory_equal(pt->constant.bytes.ptr, "TH-2", 4);
	pt = mapping_profile_find(var2, &LWM2M_PATH(3, 0, 1));
	assert_memory_equal(pt->constant.bytes.ptr, "TH-2", 4);
	assert_non_null(mapping_profile_find(var2, &LWM2M_PATH(3, 0, 3)));
	assert_int_equal(mapping_profile_npoints(var2), mapping_profile_npoints(var) + 1);
	/* writable coil with its write target (back to the source) */
	pt = mapping_profile_find(var, &LWM2M_PATH(3312, 0, 5850));
	assert_true(pt->writable);
	assert_null(pt->write);
	assert_true(((const struct tsrc *)pt->source)->coil);

	/* instantiation of the variant */
	struct lwm2m_store *s = lwm2m_store_new(f->reg);
	assert_int_equal(mapping_instantiate(var, s, vars, NULL), 0);
	assert_str_value(s, LWM2M_PATH(3, 0, 1), "TH-2");
	assert_false(lwm2m_store_has(s, &LWM2M_PATH(3304, 1)));
	assert_true(lwm2m_store_has(s, &LWM2M_PATH(3312, 0)));
	lwm2m_store_free(s);
}

static void test_unknown_name(void **state)
{
	struct fx *f = *state;
	const struct mapping_profile *p = NULL;
	struct ydoc *doc;

	assert_int_equal(ydoc_load_buffer("fieldgate.yaml", "profile: th-bsae\n", 17, NULL, NULL, &doc), 0);
	const struct ynode *at = ynode_map_get(ydoc_root(doc), "profile");
	assert_int_equal(mapping_set_get(f->set, at->scalar.str, at, &f->diag, &p), -ENOENT);
	assert_null(p);
	char want[4096];
	snprintf(want, sizeof(want),
		 "fieldgate.yaml:1:10: unknown profile 'th-bsae', did you mean 'th-base'? (no th-bsae.yaml "
		 "in the "
		 "search path %s)\n",
		 f->path);
	assert_string_equal(f->cap.text, want);
	free(f->cap.text);
	f->cap = (struct capture){ 0 };
	assert_int_equal(mapping_set_get(f->set, "../etc/passwd", at, &f->diag, &p), -EINVAL);
	assert_non_null(strstr(f->cap.text, "invalid profile name '../etc/passwd'"));
	ydoc_free(doc);
	assert_string_equal(mapping_set_search_path(f->set), f->path);
}

static void test_buffer_and_many_devices(void **state)
{
	struct fx *f = *state;
	const struct mapping_profile *p, *q;
	static const char yaml[] =
		"bridge: test\n"
		"objects:\n"
		"  /3303/0:\n"
		"    5700: { source: { addr: 1 }, raw: value, enum: { \"hi\": 30, lo: 10 } }\n"
		"  /3311/0:\n"
		"    5850: { source: { addr: 2 }, true_words: [AN], false_words: [AUS], writable: true }\n";
	struct lwm2m_value v;
	struct mapping_sample smp;
	uint8_t buf[8];

	assert_int_equal(mapping_set_load_buffer(f->set, "mem", "mem.yaml", yaml, strlen(yaml), &f->diag, &p),
			 0);
	assert_int_equal(mapping_set_load_buffer(f->set, "mem", "mem.yaml", yaml, strlen(yaml), &f->diag, &q),
			 -EEXIST);
	assert_int_equal(f->diag.errors, 0);
	assert_string_equal(mapping_profile_file(p), "mem.yaml");
	assert_null(mapping_profile_generate(p));
	/* A placeholder whose bridge generates the real profile: no objects needed. */
	static const char gen[] = "bridge: test\ngenerate: selfdescribed\n";
	assert_int_equal(mapping_set_load_buffer(f->set, "gen", "gen.yaml", gen, strlen(gen), &f->diag, &q),
			 0);
	assert_string_equal(mapping_profile_generate(q), "selfdescribed");
	assert_int_equal(mapping_profile_npoints(q), 0);

	const struct mapping_point *pt = mapping_profile_point(p, 0);
	assert_int_equal(pt->path.id[0], 3303);
	smp = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
				       .value = { .type = LWM2M_TYPE_STRING,
						  .bytes = { (const uint8_t *)"hi", 2 } } };
	assert_int_equal(mapping_decode(pt, &smp, &v), 0);
	assert_int_equal(v.type, LWM2M_TYPE_FLOAT);
	assert_true(v.f == 30);
	pt = mapping_profile_point(p, 1);
	v = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = false };
	assert_int_equal(mapping_encode(pt, &v, buf, sizeof(buf), &smp), 0);
	assert_int_equal(smp.value.bytes.len, 3);
	assert_memory_equal(smp.value.bytes.ptr, "AUS", 3);

	/* 10,000 devices referring to a few profiles: one load each, then
	 * lookups only, the same shared object every time. */
	const char *names[] = { "th-base", "th-variant", "demo-sensor", "mem" };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10000; i++) {
		const struct mapping_profile *x;
		assert_int_equal(mapping_set_get(f->set, names[i % 4], NULL, &f->diag, &x), 0);
		if (i % 4 == 3)
			assert_ptr_equal(x, p);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("# 10000 profile lookups: %.1f ms\n", ms);
	assert_true(ms < 1000);
	assert_int_equal(mapping_set_count(f->set), 5); /* with "gen" */
}

/* `firmware:`: the bridge kind's Object 5 at /5/0, declared by the engine;
 * refused by kinds without one, next to a /5/0 of the profile's own, and
 * with a word the kind does not know. */
static void test_firmware(void **state)
{
	struct fx *f = *state;
	const struct mapping_profile *p, *q;
	static const char yaml[] =
		"bridge: test\nfirmware: fieldfw\nobjects:\n  /3/0:\n    0: { const: x }\n";
	static const char inc[] = "bridge: test\ninclude: fw\n";
	static const uint16_t rids[] = { 0, 1, 2, 3, 5, 7, 9, 10 };

	assert_int_equal(mapping_set_load_buffer(f->set, "fw", "fw.yaml", yaml, strlen(yaml), &f->diag, &p),
			 0);
	assert_int_equal(f->diag.errors, 0);
	assert_string_equal(mapping_profile_firmware(p), "fieldfw");
	assert_int_equal(mapping_profile_npoints(p), 1 + sizeof(rids) / sizeof(rids[0]));
	assert_int_equal(mapping_profile_ninstances(p), 2);
	for (size_t i = 0; i < sizeof(rids) / sizeof(rids[0]); i++) {
		const struct mapping_point *pt = mapping_profile_find(p, &LWM2M_PATH(5, 0, rids[i]));
		assert_non_null(pt);
		assert_int_equal(pt->line, 2);
		switch (rids[i]) {
		case 0:
			assert_true(pt->writable && pt->write && pt->from == MAPPING_FROM_NONE);
			break;
		case 1: /* "" until written, written through the bridge */
			assert_true(pt->writable && pt->write && pt->from == MAPPING_FROM_CONST);
			assert_int_equal(pt->constant.bytes.len, 0);
			break;
		case 2:
		case 10:
			assert_true(pt->executable && pt->execute);
			break;
		case 9: /* Delivery Method: pull only */
			assert_int_equal(pt->from, MAPPING_FROM_CONST);
			assert_int_equal(pt->constant.i, 0);
			break;
		default:
			assert_int_equal(pt->from, MAPPING_FROM_SOURCE);
			assert_int_equal(((const struct tsrc *)pt->source)->addr, rids[i]);
		}
	}
	assert_int_equal(
		mapping_set_load_buffer(f->set, "fwinc", "fwinc.yaml", inc, strlen(inc), &f->diag, &q), 0);
	assert_string_equal(mapping_profile_firmware(q), "fieldfw");
	assert_non_null(mapping_profile_find(q, &LWM2M_PATH(5, 0, 3)));

	static const char *const bad[][2] = {
		{ "bridge: modbus\nfirmware: zigbee2mqtt\nobjects:\n  /3/0:\n    0: { const: x }\n",
		  "bad1.yaml:2:11: modbus bridges update no firmware: remove 'firmware: zigbee2mqtt' "
		  "(bridges that do: test)\n" },
		{ "bridge: test\nfirmware: other\nobjects:\n  /3/0:\n    0: { const: x }\n",
		  "bad2.yaml:2:11: invalid 'firmware: other': test bridges update firmware through "
		  "'fieldfw'\n" },
		{ "bridge: test\nfirmware: fieldfw\nobjects:\n  /5/0:\n    3: { source: { addr: 1 } }\n",
		  "bad3.yaml:2:11: 'firmware: fieldfw' runs /5/0, which this profile also defines at "
		  "line 5\n" },
		{ "firmware: fieldfw\nobjects:\n  /3/0:\n    0: { const: x }\n",
		  "bad4.yaml:1:11: 'firmware: fieldfw' needs a 'bridge:' (the bridge kind runs the "
		  "update)\n" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[8], file[16];
		snprintf(name, sizeof(name), "bad%zu", i + 1);
		snprintf(file, sizeof(file), "bad%zu.yaml", i + 1);
		free(f->cap.text);
		f->cap = (struct capture){ 0 };
		assert_int_equal(mapping_set_load_buffer(f->set, name, file, bad[i][0], strlen(bad[i][0]),
							 &f->diag, &q),
				 -EINVAL);
		assert_string_equal(f->cap.text, bad[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_demo_sensor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_include, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_and_many_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firmware, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
