/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Information reporting: sending notifications (NON or CON, Block2 for a
 * large one) and what a server's Reset or a failed CON does to an
 * observation. See obs.c for the design.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs_internal.h"
#include "request.h"

/* ---- Resets of NON notifications --------------------------------------------- */

static void mid_forget(struct lwm2m_client *c, struct fg_obs *o)
{
	if (!o->non_when)
		return;
	if (o->mid_prev)
		o->mid_prev->mid_next = o->mid_next;
	else
		c->mids->buckets[o->non_mid % MID_BUCKETS] = o->mid_next;
	if (o->mid_next)
		o->mid_next->mid_prev = o->mid_prev;
	o->mid_prev = o->mid_next = NULL;
	o->non_when = 0;
}

static void mid_note(struct lwm2m_client *c, struct fg_obs *o, coap_mid_t mid, uint64_t now)
{
	struct fg_obs **b = &c->mids->buckets[mid % MID_BUCKETS];

	uint64_t *w = &c->mids->bits[0][(uint16_t)mid / 64], bit = UINT64_C(1) << ((uint16_t)mid % 64);

	c->mids->marked[0] += !(*w & bit);
	*w |= bit;
	mid_forget(c, o);
	o->non_mid = mid;
	o->non_when = now;
	o->mid_next = *b;
	if (*b)
		(*b)->mid_prev = o;
	*b = o;
}

/* The observations whose last NON, sent within RESET_WINDOW_US, had message
 * id mid (those of endpoint only, unless NULL): how many, and one of them. */
static size_t mid_find(const struct lwm2m_client *c, const struct lwm2m_endpoint *only, coap_mid_t mid,
		       uint64_t now, struct fg_obs **hit)
{
	size_t n = 0;

	for (struct fg_obs *o = c->mids->buckets[mid % MID_BUCKETS]; o; o = o->mid_next) {
		if (o->non_mid != mid || now - o->non_when > RESET_WINDOW_US ||
		    (only && c->targets[o->target - 1].ep != only))
			continue;
		*hit = o;
		n++;
	}
	return n;
}

/* Should a NON skip id mid (a NON notification used it recently)? */
static bool mid_recent(struct fg_mid_index *m, coap_mid_t mid, uint64_t now)
{
	uint16_t id = (uint16_t)mid;

	if (now - m->since >= RESET_WINDOW_US) {
		bool keep = now - m->since < 2u * RESET_WINDOW_US;

		if (keep)
			memcpy(m->bits[1], m->bits[0], sizeof(m->bits[0]));
		else
			memset(m->bits[1], 0, sizeof(m->bits[1]));
		m->marked[1] = keep ? m->marked[0] : 0;
		memset(m->bits[0], 0, sizeof(m->bits[0]));
		m->marked[0] = 0;
		m->since = now;
	}
	if (m->marked[0] + m->marked[1] > MID_CROWDED)
		return false;
	return ((m->bits[0][id / 64] | m->bits[1][id / 64]) >> (id % 64)) & 1;
}

coap_mid_t fg_obs_quiet_mid(struct lwm2m_client *c, coap_session_t *s)
{
	uint64_t now = fg_now(c);
	coap_mid_t mid = coap_new_message_id(s);
	uint64_t *w, bit;

	/* A Reset to it is reported by id alone (libcoap 4.3.1's log line):
	 * no NON notification may have used the id lately, nor use it soon. */
	for (int i = 0; i < MID_PROBES && mid_recent(c->mids, mid, now); i++)
		mid = coap_new_message_id(s);
	w = &c->mids->bits[0][(uint16_t)mid / 64];
	bit = UINT64_C(1) << ((uint16_t)mid % 64);
	c->mids->marked[0] += !(*w & bit);
	*w |= bit;
	return mid;
}

void fg_obs_unlink(struct lwm2m_endpoint *ep, struct fg_obs *o)
{
	mid_forget(ep->c, o);
	if (o->prev)
		o->prev->next = o->next;
	else
		ep->obs.list = o->next;
	if (o->next)
		o->next->prev = o->prev;
	if (o->tprev)
		o->tprev->tnext = o->tnext;
	else
		ep->c->targets[o->target - 1].obs = o->tnext;
	if (o->tnext)
		o->tnext->tprev = o->tprev;
	ep->c->stats.observations--;
	free(o);
}

