/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BLE bridge: a client of bluetoothd (org.bluez) on D-Bus.
 *
 * Everything is driven by signals: at start (and whenever org.bluez gets a
 * new owner, i.e. bluetoothd restarted) the bridge forgets what it knew,
 * reads the object tree once with GetManagedObjects, picks the adapter,
 * sets an LE discovery filter with DuplicateData and starts discovery; then
 * InterfacesAdded / InterfacesRemoved / PropertiesChanged keep it current.
 * Device1 ManufacturerData / ServiceData / RSSI changes are adverts; they
 * are decoded here and become samples. GATT devices are connected when they
 * have work (or always, for notify points and `connection: keep`), one
 * operation at a time per device, every call asynchronous with a timeout,
 * and at most max_connections devices connected or connecting at once.
 *
 * One 1 s tick drives GATT polls and the "not heard for unreachable_after"
 * presence check: it looks at the bridge's own state, never asks BlueZ.
 */
#include "bridges/ble/ble.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "bridges/ble/adv.h"
#include "bridges/ble/bthome.h"
#include "bridges/ble/ruuvi.h"
#include "bridges/ble/source.h"
#include "common/log.h"
#include "common/schema.h"

#define BLUEZ           "org.bluez"
#define IFACE_ADAPTER   "org.bluez.Adapter1"
#define IFACE_DEVICE    "org.bluez.Device1"
#define IFACE_SERVICE   "org.bluez.GattService1"
#define IFACE_CHAR      "org.bluez.GattCharacteristic1"
#define IFACE_PROPS     "org.freedesktop.DBus.Properties"
#define TICK_USEC       (1000 * 1000ULL)
#define BACKOFF_MIN     (1000 * 1000ULL)
#define MAX_ADV_ENTRIES 8

enum op_kind { OP_READ, OP_POLL, OP_WRITE, OP_NOTIFY };
enum gstate { G_IDLE, G_CONNECTING, G_RESOLVING, G_READY, G_BACKOFF };
static const char *const gstate_names[] = { "idle", "connecting", "resolving", "ready", "backoff" };

struct ble_dev;

struct ble_point {
	struct ble_dev *d;
	struct lwm2m_path path;
	const struct mapping_point *pt;
	const struct ble_src *src;
	uint32_t length; /* ADV: resolved field length */
	uint64_t poll_usec, next_poll;
	uint64_t observe_usec; /* smallest pmin of LwM2M observations, 0: none */
	bool notifying;
};

struct ble_op {
	struct ble_dev *d;
	uint8_t kind;
	struct ble_point *p; /* POLL, NOTIFY */
	const struct ble_src *src;
	struct lwm2m_path path;
	uint8_t data[BLE_VALUE_MAX];
	size_t len;
	uint8_t wtype;
	bridge_done_fn done;
	void *ctx;
	struct ble_op *next;
};

struct ble_dev {
	struct bridge *b;
	char *name;
	struct ble_address addr;
	char macs[18];
	bool discovered;
	struct ble_point **pts;
	size_t npts;
	bool has_gatt, keep, has_adv;

	/* adverts */
	uint64_t last_heard; /* CLOCK_MONOTONIC usec */
	bool unreachable;
	int last_packet_id;
	bool have_counter;
	uint32_t last_counter;
	uint8_t last_sd[64];
	size_t last_sd_len;
	int rssi;
	bool has_rssi;
	unsigned long adverts, dup, mic_fail, replay, nokey, unencrypted, bad;
	bool warned_mic, warned_replay, warned_nokey, warned_bad;

	/* GATT */
	char *path; /* BlueZ object path */
	bool connected, resolved;
	uint8_t gstate;
	sd_bus_slot *conn_slot, *op_slot;
	sd_event_source *timer;
	unsigned failures;
	struct ble_op *ops, *cur;
	unsigned long gatt_ok, gatt_err, connects;
};

struct gobj {
	char *path, *parent; /* service: the device; characteristic: the service */
	char uuid[BLE_UUID_LEN + 1];
	bool is_char;
};

struct bridge {
	char *name;
	struct bridge_host host;
	struct ble_conf conf;
	char *adapter_want, *dbus_address;
	char **rule_profiles;
	sd_event *event;
	sd_bus *bus;
	sd_bus_slot *m_owner, *m_objmgr, *m_props, *s_owner, *s_objects, *s_filter, *s_start;
	sd_event_source *tick;
	bool bluez_up;
	char *adapter_path;
	struct ble_dev **devs;
	size_t ndevs;
	unsigned ndiscovered, nconn;
	struct gobj *g;
	size_t ng;
	uint64_t started;
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- devices and points ------------------------------------------------------------------------ */

static struct ble_dev *dev_by_name(struct bridge *b, const char *name)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (strcmp(b->devs[i]->name, name) == 0)
			return b->devs[i];
	return NULL;
}

static struct ble_dev *dev_by_mac(struct bridge *b, const uint8_t mac[6])
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (memcmp(b->devs[i]->addr.mac, mac, 6) == 0)
			return b->devs[i];
	return NULL;
}

static void dev_kick(struct ble_dev *d);
static void kick_all(struct bridge *b);

static void op_finish(struct ble_op *op, int err, const struct mapping_sample *s)
{
	if (op->done)
		op->done(op->ctx, err, s);
	free(op);
}

/* Fail every queued operation of d (the current one too). The list is
 * detached first: done() may re-enter the bridge. */
static void dev_fail_ops(struct ble_dev *d, int err)
{
	struct ble_op *list = d->ops, *cur = d->cur;

	d->ops = NULL;
	d->cur = NULL;
	d->op_slot = sd_bus_slot_unref(d->op_slot);
	if (cur)
		op_finish(cur, err, NULL);
	while (list) {
		struct ble_op *n = list->next;
		op_finish(list, err, NULL);
		list = n;
	}
}

static bool is_connected_state(uint8_t s)
{
	return s == G_CONNECTING || s == G_RESOLVING || s == G_READY;
}

static void dev_set_state(struct ble_dev *d, uint8_t s)
{
	struct bridge *b = d->b;

	if (is_connected_state(d->gstate) && !is_connected_state(s) && b->nconn > 0)
		b->nconn--;
	if (!is_connected_state(d->gstate) && is_connected_state(s))
		b->nconn++;
	d->gstate = s;
}

static void dev_presence(struct ble_dev *d, int err)
{
	struct bridge *b = d->b;

	if ((err < 0) == d->unreachable)
		return;
	d->unreachable = err < 0;
	if (b->host.presence)
		b->host.presence(b->host.ud, d->name, err);
}

static struct ble_dev *dev_free(struct ble_dev *d)
{
	if (!d)
		return NULL;
	d->conn_slot = sd_bus_slot_unref(d->conn_slot);
	d->timer = sd_event_source_disable_unref(d->timer);
	dev_fail_ops(d, -ECANCELED);
	dev_set_state(d, G_IDLE);
	for (size_t i = 0; i < d->npts; i++)
		free(d->pts[i]);
	free(d->pts);
	free(d->path);
	free(d->name);
	free(d);
	return NULL;
}

/* ---- sd-bus helpers ------------------------------------------------------------------------------ */

static int call_async(struct bridge *b, sd_bus_slot **slot, const char *path, const char *iface,
		      const char *member, sd_bus_message_handler_t cb, void *ud, uint64_t usec,
		      sd_bus_message **out_m)
{
	sd_bus_message *m = NULL;
	int r;

	r = sd_bus_message_new_method_call(b->bus, &m, BLUEZ, path, iface, member);
	if (r < 0)
		return r;
	if (out_m) {
		/* The caller appends the arguments and sends it. */
		*out_m = m;
		return 0;
	}
	r = sd_bus_call_async(b->bus, slot, m, cb, ud, usec);
	sd_bus_message_unref(m);
	return r;
}

