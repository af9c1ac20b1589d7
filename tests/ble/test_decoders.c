/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BLE bridge's pure parts with vectors: BTHome v2 (the format page's
 * examples, the encryption page's example, our own), RuuviTag format 5 (the
 * documented valid / maximum / minimum / invalid vectors), the declarative
 * field decoder through the mapping transforms, and the profile source,
 * body and address parsers with their messages.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridges/ble/adv.h"
#include "bridges/ble/bthome.h"
#include "bridges/ble/ruuvi.h"
#include "bridges/ble/source.h"
#include "common/schema.h"

static size_t hex(const char *s, uint8_t *out, size_t cap)
{
	int n = ble_hex_parse(s, out, cap);

	assert_true(n >= 0);
	return (size_t)n;
}

static const struct bthome_value *find(const struct bthome_adv *a, const char *name, unsigned inst)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, name) == 0 && a->v[i].instance == inst)
			return &a->v[i];
	return NULL;
}

#define assert_float(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* ---- BTHome ----------------------------------------------------------------------------------- */

static void bthome_plain(void **state)
{
	uint8_t sd[64];
	struct bthome_adv a;
	size_t n;

	(void)state;
	/* The format page's example: temperature 25.06 °C, humidity 50.55 %. */
	n = hex("40 02CA09 03BF13", sd, sizeof(sd));
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), 0);
	assert_false(a.encrypted);
	assert_int_equal(a.n, 2);
	assert_int_equal(find(&a, "temperature", 0)->v.type, LWM2M_TYPE_FLOAT);
	assert_float(find(&a, "temperature", 0)->v.f, 25.06);
	assert_float(find(&a, "humidity", 0)->v.f, 50.55);

	/* Object table examples, one advert: packet id, battery, pressure,
	 * illuminance, voltage, count (uint32), rotation, temperature 0.1,
	 * signed count, signed current, energy uint32, text, raw, a binary
	 * sensor and a button event. */
	n = hex("44 0009 0161 04138A01 05138A14 0C020C 3E2A2C0960 3F020C 451101 5AEAEA 5D02EA 4D12138A14"
		" 530C48656C6C6F20576F726C6421 5402ABCD 2101 3A01",
		sd, sizeof(sd));
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), 0);
	assert_true(a.has_packet_id);
	assert_int_equal(a.packet_id, 9);
	assert_int_equal(find(&a, "battery", 0)->v.i, 97);
	assert_float(find(&a, "pressure", 0)->v.f, 1008.83);
	assert_float(find(&a, "illuminance", 0)->v.f, 13460.67);
	assert_float(find(&a, "voltage", 0)->v.f, 3.074);
	assert_int_equal(find(&a, "count", 0)->v.i, 1611213866);
	assert_int_equal(find(&a, "count", 1)->v.i, -5398); /* 0x5A, second "count" */
	assert_float(find(&a, "rotation", 0)->v.f, 307.4);
	assert_float(find(&a, "temperature", 0)->v.f, 27.3);
	assert_float(find(&a, "current", 0)->v.f, -5.63);
	assert_float(find(&a, "energy", 0)->v.f, 344593.170);
	assert_int_equal(find(&a, "text", 0)->v.type, LWM2M_TYPE_STRING);
	assert_int_equal(find(&a, "text", 0)->v.bytes.len, 12);
	assert_memory_equal(find(&a, "text", 0)->v.bytes.ptr, "Hello World!", 12);
	assert_int_equal(find(&a, "raw", 0)->v.type, LWM2M_TYPE_OPAQUE);
	assert_int_equal(find(&a, "raw", 0)->v.bytes.len, 2);
	assert_int_equal(find(&a, "motion", 0)->v.type, LWM2M_TYPE_BOOLEAN);
	assert_true(find(&a, "motion", 0)->v.b);
	assert_int_equal(find(&a, "button", 0)->v.i, 1);

	/* Multiple instances of one measurement keep their order. */
	n = hex("40 02C409 02E803 020080", sd, sizeof(sd));
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), 0);
	assert_float(find(&a, "temperature", 0)->v.f, 25.0);
	assert_float(find(&a, "temperature", 1)->v.f, 10.0);
	assert_float(find(&a, "temperature", 2)->v.f, -327.68);
	assert_null(find(&a, "temperature", 3));
}

