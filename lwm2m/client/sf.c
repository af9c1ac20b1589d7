/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store-and-forward: the samples a target holds for its server while the
 * server cannot take them, and their delivery once it can.
 *
 * What is kept: every sample of a historical resource
 * (lwm2m_endpoint_set_historical), and, while /1/0/6
 * Notification Storing is true, of one that is observed or was observed
 * when the endpoint lost its server. Notification attributes (pmin, gt...)
 * do not thin out what is kept: every sample is.
 *
 * Where a kept sample goes:
 *  - the endpoint is registered and reachable, the resource observed (not
 *    historical), and nothing of it held: as usual, the observation
 *    notifies it. The sample
 *    is also queued SENT until a barrier (a CoAP ping, confirm_ms after a
 *    notification) comes back: libcoap sends one confirmable message at a
 *    time per session, so the ping's Reset proves that everything sent
 *    before it left and the server was there to take it. When instead the
 *    server is lost (the ping or a confirmable notification gets no
 *    answer, an ICMP error) the SENT samples are held again: what a server
 *    that died took with it is delivered once it is back. A notification
 *    lost on a path that still carries the ping is not noticed: that is
 *    what Non-confirmable means.
 *  - otherwise it is held (PENDING) and written to the target's file
 *    unless it is delivered first. Its notification is not sent: held
 *    values of a resource leave first, in order, then notifications
 *    resume. A historical resource's samples are always held: they all
 *    go by Send (1.1+), which is confirmed, so none is lost to a dropped
 *    datagram either.
 * Delivery of held samples, once the endpoint is registered and reachable:
 *  - LwM2M 1.1 and later: Send (POST /dp), SenML CBOR with each sample's
 *    name and time, at most send_batch per Send, one Send in flight per
 *    endpoint; a 2.xx answer deletes them, no answer holds them again (and
 *    the server is lost), a 4.xx drops them (counted), a 5.xx retries.
 *  - LwM2M 1.0: stored notifications: each held sample of an observed
 *    resource as a confirmable notification of that observation (in its
 *    content format: times only where the format has them), a batch at a
 *    time, deleted once the barrier after the batch comes back. Samples of
 *    resources the server does not observe (again) wait for it.
 * Delivered means acknowledged: a sample may arrive twice (its Send was
 * taken but the answer lost, a restart before the deletion was written),
 * never not at all unless counted in dropped.
 *
 * Files: with a state directory each target's held samples go to
 * "sf-<name>.q" (sfq.h has the format): appended by a job (common/job.h)
 * at most FLUSH_US after they were held, synced (fdatasync) at most
 * sf_sync_ms after they were written, rewritten atomically when mostly
 * delivered, removed when empty. One job at a time for the whole client.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "sf_internal.h"
/* The target of ep (dev NULL) or of a device; NULL when it is none. */
static struct fg_target *target_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev)
{
	uint32_t id = dev ? dev->obs_id : ep->obs.id;
	const struct lwm2m_client *c = ep->c;

	if (!id || id > c->ntargets)
		return NULL;
	return &c->targets[id - 1];
}

struct fg_sf *fg_sf_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev)
{
	const struct fg_target *t = target_of(ep, dev);

	return t ? t->sf : NULL;
}

static int64_t now_ms_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool path_in(const struct lwm2m_path *v, size_t n, const struct lwm2m_path *p)
{
	for (size_t i = 0; i < n; i++)
		if (lwm2m_path_is_under(p, &v[i]))
			return true;
	return false;
}

void fg_sf_free_one(struct fg_sf *sf)
{
	if (!sf)
		return;
	fg_sq_clear(&sf->q);
	free(sf->name);
	free(sf->kept);
	free(sf);
}

/* ---- targets -------------------------------------------------------------------------------- */

int fg_sf_fname(const struct fg_sf *sf, char out[FG_STATE_FILE_NAME_MAX])
{
	return fg_state_file_name("sf-", sf->name, ".q", out);
}

/* The name of target id: its endpoint's, "/" and the device prefix for a
 * device. */
static char *target_name(const struct fg_target *t)
{
	const struct lwm2m_endpoint *ep = t->ep;
	size_t n;
	char *name;

	if (!t->dev)
		return strdup(ep->name);
	n = strlen(ep->name) + 1 + t->dev->prefix_len + 1;
	name = malloc(n);
	if (name)
		snprintf(name, n, "%s/%.*s", ep->name, (int)t->dev->prefix_len, t->dev->prefix);
	return name;
}

