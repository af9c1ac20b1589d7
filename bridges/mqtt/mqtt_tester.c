/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `fieldgate profile test` for MQTT profiles (bridge_tester): captured
 * messages (--mqtt TOPIC PAYLOAD) decoded by each point's source exactly as
 * the bridge does, writes shown as the publish they would be, and the
 * devices zigbee2mqtt (--z2m-devices FILE, its bridge/devices message) and
 * Home Assistant discovery (--ha-config TOPIC PAYLOAD) describe. A PAYLOAD
 * or FILE written @path is read from that file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bridges/mqtt/mqtt_auto.h"
#include "bridges/mqtt/mqtt_internal.h"
#include "common/yamldoc.h"

#define MAX_MSGS 256

struct msg {
	char *topic;
	uint8_t *data;
	size_t len;
	struct mqtt_payload pl; /* parsed once, kept: samples point into it */
};

struct bridge_capture {
	struct msg msgs[MAX_MSGS];
	size_t nmsgs;
	struct msg ha[MAX_MSGS];
	size_t nha;
	uint8_t *z2m;
	size_t z2m_len;
};

static const struct bridge_tester_opt opts[] = {
	{ "--mqtt", 2, "TOPIC PAYLOAD", "a message the field published (PAYLOAD or @file)" },
	{ "--z2m-devices", 1, "FILE", "zigbee2mqtt's bridge/devices message: the devices it describes" },
	{ "--ha-config", 2, "TOPIC PAYLOAD", "a Home Assistant discovery configuration (PAYLOAD or @file)" },
	{ NULL, 0, NULL, NULL },
};

/* The text of an argument, or of the file it names (@path). */
static int arg_bytes(const char *arg, uint8_t **out, size_t *len, char *why, size_t why_size)
{
	FILE *f;
	long n;

	if (arg[0] != '@') {
		*len = strlen(arg);
		*out = (uint8_t *)strdup(arg);
		return *out ? 0 : -ENOMEM;
	}
	f = fopen(arg + 1, "rb");
	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > 64L << 20 ||
	    fseek(f, 0, SEEK_SET) < 0) {
		snprintf(why, why_size, "cannot read '%s': %s", arg + 1, strerror(errno ? errno : EIO));
		if (f)
			fclose(f);
		return -EINVAL;
	}
	*out = malloc((size_t)n + 1);
	if (!*out || fread(*out, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*out);
		*out = NULL;
		snprintf(why, why_size, "cannot read '%s'", arg + 1);
		return -EINVAL;
	}
	(*out)[n] = 0;
	*len = (size_t)n;
	fclose(f);
	return 0;
}

static int add_msg(struct msg *v, size_t *n, char *const *args, char *why, size_t why_size)
{
	struct msg *m;
	int r;

	if (*n >= MAX_MSGS) {
		snprintf(why, why_size, "at most %d messages", MAX_MSGS);
		return -EINVAL;
	}
	if (!args[0][0] || strpbrk(args[0], "+#")) {
		snprintf(why, why_size, "'%s' is not a topic a message was published on (no wildcards)",
			 args[0]);
		return -EINVAL;
	}
	m = &v[*n];
	*m = (struct msg){ 0 };
	r = arg_bytes(args[1], &m->data, &m->len, why, why_size);
	if (r < 0)
		return r;
	if (!(m->topic = strdup(args[0]))) {
		free(m->data);
		return -ENOMEM;
	}
	mqtt_payload_init(&m->pl, m->data, m->len);
	(*n)++;
	return 0;
}

static int capture(struct bridge_capture **cap, const char *opt, char *const *args, char *why,
		   size_t why_size)
{
	struct bridge_capture *c = *cap;

	if (!c && !(c = *cap = calloc(1, sizeof(*c))))
		return -ENOMEM;
	if (strcmp(opt, "--mqtt") == 0)
		return add_msg(c->msgs, &c->nmsgs, args, why, why_size);
	if (strcmp(opt, "--ha-config") == 0)
		return add_msg(c->ha, &c->nha, args, why, why_size);
	if (strcmp(opt, "--z2m-devices") == 0) {
		char path[4096];
		free(c->z2m);
		snprintf(path, sizeof(path), "@%s", args[0]);
		return arg_bytes(path, &c->z2m, &c->z2m_len, why, why_size);
	}
	return -ENOTSUP;
}

