/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mqtt part of profiles on arbitrary YAML: the input is loaded as a
 * profile of bridge kind mqtt (sources, writes, executes parsed and
 * checked by mqtt_source_ops), and the document's root is checked as a
 * device address (verify_address). A profile that loads has its sources'
 * templates turned into filters.
 */
#include <stdlib.h>
#include <string.h>

#include "bridges/mqtt/mqtt_internal.h"
#include "common/yamldoc.h"

static const struct mapping_source_ops *const kinds[] = { &mqtt_source_ops, NULL };

static void discard(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lwm2m_registry *reg;
	struct diag diag = { .fn = discard };
	const struct mapping_profile *p = NULL;
	struct mapping_set *set;
	struct ydoc *doc = NULL;

	if (!reg)
		reg = lwm2m_registry_new(); /* kept for the process: definitions are read-only */
	if (!reg)
		return 0;
	set = mapping_set_new(reg, kinds, "/nonexistent-fieldgate-profiles");
	if (!set)
		return 0;
	if (mapping_set_load_buffer(set, "fuzz", "fuzz.yaml", data, size, &diag, &p) == 0) {
		if (!p || diag.errors)
			abort();
		for (size_t i = 0; i < mapping_profile_npoints(p); i++) {
			const struct mapping_point *pt = mapping_profile_point(p, i);
			const struct mqtt_source *s = pt->source;
			char buf[2048];
			if (s && mqtt_template_filter(&s->topic, NULL, buf, sizeof(buf)) < 0)
				abort(); /* an unbound template always gives a filter */
		}
	} else if (p) {
		abort();
	}
	mapping_set_free(set);
	if (ydoc_load_buffer("addr.yaml", data, size, NULL, NULL, &doc) == 0) {
		struct mqtt_binding b;
		char why[200];
		(void)mqtt_address_binding(ydoc_root(doc), &b, why, sizeof(why));
		ydoc_free(doc);
	}
	return 0;
}