static void bthome_errors(void **state)
{
	uint8_t sd[64];
	struct bthome_adv a;
	size_t n;

	(void)state;
	n = hex("40 02CA", sd, sizeof(sd)); /* truncated value */
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), -EBADMSG);
	n = hex("40 FE00", sd, sizeof(sd)); /* unknown object id */
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), -EBADMSG);
	n = hex("20 02CA09", sd, sizeof(sd)); /* version 1 bits */
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), -EPROTONOSUPPORT);
	n = hex("40 53", sd, sizeof(sd)); /* text without its length */
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), -EBADMSG);
	n = hex("40 5305414243", sd, sizeof(sd)); /* text length beyond the data */
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), -EBADMSG);
	assert_int_equal(bthome_decode(sd, 0, NULL, NULL, &a), -EBADMSG);
	n = hex("40", sd, sizeof(sd)); /* no objects: fine, nothing */
	assert_int_equal(bthome_decode(sd, n, NULL, NULL, &a), 0);
	assert_int_equal(a.n, 0);
}

static void bthome_encrypted(void **state)
{
	uint8_t sd[64], key[16], mac[6], out[64];
	struct bthome_adv a;
	size_t n, m;

	(void)state;
	hex("231d39c1d7cc1ab1aee224cd096db932", key, sizeof(key));
	hex("5448E68F80A5", mac, sizeof(mac));
	/* The encryption page's example: 02CA09 03BF13, info 0x41, counter
	 * bytes 00112233 -> service data below (computed independently with
	 * Python's cryptography AESCCM as well). */
	n = hex("41a47266c95f730011223378237214", sd, sizeof(sd));
	assert_int_equal(bthome_decode(sd, n, mac, key, &a), 0);
	assert_true(a.encrypted);
	assert_int_equal(a.counter, 0x33221100);
	assert_int_equal(a.n, 2);
	assert_float(find(&a, "temperature", 0)->v.f, 25.06);
	assert_float(find(&a, "humidity", 0)->v.f, 50.55);

	/* Our encrypt gives the same bytes. */
	{
		uint8_t objs[8];
		size_t k = hex("02CA0903BF13", objs, sizeof(objs));
		assert_int_equal(bthome_encrypt(objs, k, 0x41, 0x33221100, mac, key, out, sizeof(out), &m),
				 0);
		assert_int_equal(m, n);
		assert_memory_equal(out, sd, n);
		assert_int_equal(bthome_encrypt(objs, k, 0x41, 1, mac, key, out, 10, &m), -ENOBUFS);
	}

	/* No key, wrong key, a flipped ciphertext bit, a flipped MIC bit, another
	 * MAC (the nonce), a changed counter: nothing is decoded. */
	assert_int_equal(bthome_decode(sd, n, mac, NULL, &a), -ENOKEY);
	key[0] ^= 1;
	assert_int_equal(bthome_decode(sd, n, mac, key, &a), -EKEYREJECTED);
	assert_int_equal(a.n, 0);
	key[0] ^= 1;
	sd[2] ^= 0x80;
	assert_int_equal(bthome_decode(sd, n, mac, key, &a), -EKEYREJECTED);
	sd[2] ^= 0x80;
	sd[n - 1] ^= 1;
	assert_int_equal(bthome_decode(sd, n, mac, key, &a), -EKEYREJECTED);
	sd[n - 1] ^= 1;
	mac[5] ^= 1;
	assert_int_equal(bthome_decode(sd, n, mac, key, &a), -EKEYREJECTED);
	mac[5] ^= 1;
	sd[n - 8] ^= 1;
	assert_int_equal(bthome_decode(sd, n, mac, key, &a), -EKEYREJECTED);
	sd[n - 8] ^= 1;
	/* Shorter than info + counter + MIC. */
	assert_int_equal(bthome_decode(sd, 8, mac, key, &a), -EBADMSG);
	assert_int_equal(bthome_decode(sd, n, mac, key, &a), 0);
}

