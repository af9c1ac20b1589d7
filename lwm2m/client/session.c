/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An endpoint's CoAP session with its server: opening it (PSK or
 * certificate, the server certificate's name check), closing and renewing
 * it, dropping what libcoap still holds of an exchange given up, and
 * sending a request on it (Location-Path, queries, token).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certname.h"
#include "ep_internal.h"

/* ---- sessions ---------------------------------------------------------- */

/* Make libcoap forget every message it still holds for session s: CON
 * messages waiting for their ACK (retransmitted until MAX_TRANSMIT_SPAN
 * even after coap_session_release(), each holding a reference) and those
 * waiting for the DTLS handshake; a DTLS session loses its state too. A UDP
 * session stays usable, with its socket. The nack handler sees none of
 * it (no endpoint behind the session meanwhile). Never from inside a
 * libcoap handler: libcoap may be walking the very queue. */
static void drop_queued(coap_session_t *s)
{
	void *app = coap_session_get_app_data(s);

	coap_session_set_app_data(s, NULL);
	coap_session_disconnected(s, COAP_NACK_NOT_DELIVERABLE);
	coap_session_set_app_data(s, app);
}

void fg_ep_close_session(struct lwm2m_endpoint *ep)
{
	struct fg_cctx *x = fg_ep_cctx(ep);

	if (!ep->session)
		return;
	/* Answers still owed on this session cannot be sent any more, nor
	 * notifications: observations live on the session they came on. */
	fg_dm_abandon(ep);
	fg_obs_stop_all(ep);
	coap_session_set_app_data(ep->session, NULL);
	/* Closed for good: nothing queued may leave later from a socket the
	 * endpoint no longer reads (issue 11: old Registers delivered after an
	 * outage replaced the live registration), and the release below frees
	 * the session and closes its socket at once. */
	drop_queued(ep->session);
	coap_session_release(ep->session);
	fg_cctx_detach(x);
	ep->session = NULL;
	ep->session_dead = false;
	ep->drop_pending = false;
	fg_dedup_free(ep);
}

/* The exchange in flight was given up: what libcoap still holds of it
 * (retransmissions, a message waiting for the handshake) must never reach
 * the server. Called from handlers too, so the work is done from the
 * endpoint's drop timer, or before its next message, whichever is first. */
void fg_ep_abandon(struct lwm2m_endpoint *ep)
{
	ep->drop_pending = true;
	if (fg_timer_arm(ep->c, &ep->drop_timer, fg_now(ep->c)) < 0)
		ep_log(ep, LWM2M_LOG_ERR, "out of memory arming a timer");
}

/* From the loop, never from a libcoap handler. A DTLS session is closed
 * (the server may have lost its state: the next message handshakes on a
 * new one); a UDP session keeps its socket and source port, which is what
 * the server keys the registration on. */
static void ep_drop_pending(struct lwm2m_endpoint *ep)
{
	/* A renewal pending keeps the timer: it is done from there only, in
	 * whatever state the endpoint then is (see ep_renew()). */
	if (!ep->b1.renew_session)
		fg_timer_disarm(ep->c, &ep->drop_timer);
	if (!ep->drop_pending)
		return;
	ep->drop_pending = false;
	if (!ep->session)
		return;
	if (ep->secure || ep->session_dead) {
		fg_ep_close_session(ep);
		return;
	}
	drop_queued(ep->session);
	ep->obs.con_busy_until = 0;
}

void fg_ep_renew_session(struct lwm2m_endpoint *ep)
{
	if (ep->b1.renew_session)
		return;
	ep->b1.renew_session = true;
	ep_log(ep, LWM2M_LOG_NOTICE,
	       "%u block-wise requests with distinct Request-Tags on this session: renewing it (libcoap "
	       "4.3.1 frees its records of them only with the session) and registering again",
	       ep->c->cfg.block1_max_tags);
	if (fg_timer_arm(ep->c, &ep->drop_timer, fg_now(ep->c)) < 0)
		ep_log(ep, LWM2M_LOG_ERR, "out of memory arming a timer");
}

/* The session goes, with everything libcoap kept of it (and anything
 * queued on it); a registration, or an exchange towards one, starts again
 * on a new session at once. Waiting for a Register, de-registering or
 * bootstrapping: the next message opens the new session itself. */
