/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the registry tells: counts for the daemon's STATUS= and the table
 * `fieldgate status` prints; the figures `status --json` and the metrics
 * are made of (gateway/status_json.c, gateway/metrics.c).
 */
#include "gateway/registry/registry_internal.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridges/bridge.h"

void gw_registry_counts(const struct gw_registry *r, struct gw_registry_counts *out)
{
	*out = (struct gw_registry_counts){ .devices = r->n,
					    .gateway_registered = r->gw_state == LWM2M_EP_REGISTERED };
	for (size_t i = 0; i < r->n; i++)
		if (r->devs[i]->state == LWM2M_EP_REGISTERED)
			out->registered++;
}

const char *status_state_word(int st)
{
	switch (st) {
	case LWM2M_EP_REGISTERED:
		return "registered";
	case LWM2M_EP_REGISTERING:
		return "registering";
	case LWM2M_EP_DEREGISTERING:
		return "deregistering";
	case LWM2M_EP_BOOTSTRAPPING:
		return "bootstrapping";
	case STATE_RESOLVING:
		return "resolving";
	default:
		return "waiting";
	}
}

static void format_age(uint64_t last, uint64_t now, char *buf, size_t size)
{
	uint64_t s;

	if (!last) {
		snprintf(buf, size, "never");
		return;
	}
	s = (now - last) / 1000000u;
	if (s < 120)
		snprintf(buf, size, "%llus", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, size, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, size, "%lluh", (unsigned long long)(s / 3600));
}

static int cmp_order(const void *a, const void *b)
{
	const struct dev *const *x = a, *const *y = b;
	return (*x)->order < (*y)->order ? -1 : (*x)->order > (*y)->order;
}

void gw_registry_status(const struct gw_registry *r, FILE *out)
{
	const struct gw_config *c = reg_config(r);
	struct gw_registry_counts cnt;
	struct dev **v = calloc(r->n + 1, sizeof(*v));
	size_t w_dev = 6, w_br = 6, w_ep = 8;
	uint64_t now = reg_now_usec();
	char age[32], errs[160], extra[160], held[64], ep[300];

	gw_registry_counts(r, &cnt);
	fprintf(out, "Gateway %s (%s mode): endpoint %s %s\n", c->gateway.name,
		gw_mode_to_string(c->lwm2m.mode), c->gateway.name, status_state_word(r->gw_state));
	/* Gateway mode: the extra gateway endpoints that hold devices. */
	for (uint32_t h = 1; h < placement_endpoints(r); h++) {
		uint32_t n = placement_devices(r, h);
		char name[256];

		if (n && target_host_name(r, h, name, sizeof(name)) >= 0)
			fprintf(out, "Also gateway endpoint %s %s, %u device%s\n", name,
				status_state_word(target_host_state(r, h)), n, n == 1 ? "" : "s");
	}
	for (size_t i = 0; i < 2; i++) {
		const struct hostres *h = &r->hosts[i];
		if (!h->host || h->ready)
			continue;
		if (h->gai)
			fprintf(out, "Server host %s: lookup failed (%s), retrying\n", h->host,
				gai_strerror(h->gai));
		else
			fprintf(out, "Server host %s: resolving\n", h->host);
	}
	if (!v)
		return;
	memcpy(v, r->devs, r->n * sizeof(*v));
	qsort(v, r->n, sizeof(*v), cmp_order);
	for (size_t i = 0; i < r->n; i++) {
		size_t l;
		if ((l = strlen(v[i]->name)) > w_dev)
			w_dev = l;
		if (v[i]->cfg->bridge && (l = strlen(v[i]->cfg->bridge)) > w_br)
			w_br = l;
		if ((l = strlen(target_shown_endpoint(v[i], ep, sizeof(ep)))) > w_ep)
			w_ep = l;
	}
	fprintf(out, "%-*s  %-*s  %-*s  %-13s  %-11s  %s\n", (int)w_dev, "DEVICE", (int)w_br, "BRIDGE",
		(int)w_ep, "ENDPOINT", "STATE", "LAST SAMPLE", "ERRORS");
	for (size_t i = 0; i < r->n; i++) {
		const struct dev *d = v[i];
		format_age(d->last_sample, now, age, sizeof(age));
		target_held_note(d, held, sizeof(held));
		snprintf(errs, sizeof(errs), "decode %llu, unreachable %llu, registration %llu%s%s",
			 (unsigned long long)d->errors, (unsigned long long)d->unreachable,
			 (unsigned long long)d->reg_failures, held,
			 d->presence < 0 ? " (unreachable now)" : "");
		extra[0] = 0;
		if (d->br && d->br->b && d->br->kind->device_status &&
		    d->br->kind->device_status(d->br->b, d->name, extra + 2, sizeof(extra) - 2) > 0) {
			extra[0] = ',';
			extra[1] = ' ';
			extra[sizeof(extra) - 1] = 0;
		}
		fprintf(out, "%-*s  %-*s  %-*s  %-13s  %-11s  %s%s%s\n", (int)w_dev, d->name, (int)w_br,
			d->cfg->bridge ? d->cfg->bridge : "-", (int)w_ep,
			target_shown_endpoint(d, ep, sizeof(ep)), status_state_word(d->state), age, errs,
			extra,
			d->disc                                       ? " (discovered)"
			: gw_device_is_remote(d->gen->config, d->cfg) ? " (remote)"
								      : "");
	}
	fprintf(out, "%zu device%s, %zu registered\n", cnt.devices, cnt.devices == 1 ? "" : "s",
		cnt.registered);
	gw_sf_status(r->client, out);
	free(v);
}