/* A new, empty state named name (taken). */
static struct fg_sf *sf_new(struct lwm2m_client *c, char *name)
{
	char fname[FG_STATE_FILE_NAME_MAX];
	struct fg_sf *sf = calloc(1, sizeof(*sf));

	if (!sf) {
		free(name);
		return NULL;
	}
	sf->name = name;
	if (fg_sf_fname(sf, fname) < 0) {
		fg_sf_free_one(sf);
		return NULL;
	}
	sf->q.max_count = c->cfg.sf_max_samples;
	sf->q.max_bytes = c->cfg.sf_max_bytes;
	sf->q.persist = c->cfg.state_dir != NULL;
	return sf;
}

/* The state of a target is made when it first has something to hold (or
 * its file or an orphan has): a gateway's devices mostly never do, and
 * the state is ~240 bytes a device. */
static struct fg_sf *sf_get(struct lwm2m_endpoint *ep, struct fg_target *t)
{
	char *name;

	if (!t->sf && (name = target_name(t)))
		t->sf = sf_new(ep->c, name);
	return t->sf;
}

int fg_sf_target_add(struct lwm2m_client *c, uint32_t id)
{
	struct fg_target *t = &c->targets[id - 1];
	struct lwm2m_endpoint *ep = t->ep;
	struct fg_sf *sf;
	char *name;

	/* No files: nothing to take over; the state waits for a sample. */
	if (!c->cfg.state_dir)
		return 0;
	name = target_name(t);
	if (!name)
		return -ENOMEM;
	/* The same target back before its last write was done: its queue is
	 * still the truth (the file may lag behind it). */
	for (struct fg_sf **p = &c->sf.orphans; *p; p = &(*p)->next_orphan)
		if (!strcmp((*p)->name, name)) {
			sf = *p;
			*p = sf->next_orphan;
			sf->next_orphan = NULL;
			free(name);
			goto adopted;
		}
	sf = sf_new(c, name);
	if (!sf)
		return -ENOMEM;
	fg_sf_load_file(ep, sf);
	if (!sf->on_disk && !sf->q.n && !sf->dirty && !sf->rewrite) {
		fg_sf_free_one(sf); /* no file: made when first needed */
		return 0;
	}
adopted:
	sf->in_job = false;
	c->sf.bytes += sf->q.bytes;
	t->sf = sf;
	if (sf->dirty || sf->rewrite)
		fg_sf_want_flush(c, sf);
	return 0;
}

void fg_sf_target_remove(struct lwm2m_client *c, uint32_t id)
{
	struct fg_target *t = &c->targets[id - 1];
	struct fg_sf *sf = t->sf;
	struct lwm2m_endpoint *ep = t->ep;

	if (!sf)
		return;
	t->sf = NULL;
	c->sf.bytes -= sf->q.bytes < c->sf.bytes ? sf->q.bytes : c->sf.bytes;
	/* Whatever was on its way is held: it goes to the file. */
	for (size_t i = 0; i < sf->q.n; i++) {
		struct fg_sample *s = fg_sq_at(&sf->q, i);

		if (s->state == FG_SQ_SENT || s->state == FG_SQ_INFLIGHT)
			fg_sq_set_state(&sf->q, s, FG_SQ_PENDING, 0);
	}
	if (ep && ep->sf.sending && ep->sf.x->send_target == id)
		ep->sf.sending = false;
	c->sf.gone_queued += sf->q.queued;
	c->sf.gone_delivered += sf->q.delivered;
	c->sf.gone_dropped += sf->q.dropped;
	if (!c->cfg.state_dir || (!sf->q.out.len && !sf->dirty && !sf->unsynced)) {
		fg_sf_free_one(sf);
		return;
	}
	/* Counted above: an adopted queue counts from there again. */
	sf->q.queued = sf->q.delivered = sf->q.dropped = 0;
	sf->next_orphan = c->sf.orphans;
	c->sf.orphans = sf;
	fg_sf_want_flush(c, sf);
}

/* ---- bounds ----------------------------------------------------------------------------------- */

/* fg_sq_remove() with the client's byte count kept. */
void fg_sf_sq_remove(struct lwm2m_client *c, struct fg_sf *sf, struct fg_sample *s, bool delivered)
{
	size_t before = sf->q.bytes;

	fg_sq_remove(&sf->q, s, delivered);
	c->sf.bytes -= before - sf->q.bytes < c->sf.bytes ? before - sf->q.bytes : c->sf.bytes;
}

