/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Observation engine and attribute store (lwm2m/observe.h), with a fake
 * clock: the test plays the caller's single timer, running the engine at
 * exactly the deadline it asks for, and checks event times to the
 * millisecond. The last test compares the engine with a naive O(n)
 * reference model over long random scenarios.
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

#include "lwm2m/observe.h"

#define P3(a, b, c)    ((struct lwm2m_path){ .id = { a, b, c }, .len = 3 })
#define P4(a, b, c, d) ((struct lwm2m_path){ .id = { a, b, c, d }, .len = 4 })
#define P2(a, b)       ((struct lwm2m_path){ .id = { a, b }, .len = 2 })
#define P1(a)          ((struct lwm2m_path){ .id = { a }, .len = 1 })

/* ---- a fake caller ----------------------------------------------------------------- */

struct rec {
	uint64_t t;
	uint8_t kind, why;
	bool con;
	uint32_t ep;
	uint64_t handle;
	size_t npaths;
	struct lwm2m_path p0;
};

struct slot {
	uint32_t ep;
	struct lwm2m_path p;
	struct lwm2m_value v;
	char text[16];
};

struct world {
	struct lwm2m_obs_engine *e;
	struct slot vals[512];
	size_t nvals;
	struct rec *ev;
	size_t nev, evcap;
	uint64_t now;
	/* callback behaviour for the cancellation tests */
	bool cancel_in_cb;
	uint32_t cancel_ep;
	uint64_t cancel_handle;
};

static struct slot *find_val(struct world *w, uint32_t ep, const struct lwm2m_path *p)
{
	for (size_t i = 0; i < w->nvals; i++)
		if (w->vals[i].ep == ep && lwm2m_path_cmp(&w->vals[i].p, p) == 0)
			return &w->vals[i];
	return NULL;
}

static int read_cb(void *ctx, uint32_t ep, const struct lwm2m_path *p, struct lwm2m_value *out)
{
	struct slot *s = find_val(ctx, ep, p);

	if (!s)
		return -ENOENT;
	*out = s->v;
	if (out->type == LWM2M_TYPE_STRING)
		out->bytes.ptr = (const uint8_t *)s->text;
	return 0;
}

static void emit_cb(void *ctx, const struct lwm2m_obs_event *ev)
{
	struct world *w = ctx;

	if (w->nev == w->evcap) {
		w->evcap = w->evcap ? w->evcap * 2 : 64;
		w->ev = realloc(w->ev, w->evcap * sizeof(*w->ev));
		assert_non_null(w->ev);
	}
	assert_non_null(ev->paths);
	assert_true(ev->npaths >= 1);
	w->ev[w->nev++] = (struct rec){ .t = w->now,
					.kind = ev->kind,
					.why = ev->why,
					.con = ev->con,
					.ep = ev->ep,
					.handle = ev->handle,
					.npaths = ev->npaths,
					.p0 = ev->paths[0] };
	if (w->cancel_in_cb) {
		/* 0: cancel "the other one" of handles 1 and 2 */
		uint64_t h = w->cancel_handle ? w->cancel_handle : ev->handle ^ 3;
		assert_int_equal(lwm2m_obs_cancel(w->e, w->cancel_ep, h), 0);
	}
}

static int rec_order(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->handle != y->handle)
		return x->handle < y->handle ? -1 : 1;
	if (x->ep != y->ep)
		return x->ep < y->ep ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

/* One run at t; events of the same run are sorted by handle, since the
 * order among observations due together is not specified. */
static int run_at(struct world *w, uint64_t t)
{
	size_t first = w->nev;
	int r;

	w->now = t;
	r = lwm2m_obs_run(w->e, t, emit_cb, w);
	if (w->nev > first)
		qsort(w->ev + first, w->nev - first, sizeof(w->ev[0]), rec_order);
	return r;
}

static struct world *world_new(uint32_t con_period_s)
{
	struct world *w = calloc(1, sizeof(*w));
	struct lwm2m_obs_config cfg = { .read = read_cb, .con_period_s = con_period_s };

	assert_non_null(w);
	cfg.read_ctx = w;
	w->e = lwm2m_obs_engine_new(&cfg);
	assert_non_null(w->e);
	return w;
}

static void world_free(struct world *w)
{
	lwm2m_obs_engine_free(w->e);
	free(w->ev);
	free(w);
}

/* The caller's single timer: run at every deadline up to t, then stand at t. */
static void advance(struct world *w, uint64_t t)
{
	for (;;) {
		uint64_t d = lwm2m_obs_next_deadline(w->e);
		if (d > t)
			break;
		/* an overdue deadline (attributes just changed) fires at once */
		if (d < w->now)
			d = w->now;
		assert_true(run_at(w, d) >= 0);
		/* whatever ran at d is rescheduled after d */
		assert_true(lwm2m_obs_next_deadline(w->e) > d);
	}
	w->now = t;
}

static void store_val(struct world *w, uint32_t ep, struct lwm2m_path p, struct lwm2m_value v)
{
	struct slot *s = find_val(w, ep, &p);

	if (!s) {
		assert_true(w->nvals < sizeof(w->vals) / sizeof(w->vals[0]));
		s = &w->vals[w->nvals++];
		s->ep = ep;
		s->p = p;
	}
	s->v = v;
}

/* A value arrives at t: stored, reported, and the engine run if it says so.
 * Returns value_changed()'s answer. */
static int set_value(struct world *w, uint64_t t, uint32_t ep, struct lwm2m_path p, struct lwm2m_value v)
{
	int r;

	advance(w, t);
	store_val(w, ep, p, v);
	r = lwm2m_obs_value_changed(w->e, ep, &p, &v, t);
	assert_true(r >= 0);
	if (r > 0)
		assert_true(run_at(w, t) > 0);
	return r;
}

/* A String value: kept in the slot (read() hands it out from there). */
static int set_str(struct world *w, uint32_t ep, struct lwm2m_path p, const char *b, size_t n, uint64_t t,
		   bool report)
{
	struct lwm2m_value v = { .type = LWM2M_TYPE_STRING, .bytes = { NULL, n } };
	struct slot *s;

	advance(w, t);
	store_val(w, ep, p, v);
	s = find_val(w, ep, &p);
	assert_true(n <= sizeof(s->text));
	memcpy(s->text, b, n);
	if (!report)
		return 0;
	v.bytes.ptr = (const uint8_t *)s->text;
	int r = lwm2m_obs_value_changed(w->e, ep, &p, &v, t);
	assert_true(r >= 0);
	if (r > 0)
		assert_true(run_at(w, t) > 0);
	return r;
}

static int set_f(struct world *w, uint64_t t, uint32_t ep, struct lwm2m_path p, double f)
{
	return set_value(w, t, ep, p, (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = f });
}

static void attrs(struct world *w, uint32_t ep, struct lwm2m_path p, const char *q, uint64_t t)
{
	struct lwm2m_attrs a = { 0 };

	assert_int_equal(lwm2m_attrs_parse_query(q, strlen(q), &a), 0);
	assert_int_equal(lwm2m_obs_write_attrs(w->e, ep, &p, &a, t), 0);
}

static int attrs_r(struct world *w, uint32_t ep, struct lwm2m_path p, const char *q)
{
	struct lwm2m_attrs a = { 0 };

	assert_int_equal(lwm2m_attrs_parse_query(q, strlen(q), &a), 0);
	return lwm2m_obs_write_attrs(w->e, ep, &p, &a, w->now);
}

static void observe(struct world *w, uint32_t ep, uint64_t handle, struct lwm2m_path p, uint64_t t)
{
	advance(w, t);
	assert_int_equal(lwm2m_obs_add(w->e, ep, handle, &p, 1, t), 0);
}

static void expect_ev(struct world *w, size_t i, uint64_t t, uint8_t kind, uint8_t why, bool con,
		      uint64_t handle)
{
	if (i >= w->nev)
		fail_msg("event %zu missing (only %zu)", i, w->nev);
	const struct rec *r = &w->ev[i];
	if (r->t != t || r->kind != kind || r->why != why || r->con != con || r->handle != handle)
		fail_msg(
			"event %zu: got t=%llu kind=%u why=%u con=%d handle=%llu, want t=%llu kind=%u why=%u "
			"con=%d handle=%llu",
			i, (unsigned long long)r->t, r->kind, r->why, r->con, (unsigned long long)r->handle,
			(unsigned long long)t, kind, why, con, (unsigned long long)handle);
}

#define NOTIFY LWM2M_OBS_NOTIFY
#define SAMPLE LWM2M_OBS_SAMPLE
#define CHG    LWM2M_OBS_WHY_CHANGE
#define PMAX   LWM2M_OBS_WHY_PMAX

/* ---- attribute store -------------------------------------------------------------- */

static int collect_cb(void *ctx, const struct lwm2m_path *p, const struct lwm2m_attrs *a)
{
	char(*out)[64] = ctx;
	char buf[32];
	size_t n = strlen(*out);

	lwm2m_path_format(p, buf);
	snprintf(*out + n, sizeof(*out) - n, "%s:%x ", buf, a->set);
	return 0;
}

