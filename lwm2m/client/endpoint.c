/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoints and the registration interface: Register, Update, De-register,
 * pacing, backoff, the 4.12 version fall-back and re-registration on 4.04.
 *
 * Every message leaves from the endpoint's timer (ep_on_timer), never from
 * a libcoap handler: handlers record the outcome, change the state and arm
 * the timer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certname.h"
#include "client_internal.h"

#define MS  1000u
#define SEC 1000000u

static void ep_on_timer(struct lwm2m_client *c, struct fg_timer *t);

const char *lwm2m_ep_state_name(enum lwm2m_ep_state s)
{
	switch (s) {
	case LWM2M_EP_WAITING:
		return "waiting";
	case LWM2M_EP_REGISTERING:
		return "registering";
	case LWM2M_EP_REGISTERED:
		return "registered";
	case LWM2M_EP_DEREGISTERING:
		return "deregistering";
	case LWM2M_EP_BOOTSTRAPPING:
		return "bootstrapping";
	}
	return "?";
}

static struct lwm2m_endpoint *ep_of_timer(struct fg_timer *t)
{
	return (struct lwm2m_endpoint *)((char *)t - offsetof(struct lwm2m_endpoint, timer));
}

const struct lwm2m_objdef *fg_objdef(const struct lwm2m_endpoint *ep, uint16_t oid)
{
	return lwm2m_registry_find(ep->c->reg, oid);
}

uint16_t fg_ep_default_ct(const struct lwm2m_endpoint *ep)
{
	if (ep->ct_cfg)
		return ep->ct_cfg;
	return ep->version >= 11 ? LWM2M_CT_SENML_CBOR : LWM2M_CT_TLV;
}

void fg_ep_set_state(struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct lwm2m_client *c = ep->c;

	if (ep->pub_st == st && !err)
		return;
	if (ep->pub_st == LWM2M_EP_REGISTERED && st != LWM2M_EP_REGISTERED)
		c->stats.registered--;
	else if (ep->pub_st != LWM2M_EP_REGISTERED && st == LWM2M_EP_REGISTERED)
		c->stats.registered++;
	ep->pub_st = st;
	if (ep->ops && ep->ops->state && !ep->removing)
		ep->ops->state(ep->ops_ud, ep, st, err);
}

/* ---- the object list of Register and Update ---------------------------- */

struct link_item {
	uint16_t oid;
	uint16_t iid; /* 0xFFFF: the object itself (declared, no instance) */
};

static int collect_inst(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	struct {
		struct link_item *v;
		size_t n, cap;
	} *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct link_item *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct link_item){ def->oid, iid };
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct link_item *x = a, *y = b;

	if (x->oid != y->oid)
		return x->oid < y->oid ? -1 : 1;
	/* The bare object (0xFFFF) sorts first: swap so it reads lowest. */
	uint16_t xi = (uint16_t)(x->iid + 1), yi = (uint16_t)(y->iid + 1);
	return xi < yi ? -1 : xi > yi;
}

unsigned fg_announced_version(const struct lwm2m_objdef *def, uint8_t enabler)
{
	unsigned v = def->ver_major * 10u + def->ver_minor;

	if (enabler < 10)
		return v;
	/* Registry facts (LWM2MVersion of the DDFs): the core objects 0-7 of
	 * LwM2M 1.0 are all version 1.0, their later versions need LwM2M 1.1,
	 * except Server 1.2 (LwM2M 1.2). */
	if (def->oid <= 7 && enabler == 10)
		return 10;
	if (def->oid == 1 && v > enabler)
		return enabler;
	return v;
}

int fg_links(const struct lwm2m_client *c, const struct lwm2m_store *s, const uint16_t *declared,
	     size_t ndeclared, bool comma, uint8_t enabler, struct lwm2m_buf *out)
{
	struct {
		struct link_item *v;
		size_t n, cap;
	} l = { 0 };
	int r = 0;

	if (s) {
		r = lwm2m_store_foreach_instance(s, collect_inst, &l);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < ndeclared; i++) {
		r = collect_inst(&l, &(struct lwm2m_objdef){ .oid = declared[i] }, 0xFFFF);
		if (r < 0)
			goto out;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_item);
	for (size_t i = 0; i < l.n; i++) {
		uint16_t oid = l.v[i].oid;
		bool first = i == 0 || l.v[i - 1].oid != oid;
		const char *sep = comma ? "," : "";

		/* Security and OSCORE are never announced (TS Register). */
		if (oid == 0 || oid == 21)
			continue;
		if (!first) {
			if (l.v[i].iid == 0xFFFF)
				continue;
		} else {
			const struct lwm2m_objdef *def = lwm2m_registry_find(c->reg, oid);
			unsigned v = def ? fg_announced_version(def, enabler) : 10;
			bool has_inst = false, ver = v != 10;

			for (size_t k = i; k < l.n && l.v[k].oid == oid; k++)
				has_inst |= l.v[k].iid != 0xFFFF;
			/* </oid> alone for an object without instances, and
			 * before the instances when it carries a version. */
			if (ver)
				r = lwm2m_buf_printf(out, "%s</%u>;ver=%u.%u", sep, oid, v / 10, v % 10);
			else if (!has_inst)
				r = lwm2m_buf_printf(out, "%s</%u>", sep, oid);
			if (r < 0)
				goto out;
			if (ver || !has_inst)
				comma = true, sep = ",";
			if (l.v[i].iid == 0xFFFF)
				continue;
		}
		r = lwm2m_buf_printf(out, "%s</%u/%u>", sep, oid, l.v[i].iid);
		if (r < 0)
			goto out;
		comma = true;
	}
	r = 0;
out:
	free(l.v);
	return r;
}

