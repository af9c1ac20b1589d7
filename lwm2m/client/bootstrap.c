/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client-initiated Bootstrap (LwM2M 1.1 Core TS, Bootstrap interface) and
 * the file that keeps its result.
 *
 * An endpoint configured with a Bootstrap-Server (cfg->bootstrap_uri) and
 * no usable stored result enters ST_BOOTSTRAP: at its pacing slot it sends
 * POST /bs?ep=<name>&pct=<ct> to the Bootstrap-Server, then serves that
 * server's requests on the same session (bs_serve.c):
 *
 *   PUT    /0, /0/x[/r], /1, /1/x[/r]  Bootstrap-Write (creates instances)
 *   GET    /1, /1/x                    Bootstrap-Read (/0 holds keys: 4.01)
 *   GET    / or /oid, Accept 40        Bootstrap-Discover
 *   DELETE /, /0, /0/x, /1, /1/x       Bootstrap-Delete (never the
 *                                      Bootstrap-Server account: 4.00)
 *   POST   /bs                         Bootstrap-Finish
 *
 * The /0 and /1 instances being written live here, as records (the
 * interchange form of lwm2m.h), not in the endpoint's store: /0 is never
 * readable by a management server nor listed in Register, and a bootstrap
 * that fails half-way must leave the previous result as it was. The
 * Bootstrap-Server account itself is the factory configuration (URI and
 * keys of the endpoint config); it is shown as /0/<bs_iid> in Discover and
 * cannot be deleted. Writes to other objects go to the endpoint's store
 * (the gateway's objects; they are not persisted).
 *
 * Bootstrap-Finish checks that a usable server account exists (lwm2m_bs_check:
 * a /0 instance with URI, security mode and Short Server ID matched by a /1
 * instance; else 4.06 Not Acceptable and the bootstrap goes on), answers
 * 2.04, stores the result atomically in the client's state directory, and
 * the endpoint registers with that server, on a new session, with the
 * lifetime and binding of the /1 instance (copied into the store's /1/0).
 *
 * Failures: no answer, a refusal, a DTLS failure, or no Bootstrap-Finish
 * within bootstrap_timeout_ms of the Bootstrap-Server's last message make
 * the attempt fail; it is retried after an exponential backoff with jitter.
 * An endpoint registered from a bootstrap result whose Register fails
 * bootstrap_after_failures times in a row (a server that answers 4.03, a
 * key that no longer works) bootstraps again, unless /1/x/16 "Bootstrap on
 * Registration Failure" is false. A server executing /1/0/9 (Bootstrap-Request
 * Trigger) starts a new bootstrap too.
 *
 * Only PSK and NoSec server accounts are supported, and one server account
 * per endpoint is used (the first usable /0 instance by instance id).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_internal.h"
#include "bs_internal.h"
#include "statefile.h"

#define MS  1000u
#define SEC 1000000u

/* ---- small helpers ----------------------------------------------------------- */

static void *memdup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

static void free_secret(uint8_t *p, size_t n)
{
	if (p)
		explicit_bzero(p, n);
	free(p);
}

/* ---- the endpoint side ----------------------------------------------------------- */

static uint32_t bs_timeout_ms(const struct lwm2m_client *c)
{
	/* CoAP EXCHANGE_LIFETIME (RFC 7252 4.8.2): the longest a well-behaved
	 * Bootstrap-Server can take between two messages. */
	return c->cfg.bootstrap_timeout_ms ? c->cfg.bootstrap_timeout_ms : 247000;
}

static uint64_t bs_backoff(struct lwm2m_endpoint *ep)
{
	const struct lwm2m_client_config *cfg = &ep->c->cfg;

	return fg_client_backoff(ep->c, (uint64_t)cfg->backoff_min_ms * MS,
				 (uint64_t)cfg->backoff_max_ms * MS, &ep->bs->attempts);
}

/* Point the endpoint at a server: URI, and PSK keys for coaps://. The
 * session is reopened before the next message. Nothing changes on error. */
static int ep_use_server(struct lwm2m_endpoint *ep, const char *uri, size_t urilen, const uint8_t *id,
			 size_t idlen, const uint8_t *key, size_t keylen)
{
	bool had_sec = ep->sec != NULL;
	char *u = strndup(uri, urilen);
	uint8_t *i = memdup(id, idlen), *k = memdup(key, keylen);
	int r = -ENOMEM;

	/* Everything that can fail before the server changes (parsing it
	 * changes it, server.c): the keys' room whatever the scheme. */
	if (u && i && k && fg_ep_sec(ep))
		r = fg_ep_parse_server_uri(ep, u);
	free(u);
	if (r < 0 || !ep->secure) {
		free(i);
		free_secret(k, keylen);
		i = k = NULL;
		if (!had_sec)
			fg_ep_sec_free(ep);
	}
	if (r < 0)
		return r;
	if (ep->sec) {
		free(ep->sec->psk_identity);
		free_secret(ep->sec->psk_key, ep->sec->psk_key_len);
		ep->sec->psk_identity = i;
		ep->sec->psk_identity_len = i ? idlen : 0;
		ep->sec->psk_key = k;
		ep->sec->psk_key_len = k ? keylen : 0;
	}
	ep->session_dead = true;
	return 0;
}

/* The account's /1 instance becomes the store's /1/0 (what the management
 * server reads), with the client's own view of SSID, lifetime, binding. */
void fg_bs_apply_store(struct lwm2m_endpoint *ep)
{
	struct fg_bs *bs = ep->bs;
	const struct lwm2m_records *r = &bs->committed;

	if (!ep->store)
		return;
	lwm2m_store_del_instance(ep->store, 1, 0);
	if (fg_ep_server_object_init(ep) < 0) {
		ep_log(ep, LWM2M_LOG_ERR, "cannot write /1/0 of the store");
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct lwm2m_record *rec = &r->v[i];
		struct lwm2m_path p = rec->path;

		if (p.id[0] != 1 || p.id[1] != bs->acct.srv_iid || p.id[2] == 0 || p.id[2] == 1 ||
		    p.id[2] == 7)
			continue;
		p.id[1] = 0;
		lwm2m_store_set(ep->store, &p, &rec->value);
	}
}

/* Take the committed account's server, keys and parameters. */
int fg_bs_use_account(struct lwm2m_endpoint *ep)
{
	struct fg_bs *bs = ep->bs;
	const struct lwm2m_bs_account *a = &bs->acct;
	int r;

	r = ep_use_server(ep, a->uri.ptr, a->uri.len, (const uint8_t *)a->identity.ptr, a->identity.len,
			  (const uint8_t *)a->key.ptr, a->key.len);
	if (r < 0)
		return r;
	ep->ssid = a->ssid;
	ep->lifetime = a->lifetime;
	ep->binding = a->queue ? LWM2M_BINDING_UQ : LWM2M_BINDING_U;
	return 0;
}

int fg_bs_init(struct lwm2m_endpoint *ep, const struct lwm2m_endpoint_config *cfg)
{
	struct lwm2m_client *c = ep->c;
	struct fg_bs *bs;
	const char *why = NULL;
	int r;

	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return -ENOMEM;
	ep->bs = bs;
	bs->uri = strdup(cfg->bootstrap_uri);
	if (!bs->uri)
		return -ENOMEM;
	r = fg_ep_parse_server_uri(ep, bs->uri);
	if (r < 0)
		return r;
	if (ep->secure) {
		if (!coap_dtls_is_supported())
			return -EPROTONOSUPPORT;
		if (!cfg->bootstrap_psk_identity || !*cfg->bootstrap_psk_identity ||
		    !cfg->bootstrap_psk_key || !cfg->bootstrap_psk_key_len)
			return -EINVAL;
		bs->psk_identity_len = strlen(cfg->bootstrap_psk_identity);
		bs->psk_identity = memdup(cfg->bootstrap_psk_identity, bs->psk_identity_len);
		bs->psk_key_len = cfg->bootstrap_psk_key_len;
		bs->psk_key = memdup(cfg->bootstrap_psk_key, cfg->bootstrap_psk_key_len);
		if (!bs->psk_identity || !bs->psk_key)
			return -ENOMEM;
	}
	r = ep_use_server(ep, bs->uri, strlen(bs->uri), bs->psk_identity, bs->psk_identity_len, bs->psk_key,
			  bs->psk_key_len);
	if (r < 0)
		return r;
	if (!c->cfg.state_dir)
		return 0;
	r = fg_bs_state_load(c->cfg.state_dir, ep->name, c->reg, &bs->committed, &why);
	if (r == -ENOENT) {
		ep_log(ep, LWM2M_LOG_INFO, "no stored bootstrap result: bootstrapping");
		return 0;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		char fname[FG_BS_FILE_NAME_MAX];

		fg_bs_state_file_name(ep->name, fname);
		ep_log(ep, LWM2M_LOG_WARNING,
		       "bootstrap state %s/%s unusable (%s): ignored, bootstrapping again", c->cfg.state_dir,
		       fname, why ? why : strerror(-r));
		lwm2m_records_clear(&bs->committed);
		return 0;
	}
	lwm2m_bs_check(&bs->committed, &bs->acct, &why);
	r = fg_bs_use_account(ep);
	if (r < 0)
		return r;
	bs->have_account = true;
	return 0;
}

static void bs_enter(struct lwm2m_endpoint *ep, uint64_t delay_us)
{
	struct fg_bs *bs = ep->bs;

	ep->reg.st = ST_BOOTSTRAP;
	ep->reg.req = REQ_NONE;
	ep->reg.slot_reserved = false;
	/* No location to forget: bootstrap starts before a registration or
	 * after a failed Register, which had cleared it. */
	bs->phase = BS_IDLE;
	lwm2m_records_clear(&bs->work);
	fg_ep_arm(ep, fg_now(ep->c) + delay_us);
}

void fg_bs_start(struct lwm2m_endpoint *ep)
{
	struct fg_bs *bs = ep->bs;

	if (bs->have_account) {
		fg_bs_apply_store(ep);
		ep_log(ep, LWM2M_LOG_INFO,
		       "using the stored bootstrap result: server %s (Short Server ID %u)", ep->uri,
		       ep->ssid);
		return;
	}
	bs_enter(ep, 0);
}

void fg_bs_free(struct lwm2m_endpoint *ep)
{
	struct fg_bs *bs = ep->bs;

	if (!bs)
		return;
	fg_bs_write_cancel(bs);
	fg_bs_drop_pending(bs);
	free(bs->uri);
	free(bs->psk_identity);
	free_secret(bs->psk_key, bs->psk_key_len);
	lwm2m_records_clear(&bs->committed);
	lwm2m_records_clear(&bs->work);
	free(bs);
	ep->bs = NULL;
}

/* A bootstrap attempt failed: back off and start over (the previous
 * result, if any, stays as it was). */
static void bs_fail(struct lwm2m_endpoint *ep, int err, const char *why, bool count)
{
	uint64_t d;

	if (count)
		ep->c->stats.failures++;
	ep->session_dead = true; /* a fresh session (and handshake) next time */
	fg_ep_abandon(ep);       /* and nothing of this attempt leaves later */
	d = bs_backoff(ep);
	ep_log(ep, err == -ECONNREFUSED ? LWM2M_LOG_ERR : LWM2M_LOG_WARNING,
	       "Bootstrap failed: %s; retrying in %.1f s", why, (double)d / SEC);
	bs_enter(ep, d);
	fg_ep_set_state(ep, LWM2M_EP_WAITING, err);
}

/* The lowest /0 instance id not written by the Bootstrap-Server. */
static uint16_t free_sec_iid(const struct lwm2m_records *r)
{
	uint16_t iid = 0;

	while (iid < LWM2M_ID_MAX && lwm2m_bs_rec_has_instance(r, 0, iid))
		iid++;
	return iid;
}

static int bs_send_request(struct lwm2m_endpoint *ep)
{
	struct fg_bs *bs = ep->bs;
	coap_optlist_t *opts = NULL;
	char q[300];
	int n, r;

	if (strcmp(ep->uri, bs->uri) != 0) {
		r = ep_use_server(ep, bs->uri, strlen(bs->uri), bs->psk_identity, bs->psk_identity_len,
				  bs->psk_key, bs->psk_key_len);
		if (r < 0)
			return r;
	}
	/* The Bootstrap-Server sees (and may Bootstrap-Read) what is in use. */
	r = lwm2m_bs_rec_rebuild(&bs->work, &bs->committed, NULL, NULL, NULL);
	if (r < 0)
		return r;
	bs->bs_iid = free_sec_iid(&bs->work);
	if (!coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_PATH, 2, (const uint8_t *)"bs")))
		goto oom;
	n = snprintf(q, sizeof(q), "ep=%s", ep->name);
	if (n < 0 || (size_t)n >= sizeof(q))
		goto inval;
	if (!coap_insert_optlist(&opts,
				 coap_new_optlist(COAP_OPTION_URI_QUERY, (size_t)n, (const uint8_t *)q)))
		goto oom;
	if (ep->version >= 11) {
		/* Preferred Content Format (1.1): what we answer reads in. */
		n = snprintf(q, sizeof(q), "pct=%u", (unsigned)fg_ep_default_ct(ep));
		if (!coap_insert_optlist(
			    &opts, coap_new_optlist(COAP_OPTION_URI_QUERY, (size_t)n, (const uint8_t *)q)))
			goto oom;
	}
	r = fg_ep_send(ep, COAP_REQUEST_CODE_POST, &opts, REQ_BOOTSTRAP);
	if (r >= 0)
		ep_log(ep, LWM2M_LOG_DEBUG, "Bootstrap-Request sent to %s", bs->uri);
	return r;
