/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DDF loader against the real OMA registry (FG_REGISTRY_DIR, every file)
 * and against the malformed and tricky documents of tests/data/ddf/ (each
 * states its expected diagnostics, see tests/data/ddf/README).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/lwm2m.h"
#include "testutil.h"

/* ---- collecting diagnostics -------------------------------------------- */

struct diags {
	char *msg[64];
	char *file[64];
	size_t n;
};

static void collect(void *ctx, const char *file, unsigned line, unsigned col, const char *msg)
{
	struct diags *d = ctx;
	char *s = NULL;

	assert_non_null(file);
	assert_non_null(msg);
	assert_null(strchr(msg, '\n')); /* one line each */
	assert_true(asprintf(&s, "%u:%u: %s", line, col, msg) > 0);
	if (d->n < 64) {
		d->file[d->n] = strdup(file);
		d->msg[d->n++] = s;
	} else {
		free(s);
	}
}

static void diags_clear(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->msg[i]);
		free(d->file[i]);
	}
	d->n = 0;
}

static void no_diag(void *ctx, const char *file, unsigned line, unsigned col, const char *msg)
{
	(void)ctx;
	fail_msg("unexpected diagnostic %s:%u:%u: %s", file, line, col, msg);
}

static const char *registry_dir(void)
{
	const char *d = getenv("FG_REGISTRY_DIR");
	if (!d)
		fail_msg("FG_REGISTRY_DIR is not set (run through meson test)");
	return d;
}

/* fieldgate's own objects (26241, 26242), built in from these files, and the OMA 9.xml shipped beside them.
 */
static char *own_objects_dir(void)
{
	const char *src = getenv("FG_SOURCE_DIR");
	char *p = NULL;

	if (!src)
		fail_msg("FG_SOURCE_DIR is not set (run through meson test)");
	assert_true(asprintf(&p, "%s/conf/objects", src) > 0);
	return p;
}

static char *registry_file(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", registry_dir(), name) > 0);
	return p;
}

/* ---- the real registry -------------------------------------------------- */

/* Files of the registry that are not object definitions: loaded, they give
 * 0 and say nothing (detected by root element / ObjectType). */
static bool not_an_object_file(const char *name)
{
	return strcmp(name, "DDF.xml") == 0 || strcmp(name, "Common.xml") == 0 ||
	       strcmp(name, "LWM2M_senml_units.xml") == 0;
}

static void test_registry_every_file(void **state)
{
	const char *dir = registry_dir();
	struct dirent **list;
	int objects = 0, files = 0, skipped = 0;
	(void)state;

	int n = scandir(dir, &list, NULL, alphasort);
	assert_true(n > 300);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;
		size_t l = strlen(name);
		if (l > 4 && (strcmp(name + l - 4, ".xml") == 0 || strcmp(name + l - 4, ".xsd") == 0)) {
			struct lwm2m_registry *r = lwm2m_registry_new();
			char *path = registry_file(name);
			size_t before = lwm2m_registry_count(r);
			int k = lwm2m_registry_load_ddf_file(r, path, no_diag, NULL);
			if (k < 0)
				fail_msg("%s: %d", name, k);
			if (not_an_object_file(name) || strcmp(name + l - 4, ".xsd") == 0) {
				assert_int_equal(k, 0);
				assert_int_equal(lwm2m_registry_count(r), before);
				skipped++;
			} else {
				/* one object per file, named by its id */
				assert_int_equal(k, 1);
				const struct lwm2m_objdef *d = lwm2m_registry_find(r, (uint16_t)atoi(name));
				assert_non_null(d);
				assert_true(d->nres > 0 || d->oid == 0);
				objects += k;
			}
			files++;
			free(path);
			lwm2m_registry_free(r);
		}
		free(list[i]);
	}
	free(list);
	assert_int_equal(objects, 327);
	assert_int_equal(skipped, 5); /* 3 .xml above + LWM2M.xsd + LWM2M-v1_1.xsd */
	assert_int_equal(files, 332);
}

