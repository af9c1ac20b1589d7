/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store-and-forward, the gateway's side: the configuration keys that set
 * it up (lwm2m.store, lwm2m.probe_interval, servers[].queue_mode and
 * notification_storing) handed to the LwM2M client, and what
 * `fieldgate status` says of it. The work itself is the client's
 * (lwm2m/client/sf.c, server.c; docs/ARCHITECTURE.md).
 *
 * The bridge statistics object (26241) is not filled by the gateway yet:
 * these counters are in status only.
 */
#include <stdio.h>

#include "gateway/gateway.h"
#include "lwm2m/client.h"

void gw_sf_client_config(const struct gw_config *c, struct lwm2m_client_config *cc)
{
	const struct gw_store_config *st = &c->lwm2m.store;
	uint64_t sync_ms = st->sync_usec / 1000u;

	cc->sf_max_samples = st->max_samples > UINT32_MAX ? UINT32_MAX : (uint32_t)st->max_samples;
	cc->sf_max_bytes = (size_t)st->max_bytes;
	cc->sf_total_bytes = (size_t)st->total_bytes;
	/* 0 s is "with every write", which the client spells 1 ms. */
	cc->sf_sync_ms = sync_ms == 0 ? 1 : sync_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)sync_ms;
	cc->probe_max_ms = (uint32_t)(c->lwm2m.probe_usec / 1000u);
}

void gw_sf_endpoint_config(const struct gw_server *sv, struct lwm2m_endpoint_config *ec)
{
	if (!sv)
		return;
	ec->binding = sv->queue_mode ? LWM2M_BINDING_UQ : LWM2M_BINDING_U;
	ec->storing_off = !sv->notification_storing;
}

void gw_sf_device_note(const struct lwm2m_sf_stats *st, char *buf, size_t size)
{
	buf[0] = '\0';
	if (st->held && st->dropped)
		snprintf(buf, size, ", held %zu, dropped %llu", st->held, (unsigned long long)st->dropped);
	else if (st->held)
		snprintf(buf, size, ", held %zu", st->held);
	else if (st->dropped)
		snprintf(buf, size, ", dropped %llu", (unsigned long long)st->dropped);
}

void gw_sf_status(const struct lwm2m_client *c, FILE *out)
{
	struct lwm2m_client_stats st;

	if (!c)
		return;
	lwm2m_client_get_stats(c, &st);
	/* Only when it says something: values waiting, or values lost. */
	if (!st.sf_held && !st.sf_dropped)
		return;
	fprintf(out,
		"Held for the server: %zu value%s (%zu bytes); since start %llu held, %llu delivered, %llu "
		"dropped at the bounds; server lost %llu time%s\n",
		st.sf_held, st.sf_held == 1 ? "" : "s", st.sf_bytes, (unsigned long long)st.sf_queued,
		(unsigned long long)st.sf_delivered, (unsigned long long)st.sf_dropped,
		(unsigned long long)st.servers_lost, st.servers_lost == 1 ? "" : "s");
}
