/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 5 (Firmware Update) of a zigbee2mqtt device, run against
 * zigbee2mqtt's OTA requests (a profile's `firmware: zigbee2mqtt`).
 *
 * What zigbee2mqtt does, as its documentation ("OTA updates",
 * https://www.zigbee2mqtt.io/guide/usage/ota_updates.html) and its
 * lib/extension/otaUpdate.ts say:
 *  - a request on <base>/bridge/request/device/ota_update/check or .../update
 *    with {"id": "<friendly name>"} (older versions: the bare name), extra
 *    members such as "transaction" echoed in the response;
 *  - the response on <base>/bridge/response/device/ota_update/check|update:
 *    {"data": {"id": ..., "update_available": bool (check), "from": {...},
 *    "to": {"software_build_id": ..., "date_code": ...} (update)},
 *    "status": "ok"|"error", "error": "...", "transaction": ...}; it comes
 *    when the check or the whole update is over;
 *  - the device's own state message <base>/<friendly name> carries
 *    "update": {"state": "available"|"updating"|"idle", "progress": 42.5,
 *    "remaining": 120, "installed_version": N, "latest_version": N} (with
 *    the legacy API also a top-level "update_available"), published before
 *    the response; during an update at every progress step.
 *
 * How it maps to the LwM2M state machine (docs/updates.md has the table):
 * the image comes from zigbee2mqtt's OTA index, never through the gateway,
 * so a Write of a `zigbee2mqtt:` Package URI asks zigbee2mqtt to check
 * (State 1 while it does), an available image is Downloaded (2), Update
 * asks zigbee2mqtt to update (3, progress from the state messages) and its
 * response ends it (Result 1, or 8 with zigbee2mqtt's error logged). Silence
 * for the bridge's ota_timeout ends a check or an update with Result 4.
 * zigbee2mqtt cannot abort a running update: Cancel and an empty Package
 * URI are refused (4.05) while Updating.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "bridges/mqtt/mqtt_auto.h"
#include "common/log.h"

/* Update Result values of the specification (Object 5, resource 5). */
enum {
	RES_INITIAL = 0,
	RES_UPDATED = 1,
	RES_CONNECTION_LOST = 4,
	RES_FAILED = 8,
	RES_UNSUPPORTED_PROTOCOL = 9,
	RES_CANCELLED = 10,
};

static const char *const state_names[] = { "idle", "downloading", "downloaded", "updating" };

struct z2m_ota {
	struct z2m_ota_host host;
	char *base, *id, *device, *bridge;
	uint64_t timeout_usec;
	sd_event_source *timer;
	int state, result;
	char version[64];
	char installed[32];   /* installed_version of the latest state message */
	bool field_available; /* the latest state message said an image is available */
	bool has_progress;
	double progress;
	int logged_tenth; /* the progress's tenth last logged at info level, -1 none */
	unsigned long long seq;
	char waiting[96]; /* transaction of the request whose response is awaited, "" none */
	char waiting_kind[8];
};

#define OTA_LOG(o) (&(const struct log_device){ .device = (o)->device, .bridge = (o)->bridge, .named = true })

/* ---- pure parsers ---------------------------------------------------------------- */

static void copy_text(char *dst, size_t size, struct json_object *v)
{
	const char *s = NULL;

	if (!v || json_object_is_type(v, json_type_null))
		return;
	s = json_object_get_string(v); /* numbers as JSON prints them */
	snprintf(dst, size, "%s", s ? s : "");
}

bool z2m_ota_response_topic(const char *topic, size_t len, char *base, size_t base_size, char *kind,
			    size_t kind_size)
{
	static const char mid[] = "/bridge/response/device/ota_update/";
	const char *m = NULL;

	for (const char *p = topic; p + sizeof(mid) - 1 <= topic + len; p++) {
		p = memchr(p, '/', (size_t)(topic + len - p));
		if (!p)
			break;
		if ((size_t)(topic + len - p) >= sizeof(mid) - 1 && memcmp(p, mid, sizeof(mid) - 1) == 0) {
			m = p;
			break;
		}
	}
	if (!m || m == topic)
		return false;
	const char *k = m + sizeof(mid) - 1;
	size_t kl = (size_t)(topic + len - k), bl = (size_t)(m - topic);
	if (!((kl == 5 && memcmp(k, "check", 5) == 0) || (kl == 6 && memcmp(k, "update", 6) == 0)) ||
	    bl >= base_size || kl >= kind_size)
		return false;
	memcpy(base, topic, bl);
	base[bl] = '\0';
	memcpy(kind, k, kl);
	kind[kl] = '\0';
	return true;
}

int z2m_ota_response_parse(struct json_object *doc, struct z2m_ota_response *out)
{
	struct json_object *data, *to, *v;
	const char *status;

	memset(out, 0, sizeof(*out));
	out->available = -1;
	if (!doc || !json_object_is_type(doc, json_type_object))
		return -EBADMSG;
	status = auto_jstr(doc, "status");
	if (!status || (strcmp(status, "ok") != 0 && strcmp(status, "error") != 0))
		return -EBADMSG;
	out->ok = strcmp(status, "ok") == 0;
	copy_text(out->error, sizeof(out->error), auto_jget(doc, "error"));
	copy_text(out->transaction, sizeof(out->transaction), auto_jget(doc, "transaction"));
	data = auto_jget(doc, "data");
	if (data && json_object_is_type(data, json_type_object)) {
		copy_text(out->id, sizeof(out->id), auto_jget(data, "id"));
		/* Snake case on the wire (utils.toSnakeCaseObject); camel case
		 * in some 1.x releases. */
		v = auto_jget(data, "update_available");
		if (!v)
			v = auto_jget(data, "updateAvailable");
		if (v && json_object_is_type(v, json_type_boolean))
			out->available = json_object_get_boolean(v);
		to = auto_jget(data, "to");
		if (to && json_object_is_type(to, json_type_object))
			copy_text(out->version, sizeof(out->version), auto_jget(to, "software_build_id"));
	}
	return 0;
}

int z2m_ota_state_parse(struct json_object *doc, struct z2m_ota_update *out)
{
	struct json_object *u, *v;
	const char *s;

	memset(out, 0, sizeof(*out));
	out->state = -1;
	if (!doc || !json_object_is_type(doc, json_type_object))
		return -EBADMSG;
	u = auto_jget(doc, "update");
	if (u && json_object_is_type(u, json_type_object)) {
		s = auto_jstr(u, "state");
		if (s && strcmp(s, "idle") == 0)
			out->state = Z2M_OTA_FIELD_IDLE;
		else if (s && strcmp(s, "available") == 0)
			out->state = Z2M_OTA_FIELD_AVAILABLE;
		else if (s && strcmp(s, "updating") == 0)
			out->state = Z2M_OTA_FIELD_UPDATING;
		v = auto_jget(u, "progress");
		if (v &&
		    (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))) {
			out->progress = json_object_get_double(v);
			out->has_progress = out->progress >= 0 && out->progress <= 100;
		}
		copy_text(out->installed, sizeof(out->installed), auto_jget(u, "installed_version"));
	} else {
		v = auto_jget(doc, "update_available"); /* the legacy API alone */
		if (v && json_object_is_type(v, json_type_boolean))
			out->state =
				json_object_get_boolean(v) ? Z2M_OTA_FIELD_AVAILABLE : Z2M_OTA_FIELD_IDLE;
	}
	return out->state < 0 ? -ENOENT : 0;
}

/* ---- the state machine --------------------------------------------------------------- */

/* Parked (host.ud NULL: its device is being rebuilt), the values are
 * taken at the next attach. */
static void changed(struct z2m_ota *o, uint16_t rid)
{
	if (o->host.ud)
		o->host.changed(o->host.ud, rid);
}

static void set_state(struct z2m_ota *o, int state, int result)
{
	bool s = o->state != state, r = o->result != result;

	if (s || r)
		log_device_debug(OTA_LOG(o), "%s: firmware update %s, result %d", o->device,
				 state_names[state], result);
	o->state = state;
	o->result = result;
	if (state != 3) {
		o->has_progress = false;
		o->logged_tenth = -1;
	}
	if (s)
		changed(o, 3);
	if (r)
		changed(o, 5);
}

static void disarm(struct z2m_ota *o)
{
	o->waiting[0] = '\0';
	o->waiting_kind[0] = '\0';
	if (o->timer)
		(void)sd_event_source_set_enabled(o->timer, SD_EVENT_OFF);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	struct z2m_ota *o = ud;

	(void)s;
	(void)usec;
	log_device_warning(
		OTA_LOG(o),
		"%s: zigbee2mqtt said nothing of the firmware %s of '%s' for %llu s: Update Result "
		"4 (connection lost)",
		o->device, o->state == 3 ? "update" : "check", o->id,
		(unsigned long long)(o->timeout_usec / 1000000));
	disarm(o);
	set_state(o, 0, RES_CONNECTION_LOST);
	return 0;
}

/* (Re)start the bound on zigbee2mqtt's silence. */
static int arm(struct z2m_ota *o)
{
	sd_event *ev = o->host.ud ? o->host.loop(o->host.ud) : NULL;
	int r;

	if (!ev)
		return -EHOSTUNREACH;
	if (!o->timer) {
		r = sd_event_add_time_relative(ev, &o->timer, CLOCK_MONOTONIC, o->timeout_usec, 100000,
					       on_timeout, o);
		return r;
	}
	r = sd_event_source_set_time_relative(o->timer, o->timeout_usec);
	if (r >= 0)
		r = sd_event_source_set_enabled(o->timer, SD_EVENT_ONESHOT);
	return r;
}

static int request(struct z2m_ota *o, const char *kind)
{
	char topic[512], tr[96];
	struct json_object *req = json_object_new_object();
	int r = -ENOMEM;

	snprintf(topic, sizeof(topic), "%s/bridge/request/device/ota_update/%s", o->base, kind);
	snprintf(tr, sizeof(tr), "fieldgate-%s-%llu", o->device, ++o->seq);
	if (!req || json_object_object_add(req, "id", json_object_new_string(o->id)) < 0 ||
	    json_object_object_add(req, "transaction", json_object_new_string(tr)) < 0)
		goto out;
	r = o->host.publish(o->host.ud, topic, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	if (r < 0)
		goto out;
	r = arm(o);
	if (r < 0)
		goto out;
	snprintf(o->waiting, sizeof(o->waiting), "%s", tr);
	snprintf(o->waiting_kind, sizeof(o->waiting_kind), "%s", kind);
	log_device_info(OTA_LOG(o), "%s: asked zigbee2mqtt to %s the firmware of '%s'", o->device, kind,
			o->id);
out:
	json_object_put(req);
	return r;
}

struct z2m_ota *z2m_ota_new(const char *base, const char *id, const char *device, const char *bridge,
			    uint64_t timeout_usec, const struct z2m_ota_host *host)
{
	struct z2m_ota *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->host = *host;
	o->logged_tenth = -1;
	o->timeout_usec = timeout_usec;
	o->base = strdup(base);
	o->id = strdup(id);
	o->device = strdup(device);
	o->bridge = strdup(bridge);
	if (!o->base || !o->id || !o->device || !o->bridge)
		return z2m_ota_free(o);
	return o;
}

struct z2m_ota *z2m_ota_free(struct z2m_ota *o)
{
	if (!o)
		return NULL;
	sd_event_source_disable_unref(o->timer);
	free(o->base);
	free(o->id);
	free(o->device);
	free(o->bridge);
	free(o);
	return NULL;
}

const char *z2m_ota_base(const struct z2m_ota *o)
{
	return o->base;
}

const char *z2m_ota_device(const struct z2m_ota *o)
{
	return o->device;
}

const char *z2m_ota_id(const struct z2m_ota *o)
{
	return o->id;
}

void z2m_ota_rehost(struct z2m_ota *o, void *ud)
{
	o->host.ud = ud;
}

int z2m_ota_get(const struct z2m_ota *o, uint16_t rid, struct mapping_sample *out)
{
	*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE };
	switch (rid) {
	case 3:
	case 5:
		out->value.type = LWM2M_TYPE_INTEGER;
		out->value.i = rid == 3 ? o->state : o->result;
		return 0;
	case 7:
		out->value.type = LWM2M_TYPE_STRING;
		out->value.bytes.ptr = (const uint8_t *)o->version;
		out->value.bytes.len = strlen(o->version);
		return 0;
	default:
		return -ENOENT;
	}
}

/* Package URIs the state machine takes: zigbee2mqtt fetches the image from
 * its own OTA index (the `ota:` settings of zigbee2mqtt), so the URI says
 * only that: "zigbee2mqtt:" and anything after it. */
static bool uri_ours(const char *s, size_t n)
{
	return n >= 12 && strncasecmp(s, "zigbee2mqtt:", 12) == 0;
}

int z2m_ota_write(struct z2m_ota *o, uint16_t rid, const struct mapping_sample *v)
{
	const char *s;
	size_t n;
	int r;

	if (rid != 1)
		return -EPERM; /* 5/0/0: no push, Delivery Method says pull only */
	if (v->kind != MAPPING_SAMPLE_VALUE || v->value.type != LWM2M_TYPE_STRING)
		return -EINVAL;
	if (o->state == 3)
		return -EPERM; /* zigbee2mqtt cannot abort a running update */
	s = (const char *)v->value.bytes.ptr;
	n = v->value.bytes.len;
	if (n == 0) {
		/* The specification: an empty URI resets to Idle, Result 0. */
		disarm(o);
		set_state(o, 0, RES_INITIAL);
		return 0;
	}
	if (!uri_ours(s, n)) {
		log_device_warning(
			OTA_LOG(o),
			"%s: Package URI '%.*s' is not a 'zigbee2mqtt:' URI (zigbee2mqtt fetches the "
			"image from its own OTA index): Update Result 9",
			o->device, (int)(n > 200 ? 200 : n), s);
		disarm(o);
		set_state(o, 0, RES_UNSUPPORTED_PROTOCOL);
		return 0;
	}
	r = request(o, "check");
	if (r < 0)
		return r;
	set_state(o, 1, RES_INITIAL);
	return 0;
}

int z2m_ota_execute(struct z2m_ota *o, uint16_t rid)
{
	int r;

	if (rid == 10) {
		/* Cancel: possible before the update started (the spec's
		 * Method Not Allowed in Updating, and here in Idle: there is
		 * nothing to cancel). */
		if (o->state != 1 && o->state != 2)
			return -EPERM;
		disarm(o);
		set_state(o, 0, RES_CANCELLED);
		return 0;
	}
	if (rid != 2)
		return -EPERM;
	if (o->state != 2)
		return -EPERM; /* "only executable when the State is Downloaded" */
	r = request(o, "update");
	if (r < 0)
		return r;
	o->has_progress = false;
	set_state(o, 3, RES_INITIAL);
	return 0;
}

void z2m_ota_state_message(struct z2m_ota *o, struct json_object *doc)
{
	struct z2m_ota_update u;

	if (z2m_ota_state_parse(doc, &u) < 0)
		return;
	o->field_available = u.state == Z2M_OTA_FIELD_AVAILABLE;
	if (u.installed[0])
		snprintf(o->installed, sizeof(o->installed), "%s", u.installed);
	if (o->state == 3) {
		if (u.has_progress) {
			o->has_progress = true;
			o->progress = u.progress;
			(void)arm(o); /* it is alive: the bound starts again */
			/* zigbee2mqtt reports at every step: one line per tenth at
			 * info level, the others at debug. */
			int tenth = (int)(u.progress / 10);
			log_device_full(OTA_LOG(o), tenth != o->logged_tenth ? LOG_INFO : LOG_DEBUG,
					"%s: firmware update at %.1f %%", o->device, u.progress);
			o->logged_tenth = tenth;
		}
		return; /* the response ends it */
	}
	if (o->state == 1)
		return; /* the check's response decides */
	if (u.state == Z2M_OTA_FIELD_UPDATING) {
		/* Someone else (zigbee2mqtt's frontend) started one. */
		(void)arm(o);
		set_state(o, 3, RES_INITIAL);
	} else if (u.state == Z2M_OTA_FIELD_AVAILABLE && o->state == 0) {
		set_state(o, 2, o->result);
	} else if (u.state == Z2M_OTA_FIELD_IDLE && o->state == 2) {
		set_state(o, 0, o->result);
	}
}

bool z2m_ota_response(struct z2m_ota *o, const char *kind, const struct z2m_ota_response *r)
{
	bool ours = o->waiting[0] && strcmp(r->transaction, o->waiting) == 0;

	/* Without our transaction (an older zigbee2mqtt, or a request from
	 * elsewhere): by the device's name, when this kind is awaited or an
	 * update runs. */
	if (!ours && !(strcmp(r->id, o->id) == 0 && (strcmp(kind, o->waiting_kind) == 0 ||
						     (o->state == 3 && strcmp(kind, "update") == 0))))
		return false;
	disarm(o);
	if (strcmp(kind, "check") == 0) {
		if (!r->ok) {
			log_device_error(OTA_LOG(o), "%s: zigbee2mqtt cannot check the firmware of '%s': %s",
					 o->device, o->id, r->error[0] ? r->error : "(no reason given)");
			set_state(o, 0, RES_FAILED);
		} else if (r->available == 1) {
			log_device_info(OTA_LOG(o), "%s: zigbee2mqtt has a firmware update for '%s'",
					o->device, o->id);
			o->field_available = true;
			set_state(o, 2, RES_INITIAL);
		} else {
			log_device_info(OTA_LOG(o),
					"%s: no firmware update for '%s' in zigbee2mqtt's OTA index",
					o->device, o->id);
			o->field_available = false;
			set_state(o, 0, RES_INITIAL);
		}
		return true;
	}
	if (!r->ok) {
		log_device_error(OTA_LOG(o), "%s: firmware update of '%s' failed: %s", o->device, o->id,
				 r->error[0] ? r->error : "(no reason given)");
		/* zigbee2mqtt still offers the image after a failure: Downloaded
		 * again, as the specification allows. */
		set_state(o, o->field_available ? 2 : 0, RES_FAILED);
		return true;
	}
	/* The build id zigbee2mqtt read after the update, else the OTA
	 * file version its last state message showed installed. */
	const char *nv = r->version[0] ? r->version : o->installed;
	if (nv[0] && strcmp(nv, o->version) != 0) {
		snprintf(o->version, sizeof(o->version), "%s", nv);
		changed(o, 7);
	}
	log_device_info(OTA_LOG(o), "%s: firmware of '%s' updated%s%s", o->device, o->id,
			o->version[0] ? " to " : "", o->version);
	o->field_available = false;
	set_state(o, 0, RES_UPDATED);
	return true;
}

int z2m_ota_note(const struct z2m_ota *o, char *buf, size_t size)
{
	if (o->state == 3 && o->has_progress)
		return snprintf(buf, size, " firmware=updating:%.1f%%", o->progress);
	return snprintf(buf, size, " firmware=%s:%d", state_names[o->state], o->result);
}