static void test_attr_store(void **state)
{
	struct lwm2m_attr_store s = { 0 };
	struct lwm2m_attrs a = { 0 }, out,
			   d = { .set = LWM2M_ATTR_PMIN | LWM2M_ATTR_PMAX, .pmin = 1, .pmax = 100 };
	struct lwm2m_path p;
	char list[64] = "";
	(void)state;

	/* inserted out of order, kept sorted */
	assert_int_equal(lwm2m_attrs_parse_query("pmax=30", 7, &a), 0);
	p = P3(3303, 0, 5700);
	assert_int_equal(lwm2m_attr_store_write(&s, &p, &a), 0);
	a = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("pmin=5", 6, &a), 0);
	p = P1(3303);
	assert_int_equal(lwm2m_attr_store_write(&s, &p, &a), 0);
	a = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("gt=2.5&st=0.5", 13, &a), 0);
	p = P4(3303, 0, 5701, 2);
	assert_int_equal(lwm2m_attr_store_write(&s, &p, &a), 0);
	assert_int_equal(s.n, 3);

	assert_int_equal(lwm2m_attr_store_foreach(&s, NULL, collect_cb, list), 0);
	assert_string_equal(list, "/3303:1 /3303/0/5700:2 /3303/0/5701/2:14 ");

	/* inherited: object pmin, resource pmax, defaults otherwise */
	p = P3(3303, 0, 5700);
	lwm2m_attr_store_effective(&s, &p, &d, &out);
	assert_int_equal(out.pmin, 5);
	assert_int_equal(out.pmax, 30);
	assert_int_equal(out.set, LWM2M_ATTR_PMIN | LWM2M_ATTR_PMAX);
	/* attributes below a path do not apply to it */
	p = P2(3303, 0);
	lwm2m_attr_store_effective(&s, &p, &d, &out);
	assert_int_equal(out.pmax, 100);
	p = P3(3304, 0, 1);
	lwm2m_attr_store_effective(&s, &p, &d, &out);
	assert_int_equal(out.pmin, 1);
	p = P4(3303, 0, 5701, 2);
	lwm2m_attr_store_effective(&s, &p, NULL, &out);
	assert_int_equal(out.set, LWM2M_ATTR_PMIN | LWM2M_ATTR_GT | LWM2M_ATTR_ST);
	assert_true(out.gt == 2.5 && out.st == 0.5);

	/* thresholds only on resources; nothing on the root; invalid merges */
	a = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("gt=1", 4, &a), 0);
	p = P2(3303, 0);
	assert_int_equal(lwm2m_attr_store_write(&s, &p, &a), -EINVAL);
	p = (struct lwm2m_path){ .len = 0 };
	a = (struct lwm2m_attrs){ .set = LWM2M_ATTR_PMIN, .pmin = 1 };
	assert_int_equal(lwm2m_attr_store_write(&s, &p, &a), -EINVAL);
	a = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("pmin=40", 7, &a), 0);
	p = P3(3303, 0, 5700); /* pmax=30 there */
	assert_int_equal(lwm2m_attr_store_write(&s, &p, &a), -EINVAL);
	assert_int_equal(lwm2m_attr_store_get(&s, &p, &out), 0);
	assert_int_equal(out.set, LWM2M_ATTR_PMAX); /* unchanged */

	/* unset the only attribute: the entry goes */
	a = (struct lwm2m_attrs){ 0 };
	assert_int_equal(lwm2m_attrs_parse_query("pmax", 4, &a), 0);
	assert_int_equal(lwm2m_attr_store_write(&s, &p, &a), 0);
	assert_int_equal(lwm2m_attr_store_get(&s, &p, &out), -ENOENT);
	assert_int_equal(s.n, 2);

	/* an instance deleted: its attributes go, the object's stay */
	p = P2(3303, 0);
	assert_int_equal(lwm2m_attr_store_remove(&s, &p), 1);
	list[0] = '\0';
	assert_int_equal(lwm2m_attr_store_foreach(&s, NULL, collect_cb, list), 0);
	assert_string_equal(list, "/3303:1 ");
	assert_true(lwm2m_attr_store_memory(&s) > 0);
	lwm2m_attr_store_clear(&s);
	assert_int_equal(lwm2m_attr_store_memory(&s), 0);
	assert_int_equal(s.n, 0);
}

/* ---- timing rules --------------------------------------------------------------- */

static void test_pmin_deferral(void **state)
{
	struct world *w = world_new(0);
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "pmin=10", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 20 });
	observe(w, 1, 7, P3(3303, 0, 5700), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);

	/* a change 3 s after the Observe response waits for pmin */
	assert_int_equal(set_f(w, 3000, 1, P3(3303, 0, 5700), 21), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 10000);
	advance(w, 9999);
	assert_int_equal(w->nev, 0);
	advance(w, 10000);
	assert_int_equal(w->nev, 1);
	expect_ev(w, 0, 10000, NOTIFY, CHG, false, 7);
	assert_int_equal(w->ev[0].p0.id[2], 5700);

	/* two changes inside the next pmin: one notification at its end */
	assert_int_equal(set_f(w, 12000, 1, P3(3303, 0, 5700), 22), 0);
	assert_int_equal(set_f(w, 15000, 1, P3(3303, 0, 5700), 23), 0);
	advance(w, 30000);
	assert_int_equal(w->nev, 2);
	expect_ev(w, 1, 20000, NOTIFY, CHG, false, 7);

	/* after pmin: at once */
	assert_int_equal(set_f(w, 35000, 1, P3(3303, 0, 5700), 24), 1);
	assert_int_equal(w->nev, 3);
	expect_ev(w, 2, 35000, NOTIFY, CHG, false, 7);
	/* the same value again is no change */
	assert_int_equal(set_f(w, 50000, 1, P3(3303, 0, 5700), 24), 0);
	advance(w, 100000);
	assert_int_equal(w->nev, 3);
	world_free(w);
}

static void test_pmax_periodic(void **state)
{
	struct world *w = world_new(0);
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P2(3303, 0), "pmax=30", 0); /* instance level, inherited */
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 20 });
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 30000);
	advance(w, 95000);
	assert_int_equal(w->nev, 3);
	expect_ev(w, 0, 30000, NOTIFY, PMAX, false, 1);
	expect_ev(w, 1, 60000, NOTIFY, PMAX, false, 1);
	expect_ev(w, 2, 90000, NOTIFY, PMAX, false, 1);
	/* a change restarts the period */
	assert_int_equal(set_f(w, 100000, 1, P3(3303, 0, 5700), 25), 1);
	expect_ev(w, 3, 100000, NOTIFY, CHG, false, 1);
	advance(w, 135000);
	assert_int_equal(w->nev, 5);
	expect_ev(w, 4, 130000, NOTIFY, PMAX, false, 1);

	/* pmin and pmax due at the same moment: one notification, both reasons */
	attrs(w, 1, P3(3303, 0, 5700), "pmin=30", 135000);
	assert_int_equal(set_f(w, 140000, 1, P3(3303, 0, 5700), 26), 0);
	advance(w, 160000);
	assert_int_equal(w->nev, 6);
	expect_ev(w, 5, 160000, NOTIFY, CHG | PMAX, false, 1);
	world_free(w);
}

static void test_gt_lt_crossing(void **state)
{
	struct world *w = world_new(0);
	static const struct {
		double v;
		bool notify;
	} seq[] = {
		{ 24, false }, { 26, true },  { 27, false },
		{ 30, false }, { 25, true }, /* 25 is not above 25 */
		{ 23, false }, { 12, false }, { 9, true },
		{ 5, false },  { 10, true }, /* 10 is not below 10 */
		{ 11, false }, { 26, true },  { 4, true },
		{ 3, false },  { 40, true },
	};
	size_t n = 0;
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "gt=25&lt=10", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 20 });
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		uint64_t t = (i + 1) * 1000;
		assert_int_equal(set_f(w, t, 1, P3(3303, 0, 5700), seq[i].v), seq[i].notify ? 1 : 0);
		if (seq[i].notify)
			expect_ev(w, n++, t, NOTIFY, CHG, false, 1);
		assert_int_equal(w->nev, n);
	}

	/* an Integer resource crosses the same way */
	attrs(w, 1, P3(3303, 0, 5601), "gt=100", 20000);
	store_val(w, 1, P3(3303, 0, 5601), (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 50 });
	observe(w, 1, 2, P3(3303, 0, 5601), 20000);
	assert_int_equal(set_value(w, 21000, 1, P3(3303, 0, 5601),
				   (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 99 }),
			 0);
	assert_int_equal(set_value(w, 22000, 1, P3(3303, 0, 5601),
				   (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 101 }),
			 1);
	expect_ev(w, n, 22000, NOTIFY, CHG, false, 2);
	world_free(w);
}

