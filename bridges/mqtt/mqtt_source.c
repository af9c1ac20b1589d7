/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mqtt part of a profile: `source:`, `write:` and `execute:` nodes
 * (mapping_source_ops), and device addresses as capture bindings.
 *
 *   source:  { topic: "zigbee2mqtt/{device}", json: /temperature, time: /last_seen }
 *   source:  { topic: "shellies/{device}/relay/0", format: text }
 *   source:  { topic: "sensors/{device}/raw", format: raw, offset: 2 }   # + raw:/order:
 *   source:  { topic: "tele/{device}/SENSOR", template: "{{ value_json.ENERGY.Power }}" }
 *   write:   { topic: "zigbee2mqtt/{device}/set", payload: '{"state":"{value}"}', confirm: 5s }
 *   execute: { topic: "cmnd/{device}/Restart", payload: "1" }
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/mqtt_internal.h"
#include "common/schema.h"

struct src_yaml {
	const char *topic;
	int format;
	const char *json;
	const char *time;
	const char *tpl;
	uint64_t offset, length;
	const char *payload;
	uint64_t qos;
	bool retain;
	uint64_t confirm;
};

#define SY(f) offsetof(struct src_yaml, f)

static const struct schema_enum_word format_words[] = { { .word = "json", .value = MQTT_FORMAT_JSON },
							{ .word = "text", .value = MQTT_FORMAT_TEXT },
							{ .word = "raw", .value = MQTT_FORMAT_RAW },
							{ .word = "template", .value = MQTT_FORMAT_TEMPLATE },
							{ .word = NULL } };

static const struct schema_key read_keys[] = {
	{ .name = "topic", .kind = SCHEMA_STRING, .required = true, .offset = SY(topic), .max_len = 1024 },
	{ .name = "format", .kind = SCHEMA_ENUM, .offset = SY(format), .words = format_words },
	{ .name = "json", .kind = SCHEMA_STRING, .offset = SY(json), .max_len = 255 },
	{ .name = "time", .kind = SCHEMA_STRING, .offset = SY(time), .max_len = 255 },
	{ .name = "template", .kind = SCHEMA_STRING, .offset = SY(tpl), .max_len = 1024 },
	{ .name = "offset", .kind = SCHEMA_UINT, .offset = SY(offset), .umax = 1u << 20 },
	{ .name = "length", .kind = SCHEMA_UINT, .offset = SY(length), .umin = 1, .umax = 1u << 20 },
	{ .name = NULL },
};

static const struct schema_key write_keys[] = {
	{ .name = "topic", .kind = SCHEMA_STRING, .required = true, .offset = SY(topic), .max_len = 1024 },
	{ .name = "payload", .kind = SCHEMA_STRING, .offset = SY(payload), .max_len = 4096 },
	{ .name = "qos", .kind = SCHEMA_UINT, .offset = SY(qos), .umax = 2, .def_uint = 1 },
	{ .name = "retain", .kind = SCHEMA_BOOL, .offset = SY(retain) },
	{ .name = "confirm", .kind = SCHEMA_DURATION, .offset = SY(confirm), .umax = 60 * USEC_PER_SEC },
	{ .name = NULL },
};

static const struct schema_key execute_keys[] = {
	{ .name = "topic", .kind = SCHEMA_STRING, .required = true, .offset = SY(topic), .max_len = 1024 },
	{ .name = "payload", .kind = SCHEMA_STRING, .offset = SY(payload), .max_len = 4096 },
	{ .name = "qos", .kind = SCHEMA_UINT, .offset = SY(qos), .umax = 2, .def_uint = 1 },
	{ .name = "retain", .kind = SCHEMA_BOOL, .offset = SY(retain) },
	{ .name = NULL },
};

static const struct schema_section read_sec = { "mqtt source", sizeof(struct src_yaml), read_keys, NULL };
static const struct schema_section write_sec = { "mqtt write", sizeof(struct src_yaml), write_keys, NULL };
static const struct schema_section exec_sec = { "mqtt execute", sizeof(struct src_yaml), execute_keys, NULL };

static void src_free(void *p)
{
	struct mqtt_source *s = p;

	if (!s)
		return;
	mqtt_template_clear(&s->topic);
	free(s->pointer);
	free(s->time_pointer);
	free(s->payload);
	free(s->ota_base);
	mapping_template_free(s->tpl);
	free(s);
}

