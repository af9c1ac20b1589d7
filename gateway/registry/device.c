/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A device's life cycle: built from its configuration entry (or a
 * discovery) and its profile into an object store, started (its points
 * handed to its bridge, then its LwM2M side), freed (points taken back,
 * de-registered). The registry's devices are kept sorted by name.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "common/log.h"

int device_set_text(struct lwm2m_store *s, const char *path, const char *text)
{
	struct lwm2m_path p;
	struct lwm2m_value v = { .type = LWM2M_TYPE_STRING,
				 .bytes = { (const uint8_t *)text, strlen(text) } };
	int r = lwm2m_path_parse(path, strlen(path), &p, NULL);

	return r < 0 ? r : lwm2m_store_set(s, &p, &v);
}

int device_set_int(struct lwm2m_store *s, const char *path, int64_t i)
{
	struct lwm2m_path p;
	struct lwm2m_value v = { .type = LWM2M_TYPE_INTEGER, .i = i };
	int r = lwm2m_path_parse(path, strlen(path), &p, NULL);

	return r < 0 ? r : lwm2m_store_set(s, &p, &v);
}

static const char *device_var(void *ctx, const char *name)
{
	struct dev *d = ctx;
	const struct ynode *v = d->cfg->vars ? ynode_map_get(d->cfg->vars, name) : NULL;

	if (v && v->kind == YNODE_SCALAR)
		return v->scalar.str;
	if (strcmp(name, "name") == 0 || strcmp(name, "serial") == 0)
		return d->name;
	if (strcmp(name, "endpoint") == 0)
		return dev_endpoint(d);
	if (strcmp(name, "gateway") == 0)
		return d->gen->config->gateway.name;
	if (strcmp(name, "address") == 0 && d->cfg->address && d->cfg->address->kind == YNODE_SCALAR)
		return d->cfg->address->scalar.str;
	return NULL;
}

/* The points the bridge hears of (add_point): those it reads, and those
 * only written or executed through it (it needs the device's address). */
bool device_for_bridge(const struct mapping_point *pt)
{
	return pt->from == MAPPING_FROM_SOURCE || pt->write || pt->executable;
}

const char device_fp_discovered[] = "(discovered)";

void device_fp_free(const char *fp)
{
	if (fp != device_fp_discovered)
		free((char *)fp); /* ours: made by reload_device_fingerprint() */
}

struct dev *device_free(struct dev *d)
{
	if (!d)
		return NULL;
	if (d->br && d->br->b && d->br->kind->remove_point)
		for (size_t i = 0; i < mapping_profile_npoints(d->profile); i++) {
			const struct mapping_point *pt = mapping_profile_point(d->profile, i);
			if (device_for_bridge(pt))
				d->br->kind->remove_point(d->br->b, d->name, &pt->path);
		}
	if (d->br && d->br->b && d->br->kind->generate && mapping_profile_generate(d->profile))
		(void)d->br->kind->generate(d->br->b, d->name, NULL, NULL);
	target_stop(d);
	if (d->presence < 0)
		d->r->unreachable_devs--;
	lwm2m_store_free(d->store);
	reg_gen_unref(d->r, d->gen);
	device_fp_free(d->fingerprint);
	free(d->pt_sample);
	free(d->hint);
	genprof_unref(d->r->genprofs, d->gp);
	free(d);
	return NULL;
}

int device_start(struct dev *d)
{
	struct gw_registry *r = d->r;
	int e;

	d->br = d->cfg->bridge ? instances_find(r, d->cfg->bridge) : NULL;
	if (d->br && d->br->b && d->br->kind->add_point)
		for (size_t i = 0; i < mapping_profile_npoints(d->profile); i++) {
			const struct mapping_point *pt = mapping_profile_point(d->profile, i);
			struct bridge_point bp = { .device = d->name,
						   .address = d->cfg->address,
						   .pt = pt,
						   .handle = &d->handles[i] };
			if (!device_for_bridge(pt))
				continue;
			bp.poll_usec = d->cfg->poll_usec ? d->cfg->poll_usec
				       : pt->poll_usec   ? pt->poll_usec
							 : mapping_profile_poll_usec(d->profile);
			e = d->br->kind->add_point(d->br->b, &bp);
			if (e < 0) {
				char ps[32];
				lwm2m_path_format(&pt->path, ps);
				log_device_error_errno(DEV_LOG(d), e, "bridge %s refused point %s: %m",
						       d->br->name, ps);
			}
		}
	if (d->br && d->br->b && mapping_profile_generate(d->profile)) {
		/* The bridge makes the real profile from what the device
		 * says about itself (gw_registry_generated). */
		const char *what = mapping_profile_generate(d->profile);
		e = d->br->kind->generate ? d->br->kind->generate(d->br->b, d->name, d->cfg->address, what)
					  : -ENOTSUP;
		if (e < 0)
			log_device_error_errno(DEV_LOG(d), e,
					       "bridge %s cannot generate its profile (%s): %m", d->br->name,
					       what);
	}
	return target_start(d);
}

