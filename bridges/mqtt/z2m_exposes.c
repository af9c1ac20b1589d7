/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zigbee2mqtt without profiles: zigbee2mqtt publishes, retained, on
 * <base>/bridge/devices the list of its devices with each one's definition
 * (model, vendor, description) and `exposes`: every feature's type
 * (numeric, binary, enum; composites such as switch and light), name,
 * property (the key in the device's state message, "state_left" for an
 * endpoint), unit and access bits (1 published in the state, 2 settable
 * through <base>/<device>/set). The rule table (auto_rules.c) turns the
 * features it knows into resources; the others are listed in the
 * generated profile and in `fieldgate status`, never guessed.
 *
 * A device's profile uses `{device}` for its friendly name, so devices of
 * one model and firmware share one profile (one per model, not per
 * device). Device names are the prefix and the IEEE address: they stay
 * when the device is renamed in zigbee2mqtt (its address, the friendly
 * name, then changes: it is created again with the new one).
 *
 * The watcher follows bridge/devices (new devices, renames, devices gone)
 * and bridge/event (device_leave: gone at once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bridges/mqtt/mqtt_auto.h"
#include "common/log.h"

#define ACC_STATE 1
#define ACC_SET   2

static bool jnum(struct json_object *o, const char *key, double *out)
{
	struct json_object *v = auto_jget(o, key);

	if (!v || (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)))
		return false;
	*out = json_object_get_double(v);
	return true;
}

/* ---- the generator ------------------------------------------------------------------ */

struct gen {
	struct auto_gen g; /* first: G->g.* */
	const struct z2m_conf *c;
	char topic[300], set_topic[310];
};

static void skip(struct gen *G, struct json_object *f, const char *why)
{
	const char *name = auto_jstr(f, "property") ? auto_jstr(f, "property") : auto_jstr(f, "name");
	const char *type = auto_jstr(f, "type");

	at_printf(&G->g.skipped, "%s%s (%s%s%s)", G->g.nskipped ? ", " : "",
		  name   ? name
		  : type ? type
			 : "?",
		  type ? type : "?", why ? ": " : "", why ? why : "");
	G->g.nskipped++;
}

/* "/<property>" with RFC 6901's escapes. */
static void pointer_of(const char *prop, char *buf, size_t size)
{
	size_t o = 0;

	buf[o++] = '/';
	for (const char *s = prop; *s && o + 3 < size; s++) {
		if (*s == '~' || *s == '/') {
			buf[o++] = '~';
			buf[o++] = *s == '~' ? '0' : '1';
		} else
			buf[o++] = *s;
	}
	buf[o] = '\0';
}

/* The /set payload: {"<property>":<value>}, the value quoted for text. */
static void set_payload(const char *prop, bool quoted, char *buf, size_t size)
{
	struct auto_text t = { 0 };

	at_printf(&t, "{");
	/* The property as a JSON string (a YAML-quoted string is one too for
	 * the characters a property has). */
	at_quoted(&t, prop, strlen(prop));
	at_printf(&t, quoted ? ":\"{value}\"}" : ":{value}}");
	snprintf(buf, size, "%s", t.buf ? t.buf : "{}");
	at_free(&t);
}

/* A binary's value_on/value_off: words for text, nothing for true/false,
 * a template for the inverted booleans (value_on false: a door contact,
 * whose "on" is open) so that on is true whatever the field's polarity. */
