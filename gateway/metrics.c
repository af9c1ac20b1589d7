/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics: the numbers of `fieldgate status` as OpenMetrics 1.0 text
 * (`fieldgate metrics`, over the status socket) and as the Prometheus
 * text format 0.0.4 in a file that node_exporter's textfile collector
 * reads (metrics.textfile, rewritten every metrics.interval).
 *
 * Why two dialects of one text: node_exporter parses the textfile with the
 * Prometheus parser, where a counter's TYPE line names the sample
 * ("fieldgate_device_samples_total"), while OpenMetrics names the family
 * without the suffix and ends with "# EOF". Everything else is the same.
 *
 * Families are written whole (every sample of a family together, as both
 * formats require), so the devices are gathered first. Label values are
 * escaped; metric names only ever come from this file and from the
 * bridges' static counter names ([a-z0-9_]).
 */
#include "gateway/registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

struct mdev {
	const char *name, *bridge, *type;
	bool registered, reachable;
	uint64_t last_seen; /* CLOCK_REALTIME usec, 0: never */
	uint64_t samples, decode_errors, unreachable, registration_fail, notifications;
	struct bridge_counter counters[BRIDGE_COUNTERS_MAX];
	size_t ncounters;
};

struct gather {
	struct mdev *v;
	size_t n, cap;
	bool oom;
};

struct out {
	FILE *f;
	bool om; /* OpenMetrics, else Prometheus 0.0.4 */
};

static void gather_device(void *ud, const struct gw_device_info *d)
{
	struct gather *g = ud;
	struct mdev *m;

	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		struct mdev *v = realloc(g->v, cap * sizeof(*v));
		if (!v) {
			g->oom = true;
			return;
		}
		g->v = v;
		g->cap = cap;
	}
	m = &g->v[g->n++];
	*m = (struct mdev){
		.name = d->name,
		.bridge = d->bridge,
		.type = d->bridge_type,
		.registered = strcmp(d->state, "registered") == 0,
		.reachable = d->presence >= 0,
		.last_seen = d->last_sample_usec,
		.samples = d->samples,
		.decode_errors = d->decode_errors,
		.unreachable = d->unreachable,
		.registration_fail = d->registration_fail,
		.notifications = d->notifications,
		.ncounters = d->ncounters,
	};
	memcpy(m->counters, d->counters, d->ncounters * sizeof(d->counters[0]));
}

static void escaped(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

/* "# HELP" and "# TYPE" of a family; counters are named with _total in
 * the Prometheus dialect's TYPE line, without in OpenMetrics. */
static void family(const struct out *o, const char *prefix, const char *name, bool counter, const char *help)
{
	const char *suffix = counter && !o->om ? "_total" : "";

	fprintf(o->f, "# HELP %s%s%s ", prefix, name, suffix);
	escaped(o->f, help, false);
	fprintf(o->f, "\n# TYPE %s%s%s %s\n", prefix, name, suffix, counter ? "counter" : "gauge");
}

/* A sample's name and labels: name/value pairs ending with NULL (a NULL
 * value leaves its label out). The value follows. */
static void sample_name(const struct out *o, const char *prefix, const char *name, bool counter,
			const char *const *labels)
{
	bool first = true;

	fprintf(o->f, "%s%s%s", prefix, name, counter ? "_total" : "");
	for (size_t i = 0; labels && labels[i]; i += 2) {
		if (!labels[i + 1])
			continue;
		fprintf(o->f, "%s%s=\"", first ? "{" : ",", labels[i]);
		escaped(o->f, labels[i + 1], true);
		fputc('"', o->f);
		first = false;
	}
	if (!first)
		fputc('}', o->f);
}

static void sample(const struct out *o, const char *prefix, const char *name, bool counter,
		   const char *const *labels, uint64_t value)
{
	sample_name(o, prefix, name, counter, labels);
	fprintf(o->f, " %llu\n", (unsigned long long)value);
}

static void one(const struct out *o, const char *name, bool counter, const char *help, uint64_t value)
{
	family(o, "fieldgate_", name, counter, help);
	sample(o, "fieldgate_", name, counter, NULL, value);
}

enum dev_field { F_REGISTERED, F_REACHABLE, F_SAMPLES, F_DECODE, F_UNREACHABLE, F_REGFAIL, F_NOTIFICATIONS };

static uint64_t dev_value(const struct mdev *d, enum dev_field f)
{
	switch (f) {
	case F_REGISTERED:
		return d->registered;
	case F_REACHABLE:
		return d->reachable;
	case F_SAMPLES:
		return d->samples;
	case F_DECODE:
		return d->decode_errors;
	case F_UNREACHABLE:
		return d->unreachable;
	case F_NOTIFICATIONS:
		return d->notifications;
	default:
		return d->registration_fail;
	}
}

static void devices(const struct out *o, const struct gather *g)
{
	static const struct {
		const char *name;
		enum dev_field field;
		bool counter;
		const char *help;
	} fields[] = {
		{ "device_registered", F_REGISTERED, false,
		  "1 while the device is registered with the LwM2M server" },
		{ "device_reachable", F_REACHABLE, false,
		  "1 while its bridge reaches the device (/3/0/11 is 0)" },
		{ "device_samples", F_SAMPLES, true, "samples accepted from the field" },
		{ "device_decode_errors", F_DECODE, true, "samples the device's profile refused" },
		{ "device_unreachable", F_UNREACHABLE, true, "times the device became unreachable" },
		{ "device_registration_failures", F_REGFAIL, true, "registration exchanges that failed" },
		{ "device_notifications", F_NOTIFICATIONS, true,
		  "notifications sent to the LwM2M server for the device since it started" },
	};

	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		family(o, "fieldgate_", fields[k].name, fields[k].counter, fields[k].help);
		for (size_t i = 0; i < g->n; i++) {
			const char *labels[] = { "device", g->v[i].name, "bridge", g->v[i].bridge, NULL };
			sample(o, "fieldgate_", fields[k].name, fields[k].counter, labels,
			       dev_value(&g->v[i], fields[k].field));
		}
	}
	/* Never seen: no sample at all, rather than a time of 0 (1970). */
	family(o, "fieldgate_", "device_last_seen_seconds", false,
	       "time of the device's last accepted sample (seconds since the epoch)");
	for (size_t i = 0; i < g->n; i++) {
		const struct mdev *d = &g->v[i];
		const char *labels[] = { "device", d->name, "bridge", d->bridge, NULL };
		if (!d->last_seen)
			continue;
		sample_name(o, "fieldgate_", "device_last_seen_seconds", false, labels);
		fprintf(o->f, " %llu.%03llu\n", (unsigned long long)(d->last_seen / 1000000u),
			(unsigned long long)(d->last_seen % 1000000u / 1000u));
	}
}

