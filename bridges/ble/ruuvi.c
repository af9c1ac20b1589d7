/* SPDX-License-Identifier: Apache-2.0 */
/* RuuviTag data format 5; see ruuvi.h. Offsets and the "invalid" markers
 * are facts of Ruuvi's published format description. */
#include "bridges/ble/ruuvi.h"

#include <errno.h>
#include <string.h>

static const char *const field_names[RUUVI__MAX] = {
	"temperature",    "humidity",        "pressure", "acceleration_x",   "acceleration_y",
	"acceleration_z", "battery_voltage", "tx_power", "movement_counter", "measurement_sequence",
};

const char *ruuvi_field_name(enum ruuvi_field f)
{
	return (unsigned)f < RUUVI__MAX ? field_names[f] : NULL;
}

int ruuvi_field_of(const char *name)
{
	for (int i = 0; i < RUUVI__MAX; i++)
		if (strcmp(field_names[i], name) == 0)
			return i;
	return -ENOENT;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void set(struct ruuvi5 *out, enum ruuvi_field f, bool valid, double v)
{
	out->valid[f] = valid;
	out->value[f] = valid ? v : 0;
}

int ruuvi_decode5(const uint8_t *p, size_t len, struct ruuvi5 *out)
{
	uint16_t power;
	int16_t s;

	memset(out, 0, sizeof(*out));
	if (len < 1 || p[0] != 5)
		return -EPROTONOSUPPORT;
	if (len < 24)
		return -EBADMSG;
	s = (int16_t)be16(p + 1);
	set(out, RUUVI_TEMPERATURE, be16(p + 1) != 0x8000, s * 0.005);
	set(out, RUUVI_HUMIDITY, be16(p + 3) != 0xffff, be16(p + 3) * 0.0025);
	set(out, RUUVI_PRESSURE, be16(p + 5) != 0xffff, be16(p + 5) + 50000.0);
	for (int i = 0; i < 3; i++) {
		uint16_t u = be16(p + 7 + 2 * i);
		set(out, RUUVI_ACCEL_X + i, u != 0x8000, (int16_t)u / 1000.0);
	}
	power = be16(p + 13);
	set(out, RUUVI_BATTERY_VOLTAGE, (power >> 5) != 0x7ff, ((power >> 5) + 1600) / 1000.0);
	set(out, RUUVI_TX_POWER, (power & 0x1f) != 0x1f, (power & 0x1f) * 2.0 - 40);
	set(out, RUUVI_MOVEMENT_COUNTER, p[15] != 0xff, p[15]);
	set(out, RUUVI_MEASUREMENT_SEQUENCE, be16(p + 16) != 0xffff, be16(p + 16));
	memcpy(out->mac, p + 18, 6);
	return 0;
}
