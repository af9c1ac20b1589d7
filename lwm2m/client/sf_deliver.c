/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store-and-forward: delivering what is held once the endpoint is
 * registered and reachable (Send of held samples, stored notifications,
 * barriers that confirm what went before), and the answers to them. See
 * sf.c for what is kept and why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_internal.h"

/* ---- delivery ------------------------------------------------------------------------------------ */

static void record_of(const struct fg_sample *s, const struct lwm2m_device *dev, struct lwm2m_record *rec)
{
	*rec = (struct lwm2m_record){
		.path = s->path, .value = s->value, .time = (double)s->time_ms / 1000.0, .has_time = true
	};
	if (dev)
		rec->prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
}

/* ep->sf.x, made at the first barrier or Send; NULL without memory (that
 * barrier or Send is not sent, as when sending it fails). */
static struct fg_ep_sf_x *sf_x(struct lwm2m_endpoint *ep)
{
	if (!ep->sf.x && !(ep->sf.x = calloc(1, sizeof(*ep->sf.x))))
		ep_log(ep, LWM2M_LOG_WARNING, "cannot deliver held values: %s", strerror(ENOMEM));
	return ep->sf.x;
}

/* One Send of the oldest held samples of one target (LwM2M 1.1+). */
static void deliver_send(struct lwm2m_endpoint *ep)
{
	static const struct lwm2m_path root = { .len = 0 };
	unsigned batch = ep->c->cfg.sf_send_batch;
	struct fg_ep_sf_x *x;

	if (ep->sf.sending || !(x = sf_x(ep)))
		return;
	for (size_t t = 0; t < fg_sf_ntargets(ep); t++) {
		struct lwm2m_device *dev = fg_sf_target_dev(ep, t);
		struct fg_sf *sf = fg_sf_of(ep, dev);
		struct lwm2m_records recs = { 0 };
		struct lwm2m_buf body = { 0 };
		uint32_t mark = ++x->next_mark;
		int r = 0;

		if (!sf)
			continue;
		for (size_t i = 0; i < sf->q.n && recs.n < batch; i++) {
			struct fg_sample *s = fg_sq_at(&sf->q, i);
			struct lwm2m_record *rec;

			if (s->state != FG_SQ_PENDING)
				continue;
			rec = lwm2m_records_add(&recs);
			if (!rec) {
				r = -ENOMEM;
				break;
			}
			record_of(s, dev, rec);
		}
		if (r >= 0 && recs.n)
			r = lwm2m_encode(LWM2M_CT_SENML_CBOR, &root, recs.v, recs.n, &body);
		if (r >= 0 && recs.n)
			r = fg_ep_send_body(ep, COAP_REQUEST_CODE_POST, "/dp", &body, LWM2M_CT_SENML_CBOR,
					    x->token, &x->token_len);
		if (r >= 0 && recs.n) {
			size_t k = 0;

			for (size_t i = 0; i < sf->q.n && k < recs.n; i++) {
				struct fg_sample *s = fg_sq_at(&sf->q, i);

				if (s->state == FG_SQ_PENDING) {
					fg_sq_set_state(&sf->q, s, FG_SQ_INFLIGHT, mark);
					k++;
				}
			}
			ep->sf.sending = true;
			x->send_target = dev ? dev->obs_id : ep->obs.id;
			x->send_mark = mark;
			ep_log(ep, LWM2M_LOG_DEBUG, "Send of %zu held value%s%s%.*s", recs.n,
			       recs.n == 1 ? "" : "s", dev ? " of /" : "", dev ? (int)dev->prefix_len : 0,
			       dev ? dev->prefix : "");
		} else if (r < 0) {
			ep_log(ep, LWM2M_LOG_WARNING, "cannot send held values: %s", strerror(-r));
		}
		lwm2m_buf_free(&body);
		lwm2m_records_clear(&recs);
		if (ep->sf.sending || r < 0)
			return;
	}
}

/* Stored notifications of held samples (LwM2M 1.0), a batch at a time. */
static bool deliver_stored(struct lwm2m_endpoint *ep)
{
	unsigned sent = 0;

	if (ep->sf.barrier_busy)
		return false;
	for (size_t t = 0; t < fg_sf_ntargets(ep) && sent < STORED_BATCH; t++) {
		struct lwm2m_device *dev = fg_sf_target_dev(ep, t);
		struct fg_sf *sf = fg_sf_of(ep, dev);

		for (size_t i = 0; sf && i < sf->q.n && sent < STORED_BATCH; i++) {
			struct fg_sample *s = fg_sq_at(&sf->q, i);
			struct lwm2m_record rec;
			int r;

			if (s->state != FG_SQ_PENDING)
				continue;
			record_of(s, dev, &rec);
			r = fg_obs_send_stored(ep, dev, &rec);
			if (r == -ENOENT)
				continue; /* not observed (yet): waits */
			if (r == -ENOTCONN)
				return sent > 0;
			if (r < 0) {
				/* Its observation's format cannot carry it. */
				fg_sf_sq_remove(ep->c, sf, s, false);
				fg_sf_want_flush(ep->c, sf);
				i--;
				continue;
			}
			fg_sq_set_state(&sf->q, s, FG_SQ_INFLIGHT, ++ep->sf.tx_mark);
			sent++;
		}
	}
	return sent > 0;
}