static void capture_free(struct bridge_capture *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nmsgs; i++) {
		mqtt_payload_clear(&c->msgs[i].pl);
		free(c->msgs[i].topic);
		free(c->msgs[i].data);
	}
	for (size_t i = 0; i < c->nha; i++) {
		free(c->ha[i].topic);
		free(c->ha[i].data);
	}
	free(c->z2m);
	free(c);
}

/* --address: the topic's {device} value, or a YAML flow mapping of
 * captures ({device: tasmota_1, mac: 84CCA8ABC123}) as a device's
 * `address:` in the configuration. The binding points into *doc, which
 * the caller frees after using it. */
static int binding(const char *address, struct ydoc **doc, struct mqtt_binding *b, char *why, size_t why_size)
{
	struct ynode n = { .kind = YNODE_SCALAR, .file = "--address" };

	if (!address)
		return 0;
	if (address[0] == '{') {
		if (ydoc_load_buffer("--address", address, strlen(address), NULL, NULL, doc) < 0) {
			snprintf(why, why_size,
				 "--address '%s' is not a YAML flow mapping such as {device: plug-1, "
				 "channel: 0}",
				 address);
			return -EINVAL;
		}
		return mqtt_address_binding(ydoc_root(*doc), b, why, why_size);
	}
	n.scalar.str = address;
	n.scalar.len = strlen(address);
	return mqtt_address_binding(&n, b, why, why_size);
}

/* Object 5 of `firmware: zigbee2mqtt`: what the server sees before any
 * request, after the latest state message that speaks of updates (an
 * image zigbee2mqtt offers is Downloaded, one it installs Updating). */
static int ota_sample(struct bridge_capture *c, const struct mqtt_source *src,
		      const struct mqtt_binding *bind, struct mapping_sample *out)
{
	struct z2m_ota_update u = { .state = -1 };
	struct json_object *doc;

	for (size_t i = c ? c->nmsgs : 0; i-- > 0 && u.state < 0;) {
		struct msg *m = &c->msgs[i];
		if (mqtt_template_match(&src->topic, m->topic, strlen(m->topic), bind, NULL) &&
		    mqtt_payload_json(&m->pl, &doc) == 0)
			(void)z2m_ota_state_parse(doc, &u);
	}
	*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE };
	if (src->ota_rid == 7) {
		out->value.type = LWM2M_TYPE_STRING;
		out->value.bytes.ptr = (const uint8_t *)"";
		return 0;
	}
	out->value.type = LWM2M_TYPE_INTEGER;
	if (src->ota_rid == 3 && u.state == Z2M_OTA_FIELD_AVAILABLE)
		out->value.i = 2;
	else if (src->ota_rid == 3 && u.state == Z2M_OTA_FIELD_UPDATING)
		out->value.i = 3;
	return 0;
}

static int sample(struct bridge_capture *c, const struct mapping_point *pt, const char *address,
		  struct mapping_sample *out, uint64_t *time_usec, char *why, size_t why_size)
{
	const struct mqtt_source *src = pt->source;
	struct mqtt_binding bind = { 0 };
	struct ydoc *doc = NULL;
	bool seen = false;
	int r = -ENOENT;

