/* SPDX-License-Identifier: Apache-2.0 */
/* gateway/config: URI, name and template validators, and the loaded values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/pkg/pkg.h"
#include "gwtest.h"

static void uri_ok(const char *s, int scheme, const char *host, unsigned port, bool ipv6)
{
	struct gw_uri u;
	char why[200] = "";

	assert_int_equal(gw_uri_parse(s, &u, why, sizeof(why)), 0);
	assert_int_equal(u.scheme, scheme);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_int_equal(u.ipv6, ipv6);
	assert_ptr_equal(u.text, s);
}

static void uri_bad(const char *s, const char *reason)
{
	struct gw_uri u;
	char why[200] = "";

	assert_int_equal(gw_uri_parse(s, &u, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, reason);
}

static void test_uri(void **state)
{
	(void)state;
	uri_ok("coap://127.0.0.1:5683", GW_SCHEME_COAP, "127.0.0.1", 5683, false);
	uri_ok("coap://127.0.0.1", GW_SCHEME_COAP, "127.0.0.1", 5683, false);
	uri_ok("coaps://leshan.eclipseprojects.io", GW_SCHEME_COAPS, "leshan.eclipseprojects.io", 5684,
	       false);
	uri_ok("COAPS://example.com.:1/", GW_SCHEME_COAPS, "example.com.", 1, false);
	uri_ok("coap://[::1]:65535", GW_SCHEME_COAP, "::1", 65535, true);
	uri_ok("coaps://[2001:db8::10]", GW_SCHEME_COAPS, "2001:db8::10", 5684, true);
	uri_ok("coap://a-b.c9", GW_SCHEME_COAP, "a-b.c9", 5683, false);

	uri_bad("http://x", "unsupported scheme 'http' (expected coap:// or coaps://)");
	uri_bad("coap+tcp://x", "unsupported scheme 'coap+tcp' (expected coap:// or coaps://)");
	uri_bad("127.0.0.1:5683", "expected coap://host[:port] or coaps://host[:port]");
	uri_bad("coap://", "the host is missing");
	uri_bad("coap://:5683", "the host is missing");
	uri_bad("coap://h:0", "port 0 is out of range (1..65535)");
	uri_bad("coap://h:65536", "port 65536 is out of range (1..65535)");
	uri_bad("coap://h:99999999999999999999", "port 99999999999999999999 is out of range (1..65535)");
	uri_bad("coap://h:", "the port after ':' is missing");
	uri_bad("coap://h:56a", "invalid port '56a'");
	uri_bad("coap://h:-1", "invalid port '-1'");
	uri_bad("coap://user@h", "user information ('user@') is not allowed");
	uri_bad("coap://h/rd", "a path, query or fragment is not allowed");
	uri_bad("coap://h?x", "a path, query or fragment is not allowed");
	uri_bad("coap://1.2.3.256", "invalid IPv4 address '1.2.3.256'");
	uri_bad("coap://1.2.3", "invalid IPv4 address '1.2.3'");
	uri_bad("coap://under_score", "invalid host name 'under_score'");
	uri_bad("coap://-a.b", "invalid host name '-a.b'");
	uri_bad("coap://a-.b", "invalid host name 'a-.b'");
	uri_bad("coap://a..b", "invalid host name 'a..b'");
	uri_bad("coap://[::1", "'[' without a closing ']'");
	uri_bad("coap://[zz::1]", "invalid IPv6 address 'zz::1'");
	uri_bad("coap://[]", "invalid IPv6 address");
	uri_bad("coap://[::1]x", "unexpected 'x' after the host");

	char longhost[300];
	memset(longhost, 'a', sizeof(longhost));
	memcpy(longhost, "coap://", 7);
	longhost[sizeof(longhost) - 1] = '\0';
	uri_bad(longhost, "the host name is longer than 253 characters");
}

static void test_names(void **state)
{
	(void)state;
	assert_true(gw_name_is_valid("demo-gw"));
	assert_true(gw_name_is_valid("A.b_c-1"));
	assert_true(gw_name_is_valid("0"));
	assert_false(gw_name_is_valid(""));
	assert_false(gw_name_is_valid("-gw"));
	assert_false(gw_name_is_valid(".gw"));
	assert_false(gw_name_is_valid("gw 1"));
	assert_false(gw_name_is_valid("gw/1"));
	assert_false(gw_name_is_valid("gw{x}"));
	char n[66];
	memset(n, 'x', 64);
	n[64] = '\0';
	assert_true(gw_name_is_valid(n));
	n[64] = 'x';
	n[65] = '\0';
	assert_false(gw_name_is_valid(n));
}

static void test_templates(void **state)
{
	(void)state;
	char why[200];

	assert_int_equal(gw_endpoint_template_check("{gateway}-{device}", true, why, sizeof(why)), 0);
	assert_int_equal(gw_endpoint_template_check("urn:dev:{device}", true, why, sizeof(why)), -EINVAL);
	assert_string_equal(
		why, "character ':' is not allowed (use letters, digits, '.', '_', '-' and placeholders)");
	assert_int_equal(gw_endpoint_template_check("{gateway}", true, why, sizeof(why)), -EINVAL);
	assert_string_equal(why,
			    "it must contain {device}, or every device would get the same endpoint name");
	assert_int_equal(gw_endpoint_template_check("{gateway}", false, why, sizeof(why)), 0);
	assert_int_equal(gw_endpoint_template_check("{gw}-{device}", true, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "unknown placeholder '{gw}' (known: {gateway}, {device})");
	assert_int_equal(gw_endpoint_template_check("{device", true, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "'{' without a closing '}'");
	assert_int_equal(gw_endpoint_template_check("", true, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "it is empty");
}

static struct gw_config *load(const char *text, struct gwt_diag *d)
{
	struct gw_config *c = NULL;
	gwt_diag_init(d);
	gw_config_load_buffer("c.yaml", text, strlen(text), &d->diag, &c);
	for (size_t i = 0; i < d->n; i++)
		print_message("# %s\n", d->msg[i]);
	return c;
}

static void test_load_values(void **state)
{
	(void)state;
	struct gwt_diag d;
	struct gw_config *c = load("gateway: {name: gw1}\n"
				   "log: {level: debug, target: journal}\n"
				   "lwm2m:\n"
				   "  mode: gateway\n"
				   "  lifetime: 1h\n"
				   "  register_rate: 500\n"
				   "  max_observations: 40\n"
				   "  servers:\n"
				   "    - uri: coaps://[::1]\n"
				   "      security: psk\n"
				   "      psk_identity: id\n"
				   "      psk_key: 00A1ff\n"
				   "      bootstrap: true\n"
				   "    - uri: coap://h\n"
				   "devices: [{name: a, profile: p}, {name: b, profile: p}]\n",
				   &d);

	assert_non_null(c);
	assert_int_equal(d.n, 0);
	assert_string_equal(c->gateway.name, "gw1");
	assert_string_equal(c->gateway.state_dir, "/var/lib/fieldgate");
	assert_null(c->gateway.objects_dir);
	assert_null(c->objects_dir);
	assert_int_equal(c->log.level, LOG_DEBUG);
	assert_int_equal(c->log.target, LOG_TARGET_JOURNAL);
	assert_int_equal(c->lwm2m.mode, GW_MODE_GATEWAY);
	assert_string_equal(c->lwm2m.endpoint_template, "{gateway}-{device}");
	assert_true(c->lwm2m.lifetime_usec == 3600ULL * 1000000ULL);
	assert_int_equal(c->lwm2m.register_rate, 500);
	assert_int_equal(c->lwm2m.max_observations, 40);
	assert_int_equal(c->lwm2m.servers.n, 2);
	const struct gw_server *s0 = gw_config_server(c, 0), *s1 = gw_config_server(c, 1);
	assert_int_equal(s0->uri.scheme, GW_SCHEME_COAPS);
	assert_string_equal(s0->uri.host, "::1");
	assert_int_equal(s0->uri.port, 5684);
	assert_int_equal(s0->security, GW_SECURITY_PSK);
	assert_string_equal(s0->psk_identity, "id");
	assert_int_equal(s0->psk_key.len, 3);
	assert_memory_equal(s0->psk_key.bytes, "\x00\xa1\xff", 3);
	assert_true(s0->bootstrap);
	assert_int_equal(s1->security, GW_SECURITY_NOSEC);
	assert_false(s1->bootstrap);
	assert_int_equal(gw_config_bridge_count(c), 0);
	assert_int_equal(gw_config_device_count(c), 2);
	assert_string_equal(gw_config_device(c, 1)->name, "b");
	assert_string_equal(gw_config_device(c, 1)->profile, "p");
	assert_null(gw_config_device(c, 1)->bridge);
	gw_config_free(c);
	gwt_diag_clear(&d);
}

static void test_defaults_and_summary(void **state)
{
	(void)state;
	struct gwt_diag d;
	struct gw_config *c = load("gateway: {name: g}\nlwm2m: {servers: [{uri: 'coap://h'}]}\n", &d);

	assert_non_null(c);
	assert_int_equal(c->log.level, LOG_INFO);
	assert_int_equal(c->log.target, LOG_TARGET_AUTO);
	assert_int_equal(c->lwm2m.mode, GW_MODE_ENDPOINT);
	assert_true(c->lwm2m.lifetime_usec == 300ULL * 1000000ULL);
	assert_int_equal(c->lwm2m.register_rate, 50);
	assert_int_equal(c->lwm2m.max_observations, 256);
	assert_int_equal(c->bridges.n, 0);
	assert_int_equal(c->devices.n, 0);
	char *s = gw_config_summary(c, "c.yaml", NULL, 0);
	assert_string_equal(s,
			    "c.yaml: configuration is valid. Gateway 'g' in endpoint mode (endpoint names "
			    "'{gateway}-{device}'), lifetime 5m, state in /var/lib/fieldgate; 1 LwM2M server "
			    "(coap://h nosec); 0 bridges, 0 devices; 0 object definitions known.");
	free(s);
	gw_config_free(c);
	gwt_diag_clear(&d);
}

/* The update section (issue 16): defaults, values, errors. */
static void test_update_section(void **state)
{
	(void)state;
	struct gwt_diag d;
	const char *head = "gateway: {name: g}\nlwm2m: {servers: [{uri: 'coap://h'}]}\n";
	char buf[512];
	struct gw_config *c = load(head, &d);

	assert_non_null(c);
	assert_null(c->update.command);
	assert_true(c->update.max_size == 64u << 20);
	assert_int_equal(c->update.schemes, GW_PKG_COAPS | GW_PKG_HTTPS);
	assert_int_equal(c->update.timeout_s, 60);
	assert_null(c->update.ca_file);
	assert_null(c->update.psk_identity);
	assert_int_equal(c->update.psk_key.len, 0);
	gw_config_free(c);
	gwt_diag_clear(&d);

	snprintf(buf, sizeof(buf),
		 "%supdate:\n  command: 'dpkg -i {file}'\n  max_size: 1000000\n  schemes: [http, coap]\n"
		 "  timeout: 2m\n  ca_certificate: /etc/ssl/ca.pem\n",
		 head);
	c = load(buf, &d);
	assert_non_null(c);
	assert_string_equal(c->update.command, "dpkg -i {file}");
	assert_true(c->update.max_size == 1000000);
	assert_int_equal(c->update.schemes, GW_PKG_HTTP | GW_PKG_COAP);
	assert_int_equal(c->update.timeout_s, 120);
	assert_string_equal(c->update.ca_file, "/etc/ssl/ca.pem");
	gw_config_free(c);
	gwt_diag_clear(&d);

	/* The coaps PSK (issue 16): an identity and a hex key. */
	snprintf(buf, sizeof(buf), "%supdate:\n  psk_identity: gw-update\n  psk_key: 0a1B2c\n", head);
	c = load(buf, &d);
	assert_non_null(c);
	assert_string_equal(c->update.psk_identity, "gw-update");
	assert_int_equal(c->update.psk_key.len, 3);
	assert_memory_equal(c->update.psk_key.bytes, "\x0a\x1b\x2c", 3);
	gw_config_free(c);
	gwt_diag_clear(&d);

	static const struct {
		const char *yaml, *msg;
	} bad[] = {
		{ "update: {command: 'dpkg -i pkg.deb'}", "c.yaml:3:19: 'update.command' must contain {file} "
							  "(the package's path), got 'dpkg -i pkg.deb'" },
		{ "update: {schemes: [https, ftp]}", "c.yaml:3:27: unknown scheme 'ftp' in 'update.schemes' "
						     "(expected one of coap, coaps, http, https)" },
		{ "update: {schemes: [http, http]}",
		  "c.yaml:3:26: scheme 'http' is listed twice in 'update.schemes'" },
		{ "update: {schemes: []}", "c.yaml:3:19: 'update.schemes' must be a list of one or more of "
					   "coap, coaps, http, https, got "
					   "a sequence" },
		{ "update: {max_size: 0}", NULL },
		{ "update: {timeout: 0}", NULL },
		{ "update: {timeout: 1500ms}", NULL },
		{ "update: {ca_certificate: ca.pem}", NULL },
		{ "update: {speed: 3}", NULL },
		{ "update: {psk_identity: gw, psk_key: 0g}", NULL },
		{ "update: {psk_identity: gw}",
		  "c.yaml:3:9: missing key 'psk_key' in 'update' (required with update.psk_identity)" },
		{ "update: {psk_key: '00'}",
		  "c.yaml:3:9: missing key 'psk_identity' in 'update' (required with update.psk_key)" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s\n", head, bad[i].yaml);
		c = load(buf, &d);
		if (c)
			fail_msg("accepted: %s", bad[i].yaml);
		assert_int_equal(d.diag.errors, 1);
		if (bad[i].msg)
			assert_string_equal(d.msg[0], bad[i].msg);
		else if (strncmp(d.msg[0], "c.yaml:3:", 9) != 0)
			fail_msg("%s: %s", bad[i].yaml, d.msg[0]);
		gwt_diag_clear(&d);
	}
}

static void test_errors_leave_nothing(void **state)
{
	(void)state;
	struct gwt_diag d;
	struct gw_config *c =
		load("gateway: {name: g}\nlwm2m: {servers: [{uri: 'coap://h', security: psk}]}\n", &d);

	assert_null(c);
	assert_int_equal(d.diag.errors, 3);
	assert_string_equal(d.msg[0], "c.yaml:2:47: security 'psk' needs a coaps:// URI, got 'coap://h'");
	assert_string_equal(d.msg[1],
			    "c.yaml:2:19: missing key 'psk_identity' in 'lwm2m.servers[0]' (required "
			    "with security psk)");
	gwt_diag_clear(&d);

	/* Secrets are not echoed in messages. */
	c = load("gateway: {name: g}\nlwm2m: {servers: [{uri: 'coaps://h', security: psk, psk_identity: i, "
		 "psk_key: "
		 "SECRETzz}]}\n",
		 &d);
	assert_null(c);
	assert_int_equal(d.n, 1);
	assert_null(strstr(d.msg[0], "SECRET"));
	gwt_diag_clear(&d);

	/* 0 would refuse every Observe, not lift the bound. */
	c = load("gateway: {name: g}\nlwm2m: {max_observations: 0, servers: [{uri: 'coap://h'}]}\n", &d);
	assert_null(c);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msg[0],
			    "c.yaml:2:27: value 0 for 'lwm2m.max_observations' is out of range (1..65535)");
	gwt_diag_clear(&d);

	/* A YAML error stops before the schema. */
	c = load("gateway: [\n", &d);
	assert_null(c);
	assert_int_equal(d.diag.errors, 1);
	gwt_diag_clear(&d);
}

