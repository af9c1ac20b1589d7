/* SPDX-License-Identifier: Apache-2.0 */
/* gw_pkg_uri_check() / pkg_uri_parse(): never reads past the string, gives
 * one of its three results, and what it accepts is what a fetch would use:
 * a host of URI characters, a port, a path that is empty or starts with
 * '/', all within the input ('@' only in the path or query). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/pkg/pkg_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALL (GW_PKG_COAP | GW_PKG_COAPS | GW_PKG_HTTP | GW_PKG_HTTPS)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct pkg_uri u;
	enum gw_pkg_result r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	r = pkg_uri_parse(s, &u);
	if (r != GW_PKG_OK && r != GW_PKG_INVALID_URI && r != GW_PKG_UNSUPPORTED_PROTOCOL)
		abort();
	/* The check agrees with the parse (coaps: when this build can fetch
	 * it, which /5/0/8 says: protocol 1), and with the schemes allowed. */
	int64_t protos[4];
	size_t np = gw_pkg_protocols(ALL, protos, 4);
	bool coaps = np > 1 && protos[1] == 1; /* sorted: 0 CoAP, 1 CoAPS... */
	if (gw_pkg_uri_check(s, ALL) !=
	    (r == GW_PKG_OK && u.scheme == GW_PKG_COAPS && !coaps ? GW_PKG_UNSUPPORTED_PROTOCOL : r))
		abort();
	if (r == GW_PKG_OK) {
		size_t n = strlen(s);
		if (gw_pkg_uri_check(s, ALL & ~u.scheme) != GW_PKG_UNSUPPORTED_PROTOCOL)
			abort();
		if (!u.host[0] || strlen(u.host) > PKG_HOST_MAX || u.port == 0)
			abort();
		if (u.path < s || u.path + u.path_len > s + n || (u.path_len && u.path[0] != '/'))
			abort();
		if (u.query && (u.query < s || u.query + u.query_len != s + n))
			abort();
		if (strpbrk(u.host, "@/?#% ") || memchr(s, '#', n))
			abort();
	}
	free(s);
	return 0;
}
