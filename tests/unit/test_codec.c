/* SPDX-License-Identifier: Apache-2.0 */
/* lwm2m_encode()/lwm2m_decode(): argument checks and which content format
 * carries which payload shape (the shape table is tests/data/codec). */
#include "codec_cases.h"

static const uint16_t record_formats[] = {
	LWM2M_CT_TEXT, LWM2M_CT_OPAQUE,     LWM2M_CT_SENML_JSON, LWM2M_CT_SENML_CBOR,
	LWM2M_CT_TLV,  LWM2M_CT_LWM2M_JSON, LWM2M_CT_LWM2M_CBOR,
};

static void test_null_arguments(void **state)
{
	struct lwm2m_path base = LWM2M_PATH(3, 0, 9);
	struct lwm2m_record rec = { .path = base, .value = { .type = LWM2M_TYPE_INTEGER, .i = 1 } };
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf b = { 0 };
	(void)state;

	for (size_t i = 0; i < sizeof(record_formats) / sizeof(record_formats[0]); i++) {
		uint16_t ct = record_formats[i];
		assert_int_equal(lwm2m_encode(ct, NULL, &rec, 1, &b), -EINVAL);
		assert_int_equal(lwm2m_encode(ct, &base, &rec, 1, NULL), -EINVAL);
		assert_int_equal(lwm2m_encode(ct, &base, NULL, 1, &b), -EINVAL);
		assert_int_equal(lwm2m_decode(ct, NULL, (const uint8_t *)"1", 1, NULL, NULL, &recs), -EINVAL);
		assert_int_equal(lwm2m_decode(ct, &base, (const uint8_t *)"1", 1, NULL, NULL, NULL), -EINVAL);
		assert_int_equal(lwm2m_decode(ct, &base, NULL, 1, NULL, NULL, &recs), -EINVAL);
	}
	assert_int_equal(b.len, 0);
	assert_int_equal(recs.n, 0);
	/* data may be NULL when len is 0: an empty text body is "". */
	assert_int_equal(lwm2m_decode(LWM2M_CT_TEXT, &base, NULL, 0, NULL, NULL, &recs), 0);
	assert_int_equal(recs.n, 1);
	assert_int_equal(recs.v[0].value.type, LWM2M_TYPE_STRING);
	assert_int_equal(recs.v[0].value.bytes.len, 0);
	lwm2m_records_clear(&recs);
}

static void test_invalid_paths_and_values(void **state)
{
	struct lwm2m_path bad_len = { .id = { 3, 0, 9, 0 }, .len = 5 };
	struct lwm2m_path bad_id = LWM2M_PATH(3, 65535);
	struct lwm2m_path base = LWM2M_PATH(3, 0);
	struct lwm2m_record rec = { .path = LWM2M_PATH(3, 0, 9),
				    .value = { .type = LWM2M_TYPE_INTEGER, .i = 1 } };
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf b = { 0 };
	(void)state;

	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &bad_len, &rec, 1, &b), -EINVAL);
	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &bad_id, &rec, 1, &b), -EINVAL);
	assert_int_equal(
		lwm2m_decode(LWM2M_CT_SENML_JSON, &bad_len, (const uint8_t *)"[]", 2, NULL, NULL, &recs),
		-EINVAL);
	rec.path.len = 5;
	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &base, &rec, 1, &b), -EINVAL);
	rec.path = LWM2M_PATH(3, 0, 65535);
	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &base, &rec, 1, &b), -EINVAL);
	rec.path = LWM2M_PATH(3, 0, 9);
	rec.value.type = LWM2M_TYPE__MAX;
	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &base, &rec, 1, &b), -EINVAL);
	rec.value.type = LWM2M_TYPE_INTEGER;
	rec.prefix = (struct lwm2m_span){ NULL, 3 };
	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &base, &rec, 1, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	lwm2m_buf_free(&b);
}

/* Sortedness: equal paths may repeat (time series), the order is prefix
 * first, then path, as lwm2m_records_sort() leaves it. */
