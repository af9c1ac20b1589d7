/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the observation engine with operation scripts: each input byte
 * sequence is read as a series of calls (endpoints, observations, attribute
 * writes, values, time steps), and the emit callback itself re-enters the
 * engine (cancels, removes endpoints, reports values) as a real client
 * might. Checked on every event and step:
 *  - no NOTIFY for an observation sooner than its pmin after the previous
 *    one (or its start);
 *  - after lwm2m_obs_run(now) the next deadline is after now;
 *  - events name observations that exist;
 *  - each endpoint holds exactly the observations added and not cancelled,
 *    never more than the bound (size % 7 of the input; 0: none), and an
 *    add is refused with -ENOSPC only at the bound;
 *  - everything is freed (leak checker).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/observe.h"

#define NEP  4
#define NOBS 8

struct ob {
	bool alive;
	uint64_t last; /* start or last NOTIFY */
	struct lwm2m_path p[3];
	size_t n;
};

struct fz {
	const uint8_t *d;
	size_t n, i;
	struct lwm2m_obs_engine *e;
	bool ep_present[NEP];
	struct ob obs[NEP][NOBS];
	double vals[NEP][4];
	uint64_t now;
	int depth;
	uint32_t limit;
};

static uint8_t next(struct fz *f)
{
	return f->i < f->n ? f->d[f->i++] : 0;
}

static uint32_t next32(struct fz *f)
{
	uint32_t v = 0;

	for (int k = 0; k < 4; k++)
		v = v << 8 | next(f);
	return v;
}

static struct lwm2m_path next_path(struct fz *f, bool value)
{
	uint8_t b = next(f);
	struct lwm2m_path p = { .id = { (uint16_t)(3303 + (b & 1)), (uint16_t)((b >> 1) & 1),
					(uint16_t)(5700 + ((b >> 2) & 1)), (uint16_t)((b >> 3) & 1) } };

	p.len = (uint8_t)((b >> 4) % 5);
	if (value && p.len < 3)
		p.len = 3;
	if (b == 0xff)
		p.id[0] = 65535; /* invalid id */
	return p;
}

static int read_cb(void *ctx, uint32_t ep, const struct lwm2m_path *p, struct lwm2m_value *out)
{
	struct fz *f = ctx;

	if (ep >= NEP || p->len != 3 || p->id[2] < 5700 || p->id[2] > 5701 || p->id[1] > 1)
		return -ENOENT;
	out->type = LWM2M_TYPE_FLOAT;
	out->f = f->vals[ep][(p->id[1] << 1) | (p->id[2] - 5700)];
	return 0;
}

static uint32_t pmin_of(struct fz *f, uint32_t ep, const struct ob *o)
{
	uint32_t pmin = 0;

	for (size_t k = 0; k < o->n; k++) {
		struct lwm2m_attrs a;
		if (lwm2m_obs_effective(f->e, ep, &o->p[k], &a) == 0 && (a.set & LWM2M_ATTR_PMIN) &&
		    a.pmin > pmin)
			pmin = a.pmin;
	}
	return pmin;
}

static void op(struct fz *f);

static void emit_cb(void *ctx, const struct lwm2m_obs_event *ev)
{
	struct fz *f = ctx;

	if (ev->ep >= NEP || ev->handle >= NOBS || !f->obs[ev->ep][ev->handle].alive)
		abort(); /* an event for something that does not exist */
	struct ob *o = &f->obs[ev->ep][ev->handle];
	if (ev->npaths != o->n)
		abort();
	if (ev->kind == LWM2M_OBS_NOTIFY) {
		if (f->now - o->last < (uint64_t)pmin_of(f, ev->ep, o) * 1000)
			abort(); /* more often than pmin allows */
		o->last = f->now;
	}
	/* re-enter sometimes, but never run() */
	if (f->depth == 0 && (next(f) & 3) == 0) {
		f->depth++;
		op(f);
		f->depth--;
	}
}

/* The engine holds what the script added and did not cancel. */
static void check_counts(struct fz *f)
{
	for (uint32_t ep = 0; ep < NEP; ep++) {
		int alive = 0;
		for (int h = 0; h < NOBS; h++)
			alive += f->obs[ep][h].alive;
		if (lwm2m_obs_endpoint_count(f->e, ep) != (f->ep_present[ep] ? alive : -ENOENT))
			abort();
	}
}

