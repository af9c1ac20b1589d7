/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A strict, allocation-free CBOR reader and writer (RFC 8949) for the SenML
 * CBOR and LwM2M CBOR codecs. Only what those formats need, but every
 * well-formedness rule of RFC 8949 §3 and Appendix F is enforced, because a
 * decoder that accepts a malformed item may read it differently from the
 * peer that wrote it.
 */
#include "lwm2m/cbor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lw_cbor_reader_init(struct lw_cbor_reader *r, const uint8_t *data, size_t len)
{
	r->p = data;
	r->end = data ? data + len : data;
	r->depth = 0;
}

static size_t left(const struct lw_cbor_reader *r)
{
	return (size_t)(r->end - r->p);
}

int lw_cbor_peek(const struct lw_cbor_reader *r, struct lw_cbor_head *h)
{
	size_t avail = left(r), need;
	uint8_t ib;

	if (avail == 0)
		return -EBADMSG;
	ib = r->p[0];
	h->major = ib >> 5;
	h->ai = ib & 0x1f;
	h->indefinite = false;
	h->arg = 0;
	if (h->ai < 24) {
		h->arg = h->ai;
		return 1;
	}
	if (h->ai == 31) {
		/* Indefinite length exists for strings and containers; in major
		 * 7 it is the break. Integers and tags have no such form. */
		if (h->major == CBOR_UINT || h->major == CBOR_NINT || h->major == CBOR_TAG)
			return -EBADMSG;
		h->indefinite = true;
		return 1;
	}
	if (h->ai > 27)
		return -EBADMSG; /* 28..30 are reserved */
	need = (size_t)1 << (h->ai - 24);
	if (avail < 1 + need)
		return -EBADMSG;
	for (size_t i = 0; i < need; i++)
		h->arg = h->arg << 8 | r->p[1 + i];
	/* A two-byte simple value below 32 is not well-formed (§3.3). */
	if (h->major == CBOR_SIMPLE && h->ai == 24 && h->arg < 32)
		return -EBADMSG;
	return (int)(1 + need);
}

int lw_cbor_head(struct lw_cbor_reader *r, struct lw_cbor_head *h)
{
	int n = lw_cbor_peek(r, h);

	if (n > 0)
		r->p += n;
	return n;
}

static bool is_break(const struct lw_cbor_head *h)
{
	return h->major == CBOR_SIMPLE && h->indefinite;
}

int lw_cbor_enter(struct lw_cbor_reader *r, uint8_t major, struct lw_cbor_iter *it)
{
	struct lw_cbor_head h;
	int n = lw_cbor_peek(r, &h);

	if (n < 0)
		return n;
	if (h.major != major || (major != CBOR_ARRAY && major != CBOR_MAP))
		return -EBADMSG;
	if (r->depth >= LW_CBOR_MAX_DEPTH)
		return -EBADMSG;
	/* Every item takes at least one byte: a count beyond what is left
	 * cannot be satisfied, and refusing it now keeps loops short. */
	if (!h.indefinite && h.arg > (left(r) - (size_t)n) / (major == CBOR_MAP ? 2 : 1))
		return -EBADMSG;
	r->p += n;
	r->depth++;
	it->indefinite = h.indefinite;
	it->left = h.indefinite ? 0 : h.arg;
	return 0;
}

