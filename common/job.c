/* SPDX-License-Identifier: Apache-2.0 */
#include "common/job.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Shared by the loop and the thread until both let go. */
struct shared {
	atomic_int refs;
	atomic_bool done; /* set (release) once result (and data) are written */
	int efd;
	job_fn run;
	void *data;
	void (*free_data)(void *data);
	int result;
};

struct job {
	struct shared *sh;
	sd_event_source *io;
	job_done_fn done;
	void *ud;
};

static void shared_unref(struct shared *sh)
{
	if (!sh || atomic_fetch_sub(&sh->refs, 1) != 1)
		return;
	if (sh->efd >= 0)
		close(sh->efd);
	if (sh->free_data)
		sh->free_data(sh->data);
	free(sh);
}

static void *job_thread(void *arg)
{
	struct shared *sh = arg;

	sh->result = sh->run(sh->data);
	atomic_store_explicit(&sh->done, true, memory_order_release);
	(void)eventfd_write(sh->efd, 1);
	shared_unref(sh);
	return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct job *j = ud;
	struct shared *sh = j->sh;
	job_done_fn done = j->done;
	void *done_ud = j->ud;

	(void)s;
	(void)fd;
	(void)revents;
	if (!atomic_load_explicit(&sh->done, memory_order_acquire))
		return 0; /* woken before the thread published: not yet */
	/* Over: the callback may start another job (or free its owner). */
	j->io = sd_event_source_disable_unref(j->io);
	free(j);
	done(done_ud, sh->data, sh->result);
	shared_unref(sh);
	return 0;
}

int job_start(sd_event *ev, job_fn run, void *data, void (*free_data)(void *data), job_done_fn done, void *ud,
	      struct job **out)
{
	struct job *j = calloc(1, sizeof(*j));
	struct shared *sh = calloc(1, sizeof(*sh));
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int e;

	*out = NULL;
	if (!j || !sh) {
		free(j);
		free(sh);
		if (free_data)
			free_data(data);
		return -ENOMEM;
	}
	atomic_init(&sh->refs, 1);
	atomic_init(&sh->done, false);
	sh->run = run;
	sh->data = data;
	sh->free_data = free_data;
	j->sh = sh;
	j->done = done;
	j->ud = ud;
	sh->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sh->efd < 0) {
		e = -errno;
		goto fail;
	}
	e = sd_event_add_io(ev, &j->io, sh->efd, EPOLLIN, on_done, j);
	if (e < 0)
		goto fail;
	atomic_fetch_add(&sh->refs, 1); /* the thread's */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_attr_init(&attr);
	if (e == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		e = pthread_create(&tid, &attr, job_thread, sh);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		atomic_fetch_sub(&sh->refs, 1);
		e = -e;
		goto fail;
	}
	*out = j;
	return 0;
fail:
	job_cancel(j);
	return e;
}

struct job *job_cancel(struct job *j)
{
	if (!j)
		return NULL;
	j->io = sd_event_source_disable_unref(j->io);
	shared_unref(j->sh);
	free(j);
	return NULL;
}
