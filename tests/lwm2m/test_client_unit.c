/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of lwm2m/client internals that need no network: the heap of
 * deadlines, the Register link list, the Execute argument grammar, the
 * errno -> CoAP code table, targets following the client's mode, and the
 * Update schedule.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/client/client_internal.h"
#include "lwm2m/client/ep_internal.h"

/* ---- heap ---------------------------------------------------------------- */

static int fired_count;
static void no_fn(struct lwm2m_client *c, struct fg_timer *t)
{
	(void)c;
	(void)t;
	fired_count++;
}

static uint64_t pop(struct lwm2m_client *c)
{
	struct fg_timer *t = c->heap[0];
	uint64_t when = t->when;

	fg_timer_disarm(c, t);
	assert_false(fg_timer_armed(t));
	return when;
}

static void heap_is_ordered(void **state)
{
	struct lwm2m_client c = { 0 };
	enum { N = 2000 };
	struct fg_timer *t = calloc(N, sizeof(*t));
	uint64_t *expect = calloc(N, sizeof(*expect));
	size_t n = 0;

	(void)state;
	srand(7);
	for (size_t i = 0; i < N; i++) {
		fg_timer_init(&t[i], no_fn);
		assert_int_equal(fg_timer_arm(&c, &t[i], (uint64_t)(rand() % 5000)), 0);
	}
	/* Move some, disarm some: the heap must follow. */
	for (size_t i = 0; i < N; i += 3)
		assert_int_equal(fg_timer_arm(&c, &t[i], (uint64_t)(rand() % 5000)), 0);
	for (size_t i = 1; i < N; i += 7)
		fg_timer_disarm(&c, &t[i]);
	fg_timer_disarm(&c, &t[1]); /* twice: harmless */
	for (size_t i = 0; i < N; i++)
		if (fg_timer_armed(&t[i]))
			expect[n++] = t[i].when;
	assert_int_equal(c.nheap, n);
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			if (expect[k] < expect[i]) {
				uint64_t x = expect[i];
				expect[i] = expect[k];
				expect[k] = x;
			}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pop(&c), expect[i]);
	assert_int_equal(c.nheap, 0);
	assert_int_equal(fired_count, 0);
	free(c.heap);
	free(t);
	free(expect);
}

static void heap_index_tracks_position(void **state)
{
	struct lwm2m_client c = { 0 };
	struct fg_timer a, b, d;

	(void)state;
	fg_timer_init(&a, no_fn);
	fg_timer_init(&b, no_fn);
	fg_timer_init(&d, no_fn);
	assert_false(fg_timer_armed(&a));
	fg_timer_arm(&c, &a, 30);
	fg_timer_arm(&c, &b, 20);
	fg_timer_arm(&c, &d, 10);
	for (size_t i = 0; i < c.nheap; i++)
		assert_int_equal(c.heap[i]->idx, i);
	assert_ptr_equal(c.heap[0], &d);
	fg_timer_arm(&c, &a, 5); /* earlier: moves up */
	assert_ptr_equal(c.heap[0], &a);
	fg_timer_arm(&c, &a, 50); /* later: moves down */
	assert_ptr_equal(c.heap[0], &d);
	fg_timer_disarm(&c, &d);
	assert_ptr_equal(c.heap[0], &b);
	for (size_t i = 0; i < c.nheap; i++)
		assert_int_equal(c.heap[i]->idx, i);
	free(c.heap);
}

/* ---- Register links ------------------------------------------------------- */

