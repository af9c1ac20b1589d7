/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coap pulls with libcoap (in the fetch process only): GET with Block2,
 * one block at a time, each written to the file before the next is asked
 * for; libcoap's own block mode is off, so it never assembles the body.
 * A resumed pull asks for the block after the partial file's whole
 * blocks (RFC 7959 2.4: the client may start anywhere).
 * coaps: DTLS with the PSK of update.psk_identity / psk_key when set,
 * else the server's certificate, verified against update.ca_certificate
 * (or the system's trust store) and its name against the URI's host
 * (lwm2m/client/certname.c, RFC 6125): libcoap only checks the chain.
 */
#include <coap3/coap.h>
#include <inttypes.h>
#include <netdb.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "lwm2m/client/certname.h"
#include "gateway/pkg/pkg_internal.h"

#define SZX 6 /* 1024-byte blocks; the server may answer smaller */

struct cget {
	struct pkg_fetch *f;
	int fd;
	uint64_t got, total;
	unsigned num, szx; /* the next block to ask for */
	uint8_t token[8];
	size_t token_len;
	uint8_t etag[8]; /* of the first block: the others must have it */
	size_t etag_len;
	bool have_etag;
	bool waiting, ask_next;
	bool done;
	const struct pkg_uri *u;
	bool auth_failed;           /* coaps: the server's certificate was refused */
	bool dtls_error;            /* coaps: the handshake failed or the session broke */
	char sni[PKG_HOST_MAX + 1]; /* libcoap wants it writable */
	enum gw_pkg_result res;
	coap_optlist_t *opts; /* Uri-Host, Uri-Port, Uri-Path, Uri-Query */
};

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* One Uri-Path or Uri-Query option, percent-decoded. */
static int add_segment(coap_optlist_t **l, uint16_t num, const char *s, size_t n)
{
	uint8_t buf[PKG_URI_MAX];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n) {
			buf[k++] = (uint8_t)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			buf[k++] = (uint8_t)s[i];
		}
	}
	coap_optlist_t *o = coap_new_optlist(num, k, buf);
	return o && coap_insert_optlist(l, o) ? 0 : -1;
}

static int add_split(coap_optlist_t **l, uint16_t num, const char *s, size_t n, char sep)
{
	while (n > 0) {
		const char *e = memchr(s, sep, n);
		size_t len = e ? (size_t)(e - s) : n;
		if (add_segment(l, num, s, len) < 0)
			return -1;
		n -= len + (e ? 1 : 0);
		s += len + (e ? 1 : 0);
	}
	return 0;
}

static int build_options(struct cget *g, const struct pkg_uri *u)
{
	uint8_t port[4];

	if (!u->host_is_ip &&
	    !coap_insert_optlist(&g->opts, coap_new_optlist(COAP_OPTION_URI_HOST, strlen(u->host),
							    (const uint8_t *)u->host)))
		return -1;
	if (u->port != (u->scheme == GW_PKG_COAPS ? 5684 : 5683) &&
	    !coap_insert_optlist(&g->opts,
				 coap_new_optlist(COAP_OPTION_URI_PORT,
						  coap_encode_var_safe(port, sizeof(port), u->port), port)))
		return -1;
	/* "/a/b" -> "a", "b"; the leading '/' separates nothing. */
	if (u->path_len > 1 &&
	    add_split(&g->opts, COAP_OPTION_URI_PATH, u->path + 1, u->path_len - 1, '/') < 0)
		return -1;
	if (u->query && add_split(&g->opts, COAP_OPTION_URI_QUERY, u->query, u->query_len, '&') < 0)
		return -1;
	return 0;
}

static int send_get(struct cget *g, coap_session_t *s)
{
	coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, s);
	uint8_t buf[4];
	coap_optlist_t *opts = NULL;

	if (!pdu)
		return -1;
	coap_session_new_token(s, &g->token_len, g->token);
	coap_add_token(pdu, g->token_len, g->token);
	/* The request's own list: coap_add_optlist_pdu() wants every option
	 * of the PDU in one sorted chain. */
	for (coap_optlist_t *o = g->opts; o; o = o->next)
		coap_insert_optlist(&opts, coap_new_optlist(o->number, o->length, o->data));
	coap_insert_optlist(
		&opts, coap_new_optlist(COAP_OPTION_BLOCK2,
					coap_encode_var_safe(buf, sizeof(buf), g->num << 4 | g->szx), buf));
	if (g->num == 0)
		coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_SIZE2, 0, NULL));
	int ok = coap_add_optlist_pdu(pdu, &opts);
	coap_delete_optlist(opts);
	if (!ok || coap_send(s, pdu) == COAP_INVALID_MID)
		return -1;
	g->waiting = true;
	return 0;
}