static void test_registry_load_dir(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	const struct lwm2m_objdef *builtin3303 = lwm2m_registry_find(r, 3303);
	(void)state;

	/* *.xml only; all 327 object definitions, built-ins replaced by the
	 * (equal version) files; fieldgate's two own objects stay. */
	assert_int_equal(lwm2m_registry_load_dir(r, registry_dir(), no_diag, NULL), 327);
	assert_int_equal(lwm2m_registry_count(r), 327 + 2);
	assert_ptr_not_equal(lwm2m_registry_find(r, 3303), builtin3303);
	for (size_t i = 1; i < lwm2m_registry_count(r); i++)
		assert_true(lwm2m_registry_at(r, i - 1)->oid < lwm2m_registry_at(r, i)->oid);
	/* a second load replaces again (equal versions) and still agrees */
	assert_int_equal(lwm2m_registry_load_dir(r, registry_dir(), no_diag, NULL), 327);
	assert_int_equal(lwm2m_registry_count(r), 327 + 2);
	lwm2m_registry_free(r);
}

static void test_registry_spot_checks(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	const struct lwm2m_objdef *d;
	const struct lwm2m_resdef *rd;
	(void)state;

	assert_int_equal(lwm2m_registry_load_dir(r, registry_dir(), no_diag, NULL), 327);

	d = lwm2m_registry_find(r, 3303);
	assert_string_equal(d->name, "Temperature");
	assert_int_equal(d->ver_major, 1);
	assert_int_equal(d->ver_minor, 1);
	assert_int_equal(d->flags, LWM2M_OBJ_MULTIPLE);
	assert_int_equal(d->nres, 12);
	assert_int_equal(d->res[0].rid, 5518); /* sorted, though the file lists 5700 first */
	rd = lwm2m_objdef_find_res(d, 5700);
	assert_string_equal(rd->name, "Sensor Value");
	assert_int_equal(rd->type, LWM2M_TYPE_FLOAT);
	assert_int_equal(rd->ops, LWM2M_OP_R);
	assert_int_equal(rd->flags, LWM2M_RES_MANDATORY);
	assert_null(rd->units);
	rd = lwm2m_objdef_find_res(d, 5701);
	assert_string_equal(rd->name, "Sensor Units");
	assert_int_equal(rd->type, LWM2M_TYPE_STRING);

	d = lwm2m_registry_find(r, 3);
	rd = lwm2m_objdef_find_res(d, 4);
	assert_string_equal(rd->name, "Reboot");
	assert_int_equal(rd->ops, LWM2M_OP_E);
	assert_int_equal(rd->type, LWM2M_TYPE_NONE);
	rd = lwm2m_objdef_find_res(d, 9);
	assert_string_equal(rd->units, "/100");
	assert_true(rd->flags & LWM2M_RES_HAS_RANGE);
	assert_true(rd->min == 0 && rd->max == 100);

	d = lwm2m_registry_find(r, 25);
	assert_string_equal(d->name, "LwM2M Gateway");
	assert_int_equal(d->ver_major, 2);
	assert_int_equal(d->ver_minor, 0);
	assert_int_equal(d->nres, 3);
	assert_int_equal(d->res[2].rid, 3);
	assert_string_equal(d->res[2].name, "IoT Device Objects");
	assert_int_equal(d->res[2].type, LWM2M_TYPE_CORELNK);
	assert_int_equal(d->res[2].ops, LWM2M_OP_R);

	/* an object outside the built-in table */
	d = lwm2m_registry_find(r, 10241);
	assert_non_null(d);
	assert_true(d->nres > 0);

	/* "Unsigned Integer" and "Corelnk" appear in the registry */
	size_t unsig = 0, corelnk = 0, ranged = 0;
	for (size_t i = 0; i < lwm2m_registry_count(r); i++) {
		d = lwm2m_registry_at(r, i);
		for (size_t k = 0; k < d->nres; k++) {
			unsig += d->res[k].type == LWM2M_TYPE_UNSIGNED;
			corelnk += d->res[k].type == LWM2M_TYPE_CORELNK;
			ranged += !!(d->res[k].flags & LWM2M_RES_HAS_RANGE);
		}
	}
	assert_int_equal(unsig, 138); /* 136 in the OMA files, 2 in the built-in 26241 */
	assert_int_equal(corelnk, 20);
	assert_int_equal(ranged, 678); /* same rule computed with Python over the XML */

	/* type_of sees loaded definitions */
	d = lwm2m_registry_find(r, 10241);
	struct lwm2m_path p = LWM2M_PATH(10241, 0, d->res[0].rid);
	assert_int_equal(lwm2m_registry_type_of(r, &p), d->res[0].type);
	lwm2m_registry_free(r);
}

