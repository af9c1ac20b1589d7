/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text/plain (content format 0) and application/octet-stream (42): one
 * resource or resource-instance value, the type coming from the object
 * definition (LwM2M TS 1.1 Core 7.4.1 / 7.4.2 and Appendix C).
 *
 * Text representation per type, decoded strictly (no spaces, no '+', no
 * hexadecimal, nothing after the value):
 *   Integer, Time     -?DIGITS, in int64 range
 *   Unsigned Integer  DIGITS (a leading '-' is accepted only for "-0"),
 *                     in uint64 range
 *   Float             -?DIGITS(.DIGITS)?([eE][+-]?DIGITS)?, the nearest
 *                     double; encoded in the shortest exact form
 *   Boolean           "0" or "1"
 *   Objlnk            "oid:iid"
 *   String, Corelnk   the UTF-8 bytes as they are (NUL included); invalid
 *                     UTF-8 is refused both ways (-EBADMSG / -EINVAL)
 *   Opaque            base64 (RFC 4648, standard alphabet with padding when
 *                     encoding; see base64.c for what decoding accepts)
 * A well-formed number outside its type's range is -ERANGE (never wrapped or
 * clamped); anything else malformed is -EBADMSG.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/codec_internal.h"
#include "lwm2m/textual_internal.h"

bool lwm2m_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t len;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			len = 2;
			cp = c & 0x1F;
			min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			cp = c & 0x0F;
			min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false; /* continuation byte, C0/C1, F5..FF */
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Plain decimal digits (at least one) into *out; -ERANGE above UINT64_MAX. */
static int parse_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -EBADMSG;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* -?DIGITS as sign and magnitude. */
static int parse_signed(const char *s, size_t n, bool *neg, uint64_t *mag)
{
	*neg = n > 0 && s[0] == '-';
	if (*neg) {
		s++;
		n--;
	}
	return parse_digits(s, n, mag);
}

int lwm2m_text_parse_objlnk(const char *s, size_t n, struct lwm2m_value *out)
{
	/* An empty payload may come with s == NULL. */
	const char *colon = n ? memchr(s, ':', n) : NULL;
	uint64_t oid, iid;
	int r;

	if (!colon)
		return -EBADMSG;
	r = parse_digits(s, (size_t)(colon - s), &oid);
	if (r == 0)
		r = parse_digits(colon + 1, n - (size_t)(colon - s) - 1, &iid);
	if (r < 0)
		return r;
	if (oid > UINT16_MAX || iid > UINT16_MAX)
		return -ERANGE;
	*out = (struct lwm2m_value){ .type = LWM2M_TYPE_OBJLNK, .lnk = { (uint16_t)oid, (uint16_t)iid } };
	return 0;
}

