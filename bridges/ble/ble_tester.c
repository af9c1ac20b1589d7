/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `fieldgate profile test` for BLE profiles (bridge_tester): a captured
 * advertisement (--ble-advert HEX: its AD structures, length, type, data,
 * as btmon or hcidump show them) decoded by each point's source as the
 * bridge decodes BlueZ's ServiceData and ManufacturerData: BTHome v2 (plain;
 * an encrypted one needs the device's key, which a test does not take),
 * RuuviTag format 5, declarative fields. What is not in an advert's
 * bytes is captured on its own: a GATT characteristic's value as read or
 * notified (--ble-gatt UUID=HEX, given to the point as the bridge gives
 * BlueZ's bytes) and the signal strength (--ble-rssi DBM).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/ble/bthome.h"
#include "bridges/ble/ruuvi.h"
#include "bridges/ble/source.h"
#include "bridges/bridge.h"

#define MAX_AD   32
#define MAX_GATT 16

struct ad {
	bool service; /* service data, else manufacturer data */
	char uuid[BLE_UUID_LEN + 1];
	uint16_t company;
	const uint8_t *data;
	size_t len;
};

struct bridge_capture {
	uint8_t raw[256];
	size_t len;
	struct ad ad[MAX_AD];
	size_t n;
	struct bthome_adv bthome; /* samples point into it */
	struct {
		char uuid[BLE_UUID_LEN + 1];
		uint8_t data[512]; /* an attribute value's largest size */
		size_t len;
	} gatt[MAX_GATT];
	size_t ngatt;
	bool has_rssi;
	int rssi;
};

static const struct bridge_tester_opt opts[] = {
	{ "--ble-advert", 1, "HEX",
	  "an advertisement's AD structures (length, type, data), e.g. 0a16d2fc40..." },
	{ "--ble-gatt", 1, "UUID=HEX", "a GATT characteristic's value as read or notified, e.g. 2a6e=3408" },
	{ "--ble-rssi", 1, "DBM", "the signal strength the adapter reported, e.g. -67" },
	{ NULL, 0, NULL, NULL },
};

static int capture_gatt(struct bridge_capture *c, const char *arg, char *why, size_t why_size)
{
	const char *eq = strchr(arg, '=');
	char uuid[BLE_UUID_LEN + 1];
	size_t k = 0;
	int n;

	if (!eq || (size_t)(eq - arg) > BLE_UUID_LEN) {
		snprintf(why, why_size, "'%s': expected UUID=HEX, e.g. 2a6e=3408", arg);
		return -EINVAL;
	}
	snprintf(uuid, sizeof(uuid), "%.*s", (int)(eq - arg), arg);
	while (k < c->ngatt && strcmp(c->gatt[k].uuid, uuid) != 0)
		k++;
	if (k == MAX_GATT) {
		snprintf(why, why_size, "at most %d characteristics", MAX_GATT);
		return -E2BIG;
	}
	if (ble_uuid_normalize(uuid, c->gatt[k].uuid) < 0) {
		snprintf(why, why_size,
			 "'%.*s' is not a UUID (16-bit like 2a6e, 32-bit, or 128-bit with dashes)",
			 (int)(eq - arg), arg);
		return -EINVAL;
	}
	/* A value may be empty: "2a6e=" is a characteristic of no bytes. */
	n = eq[1] ? ble_hex_parse(eq + 1, c->gatt[k].data, sizeof(c->gatt[k].data)) : 0;
	if (n < 0) {
		snprintf(why, why_size, "'%s': expected hex bytes after '=' (at most %zu)", arg,
			 sizeof(c->gatt[k].data));
		return -EINVAL;
	}
	c->gatt[k].len = (size_t)n;
	if (k == c->ngatt)
		c->ngatt++;
	return 0;
}

static int capture(struct bridge_capture **cap, const char *opt, char *const *args, char *why,
		   size_t why_size)
{
	struct bridge_capture *c = *cap;
	char *end;
	long v;
	int n;

	if (!c && !(c = *cap = calloc(1, sizeof(*c))))
		return -ENOMEM;
	if (strcmp(opt, "--ble-gatt") == 0)
		return capture_gatt(c, args[0], why, why_size);
	if (strcmp(opt, "--ble-rssi") == 0) {
		v = strtol(args[0], &end, 10);
		if (end == args[0] || *end || v < -128 || v > 20) {
			snprintf(why, why_size, "'%s': expected dBm, an integer from -128 to 20", args[0]);
			return -EINVAL;
		}
		c->rssi = (int)v;
		c->has_rssi = true;
		return 0;
	}
	n = ble_hex_parse(args[0], c->raw, sizeof(c->raw));
	if (n <= 0) {
		snprintf(why, why_size, "'%s': expected hex bytes (at most %zu)", args[0], sizeof(c->raw));
		return -EINVAL;
	}
	c->len = (size_t)n;
	c->n = 0;
	for (size_t i = 0; i < c->len;) {
		size_t l = c->raw[i];
		const uint8_t *d = &c->raw[i + 2];
		uint8_t type;
		if (l == 0)
			break;
		if (i + 1 + l > c->len || c->n >= MAX_AD) {
			snprintf(why, why_size, "'%s': an AD structure at byte %zu runs past the end",
				 args[0], i);
			return -EINVAL;
		}
		type = c->raw[i + 1];
		l--; /* the type byte */
		struct ad *a = &c->ad[c->n];
		if (type == 0x16 && l >= 2) { /* service data, 16-bit UUID (little endian) */
			char u[8];
			snprintf(u, sizeof(u), "%02x%02x", d[1], d[0]);
			*a = (struct ad){ .service = true, .data = d + 2, .len = l - 2 };
			(void)ble_uuid_normalize(u, a->uuid);
			c->n++;
		} else if (type == 0x20 && l >= 4) { /* 32-bit UUID */
			char u[12];
			snprintf(u, sizeof(u), "%02x%02x%02x%02x", d[3], d[2], d[1], d[0]);
			*a = (struct ad){ .service = true, .data = d + 4, .len = l - 4 };
			(void)ble_uuid_normalize(u, a->uuid);
			c->n++;
		} else if (type == 0x21 && l >= 16) { /* 128-bit UUID, little endian */
			static const int at[16] = { 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 };
			char u[40];
			size_t o = 0;
			for (int k = 0; k < 16; k++)
				o += (size_t)snprintf(u + o, sizeof(u) - o, "%s%02x",
						      k == 4 || k == 6 || k == 8 || k == 10 ? "-" : "",
						      d[at[k]]);
			*a = (struct ad){ .service = true, .data = d + 16, .len = l - 16 };
			(void)ble_uuid_normalize(u, a->uuid);
			c->n++;
		} else if (type == 0xff && l >= 2) { /* manufacturer data: company (little endian), data */
			*a = (struct ad){ .company = (uint16_t)(d[0] | d[1] << 8),
					  .data = d + 2,
					  .len = l - 2 };
			c->n++;
		}
		i += 1 + l + 1;
	}
	return 0;
}

static void capture_free(struct bridge_capture *c)
{
	free(c);
}

static int sample(struct bridge_capture *c, const struct mapping_point *pt, const char *address,
		  struct mapping_sample *out, uint64_t *time_usec, char *why, size_t why_size)
{
	const struct ble_src *s = pt->source;
	uint8_t mac[6];
	bool has_mac = address && ble_mac_parse(address, mac) == 0;

	*time_usec = 0;
	if (s && s->kind == BLE_SRC_GATT) {
		char want[BLE_UUID_LEN + 1];
		(void)ble_uuid_normalize(s->characteristic, want);
		for (size_t i = 0; c && i < c->ngatt; i++)
			if (strcmp(c->gatt[i].uuid, want) == 0) {
				*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES,
								.bytes = c->gatt[i].data,
								.len = c->gatt[i].len };
				return 0;
			}
		snprintf(why, why_size, "no --ble-gatt %s=...", s->characteristic);
		return -ENOENT;
	}
	if (s && s->kind == BLE_SRC_RSSI) {
		if (!c || !c->has_rssi) {
			snprintf(why, why_size, "no --ble-rssi");
			return -ENOENT;
		}
		*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						.value = { .type = LWM2M_TYPE_INTEGER, .i = c->rssi } };
		return 0;
	}
	if (!s || !c || !c->len) {
		snprintf(why, why_size, "no --ble-advert");
		return -ENOENT;
	}
	switch (s->kind) {
	case BLE_SRC_BTHOME:
		for (size_t i = 0; i < c->n; i++) {
			unsigned seen = 0;
			int r;
			if (!c->ad[i].service || strcmp(c->ad[i].uuid, BTHOME_UUID) != 0)
				continue;
			r = bthome_decode(c->ad[i].data, c->ad[i].len, has_mac ? mac : NULL, NULL,
					  &c->bthome);
			if (r < 0) {
				snprintf(why, why_size, "%s",
					 r == -ENOKEY ? "an encrypted BTHome advert (the test takes no key)"
						      : "the BTHome service data does not decode");
				return r == -ENOKEY ? -ENOENT : r;
			}
			for (size_t k = 0; k < c->bthome.n; k++) {
				bool match = s->object_id >= 0 ? c->bthome.v[k].id == s->object_id
							       : strcmp(c->bthome.v[k].name, s->bthome) == 0;
				if (match && seen++ == s->instance) {
					*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
									.value = c->bthome.v[k].v };
					return 0;
				}
			}
			snprintf(why, why_size, "the BTHome advert has no %s",
				 s->bthome[0] ? s->bthome : "such object");
			return -ENOENT;
		}
		snprintf(why, why_size, "no BTHome service data (fcd2) in the advert");
		return -ENOENT;
	case BLE_SRC_RUUVI:
		for (size_t i = 0; i < c->n; i++) {
			struct ruuvi5 r;
			if (c->ad[i].service || c->ad[i].company != RUUVI_COMPANY_ID)
				continue;
			if (ruuvi_decode5(c->ad[i].data, c->ad[i].len, &r) < 0) {
				snprintf(why, why_size, "the Ruuvi manufacturer data is not format 5");
				return -EBADMSG;
			}
			if (!r.valid[s->ruuvi_field]) {
				snprintf(why, why_size, "the tag says %s is not available",
					 ruuvi_field_name((enum ruuvi_field)s->ruuvi_field));
				return -ENOENT;
			}
			*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
							.value = { .type = LWM2M_TYPE_FLOAT,
								   .f = r.value[s->ruuvi_field] } };
			return 0;
		}
		snprintf(why, why_size, "no Ruuvi manufacturer data (0x0499) in the advert");
		return -ENOENT;
	case BLE_SRC_ADV:
		for (size_t i = 0; i < c->n; i++) {
			const struct ad *a = &c->ad[i];
			if (a->service != s->match.by_service ||
			    (a->service ? strcmp(a->uuid, s->match.uuid) != 0
					: a->company != s->match.company))
				continue;
			if (ble_adv_field(&s->match, a->data, a->len, s->offset,
					  s->length ? s->length
						    : (uint32_t)mapping_raw_size(pt->xf.raw, pt->xf.width),
					  out) == 0)
				return 0;
		}
		snprintf(why, why_size, "no matching %s in the advert",
			 s->match.by_service ? "service data" : "manufacturer data");
		return -ENOENT;
	default:
		snprintf(why, why_size, "a source no advert carries");
		return -ENOENT;
	}
}

