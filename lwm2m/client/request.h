/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: a request of a server and the operations that
 * serve it. dispatch.c owns the dispatch (fg_request_handler); the device
 * management operations live in dm_read.c, dm.c and dm_async.c, the
 * Bootstrap-Server's in bs_serve.c.
 */
#pragma once

#include "client_internal.h"

struct fg_pending {
	struct fg_pending *prev, *next;
	struct lwm2m_endpoint *ep; /* NULL once abandoned */
	coap_session_t *session;   /* referenced while ep is set */
	coap_async_t *async;
	int result;
	bool done, in_handler;
	bool read; /* ops->read: the request is answered again once done */
	/* The body of a block-wise request served again once done: libcoap
	 * keeps only the last block's datagram for that. */
	uint8_t *body;
	size_t body_len;
};

/* A request's target: the endpoint's own tree or a device's. */
struct fg_dm_target {
	struct lwm2m_store *store;
	struct lwm2m_device *dev;
	struct lwm2m_span prefix;
};

struct fg_req {
	struct lwm2m_endpoint *ep;
	coap_resource_t *resource;
	coap_session_t *session;
	const coap_pdu_t *pdu;
	const coap_string_t *query;
	coap_pdu_t *response;
	coap_pdu_code_t method;
	struct lwm2m_path path;
	struct fg_dm_target t;
	uint16_t accept, cf; /* LWM2M_CT_NONE when absent */
	bool observe;        /* the request has an Observe option */
	uint16_t obs_val;    /* its value: 0 register, 1 deregister */
	const uint8_t *data;
	size_t len;
	uint8_t *owned;  /* data, when reassembled from blocks (freed after the answer) */
	bool refreshed;  /* ops->read completed: answer from the store */
	int refresh_err; /* its result */
};

/* ---- dispatch.c: answers and parsing shared by every operation ------------------ */

/* libcoap's handler of every request of a server (registered in client.c
 * and obs.c). */
void fg_request_handler(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
			const coap_string_t *query, coap_pdu_t *response);
void fg_req_code(struct fg_req *rq, uint8_t code);
/* The response code of a negative errno (lwm2m_errno_to_coap()). */
void fg_req_fail(struct fg_req *rq, int err);
/* Answer 2.05 with body (ownership of its memory passes to libcoap, which
 * sends it block-wise when larger than the session's MTU); observing: the
 * answer to an accepted Observe (carries the first sequence number). */
void fg_req_reply(struct fg_req *rq, uint16_t ct, struct lwm2m_buf *body, bool observing);
/* An option's unsigned value, LWM2M_CT_NONE when absent (*present, may be
 * NULL, says which). */
uint16_t fg_req_opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, bool *present);
/* The Uri-Path as text ("/0/1", "/bs") in buf (cap bytes, NUL-terminated);
 * -EBADMSG when it cannot be (an empty segment, a '/' inside one, too long). */
int fg_req_uri_path(const coap_pdu_t *pdu, char *buf, size_t cap, size_t *len);
const struct lwm2m_resdef *fg_req_resdef(const struct fg_req *rq, const struct lwm2m_path *p);
/* The request addresses the endpoint's own tree (not an Object 25 device). */
bool fg_req_own_tree(const struct fg_req *rq);
/* Objects the client manages itself: the server may read them but not
 * create or delete their instances. */
bool fg_req_client_owned(const struct fg_req *rq, uint16_t oid);
/* Route a record named with an optional prefix to the tree it addresses;
 * -ENOENT for an unknown prefix. */
int fg_req_route(const struct fg_req *rq, const struct lwm2m_span *prefix, struct fg_dm_target *t);

/* ---- dm_read.c --------------------------------------------------------------- */

void fg_dm_read(struct fg_req *rq);
void fg_dm_discover(struct fg_req *rq);
void fg_dm_read_composite(struct fg_req *rq);
void fg_dm_write_attributes(struct fg_req *rq);
bool fg_dm_path_exists(const struct fg_req *rq, const struct lwm2m_path *p);

/* ---- dm.c --------------------------------------------------------------------- */

/* replace: PUT (Write replace), else POST (partial update). */
void fg_dm_write(struct fg_req *rq, bool replace);
void fg_dm_execute(struct fg_req *rq);
void fg_dm_create(struct fg_req *rq);
void fg_dm_delete(struct fg_req *rq);

/* ---- dm_async.c ----------------------------------------------------------------- */

/* A triggered async: the request came back; true when it is answered
 * (its result, or nothing for a retransmission of one in progress), false
 * to serve it (a Read whose values ops->read refreshed). */
bool fg_dm_answer_async(struct fg_req *rq);
/* Give ops->read the chance to refresh the values of a Read first. Returns
 * false to answer now from the store, true when the request was answered
 * (an error) or goes separate. */
bool fg_dm_ask_read(struct fg_req *rq);
bool fg_dm_ask_read_composite(struct fg_req *rq, const struct lwm2m_records *names);
bool fg_dm_read_settle(struct fg_req *rq, struct fg_pending *p, int r);
struct fg_pending *fg_dm_pending_new(struct fg_req *rq);
void fg_dm_pending_settle(struct fg_req *rq, struct fg_pending *p, int r);
/* The done() callback given to the ops of a Write or Execute (ctx: the
 * pending operation). */
void fg_dm_pending_done(void *ctx, int err);

/* ---- bs_serve.c ----------------------------------------------------------------- */

/* A request from the Bootstrap-Server (the endpoint is in ST_BOOTSTRAP);
 * rq->data/len is its whole payload (reassembled when it came block-wise). */
void fg_bs_serve(struct fg_req *rq);
