/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcoap contexts of bounded size inside the sd_event loop.
 *
 * libcoap 4.3.1 walks every session of a context each time it computes
 * its next deadline (coap_io_prepare_io(): retransmissions, DTLS and
 * block-wise time-outs, per session), and coap_io_do_epoll() ends with
 * that walk: with one context, every packet and every timer turn cost
 * O(endpoints) — 79 % of fieldgate's idle CPU with 2,000 endpoints. So
 * sessions are spread over contexts of at most FG_CCTX_SESSIONS each, each
 * context's epoll descriptor (its sockets and its timer) is an sd-event
 * I/O source of its own, and a context is processed only when it has I/O,
 * a deadline, or something we sent on it: the cost of a packet is bounded
 * by FG_CCTX_SESSIONS, not by the number of endpoints.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "client_internal.h"
#include "request.h"

/* Sessions per context: small enough that a walk of one costs a few
 * microseconds, large enough that the two descriptors (epoll, timer) and
 * the TLS contexts of each libcoap context stay a small part of what an
 * endpoint costs. */
#define FG_CCTX_SESSIONS 256

/* The deadline libcoap names from the walk; our own timer backs up its
 * timerfd, which libcoap 4.3.1 leaves disarmed when the deadline is
 * reached while it walks. */
static void cctx_prepare(struct fg_cctx *x)
{
	coap_tick_t now;
	unsigned int ms;

	x->stale = false;
	coap_ticks(&now);
	x->c->in_coap++;
	ms = coap_io_prepare_epoll(x->ctx, now);
	x->c->in_coap--;
	if (ms == 0) {
		sd_event_source_set_enabled(x->timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(x->timer, fg_now(x->c) + (uint64_t)ms * 1000u);
	sd_event_source_set_enabled(x->timer, SD_EVENT_ONESHOT);
}

/* Our own wait on the context's epoll descriptor, not coap_io_process():
 * that walks the sessions before its wait as well as after it. */
static void cctx_run(struct fg_cctx *x, bool due)
{
	struct epoll_event ev[16];
	int n;

	do {
		n = epoll_wait(coap_context_get_coap_fd(x->ctx), ev, 16, 0);
		if (n > 0) {
			/* It ends with coap_io_prepare_epoll() itself. */
			x->c->in_coap++;
			coap_io_do_epoll(x->ctx, ev, (size_t)n);
			x->c->in_coap--;
			due = true;
		}
	} while (n == 16);
	if (due)
		cctx_prepare(x);
}

static int on_cctx_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	(void)s;
	(void)fd;
	(void)revents;
	cctx_run(ud, false);
	return 0;
}

static int on_cctx_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	(void)s;
	(void)usec;
	cctx_run(ud, true);
	return 0;
}

/* Contexts we sent on since their last walk: what we queued (a CON
 * message's retransmission, a block-wise body, a DTLS handshake, an async
 * answer) gets its deadline. The list is taken whole: a context touched
 * meanwhile is walked at the next turn. */
static int on_kick(sd_event_source *s, void *ud)
{
	struct lwm2m_client *c = ud;
	struct fg_cctx *x = c->touched;

	(void)s;
	c->touched = NULL;
	while (x) {
		struct fg_cctx *next = x->next_touched;

		x->queued = false;
		x->next_touched = NULL;
		if (x->stale)
			cctx_prepare(x);
		x = next;
	}
	return 0;
}

void fg_cctx_touch(struct fg_cctx *x)
{
	if (!x)
		return;
	x->stale = true;
	if (x->queued)
		return;
	x->queued = true;
	x->next_touched = x->c->touched;
	x->c->touched = x;
	sd_event_source_set_enabled(x->c->kick, SD_EVENT_ONESHOT);
}

struct fg_cctx *fg_cctx_of(coap_session_t *s)
{
	return s ? coap_get_app_data(coap_session_get_context(s)) : NULL;
}

coap_mid_t fg_coap_send(coap_session_t *s, coap_pdu_t *pdu)
{
	coap_mid_t mid = coap_send(s, pdu);

	fg_cctx_touch(fg_cctx_of(s));
	return mid;
}