int lw_cbor_next(struct lw_cbor_reader *r, struct lw_cbor_iter *it)
{
	if (it->indefinite) {
		if (left(r) == 0)
			return -EBADMSG;
		if (r->p[0] == 0xff) {
			r->p++;
			r->depth--;
			return 0;
		}
		return 1;
	}
	if (it->left == 0) {
		r->depth--;
		return 0;
	}
	it->left--;
	return 1;
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and values past U+10FFFF
		 * are not UTF-8 (RFC 3629). */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

int lw_cbor_read_str(struct lw_cbor_reader *r, uint8_t major, struct lw_cbor_str *s)
{
	struct lw_cbor_head h;
	struct lw_cbor_reader save = *r;
	size_t total = 0;
	int n;

	if ((n = lw_cbor_head(r, &h)) < 0)
		return n;
	if (h.major != major || (major != CBOR_BYTES && major != CBOR_TEXT))
		goto bad;
	if (!h.indefinite) {
		if (h.arg > left(r))
			goto bad;
		if (major == CBOR_TEXT && !utf8_valid(r->p, (size_t)h.arg))
			goto bad;
		*s = (struct lw_cbor_str){
			.p = r->p, .len = (size_t)h.arg, .raw = (size_t)h.arg, .chunked = false
		};
		r->p += h.arg;
		return 0;
	}
	/* Indefinite: definite chunks of the same major type up to the break;
	 * each text chunk must be valid UTF-8 on its own (§3.2.3). */
	const uint8_t *first = r->p;
	for (;;) {
		if ((n = lw_cbor_head(r, &h)) < 0)
			goto bad;
		if (is_break(&h))
			break;
		if (h.major != major || h.indefinite || h.arg > left(r))
			goto bad;
		if (major == CBOR_TEXT && !utf8_valid(r->p, (size_t)h.arg))
			goto bad;
		total += (size_t)h.arg;
		r->p += h.arg;
	}
	*s = (struct lw_cbor_str){ .p = first, .len = total, .raw = (size_t)(r->p - first), .chunked = true };
	return 0;
bad:
	*r = save;
	return -EBADMSG;
}

void lw_cbor_str_copy(const struct lw_cbor_str *s, uint8_t *out)
{
	struct lw_cbor_reader r;
	struct lw_cbor_head h;

	if (!s->chunked) {
		if (s->len)
			memcpy(out, s->p, s->len);
		return;
	}
	/* Already validated by lw_cbor_read_str: walk the chunks again. */
	lw_cbor_reader_init(&r, s->p, s->raw);
	while (lw_cbor_head(&r, &h) > 0 && !is_break(&h)) {
		if (h.arg)
			memcpy(out, r.p, (size_t)h.arg);
		out += h.arg;
		r.p += h.arg;
	}
}

int lw_cbor_str_flat(const struct lw_cbor_str *s, uint8_t *buf, size_t cap, const uint8_t **out)
{
	if (!s->chunked) {
		*out = s->p;
		return 0;
	}
	if (s->len > cap)
		return -EBADMSG;
	lw_cbor_str_copy(s, buf);
	*out = buf;
	return 0;
}

int lw_cbor_str_dup(const struct lw_cbor_str *s, struct lwm2m_records *r, const uint8_t **out)
{
	uint8_t *p = lwm2m_records_alloc(r, s->len ? s->len : 1);

	if (!p)
		return -ENOMEM;
	lw_cbor_str_copy(s, p);
	*out = p;
	return 0;
}

bool lw_cbor_str_eq(const struct lw_cbor_str *s, const char *lit)
{
	uint8_t buf[64];
	const uint8_t *p;
	size_t n = strlen(lit);

	if (s->len != n || n > sizeof(buf))
		return false;
	if (lw_cbor_str_flat(s, buf, sizeof(buf), &p) < 0)
		return false;
	return n == 0 || memcmp(p, lit, n) == 0;
}

int lw_cbor_skip(struct lw_cbor_reader *r)
{
	struct lw_cbor_reader save = *r;
	struct lw_cbor_head h;
	struct lw_cbor_str s;
	struct lw_cbor_iter it;
	int n;

	if ((n = lw_cbor_peek(r, &h)) < 0)
		return n;
	switch (h.major) {
	case CBOR_UINT:
	case CBOR_NINT:
		r->p += n;
		return 0;
	case CBOR_BYTES:
	case CBOR_TEXT:
		return lw_cbor_read_str(r, h.major, &s);
	case CBOR_ARRAY:
	case CBOR_MAP:
		if ((n = lw_cbor_enter(r, h.major, &it)) < 0)
			return n;
		while ((n = lw_cbor_next(r, &it)) > 0) {
			if ((n = lw_cbor_skip(r)) < 0)
				break;
			if (h.major == CBOR_MAP && (n = lw_cbor_skip(r)) < 0)
				break;
		}
		if (n < 0) {
			*r = save;
			return n;
		}
		return 0;
	case CBOR_TAG:
		/* A tag nests like a container: count it against the depth. */
		if (r->depth >= LW_CBOR_MAX_DEPTH)
			return -EBADMSG;
		r->p += n;
		r->depth++;
		n = lw_cbor_skip(r);
		r->depth--;
		if (n < 0)
			*r = save;
		return n;
	default:
		if (is_break(&h))
			return -EBADMSG; /* a break outside an indefinite container */
		r->p += n;
		return 0;
	}
}

double lw_half_to_double(uint16_t h)
{
	uint64_t sign = (uint64_t)(h >> 15) << 63, bits;
	unsigned e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double d;

	if (e == 0) {
		d = ldexp((double)m, -24); /* zero or subnormal: exact */
		return sign ? -d : d;
	}
	if (e == 31)
		bits = sign | 0x7ff0000000000000ull | (uint64_t)m << 42;
	else
		bits = sign | (uint64_t)(e - 15 + 1023) << 52 | (uint64_t)m << 42;
	memcpy(&d, &bits, sizeof(d));
	return d;
}

double lw_single_to_double(uint32_t f)
{
	uint64_t bits;
	double d;
	float x;

	if ((f & 0x7f800000u) == 0x7f800000u) {
		/* By hand: a hardware conversion would quiet a signalling NaN
		 * and so change the bits we promise to keep. */
		bits = (uint64_t)(f >> 31) << 63 | 0x7ff0000000000000ull | (uint64_t)(f & 0x7fffff) << 29;
		memcpy(&d, &bits, sizeof(d));
		return d;
	}
	memcpy(&x, &f, sizeof(x));
	return (double)x;
}

static uint64_t dbits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

bool lw_double_to_single(double d, uint32_t *out)
{
	uint64_t b = dbits(d), m = b & 0xfffffffffffffull;
	uint32_t sign = (uint32_t)(b >> 63) << 31;

	if (((b >> 52) & 0x7ff) == 0x7ff) {
		if (m & ((1ull << 29) - 1))
			return false;
		*out = sign | 0x7f800000u | (uint32_t)(m >> 29);
		return true;
	}
	float f = (float)d;
	if ((double)f != d)
		return false;
	memcpy(out, &f, sizeof(*out));
	return true;
}

bool lw_double_to_half(double d, uint16_t *out)
{
	uint64_t b = dbits(d), m = b & 0xfffffffffffffull;
	uint16_t sign = (uint16_t)((b >> 63) << 15);
	int e = (int)((b >> 52) & 0x7ff);

	if (e == 0x7ff) {
		if (m & ((1ull << 42) - 1))
			return false;
		*out = sign | 0x7c00 | (uint16_t)(m >> 42);
		return true;
	}
	if (e == 0) {
		if (m)
			return false; /* double subnormals are far below half's range */
		*out = sign;
		return true;
	}
	e -= 1023;
	if (e >= -14 && e <= 15) {
		if (m & ((1ull << 42) - 1))
			return false;
		*out = sign | (uint16_t)((e + 15) << 10) | (uint16_t)(m >> 42);
		return true;
	}
	if (e >= -24 && e < -14) {
		/* Half subnormal: value = mh * 2^-24, so mh = significand >>
		 * (28 - e), exact only when the shifted-out bits are zero. */
		uint64_t sig = m | 1ull << 52;
		unsigned shift = (unsigned)(28 - e);
		if (sig & ((1ull << shift) - 1))
			return false;
		*out = sign | (uint16_t)(sig >> shift);
		return true;
	}
	return false;
}

int lw_cbor_read_number(struct lw_cbor_reader *r, struct lwm2m_value *v)
{
	struct lw_cbor_head h;
	uint64_t bits;
	int n = lw_cbor_peek(r, &h);

	if (n < 0)
		return n;
	switch (h.major) {
	case CBOR_UINT:
		if (h.arg > (uint64_t)INT64_MAX)
			*v = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = h.arg };
		else
			*v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = (int64_t)h.arg };
		break;
	case CBOR_NINT:
		/* The value is -1 - arg; below INT64_MIN it does not fit. */
		if (h.arg > (uint64_t)INT64_MAX)
			return -ERANGE;
		*v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = -1 - (int64_t)h.arg };
		break;
	case CBOR_SIMPLE:
		if (h.indefinite)
			return -EBADMSG;
		*v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT };
		if (h.ai == 25) {
			v->f = lw_half_to_double((uint16_t)h.arg);
		} else if (h.ai == 26) {
			v->f = lw_single_to_double((uint32_t)h.arg);
		} else if (h.ai == 27) {
			bits = h.arg;
			memcpy(&v->f, &bits, sizeof(v->f));
		} else {
			return -EBADMSG;
		}
		break;
	default:
		return -EBADMSG;
	}
	r->p += n;
	return 0;
}

