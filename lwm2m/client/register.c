/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registration interface's state machine: Register, Update,
 * De-register, pacing, backoff, the 4.12 version fall-back and
 * re-registration on 4.04, and libcoap's response, NACK and event
 * handlers.
 *
 * Every message leaves from the endpoint's timer (fg_ep_on_timer), never
 * from a libcoap handler: handlers record the outcome, change the state
 * and arm the timer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_internal.h"

static const char *version_str(uint8_t v)
{
	switch (v) {
	case 10:
		return "1.0";
	case 12:
		return "1.2";
	default:
		return "1.1";
	}
}

static int ep_send_register(struct lwm2m_endpoint *ep)
{
	coap_optlist_t *opts = NULL;
	struct lwm2m_buf body = { 0 };
	int r;

	r = fg_ep_links(ep, &body);
	if (r >= 0)
		r = fg_ep_add_location(&opts, "/rd");
	if (r >= 0)
		r = fg_ep_add_query(&opts, "ep=%s", ep->name);
	if (r >= 0)
		r = fg_ep_add_query(&opts, "lt=%u", ep->lifetime);
	if (r >= 0)
		r = fg_ep_add_query(&opts, "lwm2m=%s", version_str(ep->version));
	if (r >= 0)
		r = fg_ep_add_query(&opts, "b=%s", fg_ep_binding_str(ep));
	if (r >= 0 && ep->binding == LWM2M_BINDING_UQ && ep->version >= 11)
		r = fg_ep_add_query(&opts, "Q");
	if (r < 0) {
		coap_delete_optlist(opts);
		lwm2m_buf_free(&body);
		return r;
	}
	r = fg_ep_send_req(ep, COAP_REQUEST_CODE_POST, &opts, &body, REQ_REGISTER);
	if (r < 0)
		return r;
	ep->c->stats.registers++;
	ep_log(ep, LWM2M_LOG_DEBUG, "Register sent (LwM2M %s, lifetime %u s)", version_str(ep->version),
	       ep->lifetime);
	return 0;
}

static int ep_send_update(struct lwm2m_endpoint *ep)
{
	coap_optlist_t *opts = NULL;
	struct lwm2m_buf body = { 0 };
	bool links = ep->reg.links_changed, params = ep->reg.params_changed;
	int r;

	r = fg_ep_add_location_segs(&opts, ep);
	if (r >= 0 && params)
		r = fg_ep_add_query(&opts, "lt=%u", ep->lifetime);
	if (r >= 0 && params)
		r = fg_ep_add_query(&opts, "b=%s", fg_ep_binding_str(ep));
	if (r >= 0 && links)
		r = fg_ep_links(ep, &body);
	if (r < 0) {
		coap_delete_optlist(opts);
		lwm2m_buf_free(&body);
		return r;
	}
	r = fg_ep_send_req(ep, COAP_REQUEST_CODE_POST, &opts, links ? &body : NULL, REQ_UPDATE);
	lwm2m_buf_free(&body);
	if (r < 0)
		return r;
	ep->reg.links_changed = ep->reg.params_changed = false;
	ep->reg.want_update = false;
	ep->c->stats.updates++;
	ep_log(ep, LWM2M_LOG_DEBUG, "Update sent%s%s", links ? " (objects)" : "", params ? " (lt, b)" : "");
	return 0;
}

static int ep_send_deregister(struct lwm2m_endpoint *ep)
{
	coap_optlist_t *opts = NULL;
	int r;

	r = fg_ep_add_location_segs(&opts, ep);
	if (r < 0) {
		coap_delete_optlist(opts);
		return r;
	}
	r = fg_ep_send_req(ep, COAP_REQUEST_CODE_DELETE, &opts, NULL, REQ_DEREGISTER);
	if (r < 0)
		return r;
	ep_log(ep, LWM2M_LOG_DEBUG, "De-register sent");
	return 0;
}

/* ---- state machine --------------------------------------------------------- */

