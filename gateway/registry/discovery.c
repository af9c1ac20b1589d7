/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Devices a bridge discovers (bridge_host.discover): built as a configured
 * device would be, from a configuration entry made here, listed after the
 * configured ones; removed when the bridge forgets them or goes. Profiles
 * a bridge generates (bridge_host.generated) create such a device, or
 * replace the profile of one of the bridge's discovered or `generate:`
 * devices (genprof.c keeps them).
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
	if (sev == DIAG_WARNING)
		log_warning("%s", buf);
	else
		log_error("%s", buf);
}

struct disc *disc_free(struct disc *ds)
{
	free(ds);
	return NULL;
}

/* ds's size, and its copy in dst unless NULL. disc_new() put the name
 * first in the text, then the profile unless kept, then the address
 * unless it is the name. */
static size_t disc_walk(const struct disc *ds, struct disc *dst)
{
	size_t n = strlen(ds->text) + 1, prof = 0, addr = 0;

	if (ds->cfg.profile == ds->text + n) {
		prof = n;
		n += strlen(ds->cfg.profile) + 1;
	}
	if (ds->address.scalar.str == ds->text + n) {
		addr = n;
		n += strlen(ds->address.scalar.str) + 1;
	}
	if (dst) {
		memcpy(dst, ds, sizeof(*ds) + n);
		dst->cfg.name = dst->text;
		if (prof)
			dst->cfg.profile = dst->text + prof;
		dst->address.scalar.str = dst->text + addr; /* addr 0: the name */
		dst->cfg.address = &dst->address;
	}
	return sizeof(*ds) + n;
}

size_t disc_size(const struct disc *ds)
{
	return disc_walk(ds, NULL);
}

void disc_copy(struct disc *dst, const struct disc *ds)
{
	disc_walk(ds, dst);
}

/* Appends s (NUL-terminated) at *at: where it went. */
static const char *put(char **at, const char *s)
{
	char *p = *at;
	size_t n = strlen(s) + 1;

	memcpy(p, s, n);
	*at = p + n;
	return p;
}

/* The configuration entry a discovered device would have had. bridge is
 * kept, not copied: the configuration's (the device holds its generation);
 * so is profile when kept is true (a profile of that generation's set). */
static struct disc *disc_new(const char *bridge, const char *device, const char *profile, bool kept,
			     const char *address)
{
	bool same = strcmp(address, device) == 0;
	size_t n = strlen(device) + 1 + (kept ? 0 : strlen(profile) + 1) + (same ? 0 : strlen(address) + 1);
	struct disc *ds = calloc(1, sizeof(*ds) + n);
	const char *name, *addr;
	char *at;

	if (!ds)
		return NULL;
	at = ds->text;
	name = put(&at, device);
	ds->cfg = (struct gw_device){ .name = name,
				      .bridge = bridge,
				      .profile = kept ? profile : put(&at, profile) };
	addr = same ? name : put(&at, address);
	ds->address = (struct ynode){ .kind = YNODE_SCALAR,
				      .file = "(discovered)",
				      .scalar = { .str = addr, .len = strlen(addr) } };
	ds->cfg.address = &ds->address;
	return ds;
}

/* The configuration's rule: a name refused there is refused here.
 * -EINVAL (logged). */
static int discover_name_check(const struct gw_registry *r, const char *bridge, const char *device)
{
	char why[128];

	if (!device || gw_device_name_check(device, reg_config(r)->lwm2m.mode, why, sizeof(why)) < 0) {
		log_error("Bridge %s discovered a device named '%s': %s", bridge, device ? device : "(null)",
			  device ? why : "no name");
		return -EINVAL;
	}
	return 0;
}

/* A discovered device of profile p on the bridge cb (gp: its generated
 * profile's reference, taken over by the device, also on failure). */
static int discover_with(struct gw_registry *r, const struct gw_bridge *cb, const char *device,
			 const char *profile, const struct mapping_profile *p, struct genprof *gp,
			 const char *address)
{
	const struct log_device who = { device, cb->name, NULL };
	const char *kind = mapping_profile_bridge(p);
	struct disc *ds;
	struct dev *d = NULL, **v;
	bool kept;
	int e;

	if (kind && strcmp(kind, cb->type) != 0) {
		log_device_error(&who, "discovered with profile '%s', a profile for %s bridges", profile,
				 kind);
		genprof_unref(r->genprofs, gp);
		return -EINVAL;
	}
	v = realloc(r->devs, (r->n + 2) * sizeof(*v));
	if (v)
		r->devs = v;
	/* A profile of the configuration's set (no gp) lives as long as the
	 * generation: its own name serves; a generated one may be replaced
	 * while the device keeps this configuration (reprofile()). */
	kept = !gp && !strcmp(mapping_profile_name(p), profile);
	ds = v ? disc_new(cb->name, device, kept ? mapping_profile_name(p) : profile, kept, address) : NULL;
	if (!ds) {
		genprof_unref(r->genprofs, gp);
		return log_oom();
	}
	/* The device keeps a copy of ds in its own block. */
	e = device_new(r, r->gens, NULL, ds, p, ORDER_DISCOVERED + r->discovered, &d);
	disc_free(ds);
	if (e < 0) {
		genprof_unref(r->genprofs, gp);
		return log_device_error_errno(&who, e, "discovered by bridge %s, not created: %m", cb->name);
	}
	d->gp = gp;
	device_fp_free(d->fingerprint);
	/* Never equal to a configured device's: one of that name replaces it. */
	d->fingerprint = device_fp_discovered;
	r->starting = d;
	e = device_start(d);
	r->starting = NULL;
	if (e < 0) {
		log_device_error_errno(DEV_LOG(d), e, "discovered by bridge %s, not started: %m", cb->name);
		device_free(d);
		return e;
	}
	r->discovered++;
	device_insert(r, d);
	log_device_info(DEV_LOG(d), "discovered by bridge %s (profile %s, address %s)", cb->name, profile,
			address);
	reg_changed(r);
	return 0;
}