int fg_ep_links(const struct lwm2m_endpoint *ep, struct lwm2m_buf *out)
{
	int r = lwm2m_buf_printf(out, "</>;rt=\"oma.lwm2m\";ct=%u", (unsigned)fg_ep_default_ct(ep));

	if (r < 0)
		return r;
	return fg_links(ep->c, ep->store, ep->declared, ep->ndeclared, true, ep->version, out);
}

/* ---- /1 (Server) ------------------------------------------------------- */

static const char *binding_str(const struct lwm2m_endpoint *ep)
{
	/* LwM2M 1.1 moved queue mode out of the binding into the "Q" query
	 * parameter; 1.0 spells it "UQ". */
	if (ep->binding == LWM2M_BINDING_UQ && ep->version < 11)
		return "UQ";
	return "U";
}

static int server_object_init(struct lwm2m_endpoint *ep)
{
	struct lwm2m_store *s = ep->store;
	const char *b = binding_str(ep);
	int r;

	r = lwm2m_store_add_instance(s, 1, 0);
	if (r < 0 && r != -EEXIST)
		return r;
	r = lwm2m_store_set(s, &LWM2M_PATH(1, 0, 0),
			    &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = ep->ssid });
	if (r >= 0)
		r = lwm2m_store_set(s, &LWM2M_PATH(1, 0, 1),
				    &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = ep->lifetime });
	if (r >= 0)
		r = lwm2m_store_set(s, &LWM2M_PATH(1, 0, 6),
				    &(struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = ep->storing });
	if (r >= 0)
		r = lwm2m_store_set(s, &LWM2M_PATH(1, 0, 7),
				    &(struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
							   .bytes = { (const uint8_t *)b, strlen(b) } });
	return r < 0 ? r : 0;
}

static void ep_want_update(struct lwm2m_endpoint *ep);

void fg_ep_server_object_written(struct lwm2m_endpoint *ep)
{
	struct lwm2m_value v;

	if (!ep->store)
		return;
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 1), &v) == 0) {
		struct lwm2m_value iv;

		if (lwm2m_value_convert(&v, LWM2M_TYPE_INTEGER, &iv) == 0 && iv.i > 0 && iv.i <= UINT32_MAX &&
		    (uint32_t)iv.i != ep->lifetime) {
			ep->lifetime = (uint32_t)iv.i;
			ep->params_changed = true;
			ep_log(ep, LWM2M_LOG_INFO, "lifetime changed by the server to %u s", ep->lifetime);
		}
	}
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 6), &v) == 0 && v.type == LWM2M_TYPE_BOOLEAN &&
	    v.b != ep->storing) {
		ep->storing = v.b;
		ep_log(ep, LWM2M_LOG_INFO, "Notification Storing %s by the server",
		       v.b ? "enabled" : "disabled");
	}
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 7), &v) == 0 && v.type == LWM2M_TYPE_STRING) {
		enum lwm2m_binding b = ep->binding;

		if (v.bytes.len == 1 && v.bytes.ptr[0] == 'U')
			b = LWM2M_BINDING_U;
		else if (v.bytes.len == 2 && !memcmp(v.bytes.ptr, "UQ", 2))
			b = LWM2M_BINDING_UQ;
		if (b != ep->binding) {
			ep->binding = b;
			ep->params_changed = true;
		}
	}
	if (ep->params_changed)
		ep_want_update(ep);
}

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

static void ep_close_session(struct lwm2m_endpoint *ep)
{
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
	if (!ep->renew_session)
		fg_timer_disarm(ep->c, &ep->drop_timer);
	if (!ep->drop_pending)
		return;
	ep->drop_pending = false;
	if (!ep->session)
		return;
	if (ep->secure || ep->session_dead) {
		ep_close_session(ep);
		return;
	}
	drop_queued(ep->session);
	ep->con_busy_until = 0;
}

static void ep_schedule_register(struct lwm2m_endpoint *ep, uint64_t delay_us);

void fg_ep_renew_session(struct lwm2m_endpoint *ep)
{
	if (ep->renew_session)
		return;
	ep->renew_session = true;
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
	ep->renew_session = false;
	if (!ep->session)
		return;
	ep->c->stats.renewals++;
	ep_close_session(ep);
	if (ep->removing)
		return;
	if (ep->st == ST_REGISTERED || ep->st == ST_REGISTERING || ep->st == ST_UPDATING) {
		ep->attempts = 0;
		ep_schedule_register(ep, 0);
		fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
	}
}

static void ep_on_drop_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct lwm2m_endpoint *ep =
		(struct lwm2m_endpoint *)((char *)t - offsetof(struct lwm2m_endpoint, drop_timer));

	(void)c;
	if (ep->renew_session)
		ep_renew(ep); /* closing drops what is queued too */
	else
		ep_drop_pending(ep);
}

