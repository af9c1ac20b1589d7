/* SPDX-License-Identifier: Apache-2.0 */
/* BLE profile sources, bridge body and device address; see source.h. */
#include "bridges/ble/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/ble/bthome.h"
#include "bridges/ble/ruuvi.h"
#include "common/schema.h"

/* ---- shared scalar checks ---------------------------------------------------------------------- */

/* "0x0499" or "1177": a 16-bit company id. */
static int parse_u16(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10);
	if (errno || *end || v > 0xffff)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int check_uuid(struct schema_ctx *ctx, const struct ynode *n, char *out)
{
	if (!n)
		return 0;
	if (n->kind != YNODE_SCALAR || ble_uuid_normalize(n->scalar.str, out) < 0) {
		schema_error(ctx, n,
			     "invalid UUID '%s': expected a 16-bit UUID such as 'fcd2' or 128 bits as "
			     "'0000fcd2-0000-1000-8000-00805f9b34fb'",
			     n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n));
		return -EINVAL;
	}
	return 0;
}

static int check_company(struct schema_ctx *ctx, const struct ynode *n, uint16_t *out)
{
	if (n->kind != YNODE_SCALAR || parse_u16(n->scalar.str, out) < 0) {
		schema_error(ctx, n,
			     "invalid company id '%s': expected 0 to 65535, decimal or 0x hex (e.g. 0x0499)",
			     n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n));
		return -EINVAL;
	}
	return 0;
}

static int check_prefix(struct schema_ctx *ctx, const struct ynode *n, struct ble_adv_match *m)
{
	int r;

	if (!n)
		return 0;
	r = n->kind == YNODE_SCALAR ? ble_hex_parse(n->scalar.str, m->prefix, sizeof(m->prefix)) : -EINVAL;
	if (r < 0) {
		schema_error(ctx, n, "invalid prefix '%s': expected up to %d bytes in hex, e.g. \"0501\"",
			     n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n), BLE_PREFIX_MAX);
		return -EINVAL;
	}
	m->prefix_len = (size_t)r;
	return 0;
}

static const struct schema_enum_word mode_words[] = { { "read", BLE_GATT_READ },
						      { "notify", BLE_GATT_NOTIFY },
						      { NULL } };
static const struct schema_enum_word conn_words[] = { { "on_demand", 0 }, { "keep", 1 }, { NULL } };
static const struct schema_enum_word type_words[] = { { "request", BLE_WRITE_REQUEST },
						      { "command", BLE_WRITE_COMMAND },
						      { NULL } };

/* ---- profile sources ----------------------------------------------------------------------------- */

struct src_in {
	const struct ynode *bthome, *manufacturer, *service_data, *prefix, *service, *characteristic, *value;
	uint64_t instance, offset, length;
	const char *ruuvi;
	bool rssi;
	int mode, connection, type;
};

#define SI(f) offsetof(struct src_in, f)
static const struct schema_key src_keys[] = {
	{ .name = "bthome",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = SI(bthome),
	  .doc = "BTHome v2 measurement name or object id" },
	{ .name = "instance",
	  .kind = SCHEMA_UINT,
	  .umax = 47,
	  .offset = SI(instance),
	  .doc = "which one of repeated measurements (0 = first)" },
	{ .name = "ruuvi", .kind = SCHEMA_STRING, .offset = SI(ruuvi), .doc = "RuuviTag format 5 field" },
	{ .name = "rssi", .kind = SCHEMA_BOOL, .offset = SI(rssi), .doc = "the advert's RSSI" },
	{ .name = "manufacturer",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = SI(manufacturer),
	  .doc = "company id of manufacturer data" },
	{ .name = "service_data",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = SI(service_data),
	  .doc = "service data UUID" },
	{ .name = "prefix",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = SI(prefix),
	  .doc = "bytes the data must start with (hex)" },
	{ .name = "offset", .kind = SCHEMA_UINT, .umax = 254, .offset = SI(offset), .doc = "field offset" },
	{ .name = "length", .kind = SCHEMA_UINT, .umax = 255, .offset = SI(length), .doc = "field length" },
	{ .name = "service",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = SI(service),
	  .doc = "GATT service UUID" },
	{ .name = "characteristic",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = SI(characteristic),
	  .doc = "GATT characteristic UUID" },
	{ .name = "mode",
	  .kind = SCHEMA_ENUM,
	  .words = mode_words,
	  .offset = SI(mode),
	  .doc = "read or notify" },
	{ .name = "connection",
	  .kind = SCHEMA_ENUM,
	  .words = conn_words,
	  .offset = SI(connection),
	  .doc = "on_demand or keep" },
	{ .name = "type",
	  .kind = SCHEMA_ENUM,
	  .words = type_words,
	  .offset = SI(type),
	  .doc = "write with response (request) or without (command)" },
	{ .name = "value",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = SI(value),
	  .doc = "bytes an execute writes (hex)" },
	{ .name = NULL },
};
static const struct schema_section src_section = { .name = "source",
						   .size = sizeof(struct src_in),
						   .keys = src_keys };