static void finish(struct cget *g, enum gw_pkg_result r)
{
	g->done = true;
	g->res = r;
}

static void on_block(struct cget *g, const coap_session_t *s, const coap_pdu_t *rcv)
{
	coap_block_b_t b = { 0 };
	coap_opt_iterator_t it;
	coap_opt_t *size2 = coap_check_option(rcv, COAP_OPTION_SIZE2, &it);
	const uint8_t *data = NULL;
	size_t len = 0;
	uint64_t offset = 0;

	coap_opt_t *etag = coap_check_option(rcv, COAP_OPTION_ETAG, &it);
	size_t elen = etag ? coap_opt_length(etag) : 0;

	/* Blocks of one representation (RFC 7959 2.4): a resource that
	 * changes in the middle would give a file of two. */
	if (!g->have_etag) {
		g->have_etag = true;
		g->etag_len = elen <= sizeof(g->etag) ? elen : 0;
		if (g->etag_len)
			memcpy(g->etag, coap_opt_value(etag), g->etag_len);
	} else if (elen != g->etag_len || (elen && memcmp(coap_opt_value(etag), g->etag, elen) != 0)) {
		log_error("Fetching %s: the resource changed during the transfer (ETag)", g->f->uri);
		return finish(g, GW_PKG_INTEGRITY);
	}
	coap_get_data(rcv, &len, &data);
	if (size2 && !g->total) {
		g->total = coap_decode_var_bytes8(coap_opt_value(size2), coap_opt_length(size2));
		if (g->total > g->f->lim.max_size)
			return finish(g, GW_PKG_NO_SPACE);
	}
	if (coap_get_block_b(s, rcv, COAP_OPTION_BLOCK2, &b)) {
		offset = (uint64_t)b.num << (b.szx + 4);
		if (offset != g->got)
			return finish(g, GW_PKG_INTEGRITY); /* not the block asked for */
	} else if (g->got != 0) {
		/* The whole body, though a later block was asked for: the
		 * server does not do Block2; start over. */
		g->got = 0;
	}
	enum gw_pkg_result r = pkg_write_at(g->fd, offset, data, len, g->f->lim.max_size);
	if (r != GW_PKG_OK)
		return finish(g, r);
	g->got = offset + len;
	pkg_fetch_progress(g->f, g->got, g->total, 0);
	if (b.defined && b.m) {
		g->szx = b.szx;
		g->num = (unsigned)((g->got) >> (b.szx + 4));
		g->ask_next = true;
		return;
	}
	if (g->total && g->got != g->total)
		return finish(g, GW_PKG_INTEGRITY);
	finish(g, GW_PKG_OK);
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcv,
				   const coap_mid_t mid)
{
	struct cget *g = coap_session_get_app_data(s);
	coap_bin_const_t tok = coap_pdu_get_token(rcv);
	coap_pdu_code_t code = coap_pdu_get_code(rcv);

	(void)sent;
	(void)mid;
	if (!g->waiting || tok.length != g->token_len || memcmp(tok.s, g->token, tok.length) != 0)
		return COAP_RESPONSE_OK; /* a late answer to an earlier request */
	g->waiting = false;
	if (code == COAP_RESPONSE_CODE(205))
		on_block(g, s, rcv);
	else if (COAP_RESPONSE_CLASS(code) == 4)
		finish(g, GW_PKG_INVALID_URI); /* 4.04 and the like: nothing there for us */
	else
		finish(g, GW_PKG_CONN_LOST);
	if (g->done && g->res != GW_PKG_OK)
		log_error("Fetching %s: %u.%02u", g->f->uri, COAP_RESPONSE_CLASS(code), code & 0x1f);
	return COAP_RESPONSE_OK;
}

/* A coaps server not authenticated: the certificate check logged why
 * when it refused; nothing of this server is worth keeping for a resume. */
