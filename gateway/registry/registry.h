/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway/registry/registry.h — the device registry: configured devices become LwM2M
 * endpoints (endpoint mode) or Object 25 instances of the gateway's own
 * endpoint (gateway mode), with their profile's object tree; bridge samples
 * flow through the profile's transform into resource values; reloads apply
 * only the difference.
 *
 * Ownership: the registry takes the configurations given to it (with their
 * profiles) and keeps each alive as long as a device created from it lives,
 * so a device untouched by a reload keeps its profile, its store, its
 * endpoint, its session and its observations.
 *
 * Reachability of a device is visible to the LwM2M server in the device's
 * Device object: /3/0/11/0 (Error Code) is 0 while the device answers and
 * GW_ERROR_UNREACHABLE (16, the first code of the device-specific range
 * 16..32) while its bridge reports it unreachable (docs/gateway.md).
 *
 * Threads: the sd_event loop's only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <systemd/sd-event.h>

#include "gateway/gateway.h"
#include "lwm2m/lwm2m.h"
#include "mappings/mapping.h"

#define GW_ERROR_UNREACHABLE 16

struct gw_registry;

/* Create the LwM2M client on ev, the gateway's own endpoint and every
 * device of config. Takes config (freed by the registry, also on error);
 * objects must outlive the registry. Returns 0 and *out or a negative errno
 * (logged). */
int gw_registry_new(sd_event *ev, const struct lwm2m_registry *objects, struct gw_config *config,
		    struct gw_registry **out);

/* Apply a new, valid configuration (taken, as above): removed devices
 * de-register, added ones register, changed ones (any setting of theirs,
 * their profile file, or a global setting) re-register, the others are kept
 * as they are. Returns 0; counts of what happened go to the log. */
int gw_registry_apply(struct gw_registry *r, struct gw_config *config);

/* The running configuration (owned by the registry). */
const struct gw_config *gw_registry_config(const struct gw_registry *r);

/* A sample for a device's point, named (bridges give theirs by handle,
 * bridge_host.sample, without these lookups; this is the status socket's
 * `sample` command and the answer of a max_age read): decoded by the
 * profile and set in the device's store, which notifies observers.
 * -ENOENT unknown device or point; the decode errors of mapping_decode(),
 * counted on the device. time_usec (CLOCK_REALTIME) is the time of
 * measurement the field gave, 0 when none: reads and notifications carry it
 * (SenML "t"). */
int gw_registry_sample(struct gw_registry *r, const char *device, const struct lwm2m_path *path,
		       const struct mapping_sample *s, uint64_t time_usec);

/* A device found by a bridge (bridge_host.discover, bridges/bridge.h):
 * created with the profile and the scalar address, registered like a
 * configured one, kept across reloads that keep its bridge. */
int gw_registry_discover(struct gw_registry *r, const char *bridge, const char *device, const char *profile,
			 const char *address);
/* Remove a discovered device (bridge_host.forget): -ENOENT, -EPERM for a
 * configured one. */
int gw_registry_forget(struct gw_registry *r, const char *device);

/* What the bridges get (bridges/bridge.h): sample, presence, discover and
 * forget calling the functions above with r. */
struct bridge_host;
void gw_registry_bridge_host(struct gw_registry *r, struct bridge_host *out);

/* Device presence (bridge_host.presence): err 0 reachable, else negative
 * errno. -ENOENT when the device is unknown. */
int gw_registry_presence(struct gw_registry *r, const char *device, int err);

/* De-register everything; done(ud) from the loop when finished. */
int gw_registry_shutdown(struct gw_registry *r, uint32_t timeout_ms, void (*done)(void *ud), void *ud);
struct gw_registry *gw_registry_free(struct gw_registry *r); /* accepts NULL */

struct gw_registry_counts {
	size_t devices, registered;
	bool gateway_registered;
};
void gw_registry_counts(const struct gw_registry *r, struct gw_registry_counts *out);

/* Called (from the loop) after registration states changed, at most every
 * 200 ms: the daemon refreshes STATUS=. */
void gw_registry_on_change(struct gw_registry *r, void (*fn)(void *ud), void *ud);

/* The table `fieldgate status` prints: a header line, one line per device
 * in configuration order, and a closing line of totals. */
void gw_registry_status(const struct gw_registry *r, FILE *out);