static void links(void **state)
{
	struct lwm2m_registry *reg = lwm2m_registry_new();
	struct lwm2m_store *s = lwm2m_store_new(reg);
	struct lwm2m_client c = { .reg = reg };
	struct lwm2m_buf b = { 0 };
	uint16_t declared[] = { 3311, 3303, 5 };

	(void)state;
	assert_non_null(s);
	/* Security: never listed (OSCORE /21 has no built-in definition). */
	assert_int_equal(lwm2m_store_add_instance(s, 0, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 0, 1), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 2), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3303, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 4, 0), 0);
	assert_int_equal(fg_links(&c, s, declared, 3, false, 0, &b), 0);
	assert_int_equal(lwm2m_buf_putc(&b, 0), 0);
	/* 4 (1.3 in the registry), 3303 (1.1): ver on the object link; 5
	 * (1.0... declared, no instance): </5>; 3303 declared and present:
	 * listed once. */
	const struct lwm2m_objdef *d4 = lwm2m_registry_find(reg, 4), *d5 = lwm2m_registry_find(reg, 5),
				  *d3311 = lwm2m_registry_find(reg, 3311);
	char expect[256], o4[32], o5[32], o3311[32];

	if (d4->ver_major == 1 && d4->ver_minor == 0)
		snprintf(o4, sizeof(o4), "</4/0>");
	else
		snprintf(o4, sizeof(o4), "</4>;ver=%u.%u,</4/0>", d4->ver_major, d4->ver_minor);
	if (d5->ver_major == 1 && d5->ver_minor == 0)
		snprintf(o5, sizeof(o5), "</5>");
	else
		snprintf(o5, sizeof(o5), "</5>;ver=%u.%u", d5->ver_major, d5->ver_minor);
	if (d3311->ver_major == 1 && d3311->ver_minor == 0)
		snprintf(o3311, sizeof(o3311), "</3311>");
	else
		snprintf(o3311, sizeof(o3311), "</3311>;ver=%u.%u", d3311->ver_major, d3311->ver_minor);
	snprintf(expect, sizeof(expect), "%s,%s,</3303>;ver=1.1,</3303/0>,</3303/2>,%s", o4, o5, o3311);
	assert_string_equal((char *)b.data, expect);

	/* comma=true: a leading ',' for appending after the root link. */
	lwm2m_buf_reset(&b);
	assert_int_equal(fg_links(&c, s, NULL, 0, true, 0, &b), 0);
	assert_int_equal(lwm2m_buf_putc(&b, 0), 0);
	assert_true(((char *)b.data)[0] == ',');
	assert_null(strstr((char *)b.data, "</0"));
	assert_null(strstr((char *)b.data, "</21"));

	/* Nothing at all. */
	lwm2m_buf_reset(&b);
	assert_int_equal(fg_links(&c, NULL, NULL, 0, false, 0, &b), 0);
	assert_int_equal(b.len, 0);
	/* The Server and Device objects announced per enabler version. */
	lwm2m_store_free(s);
	s = lwm2m_store_new(reg);
	assert_non_null(s);
	assert_int_equal(lwm2m_store_add_instance(s, 1, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(s, 3, 0), 0);
	static const struct {
		uint8_t enabler;
		const char *links;
	} per_version[] = {
		{ 0, "</1>;ver=1.2,</1/0>,</3>;ver=1.2,</3/0>" },
		{ 12, "</1>;ver=1.2,</1/0>,</3>;ver=1.2,</3/0>" },
		{ 11, "</1>;ver=1.1,</1/0>,</3>;ver=1.2,</3/0>" },
		{ 10, "</1/0>,</3/0>" },
	};
	for (size_t i = 0; i < sizeof(per_version) / sizeof(per_version[0]); i++) {
		lwm2m_buf_reset(&b);
		assert_int_equal(fg_links(&c, s, NULL, 0, false, per_version[i].enabler, &b), 0);
		assert_int_equal(lwm2m_buf_putc(&b, 0), 0);
		assert_string_equal((char *)b.data, per_version[i].links);
	}
	lwm2m_buf_free(&b);
	lwm2m_store_free(s);
	lwm2m_registry_free(reg);
}

/* ---- Execute arguments ------------------------------------------------------ */