static int push(struct lwm2m_client *c, struct fg_sf *sf, const struct lwm2m_path *p,
		const struct lwm2m_value *v, int64_t time_ms, enum fg_sq_state st, uint32_t mark)
{
	size_t before = sf->q.bytes, room;
	uint64_t dropped = sf->q.dropped;
	int r;

	/* The total bound: this target may grow into what is left of it. */
	room = c->cfg.sf_total_bytes > c->sf.bytes ? c->cfg.sf_total_bytes - c->sf.bytes : 0;
	sf->q.max_bytes = c->cfg.sf_max_bytes < before + room ? c->cfg.sf_max_bytes : before + room;
	r = fg_sq_push(&sf->q, p, v, time_ms, st, mark);
	c->sf.bytes = c->sf.bytes - before + sf->q.bytes;
	if (sf->q.dropped != dropped && (sf->q.dropped == 1 || sf->q.dropped % 1000 == 0))
		fg_log(c, LWM2M_LOG_WARNING, sf->name,
		       "held values at their bound (%u samples, %zu bytes; %zu for all): the oldest are "
		       "dropped (%llu so far)",
		       c->cfg.sf_max_samples, c->cfg.sf_max_bytes, c->cfg.sf_total_bytes,
		       (unsigned long long)sf->q.dropped);
	return r;
}

/* ---- samples ---------------------------------------------------------------------------------- */

void fg_sf_arm(struct lwm2m_endpoint *ep, uint64_t when)
{
	if (!fg_timer_armed(&ep->sf.timer) || ep->sf.timer.when > when)
		fg_timer_arm(ep->c, &ep->sf.timer, when);
}

int fg_sf_sample(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		 const struct lwm2m_value *v, double time, bool hist)
{
	struct fg_target *t = target_of(ep, dev);
	struct fg_sf *sf = t ? t->sf : NULL;
	bool observed;
	uint32_t pmin;
	int64_t ms;
	int r;

	if (!hist && !ep->sf.storing)
		return 0;
	observed = lwm2m_endpoint_observed(ep, dev, p, &pmin) > 0;
	if (!hist && !observed && (!sf || !path_in(sf->kept, sf->nkept, p)))
		return 0;
	if (!t)
		return 0;
	sf = sf_get(ep, t);
	if (!sf)
		return -ENOMEM;
	ms = time > 0 ? (int64_t)llround(time * 1000.0) : now_ms_real();
	/* Historical: every sample by Send (confirmed), also while online
	 * and observed (notifications would leave beside the Sends, out of
	 * order with the values they carry). Observed only: as notified. */
	if (!hist && fg_ep_online(ep) && observed && fg_sq_held(&sf->q, p) == 0) {
		/* Notified as usual; confirmed by a barrier after the next
		 * notification. */
		r = push(ep->c, sf, p, v, ms, FG_SQ_SENT, ep->sf.tx_mark + 1);
		return r < 0 ? r : 0;
	}
	r = push(ep->c, sf, p, v, ms, FG_SQ_PENDING, 0);
	if (r < 0)
		return r;
	fg_sf_want_flush(ep->c, sf);
	if (fg_ep_online(ep))
		fg_sf_arm(ep, fg_now(ep->c));
	return 1;
}

bool fg_sf_holds(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
		 const struct lwm2m_path *paths, size_t n)
{
	const struct fg_sf *sf = fg_sf_of(ep, dev);

	if (!fg_ep_online(ep))
		return true;
	if (!sf)
		return false;
	for (size_t i = 0; i < sf->q.npaths; i++)
		for (size_t k = 0; k < n; k++)
			if (lwm2m_path_is_under(&sf->q.paths[i].path, &paths[k]) ||
			    lwm2m_path_is_under(&paths[k], &sf->q.paths[i].path))
				return true;
	return false;
}

void fg_sf_notified(struct lwm2m_endpoint *ep)
{
	ep->sf.tx_mark++;
	fg_sf_arm(ep, fg_now(ep->c) + (uint64_t)ep->c->cfg.sf_confirm_ms * MS);
}

/* ---- every target of an endpoint ---------------------------------------------------------------- */

size_t fg_sf_ntargets(const struct lwm2m_endpoint *ep)
{
	return 1 + ep->ndevs;
}

struct lwm2m_device *fg_sf_target_dev(const struct lwm2m_endpoint *ep, size_t i)
{
	return i == 0 ? NULL : ep->devs[i - 1];
}

static void add_kept(struct fg_sf *sf, const struct lwm2m_path *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct lwm2m_path *v;

		if (path_in(sf->kept, sf->nkept, &paths[i]))
			continue;
		v = realloc(sf->kept, (sf->nkept + 1) * sizeof(*v));
		if (!v)
			return; /* not remembered: its next samples are not kept */
		v[sf->nkept++] = paths[i];
		sf->kept = v;
	}
}

