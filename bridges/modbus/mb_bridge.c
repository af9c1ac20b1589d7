/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus bridge (bridge_kind_modbus): devices and points on a bus, the
 * poll schedule, coalescing, units' health (quarantine of units that time
 * out, unreachable after answering only failures), writes, executes.
 *
 * Everything here runs on the loop thread; the bus worker (mb_bus.c) only
 * sees self-contained jobs. Poll results are matched back to points by
 * device key and register range, never by pointer, so points may come and
 * go while their reads are on the wire.
 *
 * Schedule: a device's points are grouped by effective period (their poll,
 * tightened while observed); each group has a deadline that advances by
 * whole periods from the previous deadline (no drift), skipping cycles that
 * were missed or whose reads are still on the bus (no burst). One sd-event
 * timer per bus is armed at the earliest deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "bridges/modbus/mb_bus.h"
#include "bridges/modbus/mb_generate.h"
#include "bridges/modbus/mb_plan.h"
#include "bridges/modbus/mb_source.h"
#include "common/log.h"
#include "common/schema.h"

#define MB_MAX_CUTS     64
#define MB_DEFAULT_POLL (10 * USEC_PER_SEC)

struct mb_dev;

struct mb_point {
	const struct mapping_point *pt;
	struct bridge_handle *h; /* what its samples go back with */
	const struct mb_source *src;
	uint16_t count;
	uint64_t poll_usec, obs_usec;
	int last_err;
};

struct mb_group {
	uint64_t period, deadline;
	unsigned inflight;
	struct mb_item *items[MB_TABLE__MAX];
	size_t nitems[MB_TABLE__MAX];
	struct mb_block *blocks[MB_TABLE__MAX];
	size_t nblocks[MB_TABLE__MAX];
};

struct mb_dev {
	char *name;
	uint32_t key;
	struct mb_addr addr;
	struct mb_point *pts; /* the polled points (with a source) */
	size_t npts;
	size_t nactions; /* points with only a write or an execute: the device lives for them too */
	struct mb_group *groups;
	size_t ngroups;
	uint32_t gen;
	uint16_t cuts[MB_TABLE__MAX][MB_MAX_CUTS];
	size_t ncuts[MB_TABLE__MAX];
	/* health */
	uint64_t requests, exceptions, crc, bad, timeouts, skipped;
	bool quarantined, probing;
	uint64_t quarantine_until, backoff;
	uint64_t failing_since; /* the first failed answer since the last good one; 0: none */
	uint8_t fail_exc;       /* the last failure: its exception code, or 0 ... */
	bool fail_crc;          /* ... a CRC error, else a malformed answer */
	int presence;           /* 1: not reported yet */
};

enum req_kind { REQ_READ, REQ_WRITE, REQ_EXECUTE };

struct mb_req {
	struct mb_req *next;
	struct mb_bridge *b;
	uint64_t tag;
	enum req_kind kind;
	bridge_done_fn done;
	void *ctx;
	struct mb_job *off; /* execute with pulse: the second write, sent pulse_usec after the first */
	uint64_t pulse_usec;
	sd_event_source *timer;
	mb_gen_done_fn raw; /* a read of registers for a generated profile (no point) */
};

struct mb_bridge {
	struct bridge base; /* first: the core allocates bridge_kind_modbus.size */
	struct mb_conf conf;
	char *host_name, *device; /* conf's strings, owned */
	sd_event *event;
	sd_event_source *timer;
	struct mb_bus *bus;
	struct mb_dev **devs;
	size_t ndevs;
	uint32_t next_key;
	struct mb_req *reqs;
	uint64_t next_tag;
	int link; /* 1 unknown, 0 up, <0 down */
	bool stopping;
	char *refused;      /* the last device refused by add_point (logged once) */
	struct mb_gen *gen; /* devices whose profile is made of their SunSpec map */
};

_Static_assert(offsetof(struct mb_bridge, base) == 0, "struct bridge comes first");
#define MB(b) bridge_container(b, struct mb_bridge)

/* ---- devices and plans ---------------------------------------------------------------------- */

static struct mb_dev *dev_find(struct mb_bridge *b, const char *name)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (strcmp(b->devs[i]->name, name) == 0)
			return b->devs[i];
	return NULL;
}

static struct mb_dev *dev_by_key(struct mb_bridge *b, uint32_t key)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (b->devs[i]->key == key)
			return b->devs[i];
	return NULL;
}

static void groups_free(struct mb_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int t = 0; t < MB_TABLE__MAX; t++) {
			free(g[i].items[t]);
			free(g[i].blocks[t]);
		}
	free(g);
}

static void dev_free(struct mb_dev *d)
{
	if (!d)
		return;
	groups_free(d->groups, d->ngroups);
	free(d->pts);
	free(d->name);
	free(d);
}

static uint64_t point_period(const struct mb_bridge *b, const struct mb_point *p)
{
	uint64_t t = p->poll_usec;

	if (p->obs_usec && p->obs_usec < t)
		t = p->obs_usec > b->conf.min_poll_usec ? p->obs_usec : b->conf.min_poll_usec;
	return t ? t : MB_DEFAULT_POLL;
}

static void timer_arm(struct mb_bridge *b);

/* Regroup a device's points by period and plan each group's reads. Old
 * deadlines are kept per period; a new period polls at once. */
