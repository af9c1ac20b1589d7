/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule table of the automatic mappings (zigbee2mqtt exposes, Home
 * Assistant discovery): what a field value is — a zigbee2mqtt feature by
 * its name, unit and the composite it is in; a Home Assistant entity by
 * its component, device_class and unit — and the LwM2M resource each kind
 * becomes. Data only: a value none of these rows describes gets no
 * resource (the generator skips and reports it), so adding a mapping is
 * adding a row. docs/mqtt.md lists the table for users.
 *
 * Also the small text builder the generators write profiles with.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bridges/mqtt/mqtt_auto.h"

/* ---- kinds: the LwM2M side ---------------------------------------------------------- */

/* Sensor values go to the IPSO object of their quantity (Sensor Value
 * 5700, the field's unit in 5701); battery level and voltage are the
 * Device object's (9 Battery Level %, 7 Power Source Voltage mV); booleans
 * to Presence (3302) or the On/Off switch's Digital Input State (3342);
 * what can be switched to Power Control (3312) or Light Control (3311, with
 * Dimmer 5851 in % for a brightness); settable numbers to Set Point 3308;
 * settable booleans that are settings to Actuation 3306's On/Off; enums to
 * Actuation's Multi-state Output 5853, the IPSO resource for a named state
 * (the registry has no read-only one). */
const struct auto_kind auto_kinds[] = {
	{ "temperature", 3303, 5700, -1, NULL, 0 },
	{ "humidity", 3304, 5700, -1, NULL, 0 },
	{ "illuminance", 3301, 5700, -1, NULL, 0 },
	{ "pressure", 3315, 5700, -1, NULL, 0 },
	{ "power", 3328, 5700, -1, "W", 0 },
	{ "energy", 3331, 5700, -1, NULL, 0 },
	{ "voltage", 3316, 5700, -1, "V", 0 },
	{ "current", 3317, 5700, -1, "A", 0 },
	{ "frequency", 3318, 5700, -1, "Hz", 0 },
	{ "power_factor", 3329, 5700, -1, NULL, 0 },
	{ "concentration", 3325, 5700, -1, NULL, 0 },
	{ "battery", 3, 9, -1, "%", AUTO_ROUND },
	{ "battery_voltage", 3, 7, 0, "mV", AUTO_ROUND },
	{ "presence", 3302, 5500, -1, NULL, AUTO_WORDS },
	{ "binary", 3342, 5500, -1, NULL, AUTO_WORDS },
	{ "switch", 3312, 5850, -1, NULL, AUTO_WORDS | AUTO_WRITE },
	{ "light", 3311, 5850, -1, NULL, AUTO_WORDS | AUTO_WRITE },
	{ "brightness", 3311, 5851, -1, NULL, AUTO_ROUND | AUTO_WRITE },
	{ "setpoint", 3308, 5900, -1, NULL, AUTO_WRITE },
	{ "setting", 3306, 5850, -1, NULL, AUTO_WORDS | AUTO_WRITE },
	{ "multistate", 3306, 5853, -1, NULL, AUTO_WRITE },
	{ NULL, 0, 0, 0, NULL, 0 },
};

static const struct auto_kind *kind_named(const char *name)
{
	for (const struct auto_kind *k = auto_kinds; k->kind; k++)
		if (strcmp(k->kind, name) == 0)
			return k;
	return NULL;
}

/* ---- zigbee2mqtt features ------------------------------------------------------------- */

#define ANY   NULL
#define TOP   "" /* not inside a composite */
#define NOSET 0
#define SET   1

struct z2m_rule {
	const char *parent; /* the composite ("switch", "light"...), TOP, or ANY */
	const char *type;   /* numeric, binary, enum */
	const char *name;   /* the feature name, or ANY */
	const char *unit;   /* the unit it must have, or ANY */
	int settable;       /* -1 any, NOSET, SET: must (not) be settable */
	const char *kind;
};