static int describe(struct bridge_capture *c, const struct mapping_point *pt, const char *address,
		    const struct mapping_sample *v, const char *args, char *buf, size_t size)
{
	const struct ble_src *s = v ? pt->write : pt->execute;
	size_t o = 0, n;
	const uint8_t *bytes;

	(void)c;
	(void)address;
	if (!s) {
		snprintf(buf, size, "nothing: the point has no %s", v ? "write" : "execute");
		return -EPERM;
	}
	if (v) {
		bytes = v->kind == MAPPING_SAMPLE_BYTES ? v->bytes : v->value.bytes.ptr;
		n = v->kind == MAPPING_SAMPLE_BYTES ? v->len : v->value.bytes.len;
	} else if (s->has_value) {
		bytes = s->value;
		n = s->value_len;
	} else {
		bytes = (const uint8_t *)(args ? args : "");
		n = args ? strlen(args) : 0;
	}
	o += (size_t)snprintf(
		buf, size, "WriteValue on characteristic %s of service %s (%s):", s->characteristic,
		s->service, s->write_type == BLE_WRITE_COMMAND ? "without response" : "request");
	for (size_t i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, " %02x", bytes[i]);
	return 0;
}

const struct bridge_tester ble_tester = {
	.opts = opts,
	.capture = capture,
	.capture_free = capture_free,
	.sample = sample,
	.describe = describe,
};
