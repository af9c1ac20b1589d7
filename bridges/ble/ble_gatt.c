/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GATT side of the BLE bridge: per device a small state machine (idle,
 * connecting, resolving, ready, backoff) bounded by max_connections, a queue
 * of operations run one at a time (ReadValue, WriteValue, StartNotify), each
 * call asynchronous with a timeout; the GATT objects BlueZ exports, to find
 * characteristics by service and characteristic UUID; notifications.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/ble/ble_internal.h"
#include "common/log.h"

static void op_next(struct ble_dev *d);

struct gobj *ble_gobj_find(struct ble_bridge *b, const char *path)
{
	for (size_t i = 0; i < b->ng; i++)
		if (strcmp(b->g[i].path, path) == 0)
			return &b->g[i];
	return NULL;
}

const char *ble_char_path(struct ble_bridge *b, const struct ble_dev *d, const struct ble_src *s)
{
	if (!d->path)
		return NULL;
	for (size_t i = 0; i < b->ng; i++) {
		const struct gobj *c = &b->g[i], *svc;
		if (!c->is_char || strcmp(c->uuid, s->characteristic) != 0 || !c->parent)
			continue;
		svc = ble_gobj_find(b, c->parent);
		if (svc && !svc->is_char && svc->parent && strcmp(svc->parent, d->path) == 0 &&
		    strcmp(svc->uuid, s->service) == 0)
			return c->path;
	}
	return NULL;
}

/* Fire and forget: nothing in the reply matters to us. */
void ble_send_disconnect(struct ble_dev *d)
{
	struct ble_bridge *b = d->b;
	sd_bus_message *m = NULL;

	if (!d->path || !b->bus || !b->bluez_up)
		return;
	if (ble_call_async(b, NULL, d->path, IFACE_DEVICE, "Disconnect", NULL, NULL, 0, &m) >= 0) {
		(void)sd_bus_call_async(b->bus, NULL, m, NULL, NULL, b->conf.call_timeout_usec);
		sd_bus_message_unref(m);
	}
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct ble_dev *d = ud;

	(void)s;
	(void)usec;
	d->timer = sd_event_source_disable_unref(d->timer);
	if (d->gstate == G_BACKOFF) {
		ble_dev_set_state(d, G_IDLE);
		ble_dev_kick(d);
	} else if (d->gstate == G_RESOLVING)
		ble_gatt_fail(d, -ETIMEDOUT, "services not resolved in time");
	return 0;
}

static void set_timer(struct ble_dev *d, uint64_t usec)
{
	d->timer = sd_event_source_disable_unref(d->timer);
	if (d->b->event &&
	    sd_event_add_time_relative(d->b->event, &d->timer, CLOCK_MONOTONIC, usec, 0, on_timer, d) < 0)
		log_oom();
}

void ble_points_reset(struct ble_dev *d)
{
	for (size_t i = 0; i < d->npts; i++)
		d->pts[i]->notifying = false;
}