/* First match wins. */
static const struct z2m_rule z2m_rules[] = {
	{ ANY, "numeric", "temperature", "°C", -1, "temperature" },
	{ ANY, "numeric", "local_temperature", "°C", -1, "temperature" },
	{ ANY, "numeric", "device_temperature", "°C", -1, "temperature" },
	{ ANY, "numeric", "humidity", "%", -1, "humidity" },
	{ ANY, "numeric", "illuminance", "lx", -1, "illuminance" },
	{ ANY, "numeric", "illuminance_lux", "lx", -1, "illuminance" },
	{ ANY, "numeric", "pressure", "hPa", -1, "pressure" },
	{ ANY, "numeric", "power", "W", -1, "power" },
	{ ANY, "numeric", "energy", "kWh", -1, "energy" },
	{ ANY, "numeric", "produced_energy", "kWh", -1, "energy" },
	{ ANY, "numeric", "voltage", "V", -1, "voltage" },
	{ ANY, "numeric", "voltage", "mV", -1, "battery_voltage" },
	{ ANY, "numeric", "current", "A", -1, "current" },
	{ ANY, "numeric", "ac_frequency", "Hz", -1, "frequency" },
	{ ANY, "numeric", "power_factor", ANY, -1, "power_factor" },
	{ ANY, "numeric", "co2", "ppm", -1, "concentration" },
	{ ANY, "numeric", "eco2", "ppm", -1, "concentration" },
	{ ANY, "numeric", "co", "ppm", -1, "concentration" },
	{ ANY, "numeric", "voc", ANY, -1, "concentration" },
	{ ANY, "numeric", "pm25", "µg/m³", -1, "concentration" },
	{ ANY, "numeric", "pm10", "µg/m³", -1, "concentration" },
	{ ANY, "numeric", "formaldehyd", ANY, -1, "concentration" },
	{ ANY, "numeric", "battery", "%", -1, "battery" },
	{ ANY, "numeric", "occupied_heating_setpoint", "°C", SET, "setpoint" },
	{ ANY, "numeric", "current_heating_setpoint", "°C", SET, "setpoint" },
	{ "light", "numeric", "brightness", ANY, SET, "brightness" },
	{ "switch", "binary", "state", ANY, -1, "switch" },
	{ "light", "binary", "state", ANY, -1, "light" },
	{ ANY, "binary", "occupancy", ANY, NOSET, "presence" },
	{ ANY, "binary", "presence", ANY, NOSET, "presence" },
	{ ANY, "binary", "contact", ANY, NOSET, "binary" },
	{ ANY, "binary", "water_leak", ANY, NOSET, "binary" },
	{ ANY, "binary", "smoke", ANY, NOSET, "binary" },
	{ ANY, "binary", "gas", ANY, NOSET, "binary" },
	{ ANY, "binary", "carbon_monoxide", ANY, NOSET, "binary" },
	{ ANY, "binary", "tamper", ANY, NOSET, "binary" },
	{ ANY, "binary", "vibration", ANY, NOSET, "binary" },
	{ ANY, "binary", "battery_low", ANY, NOSET, "binary" },
	/* Settings a server may change: a settable boolean outside a
	 * light/switch/lock/cover, any enum. */
	{ TOP, "binary", ANY, ANY, SET, "setting" },
	{ ANY, "enum", ANY, ANY, -1, "multistate" },
};

static bool eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

const struct auto_kind *auto_z2m_kind(const char *type, const char *name, const char *unit,
				      const char *parent, bool settable)
{
	for (size_t i = 0; i < sizeof(z2m_rules) / sizeof(z2m_rules[0]); i++) {
		const struct z2m_rule *r = &z2m_rules[i];
		if (!eq(r->type, type) || (r->name && !eq(r->name, name)) || (r->unit && !eq(r->unit, unit)))
			continue;
		if (r->parent && !eq(r->parent, parent ? parent : TOP))
			continue;
		if (r->settable >= 0 && r->settable != (settable ? SET : NOSET))
			continue;
		return kind_named(r->kind);
	}
	return NULL;
}

