/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the server name check of certificate mode
 * (lwm2m/client/certname.c, issue 11 item 2): the expected host's syntax,
 * the name matcher's edge cases (case, trailing dot, A-labels, wildcards
 * that must not stretch over several labels or sit inside one, embedded
 * NUL, IPv6 in brackets), and whole certificates from tests/data/certname/
 * (made by its make.sh): which names each one is accepted for, and what
 * the log line says it holds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwm2m/client/certname.h"
#include "testutil.h"

static struct fg_certname_ref ref_of(const char *host)
{
	struct fg_certname_ref r;

	if (fg_certname_ref_parse(host, &r) != 0)
		fail_msg("expected host '%s' refused", host);
	return r;
}

static void expected_host_syntax(void **state)
{
	static const char *const good[] = {
		"localhost", "LocalHost", "localhost.", "a.example.com",  "xn--bcher-kva.example", "a-b.c0",
		"127.0.0.1", "::1",       "[::1]",      "[2001:db8::10]", "2001:DB8::10",          "0.0.0.0",
	};
	static const char *const bad[] = {
		"",
		".",
		"..",
		"a..b",
		".a",
		"a.b..",
		"-a.b",
		"a-.b",
		"a_b.example",
		"*.example.com",
		"f*o.example",
		"b\303\274cher.example" /* UTF-8 */,
		"exa mple",
		"[::1",
		"::1]",
		"[127.0.0.1]",
		"[]",
		"fe80::1%eth0",
		"localhost:5684",
		"a/b",
	};
	struct fg_certname_ref r;
	char label64[80], name254[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(fg_certname_ref_parse(good[i], &r), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.name_len = 77;
		if (fg_certname_ref_parse(bad[i], &r) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(r.name_len, 77); /* untouched */
	}

	/* Normal form: lower case, no final dot; addresses as bytes. */
	r = ref_of("LocalHost.");
	assert_false(r.ip);
	assert_string_equal(r.name, "localhost");
	assert_int_equal(r.name_len, 9);
	r = ref_of("[::1]");
	assert_true(r.ip);
	assert_int_equal(r.addr_len, 16);
	assert_int_equal(r.addr[15], 1);
	r = ref_of("127.0.0.1");
	assert_true(r.ip);
	assert_int_equal(r.addr_len, 4);
	assert_memory_equal(r.addr, "\x7f\0\0\x01", 4);

	/* Lengths: labels up to 63, names up to 253 (+ a final dot). */
	memset(label64, 'a', 63);
	strcpy(label64 + 63, ".example");
	assert_int_equal(fg_certname_ref_parse(label64, &r), 0);
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".example");
	assert_int_equal(fg_certname_ref_parse(label64, &r), -EINVAL);
	for (size_t i = 0; i < 253; i++)
		name254[i] = i % 2 ? '.' : 'a';
	name254[253] = '\0';
	assert_int_equal(fg_certname_ref_parse(name254, &r), 0);
	strcpy(name254 + 253, ".");
	assert_int_equal(fg_certname_ref_parse(name254, &r), 0);
	strcpy(name254 + 252, "ab");
	assert_int_equal(fg_certname_ref_parse(name254, &r), -EINVAL);
}

static bool match(const char *presented, const char *host)
{
	struct fg_certname_ref r = ref_of(host);

	return fg_certname_dns_match((const uint8_t *)presented, strlen(presented), &r);
}

static void name_matcher(void **state)
{
	static const struct {
		const char *presented, *host;
		bool match;
	} cases[] = {
		{ "localhost", "localhost", true },
		/* ASCII case, one final dot on either side */
		{ "LOCALHOST", "localhost", true },
		{ "localhost", "LocalHost", true },
		{ "localhost.", "localhost", true },
		{ "localhost", "localhost.", true },
		{ "localhost..", "localhost", false },
		{ "localhost", "localhost2", false },
		{ "localhost2", "localhost", false },
		{ "other.example", "localhost", false },
		{ "", "localhost", false },
		{ ".", "localhost", false },
		{ ".localhost", "localhost", false },
		{ "a..example.com", "a.example.com", false },
		/* A-labels compare as they are; a U-label never matches */
		{ "xn--bcher-kva.example", "xn--bcher-kva.example", true },
		{ "XN--BCHER-KVA.example", "xn--bcher-kva.example", true },
		{ "b\303\274cher.example" /* UTF-8 */, "xn--bcher-kva.example", false },
		/* wildcard: the whole left-most label, one label exactly */
		{ "*.example.com", "a.example.com", true },
		{ "*.EXAMPLE.com", "Lwm2m.example.com", true },
		{ "*.example.com.", "a.example.com", true },
		{ "*.example.com", "xn--bcher-kva.example.com", true },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "a.b.example.com", false },
		{ "*.example.com", "a.example.org", false },
		{ "*.example.com", "aexample.com", false },
		/* ... followed by at least two labels */
		{ "*.com", "example.com", false },
		{ "*.", "localhost", false },
		{ "*", "localhost", false },
		/* no partial wildcard, none but the left-most label, one only */
		{ "f*o.example", "foo.example", false },
		{ "*o.example", "foo.example", false },
		{ "f*.example", "foo.example", false },
		{ "xn--*.example", "xn--bcher-kva.example", false },
		{ "a.*.example.com", "a.b.example.com", false },
		{ "*.*.example.com", "a.b.example.com", false },
		{ "**.example.com", "a.example.com", false },
		/* an address is never a DNS name's match */
		{ "127.0.0.1", "127.0.0.1", false },
		{ "::1", "::1", false },
		{ "*.0.0.1", "127.0.0.1", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (match(cases[i].presented, cases[i].host) != cases[i].match)
			fail_msg("'%s' for '%s': expected %s", cases[i].presented, cases[i].host,
				 cases[i].match ? "a match" : "no match");
}

static void name_matcher_bytes(void **state)
{
	struct fg_certname_ref r = ref_of("localhost");
	struct fg_certname_ref w = ref_of("a.example.com");

	(void)state;
	/* The classic NUL trick: "localhost\0.attacker.example" must not be
	 * read as "localhost"; nor any control or non-ASCII byte. */
	assert_false(fg_certname_dns_match((const uint8_t *)"localhost\0.attacker.example", 28, &r));
	assert_false(fg_certname_dns_match((const uint8_t *)"localhost\0", 10, &r));
	assert_false(fg_certname_dns_match((const uint8_t *)"local\thost", 10, &r));
	assert_false(fg_certname_dns_match((const uint8_t *)"localhost\x80", 10, &r));
	assert_false(fg_certname_dns_match((const uint8_t *)"*.example.com\0", 14, &w));
	/* Length given, not NUL-terminated. */
	assert_true(fg_certname_dns_match((const uint8_t *)"localhostXYZ", 9, &r));
	assert_false(fg_certname_dns_match((const uint8_t *)"localhost", 0, &r));
	/* Longer than a DNS name can be. */
	{
		uint8_t big[300];

		memset(big, 'a', sizeof(big));
		assert_false(fg_certname_dns_match(big, sizeof(big), &r));
	}
}

static int check(const char *file, const char *host, char *held, size_t held_size)
{
	struct fg_certname_ref r = ref_of(host);
	char rel[128];
	size_t len;
	uint8_t *der;
	int rc;

	snprintf(rel, sizeof(rel), "certname/%s", file);
	der = tu_read_data(rel, &len);
	rc = fg_certname_check(der, len, &r, held, held_size);
	free(der);
	return rc;
}

static void certificates(void **state)
{
	static const struct {
		const char *file, *host;
		int rc;
		const char *held;
	} cases[] = {
		/* DNS:localhost, CN=other.example: the CN is not looked at */
		{ "dns-localhost.der", "localhost", 0, "DNS:localhost" },
		{ "dns-localhost.der", "LOCALHOST.", 0, "DNS:localhost" },
		{ "dns-localhost.der", "other.example", -EPERM, "DNS:localhost" },
		{ "dns-localhost.der", "127.0.0.1", -EPERM, "DNS:localhost" },
		/* IP:127.0.0.1, IP:::1 and CN=localhost (no dNSName: CN used) */
		{ "ip.der", "127.0.0.1", 0, "IP:127.0.0.1, IP:::1, CN=localhost" },
		{ "ip.der", "::1", 0, "IP:127.0.0.1, IP:::1, CN=localhost" },
		{ "ip.der", "[::1]", 0, "IP:127.0.0.1, IP:::1, CN=localhost" },
		{ "ip.der", "127.0.0.2", -EPERM, "IP:127.0.0.1, IP:::1, CN=localhost" },
		{ "ip.der", "::2", -EPERM, "IP:127.0.0.1, IP:::1, CN=localhost" },
		{ "ip.der", "localhost", 0, "IP:127.0.0.1, IP:::1, CN=localhost" },
		/* CN only: for a DNS name, never for an address */
		{ "cn-only.der", "localhost", 0, "CN=localhost" },
		{ "cn-only.der", "127.0.0.1", -EPERM, "CN=localhost" },
		{ "cn-ip.der", "127.0.0.1", -EPERM, "CN=127.0.0.1" },
		/* two CNs: the last (most specific) one */
		{ "cn-two.der", "localhost", 0, "CN=localhost" },
		{ "cn-two.der", "other.example", -EPERM, "CN=localhost" },
		/* a URI is no dNSName: the CN fallback stays */
		{ "uri-only.der", "localhost", 0, "CN=localhost" },
		{ "wildcard.der", "lwm2m.example.com", 0, "DNS:*.example.com" },
		{ "wildcard.der", "example.com", -EPERM, "DNS:*.example.com" },
		{ "wildcard.der", "a.lwm2m.example.com", -EPERM, "DNS:*.example.com" },
		{ "partial.der", "foo.example", -EPERM,
		  "DNS:f*o.example, DNS:*o.example, DNS:xn--*.example" },
		{ "partial.der", "xn--bcher-kva.example", -EPERM,
		  "DNS:f*o.example, DNS:*o.example, DNS:xn--*.example" },
		/* ::ffff:127.0.0.1 is not 127.0.0.1 */
		{ "mapped.der", "127.0.0.1", -EPERM, "IP:::ffff:127.0.0.1, CN=mapped" },
		{ "mapped.der", "::ffff:127.0.0.1", 0, "IP:::ffff:127.0.0.1, CN=mapped" },
		{ "many.der", "name40.example.com", 0, NULL },
		{ "many.der", "name41.example.com", -EPERM, NULL },
	};
	char held[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = check(cases[i].file, cases[i].host, held, sizeof(held));

		if (rc != cases[i].rc)
			fail_msg("%s for '%s': %d, expected %d (%s)", cases[i].file, cases[i].host, rc,
				 cases[i].rc, held);
		if (cases[i].held)
			assert_string_equal(held, cases[i].held);
	}
}

static void held_is_bounded(void **state)
{
	char held[64], tiny[4];

	(void)state;
	/* 40 names do not fit: cut, and said so. */
	assert_int_equal(check("many.der", "localhost", held, sizeof(held)), -EPERM);
	assert_int_equal(strlen(held), sizeof(held) - 1);
	assert_string_equal(held + sizeof(held) - 4, "...");
	assert_memory_equal(held, "DNS:name01.example.com, DNS:name02.example.com, ", 48);
	assert_int_equal(check("many.der", "localhost", tiny, sizeof(tiny)), -EPERM);
	assert_string_equal(tiny, "...");
	assert_int_equal(check("dns-localhost.der", "localhost", NULL, 0), 0);
}

static void unreadable_certificates(void **state)
{
	struct fg_certname_ref r = ref_of("localhost");
	char held[256];
	size_t len;
	uint8_t *der;

	(void)state;
	assert_int_equal(fg_certname_check((const uint8_t *)"", 0, &r, held, sizeof(held)), -EBADMSG);
	assert_non_null(strstr(held, "unreadable certificate: "));
	der = tu_read_data("certname/dns-localhost.der", &len);
	/* Every truncation is refused, none crashes. */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(fg_certname_check(der, n, &r, held, sizeof(held)), -EBADMSG);
	free(der);
	/* mbedTLS 2.28 cannot read an Ed25519 key: such a server certificate
	 * is refused, with the reason (docs/gateway.md says so). */
	assert_int_equal(check("ed25519.der", "localhost", held, sizeof(held)), -EBADMSG);
	assert_non_null(strstr(held, "unreadable certificate: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expected_host_syntax), cmocka_unit_test(name_matcher),
		cmocka_unit_test(name_matcher_bytes),   cmocka_unit_test(certificates),
		cmocka_unit_test(held_is_bounded),      cmocka_unit_test(unreadable_certificates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
