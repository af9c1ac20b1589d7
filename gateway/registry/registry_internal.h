/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway/registry/registry_internal.h — what the files of the device
 * registry share (private to gateway/registry/). One concern per file:
 *
 *   registry.c   the registry object: create, free, shutdown, generations
 *                of the configuration, the change notification
 *   device.c     a device's life cycle: built from its configuration and
 *                profile, started (points to its bridge, its LwM2M side),
 *                freed; the name-sorted index
 *   target.c     the adapter to lwm2m/client.h: every endpoint / Object 25
 *                device call and every branch on the northbound mode
 *   self.c       the gateway's own endpoint and Device object; endpoints
 *                that waited for the server's address
 *   servers.c    which servers, their host names resolved off the loop
 *   fanout.c     LwM2M Write, Execute and max_age Read through the bridge,
 *                answered once with a time-out
 *   instances.c  the running bridge instances, what they call back
 *                (struct bridge_host), observation hints for them
 *   reload.c     apply a new configuration by difference (fingerprints)
 *   sample.c     what bridges report: samples (by handle, or by name for
 *                the status socket) and presence
 *   discovery.c  devices a bridge discovers, forgets, or generates a
 *                profile for (bridge_host.generated)
 *   genprof.c    the profiles bridges generated, shared by name
 *   status.c     counts and the `fieldgate status` table
 *   fwupdate.c   Object 5 of the gateway's endpoint (fwupdate.h)
 *   fielddev.c   Object 26242: every device an instance; the server's
 *                Create, Write and Delete handed to the daemon
 *   swmgmt.c     Object 9: profile bundles, every installed one an
 *                instance; Install etc. checked and applied by the daemon
 *
 * Threads: the sd_event loop's only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <systemd/sd-event.h>

#include "gateway/registry/registry.h"
#include "lwm2m/client.h"

struct bridge;
struct bridge_kind;
struct resolve;
struct wgroup;

/* A configuration and the devices still built from it. */
struct gen {
	struct gw_config *config;
	unsigned refs; /* devices + 1 while current */
	struct gen *next;
};

/* A running bridge instance. */
struct brt {
	char *name, *fingerprint;
	const struct bridge_kind *kind;
	struct bridge *b; /* NULL when it could not be created */
	bool keep;
	/* Object 26241 (health.c): samples and operations through it, those
	 * that failed, the last failure. */
	uint64_t requests, errors;
	char last_error[160];
};

/* What the LwM2M server sees of a device: a target of the client (its own
 * endpoint or an Object 25 device of the gateway's endpoint, the client
 * decides). Only target.c looks inside. */
struct target {
	struct lwm2m_target *t;
};

/* A device a bridge discovered (bridge_host.discover): its configuration
 * entry is made here instead of read from the file, and lives with it, in
 * the device's own block (device_new(): a 160-byte malloc chunk fewer a
 * device). */
struct disc {
	struct gw_device cfg;
	struct ynode address;
	/* cfg's name, profile unless kept, and the address's text, in one
	 * block with the struct (five chunks were ~100 bytes of malloc
	 * overhead a discovered device); an address equal to the name
	 * (zigbee2mqtt's) is the name's copy. */
	char text[];
};

/* One per profile point of a device (bridges/bridge.h): its place in the
 * device's array (struct dev's tail) is the point's index in the profile,
 * and it holds that index: handle_dev() finds the device from it. 2 bytes
 * a point (a pointer to the device was 8). */
struct bridge_handle {
	uint16_t i;
};

#define HANDLES_MAX UINT16_MAX

/* One per device: its fields ordered so that none leaves a hole. With
 * its handles and endpoint name one block: 184 bytes, a 192-byte malloc
 * chunk, for z2m-th-sensor (9 points) in gateway mode (224 before). */
