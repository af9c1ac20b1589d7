/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration schema of fieldgate.yaml as key tables, its validators,
 * and loading (YAML -> schema -> object definitions).
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

/* ---- validators ------------------------------------------------------------ */

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

bool gw_name_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > GW_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

int gw_device_name_check(const char *name, int mode, char *why, size_t why_size)
{
	if (!gw_name_is_valid(name)) {
		if (why)
			snprintf(why, why_size,
				 "use 1 to %d letters, digits, '.', '_' or '-', starting with a letter or "
				 "digit",
				 GW_NAME_MAX);
		return -EINVAL;
	}
	if (mode == GW_MODE_GATEWAY && strspn(name, "0123456789") == strlen(name)) {
		if (why)
			snprintf(why, why_size,
				 "in gateway mode it is an Object 25 prefix and must not be all digits");
		return -EDOM;
	}
	return 0;
}

int gw_endpoint_template_check(const char *t, bool need_device, char *why, size_t why_size)
{
	static const char *const known[] = { "{gateway}", "{device}" };
	bool has_device = false;

	if (!*t) {
		snprintf(why, why_size, "it is empty");
		return -EINVAL;
	}
	for (const char *p = t; *p;) {
		if (*p == '{') {
			const char *e = strchr(p, '}');
			size_t i, n;
			if (!e) {
				snprintf(why, why_size, "'{' without a closing '}'");
				return -EINVAL;
			}
			n = (size_t)(e - p) + 1;
			for (i = 0; i < 2; i++)
				if (strlen(known[i]) == n && memcmp(p, known[i], n) == 0)
					break;
			if (i == 2) {
				snprintf(why, why_size,
					 "unknown placeholder '%.*s' (known: {gateway}, {device})",
					 (int)(n > 64 ? 64 : n), p);
				return -EINVAL;
			}
			if (i == 1)
				has_device = true;
			p = e + 1;
			continue;
		}
		if (!is_name_char(*p)) {
			snprintf(why, why_size,
				 "character '%c' is not allowed (use letters, digits, '.', '_', '-' and "
				 "placeholders)",
				 isprint((unsigned char)*p) ? *p : '?');
			return -EINVAL;
		}
		p++;
	}
	if (need_device && !has_device) {
		snprintf(why, why_size,
			 "it must contain {device}, or every device would get the same endpoint name");
		return -EINVAL;
	}
	return 0;
}

static bool valid_dns_name(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > GW_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			/* No empty label, none ending in '-'; a final dot (FQDN) is fine. */
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)c) || c == '-') || (label == 0 && c == '-') || ++label > 63)
			return false;
	}
	return label == 0 || h[n - 1] != '-';
}

