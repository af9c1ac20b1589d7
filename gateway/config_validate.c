/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Validators of fieldgate.yaml values (names, endpoint templates, URIs,
 * PSK keys) and the custom key parsers the schema tables use.
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

int gwc_check_name(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
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

int gwc_check_absolute_path(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
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

int gwc_check_template(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
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

int gwc_parse_uri(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
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
bool gwc_valid_server_name(const char *s)
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

int gwc_parse_psk_key(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
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

int gwc_parse_psk_key_ptr(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	struct gw_psk_key key = { 0 }, **out = t;
	int r = gwc_parse_psk_key(ctx, k, n, &key);

	if (r >= 0 && key.len) {
		gwc_free_psk_key_ptr(out);
		*out = malloc(sizeof(key));
		if (*out)
			**out = key;
		else
			r = -ENOMEM;
	}
	explicit_bzero(&key, sizeof(key));
	return r;
}

void gwc_free_psk_key_ptr(void *t)
{
	struct gw_psk_key **key = t;

	if (!*key)
		return;
	explicit_bzero(*key, sizeof(**key));
	free(*key);
	*key = NULL;
}