/* The built-in table is the registry's XML (and conf/objects' for
 * fieldgate's own objects), field by field: the generated data
 * (tools/gen-objdefs.py) and the run-time loader read it the same way. */
static void test_builtin_matches_registry(void **state)
{
	struct lwm2m_registry *builtin = lwm2m_registry_new(), *loaded = lwm2m_registry_new();
	char *own = own_objects_dir();
	(void)state;

	assert_int_equal(lwm2m_registry_load_dir(loaded, registry_dir(), no_diag, NULL), 327);
	assert_int_equal(lwm2m_registry_load_dir(loaded, own, no_diag, NULL), 3);
	free(own);
	assert_int_equal(lwm2m_registry_count(builtin), 62);
	for (size_t i = 0; i < lwm2m_registry_count(builtin); i++) {
		const struct lwm2m_objdef *b = lwm2m_registry_at(builtin, i);
		const struct lwm2m_objdef *x = lwm2m_registry_find(loaded, b->oid);
		assert_non_null(x);
		assert_ptr_not_equal(b, x);
		assert_string_equal(b->name, x->name);
		assert_int_equal(b->ver_major, x->ver_major);
		assert_int_equal(b->ver_minor, x->ver_minor);
		assert_int_equal(b->flags, x->flags);
		if (b->nres != x->nres)
			fail_msg("object %u: %u resources built in, %u in the XML", b->oid, b->nres, x->nres);
		for (size_t k = 0; k < b->nres; k++) {
			const struct lwm2m_resdef *rb = &b->res[k], *rx = &x->res[k];
			if (rb->rid != rx->rid || rb->type != rx->type || rb->ops != rx->ops ||
			    rb->flags != rx->flags)
				fail_msg("/%u/%u: built in rid %u type %u ops %u flags %u, XML rid %u type "
					 "%u ops %u "
					 "flags %u",
					 b->oid, rb->rid, rb->rid, rb->type, rb->ops, rb->flags, rx->rid,
					 rx->type, rx->ops, rx->flags);
			assert_string_equal(rb->name, rx->name);
			if (rb->units || rx->units)
				assert_string_equal(rb->units ? rb->units : "(null)",
						    rx->units ? rx->units : "(null)");
			if (rb->flags & LWM2M_RES_HAS_RANGE) {
				assert_true(rb->min == rx->min);
				assert_true(rb->max == rx->max);
			}
		}
	}
	lwm2m_registry_free(builtin);
	lwm2m_registry_free(loaded);
}

/* ---- the cases of tests/data/ddf --------------------------------------- */

static void expect_unchanged(const struct lwm2m_registry *r)
{
	struct lwm2m_registry *fresh = lwm2m_registry_new();

	assert_int_equal(lwm2m_registry_count(r), lwm2m_registry_count(fresh));
	for (size_t i = 0; i < lwm2m_registry_count(fresh); i++)
		assert_ptr_equal(lwm2m_registry_at(r, i), lwm2m_registry_at(fresh, i));
	lwm2m_registry_free(fresh);
}