int lw_cbor_read_bool(struct lw_cbor_reader *r, bool *b)
{
	struct lw_cbor_head h;
	int n = lw_cbor_peek(r, &h);

	if (n < 0)
		return n;
	if (h.major != CBOR_SIMPLE || h.indefinite || (h.arg != CBOR_FALSE && h.arg != CBOR_TRUE) ||
	    h.ai >= 24)
		return -EBADMSG;
	*b = h.arg == CBOR_TRUE;
	r->p += n;
	return 0;
}

int lw_cbor_read_tag(struct lw_cbor_reader *r, uint64_t *tag)
{
	struct lw_cbor_head h;
	int n = lw_cbor_peek(r, &h);

	if (n < 0)
		return n;
	if (h.major != CBOR_TAG)
		return -EBADMSG;
	*tag = h.arg;
	r->p += n;
	return 0;
}

/* ---- writer ---- */

int lw_cbor_put_head(struct lwm2m_buf *b, uint8_t major, uint64_t arg)
{
	uint8_t h[9];
	size_t n;

	major = (uint8_t)(major << 5);
	if (arg < 24) {
		h[0] = major | (uint8_t)arg;
		n = 1;
	} else if (arg <= 0xff) {
		h[0] = major | 24;
		n = 2;
	} else if (arg <= 0xffff) {
		h[0] = major | 25;
		n = 3;
	} else if (arg <= 0xffffffffu) {
		h[0] = major | 26;
		n = 5;
	} else {
		h[0] = major | 27;
		n = 9;
	}
	for (size_t i = 1; i < n; i++)
		h[i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
	return lwm2m_buf_append(b, h, n);
}

int lw_cbor_put_uint(struct lwm2m_buf *b, uint64_t v)
{
	return lw_cbor_put_head(b, CBOR_UINT, v);
}

int lw_cbor_put_int(struct lwm2m_buf *b, int64_t v)
{
	if (v >= 0)
		return lw_cbor_put_head(b, CBOR_UINT, (uint64_t)v);
	/* -1 - v without overflow at INT64_MIN. */
	return lw_cbor_put_head(b, CBOR_NINT, (uint64_t)(-(v + 1)));
}

int lw_cbor_put_str(struct lwm2m_buf *b, uint8_t major, const void *p, size_t n)
{
	int r = lw_cbor_put_head(b, major, n);

	if (r < 0 || n == 0)
		return r;
	return lwm2m_buf_append(b, p, n);
}

int lw_cbor_put_simple(struct lwm2m_buf *b, uint8_t v)
{
	return lw_cbor_put_head(b, CBOR_SIMPLE, v);
}

int lw_cbor_put_bool(struct lwm2m_buf *b, bool v)
{
	return lw_cbor_put_simple(b, v ? CBOR_TRUE : CBOR_FALSE);
}

int lw_cbor_put_float(struct lwm2m_buf *b, double d)
{
	uint8_t out[9];
	uint16_t h;
	uint32_t f;
	uint64_t u;
	size_t n;

	if (lw_double_to_half(d, &h)) {
		out[0] = 0xf9;
		u = h;
		n = 3;
	} else if (lw_double_to_single(d, &f)) {
		out[0] = 0xfa;
		u = f;
		n = 5;
	} else {
		out[0] = 0xfb;
		u = dbits(d);
		n = 9;
	}
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(u >> (8 * (n - 1 - i)));
	return lwm2m_buf_append(b, out, n);
}

/* ---- shared by the binary codecs ---- */

int lw_objlnk_parse(const uint8_t *s, size_t n, struct lwm2m_value *v)
{
	uint32_t id[2] = { 0, 0 };
	size_t i = 0;

	for (int k = 0; k < 2; k++) {
		size_t start = i;
		while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 5) {
			id[k] = id[k] * 10 + (uint32_t)(s[i] - '0');
			i++;
		}
		if (i == start || id[k] > 0xffff)
			return -EINVAL;
		if (k == 0) {
			if (i >= n || s[i] != ':')
				return -EINVAL;
			i++;
		}
	}
	if (i != n)
		return -EINVAL;
	*v = (struct lwm2m_value){ .type = LWM2M_TYPE_OBJLNK };
	v->lnk.oid = (uint16_t)id[0];
	v->lnk.iid = (uint16_t)id[1];
	return 0;
}

