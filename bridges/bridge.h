/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/bridge.h — the one interface every field network implements: a
 * bridge KIND is one const table (struct bridge_kind: its name, its
 * configuration check, its operations) in its own folder, which registers
 * itself (BRIDGE_KIND_REGISTER, as netifd's protocol handlers do); the
 * build lists the kinds it builds (bridges/meson.build); the gateway finds
 * them by name (bridge_kind_find()) and never names one. Each INSTANCE
 * embeds the common base struct bridge as its first member (systemd's
 * NetDev and its NetDevVTable are the model): the core allocates
 * kind->size bytes, fills the base, and the kind's ops convert with
 * bridge_container().
 *
 * Life of a bridge instance (one per entry of the configuration's
 * `bridges:` mapping):
 *
 *   verify(node)          at load time, before anything starts: validate the
 *                         bridge's own YAML body (and, per device, its
 *                         `address:`) and report every problem through the
 *                         schema context as file:line:col. No I/O.
 *   init(b, body)         build the instance from a verified body (the body
 *                         is valid during the call only: copy what is kept;
 *                         b->name and b->host are set; the instance lives
 *                         across reloads that do not change its body).
 *   start(b, event)       open sockets / threads, attach to the sd_event loop.
 *   add_point / remove_point
 *                         what the device registry wants polled or subscribed
 *                         (a device's field address + a profile point; the
 *                         address node is valid during the call only, the
 *                         point until remove_point).
 *   read / write / execute
 *                         on demand (max_age reads, LwM2M Write/Execute); the
 *                         sample and arguments are valid during the call only;
 *                         done() is called exactly once, from the loop thread,
 *                         when the field device acknowledged or failed. The
 *                         LwM2M response waits for it (the core answers 5.03
 *                         itself after 30 s).
 *   stop(b)               close everything; pending done()s get -ECANCELED.
 *   done(b)               free what init made; also after a failed or
 *                         partial init (the core frees b itself).
 *
 * Everything flows back through struct bridge_host: samples and device
 * presence go to the gateway core (gateway/registry/), which decodes them
 * with the device's profile (mappings/) into LwM2M resource values.
 *
 * Threads: every op is called from the loop's thread, and every host
 * callback must be called from it too (a worker thread hands its results
 * to the loop through an eventfd first).
 *
 * Errors are negative errno values: -EINVAL bad value, -ERANGE out of the
 * point's range, -ETIMEDOUT / -EHOSTUNREACH device unreachable, -EIO
 * protocol failure; lwm2m_errno_to_coap() turns them into CoAP codes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "common/log.h"
#include "mappings/mapping.h"

struct schema_ctx;
struct ynode;
struct bridge;
struct bridge_kind;
/* The core's handle of one point of one device: given to the bridge with
 * the point (bridge_point.handle), given back with each of its samples, so
 * that a sample costs no lookup of the device or of the point. Opaque;
 * valid until remove_point() of that point returns. */
struct bridge_handle;

/* What the gateway core offers a bridge. device is the configuration's
 * device name, path the profile point's resource path (both valid during
 * the call); samples are raw, as struct mapping_sample (mappings/mapping.h):
 * bytes for a layout, or a typed value. */
