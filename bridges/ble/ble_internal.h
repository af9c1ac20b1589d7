/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/ble/ble_internal.h — what the parts of the BLE bridge share
 * (private to bridges/ble/):
 *   ble.c          the bridge operations, devices and points, the 1 s tick
 *   ble_bluez.c    the BlueZ client: objects, signals, adapter, discovery
 *   ble_adverts.c  Device1 changes: adverts into samples, auto-discovery
 *   ble_gatt.c     GATT connections and operations
 * Everything runs on the sd-event loop's thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "bridges/ble/ble.h"
#include "bridges/ble/source.h"

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

struct ble_dev;

struct ble_point {
	struct ble_dev *d;
	struct lwm2m_path path;
	const struct mapping_point *pt;
	struct bridge_handle *h; /* what its samples go back with */
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
	struct ble_bridge *b;
	char *name;
	struct ble_address addr;
	char macs[18];
	bool discovered;
	struct ble_point **pts;
	size_t npts;
	size_t nactions; /* points with only a write or an execute (no ble_point) */
	bool has_gatt, keep, has_adv;

	/* adverts */
	uint64_t last_heard; /* CLOCK_MONOTONIC usec */
	bool unreachable;
	int last_packet_id;
	bool have_counter;
	uint32_t last_counter;
	uint32_t resync_counter; /* the last of a run counting up below last_counter */
	unsigned resync_run;     /* valid adverts in that run */
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

struct ble_bridge {
	struct bridge base; /* first: the core allocates bridge_kind_ble.size */
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
	uint8_t refused[64][6]; /* MACs the core refused to create (logged once) */
	size_t nrefused;
	struct gobj *g;
	size_t ng;
};

_Static_assert(offsetof(struct ble_bridge, base) == 0, "struct bridge comes first");
#define BLE(b) bridge_container(b, struct ble_bridge)

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

/* A characteristic's Value changed (PropertiesChanged): notifications. */
struct char_value {
	struct ble_bridge *b;
	const char *path;
};

/* ble.c */
uint64_t ble_now_usec(void);
struct ble_dev *ble_dev_by_name(struct ble_bridge *b, const char *name);
struct ble_dev *ble_dev_by_mac(struct ble_bridge *b, const uint8_t mac[6]);
void ble_op_finish(struct ble_op *op, int err, const struct mapping_sample *s);
void ble_dev_fail_ops(struct ble_dev *d, int err);
bool ble_connected_state(uint8_t s);
void ble_dev_set_state(struct ble_dev *d, uint8_t s);
void ble_dev_presence(struct ble_dev *d, int err);
struct ble_dev *ble_dev_free(struct ble_dev *d);

/* ble_adverts.c */
void ble_sample(struct ble_dev *d, const struct ble_point *p, const struct mapping_sample *s);
void ble_device_changed(struct ble_bridge *b, const char *path, const struct devprops *dp);

/* ble_gatt.c */
struct gobj *ble_gobj_find(struct ble_bridge *b, const char *path);
const char *ble_char_path(struct ble_bridge *b, const struct ble_dev *d, const struct ble_src *s);
void ble_send_disconnect(struct ble_dev *d);
void ble_points_reset(struct ble_dev *d);
void ble_gatt_fail(struct ble_dev *d, int err, const char *what);
void ble_queue_op(struct ble_dev *d, struct ble_op *op, bool front);
void ble_gatt_ready(struct ble_dev *d);
void ble_dev_kick(struct ble_dev *d);
void ble_kick_all(struct ble_bridge *b);
void ble_gobj_add(struct ble_bridge *b, const char *path, bool is_char, const char *uuid, const char *parent);
void ble_gobj_clear(struct ble_bridge *b);
int ble_char_value_prop(sd_bus_message *m, const char *key, const char *sig, void *ud);

/* ble_bluez.c */
int ble_call_async(struct ble_bridge *b, sd_bus_slot **slot, const char *path, const char *iface,
		   const char *member, sd_bus_message_handler_t cb, void *ud, uint64_t usec,
		   sd_bus_message **out_m);
int ble_reply_errno(sd_bus_message *m);
int ble_read_bytes_variant(sd_bus_message *m, const void **data, size_t *len);
void ble_bluez_reset(struct ble_bridge *b);
int ble_on_name_owner_changed(sd_bus_message *m, void *ud, sd_bus_error *e);
int ble_on_get_owner(sd_bus_message *m, void *ud, sd_bus_error *e);
int ble_on_signal(sd_bus_message *m, void *ud, sd_bus_error *e);