/* Where a key's value is, for messages: the key's node or the mapping. */
static const struct ynode *at(const struct ynode *node, const char *key)
{
	const struct ynode *v = ynode_map_get(node, key);
	return v ? v : node;
}

static bool pointer_ok(const char *p)
{
	if (*p == '\0')
		return true;
	if (*p != '/')
		return false;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return false;
	return true;
}

/* Placeholders of a payload template: {value} (write), {args} (execute) or
 * a capture of the topic. */
static int check_payload(const char *tmpl, enum mapping_role role, const struct mqtt_template *topic,
			 const struct ynode *n, struct diag *diag)
{
	for (const char *p = tmpl; *p; p++) {
		const char *e = p + 1;
		char name[MQTT_NAME_MAX + 2];
		size_t nl;
		if (*p != '{' || !((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || *e == '_'))
			continue;
		while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
		       *e == '_')
			e++;
		if (*e != '}')
			continue;
		nl = (size_t)(e - p - 1);
		if (nl <= MQTT_NAME_MAX) {
			memcpy(name, p + 1, nl);
			name[nl] = '\0';
			if (strcmp(name, role == MAPPING_ROLE_WRITE ? "value" : "args") == 0 ||
			    mqtt_template_has(topic, name))
				continue;
		}
		diag_report(diag, DIAG_ERROR, n->file, n->line, n->col,
			    "mqtt: unknown placeholder '%.*s' in payload (expected {%s} or a capture of the "
			    "topic "
			    "'%s')",
			    (int)(nl + 2), p, role == MAPPING_ROLE_WRITE ? "value" : "args", topic->src);
		return -EINVAL;
	}
	return 0;
}

static int src_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	const struct schema_section *sec = role == MAPPING_ROLE_READ    ? &read_sec
					   : role == MAPPING_ROLE_WRITE ? &write_sec
									: &exec_sec;
	struct src_yaml y = { 0 };
	struct mqtt_source *s = NULL;
	char why[200];
	int r, ret = 0;

	*out = NULL;
	if (!node)
		return 0; /* `writable: true`: refused by check(), which has the point */
	if (node->kind != YNODE_MAP) {
		diag_report(diag, DIAG_ERROR, node->file, node->line, node->col,
			    "mqtt: %s must be a mapping with a 'topic', got %s",
			    role == MAPPING_ROLE_READ    ? "source"
			    : role == MAPPING_ROLE_WRITE ? "write"
							 : "execute",
			    ynode_describe(node));
		return -EINVAL;
	}
	r = schema_parse(sec, node, &y, diag, NULL);
	if (r < 0) {
		schema_free(sec, &y);
		return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		schema_free(sec, &y);
		return -ENOMEM;
	}
	s->role = (uint8_t)role;
	r = mqtt_template_parse(y.topic, &s->topic, why, sizeof(why));
	if (r == -ENOMEM)
		goto nomem;
	if (r < 0) {
		const struct ynode *t = at(node, "topic");
		diag_report(diag, DIAG_ERROR, t->file, t->line, t->col, "mqtt: invalid topic '%s': %s",
			    y.topic, why);
		ret = -EINVAL;
	}
	if (role == MAPPING_ROLE_READ) {
		bool has_json = ynode_map_get(node, "json") != NULL, has_time = y.time != NULL;
		if (y.tpl && !ynode_map_get(node, "format"))
			y.format = MQTT_FORMAT_TEMPLATE; /* `template:` says the format */
		s->format = (uint8_t)y.format;
		if ((y.format == MQTT_FORMAT_TEMPLATE) != (y.tpl != NULL)) {
			const struct ynode *k = at(node, y.tpl ? "template" : "format");
			diag_report(
				diag, DIAG_ERROR, k->file, k->line, k->col,
				y.tpl ? "mqtt: 'template' needs format template (the format is %s)"
				      : "mqtt: format template needs a 'template: \"{{ value_json.x }}\"'%s",
				y.tpl ? format_words[y.format].word : "");
			ret = -EINVAL;
		} else if (y.tpl) {
			r = mapping_template_compile(y.tpl, &s->tpl, why, sizeof(why));
			if (r == -ENOMEM)
				goto nomem;
			if (r < 0) {
				const struct ynode *k = at(node, "template");
				diag_report(diag, DIAG_ERROR, k->file, k->line, k->col,
					    "mqtt: unsupported template '%s': %s", y.tpl, why);
				ret = -EINVAL;
			}
		}
		if (y.format != MQTT_FORMAT_JSON && (has_json || has_time)) {
			const struct ynode *k = at(node, has_json ? "json" : "time");
			diag_report(diag, DIAG_ERROR, k->file, k->line, k->col,
				    "mqtt: '%s' needs format json (the format is %s)",
				    has_json ? "json" : "time", format_words[y.format].word);
			ret = -EINVAL;
		}
		if (y.format != MQTT_FORMAT_RAW &&
		    (ynode_map_get(node, "offset") || ynode_map_get(node, "length"))) {
			const struct ynode *k = at(node, ynode_map_get(node, "offset") ? "offset" : "length");
			diag_report(diag, DIAG_ERROR, k->file, k->line, k->col,
				    "mqtt: 'offset' and 'length' need format raw (the format is %s)",
				    format_words[y.format].word);
			ret = -EINVAL;
		}
		if (y.json && !pointer_ok(y.json)) {
			const struct ynode *k = at(node, "json");
			diag_report(diag, DIAG_ERROR, k->file, k->line, k->col,
				    "mqtt: invalid JSON pointer '%s' (RFC 6901: empty, or '/'-separated keys "
				    "with ~0 "
				    "for '~' and ~1 for '/', e.g. /temperature or /ENERGY/Power)",
				    y.json);
			ret = -EINVAL;
		}
		if (y.time && !pointer_ok(y.time)) {
			const struct ynode *k = at(node, "time");
			diag_report(diag, DIAG_ERROR, k->file, k->line, k->col,
				    "mqtt: invalid JSON pointer '%s' for time (e.g. /last_seen)", y.time);
			ret = -EINVAL;
		}
		s->offset = (uint32_t)y.offset;
		s->length = (uint32_t)y.length;
		if ((y.json && !(s->pointer = strdup(y.json))) ||
		    (y.time && !(s->time_pointer = strdup(y.time))))
			goto nomem;
	} else {
		const char *def = role == MAPPING_ROLE_WRITE ? "{value}" : "{args}";
		s->qos = (uint8_t)y.qos;
		s->retain = y.retain;
		s->confirm_usec = y.confirm;
		if (!(s->payload = strdup(y.payload ? y.payload : def)))
			goto nomem;
		if (ret == 0 && check_payload(s->payload, role, &s->topic, at(node, "payload"), diag) < 0)
			ret = -EINVAL;
	}
	schema_free(sec, &y);
	if (ret < 0) {
		src_free(s);
		return ret;
	}
	*out = s;
	return 0;