/* Room for the profile's instances and /3/0, a value per point and
 * /3/0/11/0 (device_new()), no more, in the store's own block (separate
 * arrays are two more allocations a device): the store's growth slack
 * would be ~100 bytes a device, and growing from the profile's exact size
 * leaves holes in the heap. In endpoint mode with room for the client's
 * Server object too (lwm2m_endpoint_add()): arrays outgrowing the block
 * at once would leave it unused (+380 bytes a device, measured). */
static struct lwm2m_store *store_new(struct gw_registry *r, const struct gw_config *c,
				     const struct mapping_profile *p)
{
	size_t ninst = mapping_profile_ninstances(p) + 1;
	size_t nval = mapping_profile_npoints(p) + 1;

	for (size_t i = 0; i < mapping_profile_ninstances(p); i++) {
		struct lwm2m_path ip = mapping_profile_instance(p, i);

		if (ip.id[0] == 3 && ip.id[1] == 0)
			ninst--;
	}
	if (c->lwm2m.mode != GW_MODE_GATEWAY) {
		ninst += LWM2M_ENDPOINT_STORE_INSTANCES;
		nval += LWM2M_ENDPOINT_STORE_VALUES;
	}
	return lwm2m_store_new_sized(r->objects, ninst, nval);
}

int device_new(struct gw_registry *r, struct gen *g, const struct gw_device *cfg, const struct disc *ds,
	       const struct mapping_profile *profile, size_t order, struct dev **out)
{
	const struct gw_config *c = g->config;
	char ep[256];
	size_t el, at, nh = mapping_profile_npoints(profile);
	struct dev *d;
	int e;

	if (target_name(c, ds ? &ds->cfg : cfg, ep, sizeof(ep)) < 0)
		return -ENAMETOOLONG;
	if (nh >= HANDLES_MAX)
		return -E2BIG;
	el = strlen(ep) + 1;
	/* Its handles, endpoint and a discovered device's configuration in
	 * the same block (three allocations fewer a device); its name is
	 * its configuration's, which outlives it (d->gen holds the
	 * configuration). */
	at = offsetof(struct dev, handles) + nh * sizeof(*d->handles) + el;
	at = (at + _Alignof(struct disc) - 1) & ~(_Alignof(struct disc) - 1);
	d = calloc(1, ds ? at + disc_size(ds) : at);
	if (!d)
		return -ENOMEM;
	if (ds) {
		d->disc = (struct disc *)(void *)((char *)d + at);
		disc_copy(d->disc, ds);
		cfg = &d->disc->cfg;
	}
	d->r = r;
	d->gen = reg_gen_ref(g);
	d->cfg = cfg;
	d->order = (uint32_t)order;
	d->profile = profile;
	d->name = cfg->name;
	memcpy(&d->handles[nh], ep, el);
	d->fingerprint = reload_device_fingerprint(c, cfg, d->profile, ep);
	d->store = store_new(r, c, profile);
	if (!d->fingerprint || !d->store) {
		device_free(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < mapping_profile_npoints(profile); i++) {
		d->handles[i].i = (uint16_t)i;
		/* Only max_age reads need the time of each point's sample. */
		if (mapping_profile_point(profile, i)->max_age_usec && !d->pt_sample &&
		    !(d->pt_sample = calloc(mapping_profile_npoints(profile), sizeof(*d->pt_sample)))) {
			device_free(d);
			return -ENOMEM;
		}
	}
	e = mapping_instantiate(d->profile, d->store, device_var, d);
	if (e < 0) {
		log_device_error_errno(DEV_LOG(d), e, "cannot instantiate profile '%s': %m", cfg->profile);
		device_free(d);
		return e;
	}
	/* Every device has a Device object: the gateway reports its
	 * reachability there even when the profile maps nothing of /3. */
	e = lwm2m_store_add_instance(d->store, 3, 0);
	if (e < 0 && e != -EEXIST) {
		device_free(d);
		return e;
	}
	e = device_set_int(d->store, "/3/0/11/0", 0);
	if (e < 0) {
		device_free(d);
		return e;
	}
	*out = d;
	return 0;
}

/* ---- the index by name ------------------------------------------------------------ */

static int cmp_dev(const void *a, const void *b)
{
	const struct dev *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

static int cmp_key(const void *k, const void *b)
{
	const struct dev *const *y = b;
	return strcmp(k, (*y)->name);
}

struct dev *device_find(const struct gw_registry *r, const char *name)
{
	if (r->starting && strcmp(r->starting->name, name) == 0)
		return r->starting;
	struct dev **p = r->n ? bsearch(name, r->devs, r->n, sizeof(*r->devs), cmp_key) : NULL;
	return p ? *p : NULL;
}

void device_sort(struct gw_registry *r)
{
	qsort(r->devs, r->n, sizeof(*r->devs), cmp_dev);
}

/* Into its place: r->devs stays sorted by name without a sort per
 * discovery (thousands of them). r->devs has room for one more. */
void device_insert(struct gw_registry *r, struct dev *d)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(r->devs[mid]->name, d->name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&r->devs[lo + 1], &r->devs[lo], (r->n - lo) * sizeof(*r->devs));
	r->devs[lo] = d;
	r->n++;
}

void device_unlink(struct gw_registry *r, struct dev *d)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->devs[i] == d) {
			memmove(&r->devs[i], &r->devs[i + 1], (r->n - i - 1) * sizeof(*r->devs));
			r->n--;
			break;
		}
}