static void ep_renew(struct lwm2m_endpoint *ep)
{
	ep->b1.renew_session = false;
	if (!ep->session)
		return;
	ep->c->stats.renewals++;
	fg_ep_close_session(ep);
	if (ep->removing)
		return;
	if (ep->reg.st == ST_REGISTERED || ep->reg.st == ST_REGISTERING || ep->reg.st == ST_UPDATING) {
		ep->reg.attempts = 0;
		fg_ep_schedule_register(ep, 0);
		fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
	}
}

void fg_ep_on_drop_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct lwm2m_endpoint *ep =
		(struct lwm2m_endpoint *)((char *)t - offsetof(struct lwm2m_endpoint, drop_timer));

	(void)c;
	if (ep->b1.renew_session)
		ep_renew(ep); /* closing drops what is queued too */
	else
		ep_drop_pending(ep);
}

/* Is the server's certificate (DER) one for ep->sec->cert_host? libcoap only
 * checks that it chains to the CA: any certificate of that CA would do. */
static bool server_cert_names_host(struct lwm2m_endpoint *ep, const uint8_t *der, size_t len)
{
	const char *host = ep->sec->cert_host; /* certificate mode */
	struct fg_certname_ref ref;
	char held[256];
	int r;

	/* Checked when the endpoint was added. */
	if (fg_certname_ref_parse(host, &ref) < 0)
		return false;
	r = fg_certname_check(der, len, &ref, held, sizeof(held));
	if (r == 0)
		return true;
	ep->cert_mismatch = true;
	if (r == -EPERM)
		ep_log(ep, LWM2M_LOG_WARNING, "server certificate refused: it is for %s, not for \"%s\"",
		       held, host);
	else
		ep_log(ep, LWM2M_LOG_WARNING,
		       "server certificate refused: cannot check that it is for \"%s\" (%s)", host, held);
	return false;
}

/* libcoap calls this for the certificates of the server's chain (openssl:
 * each, from the root down to the server's, depth 0; gnutls: the server's
 * alone, and only once the chain verified), validated = whether it
 * verified against ca_file. Refusing fails the handshake. */
static int check_server_cert(const char *cn, const uint8_t *asn1, size_t asn1_len, coap_session_t *session,
			     unsigned depth, int validated, void *arg)
{
	struct lwm2m_endpoint *ep = coap_session_get_app_data(session);

	(void)arg;
	if (!ep)
		return 0; /* a session given up: nothing to trust it for */
	if (!validated) {
		ep->cert_refused = true;
		ep_log(ep, LWM2M_LOG_WARNING, "server certificate \"%s\" (depth %u) not verified",
		       cn ? cn : "?", depth);
		return 0;
	}
	if (depth == 0 && !server_cert_names_host(ep, asn1, asn1_len))
		return 0;
	return 1;
}

/* What a failed handshake most likely means, for the log line. */
const char *fg_ep_dtls_hint(const struct lwm2m_endpoint *ep)
{
	if (!ep->sec || !ep->sec->cert_file)
		return "wrong PSK identity or key?";
	if (ep->cert_mismatch)
		return "the server's certificate is for another host";
	if (ep->cert_refused)
		return "the server's certificate does not verify against the CA";
	return "client certificate refused by the server, or server certificate not trusted?";
}

int fg_log_line_port(const char *msg, const char *arrow, unsigned long *port)
{
	const char *colon;

	/* "<local> <-> <remote> ...": the port after the last ':' before the
	 * arrow (an IPv6 address has more of them). */
	for (colon = arrow; colon > msg && *colon != ':'; colon--)
		;
	if (*colon != ':')
		return -EINVAL;
	*port = strtoul(colon + 1, NULL, 10);
	return 0;
}

