/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/resolve.h — host name lookups that never block the sd-event loop.
 *
 * getaddrinfo() blocks (a DNS timeout is seconds) and libsystemd 252 does not
 * export sd-resolve, so each lookup is a job of common/job.h: it runs on a
 * detached thread and its answer comes back on the loop. A cancelled
 * lookup's thread finishes on its own.
 *
 * Users: the LwM2M server hosts (gateway/registry/servers.c), MQTT broker names
 * (bridges/mqtt). Threads: resolve_start/cancel and the callback belong to
 * the loop's thread.
 */
#pragma once

#include <stddef.h>

#include <systemd/sd-event.h>

struct resolve;

/* One address of the answer, as text. */
struct resolve_addr {
	int family;    /* AF_INET or AF_INET6 */
	char text[46]; /* INET6_ADDRSTRLEN */
};

/* At most this many addresses are kept, in getaddrinfo()'s order (RFC 6724:
 * a name with AAAA and A records often gives ::1 / the IPv6 one first; a
 * client tries the next when one fails). */
#define RESOLVE_MAX_ADDRS 8

/* The answer: gai 0 and n >= 1 addresses; or getaddrinfo()'s error
 * (EAI_SYSTEM: sys_errno says why) and n 0. addrs is valid during the call.
 * The lookup is over and its handle freed when this is called: forget it. */
typedef void (*resolve_fn)(void *ud, int gai, int sys_errno, const struct resolve_addr *addrs, size_t n);

/* Look host up for sockets of socktype (SOCK_DGRAM, SOCK_STREAM). Returns 0
 * and *out, or a negative errno: then nothing runs and cb is never called. */
int resolve_start(sd_event *ev, const char *host, int socktype, resolve_fn cb, void *ud,
		  struct resolve **out);

/* cb will not be called. Accepts NULL; returns NULL. */
struct resolve *resolve_cancel(struct resolve *r);

/* Is host an IPv4 or IPv6 address (no brackets)? 0 and its family and
 * normalised text in buf (INET6_ADDRSTRLEN bytes), else -EINVAL. Never
 * blocks: no lookup needed. */
int resolve_numeric(const char *host, int *family, char *buf, size_t size);