static int binary_words(struct json_object *f, const char *prop, struct auto_point *p, char *tpl,
			size_t tsize, bool *inverted)
{
	struct json_object *on = auto_jget(f, "value_on"), *off = auto_jget(f, "value_off");

	*inverted = false;
	if (!on || !off)
		return -EINVAL;
	if (json_object_is_type(on, json_type_string) && json_object_is_type(off, json_type_string)) {
		p->on = json_object_get_string(on);
		p->off = json_object_get_string(off);
		return 0;
	}
	if (json_object_is_type(on, json_type_boolean) && json_object_is_type(off, json_type_boolean) &&
	    json_object_get_boolean(on) != json_object_get_boolean(off)) {
		if (json_object_get_boolean(on))
			return 0;
		if (strpbrk(prop, "'\\"))
			return -EINVAL; /* not a key the template can quote */
		/* Jinja prints False/True: those words, swapped. */
		snprintf(tpl, tsize, "{{ value_json['%s'] }}", prop);
		p->tpl = tpl;
		p->pointer = NULL;
		p->on = "False";
		p->off = "True";
		*inverted = true;
		return 0;
	}
	return -EINVAL;
}

static void open_instance(struct auto_text *t, uint16_t oid, int iid)
{
	at_printf(t, "  /%u/%d:\n", oid, iid);
}

/* One feature (not a composite) into its resource. parent: the composite
 * it is in, NULL at the top. */
static void feature(struct gen *G, struct json_object *f, const char *parent)
{
	const char *type = auto_jstr(f, "type"), *name = auto_jstr(f, "name"),
		   *prop = auto_jstr(f, "property");
	const char *unit = auto_jstr(f, "unit");
	struct json_object *acc = auto_jget(f, "access");
	int access = acc && json_object_is_type(acc, json_type_int) ? json_object_get_int(acc) : 0;
	const struct auto_kind *k;
	struct auto_point p = { 0 };
	char ptr[300], payload[300], tpl[320];
	const char *values[64];
	bool inverted = false;
	int iid;

	if (!type || !name || !prop || !*prop) {
		skip(G, f, "no name or property");
		return;
	}
	if (!(access & ACC_STATE)) {
		skip(G, f, "not in the device's state");
		return;
	}
	k = auto_z2m_kind(type, name, unit, parent, access & ACC_SET);
	if (!k) {
		skip(G, f, "no rule");
		return;
	}
	pointer_of(prop, ptr, sizeof(ptr));
	p.kind = k;
	p.topic = G->topic;
	p.pointer = ptr;
	p.time = "/last_seen";
	if (strcmp(type, "binary") == 0 && binary_words(f, prop, &p, tpl, sizeof(tpl), &inverted) < 0) {
		skip(G, f, "value_on/value_off neither words nor booleans");
		return;
	}
	if (strcmp(type, "enum") == 0) {
		struct json_object *v = auto_jget(f, "values");
		size_t n = v && json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
		bool all_text = n > 0 && n <= 64;
		for (size_t i = 0; all_text && i < n; i++) {
			struct json_object *x = json_object_array_get_idx(v, i);
			all_text = json_object_is_type(x, json_type_string);
			if (all_text)
				values[i] = json_object_get_string(x);
		}
		/* Named states are checked both ways; numbered ones are not. */
		if (all_text) {
			p.enums = values;
			p.nenums = n;
		}
	}
	if (strcmp(type, "numeric") == 0 && (k->opts & AUTO_WRITE)) {
		p.has_min = jnum(f, "value_min", &p.min);
		p.has_max = jnum(f, "value_max", &p.max);
	}
	if ((k->opts & AUTO_WRITE) && (access & ACC_SET) && !inverted) {
		set_payload(prop, strcmp(type, "enum") == 0 || (strcmp(type, "binary") == 0 && p.on), payload,
			    sizeof(payload));
		p.cmd_topic = G->set_topic;
		p.cmd_payload = payload;
		p.confirm = true;
	}
	if (k->oid == 3) {
		auto_emit_point(&G->g.dev3, &p);
	} else {
		iid = auto_next_instance(&G->g.ins, k->oid);
		if (iid < 0) {
			skip(G, f, "too many objects");
			return;
		}
		open_instance(&G->g.objs, k->oid, iid);
		auto_emit_point(&G->g.objs, &p);
		if (k->rid == 5700 && auto_unit_text(k, unit))
			auto_emit_const(&G->g.objs, 5701, auto_unit_text(k, unit));
		auto_emit_const(&G->g.objs, 5750, prop);
	}
	G->g.mapped++;
}

