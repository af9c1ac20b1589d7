/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's own endpoint, named gateway.name, with its Device object;
 * in gateway mode the devices hang off it as Object 25 instances. Started
 * with the registry and whenever every endpoint registers again, and
 * resumed with the devices once the servers' addresses are known.
 */
#include "gateway/registry/registry_internal.h"
#include "gateway/registry/fwupdate.h"

#include <errno.h>

#include "common/log.h"
#include "gateway/pkg/pkg.h"

/* The gateway's own Device object; serial: its Serial Number (the
 * endpoint's name: an extra gateway endpoint's /3/0 names itself). */
int self_device_store(struct gw_registry *r, const char *serial, struct lwm2m_store **out)
{
	struct lwm2m_store *s = lwm2m_store_new(r->objects);
	int e;

	if (!s)
		return -ENOMEM;
	e = lwm2m_store_add_instance(s, 3, 0);
	if (e >= 0)
		e = device_set_text(s, "/3/0/0", "fieldgate project");
	if (e >= 0)
		e = device_set_text(s, "/3/0/1", "fieldgate");
	if (e >= 0)
		e = device_set_text(s, "/3/0/2", serial);
	if (e >= 0)
		e = device_set_text(s, "/3/0/3", gw_version);
	if (e >= 0)
		e = device_set_int(s, "/3/0/11/0", 0);
	if (e >= 0)
		e = device_set_text(s, "/3/0/16", "U");
	/* Memory, time, error codes: health.c, from the host's figures. */
	if (e < 0) {
		lwm2m_store_free(s);
		return e;
	}
	*out = s;
	return 0;
}

int self_start(struct gw_registry *r)
{
	int e = self_device_store(r, reg_config(r)->gateway.name, &r->gw_store);

	if (e < 0)
		return log_error_errno(e, "Cannot build the gateway's Device object: %m");
	if (fwupdate_start(r) < 0)
		log_warning("The gateway has no Object 5: the server cannot update it");
	health_refresh(r);
	swmgmt_sync(r); /* Object 9: the installed bundles */
	if (health_start(r) < 0)
		log_warning(
			"Cannot set up the health timer: /3/0, /4/0 and 26241 are refreshed on reads only");
	if (!servers_ready(r)) {
		r->gw_state = STATE_RESOLVING;
		return 0;
	}
	return target_self_start(r);
}

void self_stop(struct gw_registry *r)
{
	target_self_stop(r);
	r->gw_store = lwm2m_store_free(r->gw_store);
}

/* The server hosts are resolved: the endpoints that waited for them are
 * created now (the gateway's first, its Object 25 devices hang off it). */
void self_resume(struct gw_registry *r)
{
	int e;

	if (!servers_ready(r) || r->closing)
		return;
	if (!target_self_started(r) && r->gw_store) {
		e = target_self_start(r);
		if (e < 0)
			log_error_errno(e, "The gateway's endpoint is not started: %m");
	}
	for (size_t i = 0; i < r->n; i++)
		target_resume(r->devs[i]);
	reg_changed(r);
}

void self_pkg_limits(const struct gw_registry *r, struct gw_pkg_limits *lim)
{
	const struct gw_update_config *u = &reg_config(r)->update;

	*lim = (struct gw_pkg_limits){ .max_size = u->max_size,
				       .schemes = u->schemes,
				       .timeout_s = u->timeout_s,
				       .ca_file = u->ca_file,
				       /* coaps with a PSK when both keys are set */
				       .psk_identity = u->psk_identity,
				       .psk_key = u->psk_key.len ? u->psk_key.bytes : NULL,
				       .psk_key_len = u->psk_key.len };
}
