/* SPDX-License-Identifier: Apache-2.0 */
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

#include "lwm2m/lwm2m.h"

struct fix {
	struct lwm2m_registry *reg;
	struct lwm2m_store *s;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	f->reg = lwm2m_registry_new();
	f->s = lwm2m_store_new(f->reg);
	*state = f;
	return f->reg && f->s ? 0 : -1;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	lwm2m_store_free(f->s);
	lwm2m_registry_free(f->reg);
	free(f);
	return 0;
}

static struct lwm2m_value vstr(const char *s)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
				     .bytes = { .ptr = (const uint8_t *)s, .len = strlen(s) } };
}

static struct lwm2m_value vint(int64_t i)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = i };
}

static struct lwm2m_value vflt(double d)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = d };
}

static int set(struct lwm2m_store *s, struct lwm2m_path p, struct lwm2m_value v)
{
	return lwm2m_store_set(s, &p, &v);
}

static struct lwm2m_value get(struct lwm2m_store *s, struct lwm2m_path p)
{
	struct lwm2m_value v = { .type = 0xEE };
	int r = lwm2m_store_get(s, &p, &v);
	if (r < 0)
		fail_msg("get failed: %d", r);
	return v;
}

static void assert_str(struct lwm2m_store *s, struct lwm2m_path p, const char *want)
{
	struct lwm2m_value v = get(s, p);
	assert_int_equal(v.bytes.len, strlen(want));
	assert_memory_equal(v.bytes.ptr, want, strlen(want));
}

/* A /3 Device instance like the gateway builds for a field device. */
static void build_device(struct lwm2m_store *s)
{
	assert_int_equal(lwm2m_store_add_instance(s, 3, 0), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 0), vstr("Eastron")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 1), vstr("SDM120-Modbus")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 2), vstr("0042-1234-5678")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 3), vstr("2.1.7")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 11, 0), vint(0)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 16), vstr("U")), 0);
}

static void test_instances(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_path p;

	assert_int_equal(lwm2m_store_add_instance(s, 3303, 1), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), -EEXIST);
	assert_int_equal(lwm2m_store_add_instance(s, 3, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3, 1), -EINVAL); /* /3 is single-instance */
	assert_int_equal(lwm2m_store_add_instance(s, 2, 0), -ENOENT); /* not in the registry */
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 65535), -EINVAL);
	assert_int_equal(lwm2m_store_add_instance(s, 65535, 0), -EINVAL);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 65534), 0);

	p = (struct lwm2m_path){ .len = 0 };
	assert_true(lwm2m_store_has(s, &p));
	p = LWM2M_PATH(3303);
	assert_true(lwm2m_store_has(s, &p));
	p = LWM2M_PATH(3303, 1);
	assert_true(lwm2m_store_has(s, &p));
	p = LWM2M_PATH(3303, 2);
	assert_false(lwm2m_store_has(s, &p));
	p = LWM2M_PATH(3304);
	assert_false(lwm2m_store_has(s, &p));
	p = LWM2M_PATH(3303, 1, 5700);
	assert_false(lwm2m_store_has(s, &p)); /* no value yet */

	assert_int_equal(lwm2m_store_del_instance(s, 3303, 1), 0);
	assert_int_equal(lwm2m_store_del_instance(s, 3303, 1), -ENOENT);
	p = LWM2M_PATH(3303, 1);
	assert_false(lwm2m_store_has(s, &p));
	p = LWM2M_PATH(3303);
	assert_true(lwm2m_store_has(s, &p));
	assert_int_equal(lwm2m_store_del_instance(s, 3303, 0), 0);
	assert_int_equal(lwm2m_store_del_instance(s, 3303, 65534), 0);
	assert_false(lwm2m_store_has(s, &p));
	/* a single-instance object can get its instance again once deleted */
	assert_int_equal(lwm2m_store_del_instance(s, 3, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3, 0), 0);
}

struct seen {
	uint16_t oid[16], iid[16];
	size_t n;
	size_t stop_after;
};

static int visit(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	struct seen *v = ctx;
	v->oid[v->n] = def->oid;
	v->iid[v->n++] = iid;
	return v->n == v->stop_after ? 42 : 0;
}