struct bridge_host {
	void *ud;
	/* A sample of the point whose handle add_point() gave, time_usec the
	 * time of measurement the field device gave (CLOCK_REALTIME; 0:
	 * none, it is as of now), which reads and notifications then carry
	 * (SenML "t"). Returns 0 or the mapping's decode error (counted on
	 * the device and logged by the core). */
	int (*sample)(void *ud, struct bridge_handle *point, const struct mapping_sample *s,
		      uint64_t time_usec);
	/* Optional to offer and to call: the samples of one field message
	 * (all the points one MQTT message feeds) have all been given. The
	 * notifications they made due leave now, one per observation for
	 * the whole message, instead of at the next turn of the loop after
	 * every message read meanwhile (bridge_flush()). */
	void (*flush)(void *ud);
	/* Device presence: err 0 reachable, else why not (-ETIMEDOUT,
	 * -EHOSTUNREACH, -EIO...). Shown in /3/0/11 and `fieldgate status`. */
	void (*presence)(void *ud, const char *device, int err);
	/* Auto-discovery (opt-in in the bridge's own configuration, bounded by
	 * the bridge's own maximum): create a device `device` of profile
	 * `profile` on the bridge instance `bridge` (its b->name), whose
	 * address is the scalar text `address` (what add_point() then shows
	 * as p->address, a YAML scalar node). It registers with the LwM2M
	 * server like a configured device, and its points reach the bridge
	 * through add_point() BEFORE discover returns (re-entrantly: do not
	 * hold state across the call that add_point changes). A discovered
	 * device lives until its bridge instance is stopped (exit, or a reload
	 * that changes the bridge's body) or the bridge forgets it with
	 * forget(); a reload that keeps the bridge keeps it (one that changes
	 * the LwM2M settings drops every device: remove_point() for all of a
	 * discovered device's points means it is unknown again, to be
	 * discovered anew). device: named as a configured device must be
	 * (the same check): 1..64 of [A-Za-z0-9._-], the first a letter or
	 * digit, and not all digits in gateway mode (an Object 25 prefix);
	 * the bridge sanitises its capture/MAC first.
	 * Returns 0, -EEXIST (that name exists, configured or discovered),
	 * -ENOENT (no such profile), -EINVAL (bad name, or a profile of another
	 * bridge kind; logged by the core), -ENOMEM. */
	int (*discover)(void *ud, const char *bridge, const char *device, const char *profile,
			const char *address);
	/* Remove a discovered device (remove_point() is called for its points
	 * before this returns). -ENOENT unknown, -EPERM a configured device. */
	int (*forget)(void *ud, const char *device);
	/* A profile the bridge made from what the field says about itself
	 * (zigbee2mqtt exposes, Home Assistant discovery, a SunSpec model
	 * chain): `text` (len bytes) in the profile file format, called
	 * `name`. The same name must always come with the same text (bridges
	 * name it by a hash of it): profiles are shared by name. It is
	 * checked like a profile file (problems logged, -EINVAL), against
	 * this bridge's kind, and kept while a device uses it.
	 *  - no device `device` yet: a discovered device of this profile is
	 *    created, as discover() does (address: its scalar text);
	 *  - a device of this bridge that was discovered, or configured with
	 *    a profile that says `generate:`: it gets this profile instead
	 *    of its current one (it registers again with the new objects;
	 *    nothing happens when it already has it; address is ignored).
	 * Returns 0, -EPERM (a configured device without `generate:`, or
	 * another bridge's), -EINVAL, -ENOMEM; re-entrant like discover(). */
	int (*generated)(void *ud, const char *bridge, const char *device, const char *address,
			 const char *name, const char *text, size_t len);
};

/* Completion of read/write: err 0 or a negative errno; s is the value read
 * (read only, NULL on error, valid during the call). */
typedef void (*bridge_done_fn)(void *ctx, int err, const struct mapping_sample *s);

/* A point the registry asks for: the device, its field address (the
 * device's `address:` node as written) and the profile's point, whose
 * `source` / `write` / `execute` were parsed by the bridge kind's
 * mapping_source_ops, and the handle its samples go back with. */
struct bridge_point {
	const char *device;
	const struct ynode *address;
	const struct mapping_point *pt;
	uint64_t poll_usec;           /* the device's override, else pt->poll_usec, else the profile's */
	struct bridge_handle *handle; /* for host.sample(), until remove_point() */
};

/*
 * Trying a profile without the field (`fieldgate profile test`,
 * gateway/profile_cmd.c): a bridge kind reads field data captured on the
 * command line (its own options: Modbus registers, MQTT messages, a BLE
 * advert...) and answers, for each profile point, the sample the bridge
 * would hand to the gateway, and for a write, what it would send. Kinds
 * whose devices describe themselves also make their profiles from a
 * capture (zigbee2mqtt devices, Home Assistant configurations, a SunSpec
 * register image). Nothing here does I/O but reading files named by an
 * option.
 */
struct bridge_capture; /* a kind's captured data */

struct bridge_tester_opt {
	const char *name;  /* "--registers" */
	unsigned nargs;    /* its arguments */
	const char *usage; /* "TABLE:ADDR=HEX" */
	const char *help;
};

/* A profile a capture describes (generate()). */
struct bridge_generated {
	const char *device, *address; /* the device's name and address */
	const char *name, *text;      /* the profile */
	size_t len;
	const char *skipped; /* what was not mapped and why ("" or NULL: nothing) */
};

