/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge's own configuration (the body under bridges.<name> with
 * `type: mqtt`): checked by verify() at load time, copied by new().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bridges/mqtt/mqtt_conf.h"
#include "common/schema.h"

struct tls_yaml {
	const char *ca, *ca_path, *cert, *key;
	bool verify;
};

struct rule_yaml {
	const char *topic, *profile, *prefix;
	struct schema_list require; /* const char * */
};

struct z2m_yaml {
	const char *base_topic, *prefix;
	bool firmware;
	const struct ynode *profiles; /* model -> profile */
};

struct ha_yaml {
	const char *prefix, *name_prefix;
	uint64_t settle;
};

struct disc_yaml {
	uint64_t max_devices, forget;
	struct schema_list rules; /* struct rule_yaml */
	struct z2m_yaml zigbee2mqtt;
	struct ha_yaml homeassistant;
};

struct avail_yaml {
	const char *topic, *json;
	struct schema_list online, offline; /* const char * */
};

struct conf_yaml {
	int type, protocol;
	const char *host, *url, *client_id, *username, *password, *status_topic;
	uint64_t port, keepalive, qos, reconnect_min, reconnect_max, max_payload, ack_timeout,
		connect_timeout, unreachable_after, ota_timeout;
	bool clean_session;
	struct tls_yaml tls;
	struct disc_yaml discovery;
	struct schema_list availability; /* struct avail_yaml */
};

#define CY(f) offsetof(struct conf_yaml, f)
#define TY(f) offsetof(struct tls_yaml, f)
#define RY(f) offsetof(struct rule_yaml, f)
#define DY(f) offsetof(struct disc_yaml, f)
#define AY(f) offsetof(struct avail_yaml, f)
#define ZY(f) offsetof(struct z2m_yaml, f)
#define HY(f) offsetof(struct ha_yaml, f)

static const struct schema_enum_word type_words[] = { { .word = "mqtt", .value = 0 }, { .word = NULL } };
static const struct schema_enum_word protocol_words[] = {
	{ .word = "auto", .value = MQTT_PROTO_AUTO },
	{ .word = "5", .value = MQTT_PROTO_V5 },
	{ .word = "3.1.1", .value = MQTT_PROTO_V311 },
	{ .word = "5.0", .value = MQTT_PROTO_V5, .alias = true },
	{ .word = NULL },
};

static const struct schema_key tls_keys[] = {
	{ .name = "ca", .kind = SCHEMA_STRING, .offset = TY(ca), .doc = "CA certificate file (PEM)" },
	{ .name = "ca_path",
	  .kind = SCHEMA_STRING,
	  .offset = TY(ca_path),
	  .doc = "directory of CA certificates" },
	{ .name = "cert", .kind = SCHEMA_STRING, .offset = TY(cert), .doc = "client certificate (PEM)" },
	{ .name = "key",
	  .kind = SCHEMA_STRING,
	  .offset = TY(key),
	  .doc = "client private key (PEM)",
	  .secret = SCHEMA_SECRET_FILE },
	{ .name = "verify",
	  .kind = SCHEMA_BOOL,
	  .offset = TY(verify),
	  .def_bool = true,
	  .doc = "verify the broker's certificate and name" },
	{ .name = NULL },
};

static int tls_check(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct tls_yaml *t = obj;

	if (schema_key_ok(ctx, "cert") && schema_key_ok(ctx, "key") && !t->cert != !t->key) {
		schema_error(ctx, map,
			     "mqtt: tls needs both 'cert' and 'key' for a client certificate, or neither");
		return -EINVAL;
	}
	return 0;
}

static const struct schema_section tls_sec = { "tls", sizeof(struct tls_yaml), tls_keys, tls_check };

static int check_pointer(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	const char *p = *(const char **)t;

	(void)k;
	if (*p != '/') {
		schema_error(ctx, n, "mqtt: '%s' is not a JSON pointer (RFC 6901, e.g. /temperature)", p);
		return -EINVAL;
	}
	return 0;
}