static struct fg_cctx *cctx_free(struct fg_cctx *x)
{
	if (!x)
		return NULL;
	x->io = sd_event_source_disable_unref(x->io);
	x->timer = sd_event_source_disable_unref(x->timer);
	if (x->ctx)
		coap_free_context(x->ctx);
	free(x);
	return NULL;
}

static int cctx_new(struct lwm2m_client *c, struct fg_cctx **out)
{
	struct fg_cctx *x = calloc(1, sizeof(*x));
	int r = -ENOMEM;

	if (!x)
		return -ENOMEM;
	x->c = c;
	x->ctx = coap_new_context(NULL);
	if (!x->ctx)
		goto fail;
	coap_set_app_data(x->ctx, x);
	/* libcoap sends our large bodies block-wise (Register, Send,
	 * responses, notifications) and serves the server's requests for
	 * their blocks. Not COAP_BLOCK_SINGLE_BODY: libcoap 4.3.1's
	 * reassembly of the server's block-wise requests can be driven into
	 * a NULL dereference (docs/ARCHITECTURE.md, "Block-wise requests");
	 * without it every block reaches fg_request_handler, and block1.c
	 * reassembles the body within bounds. */
	coap_context_set_block_mode(x->ctx, COAP_BLOCK_USE_LIBCOAP);
	coap_register_response_handler(x->ctx, fg_response_handler);
	coap_register_nack_handler(x->ctx, fg_nack_handler);
	coap_register_event_handler(x->ctx, fg_event_handler);

	/* Every device-management request goes to one handler: the path is
	 * resolved against the addressed endpoint's store, not against
	 * libcoap's resource table. */
	x->unknown = coap_resource_unknown_init2(fg_request_handler, 0);
	if (!x->unknown)
		goto fail;
	coap_register_request_handler(x->unknown, COAP_REQUEST_GET, fg_request_handler);
	coap_register_request_handler(x->unknown, COAP_REQUEST_POST, fg_request_handler);
	coap_register_request_handler(x->unknown, COAP_REQUEST_DELETE, fg_request_handler);
	coap_register_request_handler(x->unknown, COAP_REQUEST_FETCH, fg_request_handler);
	coap_register_request_handler(x->unknown, COAP_REQUEST_IPATCH, fg_request_handler);
	coap_add_resource(x->ctx, x->unknown);

	r = sd_event_add_io(c->ev, &x->io, coap_context_get_coap_fd(x->ctx), EPOLLIN, on_cctx_io, x);
	if (r < 0)
		goto fail;
	r = sd_event_add_time(c->ev, &x->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_cctx_timer, x);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(x->timer, SD_EVENT_OFF);
	x->next = c->cctxs;
	c->cctxs = x;
	*out = x;
	return 0;
fail:
	cctx_free(x);
	return r;
}

int fg_cctx_attach(struct lwm2m_client *c, struct fg_cctx **out)
{
	struct fg_cctx *x;
	int r;

	/* First fit: contexts are few (one per FG_CCTX_SESSIONS endpoints)
	 * and sessions are opened at the registration pace at most. */
	for (x = c->cctxs; x && x->nsess >= FG_CCTX_SESSIONS; x = x->next)
		;
	if (!x) {
		r = cctx_new(c, &x);
		if (r < 0)
			return r;
	}
	x->nsess++;
	*out = x;
	return 0;
}

void fg_cctx_detach(struct fg_cctx *x)
{
	if (x && x->nsess)
		x->nsess--;
}

int fg_cctx_init(struct lwm2m_client *c)
{
	int r = sd_event_add_defer(c->ev, &c->kick, on_kick, c);

	if (r < 0)
		return r;
	sd_event_source_set_enabled(c->kick, SD_EVENT_OFF);
	return 0;
}

void fg_cctx_free_all(struct lwm2m_client *c)
{
	c->kick = sd_event_source_disable_unref(c->kick);
	c->touched = NULL;
	while (c->cctxs) {
		struct fg_cctx *x = c->cctxs;

		c->cctxs = x->next;
		cctx_free(x);
	}
}