nomem:
	schema_free(sec, &y);
	src_free(s);
	return -ENOMEM;
}

static int src_check(const struct mapping_point *pt, struct diag *diag)
{
	const struct mqtt_source *src = pt->source, *w = pt->write;
	char ps[32];

	lwm2m_path_format(&pt->path, ps);
	if (pt->writable && !w) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "mqtt: %s is writable but has no 'write: {topic: ...}' (an MQTT state topic is "
			    "not a command topic)",
			    ps);
		return -EINVAL;
	}
	if (w && w->confirm_usec && !src) {
		diag_report(
			diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			"mqtt: %s: 'confirm' waits for the state echo on the point's source, but it has no "
			"'source'",
			ps);
		return -EINVAL;
	}
	if (src && src->format == MQTT_FORMAT_RAW && pt->xf.raw == MAPPING_RAW_VALUE) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "mqtt: %s: format raw needs a byte layout ('raw: int16', 'float32', 'string'...)",
			    ps);
		return -EINVAL;
	}
	if (src && src->format != MQTT_FORMAT_RAW && pt->xf.raw != MAPPING_RAW_VALUE) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "mqtt: %s: 'raw: %s' needs 'format: raw' in the source (JSON and text values are "
			    "typed: leave raw out)",
			    ps, mapping_raw_name(pt->xf.raw));
		return -EINVAL;
	}
	return 0;
}

/* `firmware: zigbee2mqtt` (base topic zigbee2mqtt) or
 * `firmware: zigbee2mqtt:<base topic>`: Object 5 through zigbee2mqtt's OTA
 * requests (z2m_ota.c). */
