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
	int gai, sys_errno;
	struct resolve_addr addrs[RESOLVE_MAX_ADDRS];
	size_t n;
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

/* The IPv4 and IPv6 addresses of a getaddrinfo() answer, as text, in its
 * order, without repeats (one per socket type would repeat them). */
static size_t collect(const struct addrinfo *ai, struct resolve_addr *out, size_t max)
{
	size_t n = 0;

	for (; ai && n < max; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET6
					? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
				: ai->ai_family == AF_INET
					? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
					: NULL;
		bool seen = false;
		if (!a || !inet_ntop(ai->ai_family, a, out[n].text, sizeof(out[n].text)))
			continue;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(out[i].text, out[n].text) == 0;
		if (!seen)
			out[n++].family = ai->ai_family;
	}
	return n;
}

static void *lookup_thread(void *arg)
{
	struct shared *sh = arg;
	struct addrinfo hints = { .ai_socktype = sh->socktype }, *res = NULL;

	sh->gai = getaddrinfo(sh->host, NULL, &hints, &res);
	sh->sys_errno = errno;
	if (sh->gai == 0) {
		sh->n = collect(res, sh->addrs, RESOLVE_MAX_ADDRS);
		if (sh->n == 0)
			sh->gai = EAI_NONAME;
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
	cb(cb_ud, sh->gai, sh->sys_errno, sh->gai ? NULL : sh->addrs, sh->gai ? 0 : sh->n);
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
