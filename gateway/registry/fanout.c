/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the LwM2M server asks of a device's field points: a Write or an
 * Execute goes through the profile (mapping_encode) to the bridge, a Read
 * of values older than their max_age asks the bridge first. Each request
 * is one group of bridge operations, answered once: when the last one
 * completed, or after WRITE_TIMEOUT (5.03).
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "common/log.h"

#define WRITE_TIMEOUT_USEC (30 * USEC_PER_SEC)

/* A Write, Execute or Read waiting for the field: answered once, when
 * every bridge operation of it completed or after WRITE_TIMEOUT. */
struct wgroup {
	struct gw_registry *r;
	struct wgroup *next;
	char *device;
	unsigned pending;
	int err;
	bool answered;
	lwm2m_done_fn done;
	void *done_ctx;
	sd_event_source *timer;
};

struct wop {
	struct wgroup *g;
	struct lwm2m_path path;
	struct lwm2m_value v; /* what to store once the device acknowledged */
	uint8_t *bytes;
	struct mapping_sample smp; /* the encoded value; may point into buf or the request */
	uint8_t buf[512];
};

static void group_answer(struct wgroup *g, int err)
{
	if (g->answered)
		return;
	g->answered = true;
	g->timer = sd_event_source_disable_unref(g->timer);
	g->done(g->done_ctx, err);
}

static void group_release(struct wgroup *g)
{
	if (g->pending > 0 || !g->answered)
		return;
	for (struct wgroup **p = &g->r->groups; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	sd_event_source_disable_unref(g->timer);
	free(g->device);
	free(g);
}

/* One operation of g completed (or the loop that started them ended). */
static void group_step(struct wgroup *g)
{
	if (--g->pending == 0)
		group_answer(g, g->err);
	group_release(g);
}

static int group_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	struct wgroup *g = ud;
	struct dev *d = device_find(g->r, g->device);

	(void)s;
	(void)usec;
	log_device_warning(d ? DEV_LOG(d) : (&(const struct log_device){ .device = g->device }),
			   "no answer from the field within %llu s",
			   (unsigned long long)(WRITE_TIMEOUT_USEC / USEC_PER_SEC));
	group_answer(g, -ETIMEDOUT);
	group_release(g);
	return 0;
}

static struct wgroup *group_new(struct gw_registry *r, const char *device, lwm2m_done_fn done, void *done_ctx)
{
	struct wgroup *g = calloc(1, sizeof(*g));

	if (!g || !(g->device = strdup(device))) {
		free(g);
		return NULL;
	}
	g->r = r;
	g->done = done;
	g->done_ctx = done_ctx;
	if (sd_event_add_time_relative(r->event, &g->timer, CLOCK_MONOTONIC, WRITE_TIMEOUT_USEC, 0,
				       group_timeout, g) < 0) {
		free(g->device);
		free(g);
		return NULL;
	}
	g->next = r->groups;
	r->groups = g;
	return g;
}

void fanout_free_all(struct gw_registry *r)
{
	while (r->groups) {
		struct wgroup *g = r->groups;
		r->groups = g->next;
		sd_event_source_disable_unref(g->timer);
		free(g->device);
		free(g);
	}
}

static void wops_free(struct wop **ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ops[i]->bytes);
		free(ops[i]);
	}
	free(ops);
}

/* ---- Write and Execute ------------------------------------------------------------------ */

/* One bridge operation of a group completed. */
static void wop_done(void *ctx, int err, const struct mapping_sample *s)
{
	struct wop *op = ctx;
	struct wgroup *g = op->g;

	struct dev *d = device_find(g->r, g->device);

	(void)s;
	if (err > 0)
		err = -err;
	if (d)
		health_count(d, err, op->path.len >= 3 ? "write" : "execute");
	/* The field acknowledged: the store shows the written value. */
	if (err == 0 && op->path.len >= 3 && d)
		(void)target_set_at(d, &op->path, &op->v, 0, false);
	if (err < 0 && g->err == 0)
		g->err = err;
	free(op->bytes);
	free(op);
	group_step(g);
}

