/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client-initiated Bootstrap (LwM2M 1.1 Core TS, Bootstrap interface) and
 * the file that keeps its result.
 *
 * An endpoint configured with a Bootstrap-Server (cfg->bootstrap_uri) and
 * no usable stored result enters ST_BOOTSTRAP: at its pacing slot it sends
 * POST /bs?ep=<name>&pct=<ct> to the Bootstrap-Server, then serves that
 * server's requests on the same session:
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
#include "statefile.h"

#define MS  1000u
#define SEC 1000000u

/* Limits of what a Bootstrap-Server may store in /0 and /1. */
#define BS_MAX_RECORDS 512
#define BS_MAX_BYTES   (32u * 1024u)

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

int fg_bs_state_file_name(const char *name, char out[FG_BS_FILE_NAME_MAX])
{
	return fg_state_file_name("bs-", name, ".state", out);
}

/* The I/O half of fg_bs_state_save(): data becomes dir's file for name,
 * atomically. Blocks: called from the writer job, or by fg_bs_state_save(). */
static int state_write(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char fname[FG_BS_FILE_NAME_MAX];
	int r = fg_bs_state_file_name(name, fname);

	return r < 0 ? r : fg_state_replace(dir, fname, data, len);
}

int fg_bs_state_save(const char *dir, const char *name, const struct lwm2m_records *recs)
{
	struct lwm2m_buf b = { 0 };
	int r;

	r = lwm2m_bs_state_encode(name, recs, &b);
	if (r >= 0)
		r = state_write(dir, name, b.data, b.len);
	if (b.data)
		explicit_bzero(b.data, b.cap);
	lwm2m_buf_free(&b);
	return r;
}

int fg_bs_state_load(const char *dir, const char *name, const struct lwm2m_registry *reg,
		     struct lwm2m_records *out, const char **why)
{
	char fname[FG_BS_FILE_NAME_MAX];
	struct stat st;
	uint8_t *data = NULL;
	size_t n = 0;
	int dfd = -1, fd = -1, r;