static void bthome_names_ok(void **state)
{
	(void)state;
	assert_string_equal(bthome_name_of(0x02), "temperature");
	assert_string_equal(bthome_name_of(0x45), "temperature");
	assert_string_equal(bthome_name_of(0xf0), "device_type");
	assert_null(bthome_name_of(0x30));
	assert_true(bthome_name_known("co2"));
	assert_false(bthome_name_known("temprature"));
	/* Every table name is in the list of names. */
	for (unsigned id = 0; id < 256; id++)
		if (bthome_name_of((uint8_t)id))
			assert_true(bthome_name_known(bthome_name_of((uint8_t)id)));
}

/* ---- RuuviTag --------------------------------------------------------------------------------- */

static void ruuvi_vectors(void **state)
{
	uint8_t p[32];
	struct ruuvi5 r;
	size_t n;

	(void)state;
	/* Valid data. */
	n = hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", p, sizeof(p));
	assert_int_equal(ruuvi_decode5(p, n, &r), 0);
	for (int i = 0; i < RUUVI__MAX; i++)
		assert_true(r.valid[i]);
	assert_float(r.value[RUUVI_TEMPERATURE], 24.3);
	assert_float(r.value[RUUVI_PRESSURE], 100044);
	assert_float(r.value[RUUVI_HUMIDITY], 53.49);
	assert_float(r.value[RUUVI_ACCEL_X], 0.004);
	assert_float(r.value[RUUVI_ACCEL_Y], -0.004);
	assert_float(r.value[RUUVI_ACCEL_Z], 1.036);
	assert_float(r.value[RUUVI_TX_POWER], 4);
	assert_float(r.value[RUUVI_BATTERY_VOLTAGE], 2.977);
	assert_float(r.value[RUUVI_MOVEMENT_COUNTER], 66);
	assert_float(r.value[RUUVI_MEASUREMENT_SEQUENCE], 205);
	assert_memory_equal(r.mac, "\xCB\xB8\x33\x4C\x88\x4F", 6);

	/* Maximum values. */
	n = hex("057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F", p, sizeof(p));
	assert_int_equal(ruuvi_decode5(p, n, &r), 0);
	assert_float(r.value[RUUVI_TEMPERATURE], 163.835);
	assert_float(r.value[RUUVI_PRESSURE], 115534);
	assert_float(r.value[RUUVI_HUMIDITY], 163.835);
	assert_float(r.value[RUUVI_ACCEL_X], 32.767);
	assert_float(r.value[RUUVI_ACCEL_Z], 32.767);
	assert_float(r.value[RUUVI_TX_POWER], 20);
	assert_float(r.value[RUUVI_BATTERY_VOLTAGE], 3.646);
	assert_float(r.value[RUUVI_MOVEMENT_COUNTER], 254);
	assert_float(r.value[RUUVI_MEASUREMENT_SEQUENCE], 65534);

	/* Minimum values. */
	n = hex("058001000000008001800180010000000000CBB8334C884F", p, sizeof(p));
	assert_int_equal(ruuvi_decode5(p, n, &r), 0);
	assert_float(r.value[RUUVI_TEMPERATURE], -163.835);
	assert_float(r.value[RUUVI_PRESSURE], 50000);
	assert_float(r.value[RUUVI_HUMIDITY], 0);
	assert_float(r.value[RUUVI_ACCEL_Y], -32.767);
	assert_float(r.value[RUUVI_TX_POWER], -40);
	assert_float(r.value[RUUVI_BATTERY_VOLTAGE], 1.6);
	assert_float(r.value[RUUVI_MOVEMENT_COUNTER], 0);
	assert_float(r.value[RUUVI_MEASUREMENT_SEQUENCE], 0);

	/* Invalid values: every field "not available". */
	n = hex("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF", p, sizeof(p));
	assert_int_equal(ruuvi_decode5(p, n, &r), 0);
	for (int i = 0; i < RUUVI__MAX; i++)
		assert_false(r.valid[i]);

	/* Other formats, short data. */
	n = hex("0312FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", p, sizeof(p));
	assert_int_equal(ruuvi_decode5(p, n, &r), -EPROTONOSUPPORT);
	n = hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C88", p, sizeof(p));
	assert_int_equal(ruuvi_decode5(p, n, &r), -EBADMSG);
	assert_int_equal(ruuvi_decode5(p, 0, &r), -EPROTONOSUPPORT);

	assert_int_equal(ruuvi_field_of("humidity"), RUUVI_HUMIDITY);
	assert_int_equal(ruuvi_field_of("humid"), -ENOENT);
	assert_string_equal(ruuvi_field_name(RUUVI_ACCEL_Z), "acceleration_z");
	assert_null(ruuvi_field_name(RUUVI__MAX));
}

