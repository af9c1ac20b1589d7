/* SPDX-License-Identifier: Apache-2.0 */
#include "common/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Shared by the loop and the thread until both let go. */
struct shared {
	atomic_int refs;
	atomic_bool done; /* set (release) once the fields below are written */
	int efd;
	char *host;
	int socktype;
	int gai, sys_errno, family;
	char addr[INET6_ADDRSTRLEN];
};

struct resolve {
	struct shared *sh;
	sd_event_source *io;
	resolve_fn cb;
	void *ud;
};

static void shared_unref(struct shared *sh)
{
	if (!sh || atomic_fetch_sub(&sh->refs, 1) != 1)
		return;
	if (sh->efd >= 0)
		close(sh->efd);
	free(sh->host);
	free(sh);
}

/* The first IPv4 or IPv6 address of a getaddrinfo() answer, as text. */
static int first_address(const struct addrinfo *ai, int *family, char *buf, size_t size)
{
	for (; ai; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET6
					? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
				: ai->ai_family == AF_INET
					? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
					: NULL;
		if (a && inet_ntop(ai->ai_family, a, buf, (socklen_t)size)) {
			*family = ai->ai_family;
			return 0;
		}
	}
	return EAI_NONAME;
}

static void *lookup_thread(void *arg)
{
	struct shared *sh = arg;
	struct addrinfo hints = { .ai_socktype = sh->socktype }, *res = NULL;

	sh->gai = getaddrinfo(sh->host, NULL, &hints, &res);
	sh->sys_errno = errno;
	if (sh->gai == 0) {
		sh->gai = first_address(res, &sh->family, sh->addr, sizeof(sh->addr));
		freeaddrinfo(res);
	}
	atomic_store_explicit(&sh->done, true, memory_order_release);
	(void)eventfd_write(sh->efd, 1);
	shared_unref(sh);
	return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct resolve *r = ud;
	struct shared *sh = r->sh;

	(void)s;
	(void)fd;
	(void)revents;
	if (!atomic_load_explicit(&sh->done, memory_order_acquire))
		return 0; /* woken before the thread published: not yet */
	/* Over: the callback may start another lookup (or free its owner). */
	r->io = sd_event_source_disable_unref(r->io);
	r->sh = NULL;
	resolve_fn cb = r->cb;
	void *cb_ud = r->ud;
	free(r);
	cb(cb_ud, sh->gai, sh->sys_errno, sh->family, sh->addr);
	shared_unref(sh);
	return 0;
}

int resolve_start(sd_event *ev, const char *host, int socktype, resolve_fn cb, void *ud, struct resolve **out)
{
	struct resolve *r = calloc(1, sizeof(*r));
	struct shared *sh = calloc(1, sizeof(*sh));
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int e;

	*out = NULL;
	if (!r || !sh || !(sh->host = strdup(host))) {
		free(r);
		if (sh)
			free(sh->host);
		free(sh);
		return -ENOMEM;
	}
	atomic_init(&sh->refs, 1);
	atomic_init(&sh->done, false);
	sh->socktype = socktype;
	r->sh = sh;
	r->cb = cb;
	r->ud = ud;
	sh->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sh->efd < 0) {
		e = -errno;
		goto fail;
	}
	e = sd_event_add_io(ev, &r->io, sh->efd, EPOLLIN, on_done, r);
	if (e < 0)
		goto fail;
	atomic_fetch_add(&sh->refs, 1); /* the thread's */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_attr_init(&attr);
	if (e == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		e = pthread_create(&tid, &attr, lookup_thread, sh);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		atomic_fetch_sub(&sh->refs, 1);
		e = -e;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	resolve_cancel(r);
	return e;
}

struct resolve *resolve_cancel(struct resolve *r)
{
	if (!r)
		return NULL;
	r->io = sd_event_source_disable_unref(r->io);
	shared_unref(r->sh);
	free(r);
	return NULL;
}

int resolve_numeric(const char *host, int *family, char *buf, size_t size)
{
	static const int families[] = { AF_INET, AF_INET6 };
	unsigned char a[sizeof(struct in6_addr)];

	for (size_t i = 0; i < 2; i++)
		if (inet_pton(families[i], host, a) == 1 && inet_ntop(families[i], a, buf, (socklen_t)size)) {
			*family = families[i];
			return 0;
		}
	return -EINVAL;
}
