/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Home Assistant MQTT discovery without profiles. ESPHome, Tasmota,
 * Shelly, OpenMQTTGateway, zigbee2mqtt and Z-Wave JS UI publish, retained,
 * one configuration per entity on <prefix>/<component>/[<node_id>/]
 * <object_id>/config: its state topic, value_template, device_class, unit,
 * command topic and payloads, and a device block whose identifiers group
 * entities into one device. The entities of one device become one LwM2M
 * device; the rule table (auto_rules.c) picks each entity's object from
 * its component, device_class and unit. Components are sensor,
 * binary_sensor, switch, number and light (on/off and brightness, default
 * and json schemas); value templates are evaluated by mappings/template.c.
 * Anything else — another component, a template outside the supported
 * forms, a command template other than {{ value }} — is skipped and
 * reported, never guessed.
 *
 * Abbreviated keys (stat_t, dev_cla, ...) are expanded with Home
 * Assistant's own table (homeassistant/components/mqtt/abbreviations.py,
 * the keys read here), and `~` in a topic is the configuration's base
 * topic, as Home Assistant does.
 *
 * Configurations arrive one message per entity: a device's profile is
 * made once its entities have been quiet for `settle` (default 2 s), and
 * made again (the device registers again) when an entity is added,
 * changed or removed (an empty retained configuration) later.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bridges/mqtt/mqtt_auto.h"
#include "common/log.h"

#define HA_MAX_ENTITIES 64

/* ---- one entity's configuration ------------------------------------------------------ */

static const struct {
	const char *abbr, *full;
} entity_abbr[] = {
	{ "avty_t", "availability_topic" },
	{ "bri_cmd_t", "brightness_command_topic" },
	{ "bri_cmd_tpl", "brightness_command_template" },
	{ "bri_scl", "brightness_scale" },
	{ "bri_stat_t", "brightness_state_topic" },
	{ "bri_val_tpl", "brightness_value_template" },
	{ "cmd_t", "command_topic" },
	{ "cmd_tpl", "command_template" },
	{ "dev", "device" },
	{ "dev_cla", "device_class" },
	{ "ent_cat", "entity_category" },
	{ "json_attr_t", "json_attributes_topic" },
	{ "obj_id", "object_id" },
	{ "pl_avail", "payload_available" },
	{ "pl_not_avail", "payload_not_available" },
	{ "pl_off", "payload_off" },
	{ "pl_on", "payload_on" },
	{ "ret", "retain" },
	{ "stat_off", "state_off" },
	{ "stat_on", "state_on" },
	{ "stat_t", "state_topic" },
	{ "stat_val_tpl", "state_value_template" },
	{ "uniq_id", "unique_id" },
	{ "unit_of_meas", "unit_of_measurement" },
	{ "val_tpl", "value_template" },
};

static const struct {
	const char *abbr, *full;
} device_abbr[] = {
	{ "cns", "connections" }, { "ids", "identifiers" }, { "mf", "manufacturer" },  { "mdl", "model" },
	{ "sw", "sw_version" },   { "hw", "hw_version" },   { "sn", "serial_number" },
};

struct ha_entity {
	char component[32];
	char *topic;             /* its discovery topic */
	char *device_id;         /* what groups it with others */
	struct json_object *cfg; /* keys expanded, `~` applied */
};

static const char *expand(const char *key, bool device)
{
	size_t n = device ? sizeof(device_abbr) / sizeof(device_abbr[0])
			  : sizeof(entity_abbr) / sizeof(entity_abbr[0]);

	for (size_t i = 0; i < n; i++) {
		const char *a = device ? device_abbr[i].abbr : entity_abbr[i].abbr;
		if (strcmp(a, key) == 0)
			return device ? device_abbr[i].full : entity_abbr[i].full;
	}
	return key;
}

static struct json_object *expanded(struct json_object *o, bool device)
{
	struct json_object *out = json_object_new_object();

	if (!out)
		return NULL;
	json_object_object_foreach(o, k, v)
	{
		const char *full = expand(k, device);
		struct json_object *val = NULL;
		if (!device && strcmp(full, "device") == 0 && json_object_is_type(v, json_type_object))
			val = expanded(v, true);
		else if (v)
			val = json_object_get(v);
		if (json_object_object_add(out, full, val) < 0) {
			json_object_put(val);
			json_object_put(out);
			return NULL;
		}
	}
	return out;
}

