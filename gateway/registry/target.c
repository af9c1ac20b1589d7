/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The adapter between the registry and the LwM2M client (lwm2m/client.h):
 * the only file that calls it with (endpoint, Object 25 device) pairs and
 * the only one that branches on the northbound mode. A device is what the
 * server sees as one (struct target): its own endpoint in endpoint mode,
 * an Object 25 device of the gateway's endpoint in gateway mode. The rest
 * of the registry asks for "the device's value changed", "is this point
 * observed", and gets the server's requests as calls on a struct dev.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* ---- the client ------------------------------------------------------------ */

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

int target_client_new(struct gw_registry *r, const struct gw_config *config)
{
	struct lwm2m_client_config cc = {
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
	/* New Observe requests meet the new bound; running ones stay. */
	(void)lwm2m_client_set_max_observations(r->client, (uint32_t)c->lwm2m.max_observations);
}

int target_client_shutdown(struct gw_registry *r, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
	return lwm2m_client_shutdown(r->client, timeout_ms, done, ud);
}

void target_client_free(struct gw_registry *r)
{
	r->client = lwm2m_client_free(r->client);
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

static struct dev *dev_of(struct gw_registry *r, struct lwm2m_device *dev)
{
	return dev ? device_find(r, lwm2m_device_prefix(dev)) : NULL;
}

static void dev_state(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct dev *d = ud;

	(void)ep;
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
	/* In gateway mode the devices are registered with the gateway. */
	if (reg_config(r)->lwm2m.mode == GW_MODE_GATEWAY)
		for (size_t i = 0; i < r->n; i++)
			r->devs[i]->state = st;
	reg_changed(r);
}

static int dev_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		     const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		     lwm2m_done_fn done, void *done_ctx)
{
	(void)ep;
	(void)dev;
	return fanout_write(ud, path, records, replace, done, done_ctx);
}

static int dev_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		       const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		       void *done_ctx)
{
	(void)ep;
	(void)dev;
	return fanout_execute(ud, path, args, args_len, done, done_ctx);
}

static int dev_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	(void)ep;
	(void)dev;
	return fanout_read(ud, path, done, done_ctx);
}

static void dev_obs_changed(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	struct dev *d = ud;

	(void)ep;
	if (!dev)
		instances_obs_mark(d->r, d);
}

/* The gateway endpoint: its own tree is written directly (write NULL is not
 * possible once execute is set, so gw_write does it), Object 25 devices go
 * through their profile and bridge. */
