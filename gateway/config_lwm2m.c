/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway, log, lwm2m (servers, store) and metrics sections of
 * fieldgate.yaml as key tables, with their whole-section checks.
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
#include "gateway/pkg/pkg.h"

static void report_unused(struct schema_ctx *ctx, const struct ynode *map, const char *key,
			  const char *used_with)
{
	const struct ynode *v = ynode_map_get(map, key);
	if (v && !ynode_is_null(v))
		schema_warning(ctx, v, "'%s' is ignored: it is only used with security %s", key, used_with);
}

static void require_key(struct schema_ctx *ctx, const struct ynode *map, const char *key, const char *why)
{
	char w[600];
	if (!ynode_map_get(map, key))
		schema_error(ctx, map, "missing key '%s' in %s (required with %s)", key,
			     schema_where(ctx, w, sizeof(w)), why);
}

static int check_server(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct gw_server *s = obj;
	const struct ynode *sec = ynode_map_get(map, "security");
	const struct ynode *at = sec ? sec : map;

	if (!schema_key_ok(ctx, "security"))
		return 0;
	if (schema_key_ok(ctx, "uri") && s->uri.scheme == GW_SCHEME_COAP && s->security != GW_SECURITY_NOSEC)
		schema_error(ctx, at, "security '%s' needs a coaps:// URI, got '%s'",
			     gw_security_to_string(s->security), s->uri.text);
	if (schema_key_ok(ctx, "uri") && s->uri.scheme == GW_SCHEME_COAPS && s->security == GW_SECURITY_NOSEC)
		schema_error(ctx, at, "a coaps:// URI needs security psk or certificate, got nosec");

	switch (s->security) {
	case GW_SECURITY_PSK:
		require_key(ctx, map, "psk_identity", "security psk");
		require_key(ctx, map, "psk_key", "security psk");
		report_unused(ctx, map, "certificate", "certificate");
		report_unused(ctx, map, "private_key", "certificate");
		report_unused(ctx, map, "ca_certificate", "certificate");
		report_unused(ctx, map, "server_name", "certificate");
		break;
	case GW_SECURITY_CERTIFICATE:
		require_key(ctx, map, "certificate", "security certificate");
		require_key(ctx, map, "private_key", "security certificate");
		/* The server's certificate is always verified: against this CA. */
		require_key(ctx, map, "ca_certificate", "security certificate");
		if (s->bootstrap)
			schema_error(ctx, at,
				     "a bootstrap server with security certificate is not supported "
				     "(use psk or nosec for the bootstrap server)");
		if (s->server_name && !gwc_valid_server_name(s->server_name)) {
			char w[600];

			schema_error(ctx, ynode_map_get(map, "server_name"),
				     "invalid server_name '%s' in %s: expected a DNS name or an IP address "
				     "(IPv6 without brackets)",
				     s->server_name, schema_where(ctx, w, sizeof(w)));
		}
		report_unused(ctx, map, "psk_identity", "psk");
		report_unused(ctx, map, "psk_key", "psk");
		break;
	default:
		report_unused(ctx, map, "psk_identity", "psk");
		report_unused(ctx, map, "psk_key", "psk");
		report_unused(ctx, map, "certificate", "certificate");
		report_unused(ctx, map, "private_key", "certificate");
		report_unused(ctx, map, "ca_certificate", "certificate");
		report_unused(ctx, map, "server_name", "certificate");
	}
	return 0;
}

