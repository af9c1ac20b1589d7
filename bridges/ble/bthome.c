/* SPDX-License-Identifier: Apache-2.0 */
/* BTHome v2 decoding; see bthome.h. Object table: facts of the published
 * format (bthome.io/format), id -> name, size, signedness, factor. */
#include "bridges/ble/bthome.h"

#include <errno.h>
#include <string.h>

#include <mbedtls/ccm.h>

enum kind { K_UINT, K_SINT, K_BOOL, K_TEXT, K_RAW, K_TIME, K_EVENT };

struct obj {
	uint8_t id;
	uint8_t size; /* 0: length-prefixed */
	uint8_t kind;
	double factor; /* 0: integer value, not scaled */
	const char *name;
};

static const struct obj objs[] = {
	{ 0x00, 1, K_UINT, 0, "packet_id" },
	{ 0x01, 1, K_UINT, 0, "battery" },
	{ 0x02, 2, K_SINT, 0.01, "temperature" },
	{ 0x03, 2, K_UINT, 0.01, "humidity" },
	{ 0x04, 3, K_UINT, 0.01, "pressure" },
	{ 0x05, 3, K_UINT, 0.01, "illuminance" },
	{ 0x06, 2, K_UINT, 0.01, "mass_kg" },
	{ 0x07, 2, K_UINT, 0.01, "mass_lb" },
	{ 0x08, 2, K_SINT, 0.01, "dewpoint" },
	{ 0x09, 1, K_UINT, 0, "count" },
	{ 0x0a, 3, K_UINT, 0.001, "energy" },
	{ 0x0b, 3, K_UINT, 0.01, "power" },
	{ 0x0c, 2, K_UINT, 0.001, "voltage" },
	{ 0x0d, 2, K_UINT, 0, "pm2_5" },
	{ 0x0e, 2, K_UINT, 0, "pm10" },
	{ 0x0f, 1, K_BOOL, 0, "generic_boolean" },
	{ 0x10, 1, K_BOOL, 0, "power_on" },
	{ 0x11, 1, K_BOOL, 0, "opening" },
	{ 0x12, 2, K_UINT, 0, "co2" },
	{ 0x13, 2, K_UINT, 0, "tvoc" },
	{ 0x14, 2, K_UINT, 0.01, "moisture" },
	{ 0x15, 1, K_BOOL, 0, "battery_low" },
	{ 0x16, 1, K_BOOL, 0, "battery_charging" },
	{ 0x17, 1, K_BOOL, 0, "carbon_monoxide" },
	{ 0x18, 1, K_BOOL, 0, "cold" },
	{ 0x19, 1, K_BOOL, 0, "connectivity" },
	{ 0x1a, 1, K_BOOL, 0, "door" },
	{ 0x1b, 1, K_BOOL, 0, "garage_door" },
	{ 0x1c, 1, K_BOOL, 0, "gas_detected" },
	{ 0x1d, 1, K_BOOL, 0, "heat" },
	{ 0x1e, 1, K_BOOL, 0, "light" },
	{ 0x1f, 1, K_BOOL, 0, "lock" },
	{ 0x20, 1, K_BOOL, 0, "moisture_detected" },
	{ 0x21, 1, K_BOOL, 0, "motion" },
	{ 0x22, 1, K_BOOL, 0, "moving" },
	{ 0x23, 1, K_BOOL, 0, "occupancy" },
	{ 0x24, 1, K_BOOL, 0, "plug" },
	{ 0x25, 1, K_BOOL, 0, "presence" },
	{ 0x26, 1, K_BOOL, 0, "problem" },
	{ 0x27, 1, K_BOOL, 0, "running" },
	{ 0x28, 1, K_BOOL, 0, "safety" },
	{ 0x29, 1, K_BOOL, 0, "smoke" },
	{ 0x2a, 1, K_BOOL, 0, "sound" },
	{ 0x2b, 1, K_BOOL, 0, "tamper" },
	{ 0x2c, 1, K_BOOL, 0, "vibration" },
	{ 0x2d, 1, K_BOOL, 0, "window" },
	{ 0x2e, 1, K_UINT, 0, "humidity" },
	{ 0x2f, 1, K_UINT, 0, "moisture" },
	{ 0x3a, 1, K_EVENT, 0, "button" },
	{ 0x3c, 2, K_EVENT, 0, "dimmer" },
	{ 0x3d, 2, K_UINT, 0, "count" },
	{ 0x3e, 4, K_UINT, 0, "count" },
	{ 0x3f, 2, K_SINT, 0.1, "rotation" },
	{ 0x40, 2, K_UINT, 0, "distance_mm" },
	{ 0x41, 2, K_UINT, 0.1, "distance_m" },
	{ 0x42, 3, K_UINT, 0.001, "duration" },
	{ 0x43, 2, K_UINT, 0.001, "current" },
	{ 0x44, 2, K_UINT, 0.01, "speed" },
	{ 0x45, 2, K_SINT, 0.1, "temperature" },
	{ 0x46, 1, K_UINT, 0.1, "uv_index" },
	{ 0x47, 2, K_UINT, 0.1, "volume" },
	{ 0x48, 2, K_UINT, 0, "volume_ml" },
	{ 0x49, 2, K_UINT, 0.001, "volume_flow_rate" },
	{ 0x4a, 2, K_UINT, 0.1, "voltage" },
	{ 0x4b, 3, K_UINT, 0.001, "gas" },
	{ 0x4c, 4, K_UINT, 0.001, "gas" },
	{ 0x4d, 4, K_UINT, 0.001, "energy" },
	{ 0x4e, 4, K_UINT, 0.001, "volume" },
	{ 0x4f, 4, K_UINT, 0.001, "water" },
	{ 0x50, 4, K_TIME, 0, "timestamp" },
	{ 0x51, 2, K_UINT, 0.001, "acceleration" },
	{ 0x52, 2, K_UINT, 0.001, "gyroscope" },
	{ 0x53, 0, K_TEXT, 0, "text" },
	{ 0x54, 0, K_RAW, 0, "raw" },
	{ 0x55, 4, K_UINT, 0.001, "volume_storage" },
	{ 0x56, 2, K_UINT, 0, "conductivity" },
	{ 0x57, 1, K_SINT, 0, "temperature" },
	{ 0x58, 1, K_SINT, 0.35, "temperature" },
	{ 0x59, 1, K_SINT, 0, "count" },
	{ 0x5a, 2, K_SINT, 0, "count" },
	{ 0x5b, 4, K_SINT, 0, "count" },
	{ 0x5c, 4, K_SINT, 0.01, "power" },
	{ 0x5d, 2, K_SINT, 0.001, "current" },
	{ 0x5e, 2, K_UINT, 0.01, "direction" },
	{ 0x5f, 2, K_UINT, 0.1, "precipitation" },
	{ 0x60, 1, K_UINT, 0, "channel" },
	{ 0x61, 2, K_UINT, 0, "rotational_speed" },
	{ 0x62, 4, K_SINT, 0.000001, "speed" },
	{ 0x63, 4, K_SINT, 0.000001, "acceleration" },
	{ 0x64, 1, K_UINT, 0, "light_level" },
	/* device information */
	{ 0xf0, 2, K_UINT, 0, "device_type" },
	{ 0xf1, 4, K_UINT, 0, "firmware_version" },
	{ 0xf2, 3, K_UINT, 0, "firmware_version" },
};

