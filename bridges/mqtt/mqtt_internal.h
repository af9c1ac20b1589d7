/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/mqtt/mqtt_internal.h — the pieces of the MQTT bridge that are pure
 * functions (topic templates, payload decoders, the profile source parser),
 * shared by the bridge, its unit tests and its fuzz targets. The bridge
 * itself is only reachable through its kind table (bridges/bridge.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/bridge.h"

/* ---- topic templates ------------------------------------------------------ */

/* A template is an MQTT topic whose levels are either literal text or one
 * capture `{name}` standing for a whole level ("zigbee2mqtt/{device}",
 * "shellies/{device}/sensor/{field}"). Captures never span levels: that
 * keeps matching unambiguous and maps each capture to a `+` filter. */
#define MQTT_TEMPLATE_MAX_LEVELS   32
#define MQTT_TEMPLATE_MAX_CAPTURES 8
#define MQTT_NAME_MAX              32 /* a capture's name */

struct mqtt_level {
	char *text;   /* the literal, or the capture's name */
	bool capture; /* {text} */
};

struct mqtt_template {
	char *src; /* as written */
	struct mqtt_level *lv;
	size_t nlv;
};

/* Values bound to capture names: from a device's `address:` (a scalar binds
 * `device`, a mapping binds each key) or from a matched topic. */
struct mqtt_binding {
	size_t n;
	struct {
		const char *name;
		const char *value; /* len bytes, not NUL-terminated when from a topic */
		size_t len;
	} v[MQTT_TEMPLATE_MAX_CAPTURES];
};

/* Parse s. On error returns -EINVAL and a reason in why (for diagnostics);
 * -ENOMEM. The template must be cleared with mqtt_template_clear(). */
int mqtt_template_parse(const char *s, struct mqtt_template *t, char *why, size_t why_size);
void mqtt_template_clear(struct mqtt_template *t);
/* Whether the template has a capture called name. */
bool mqtt_template_has(const struct mqtt_template *t, const char *name);

/* Match a received topic. Captures are returned in out (values point into
 * topic, with their length). A capture bound in bound (may be NULL) must
 * equal its level. Returns true on a match. */
bool mqtt_template_match(const struct mqtt_template *t, const char *topic, size_t topic_len,
			 const struct mqtt_binding *bound, struct mqtt_binding *out);

/* The subscription filter: bound captures substituted, the others `+`.
 * Returns the length written (NUL included in size), -ENOBUFS, or -EINVAL
 * when a bound value is not a valid topic level (contains '/', '+', '#'). */
int mqtt_template_filter(const struct mqtt_template *t, const struct mqtt_binding *bound, char *buf,
			 size_t size);
/* A publish topic: every capture must be bound (-ENOENT names the first
 * missing one in *missing). Same returns as mqtt_template_filter(). */
int mqtt_template_expand(const struct mqtt_template *t, const struct mqtt_binding *bound, char *buf,
			 size_t size, const char **missing);

/* Whether MQTT filter a (with `+` / `#`) receives every topic filter b does
 * (b may itself contain `+`). */
bool mqtt_filter_covers(const char *a, const char *b);
/* Whether a topic matches an MQTT filter. */
bool mqtt_filter_match(const char *filter, const char *topic, size_t topic_len);

/* The value bound to name, or NULL; *len its length. */
const char *mqtt_binding_get(const struct mqtt_binding *b, const char *name, size_t *len);

/* ---- a growing index of nodes by string key (mqtt_index.c) ------------------- */

/* The key of a node of an index and its length. */
typedef const char *(*mqtt_index_key_fn)(const void *node, size_t *len);

/* Nodes carry their own next pointer at offset link; the index owns its
 * buckets only. Lookups: mqtt_index_first() gives the chain a key is on
 * (NULL: empty), walked through the nodes' next pointers, comparing keys. */
struct mqtt_index {
	void **bucket;
	size_t nbucket, count;
	size_t link;
	mqtt_index_key_fn key;
};

/* Allocates nothing (the buckets come with the first node). */
void mqtt_index_init(struct mqtt_index *x, size_t link, mqtt_index_key_fn key);
/* Frees the buckets, not the nodes. */
void mqtt_index_clear(struct mqtt_index *x);
void *mqtt_index_first(const struct mqtt_index *x, const char *k, size_t n);
/* Appends node to its chain (after the nodes of the same key); -ENOMEM
 * only when the first buckets cannot be had (later growth is best effort). */
int mqtt_index_add(struct mqtt_index *x, void *node);
/* Unlinks node (its key must be what it was when added). */
void mqtt_index_del(struct mqtt_index *x, void *node);

/* ---- profile sources -------------------------------------------------------- */

enum mqtt_format {
	MQTT_FORMAT_JSON = 0, /* an RFC 6901 pointer into a JSON document */
	MQTT_FORMAT_TEXT,     /* the whole payload as text (numbers, ON/OFF...) */
	MQTT_FORMAT_RAW,      /* bytes at an offset, decoded by the point's raw layout */
	MQTT_FORMAT_TEMPLATE, /* a value template (mappings/template.c) rendered to text */
};

/* A parsed `source:` (READ), `write:` (WRITE) or `execute:` (EXECUTE) of an
 * mqtt profile. */
struct mqtt_source {
	uint8_t role; /* enum mapping_role */
	struct mqtt_template topic;
	/* READ */
	uint8_t format;               /* enum mqtt_format */
	char *pointer;                /* JSON pointer, "" = the whole document */
	char *time_pointer;           /* JSON pointer to a timestamp, NULL for none */
	uint32_t offset;              /* RAW */
	uint32_t length;              /* RAW: bytes taken (0: the layout's size, else the rest) */
	struct mapping_template *tpl; /* TEMPLATE */
	/* WRITE / EXECUTE */
	char *payload; /* template: {value} / {args} and the topic's captures */
	uint8_t qos;
	bool retain;
	uint64_t confirm_usec; /* WRITE: wait for the state echo (0: PUBACK only) */
	/* A resource of /5/0 of a profile's `firmware: zigbee2mqtt`
	 * (z2m_ota.c runs it; topic: the device's state topic for READ, the
	 * OTA request topic otherwise) and its resource id. */
	bool ota;
	uint16_t ota_rid;
	char *ota_base; /* zigbee2mqtt's base topic */
};

/* `firmware:` of an mqtt profile (mapping_source_ops.firmware). */
int mqtt_firmware_source(const char *what, enum mapping_role role, uint16_t rid, void **out, char *why,
			 size_t why_size);

extern const struct mapping_source_ops mqtt_source_ops;
/* `fieldgate profile test` (mqtt_tester.c). */
extern const struct bridge_tester mqtt_tester;

/* A device's `address:` (scalar, or a mapping of capture names to scalar
 * values) as a binding; values point into the node. -EINVAL with why. */
int mqtt_address_binding(const struct ynode *address, struct mqtt_binding *out, char *why, size_t why_size);

/* ---- payloads -------------------------------------------------------------- */

struct json_object;

/* One received message, decoded lazily: the JSON document is parsed at the
 * first JSON source that looks at it and shared by the others. */
struct mqtt_payload {
	const uint8_t *data;
	size_t len;
	bool parsed;
	int json_err;            /* after parsing: 0 or -EBADMSG */
	struct json_object *doc; /* owned */
	char text[128];          /* a rendered template: the last decoded TEMPLATE sample */
};

void mqtt_payload_init(struct mqtt_payload *p, const void *data, size_t len);
void mqtt_payload_clear(struct mqtt_payload *p);
/* The parsed JSON document (NULL with -EBADMSG when not JSON). */
int mqtt_payload_json(struct mqtt_payload *p, struct json_object **out);

/* Extract src's value from the payload into a sample for a point whose raw
 * layout takes raw_size bytes (mapping_raw_size(), 0 for value/string).
 * Byte values point into the payload or its JSON document. *time_usec is
 * set from the source's time pointer when present and valid, else 0.
 * Returns 0, -ENOENT (the pointer names nothing in this document: a partial
 * update), -EBADMSG (not JSON / too short for the layout / bad pointer),
 * -EINVAL (a JSON object, array or null where a value was expected). */
int mqtt_payload_decode(const struct mqtt_source *src, size_t raw_size, struct mqtt_payload *p,
			struct mapping_sample *out, uint64_t *time_usec);

/* value_json for a template (mapping_template_json_fn; ud: the struct
 * mqtt_payload). */
int mqtt_template_json(void *ud, const struct mapping_tstep *steps, size_t n, struct mapping_tval *out);

/* RFC 6901: the value at pointer in doc, NULL when absent or malformed. */
struct json_object *mqtt_json_pointer(struct json_object *doc, const char *pointer);

/* A timestamp as text: ISO 8601 / RFC 3339 ("2024-05-01T12:00:00.250Z",
 * "+02:00" offsets, no zone = UTC) or a number of seconds / milliseconds /
 * microseconds since the epoch (told apart by magnitude). -EINVAL. */
int mqtt_parse_time(const char *s, size_t len, uint64_t *usec);
int mqtt_time_from_number(double v, uint64_t *usec);

/* Fill a payload template: {value} / {args} / capture names from bound.
 * json: string values are escaped for a JSON string. Returns the length
 * or -ENOBUFS / -ENOENT (a capture without value). */
int mqtt_fill_payload(const char *tmpl, const char *value, size_t value_len, bool value_is_string,
		      const struct mqtt_binding *bound, char *buf, size_t size);

/* The text of a write sample for {value}: numbers, true/false, strings. */
int mqtt_sample_text(const struct mapping_sample *s, char *buf, size_t size, bool *is_string);

/* Device names from a capture: [A-Za-z0-9._-], others become '_', at most
 * 64 characters. Returns the length, 0 when nothing usable is left. */
size_t mqtt_sanitize_name(const char *prefix, const char *s, size_t len, char *out, size_t size);
