/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge kind "plain": the least a kind can be, and one that lives
 * here only, registered like any other (BRIDGE_KIND_REGISTER) in
 * fieldgate-fake. It has no read, write or execute (NULL operations: the
 * core answers such requests 4.05), a body of its own (`value:`, a number,
 * checked by verify at file:line:col), profile sources {field: NAME}; each
 * source point gets one sample of `value` when the core adds it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "common/schema.h"

struct plain_bridge {
	struct bridge base;
	double value;
};

_Static_assert(offsetof(struct plain_bridge, base) == 0, "struct bridge comes first");
#define PLAIN(b) bridge_container(b, struct plain_bridge)

static int src_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	const struct ynode *f = node ? ynode_map_get(node, "field") : NULL;

	(void)role;
	if (!node)
		return 0;
	if (!f || f->kind != YNODE_SCALAR) {
		diag_report(diag, DIAG_ERROR, node->file, node->line, node->col, "plain: missing 'field'");
		return -EINVAL;
	}
	*out = strdup(f->scalar.str);
	return *out ? 0 : -ENOMEM;
}

static void src_free(void *p)
{
	free(p);
}

static const struct mapping_source_ops plain_source = { .kind = "plain",
							.parse = src_parse,
							.free = src_free };

static int body_value(const struct ynode *body, double *out)
{
	const struct ynode *v = ynode_map_get(body, "value");
	char *end;

	if (!v || v->kind != YNODE_SCALAR)
		return -EINVAL;
	*out = strtod(v->scalar.str, &end);
	return end != v->scalar.str && !*end ? 0 : -EINVAL;
}

static int plain_verify(struct schema_ctx *ctx, const struct ynode *body)
{
	double v;

	if (body_value(body, &v) < 0) {
		const struct ynode *at = ynode_map_get(body, "value");
		schema_error(ctx, at ? at : body, "plain bridge: 'value' must be a number");
		return -EINVAL;
	}
	return 0;
}

static int plain_init(struct bridge *base, const struct ynode *body)
{
	return body_value(body, &PLAIN(base)->value);
}

static int plain_add_point(struct bridge *base, const struct bridge_point *p)
{
	struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE,
				    .value = { .type = LWM2M_TYPE_FLOAT, .f = PLAIN(base)->value } };

	if (p->pt->source)
		(void)bridge_sample(base, p->handle, &s, 0);
	return 0;
}

static const struct bridge_kind bridge_kind_plain = {
	.name = "plain",
	.size = sizeof(struct plain_bridge),
	.source_ops = &plain_source,
	.verify = plain_verify,
	.init = plain_init,
	.add_point = plain_add_point,
};
BRIDGE_KIND_REGISTER(bridge_kind_plain)