/* ---- notifications ------------------------------------------------------------ */

/* Read the observed paths and encode them as the observation's format. */
static int obs_payload(struct lwm2m_endpoint *ep, const struct fg_obs *o, struct lwm2m_buf *out)
{
	struct lwm2m_store *s = o->dev ? o->dev->store : ep->store;
	struct lwm2m_records recs = { 0 };
	static const struct lwm2m_path root = { .len = 0 };
	size_t found = 0;
	int r = 0;

	if (!s)
		return -ENOENT;
	for (size_t i = 0; i < o->npaths; i++) {
		size_t n0 = recs.n;

		r = lwm2m_store_read(s, &o->paths[i], &recs);
		if (r == -ENOENT && o->composite)
			continue;
		if (r < 0)
			goto out;
		found++;
		if (o->dev && fg_ct_names_prefix(o->ct))
			for (size_t k = n0; k < recs.n; k++)
				recs.v[k].prefix = (struct lwm2m_span){ o->dev->prefix, o->dev->prefix_len };
	}
	if (!found) {
		r = -ENOENT;
		goto out;
	}
	lwm2m_records_sort(&recs);
	r = lwm2m_encode(o->ct, o->composite ? &root : &o->paths[0], recs.v, recs.n, out);
out:
	lwm2m_records_clear(&recs);
	return r;
}

/* RFC 7252 §4.8.2 MAX_TRANSMIT_WAIT of the session, µs: how long libcoap
 * may keep a CON without ACK (and the session's other CONs behind it). */
uint64_t fg_obs_max_transmit_wait_us(coap_session_t *s)
{
	coap_fixed_point_t at = coap_session_get_ack_timeout(s), rf = coap_session_get_ack_random_factor(s);
	uint64_t at_ms = at.integer_part * 1000u + at.fractional_part;
	uint64_t rf_milli = rf.integer_part * 1000u + rf.fractional_part;
	unsigned mr = coap_session_get_max_retransmit(s);

	/* ms * (1/1000) = µs */
	return at_ms * ((UINT64_C(1) << (mr < 20 ? mr + 1 : 21)) - 1) * rf_milli;
}

/* May a CON notification leave now without possibly holding back the
 * endpoint's next Update by more than one exchange? */
static bool con_allowed(const struct lwm2m_endpoint *ep, uint64_t now)
{
	uint64_t mtw = fg_obs_max_transmit_wait_us(ep->session);

	if (now < ep->obs.con_busy_until || ep->reg.req != REQ_NONE)
		return false;
	if (ep->reg.st == ST_REGISTERED && fg_timer_armed(&ep->reg.timer) && ep->reg.timer.when < now + mtw)
		return false;
	return true;
}

/* The notification message. With block, the body goes out as its first
 * Block2 with Size2 (RFC 7959 §2.4 with Observe, §3.4: the server GETs the
 * other blocks, which the Read handler serves block-wise). NULL on
 * failure; *too_big when the body alone does not fit one message. */
/* The libcoap resource whose large body answers the server's requests for
 * the next blocks of o's notification. libcoap 4.3.1 keeps one large body
 * per (resource, method, query) and session, and every request otherwise
 * reaches the one unknown resource: two large notifications of different
 * paths would serve each other's blocks. So each observed path gets a
 * resource of its own, made on first need and kept with the context
 * (requests to it go to fg_request_handler like all others). Composite
 * observations (FETCH /) share the unknown resource. */
