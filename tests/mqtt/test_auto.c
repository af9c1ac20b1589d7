/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The automatic mappings on real payloads: zigbee2mqtt's bridge/devices
 * (tests/data/mqtt/z2m/bridge-devices.json: 12 devices, the coordinator and
 * one being interviewed) and Home Assistant discovery as ESPHome, Tasmota
 * and zigbee2mqtt publish it (tests/data/mqtt/ha/, one file each). Each device's
 * generated profile is compared with its golden file (FG_AUTO_REGEN=1
 * rewrites them) and loaded by the real profile loader with the MQTT
 * source parser and the built-in object registry: no diagnostics. Also
 * the rule table's answers, and that devices of one model share a profile.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "bridges/mqtt/mqtt_auto.h"
#include "tests/unit/testutil.h"

struct fx {
	struct lwm2m_registry *reg;
	struct mapping_set *set;
	struct diag diag;
	char text[4096];
};

static void collect(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	struct fx *f = ctx;
	size_t n = strlen(f->text);

	(void)sev;
	snprintf(f->text + n, sizeof(f->text) - n, "%s:%u:%u: %s\n", file, line, col, msg);
}

static int setup(void **state)
{
	static const struct mapping_source_ops *const kinds[] = { &mqtt_source_ops, NULL };
	struct fx *f = calloc(1, sizeof(*f));

	f->reg = lwm2m_registry_new();
	f->set = mapping_set_new(f->reg, kinds, "");
	f->diag = (struct diag){ .fn = collect, .ctx = f };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mapping_set_free(f->set);
	lwm2m_registry_free(f->reg);
	free(f);
	return 0;
}

/* The profile against its golden file, then through the loader. */
static const struct mapping_profile *check(struct fx *f, const struct auto_profile *p, const char *golden)
{
	const struct mapping_profile *mp = NULL;
	size_t len;
	int r;

	if (getenv("FG_AUTO_REGEN")) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", getenv("FG_TEST_DATA"), golden);
		FILE *o = fopen(path, "w");
		assert_non_null(o);
		fputs(p->text, o);
		fclose(o);
	} else {
		char *want = (char *)tu_read_data(golden, &len);
		if (strcmp(want, p->text) != 0)
			fail_msg("%s differs; generated:\n%s", golden, p->text);
		free(want);
	}
	f->text[0] = '\0';
	r = mapping_set_load_buffer(f->set, p->name, golden, p->text, p->len, &f->diag, &mp);
	if (r == -EEXIST)
		r = mapping_set_get(f->set, p->name, NULL, &f->diag, &mp);
	if (r < 0)
		fail_msg("%s does not load (%d):\n%s", golden, r, f->text);
	assert_string_equal(mapping_profile_bridge(mp), "mqtt");
	return mp;
}

static const struct mapping_point *point(const struct mapping_profile *p, uint16_t oid, uint16_t iid,
					 uint16_t rid)
{
	struct lwm2m_path path = LWM2M_PATH(oid, iid, rid);
	const struct mapping_point *pt = mapping_profile_find(p, &path);

	if (!pt)
		fail_msg("%s has no /%u/%u/%u", mapping_profile_name(p), oid, iid, rid);
	return pt;
}

