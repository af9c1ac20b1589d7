/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The adapter between the registry and the LwM2M client (lwm2m/client.h),
 * the only registry file that calls it. A device is one LwM2M target of the
 * client (struct lwm2m_target: its own endpoint or an Object 25 device of
 * the gateway's endpoint, which the client decides from the northbound
 * mode this file hands it from the configuration). The rest of the
 * registry asks for "the device's value changed", "is this point
 * observed", and gets the server's requests as calls on a struct dev.
 */
#include "gateway/registry/registry_internal.h"
#include "gateway/registry/fwupdate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* ---- the client ------------------------------------------------------------ */

/* One per index >= 1 that placement.c gave a device: "<gateway.name>-gw<k+1>"
 * with the gateway's server and credentials, its own Device object and
 * its Object 25 devices; added while it has devices. */
struct gwhost {
	struct gw_registry *r;
	struct lwm2m_endpoint *ep;
	struct lwm2m_store *store;
	int state;
	uint64_t failures;
};

static void client_log(void *ud, int level, const char *ep, const char *msg)
{
	char field[300];
	const char *fields[2] = { NULL, NULL };

	(void)ud;
	if (ep) {
		snprintf(field, sizeof(field), "ENDPOINT=%s", ep);
		fields[0] = field;
		log_full_fields_errno(level, 0, fields, "%s: %s", ep, msg);
	} else
		log_full_fields_errno(level, 0, NULL, "%s", msg);
}

/* The configuration's northbound mode as the client's target mode: the one
 * place the registry reads the mode for the client. */
static enum lwm2m_target_mode target_mode(const struct gw_config *c)
{
	return c->lwm2m.mode == GW_MODE_GATEWAY ? LWM2M_TARGETS_GATEWAY : LWM2M_TARGETS_ENDPOINTS;
}

/* Updates share register_rate's slots with Registers: too low a rate for
 * the configured endpoints and their lifetime lets registrations expire
 * (the client warns again when an Update really waits; discovered devices
 * add to this count). */
static void check_rate(const struct gw_config *c)
{
	uint32_t lifetime = (uint32_t)(c->lwm2m.lifetime_usec / 1000000u);
	size_t n = c->devices.n + 1; /* and the gateway's own endpoint */
	double need;

	if (c->lwm2m.mode != GW_MODE_ENDPOINT || !lifetime)
		return;
	need = (double)n / lwm2m_update_period(lifetime);
	if (need > (double)c->lwm2m.register_rate)
		log_warning("lwm2m.register_rate %u cannot renew the registrations of %zu endpoints with "
			    "lifetime %u s: their Updates alone need %.1f per second; raise register_rate "
			    "to at least %.0f or the lifetime",
			    (unsigned)c->lwm2m.register_rate, n, lifetime, need, ceil(need * 1.25));
}

int target_client_new(struct gw_registry *r, const struct gw_config *config)
{
	struct lwm2m_client_config cc = {
		.target_mode = target_mode(config),
		.log = client_log,
		.log_level = log_get_max_level(),
		.reg_rate = (double)config->lwm2m.register_rate,
		.max_observations = (uint32_t)config->lwm2m.max_observations,
		.state_dir = r->state_dir,
	};

	gw_sf_client_config(config, &cc);
	return lwm2m_client_new(r->event, r->objects, &cc, &r->client);
}

void target_client_settings(struct gw_registry *r, const struct gw_config *c)
{
	/* The pace changes for what is still to send; nobody re-registers. */
	(void)lwm2m_client_set_reg_rate(r->client, (double)c->lwm2m.register_rate);
	check_rate(c);
	/* New Observe requests meet the new bound; running ones stay. */
	(void)lwm2m_client_set_max_observations(r->client, (uint32_t)c->lwm2m.max_observations);
	/* A changed mode changes the global fingerprint: every device is
	 * added again (reload.c), in the new mode. */
	(void)lwm2m_client_set_target_mode(r->client, target_mode(c));
}