static int gw_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		    lwm2m_done_fn done, void *done_ctx)
{
	struct gw_registry *r = ud;
	struct dev *d = dev_of(r, dev);
	int e;

	if (d)
		return fanout_write(d, path, records, replace, done, done_ctx);
	if (dev)
		return -ENOENT;
	if (path->id[LWM2M_OID] == GW_FIELDDEV_OID) {
		char why[256] = "";
		e = path->len >= 2 ? fielddev_write(r, path, records, why, sizeof(why)) : -EPERM;
		if (e < 0) {
			lwm2m_endpoint_diagnostic(ep, why);
			return e;
		}
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
	struct dev *d = dev_of(r, dev);

	(void)ep;
	if (d)
		return fanout_execute(d, path, args, args_len, done, done_ctx);
	if (dev)
		return -ENOENT;
	/* The gateway's Reboot and Factory Reset: 2.04 first, the daemon
	 * de-registers everything after this request. */
	if (r->reboot_fn && path->len == 3 && path->id[LWM2M_OID] == 3 && path->id[LWM2M_IID] == 0 &&
	    (path->id[LWM2M_RID] == 4 || path->id[LWM2M_RID] == 5)) {
		done(done_ctx, 0);
		r->reboot_fn(r->reboot_ud, path->id[LWM2M_RID] == 5);
		return 0;
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
	struct dev *d = dev_of(ud, dev);

	(void)ep;
	if (d)
		return fanout_read(d, path, done, done_ctx);
	/* The gateway's health as it is now. */
	if (!dev)
		health_refresh(ud);
	return 0;
}

static void gw_obs_changed(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	(void)ep;
	if (dev)
		instances_obs_mark(ud, dev_of(ud, dev));
}

static int gw_create(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev, uint16_t oid, int iid,
		     const struct lwm2m_records *records, char *why, size_t why_size)
{
	(void)ep;
	if (dev || oid != GW_FIELDDEV_OID)
		return -ENOSYS;
	return fielddev_create(ud, iid, records, why, why_size);
}

static int gw_delete(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		     const struct lwm2m_path *path)
{
	char why[256] = "";
	int e;

	if (dev || path->id[LWM2M_OID] != GW_FIELDDEV_OID)
		return -ENOSYS;
	e = fielddev_delete(ud, path, why, sizeof(why));
	if (e < 0)
		lwm2m_endpoint_diagnostic(ep, why);
	return e;
}

static const struct lwm2m_endpoint_ops gw_ep_ops = { .write = gw_write,
						     .create = gw_create,
						     .delete = gw_delete,
						     .execute = gw_execute,
						     .read = gw_read,
						     .state = gw_state,
						     .observations_changed = gw_obs_changed };
static const struct lwm2m_endpoint_ops dev_ep_ops = { .write = dev_write,
						      .execute = dev_execute,
						      .read = dev_read,
						      .state = dev_state,
						      .observations_changed = dev_obs_changed };

/* ---- endpoints ------------------------------------------------------------------ */

static int add_endpoint(struct gw_registry *r, const char *name, const struct gw_device *d,
			struct lwm2m_store *store, void *ud, struct lwm2m_endpoint **out)
{
	const struct gw_config *c = reg_config(r);
	const struct gw_server *sv = servers_main(c), *bs = servers_bootstrap(c);
	struct lwm2m_endpoint_config ec = {
		.name = name,
		.lifetime = (uint32_t)(c->lwm2m.lifetime_usec / 1000000u),
		.ops = d ? &dev_ep_ops : &gw_ep_ops,
		.ops_ud = ud,
	};
	int r2;

	if (!sv && !bs)
		return -EINVAL;
	if (!servers_ready(r))
		return -EAGAIN; /* callers wait for self_resume() */
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
	if (d && d->psk_identity) {
		ec.psk_identity = d->psk_identity;
		ec.psk_key = d->psk_key.bytes;
		ec.psk_key_len = d->psk_key.len;
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
	r2 = lwm2m_endpoint_add(r->client, &ec, store, out);
	if (r2 < 0)
		return log_error_errno(r2, "Cannot add LwM2M endpoint %s: %m", name);
	return 0;
}

int target_self_start(struct gw_registry *r)
{
	int e;

	r->gw_state = LWM2M_EP_WAITING;
	e = add_endpoint(r, reg_config(r)->gateway.name, NULL, r->gw_store, r, &r->gw_ep);
	/* Object 26242 is listed without devices too: the server may create one. */
	if (e >= 0 && lwm2m_endpoint_declare_object(r->gw_ep, GW_FIELDDEV_OID) < 0)
		log_warning("Object %d is not known: the server cannot create devices", GW_FIELDDEV_OID);
	return e;
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
}

void target_self_detach(struct gw_registry *r)
{
	r->gw_ep = NULL;
}

static int add_to_gateway(struct dev *d)
{
	int e = lwm2m_endpoint_add_device(d->r->gw_ep, d->name, d->store, d->name, &d->tgt.dev);

	d->state = d->r->gw_state;
	return e;
}

int target_start(struct dev *d)
{
	struct gw_registry *r = d->r;
	int e;

	if (reg_config(r)->lwm2m.mode == GW_MODE_GATEWAY) {
		if (!r->gw_ep) {
			/* Added with the gateway's endpoint (self_resume). */
			d->state = r->gw_state;
			return 0;
		}
		e = add_to_gateway(d);
		if (e < 0)
			return log_device_error_errno(DEV_LOG(d), e,
						      "cannot add it to the gateway endpoint: %m");
		return 0;
	}
	if (!servers_ready(r)) {
		d->state = STATE_RESOLVING;
		return 0;
	}
	return add_endpoint(r, d->endpoint, d->cfg, d->store, d, &d->tgt.ep);
}

/* A device that waited for the server's address or the gateway's
 * endpoint. */
void target_resume(struct dev *d)
{
	struct gw_registry *r = d->r;
	int e;

	if (target_started(d))
		return;
	if (reg_config(r)->lwm2m.mode == GW_MODE_GATEWAY) {
		if (!r->gw_ep)
			return;
		e = add_to_gateway(d);
		if (e < 0)
			log_device_error_errno(DEV_LOG(d), e, "cannot add it to the gateway endpoint: %m");
		return;
	}
	d->state = LWM2M_EP_WAITING;
	e = add_endpoint(r, d->endpoint, d->cfg, d->store, d, &d->tgt.ep);
	if (e < 0)
		log_device_error_errno(DEV_LOG(d), e, "not started: %m");
}

const char *target_endpoint(const struct dev *d)
{
	const struct gw_config *c = d->gen->config;

	return c->lwm2m.mode == GW_MODE_GATEWAY ? c->gateway.name : d->endpoint;
}

bool target_started(const struct dev *d)
{
	return d->tgt.ep || d->tgt.dev;
}

void target_stop(struct dev *d)
{
	if (d->tgt.ep)
		lwm2m_endpoint_remove(d->tgt.ep); /* de-registers in the background */
	if (d->tgt.dev)
		lwm2m_device_remove(d->tgt.dev);
	target_detach(d);
}

void target_detach(struct dev *d)
{
	d->tgt.ep = NULL;
	d->tgt.dev = NULL;
}

/* ---- values and observations ------------------------------------------------------ */

static struct lwm2m_endpoint *endpoint_of(const struct dev *d)
{
	return d->tgt.ep ? d->tgt.ep : d->tgt.dev ? lwm2m_device_endpoint(d->tgt.dev) : NULL;
}

/* time: of the measurement, seconds since the epoch, 0 when unknown;
 * historical: every sample is kept for the server (mapping_point). */
int target_set_at(struct dev *d, const struct lwm2m_path *p, const struct lwm2m_value *v, double time,
		  bool historical)
{
	struct lwm2m_endpoint *ep = endpoint_of(d);

	if (ep && historical)
		return lwm2m_endpoint_set_historical(ep, d->tgt.dev, p, v, time);
	if (ep)
		return lwm2m_endpoint_set_at(ep, d->tgt.dev, p, v, time);
	return lwm2m_store_set_at(d->store, p, v, time);
}

/* What the client holds for the server of d's values (status). */
void target_held_note(const struct dev *d, char *buf, size_t size)
{
	gw_sf_device_note(d->tgt.ep, d->tgt.dev, buf, size);
}

int target_written(struct dev *d, const struct lwm2m_path *path, const struct lwm2m_records *recs,
		   bool replace)
{
	struct lwm2m_endpoint *ep = endpoint_of(d);
	int e = lwm2m_store_write(d->store, path, recs, replace);

	for (size_t i = 0; e >= 0 && ep && i < recs->n; i++)
		if (recs->v[i].path.len >= 3)
			(void)lwm2m_endpoint_value_changed(ep, d->tgt.dev, &recs->v[i].path);
	return e;
}

int target_observed(const struct dev *d, const struct lwm2m_path *p, uint32_t *pmin)
{
	const struct lwm2m_endpoint *ep = endpoint_of(d);

	return ep ? lwm2m_endpoint_observed(ep, d->tgt.dev, p, pmin) : 0;
}
