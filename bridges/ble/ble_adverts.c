/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device1 changes seen by the BLE bridge: adverts (BTHome, RuuviTag,
 * declarative fields, RSSI) into samples, auto-discovery of devices that
 * match a rule, and the connection state the GATT side waits for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/ble/ble_internal.h"
#include "bridges/ble/bthome.h"
#include "bridges/ble/ruuvi.h"
#include "common/log.h"

void ble_sample(struct ble_dev *d, const struct ble_point *p, const struct mapping_sample *s)
{
	struct ble_bridge *b = d->b;

	(void)bridge_sample(&b->base, p->h, s, 0);
}

/* A sensor whose counter went back (some firmwares restart it at 0 after
 * a battery change): a run of bthome_resync valid adverts (MIC checked)
 * whose counters keep counting up from there is taken as its new
 * sequence. Until then, and always without the option, anything not above
 * the last accepted counter is a replay. */
static bool resync(struct ble_dev *d, uint32_t counter)
{
	unsigned need = d->b->conf.bthome_resync;
	uint32_t from = d->last_counter;

	if (!need || counter == d->last_counter)
		return false;
	if (d->resync_run && counter > d->resync_counter)
		d->resync_run++;
	else
		d->resync_run = 1;
	d->resync_counter = counter;
	if (d->resync_run < need)
		return false;
	log_device_warning(
		BRIDGE_DEV_LOG(&d->b->base, d->name),
		"BLE device %s (%s): BTHome counter went back from %u and counted up to %u over %u "
		"adverts: accepted as the sensor's new sequence (battery change?)",
		d->name, d->macs, from, counter, d->resync_run);
	return true;
}

static void decode_bthome(struct ble_dev *d, const struct adv_bytes *a)
{
	struct bthome_adv adv;
	int r;

	if (a->len <= sizeof(d->last_sd) && a->len == d->last_sd_len &&
	    memcmp(a->data, d->last_sd, a->len) == 0) {
		d->dup++; /* the same advert again (DuplicateData) */
		return;
	}
	r = bthome_decode(a->data, a->len, d->addr.mac, d->addr.has_key ? d->addr.key : NULL, &adv);
	if (r == -ENOKEY) {
		d->nokey++;
		if (!d->warned_nokey)
			log_device_warning(
				BRIDGE_DEV_LOG(&d->b->base, d->name),
				"BLE device %s (%s): encrypted BTHome advert but no bindkey configured",
				d->name, d->macs);
		d->warned_nokey = true;
		return;
	}
	if (r == -EKEYREJECTED) {
		d->mic_fail++;
		log_full(d->warned_mic ? LOG_DEBUG : LOG_WARNING,
			 "BLE device %s (%s): encrypted BTHome advert rejected: MIC check failed "
			 "(wrong bindkey or tampered advert), %lu so far",
			 d->name, d->macs, d->mic_fail);
		d->warned_mic = true;
		return;
	}
	if (r < 0) {
		d->bad++;
		if (!d->warned_bad)
			log_device_warning_errno(BRIDGE_DEV_LOG(&d->b->base, d->name), r,
						 "BLE device %s (%s): BTHome advert not decoded: %m", d->name,
						 d->macs);
		d->warned_bad = true;
		return;
	}
	if (d->addr.has_key && !adv.encrypted) {
		/* With a key, plain adverts are what a spoofer would send. */
		d->unencrypted++;
		if (d->unencrypted == 1)
			log_device_warning(
				BRIDGE_DEV_LOG(&d->b->base, d->name),
				"BLE device %s (%s): plain BTHome advert refused: the device has a bindkey",
				d->name, d->macs);
		return;
	}
	if (adv.encrypted) {
		if (d->have_counter && adv.counter <= d->last_counter && !resync(d, adv.counter)) {
			d->replay++;
			log_full(d->warned_replay ? LOG_DEBUG : LOG_WARNING,
				 "BLE device %s (%s): encrypted BTHome advert rejected: replayed counter "
				 "%u (last %u), %lu so far",
				 d->name, d->macs, adv.counter, d->last_counter, d->replay);
			d->warned_replay = true;
			return;
		}
		d->have_counter = true;
		d->last_counter = adv.counter;
		d->resync_run = 0;
	} else if (adv.has_packet_id && adv.packet_id == d->last_packet_id) {
		d->dup++;
		return;
	}
	if (adv.has_packet_id)
		d->last_packet_id = adv.packet_id;
	if (a->len <= sizeof(d->last_sd)) {
		memcpy(d->last_sd, a->data, a->len);
		d->last_sd_len = a->len;
	}
	for (size_t i = 0; i < d->npts; i++) {
		const struct ble_point *p = d->pts[i];
		unsigned seen = 0;
		if (p->src->kind != BLE_SRC_BTHOME)
			continue;
		for (size_t k = 0; k < adv.n; k++) {
			bool match = p->src->object_id >= 0 ? adv.v[k].id == p->src->object_id
							    : strcmp(adv.v[k].name, p->src->bthome) == 0;
			if (!match)
				continue;
			if (seen++ == p->src->instance) {
				struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
							    .value = adv.v[k].v };
				ble_sample(d, p, &s);
				break;
			}
		}
	}
}

