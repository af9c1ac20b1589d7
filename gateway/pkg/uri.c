/* SPDX-License-Identifier: Apache-2.0 */
/* Package URIs: the strict check before anything is fetched, and the
 * scheme lists of update.schemes and /5/0/8. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/resolve.h"
#include "gateway/pkg/pkg_internal.h"

static const struct {
	const char *name;
	unsigned bit;
	uint16_t port;
	int64_t protocol; /* /5/0/8 */
} schemes[] = {
	{ "coap", GW_PKG_COAP, 5683, 0 },
	{ "coaps", GW_PKG_COAPS, 5684, 1 },
	{ "http", GW_PKG_HTTP, 80, 2 },
	{ "https", GW_PKG_HTTPS, 443, 3 },
};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

/* What a pull can fetch: coaps only with a libcoap that has DTLS
 * (meson option coap_tls). A scheme the configuration allows beyond these
 * is refused as unsupported and not offered in /5/0/8. */
#ifdef FG_PKG_COAPS
#define FETCHABLE (GW_PKG_COAP | GW_PKG_COAPS | GW_PKG_HTTP | GW_PKG_HTTPS)
#else
#define FETCHABLE (GW_PKG_COAP | GW_PKG_HTTP | GW_PKG_HTTPS)
#endif

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar minus pct-encoded, plus '/' and '?' (path and query). */
static bool is_path_char(char c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("-._~!$&'()*+,;=:@/?", c));
}

/* The path and query: RFC 3986 characters, every '%' followed by two hex
 * digits; a '#' (fragment) or anything else is refused. */
static bool path_ok(const char *p)
{
	for (; *p; p++) {
		if (*p == '%') {
			if (!is_hex(p[1]) || !is_hex(p[2]))
				return false;
			p += 2;
		} else if (!is_path_char(*p)) {
			return false;
		}
	}
	return true;
}

