/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Targets (lwm2m/client.h, "Targets"): what the server sees as one device,
 * an endpoint of its own or an Object 25 device of the gateway endpoint,
 * by the client's mode. A target keeps its user's operations; the
 * endpoint or device behind it calls them through an adapter table
 * (adapter_of()) so that the request code (dm*.c, obs.c)
 * only ever sees lwm2m_endpoint_ops (fg_ops_of()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* ---- the adapter: (endpoint, device) calls to target calls ------------------------- */

static int ad_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		    lwm2m_done_fn done, void *done_ctx)
{
	struct lwm2m_target *t = ud;

	(void)ep;
	(void)dev;
	return t->ops->write(t->ud, t, path, records, replace, done, done_ctx);
}

static int ad_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		      const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		      void *done_ctx)
{
	struct lwm2m_target *t = ud;

	(void)ep;
	(void)dev;
	return t->ops->execute(t->ud, t, path, args, args_len, done, done_ctx);
}

static int ad_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		   const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	struct lwm2m_target *t = ud;

	(void)ep;
	(void)dev;
	return t->ops->read(t->ud, t, path, done, done_ctx);
}

static void ad_state(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct lwm2m_target *t = ud;

	(void)ep;
	t->ops->state(t->ud, t, st, err);
}

static void ad_obs_changed(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	struct lwm2m_target *t = ud;

	(void)ep;
	(void)dev;
	t->ops->observations_changed(t->ud, t);
}

/* Only the operations the target has: a NULL one keeps its meaning
 * (write to the store, 4.05 for execute, answer reads from the store).
 * One constant table per combination, not a copy in every target (64
 * bytes each, thousands of targets). */
enum { AD_W = 1, AD_X = 2, AD_R = 4, AD_S = 8, AD_O = 16 };
#define AD(m)                                                                                 \
	{                                                                                     \
		.write = (m)&AD_W ? ad_write : NULL, .execute = (m)&AD_X ? ad_execute : NULL, \
		.read = (m)&AD_R ? ad_read : NULL, .state = (m)&AD_S ? ad_state : NULL,       \
		.observations_changed = (m)&AD_O ? ad_obs_changed : NULL                      \
	}
#define AD4(m) AD(m), AD((m) + 1), AD((m) + 2), AD((m) + 3)
static const struct lwm2m_endpoint_ops adapters[32] = { AD4(0),  AD4(4),  AD4(8),  AD4(12),
							AD4(16), AD4(20), AD4(24), AD4(28) };

static const struct lwm2m_endpoint_ops *adapter_of(const struct lwm2m_target_ops *o)
{
	if (!o)
		return NULL;
	return &adapters[(o->write ? AD_W : 0) | (o->execute ? AD_X : 0) | (o->read ? AD_R : 0) |
			 (o->state ? AD_S : 0) | (o->observations_changed ? AD_O : 0)];
}

const struct lwm2m_endpoint_ops *fg_ops_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
					   void **ud)
{
	if (dev && dev->tgt) {
		*ud = dev->tgt;
		return adapter_of(dev->tgt->ops);
	}
	*ud = ep->ops_ud;
	return ep->ops;
}

/* ---- Object 25 targets and the gateway endpoint -------------------------------------- */

static int attach(struct lwm2m_target *t, struct lwm2m_endpoint *gw)
{
	int r = fg_device_add(gw, t->prefix, t->store, t->device_id, t->iid, &t->dev);

	if (r < 0)
		return r;
	t->dev->tgt = t;
	if (t->ops && t->ops->state)
		t->ops->state(t->ud, t, gw->reg.pub_st, 0);
	return 0;
}

void fg_target_gateway_added(struct lwm2m_endpoint *gw)
{
	struct lwm2m_client *c = gw->c;

	c->gw_ep = gw;
	for (struct lwm2m_target *t = c->tgts; t; t = t->next) {
		int r;

		if (!t->prefix || t->dev || (t->host && strcmp(t->host, gw->name) != 0))
			continue;
		r = attach(t, gw);
		if (r < 0)
			fg_log(c, LWM2M_LOG_ERR, gw->name, "cannot add device %s to the gateway endpoint: %s",
			       t->prefix, strerror(-r));
	}
}

