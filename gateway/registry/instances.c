/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The running bridge instances: one per entry of `bridges:`, created and
 * started once, kept across reloads that keep its type and body. What they
 * call back (struct bridge_host) and the observation hints they get.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "common/log.h"

struct brt *instances_find(struct gw_registry *r, const char *name)
{
	for (size_t i = 0; i < r->nbridges; i++)
		if (r->bridges[i].name && strcmp(r->bridges[i].name, name) == 0)
			return &r->bridges[i];
	return NULL;
}

static void brt_release(struct brt *b)
{
	if (b->b && b->kind->stop)
		b->kind->stop(b->b);
	bridge_free(b->b);
	free(b->name);
	free(b->fingerprint);
	memset(b, 0, sizeof(*b));
}

void instances_free(struct gw_registry *r)
{
	/* The devices go after their bridges: nobody to take points back. */
	for (size_t i = 0; i < r->n; i++)
		r->devs[i]->br = NULL;
	for (size_t j = 0; j < r->nbridges; j++)
		brt_release(&r->bridges[j]);
	free(r->bridges);
	r->bridges = NULL;
	r->nbridges = 0;
}

/* Keep the bridges whose type and body did not change, stop the others,
 * start the new ones. Devices on a changed bridge are changed too (their
 * fingerprint has the bridge's body) and were removed before this. */
void instances_sync(struct gw_registry *r)
{
	const struct gw_config *c = reg_config(r);
	struct brt *v = calloc(c->bridges.n + 1, sizeof(*v));
	struct bridge_host host;

	if (!v) {
		log_oom();
		return;
	}
	gw_registry_bridge_host(r, &host);
	for (size_t i = 0; i < c->bridges.n; i++) {
		const struct gw_bridge *cb = gw_config_bridge(c, i);
		char *fp = reload_bridge_fingerprint(cb);
		struct brt *nb = &v[i];
		for (size_t j = 0; fp && j < r->nbridges; j++) {
			struct brt *old = &r->bridges[j];
			if (!old->keep && old->name && strcmp(old->name, cb->name) == 0 &&
			    strcmp(old->fingerprint, fp) == 0) {
				*nb = *old;
				old->keep = true;
				break;
			}
		}
		if (nb->name) {
			free(fp);
			continue;
		}
		nb->name = strdup(cb->name);
		nb->fingerprint = fp;
		nb->kind = cb->kind;
		if (!nb->kind || !nb->name || !fp) {
			log_error("Bridge %s (%s) is not available", cb->name, cb->type);
			continue;
		}
		int e = bridge_new(nb->kind, cb->name, cb->body, &host, &nb->b);
		if (e >= 0 && nb->kind->start)
			e = nb->kind->start(nb->b, r->event);
		if (e < 0) {
			log_error_errno(e, "Bridge %s (%s) did not start: %m", cb->name, cb->type);
			nb->b = bridge_free(nb->b);
		} else
			log_info("Bridge %s (%s) started", cb->name, cb->type);
	}
	/* Devices kept across the reload point at their bridge: re-aim. */
	for (size_t i = 0; i < r->n; i++) {
		struct dev *d = r->devs[i];
		d->br = NULL;
		for (size_t j = 0; d->cfg->bridge && j < c->bridges.n; j++)
			if (v[j].name && strcmp(v[j].name, d->cfg->bridge) == 0)
				d->br = &v[j];
	}
	for (size_t j = 0; j < r->nbridges; j++)
		if (!r->bridges[j].keep) {
			log_info("Bridge %s stopped", r->bridges[j].name);
			brt_release(&r->bridges[j]);
		}
	free(r->bridges);
	r->bridges = v;
	r->nbridges = c->bridges.n;
	for (size_t j = 0; j < r->nbridges; j++)
		r->bridges[j].keep = false;
}

/* Will instances_sync() keep the running bridge called name under c? */
bool instances_kept(const struct gw_registry *r, const struct gw_config *c, const char *name)
{
	const struct gw_bridge *cb = gw_config_find_bridge(c, name);
	char *fp = cb ? reload_bridge_fingerprint(cb) : NULL;
	bool kept = false;

	for (size_t j = 0; fp && j < r->nbridges; j++)
		if (r->bridges[j].b && strcmp(r->bridges[j].name, name) == 0 &&
		    strcmp(r->bridges[j].fingerprint, fp) == 0)
			kept = true;
	free(fp);
	return kept;
}

/* ---- what the bridges call ---------------------------------------------------------------- */

static int host_sample(void *ud, struct bridge_handle *point, const struct mapping_sample *s,
		       uint64_t time_usec)
{
	(void)ud;
	return sample_point(point, s, time_usec);
}

static void host_flush(void *ud)
{
	struct gw_registry *r = ud;

	lwm2m_client_flush(r->client);
}

static void host_presence(void *ud, const char *device, int err)
{
	(void)gw_registry_presence(ud, device, err);
}

static int host_discover(void *ud, const char *bridge, const char *device, const char *profile,
			 const char *address)
{
	return gw_registry_discover(ud, bridge, device, profile, address);
}

static int host_forget(void *ud, const char *device)
{
	return gw_registry_forget(ud, device);
}

static int host_generated(void *ud, const char *bridge, const char *device, const char *address,
			  const char *name, const char *text, size_t len)
{
	return gw_registry_generated(ud, bridge, device, address, name, text, len);
}

void gw_registry_bridge_host(struct gw_registry *r, struct bridge_host *out)
{
	*out = (struct bridge_host){ .ud = r,
				     .sample = host_sample,
				     .flush = host_flush,
				     .presence = host_presence,
				     .discover = host_discover,
				     .forget = host_forget,
				     .generated = host_generated };
}

/* ---- observation hints ------------------------------------------------------------------ */

/* Which points are observed, and with which pmin, is asked after the
 * request that changed it (the client calls in the middle of its work,
 * maybe while removing the very device). */
static int on_obs_defer(sd_event_source *s, void *ud)
{
	struct gw_registry *r = ud;

	(void)s;
	for (size_t i = 0; i < r->n; i++) {
		struct dev *d = r->devs[i];
		size_t np = mapping_profile_npoints(d->profile);
		if (!d->obs_dirty)
			continue;
		d->obs_dirty = false;
		if (!d->br || !d->br->b || !d->br->kind->observed || np == 0)
			continue;
		if (!d->hint && !(d->hint = calloc(np, sizeof(*d->hint)))) {
			log_oom();
			continue;
		}
		for (size_t k = 0; k < np; k++) {
			const struct mapping_point *pt = mapping_profile_point(d->profile, k);
			uint32_t pmin = 0;
			int on;
			if (pt->from != MAPPING_FROM_SOURCE)
				continue;
			on = target_observed(d, &pt->path, &pmin);
			uint64_t hint = on > 0 ? (uint64_t)pmin * USEC_PER_SEC : 0;
			if (hint == d->hint[k])
				continue;
			d->hint[k] = hint;
			d->br->kind->observed(d->br->b, d->name, &pt->path, hint);
		}
	}
	return 0;
}

void instances_obs_mark(struct gw_registry *r, struct dev *d)
{
	if (!d)
		return;
	d->obs_dirty = true;
	if (!r->obs_defer && sd_event_add_defer(r->event, &r->obs_defer, on_obs_defer, r) < 0) {
		r->obs_defer = NULL;
		return;
	}
	sd_event_source_set_enabled(r->obs_defer, SD_EVENT_ONESHOT);
}
