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

#include "client_internal.h"
#include "sfq.h"
#include "statefile.h"

#define MS  1000u
#define SEC 1000000u

/* Held samples reach the writer at most this long after they were held. */
#define FLUSH_US (1u * SEC)
/* A file is rewritten once its dead records outweigh the live ones by this. */
#define REWRITE_SLACK (64u * 1024u)
/* Stored notifications sent before their barrier. */
#define STORED_BATCH 32u
/* Two barriers at least this far apart: a libcoap server answers at most
 * one empty message per 250 ms and session with a Reset (4.3.1, net.c);
 * a ping sooner waits for its retransmission, seconds later. */
#define BARRIER_GAP_US (300u * 1000u)
/* A refused Send (5.xx) is tried again after this. */
#define SEND_RETRY_US (5u * SEC)
/* Write failures are logged at most this often. */
#define WRITE_WARN_US (60u * SEC)
/* Once registered again, what was observed before stays kept this long for
 * the server to observe it again (its observations ended with the old
 * registration; an application observes again on a registration event):
 * until then every sample of it goes by Send. */
#define KEPT_GRACE_US (300u * SEC)

enum file_op {
	OP_NONE,
	OP_APPEND,
	OP_REPLACE,
	OP_REMOVE,
	OP_SYNC,
};

struct fg_sf {
	struct fg_sq q;
	char *name; /* endpoint name, "/" and the device prefix for a device */
	char fname[FG_STATE_FILE_NAME_MAX];
	struct lwm2m_path *kept; /* observed when the endpoint lost its server */
	size_t nkept;
	uint64_t kept_until; /* µs: then they are forgotten (0: offline yet) */
	bool dirty;          /* file work to do */
	bool on_disk;        /* the file exists (or is being written) */
	bool rewrite;        /* the next write replaces the file */
	bool unsynced;       /* written since the last sync */
	/* Removed with its target (orphan): kept until its last write is done,
	 * and taken back if the same target comes back meanwhile. */
	struct fg_sf *next_orphan;
	bool in_job;
};

/* One file's work in a flush job. */
struct fg_sf_file {
	struct fg_sf_file *next;
	char fname[FG_STATE_FILE_NAME_MAX];
	enum file_op op;
	struct lwm2m_buf head, data;
};

struct flush_job {
	char *dir;
	bool sync;
	struct fg_sf_file *files;
};

static struct fg_sf *sf_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev)
{
	uint32_t id = dev ? dev->obs_id : ep->obs_id;
	const struct lwm2m_client *c = ep->c;

	if (!id || id > c->ntargets)
		return NULL;
	return c->targets[id - 1].sf;
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

static void sf_free(struct fg_sf *sf)
{
	if (!sf)
		return;
	fg_sq_clear(&sf->q);
	free(sf->name);
	free(sf->kept);
	free(sf);
}

/* ---- the file -------------------------------------------------------------------------- */

static void on_flush_timer(struct lwm2m_client *c, struct fg_timer *t);

static void want_flush(struct lwm2m_client *c, struct fg_sf *sf)
{
	if (!c->cfg.state_dir)
		return;
	uint64_t at = fg_now(c) + FLUSH_US;

	sf->dirty = true;
	/* Earlier than a sync pass that may be due much later. */
	if (!fg_timer_armed(&c->sf_flush_timer) || c->sf_flush_timer.when > at)
		fg_timer_arm(c, &c->sf_flush_timer, at);
}

static void file_free(struct fg_sf_file *f)
{
	lwm2m_buf_free(&f->head);
	lwm2m_buf_free(&f->data);
	free(f);
}

static void flush_job_free(void *p)
{
	struct flush_job *j = p;

	while (j->files) {
		struct fg_sf_file *f = j->files;

		j->files = f->next;
		file_free(f);
	}
	free(j->dir);
	free(j);
}

static int flush_job_run(void *p)
{
	struct flush_job *j = p;
	int r = 0, e;

	for (struct fg_sf_file *f = j->files; f; f = f->next) {
		switch (f->op) {
		case OP_APPEND:
		case OP_SYNC:
			e = fg_state_append(j->dir, f->fname, f->head.data, f->head.len, f->data.data,
					    f->data.len, j->sync);
			break;
		case OP_REPLACE:
			e = fg_state_replace(j->dir, f->fname, f->data.data, f->data.len);
			break;
		case OP_REMOVE:
			e = fg_state_remove(j->dir, f->fname);
			break;
		default:
			e = 0;
			break;
		}
		if (e < 0 && r == 0)
			r = e;
	}
	return r;
}

/* The work a target's file needs now, taken out of sf into a file entry
 * (NULL: none, or out of memory: tried again at the next flush). */
static struct fg_sf_file *take_work(struct fg_sf *sf, bool sync)
{
	struct fg_sf_file *f;
	enum file_op op = OP_NONE;