static void test_objects_dir_relative_to_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/fg-cfg-XXXXXX", path[128], objs[128];
	struct gwt_diag d;
	struct gw_config *c = NULL;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f.yaml", dir);
	snprintf(objs, sizeof(objs), "%s/objs", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("gateway: {name: g, objects_dir: objs}\nlwm2m: {servers: [{uri: 'coap://h'}]}\n", f);
	fclose(f);
	gwt_diag_init(&d);
	assert_int_equal(gw_config_load_file(path, &d.diag, &c), 0);
	assert_string_equal(c->gateway.objects_dir, "objs");
	assert_string_equal(c->objects_dir, objs);

	struct lwm2m_registry *reg = (struct lwm2m_registry *)1;
	size_t loaded = 99;
	assert_int_equal(gw_config_load_objects(c, &d.diag, &reg, &loaded), -ENOENT);
	assert_null(reg);
	char want[600];
	snprintf(want, sizeof(want), "%s:1:33: cannot read objects_dir '%s': No such file or directory", path,
		 objs);
	assert_string_equal(d.msg[0], want);
	gw_config_free(c);
	gwt_diag_clear(&d);
	unlink(path);
	rmdir(dir);
}

/* Who may read a secret: the owner, and a group only when root owns the
 * file (root:fieldgate 0640, as systemd-tmpfiles installs it). */