	if (!src) {
		snprintf(why, why_size, "no source");
		return -ENOENT;
	}
	if (binding(address, &doc, &bind, why, why_size) < 0) {
		ydoc_free(doc);
		return -EINVAL;
	}
	if (src->ota) {
		r = ota_sample(c, src, address ? &bind : NULL, out);
		ydoc_free(doc);
		return r;
	}
	/* The latest message first; one without the member (a partial
	 * update) leaves the word to an earlier one. */
	for (size_t i = c ? c->nmsgs : 0; i-- > 0;) {
		struct msg *m = &c->msgs[i];
		if (!mqtt_template_match(&src->topic, m->topic, strlen(m->topic), address ? &bind : NULL,
					 NULL))
			continue;
		seen = true;
		r = mqtt_payload_decode(src, mapping_raw_size(pt->xf.raw, pt->xf.width), &m->pl, out,
					time_usec);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			snprintf(
				why, why_size, "the message on '%s' %s", m->topic,
				src->format == MQTT_FORMAT_TEMPLATE
					? "fails the value template (not JSON, no number, a division by zero)"
				: r == -EBADMSG
					? (src->format == MQTT_FORMAT_RAW ? "is too short" : "is not JSON")
					: "has no value there (an object, a list or null)");
		break;
	}
	if (r == -ENOENT)
		snprintf(why, why_size,
			 seen ? "no --mqtt message on '%s' has it" : "no --mqtt message on '%s'",
			 src->topic.src);
	ydoc_free(doc);
	return r;
}

/* The capture's topic binding for a point: --address, else what a
 * captured message on its source topic shows. */
static int learn(struct bridge_capture *c, const struct mapping_point *pt, const char *address,
		 struct ydoc **doc, struct mqtt_binding *bind, char *why, size_t why_size)
{
	const struct mqtt_source *src = pt->source;

	if (address)
		return binding(address, doc, bind, why, why_size);
	for (size_t i = c && src ? c->nmsgs : 0; i-- > 0;)
		if (mqtt_template_match(&src->topic, c->msgs[i].topic, strlen(c->msgs[i].topic), NULL, bind))
			return 0;
	return 0;
}

static int describe(struct bridge_capture *c, const struct mapping_point *pt, const char *address,
		    const struct mapping_sample *s, const char *args, char *buf, size_t size)
{
	const struct mqtt_source *w = s ? pt->write : pt->execute;
	struct mqtt_binding bind = { 0 };
	struct ydoc *doc = NULL;
	char topic[1100], payload[4200], text[1024], why[200] = "";
	const char *missing = NULL;
	bool is_string = true;
	int n, r;

	if (!w) {
		snprintf(buf, size, "nothing: the point has no %s", s ? "write" : "execute");
		return -EPERM;
	}
	if (w->ota) {
		snprintf(buf, size,
			 "the firmware update's state machine (zigbee2mqtt OTA on '%s', docs/updates.md)",
			 w->topic.src);
		return 0;
	}
	r = learn(c, pt, address, &doc, &bind, why, sizeof(why));
	if (r < 0) {
		snprintf(buf, size, "%s", why);
		r = -EINVAL;
		goto out;
	}
	r = mqtt_template_expand(&w->topic, &bind, topic, sizeof(topic), &missing);
	if (r < 0) {
		snprintf(buf, size,
			 "topic '%s' needs {%s}: give --address (or a --mqtt message on the state topic)",
			 w->topic.src, missing ? missing : "?");
		r = -EINVAL;
		goto out;
	}
	if (s)
		n = mqtt_sample_text(s, text, sizeof(text), &is_string);
	else
		n = snprintf(text, sizeof(text), "%s", args ? args : "");
	r = n;
	if (n < 0)
		goto out;
	r = mqtt_fill_payload(w->payload, text, (size_t)n, is_string, &bind, payload, sizeof(payload));
	if (r < 0)
		goto out;
	r = snprintf(buf, size, "publish '%s' '%s' (QoS %u%s%s)", topic, payload, w->qos,
		     w->retain ? ", retained" : "", w->confirm_usec ? ", then wait for the state echo" : "");
	r = r < 0 ? -EIO : 0;
out:
	ydoc_free(doc);
	return r;
}

struct gen_ctx {
	int (*fn)(void *ud, const struct bridge_generated *g);
	void *ud;
	int count;
};

static void emit(struct gen_ctx *G, const struct auto_profile *p)
{
	struct bridge_generated g = { .device = p->device,
				      .address = p->address,
				      .name = p->name,
				      .text = p->text,
				      .len = p->len,
				      .skipped = p->skipped };

	if (G->fn(G->ud, &g) >= 0)
		G->count++;
}

