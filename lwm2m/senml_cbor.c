/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML CBOR (content format 112): RFC 8428 §6 as profiled by the LwM2M TS
 * 1.1 Core §7.4.5. A pack is an array of maps; labels are the integers of
 * RFC 8428 Table 6 (bn -2, bt -3, n 0, v 2, vs 3, vb 4, t 6, vd 8, ...) and
 * the text label "vlo" for an Objlnk ("oid:iid").
 *
 * Numbers are typed by the resource (type_of), not by their CBOR form: an
 * integer sent for a Float resource becomes a Float, a 2.0 sent for an
 * Integer resource becomes 2, and 2.5 for an Integer is -ERANGE. Without a
 * type, a CBOR integer is an Integer (an Unsigned above INT64_MAX) and a
 * CBOR float a Float.
 *
 * NaN and infinities: CBOR carries them, so values do too (bit-exact, as
 * every float is); times must be finite (-EINVAL), since bt + t of a NaN
 * has no meaning.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lwm2m/cbor.h"
#include "lwm2m/codec_internal.h"

/* RFC 8428 Table 6 labels. */
enum {
	L_BVER = -1,
	L_BN = -2,
	L_BT = -3,
	L_BU = -4,
	L_BV = -5,
	L_BS = -6,
	L_N = 0,
	L_U = 1,
	L_V = 2,
	L_VS = 3,
	L_VB = 4,
	L_S = 5,
	L_T = 6,
	L_UT = 7,
	L_VD = 8,
};

#define NAME_MAX_LEN 128 /* longer names cannot be LwM2M paths */
#define MAX_UNKNOWN  16  /* distinct unknown labels tolerated in one record */
#define UNKNOWN_TEXT 32  /* longest unknown text label compared for duplicates */

/* ---- encoding ---- */

static int put_label(struct lwm2m_buf *b, int label)
{
	return lw_cbor_put_int(b, label);
}

/* "id/id/..." of p from segment `from` on, with a leading '/' when abs. */
static size_t fmt_ids(char *out, const struct lwm2m_path *p, unsigned from, bool abs)
{
	size_t n = 0;

	for (unsigned i = from; i < p->len; i++) {
		if (abs || i > from)
			out[n++] = '/';
		unsigned v = p->id[i], div = 10000;
		bool started = false;
		for (; div; div /= 10) {
			unsigned d = v / div % 10;
			if (d || started || div == 1) {
				out[n++] = (char)('0' + d);
				started = true;
			}
		}
	}
	return n;
}

static bool same_prefix(const struct lwm2m_span *a, const struct lwm2m_span *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static bool path_eq(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
	return lwm2m_path_cmp(a, b) == 0;
}

/* Time: an integer when it is one, else the narrowest exact float. */
static int put_time(struct lwm2m_buf *b, double t)
{
	if (!isfinite(t))
		return -EINVAL;
	if (t == trunc(t) && t >= -9223372036854775808.0 && t < 9223372036854775808.0 &&
	    !(t == 0 && signbit(t)))
		return lw_cbor_put_int(b, (int64_t)t);
	return lw_cbor_put_float(b, t);
}

static int put_value(struct lwm2m_buf *b, const struct lwm2m_value *v)
{
	char lnk[12];
	int r, n;

	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		if ((r = put_label(b, L_V)) < 0)
			return r;
		return lw_cbor_put_int(b, v->i);
	case LWM2M_TYPE_UNSIGNED:
		if ((r = put_label(b, L_V)) < 0)
			return r;
		return lw_cbor_put_uint(b, v->u);
	case LWM2M_TYPE_FLOAT:
		/* Always a CBOR float, so the receiver sees a Float even for
		 * 2.0, but only as wide as the value needs. */
		if ((r = put_label(b, L_V)) < 0)
			return r;
		return lw_cbor_put_float(b, v->f);
	case LWM2M_TYPE_BOOLEAN:
		if ((r = put_label(b, L_VB)) < 0)
			return r;
		return lw_cbor_put_bool(b, v->b);
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		if ((r = put_label(b, L_VS)) < 0)
			return r;
		return lw_cbor_put_str(b, CBOR_TEXT, v->bytes.ptr, v->bytes.len);
	case LWM2M_TYPE_OPAQUE:
		if ((r = put_label(b, L_VD)) < 0)
			return r;
		return lw_cbor_put_str(b, CBOR_BYTES, v->bytes.ptr, v->bytes.len);
	case LWM2M_TYPE_OBJLNK:
		if ((r = lw_cbor_put_str(b, CBOR_TEXT, "vlo", 3)) < 0)
			return r;
		n = lw_objlnk_format(v, lnk);
		return lw_cbor_put_str(b, CBOR_TEXT, lnk, (size_t)n);
	default:
		return -EINVAL;
	}
}