static const struct schema_key pointer_elem = { .kind = SCHEMA_STRING,
						.max_len = 255,
						.parse = check_pointer };

static const struct schema_key rule_keys[] = {
	{ .name = "topic",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = RY(topic),
	  .max_len = 1024,
	  .doc = "topic template with a {device} capture" },
	{ .name = "profile",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = RY(profile),
	  .max_len = 128,
	  .doc = "profile of the devices created" },
	{ .name = "prefix",
	  .kind = SCHEMA_STRING,
	  .offset = RY(prefix),
	  .max_len = 32,
	  .doc = "prepended to the capture to form the device name" },
	{ .name = "require",
	  .kind = SCHEMA_LIST,
	  .offset = RY(require),
	  .elem = &pointer_elem,
	  .max_items = 16,
	  .doc = "JSON pointers the payload must have (tells device kinds apart)" },
	{ .name = NULL },
};

static int rule_check(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct rule_yaml *r = obj;
	struct mqtt_template t;
	char why[200];
	int e;

	if (!schema_key_ok(ctx, "topic") || !r->topic)
		return 0;
	e = mqtt_template_parse(r->topic, &t, why, sizeof(why));
	if (e == -ENOMEM)
		return e;
	if (e < 0) {
		schema_error(ctx, ynode_map_get(map, "topic"), "mqtt: invalid topic '%s': %s", r->topic, why);
		return -EINVAL;
	}
	if (!mqtt_template_has(&t, "device")) {
		schema_error(ctx, ynode_map_get(map, "topic"),
			     "mqtt: discovery topic '%s' has no {device} capture (the new device's address)",
			     r->topic);
		e = -EINVAL;
	}
	mqtt_template_clear(&t);
	return e;
}

static const struct schema_section rule_sec = { "rule", sizeof(struct rule_yaml), rule_keys, rule_check };
static const struct schema_key rule_elem = { .kind = SCHEMA_SECTION, .section = &rule_sec };

/* 0 (never) or a time a device can really be silent for. */
static int check_silence(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	uint64_t v = *(const uint64_t *)t;

	if (v != 0 && v < USEC_PER_SEC) {
		schema_error(ctx, n, "mqtt: %s must be 0 (never) or at least 1s", k->name);
		return -EINVAL;
	}
	return 0;
}

static const struct schema_key word_elem = { .kind = SCHEMA_STRING, .max_len = 64 };

static const struct schema_key avail_keys[] = {
	{ .name = "topic",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = AY(topic),
	  .max_len = 1024,
	  .doc = "topic template; its captures name the devices (none: every device)" },
	{ .name = "json",
	  .kind = SCHEMA_STRING,
	  .offset = AY(json),
	  .max_len = 255,
	  .parse = check_pointer,
	  .doc = "where the word is in a JSON payload (a plain payload is the word)" },
	{ .name = "online",
	  .kind = SCHEMA_LIST,
	  .offset = AY(online),
	  .elem = &word_elem,
	  .min_items = 1,
	  .max_items = 16,
	  .doc = "words meaning reachable (default online, true, 1)" },
	{ .name = "offline",
	  .kind = SCHEMA_LIST,
	  .offset = AY(offline),
	  .elem = &word_elem,
	  .min_items = 1,
	  .max_items = 16,
	  .doc = "words meaning unreachable (default offline, false, 0)" },
	{ .name = NULL },
};

static int avail_check(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct avail_yaml *a = obj;
	const char *const *on = a->online.items, *const *off = a->offline.items;
	struct mqtt_template t;
	char why[200];
	int e;

	if (!schema_key_ok(ctx, "topic") || !a->topic)
		return 0;
	e = mqtt_template_parse(a->topic, &t, why, sizeof(why));
	if (e == -ENOMEM)
		return e;
	mqtt_template_clear(&t);
	if (e < 0) {
		schema_error(ctx, ynode_map_get(map, "topic"), "mqtt: invalid topic '%s': %s", a->topic, why);
		return -EINVAL;
	}
	for (size_t i = 0; i < a->online.n; i++)
		for (size_t j = 0; j < a->offline.n; j++)
			if (strcasecmp(on[i], off[j]) == 0) {
				schema_error(ctx, ynode_map_get(map, "offline"),
					     "mqtt: availability word '%s' is both online and offline",
					     off[j]);
				return -EINVAL;
			}
	return 0;
}