/* ---- Home Assistant entities -------------------------------------------------------- */

struct ha_rule {
	const char *component;
	const char *device_class; /* ANY: also none */
	const char *unit;
	const char *kind;
};

static const struct ha_rule ha_rules[] = {
	{ "sensor", "temperature", ANY, "temperature" },
	{ "sensor", "humidity", ANY, "humidity" },
	{ "sensor", "moisture", "%", "humidity" },
	{ "sensor", "illuminance", ANY, "illuminance" },
	{ "sensor", "pressure", ANY, "pressure" },
	{ "sensor", "atmospheric_pressure", ANY, "pressure" },
	{ "sensor", "power", "W", "power" },
	{ "sensor", "energy", ANY, "energy" },
	{ "sensor", "voltage", "V", "voltage" },
	{ "sensor", "voltage", "mV", "battery_voltage" },
	{ "sensor", "current", "A", "current" },
	{ "sensor", "frequency", "Hz", "frequency" },
	{ "sensor", "power_factor", ANY, "power_factor" },
	{ "sensor", "carbon_dioxide", ANY, "concentration" },
	{ "sensor", "carbon_monoxide", ANY, "concentration" },
	{ "sensor", "volatile_organic_compounds", ANY, "concentration" },
	{ "sensor", "volatile_organic_compounds_parts", ANY, "concentration" },
	{ "sensor", "pm1", ANY, "concentration" },
	{ "sensor", "pm25", ANY, "concentration" },
	{ "sensor", "pm10", ANY, "concentration" },
	{ "sensor", "nitrogen_dioxide", ANY, "concentration" },
	{ "sensor", "ozone", ANY, "concentration" },
	{ "sensor", "battery", "%", "battery" },
	{ "binary_sensor", "occupancy", ANY, "presence" },
	{ "binary_sensor", "motion", ANY, "presence" },
	{ "binary_sensor", "presence", ANY, "presence" },
	{ "binary_sensor", ANY, ANY, "binary" },
	{ "switch", ANY, ANY, "switch" },
	{ "light", ANY, ANY, "light" },
	{ "number", ANY, ANY, "setpoint" },
};

/* A sensor without device_class, told by its unit alone. */
static const struct ha_rule ha_unit_rules[] = {
	{ "sensor", NULL, "°C", "temperature" }, { "sensor", NULL, "°F", "temperature" },
	{ "sensor", NULL, "lx", "illuminance" }, { "sensor", NULL, "hPa", "pressure" },
	{ "sensor", NULL, "W", "power" },        { "sensor", NULL, "kWh", "energy" },
	{ "sensor", NULL, "Wh", "energy" },      { "sensor", NULL, "V", "voltage" },
	{ "sensor", NULL, "A", "current" },      { "sensor", NULL, "ppm", "concentration" },
	{ "sensor", NULL, "Hz", "frequency" },
};

const struct auto_kind *auto_ha_kind(const char *component, const char *device_class, const char *unit)
{
	for (size_t i = 0; i < sizeof(ha_rules) / sizeof(ha_rules[0]); i++) {
		const struct ha_rule *r = &ha_rules[i];
		if (!eq(r->component, component) || (r->device_class && !eq(r->device_class, device_class)) ||
		    (r->unit && !eq(r->unit, unit)))
			continue;
		return kind_named(r->kind);
	}
	if (device_class)
		return NULL; /* a class the table does not know: not guessed from the unit */
	for (size_t i = 0; i < sizeof(ha_unit_rules) / sizeof(ha_unit_rules[0]); i++)
		if (eq(ha_unit_rules[i].component, component) && eq(ha_unit_rules[i].unit, unit))
			return kind_named(ha_unit_rules[i].kind);
	return NULL;
}