#define NOBJS (sizeof(objs) / sizeof(objs[0]))

static const struct obj *find_obj(uint8_t id)
{
	/* The table is sorted by id. */
	size_t lo = 0, hi = NOBJS;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (objs[mid].id == id)
			return &objs[mid];
		if (objs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *bthome_name_of(uint8_t id)
{
	const struct obj *o = find_obj(id);

	return o ? o->name : NULL;
}

static const char *const names[] = {
	"packet_id",
	"battery",
	"temperature",
	"humidity",
	"pressure",
	"illuminance",
	"mass_kg",
	"mass_lb",
	"dewpoint",
	"count",
	"energy",
	"power",
	"voltage",
	"pm2_5",
	"pm10",
	"generic_boolean",
	"power_on",
	"opening",
	"co2",
	"tvoc",
	"moisture",
	"battery_low",
	"battery_charging",
	"carbon_monoxide",
	"cold",
	"connectivity",
	"door",
	"garage_door",
	"gas_detected",
	"heat",
	"light",
	"lock",
	"moisture_detected",
	"motion",
	"moving",
	"occupancy",
	"plug",
	"presence",
	"problem",
	"running",
	"safety",
	"smoke",
	"sound",
	"tamper",
	"vibration",
	"window",
	"button",
	"dimmer",
	"rotation",
	"distance_mm",
	"distance_m",
	"duration",
	"current",
	"speed",
	"uv_index",
	"volume",
	"volume_ml",
	"volume_flow_rate",
	"gas",
	"water",
	"timestamp",
	"acceleration",
	"gyroscope",
	"text",
	"raw",
	"volume_storage",
	"conductivity",
	"direction",
	"precipitation",
	"channel",
	"rotational_speed",
	"light_level",
	"device_type",
	"firmware_version",
	NULL,
};

const char *const *bthome_names(void)
{
	return names;
}

bool bthome_name_known(const char *name)
{
	for (size_t i = 0; names[i]; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static void nonce_of(uint8_t nonce[13], const uint8_t *mac, uint8_t info, const uint8_t ctr[4])
{
	memcpy(nonce, mac, 6);
	nonce[6] = 0xd2;
	nonce[7] = 0xfc;
	nonce[8] = info;
	memcpy(nonce + 9, ctr, 4);
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static int parse_objects(const uint8_t *p, size_t len, struct bthome_adv *out)
{
	size_t i = 0;

	while (i < len) {
		const struct obj *o = find_obj(p[i]);
		struct bthome_value *v;
		size_t size;

		if (!o)
			return -EBADMSG; /* unknown size: cannot frame the rest */
		i++;
		if (o->size == 0) {
			if (i >= len)
				return -EBADMSG;
			size = p[i++];
		} else
			size = o->size;
		if (size > len - i)
			return -EBADMSG;
		if (o->id == 0x00) {
			out->has_packet_id = true;
			out->packet_id = p[i];
		}
		if (out->n >= BTHOME_MAX_VALUES)
			return -E2BIG;
		v = &out->v[out->n];
		v->id = o->id;
		v->name = o->name;
		v->instance = 0;
		for (size_t k = 0; k < out->n; k++)
			if (strcmp(out->v[k].name, o->name) == 0)
				v->instance++;
		switch (o->kind) {
		case K_TEXT:
			v->v = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING };
			v->v.bytes.ptr = p + i;
			v->v.bytes.len = size;
			break;
		case K_RAW:
			v->v = (struct lwm2m_value){ .type = LWM2M_TYPE_OPAQUE };
			v->v.bytes.ptr = p + i;
			v->v.bytes.len = size;
			break;
		case K_BOOL:
			v->v = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = p[i] != 0 };
			break;
		case K_SINT: {
			uint64_t u = get_le(p + i, size);
			int64_t s = (int64_t)(u << (64 - 8 * size)) >> (64 - 8 * size);
			if (o->factor != 0)
				v->v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT,
							     .f = (double)s * o->factor };
			else
				v->v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = s };
			break;
		}
		default: {
			uint64_t u = get_le(p + i, size);
			if (o->factor != 0)
				v->v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT,
							     .f = (double)u * o->factor };
			else
				v->v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = (int64_t)u };
			break;
		}
		}
		out->n++;
		i += size;
	}
	return 0;
}

