/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmark of the observation engine at the design target: 10,000
 * endpoints x 10 observed resources.
 *
 *  1. idle, no pmax: wake-ups and CPU per simulated hour (the caller's one
 *     timer is armed from lwm2m_obs_next_deadline());
 *  2. value change -> decision latency: from lwm2m_obs_value_changed() to
 *     the NOTIFY event of lwm2m_obs_run(), per change, p50/p99/max; and the
 *     decision alone when pmin defers the change;
 *  3. idle with a Default Maximum Period of 300 s, observations started over
 *     the first 5 minutes (paced registrations): the wake-ups and CPU that
 *     the periodic notifications cost.
 *
 * Prints figures; asserts nothing about time (machines differ). Run with
 * `meson test -C build --benchmark` or directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwm2m/observe.h"

#define EPS    10000u
#define PER_EP 10u
#define RID0   5700u
#define HOUR   (UINT64_C(3600) * 1000)

struct bench {
	struct lwm2m_obs_engine *e;
	double *vals; /* EPS * PER_EP current values */
	uint64_t notified, sampled;
	uint64_t t_change_ns; /* when the current change was reported */
	double *lat_us;
	size_t nlat;
};

static uint64_t ns_now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int read_cb(void *ctx, uint32_t ep, const struct lwm2m_path *p, struct lwm2m_value *out)
{
	struct bench *b = ctx;

	if (p->len != 3 || p->id[2] < RID0 || p->id[2] >= RID0 + PER_EP || ep >= EPS)
		return -ENOENT;
	out->type = LWM2M_TYPE_FLOAT;
	out->f = b->vals[ep * PER_EP + (p->id[2] - RID0)];
	return 0;
}

static void emit_cb(void *ctx, const struct lwm2m_obs_event *ev)
{
	struct bench *b = ctx;

	if (ev->kind == LWM2M_OBS_NOTIFY)
		b->notified++;
	else
		b->sampled++;
	if (b->t_change_ns && b->lat_us)
		b->lat_us[b->nlat++] = (double)(ns_now(CLOCK_MONOTONIC) - b->t_change_ns) / 1000.0;
}

static struct lwm2m_obs_engine *setup(struct bench *b, const struct lwm2m_obs_defaults *d, uint64_t spread_ms,
				      double *setup_s)
{
	struct lwm2m_obs_config cfg = { .read = read_cb, .read_ctx = b };
	struct lwm2m_obs_engine *e = lwm2m_obs_engine_new(&cfg);
	uint64_t t0 = ns_now(CLOCK_MONOTONIC);

	if (!e)
		return NULL;
	for (uint32_t ep = 0; ep < EPS; ep++) {
		/* registrations paced over spread_ms */
		uint64_t now = spread_ms ? (uint64_t)ep * spread_ms / EPS : 0;
		if (lwm2m_obs_endpoint_add(e, ep, d) < 0)
			return lwm2m_obs_engine_free(e);
		for (uint32_t r = 0; r < PER_EP; r++) {
			struct lwm2m_path p = { .id = { 3303, 0, (uint16_t)(RID0 + r) }, .len = 3 };
			if (lwm2m_obs_add(e, ep, r, &p, 1, now) < 0)
				return lwm2m_obs_engine_free(e);
		}
	}
	*setup_s = (double)(ns_now(CLOCK_MONOTONIC) - t0) / 1e9;
	return e;
}

/* The caller's loop for one simulated hour from `start`, with no value
 * changes: wake at each deadline, run, re-arm. */