/* ---- declarative decoder ------------------------------------------------------------------------ */

static void adv_fields(void **state)
{
	struct ble_adv_match m = { .company = 0x1234 };
	struct mapping_transform xf = {
		.raw = MAPPING_RAW_INT16, .order = MAPPING_ORDER_DCBA, .has_scale = true, .scale = 0.01
	};
	struct mapping_sample s;
	struct lwm2m_value v;
	uint8_t data[16];
	size_t n;

	(void)state;
	m.prefix_len = hex("A101", m.prefix, sizeof(m.prefix));
	n = hex("A101 CA09 FF 0C", data, sizeof(data));
	/* int16 little endian at offset 2, scale 0.01: 25.06 */
	assert_int_equal(ble_adv_field(&m, data, n, 2, 2, &s), 0);
	assert_int_equal(s.kind, MAPPING_SAMPLE_BYTES);
	assert_int_equal(mapping_transform_decode(&xf, LWM2M_TYPE_FLOAT, &s, &v), 0);
	assert_float(v.f, 25.06);
	/* uint8 at 4, int8 at 5 */
	xf = (struct mapping_transform){ .raw = MAPPING_RAW_UINT8 };
	assert_int_equal(ble_adv_field(&m, data, n, 4, 1, &s), 0);
	assert_int_equal(mapping_transform_decode(&xf, LWM2M_TYPE_INTEGER, &s, &v), 0);
	assert_int_equal(v.i, 255);
	/* length 0: to the end */
	assert_int_equal(ble_adv_field(&m, data, n, 5, 0, &s), 0);
	assert_int_equal(s.len, 1);
	/* prefix mismatch, too short */
	data[1] = 2;
	assert_int_equal(ble_adv_field(&m, data, n, 2, 2, &s), -ENOMSG);
	data[1] = 1;
	assert_int_equal(ble_adv_field(&m, data, n, 5, 2, &s), -EBADMSG);
	assert_int_equal(ble_adv_field(&m, data, n, 7, 0, &s), -EBADMSG);
	assert_int_equal(ble_adv_field(&m, data, 1, 0, 1, &s), -ENOMSG);
}

static void helpers(void **state)
{
	char u[BLE_UUID_LEN + 1], f[18];
	uint8_t mac[6], b[4];

	(void)state;
	assert_int_equal(ble_uuid_normalize("FCD2", u), 0);
	assert_string_equal(u, BTHOME_UUID);
	assert_int_equal(ble_uuid_normalize("0xfcd2", u), 0);
	assert_string_equal(u, BTHOME_UUID);
	assert_int_equal(ble_uuid_normalize("0000FCD2-0000-1000-8000-00805F9B34FB", u), 0);
	assert_string_equal(u, BTHOME_UUID);
	assert_int_equal(ble_uuid_normalize("fcd", u), -EINVAL);
	assert_int_equal(ble_uuid_normalize("0000fcd2x0000-1000-8000-00805f9b34fb", u), -EINVAL);
	assert_int_equal(ble_mac_parse("a4:c1:38:0d:4e:21", mac), 0);
	ble_mac_format(mac, f);
	assert_string_equal(f, "A4:C1:38:0D:4E:21");
	assert_int_equal(ble_mac_parse("A4:C1:38:0D:4E", mac), -EINVAL);
	assert_int_equal(ble_mac_parse("A4-C1-38-0D-4E-21", mac), -EINVAL);
	assert_int_equal(ble_mac_from_path("/org/bluez/hci0/dev_A4_C1_38_0D_4E_21", mac), 0);
	assert_memory_equal(mac, "\xA4\xC1\x38\x0D\x4E\x21", 6);
	assert_int_equal(ble_mac_from_path("/org/bluez/hci0/dev_A4_C1_38_0D_4E_21/service0001", mac),
			 -EINVAL);
	assert_int_equal(ble_hex_parse("0x01 02:03", b, sizeof(b)), 3);
	assert_int_equal(ble_hex_parse("0102030405", b, sizeof(b)), -E2BIG);
	assert_int_equal(ble_hex_parse("012", b, sizeof(b)), -EINVAL);
	assert_int_equal(ble_hex_parse("zz", b, sizeof(b)), -EINVAL);
}

