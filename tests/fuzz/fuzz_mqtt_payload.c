/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MQTT bridge's payload decoders on arbitrary messages: the first byte
 * picks the format and the pointers (JSON, text, raw at an offset), the
 * rest is the payload. Every decoded sample goes through a transform to
 * each resource type, as the gateway core would; timestamps are parsed from
 * the payload text too, and the payload becomes a {value} of a JSON
 * template, and an availability word.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/mqtt_conf.h"
#include "bridges/mqtt/mqtt_internal.h"

static const char *const pointers[] = { "",   "/temperature", "/ENERGY/Power", "/a/0/b", "/~0~1",
					"/0", "/state",       "/a/b/c/d/e/f",  "/",      "/x~1y/1" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqtt_source src = { 0 };
	struct mqtt_payload p;
	struct mapping_sample s;
	struct mapping_transform xf = { 0 };
	uint64_t t;
	uint8_t sel;
	static const uint8_t types[] = { LWM2M_TYPE_FLOAT, LWM2M_TYPE_INTEGER, LWM2M_TYPE_UNSIGNED,
					 LWM2M_TYPE_BOOLEAN, LWM2M_TYPE_STRING };
	char buf[512];

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	src.format = (uint8_t)(sel % 3);
	src.pointer = (char *)pointers[(sel >> 2) % (sizeof(pointers) / sizeof(pointers[0]))];
	src.time_pointer = (sel & 0x80) ? (char *)"/t" : NULL;
	src.offset = (sel >> 4) & 7;
	mqtt_payload_init(&p, data, size);
	if (mqtt_payload_decode(&src, (sel >> 5) & 1 ? 2 : 0, &p, &s, &t) == 0) {
		if (s.kind == MAPPING_SAMPLE_BYTES) {
			xf.raw = s.len >= 4 ? MAPPING_RAW_UINT32 : MAPPING_RAW_STRING;
			xf.order = (uint8_t)(sel & 3);
		}
		for (size_t i = 0; i < sizeof(types); i++) {
			struct lwm2m_value v;
			(void)mapping_transform_decode(&xf, (enum lwm2m_type)types[i], &s, &v);
		}
		if (s.kind == MAPPING_SAMPLE_VALUE) {
			bool str;
			char text[256];
			int n = mqtt_sample_text(&s, text, sizeof(text), &str);
			if (n >= 0)
				(void)mqtt_fill_payload("{\"state\":\"{value}\",\"d\":{value}}", text,
							(size_t)n, str, NULL, buf, sizeof(buf));
		}
	}
	/* The same JSON document serves a second pointer. */
	src.format = MQTT_FORMAT_JSON;
	src.pointer = (char *)pointers[sel % (sizeof(pointers) / sizeof(pointers[0]))];
	(void)mqtt_payload_decode(&src, 0, &p, &s, &t);
	/* And says whether a device is online (JSON parsed once, shared). */
	char *on[] = { "online", "true" }, *off[] = { "offline", "0" }, word[65];
	struct mqtt_avail av = { .pointer = sel & 0x40 ? src.pointer : NULL,
				 .online = on,
				 .nonline = 2,
				 .offline = off,
				 .noffline = 2 };
	int w = mqtt_avail_word(&av, &p, word, sizeof(word));
	if (w < -EINVAL || w > 1 || strlen(word) >= sizeof(word))
		abort();
	mqtt_payload_clear(&p);
	(void)mqtt_parse_time((const char *)data, size, &t);
	(void)mqtt_fill_payload("{value}", (const char *)data, size, true, NULL, buf, sizeof(buf));
	return 0;
}