/* A light: one Light Control instance, its state (5850) and brightness as
 * the Dimmer's % (5851); color and color temperature have no rule. */
static void light(struct gen *G, struct json_object *l)
{
	struct json_object *fs = auto_jget(l, "features"), *state = NULL, *bri = NULL;
	size_t n = fs && json_object_is_type(fs, json_type_array) ? json_object_array_length(fs) : 0;
	char ptr[2][300], payload[2][300];
	int iid;

	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(fs, i);
		const char *name = auto_jstr(f, "name"), *type = auto_jstr(f, "type");
		struct json_object *acc = auto_jget(f, "access");
		int access = acc ? json_object_get_int(acc) : 0;
		const struct auto_kind *k = type && name ? auto_z2m_kind(type, name, auto_jstr(f, "unit"),
									 "light", access & ACC_SET)
							 : NULL;
		if (k && !state && strcmp(k->kind, "light") == 0 && (access & ACC_STATE) &&
		    auto_jstr(f, "property"))
			state = f;
		else if (k && !bri && strcmp(k->kind, "brightness") == 0 && (access & ACC_STATE) &&
			 auto_jstr(f, "property"))
			bri = f;
		else
			skip(G, f, k ? "one per light" : "no rule");
	}
	if (!state) {
		skip(G, l, "a light without an on/off state");
		return;
	}
	iid = auto_next_instance(&G->g.ins, 3311);
	if (iid < 0) {
		skip(G, l, "too many objects");
		return;
	}
	open_instance(&G->g.objs, 3311, iid);
	for (int w = 0; w < 2; w++) {
		struct json_object *f = w ? bri : state;
		const char *prop = f ? auto_jstr(f, "property") : NULL;
		struct json_object *acc = f ? auto_jget(f, "access") : NULL;
		struct auto_point p = { 0 };
		double vmax = 254;
		char tpl[320];
		bool inverted = false;

		if (!f)
			continue;
		pointer_of(prop, ptr[w], sizeof(ptr[w]));
		p.kind = auto_z2m_kind(auto_jstr(f, "type"), auto_jstr(f, "name"), auto_jstr(f, "unit"),
				       "light", acc && (json_object_get_int(acc) & ACC_SET));
		p.topic = G->topic;
		p.pointer = ptr[w];
		p.time = "/last_seen";
		if (!w && binary_words(f, prop, &p, tpl, sizeof(tpl), &inverted) < 0)
			continue;
		if (w) {
			/* 0..value_max (254) as the Dimmer's 0..100 %. */
			if (!jnum(f, "value_max", &vmax) || vmax <= 0)
				vmax = 254;
			p.scale = 100.0 / vmax;
		}
		if (acc && (json_object_get_int(acc) & ACC_SET) && !inverted) {
			set_payload(prop, !w && p.on, payload[w], sizeof(payload[w]));
			p.cmd_topic = G->set_topic;
			p.cmd_payload = payload[w];
			p.confirm = true;
		}
		auto_emit_point(&G->g.objs, &p);
		G->g.mapped++;
	}
	auto_emit_const(&G->g.objs, 5750, auto_jstr(state, "property"));
}

static void walk(struct gen *G, struct json_object *exposes, const char *parent, int depth)
{
	size_t n = exposes && json_object_is_type(exposes, json_type_array)
			   ? json_object_array_length(exposes)
			   : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(exposes, i);
		const char *type = auto_jstr(f, "type");
		if (!type) {
			skip(G, f, "no type");
			continue;
		}
		if (strcmp(type, "light") == 0)
			light(G, f);
		else if ((strcmp(type, "switch") == 0 || strcmp(type, "lock") == 0 ||
			  strcmp(type, "cover") == 0 || strcmp(type, "fan") == 0 ||
			  strcmp(type, "climate") == 0) &&
			 depth < 2)
			walk(G, auto_jget(f, "features"), type, depth + 1);
		else if (strcmp(type, "numeric") == 0 || strcmp(type, "binary") == 0 ||
			 strcmp(type, "enum") == 0)
			feature(G, f, parent);
		else
			skip(G, f, "no rule");
	}
}

