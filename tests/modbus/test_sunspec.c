/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SunSpec (bridges/modbus/sunspec.h) on a register image: an inverter
 * (103) with two MPPT strings (160), a wye meter (203) and a vendor model
 * (tests/data/modbus/sunspec/inverter.regs). The walk, read in small and
 * large requests, finds every model; the generated profile equals its
 * golden file (FG_SUNSPEC_REGEN=1 rewrites it), loads with the Modbus source
 * parser, and decodes the image's registers to the values the image was
 * made of (scale factors applied, "not implemented" points left out). Also
 * the bases 0 and 50000, and walks that must fail: no "SunS", a chain
 * without its end, a device refusing its own chain, no answer.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridges/modbus/mb_source.h"
#include "bridges/modbus/sunspec.h"
#include "tests/unit/testutil.h"

struct image {
	int32_t v[65536]; /* -1: no such register */
};

static int image_read(void *ud, uint32_t addr)
{
	return ((struct image *)ud)->v[addr];
}

/* holding:ADDR=HEX lines (blanks between words). */
static struct image *image_load(const char *rel, int32_t shift)
{
	struct image *im = malloc(sizeof(*im));
	size_t len;
	char *text = (char *)tu_read_data(rel, &len), *save = NULL;

	for (size_t i = 0; i < 65536; i++)
		im->v[i] = -1;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned long addr;
		char *p;
		if (strncmp(l, "holding:", 8) != 0)
			continue;
		addr = strtoul(l + 8, &p, 10);
		assert_true(*p == '=');
		for (p++; *p;) {
			char *e;
			unsigned long w = strtoul(p, &e, 16);
			if (e == p)
				break;
			im->v[(addr++ + (unsigned long)shift) & 0xffff] = (int32_t)w;
			p = e;
		}
	}
	free(text);
	return im;
}

static const struct mapping_point *find(const struct mapping_profile *p, uint16_t oid, uint16_t iid,
					uint16_t rid)
{
	struct lwm2m_path path = LWM2M_PATH(oid, iid, rid);
	const struct mapping_point *pt = mapping_profile_find(p, &path);

	if (!pt)
		fail_msg("no /%u/%u/%u", oid, iid, rid);
	return pt;
}

/* A point's value from the image's registers, as the bridge would read it. */
static double value(const struct image *im, const struct mapping_point *pt)
{
	const struct mb_source *src = pt->source;
	uint8_t bytes[8];
	unsigned n = mb_point_count(src, &pt->xf);
	struct mapping_sample s = { .kind = MAPPING_SAMPLE_BYTES, .bytes = bytes, .len = 2 * n };
	struct lwm2m_value v;

	for (unsigned i = 0; i < n; i++) {
		bytes[2 * i] = (uint8_t)(im->v[src->addr + i] >> 8);
		bytes[2 * i + 1] = (uint8_t)im->v[src->addr + i];
	}
	assert_int_equal(mapping_decode(pt, &s, &v), 0);
	return v.type == LWM2M_TYPE_FLOAT ? v.f : (double)v.i;
}

static const char *app_type(const struct mapping_profile *p, uint16_t oid, uint16_t iid)
{
	return (const char *)find(p, oid, iid, 5750)->constant.bytes.ptr;
}