/* ---- parsers ------------------------------------------------------------------------------------ */

static char messages[4096];

static void collect(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
	snprintf(messages + strlen(messages), sizeof(messages) - strlen(messages), "%s\n", buf);
}

static int parse_src(enum mapping_role role, const char *yaml, struct ble_src **out)
{
	struct diag diag = { .fn = collect };
	struct ydoc *doc = NULL;
	void *p = NULL;
	int r;

	messages[0] = '\0';
	assert_int_equal(ydoc_load_buffer("p.yaml", yaml, strlen(yaml), NULL, &diag, &doc), 0);
	r = ble_source_ops.parse(role, ydoc_root(doc), &diag, &p);
	ydoc_free(doc);
	if (out)
		*out = p;
	else
		ble_source_ops.free(p);
	return r;
}

static void sources(void **state)
{
	struct ble_src *s;

	(void)state;
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{bthome: temperature, instance: 1}", &s), 0);
	assert_int_equal(s->kind, BLE_SRC_BTHOME);
	assert_string_equal(s->bthome, "temperature");
	assert_int_equal(s->object_id, -1);
	assert_int_equal(s->instance, 1);
	free(s);
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{bthome: 0x45}", &s), 0);
	assert_int_equal(s->object_id, 0x45);
	free(s);
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{ruuvi: battery_voltage}", &s), 0);
	assert_int_equal(s->ruuvi_field, RUUVI_BATTERY_VOLTAGE);
	free(s);
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{rssi: true}", &s), 0);
	assert_int_equal(s->kind, BLE_SRC_RSSI);
	free(s);
	assert_int_equal(parse_src(MAPPING_ROLE_READ,
				   "{manufacturer: 0x0499, prefix: \"05\", offset: 1, length: 2}", &s),
			 0);
	assert_int_equal(s->kind, BLE_SRC_ADV);
	assert_int_equal(s->match.company, 0x499);
	assert_int_equal(s->match.prefix_len, 1);
	assert_int_equal(s->offset, 1);
	assert_int_equal(s->length, 2);
	free(s);
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{service_data: 181a, offset: 6}", &s), 0);
	assert_true(s->match.by_service);
	assert_string_equal(s->match.uuid, "0000181a-0000-1000-8000-00805f9b34fb");
	free(s);
	assert_int_equal(
		parse_src(MAPPING_ROLE_READ, "{service: 181a, characteristic: 2a6e, mode: notify}", &s), 0);
	assert_int_equal(s->kind, BLE_SRC_GATT);
	assert_string_equal(s->characteristic, "00002a6e-0000-1000-8000-00805f9b34fb");
	assert_true(s->keep);
	free(s);
	assert_int_equal(parse_src(MAPPING_ROLE_EXECUTE,
				   "{service: 181a, characteristic: 2a6e, value: \"0102\", type: command}",
				   &s),
			 0);
	assert_int_equal(s->value_len, 2);
	assert_int_equal(s->write_type, BLE_WRITE_COMMAND);
	free(s);

	/* Errors name the place and what would be accepted. */
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{bthome: temprature}", NULL), -EINVAL);
	assert_string_equal(
		messages,
		"p.yaml:1:10: unknown BTHome measurement 'temprature', did you mean 'temperature'?\n");
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{ruuvi: x}", NULL), -EINVAL);
	assert_non_null(
		strstr(messages, "p.yaml:1:9: unknown RuuviTag field 'x' (accepted: temperature, humidity"));
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{manufacturer: 70000}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "p.yaml:1:16: invalid company id '70000'"));
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{service: 181a, characteristic: xyz}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "p.yaml:1:33: invalid UUID 'xyz'"));
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{rssi: true, ruuvi: humidity}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "needs exactly one of"));
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{bthome: battery, offset: 3}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "p.yaml:1:19: key 'offset' does not apply to a bthome source"));
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{bthom: battery}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "did you mean 'bthome'?"));
	assert_int_equal(parse_src(MAPPING_ROLE_WRITE, "{bthome: battery}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "goes to a GATT characteristic"));
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "temperature", NULL), -EINVAL);
	assert_non_null(strstr(messages, "p.yaml:1:1: a BLE source must be a mapping"));
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{service: 181a}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "needs both 'service' and 'characteristic'"));
	assert_int_equal(
		parse_src(MAPPING_ROLE_READ, "{service: 181a, characteristic: 2a6e, mode: poll}", NULL),
		-EINVAL);
	assert_int_equal(parse_src(MAPPING_ROLE_READ, "{manufacturer: 1, prefix: zz}", NULL), -EINVAL);
	assert_non_null(strstr(messages, "invalid prefix 'zz'"));
	/* write: absent node = back to the read source */
	assert_int_equal(ble_source_ops.parse(MAPPING_ROLE_WRITE, NULL, NULL, (void **)&s), 0);
	assert_null(s);
}

