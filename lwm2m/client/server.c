/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the client knows of each server's reachability, shared by every
 * endpoint that talks to it.
 *
 * A server is found unreachable when an exchange of one of its endpoints
 * gives up for want of an answer (a Register, Update, Send, confirmable
 * notification or barrier ping that timed out) or an ICMP error comes back
 * (port unreachable: the server process is gone). Every registration with
 * it is then taken as lost at once: its endpoints park (no Register of
 * their own, values held by sf.c), and ONE of them probes: it sends its
 * Register after a jittered backoff (uniform in [d/2, d], d doubling from
 * backoff_min_ms/2 up to probe_max_ms), and gives the probe up after
 * probe_max_ms when no answer came (fg_ep_abandon: nothing of it is sent
 * later). Any answer from the server — also a refusal — ends the outage:
 * the parked endpoints register again, paced by reg_rate like every
 * Register, so a server coming back to thousands of endpoints gets them
 * at that rate and never all at once; with the default 4 s probe the
 * first Register reaches a returning server within about 4 s.
 *
 * A server that forgot a registration (4.04 to an Update: restarted
 * without any endpoint noticing the outage) has likely forgotten the
 * others too: they confirm theirs with an Update (paced), at most once
 * per RESTART_CHECK_US.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

#define MS  1000u
#define SEC 1000000u

/* Another 4.04 within this time sends no more confirmation Updates. */
#define RESTART_CHECK_US (30u * SEC)

struct fg_srv {
	struct fg_srv *next;
	struct lwm2m_client *c;
	coap_address_t addr;
	bool secure;
	unsigned refs;
	bool down;
	unsigned attempts;   /* probes that failed in a row */
	uint64_t down_since; /* µs */
	uint64_t checked;    /* µs: the last restart check, 0: never */
	struct fg_timer probe_timer;
	/* The URI of the first endpoint attached: the endpoints that name
	 * the server alike (all of one configuration) point here instead of
	 * keeping a copy each (one allocation a device in endpoint mode). */
	char uri[];
};

static struct fg_srv *srv_of_timer(struct fg_timer *t)
{
	return (struct fg_srv *)((char *)t - offsetof(struct fg_srv, probe_timer));
}

static bool same_server(const struct fg_srv *s, const coap_address_t *addr, bool secure)
{
	return s->secure == secure && coap_address_equals(&s->addr, addr);
}

const coap_address_t *fg_srv_addr(const struct fg_srv *s)
{
	return &s->addr;
}

static void on_probe_timer(struct lwm2m_client *c, struct fg_timer *t);

int fg_srv_attach(struct lwm2m_endpoint *ep, const coap_address_t *addr, bool secure, const char *uri)
{
	struct lwm2m_client *c = ep->c;
	struct fg_srv *s;
	char *own = NULL;
	bool made = false;

	for (s = c->srvs; s; s = s->next)
		if (same_server(s, addr, secure))
			break;
	if (!s) {
		size_t n = strlen(uri) + 1;

		s = calloc(1, sizeof(*s) + n);
		if (!s)
			return -ENOMEM;
		s->c = c;
		s->addr = *addr;
		s->secure = secure;
		memcpy(s->uri, uri, n);
		fg_timer_init(&s->probe_timer, on_probe_timer);
		made = true;
	}
	if (strcmp(s->uri, uri) != 0 && !(own = strdup(uri))) {
		if (made)
			free(s);
		return -ENOMEM;
	}
	if (made) {
		s->next = c->srvs;
		c->srvs = s;
	}
	if (ep->srv.srv == s) {
		/* The same server: what is known of it (parked, probing)
		 * stays; only the URI's text may differ. */
		if (ep->uri_own)
			free(ep->uri);
	} else {
		s->refs++;
		fg_srv_detach(ep);
		ep->srv.srv = s;
	}
	ep->uri = own ? own : s->uri;
	ep->uri_own = own != NULL;
	return 0;
}