/* Home Assistant's `~`: a topic value starting or ending with it has the
 * base there. */
static int apply_base(struct json_object *cfg)
{
	const char *base = auto_jstr(cfg, "~");
	size_t bl;

	if (!base)
		return 0;
	bl = strlen(base);
	json_object_object_foreach(cfg, k, v)
	{
		size_t kl = strlen(k), vl;
		const char *s;
		char *t;
		if (kl < 6 || strcmp(k + kl - 6, "_topic") != 0 || !json_object_is_type(v, json_type_string))
			continue;
		s = json_object_get_string(v);
		vl = strlen(s);
		if (vl == 0 || (s[0] != '~' && s[vl - 1] != '~'))
			continue;
		t = malloc(vl + bl);
		if (!t)
			return -ENOMEM;
		if (s[0] == '~')
			snprintf(t, vl + bl, "%s%s", base, s + 1);
		else
			snprintf(t, vl + bl, "%.*s%s", (int)(vl - 1), s, base);
		json_object_set_string(v, t);
		free(t);
	}
	return 0;
}

bool ha_topic_parse(const struct ha_conf *c, const char *topic, size_t len, char *component, size_t csize,
		    char *object, size_t osize)
{
	size_t pl = strlen(c->prefix);
	const char *p, *end = topic + len, *slash;
	size_t levels = 0;

	if (len < pl + 8 || memcmp(topic, c->prefix, pl) != 0 || topic[pl] != '/' || len < 7 ||
	    memcmp(end - 7, "/config", 7) != 0)
		return false;
	p = topic + pl + 1;
	slash = memchr(p, '/', (size_t)(end - p));
	if (!slash || (size_t)(slash - p) >= csize || slash == p)
		return false;
	memcpy(component, p, (size_t)(slash - p));
	component[slash - p] = '\0';
	/* [<node_id>/]<object_id>: one or two levels before /config */
	p = slash + 1;
	for (const char *q = p; q < end - 7; q++)
		levels += *q == '/';
	if (levels > 1 || end - 7 <= p || (size_t)(end - 7 - p) >= osize)
		return false;
	memcpy(object, p, (size_t)(end - 7 - p));
	object[end - 7 - p] = '\0';
	return true;
}

int ha_entity_parse(const char *component, const char *topic, const uint8_t *payload, size_t len,
		    struct ha_entity **out)
{
	struct mqtt_payload pl;
	struct json_object *doc, *dev, *ids, *cns;
	struct ha_entity *e;
	const char *id = NULL, *uid;
	char cbuf[200] = "";
	int r;