struct dev {
	struct gw_registry *r;
	struct brt *br;  /* its bridge, NULL without (or when it failed) */
	struct gen *gen; /* the configuration the device was built from */
	const struct gw_device *cfg;
	const struct mapping_profile *profile;
	/* name is cfg->name; fingerprint is reload_device_fingerprint()'s or
	 * device_fp_discovered (freed by device_fp_free()). */
	const char *name;
	const char *fingerprint;
	struct lwm2m_store *store;
	struct target tgt;
	uint32_t host;        /* gateway mode: its gateway endpoint's index (placement.c) */
	int state;            /* enum lwm2m_ep_state, or STATE_RESOLVING */
	int presence;         /* 0 reachable, else -errno */
	uint32_t order;       /* position in the configuration (ORDER_DISCOVERED + n: discovered) */
	uint64_t last_sample; /* CLOCK_MONOTONIC usec, 0: never */
	/* The same per profile point (by index) when the profile has a
	 * max_age (fanout_read() needs it), else NULL. */
	uint64_t *pt_sample;
	uint64_t samples, errors;
	uint32_t unreachable, reg_failures; /* events: 32 bits last 136 years at one a second */
	struct disc
		*disc; /* a discovered device's made-up configuration (in this block), NULL when configured */
	struct genprof *gp; /* its profile when a bridge generated it (a reference), else NULL */
	uint64_t *hint;     /* per profile point: the period last given to kind->observed; NULL: none */
	/* Bits, so that the handles follow at once (a byte less or more
	 * crosses a malloc size class). */
	bool placed : 1;    /* gateway mode: while it holds a place (host) */
	bool keep : 1;      /* reload bookkeeping */
	bool obs_dirty : 1; /* its observations changed: tell the bridge (on_obs_defer) */
	/* Per profile point, by index; then the endpoint's name
	 * (dev_endpoint(): one allocation with the struct). */
	struct bridge_handle handles[];
};

static inline struct dev *handle_dev(struct bridge_handle *h)
{
	return (struct dev *)(void *)((char *)(h - h->i) - offsetof(struct dev, handles));
}

/* Its endpoint name, after its handles (a pointer to it was 8 bytes a
 * device). */
static inline const char *dev_endpoint(const struct dev *d)
{
	return (const char *)&d->handles[mapping_profile_npoints(d->profile)];
}

/* The fingerprint of every discovered device (never equal to a configured
 * device's): one constant, not a copy per device. */
extern const char device_fp_discovered[];
void device_fp_free(const char *fp);

/* The device logger's view of d (log_device_*() of common/log.h): its
 * lines carry DEVICE=, BRIDGE= and ENDPOINT= in the journal. */
#define DEV_LOG(d) (&(const struct log_device){ (d)->name, (d)->cfg->bridge, target_endpoint(d) })

/* Discovered devices are listed after the configured ones in status. */
#define ORDER_DISCOVERED ((size_t)1 << 30)

/* Registration state of an endpoint that waits for its server's address
 * (not one of enum lwm2m_ep_state). */
#define STATE_RESOLVING (-1)

/* A configured server's host, turned into the numeric URI the client
 * wants: at once for an address, by an asynchronous lookup for a name. */
struct hostres {
	struct gw_registry *r;
	char *host; /* NULL: no such server */
	const char *scheme;
	unsigned port;
	char uri[INET6_ADDRSTRLEN + 32]; /* set when ready */
	bool ready;
	int gai;            /* last failure, 0: none */
	struct resolve *rs; /* pending lookup */
	sd_event_source *retry;
	uint64_t backoff;
};

struct gw_registry {
	sd_event *event;
	const struct lwm2m_registry *objects;
	struct lwm2m_client *client;
	struct gen *gens; /* newest first */
	char *global;     /* fingerprint of the settings every endpoint depends on */
	char *state_dir;  /* the client's (bootstrap results) */

	struct lwm2m_store *gw_store;
	struct lwm2m_endpoint *gw_ep;
	int gw_state;
	uint64_t gw_failures;
	/* Gateway mode: the extra gateway endpoints by index (target.c; [0]
	 * unused, the gateway's own is above) and the devices' places. */
	struct gwhost **gwx;
	uint32_t ngwx;
	sd_event_source *gwx_gc; /* de-registers those left without devices */
	struct placement *placement;

	struct dev **devs; /* sorted by name */
	size_t n;
	/* Devices whose presence is < 0: the health tick's Error Code 50
	 * without a walk of every device (sample.c keeps it, device_free()). */
	size_t unreachable_devs;

	struct brt *bridges;
	size_t nbridges;
	struct wgroup *groups; /* writes/executes waiting for bridges */
	struct dev *starting;  /* being started, not yet in devs: bridges may report on it */

	struct hostres hosts[2]; /* the main server's, the bootstrap server's */

	sd_event_source *change_timer;
	void (*on_change)(void *ud);
	void *on_change_ud;

	sd_event_source *obs_defer; /* observation hints for the bridges, after the request */
	size_t discovered;          /* devices discovered so far (their status order) */
	struct genprofs *genprofs;  /* profiles bridges generated, in use */
	bool closing;               /* gw_registry_shutdown() called: no new endpoints */