static void test_st_accumulation(void **state)
{
	struct world *w = world_new(0);
	static const struct {
		double v;
		bool notify;
	} seq[] = {
		{ 11, false }, { 11.5, false }, { 11.9, false }, { 12, true },    /* 12 - 10 = st */
		{ 13, false }, { 13.9, false }, { 14, true },    { 12.5, false }, /* relative to 14 now */
		{ 12, true },  { 10.5, false }, { 9.999, true },
	};
	size_t n = 0;
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "st=2", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 10 });
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		uint64_t t = (i + 1) * 1000;
		assert_int_equal(set_f(w, t, 1, P3(3303, 0, 5700), seq[i].v), seq[i].notify ? 1 : 0);
		if (seq[i].notify)
			expect_ev(w, n++, t, NOTIFY, CHG, false, 1);
	}
	assert_int_equal(w->nev, n);

	/* a pmax notification carries the current value, which becomes the
	 * reference: after it 13 -> 17 is a step of 4, not 7 from 10 */
	assert_int_equal(lwm2m_obs_cancel(w->e, 1, 1), 0);
	attrs(w, 1, P3(3303, 0, 5700), "st=5&pmax=60", 20000);
	assert_int_equal(set_f(w, 20000, 1, P3(3303, 0, 5700), 10), 0);
	observe(w, 1, 2, P3(3303, 0, 5700), 20000);
	assert_int_equal(set_f(w, 30000, 1, P3(3303, 0, 5700), 13), 0);
	advance(w, 80000);
	expect_ev(w, n++, 80000, NOTIFY, PMAX, false, 2);
	assert_int_equal(set_f(w, 90000, 1, P3(3303, 0, 5700), 17), 0);
	assert_int_equal(set_f(w, 91000, 1, P3(3303, 0, 5700), 18), 1);
	expect_ev(w, n++, 91000, NOTIFY, CHG, false, 2);
	assert_int_equal(w->nev, n);
	world_free(w);
}

static void test_inheritance(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_obs_defaults d = { .pmin = 1, .pmax = 100 };
	struct lwm2m_attrs a;
	struct lwm2m_path p;
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, &d), 0);
	attrs(w, 1, P1(3303), "pmax=50", 0);
	attrs(w, 1, P2(3303, 0), "pmax=40", 0);
	attrs(w, 1, P3(3303, 0, 5700), "pmax=30&pmin=5", 0);
	attrs(w, 1, P4(3303, 0, 5701, 1), "pmax=20", 0);

	static const struct {
		struct lwm2m_path p;
		uint32_t pmin, pmax;
	} want[] = {
		{ P3(3304, 0, 5700), 1, 100 },   /* defaults from /1 */
		{ P1(3303), 1, 50 },             /* object */
		{ P3(3303, 1, 5700), 1, 50 },    /* inherited from the object */
		{ P2(3303, 0), 1, 40 },          /* instance overrides object */
		{ P3(3303, 0, 5701), 1, 40 },    /* inherited from the instance */
		{ P3(3303, 0, 5700), 5, 30 },    /* resource overrides both */
		{ P4(3303, 0, 5700, 3), 5, 30 }, /* resource instance inherits */
		{ P4(3303, 0, 5701, 1), 1, 20 }, /* resource instance overrides */
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		p = want[i].p;
		assert_int_equal(lwm2m_obs_effective(w->e, 1, &p, &a), 0);
		assert_int_equal(a.pmin, want[i].pmin);
		assert_int_equal(a.pmax, want[i].pmax);
	}

	/* each observation runs on its own level's attributes: the instance
	 * observation ignores those attached to its resources (OMA #478) */
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	observe(w, 1, 2, P2(3303, 0), 0);
	observe(w, 1, 3, P4(3303, 0, 5701, 1), 0);
	observe(w, 1, 4, P3(3304, 0, 5700), 0);
	advance(w, 45000);
	assert_int_equal(w->nev, 4);
	expect_ev(w, 0, 20000, NOTIFY, PMAX, false, 3);
	expect_ev(w, 1, 30000, NOTIFY, PMAX, false, 1);
	expect_ev(w, 2, 40000, NOTIFY, PMAX, false, 2);
	expect_ev(w, 3, 40000, NOTIFY, PMAX, false, 3);

	/* removing the resource's pmax: the instance's 40 s applies from the
	 * last notification (30 s) on */
	attrs(w, 1, P3(3303, 0, 5700), "pmax", 45000);
	p = P3(3303, 0, 5700);
	assert_int_equal(lwm2m_obs_effective(w->e, 1, &p, &a), 0);
	assert_int_equal(a.pmax, 40);
	assert_int_equal(a.pmin, 5);
	advance(w, 75000);
	assert_int_equal(w->nev, 6);
	expect_ev(w, 4, 60000, NOTIFY, PMAX, false, 3);
	expect_ev(w, 5, 70000, NOTIFY, PMAX, false, 1);

	/* the server changes Default Maximum Period: /3304 follows at once */
	d.pmax = 10;
	assert_int_equal(lwm2m_obs_set_defaults(w->e, 1, &d, 75000), 0);
	advance(w, 85000);
	expect_ev(w, 6, 75000, NOTIFY, PMAX, false, 4); /* 100 s -> 10 s: overdue */
	expect_ev(w, 7, 80000, NOTIFY, PMAX, false, 2);
	expect_ev(w, 8, 80000, NOTIFY, PMAX, false, 3);
	expect_ev(w, 9, 85000, NOTIFY, PMAX, false, 4);
	assert_int_equal(w->nev, 10);

	/* deleting the instance removes its attributes */
	p = P2(3303, 0);
	assert_int_equal(lwm2m_obs_remove_attrs(w->e, 1, &p, 85000), 0);
	p = P3(3303, 0, 5700);
	assert_int_equal(lwm2m_obs_effective(w->e, 1, &p, &a), 0);
	assert_int_equal(a.pmax, 50);
	assert_int_equal(a.pmin, 1);
	assert_non_null(lwm2m_obs_attrs(w->e, 1));
	assert_int_equal(lwm2m_obs_attrs(w->e, 1)->n, 1);
	assert_null(lwm2m_obs_attrs(w->e, 2));
	world_free(w);
}

static void test_pmax_below_pmin(void **state)
{
	struct world *w = world_new(0);
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	/* pmax from the object, a larger pmin on the resource: TS 1.1.1 says
	 * such a pmax is ignored */
	attrs(w, 1, P1(3303), "pmax=5", 0);
	attrs(w, 1, P3(3303, 0, 5700), "pmin=10", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 1 });
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);
	assert_int_equal(set_f(w, 1000, 1, P3(3303, 0, 5700), 2), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 10000);
	advance(w, 60000);
	assert_int_equal(w->nev, 1);
	expect_ev(w, 0, 10000, NOTIFY, CHG, false, 1);

	/* pmin == pmax: exactly every 10 s */
	attrs(w, 1, P3(3304, 0, 1), "pmin=10&pmax=10", 60000);
	observe(w, 1, 2, P3(3304, 0, 1), 60000);
	advance(w, 90000);
	assert_int_equal(w->nev, 4);
	expect_ev(w, 1, 70000, NOTIFY, PMAX, false, 2);
	expect_ev(w, 2, 80000, NOTIFY, PMAX, false, 2);
	expect_ev(w, 3, 90000, NOTIFY, PMAX, false, 2);

	/* one request that makes pmax < pmin at one level is refused whole */
	assert_int_equal(attrs_r(w, 1, P3(3304, 0, 1), "pmin=20"), -EINVAL);
	assert_int_equal(attrs_r(w, 1, P1(3304), "lt=1"), -EINVAL);
	assert_int_equal(attrs_r(w, 1, P3(3304, 0, 1), "gt=1&lt=2"), -EINVAL);
	assert_int_equal(attrs_r(w, 1, P3(3304, 0, 1), "epmin=5&epmax=5"), -EINVAL);
	advance(w, 100000);
	expect_ev(w, 4, 100000, NOTIFY, PMAX, false, 2);
	world_free(w);
}

static void test_epmin(void **state)
{
	struct world *w = world_new(0);
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "epmin=5", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 10 });
	observe(w, 1, 1, P3(3303, 0, 5700), 0);

	/* 1 s after the last evaluation: not evaluated until 5 s */
	assert_int_equal(set_f(w, 1000, 1, P3(3303, 0, 5700), 20), 0);
	assert_int_equal(w->nev, 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 5000);
	advance(w, 5000);
	assert_int_equal(w->nev, 1);
	expect_ev(w, 0, 5000, NOTIFY, CHG, false, 1);

	/* a change and its undoing inside the window: nothing at its end */
	assert_int_equal(set_f(w, 6000, 1, P3(3303, 0, 5700), 30), 0);
	assert_int_equal(set_f(w, 7000, 1, P3(3303, 0, 5700), 20), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 10000);
	advance(w, 11000);
	assert_int_equal(w->nev, 0 + 1);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);

	/* the window starts at the last evaluation (10 s) */
	assert_int_equal(set_f(w, 12000, 1, P3(3303, 0, 5700), 25), 0);
	advance(w, 16000);
	assert_int_equal(w->nev, 2);
	expect_ev(w, 1, 15000, NOTIFY, CHG, false, 1);
	/* outside any window: at once */
	assert_int_equal(set_f(w, 30000, 1, P3(3303, 0, 5700), 26), 1);
	expect_ev(w, 2, 30000, NOTIFY, CHG, false, 1);
	world_free(w);
}