static const struct schema_section avail_sec = { "availability", sizeof(struct avail_yaml), avail_keys,
						 avail_check };
static const struct schema_key avail_elem = { .kind = SCHEMA_SECTION, .section = &avail_sec };

/* A topic prefix: literal levels, no wildcard. */
static int check_prefix(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	const char *v = *(const char **)t;

	if (!v || !*v || strpbrk(v, "+#") || v[0] == '/' || v[strlen(v) - 1] == '/') {
		schema_error(ctx, n,
			     "mqtt: %s '%s' must be a topic without '+', '#' or a leading/trailing '/'",
			     k->name, v ? v : "");
		return -EINVAL;
	}
	return 0;
}

/* `profiles: {<model>: <profile>}`: scalars both. */
static int z2m_check(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	const struct z2m_yaml *z = obj;

	(void)map;
	if (!z->profiles)
		return 0;
	for (size_t i = 0; i < z->profiles->map.n; i++) {
		const struct ynode *v = ynode_map_value(z->profiles, i);
		if (v->kind != YNODE_SCALAR || v->scalar.len == 0) {
			schema_error(ctx, v,
				     "mqtt: zigbee2mqtt.profiles maps a model to a profile name, got %s",
				     ynode_describe(v));
			return -EINVAL;
		}
	}
	return 0;
}

static const struct schema_key z2m_keys[] = {
	{ .name = "base_topic",
	  .kind = SCHEMA_STRING,
	  .offset = ZY(base_topic),
	  .max_len = 200,
	  .def_str = "zigbee2mqtt",
	  .parse = check_prefix,
	  .doc = "zigbee2mqtt's base topic (its mqtt.base_topic)" },
	{ .name = "prefix",
	  .kind = SCHEMA_STRING,
	  .offset = ZY(prefix),
	  .max_len = 32,
	  .def_str = "",
	  .doc = "of device names (prefix + IEEE address)" },
	{ .name = "profiles",
	  .kind = SCHEMA_NODE,
	  .offset = ZY(profiles),
	  .node_kind = YNODE_MAP,
	  .doc = "a model (definition.model) -> the profile its devices get instead of the rule table" },
	{ .name = "firmware",
	  .kind = SCHEMA_BOOL,
	  .offset = ZY(firmware),
	  .doc = "devices zigbee2mqtt can update (supports_ota) get Object 5 (firmware: zigbee2mqtt)" },
	{ .name = NULL },
};

static const struct schema_section z2m_sec = { "zigbee2mqtt", sizeof(struct z2m_yaml), z2m_keys, z2m_check };

static const struct schema_key ha_keys[] = {
	{ .name = "prefix",
	  .kind = SCHEMA_STRING,
	  .offset = HY(prefix),
	  .max_len = 200,
	  .def_str = "homeassistant",
	  .parse = check_prefix,
	  .doc = "the discovery prefix" },
	{ .name = "name_prefix",
	  .kind = SCHEMA_STRING,
	  .offset = HY(name_prefix),
	  .max_len = 32,
	  .def_str = "ha-",
	  .doc = "of device names (prefix + the device's identifier)" },
	{ .name = "settle",
	  .kind = SCHEMA_DURATION,
	  .offset = HY(settle),
	  .umax = 60 * USEC_PER_SEC,
	  .def_uint = 2 * USEC_PER_SEC,
	  .doc = "a device is made once its configurations are quiet this long" },
	{ .name = NULL },
};

static const struct schema_section ha_sec = { "homeassistant", sizeof(struct ha_yaml), ha_keys, NULL };