coap_resource_t *fg_obs_block_resource(coap_session_t *s, const struct fg_obs *o)
{
	static const coap_request_t methods[] = {
		COAP_REQUEST_GET,    COAP_REQUEST_PUT,   COAP_REQUEST_POST,
		COAP_REQUEST_DELETE, COAP_REQUEST_FETCH, COAP_REQUEST_IPATCH,
	};
	struct fg_cctx *x = fg_cctx_of(s);
	char ps[32], path[128];
	coap_resource_t *r;
	coap_str_const_t key;
	int n;

	if (o->composite || o->paths[0].len == 0)
		return x->unknown;
	lwm2m_path_format(&o->paths[0], ps);
	n = snprintf(path, sizeof(path), "%.*s%s", o->dev ? (int)o->dev->prefix_len : 0,
		     o->dev ? o->dev->prefix : "", o->dev ? ps : ps + 1);
	if (n < 0 || (size_t)n >= sizeof(path))
		return x->unknown;
	key = (coap_str_const_t){ (size_t)n, (const uint8_t *)path };
	r = coap_get_resource_from_uri_path(x->ctx, &key);
	if (r)
		return r;
	r = coap_resource_init(coap_new_str_const((const uint8_t *)path, (size_t)n),
			       COAP_RESOURCE_FLAGS_RELEASE_URI);
	if (!r)
		return x->unknown;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		coap_register_request_handler(r, methods[i], fg_request_handler);
	coap_add_resource(x->ctx, r);
	return r;
}

static void free_body(coap_session_t *s, void *p)
{
	(void)s;
	free(p);
}

coap_pdu_t *fg_obs_notif_pdu(coap_session_t *s, coap_resource_t *unknown, const struct fg_obs *o, bool con,
			     coap_mid_t mid, int r, uint32_t seq, const struct lwm2m_buf *body, bool block,
			     bool *too_big)
{
	coap_pdu_t *pdu = coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON,
					r < 0 ? lwm2m_errno_to_coap(r) : COAP_RESPONSE_CODE(205), mid,
					coap_session_max_pdu_size(s));
	uint8_t buf[4];

	if (!pdu)
		return NULL;
	if (!coap_add_token(pdu, o->token_len, o->token))
		goto fail;
	if (r < 0)
		return pdu;
	/* With block, libcoap adds Content-Format, except 0 (text/plain),
	 * which it leaves out as dispatch.c notes. */
	if (!coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof(buf), seq), buf) ||
	    ((!block || o->ct == LWM2M_CT_TEXT) &&
	     !coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(buf, sizeof(buf), o->ct),
			      buf)))
		goto fail;
	if (block) {
		/* libcoap serves the server's GETs (FETCHes) of the next
		 * blocks from the large body registered here, matched by
		 * resource, method and query; a request stands in for the
		 * observation's. It owns the copy from now on. */
		coap_pdu_t *req = coap_pdu_init(
			COAP_MESSAGE_CON, o->composite ? COAP_REQUEST_CODE_FETCH : COAP_REQUEST_CODE_GET, 0,
			coap_session_max_pdu_size(s));
		uint8_t *copy = malloc(body->len);
		int ok;

		if (!req || !copy || !coap_add_token(req, o->token_len, o->token)) {
			coap_delete_pdu(req);
			free(copy);
			goto fail;
		}
		memcpy(copy, body->data, body->len);
		ok = coap_add_data_large_response(unknown, s, req, pdu, NULL, o->ct, -1, 0, body->len, copy,
						  free_body, copy);
		coap_delete_pdu(req);
		if (!ok)
			goto fail;
	} else if (body->len && !coap_add_data(pdu, body->len, body->data)) {
		*too_big = true;
		goto fail;
	}
	return pdu;
fail:
	coap_delete_pdu(pdu);
	return NULL;
}