void fg_ep_cert_log_line(struct lwm2m_client *c, const char *msg)
{
	/* libcoap reports a certificate of the peer that fails verification
	 * only in its log, as "<local> <-> <remote> DTLS: <reason>: '<CN>'
	 * depth=<n>" (openssl) or "... DTLS: <reason>: '<name>'" (gnutls):
	 * the local port tells the endpoint. */
	const char *arrow = strstr(msg, " <-> "), *dtls, *why;
	unsigned long port;
	size_t n;

	if (!arrow || !(dtls = strstr(arrow, " DTLS: ")))
		return;
	why = dtls + 7;
	n = strcspn(why, "\r\n");
	if (!strstr(why, "' depth=") && !(n > 0 && why[n - 1] == '\'' && strstr(why, ": '")))
		return;
	if (fg_log_line_port(msg, arrow, &port) < 0)
		return;
	for (struct lwm2m_endpoint *ep = c->eps; ep; ep = ep->next) {
		if (ep->sec && ep->sec->cert_file && ep->session && lwm2m_endpoint_local_port(ep) == port) {
			ep->cert_refused = true;
			ep_log(ep, LWM2M_LOG_WARNING, "server certificate refused: %.*s", (int)n, why);
			return;
		}
	}
}

int fg_ep_open_session(struct lwm2m_endpoint *ep)
{
	struct fg_cctx *x;
	coap_context_t *ctx;
	coap_session_t *s;
	int r;

	ep_drop_pending(ep);
	if (ep->session && !ep->session_dead)
		return 0;
	fg_ep_close_session(ep);
	/* lwm2m_endpoint_add() and bootstrap.c give a coaps endpoint its keys
	 * or certificate. */
	if ((ep->secure && !ep->sec) || !ep->srv.srv)
		return -EINVAL;
	r = fg_cctx_attach(ep->c, &x);
	if (r < 0)
		return r;
	ctx = x->ctx;
	if (ep->secure && ep->sec && ep->sec->cert_file) {
		coap_dtls_pki_t setup;

		memset(&setup, 0, sizeof(setup));
		setup.version = COAP_DTLS_PKI_SETUP_VERSION;
		setup.verify_peer_cert = !ep->cert_no_verify;
		setup.check_common_ca = !ep->cert_no_verify;
		setup.cert_chain_validation = 1;
		setup.cert_chain_verify_depth = 4;
		setup.allow_no_crl = 1;
		setup.allow_expired_crl = 1;
		setup.validate_cn_call_back = ep->cert_no_verify ? NULL : check_server_cert;
		setup.pki_key.key_type = COAP_PKI_KEY_PEM;
		setup.pki_key.key.pem.public_cert = ep->sec->cert_file;
		setup.pki_key.key.pem.private_key = ep->sec->key_file;
		setup.pki_key.key.pem.ca_file = ep->sec->ca_file;
		ep->cert_refused = ep->cert_mismatch = false;
		s = coap_new_client_session_pki(ctx, NULL, fg_srv_addr(ep->srv.srv), COAP_PROTO_DTLS, &setup);
	} else if (ep->secure) {
		coap_dtls_cpsk_t setup;

		memset(&setup, 0, sizeof(setup));
		setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
		setup.psk_info.identity.s = ep->sec->psk_identity;
		setup.psk_info.identity.length = ep->sec->psk_identity_len;
		setup.psk_info.key.s = ep->sec->psk_key;
		setup.psk_info.key.length = ep->sec->psk_key_len;
		s = coap_new_client_session_psk2(ctx, NULL, fg_srv_addr(ep->srv.srv), COAP_PROTO_DTLS,
						 &setup);
	} else {
		s = coap_new_client_session(ctx, NULL, fg_srv_addr(ep->srv.srv), COAP_PROTO_UDP);
	}
	if (!s) {
		fg_cctx_detach(x);
		return -EIO;
	}
	if (ep->c->cfg.ack_timeout_ms) {
		uint32_t ms = ep->c->cfg.ack_timeout_ms;
		coap_fixed_point_t at = { (uint16_t)(ms / 1000), (uint16_t)(ms % 1000) };

		coap_session_set_ack_timeout(s, at);
	}
	if (ep->c->cfg.max_retransmit)
		coap_session_set_max_retransmit(s, ep->c->cfg.max_retransmit);
	coap_session_set_app_data(s, ep);
	ep->session = s;
	/* A DTLS handshake started: its time-outs are in the next walk. */
	fg_cctx_touch(x);
	ep->dtls_connected = false;
	ep->obs.con_busy_until = 0;
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

static void release_body(coap_session_t *session, void *app_ptr)
{
	(void)session;
	free(app_ptr);
}

int fg_ep_add_location(coap_optlist_t **opts, const char *loc)
{
	const char *p = loc;

	if (*p == '/')
		p++;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (!coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_PATH, n, (const uint8_t *)p)))
			return -ENOMEM;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* The registration's Location-Path segments as Uri-Path options, exactly
 * as the server sent them (a segment may contain '/': lwm2m-node-lib sends
 * "rd/1" as one segment). */
