/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zigbee2mqtt's OTA messages (bridges/mqtt/z2m_ota.c) on arbitrary input:
 * the first byte picks the response kind and the order of the requests,
 * the rest is one message, read as a response topic, as a response and as
 * the device's state message, and fed to a device's state machine between
 * a check, an Update and a Cancel, as the bridge would. Nothing may crash,
 * and State and Update Result stay in the specification's ranges.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bridges/mqtt/mqtt_auto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void changed(void *ud, uint16_t rid)
{
	(void)ud;
	(void)rid;
}

static int publish(void *ud, const char *topic, const char *payload)
{
	(void)ud;
	return topic[0] && payload[0] ? 0 : -EINVAL;
}

static sd_event *loop(void *ud)
{
	return ud;
}

static void check_values(const struct z2m_ota *o)
{
	struct mapping_sample s;

	if (z2m_ota_get(o, 3, &s) < 0 || s.value.i < 0 || s.value.i > 3)
		abort();
	if (z2m_ota_get(o, 5, &s) < 0 || s.value.i < 0 || s.value.i > 10)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static sd_event *ev;
	struct z2m_ota_response r;
	struct z2m_ota_update u;
	struct json_tokener *tok;
	struct json_object *doc;
	struct z2m_ota *o;
	char base[64], kind[8], note[64];
	const char *k;
	uint8_t sel;

	if (size < 1 || (!ev && sd_event_new(&ev) < 0))
		return 0;
	sel = data[0];
	data++;
	size--;
	(void)z2m_ota_response_topic((const char *)data, size, base, sizeof(base), kind, sizeof(kind));
	tok = json_tokener_new_ex(64);
	if (!tok)
		return 0;
	doc = json_tokener_parse_ex(tok, (const char *)data, (int)(size > 1 << 20 ? 1 << 20 : size));
	json_tokener_free(tok);
	(void)z2m_ota_state_parse(doc, &u);
	const struct z2m_ota_host host = { .ud = ev, .changed = changed, .publish = publish, .loop = loop };
	o = z2m_ota_new("zigbee2mqtt", "dev", "dev", "fuzz", 1000000, &host);
	if (!o) {
		json_object_put(doc);
		return 0;
	}
	struct lwm2m_value uri = { .type = LWM2M_TYPE_STRING };
	uri.bytes.ptr = (const uint8_t *)"zigbee2mqtt:ota";
	uri.bytes.len = 15;
	struct mapping_sample w = { .kind = MAPPING_SAMPLE_VALUE, .value = uri };
	k = sel & 1 ? "update" : "check";
	if (sel & 2)
		z2m_ota_state_message(o, doc);
	(void)z2m_ota_write(o, 1, &w);
	check_values(o);
	if (z2m_ota_response_parse(doc, &r) == 0)
		(void)z2m_ota_response(o, k, &r);
	z2m_ota_state_message(o, doc);
	check_values(o);
	(void)z2m_ota_execute(o, sel & 4 ? 10 : 2);
	if (z2m_ota_response_parse(doc, &r) == 0)
		(void)z2m_ota_response(o, "update", &r);
	check_values(o);
	(void)z2m_ota_note(o, note, sizeof(note));
	z2m_ota_free(o);
	json_object_put(doc);
	return 0;
}