/* SenML names (RFC 8428, the registry's units) where the field's unit has one. */
const char *auto_unit_text(const struct auto_kind *k, const char *unit)
{
	static const struct {
		const char *field, *senml;
	} units[] = {
		{ "°C", "Cel" }, { "µg/m³", "ug/m3" }, { "m³", "m3" }, { "VAR", "var" }, { "VA", "VA" }
	};

	if (!unit || !*unit)
		return NULL;
	if (k && strcmp(k->kind, "humidity") == 0 && strcmp(unit, "%") == 0)
		return "%RH";
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(units[i].field, unit) == 0)
			return units[i].senml;
	return unit;
}

int auto_next_instance(struct auto_instances *ins, uint16_t oid)
{
	for (size_t i = 0; i < ins->n; i++)
		if (ins->v[i].oid == oid)
			return ins->v[i].next++;
	if (ins->n >= sizeof(ins->v) / sizeof(ins->v[0]))
		return -ENOSPC;
	ins->v[ins->n].oid = oid;
	ins->v[ins->n].next = 1;
	ins->n++;
	return 0;
}

/* ---- a resource ---------------------------------------------------------------------------- */

static void at_str(struct auto_text *t, const char *s)
{
	at_quoted(t, s, strlen(s));
}

void auto_emit_const(struct auto_text *t, uint16_t rid, const char *text)
{
	at_printf(t, "    %u: { const: ", rid);
	at_str(t, text);
	at_printf(t, " }\n");
}

void auto_emit_point(struct auto_text *t, const struct auto_point *p)
{
	const struct auto_kind *k = p->kind;

	if (k->riid >= 0)
		at_printf(t, "    %u/%d:\n", p->rid ? p->rid : k->rid, k->riid);
	else
		at_printf(t, "    %u:\n", p->rid ? p->rid : k->rid);
	at_printf(t, "      source: { topic: ");
	at_str(t, p->topic);
	if (p->tpl) {
		at_printf(t, ", template: ");
		at_str(t, p->tpl);
	} else if (p->pointer) {
		at_printf(t, ", json: ");
		at_str(t, p->pointer);
	} else
		at_printf(t, ", format: text");
	if (p->time && !p->tpl && p->pointer) {
		at_printf(t, ", time: ");
		at_str(t, p->time);
	}
	at_printf(t, " }\n");
	if (p->on) {
		at_printf(t, "      true_words: [");
		at_str(t, p->on);
		at_printf(t, "]\n      false_words: [");
		at_str(t, p->off);
		at_printf(t, "]\n");
	}
	if (p->scale != 0)
		at_printf(t, "      scale: %.17g\n", p->scale);
	if (p->round || (k->opts & AUTO_ROUND))
		at_printf(t, "      round: nearest\n");
	if (p->has_min)
		at_printf(t, "      min: %.17g\n", p->min);
	if (p->has_max)
		at_printf(t, "      max: %.17g\n", p->max);
	if (p->enums && p->nenums) {
		at_printf(t, "      enum: {");
		for (size_t i = 0; i < p->nenums; i++) {
			at_printf(t, "%s", i ? ", " : " ");
			at_str(t, p->enums[i]);
			at_printf(t, ": ");
			at_str(t, p->enums[i]);
		}
		at_printf(t, " }\n");
	}
	if (p->cmd_topic) {
		at_printf(t, "      write: { topic: ");
		at_str(t, p->cmd_topic);
		at_printf(t, ", payload: ");
		at_str(t, p->cmd_payload ? p->cmd_payload : "{value}");
		at_printf(t, "%s }\n", p->confirm ? ", confirm: 5s" : "");
	}
}

int auto_finish(struct auto_gen *G, const char *header, const char *description,
		const struct auto_identity *id, const char *device, const char *address, const char *kind,
		struct auto_profile *out)
{
	struct auto_text t = { 0 };
	int r = -ENOMEM;