uint64_t fg_ep_update_at(uint64_t now, uint32_t lifetime)
{
	uint64_t lt = (uint64_t)lifetime * SEC, margin = lt / 10, at, tick;

	/* The server removes a registration not renewed within its lifetime
	 * (LwM2M core, Registration Interface): the Update leaves a margin
	 * before that, a tenth of the lifetime but at least
	 * UPDATE_MARGIN_MIN_US (room for two retransmissions of a lost
	 * Update: 2-3 s, then 4-6 s more), and never later than half the
	 * lifetime (short lifetimes keep one Update every lifetime/2).
	 * Zephyr's client sends it 6 s before, Wakaama's MAX_TRANSMIT_WAIT
	 * (93 s) before or at lifetime/2; at lifetime/2 always, as before,
	 * every registration cost two Updates a lifetime. */
	if (margin < UPDATE_MARGIN_MIN_US)
		margin = UPDATE_MARGIN_MIN_US;
	if (margin > lt / 2)
		margin = lt / 2;
	at = now + lt - margin;
	/* Updates due in the same tick go from one wake-up of the loop: the
	 * deadline is rounded up to a multiple of the tick, a hundredth of
	 * the wait but at most UPDATE_TICK_US, so the Update is late by at
	 * most 1 % of the wait (a 10 s margin absorbs it). */
	tick = (lt - margin) / 100;
	if (tick > UPDATE_TICK_US)
		tick = UPDATE_TICK_US;
	if (tick > 1)
		at += (tick - at % tick) % tick;
	return at;
}

void fg_ep_arm(struct lwm2m_endpoint *ep, uint64_t when)
{
	if (fg_timer_arm(ep->c, &ep->reg.timer, when) < 0)
		/* The heap could not grow: the endpoint would stall silently,
		 * so say so; the next state change retries. */
		ep_log(ep, LWM2M_LOG_ERR, "out of memory arming a timer");
}

double lwm2m_update_period(uint32_t lifetime)
{
	return (double)fg_ep_update_at(0, lifetime) / SEC;
}

/* slack_us: how far ahead a slot may be and still be taken now; *wait:
 * how long the message waits for its slot (0 when sent now). */
static bool paced(struct lwm2m_endpoint *ep, uint64_t slack_us, uint64_t *wait)
{
	uint64_t at, now = fg_now(ep->c);

	*wait = 0;
	if (ep->reg.slot_reserved) {
		ep->reg.slot_reserved = false;
		return true;
	}
	at = fg_client_take_slot(ep->c);
	if (at <= now + slack_us)
		return true;
	ep->reg.slot_reserved = true;
	*wait = at - now;
	fg_ep_arm(ep, at);
	return false;
}

bool fg_ep_paced(struct lwm2m_endpoint *ep)
{
	uint64_t wait;

	return paced(ep, 0, &wait);
}

/* An Update that waits for a slot longer than half the smallest margin
 * (fg_ep_update_at) eats into the time the server gives it: reg_rate is
 * too low for the endpoints and their lifetime, and registrations will
 * expire. Said at most once a minute. */
static void update_waits(struct lwm2m_endpoint *ep, uint64_t wait)
{
	struct lwm2m_client *c = ep->c;
	uint64_t now = fg_now(c);

	if (wait <= UPDATE_MARGIN_MIN_US / 2 || (c->behind_warned && now - c->behind_warned < 60 * SEC))
		return;
	c->behind_warned = now;
	ep_log(ep, LWM2M_LOG_WARNING,
	       "Update waits %.1f s for a register_rate slot: %zu endpoints with lifetime %u s need %.1f "
	       "Updates/s, register_rate allows %.1f; registrations may expire: raise register_rate or "
	       "the lifetime",
	       (double)wait / SEC, c->nep, ep->lifetime, (double)c->nep / lwm2m_update_period(ep->lifetime),
	       (double)SEC / (double)c->reg_interval);
}

/* The endpoint must go: free it from the loop, not from this call stack
 * (which may be inside a libcoap handler). */