static int reply_errno(sd_bus_message *m)
{
	int e = sd_bus_message_get_errno(m);

	return e > 0 ? -e : -EIO;
}

/* The contents signature of the variant at the read position, or NULL. */
static const char *variant_sig(sd_bus_message *m)
{
	char type;
	const char *contents = NULL;

	if (sd_bus_message_peek_type(m, &type, &contents) <= 0 || type != 'v')
		return NULL;
	return contents;
}

/* ---- adverts ------------------------------------------------------------------------------------- */

struct adv_bytes {
	uint16_t company;
	char uuid[BLE_UUID_LEN + 1];
	const uint8_t *data;
	size_t len;
};

struct devprops {
	const char *address;
	bool has_rssi, has_mfr, has_sd, has_connected, has_resolved;
	int16_t rssi;
	bool connected, resolved;
	struct adv_bytes mfr[MAX_ADV_ENTRIES], sd[MAX_ADV_ENTRIES];
	size_t nmfr, nsd;
};

static void sample(struct ble_dev *d, const struct ble_point *p, const struct mapping_sample *s)
{
	struct bridge *b = d->b;

	if (b->host.sample)
		(void)b->host.sample(b->host.ud, d->name, &p->path, s, 0);
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
			log_warning("BLE device %s (%s): encrypted BTHome advert but no bindkey configured",
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
			log_warning_errno(r, "BLE device %s (%s): BTHome advert not decoded: %m", d->name,
					  d->macs);
		d->warned_bad = true;
		return;
	}
	if (d->addr.has_key && !adv.encrypted) {
		/* With a key, plain adverts are what a spoofer would send. */
		d->unencrypted++;
		if (d->unencrypted == 1)
			log_warning(
				"BLE device %s (%s): plain BTHome advert refused: the device has a bindkey",
				d->name, d->macs);
		return;
	}
	if (adv.encrypted) {
		if (d->have_counter && adv.counter <= d->last_counter) {
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
				sample(d, p, &s);
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
		sample(d, p, &s);
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
				sample(d, p, &s);
		}
	}
}

/* Auto-discovery: the first rule an advert matches names the profile. */
static void maybe_discover(struct bridge *b, const uint8_t mac[6], const struct devprops *dp)
{
	const struct ble_rule *rule = NULL;
	char name[80], macs[18], hex[13];
	int r;

	if (!b->host.discover || b->conf.nrules == 0)
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
		log_debug("BLE bridge %s: discovery limit %u reached", b->name, b->conf.discover_max);
		return;
	}
	ble_mac_format(mac, macs);
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	snprintf(name, sizeof(name), "%.50s-%s", rule->profile, hex);
	r = b->host.discover(b->host.ud, b->name, name, rule->profile, macs);
	if (r < 0) {
		log_warning_errno(r, "BLE bridge %s: cannot add discovered device %s (%s): %m", b->name, name,
				  macs);
		return;
	}
	log_info("BLE bridge %s: discovered %s (%s), profile %s", b->name, name, macs, rule->profile);
	b->ndiscovered++;
	/* add_point() created it during the call. */
	struct ble_dev *d = dev_by_mac(b, mac);
	if (d)
		d->discovered = true;
}

/* ---- GATT ---------------------------------------------------------------------------------------- */

static struct gobj *gobj_find(struct bridge *b, const char *path)
{
	for (size_t i = 0; i < b->ng; i++)
		if (strcmp(b->g[i].path, path) == 0)
			return &b->g[i];
	return NULL;
}

static const char *char_path(struct bridge *b, const struct ble_dev *d, const struct ble_src *s)
{
	if (!d->path)
		return NULL;
	for (size_t i = 0; i < b->ng; i++) {
		const struct gobj *c = &b->g[i], *svc;
		if (!c->is_char || strcmp(c->uuid, s->characteristic) != 0 || !c->parent)
			continue;
		svc = gobj_find(b, c->parent);
		if (svc && !svc->is_char && svc->parent && strcmp(svc->parent, d->path) == 0 &&
		    strcmp(svc->uuid, s->service) == 0)
			return c->path;
	}
	return NULL;
}

/* Fire and forget: nothing in the reply matters to us. */
static void send_disconnect(struct ble_dev *d)
{
	struct bridge *b = d->b;
	sd_bus_message *m = NULL;

	if (!d->path || !b->bus || !b->bluez_up)
		return;
	if (call_async(b, NULL, d->path, IFACE_DEVICE, "Disconnect", NULL, NULL, 0, &m) >= 0) {
		(void)sd_bus_call_async(b->bus, NULL, m, NULL, NULL, b->conf.call_timeout_usec);
		sd_bus_message_unref(m);
	}
}

static void gatt_fail(struct ble_dev *d, int err, const char *what);

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct ble_dev *d = ud;

	(void)s;
	(void)usec;
	d->timer = sd_event_source_disable_unref(d->timer);
	if (d->gstate == G_BACKOFF) {
		dev_set_state(d, G_IDLE);
		dev_kick(d);
	} else if (d->gstate == G_RESOLVING)
		gatt_fail(d, -ETIMEDOUT, "services not resolved in time");
	return 0;
}

static void set_timer(struct ble_dev *d, uint64_t usec)
{
	d->timer = sd_event_source_disable_unref(d->timer);
	if (d->b->event &&
	    sd_event_add_time_relative(d->b->event, &d->timer, CLOCK_MONOTONIC, usec, 0, on_timer, d) < 0)
		log_oom();
}

static void points_reset(struct ble_dev *d)
{
	for (size_t i = 0; i < d->npts; i++)
		d->pts[i]->notifying = false;
}

/* A connection failed or dropped: fail the work, back off, try again. */
static void gatt_fail(struct ble_dev *d, int err, const char *what)
{
	struct bridge *b = d->b;
	uint64_t backoff = BACKOFF_MIN;

	/* A timed-out attempt may still be going on in BlueZ, a connection
	 * without services is useless: let both go (not after the device
	 * itself dropped it). */
	if (err != -ECONNRESET && err != -ENODEV && (d->conn_slot || d->connected))
		send_disconnect(d);
	d->conn_slot = sd_bus_slot_unref(d->conn_slot);
	d->gatt_err++;
	for (unsigned i = 0; i < d->failures && backoff < b->conf.backoff_max_usec; i++)
		backoff *= 2;
	if (backoff > b->conf.backoff_max_usec)
		backoff = b->conf.backoff_max_usec;
	d->failures++;
	log_full_errno(d->failures == 1 ? LOG_WARNING : LOG_DEBUG, err,
		       "BLE device %s (%s): %s: %m; retrying in %llu ms", d->name, d->macs, what,
		       (unsigned long long)(backoff / 1000));
	points_reset(d);
	dev_set_state(d, G_BACKOFF);
	set_timer(d, backoff);
	dev_fail_ops(d, err == -ETIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH);
	/* Kept connections are the device's presence; so is any connection
	 * of a device that has no adverts to be heard by. */
	if (d->keep || !d->has_adv)
		dev_presence(d, -EHOSTUNREACH);
	kick_all(b); /* a connection slot may be free */
}

static void op_next(struct ble_dev *d);

