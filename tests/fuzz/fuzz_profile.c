/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The profile loader on arbitrary YAML: parse, schema, registry checks,
 * includes (a fixed base profile is in the set as "base"), a test source
 * kind; then every loaded point decodes a sample cut from the input and
 * encodes the result back, and the profile is instantiated into a store.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "mappings/mapping.h"

static int src_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	int64_t addr;

	(void)role;
	if (!node)
		return 0;
	if (node->kind != YNODE_SCALAR || schema_parse_int(node->scalar.str, &addr) < 0) {
		diag_report(diag, DIAG_ERROR, node->file, node->line, node->col, "source must be an integer");
		return -EINVAL;
	}
	*out = malloc(sizeof(int64_t));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, &addr, sizeof(addr));
	return 0;
}

static int src_check(const struct mapping_point *pt, struct diag *diag)
{
	(void)diag;
	return pt->source ? 0 : -EINVAL;
}

/* `firmware: fw`: Object 5 declared by the engine (an integer source each). */
static int src_firmware(const char *what, enum mapping_role role, uint16_t rid, void **out, char *why,
			size_t why_size)
{
	int64_t addr = rid;

	(void)role;
	if (strcmp(what, "fw") != 0) {
		snprintf(why, why_size, "only 'fw'");
		return -EINVAL;
	}
	*out = malloc(sizeof(addr));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, &addr, sizeof(addr));
	return 0;
}

static const struct mapping_source_ops test_ops = { "test", src_parse, free, src_check, NULL, src_firmware };
static const struct mapping_source_ops *const kinds[] = { &test_ops, NULL };

static const char base_yaml[] = "bridge: test\n"
				"objects:\n"
				"  /3/0:\n"
				"    0: { const: ACME }\n"
				"    2: { device: serial }\n"
				"  /3303/0:\n"
				"    5700: { source: 1, raw: int16, scale: 0.1 }\n";

static void discard(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
}

static const char *var(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] == 's' ? "42" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lwm2m_registry *reg;
	struct diag diag = { .fn = discard };
	const struct mapping_profile *p = NULL;
	struct mapping_set *set;

	if (!reg)
		reg = lwm2m_registry_new(); /* kept for the process: definitions are read-only */
	if (!reg)
		return 0;
	set = mapping_set_new(reg, kinds, "/nonexistent-fieldgate-profiles");
	if (!set)
		return 0;
	if (mapping_set_load_buffer(set, "base", "base.yaml", base_yaml, sizeof(base_yaml) - 1, &diag, &p) !=
	    0)
		abort();
	int r = mapping_set_load_buffer(set, "fuzz", "fuzz.yaml", data, size, &diag, &p);
	if (r == 0) {
		if (!p || diag.errors)
			abort(); /* success means nothing was reported */
		for (size_t i = 0; i < mapping_profile_npoints(p); i++) {
			const struct mapping_point *pt = mapping_profile_point(p, i);
			struct mapping_sample s = { .kind = MAPPING_SAMPLE_BYTES,
						    .bytes = data,
						    .len = size < 8 ? size : 8 };
			struct lwm2m_value v = { 0 };
			uint8_t buf[256];
			size_t sz = mapping_raw_size((enum mapping_raw)pt->xf.raw, pt->xf.width);
			if (sz && size >= sz)
				s.len = sz;
			if (pt->xf.raw == MAPPING_RAW_VALUE) {
				s.kind = MAPPING_SAMPLE_VALUE;
				s.value = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
								.bytes = { data, size < 16 ? size : 16 } };
			}
			if (mapping_decode(pt, &s, &v) == 0) {
				struct mapping_sample o;
				mapping_encode(pt, &v, buf, sizeof(buf), &o);
			}
		}
		struct lwm2m_store *st = lwm2m_store_new(reg);
		if (st)
			mapping_instantiate(p, st, var, NULL);
		lwm2m_store_free(st);
	} else if (p) {
		abort(); /* failure leaves *out NULL */
	}
	mapping_set_free(set);
	return 0;
}