/* A connection failed or dropped: fail the work, back off, try again. */
void ble_gatt_fail(struct ble_dev *d, int err, const char *what)
{
	struct ble_bridge *b = d->b;
	uint64_t backoff = BACKOFF_MIN;

	/* A timed-out attempt may still be going on in BlueZ, a connection
	 * without services is useless: let both go (not after the device
	 * itself dropped it). */
	if (err != -ECONNRESET && err != -ENODEV && (d->conn_slot || d->connected))
		ble_send_disconnect(d);
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
	ble_points_reset(d);
	ble_dev_set_state(d, G_BACKOFF);
	set_timer(d, backoff);
	ble_dev_fail_ops(d, err == -ETIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH);
	/* Kept connections are the device's presence; so is any connection
	 * of a device that has no adverts to be heard by. */
	if (d->keep || !d->has_adv)
		ble_dev_presence(d, -EHOSTUNREACH);
	ble_kick_all(b); /* a connection slot may be free */
}

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
		err = ble_reply_errno(m);
		d->gatt_err++;
		log_device_warning(BRIDGE_DEV_LOG(&d->b->base, d->name), "BLE device %s: GATT %s failed: %s",
				   d->name,
				   op->kind == OP_WRITE    ? "write"
				   : op->kind == OP_NOTIFY ? "StartNotify"
							   : "read",
				   be && be->message ? be->message : strerror(-err));
		if (be && be->name &&
		    (strcmp(be->name, "org.bluez.Error.NotConnected") == 0 || err == -ETIMEDOUT)) {
			/* The device did not answer in time: 5.04 for this one
			 * (-ETIME); the rest fails with the connection. */
			if (err == -ETIMEDOUT) {
				if (op->kind == OP_NOTIFY)
					op->p->notifying = false;
				ble_op_finish(op, -ETIME, NULL);
			} else
				d->cur = op;
			ble_gatt_fail(d, err, "GATT call failed");
			return 0;
		}
		if (op->kind == OP_NOTIFY)
			op->p->notifying = false;
		ble_op_finish(op, err == -ETIMEDOUT ? -ETIMEDOUT : -EIO, NULL);
	} else {
		d->gatt_ok++;
		if (op->kind == OP_READ || op->kind == OP_POLL) {
			const void *data = NULL;
			size_t len = 0;
			struct mapping_sample s;
			int r = sd_bus_message_read_array(m, 'y', &data, &len);
			if (r < 0) {
				ble_op_finish(op, -EBADMSG, NULL);
				goto next;
			}
			s = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES,
						     .bytes = data,
						     .len = len };
			if (op->kind == OP_POLL) {
				ble_sample(d, op->p, &s);
				ble_op_finish(op, 0, NULL);
			} else
				ble_op_finish(op, 0, &s);
		} else
			ble_op_finish(op, 0, NULL);
	}
next:
	d->last_heard = ble_now_usec();
	op_next(d);
	return 0;
}

static int op_send(struct ble_dev *d, struct ble_op *op)
{
	struct ble_bridge *b = d->b;
	const struct ble_src *s = op->kind == OP_POLL || op->kind == OP_NOTIFY ? op->p->src : op->src;
	const char *path = ble_char_path(b, d, s);
	sd_bus_message *m = NULL;
	int r;

	if (!path)
		return -ENOENT;
	switch (op->kind) {
	case OP_NOTIFY:
		r = ble_call_async(b, NULL, path, IFACE_CHAR, "StartNotify", NULL, NULL, 0, &m);
		break;
	case OP_WRITE:
		r = ble_call_async(b, NULL, path, IFACE_CHAR, "WriteValue", NULL, NULL, 0, &m);
		if (r >= 0)
			r = sd_bus_message_append_array(m, 'y', op->data, op->len);
		if (r >= 0)
			r = sd_bus_message_append(m, "a{sv}", 1, "type", "s",
						  op->wtype == BLE_WRITE_COMMAND ? "command" : "request");
		break;
	default:
		r = ble_call_async(b, NULL, path, IFACE_CHAR, "ReadValue", NULL, NULL, 0, &m);
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
	struct ble_bridge *b = d->b;

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
			log_device_warning(
				BRIDGE_DEV_LOG(&d->b->base, d->name),
				"BLE device %s: no characteristic %s in service %s", d->name,
				(op->kind == OP_POLL || op->kind == OP_NOTIFY ? op->p->src : op->src)
					->characteristic,
				(op->kind == OP_POLL || op->kind == OP_NOTIFY ? op->p->src : op->src)
					->service);
		else
			log_device_warning_errno(BRIDGE_DEV_LOG(&d->b->base, d->name), r,
						 "BLE device %s: cannot send a GATT call: %m", d->name);
		if (op->kind == OP_NOTIFY)
			op->p->notifying = false;
		ble_op_finish(op, r == -ENOENT ? -ENOENT : -EIO, NULL);
	}
	if (d->gstate == G_READY && !d->cur && !d->ops && !d->keep) {
		ble_send_disconnect(d);
		/* Not connected for us from now on, whatever BlueZ still shows. */
		d->connected = d->resolved = false;
		ble_dev_set_state(d, G_IDLE);
		ble_kick_all(b);
	}
}

