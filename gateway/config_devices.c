/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridges and devices sections and the root of fieldgate.yaml, with
 * the whole-file rules (unique names, endpoint names, bridges that exist).
 */
#include "gateway/gateway.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "common/log.h"
#include "lwm2m/lwm2m.h"
#include "bridges/bridge.h"
#include "mappings/mapping.h"
#include "config_internal.h"

#define GW_OFF(f) offsetof(struct gw_config, f)

/* The `type:` words: the kinds this source tree has, built in or not
 * (bridges/bridge.h), each word's value its index. */
static void bridge_type_words(struct schema_enum_word *words, size_t max)
{
	size_t n = 0;

	for (const char *name; n + 1 < max && (name = bridge_kind_name(n));)
		words[n] = (struct schema_enum_word){ .word = name, .value = (int)n }, n++;
	words[n] = (struct schema_enum_word){ NULL };
}

static void free_list(void *target)
{
	struct schema_list *l = target;
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* bridges: a mapping of instance name -> body with a `type:`. Only the name
 * and the type are checked here: the body belongs to the bridge. */
static int parse_bridges(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	struct schema_enum_word words[BRIDGE_KINDS_MAX + 1];
	const struct schema_key type_key = {
		.name = "type", .kind = SCHEMA_ENUM, .required = true, .words = words
	};
	struct schema_list *l = t;
	struct gw_bridge *items;
	char w[600], list[512] = "";
	int ret = 0;

	(void)k;
	bridge_type_words(words, sizeof(words) / sizeof(words[0]));
	for (size_t i = 0, off = 0; words[i].word && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", words[i].word);
	if (ynode_is_null(n))
		return 0;
	if (n->kind != YNODE_MAP) {
		schema_error(ctx, n, "%s must be a mapping, got %s", schema_where(ctx, w, sizeof(w)),
			     ynode_describe(n));
		return -EINVAL;
	}
	if (n->map.n == 0)
		return 0;
	items = calloc(n->map.n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	l->items = items;
	for (size_t i = 0; i < n->map.n; i++) {
		const struct ynode *key = ynode_map_key(n, i), *body = ynode_map_value(n, i);
		struct gw_bridge *b = &items[l->n++];
		size_t mark = schema_path_push_key(ctx, key->scalar.str);
		const struct ynode *type;

		b->name = key->scalar.str;
		b->body = body;
		if (!gw_name_is_valid(b->name)) {
			schema_error(
				ctx, key,
				"invalid bridge name '%s': use 1 to %d letters, digits, '.', '_' or '-', "
				"starting with a letter or digit",
				b->name, GW_NAME_MAX);
			ret = -EINVAL;
		}
		if (body->kind != YNODE_MAP) {
			schema_error(ctx, body, "%s must be a mapping with a 'type', got %s",
				     schema_where(ctx, w, sizeof(w)), ynode_describe(body));
			ret = -EINVAL;
		} else if (!(type = ynode_map_get(body, "type"))) {
			schema_error(ctx, body, "missing key 'type' in %s (expected one of: %s)",
				     schema_where(ctx, w, sizeof(w)), list);
			ret = -EINVAL;
		} else {
			size_t m2 = schema_path_push_key(ctx, "type");
			int word = -1;
			if (schema_parse_value(ctx, &type_key, type, &word) < 0)
				ret = -EINVAL;
			schema_path_pop(ctx, m2);
			b->type = word >= 0 ? words[word].word : NULL;
			b->kind = b->type ? bridge_kind_find(b->type) : NULL;
			if (b->type && !b->kind) {
				schema_error(ctx, type,
					     "bridge type '%s' is not available in this build of fieldgate",
					     b->type);
				ret = -EINVAL;
			} else if (b->kind && b->kind->verify && b->kind->verify(ctx, body) < 0)
				ret = -EINVAL; /* the bridge reported why */
		}
		schema_path_pop(ctx, mark);
	}
	return ret;
}

static int parse_poll(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	char w[600];

	(void)k;
	if (*(uint64_t *)t == 0) {
		schema_error(ctx, n, "%s must be more than 0", schema_where(ctx, w, sizeof(w)));
		return -EINVAL;
	}
	return 0;
}

static int check_device(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct gw_device *d = obj;

	d->node = map;
	if (schema_key_ok(ctx, "psk_identity") && schema_key_ok(ctx, "psk_key") &&
	    !d->psk_identity != !d->psk_key) {
		const struct ynode *at = ynode_map_get(map, d->psk_identity ? "psk_identity" : "psk_key");
		schema_error(ctx, at ? at : map, "'psk_identity' and 'psk_key' go together: '%s' is missing",
			     d->psk_identity ? "psk_key" : "psk_identity");
	}
	if (schema_key_ok(ctx, "bridge") && d->bridge && !ynode_map_get(map, "address"))
		schema_error(ctx, map,
			     "missing key 'address' (required with a bridge): the device's field "
			     "address on bridge '%s'",
			     d->bridge);
	return 0;
}

#define DV_OFF(f) offsetof(struct gw_device, f)

static const struct schema_key device_keys[] = {
	{ .name = "name",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = DV_OFF(name),
	  .parse = gwc_check_name,
	  .doc = "unique, endpoint-safe: {device} in the endpoint template, the Object 25 prefix" },
	{ .name = "bridge", .kind = SCHEMA_STRING, .offset = DV_OFF(bridge), .doc = "a name of bridges:" },
	{ .name = "address",
	  .kind = SCHEMA_NODE,
	  .offset = DV_OFF(address),
	  .node_kind = -1,
	  .doc = "field address (unit id, topic capture, MAC...): checked by the bridge" },
	{ .name = "profile", .kind = SCHEMA_STRING, .required = true, .offset = DV_OFF(profile) },
	{ .name = "endpoint",
	  .kind = SCHEMA_STRING,
	  .offset = DV_OFF(endpoint),
	  .parse = gwc_check_name,
	  .doc = "endpoint name instead of the template's" },
	{ .name = "psk_identity", .kind = SCHEMA_STRING, .offset = DV_OFF(psk_identity), .max_len = 128 },
	{ .name = "psk_key",
	  .kind = SCHEMA_CUSTOM,
	  .offset = DV_OFF(psk_key),
	  .parse = gwc_parse_psk_key_ptr,
	  .free = gwc_free_psk_key_ptr,
	  .size = sizeof(struct gw_psk_key *),
	  .doc = "hex",
	  .secret = SCHEMA_SECRET },
	{ .name = "poll",
	  .kind = SCHEMA_DURATION,
	  .offset = DV_OFF(poll_usec),
	  .step = USEC_PER_MSEC,
	  .parse = parse_poll,
	  .doc = "poll period instead of the profile's" },
	{ .name = "vars",
	  .kind = SCHEMA_NODE,
	  .offset = DV_OFF(vars),
	  .node_kind = YNODE_MAP,
	  .doc = "device variables the profile uses (`device: serial`)" },
	{ .name = "enabled",
	  .kind = SCHEMA_BOOL,
	  .offset = DV_OFF(enabled),
	  .def_bool = true,
	  .doc = "false: configured but stopped (not registered, not polled)" },
	{ NULL },
};

static const struct schema_section device_section = {
	.name = "device",
	.size = sizeof(struct gw_device),
	.keys = device_keys,
	.check = check_device,
};

static const struct schema_key device_elem = { .kind = SCHEMA_SECTION, .section = &device_section };

static int check_root(struct schema_ctx *ctx, const struct ynode *map, void *obj);

static const struct schema_key root_keys[] = {
	{ .name = "gateway",
	  .kind = SCHEMA_SECTION,
	  .required = true,
	  .offset = GW_OFF(gateway),
	  .section = &gwc_gateway_section },
	{ .name = "log", .kind = SCHEMA_SECTION, .offset = GW_OFF(log), .section = &gwc_log_section },
	{ .name = "lwm2m",
	  .kind = SCHEMA_SECTION,
	  .required = true,
	  .offset = GW_OFF(lwm2m),
	  .section = &gwc_lwm2m_section },
	{ .name = "metrics",
	  .kind = SCHEMA_SECTION,
	  .offset = GW_OFF(metrics),
	  .section = &gwc_metrics_section },
	{ .name = "update",
	  .kind = SCHEMA_SECTION,
	  .offset = GW_OFF(update),
	  .section = &gwc_update_section },
	{ .name = "bridges",
	  .kind = SCHEMA_CUSTOM,
	  .offset = GW_OFF(bridges),
	  .parse = parse_bridges,
	  .free = free_list,
	  .size = sizeof(struct schema_list) },
	{ .name = "devices",
	  .kind = SCHEMA_LIST,
	  .offset = GW_OFF(devices),
	  .elem = &device_elem,
	  .max_items = 100000 },
	{ NULL },
};

const struct schema_section gwc_root_section = {
	.name = "fieldgate",
	.size = sizeof(struct gw_config),
	.keys = root_keys,
	.check = check_root,
};

const struct gw_bridge *gw_config_find_bridge(const struct gw_config *c, const char *name)
{
	for (size_t i = 0; i < c->bridges.n; i++)
		if (strcmp(gw_config_bridge(c, i)->name, name) == 0)
			return gw_config_bridge(c, i);
	return NULL;
}

static int expand_template(const char *t, const char *gateway, const char *device, char *buf, size_t size)
{
	size_t n = 0;

	for (const char *p = t; *p;) {
		const char *add = NULL;
		size_t len = 1;
		if (strncmp(p, "{gateway}", 9) == 0) {
			add = gateway;
			p += 9;
		} else if (strncmp(p, "{device}", 8) == 0) {
			add = device;
			p += 8;
		} else {
			add = p++;
		}
		if (add != p - 1)
			len = strlen(add);
		if (n + len >= size)
			return -ENAMETOOLONG;
		memcpy(buf + n, add, len);
		n += len;
	}
	buf[n] = '\0';
	return (int)n;
}

int gw_device_endpoint_name(const struct gw_config *c, const struct gw_device *d, char *buf, size_t size)
{
	if (d->endpoint) {
		if (strlen(d->endpoint) >= size)
			return -ENAMETOOLONG;
		strcpy(buf, d->endpoint);
		return (int)strlen(buf);
	}
	return expand_template(c->lwm2m.endpoint_template, c->gateway.name, d->name, buf, size);
}

static int cmp_str_idx(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	return strcmp(x[0], y[0]);
}

/* Whole-file rules: unique device and endpoint names, bridges that exist,
 * device credentials only toward a coaps:// server. */
static int check_root(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct gw_config *c = obj;
	const char *names[64 + 1];
	const char **sorted = NULL;
	size_t nb = 0;
	bool secure = false;

	(void)map;
	gwc_update_defaults(&c->update);
	if (gw_devices_dir_merge(ctx, c, &device_elem) < 0)
		return -ENOMEM;
	/* Also when some devices had errors: the rules below are independent
	 * of them, and every error is worth reporting at once. */
	if (c->devices.n == 0)
		return 0;
	for (size_t i = 0; i < c->bridges.n && nb < 64; i++)
		names[nb++] = gw_config_bridge(c, i)->name;
	names[nb] = NULL;
	if (schema_key_ok(ctx, "lwm2m"))
		for (size_t i = 0; i < c->lwm2m.servers.n; i++)
			if (!gw_config_server(c, i)->bootstrap &&
			    gw_config_server(c, i)->uri.scheme == GW_SCHEME_COAPS)
				secure = true;

	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *d = gw_config_device(c, i);
		if (!d->node || !d->name)
			continue;
		/* Bridges with errors still have their names: only a bridges
		 * value of the wrong kind leaves nothing to compare with. */
		if (d->bridge && (c->bridges.n > 0 || schema_key_ok(ctx, "bridges")) &&
		    !gw_config_find_bridge(c, d->bridge)) {
			const struct ynode *at = ynode_map_get(d->node, "bridge");
			const char *sugg = schema_suggest(d->bridge, names);
			char list[512] = "";
			size_t off = 0;
			for (size_t j = 0; j < nb && off < sizeof(list); j++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", j ? ", " : "",
							names[j]);
			if (sugg)
				schema_error(ctx, at,
					     "unknown bridge '%s' for device '%s', did you mean '%s'?",
					     d->bridge, d->name, sugg);
			else if (nb)
				schema_error(ctx, at,
					     "unknown bridge '%s' for device '%s' (configured bridges: %s)",
					     d->bridge, d->name, list);
			else
				schema_error(
					ctx, at,
					"unknown bridge '%s' for device '%s' (no bridges are configured)",
					d->bridge, d->name);
		}
		if (d->bridge && d->address) {
			const struct gw_bridge *b = gw_config_find_bridge(c, d->bridge);
			const struct bridge_kind *ops = b ? b->kind : NULL;
			if (ops && ops->verify_address) {
				size_t mark = schema_path_push_key(ctx, "devices");
				size_t m2;
				schema_path_push_index(ctx, i);
				m2 = schema_path_push_key(ctx, "address");
				(void)ops->verify_address(ctx, d->address);
				schema_path_pop(ctx, m2);
				schema_path_pop(ctx, mark);
			}
		}
		if (d->psk_identity && !secure && schema_key_ok(ctx, "lwm2m")) {
			const struct ynode *at = ynode_map_get(d->node, "psk_identity");
			schema_error(ctx, at,
				     "device '%s' has PSK credentials but no LwM2M server is coaps://",
				     d->name);
		}
		/* The name's characters are gwc_check_name()'s, reported already. */
		if (schema_key_ok(ctx, "lwm2m") &&
		    gw_device_name_check(d->name, c->lwm2m.mode, NULL, 0) == -EDOM) {
			const struct ynode *at = ynode_map_get(d->node, "name");
			schema_error(ctx, at,
				     "device name '%s' cannot be an Object 25 prefix in gateway mode: it "
				     "must not be "
				     "all digits",
				     d->name);
		}
		for (size_t j = 0; j < i; j++) {
			const struct gw_device *e = gw_config_device(c, j);
			if (e->name && strcmp(e->name, d->name) == 0) {
				const struct ynode *at = ynode_map_get(d->node, "name");
				if (e->node && d->node && strcmp(e->node->file, d->node->file) != 0)
					schema_error(ctx, at, "device name '%s' is used twice (also %s:%u)",
						     d->name, e->node->file, e->node->line);
				else
					schema_error(
						ctx, at,
						"device name '%s' is used twice (also devices[%zu], line %u)",
						d->name, j, e->node ? e->node->line : 0);
				break;
			}
		}
	}

	/* Endpoint names (templates and overrides) must differ from each other
	 * and from the gateway's own: sort them with their device index. */
	if (schema_key_ok(ctx, "lwm2m") && schema_key_ok(ctx, "gateway") &&
	    c->lwm2m.mode == GW_MODE_ENDPOINT) {
		size_t n = c->devices.n + 1, m = 0;
		char *buf;
		sorted = calloc(n, 2 * sizeof(*sorted));
		buf = calloc(n, 256);
		if (!sorted || !buf) {
			free(sorted);
			free(buf);
			return -ENOMEM;
		}
		sorted[0] = c->gateway.name;
		sorted[1] = NULL;
		m = 1;
		for (size_t i = 0; i < c->devices.n; i++) {
			const struct gw_device *d = gw_config_device(c, i);
			char *slot = buf + 256 * i;
			int r;
			if (!d->node || !d->name)
				continue;
			r = gw_device_endpoint_name(c, d, slot, 256);
			if (r < 0) {
				schema_error(ctx, d->node,
					     "the endpoint name of device '%s' is longer than 255 characters",
					     d->name);
				continue;
			}
			sorted[2 * m] = slot;
			sorted[2 * m + 1] = (const char *)d;
			m++;
		}
		qsort(sorted, m, 2 * sizeof(*sorted), cmp_str_idx);
		for (size_t i = 1; i < m; i++) {
			const struct gw_device *d = (const void *)sorted[2 * i + 1],
					       *e = (const void *)sorted[2 * i - 1];
			if (strcmp(sorted[2 * i], sorted[2 * i - 2]) != 0)
				continue;
			if (d && e && strcmp(d->name, e->name) == 0)
				continue; /* the same name, reported as such */
			if (!d || !e) {
				d = d ? d : e;
				schema_error(ctx, d->node,
					     "device '%s' would have the gateway's own endpoint name '%s'",
					     d->name, sorted[2 * i]);
			} else {
				if (e->node->line > d->node->line ||
				    (e->node->line == d->node->line && e->node->col > d->node->col)) {
					const struct gw_device *x = d;
					d = e;
					e = x;
				}
				schema_error(
					ctx, d->node,
					"devices '%s' and '%s' (line %u) have the same endpoint name '%s'",
					d->name, e->name, e->node->line, sorted[2 * i]);
			}
		}
		free(buf);
		free(sorted);
	}
	return 0;
}
