/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the bootstrap result file (lwm2m/bs_state.c): file
 * names derived from endpoint names, encode/decode round trip, the golden
 * file tests/data/bootstrap/state-v1.hex, every truncation and bit flip,
 * malformed payloads, the server-account check, and the atomic save/load
 * in a temporary directory (mode 0600, no temporary file left).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <arpa/inet.h>
#include <strings.h>

#include "lwm2m/client/client_internal.h"
#include "testutil.h"

static struct lwm2m_registry *reg;

static int setup(void **state)
{
	(void)state;
	reg = lwm2m_registry_new();
	return reg ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	reg = lwm2m_registry_free(reg);
	return 0;
}

/* ---- building records ------------------------------------------------------ */

static void add(struct lwm2m_records *r, struct lwm2m_path p, struct lwm2m_value v)
{
	struct lwm2m_record *x = lwm2m_records_add(r);

	assert_non_null(x);
	x->path = p;
	x->value = v;
}

static struct lwm2m_value str(const char *s)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)s, strlen(s) } };
}

static struct lwm2m_value opq(const char *s)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_OPAQUE, .bytes = { (const uint8_t *)s, strlen(s) } };
}

static struct lwm2m_value i64(int64_t i)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = i };
}

static struct lwm2m_value boolean(bool b)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = b };
}

/* A server account: /0/sec (mode 0 PSK with keys, or 3 NoSec) and /1/srv. */
static void account(struct lwm2m_records *r, uint16_t sec, uint16_t srv, const char *uri, int mode, int ssid,
		    int lifetime, const char *binding)
{
	add(r, LWM2M_PATH(0, sec, 0), str(uri));
	add(r, LWM2M_PATH(0, sec, 1), boolean(false));
	add(r, LWM2M_PATH(0, sec, 2), i64(mode));
	if (mode == 0) {
		add(r, LWM2M_PATH(0, sec, 3), opq("dev"));
		add(r, LWM2M_PATH(0, sec, 5), opq("secret"));
	}
	add(r, LWM2M_PATH(0, sec, 10), i64(ssid));
	add(r, LWM2M_PATH(1, srv, 0), i64(ssid));
	add(r, LWM2M_PATH(1, srv, 1), i64(lifetime));
	add(r, LWM2M_PATH(1, srv, 6), boolean(false));
	add(r, LWM2M_PATH(1, srv, 7), str(binding));
	lwm2m_records_sort(r);
}

/* Frame any payload as a state file with a correct CRC, as an attacker or
 * a future version could. */
static uint32_t crc32_ieee(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
	}
	return ~crc;
}

static uint8_t *frame(const char *name, const uint8_t *payload, size_t pl, size_t *len)
{
	size_t nl = strlen(name);
	uint8_t *b = malloc(16 + nl + pl + 1);
	uint32_t crc;

	assert_non_null(b);
	memcpy(b, "FGBS\x01\x00", 6);
	b[6] = (uint8_t)(nl >> 8);
	b[7] = (uint8_t)nl;
	b[8] = (uint8_t)(pl >> 24);
	b[9] = (uint8_t)(pl >> 16);
	b[10] = (uint8_t)(pl >> 8);
	b[11] = (uint8_t)pl;
	memcpy(b + 16, name, nl);
	if (pl)
		memcpy(b + 16 + nl, payload, pl);
	crc = crc32_ieee(crc32_ieee(0, b, 12), b + 16, nl + pl);
	b[12] = (uint8_t)(crc >> 24);
	b[13] = (uint8_t)(crc >> 16);
	b[14] = (uint8_t)(crc >> 8);
	b[15] = (uint8_t)crc;
	*len = 16 + nl + pl;
	return b;
}

/* SenML CBOR of recs (no validation), framed for name. */
static uint8_t *frame_records(const char *name, const struct lwm2m_records *recs, size_t *len)
{
	static const struct lwm2m_path root = { .len = 0 };
	struct lwm2m_buf b = { 0 };
	uint8_t *f;

	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_CBOR, &root, recs->v, recs->n, &b), 0);
	f = frame(name, b.data, b.len, len);
	lwm2m_buf_free(&b);
	return f;
}