static bool topic_level_ok(const char *s)
{
	return *s && !strpbrk(s, "/+#");
}

int z2m_profile(struct json_object *dev, const struct z2m_conf *c, struct auto_profile *out)
{
	struct gen G = { .c = c };
	struct json_object *def = auto_jget(dev, "definition"), *ic = auto_jget(dev, "interview_completed"),
			   *dis = auto_jget(dev, "disabled");
	const char *ieee = auto_jstr(dev, "ieee_address"), *friendly = auto_jstr(dev, "friendly_name"),
		   *type = auto_jstr(dev, "type"), *model = auto_jstr(def, "model"),
		   *vendor = auto_jstr(def, "vendor"), *desc = auto_jstr(def, "description"),
		   *fw = auto_jstr(dev, "software_build_id");
	char name[80];

	*out = (struct auto_profile){ 0 };
	if (!dev || !json_object_is_type(dev, json_type_object) || !ieee || !friendly)
		return -EINVAL;
	const char *why = type && strcmp(type, "Coordinator") == 0 ? "the coordinator"
			  : ic && !json_object_get_boolean(ic)     ? "not interviewed yet"
			  : dis && json_object_get_boolean(dis)    ? "disabled"
			  : !def || !model                         ? "no definition (not supported)"
								   : NULL;
	if (why) {
		out->skipped = strdup(why);
		return out->skipped ? -ENOENT : -ENOMEM;
	}
	if (mqtt_sanitize_name(c->prefix ? c->prefix : "", ieee, strlen(ieee), name, sizeof(name)) == 0)
		return -EINVAL;
	/* {device} is the friendly name; one that cannot be a topic level
	 * ("room/lamp") is written into the topics, the IEEE address being
	 * the device's address then. */
	if (topic_level_ok(friendly)) {
		snprintf(G.topic, sizeof(G.topic), "%s/{device}", c->base_topic);
		snprintf(G.set_topic, sizeof(G.set_topic), "%s/{device}/set", c->base_topic);
	} else {
		snprintf(G.topic, sizeof(G.topic), "%s/%s", c->base_topic, friendly);
		snprintf(G.set_topic, sizeof(G.set_topic), "%s/%s/set", c->base_topic, friendly);
	}
	walk(&G, auto_jget(def, "exposes"), NULL, 0);

	{
		char header[400], d[300], update[240];
		struct json_object *ota = auto_jget(def, "supports_ota");
		/* Object 5 needs the friendly name as {device}: the state
		 * topic carries the update's progress. */
		bool can_update = c->firmware && topic_level_ok(friendly) && ota &&
				  json_object_is_type(ota, json_type_boolean) && json_object_get_boolean(ota);
		snprintf(update, sizeof(update), "zigbee2mqtt:%s", c->base_topic);
		const struct auto_identity id = { .manufacturer = vendor,
						  .model = model,
						  .firmware = fw,
						  .type = desc,
						  .update = can_update ? update : NULL };
		snprintf(header, sizeof(header),
			 "# Generated by fieldgate from zigbee2mqtt's %s/bridge/devices:\n# %s %s (%s)\n",
			 c->base_topic, vendor ? vendor : "?", model, desc ? desc : "");
		snprintf(d, sizeof(d), "zigbee2mqtt %s %s%s%s", vendor ? vendor : "", model, desc ? ": " : "",
			 desc ? desc : "");
		return auto_finish(&G.g, header, d, &id, name, topic_level_ok(friendly) ? friendly : ieee,
				   "z2m", out);
	}
}

/* ---- the watcher ---------------------------------------------------------------------- */

struct z2m_known {
	char *ieee, *device, *address, *profile, *note;
	bool seen; /* in the last bridge/devices */
};

