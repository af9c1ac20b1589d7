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

/* A context that sent several Updates in one turn of the loop (those due
 * in one tick, fg_ep_update_at) expects their answers for a while
 * (FG_CCTX_BURST_US: the server answers them one by one, at its pace):
 * meanwhile, after each read, it waits FG_CCTX_HOLD_US before reading
 * again, so the answers that came in the meantime are read in one wake-up
 * of the loop instead of one each (a wake-up cost about as much as the
 * rest of an Update). A request of the server, or an acknowledgement, that
 * comes then waits that long; at any other time nothing waits, and
 * nothing else (notifications, Registers, Sends) starts a hold. */
#define FG_CCTX_BURST_US 2000000u
#define FG_CCTX_HOLD_US  10000u

/* libcoap 4.3.1's coap_io_prepare_epoll() computes the next deadline
 * (whole milliseconds, at least 1 when something is pending) from the
 * clock read before its walk, reads the clock again after it and leaves
 * its timerfd disarmed when that deadline has been reached meanwhile: a
 * retransmission due within the millisecond would wait for the next I/O
 * on the context. That can only happen when the clock (libcoap's ticks,
 * milliseconds) moved on during the call; otherwise its timerfd, in the
 * context's epoll set that we watch, is armed for the right time. */
static bool ticks_moved(coap_tick_t before)
{
	coap_tick_t after;

	coap_ticks(&after);
	return after != before;
}

/* Our timer's accuracy: coarse (sd-event then rarely re-arms its timerfd
 * as our timers come and go with each exchange), but fine enough that the
 * walk half an ACK_TIMEOUT after a send (cctx_sent_con) comes before a
 * retransmission is due: a quarter of ACK_TIMEOUT, at most 250 ms. Held
 * reads (FG_CCTX_HOLD_US) are due to the millisecond. */
static uint64_t cctx_accuracy(const struct fg_cctx *x)
{
	uint64_t ack_us = (uint64_t)(x->c->cfg.ack_timeout_ms ? x->c->cfg.ack_timeout_ms : 2000) * 1000u;

	if (x->held)
		return 1000u;
	return ack_us / 4 < 250000u ? ack_us / 4 : 250000u;
}

static void cctx_timer_set(struct fg_cctx *x, uint64_t when)
{
	uint64_t acc = cctx_accuracy(x);

	if (acc != x->accuracy) {
		sd_event_source_set_time_accuracy(x->timer, acc);
		x->accuracy = acc;
	}
	sd_event_source_set_time(x->timer, when);
	sd_event_source_set_enabled(x->timer, SD_EVENT_ONESHOT);
}

/* Our timer: at the backup deadline (0: none), or when held reads are
 * due if that is earlier. */
static void cctx_arm(struct fg_cctx *x, uint64_t when)
{
	if (x->held && (!when || x->hold_end < when))
		when = x->hold_end;
	if (!when) {
		sd_event_source_set_enabled(x->timer, SD_EVENT_OFF);
		return;
	}
	cctx_timer_set(x, when);
}

/* The deadline from a walk of the context; our own timer backs up
 * libcoap's timerfd only when the walk may have left it disarmed. */
static void cctx_prepare(struct fg_cctx *x)
{
	coap_tick_t now;
	unsigned int ms;

	x->stale = false;
	coap_ticks(&now);
	x->c->in_coap++;
	ms = coap_io_prepare_epoll(x->ctx, now);
	x->c->in_coap--;
	cctx_arm(x, ms == 0 || !ticks_moved(now) ? 0 : fg_now(x->c) + (uint64_t)ms * 1000u);
}

/* Our own wait on the context's epoll descriptor, not coap_io_process():
 * that walks the sessions before its wait as well as after it. */
static bool cctx_run(struct fg_cctx *x, bool due)
{
	struct epoll_event ev[16];
	bool walked = false;
	int n;

	do {
		n = epoll_wait(coap_context_get_coap_fd(x->ctx), ev, 16, 0);
		if (n > 0) {
			coap_tick_t before;

			/* It ends with a walk, coap_io_prepare_epoll(), which
			 * arms libcoap's timerfd: walking the context again
			 * (it was 7.5 % of the idle CPU) is needed only when
			 * that may have left it disarmed. */
			coap_ticks(&before);
			x->c->in_coap++;
			coap_io_do_epoll(x->ctx, ev, (size_t)n);
			x->c->in_coap--;
			if (ticks_moved(before))
				due = true;
			walked = true;
		}
	} while (n == 16);
	if (due) {
		cctx_prepare(x);
	} else if (walked) {
		/* Everything queued is in libcoap's timerfd now. */
		x->stale = false;
		cctx_arm(x, 0);
	}
	return walked;
}