static void test_epmax_sample(void **state)
{
	struct world *w = world_new(0);
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "epmin=2&epmax=10", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 10 });
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	advance(w, 20000);
	assert_int_equal(w->nev, 2);
	expect_ev(w, 0, 10000, SAMPLE, 0, false, 1);
	expect_ev(w, 1, 20000, SAMPLE, 0, false, 1);
	assert_int_equal(w->ev[1].p0.id[2], 5700);

	/* the answer comes 500 ms later, inside epmin of the request: it is
	 * the requested evaluation, so it notifies at once */
	assert_int_equal(set_f(w, 20500, 1, P3(3303, 0, 5700), 11), 1);
	expect_ev(w, 2, 20500, NOTIFY, CHG, false, 1);
	/* the next request counts from that evaluation */
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 30500);
	advance(w, 30500);
	expect_ev(w, 3, 30500, SAMPLE, 0, false, 1);
	/* an unchanged answer notifies nothing */
	assert_int_equal(set_f(w, 30600, 1, P3(3303, 0, 5700), 11), 0);
	assert_int_equal(w->nev, 4);
	/* a spontaneous change 400 ms later is inside epmin: postponed */
	assert_int_equal(set_f(w, 31000, 1, P3(3303, 0, 5700), 12), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 32600);
	advance(w, 32600);
	expect_ev(w, 4, 32600, NOTIFY, CHG, false, 1);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 42600);
	world_free(w);
}

static void test_con_every_24h(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_obs_defaults con = { .con = true };
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "pmax=3600", 0);
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	advance(w, UINT64_C(49) * 3600 * 1000);
	assert_int_equal(w->nev, 49);
	for (size_t k = 1; k <= 49; k++)
		expect_ev(w, k - 1, k * 3600 * 1000, NOTIFY, PMAX, k == 24 || k == 48, 1);

	/* a shorter configured period, and Default Notification Mode CON */
	world_free(w);
	w = world_new(7200);
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 2, &con), 0);
	attrs(w, 1, P3(3303, 0, 5700), "pmax=3600", 0);
	attrs(w, 2, P3(3303, 0, 5700), "pmax=3600", 0);
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	observe(w, 2, 1, P3(3303, 0, 5700), 0);
	advance(w, UINT64_C(4) * 3600 * 1000);
	assert_int_equal(w->nev, 8);
	for (size_t i = 0; i < 8; i++) {
		bool want = w->ev[i].ep == 2 || w->ev[i].t == 7200000 || w->ev[i].t == 14400000;
		assert_int_equal(w->ev[i].con, want);
	}
	world_free(w);
}

static void test_cancel(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path two[2] = { P3(3303, 0, 5700), P3(3303, 0, 5701) };
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P2(3303, 0), "pmin=10&pmax=60", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 1 });
	observe(w, 1, 1, P3(3303, 0, 5700), 0);
	assert_int_equal(set_f(w, 1000, 1, P3(3303, 0, 5700), 2), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 10000);
	/* cancelled with a change pending and pmax armed: both timers go */
	assert_int_equal(lwm2m_obs_cancel(w->e, 1, 1), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);
	assert_int_equal(lwm2m_obs_count(w->e), 0);
	assert_int_equal(lwm2m_obs_cancel(w->e, 1, 1), -ENOENT);
	advance(w, 200000);
	assert_int_equal(w->nev, 0);

	/* the same handle may be used again, and duplicates are refused */
	observe(w, 1, 1, P3(3303, 0, 5700), 200000);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &two[0], 1, 200000), -EEXIST);

	/* a callback cancelling another observation due at the same time:
	 * whichever is emitted first cancels the other, which never comes */
	observe(w, 1, 2, P3(3303, 0, 5701), 200000);
	w->cancel_in_cb = true;
	w->cancel_ep = 1;
	w->cancel_handle = 0;
	advance(w, 259999);
	assert_int_equal(w->nev, 0);
	advance(w, 260000);
	assert_int_equal(w->nev, 1);
	assert_int_equal(w->ev[0].t, 260000);
	assert_int_equal(lwm2m_obs_count(w->e), 1);
	w->cancel_in_cb = false;

	/* a composite due for NOTIFY and SAMPLE at once, cancelled by the
	 * callback at the first: the second is not emitted */
	assert_int_equal(lwm2m_obs_cancel_all(w->e, 1), 1);
	attrs(w, 1, P3(3303, 0, 5701), "epmax=60", 260000);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 9, two, 2, 260000), 0);
	w->cancel_in_cb = true;
	w->cancel_handle = 9;
	size_t before = w->nev;
	advance(w, 320000);
	assert_int_equal(w->nev, before + 1);
	expect_ev(w, before, 320000, NOTIFY, PMAX, false, 9);
	assert_int_equal(w->ev[before].npaths, 2);
	assert_int_equal(lwm2m_obs_count(w->e), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);
	world_free(w);
}

/* The bound on observations per endpoint: the one beyond it is refused with
 * -ENOSPC and changes nothing, the ones held keep notifying (exactly one
 * event each per change), a cancellation frees a slot, endpoints are
 * bounded separately, a composite counts as one, lowering the bound ends
 * nothing, and the memory of cancelled observations is given back. */
static void test_limit(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path p = P3(3303, 0, 5700);
	struct lwm2m_path two[2] = { P3(3303, 0, 5700), P3(3303, 0, 5701) };
	size_t before;
	(void)state;

	lwm2m_obs_set_limit(w->e, 4);
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 2, NULL), 0);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 1), 0);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 3), -ENOENT);
	store_val(w, 1, p, (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 1 });
	for (uint64_t h = 1; h <= 3; h++)
		observe(w, 1, h, p, 0);
	/* a composite of two paths is one observation */
	assert_int_equal(lwm2m_obs_add(w->e, 1, 4, two, 2, 0), 0);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 1), 4);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 5, &p, 1, 0), -ENOSPC);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 6, two, 2, 0), -ENOSPC);
	/* a handle in use is the caller's error, reported as such */
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &p, 1, 0), -EEXIST);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 1), 4);
	assert_int_equal(lwm2m_obs_count(w->e), 4);
	/* another endpoint has its own bound */
	for (uint64_t h = 1; h <= 4; h++)
		observe(w, 2, h, p, 0);
	assert_int_equal(lwm2m_obs_add(w->e, 2, 5, &p, 1, 0), -ENOSPC);

	/* one change: one notification per observation held, none for the
	 * refused ones */
	assert_int_equal(set_f(w, 1000, 1, p, 2), 4);
	advance(w, 1000);
	assert_int_equal(w->nev, 4);
	for (size_t i = 0; i < 4; i++)
		expect_ev(w, i, 1000, NOTIFY, CHG, false, i + 1);

	/* cancelling frees a slot, at once */
	assert_int_equal(lwm2m_obs_cancel(w->e, 1, 2), 0);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 5, &p, 1, 1000), 0);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 6, &p, 1, 1000), -ENOSPC);

	/* lowered below what endpoint 1 holds: nothing ends, nothing new */
	lwm2m_obs_set_limit(w->e, 2);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 1), 4);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 7, &p, 1, 1000), -ENOSPC);
	before = w->nev;
	assert_int_equal(set_f(w, 2000, 1, p, 3), 4);
	advance(w, 2000);
	assert_int_equal(w->nev, before + 4);
	assert_int_equal(lwm2m_obs_cancel(w->e, 1, 1), 0);
	assert_int_equal(lwm2m_obs_cancel(w->e, 1, 3), 0);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 7, &p, 1, 2000), -ENOSPC);
	assert_int_equal(lwm2m_obs_cancel(w->e, 1, 4), 0);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 7, &p, 1, 2000), 0);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 1), 2);

	/* 0: no bound */
	lwm2m_obs_set_limit(w->e, 0);
	for (uint64_t h = 100; h < 400; h++)
		assert_int_equal(lwm2m_obs_add(w->e, 1, h, &p, 1, 2000), 0);
	size_t full = lwm2m_obs_memory(w->e);
	for (uint64_t h = 100; h < 400; h++)
		assert_int_equal(lwm2m_obs_cancel(w->e, 1, h), 0);
	/* what 300 cancelled observations held is given back, not kept */
	assert_true(lwm2m_obs_memory(w->e) + 200 * 48 < full);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 1), 2);
	before = w->nev;
	assert_int_equal(set_f(w, 3000, 1, p, 4), 2);
	advance(w, 3000);
	assert_int_equal(w->nev, before + 2);
	world_free(w);
}

/* Endpoints never observed, without attributes or defaults, take no slot:
 * 10,000 of them (a gateway in endpoint mode) cost the id map only, not
 * 10,000 slots of 48 bytes (92 bytes an endpoint before: issue 13). Each
 * behaves as an endpoint without observations; the first Observe,
 * attribute or default gives it its slot. */