static const struct lwm2m_value *find(const struct lwm2m_records *r, struct lwm2m_path p)
{
	for (size_t i = 0; i < r->n; i++)
		if (lwm2m_path_cmp(&r->v[i].path, &p) == 0)
			return &r->v[i].value;
	return NULL;
}

/* ---- file names -------------------------------------------------------------- */

static void file_names(void **state)
{
	char out[FG_BS_FILE_NAME_MAX];

	(void)state;
	assert_int_equal(fg_bs_state_file_name("ep0", out), 12);
	assert_string_equal(out, "bs-ep0.state");
	fg_bs_state_file_name("urn:dev:ops:0004A30B-001", out);
	assert_string_equal(out, "bs-urn%3Adev%3Aops%3A0004A30B-001.state");
	/* No separator, no parent directory, no hidden file, no control byte. */
	fg_bs_state_file_name("../../etc/passwd", out);
	assert_string_equal(out, "bs-..%2F..%2Fetc%2Fpasswd.state");
	fg_bs_state_file_name("..", out);
	assert_string_equal(out, "bs-...state");
	fg_bs_state_file_name("a b\n\xff", out);
	assert_string_equal(out, "bs-a%20b%0A%FF.state");
	/* One to one: "%" itself is encoded. */
	fg_bs_state_file_name("a%2F", out);
	assert_string_equal(out, "bs-a%252F.state");
	assert_int_equal(fg_bs_state_file_name("", out), -EINVAL);
}

static void file_names_long(void **state)
{
	char name[256], a[FG_BS_FILE_NAME_MAX], b[FG_BS_FILE_NAME_MAX];
	int n;

	(void)state;
	memset(name, '/', 255);
	name[255] = '\0';
	n = fg_bs_state_file_name(name, a);
	assert_true(n > 0 && n < FG_BS_FILE_NAME_MAX && n < 255);
	assert_int_equal((int)strlen(a), n);
	assert_non_null(strchr(a, '~'));
	assert_string_equal(a + n - 6, ".state");
	/* Same first 150 encoded bytes, different end: different files. */
	name[254] = 'x';
	fg_bs_state_file_name(name, b);
	assert_string_not_equal(a, b);
	/* 150 plain characters still fit without a hash; 151 do not. */
	memset(name, 'e', 150);
	name[150] = '\0';
	fg_bs_state_file_name(name, a);
	assert_null(strchr(a, '~'));
	name[150] = 'e';
	name[151] = '\0';
	fg_bs_state_file_name(name, a);
	assert_non_null(strchr(a, '~'));
}

/* ---- encode / decode ------------------------------------------------------------ */

