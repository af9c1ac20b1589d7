/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Information reporting: Observe, Observe-Composite, Cancel and the
 * notifications, on top of the pure observation engine (lwm2m/observe.h).
 *
 * The engine decides when to notify; this file keeps, per observation, what
 * libcoap needs to send the notification (session, token, content format,
 * paths) and sends it. The engine's one deadline is one timer of the
 * client's heap, so value changes reported from inside a libcoap handler
 * (a server Write) only arm that timer: notifications always leave from the
 * heap dispatch.
 *
 * Notifications are Non-confirmable, Confirmable when the engine says so
 * (the observation's last CON is con_period_s old). A Reset is how a server
 * cancels an observation (RFC 7641 §3.6): to a CON it reaches fg_obs_nack()
 * with the notification; to a NON, libcoap 4.3.1 only logs "got RST for
 * mid=0x..." (client.c reads that line) and newer versions call the nack
 * handler with the message id: fg_obs_reset() finds the observation whose
 * last NON had that id (c->mids lists observations by that id). Message
 * ids are per session, so a Reset known only by its id could match
 * observations of several endpoints: a NON therefore skips the ids that
 * any NON notification of the client used within the last RESET_WINDOW_US
 * (up to MID_PROBES of them). Should a Reset still match several, none is
 * cancelled, but each sends its next notification as CON, whose Reset (or
 * ACK) is unambiguous.
 *
 * libcoap sends one CON at a time per session (NSTART 1) and does not
 * report the ACK of a CON notification, only its failure. A notification
 * that should be CON goes out as NON (and the next one tries again) while
 * a CON of the endpoint may still be in flight or the next Update is less
 * than MAX_TRANSMIT_WAIT away: a server that never acknowledges can then
 * hold back an Update by one CON exchange at most, never long enough for
 * the registration to lapse (see client.h).
 *
 * A notification larger than one datagram leaves as its first Block2
 * (RFC 7959 §2.4/§3.4); libcoap answers the server's requests for the
 * other blocks from the body handed to it with the notification (see
 * block_resource() for why each observed path has a resource of its own).
 *
 * Targets: the engine knows "endpoints" by a 32-bit id; each LwM2M endpoint
 * and each Object 25 device is one target, found through c->targets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "request.h"

struct fg_obs {
	struct fg_obs *prev, *next; /* on the target's endpoint */
	uint32_t target;
	struct lwm2m_device *dev;
	uint8_t token[8];
	size_t token_len;
	uint16_t ct;
	bool composite;
	bool want_con;                      /* the next notification is CON (owed, or to resolve a Reset) */
	coap_mid_t non_mid;                 /* message id of the last NON notification */
	uint64_t non_when;                  /* and when it left (µs), 0: none */
	struct fg_obs *mid_prev, *mid_next; /* in c->mids while non_when */
	size_t npaths;
	struct lwm2m_path paths[]; /* sorted for composite */
};

static uint64_t now_ms(const struct lwm2m_client *c)
{
	return fg_now(c) / 1000u;
}

static struct lwm2m_store *target_store(const struct lwm2m_client *c, uint32_t id)
{
	const struct fg_target *t;

	if (id == 0 || id > c->ntargets)
		return NULL;
	t = &c->targets[id - 1];
	if (!t->ep)
		return NULL;
	return t->dev ? t->dev->store : t->ep->store;
}

static int engine_read(void *ctx, uint32_t ep, const struct lwm2m_path *p, struct lwm2m_value *out)
{
	struct lwm2m_store *s = target_store(ctx, ep);

	if (!s)
		return -ENOENT;
	return lwm2m_store_get(s, p, out);
}

static void on_obs_timer(struct lwm2m_client *c, struct fg_timer *t);

/* A few times what a server observes on a rich device (Device, Connectivity,
 * Firmware and some sensor objects, each resource observed alone: well under
 * 100), while one endpoint at the bound holds ~60 KiB and one change sends
 * at most that many notifications in one burst, which loopback and server
 * socket buffers (208 KiB by default) still take. */
#define MAX_OBSERVATIONS_DEFAULT 256u

/* One warning per target and minute at most: a server that keeps asking
 * beyond the bound must not flood the log. */
#define REFUSED_WARN_US (60u * 1000000u)

/* Observations by the message id of their last NON (buckets: ids are
 * sequential per session from a random start, id % MID_BUCKETS spreads
 * them evenly), and the ids of recent NONs as two generations of bits,
 * each RESET_WINDOW_US long: an id stays marked for one to two windows. */
#define MID_BUCKETS 4096u
struct fg_mid_index {
	struct fg_obs *buckets[MID_BUCKETS];
	uint64_t since; /* start of the current generation, µs */
	uint64_t bits[2][65536 / 64];
	uint32_t marked[2]; /* bits set in each generation */
};

/* Ids a NON may skip to find one no recent NON used: enough to step over
 * the burst of several endpoints at their bound whose sessions happen to
 * use the same ids (a bit test each); beyond, the CON fallback resolves.
 * With nearly every id marked (more than 60,000 NON notifications in one
 * to two windows) probing would mostly be in vain: it stops. */
#define MID_PROBES  1024
#define MID_CROWDED 61440u

/* A Reset answers a NON sent at most this long ago (it is sent on receipt;
 * RFC 7252 MAX_LATENCY is 100 s, real paths take well under a second). */
#define RESET_WINDOW_US (30u * 1000000u)

int fg_obs_init(struct lwm2m_client *c)
{
	struct lwm2m_obs_config cfg = { .read = engine_read,
					.read_ctx = c,
					.con_period_s = c->cfg.con_period_s };

	if (!c->cfg.max_observations)
		c->cfg.max_observations = MAX_OBSERVATIONS_DEFAULT;
	cfg.max_per_endpoint = c->cfg.max_observations;

	c->obs = lwm2m_obs_engine_new(&cfg);
	c->mids = calloc(1, sizeof(*c->mids));
	if (!c->obs || !c->mids)
		return -ENOMEM; /* lwm2m_client_free() frees what was made */
	fg_timer_init(&c->obs_timer, on_obs_timer);
	return 0;
}

void fg_obs_free(struct lwm2m_client *c)
{
	c->obs = lwm2m_obs_engine_free(c->obs);
	free(c->mids);
	c->mids = NULL;
	free(c->targets);
	free(c->free_targets);
	c->targets = NULL;
	c->free_targets = NULL;
	c->ntargets = c->nfree_targets = 0;
}

int lwm2m_client_set_max_observations(struct lwm2m_client *c, uint32_t n)
{
	if (!c)
		return -EINVAL;
	c->cfg.max_observations = n ? n : MAX_OBSERVATIONS_DEFAULT;
	lwm2m_obs_set_limit(c->obs, c->cfg.max_observations);
	return 0;
}

/* Arm the heap timer at the engine's next deadline. */
void fg_obs_rearm(struct lwm2m_client *c)
{
	uint64_t t = lwm2m_obs_next_deadline(c->obs);

	if (t == LWM2M_OBS_NEVER) {
		fg_timer_disarm(c, &c->obs_timer);
		return;
	}
	fg_timer_arm(c, &c->obs_timer, t * 1000u);
}

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

static void obs_unlink(struct lwm2m_endpoint *ep, struct fg_obs *o)
{
	mid_forget(ep->c, o);
	if (o->prev)
		o->prev->next = o->next;
	else
		ep->obs = o->next;
	if (o->next)
		o->next->prev = o->prev;
	ep->c->stats.observations--;
	free(o);
}

/* ---- targets ---------------------------------------------------------------- */

static struct lwm2m_obs_defaults server_defaults(const struct lwm2m_endpoint *ep)
{
	struct lwm2m_obs_defaults d = { 0 };
	struct lwm2m_value v, iv;

	if (!ep->store)
		return d;
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 2), &v) == 0 &&
	    lwm2m_value_convert(&v, LWM2M_TYPE_UNSIGNED, &iv) == 0 && iv.u <= UINT32_MAX)
		d.pmin = (uint32_t)iv.u;
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 3), &v) == 0 &&
	    lwm2m_value_convert(&v, LWM2M_TYPE_UNSIGNED, &iv) == 0 && iv.u <= UINT32_MAX)
		d.pmax = (uint32_t)iv.u;
	return d;
}