static void decode_ruuvi(struct ble_dev *d, const struct adv_bytes *a)
{
	struct ruuvi5 r;

	if (ruuvi_decode5(a->data, a->len, &r) < 0) {
		d->bad++;
		return;
	}
	for (size_t i = 0; i < d->npts; i++) {
		const struct ble_point *p = d->pts[i];
		if (p->src->kind != BLE_SRC_RUUVI || !r.valid[p->src->ruuvi_field])
			continue;
		struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
					    .value = { .type = LWM2M_TYPE_FLOAT,
						       .f = r.value[p->src->ruuvi_field] } };
		ble_sample(d, p, &s);
	}
}

static void decode_adv(struct ble_dev *d, const struct devprops *dp)
{
	for (size_t i = 0; i < dp->nsd; i++)
		if (strcmp(dp->sd[i].uuid, BTHOME_UUID) == 0)
			decode_bthome(d, &dp->sd[i]);
	for (size_t i = 0; i < dp->nmfr; i++)
		if (dp->mfr[i].company == RUUVI_COMPANY_ID && dp->mfr[i].len > 0 && dp->mfr[i].data[0] == 5)
			decode_ruuvi(d, &dp->mfr[i]);
	for (size_t i = 0; i < d->npts; i++) {
		const struct ble_point *p = d->pts[i];
		const struct ble_adv_match *m = &p->src->match;
		if (p->src->kind != BLE_SRC_ADV)
			continue;
		for (size_t k = 0; k < (m->by_service ? dp->nsd : dp->nmfr); k++) {
			const struct adv_bytes *a = m->by_service ? &dp->sd[k] : &dp->mfr[k];
			struct mapping_sample s;
			if (m->by_service ? strcmp(a->uuid, m->uuid) != 0 : a->company != m->company)
				continue;
			if (ble_adv_field(m, a->data, a->len, p->src->offset, p->length, &s) == 0)
				ble_sample(d, p, &s);
		}
	}
}