/* Anything notified (SENT) or stored-notified (INFLIGHT) that a barrier
 * has not confirmed yet? */
static bool unconfirmed(const struct lwm2m_endpoint *ep)
{
	for (size_t t = 0; t < fg_sf_ntargets(ep); t++) {
		const struct fg_sf *sf = fg_sf_of(ep, fg_sf_target_dev(ep, t));

		for (size_t i = 0; sf && i < sf->q.n; i++) {
			const struct fg_sample *s = fg_sq_at(&sf->q, i);

			if ((s->state == FG_SQ_SENT || (s->state == FG_SQ_INFLIGHT && ep->version < 11)) &&
			    s->mark <= ep->sf.tx_mark)
				return true;
		}
	}
	return false;
}

/* libcoap sends one CON at a time per session (NSTART 1): when the Reset
 * to this empty CON comes, everything sent before it has left, and the
 * server was there to answer. */
static void send_barrier(struct lwm2m_endpoint *ep)
{
	uint64_t now = fg_now(ep->c);
	struct fg_ep_sf_x *x;
	coap_pdu_t *pdu;
	coap_mid_t mid;

	if (ep->sf.barrier_busy || !ep->session || !(x = sf_x(ep)))
		return;
	/* From the last Reset: the server's limit counts from its own. */
	if (x->barrier_done && now - x->barrier_done < BARRIER_GAP_US) {
		fg_sf_arm(ep, x->barrier_done + BARRIER_GAP_US);
		return;
	}
	mid = fg_obs_quiet_mid(ep->c, ep->session);
	pdu = coap_pdu_init(COAP_MESSAGE_CON, 0, mid, 0);
	if (!pdu)
		return;
	if (fg_coap_send(ep->session, pdu) == COAP_INVALID_MID)
		return;
	ep->sf.barrier_busy = true;
	x->barrier_mid = mid;
	x->barrier_mark = ep->sf.tx_mark;
	/* A server that acknowledges the ping instead of resetting it:
	 * libcoap reports neither, only a failure; none by then is a yes. */
	fg_sf_arm(ep, fg_now(ep->c) + (uint64_t)ep->c->cfg.block1_timeout_ms * MS);
	x->barrier_since = fg_now(ep->c);
}

/* A barrier came back (a ping's Reset, the answer to an Update or a
 * De-register): what went before it is delivered. */
void fg_sf_confirmed(struct lwm2m_endpoint *ep, uint32_t mark)
{
	for (size_t t = 0; t < fg_sf_ntargets(ep); t++) {
		struct fg_sf *sf = fg_sf_of(ep, fg_sf_target_dev(ep, t));
		bool changed = false;

		for (size_t i = 0; sf && i < sf->q.n; i++) {
			struct fg_sample *s = fg_sq_at(&sf->q, i);

			if ((s->state == FG_SQ_SENT || (s->state == FG_SQ_INFLIGHT && ep->version < 11)) &&
			    s->mark <= mark) {
				fg_sf_sq_remove(ep->c, sf, s, true);
				changed = true;
				i--;
			}
		}
		if (changed)
			fg_sf_want_flush(ep->c, sf);
	}
}

static bool anything_held(const struct lwm2m_endpoint *ep)
{
	for (size_t t = 0; t < fg_sf_ntargets(ep); t++) {
		const struct fg_sf *sf = fg_sf_of(ep, fg_sf_target_dev(ep, t));

		if (sf && sf->q.npaths)
			return true;
	}
	return false;
}

/* What was kept for having been observed before the server was lost: a
 * path observed again is the observation's again; the others are forgotten
 * KEPT_GRACE_US after the endpoint registered again. */
static void forget_kept(struct lwm2m_endpoint *ep, uint64_t now)
{
	for (size_t t = 0; t < fg_sf_ntargets(ep); t++) {
		struct lwm2m_device *dev = fg_sf_target_dev(ep, t);
		struct fg_sf *sf = fg_sf_of(ep, dev);

		if (!sf || !sf->nkept)
			continue;
		if (!sf->kept_until)
			sf->kept_until = now + KEPT_GRACE_US;
		for (size_t i = 0; i < sf->nkept;) {
			uint32_t pmin;

			if (now >= sf->kept_until ||
			    lwm2m_endpoint_observed(ep, dev, &sf->kept[i], &pmin) > 0)
				sf->kept[i] = sf->kept[--sf->nkept];
			else
				i++;
		}
		if (sf->nkept)
			fg_sf_arm(ep, sf->kept_until);
	}
}

