/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LwM2M CBOR (content format 11544, TS 1.2 Core §7.4.6).
 *
 * The payload is one CBOR map whose keys are path segments: an unsigned
 * integer (one id) or an array of them (several ids at once, a "shortened"
 * path). A value is either a nested map of the same kind or the resource's
 * data item: an integer, a float, a boolean, a text string (String,
 * Corelnk, Objlnk as "oid:iid"), a byte string (Opaque), tag 1 around an
 * integer (Time), or null (a path without value, as in Read-Composite).
 *
 * Paths start at the root whatever the request path, as in the TS examples
 * and the implementations we checked ({3: {0: {1: "x"}}} for a Read of
 * /3/0/1): the request path only bounds what a payload may contain.
 *
 * Our encoder writes definite-length maps, and an array key only where it
 * saves bytes (a chain of three or more single-child levels); the decoder
 * takes every form the TS allows, indefinite lengths included.
 */
#include <errno.h>
#include <string.h>

#include "lwm2m/cbor.h"
#include "lwm2m/codec_internal.h"

#define CBOR_TAG_EPOCH 1 /* RFC 8949 §3.4.2 */

/* ---- encoding ---- */

static int put_leaf(struct lwm2m_buf *b, const struct lwm2m_value *v)
{
	char lnk[12];
	int r, n;

	switch (v->type) {
	case LWM2M_TYPE_NONE:
		return lw_cbor_put_simple(b, CBOR_NULL);
	case LWM2M_TYPE_INTEGER:
		return lw_cbor_put_int(b, v->i);
	case LWM2M_TYPE_TIME:
		if ((r = lw_cbor_put_head(b, CBOR_TAG, CBOR_TAG_EPOCH)) < 0)
			return r;
		return lw_cbor_put_int(b, v->i);
	case LWM2M_TYPE_UNSIGNED:
		return lw_cbor_put_uint(b, v->u);
	case LWM2M_TYPE_FLOAT:
		return lw_cbor_put_float(b, v->f);
	case LWM2M_TYPE_BOOLEAN:
		return lw_cbor_put_bool(b, v->b);
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		return lw_cbor_put_str(b, CBOR_TEXT, v->bytes.ptr, v->bytes.len);
	case LWM2M_TYPE_OPAQUE:
		return lw_cbor_put_str(b, CBOR_BYTES, v->bytes.ptr, v->bytes.len);
	case LWM2M_TYPE_OBJLNK:
		n = lw_objlnk_format(v, lnk);
		return lw_cbor_put_str(b, CBOR_TEXT, lnk, (size_t)n);
	default:
		return -EINVAL;
	}
}

/* How far records [0..n), all sharing ids [0..depth], keep sharing ids:
 * the end of the chain of single-child levels below depth. */
static unsigned chain_end(const struct lwm2m_record *recs, size_t n, unsigned depth)
{
	unsigned k = depth + 1;

	for (;;) {
		for (size_t i = 0; i < n; i++)
			if (recs[i].path.len <= k || recs[i].path.id[k] != recs[0].path.id[k])
				return k;
		k++;
	}
}

/* The node at depth for records [0..n) sharing ids [0..depth): the single
 * record ending here, or a map of the children. */