int lwm2m_senml_cbor_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out)
{
	char bn[NAME_MAX_LEN], name[NAME_MAX_LEN];
	size_t bnlen = 0, start = out->len;
	bool common = true, below = false;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].value.type >= LWM2M_TYPE__MAX)
			return -EINVAL;
		if (recs[i].prefix.len > 64)
			return -EINVAL;
		if (!same_prefix(&recs[i].prefix, &recs[0].prefix))
			common = false;
		if (!path_eq(&recs[i].path, base))
			below = true;
	}
	/* bn = the common prefix and the request path; names relative to it.
	 * At the root without a common prefix there is no base name and every
	 * name is absolute ("/3/0/1"), as a composite payload reads best. */
	if (n && common && recs[0].prefix.len) {
		bn[bnlen++] = '/';
		memcpy(bn + bnlen, recs[0].prefix.ptr, recs[0].prefix.len);
		bnlen += recs[0].prefix.len;
	}
	if (common)
		bnlen += fmt_ids(bn + bnlen, base, 0, true);
	if (common && below)
		bn[bnlen++] = '/';
	if (!common || (bnlen == 1 && base->len == 0))
		bnlen = 0;

	if ((r = lw_cbor_put_head(out, CBOR_ARRAY, n)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct lwm2m_record *rec = &recs[i];
		size_t nlen = 0;
		unsigned fields = 0;

		if (bnlen) {
			nlen = fmt_ids(name, &rec->path, base->len, false);
		} else {
			/* Absolute: "/prefix/3/0/1", "/3/0/1", or "/" for the root. */
			if (rec->prefix.len) {
				name[nlen++] = '/';
				memcpy(name + nlen, rec->prefix.ptr, rec->prefix.len);
				nlen += rec->prefix.len;
			}
			nlen += fmt_ids(name + nlen, &rec->path, 0, true);
			if (nlen == 0)
				name[nlen++] = '/';
		}
		fields =
			(i == 0 && bnlen) + (nlen > 0) + rec->has_time + (rec->value.type != LWM2M_TYPE_NONE);
		if ((r = lw_cbor_put_head(out, CBOR_MAP, fields)) < 0)
			goto fail;
		if (i == 0 && bnlen) {
			if ((r = put_label(out, L_BN)) < 0 ||
			    (r = lw_cbor_put_str(out, CBOR_TEXT, bn, bnlen)) < 0)
				goto fail;
		}
		if (nlen) {
			if ((r = put_label(out, L_N)) < 0 ||
			    (r = lw_cbor_put_str(out, CBOR_TEXT, name, nlen)) < 0)
				goto fail;
		}
		if (rec->has_time) {
			if ((r = put_label(out, L_T)) < 0 || (r = put_time(out, rec->time)) < 0)
				goto fail;
		}
		if (rec->value.type != LWM2M_TYPE_NONE && (r = put_value(out, &rec->value)) < 0)
			goto fail;
	}
	return 0;
fail:
	out->len = start;
	return r;
}

/* ---- decoding ---- */

enum {
	F_BVER = 1u << 0,
	F_BN = 1u << 1,
	F_BT = 1u << 2,
	F_BU = 1u << 3,
	F_BV = 1u << 4,
	F_BS = 1u << 5,
	F_N = 1u << 6,
	F_U = 1u << 7,
	F_V = 1u << 8,
	F_VS = 1u << 9,
	F_VB = 1u << 10,
	F_S = 1u << 11,
	F_T = 1u << 12,
	F_UT = 1u << 13,
	F_VD = 1u << 14,
	F_VLO = 1u << 15,
	F_VALUES = F_V | F_VS | F_VB | F_VD | F_VLO,
};

