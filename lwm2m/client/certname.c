/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's identity in certificate mode: see certname.h for the rules.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "certname.h"

/* GeneralName choices of subjectAltName (RFC 5280 4.2.1.6): context-
 * specific, primitive tags [2] and [7]. */
#define SAN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define SAN_IP  (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool same_ci(const char *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower((char)b[i]))
			return false;
	return true;
}

/* Letters, digits and '-' in labels of 1 to 63, none starting or ending
 * with '-' (RFC 1123 2.1), as the configuration accepts them. */
static bool ldh_name(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > FG_CERTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if ((label == 0 && c == '-') || ++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

int fg_certname_ref_parse(const char *host, struct fg_certname_ref *out)
{
	struct fg_certname_ref r = { 0 };
	char buf[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		if (inet_pton(AF_INET6, buf, r.addr) != 1)
			return -EINVAL;
		r.ip = true;
		r.addr_len = 16;
	} else if (inet_pton(AF_INET, host, r.addr) == 1) {
		r.ip = true;
		r.addr_len = 4;
	} else if (inet_pton(AF_INET6, host, r.addr) == 1) {
		r.ip = true;
		r.addr_len = 16;
	} else {
		/* An absolute name ("host.example.") is the same name. */
		if (n > 1 && host[n - 1] == '.')
			n--;
		if (!ldh_name(host, n))
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			r.name[i] = lower(host[i]);
		r.name_len = n;
	}
	*out = r;
	return 0;
}

bool fg_certname_dns_match(const uint8_t *p, size_t len, const struct fg_certname_ref *ref)
{
	const char *dot;
	size_t tail;

	if (ref->ip)
		return false;
	if (len > 1 && p[len - 1] == '.')
		len--;
	if (len == 0 || len > FG_CERTNAME_MAX || p[0] == '.' || p[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || (p[i] == '.' && i + 1 < len && p[i + 1] == '.'))
			return false;
	if (p[0] != '*')
		return !memchr(p, '*', len) && len == ref->name_len && same_ci(ref->name, p, len);
	/* "*." then at least two labels, and no other '*'. */
	if (len < 2 || p[1] != '.' || memchr(p + 1, '*', len - 1) || !memchr(p + 2, '.', len - 2))
		return false;
	/* The '*' stands for the reference's first label, which exists and
	 * is not empty (ref names are valid); the rest must be equal. */
	dot = memchr(ref->name, '.', ref->name_len);
	if (!dot)
		return false;
	tail = ref->name_len - (size_t)(dot - ref->name);
	return tail == len - 1 && same_ci(dot, p + 1, tail);
}

/* What the certificate names, for the log: entries joined with ", ",
 * bytes outside printable ASCII as \xNN, cut with "..." when full. */
struct held {
	char *s;
	size_t size, len;
	unsigned n; /* entries added */
};

static void held_add(struct held *h, const char *prefix, const uint8_t *v, size_t n)
{
	char tmp[FG_CERTNAME_MAX * 4 + 64];
	size_t k = (size_t)snprintf(tmp, sizeof(tmp), "%s%s", h->n++ ? ", " : "", prefix);

	for (size_t i = 0; i < n && k + 5 < sizeof(tmp); i++)
		k += (size_t)(v[i] >= 0x20 && v[i] < 0x7f && v[i] != '\\'
				      ? snprintf(tmp + k, sizeof(tmp) - k, "%c", v[i])
				      : snprintf(tmp + k, sizeof(tmp) - k, "\\x%02x", v[i]));
	if (h->size == 0 || h->len + 1 >= h->size)
		return;
	if (h->len + k < h->size) {
		memcpy(h->s + h->len, tmp, k);
		h->len += k;
		h->s[h->len] = '\0';
		return;
	}
	memcpy(h->s + h->len, tmp, h->size - 1 - h->len);
	h->len = h->size - 1;
	h->s[h->len] = '\0';
	if (h->size >= 4)
		memcpy(h->s + h->size - 4, "...", 3);
}

static void held_ip(struct held *h, const uint8_t *v, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	if ((n == 4 && inet_ntop(AF_INET, v, a, sizeof(a))) ||
	    (n == 16 && inet_ntop(AF_INET6, v, a, sizeof(a))))
		held_add(h, "IP:", (const uint8_t *)a, strlen(a));
	else
		held_add(h, "IP:?", NULL, 0); /* an address mask or garbage */
}

int fg_certname_check(const uint8_t *der, size_t len, const struct fg_certname_ref *ref, char *held,
		      size_t held_size)
{
	struct held h = { held, held_size, 0, 0 };
	const mbedtls_x509_buf *cn = NULL;
	mbedtls_x509_crt crt;
	bool dns = false, match = false;
	int r;

	if (held_size)
		held[0] = '\0';
	mbedtls_x509_crt_init(&crt);
	r = mbedtls_x509_crt_parse_der(&crt, der, len);
	if (r != 0) {
		char why[128];

		mbedtls_strerror(r, why, sizeof(why));
		held_add(&h, "unreadable certificate: ", (const uint8_t *)why, strlen(why));
		mbedtls_x509_crt_free(&crt);
		return -EBADMSG;
	}
	/* mbedTLS keeps every subjectAltName entry raw, its tag included
	 * (those it does not parse itself, iPAddress among them, too). */
	for (const mbedtls_x509_sequence *s = &crt.subject_alt_names; s && s->buf.p; s = s->next) {
		if (s->buf.tag == SAN_DNS) {
			dns = true;
			held_add(&h, "DNS:", s->buf.p, s->buf.len);
			match |= fg_certname_dns_match(s->buf.p, s->buf.len, ref);
		} else if (s->buf.tag == SAN_IP) {
			held_ip(&h, s->buf.p, s->buf.len);
			match |= ref->ip && s->buf.len == ref->addr_len &&
				 !memcmp(s->buf.p, ref->addr, ref->addr_len);
		}
	}
	if (!dns) {
		for (const mbedtls_x509_name *n = &crt.subject; n; n = n->next)
			if (n->oid.p && !MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid))
				cn = &n->val;
		if (cn) {
			held_add(&h, "CN=", cn->p, cn->len);
			match |= fg_certname_dns_match(cn->p, cn->len, ref);
		}
	}
	if (h.n == 0)
		held_add(&h, "no DNS name, IP address or CN", NULL, 0);
	mbedtls_x509_crt_free(&crt);
	return match ? 0 : -EPERM;
}