static void srv_free(struct lwm2m_client *c, struct fg_srv *s)
{
	for (struct fg_srv **p = &c->srvs; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	fg_timer_disarm(c, &s->probe_timer);
	free(s);
}

void fg_srv_detach(struct lwm2m_endpoint *ep)
{
	struct fg_srv *s = ep->srv.srv;

	if (ep->uri_own)
		free(ep->uri);
	ep->uri = NULL;
	ep->uri_own = false;
	if (!s)
		return;
	ep->srv.srv = NULL;
	ep->srv.parked = ep->srv.probing = false;
	if (--s->refs == 0)
		srv_free(ep->c, s);
}

void fg_srv_free_all(struct lwm2m_client *c)
{
	while (c->srvs)
		srv_free(c, c->srvs);
}

bool fg_srv_unreachable(int err)
{
	return err == -ETIMEDOUT || err == -EHOSTUNREACH;
}

static uint64_t probe_delay(struct fg_srv *s)
{
	const struct lwm2m_client_config *cfg = &s->c->cfg;
	uint64_t max = (uint64_t)cfg->probe_max_ms * MS, min = (uint64_t)cfg->backoff_min_ms * MS / 2;

	/* Jittered: gateways that lost the server together do not probe it
	 * together. */
	return fg_client_backoff(s->c, min < max ? min : max, max, &s->attempts);
}

static void name_server(const struct fg_srv *s, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const coap_address_t *a = &s->addr;
	unsigned port = 0;

	if (a->addr.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->addr.sin.sin_addr, host, sizeof(host));
		port = ntohs(a->addr.sin.sin_port);
		snprintf(buf, size, "%s://%s:%u", s->secure ? "coaps" : "coap", host, port);
	} else {
		inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, host, sizeof(host));
		port = ntohs(a->addr.sin6.sin6_port);
		snprintf(buf, size, "%s://[%s]:%u", s->secure ? "coaps" : "coap", host, port);
	}
}

static bool parkable(const struct lwm2m_endpoint *ep)
{
	/* Bootstrapping talks to another server; one going away finishes
	 * without us; one waiting for its slot already is as good as parked
	 * (it parks when its timer fires, see fg_ep_unpark). */
	return !ep->removing && ep->reg.st != ST_BOOTSTRAP && ep->reg.st != ST_DEREGISTERING &&
	       ep->reg.st != ST_DEAD;
}

bool fg_srv_lost(struct lwm2m_endpoint *ep, int err, const char *why)
{
	struct fg_srv *s = ep->srv.srv;
	struct lwm2m_client *c = ep->c;
	size_t parked = 0;
	char name[80];

	if (!s || !parkable(ep))
		return false;
	if (!s->down) {
		s->down = true;
		s->down_since = fg_now(c);
		c->stats.servers_lost++;
		name_server(s, name, sizeof(name));
		for (struct lwm2m_endpoint *e = c->eps; e; e = e->next)
			if (e->srv.srv == s && parkable(e) && !e->srv.parked) {
				fg_ep_park(e, err);
				parked++;
			}
		fg_log(c, LWM2M_LOG_WARNING, ep->name,
		       "server %s unreachable (%s): %zu registration%s taken as lost, values held; probing "
		       "it",
		       name, why, parked, parked == 1 ? "" : "s");
	} else if (!ep->srv.parked) {
		if (ep->srv.probing)
			ep_log(ep, LWM2M_LOG_INFO, "server still unreachable (%s)", why);
		fg_ep_park(ep, err);
	}
	if (!fg_timer_armed(&s->probe_timer))
		fg_timer_arm(c, &s->probe_timer, fg_now(c) + probe_delay(s));
	return true;
}

