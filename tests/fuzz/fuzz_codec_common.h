/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Round-trip property shared by the binary codec fuzz targets (TLV, SenML
 * CBOR, LwM2M CBOR): whatever a decoder accepts, its encoder must write
 * back, and decoding that must give the very same records (floats compared
 * bit for bit). Any difference abort()s.
 *
 * The first input byte chooses the request path and how types are given;
 * the rest is the payload, copied to an exact-size buffer so ASan sees any
 * read past its end.
 */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/codec_internal.h"
#include "../unit/record_equal.h"

typedef int (*fz_encode_fn)(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out);
typedef int (*fz_decode_fn)(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

/* Types from a hash of the path: every type shows up somewhere. */
static enum lwm2m_type fz_type_hash(void *ctx, const struct lwm2m_path *p)
{
	unsigned h = (unsigned)(uintptr_t)ctx;

	for (unsigned i = 0; i < p->len; i++)
		h = h * 31 + p->id[i];
	return (enum lwm2m_type)(h % LWM2M_TYPE__MAX);
}

/* Types as a registry would give them: the resource decides, whatever the
 * instance; object 9999's resource rid has type rid % 10. */
static enum lwm2m_type fz_type_table(void *ctx, const struct lwm2m_path *p)
{
	(void)ctx;
	if (p->len < 3)
		return LWM2M_TYPE_NONE;
	if (p->id[0] == 3)
		return p->id[2] <= 3 || p->id[2] == 14 || p->id[2] == 16 ? LWM2M_TYPE_STRING
		       : p->id[2] == 13                                  ? LWM2M_TYPE_TIME
									 : LWM2M_TYPE_INTEGER;
	return (enum lwm2m_type)(p->id[2] % 10);
}

static int fz_same(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	return tu_record_equal(a, b);
}

static void fz_roundtrip(const uint8_t *data, size_t size, fz_encode_fn enc, fz_decode_fn dec,
			 unsigned min_base)
{
	struct lwm2m_records first = { 0 }, second = { 0 };
	struct lwm2m_buf out = { 0 };
	struct lwm2m_path base;
	lwm2m_type_fn type_of;
	uint8_t sel, *copy;
	size_t n0 = 0;

	if (size < 1)
		return;
	sel = data[0];
	data++, size--;
	/* Base: /3/0/<rid>/<riid> or /9999/..., of length min_base..4. */
	base.len = (uint8_t)(min_base + sel % (5 - min_base));
	base.id[0] = sel & 0x08 ? 9999 : 3;
	base.id[1] = 0;
	base.id[2] = (sel >> 4) & 3;
	base.id[3] = (sel >> 6) & 1;
	type_of = sel & 0x80 ? fz_type_hash : fz_type_table;
	if ((sel & 0xc0) == 0x40)
		type_of = NULL;

	copy = malloc(size ? size : 1);
	if (!copy)
		return;
	if (size)
		memcpy(copy, data, size);
	/* A record already in the list must survive a failed decode. */
	struct lwm2m_record *keep = lwm2m_records_add(&first);
	if (!keep)
		goto out;
	keep->path = LWM2M_PATH(1, 2, 3);
	n0 = first.n;
	if (dec(&base, copy, size, type_of, (void *)(uintptr_t)sel, &first) < 0) {
		if (first.n != n0 || first.v[0].path.id[2] != 3)
			abort();
		goto out;
	}
	/* Encoders take records sorted by (prefix, path). */
	memmove(first.v, first.v + 1, (first.n - 1) * sizeof(*first.v));
	first.n--;
	lwm2m_records_sort(&first);
	if (enc(&base, first.v, first.n, &out) < 0)
		abort();
	if (dec(&base, out.data, out.len, type_of, (void *)(uintptr_t)sel, &second) < 0)
		abort();
	if (second.n != first.n)
		abort();
	for (size_t i = 0; i < first.n; i++)
		if (!fz_same(&first.v[i], &second.v[i]))
			abort();
out:
	lwm2m_records_clear(&first);
	lwm2m_records_clear(&second);
	lwm2m_buf_free(&out);
	free(copy);
}