int target_client_shutdown(struct gw_registry *r, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
	return lwm2m_client_shutdown(r->client, timeout_ms, done, ud);
}

void target_client_free(struct gw_registry *r)
{
	r->client = lwm2m_client_free(r->client);
	/* The client freed the extra gateway endpoints too. */
	for (uint32_t h = 1; h < r->ngwx; h++)
		if (r->gwx[h])
			r->gwx[h]->ep = NULL;
}

int target_name(const struct gw_config *c, const struct gw_device *cfg, char *buf, size_t size)
{
	int n;

	if (c->lwm2m.mode != GW_MODE_GATEWAY)
		return gw_device_endpoint_name(c, cfg, buf, size);
	n = snprintf(buf, size, "%s/%s", c->gateway.name, cfg->name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}

/* ---- what the server asks of a device ------------------------------------------ */

static void dev_state(void *ud, struct lwm2m_target *t, enum lwm2m_ep_state st, int err)
{
	struct dev *d = ud;

	(void)t;
	d->state = st;
	if (err < 0)
		d->reg_failures++;
	reg_changed(d->r);
}

static void gw_state(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct gw_registry *r = ud;

	(void)ep;
	r->gw_state = st;
	if (err < 0)
		r->gw_failures++;
	reg_changed(r);
}

static int dev_write(void *ud, struct lwm2m_target *t, const struct lwm2m_path *path,
		     const struct lwm2m_records *records, bool replace, lwm2m_done_fn done, void *done_ctx)
{
	(void)t;
	return fanout_write(ud, path, records, replace, done, done_ctx);
}

static int dev_execute(void *ud, struct lwm2m_target *t, const struct lwm2m_path *path, const char *args,
		       size_t args_len, lwm2m_done_fn done, void *done_ctx)
{
	(void)t;
	return fanout_execute(ud, path, args, args_len, done, done_ctx);
}

static int dev_read(void *ud, struct lwm2m_target *t, const struct lwm2m_path *path, lwm2m_done_fn done,
		    void *done_ctx)
{
	(void)t;
	return fanout_read(ud, path, done, done_ctx);
}

static void dev_obs_changed(void *ud, struct lwm2m_target *t)
{
	struct dev *d = ud;

	(void)t;
	instances_obs_mark(d->r, d);
}

/* A request of Object 9 (swmgmt.c), answered at once: done, or the
 * error with why as its diagnostic payload. */
static int swmgmt_answer(struct lwm2m_endpoint *ep, int e, const char *why, lwm2m_done_fn done,
			 void *done_ctx)
{
	if (e < 0) {
		if (why[0])
			lwm2m_endpoint_diagnostic(ep, why);
		return e;
	}
	done(done_ctx, 0);
	return 0;
}

/* The gateway endpoint's own tree: written directly (write NULL is not
 * possible once execute is set, so gw_write does it); its Object 25
 * devices are targets and never come here. */
static int gw_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		    lwm2m_done_fn done, void *done_ctx)
{
	struct gw_registry *r = ud;
	int e;

	if (dev)
		return -ENOENT;
	if (path->id[LWM2M_OID] == GW_FIELDDEV_OID) {
		char why[256] = "";
		e = path->len >= 2 ? fielddev_write(r, path, records, replace, why, sizeof(why)) : -EPERM;
		if (e < 0) {
			lwm2m_endpoint_diagnostic(ep, why);
			return e;
		}
		done(done_ctx, 0);
		return 0;
	}
	if (path->id[LWM2M_OID] == GW_SWMGMT_OID) {
		char why[256] = "";
		return swmgmt_answer(ep, swmgmt_write(r, path, records, why, sizeof(why)), why, done,
				     done_ctx);
	}
	if (path->id[LWM2M_OID] == FWU_OID) {
		e = fwupdate_write(r, records);
		if (e < 0)
			return e;
		done(done_ctx, 0);
		return 0;
	}
	/* The gateway's own tree. */
	e = lwm2m_store_write(lwm2m_endpoint_store(ep), path, records, replace);
	for (size_t i = 0; e >= 0 && i < records->n; i++)
		if (records->v[i].path.len >= 3)
			(void)lwm2m_endpoint_value_changed(ep, NULL, &records->v[i].path);
	if (e < 0)
		return e;
	done(done_ctx, 0);
	return 0;
}