	if (sf->q.live == 0) {
		if (sf->on_disk)
			op = OP_REMOVE;
	} else if (sf->rewrite || sf->q.disk_dead > sf->q.disk_live + REWRITE_SLACK) {
		op = OP_REPLACE;
	} else {
		/* Out of memory: what was encoded goes now, the rest next time. */
		(void)fg_sq_flush(&sf->q);
		if (sf->q.out.len)
			op = OP_APPEND;
		else if (sync && sf->unsynced)
			op = OP_SYNC;
	}
	if (op == OP_NONE)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	memcpy(f->fname, sf->fname, sizeof(f->fname));
	f->op = op;
	switch (op) {
	case OP_REMOVE:
		lwm2m_buf_reset(&sf->q.out);
		sf->q.disk_live = sf->q.disk_dead = 0;
		sf->on_disk = false;
		break;
	case OP_REPLACE:
		if (fg_sq_image(&sf->q, sf->name, &f->data) < 0) {
			file_free(f);
			return NULL;
		}
		sf->rewrite = false;
		sf->on_disk = true;
		break;
	default:
		if (fg_sq_header(sf->name, &f->head) < 0) {
			file_free(f);
			return NULL;
		}
		f->data = sf->q.out;
		sf->q.out = (struct lwm2m_buf){ 0 };
		sf->on_disk = true;
		break;
	}
	sf->unsynced = op != OP_REMOVE && op != OP_REPLACE && !sync;
	sf->dirty = false;
	return f;
}

/* A flush is over (or had nothing to write): orphans written are done
 * with; a shutdown waiting for it goes on. */
static void flush_done(struct lwm2m_client *c)
{
	for (struct fg_sf **p = &c->sf_orphans; *p;) {
		struct fg_sf *o = *p;

		if (o->in_job && !o->dirty) {
			*p = o->next_orphan;
			sf_free(o);
		} else {
			o->in_job = false;
			p = &o->next_orphan;
		}
	}
	if (c->sf_final)
		fg_timer_arm(c, &c->shutdown_timer, fg_now(c)); /* client.c waits for this */
}

static void on_flushed(void *ud, void *data, int r)
{
	struct lwm2m_client *c = ud;

	(void)data;
	c->sf_job = NULL;
	if (r < 0 && (!c->sf_warned || fg_now(c) - c->sf_warned > WRITE_WARN_US)) {
		c->sf_warned = fg_now(c);
		fg_log(c, LWM2M_LOG_ERR, NULL,
		       "cannot write the values held for the server to %s: %s (they are kept in memory)",
		       c->cfg.state_dir, strerror(-r));
	}
	flush_done(c);
	/* What became dirty meanwhile waited for this job. */
	if (!c->sf_final && !fg_timer_armed(&c->sf_flush_timer))
		fg_timer_arm(c, &c->sf_flush_timer, fg_now(c) + FLUSH_US);
}

static void add_work(struct fg_sf_file **tail, struct fg_sf_file *f)
{
	while (*tail)
		tail = &(*tail)->next;
	*tail = f;
}

static void on_flush_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct flush_job *j;
	uint64_t now = fg_now(c);
	bool sync, unsynced = false;
	int r;