static void round_trip(void **state)
{
	struct lwm2m_records in = { 0 }, out = { 0 };
	struct lwm2m_buf b = { 0 };
	const struct lwm2m_value *v;
	const char *why = "unset";

	(void)state;
	account(&in, 1, 1, "coaps://127.0.0.1:5684", 0, 101, 300, "UQ");
	add(&in, LWM2M_PATH(1, 1, 16), boolean(false));
	lwm2m_records_sort(&in);
	assert_int_equal(lwm2m_bs_state_encode("dev1", &in, &b), 0);
	assert_memory_equal(b.data, "FGBS\x01\x00\x00\x04", 8);
	assert_memory_equal(b.data + 16, "dev1", 4);
	assert_int_equal(lwm2m_bs_state_decode(b.data, b.len, "dev1", reg, &out, &why), 0);
	assert_int_equal(out.n, in.n);
	for (size_t i = 0; i < in.n; i++) {
		assert_int_equal(lwm2m_path_cmp(&in.v[i].path, &out.v[i].path), 0);
		assert_int_equal(in.v[i].value.type, out.v[i].value.type);
	}
	v = find(&out, LWM2M_PATH(0, 1, 5));
	assert_non_null(v);
	assert_int_equal(v->type, LWM2M_TYPE_OPAQUE);
	assert_memory_equal(v->bytes.ptr, "secret", 6);
	v = find(&out, LWM2M_PATH(1, 1, 1));
	assert_int_equal(v->i, 300);

	struct lwm2m_bs_account a;
	assert_int_equal(lwm2m_bs_check(&out, &a, &why), 0);
	assert_int_equal(a.sec_iid, 1);
	assert_int_equal(a.srv_iid, 1);
	assert_int_equal(a.ssid, 101);
	assert_int_equal(a.mode, 0);
	assert_true(a.queue);
	assert_false(a.bootstrap_on_failure);
	assert_int_equal(a.lifetime, 300);
	assert_int_equal(a.uri.len, strlen("coaps://127.0.0.1:5684"));
	assert_memory_equal(a.identity.ptr, "dev", 3);

	/* Records outside /0 and /1 are refused at encode time. */
	add(&in, LWM2M_PATH(3, 0, 0), str("Acme"));
	lwm2m_buf_reset(&b);
	assert_int_equal(lwm2m_bs_state_encode("dev1", &in, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(lwm2m_bs_state_encode("", &in, &b), -EINVAL);
	lwm2m_buf_free(&b);
	lwm2m_records_clear(&in);
	lwm2m_records_clear(&out);
}

static void golden_file(void **state)
{
	struct lwm2m_records out = { 0 };
	struct lwm2m_buf b = { 0 };
	const char *why = NULL;
	const struct lwm2m_value *v;
	size_t len;
	uint8_t *data = tu_read_hex("bootstrap/state-v1.hex", &len);

	(void)state;
	assert_int_equal(lwm2m_bs_state_decode(data, len, "dev1", reg, &out, &why), 0);
	assert_int_equal(out.n, 10);
	v = find(&out, LWM2M_PATH(0, 1, 0));
	assert_int_equal(v->type, LWM2M_TYPE_STRING);
	assert_memory_equal(v->bytes.ptr, "coaps://127.0.0.1:5684", v->bytes.len);
	v = find(&out, LWM2M_PATH(0, 1, 5));
	assert_int_equal(v->bytes.len, 8);
	assert_memory_equal(v->bytes.ptr, "\x00\x11\x22\x33\x44\x55\x66\x77", 8);
	assert_int_equal(find(&out, LWM2M_PATH(0, 1, 10))->i, 101);
	assert_int_equal(find(&out, LWM2M_PATH(1, 1, 1))->i, 300);
	assert_false(find(&out, LWM2M_PATH(0, 1, 1))->b);
	/* The encoder still writes exactly the golden bytes. */
	assert_int_equal(lwm2m_bs_state_encode("dev1", &out, &b), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, data, len);
	lwm2m_buf_free(&b);
	lwm2m_records_clear(&out);
	free(data);
}

/* Every prefix and every single-bit flip of a valid file is refused, and
 * the output list is left as it was. */
static void corruption(void **state)
{
	struct lwm2m_records in = { 0 }, out = { 0 };
	struct lwm2m_buf b = { 0 };
	const char *why;

	(void)state;
	account(&in, 0, 0, "coap://[::1]:5683", 3, 7, 60, "U");
	assert_int_equal(lwm2m_bs_state_encode("e", &in, &b), 0);
	add(&out, LWM2M_PATH(1, 9, 0), i64(1)); /* must survive failures */
	for (size_t n = 0; n < b.len; n++) {
		why = NULL;
		assert_int_equal(lwm2m_bs_state_decode(b.data, n, "e", reg, &out, &why), -EBADMSG);
		assert_non_null(why);
		assert_int_equal(out.n, 1);
	}
	for (size_t i = 0; i < b.len; i++)
		for (int bit = 0; bit < 8; bit++) {
			b.data[i] ^= (uint8_t)(1u << bit);
			int r = lwm2m_bs_state_decode(b.data, b.len, "e", reg, &out, &why);
			b.data[i] ^= (uint8_t)(1u << bit);
			assert_true(r == -EBADMSG);
			assert_int_equal(out.n, 1);
		}
	/* A byte too many. */
	lwm2m_buf_putc(&b, 0);
	why = NULL;
	assert_int_equal(lwm2m_bs_state_decode(b.data, b.len, "e", reg, &out, &why), -EBADMSG);
	assert_string_equal(why, "truncated, or bytes after its end");
	b.len--;
	/* Someone else's file. */
	assert_int_equal(lwm2m_bs_state_decode(b.data, b.len, "f", reg, &out, &why), -ESTALE);
	assert_string_equal(why, "written for another endpoint");
	assert_int_equal(lwm2m_bs_state_decode(b.data, b.len, "e", reg, &out, NULL), 0);
	assert_int_equal(out.n, 1 + in.n);
	lwm2m_buf_free(&b);
	lwm2m_records_clear(&in);
	lwm2m_records_clear(&out);
}

static void expect_refused(const uint8_t *data, size_t len, int err, const char *why_expected)
{
	struct lwm2m_records out = { 0 };
	const char *why = NULL;

	assert_int_equal(lwm2m_bs_state_decode(data, len, "e", reg, &out, &why), err);
	assert_non_null(why);
	assert_string_equal(why, why_expected);
	assert_int_equal(out.n, 0);
}

static void malformed_payloads(void **state)
{
	struct lwm2m_records r = { 0 };
	uint8_t *f;
	size_t len;

	(void)state;
	/* Valid frame, payloads that are not what we write. */
	f = frame("e", NULL, 0, &len);
	expect_refused(f, len, -EBADMSG, "payload is not valid SenML CBOR");
	free(f);
	f = frame("e", (const uint8_t *)"\x81\xa1\x00\x61", 4, &len);
	expect_refused(f, len, -EBADMSG, "payload is not valid SenML CBOR");
	free(f);
	f = frame("e", (const uint8_t *)"\x80", 1, &len); /* empty pack */
	expect_refused(f, len, -EINVAL, "no LwM2M Server account in /0");
	free(f);
	/* A value of another object. */
	account(&r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	add(&r, LWM2M_PATH(3, 0, 0), str("Acme"));
	lwm2m_records_sort(&r);
	f = frame_records("e", &r, &len);
	expect_refused(f, len, -EBADMSG, "a value outside /0 and /1");
	free(f);
	lwm2m_records_clear(&r);
	/* A value of the wrong type (a negative Unsigned Integer, /1/x/13):
	 * the SenML decoder, told the types by the registry, refuses it. */
	account(&r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	add(&r, LWM2M_PATH(1, 1, 13), i64(-1));
	lwm2m_records_sort(&r);
	f = frame_records("e", &r, &len);
	expect_refused(f, len, -EBADMSG, "payload is not valid SenML CBOR");
	free(f);
	lwm2m_records_clear(&r);
	/* An undefined resource. */
	account(&r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	add(&r, LWM2M_PATH(1, 1, 999), i64(1));
	lwm2m_records_sort(&r);
	f = frame_records("e", &r, &len);
	expect_refused(f, len, -EBADMSG, "a value of an undefined resource");
	free(f);
	lwm2m_records_clear(&r);
	/* The same resource twice. */
	account(&r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	add(&r, LWM2M_PATH(1, 1, 1), i64(61));
	lwm2m_records_sort(&r);
	f = frame_records("e", &r, &len);
	expect_refused(f, len, -EBADMSG, "a resource given twice");
	free(f);
	lwm2m_records_clear(&r);
	/* A single resource with an instance id. */
	account(&r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	add(&r, LWM2M_PATH(1, 1, 2, 0), i64(5));
	lwm2m_records_sort(&r);
	f = frame_records("e", &r, &len);
	expect_refused(f, len, -EBADMSG, "a single resource with instances, or a multiple one without");
	free(f);
	lwm2m_records_clear(&r);
}

/* ---- the server account ------------------------------------------------------- */

static void check_case(void (*build)(struct lwm2m_records *), const char *why_expected)
{
	struct lwm2m_records r = { 0 };
	struct lwm2m_bs_account a;
	const char *why = NULL;

	build(&r);
	lwm2m_records_sort(&r);
	assert_int_equal(lwm2m_bs_check(&r, &a, &why), -EINVAL);
	assert_string_equal(why, why_expected);
	lwm2m_records_clear(&r);
}

static void set_value(struct lwm2m_records *r, struct lwm2m_path p, struct lwm2m_value v)
{
	for (size_t i = 0; i < r->n; i++)
		if (lwm2m_path_cmp(&r->v[i].path, &p) == 0) {
			r->v[i].value = v;
			return;
		}
	add(r, p, v);
}

static void drop(struct lwm2m_records *r, struct lwm2m_path p)
{
	for (size_t i = 0; i < r->n; i++)
		if (lwm2m_path_cmp(&r->v[i].path, &p) == 0) {
			memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(r->v[0]));
			r->n--;
			return;
		}
}

static void b_nosec_coaps(struct lwm2m_records *r)
{
	account(r, 1, 1, "coaps://127.0.0.1:5684", 3, 1, 60, "U");
}
static void b_psk_coap(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://127.0.0.1:5683", 0, 1, 60, "U");
}
static void b_psk_no_key(struct lwm2m_records *r)
{
	account(r, 1, 1, "coaps://127.0.0.1:5684", 0, 1, 60, "U");
	drop(r, LWM2M_PATH(0, 1, 5));
}
static void b_cert(struct lwm2m_records *r)
{
	account(r, 1, 1, "coaps://127.0.0.1:5684", 3, 1, 60, "U");
	set_value(r, LWM2M_PATH(0, 1, 2), i64(2));
}
static void b_hostname(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://server.example.com", 3, 1, 60, "U");
}
static void b_http(struct lwm2m_records *r)
{
	account(r, 1, 1, "http://127.0.0.1:80", 3, 1, 60, "U");
}
static void b_no_ssid(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	drop(r, LWM2M_PATH(0, 1, 10));
}
static void b_ssid_mismatch(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	set_value(r, LWM2M_PATH(1, 1, 0), i64(2));
}
static void b_lifetime_zero(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 0, "U");
}
static void b_sms_binding(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "S");
}
static void b_only_bootstrap(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	set_value(r, LWM2M_PATH(0, 1, 1), boolean(true));
}
static void b_no_uri(struct lwm2m_records *r)
{
	account(r, 1, 1, "coap://127.0.0.1:5683", 3, 1, 60, "U");
	drop(r, LWM2M_PATH(0, 1, 0));
}

static void account_check(void **state)
{
	struct lwm2m_records r = { 0 };
	struct lwm2m_bs_account a;
	const char *why = NULL;

	(void)state;
	check_case(b_nosec_coaps, "Security Mode NoSec with a coaps:// URI");
	check_case(b_psk_coap, "Security Mode PSK with a coap:// URI");
	check_case(b_psk_no_key, "Security Mode PSK without identity (/0/x/3) or key (/0/x/5)");
	check_case(b_cert, "Security Mode not supported (only PSK and NoSec)");
	check_case(b_hostname, "the LwM2M Server URI is not coap:// or coaps:// with a numeric host");
	check_case(b_http, "the LwM2M Server URI is not coap:// or coaps:// with a numeric host");
	check_case(b_no_ssid, "a Security instance has no Short Server ID (/0/x/10)");
	check_case(b_ssid_mismatch,
		   "no Server instance (/1) with the Short Server ID of the Security instance");
	check_case(b_lifetime_zero, "the Server instance has no valid Lifetime (/1/x/1)");
	check_case(b_sms_binding, "the Server instance has no UDP Binding (/1/x/7 without U)");
	check_case(b_only_bootstrap, "no LwM2M Server account in /0");
	check_case(b_no_uri, "a Security instance has no LwM2M Server URI (/0/x/0)");

	/* The first usable account by instance id wins; broken ones and the
	 * Bootstrap-Server account are skipped. */
	add(&r, LWM2M_PATH(0, 0, 0), str("coap://127.0.0.1:1"));
	add(&r, LWM2M_PATH(0, 0, 1), boolean(true));
	account(&r, 2, 4, "coaps://127.0.0.1:5684", 0, 9, 60, "U");
	drop(&r, LWM2M_PATH(0, 2, 3)); /* PSK without identity */
	account(&r, 5, 3, "coap://[::1]:5683", 3, 11, 45, "U");
	account(&r, 7, 6, "coap://127.0.0.1:5683", 3, 12, 30, "U");
	assert_int_equal(lwm2m_bs_check(&r, &a, &why), 0);
	assert_int_equal(a.sec_iid, 5);
	assert_int_equal(a.srv_iid, 3);
	assert_int_equal(a.ssid, 11);
	assert_int_equal(a.lifetime, 45);
	assert_int_equal(a.mode, 3);
	assert_false(a.queue);
	assert_true(a.bootstrap_on_failure);
	lwm2m_records_clear(&r);
}

/* The account's URI is checked without libcoap (lwm2m/bs_state.c), then
 * parsed by libcoap when the endpoint uses it: both must agree on what is
 * a coap:// or coaps:// URI with a numeric host. */
static bool libcoap_accepts(const char *uri)
{
	char host[64];
	coap_uri_t u;
	struct in6_addr a6;
	struct in_addr a4;

	if (coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0)
		return false;
	if (u.scheme != COAP_URI_SCHEME_COAP && u.scheme != COAP_URI_SCHEME_COAPS)
		return false;
	if (u.host.length == 0 || u.host.length >= sizeof(host))
		return false;
	memcpy(host, u.host.s, u.host.length);
	host[u.host.length] = '\0';
	return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static void uri_as_libcoap(void **state)
{
	static const char *const uris[] = {
		"coap://127.0.0.1",
		"coap://127.0.0.1:5683",
		"coaps://127.0.0.1:5684",
		"COAP://127.0.0.1",
		"coapS://127.0.0.1",
		"coap://[::1]:5683",
		"coap://[::1]",
		"coap://[]:5683",
		"coap://[::1",
		"coap://",
		"coap:/127.0.0.1",
		"coap+tcp://127.0.0.1",
		"coaps+tcp://127.0.0.1",
		"coap://127.0.0.1:",
		"coap://127.0.0.1:65535",
		"coap://127.0.0.1:65536",
		"coap://127.0.0.1:99999999",
		"coap://127.0.0.1:12x",
		"coap://127.0.0.1/",
		"coap://127.0.0.1/rd?x=1",
		"coap://127.0.0.1?x",
		"coap://127.0.0.1:5683?x",
		"coap://127.0.0.1/?",
		"coap://server.example.com",
		"coap://1.2.3",
		"http://127.0.0.1",
		"coap://127.0.0.1:5683/a/b",
		"coap://:5683",
		"coap://[::1]x",
		"coap://[::1]?x",
		"coap://[::1]/x",
		"coap://0x7f.1",
		"c",
		"coapx://127.0.0.1",
	};
	struct lwm2m_bs_account a;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		struct lwm2m_records r = { 0 };
		bool secure = !strncasecmp(uris[i], "coaps", 5);
		int got;

		account(&r, 1, 1, uris[i], secure ? 0 : 3, 1, 60, "U");
		lwm2m_records_sort(&r);
		got = lwm2m_bs_check(&r, &a, &why);
		if ((got == 0) != libcoap_accepts(uris[i]))
			fail_msg("%s: check %d, libcoap %s", uris[i], got,
				 libcoap_accepts(uris[i]) ? "accepts" : "refuses");
		lwm2m_records_clear(&r);
	}
}

/* ---- save / load ---------------------------------------------------------------- */

static char *tmpdir(void)
{
	char *d = strdup("/tmp/fg-bs-unit-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void rmdir_all(const char *d, const char *const *names)
{
	char p[512];

	for (size_t i = 0; names[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", d, names[i]);
		unlink(p);
		rmdir(p);
	}
	rmdir(d);
}

static void save_and_load(void **state)
{
	static const char *const names[] = { "bs-dev%2F1.state", "bs-dev%2F1.state.tmp", NULL };
	struct lwm2m_records in = { 0 }, out = { 0 };
	char *d = tmpdir(), path[256], tmp[512];
	const char *why = NULL;
	struct stat st;
	int fd;

	(void)state;
	account(&in, 1, 1, "coaps://127.0.0.1:5684", 0, 5, 600, "U");
	snprintf(path, sizeof(path), "%s/bs-dev%%2F1.state", d);
	assert_true((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) < sizeof(tmp));

	assert_int_equal(fg_bs_state_load(d, "dev/1", reg, &out, &why), -ENOENT);
	/* A stale, world-readable temporary file from a crash is replaced. */
	fd = open(tmp, O_WRONLY | O_CREAT, 0666);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	chmod(tmp, 0666);
	assert_int_equal(fg_bs_state_save(d, "dev/1", &in), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(fg_bs_state_load(d, "dev/1", reg, &out, &why), 0);
	assert_int_equal(out.n, in.n);
	assert_int_equal(find(&out, LWM2M_PATH(1, 1, 1))->i, 600);
	lwm2m_records_clear(&out);

	/* Loosened by someone: loaded, and back to owner-only. */
	chmod(path, 0644);
	assert_int_equal(fg_bs_state_load(d, "dev/1", reg, &out, &why), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	lwm2m_records_clear(&out);

	/* Saved again over the old one (rename replaces it). */
	add(&in, LWM2M_PATH(1, 1, 2), i64(10));
	lwm2m_records_sort(&in);
	assert_int_equal(fg_bs_state_save(d, "dev/1", &in), 0);
	assert_int_equal(fg_bs_state_load(d, "dev/1", reg, &out, &why), 0);
	assert_int_equal(find(&out, LWM2M_PATH(1, 1, 2))->i, 10);
	lwm2m_records_clear(&out);

	/* Truncated on disk: refused with a reason, output untouched. */
	assert_int_equal(truncate(path, 30), 0);
	assert_int_equal(fg_bs_state_load(d, "dev/1", reg, &out, &why), -EBADMSG);
	assert_string_equal(why, "truncated, or bytes after its end");
	assert_int_equal(out.n, 0);

	/* A directory where the file should be. */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(fg_bs_state_load(d, "dev/1", reg, &out, &why), -EBADMSG);
	assert_string_equal(why, "not a regular file");
	assert_true(fg_bs_state_save(d, "dev/1", &in) < 0);
	assert_int_equal(access(tmp, F_OK), -1);
	rmdir(path);

	/* No such directory. */
	assert_int_equal(fg_bs_state_save("/nonexistent/fg", "dev/1", &in), -ENOENT);
	assert_int_equal(fg_bs_state_load("/nonexistent/fg", "dev/1", reg, &out, &why), -ENOENT);

	lwm2m_records_clear(&in);
	rmdir_all(d, names);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_names),    cmocka_unit_test(file_names_long),
		cmocka_unit_test(round_trip),    cmocka_unit_test(golden_file),
		cmocka_unit_test(corruption),    cmocka_unit_test(malformed_payloads),
		cmocka_unit_test(account_check), cmocka_unit_test(uri_as_libcoap),
		cmocka_unit_test(save_and_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