static int gw_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		      const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		      void *done_ctx)
{
	struct gw_registry *r = ud;

	(void)args;
	(void)args_len;
	if (dev)
		return -ENOENT;
	/* The gateway's Reboot and Factory Reset: 2.04 first, the daemon
	 * de-registers everything after this request. */
	if (r->reboot_fn && path->len == 3 && path->id[LWM2M_OID] == 3 && path->id[LWM2M_IID] == 0 &&
	    (path->id[LWM2M_RID] == 4 || path->id[LWM2M_RID] == 5)) {
		done(done_ctx, 0);
		r->reboot_fn(r->reboot_ud,
			     path->id[LWM2M_RID] == 5 ? GW_RESTART_FACTORY_RESET : GW_RESTART_REBOOT);
		return 0;
	}
	/* Object 5: Update, Cancel. */
	if (path->len == 3 && path->id[LWM2M_OID] == FWU_OID) {
		int e = fwupdate_execute(r, path->id[LWM2M_RID]);
		if (e < 0)
			return e;
		done(done_ctx, 0);
		return 0;
	}
	/* Object 9: Install, Uninstall, Activate, Deactivate. */
	if (path->len == 3 && path->id[LWM2M_OID] == GW_SWMGMT_OID) {
		char why[512] = "";
		return swmgmt_answer(ep, swmgmt_execute(r, path, why, sizeof(why)), why, done, done_ctx);
	}
	/* Reset Statistics of a bridge. */
	if (path->len == 3 && path->id[LWM2M_OID] == 26241 && path->id[LWM2M_RID] == 4) {
		int e = health_reset(r, path->id[LWM2M_IID]);
		if (e < 0)
			return e;
		done(done_ctx, 0);
		return 0;
	}
	return -EPERM;
}

static int gw_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		   const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	(void)ep;
	(void)path;
	(void)done;
	(void)done_ctx;
	/* The gateway's health as it is now. */
	if (!dev)
		health_refresh(ud);
	return 0;
}

static int gw_create(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev, uint16_t oid, int iid,
		     const struct lwm2m_records *records, char *why, size_t why_size)
{
	(void)ep;
	if (!dev && oid == GW_SWMGMT_OID)
		return swmgmt_create(ud, iid, records, why, why_size);
	if (dev || oid != GW_FIELDDEV_OID)
		return -ENOSYS;
	return fielddev_create(ud, iid, records, why, why_size);
}

static int gw_delete(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		     const struct lwm2m_path *path)
{
	char why[256] = "";
	int e;

	if (!dev && path->id[LWM2M_OID] == GW_SWMGMT_OID)
		e = swmgmt_delete(ud, path, why, sizeof(why));
	else if (dev || path->id[LWM2M_OID] != GW_FIELDDEV_OID)
		return -ENOSYS;
	else
		e = fielddev_delete(ud, path, why, sizeof(why));
	if (e < 0)
		lwm2m_endpoint_diagnostic(ep, why);
	return e;
}

/* Block-wise Writes of a package to the gateway's endpoint, block by block
 * (never held whole): routed by object. -ENOSYS has the client assemble
 * the body for gw_write() as usual. */
static int gw_write_stream(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			   const struct lwm2m_path *path, uint64_t offset, const uint8_t *data, size_t len,
			   unsigned flags)
{
	(void)ep;
	if (dev)
		return -ENOSYS;
	if (path->id[LWM2M_OID] == GW_SWMGMT_OID)
		return swmgmt_write_stream(ud, path, offset, data, len, flags);
	if (path->len == 3 && path->id[LWM2M_OID] == FWU_OID && path->id[LWM2M_RID] == 0)
		return fwupdate_write_stream(ud, offset, data, len, flags);
	return offset == 0 ? -ENOSYS : -EINVAL;
}