static void test_light_endpoints(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path p = P3(3303, 0, 5700);
	struct lwm2m_value v = { .type = LWM2M_TYPE_FLOAT, .f = 1 };
	const struct lwm2m_attr_store *st;
	struct lwm2m_attrs a;
	size_t m0 = lwm2m_obs_memory(w->e), m;
	(void)state;

	for (uint32_t ep = 1; ep <= 10000; ep++)
		assert_int_equal(
			lwm2m_obs_endpoint_add(w->e, ep, ep == 2 ? &(struct lwm2m_obs_defaults){ 0 } : NULL),
			0);
	m = lwm2m_obs_memory(w->e) - m0;
	assert_true(m <= 10000 * 32);
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 5, NULL), -EEXIST);

	/* as an endpoint without observations or attributes */
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 7), 0);
	assert_int_equal(lwm2m_obs_cancel_all(w->e, 7), 0);
	assert_int_equal(lwm2m_obs_cancel(w->e, 7, 1), -ENOENT);
	assert_int_equal(lwm2m_obs_value_changed(w->e, 7, &p, &v, 100), 0);
	assert_int_equal(lwm2m_obs_value_changed(w->e, 7, &P2(3303, 0), &v, 100), -EINVAL);
	st = lwm2m_obs_attrs(w->e, 7);
	assert_non_null(st);
	assert_int_equal(st->n, 0);
	assert_int_equal(lwm2m_obs_effective(w->e, 7, &p, &a), 0);
	assert_int_equal(a.set, 0);
	assert_int_equal(lwm2m_obs_remove_attrs(w->e, 7, &p, 100), 0);
	assert_int_equal(lwm2m_obs_set_defaults(w->e, 7, NULL, 100), 0);
	assert_int_equal(lwm2m_obs_memory(w->e) - m0, m);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);
	assert_int_equal(w->nev, 0);

	/* an attribute, a default, an observation: each its own slot */
	attrs(w, 7, p, "pmin=10", 100);
	assert_int_equal(lwm2m_obs_effective(w->e, 7, &p, &a), 0);
	assert_true(a.set & LWM2M_ATTR_PMIN);
	assert_int_equal(a.pmin, 10);
	assert_int_equal(lwm2m_obs_set_defaults(w->e, 8, &(struct lwm2m_obs_defaults){ .pmax = 30 }, 100), 0);
	assert_int_equal(lwm2m_obs_effective(w->e, 8, &p, &a), 0);
	assert_true(a.set & LWM2M_ATTR_PMAX);
	assert_int_equal(a.pmax, 30);
	store_val(w, 9, p, v);
	observe(w, 9, 90, p, 100);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 9), 1);
	assert_int_equal(set_f(w, 200, 9, p, 2), 1);
	assert_int_equal(w->nev, 1);
	expect_ev(w, 0, 200, NOTIFY, CHG, false, 90);
	assert_true(lwm2m_obs_memory(w->e) - m0 > m);

	/* removed, light or not; every other one still there */
	assert_int_equal(lwm2m_obs_endpoint_remove(w->e, 9), 0);
	assert_int_equal(lwm2m_obs_endpoint_remove(w->e, 9), -ENOENT);
	assert_int_equal(lwm2m_obs_count(w->e), 0);
	assert_int_equal(lwm2m_obs_endpoint_remove(w->e, 10), 0);
	assert_int_equal(lwm2m_obs_endpoint_count(w->e, 10), -ENOENT);
	assert_int_equal(lwm2m_obs_add(w->e, 10, 1, &p, 1, 300), -ENOENT);
	assert_int_equal(lwm2m_obs_write_attrs(w->e, 10, &p, &a, 300), -ENOENT);
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 10, NULL), 0);
	for (uint32_t ep = 1; ep <= 10000; ep++)
		if (ep != 9)
			assert_int_equal(lwm2m_obs_endpoint_remove(w->e, ep), 0);
	for (uint32_t ep = 1; ep <= 10000; ep++)
		assert_int_equal(lwm2m_obs_endpoint_count(w->e, ep), -ENOENT);
	world_free(w);
}

static void test_endpoint_remove(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path p = P3(3303, 0, 5700);
	struct lwm2m_attrs a = { 0 };
	(void)state;

	for (uint32_t ep = 1; ep <= 3; ep++) {
		assert_int_equal(
			lwm2m_obs_endpoint_add(w->e, ep, &(struct lwm2m_obs_defaults){ .pmax = 10 * ep }), 0);
		observe(w, ep, 100 + ep, p, 0);
		observe(w, ep, 200 + ep, P2(3303, 0), 0);
	}
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 2, NULL), -EEXIST);
	assert_int_equal(lwm2m_obs_count(w->e), 6);
	advance(w, 5000);
	assert_int_equal(set_f(w, 5000, 2, p, 1), 2);
	assert_int_equal(w->nev, 2);

	assert_int_equal(lwm2m_obs_endpoint_remove(w->e, 2), 0);
	assert_int_equal(lwm2m_obs_count(w->e), 4);
	assert_int_equal(lwm2m_obs_endpoint_remove(w->e, 2), -ENOENT);
	assert_int_equal(lwm2m_obs_value_changed(w->e, 2, &p, NULL, 6000), -ENOENT);
	assert_int_equal(lwm2m_obs_add(w->e, 2, 1, &p, 1, 6000), -ENOENT);
	assert_int_equal(lwm2m_obs_write_attrs(w->e, 2, &p, &a, 6000), -ENOENT);
	assert_int_equal(lwm2m_obs_cancel(w->e, 2, 102), -ENOENT);
	advance(w, 60000);
	for (size_t i = 2; i < w->nev; i++)
		assert_int_not_equal(w->ev[i].ep, 2);
	/* 1: every 10 s (2 obs), 3: every 30 s (2 obs) */
	assert_int_equal(w->nev, 2 + 12 + 4);

	/* the id can come back, without its old observations */
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 2, NULL), 0);
	assert_int_equal(lwm2m_obs_cancel_all(w->e, 2), 0);
	assert_int_equal(lwm2m_obs_endpoint_remove(w->e, 1), 0);
	assert_int_equal(lwm2m_obs_endpoint_remove(w->e, 3), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);
	assert_int_equal(lwm2m_obs_count(w->e), 0);
	world_free(w);
}

static void test_composite(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path paths[2] = { P3(3303, 0, 5700), P2(3, 0) };
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "st=1&pmin=2", 0);
	attrs(w, 1, P2(3, 0), "pmin=5&pmax=50", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 20 });
	store_val(w, 1, P3(3, 0, 9), (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 90 });
	assert_int_equal(lwm2m_obs_add(w->e, 1, 5, paths, 2, 0), 0);
	paths[0].id[2] = 1; /* the engine copied them */

	/* below st on the resource: nothing */
	assert_int_equal(set_f(w, 1000, 1, P3(3303, 0, 5700), 20.5), 0);
	/* any change below /3/0; the largest pmin (5 s) applies */
	assert_int_equal(set_value(w, 2000, 1, P3(3, 0, 9),
				   (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 80 }),
			 0);
	advance(w, 5000);
	assert_int_equal(w->nev, 1);
	expect_ev(w, 0, 5000, NOTIFY, CHG, false, 5);
	assert_int_equal(w->ev[0].npaths, 2);
	assert_int_equal(w->ev[0].p0.id[2], 5700);
	/* the reference of /3303/0/5700 became 20.5 at that notification */
	assert_int_equal(set_f(w, 6000, 1, P3(3303, 0, 5700), 21.4), 0);
	assert_int_equal(set_f(w, 7000, 1, P3(3303, 0, 5700), 21.5), 0);
	advance(w, 10000);
	expect_ev(w, 1, 10000, NOTIFY, CHG, false, 5);
	/* pmax is the smallest (only /3/0 has one) */
	advance(w, 60000);
	assert_int_equal(w->nev, 3);
	expect_ev(w, 2, 60000, NOTIFY, PMAX, false, 5);
	/* a value elsewhere is not ours */
	assert_int_equal(set_f(w, 70000, 1, P3(3303, 1, 5700), 99), 0);
	advance(w, 109999);
	assert_int_equal(w->nev, 3);
	world_free(w);
}