void gw_registry_info(const struct gw_registry *r, struct gw_registry_info *out)
{
	struct gw_registry_counts cnt;

	*out = (struct gw_registry_info){ .config = reg_config(r),
					  .state = status_state_word(r->gw_state),
					  .registration_failures = r->gw_failures };
	gw_registry_counts(r, &cnt);
	out->devices = cnt.devices;
	out->registered = cnt.registered;
	for (uint32_t h = 1; h < placement_endpoints(r); h++)
		if (placement_devices(r, h)) {
			out->extra_endpoints++;
			out->extra_registered += target_host_state(r, h) == LWM2M_EP_REGISTERED;
		}
	if (r->client)
		lwm2m_client_get_stats(r->client, &out->client);
	for (size_t i = 0; i < 2; i++) {
		out->servers[i].host = r->hosts[i].host;
		out->servers[i].resolved = r->hosts[i].ready;
		out->servers[i].error = r->hosts[i].gai ? gai_strerror(r->hosts[i].gai) : NULL;
	}
}

void gw_registry_each_device(const struct gw_registry *r,
			     void (*fn)(void *ud, const struct gw_device_info *d), void *ud)
{
	struct dev **v = calloc(r->n + 1, sizeof(*v));
	struct gw_device_info *info = calloc(1, sizeof(*info));
	struct timespec rt;
	uint64_t now = reg_now_usec(), real;

	if (!v || !info)
		goto out;
	clock_gettime(CLOCK_REALTIME, &rt);
	real = (uint64_t)rt.tv_sec * 1000000u + (uint64_t)rt.tv_nsec / 1000u;
	memcpy(v, r->devs, r->n * sizeof(*v));
	qsort(v, r->n, sizeof(*v), cmp_order);
	for (size_t i = 0; i < r->n; i++) {
		const struct dev *d = v[i];
		const struct bridge_kind *ops = d->br && d->br->b ? d->br->kind : NULL;
		char ep[300];
		int k;

		*info = (struct gw_device_info){
			.name = d->name,
			.endpoint = target_shown_endpoint(d, ep, sizeof(ep)),
			.profile = d->cfg->profile,
			.bridge = d->cfg->bridge,
			.bridge_type = d->br ? d->br->kind->name : NULL,
			.state = status_state_word(d->state),
			.discovered = d->disc != NULL,
			.source = d->disc ? "discovered" : gw_device_source(d->gen->config, d->cfg),
			.presence = d->presence,
			/* The monotonic time of the sample, told as wall-clock time. */
			.last_sample_usec = d->last_sample ? real - (now - d->last_sample) : 0,
			.last_sample_age = d->last_sample ? now - d->last_sample : 0,
			.samples = d->samples,
			.decode_errors = d->errors,
			.unreachable = d->unreachable,
			.registration_fail = d->reg_failures,
			.notifications = target_notifications(d),
		};
		if (ops && ops->device_counters &&
		    (k = ops->device_counters(d->br->b, d->name, info->counters, BRIDGE_COUNTERS_MAX)) > 0)
			info->ncounters = (size_t)k;
		if (ops && ops->device_status &&
		    ops->device_status(d->br->b, d->name, info->bridge_status, sizeof(info->bridge_status)) <
			    0)
			info->bridge_status[0] = 0;
		fn(ud, info);
	}
out:
	free(info);
	free(v);
}