void ble_queue_op(struct ble_dev *d, struct ble_op *op, bool front)
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

void ble_gatt_ready(struct ble_dev *d)
{
	d->timer = sd_event_source_disable_unref(d->timer);
	ble_dev_set_state(d, G_READY);
	d->failures = 0;
	d->last_heard = ble_now_usec();
	ble_dev_presence(d, 0);
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
		ble_queue_op(d, op, true);
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
			ble_gatt_fail(d, ble_reply_errno(m), "connect failed");
			return 0;
		}
	}
	d->connected = true;
	d->connects++;
	if (d->resolved)
		ble_gatt_ready(d);
	else {
		ble_dev_set_state(d, G_RESOLVING);
		set_timer(d, d->b->conf.connect_timeout_usec);
	}
	return 0;
}

static bool dev_wants_connection(const struct ble_dev *d)
{
	return d->has_gatt && (d->keep || d->ops);
}

void ble_dev_kick(struct ble_dev *d)
{
	struct ble_bridge *b = d->b;
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
		ble_dev_fail_ops(d, -EHOSTUNREACH);
		return;
	}
	if (d->connected && d->resolved) {
		ble_dev_set_state(d, G_READY);
		ble_gatt_ready(d);
		return;
	}
	if (b->nconn >= b->conf.max_connections)
		return; /* ble_kick_all() comes back when a slot frees */
	if (!d->path) {
		snprintf(path, sizeof(path), "%s/dev_%c%c_%c%c_%c%c_%c%c_%c%c_%c%c", b->adapter_path,
			 d->macs[0], d->macs[1], d->macs[3], d->macs[4], d->macs[6], d->macs[7], d->macs[9],
			 d->macs[10], d->macs[12], d->macs[13], d->macs[15], d->macs[16]);
		d->path = strdup(path);
		if (!d->path)
			return;
	}
	ble_dev_set_state(d, G_CONNECTING);
	r = ble_call_async(b, &d->conn_slot, d->path, IFACE_DEVICE, "Connect", on_connect_reply, d,
			   b->conf.connect_timeout_usec, NULL);
	if (r < 0)
		ble_gatt_fail(d, r, "cannot call Connect");
}

void ble_kick_all(struct ble_bridge *b)
{
	for (size_t i = 0; i < b->ndevs; i++)
		if (b->devs[i]->gstate == G_IDLE || b->devs[i]->gstate == G_READY)
			ble_dev_kick(b->devs[i]);
}

void ble_gobj_add(struct ble_bridge *b, const char *path, bool is_char, const char *uuid, const char *parent)
{
	struct gobj *g = ble_gobj_find(b, path), *n;

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

void ble_gobj_clear(struct ble_bridge *b)
{
	for (size_t i = 0; i < b->ng; i++) {
		free(b->g[i].path);
		free(b->g[i].parent);
	}
	free(b->g);
	b->g = NULL;
	b->ng = 0;
}

int ble_char_value_prop(sd_bus_message *m, const char *key, const char *sig, void *ud)
{
	struct char_value *cv = ud;
	struct ble_bridge *b = cv->b;
	const void *data;
	size_t len;
	int r;

	if (strcmp(key, "Value") != 0 || strcmp(sig, "ay") != 0)
		return 0;
	r = ble_read_bytes_variant(m, &data, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		for (size_t k = 0; k < d->npts; k++) {
			struct ble_point *p = d->pts[k];
			const char *cp;
			if (p->src->kind != BLE_SRC_GATT || p->src->mode != BLE_GATT_NOTIFY)
				continue;
			cp = ble_char_path(b, d, p->src);
			if (cp && strcmp(cp, cv->path) == 0) {
				struct mapping_sample s = { .kind = MAPPING_SAMPLE_BYTES,
							    .bytes = data,
							    .len = len };
				d->last_heard = ble_now_usec();
				ble_sample(d, p, &s);
			}
		}
	}
	return 1;
}