static const struct schema_key disc_keys[] = {
	{ .name = "max_devices",
	  .kind = SCHEMA_UINT,
	  .offset = DY(max_devices),
	  .umin = 1,
	  .umax = 100000,
	  .def_uint = 16,
	  .doc = "most devices discovery creates" },
	{ .name = "forget",
	  .kind = SCHEMA_DURATION,
	  .offset = DY(forget),
	  .umax = 365 * USEC_PER_DAY,
	  .parse = check_silence,
	  .doc = "a discovered device not heard for this long is forgotten (0: never)" },
	{ .name = "rules",
	  .kind = SCHEMA_LIST,
	  .offset = DY(rules),
	  .elem = &rule_elem,
	  .min_items = 1,
	  .max_items = 64 },
	{ .name = "zigbee2mqtt",
	  .kind = SCHEMA_SECTION,
	  .offset = DY(zigbee2mqtt),
	  .section = &z2m_sec,
	  .doc = "devices from zigbee2mqtt's bridge/devices (their exposes), no profile needed" },
	{ .name = "homeassistant",
	  .kind = SCHEMA_SECTION,
	  .offset = DY(homeassistant),
	  .section = &ha_sec,
	  .doc = "devices from Home Assistant MQTT discovery configurations" },
	{ .name = NULL },
};

/* Discovery needs something to discover with. */
static int disc_check(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	(void)obj;
	if (!ynode_map_get(map, "rules") && !ynode_map_get(map, "zigbee2mqtt") &&
	    !ynode_map_get(map, "homeassistant")) {
		schema_error(
			ctx, map,
			"mqtt: discovery needs 'rules', 'zigbee2mqtt' or 'homeassistant' (what it creates "
			"devices from)");
		return -EINVAL;
	}
	return 0;
}

static const struct schema_section disc_sec = { "discovery", sizeof(struct disc_yaml), disc_keys,
						disc_check };

static int check_host(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	const char *h = *(const char **)t;

	(void)k;
	if (!*h || strpbrk(h, " /[]")) {
		schema_error(ctx, n, "mqtt: invalid host '%s' (a name, an IPv4 or an IPv6 address)", h);
		return -EINVAL;
	}
	return 0;
}

static int check_topic(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	const char *s = *(const char **)t;

	(void)k;
	if (!*s || strpbrk(s, "+#")) {
		schema_error(ctx, n, "mqtt: invalid status topic '%s' (no wildcards '+' or '#')", s);
		return -EINVAL;
	}
	return 0;
}

