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
 * are decoded and become samples (ble_adverts.c). GATT devices are connected when they
 * have work (or always, for notify points and `connection: keep`), one
 * operation at a time per device, every call asynchronous with a timeout,
 * and at most max_connections devices connected or connecting at once
 * (ble_gatt.c). The D-Bus side is ble_bluez.c; this file holds the bridge
 * operations, the devices and their points.
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

#include "bridges/ble/ble_internal.h"
#include "common/log.h"
#include "common/schema.h"

static const char *const gstate_names[] = { "idle", "connecting", "resolving", "ready", "backoff" };

uint64_t ble_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

struct ble_dev *ble_dev_by_name(struct ble_bridge *b, const char *name)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (strcmp(b->devs[i]->name, name) == 0)
			return b->devs[i];
	return NULL;
}

struct ble_dev *ble_dev_by_mac(struct ble_bridge *b, const uint8_t mac[6])
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (memcmp(b->devs[i]->addr.mac, mac, 6) == 0)
			return b->devs[i];
	return NULL;
}

void ble_op_finish(struct ble_op *op, int err, const struct mapping_sample *s)
{
	if (op->done)
		op->done(op->ctx, err, s);
	free(op);
}

/* Fail every queued operation of d (the current one too). The list is
 * detached first: done() may re-enter the bridge. */
void ble_dev_fail_ops(struct ble_dev *d, int err)
{
	struct ble_op *list = d->ops, *cur = d->cur;

	d->ops = NULL;
	d->cur = NULL;
	d->op_slot = sd_bus_slot_unref(d->op_slot);
	if (cur)
		ble_op_finish(cur, err, NULL);
	while (list) {
		struct ble_op *n = list->next;
		ble_op_finish(list, err, NULL);
		list = n;
	}
}

bool ble_connected_state(uint8_t s)
{
	return s == G_CONNECTING || s == G_RESOLVING || s == G_READY;
}

void ble_dev_set_state(struct ble_dev *d, uint8_t s)
{
	struct ble_bridge *b = d->b;

	if (ble_connected_state(d->gstate) && !ble_connected_state(s) && b->nconn > 0)
		b->nconn--;
	if (!ble_connected_state(d->gstate) && ble_connected_state(s))
		b->nconn++;
	d->gstate = s;
}

void ble_dev_presence(struct ble_dev *d, int err)
{
	struct ble_bridge *b = d->b;

	if ((err < 0) == d->unreachable)
		return;
	d->unreachable = err < 0;
	if (b->base.host.presence)
		b->base.host.presence(b->base.host.ud, d->name, err);
}

struct ble_dev *ble_dev_free(struct ble_dev *d)
{
	if (!d)
		return NULL;
	d->conn_slot = sd_bus_slot_unref(d->conn_slot);
	d->timer = sd_event_source_disable_unref(d->timer);
	ble_dev_fail_ops(d, -ECANCELED);
	ble_dev_set_state(d, G_IDLE);
	for (size_t i = 0; i < d->npts; i++)
		free(d->pts[i]);
	free(d->pts);
	free(d->path);
	free(d->name);
	free(d);
	return NULL;
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

/* Discovered devices not heard for discover_forget go (the core removes
 * them, which removes their points here): their discovery slots are free
 * for new sensors, and the device comes back if it is heard again. One per
 * tick, outside the walk over b->devs that forget() changes. */
static void forget_silent(struct ble_bridge *b, uint64_t now)
{
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		if (!d->discovered || !d->has_adv || d->gstate == G_READY ||
		    now - d->last_heard < b->conf.forget_usec)
			continue;
		char *name = strdup(d->name);
		if (!name)
			return;
		log_device_info(BRIDGE_DEV_LOG(&b->base, name),
				"BLE bridge %s: discovered device %s (%s) not heard for %llu s: forgotten",
				b->base.name, name, d->macs,
				(unsigned long long)((now - d->last_heard) / 1000000));
		if (b->base.host.forget)
			(void)b->base.host.forget(b->base.host.ud, name);
		free(name);
		return;
	}
}

