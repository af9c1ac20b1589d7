/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Information reporting: Observe, Observe-Composite, Cancel and the
 * notifications, on top of the pure observation engine (lwm2m/observe.h).
 *
 * The engine decides when to notify; this file keeps, per observation, what
 * libcoap needs to send the notification (session, token, content format,
 * paths) and sends it. The engine's one deadline is one timer of the
 * client's heap, so value changes reported from inside a libcoap handler
 * (a server Write) only arm that timer: notifications leave from the heap
 * dispatch, or, when the application sets a value outside libcoap while a
 * notification is due, just before that value is stored
 * (fg_obs_flush_due()): each change no attribute lets fold is notified.
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
 * fg_obs_block_resource() for why each observed path has a resource of its own).
 *
 * Targets: the engine knows "endpoints" by a 32-bit id; each LwM2M endpoint
 * and each Object 25 device is one target, found through c->targets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs_internal.h"
#include "request.h"

uint64_t fg_obs_now_ms(const struct lwm2m_client *c)
{
	return fg_now(c) / 1000u;
}

struct lwm2m_store *fg_obs_target_store(const struct lwm2m_client *c, uint32_t id)
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
	struct lwm2m_store *s = fg_obs_target_store(ctx, ep);

	if (!s)
		return -ENOENT;
	return lwm2m_store_get(s, p, out);
}

/* A few times what a server observes on a rich device (Device, Connectivity,
 * Firmware and some sensor objects, each resource observed alone: well under
 * 100), while one endpoint at the bound holds ~60 KiB and one change sends
 * at most that many notifications in one burst, which loopback and server
 * socket buffers (208 KiB by default) still take. */
#define MAX_OBSERVATIONS_DEFAULT 256u

/* One warning per target and minute at most: a server that keeps asking
 * beyond the bound must not flood the log. */
#define REFUSED_WARN_S 60u

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
	fg_timer_init(&c->obs_timer, fg_obs_on_timer);
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
	for (struct fg_obs *o = ep->obs.list, *next; o; o = next) {
		next = o->next;
		if (o->target == id)
			fg_obs_unlink(ep, o);
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

	lwm2m_obs_set_defaults(ep->c->obs, ep->obs.id, &d, fg_obs_now_ms(ep->c));
	for (size_t i = 0; i < ep->ndevs; i++)
		lwm2m_obs_set_defaults(ep->c->obs, ep->devs[i]->obs_id, &d, fg_obs_now_ms(ep->c));
	fg_obs_rearm(ep->c);
}

/* ---- observations ------------------------------------------------------------ */

struct fg_obs *fg_obs_find(const struct lwm2m_endpoint *ep, const uint8_t *tok, size_t len)
{
	for (struct fg_obs *o = ep->obs.list; o; o = o->next)
		if (o->token_len == len && !memcmp(o->token, tok, len))
			return o;
	return NULL;
}

struct fg_obs *fg_obs_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev)
{
	uint32_t id = dev ? dev->obs_id : ep->obs.id;

	if (id == 0 || id > ep->c->ntargets)
		return NULL;
	return ep->c->targets[id - 1].obs;
}

void fg_obs_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	void *ud;
	const struct lwm2m_endpoint_ops *ops = fg_ops_of(ep, dev, &ud);

	if (!ep->obs_quiet && !ep->removing && ops && ops->observations_changed)
		ops->observations_changed(ud, ep, dev);
}

void fg_obs_cancel(struct lwm2m_endpoint *ep, struct fg_obs *o)
{
	struct lwm2m_device *dev = o->dev;

	lwm2m_obs_cancel(ep->c->obs, o->target, (uint64_t)(uintptr_t)o);
	fg_obs_unlink(ep, o);
	fg_obs_rearm(ep->c);
	fg_obs_changed(ep, dev);
}

int lwm2m_endpoint_observed(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			    const struct lwm2m_path *p, uint32_t *pmin_s)
{
	bool found = false;
	uint32_t best = 0;

	for (const struct fg_obs *o = fg_obs_of(ep, dev); o; o = o->tnext) {
		bool covers = false;
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
	uint32_t now = (uint32_t)(fg_now(c) / 1000000u);
	char ps[32], what[128] = "Observe";

	c->stats.obs_refused++;
	t->refused_since++;
	if (t->refused_warned && now - t->refused_warned < REFUSED_WARN_S)
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
	uint32_t target = dev ? dev->obs_id : ep->obs.id;
	struct fg_obs *o, *old;
	int r;

	if (toklen > sizeof(o->token) || n == 0)
		return -EINVAL;
	/* A new Observe with a token in use replaces that observation. */
	old = fg_obs_find(ep, tok, toklen);
	if (old)
		fg_obs_cancel(ep, old);
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
	r = lwm2m_obs_add(ep->c->obs, target, (uint64_t)(uintptr_t)o, paths, n, fg_obs_now_ms(ep->c));
	if (r < 0) {
		if (r == -ENOSPC)
			refused(ep, dev, target, paths, n);
		free(o);
		return r;
	}
	o->next = ep->obs.list;
	if (o->next)
		o->next->prev = o;
	ep->obs.list = o;
	o->tnext = ep->c->targets[target - 1].obs;
	if (o->tnext)
		o->tnext->tprev = o;
	ep->c->targets[target - 1].obs = o;
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
	struct fg_obs *o = fg_obs_find(ep, tok, toklen);

	if (!o)
		return false;
	fg_obs_cancel(ep, o);
	return true;
}

void fg_obs_stop_all(struct lwm2m_endpoint *ep)
{
	while (ep->obs.list)
		fg_obs_cancel(ep, ep->obs.list);
}

void fg_obs_stop_under(struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, const struct lwm2m_path *p)
{
	for (struct fg_obs *o = ep->obs.list, *next; o; o = next) {
		next = o->next;
		if (o->dev != dev)
			continue;
		for (size_t i = 0; i < o->npaths; i++) {
			if (lwm2m_path_is_under(&o->paths[i], p)) {
				fg_obs_cancel(ep, o);
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