static void test_secret_readers(void **state)
{
	static const struct {
		mode_t mode;
		uid_t owner;
		const char *readers;
	} cases[] = {
		{ 0600, 1000, NULL },
		{ 0400, 0, NULL },
		{ 0600, 0, NULL },
		{ 0640, 0, NULL },
		{ 0620, 1000, NULL },
		{ 0700, 1000, NULL },
		{ 0644, 0, "others" },
		{ 0604, 1000, "others" },
		{ 0444, 0, "others" },
		{ 0640, 1000, "its group" },
		{ 0660, 65534, "its group" },
		{ 0750, 1, "its group" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *r = gw_secret_readers(cases[i].mode, cases[i].owner);
		if (cases[i].readers)
			assert_string_equal(r, cases[i].readers);
		else
			assert_null(r);
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* Load path and compare the messages with want (n of them). */
static void load_expect(const char *path, int ret, const char *const *want, size_t n)
{
	struct gwt_diag d;
	struct gw_config *c = NULL;

	gwt_diag_init(&d);
	assert_int_equal(gw_config_load_file(path, &d.diag, &c), ret);
	for (size_t i = 0; i < d.n; i++)
		print_message("# %s\n", d.msg[i]);
	assert_int_equal(d.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(d.msg[i], want[i]);
	assert_true(ret == 0 ? c != NULL : c == NULL);
	gw_config_free(c);
	gwt_diag_clear(&d);
}

/* A psk_key in a configuration others can read, a private key file others
 * can read: refused, at the key's position, naming the file and its mode.
 * 0600 is accepted; a key file that does not exist is not this check's. */
static void test_secret_modes(void **state)
{
	(void)state;
	char dir[] = "/tmp/fg-sec-XXXXXX", path[128], key[128], text[1024], m1[1024], m2[1024];
	const char *want[2] = { m1, m2 };

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	snprintf(key, sizeof(key), "%s/gw.key", dir);
	snprintf(text, sizeof(text),
		 "gateway: {name: g}\n"
		 "lwm2m:\n"
		 "  servers:\n"
		 "    - {uri: 'coaps://h', security: psk, psk_identity: g, psk_key: 0a0b}\n"
		 "    - uri: 'coaps://k'\n"
		 "      security: certificate\n"
		 "      certificate: %s/gw.crt\n"
		 "      private_key: %s\n"
		 "      ca_certificate: %s/ca.crt\n"
		 "devices:\n"
		 "  - {name: d, profile: p, psk_identity: d, psk_key: 0c}\n",
		 dir, key, dir);
	write_file(path, text, 0644);
	write_file(key, "not a key, but secret\n", 0644);
	/* Owned by us: as root, the group rule is seen on a file of another
	 * owner. */
	if (geteuid() == 0)
		assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
	snprintf(m1, sizeof(m1),
		 "%s:4:67: lwm2m.servers[0].psk_key (and 1 more secret) in a file readable by others (mode "
		 "0644, owner uid "
		 "%u): "
		 "chmod 600 %s (a group may read a secret only in a file of root: root:fieldgate 0640)",
		 path, geteuid() == 0 ? 65534u : (unsigned)geteuid(), path);
	if (geteuid() == 0)
		snprintf(m2, sizeof(m2),
			 "%s:8:20: lwm2m.servers[1].private_key file '%s' is readable by others (mode 0644): "
			 "chmod 600 %s (or "
			 "640 "
			 "with the service's group: chgrp fieldgate %s)",
			 path, key, key, key);
	else
		snprintf(m2, sizeof(m2),
			 "%s:8:20: lwm2m.servers[1].private_key file '%s' is readable by others (mode 0644, "
			 "owner uid %u): "
			 "chmod "
			 "600 %s (a group may read a secret only in a file of root: root:fieldgate 0640)",
			 path, key, (unsigned)geteuid(), key);
	load_expect(path, -EINVAL, want, 2);

	/* Its group may read it: refused too when root is not the owner. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(chmod(key, 0600), 0);
	snprintf(m1, sizeof(m1),
		 "%s:4:67: lwm2m.servers[0].psk_key (and 1 more secret) in a file readable by its group "
		 "(mode 0640, owner uid "
		 "%u): chmod 600 %s (a group may read a secret only in a file of root: root:fieldgate 0640)",
		 path, geteuid() == 0 ? 65534u : (unsigned)geteuid(), path);
	load_expect(path, -EINVAL, want, 1);

	/* Only the owner: fine; so is a key file that is not there. */
	assert_int_equal(chmod(path, 0600), 0);
	load_expect(path, 0, NULL, 0);
	unlink(key);
	assert_int_equal(chmod(path, 0600), 0);
	load_expect(path, 0, NULL, 0);

	/* The same text from a buffer has no file mode to check. */
	struct gwt_diag d;
	struct gw_config *c = NULL;
	gwt_diag_init(&d);
	assert_int_equal(gw_config_load_buffer("b.yaml", text, strlen(text), &d.diag, &c), 0);
	gw_config_free(c);
	gwt_diag_clear(&d);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_load_values),
		cmocka_unit_test(test_defaults_and_summary),
		cmocka_unit_test(test_update_section),
		cmocka_unit_test(test_errors_leave_nothing),
		cmocka_unit_test(test_objects_dir_relative_to_file),
		cmocka_unit_test(test_secret_readers),
		cmocka_unit_test(test_secret_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
