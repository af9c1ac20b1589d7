/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lwm2m/observe.h — the observation engine and the attribute store.
 *
 * Pure: no libcoap, no event loop, no clock, no logging, no global state.
 * The caller (the libcoap client) tells the engine about observations,
 * Write-Attributes requests, new values and the time; the engine says which
 * notifications to send, when, and whether CON or NON.
 *
 * Time is a monotonic count of milliseconds chosen by the caller (e.g.
 * CLOCK_MONOTONIC / 1000) and passed to every call that may need it; it must
 * stay below LWM2M_OBS_TIME_MAX. A `now` smaller than one seen before is
 * taken as the later one: time never runs backwards inside the engine.
 *
 * Driving it, with ONE timer for the whole process:
 *
 *     after any call:   t = lwm2m_obs_next_deadline(e);   arm one timer at t
 *                        (LWM2M_OBS_NEVER: disarm)
 *     when it fires:    lwm2m_obs_run(e, now, emit, ctx);  then re-arm
 *     a value changed:  if (lwm2m_obs_value_changed(...) > 0) lwm2m_obs_run(...)
 *
 * An idle engine (values unchanged, no pmax, no epmax) has no deadline at
 * all, whatever the number of observations.
 *
 * Semantics (OMA-TS-LightweightM2M_Core-V1_1_1 §5.1.2 "Attributes", Table
 * 5.1.2-3 <NOTIFICATION> class attributes, and draft-ietf-core-conditional-
 * attributes which LwM2M 1.2 §7.3.2 makes normative) are described at the
 * top of observe.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

/* ---- attribute store: the attributes attached by Write-Attributes -------- */

/* Attributes attached to objects, instances, resources and resource
 * instances of one endpoint, as a small array sorted by path (attributes are
 * rare: most endpoints have none). Zero-initialise for an empty store; the
 * fields are private. */
struct lwm2m_attr_entry;
struct lwm2m_attr_store {
	struct lwm2m_attr_entry *v;
	uint32_t n, cap;
};

/* Apply a Write-Attributes request (lwm2m_attrs_parse_query() output: values
 * to set, names given alone to remove) to the attributes attached at p.
 * The result is checked with lwm2m_attrs_validate(); gt, lt and st can only
 * be attached to a resource or resource instance (TS 1.1.1 Table 5.1.2-3,
 * "Attachment") and nothing to the root. On any error nothing changes.
 * Removing the last attribute of a path drops its entry.
 * Returns 0, -EINVAL or -ENOMEM. */
int lwm2m_attr_store_write(struct lwm2m_attr_store *s, const struct lwm2m_path *p,
			   const struct lwm2m_attrs *req);

/* The attributes attached exactly at p (not inherited); -ENOENT when none. */
int lwm2m_attr_store_get(const struct lwm2m_attr_store *s, const struct lwm2m_path *p,
			 struct lwm2m_attrs *out);

/* The attributes in force at p: defaults (may be NULL; usually pmin/pmax from
 * the Server object's Default Minimum/Maximum Period), overridden by those
 * attached at each level from the object down to p itself. Attributes
 * attached below p do not apply to p. out->unset is 0. */
void lwm2m_attr_store_effective(const struct lwm2m_attr_store *s, const struct lwm2m_path *p,
				const struct lwm2m_attrs *defaults, struct lwm2m_attrs *out);

/* Visit the entries at or below `under` (NULL: all) in path order, e.g. for
 * Discover. A non-zero return from cb stops the walk and is returned. cb must
 * not modify the store. */
typedef int (*lwm2m_attr_fn)(void *ctx, const struct lwm2m_path *p, const struct lwm2m_attrs *a);
int lwm2m_attr_store_foreach(const struct lwm2m_attr_store *s, const struct lwm2m_path *under,
			     lwm2m_attr_fn cb, void *ctx);

/* Drop every entry at or below p (an instance was deleted). Returns how many. */
size_t lwm2m_attr_store_remove(struct lwm2m_attr_store *s, const struct lwm2m_path *p);

/* Free everything; the store is empty (and reusable) afterwards. */
void lwm2m_attr_store_clear(struct lwm2m_attr_store *s);

/* Heap bytes held. */
size_t lwm2m_attr_store_memory(const struct lwm2m_attr_store *s);

/* ---- observation engine ---------------------------------------------------- */

#define LWM2M_OBS_NEVER    UINT64_MAX
#define LWM2M_OBS_TIME_MAX (UINT64_C(1) << 41) /* ms, about 69 years of uptime */