static const struct lwm2m_endpoint_ops gw_ep_ops = { .write = gw_write,
						     .write_stream = gw_write_stream,
						     .create = gw_create,
						     .delete = gw_delete,
						     .execute = gw_execute,
						     .read = gw_read,
						     .state = gw_state };
static const struct lwm2m_target_ops dev_ops = { .write = dev_write,
						 .execute = dev_execute,
						 .read = dev_read,
						 .state = dev_state,
						 .observations_changed = dev_obs_changed };

/* ---- endpoints ------------------------------------------------------------------ */

/* The endpoint configuration of the gateway (d NULL) or a device: server,
 * bootstrap, keys. -EINVAL without server, -EAGAIN while the server's
 * address is being resolved (callers wait for self_resume()). */
static int endpoint_config(struct gw_registry *r, const char *name, const struct gw_device *d,
			   struct lwm2m_endpoint_config *out)
{
	const struct gw_config *c = reg_config(r);
	const struct gw_server *sv = servers_main(c), *bs = servers_bootstrap(c);
	struct lwm2m_endpoint_config ec = {
		.name = name,
		.lifetime = (uint32_t)(c->lwm2m.lifetime_usec / 1000000u),
	};

	if (!sv && !bs)
		return -EINVAL;
	if (!servers_ready(r))
		return -EAGAIN;
	if (sv)
		ec.server_uri = r->hosts[0].uri;
	gw_sf_endpoint_config(sv, &ec);
	/* Factory bootstrap: the client asks the Bootstrap-Server for its
	 * account unless a kept bootstrap result exists (state_dir); the
	 * server entry above is then not used. */
	if (bs) {
		ec.bootstrap_uri = r->hosts[1].uri;
		if (bs->security == GW_SECURITY_PSK) {
			ec.bootstrap_psk_identity = bs->psk_identity;
			ec.bootstrap_psk_key = bs->psk_key.bytes;
			ec.bootstrap_psk_key_len = bs->psk_key.len;
		}
	}
	if (d && d->psk_identity && d->psk_key) {
		ec.psk_identity = d->psk_identity;
		ec.psk_key = d->psk_key->bytes;
		ec.psk_key_len = d->psk_key->len;
	} else if (sv && sv->security == GW_SECURITY_PSK) {
		ec.psk_identity = sv->psk_identity;
		ec.psk_key = sv->psk_key.bytes;
		ec.psk_key_len = sv->psk_key.len;
	} else if (sv && sv->security == GW_SECURITY_CERTIFICATE) {
		/* One certificate for the gateway and every endpoint it hosts. */
		ec.cert_file = sv->certificate;
		ec.key_file = sv->private_key;
		ec.ca_file = sv->ca_certificate;
		/* server_uri holds the address a name resolved to: the
		 * certificate must name the host as configured. */
		ec.server_name = sv->server_name ? sv->server_name : sv->uri.host;
	}
	*out = ec;
	return 0;
}

/* ---- extra gateway endpoints (gateway mode) ----------------------------------------- */

int target_host_name(const struct gw_registry *r, uint32_t host, char *buf, size_t size)
{
	const char *gw = reg_config(r)->gateway.name;
	int n = host ? snprintf(buf, size, "%s-gw%u", gw, host + 1) : snprintf(buf, size, "%s", gw);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}

int target_host_state(const struct gw_registry *r, uint32_t host)
{
	if (!host)
		return r->gw_state;
	return host < r->ngwx && r->gwx[host] ? r->gwx[host]->state : LWM2M_EP_WAITING;
}

static void host_state(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct gwhost *x = ud;

	(void)ep;
	x->state = st;
	if (err < 0)
		x->failures++;
	reg_changed(x->r);
}

