/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus bridge's parsers on arbitrary YAML. The first byte picks what
 * the rest is: a profile loaded with the Modbus source parser (source:,
 * write:, execute: and the point cross-checks), a bridge body for verify
 * (then parse, when valid), or a device address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/modbus/mb_source.h"
#include "common/schema.h"

static void discard(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
}

static const struct mapping_source_ops *const kinds[] = { &mb_source_ops, NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lwm2m_registry *reg;
	struct diag d = { .fn = discard };
	struct schema_ctx ctx = { .diag = &d };
	struct ydoc *doc = NULL;
	uint8_t mode;

	if (size < 1 || size > 16384)
		return 0;
	mode = data[0] % 3;
	data++;
	size--;
	if (mode == 0) {
		const struct mapping_profile *p = NULL;
		struct mapping_set *set;

		if (!reg)
			reg = lwm2m_registry_new();
		set = mapping_set_new(reg, kinds, "/nonexistent");
		if (!set)
			return 0;
		if (mapping_set_load_buffer(set, "f", "f.yaml", data, size, &d, &p) == 0) {
			for (size_t i = 0; i < mapping_profile_npoints(p); i++) {
				const struct mapping_point *pt = mapping_profile_point(p, i);
				if (pt->source && mb_point_count(pt->source, &pt->xf) > 125)
					abort(); /* the check must have refused it */
			}
		}
		mapping_set_free(set);
		return 0;
	}
	if (ydoc_load_buffer("f.yaml", data, size, NULL, &d, &doc) < 0)
		return 0;
	if (mode == 1) {
		if (mb_conf_verify(&ctx, ydoc_root(doc)) == 0) {
			struct mb_conf c;
			if (mb_conf_parse(ydoc_root(doc), &c) < 0 || c.has_tcp == c.has_serial)
				abort(); /* verified bodies parse, with exactly one link */
		}
	} else {
		struct mb_addr a;
		(void)mb_addr_parse(&ctx, ydoc_root(doc), &a);
	}
	ydoc_free(doc);
	return 0;
}