struct bridge_tester {
	const struct bridge_tester_opt *opts; /* ends with { NULL } */
	/* One option as given (args: its nargs arguments), added to *cap
	 * (created at the first). -EINVAL with why (the bad value and what
	 * is accepted), -ENOMEM. */
	int (*capture)(struct bridge_capture **cap, const char *opt, char *const *args, char *why,
		       size_t why_size);
	void (*capture_free)(struct bridge_capture *cap);
	/* The sample of pt in the capture (address: the device's address as
	 * text, may be NULL; time_usec the field's time of measurement or 0).
	 * 0; -ENOENT: nothing for it (why says what was looked for); other
	 * errors: what the bridge would count as a bad payload, with why. */
	int (*sample)(struct bridge_capture *cap, const struct mapping_point *pt, const char *address,
		      struct mapping_sample *out, uint64_t *time_usec, char *why, size_t why_size);
	/* What a write of s (mapping_encode()'s result) or an execute (s
	 * NULL, args) to pt would send, as one line of text. */
	int (*describe)(struct bridge_capture *cap, const struct mapping_point *pt, const char *address,
			const struct mapping_sample *s, const char *args, char *buf, size_t size);
	/* Profiles the capture describes: for `generate: what` (a device's
	 * profile says it) or, what NULL, the devices the capture announces
	 * itself. fn() for each; returns how many, or a negative errno with
	 * why. May be NULL. */
	int (*generate)(struct bridge_capture *cap, const char *what,
			int (*fn)(void *ud, const struct bridge_generated *g), void *ud, char *why,
			size_t why_size);
};

/* One number a bridge keeps about a device (device_counters). */
struct bridge_counter {
	const char *name; /* [a-z0-9_], stable: part of the metric name and the JSON key */
	const char *help; /* one line, for the metrics' HELP */
	uint64_t value;
	bool gauge; /* a level that goes up and down (signal strength), not a count */
};
#define BRIDGE_COUNTERS_MAX 16

/* device_counters' tail: copy the n counters c into out (at most max). */
static inline int bridge_counters_copy(struct bridge_counter *out, size_t max, const struct bridge_counter *c,
				       size_t n)
{
	n = n < max ? n : max;
	for (size_t i = 0; i < n; i++)
		out[i] = c[i];
	return (int)n;
}

struct bridge_kind {
	/* The `type:` word of its instances, and the `bridge:` of its
	 * profiles. */
	const char *name;
	/* Of the kind's instance struct, which embeds struct bridge first. */
	size_t size;
	/* Descriptors below FD_SETSIZE its instances may need at once (a
	 * library that select()s); the daemon keeps that many low numbers
	 * before endpoint sockets take them (common/lowfd.h). 0: none. */
	unsigned low_fds;
	/* Optional: `fieldgate profile test` for this kind. */
	const struct bridge_tester *tester;
	/* The parser of this kind's profile sources, given to the mapping
	 * engine (mapping_set_new). */
	const struct mapping_source_ops *source_ops;

	/* Validate the instance's body (the mapping under bridges.<name>,
	 * `type:` included), and a device's address (node may be NULL when
	 * missing). Report through schema_error(); return 0 or -EINVAL. */
	int (*verify)(struct schema_ctx *ctx, const struct ynode *body);
	int (*verify_address)(struct schema_ctx *ctx, const struct ynode *address);

	/* Build the instance (zeroed, b->kind, b->name and b->host set) from
	 * its verified body. Return 0 or a negative errno (done() follows). */
	int (*init)(struct bridge *b, const struct ynode *body);
	int (*start)(struct bridge *b, sd_event *event);
	/* Every point with a `source:` (pt->from == MAPPING_FROM_SOURCE: to be
	 * read), and every point with only a `write:` or an `execute:`
	 * (pt->source NULL: nothing to read, but the device's address is what
	 * a later write/execute needs); remove_point() for each of them. */
	int (*add_point)(struct bridge *b, const struct bridge_point *p);
	void (*remove_point)(struct bridge *b, const char *device, const struct lwm2m_path *path);
	/* Asynchronous; return 0 when done() will be called, or a negative
	 * errno (done() is then not called). write: the sample produced by
	 * mapping_encode(); execute: the raw argument text. Each may be NULL:
	 * the kind cannot, and the core answers a Write or Execute 4.05 (a
	 * max_age Read from the store). */
	int (*read)(struct bridge *b, const char *device, const struct mapping_point *pt, bridge_done_fn done,
		    void *ctx);
	int (*write)(struct bridge *b, const char *device, const struct mapping_point *pt,
		     const struct mapping_sample *v, bridge_done_fn done, void *ctx);
	int (*execute)(struct bridge *b, const char *device, const struct mapping_point *pt, const char *args,
		       size_t args_len, bridge_done_fn done, void *ctx);
	/* Optional. The LwM2M side observes the point: period_usec is the
	 * smallest pmin of the observations covering it (0: no longer
	 * observed, or observed without pmin: back to the normal period). A
	 * polling bridge polls the point at min(its period, period_usec)
	 * while it is set, with a floor of its own choosing. */
	void (*observed)(struct bridge *b, const char *device, const struct lwm2m_path *path,
			 uint64_t period_usec);
	/* Optional. The device's profile says `generate: what` (a word of
	 * source_ops->generators): read what the device says about itself
	 * and hand the profile made of it to host->generated(), retrying
	 * while the device does not answer; until then it has the
	 * placeholder's objects. what NULL: stop, the device goes (or just
	 * got its generated profile). Returns 0 or a negative errno. */
	int (*generate)(struct bridge *b, const char *device, const struct ynode *address, const char *what);
	/* Optional. Per-device counters for `fieldgate status` (e.g.
	 * "exc=3 crc=0 timeout=2 quarantined"): write a short NUL-terminated
	 * text into buf (at most size bytes, no newline); return its length,
	 * 0 for nothing to show, or a negative errno. */
	int (*device_status)(struct bridge *b, const char *device, char *buf, size_t size);
	/* Optional. The same counters as numbers, for `fieldgate status
	 * --json` and the metrics (fieldgate_<type>_<name>, labelled with the
	 * bridge and the device): fill at most max entries of out (static
	 * names and help texts), return how many, or a negative errno. */
	int (*device_counters)(struct bridge *b, const char *device, struct bridge_counter *out, size_t max);
	void (*stop)(struct bridge *b);
	/* Free what init() made, also of a half-built instance; not b. */
	void (*done)(struct bridge *b);
};

