/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value templates (mappings/template.c): the input is a template, a NUL,
 * then a payload. The template is compiled (most inputs are refused, with
 * a reason that must be a NUL-terminated text); a compiled one is rendered
 * on the payload through the MQTT bridge's value_json (json-c), and once
 * more through the bridge's whole decode path, as a profile source would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/mqtt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	const uint8_t *payload = nul ? nul + 1 : data + size;
	size_t plen = nul ? size - tlen - 1 : 0;
	struct mapping_template *t = NULL;
	char *text = malloc(tlen + 1), why[200], out[64];

	if (!text)
		return 0;
	memcpy(text, data, tlen);
	text[tlen] = '\0';
	if (mapping_template_compile(text, &t, why, sizeof(why)) == 0) {
		struct mqtt_payload pl;
		struct mqtt_source src = { .format = MQTT_FORMAT_TEMPLATE, .tpl = t };
		struct mapping_sample s;
		uint64_t time;

		mqtt_payload_init(&pl, payload, plen);
		(void)mapping_template_render(t, (const char *)payload, plen, mqtt_template_json, &pl, out,
					      sizeof(out));
		if (mqtt_payload_decode(&src, 0, &pl, &s, &time) == 0 &&
		    (s.value.bytes.len >= sizeof(pl.text) || s.value.bytes.ptr != (const uint8_t *)pl.text))
			abort();
		mqtt_payload_clear(&pl);
		mapping_template_free(t);
	} else if (strlen(why) >= sizeof(why))
		abort();
	free(text);
	return 0;
}