	(void)t;
	if (!c->cfg.state_dir) {
		flush_done(c);
		return;
	}
	if (c->sf_job)
		return; /* on_flushed() arms the timer again */
	sync = c->sf_final || c->cfg.sf_sync_ms == 1 ||
	       now - c->sf_synced >= (uint64_t)c->cfg.sf_sync_ms * MS;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(c->cfg.state_dir))) {
		free(j);
		fg_timer_arm(c, &c->sf_flush_timer, now + FLUSH_US);
		return;
	}
	j->sync = sync;
	for (size_t i = 0; i < c->ntargets; i++) {
		struct fg_sf *sf = c->targets[i].sf;
		struct fg_sf_file *f;

		if (!sf || (!sf->dirty && !(sync && sf->unsynced)))
			continue;
		f = take_work(sf, sync);
		if (f)
			add_work(&j->files, f);
		unsynced |= sf->unsynced;
	}
	for (struct fg_sf *o = c->sf_orphans; o; o = o->next_orphan) {
		struct fg_sf_file *f = o->dirty || (sync && o->unsynced) ? take_work(o, sync) : NULL;

		o->dirty = false;
		o->in_job = true;
		if (f)
			add_work(&j->files, f);
		unsynced |= o->unsynced;
	}
	if (sync)
		c->sf_synced = now;
	if (!j->files) {
		flush_job_free(j);
		if (unsynced)
			fg_timer_arm(c, &c->sf_flush_timer, c->sf_synced + (uint64_t)c->cfg.sf_sync_ms * MS);
		flush_done(c);
		return;
	}
	r = job_start(c->ev, flush_job_run, j, flush_job_free, on_flushed, c, &c->sf_job);
	if (r < 0) {
		fg_log(c, LWM2M_LOG_ERR, NULL, "cannot start writing the held values: %s", strerror(-r));
		fg_timer_arm(c, &c->sf_flush_timer, now + FLUSH_US);
		return;
	}
	/* Written but not synced: a sync pass follows at the latest then. */
	if (unsynced)
		fg_timer_arm(c, &c->sf_flush_timer, c->sf_synced + (uint64_t)c->cfg.sf_sync_ms * MS);
}

void fg_sf_final_flush(struct lwm2m_client *c)
{
	c->sf_final = true;
	if (!c->sf_job)
		on_flush_timer(c, &c->sf_flush_timer);
}

bool fg_sf_flushing(const struct lwm2m_client *c)
{
	return c->sf_job != NULL;
}