static void test_inverter_image(void **state)
{
	static const struct mapping_source_ops *const kinds[] = { &mb_source_ops, NULL };
	struct image *im = image_load("modbus/sunspec/inverter.regs", 0);
	struct sunspec_walk *w = malloc(sizeof(*w)), *w10 = malloc(sizeof(*w10));
	struct lwm2m_registry *reg = lwm2m_registry_new();
	struct mapping_set *set = mapping_set_new(reg, kinds, "");
	const struct mapping_profile *p;
	struct diag diag = { 0 };
	char *text, *name, *unknown, *text10, *name10, *unk10;
	size_t len, len10;

	(void)state;
	sunspec_walk_init(w, 125);
	assert_int_equal(sunspec_walk_image(w, image_read, im), 0);
	assert_int_equal(w->state, SUNSPEC_DONE);
	assert_int_equal(w->base, 40000);
	assert_int_equal(w->n, 5);
	assert_int_equal(w->m[0].id, 1);
	assert_int_equal(w->m[1].id, 103);
	assert_int_equal(w->m[1].addr, 40070);
	assert_int_equal(w->m[4].id, 64110);
	assert_false(w->m[4].mapped);
	assert_int_equal(sunspec_profile(w, &text, &len, &name, &unknown), 0);
	assert_string_equal(unknown, "64110");
	assert_non_null(strstr(name, "sunspec-1-103-160-203-64110-"));
	/* Ten registers a request: the same walk, the same profile. */
	sunspec_walk_init(w10, 10);
	assert_int_equal(sunspec_walk_image(w10, image_read, im), 0);
	assert_int_equal(sunspec_profile(w10, &text10, &len10, &name10, &unk10), 0);
	assert_string_equal(text, text10);

	if (getenv("FG_SUNSPEC_REGEN")) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/modbus/sunspec/inverter.yaml", getenv("FG_TEST_DATA"));
		FILE *o = fopen(path, "w");
		assert_non_null(o);
		fputs(text, o);
		fclose(o);
	} else {
		size_t gl;
		char *golden = (char *)tu_read_data("modbus/sunspec/inverter.yaml", &gl);
		if (strcmp(golden, text) != 0)
			fail_msg("inverter.yaml differs; generated:\n%s", text);
		free(golden);
	}
	assert_int_equal(mapping_set_load_buffer(set, name, "(sunspec)", text, len, &diag, &p), 0);
	assert_int_equal(diag.errors, 0);
	/* SunSpec's zero-based 40000s are meant: written so that the loader
	 * does not take them for the manuals' 4x notation (a warning per
	 * point, logged for every device that gets the profile). */
	assert_int_equal(diag.warnings, 0);

	/* /3/0 from the common model. */
	assert_string_equal((const char *)find(p, 3, 0, 0)->constant.bytes.ptr, "SunSpec Demo");
	assert_string_equal((const char *)find(p, 3, 0, 1)->constant.bytes.ptr, "SSI-5K-3P");
	assert_string_equal((const char *)find(p, 3, 0, 2)->constant.bytes.ptr, "A1B2C3D4");
	assert_string_equal((const char *)find(p, 3, 0, 3)->constant.bytes.ptr, "1.4.2");
	/* 103: values scaled by their factors. */
	assert_string_equal(app_type(p, 3317, 0), "103 A");
	assert_true(fabs(value(im, find(p, 3317, 0, 5700)) - 12.34) < 1e-9);
	assert_string_equal(app_type(p, 3316, 3), "103 PhVphA");
	assert_true(value(im, find(p, 3316, 3, 5700)) == 230.1);
	assert_true(value(im, find(p, 3318, 0, 5700)) == 50.01);
	assert_string_equal(app_type(p, 3305, 0), "103 power");
	assert_true(value(im, find(p, 3305, 0, 5800)) == 8500);
	assert_true(value(im, find(p, 3305, 0, 5810)) == -120);
	assert_true(fabs(value(im, find(p, 3305, 0, 5820)) - 0.987) < 1e-12);
	assert_true(value(im, find(p, 3305, 0, 5805)) == 12345678);
	assert_string_equal(app_type(p, 3303, 0), "103 TmpCab");
	assert_true(value(im, find(p, 3303, 0, 5700)) == 45.5);
	/* VA and the other temperatures are "not implemented": not there. */
	for (size_t i = 0; i < mapping_profile_npoints(p); i++) {
		const struct mapping_point *pt = mapping_profile_point(p, i);
		if (pt->path.id[2] == 5750 && pt->constant.bytes.ptr)
			assert_null(strstr((const char *)pt->constant.bytes.ptr, "103 VA"));
	}
	/* St: the operating state by name. */
	{
		const struct mapping_point *st = find(p, 3306, 0, 5853);
		uint8_t b[2] = { 0, 4 };
		struct mapping_sample s = { .kind = MAPPING_SAMPLE_BYTES, .bytes = b, .len = 2 };
		struct lwm2m_value v;
		assert_int_equal(mapping_decode(st, &s, &v), 0);
		assert_memory_equal(v.bytes.ptr, "MPPT", 4);
	}
	/* 160: each string's current, voltage, power, energy. */
	assert_string_equal(app_type(p, 3317, 5), "MPPT 1 DCA");
	assert_true(value(im, find(p, 3317, 5, 5700)) == 10.75);
	assert_true(value(im, find(p, 3316, 8, 5700)) == 409.0);
	assert_true(value(im, find(p, 3331, 1, 5700)) == 5980456);
	/* 203: the meter's power and energies. */
	assert_string_equal(app_type(p, 3305, 1), "203 power");
	assert_true(value(im, find(p, 3305, 1, 5800)) == -8450);
	assert_true(fabs(value(im, find(p, 3305, 1, 5820)) + 0.99) < 1e-12);
	assert_true(value(im, find(p, 3305, 1, 5805)) == 12345);
	/* A "not implemented" value read later is refused, not shown. */
	{
		const struct mapping_point *pt = find(p, 3316, 3, 5700);
		uint8_t b[2] = { 0xff, 0xff };
		struct mapping_sample s = { .kind = MAPPING_SAMPLE_BYTES, .bytes = b, .len = 2 };
		struct lwm2m_value v;
		assert_int_equal(mapping_decode(pt, &s, &v), -ERANGE);
	}
	free(text);
	free(name);
	free(unknown);
	free(text10);
	free(name10);
	free(unk10);
	mapping_set_free(set);
	lwm2m_registry_free(reg);
	free(w);
	free(w10);
	free(im);
}