/* Read the current value of the resource or resource instance p of endpoint
 * ep (normally lwm2m_store_get() on that endpoint's store). Return 0 and fill
 * *out, or a negative errno when p has no single value (absent, a multiple
 * resource, an instance...). The engine calls it to learn the value that a
 * notification carries — it becomes the reference of gt/lt/st and of change
 * detection — and to evaluate values whose evaluation epmin postponed. It
 * must not call into the engine. Byte values need only live until it
 * returns the next time. */
typedef int (*lwm2m_obs_read_fn)(void *ctx, uint32_t ep, const struct lwm2m_path *p, struct lwm2m_value *out);

struct lwm2m_obs_config {
	lwm2m_obs_read_fn read; /* required */
	void *read_ctx;
	/* A notification is CON when the last CON of that observation is at
	 * least this old (RFC 7641 §4.5: the server checks at least every 24 h
	 * that the client is still interested); otherwise NON. 0: 86400 s. */
	uint32_t con_period_s;
	/* At most this many observations per endpoint; 0: no bound. See
	 * lwm2m_obs_set_limit(). */
	uint32_t max_per_endpoint;
};

struct lwm2m_obs_engine;

/* NULL on OOM or without cfg->read. */
struct lwm2m_obs_engine *lwm2m_obs_engine_new(const struct lwm2m_obs_config *cfg);
/* Frees every endpoint, observation and attribute; accepts NULL. */
struct lwm2m_obs_engine *lwm2m_obs_engine_free(struct lwm2m_obs_engine *e);

/* Per-endpoint defaults, from that endpoint's Server object instance. */
struct lwm2m_obs_defaults {
	uint32_t pmin; /* /1/x/2 Default Minimum Period, s (0: none) */
	uint32_t pmax; /* /1/x/3 Default Maximum Period, s (0: none) */
	bool con;      /* /1/x/26 Default Notification Mode = Confirmable (1.2): every notification CON */
};

/* Endpoints are identified by a caller-chosen id (one per LwM2M client
 * endpoint, or per Object 25 device). add: -EEXIST, -ENOMEM. d may be NULL
 * (all zero); an endpoint with all-zero defaults costs an entry of the
 * id map (8 bytes) until its first observation, attribute or default
 * (most endpoints of a gateway are never observed). remove: drops the endpoint with all its observations,
 * their timers and its attributes at once; -ENOENT. */
int lwm2m_obs_endpoint_add(struct lwm2m_obs_engine *e, uint32_t ep, const struct lwm2m_obs_defaults *d);
int lwm2m_obs_endpoint_remove(struct lwm2m_obs_engine *e, uint32_t ep);
/* Change the defaults (the server wrote /1/x/2 or /3); running observations
 * follow at once. -ENOENT, -ERANGE (now). */
int lwm2m_obs_set_defaults(struct lwm2m_obs_engine *e, uint32_t ep, const struct lwm2m_obs_defaults *d,
			   uint64_t now);

/* Write-Attributes on the endpoint's store (see lwm2m_attr_store_write());
 * observations it affects are rescheduled at once. -ENOENT (no endpoint),
 * -EINVAL, -ENOMEM, -ERANGE (now). */
int lwm2m_obs_write_attrs(struct lwm2m_obs_engine *e, uint32_t ep, const struct lwm2m_path *p,
			  const struct lwm2m_attrs *req, uint64_t now);
/* Drop the attributes at or below p (instance deleted); -ENOENT, -ERANGE. */
int lwm2m_obs_remove_attrs(struct lwm2m_obs_engine *e, uint32_t ep, const struct lwm2m_path *p, uint64_t now);
/* The endpoint's store, read-only (Discover); NULL when no such endpoint. */
const struct lwm2m_attr_store *lwm2m_obs_attrs(const struct lwm2m_obs_engine *e, uint32_t ep);
/* Attributes in force at p for that endpoint (its defaults included). */
int lwm2m_obs_effective(const struct lwm2m_obs_engine *e, uint32_t ep, const struct lwm2m_path *p,
			struct lwm2m_attrs *out);

/* Start an observation of n paths (1: Observe on an object, instance,
 * resource or resource instance; more: Observe-Composite) at `now`, the time
 * the Observe response is sent: that response counts as the first
 * notification, and the values cfg->read returns now are the references for
 * gt/lt/st. handle is the caller's opaque cookie (its token or session
 * record), unique per endpoint; it comes back in every event. Paths are
 * copied. -ENOENT (no endpoint), -EEXIST (handle in use), -EINVAL (n == 0,
 * n > 65535, a bad path), -ENOSPC (the endpoint holds its limit of
 * observations; nothing changed), -ENOMEM, -ERANGE (now). An observation
 * counts as one whatever its number of paths. */