int mqtt_firmware_source(const char *what, enum mapping_role role, uint16_t rid, void **out, char *why,
			 size_t why_size)
{
	static const char word[] = "zigbee2mqtt";
	const char *base = "zigbee2mqtt";
	char topic[512], twhy[160];
	struct mqtt_source *s;
	int r;

	*out = NULL;
	if (strncmp(what, word, sizeof(word) - 1) != 0 ||
	    (what[sizeof(word) - 1] && what[sizeof(word) - 1] != ':')) {
		snprintf(why, why_size,
			 "mqtt bridges update firmware through 'zigbee2mqtt' (base topic zigbee2mqtt) or "
			 "'zigbee2mqtt:<base topic>'");
		return -EINVAL;
	}
	if (what[sizeof(word) - 1] == ':')
		base = what + sizeof(word);
	if (!*base || strpbrk(base, "+#{}") || base[0] == '/' || base[strlen(base) - 1] == '/' ||
	    strlen(base) > 200) {
		snprintf(why, why_size,
			 "base topic '%s' must be 1..200 characters without '+', '#', '{', '}' or a leading "
			 "or trailing '/' (e.g. 'zigbee2mqtt')",
			 base);
		return -EINVAL;
	}
	if (role == MAPPING_ROLE_READ)
		snprintf(topic, sizeof(topic), "%s/{device}", base);
	else
		snprintf(topic, sizeof(topic), "%s/bridge/request/device/ota_update/%s", base,
			 rid == 2 ? "update" : "check");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->role = (uint8_t)role;
	s->ota = true;
	s->ota_rid = rid;
	s->format = MQTT_FORMAT_JSON;
	s->qos = 1;
	r = mqtt_template_parse(topic, &s->topic, twhy, sizeof(twhy));
	if (r < 0) {
		snprintf(why, why_size, "base topic '%s': %s", base, twhy);
		src_free(s);
		return r;
	}
	if (!(s->pointer = strdup("")) || !(s->ota_base = strdup(base))) {
		src_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

const struct mapping_source_ops mqtt_source_ops = {
	.kind = "mqtt",
	.parse = src_parse,
	.free = src_free,
	.check = src_check,
	.firmware = mqtt_firmware_source,
};

int mqtt_address_binding(const struct ynode *a, struct mqtt_binding *out, char *why, size_t why_size)
{
	out->n = 0;
	if (!a) {
		snprintf(why, why_size, "missing address (the value of the topic's {device})");
		return -EINVAL;
	}
	if (a->kind == YNODE_SCALAR) {
		if (a->scalar.len == 0 || strlen(a->scalar.str) != a->scalar.len) {
			snprintf(why, why_size, "the address must be a non-empty topic level");
			return -EINVAL;
		}
		out->v[0].name = "device";
		out->v[0].value = a->scalar.str;
		out->v[0].len = a->scalar.len;
		out->n = 1;
	} else if (a->kind == YNODE_MAP) {
		if (a->map.n == 0 || a->map.n > MQTT_TEMPLATE_MAX_CAPTURES) {
			snprintf(why, why_size, "an address mapping binds 1 to %d captures",
				 MQTT_TEMPLATE_MAX_CAPTURES);
			return -EINVAL;
		}
		for (size_t i = 0; i < a->map.n; i++) {
			const struct ynode *k = ynode_map_key(a, i), *v = ynode_map_value(a, i);
			if (v->kind != YNODE_SCALAR || v->scalar.len == 0) {
				snprintf(why, why_size, "capture '%s' needs a scalar value, got %s",
					 k->scalar.str, ynode_describe(v));
				return -EINVAL;
			}
			out->v[i].name = k->scalar.str;
			out->v[i].value = v->scalar.str;
			out->v[i].len = v->scalar.len;
			out->n++;
		}
	} else {
		snprintf(why, why_size,
			 "the address is the topic's {device} value (a scalar) or a mapping of captures "
			 "(e.g. {device: plug-1, channel: 0}), got %s",
			 ynode_describe(a));
		return -EINVAL;
	}
	for (size_t i = 0; i < out->n; i++) {
		const char *v = out->v[i].value;
		for (size_t j = 0; j < out->v[i].len; j++)
			if (v[j] == '/' || v[j] == '+' || v[j] == '#' || v[j] == '\0') {
				snprintf(
					why, why_size,
					"'%s' cannot be a topic level (no '/', '+', '#'): it is the value of "
					"{%s}",
					v, out->v[i].name);
				return -EINVAL;
			}
	}
	return 0;
}
