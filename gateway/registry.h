/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway/registry.h — the device registry: configured devices become LwM2M
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

/* A bridge sample for a device's point (bridge_host.sample): decoded by
 * the profile and set in the device's store, which notifies observers.
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

/* A profile a bridge generated (bridge_host.generated, bridges/bridge.h):
 * a discovered device created with it, or the discovered or `generate:`
 * device of that bridge given it in place of its current profile (it
 * registers again). -EPERM for a configured device whose profile does not
 * say `generate:`, or one of another bridge. */
int gw_registry_generated(struct gw_registry *r, const char *bridge, const char *device, const char *address,
			  const char *name, const char *text, size_t len);

/* Generated profiles in use (genprof.c), shared by name and freed with the
 * last device using one: each lives in a mapping set of its own. */
struct gw_genprofs;
struct gw_genprof;
/* The profile called name, loaded from text (its problems to diag, file
 * naming it in messages) unless the set has it; a reference for the
 * caller. *set is created on first use. 0, -EINVAL, -ENOMEM. */
int gw_genprof_get(struct gw_genprofs **set, const struct lwm2m_registry *objects, const char *search_path,
		   const char *name, const char *file, const char *text, size_t len, struct diag *diag,
		   struct gw_genprof **out);
const struct mapping_profile *gw_genprof_profile(const struct gw_genprof *g);
void gw_genprof_unref(struct gw_genprofs *set, struct gw_genprof *g); /* accepts NULL */
size_t gw_genprof_count(const struct gw_genprofs *set);
struct gw_genprofs *gw_genprofs_free(struct gw_genprofs *set); /* accepts NULL */

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