static int parse_doc(const char *yaml, int (*fn)(struct schema_ctx *, const struct ynode *, void *),
		     void *out)
{
	struct diag diag = { .fn = collect };
	struct schema_ctx ctx = { .diag = &diag };
	struct ydoc *doc = NULL;
	int r;

	messages[0] = '\0';
	assert_int_equal(ydoc_load_buffer("c.yaml", yaml, strlen(yaml), NULL, &diag, &doc), 0);
	r = fn(&ctx, ydoc_root(doc), out);
	ydoc_free(doc);
	return r;
}

static int conf_fn(struct schema_ctx *ctx, const struct ynode *n, void *out)
{
	struct ble_conf c;
	int r = ble_conf_parse(ctx, n, out ? &c : NULL);

	if (r == 0 && out)
		*(unsigned *)out = c.max_connections * 1000 + (unsigned)c.nrules;
	if (r == 0 && out)
		ble_conf_free(&c);
	return r;
}

static int addr_fn(struct schema_ctx *ctx, const struct ynode *n, void *out)
{
	return ble_address_parse(ctx, n, out);
}

static void body_and_address(void **state)
{
	struct ble_address a;
	unsigned v = 0;

	(void)state;
	assert_int_equal(parse_doc("{type: ble, adapter: hci1, max_connections: 2, unreachable_after: 30s,"
				   " discover: [{profile: ruuvitag, match: ruuvi}, {profile: x, "
				   "manufacturer: 0x1234, prefix: \"01\"}]}",
				   conf_fn, &v),
			 0);
	assert_int_equal(v, 2002);
	assert_int_equal(parse_doc("{type: ble, adaptor: hci0}", conf_fn, NULL), -EINVAL);
	assert_non_null(strstr(messages, "c.yaml:1:13: unknown key 'adaptor'"));
	assert_non_null(strstr(messages, "did you mean 'adapter'?"));
	assert_int_equal(parse_doc("{type: ble, adapter: hci/0}", conf_fn, NULL), -EINVAL);
	assert_non_null(strstr(messages, "invalid adapter name 'hci/0'"));
	assert_int_equal(parse_doc("{type: ble, discover: [{profile: x, match: eddystone}]}", conf_fn, NULL),
			 -EINVAL);
	assert_non_null(strstr(messages, "invalid match 'eddystone': expected bthome or ruuvi"));
	assert_int_equal(parse_doc("{type: ble, discover: [{profile: x}]}", conf_fn, NULL), -EINVAL);
	assert_int_equal(parse_doc("{type: ble, max_connections: 0}", conf_fn, NULL), -EINVAL);

	assert_int_equal(parse_doc("\"A4:C1:38:0D:4E:21\"", addr_fn, &a), 0);
	assert_false(a.has_key);
	assert_int_equal(parse_doc("{mac: \"A4:C1:38:0D:4E:21\", bindkey: 231d39c1d7cc1ab1aee224cd096db932}",
				   addr_fn, &a),
			 0);
	assert_true(a.has_key);
	assert_int_equal(a.key[0], 0x23);
	assert_int_equal(parse_doc("{mac: \"A4:C1:38:0D:4E:21\", bindkey: 231d39}", addr_fn, &a), -EINVAL);
	assert_string_equal(messages, "c.yaml:1:37: invalid bindkey: expected 16 bytes as 32 hex digits\n");
	assert_int_equal(parse_doc("\"A4:C1:38:0D:4E\"", addr_fn, &a), -EINVAL);
	assert_string_equal(messages, "c.yaml:1:1: invalid BLE address 'A4:C1:38:0D:4E': expected a MAC such "
				      "as \"A4:C1:38:0D:4E:21\"\n");
	assert_int_equal(parse_doc("{mca: \"A4:C1:38:0D:4E:21\"}", addr_fn, &a), -EINVAL);
	assert_non_null(strstr(messages, "did you mean 'mac'?"));
	assert_int_equal(parse_doc("[1]", addr_fn, &a), -EINVAL);
}