int lw_objlnk_format(const struct lwm2m_value *v, char out[12])
{
	return snprintf(out, 12, "%u:%u", (unsigned)v->lnk.oid, (unsigned)v->lnk.iid);
}

static bool is_number(uint8_t t)
{
	return t == LWM2M_TYPE_INTEGER || t == LWM2M_TYPE_UNSIGNED || t == LWM2M_TYPE_FLOAT ||
	       t == LWM2M_TYPE_TIME;
}

int lw_value_as(const struct lwm2m_value *in, enum lwm2m_type want, struct lwm2m_value *out)
{
	if (want == LWM2M_TYPE_NONE || (unsigned)want >= LWM2M_TYPE__MAX || in->type == want) {
		*out = *in;
		return 0;
	}
	if (is_number(in->type) && (is_number(want) || want == LWM2M_TYPE_BOOLEAN))
		return lwm2m_value_convert(in, want, out);
	if (in->type == LWM2M_TYPE_STRING && want == LWM2M_TYPE_CORELNK)
		return lwm2m_value_convert(in, want, out);
	return -EINVAL;
}

enum lwm2m_type lw_type_of(lwm2m_type_fn type_of, void *ctx, const struct lwm2m_path *p)
{
	enum lwm2m_type t;

	if (!type_of)
		return LWM2M_TYPE_NONE;
	t = type_of(ctx, p);
	return (unsigned)t < LWM2M_TYPE__MAX ? t : LWM2M_TYPE_NONE;
}

static int path_cmp_qsort(const void *a, const void *b)
{
	return lwm2m_path_cmp(a, b);
}

int lw_records_check_tree(const struct lwm2m_record *v, size_t n)
{
	struct lwm2m_path *p;
	int r = 0;

	if (n < 2)
		return 0;
	p = malloc(n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		p[i] = v[i].path;
	qsort(p, n, sizeof(*p), path_cmp_qsort);
	/* Sorted with parents first, a duplicate or an ancestor always sits
	 * right before the path it clashes with. */
	for (size_t i = 1; i < n && !r; i++)
		if (lwm2m_path_is_under(&p[i], &p[i - 1]))
			r = -EBADMSG;
	free(p);
	return r;
}
