/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BlueZ client of the BLE bridge: GetManagedObjects once (at start and
 * whenever org.bluez gets a new owner), then InterfacesAdded /
 * InterfacesRemoved / PropertiesChanged; the adapter choice and LE discovery
 * with its filter. D-Bus values of an unexpected type are skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/ble/ble_internal.h"
#include "common/log.h"

typedef int (*prop_fn)(sd_bus_message *m, const char *key, const char *sig, void *ud);

static void start_discovery(struct ble_bridge *b);

struct gatt_props {
	const char *uuid, *parent;
	bool is_char;
};

struct object_ctx {
	struct ble_bridge *b;
	const char *path;
	const char **adapter_found; /* GetManagedObjects: choose after the whole tree */
};

int ble_call_async(struct ble_bridge *b, sd_bus_slot **slot, const char *path, const char *iface,
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

int ble_reply_errno(sd_bus_message *m)
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

int ble_read_bytes_variant(sd_bus_message *m, const void **data, size_t *len)
{
	int r = sd_bus_message_enter_container(m, 'v', "ay");

	if (r < 0)
		return r;
	r = sd_bus_message_read_array(m, 'y', data, len);
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

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
	r = ble_read_bytes_variant(m, &data, &len);
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
			r = ble_read_bytes_variant(m, &data, &len);
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

static int gatt_prop(sd_bus_message *m, const char *key, const char *sig, void *ud)
{
	struct gatt_props *g = ud;

	if (strcmp(key, "UUID") == 0 && strcmp(sig, "s") == 0)
		return sd_bus_message_read(m, "v", "s", &g->uuid);
	if (strcmp(key, g->is_char ? "Service" : "Device") == 0 && strcmp(sig, "o") == 0)
		return sd_bus_message_read(m, "v", "o", &g->parent);
	return 0;
}

static int read_gatt_props(struct ble_bridge *b, sd_bus_message *m, const char *path, bool is_char)
{
	struct gatt_props g = { .is_char = is_char };
	int r = for_each_prop(m, gatt_prop, &g);

	if (r >= 0)
		ble_gobj_add(b, path, is_char, g.uuid, g.parent);
	return r;
}

static int adapter_prop(sd_bus_message *m, const char *key, const char *sig, void *ud)
{
	int v, r;

	if (strcmp(key, "Powered") != 0 || strcmp(sig, "b") != 0)
		return 0;
	r = sd_bus_message_read(m, "v", "b", &v);
	*(int *)ud = !!v;
	return r;
}

/* *powered: 1 or 0, or left as it is when the properties do not say. */
static int read_adapter_props(sd_bus_message *m, int *powered)
{
	return for_each_prop(m, adapter_prop, powered);
}

static void adapter_seen(struct ble_bridge *b, const char *path, bool powered)
{
	const char *name = strrchr(path, '/');

	if (b->adapter_path || !name)
		return;
	if (b->adapter_want ? strcmp(name + 1, b->adapter_want) != 0 : !powered)
		return;
	b->adapter_path = strdup(path);
	if (!b->adapter_path)
		return (void)log_oom();
	log_info("BLE bridge %s: using adapter %s%s", b->base.name, path, powered ? "" : " (not powered)");
	start_discovery(b);
	ble_kick_all(b);
}

static int object_iface(sd_bus_message *m, const char *iface, const char *sig, void *ud)
{
	struct object_ctx *o = ud;
	struct ble_bridge *b = o->b;
	int r;

	(void)sig;
	if (strcmp(iface, IFACE_DEVICE) == 0) {
		struct devprops dp = { 0 };
		r = read_device_props(m, &dp);
		if (r >= 0)
			ble_device_changed(b, o->path, &dp);
		return r < 0 ? r : 1;
	}
	if (strcmp(iface, IFACE_SERVICE) == 0 || strcmp(iface, IFACE_CHAR) == 0) {
		r = read_gatt_props(b, m, o->path, strcmp(iface, IFACE_CHAR) == 0);
		return r < 0 ? r : 1;
	}
	if (strcmp(iface, IFACE_ADAPTER) == 0) {
		int powered = 0;
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
static int read_object(struct ble_bridge *b, sd_bus_message *m, const char *path, const char **adapter_found)
{
	struct object_ctx o = { .b = b, .path = path, .adapter_found = adapter_found };

	return for_each_entry(m, "sa{sv}", object_iface, &o);
}

static int on_start_discovery(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_bridge *b = ud;

	(void)e;
	b->s_start = sd_bus_slot_unref(b->s_start);
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *be = sd_bus_message_get_error(m);
		/* InProgress: another client already scans; fine for us. */
		if (!(be && be->name && strcmp(be->name, "org.bluez.Error.InProgress") == 0))
			log_warning("BLE bridge %s: StartDiscovery failed: %s", b->base.name,
				    be && be->message ? be->message : "error");
	} else
		log_info("BLE bridge %s: LE discovery started on %s", b->base.name, b->adapter_path);
	return 0;
}

static int on_filter(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_bridge *b = ud;
	int r;

	(void)e;
	b->s_filter = sd_bus_slot_unref(b->s_filter);
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *be = sd_bus_message_get_error(m);
		log_warning("BLE bridge %s: SetDiscoveryFilter failed: %s", b->base.name,
			    be && be->message ? be->message : "error");
	}
	if (!b->adapter_path)
		return 0;
	r = ble_call_async(b, &b->s_start, b->adapter_path, IFACE_ADAPTER, "StartDiscovery",
			   on_start_discovery, b, b->conf.call_timeout_usec, NULL);
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot start discovery: %m", b->base.name);
	return 0;
}

static void start_discovery(struct ble_bridge *b)
{
	sd_bus_message *m = NULL;
	int r;

	r = ble_call_async(b, NULL, b->adapter_path, IFACE_ADAPTER, "SetDiscoveryFilter", NULL, NULL, 0, &m);
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 2, "Transport", "s", "le", "DuplicateData", "b", 1);
	if (r >= 0)
		r = sd_bus_call_async(b->bus, &b->s_filter, m, on_filter, b, b->conf.call_timeout_usec);
	sd_bus_message_unref(m);
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot set the discovery filter: %m", b->base.name);
}

static bool is_device_path(const char *path)
{
	const char *p = strstr(path, "/dev_");

	return p && !strchr(p + 1, '/');
}

static int on_managed_objects(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_bridge *b = ud;
	const char *adapter = NULL;
	int r;

	(void)e;
	b->s_objects = sd_bus_slot_unref(b->s_objects);
	if (sd_bus_message_is_method_error(m, NULL)) {
		log_warning_errno(ble_reply_errno(m), "BLE bridge %s: GetManagedObjects failed: %m",
				  b->base.name);
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
			log_info("BLE bridge %s: using adapter %s", b->base.name, b->adapter_path);
		}
	}
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot parse BlueZ objects: %m", b->base.name);
	if (!b->adapter_path) {
		if (b->adapter_want)
			log_warning("BLE bridge %s: adapter %s not found; waiting for it", b->base.name,
				    b->adapter_want);
		else
			log_warning("BLE bridge %s: no powered Bluetooth adapter; waiting for one",
				    b->base.name);
		return 0;
	}
	start_discovery(b);
	ble_kick_all(b);
	return 0;
}