void fg_ep_kill(struct lwm2m_endpoint *ep)
{
	ep->reg.st = ST_DEAD;
	ep->reg.req = REQ_NONE;
	ep->reg.slot_reserved = false;
	fg_ep_arm(ep, fg_now(ep->c));
}

/* Queue a Register: at the next pacing slot, or after delay_us. */
void fg_ep_schedule_register(struct lwm2m_endpoint *ep, uint64_t delay_us)
{
	ep->reg.st = ST_WAIT_REGISTER;
	ep->reg.req = REQ_NONE;
	fg_ep_forget_location(ep);
	ep->reg.slot_reserved = false;
	fg_ep_arm(ep, fg_now(ep->c) + delay_us);
}

static uint64_t backoff_us(struct lwm2m_endpoint *ep)
{
	const struct lwm2m_client_config *cfg = &ep->c->cfg;

	return fg_client_backoff(ep->c, (uint64_t)cfg->backoff_min_ms * MS,
				 (uint64_t)cfg->backoff_max_ms * MS, &ep->reg.attempts);
}

static const char *req_name(enum req_kind k)
{
	switch (k) {
	case REQ_REGISTER:
		return "Register";
	case REQ_UPDATE:
		return "Update";
	case REQ_DEREGISTER:
		return "De-register";
	default:
		return "request";
	}
}

/* A registration exchange failed: retry with backoff (or finish going). */
static void ep_failed(struct lwm2m_endpoint *ep, int err, const char *why)
{
	enum req_kind k = ep->reg.req;
	uint64_t d;

	if (k == REQ_NONE)
		return;
	ep->c->stats.failures++;
	if (k == REQ_DEREGISTER || ep->removing) {
		ep_log(ep, LWM2M_LOG_INFO, "%s failed: %s", req_name(k), why);
		fg_ep_kill(ep);
		return;
	}
	if (ep->bs && fg_bs_failed(ep, k, err, why))
		return;
	/* No answer: the server is away (every registration with it is
	 * lost), not this endpoint refused; one probe finds out when it is
	 * back. */
	if (fg_srv_unreachable(err) && fg_srv_lost(ep, err, why))
		return;
	d = backoff_us(ep);
	ep_log(ep, err == -ECONNREFUSED ? LWM2M_LOG_ERR : LWM2M_LOG_WARNING,
	       "%s failed: %s; retrying in %.1f s", req_name(k), why, (double)d / SEC);
	fg_ep_schedule_register(ep, d);
	fg_ep_set_state(ep, LWM2M_EP_WAITING, err);
}

/* The exchange in flight got no usable answer and is given up: nothing
 * of it may be sent any more (fg_ep_abandon), then as ep_failed(). */
static void ep_gave_up(struct lwm2m_endpoint *ep, int err, const char *why)
{
	if (ep->reg.req == REQ_NONE)
		return;
	fg_ep_abandon(ep);
	ep_failed(ep, err, why);
}

static void ep_registered(struct lwm2m_endpoint *ep)
{
	ep->reg.st = ST_REGISTERED;
	ep->reg.req = REQ_NONE;
	ep->reg.attempts = 0;
	ep->reg.slot_reserved = false;
	if (ep->removing) {
		fg_ep_arm(ep, fg_now(ep->c));
		return;
	}
	if (ep->reg.want_update)
		fg_ep_arm(ep, fg_now(ep->c));
	else
		fg_ep_arm(ep, fg_ep_update_at(fg_now(ep->c), ep->lifetime));
	fg_ep_set_state(ep, LWM2M_EP_REGISTERED, 0);
	ep->sf.last_exchange = fg_now(ep->c);
	ep->sf.sleeping = false;
	fg_sf_online(ep);
}

void fg_ep_want_update(struct lwm2m_endpoint *ep)
{
	ep->reg.want_update = true;
	if (ep->reg.st == ST_REGISTERED && !ep->reg.slot_reserved && !ep->removing)
		fg_ep_arm(ep, fg_now(ep->c));
}