/* Read the target's file (once, when the target is added). */
static void load_file(struct lwm2m_endpoint *ep, struct fg_sf *sf)
{
	struct lwm2m_client *c = ep->c;
	size_t max = (c->cfg.sf_max_bytes + FG_SQ_SAMPLE_MAX) * 4 + 1024 * 1024, ignored = 0, n = 0;
	const char *why = NULL;
	struct stat st;
	uint8_t *data = NULL;
	int dfd, fd = -1, r;

	dfd = open(c->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	fd = openat(dfd, sf->fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			ep_log(ep, LWM2M_LOG_ERR,
			       "cannot read %s/%s: %s (the values in it are not delivered)", c->cfg.state_dir,
			       sf->fname, strerror(errno));
		goto out;
	}
	sf->on_disk = true;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		why = "not a regular file of a plausible size";
		r = -EBADMSG;
		goto bad;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		goto out;
	while (n <= (size_t)st.st_size) {
		ssize_t got = read(fd, data + n, (size_t)st.st_size + 1 - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	r = fg_sq_load(&sf->q, data, n, sf->name, &ignored, &why);
	if (r < 0)
		goto bad;
	if (ignored || r == 0)
		sf->rewrite = true; /* the torn tail (or an empty file) goes */
	if (r > 0)
		ep_log(ep, LWM2M_LOG_INFO, "%d value%s held from before (%s)%s", r, r == 1 ? "" : "s",
		       sf->fname, ignored ? "; a damaged end of the file was left out" : "");
	else if (ignored)
		ep_log(ep, LWM2M_LOG_WARNING, "%s: %zu bytes at its end are damaged and left out", sf->fname,
		       ignored);
	goto out;
bad:
	/* Kept aside for a look, never read again; the target starts empty. */
	{
		char aside[FG_STATE_FILE_NAME_MAX + 8];

		snprintf(aside, sizeof(aside), "%s.bad", sf->fname);
		ep_log(ep, LWM2M_LOG_ERR,
		       "%s cannot be used (%s): renamed %s, the values in it are not delivered", sf->fname,
		       why ? why : strerror(-r), aside);
		renameat(dfd, sf->fname, dfd, aside);
		sf->on_disk = false;
	}
out:
	free(data);
	if (fd >= 0)
		close(fd);
	close(dfd);
}

/* ---- targets -------------------------------------------------------------------------------- */

int fg_sf_target_add(struct lwm2m_client *c, uint32_t id)
{
	struct fg_target *t = &c->targets[id - 1];
	struct lwm2m_endpoint *ep = t->ep;
	struct fg_sf *sf;
	char *name;
	int r;

	if (t->dev) {
		size_t n = strlen(ep->name) + 1 + t->dev->prefix_len + 1;

		name = malloc(n);
		if (name)
			snprintf(name, n, "%s/%.*s", ep->name, (int)t->dev->prefix_len, t->dev->prefix);
	} else {
		name = strdup(ep->name);
	}
	if (!name)
		return -ENOMEM;
	/* The same target back before its last write was done: its queue is
	 * still the truth (the file may lag behind it). */
	for (struct fg_sf **p = &c->sf_orphans; *p; p = &(*p)->next_orphan)
		if (!strcmp((*p)->name, name)) {
			sf = *p;
			*p = sf->next_orphan;
			sf->next_orphan = NULL;
			free(name);
			goto adopted;
		}
	sf = calloc(1, sizeof(*sf));
	if (!sf) {
		free(name);
		return -ENOMEM;
	}
	sf->name = name;
	r = fg_state_file_name("sf-", name, ".q", sf->fname);
	if (r < 0) {
		sf_free(sf);
		return r;
	}
	sf->q.max_count = c->cfg.sf_max_samples;
	sf->q.max_bytes = c->cfg.sf_max_bytes;
	sf->q.persist = c->cfg.state_dir != NULL;
	if (c->cfg.state_dir)
		load_file(ep, sf);
adopted:
	sf->in_job = false;
	c->sf_bytes += sf->q.bytes;
	t->sf = sf;
	if (sf->dirty || sf->rewrite)
		want_flush(c, sf);
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
	c->sf_bytes -= sf->q.bytes < c->sf_bytes ? sf->q.bytes : c->sf_bytes;
	/* Whatever was on its way is held: it goes to the file. */
	for (size_t i = 0; i < sf->q.n; i++) {
		struct fg_sample *s = fg_sq_at(&sf->q, i);

		if (s->state == FG_SQ_SENT || s->state == FG_SQ_INFLIGHT)
			fg_sq_set_state(&sf->q, s, FG_SQ_PENDING, 0);
	}
	if (ep && ep->sf_sending && ep->sf_send_target == id)
		ep->sf_sending = false;
	c->sf_gone_queued += sf->q.queued;
	c->sf_gone_delivered += sf->q.delivered;
	c->sf_gone_dropped += sf->q.dropped;
	if (!c->cfg.state_dir || (!sf->q.out.len && !sf->dirty && !sf->unsynced)) {
		sf_free(sf);
		return;
	}
	/* Counted above: an adopted queue counts from there again. */
	sf->q.queued = sf->q.delivered = sf->q.dropped = 0;
	sf->next_orphan = c->sf_orphans;
	c->sf_orphans = sf;
	want_flush(c, sf);
}

/* ---- bounds ----------------------------------------------------------------------------------- */

/* fg_sq_remove() with the client's byte count kept. */
static void sq_remove(struct lwm2m_client *c, struct fg_sf *sf, struct fg_sample *s, bool delivered)
{
	size_t before = sf->q.bytes;

	fg_sq_remove(&sf->q, s, delivered);
	c->sf_bytes -= before - sf->q.bytes < c->sf_bytes ? before - sf->q.bytes : c->sf_bytes;
}

static int push(struct lwm2m_client *c, struct fg_sf *sf, const struct lwm2m_path *p,
		const struct lwm2m_value *v, int64_t time_ms, enum fg_sq_state st, uint32_t mark)
{
	size_t before = sf->q.bytes, room;
	uint64_t dropped = sf->q.dropped;
	int r;

	/* The total bound: this target may grow into what is left of it. */
	room = c->cfg.sf_total_bytes > c->sf_bytes ? c->cfg.sf_total_bytes - c->sf_bytes : 0;
	sf->q.max_bytes = c->cfg.sf_max_bytes < before + room ? c->cfg.sf_max_bytes : before + room;
	r = fg_sq_push(&sf->q, p, v, time_ms, st, mark);
	c->sf_bytes = c->sf_bytes - before + sf->q.bytes;
	if (sf->q.dropped != dropped && (sf->q.dropped == 1 || sf->q.dropped % 1000 == 0))
		fg_log(c, LWM2M_LOG_WARNING, sf->name,
		       "held values at their bound (%u samples, %zu bytes; %zu for all): the oldest are "
		       "dropped (%llu so far)",
		       c->cfg.sf_max_samples, c->cfg.sf_max_bytes, c->cfg.sf_total_bytes,
		       (unsigned long long)sf->q.dropped);
	return r;
}

/* ---- samples ---------------------------------------------------------------------------------- */

static void arm_sf(struct lwm2m_endpoint *ep, uint64_t when)
{
	if (!fg_timer_armed(&ep->sf_timer) || ep->sf_timer.when > when)
		fg_timer_arm(ep->c, &ep->sf_timer, when);
}

int fg_sf_sample(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		 const struct lwm2m_value *v, double time, bool hist)
{
	struct fg_sf *sf = sf_of(ep, dev);
	bool observed;
	uint32_t pmin;
	int64_t ms;
	int r;

	if (!sf)
		return 0;
	if (!hist && !ep->storing)
		return 0;
	observed = lwm2m_endpoint_observed(ep, dev, p, &pmin) > 0;
	if (!hist && !observed && !path_in(sf->kept, sf->nkept, p))
		return 0;
	ms = time > 0 ? (int64_t)llround(time * 1000.0) : now_ms_real();
	/* Historical: every sample by Send (confirmed), also while online
	 * and observed (notifications would leave beside the Sends, out of
	 * order with the values they carry). Observed only: as notified. */
	if (!hist && fg_ep_online(ep) && observed && fg_sq_held(&sf->q, p) == 0) {
		/* Notified as usual; confirmed by a barrier after the next
		 * notification. */
		r = push(ep->c, sf, p, v, ms, FG_SQ_SENT, ep->tx_mark + 1);
		return r < 0 ? r : 0;
	}
	r = push(ep->c, sf, p, v, ms, FG_SQ_PENDING, 0);
	if (r < 0)
		return r;
	want_flush(ep->c, sf);
	if (fg_ep_online(ep))
		arm_sf(ep, fg_now(ep->c));
	return 1;
}

bool fg_sf_holds(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
		 const struct lwm2m_path *paths, size_t n)
{
	const struct fg_sf *sf = sf_of(ep, dev);

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
	ep->tx_mark++;
	arm_sf(ep, fg_now(ep->c) + (uint64_t)ep->c->cfg.sf_confirm_ms * MS);
}

/* ---- every target of an endpoint ---------------------------------------------------------------- */

static size_t ntargets(const struct lwm2m_endpoint *ep)
{
	return 1 + ep->ndevs;
}

static struct lwm2m_device *target_dev(const struct lwm2m_endpoint *ep, size_t i)
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

	for (size_t t = 0; t < ntargets(ep); t++) {
		struct lwm2m_device *dev = target_dev(ep, t);
		struct fg_sf *sf = sf_of(ep, dev);
		struct lwm2m_path *paths = NULL;
		size_t n = 0;
		bool changed = false;

		if (!sf)
			continue;
		/* What the server observes now stays kept until it has all
		 * (its observations end with the registration). */
		if (ep->storing && fg_obs_paths(ep, dev, &paths, &n) == 0)
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
			want_flush(c, sf);
	}
	ep->barrier_busy = false;
	ep->sf_sending = false;
	fg_timer_disarm(c, &ep->sf_timer);
}

void fg_sf_online(struct lwm2m_endpoint *ep)
{
	arm_sf(ep, fg_now(ep->c));
}

void fg_sf_endpoint_free(struct lwm2m_endpoint *ep)
{
	fg_timer_disarm(ep->c, &ep->sf_timer);
}

/* ---- delivery ------------------------------------------------------------------------------------ */

static void record_of(const struct fg_sample *s, const struct lwm2m_device *dev, struct lwm2m_record *rec)
{
	*rec = (struct lwm2m_record){
		.path = s->path, .value = s->value, .time = (double)s->time_ms / 1000.0, .has_time = true
	};
	if (dev)
		rec->prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
}

/* One Send of the oldest held samples of one target (LwM2M 1.1+). */
static void deliver_send(struct lwm2m_endpoint *ep)
{
	static const struct lwm2m_path root = { .len = 0 };
	unsigned batch = ep->c->cfg.sf_send_batch;

	if (ep->sf_sending)
		return;
	for (size_t t = 0; t < ntargets(ep); t++) {
		struct lwm2m_device *dev = target_dev(ep, t);
		struct fg_sf *sf = sf_of(ep, dev);
		struct lwm2m_records recs = { 0 };
		struct lwm2m_buf body = { 0 };
		uint32_t mark = ++ep->sf_next_mark;
		int r = 0;

		if (!sf)
			continue;
		for (size_t i = 0; i < sf->q.n && recs.n < batch; i++) {
			struct fg_sample *s = fg_sq_at(&sf->q, i);
			struct lwm2m_record *rec;

			if (s->state != FG_SQ_PENDING)
				continue;
			rec = lwm2m_records_add(&recs);
			if (!rec) {
				r = -ENOMEM;
				break;
			}
			record_of(s, dev, rec);
		}
		if (r >= 0 && recs.n)
			r = lwm2m_encode(LWM2M_CT_SENML_CBOR, &root, recs.v, recs.n, &body);
		if (r >= 0 && recs.n)
			r = fg_ep_send_body(ep, COAP_REQUEST_CODE_POST, "/dp", &body, LWM2M_CT_SENML_CBOR,
					    ep->sf_token, &ep->sf_token_len);
		if (r >= 0 && recs.n) {
			size_t k = 0;

			for (size_t i = 0; i < sf->q.n && k < recs.n; i++) {
				struct fg_sample *s = fg_sq_at(&sf->q, i);

				if (s->state == FG_SQ_PENDING) {
					fg_sq_set_state(&sf->q, s, FG_SQ_INFLIGHT, mark);
					k++;
				}
			}
			ep->sf_sending = true;
			ep->sf_send_target = dev ? dev->obs_id : ep->obs_id;
			ep->sf_send_mark = mark;
			ep_log(ep, LWM2M_LOG_DEBUG, "Send of %zu held value%s%s%.*s", recs.n,
			       recs.n == 1 ? "" : "s", dev ? " of /" : "", dev ? (int)dev->prefix_len : 0,
			       dev ? dev->prefix : "");
		} else if (r < 0) {
			ep_log(ep, LWM2M_LOG_WARNING, "cannot send held values: %s", strerror(-r));
		}
		lwm2m_buf_free(&body);
		lwm2m_records_clear(&recs);
		if (ep->sf_sending || r < 0)
			return;
	}
}

/* Stored notifications of held samples (LwM2M 1.0), a batch at a time. */
static bool deliver_stored(struct lwm2m_endpoint *ep)
{
	unsigned sent = 0;

	if (ep->barrier_busy)
		return false;
	for (size_t t = 0; t < ntargets(ep) && sent < STORED_BATCH; t++) {
		struct lwm2m_device *dev = target_dev(ep, t);
		struct fg_sf *sf = sf_of(ep, dev);

		for (size_t i = 0; sf && i < sf->q.n && sent < STORED_BATCH; i++) {
			struct fg_sample *s = fg_sq_at(&sf->q, i);
			struct lwm2m_record rec;
			int r;

			if (s->state != FG_SQ_PENDING)
				continue;
			record_of(s, dev, &rec);
			r = fg_obs_send_stored(ep, dev, &rec);
			if (r == -ENOENT)
				continue; /* not observed (yet): waits */
			if (r == -ENOTCONN)
				return sent > 0;
			if (r < 0) {
				/* Its observation's format cannot carry it. */
				sq_remove(ep->c, sf, s, false);
				want_flush(ep->c, sf);
				i--;
				continue;
			}
			fg_sq_set_state(&sf->q, s, FG_SQ_INFLIGHT, ++ep->tx_mark);
			sent++;
		}
	}
	return sent > 0;
}

/* Anything notified (SENT) or stored-notified (INFLIGHT) that a barrier
 * has not confirmed yet? */
static bool unconfirmed(const struct lwm2m_endpoint *ep)
{
	for (size_t t = 0; t < ntargets(ep); t++) {
		const struct fg_sf *sf = sf_of(ep, target_dev(ep, t));

		for (size_t i = 0; sf && i < sf->q.n; i++) {
			const struct fg_sample *s = fg_sq_at(&sf->q, i);

			if ((s->state == FG_SQ_SENT || (s->state == FG_SQ_INFLIGHT && ep->version < 11)) &&
			    s->mark <= ep->tx_mark)
				return true;
		}
	}
	return false;
}

/* libcoap sends one CON at a time per session (NSTART 1): when the Reset
 * to this empty CON comes, everything sent before it has left, and the
 * server was there to answer. */
static void send_barrier(struct lwm2m_endpoint *ep)
{
	uint64_t now = fg_now(ep->c);
	coap_pdu_t *pdu;
	coap_mid_t mid;

	if (ep->barrier_busy || !ep->session)
		return;
	/* From the last Reset: the server's limit counts from its own. */
	if (ep->barrier_done && now - ep->barrier_done < BARRIER_GAP_US) {
		arm_sf(ep, ep->barrier_done + BARRIER_GAP_US);
		return;
	}
	mid = fg_obs_quiet_mid(ep->c, ep->session);
	pdu = coap_pdu_init(COAP_MESSAGE_CON, 0, mid, 0);
	if (!pdu)
		return;
	if (coap_send(ep->session, pdu) == COAP_INVALID_MID)
		return;
	ep->barrier_busy = true;
	ep->barrier_mid = mid;
	ep->barrier_mark = ep->tx_mark;
	/* A server that acknowledges the ping instead of resetting it:
	 * libcoap reports neither, only a failure; none by then is a yes. */
	arm_sf(ep, fg_now(ep->c) + (uint64_t)ep->c->cfg.block1_timeout_ms * MS);
	ep->barrier_since = fg_now(ep->c);
	fg_client_kick(ep->c);
}

/* A barrier came back (a ping's Reset, the answer to an Update or a
 * De-register): what went before it is delivered. */
void fg_sf_confirmed(struct lwm2m_endpoint *ep, uint32_t mark)
{
	for (size_t t = 0; t < ntargets(ep); t++) {
		struct fg_sf *sf = sf_of(ep, target_dev(ep, t));
		bool changed = false;

		for (size_t i = 0; sf && i < sf->q.n; i++) {
			struct fg_sample *s = fg_sq_at(&sf->q, i);

			if ((s->state == FG_SQ_SENT || (s->state == FG_SQ_INFLIGHT && ep->version < 11)) &&
			    s->mark <= mark) {
				sq_remove(ep->c, sf, s, true);
				changed = true;
				i--;
			}
		}
		if (changed)
			want_flush(ep->c, sf);
	}
}

static bool anything_held(const struct lwm2m_endpoint *ep)
{
	for (size_t t = 0; t < ntargets(ep); t++) {
		const struct fg_sf *sf = sf_of(ep, target_dev(ep, t));

		if (sf && sf->q.npaths)
			return true;
	}
	return false;
}

/* What was kept for having been observed before the server was lost: a
 * path observed again is the observation's again; the others are forgotten
 * KEPT_GRACE_US after the endpoint registered again. */
static void forget_kept(struct lwm2m_endpoint *ep, uint64_t now)
{
	for (size_t t = 0; t < ntargets(ep); t++) {
		struct lwm2m_device *dev = target_dev(ep, t);
		struct fg_sf *sf = sf_of(ep, dev);

		if (!sf || !sf->nkept)
			continue;
		if (!sf->kept_until)
			sf->kept_until = now + KEPT_GRACE_US;
		for (size_t i = 0; i < sf->nkept;) {
			uint32_t pmin;

			if (now >= sf->kept_until ||
			    lwm2m_endpoint_observed(ep, dev, &sf->kept[i], &pmin) > 0)
				sf->kept[i] = sf->kept[--sf->nkept];
			else
				i++;
		}
		if (sf->nkept)
			arm_sf(ep, sf->kept_until);
	}
}

static void on_sf_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct lwm2m_endpoint *ep =
		(struct lwm2m_endpoint *)((char *)t - offsetof(struct lwm2m_endpoint, sf_timer));
	uint64_t now = fg_now(c);

	if (!fg_ep_online(ep))
		return;
	if (ep->barrier_busy && now - ep->barrier_since >= (uint64_t)c->cfg.block1_timeout_ms * MS) {
		ep->barrier_busy = false;
		fg_sf_confirmed(ep, ep->barrier_mark);
	}
	if (ep->version >= 11) {
		deliver_send(ep);
	} else if (deliver_stored(ep)) {
		send_barrier(ep);
		return;
	}
	if (!ep->barrier_busy && unconfirmed(ep))
		send_barrier(ep);
	forget_kept(ep, now);
	/* Queue mode: quiet for queue_awake_ms and nothing on its way:
	 * hold values until the next Update. */
	if (ep->binding == LWM2M_BINDING_UQ && !ep->barrier_busy && !ep->sf_sending && !unconfirmed(ep) &&
	    !(ep->version < 11 && anything_held(ep))) {
		uint64_t wake = ep->last_exchange + (uint64_t)c->cfg.queue_awake_ms * MS;

		if (now >= wake) {
			ep->sleeping = true;
			ep_log(ep, LWM2M_LOG_DEBUG, "queue mode: holding values until the next Update");
		} else {
			arm_sf(ep, wake);
		}
	}
}

/* ---- answers ---------------------------------------------------------------------------------------- */

static struct fg_sf *send_sf(struct lwm2m_endpoint *ep)
{
	uint32_t id = ep->sf_send_target;

	if (!id || id > ep->c->ntargets || ep->c->targets[id - 1].ep != ep)
		return NULL;
	return ep->c->targets[id - 1].sf;
}

/* The Send in flight is over: delivered (remove), dropped (remove), or back
 * to PENDING. */
static void send_over(struct lwm2m_endpoint *ep, int outcome)
{
	struct fg_sf *sf = send_sf(ep);

	ep->sf_sending = false;
	for (size_t i = 0; sf && i < sf->q.n; i++) {
		struct fg_sample *s = fg_sq_at(&sf->q, i);

		if (s->state != FG_SQ_INFLIGHT || s->mark != ep->sf_send_mark)
			continue;
		if (outcome == 0) {
			fg_sq_set_state(&sf->q, s, FG_SQ_PENDING, 0);
			continue;
		}
		sq_remove(ep->c, sf, s, outcome > 0);
		i--;
	}
	if (sf)
		want_flush(ep->c, sf);
}

bool fg_sf_response(struct lwm2m_endpoint *ep, const coap_pdu_t *received, uint8_t code)
{
	coap_bin_const_t tok = coap_pdu_get_token(received);

	if (!ep->sf_sending || tok.length != ep->sf_token_len || memcmp(tok.s, ep->sf_token, tok.length))
		return false;
	fg_srv_alive(ep);
	if (COAP_RESPONSE_CLASS(code) == 2) {
		send_over(ep, 1);
		arm_sf(ep, fg_now(ep->c));
	} else if (COAP_RESPONSE_CLASS(code) == 5) {
		ep_log(ep, LWM2M_LOG_WARNING, "Send of held values answered %u.%02u: trying again", code >> 5,
		       code & 31);
		send_over(ep, 0);
		arm_sf(ep, fg_now(ep->c) + SEND_RETRY_US);
	} else {
		ep_log(ep, LWM2M_LOG_WARNING, "Send of held values refused (%u.%02u): they are dropped",
		       code >> 5, code & 31);
		send_over(ep, -1);
		arm_sf(ep, fg_now(ep->c));
	}
	return true;
}

bool fg_sf_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason, coap_mid_t mid)
{
	bool barrier = ep->barrier_busy && mid == ep->barrier_mid && sent && coap_pdu_get_code(sent) == 0;
	coap_bin_const_t tok;

	if (barrier) {
		if (reason == COAP_NACK_RST) {
			fg_srv_alive(ep);
			ep->barrier_busy = false;
			ep->barrier_done = fg_now(ep->c);
			fg_sf_confirmed(ep, ep->barrier_mark);
			arm_sf(ep, fg_now(ep->c));
			return true;
		}
		ep->barrier_busy = false;
		fg_srv_lost(ep, reason == COAP_NACK_TOO_MANY_RETRIES ? -ETIMEDOUT : -EHOSTUNREACH,
			    reason == COAP_NACK_TOO_MANY_RETRIES ? "no answer to a ping" : "unreachable");
		return true;
	}
	if (!ep->sf_sending || !sent)
		return false;
	tok = coap_pdu_get_token(sent);
	if (tok.length != ep->sf_token_len || memcmp(tok.s, ep->sf_token, tok.length))
		return false;
	send_over(ep, 0);
	if (reason == COAP_NACK_RST)
		fg_ep_want_update(ep);
	else
		fg_srv_lost(ep, reason == COAP_NACK_TOO_MANY_RETRIES ? -ETIMEDOUT : -EHOSTUNREACH,
			    "a Send got no answer");
	return true;
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
	fg_timer_init(&c->sf_flush_timer, on_flush_timer);
	c->sf_synced = fg_now(c);
	return 0;
}

void fg_sf_ep_init(struct lwm2m_endpoint *ep)
{
	fg_timer_init(&ep->sf_timer, on_sf_timer);
}

void fg_sf_free(struct lwm2m_client *c)
{
	c->sf_job = job_cancel(c->sf_job);
	while (c->sf_orphans) {
		struct fg_sf *o = c->sf_orphans;

		c->sf_orphans = o->next_orphan;
		sf_free(o);
	}
	fg_timer_disarm(c, &c->sf_flush_timer);
}

void fg_sf_stats(const struct lwm2m_client *c, struct lwm2m_client_stats *st)
{
	st->sf_held = 0;
	st->sf_bytes = c->sf_bytes;
	st->sf_queued = c->sf_gone_queued;
	st->sf_delivered = c->sf_gone_delivered;
	st->sf_dropped = c->sf_gone_dropped;
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
	const struct fg_sf *sf = sf_of(ep, dev);

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