void fg_target_gateway_gone(struct lwm2m_endpoint *gw)
{
	if (gw->c->gw_ep == gw)
		gw->c->gw_ep = NULL;
}

void fg_target_device_gone(struct lwm2m_device *dev)
{
	struct lwm2m_target *t = dev->tgt;

	if (!t)
		return;
	t->dev = NULL;
	dev->tgt = NULL;
	if (t->ops && t->ops->state && !dev->ep->removing && !dev->ep->c->shutting_down)
		t->ops->state(t->ud, t, LWM2M_EP_WAITING, 0);
}

void fg_target_endpoint_gone(struct lwm2m_endpoint *ep)
{
	if (!ep->tgt)
		return;
	/* Its operations were the target's adapter: the target may be freed
	 * while the endpoint de-registers in the background. */
	ep->ops = NULL;
	ep->ops_ud = NULL;
	ep->tgt->ep = NULL;
	ep->tgt = NULL;
}

void fg_target_gateway_state(struct lwm2m_endpoint *gw, enum lwm2m_ep_state st)
{
	for (size_t i = 0; i < gw->ndevs; i++) {
		struct lwm2m_target *t = gw->devs[i]->tgt;

		if (t && t->ops && t->ops->state)
			t->ops->state(t->ud, t, st, 0);
	}
}

/* ---- the public calls ---------------------------------------------------------------- */

int lwm2m_client_set_target_mode(struct lwm2m_client *c, enum lwm2m_target_mode mode)
{
	if (!c || (mode != LWM2M_TARGETS_ENDPOINTS && mode != LWM2M_TARGETS_GATEWAY))
		return -EINVAL;
	c->cfg.target_mode = mode;
	return 0;
}

static void target_free(struct lwm2m_target *t)
{
	struct lwm2m_client *c = t->c;

	if (t->prev)
		t->prev->next = t->next;
	else
		c->tgts = t->next;
	if (t->next)
		t->next->prev = t->prev;
	fg_str_put(t->c, t->host);
	free(t);
}

/* The gateway endpoint a target goes on: the one it names, or the one
 * added last. Gateway endpoints are few (the devices are not endpoints in
 * gateway mode), so a walk is enough. */
static struct lwm2m_endpoint *host_of(const struct lwm2m_target *t)
{
	if (!t->host)
		return t->c->gw_ep;
	for (struct lwm2m_endpoint *ep = t->c->eps; ep; ep = ep->next)
		if (ep->gateway && !ep->removing && strcmp(ep->name, t->host) == 0)
			return ep;
	return NULL;
}

int lwm2m_target_add(struct lwm2m_client *c, const struct lwm2m_target_config *cfg, struct lwm2m_target **out)
{
	struct lwm2m_target *t;
	int r = 0;

	if (!c || !cfg || !cfg->store || !out)
		return -EINVAL;
	if (c->cfg.target_mode == LWM2M_TARGETS_ENDPOINTS && !cfg->endpoint)
		return -EAGAIN;
	if (c->cfg.target_mode == LWM2M_TARGETS_GATEWAY && (!cfg->prefix || !cfg->device_id))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->c = c;
	t->ops = cfg->ops;
	t->ud = cfg->ud;
	t->store = cfg->store;
	t->next = c->tgts;
	if (c->tgts)
		c->tgts->prev = t;
	c->tgts = t;
	if (c->cfg.target_mode == LWM2M_TARGETS_GATEWAY) {
		struct lwm2m_endpoint *gw;

		t->prefix = cfg->prefix;
		t->device_id = cfg->device_id;
		t->host = cfg->gateway ? fg_str_get(c, cfg->gateway, strlen(cfg->gateway)) : NULL;
		t->iid = cfg->iid_fixed ? cfg->iid : -1;
		if (cfg->gateway && !t->host)
			r = -ENOMEM;
		else if ((gw = host_of(t)))
			r = attach(t, gw);
	} else {
		struct lwm2m_endpoint_config ec = *cfg->endpoint;

		ec.ops = adapter_of(t->ops);
		ec.ops_ud = t;
		ec.gateway = false;
		r = lwm2m_endpoint_add(c, &ec, cfg->store, &t->ep);
		if (r >= 0)
			t->ep->tgt = t;
	}
	if (r < 0) {
		target_free(t);
		return r;
	}
	*out = t;
	return 0;
}