static void test_container_observations(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path p;
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	attrs(w, 1, P3(3303, 0, 5700), "gt=25", 0);
	store_val(w, 1, P3(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 20 });
	observe(w, 1, 1, P1(3303), 0);
	observe(w, 1, 2, P3(3303, 0, 5700), 0);
	observe(w, 1, 3, P3(3303, 0, 5701), 0); /* a multiple resource */
	/* 20 -> 21 does not cross gt: the resource observation stays silent,
	 * the object observation notifies (thresholds do not apply there) */
	assert_int_equal(set_f(w, 1000, 1, P3(3303, 0, 5700), 21), 1);
	assert_int_equal(w->nev, 1);
	expect_ev(w, 0, 1000, NOTIFY, CHG, false, 1);
	/* an instance of the multiple resource */
	assert_int_equal(set_f(w, 2000, 1, P4(3303, 0, 5701, 3), 1), 2);
	assert_int_equal(w->nev, 3);
	/* another object: nobody */
	assert_int_equal(set_f(w, 3000, 1, P3(3304, 0, 5700), 1), 0);

	/* strings: compared through a hash, NUL bytes included */
	p = P3(3, 0, 0);
	set_str(w, 1, p, "x", 1, 4000, false);
	observe(w, 1, 4, p, 4000);
	assert_int_equal(set_str(w, 1, p, "a\0b", 3, 5000, true), 1);
	assert_int_equal(set_str(w, 1, p, "a\0b", 3, 6000, true), 0);
	assert_int_equal(set_str(w, 1, p, "a\0c", 3, 7000, true), 1);
	assert_int_equal(set_str(w, 1, p, "a\0c\0", 4, 7500, true), 1);
	/* removed */
	w->nvals--;
	assert_int_equal(lwm2m_obs_value_changed(w->e, 1, &p, NULL, 8000), 1);
	assert_int_equal(lwm2m_obs_run(w->e, 8000, NULL, NULL), 1);
	/* and back */
	assert_int_equal(set_str(w, 1, p, "a", 1, 9000, true), 1);
	world_free(w);
}

static void test_bad_arguments(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path p = P3(3303, 0, 5700), bad = { .id = { 1, 2, 3, 4 }, .len = 5 };
	struct lwm2m_value v = { .type = LWM2M_TYPE_FLOAT, .f = 1 };
	(void)state;

	assert_null(lwm2m_obs_engine_new(&(struct lwm2m_obs_config){ 0 }));
	assert_null(lwm2m_obs_engine_new(NULL));
	assert_null(lwm2m_obs_engine_free(NULL));
	assert_int_equal(lwm2m_obs_next_deadline(NULL), LWM2M_OBS_NEVER);
	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, NULL), 0);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &bad, 1, 0), -EINVAL);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &p, 0, 0), -EINVAL);
	bad = (struct lwm2m_path){ .id = { 65535 }, .len = 1 };
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &bad, 1, 0), -EINVAL);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &p, 1, LWM2M_OBS_TIME_MAX + 1), -ERANGE);
	assert_int_equal(lwm2m_obs_value_changed(w->e, 1, &p, &v, UINT64_MAX), -ERANGE);
	assert_int_equal(lwm2m_obs_run(w->e, UINT64_MAX, NULL, NULL), -ERANGE);
	bad = P2(3303, 0);
	assert_int_equal(lwm2m_obs_value_changed(w->e, 1, &bad, &v, 0), -EINVAL);
	assert_int_equal(lwm2m_obs_count(w->e), 0);

	/* time never runs backwards inside the engine */
	assert_int_equal(lwm2m_obs_write_attrs(w->e, 1, &p,
					       &(struct lwm2m_attrs){ .set = LWM2M_ATTR_PMAX, .pmax = 10 },
					       50000),
			 0);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &p, 1, 1000), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 60000);

	/* run() from its own callback is refused */
	w->now = 60000;
	assert_int_equal(lwm2m_obs_run(w->e, 60000, emit_cb, w), 1);
	world_free(w);
}

static void recurse_cb(void *ctx, const struct lwm2m_obs_event *ev)
{
	struct lwm2m_obs_engine *e = ctx;
	(void)ev;
	assert_int_equal(lwm2m_obs_run(e, 0, NULL, NULL), -EBUSY);
}

static void test_no_recursion(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_path p = P3(1, 0, 1);
	(void)state;

	assert_int_equal(lwm2m_obs_endpoint_add(w->e, 1, &(struct lwm2m_obs_defaults){ .pmax = 1 }), 0);
	assert_int_equal(lwm2m_obs_add(w->e, 1, 1, &p, 1, 0), 0);
	assert_int_equal(lwm2m_obs_run(w->e, 1000, recurse_cb, w->e), 1);
	world_free(w);
}

/* 10,000 endpoints x 10 observations, values unchanged: nothing to wake for. */
static void test_idle_100k(void **state)
{
	struct world *w = world_new(0);
	struct lwm2m_obs_defaults d = { .pmin = 1 };
	size_t mem;
	(void)state;

	for (uint32_t ep = 0; ep < 10000; ep++) {
		assert_int_equal(lwm2m_obs_endpoint_add(w->e, ep, &d), 0);
		for (uint16_t r = 0; r < 10; r++) {
			struct lwm2m_path p = P3(3303, 0, (uint16_t)(5700 + r));
			assert_int_equal(lwm2m_obs_add(w->e, ep, r, &p, 1, 0), 0);
		}
	}
	assert_int_equal(lwm2m_obs_count(w->e), 100000);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), LWM2M_OBS_NEVER);
	assert_int_equal(lwm2m_obs_run(w->e, UINT64_C(3600000), emit_cb, w), 0);
	mem = lwm2m_obs_memory(w->e);
	print_message("# 100000 idle observations: %zu bytes, %.1f per observation\n", mem, mem / 100000.0);
	/* 48-byte records in arrays grown by half, plus the endpoints */
	assert_true(mem / 100000 <= 48 + 16);

	/* one Default Maximum Period for all: now 100,000 deadlines */
	d.pmax = 60;
	for (uint32_t ep = 0; ep < 10000; ep++)
		assert_int_equal(lwm2m_obs_set_defaults(w->e, ep, &d, 3600000), 0);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 60000); /* overdue since the start */
	w->now = 3600000;
	assert_int_equal(lwm2m_obs_run(w->e, 3600000, NULL, NULL), 100000);
	assert_int_equal(lwm2m_obs_next_deadline(w->e), 3660000);
	for (uint32_t ep = 0; ep < 10000; ep += 2)
		assert_int_equal(lwm2m_obs_endpoint_remove(w->e, ep), 0);
	assert_int_equal(lwm2m_obs_count(w->e), 50000);
	assert_int_equal(lwm2m_obs_run(w->e, 3660000, NULL, NULL), 50000);
	world_free(w);
}

/* ---- randomized comparison with a naive model ---------------------------------------- */

/*
 * The model keeps everything in flat arrays and, at every simulated second,
 * looks at every observation: no heap, no index, no cached schedule. The
 * engine is only run when its next_deadline() says so, as the real caller
 * does; both must emit the same events at the same seconds.
 */

#define M_EPS  12
#define M_OBS  160
#define M_ATTR 512

struct m_val {
	bool has;
	struct lwm2m_value v;
};

struct m_obs {
	bool alive;
	uint32_t ep;
	uint64_t handle;
	int n;
	struct lwm2m_path p[3];
	struct m_val base[3];
	uint64_t t_notify, t_eval, t_con;
	bool pending, edef, econt, sreq;
};

struct m_attr {
	bool used;
	uint32_t ep;
	struct lwm2m_path p;
	struct lwm2m_attrs a;
};

struct model {
	bool present[M_EPS];
	struct lwm2m_obs_defaults def[M_EPS];
	struct m_attr attrs[M_ATTR];
	int nattrs; /* high-water mark of attrs[] */
	struct m_obs obs[M_OBS];
	uint32_t con_period_s;
	struct world *w; /* the values (shared with the engine's read) */
	struct rec *ev;
	size_t nev, evcap;
};

static bool same_path(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
	if (a->len != b->len)
		return false;
	for (int i = 0; i < a->len; i++)
		if (a->id[i] != b->id[i])
			return false;
	return true;
}

static bool under(const struct lwm2m_path *p, const struct lwm2m_path *base)
{
	if (p->len < base->len)
		return false;
	for (int i = 0; i < base->len; i++)
		if (p->id[i] != base->id[i])
			return false;
	return true;
}

static void m_effective(struct model *m, uint32_t ep, const struct lwm2m_path *p, struct lwm2m_attrs *out)
{
	*out = (struct lwm2m_attrs){ 0 };
	if (m->def[ep].pmin) {
		out->set |= LWM2M_ATTR_PMIN;
		out->pmin = m->def[ep].pmin;
	}
	if (m->def[ep].pmax) {
		out->set |= LWM2M_ATTR_PMAX;
		out->pmax = m->def[ep].pmax;
	}
	for (int l = 1; l <= p->len; l++) {
		struct lwm2m_path q = *p;
		q.len = (uint8_t)l;
		for (int i = 0; i < m->nattrs; i++) {
			struct m_attr *a = &m->attrs[i];
			if (!a->used || a->ep != ep || !same_path(&a->p, &q))
				continue;
			if (a->a.set & LWM2M_ATTR_PMIN)
				out->pmin = a->a.pmin;
			if (a->a.set & LWM2M_ATTR_PMAX)
				out->pmax = a->a.pmax;
			if (a->a.set & LWM2M_ATTR_EPMIN)
				out->epmin = a->a.epmin;
			if (a->a.set & LWM2M_ATTR_EPMAX)
				out->epmax = a->a.epmax;
			if (a->a.set & LWM2M_ATTR_GT)
				out->gt = a->a.gt;
			if (a->a.set & LWM2M_ATTR_LT)
				out->lt = a->a.lt;
			if (a->a.set & LWM2M_ATTR_ST)
				out->st = a->a.st;
			out->set |= a->a.set;
		}
	}
}