static void run_case(const char *name)
{
	size_t len;
	char rel[256], *path = NULL;
	char *text;
	struct diags d = { .n = 0 };
	struct lwm2m_registry *r = lwm2m_registry_new();
	int want_ret = 0, want_load = -1;
	size_t nexpect = 0;

	snprintf(rel, sizeof(rel), "ddf/%s", name);
	text = (char *)tu_read_data(rel, &len);
	assert_true(asprintf(&path, "%s/%s", getenv("FG_TEST_DATA"), rel) > 0);

	int ret = lwm2m_registry_load_ddf_file(r, path, collect, &d);

	/* every diagnostic names the file */
	for (size_t i = 0; i < d.n; i++)
		assert_string_equal(d.file[i], path);

	for (char *p = text; (p = strstr(p, "<!-- expect")); p++) {
		char *end = strstr(p, " -->");
		assert_non_null(end);
		if (strncmp(p, "<!-- expect-ret: ", 17) == 0) {
			if (strncmp(p + 17, "-EINVAL", 7) == 0)
				want_ret = -EINVAL;
			else if (strncmp(p + 17, "-EBADMSG", 8) == 0)
				want_ret = -EBADMSG;
			else
				fail_msg("%s: bad expect-ret", name);
		} else if (strncmp(p, "<!-- expect-load: ", 18) == 0) {
			want_load = atoi(p + 18);
		} else if (strncmp(p, "<!-- expect: ", 13) == 0) {
			const char *frag = p + 13;
			size_t flen = (size_t)(end - frag);
			bool found = false;
			for (size_t i = 0; i < d.n && !found; i++)
				found = strlen(d.msg[i]) >= flen &&
					memmem(d.msg[i], strlen(d.msg[i]), frag, flen) &&
					strncmp(d.msg[i], frag, strcspn(frag, " ")) == 0;
			if (!found) {
				for (size_t i = 0; i < d.n; i++)
					print_message("# got: %s\n", d.msg[i]);
				fail_msg("%s: no diagnostic '%.*s'", name, (int)flen, frag);
			}
			nexpect++;
		}
	}

	if (want_ret < 0) {
		if (ret != want_ret)
			fail_msg("%s: returned %d, expected %d", name, ret, want_ret);
		if (d.n != nexpect) {
			for (size_t i = 0; i < d.n; i++)
				print_message("# got: %s\n", d.msg[i]);
			fail_msg("%s: %zu diagnostics, expected %zu", name, d.n, nexpect);
		}
		assert_true(nexpect > 0);
		expect_unchanged(r);
	} else {
		assert_true(want_load >= 0);
		if (ret != want_load || d.n != 0)
			fail_msg("%s: returned %d with %zu diagnostics, expected %d", name, ret, d.n,
				 want_load);
	}

	diags_clear(&d);
	free(path);
	free(text);
	lwm2m_registry_free(r);
}

static void test_data_cases(void **state)
{
	char **names;
	size_t n = tu_list_data("ddf", ".xml", &names), bad = 0;
	(void)state;

	assert_true(n >= 15);
	for (size_t i = 0; i < n; i++) {
		run_case(names[i]);
		bad += strncmp(names[i], "bad-", 4) == 0;
		free(names[i]);
	}
	free(names);
	assert_true(bad >= 12);
}

static int load_data(struct lwm2m_registry *r, const char *name, struct diags *d)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/ddf/%s", getenv("FG_TEST_DATA"), name) > 0);
	int ret = lwm2m_registry_load_ddf_file(r, path, d ? collect : no_diag, d);
	free(path);
	return ret;
}

static void test_two_objects_fields(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	const struct lwm2m_objdef *d;
	const struct lwm2m_resdef *rd;
	(void)state;

	assert_int_equal(load_data(r, "good-two-objects.xml", NULL), 2);
	assert_int_equal(lwm2m_registry_count(r), 62 + 2);
	d = lwm2m_registry_find(r, 42100);
	assert_non_null(d);
	assert_string_equal(d->name, "Pump Controller"); /* trimmed, not the vendor element's Name */
	assert_int_equal(d->ver_major, 2);
	assert_int_equal(d->ver_minor, 3);
	assert_int_equal(d->flags, LWM2M_OBJ_MULTIPLE | LWM2M_OBJ_MANDATORY);
	assert_int_equal(d->nres, 4);
	assert_int_equal(d->res[0].rid, 0);
	assert_int_equal(d->res[1].rid, 2);
	assert_int_equal(d->res[2].rid, 7);
	assert_int_equal(d->res[3].rid, 65534);

	rd = &d->res[0];
	assert_string_equal(rd->name, "Serial & Batch");
	assert_int_equal(rd->type, LWM2M_TYPE_STRING); /* "string": case-insensitive */
	assert_int_equal(rd->flags, 0);                /* "10..1" is no range */
	rd = &d->res[1];
	assert_int_equal(rd->ops, LWM2M_OP_E);
	assert_int_equal(rd->type, LWM2M_TYPE_NONE);
	assert_null(rd->units);
	rd = &d->res[2];
	assert_string_equal(rd->name, "Speed Setpoint");
	assert_int_equal(rd->type, LWM2M_TYPE_FLOAT);
	assert_int_equal(rd->ops, LWM2M_OP_R | LWM2M_OP_W);
	assert_int_equal(rd->flags, LWM2M_RES_MANDATORY | LWM2M_RES_HAS_RANGE);
	assert_true(rd->min == -40.5 && rd->max == 85);
	assert_string_equal(rd->units, "rpm");
	rd = &d->res[3];
	assert_int_equal(rd->type, LWM2M_TYPE_UNSIGNED);
	assert_int_equal(rd->flags, LWM2M_RES_MULTIPLE); /* "0..255 bytes" is no numeric range */
	assert_null(rd->units);                          /* blank units */

	d = lwm2m_registry_find(r, 42101);
	assert_string_equal(d->name, "Valve");
	assert_int_equal(d->ver_major, 1); /* no ObjectVersion: 1.0 */
	assert_int_equal(d->ver_minor, 0);
	assert_int_equal(d->flags, 0);
	assert_int_equal(d->res[0].ops, LWM2M_OP_W);
	assert_null(lwm2m_registry_find(r, 4000)); /* CommonResources skipped */

	struct lwm2m_path p = LWM2M_PATH(42100, 3, 7);
	assert_int_equal(lwm2m_registry_type_of(r, &p), LWM2M_TYPE_FLOAT);
	lwm2m_registry_free(r);
}

