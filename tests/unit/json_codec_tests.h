/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The test program shared by the two JSON formats (SenML JSON, LwM2M JSON):
 * golden vectors and malformed inputs from the .case files of tests/data/<JSON_NAME>,
 * round trips of every type and shape, appending, a float sweep. The
 * including file defines:
 *   CT                content format
 *   JSON_NAME         "senml_json" / "lwm2m_json" (data folder, group name)
 *   JSON_APPEND_WANT  the encoding of /3/0/9 = 7 at base /3/0/9
 *   JSON_APPEND_BAD   /3/0/9 = 1, 2, then a string where a number belongs
 */
#include "codec_cases.h"

static void test_roundtrip_every_type(void **state)
{
	struct lwm2m_record recs[32];
	size_t n = cc_every_type(recs, 32);
	(void)state;

	cc_roundtrip(CT, &LWM2M_PATH(3303, 0), recs, n);
	cc_roundtrip(CT, &LWM2M_PATH(3303), recs, n);
	cc_roundtrip(CT, &(struct lwm2m_path){ .len = 0 }, recs, n);
	/* Each one alone at its own path. */
	for (size_t i = 0; i < n; i++)
		cc_roundtrip(CT, &recs[i].path, &recs[i], 1);
}

static void test_roundtrip_prefixes(void **state)
{
	struct lwm2m_record recs[32];
	size_t n = cc_every_type(recs, 32);
	(void)state;

	/* Sorted by prefix: none, "a", "dev-0.x~_" */
	for (size_t i = 0; i < n; i++) {
		if (i >= n / 3)
			recs[i].prefix = (struct lwm2m_span){ "a", 1 };
		if (i >= 2 * n / 3)
			recs[i].prefix = (struct lwm2m_span){ "dev-0.x~_", 9 };
	}
	cc_roundtrip(CT, &LWM2M_PATH(3303, 0), recs, n);
	cc_roundtrip(CT, &(struct lwm2m_path){ .len = 0 }, recs, n);
	/* A record at the root with a prefix: the name is the prefix alone. */
	struct lwm2m_record root = { .prefix = { "gw", 2 }, .value = { .type = LWM2M_TYPE_NONE } };
	cc_roundtrip(CT, &(struct lwm2m_path){ .len = 0 }, &root, 1);
}

/* Encoding appends to what the buffer holds; decoding appends after the
 * records already there. */
static void test_appends(void **state)
{
	struct lwm2m_record rec = { .path = LWM2M_PATH(3, 0, 9),
				    .value = { .type = LWM2M_TYPE_INTEGER, .i = 7 } };
	static const char want[] = "xx" JSON_APPEND_WANT;
	struct lwm2m_records got = { 0 };
	struct lwm2m_buf b = { 0 };
	(void)state;

	assert_int_equal(lwm2m_buf_append(&b, "xx", 2), 0);
	assert_int_equal(lwm2m_encode(CT, &rec.path, &rec, 1, &b), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	assert_int_equal(lwm2m_decode(CT, &rec.path, b.data + 2, b.len - 2, NULL, NULL, &got), 0);
	assert_int_equal(lwm2m_decode(CT, &rec.path, b.data + 2, b.len - 2, NULL, NULL, &got), 0);
	assert_int_equal(got.n, 2);
	assert_true(cc_record_equal(&got.v[1], &rec));
	/* A failure after good records keeps the earlier ones only. */
	static const char bad[] = JSON_APPEND_BAD;
	assert_int_equal(lwm2m_decode(CT, &rec.path, (const uint8_t *)bad, strlen(bad), NULL, NULL, &got),
			 -EBADMSG);
	assert_int_equal(got.n, 2);
	lwm2m_records_clear(&got);
	lwm2m_buf_free(&b);
}

/* Random doubles: what the encoder prints always reads back exactly. */
static void test_float_sweep(void **state)
{
	uint64_t x = 88172645463325252u;
	struct lwm2m_record rec = { .path = LWM2M_PATH(3303, 0, 5700),
				    .value = { .type = LWM2M_TYPE_FLOAT } };
	(void)state;

	for (int i = 0; i < 2000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&rec.value.f, &x, sizeof(double));
		if (!isfinite(rec.value.f))
			continue;
		rec.has_time = i % 2;
		rec.time = (double)(x >> 12) / 4096.0;
		cc_roundtrip(CT, &rec.path, &rec, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_roundtrip_prefixes),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_float_sweep),
	};
	return cc_run_group(JSON_NAME, tests, sizeof(tests) / sizeof(tests[0]), JSON_NAME);
}