/* Whether d's bridge can do what a request needs of it (has: its kind has
 * the operation): -EPERM (4.05 Method Not Allowed, as a NULL handler of
 * libcoap or Anjay answers) when the kind has no such operation,
 * -EHOSTUNREACH (5.03) when the bridge is not running. */
static int bridge_can(const struct dev *d, bool has)
{
	if (d->br && !has)
		return -EPERM;
	return d->br && d->br->b ? 0 : -EHOSTUNREACH;
}

static bool bridged(const struct dev *d, const struct mapping_point *pt)
{
	return pt && d->cfg->bridge && (pt->write || (pt->writable && pt->from == MAPPING_FROM_SOURCE));
}

/* The value to store once the field acknowledged, its bytes copied (the
 * request's are gone by then). */
static int wop_keep_value(struct wop *op, const struct lwm2m_value *value, const struct mapping_point *pt)
{
	int e = lwm2m_value_convert(value, pt->type, &op->v);

	if (e < 0 || (op->v.type != LWM2M_TYPE_STRING && op->v.type != LWM2M_TYPE_OPAQUE &&
		      op->v.type != LWM2M_TYPE_CORELNK))
		return e;
	op->bytes = malloc(op->v.bytes.len + 1);
	if (!op->bytes)
		return -ENOMEM;
	if (op->v.bytes.len)
		memcpy(op->bytes, op->v.bytes.ptr, op->v.bytes.len);
	op->v.bytes.ptr = op->bytes;
	return 0;
}

int fanout_write(struct dev *d, const struct lwm2m_path *path, const struct lwm2m_records *recs, bool replace,
		 lwm2m_done_fn done, void *done_ctx)
{
	struct lwm2m_records direct = { 0 };
	struct wop **ops = NULL;
	struct wgroup *g;
	size_t nb = 0;
	int e = 0;

	/* Records of points that go to the field are encoded first, all of
	 * them, so a bad value is refused before anything is sent. */
	ops = calloc(recs->n + 1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < recs->n && e >= 0; i++) {
		const struct lwm2m_record *rec = &recs->v[i];
		const struct mapping_point *pt = mapping_profile_find(d->profile, &rec->path);
		struct wop *op;
		if (!bridged(d, pt)) {
			struct lwm2m_record *c = lwm2m_records_add(&direct);
			if (!c)
				e = -ENOMEM;
			else
				*c = *rec;
			continue;
		}
		e = bridge_can(d, d->br && d->br->kind && d->br->kind->write);
		if (e < 0)
			break;
		op = calloc(1, sizeof(*op));
		if (!op) {
			e = -ENOMEM;
			break;
		}
		ops[nb++] = op;
		op->path = rec->path;
		e = mapping_encode(pt, &rec->value, op->buf, sizeof(op->buf), &op->smp);
		if (e >= 0)
			e = wop_keep_value(op, &rec->value, pt);
	}
	/* The store part (constants the DDF lets write, values the
	 * application sets) is checked and written by the store. */
	if (e >= 0 && direct.n > 0)
		e = target_written(d, path, &direct, replace && nb == 0);
	lwm2m_records_clear(&direct);
	if (e < 0 || nb == 0) {
		wops_free(ops, nb);
		if (e < 0)
			return e;
		done(done_ctx, 0);
		return 0;
	}

	g = group_new(d->r, d->name, done, done_ctx);
	if (!g) {
		wops_free(ops, nb);
		return -ENOMEM;
	}
	/* Each op is its own bridge call (made now, while the request's
	 * values are valid); the group answers after the last completion. The
	 * extra count keeps the group alive through this loop. */
	g->pending = (unsigned)nb + 1;
	for (size_t i = 0; i < nb; i++) {
		const struct mapping_point *pt = mapping_profile_find(d->profile, &ops[i]->path);
		ops[i]->g = g;
		e = d->br->kind->write(d->br->b, d->name, pt, &ops[i]->smp, wop_done, ops[i]);
		if (e < 0)
			wop_done(ops[i], e, NULL);
	}
	free(ops);
	group_step(g);
	return 0;
}

