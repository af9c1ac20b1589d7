/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store-and-forward: the files (one per target, in the client's state
 * directory) written by a job off the loop, and loading them when a
 * target is added. See sf.c for what is kept and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sf_internal.h"
#include "statefile.h"

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

/* ---- the file -------------------------------------------------------------------------- */

void fg_sf_want_flush(struct lwm2m_client *c, struct fg_sf *sf)
{
	if (!c->cfg.state_dir)
		return;
	uint64_t at = fg_now(c) + FLUSH_US;

	sf->dirty = true;
	/* Earlier than a sync pass that may be due much later. */
	if (!fg_timer_armed(&c->sf.flush_timer) || c->sf.flush_timer.when > at)
		fg_timer_arm(c, &c->sf.flush_timer, at);
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
	if (fg_sf_fname(sf, f->fname) < 0) { /* checked when sf was made */
		free(f);
		return NULL;
	}
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
	for (struct fg_sf **p = &c->sf.orphans; *p;) {
		struct fg_sf *o = *p;

		if (o->in_job && !o->dirty) {
			*p = o->next_orphan;
			fg_sf_free_one(o);
		} else {
			o->in_job = false;
			p = &o->next_orphan;
		}
	}
	if (c->sf.final)
		fg_timer_arm(c, &c->shutdown_timer, fg_now(c)); /* client.c waits for this */
}

static void on_flushed(void *ud, void *data, int r)
{
	struct lwm2m_client *c = ud;

	(void)data;
	c->sf.job = NULL;
	if (r < 0 && (!c->sf.warned || fg_now(c) - c->sf.warned > WRITE_WARN_US)) {
		c->sf.warned = fg_now(c);
		fg_log(c, LWM2M_LOG_ERR, NULL,
		       "cannot write the values held for the server to %s: %s (they are kept in memory)",
		       c->cfg.state_dir, strerror(-r));
	}
	flush_done(c);
	/* What became dirty meanwhile waited for this job. */
	if (!c->sf.final && !fg_timer_armed(&c->sf.flush_timer))
		fg_timer_arm(c, &c->sf.flush_timer, fg_now(c) + FLUSH_US);
}

static void add_work(struct fg_sf_file **tail, struct fg_sf_file *f)
{
	while (*tail)
		tail = &(*tail)->next;
	*tail = f;
}

void fg_sf_on_flush_timer(struct lwm2m_client *c, struct fg_timer *t)
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
	if (c->sf.job)
		return; /* on_flushed() arms the timer again */
	sync = c->sf.final || c->cfg.sf_sync_ms == 1 ||
	       now - c->sf.synced >= (uint64_t)c->cfg.sf_sync_ms * MS;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(c->cfg.state_dir))) {
		free(j);
		fg_timer_arm(c, &c->sf.flush_timer, now + FLUSH_US);
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
	for (struct fg_sf *o = c->sf.orphans; o; o = o->next_orphan) {
		struct fg_sf_file *f = o->dirty || (sync && o->unsynced) ? take_work(o, sync) : NULL;

		o->dirty = false;
		o->in_job = true;
		if (f)
			add_work(&j->files, f);
		unsynced |= o->unsynced;
	}
	if (sync)
		c->sf.synced = now;
	if (!j->files) {
		flush_job_free(j);
		if (unsynced)
			fg_timer_arm(c, &c->sf.flush_timer, c->sf.synced + (uint64_t)c->cfg.sf_sync_ms * MS);
		flush_done(c);
		return;
	}
	r = job_start(c->ev, flush_job_run, j, flush_job_free, on_flushed, c, &c->sf.job);
	if (r < 0) {
		fg_log(c, LWM2M_LOG_ERR, NULL, "cannot start writing the held values: %s", strerror(-r));
		fg_timer_arm(c, &c->sf.flush_timer, now + FLUSH_US);
		return;
	}
	/* Written but not synced: a sync pass follows at the latest then. */
	if (unsynced)
		fg_timer_arm(c, &c->sf.flush_timer, c->sf.synced + (uint64_t)c->cfg.sf_sync_ms * MS);
}

void fg_sf_final_flush(struct lwm2m_client *c)
{
	c->sf.final = true;
	if (!c->sf.job)
		fg_sf_on_flush_timer(c, &c->sf.flush_timer);
}

bool fg_sf_flushing(const struct lwm2m_client *c)
{
	return c->sf.job != NULL;
}

/* Read the target's file (once, when the target is added). */
void fg_sf_load_file(struct lwm2m_endpoint *ep, struct fg_sf *sf)
{
	struct lwm2m_client *c = ep->c;
	size_t max = (c->cfg.sf_max_bytes + FG_SQ_SAMPLE_MAX) * 4 + 1024 * 1024, ignored = 0, n = 0;
	char fname[FG_STATE_FILE_NAME_MAX];
	const char *why = NULL;
	struct stat st;
	uint8_t *data = NULL;
	int dfd, fd = -1, r;

	dfd = open(c->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	if (fg_sf_fname(sf, fname) < 0)
		goto out;
	fd = openat(dfd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			ep_log(ep, LWM2M_LOG_ERR,
			       "cannot read %s/%s: %s (the values in it are not delivered)", c->cfg.state_dir,
			       fname, strerror(errno));
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
		ep_log(ep, LWM2M_LOG_INFO, "%d value%s held from before (%s)%s", r, r == 1 ? "" : "s", fname,
		       ignored ? "; a damaged end of the file was left out" : "");
	else if (ignored)
		ep_log(ep, LWM2M_LOG_WARNING, "%s: %zu bytes at its end are damaged and left out", fname,
		       ignored);
	goto out;
bad:
	/* Kept aside for a look, never read again; the target starts empty. */
	{
		char aside[FG_STATE_FILE_NAME_MAX + 8];

		snprintf(aside, sizeof(aside), "%s.bad", fname);
		ep_log(ep, LWM2M_LOG_ERR,
		       "%s cannot be used (%s): renamed %s, the values in it are not delivered", fname,
		       why ? why : strerror(-r), aside);
		renameat(dfd, fname, dfd, aside);
		sf->on_disk = false;
	}
out:
	free(data);
	if (fd >= 0)
		close(fd);
	close(dfd);
}