/* The common base of every bridge instance: the kind's own struct
 * embeds it as its first member, named base (a kind checks that with
 * _Static_assert(offsetof(struct its_bridge, base) == 0, ...)). Set by
 * the core before init(). */
struct bridge {
	const struct bridge_kind *kind;
	char *name; /* the instance's name under bridges: (owned by the core) */
	struct bridge_host host;
};

/* The kind's instance of which b is the base. */
#define bridge_container(b, type) ((type *)(void *)(b))

/* An instance of kind called name (NULL-safe fields for done()), built with
 * init(body). Returns 0 and *out, or a negative errno (the instance is
 * freed). */
int bridge_new(const struct bridge_kind *kind, const char *name, const struct ynode *body,
	       const struct bridge_host *host, struct bridge **out);
/* done() and free (stop() is the caller's, for a started instance).
 * Accepts NULL; returns NULL. */
struct bridge *bridge_free(struct bridge *b);

/* Whom a bridge's line about one of its devices is about, for
 * log_device_*() (common/log.h): the journal gets DEVICE= and BRIDGE=; the
 * text is the bridge's own, which names the device. */
#define BRIDGE_DEV_LOG(b, device_name) \
	(&(const struct log_device){ .device = (device_name), .bridge = (b)->name, .named = true })

/* A sample of the point whose handle is h (b->host.sample). */
static inline int bridge_sample(struct bridge *b, struct bridge_handle *h, const struct mapping_sample *s,
				uint64_t time_usec)
{
	return b->host.sample(b->host.ud, h, s, time_usec);
}

/* The samples of one field message have all been given (host.flush). */
static inline void bridge_flush(struct bridge *b)
{
	if (b->host.flush)
		b->host.flush(b->host.ud);
}

/* ---- the kinds -------------------------------------------------------------- */

/* Register a kind: called before main() by BRIDGE_KIND_REGISTER in the
 * kind's own file. Aborts when BRIDGE_KINDS_MAX kinds are registered
 * already or the name is taken (a build error, not a run-time one). */
#define BRIDGE_KINDS_MAX 32
void bridge_kind_register(const struct bridge_kind *kind);
#define BRIDGE_KIND_REGISTER(kind)                                                 \
	static void __attribute__((constructor)) bridge_kind_register_##kind(void) \
	{                                                                          \
		bridge_kind_register(&(kind));                                     \
	}

/* The kind called name when this build has it, else NULL. */
const struct bridge_kind *bridge_kind_find(const char *name);
/* The names of the kinds this source tree has, in the build's order,
 * whether built in or configured out (bridge_kind_find() NULL: the
 * configuration can say so), then those registered from elsewhere (tests)
 * in name order; NULL past the end. */
const char *bridge_kind_name(size_t i);
/* The profile source parsers of the kinds built in, NULL-terminated
 * (for mapping_set_new()). Static storage, the same at every call. */
const struct mapping_source_ops *const *bridge_source_kinds(void);