static void obs_send(struct lwm2m_endpoint *ep, struct fg_obs *o, bool con)
{
	struct lwm2m_client *c = ep->c;
	struct lwm2m_buf body = { 0 };
	coap_session_t *s = ep->session;
	uint64_t now = fg_now(c);
	bool too_big = false;
	coap_pdu_t *pdu;
	coap_mid_t mid;
	uint32_t seq;
	int r;

	if (!s || ep->session_dead || ep->removing)
		return;
	/* Offline, or older values of these paths held: they leave first
	 * (sf.c), this one is among them. */
	if (fg_sf_holds(ep, o->dev, o->paths, o->npaths))
		return;
	con = con || o->want_con;
	if (con && !con_allowed(ep, now)) {
		con = false;
		o->want_con = true;
	}
	r = obs_payload(ep, o, &body);
	seq = r < 0 ? 0 : fg_obs_next_seq(c);
	mid = coap_new_message_id(s);
	/* A NON's id must name its observation when a Reset comes back (see
	 * the top of this file); skipping ids costs nothing. */
	for (int i = 0; !con && i < MID_PROBES && mid_recent(c->mids, mid, now); i++)
		mid = coap_new_message_id(s);
	pdu = fg_obs_notif_pdu(s, fg_cctx_of(s)->unknown, o, con, mid, r, seq, &body, false, &too_big);
	if (!pdu && too_big)
		pdu = fg_obs_notif_pdu(s, fg_obs_block_resource(s, o), o, con, mid, r, seq, &body, true,
				       &too_big);
	if (!pdu) {
		ep_log(ep, LWM2M_LOG_WARNING, "notification of %zu bytes could not be built; dropped",
		       body.len);
		goto out;
	}
	/* A NON in one datagram on an established session leaves libcoap
	 * nothing to time (no retransmission, no body for the next blocks,
	 * no handshake to wait for): its context's deadline stays what it
	 * was, and the turn of the loop that would compute it again (cctx.c,
	 * a third of the system calls of a notification) is spared. */
	if (!con && !too_big && coap_session_get_state(s) == COAP_SESSION_STATE_ESTABLISHED)
		mid = coap_send(s, pdu);
	else
		mid = fg_coap_send(s, pdu);
	if (mid == COAP_INVALID_MID)
		goto out; /* freed by coap_send */
	c->stats.notifications++;
	fg_target_notified(ep, o->dev);
	fg_sf_notified(ep);
	if (con) {
		o->want_con = false;
		mid_forget(c, o);
		ep->obs.con_busy_until = now + fg_obs_max_transmit_wait_us(s);
	} else {
		mid_note(c, o, mid, now);
	}
	if (r < 0) {
		/* An error response ends the observation (RFC 7641 §3.2). */
		fg_obs_cancel(ep, o);
	}
out:
	lwm2m_buf_free(&body);
}

static void on_obs_event(void *ctx, const struct lwm2m_obs_event *ev)
{
	struct lwm2m_client *c = ctx;
	struct fg_obs *o = (struct fg_obs *)(uintptr_t)ev->handle;
	struct lwm2m_endpoint *ep;

	if (ev->ep == 0 || ev->ep > c->ntargets || !c->targets[ev->ep - 1].ep)
		return;
	ep = c->targets[ev->ep - 1].ep;
	if (ev->kind == LWM2M_OBS_SAMPLE) {
		/* The store is the freshest value the client has: evaluate it
		 * (a bridge that can poll its device would do so here). */
		struct lwm2m_store *s = fg_obs_target_store(c, ev->ep);

		for (size_t i = 0; i < ev->npaths && s; i++) {
			struct lwm2m_value v;
			bool have = lwm2m_store_get(s, &ev->paths[i], &v) == 0;

			lwm2m_obs_value_changed(c->obs, ev->ep, &ev->paths[i], have ? &v : NULL,
						fg_obs_now_ms(c));
		}
		return;
	}
	obs_send(ep, o, ev->con);
}

void fg_obs_on_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	(void)t;
	c->ndue = 0; /* what is due leaves now */
	/* Run until nothing is due (a SAMPLE may make a NOTIFY due now). */
	for (int i = 0; i < 4 && lwm2m_obs_next_deadline(c->obs) <= fg_obs_now_ms(c); i++)
		if (lwm2m_obs_run(c->obs, fg_obs_now_ms(c), on_obs_event, c) <= 0)
			break;
	fg_obs_rearm(c);
}

/* A new value is about to replace one whose notification is due but not
 * yet sent (it waits for the heap dispatch, at the next turn of the loop):
 * read at the dispatch, the store would give the later value only, and a
 * change no pmin/st/gt/lt allowed to fold would never be notified (issue
 * 13: two values of one resource within a millisecond). Outside libcoap
 * sending is safe, so what is due leaves now, with the value it was due
 * for; a pmin still running has no deadline now, and folds as it should.
 * Inside a libcoap handler nothing may be sent: the later value then
 * replaces the earlier one, as before. Values of other resources (the
 * fields of one MQTT message) still join the due notification: each of
 * them is in it, and an observation of an instance gets one notification
 * per message, not one per field. */