int fg_obs_target_add(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, uint32_t *out)
{
	struct lwm2m_client *c = ep->c;
	struct lwm2m_obs_defaults d = server_defaults(ep);
	uint32_t id;
	int r;

	if (c->nfree_targets) {
		id = c->free_targets[--c->nfree_targets];
	} else {
		struct fg_target *v = realloc(c->targets, (c->ntargets + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->targets = v;
		id = (uint32_t)++c->ntargets;
	}
	r = lwm2m_obs_endpoint_add(c->obs, id, &d);
	if (r < 0) {
		c->targets[id - 1] = (struct fg_target){ 0 };
		fg_obs_target_release_id(c, id);
		return r;
	}
	c->targets[id - 1] = (struct fg_target){ .ep = ep, .dev = dev };
	r = fg_sf_target_add(c, id);
	if (r < 0) {
		lwm2m_obs_endpoint_remove(c->obs, id);
		c->targets[id - 1] = (struct fg_target){ 0 };
		fg_obs_target_release_id(c, id);
		return r;
	}
	*out = id;
	return 0;
}

void fg_obs_target_release_id(struct lwm2m_client *c, uint32_t id)
{
	uint32_t *v = realloc(c->free_targets, (c->nfree_targets + 1) * sizeof(*v));

	/* Without memory the id is just not reused. */
	if (!v)
		return;
	c->free_targets = v;
	v[c->nfree_targets++] = id;
}

void fg_obs_target_remove(struct lwm2m_endpoint *ep, uint32_t id)
{
	struct lwm2m_client *c = ep->c;

	if (!id || id > c->ntargets || !c->targets[id - 1].ep)
		return;
	for (struct fg_obs *o = ep->obs, *next; o; o = next) {
		next = o->next;
		if (o->target == id)
			obs_unlink(ep, o);
	}
	lwm2m_obs_endpoint_remove(c->obs, id);
	fg_sf_target_remove(c, id);
	c->targets[id - 1] = (struct fg_target){ 0 };
	fg_obs_target_release_id(c, id);
	fg_obs_rearm(c);
}

void fg_obs_defaults_changed(struct lwm2m_endpoint *ep)
{
	struct lwm2m_obs_defaults d = server_defaults(ep);

	lwm2m_obs_set_defaults(ep->c->obs, ep->obs_id, &d, now_ms(ep->c));
	for (size_t i = 0; i < ep->ndevs; i++)
		lwm2m_obs_set_defaults(ep->c->obs, ep->devs[i]->obs_id, &d, now_ms(ep->c));
	fg_obs_rearm(ep->c);
}

/* ---- observations ------------------------------------------------------------ */

static struct fg_obs *obs_find(const struct lwm2m_endpoint *ep, const uint8_t *tok, size_t len)
{
	for (struct fg_obs *o = ep->obs; o; o = o->next)
		if (o->token_len == len && !memcmp(o->token, tok, len))
			return o;
	return NULL;
}

void fg_obs_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	if (!ep->obs_quiet && !ep->removing && ep->ops && ep->ops->observations_changed)
		ep->ops->observations_changed(ep->ops_ud, ep, dev);
}

static void obs_cancel(struct lwm2m_endpoint *ep, struct fg_obs *o)
{
	struct lwm2m_device *dev = o->dev;

	lwm2m_obs_cancel(ep->c->obs, o->target, (uint64_t)(uintptr_t)o);
	obs_unlink(ep, o);
	fg_obs_rearm(ep->c);
	fg_obs_changed(ep, dev);
}

int lwm2m_endpoint_observed(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			    const struct lwm2m_path *p, uint32_t *pmin_s)
{
	bool found = false;
	uint32_t best = 0;

	for (const struct fg_obs *o = ep->obs; o; o = o->next) {
		bool covers = false;
		if (o->dev != dev)
			continue;
		for (size_t i = 0; i < o->npaths && !covers; i++)
			covers = lwm2m_path_is_under(p, &o->paths[i]) || lwm2m_path_is_under(&o->paths[i], p);
		if (!covers)
			continue;
		struct lwm2m_attrs a = { 0 };
		uint32_t pmin = 0;
		if (lwm2m_obs_effective(ep->c->obs, o->target, p, &a) == 0 && (a.set & LWM2M_ATTR_PMIN))
			pmin = a.pmin;
		if (!found || pmin < best)
			best = pmin;
		found = true;
	}
	*pmin_s = best;
	return found;
}

/* An Observe refused at the bound: counted, and logged at most once a
 * minute per target with the number refused meanwhile. */
static void refused(struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, uint32_t target,
		    const struct lwm2m_path *paths, size_t n)
{
	struct lwm2m_client *c = ep->c;
	struct fg_target *t = &c->targets[target - 1];
	uint64_t now = fg_now(c);
	char ps[32], what[128] = "Observe";

	c->stats.obs_refused++;
	t->refused_since++;
	if (t->refused_warned && now - t->refused_warned < REFUSED_WARN_US)
		return;
	if (n > 1)
		snprintf(what, sizeof(what), "Observe-Composite of %zu paths", n);
	else if (lwm2m_path_format(&paths[0], ps) >= 0)
		snprintf(what, sizeof(what), "Observe of %s%.*s%s", dev ? "/" : "",
			 dev ? (int)dev->prefix_len : 0, dev ? dev->prefix : "", ps);
	ep_log(ep, LWM2M_LOG_WARNING,
	       "%s refused: %d observations held, the bound is %u (max_observations); answered 5.03 "
	       "(%u refused since the last such warning)",
	       what, lwm2m_obs_endpoint_count(c->obs, target), c->cfg.max_observations, t->refused_since);
	t->refused_warned = now;
	t->refused_since = 0;
}

int fg_obs_start(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const uint8_t *tok, size_t toklen,
		 const struct lwm2m_path *paths, size_t n, bool composite, uint16_t ct)
{
	uint32_t target = dev ? dev->obs_id : ep->obs_id;
	struct fg_obs *o, *old;
	int r;

	if (toklen > sizeof(o->token) || n == 0)
		return -EINVAL;
	/* A new Observe with a token in use replaces that observation. */
	old = obs_find(ep, tok, toklen);
	if (old)
		obs_cancel(ep, old);
	o = calloc(1, sizeof(*o) + n * sizeof(o->paths[0]));
	if (!o)
		return -ENOMEM;
	o->target = target;
	o->dev = dev;
	memcpy(o->token, tok, toklen);
	o->token_len = toklen;
	o->ct = ct;
	o->composite = composite;
	o->npaths = n;
	memcpy(o->paths, paths, n * sizeof(*paths));
	r = lwm2m_obs_add(ep->c->obs, target, (uint64_t)(uintptr_t)o, paths, n, now_ms(ep->c));
	if (r < 0) {
		if (r == -ENOSPC)
			refused(ep, dev, target, paths, n);
		free(o);
		return r;
	}
	o->next = ep->obs;
	if (o->next)
		o->next->prev = o;
	ep->obs = o;
	ep->c->stats.observations++;
	fg_obs_rearm(ep->c);
	fg_obs_changed(ep, dev);
	/* Held values of what it covers may now leave (stored notifications). */
	if (fg_ep_online(ep))
		fg_sf_online(ep);
	return 0;
}

bool fg_obs_stop_token(struct lwm2m_endpoint *ep, const uint8_t *tok, size_t toklen)
{
	struct fg_obs *o = obs_find(ep, tok, toklen);

	if (!o)
		return false;
	obs_cancel(ep, o);
	return true;
}

void fg_obs_stop_all(struct lwm2m_endpoint *ep)
{
	while (ep->obs)
		obs_cancel(ep, ep->obs);
}

void fg_obs_stop_under(struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, const struct lwm2m_path *p)
{
	for (struct fg_obs *o = ep->obs, *next; o; o = next) {
		next = o->next;
		if (o->dev != dev)
			continue;
		for (size_t i = 0; i < o->npaths; i++) {
			if (lwm2m_path_is_under(&o->paths[i], p)) {
				obs_cancel(ep, o);
				break;
			}
		}
	}
}

uint32_t fg_obs_next_seq(struct lwm2m_client *c)
{
	/* Observe values are 24 bits (RFC 7641 §4.4); one counter for the
	 * whole client keeps every observation's sequence increasing. */
	c->observe_seq = (c->observe_seq + 1) & 0xFFFFFF;
	return c->observe_seq;
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
static uint64_t max_transmit_wait_us(coap_session_t *s)
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
	uint64_t mtw = max_transmit_wait_us(ep->session);

	if (now < ep->con_busy_until || ep->req != REQ_NONE)
		return false;
	if (ep->st == ST_REGISTERED && fg_timer_armed(&ep->timer) && ep->timer.when < now + mtw)
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
static coap_resource_t *block_resource(struct lwm2m_client *c, const struct fg_obs *o)
{
	static const coap_request_t methods[] = {
		COAP_REQUEST_GET,    COAP_REQUEST_PUT,   COAP_REQUEST_POST,
		COAP_REQUEST_DELETE, COAP_REQUEST_FETCH, COAP_REQUEST_IPATCH,
	};
	char ps[32], path[128];
	coap_resource_t *r;
	coap_str_const_t key;
	int n;

	if (o->composite || o->paths[0].len == 0)
		return c->unknown;
	lwm2m_path_format(&o->paths[0], ps);
	n = snprintf(path, sizeof(path), "%.*s%s", o->dev ? (int)o->dev->prefix_len : 0,
		     o->dev ? o->dev->prefix : "", o->dev ? ps : ps + 1);
	if (n < 0 || (size_t)n >= sizeof(path))
		return c->unknown;
	key = (coap_str_const_t){ (size_t)n, (const uint8_t *)path };
	r = coap_get_resource_from_uri_path(c->ctx, &key);
	if (r)
		return r;
	r = coap_resource_init(coap_new_str_const((const uint8_t *)path, (size_t)n),
			       COAP_RESOURCE_FLAGS_RELEASE_URI);
	if (!r)
		return c->unknown;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		coap_register_request_handler(r, methods[i], fg_request_handler);
	coap_add_resource(c->ctx, r);
	return r;
}

static void free_body(coap_session_t *s, void *p)
{
	(void)s;
	free(p);
}

static coap_pdu_t *notif_pdu(coap_session_t *s, coap_resource_t *unknown, const struct fg_obs *o, bool con,
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
	 * which it leaves out as dm.c notes. */
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
	pdu = notif_pdu(s, c->unknown, o, con, mid, r, seq, &body, false, &too_big);
	if (!pdu && too_big)
		pdu = notif_pdu(s, block_resource(c, o), o, con, mid, r, seq, &body, true, &too_big);
	if (!pdu) {
		ep_log(ep, LWM2M_LOG_WARNING, "notification of %zu bytes could not be built; dropped",
		       body.len);
		goto out;
	}
	mid = coap_send(s, pdu);
	if (mid == COAP_INVALID_MID)
		goto out; /* freed by coap_send */
	c->stats.notifications++;
	fg_sf_notified(ep);
	if (con) {
		o->want_con = false;
		mid_forget(c, o);
		ep->con_busy_until = now + max_transmit_wait_us(s);
	} else {
		mid_note(c, o, mid, now);
	}
	if (r < 0) {
		/* An error response ends the observation (RFC 7641 §3.2). */
		obs_cancel(ep, o);
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
		struct lwm2m_store *s = target_store(c, ev->ep);

		for (size_t i = 0; i < ev->npaths && s; i++) {
			struct lwm2m_value v;
			bool have = lwm2m_store_get(s, &ev->paths[i], &v) == 0;

			lwm2m_obs_value_changed(c->obs, ev->ep, &ev->paths[i], have ? &v : NULL, now_ms(c));
		}
		return;
	}
	obs_send(ep, o, ev->con);
}

static void on_obs_timer(struct lwm2m_client *c, struct fg_timer *t)
{
	(void)t;
	/* Run until nothing is due (a SAMPLE may make a NOTIFY due now). */
	for (int i = 0; i < 4 && lwm2m_obs_next_deadline(c->obs) <= now_ms(c); i++)
		if (lwm2m_obs_run(c->obs, now_ms(c), on_obs_event, c) <= 0)
			break;
	fg_obs_rearm(c);
}

void fg_obs_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason)
{
	coap_bin_const_t tok;
	bool ours;

	if (!sent || COAP_RESPONSE_CLASS(coap_pdu_get_code(sent)) < 2)
		return;
	tok = coap_pdu_get_token(sent);
	ours = obs_find(ep, tok.s, tok.length) != NULL;
	if (coap_pdu_get_type(sent) == COAP_MESSAGE_CON && ours)
		ep->con_busy_until = 0; /* that exchange is over */
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
		obs_cancel(hit_ep, hit);
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

/* ---- values ----------------------------------------------------------------- */

static int value_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p)
{
	struct lwm2m_store *s = dev ? dev->store : ep->store;
	struct lwm2m_value v;
	bool have;
	int r;

	if (!s || ep->removing)
		return 0;
	if (p->len < 3)
		return -EINVAL;
	have = lwm2m_store_get(s, p, &v) == 0;
	r = lwm2m_obs_value_changed(ep->c->obs, dev ? dev->obs_id : ep->obs_id, p, have ? &v : NULL,
				    now_ms(ep->c));
	if (r > 0)
		fg_timer_arm(ep->c, &ep->c->obs_timer, fg_now(ep->c));
	else
		fg_obs_rearm(ep->c);
	return r < 0 && r != -ENOENT ? r : 0;
}

int lwm2m_endpoint_value_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
				 const struct lwm2m_path *p)
{
	return value_changed(ep, dev, p);
}