/* The bridges' own counters: one family per bridge type and counter name
 * (fieldgate_modbus_crc_errors), in the order first met. */
static void bridge_counters(const struct out *o, const struct gather *g)
{
	for (size_t i = 0; i < g->n; i++)
		for (size_t c = 0; c < g->v[i].ncounters; c++) {
			const struct bridge_counter *bc = &g->v[i].counters[c];
			char prefix[64];
			bool seen = false;

			/* Written already with an earlier device of this type? */
			for (size_t j = 0; j < i && !seen; j++)
				for (size_t k = 0; k < g->v[j].ncounters && !seen; k++)
					seen = strcmp(g->v[j].type, g->v[i].type) == 0 &&
					       strcmp(g->v[j].counters[k].name, bc->name) == 0;
			if (seen)
				continue;
			snprintf(prefix, sizeof(prefix), "fieldgate_%s_", g->v[i].type);
			family(o, prefix, bc->name, !bc->gauge, bc->help);
			for (size_t j = i; j < g->n; j++)
				for (size_t k = 0; k < g->v[j].ncounters; k++) {
					const char *labels[] = { "device", g->v[j].name, "bridge",
								 g->v[j].bridge, NULL };
					if (strcmp(g->v[j].type, g->v[i].type) == 0 &&
					    strcmp(g->v[j].counters[k].name, bc->name) == 0)
						sample(o, prefix, bc->name, !bc->gauge, labels,
						       g->v[j].counters[k].value);
				}
		}
}

/* Per configured bridge (also one without devices yet). */
static void bridges(const struct out *o, const struct gw_config *c, const struct gather *g)
{
	static const struct {
		const char *name;
		bool counter;
		const char *help;
	} fields[] = {
		{ "bridge_devices", false, "devices on the bridge (configured and discovered)" },
		{ "bridge_devices_unreachable", false, "devices the bridge cannot reach now" },
		{ "bridge_samples", true, "samples accepted from the bridge's devices" },
		{ "bridge_decode_errors", true, "samples of the bridge's devices their profile refused" },
	};

	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]) && gw_config_bridge_count(c); k++) {
		family(o, "fieldgate_", fields[k].name, fields[k].counter, fields[k].help);
		for (size_t b = 0; b < gw_config_bridge_count(c); b++) {
			const struct gw_bridge *br = gw_config_bridge(c, b);
			const char *labels[] = { "bridge", br->name, "type", br->type, NULL };
			uint64_t v = 0;
			for (size_t i = 0; i < g->n; i++) {
				const struct mdev *d = &g->v[i];
				if (!d->bridge || strcmp(d->bridge, br->name) != 0)
					continue;
				v += k == 0   ? 1
				     : k == 1 ? !d->reachable
				     : k == 2 ? d->samples
					      : d->decode_errors;
			}
			sample(o, "fieldgate_", fields[k].name, fields[k].counter, labels, v);
		}
	}
}