static const char *const src_words[] = { "bthome",       "ruuvi",   "rssi", "manufacturer",
					 "service_data", "service", NULL };

/* Keys that make no sense with the chosen kind are errors, not ignored. */
static void only(struct schema_ctx *ctx, const struct ynode *map, const char *kind,
		 const char *const *allowed)
{
	for (size_t i = 0; i < map->map.n; i++) {
		const struct ynode *k = ynode_map_key(map, i);
		bool ok = false;
		for (size_t j = 0; allowed[j]; j++)
			ok = ok || strcmp(k->scalar.str, allowed[j]) == 0;
		if (!ok)
			schema_error(ctx, k, "key '%s' does not apply to a %s source", k->scalar.str, kind);
	}
}

static int src_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	static const char *const role_names[] = { "source", "write", "execute" };
	struct schema_ctx ctx = { .diag = diag };
	struct src_in in = { 0 };
	struct ble_src *s;
	int r;

	*out = NULL;
	if (!node)
		return 0; /* write: back to the read source (checked in src_check) */
	if (node->kind != YNODE_MAP) {
		diag_report(diag, DIAG_ERROR, node->file, node->line, node->col,
			    "a BLE %s must be a mapping such as {bthome: temperature}, {ruuvi: humidity}, "
			    "{rssi: true}, {manufacturer: 0x0499, offset: 1, length: 2} or "
			    "{service: UUID, characteristic: UUID}",
			    role_names[role]);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->object_id = -1;
	(void)schema_path_push_key(&ctx, role_names[role]);
	r = schema_parse_section(&ctx, &src_section, node, &in);
	if (r == -ENOMEM)
		goto fail;

	{
		int nkinds = !!in.bthome + !!in.ruuvi + !!ynode_map_get(node, "rssi") + !!in.manufacturer +
			     !!in.service_data + !!in.service;
		if (nkinds != 1) {
			diag_report(diag, DIAG_ERROR, node->file, node->line, node->col,
				    "a BLE %s needs exactly one of: bthome, ruuvi, rssi, manufacturer, "
				    "service_data, service (%d given)",
				    role_names[role], nkinds);
			ctx.errors++;
		}
	}
	if (role != MAPPING_ROLE_READ && !in.service && !in.characteristic) {
		diag_report(diag, DIAG_ERROR, node->file, node->line, node->col,
			    "a BLE %s goes to a GATT characteristic: {service: UUID, characteristic: UUID}",
			    role_names[role]);
		ctx.errors++;
	}
	(void)src_words;

	if (in.bthome) {
		static const char *const ok[] = { "bthome", "instance", NULL };
		const char *t = in.bthome->scalar.str;
		uint16_t id;
		only(&ctx, node, "bthome", ok);
		s->kind = BLE_SRC_BTHOME;
		s->instance = (uint8_t)in.instance;
		if (parse_u16(t, &id) == 0 && id <= 0xff && bthome_name_of((uint8_t)id)) {
			s->object_id = id;
			snprintf(s->bthome, sizeof(s->bthome), "%s", bthome_name_of((uint8_t)id));
		} else if (bthome_name_known(t) && strcmp(t, "packet_id") != 0) {
			snprintf(s->bthome, sizeof(s->bthome), "%s", t);
		} else {
			const char *sugg = schema_suggest(t, bthome_names());
			if (sugg)
				schema_error(&ctx, in.bthome,
					     "unknown BTHome measurement '%s', did you mean '%s'?", t, sugg);
			else
				schema_error(&ctx, in.bthome,
					     "unknown BTHome measurement '%s' (a name such as temperature, "
					     "humidity, battery, pressure, illuminance, voltage, co2, "
					     "motion..., or an object id such as 0x45)",
					     t);
		}
	} else if (in.ruuvi) {
		static const char *const ok[] = { "ruuvi", NULL };
		only(&ctx, node, "ruuvi", ok);
		s->kind = BLE_SRC_RUUVI;
		s->ruuvi_field = ruuvi_field_of(in.ruuvi);
		if (s->ruuvi_field < 0) {
			const char *names[RUUVI__MAX + 1] = { 0 };
			char list[256] = "";
			for (int i = 0; i < RUUVI__MAX; i++) {
				names[i] = ruuvi_field_name(i);
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 i ? ", " : "", names[i]);
			}
			const char *sugg = schema_suggest(in.ruuvi, names);
			const struct ynode *at = ynode_map_get(node, "ruuvi");
			if (sugg)
				schema_error(&ctx, at, "unknown RuuviTag field '%s', did you mean '%s'?",
					     in.ruuvi, sugg);
			else
				schema_error(&ctx, at, "unknown RuuviTag field '%s' (accepted: %s)", in.ruuvi,
					     list);
		}
	} else if (ynode_map_get(node, "rssi")) {
		static const char *const ok[] = { "rssi", NULL };
		only(&ctx, node, "rssi", ok);
		s->kind = BLE_SRC_RSSI;
		if (schema_key_ok(&ctx, "rssi") && !in.rssi)
			schema_error(&ctx, ynode_map_get(node, "rssi"),
				     "'rssi: false' reads nothing: use rssi: true");
	} else if (in.manufacturer || in.service_data) {
		static const char *const ok[] = { "manufacturer", "service_data", "prefix",
						  "offset",       "length",       NULL };
		only(&ctx, node, in.manufacturer ? "manufacturer data" : "service data", ok);
		s->kind = BLE_SRC_ADV;
		if (in.manufacturer)
			(void)check_company(&ctx, in.manufacturer, &s->match.company);
		else {
			s->match.by_service = true;
			(void)check_uuid(&ctx, in.service_data, s->match.uuid);
		}
		(void)check_prefix(&ctx, in.prefix, &s->match);
		s->offset = (uint32_t)in.offset;
		s->length = (uint32_t)in.length;
		if (in.length && in.offset + in.length > 255)
			schema_error(&ctx, ynode_map_get(node, "length"),
				     "offset %u + length %u is beyond the 255 bytes of advertising data",
				     s->offset, s->length);
	} else if (in.service || in.characteristic) {
		static const char *const rd[] = { "service", "characteristic", "mode", "connection", NULL };
		static const char *const wr[] = { "service", "characteristic", "type", NULL };
		static const char *const ex[] = { "service", "characteristic", "type", "value", NULL };
		only(&ctx, node,
		     role == MAPPING_ROLE_READ    ? "GATT read"
		     : role == MAPPING_ROLE_WRITE ? "GATT write"
						  : "GATT execute",
		     role == MAPPING_ROLE_READ    ? rd
		     : role == MAPPING_ROLE_WRITE ? wr
						  : ex);
		s->kind = BLE_SRC_GATT;
		if (!in.service || !in.characteristic) {
			diag_report(diag, DIAG_ERROR, node->file, node->line, node->col,
				    "a GATT %s needs both 'service' and 'characteristic' UUIDs",
				    role_names[role]);
			ctx.errors++;
		}
		(void)check_uuid(&ctx, in.service, s->service);
		(void)check_uuid(&ctx, in.characteristic, s->characteristic);
		s->mode = (uint8_t)in.mode;
		s->keep = in.connection == 1 || in.mode == BLE_GATT_NOTIFY;
		s->write_type = (uint8_t)in.type;
		if (in.value) {
			r = ble_hex_parse(in.value->scalar.str, s->value, sizeof(s->value));
			if (r < 0)
				schema_error(
					&ctx, in.value,
					"invalid value '%s': expected up to %d bytes in hex, e.g. \"01\"",
					in.value->scalar.str, BLE_VALUE_MAX);
			else {
				s->value_len = (size_t)r;
				s->has_value = true;
			}
		}
	}
	if (ctx.errors) {
		free(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
fail:
	free(s);
	return r;
}

static void src_free(void *p)
{
	free(p);
}

/* Advert sources deliver typed values (raw: value) except the declarative
 * field and GATT characteristics, which deliver bytes for a raw layout. */
static int src_check(const struct mapping_point *pt, struct diag *diag)
{
	const struct ble_src *s = pt->source;
	const struct ble_src *w = pt->write;
	int ret = 0;

	if (s && (s->kind == BLE_SRC_BTHOME || s->kind == BLE_SRC_RUUVI || s->kind == BLE_SRC_RSSI) &&
	    pt->xf.raw != MAPPING_RAW_VALUE) {
		diag_report(
			diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			"a %s source delivers decoded values: leave 'raw' out (raw: %s needs a manufacturer, "
			"service_data or GATT source)",
			s->kind == BLE_SRC_BTHOME  ? "bthome"
			: s->kind == BLE_SRC_RUUVI ? "ruuvi"
						   : "rssi",
			mapping_raw_name(pt->xf.raw));
		ret = -EINVAL;
	}
	if (s && (s->kind == BLE_SRC_ADV || s->kind == BLE_SRC_GATT) && pt->xf.raw == MAPPING_RAW_VALUE &&
	    pt->type != LWM2M_TYPE_STRING && pt->type != LWM2M_TYPE_OPAQUE) {
		diag_report(
			diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			"a %s source delivers bytes: give their layout with 'raw' (int8, uint16, float32, "
			"string...), 'order' (little for most BLE data) and 'scale'",
			s->kind == BLE_SRC_ADV ? "manufacturer/service data" : "GATT");
		ret = -EINVAL;
	}
	if (pt->writable && !w && (!s || s->kind != BLE_SRC_GATT)) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "only GATT characteristics can be written: give 'write: {service: UUID, "
			    "characteristic: UUID}'");
		ret = -EINVAL;
	}
	if (pt->writable && pt->xf.raw == MAPPING_RAW_VALUE && pt->type != LWM2M_TYPE_STRING &&
	    pt->type != LWM2M_TYPE_OPAQUE) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "a GATT write sends bytes: give their layout with 'raw' (and 'order')");
		ret = -EINVAL;
	}
	return ret;
}