static int dev_replan(struct mb_bridge *b, struct mb_dev *d)
{
	uint64_t now = mb_now_usec();
	struct mb_group *g = calloc(d->npts + 1, sizeof(*g));
	size_t ng = 0;

	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < d->npts; i++) {
		uint64_t per = point_period(b, &d->pts[i]);
		size_t k;
		for (k = 0; k < ng && g[k].period != per; k++)
			;
		if (k == ng) {
			g[ng].period = per;
			g[ng].deadline = now;
			for (size_t o = 0; o < d->ngroups; o++)
				if (d->groups[o].period == per)
					g[ng].deadline = d->groups[o].deadline;
			ng++;
		}
	}
	for (size_t k = 0; k < ng; k++) {
		for (int t = 0; t < MB_TABLE__MAX; t++) {
			struct mb_plan_limits lim;
			size_t n = 0;

			for (size_t i = 0; i < d->npts; i++)
				if (d->pts[i].src->table == t && point_period(b, &d->pts[i]) == g[k].period)
					n++;
			if (!n)
				continue;
			g[k].items[t] = calloc(n, sizeof(struct mb_item));
			g[k].blocks[t] = calloc(n, sizeof(struct mb_block));
			if (!g[k].items[t] || !g[k].blocks[t]) {
				groups_free(g, ng);
				return -ENOMEM;
			}
			for (size_t i = 0; i < d->npts; i++)
				if (d->pts[i].src->table == t && point_period(b, &d->pts[i]) == g[k].period)
					g[k].items[t][g[k].nitems[t]++] =
						(struct mb_item){ .addr = d->pts[i].src->addr,
								  .count = d->pts[i].count };
			mb_items_sort(g[k].items[t], n);
			lim.max_count = mb_table_is_bits(t)     ? (uint16_t)b->conf.max_bits
					: d->addr.max_registers ? d->addr.max_registers
								: (uint16_t)b->conf.max_registers;
			lim.max_gap = !b->conf.coalesce      ? -1
				      : d->addr.max_gap >= 0 ? d->addr.max_gap
							     : (int32_t)b->conf.max_gap;
			g[k].nblocks[t] =
				mb_plan(g[k].items[t], n, &lim, d->cuts[t], d->ncuts[t], g[k].blocks[t]);
		}
	}
	groups_free(d->groups, d->ngroups);
	d->groups = g;
	d->ngroups = ng;
	d->gen++;
	timer_arm(b);
	return 0;
}

/* ---- presence and health ----------------------------------------------------------------------- */

static void presence(struct mb_bridge *b, struct mb_dev *d, int err)
{
	if (d->presence == err)
		return;
	d->presence = err;
	if (b->base.host.presence)
		b->base.host.presence(b->base.host.ud, d->name, err);
}

static void health_ok(struct mb_bridge *b, struct mb_dev *d)
{
	if (d->quarantined || (d->failing_since && d->presence < 0))
		log_device_info(BRIDGE_DEV_LOG(&b->base, d->name),
				"Modbus %s: device %s (unit %u) answers again", b->base.name, d->name,
				d->addr.unit);
	d->quarantined = d->probing = false;
	d->backoff = 0;
	d->failing_since = 0;
	presence(b, d, 0);
}

static const char *fail_what(const struct mb_dev *d, char *buf, size_t size)
{
	if (d->fail_exc)
		snprintf(buf, size, "exception %02X", d->fail_exc);
	else
		snprintf(buf, size, "%s", d->fail_crc ? "crc error" : "bad answer");
	return buf;
}

/* The unit answered, but with a failure. Answers are cheap (no timeout
 * spent), and a busy or briefly failing unit is normal: only when it has
 * answered nothing but failures for unreachable_after is it unreachable.
 * Its values are not updated meanwhile. */
static void health_failed(struct mb_bridge *b, struct mb_dev *d, const struct mb_job *j)
{
	uint64_t now = mb_now_usec();
	char what[32];
	int err = j->exc == 5 || j->exc == 6 ? -EBUSY : j->exc ? -EIO : -EBADMSG;

	d->fail_exc = j->exc;
	d->fail_crc = j->crc;
	if (!d->failing_since)
		d->failing_since = now;
	if (!b->conf.unreachable_after_usec || now - d->failing_since < b->conf.unreachable_after_usec ||
	    d->presence < 0)
		return;
	log_device_warning(BRIDGE_DEV_LOG(&b->base, d->name),
			   "Modbus %s: device %s (unit %u) has answered only failures for %" PRIu64
			   " ms (the last: %s): unreachable until it answers",
			   b->base.name, d->name, d->addr.unit, (now - d->failing_since) / 1000,
			   fail_what(d, what, sizeof(what)));
	presence(b, d, err);
}

static void health_timeout(struct mb_bridge *b, struct mb_dev *d, int err)
{
	d->backoff = d->quarantined ? d->backoff * 2 : b->conf.backoff_min_usec;
	if (d->backoff > b->conf.backoff_max_usec)
		d->backoff = b->conf.backoff_max_usec;
	if (!d->quarantined)
		log_device_warning_errno(
			BRIDGE_DEV_LOG(&b->base, d->name), err,
			"Modbus %s: device %s (unit %u) does not answer (%m): next try in %" PRIu64
			" ms, backing off up to %" PRIu64 " ms",
			b->base.name, d->name, d->addr.unit, d->backoff / 1000,
			b->conf.backoff_max_usec / 1000);
	d->quarantined = true;
	d->probing = false;
	d->quarantine_until = mb_now_usec() + d->backoff;
	presence(b, d, err);
	timer_arm(b);
}

