/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/: the per-format encoders and decoders that codec.c
 * dispatches to. Same contracts as lwm2m_encode()/lwm2m_decode() in
 * lwm2m.h; callers (codec.c) have already checked that recs are sorted and
 * at or below base, and that data is non-NULL when len > 0.
 */
#pragma once

#include "lwm2m/lwm2m.h"

int lwm2m_text_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
		      struct lwm2m_buf *out);
int lwm2m_text_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len, lwm2m_type_fn type_of,
		      void *type_ctx, struct lwm2m_records *out);

int lwm2m_opaque_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			struct lwm2m_buf *out);
int lwm2m_opaque_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len, lwm2m_type_fn type_of,
			void *type_ctx, struct lwm2m_records *out);

int lwm2m_tlv_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
		     struct lwm2m_buf *out);
int lwm2m_tlv_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len, lwm2m_type_fn type_of,
		     void *type_ctx, struct lwm2m_records *out);

int lwm2m_senml_json_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out);
int lwm2m_senml_json_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

int lwm2m_senml_cbor_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out);
int lwm2m_senml_cbor_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

int lwm2m_lwm2m_cbor_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out);
int lwm2m_lwm2m_cbor_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

int lwm2m_lwm2m_json_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out);
int lwm2m_lwm2m_json_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

/* Shared by the SenML codecs and LwM2M JSON: "/3/0/" style base-name
 * handling and name resolution (bn + n -> path and optional prefix). */
int lwm2m_senml_resolve_name(const char *bn, size_t bnlen, const char *n, size_t nlen, struct lwm2m_path *p,
			     struct lwm2m_span *prefix, struct lwm2m_records *arena_owner);

/* A record's time from the pack's base time and its own (RFC 8428 §4.5.3:
 * bt + t, either missing counts as 0). -0 is time 0: the result is
 * normalised so a decoded time round-trips through every encoder whatever
 * mix of bt and t carried it. -ERANGE if not finite. */
int lwm2m_senml_time(bool has_bt, double bt, bool has_t, double t, double *out);

/* Records appended by a failed decode are dropped: decoders call this on
 * error to restore out->n. */
static inline void lwm2m_records_truncate(struct lwm2m_records *r, size_t n)
{
	if (n < r->n)
		r->n = n;
}