/* Is the server's certificate (DER) one for ep->cert_host? libcoap only
 * checks that it chains to the CA: any certificate of that CA would do. */
static bool server_cert_names_host(struct lwm2m_endpoint *ep, const uint8_t *der, size_t len)
{
	struct fg_certname_ref ref;
	char held[256];
	int r;

	/* Checked when the endpoint was added. */
	if (fg_certname_ref_parse(ep->cert_host, &ref) < 0)
		return false;
	r = fg_certname_check(der, len, &ref, held, sizeof(held));
	if (r == 0)
		return true;
	ep->cert_mismatch = true;
	if (r == -EPERM)
		ep_log(ep, LWM2M_LOG_WARNING, "server certificate refused: it is for %s, not for \"%s\"",
		       held, ep->cert_host);
	else
		ep_log(ep, LWM2M_LOG_WARNING,
		       "server certificate refused: cannot check that it is for \"%s\" (%s)", ep->cert_host,
		       held);
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
static const char *dtls_hint(const struct lwm2m_endpoint *ep)
{
	if (!ep->cert_file)
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
		if (ep->cert_file && ep->session && lwm2m_endpoint_local_port(ep) == port) {
			ep->cert_refused = true;
			ep_log(ep, LWM2M_LOG_WARNING, "server certificate refused: %.*s", (int)n, why);
			return;
		}
	}
}