static void test_sorted_order(void **state)
{
	struct lwm2m_path root = { .len = 0 };
	struct lwm2m_record r[3] = {
		{ .path = LWM2M_PATH(3, 0, 9), .value = { .type = LWM2M_TYPE_INTEGER, .i = 1 } },
		{ .path = LWM2M_PATH(3, 0, 9), .value = { .type = LWM2M_TYPE_INTEGER, .i = 2 } },
		{ .path = LWM2M_PATH(1, 0, 1),
		  .prefix = { "d", 1 },
		  .value = { .type = LWM2M_TYPE_INTEGER } },
	};
	struct lwm2m_records sorted = { 0 };
	struct lwm2m_buf b = { 0 };
	(void)state;

	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &root, r, 3, &b), 0);
	/* What lwm2m_records_sort() produces is accepted. */
	for (int i = 2; i >= 0; i--) {
		struct lwm2m_record *x = lwm2m_records_add(&sorted);
		assert_non_null(x);
		*x = r[i];
	}
	lwm2m_records_sort(&sorted);
	lwm2m_buf_reset(&b);
	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &root, sorted.v, sorted.n, &b), 0);
	/* A prefixed record before an unprefixed one is out of order. */
	struct lwm2m_record swapped[2] = { r[2], r[0] };
	assert_int_equal(lwm2m_encode(LWM2M_CT_SENML_JSON, &root, swapped, 2, &b), -EINVAL);
	lwm2m_records_clear(&sorted);
	lwm2m_buf_free(&b);
}

/* Which format takes which ct number, for one Integer at /3/0/9. */
static void test_ct_table(void **state)
{
	static const struct {
		uint16_t ct;
		int encode;
	} table[] = {
		{ LWM2M_CT_TEXT, 0 },
		{ LWM2M_CT_OPAQUE, -ENOTSUP },
		{ LWM2M_CT_LINK, -ENOTSUP },
		{ LWM2M_CT_SENML_JSON, 0 },
		{ LWM2M_CT_SENML_CBOR, 0 },
		{ LWM2M_CT_TLV, 0 },
		{ LWM2M_CT_LWM2M_JSON, 0 },
		{ LWM2M_CT_LWM2M_CBOR, 0 },
		{ LWM2M_CT_NONE, -EPROTONOSUPPORT },
		{ 41, -EPROTONOSUPPORT },
		{ 60, -EPROTONOSUPPORT },
		{ 1, -EPROTONOSUPPORT },
	};
	struct lwm2m_record rec = { .path = LWM2M_PATH(3, 0, 9),
				    .value = { .type = LWM2M_TYPE_INTEGER, .i = 95 } };
	(void)state;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct lwm2m_buf b = { 0 };
		struct lwm2m_records got = { 0 };
		int r = lwm2m_encode(table[i].ct, &rec.path, &rec, 1, &b);
		if (r != table[i].encode)
			fail_msg("encode ct %u: %d, want %d", table[i].ct, r, table[i].encode);
		if (r == 0) {
			/* What a format encodes, it decodes. */
			struct cc_typed typed = { &rec, 1 };
			r = lwm2m_decode(table[i].ct, &rec.path, b.data, b.len, cc_typed_of, &typed, &got);
			if (r != 0 || got.n != 1 || !cc_record_equal(&got.v[0], &rec))
				fail_msg("ct %u does not decode its own encoding (%d)", table[i].ct, r);
		} else {
			assert_int_equal(b.len, 0);
			r = lwm2m_decode(table[i].ct, &rec.path, (const uint8_t *)"95", 2, NULL, NULL, &got);
			if (table[i].encode == -EPROTONOSUPPORT || table[i].ct == LWM2M_CT_LINK)
				assert_int_equal(r, table[i].encode);
		}
		lwm2m_records_clear(&got);
		lwm2m_buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_arguments),
		cmocka_unit_test(test_invalid_paths_and_values),
		cmocka_unit_test(test_sorted_order),
		cmocka_unit_test(test_ct_table),
	};
	return cc_run_group("codec", tests, sizeof(tests) / sizeof(tests[0]), "codec");
}
