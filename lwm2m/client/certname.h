/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: the server's identity in certificate mode.
 * libcoap 4.3.1 only says whether the server's chain verified against the
 * CA; whether the certificate is the configured server's is checked here
 * (RFC 6125, for IP addresses RFC 9525 6.2), against the host the operator
 * wrote (not the address it resolved to) or a name pinned instead.
 *
 * The rules:
 * - An IP address (IPv4 dotted quad, IPv6 with or without brackets) matches
 *   only a subjectAltName iPAddress of the same 4 or 16 bytes; never a
 *   dNSName nor the CN (an IPv4 address is not its ::ffff: mapped form).
 * - A DNS name matches a subjectAltName dNSName. The CN of the subject (the
 *   last one: the most specific) is used only when the certificate has no
 *   dNSName at all: the fallback RFC 6125 6.4.4 allows (RFC 9525 drops it),
 *   kept for CN-only server certificates, which LwM2M deployments still
 *   use. One dNSName is enough to turn the fallback off.
 * - Names compare ignoring ASCII case and one trailing dot on either side.
 *   Internationalized names are compared as A-labels ("xn--..."), as they
 *   appear in certificates; the expected name must be written that way.
 * - A wildcard is "*" as the whole left-most label, followed by at least
 *   two labels: "*.example.com" matches "a.example.com", not
 *   "example.com" nor "a.b.example.com". Partial wildcards ("f*o.example",
 *   "xn--*.example") and wildcards anywhere else never match.
 * - A presented name with bytes outside printable ASCII (a NUL among them),
 *   an empty label or more than 253 characters never matches.
 *
 * Pure: no libcoap, no logging. The certificate is read with mbedTLS, the
 * same code whichever TLS library libcoap is built with.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_CERTNAME_MAX 253 /* DNS name limit */

/* What the certificate must name. */
struct fg_certname_ref {
	bool ip;
	uint8_t addr[16]; /* ip: the address, addr_len 4 or 16 bytes */
	size_t addr_len;
	char name[FG_CERTNAME_MAX + 1]; /* !ip: lower case, no trailing dot */
	size_t name_len;
};

/* Parse the expected host: an IP address or a DNS name (labels of 1 to 63
 * letters, digits and '-', not starting or ending with '-'; at most 253
 * characters; one trailing dot allowed). 0, or -EINVAL (out untouched). */
int fg_certname_ref_parse(const char *host, struct fg_certname_ref *out);

/* Does one presented DNS name (a dNSName or CN value, p/len as in the
 * certificate, not NUL-terminated) match ref under the rules above? Always
 * false for an IP reference. */
bool fg_certname_dns_match(const uint8_t *p, size_t len, const struct fg_certname_ref *ref);

/* Does the DER certificate der/len name ref? 0 when it does, -EPERM when
 * it does not, -EBADMSG when mbedTLS cannot parse it. held (held_size
 * bytes, may be 0) receives, NUL-terminated and printable (other bytes as
 * \xNN, cut with "..."), what the certificate names: its subjectAltName
 * dNSName and iPAddress entries and, without a dNSName, its CN
 * ("DNS:a.example, IP:192.0.2.1", "IP:127.0.0.1, CN=localhost"), or "no
 * DNS name, IP address or CN", or "unreadable certificate: <reason>". */
int fg_certname_check(const uint8_t *der, size_t len, const struct fg_certname_ref *ref, char *held,
		      size_t held_size);