static int on_op_reply(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_dev *d = ud;
	struct ble_op *op = d->cur;
	int err = 0;

	(void)e;
	d->op_slot = sd_bus_slot_unref(d->op_slot);
	d->cur = NULL;
	if (!op)
		return 0;
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *be = sd_bus_message_get_error(m);
		err = reply_errno(m);
		d->gatt_err++;
		log_warning("BLE device %s: GATT %s failed: %s", d->name,
			    op->kind == OP_WRITE    ? "write"
			    : op->kind == OP_NOTIFY ? "StartNotify"
						    : "read",
			    be && be->message ? be->message : strerror(-err));
		if (be && be->name &&
		    (strcmp(be->name, "org.bluez.Error.NotConnected") == 0 || err == -ETIMEDOUT)) {
			d->cur = op; /* failed with the rest */
			gatt_fail(d, err, "GATT call failed");
			return 0;
		}
		if (op->kind == OP_NOTIFY)
			op->p->notifying = false;
		op_finish(op, err == -ETIMEDOUT ? -ETIMEDOUT : -EIO, NULL);
	} else {
		d->gatt_ok++;
		if (op->kind == OP_READ || op->kind == OP_POLL) {
			const void *data = NULL;
			size_t len = 0;
			struct mapping_sample s;
			int r = sd_bus_message_read_array(m, 'y', &data, &len);
			if (r < 0) {
				op_finish(op, -EBADMSG, NULL);
				goto next;
			}
			s = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES,
						     .bytes = data,
						     .len = len };
			if (op->kind == OP_POLL) {
				sample(d, op->p, &s);
				op_finish(op, 0, NULL);
			} else
				op_finish(op, 0, &s);
		} else
			op_finish(op, 0, NULL);
	}
next:
	d->last_heard = now_usec();
	op_next(d);
	return 0;
}

static int op_send(struct ble_dev *d, struct ble_op *op)
{
	struct bridge *b = d->b;
	const struct ble_src *s = op->kind == OP_POLL || op->kind == OP_NOTIFY ? op->p->src : op->src;
	const char *path = char_path(b, d, s);
	sd_bus_message *m = NULL;
	int r;

	if (!path)
		return -ENOENT;
	switch (op->kind) {
	case OP_NOTIFY:
		r = call_async(b, NULL, path, IFACE_CHAR, "StartNotify", NULL, NULL, 0, &m);
		break;
	case OP_WRITE:
		r = call_async(b, NULL, path, IFACE_CHAR, "WriteValue", NULL, NULL, 0, &m);
		if (r >= 0)
			r = sd_bus_message_append_array(m, 'y', op->data, op->len);
		if (r >= 0)
			r = sd_bus_message_append(m, "a{sv}", 1, "type", "s",
						  op->wtype == BLE_WRITE_COMMAND ? "command" : "request");
		break;
	default:
		r = call_async(b, NULL, path, IFACE_CHAR, "ReadValue", NULL, NULL, 0, &m);
		if (r >= 0)
			r = sd_bus_message_append(m, "a{sv}", 0);
		break;
	}
	if (r >= 0)
		r = sd_bus_call_async(b->bus, &d->op_slot, m, on_op_reply, d, b->conf.call_timeout_usec);
	sd_bus_message_unref(m);
	return r;
}

/* Run the next queued operation; when there is none, an on-demand device
 * lets its connection go (keep devices stay). */
static void op_next(struct ble_dev *d)
{
	struct bridge *b = d->b;

	while (d->gstate == G_READY && !d->cur && d->ops) {
		struct ble_op *op = d->ops;
		int r;
		d->ops = op->next;
		op->next = NULL;
		d->cur = op;
		r = op_send(d, op);
		if (r >= 0)
			return;
		d->cur = NULL;
		if (r == -ENOENT)
			log_warning("BLE device %s: no characteristic %s in service %s", d->name,
				    (op->kind == OP_POLL || op->kind == OP_NOTIFY ? op->p->src : op->src)
					    ->characteristic,
				    (op->kind == OP_POLL || op->kind == OP_NOTIFY ? op->p->src : op->src)
					    ->service);
		else
			log_warning_errno(r, "BLE device %s: cannot send a GATT call: %m", d->name);
		if (op->kind == OP_NOTIFY)
			op->p->notifying = false;
		op_finish(op, r == -ENOENT ? -ENOENT : -EIO, NULL);
	}
	if (d->gstate == G_READY && !d->cur && !d->ops && !d->keep) {
		send_disconnect(d);
		/* Not connected for us from now on, whatever BlueZ still shows. */
		d->connected = d->resolved = false;
		dev_set_state(d, G_IDLE);
		kick_all(b);
	}
}

static void queue_op(struct ble_dev *d, struct ble_op *op, bool front)
{
	struct ble_op **q = &d->ops;

	op->d = d;
	if (front) {
		op->next = d->ops;
		d->ops = op;
		return;
	}
	while (*q)
		q = &(*q)->next;
	*q = op;
}

static void gatt_ready(struct ble_dev *d)
{
	d->timer = sd_event_source_disable_unref(d->timer);
	dev_set_state(d, G_READY);
	d->failures = 0;
	d->last_heard = now_usec();
	dev_presence(d, 0);
	/* Subscriptions first, then the queued reads and writes. */
	for (size_t i = d->npts; i-- > 0;) {
		struct ble_point *p = d->pts[i];
		struct ble_op *op;
		if (p->src->kind != BLE_SRC_GATT || p->src->mode != BLE_GATT_NOTIFY || p->notifying)
			continue;
		op = calloc(1, sizeof(*op));
		if (!op) {
			log_oom();
			continue;
		}
		op->kind = OP_NOTIFY;
		op->p = p;
		p->notifying = true;
		queue_op(d, op, true);
	}
	op_next(d);
}

static int on_connect_reply(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_dev *d = ud;

	(void)e;
	d->conn_slot = sd_bus_slot_unref(d->conn_slot);
	if (d->gstate != G_CONNECTING)
		return 0;
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *be = sd_bus_message_get_error(m);
		/* Already connected is not a failure. */
		if (!(be && be->name && strcmp(be->name, "org.bluez.Error.AlreadyConnected") == 0)) {
			gatt_fail(d, reply_errno(m), "connect failed");
			return 0;
		}
	}
	d->connected = true;
	d->connects++;
	if (d->resolved)
		gatt_ready(d);
	else {
		dev_set_state(d, G_RESOLVING);
		set_timer(d, d->b->conf.connect_timeout_usec);
	}
	return 0;
}

static bool dev_wants_connection(const struct ble_dev *d)
{
	return d->has_gatt && (d->keep || d->ops);
}

static void dev_kick(struct ble_dev *d)
{
	struct bridge *b = d->b;
	char path[128];
	int r;

	if (d->gstate == G_READY) {
		op_next(d);
		return;
	}
	if (d->gstate != G_IDLE || !dev_wants_connection(d))
		return;
	if (!b->bluez_up || !b->adapter_path) {
		/* No bluetoothd: fail the work now rather than after 30 s. */
		dev_fail_ops(d, -EHOSTUNREACH);
		return;
	}
	if (d->connected && d->resolved) {
		dev_set_state(d, G_READY);
		gatt_ready(d);
		return;
	}
	if (b->nconn >= b->conf.max_connections)
		return; /* kick_all() comes back when a slot frees */
	if (!d->path) {
		snprintf(path, sizeof(path), "%s/dev_%c%c_%c%c_%c%c_%c%c_%c%c_%c%c", b->adapter_path,
			 d->macs[0], d->macs[1], d->macs[3], d->macs[4], d->macs[6], d->macs[7], d->macs[9],
			 d->macs[10], d->macs[12], d->macs[13], d->macs[15], d->macs[16]);
		d->path = strdup(path);
		if (!d->path)
			return;
	}
	dev_set_state(d, G_CONNECTING);
	r = call_async(b, &d->conn_slot, d->path, IFACE_DEVICE, "Connect", on_connect_reply, d,
		       b->conf.connect_timeout_usec, NULL);
	if (r < 0)
		gatt_fail(d, r, "cannot call Connect");
}

static void kick_all(struct bridge *b)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (b->devs[i]->gstate == G_IDLE || b->devs[i]->gstate == G_READY)
			dev_kick(b->devs[i]);
}

/* ---- BlueZ objects ------------------------------------------------------------------------------- */