static int gen_z2m(struct bridge_capture *c, struct gen_ctx *G, char *why, size_t why_size)
{
	struct z2m_conf conf = { .base_topic = "zigbee2mqtt", .prefix = "" };
	struct mqtt_payload pl;
	struct json_object *doc;

	mqtt_payload_init(&pl, c->z2m, c->z2m_len);
	if (mqtt_payload_json(&pl, &doc) < 0 || !json_object_is_type(doc, json_type_array)) {
		mqtt_payload_clear(&pl);
		snprintf(why, why_size,
			 "--z2m-devices: not a JSON list of devices (zigbee2mqtt's bridge/devices)");
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(doc); i++) {
		struct auto_profile p;
		if (z2m_profile(json_object_array_get_idx(doc, i), &conf, &p) == 0)
			emit(G, &p);
		auto_profile_clear(&p);
	}
	mqtt_payload_clear(&pl);
	return 0;
}

static int gen_ha(struct bridge_capture *c, struct gen_ctx *G, char *why, size_t why_size)
{
	struct ha_conf conf = { .prefix = "homeassistant", .name_prefix = "ha-" };
	struct ha_entity *e[MAX_MSGS] = { 0 };
	int r = 0;

	/* Parsed with the prefix each topic has. */
	for (size_t i = 0; i < c->nha; i++) {
		char component[32], object[256], prefix[256];
		const char *t = c->ha[i].topic, *slash = strchr(t, '/');
		snprintf(prefix, sizeof(prefix), "%.*s", slash ? (int)(slash - t) : 0, t);
		conf.prefix = prefix;
		if (!ha_topic_parse(&conf, t, strlen(t), component, sizeof(component), object,
				    sizeof(object)) ||
		    ha_entity_parse(component, t, c->ha[i].data, c->ha[i].len, &e[i]) < 0) {
			snprintf(why, why_size,
				 "--ha-config '%s': not <prefix>/<component>/[<node_id>/]<object_id>/config "
				 "with a JSON "
				 "configuration",
				 t);
			r = -EINVAL;
			goto out;
		}
	}
	conf.prefix = "homeassistant";
	for (size_t i = 0; i < c->nha; i++) {
		struct ha_entity *mine[MAX_MSGS];
		size_t m = 0;
		struct auto_profile p;
		if (!e[i])
			continue;
		for (size_t j = i; j < c->nha; j++)
			if (e[j] && strcmp(ha_entity_device_id(e[j]), ha_entity_device_id(e[i])) == 0)
				mine[m++] = e[j];
		if (ha_profile(mine, m, &conf, &p) == 0)
			emit(G, &p);
		auto_profile_clear(&p);
		for (size_t j = c->nha; j-- > i + 1;)
			if (e[j] && strcmp(ha_entity_device_id(e[j]), ha_entity_device_id(e[i])) == 0)
				e[j] = ha_entity_free(e[j]);
		e[i] = ha_entity_free(e[i]);
	}
out:
	for (size_t i = 0; i < c->nha; i++)
		ha_entity_free(e[i]);
	return r;
}

static int generate(struct bridge_capture *c, const char *what,
		    int (*fn)(void *ud, const struct bridge_generated *g), void *ud, char *why,
		    size_t why_size)
{
	struct gen_ctx G = { .fn = fn, .ud = ud };
	int r;

	if (what) {
		snprintf(why, why_size, "MQTT bridges generate nothing for 'generate: %s'", what);
		return -ENOTSUP;
	}
	if (c && c->z2m && (r = gen_z2m(c, &G, why, why_size)) < 0)
		return r;
	if (c && c->nha && (r = gen_ha(c, &G, why, why_size)) < 0)
		return r;
	return G.count;
}

const struct bridge_tester mqtt_tester = {
	.opts = opts,
	.capture = capture,
	.capture_free = capture_free,
	.sample = sample,
	.describe = describe,
	.generate = generate,
};