/* Only the state: the rest (its /3/0, the Object 25 instances) is the
 * store's, which answers reads and refuses writes of read-only ones. */
static const struct lwm2m_endpoint_ops host_ops = { .state = host_state };

static struct gwhost *host_get(struct gw_registry *r, uint32_t h)
{
	if (h >= r->ngwx) {
		struct gwhost **v = realloc(r->gwx, (h + 1) * sizeof(*v));
		if (!v)
			return NULL;
		memset(&v[r->ngwx], 0, (h + 1 - r->ngwx) * sizeof(*v));
		r->gwx = v;
		r->ngwx = h + 1;
	}
	if (!r->gwx[h]) {
		r->gwx[h] = calloc(1, sizeof(**r->gwx));
		if (!r->gwx[h])
			return NULL;
		r->gwx[h]->r = r;
		r->gwx[h]->state = LWM2M_EP_WAITING;
	}
	return r->gwx[h];
}

/* Add extra gateway endpoint h unless it is there; quietly later when the
 * server's address is not known yet (target_self_start() starts it). */
static int host_start(struct gw_registry *r, uint32_t h)
{
	struct lwm2m_endpoint_config ec;
	struct gwhost *x;
	char name[256];
	int e;

	if (!h || r->closing)
		return 0;
	x = host_get(r, h);
	if (!x)
		return -ENOMEM;
	if (x->ep)
		return 0;
	e = target_host_name(r, h, name, sizeof(name));
	if (e >= 0)
		e = endpoint_config(r, name, NULL, &ec);
	if (e == -EAGAIN) {
		x->state = STATE_RESOLVING;
		return 0;
	}
	if (e >= 0 && !x->store)
		e = self_device_store(r, name, &x->store);
	if (e < 0)
		return log_error_errno(e, "Cannot add LwM2M gateway endpoint %s: %m", name);
	ec.ops = &host_ops;
	ec.ops_ud = x;
	ec.gateway = true; /* the devices placed on it wait for it by name */
	x->state = LWM2M_EP_WAITING;
	e = lwm2m_endpoint_add(r->client, &ec, x->store, &x->ep);
	if (e < 0)
		return log_error_errno(e, "Cannot add LwM2M gateway endpoint %s: %m", name);
	log_info("Gateway endpoint %s added for devices beyond lwm2m.gateway_devices_max", name);
	return 0;
}

/* De-register extra gateway endpoint h (its last device left, or every
 * endpoint registers again). */
static void host_stop(struct gw_registry *r, uint32_t h)
{
	struct gwhost *x = h && h < r->ngwx ? r->gwx[h] : NULL;

	if (!x)
		return;
	lwm2m_endpoint_remove(x->ep);
	x->ep = NULL;
	x->store = lwm2m_store_free(x->store);
	x->state = LWM2M_EP_WAITING;
}

void target_hosts_free(struct gw_registry *r)
{
	r->gwx_gc = sd_event_source_disable_unref(r->gwx_gc);
	for (uint32_t h = 1; h < r->ngwx; h++) {
		if (r->gwx[h])
			lwm2m_store_free(r->gwx[h]->store);
		free(r->gwx[h]);
	}
	free(r->gwx);
	r->gwx = NULL;
	r->ngwx = 0;
	placement_free(r);
}

static void host_stop(struct gw_registry *r, uint32_t h);

/* Extra gateway endpoints left without devices de-register, from the
 * loop: a reload removes a changed device before it adds it again, and
 * the only device of an endpoint must not make it register anew. */
static int hosts_gc(sd_event_source *s, void *ud)
{
	struct gw_registry *r = ud;

	(void)s;
	for (uint32_t h = 1; h < r->ngwx; h++)
		if (r->gwx[h] && r->gwx[h]->ep && !placement_devices(r, h))
			host_stop(r, h);
	return 0;
}

