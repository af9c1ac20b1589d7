/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the MQTT bridge's pure parts: topic templates and filters,
 * payload decoders (JSON pointers, text, raw, timestamps), payload
 * templates, device names, and the profile source parser's diagnostics.
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

#include "bridges/mqtt/mqtt_conf.h"
#include "bridges/mqtt/mqtt_internal.h"
#include "common/yamldoc.h"

static void test_template_parse(void **state)
{
	struct mqtt_template t;
	char why[200];

	(void)state;
	assert_int_equal(mqtt_template_parse("shellies/{device}/sensor/{field}", &t, why, sizeof(why)), 0);
	assert_int_equal(t.nlv, 4);
	assert_true(t.lv[1].capture);
	assert_string_equal(t.lv[1].text, "device");
	assert_false(t.lv[2].capture);
	assert_true(mqtt_template_has(&t, "field"));
	assert_false(mqtt_template_has(&t, "sensor"));
	mqtt_template_clear(&t);

	static const char *const bad[] = { "",         "a/+/b", "a/#",     "a/{de vice}", "a/x{device}",
					   "a/{1abc}", "a/{}",  "{a}/{a}", "a/{device",   "a/device}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(mqtt_template_parse(bad[i], &t, why, sizeof(why)), -EINVAL);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(mqtt_template_parse("a/{x}/", &t, why, sizeof(why)), 0); /* empty last level */
	assert_int_equal(t.nlv, 3);
	mqtt_template_clear(&t);
}

static void test_template_match(void **state)
{
	struct mqtt_template t;
	struct mqtt_binding caps, bound = { .n = 1 };
	char why[200];
	size_t n;
	const char *v;

	(void)state;
	bound.v[0].name = "device";
	bound.v[0].value = "plug 1";
	bound.v[0].len = 6;
	assert_int_equal(mqtt_template_parse("tele/{device}/SENSOR", &t, why, sizeof(why)), 0);
	assert_true(mqtt_template_match(&t, "tele/plug 1/SENSOR", 18, NULL, &caps));
	v = mqtt_binding_get(&caps, "device", &n);
	assert_non_null(v);
	assert_int_equal(n, 6);
	assert_memory_equal(v, "plug 1", 6);
	assert_true(mqtt_template_match(&t, "tele/plug 1/SENSOR", 18, &bound, NULL));
	assert_false(mqtt_template_match(&t, "tele/plug 2/SENSOR", 18, &bound, NULL));
	assert_false(mqtt_template_match(&t, "tele/plug 1/SENSORS", 19, NULL, NULL));
	assert_false(mqtt_template_match(&t, "tele/plug 1", 11, NULL, NULL));
	assert_false(mqtt_template_match(&t, "tele/plug 1/SENSOR/x", 20, NULL, NULL));
	assert_true(mqtt_template_match(&t, "tele//SENSOR", 12, NULL, &caps)); /* empty level */
	/* Only the first len bytes count. */
	assert_true(mqtt_template_match(&t, "tele/a/SENSORxyz", 13, NULL, NULL));
	mqtt_template_clear(&t);
}

static void test_filter_expand(void **state)
{
	struct mqtt_template t;
	struct mqtt_binding bound = { .n = 1 };
	char why[200], buf[64];
	const char *missing = NULL;

	(void)state;
	bound.v[0].name = "device";
	bound.v[0].value = "p1";
	bound.v[0].len = 2;
	assert_int_equal(mqtt_template_parse("shellies/{device}/relay/{ch}", &t, why, sizeof(why)), 0);
	assert_int_equal(mqtt_template_filter(&t, &bound, buf, sizeof(buf)), 19);
	assert_string_equal(buf, "shellies/p1/relay/+");
	assert_int_equal(mqtt_template_filter(&t, NULL, buf, sizeof(buf)), 18);
	assert_string_equal(buf, "shellies/+/relay/+");
	assert_int_equal(mqtt_template_expand(&t, &bound, buf, sizeof(buf), &missing), -ENOENT);
	assert_string_equal(missing, "ch");
	assert_int_equal(mqtt_template_filter(&t, &bound, buf, 10), -ENOBUFS);
	bound.v[0].value = "a/b";
	bound.v[0].len = 3;
	assert_int_equal(mqtt_template_filter(&t, &bound, buf, sizeof(buf)), -EINVAL);
	mqtt_template_clear(&t);
}

static void test_filters(void **state)
{
	(void)state;
	assert_true(mqtt_filter_match("a/+/c", "a/b/c", 5));
	assert_false(mqtt_filter_match("a/+/c", "a/b/d", 5));
	assert_true(mqtt_filter_match("a/#", "a/b/c", 5));
	assert_true(mqtt_filter_match("a/#", "a", 1));
	assert_true(mqtt_filter_match("#", "x/y", 3));
	assert_false(mqtt_filter_match("#", "$SYS/x", 6));
	assert_false(mqtt_filter_match("+/x", "$SYS/x", 6));
	assert_true(mqtt_filter_match("a/b", "a/b", 3));
	assert_false(mqtt_filter_match("a/b", "a/bc", 4));
	assert_false(mqtt_filter_match("a/+", "a/b/c", 5));
	assert_true(mqtt_filter_match("a/+", "a/", 2));

	assert_true(mqtt_filter_covers("zigbee2mqtt/+", "zigbee2mqtt/th1"));
	assert_true(mqtt_filter_covers("zigbee2mqtt/+", "zigbee2mqtt/+"));
	assert_false(mqtt_filter_covers("zigbee2mqtt/th1", "zigbee2mqtt/+"));
	assert_false(mqtt_filter_covers("zigbee2mqtt/+", "zigbee2mqtt/th1/set"));
	assert_true(mqtt_filter_covers("zigbee2mqtt/#", "zigbee2mqtt/th1/set"));
	assert_false(mqtt_filter_covers("a/+", "a/#"));
}

static int decode(const char *json, const char *pointer, struct mqtt_payload *p, struct mapping_sample *s)
{
	static struct mqtt_source src;
	uint64_t t;

	memset(&src, 0, sizeof(src));
	src.format = MQTT_FORMAT_JSON;
	src.pointer = (char *)pointer;
	mqtt_payload_clear(p);
	mqtt_payload_init(p, json, strlen(json));
	return mqtt_payload_decode(&src, 0, p, s, &t);
}

static void test_json(void **state)
{
	struct mqtt_payload p = { 0 };
	struct mapping_sample s;
	const char *doc =
		"{\"a\":{\"b/c\":1.5,\"m~n\":true,\"arr\":[10,\"x\",null]},\"big\":18446744073709551615,"
		"\"neg\":-7,\"s\":\"ON\",\"\":3}";

	(void)state;
	assert_int_equal(decode(doc, "/a/b~1c", &p, &s), 0);
	assert_int_equal(s.kind, MAPPING_SAMPLE_VALUE);
	assert_int_equal(s.value.type, LWM2M_TYPE_FLOAT);
	assert_true(s.value.f == 1.5);
	assert_int_equal(decode(doc, "/a/m~0n", &p, &s), 0);
	assert_int_equal(s.value.type, LWM2M_TYPE_BOOLEAN);
	assert_true(s.value.b);
	assert_int_equal(decode(doc, "/a/arr/0", &p, &s), 0);
	assert_int_equal(s.value.type, LWM2M_TYPE_INTEGER);
	assert_int_equal(s.value.i, 10);
	assert_int_equal(decode(doc, "/a/arr/1", &p, &s), 0);
	assert_int_equal(s.value.type, LWM2M_TYPE_STRING);
	assert_memory_equal(s.value.bytes.ptr, "x", 1);
	assert_int_equal(decode(doc, "/a/arr/2", &p, &s), -ENOENT); /* null: no value */
	assert_int_equal(decode(doc, "/a/arr/3", &p, &s), -ENOENT);
	assert_int_equal(decode(doc, "/a/arr/01", &p, &s), -ENOENT);
	assert_int_equal(decode(doc, "/a", &p, &s), -EINVAL); /* an object */
	assert_int_equal(decode(doc, "/big", &p, &s), 0);
	assert_int_equal(s.value.type, LWM2M_TYPE_UNSIGNED);
	assert_true(s.value.u == UINT64_MAX);
	assert_int_equal(decode(doc, "/neg", &p, &s), 0);
	assert_int_equal(s.value.i, -7);
	assert_int_equal(decode(doc, "/", &p, &s), 0); /* the key "" */
	assert_int_equal(s.value.i, 3);
	assert_int_equal(decode(doc, "/nope", &p, &s), -ENOENT);
	assert_int_equal(decode(doc, "/a/b~2c", &p, &s), -ENOENT);
	/* Whole-document scalars, and what is not JSON. */
	assert_int_equal(decode("21.5", "", &p, &s), 0);
	assert_true(s.value.f == 21.5);
	assert_int_equal(decode("21.5 x", "", &p, &s), -EBADMSG);
	assert_int_equal(decode("{\"a\":", "/a", &p, &s), -EBADMSG);
	assert_int_equal(decode("", "", &p, &s), -EBADMSG);
	assert_int_equal(decode("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]"
				"]]]]]]]]]]]]]]"
				"]]]]]]]]]]]]]]",
				"/0", &p, &s),
			 -EBADMSG); /* deeper than the limit */
	assert_int_equal(decode("\"text\"", "/x", &p, &s), -EBADMSG);
	mqtt_payload_clear(&p);
}

static void test_text_raw(void **state)
{
	struct mqtt_source src = { .format = MQTT_FORMAT_TEXT };
	struct mqtt_payload p;
	struct mapping_sample s;
	uint64_t t;
	const uint8_t frame[] = { 1, 2, 3, 4, 5, 6 };

	(void)state;
	mqtt_payload_init(&p, " ON\r\n", 5);
	assert_int_equal(mqtt_payload_decode(&src, 0, &p, &s, &t), 0);
	assert_int_equal(s.value.type, LWM2M_TYPE_STRING);
	assert_int_equal(s.value.bytes.len, 2);
	assert_memory_equal(s.value.bytes.ptr, "ON", 2);
	mqtt_payload_init(&p, "  ", 2);
	assert_int_equal(mqtt_payload_decode(&src, 0, &p, &s, &t), -EBADMSG);

	src.format = MQTT_FORMAT_RAW;
	src.offset = 2;
	mqtt_payload_init(&p, frame, sizeof(frame));
	assert_int_equal(mqtt_payload_decode(&src, 2, &p, &s, &t), 0);
	assert_int_equal(s.kind, MAPPING_SAMPLE_BYTES);
	assert_int_equal(s.len, 2);
	assert_int_equal(s.bytes[0], 3);
	assert_int_equal(mqtt_payload_decode(&src, 0, &p, &s, &t), 0); /* the rest */
	assert_int_equal(s.len, 4);
	src.offset = 5;
	assert_int_equal(mqtt_payload_decode(&src, 2, &p, &s, &t), -EBADMSG);
	src.offset = 7;
	assert_int_equal(mqtt_payload_decode(&src, 0, &p, &s, &t), -EBADMSG);
	src.offset = 0;
	src.length = 6;
	assert_int_equal(mqtt_payload_decode(&src, 2, &p, &s, &t), 0);
	assert_int_equal(s.len, 6);
}

static void test_time(void **state)
{
	uint64_t u;
	struct mqtt_source src = { .format = MQTT_FORMAT_JSON,
				   .pointer = (char *)"/v",
				   .time_pointer = (char *)"/t" };
	struct mqtt_payload p;
	struct mapping_sample s;
	const char *doc = "{\"v\":1,\"t\":\"2024-05-01T12:00:00.250+02:00\"}";

	(void)state;
	assert_int_equal(mqtt_parse_time("2024-05-01T12:00:00Z", 20, &u), 0);
	assert_true(u == 1714564800ULL * 1000000);
	assert_int_equal(mqtt_parse_time("2024-05-01T12:00:00.5Z", 22, &u), 0);
	assert_true(u == 1714564800ULL * 1000000 + 500000);
	assert_int_equal(mqtt_parse_time("2024-05-01 12:00:00", 19, &u), 0); /* no zone: UTC */
	assert_true(u == 1714564800ULL * 1000000);
	assert_int_equal(mqtt_parse_time("2024-05-01T14:00:00+0200", 24, &u), 0);
	assert_true(u == 1714564800ULL * 1000000);
	assert_int_equal(mqtt_parse_time("1714564800", 10, &u), 0);
	assert_true(u == 1714564800ULL * 1000000);
	assert_int_equal(mqtt_parse_time("1714564800123", 13, &u), 0);
	assert_true(u == 1714564800123ULL * 1000);
	assert_int_equal(mqtt_parse_time("2024-13-01T00:00:00Z", 20, &u), -EINVAL);
	assert_int_equal(mqtt_parse_time("2024-05-01T12:00:00Zjunk", 24, &u), -EINVAL);
	assert_int_equal(mqtt_parse_time("yesterday", 9, &u), -EINVAL);
	assert_int_equal(mqtt_parse_time("-5", 2, &u), -EINVAL);

	mqtt_payload_init(&p, doc, strlen(doc));
	assert_int_equal(mqtt_payload_decode(&src, 0, &p, &s, &u), 0);
	assert_true(u == (1714564800ULL - 0) * 1000000 - 2 * 3600 * 1000000ULL + 250000 + 0 * 1);
	mqtt_payload_clear(&p);
}

static void test_fill(void **state)
{
	struct mqtt_binding bound = { .n = 1 };
	char buf[128];

	(void)state;
	bound.v[0].name = "device";
	bound.v[0].value = "plug\"1";
	bound.v[0].len = 6;
	assert_int_equal(
		mqtt_fill_payload("{\"state\":\"{value}\"}", "ON", 2, true, &bound, buf, sizeof(buf)), 14);
	assert_string_equal(buf, "{\"state\":\"ON\"}");
	assert_true(mqtt_fill_payload("{\"s\":\"{value}\",\"d\":\"{device}\"}", "a\"b\\", 4, true, &bound,
				      buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"s\":\"a\\\"b\\\\\",\"d\":\"plug\\\"1\"}");
	assert_true(mqtt_fill_payload("{value}", "a\"b", 3, true, &bound, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "a\"b"); /* not JSON: as is */
	assert_true(mqtt_fill_payload("{\"level\":{value}} {x y}", "42.5", 4, false, &bound, buf,
				      sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"level\":42.5} {x y}");
	assert_int_equal(mqtt_fill_payload("{other}", "1", 1, false, &bound, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(mqtt_fill_payload("{value}{value}", "12345", 5, false, &bound, buf, 8), -ENOBUFS);
}

static void test_sample_text(void **state)
{
	char buf[64];
	bool str;
	struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
				    .value = { .type = LWM2M_TYPE_FLOAT, .f = 0.1 } };

	(void)state;
	assert_int_equal(mqtt_sample_text(&s, buf, sizeof(buf), &str), 3);
	assert_string_equal(buf, "0.1");
	assert_false(str);
	s.value = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = true };
	mqtt_sample_text(&s, buf, sizeof(buf), &str);
	assert_string_equal(buf, "true");
	s.value = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = -42 };
	mqtt_sample_text(&s, buf, sizeof(buf), &str);
	assert_string_equal(buf, "-42");
	s.value = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"OFF", 3 } };
	assert_int_equal(mqtt_sample_text(&s, buf, sizeof(buf), &str), 3);
	assert_true(str);
}

static void test_sanitize(void **state)
{
	char out[80];

	(void)state;
	assert_int_equal(mqtt_sanitize_name(NULL, "kitchen sensor", 14, out, sizeof(out)), 14);
	assert_string_equal(out, "kitchen_sensor");
	assert_int_equal(mqtt_sanitize_name("z-", "0x00158d0001", 12, out, sizeof(out)), 14);
	assert_string_equal(out, "z-0x00158d0001");
	assert_int_equal(mqtt_sanitize_name(NULL, "!!!", 3, out, sizeof(out)), 0);
	assert_int_equal(mqtt_sanitize_name(NULL, "_a", 2, out, sizeof(out)), 0); /* must start alnum */
	char longname[200];
	memset(longname, 'a', sizeof(longname));
	assert_int_equal(mqtt_sanitize_name(NULL, longname, sizeof(longname), out, sizeof(out)), 64);
}

struct collected {
	char text[2048];
};

static void collect(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	struct collected *c = ctx;
	size_t n = strlen(c->text);

	(void)sev;
	snprintf(c->text + n, sizeof(c->text) - n, "%s:%u:%u: %s\n", file, line, col, msg);
}

static int parse_yaml(enum mapping_role role, const char *yaml, struct collected *c, void **out)
{
	struct diag d = { .fn = collect, .ctx = c };
	struct ydoc *doc = NULL;
	int r;

	c->text[0] = '\0';
	assert_int_equal(ydoc_load_buffer("p.yaml", yaml, strlen(yaml), NULL, &d, &doc), 0);
	r = mqtt_source_ops.parse(role, ydoc_root(doc), &d, out);
	ydoc_free(doc);
	return r;
}

static void test_source_parse(void **state)
{
	struct collected c;
	void *out = NULL;
	struct mqtt_source *s;

	(void)state;
	assert_int_equal(
		parse_yaml(MAPPING_ROLE_READ, "{topic: \"z/{device}\", json: /a~1b, time: /ts}", &c, &out),
		0);
	s = out;
	assert_string_equal(s->pointer, "/a~1b");
	assert_string_equal(s->time_pointer, "/ts");
	assert_int_equal(s->format, MQTT_FORMAT_JSON);
	mqtt_source_ops.free(out);

	assert_int_equal(
		parse_yaml(MAPPING_ROLE_READ, "{topic: \"z/{device}\", format: text, json: /a}", &c, &out),
		-EINVAL);
	assert_non_null(strstr(c.text, "p.yaml:1:43: mqtt: 'json' needs format json (the format is text)"));
	assert_int_equal(parse_yaml(MAPPING_ROLE_READ, "{topic: \"z/+\"}", &c, &out), -EINVAL);
	assert_non_null(strstr(c.text, "p.yaml:1:9: mqtt: invalid topic 'z/+'"));
	assert_int_equal(parse_yaml(MAPPING_ROLE_READ, "{topc: x}", &c, &out), -EINVAL);
	assert_non_null(strstr(c.text, "did you mean 'topic'"));
	assert_int_equal(parse_yaml(MAPPING_ROLE_READ, "[1]", &c, &out), -EINVAL);
	assert_non_null(strstr(c.text, "must be a mapping with a 'topic'"));
	assert_int_equal(parse_yaml(MAPPING_ROLE_READ, "{topic: a, format: raw, json: x}", &c, &out),
			 -EINVAL);
	/* A value template: `template:` implies the format; refused forms name
	 * what is supported, at the key. */
	assert_int_equal(
		parse_yaml(MAPPING_ROLE_READ,
			   "{topic: \"tele/{device}/SENSOR\", template: \"{{ value_json.ENERGY.Power }}\"}",
			   &c, &out),
		0);
	s = out;
	assert_int_equal(s->format, MQTT_FORMAT_TEMPLATE);
	assert_true(mapping_template_uses_json(s->tpl));
	mqtt_source_ops.free(out);
	assert_int_equal(
		parse_yaml(MAPPING_ROLE_READ, "{topic: a, template: \"{{ value | lower }}\"}", &c, &out),
		-EINVAL);
	assert_non_null(strstr(c.text, "p.yaml:1:22: mqtt: unsupported template '{{ value | lower }}': "
				       "unsupported filter 'lower'"));
	assert_int_equal(parse_yaml(MAPPING_ROLE_READ, "{topic: a, format: text, template: \"{{ value }}\"}",
				    &c, &out),
			 -EINVAL);
	assert_non_null(strstr(c.text, "'template' needs format template (the format is text)"));
	assert_int_equal(parse_yaml(MAPPING_ROLE_READ, "{topic: a, format: template}", &c, &out), -EINVAL);
	assert_non_null(strstr(c.text, "format template needs a 'template:"));

	assert_int_equal(parse_yaml(MAPPING_ROLE_WRITE,
				    "{topic: \"z/{device}/set\", payload: '{\"s\":\"{value}\"}', "
				    "confirm: 2s}",
				    &c, &out),
			 0);
	s = out;
	assert_string_equal(s->payload, "{\"s\":\"{value}\"}");
	assert_int_equal(s->qos, 1);
	assert_true(s->confirm_usec == 2000000);
	mqtt_source_ops.free(out);
	assert_int_equal(
		parse_yaml(MAPPING_ROLE_WRITE, "{topic: \"z/{device}/set\", payload: '{args}'}", &c, &out),
		-EINVAL);
	assert_non_null(strstr(c.text, "unknown placeholder '{args}'"));
	assert_int_equal(parse_yaml(MAPPING_ROLE_EXECUTE, "{topic: \"c/{device}\", qos: 3}", &c, &out),
			 -EINVAL);
	assert_int_equal(parse_yaml(MAPPING_ROLE_EXECUTE, "{topic: \"c/{device}\"}", &c, &out), 0);
	s = out;
	assert_string_equal(s->payload, "{args}");
	mqtt_source_ops.free(out);
	mqtt_source_ops.free(NULL);
}

static void test_address(void **state)
{
	struct mqtt_binding b;
	char why[200];
	struct ydoc *doc = NULL;

	(void)state;
	assert_int_equal(ydoc_load_buffer("a", "{device: p1, ch: 0}", 19, NULL, NULL, &doc), 0);
	assert_int_equal(mqtt_address_binding(ydoc_root(doc), &b, why, sizeof(why)), 0);
	assert_int_equal(b.n, 2);
	assert_string_equal(b.v[1].name, "ch");
	ydoc_free(doc);
	assert_int_equal(ydoc_load_buffer("a", "a/b", 3, NULL, NULL, &doc), 0);
	assert_int_equal(mqtt_address_binding(ydoc_root(doc), &b, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "cannot be a topic level"));
	ydoc_free(doc);
	assert_int_equal(ydoc_load_buffer("a", "[1]", 3, NULL, NULL, &doc), 0);
	assert_int_equal(mqtt_address_binding(ydoc_root(doc), &b, why, sizeof(why)), -EINVAL);
	ydoc_free(doc);
}

/* One availability payload: what mqtt_avail_word() says, and the word (or
 * the reason) it gives back. */
static int avail(const struct mqtt_avail *a, const char *payload, char *word)
{
	struct mqtt_payload p;
	int r;

	mqtt_payload_init(&p, payload, strlen(payload));
	r = mqtt_avail_word(a, &p, word, 65);
	mqtt_payload_clear(&p);
	return r;
}

static void test_availability_words(void **state)
{
	char *on[] = { "online", "true", "1" }, *off[] = { "offline", "false", "0" };
	struct mqtt_avail a = { .online = on, .nonline = 3, .offline = off, .noffline = 3 };
	char w[65], longer[80];

	(void)state;
	/* Plain text (zigbee2mqtt 1.x, Tasmota LWT "Online"), trimmed, any case. */
	assert_int_equal(avail(&a, "online", w), 1);
	assert_int_equal(avail(&a, " Offline\r\n", w), 0);
	assert_string_equal(w, "Offline");
	assert_int_equal(avail(&a, "OFFLINE", w), 0);
	/* JSON scalars: Shelly's true/false, a number, a JSON string. */
	assert_int_equal(avail(&a, "true", w), 1);
	assert_int_equal(avail(&a, "0", w), 0);
	assert_int_equal(avail(&a, "\"online\"", w), 1);
	/* A document needs the pointer (zigbee2mqtt 2.x {"state":"online"}). */
	assert_int_equal(avail(&a, "{\"state\":\"online\"}", w), -EINVAL);
	assert_string_equal(w, "a JSON document, and no json: pointer");
	a.pointer = "/state";
	assert_int_equal(avail(&a, "{\"state\":\"online\"}", w), 1);
	assert_int_equal(avail(&a, "{\"state\":\"offline\",\"x\":1}", w), 0);
	assert_int_equal(avail(&a, "{\"status\":\"offline\"}", w), -EINVAL);
	assert_string_equal(w, "no /state in the JSON document");
	assert_int_equal(avail(&a, "{\"state\":{\"a\":1}}", w), -EINVAL);
	assert_string_equal(w, "not a word");
	assert_int_equal(avail(&a, "{\"state\":1.5}", w), -EINVAL);
	assert_int_equal(avail(&a, "online", w), 1); /* plain text still works */
	/* Neither word: the word comes back for the message. */
	assert_int_equal(avail(&a, "maybe", w), -EINVAL);
	assert_string_equal(w, "maybe");
	assert_int_equal(avail(&a, "", w), -EINVAL);
	assert_string_equal(w, "empty");
	assert_int_equal(avail(&a, "on\x01line", w), -EINVAL);
	assert_string_equal(w, "not a word");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(avail(&a, longer, w), -EINVAL);
	assert_string_equal(w, "too long for a word");
	/* Words of the configuration. */
	char *up[] = { "up" }, *down[] = { "down", "lost" };
	struct mqtt_avail b = { .online = up, .nonline = 1, .offline = down, .noffline = 2 };
	assert_int_equal(avail(&b, "LOST", w), 0);
	assert_int_equal(avail(&b, "online", w), -EINVAL);
}

/* protocol: auto by default, 5 and 3.1.1 by name, anything else named
 * with what is accepted; max_payload with its default. */
static void test_conf_protocol(void **state)
{
	static const struct {
		const char *yaml;
		int protocol;
	} ok[] = {
		{ "type: mqtt\nhost: h\n", MQTT_PROTO_AUTO },
		{ "type: mqtt\nhost: h\nprotocol: auto\n", MQTT_PROTO_AUTO },
		{ "type: mqtt\nhost: h\nprotocol: 5\n", MQTT_PROTO_V5 },
		{ "type: mqtt\nhost: h\nprotocol: '5.0'\n", MQTT_PROTO_V5 },
		{ "type: mqtt\nhost: h\nprotocol: 3.1.1\n", MQTT_PROTO_V311 },
	};
	struct mqtt_conf c;
	struct ydoc *doc = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(ydoc_load_buffer("b.yaml", ok[i].yaml, strlen(ok[i].yaml), NULL, NULL, &doc),
				 0);
		assert_int_equal(mqtt_conf_load("b", ydoc_root(doc), &c), 0);
		assert_int_equal(c.protocol, ok[i].protocol);
		assert_int_equal(c.max_payload, 256 << 10);
		mqtt_conf_clear(&c);
		doc = ydoc_free(doc);
	}
	const char *bad = "type: mqtt\nhost: h\nprotocol: 3\n";
	assert_int_equal(ydoc_load_buffer("b.yaml", bad, strlen(bad), NULL, NULL, &doc), 0);
	assert_int_equal(mqtt_conf_load("b", ydoc_root(doc), &c), -EINVAL);
	ydoc_free(doc);
}