	*out = NULL;
	mqtt_payload_init(&pl, payload, len);
	r = mqtt_payload_json(&pl, &doc);
	if (r < 0 || !json_object_is_type(doc, json_type_object)) {
		mqtt_payload_clear(&pl);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->topic = strdup(topic)) || !(e->cfg = expanded(doc, false)) || apply_base(e->cfg) < 0) {
		mqtt_payload_clear(&pl);
		ha_entity_free(e);
		return -ENOMEM;
	}
	mqtt_payload_clear(&pl);
	snprintf(e->component, sizeof(e->component), "%s", component);
	dev = auto_jget(e->cfg, "device");
	ids = auto_jget(dev, "identifiers");
	cns = auto_jget(dev, "connections");
	if (ids && json_object_is_type(ids, json_type_string))
		id = json_object_get_string(ids);
	else if (ids && json_object_is_type(ids, json_type_array) && json_object_array_length(ids) > 0 &&
		 json_object_is_type(json_object_array_get_idx(ids, 0), json_type_string))
		id = json_object_get_string(json_object_array_get_idx(ids, 0));
	else if (cns && json_object_is_type(cns, json_type_array) && json_object_array_length(cns) > 0) {
		struct json_object *c0 = json_object_array_get_idx(cns, 0);
		if (json_object_is_type(c0, json_type_array) && json_object_array_length(c0) == 2) {
			snprintf(cbuf, sizeof(cbuf), "%s_%s",
				 json_object_get_string(json_object_array_get_idx(c0, 0)),
				 json_object_get_string(json_object_array_get_idx(c0, 1)));
			id = cbuf;
		}
	}
	uid = auto_jstr(e->cfg, "unique_id");
	e->device_id = strdup(id && *id ? id : uid && *uid ? uid : topic);
	if (!e->device_id) {
		ha_entity_free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

struct ha_entity *ha_entity_free(struct ha_entity *e)
{
	if (!e)
		return NULL;
	json_object_put(e->cfg);
	free(e->topic);
	free(e->device_id);
	free(e);
	return NULL;
}

const char *ha_entity_device_id(const struct ha_entity *e)
{
	return e->device_id;
}

/* ---- the profile of a device's entities ----------------------------------------------- */

struct gen {
	struct auto_gen g;
};

static void skip(struct gen *G, const struct ha_entity *e, const char *why)
{
	const char *name = auto_jstr(e->cfg, "unique_id") ? auto_jstr(e->cfg, "unique_id") : e->topic;

	at_printf(&G->g.skipped, "%s%s %s (%s)", G->g.nskipped ? ", " : "", e->component, name, why);
	G->g.nskipped++;
}

/* A payload_on/off as Home Assistant compares it: its configuration
 * turns every value into text as Python prints it (True, 1, 1.5). */
static const char *word(struct json_object *v, const char *def, char *buf, size_t size)
{
	struct mapping_tval t = { 0 };

	if (!v)
		return def;
	switch (json_object_get_type(v)) {
	case json_type_string:
		return json_object_get_string(v);
	case json_type_boolean:
		t.kind = MAPPING_TVAL_BOOL;
		t.b = json_object_get_boolean(v);
		break;
	case json_type_int:
		t.kind = MAPPING_TVAL_INT;
		t.i = json_object_get_int64(v);
		break;
	case json_type_double:
		t.kind = MAPPING_TVAL_FLOAT;
		t.f = json_object_get_double(v);
		break;
	default:
		return def;
	}
	return mapping_tval_text(&t, buf, size) >= 0 ? buf : def;
}

/* A value template the evaluator takes; why names the problem. */
static bool template_ok(const char *tpl, char *why, size_t size)
{
	struct mapping_template *t = NULL;
	int r = mapping_template_compile(tpl, &t, why, size);

	mapping_template_free(t);
	return r == 0;
}

/* A command template: only literal text around {{ value }}, which
 * becomes the bridge's {value}. false: something else. */
static bool command_payload(const char *tpl, char *out, size_t size)
{
	size_t o = 0;

	if (!tpl) {
		snprintf(out, size, "{value}");
		return true;
	}
	for (const char *s = tpl; *s;) {
		if (s[0] == '{' && s[1] == '{') {
			const char *e = strstr(s, "}}");
			char inner[64];
			size_t n;
			if (!e)
				return false;
			n = (size_t)(e - s - 2);
			if (n >= sizeof(inner))
				return false;
			memcpy(inner, s + 2, n);
			inner[n] = '\0';
			char *b = inner, *z = inner + n;
			while (*b == ' ')
				b++;
			while (z > b && z[-1] == ' ')
				*--z = '\0';
			if (strcmp(b, "value") != 0 || o + 8 >= size)
				return false;
			memcpy(out + o, "{value}", 7);
			o += 7;
			s = e + 2;
		} else if (s[0] == '{' && s[1] == '%') {
			return false;
		} else {
			if (o + 1 >= size)
				return false;
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	return true;
}

/* The state of an entity: its topic with value_template (or text). */
static bool state_source(struct gen *G, const struct ha_entity *e, struct auto_point *p,
			 const char *topic_key, const char *tpl_key)
{
	const char *topic = auto_jstr(e->cfg, topic_key), *tpl = auto_jstr(e->cfg, tpl_key);
	char why[200], msg[260];

	if (!topic) {
		skip(G, e, "no state topic (optimistic: nothing to read)");
		return false;
	}
	if (tpl && !template_ok(tpl, why, sizeof(why))) {
		snprintf(msg, sizeof(msg), "%s '%s' not supported: %s", tpl_key, tpl, why);
		skip(G, e, msg);
		return false;
	}
	p->topic = topic;
	p->tpl = tpl;
	return true;
}

static void finish(struct gen *G, const struct ha_entity *e, struct auto_point *p, const char *unit)
{
	const char *name =
		auto_jstr(e->cfg, "unique_id") ? auto_jstr(e->cfg, "unique_id") : auto_jstr(e->cfg, "name");
	int iid;

	if (p->kind->oid == 3) {
		auto_emit_point(&G->g.dev3, p);
		G->g.mapped++;
		return;
	}
	iid = auto_next_instance(&G->g.ins, p->kind->oid);
	if (iid < 0) {
		skip(G, e, "too many objects");
		return;
	}
	at_printf(&G->g.objs, "  /%u/%d:\n", p->kind->oid, iid);
	auto_emit_point(&G->g.objs, p);
	if (p->kind->rid == 5700 && auto_unit_text(p->kind, unit))
		auto_emit_const(&G->g.objs, 5701, auto_unit_text(p->kind, unit));
	if (name)
		auto_emit_const(&G->g.objs, 5750, name);
	G->g.mapped++;
}

static void sensor_like(struct gen *G, const struct ha_entity *e)
{
	const char *unit = auto_jstr(e->cfg, "unit_of_measurement"), *dc = auto_jstr(e->cfg, "device_class");
	const struct auto_kind *k = auto_ha_kind(e->component, dc, unit);
	struct auto_point p = { .kind = k };
	char on[64], off[64], why[160];

	if (!k) {
		snprintf(why, sizeof(why), "no rule for device_class %s, unit '%s'", dc ? dc : "(none)",
			 unit ? unit : "");
		skip(G, e, why);
		return;
	}
	if (!state_source(G, e, &p, "state_topic", "value_template"))
		return;
	if (strcmp(e->component, "binary_sensor") == 0) {
		p.on = word(auto_jget(e->cfg, "payload_on"), "ON", on, sizeof(on));
		p.off = word(auto_jget(e->cfg, "payload_off"), "OFF", off, sizeof(off));
	}
	finish(G, e, &p, unit);
}

static void writable(struct gen *G, const struct ha_entity *e, struct auto_point *p,
		     const char *cmd_topic_key, const char *cmd_tpl_key, char *payload, size_t size)
{
	const char *cmd = auto_jstr(e->cfg, cmd_topic_key), *tpl = auto_jstr(e->cfg, cmd_tpl_key);

	if (!cmd)
		return;
	if (!command_payload(tpl, payload, size)) {
		char msg[200];
		snprintf(msg, sizeof(msg), "%s '%s' not supported (only text around {{ value }}): read-only",
			 cmd_tpl_key, tpl);
		skip(G, e, msg);
		return;
	}
	p->cmd_topic = cmd;
	p->cmd_payload = payload;
	/* Answered at the PUBACK: whether and when the state topic echoes a
	 * command is the device's affair (Tasmota's tele/STATE comes at its
	 * telemetry period). */
	p->confirm = false;
}

static void switch_entity(struct gen *G, const struct ha_entity *e)
{
	struct auto_point p = { .kind = auto_ha_kind("switch", NULL, NULL) };
	char on[64], off[64], son[64], soff[64], payload[300];

	if (!state_source(G, e, &p, "state_topic", "value_template"))
		return;
	/* Writes send payload_on/off; the state says state_on/off (by
	 * default the same words): one word list, the command's first. */
	const char *pon = word(auto_jget(e->cfg, "payload_on"), "ON", on, sizeof(on));
	const char *poff = word(auto_jget(e->cfg, "payload_off"), "OFF", off, sizeof(off));
	const char *son_w = word(auto_jget(e->cfg, "state_on"), pon, son, sizeof(son));
	const char *soff_w = word(auto_jget(e->cfg, "state_off"), poff, soff, sizeof(soff));
	if (strcmp(pon, son_w) != 0 || strcmp(poff, soff_w) != 0) {
		skip(G, e, "state_on/state_off differ from payload_on/payload_off");
		return;
	}
	p.on = pon;
	p.off = poff;
	writable(G, e, &p, "command_topic", "command_template", payload, sizeof(payload));
	finish(G, e, &p, NULL);
}

static void number_entity(struct gen *G, const struct ha_entity *e)
{
	struct auto_point p = { .kind = auto_ha_kind("number", NULL, NULL) };
	struct json_object *v;
	char payload[300];

	if (!state_source(G, e, &p, "state_topic", "value_template"))
		return;
	/* Home Assistant's defaults: 1 .. 100. */
	p.has_min = p.has_max = true;
	p.min = (v = auto_jget(e->cfg, "min")) ? json_object_get_double(v) : 1;
	p.max = (v = auto_jget(e->cfg, "max")) ? json_object_get_double(v) : 100;
	writable(G, e, &p, "command_topic", "command_template", payload, sizeof(payload));
	finish(G, e, &p, auto_jstr(e->cfg, "unit_of_measurement"));
}

/* A light: Light Control's On/Off (5850) and Dimmer % (5851) from the
 * brightness, scaled by brightness_scale (255 by default). */
static void light_entity(struct gen *G, const struct ha_entity *e)
{
	const char *schema = auto_jstr(e->cfg, "schema");
	struct json_object *scl = auto_jget(e->cfg, "brightness_scale"),
			   *bri = auto_jget(e->cfg, "brightness");
	double scale = scl ? json_object_get_double(scl) : 255;
	struct auto_point st = { .kind = auto_ha_kind("light", NULL, NULL) }, br = { 0 };
	char on[64], off[64], payload[2][300];
	bool has_bri = false;
	int iid;

	if (scale <= 0)
		scale = 255;
	br.kind = st.kind;
	br.rid = 5851;
	br.scale = 100.0 / scale;
	br.round = true;
	if (schema && strcmp(schema, "json") == 0) {
		/* {"state":"ON","brightness":128} both ways. */
		if (!auto_jstr(e->cfg, "state_topic")) {
			skip(G, e, "no state topic (optimistic: nothing to read)");
			return;
		}
		st.topic = br.topic = auto_jstr(e->cfg, "state_topic");
		st.pointer = "/state";
		br.pointer = "/brightness";
		st.on = "ON";
		st.off = "OFF";
		if (auto_jstr(e->cfg, "command_topic")) {
			st.cmd_topic = br.cmd_topic = auto_jstr(e->cfg, "command_topic");
			st.cmd_payload = "{\"state\":\"{value}\"}";
			br.cmd_payload = "{\"state\":\"ON\",\"brightness\":{value}}";
		}
		has_bri = bri && json_object_get_boolean(bri);
	} else if (!schema || strcmp(schema, "default") == 0 || strcmp(schema, "basic") == 0) {
		if (!state_source(G, e, &st, "state_topic", "state_value_template"))
			return;
		st.on = word(auto_jget(e->cfg, "payload_on"), "ON", on, sizeof(on));
		st.off = word(auto_jget(e->cfg, "payload_off"), "OFF", off, sizeof(off));
		writable(G, e, &st, "command_topic", "command_template", payload[0], sizeof(payload[0]));
		if (auto_jstr(e->cfg, "brightness_state_topic") &&
		    state_source(G, e, &br, "brightness_state_topic", "brightness_value_template")) {
			has_bri = true;
			writable(G, e, &br, "brightness_command_topic", "brightness_command_template",
				 payload[1], sizeof(payload[1]));
		}
	} else {
		skip(G, e, "light schema other than default or json");
		return;
	}
	iid = auto_next_instance(&G->g.ins, 3311);
	if (iid < 0) {
		skip(G, e, "too many objects");
		return;
	}
	at_printf(&G->g.objs, "  /3311/%d:\n", iid);
	auto_emit_point(&G->g.objs, &st);
	if (has_bri)
		auto_emit_point(&G->g.objs, &br);
	if (auto_jstr(e->cfg, "unique_id"))
		auto_emit_const(&G->g.objs, 5750, auto_jstr(e->cfg, "unique_id"));
	G->g.mapped += has_bri ? 2 : 1;
}

static const char *dev_field(struct ha_entity *const *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = auto_jstr(auto_jget(v[i]->cfg, "device"), key);
		if (s && *s)
			return s;
	}
	return NULL;
}

static int cmp_entity(const void *a, const void *b)
{
	const struct ha_entity *const *x = a, *const *y = b;
	return strcmp((*x)->topic, (*y)->topic);
}

int ha_profile(struct ha_entity *const *entities, size_t n, const struct ha_conf *c, struct auto_profile *out)
{
	struct gen G = { 0 };
	struct ha_entity **v = calloc(n + 1, sizeof(*v));
	char name[80], addr[80];
	const char *id;
	int r = -ENOMEM;

	*out = (struct auto_profile){ 0 };
	if (!v)
		return -ENOMEM;
	if (n == 0) {
		free(v);
		return -EINVAL;
	}
	memcpy(v, entities, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_entity); /* the same text whatever the order they came in */
	id = v[0]->device_id;
	for (size_t i = 0; i < n; i++) {
		struct ha_entity *e = v[i];
		if (strcmp(e->component, "sensor") == 0 || strcmp(e->component, "binary_sensor") == 0)
			sensor_like(&G, e);
		else if (strcmp(e->component, "switch") == 0)
			switch_entity(&G, e);
		else if (strcmp(e->component, "number") == 0)
			number_entity(&G, e);
		else if (strcmp(e->component, "light") == 0)
			light_entity(&G, e);
		else
			skip(&G, e, "component without a rule");
	}
	if (mqtt_sanitize_name(c->name_prefix ? c->name_prefix : "", id, strlen(id), name, sizeof(name)) ==
		    0 ||
	    mqtt_sanitize_name("", id, strlen(id), addr, sizeof(addr)) == 0) {
		r = -EINVAL;
		goto out;
	}
	/* Tasmota gives the full device block with one entity only: each
	 * field from the first entity that has it. */
	const char *mf = dev_field(v, n, "manufacturer"), *mdl = dev_field(v, n, "model"),
		   *sw = dev_field(v, n, "sw_version"), *sn = dev_field(v, n, "serial_number"),
		   *dname = dev_field(v, n, "name");
	{
		char header[400], d[300];
		const struct auto_identity ident = {
			.manufacturer = mf, .model = mdl, .serial = sn, .firmware = sw
		};
		snprintf(header, sizeof(header),
			 "# Generated by fieldgate from Home Assistant MQTT discovery (%s/...): device %s\n",
			 c->prefix, id);
		snprintf(d, sizeof(d), "Home Assistant discovery: %s%s%s", dname ? dname : id,
			 mdl ? ", " : "", mdl ? mdl : "");
		r = auto_finish(&G.g, header, d, &ident, name, addr, "ha", out);
	}
out:
	free(v);
	at_free(&G.g.dev3); /* when auto_finish was not reached */
	at_free(&G.g.objs);
	at_free(&G.g.skipped);
	return r;
}

/* ---- the watcher ------------------------------------------------------------------------ */

struct ha_dev {
	char *id;
	struct ha_entity *e[HA_MAX_ENTITIES];
	size_t n;
	uint64_t changed; /* its last configuration message */
	bool dirty;
	char *device, *profile, *note; /* once created */
};

struct ha_watch {
	const struct ha_conf *c;
	struct mqtt_auto_host host;
	unsigned max;
	struct ha_dev **v;
	size_t n;
	bool full_logged;
};

struct ha_watch *ha_watch_new(const struct ha_conf *c, const struct mqtt_auto_host *host,
			      unsigned max_devices)
{
	struct ha_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->c = c;
	w->host = *host;
	w->max = max_devices;
	return w;
}

static void hdev_free(struct ha_dev *d)
{
	for (size_t i = 0; i < d->n; i++)
		ha_entity_free(d->e[i]);
	free(d->id);
	free(d->device);
	free(d->profile);
	free(d->note);
	free(d);
}

struct ha_watch *ha_watch_free(struct ha_watch *w)
{
	if (!w)
		return NULL;
	for (size_t i = 0; i < w->n; i++)
		hdev_free(w->v[i]);
	free(w->v);
	free(w);
	return NULL;
}

size_t ha_watch_filters(const struct ha_watch *w, char filters[2][300])
{
	snprintf(filters[0], sizeof(filters[0]), "%s/+/+/config", w->c->prefix);
	snprintf(filters[1], sizeof(filters[1]), "%s/+/+/+/config", w->c->prefix);
	return 2;
}

static struct ha_dev *hdev_find(struct ha_watch *w, const char *id)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->v[i]->id, id) == 0)
			return w->v[i];
	return NULL;
}