/* What one record map said. */
struct fields {
	unsigned seen;
	struct lw_cbor_str bn, n, vs, vd, vlo;
	struct lwm2m_value v, bv;
	double bt, t;
	bool vb;
	/* unknown labels, kept to refuse duplicates */
	struct {
		uint8_t major;
		uint64_t arg;
		struct lw_cbor_str text;
	} unknown[MAX_UNKNOWN];
	size_t nunknown;
};

/* State carried from record to record: the base fields. */
struct pack {
	const uint8_t *bn;
	size_t bnlen;
	uint8_t bnbuf[NAME_MAX_LEN];
	bool has_bt, has_bv;
	double bt;
	struct lwm2m_value bv;
};

static double as_double(const struct lwm2m_value *v)
{
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
		return (double)v->i;
	case LWM2M_TYPE_UNSIGNED:
		return (double)v->u;
	default:
		return v->f;
	}
}

static int read_time(struct lw_cbor_reader *r, double *t)
{
	struct lwm2m_value v;
	int e = lw_cbor_read_number(r, &v);

	if (e == -ERANGE)
		return -EINVAL;
	if (e < 0)
		return e;
	*t = as_double(&v);
	return 0;
}

static bool text_eq(const struct lw_cbor_str *a, const struct lw_cbor_str *b)
{
	uint8_t x[UNKNOWN_TEXT], y[UNKNOWN_TEXT];
	const uint8_t *p, *q;

	if (a->len != b->len)
		return false;
	if (lw_cbor_str_flat(a, x, sizeof(x), &p) < 0 || lw_cbor_str_flat(b, y, sizeof(y), &q) < 0)
		return false;
	return a->len == 0 || memcmp(p, q, a->len) == 0;
}

/* An unknown label: refused when it must be understood (ends in '_',
 * RFC 8428 §4.4) or repeats, otherwise its value is skipped. */
static int unknown_label(struct lw_cbor_reader *r, struct fields *f, uint8_t major, uint64_t arg,
			 const struct lw_cbor_str *text)
{
	if (major == CBOR_TEXT) {
		uint8_t last;
		if (text->len > UNKNOWN_TEXT)
			return -EBADMSG;
		if (text->len) {
			uint8_t buf[UNKNOWN_TEXT];
			const uint8_t *p;
			if (lw_cbor_str_flat(text, buf, sizeof(buf), &p) < 0)
				return -EBADMSG;
			last = p[text->len - 1];
			if (last == '_')
				return -EBADMSG;
		}
	}
	for (size_t i = 0; i < f->nunknown; i++) {
		if (f->unknown[i].major != major)
			continue;
		if (major == CBOR_TEXT ? text_eq(&f->unknown[i].text, text) : f->unknown[i].arg == arg)
			return -EBADMSG;
	}
	if (f->nunknown == MAX_UNKNOWN)
		return -EBADMSG;
	f->unknown[f->nunknown].major = major;
	f->unknown[f->nunknown].arg = arg;
	if (text)
		f->unknown[f->nunknown].text = *text;
	f->nunknown++;
	return lw_cbor_skip(r);
}

static int mark(struct fields *f, unsigned bit)
{
	if (f->seen & bit)
		return -EBADMSG; /* a label twice in one map */
	f->seen |= bit;
	return 0;
}