static const struct schema_key conf_keys[] = {
	{ .name = "type", .kind = SCHEMA_ENUM, .required = true, .offset = CY(type), .words = type_words },
	{ .name = "protocol",
	  .kind = SCHEMA_ENUM,
	  .offset = CY(protocol),
	  .words = protocol_words,
	  .def_int = MQTT_PROTO_AUTO,
	  .doc = "MQTT 5 (tells the broker max_payload), 3.1.1, or auto: 5, else 3.1.1" },
	{ .name = "host", .kind = SCHEMA_STRING, .offset = CY(host), .max_len = 253, .parse = check_host },
	{ .name = "port", .kind = SCHEMA_UINT, .offset = CY(port), .umin = 1, .umax = 65535 },
	{ .name = "url", .kind = SCHEMA_STRING, .offset = CY(url), .max_len = 300 },
	{ .name = "client_id", .kind = SCHEMA_STRING, .offset = CY(client_id), .max_len = 128 },
	{ .name = "username", .kind = SCHEMA_STRING, .offset = CY(username), .max_len = 256 },
	{ .name = "password",
	  .kind = SCHEMA_STRING,
	  .offset = CY(password),
	  .max_len = 256,
	  .secret = SCHEMA_SECRET },
	{ .name = "tls", .kind = SCHEMA_SECTION, .offset = CY(tls), .section = &tls_sec },
	{ .name = "keepalive",
	  .kind = SCHEMA_DURATION,
	  .offset = CY(keepalive),
	  .umin = 5 * USEC_PER_SEC,
	  .umax = 65535 * USEC_PER_SEC,
	  .step = USEC_PER_SEC,
	  .def_uint = 30 * USEC_PER_SEC },
	{ .name = "clean_session", .kind = SCHEMA_BOOL, .offset = CY(clean_session) },
	{ .name = "qos", .kind = SCHEMA_UINT, .offset = CY(qos), .umax = 2, .def_uint = 1 },
	{ .name = "status_topic",
	  .kind = SCHEMA_STRING,
	  .offset = CY(status_topic),
	  .max_len = 512,
	  .parse = check_topic },
	{ .name = "reconnect_min",
	  .kind = SCHEMA_DURATION,
	  .offset = CY(reconnect_min),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = USEC_PER_HOUR,
	  .def_uint = USEC_PER_SEC },
	{ .name = "reconnect_max",
	  .kind = SCHEMA_DURATION,
	  .offset = CY(reconnect_max),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = USEC_PER_DAY,
	  .def_uint = 60 * USEC_PER_SEC },
	{ .name = "ack_timeout",
	  .kind = SCHEMA_DURATION,
	  .offset = CY(ack_timeout),
	  .umin = 100 * USEC_PER_MSEC,
	  .umax = 120 * USEC_PER_SEC,
	  .def_uint = 10 * USEC_PER_SEC },
	{ .name = "ota_timeout",
	  .kind = SCHEMA_DURATION,
	  .offset = CY(ota_timeout),
	  .umin = 100 * USEC_PER_MSEC,
	  .umax = USEC_PER_DAY,
	  .def_uint = 15 * 60 * USEC_PER_SEC,
	  .doc = "zigbee2mqtt silent this long during a firmware check or update: Update Result 4" },
	{ .name = "connect_timeout",
	  .kind = SCHEMA_DURATION,
	  .offset = CY(connect_timeout),
	  .umin = USEC_PER_SEC,
	  .umax = 120 * USEC_PER_SEC,
	  .def_uint = 15 * USEC_PER_SEC },
	{ .name = "max_payload",
	  .kind = SCHEMA_UINT,
	  .offset = CY(max_payload),
	  .umin = 16,
	  .umax = 64u << 20,
	  .def_uint = 256u << 10,
	  .doc = "longest payload taken; MQTT 5 brokers drop longer ones (Maximum Packet Size)" },
	{ .name = "discovery", .kind = SCHEMA_SECTION, .offset = CY(discovery), .section = &disc_sec },
	{ .name = "unreachable_after",
	  .kind = SCHEMA_DURATION,
	  .offset = CY(unreachable_after),
	  .umax = 30 * USEC_PER_DAY,
	  .parse = check_silence,
	  .doc = "a device not heard for this long is unreachable (0: never)" },
	{ .name = "availability",
	  .kind = SCHEMA_LIST,
	  .offset = CY(availability),
	  .elem = &avail_elem,
	  .max_items = MQTT_AVAIL_MAX,
	  .doc = "availability topics (zigbee2mqtt, Tasmota LWT, Shelly online)" },
	{ .name = NULL },
};