const struct mapping_source_ops ble_source_ops = {
	.kind = "ble", .parse = src_parse, .free = src_free, .check = src_check
};

/* ---- bridge body ---------------------------------------------------------------------------------- */

struct rule_in {
	const char *profile;
	const struct ynode *match, *manufacturer, *service_data, *prefix;
};
#define RI(f) offsetof(struct rule_in, f)
static const struct schema_key rule_keys[] = {
	{ .name = "profile",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = RI(profile),
	  .doc = "profile of the devices found" },
	{ .name = "match",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = RI(match),
	  .doc = "bthome or ruuvi" },
	{ .name = "manufacturer",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = RI(manufacturer),
	  .doc = "company id" },
	{ .name = "service_data",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = RI(service_data),
	  .doc = "service data UUID" },
	{ .name = "prefix",
	  .kind = SCHEMA_NODE,
	  .node_kind = YNODE_SCALAR,
	  .offset = RI(prefix),
	  .doc = "bytes the data starts with (hex)" },
	{ .name = NULL },
};

static int rule_check(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct rule_in *in = obj;
	int n = !!in->match + !!in->manufacturer + !!in->service_data;

	if (n != 1) {
		schema_error(ctx, map,
			     "a discovery rule needs exactly one of: match (bthome or ruuvi), manufacturer, "
			     "service_data");
		return -EINVAL;
	}
	if (in->match && !ynode_scalar_eq(in->match, "bthome") && !ynode_scalar_eq(in->match, "ruuvi")) {
		schema_error(ctx, in->match, "invalid match '%s': expected bthome or ruuvi",
			     in->match->scalar.str);
		return -EINVAL;
	}
	if (in->match && in->prefix) {
		schema_error(ctx, in->prefix, "'prefix' goes with manufacturer or service_data, not match");
		return -EINVAL;
	}
	return 0;
}