static int read_fields(struct lw_cbor_reader *r, struct fields *f)
{
	struct lw_cbor_iter it;
	struct lw_cbor_head h;
	struct lw_cbor_str s, ignored;
	int e;

	if ((e = lw_cbor_enter(r, CBOR_MAP, &it)) < 0)
		return e;
	while ((e = lw_cbor_next(r, &it)) > 0) {
		int64_t label;

		if ((e = lw_cbor_peek(r, &h)) < 0)
			return e;
		if (h.major == CBOR_TEXT) {
			if ((e = lw_cbor_read_str(r, CBOR_TEXT, &s)) < 0)
				return e;
			if (lw_cbor_str_eq(&s, "vlo")) {
				if ((e = mark(f, F_VLO)) < 0 ||
				    (e = lw_cbor_read_str(r, CBOR_TEXT, &f->vlo)) < 0)
					return e;
			} else if ((e = unknown_label(r, f, CBOR_TEXT, 0, &s)) < 0) {
				return e;
			}
			continue;
		}
		if (h.major != CBOR_UINT && h.major != CBOR_NINT)
			return -EBADMSG; /* labels are integers or text */
		if ((e = lw_cbor_head(r, &h)) < 0)
			return e;
		if (h.arg > 64) {
			if ((e = unknown_label(r, f, h.major, h.arg, NULL)) < 0)
				return e;
			continue;
		}
		label = h.major == CBOR_UINT ? (int64_t)h.arg : -1 - (int64_t)h.arg;
		switch (label) {
		case L_BVER:
			if ((e = mark(f, F_BVER)) < 0 || (e = lw_cbor_peek(r, &h)) < 0)
				return e;
			if (h.major != CBOR_UINT)
				return -EBADMSG;
			e = lw_cbor_skip(r);
			break;
		case L_BN:
			if ((e = mark(f, F_BN)) == 0)
				e = lw_cbor_read_str(r, CBOR_TEXT, &f->bn);
			break;
		case L_BT:
			if ((e = mark(f, F_BT)) == 0)
				e = read_time(r, &f->bt);
			break;
		case L_BU:
		case L_U:
			if ((e = mark(f, label == L_BU ? F_BU : F_U)) == 0)
				e = lw_cbor_read_str(r, CBOR_TEXT, &ignored);
			break;
		case L_BV:
			if ((e = mark(f, F_BV)) == 0)
				e = lw_cbor_read_number(r, &f->bv);
			break;
		case L_BS:
		case L_S:
		case L_UT: {
			struct lwm2m_value x;
			if ((e = mark(f, label == L_BS ? F_BS : label == L_S ? F_S : F_UT)) == 0)
				e = lw_cbor_read_number(r, &x);
			break;
		}
		case L_N:
			if ((e = mark(f, F_N)) == 0)
				e = lw_cbor_read_str(r, CBOR_TEXT, &f->n);
			break;
		case L_V:
			if ((e = mark(f, F_V)) == 0)
				e = lw_cbor_read_number(r, &f->v);
			break;
		case L_VS:
			if ((e = mark(f, F_VS)) == 0)
				e = lw_cbor_read_str(r, CBOR_TEXT, &f->vs);
			break;
		case L_VB:
			if ((e = mark(f, F_VB)) == 0)
				e = lw_cbor_read_bool(r, &f->vb);
			break;
		case L_T:
			if ((e = mark(f, F_T)) == 0)
				e = read_time(r, &f->t);
			break;
		case L_VD:
			if ((e = mark(f, F_VD)) == 0)
				e = lw_cbor_read_str(r, CBOR_BYTES, &f->vd);
			break;
		default:
			e = unknown_label(r, f, h.major, h.arg, NULL);
			break;
		}
		if (e < 0)
			return e;
	}
	return e;
}

/* v + bv (RFC 8428 §4.5.1), exact or -ERANGE. */
static int add_base_value(const struct lwm2m_value *bv, struct lwm2m_value *v)
{
	if (v->type == LWM2M_TYPE_FLOAT || bv->type == LWM2M_TYPE_FLOAT) {
		*v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = as_double(v) + as_double(bv) };
		return 0;
	}
	__int128 a = v->type == LWM2M_TYPE_UNSIGNED ? (__int128)v->u : (__int128)v->i;
	__int128 b = bv->type == LWM2M_TYPE_UNSIGNED ? (__int128)bv->u : (__int128)bv->i;
	__int128 s = a + b;
	if (s >= INT64_MIN && s <= INT64_MAX)
		*v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = (int64_t)s };
	else if (s > 0 && s <= (__int128)UINT64_MAX)
		*v = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = (uint64_t)s };
	else
		return -ERANGE;
	return 0;
}