static void idle_hour(struct bench *b, uint64_t start, uint64_t *wakeups, double *cpu_s)
{
	uint64_t c0 = ns_now(CLOCK_PROCESS_CPUTIME_ID), end = start + HOUR, n = 0;

	for (;;) {
		uint64_t d = lwm2m_obs_next_deadline(b->e);
		if (d == LWM2M_OBS_NEVER || d > end)
			break;
		n++;
		lwm2m_obs_run(b->e, d, emit_cb, b);
	}
	*wakeups = n;
	*cpu_s = (double)(ns_now(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void print_memory(const struct bench *b)
{
	size_t mem = lwm2m_obs_memory(b->e);

	printf("  memory: %zu bytes = %.1f bytes per observation (record: 48), %.0f per endpoint of 10\n",
	       mem, (double)mem / (EPS * PER_EP), (double)mem / EPS);
}

int main(void)
{
	struct bench b = { 0 };
	struct lwm2m_obs_defaults d = { 0 };
	uint64_t wakeups;
	double setup_s, cpu_s;
	const size_t NCHANGES = 200000;

	b.vals = calloc(EPS * PER_EP, sizeof(*b.vals));
	b.lat_us = calloc(NCHANGES, sizeof(*b.lat_us));
	if (!b.vals || !b.lat_us)
		return 1;

	printf("observation engine: %u endpoints x %u observed resources\n", EPS, PER_EP);

	/* 1. idle, no pmax */
	b.e = setup(&b, &d, 0, &setup_s);
	if (!b.e)
		return 1;
	printf("\n1. idle, no pmax (values unchanged)\n");
	printf("  setup of %u observations: %.3f s\n", EPS * PER_EP, setup_s);
	print_memory(&b);
	idle_hour(&b, 0, &wakeups, &cpu_s);
	printf("  simulated hour: %llu wake-ups, %llu notifications, %.6f s CPU (%.5f %% of a core)\n",
	       (unsigned long long)wakeups, (unsigned long long)b.notified, cpu_s, cpu_s / 3600 * 100);

	/* 2. latency, on the same engine: every change crosses nothing but is
	 * a change (no gt/lt/st, pmin 0), so it is decided and emitted now */
	printf("\n2. value change -> NOTIFY decision (pmin 0, 100,000 observations loaded)\n");
	{
		unsigned seed = 1;
		uint64_t now = HOUR, c0 = ns_now(CLOCK_PROCESS_CPUTIME_ID);

		b.notified = 0;
		for (size_t i = 0; i < NCHANGES; i++) {
			uint32_t ep = (uint32_t)rand_r(&seed) % EPS, r = (uint32_t)rand_r(&seed) % PER_EP;
			struct lwm2m_path p = { .id = { 3303, 0, (uint16_t)(RID0 + r) }, .len = 3 };
			struct lwm2m_value v = { .type = LWM2M_TYPE_FLOAT, .f = (double)i };

			now += 1;
			b.vals[ep * PER_EP + r] = v.f;
			b.t_change_ns = ns_now(CLOCK_MONOTONIC);
			if (lwm2m_obs_value_changed(b.e, ep, &p, &v, now) > 0)
				lwm2m_obs_run(b.e, now, emit_cb, &b);
		}
		b.t_change_ns = 0;
		double cpu = (double)(ns_now(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e9;
		qsort(b.lat_us, b.nlat, sizeof(b.lat_us[0]), cmp_double);
		printf("  %zu changes, %llu notifications, %.3f s CPU (%.2f us per change)\n", NCHANGES,
		       (unsigned long long)b.notified, cpu, cpu / (double)NCHANGES * 1e6);
		if (b.nlat)
			printf("  latency: p50 %.2f us, p99 %.2f us, p99.9 %.2f us, max %.2f us\n",
			       b.lat_us[b.nlat / 2], b.lat_us[b.nlat * 99 / 100],
			       b.lat_us[b.nlat * 999 / 1000], b.lat_us[b.nlat - 1]);
	}
	/* decision only, when pmin defers every change */
	{
		unsigned seed = 2;
		/* longer than the whole run: every change is deferred */
		struct lwm2m_attrs a = { .set = LWM2M_ATTR_PMIN, .pmin = 100000 };
		struct lwm2m_path obj = { .id = { 3303 }, .len = 1 };
		uint64_t now = 2 * HOUR;

		for (uint32_t ep = 0; ep < EPS; ep++)
			lwm2m_obs_write_attrs(b.e, ep, &obj, &a, now);
		size_t due = 0;
		b.nlat = 0;
		for (size_t i = 0; i < NCHANGES; i++) {
			uint32_t ep = (uint32_t)rand_r(&seed) % EPS, r = (uint32_t)rand_r(&seed) % PER_EP;
			struct lwm2m_path p = { .id = { 3303, 0, (uint16_t)(RID0 + r) }, .len = 3 };
			struct lwm2m_value v = { .type = LWM2M_TYPE_FLOAT, .f = -(double)i - 1 };
			uint64_t t0 = ns_now(CLOCK_MONOTONIC);

			now += 1;
			if (lwm2m_obs_value_changed(b.e, ep, &p, &v, now) > 0)
				due++;
			b.lat_us[b.nlat++] = (double)(ns_now(CLOCK_MONOTONIC) - t0) / 1000.0;
		}
		qsort(b.lat_us, b.nlat, sizeof(b.lat_us[0]), cmp_double);
		printf("  deferred by pmin (decision only, %zu due now): p50 %.2f us, p99 %.2f us, p99.9 "
		       "%.2f us, "
		       "max %.2f us\n",
		       due, b.lat_us[b.nlat / 2], b.lat_us[b.nlat * 99 / 100], b.lat_us[b.nlat * 999 / 1000],
		       b.lat_us[b.nlat - 1]);
		b.nlat = 0;
	}
	b.e = lwm2m_obs_engine_free(b.e);

	/* 3. idle with Default Maximum Period 300 s, registrations over 5 min */
	d.pmax = 300;
	b.notified = 0;
	b.e = setup(&b, &d, 300000, &setup_s);
	if (!b.e)
		return 1;
	printf("\n3. idle, Default Maximum Period 300 s, observations started over 5 minutes\n");
	print_memory(&b);
	idle_hour(&b, 300000, &wakeups, &cpu_s);
	printf("  simulated hour: %llu wake-ups, %llu notifications, %.3f s CPU (%.4f %% of a core)\n",
	       (unsigned long long)wakeups, (unsigned long long)b.notified, cpu_s, cpu_s / 3600 * 100);
	printf("  engine CPU per notification: %.2f us\n", cpu_s / (double)b.notified * 1e6);
	b.e = lwm2m_obs_engine_free(b.e);

	free(b.vals);
	free(b.lat_us);
	return 0;
}