static void exec_args(void **state)
{
	static const char *good[] = {
		"",
		"0",
		"9",
		"0,1",
		"0='a'",
		"0=''",
		"1='a b,c=d'",
		"0='x',1,2='y'",
		"5='~!@#$%^&*()_+-={}[]|\\:;\"<>,.?/'",
	};
	static const char *bad[] = {
		"a",    "10",     "0=", "0=a", "0='a",   "0,",      ",0",
		"0,,1", "0='a'1", "0 ", " 0",  "0='\t'", "0=\"a\"", "-1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(fg_exec_args_check(good[i], strlen(good[i])), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fg_exec_args_check(bad[i], strlen(bad[i])), -EINVAL);
	/* NUL inside is not a CHAR. */
	assert_int_equal(fg_exec_args_check("0='a\0b'", 7), -EINVAL);
}

/* ---- errno -> CoAP --------------------------------------------------------- */

static void errno_codes(void **state)
{
	(void)state;
	assert_int_equal(lwm2m_errno_to_coap(0), COAP_RESPONSE_CODE(204));
	assert_int_equal(lwm2m_errno_to_coap(-EBADMSG), COAP_RESPONSE_CODE(400));
	assert_int_equal(lwm2m_errno_to_coap(-EINVAL), COAP_RESPONSE_CODE(400));
	assert_int_equal(lwm2m_errno_to_coap(-ERANGE), COAP_RESPONSE_CODE(400));
	assert_int_equal(lwm2m_errno_to_coap(-EEXIST), COAP_RESPONSE_CODE(400));
	assert_int_equal(lwm2m_errno_to_coap(-EACCES), COAP_RESPONSE_CODE(401));
	assert_int_equal(lwm2m_errno_to_coap(-ENOENT), COAP_RESPONSE_CODE(404));
	assert_int_equal(lwm2m_errno_to_coap(-EPERM), COAP_RESPONSE_CODE(405));
	assert_int_equal(lwm2m_errno_to_coap(-ENOTSUP), COAP_RESPONSE_CODE(406));
	assert_int_equal(lwm2m_errno_to_coap(-EPROTONOSUPPORT), COAP_RESPONSE_CODE(415));
	assert_int_equal(lwm2m_errno_to_coap(-ETIMEDOUT), COAP_RESPONSE_CODE(503));
	assert_int_equal(lwm2m_errno_to_coap(-EHOSTUNREACH), COAP_RESPONSE_CODE(503));
	assert_int_equal(lwm2m_errno_to_coap(-EBUSY), COAP_RESPONSE_CODE(503));
	assert_int_equal(lwm2m_errno_to_coap(-ETIME), COAP_RESPONSE_CODE(504));
	assert_int_equal(lwm2m_errno_to_coap(-ENOMEM), COAP_RESPONSE_CODE(500));
	assert_int_equal(lwm2m_errno_to_coap(-EIO), COAP_RESPONSE_CODE(500));
	assert_int_equal(lwm2m_errno_to_coap(-12345), COAP_RESPONSE_CODE(500));
}

/* ---- targets ------------------------------------------------------------------ */

struct tstate {
	int calls;
	enum lwm2m_ep_state st;
	struct lwm2m_target *t;
};

static void t_state(void *ud, struct lwm2m_target *t, enum lwm2m_ep_state st, int err)
{
	struct tstate *ts = ud;

	assert_int_equal(err, 0);
	ts->calls++;
	ts->st = st;
	ts->t = t;
}

/* A target is an Object 25 device of the gateway endpoint or an endpoint of
 * its own, as the client's mode says when it is added; in gateway mode it
 * waits for the gateway endpoint, its values going to its store. */
static void targets_follow_the_mode(void **state)
{
	static const struct lwm2m_target_ops ops = { .state = t_state };
	struct lwm2m_registry *reg = lwm2m_registry_new();
	struct lwm2m_store *gws = lwm2m_store_new(reg), *ds = lwm2m_store_new(reg),
			   *es = lwm2m_store_new(reg);
	struct lwm2m_client_config cc = { .target_mode = LWM2M_TARGETS_GATEWAY };
	struct lwm2m_endpoint_config ec = { .name = "gw",
					    .server_uri = "coap://127.0.0.1:9",
					    .gateway = true };
	struct tstate ts = { 0 };
	struct lwm2m_target_config tc = {
		.prefix = "dev1", .device_id = "id1", .store = ds, .ops = &ops, .ud = &ts
	};
	const struct lwm2m_path temp = LWM2M_PATH(3303, 0, 5700);
	struct lwm2m_value v = { .type = LWM2M_TYPE_FLOAT, .f = 21.5 }, got;
	struct lwm2m_target *t, *te;
	struct lwm2m_endpoint *gw;
	struct lwm2m_client *c;
	sd_event *ev;
	uint32_t pmin = 7;

	(void)state;
	assert_int_equal(sd_event_new(&ev), 0);
	assert_int_equal(lwm2m_client_new(ev, reg, &cc, &c), 0);
	assert_int_equal(lwm2m_store_add_instance(ds, 3303, 0), 0);

	/* Gateway mode, no gateway endpoint yet: the target waits. */
	assert_int_equal(lwm2m_target_add(c, &tc, &t), 0);
	assert_null(lwm2m_target_endpoint_name(t));
	assert_int_equal(lwm2m_target_state(t), LWM2M_EP_WAITING);
	assert_int_equal(lwm2m_target_set(t, &temp, &v, 0, false), 0);
	assert_int_equal(lwm2m_store_get(ds, &temp, &got), 0);
	assert_true(got.f == 21.5);
	assert_int_equal(lwm2m_target_observed(t, &temp, &pmin), 0);
	assert_int_equal(ts.calls, 0);

	/* The gateway endpoint comes: the target becomes its /25/0, and
	 * learns its presence. */
	assert_int_equal(lwm2m_endpoint_add(c, &ec, gws, &gw), 0);
	assert_int_equal(ts.calls, 1);
	assert_ptr_equal(ts.t, t);
	assert_int_equal(ts.st, LWM2M_EP_WAITING);
	assert_string_equal(lwm2m_target_endpoint_name(t), "gw");
	assert_int_equal(lwm2m_store_get(gws, &LWM2M_PATH(25, 0, 1), &got), 0);
	assert_int_equal(got.bytes.len, 4);
	assert_memory_equal(got.bytes.ptr, "dev1", 4);
	assert_int_equal(lwm2m_target_set(t, &temp, &v, 0, false), 0);

	/* Endpoint mode for targets added from now on: each its own. */
	assert_int_equal(lwm2m_client_set_target_mode(c, (enum lwm2m_target_mode)7), -EINVAL);
	assert_int_equal(lwm2m_client_set_target_mode(c, LWM2M_TARGETS_ENDPOINTS), 0);
	tc.store = es;
	tc.ud = NULL;
	tc.ops = NULL;
	assert_int_equal(lwm2m_target_add(c, &tc, &te), -EAGAIN); /* no endpoint configuration */
	ec.name = "dev2";
	tc.endpoint = &ec;
	assert_int_equal(lwm2m_target_add(c, &tc, &te), 0);
	assert_string_equal(lwm2m_target_endpoint_name(te), "dev2");
	assert_int_equal(lwm2m_target_state(te), LWM2M_EP_WAITING);
	assert_ptr_equal(lwm2m_target_store(te), es);

	/* The gateway endpoint goes: its target waits again (no call: the
	 * endpoint is being removed). */
	lwm2m_endpoint_remove(gw);
	assert_null(lwm2m_target_endpoint_name(t));
	lwm2m_target_remove(t);
	/* te is freed with the client. */
	lwm2m_client_free(c);
	lwm2m_store_free(gws);
	lwm2m_store_free(ds);
	lwm2m_store_free(es);
	lwm2m_registry_free(reg);
	sd_event_unref(ev);
}

/* Shared texts (strtab.c): one counted copy per distinct text, through
 * the growth of the table, gone with the last reference. */
static void shared_texts(void **state)
{
	struct lwm2m_registry *reg = lwm2m_registry_new();
	struct lwm2m_client_config cc = { 0 };
	const char *v[100], *a, *b;
	struct lwm2m_client *c;
	char name[16];
	sd_event *ev;

	(void)state;
	assert_int_equal(sd_event_new(&ev), 0);
	assert_int_equal(lwm2m_client_new(ev, reg, &cc, &c), 0);
	a = fg_str_get(c, "gw-gw2", 6);
	b = fg_str_get(c, "gw-gw2xyz", 6); /* the first 6 bytes only */
	assert_ptr_equal(a, b);
	assert_string_equal(a, "gw-gw2");
	assert_null(fg_str_get(c, "a\0b", 3)); /* not a text */
	v[0] = fg_str_get(c, NULL, 0);         /* an empty lwm2m_buf's */
	assert_string_equal(v[0], "");
	assert_ptr_equal(fg_str_get(c, "", 0), v[0]);
	fg_str_put(c, v[0]);
	fg_str_put(c, v[0]);
	for (size_t i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		v[i] = fg_str_get(c, name, strlen(name));
		assert_string_equal(v[i], name);
	}
	assert_ptr_equal(fg_str_get(c, "t42", 3), v[42]);
	assert_ptr_not_equal(v[1], v[10]);
	fg_str_put(c, v[42]);
	for (size_t i = 0; i < 100; i++)
		fg_str_put(c, v[i]);
	fg_str_put(c, a);
	assert_non_null(c->strtab);
	fg_str_put(c, b);
	assert_null(c->strtab);
	fg_str_put(c, NULL);
	lwm2m_client_free(c);
	lwm2m_registry_free(reg);
	sd_event_unref(ev);
}

/* What a device's value in the gateway's store reads, or NULL (a value
 * borrowed from a freed device is read here: ASan's heap-use-after-free). */
static char *o25_text(struct lwm2m_store *s, uint16_t iid, uint16_t rid, char *buf, size_t size)
{
	struct lwm2m_value v;

	if (lwm2m_store_get(s, &LWM2M_PATH(25, iid, rid), &v) < 0)
		return NULL;
	assert_true(v.bytes.len < size);
	memcpy(buf, v.bytes.ptr, v.bytes.len);
	buf[v.bytes.len] = '\0';
	return buf;
}

/* A gateway endpoint that goes takes its devices' /25 instances out of its
 * store (the caller's, which outlives it; their values borrow the devices'
 * bytes): nothing is left to read a freed device, and the devices get
 * their places back when an endpoint comes again on the same store. Two
 * devices with the same objects share one IoT Device Objects text. */
static void gateway_devices_leave_the_store(void **state)
{
	struct lwm2m_registry *reg = lwm2m_registry_new();
	struct lwm2m_store *gws = lwm2m_store_new(reg), *d1 = lwm2m_store_new(reg),
			   *d2 = lwm2m_store_new(reg);
	struct lwm2m_client_config cc = { .target_mode = LWM2M_TARGETS_GATEWAY };
	struct lwm2m_endpoint_config ec = { .name = "gw",
					    .server_uri = "coap://127.0.0.1:9",
					    .gateway = true };
	struct lwm2m_target_config tc = { .prefix = "dev1", .device_id = "id1", .store = d1 };
	struct lwm2m_value l1, l2;
	struct lwm2m_target *t1, *t2;
	struct lwm2m_endpoint *gw;
	struct lwm2m_client *c;
	char buf[64], buf2[64];
	sd_event *ev;

	(void)state;
	assert_int_equal(sd_event_new(&ev), 0);
	assert_int_equal(lwm2m_client_new(ev, reg, &cc, &c), 0);
	assert_int_equal(lwm2m_store_add_instance(d1, 3303, 0), 0);
	assert_int_equal(lwm2m_store_add_instance(d2, 3303, 0), 0);
	assert_int_equal(lwm2m_endpoint_add(c, &ec, gws, &gw), 0);
	assert_int_equal(lwm2m_target_add(c, &tc, &t1), 0);
	tc = (struct lwm2m_target_config){ .prefix = "dev2", .device_id = "id2", .store = d2 };
	assert_int_equal(lwm2m_target_add(c, &tc, &t2), 0);
	assert_string_equal(o25_text(gws, 0, 0, buf, sizeof(buf)), "id1");
	assert_string_equal(o25_text(gws, 1, 1, buf, sizeof(buf)), "dev2");
	assert_int_equal(lwm2m_store_get(gws, &LWM2M_PATH(25, 0, 3), &l1), 0);
	assert_int_equal(lwm2m_store_get(gws, &LWM2M_PATH(25, 1, 3), &l2), 0);
	assert_non_null(memmem(l1.bytes.ptr, l1.bytes.len, "</3303/0>", 9));
	assert_ptr_equal(l1.bytes.ptr, l2.bytes.ptr); /* one copy */
	assert_int_equal(l1.bytes.len, l2.bytes.len);
	/* A device's objects change: its text follows, the other's stays. */
	assert_int_equal(lwm2m_store_add_instance(d1, 3304, 0), 0);
	assert_int_equal(lwm2m_device_objects_changed(t1->dev), 0);
	assert_int_equal(lwm2m_store_get(gws, &LWM2M_PATH(25, 0, 3), &l1), 0);
	assert_non_null(memmem(l1.bytes.ptr, l1.bytes.len, "</3304/0>", 9));
	assert_int_equal(lwm2m_store_get(gws, &LWM2M_PATH(25, 1, 3), &l2), 0);
	assert_null(memmem(l2.bytes.ptr, l2.bytes.len, "</3304/0>", 9));
	assert_non_null(memmem(l2.bytes.ptr, l2.bytes.len, "</3303/0>", 9));

	/* The endpoint goes: its devices' instances with it. */
	lwm2m_endpoint_remove(gw);
	assert_null(o25_text(gws, 0, 0, buf, sizeof(buf)));
	assert_null(o25_text(gws, 1, 3, buf, sizeof(buf)));
	assert_false(lwm2m_store_has(gws, &LWM2M_PATH(25)));

	/* Another one on the same store: the devices get /25/0 and /25/1
	 * again (in the order the targets attach), not ids past stale ones. */
	assert_int_equal(lwm2m_endpoint_add(c, &ec, gws, &gw), 0);
	assert_non_null(o25_text(gws, 0, 1, buf, sizeof(buf)));
	assert_true(strcmp(buf, "dev1") == 0 || strcmp(buf, "dev2") == 0);
	assert_non_null(o25_text(gws, 1, 1, buf2, sizeof(buf2)));
	assert_true(strcmp(buf2, "dev1") == 0 || strcmp(buf2, "dev2") == 0);
	assert_string_not_equal(buf, buf2);
	assert_false(lwm2m_store_has(gws, &LWM2M_PATH(25, 2)));

	/* The client goes with the endpoint still there: the same. */
	lwm2m_client_free(c);
	assert_null(o25_text(gws, 0, 0, buf, sizeof(buf)));
	assert_null(o25_text(gws, 1, 3, buf, sizeof(buf)));
	assert_false(lwm2m_store_has(gws, &LWM2M_PATH(25)));
	lwm2m_store_free(gws);
	lwm2m_store_free(d1);
	lwm2m_store_free(d2);
	lwm2m_registry_free(reg);
	sd_event_unref(ev);
}

/* Several gateway endpoints: a target names the one that hosts it and
 * waits for an endpoint of that name (not another gateway endpoint), gets
 * the Object 25 instance id it asks for (-EEXIST when taken), and learns
 * its own gateway endpoint's state. */
static void targets_on_named_gateways(void **state)
{
	static const struct lwm2m_target_ops ops = { .state = t_state };
	struct lwm2m_registry *reg = lwm2m_registry_new();
	struct lwm2m_store *s1 = lwm2m_store_new(reg), *s2 = lwm2m_store_new(reg), *ds = lwm2m_store_new(reg),
			   *ds2 = lwm2m_store_new(reg);
	struct lwm2m_client_config cc = { .target_mode = LWM2M_TARGETS_GATEWAY };
	struct lwm2m_endpoint_config ec = { .name = "gw",
					    .server_uri = "coap://127.0.0.1:9",
					    .gateway = true };
	struct tstate ts = { 0 };
	struct lwm2m_target_config tc = { .prefix = "dev1",
					  .device_id = "id1",
					  .store = ds,
					  .ops = &ops,
					  .ud = &ts,
					  .gateway = "gw-gw2",
					  .iid_fixed = true,
					  .iid = 7 };
	struct lwm2m_value got;
	struct lwm2m_target *t, *t2;
	struct lwm2m_endpoint *gw, *gw2;
	struct lwm2m_client *c;
	sd_event *ev;

	(void)state;
	assert_int_equal(sd_event_new(&ev), 0);
	assert_int_equal(lwm2m_client_new(ev, reg, &cc, &c), 0);
	assert_int_equal(lwm2m_endpoint_add(c, &ec, s1, &gw), 0);

	/* Another gateway endpoint is there: the target waits for its own. */
	assert_int_equal(lwm2m_target_add(c, &tc, &t), 0);
	assert_null(lwm2m_target_endpoint_name(t));
	assert_false(lwm2m_store_has(s1, &LWM2M_PATH(25)));
	assert_int_equal(ts.calls, 0);

	ec.name = "gw-gw2";
	assert_int_equal(lwm2m_endpoint_add(c, &ec, s2, &gw2), 0);
	assert_int_equal(ts.calls, 1);
	assert_string_equal(lwm2m_target_endpoint_name(t), "gw-gw2");
	assert_int_equal(lwm2m_store_get(s2, &LWM2M_PATH(25, 7, 1), &got), 0);
	assert_memory_equal(got.bytes.ptr, "dev1", 4);
	assert_false(lwm2m_store_has(s2, &LWM2M_PATH(25, 0)));

	/* The same instance id again: refused; another one: its place. */
	tc.prefix = "dev2";
	tc.store = ds2;
	tc.ops = NULL;
	assert_int_equal(lwm2m_target_add(c, &tc, &t2), -EEXIST);
	tc.iid = 0;
	assert_int_equal(lwm2m_target_add(c, &tc, &t2), 0);
	assert_int_equal(lwm2m_store_get(s2, &LWM2M_PATH(25, 0, 1), &got), 0);
	assert_memory_equal(got.bytes.ptr, "dev2", 4);
	/* Without a fixed id: the lowest free one (1, after 0 and below 7). */
	lwm2m_target_remove(t2);
	tc.iid_fixed = false;
	tc.gateway = "gw";
	assert_int_equal(lwm2m_target_add(c, &tc, &t2), 0);
	assert_string_equal(lwm2m_target_endpoint_name(t2), "gw");
	assert_true(lwm2m_store_has(s1, &LWM2M_PATH(25, 0)));

	/* Its gateway endpoint goes and comes back: it waits, then is back
	 * in its place. */
	lwm2m_endpoint_remove(gw2);
	assert_null(lwm2m_target_endpoint_name(t));
	lwm2m_store_free(s2);
	s2 = lwm2m_store_new(reg);
	ec.name = "gw-gw2";
	assert_int_equal(lwm2m_endpoint_add(c, &ec, s2, &gw2), 0);
	assert_string_equal(lwm2m_target_endpoint_name(t), "gw-gw2");
	assert_true(lwm2m_store_has(s2, &LWM2M_PATH(25, 7)));

	lwm2m_target_remove(t);
	lwm2m_target_remove(t2);
	lwm2m_client_free(c);
	lwm2m_store_free(s1);
	lwm2m_store_free(s2);
	lwm2m_store_free(ds);
	lwm2m_store_free(ds2);
	lwm2m_registry_free(reg);
	sd_event_unref(ev);
}

/* ---- the Update schedule ---------------------------------------------------- */

/* The Update after a registration at now: lifetime minus a margin (a
 * tenth, at least 10 s, at most half), rounded up to a tick of a
 * hundredth of the wait (at most 250 ms). */
static void expect_update(uint64_t now, uint32_t lifetime, uint64_t wait_us, uint64_t tick_us)
{
	uint64_t at = fg_ep_update_at(now, lifetime);

	assert_true(at >= now + wait_us);
	assert_true(at < now + wait_us + tick_us);
	assert_int_equal(at % tick_us, 0);
}

static void update_schedule(void **state)
{
	(void)state;
	/* Short lifetimes: half of it, as before (4 s -> 2 s, 20 s -> 10 s). */
	expect_update(123456789, 4, 2 * SEC, 20 * MS);
	expect_update(123456789, 20, 10 * SEC, 100 * MS);
	/* The 10 s floor: 30 s -> 20 s, 60 s -> 50 s (was 30 s: two Updates
	 * a lifetime). */
	expect_update(123456789, 30, 20 * SEC, 200 * MS);
	expect_update(987654321, 60, 50 * SEC, 250 * MS);
	/* A tenth: 1 h -> 54 min, 1 day -> 21.6 h. */
	expect_update(5, 3600, 3240ull * SEC, 250 * MS);
	expect_update(5, 86400, 77760ull * SEC, 250 * MS);
	/* On a tick already: no later. */
	assert_int_equal(fg_ep_update_at(250 * MS * 1000, 60), 250 * MS * 1000 + 50 * SEC);
	/* Endpoints registered within one tick share their Update's time. */
	assert_int_equal(fg_ep_update_at(1000 * SEC + 1, 60), fg_ep_update_at(1000 * SEC + 249 * MS, 60));
	/* Lifetime 1 s and the largest: no overflow, no zero wait. */
	expect_update(0, 1, SEC / 2, 5 * MS);
	expect_update(0, UINT32_MAX, (uint64_t)UINT32_MAX * SEC - (uint64_t)UINT32_MAX * SEC / 10, 250 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(heap_is_ordered),
		cmocka_unit_test(heap_index_tracks_position),
		cmocka_unit_test(links),
		cmocka_unit_test(exec_args),
		cmocka_unit_test(errno_codes),
		cmocka_unit_test(targets_follow_the_mode),
		cmocka_unit_test(targets_on_named_gateways),
		cmocka_unit_test(gateway_devices_leave_the_store),
		cmocka_unit_test(shared_texts),
		cmocka_unit_test(update_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