static void m_timing(struct model *m, const struct m_obs *o, uint32_t t[4])
{
	uint32_t pmin = 0, pmax = 0, epmin = 0, epmax = 0;

	for (int k = 0; k < o->n; k++) {
		struct lwm2m_attrs a;
		m_effective(m, o->ep, &o->p[k], &a);
		uint32_t x = (a.set & LWM2M_ATTR_PMIN) ? a.pmin : 0;
		uint32_t y = (a.set & LWM2M_ATTR_PMAX) ? a.pmax : 0;
		uint32_t ex = (a.set & LWM2M_ATTR_EPMIN) ? a.epmin : 0;
		uint32_t ey = (a.set & LWM2M_ATTR_EPMAX) ? a.epmax : 0;
		if (y < x)
			y = 0;
		if (ey <= ex)
			ey = 0;
		pmin = x > pmin ? x : pmin;
		epmin = ex > epmin ? ex : epmin;
		if (y && (!pmax || y < pmax))
			pmax = y;
		if (ey && (!epmax || ey < epmax))
			epmax = ey;
	}
	if (pmax < pmin)
		pmax = 0;
	if (epmax <= epmin)
		epmax = 0;
	t[0] = pmin;
	t[1] = pmax;
	t[2] = epmin;
	t[3] = epmax;
}

static struct m_val m_read(struct model *m, uint32_t ep, const struct lwm2m_path *p)
{
	struct m_val r = { 0 };
	struct slot *s = p->len >= 3 ? find_val(m->w, ep, p) : NULL;

	if (s) {
		r.has = true;
		r.v = s->v;
	}
	return r;
}

static bool numeric(const struct lwm2m_value *v)
{
	return v->type == LWM2M_TYPE_FLOAT || v->type == LWM2M_TYPE_INTEGER;
}

static double num(const struct lwm2m_value *v)
{
	return v->type == LWM2M_TYPE_FLOAT ? v->f : (double)v->i;
}

static bool equal(const struct lwm2m_value *a, const struct lwm2m_value *b)
{
	return a->type == b->type && num(a) == num(b);
}

static bool m_met(struct model *m, const struct m_obs *o, int k, const struct m_val *cur)
{
	const struct m_val *ref = &o->base[k];
	struct lwm2m_attrs a;

	if (!cur->has)
		return ref->has;
	if (!ref->has)
		return true;
	m_effective(m, o->ep, &o->p[k], &a);
	if ((a.set & (LWM2M_ATTR_GT | LWM2M_ATTR_LT | LWM2M_ATTR_ST)) && numeric(&cur->v) &&
	    numeric(&ref->v)) {
		double x = num(&cur->v), b = num(&ref->v);
		bool hit = false;
		if ((a.set & LWM2M_ATTR_GT) && (x > a.gt) != (b > a.gt))
			hit = true;
		if ((a.set & LWM2M_ATTR_LT) && (x < a.lt) != (b < a.lt))
			hit = true;
		if ((a.set & LWM2M_ATTR_ST) && !equal(&cur->v, &ref->v) && fabs(x - b) >= a.st)
			hit = true;
		return hit;
	}
	return !equal(&cur->v, &ref->v);
}

static void m_value(struct model *m, uint32_t ep, const struct lwm2m_path *p, uint64_t now)
{
	struct m_val nv = m_read(m, ep, p);

	for (int i = 0; i < M_OBS; i++) {
		struct m_obs *o = &m->obs[i];
		bool related = false, container = false, cm = false;
		uint32_t t[4];

		if (!o->alive || o->ep != ep)
			continue;
		for (int k = 0; k < o->n; k++) {
			if (under(p, &o->p[k]) || under(&o->p[k], p))
				related = true;
			if (under(p, &o->p[k]) && !same_path(p, &o->p[k]))
				container = true;
		}
		if (!related)
			continue;
		m_timing(m, o, t);
		if (t[2] && !o->sreq && now < o->t_eval + t[2] * 1000ull) {
			o->edef = true;
			o->econt |= container;
			continue;
		}
		for (int k = 0; k < o->n; k++) {
			if (same_path(p, &o->p[k]))
				cm |= m_met(m, o, k, &nv);
			else if (under(p, &o->p[k]))
				cm = true;
			else if (under(&o->p[k], p)) {
				struct m_val cur = m_read(m, ep, &o->p[k]);
				cm |= m_met(m, o, k, &cur);
			}
		}
		o->t_eval = now;
		o->sreq = false;
		if (cm) {
			o->pending = true;
			o->edef = o->econt = false;
		} else if (o->n == 1) {
			o->edef = o->econt = false;
		}
	}
}

static void m_emit(struct model *m, const struct m_obs *o, uint64_t now, uint8_t kind, uint8_t why, bool con)
{
	if (m->nev == m->evcap) {
		m->evcap = m->evcap ? m->evcap * 2 : 64;
		m->ev = realloc(m->ev, m->evcap * sizeof(*m->ev));
		assert_non_null(m->ev);
	}
	m->ev[m->nev++] = (struct rec){ .t = now,
					.kind = kind,
					.why = why,
					.con = con,
					.ep = o->ep,
					.handle = o->handle,
					.npaths = (size_t)o->n };
}

static void m_tick(struct model *m, uint64_t now)
{
	for (int i = 0; i < M_OBS; i++) {
		struct m_obs *o = &m->obs[i];
		uint32_t t[4];
		uint8_t why = 0;
		bool sample = false;

		if (!o->alive)
			continue;
		m_timing(m, o, t);
		if (o->edef && now >= o->t_eval + t[2] * 1000ull) {
			bool cm = o->econt;
			for (int k = 0; k < o->n; k++) {
				struct m_val cur = m_read(m, o->ep, &o->p[k]);
				cm |= m_met(m, o, k, &cur);
			}
			o->t_eval = now;
			o->edef = o->econt = o->sreq = false;
			if (cm)
				o->pending = true;
		}
		if (o->pending && now >= o->t_notify + t[0] * 1000ull)
			why |= CHG;
		if (t[1] && now >= o->t_notify + t[1] * 1000ull)
			why |= PMAX;
		if (t[3] && now >= o->t_eval + t[3] * 1000ull) {
			sample = true;
			o->t_eval = now;
			o->sreq = true;
		}
		if (why) {
			bool con = m->def[o->ep].con || now / 1000 - o->t_con >= m->con_period_s;
			if (con)
				o->t_con = now / 1000;
			o->t_notify = now;
			o->pending = false;
			for (int k = 0; k < o->n; k++)
				o->base[k] = m_read(m, o->ep, &o->p[k]);
			m_emit(m, o, now, NOTIFY, why, con);
		}
		if (sample)
			m_emit(m, o, now, SAMPLE, 0, false);
	}
}

static int m_write_attrs(struct model *m, uint32_t ep, const struct lwm2m_path *p,
			 const struct lwm2m_attrs *req)
{
	struct m_attr *slot = NULL, *free_slot = NULL;
	struct lwm2m_attrs cur = { 0 };

	if ((req->set & (LWM2M_ATTR_GT | LWM2M_ATTR_LT | LWM2M_ATTR_ST)) && p->len < 3)
		return -EINVAL;
	for (int i = 0; i < M_ATTR; i++) {
		if (m->attrs[i].used && m->attrs[i].ep == ep && same_path(&m->attrs[i].p, p))
			slot = &m->attrs[i];
		else if (!m->attrs[i].used && !free_slot)
			free_slot = &m->attrs[i];
	}
	if (slot)
		cur = slot->a;
	lwm2m_attrs_apply(&cur, req);
	if (lwm2m_attrs_validate(&cur) < 0)
		return -EINVAL;
	if (!slot) {
		if (cur.set == 0)
			return 0;
		assert_non_null(free_slot);
		slot = free_slot;
		if (slot - m->attrs >= m->nattrs)
			m->nattrs = (int)(slot - m->attrs) + 1;
		slot->used = true;
		slot->ep = ep;
		slot->p = *p;
	}
	slot->a = cur;
	if (cur.set == 0)
		slot->used = false;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->ep != y->ep)
		return x->ep < y->ep ? -1 : 1;
	if (x->handle != y->handle)
		return x->handle < y->handle ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

/* Random paths from a small tree so that observations and values meet:
 * /3303/{0,1}/{5700,5701} single, /3303/{0,1}/5702/{0,1} multiple,
 * /3304/0/5700 single. */
static struct lwm2m_path rnd_value_path(unsigned *seed)
{
	switch (rand_r(seed) % 4) {
	case 0:
	case 1:
		return P3(3303, (uint16_t)(rand_r(seed) % 2), (uint16_t)(5700 + rand_r(seed) % 2));
	case 2:
		return P4(3303, (uint16_t)(rand_r(seed) % 2), 5702, (uint16_t)(rand_r(seed) % 2));
	default:
		return P3(3304, 0, 5700);
	}
}

static struct lwm2m_path rnd_obs_path(unsigned *seed)
{
	struct lwm2m_path p = rnd_value_path(seed);