static void test_replacement_rule(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	const struct lwm2m_objdef *builtin = lwm2m_registry_find(r, 3303), *over;
	(void)state;

	/* older than the built-in 1.1: kept */
	assert_int_equal(load_data(r, "good-older-3303.xml", NULL), 0);
	assert_ptr_equal(lwm2m_registry_find(r, 3303), builtin);

	/* equal version: the integrator's file wins */
	assert_int_equal(load_data(r, "good-override-3303.xml", NULL), 1);
	over = lwm2m_registry_find(r, 3303);
	assert_ptr_not_equal(over, builtin);
	assert_string_equal(over->name, "Temperature (site variant)");
	assert_int_equal(over->nres, 1);
	assert_string_equal(over->res[0].units, "Cel");
	assert_int_equal(lwm2m_registry_count(r), 62);

	/* a replaced definition stays valid (stores may still point at it) */
	const struct lwm2m_objdef *first = over;
	assert_int_equal(load_data(r, "good-override-3303.xml", NULL), 1);
	assert_ptr_not_equal(lwm2m_registry_find(r, 3303), first);
	assert_string_equal(first->name, "Temperature (site variant)");

	/* the registry's own 3303 (1.1) replaces again */
	char *path = registry_file("3303.xml");
	assert_int_equal(lwm2m_registry_load_ddf_file(r, path, no_diag, NULL), 1);
	assert_string_equal(lwm2m_registry_find(r, 3303)->name, "Temperature");
	free(path);
	lwm2m_registry_free(r);
}

static void test_atomic_on_error(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	struct diags d = { .n = 0 };
	(void)state;

	assert_int_equal(load_data(r, "good-two-objects.xml", NULL), 2);
	const struct lwm2m_objdef *pump = lwm2m_registry_find(r, 42100);
	assert_int_equal(load_data(r, "bad-second-object.xml", &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_null(lwm2m_registry_find(r, 42006)); /* the good first object is not loaded either */
	assert_null(lwm2m_registry_find(r, 42007));
	assert_ptr_equal(lwm2m_registry_find(r, 42100), pump);
	assert_int_equal(lwm2m_registry_count(r), 64);
	diags_clear(&d);
	lwm2m_registry_free(r);
}

static void test_limits(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	struct diags d = { .n = 0 };
	(void)state;

	/* larger than 4 MiB: refused before parsing */
	size_t big = (4u << 20) + 1;
	char *buf = malloc(big);
	assert_non_null(buf);
	memset(buf, ' ', big);
	memcpy(buf, "<LWM2M>", 7);
	assert_int_equal(lwm2m_registry_load_ddf(r, "big.xml", buf, big, collect, &d), -EBADMSG);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msg[0], "file too large"));
	diags_clear(&d);
	free(buf);

	/* nesting deeper than 32 elements */
	char deep[4096] = "<LWM2M>";
	for (int i = 0; i < 40; i++)
		strcat(deep, "<a>");
	for (int i = 0; i < 40; i++)
		strcat(deep, "</a>");
	strcat(deep, "</LWM2M>");
	assert_int_equal(lwm2m_registry_load_ddf(r, "deep.xml", deep, strlen(deep), collect, &d), -EBADMSG);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msg[0], "nested deeper than 32"));
	diags_clear(&d);

	/* a huge value of a field we keep */
	char *longname = malloc(10000);
	assert_non_null(longname);
	int n = snprintf(longname, 10000,
			 "<LWM2M><Object><Name>%05000d</Name><ObjectID>42200</ObjectID>"
			 "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
			 "</Object></LWM2M>",
			 0);
	assert_int_equal(lwm2m_registry_load_ddf(r, "long.xml", longname, (size_t)n, collect, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msg[0], "<Name> is longer than 4096 bytes"));
	diags_clear(&d);
	free(longname);

	/* not NUL-terminated, exact size: the parser stays inside */
	const char doc[] = "<LWM2M><Object><Name>X</Name><ObjectID>42201</ObjectID>"
			   "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
			   "</Object></LWM2M>";
	char *exact = malloc(sizeof(doc) - 1);
	memcpy(exact, doc, sizeof(doc) - 1);
	assert_int_equal(lwm2m_registry_load_ddf(r, NULL, exact, sizeof(doc) - 1, no_diag, NULL), 1);
	assert_int_equal(lwm2m_registry_find(r, 42201)->nres, 0);
	free(exact);

	/* diag may be NULL */
	assert_int_equal(lwm2m_registry_load_ddf(r, "x.xml", "<LWM2M>", 7, NULL, NULL), -EBADMSG);
	assert_int_equal(lwm2m_registry_load_ddf(NULL, "x.xml", "<LWM2M/>", 8, NULL, NULL), -EINVAL);
	assert_int_equal(lwm2m_registry_load_ddf(r, "x.xml", NULL, 3, NULL, NULL), -EINVAL);
	lwm2m_registry_free(r);
}

