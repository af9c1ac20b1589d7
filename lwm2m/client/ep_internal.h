/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the endpoint module of lwm2m/client/: endpoint.c (add,
 * remove, /1, the public calls), session.c (the CoAP session and sending
 * on it), register.c (the registration state machine, libcoap's response,
 * NACK and event handlers) and links.c (the object list). What the module
 * offers to the other modules is in client_internal.h and bootstrap.h.
 */
#pragma once

#include "client_internal.h"

#define MS  1000u    /* microseconds */
#define SEC 1000000u /* microseconds */

/* ---- endpoint.c ---------------------------------------------------------------- */

struct lwm2m_endpoint *fg_ep_of_timer(struct fg_timer *t);
/* "U" or "UQ": the binding offered in Register/Update and in /1/0/7. */
const char *fg_ep_binding_str(const struct lwm2m_endpoint *ep);

/* ---- session.c ----------------------------------------------------------------- */

/* Open the endpoint's session with its server (PSK, certificate or none). */
int fg_ep_open_session(struct lwm2m_endpoint *ep);
void fg_ep_close_session(struct lwm2m_endpoint *ep);
/* ep->drop_timer: drop what libcoap holds of an exchange given up. */
void fg_ep_on_drop_timer(struct lwm2m_client *c, struct fg_timer *t);
/* What a failed handshake most likely means, for the log line. */
const char *fg_ep_dtls_hint(const struct lwm2m_endpoint *ep);
/* loc ("/rd/abc" or "rd/abc") as Uri-Path options. */
int fg_ep_add_location(coap_optlist_t **opts, const char *loc);
/* The registration's Location-Path segments as Uri-Path options, exactly
 * as the server sent them (a segment may contain '/': lwm2m-node-lib sends
 * "rd/1" as one segment). */
int fg_ep_add_location_segs(coap_optlist_t **opts, const struct lwm2m_endpoint *ep);
void fg_ep_forget_location(struct lwm2m_endpoint *ep);
int fg_ep_add_query(coap_optlist_t **opts, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Build and send one request on the endpoint's session with a new token
 * (stored in tok). body (may be NULL) is handed to libcoap, with Content-
 * Format ct. */
int fg_ep_send_request(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts,
		       struct lwm2m_buf *body, uint16_t ct, uint8_t tok[8], uint8_t *toklen);
/* One registration-interface request (link-format body), as exchange kind. */
int fg_ep_send_req(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts,
		   struct lwm2m_buf *body, enum req_kind kind);

/* ---- register.c ------------------------------------------------------------------ */

/* The Update's least margin before the lifetime ends, and the longest
 * tick that Updates due together are sent in (fg_ep_update_at). */
#define UPDATE_MARGIN_MIN_US (10u * SEC)
#define UPDATE_TICK_US       (250u * MS)
/* When a registration made or renewed at now is next renewed: before the
 * lifetime ends by a tenth of it, at least 10 s, at most half of it;
 * rounded up to a tick shared by every endpoint. */
uint64_t fg_ep_update_at(uint64_t now, uint32_t lifetime);

/* ep->timer fired: every message of the registration interface leaves from
 * here, never from a libcoap handler. */
void fg_ep_on_timer(struct lwm2m_client *c, struct fg_timer *t);
/* The endpoint must go: free it from the loop, not from this call stack
 * (which may be inside a libcoap handler). */
void fg_ep_kill(struct lwm2m_endpoint *ep);
/* Queue a Register: at the next pacing slot, or after delay_us. */
void fg_ep_schedule_register(struct lwm2m_endpoint *ep, uint64_t delay_us);