void lwm2m_target_remove(struct lwm2m_target *t)
{
	if (!t)
		return;
	if (t->ep) {
		struct lwm2m_endpoint *ep = t->ep;

		fg_target_endpoint_gone(ep);
		lwm2m_endpoint_remove(ep);
	}
	if (t->dev) {
		struct lwm2m_device *dev = t->dev;

		/* No state report: the target is going. */
		dev->tgt = NULL;
		t->dev = NULL;
		lwm2m_device_remove(dev);
	}
	target_free(t);
}

void fg_target_free_all(struct lwm2m_client *c)
{
	while (c->tgts) {
		struct lwm2m_target *t = c->tgts;

		if (t->ep)
			fg_target_endpoint_gone(t->ep);
		if (t->dev)
			t->dev->tgt = NULL;
		target_free(t);
	}
}

/* The endpoint and device the target's values go through; NULL while it
 * waits (or once its endpoint is gone). */
static struct lwm2m_endpoint *endpoint_of(const struct lwm2m_target *t)
{
	return t->ep ? t->ep : t->dev ? t->dev->ep : NULL;
}

int lwm2m_target_set(struct lwm2m_target *t, const struct lwm2m_path *p, const struct lwm2m_value *v,
		     double time, bool historical)
{
	struct lwm2m_endpoint *ep = endpoint_of(t);

	if (ep && historical)
		return lwm2m_endpoint_set_historical(ep, t->dev, p, v, time);
	if (ep)
		return lwm2m_endpoint_set_at(ep, t->dev, p, v, time);
	return lwm2m_store_set_at(t->store, p, v, time);
}

int lwm2m_target_value_changed(struct lwm2m_target *t, const struct lwm2m_path *p)
{
	struct lwm2m_endpoint *ep = endpoint_of(t);

	return ep ? lwm2m_endpoint_value_changed(ep, t->dev, p) : 0;
}

int lwm2m_target_observed(const struct lwm2m_target *t, const struct lwm2m_path *p, uint32_t *pmin_s)
{
	const struct lwm2m_endpoint *ep = endpoint_of(t);

	return ep ? lwm2m_endpoint_observed(ep, t->dev, p, pmin_s) : 0;
}

enum lwm2m_ep_state lwm2m_target_state(const struct lwm2m_target *t)
{
	const struct lwm2m_endpoint *ep = endpoint_of(t);

	return ep ? ep->reg.pub_st : LWM2M_EP_WAITING;
}

const char *lwm2m_target_endpoint_name(const struct lwm2m_target *t)
{
	const struct lwm2m_endpoint *ep = endpoint_of(t);

	return ep ? ep->name : NULL;
}

void lwm2m_target_sf_stats(const struct lwm2m_target *t, struct lwm2m_sf_stats *out)
{
	const struct lwm2m_endpoint *ep = endpoint_of(t);

	if (!ep) {
		*out = (struct lwm2m_sf_stats){ 0 };
		return;
	}
	lwm2m_endpoint_sf_stats(ep, t->dev, out);
}

struct lwm2m_store *lwm2m_target_store(const struct lwm2m_target *t)
{
	return t->store;
}

uint64_t lwm2m_target_notifications(const struct lwm2m_target *t)
{
	return t ? t->notifications : 0;
}

void fg_target_notified(struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	struct lwm2m_target *t = dev ? dev->tgt : ep->tgt;

	if (t)
		t->notifications++;
}