static int put_node(struct lwm2m_buf *b, const struct lwm2m_record *recs, size_t n, unsigned depth)
{
	size_t groups = 0, i, j;
	int r;

	if (n == 1 && recs[0].path.len == depth) {
		/* Values live on resources and resource instances only. */
		if (depth == 0 || (depth < 3 && recs[0].value.type != LWM2M_TYPE_NONE))
			return -EINVAL;
		return put_leaf(b, &recs[0].value);
	}
	for (i = 0; i < n; i++) {
		if (recs[i].path.len == depth)
			return -EINVAL; /* a duplicate, or a leaf that is also a parent */
		if (i == 0 || recs[i].path.id[depth] != recs[i - 1].path.id[depth])
			groups++;
	}
	if ((r = lw_cbor_put_head(b, CBOR_MAP, groups)) < 0)
		return r;
	for (i = 0; i < n; i = j) {
		unsigned k;
		for (j = i + 1; j < n && recs[j].path.id[depth] == recs[i].path.id[depth]; j++)
			;
		k = chain_end(recs + i, j - i, depth);
		/* [a, b, c] costs 1 + 3 bytes against 5 for a: {b: {c: ...}}. */
		if (k - depth >= 3) {
			if ((r = lw_cbor_put_head(b, CBOR_ARRAY, k - depth)) < 0)
				return r;
			for (unsigned s = depth; s < k; s++)
				if ((r = lw_cbor_put_uint(b, recs[i].path.id[s])) < 0)
					return r;
		} else {
			k = depth + 1;
			if ((r = lw_cbor_put_uint(b, recs[i].path.id[depth])) < 0)
				return r;
		}
		if ((r = put_node(b, recs + i, j - i, k)) < 0)
			return r;
	}
	return 0;
}

int lwm2m_lwm2m_cbor_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out)
{
	size_t start = out->len;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].prefix.len)
			return -ENOTSUP; /* no room for an Object 25 prefix */
		if (!lwm2m_path_is_under(&recs[i].path, base))
			return -EINVAL;
		if (i && lwm2m_path_cmp(&recs[i - 1].path, &recs[i].path) > 0)
			return -EINVAL; /* the grouping below needs sorted input */
	}
	r = n ? put_node(out, recs, n, 0) : lw_cbor_put_head(out, CBOR_MAP, 0);
	if (r < 0)
		out->len = start;
	return r;
}

/* ---- decoding ---- */

struct dec {
	struct lw_cbor_reader r;
	const struct lwm2m_path *base;
	lwm2m_type_fn type_of;
	void *type_ctx;
	struct lwm2m_records *out;
	size_t start;
};

static int get_id(struct lw_cbor_reader *r, struct lwm2m_path *p)
{
	struct lw_cbor_head h;
	int e;

	if ((e = lw_cbor_head(r, &h)) < 0)
		return e;
	if (h.major != CBOR_UINT || h.arg > LWM2M_ID_MAX || p->len >= 4)
		return -EBADMSG;
	p->id[p->len++] = (uint16_t)h.arg;
	return 0;
}

/* A key: one id, or a non-empty array of ids. */
static int get_key(struct lw_cbor_reader *r, struct lwm2m_path *p)
{
	struct lw_cbor_head h;
	struct lw_cbor_iter it;
	uint8_t before = p->len;
	int e;

	if ((e = lw_cbor_peek(r, &h)) < 0)
		return e;
	if (h.major == CBOR_UINT)
		return get_id(r, p);
	if ((e = lw_cbor_enter(r, CBOR_ARRAY, &it)) < 0)
		return e;
	while ((e = lw_cbor_next(r, &it)) > 0)
		if ((e = get_id(r, p)) < 0)
			return e;
	if (e == 0 && p->len == before)
		e = -EBADMSG; /* [] names nothing */
	return e;
}