static void test_foreach_order(void **state)
{
	struct fix *f = *state;
	struct seen v = { .n = 0 };

	assert_int_equal(lwm2m_store_add_instance(f->s, 3303, 7), 0);
	assert_int_equal(lwm2m_store_add_instance(f->s, 3, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(f->s, 3303, 2), 0);
	assert_int_equal(lwm2m_store_add_instance(f->s, 25, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(f->s, 1, 0), 0);
	assert_int_equal(lwm2m_store_foreach_instance(f->s, visit, &v), 0);
	assert_int_equal(v.n, 5);
	const uint16_t oids[] = { 1, 3, 25, 3303, 3303 }, iids[] = { 0, 0, 0, 2, 7 };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(v.oid[i], oids[i]);
		assert_int_equal(v.iid[i], iids[i]);
	}
	v = (struct seen){ .stop_after = 2 };
	assert_int_equal(lwm2m_store_foreach_instance(f->s, visit, &v), 42);
	assert_int_equal(v.n, 2);
}

static void test_set_get_convert(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_value v;
	struct lwm2m_path p;

	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vflt(1)), -ENOENT); /* no instance */
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3, 0), 0);

	/* Integer 21 into a Float resource becomes 21.0 */
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vint(21)), 0);
	v = get(s, LWM2M_PATH(3303, 0, 5700));
	assert_int_equal(v.type, LWM2M_TYPE_FLOAT);
	assert_true(v.f == 21.0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vflt(21.25)), 0);
	assert_true(get(s, LWM2M_PATH(3303, 0, 5700)).f == 21.25);

	/* Float 2.5 into an Integer resource would lose information */
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 9), vflt(2.5)), -ERANGE);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 9), vflt(80.0)), 0);
	v = get(s, LWM2M_PATH(3, 0, 9));
	assert_int_equal(v.type, LWM2M_TYPE_INTEGER);
	assert_int_equal(v.i, 80);
	/* set does not check the DDF range: the gateway reports what it has */
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 9), vint(101)), 0);

	/* a string into a Float, an undefined resource, an executable one */
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vstr("21")), -EINVAL);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 9999), vflt(1)), -ENOENT);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 4), vint(1)), -EINVAL);
	/* shape: single resource at len 4, multiple resource at len 3 */
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700, 0), vflt(1)), -EINVAL);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 11), vint(0)), -EINVAL);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 11, 65535), vint(0)), -EINVAL);
	assert_int_equal(set(s, LWM2M_PATH(3), vint(0)), -EINVAL);
	/* no value type */
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 9), (struct lwm2m_value){ .type = LWM2M_TYPE_NONE }),
			 -EINVAL);

	/* Time, Objlnk, Boolean, Unsigned */
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 13), vint(1700000000)), 0);
	v = get(s, LWM2M_PATH(3, 0, 13));
	assert_int_equal(v.type, LWM2M_TYPE_TIME);
	assert_int_equal(v.i, 1700000000);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 22, 0),
			     (struct lwm2m_value){ .type = LWM2M_TYPE_OBJLNK, .lnk = { 3303, 0 } }),
			 0);
	v = get(s, LWM2M_PATH(3, 0, 22, 0));
	assert_int_equal(v.type, LWM2M_TYPE_OBJLNK);
	assert_int_equal(v.lnk.oid, 3303);
	assert_int_equal(v.lnk.iid, 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3311, 0), 0);
	assert_int_equal(set(s, LWM2M_PATH(3311, 0, 5850),
			     (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = true }),
			 0);
	assert_true(get(s, LWM2M_PATH(3311, 0, 5850)).b);
	assert_int_equal(lwm2m_store_add_instance(s, 1, 0), 0);
	assert_int_equal(
		set(s, LWM2M_PATH(1, 0, 1), (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = 86400 }),
		0);
	v = get(s, LWM2M_PATH(1, 0, 1));
	assert_int_equal(v.type, LWM2M_TYPE_INTEGER);
	assert_int_equal(v.i, 86400);
	assert_int_equal(set(s, LWM2M_PATH(1, 0, 1),
			     (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = UINT64_MAX }),
			 -ERANGE);
	assert_int_equal(get(s, LWM2M_PATH(1, 0, 1)).i, 86400); /* unchanged after the failure */

	/* get of what is absent */
	p = LWM2M_PATH(3, 0, 0);
	assert_int_equal(lwm2m_store_get(s, &p, &v), -ENOENT);
	p = LWM2M_PATH(3, 0, 22); /* multiple: a single value cannot be got */
	assert_int_equal(lwm2m_store_get(s, &p, &v), -ENOENT);
	p = LWM2M_PATH(3, 0);
	assert_int_equal(lwm2m_store_get(s, &p, &v), -EINVAL);
}