int lwm2m_endpoint_set(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		       const struct lwm2m_value *v)
{
	return lwm2m_endpoint_set_at(ep, dev, p, v, 0);
}

static int set_sample(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		      const struct lwm2m_value *v, double time, bool historical)
{
	struct lwm2m_store *s = dev ? dev->store : ep->store;
	struct lwm2m_value stored;
	int r;

	if (!s)
		return -ESHUTDOWN;
	r = lwm2m_store_set_at(s, p, v, time);
	if (r < 0)
		return r;
	/* The value as stored (converted to the resource's type) is what
	 * store-and-forward keeps; one it holds is not notified now. */
	if (!ep->removing && lwm2m_store_get(s, p, &stored) == 0 &&
	    fg_sf_sample(ep, dev, p, &stored, time, historical) > 0)
		return 0;
	return value_changed(ep, dev, p);
}

int lwm2m_endpoint_set_at(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
			  const struct lwm2m_value *v, double time)
{
	return set_sample(ep, dev, p, v, time, false);
}

int lwm2m_endpoint_set_historical(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
				  const struct lwm2m_path *p, const struct lwm2m_value *v, double time)
{
	return set_sample(ep, dev, p, v, time, true);
}

int fg_obs_paths(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, struct lwm2m_path **out,
		 size_t *n)
{
	for (const struct fg_obs *o = ep->obs; o; o = o->next) {
		struct lwm2m_path *v;

		if (o->dev != dev)
			continue;
		v = realloc(*out, (*n + o->npaths) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v + *n, o->paths, o->npaths * sizeof(*v));
		*out = v;
		*n += o->npaths;
	}
	return 0;
}