int fanout_execute(struct dev *d, const struct lwm2m_path *path, const char *args, size_t args_len,
		   lwm2m_done_fn done, void *done_ctx)
{
	const struct mapping_point *pt = mapping_profile_find(d->profile, path);
	struct wgroup *g;
	struct wop *op;
	int e;

	if (!pt || !pt->executable)
		return -EPERM; /* 4.05: nothing to execute there */
	e = bridge_can(d, d->br && d->br->kind && d->br->kind->execute);
	if (e < 0)
		return e;
	g = group_new(d->r, d->name, done, done_ctx);
	op = calloc(1, sizeof(*op));
	if (!g || !op) {
		free(op);
		if (g) {
			g->answered = true;
			group_release(g);
		}
		return -ENOMEM;
	}
	op->g = g;
	g->pending = 1;
	e = d->br->kind->execute(d->br->b, d->name, pt, args, args_len, wop_done, op);
	if (e < 0)
		wop_done(op, e, NULL);
	return 0;
}

/* ---- max_age reads: stale points are read from the field first --------------------------------- */

/* A bridge read of a max_age Read completed: the value goes through the
 * profile into the store as a sample does (and counts as one). */
static void rop_done(void *ctx, int err, const struct mapping_sample *s)
{
	struct wop *op = ctx;
	struct wgroup *g = op->g;
	struct dev *d;

	if (err > 0)
		err = -err;
	if (err == 0 && !s)
		err = -EIO;
	/* By name and path: the device may have gone, or been replaced by
	 * another of its name, while the field answered. A sample counts
	 * itself on the bridge, a failed read here. */
	if (err == 0)
		err = gw_registry_sample(g->r, g->device, &op->path, s, 0);
	else if ((d = device_find(g->r, g->device)))
		health_count(d, err, "read");
	if (err < 0 && g->err == 0)
		g->err = err;
	free(op);
	group_step(g);
}

/* Points with a source at or below path (or above it: a resource instance
 * of a point) whose last sample is older than their max_age, or that were
 * never sampled, are read by the bridge; the Read waits for all of them
 * (the write group: one done(), 5.03 after WRITE_TIMEOUT). Returns 0 when
 * nothing is stale (answer now), 1 when done() will be called. */
int fanout_read(struct dev *d, const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	size_t np = mapping_profile_npoints(d->profile), nb = 0;
	uint64_t now = reg_now_usec();
	struct wgroup *g = NULL;

	if (!d->br || !d->br->b || !d->br->kind->read)
		return 0; /* nobody to ask: the store answers */
	for (size_t i = 0; i < np; i++) {
		const struct mapping_point *pt = mapping_profile_point(d->profile, i);
		uint64_t t = d->pt_sample ? d->pt_sample[i] : 0;
		struct wop *op;
		int e;

		if (pt->from != MAPPING_FROM_SOURCE || !pt->max_age_usec)
			continue;
		if (!lwm2m_path_is_under(&pt->path, path) && !lwm2m_path_is_under(path, &pt->path))
			continue;
		if (t && now - t <= pt->max_age_usec)
			continue;
		if (!g) {
			g = group_new(d->r, d->name, done, done_ctx);
			if (!g)
				return -ENOMEM;
			g->pending = 1; /* held through this loop */
		}
		op = calloc(1, sizeof(*op));
		if (!op) {
			if (g->err == 0)
				g->err = -ENOMEM;
			break;
		}
		op->g = g;
		op->path = pt->path;
		g->pending++;
		nb++;
		e = d->br->kind->read(d->br->b, d->name, pt, rop_done, op);
		if (e < 0)
			rop_done(op, e, NULL);
	}
	if (!g)
		return 0;
	if (--g->pending == 0)
		group_answer(g, nb ? g->err : 0);
	group_release(g);
	return 1;
}