static void test_bytes(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_value v;
	struct lwm2m_path p = LWM2M_PATH(3, 0, 0);

	assert_int_equal(lwm2m_store_add_instance(s, 3, 0), 0);
	/* NUL inside a string is kept: no silent truncation */
	v = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"a\0b", 3 } };
	assert_int_equal(lwm2m_store_set(s, &p, &v), 0);
	v = get(s, p);
	assert_int_equal(v.bytes.len, 3);
	assert_memory_equal(v.bytes.ptr, "a\0b", 3);

	/* the store copies: the caller's buffer may change afterwards */
	char buf[16] = "Eastron";
	assert_int_equal(set(s, p, vstr(buf)), 0);
	strcpy(buf, "XXXXXXX");
	assert_str(s, p, "Eastron");

	/* shorter, empty, longer */
	assert_int_equal(set(s, p, vstr("Ea")), 0);
	assert_str(s, p, "Ea");
	assert_int_equal(set(s, p, vstr("")), 0);
	v = get(s, p);
	assert_int_equal(v.type, LWM2M_TYPE_STRING);
	assert_int_equal(v.bytes.len, 0);
	assert_non_null(v.bytes.ptr);
	assert_int_equal(set(s, p, vstr("Eastron Electronic Co., Ltd.")), 0);
	assert_str(s, p, "Eastron Electronic Co., Ltd.");

	/* a value taken from the store and set back, also to another resource */
	v = get(s, p);
	assert_int_equal(lwm2m_store_set(s, &LWM2M_PATH(3, 0, 1), &v), 0);
	v = get(s, LWM2M_PATH(3, 0, 1));
	v.bytes.ptr += 8;
	v.bytes.len = 10;
	assert_int_equal(lwm2m_store_set(s, &LWM2M_PATH(3, 0, 1), &v), 0);
	assert_str(s, LWM2M_PATH(3, 0, 1), "Electronic");
	v = get(s, LWM2M_PATH(3, 0, 1));
	assert_int_equal(lwm2m_store_set(s, &LWM2M_PATH(3, 0, 2), &v), 0);
	assert_str(s, LWM2M_PATH(3, 0, 2), "Electronic");

	/* Opaque only from Opaque; Corelnk from String is fine */
	v = (struct lwm2m_value){ .type = LWM2M_TYPE_OPAQUE, .bytes = { (const uint8_t *)"\x01\x02", 2 } };
	assert_int_equal(lwm2m_store_set(s, &p, &v), -EINVAL);
	assert_int_equal(lwm2m_store_add_instance(s, 25, 0), 0);
	assert_int_equal(set(s, LWM2M_PATH(25, 0, 3), vstr("</3303/0>")), 0);
	assert_int_equal(get(s, LWM2M_PATH(25, 0, 3)).type, LWM2M_TYPE_CORELNK);

	/* many rewrites of growing values do not grow the store without bound */
	size_t before = lwm2m_store_memory(s);
	char big[200];
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(big, sizeof(big), "%0*d", 1 + i % 150, i);
		assert_int_equal(set(s, LWM2M_PATH(3, 0, 3), vstr(big)), 0);
		assert_int_equal(set(s, LWM2M_PATH(3, 0, 17), vstr(big + n / 2)), 0);
	}
	assert_str(s, LWM2M_PATH(3, 0, 0), "Eastron Electronic Co., Ltd.");
	assert_str(s, LWM2M_PATH(3, 0, 2), "Electronic");
	assert_str(s, LWM2M_PATH(3, 0, 3), big);
	assert_true(lwm2m_store_memory(s) < before + 1024);
}

static void test_unset(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_path p;

	build_device(s);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 11, 1), vint(5)), 0);
	p = LWM2M_PATH(3, 0, 11, 0);
	assert_int_equal(lwm2m_store_unset(s, &p), 0);
	assert_int_equal(lwm2m_store_unset(s, &p), -ENOENT);
	p = LWM2M_PATH(3, 0, 11);
	assert_true(lwm2m_store_has(s, &p));
	assert_int_equal(lwm2m_store_unset(s, &p), 0); /* all instances */
	assert_false(lwm2m_store_has(s, &p));
	assert_int_equal(lwm2m_store_unset(s, &p), -ENOENT);
	p = LWM2M_PATH(3, 0, 1);
	assert_int_equal(lwm2m_store_unset(s, &p), 0);
	assert_false(lwm2m_store_has(s, &p));
	assert_str(s, LWM2M_PATH(3, 0, 0), "Eastron");
	assert_str(s, LWM2M_PATH(3, 0, 2), "0042-1234-5678");
	p = LWM2M_PATH(3, 0);
	assert_int_equal(lwm2m_store_unset(s, &p), -EINVAL);
}

