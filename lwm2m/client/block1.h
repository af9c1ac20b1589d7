/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: block-wise request bodies (block1.c) as the
 * rest of the client sees it: its part of each endpoint and its calls.
 */
#pragma once

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

struct lwm2m_client;
struct lwm2m_device;
struct lwm2m_endpoint;
struct fg_b1_tags;

/* Of an endpoint. */
struct fg_ep_b1 {
	struct fg_b1 *list;      /* request bodies being received */
	struct fg_b1_tags *tags; /* Request-Tags libcoap recorded on the session */
	uint32_t n;              /* the bodies' number (block1_max_transfers bounds it) */
	/* The session is to be closed and a new one registered (libcoap's
	 * records of Request-Tags go only with the session). */
	bool renew_session;
};

struct fg_b1;
/* A Write of one opaque resource of the endpoint's own tree whose ops
 * take it as a stream (lwm2m_endpoint_ops.write_stream): dispatch.c
 * decides, block1.c hands it each block as it comes. */
struct fg_b1_stream {
	const struct lwm2m_endpoint_ops *ops;
	void *ud;
	struct lwm2m_path path;
};
struct fg_b1_body {
	const uint8_t *data;
	size_t len;
	uint8_t *owned; /* data, when the caller must free it; NULL: data is the request's */
};
enum {
	FG_B1_NONE,     /* no Block1 option: out is the request's payload */
	FG_B1_ANSWERED, /* resp carries the answer (2.31 Continue or an error) */
	FG_B1_COMPLETE, /* out is the whole body, the request is to be served */
	FG_B1_STREAMED, /* resp carries the final answer of a streamed Write */
};
/* Take a request of ep's server: its Block1 option, if any, is one block
 * of a body (RFC 7959). With st (NULL otherwise), the body goes to
 * st->ops->write_stream block by block instead of being assembled, unless
 * the op answers -ENOSYS to the first. Returns one of the FG_B1_* above. */
int fg_b1_receive(struct lwm2m_endpoint *ep, const coap_pdu_t *req, coap_pdu_t *resp,
		  const struct fg_b1_stream *st, struct fg_b1_body *out);
/* The final answer to a block-wise request acknowledges its last block
 * (Block1 with M=0); nothing when req has no Block1 option. */
void fg_b1_echo(const coap_pdu_t *req, coap_pdu_t *resp);
/* Forget every transfer of ep, and the Request-Tags its session saw (the
 * session is going away); a stream's op gets LWM2M_STREAM_ABORT. */
void fg_b1_drop_all(struct lwm2m_endpoint *ep);
/* Close ep's session soon (from a timer: never inside a libcoap handler)
 * and register again on a new one; see block1_max_tags. */
void fg_ep_renew_session(struct lwm2m_endpoint *ep);