int gw_registry_discover(struct gw_registry *r, const char *bridge, const char *device, const char *profile,
			 const char *address)
{
	const struct gw_config *c = reg_config(r);
	const struct gw_bridge *cb = gw_config_find_bridge(c, bridge);
	const struct mapping_profile *p = NULL;
	const struct log_device who = { device, bridge, NULL };
	struct diag diag = { .fn = discover_diag };
	int e = discover_name_check(r, bridge, device);

	if (e < 0)
		return e;
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
	return discover_with(r, cb, device, profile, p, NULL, address);
}

/* d gets profile p (generated, gp its reference, taken over): a new device
 * of the same configuration in its place, registered anew. */
static int reprofile(struct gw_registry *r, struct dev *d, const char *name, const struct mapping_profile *p,
		     struct genprof *gp)
{
	struct dev *nd = NULL;
	int e;

	/* The new one first (it keeps the configuration alive), the old one
	 * gone before the new one's points reach the bridge (they have the
	 * same device name and paths). */
	e = device_new(r, d->gen, d->disc ? NULL : d->cfg, d->disc, p, d->order, &nd);
	if (e < 0) {
		genprof_unref(r->genprofs, gp);
		return log_device_error_errno(DEV_LOG(d), e, "generated profile %s not applied: %m", name);
	}
	nd->gp = gp;
	device_fp_free(nd->fingerprint);
	nd->fingerprint = d->fingerprint; /* a reload compares with the configuration's */
	d->fingerprint = NULL;
	device_unlink(r, d);
	device_free(d);
	r->starting = nd;
	e = device_start(nd);
	r->starting = NULL;
	if (e < 0) {
		log_device_error_errno(DEV_LOG(nd), e, "not started with its generated profile %s: %m", name);
		device_free(nd);
		reg_changed(r);
		return e;
	}
	device_insert(r, nd);
	log_device_info(DEV_LOG(nd), "has its generated profile %s (%zu resources)", name,
			mapping_profile_npoints(p));
	reg_changed(r);
	return 0;
}

int gw_registry_generated(struct gw_registry *r, const char *bridge, const char *device, const char *address,
			  const char *name, const char *text, size_t len)
{
	const struct gw_config *c = reg_config(r);
	const struct gw_bridge *cb = gw_config_find_bridge(c, bridge);
	struct diag diag = { .fn = discover_diag };
	struct genprof *gp = NULL;
	const struct mapping_profile *p;
	const char *kind;
	char file[160];
	struct dev *d;
	int e = discover_name_check(r, bridge, device);

	if (e < 0)
		return e;
	if (r->closing)
		return -ESHUTDOWN;
	if (!cb || !name || !text)
		return -EINVAL;
	d = device_find(r, device);
	if (d && (d == r->starting || !d->cfg->bridge || strcmp(d->cfg->bridge, bridge) != 0))
		return -EPERM;
	if (d && !d->disc && !d->gp && !mapping_profile_generate(d->profile)) {
		log_device_error(DEV_LOG(d),
				 "bridge %s generated a profile for it, but its profile '%s' "
				 "does not say 'generate:'",
				 bridge, d->cfg->profile);
		return -EPERM;
	}
	snprintf(file, sizeof(file), "(generated by bridge %s: %s)", bridge, name);
	e = genprof_get(&r->genprofs, r->objects, mapping_set_search_path(c->profiles), name, file, text, len,
			&diag, &gp);
	if (e < 0)
		return log_error_errno(e, "Bridge %s: profile %s generated for %s cannot be loaded: %m",
				       bridge, name, device);
	p = genprof_profile(gp);
	if (d && d->gp == gp) {
		genprof_unref(r->genprofs, gp);
		return 0;
	}
	kind = mapping_profile_bridge(p);
	if (kind && strcmp(kind, cb->type) != 0) {
		log_error("Bridge %s generated profile %s (for %s) for %s bridges", bridge, name, device,
			  kind);
		genprof_unref(r->genprofs, gp);
		return -EINVAL;
	}
	if (!d)
		return discover_with(r, cb, device, name, p, gp, address ? address : device);
	return reprofile(r, d, name, p, gp);
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