static void test_read(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_records out = { 0 };
	struct lwm2m_path p;

	build_device(s);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 11, 3), vint(7)), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 1), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 1, 5700), vflt(-3.5)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vflt(21.5)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5701), vstr("Cel")), 0);
	/* /0 resources have no operations: never readable by a server */
	assert_int_equal(lwm2m_store_add_instance(s, 0, 0), 0);
	assert_int_equal(set(s, LWM2M_PATH(0, 0, 0), vstr("coap://server")), 0);

	/* instance: every readable value, sorted */
	p = LWM2M_PATH(3, 0);
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 7);
	const uint16_t rids[] = { 0, 1, 2, 3, 11, 11, 16 };
	for (size_t i = 0; i < out.n; i++) {
		assert_int_equal(out.v[i].path.id[2], rids[i]);
		if (i > 0)
			assert_true(lwm2m_path_cmp(&out.v[i - 1].path, &out.v[i].path) < 0);
	}
	assert_int_equal(out.v[4].path.len, 4);
	assert_int_equal(out.v[4].path.id[3], 0);
	assert_int_equal(out.v[5].path.id[3], 3);
	assert_int_equal(out.v[5].value.i, 7);
	assert_int_equal(out.v[0].path.len, 3);
	assert_int_equal(out.v[0].value.type, LWM2M_TYPE_STRING);
	/* byte values are copies in out's arena, not pointers into the store */
	const uint8_t *copy = out.v[0].value.bytes.ptr;
	assert_memory_equal(copy, "Eastron", 7);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 0), vstr("Changed")), 0);
	assert_int_equal(lwm2m_store_del_instance(s, 3, 0), 0);
	assert_memory_equal(copy, "Eastron", 7);
	lwm2m_records_clear(&out);
	build_device(s);

	/* appends to what out already holds */
	p = LWM2M_PATH(3303);
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 3);
	p = LWM2M_PATH(3, 0, 11);
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 4);
	assert_true(out.v[0].value.f == 21.5);
	assert_int_equal(out.v[1].path.id[2], 5701);
	assert_true(out.v[2].value.f == -3.5);
	assert_int_equal(out.v[2].path.id[1], 1);
	assert_int_equal(out.v[3].path.len, 4);
	lwm2m_records_clear(&out);

	/* resource and resource instance */
	p = LWM2M_PATH(3303, 0, 5700);
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 1);
	p = LWM2M_PATH(3, 0, 11, 0);
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 2);
	lwm2m_records_clear(&out);

	/* errors leave out alone */
	p = LWM2M_PATH(3303, 5);
	assert_int_equal(lwm2m_store_read(s, &p, &out), -ENOENT);
	p = LWM2M_PATH(3304);
	assert_int_equal(lwm2m_store_read(s, &p, &out), -ENOENT);
	p = LWM2M_PATH(3303, 1, 5701); /* defined, no value */
	assert_int_equal(lwm2m_store_read(s, &p, &out), -ENOENT);
	p = LWM2M_PATH(3303, 1, 9999); /* not defined */
	assert_int_equal(lwm2m_store_read(s, &p, &out), -ENOENT);
	p = LWM2M_PATH(3, 0, 4); /* Reboot: E only */
	assert_int_equal(lwm2m_store_read(s, &p, &out), -EPERM);
	p = LWM2M_PATH(0, 0, 0); /* no R, even with a value */
	assert_int_equal(lwm2m_store_read(s, &p, &out), -EPERM);
	p = LWM2M_PATH(3, 0, 0, 0); /* single resource has no instance 0 */
	assert_int_equal(lwm2m_store_read(s, &p, &out), -ENOENT);
	p = LWM2M_PATH(3, 0, 11, 9);
	assert_int_equal(lwm2m_store_read(s, &p, &out), -ENOENT);
	assert_int_equal(out.n, 0);

	/* /0/0 exists but shows nothing */
	p = LWM2M_PATH(0, 0);
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 0);
	/* the root: everything readable */
	p = (struct lwm2m_path){ .len = 0 };
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 6 + 3);
	lwm2m_records_clear(&out);
}

/* Records as a decoder would produce them for a Write. */
static struct lwm2m_record *add(struct lwm2m_records *r, struct lwm2m_path p, struct lwm2m_value v)
{
	struct lwm2m_record *rec = lwm2m_records_add(r);
	assert_non_null(rec);
	rec->path = p;
	rec->value = v;
	return rec;
}

static void test_write_partial_and_replace(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_records in = { 0 };
	struct lwm2m_path p;

	build_device(s);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 14), vstr("+01:00")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 15), vstr("Europe/Berlin")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 13), vint(1000)), 0);

	/* partial update: only what is given changes */
	add(&in, LWM2M_PATH(3, 0, 14), vstr("+02:00"));
	p = LWM2M_PATH(3, 0);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), 0);
	assert_str(s, LWM2M_PATH(3, 0, 14), "+02:00");
	assert_str(s, LWM2M_PATH(3, 0, 15), "Europe/Berlin");
	assert_int_equal(get(s, LWM2M_PATH(3, 0, 13)).i, 1000);
	lwm2m_records_clear(&in);

	/* replace: writable resources not given are removed, read-only ones stay */
	add(&in, LWM2M_PATH(3, 0, 15), vstr("UTC"));
	assert_int_equal(lwm2m_store_write(s, &p, &in, true), 0);
	assert_str(s, LWM2M_PATH(3, 0, 15), "UTC");
	p = LWM2M_PATH(3, 0, 14);
	assert_false(lwm2m_store_has(s, &p));
	p = LWM2M_PATH(3, 0, 13);
	assert_false(lwm2m_store_has(s, &p));
	assert_str(s, LWM2M_PATH(3, 0, 0), "Eastron");
	assert_int_equal(get(s, LWM2M_PATH(3, 0, 11, 0)).i, 0);
	lwm2m_records_clear(&in);

	/* write on a resource path; Integer text into Time */
	add(&in, LWM2M_PATH(3, 0, 13), vint(1700000000));
	p = LWM2M_PATH(3, 0, 13);
	assert_int_equal(lwm2m_store_write(s, &p, &in, true), 0);
	assert_int_equal(get(s, p).i, 1700000000);
	assert_int_equal(get(s, p).type, LWM2M_TYPE_TIME);
	lwm2m_records_clear(&in);
}