	if (why)
		*why = NULL;
	r = fg_bs_state_file_name(name, fname);
	if (r < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		if (why)
			*why = "not a regular file";
		r = -EBADMSG;
		goto out;
	}
	if (st.st_size > (off_t)(LWM2M_BS_STATE_MAX + LWM2M_BS_STATE_HDR_LEN + UINT16_MAX)) {
		if (why)
			*why = "too large";
		r = -EBADMSG;
		goto out;
	}
	/* Keys inside: owner only, even when someone loosened it. */
	if ((st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0) {
		r = -errno;
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	while (n <= (size_t)st.st_size) {
		ssize_t got = read(fd, data + n, (size_t)st.st_size + 1 - n);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	r = lwm2m_bs_state_decode(data, n, name, reg, out, why);
out:
	if (data) {
		explicit_bzero(data, n);
		free(data);
	}
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

/* ---- the endpoint side ----------------------------------------------------------- */

enum bs_phase {
	BS_IDLE,       /* timer: when to send the Bootstrap-Request */
	BS_REQUESTING, /* POST /bs sent; timer: its time-out */
	BS_SERVING,    /* accepted; timer: no Bootstrap-Finish in time */
};

struct fg_bs {
	char *uri; /* the Bootstrap-Server, from the configuration */
	uint8_t *psk_identity, *psk_key;
	size_t psk_identity_len, psk_key_len;
	enum bs_phase phase;
	unsigned attempts; /* failed bootstraps in a row, for the backoff */
	bool have_account; /* committed holds acct */
	uint16_t bs_iid;   /* /0 instance shown for the Bootstrap-Server account */
	struct lwm2m_bs_account acct;
	struct lwm2m_records committed; /* the result in use (and on disk) */
	struct lwm2m_records work;      /* what the Bootstrap-Server is writing */
	/* Saving committed: at most one write in flight (so the last rename
	 * is the newest result); a newer result waits in pending. */
	struct job *writing;
	struct lwm2m_buf pending;
	bool have_pending;
};

/* One save of the state file, on a job's thread (open, fsync and rename
 * block, and the loop must not). It owns copies of everything it needs, so
 * an endpoint freed meanwhile is never touched. */
struct bs_write {
	char *dir, *name;
	struct lwm2m_buf data; /* the file's bytes (keys: zeroed when freed) */
};

static void bs_write_free(void *p)
{
	struct bs_write *w = p;

	free(w->dir);
	free(w->name);
	if (w->data.data)
		explicit_bzero(w->data.data, w->data.cap);
	lwm2m_buf_free(&w->data);
	free(w);
}

static int bs_write_run(void *p)
{
	struct bs_write *w = p;

	return state_write(w->dir, w->name, w->data.data, w->data.len);
}

static void bs_save_failed(struct lwm2m_endpoint *ep, int r)
{
	ep_log(ep, LWM2M_LOG_ERR,
	       "cannot store the bootstrap result in %s: %s (the next start bootstraps again)",
	       ep->c->cfg.state_dir, strerror(-r));
}

static void bs_write_cancel(struct fg_bs *bs)
{
	/* A running thread finishes on its own and frees the job. */
	bs->writing = job_cancel(bs->writing);
}

static void bs_drop_pending(struct fg_bs *bs)
{
	if (bs->pending.data)
		explicit_bzero(bs->pending.data, bs->pending.cap);
	lwm2m_buf_free(&bs->pending);
	bs->have_pending = false;
}

static int bs_write_start(struct lwm2m_endpoint *ep, struct lwm2m_buf *data);

static void on_bs_written(void *ud, void *data, int r)
{
	struct lwm2m_endpoint *ep = ud;
	struct fg_bs *bs = ep->bs;

	(void)data;
	bs->writing = NULL;
	if (r < 0)
		bs_save_failed(ep, r);
	if (bs->have_pending) {
		struct lwm2m_buf next = bs->pending;

		bs->pending = (struct lwm2m_buf){ 0 };
		bs->have_pending = false;
		r = bs_write_start(ep, &next);
		if (r < 0)
			bs_save_failed(ep, r);
	}
}

/* Starts writing data (taken over, whatever the outcome) on a thread.
 * Returns 0, or a negative errno when no thread could be started. */
static int bs_write_start(struct lwm2m_endpoint *ep, struct lwm2m_buf *data)
{
	struct bs_write *w = calloc(1, sizeof(*w));

	if (!w) {
		if (data->data)
			explicit_bzero(data->data, data->cap);
		lwm2m_buf_free(data);
		return -ENOMEM;
	}
	w->data = *data;
	*data = (struct lwm2m_buf){ 0 };
	w->dir = strdup(ep->c->cfg.state_dir);
	w->name = strdup(ep->name);
	if (!w->dir || !w->name) {
		bs_write_free(w);
		return -ENOMEM;
	}
	return job_start(ep->c->ev, bs_write_run, w, bs_write_free, on_bs_written, ep, &ep->bs->writing);
}

/* Saves bs->committed: encoded here (CPU only), written on a thread. A
 * failure is logged, here or when the write completes. */
static void bs_save(struct lwm2m_endpoint *ep)
{
	struct fg_bs *bs = ep->bs;
	struct lwm2m_buf b = { 0 };
	int r;

	r = lwm2m_bs_state_encode(ep->name, &bs->committed, &b);
	if (r < 0) {
		if (b.data)
			explicit_bzero(b.data, b.cap);
		lwm2m_buf_free(&b);
		bs_save_failed(ep, r);
		return;
	}
	if (bs->writing) {
		/* Only the newest result matters: it replaces any pending. */
		bs_drop_pending(bs);
		bs->pending = b;
		bs->have_pending = true;
		return;
	}
	r = bs_write_start(ep, &b);
	if (r < 0)
		bs_save_failed(ep, r);
}

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
	coap_address_t old_addr = ep->server;
	bool old_secure = ep->secure;
	char *u = strndup(uri, urilen);
	uint8_t *i = NULL, *k = NULL;
	int r;

	if (!u)
		return -ENOMEM;
	r = fg_ep_parse_server_uri(ep, u);
	if (r >= 0 && ep->secure) {
		i = memdup(id, idlen);
		k = memdup(key, keylen);
		if (!i || !k)
			r = -ENOMEM;
	}
	if (r < 0) {
		ep->server = old_addr;
		ep->secure = old_secure;
		free(u);
		free(i);
		free_secret(k, keylen);
		return r;
	}
	free(ep->uri);
	ep->uri = u;
	free(ep->psk_identity);
	free_secret(ep->psk_key, ep->psk_key_len);
	ep->psk_identity = i;
	ep->psk_identity_len = i ? idlen : 0;
	ep->psk_key = k;
	ep->psk_key_len = k ? keylen : 0;
	ep->session_dead = true;
	return 0;
}

/* The account's /1 instance becomes the store's /1/0 (what the management
 * server reads), with the client's own view of SSID, lifetime, binding. */
static void bs_apply_store(struct lwm2m_endpoint *ep)
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
static int bs_use_account(struct lwm2m_endpoint *ep)
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
	r = bs_use_account(ep);
	if (r < 0)
		return r;
	bs->have_account = true;
	return 0;
}

static void bs_enter(struct lwm2m_endpoint *ep, uint64_t delay_us)
{
	struct fg_bs *bs = ep->bs;

	ep->st = ST_BOOTSTRAP;
	ep->req = REQ_NONE;
	ep->slot_reserved = false;
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
		bs_apply_store(ep);
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
	bs_write_cancel(bs);
	bs_drop_pending(bs);
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

static bool bs_handshaking(const struct lwm2m_endpoint *ep)
{
	return ep->secure && ep->session &&
	       coap_session_get_state(ep->session) != COAP_SESSION_STATE_ESTABLISHED;
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
		if (bs_handshaking(ep) && c->cfg.dtls_timeout_ms < ms)
			ms = c->cfg.dtls_timeout_ms;
		fg_ep_arm(ep, fg_now(c) + (uint64_t)ms * MS);
		fg_ep_set_state(ep, LWM2M_EP_BOOTSTRAPPING, 0);
		return;
	case BS_REQUESTING:
		ep->req = REQ_NONE;
		if (bs_handshaking(ep)) {
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

static void bs_serving(struct lwm2m_endpoint *ep)
{
	/* Served before its answer arrived (a separate response on its way):
	 * the Bootstrap-Request did its job, its outcome no longer matters. */
	if (ep->bs->phase == BS_REQUESTING)
		ep->req = REQ_NONE;
	ep->bs->phase = BS_SERVING;
	fg_ep_arm(ep, fg_now(ep->c) + (uint64_t)bs_timeout_ms(ep->c) * MS);
}

void fg_bs_response(struct lwm2m_endpoint *ep, uint8_t code)
{
	struct fg_bs *bs = ep->bs;
	char why[64];

	ep->req = REQ_NONE;
	if (code == COAP_RESPONSE_CODE(204)) {
		if (bs->phase == BS_REQUESTING) {
			ep_log(ep, LWM2M_LOG_DEBUG, "Bootstrap-Request accepted");
			bs_serving(ep);
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

	if (kind == REQ_BOOTSTRAP || ep->st == ST_BOOTSTRAP) {
		bs_fail(ep, err, why, false);
		return true;
	}
	/* ep->attempts counts the failures before this one. */
	if (kind != REQ_REGISTER || !bs->have_account || !bs->acct.bootstrap_on_failure ||
	    ep->attempts + 1 < limit)
		return false;
	ep_log(ep, LWM2M_LOG_NOTICE, "Register failed %u times in a row (last: %s): bootstrapping again",
	       ep->attempts + 1, why);
	ep->attempts = 0;
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
	ep->attempts = 0;
	ep->bs->attempts = 0;
	bs_enter(ep, 0);
	fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
}

/* ---- requests of the Bootstrap-Server ------------------------------------------ */

struct bsreq {
	struct lwm2m_endpoint *ep;
	coap_resource_t *resource;
	coap_session_t *session;
	const coap_pdu_t *pdu;
	const coap_string_t *query;
	coap_pdu_t *response;
	struct lwm2m_path path;
	uint16_t accept, cf;
	const uint8_t *data;
	size_t len;
};

static void set_code(struct bsreq *q, uint8_t code)
{
	coap_pdu_set_code(q->response, (coap_pdu_code_t)code);
}

static void release_buf(coap_session_t *session, void *app_ptr)
{
	(void)session;
	free(app_ptr);
}

static void reply_content(struct bsreq *q, uint16_t ct, struct lwm2m_buf *body)
{
	uint8_t *data = body->data;
	size_t len = body->len;

	body->data = NULL;
	body->len = body->cap = 0;
	set_code(q, COAP_RESPONSE_CODE(205));
	if (ct == LWM2M_CT_TEXT)
		coap_add_option(q->response, COAP_OPTION_CONTENT_FORMAT, 0, NULL);
	/* libcoap owns data from here, even on failure. */
	if (!coap_add_data_large_response(q->resource, q->session, q->pdu, q->response, q->query, ct, -1, 0,
					  len, data ? data : (const uint8_t *)"", release_buf, data))
		set_code(q, COAP_RESPONSE_CODE(500));
}

static uint16_t opt_uint(const coap_pdu_t *pdu, coap_option_num_t num)
{
	coap_opt_iterator_t oi;
	coap_opt_t *o = coap_check_option(pdu, num, &oi);

	if (!o)
		return LWM2M_CT_NONE;
	return (uint16_t)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

/* The Uri-Path as text ("/0/1", "/bs"); -EBADMSG when it cannot be. */
static int uri_path(const coap_pdu_t *pdu, char *buf, size_t cap, size_t *len)
{
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	size_t n = 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(pdu, &oi, &f);
	while ((o = coap_option_next(&oi))) {
		size_t l = coap_opt_length(o);
		const uint8_t *v = coap_opt_value(o);

		if (l == 0 || n + 1 + l >= cap || memchr(v, '/', l))
			return -EBADMSG;
		buf[n++] = '/';
		memcpy(buf + n, v, l);
		n += l;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Drop the records at or below ctx (a path). */
static bool drop_under(const struct lwm2m_record *rec, const void *ctx)
{
	return lwm2m_path_is_under(&rec->path, ctx);
}

/* Drop the instances of /0 that are not Bootstrap-Server accounts (ctx:
 * the records being rebuilt) and every /1 instance when asked. */
struct drop_ctx {
	const struct lwm2m_records *recs;
	bool sec, srv;
};

static bool drop_accounts(const struct lwm2m_record *rec, const void *ctx)
{
	const struct drop_ctx *d = ctx;

	if (rec->path.id[0] == 0)
		return d->sec && !lwm2m_bs_is_bootstrap_account(d->recs, rec->path.id[1]);
	return d->srv && rec->path.id[0] == 1;
}

/* Drop the instances of an object that appear in ctx (the new records). */
struct drop_inst_ctx {
	const struct lwm2m_records *add;
};

static bool drop_written_instances(const struct lwm2m_record *rec, const void *ctx)
{
	const struct drop_inst_ctx *d = ctx;

	for (size_t i = 0; i < d->add->n; i++)
		if (d->add->v[i].path.id[0] == rec->path.id[0] && d->add->v[i].path.id[1] == rec->path.id[1])
			return true;
	return false;
}

static int bs_decode(struct bsreq *q, struct lwm2m_records *recs, const char **why)
{
	int r;

	if (q->cf == LWM2M_CT_NONE || q->cf == LWM2M_CT_LINK)
		return -EPROTONOSUPPORT;
	r = lwm2m_decode(q->cf, &q->path, q->data, q->len, lwm2m_registry_type_of, (void *)q->ep->c->reg,
			 recs);
	if (r == -ENOTSUP)
		return -EPROTONOSUPPORT;
	if (r < 0)
		return r == -ENOMEM || r == -EPROTONOSUPPORT ? r : -EBADMSG;
	return lwm2m_bs_rec_normalize(q->ep->c->reg, &q->path, recs, why);
}

static int bs_write(struct bsreq *q)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct fg_bs *bs = ep->bs;
	struct lwm2m_records recs = { 0 };
	const char *why = NULL;
	uint16_t oid = q->path.id[0];
	int r;

	if (q->path.len == 0)
		return -EINVAL;
	if (!fg_objdef(ep, oid))
		return -ENOENT;
	r = bs_decode(q, &recs, &why);
	if (r < 0)
		goto out;
	if (oid == 0 || oid == 1) {
		struct lwm2m_records next = { 0 };
		struct drop_inst_ctx d = { &recs };

		/* A whole object: the instances it carries replace theirs;
		 * an instance or resource: replaced whole. */
		r = q->path.len == 1
			    ? lwm2m_bs_rec_rebuild(&next, &bs->work, drop_written_instances, &d, &recs)
			    : lwm2m_bs_rec_rebuild(&next, &bs->work, drop_under, &q->path, &recs);
		if (r >= 0 && (next.n > BS_MAX_RECORDS || lwm2m_bs_rec_bytes(&next) > BS_MAX_BYTES))
			r = -E2BIG;
		if (r >= 0) {
			lwm2m_records_clear(&bs->work);
			bs->work = next;
		} else {
			lwm2m_records_clear(&next);
		}
		goto out;
	}
	/* Another object: the gateway's own store (not persisted). */
	if (!ep->store) {
		r = -ENOENT;
		goto out;
	}
	for (size_t i = 0; i < recs.n && r >= 0; i++) {
		const struct lwm2m_record *rec = &recs.v[i];

		if (rec->value.type == LWM2M_TYPE_NONE)
			continue;
		r = lwm2m_store_add_instance(ep->store, rec->path.id[0], rec->path.id[1]);
		if (r == -EEXIST)
			r = 0;
		if (r >= 0)
			r = lwm2m_store_set(ep->store, &rec->path, &rec->value);
	}
out:
	if (r < 0 && why)
		ep_log(ep, LWM2M_LOG_NOTICE, "Bootstrap-Write refused: %s", why);
	lwm2m_records_clear(&recs);
	return r;
}

static int bs_delete(struct bsreq *q)
{
	struct fg_bs *bs = q->ep->bs;
	struct lwm2m_records next = { 0 };
	const struct lwm2m_path *p = &q->path;
	int r;

	if (p->len > 2)
		return -EINVAL;
	if (p->len >= 1 && p->id[0] > 1)
		return -EINVAL; /* the gateway's own objects are not the Bootstrap-Server's */
	if (p->len == 2) {
		/* Never the Bootstrap-Server account (TS: 4.00 Bad Request). */
		if (p->id[0] == 0 &&
		    ((p->id[1] == bs->bs_iid && !lwm2m_bs_rec_has_instance(&bs->work, 0, p->id[1])) ||
		     lwm2m_bs_is_bootstrap_account(&bs->work, p->id[1])))
			return -EINVAL;
		r = lwm2m_bs_rec_rebuild(&next, &bs->work, drop_under, p, NULL);
	} else {
		struct drop_ctx d = { &bs->work, p->len == 0 || p->id[0] == 0, p->len == 0 || p->id[0] == 1 };

		r = lwm2m_bs_rec_rebuild(&next, &bs->work, drop_accounts, &d, NULL);
	}
	if (r < 0)
		return r;
	lwm2m_records_clear(&bs->work);
	bs->work = next;
	set_code(q, COAP_RESPONSE_CODE(202));
	return 0;
}

static int bs_read(struct bsreq *q)
{
	struct fg_bs *bs = q->ep->bs;
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf out = { 0 };
	const struct lwm2m_path *p = &q->path;
	uint16_t ct = q->accept != LWM2M_CT_NONE ? q->accept : fg_ep_default_ct(q->ep);
	int r = 0;

	/* Security and OSCORE hold keys: never readable. Reads are for the
	 * Server object only (TS: restricted to /1, and /2 which we lack). */
	if (p->len >= 1 && (p->id[0] == 0 || p->id[0] == 21))
		return -EACCES;
	if (p->len == 0 || p->id[0] != 1)
		return -EPERM;
	if (p->len > 2)
		return -EINVAL;
	if (p->len == 2 && !lwm2m_bs_rec_has_instance(&bs->work, 1, p->id[1]))
		return -ENOENT;
	for (size_t i = 0; i < bs->work.n && r >= 0; i++)
		if (lwm2m_path_is_under(&bs->work.v[i].path, p))
			r = lwm2m_bs_rec_copy(&recs, &bs->work.v[i]);
	if (r >= 0)
		r = lwm2m_encode(ct, p, recs.v, recs.n, &out);
	if (r == -EPROTONOSUPPORT || r == -ENOTSUP)
		r = -ENOTSUP;
	if (r >= 0)
		reply_content(q, ct, &out);
	if (out.data)
		explicit_bzero(out.data, out.cap);
	lwm2m_buf_free(&out);
	lwm2m_records_clear(&recs);
	return r;
}

struct oid_set {
	uint16_t *v;
	size_t n, cap;
};

static int oid_add(struct oid_set *s, uint16_t oid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == oid)
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		uint16_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = oid;
	return 0;
}

static int collect_oid(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	(void)iid;
	return oid_add(ctx, def->oid);
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return x < y ? -1 : x > y;
}

struct iid_ctx {
	uint16_t oid;
	struct oid_set *iids;
};

static int collect_iid(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	struct iid_ctx *d = ctx;

	return def->oid == d->oid ? oid_add(d->iids, iid) : 0;
}

/* Links of one object for Bootstrap-Discover: "</oid>;ver=" when not 1.0
 * (or "</oid>" without instances), then each instance, /0 and /1 with the
 * ssid and uri attributes of the TS. */
static int discover_object(struct bsreq *q, uint16_t oid, struct lwm2m_buf *b)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct fg_bs *bs = ep->bs;
	const struct lwm2m_objdef *def = fg_objdef(ep, oid);
	struct oid_set iids = { 0 };
	int r = 0;

	if (!def)
		return 0;
	if (oid == 0 || oid == 1) {
		for (size_t i = 0; i < bs->work.n && r >= 0; i++)
			if (bs->work.v[i].path.id[0] == oid)
				r = oid_add(&iids, bs->work.v[i].path.id[1]);
		if (oid == 0 && r >= 0 && !lwm2m_bs_rec_has_instance(&bs->work, 0, bs->bs_iid))
			r = oid_add(&iids, bs->bs_iid);
	} else if (ep->store) {
		struct iid_ctx d = { oid, &iids };

		r = lwm2m_store_foreach_instance(ep->store, collect_iid, &d);
	}
	if (r < 0)
		goto out;
	if (iids.n)
		qsort(iids.v, iids.n, sizeof(*iids.v), cmp_u16);
	unsigned v = fg_announced_version(def, ep->version);
	if (v != 10)
		r = lwm2m_buf_printf(b, ",</%u>;ver=%u.%u", oid, v / 10, v % 10);
	else if (!iids.n)
		r = lwm2m_buf_printf(b, ",</%u>", oid);
	for (size_t i = 0; i < iids.n && r >= 0; i++) {
		uint16_t iid = iids.v[i];
		const struct lwm2m_value *ssid = NULL, *uri = NULL;

		r = lwm2m_buf_printf(b, ",</%u/%u>", oid, iid);
		if (oid == 0 && !lwm2m_bs_is_bootstrap_account(&bs->work, iid)) {
			ssid = lwm2m_bs_rec_get(&bs->work, 0, iid, 10);
			uri = lwm2m_bs_rec_get(&bs->work, 0, iid, 0);
		} else if (oid == 1) {
			ssid = lwm2m_bs_rec_get(&bs->work, 1, iid, 0);
		}
		if (r >= 0 && ssid && ssid->type == LWM2M_TYPE_INTEGER)
			r = lwm2m_buf_printf(b, ";ssid=%lld", (long long)ssid->i);
		if (r >= 0 && uri && uri->type == LWM2M_TYPE_STRING) {
			struct lwm2m_link l = { .uri = { "", 0 }, .nparams = 1 };
			struct lwm2m_buf one = { 0 };

			/* The link encoder quotes (and escapes) the value. */
			l.params[0] = (struct lwm2m_link_param){
				.name = { "uri", 3 },
				.value = { (const char *)uri->bytes.ptr, uri->bytes.len },
				.has_value = true,
				.quoted = true,
			};
			r = lwm2m_link_encode(&one, &l, 1);
			/* "<>;uri=..." -> ";uri=..." */
			if (r >= 0 && one.len > 2)
				r = lwm2m_buf_append(b, one.data + 2, one.len - 2);
			lwm2m_buf_free(&one);
		}
	}
out:
	free(iids.v);
	return r;
}

static int bs_discover(struct bsreq *q)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct oid_set oids = { 0 };
	struct lwm2m_buf b = { 0 };
	const char *ver = ep->version == 10 ? "1.0" : ep->version == 12 ? "1.2" : "1.1";
	int r;

	if (q->path.len > 1)
		return -EINVAL;
	if (q->path.len == 1 && !fg_objdef(ep, q->path.id[0]))
		return -ENOENT;
	r = oid_add(&oids, 0);
	if (r >= 0)
		r = oid_add(&oids, 1);
	if (r >= 0 && ep->store)
		r = lwm2m_store_foreach_instance(ep->store, collect_oid, &oids);
	for (size_t i = 0; i < ep->ndeclared && r >= 0; i++)
		r = oid_add(&oids, ep->declared[i]);
	if (r < 0)
		goto out;
	qsort(oids.v, oids.n, sizeof(*oids.v), cmp_u16);
	r = lwm2m_buf_printf(&b, "</>;lwm2m=%s", ver);
	for (size_t i = 0; i < oids.n && r >= 0; i++) {
		/* /21 (OSCORE) would be listed; /25 belongs to the client. */
		if (q->path.len == 1 && oids.v[i] != q->path.id[0])
			continue;
		r = discover_object(q, oids.v[i], &b);
	}
	if (r >= 0)
		reply_content(q, LWM2M_CT_LINK, &b);
out:
	lwm2m_buf_free(&b);
	free(oids.v);
	return r;
}

static void bs_finish(struct bsreq *q)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct lwm2m_client *c = ep->c;
	struct fg_bs *bs = ep->bs;
	struct lwm2m_bs_account acct, old_acct = bs->acct;
	struct lwm2m_records old = bs->committed;
	const char *why = NULL;
	int r;

	if (lwm2m_bs_check(&bs->work, &acct, &why) < 0) {
		/* TS: 4.06 Not Acceptable, and the Bootstrap-Server may go on. */
		ep_log(ep, LWM2M_LOG_WARNING, "Bootstrap-Finish refused: %s", why);
		set_code(q, COAP_RESPONSE_CODE(406));
		return;
	}
	bs->committed = bs->work;
	bs->work = (struct lwm2m_records){ 0 };
	bs->acct = acct;
	r = bs_use_account(ep);
	if (r < 0) {
		bs->work = bs->committed;
		bs->committed = old;
		bs->acct = old_acct;
		set_code(q, lwm2m_errno_to_coap(r));
		return;
	}
	lwm2m_records_clear(&old);
	bs->have_account = true;
	bs->attempts = 0;
	bs->phase = BS_IDLE;
	if (c->cfg.state_dir)
		bs_save(ep);
	bs_apply_store(ep);
	set_code(q, COAP_RESPONSE_CODE(204));
	ep_log(ep, LWM2M_LOG_INFO, "bootstrapped: LwM2M server %s (Short Server ID %u, %s, lifetime %u s)",
	       ep->uri, ep->ssid, acct.mode == 0 ? "PSK" : "NoSec", ep->lifetime);
	/* Register from the timer, once this answer has left on the
	 * Bootstrap-Server's session (ep_use_server marked it for closing). */
	ep->st = ST_WAIT_REGISTER;
	ep->req = REQ_NONE;
	ep->slot_reserved = false;
	ep->attempts = 0;
	fg_ep_arm(ep, fg_now(c));
	fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
}

void fg_bs_handler(struct lwm2m_endpoint *ep, coap_resource_t *resource, coap_session_t *session,
		   const coap_pdu_t *request, const coap_string_t *query, coap_pdu_t *response,
		   const uint8_t *body, size_t body_len)
{
	struct fg_bs *bs = ep->bs;
	struct bsreq q = {
		.ep = ep,
		.resource = resource,
		.session = session,
		.pdu = request,
		.query = query,
		.response = response,
	};
	coap_pdu_code_t method = coap_pdu_get_code(request);
	char path[160];
	size_t plen;
	int r;

	if (bs->phase == BS_IDLE) {
		/* Between attempts: nobody may configure us. */
		set_code(&q, COAP_RESPONSE_CODE(401));
		return;
	}
	/* A request before the answer to ours (a separate response still
	 * on its way) means the Bootstrap-Server accepted it. */
	bs_serving(ep);
	if (uri_path(request, path, sizeof(path), &plen) < 0) {
		set_code(&q, COAP_RESPONSE_CODE(400));
		return;
	}
	if (plen == 3 && !memcmp(path, "/bs", 3)) {
		if (method == COAP_REQUEST_CODE_POST)
			bs_finish(&q);
		else
			set_code(&q, COAP_RESPONSE_CODE(405));
		return;
	}
	if (lwm2m_path_parse(path, plen, &q.path, NULL) < 0) {
		set_code(&q, COAP_RESPONSE_CODE(404));
		return;
	}
	q.accept = opt_uint(request, COAP_OPTION_ACCEPT);
	q.cf = opt_uint(request, COAP_OPTION_CONTENT_FORMAT);
	q.data = body;
	q.len = body_len;
	switch (method) {
	case COAP_REQUEST_CODE_PUT:
		r = bs_write(&q);
		if (r >= 0)
			set_code(&q, COAP_RESPONSE_CODE(204));
		break;
	case COAP_REQUEST_CODE_GET:
		r = q.accept == LWM2M_CT_LINK ? bs_discover(&q) : bs_read(&q);
		break;
	case COAP_REQUEST_CODE_DELETE:
		r = bs_delete(&q);
		break;
	default:
		r = -EPERM;
		break;
	}
	if (r < 0)
		set_code(&q, lwm2m_errno_to_coap(r == -EBADMSG ? -EINVAL : r));
}