static int one_record(struct pack *pk, struct fields *f, const struct lwm2m_path *base, lwm2m_type_fn type_of,
		      void *type_ctx, struct lwm2m_records *out)
{
	uint8_t nbuf[NAME_MAX_LEN];
	const uint8_t *name = NULL;
	struct lwm2m_record rec = { 0 };
	struct lwm2m_value v = { .type = LWM2M_TYPE_NONE };
	unsigned values = f->seen & F_VALUES;
	int e;

	if (values & (values - 1))
		return -EBADMSG; /* more than one value field */
	if (f->seen & F_BN) {
		if ((e = lw_cbor_str_flat(&f->bn, pk->bnbuf, sizeof(pk->bnbuf), &pk->bn)) < 0)
			return e;
		pk->bnlen = f->bn.len;
	}
	if (f->seen & F_BT) {
		pk->bt = f->bt;
		pk->has_bt = true;
	}
	if (f->seen & F_BV) {
		pk->bv = f->bv;
		pk->has_bv = true;
	}
	if ((f->seen & F_N) && (e = lw_cbor_str_flat(&f->n, nbuf, sizeof(nbuf), &name)) < 0)
		return e;
	e = lwm2m_senml_resolve_name((const char *)pk->bn, pk->bnlen, (const char *)name,
				     (f->seen & F_N) ? f->n.len : 0, &rec.path, &rec.prefix, out);
	if (e < 0)
		return e;
	if (!lwm2m_path_is_under(&rec.path, base))
		return -EBADMSG; /* not what the request addressed */
	if (pk->has_bt || (f->seen & F_T)) {
		rec.has_time = true;
		if (lwm2m_senml_time(pk->has_bt, pk->bt, f->seen & F_T, f->t, &rec.time) < 0)
			return -EINVAL;
	}

	if (f->seen & F_V) {
		v = f->v;
		if (pk->has_bv && (e = add_base_value(&pk->bv, &v)) < 0)
			return e;
	} else if (f->seen & F_VB) {
		v = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = f->vb };
	} else if (f->seen & F_VLO) {
		uint8_t buf[16];
		const uint8_t *p;
		if (lw_cbor_str_flat(&f->vlo, buf, sizeof(buf), &p) < 0 ||
		    lw_objlnk_parse(p, f->vlo.len, &v) < 0)
			return -EBADMSG;
	} else if (f->seen & (F_VS | F_VD)) {
		const struct lw_cbor_str *s = (f->seen & F_VS) ? &f->vs : &f->vd;
		v.type = (f->seen & F_VS) ? LWM2M_TYPE_STRING : LWM2M_TYPE_OPAQUE;
		v.bytes.len = s->len;
		if ((e = lw_cbor_str_dup(s, out, &v.bytes.ptr)) < 0)
			return e;
	}
	if (v.type != LWM2M_TYPE_NONE) {
		/* Only resources and resource instances hold values. */
		if (rec.path.len < 3)
			return -EBADMSG;
		if ((e = lw_value_as(&v, lw_type_of(type_of, type_ctx, &rec.path), &rec.value)) < 0)
			return e;
	} else {
		rec.value = v;
	}

	struct lwm2m_record *dst = lwm2m_records_add(out);
	if (!dst)
		return -ENOMEM;
	*dst = rec;
	return 0;
}

int lwm2m_senml_cbor_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out)
{
	struct lw_cbor_reader r;
	struct lw_cbor_iter it;
	struct pack pk = { 0 };
	size_t start = out->n;
	int e;

	lw_cbor_reader_init(&r, data, len);
	if ((e = lw_cbor_enter(&r, CBOR_ARRAY, &it)) < 0)
		goto fail;
	while ((e = lw_cbor_next(&r, &it)) > 0) {
		struct fields f;
		f.seen = 0;
		f.nunknown = 0;
		if (out->n - start >= LW_DECODE_MAX_RECORDS) {
			e = -EBADMSG;
			goto fail;
		}
		if ((e = read_fields(&r, &f)) < 0 ||
		    (e = one_record(&pk, &f, base, type_of, type_ctx, out)) < 0)
			goto fail;
	}
	if (e < 0)
		goto fail;
	if (!lw_cbor_at_end(&r)) {
		e = -EBADMSG; /* bytes after the pack */
		goto fail;
	}
	return 0;
fail:
	lwm2m_records_truncate(out, start);
	return e;
}