static void test_other_bases(void **state)
{
	struct sunspec_walk *w = malloc(sizeof(*w));
	char *text, *name, *unknown;
	size_t len;

	(void)state;
	/* The same map at 0 and at 50000 (nothing at 40000). */
	for (int i = 0; i < 2; i++) {
		struct image *im = image_load("modbus/sunspec/inverter.regs", i ? 10000 : -40000);
		sunspec_walk_init(w, 125);
		assert_int_equal(sunspec_walk_image(w, image_read, im), 0);
		assert_int_equal(w->base, i ? 50000 : 0);
		assert_int_equal(sunspec_profile(w, &text, &len, &name, &unknown), 0);
		assert_non_null(strstr(text, i ? "address: 0xC398 }  # 50072" : "address: 0x0048 }  # 72"));
		free(text);
		free(name);
		free(unknown);
		free(im);
	}
	free(w);
}

static void test_failures(void **state)
{
	struct image *im = image_load("modbus/sunspec/inverter.regs", 0);
	struct sunspec_walk *w = malloc(sizeof(*w));
	char *text, *name, *unknown;
	size_t len;
	uint32_t addr;
	uint16_t count;

	(void)state;
	/* No "SunS" anywhere. */
	im->v[40000] = 0x1234;
	sunspec_walk_init(w, 125);
	assert_int_equal(sunspec_walk_image(w, image_read, im), -EIO);
	assert_int_equal(w->state, SUNSPEC_FAILED);
	assert_string_equal(w->why, "no SunSpec map: registers 40000, 0 and 50000 do not exist");
	assert_int_equal(sunspec_profile(w, &text, &len, &name, &unknown), -ENOENT);
	free(unknown);
	im->v[40000] = 0x5375;
	/* The chain refused in its middle (the meter's registers). */
	im->v[40200] = -1;
	sunspec_walk_init(w, 125);
	assert_int_equal(sunspec_walk_image(w, image_read, im), -EIO);
	assert_string_equal(w->why, "the device refuses registers of its own model chain");
	im->v[40200] = 0;
	/* No end: the last header made a vendor model running to 65535. */
	im->v[40280] = 0xFFF0;
	sunspec_walk_init(w, 125);
	assert_int_equal(sunspec_walk_image(w, image_read, im), -EIO);
	assert_non_null(strstr(w->why, "65535"));
	/* No answer: the caller retries; the walk stays where it was. */
	sunspec_walk_init(w, 125);
	assert_int_equal(sunspec_walk_next(w, &addr, &count), 1);
	assert_int_equal(sunspec_walk_feed(w, NULL, 0, -ETIMEDOUT), -ETIMEDOUT);
	assert_int_equal(sunspec_walk_next(w, &addr, &count), 1);
	assert_int_equal(addr, 40000);
	/* Fewer registers than asked: a failure, not a crash. */
	assert_int_equal(sunspec_walk_feed(w, (const uint16_t[]){ 0x5375 }, 1, 0), -EIO);
	free(w);
	free(im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inverter_image),
		cmocka_unit_test(test_other_bases),
		cmocka_unit_test(test_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