int lwm2m_text_parse_double(const char *s, size_t n, double *out)
{
	char small[64], *copy = small, *end = NULL;
	size_t i = 0, digits;
	bool nonzero = false;
	double d;
	int r = 0;

	/* Check the grammar first: strtod alone would take "inf", "0x1p3",
	 * leading spaces and a '+'. */
	if (i < n && s[i] == '-')
		i++;
	for (digits = 0; i < n && is_digit(s[i]); i++, digits++)
		nonzero |= s[i] != '0';
	if (digits == 0)
		return -EBADMSG;
	if (i < n && s[i] == '.') {
		i++;
		for (digits = 0; i < n && is_digit(s[i]); i++, digits++)
			nonzero |= s[i] != '0';
		if (digits == 0)
			return -EBADMSG;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (digits = 0; i < n && is_digit(s[i]); i++, digits++)
			;
		if (digits == 0)
			return -EBADMSG;
	}
	if (i != n)
		return -EBADMSG;

	if (n >= sizeof(small)) {
		copy = malloc(n + 1);
		if (!copy)
			return -ENOMEM;
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	errno = 0;
	d = strtod(copy, &end);
	if (end != copy + n)
		r = -EBADMSG; /* cannot happen after the grammar check */
	else if (isinf(d) || (d == 0 && nonzero))
		r = -ERANGE; /* beyond the double range, or underflow to zero */
	if (copy != small)
		free(copy);
	if (r == 0)
		*out = d;
	return r;
}

bool lwm2m_prefix_valid(const struct lwm2m_span *prefix)
{
	bool digits_only = true;

	if (prefix->len == 0 || prefix->len > 64 || !prefix->ptr)
		return false;
	for (size_t i = 0; i < prefix->len; i++) {
		char c = prefix->ptr[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
			  c == '.' || c == '~' || c == '-';
		if (!ok)
			return false;
		digits_only &= is_digit(c);
	}
	return !digits_only;
}

/* Exactly one record, at base, and base names a resource or a resource
 * instance: the only shape text and opaque can carry. */
static int single_value(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n)
{
	if (base->len < 3 || n != 1 || lwm2m_path_cmp(&recs[0].path, base) != 0)
		return -ENOTSUP;
	return 0;
}

int lwm2m_text_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
		      struct lwm2m_buf *out)
{
	const struct lwm2m_value *v;
	size_t start = out->len;
	char num[32];
	int r;

	r = single_value(base, recs, n);
	if (r < 0)
		return r;
	v = &recs[0].value;
	switch (v->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		if ((v->bytes.len && !v->bytes.ptr) || !lwm2m_utf8_valid(v->bytes.ptr, v->bytes.len))
			return -EINVAL; /* text is UTF-8; the decoder would refuse it */
		r = lwm2m_buf_append(out, v->bytes.ptr, v->bytes.len);
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		r = lwm2m_buf_printf(out, "%" PRId64, v->i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		r = lwm2m_buf_printf(out, "%" PRIu64, v->u);
		break;
	case LWM2M_TYPE_FLOAT:
		r = lwm2m_fmt_double(v->f, num);
		if (r >= 0)
			r = lwm2m_buf_append(out, num, (size_t)r);
		break;
	case LWM2M_TYPE_BOOLEAN:
		r = lwm2m_buf_putc(out, v->b ? '1' : '0');
		break;
	case LWM2M_TYPE_OBJLNK:
		r = lwm2m_buf_printf(out, "%u:%u", (unsigned)v->lnk.oid, (unsigned)v->lnk.iid);
		break;
	case LWM2M_TYPE_OPAQUE:
		if (v->bytes.len && !v->bytes.ptr)
			return -EINVAL;
		r = lwm2m_base64_encode(out, v->bytes.ptr, v->bytes.len, false);
		break;
	case LWM2M_TYPE_NONE:
		return -ENOTSUP; /* nothing to put in a text body */
	default:
		return -EINVAL;
	}
	if (r < 0) {
		out->len = start;
		return r;
	}
	return 0;
}

/* Parse text s[0..n) as type t into v; byte values are copied into out. */
static int text_value(enum lwm2m_type t, const char *s, size_t n, struct lwm2m_records *out,
		      struct lwm2m_value *v)
{
	bool neg;
	uint64_t mag;
	int r;

	*v = (struct lwm2m_value){ .type = (uint8_t)t };
	switch (t) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		if (!lwm2m_utf8_valid((const uint8_t *)s, n))
			return -EBADMSG;
		v->bytes.ptr = lwm2m_records_dup(out, s, n);
		if (!v->bytes.ptr)
			return -ENOMEM;
		v->bytes.len = n;
		return 0;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		r = parse_signed(s, n, &neg, &mag);
		if (r < 0)
			return r;
		if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
			return -ERANGE;
		v->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		return 0;
	case LWM2M_TYPE_UNSIGNED:
		r = parse_signed(s, n, &neg, &mag);
		if (r < 0)
			return r;
		if (neg && mag)
			return -ERANGE;
		v->u = mag;
		return 0;
	case LWM2M_TYPE_FLOAT:
		return lwm2m_text_parse_double(s, n, &v->f);
	case LWM2M_TYPE_BOOLEAN:
		if (n != 1 || (s[0] != '0' && s[0] != '1'))
			return -EBADMSG;
		v->b = s[0] == '1';
		return 0;
	case LWM2M_TYPE_OBJLNK:
		return lwm2m_text_parse_objlnk(s, n, v);
	case LWM2M_TYPE_OPAQUE: {
		uint8_t *buf = lwm2m_records_alloc(out, n / 4 * 3 + 3);
		if (!buf)
			return -ENOMEM;
		r = lwm2m_base64_decode(buf, s, n);
		if (r < 0)
			return r;
		v->bytes.ptr = buf;
		v->bytes.len = (size_t)r;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int lwm2m_text_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len, lwm2m_type_fn type_of,
		      void *type_ctx, struct lwm2m_records *out)
{
	enum lwm2m_type t = type_of ? type_of(type_ctx, base) : LWM2M_TYPE_NONE;
	struct lwm2m_record *rec;
	struct lwm2m_value v;
	size_t n0 = out->n;
	int r;

	if (base->len < 3)
		return -ENOTSUP;
	if (t == LWM2M_TYPE_NONE)
		t = LWM2M_TYPE_STRING;
	if (t >= LWM2M_TYPE__MAX)
		return -EINVAL;
	r = text_value(t, (const char *)data, len, out, &v);
	if (r < 0)
		return r;
	rec = lwm2m_records_add(out);
	if (!rec) {
		lwm2m_records_truncate(out, n0);
		return -ENOMEM;
	}
	rec->path = *base;
	rec->value = v;
	return 0;
}

int lwm2m_opaque_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			struct lwm2m_buf *out)
{
	const struct lwm2m_value *v;
	int r = single_value(base, recs, n);

	if (r < 0)
		return r;
	v = &recs[0].value;
	if (v->type != LWM2M_TYPE_OPAQUE)
		return -ENOTSUP;
	if (v->bytes.len && !v->bytes.ptr)
		return -EINVAL;
	return lwm2m_buf_append(out, v->bytes.ptr, v->bytes.len);
}

int lwm2m_opaque_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len, lwm2m_type_fn type_of,
			void *type_ctx, struct lwm2m_records *out)
{
	enum lwm2m_type t = type_of ? type_of(type_ctx, base) : LWM2M_TYPE_NONE;
	struct lwm2m_record *rec;
	const void *copy;
	size_t n0 = out->n;

	if (base->len < 3 || (t != LWM2M_TYPE_NONE && t != LWM2M_TYPE_OPAQUE))
		return -ENOTSUP;
	copy = lwm2m_records_dup(out, data, len);
	if (!copy)
		return -ENOMEM;
	rec = lwm2m_records_add(out);
	if (!rec) {
		lwm2m_records_truncate(out, n0);
		return -ENOMEM;
	}
	rec->path = *base;
	rec->value.type = LWM2M_TYPE_OPAQUE;
	rec->value.bytes.ptr = copy;
	rec->value.bytes.len = len;
	return 0;
}