	/* Object 26242 (fielddev.c): instance ids by device name, and the
	 * daemon's check-persist-apply of the server's changes. */
	struct fdid *fd; /* sorted by name */
	size_t nfd;
	uint64_t *fd_used; /* bitmap of the instance ids in use */
	gw_remote_fn remote_fn;
	void *remote_ud;
	struct swmgmt *sw; /* Object 9 (swmgmt.c) */
	gw_bundle_fn bundle_fn;
	void *bundle_ud;
	gw_reboot_fn reboot_fn; /* the daemon's Reboot and Factory Reset */
	void *reboot_ud;
	sd_event_source *health_timer;
	struct modem *modem;        /* ModemManager's view (modem.c), NULL: not asked yet */
	struct fwu *fwu;            /* Object 5 of the gateway (fwupdate.c), NULL: none */
	char modem_if[IF_NAMESIZE]; /* the interface it was asked about */
};

/* ---- registry.c ---- */
uint64_t reg_now_usec(void);                                     /* CLOCK_MONOTONIC */
const struct gw_config *reg_config(const struct gw_registry *r); /* the current one */
struct gen *reg_gen_ref(struct gen *g);
void reg_gen_unref(struct gw_registry *r, struct gen *g);
int reg_gen_push(struct gw_registry *r, struct gw_config *config); /* takes config */
/* Binary search of name in n entries sorted by name (name_at(ctx, i)):
 * its index (*found), or where it would be inserted. */
size_t reg_name_slot(size_t n, const char *(*name_at)(const void *ctx, size_t i), const void *ctx,
		     const char *name, bool *found);
/* Registration states changed: on_change at most every 200 ms. */
void reg_changed(struct gw_registry *r);

/* ---- sample.c ---- */
/* A sample of the point of handle h: decoded by the profile into the
 * device's store. */
int sample_point(struct bridge_handle *h, const struct mapping_sample *s, uint64_t time_usec);

/* ---- device.c ---- */
/* A device of configuration entry cfg, or (cfg NULL) of the discovered
 * configuration ds, of which it keeps a copy in its own block. */
int device_new(struct gw_registry *r, struct gen *g, const struct gw_device *cfg, const struct disc *ds,
	       const struct mapping_profile *profile, size_t order, struct dev **out);
/* Points to its bridge, then its LwM2M side (or STATE_RESOLVING). */
int device_start(struct dev *d);
struct dev *device_free(struct dev *d); /* remove_point()s, de-registers; accepts NULL */
struct dev *device_find(const struct gw_registry *r, const char *name);
void device_sort(struct gw_registry *r);
void device_insert(struct gw_registry *r, struct dev *d); /* into its sorted place */
void device_unlink(struct gw_registry *r, struct dev *d);
int device_set_int(struct lwm2m_store *s, const char *path, int64_t i);
int device_set_text(struct lwm2m_store *s, const char *path, const char *text);
/* The points the bridge hears of (add_point). */
bool device_for_bridge(const struct mapping_point *pt);

/* ---- target.c ---- */
int target_client_new(struct gw_registry *r, const struct gw_config *config);
void target_client_settings(struct gw_registry *r, const struct gw_config *c);
int target_client_shutdown(struct gw_registry *r, uint32_t timeout_ms, void (*done)(void *ud), void *ud);
void target_client_free(struct gw_registry *r);
/* The name the server knows the device by ("gw-pump", or "gw/pump" for an
 * Object 25 device). Returns its length or -ENAMETOOLONG. */
int target_name(const struct gw_config *c, const struct gw_device *cfg, char *buf, size_t size);
/* The device's LwM2M side: an endpoint, or an Object 25 device of the
 * gateway's endpoint (later, when that endpoint does not exist yet). */
int target_start(struct dev *d);
bool target_started(const struct dev *d);
/* The LwM2M endpoint the device is or is part of (the gateway's, for an
 * Object 25 device), for its log lines. */
const char *target_endpoint(const struct dev *d);
/* What status shows as its endpoint: in gateway mode
 * "<its gateway endpoint>/<name>", else its endpoint's name. */
const char *target_shown_endpoint(const struct dev *d, char *buf, size_t size);
/* A device that waited for the server's address or the gateway's
 * endpoint: started now (failures logged). */