/* ---- profiles: the shipped ones load, cross-checks report ------------------------------------- */

static int load_profile(struct lwm2m_registry *reg, const char *yaml)
{
	static const struct mapping_source_ops *const kinds[] = { &ble_source_ops, NULL };
	struct diag diag = { .fn = collect };
	struct mapping_set *set = mapping_set_new(reg, kinds, "/nonexistent");
	const struct mapping_profile *p;
	int r;

	assert_non_null(set);
	messages[0] = '\0';
	r = mapping_set_load_buffer(set, "t", "t.yaml", yaml, strlen(yaml), &diag, &p);
	mapping_set_free(set);
	return r;
}

static void profiles(void **state)
{
	static const struct mapping_source_ops *const kinds[] = { &ble_source_ops, NULL };
	static const char *const shipped[] = { "bthome-sensor", "ruuvitag", "ble-gatt-thermostat" };
	struct lwm2m_registry *reg = lwm2m_registry_new();
	const char *src = getenv("FG_SOURCE_DIR");
	char dir[512];
	struct mapping_set *set;

	(void)state;
	assert_non_null(reg);
	snprintf(dir, sizeof(dir), "%s/mappings/profiles", src ? src : ".");
	set = mapping_set_new(reg, kinds, dir);
	for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		struct diag diag = { .fn = collect };
		const struct mapping_profile *p;
		messages[0] = '\0';
		assert_int_equal(mapping_set_get(set, shipped[i], NULL, &diag, &p), 0);
		assert_string_equal(messages, "");
		assert_string_equal(mapping_profile_bridge(p), "ble");
	}
	mapping_set_free(set);

	/* A decoded source with a byte layout, a byte source without one, a
	 * write to an advert: each named at its resource. */
	assert_int_equal(load_profile(reg, "bridge: ble\nobjects:\n  /3303/0:\n"
					   "    5700: { source: { bthome: temperature }, raw: int16 }\n"),
			 -EINVAL);
	assert_non_null(
		strstr(messages, "t.yaml:4:5: a bthome source delivers decoded values: leave 'raw' out"));
	assert_int_equal(load_profile(reg, "bridge: ble\nobjects:\n  /3303/0:\n"
					   "    5700: { source: { manufacturer: 0x1234, offset: 2 } }\n"),
			 -EINVAL);
	assert_non_null(strstr(messages, "t.yaml:4:5: a manufacturer/service data source delivers bytes"));
	assert_int_equal(load_profile(reg, "bridge: ble\nobjects:\n  /3308/0:\n"
					   "    5900: { source: { ruuvi: temperature }, writable: true }\n"),
			 -EINVAL);
	assert_non_null(strstr(messages, "only GATT characteristics can be written"));
	assert_int_equal(load_profile(reg, "bridge: ble\nobjects:\n  /3303/0:\n"
					   "    5700: { source: { rssi: true } }\n"),
			 0);
	lwm2m_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bthome_plain),     cmocka_unit_test(bthome_errors),
		cmocka_unit_test(bthome_encrypted), cmocka_unit_test(bthome_names_ok),
		cmocka_unit_test(ruuvi_vectors),    cmocka_unit_test(adv_fields),
		cmocka_unit_test(helpers),          cmocka_unit_test(sources),
		cmocka_unit_test(body_and_address), cmocka_unit_test(profiles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