static int ep_open_session(struct lwm2m_endpoint *ep)
{
	coap_context_t *ctx = ep->c->ctx;
	coap_session_t *s;

	ep_drop_pending(ep);
	if (ep->session && !ep->session_dead)
		return 0;
	ep_close_session(ep);
	if (ep->secure && ep->cert_file) {
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
		setup.pki_key.key.pem.public_cert = ep->cert_file;
		setup.pki_key.key.pem.private_key = ep->key_file;
		setup.pki_key.key.pem.ca_file = ep->ca_file;
		ep->cert_refused = ep->cert_mismatch = false;
		s = coap_new_client_session_pki(ctx, NULL, &ep->server, COAP_PROTO_DTLS, &setup);
	} else if (ep->secure) {
		coap_dtls_cpsk_t setup;

		memset(&setup, 0, sizeof(setup));
		setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
		setup.psk_info.identity.s = ep->psk_identity;
		setup.psk_info.identity.length = ep->psk_identity_len;
		setup.psk_info.key.s = ep->psk_key;
		setup.psk_info.key.length = ep->psk_key_len;
		s = coap_new_client_session_psk2(ctx, NULL, &ep->server, COAP_PROTO_DTLS, &setup);
	} else {
		s = coap_new_client_session(ctx, NULL, &ep->server, COAP_PROTO_UDP);
	}
	if (!s)
		return -EIO;
	if (ep->c->cfg.ack_timeout_ms) {
		uint32_t ms = ep->c->cfg.ack_timeout_ms;
		coap_fixed_point_t at = { (uint16_t)(ms / 1000), (uint16_t)(ms % 1000) };

		coap_session_set_ack_timeout(s, at);
	}
	if (ep->c->cfg.max_retransmit)
		coap_session_set_max_retransmit(s, ep->c->cfg.max_retransmit);
	coap_session_set_app_data(s, ep);
	ep->session = s;
	ep->dtls_connected = false;
	ep->con_busy_until = 0;
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

static void release_body(coap_session_t *session, void *app_ptr)
{
	(void)session;
	free(app_ptr);
}

static int add_location(coap_optlist_t **opts, const char *loc)
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
static int add_location_segs(coap_optlist_t **opts, const struct lwm2m_endpoint *ep)
{
	for (size_t off = 0; off + 2 <= ep->loc_segs_len;) {
		uint16_t n;

		memcpy(&n, ep->loc_segs + off, 2);
		off += 2;
		if (!coap_insert_optlist(opts, coap_new_optlist(COAP_OPTION_URI_PATH, n, ep->loc_segs + off)))
			return -ENOMEM;
		off += n;
	}
	return 0;
}

static void ep_forget_location(struct lwm2m_endpoint *ep)
{
	free(ep->location);
	free(ep->loc_segs);
	ep->location = NULL;
	ep->loc_segs = NULL;
	ep->loc_segs_len = 0;
}

static int add_query(coap_optlist_t **opts, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_query(coap_optlist_t **opts, const char *fmt, ...)
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
static int send_request(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts,
			struct lwm2m_buf *body, uint16_t ct, uint8_t tok[8], size_t *toklen)
{
	coap_pdu_t *pdu;
	int r;

	r = ep_open_session(ep);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	pdu = coap_new_pdu(COAP_MESSAGE_CON, code, ep->session);
	if (!pdu)
		goto fail;
	coap_session_new_token(ep->session, toklen, tok);
	if (!coap_add_token(pdu, *toklen, tok))
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
	if (coap_send(ep->session, pdu) == COAP_INVALID_MID) {
		/* coap_send() frees the PDU on failure. */
		r = -EIO;
		goto fail;
	}
	coap_delete_optlist(*opts);
	*opts = NULL;
	lwm2m_buf_free(body);
	fg_client_kick(ep->c);
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
static int ep_send(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts,
		   struct lwm2m_buf *body, enum req_kind kind)
{
	int r = send_request(ep, code, opts, body, LWM2M_CT_LINK, ep->token, &ep->token_len);

	if (r >= 0) {
		ep->req = kind;
		ep->req_mark = ep->tx_mark;
	}
	return r;
}

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
		r = add_location(&opts, "/rd");
	if (r >= 0)
		r = add_query(&opts, "ep=%s", ep->name);
	if (r >= 0)
		r = add_query(&opts, "lt=%u", ep->lifetime);
	if (r >= 0)
		r = add_query(&opts, "lwm2m=%s", version_str(ep->version));
	if (r >= 0)
		r = add_query(&opts, "b=%s", binding_str(ep));
	if (r >= 0 && ep->binding == LWM2M_BINDING_UQ && ep->version >= 11)
		r = add_query(&opts, "Q");
	if (r < 0) {
		coap_delete_optlist(opts);
		lwm2m_buf_free(&body);
		return r;
	}
	r = ep_send(ep, COAP_REQUEST_CODE_POST, &opts, &body, REQ_REGISTER);
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
	bool links = ep->links_changed, params = ep->params_changed;
	int r;

	r = add_location_segs(&opts, ep);
	if (r >= 0 && params)
		r = add_query(&opts, "lt=%u", ep->lifetime);
	if (r >= 0 && params)
		r = add_query(&opts, "b=%s", binding_str(ep));
	if (r >= 0 && links)
		r = fg_ep_links(ep, &body);
	if (r < 0) {
		coap_delete_optlist(opts);
		lwm2m_buf_free(&body);
		return r;
	}
	r = ep_send(ep, COAP_REQUEST_CODE_POST, &opts, links ? &body : NULL, REQ_UPDATE);
	lwm2m_buf_free(&body);
	if (r < 0)
		return r;
	ep->links_changed = ep->params_changed = false;
	ep->want_update = false;
	ep->c->stats.updates++;
	ep_log(ep, LWM2M_LOG_DEBUG, "Update sent%s%s", links ? " (objects)" : "", params ? " (lt, b)" : "");
	return 0;
}

static int ep_send_deregister(struct lwm2m_endpoint *ep)
{
	coap_optlist_t *opts = NULL;
	int r;

	r = add_location_segs(&opts, ep);
	if (r < 0) {
		coap_delete_optlist(opts);
		return r;
	}
	r = ep_send(ep, COAP_REQUEST_CODE_DELETE, &opts, NULL, REQ_DEREGISTER);
	if (r < 0)
		return r;
	ep_log(ep, LWM2M_LOG_DEBUG, "De-register sent");
	return 0;
}

/* ---- state machine --------------------------------------------------------- */

void fg_ep_arm(struct lwm2m_endpoint *ep, uint64_t when)
{
	if (fg_timer_arm(ep->c, &ep->timer, when) < 0)
		/* The heap could not grow: the endpoint would stall silently,
		 * so say so; the next state change retries. */
		ep_log(ep, LWM2M_LOG_ERR, "out of memory arming a timer");
}

bool fg_ep_paced(struct lwm2m_endpoint *ep)
{
	uint64_t at;

	if (ep->slot_reserved) {
		ep->slot_reserved = false;
		return true;
	}
	at = fg_client_take_slot(ep->c);
	if (at <= fg_now(ep->c))
		return true;
	ep->slot_reserved = true;
	fg_ep_arm(ep, at);
	return false;
}

/* The endpoint must go: free it from the loop, not from this call stack
 * (which may be inside a libcoap handler). */
static void ep_kill(struct lwm2m_endpoint *ep)
{
	ep->st = ST_DEAD;
	ep->req = REQ_NONE;
	ep->slot_reserved = false;
	fg_ep_arm(ep, fg_now(ep->c));
}

/* Queue a Register: at the next pacing slot, or after delay_us. */
static void ep_schedule_register(struct lwm2m_endpoint *ep, uint64_t delay_us)
{
	ep->st = ST_WAIT_REGISTER;
	ep->req = REQ_NONE;
	ep_forget_location(ep);
	ep->slot_reserved = false;
	fg_ep_arm(ep, fg_now(ep->c) + delay_us);
}

static uint64_t backoff_us(struct lwm2m_endpoint *ep)
{
	const struct lwm2m_client_config *cfg = &ep->c->cfg;

	return fg_client_backoff(ep->c, (uint64_t)cfg->backoff_min_ms * MS,
				 (uint64_t)cfg->backoff_max_ms * MS, &ep->attempts);
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
	enum req_kind k = ep->req;
	uint64_t d;

	if (k == REQ_NONE)
		return;
	ep->c->stats.failures++;
	if (k == REQ_DEREGISTER || ep->removing) {
		ep_log(ep, LWM2M_LOG_INFO, "%s failed: %s", req_name(k), why);
		ep_kill(ep);
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
	ep_schedule_register(ep, d);
	fg_ep_set_state(ep, LWM2M_EP_WAITING, err);
}

/* The exchange in flight got no usable answer and is given up: nothing
 * of it may be sent any more (fg_ep_abandon), then as ep_failed(). */
static void ep_gave_up(struct lwm2m_endpoint *ep, int err, const char *why)
{
	if (ep->req == REQ_NONE)
		return;
	fg_ep_abandon(ep);
	ep_failed(ep, err, why);
}

static void ep_registered(struct lwm2m_endpoint *ep)
{
	ep->st = ST_REGISTERED;
	ep->req = REQ_NONE;
	ep->attempts = 0;
	ep->slot_reserved = false;
	if (ep->removing) {
		fg_ep_arm(ep, fg_now(ep->c));
		return;
	}
	if (ep->want_update)
		fg_ep_arm(ep, fg_now(ep->c));
	else
		fg_ep_arm(ep, fg_now(ep->c) + (uint64_t)ep->lifetime * SEC / 2);
	fg_ep_set_state(ep, LWM2M_EP_REGISTERED, 0);
	ep->last_exchange = fg_now(ep->c);
	ep->sleeping = false;
	fg_sf_online(ep);
}

static void ep_want_update(struct lwm2m_endpoint *ep)
{
	ep->want_update = true;
	if (ep->st == ST_REGISTERED && !ep->slot_reserved && !ep->removing)
		fg_ep_arm(ep, fg_now(ep->c));
}

void fg_ep_want_update(struct lwm2m_endpoint *ep)
{
	ep_want_update(ep);
}

bool fg_ep_online(const struct lwm2m_endpoint *ep)
{
	return (ep->st == ST_REGISTERED || ep->st == ST_UPDATING) && !ep->removing && !ep->sleeping &&
	       ep->session && !ep->session_dead;
}

void fg_ep_park(struct lwm2m_endpoint *ep, int err)
{
	/* What was on its way is held again before anything is dropped. */
	fg_sf_offline(ep);
	/* Nothing queued for the old registration may reach the server when
	 * it is back (a DTLS session is closed: the server's is gone too). */
	fg_ep_abandon(ep);
	ep->parked = true;
	ep->probing = false;
	ep->st = ST_WAIT_REGISTER;
	ep->req = REQ_NONE;
	ep->slot_reserved = false;
	ep_forget_location(ep);
	fg_timer_disarm(ep->c, &ep->timer);
	fg_ep_set_state(ep, LWM2M_EP_WAITING, err);
}

void fg_ep_unpark(struct lwm2m_endpoint *ep, bool probe)
{
	if (!ep->parked)
		return;
	ep->parked = false;
	ep->probing = probe;
	ep->attempts = 0;
	ep_schedule_register(ep, 0);
}

/* The Location-Path of a 2.01: *loc joined with '/' (for display) and
 * the segments as received (see loc_segs). 0, -ENOENT (none), -ENOMEM. */
static int location_of(const coap_pdu_t *pdu, char **loc, uint8_t **segs, size_t *segs_len)
{
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	struct lwm2m_buf b = { 0 }, sb = { 0 };

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
	if (lwm2m_buf_putc(&b, '\0') < 0)
		goto oom;
	*loc = (char *)b.data;
	*segs = sb.data;
	*segs_len = sb.len;
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
		uint8_t *segs = NULL;
		size_t segs_len = 0;
		int r = location_of(pdu, &loc, &segs, &segs_len);

		if (r < 0) {
			ep_failed(ep, r, r == -ENOENT ? "2.01 without Location-Path" : "out of memory");
			return;
		}
		ep_forget_location(ep);
		ep->location = loc;
		ep->loc_segs = segs;
		ep->loc_segs_len = segs_len;
		ep->links_changed = ep->params_changed = ep->want_update = false;
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
			server_object_init(ep);
		ep_schedule_register(ep, 0);
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
		fg_sf_confirmed(ep, ep->req_mark);
		ep_registered(ep);
		return;
	}
	code_str(code, cs);
	if (code == COAP_RESPONSE_CODE(404) && !ep->removing) {
		/* The server forgot us (restart, expired): register again at
		 * once, without backoff. */
		ep_log(ep, LWM2M_LOG_NOTICE, "Update answered 4.04: registering again");
		fg_sf_offline(ep);
		ep->attempts = 0;
		ep_schedule_register(ep, 0);
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
	if (ep && ep->send_token_len && tok.length == ep->send_token_len &&
	    !memcmp(tok.s, ep->send_token, tok.length)) {
		if (COAP_RESPONSE_CLASS(code) != 2)
			ep_log(ep, LWM2M_LOG_WARNING, "Send answered %u.%02u", code >> 5, code & 31);
		return COAP_RESPONSE_OK;
	}
	if (!ep || ep->req == REQ_NONE || tok.length != ep->token_len || memcmp(tok.s, ep->token, tok.length))
		return COAP_RESPONSE_OK;
	switch (ep->req) {
	case REQ_REGISTER:
		on_register_response(ep, code, received);
		break;
	case REQ_UPDATE:
		on_update_response(ep, code);
		break;
	case REQ_DEREGISTER:
		ep_log(ep, LWM2M_LOG_INFO, "de-registered (%u.%02u)", code >> 5, code & 31);
		fg_sf_confirmed(ep, ep->req_mark);
		ep_forget_location(ep);
		ep_kill(ep);
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
	return tok.length == ep->token_len && !memcmp(tok.s, ep->token, tok.length);
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
	if (ep->req == REQ_NONE)
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
		snprintf(why, sizeof(why), "DTLS handshake failed (%s)", dtls_hint(ep));
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
		if (ep->req != REQ_NONE) {
			char why[160];

			snprintf(why, sizeof(why), "DTLS handshake failed (%s)", dtls_hint(ep));
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
		if (ep->req != REQ_NONE)
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

static bool handshaking(const struct lwm2m_endpoint *ep)
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

	if (handshaking(ep) && cfg->dtls_timeout_ms < ms)
		ms = cfg->dtls_timeout_ms;
	return fg_srv_probe_deadline(ep, fg_now(ep->c) + (uint64_t)ms * MS);
}

static void ep_on_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	struct lwm2m_endpoint *ep = ep_of_timer(t);
	int r;

	switch (ep->st) {
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
			ep->req = REQ_REGISTER;
			ep_failed(ep, r, strerror(-r));
			return;
		}
		ep->st = ST_REGISTERING;
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
			ep->st = ST_DEREGISTERING;
			fg_ep_arm(ep, exchange_deadline(ep));
			fg_ep_set_state(ep, LWM2M_EP_DEREGISTERING, 0);
			return;
		}
		if (!fg_ep_paced(ep))
			return;
		r = ep_send_update(ep);
		if (r < 0) {
			ep->req = REQ_UPDATE;
			ep_failed(ep, r, strerror(-r));
			return;
		}
		ep->st = ST_UPDATING;
		fg_ep_arm(ep, exchange_deadline(ep));
		return;
	case ST_REGISTERING:
	case ST_UPDATING:
	case ST_DEREGISTERING:
		if (handshaking(ep)) {
			char why[160];

			snprintf(why, sizeof(why), "DTLS handshake not completed in %u s (%s)",
				 c->cfg.dtls_timeout_ms / 1000, dtls_hint(ep));
			ep->session_dead = true;
			ep_gave_up(ep, -ECONNREFUSED, why);
		} else {
			ep_gave_up(ep, -ETIMEDOUT, "no answer in time");
		}
		return;
	}
}

/* ---- public API ------------------------------------------------------------ */

/* host (may be NULL) receives the URI's host. */
static int parse_server_uri(struct lwm2m_endpoint *ep, const char *uri, char host[INET6_ADDRSTRLEN + 1])
{
	coap_uri_t u;
	char buf[INET6_ADDRSTRLEN + 1];

	if (!host)
		host = buf;

	if (coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0)
		return -EINVAL;
	if (u.scheme != COAP_URI_SCHEME_COAP && u.scheme != COAP_URI_SCHEME_COAPS)
		return -EINVAL;
	if (u.host.length == 0 || u.host.length >= INET6_ADDRSTRLEN + 1)
		return -EINVAL;
	memcpy(host, u.host.s, u.host.length);
	host[u.host.length] = '\0';
	ep->secure = u.scheme == COAP_URI_SCHEME_COAPS;
	coap_address_init(&ep->server);
	/* Numeric addresses only: name resolution would block the loop (see
	 * the TODO in the report / ARCHITECTURE). */
	if (inet_pton(AF_INET, host, &ep->server.addr.sin.sin_addr) == 1) {
		ep->server.addr.sin.sin_family = AF_INET;
		ep->server.addr.sin.sin_port = htons(u.port);
		ep->server.size = sizeof(ep->server.addr.sin);
	} else if (inet_pton(AF_INET6, host, &ep->server.addr.sin6.sin6_addr) == 1) {
		ep->server.addr.sin6.sin6_family = AF_INET6;
		ep->server.addr.sin6.sin6_port = htons(u.port);
		ep->server.size = sizeof(ep->server.addr.sin6);
	} else {
		return -EINVAL;
	}
	/* Endpoints of one server share what is known of its reachability. */
	return fg_srv_attach(ep);
}

/* ---- for bootstrap.c ------------------------------------------------------ */

int fg_ep_parse_server_uri(struct lwm2m_endpoint *ep, const char *uri)
{
	return parse_server_uri(ep, uri, NULL);
}

int fg_ep_server_object_init(struct lwm2m_endpoint *ep)
{
	return server_object_init(ep);
}

int fg_ep_send(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts, int kind)
{
	return ep_send(ep, code, opts, NULL, (enum req_kind)kind);
}

int fg_ep_send_body(struct lwm2m_endpoint *ep, coap_pdu_code_t code, const char *path, struct lwm2m_buf *body,
		    uint16_t ct, uint8_t tok[8], size_t *toklen)
{
	coap_optlist_t *opts = NULL;
	int r = add_location(&opts, path);

	if (r < 0) {
		coap_delete_optlist(opts);
		lwm2m_buf_free(body);
		return r;
	}
	return send_request(ep, code, &opts, body, ct, tok, toklen);
}

static void *memdup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

int lwm2m_endpoint_add(struct lwm2m_client *c, const struct lwm2m_endpoint_config *cfg,
		       struct lwm2m_store *store, struct lwm2m_endpoint **out)
{
	char host[INET6_ADDRSTRLEN + 1] = "";
	struct lwm2m_endpoint *ep;
	int r;

	if (!c || !cfg || !cfg->name || !*cfg->name || strlen(cfg->name) > 255 ||
	    (!cfg->server_uri && !cfg->bootstrap_uri) || !store)
		return -EINVAL;
	if (c->shutting_down)
		return -ESHUTDOWN;
	if (cfg->version && cfg->version != 10 && cfg->version != 11 && cfg->version != 12)
		return -EINVAL;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->c = c;
	fg_timer_init(&ep->timer, ep_on_timer);
	fg_timer_init(&ep->drop_timer, ep_on_drop_timer);
	fg_sf_ep_init(ep);
	ep->storing = !cfg->storing_off;
	ep->store = store;
	ep->lifetime = cfg->lifetime ? cfg->lifetime : 86400;
	ep->binding = cfg->binding;
	ep->version_cfg = ep->version = cfg->version ? cfg->version : 11;
	ep->ssid = cfg->short_server_id ? cfg->short_server_id : 1;
	ep->ct_cfg = cfg->content_format;
	ep->ops = cfg->ops;
	ep->ops_ud = cfg->ops_ud;
	r = -ENOMEM;
	ep->name = strdup(cfg->name);
	ep->uri = strdup(cfg->bootstrap_uri ? cfg->bootstrap_uri : cfg->server_uri);
	if (!ep->name || !ep->uri)
		goto fail;
	/* With a Bootstrap-Server, server and keys come from bootstrap.c. */
	r = cfg->bootstrap_uri ? fg_bs_init(ep, cfg) : parse_server_uri(ep, cfg->server_uri, host);
	if (r < 0)
		goto fail;
	if (ep->secure && !ep->bs) {
		r = -EPROTONOSUPPORT;
		if (!coap_dtls_is_supported())
			goto fail;
		r = -EINVAL;
		if (cfg->cert_file) {
			/* Certificate mode: the server is verified unless told
			 * not to, so a CA is needed. */
			if (!cfg->key_file || (!cfg->ca_file && !cfg->cert_no_verify))
				goto fail;
			/* The name its certificate must carry: the one the
			 * operator wrote, not the address it resolved to. */
			struct fg_certname_ref ref;
			const char *name = cfg->server_name ? cfg->server_name : host;

			if (fg_certname_ref_parse(name, &ref) < 0)
				goto fail;
			r = -ENOMEM;
			ep->cert_no_verify = cfg->cert_no_verify;
			ep->cert_file = strdup(cfg->cert_file);
			ep->key_file = strdup(cfg->key_file);
			ep->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
			ep->cert_host = strdup(name);
			if (!ep->cert_file || !ep->key_file || (cfg->ca_file && !ep->ca_file) ||
			    !ep->cert_host)
				goto fail;
			goto secured;
		}
		if (!cfg->psk_identity || !*cfg->psk_identity || !cfg->psk_key || !cfg->psk_key_len)
			goto fail;
		r = -ENOMEM;
		ep->psk_identity_len = strlen(cfg->psk_identity);
		ep->psk_identity = memdup(cfg->psk_identity, ep->psk_identity_len);
		ep->psk_key_len = cfg->psk_key_len;
		ep->psk_key = memdup(cfg->psk_key, cfg->psk_key_len);
		if (!ep->psk_identity || !ep->psk_key)
			goto fail;
	}
secured:
	r = server_object_init(ep);
	if (r < 0)
		goto fail;
	r = ep_open_session(ep);
	if (r < 0)
		goto fail;
	r = fg_obs_target_add(ep, NULL, &ep->obs_id);
	if (r < 0)
		goto fail;

	ep->next = c->eps;
	if (c->eps)
		c->eps->prev = ep;
	c->eps = ep;
	c->nep++;
	ep->st = ST_WAIT_REGISTER;
	ep->pub_st = LWM2M_EP_WAITING;
	fg_ep_arm(ep, fg_now(c));
	if (ep->bs)
		fg_bs_start(ep);
	ep_log(ep, LWM2M_LOG_DEBUG, "added (server %s, local port %u)", ep->uri,
	       lwm2m_endpoint_local_port(ep));
	if (out)
		*out = ep;
	return 0;
fail:
	ep->store = NULL;
	ep_close_session(ep);
	fg_srv_detach(ep);
	fg_bs_free(ep);
	free(ep->name);
	free(ep->uri);
	free(ep->psk_identity);
	free(ep->psk_key);
	free(ep->cert_file);
	free(ep->key_file);
	free(ep->ca_file);
	free(ep->cert_host);
	free(ep);
	return r;
}

void fg_ep_free(struct lwm2m_endpoint *ep)
{
	struct lwm2m_client *c = ep->c;

	fg_timer_disarm(c, &ep->timer);
	fg_timer_disarm(c, &ep->drop_timer);
	fg_sf_endpoint_free(ep);
	fg_dm_abandon(ep);
	fg_device_free_all(ep);
	fg_obs_target_remove(ep, ep->obs_id);
	fg_srv_detach(ep);
	ep->removing = true; /* no state callback from here on */
	if (ep->pub_st == LWM2M_EP_REGISTERED)
		c->stats.registered--;
	ep_close_session(ep);
	if (ep->prev)
		ep->prev->next = ep->next;
	else
		c->eps = ep->next;
	if (ep->next)
		ep->next->prev = ep->prev;
	c->nep--;
	if (ep->psk_key)
		memset(ep->psk_key, 0, ep->psk_key_len);
	free(ep->psk_key);
	free(ep->psk_identity);
	free(ep->cert_file);
	free(ep->key_file);
	free(ep->ca_file);
	free(ep->cert_host);
	free(ep->name);
	free(ep->uri);
	ep_forget_location(ep);
	fg_bs_free(ep);
	free(ep->declared);
	free(ep->devs);
	free(ep);
	fg_client_endpoint_gone(c, NULL);
}

void lwm2m_endpoint_remove(struct lwm2m_endpoint *ep)
{
	if (!ep || ep->removing)
		return;
	ep->obs_quiet = true;
	fg_dm_abandon(ep);
	fg_device_free_all(ep);
	fg_obs_target_remove(ep, ep->obs_id);
	ep->obs_id = 0;
	ep->removing = true;
	ep->store = NULL;
	switch (ep->st) {
	case ST_REGISTERED:
		ep->slot_reserved = false;
		fg_ep_arm(ep, fg_now(ep->c));
		break;
	case ST_WAIT_REGISTER:
	case ST_BOOTSTRAP: /* nothing to undo with a Bootstrap-Server */
		ep_kill(ep);
		break;
	case ST_REGISTERING:
		/* Still in the DTLS handshake: the server cannot have
		 * registered us, nothing to wait for. */
		if (handshaking(ep))
			ep_kill(ep);
		break;
	default:
		/* An exchange is in flight: its outcome decides (a late
		 * registration is de-registered at once). */
		break;
	}
}

int lwm2m_endpoint_send(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *paths,
			size_t n)
{
	static const struct lwm2m_path root = { .len = 0 };
	struct lwm2m_store *s = dev ? dev->store : ep->store;
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf body = { 0 };
	int r;

	if (ep->removing || !s)
		return -ESHUTDOWN;
	if (ep->version < 11)
		return -EPROTONOSUPPORT; /* Send is LwM2M 1.1 */
	if (ep->st != ST_REGISTERED && ep->st != ST_UPDATING)
		return -ENOTCONN;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t n0 = recs.n;

		if (paths[i].len == 0 || (!dev && (paths[i].id[0] == 0 || paths[i].id[0] == 21))) {
			r = -EINVAL;
			goto out;
		}
		r = lwm2m_store_read(s, &paths[i], &recs);
		if (r < 0)
			goto out;
		if (dev)
			for (size_t k = n0; k < recs.n; k++)
				recs.v[k].prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
	}
	lwm2m_records_sort(&recs);
	r = lwm2m_encode(LWM2M_CT_SENML_CBOR, &root, recs.v, recs.n, &body);
	if (r >= 0)
		r = fg_ep_send_body(ep, COAP_REQUEST_CODE_POST, "/dp", &body, LWM2M_CT_SENML_CBOR,
				    ep->send_token, &ep->send_token_len);
	if (r >= 0)
		ep_log(ep, LWM2M_LOG_DEBUG, "Send of %zu value(s)", recs.n);
out:
	lwm2m_buf_free(&body);
	lwm2m_records_clear(&recs);
	return r;
}

int lwm2m_endpoint_objects_changed(struct lwm2m_endpoint *ep)
{
	if (ep->removing)
		return 0;
	ep->links_changed = true;
	ep_want_update(ep);
	return 0;
}

int lwm2m_endpoint_trigger_update(struct lwm2m_endpoint *ep)
{
	if (ep->removing)
		return 0;
	ep_want_update(ep);
	return 0;
}

int lwm2m_endpoint_declare_object(struct lwm2m_endpoint *ep, uint16_t oid)
{
	uint16_t *v;

	if (!fg_objdef(ep, oid))
		return -ENOENT;
	for (size_t i = 0; i < ep->ndeclared; i++)
		if (ep->declared[i] == oid)
			return 0;
	v = realloc(ep->declared, (ep->ndeclared + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ep->declared = v;
	v[ep->ndeclared++] = oid;
	return 0;
}

const char *lwm2m_endpoint_name(const struct lwm2m_endpoint *ep)
{
	return ep->name;
}

enum lwm2m_ep_state lwm2m_endpoint_state(const struct lwm2m_endpoint *ep)
{
	return ep->pub_st;
}

struct lwm2m_store *lwm2m_endpoint_store(const struct lwm2m_endpoint *ep)
{
	return ep->store;
}

uint8_t lwm2m_endpoint_version(const struct lwm2m_endpoint *ep)
{
	return ep->version;
}

uint16_t lwm2m_endpoint_local_port(const struct lwm2m_endpoint *ep)
{
	const coap_address_t *a;

	if (!ep->session)
		return 0;
	a = coap_session_get_addr_local(ep->session);
	if (!a)
		return 0;
	if (a->addr.sa.sa_family == AF_INET)
		return ntohs(a->addr.sin.sin_port);
	if (a->addr.sa.sa_family == AF_INET6)
		return ntohs(a->addr.sin6.sin6_port);
	return 0;
}

const char *lwm2m_endpoint_location(const struct lwm2m_endpoint *ep)
{
	return ep->location;
}