static uint64_t dev_timeout(const struct mb_bridge *b, const struct mb_dev *d)
{
	return d->addr.timeout_usec ? d->addr.timeout_usec : b->conf.timeout_usec;
}

/* ---- polling ---------------------------------------------------------------------------------- */

static int submit_poll(struct mb_bridge *b, struct mb_dev *d, size_t gi, int t, const struct mb_block *bl)
{
	struct mb_job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->dev = d->key;
	j->gen = d->gen;
	j->group = (uint32_t)gi;
	j->op = MB_OP_READ;
	j->poll = true;
	j->table = (uint8_t)t;
	j->unit = d->addr.unit;
	j->addr = bl->addr;
	j->count = bl->count;
	j->timeout_usec = dev_timeout(b, d);
	d->groups[gi].inflight++;
	mb_bus_submit(b->bus, j);
	return 0;
}

static void run_group(struct mb_bridge *b, struct mb_dev *d, size_t gi, uint64_t now)
{
	struct mb_group *g = &d->groups[gi];

	if (d->quarantined) {
		if (now < d->quarantine_until || d->probing)
			return;
		/* One read tells whether the unit is back. */
		for (int t = 0; t < MB_TABLE__MAX; t++)
			if (g->nblocks[t]) {
				d->probing = true;
				(void)submit_poll(b, d, gi, t, &g->blocks[t][0]);
				return;
			}
		return;
	}
	if (g->inflight) {
		d->skipped++; /* the last cycle is still on the bus: skip, never queue up */
		return;
	}
	for (int t = 0; t < MB_TABLE__MAX; t++)
		for (size_t k = 0; k < g->nblocks[t]; k++)
			(void)submit_poll(b, d, gi, t, &g->blocks[t][k]);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct mb_bridge *b = ud;
	uint64_t now = mb_now_usec();

	(void)s;
	(void)usec;
	for (size_t i = 0; i < b->ndevs; i++) {
		struct mb_dev *d = b->devs[i];
		for (size_t gi = 0; gi < d->ngroups; gi++) {
			struct mb_group *g = &d->groups[gi];
			if (g->deadline > now)
				continue;
			run_group(b, d, gi, now);
			/* Next deadline from the previous one, not from now. */
			g->deadline += g->period;
			if (g->deadline <= now) {
				uint64_t missed = (now - g->deadline) / g->period + 1;
				g->deadline += missed * g->period;
				d->skipped += missed;
			}
		}
	}
	timer_arm(b);
	return 0;
}

