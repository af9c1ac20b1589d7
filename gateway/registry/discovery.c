/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Devices a bridge discovers (bridge_host.discover): built as a configured
 * device would be, from a configuration entry made here, listed after the
 * configured ones; removed when the bridge forgets them or goes.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static void discover_diag(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
			  const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
	log_error("%s", buf);
}

static struct disc *disc_free(struct disc *ds)
{
	if (!ds)
		return NULL;
	free(ds->name);
	free(ds->bridge);
	free(ds->profile);
	free(ds->address_text);
	free(ds);
	return NULL;
}

/* The configuration entry a discovered device would have had. */
static struct disc *disc_new(const char *bridge, const char *device, const char *profile, const char *address)
{
	struct disc *ds = calloc(1, sizeof(*ds));

	if (!ds)
		return NULL;
	ds->name = strdup(device);
	ds->bridge = strdup(bridge);
	ds->profile = strdup(profile);
	ds->address_text = strdup(address);
	if (!ds->name || !ds->bridge || !ds->profile || !ds->address_text)
		return disc_free(ds);
	ds->address =
		(struct ynode){ .kind = YNODE_SCALAR,
				.file = "(discovered)",
				.scalar = { .str = ds->address_text, .len = strlen(ds->address_text) } };
	ds->cfg = (struct gw_device){
		.name = ds->name, .bridge = ds->bridge, .address = &ds->address, .profile = ds->profile
	};
	return ds;
}

int gw_registry_discover(struct gw_registry *r, const char *bridge, const char *device, const char *profile,
			 const char *address)
{
	const struct gw_config *c = reg_config(r);
	const struct gw_bridge *cb = gw_config_find_bridge(c, bridge);
	const struct mapping_profile *p = NULL;
	const struct log_device who = { device, bridge, NULL };
	struct diag diag = { .fn = discover_diag };
	const char *kind;
	struct disc *ds;
	struct dev *d = NULL, **v;
	char why[128];
	int e;

	/* The configuration's rule: a name refused there is refused here. */
	if (!device || gw_device_name_check(device, c->lwm2m.mode, why, sizeof(why)) < 0) {
		log_error("Bridge %s discovered a device named '%s': %s", bridge, device ? device : "(null)",
			  device ? why : "no name");
		return -EINVAL;
	}
	if (device_find(r, device))
		return -EEXIST;
	if (r->closing)
		return -ESHUTDOWN;
	if (!cb || !profile || !address)
		return -EINVAL;
	e = mapping_set_get(c->profiles, profile, NULL, &diag, &p);
	if (e < 0) {
		log_device_error_errno(&who, e, "discovered with profile '%s', which cannot be loaded: %m",
				       profile);
		return e;
	}
	kind = mapping_profile_bridge(p);
	if (kind && strcmp(kind, cb->type) != 0) {
		log_device_error(&who, "discovered with profile '%s', a profile for %s bridges", profile,
				 kind);
		return -EINVAL;
	}
	v = realloc(r->devs, (r->n + 2) * sizeof(*v));
	if (v)
		r->devs = v;
	ds = v ? disc_new(bridge, device, profile, address) : NULL;
	if (!ds)
		return log_oom();
	e = device_new(r, r->gens, &ds->cfg, p, ORDER_DISCOVERED + r->discovered, &d);
	if (e < 0) {
		disc_free(ds);
		return log_device_error_errno(&who, e, "discovered by bridge %s, not created: %m", bridge);
	}
	d->disc = ds;
	free(d->fingerprint);
	/* Never equal to a configured device's: one of that name replaces it. */
	d->fingerprint = strdup("(discovered)");
	r->starting = d;
	e = d->fingerprint ? device_start(d) : -ENOMEM;
	r->starting = NULL;
	if (e < 0) {
		log_device_error_errno(DEV_LOG(d), e, "discovered by bridge %s, not started: %m", bridge);
		device_free(d);
		return e;
	}
	r->discovered++;
	device_insert(r, d);
	log_device_info(DEV_LOG(d), "discovered by bridge %s (profile %s, address %s)", bridge, profile,
			address);
	reg_changed(r);
	return 0;
}

int gw_registry_forget(struct gw_registry *r, const char *device)
{
	struct dev *d = device_find(r, device);

	if (!d || d == r->starting)
		return -ENOENT;
	if (!d->disc)
		return -EPERM;
	device_unlink(r, d);
	log_device_info(DEV_LOG(d), "removed (forgotten by its bridge)");
	device_free(d);
	reg_changed(r);
	return 0;
}
