/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/ble/adv.h — the declarative advertisement decoder of profiles:
 * match manufacturer data by company id (or service data by UUID) and a
 * byte prefix, then cut a field by offset and length. The bytes go to the
 * mapping engine as a BYTES sample, so the profile's own raw/order/scale/
 * offset/enum keys give the type, endianness and scaling. Also the UUID
 * and hex helpers the BLE source parser shares. Pure; fuzzed (fuzz_ble_adv).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mappings/mapping.h"

#define BLE_UUID_LEN   36 /* "0000fcd2-0000-1000-8000-00805f9b34fb" */
#define BLE_PREFIX_MAX 16

struct ble_adv_match {
	bool by_service; /* service data (uuid) instead of manufacturer data (company) */
	uint16_t company;
	char uuid[BLE_UUID_LEN + 1]; /* lowercase 128-bit form */
	uint8_t prefix[BLE_PREFIX_MAX];
	size_t prefix_len;
};

/* True when the data (manufacturer data without the company id, or service
 * data) starts with the prefix. The company/UUID is compared by the caller. */
bool ble_adv_prefix_ok(const struct ble_adv_match *m, const uint8_t *data, size_t len);

/* The field [offset, offset+length) of data as a BYTES sample pointing into
 * data; length 0: to the end. -ENOMSG when the prefix does not match,
 * -EBADMSG when the data is too short. */
int ble_adv_field(const struct ble_adv_match *m, const uint8_t *data, size_t len, uint32_t offset,
		  uint32_t length, struct mapping_sample *out);

/* "fcd2", "0xFCD2", "0000FCD2" (16/32-bit, expanded on the Bluetooth base
 * UUID) or a 128-bit UUID -> lowercase 128-bit text. -EINVAL. */
int ble_uuid_normalize(const char *in, char out[BLE_UUID_LEN + 1]);

/* Hex text (pairs, optional "0x", blanks and ':' between bytes allowed) ->
 * bytes. Returns the byte count, -EINVAL (not hex) or -E2BIG (> cap). */
int ble_hex_parse(const char *s, uint8_t *out, size_t cap);

/* "AA:BB:CC:DD:EE:FF" (either case) -> 6 bytes, most significant first. */
int ble_mac_parse(const char *s, uint8_t mac[6]);
/* The MAC of a BlueZ device object path ".../dev_AA_BB_CC_DD_EE_FF". */
int ble_mac_from_path(const char *path, uint8_t mac[6]);
void ble_mac_format(const uint8_t mac[6], char out[18]);