static void test_write_multiple(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_records in = { 0 };
	struct lwm2m_path p;

	/* A small loaded object with a writable multiple resource and ranges. */
	static const char ddf[] =
		"<LWM2M><Object><Name>Multi</Name><ObjectID>42300</ObjectID>"
		"<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
		"<Resources><Item ID=\"1\"><Name>List</Name><Operations>RW</Operations>"
		"<MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>"
		"<Type>Integer</Type><RangeEnumeration>0..100</RangeEnumeration></Item>"
		"<Item ID=\"2\"><Name>Name</Name><Operations>RW</Operations>"
		"<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
		"<Type>String</Type><RangeEnumeration>0..8</RangeEnumeration></Item>"
		"</Resources></Object></LWM2M>";
	assert_int_equal(lwm2m_registry_load_ddf(f->reg, "multi.xml", ddf, sizeof(ddf) - 1, NULL, NULL), 1);
	assert_int_equal(lwm2m_store_add_instance(s, 42300, 0), 0);
	assert_int_equal(set(s, LWM2M_PATH(42300, 0, 1, 0), vint(10)), 0);
	assert_int_equal(set(s, LWM2M_PATH(42300, 0, 1, 1), vint(11)), 0);
	assert_int_equal(set(s, LWM2M_PATH(42300, 0, 1, 2), vint(12)), 0);

	/* partial update of resource instances: added or updated, others kept */
	add(&in, LWM2M_PATH(42300, 0, 1, 1), vint(21));
	add(&in, LWM2M_PATH(42300, 0, 1, 5), vint(25));
	p = LWM2M_PATH(42300, 0, 1);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), 0);
	assert_int_equal(get(s, LWM2M_PATH(42300, 0, 1, 0)).i, 10);
	assert_int_equal(get(s, LWM2M_PATH(42300, 0, 1, 1)).i, 21);
	assert_int_equal(get(s, LWM2M_PATH(42300, 0, 1, 2)).i, 12);
	assert_int_equal(get(s, LWM2M_PATH(42300, 0, 1, 5)).i, 25);

	/* replace of the resource: exactly the given instances remain */
	assert_int_equal(lwm2m_store_write(s, &p, &in, true), 0);
	struct lwm2m_records out = { 0 };
	assert_int_equal(lwm2m_store_read(s, &p, &out), 0);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[0].path.id[3], 1);
	assert_int_equal(out.v[1].path.id[3], 5);
	lwm2m_records_clear(&out);
	lwm2m_records_clear(&in);

	/* one resource instance addressed directly */
	add(&in, LWM2M_PATH(42300, 0, 1, 5), vint(35));
	p = LWM2M_PATH(42300, 0, 1, 5);
	assert_int_equal(lwm2m_store_write(s, &p, &in, true), 0);
	assert_int_equal(get(s, p).i, 35);
	assert_int_equal(get(s, LWM2M_PATH(42300, 0, 1, 1)).i, 21);
	lwm2m_records_clear(&in);

	/* "no instances" (a value-less record at the resource) empties it */
	add(&in, LWM2M_PATH(42300, 0, 1), (struct lwm2m_value){ .type = LWM2M_TYPE_NONE });
	p = LWM2M_PATH(42300, 0);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), 0);
	p = LWM2M_PATH(42300, 0, 1);
	assert_false(lwm2m_store_has(s, &p));
	lwm2m_records_clear(&in);

	/* DDF ranges are enforced on a server's write: numbers and string lengths */
	add(&in, LWM2M_PATH(42300, 0, 1, 0), vint(101));
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), -ERANGE);
	lwm2m_records_clear(&in);
	add(&in, LWM2M_PATH(42300, 0, 2), vstr("123456789"));
	p = LWM2M_PATH(42300, 0);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), -ERANGE);
	lwm2m_records_clear(&in);
	add(&in, LWM2M_PATH(42300, 0, 2), vstr("12345678"));
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), 0);
	assert_str(s, LWM2M_PATH(42300, 0, 2), "12345678");
	lwm2m_records_clear(&in);
}

/* Snapshot of every value of a store, to prove a failed write changed nothing. */
static void snapshot(struct lwm2m_store *s, struct lwm2m_records *out)
{
	struct lwm2m_path root = { .len = 0 };
	assert_int_equal(lwm2m_store_read(s, &root, out), 0);
}