int fg_ep_add_location_segs(coap_optlist_t **opts, const struct lwm2m_endpoint *ep)
{
	const uint8_t *segs;

	if (!ep->reg.location)
		return 0;
	segs = (const uint8_t *)ep->reg.location - ep->reg.loc_segs_len; /* see register.c */
	for (size_t off = 0; off + 2 <= ep->reg.loc_segs_len;) {
		uint16_t n;

		memcpy(&n, segs + off, 2);
		off += 2;
		if (!coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_PATH, n, segs + off)))
			return -ENOMEM;
		off += n;
	}
	return 0;
}

void fg_ep_forget_location(struct lwm2m_endpoint *ep)
{
	/* The block starts with the segments (register.c). */
	if (ep->reg.location)
		free(ep->reg.location - ep->reg.loc_segs_len);
	ep->reg.location = NULL;
	ep->reg.loc_segs_len = 0;
}

int fg_ep_add_query(coap_optlist_t **opts, const char *fmt, ...)
{
	char q[300];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(q))
		return -EINVAL;
	if (!coap_insert_optlist(opts,
				 coap_new_optlist(COAP_OPTION_URI_QUERY, (size_t)n, (const uint8_t *)q)))
		return -ENOMEM;
	return 0;
}

/* Build and send one request on the endpoint's session with a new token
 * (stored in tok). body (may be NULL) is handed to libcoap, with Content-
 * Format ct. */
int fg_ep_send_request(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts,
		       struct lwm2m_buf *body, uint16_t ct, uint8_t tok[8], uint8_t *toklen)
{
	coap_pdu_t *pdu;
	size_t n;
	int r;

	r = fg_ep_open_session(ep);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	pdu = coap_new_pdu(COAP_MESSAGE_CON, code, ep->session);
	if (!pdu)
		goto fail;
	coap_session_new_token(ep->session, &n, tok); /* at most 8 bytes */
	*toklen = (uint8_t)n;
	if (!coap_add_token(pdu, n, tok))
		goto fail_pdu;
	if (body) {
		uint8_t cf[4];

		if (!coap_insert_optlist(opts,
					 coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
							  coap_encode_var_safe(cf, sizeof(cf), ct), cf)))
			goto fail_pdu;
	}
	if (*opts && !coap_add_optlist_pdu(pdu, opts))
		goto fail_pdu;
	if (body && body->len) {
		uint8_t *data = body->data;
		size_t len = body->len;

		/* libcoap owns the body from here, even when it fails (it then
		 * calls release_body() itself), and frees it once sent, block
		 * by block when it exceeds the session's MTU. */
		body->data = NULL;
		body->len = body->cap = 0;
		if (!coap_add_data_large_request(ep->session, pdu, len, data, release_body, data))
			goto fail_pdu;
	}
	if (fg_coap_send(ep->session, pdu) == COAP_INVALID_MID) {
		/* coap_send() frees the PDU on failure. */
		r = -EIO;
		goto fail;
	}
	coap_delete_optlist(*opts);
	*opts = NULL;
	lwm2m_buf_free(body);
	return 0;
fail_pdu:
	coap_delete_pdu(pdu);
fail:
	coap_delete_optlist(*opts);
	*opts = NULL;
	lwm2m_buf_free(body);
	return r;
}

/* One registration-interface request (link-format body). */
int fg_ep_send_req(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts,
		   struct lwm2m_buf *body, enum req_kind kind)
{
	int r = fg_ep_send_request(ep, code, opts, body, LWM2M_CT_LINK, ep->reg.token, &ep->reg.token_len);

	if (r >= 0) {
		ep->reg.req = kind;
		ep->sf.req_mark = ep->sf.tx_mark;
	}
	return r;
}