/* mqtt://host[:port], mqtts://host[:port]; IPv6 in brackets. */
static int parse_url(const char *url, char **host, uint16_t *port, bool *tls, char *why, size_t why_size)
{
	const char *p, *hs, *he;
	unsigned long v = 0;

	if (strncmp(url, "mqtt://", 7) == 0 || strncmp(url, "tcp://", 6) == 0) {
		*tls = false;
		p = strstr(url, "//") + 2;
	} else if (strncmp(url, "mqtts://", 8) == 0 || strncmp(url, "ssl://", 6) == 0) {
		*tls = true;
		p = strstr(url, "//") + 2;
	} else {
		snprintf(why, why_size, "the scheme must be mqtt:// or mqtts://");
		return -EINVAL;
	}
	if (*p == '[') {
		hs = p + 1;
		he = strchr(hs, ']');
		if (!he) {
			snprintf(why, why_size, "unterminated '[' of an IPv6 address");
			return -EINVAL;
		}
		p = he + 1;
	} else {
		hs = p;
		he = p + strcspn(p, ":/");
		p = he;
	}
	if (he == hs) {
		snprintf(why, why_size, "no host");
		return -EINVAL;
	}
	*port = 0;
	if (*p == ':') {
		char *end;
		errno = 0;
		v = strtoul(p + 1, &end, 10);
		if (errno || end == p + 1 || v == 0 || v > 65535 || (*end && strcmp(end, "/") != 0)) {
			snprintf(why, why_size, "invalid port");
			return -EINVAL;
		}
		*port = (uint16_t)v;
	} else if (*p && strcmp(p, "/") != 0) {
		snprintf(why, why_size, "unexpected '%s' after the host", p);
		return -EINVAL;
	}
	*host = strndup(hs, (size_t)(he - hs));
	return *host ? 0 : -ENOMEM;
}

static int conf_check(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct conf_yaml *c = obj;
	int ret = 0;

	if (c->url && (c->host || ynode_map_get(map, "port"))) {
		schema_error(ctx, ynode_map_get(map, "url"),
			     "mqtt: give either 'url' or 'host'/'port', not both");
		ret = -EINVAL;
	} else if (!c->url && !c->host && schema_key_ok(ctx, "url") && schema_key_ok(ctx, "host")) {
		schema_error(ctx, map, "mqtt: missing key 'host' (or 'url': mqtt://host:port, mqtts://...)");
		ret = -EINVAL;
	} else if (c->url && schema_key_ok(ctx, "url")) {
		char *h = NULL, why[120];
		uint16_t port;
		bool tls;
		int r = parse_url(c->url, &h, &port, &tls, why, sizeof(why));
		free(h);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			schema_error(ctx, ynode_map_get(map, "url"), "mqtt: invalid url '%s': %s", c->url,
				     why);
			ret = -EINVAL;
		}
	}
	if (c->password && !c->username) {
		schema_error(ctx, ynode_map_get(map, "password"), "mqtt: 'password' needs a 'username'");
		ret = -EINVAL;
	}
	if (schema_key_ok(ctx, "reconnect_min") && schema_key_ok(ctx, "reconnect_max") &&
	    c->reconnect_min > c->reconnect_max) {
		schema_error(ctx, ynode_map_get(map, "reconnect_min") ?: map,
			     "mqtt: reconnect_min is above reconnect_max");
		ret = -EINVAL;
	}
	return ret;
}

static const struct schema_section conf_sec = { "mqtt bridge", sizeof(struct conf_yaml), conf_keys,
						conf_check };

int mqtt_conf_verify(struct schema_ctx *ctx, const struct ynode *body)
{
	struct conf_yaml c = { 0 };
	int r = schema_parse_section(ctx, &conf_sec, body, &c);

	schema_free(&conf_sec, &c);
	return r < 0 ? -EINVAL : 0;
}