struct z2m_watch {
	const struct z2m_conf *c;
	struct mqtt_auto_host host;
	struct z2m_known *v;
	size_t n, cap;
	char devices_topic[300], event_topic[300];
	bool full_logged;
};

struct z2m_watch *z2m_watch_new(const struct z2m_conf *c, const struct mqtt_auto_host *host)
{
	struct z2m_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->c = c;
	w->host = *host;
	snprintf(w->devices_topic, sizeof(w->devices_topic), "%s/bridge/devices", c->base_topic);
	snprintf(w->event_topic, sizeof(w->event_topic), "%s/bridge/event", c->base_topic);
	return w;
}

static void known_free(struct z2m_known *k)
{
	free(k->ieee);
	free(k->device);
	free(k->address);
	free(k->profile);
	free(k->note);
}

struct z2m_watch *z2m_watch_free(struct z2m_watch *w)
{
	if (!w)
		return NULL;
	for (size_t i = 0; i < w->n; i++)
		known_free(&w->v[i]);
	free(w->v);
	free(w);
	return NULL;
}

size_t z2m_watch_filters(const struct z2m_watch *w, char filters[2][300])
{
	snprintf(filters[0], sizeof(filters[0]), "%s", w->devices_topic);
	snprintf(filters[1], sizeof(filters[1]), "%s", w->event_topic);
	return 2;
}

static struct z2m_known *known_find(struct z2m_watch *w, const char *ieee)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->v[i].ieee, ieee) == 0)
			return &w->v[i];
	return NULL;
}

static void known_drop(struct z2m_watch *w, struct z2m_known *k, const char *why)
{
	size_t i = (size_t)(k - w->v);

	log_device_info(AUTO_DEV_LOG(&w->host, k->device), "zigbee2mqtt: %s (%s) %s: removed", k->device,
			k->address, why);
	(void)w->host.forget(w->host.ud, k->device);
	known_free(k);
	w->v[i] = w->v[--w->n];
}

static const char *profile_for(const struct z2m_conf *c, const char *model)
{
	for (size_t i = 0; model && i < c->nprofiles; i++)
		if (strcmp(c->profiles[i].model, model) == 0)
			return c->profiles[i].profile;
	return NULL;
}

/* One element of bridge/devices: created, re-profiled (a new firmware,
 * new exposes) or renamed. */