bool fg_ep_online(const struct lwm2m_endpoint *ep)
{
	return (ep->reg.st == ST_REGISTERED || ep->reg.st == ST_UPDATING) && !ep->removing &&
	       !ep->sf.sleeping && ep->session && !ep->session_dead;
}

void fg_ep_park(struct lwm2m_endpoint *ep, int err)
{
	/* What was on its way is held again before anything is dropped. */
	fg_sf_offline(ep);
	/* Nothing queued for the old registration may reach the server when
	 * it is back (a DTLS session is closed: the server's is gone too). */
	fg_ep_abandon(ep);
	ep->srv.parked = true;
	ep->srv.probing = false;
	ep->reg.st = ST_WAIT_REGISTER;
	ep->reg.req = REQ_NONE;
	ep->reg.slot_reserved = false;
	fg_ep_forget_location(ep);
	fg_timer_disarm(ep->c, &ep->reg.timer);
	fg_ep_set_state(ep, LWM2M_EP_WAITING, err);
}

void fg_ep_unpark(struct lwm2m_endpoint *ep, bool probe)
{
	if (!ep->srv.parked)
		return;
	ep->srv.parked = false;
	ep->srv.probing = probe;
	ep->reg.attempts = 0;
	fg_ep_schedule_register(ep, 0);
}

/* The Location-Path of a 2.01: the segments as received (struct
 * fg_ep_reg, *segs_len bytes) then *loc, them joined with '/' (for
 * display), in one block of their exact size that starts *segs_len bytes
 * before *loc: kept for the whole registration of every endpoint, where
 * two growing buffers took 2 x 64 bytes and two allocations for ~20
 * bytes. The segments come first because a segment may hold a '\0'.
 * 0, -ENOENT (none), -ENOMEM. */
static int location_of(const coap_pdu_t *pdu, char **loc, uint32_t *segs_len)
{
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	struct lwm2m_buf b = { 0 }, sb = { 0 };
	uint8_t *blk;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
	coap_option_iterator_init(pdu, &oi, &f);
	while ((o = coap_option_next(&oi))) {
		uint16_t n = (uint16_t)coap_opt_length(o);

		if (lwm2m_buf_putc(&b, '/') < 0 || lwm2m_buf_append(&b, coap_opt_value(o), n) < 0 ||
		    lwm2m_buf_append(&sb, &n, 2) < 0 || lwm2m_buf_append(&sb, coap_opt_value(o), n) < 0)
			goto oom;
	}
	if (!sb.len) {
		lwm2m_buf_free(&b);
		return -ENOENT;
	}
	if (lwm2m_buf_putc(&b, '\0') < 0 || sb.len > UINT32_MAX)
		goto oom;
	blk = malloc(b.len + sb.len);
	if (!blk)
		goto oom;
	memcpy(blk, sb.data, sb.len);
	memcpy(blk + sb.len, b.data, b.len);
	*loc = (char *)blk + sb.len;
	*segs_len = (uint32_t)sb.len;
	lwm2m_buf_free(&b);
	lwm2m_buf_free(&sb);
	return 0;
oom:
	lwm2m_buf_free(&b);
	lwm2m_buf_free(&sb);
	return -ENOMEM;
}

static void code_str(uint8_t code, char out[8])
{
	snprintf(out, 8, "%u.%02u", (unsigned)(code >> 5), (unsigned)(code & 31));
}