static int on_tick(sd_event_source *s, uint64_t usec, void *ud)
{
	struct ble_bridge *b = ud;
	uint64_t now = ble_now_usec();

	(void)usec;
	(void)sd_event_source_set_time_relative(s, TICK_USEC);
	forget_silent(b, now);
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		uint64_t heard = d->last_heard;
		if (d->gstate == G_READY)
			d->last_heard = heard = now; /* connected: alive */
		/* Only adverts can go unheard; a GATT-only device's presence is
		 * the outcome of its connections (ble_gatt.c). */
		if (d->has_adv && !d->unreachable && now - heard >= b->conf.unreachable_usec) {
			log_device_warning(BRIDGE_DEV_LOG(&d->b->base, d->name),
					   "BLE device %s (%s) not heard for %llu s", d->name, d->macs,
					   (unsigned long long)((now - heard) / 1000000));
			ble_dev_presence(d, -EHOSTUNREACH);
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
			ble_queue_op(d, op, false);
		}
		ble_dev_kick(d);
	}
	return 0;
}

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

static int ble_init(struct bridge *base, const struct ynode *body)
{
	struct diag diag = { .fn = discard_diag };
	struct schema_ctx ctx = { .diag = &diag };
	struct ble_bridge *b = BLE(base);
	int r;

	r = ble_conf_parse(&ctx, body, &b->conf);
	if (r < 0)
		return r;
	/* The body lives during this call only: copy its strings. */
	if ((b->conf.adapter && !(b->adapter_want = strdup(b->conf.adapter))) ||
	    (b->conf.dbus_address && !(b->dbus_address = strdup(b->conf.dbus_address))))
		return -ENOMEM;
	b->conf.adapter = b->conf.dbus_address = NULL;
	if (b->conf.nrules) {
		b->rule_profiles = calloc(b->conf.nrules, sizeof(char *));
		if (!b->rule_profiles)
			return -ENOMEM;
		for (size_t i = 0; i < b->conf.nrules; i++) {
			b->rule_profiles[i] = strdup(b->conf.rules[i].profile);
			if (!b->rule_profiles[i])
				return -ENOMEM;
			b->conf.rules[i].profile = b->rule_profiles[i];
		}
	}
	return 0;
}

static int ble_start(struct bridge *base, sd_event *event)
{
	struct ble_bridge *b = BLE(base);
	int r;

	b->event = sd_event_ref(event);
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
		return log_error_errno(r, "BLE bridge %s: cannot connect to the D-Bus %s bus: %m",
				       b->base.name, b->dbus_address ? b->dbus_address : "system");
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
			ble_on_name_owner_changed, NULL, b);
	if (r >= 0)
		r = sd_bus_add_match_async(
			b->bus, &b->m_objmgr,
			"type='signal',sender='org.bluez',interface='org.freedesktop.DBus.ObjectManager'",
			ble_on_signal, NULL, b);
	if (r >= 0)
		r = sd_bus_add_match_async(
			b->bus, &b->m_props,
			"type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',"
			"member='PropertiesChanged'",
			ble_on_signal, NULL, b);
	if (r >= 0)
		r = sd_bus_call_method_async(b->bus, &b->s_owner, "org.freedesktop.DBus",
					     "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
					     ble_on_get_owner, b, "s", BLUEZ);
	if (r >= 0)
		r = sd_event_add_time_relative(event, &b->tick, CLOCK_MONOTONIC, TICK_USEC, 0, on_tick, b);
	if (r >= 0)
		r = sd_event_source_set_enabled(b->tick, SD_EVENT_ON);
	if (r < 0)
		return log_error_errno(r, "BLE bridge %s: cannot set up D-Bus: %m", b->base.name);
	return 0;
}

