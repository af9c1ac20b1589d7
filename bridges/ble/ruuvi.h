/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/ble/ruuvi.h — RuuviTag data format 5 ("RAWv2"): manufacturer data
 * of company 0x0499 (Ruuvi Innovations), 24 bytes starting with 0x05, big
 * endian. Fields the tag marks "not available" (0x8000, 0xFFFF...) are
 * reported as absent, never as numbers. Pure; fuzzed (fuzz_ruuvi).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUUVI_COMPANY_ID 0x0499

enum ruuvi_field {
	RUUVI_TEMPERATURE = 0, /* °C */
	RUUVI_HUMIDITY,        /* %RH */
	RUUVI_PRESSURE,        /* Pa */
	RUUVI_ACCEL_X,         /* g */
	RUUVI_ACCEL_Y,
	RUUVI_ACCEL_Z,
	RUUVI_BATTERY_VOLTAGE, /* V */
	RUUVI_TX_POWER,        /* dBm */
	RUUVI_MOVEMENT_COUNTER,
	RUUVI_MEASUREMENT_SEQUENCE,
	RUUVI__MAX,
};

struct ruuvi5 {
	bool valid[RUUVI__MAX];
	double value[RUUVI__MAX];
	uint8_t mac[6];
};

/* Decode manufacturer data (company id already removed, as BlueZ gives it).
 * Returns 0, -EPROTONOSUPPORT (not format 5), -EBADMSG (too short). */
int ruuvi_decode5(const uint8_t *p, size_t len, struct ruuvi5 *out);

/* "temperature", "humidity", "pressure", "acceleration_x"...; NULL out of range. */
const char *ruuvi_field_name(enum ruuvi_field f);
/* The field of a name, -ENOENT if none. */
int ruuvi_field_of(const char *name);