static void on_register_response(struct lwm2m_endpoint *ep, uint8_t code, const coap_pdu_t *pdu)
{
	char cs[8];

	/* Any answer: the server is there (a refusal is this endpoint's). */
	fg_srv_alive(ep);
	code_str(code, cs);
	if (code == COAP_RESPONSE_CODE(201)) {
		char *loc = NULL;
		uint32_t segs_len = 0;
		int r = location_of(pdu, &loc, &segs_len);

		if (r < 0) {
			ep_failed(ep, r, r == -ENOENT ? "2.01 without Location-Path" : "out of memory");
			return;
		}
		fg_ep_forget_location(ep);
		ep->reg.location = loc;
		ep->reg.loc_segs_len = segs_len;
		ep->reg.links_changed = ep->reg.params_changed = ep->reg.want_update = false;
		/* A new registration ends the observations of the old one. */
		fg_obs_stop_all(ep);
		ep_log(ep, LWM2M_LOG_INFO, "registered as %s (LwM2M %s, lifetime %u s)", loc,
		       version_str(ep->version), ep->lifetime);
		ep_registered(ep);
		return;
	}
	if (code == COAP_RESPONSE_CODE(412) && ep->version > 10 && !ep->removing) {
		uint8_t old = ep->version;

		ep->version = ep->version == 12 ? 11 : 10;
		ep_log(ep, LWM2M_LOG_NOTICE, "server refused LwM2M %s (4.12): offering %s", version_str(old),
		       version_str(ep->version));
		/* The binding string depends on the version. */
		if (ep->store)
			fg_ep_server_object_init(ep);
		fg_ep_schedule_register(ep, 0);
		fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
		return;
	}
	char why[64];
	snprintf(why, sizeof(why), "server answered %s", cs);
	ep_failed(ep, -EPROTO, why);
}

static void on_update_response(struct lwm2m_endpoint *ep, uint8_t code)
{
	char cs[8], why[64];

	fg_srv_alive(ep);
	if (code == COAP_RESPONSE_CODE(204)) {
		ep_log(ep, LWM2M_LOG_DEBUG, "Update accepted");
		fg_sf_confirmed(ep, ep->sf.req_mark);
		ep_registered(ep);
		return;
	}
	code_str(code, cs);
	if (code == COAP_RESPONSE_CODE(404) && !ep->removing) {
		/* The server forgot us (restart, expired): register again at
		 * once, without backoff. */
		ep_log(ep, LWM2M_LOG_NOTICE, "Update answered 4.04: registering again");
		fg_sf_offline(ep);
		ep->reg.attempts = 0;
		fg_ep_schedule_register(ep, 0);
		fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
		fg_srv_restarted(ep);
		return;
	}
	snprintf(why, sizeof(why), "server answered %s", cs);
	ep_failed(ep, -EPROTO, why);
}

coap_response_t fg_response_handler(coap_session_t *session, const coap_pdu_t *sent,
				    const coap_pdu_t *received, const coap_mid_t mid)
{
	struct lwm2m_endpoint *ep = coap_session_get_app_data(session);
	coap_bin_const_t tok = coap_pdu_get_token(received);
	uint8_t code = (uint8_t)coap_pdu_get_code(received);

	(void)sent;
	(void)mid;
	if (ep && fg_sf_response(ep, received, code))
		return COAP_RESPONSE_OK;
	if (ep && ep->reg.send_token_len && tok.length == ep->reg.send_token_len &&
	    !memcmp(tok.s, ep->reg.send_token, tok.length)) {
		if (COAP_RESPONSE_CLASS(code) != 2)
			ep_log(ep, LWM2M_LOG_WARNING, "Send answered %u.%02u", code >> 5, code & 31);
		return COAP_RESPONSE_OK;
	}
	if (!ep || ep->reg.req == REQ_NONE || tok.length != ep->reg.token_len ||
	    memcmp(tok.s, ep->reg.token, tok.length))
		return COAP_RESPONSE_OK;
	switch (ep->reg.req) {
	case REQ_REGISTER:
		on_register_response(ep, code, received);
		break;
	case REQ_UPDATE:
		on_update_response(ep, code);
		break;
	case REQ_DEREGISTER:
		ep_log(ep, LWM2M_LOG_INFO, "de-registered (%u.%02u)", code >> 5, code & 31);
		fg_sf_confirmed(ep, ep->sf.req_mark);
		fg_ep_forget_location(ep);
		fg_ep_kill(ep);
		break;
	case REQ_BOOTSTRAP:
		fg_bs_response(ep, code);
		break;
	case REQ_NONE:
		break;
	}
	return COAP_RESPONSE_OK;
}