static void test_z2m_capture(void **state)
{
	struct fx *f = *state;
	struct z2m_conf c = { .base_topic = "zigbee2mqtt", .prefix = "" };
	size_t len;
	char *text = (char *)tu_read_data("mqtt/z2m/bridge-devices.json", &len);
	struct json_object *doc = json_tokener_parse(text);
	unsigned made = 0, skipped = 0;

	assert_non_null(doc);
	for (size_t i = 0; i < json_object_array_length(doc); i++) {
		struct json_object *dev = json_object_array_get_idx(doc, i);
		struct auto_profile p;
		char golden[256];
		int r = z2m_profile(dev, &c, &p);

		if (r == -ENOENT) {
			skipped++;
			assert_true(strcmp(p.skipped, "the coordinator") == 0 ||
				    strcmp(p.skipped, "not interviewed yet") == 0);
			auto_profile_clear(&p);
			continue;
		}
		assert_int_equal(r, 0);
		snprintf(golden, sizeof(golden), "mqtt/z2m/expected/%s.yaml", p.address);
		const struct mapping_profile *mp = check(f, &p, golden);
		/* Named by the IEEE address; {device} is the friendly name. */
		assert_string_equal(p.device,
				    json_object_get_string(json_object_object_get(dev, "ieee_address")));
		assert_non_null(strstr(p.skipped, "linkquality (numeric: no rule)"));
		if (strcmp(p.address, "front-door") == 0) {
			/* value_on false: "on" (open) is true, through a template. */
			const struct mapping_point *pt = point(mp, 3342, 0, 5500);
			struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
						    .value = { .type = LWM2M_TYPE_STRING,
							       .bytes = { (const uint8_t *)"False", 5 } } };
			struct lwm2m_value v;
			assert_int_equal(mapping_decode(pt, &s, &v), 0);
			assert_true(v.b);
		}
		if (strcmp(p.address, "hall-bulb") == 0) {
			/* Brightness 0..254 is the Dimmer's 0..100 %, written back. */
			const struct mapping_point *pt = point(mp, 3311, 0, 5851);
			struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
						    .value = { .type = LWM2M_TYPE_INTEGER, .i = 127 } },
					      w;
			struct lwm2m_value v, in = { .type = LWM2M_TYPE_INTEGER, .i = 100 };
			uint8_t buf[16];
			assert_int_equal(mapping_decode(pt, &s, &v), 0);
			assert_int_equal(v.i, 50);
			assert_int_equal(mapping_encode(pt, &in, buf, sizeof(buf), &w), 0);

			assert_true(w.value.type == LWM2M_TYPE_INTEGER ? w.value.i == 254 : w.value.f == 254);
			assert_true(pt->writable);
		}
		if (strcmp(p.address, "stairs-switch") == 0) {
			/* Two endpoints: two Power Control instances. */
			assert_true(point(mp, 3312, 0, 5850)->writable);
			assert_true(point(mp, 3312, 1, 5850)->writable);
		}
		made++;
		auto_profile_clear(&p);
	}
	assert_int_equal(made, 12);
	assert_int_equal(skipped, 2);
	json_object_put(doc);
	free(text);
}

static void test_z2m_shared_and_renamed(void **state)
{
	struct z2m_conf c = { .base_topic = "zb", .prefix = "z-" };
	size_t len;
	char *text = (char *)tu_read_data("mqtt/z2m/bridge-devices.json", &len);
	struct json_object *doc = json_tokener_parse(text), *a = json_object_array_get_idx(doc, 1), *b;
	struct auto_profile pa, pb;

	(void)state;
	/* Another WSDCGQ11LM, elsewhere: the same profile. */
	b = json_tokener_parse(json_object_to_json_string(a));
	json_object_object_add(b, "ieee_address", json_object_new_string("0x00158d000aaaaaaa"));
	json_object_object_add(b, "friendly_name", json_object_new_string("cellar"));
	assert_int_equal(z2m_profile(a, &c, &pa), 0);
	assert_int_equal(z2m_profile(b, &c, &pb), 0);
	assert_string_equal(pa.name, pb.name);
	assert_string_equal(pb.device, "z-0x00158d000aaaaaaa");
	assert_string_equal(pb.address, "cellar");
	assert_non_null(strstr(pa.text, "topic: \"zb/{device}\""));
	auto_profile_clear(&pb);
	/* A friendly name with '/' cannot be {device}: the topics carry it. */
	json_object_object_add(b, "friendly_name", json_object_new_string("cellar/th"));
	assert_int_equal(z2m_profile(b, &c, &pb), 0);
	assert_string_not_equal(pa.name, pb.name);
	assert_string_equal(pb.address, "0x00158d000aaaaaaa");
	assert_non_null(strstr(pb.text, "topic: \"zb/cellar/th\""));
	auto_profile_clear(&pa);
	auto_profile_clear(&pb);
	/* Not a device object. */
	json_object_put(b);
	b = json_object_new_int(1);
	assert_int_equal(z2m_profile(b, &c, &pa), -EINVAL);
	json_object_put(b);
	json_object_put(doc);
	free(text);
}

