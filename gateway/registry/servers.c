/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which LwM2M servers the endpoints use, and their hosts. The client wants
 * a numeric host. An address is used as it is; a name is looked up off the
 * loop (common/resolve.h): the status socket, signals and every other
 * endpoint keep running meanwhile, and the endpoints that wait for it
 * start when it is known (self.c).
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/resolve.h"

#define RESOLVE_BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define RESOLVE_BACKOFF_MAX_USEC (300 * USEC_PER_SEC)

const struct gw_server *servers_main(const struct gw_config *c)
{
	for (size_t i = 0; i < c->lwm2m.servers.n; i++)
		if (!gw_config_server(c, i)->bootstrap)
			return gw_config_server(c, i);
	return NULL;
}

const struct gw_server *servers_bootstrap(const struct gw_config *c)
{
	for (size_t i = 0; i < c->lwm2m.servers.n; i++)
		if (gw_config_server(c, i)->bootstrap)
			return gw_config_server(c, i);
	return NULL;
}

static void format_uri(struct hostres *h, int family, const char *addr)
{
	snprintf(h->uri, sizeof(h->uri), family == AF_INET6 ? "%s://[%s]:%u" : "%s://%s:%u", h->scheme, addr,
		 h->port);
}

static void host_cancel(struct hostres *h)
{
	h->rs = resolve_cancel(h->rs);
	h->retry = sd_event_source_disable_unref(h->retry);
}

static int host_lookup(struct hostres *h);

static int on_retry(sd_event_source *s, uint64_t usec, void *ud)
{
	struct hostres *h = ud;

	(void)s;
	(void)usec;
	h->retry = sd_event_source_disable_unref(h->retry);
	(void)host_lookup(h);
	return 0;
}

static void host_failed(struct hostres *h, int gai, int sys_errno)
{
	char delay[32];
	const char *why = gai == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(gai);

	h->backoff = h->backoff ? h->backoff * 2 : RESOLVE_BACKOFF_MIN_USEC;
	if (h->backoff > RESOLVE_BACKOFF_MAX_USEC)
		h->backoff = RESOLVE_BACKOFF_MAX_USEC;
	snprintf(delay, sizeof(delay), "%llu s", (unsigned long long)(h->backoff / USEC_PER_SEC));
	/* Once per failure streak (and when the reason changes): a host
	 * that stays unknown must not flood the journal every retry. */
	if (h->gai != gai)
		log_error("Cannot resolve LwM2M server host '%s': %s; retrying with backoff (next in %s)",
			  h->host, why, delay);
	else
		log_debug("LwM2M server host '%s' still not resolved: %s; next try in %s", h->host, why,
			  delay);
	h->gai = gai;
	if (sd_event_add_time_relative(h->r->event, &h->retry, CLOCK_MONOTONIC, h->backoff, USEC_PER_SEC / 10,
				       on_retry, h) < 0)
		log_error("Cannot schedule the next lookup of '%s'", h->host);
	reg_changed(h->r);
}

static void on_resolved(void *ud, int gai, int sys_errno, const struct resolve_addr *addrs, size_t n)
{
	struct hostres *h = ud;
	const char *addr;

	h->rs = NULL;
	if (gai != 0 || n == 0) {
		host_failed(h, gai ? gai : EAI_NONAME, sys_errno);
		return;
	}
	/* CoAP over UDP learns nothing from a connect: the first address. */
	addr = addrs[0].text;
	format_uri(h, addrs[0].family, addr);
	h->ready = true;
	if (h->gai != 0)
		log_info("LwM2M server host '%s' resolved to %s", h->host, addr);
	else
		log_debug("LwM2M server host '%s' resolved to %s", h->host, addr);
	h->gai = 0;
	h->backoff = 0;
	self_resume(h->r);
}

/* Starts a lookup of h->host; a failure to start one is retried like a
 * failed lookup. */
static int host_lookup(struct hostres *h)
{
	int e;

	host_cancel(h);
	e = resolve_start(h->r->event, h->host, SOCK_DGRAM, on_resolved, h, &h->rs);
	if (e < 0) {
		host_failed(h, e == -ENOMEM ? EAI_MEMORY : EAI_SYSTEM, -e);
		return e;
	}
	log_debug("Resolving LwM2M server host '%s'", h->host);
	return 0;
}

static void host_clear(struct hostres *h)
{
	host_cancel(h);
	free(h->host);
	*h = (struct hostres){ 0 };
}

void servers_clear(struct gw_registry *r)
{
	for (size_t i = 0; i < 2; i++)
		host_clear(&r->hosts[i]);
}

/* (Re)starts resolving the current configuration's server hosts. */
void servers_setup(struct gw_registry *r)
{
	const struct gw_config *c = reg_config(r);
	const struct gw_server *sv[2] = { servers_main(c), servers_bootstrap(c) };

	for (size_t i = 0; i < 2; i++) {
		struct hostres *h = &r->hosts[i];
		char addr[INET6_ADDRSTRLEN];
		int family = AF_INET;

		host_clear(h);
		h->r = r;
		if (!sv[i])
			continue;
		h->scheme = sv[i]->uri.scheme == GW_SCHEME_COAPS ? "coaps" : "coap";
		h->port = sv[i]->uri.port;
		h->host = strdup(sv[i]->uri.host);
		if (!h->host) {
			log_oom();
			continue;
		}
		/* An address: no lookup. */
		if (resolve_numeric(h->host, &family, addr, sizeof(addr)) == 0) {
			format_uri(h, family, addr);
			h->ready = true;
			continue;
		}
		(void)host_lookup(h);
	}
}

/* A reload with the same servers: a lookup that is pending or failing
 * starts over now (the administrator's "try again"); answers kept. */
void servers_retry(struct gw_registry *r)
{
	for (size_t i = 0; i < 2; i++) {
		struct hostres *h = &r->hosts[i];
		if (h->host && !h->ready) {
			h->backoff = 0;
			(void)host_lookup(h);
		}
	}
}

bool servers_ready(const struct gw_registry *r)
{
	for (size_t i = 0; i < 2; i++)
		if (r->hosts[i].host && !r->hosts[i].ready)
			return false;
	return true;
}