/* The entity of this discovery topic, wherever it is: removed. */
static void entity_remove(struct ha_watch *w, const char *topic, uint64_t now)
{
	for (size_t i = 0; i < w->n; i++) {
		struct ha_dev *d = w->v[i];
		for (size_t j = 0; j < d->n; j++)
			if (strcmp(d->e[j]->topic, topic) == 0) {
				ha_entity_free(d->e[j]);
				d->e[j] = d->e[--d->n];
				d->dirty = true;
				d->changed = now;
				return;
			}
	}
}

bool ha_watch_message(struct ha_watch *w, const char *topic, struct mqtt_payload *pl, uint64_t now)
{
	char component[32], object[256];
	struct ha_entity *e;
	struct ha_dev *d;
	int r;

	if (!ha_topic_parse(w->c, topic, strlen(topic), component, sizeof(component), object, sizeof(object)))
		return false;
	entity_remove(w, topic, now);
	if (pl->len == 0)
		return true; /* an empty configuration removes the entity */
	r = ha_entity_parse(component, topic, pl->data, pl->len, &e);
	if (r < 0) {
		log_warning("Home Assistant discovery: %s is not a JSON configuration (ignored)", topic);
		return true;
	}
	d = hdev_find(w, e->device_id);
	if (!d) {
		struct ha_dev **v;
		if (w->n >= w->max) {
			if (!w->full_logged)
				log_warning("Home Assistant discovery: device %s not created: "
					    "discovery.max_devices "
					    "(%u) reached",
					    e->device_id, w->max);
			w->full_logged = true;
			ha_entity_free(e);
			return true;
		}
		v = realloc(w->v, (w->n + 1) * sizeof(*v));
		d = calloc(1, sizeof(*d));
		if (v)
			w->v = v;
		if (!v || !d || !(d->id = strdup(e->device_id))) {
			free(d);
			ha_entity_free(e);
			return true;
		}
		w->v[w->n++] = d;
	}
	if (d->n >= HA_MAX_ENTITIES) {
		log_warning("Home Assistant discovery: device %s has more than %d entities: %s ignored",
			    d->id, HA_MAX_ENTITIES, topic);
		ha_entity_free(e);
		return true;
	}
	d->e[d->n++] = e;
	d->dirty = true;
	d->changed = now;
	return true;
}