oom:
	coap_delete_optlist(opts);
	return -ENOMEM;
inval:
	coap_delete_optlist(opts);
	return -EINVAL;
}

void fg_bs_on_timer(struct lwm2m_endpoint *ep)
{
	struct lwm2m_client *c = ep->c;
	struct fg_bs *bs = ep->bs;
	char why[128];
	uint32_t ms;
	int r;

	switch (bs->phase) {
	case BS_IDLE:
		if (!fg_ep_paced(ep))
			return;
		r = bs_send_request(ep);
		if (r < 0) {
			bs_fail(ep, r, strerror(-r), true);
			return;
		}
		bs->phase = BS_REQUESTING;
		ms = c->cfg.request_timeout_ms;
		if (fg_ep_handshaking(ep) && c->cfg.dtls_timeout_ms < ms)
			ms = c->cfg.dtls_timeout_ms;
		fg_ep_arm(ep, fg_now(c) + (uint64_t)ms * MS);
		fg_ep_set_state(ep, LWM2M_EP_BOOTSTRAPPING, 0);
		return;
	case BS_REQUESTING:
		ep->reg.req = REQ_NONE;
		if (fg_ep_handshaking(ep)) {
			snprintf(why, sizeof(why),
				 "DTLS handshake with the Bootstrap-Server not completed in %u s (wrong PSK "
				 "identity or key?)",
				 c->cfg.dtls_timeout_ms / 1000);
			bs_fail(ep, -ECONNREFUSED, why, true);
		} else {
			bs_fail(ep, -ETIMEDOUT, "no answer to the Bootstrap-Request", true);
		}
		return;
	case BS_SERVING:
		snprintf(why, sizeof(why), "no Bootstrap-Finish within %.1f s", bs_timeout_ms(c) / 1000.0);
		bs_fail(ep, -ETIMEDOUT, why, true);
		return;
	}
}