static int read_bytes_variant(sd_bus_message *m, const void **data, size_t *len)
{
	int r = sd_bus_message_enter_container(m, 'v', "ay");

	if (r < 0)
		return r;
	r = sd_bus_message_read_array(m, 'y', data, len);
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* Read a{sv} of Device1 into dp; values of an unexpected type are skipped. */
/* Calls fn for each entry of the dictionary a{s<value>} at the read
 * position (esig "sv" or "sa{sv}"), with the read position at the entry's
 * value; sig is the variant's contents for "sv", else the value's type. fn
 * reads the value and returns 1, or returns 0 to have it skipped (unknown
 * key, unexpected type), or a negative errno. */
typedef int (*prop_fn)(sd_bus_message *m, const char *key, const char *sig, void *ud);

static int for_each_entry(sd_bus_message *m, const char *esig, prop_fn fn, void *ud)
{
	char asig[16];
	int r;

	snprintf(asig, sizeof(asig), "{%s}", esig);
	r = sd_bus_message_enter_container(m, 'a', asig);
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', esig)) > 0) {
		const char *key, *sig = esig + 1;
		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		if (strcmp(esig, "sv") == 0 && !(sig = variant_sig(m)))
			return -EBADMSG;
		r = fn(m, key, sig, ud);
		if (r == 0)
			r = sd_bus_message_skip(m, esig + 1);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int for_each_prop(sd_bus_message *m, prop_fn fn, void *ud)
{
	return for_each_entry(m, "sv", fn, ud);
}

static int service_data_entry(sd_bus_message *m, const char *uuid, const char *sig, void *ud)
{
	struct devprops *dp = ud;
	struct adv_bytes *a = &dp->sd[dp->nsd];
	const void *data;
	size_t len;
	int r;

	if (strcmp(sig, "ay") != 0 || dp->nsd >= MAX_ADV_ENTRIES || ble_uuid_normalize(uuid, a->uuid) < 0)
		return 0;
	r = read_bytes_variant(m, &data, &len);
	if (r < 0)
		return r;
	a->data = data;
	a->len = len;
	dp->nsd++;
	return 1;
}

static int read_manufacturer_data(sd_bus_message *m, struct devprops *dp)
{
	int r = sd_bus_message_enter_container(m, 'v', "a{qv}");

	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "{qv}");
	while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "qv")) > 0) {
		uint16_t id;
		const void *data;
		size_t len;
		r = sd_bus_message_read(m, "q", &id);
		if (r >= 0 && strcmp(variant_sig(m) ?: "", "ay") == 0 && dp->nmfr < MAX_ADV_ENTRIES) {
			r = read_bytes_variant(m, &data, &len);
			if (r >= 0)
				dp->mfr[dp->nmfr++] =
					(struct adv_bytes){ .company = id, .data = data, .len = len };
		} else if (r >= 0)
			r = sd_bus_message_skip(m, "v");
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r < 0 ? r : 1;
}

static int device_prop(sd_bus_message *m, const char *key, const char *sig, void *ud)
{
	struct devprops *dp = ud;
	int v, r;

	if (strcmp(key, "Address") == 0 && strcmp(sig, "s") == 0)
		return sd_bus_message_read(m, "v", "s", &dp->address);
	if (strcmp(key, "RSSI") == 0 && strcmp(sig, "n") == 0) {
		dp->has_rssi = true;
		return sd_bus_message_read(m, "v", "n", &dp->rssi);
	}
	if (strcmp(key, "Connected") == 0 && strcmp(sig, "b") == 0) {
		r = sd_bus_message_read(m, "v", "b", &v);
		dp->connected = v;
		dp->has_connected = true;
		return r;
	}
	if (strcmp(key, "ServicesResolved") == 0 && strcmp(sig, "b") == 0) {
		r = sd_bus_message_read(m, "v", "b", &v);
		dp->resolved = v;
		dp->has_resolved = true;
		return r;
	}
	if (strcmp(key, "ManufacturerData") == 0 && strcmp(sig, "a{qv}") == 0) {
		dp->has_mfr = true;
		return read_manufacturer_data(m, dp);
	}
	if (strcmp(key, "ServiceData") == 0 && strcmp(sig, "a{sv}") == 0) {
		dp->has_sd = true;
		r = sd_bus_message_enter_container(m, 'v', "a{sv}");
		if (r >= 0)
			r = for_each_prop(m, service_data_entry, dp);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		return r < 0 ? r : 1;
	}
	return 0;
}

/* Read a{sv} of Device1 into dp; values of an unexpected type are skipped. */
static int read_device_props(sd_bus_message *m, struct devprops *dp)
{
	return for_each_prop(m, device_prop, dp);
}

static void device_changed(struct bridge *b, const char *path, const struct devprops *dp)
{
	uint8_t mac[6];
	struct ble_dev *d;

	if (!b->adapter_path || strncmp(path, b->adapter_path, strlen(b->adapter_path)) != 0 ||
	    path[strlen(b->adapter_path)] != '/')
		return; /* no adapter chosen yet, or a device of another adapter */
	if ((dp->address ? ble_mac_parse(dp->address, mac) : ble_mac_from_path(path, mac)) < 0 &&
	    ble_mac_from_path(path, mac) < 0)
		return;
	d = dev_by_mac(b, mac);
	if (!d && (dp->nmfr || dp->nsd)) {
		maybe_discover(b, mac, dp);
		d = dev_by_mac(b, mac);
	}
	if (!d)
		return;
	if (!d->path || strcmp(d->path, path) != 0) {
		free(d->path);
		d->path = strdup(path);
	}
	if (dp->has_rssi || dp->nmfr || dp->nsd) {
		d->adverts++;
		d->last_heard = now_usec();
		dev_presence(d, 0);
	}
	if (dp->has_rssi) {
		d->rssi = dp->rssi;
		d->has_rssi = true;
		for (size_t i = 0; i < d->npts; i++)
			if (d->pts[i]->src->kind == BLE_SRC_RSSI) {
				struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
							    .value = { .type = LWM2M_TYPE_INTEGER,
								       .i = dp->rssi } };
				sample(d, d->pts[i], &s);
			}
	}
	if (dp->nmfr || dp->nsd)
		decode_adv(d, dp);
	/* decode_adv() may have re-entered (discovery): look d up again. */
	d = dev_by_mac(b, mac);
	if (!d)
		return;
	if (dp->has_resolved)
		d->resolved = dp->resolved;
	if (dp->has_connected) {
		d->connected = dp->connected;
		if (!dp->connected) {
			d->resolved = false;
			if (d->gstate == G_RESOLVING || d->gstate == G_READY)
				gatt_fail(d, -ECONNRESET, "disconnected");
		}
	}
	if (d->gstate == G_RESOLVING && d->connected && d->resolved)
		gatt_ready(d);
}

static void gobj_add(struct bridge *b, const char *path, bool is_char, const char *uuid, const char *parent)
{
	struct gobj *g = gobj_find(b, path), *n;

	if (!g) {
		n = realloc(b->g, (b->ng + 1) * sizeof(*b->g));
		if (!n)
			return (void)log_oom();
		b->g = n;
		g = &b->g[b->ng];
		*g = (struct gobj){ .path = strdup(path), .is_char = is_char };
		if (!g->path)
			return (void)log_oom();
		b->ng++;
	}
	if (uuid)
		(void)ble_uuid_normalize(uuid, g->uuid);
	if (parent) {
		free(g->parent);
		g->parent = strdup(parent);
	}
}

static void gobj_clear(struct bridge *b)
{
	for (size_t i = 0; i < b->ng; i++) {
		free(b->g[i].path);
		free(b->g[i].parent);
	}
	free(b->g);
	b->g = NULL;
	b->ng = 0;
}

struct gatt_props {
	const char *uuid, *parent;
	bool is_char;
};