#define DUE_MAX (sizeof(((struct lwm2m_client *)0)->due) / sizeof(((struct lwm2m_client *)0)->due[0]))

void fg_obs_due_note(struct lwm2m_client *c, uint32_t target, const struct lwm2m_path *p)
{
	for (size_t i = 0; i < c->ndue && i < DUE_MAX; i++)
		if (c->due[i].target == target && lwm2m_path_cmp(&c->due[i].p, p) == 0)
			return;
	if (c->ndue < DUE_MAX) {
		c->due[c->ndue].target = target;
		c->due[c->ndue].p = *p;
	}
	if (c->ndue <= DUE_MAX)
		c->ndue++;
}

void fg_obs_flush_due(struct lwm2m_client *c, uint32_t target, const struct lwm2m_path *p)
{
	bool pending = c->ndue > DUE_MAX;

	for (size_t i = 0; i < c->ndue && i < DUE_MAX && !pending; i++)
		pending = c->due[i].target == target && lwm2m_path_cmp(&c->due[i].p, p) == 0;
	if (!pending || c->in_coap || lwm2m_obs_next_deadline(c->obs) > fg_obs_now_ms(c))
		return;
	fg_obs_on_timer(c, &c->obs_timer);
}

void lwm2m_client_flush(struct lwm2m_client *c)
{
	if (!c || !c->ndue || c->in_coap || lwm2m_obs_next_deadline(c->obs) > fg_obs_now_ms(c))
		return;
	fg_obs_on_timer(c, &c->obs_timer);
}

void fg_obs_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason)
{
	coap_bin_const_t tok;
	bool ours;

	if (!sent || COAP_RESPONSE_CLASS(coap_pdu_get_code(sent)) < 2)
		return;
	tok = coap_pdu_get_token(sent);
	ours = fg_obs_find(ep, tok.s, tok.length) != NULL;
	if (coap_pdu_get_type(sent) == COAP_MESSAGE_CON && ours)
		ep->obs.con_busy_until = 0; /* that exchange is over */
	if (reason != COAP_NACK_ICMP_ISSUE && fg_obs_stop_token(ep, tok.s, tok.length))
		ep_log(ep, LWM2M_LOG_DEBUG, "observation cancelled by the server (reset or no answer)");
	if (!ours)
		return;
	if (reason == COAP_NACK_RST) {
		/* A server cancels an observation so (RFC 7641 §3.6); one that
		 * restarted answers so too: an Update tells which (4.04:
		 * registering again at once). */
		fg_ep_want_update(ep);
		return;
	}
	/* No answer to a confirmable notification, or nobody listens: the
	 * server is away (server.c). */
	fg_srv_lost(ep, reason == COAP_NACK_TOO_MANY_RETRIES ? -ETIMEDOUT : -EHOSTUNREACH,
		    reason == COAP_NACK_TOO_MANY_RETRIES ? "a confirmable notification got no answer"
							 : "ICMP: nobody listens at its address");
}

void fg_obs_reset(struct lwm2m_client *c, struct lwm2m_endpoint *only, coap_mid_t mid)
{
	uint64_t now = fg_now(c);
	struct lwm2m_endpoint *hit_ep;
	struct fg_obs *hit = NULL;
	size_t n = mid_find(c, only, mid, now, &hit);

	/* Ambiguous: let a CON notification of each ask. */
	while (n > 1 && mid_find(c, only, mid, now, &hit)) {
		hit->want_con = true;
		mid_forget(c, hit);
	}
	if (n == 1) {
		hit_ep = c->targets[hit->target - 1].ep;
		fg_obs_cancel(hit_ep, hit);
		ep_log(hit_ep, LWM2M_LOG_DEBUG,
		       "observation cancelled by the server (reset of a notification)");
		/* Or the server restarted: an Update tells (see fg_obs_nack). */
		fg_ep_want_update(hit_ep);
	} else if (n > 1) {
		fg_log(c, LWM2M_LOG_DEBUG, NULL,
		       "reset of message 0x%04x matches %zu observations: their next notification is CON",
		       mid, n);
	}
}