void target_resume(struct dev *d);
void target_stop(struct dev *d);   /* de-registers in the background */
void target_detach(struct dev *d); /* forget it: the client frees it */
int target_set_at(struct dev *d, const struct lwm2m_path *p, const struct lwm2m_value *v, double time,
		  bool historical);
void target_held_note(const struct dev *d, char *buf, size_t size);
/* Notifications the client sent for d since d started (0 before). */
uint64_t target_notifications(const struct dev *d);
int target_written(struct dev *d, const struct lwm2m_path *path, const struct lwm2m_records *recs,
		   bool replace); /* a store write that observers see */
int target_observed(const struct dev *d, const struct lwm2m_path *p, uint32_t *pmin);
int target_self_start(struct gw_registry *r);
bool target_self_started(const struct gw_registry *r);
void target_self_stop(struct gw_registry *r);
void target_self_detach(struct gw_registry *r);
/* Gateway mode, the extra gateway endpoints (index >= 1; 0 is the
 * gateway's own): their name, state, and freeing them with the registry
 * (after the client). */
int target_host_name(const struct gw_registry *r, uint32_t host, char *buf, size_t size);
int target_host_state(const struct gw_registry *r, uint32_t host);
void target_hosts_free(struct gw_registry *r);

/* ---- placement.c: which gateway endpoint and Object 25 instance a device
 * has in gateway mode, kept across reloads and restarts. ---- */
/* Take name's place (its old one, or a new one): -EEXIST when it holds it. */
int placement_take(struct gw_registry *r, const char *name, uint32_t *host, uint16_t *iid);
/* The device left: its place stays its own until another needs it.
 * Returns the endpoint index it was on, UINT32_MAX when it had none. */
uint32_t placement_release(struct gw_registry *r, const char *name);
uint32_t placement_devices(const struct gw_registry *r, uint32_t host); /* live ones */
uint32_t placement_endpoints(const struct gw_registry *r);              /* indices in use so far */
void placement_free(struct gw_registry *r);                             /* writes the file if changed */

/* ---- self.c ---- */
int self_start(struct gw_registry *r);
int self_device_store(struct gw_registry *r, const char *serial, struct lwm2m_store **out);
struct gw_pkg_limits;
/* The update: section as gateway/pkg takes it (Objects 5 and 9). */
void self_pkg_limits(const struct gw_registry *r, struct gw_pkg_limits *lim);
void self_stop(struct gw_registry *r);
/* The server hosts are resolved: start what waited for them. */
void self_resume(struct gw_registry *r);

/* ---- servers.c ---- */
const struct gw_server *servers_main(const struct gw_config *c);
const struct gw_server *servers_bootstrap(const struct gw_config *c);
void servers_setup(struct gw_registry *r);
void servers_retry(struct gw_registry *r);
bool servers_ready(const struct gw_registry *r);
void servers_clear(struct gw_registry *r);

/* ---- fanout.c ---- */
int fanout_write(struct dev *d, const struct lwm2m_path *path, const struct lwm2m_records *recs, bool replace,
		 lwm2m_done_fn done, void *done_ctx);
int fanout_execute(struct dev *d, const struct lwm2m_path *path, const char *args, size_t args_len,
		   lwm2m_done_fn done, void *done_ctx);
/* 0: answer now from the store, 1: done() will be called. */
int fanout_read(struct dev *d, const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx);
void fanout_free_all(struct gw_registry *r);

/* ---- discovery.c ---- */
struct disc *disc_free(struct disc *ds); /* accepts NULL */
/* The bytes of ds (the struct and its text); a copy of ds in dst, of that
 * many bytes, with its pointers into its own text. */
size_t disc_size(const struct disc *ds);
void disc_copy(struct disc *dst, const struct disc *ds);

/* ---- genprof.c ---- */
/* Generated profiles in use, shared by name and freed with the last device
 * using one: each lives in a mapping set of its own. */
struct genprofs;
struct genprof;
/* The profile called name, loaded from text (its problems to diag, file
 * naming it in messages) unless the set has it; a reference for the
 * caller. *set is created on first use. 0, -EINVAL, -ENOMEM. */
int genprof_get(struct genprofs **set, const struct lwm2m_registry *objects, const char *search_path,
		const char *name, const char *file, const char *text, size_t len, struct diag *diag,
		struct genprof **out);
const struct mapping_profile *genprof_profile(const struct genprof *g);
void genprof_unref(struct genprofs *set, struct genprof *g); /* accepts NULL */
struct genprofs *genprofs_free(struct genprofs *set);        /* accepts NULL */