static void hosts_gc_soon(struct gw_registry *r)
{
	int e = r->gwx_gc ? sd_event_source_set_enabled(r->gwx_gc, SD_EVENT_ONESHOT)
			  : sd_event_add_defer(r->event, &r->gwx_gc, hosts_gc, r);

	if (e < 0)
		(void)hosts_gc(NULL, r); /* no event source: at once */
}

/* The device left its place; an extra gateway endpoint left without
 * devices de-registers. */
static void unplace(struct dev *d)
{
	uint32_t h;

	if (!d->placed)
		return;
	d->placed = false;
	h = placement_release(d->r, d->name);
	if (h != UINT32_MAX && h && !placement_devices(d->r, h))
		hosts_gc_soon(d->r);
}

int target_self_start(struct gw_registry *r)
{
	struct lwm2m_endpoint_config ec;
	const char *name = reg_config(r)->gateway.name;
	int e = endpoint_config(r, name, NULL, &ec);

	if (e < 0)
		return e;
	r->gw_state = LWM2M_EP_WAITING;
	ec.ops = &gw_ep_ops;
	ec.ops_ud = r;
	ec.gateway = true; /* in gateway mode the devices are its Object 25 instances */
	e = lwm2m_endpoint_add(r->client, &ec, r->gw_store, &r->gw_ep);
	if (e < 0)
		return log_error_errno(e, "Cannot add LwM2M endpoint %s: %m", name);
	/* Object 26242 is listed without devices too: the server may create one. */
	if (lwm2m_endpoint_declare_object(r->gw_ep, GW_FIELDDEV_OID) < 0)
		log_warning("Object %d is not known: the server cannot create devices", GW_FIELDDEV_OID);
	/* Object 9 too: the server creates an instance to deliver a bundle. */
	if (lwm2m_endpoint_declare_object(r->gw_ep, GW_SWMGMT_OID) < 0)
		log_warning("Object %d is not known: the server cannot install bundles", GW_SWMGMT_OID);
	/* The extra gateway endpoints that have devices waiting for them. */
	for (uint32_t h = 1; h < placement_endpoints(r); h++)
		if (placement_devices(r, h))
			(void)host_start(r, h);
	return 0;
}

bool target_self_started(const struct gw_registry *r)
{
	return r->gw_ep != NULL;
}

void target_self_stop(struct gw_registry *r)
{
	if (r->gw_ep)
		lwm2m_endpoint_remove(r->gw_ep);
	r->gw_ep = NULL;
	for (uint32_t h = 1; h < r->ngwx; h++)
		host_stop(r, h);
}

void target_self_detach(struct gw_registry *r)
{
	r->gw_ep = NULL;
	for (uint32_t h = 1; h < r->ngwx; h++)
		if (r->gwx[h])
			r->gwx[h]->ep = NULL;
}

/* Gateway mode: the device's place (placement.c), its gateway endpoint
 * added if it is an extra one. */
static int place(struct dev *d, struct lwm2m_target_config *tc, char *host, size_t size)
{
	struct gw_registry *r = d->r;
	uint16_t iid;
	int e = placement_take(r, d->name, &d->host, &iid);

	if (e < 0)
		return log_device_error_errno(DEV_LOG(d), e, "cannot place it on a gateway endpoint: %m");
	d->placed = true;
	e = target_host_name(r, d->host, host, size);
	if (e >= 0)
		e = host_start(r, d->host);
	if (e < 0) {
		unplace(d);
		return log_device_error_errno(DEV_LOG(d), e, "cannot place it on a gateway endpoint: %m");
	}
	tc->gateway = host;
	tc->iid_fixed = true;
	tc->iid = iid;
	return 0;
}

/* The device as a target of the client: its own endpoint or an Object 25
 * device of the gateway's, as the client's mode says. Before the server's
 * address is known only a target that needs none can be added; the others
 * wait for target_resume(). */
