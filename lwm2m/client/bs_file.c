/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file that keeps an endpoint's bootstrap result (the codec is
 * lwm2m/bs_state.c): its name, loading it, saving it atomically on a job's
 * thread so that the loop never blocks on open, fsync or rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bs_internal.h"
#include "statefile.h"

int fg_bs_state_file_name(const char *name, char out[FG_BS_FILE_NAME_MAX])
{
	return fg_state_file_name("bs-", name, ".state", out);
}

/* The I/O half of fg_bs_state_save(): data becomes dir's file for name,
 * atomically. Blocks: called from the writer job, or by fg_bs_state_save(). */
static int state_write(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char fname[FG_BS_FILE_NAME_MAX];
	int r = fg_bs_state_file_name(name, fname);

	return r < 0 ? r : fg_state_replace(dir, fname, data, len);
}

int fg_bs_state_save(const char *dir, const char *name, const struct lwm2m_records *recs)
{
	struct lwm2m_buf b = { 0 };
	int r;

	r = lwm2m_bs_state_encode(name, recs, &b);
	if (r >= 0)
		r = state_write(dir, name, b.data, b.len);
	if (b.data)
		explicit_bzero(b.data, b.cap);
	lwm2m_buf_free(&b);
	return r;
}

int fg_bs_state_load(const char *dir, const char *name, const struct lwm2m_registry *reg,
		     struct lwm2m_records *out, const char **why)
{
	char fname[FG_BS_FILE_NAME_MAX];
	struct stat st;
	uint8_t *data = NULL;
	size_t n = 0;
	int dfd = -1, fd = -1, r;

	if (why)
		*why = NULL;
	r = fg_bs_state_file_name(name, fname);
	if (r < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		if (why)
			*why = "not a regular file";
		r = -EBADMSG;
		goto out;
	}
	if (st.st_size > (off_t)(LWM2M_BS_STATE_MAX + LWM2M_BS_STATE_HDR_LEN + UINT16_MAX)) {
		if (why)
			*why = "too large";
		r = -EBADMSG;
		goto out;
	}
	/* Keys inside: owner only, even when someone loosened it. */
	if ((st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0) {
		r = -errno;
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	while (n <= (size_t)st.st_size) {
		ssize_t got = read(fd, data + n, (size_t)st.st_size + 1 - n);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	r = lwm2m_bs_state_decode(data, n, name, reg, out, why);
out:
	if (data) {
		explicit_bzero(data, n);
		free(data);
	}
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

/* One save of the state file, on a job's thread (open, fsync and rename
 * block, and the loop must not). It owns copies of everything it needs, so
 * an endpoint freed meanwhile is never touched. */
struct bs_write {
	char *dir, *name;
	struct lwm2m_buf data; /* the file's bytes (keys: zeroed when freed) */
};

static void bs_write_free(void *p)
{
	struct bs_write *w = p;

	free(w->dir);
	free(w->name);
	if (w->data.data)
		explicit_bzero(w->data.data, w->data.cap);
	lwm2m_buf_free(&w->data);
	free(w);
}

static int bs_write_run(void *p)
{
	struct bs_write *w = p;

	return state_write(w->dir, w->name, w->data.data, w->data.len);
}

static void bs_save_failed(struct lwm2m_endpoint *ep, int r)
{
	ep_log(ep, LWM2M_LOG_ERR,
	       "cannot store the bootstrap result in %s: %s (the next start bootstraps again)",
	       ep->c->cfg.state_dir, strerror(-r));
}

void fg_bs_write_cancel(struct fg_bs *bs)
{
	/* A running thread finishes on its own and frees the job. */
	bs->writing = job_cancel(bs->writing);
}

void fg_bs_drop_pending(struct fg_bs *bs)
{
	if (bs->pending.data)
		explicit_bzero(bs->pending.data, bs->pending.cap);
	lwm2m_buf_free(&bs->pending);
	bs->have_pending = false;
}

static int bs_write_start(struct lwm2m_endpoint *ep, struct lwm2m_buf *data);

static void on_bs_written(void *ud, void *data, int r)
{
	struct lwm2m_endpoint *ep = ud;
	struct fg_bs *bs = ep->bs;

	(void)data;
	bs->writing = NULL;
	if (r < 0)
		bs_save_failed(ep, r);
	if (bs->have_pending) {
		struct lwm2m_buf next = bs->pending;

		bs->pending = (struct lwm2m_buf){ 0 };
		bs->have_pending = false;
		r = bs_write_start(ep, &next);
		if (r < 0)
			bs_save_failed(ep, r);
	}
}

/* Starts writing data (taken over, whatever the outcome) on a thread.
 * Returns 0, or a negative errno when no thread could be started. */
static int bs_write_start(struct lwm2m_endpoint *ep, struct lwm2m_buf *data)
{
	struct bs_write *w = calloc(1, sizeof(*w));

	if (!w) {
		if (data->data)
			explicit_bzero(data->data, data->cap);
		lwm2m_buf_free(data);
		return -ENOMEM;
	}
	w->data = *data;
	*data = (struct lwm2m_buf){ 0 };
	w->dir = strdup(ep->c->cfg.state_dir);
	w->name = strdup(ep->name);
	if (!w->dir || !w->name) {
		bs_write_free(w);
		return -ENOMEM;
	}
	return job_start(ep->c->ev, bs_write_run, w, bs_write_free, on_bs_written, ep, &ep->bs->writing);
}

/* Saves bs->committed: encoded here (CPU only), written on a thread. A
 * failure is logged, here or when the write completes. */
void fg_bs_save(struct lwm2m_endpoint *ep)
{
	struct fg_bs *bs = ep->bs;
	struct lwm2m_buf b = { 0 };
	int r;

	r = lwm2m_bs_state_encode(ep->name, &bs->committed, &b);
	if (r < 0) {
		if (b.data)
			explicit_bzero(b.data, b.cap);
		lwm2m_buf_free(&b);
		bs_save_failed(ep, r);
		return;
	}
	if (bs->writing) {
		/* Only the newest result matters: it replaces any pending. */
		fg_bs_drop_pending(bs);
		bs->pending = b;
		bs->have_pending = true;
		return;
	}
	r = bs_write_start(ep, &b);
	if (r < 0)
		bs_save_failed(ep, r);
}