int gw_uri_parse(const char *s, struct gw_uri *out, char *why, size_t why_size)
{
	struct gw_uri u = { .text = s };
	const char *p, *host, *end;
	size_t hlen;

	if (strncasecmp(s, "coaps://", 8) == 0) {
		u.scheme = GW_SCHEME_COAPS;
		u.port = 5684;
		p = s + 8;
	} else if (strncasecmp(s, "coap://", 7) == 0) {
		u.scheme = GW_SCHEME_COAP;
		u.port = 5683;
		p = s + 7;
	} else {
		const char *c = strstr(s, "://");
		if (c)
			snprintf(why, why_size, "unsupported scheme '%.*s' (expected coap:// or coaps://)",
				 (int)(c - s > 16 ? 16 : c - s), s);
		else
			snprintf(why, why_size, "expected coap://host[:port] or coaps://host[:port]");
		return -EINVAL;
	}

	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p))) {
		snprintf(why, why_size, "user information ('user@') is not allowed");
		return -EINVAL;
	}
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		struct in6_addr a6;
		if (!rb) {
			snprintf(why, why_size, "'[' without a closing ']'");
			return -EINVAL;
		}
		host = p + 1;
		hlen = (size_t)(rb - host);
		if (hlen == 0 || hlen >= sizeof(u.host)) {
			snprintf(why, why_size, "invalid IPv6 address");
			return -EINVAL;
		}
		memcpy(u.host, host, hlen);
		u.host[hlen] = '\0';
		if (inet_pton(AF_INET6, u.host, &a6) != 1) {
			snprintf(why, why_size, "invalid IPv6 address '%s'", u.host);
			return -EINVAL;
		}
		u.ipv6 = true;
		p = rb + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *hend = colon ? colon : end;
		bool numeric = true;
		host = p;
		hlen = (size_t)(hend - host);
		if (hlen == 0) {
			snprintf(why, why_size, "the host is missing");
			return -EINVAL;
		}
		if (hlen > GW_HOST_MAX) {
			snprintf(why, why_size, "the host name is longer than %d characters", GW_HOST_MAX);
			return -EINVAL;
		}
		memcpy(u.host, host, hlen);
		u.host[hlen] = '\0';
		for (size_t i = 0; i < hlen; i++)
			if (!isdigit((unsigned char)host[i]) && host[i] != '.')
				numeric = false;
		if (numeric) {
			struct in_addr a4;
			/* inet_pton rejects the shorthand forms inet_aton allows. */
			if (inet_pton(AF_INET, u.host, &a4) != 1) {
				snprintf(why, why_size, "invalid IPv4 address '%s'", u.host);
				return -EINVAL;
			}
		} else if (!valid_dns_name(u.host, hlen)) {
			snprintf(why, why_size, "invalid host name '%s'", u.host);
			return -EINVAL;
		}
		p = hend;
	}

	if (p < end && *p == ':') {
		const char *d = ++p;
		unsigned long port = 0;
		if (d == end) {
			snprintf(why, why_size, "the port after ':' is missing");
			return -EINVAL;
		}
		for (; p < end; p++) {
			if (!isdigit((unsigned char)*p)) {
				snprintf(why, why_size, "invalid port '%.*s'",
					 (int)(end - d > 32 ? 32 : end - d), d);
				return -EINVAL;
			}
			if (port <= 65535)
				port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port < 1 || port > 65535) {
			snprintf(why, why_size, "port %.*s is out of range (1..65535)",
				 (int)(end - d > 32 ? 32 : end - d), d);
			return -EINVAL;
		}
		u.port = (uint16_t)port;
	} else if (p < end) {
		snprintf(why, why_size, "unexpected '%c' after the host", *p);
		return -EINVAL;
	}
	if (*end && strcmp(end, "/") != 0) {
		snprintf(why, why_size, "a path, query or fragment is not allowed");
		return -EINVAL;
	}
	*out = u;
	return 0;
}

/* ---- custom key parsers and checks ----------------------------------------- */

static int check_name(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	const char *s = *(const char **)t;
	char w[600];

	(void)k;
	if (gw_name_is_valid(s))
		return 0;
	schema_error(ctx, n,
		     "invalid name '%s' for %s: use 1 to %d letters, digits, '.', '_' or '-', starting with "
		     "a letter "
		     "or digit",
		     s, schema_where(ctx, w, sizeof(w)), GW_NAME_MAX);
	return -EINVAL;
}

static int check_absolute_path(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
			       void *t)
{
	const char *s = *(const char **)t;
	char w[600];

	(void)k;
	if (s[0] == '/')
		return 0;
	schema_error(ctx, n, "%s must be an absolute path, got '%s'", schema_where(ctx, w, sizeof(w)), s);
	return -EINVAL;
}

static int check_template(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	char why[200], w[600];

	(void)k;
	/* Whether {device} is needed depends on the mode: checked again in
	 * check_lwm2m once the whole section is known. */
	if (gw_endpoint_template_check(*(const char **)t, false, why, sizeof(why)) == 0)
		return 0;
	schema_error(ctx, n, "invalid endpoint template '%s' for %s: %s", *(const char **)t,
		     schema_where(ctx, w, sizeof(w)), why);
	return -EINVAL;
}

static int parse_uri(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	static const struct schema_key as_string = { .kind = SCHEMA_STRING, .required = true };
	const char *s = NULL;
	char why[200], w[600];
	int r;

	(void)k;
	r = schema_parse_value(ctx, &as_string, n, &s);
	if (r < 0)
		return r;
	if (gw_uri_parse(s, t, why, sizeof(why)) == 0)
		return 0;
	schema_error(ctx, n, "invalid URI '%s' for %s: %s", s, schema_where(ctx, w, sizeof(w)), why);
	return -EINVAL;
}