bool fg_srv_parks(struct lwm2m_endpoint *ep)
{
	struct fg_srv *s = ep->srv.srv;

	if (!s || !s->down || ep->srv.probing || ep->srv.parked || !parkable(ep))
		return false;
	fg_ep_park(ep, -EHOSTUNREACH);
	if (!fg_timer_armed(&s->probe_timer))
		fg_timer_arm(ep->c, &s->probe_timer, fg_now(ep->c) + probe_delay(s));
	return true;
}

static void on_probe_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct fg_srv *s = srv_of_timer(t);

	if (!s->down)
		return;
	for (struct lwm2m_endpoint *ep = c->eps; ep; ep = ep->next)
		if (ep->srv.srv == s && ep->srv.parked) {
			c->stats.probes++;
			fg_ep_unpark(ep, true);
			return;
		}
	/* Nobody left to probe with: the next endpoint to try finds out. */
	s->down = false;
}

void fg_srv_alive(struct lwm2m_endpoint *ep)
{
	struct fg_srv *s = ep->srv.srv;
	struct lwm2m_client *c = ep->c;
	size_t n = 0;
	char name[80];

	ep->srv.probing = false;
	if (!s || !s->down)
		return;
	s->down = false;
	s->attempts = 0;
	fg_timer_disarm(c, &s->probe_timer);
	for (struct lwm2m_endpoint *e = c->eps; e; e = e->next)
		if (e->srv.srv == s && e->srv.parked) {
			fg_ep_unpark(e, false);
			n++;
		}
	name_server(s, name, sizeof(name));
	fg_log(c, LWM2M_LOG_NOTICE, ep->name,
	       "server %s answers again after %.1f s: %zu endpoint%s register%s again (%g per second)", name,
	       (double)(fg_now(c) - s->down_since) / SEC, n, n == 1 ? "" : "s", n == 1 ? "s" : "",
	       c->cfg.reg_rate);
}

void fg_srv_restarted(struct lwm2m_endpoint *ep)
{
	struct fg_srv *s = ep->srv.srv;
	struct lwm2m_client *c = ep->c;
	uint64_t now = fg_now(c);
	size_t n = 0;

	if (!s || (s->checked && now - s->checked < RESTART_CHECK_US))
		return;
	s->checked = now;
	c->stats.servers_lost++;
	for (struct lwm2m_endpoint *e = c->eps; e; e = e->next)
		if (e != ep && e->srv.srv == s && e->reg.st == ST_REGISTERED && !e->removing) {
			fg_ep_want_update(e);
			n++;
		}
	if (n)
		ep_log(ep, LWM2M_LOG_NOTICE,
		       "the server forgot this registration: %zu other endpoint%s confirm%s theirs with an "
		       "Update",
		       n, n == 1 ? "" : "s", n == 1 ? "s" : "");
}

uint64_t fg_srv_probe_deadline(const struct lwm2m_endpoint *ep, uint64_t deadline)
{
	uint64_t p;

	if (!ep->srv.probing)
		return deadline;
	p = fg_now(ep->c) + (uint64_t)ep->c->cfg.probe_max_ms * MS;
	return p < deadline ? p : deadline;
}

void fg_srv_icmp_log_line(struct lwm2m_client *c, const char *msg)
{
	/* "** 127.0.0.1:40000 <-> 127.0.0.1:5683 UDP : coap_network_read:
	 * ICMP: Connection refused": the local port tells the endpoint. */
	const char *arrow = strstr(msg, " <-> ");
	unsigned long port;

	if (!arrow || fg_log_line_port(msg, arrow, &port) < 0)
		return;
	for (struct lwm2m_endpoint *ep = c->eps; ep; ep = ep->next) {
		if (ep->session && !ep->srv.parked && lwm2m_endpoint_local_port(ep) == port) {
			/* Only registered endpoints: an exchange in flight
			 * gets the same news from libcoap's nack handler. */
			if (ep->reg.st == ST_REGISTERED && ep->reg.req == REQ_NONE)
				fg_srv_lost(ep, -EHOSTUNREACH, "ICMP: nobody listens at its address");
			return;
		}
	}
}
