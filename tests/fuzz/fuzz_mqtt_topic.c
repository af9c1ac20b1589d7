/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Topic templates and filters on arbitrary text: the input is
 * "template\ntopic\nvalue" (missing parts empty; NUL counts as a newline). The template is parsed
 * (it must then round-trip into a filter that matches what it matched),
 * matched against the topic with and without a {device} bound to value,
 * expanded for publishing, and both strings are used as MQTT filters.
 */
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/mqtt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *tmpl, *topic, *value, *nl;
	struct mqtt_template t;
	struct mqtt_binding caps, bound = { .n = 1 };
	char why[200], buf[2048];
	const char *missing;

	if (size > 4096)
		return 0;
	in = malloc(size + 3);
	if (!in)
		return 0;
	memcpy(in, data, size);
	/* Strings are C strings: a NUL separates like a newline. */
	for (size_t i = 0; i < size; i++)
		if (in[i] == '\0')
			in[i] = '\n';
	in[size] = '\n';
	in[size + 1] = '\n';
	in[size + 2] = '\0';
	tmpl = in;
	nl = strchr(tmpl, '\n');
	*nl = '\0';
	topic = nl + 1;
	nl = strchr(topic, '\n');
	*nl = '\0';
	value = nl + 1;
	nl = strchr(value, '\n');
	if (nl)
		*nl = '\0';
	bound.v[0].name = "device";
	bound.v[0].value = value;
	bound.v[0].len = strlen(value);

	if (mqtt_template_parse(tmpl, &t, why, sizeof(why)) == 0) {
		bool m = mqtt_template_match(&t, topic, strlen(topic), NULL, &caps);
		if (mqtt_template_filter(&t, NULL, buf, sizeof(buf)) >= 0 && m && topic[0] != '$' &&
		    !mqtt_filter_match(buf, topic, strlen(topic)))
			abort(); /* a topic the template matches reaches its filter ($-topics aside,
				    MQTT 4.7.2) */
		(void)mqtt_template_match(&t, topic, strlen(topic), &bound, NULL);
		if (mqtt_template_filter(&t, &bound, buf, sizeof(buf)) >= 0) {
			(void)mqtt_filter_covers(buf, topic);
			(void)mqtt_filter_covers(topic, buf);
		}
		(void)mqtt_template_expand(&t, &bound, buf, sizeof(buf), &missing);
		(void)mqtt_fill_payload(tmpl, value, strlen(value), true, &bound, buf, sizeof(buf));
		mqtt_template_clear(&t);
	}
	(void)mqtt_filter_match(tmpl, topic, strlen(topic));
	(void)mqtt_sanitize_name("p-", topic, strlen(topic), buf, 80);
	free(in);
	return 0;
}