static void auth_failed(struct cget *g)
{
	g->f->discard = true;
	if (!g->auth_failed)
		log_error("Fetching %s: no DTLS session with %s (%s)", g->f->uri, g->u->host,
			  g->f->lim.psk_key_len ? "PSK identity or key refused, or no coaps server there?"
						: "certificate refused, or no coaps server there?");
	finish(g, GW_PKG_CONN_LOST);
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
		    const coap_mid_t mid)
{
	struct cget *g = coap_session_get_app_data(s);

	(void)sent;
	(void)mid;
	if (g->done)
		return; /* the session released after the end */
	if (g->auth_failed || g->dtls_error)
		return auth_failed(g);
	log_error("Fetching %s: no answer (%s)", g->f->uri,
		  reason == COAP_NACK_RST                ? "reset"
		  : reason == COAP_NACK_TOO_MANY_RETRIES ? "timeout"
							 : "unreachable");
	finish(g, GW_PKG_CONN_LOST);
}

/* libcoap calls this for each certificate of the server's chain (openssl:
 * from the root down to the server's, depth 0), validated = whether it
 * verified against the trust anchors. Refusing fails the handshake. */
static int check_cert(const char *cn, const uint8_t *der, size_t len, coap_session_t *s, unsigned depth,
		      int validated, void *arg)
{
	struct cget *g = arg;
	struct fg_certname_ref ref;
	char held[256];
	int r;

	(void)s;
	if (!validated) {
		log_error("Fetching %s: the certificate \"%s\" (depth %u) of %s does not verify against %s",
			  g->f->uri, cn ? cn : "?", depth, g->u->host,
			  g->f->lim.ca_file ? g->f->lim.ca_file : "the system's trust store");
		g->auth_failed = true;
		return 0;
	}
	if (depth != 0)
		return 1;
	if (fg_certname_ref_parse(g->u->host, &ref) < 0) {
		log_error("Fetching %s: cannot check a certificate name against \"%s\"", g->f->uri,
			  g->u->host);
		g->auth_failed = true;
		return 0;
	}
	r = fg_certname_check(der, len, &ref, held, sizeof(held));
	if (r == 0)
		return 1;
	g->auth_failed = true;
	if (r == -EPERM)
		log_error("Fetching %s: the server's certificate is for %s, not for \"%s\"", g->f->uri, held,
			  g->u->host);
	else
		log_error("Fetching %s: cannot check that the server's certificate is for \"%s\" (%s)",
			  g->f->uri, g->u->host, held);
	return 0;
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
	struct cget *g = coap_session_get_app_data(s);

	if (g && (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED))
		g->dtls_error = true;
	return 0;
}

/* The DTLS client session of a coaps pull. */
static coap_session_t *coaps_session(struct cget *g, coap_context_t *ctx, const coap_address_t *dst)
{
	const struct gw_pkg_limits *lim = &g->f->lim;
	/* SNI for a name, not an address (RFC 6066 3). */
	char *sni = g->u->host_is_ip ? NULL : strcpy(g->sni, g->u->host);

	if (!coap_dtls_is_supported()) {
		log_error("Fetching %s: this libcoap has no DTLS", g->f->uri);
		return NULL;
	}
	coap_register_event_handler(ctx, on_event);
	if (lim->psk_key_len) {
		coap_dtls_cpsk_t setup;

		memset(&setup, 0, sizeof(setup));
		setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
		setup.client_sni = sni;
		setup.psk_info.identity.s = (const uint8_t *)lim->psk_identity;
		setup.psk_info.identity.length = strlen(lim->psk_identity);
		setup.psk_info.key.s = lim->psk_key;
		setup.psk_info.key.length = lim->psk_key_len;
		return coap_new_client_session_psk2(ctx, NULL, dst, COAP_PROTO_DTLS, &setup);
	}
	coap_dtls_pki_t setup;

	memset(&setup, 0, sizeof(setup));
	setup.version = COAP_DTLS_PKI_SETUP_VERSION;
	setup.verify_peer_cert = 1;
	setup.check_common_ca = 1;
	setup.cert_chain_validation = 1;
	setup.cert_chain_verify_depth = 4;
	setup.allow_no_crl = 1;
	setup.allow_expired_crl = 1;
	setup.validate_cn_call_back = check_cert;
	setup.cn_call_back_arg = g;
	setup.client_sni = sni;
	setup.pki_key.key_type = COAP_PKI_KEY_PEM;
	setup.pki_key.key.pem.ca_file = lim->ca_file;
	/* Without update.ca_certificate: the system's trust store (Debian's
	 * hashed directory, as curl's default for https). */
	if (!lim->ca_file && !coap_context_set_pki_root_cas(ctx, NULL, "/etc/ssl/certs"))
		log_warning("Fetching %s: cannot load the trust store /etc/ssl/certs", g->f->uri);
	return coap_new_client_session_pki(ctx, NULL, dst, COAP_PROTO_DTLS, &setup);
}