void fg_sf_offline(struct lwm2m_endpoint *ep)
{
	struct lwm2m_client *c = ep->c;

	for (size_t t = 0; t < fg_sf_ntargets(ep); t++) {
		struct lwm2m_device *dev = fg_sf_target_dev(ep, t);
		struct fg_target *tg = target_of(ep, dev);
		struct fg_sf *sf = tg ? tg->sf : NULL;
		struct lwm2m_path *paths = NULL;
		size_t n = 0;
		bool changed = false;

		/* What the server observes now stays kept until it has all
		 * (its observations end with the registration). */
		if (ep->sf.storing && fg_obs_paths(ep, dev, &paths, &n) == 0 && n && tg)
			sf = sf_get(ep, tg);
		if (!sf) {
			free(paths);
			continue;
		}
		add_kept(sf, paths, n);
		sf->kept_until = 0; /* counted from the next registration */
		free(paths);
		for (size_t i = 0; i < sf->q.n; i++) {
			struct fg_sample *s = fg_sq_at(&sf->q, i);

			if (s->state == FG_SQ_SENT || s->state == FG_SQ_INFLIGHT) {
				fg_sq_set_state(&sf->q, s, FG_SQ_PENDING, 0);
				changed = true;
			}
		}
		if (changed)
			fg_sf_want_flush(c, sf);
	}
	ep->sf.barrier_busy = false;
	ep->sf.sending = false;
	fg_timer_disarm(c, &ep->sf.timer);
}

void fg_sf_online(struct lwm2m_endpoint *ep)
{
	fg_sf_arm(ep, fg_now(ep->c));
}

void fg_sf_endpoint_free(struct lwm2m_endpoint *ep)
{
	fg_timer_disarm(ep->c, &ep->sf.timer);
	free(ep->sf.x);
	ep->sf.x = NULL;
}

/* ---- the client -----------------------------------------------------------------------------------------
 */

int fg_sf_init(struct lwm2m_client *c)
{
	struct lwm2m_client_config *cfg = &c->cfg;

	if (!cfg->sf_max_samples)
		cfg->sf_max_samples = 10000;
	if (!cfg->sf_max_bytes)
		cfg->sf_max_bytes = 512 * 1024;
	if (!cfg->sf_total_bytes)
		cfg->sf_total_bytes = 32 * 1024 * 1024;
	if (!cfg->sf_sync_ms)
		cfg->sf_sync_ms = 10000;
	if (!cfg->sf_send_batch)
		cfg->sf_send_batch = 64;
	if (!cfg->sf_confirm_ms)
		cfg->sf_confirm_ms = 10000;
	if (!cfg->probe_max_ms)
		cfg->probe_max_ms = 4000;
	fg_timer_init(&c->sf.flush_timer, fg_sf_on_flush_timer);
	c->sf.synced = fg_now(c);
	return 0;
}

void fg_sf_ep_init(struct lwm2m_endpoint *ep)
{
	fg_timer_init(&ep->sf.timer, fg_sf_on_timer);
}

void fg_sf_free(struct lwm2m_client *c)
{
	c->sf.job = job_cancel(c->sf.job);
	while (c->sf.orphans) {
		struct fg_sf *o = c->sf.orphans;

		c->sf.orphans = o->next_orphan;
		fg_sf_free_one(o);
	}
	fg_timer_disarm(c, &c->sf.flush_timer);
}

void fg_sf_stats(const struct lwm2m_client *c, struct lwm2m_client_stats *st)
{
	st->sf_held = 0;
	st->sf_bytes = c->sf.bytes;
	st->sf_queued = c->sf.gone_queued;
	st->sf_delivered = c->sf.gone_delivered;
	st->sf_dropped = c->sf.gone_dropped;
	for (size_t i = 0; i < c->ntargets; i++) {
		const struct fg_sf *sf = c->targets[i].sf;

		if (!sf)
			continue;
		st->sf_held += sf->q.nheld;
		st->sf_queued += sf->q.queued;
		st->sf_delivered += sf->q.delivered;
		st->sf_dropped += sf->q.dropped;
	}
}

void lwm2m_endpoint_sf_stats(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			     struct lwm2m_sf_stats *out)
{
	const struct fg_sf *sf = fg_sf_of(ep, dev);

	*out = (struct lwm2m_sf_stats){ 0 };
	if (!sf)
		return;
	out->held = sf->q.nheld;
	out->bytes = sf->q.bytes;
	out->queued = sf->q.queued;
	out->delivered = sf->q.delivered;
	out->dropped = sf->q.dropped;
	out->dropped_sent = sf->q.dropped_sent;
}