static int gatt_prop(sd_bus_message *m, const char *key, const char *sig, void *ud)
{
	struct gatt_props *g = ud;

	if (strcmp(key, "UUID") == 0 && strcmp(sig, "s") == 0)
		return sd_bus_message_read(m, "v", "s", &g->uuid);
	if (strcmp(key, g->is_char ? "Service" : "Device") == 0 && strcmp(sig, "o") == 0)
		return sd_bus_message_read(m, "v", "o", &g->parent);
	return 0;
}

static int read_gatt_props(struct bridge *b, sd_bus_message *m, const char *path, bool is_char)
{
	struct gatt_props g = { .is_char = is_char };
	int r = for_each_prop(m, gatt_prop, &g);

	if (r >= 0)
		gobj_add(b, path, is_char, g.uuid, g.parent);
	return r;
}

static void start_discovery(struct bridge *b);

static int adapter_prop(sd_bus_message *m, const char *key, const char *sig, void *ud)
{
	int v, r;

	if (strcmp(key, "Powered") != 0 || strcmp(sig, "b") != 0)
		return 0;
	r = sd_bus_message_read(m, "v", "b", &v);
	*(bool *)ud = v;
	return r;
}

static int read_adapter_props(sd_bus_message *m, bool *powered)
{
	return for_each_prop(m, adapter_prop, powered);
}

/* An adapter appeared or changed: take it when it is the one we want. */
static void adapter_seen(struct bridge *b, const char *path, bool powered)
{
	const char *name = strrchr(path, '/');

	if (b->adapter_path || !name)
		return;
	if (b->adapter_want ? strcmp(name + 1, b->adapter_want) != 0 : !powered)
		return;
	b->adapter_path = strdup(path);
	if (!b->adapter_path)
		return (void)log_oom();
	log_info("BLE bridge %s: using adapter %s%s", b->name, path, powered ? "" : " (not powered)");
	start_discovery(b);
	kick_all(b);
}

/* One object of GetManagedObjects or InterfacesAdded: read at o, a{sa{sv}}. */
struct object_ctx {
	struct bridge *b;
	const char *path;
	const char **adapter_found; /* GetManagedObjects: choose after the whole tree */
};

static int object_iface(sd_bus_message *m, const char *iface, const char *sig, void *ud)
{
	struct object_ctx *o = ud;
	struct bridge *b = o->b;
	int r;

	(void)sig;
	if (strcmp(iface, IFACE_DEVICE) == 0) {
		struct devprops dp = { 0 };
		r = read_device_props(m, &dp);
		if (r >= 0)
			device_changed(b, o->path, &dp);
		return r < 0 ? r : 1;
	}
	if (strcmp(iface, IFACE_SERVICE) == 0 || strcmp(iface, IFACE_CHAR) == 0) {
		r = read_gatt_props(b, m, o->path, strcmp(iface, IFACE_CHAR) == 0);
		return r < 0 ? r : 1;
	}
	if (strcmp(iface, IFACE_ADAPTER) == 0) {
		bool powered = false;
		r = read_adapter_props(m, &powered);
		if (r < 0)
			return r;
		if (o->adapter_found) {
			/* The named adapter, else the first powered. */
			const char *base = strrchr(o->path, '/');
			bool ok = b->adapter_want ? base && strcmp(base + 1, b->adapter_want) == 0 : powered;
			if (ok && !*o->adapter_found)
				*o->adapter_found = o->path;
		} else
			adapter_seen(b, o->path, powered);
		return 1;
	}
	return 0;
}

/* One object of GetManagedObjects or InterfacesAdded: read at a{sa{sv}}. */
static int read_object(struct bridge *b, sd_bus_message *m, const char *path, const char **adapter_found)
{
	struct object_ctx o = { .b = b, .path = path, .adapter_found = adapter_found };

	return for_each_entry(m, "sa{sv}", object_iface, &o);
}

static int on_start_discovery(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct bridge *b = ud;

	(void)e;
	b->s_start = sd_bus_slot_unref(b->s_start);
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *be = sd_bus_message_get_error(m);
		/* InProgress: another client already scans; fine for us. */
		if (!(be && be->name && strcmp(be->name, "org.bluez.Error.InProgress") == 0))
			log_warning("BLE bridge %s: StartDiscovery failed: %s", b->name,
				    be && be->message ? be->message : "error");
	} else
		log_info("BLE bridge %s: LE discovery started on %s", b->name, b->adapter_path);
	return 0;
}

static int on_filter(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct bridge *b = ud;
	int r;

	(void)e;
	b->s_filter = sd_bus_slot_unref(b->s_filter);
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *be = sd_bus_message_get_error(m);
		log_warning("BLE bridge %s: SetDiscoveryFilter failed: %s", b->name,
			    be && be->message ? be->message : "error");
	}
	if (!b->adapter_path)
		return 0;
	r = call_async(b, &b->s_start, b->adapter_path, IFACE_ADAPTER, "StartDiscovery", on_start_discovery,
		       b, b->conf.call_timeout_usec, NULL);
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot start discovery: %m", b->name);
	return 0;
}

static void start_discovery(struct bridge *b)
{
	sd_bus_message *m = NULL;
	int r;

	r = call_async(b, NULL, b->adapter_path, IFACE_ADAPTER, "SetDiscoveryFilter", NULL, NULL, 0, &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 2, "Transport", "s", "le", "DuplicateData", "b", 1);
	if (r >= 0)
		r = sd_bus_call_async(b->bus, &b->s_filter, m, on_filter, b, b->conf.call_timeout_usec);
	sd_bus_message_unref(m);
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot set the discovery filter: %m", b->name);
}

static bool is_device_path(const char *path)
{
	const char *p = strstr(path, "/dev_");

	return p && !strchr(p + 1, '/');
}

static int on_managed_objects(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct bridge *b = ud;
	const char *adapter = NULL;
	int r;

	(void)e;
	b->s_objects = sd_bus_slot_unref(b->s_objects);
	if (sd_bus_message_is_method_error(m, NULL)) {
		log_warning_errno(reply_errno(m), "BLE bridge %s: GetManagedObjects failed: %m", b->name);
		return 0;
	}
	/* Pass 0: adapters and GATT objects; pass 1, once the adapter is
	 * known: devices (their adverts are decoded right away). */
	for (int pass = 0; pass < 2; pass++) {
		r = pass ? sd_bus_message_rewind(m, true) : 0;
		if (r >= 0)
			r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
		while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
			const char *path;
			r = sd_bus_message_read(m, "o", &path);
			if (r < 0)
				break;
			if (pass == 0 && !is_device_path(path))
				r = read_object(b, m, path, &adapter);
			else if (pass == 1 && is_device_path(path) && b->adapter_path)
				r = read_object(b, m, path, NULL);
			else
				r = sd_bus_message_skip(m, "a{sa{sv}}");
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0)
			break;
		if (pass == 0 && adapter && !b->adapter_path) {
			b->adapter_path = strdup(adapter);
			if (!b->adapter_path)
				return log_oom(), 0;
			log_info("BLE bridge %s: using adapter %s", b->name, b->adapter_path);
		}
	}
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot parse BlueZ objects: %m", b->name);
	if (!b->adapter_path) {
		if (b->adapter_want)
			log_warning("BLE bridge %s: adapter %s not found; waiting for it", b->name,
				    b->adapter_want);
		else
			log_warning("BLE bridge %s: no powered Bluetooth adapter; waiting for one", b->name);
		return 0;
	}
	start_discovery(b);
	kick_all(b);
	return 0;
}

/* bluetoothd went away (or is about to be re-read): forget its objects and
 * fail what waited for it. Values and counters of devices stay. */