	*out = (struct auto_profile){ 0 };
	at_printf(&t, "%s", header);
	if (G->nskipped)
		at_printf(&t, "# Not mapped (each with the reason): %s\n", G->skipped.buf);
	at_printf(&t, "description: ");
	at_str(&t, description);
	at_printf(&t, "\nbridge: mqtt\n");
	if (id->update) {
		at_printf(&t, "firmware: ");
		at_str(&t, id->update);
		at_printf(&t, "\n");
	}
	at_printf(&t, "objects:\n  /3/0:\n");
	if (id->manufacturer && *id->manufacturer)
		auto_emit_const(&t, 0, id->manufacturer);
	if (id->model && *id->model)
		auto_emit_const(&t, 1, id->model);
	if (id->serial && *id->serial)
		auto_emit_const(&t, 2, id->serial);
	else
		at_printf(&t, "    2: { device: serial }\n");
	if (id->firmware && *id->firmware)
		auto_emit_const(&t, 3, id->firmware);
	if (id->type && *id->type)
		auto_emit_const(&t, 17, id->type);
	if (G->dev3.buf)
		at_printf(&t, "%s", G->dev3.buf);
	if (G->objs.buf)
		at_printf(&t, "%s", G->objs.buf);
	if (t.oom || G->dev3.oom || G->objs.oom || G->skipped.oom)
		goto out;
	out->text = t.buf;
	out->len = t.len;
	t.buf = NULL;
	out->mapped = G->mapped;
	out->nskipped = G->nskipped;
	out->device = strdup(device);
	out->address = strdup(address);
	out->skipped = strdup(G->skipped.buf ? G->skipped.buf : "");
	if (!out->device || !out->address || !out->skipped || auto_profile_name(out, kind, id->model) < 0) {
		auto_profile_clear(out);
		goto out;
	}
	r = 0;
out:
	at_free(&t);
	at_free(&G->dev3);
	at_free(&G->objs);
	at_free(&G->skipped);
	return r;
}

/* ---- text ------------------------------------------------------------------------------ */

static bool grow(struct auto_text *t, size_t more)
{
	char *nb;
	size_t cap;

	if (t->oom)
		return false;
	if (t->len + more + 1 <= t->cap)
		return true;
	cap = t->cap ? t->cap : 1024;
	while (cap < t->len + more + 1)
		cap *= 2;
	nb = realloc(t->buf, cap);
	if (!nb) {
		t->oom = true;
		return false;
	}
	t->buf = nb;
	t->cap = cap;
	return true;
}

void at_printf(struct auto_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void at_quoted(struct auto_text *t, const char *s, size_t n)
{
	at_printf(t, "\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			at_printf(t, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			at_printf(t, "\\x%02x", c);
		else if (grow(t, 1)) {
			t->buf[t->len++] = (char)c;
			t->buf[t->len] = '\0';
		}
	}
	at_printf(t, "\"");
}

void at_free(struct auto_text *t)
{
	free(t->buf);
	*t = (struct auto_text){ 0 };
}

void auto_profile_clear(struct auto_profile *p)
{
	free(p->name);
	free(p->text);
	free(p->device);
	free(p->address);
	free(p->skipped);
	*p = (struct auto_profile){ 0 };
}

int auto_profile_name(struct auto_profile *p, const char *kind, const char *model)
{
	uint32_t h = 2166136261u; /* FNV-1a of the text */
	char clean[48];
	size_t n = 0;

	for (size_t i = 0; i < p->len; i++)
		h = (h ^ (uint8_t)p->text[i]) * 16777619u;
	for (const char *s = model ? model : ""; *s && n + 1 < sizeof(clean); s++)
		clean[n++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
					     (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'
				     ? *s
				     : '_';
	clean[n] = '\0';
	free(p->name);
	if (asprintf(&p->name, "%s-%s%s%08x", kind, clean, n ? "-" : "", h) < 0) {
		p->name = NULL;
		return -ENOMEM;
	}
	return 0;
}

const char *auto_jstr(struct json_object *o, const char *key)
{
	struct json_object *v = auto_jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

struct json_object *auto_jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}