static void timer_arm(struct mb_bridge *b)
{
	uint64_t next = UINT64_MAX;

	if (!b->timer || b->stopping)
		return;
	for (size_t i = 0; i < b->ndevs; i++) {
		struct mb_dev *d = b->devs[i];
		for (size_t gi = 0; gi < d->ngroups; gi++) {
			uint64_t t = d->groups[gi].deadline;
			if (d->quarantined && t < d->quarantine_until)
				t = d->quarantine_until;
			if (t < next)
				next = t;
		}
	}
	if (next == UINT64_MAX) {
		sd_event_source_set_enabled(b->timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(b->timer, next);
	sd_event_source_set_enabled(b->timer, SD_EVENT_ONESHOT);
}

/* ---- results --------------------------------------------------------------------------------- */

static void sample_of(const struct mb_job *j, const struct mb_point *p, struct mapping_sample *s)
{
	size_t unit = mb_table_is_bits(j->table) ? 1 : 2;

	*s = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES,
				      .bytes = j->data + (size_t)(p->src->addr - j->addr) * unit,
				      .len = (size_t)p->count * unit };
	/* A string reads whole registers (its declared length may be odd); a
	 * source `count` larger than the layout only widens the read. */
	if (p->pt->xf.raw == MAPPING_RAW_STRING && p->pt->xf.length && p->pt->xf.length < s->len)
		s->len = p->pt->xf.length;
	else if (p->pt->xf.raw != MAPPING_RAW_STRING && !mb_table_is_bits(j->table) &&
		 mapping_raw_size(p->pt->xf.raw, p->pt->xf.width) &&
		 mapping_raw_size(p->pt->xf.raw, p->pt->xf.width) < s->len)
		s->len = mapping_raw_size(p->pt->xf.raw, p->pt->xf.width);
}

static bool in_block(const struct mb_job *j, const struct mb_point *p)
{
	return p->src->table == j->table && p->src->addr >= j->addr &&
	       (uint32_t)p->src->addr + p->count <= (uint32_t)j->addr + j->count;
}

static void deliver_samples(struct mb_bridge *b, struct mb_dev *d, const struct mb_job *j)
{
	for (size_t i = 0; i < d->npts; i++) {
		struct mb_point *p = &d->pts[i];
		struct mapping_sample s;

		if (!in_block(j, p))
			continue;
		sample_of(j, p, &s);
		p->last_err = 0;
		(void)bridge_sample(&b->base, p->h, &s, 0);
	}
}

static void point_errors(struct mb_bridge *b, struct mb_dev *d, const struct mb_job *j)
{
	for (size_t i = 0; i < d->npts; i++) {
		struct mb_point *p = &d->pts[i];
		char ps[32];

		if (!in_block(j, p) || p->last_err == j->err)
			continue;
		p->last_err = j->err;
		lwm2m_path_format(&p->pt->path, ps);
		log_device_warning_errno(
			BRIDGE_DEV_LOG(&b->base, d->name), j->err,
			"Modbus %s: device %s: reading %s %u (%s) failed with exception %u: %m", b->base.name,
			d->name, mb_table_name(j->table), p->src->addr, ps, j->exc);
	}
}

/* The device refused a block that joins several points: cut it and read
 * the parts now; the plan keeps the cut. */
static bool learn_split(struct mb_bridge *b, struct mb_dev *d, const struct mb_job *j)
{
	struct mb_group *g;
	uint64_t period;
	uint16_t cut;
	size_t k;

	if (j->gen != d->gen || j->group >= d->ngroups)
		return false;
	g = &d->groups[j->group];
	for (k = 0; k < g->nblocks[j->table]; k++)
		if (g->blocks[j->table][k].addr == j->addr && g->blocks[j->table][k].count == j->count)
			break;
	if (k == g->nblocks[j->table] || mb_plan_split(g->items[j->table], &g->blocks[j->table][k], &cut) < 0)
		return false;
	if (mb_cuts_add(d->cuts[j->table], &d->ncuts[j->table], MB_MAX_CUTS, cut) <= 0)
		return false;
	log_device_info(BRIDGE_DEV_LOG(&b->base, d->name),
			"Modbus %s: device %s refuses reading %s %u..%u at once: reading from %u separately",
			b->base.name, d->name, mb_table_name(j->table), j->addr, j->addr + j->count - 1, cut);
	period = g->period;
	if (dev_replan(b, d) < 0)
		return false;
	for (size_t gi = 0; gi < d->ngroups; gi++) {
		if (d->groups[gi].period != period)
			continue;
		for (size_t n = 0; n < d->groups[gi].nblocks[j->table]; n++) {
			const struct mb_block *bl = &d->groups[gi].blocks[j->table][n];
			if (bl->addr >= j->addr &&
			    (uint32_t)bl->addr + bl->count <= (uint32_t)j->addr + j->count)
				(void)submit_poll(b, d, gi, j->table, bl);
		}
	}
	return true;
}

static void count_job(struct mb_dev *d, const struct mb_job *j)
{
	d->requests += j->requests;
	d->exceptions += j->exc != 0;
	d->crc += j->crc;
	d->bad += j->bad;
	d->timeouts += j->timeout;
}

/* What a finished poll or request says about its unit. */
static void health(struct mb_bridge *b, struct mb_dev *d, const struct mb_job *j, enum mb_outcome o)
{
	switch (o) {
	case MB_OUT_OK:
	case MB_OUT_REFUSED: /* it is there, it just refuses this request */
		health_ok(b, d);
		break;
	case MB_OUT_TIMEOUT:
		health_timeout(b, d, -ETIMEDOUT);
		break;
	case MB_OUT_UNREACHABLE:
		presence(b, d, -EHOSTUNREACH);
		break;
	case MB_OUT_FAILED:
		health_failed(b, d, j);
		break;
	case MB_OUT_DROPPED:
		break;
	}
}

static void on_poll(struct mb_bridge *b, struct mb_dev *d, struct mb_job *j)
{
	enum mb_outcome o = mb_job_outcome(j);

	if (j->gen == d->gen && j->group < d->ngroups && d->groups[j->group].inflight)
		d->groups[j->group].inflight--;
	health(b, d, j, o);
	switch (o) {
	case MB_OUT_OK:
		deliver_samples(b, d, j);
		return;
	case MB_OUT_TIMEOUT:
		return;
	case MB_OUT_DROPPED: /* behind a timeout of the same device: already handled */
	case MB_OUT_UNREACHABLE:
	case MB_OUT_FAILED:
		d->probing = false; /* a quarantined unit stays so until a good answer */
		if (o == MB_OUT_DROPPED || (o == MB_OUT_UNREACHABLE && !j->exc))
			return;
		break;
	case MB_OUT_REFUSED:
		if (j->exc == 2 && learn_split(b, d, j))
			return;
		break;
	}
	point_errors(b, d, j);
}

static struct mb_req *req_take(struct mb_bridge *b, uint64_t tag)
{
	for (struct mb_req **p = &b->reqs; *p; p = &(*p)->next)
		if ((*p)->tag == tag) {
			struct mb_req *r = *p;
			*p = r->next;
			return r;
		}
	return NULL;
}

static void req_free(struct mb_req *r)
{
	if (!r)
		return;
	sd_event_source_disable_unref(r->timer);
	free(r->off);
	free(r);
}

static int on_pulse(sd_event_source *s, uint64_t usec, void *ud)
{
	struct mb_req *r = ud;
	struct mb_job *off = r->off;

	(void)s;
	(void)usec;
	r->off = NULL;
	r->timer = sd_event_source_disable_unref(r->timer);
	mb_bus_submit(r->b->bus, off);
	return 0;
}

static void on_request(struct mb_bridge *b, struct mb_dev *d, struct mb_job *j)
{
	struct mb_req *r = req_take(b, j->tag);
	struct mapping_sample s;
	int err = b->stopping ? -ECANCELED : j->err;

	if (!r)
		return;
	if (r->raw) {
		r->raw(r->ctx, err, err ? NULL : j->data, err ? 0 : j->count);
		req_free(r);
		return;
	}
	if (d)
		health(b, d, j, mb_job_outcome(j));
	if (err == 0 && r->off) {
		/* First half of a pulse: the second write comes later. */
		if (sd_event_add_time_relative(b->event, &r->timer, CLOCK_MONOTONIC, r->pulse_usec, 1000,
					       on_pulse, r) >= 0) {
			r->next = b->reqs;
			b->reqs = r;
			return;
		}
		err = -ENOMEM;
	}
	if (err == 0 && r->kind == REQ_READ) {
		struct mb_point *p = NULL;
		for (size_t i = 0; d && i < d->npts; i++)
			if (in_block(j, &d->pts[i]) && d->pts[i].src->addr == j->addr)
				p = &d->pts[i];
		if (p) {
			sample_of(j, p, &s);
			r->done(r->ctx, 0, &s);
		} else
			r->done(r->ctx, -ENOENT, NULL);
	} else
		r->done(r->ctx, err, NULL);
	req_free(r);
}

static void on_job(void *ud, struct mb_job *j)
{
	struct mb_bridge *b = ud;
	struct mb_dev *d = dev_by_key(b, j->dev);

	if (d)
		count_job(d, j);
	if (j->tag)
		on_request(b, d, j);
	else if (d && !b->stopping)
		on_poll(b, d, j);
	free(j);
}

static void on_link(void *ud, int err)
{
	struct mb_bridge *b = ud;

	if (err == 0)
		log_info("Modbus %s: %s %s connected", b->base.name, b->conf.has_tcp ? "server" : "line",
			 b->conf.has_tcp ? b->host_name : b->device);
	else {
		log_warning_errno(err, "Modbus %s: %s %s unreachable (%m): retrying with backoff",
				  b->base.name, b->conf.has_tcp ? "server" : "line",
				  b->conf.has_tcp ? b->host_name : b->device);
		for (size_t i = 0; i < b->ndevs; i++)
			presence(b, b->devs[i], -EHOSTUNREACH);
	}
	b->link = err;
}

/* ---- ops ------------------------------------------------------------------------------------- */

static int mb_verify(struct schema_ctx *ctx, const struct ynode *body)
{
	return mb_conf_verify(ctx, body);
}

static int mb_verify_address(struct schema_ctx *ctx, const struct ynode *address)
{
	struct mb_addr a;

	return mb_addr_parse(ctx, address, &a);
}

static int mb_init(struct bridge *base, const struct ynode *body)
{
	struct mb_bridge *b = MB(base);
	int r;

	b->link = 1;
	b->next_key = 1;
	b->next_tag = 1;
	r = mb_conf_parse(body, &b->conf);
	if (r < 0)
		return r;
	/* The body's strings live in the YAML document: keep copies. */
	if (b->conf.has_tcp)
		b->host_name = strdup(b->conf.tcp.host);
	else
		b->device = strdup(b->conf.serial.device);
	b->conf.type = NULL;
	b->conf.tcp.host = b->host_name;
	b->conf.serial.device = b->device;
	if (b->conf.has_tcp ? !b->host_name : !b->device)
		return -ENOMEM;
	return 0;
}

static int raw_read(void *ud, uint8_t unit, uint64_t timeout_usec, uint32_t addr, uint16_t count,
		    mb_gen_done_fn done, void *ctx);

static int mb_start(struct bridge *base, sd_event *event)
{
	struct mb_bridge *b = MB(base);
	struct mb_bus_params p = {
		.conf = &b->conf, .name = b->base.name, .done = on_job, .link = on_link, .ud = b
	};
	int r;

	b->event = sd_event_ref(event);
	r = sd_event_add_time(event, &b->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timer, b);
	if (r < 0)
		return log_error_errno(r, "Modbus %s: cannot add a timer: %m", b->base.name);
	sd_event_source_set_enabled(b->timer, SD_EVENT_OFF);
	r = mb_bus_new(&p, event, &b->bus);
	if (r < 0)
		return log_error_errno(r, "Modbus %s: cannot set up %s: %m", b->base.name,
				       b->conf.has_tcp ? b->host_name : b->device);
	b->gen = mb_gen_new(&b->base, event, (unsigned)b->conf.max_registers, raw_read, b);
	if (!b->gen)
		return log_oom();
	timer_arm(b);
	return 0;
}

static int mb_add_point(struct bridge *base, const struct bridge_point *bp)
{
	struct mb_bridge *b = MB(base);
	const struct mb_source *src = bp->pt->source;
	struct mb_dev *d = dev_find(b, bp->device);
	struct mb_point *np;
	struct mb_addr a;
	size_t i;
	int r;

	if (bp->pt->ops != &mb_source_ops || (!src && !bp->pt->write && !bp->pt->execute))
		return -EINVAL;
	r = mb_addr_parse(NULL, bp->address, &a);
	if (r < 0)
		return r;
	if (b->conf.has_serial && (a.unit == 0 || a.unit > 247)) {
		/* 0 is broadcast on a serial line (nobody answers), 248..255 reserved. */
		if (!b->refused || strcmp(b->refused, bp->device) != 0) {
			/* Once per device, not per point. */
			free(b->refused);
			b->refused = strdup(bp->device);
			log_device_error(
				BRIDGE_DEV_LOG(&b->base, bp->device),
				"Modbus %s: device %s: unit id %u is not usable on a serial line (1..247)",
				b->base.name, bp->device, a.unit);
		}
		return -EINVAL;
	}
	if (!d) {
		struct mb_dev **v = realloc(b->devs, (b->ndevs + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->devs = v;
		d = calloc(1, sizeof(*d));
		if (!d || !(d->name = strdup(bp->device))) {
			free(d);
			return -ENOMEM;
		}
		d->key = b->next_key++;
		d->presence = 1;
		b->devs[b->ndevs++] = d;
	}
	d->addr = a;
	if (!src) {
		/* A write or execute only: the device's address is what it needs. */
		d->nactions++;
		return 0;
	}
	for (i = 0; i < d->npts; i++)
		if (lwm2m_path_cmp(&d->pts[i].pt->path, &bp->pt->path) == 0)
			break;
	if (i == d->npts) {
		np = realloc(d->pts, (d->npts + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		d->pts = np;
		d->npts++;
	}
	d->pts[i] = (struct mb_point){ .pt = bp->pt,
				       .h = bp->handle,
				       .src = src,
				       .count = (uint16_t)mb_point_count(src, &bp->pt->xf),
				       .poll_usec = bp->poll_usec ? bp->poll_usec : MB_DEFAULT_POLL };
	return dev_replan(b, d);
}

static void mb_remove_point(struct bridge *base, const char *device, const struct lwm2m_path *path)
{
	struct mb_bridge *b = MB(base);
	struct mb_dev *d = dev_find(b, device);
	bool polled = false;

	if (!d)
		return;
	for (size_t i = 0; i < d->npts && !polled; i++)
		if (lwm2m_path_cmp(&d->pts[i].pt->path, path) == 0) {
			d->pts[i] = d->pts[--d->npts];
			polled = true;
		}
	if (!polled && d->nactions)
		d->nactions--; /* a write/execute-only point */
	if (d->npts || d->nactions) {
		if (d->npts)
			(void)dev_replan(b, d);
		return;
	}
	for (size_t i = 0; i < b->ndevs; i++)
		if (b->devs[i] == d) {
			b->devs[i] = b->devs[--b->ndevs];
			break;
		}
	dev_free(d);
	timer_arm(b);
}

static struct mb_req *req_new(struct mb_bridge *b, enum req_kind kind, bridge_done_fn done, void *ctx)
{
	struct mb_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->b = b;
	r->kind = kind;
	r->done = done;
	r->ctx = ctx;
	r->tag = b->next_tag++;
	return r;
}

static struct mb_job *job_new(struct mb_bridge *b, struct mb_dev *d, const struct mb_req *r, enum mb_op op,
			      const struct mb_source *s, uint16_t count)
{
	struct mb_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->tag = r->tag;
	j->dev = d->key;
	j->op = (uint8_t)op;
	j->urgent = true;
	j->table = s->table;
	j->unit = d->addr.unit;
	j->function = s->function;
	j->addr = s->addr;
	j->count = count;
	j->timeout_usec = dev_timeout(b, d);
	return j;
}

static void req_submit(struct mb_bridge *b, struct mb_req *r, struct mb_job *j)
{
	r->next = b->reqs;
	b->reqs = r;
	mb_bus_submit(b->bus, j);
}

/* Registers for the SunSpec walk (mb_generate.h): queued like a poll. */
static int raw_read(void *ud, uint8_t unit, uint64_t timeout_usec, uint32_t addr, uint16_t count,
		    mb_gen_done_fn done, void *ctx)
{
	struct mb_bridge *b = ud;
	struct mb_req *r;
	struct mb_job *j;

	if (!b->bus || b->stopping)
		return -EHOSTUNREACH;
	if (count == 0 || count > 125 || addr + count > 65536u)
		return -EINVAL;
	r = req_new(b, REQ_READ, NULL, ctx);
	j = r ? calloc(1, sizeof(*j)) : NULL;
	if (!j) {
		free(r);
		return -ENOMEM;
	}
	r->raw = done;
	j->tag = r->tag;
	j->op = MB_OP_READ;
	j->table = MB_TABLE_HOLDING;
	j->unit = unit;
	j->addr = (uint16_t)addr;
	j->count = count;
	j->timeout_usec = timeout_usec ? timeout_usec : b->conf.timeout_usec;
	req_submit(b, r, j);
	return 0;
}

static int mb_generate(struct bridge *base, const char *device, const struct ynode *address, const char *what)
{
	struct mb_bridge *b = MB(base);
	struct mb_addr a;

	if (!what) {
		mb_gen_stop(b->gen, device);
		return 0;
	}
	if (!b->gen)
		return -EHOSTUNREACH;
	if (mb_addr_parse(NULL, address, &a) < 0)
		return -EINVAL;
	return mb_gen_start(b->gen, device, a.unit, a.timeout_usec, what);
}

static int mb_read(struct bridge *base, const char *device, const struct mapping_point *pt,
		   bridge_done_fn done, void *ctx)
{
	struct mb_bridge *b = MB(base);
	struct mb_dev *d = dev_find(b, device);
	const struct mb_source *s = pt->source;
	struct mb_req *r;
	struct mb_job *j;

	if (!b->bus)
		return -EHOSTUNREACH;
	if (!d || !s)
		return -ENOENT;
	if (d->quarantined)
		return -ETIMEDOUT; /* it did not answer lately: do not stall the bus for a Read */
	r = req_new(b, REQ_READ, done, ctx);
	j = r ? job_new(b, d, r, MB_OP_READ, s, (uint16_t)mb_point_count(s, &pt->xf)) : NULL;
	if (!j) {
		free(r);
		return -ENOMEM;
	}
	req_submit(b, r, j);
	return 0;
}

/* Which bits of the register bytes a bit-field point owns, in wire order. */
static void field_mask(const struct mapping_transform *xf, uint8_t *mask, size_t len)
{
	size_t size = mapping_raw_size(xf->raw, xf->width);
	unsigned nb = xf->bits ? xf->bits : 1;
	uint64_t m = nb >= 64 ? UINT64_MAX : ((UINT64_C(1) << nb) - 1);

	memset(mask, 0, len);
	m = xf->bit >= 64 ? 0 : m << xf->bit;
	if (size && size <= len && mapping_put_uint(mask, size, (enum mapping_order)xf->order, m) < 0)
		memset(mask, 0xff, len);
}

static int mb_write(struct bridge *base, const char *device, const struct mapping_point *pt,
		    const struct mapping_sample *v, bridge_done_fn done, void *ctx)
{
	struct mb_bridge *b = MB(base);
	struct mb_dev *d = dev_find(b, device);
	const struct mb_source *s = pt->write ? pt->write : pt->source;
	const struct mapping_transform *xf = &pt->xf;
	struct mb_req *r;
	struct mb_job *j;
	unsigned count;
	int8_t verify;

	if (!b->bus)
		return -EHOSTUNREACH;
	if (!d)
		return -ENOENT;
	if (!s || s->table == MB_TABLE_INPUT || s->table == MB_TABLE_DISCRETE)
		return -EPERM;
	if (d->quarantined)
		return -ETIMEDOUT; /* it did not answer lately: 5.03 now rather than after a timeout */
	count = mb_point_count(s, xf);
	if (xf->raw != MAPPING_RAW_STRING && !mb_table_is_bits(s->table) &&
	    mapping_raw_size(xf->raw, xf->width) && (mapping_raw_size(xf->raw, xf->width) + 1) / 2 < count)
		count = (unsigned)(mapping_raw_size(xf->raw, xf->width) + 1) /
			2; /* never zeros past the value */
	if (v->kind != MAPPING_SAMPLE_BYTES)
		return -EINVAL;
	if (!mb_table_is_bits(s->table) && v->len > 2u * count)
		return -ERANGE;
	r = req_new(b, REQ_WRITE, done, ctx);
	j = r ? job_new(b, d, r, MB_OP_WRITE, s, (uint16_t)count) : NULL;
	if (!j) {
		free(r);
		return -ENOMEM;
	}
	if (mb_table_is_bits(s->table)) {
		bool on = false;
		for (size_t i = 0; i < v->len; i++)
			on |= v->bytes[i] != 0;
		j->data[0] = on;
	} else {
		memcpy(j->data, v->bytes, v->len); /* encode gave the register bytes in wire order */
		if (xf->raw == MAPPING_RAW_BITS || xf->bits) {
			j->masked = true;
			field_mask(xf, j->mask, 2u * count);
		}
	}
	verify = s->verify;
	j->verify = verify >= 0 ? verify : b->conf.verify_writes;
	req_submit(b, r, j);
	return 0;
}

static void put_value(const struct mb_source *s, uint16_t v, uint8_t *data)
{
	if (mb_table_is_bits(s->table))
		data[0] = v ? 1 : 0;
	else {
		data[0] = (uint8_t)(v >> 8);
		data[1] = (uint8_t)v;
	}
}

static int mb_execute(struct bridge *base, const char *device, const struct mapping_point *pt,
		      const char *args, size_t args_len, bridge_done_fn done, void *ctx)
{
	struct mb_bridge *b = MB(base);
	struct mb_dev *d = dev_find(b, device);
	const struct mb_source *s = pt->execute;
	struct mb_req *r;
	struct mb_job *j;

	(void)args; /* the action is the profile's; arguments are not used */
	(void)args_len;
	if (!b->bus)
		return -EHOSTUNREACH;
	if (!d)
		return -ENOENT;
	if (!s)
		return -EPERM;
	if (d->quarantined)
		return -ETIMEDOUT;
	r = req_new(b, REQ_EXECUTE, done, ctx);
	j = r ? job_new(b, d, r, MB_OP_WRITE, s, 1) : NULL;
	if (!j) {
		free(r);
		return -ENOMEM;
	}
	put_value(s, s->value, j->data);
	if (s->pulse_usec) {
		r->off = job_new(b, d, r, MB_OP_WRITE, s, 1);
		if (!r->off) {
			free(j);
			free(r);
			return -ENOMEM;
		}
		put_value(s, s->off, r->off->data);
		r->pulse_usec = s->pulse_usec;
	}
	req_submit(b, r, j);
	return 0;
}

static void mb_observed(struct bridge *base, const char *device, const struct lwm2m_path *path,
			uint64_t period_usec)
{
	struct mb_bridge *b = MB(base);
	struct mb_dev *d = dev_find(b, device);

	for (size_t i = 0; d && i < d->npts; i++)
		if (lwm2m_path_cmp(&d->pts[i].pt->path, path) == 0 && d->pts[i].obs_usec != period_usec) {
			d->pts[i].obs_usec = period_usec;
			(void)dev_replan(b, d);
			return;
		}
}

static int mb_device_status(struct bridge *base, const char *device, char *buf, size_t size)
{
	struct mb_bridge *b = MB(base);
	struct mb_dev *d = dev_find(b, device);
	uint64_t now = mb_now_usec();
	char gs[160];
	int n;

	if (!d) {
		/* No points yet: a device whose profile is being made. */
		if (!mb_gen_status(b->gen, device, gs, sizeof(gs)))
			return 0;
		n = snprintf(buf, size, "%s", gs);
		return n < 0 ? -EIO : (size_t)n < size ? n : (int)size - 1;
	}
	n = snprintf(buf, size,
		     "unit=%u req=%" PRIu64 " exc=%" PRIu64 " crc=%" PRIu64 " bad=%" PRIu64
		     " timeout=%" PRIu64,
		     d->addr.unit, d->requests, d->exceptions, d->crc, d->bad, d->timeouts);
	if (n >= 0 && (size_t)n < size && d->failing_since) {
		char what[32];
		n += snprintf(buf + n, size - (size_t)n, " failing %" PRIu64 " ms (%s)",
			      (now - d->failing_since) / 1000, fail_what(d, what, sizeof(what)));
	}
	if (n >= 0 && (size_t)n < size && d->quarantined)
		n += snprintf(buf + n, size - (size_t)n, " quarantined (retry in %" PRIu64 " ms)",
			      d->quarantine_until > now ? (d->quarantine_until - now) / 1000 : 0);
	if (n >= 0 && (size_t)n < size && b->link < 0)
		n += snprintf(buf + n, size - (size_t)n, " link-down");
	if (n >= 0 && (size_t)n < size && mb_gen_status(b->gen, device, gs, sizeof(gs)))
		n += snprintf(buf + n, size - (size_t)n, " %s", gs);
	if (n < 0)
		return -EIO;
	return (size_t)n < size ? n : (int)size - 1;
}

static int mb_device_counters(struct bridge *base, const char *device, struct bridge_counter *out, size_t max)
{
	struct mb_dev *d = dev_find(MB(base), device);
	const struct bridge_counter c[] = {
		{ "requests", "Modbus requests sent to the unit", d ? d->requests : 0 },
		{ "exceptions", "exception responses", d ? d->exceptions : 0 },
		{ "crc_errors", "answers with a bad CRC (RTU)", d ? d->crc : 0 },
		{ "bad_responses", "malformed answers", d ? d->bad : 0 },
		{ "timeouts", "requests without an answer in time", d ? d->timeouts : 0 },
		{ "quarantined", "1 while the unit is quarantined after time-outs", d ? d->quarantined : 0,
		  true },
	};

	return d ? bridge_counters_copy(out, max, c, sizeof(c) / sizeof(c[0])) : 0;
}

static void mb_stop_bus(struct mb_bridge *b)
{
	b->stopping = true;
	if (b->timer)
		sd_event_source_set_enabled(b->timer, SD_EVENT_OFF);
	/* Joins the worker (at worst one response timeout) and hands back
	 * every job: their requests complete with -ECANCELED. */
	b->bus = mb_bus_free(b->bus);
	while (b->reqs) {
		struct mb_req *r = b->reqs;
		b->reqs = r->next;
		if (r->raw)
			r->raw(r->ctx, -ECANCELED, NULL, 0);
		else
			r->done(r->ctx, -ECANCELED, NULL);
		req_free(r);
	}
	b->gen = mb_gen_free(b->gen);
}

static void mb_stop(struct bridge *base)
{
	mb_stop_bus(MB(base));
}

static void mb_done(struct bridge *base)
{
	struct mb_bridge *b = MB(base);

	if (b->bus || b->reqs)
		mb_stop_bus(b);
	for (size_t i = 0; i < b->ndevs; i++)
		dev_free(b->devs[i]);
	free(b->devs);
	sd_event_source_disable_unref(b->timer);
	sd_event_unref(b->event);
	free(b->host_name);
	free(b->device);
	free(b->refused);
}

static const struct bridge_kind bridge_kind_modbus = {
	.name = "modbus",
	.size = sizeof(struct mb_bridge),
	/* libmodbus select()s on its socket in every receive. */
	.low_fds = 16,
	.tester = &mb_tester,
	.source_ops = &mb_source_ops,
	.verify = mb_verify,
	.verify_address = mb_verify_address,
	.init = mb_init,
	.start = mb_start,
	.add_point = mb_add_point,
	.remove_point = mb_remove_point,
	.read = mb_read,
	.write = mb_write,
	.execute = mb_execute,
	.observed = mb_observed,
	.generate = mb_generate,
	.device_status = mb_device_status,
	.device_counters = mb_device_counters,
	.stop = mb_stop,
	.done = mb_done,
};
BRIDGE_KIND_REGISTER(bridge_kind_modbus)
