/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the observation module of lwm2m/client/: obs.c (targets,
 * observations), obs_notify.c (notifications, Resets), values.c (values
 * set by the application). The layout of an observation and of the index
 * of message ids is seen by these files only; the rest of the client uses
 * the fg_obs_* calls of client_internal.h.
 */
#pragma once

#include "client_internal.h"

struct fg_obs {
	struct fg_obs *prev, *next;   /* on the target's endpoint */
	struct fg_obs *tprev, *tnext; /* on the target (fg_target.obs) */
	uint32_t target;
	struct lwm2m_device *dev;
	uint8_t token[8];
	size_t token_len;
	uint16_t ct;
	bool composite;
	bool want_con;                      /* the next notification is CON (owed, or to resolve a Reset) */
	coap_mid_t non_mid;                 /* message id of the last NON notification */
	uint64_t non_when;                  /* and when it left (µs), 0: none */
	struct fg_obs *mid_prev, *mid_next; /* in c->mids while non_when */
	size_t npaths;
	struct lwm2m_path paths[]; /* sorted for composite */
};
/* Observations by the message id of their last NON (buckets: ids are
 * sequential per session from a random start, id % MID_BUCKETS spreads
 * them evenly), and the ids of recent NONs as two generations of bits,
 * each RESET_WINDOW_US long: an id stays marked for one to two windows. */
#define MID_BUCKETS 4096u
struct fg_mid_index {
	struct fg_obs *buckets[MID_BUCKETS];
	uint64_t since; /* start of the current generation, µs */
	uint64_t bits[2][65536 / 64];
	uint32_t marked[2]; /* bits set in each generation */
};

/* Ids a NON may skip to find one no recent NON used: enough to step over
 * the burst of several endpoints at their bound whose sessions happen to
 * use the same ids (a bit test each); beyond, the CON fallback resolves.
 * With nearly every id marked (more than 60,000 NON notifications in one
 * to two windows) probing would mostly be in vain: it stops. */
#define MID_PROBES  1024
#define MID_CROWDED 61440u

/* A Reset answers a NON sent at most this long ago (it is sent on receipt;
 * RFC 7252 MAX_LATENCY is 100 s, real paths take well under a second). */
#define RESET_WINDOW_US (30u * 1000000u)

/* ---- obs.c ------------------------------------------------------------------------ */

uint64_t fg_obs_now_ms(const struct lwm2m_client *c);
/* The store of engine target id, NULL when there is none. */
struct lwm2m_store *fg_obs_target_store(const struct lwm2m_client *c, uint32_t id);
struct fg_obs *fg_obs_find(const struct lwm2m_endpoint *ep, const uint8_t *tok, size_t len);
/* The observations of ep's own tree (dev NULL) or of its device dev, linked
 * by tnext; NULL when there are none. */
struct fg_obs *fg_obs_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev);
/* End observation o (engine and list) and free it. */
void fg_obs_cancel(struct lwm2m_endpoint *ep, struct fg_obs *o);

/* ---- obs_notify.c ------------------------------------------------------------------ */

/* Resource p of target made a notification due (values.c). */
void fg_obs_due_note(struct lwm2m_client *c, uint32_t target, const struct lwm2m_path *p);
/* A new value of p of target is about to be stored: send what is due if
 * an earlier value of p waits in it, unless inside libcoap (see there). */
void fg_obs_flush_due(struct lwm2m_client *c, uint32_t target, const struct lwm2m_path *p);
/* Take o off ep's list and the message id index. */
void fg_obs_unlink(struct lwm2m_endpoint *ep, struct fg_obs *o);
/* RFC 7252 MAX_TRANSMIT_WAIT of session s, µs. */
uint64_t fg_obs_max_transmit_wait_us(coap_session_t *s);
/* The resource a notification of o is sent for (Block2 answers). */
coap_resource_t *fg_obs_block_resource(coap_session_t *s, const struct fg_obs *o);
/* The PDU of a notification of o (see obs_notify.c). */
coap_pdu_t *fg_obs_notif_pdu(coap_session_t *s, coap_resource_t *unknown, const struct fg_obs *o, bool con,
			     coap_mid_t mid, int r, uint32_t seq, const struct lwm2m_buf *body, bool block,
			     bool *too_big);
/* c->obs_timer: the engine's deadline. */
void fg_obs_on_timer(struct lwm2m_client *c, struct fg_timer *t);
