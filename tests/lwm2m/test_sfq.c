/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The queue of held samples and its file (lwm2m/client/sfq.h): bounds drop
 * the oldest and count them, paths held keep new values behind old ones,
 * the file round-trips, removals are GONE records, a torn end and foreign
 * files are handled; the fuzz seeds (written by tests/fuzz/gen_sfq.py from
 * the format's description) load as the format says.
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

#include "lwm2m/client/sfq.h"

static const struct lwm2m_path P = LWM2M_PATH(3303, 0, 5700);
static const int64_t T = 1700000000000;

static struct lwm2m_value fv(double f)
{
	return (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = f };
}

static void push_n(struct fg_sq *q, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		struct lwm2m_value v = fv(i);

		assert_int_equal(fg_sq_push(q, &P, &v, T + i, FG_SQ_PENDING, 0), 0);
	}
}

static void test_bounds_drop_oldest(void **state)
{
	struct fg_sq q = { .max_count = 5 };

	(void)state;
	push_n(&q, 1, 8);
	assert_int_equal(q.live, 5);
	assert_int_equal(q.dropped, 3);
	assert_int_equal(q.queued, 8);
	/* The oldest went: 4..8 are left, in order. */
	for (size_t i = 0; i < q.n; i++)
		assert_true(fg_sq_at(&q, i)->value.f == 4.0 + (double)i);
	assert_int_equal(fg_sq_held(&q, &P), 5);
	/* INFLIGHT ones are never dropped: with all INFLIGHT a new one is. */
	for (size_t i = 0; i < q.n; i++)
		fg_sq_set_state(&q, fg_sq_at(&q, i), FG_SQ_INFLIGHT, 1);
	{
		struct lwm2m_value v = fv(9);

		assert_int_equal(fg_sq_push(&q, &P, &v, T + 9, FG_SQ_PENDING, 0), 1);
	}
	assert_int_equal(q.dropped, 4);
	assert_int_equal(q.live, 5);
	fg_sq_clear(&q);
}

static void test_bytes_bound(void **state)
{
	struct fg_sq q = { .max_bytes = 100 };
	struct lwm2m_value s = { .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"hello", 5 } };

	(void)state;
	/* A string sample is 5 + 8 + 8 + 1 + 6 + 1 + 5 + 4 = 38 bytes. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(fg_sq_push(&q, &P, &s, T + i, FG_SQ_PENDING, 0), 0);
	assert_int_equal(q.live, 2);
	assert_int_equal(q.bytes, 76);
	assert_int_equal(q.dropped, 2);
	fg_sq_clear(&q);
}

static void test_states_and_counters(void **state)
{
	struct fg_sq q = { 0 };
	struct lwm2m_value v = fv(1);

	(void)state;
	/* SENT: not held, not counted as queued; confirmed: counted nowhere. */
	assert_int_equal(fg_sq_push(&q, &P, &v, T, FG_SQ_SENT, 3), 0);
	assert_int_equal(fg_sq_held(&q, &P), 0);
	assert_int_equal(q.queued, 0);
	fg_sq_remove(&q, fg_sq_at(&q, 0), true);
	assert_int_equal(q.delivered, 0);
	assert_int_equal(q.n, 0);
	/* SENT then held (server lost), then dropped: counted as dropped
	 * after having been sent. */
	assert_int_equal(fg_sq_push(&q, &P, &v, T, FG_SQ_SENT, 3), 0);
	fg_sq_set_state(&q, fg_sq_at(&q, 0), FG_SQ_PENDING, 0);
	assert_int_equal(q.queued, 1);
	assert_int_equal(fg_sq_held(&q, &P), 1);
	fg_sq_remove(&q, fg_sq_at(&q, 0), false);
	assert_int_equal(q.dropped, 1);
	assert_int_equal(q.dropped_sent, 1);
	assert_int_equal(fg_sq_held(&q, &P), 0);
	assert_int_equal(q.nheld, 0);
	/* Bad input changes nothing. */
	assert_int_equal(fg_sq_push(&q, &LWM2M_PATH(3303, 0), &v, T, FG_SQ_PENDING, 0), -EINVAL);
	{
		struct lwm2m_value nan = fv(0.0 / 0.0);

		assert_int_equal(fg_sq_push(&q, &P, &nan, T, FG_SQ_PENDING, 0), -EINVAL);
	}
	assert_int_equal(fg_sq_push(&q, &P, &v, 0, FG_SQ_PENDING, 0), -EINVAL);
	assert_int_equal(q.live, 0);
	fg_sq_clear(&q);
}