static bool token_matches(const struct lwm2m_endpoint *ep, const coap_pdu_t *pdu)
{
	coap_bin_const_t tok;

	if (!pdu)
		return false;
	tok = coap_pdu_get_token(pdu);
	return tok.length == ep->reg.token_len && !memcmp(tok.s, ep->reg.token, tok.length);
}

void fg_nack_handler(coap_session_t *session, const coap_pdu_t *sent, const coap_nack_reason_t reason,
		     const coap_mid_t mid)
{
	struct lwm2m_endpoint *ep = coap_session_get_app_data(session);

	if (!ep)
		return;
	if (fg_sf_nack(ep, sent, reason, mid))
		return;
	if (reason == COAP_NACK_RST || reason == COAP_NACK_TOO_MANY_RETRIES || reason == COAP_NACK_ICMP_ISSUE)
		fg_obs_nack(ep, sent, reason);
	/* libcoap after 4.3.1 reports a Reset to a NON message here. */
	if (reason == COAP_NACK_RST && (!sent || coap_pdu_get_type(sent) == COAP_MESSAGE_NON))
		fg_obs_reset(ep->c, ep, mid);
	if (ep->reg.req == REQ_NONE)
		return;
	/* A failed DTLS handshake drops every queued message of the session,
	 * whatever its token. */
	if (reason != COAP_NACK_TLS_FAILED && !token_matches(ep, sent))
		return;
	switch (reason) {
	case COAP_NACK_TOO_MANY_RETRIES:
		ep_gave_up(ep, -ETIMEDOUT, "no answer from the server");
		break;
	case COAP_NACK_RST:
		ep_gave_up(ep, -ECONNREFUSED, "server answered with a CoAP reset");
		break;
	case COAP_NACK_TLS_FAILED: {
		char why[160];

		ep->session_dead = true;
		snprintf(why, sizeof(why), "DTLS handshake failed (%s)", fg_ep_dtls_hint(ep));
		ep_gave_up(ep, -ECONNREFUSED, why);
		break;
	}
	case COAP_NACK_ICMP_ISSUE:
		/* Nobody listens there now. libcoap keeps the message to
		 * retransmit it (ep_gave_up drops it); a UDP session stays
		 * usable and keeps its source port, a DTLS one has lost its
		 * state with the server's. */
		if (ep->secure)
			ep->session_dead = true;
		ep_gave_up(ep, -EHOSTUNREACH, "server unreachable");
		break;
	default:
		ep->session_dead = true;
		ep_gave_up(ep, -EHOSTUNREACH, "server unreachable");
		break;
	}
}

int fg_event_handler(coap_session_t *session, const coap_event_t event)
{
	struct lwm2m_endpoint *ep = session ? coap_session_get_app_data(session) : NULL;

	if (!ep)
		return 0;
	switch (event) {
	case COAP_EVENT_DTLS_ERROR:
	case COAP_EVENT_DTLS_CLOSED:
		ep->session_dead = true;
		if (ep->reg.req != REQ_NONE) {
			char why[160];

			snprintf(why, sizeof(why), "DTLS handshake failed (%s)", fg_ep_dtls_hint(ep));
			/* libcoap (gnutls) reports a handshake it aborted
			 * itself, on our refusal too, as closed. */
			ep_gave_up(ep, -ECONNREFUSED,
				   event == COAP_EVENT_DTLS_ERROR || !ep->dtls_connected
					   ? why
					   : "DTLS session closed by the server");
		}
		break;
	case COAP_EVENT_DTLS_CONNECTED:
		ep->dtls_connected = true;
		ep_log(ep, LWM2M_LOG_DEBUG, "DTLS session established");
		/* The handshake deadline becomes the exchange's own. */
		if (ep->reg.req != REQ_NONE)
			fg_ep_arm(ep, fg_now(ep->c) + (uint64_t)ep->c->cfg.request_timeout_ms * MS);
		break;
	case COAP_EVENT_SESSION_FAILED:
	case COAP_EVENT_SESSION_CLOSED:
		ep->session_dead = true;
		break;
	default:
		break;
	}
	return 0;
}