static int ble_add_point(struct bridge *base, const struct bridge_point *bp)
{
	struct ble_bridge *b = BLE(base);
	struct diag diag = { .fn = discard_diag };
	struct schema_ctx ctx = { .diag = &diag };
	struct ble_address addr;
	struct ble_dev *d = ble_dev_by_name(b, bp->device);
	struct ble_point *p, **np;
	const struct ble_src *src = bp->pt->source;

	if (!src && !bp->pt->write && !bp->pt->execute)
		return -EINVAL;
	if (ble_address_parse(&ctx, bp->address, &addr) < 0)
		return -EINVAL;
	if (!d) {
		struct ble_dev **nd;
		if (ble_dev_by_mac(b, addr.mac)) {
			log_device_error(BRIDGE_DEV_LOG(&b->base, bp->device),
					 "BLE bridge %s: device %s has the address of another device",
					 b->base.name, bp->device);
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
		/* The clock of "not heard" starts when the device is added (at
		 * start or by a reload), not when the bridge started. */
		d->last_heard = ble_now_usec();
		ble_mac_format(addr.mac, d->macs);
		b->devs[b->ndevs++] = d;
	}
	if (!src) {
		/* A write or execute only: a GATT device, nothing to read. */
		d->nactions++;
		d->has_gatt = true;
		return 0;
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
	p->h = bp->handle;
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
		ble_dev_kick(d);
	return 0;
}

static void ble_remove_point(struct bridge *base, const char *device, const struct lwm2m_path *path)
{
	struct ble_bridge *b = BLE(base);
	struct ble_dev *d = ble_dev_by_name(b, device);
	bool found = false;

	if (!d)
		return;
	for (size_t i = 0; i < d->npts; i++) {
		struct ble_point *p = d->pts[i];
		if (lwm2m_path_cmp(&p->path, path) != 0)
			continue;
		found = true;
		/* Operations still pointing at the point go first. */
		for (struct ble_op **q = &d->ops; *q;) {
			if ((*q)->p == p) {
				struct ble_op *op = *q;
				*q = op->next;
				ble_op_finish(op, -ECANCELED, NULL);
			} else
				q = &(*q)->next;
		}
		if (d->cur && d->cur->p == p)
			d->cur->p = NULL, d->cur->kind = OP_WRITE; /* its reply is then just dropped */
		free(p);
		d->pts[i] = d->pts[--d->npts];
		break;
	}
	if (!found && d->nactions)
		d->nactions--; /* a write/execute-only point */
	if (d->npts == 0 && d->nactions == 0) {
		for (size_t i = 0; i < b->ndevs; i++)
			if (b->devs[i] == d) {
				b->devs[i] = b->devs[--b->ndevs];
				break;
			}
		if (d->discovered && b->ndiscovered > 0)
			b->ndiscovered--;
		if (ble_connected_state(d->gstate))
			ble_send_disconnect(d);
		ble_dev_free(d);
		ble_kick_all(b);
	}
}

/* Queue a GATT operation on the device (data: what a write sends); done()
 * is called once it is answered, failed or cancelled. */
static int submit(struct ble_bridge *b, const char *device, uint8_t kind, const struct ble_src *s,
		  const struct mapping_point *pt, const void *data, size_t len, bridge_done_fn done,
		  void *ctx)
{
	struct ble_dev *d = ble_dev_by_name(b, device);
	struct ble_op *op;

	if (!d)
		return -ENOENT;
	if (len > BLE_VALUE_MAX)
		return -E2BIG;
	if (!b->bluez_up || !b->adapter_path)
		return -EHOSTUNREACH;
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	*op = (struct ble_op){ .kind = kind,
			       .src = s,
			       .path = pt->path,
			       .len = len,
			       .wtype = s->write_type,
			       .done = done,
			       .ctx = ctx };
	if (len)
		memcpy(op->data, data, len);
	d->has_gatt = true;
	ble_queue_op(d, op, false);
	ble_dev_kick(d);
	return 0;
}

static int ble_read(struct bridge *base, const char *device, const struct mapping_point *pt,
		    bridge_done_fn done, void *ctx)
{
	struct ble_bridge *b = BLE(base);
	const struct ble_src *s = pt->source;
	struct ble_dev *d = ble_dev_by_name(b, device);

	if (!s || !d)
		return -ENOENT;
	if (s->kind != BLE_SRC_GATT)
		return d->unreachable ? -EHOSTUNREACH : -EAGAIN; /* adverts come when they come */
	return submit(b, device, OP_READ, s, pt, NULL, 0, done, ctx);
}

static int ble_write(struct bridge *base, const char *device, const struct mapping_point *pt,
		     const struct mapping_sample *v, bridge_done_fn done, void *ctx)
{
	struct ble_bridge *b = BLE(base);
	const struct ble_src *s = pt->write ? pt->write : pt->source;

	if (!s || s->kind != BLE_SRC_GATT)
		return -EOPNOTSUPP;
	if (v->kind == MAPPING_SAMPLE_BYTES)
		return submit(b, device, OP_WRITE, s, pt, v->bytes, v->len, done, ctx);
	if (v->value.type == LWM2M_TYPE_STRING || v->value.type == LWM2M_TYPE_OPAQUE)
		return submit(b, device, OP_WRITE, s, pt, v->value.bytes.ptr, v->value.bytes.len, done, ctx);
	return -EINVAL;
}

static int ble_execute(struct bridge *base, const char *device, const struct mapping_point *pt,
		       const char *args, size_t args_len, bridge_done_fn done, void *ctx)
{
	struct ble_bridge *b = BLE(base);
	const struct ble_src *s = pt->execute;

	if (!s || s->kind != BLE_SRC_GATT)
		return -EOPNOTSUPP;
	/* A fixed value, else the Execute argument text as is. */
	if (s->has_value)
		return submit(b, device, OP_WRITE, s, pt, s->value, s->value_len, done, ctx);
	return submit(b, device, OP_WRITE, s, pt, args, args_len, done, ctx);
}

static void ble_observed(struct bridge *base, const char *device, const struct lwm2m_path *path,
			 uint64_t period_usec)
{
	struct ble_bridge *b = BLE(base);
	struct ble_dev *d = ble_dev_by_name(b, device);

	for (size_t i = 0; d && i < d->npts; i++)
		if (lwm2m_path_cmp(&d->pts[i]->path, path) == 0) {
			struct ble_point *p = d->pts[i];
			p->observe_usec = period_usec;
			/* Come back at the new period at the latest. */
			if (point_period(p) && p->next_poll > ble_now_usec() + point_period(p))
				p->next_poll = ble_now_usec() + point_period(p);
		}
}

static int ble_device_status(struct bridge *base, const char *device, char *buf, size_t size)
{
	struct ble_bridge *b = BLE(base);
	struct ble_dev *d = ble_dev_by_name(b, device);
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

static int ble_device_counters(struct bridge *base, const char *device, struct bridge_counter *out,
			       size_t max)
{
	struct ble_dev *d = ble_dev_by_name(BLE(base), device);
	const struct bridge_counter c[] = {
		{ "adverts", "advertisements decoded", d ? d->adverts : 0 },
		{ "duplicate_adverts", "advertisements repeating the last one", d ? d->dup : 0 },
		{ "mic_failures", "encrypted advertisements that did not authenticate", d ? d->mic_fail : 0 },
		{ "replays", "encrypted advertisements with an old counter", d ? d->replay : 0 },
		{ "bad_adverts", "advertisements that did not decode", d ? d->bad : 0 },
		{ "gatt_ok", "GATT operations that succeeded", d ? d->gatt_ok : 0 },
		{ "gatt_errors", "GATT operations that failed", d ? d->gatt_err : 0 },
		{ "connects", "GATT connections made", d ? d->connects : 0 },
	};

	return d ? bridge_counters_copy(out, max, c, sizeof(c) / sizeof(c[0])) : 0;
}

static void ble_stop(struct bridge *base)
{
	struct ble_bridge *b = BLE(base);
	/* Let go of the connections we made (sent by the flush below). */
	for (size_t i = 0; i < b->ndevs; i++)
		if (ble_connected_state(b->devs[i]->gstate))
			ble_send_disconnect(b->devs[i]);
	if (b->adapter_path && b->bus) {
		sd_bus_message *m = NULL;
		/* Leave the adapter as found: stop the scan we started. */
		if (ble_call_async(b, NULL, b->adapter_path, IFACE_ADAPTER, "StopDiscovery", NULL, NULL, 0,
				   &m) >= 0) {
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
		ble_dev_fail_ops(d, -ECANCELED);
		ble_dev_set_state(d, G_IDLE);
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

static void ble_done(struct bridge *base)
{
	struct ble_bridge *b = BLE(base);

	ble_stop(base);
	for (size_t i = 0; i < b->ndevs; i++)
		ble_dev_free(b->devs[i]);
	free(b->devs);
	ble_gobj_clear(b);
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
}

static const struct bridge_kind bridge_kind_ble = {
	.name = "ble",
	.size = sizeof(struct ble_bridge),
	.tester = &ble_tester,
	.source_ops = &ble_source_ops,
	.verify = ble_verify,
	.verify_address = ble_verify_address,
	.init = ble_init,
	.start = ble_start,
	.add_point = ble_add_point,
	.remove_point = ble_remove_point,
	.read = ble_read,
	.write = ble_write,
	.execute = ble_execute,
	.observed = ble_observed,
	.device_status = ble_device_status,
	.device_counters = ble_device_counters,
	.stop = ble_stop,
	.done = ble_done,
};
BRIDGE_KIND_REGISTER(bridge_kind_ble)