static void assert_same(const struct lwm2m_records *a, const struct lwm2m_records *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(lwm2m_path_cmp(&a->v[i].path, &b->v[i].path), 0);
		assert_int_equal(a->v[i].value.type, b->v[i].value.type);
		switch (a->v[i].value.type) {
		case LWM2M_TYPE_STRING:
		case LWM2M_TYPE_OPAQUE:
		case LWM2M_TYPE_CORELNK:
			assert_int_equal(a->v[i].value.bytes.len, b->v[i].value.bytes.len);
			assert_memory_equal(a->v[i].value.bytes.ptr, b->v[i].value.bytes.ptr,
					    a->v[i].value.bytes.len);
			break;
		default:
			assert_memory_equal(&a->v[i].value.i, &b->v[i].value.i, sizeof(a->v[i].value.i));
		}
	}
}

static void test_write_atomic(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_records in = { 0 }, before = { 0 }, after = { 0 };
	struct lwm2m_path p = LWM2M_PATH(3, 0);

	build_device(s);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 14), vstr("+01:00")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 15), vstr("Europe/Berlin")), 0);
	snapshot(s, &before);

	struct {
		struct lwm2m_path path;
		struct lwm2m_value value;
		int err;
	} bad[] = {
		{ LWM2M_PATH(3, 0, 0), vstr("x"), -EPERM },      /* read-only */
		{ LWM2M_PATH(3, 0, 4), vint(1), -EPERM },        /* executable */
		{ LWM2M_PATH(3, 0, 9999), vint(1), -ENOENT },    /* undefined */
		{ LWM2M_PATH(3, 0, 13), vstr("now"), -EINVAL },  /* type */
		{ LWM2M_PATH(3, 0, 13), vflt(1.5), -ERANGE },    /* precision */
		{ LWM2M_PATH(3, 0, 14, 0), vstr("x"), -EINVAL }, /* single as multiple */
		{ LWM2M_PATH(3, 1, 14), vstr("x"), -EINVAL },    /* outside p */
		{ LWM2M_PATH(3, 0), vstr("x"), -EINVAL },        /* not a resource */
		{ LWM2M_PATH(3, 0, 14), { .type = LWM2M_TYPE_NONE }, -EINVAL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int replace = 0; replace < 2; replace++) {
			/* good records before and after the bad one */
			add(&in, LWM2M_PATH(3, 0, 14), vstr("+05:30 a much longer value than before"));
			add(&in, bad[i].path, bad[i].value);
			add(&in, LWM2M_PATH(3, 0, 15), vstr("Asia/Kolkata"));
			int r = lwm2m_store_write(s, &p, &in, replace);
			if (r != bad[i].err)
				fail_msg("case %zu replace %d: %d, expected %d", i, replace, r, bad[i].err);
			snapshot(s, &after);
			assert_same(&before, &after);
			lwm2m_records_clear(&after);
			lwm2m_records_clear(&in);
		}
	}

	/* the target itself */
	p = LWM2M_PATH(3, 1);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), -ENOENT);
	p = LWM2M_PATH(3);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), -EPERM);
	p = LWM2M_PATH(3, 0, 0);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), -EPERM);
	p = LWM2M_PATH(3, 0, 9999);
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), -ENOENT);
	snapshot(s, &after);
	assert_same(&before, &after);
	lwm2m_records_clear(&after);

	/* a write of the store's own bytes back into it (records that point
	 * into the store) works across buffer moves */
	p = LWM2M_PATH(3, 0);
	struct lwm2m_value cur = get(s, LWM2M_PATH(3, 0, 15));
	add(&in, LWM2M_PATH(3, 0, 14), cur);
	add(&in, LWM2M_PATH(3, 0, 15), vstr("a value long enough to make the byte buffer grow and move"));
	assert_int_equal(lwm2m_store_write(s, &p, &in, false), 0);
	assert_str(s, LWM2M_PATH(3, 0, 14), "Europe/Berlin");
	lwm2m_records_clear(&in);
	lwm2m_records_clear(&before);
}

static void test_memory_budget(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;

	build_device(s); /* /3 with 6 resources */
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vflt(21.5)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5701), vstr("Cel")), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5601), vflt(-4)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5602), vflt(35.25)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5518), vint(1700000000)), 0);
	size_t m = lwm2m_store_memory(s);
	print_message("# store of /3 (6 values) + /3303/0 (5 values): %zu bytes\n", m);
	assert_true(m < 2048);
	assert_true(m > 11 * 16); /* it does count something real */
	assert_int_equal(lwm2m_store_memory(NULL), 0);
}

/* lwm2m_store_reserve() sizes the arrays exactly: a store filled with
 * what was reserved holds no more memory than right after the reserve
 * (no growth slack), and one value more makes it grow. */