int lwm2m_obs_add(struct lwm2m_obs_engine *e, uint32_t ep, uint64_t handle, const struct lwm2m_path *paths,
		  size_t n, uint64_t now);
/* Cancel one observation: it and its pending timers are gone when this
 * returns, and its slot counts no more against the limit. -ENOENT. */
int lwm2m_obs_cancel(struct lwm2m_obs_engine *e, uint32_t ep, uint64_t handle);
/* Cancel every observation of an endpoint (new registration). Returns how many
 * or -ENOENT. */
int lwm2m_obs_cancel_all(struct lwm2m_obs_engine *e, uint32_t ep);

/* A new value v of resource or resource instance p of endpoint ep (NULL:
 * the value was removed). Call it when a value changes, and with the fresh
 * value (changed or not) after a LWM2M_OBS_SAMPLE event. Values are compared
 * with the last notified one, so a repeated equal value never notifies on its
 * own. Byte values are not kept (only a 64-bit hash). Returns the number of
 * observations that are due now (call lwm2m_obs_run() before sleeping), or
 * -ENOENT (no endpoint), -EINVAL (p is not a resource or resource instance),
 * -ERANGE (now). */
int lwm2m_obs_value_changed(struct lwm2m_obs_engine *e, uint32_t ep, const struct lwm2m_path *p,
			    const struct lwm2m_value *v, uint64_t now);

/* The earliest deadline (ms), or LWM2M_OBS_NEVER. O(1). */
uint64_t lwm2m_obs_next_deadline(const struct lwm2m_obs_engine *e);

enum lwm2m_obs_event_kind {
	/* Send a notification with the current values of paths. */
	LWM2M_OBS_NOTIFY = 1,
	/* The observation wants a fresh sample of the values at paths before
	 * epmax runs out: poll the field device (or re-read the source) and
	 * report the result with lwm2m_obs_value_changed(). */
	LWM2M_OBS_SAMPLE = 2,
};

enum {
	LWM2M_OBS_WHY_CHANGE = 1u << 0, /* a value met the change conditions */
	LWM2M_OBS_WHY_PMAX = 1u << 1,   /* pmax ran out */
};

struct lwm2m_obs_event {
	uint8_t kind; /* enum lwm2m_obs_event_kind */
	uint8_t why;  /* NOTIFY: LWM2M_OBS_WHY_* bits */
	bool con;     /* NOTIFY: send as a Confirmable message */
	uint32_t ep;
	uint64_t handle;
	const struct lwm2m_path *paths; /* the observed paths */
	size_t npaths;
	struct lwm2m_path path_; /* private storage behind paths */
};

/* Called for each event. ev and what it points to are valid until the
 * callback returns, or until it changes the engine, whichever comes first.
 * The callback may cancel observations, remove endpoints, report values...
 * but not call lwm2m_obs_run(). */
typedef void (*lwm2m_obs_emit_fn)(void *ctx, const struct lwm2m_obs_event *ev);

/* Process every observation whose deadline is at or before now: emit due
 * notifications (their time becomes the new reference for pmin/pmax and the
 * values read then the new reference for gt/lt/st) and sample requests.
 * Returns the number of events emitted, -EBUSY when called from its own
 * callback, -ERANGE (now). */
int lwm2m_obs_run(struct lwm2m_obs_engine *e, uint64_t now, lwm2m_obs_emit_fn emit, void *ctx);

/* Bound the observations of each endpoint (0: no bound): lwm2m_obs_add()
 * answers -ENOSPC when the endpoint already holds `limit`. Lowering it
 * ends nothing: an endpoint above the new bound keeps its observations and
 * accepts new ones once cancellations brought it below. */
void lwm2m_obs_set_limit(struct lwm2m_obs_engine *e, uint32_t limit);

/* Observations of endpoint ep, or -ENOENT. */
int lwm2m_obs_endpoint_count(const struct lwm2m_obs_engine *e, uint32_t ep);

/* Number of observations, and heap bytes held by the engine. */
size_t lwm2m_obs_count(const struct lwm2m_obs_engine *e);
size_t lwm2m_obs_memory(const struct lwm2m_obs_engine *e);