/* zigbee2mqtt's OTA messages as its otaUpdate.ts publishes them. */
static void test_z2m_ota_parsers(void **state)
{
	struct z2m_ota_response r;
	struct z2m_ota_update u;
	struct json_object *doc;
	char base[64], kind[8];

	(void)state;
	doc = json_tokener_parse("{\"data\":{\"id\":\"plug1\",\"update_available\":true},\"status\":\"ok\","
				 "\"transaction\":\"fieldgate-plug1-1\"}");
	assert_int_equal(z2m_ota_response_parse(doc, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.available, 1);
	assert_string_equal(r.id, "plug1");
	assert_string_equal(r.transaction, "fieldgate-plug1-1");
	json_object_put(doc);
	doc = json_tokener_parse("{\"data\":{\"id\":\"plug1\",\"from\":{\"software_build_id\":\"1.0\"},"
				 "\"to\":{\"software_build_id\":\"2.1.0\",\"date_code\":\"20240601\"}},"
				 "\"status\":\"ok\",\"transaction\":7}");
	assert_int_equal(z2m_ota_response_parse(doc, &r), 0);
	assert_int_equal(r.available, -1);
	assert_string_equal(r.version, "2.1.0");
	assert_string_equal(r.transaction, "7"); /* a number echoed as its text */
	json_object_put(doc);
	doc = json_tokener_parse(
		"{\"data\":{},\"status\":\"error\",\"error\":\"Device 'x' does not exist\"}");
	assert_int_equal(z2m_ota_response_parse(doc, &r), 0);
	assert_false(r.ok);
	assert_string_equal(r.error, "Device 'x' does not exist");
	assert_string_equal(r.id, "");
	json_object_put(doc);
	doc = json_tokener_parse("{\"data\":{},\"status\":\"maybe\"}");
	assert_int_equal(z2m_ota_response_parse(doc, &r), -EBADMSG);
	json_object_put(doc);
	doc = json_tokener_parse("[1]");
	assert_int_equal(z2m_ota_response_parse(doc, &r), -EBADMSG);
	assert_int_equal(z2m_ota_state_parse(doc, &u), -EBADMSG);
	json_object_put(doc);

	doc = json_tokener_parse(
		"{\"state\":\"ON\",\"update\":{\"state\":\"updating\",\"progress\":42.5,"
		"\"remaining\":120,\"installed_version\":16777241,\"latest_version\":null}}");
	assert_int_equal(z2m_ota_state_parse(doc, &u), 0);
	assert_int_equal(u.state, Z2M_OTA_FIELD_UPDATING);
	assert_true(u.has_progress);
	assert_true(u.progress == 42.5);
	assert_string_equal(u.installed, "16777241");
	json_object_put(doc);
	doc = json_tokener_parse("{\"update_available\":true}"); /* the legacy API alone */
	assert_int_equal(z2m_ota_state_parse(doc, &u), 0);
	assert_int_equal(u.state, Z2M_OTA_FIELD_AVAILABLE);
	json_object_put(doc);
	doc = json_tokener_parse("{\"state\":\"ON\",\"update\":{\"state\":\"scheduled\",\"progress\":300}}");
	assert_int_equal(z2m_ota_state_parse(doc, &u), -ENOENT); /* neither word, nor a percentage */
	assert_false(u.has_progress);
	json_object_put(doc);

	static const char t1[] = "home/z2m/bridge/response/device/ota_update/update";
	assert_true(z2m_ota_response_topic(t1, strlen(t1), base, sizeof(base), kind, sizeof(kind)));
	assert_string_equal(base, "home/z2m");
	assert_string_equal(kind, "update");
	static const char *const no[] = { "zigbee2mqtt/bridge/response/device/ota_update/schedule",
					  "/bridge/response/device/ota_update/check",
					  "zigbee2mqtt/bridge/request/device/ota_update/check",
					  "zigbee2mqtt/plug1" };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(
			z2m_ota_response_topic(no[i], strlen(no[i]), base, sizeof(base), kind, sizeof(kind)));
}

/* The growing index (mqtt_index.c): every node found by its key after the
 * table grew many times, nodes of one key in the order they were added,
 * deletions leave the others. */
struct inode {
	char key[16];
	int seq;
	struct inode *next;
};

static const char *inode_key(const void *node, size_t *len)
{
	const struct inode *n = node;

	*len = strlen(n->key);
	return n->key;
}

static void test_index(void **state)
{
	enum { N = 5000, KEYS = 1700 };
	struct inode *v = calloc(N, sizeof(*v));
	struct mqtt_index x;

	(void)state;
	assert_non_null(v);
	mqtt_index_init(&x, offsetof(struct inode, next), inode_key);
	assert_null(mqtt_index_first(&x, "k0", 2)); /* empty: no buckets yet */
	for (int i = 0; i < N; i++) {
		snprintf(v[i].key, sizeof(v[i].key), "k%d", i % KEYS);
		v[i].seq = i;
		assert_int_equal(mqtt_index_add(&x, &v[i]), 0);
	}
	assert_int_equal(x.count, N);
	assert_true(x.nbucket >= N / 4); /* grew with its nodes */
	for (int k = 0; k < KEYS; k++) {
		char key[16];
		int last = -1, found = 0;

		snprintf(key, sizeof(key), "k%d", k);
		for (struct inode *n = mqtt_index_first(&x, key, strlen(key)); n; n = n->next)
			if (!strcmp(n->key, key)) {
				assert_true(n->seq > last); /* in the order added */
				last = n->seq;
				found++;
			}
		assert_int_equal(found, (N - k + KEYS - 1) / KEYS);
	}
	/* Remove every node of even seq: the odd ones stay, still in order. */
	for (int i = 0; i < N; i += 2)
		mqtt_index_del(&x, &v[i]);
	assert_int_equal(x.count, N / 2);
	for (int i = 1; i < N; i += 2) {
		int seen = 0;

		for (struct inode *n = mqtt_index_first(&x, v[i].key, strlen(v[i].key)); n; n = n->next) {
			assert_true(n->seq % 2 == 1);
			seen += n == &v[i];
		}
		assert_int_equal(seen, 1);
	}
	mqtt_index_clear(&x);
	assert_null(mqtt_index_first(&x, "k1", 2));
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_parse),
		cmocka_unit_test(test_template_match),
		cmocka_unit_test(test_filter_expand),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_text_raw),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_sample_text),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_source_parse),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_availability_words),
		cmocka_unit_test(test_conf_protocol),
		cmocka_unit_test(test_z2m_ota_parsers),
		cmocka_unit_test(test_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