static int check_lwm2m(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct gw_lwm2m_config *c = obj;
	const struct ynode *servers = ynode_map_get(map, "servers");
	const struct gw_server *sv = c->servers.items;
	size_t n = c->servers.n;
	char why[200];
	bool have_bs = false;

	if (schema_key_ok(ctx, "mode") && schema_key_ok(ctx, "endpoint_template") &&
	    c->mode == GW_MODE_ENDPOINT &&
	    gw_endpoint_template_check(c->endpoint_template, true, why, sizeof(why)) < 0) {
		const struct ynode *t = ynode_map_get(map, "endpoint_template");
		schema_error(ctx, t ? t : map,
			     "invalid endpoint template '%s' for 'lwm2m.endpoint_template': %s",
			     c->endpoint_template, why);
	}

	/* Comparing servers needs all of them parsed. */
	if (!schema_key_ok(ctx, "servers"))
		n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ynode *item = servers ? &servers->seq.items[i] : map;
		const struct ynode *at = ynode_map_get(item, "uri");
		if (!at)
			at = item;
		if (sv[i].bootstrap) {
			if (have_bs)
				schema_error(ctx, at,
					     "only one bootstrap server is supported (lwm2m.servers[%zu])",
					     i);
			have_bs = true;
		}
		for (size_t j = 0; j < i; j++)
			if (sv[j].uri.scheme == sv[i].uri.scheme && sv[j].uri.port == sv[i].uri.port &&
			    strcasecmp(sv[j].uri.host, sv[i].uri.host) == 0) {
				schema_error(ctx, at, "server '%s' is listed twice (also lwm2m.servers[%zu])",
					     sv[i].uri.text, j);
				break;
			}
	}
	return 0;
}

/* ---- tables ------------------------------------------------------------------ */