static int add_target(struct dev *d)
{
	struct gw_registry *r = d->r;
	struct lwm2m_endpoint_config ec;
	struct lwm2m_target_config tc = {
		.prefix = d->name,
		.device_id = d->name,
		.store = d->store,
		.ops = &dev_ops,
		.ud = d,
	};
	char host[256];
	int e = endpoint_config(r, dev_endpoint(d), d->cfg, &ec);

	if (e == -EINVAL)
		return log_error_errno(e, "Cannot add LwM2M endpoint %s: %m", dev_endpoint(d));
	if (e >= 0)
		tc.endpoint = &ec;
	if (reg_config(r)->lwm2m.mode == GW_MODE_GATEWAY && !d->placed) {
		e = place(d, &tc, host, sizeof(host));
		if (e < 0)
			return e;
	}
	e = lwm2m_target_add(r->client, &tc, &d->tgt.t);
	if (e == -EAGAIN) {
		d->state = STATE_RESOLVING;
		return 0;
	}
	if (e < 0) {
		unplace(d);
		return log_device_error_errno(DEV_LOG(d), e, "cannot add it to the LwM2M client: %m");
	}
	/* Waiting for the gateway's endpoint: as it is (resolving, waiting). */
	d->state = lwm2m_target_endpoint_name(d->tgt.t) ? (int)lwm2m_target_state(d->tgt.t) : r->gw_state;
	return 0;
}

int target_start(struct dev *d)
{
	return add_target(d);
}

/* A device that waited for the server's address. */
void target_resume(struct dev *d)
{
	if (target_started(d))
		return;
	(void)add_target(d);
}

const char *target_endpoint(const struct dev *d)
{
	const char *n = d->tgt.t ? lwm2m_target_endpoint_name(d->tgt.t) : NULL;

	return n ? n : dev_endpoint(d);
}

const char *target_shown_endpoint(const struct dev *d, char *buf, size_t size)
{
	char host[256];

	if (!d->placed || target_host_name(d->r, d->host, host, sizeof(host)) < 0)
		return dev_endpoint(d);
	snprintf(buf, size, "%s/%s", host, d->name);
	return buf;
}

bool target_started(const struct dev *d)
{
	return d->tgt.t != NULL;
}

void target_stop(struct dev *d)
{
	lwm2m_target_remove(d->tgt.t); /* de-registers in the background */
	target_detach(d);
	unplace(d);
}

void target_detach(struct dev *d)
{
	d->tgt.t = NULL;
}

/* ---- values and observations ------------------------------------------------------ */

/* time: of the measurement, seconds since the epoch, 0 when unknown;
 * historical: every sample is kept for the server (mapping_point). */
int target_set_at(struct dev *d, const struct lwm2m_path *p, const struct lwm2m_value *v, double time,
		  bool historical)
{
	if (d->tgt.t)
		return lwm2m_target_set(d->tgt.t, p, v, time, historical);
	return lwm2m_store_set_at(d->store, p, v, time);
}

uint64_t target_notifications(const struct dev *d)
{
	return d->tgt.t ? lwm2m_target_notifications(d->tgt.t) : 0;
}

/* What the client holds for the server of d's values (status). */
void target_held_note(const struct dev *d, char *buf, size_t size)
{
	struct lwm2m_sf_stats st = { 0 };

	if (d->tgt.t)
		lwm2m_target_sf_stats(d->tgt.t, &st);
	gw_sf_device_note(&st, buf, size);
}

int target_written(struct dev *d, const struct lwm2m_path *path, const struct lwm2m_records *recs,
		   bool replace)
{
	int e = lwm2m_store_write(d->store, path, recs, replace);

	for (size_t i = 0; e >= 0 && d->tgt.t && i < recs->n; i++)
		if (recs->v[i].path.len >= 3)
			(void)lwm2m_target_value_changed(d->tgt.t, &recs->v[i].path);
	return e;
}

int target_observed(const struct dev *d, const struct lwm2m_path *p, uint32_t *pmin)
{
	return d->tgt.t ? lwm2m_target_observed(d->tgt.t, p, pmin) : 0;
}