/* Our timer no later than when. */
static void cctx_walk_by(struct fg_cctx *x, uint64_t when)
{
	uint64_t cur;
	int on = SD_EVENT_OFF;

	sd_event_source_get_enabled(x->timer, &on);
	if (on != SD_EVENT_OFF && sd_event_source_get_time(x->timer, &cur) >= 0 && cur <= when &&
	    x->accuracy == cctx_accuracy(x))
		return;
	cctx_timer_set(x, when);
}

/* While the answers to a burst of Updates come (FG_CCTX_BURST_US), the
 * next read waits FG_CCTX_HOLD_US (its I/O source off, our timer on). */
static bool cctx_hold(struct fg_cctx *x, uint64_t now)
{
	if (now >= x->burst_until)
		return false;
	sd_event_source_set_enabled(x->io, SD_EVENT_OFF);
	x->held = true;
	x->hold_end = now + FG_CCTX_HOLD_US;
	cctx_walk_by(x, x->hold_end);
	return true;
}

/* No retransmission of a confirmable message is due before ACK_TIMEOUT
 * (times a random factor of at least 1), and libcoap arms its timerfd for
 * it, but 4.3.1's coap_wait_ack() arms it from the message's place in the
 * send queue, relative to the time the oldest message there was sent: late
 * (by seconds, tests/lwm2m/test_cctx.py) while another exchange of the
 * context retransmits. So the context is walked (which arms the timerfd
 * right) half an ACK_TIMEOUT after the send, unless I/O on it (the answer,
 * most often) walked it first. */
static void cctx_sent_con(struct fg_cctx *x, coap_session_t *s)
{
	coap_fixed_point_t at = coap_session_get_ack_timeout(s);
	uint64_t now = fg_now(x->c);

	cctx_walk_by(x,
		     now + ((uint64_t)at.integer_part * 1000000u + (uint64_t)at.fractional_part * 1000u) / 2);
}

void fg_cctx_update_sent(struct fg_cctx *x)
{
	uint64_t now;

	if (!x)
		return;
	now = fg_now(x->c);
	if (x->burst_at != now) {
		x->burst_at = now;
		x->burst = 0;
	}
	if (++x->burst == 2)
		x->burst_until = now + FG_CCTX_BURST_US;
}

static int on_cctx_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct fg_cctx *x = ud;
	uint64_t now = fg_now(x->c);

	(void)s;
	(void)fd;
	(void)revents;
	cctx_run(x, false);
	cctx_hold(x, now);
	return 0;
}

static int on_cctx_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fg_cctx *x = ud;
	bool held = x->held;

	(void)s;
	(void)usec;
	x->held = false;
	/* Held reads: while answers keep coming, one wake-up per
	 * FG_CCTX_HOLD_US reads them; once none came, reads are at once. */
	if (cctx_run(x, true) && held && cctx_hold(x, fg_now(x->c)))
		return 0;
	if (held)
		sd_event_source_set_enabled(x->io, SD_EVENT_ON);
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
	/* A confirmable message on an established CoAP/UDP session needs no
	 * walk of its context at once (its first retransmission is seconds
	 * away): an Update or a Register leaves without one, and its answer
	 * walks the context anyway. Anything else (a DTLS handshake, a
	 * message that is not confirmable) gets its deadline from a walk at
	 * the next turn of the loop. */
	bool con = coap_pdu_get_type(pdu) == COAP_MESSAGE_CON &&
		   coap_session_get_proto(s) == COAP_PROTO_UDP &&
		   coap_session_get_state(s) == COAP_SESSION_STATE_ESTABLISHED;
	struct fg_cctx *x = fg_cctx_of(s);
	coap_mid_t mid = coap_send(s, pdu);

	if (con && x)
		cctx_sent_con(x, s);
	else
		fg_cctx_touch(x);
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
	x->accuracy = cctx_accuracy(x);
	r = sd_event_add_time(c->ev, &x->timer, CLOCK_MONOTONIC, UINT64_MAX, x->accuracy, on_cctx_timer, x);
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
