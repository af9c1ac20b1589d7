/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry object: created with the first configuration, given new
 * ones by reload.c, shut down and freed here. The configuration
 * generations live here too: each device keeps the one it was built from.
 */
#include "gateway/registry/registry_internal.h"
#include "gateway/registry/fwupdate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

uint64_t reg_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

const struct gw_config *reg_config(const struct gw_registry *r)
{
	return r->gens->config;
}

const struct gw_config *gw_registry_config(const struct gw_registry *r)
{
	return reg_config(r);
}

/* ---- generations ----------------------------------------------------------- */

struct gen *reg_gen_ref(struct gen *g)
{
	g->refs++;
	return g;
}

void reg_gen_unref(struct gw_registry *r, struct gen *g)
{
	if (!g || --g->refs > 0)
		return;
	for (struct gen **p = &r->gens; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	gw_config_free(g->config);
	free(g);
}

int reg_gen_push(struct gw_registry *r, struct gw_config *config)
{
	struct gen *g = calloc(1, sizeof(*g));

	if (!g) {
		gw_config_free(config);
		return -ENOMEM;
	}
	g->config = config;
	g->refs = 1;
	g->next = r->gens;
	r->gens = g;
	return 0;
}

size_t reg_name_slot(size_t n, const char *(*name_at)(const void *ctx, size_t i), const void *ctx,
		     const char *name, bool *found)
{
	size_t lo = 0, hi = n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name_at(ctx, mid), name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- change notification ------------------------------------------------------------ */

static int on_change_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct gw_registry *r = ud;

	(void)usec;
	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	fielddev_sync(r, false);
	if (r->on_change)
		r->on_change(r->on_change_ud);
	return 0;
}

void reg_changed(struct gw_registry *r)
{
	int e;

	if (!r->change_timer) {
		e = sd_event_add_time_relative(r->event, &r->change_timer, CLOCK_MONOTONIC, 200000, 50000,
					       on_change_timer, r);
		if (e < 0)
			return;
		sd_event_source_set_enabled(r->change_timer, SD_EVENT_ONESHOT);
		return;
	}
	int en = SD_EVENT_OFF;
	sd_event_source_get_enabled(r->change_timer, &en);
	if (en != SD_EVENT_OFF)
		return;
	sd_event_source_set_time_relative(r->change_timer, 200000);
	sd_event_source_set_enabled(r->change_timer, SD_EVENT_ONESHOT);
}

void gw_registry_on_change(struct gw_registry *r, void (*fn)(void *ud), void *ud)
{
	r->on_change = fn;
	r->on_change_ud = ud;
}

void gw_registry_on_reboot(struct gw_registry *r, gw_reboot_fn fn, void *ud)
{
	r->reboot_fn = fn;
	r->reboot_ud = ud;
}

bool gw_registry_keeps_endpoints(const struct gw_registry *r, const struct gw_config *c)
{
	char *fp = reload_global_fingerprint(c);
	bool same = fp && strcmp(fp, r->global) == 0;

	free(fp);
	return same;
}

bool gw_registry_running(const struct gw_registry *r, const char *name)
{
	return device_find(r, name) != NULL;
}

void gw_registry_on_bundle(struct gw_registry *r, gw_bundle_fn fn, void *ud)
{
	r->bundle_fn = fn;
	r->bundle_ud = ud;
}

void gw_registry_on_remote(struct gw_registry *r, gw_remote_fn fn, void *ud)
{
	r->remote_fn = fn;
	r->remote_ud = ud;
}

/* ---- life cycle ------------------------------------------------------------------------- */

int gw_registry_new(sd_event *ev, const struct lwm2m_registry *objects, struct gw_config *config,
		    struct gw_registry **out)
{
	struct gw_registry *r;
	int e;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		gw_config_free(config);
		return log_oom();
	}
	r->event = sd_event_ref(ev);
	r->objects = objects;
	e = reg_gen_push(r, config);
	if (e < 0) {
		free(r);
		return log_oom();
	}
	/* The client keeps bootstrap results here; it outlives reloads. */
	r->state_dir = strdup(config->gateway.state_dir);
	if (!r->state_dir) {
		gw_registry_free(r);
		return log_oom();
	}
	{
		size_t n = 0;
		for (size_t i = 0; i < config->lwm2m.servers.n; i++)
			n += !gw_config_server(config, i)->bootstrap;
		if (n > 1)
			log_warning("%zu LwM2M servers are configured; endpoints register with the first "
				    "one, %s, "
				    "only",
				    n, servers_main(config)->uri.text);
	}
	r->global = reload_global_fingerprint(config);
	e = target_client_new(r, config);
	if (e < 0) {
		log_error_errno(e, "Cannot create the LwM2M client: %m");
		gw_registry_free(r);
		return e;
	}
	servers_setup(r);
	e = self_start(r);
	if (e < 0) {
		gw_registry_free(r);
		return e;
	}
	/* An empty previous state: apply adds every device. */
	e = gw_registry_apply(r, NULL);
	if (e < 0) {
		gw_registry_free(r);
		return e;
	}
	*out = r;
	return 0;
}

int gw_registry_shutdown(struct gw_registry *r, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
	/* The client frees each endpoint (and its Object 25 devices) as its
	 * De-register is answered, while bridges may still deliver samples:
	 * from now on those only reach the stores, which stay ours. */
	for (size_t i = 0; i < r->n; i++)
		target_detach(r->devs[i]);
	target_self_detach(r);
	r->closing = true;
	return target_client_shutdown(r, timeout_ms, done, ud);
}

struct gw_registry *gw_registry_free(struct gw_registry *r)
{
	if (!r)
		return NULL;
	/* Bridges stop first: their pending completions still answer the
	 * server through a live client. */
	instances_free(r);
	/* The client goes next and sends nothing; stores are ours. */
	target_client_free(r);
	fanout_free_all(r);
	for (size_t i = 0; i < r->n; i++) {
		target_detach(r->devs[i]);
		device_free(r->devs[i]);
	}
	free(r->devs);
	target_hosts_free(r);
	r->genprofs = genprofs_free(r->genprofs);
	fielddev_free(r);
	swmgmt_free(r);
	health_stop(r);
	fwupdate_stop(r);
	lwm2m_store_free(r->gw_store);
	servers_clear(r);
	sd_event_source_disable_unref(r->change_timer);
	sd_event_source_disable_unref(r->obs_defer);
	while (r->gens) {
		struct gen *g = r->gens;
		r->gens = g->next;
		gw_config_free(g->config);
		free(g);
	}
	free(r->global);
	free(r->state_dir);
	sd_event_unref(r->event);
	free(r);
	return NULL;
}