void fg_bs_serving(struct lwm2m_endpoint *ep)
{
	/* Served before its answer arrived (a separate response on its way):
	 * the Bootstrap-Request did its job, its outcome no longer matters. */
	if (ep->bs->phase == BS_REQUESTING)
		ep->reg.req = REQ_NONE;
	ep->bs->phase = BS_SERVING;
	fg_ep_arm(ep, fg_now(ep->c) + (uint64_t)bs_timeout_ms(ep->c) * MS);
}

void fg_bs_response(struct lwm2m_endpoint *ep, uint8_t code)
{
	struct fg_bs *bs = ep->bs;
	char why[64];

	ep->reg.req = REQ_NONE;
	if (code == COAP_RESPONSE_CODE(204)) {
		if (bs->phase == BS_REQUESTING) {
			ep_log(ep, LWM2M_LOG_DEBUG, "Bootstrap-Request accepted");
			fg_bs_serving(ep);
		}
		return;
	}
	snprintf(why, sizeof(why), "the Bootstrap-Server answered %u.%02u", code >> 5, code & 31);
	bs_fail(ep, -EPROTO, why, true);
}

bool fg_bs_failed(struct lwm2m_endpoint *ep, int kind, int err, const char *why)
{
	struct fg_bs *bs = ep->bs;
	unsigned limit = ep->c->cfg.bootstrap_after_failures ? ep->c->cfg.bootstrap_after_failures : 3;

	if (kind == REQ_BOOTSTRAP || ep->reg.st == ST_BOOTSTRAP) {
		bs_fail(ep, err, why, false);
		return true;
	}
	/* ep->attempts counts the failures before this one. */
	if (kind != REQ_REGISTER || !bs->have_account || !bs->acct.bootstrap_on_failure ||
	    ep->reg.attempts + 1 < limit)
		return false;
	ep_log(ep, LWM2M_LOG_NOTICE, "Register failed %u times in a row (last: %s): bootstrapping again",
	       ep->reg.attempts + 1, why);
	ep->reg.attempts = 0;
	ep->session_dead = true;
	bs_enter(ep, bs_backoff(ep));
	fg_ep_set_state(ep, LWM2M_EP_WAITING, err);
	return true;
}

void fg_bs_trigger(struct lwm2m_endpoint *ep)
{
	ep_log(ep, LWM2M_LOG_NOTICE, "Bootstrap-Request Trigger executed by the server: bootstrapping");
	/* The registration is left to expire: the server asked for this. */
	ep->session_dead = true;
	ep->reg.attempts = 0;
	ep->bs->attempts = 0;
	bs_enter(ep, 0);
	fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
}