	switch (rand_r(seed) % 6) {
	case 0:
		p.len = 1;
		break;
	case 1:
		p.len = 2;
		break;
	case 2:
		if (p.len == 4)
			p.len = 3; /* the multiple resource */
		break;
	default:
		break;
	}
	return p;
}

static void rnd_attrs(unsigned *seed, const struct lwm2m_path *p, struct lwm2m_attrs *a)
{
	*a = (struct lwm2m_attrs){ 0 };
	for (int k = 0; k < 3; k++) {
		uint32_t bit = 1u << (rand_r(seed) % 7);
		bool unset = rand_r(seed) % 4 == 0;
		if ((a->set | a->unset) & bit)
			continue;
		if (unset) {
			a->unset |= bit;
			continue;
		}
		a->set |= bit;
		switch (bit) {
		case LWM2M_ATTR_PMIN:
			a->pmin = (uint32_t)(rand_r(seed) % 6);
			break;
		case LWM2M_ATTR_PMAX:
			a->pmax = (uint32_t)(rand_r(seed) % 25);
			break;
		case LWM2M_ATTR_EPMIN:
			a->epmin = (uint32_t)(rand_r(seed) % 5);
			break;
		case LWM2M_ATTR_EPMAX:
			a->epmax = (uint32_t)(rand_r(seed) % 20);
			break;
		case LWM2M_ATTR_GT:
			a->gt = (double)(rand_r(seed) % 10) + 0.5;
			break;
		case LWM2M_ATTR_LT:
			a->lt = (double)(rand_r(seed) % 10) - 0.5;
			break;
		default:
			a->st = (double)(rand_r(seed) % 4);
			break;
		}
	}
	(void)p;
}

static void random_run(unsigned seed0, uint64_t seconds)
{
	unsigned seed = seed0;
	struct world *w = world_new(60);
	struct model *m = calloc(1, sizeof(*m));
	uint64_t next_handle = 1;
	size_t total = 0, wakeups = 0;

	assert_non_null(m);
	m->w = w;
	m->con_period_s = 60;
	for (uint32_t ep = 0; ep < M_EPS; ep++) {
		m->present[ep] = true;
		assert_int_equal(lwm2m_obs_endpoint_add(w->e, ep, NULL), 0);
	}

	for (uint64_t s = 0; s < seconds; s++) {
		uint64_t now = s * 1000;
		int nops = rand_r(&seed) % 4;

		w->now = now;
		for (int op = 0; op < nops; op++) {
			uint32_t ep = (uint32_t)(rand_r(&seed) % M_EPS);
			int dice = rand_r(&seed) % 100;

			if (!m->present[ep]) {
				m->present[ep] = true;
				m->def[ep] = (struct lwm2m_obs_defaults){ 0 };
				assert_int_equal(lwm2m_obs_endpoint_add(w->e, ep, NULL), 0);
				continue;
			}
			if (dice < 55) {
				struct lwm2m_path p = rnd_value_path(&seed);
				struct lwm2m_value v;
				if (rand_r(&seed) % 4 == 0)
					v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER,
								  .i = rand_r(&seed) % 10 };
				else
					v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT,
								  .f = (double)(rand_r(&seed) % 12) };
				store_val(w, ep, p, v);
				assert_true(lwm2m_obs_value_changed(w->e, ep, &p, &v, now) >= 0);
				m_value(m, ep, &p, now);
			} else if (dice < 70) {
				struct lwm2m_path p = rnd_obs_path(&seed);
				struct lwm2m_attrs a;
				if (p.len == 0)
					continue;
				rnd_attrs(&seed, &p, &a);
				int r = lwm2m_obs_write_attrs(w->e, ep, &p, &a, now);
				assert_int_equal(r, m_write_attrs(m, ep, &p, &a));
			} else if (dice < 84) {
				int slot = -1;
				for (int i = 0; i < M_OBS && slot < 0; i++)
					if (!m->obs[i].alive)
						slot = i;
				if (slot < 0)
					continue;
				struct m_obs *o = &m->obs[slot];
				*o = (struct m_obs){ .alive = true, .ep = ep, .handle = next_handle++ };
				o->n = rand_r(&seed) % 5 == 0 ? 2 + rand_r(&seed) % 2 : 1;
				for (int k = 0; k < o->n; k++) {
					o->p[k] = rnd_obs_path(&seed);
					o->base[k] = m_read(m, ep, &o->p[k]);
				}
				o->t_notify = o->t_eval = now;
				o->t_con = now / 1000;
				assert_int_equal(lwm2m_obs_add(w->e, ep, o->handle, o->p, (size_t)o->n, now),
						 0);
			} else if (dice < 93) {
				for (int i = 0; i < M_OBS; i++) {
					struct m_obs *o = &m->obs[i];
					if (o->alive && o->ep == ep && rand_r(&seed) % 2) {
						assert_int_equal(lwm2m_obs_cancel(w->e, ep, o->handle), 0);
						o->alive = false;
						break;
					}
				}
			} else if (dice < 97) {
				m->def[ep].pmin = (uint32_t)(rand_r(&seed) % 4);
				m->def[ep].pmax = (uint32_t)(rand_r(&seed) % 3 ? 0 : rand_r(&seed) % 40);
				m->def[ep].con = rand_r(&seed) % 8 == 0;
				assert_int_equal(lwm2m_obs_set_defaults(w->e, ep, &m->def[ep], now), 0);
			} else if (dice < 99) {
				int n = 0;
				for (int i = 0; i < M_OBS; i++)
					if (m->obs[i].alive && m->obs[i].ep == ep) {
						m->obs[i].alive = false;
						n++;
					}
				assert_int_equal(lwm2m_obs_cancel_all(w->e, ep), n);
			} else {
				for (int i = 0; i < M_OBS; i++)
					if (m->obs[i].ep == ep)
						m->obs[i].alive = false;
				for (int i = 0; i < M_ATTR; i++)
					if (m->attrs[i].ep == ep)
						m->attrs[i].used = false;
				for (size_t i = 0; i < w->nvals; i++)
					if (w->vals[i].ep == ep)
						w->vals[i] = w->vals[--w->nvals], i--;
				m->present[ep] = false;
				assert_int_equal(lwm2m_obs_endpoint_remove(w->e, ep), 0);
			}
		}

		/* the engine wakes only when it asked to */
		w->nev = 0;
		m->nev = 0;
		if (lwm2m_obs_next_deadline(w->e) <= now) {
			wakeups++;
			assert_true(lwm2m_obs_run(w->e, now, emit_cb, w) >= 0);
		}
		assert_true(lwm2m_obs_next_deadline(w->e) > now);
		m_tick(m, now);

		if (w->nev != m->nev)
			fail_msg("seed %u, t=%llu s: engine %zu events, model %zu", seed0,
				 (unsigned long long)s, w->nev, m->nev);
		if (w->nev > 0) {
			qsort(w->ev, w->nev, sizeof(w->ev[0]), rec_cmp);
			qsort(m->ev, m->nev, sizeof(m->ev[0]), rec_cmp);
		}
		for (size_t i = 0; i < w->nev; i++) {
			const struct rec *a = &w->ev[i], *b = &m->ev[i];
			if (a->ep != b->ep || a->handle != b->handle || a->kind != b->kind ||
			    a->why != b->why || a->con != b->con || a->npaths != b->npaths)
				fail_msg("seed %u, t=%llu s: engine ep=%u h=%llu kind=%u why=%u con=%d, "
					 "model ep=%u "
					 "h=%llu kind=%u why=%u con=%d",
					 seed, (unsigned long long)s, a->ep, (unsigned long long)a->handle,
					 a->kind, a->why, a->con, b->ep, (unsigned long long)b->handle,
					 b->kind, b->why, b->con);
		}
		total += w->nev;
	}
	size_t alive = 0;
	for (int i = 0; i < M_OBS; i++)
		alive += m->obs[i].alive;
	assert_int_equal(lwm2m_obs_count(w->e), alive);
	print_message("# seed %u: %zu events over %llu s, %zu wake-ups, %zu observations at the end\n", seed0,
		      total, (unsigned long long)seconds, wakeups, alive);
	assert_true(total > 1000); /* the scenario did exercise the engine */
	free(m->ev);
	free(m);
	world_free(w);
}

static void test_random_vs_model(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 6; seed++)
		random_run(seed, 3 * 3600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attr_store),
		cmocka_unit_test(test_pmin_deferral),
		cmocka_unit_test(test_pmax_periodic),
		cmocka_unit_test(test_gt_lt_crossing),
		cmocka_unit_test(test_st_accumulation),
		cmocka_unit_test(test_inheritance),
		cmocka_unit_test(test_pmax_below_pmin),
		cmocka_unit_test(test_epmin),
		cmocka_unit_test(test_epmax_sample),
		cmocka_unit_test(test_con_every_24h),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_endpoint_remove),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_composite),
		cmocka_unit_test(test_container_observations),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_no_recursion),
		cmocka_unit_test(test_idle_100k),
		cmocka_unit_test(test_light_endpoints),
		cmocka_unit_test(test_random_vs_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