static void test_reserve_exact(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	static const uint16_t rids[] = { 5601, 5602, 5603, 5604, 5700 };

	assert_int_equal(lwm2m_store_reserve(NULL, 1, 1), -EINVAL);
	assert_int_equal(lwm2m_store_reserve(s, 2, 10), 0);
	size_t m = lwm2m_store_memory(s);
	for (uint16_t iid = 0; iid < 2; iid++) {
		assert_int_equal(lwm2m_store_add_instance(s, 3303, iid), 0);
		for (size_t i = 0; i < sizeof(rids) / sizeof(rids[0]); i++)
			assert_int_equal(set(s, LWM2M_PATH(3303, iid, rids[i]), vflt(1.5 * (double)i)), 0);
	}
	assert_int_equal(lwm2m_store_memory(s), m);
	/* A smaller reserve than what is there changes nothing. */
	assert_int_equal(lwm2m_store_reserve(s, 1, 1), 0);
	assert_int_equal(lwm2m_store_memory(s), m);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5518), vint(1700000000)), 0);
	assert_true(lwm2m_store_memory(s) > m);
	assert_true(lwm2m_store_get(s, &LWM2M_PATH(3303, 1, 5604), &(struct lwm2m_value){ 0 }) == 0);
}

/* A time of measurement travels with the value into reads, to the
 * millisecond; a later set without time, or a server write, drops it. */
static void test_time_of_measurement(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	struct lwm2m_records recs = { 0 };
	struct lwm2m_value v = vflt(21.5);

	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), 0);
	assert_int_equal(lwm2m_store_set_at(s, &LWM2M_PATH(3303, 0, 5700), &v, 1700000000.1234), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5701), vstr("Cel")), 0);
	assert_int_equal(lwm2m_store_read(s, &LWM2M_PATH(3303, 0), &recs), 0);
	assert_int_equal(recs.n, 2);
	assert_true(recs.v[0].has_time);
	assert_true(recs.v[0].time == 1700000000.123);
	assert_false(recs.v[1].has_time);
	lwm2m_records_clear(&recs);

	/* Out of range (before 1970 + 1 s, after 2106): no time. */
	assert_int_equal(lwm2m_store_set_at(s, &LWM2M_PATH(3303, 0, 5700), &v, -5), 0);
	assert_int_equal(lwm2m_store_read(s, &LWM2M_PATH(3303, 0, 5700), &recs), 0);
	assert_false(recs.v[0].has_time);
	lwm2m_records_clear(&recs);
	assert_int_equal(lwm2m_store_set_at(s, &LWM2M_PATH(3303, 0, 5700), &v, 5e9), 0);
	assert_int_equal(lwm2m_store_read(s, &LWM2M_PATH(3303, 0, 5700), &recs), 0);
	assert_false(recs.v[0].has_time);
	lwm2m_records_clear(&recs);

	assert_int_equal(lwm2m_store_set_at(s, &LWM2M_PATH(3303, 0, 5700), &v, 1700000001), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vflt(22)), 0);
	assert_int_equal(lwm2m_store_read(s, &LWM2M_PATH(3303, 0, 5700), &recs), 0);
	assert_false(recs.v[0].has_time);
	lwm2m_records_clear(&recs);
}

/* A borrowed value points at the caller's bytes (no byte buffer at all);
 * any later set or write of it makes it an ordinary, copied value, and
 * compaction of the others leaves it alone. */
static void test_borrowed(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = f->s;
	static const char mfr[] = "zigbee2mqtt", tz[] = "UTC";
	struct lwm2m_value v = vstr(mfr), got;
	struct lwm2m_records recs = { 0 };
	size_t m;

	assert_int_equal(lwm2m_store_reserve(s, 1, 4), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3, 0), 0);
	m = lwm2m_store_memory(s);
	assert_int_equal(lwm2m_store_set_borrowed(s, &LWM2M_PATH(3, 0, 0), &v), 0);
	v = vstr(tz);
	assert_int_equal(lwm2m_store_set_borrowed(s, &LWM2M_PATH(3, 0, 15), &v), 0);
	v = vint(7); /* not bytes: kept as any value */
	assert_int_equal(lwm2m_store_set_borrowed(s, &LWM2M_PATH(3, 0, 9), &v), 0);
	assert_int_equal(lwm2m_store_memory(s), m); /* nothing copied */
	assert_int_equal(lwm2m_store_get(s, &LWM2M_PATH(3, 0, 0), &got), 0);
	assert_int_equal(got.type, LWM2M_TYPE_STRING);
	assert_ptr_equal(got.bytes.ptr, mfr);
	assert_int_equal(got.bytes.len, strlen(mfr));
	assert_int_equal(get(s, LWM2M_PATH(3, 0, 9)).i, 7);
	assert_int_equal(lwm2m_store_read(s, &LWM2M_PATH(3, 0), &recs), 0);
	assert_int_equal(recs.n, 3);
	assert_int_equal(recs.v[0].value.bytes.len, strlen(mfr));
	assert_memory_equal(recs.v[0].value.bytes.ptr, mfr, strlen(mfr));
	assert_false(recs.v[0].has_time); /* its length is where a time would be */
	lwm2m_records_clear(&recs);

	/* Set again: copied; the borrowed bytes are never written to. */
	assert_int_equal(set(s, LWM2M_PATH(3, 0, 0), vstr("acme")), 0);
	assert_int_equal(lwm2m_store_get(s, &LWM2M_PATH(3, 0, 0), &got), 0);
	assert_true(got.bytes.ptr != (const uint8_t *)mfr);
	assert_int_equal(got.bytes.len, 4);
	assert_memory_equal(got.bytes.ptr, "acme", 4);
	assert_string_equal(mfr, "zigbee2mqtt");
	/* Our own bytes handed back are copied, not borrowed. */
	assert_int_equal(lwm2m_store_set_borrowed(s, &LWM2M_PATH(3, 0, 1), &got), 0);
	assert_int_equal(lwm2m_store_get(s, &LWM2M_PATH(3, 0, 1), &got), 0);
	assert_memory_equal(got.bytes.ptr, "acme", 4);
	/* Growing the others until they are compacted: the borrowed one stays. */
	for (int i = 0; i < 50; i++) {
		char text[40];

		snprintf(text, sizeof(text), "model %0*d", i % 20 + 1, i);
		assert_int_equal(set(s, LWM2M_PATH(3, 0, 1), vstr(text)), 0);
	}
	assert_int_equal(lwm2m_store_get(s, &LWM2M_PATH(3, 0, 15), &got), 0);
	assert_ptr_equal(got.bytes.ptr, tz);
	assert_int_equal(got.bytes.len, 3);

	/* A server write replaces it with its own copy. */
	struct lwm2m_record rec = { .path = LWM2M_PATH(3, 0, 15), .value = vstr("Europe/Paris") };
	struct lwm2m_records in = { .v = &rec, .n = 1 };
	assert_int_equal(lwm2m_store_write(s, &LWM2M_PATH(3, 0, 15), &in, false), 0);
	assert_int_equal(lwm2m_store_get(s, &LWM2M_PATH(3, 0, 15), &got), 0);
	assert_int_equal(got.bytes.len, 12);
	assert_memory_equal(got.bytes.ptr, "Europe/Paris", 12);
	assert_string_equal(tz, "UTC");
	assert_int_equal(lwm2m_store_unset(s, &LWM2M_PATH(3, 0, 15)), 0);
}

