/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lwm2m_encode()/lwm2m_decode(): argument checks common to every content
 * format, then dispatch to the per-format functions of codec_internal.h.
 * The checks live here once so each codec can rely on them.
 */
#include <errno.h>
#include <string.h>

#include "lwm2m/codec_internal.h"

typedef int (*encode_fn)(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			 struct lwm2m_buf *out);
typedef int (*decode_fn)(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			 lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

struct codec {
	uint16_t ct;
	encode_fn encode;
	decode_fn decode;
};

static const struct codec codecs[] = {
	{ LWM2M_CT_TEXT, lwm2m_text_encode, lwm2m_text_decode },
	{ LWM2M_CT_OPAQUE, lwm2m_opaque_encode, lwm2m_opaque_decode },
	{ LWM2M_CT_SENML_JSON, lwm2m_senml_json_encode, lwm2m_senml_json_decode },
	{ LWM2M_CT_SENML_CBOR, lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode },
	{ LWM2M_CT_TLV, lwm2m_tlv_encode, lwm2m_tlv_decode },
	{ LWM2M_CT_LWM2M_JSON, lwm2m_lwm2m_json_encode, lwm2m_lwm2m_json_decode },
	{ LWM2M_CT_LWM2M_CBOR, lwm2m_lwm2m_cbor_encode, lwm2m_lwm2m_cbor_decode },
};

/* -ENOTSUP for a known format that does not carry records (CoRE link
 * format has its own API), -EPROTONOSUPPORT for an unknown number. */
static int find_codec(uint16_t ct, const struct codec **c)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		if (codecs[i].ct == ct) {
			*c = &codecs[i];
			return 0;
		}
	}
	return ct == LWM2M_CT_LINK ? -ENOTSUP : -EPROTONOSUPPORT;
}

static bool path_valid(const struct lwm2m_path *p)
{
	if (p->len > 4)
		return false;
	for (unsigned i = 0; i < p->len; i++)
		if (p->id[i] > LWM2M_ID_MAX)
			return false;
	return true;
}

/* The order of lwm2m_records_sort(): prefix bytes, then path. */
static int record_order(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	size_t n = a->prefix.len < b->prefix.len ? a->prefix.len : b->prefix.len;
	int c = n ? memcmp(a->prefix.ptr, b->prefix.ptr, n) : 0;

	if (c)
		return c;
	if (a->prefix.len != b->prefix.len)
		return a->prefix.len < b->prefix.len ? -1 : 1;
	return lwm2m_path_cmp(&a->path, &b->path);
}

int lwm2m_encode(uint16_t ct, const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
		 struct lwm2m_buf *out)
{
	const struct codec *c;
	size_t start;
	int r;

	if (!base || !out || (n && !recs) || !path_valid(base))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct lwm2m_record *rec = &recs[i];

		if (!path_valid(&rec->path) || !lwm2m_path_is_under(&rec->path, base) ||
		    (rec->prefix.len && !rec->prefix.ptr) || rec->value.type >= LWM2M_TYPE__MAX)
			return -EINVAL;
		if (i > 0 && record_order(&recs[i - 1], rec) > 0)
			return -EINVAL;
	}
	r = find_codec(ct, &c);
	if (r < 0)
		return r;
	start = out->len;
	r = c->encode(base, recs, n, out);
	if (r < 0)
		out->len = start; /* nothing half-written stays behind */
	return r;
}

int lwm2m_decode(uint16_t ct, const struct lwm2m_path *base, const uint8_t *data, size_t len,
		 lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out)
{
	const struct codec *c;
	size_t n0;
	int r;

	if (!base || !out || (len && !data) || !path_valid(base))
		return -EINVAL;
	r = find_codec(ct, &c);
	if (r < 0)
		return r;
	/* Decoders may hand data to mem*() functions, which must never see
	 * NULL even with a zero length: an empty payload comes as "". */
	if (!data)
		data = (const uint8_t *)"";
	n0 = out->n;
	r = c->decode(base, data, len, type_of, type_ctx, out);
	if (r < 0)
		lwm2m_records_truncate(out, n0);
	return r;
}