/* bluetoothd went away (or is about to be re-read): forget its objects and
 * fail what waited for it. Values and counters of devices stay. */
void ble_bluez_reset(struct ble_bridge *b)
{
	b->s_objects = sd_bus_slot_unref(b->s_objects);
	b->s_filter = sd_bus_slot_unref(b->s_filter);
	b->s_start = sd_bus_slot_unref(b->s_start);
	free(b->adapter_path);
	b->adapter_path = NULL;
	ble_gobj_clear(b);
	for (size_t i = 0; i < b->ndevs; i++) {
		struct ble_dev *d = b->devs[i];
		d->conn_slot = sd_bus_slot_unref(d->conn_slot);
		d->timer = sd_event_source_disable_unref(d->timer);
		d->connected = d->resolved = false;
		ble_points_reset(d);
		ble_dev_set_state(d, G_IDLE);
		d->failures = 0;
		free(d->path);
		d->path = NULL;
		ble_dev_fail_ops(d, -EHOSTUNREACH);
	}
}

static void bluez_appeared(struct ble_bridge *b)
{
	int r;

	ble_bluez_reset(b);
	b->bluez_up = true;
	r = ble_call_async(b, &b->s_objects, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
			   on_managed_objects, b, b->conf.call_timeout_usec, NULL);
	if (r < 0)
		log_warning_errno(r, "BLE bridge %s: cannot call GetManagedObjects: %m", b->base.name);
}

