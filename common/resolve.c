/* SPDX-License-Identifier: Apache-2.0 */
#include "common/resolve.h"

#include "common/job.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The lookup's data: owned by its job. */
struct lookup {
	char *host;
	int socktype;
	int gai, sys_errno;
	struct resolve_addr addrs[RESOLVE_MAX_ADDRS];
	size_t n;
};

struct resolve {
	struct job *job;
	resolve_fn cb;
	void *ud;
};

static void lookup_free(void *p)
{
	struct lookup *l = p;

	free(l->host);
	free(l);
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

static int lookup_run(void *p)
{
	struct lookup *l = p;
	struct addrinfo hints = { .ai_socktype = l->socktype }, *res = NULL;

	l->gai = getaddrinfo(l->host, NULL, &hints, &res);
	l->sys_errno = errno;
	if (l->gai == 0) {
		l->n = collect(res, l->addrs, RESOLVE_MAX_ADDRS);
		if (l->n == 0)
			l->gai = EAI_NONAME;
		freeaddrinfo(res);
	}
	return 0;
}

static void on_done(void *ud, void *data, int result)
{
	struct resolve *r = ud;
	struct lookup *l = data;
	resolve_fn cb = r->cb;
	void *cb_ud = r->ud;

	(void)result;
	/* Over: the callback may start another lookup (or free its owner). */
	free(r);
	cb(cb_ud, l->gai, l->sys_errno, l->gai ? NULL : l->addrs, l->gai ? 0 : l->n);
}

int resolve_start(sd_event *ev, const char *host, int socktype, resolve_fn cb, void *ud, struct resolve **out)
{
	struct resolve *r = calloc(1, sizeof(*r));
	struct lookup *l = calloc(1, sizeof(*l));
	int e;

	*out = NULL;
	if (!r || !l || !(l->host = strdup(host))) {
		free(r);
		if (l)
			lookup_free(l);
		return -ENOMEM;
	}
	l->socktype = socktype;
	r->cb = cb;
	r->ud = ud;
	e = job_start(ev, lookup_run, l, lookup_free, on_done, r, &r->job);
	if (e < 0) {
		free(r);
		return e;
	}
	*out = r;
	return 0;
}

struct resolve *resolve_cancel(struct resolve *r)
{
	if (!r)
		return NULL;
	job_cancel(r->job);
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