void fg_sf_on_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct lwm2m_endpoint *ep =
		(struct lwm2m_endpoint *)((char *)t - offsetof(struct lwm2m_endpoint, sf.timer));
	uint64_t now = fg_now(c);

	if (!fg_ep_online(ep))
		return;
	if (ep->sf.barrier_busy && now - ep->sf.x->barrier_since >= (uint64_t)c->cfg.block1_timeout_ms * MS) {
		ep->sf.barrier_busy = false;
		fg_sf_confirmed(ep, ep->sf.x->barrier_mark);
	}
	if (ep->version >= 11) {
		deliver_send(ep);
	} else if (deliver_stored(ep)) {
		send_barrier(ep);
		return;
	}
	if (!ep->sf.barrier_busy && unconfirmed(ep))
		send_barrier(ep);
	forget_kept(ep, now);
	/* Queue mode: quiet for queue_awake_ms and nothing on its way:
	 * hold values until the next Update. */
	if (ep->binding == LWM2M_BINDING_UQ && !ep->sf.barrier_busy && !ep->sf.sending && !unconfirmed(ep) &&
	    !(ep->version < 11 && anything_held(ep))) {
		uint64_t wake = ep->sf.last_exchange + (uint64_t)c->cfg.queue_awake_ms * MS;

		if (now >= wake) {
			ep->sf.sleeping = true;
			ep_log(ep, LWM2M_LOG_DEBUG, "queue mode: holding values until the next Update");
		} else {
			fg_sf_arm(ep, wake);
		}
	}
}

/* ---- answers ---------------------------------------------------------------------------------------- */

static struct fg_sf *send_sf(struct lwm2m_endpoint *ep)
{
	uint32_t id = ep->sf.x ? ep->sf.x->send_target : 0;

	if (!id || id > ep->c->ntargets || ep->c->targets[id - 1].ep != ep)
		return NULL;
	return ep->c->targets[id - 1].sf;
}

/* The Send in flight is over: delivered (remove), dropped (remove), or back
 * to PENDING. */
static void send_over(struct lwm2m_endpoint *ep, int outcome)
{
	struct fg_sf *sf = send_sf(ep);

	ep->sf.sending = false;
	for (size_t i = 0; sf && i < sf->q.n; i++) {
		struct fg_sample *s = fg_sq_at(&sf->q, i);

		if (s->state != FG_SQ_INFLIGHT || s->mark != ep->sf.x->send_mark) /* sf: x is there */
			continue;
		if (outcome == 0) {
			fg_sq_set_state(&sf->q, s, FG_SQ_PENDING, 0);
			continue;
		}
		fg_sf_sq_remove(ep->c, sf, s, outcome > 0);
		i--;
	}
	if (sf)
		fg_sf_want_flush(ep->c, sf);
}

bool fg_sf_response(struct lwm2m_endpoint *ep, const coap_pdu_t *received, uint8_t code)
{
	coap_bin_const_t tok = coap_pdu_get_token(received);

	if (!ep->sf.sending || tok.length != ep->sf.x->token_len ||
	    memcmp(tok.s, ep->sf.x->token, tok.length))
		return false;
	fg_srv_alive(ep);
	if (COAP_RESPONSE_CLASS(code) == 2) {
		send_over(ep, 1);
		fg_sf_arm(ep, fg_now(ep->c));
	} else if (COAP_RESPONSE_CLASS(code) == 5) {
		ep_log(ep, LWM2M_LOG_WARNING, "Send of held values answered %u.%02u: trying again", code >> 5,
		       code & 31);
		send_over(ep, 0);
		fg_sf_arm(ep, fg_now(ep->c) + SEND_RETRY_US);
	} else {
		ep_log(ep, LWM2M_LOG_WARNING, "Send of held values refused (%u.%02u): they are dropped",
		       code >> 5, code & 31);
		send_over(ep, -1);
		fg_sf_arm(ep, fg_now(ep->c));
	}
	return true;
}

bool fg_sf_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason, coap_mid_t mid)
{
	bool barrier =
		ep->sf.barrier_busy && mid == ep->sf.x->barrier_mid && sent && coap_pdu_get_code(sent) == 0;
	coap_bin_const_t tok;

	if (barrier) {
		if (reason == COAP_NACK_RST) {
			fg_srv_alive(ep);
			ep->sf.barrier_busy = false;
			ep->sf.x->barrier_done = fg_now(ep->c);
			fg_sf_confirmed(ep, ep->sf.x->barrier_mark);
			fg_sf_arm(ep, fg_now(ep->c));
			return true;
		}
		ep->sf.barrier_busy = false;
		fg_srv_lost(ep, reason == COAP_NACK_TOO_MANY_RETRIES ? -ETIMEDOUT : -EHOSTUNREACH,
			    reason == COAP_NACK_TOO_MANY_RETRIES ? "no answer to a ping" : "unreachable");
		return true;
	}
	if (!ep->sf.sending || !sent)
		return false;
	tok = coap_pdu_get_token(sent);
	if (tok.length != ep->sf.x->token_len || memcmp(tok.s, ep->sf.x->token, tok.length))
		return false;
	send_over(ep, 0);
	if (reason == COAP_NACK_RST)
		fg_ep_want_update(ep);
	else
		fg_srv_lost(ep, reason == COAP_NACK_TOO_MANY_RETRIES ? -ETIMEDOUT : -EHOSTUNREACH,
			    "a Send got no answer");
	return true;
}