/* ---- instances.c ---- */
void instances_sync(struct gw_registry *r);
bool instances_kept(const struct gw_registry *r, const struct gw_config *c, const char *name);
struct brt *instances_find(struct gw_registry *r, const char *name);
void instances_free(struct gw_registry *r);
void instances_obs_mark(struct gw_registry *r, struct dev *d);

/* ---- fielddev.c: Object 26242 ---- */
#define GW_FIELDDEV_OID 26242
struct fdid;
/* The instances as the configuration and the devices' states are now. */
void fielddev_sync(struct gw_registry *r, bool full); /* full false: the states only */
void fielddev_free(struct gw_registry *r);
/* The server's Create (iid -1: ours to choose; returns the instance id),
 * Write and Delete; -EPERM for a device of the local files. */
int fielddev_create(struct gw_registry *r, int iid, const struct lwm2m_records *recs, char *why, size_t size);
int fielddev_write(struct gw_registry *r, const struct lwm2m_path *path, const struct lwm2m_records *recs,
		   bool replace, char *why, size_t size);
int fielddev_delete(struct gw_registry *r, const struct lwm2m_path *path, char *why, size_t size);

/* ---- swmgmt.c: Object 9 ---- */
#define GW_SWMGMT_OID 9
struct swmgmt;
/* The instances into the gateway's store (the installed bundles read
 * from state_dir the first time). */
void swmgmt_sync(struct gw_registry *r);
void swmgmt_free(struct gw_registry *r);
/* The server's Create (returns the instance id), Write of /9/x/2, Execute
 * of /9/x/4, 6, 10, 11 and Delete; a refusal says why. */
int swmgmt_create(struct gw_registry *r, int iid, const struct lwm2m_records *recs, char *why, size_t size);
int swmgmt_write(struct gw_registry *r, const struct lwm2m_path *path, const struct lwm2m_records *recs,
		 char *why, size_t size);
int swmgmt_execute(struct gw_registry *r, const struct lwm2m_path *path, char *why, size_t size);
/* A block of a block-wise Write of /9/x/2 (lwm2m_endpoint_ops.write_stream):
 * written to the package file as it comes; -ENOSYS for another path. */
int swmgmt_write_stream(struct gw_registry *r, const struct lwm2m_path *path, uint64_t offset,
			const uint8_t *data, size_t len, unsigned flags);
int swmgmt_delete(struct gw_registry *r, const struct lwm2m_path *path, char *why, size_t size);

/* ---- health.c: /3/0, 26241, /4/0 of the gateway's endpoint ---- */
/* A value of the gateway's own store (observers notified when it changed). */
int self_set(struct gw_registry *r, const struct lwm2m_path *p, const struct lwm2m_value *v);
int self_set_text(struct gw_registry *r, const struct lwm2m_path *p, const char *s);
/* One sample or operation of d through its bridge, err its result. */
void health_count(struct dev *d, int err, const char *what);
/* A failure of d's bridge that is not a request (the device unreachable). */
void health_error(struct dev *d, int err, const char *what);
int health_reset(struct gw_registry *r, uint16_t iid); /* Execute /26241/iid/4 */
void health_refresh(struct gw_registry *r);
int health_start(struct gw_registry *r);
void health_stop(struct gw_registry *r);

/* Object 4 again with what ModemManager said (modem.c's answer). */
void health_modem(struct gw_registry *r);

/* ---- modem.c: ModemManager over the system bus ---- */
struct modem;
/* The radio of the modem whose net port is the default route's interface. */
struct modem_info {
	bool present;
	int bearer;   /* Object 4 Network Bearer */
	int rssi;     /* dBm, INT_MIN: unknown */
	int quality;  /* percent, -1: unknown */
	int mcc, mnc; /* -1: unknown */
};
/* Ask ModemManager (asynchronously) about the modem of ifname; its answer
 * comes through health_modem(). Quiet without a bus or ModemManager. */
void modem_ask(struct gw_registry *r, const char *ifname);
const struct modem_info *modem_info(const struct gw_registry *r); /* NULL: no such modem */
void modem_free(struct gw_registry *r);

/* ---- status.c ---- */
const char *status_state_word(int st);

/* ---- reload.c ---- */
char *reload_device_fingerprint(const struct gw_config *c, const struct gw_device *d,
				const struct mapping_profile *p, const char *endpoint);
char *reload_global_fingerprint(const struct gw_config *c);
char *reload_bridge_fingerprint(const struct gw_bridge *b);