int bthome_decode(const uint8_t *sd, size_t len, const uint8_t *mac, const uint8_t *key,
		  struct bthome_adv *out)
{
	size_t plen;

	out->n = 0;
	out->has_packet_id = false;
	out->counter = 0;
	if (len < 1)
		return -EBADMSG;
	out->info = sd[0];
	out->encrypted = sd[0] & 1;
	if ((sd[0] >> 5) != 2)
		return -EPROTONOSUPPORT;
	if (!out->encrypted) {
		plen = len - 1;
		if (plen > sizeof(out->plain))
			return -EBADMSG;
		memcpy(out->plain, sd + 1, plen);
	} else {
		mbedtls_ccm_context ccm;
		uint8_t nonce[13];
		int r;

		if (!key || !mac)
			return -ENOKEY;
		if (len < 1 + 4 + 4)
			return -EBADMSG;
		plen = len - 9;
		if (plen > sizeof(out->plain))
			return -EBADMSG;
		nonce_of(nonce, mac, sd[0], sd + 1 + plen);
		out->counter = (uint32_t)get_le(sd + 1 + plen, 4);
		mbedtls_ccm_init(&ccm);
		r = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 128);
		if (r == 0)
			r = mbedtls_ccm_auth_decrypt(&ccm, plen, nonce, sizeof(nonce), NULL, 0, sd + 1,
						     out->plain, sd + 1 + plen + 4, 4);
		mbedtls_ccm_free(&ccm);
		if (r != 0) {
			memset(out->plain, 0, sizeof(out->plain));
			return r == MBEDTLS_ERR_CCM_AUTH_FAILED ? -EKEYREJECTED : -EIO;
		}
	}
	return parse_objects(out->plain, plen, out);
}

int bthome_encrypt(const uint8_t *objects, size_t len, uint8_t info, uint32_t counter, const uint8_t *mac,
		   const uint8_t *key, uint8_t *out, size_t cap, size_t *out_len)
{
	mbedtls_ccm_context ccm;
	uint8_t nonce[13], ctr[4];
	int r;

	if (cap < len + 9)
		return -ENOBUFS;
	for (int i = 0; i < 4; i++)
		ctr[i] = (uint8_t)(counter >> (8 * i));
	nonce_of(nonce, mac, info, ctr);
	out[0] = info;
	mbedtls_ccm_init(&ccm);
	r = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 128);
	if (r == 0)
		r = mbedtls_ccm_encrypt_and_tag(&ccm, len, nonce, sizeof(nonce), NULL, 0, objects, out + 1,
						out + 1 + len + 4, 4);
	mbedtls_ccm_free(&ccm);
	if (r != 0)
		return -EIO;
	memcpy(out + 1 + len, ctr, 4);
	*out_len = len + 9;
	return 0;
}