static const struct schema_enum_word level_words[] = {
	{ "err", LOG_ERR },
	{ "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
	{ "error", LOG_ERR, .alias = true },
	{ "warn", LOG_WARNING, .alias = true },
	{ NULL },
};

static const struct schema_enum_word target_words[] = {
	{ "auto", LOG_TARGET_AUTO },
	{ "stderr", LOG_TARGET_STDERR },
	{ "journal", LOG_TARGET_JOURNAL },
	{ NULL },
};

static const struct schema_enum_word mode_words[] = {
	{ "endpoint", GW_MODE_ENDPOINT },
	{ "gateway", GW_MODE_GATEWAY },
	{ NULL },
};

static const struct schema_enum_word reboot_words[] = {
	{ "daemon", GW_REBOOT_DAEMON },
	{ "host", GW_REBOOT_HOST },
	{ NULL },
};

static const struct schema_enum_word security_words[] = {
	{ "nosec", GW_SECURITY_NOSEC },
	{ "psk", GW_SECURITY_PSK },
	{ "certificate", GW_SECURITY_CERTIFICATE },
	{ NULL },
};

#define GG_OFF(f) offsetof(struct gw_gateway_config, f)
#define LG_OFF(f) offsetof(struct gw_log_config, f)
#define LW_OFF(f) offsetof(struct gw_lwm2m_config, f)
#define SV_OFF(f) offsetof(struct gw_server, f)

static const struct schema_key gateway_keys[] = {
	{ .name = "name",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = GG_OFF(name),
	  .parse = gwc_check_name,
	  .doc = "the gateway's name: its own endpoint name and {gateway} in templates" },
	{ .name = "state_dir",
	  .kind = SCHEMA_STRING,
	  .offset = GG_OFF(state_dir),
	  .def_str = "/var/lib/fieldgate",
	  .parse = gwc_check_absolute_path,
	  .doc = "where bootstrap results and buffered values are kept" },
	{ .name = "objects_dir",
	  .kind = SCHEMA_STRING,
	  .offset = GG_OFF(objects_dir),
	  .doc = "folder of extra OMA DDF XML object definitions (relative to this file)" },
	{ .name = "profiles_path",
	  .kind = SCHEMA_STRING,
	  .offset = GG_OFF(profiles_path),
	  .def_str = SYSCONFDIR "/fieldgate/profiles:" DATADIR "/fieldgate/profiles",
	  .doc = "':'-separated folders searched for device profiles, first match wins (relative to this "
		 "file)" },
	{ .name = "status_socket",
	  .kind = SCHEMA_STRING,
	  .offset = GG_OFF(status_socket),
	  .parse = gwc_check_absolute_path,
	  .doc = "Unix socket of `fieldgate status` (default: $RUNTIME_DIRECTORY/fieldgate.sock, else "
		 "/run/fieldgate/fieldgate.sock)" },
	{ .name = "devices_dir",
	  .kind = SCHEMA_STRING,
	  .offset = GG_OFF(devices_dir),
	  .doc = "folder of *.yaml files with more devices (relative to this file; default devices.d)" },
	{ .name = "reboot",
	  .kind = SCHEMA_ENUM,
	  .offset = GG_OFF(reboot),
	  .words = reboot_words,
	  .def_int = GW_REBOOT_DAEMON,
	  .doc = "what the LwM2M server's Reboot (/3/0/4) restarts: daemon (it executes itself again) or "
		 "host (logind reboots the machine)" },
	{ NULL },
};

const struct schema_section gwc_gateway_section = {
	.name = "gateway",
	.size = sizeof(struct gw_gateway_config),
	.keys = gateway_keys,
};

static const struct schema_key log_keys[] = {
	{ .name = "level",
	  .kind = SCHEMA_ENUM,
	  .offset = LG_OFF(level),
	  .words = level_words,
	  .def_int = LOG_INFO,
	  .doc = "most verbose level written" },
	{ .name = "target",
	  .kind = SCHEMA_ENUM,
	  .offset = LG_OFF(target),
	  .words = target_words,
	  .def_int = LOG_TARGET_AUTO,
	  .doc = "auto: the journal under systemd, else stderr" },
	{ NULL },
};

const struct schema_section gwc_log_section = {
	.name = "log",
	.size = sizeof(struct gw_log_config),
	.keys = log_keys,
};

static const struct schema_key server_keys[] = {
	{ .name = "uri",
	  .kind = SCHEMA_CUSTOM,
	  .required = true,
	  .offset = SV_OFF(uri),
	  .parse = gwc_parse_uri,
	  .size = sizeof(struct gw_uri),
	  .doc = "coap://host:port or coaps://host:port" },
	{ .name = "security",
	  .kind = SCHEMA_ENUM,
	  .offset = SV_OFF(security),
	  .words = security_words,
	  .def_int = GW_SECURITY_NOSEC },
	{ .name = "psk_identity", .kind = SCHEMA_STRING, .offset = SV_OFF(psk_identity), .max_len = 128 },
	{ .name = "psk_key",
	  .kind = SCHEMA_CUSTOM,
	  .offset = SV_OFF(psk_key),
	  .parse = gwc_parse_psk_key,
	  .size = sizeof(struct gw_psk_key),
	  .doc = "hex",
	  .secret = SCHEMA_SECRET },
	{ .name = "certificate", .kind = SCHEMA_STRING, .offset = SV_OFF(certificate) },
	{ .name = "private_key",
	  .kind = SCHEMA_STRING,
	  .offset = SV_OFF(private_key),
	  .secret = SCHEMA_SECRET_FILE },
	{ .name = "ca_certificate", .kind = SCHEMA_STRING, .offset = SV_OFF(ca_certificate) },
	{ .name = "server_name", .kind = SCHEMA_STRING, .offset = SV_OFF(server_name) },
	{ .name = "bootstrap", .kind = SCHEMA_BOOL, .offset = SV_OFF(bootstrap) },
	{ .name = "queue_mode",
	  .kind = SCHEMA_BOOL,
	  .offset = SV_OFF(queue_mode),
	  .doc = "binding UQ: values are held and delivered after each Update" },
	{ .name = "notification_storing",
	  .kind = SCHEMA_BOOL,
	  .offset = SV_OFF(notification_storing),
	  .def_bool = true,
	  .doc = "/1/x/6: observed values are held while the server is away" },
	{ NULL },
};

static const struct schema_section server_section = {
	.name = "server",
	.size = sizeof(struct gw_server),
	.keys = server_keys,
	.check = check_server,
};

static const struct schema_key server_elem = { .kind = SCHEMA_SECTION, .section = &server_section };

#define ST_OFF(f) offsetof(struct gw_store_config, f)
static const struct schema_key store_keys[] = {
	{ .name = "max_samples",
	  .kind = SCHEMA_UINT,
	  .offset = ST_OFF(max_samples),
	  .umin = 1,
	  .umax = 100000000,
	  .def_uint = 10000,
	  .doc = "values held per endpoint (per device in gateway mode); the oldest go first" },
	{ .name = "max_bytes",
	  .kind = SCHEMA_UINT,
	  .offset = ST_OFF(max_bytes),
	  .umin = 4096,
	  .umax = 1ULL << 40,
	  .def_uint = 512 * 1024,
	  .doc = "bytes held per endpoint (per device), as in the queue files" },
	{ .name = "total_bytes",
	  .kind = SCHEMA_UINT,
	  .offset = ST_OFF(total_bytes),
	  .umin = 4096,
	  .umax = 1ULL << 40,
	  .def_uint = 32 * 1024 * 1024,
	  .doc = "bytes held for all endpoints together" },
	{ .name = "sync_interval",
	  .kind = SCHEMA_DURATION,
	  .offset = ST_OFF(sync_usec),
	  .umax = USEC_PER_HOUR,
	  .step = 1000,
	  .def_uint = 10 * USEC_PER_SEC,
	  .doc = "the queue files reach the disk (fdatasync) at most this long after a write; 0s: every "
		 "write" },
	{ NULL },
};
#undef ST_OFF

static const struct schema_section store_section = {
	.name = "store",
	.size = sizeof(struct gw_store_config),
	.keys = store_keys,
};

static const struct schema_key lwm2m_keys[] = {
	{ .name = "mode",
	  .kind = SCHEMA_ENUM,
	  .offset = LW_OFF(mode),
	  .words = mode_words,
	  .def_int = GW_MODE_ENDPOINT },
	{ .name = "endpoint_template",
	  .kind = SCHEMA_STRING,
	  .offset = LW_OFF(endpoint_template),
	  .def_str = "{gateway}-{device}",
	  .parse = gwc_check_template },
	/* The Register lt parameter is whole seconds, at most 2^32-1. */
	{ .name = "lifetime",
	  .kind = SCHEMA_DURATION,
	  .offset = LW_OFF(lifetime_usec),
	  .umin = USEC_PER_SEC,
	  .umax = 4294967295ULL * USEC_PER_SEC,
	  .step = USEC_PER_SEC,
	  .def_uint = 300 * USEC_PER_SEC },
	{ .name = "register_rate",
	  .kind = SCHEMA_UINT,
	  .offset = LW_OFF(register_rate),
	  .umin = 1,
	  .umax = 10000,
	  .def_uint = 50,
	  .doc = "Register and Update messages per second, all endpoints together" },
	{ .name = "max_observations",
	  .kind = SCHEMA_UINT,
	  .offset = LW_OFF(max_observations),
	  .umin = 1,
	  .umax = 65535,
	  .def_uint = 256,
	  .doc = "observations one server may hold per endpoint (per device in gateway mode)" },
	/* Object 25 instance ids are 16 bits, 65535 reserved. */
	{ .name = "gateway_devices_max",
	  .kind = SCHEMA_UINT,
	  .offset = LW_OFF(gateway_devices_max),
	  .umin = 1,
	  .umax = 65535,
	  .def_uint = GW_GATEWAY_DEVICES_MAX,
	  .doc = "gateway mode: devices (Object 25 instances) one gateway endpoint holds; more devices "
		 "get more gateway endpoints" },
	{ .name = "probe_interval",
	  .kind = SCHEMA_DURATION,
	  .offset = LW_OFF(probe_usec),
	  .umin = 100 * 1000,
	  .umax = 10 * USEC_PER_MIN,
	  .step = 1000,
	  .def_uint = 4 * USEC_PER_SEC,
	  .doc = "an unreachable server is asked at most this far apart whether it is back" },
	{ .name = "store", .kind = SCHEMA_SECTION, .offset = LW_OFF(store), .section = &store_section },
	{ .name = "servers",
	  .kind = SCHEMA_LIST,
	  .required = true,
	  .offset = LW_OFF(servers),
	  .elem = &server_elem,
	  .min_items = 1,
	  .max_items = 16 },
	{ NULL },
};

const struct schema_section gwc_lwm2m_section = {
	.name = "lwm2m",
	.size = sizeof(struct gw_lwm2m_config),
	.keys = lwm2m_keys,
	.check = check_lwm2m,
};

#define MT_OFF(f) offsetof(struct gw_metrics_config, f)

static const struct schema_key metrics_keys[] = {
	{ .name = "textfile",
	  .kind = SCHEMA_STRING,
	  .offset = MT_OFF(textfile),
	  .parse = gwc_check_absolute_path,
	  .doc = "file rewritten with the metrics for node_exporter's textfile collector" },
	{ .name = "interval",
	  .kind = SCHEMA_DURATION,
	  .offset = MT_OFF(interval_usec),
	  .umin = USEC_PER_SEC,
	  .umax = USEC_PER_HOUR,
	  .step = USEC_PER_SEC,
	  .def_uint = 15 * USEC_PER_SEC,
	  .doc = "how often the textfile is rewritten" },
	{ NULL },
};

const struct schema_section gwc_metrics_section = {
	.name = "metrics",
	.size = sizeof(struct gw_metrics_config),
	.keys = metrics_keys,
};

/* ---- update: package transfers (gateway/pkg) ------------------------------- */

#define UP_OFF(f) offsetof(struct gw_update_config, f)

static int check_update_command(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
				void *t)
{
	const char *s = *(const char **)t;
	char w[600];

	(void)k;
	if (strstr(s, "{file}"))
		return 0;
	schema_error(ctx, n, "%s must contain {file} (the package's path), got '%s'",
		     schema_where(ctx, w, sizeof(w)), s);
	return -EINVAL;
}

/* A list of scheme names into GW_PKG_* bits: at least one, each once. */
static int parse_update_schemes(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
				void *t)
{
	static const char *const accepted = "coap, coaps, http, https";
	unsigned *bits = t;
	char w[600];

	(void)k;
	if (n->kind != YNODE_SEQ || n->seq.n == 0) {
		schema_error(ctx, n, "%s must be a list of one or more of %s, got %s",
			     schema_where(ctx, w, sizeof(w)), accepted, ynode_describe(n));
		return -EINVAL;
	}
	for (size_t i = 0; i < n->seq.n; i++) {
		const struct ynode *e = &n->seq.items[i];
		unsigned bit = e->kind == YNODE_SCALAR ? gw_pkg_scheme_bit(e->scalar.str) : 0;

		if (!bit) {
			schema_error(ctx, e, "unknown scheme '%s' in %s (expected one of %s)",
				     e->kind == YNODE_SCALAR ? e->scalar.str : ynode_describe(e),
				     schema_where(ctx, w, sizeof(w)), accepted);
			return -EINVAL;
		}
		if (*bits & bit) {
			schema_error(ctx, e, "scheme '%s' is listed twice in %s", e->scalar.str,
				     schema_where(ctx, w, sizeof(w)));
			return -EINVAL;
		}
		*bits |= bit;
	}
	return 0;
}

/* A duration as the other keys take it ("60s", "2m"), whole seconds,
 * 1 s to 1 h, into seconds. */
static int parse_update_timeout(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
				void *t)
{
	static const struct schema_key as_duration = {
		.kind = SCHEMA_DURATION, .umin = USEC_PER_SEC, .umax = USEC_PER_HOUR, .step = USEC_PER_SEC
	};
	uint64_t usec = 0;
	int r;

	(void)k;
	r = schema_parse_value(ctx, &as_duration, n, &usec);
	if (r < 0)
		return r;
	*(uint32_t *)t = (uint32_t)(usec / USEC_PER_SEC);
	return 0;
}

static const struct schema_key update_keys[] = {
	{ .name = "command",
	  .kind = SCHEMA_STRING,
	  .offset = UP_OFF(command),
	  .parse = check_update_command,
	  .doc = "what installs a firmware package, {file} replaced by its path (e.g. dpkg -i {file})" },
	{ .name = "command_timeout",
	  .kind = SCHEMA_DURATION,
	  .offset = UP_OFF(command_timeout_usec),
	  .umin = USEC_PER_SEC,
	  .umax = 24 * USEC_PER_HOUR,
	  .step = USEC_PER_SEC,
	  .def_uint = 15 * 60 * USEC_PER_SEC,
	  .doc = "how long update.command may run before it is killed (Update Result 8)" },
	{ .name = "max_size",
	  .kind = SCHEMA_UINT,
	  .offset = UP_OFF(max_size),
	  .umin = 1,
	  .def_uint = GW_UPDATE_MAX_SIZE,
	  .doc = "bytes: a package bigger than this is refused (Update Result 2)" },
	{ .name = "schemes",
	  .kind = SCHEMA_CUSTOM,
	  .offset = UP_OFF(schemes),
	  .parse = parse_update_schemes,
	  .size = sizeof(unsigned),
	  .doc = "Package URI schemes a pull may use: coap, coaps, http, https (default coaps, https)" },
	{ .name = "timeout",
	  .kind = SCHEMA_CUSTOM,
	  .offset = UP_OFF(timeout_s),
	  .parse = parse_update_timeout,
	  .size = sizeof(uint32_t),
	  .doc = "a pull that makes no progress this long fails (Update Result 4); default 60s" },
	/* Not "ca_file": a key ending in _file names a file holding the
	 * value of the key without it (gateway/secrets.c). Named like
	 * lwm2m.servers[].ca_certificate. */
	{ .name = "ca_certificate",
	  .kind = SCHEMA_STRING,
	  .offset = UP_OFF(ca_file),
	  .parse = gwc_check_absolute_path,
	  .doc = "PEM trust anchors for https and coaps pulls (default: the system's)" },
	{ .name = "psk_identity",
	  .kind = SCHEMA_STRING,
	  .offset = UP_OFF(psk_identity),
	  .max_len = 128,
	  .doc = "coaps pulls: PSK identity (with psk_key; instead of certificates)" },
	{ .name = "psk_key",
	  .kind = SCHEMA_CUSTOM,
	  .offset = UP_OFF(psk_key),
	  .parse = gwc_parse_psk_key,
	  .size = sizeof(struct gw_psk_key),
	  .doc = "hex; coaps pulls: the PSK of psk_identity",
	  .secret = SCHEMA_SECRET },
	{ NULL },
};

/* A PSK is an identity and a key: one without the other is a mistake. */
static int check_update(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	(void)obj;
	if (ynode_map_get(map, "psk_identity") && !ynode_map_get(map, "psk_key"))
		require_key(ctx, map, "psk_key", "update.psk_identity");
	if (ynode_map_get(map, "psk_key") && !ynode_map_get(map, "psk_identity"))
		require_key(ctx, map, "psk_identity", "update.psk_key");
	return 0;
}

const struct schema_section gwc_update_section = {
	.name = "update",
	.size = sizeof(struct gw_update_config),
	.keys = update_keys,
	.check = check_update,
};

void gwc_update_defaults(struct gw_update_config *u)
{
	/* The custom keys' defaults (a parsed value is never 0). */
	if (!u->schemes)
		u->schemes = GW_PKG_COAPS | GW_PKG_HTTPS;
	if (!u->timeout_s)
		u->timeout_s = GW_UPDATE_TIMEOUT_S;
	if (!u->max_size)
		u->max_size = GW_UPDATE_MAX_SIZE;
}