bool fg_ep_handshaking(const struct lwm2m_endpoint *ep)
{
	return ep->secure && ep->session &&
	       coap_session_get_state(ep->session) != COAP_SESSION_STATE_ESTABLISHED;
}

/* Time-out of the exchange just sent: the DTLS handshake first, when one
 * is still running (extended once it completes, see fg_event_handler). */
static uint64_t exchange_deadline(const struct lwm2m_endpoint *ep)
{
	const struct lwm2m_client_config *cfg = &ep->c->cfg;
	uint32_t ms = cfg->request_timeout_ms;

	if (fg_ep_handshaking(ep) && cfg->dtls_timeout_ms < ms)
		ms = cfg->dtls_timeout_ms;
	return fg_srv_probe_deadline(ep, fg_now(ep->c) + (uint64_t)ms * MS);
}

void fg_ep_on_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct lwm2m_endpoint *ep = fg_ep_of_timer(t);
	uint64_t wait;
	int r;

	switch (ep->reg.st) {
	case ST_DEAD:
		fg_ep_free(ep);
		return;
	case ST_BOOTSTRAP:
		fg_bs_on_timer(ep);
		return;
	case ST_WAIT_REGISTER:
		if (ep->removing) {
			fg_ep_free(ep);
			return;
		}
		/* Its server is away: one probe at a time (server.c). */
		if (fg_srv_parks(ep))
			return;
		if (!fg_ep_paced(ep))
			return;
		r = ep_send_register(ep);
		if (r < 0) {
			ep->reg.req = REQ_REGISTER;
			ep_failed(ep, r, strerror(-r));
			return;
		}
		ep->reg.st = ST_REGISTERING;
		fg_ep_arm(ep, exchange_deadline(ep));
		fg_ep_set_state(ep, LWM2M_EP_REGISTERING, 0);
		return;
	case ST_REGISTERED:
		if (ep->removing) {
			r = ep_send_deregister(ep);
			if (r < 0) {
				fg_ep_free(ep);
				return;
			}
			ep->reg.st = ST_DEREGISTERING;
			fg_ep_arm(ep, exchange_deadline(ep));
			fg_ep_set_state(ep, LWM2M_EP_DEREGISTERING, 0);
			return;
		}
		/* Updates due in one tick (fg_ep_update_at) leave together:
		 * they take register_rate's slots as Registers do, but a slot
		 * up to a tick ahead is taken now, so a burst is at most one
		 * tick's worth of slots and the long-run rate stays
		 * register_rate. Registers keep their exact slots. */
		if (!paced(ep, UPDATE_TICK_US, &wait)) {
			update_waits(ep, wait);
			return;
		}
		r = ep_send_update(ep);
		if (r < 0) {
			ep->reg.req = REQ_UPDATE;
			ep_failed(ep, r, strerror(-r));
			return;
		}
		fg_cctx_update_sent(fg_ep_cctx(ep));
		ep->reg.st = ST_UPDATING;
		fg_ep_arm(ep, exchange_deadline(ep));
		return;
	case ST_REGISTERING:
	case ST_UPDATING:
	case ST_DEREGISTERING:
		if (fg_ep_handshaking(ep)) {
			char why[160];

			snprintf(why, sizeof(why), "DTLS handshake not completed in %u s (%s)",
				 c->cfg.dtls_timeout_ms / 1000, fg_ep_dtls_hint(ep));
			ep->session_dead = true;
			ep_gave_up(ep, -ECONNREFUSED, why);
		} else {
			ep_gave_up(ep, -ETIMEDOUT, "no answer in time");
		}
		return;
	}
}