/* A coaps pull whose DTLS handshake never completed: a wrong PSK makes the
 * server drop the handshake without a word (openssl), so this is how it
 * shows. Only before the first byte: a partial file is kept for a resume. */
static bool no_handshake(const struct cget *g, coap_session_t *s)
{
	return g->u->scheme == GW_PKG_COAPS && g->got == 0 &&
	       coap_session_get_state(s) != COAP_SESSION_STATE_ESTABLISHED;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int resolve(const struct pkg_uri *u, coap_address_t *dst)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_ADDRCONFIG }, *ai;
	char port[8];

	snprintf(port, sizeof(port), "%u", u->port);
	int r = getaddrinfo(u->host, port, &hints, &ai);
	if (r != 0) {
		log_error("Cannot resolve %s: %s", u->host, gai_strerror(r));
		return -1;
	}
	coap_address_init(dst);
	dst->size = ai->ai_addrlen;
	memcpy(&dst->addr.sa, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

enum gw_pkg_result pkg_fetch_coap(struct pkg_fetch *f, const struct pkg_uri *u, int fd, uint64_t from)
{
	struct cget g = { .f = f, .fd = fd, .szx = SZX, .u = u };
	coap_context_t *ctx = NULL;
	coap_session_t *s = NULL;
	coap_address_t dst;
	uint64_t last;

	/* Whole blocks of the partial file; the rest is asked again. */
	g.got = from - from % 1024;
	g.num = (unsigned)(g.got >> (SZX + 4));
	if (ftruncate(fd, (off_t)g.got) < 0)
		return GW_PKG_INTEGRITY;
	if (resolve(u, &dst) < 0)
		return GW_PKG_CONN_LOST;
	coap_startup();
	coap_set_log_level(LOG_WARNING);
	ctx = coap_new_context(NULL);
	if (ctx && build_options(&g, u) == 0)
		s = u->scheme == GW_PKG_COAPS ? coaps_session(&g, ctx, &dst)
					      : coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
	if (!s && ctx && u->scheme == GW_PKG_COAPS) {
		/* Most likely a trust anchor file that cannot be read. */
		log_error("Fetching %s: cannot set up DTLS (trust anchors %s)", f->uri,
			  f->lim.ca_file ? f->lim.ca_file : "/etc/ssl/certs");
		f->discard = true;
		finish(&g, GW_PKG_CONN_LOST);
		goto out;
	}
	if (!s) {
		finish(&g, GW_PKG_NO_MEMORY);
		goto out;
	}
	coap_session_set_app_data(s, &g);
	coap_register_response_handler(ctx, on_response);
	coap_register_nack_handler(ctx, on_nack);
	g.ask_next = true;
	last = now_ms();
	while (!g.done) {
		if (g.ask_next) {
			g.ask_next = false;
			if (send_get(&g, s) < 0) {
				finish(&g, GW_PKG_NO_MEMORY);
				break;
			}
			last = now_ms();
		}
		coap_io_process(ctx, 500);
		if (!g.done && !g.ask_next && now_ms() - last > (uint64_t)f->lim.timeout_s * 1000 &&
		    (g.auth_failed || g.dtls_error || no_handshake(&g, s))) {
			auth_failed(&g);
		} else if (!g.done && !g.ask_next && now_ms() - last > (uint64_t)f->lim.timeout_s * 1000) {
			log_error("Fetching %s: no answer within %" PRIu32 " s", f->uri, f->lim.timeout_s);
			finish(&g, GW_PKG_CONN_LOST);
		}
	}
	if (g.res == GW_PKG_OK && ftruncate(fd, (off_t)g.got) < 0)
		g.res = GW_PKG_INTEGRITY;
	if (g.res == GW_PKG_OK)
		pkg_fetch_progress(f, g.got, g.got, 1);
out:
	coap_delete_optlist(g.opts);
	if (s)
		coap_session_release(s);
	coap_free_context(ctx);
	coap_cleanup();
	return g.res;
}