static void bluez_reset(struct bridge *b)
{
	b->s_objects = sd_bus_slot_unref(b->s_objects);
	b->s_filter = sd_bus_slot_unref(b->s_filter);
	b->s_start = sd_bus_slot_unref(b->s_start);
	free(b->adapter_path);
	b->adapter_path = NULL;
	gobj_clear(b);
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		d->conn_slot = sd_bus_slot_unref(d->conn_slot);
		d->timer = sd_event_source_disable_unref(d->timer);
		d->connected = d->resolved = false;
		points_reset(d);
		dev_set_state(d, G_IDLE);
		d->failures = 0;
		free(d->path);
		d->path = NULL;
		dev_fail_ops(d, -EHOSTUNREACH);
	}
}

static void bluez_appeared(struct bridge *b)
{
	int r;

	bluez_reset(b);
	b->bluez_up = true;
	r = call_async(b, &b->s_objects, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
		       on_managed_objects, b, b->conf.call_timeout_usec, NULL);
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot call GetManagedObjects: %m", b->name);
}

static int on_name_owner_changed(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct bridge *b = ud;
	const char *name, *old, *new;

	(void)e;
	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, BLUEZ) != 0)
		return 0;
	if (*new) {
		log_info("BLE bridge %s: bluetoothd is on the bus (%s)", b->name, new);
		bluez_appeared(b);
	} else {
		log_warning("BLE bridge %s: bluetoothd left the bus; waiting for it", b->name);
		b->bluez_up = false;
		bluez_reset(b);
	}
	return 0;
}

static int on_get_owner(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct bridge *b = ud;

	(void)e;
	b->s_owner = sd_bus_slot_unref(b->s_owner);
	if (sd_bus_message_is_method_error(m, NULL)) {
		log_warning("BLE bridge %s: bluetoothd (org.bluez) is not running; waiting for it", b->name);
		return 0;
	}
	if (!b->bluez_up)
		bluez_appeared(b);
	return 0;
}

static int on_interfaces_added(struct bridge *b, sd_bus_message *m)
{
	const char *path;
	int r = sd_bus_message_read(m, "o", &path);

	if (r < 0)
		return r;
	return read_object(b, m, path, NULL);
}

static int on_interfaces_removed(struct bridge *b, sd_bus_message *m)
{
	const char *path, *iface;
	int r = sd_bus_message_read(m, "o", &path);

	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "s");
	while (r >= 0 && (r = sd_bus_message_read(m, "s", &iface)) > 0) {
		if (strcmp(iface, IFACE_ADAPTER) == 0 && b->adapter_path &&
		    strcmp(path, b->adapter_path) == 0) {
			log_warning("BLE bridge %s: adapter %s removed", b->name, path);
			bluez_reset(b);
			return 0;
		}
		if (strcmp(iface, IFACE_SERVICE) == 0 || strcmp(iface, IFACE_CHAR) == 0) {
			struct gobj *g = gobj_find(b, path);
			if (g) {
				free(g->path);
				free(g->parent);
				*g = b->g[--b->ng];
			}
		}
		if (strcmp(iface, IFACE_DEVICE) == 0) {
			for (size_t i = 0; i < b->ndevs; i++) {
				struct ble_dev *d = b->devs[i];
				if (d->path && strcmp(d->path, path) == 0) {
					d->connected = d->resolved = false;
					if (is_connected_state(d->gstate))
						gatt_fail(d, -ENODEV, "device object removed");
				}
			}
		}
	}
	return r;
}

struct char_value {
	struct bridge *b;
	const char *path;
};

static int char_value_prop(sd_bus_message *m, const char *key, const char *sig, void *ud)
{
	struct char_value *cv = ud;
	struct bridge *b = cv->b;
	const void *data;
	size_t len;
	int r;

	if (strcmp(key, "Value") != 0 || strcmp(sig, "ay") != 0)
		return 0;
	r = read_bytes_variant(m, &data, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		for (size_t k = 0; k < d->npts; k++) {
			struct ble_point *p = d->pts[k];
			const char *cp;
			if (p->src->kind != BLE_SRC_GATT || p->src->mode != BLE_GATT_NOTIFY)
				continue;
			cp = char_path(b, d, p->src);
			if (cp && strcmp(cp, cv->path) == 0) {
				struct mapping_sample s = { .kind = MAPPING_SAMPLE_BYTES,
							    .bytes = data,
							    .len = len };
				d->last_heard = now_usec();
				sample(d, p, &s);
			}
		}
	}
	return 1;
}

static int on_properties_changed(struct bridge *b, sd_bus_message *m)
{
	const char *iface, *path = sd_bus_message_get_path(m);
	int r;

	if (!path)
		return 0;
	r = sd_bus_message_read(m, "s", &iface);
	if (r < 0)
		return r;
	if (strcmp(iface, IFACE_DEVICE) == 0) {
		struct devprops dp = { 0 };
		r = read_device_props(m, &dp);
		if (r >= 0)
			device_changed(b, path, &dp);
		return r;
	}
	if (strcmp(iface, IFACE_ADAPTER) == 0) {
		bool powered = false;
		r = read_adapter_props(m, &powered);
		if (r >= 0 && powered)
			adapter_seen(b, path, powered);
		return r;
	}
	if (strcmp(iface, IFACE_CHAR) != 0)
		return 0;
	/* A notification: Value of a characteristic some point listens to. */
	struct char_value cv = { .b = b, .path = path };
	return for_each_prop(m, char_value_prop, &cv);
}

static int on_signal(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct bridge *b = ud;
	int r = 0;

	(void)e;
	if (!b->bluez_up)
		return 0;
	if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded"))
		r = on_interfaces_added(b, m);
	else if (sd_bus_message_is_signal(m, "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved"))
		r = on_interfaces_removed(b, m);
	else if (sd_bus_message_is_signal(m, IFACE_PROPS, "PropertiesChanged"))
		r = on_properties_changed(b, m);
	if (r < 0)
		log_debug_errno(r, "BLE bridge %s: malformed %s signal ignored: %m", b->name,
				sd_bus_message_get_member(m) ?: "?");
	return 0;
}

/* Poll period of a GATT read point: its own, or faster while observed
 * with a smaller pmin (not below 1 s: each read may cost a connection). */
static uint64_t point_period(const struct ble_point *p)
{
	uint64_t obs = p->observe_usec;

	if (!obs)
		return p->poll_usec;
	if (obs < TICK_USEC)
		obs = TICK_USEC;
	return p->poll_usec && p->poll_usec < obs ? p->poll_usec : obs;
}

/* ---- the tick: GATT polls and "not heard" ----------------------------------------------------------- */

static int on_tick(sd_event_source *s, uint64_t usec, void *ud)
{
	struct bridge *b = ud;
	uint64_t now = now_usec();

	(void)usec;
	(void)sd_event_source_set_time_relative(s, TICK_USEC);
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		uint64_t heard = d->last_heard ? d->last_heard : b->started;
		if (d->gstate == G_READY)
			d->last_heard = heard = now; /* connected: alive */
		if (!d->unreachable && now - heard >= b->conf.unreachable_usec) {
			log_warning("BLE device %s (%s) not heard for %llu s", d->name, d->macs,
				    (unsigned long long)((now - heard) / 1000000));
			dev_presence(d, -EHOSTUNREACH);
		}
		for (size_t k = 0; k < d->npts; k++) {
			struct ble_point *p = d->pts[k];
			struct ble_op *op;
			bool queued = false;
			uint64_t period = point_period(p);
			if (p->src->kind != BLE_SRC_GATT || p->src->mode != BLE_GATT_READ || !period ||
			    now < p->next_poll)
				continue;
			p->next_poll = now + period;
			for (struct ble_op *o = d->ops; o; o = o->next)
				queued = queued || (o->kind == OP_POLL && o->p == p);
			if (queued || (d->cur && d->cur->kind == OP_POLL && d->cur->p == p))
				continue;
			op = calloc(1, sizeof(*op));
			if (!op)
				continue;
			op->kind = OP_POLL;
			op->p = p;
			queue_op(d, op, false);
		}
		dev_kick(d);
	}
	return 0;
}