/* server_name: what the server's certificate must name instead of the
 * URI's host, so the same syntax: a DNS name or an IP address. */
static bool valid_server_name(const char *s)
{
	uint8_t a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1 ||
	       valid_dns_name(s, strlen(s));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_psk_key(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	static const struct schema_key as_string = { .kind = SCHEMA_STRING };
	struct gw_psk_key *key = t;
	const char *s = NULL;
	size_t len;
	char w[600];
	int r;

	(void)k;
	r = schema_parse_value(ctx, &as_string, n, &s);
	if (r < 0 || !s)
		return r;
	len = strlen(s);
	if (len == 0 || len % 2 != 0 || len / 2 > GW_PSK_KEY_MAX)
		goto bad;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		key->bytes[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	key->len = len / 2;
	return 0;
bad:
	/* Do not echo the key: it is a secret and may end up in a log. */
	schema_error(ctx, n, "invalid key for %s: expected an even number of hex digits (1 to %d bytes)",
		     schema_where(ctx, w, sizeof(w)), GW_PSK_KEY_MAX);
	return -EINVAL;
}

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
		if (s->server_name && !valid_server_name(s->server_name)) {
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

static const struct schema_enum_word security_words[] = {
	{ "nosec", GW_SECURITY_NOSEC },
	{ "psk", GW_SECURITY_PSK },
	{ "certificate", GW_SECURITY_CERTIFICATE },
	{ NULL },
};

#define GW_OFF(f) offsetof(struct gw_config, f)
#define GG_OFF(f) offsetof(struct gw_gateway_config, f)
#define LG_OFF(f) offsetof(struct gw_log_config, f)
#define LW_OFF(f) offsetof(struct gw_lwm2m_config, f)
#define SV_OFF(f) offsetof(struct gw_server, f)

static const struct schema_key gateway_keys[] = {
	{ .name = "name",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = GG_OFF(name),
	  .parse = check_name,
	  .doc = "the gateway's name: its own endpoint name and {gateway} in templates" },
	{ .name = "state_dir",
	  .kind = SCHEMA_STRING,
	  .offset = GG_OFF(state_dir),
	  .def_str = "/var/lib/fieldgate",
	  .parse = check_absolute_path,
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
	  .parse = check_absolute_path,
	  .doc = "Unix socket of `fieldgate status` (default: $RUNTIME_DIRECTORY/fieldgate.sock, else "
		 "/run/fieldgate/fieldgate.sock)" },
	{ .name = "devices_dir",
	  .kind = SCHEMA_STRING,
	  .offset = GG_OFF(devices_dir),
	  .doc = "folder of *.yaml files with more devices (relative to this file; default devices.d)" },
	{ NULL },
};

static const struct schema_section gateway_section = {
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

static const struct schema_section log_section = {
	.name = "log",
	.size = sizeof(struct gw_log_config),
	.keys = log_keys,
};

static const struct schema_key server_keys[] = {
	{ .name = "uri",
	  .kind = SCHEMA_CUSTOM,
	  .required = true,
	  .offset = SV_OFF(uri),
	  .parse = parse_uri,
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
	  .parse = parse_psk_key,
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
	  .parse = check_template },
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

static const struct schema_section lwm2m_section = {
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
	  .parse = check_absolute_path,
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

static const struct schema_section metrics_section = {
	.name = "metrics",
	.size = sizeof(struct gw_metrics_config),
	.keys = metrics_keys,
};

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
	    !d->psk_identity != !d->psk_key.len) {
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
	  .parse = check_name,
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
	  .parse = check_name,
	  .doc = "endpoint name instead of the template's" },
	{ .name = "psk_identity", .kind = SCHEMA_STRING, .offset = DV_OFF(psk_identity), .max_len = 128 },
	{ .name = "psk_key",
	  .kind = SCHEMA_CUSTOM,
	  .offset = DV_OFF(psk_key),
	  .parse = parse_psk_key,
	  .size = sizeof(struct gw_psk_key),
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
	  .section = &gateway_section },
	{ .name = "log", .kind = SCHEMA_SECTION, .offset = GW_OFF(log), .section = &log_section },
	{ .name = "lwm2m",
	  .kind = SCHEMA_SECTION,
	  .required = true,
	  .offset = GW_OFF(lwm2m),
	  .section = &lwm2m_section },
	{ .name = "metrics", .kind = SCHEMA_SECTION, .offset = GW_OFF(metrics), .section = &metrics_section },
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

static const struct schema_section root_section = {
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
		/* The name's characters are check_name()'s, reported already. */
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

/* ---- loading ------------------------------------------------------------------ */

const char *gw_mode_to_string(int mode)
{
	return mode == GW_MODE_GATEWAY ? "gateway" : "endpoint";
}

const char *gw_security_to_string(int security)
{
	switch (security) {
	case GW_SECURITY_PSK:
		return "psk";
	case GW_SECURITY_CERTIFICATE:
		return "certificate";
	default:
		return "nosec";
	}
}

struct gw_config *gw_config_free(struct gw_config *c)
{
	if (!c)
		return NULL;
	mapping_set_free(c->profiles);
	free(c->device_profiles);
	schema_free(&root_section, c);
	for (size_t i = 0; i < c->ndevices_docs; i++)
		ydoc_free(c->devices_docs[i]);
	free(c->devices_docs);
	free(c->devices_dir);
	free(c->objects_dir);
	for (char **p = c->profiles_dirs; p && *p; p++)
		free(*p);
	free(c->profiles_dirs);
	ydoc_free(c->doc);
	free(c);
	return NULL;
}

static int split_profiles_path(struct gw_config *c, const char *path)
{
	const char *s = c->gateway.profiles_path ? c->gateway.profiles_path : "";
	const char *slash = path ? strrchr(path, '/') : NULL;
	size_t n = 1;

	for (const char *p = s; *p; p++)
		n += *p == ':';
	c->profiles_dirs = calloc(n + 1, sizeof(char *));
	if (!c->profiles_dirs)
		return -ENOMEM;
	n = 0;
	for (const char *p = s; *p;) {
		size_t len = strcspn(p, ":");
		char *d;
		int r;
		if (len == 0) {
			p++;
			continue;
		}
		/* Relative to the configuration file, like objects_dir. */
		if (p[0] != '/' && slash)
			r = asprintf(&d, "%.*s/%.*s", (int)(slash - path), path, (int)len, p);
		else
			r = asprintf(&d, "%.*s", (int)len, p);
		if (r < 0)
			return -ENOMEM;
		c->profiles_dirs[n++] = d;
		p += len;
	}
	return 0;
}

/* The secrets of the main file and of devices_dir's files. */
static int check_secrets(const struct gw_config *c, const struct gw_secret_scan *secrets, struct diag *diag)
{
	struct ydoc **docs = calloc(c->ndevices_docs + 1, sizeof(*docs));
	int r;

	if (!docs)
		return -ENOMEM;
	docs[0] = c->doc;
	if (c->ndevices_docs)
		memcpy(docs + 1, c->devices_docs, c->ndevices_docs * sizeof(*docs));
	r = gw_secrets_check(secrets, docs, c->ndevices_docs + 1, diag);
	free(docs);
	return r;
}

static int config_from_doc(struct ydoc *doc, const char *path, struct diag *diag, struct gw_config **out,
			   struct gw_config **partial)
{
	struct gw_secret_scan secrets = { 0 };
	struct gw_config *c;
	int r, rs, rf, rd;

	c = calloc(1, sizeof(*c));
	if (!c) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	c->doc = doc;
	/* Secrets of *_file and *_credential keys first: put in place, they
	 * are parsed like any other. */
	rf = gw_secrets_resolve(doc, diag, &secrets);
	rd = gw_devices_dir_load(c, path, diag, &secrets);
	if (rf == 0 || rd == -ENOMEM)
		rf = rd;
	r = schema_parse_secrets(&root_section, ydoc_root(doc), c, diag, NULL, gw_secret_seen, &secrets);
	rs = check_secrets(c, &secrets, diag);
	gw_secret_scan_clear(&secrets);
	if (r == 0 || rs == -ENOMEM)
		r = rs == -EACCES ? -EINVAL : rs;
	if (r == 0 || rf == -ENOMEM)
		r = rf;
	if (r == -EINVAL && partial && split_profiles_path(c, path) >= 0) {
		*partial = c;
		return r;
	}
	if (r < 0) {
		gw_config_free(c);
		return r;
	}

	if (c->gateway.objects_dir) {
		const char *d = c->gateway.objects_dir;
		const char *slash = path ? strrchr(path, '/') : NULL;
		/* Relative to the configuration file, so a folder shipped
		 * beside it works wherever the daemon was started. */
		if (d[0] != '/' && slash)
			r = asprintf(&c->objects_dir, "%.*s/%s", (int)(slash - path), path, d);
		else
			r = (c->objects_dir = strdup(d)) ? 0 : -1;
		if (r < 0) {
			c->objects_dir = NULL;
			gw_config_free(c);
			return -ENOMEM;
		}
	}
	r = split_profiles_path(c, path);
	if (r < 0) {
		gw_config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int gw_config_load_file(const char *path, struct diag *diag, struct gw_config **out)
{
	struct ydoc *doc;
	int r;

	*out = NULL;
	r = ydoc_load_file(path, NULL, diag, &doc);
	if (r < 0)
		return r;
	return config_from_doc(doc, path, diag, out, NULL);
}

int gw_config_load_file_partial(const char *path, struct diag *diag, struct gw_config **out,
				struct gw_config **partial)
{
	struct ydoc *doc;
	int r;

	*out = NULL;
	*partial = NULL;
	r = ydoc_load_file(path, NULL, diag, &doc);
	if (r < 0)
		return r;
	return config_from_doc(doc, path, diag, out, partial);
}

int gw_config_load_buffer(const char *name, const void *data, size_t len, struct diag *diag,
			  struct gw_config **out)
{
	struct ydoc *doc;
	int r;

	*out = NULL;
	r = ydoc_load_buffer(name, data, len, NULL, diag, &doc);
	if (r < 0)
		return r;
	return config_from_doc(doc, NULL, diag, out, NULL);
}

int gw_config_load_objects(const struct gw_config *c, struct diag *diag, struct lwm2m_registry **out,
			   size_t *loaded)
{
	struct lwm2m_registry *reg;
	unsigned before = diag ? diag->errors : 0;
	int r;

	*out = NULL;
	if (loaded)
		*loaded = 0;
	reg = lwm2m_registry_new();
	if (!reg)
		return -ENOMEM;
	if (c->objects_dir) {
		DIR *d = opendir(c->objects_dir);
		/* Checked here first so the error points at the key in the
		 * configuration, not only at the folder. */
		if (!d) {
			const struct ynode *n =
				ynode_map_get(ynode_map_get(ydoc_root(c->doc), "gateway"), "objects_dir");
			r = -errno;
			diag_report(diag, DIAG_ERROR, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
				    "cannot read objects_dir '%s': %s", c->objects_dir, strerror(-r));
			lwm2m_registry_free(reg);
			return r;
		}
		closedir(d);
		r = lwm2m_registry_load_dir(reg, c->objects_dir, diag_forward_error, diag);
		if (r < 0) {
			lwm2m_registry_free(reg);
			return r;
		}
		if (loaded)
			*loaded = (size_t)r;
		if (diag && diag->errors > before) {
			lwm2m_registry_free(reg);
			return -EINVAL;
		}
	}
	*out = reg;
	return 0;
}

int gw_config_load_profiles(struct gw_config *c, const struct lwm2m_registry *reg, struct diag *diag)
{
	char *path = NULL;
	size_t len = 0;
	FILE *f;
	int ret = 0;

	/* The resolved folders, ':'-joined again for the engine. */
	f = open_memstream(&path, &len);
	if (!f)
		return -ENOMEM;
	for (char **p = c->profiles_dirs; p && *p; p++)
		fprintf(f, "%s%s", p == c->profiles_dirs ? "" : ":", *p);
	if (fclose(f) != 0) {
		free(path);
		return -ENOMEM;
	}
	mapping_set_free(c->profiles);
	free(c->device_profiles);
	c->profiles = mapping_set_new(reg, bridge_source_kinds(), path);
	free(path);
	c->device_profiles = calloc(c->devices.n + 1, sizeof(*c->device_profiles));
	if (!c->profiles || !c->device_profiles)
		return -ENOMEM;
	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *d = gw_config_device(c, i);
		const struct ynode *at = ynode_map_get(d->node, "profile");
		const struct gw_bridge *b = d->bridge ? gw_config_find_bridge(c, d->bridge) : NULL;
		const char *kind;
		int r;
		/* A partially parsed configuration (`fieldgate check` after
		 * errors) may have devices without a usable profile key. */
		if (!d->name || !d->profile || !at || at->kind != YNODE_SCALAR) {
			ret = -EINVAL;
			continue;
		}
		r = mapping_set_get(c->profiles, d->profile, at, diag, &c->device_profiles[i]);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			ret = -EINVAL;
			continue;
		}
		kind = mapping_profile_bridge(c->device_profiles[i]);
		if (kind && !d->bridge) {
			diag_report(diag, DIAG_ERROR, at->file, at->line, at->col,
				    "profile '%s' reads from a %s bridge, but device '%s' has no 'bridge'",
				    d->profile, kind, d->name);
			ret = -EINVAL;
		} else if (kind && b && b->type && strcmp(kind, b->type) != 0) {
			diag_report(diag, DIAG_ERROR, at->file, at->line, at->col,
				    "profile '%s' is for a %s bridge, but device '%s' uses bridge '%s' of "
				    "type %s",
				    d->profile, kind, d->name, b->name, b->type);
			ret = -EINVAL;
		}
	}
	return ret;
}

size_t gw_config_device_count(const struct gw_config *c)
{
	return c->devices.n;
}

size_t gw_config_bridge_count(const struct gw_config *c)
{
	return c->bridges.n;
}

char *gw_config_summary(const struct gw_config *c, const char *path, const struct lwm2m_registry *reg,
			size_t loaded)
{
	char lifetime[64], *s = NULL;
	size_t len = 0, nobj = reg ? lwm2m_registry_count(reg) : 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	schema_format_duration(c->lwm2m.lifetime_usec, lifetime, sizeof(lifetime));
	fprintf(f, "%s: configuration is valid. Gateway '%s' in %s mode", path, c->gateway.name,
		gw_mode_to_string(c->lwm2m.mode));
	if (c->lwm2m.mode == GW_MODE_ENDPOINT)
		fprintf(f, " (endpoint names '%s')", c->lwm2m.endpoint_template);
	fprintf(f, ", lifetime %s, state in %s; %zu LwM2M server%s (", lifetime, c->gateway.state_dir,
		c->lwm2m.servers.n, c->lwm2m.servers.n == 1 ? "" : "s");
	for (size_t i = 0; i < c->lwm2m.servers.n; i++) {
		const struct gw_server *sv = gw_config_server(c, i);
		fprintf(f, "%s%s %s%s", i ? ", " : "", sv->uri.text, gw_security_to_string(sv->security),
			sv->bootstrap ? " bootstrap" : "");
	}
	fprintf(f, "); %zu bridge%s, %zu device%s", gw_config_bridge_count(c),
		gw_config_bridge_count(c) == 1 ? "" : "s", gw_config_device_count(c),
		gw_config_device_count(c) == 1 ? "" : "s");
	if (c->ndevices_docs)
		fprintf(f, " (%zu from %zu file%s in %s)", c->devices.n - c->ndevices_main, c->ndevices_docs,
			c->ndevices_docs == 1 ? "" : "s", c->devices_dir);
	fprintf(f, "; %zu object definitions known", nobj);
	if (c->objects_dir)
		fprintf(f, " (%zu loaded from %s)", loaded, c->objects_dir);
	fputc('.', f);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}