/* A store made with room for its arrays is one block: filling them to
 * that room allocates nothing more; outgrowing it moves them out, intact. */
static void test_new_sized(void **state)
{
	struct fix *f = *state;
	struct lwm2m_store *s = lwm2m_store_new_sized(f->reg, 2, 3), *e = lwm2m_store_new(f->reg);
	size_t m;

	assert_non_null(s);
	assert_null(lwm2m_store_new_sized(NULL, 1, 1));
	/* One chunk, against three for the same arrays made separately. */
	assert_int_equal(lwm2m_store_reserve(e, 2, 3), 0);
	m = lwm2m_store_memory(s);
	assert_true(m < lwm2m_store_memory(e));
	lwm2m_store_free(e);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 1), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5700), vflt(1.5)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 1, 5700), vflt(2.5)), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 0, 5601), vflt(0.5)), 0);
	assert_int_equal(lwm2m_store_memory(s), m);
	/* Beyond: moved out, every value still there. */
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 2), 0);
	assert_int_equal(set(s, LWM2M_PATH(3303, 2, 5700), vflt(3.5)), 0);
	assert_true(lwm2m_store_memory(s) > m);
	assert_true(get(s, LWM2M_PATH(3303, 0, 5700)).f == 1.5);
	assert_true(get(s, LWM2M_PATH(3303, 1, 5700)).f == 2.5);
	assert_true(get(s, LWM2M_PATH(3303, 0, 5601)).f == 0.5);
	assert_true(get(s, LWM2M_PATH(3303, 2, 5700)).f == 3.5);
	assert_true(lwm2m_store_has(s, &LWM2M_PATH(3303, 1)));
	lwm2m_store_free(s);
}

static void test_null_args(void **state)
{
	struct fix *f = *state;
	struct lwm2m_path p = LWM2M_PATH(3, 0, 0);
	struct lwm2m_value v = vstr("x");
	struct lwm2m_records r = { 0 };

	assert_null(lwm2m_store_new(NULL));
	assert_null(lwm2m_store_free(NULL));
	assert_int_equal(lwm2m_store_add_instance(NULL, 3, 0), -EINVAL);
	assert_int_equal(lwm2m_store_del_instance(NULL, 3, 0), -EINVAL);
	assert_false(lwm2m_store_has(NULL, &p));
	assert_int_equal(lwm2m_store_set(NULL, &p, &v), -EINVAL);
	assert_int_equal(lwm2m_store_set(f->s, NULL, &v), -EINVAL);
	assert_int_equal(lwm2m_store_get(f->s, &p, NULL), -EINVAL);
	assert_int_equal(lwm2m_store_read(f->s, &p, NULL), -EINVAL);
	assert_int_equal(lwm2m_store_write(f->s, &p, NULL, false), -EINVAL);
	assert_int_equal(lwm2m_store_foreach_instance(f->s, NULL, NULL), -EINVAL);
	(void)r;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_get_convert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_partial_and_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_multiple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_of_measurement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_borrowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_sized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_args, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