static void words_free(char **w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

void mqtt_conf_clear(struct mqtt_conf *c)
{
	if (!c)
		return;
	free(c->host);
	free(c->client_id);
	free(c->username);
	free(c->password);
	free(c->status_topic);
	free(c->tls_ca);
	free(c->tls_ca_path);
	free(c->tls_cert);
	free(c->tls_key);
	for (size_t i = 0; i < c->nrules; i++) {
		mqtt_template_clear(&c->rules[i].topic);
		free(c->rules[i].profile);
		free(c->rules[i].prefix);
		for (size_t j = 0; j < c->rules[i].nrequire; j++)
			free(c->rules[i].require[j]);
		free(c->rules[i].require);
	}
	free(c->rules);
	free(c->z2m.base_topic);
	free(c->z2m.prefix);
	for (size_t i = 0; i < c->z2m.nprofiles; i++) {
		free(c->z2m.profiles[i].model);
		free(c->z2m.profiles[i].profile);
	}
	free(c->z2m.profiles);
	free(c->ha.prefix);
	free(c->ha.name_prefix);
	for (size_t i = 0; i < c->navail; i++) {
		struct mqtt_avail *a = &c->avail[i];
		mqtt_template_clear(&a->topic);
		free(a->pointer);
		words_free(a->online, a->nonline);
		words_free(a->offline, a->noffline);
	}
	free(c->avail);
	*c = (struct mqtt_conf){ 0 };
}

static int sdup(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

/* n words from list (given) or defaults (NULL-terminated). */
static int words_copy(const struct schema_list *given, const char *const *defaults, char ***out, size_t *n)
{
	const char *const *src = given->n ? (const char *const *)given->items : defaults;
	size_t cnt = given->n;

	if (!given->n)
		while (defaults[cnt])
			cnt++;
	*n = 0;
	*out = calloc(cnt, sizeof(char *));
	if (!*out)
		return -ENOMEM;
	for (; *n < cnt; (*n)++)
		if (!((*out)[*n] = strdup(src[*n])))
			return -ENOMEM;
	return 0;
}

static int avail_load(const struct schema_list *list, struct mqtt_conf *out)
{
	static const char *const on_words[] = { "online", "true", "1", NULL };
	static const char *const off_words[] = { "offline", "false", "0", NULL };
	const struct avail_yaml *ay = list->items;
	char why[200];
	int r;

	if (!list->n)
		return 0;
	out->avail = calloc(list->n, sizeof(*out->avail));
	if (!out->avail)
		return -ENOMEM;
	for (size_t i = 0; i < list->n; i++) {
		struct mqtt_avail *a = &out->avail[out->navail++];
		if ((r = mqtt_template_parse(ay[i].topic, &a->topic, why, sizeof(why))) < 0 ||
		    (r = sdup(&a->pointer, ay[i].json)) < 0 ||
		    (r = words_copy(&ay[i].online, on_words, &a->online, &a->nonline)) < 0 ||
		    (r = words_copy(&ay[i].offline, off_words, &a->offline, &a->noffline)) < 0)
			return r;
	}
	return 0;
}

/* discovery.zigbee2mqtt / discovery.homeassistant, when given. */
static int auto_load(const struct ynode *body, const struct disc_yaml *d, struct mqtt_conf *out)
{
	const struct ynode *disc = ynode_map_get(body, "discovery");
	const struct ynode *pm = d->zigbee2mqtt.profiles;
	int r;

	if (ynode_map_get(disc, "zigbee2mqtt")) {
		out->z2m_on = true;
		out->z2m.firmware = d->zigbee2mqtt.firmware;
		if ((r = sdup(&out->z2m.base_topic, d->zigbee2mqtt.base_topic)) < 0 ||
		    (r = sdup(&out->z2m.prefix, d->zigbee2mqtt.prefix)) < 0)
			return r;
		if (pm && pm->map.n && !(out->z2m.profiles = calloc(pm->map.n, sizeof(*out->z2m.profiles))))
			return -ENOMEM;
		for (size_t i = 0; pm && i < pm->map.n; i++, out->z2m.nprofiles++)
			if ((r = sdup(&out->z2m.profiles[i].model, ynode_map_key(pm, i)->scalar.str)) < 0 ||
			    (r = sdup(&out->z2m.profiles[i].profile, ynode_map_value(pm, i)->scalar.str)) < 0)
				return r;
	}
	if (ynode_map_get(disc, "homeassistant")) {
		out->ha_on = true;
		out->ha.settle_usec = d->homeassistant.settle;
		if ((r = sdup(&out->ha.prefix, d->homeassistant.prefix)) < 0 ||
		    (r = sdup(&out->ha.name_prefix, d->homeassistant.name_prefix)) < 0)
			return r;
	}
	return 0;
}

int mqtt_conf_load(const char *name, const struct ynode *body, struct mqtt_conf *out)
{
	struct conf_yaml c = { 0 };
	char why[200];
	int r;

	*out = (struct mqtt_conf){ 0 };
	r = schema_parse(&conf_sec, body, &c, NULL, NULL);
	if (r < 0)
		goto out;
	out->tls = ynode_map_get(body, "tls") != NULL;
	if (c.url) {
		uint16_t port;
		bool tls;
		r = parse_url(c.url, &out->host, &port, &tls, why, sizeof(why));
		if (r < 0)
			goto out;
		out->port = port;
		out->tls = out->tls || tls;
	} else {
		r = sdup(&out->host, c.host);
		out->port = (uint16_t)c.port;
	}
	if (!out->port)
		out->port = out->tls ? 8883 : 1883;
	if (r < 0 || (r = sdup(&out->username, c.username)) < 0 ||
	    (r = sdup(&out->password, c.password)) < 0 || (r = sdup(&out->tls_ca, c.tls.ca)) < 0 ||
	    (r = sdup(&out->tls_ca_path, c.tls.ca_path)) < 0 || (r = sdup(&out->tls_cert, c.tls.cert)) < 0 ||
	    (r = sdup(&out->tls_key, c.tls.key)) < 0)
		goto out;
	out->tls_verify = out->tls && ynode_map_get(body, "tls") ? c.tls.verify : true;
	if (out->tls && !out->tls_ca && !out->tls_ca_path &&
	    (r = sdup(&out->tls_ca_path, "/etc/ssl/certs")) < 0)
		goto out;
	if (c.client_id)
		r = sdup(&out->client_id, c.client_id);
	else
		r = asprintf(&out->client_id, "fieldgate-%s", name) < 0 ? -ENOMEM : 0;
	if (r < 0)
		goto out;
	if (c.status_topic)
		r = sdup(&out->status_topic, c.status_topic);
	else
		r = asprintf(&out->status_topic, "fieldgate/%s/status", out->client_id) < 0 ? -ENOMEM : 0;
	if (r < 0)
		goto out;
	out->protocol = c.protocol;
	out->keepalive_s = (unsigned)(c.keepalive / USEC_PER_SEC);
	out->clean_session = c.clean_session;
	out->qos = (int)c.qos;
	out->reconnect_min_usec = c.reconnect_min;
	out->reconnect_max_usec = c.reconnect_max;
	out->ack_timeout_usec = c.ack_timeout;
	out->ota_timeout_usec = c.ota_timeout;
	out->connect_timeout_usec = c.connect_timeout;
	out->max_payload = (size_t)c.max_payload;
	out->max_devices = (unsigned)c.discovery.max_devices;
	out->forget_usec = c.discovery.forget;
	out->unreachable_usec = c.unreachable_after;
	if ((r = avail_load(&c.availability, out)) < 0 || (r = auto_load(body, &c.discovery, out)) < 0)
		goto out;
	if (c.discovery.rules.n) {
		const struct rule_yaml *ry = c.discovery.rules.items;
		out->rules = calloc(c.discovery.rules.n, sizeof(*out->rules));
		if (!out->rules) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < c.discovery.rules.n; i++) {
			struct mqtt_rule *rl = &out->rules[out->nrules++];
			const char *const *req = ry[i].require.items;
			r = mqtt_template_parse(ry[i].topic, &rl->topic, why, sizeof(why));
			if (r < 0 || (r = sdup(&rl->profile, ry[i].profile)) < 0 ||
			    (r = sdup(&rl->prefix, ry[i].prefix)) < 0)
				goto out;
			if (ry[i].require.n && !(rl->require = calloc(ry[i].require.n, sizeof(char *)))) {
				r = -ENOMEM;
				goto out;
			}
			for (size_t j = 0; j < ry[i].require.n; j++, rl->nrequire++)
				if ((r = sdup(&rl->require[j], req[j])) < 0)
					goto out;
		}
	}
	r = 0;
out:
	schema_free(&conf_sec, &c);
	if (r < 0)
		mqtt_conf_clear(out);
	return r;
}

bool mqtt_host_is_numeric(const char *host)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}