static void one_device(struct z2m_watch *w, struct json_object *dev)
{
	const char *ieee = auto_jstr(dev, "ieee_address"), *friendly = auto_jstr(dev, "friendly_name");
	const char *model = auto_jstr(auto_jget(dev, "definition"), "model"), *named;
	struct auto_profile p;
	struct z2m_known *k;
	int r;

	if (!ieee || !friendly)
		return;
	k = known_find(w, ieee);
	if (k)
		k->seen = true;
	r = z2m_profile(dev, w->c, &p);
	if (r == -ENOENT) {
		if (k)
			known_drop(w, k, p.skipped);
		auto_profile_clear(&p);
		return;
	}
	if (r < 0)
		return;
	if ((!k || strcmp(k->address, p.address) != 0) &&
	    w->host.bound(w->host.ud, p.address, strlen(p.address))) {
		/* A configured device (or a discovery rule's) has it, not the
		 * one made here. */
		auto_profile_clear(&p);
		return;
	}
	if (k && strcmp(k->address, p.address) != 0) {
		known_drop(w, k, "renamed");
		k = NULL;
	}
	named = profile_for(w->c, model);
	if (k && ((named && k->profile && strcmp(k->profile, named) == 0) ||
		  (!named && k->profile && strcmp(k->profile, p.name) == 0))) {
		auto_profile_clear(&p);
		return; /* nothing changed */
	}
	if (named)
		r = w->host.discover(w->host.ud, p.device, named, p.address);
	else
		r = w->host.generated(w->host.ud, &p);
	if (r == -EDQUOT) {
		if (!w->full_logged)
			log_device_warning(
				AUTO_DEV_LOG(&w->host, p.device),
				"zigbee2mqtt: %s (%s %s) not created: discovery.max_devices reached",
				p.address, model ? model : "?", ieee);
		w->full_logged = true;
	} else if (r < 0 && r != -EEXIST) {
		log_device_warning_errno(AUTO_DEV_LOG(&w->host, p.device), r,
					 "zigbee2mqtt: %s (%s) cannot be created: %m", p.address,
					 model ? model : "?");
	} else if (r >= 0) {
		if (!k) {
			struct z2m_known *v = w->n == w->cap
						      ? realloc(w->v, (w->cap ? 2 * w->cap : 16) * sizeof(*v))
						      : w->v;
			if (v) {
				if (w->n == w->cap)
					w->cap = w->cap ? 2 * w->cap : 16;
				w->v = v;
				k = &w->v[w->n++];
				*k = (struct z2m_known){ .ieee = strdup(ieee),
							 .device = strdup(p.device),
							 .address = strdup(p.address),
							 .seen = true };
			}
		}
		if (k) {
			free(k->profile);
			free(k->note);
			k->profile = strdup(named ? named : p.name);
			k->note = p.nskipped && !named ? strdup(p.skipped) : NULL;
		}
		if (p.nskipped && !named)
			log_device_info(
				AUTO_DEV_LOG(&w->host, p.device),
				"zigbee2mqtt: %s (%s %s): %u features mapped, not mapped (no rule): %s",
				p.device, model ? model : "?", p.address, p.mapped, p.skipped);
	}
	auto_profile_clear(&p);
}

static void devices_message(struct z2m_watch *w, struct json_object *list)
{
	size_t n = json_object_array_length(list);

	for (size_t i = 0; i < w->n; i++)
		w->v[i].seen = false;
	for (size_t i = 0; i < n; i++)
		one_device(w, json_object_array_get_idx(list, i));
	/* Not in the list any more: removed from the network. */
	for (size_t i = 0; i < w->n;)
		if (!w->v[i].seen)
			known_drop(w, &w->v[i], "no longer in bridge/devices");
		else
			i++;
}

bool z2m_watch_message(struct z2m_watch *w, const char *topic, struct mqtt_payload *pl)
{
	struct json_object *doc;

	if (strcmp(topic, w->devices_topic) == 0) {
		if (mqtt_payload_json(pl, &doc) < 0 || !json_object_is_type(doc, json_type_array))
			log_warning("zigbee2mqtt: %s is not a JSON list of devices (ignored)", topic);
		else
			devices_message(w, doc);
		return true;
	}
	if (strcmp(topic, w->event_topic) == 0) {
		const char *type;
		if (mqtt_payload_json(pl, &doc) < 0 || !(type = auto_jstr(doc, "type")))
			return true;
		if (strcmp(type, "device_leave") == 0) {
			const char *ieee = auto_jstr(auto_jget(doc, "data"), "ieee_address");
			struct z2m_known *k = ieee ? known_find(w, ieee) : NULL;
			if (k)
				known_drop(w, k, "left the network");
		} else if (strcmp(type, "device_interview") == 0)
			log_debug("zigbee2mqtt: %s interview %s",
				  auto_jstr(auto_jget(doc, "data"), "friendly_name"),
				  auto_jstr(auto_jget(doc, "data"), "status"));
		return true;
	}
	return false;
}

const char *z2m_watch_note(const struct z2m_watch *w, const char *device)
{
	for (size_t i = 0; w && i < w->n; i++)
		if (strcmp(w->v[i].device, device) == 0)
			return w->v[i].note;
	return NULL;
}

void z2m_watch_gone(struct z2m_watch *w, const char *device)
{
	for (size_t i = 0; w && i < w->n; i++)
		if (strcmp(w->v[i].device, device) == 0) {
			known_free(&w->v[i]);
			w->v[i] = w->v[--w->n];
			return;
		}
}
