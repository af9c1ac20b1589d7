/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/ble/source.h — what a BLE profile point reads and writes, and the
 * bridge's own configuration (body and device address), parsed and checked
 * with file:line:col diagnostics. Pure: no I/O; fuzzed (fuzz_ble_source).
 *
 * Profile sources (documented in docs/ble.md and the shipped profiles):
 *   {bthome: temperature [, instance: 1]}   BTHome v2 measurement by name or object id
 *   {ruuvi: humidity}                       RuuviTag format 5 field
 *   {rssi: true}                            the advert's RSSI (dBm)
 *   {manufacturer: 0x0499, prefix: "05", offset: 1, length: 2}
 *   {service_data: fcd2, prefix: "40", offset: 2, length: 2}
 *                                           declarative field (bytes for raw/order/scale)
 *   {service: UUID, characteristic: UUID, mode: read|notify, connection: on_demand|keep}
 * write:   {service: UUID, characteristic: UUID, type: request|command}
 * execute: {service: UUID, characteristic: UUID, value: "01", type: request|command}
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/ble/adv.h"
#include "mappings/mapping.h"

struct schema_ctx;

enum ble_src_kind {
	BLE_SRC_BTHOME = 0,
	BLE_SRC_RUUVI,
	BLE_SRC_RSSI,
	BLE_SRC_ADV, /* declarative manufacturer / service data field */
	BLE_SRC_GATT,
};

enum ble_gatt_mode { BLE_GATT_READ = 0, BLE_GATT_NOTIFY };
enum ble_write_type { BLE_WRITE_REQUEST = 0, BLE_WRITE_COMMAND };

#define BLE_VALUE_MAX 64

struct ble_src {
	uint8_t kind; /* enum ble_src_kind */
	/* BTHOME: by name (object_id < 0) or by object id; the instance-th one. */
	char bthome[24];
	int object_id;
	uint8_t instance;
	int ruuvi_field; /* enum ruuvi_field */
	/* ADV */
	struct ble_adv_match match;
	uint32_t offset, length; /* length 0: the raw type's size (or the rest) */
	/* GATT */
	char service[BLE_UUID_LEN + 1], characteristic[BLE_UUID_LEN + 1];
	uint8_t mode;       /* enum ble_gatt_mode */
	bool keep;          /* stay connected */
	uint8_t write_type; /* enum ble_write_type */
	uint8_t value[BLE_VALUE_MAX];
	size_t value_len;
	bool has_value;
};

extern const struct mapping_source_ops ble_source_ops;
/* `fieldgate profile test` (ble_tester.c). */
struct bridge_tester;
extern const struct bridge_tester ble_tester;

/* Bridge configuration (the body under bridges.<name>). */
struct ble_rule {
	const char *profile;
	uint8_t kind; /* BLE_SRC_BTHOME, BLE_SRC_RUUVI or BLE_SRC_ADV */
	struct ble_adv_match match;
};

struct ble_conf {
	const char *adapter;      /* NULL: the first powered */
	const char *dbus_address; /* NULL: the system bus */
	uint64_t unreachable_usec;
	uint64_t connect_timeout_usec, call_timeout_usec, backoff_max_usec;
	unsigned max_connections;
	unsigned discover_max;
	uint64_t forget_usec; /* a discovered device not heard this long is forgotten */
	/* Encrypted BTHome: a counter that went back is accepted after this
	 * many valid adverts counting up from there (0: never). */
	unsigned bthome_resync;
	struct ble_rule *rules;
	size_t nrules;
};

/* Validate a body (reporting through ctx) and, when conf is not NULL, fill
 * it (strings point into the body; free rules with ble_conf_free). */
int ble_conf_parse(struct schema_ctx *ctx, const struct ynode *body, struct ble_conf *conf);
void ble_conf_free(struct ble_conf *conf);

/* A device address: "AA:BB:CC:DD:EE:FF" or {mac: ..., bindkey: 32 hex digits}. */
struct ble_address {
	uint8_t mac[6];
	bool has_key;
	uint8_t key[16];
};
int ble_address_parse(struct schema_ctx *ctx, const struct ynode *node, struct ble_address *out);
