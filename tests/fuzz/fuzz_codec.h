/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the record-codec fuzz targets (fuzz_text, fuzz_opaque,
 * fuzz_senml_json, fuzz_lwm2m_json). Input layout:
 *   byte 0   seed of type_of() (0: no type_of at all)
 *   byte 1   request path, an index into fuzz_bases
 *   rest     the payload
 * Property: when a payload decodes, its records (sorted) encode without
 * error, and that encoding decodes to exactly the same records.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"
#include "../unit/record_equal.h"

static const struct lwm2m_path fuzz_bases[] = {
	{ .len = 0 },        LWM2M_PATH(3),          LWM2M_PATH(3, 0),    LWM2M_PATH(3, 0, 0),
	LWM2M_PATH(3, 0, 7), LWM2M_PATH(3, 0, 7, 1), LWM2M_PATH(3303, 0), LWM2M_PATH(3303, 0, 5700),
	LWM2M_PATH(5, 0, 0), LWM2M_PATH(25, 0, 3),
};
#define FUZZ_NBASES (sizeof(fuzz_bases) / sizeof(fuzz_bases[0]))

/* A type for every path, varied by the seed but fixed for one input. */
static inline enum lwm2m_type fuzz_type_of(void *ctx, const struct lwm2m_path *p)
{
	uint32_t h = *(const uint8_t *)ctx;

	for (unsigned i = 0; i < p->len; i++)
		h = h * 31 + p->id[i];
	h = h * 31 + p->len;
	return (enum lwm2m_type)(h % LWM2M_TYPE__MAX);
}

static inline bool fuzz_record_equal(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	return tu_record_equal(a, b);
}

static inline void fuzz_fail(const char *what, const struct lwm2m_buf *b)
{
	fprintf(stderr, "round trip broken: %s; re-encoding: %.*s\n", what, b ? (int)b->len : 0,
		b ? (const char *)b->data : "");
	abort();
}

static inline int fuzz_codec_one(uint16_t ct, const uint8_t *data, size_t size)
{
	struct lwm2m_records first = { 0 }, second = { 0 };
	struct lwm2m_buf b = { 0 };
	const struct lwm2m_path *base;
	lwm2m_type_fn type_of;
	uint8_t seed;
	int r;

	if (size < 2)
		return 0;
	seed = data[0];
	type_of = seed ? fuzz_type_of : NULL;
	base = &fuzz_bases[data[1] % FUZZ_NBASES];
	data += 2;
	size -= 2;

	r = lwm2m_decode(ct, base, data, size, type_of, &seed, &first);
	if (r < 0) {
		if (first.n != 0)
			fuzz_fail("records left behind by a failed decode", NULL);
		goto out;
	}
	lwm2m_records_sort(&first);
	r = lwm2m_encode(ct, base, first.v, first.n, &b);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		fuzz_fail("decoded records do not encode", NULL);
	r = lwm2m_decode(ct, base, b.data, b.len, type_of, &seed, &second);
	if (r == -ENOMEM)
		goto out;
	if (r < 0)
		fuzz_fail("the re-encoding does not decode", &b);
	if (second.n != first.n)
		fuzz_fail("record count differs", &b);
	for (size_t i = 0; i < first.n; i++)
		if (!fuzz_record_equal(&first.v[i], &second.v[i]))
			fuzz_fail("a record differs", &b);
out:
	lwm2m_records_clear(&first);
	lwm2m_records_clear(&second);
	lwm2m_buf_free(&b);
	return 0;
}
