/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/mqtt/mqtt_auto.h — devices that describe themselves over MQTT:
 * zigbee2mqtt's `bridge/devices` (every device's exposes) and Home
 * Assistant MQTT discovery (`homeassistant/<component>/.../config`). Each
 * becomes a profile (the profile file format, as text) made by a rule
 * table — data, in auto_rules.c — and handed to the gateway core through
 * bridge_host.generated(); a feature or entity the table has no rule for
 * is skipped and reported, never guessed.
 *
 * The generators are pure (JSON in, profile text out: unit-tested on real
 * payloads, used by `fieldgate profile test`); the watchers keep what the
 * field announced and follow its changes, through the few callbacks the
 * bridge core offers them (struct mqtt_auto_host).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "bridges/mqtt/mqtt_internal.h"

struct json_object;
struct schema_ctx;

/* A member of a JSON object (NULL: absent, or o is no object); a string
 * member's text (NULL: absent or not a string). */
struct json_object *auto_jget(struct json_object *o, const char *key);
const char *auto_jstr(struct json_object *o, const char *key);

/* ---- a profile being written --------------------------------------------------- */

struct auto_text {
	char *buf;
	size_t len, cap;
	bool oom;
};

void at_printf(struct auto_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s (n bytes) as a YAML double-quoted scalar. */
void at_quoted(struct auto_text *t, const char *s, size_t n);
void at_free(struct auto_text *t);

/* What a generator made of one device. */
struct auto_profile {
	char *name; /* "z2m-WSDCGQ11LM-1a2b3c4d": the kind and a hash of text */
	char *text; /* the profile, NUL-terminated */
	size_t len;
	char *device;  /* the device name (prefix + a sanitised id) */
	char *address; /* the device's address (what {device} binds) */
	char *skipped; /* "linkquality (numeric lqi), update (composite)": reported, may be "" */
	unsigned mapped, nskipped;
};
void auto_profile_clear(struct auto_profile *p);
/* Name the profile by kind and a hash of its text (the same text, the
 * same name: devices of one model share one profile). */
int auto_profile_name(struct auto_profile *p, const char *kind, const char *model);

/* ---- the rule table ----------------------------------------------------------------- */

/* What a field value is, told by a zigbee2mqtt feature name or a Home
 * Assistant device class (and unit): the LwM2M resource it becomes. */
enum auto_opt {
	AUTO_ROUND = 1,   /* an Integer resource: round the field's number */
	AUTO_APPTYPE = 2, /* name the instance in 5750 Application Type (several of one object) */
	AUTO_WRITE = 4,   /* written back to the field when the field says it is settable */
	AUTO_WORDS = 8,   /* Boolean from the field's on/off words */
};

struct auto_kind {
	const char *kind;  /* "temperature", "humidity", "switch" ... */
	uint16_t oid, rid; /* oid 3: a resource of the Device object /3/0 */
	int16_t riid;      /* a multiple-instance resource's instance, -1 */
	const char *unit;  /* required field unit (NULL: any) */
	uint8_t opts;      /* enum auto_opt */
};

/* The kind of a zigbee2mqtt feature: type "numeric"/"binary"/"enum", its
 * name, unit (may be NULL), the composite it is in ("switch", "light",
 * "climate"... or NULL at the top level) and whether it is settable. NULL:
 * no rule. */
const struct auto_kind *auto_z2m_kind(const char *type, const char *name, const char *unit,
				      const char *parent, bool settable);
/* The kind of a Home Assistant entity: component ("sensor", "binary_sensor",
 * "switch", "number", "light"), device_class and unit (both may be NULL). */
const struct auto_kind *auto_ha_kind(const char *component, const char *device_class, const char *unit);
/* The text of 5701 Sensor Units for a field unit: the SenML name where
 * there is one ("°C" -> "Cel"), else the unit as the field says it. */
const char *auto_unit_text(const struct auto_kind *k, const char *unit);
/* Every kind, for documentation and tests (NULL-terminated by kind). */
extern const struct auto_kind auto_kinds[];

/* One resource of a generated profile, read from an MQTT state topic. */
struct auto_point {
	const struct auto_kind *kind;
	uint16_t rid;         /* 0: the kind's */
	const char *topic;    /* state topic (literal, or with {device}) */
	const char *pointer;  /* JSON pointer; NULL: tpl, or the payload as text */
	const char *tpl;      /* a value template (mappings/template.c), NULL */
	const char *time;     /* JSON pointer to the time of measurement, NULL */
	const char *on, *off; /* Boolean from these words, NULL: the value's own */
	double scale;         /* 0: none */
	bool round;
	bool has_min, has_max;
	double min, max;
	const char *const *enums; /* a String's accepted values, NULL: any */
	size_t nenums;
	const char *cmd_topic;   /* writable: where {value} goes; NULL: read-only */
	const char *cmd_payload; /* its payload template */
	bool confirm;            /* wait for the state echo */
};
/* The YAML of p, as a resource of the instance block being written. */
void auto_emit_point(struct auto_text *t, const struct auto_point *p);
/* `rid: { const: "text" }`. */
void auto_emit_const(struct auto_text *t, uint16_t rid, const char *text);

/* Instances of the generated objects, allocated in order per object. */
struct auto_instances {
	struct {
		uint16_t oid, next;
	} v[32];
	size_t n;
};
/* The next instance of oid; -ENOSPC when 32 objects are in use. */
int auto_next_instance(struct auto_instances *ins, uint16_t oid);

/* A profile being generated: the Device object's resources, the other
 * objects' instances, what was skipped. */
struct auto_gen {
	struct auto_text dev3, objs, skipped;
	struct auto_instances ins;
	unsigned mapped, nskipped;
};

/* What /3/0 says of the device (NULL: not said; serial NULL: the device
 * name, `device: serial`). */
struct auto_identity {
	const char *manufacturer, *model, *serial, *firmware, *type;
	const char *update; /* the profile's `firmware:` (how the field updates it), NULL */
};

/* The profile's text from G (header: comment lines, each ending in '\n'),
 * named by kind and model, into out with the device's name and address.
 * G's buffers are freed. 0 or -ENOMEM. */
int auto_finish(struct auto_gen *G, const char *header, const char *description,
		const struct auto_identity *id, const char *device, const char *address, const char *kind,
		struct auto_profile *out);

/* ---- zigbee2mqtt ------------------------------------------------------------------- */

struct z2m_conf {
	char *base_topic; /* "zigbee2mqtt" */
	char *prefix;     /* of the device names: prefix + ieee address */
	/* A model with a profile of its own instead of the rule table. */
	struct {
		char *model, *profile;
	} * profiles;
	size_t nprofiles;
	/* Devices zigbee2mqtt can update (definition.supports_ota) get
	 * `firmware: zigbee2mqtt:<base>` (Object 5, z2m_ota.c). */
	bool firmware;
};

/* The profile of one element of bridge/devices. Returns 0 and *out, -ENOENT
 * when the element is not a device to map (the coordinator, one without a
 * definition, not interviewed yet, disabled: why in out->skipped), -EINVAL
 * (not a device object), -ENOMEM. */
int z2m_profile(struct json_object *dev, const struct z2m_conf *c, struct auto_profile *out);

/* ---- Home Assistant discovery --------------------------------------------------- */

struct ha_conf {
	char *prefix;      /* "homeassistant" */
	char *name_prefix; /* of the device names */
	uint64_t settle_usec;
};

/* A discovery topic's parts: <prefix>/<component>/[<node_id>/]<object_id>/config. */
bool ha_topic_parse(const struct ha_conf *c, const char *topic, size_t len, char *component, size_t csize,
		    char *object, size_t osize);

/* One entity's configuration, abbreviations expanded (HA's table) and
 * `~` applied. Returns 0, -EINVAL (not a JSON object). */
struct ha_entity;
int ha_entity_parse(const char *component, const char *topic, const uint8_t *payload, size_t len,
		    struct ha_entity **out);
struct ha_entity *ha_entity_free(struct ha_entity *e);
/* The device it belongs to (its device block's first identifier or
 * connection, else its unique_id, else the discovery topic). */
const char *ha_entity_device_id(const struct ha_entity *e);

/* The profile of one device's entities (n of them, in a stable order). */
int ha_profile(struct ha_entity *const *entities, size_t n, const struct ha_conf *c,
	       struct auto_profile *out);

/* ---- the watchers (in the bridge) ---------------------------------------------------- */

/* What the bridge core offers the watchers. */
/* Whom a watcher's line about one of its devices is about (log_device_*()
 * of common/log.h): DEVICE= and BRIDGE= in the journal, the text as it is. */
#define AUTO_DEV_LOG(h, device_name) \
	(&(const struct log_device){ .device = (device_name), .bridge = (h)->bridge, .named = true })

struct mqtt_auto_host {
	void *ud;
	const char *bridge; /* the bridge instance's name (outlives the watcher), for log lines */
	/* Create or re-profile a discovered device (bridge_host.generated),
	 * counted against discovery.max_devices: 0, -EDQUOT at the bound. */
	int (*generated)(void *ud, const struct auto_profile *p);
	/* A device of a named profile (z2m `profiles:`), as discovery rules do. */
	int (*discover)(void *ud, const char *device, const char *profile, const char *address);
	int (*forget)(void *ud, const char *device);
	/* Whether a device of the bridge (configured, or of a rule) is bound
	 * to this {device} value: it is left alone. */
	bool (*bound)(void *ud, const char *address, size_t len);
};

struct z2m_watch;
struct z2m_watch *z2m_watch_new(const struct z2m_conf *c, const struct mqtt_auto_host *host);
struct z2m_watch *z2m_watch_free(struct z2m_watch *w);
/* Its subscriptions: <base>/bridge/devices and <base>/bridge/event. */
size_t z2m_watch_filters(const struct z2m_watch *w, char filters[2][300]);
/* A message on one of them (parsed lazily through pl). true when it was. */
bool z2m_watch_message(struct z2m_watch *w, const char *topic, struct mqtt_payload *pl);
/* What it reports about a device for `fieldgate status` (skipped
 * features), NULL when it did not make it. */
const char *z2m_watch_note(const struct z2m_watch *w, const char *device);
/* A device it made was removed by the core (forgotten for silence): it is
 * made again at the next bridge/devices. */
void z2m_watch_gone(struct z2m_watch *w, const char *device);

struct ha_watch;
struct ha_watch *ha_watch_new(const struct ha_conf *c, const struct mqtt_auto_host *host,
			      unsigned max_devices);
struct ha_watch *ha_watch_free(struct ha_watch *w);
size_t ha_watch_filters(const struct ha_watch *w, char filters[2][300]);
bool ha_watch_message(struct ha_watch *w, const char *topic, struct mqtt_payload *pl, uint64_t now);
/* Devices whose entities settled (no config for settle_usec) get their
 * profile; from the bridge's 1 s timer. */
void ha_watch_tick(struct ha_watch *w, uint64_t now);
const char *ha_watch_note(const struct ha_watch *w, const char *device);
void ha_watch_gone(struct ha_watch *w, const char *device);

/* ---- zigbee2mqtt OTA: Object 5 of a device (z2m_ota.c) ---------------------------- */

/* zigbee2mqtt's word for a device's update in its state message. */
enum { Z2M_OTA_FIELD_IDLE = 0, Z2M_OTA_FIELD_AVAILABLE, Z2M_OTA_FIELD_UPDATING };

/* The "update" of a device's state message. */
struct z2m_ota_update {
	int state; /* Z2M_OTA_FIELD_*, -1 not said */
	bool has_progress;
	double progress;    /* percent */
	char installed[32]; /* installed_version as text, "" not said */
};
/* 0, -ENOENT (the message says nothing of updates), -EBADMSG (no object). */
int z2m_ota_state_parse(struct json_object *doc, struct z2m_ota_update *out);

/* A response on <base>/bridge/response/device/ota_update/<kind>. */
struct z2m_ota_response {
	bool ok;       /* status "ok" (else "error") */
	int available; /* check: update_available 1 / 0, -1 not said */
	char id[128], transaction[96], error[256];
	char version[64]; /* update: data.to.software_build_id, "" not said */
};
/* 0, -EBADMSG (no object, no status "ok"/"error"). */
int z2m_ota_response_parse(struct json_object *doc, struct z2m_ota_response *out);
/* Whether topic (len bytes) is such a response: its base and kind
 * ("check", "update") copied out. */
bool z2m_ota_response_topic(const char *topic, size_t len, char *base, size_t base_size, char *kind,
			    size_t kind_size);

/* What the state machine needs of the bridge. */
struct z2m_ota_host {
	void *ud;
	/* The value of /5/0/rid changed (3 State, 5 Update Result, 7
	 * PkgVersion): z2m_ota_get() has it. */
	void (*changed)(void *ud, uint16_t rid);
	/* Publish payload on topic (QoS 1): 0 or a negative errno
	 * (-EHOSTUNREACH: no broker). */
	int (*publish)(void *ud, const char *topic, const char *payload);
	sd_event *(*loop)(void *ud);
};

struct z2m_ota;
/* The state machine of a device whose friendly name is id (Idle, Result 0);
 * device and bridge name it in log lines. */
struct z2m_ota *z2m_ota_new(const char *base, const char *id, const char *device, const char *bridge,
			    uint64_t timeout_usec, const struct z2m_ota_host *host);
struct z2m_ota *z2m_ota_free(struct z2m_ota *o);
const char *z2m_ota_base(const struct z2m_ota *o);
const char *z2m_ota_device(const struct z2m_ota *o);
const char *z2m_ota_id(const struct z2m_ota *o);
/* The host's ud from now on; NULL parks it (nothing is told, nothing
 * published) while its device is rebuilt. */
void z2m_ota_rehost(struct z2m_ota *o, void *ud);
/* The value of /5/0/rid (3, 5, 7) as a sample; -ENOENT another. */
int z2m_ota_get(const struct z2m_ota *o, uint16_t rid, struct mapping_sample *out);
/* A Write of /5/0/rid (1 Package URI; 0 Package: -EPERM) / an Execute (2
 * Update, 10 Cancel): 0 (done; the values changed through the host), -EPERM
 * (not in this state: 4.05), -EINVAL, or the publish's error (nothing
 * changed). */
int z2m_ota_write(struct z2m_ota *o, uint16_t rid, const struct mapping_sample *v);
int z2m_ota_execute(struct z2m_ota *o, uint16_t rid);
/* The device's state message (its JSON document). */
void z2m_ota_state_message(struct z2m_ota *o, struct json_object *doc);
/* A response of kind ("check"/"update"): true when it was this device's. */
bool z2m_ota_response(struct z2m_ota *o, const char *kind, const struct z2m_ota_response *r);
/* " firmware=<state>:<result>" (or the progress) for `fieldgate status`. */
int z2m_ota_note(const struct z2m_ota *o, char *buf, size_t size);
