/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: client-initiated Bootstrap (bootstrap.c) and the
 * file that keeps its result. Included by client_internal.h.
 *
 * The hooks below, and fg_bs_serve() (request.h), are the only places where
 * the registration state machine (endpoint.c) and the request dispatcher
 * (dispatch.c) hand over to the bootstrap module (bootstrap.c, bs_serve.c,
 * bs_internal.h).
 */
#pragma once

#include <coap3/coap.h>
#include <stdbool.h>
#include <stdint.h>

#include "lwm2m/bs_state.h"
#include "lwm2m/client.h"

struct lwm2m_endpoint;
struct fg_bs;

/* ---- hooks (bootstrap.c) ---------------------------------------------------- */

/* lwm2m_endpoint_add() with cfg->bootstrap_uri set: allocate ep->bs, check
 * the Bootstrap-Server URI and keys, and load the persisted result. With a
 * valid one, ep's server, keys, Short Server ID, lifetime and binding are
 * the bootstrapped ones; otherwise ep points at the Bootstrap-Server.
 * -EINVAL (bad URI, coaps:// without PSK), -EPROTONOSUPPORT (no DTLS),
 * -ENOMEM. On error ep->bs may be set: fg_bs_free() releases it. */
int fg_bs_init(struct lwm2m_endpoint *ep, const struct lwm2m_endpoint_config *cfg);
/* End of lwm2m_endpoint_add(): enter ST_BOOTSTRAP unless a persisted result
 * lets the endpoint register at once (then nothing changes). */
void fg_bs_start(struct lwm2m_endpoint *ep);
void fg_bs_free(struct lwm2m_endpoint *ep);
/* ep->timer fired in ST_BOOTSTRAP. */
void fg_bs_on_timer(struct lwm2m_endpoint *ep);
/* The answer to our Bootstrap-Request (ep->req was REQ_BOOTSTRAP). */
void fg_bs_response(struct lwm2m_endpoint *ep, uint8_t code);
/* Called by ep_failed() of an endpoint with ep->bs: true when bootstrap.c
 * took over (a failed Bootstrap-Request, or the registration failures that
 * make the endpoint bootstrap again), false for the usual retry. */
bool fg_bs_failed(struct lwm2m_endpoint *ep, int kind, int err, const char *why);
/* The server executed /1/0/9 (Bootstrap-Request Trigger): bootstrap again
 * from the timer (the 2.04 leaves first on the current session). */
void fg_bs_trigger(struct lwm2m_endpoint *ep);
/* ---- what endpoint.c offers to bootstrap.c ------------------------------- */

/* Arm ep->timer (an error is logged: the endpoint would stall silently). */
void fg_ep_arm(struct lwm2m_endpoint *ep, uint64_t when);
/* The one pacing rule of Register, Update and Bootstrap-Request
 * (register_rate): take a slot unless ep->timer already fired on one;
 * false when the message must wait (ep->timer is re-armed at the slot). */
bool fg_ep_paced(struct lwm2m_endpoint *ep);
/* A DTLS session whose handshake has not completed yet. */
bool fg_ep_handshaking(const struct lwm2m_endpoint *ep);

/* Parse "coap[s]://numeric-host[:port]" into ep->server and ep->secure. */
int fg_ep_parse_server_uri(struct lwm2m_endpoint *ep, const char *uri);
/* (Re)write /1/0 of the endpoint's store from ep->ssid, lifetime, binding. */
int fg_ep_server_object_init(struct lwm2m_endpoint *ep);
/* The exchange in flight is given up: whatever libcoap still holds of it
 * is dropped from the loop (and a session marked dead is closed) before
 * anything else is sent. Safe inside libcoap handlers. */
void fg_ep_abandon(struct lwm2m_endpoint *ep);
/* Send a request without body on the endpoint's session as exchange kind
 * (token kept in ep->token); opts is consumed. */
int fg_ep_send(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts, int kind);

/* ---- the persisted result (the codec: lwm2m/bs_state.h) ------------------------ */

/* File name of an endpoint's state, relative to the state directory:
 * "bs-" + the name with every byte outside [A-Za-z0-9._-] as %XX, + ".state".
 * Names whose encoding is long are cut and given a 64-bit hash, so the name
 * always fits NAME_MAX. out must hold FG_BS_FILE_NAME_MAX bytes. */
#define FG_BS_FILE_NAME_MAX 200
int fg_bs_state_file_name(const char *name, char out[FG_BS_FILE_NAME_MAX]);

/* Save atomically: a temporary file in dir (mode 0600, created anew), write,
 * fsync, rename over the final name, fsync the directory. -errno. */
int fg_bs_state_save(const char *dir, const char *name, const struct lwm2m_records *recs);
/* Read and decode an endpoint's file. -ENOENT when there is none, -errno
 * of the I/O, or lwm2m_bs_state_decode()'s errors (with *why). */
int fg_bs_state_load(const char *dir, const char *name, const struct lwm2m_registry *reg,
		     struct lwm2m_records *out, const char **why);