static const struct schema_section rule_section = {
	.name = "discover", .size = sizeof(struct rule_in), .keys = rule_keys, .check = rule_check
};

struct body_in {
	const char *type, *adapter, *dbus_address;
	uint64_t unreachable, connect_timeout, call_timeout, backoff_max, max_connections, discover_max;
	uint64_t discover_forget, bthome_resync;
	struct schema_list discover;
};
#define BI(f) offsetof(struct body_in, f)

static int check_adapter(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	const char *s = *(const char **)t;

	(void)k;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_')) {
			schema_error(ctx, n, "invalid adapter name '%s': the BlueZ adapter name such as hci0",
				     s);
			return -EINVAL;
		}
	return 0;
}

static const struct schema_key body_keys[] = {
	{ .name = "type", .kind = SCHEMA_STRING, .required = true, .offset = BI(type), .doc = "ble" },
	{ .name = "adapter",
	  .kind = SCHEMA_STRING,
	  .max_len = 32,
	  .offset = BI(adapter),
	  .parse = check_adapter,
	  .doc = "BlueZ adapter name (hci0); default the first powered one" },
	{ .name = "dbus_address",
	  .kind = SCHEMA_STRING,
	  .offset = BI(dbus_address),
	  .doc = "D-Bus address of bluetoothd's bus; default the system bus" },
	{ .name = "unreachable_after",
	  .kind = SCHEMA_DURATION,
	  .umin = USEC_PER_SEC,
	  .umax = 7 * USEC_PER_DAY,
	  .def_uint = 5 * USEC_PER_MIN,
	  .offset = BI(unreachable),
	  .doc = "a device not heard for this long is unreachable" },
	{ .name = "connect_timeout",
	  .kind = SCHEMA_DURATION,
	  .umin = 100 * USEC_PER_MSEC,
	  .umax = 5 * USEC_PER_MIN,
	  .def_uint = 20 * USEC_PER_SEC,
	  .offset = BI(connect_timeout),
	  .doc = "GATT connection attempt limit" },
	{ .name = "call_timeout",
	  .kind = SCHEMA_DURATION,
	  .umin = 100 * USEC_PER_MSEC,
	  .umax = 5 * USEC_PER_MIN,
	  .def_uint = 10 * USEC_PER_SEC,
	  .offset = BI(call_timeout),
	  .doc = "limit of one GATT read/write" },
	{ .name = "reconnect_max",
	  .kind = SCHEMA_DURATION,
	  .umin = USEC_PER_SEC,
	  .umax = USEC_PER_HOUR,
	  .def_uint = 60 * USEC_PER_SEC,
	  .offset = BI(backoff_max),
	  .doc = "longest reconnect backoff" },
	{ .name = "max_connections",
	  .kind = SCHEMA_UINT,
	  .umin = 1,
	  .umax = 32,
	  .def_uint = 3,
	  .offset = BI(max_connections),
	  .doc = "GATT connections at once" },
	{ .name = "discover_max",
	  .kind = SCHEMA_UINT,
	  .umin = 1,
	  .umax = 1000,
	  .def_uint = 16,
	  .offset = BI(discover_max),
	  .doc = "most devices auto-discovered" },
	{ .name = "discover_forget",
	  .kind = SCHEMA_DURATION,
	  .umin = USEC_PER_SEC,
	  .umax = 365 * USEC_PER_DAY,
	  .def_uint = USEC_PER_DAY,
	  .offset = BI(discover_forget),
	  .doc = "a discovered device not heard for this long is forgotten (its slot freed)" },
	{ .name = "bthome_resync",
	  .kind = SCHEMA_UINT,
	  .umax = 1000,
	  .offset = BI(bthome_resync),
	  .doc = "valid encrypted adverts counting up from a counter that went back before it is "
		 "accepted (battery change); 0: never" },
	{ .name = "discover",
	  .kind = SCHEMA_LIST,
	  .offset = BI(discover),
	  .elem = &(const struct schema_key){ .kind = SCHEMA_SECTION, .section = &rule_section },
	  .doc = "auto-discovery rules (opt-in)" },
	{ .name = NULL },
};
static const struct schema_section body_section = { .name = "ble",
						    .size = sizeof(struct body_in),
						    .keys = body_keys };