/* ---- bridge ops ---------------------------------------------------------------------------------- */

static int ble_verify(struct schema_ctx *ctx, const struct ynode *body)
{
	return ble_conf_parse(ctx, body, NULL);
}

static int ble_verify_address(struct schema_ctx *ctx, const struct ynode *address)
{
	return ble_address_parse(ctx, address, NULL);
}

static void discard_diag(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
			 const char *msg)
{
	(void)ctx;
	(void)sev;
	(void)file;
	(void)line;
	(void)col;
	(void)msg;
}

static struct bridge *ble_free(struct bridge *b);

static int ble_new(const char *name, const struct ynode *body, const struct bridge_host *host,
		   struct bridge **out)
{
	struct diag diag = { .fn = discard_diag };
	struct schema_ctx ctx = { .diag = &diag };
	struct bridge *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->host = *host;
	b->name = strdup(name);
	if (!b->name) {
		r = -ENOMEM;
		goto fail;
	}
	r = ble_conf_parse(&ctx, body, &b->conf);
	if (r < 0)
		goto fail;
	/* The body lives during this call only: copy its strings. */
	if ((b->conf.adapter && !(b->adapter_want = strdup(b->conf.adapter))) ||
	    (b->conf.dbus_address && !(b->dbus_address = strdup(b->conf.dbus_address)))) {
		r = -ENOMEM;
		goto fail;
	}
	b->conf.adapter = b->conf.dbus_address = NULL;
	if (b->conf.nrules) {
		b->rule_profiles = calloc(b->conf.nrules, sizeof(char *));
		if (!b->rule_profiles) {
			r = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < b->conf.nrules; i++) {
			b->rule_profiles[i] = strdup(b->conf.rules[i].profile);
			if (!b->rule_profiles[i]) {
				r = -ENOMEM;
				goto fail;
			}
			b->conf.rules[i].profile = b->rule_profiles[i];
		}
	}
	*out = b;
	return 0;
fail:
	ble_free(b);
	return r;
}

