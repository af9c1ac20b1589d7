/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `fieldgate status --json` and `status --names`: the daemon's state for
 * programs. The JSON document has one schema, docs/status.schema.json
 * (installed beside the profiles), with "format_version" 1: fields are only
 * ever added (and the schema with them), a field's meaning never changes;
 * anything else takes a new format_version. Built with json-c, which
 * escapes every string.
 *
 * Nothing secret goes in: keys, passwords and credentials never reach the
 * registry's device records, only names, counters and states do.
 */
#include "gateway/registry/registry.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#define FORMAT_VERSION 1

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *seconds(uint64_t usec)
{
	return json_object_new_double((double)usec / 1e6);
}

static void add(json_object *o, const char *key, json_object *v)
{
	json_object_object_add(o, key, v);
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

#define FLAGS (JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Devices are written one by one as they are walked: a document of
 * 10,000 devices is never a tree in memory at once (json-c costs ~4 KiB
 * per device object). */
struct walk {
	FILE *out;
	size_t n, reachable;
	bool oom;
};

static void device_json(void *ud, const struct gw_device_info *d)
{
	struct walk *w = ud;
	json_object *o = json_object_new_object(), *c = json_object_new_object();
	const char *text;

	add(o, "name", json_object_new_string(d->name));
	add(o, "endpoint", json_object_new_string(d->endpoint));
	add(o, "profile", json_object_new_string(d->profile));
	add(o, "bridge", str_or_null(d->bridge));
	add(o, "bridge_type", str_or_null(d->bridge_type));
	add(o, "state", json_object_new_string(d->state));
	add(o, "discovered", json_object_new_boolean(d->discovered));
	add(o, "source", json_object_new_string(d->source));
	add(o, "reachable", json_object_new_boolean(d->presence >= 0));
	add(o, "unreachable_reason", d->presence < 0 ? json_object_new_string(strerror(-d->presence)) : NULL);
	add(o, "last_sample", d->last_sample_usec ? seconds(d->last_sample_usec) : NULL);
	add(o, "last_sample_age", d->last_sample_usec ? seconds(d->last_sample_age) : NULL);
	add_u64(o, "samples", d->samples);
	add_u64(o, "decode_errors", d->decode_errors);
	add_u64(o, "unreachable", d->unreachable);
	add_u64(o, "registration_failures", d->registration_fail);
	for (size_t i = 0; i < d->ncounters; i++)
		add_u64(c, d->counters[i].name, d->counters[i].value);
	add(o, "bridge_counters", c);
	add(o, "bridge_status", str_or_null(d->bridge_status[0] ? d->bridge_status : NULL));
	text = json_object_to_json_string_ext(o, FLAGS);
	if (!text || fprintf(w->out, "%s\n    %s", w->n ? "," : "", text) < 0)
		w->oom = true;
	json_object_put(o);
	w->n++;
	if (d->presence >= 0)
		w->reachable++;
}

int gw_status_json(const struct gw_registry *r, FILE *out)
{
	static const char *const roles[2] = { "server", "bootstrap" };
	struct gw_registry_info info;
	struct walk w = { .out = out };
	json_object *doc = json_object_new_object(), *o, *servers = json_object_new_array();
	struct timespec now;
	const char *text, *end;
	int ret = 0;

	gw_registry_info(r, &info);
	clock_gettime(CLOCK_REALTIME, &now);
	add(doc, "format", json_object_new_string("fieldgate-status"));
	add(doc, "format_version", json_object_new_int(FORMAT_VERSION));
	add(doc, "version", json_object_new_string(gw_version));
	add(doc, "time", seconds((uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u));

	o = json_object_new_object();
	add(o, "name", json_object_new_string(info.config->gateway.name));
	add(o, "mode", json_object_new_string(gw_mode_to_string(info.config->lwm2m.mode)));
	add(o, "state", json_object_new_string(info.state));
	add_u64(o, "registration_failures", info.registration_failures);
	add(doc, "gateway", o);

	for (size_t i = 0; i < 2; i++) {
		if (!info.servers[i].host)
			continue;
		o = json_object_new_object();
		add(o, "role", json_object_new_string(roles[i]));
		add(o, "host", json_object_new_string(info.servers[i].host));
		add(o, "resolved", json_object_new_boolean(info.servers[i].resolved));
		add(o, "lookup_error", str_or_null(info.servers[i].error));
		json_object_array_add(servers, o);
	}
	add(doc, "servers", servers);

	o = json_object_new_object();
	add_u64(o, "endpoints", info.client.endpoints);
	add_u64(o, "registered", info.client.registered);
	add_u64(o, "registers", info.client.registers);
	add_u64(o, "updates", info.client.updates);
	add_u64(o, "registration_failures", info.client.failures);
	add_u64(o, "requests", info.client.requests);
	add_u64(o, "notifications", info.client.notifications);
	add_u64(o, "observations", info.client.observations);
	add_u64(o, "observations_refused", info.client.obs_refused);
	add(doc, "lwm2m", o);

	/* The head as an object without its closing brace, then the devices
	 * as they come, then the totals they make. */
	text = json_object_to_json_string_ext(doc, FLAGS);
	if (text && (end = strrchr(text, '}'))) {
		while (end > text && end[-1] == ' ')
			end--;
		if (fprintf(out, "%.*s, \"devices\": [", (int)(end - text), text) < 0)
			ret = -ENOMEM;
	} else
		ret = -ENOMEM;
	if (ret == 0) {
		gw_registry_each_device(r, device_json, &w);
		o = json_object_new_object();
		add_u64(o, "devices", info.devices);
		add_u64(o, "registered", info.registered);
		add_u64(o, "reachable", w.reachable);
		text = json_object_to_json_string_ext(o, FLAGS);
		if (w.oom || !text || fprintf(out, "\n  ], \"totals\": %s }\n", text) < 0)
			ret = -ENOMEM;
		json_object_put(o);
	}
	json_object_put(doc);
	return ret;
}

static void device_name(void *ud, const struct gw_device_info *d)
{
	fprintf(ud, "%s\n", d->name);
}

int gw_status_names(const struct gw_registry *r, FILE *out)
{
	gw_registry_each_device(r, device_name, out);
	return 0;
}