static void op(struct fz *f)
{
	uint8_t k = next(f);
	uint32_t ep = next(f) % (NEP + 1); /* NEP: an unknown endpoint */
	struct lwm2m_path p;

	switch (k % 10) {
	case 0: {
		struct lwm2m_obs_defaults d = { .pmin = next(f) % 4,
						.pmax = next(f) % 20,
						.con = next(f) & 1 };
		/* id NEP stays unknown to the engine */
		int r = ep < NEP ? lwm2m_obs_endpoint_add(f->e, ep, &d) : -EINVAL;
		if (r == 0)
			f->ep_present[ep] = true;
		break;
	}
	case 1:
		if (lwm2m_obs_endpoint_remove(f->e, ep) == 0) {
			f->ep_present[ep] = false;
			memset(f->obs[ep], 0, sizeof(f->obs[ep]));
		}
		break;
	case 2: {
		uint64_t h = next(f) % NOBS;
		struct lwm2m_path paths[3];
		size_t n = 1 + next(f) % 3;
		for (size_t j = 0; j < n; j++)
			paths[j] = next_path(f, false);
		int held = lwm2m_obs_endpoint_count(f->e, ep);
		int r = lwm2m_obs_add(f->e, ep, h, paths, n, f->now);
		if (r == -ENOSPC && (!f->limit || held < (int)f->limit))
			abort(); /* refused below the bound */
		if (r == 0) {
			struct ob *o = &f->obs[ep][h];
			if (f->limit && held >= (int)f->limit)
				abort(); /* accepted beyond the bound */
			o->alive = true;
			o->last = f->now;
			o->n = n;
			memcpy(o->p, paths, sizeof(paths));
		}
		break;
	}
	case 3: {
		uint64_t h = next(f) % NOBS;
		if (lwm2m_obs_cancel(f->e, ep, h) == 0)
			f->obs[ep][h].alive = false;
		break;
	}
	case 4: {
		struct lwm2m_value v;
		uint8_t t = next(f);
		p = next_path(f, true);
		switch (t % 5) {
		case 0:
			v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT,
						  .f = (double)(int8_t)next(f) / 4 };
			break;
		case 1:
			v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT,
						  .f = (t & 0x80) ? NAN : INFINITY };
			break;
		case 2:
			v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = (int64_t)next32(f) << 31 };
			break;
		case 3:
			v = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
						  .bytes = { f->d, f->n - f->i < 8 ? f->n - f->i : 8 } };
			break;
		default:
			v = (struct lwm2m_value){ .type = (uint8_t)next(f) };
			break;
		}
		if (ep < NEP && v.type == LWM2M_TYPE_FLOAT && p.len == 3 && p.id[2] <= 5701 && p.id[1] <= 1 &&
		    p.id[0] == 3303)
			f->vals[ep][(p.id[1] << 1) | (p.id[2] - 5700)] = v.f;
		lwm2m_obs_value_changed(f->e, ep, &p, (t & 0x40) ? NULL : &v, f->now);
		break;
	}
	case 5: {
		struct lwm2m_attrs a = { .set = next(f), .unset = next(f) & 0x7f };
		a.pmin = next(f) % 8;
		a.pmax = next(f) % 40;
		a.epmin = next(f) % 5;
		a.epmax = next(f) % 20;
		a.gt = (double)(int8_t)next(f);
		a.lt = (double)(int8_t)next(f);
		a.st = (double)(next(f) % 8) / 2;
		p = next_path(f, false);
		lwm2m_obs_write_attrs(f->e, ep, &p, &a, f->now);
		break;
	}
	case 6:
	case 7:
		if (f->depth > 0)
			break;
		f->now += (uint64_t)next(f) * ((k & 0x10) ? 1000 : 37);
		if (lwm2m_obs_run(f->e, f->now, emit_cb, f) < 0)
			abort();
		if (lwm2m_obs_next_deadline(f->e) <= f->now)
			abort();
		break;
	case 8: {
		struct lwm2m_obs_defaults d = { .pmin = next(f) % 5, .pmax = next(f) % 30 };
		lwm2m_obs_set_defaults(f->e, ep, &d, f->now);
		break;
	}
	default:
		if (k & 0x80) {
			if (lwm2m_obs_cancel_all(f->e, ep) >= 0)
				memset(f->obs[ep], 0, sizeof(f->obs[ep]));
		} else {
			p = next_path(f, false);
			lwm2m_obs_remove_attrs(f->e, ep, &p, f->now);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *f = calloc(1, sizeof(*f));
	struct lwm2m_obs_config cfg = { .read = read_cb, .con_period_s = 30 };

	if (!f)
		return 0;
	f->d = data;
	f->n = size;
	/* from the size, so that existing inputs keep their meaning */
	f->limit = (uint32_t)(size % 7);
	cfg.max_per_endpoint = f->limit;
	cfg.read_ctx = f;
	f->e = lwm2m_obs_engine_new(&cfg);
	if (!f->e) {
		free(f);
		return 0;
	}
	while (f->i < f->n) {
		op(f);
		check_counts(f);
	}
	/* drain a while so that postponed work runs too */
	for (int k = 0; k < 50; k++) {
		uint64_t d = lwm2m_obs_next_deadline(f->e);
		if (d == LWM2M_OBS_NEVER)
			break;
		f->now = d > f->now ? d : f->now;
		if (lwm2m_obs_run(f->e, f->now, emit_cb, f) < 0)
			abort();
	}
	(void)lwm2m_obs_memory(f->e);
	lwm2m_obs_engine_free(f->e);
	free(f);
	return 0;
}