int ble_conf_parse(struct schema_ctx *ctx, const struct ynode *body, struct ble_conf *conf)
{
	struct body_in in = { 0 };
	unsigned before = ctx->errors;
	int r;

	if (conf)
		*conf = (struct ble_conf){ 0 };
	r = schema_parse_section(ctx, &body_section, body, &in);
	if (r == -ENOMEM)
		goto out;
	if (conf) {
		*conf = (struct ble_conf){ .adapter = in.adapter,
					   .dbus_address = in.dbus_address,
					   .unreachable_usec = in.unreachable,
					   .connect_timeout_usec = in.connect_timeout,
					   .call_timeout_usec = in.call_timeout,
					   .backoff_max_usec = in.backoff_max,
					   .max_connections = (unsigned)in.max_connections,
					   .discover_max = (unsigned)in.discover_max,
					   .forget_usec = in.discover_forget,
					   .bthome_resync = (unsigned)in.bthome_resync };
		if (in.discover.n) {
			conf->rules = calloc(in.discover.n, sizeof(*conf->rules));
			if (!conf->rules) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
	for (size_t i = 0; i < in.discover.n; i++) {
		const struct rule_in *ri = (const struct rule_in *)in.discover.items + i;
		struct ble_rule rule = { .profile = ri->profile };
		size_t m = schema_path_push_key(ctx, "discover");

		if (ri->match)
			rule.kind = ynode_scalar_eq(ri->match, "ruuvi") ? BLE_SRC_RUUVI : BLE_SRC_BTHOME;
		else {
			rule.kind = BLE_SRC_ADV;
			if (ri->manufacturer)
				(void)check_company(ctx, ri->manufacturer, &rule.match.company);
			else if (ri->service_data) {
				rule.match.by_service = true;
				(void)check_uuid(ctx, ri->service_data, rule.match.uuid);
			}
			(void)check_prefix(ctx, ri->prefix, &rule.match);
		}
		schema_path_pop(ctx, m);
		if (conf && conf->rules)
			conf->rules[conf->nrules++] = rule;
	}
	r = ctx->errors > before ? -EINVAL : 0;
out:
	schema_free(&body_section, &in);
	if (r < 0 && conf)
		ble_conf_free(conf);
	return r;
}

void ble_conf_free(struct ble_conf *conf)
{
	if (!conf)
		return;
	free(conf->rules);
	conf->rules = NULL;
	conf->nrules = 0;
}

/* ---- device address ------------------------------------------------------------------------------- */

static int mac_of(struct schema_ctx *ctx, const struct ynode *n, uint8_t mac[6])
{
	if (!n || n->kind != YNODE_SCALAR || ble_mac_parse(n->scalar.str, mac) < 0) {
		schema_error(ctx, n, "invalid BLE address '%s': expected a MAC such as \"A4:C1:38:0D:4E:21\"",
			     n && n->kind == YNODE_SCALAR ? n->scalar.str
			     : n                          ? ynode_describe(n)
							  : "(none)");
		return -EINVAL;
	}
	return 0;
}

int ble_address_parse(struct schema_ctx *ctx, const struct ynode *node, struct ble_address *out)
{
	struct ble_address a = { 0 };
	const struct ynode *mac, *key;
	int r = 0;

	if (!node) {
		schema_error(ctx, node, "missing BLE address: a MAC such as \"A4:C1:38:0D:4E:21\"");
		return -EINVAL;
	}
	if (node->kind == YNODE_SCALAR) {
		r = mac_of(ctx, node, a.mac);
		goto out;
	}
	if (node->kind != YNODE_MAP) {
		schema_error(ctx, node,
			     "a BLE address is a MAC (\"A4:C1:38:0D:4E:21\") or {mac: MAC, "
			     "bindkey: 32 hex digits}, not %s",
			     ynode_describe(node));
		return -EINVAL;
	}
	for (size_t i = 0; i < node->map.n; i++) {
		const struct ynode *k = ynode_map_key(node, i);
		if (strcmp(k->scalar.str, "mac") != 0 && strcmp(k->scalar.str, "bindkey") != 0) {
			static const char *const keys[] = { "mac", "bindkey", NULL };
			const char *sugg = schema_suggest(k->scalar.str, keys);
			if (sugg)
				schema_error(ctx, k,
					     "unknown key '%s' in a BLE address, did you mean '%s'? "
					     "(accepted keys: mac, bindkey)",
					     k->scalar.str, sugg);
			else
				schema_error(
					ctx, k,
					"unknown key '%s' in a BLE address (accepted keys: mac, bindkey)",
					k->scalar.str);
			r = -EINVAL;
		}
	}
	mac = ynode_map_get(node, "mac");
	key = ynode_map_get(node, "bindkey");
	if (!mac) {
		schema_error(ctx, node, "missing key 'mac' in the BLE address");
		r = -EINVAL;
	} else if (mac_of(ctx, mac, a.mac) < 0)
		r = -EINVAL;
	if (key) {
		schema_secret(ctx, key, "bindkey", SCHEMA_SECRET);
		if (key->kind != YNODE_SCALAR || strlen(key->scalar.str) != 32 ||
		    ble_hex_parse(key->scalar.str, a.key, sizeof(a.key)) != 16) {
			schema_error(ctx, key, "invalid bindkey: expected 16 bytes as 32 hex digits");
			r = -EINVAL;
		} else
			a.has_key = true;
	}
out:
	if (r == 0 && out)
		*out = a;
	return r;
}