/* Auto-discovery: the first rule an advert matches names the profile. */
static void maybe_discover(struct ble_bridge *b, const uint8_t mac[6], const struct devprops *dp)
{
	const struct ble_rule *rule = NULL;
	char name[80], macs[18], hex[13];
	int r;

	if (!b->base.host.discover || b->conf.nrules == 0)
		return;
	for (size_t i = 0; i < b->conf.nrules && !rule; i++) {
		const struct ble_rule *ru = &b->conf.rules[i];
		for (size_t k = 0; k < dp->nsd && !rule; k++) {
			if (ru->kind == BLE_SRC_BTHOME && strcmp(dp->sd[k].uuid, BTHOME_UUID) == 0 &&
			    dp->sd[k].len > 0 && !(dp->sd[k].data[0] & 1) && (dp->sd[k].data[0] >> 5) == 2)
				rule = ru; /* plain v2 only: an encrypted one needs its key configured */
			if (ru->kind == BLE_SRC_ADV && ru->match.by_service &&
			    strcmp(dp->sd[k].uuid, ru->match.uuid) == 0 &&
			    ble_adv_prefix_ok(&ru->match, dp->sd[k].data, dp->sd[k].len))
				rule = ru;
		}
		for (size_t k = 0; k < dp->nmfr && !rule; k++) {
			if (ru->kind == BLE_SRC_RUUVI && dp->mfr[k].company == RUUVI_COMPANY_ID &&
			    dp->mfr[k].len >= 24 && dp->mfr[k].data[0] == 5)
				rule = ru;
			if (ru->kind == BLE_SRC_ADV && !ru->match.by_service &&
			    dp->mfr[k].company == ru->match.company &&
			    ble_adv_prefix_ok(&ru->match, dp->mfr[k].data, dp->mfr[k].len))
				rule = ru;
		}
	}
	if (!rule)
		return;
	if (b->ndiscovered >= b->conf.discover_max) {
		log_debug("BLE bridge %s: discovery limit %u reached", b->base.name, b->conf.discover_max);
		return;
	}
	ble_mac_format(mac, macs);
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	snprintf(name, sizeof(name), "%.50s-%s", rule->profile, hex);
	for (size_t i = 0; i < b->nrefused; i++)
		if (memcmp(b->refused[i], mac, 6) == 0)
			return; /* said why once already */
	r = b->base.host.discover(b->base.host.ud, b->base.name, name, rule->profile, macs);
	if (r < 0) {
		log_device_warning_errno(BRIDGE_DEV_LOG(&b->base, name), r,
					 "BLE bridge %s: cannot add discovered device %s (%s): %m",
					 b->base.name, name, macs);
		/* Not again at every advert: the answer would be the same. */
		if (b->nrefused < sizeof(b->refused) / sizeof(b->refused[0]))
			memcpy(b->refused[b->nrefused++], mac, 6);
		return;
	}
	log_device_info(BRIDGE_DEV_LOG(&b->base, name), "BLE bridge %s: discovered %s (%s), profile %s",
			b->base.name, name, macs, rule->profile);
	b->ndiscovered++;
	/* add_point() created it during the call. */
	struct ble_dev *d = ble_dev_by_mac(b, mac);
	if (d)
		d->discovered = true;
}

void ble_device_changed(struct ble_bridge *b, const char *path, const struct devprops *dp)
{
	uint8_t mac[6];
	struct ble_dev *d;

	if (!b->adapter_path || strncmp(path, b->adapter_path, strlen(b->adapter_path)) != 0 ||
	    path[strlen(b->adapter_path)] != '/')
		return; /* no adapter chosen yet, or a device of another adapter */
	if ((dp->address ? ble_mac_parse(dp->address, mac) : ble_mac_from_path(path, mac)) < 0 &&
	    ble_mac_from_path(path, mac) < 0)
		return;
	d = ble_dev_by_mac(b, mac);
	if (!d && (dp->nmfr || dp->nsd)) {
		maybe_discover(b, mac, dp);
		d = ble_dev_by_mac(b, mac);
	}
	if (!d)
		return;
	if (!d->path || strcmp(d->path, path) != 0) {
		free(d->path);
		d->path = strdup(path);
	}
	if (dp->has_rssi || dp->nmfr || dp->nsd) {
		d->adverts++;
		d->last_heard = ble_now_usec();
		ble_dev_presence(d, 0);
	}
	if (dp->has_rssi) {
		d->rssi = dp->rssi;
		d->has_rssi = true;
		for (size_t i = 0; i < d->npts; i++)
			if (d->pts[i]->src->kind == BLE_SRC_RSSI) {
				struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
							    .value = { .type = LWM2M_TYPE_INTEGER,
								       .i = dp->rssi } };
				ble_sample(d, d->pts[i], &s);
			}
	}
	if (dp->nmfr || dp->nsd)
		decode_adv(d, dp);
	/* decode_adv() may have re-entered (discovery): look d up again. */
	d = ble_dev_by_mac(b, mac);
	if (!d)
		return;
	if (dp->has_resolved)
		d->resolved = dp->resolved;
	if (dp->has_connected) {
		d->connected = dp->connected;
		if (!dp->connected) {
			d->resolved = false;
			if (d->gstate == G_RESOLVING || d->gstate == G_READY)
				ble_gatt_fail(d, -ECONNRESET, "disconnected");
		}
	}
	if (d->gstate == G_RESOLVING && d->connected && d->resolved)
		ble_gatt_ready(d);
}