int ble_on_name_owner_changed(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_bridge *b = ud;
	const char *name, *old, *new;

	(void)e;
	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || strcmp(name, BLUEZ) != 0)
		return 0;
	if (*new) {
		log_info("BLE bridge %s: bluetoothd is on the bus (%s)", b->base.name, new);
		bluez_appeared(b);
	} else {
		log_warning("BLE bridge %s: bluetoothd left the bus; waiting for it", b->base.name);
		b->bluez_up = false;
		ble_bluez_reset(b);
	}
	return 0;
}

int ble_on_get_owner(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_bridge *b = ud;

	(void)e;
	b->s_owner = sd_bus_slot_unref(b->s_owner);
	if (sd_bus_message_is_method_error(m, NULL)) {
		log_warning("BLE bridge %s: bluetoothd (org.bluez) is not running; waiting for it",
			    b->base.name);
		return 0;
	}
	if (!b->bluez_up)
		bluez_appeared(b);
	return 0;
}

static int on_interfaces_added(struct ble_bridge *b, sd_bus_message *m)
{
	const char *path;
	int r = sd_bus_message_read(m, "o", &path);

	if (r < 0)
		return r;
	return read_object(b, m, path, NULL);
}

static int on_interfaces_removed(struct ble_bridge *b, sd_bus_message *m)
{
	const char *path, *iface;
	int r = sd_bus_message_read(m, "o", &path);

	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "s");
	while (r >= 0 && (r = sd_bus_message_read(m, "s", &iface)) > 0) {
		if (strcmp(iface, IFACE_ADAPTER) == 0 && b->adapter_path &&
		    strcmp(path, b->adapter_path) == 0) {
			log_warning("BLE bridge %s: adapter %s removed", b->base.name, path);
			ble_bluez_reset(b);
			return 0;
		}
		if (strcmp(iface, IFACE_SERVICE) == 0 || strcmp(iface, IFACE_CHAR) == 0) {
			struct gobj *g = ble_gobj_find(b, path);
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
					if (ble_connected_state(d->gstate))
						ble_gatt_fail(d, -ENODEV, "device object removed");
				}
			}
		}
	}
	return r;
}

static int on_properties_changed(struct ble_bridge *b, sd_bus_message *m)
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
			ble_device_changed(b, path, &dp);
		return r;
	}
	if (strcmp(iface, IFACE_ADAPTER) == 0) {
		int powered = -1;
		r = read_adapter_props(m, &powered);
		if (r < 0 || powered != 1)
			return r;
		if (b->adapter_path && strcmp(path, b->adapter_path) == 0) {
			/* Switched on again (rfkill, hciconfig): a scan ends with power. */
			log_info("BLE bridge %s: adapter %s powered on", b->base.name, path);
			start_discovery(b);
			ble_kick_all(b);
		} else
			adapter_seen(b, path, true);
		return r;
	}
	if (strcmp(iface, IFACE_CHAR) != 0)
		return 0;
	/* A notification: Value of a characteristic some point listens to. */
	struct char_value cv = { .b = b, .path = path };
	return for_each_prop(m, ble_char_value_prop, &cv);
}

int ble_on_signal(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	struct ble_bridge *b = ud;
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
		log_debug_errno(r, "BLE bridge %s: malformed %s signal ignored: %m", b->base.name,
				sd_bus_message_get_member(m) ?: "?");
	return 0;
}