static void ha_file(struct fx *f, const char *file, unsigned want_devices, unsigned want_mapped)
{
	struct ha_conf c = { .prefix = "homeassistant", .name_prefix = "ha-" };
	size_t len;
	char path[128], *text, *cur;
	struct ha_entity *e[64];
	size_t n = 0;
	unsigned devices = 0, mapped = 0;

	snprintf(path, sizeof(path), "mqtt/ha/%s.txt", file);
	text = (char *)tu_read_data(path, &len);
	for (cur = text; cur && *cur;) {
		char *nl = strchr(cur, '\n'), *tab, comp[32], obj[256];
		if (nl)
			*nl = '\0';
		tab = strchr(cur, '\t');
		if (*cur != '#' && tab) {
			*tab = '\0';
			assert_true(
				ha_topic_parse(&c, cur, strlen(cur), comp, sizeof(comp), obj, sizeof(obj)));
			assert_int_equal(
				ha_entity_parse(comp, cur, (const uint8_t *)tab + 1, strlen(tab + 1), &e[n]),
				0);
			n++;
		}
		cur = nl ? nl + 1 : NULL;
	}
	/* One profile per device (its identifiers group the entities). */
	for (size_t i = 0; i < n; i++) {
		struct ha_entity *mine[64];
		size_t m = 0;
		struct auto_profile p;
		char golden[256];
		if (!e[i])
			continue;
		for (size_t j = i; j < n; j++)
			if (e[j] && strcmp(ha_entity_device_id(e[j]), ha_entity_device_id(e[i])) == 0)
				mine[m++] = e[j];
		assert_int_equal(ha_profile(mine, m, &c, &p), 0);
		snprintf(golden, sizeof(golden), "mqtt/ha/expected/%s.yaml", p.device);
		(void)check(f, &p, golden);
		mapped += p.mapped;
		devices++;
		auto_profile_clear(&p);
		for (size_t j = n; j-- > i;)
			if (e[j] && strcmp(ha_entity_device_id(e[j]), ha_entity_device_id(mine[0])) == 0 &&
			    e[j] != mine[0])
				e[j] = ha_entity_free(e[j]);
		e[i] = ha_entity_free(e[i]);
	}
	assert_int_equal(devices, want_devices);
	assert_int_equal(mapped, want_mapped);
	free(text);
}

static void test_ha_esphome(void **state)
{
	/* temperature, humidity, motion, relay, lamp (on/off + brightness);
	 * not: wifi_signal (no rule), the restart button. */
	ha_file(*state, "esphome", 1, 6);
}

static void test_ha_tasmota(void **state)
{
	/* POWER, Power, Total, Voltage, Current, DS18B20; not: the status
	 * (RSSI %), TotalStartTime (unit " "). */
	ha_file(*state, "tasmota", 1, 6);
}

static void test_ha_zigbee2mqtt(void **state)
{
	/* living-th: 5 (no linkquality); front-door: 2; desk-plug: 3 (not
	 * the {% if %} switch); hall-bulb: 2 (not the select). */
	ha_file(*state, "zigbee2mqtt", 4, 12);
}

static void test_rules(void **state)
{
	(void)state;
	assert_int_equal(auto_z2m_kind("numeric", "temperature", "°C", NULL, false)->oid, 3303);
	assert_null(auto_z2m_kind("numeric", "temperature", "°F", NULL, false)); /* not guessed */
	assert_int_equal(auto_z2m_kind("numeric", "voltage", "mV", NULL, false)->rid, 7);
	assert_int_equal(auto_z2m_kind("numeric", "voltage", "V", NULL, false)->oid, 3316);
	assert_int_equal(auto_z2m_kind("binary", "state", NULL, "switch", true)->oid, 3312);
	assert_int_equal(auto_z2m_kind("binary", "state", NULL, "light", true)->oid, 3311);
	assert_null(auto_z2m_kind("binary", "state", NULL, "lock", true));
	assert_null(auto_z2m_kind("numeric", "linkquality", "lqi", NULL, false));
	assert_int_equal(auto_z2m_kind("enum", "anything", NULL, NULL, false)->rid, 5853);
	assert_int_equal(auto_ha_kind("sensor", "temperature", "°C")->oid, 3303);
	assert_int_equal(auto_ha_kind("sensor", NULL, "kWh")->oid, 3331);
	assert_null(auto_ha_kind("sensor", "signal_strength", "dBm"));
	assert_null(auto_ha_kind("sensor", "duration", "s"));
	assert_null(auto_ha_kind("sensor", "unknown_class", "°C")); /* a class, unknown: not from the unit */
	assert_int_equal(auto_ha_kind("binary_sensor", "door", NULL)->oid, 3342);
	assert_int_equal(auto_ha_kind("binary_sensor", "motion", NULL)->oid, 3302);
	assert_null(auto_ha_kind("select", NULL, NULL));
	assert_string_equal(auto_unit_text(auto_ha_kind("sensor", "humidity", "%"), "%"), "%RH");
	assert_string_equal(auto_unit_text(NULL, "°C"), "Cel");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_z2m_capture, setup, teardown),
		cmocka_unit_test(test_z2m_shared_and_renamed),
		cmocka_unit_test_setup_teardown(test_ha_esphome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ha_tasmota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ha_zigbee2mqtt, setup, teardown),
		cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
