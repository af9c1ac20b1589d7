/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the registry tells: counts for the daemon's STATUS= and the table
 * `fieldgate status` prints.
 */
#include "gateway/registry/registry_internal.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"

void gw_registry_counts(const struct gw_registry *r, struct gw_registry_counts *out)
{
	*out = (struct gw_registry_counts){ .devices = r->n,
					    .gateway_registered = r->gw_state == LWM2M_EP_REGISTERED };
	for (size_t i = 0; i < r->n; i++)
		if (r->devs[i]->state == LWM2M_EP_REGISTERED)
			out->registered++;
}

static const char *state_word(int st)
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
	char age[32], errs[96], extra[160];

	gw_registry_counts(r, &cnt);
	fprintf(out, "Gateway %s (%s mode): endpoint %s %s\n", c->gateway.name,
		gw_mode_to_string(c->lwm2m.mode), c->gateway.name, state_word(r->gw_state));
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
		if ((l = strlen(v[i]->endpoint)) > w_ep)
			w_ep = l;
	}
	fprintf(out, "%-*s  %-*s  %-*s  %-13s  %-11s  %s\n", (int)w_dev, "DEVICE", (int)w_br, "BRIDGE",
		(int)w_ep, "ENDPOINT", "STATE", "LAST SAMPLE", "ERRORS");
	for (size_t i = 0; i < r->n; i++) {
		const struct dev *d = v[i];
		format_age(d->last_sample, now, age, sizeof(age));
		snprintf(errs, sizeof(errs), "decode %llu, unreachable %llu, registration %llu%s",
			 (unsigned long long)d->errors, (unsigned long long)d->unreachable,
			 (unsigned long long)d->reg_failures, d->presence < 0 ? " (unreachable now)" : "");
		extra[0] = 0;
		if (d->br && d->br->b && d->br->kind->device_status &&
		    d->br->kind->device_status(d->br->b, d->name, extra + 2, sizeof(extra) - 2) > 0) {
			extra[0] = ',';
			extra[1] = ' ';
			extra[sizeof(extra) - 1] = 0;
		}
		fprintf(out, "%-*s  %-*s  %-*s  %-13s  %-11s  %s%s%s\n", (int)w_dev, d->name, (int)w_br,
			d->cfg->bridge ? d->cfg->bridge : "-", (int)w_ep, d->endpoint, state_word(d->state),
			age, errs, extra, d->disc ? " (discovered)" : "");
	}
	fprintf(out, "%zu device%s, %zu registered\n", cnt.devices, cnt.devices == 1 ? "" : "s",
		cnt.registered);
	free(v);
}