static void test_file_round_trip(void **state)
{
	struct fg_sq q = { .persist = true }, r = { .persist = true };
	struct lwm2m_buf file = { 0 };
	const char *why;
	size_t ignored;

	(void)state;
	assert_int_equal(fg_sq_header("ep0", &file), 0);
	push_n(&q, 1, 10);
	/* Written when the file is: none delivered before that reaches it. */
	assert_int_equal(q.out.len, 0);
	assert_int_equal(fg_sq_flush(&q), 0);
	assert_true(q.out.len > 0);
	/* 1..3 delivered, 5 dropped: merged GONE ranges. */
	for (int k = 0; k < 3; k++)
		fg_sq_remove(&q, fg_sq_at(&q, 0), true);
	fg_sq_remove(&q, fg_sq_at(&q, 1), false);
	assert_int_equal(lwm2m_buf_append(&file, q.out.data, q.out.len), 0);
	assert_int_equal(fg_sq_load(&r, file.data, file.len, "ep0", &ignored, &why), 6);
	assert_int_equal(ignored, 0);
	assert_int_equal(r.next_seq, q.next_seq);
	for (size_t i = 0, k = 0; i < q.n; i++) {
		const struct fg_sample *s = fg_sq_at(&q, i);

		if (s->state == FG_SQ_GONE)
			continue;
		assert_true(fg_sq_at(&r, k)->value.f == s->value.f);
		assert_int_equal(fg_sq_at(&r, k)->time_ms, s->time_ms);
		assert_int_equal(fg_sq_at(&r, k)->state, FG_SQ_PENDING);
		k++;
	}
	/* A torn last record is left out, the rest loads: here the GONE of
	 * the dropped one, which comes back (twice rather than never). */
	fg_sq_clear(&r);
	assert_int_equal(fg_sq_load(&r, file.data, file.len - 2, "ep0", &ignored, &why), 7);
	assert_true(ignored > 0);
	/* Another endpoint's file, and not a file of ours at all. */
	fg_sq_clear(&r);
	assert_int_equal(fg_sq_load(&r, file.data, file.len, "ep1", &ignored, &why), -ESTALE);
	assert_int_equal(fg_sq_load(&r, (const uint8_t *)"FGBS....", 8, "ep0", &ignored, &why), -EBADMSG);
	assert_int_equal(r.live, 0);
	/* The rewrite holds the live ones only. */
	lwm2m_buf_reset(&file);
	assert_int_equal(fg_sq_image(&q, "ep0", &file), 0);
	assert_int_equal(q.out.len, 0);
	assert_int_equal(fg_sq_load(&r, file.data, file.len, "ep0", &ignored, &why), 6);
	fg_sq_clear(&r);
	/* Loading within smaller bounds drops the oldest (counted). */
	r.max_count = 4;
	assert_int_equal(fg_sq_load(&r, file.data, file.len, "ep0", &ignored, &why), 4);
	assert_int_equal(r.dropped, 2);
	assert_true(fg_sq_at(&r, 0)->value.f == 7.0);
	lwm2m_buf_free(&file);
	fg_sq_clear(&q);
	fg_sq_clear(&r);
}

static int load_seed(const char *name, const char *ep, struct fg_sq *q, size_t *ignored)
{
	char path[512];
	const char *dir = getenv("FG_SOURCE_DIR"), *why;
	FILE *f;
	uint8_t buf[8192];
	size_t n;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/sfq/%s", dir ? dir : ".", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return fg_sq_load(q, buf, n, ep, ignored, &why);
}

static void test_seeds(void **state)
{
	static const struct {
		const char *name;
		int loaded;
		bool torn;
	} cases[] = {
		{ "empty", 0, false },    { "floats", 8, false },   { "types", 8, false },
		{ "gone", 3, false },     { "torn", 1, true },      { "badcrc", 0, true },
		{ "dupseq", 1, false },   { "nan", 0, true },       { "badpath", 0, true },
		{ "othername", -ESTALE }, { "version2", -EBADMSG },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fg_sq q = { 0 };
		size_t ignored = 0;
		int r = load_seed(cases[i].name, "ep0", &q, &ignored);

		if (r != cases[i].loaded || (r >= 0 && (ignored > 0) != cases[i].torn))
			fail_msg("%s: loaded %d (expected %d), %zu bytes ignored", cases[i].name, r,
				 cases[i].loaded, ignored);
		fg_sq_clear(&q);
	}
	/* The survivors of "gone" are 7, 8, 9 in order; "types" keeps each type. */
	{
		struct fg_sq q = { 0 };
		size_t ignored;

		assert_int_equal(load_seed("gone", "ep0", &q, &ignored), 3);
		for (size_t i = 0; i < 3; i++)
			assert_int_equal(fg_sq_at(&q, i)->seq, 7 + i);
		fg_sq_clear(&q);
		assert_int_equal(load_seed("types", "ep0", &q, &ignored), 8);
		assert_int_equal(fg_sq_at(&q, 3)->value.type, LWM2M_TYPE_UNSIGNED);
		assert_true(fg_sq_at(&q, 3)->value.u == (1ull << 63) + 5);
		assert_int_equal(fg_sq_at(&q, 1)->value.bytes.len, 3);
		assert_memory_equal(fg_sq_at(&q, 1)->value.bytes.ptr, "Cel", 3);
		assert_int_equal(fg_sq_at(&q, 6)->value.lnk.oid, 3303);
		fg_sq_clear(&q);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds_drop_oldest),
		cmocka_unit_test(test_bytes_bound),
		cmocka_unit_test(test_states_and_counters),
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_seeds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
