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

#include "bridges/bridge.h"
#include "gateway/gateway.h"
#include "lwm2m/client.h"
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

/* A profile a bridge generated (bridge_host.generated, bridges/bridge.h):
 * a discovered device created with it, or the discovered or `generate:`
 * device of that bridge given it in place of its current profile (it
 * registers again). -EPERM for a configured device whose profile does not
 * say `generate:`, or one of another bridge. */
int gw_registry_generated(struct gw_registry *r, const char *bridge, const char *device, const char *address,
			  const char *name, const char *text, size_t len);

/* A change of the devices the LwM2M server created (Object 26242): file
 * (NAME.yaml of the remote folder) with text, or removed (text NULL). The
 * daemon checks the configuration with it as `fieldgate check` would,
 * persists it and applies it (gw_registry_apply), or changes nothing and
 * returns a negative errno with the first diagnostic in why. */
typedef int (*gw_remote_fn)(void *ud, const char *file, const char *text, char *why, size_t size);
void gw_registry_on_remote(struct gw_registry *r, gw_remote_fn fn, void *ud);
/* A change of the profile bundles (Object 9, swmgmt.c): the daemon loads
 * the configuration with ch (its bundle/bundle_dir) as `fieldgate check`
 * would, also every profile of the bundle; only when it is valid does it
 * call commit(cud), which moves the files, and then apply the result by
 * difference. Returns 0, or a negative errno with the first diagnostic in
 * why and nothing changed. */
typedef int (*gw_bundle_fn)(void *ud, const struct gw_remote_change *ch, int (*commit)(void *cud), void *cud,
			    char *why, size_t size);
void gw_registry_on_bundle(struct gw_registry *r, gw_bundle_fn fn, void *ud);
/* The server executed Reboot (/3/0/4) or Factory Reset (/3/0/5) on the
 * gateway's Device object, or a firmware update was installed; called
 * after the 2.04 is decided, from inside the request: act later (a
 * deferred event). */
enum gw_restart {
	GW_RESTART_REBOOT,        /* /3/0/4: as gateway.reboot says */
	GW_RESTART_FACTORY_RESET, /* /3/0/5 */
	/* A firmware update installed (Object 5, fwupdate.c): the daemon
	 * starts again on the new program, whatever gateway.reboot says. */
	GW_RESTART_UPDATE,
};
typedef void (*gw_reboot_fn)(void *ud, enum gw_restart what);
void gw_registry_on_reboot(struct gw_registry *r, gw_reboot_fn fn, void *ud);

/* Would applying c leave the endpoints registered (the settings every
 * endpoint depends on, as a reload compares them, unchanged)? */
bool gw_registry_keeps_endpoints(const struct gw_registry *r, const struct gw_config *c);

/* Is device name running (started, whatever its registration state)? */
bool gw_registry_running(const struct gw_registry *r, const char *name);

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

/* ---- numbers for `fieldgate status --json` and the metrics ------------- */

/* The gateway as a whole. Strings point into the registry: valid until it
 * next changes (a reload, a discovery), so use them at once. */
struct gw_registry_info {
	const struct gw_config *config; /* the running configuration */
	const char *state;              /* the gateway endpoint's registration state */
	uint64_t registration_failures; /* of the gateway endpoint */
	size_t devices, registered;
	/* Gateway mode: the extra gateway endpoints holding devices
	 * (lwm2m.gateway_devices_max), and how many of them are registered. */
	size_t extra_endpoints, extra_registered;
	struct lwm2m_client_stats client; /* every endpoint together */
	struct {
		const char *host;  /* as configured */
		const char *error; /* the last lookup failure, NULL: none */
		bool resolved;
	} servers[2]; /* the server's, the bootstrap server's (host NULL: none) */
};
void gw_registry_info(const struct gw_registry *r, struct gw_registry_info *out);

/* One device, as `fieldgate status` shows it. */
struct gw_device_info {
	const char *name, *endpoint, *profile;
	const char *bridge, *bridge_type; /* NULL without a bridge */
	const char *state;                /* registration state: registered, waiting... */
	bool discovered;
	/* where it is configured: the file, "remote" (created by the LwM2M
	 * server, Object 26242) or "discovered" */
	const char *source;
	int presence;               /* 0 reachable, else why not (negative errno) */
	uint64_t last_sample_usec;  /* CLOCK_REALTIME of the last accepted sample, 0: none */
	uint64_t last_sample_age;   /* usec since then */
	uint64_t samples;           /* accepted */
	uint64_t decode_errors;     /* samples the profile refused */
	uint64_t unreachable;       /* times it became unreachable */
	uint64_t registration_fail; /* registration exchanges that failed */
	uint64_t notifications;     /* sent to the server for it since it started */
	struct bridge_counter counters[BRIDGE_COUNTERS_MAX]; /* the bridge's (device_counters) */
	size_t ncounters;
	char bridge_status[160]; /* the bridge's text (device_status), "" when none */
};
/* fn for every device in status order (configured ones as configured, then
 * discovered ones); d is valid during the call only. */
void gw_registry_each_device(const struct gw_registry *r,
			     void (*fn)(void *ud, const struct gw_device_info *d), void *ud);

/* `fieldgate status --json`: the document of docs/status.schema.json
 * (status_json.c). Returns 0 or -ENOMEM. */
int gw_status_json(const struct gw_registry *r, FILE *out);
/* `fieldgate status --names`: the device names, one a line. */
int gw_status_names(const struct gw_registry *r, FILE *out);

/* The metrics (metrics.c): OpenMetrics 1.0 text (`fieldgate metrics`),
 * or with openmetrics false the Prometheus text format 0.0.4 that
 * node_exporter's textfile collector reads. Returns 0 or -ENOMEM. */
int gw_metrics_text(const struct gw_registry *r, bool openmetrics, FILE *out);
/* Write the Prometheus text to path atomically (a temporary file in the
 * same folder, then rename), mode 0644. Returns 0 or a negative errno. */
int gw_metrics_write_file(const struct gw_registry *r, const char *path);

/* metrics.textfile: rewritten every metrics.interval from the loop ev.
 * apply() takes a (new) configuration: starts, moves or stops the file;
 * free() removes the file (a stopped gateway has no metrics). Write
 * failures are logged once until writing works again. */
struct gw_metrics_file;
int gw_metrics_file_new(sd_event *ev, const struct gw_registry *r, struct gw_metrics_file **out);
void gw_metrics_file_apply(struct gw_metrics_file *m, const struct gw_config *c);
struct gw_metrics_file *gw_metrics_file_free(struct gw_metrics_file *m); /* accepts NULL */