/* A registered name: letters, digits, '-' and '.', labels of 1-63. */
static bool reg_name_ok(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > PKG_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (is_alpha(h[i]) || is_digit(h[i]) || h[i] == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static enum gw_pkg_result parse_host(const char *h, size_t n, struct pkg_uri *out)
{
	char buf[64];
	int family;

	if (n > 0 && h[0] == '[') {
		/* An IPv6 literal; no zone ids (a Package URI names a host
		 * the server can name too). */
		if (n < 3 || h[n - 1] != ']' || n - 2 >= sizeof(out->host))
			return GW_PKG_INVALID_URI;
		memcpy(out->host, h + 1, n - 2);
		out->host[n - 2] = 0;
		if (resolve_numeric(out->host, &family, buf, sizeof(buf)) < 0 || family != AF_INET6)
			return GW_PKG_INVALID_URI;
		out->host_is_ip = 1;
		return GW_PKG_OK;
	}
	if (!reg_name_ok(h, n))
		return GW_PKG_INVALID_URI;
	memcpy(out->host, h, n);
	out->host[n] = 0;
	/* A dotted quad is an IPv4 address; other all-digit names (1.2.3,
	 * 999.1.1.1) are neither an address nor a name. */
	bool numeric = true;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(h[i]) && h[i] != '.')
			numeric = false;
	if (numeric) {
		if (resolve_numeric(out->host, &family, buf, sizeof(buf)) < 0 || family != AF_INET ||
		    strcmp(buf, out->host) != 0)
			return GW_PKG_INVALID_URI;
		out->host_is_ip = 1;
	}
	return GW_PKG_OK;
}

static enum gw_pkg_result parse_port(const char *p, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return GW_PKG_INVALID_URI;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return GW_PKG_INVALID_URI;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return GW_PKG_INVALID_URI;
	*port = (uint16_t)v;
	return GW_PKG_OK;
}

enum gw_pkg_result pkg_uri_parse(const char *uri, struct pkg_uri *out)
{
	const char *p, *auth, *end, *colon;
	size_t slen, i;
	enum gw_pkg_result r;

	memset(out, 0, sizeof(*out));
	if (!uri || strnlen(uri, PKG_URI_MAX + 1) > PKG_URI_MAX)
		return GW_PKG_INVALID_URI;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	for (p = uri; is_alpha(*p) || (p > uri && (is_digit(*p) || *p == '+' || *p == '-' || *p == '.')); p++)
		;
	slen = (size_t)(p - uri);
	if (slen == 0 || strncmp(p, "://", 3) != 0)
		return GW_PKG_INVALID_URI;
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	if (*end == '#' || !path_ok(end))
		return GW_PKG_INVALID_URI;
	if (memchr(auth, '@', (size_t)(end - auth)))
		return GW_PKG_INVALID_URI; /* userinfo: no credentials in a URI */
	/* The port's colon: after an IPv6 literal's ']', else the only one. */
	colon = NULL;
	if (*auth == '[') {
		const char *rb = memchr(auth, ']', (size_t)(end - auth));
		if (!rb)
			return GW_PKG_INVALID_URI;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return GW_PKG_INVALID_URI;
			colon = rb + 1;
		}
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
	}
	for (i = 0; i < NSCHEMES; i++)
		if (strlen(schemes[i].name) == slen && strncasecmp(uri, schemes[i].name, slen) == 0)
			break;
	r = parse_host(auth, (size_t)((colon ? colon : end) - auth), out);
	if (r == GW_PKG_OK && colon)
		r = parse_port(colon + 1, (size_t)(end - colon - 1), &out->port);
	if (r != GW_PKG_OK)
		return r;
	if (i == NSCHEMES)
		return GW_PKG_UNSUPPORTED_PROTOCOL; /* well-formed, of another scheme */
	out->scheme = schemes[i].bit;
	if (!colon)
		out->port = schemes[i].port;
	out->path = end;
	out->path_len = strcspn(end, "?");
	if (end[out->path_len] == '?') {
		out->query = end + out->path_len + 1;
		out->query_len = strlen(out->query);
	}
	return GW_PKG_OK;
}

enum gw_pkg_result gw_pkg_uri_check(const char *uri, unsigned allowed)
{
	struct pkg_uri u;
	enum gw_pkg_result r = pkg_uri_parse(uri, &u);

	if (r == GW_PKG_OK && !(u.scheme & allowed & FETCHABLE))
		return GW_PKG_UNSUPPORTED_PROTOCOL;
	return r;
}

size_t gw_pkg_protocols(unsigned allowed, int64_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < NSCHEMES && n < max; i++)
		if (allowed & FETCHABLE & schemes[i].bit)
			out[n++] = schemes[i].protocol;
	return n;
}

void pkg_schemes_format(unsigned allowed, char *buf, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return;
	buf[0] = 0;
	for (size_t i = 0; i < NSCHEMES; i++)
		if (allowed & schemes[i].bit) {
			int w = snprintf(buf + n, size - n, "%s%s", n ? "," : "", schemes[i].name);
			if (w < 0 || (size_t)w >= size - n)
				return;
			n += (size_t)w;
		}
}

unsigned pkg_schemes_parse(const char *s)
{
	unsigned bits = 0;

	while (*s) {
		size_t n = strcspn(s, ","), i;
		for (i = 0; i < NSCHEMES; i++)
			if (strlen(schemes[i].name) == n && strncmp(s, schemes[i].name, n) == 0)
				break;
		if (i == NSCHEMES)
			return 0;
		bits |= schemes[i].bit;
		s += n;
		if (*s == ',')
			s++;
	}
	return bits;
}

unsigned gw_pkg_scheme_bit(const char *name)
{
	for (size_t i = 0; i < NSCHEMES; i++)
		if (strcmp(name, schemes[i].name) == 0)
			return schemes[i].bit;
	return 0;
}
