/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: reachability of servers (server.c) as the rest
 * of the client sees it: its part of each endpoint and its calls.
 */
#pragma once

#include <coap3/coap.h>
#include <stdbool.h>
#include <stdint.h>

struct lwm2m_client;
struct lwm2m_device;
struct lwm2m_endpoint;
struct fg_srv;

/* Of an endpoint. */
struct fg_ep_srv {
	struct fg_srv *srv; /* whether the server is reachable */
	bool parked;        /* its server is unreachable: waiting for the probe */
	bool probing;       /* its Register (or Update) probes the server */
};

/* Endpoints talking to the same server address (and scheme) share what
 * is known of its reachability, its address and (when they spell it
 * alike) its URI. attach: ep's server is now the one at addr (coaps when
 * secure); ep->uri is uri, the server's copy when the same text, else
 * ep's own; nothing changes on error (-ENOMEM). detach: ep->uri is NULL
 * after it. */
int fg_srv_attach(struct lwm2m_endpoint *ep, const coap_address_t *addr, bool secure, const char *uri);
void fg_srv_detach(struct lwm2m_endpoint *ep);
const coap_address_t *fg_srv_addr(const struct fg_srv *s);
void fg_srv_free_all(struct lwm2m_client *c);
/* Does err (of a failed exchange) say the server could not be reached? */
bool fg_srv_unreachable(int err);
/* ep found its server unreachable (a CON exchange timed out, an ICMP
 * error): every registration with it is taken as lost; its endpoints park
 * and hold their values, and one of them probes the server with a Register
 * after a jittered backoff. Returns true when ep was parked (false: no
 * server, or ep is not one to park: de-registering, bootstrapping). Safe in
 * libcoap handlers (state and timers only). */
bool fg_srv_lost(struct lwm2m_endpoint *ep, int err, const char *why);
/* ep is to send a Register while its server is known to be away: it parks
 * instead (true), unless it is the probe. */
bool fg_srv_parks(struct lwm2m_endpoint *ep);
/* The server answered ep: when it was unreachable, its parked endpoints
 * register again (paced). */
void fg_srv_alive(struct lwm2m_endpoint *ep);
/* The server forgot ep's registration (4.04 to an Update): the others of
 * that server confirm theirs with an Update (paced), at most once in a
 * while. */
void fg_srv_restarted(struct lwm2m_endpoint *ep);
/* ep's deadline for its exchange when it is the probe (shorter). */
uint64_t fg_srv_probe_deadline(const struct lwm2m_endpoint *ep, uint64_t deadline);
/* A libcoap log line "... coap_network_read: ICMP: ...": the endpoint of
 * the session it names lost its server (NON traffic gets no other sign). */
void fg_srv_icmp_log_line(struct lwm2m_client *c, const char *msg);