static int ble_start(struct bridge *b, sd_event *event)
{
	int r;

	b->event = sd_event_ref(event);
	b->started = now_usec();
	if (b->dbus_address) {
		r = sd_bus_new(&b->bus);
		if (r >= 0)
			r = sd_bus_set_address(b->bus, b->dbus_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(b->bus, 1);
		if (r >= 0)
			r = sd_bus_start(b->bus);
	} else
		r = sd_bus_open_system(&b->bus);
	if (r < 0)
		return log_error_errno(r, "BLE bridge %s: cannot connect to the D-Bus %s bus: %m", b->name,
				       b->dbus_address ? b->dbus_address : "system");
	/* sd-bus closes an attached bus when the loop exits; stop() still
	 * has to tell BlueZ goodbye (Disconnect, StopDiscovery) after that. */
	r = sd_bus_set_close_on_exit(b->bus, 0);
	if (r >= 0)
		r = sd_bus_attach_event(b->bus, event, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_add_match_async(
			b->bus, &b->m_owner,
			"type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
			"interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.bluez'",
			on_name_owner_changed, NULL, b);
	if (r >= 0)
		r = sd_bus_add_match_async(
			b->bus, &b->m_objmgr,
			"type='signal',sender='org.bluez',interface='org.freedesktop.DBus.ObjectManager'",
			on_signal, NULL, b);
	if (r >= 0)
		r = sd_bus_add_match_async(
			b->bus, &b->m_props,
			"type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',"
			"member='PropertiesChanged'",
			on_signal, NULL, b);
	if (r >= 0)
		r = sd_bus_call_method_async(b->bus, &b->s_owner, "org.freedesktop.DBus",
					     "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
					     on_get_owner, b, "s", BLUEZ);
	if (r >= 0)
		r = sd_event_add_time_relative(event, &b->tick, CLOCK_MONOTONIC, TICK_USEC, 0, on_tick, b);
	if (r >= 0)
		r = sd_event_source_set_enabled(b->tick, SD_EVENT_ON);
	if (r < 0)
		return log_error_errno(r, "BLE bridge %s: cannot set up D-Bus: %m", b->name);
	return 0;
}

static int ble_add_point(struct bridge *b, const struct bridge_point *bp)
{
	struct diag diag = { .fn = discard_diag };
	struct schema_ctx ctx = { .diag = &diag };
	struct ble_address addr;
	struct ble_dev *d = dev_by_name(b, bp->device);
	struct ble_point *p, **np;
	const struct ble_src *src = bp->pt->source;

	if (!src)
		return -EINVAL;
	if (ble_address_parse(&ctx, bp->address, &addr) < 0)
		return -EINVAL;
	if (!d) {
		struct ble_dev **nd;
		if (dev_by_mac(b, addr.mac)) {
			log_error("BLE bridge %s: device %s has the address of another device", b->name,
				  bp->device);
			return -EEXIST;
		}
		nd = realloc(b->devs, (b->ndevs + 1) * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		b->devs = nd;
		d = calloc(1, sizeof(*d));
		if (!d || !(d->name = strdup(bp->device))) {
			free(d);
			return -ENOMEM;
		}
		d->b = b;
		d->addr = addr;
		d->last_packet_id = -1;
		ble_mac_format(addr.mac, d->macs);
		b->devs[b->ndevs++] = d;
	}
	np = realloc(d->pts, (d->npts + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	d->pts = np;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->d = d;
	p->pt = bp->pt;
	p->path = bp->pt->path;
	p->src = src;
	p->poll_usec = bp->poll_usec;
	p->length = src->length;
	if (src->kind == BLE_SRC_ADV && !p->length)
		p->length = (uint32_t)mapping_raw_size(bp->pt->xf.raw, bp->pt->xf.width);
	if (src->kind == BLE_SRC_ADV && bp->pt->xf.raw == MAPPING_RAW_STRING && bp->pt->xf.length)
		p->length = bp->pt->xf.length;
	d->pts[d->npts++] = p;
	if (src->kind != BLE_SRC_GATT)
		d->has_adv = true;
	if (src->kind == BLE_SRC_GATT || bp->pt->write || bp->pt->execute) {
		d->has_gatt = true;
		if (src->kind == BLE_SRC_GATT && src->keep)
			d->keep = true;
	}
	if (b->bus)
		dev_kick(d);
	return 0;
}

static void ble_remove_point(struct bridge *b, const char *device, const struct lwm2m_path *path)
{
	struct ble_dev *d = dev_by_name(b, device);

	if (!d)
		return;
	for (size_t i = 0; i < d->npts; i++) {
		struct ble_point *p = d->pts[i];
		if (lwm2m_path_cmp(&p->path, path) != 0)
			continue;
		/* Operations still pointing at the point go first. */
		for (struct ble_op **q = &d->ops; *q;) {
			if ((*q)->p == p) {
				struct ble_op *op = *q;
				*q = op->next;
				op_finish(op, -ECANCELED, NULL);
			} else
				q = &(*q)->next;
		}
		if (d->cur && d->cur->p == p)
			d->cur->p = NULL, d->cur->kind = OP_WRITE; /* its reply is then just dropped */
		free(p);
		d->pts[i] = d->pts[--d->npts];
		break;
	}
	if (d->npts == 0) {
		for (size_t i = 0; i < b->ndevs; i++)
			if (b->devs[i] == d) {
				b->devs[i] = b->devs[--b->ndevs];
				break;
			}
		if (d->discovered && b->ndiscovered > 0)
			b->ndiscovered--;
		if (is_connected_state(d->gstate))
			send_disconnect(d);
		dev_free(d);
		kick_all(b);
	}
}

static struct ble_point *point_of(struct ble_dev *d, const struct mapping_point *pt)
{
	for (size_t i = 0; d && i < d->npts; i++)
		if (d->pts[i]->pt == pt)
			return d->pts[i];
	return NULL;
}

static int submit(struct bridge *b, const char *device, struct ble_op *op)
{
	struct ble_dev *d = dev_by_name(b, device);

	if (!d) {
		free(op);
		return -ENOENT;
	}
	if (!b->bluez_up || !b->adapter_path) {
		free(op);
		return -EHOSTUNREACH;
	}
	d->has_gatt = true;
	queue_op(d, op, false);
	dev_kick(d);
	return 0;
}

static int ble_read(struct bridge *b, const char *device, const struct mapping_point *pt, bridge_done_fn done,
		    void *ctx)
{
	const struct ble_src *s = pt->source;
	struct ble_dev *d = dev_by_name(b, device);
	struct ble_op *op;

	if (!s || !d)
		return -ENOENT;
	if (s->kind != BLE_SRC_GATT)
		return d->unreachable ? -EHOSTUNREACH : -EAGAIN; /* adverts come when they come */
	(void)point_of;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->kind = OP_READ;
	op->src = s;
	op->path = pt->path;
	op->done = done;
	op->ctx = ctx;
	return submit(b, device, op);
}

static int ble_write(struct bridge *b, const char *device, const struct mapping_point *pt,
		     const struct mapping_sample *v, bridge_done_fn done, void *ctx)
{
	const struct ble_src *s = pt->write ? pt->write : pt->source;
	struct ble_op *op;
	const uint8_t *data;
	size_t len;

	if (!s || s->kind != BLE_SRC_GATT)
		return -EOPNOTSUPP;
	if (v->kind == MAPPING_SAMPLE_BYTES) {
		data = v->bytes;
		len = v->len;
	} else if (v->value.type == LWM2M_TYPE_STRING || v->value.type == LWM2M_TYPE_OPAQUE) {
		data = v->value.bytes.ptr;
		len = v->value.bytes.len;
	} else
		return -EINVAL;
	if (len > BLE_VALUE_MAX)
		return -E2BIG;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->kind = OP_WRITE;
	op->src = s;
	op->path = pt->path;
	if (len)
		memcpy(op->data, data, len);
	op->len = len;
	op->wtype = s->write_type;
	op->done = done;
	op->ctx = ctx;
	return submit(b, device, op);
}

static int ble_execute(struct bridge *b, const char *device, const struct mapping_point *pt, const char *args,
		       size_t args_len, bridge_done_fn done, void *ctx)
{
	const struct ble_src *s = pt->execute;
	struct ble_op *op;

	if (!s || s->kind != BLE_SRC_GATT)
		return -EOPNOTSUPP;
	if (!s->has_value && args_len > BLE_VALUE_MAX)
		return -E2BIG;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->kind = OP_WRITE;
	op->src = s;
	op->path = pt->path;
	if (s->has_value) {
		memcpy(op->data, s->value, s->value_len);
		op->len = s->value_len;
	} else {
		/* No fixed value: the Execute argument text is written as is. */
		if (args_len)
			memcpy(op->data, args, args_len);
		op->len = args_len;
	}
	op->wtype = s->write_type;
	op->done = done;
	op->ctx = ctx;
	return submit(b, device, op);
}

static void ble_observed(struct bridge *b, const char *device, const struct lwm2m_path *path,
			 uint64_t period_usec)
{
	struct ble_dev *d = dev_by_name(b, device);

	for (size_t i = 0; d && i < d->npts; i++)
		if (lwm2m_path_cmp(&d->pts[i]->path, path) == 0) {
			struct ble_point *p = d->pts[i];
			p->observe_usec = period_usec;
			/* Come back at the new period at the latest. */
			if (point_period(p) && p->next_poll > now_usec() + point_period(p))
				p->next_poll = now_usec() + point_period(p);
		}
}

static int ble_device_status(struct bridge *b, const char *device, char *buf, size_t size)
{
	struct ble_dev *d = dev_by_name(b, device);
	int n;

	if (!d)
		return -ENOENT;
	n = snprintf(buf, size, "%s adverts=%lu dup=%lu mic_fail=%lu replay=%lu", d->macs, d->adverts, d->dup,
		     d->mic_fail, d->replay);
	if (n >= 0 && (size_t)n < size && (d->nokey || d->unencrypted || d->bad))
		n += snprintf(buf + n, size - (size_t)n, " nokey=%lu plain=%lu bad=%lu", d->nokey,
			      d->unencrypted, d->bad);
	if (n >= 0 && (size_t)n < size && d->has_rssi)
		n += snprintf(buf + n, size - (size_t)n, " rssi=%d", d->rssi);
	if (n >= 0 && (size_t)n < size && d->has_gatt)
		n += snprintf(buf + n, size - (size_t)n, " gatt=%s ok=%lu err=%lu connects=%lu",
			      gstate_names[d->gstate], d->gatt_ok, d->gatt_err, d->connects);
	if (n < 0)
		return -EIO;
	return (size_t)n < size ? n : (int)size - 1;
}

static void ble_stop(struct bridge *b)
{
	/* Let go of the connections we made (sent by the flush below). */
	for (size_t i = 0; i < b->ndevs; i++)
		if (is_connected_state(b->devs[i]->gstate))
			send_disconnect(b->devs[i]);
	if (b->adapter_path && b->bus) {
		sd_bus_message *m = NULL;
		/* Leave the adapter as found: stop the scan we started. */
		if (call_async(b, NULL, b->adapter_path, IFACE_ADAPTER, "StopDiscovery", NULL, NULL, 0, &m) >=
		    0) {
			(void)sd_bus_send(b->bus, m, NULL);
			sd_bus_message_unref(m);
			(void)sd_bus_flush(b->bus);
		}
		free(b->adapter_path);
		b->adapter_path = NULL;
	}
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		d->conn_slot = sd_bus_slot_unref(d->conn_slot);
		d->timer = sd_event_source_disable_unref(d->timer);
		dev_fail_ops(d, -ECANCELED);
		dev_set_state(d, G_IDLE);
	}
	b->tick = sd_event_source_disable_unref(b->tick);
	b->m_owner = sd_bus_slot_unref(b->m_owner);
	b->m_objmgr = sd_bus_slot_unref(b->m_objmgr);
	b->m_props = sd_bus_slot_unref(b->m_props);
	b->s_owner = sd_bus_slot_unref(b->s_owner);
	b->s_objects = sd_bus_slot_unref(b->s_objects);
	b->s_filter = sd_bus_slot_unref(b->s_filter);
	b->s_start = sd_bus_slot_unref(b->s_start);
}

static struct bridge *ble_free(struct bridge *b)
{
	if (!b)
		return NULL;
	ble_stop(b);
	for (size_t i = 0; i < b->ndevs; i++)
		dev_free(b->devs[i]);
	free(b->devs);
	gobj_clear(b);
	if (b->bus) {
		sd_bus_detach_event(b->bus);
		b->bus = sd_bus_flush_close_unref(b->bus);
	}
	sd_event_unref(b->event);
	for (size_t i = 0; b->rule_profiles && i < b->conf.nrules; i++)
		free(b->rule_profiles[i]);
	free(b->rule_profiles);
	ble_conf_free(&b->conf);
	free(b->adapter_path);
	free(b->adapter_want);
	free(b->dbus_address);
	free(b->name);
	free(b);
	return NULL;
}

const struct bridge_ops bridge_ble_ops = {
	.type = "ble",
	.source_ops = &ble_source_ops,
	.verify = ble_verify,
	.verify_address = ble_verify_address,
	.new = ble_new,
	.start = ble_start,
	.add_point = ble_add_point,
	.remove_point = ble_remove_point,
	.read = ble_read,
	.write = ble_write,
	.execute = ble_execute,
	.observed = ble_observed,
	.device_status = ble_device_status,
	.stop = ble_stop,
	.free = ble_free,
};