static void test_files_and_dirs(void **state)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	struct diags d = { .n = 0 };
	char *dir = NULL;
	(void)state;

	assert_int_equal(lwm2m_registry_load_ddf_file(r, "/nonexistent/x.xml", collect, &d), -ENOENT);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msg[0], "0:0: cannot open"));
	diags_clear(&d);
	assert_int_equal(lwm2m_registry_load_dir(r, "/nonexistent", collect, &d), -ENOENT);
	assert_int_equal(d.n, 1);
	diags_clear(&d);

	/* A directory of mixed cases: good files load, bad ones are reported
	 * and skipped, the README is not *.xml. */
	assert_true(asprintf(&dir, "%s/ddf", getenv("FG_TEST_DATA")) > 0);
	int k = lwm2m_registry_load_dir(r, dir, collect, &d);
	/* sorted: good-not-ddf 0, good-older-3303 0 (older than the built-in),
	 * good-override-3303 1, good-two-objects 2 */
	assert_int_equal(k, 3);
	assert_non_null(lwm2m_registry_find(r, 42100));
	assert_string_equal(lwm2m_registry_find(r, 3303)->name, "Temperature (site variant)");
	assert_true(d.n >= 20); /* every bad-*.xml reported its problems */
	for (size_t i = 0; i < d.n; i++)
		assert_non_null(strstr(d.file[i], "/ddf/bad-"));
	diags_clear(&d);
	free(dir);
	lwm2m_registry_free(r);
}

int main(void)
{
	struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_cases),
		cmocka_unit_test(test_two_objects_fields),
		cmocka_unit_test(test_atomic_on_error),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_files_and_dirs),
		/* need the OMA registry: */
		cmocka_unit_test(test_registry_every_file),
		cmocka_unit_test(test_registry_load_dir),
		cmocka_unit_test(test_registry_spot_checks),
		cmocka_unit_test(test_builtin_matches_registry),
		cmocka_unit_test(test_replacement_rule),
	};
	const char *dir = getenv("FG_REGISTRY_DIR");
	size_t n = sizeof(tests) / sizeof(tests[0]);

	/* The OMA registry sits in shared/ beside the checkout (CI has it). A
	 * clone without it runs the other cases only: cmocka reports a skip as
	 * "not ok # SKIP", which TAP consumers count as a failure. */
	if (!dir || access(dir, R_OK) != 0) {
		printf("# registry cases not run: no OMA registry at %s\n",
		       dir ? dir : "(FG_REGISTRY_DIR unset)");
		n = 5;
	}
	return _cmocka_run_group_tests("ddf", tests, n, NULL, NULL);
}
