/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file of held samples (lwm2m/client/sfq.h): any bytes are loaded
 * without crashing or reading past the input, within the queue's bounds;
 * what loads survives the queue's own rewrite (fg_sq_image) unchanged, and
 * the queue keeps its invariants through removals and pushes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/client/sfq.h"
#include "tests/unit/record_equal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_invariants(const struct fg_sq *q)
{
	size_t live = 0, bytes = 0, held = 0;
	uint64_t last = 0;

	for (size_t i = 0; i < q->n; i++) {
		const struct fg_sample *s = fg_sq_at(q, i);

		if (i && s->seq <= last)
			abort();
		last = s->seq;
		if (s->state == FG_SQ_GONE)
			continue;
		live++;
		bytes += s->size;
		held += s->state == FG_SQ_PENDING || s->state == FG_SQ_INFLIGHT;
	}
	if (live != q->live || bytes != q->bytes || held != q->nheld)
		abort();
	if (q->max_count && q->live > q->max_count)
		abort();
	if (q->n && fg_sq_at(q, 0)->state == FG_SQ_GONE)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_sq a = { .max_count = 500, .max_bytes = 64 * 1024, .persist = true };
	struct fg_sq b = { .max_count = 500, .max_bytes = 64 * 1024, .persist = true };
	struct lwm2m_buf img = { 0 };
	size_t ignored;
	const char *why;
	int n = fg_sq_load(&a, data, size, "ep0", &ignored, &why);

	if (n < 0)
		goto out;
	if ((size_t)n != a.live || ignored > size)
		abort();
	check_invariants(&a);
	/* The rewrite of what loaded loads as the same samples. */
	if (fg_sq_image(&a, "ep0", &img) < 0)
		goto out;
	if (fg_sq_load(&b, img.data, img.len, "ep0", &ignored, &why) != n || ignored)
		abort();
	for (size_t i = 0; i < a.n; i++) {
		const struct fg_sample *x = fg_sq_at(&a, i), *y = fg_sq_at(&b, i);

		struct lwm2m_record rx = { .path = x->path, .value = x->value },
				    ry = { .path = y->path, .value = y->value };

		if (x->seq != y->seq || x->time_ms != y->time_ms || !tu_record_equal(&rx, &ry) ||
		    x->size != y->size)
			abort();
	}
	/* Delivery and new samples keep the invariants; the GONE records the
	 * removals write load back to the same queue. */
	for (size_t i = 0; i < a.n; i += 2)
		fg_sq_remove(&a, fg_sq_at(&a, i), i % 4 == 0);
	if (a.n)
		fg_sq_set_state(&a, fg_sq_at(&a, a.n - 1), FG_SQ_INFLIGHT, 7);
	fg_sq_push(&a, &LWM2M_PATH(3303, 0, 5700),
		   &(struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 21.5 }, 1700000000000, FG_SQ_PENDING,
		   0);
	check_invariants(&a);
	if (fg_sq_flush(&a) < 0)
		goto out;
	/* The file is the image now, and what the queue appended since. */
	fg_sq_clear(&b);
	if (lwm2m_buf_append(&img, a.out.data, a.out.len) >= 0) {
		int m = fg_sq_load(&b, img.data, img.len, "ep0", &ignored, &why);

		if (m < 0 || (size_t)m != a.nheld || ignored)
			abort();
	}
out:
	lwm2m_buf_free(&img);
	fg_sq_clear(&a);
	fg_sq_clear(&b);
	return 0;
}