static int get_leaf(struct dec *d, const struct lwm2m_path *p)
{
	struct lw_cbor_head h;
	struct lwm2m_value v = { .type = LWM2M_TYPE_NONE }, tv;
	struct lw_cbor_str s;
	enum lwm2m_type want;
	struct lwm2m_record *rec;
	uint64_t tag;
	int e;

	if ((e = lw_cbor_peek(&d->r, &h)) < 0)
		return e;
	if (h.major == CBOR_SIMPLE && !h.indefinite && h.ai < 24 && h.arg == CBOR_NULL) {
		d->r.p += e;
		goto add;
	}
	if (p->len < 3)
		return -EBADMSG; /* a value on an object or instance */
	want = lw_type_of(d->type_of, d->type_ctx, p);
	switch (h.major) {
	case CBOR_UINT:
	case CBOR_NINT:
		if ((e = lw_cbor_read_number(&d->r, &v)) < 0)
			return e;
		break;
	case CBOR_TAG:
		if ((e = lw_cbor_read_tag(&d->r, &tag)) < 0)
			return e;
		if (tag != CBOR_TAG_EPOCH)
			return -EBADMSG;
		if ((e = lw_cbor_read_number(&d->r, &tv)) < 0)
			return e;
		/* Seconds since the epoch; a float only when it is whole. */
		if ((e = lwm2m_value_convert(&tv, LWM2M_TYPE_TIME, &v)) < 0)
			return e;
		break;
	case CBOR_BYTES:
	case CBOR_TEXT:
		if ((e = lw_cbor_read_str(&d->r, h.major, &s)) < 0)
			return e;
		if (h.major == CBOR_TEXT && want == LWM2M_TYPE_OBJLNK) {
			uint8_t buf[16];
			const uint8_t *q;
			if (lw_cbor_str_flat(&s, buf, sizeof(buf), &q) < 0 ||
			    lw_objlnk_parse(q, s.len, &v) < 0)
				return -EINVAL;
			break;
		}
		v.type = h.major == CBOR_TEXT ? LWM2M_TYPE_STRING : LWM2M_TYPE_OPAQUE;
		v.bytes.len = s.len;
		if ((e = lw_cbor_str_dup(&s, d->out, &v.bytes.ptr)) < 0)
			return e;
		break;
	case CBOR_SIMPLE:
		if (h.ai >= 25 && h.ai <= 27) {
			if ((e = lw_cbor_read_number(&d->r, &v)) < 0)
				return e;
		} else {
			v.type = LWM2M_TYPE_BOOLEAN;
			if ((e = lw_cbor_read_bool(&d->r, &v.b)) < 0)
				return e;
		}
		break;
	default:
		return -EBADMSG;
	}
	tv = v;
	if ((e = lw_value_as(&tv, want, &v)) < 0)
		return e;
add:
	if (!lwm2m_path_is_under(p, d->base))
		return -EBADMSG; /* not what the request addressed */
	if (d->out->n - d->start >= LW_DECODE_MAX_RECORDS)
		return -EBADMSG;
	if (!(rec = lwm2m_records_add(d->out)))
		return -ENOMEM;
	rec->path = *p;
	rec->value = v;
	return 0;
}

/* The item at path p: a map of children or a leaf. */
static int get_node(struct dec *d, const struct lwm2m_path *p)
{
	struct lw_cbor_head h;
	struct lw_cbor_iter it;
	int e;

	if ((e = lw_cbor_peek(&d->r, &h)) < 0)
		return e;
	if (h.major != CBOR_MAP)
		return get_leaf(d, p);
	if ((e = lw_cbor_enter(&d->r, CBOR_MAP, &it)) < 0)
		return e;
	while ((e = lw_cbor_next(&d->r, &it)) > 0) {
		struct lwm2m_path child = *p;
		if ((e = get_key(&d->r, &child)) < 0 || (e = get_node(d, &child)) < 0)
			return e;
	}
	return e;
}

int lwm2m_lwm2m_cbor_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out)
{
	struct dec d = {
		.base = base, .type_of = type_of, .type_ctx = type_ctx, .out = out, .start = out->n
	};
	struct lwm2m_path root = { .len = 0 };
	struct lw_cbor_head h;
	int e;

	lw_cbor_reader_init(&d.r, data, len);
	/* The payload is one map; a bare value would have no path. */
	if ((e = lw_cbor_peek(&d.r, &h)) < 0 || h.major != CBOR_MAP)
		e = -EBADMSG;
	else
		e = get_node(&d, &root);
	if (!e && !lw_cbor_at_end(&d.r))
		e = -EBADMSG; /* bytes after the map */
	if (!e && out->n > d.start)
		e = lw_records_check_tree(out->v + d.start, out->n - d.start);
	if (e < 0)
		lwm2m_records_truncate(out, d.start);
	return e;
}