static void settle(struct ha_watch *w, size_t i)
{
	struct ha_dev *d = w->v[i];
	struct auto_profile p;
	int r;

	d->dirty = false;
	if (d->n == 0) {
		if (d->device) {
			log_device_info(AUTO_DEV_LOG(&w->host, d->device),
					"Home Assistant discovery: %s has no entities left: removed",
					d->device);
			(void)w->host.forget(w->host.ud, d->device);
		}
		hdev_free(d);
		w->v[i] = w->v[--w->n];
		return;
	}
	r = ha_profile(d->e, d->n, w->c, &p);
	if (r < 0)
		return;
	if (d->profile && strcmp(d->profile, p.name) == 0) {
		auto_profile_clear(&p);
		return;
	}
	if (!d->device && w->host.bound(w->host.ud, p.address, strlen(p.address))) {
		/* A configured device (or a rule's) has it; not one we made. */
		auto_profile_clear(&p);
		return;
	}
	r = w->host.generated(w->host.ud, &p);
	if (r < 0)
		log_device_warning_errno(AUTO_DEV_LOG(&w->host, p.device), r,
					 "Home Assistant discovery: device %s not created: %m", p.device);
	else {
		free(d->device);
		free(d->profile);
		free(d->note);
		d->device = strdup(p.device);
		d->profile = strdup(p.name);
		d->note = p.nskipped ? strdup(p.skipped) : NULL;
		log_device_info(AUTO_DEV_LOG(&w->host, p.device),
				"Home Assistant discovery: %s (%s): %u values mapped%s%s", p.device, d->id,
				p.mapped, p.nskipped ? "; not mapped: " : "", p.nskipped ? p.skipped : "");
	}
	auto_profile_clear(&p);
}

void ha_watch_tick(struct ha_watch *w, uint64_t now)
{
	for (size_t i = 0; w && i < w->n;) {
		struct ha_dev *d = w->v[i];
		size_t before = w->n;
		if (d->dirty && now - d->changed >= w->c->settle_usec)
			settle(w, i);
		if (w->n == before)
			i++;
	}
}

const char *ha_watch_note(const struct ha_watch *w, const char *device)
{
	for (size_t i = 0; w && i < w->n; i++)
		if (w->v[i]->device && strcmp(w->v[i]->device, device) == 0)
			return w->v[i]->note;
	return NULL;
}

void ha_watch_gone(struct ha_watch *w, const char *device)
{
	/* Forgotten by the bridge (silence): made again when its
	 * configurations come again (a retained one at the next connect). */
	for (size_t i = 0; w && i < w->n; i++)
		if (w->v[i]->device && strcmp(w->v[i]->device, device) == 0) {
			free(w->v[i]->device);
			free(w->v[i]->profile);
			w->v[i]->device = w->v[i]->profile = NULL;
			return;
		}
}