int fg_obs_send_stored(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_record *rec)
{
	static const struct lwm2m_path root = { .len = 0 };
	struct lwm2m_client *c = ep->c;
	struct lwm2m_record one = *rec;
	struct lwm2m_buf body = { 0 };
	bool too_big = false;
	struct fg_obs *o;
	coap_pdu_t *pdu;
	int r;

	if (!ep->session || ep->session_dead)
		return -ENOTCONN;
	for (o = ep->obs; o; o = o->next) {
		bool covers = false;

		for (size_t i = 0; i < o->npaths && !covers; i++)
			covers = lwm2m_path_is_under(&rec->path, &o->paths[i]);
		if (o->dev == dev && covers)
			break;
	}
	if (!o)
		return -ENOENT;
	if (dev && fg_ct_names_prefix(o->ct))
		one.prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
	r = lwm2m_encode(o->ct, o->composite ? &root : &o->paths[0], &one, 1, &body);
	if (r < 0)
		goto out;
	/* Confirmable: libcoap retransmits it; what confirms its arrival is
	 * the barrier that follows (sf.c). */
	pdu = notif_pdu(ep->session, c->unknown, o, true, coap_new_message_id(ep->session), 0,
			fg_obs_next_seq(c), &body, false, &too_big);
	r = -E2BIG;
	if (!pdu)
		goto out;
	r = -EIO;
	if (coap_send(ep->session, pdu) == COAP_INVALID_MID)
		goto out;
	c->stats.notifications++;
	ep->con_busy_until = fg_now(c) + max_transmit_wait_us(ep->session);
	r = 0;
out:
	lwm2m_buf_free(&body);
	return r;
}

/* Every value written by the server: observers of it may be due. */
void fg_obs_records_written(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			    const struct lwm2m_records *recs)
{
	for (size_t i = 0; i < recs->n; i++)
		if (recs->v[i].path.len >= 3)
			value_changed(ep, dev, &recs->v[i].path);
}

int lwm2m_endpoint_attrs(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			 const struct lwm2m_path *path, struct lwm2m_attrs *out)
{
	const struct lwm2m_attr_store *s = lwm2m_obs_attrs(ep->c->obs, dev ? dev->obs_id : ep->obs_id);

	if (!s)
		return -ENOENT;
	return lwm2m_attr_store_get(s, path, out);
}