int gw_metrics_text(const struct gw_registry *r, bool openmetrics, FILE *f)
{
	struct gather g = { 0 };
	struct gw_registry_info info;
	struct out o = { .f = f, .om = openmetrics };
	const char *labels[8];

	gw_registry_info(r, &info);
	gw_registry_each_device(r, gather_device, &g);
	if (g.oom) {
		free(g.v);
		return -ENOMEM;
	}
	family(&o, "fieldgate_", "info", false, "fieldgate's version, the gateway's name and LwM2M mode");
	labels[0] = "version";
	labels[1] = gw_version;
	labels[2] = "gateway";
	labels[3] = info.config->gateway.name;
	labels[4] = "mode";
	labels[5] = gw_mode_to_string(info.config->lwm2m.mode);
	labels[6] = NULL;
	sample(&o, "fieldgate_", "info", false, labels, 1);
	one(&o, "gateway_registered", false, "1 while the gateway's own endpoint is registered",
	    strcmp(info.state, "registered") == 0);
	one(&o, "gateway_extra_endpoints", false,
	    "gateway mode: extra gateway endpoints holding devices (past lwm2m.gateway_devices_max)",
	    info.extra_endpoints);
	one(&o, "gateway_extra_endpoints_registered", false, "... of them registered", info.extra_registered);
	one(&o, "devices", false, "devices (configured and discovered)", info.devices);
	one(&o, "devices_registered", false, "devices registered with the LwM2M server", info.registered);
	one(&o, "lwm2m_registers", true, "Register messages sent (all endpoints)", info.client.registers);
	one(&o, "lwm2m_updates", true, "registration Update messages sent", info.client.updates);
	one(&o, "lwm2m_registration_failures", true, "registration exchanges that failed",
	    info.client.failures);
	one(&o, "lwm2m_requests", true, "device management requests served", info.client.requests);
	one(&o, "lwm2m_notifications", true, "notifications sent", info.client.notifications);
	one(&o, "lwm2m_observations", false, "observations held by the server", info.client.observations);
	one(&o, "lwm2m_observations_refused", true, "Observe requests refused: max_observations reached",
	    info.client.obs_refused);
	devices(&o, &g);
	bridge_counters(&o, &g);
	bridges(&o, info.config, &g);
	if (openmetrics)
		fputs("# EOF\n", f);
	free(g.v);
	return ferror(f) ? -EIO : 0;
}

int gw_metrics_write_file(const struct gw_registry *r, const char *path)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd, ret;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(tmp);
		return ret;
	}
	/* node_exporter runs as its own user. Not fsynced: metrics are
	 * rewritten every interval, and a file lost to a power cut is
	 * simply written again; flash is spared a sync every 15 s. */
	if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
		ret = -errno;
		goto out;
	}
	fd = -1;
	ret = gw_metrics_text(r, false, f);
	if (fclose(f) != 0 && ret >= 0)
		ret = -errno;
	f = NULL;
	if (ret >= 0 && rename(tmp, path) < 0)
		ret = -errno;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	free(tmp);
	return ret;
}

/* ---- the textfile, rewritten from the loop -------------------------------- */

struct gw_metrics_file {
	sd_event_source *timer;
	const struct gw_registry *r;
	char *path;
	uint64_t interval;
	int failed; /* the errno of the last failure, logged once until it works again */
};

static void metrics_file_write(struct gw_metrics_file *m)
{
	int e = gw_metrics_write_file(m->r, m->path);

	if (e < 0 && e != m->failed)
		log_warning_errno(e, "Cannot write the metrics file %s (metrics.textfile): %m", m->path);
	else if (e >= 0 && m->failed)
		log_info("Metrics file %s written again", m->path);
	m->failed = e < 0 ? e : 0;
}

static int on_metrics_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct gw_metrics_file *m = ud;

	metrics_file_write(m);
	return sd_event_source_set_time(s, usec + m->interval);
}

int gw_metrics_file_new(sd_event *ev, const struct gw_registry *r, struct gw_metrics_file **out)
{
	struct gw_metrics_file *m = calloc(1, sizeof(*m));
	int e;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->r = r;
	e = sd_event_add_time_relative(ev, &m->timer, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_metrics_timer, m);
	if (e < 0) {
		free(m);
		return e;
	}
	(void)sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
	*out = m;
	return 0;
}

void gw_metrics_file_apply(struct gw_metrics_file *m, const struct gw_config *c)
{
	const char *path = c->metrics.textfile;
	uint64_t now;

	if (!m)
		return;
	if (m->path && (!path || strcmp(path, m->path) != 0)) {
		/* No stale numbers left where node_exporter would read them. */
		(void)unlink(m->path);
		free(m->path);
		m->path = NULL;
	}
	m->interval = c->metrics.interval_usec;
	if (!path) {
		(void)sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
		return;
	}
	if (!m->path && !(m->path = strdup(path))) {
		log_oom();
		return;
	}
	m->failed = 0;
	metrics_file_write(m);
	if (sd_event_now(sd_event_source_get_event(m->timer), CLOCK_MONOTONIC, &now) >= 0)
		(void)sd_event_source_set_time(m->timer, now + m->interval);
	(void)sd_event_source_set_enabled(m->timer, SD_EVENT_ON);
}

struct gw_metrics_file *gw_metrics_file_free(struct gw_metrics_file *m)
{
	if (!m)
		return NULL;
	sd_event_source_disable_unref(m->timer);
	/* A stopped gateway has no metrics: node_exporter then shows none
	 * rather than the last ones as if current. */
	if (m->path)
		(void)unlink(m->path);
	free(m->path);
	free(m);
	return NULL;
}
