/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value transforms: raw field layouts <-> LwM2M values, pure and exact.
 *
 * Numbers travel as a small tagged union (int64, uint64 or double) so that an
 * integer is never pushed through a double unless a scale or offset asks for
 * it, and then only when the double can hold it exactly (|v| <= 2^53).
 */
#include "mappings/mapping.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/schema.h"

#define EXACT_INT (INT64_C(1) << 53) /* every integer up to 2^53 is a double */

static const char *const raw_names[MAPPING_RAW__MAX] = {
	[MAPPING_RAW_VALUE] = "value",     [MAPPING_RAW_INT8] = "int8",     [MAPPING_RAW_UINT8] = "uint8",
	[MAPPING_RAW_INT16] = "int16",     [MAPPING_RAW_UINT16] = "uint16", [MAPPING_RAW_INT24] = "int24",
	[MAPPING_RAW_UINT24] = "uint24",   [MAPPING_RAW_INT32] = "int32",   [MAPPING_RAW_UINT32] = "uint32",
	[MAPPING_RAW_INT64] = "int64",     [MAPPING_RAW_UINT64] = "uint64", [MAPPING_RAW_FLOAT32] = "float32",
	[MAPPING_RAW_FLOAT64] = "float64", [MAPPING_RAW_STRING] = "string", [MAPPING_RAW_BITS] = "bits",
};

const char *mapping_raw_name(enum mapping_raw r)
{
	return (unsigned)r < MAPPING_RAW__MAX ? raw_names[r] : NULL;
}

size_t mapping_raw_size(enum mapping_raw r, unsigned width)
{
	switch (r) {
	case MAPPING_RAW_INT8:
	case MAPPING_RAW_UINT8:
		return 1;
	case MAPPING_RAW_INT16:
	case MAPPING_RAW_UINT16:
		return 2;
	case MAPPING_RAW_INT24:
	case MAPPING_RAW_UINT24:
		return 3;
	case MAPPING_RAW_INT32:
	case MAPPING_RAW_UINT32:
	case MAPPING_RAW_FLOAT32:
		return 4;
	case MAPPING_RAW_INT64:
	case MAPPING_RAW_UINT64:
	case MAPPING_RAW_FLOAT64:
		return 8;
	case MAPPING_RAW_BITS:
		return width ? width / 8 : 2;
	default:
		return 0;
	}
}

static bool raw_is_signed(enum mapping_raw r)
{
	return r == MAPPING_RAW_INT8 || r == MAPPING_RAW_INT16 || r == MAPPING_RAW_INT24 ||
	       r == MAPPING_RAW_INT32 || r == MAPPING_RAW_INT64;
}

static bool raw_is_float(enum mapping_raw r)
{
	return r == MAPPING_RAW_FLOAT32 || r == MAPPING_RAW_FLOAT64;
}

/* ---- byte order ------------------------------------------------------------ */

/* Index in the sample of canonical (big-endian) byte i. Every order is an
 * involution on byte positions, so the same map serves reading and writing. */
static int order_index(size_t size, enum mapping_order order, size_t i, size_t *out)
{
	switch (order) {
	case MAPPING_ORDER_ABCD:
		*out = i;
		return 0;
	case MAPPING_ORDER_DCBA:
		*out = size - 1 - i;
		return 0;
	case MAPPING_ORDER_BADC:
		if (size == 1) {
			*out = i;
			return 0;
		}
		if (size % 2)
			return -EINVAL;
		*out = i ^ 1;
		return 0;
	case MAPPING_ORDER_CDAB:
		if (size == 1) {
			*out = i;
			return 0;
		}
		if (size % 2)
			return -EINVAL;
		*out = (size / 2 - 1 - i / 2) * 2 + (i & 1);
		return 0;
	}
	return -EINVAL;
}

int mapping_get_uint(const uint8_t *p, size_t size, enum mapping_order order, uint64_t *out)
{
	uint64_t v = 0;

	if (size == 0 || size > 8)
		return -EINVAL;
	for (size_t i = 0; i < size; i++) {
		size_t j;
		if (order_index(size, order, i, &j) < 0)
			return -EINVAL;
		v = v << 8 | p[j];
	}
	*out = v;
	return 0;
}

int mapping_put_uint(uint8_t *p, size_t size, enum mapping_order order, uint64_t v)
{
	size_t idx[8];

	if (size == 0 || size > 8)
		return -EINVAL;
	for (size_t i = 0; i < size; i++)
		if (order_index(size, order, i, &idx[i]) < 0)
			return -EINVAL;
	for (size_t i = size; i-- > 0;) {
		p[idx[i]] = (uint8_t)v;
		v >>= 8;
	}
	return 0;
}

/* ---- numbers ------------------------------------------------------------------- */

enum num_kind { NUM_I, NUM_U, NUM_F };

struct num {
	enum num_kind k;
	int64_t i;
	uint64_t u;
	double f;
};

static bool num_to_double_exact(const struct num *n, double *d)
{
	switch (n->k) {
	case NUM_I:
		if (n->i > EXACT_INT || n->i < -EXACT_INT)
			return false;
		*d = (double)n->i;
		return true;
	case NUM_U:
		if (n->u > (uint64_t)EXACT_INT)
			return false;
		*d = (double)n->u;
		return true;
	case NUM_F:
		*d = n->f;
		return true;
	}
	return false;
}

/* Apply rounding to a finite double; false when it is not integral and no
 * rounding was configured. */
static bool round_to_integral(double d, enum mapping_round r, double *out)
{
	if (d == trunc(d)) {
		*out = d;
		return true;
	}
	switch (r) {
	case MAPPING_ROUND_NEAREST:
		*out = round(d);
		return true;
	case MAPPING_ROUND_FLOOR:
		*out = floor(d);
		return true;
	case MAPPING_ROUND_CEIL:
		*out = ceil(d);
		return true;
	case MAPPING_ROUND_TRUNC:
		*out = trunc(d);
		return true;
	default:
		return false;
	}
}

/* An integral double into int64 / uint64 without UB: 2^63 is not an int64. */
static int double_to_i64(double d, int64_t *out)
{
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return -ERANGE;
	*out = (int64_t)d;
	return 0;
}

static int double_to_u64(double d, uint64_t *out)
{
	if (!(d >= 0 && d < 18446744073709551616.0))
		return -ERANGE;
	*out = (uint64_t)d;
	return 0;
}

/* Compare n with a bound given as double: <0, 0, >0 (exact for big ints). */
static int num_cmp_double(const struct num *n, double b)
{
	switch (n->k) {
	case NUM_F:
		return n->f < b ? -1 : n->f > b ? 1 : 0;
	case NUM_I:
		if (b >= 9223372036854775808.0)
			return -1;
		if (b < -9223372036854775808.0)
			return 1;
		{
			double fl = floor(b);
			int64_t bi = (int64_t)fl;
			if (n->i < bi)
				return -1;
			if (n->i > bi)
				return 1;
			return fl < b ? -1 : 0;
		}
	case NUM_U:
		if (b < 0)
			return 1;
		if (b >= 18446744073709551616.0)
			return -1;
		{
			double fl = floor(b);
			uint64_t bu = (uint64_t)fl;
			if (n->u < bu)
				return -1;
			if (n->u > bu)
				return 1;
			return fl < b ? -1 : 0;
		}
	}
	return 0;
}

static int check_minmax(const struct mapping_transform *xf, const struct num *n)
{
	if (xf->has_min && num_cmp_double(n, xf->min) < 0)
		return -ERANGE;
	if (xf->has_max && num_cmp_double(n, xf->max) > 0)
		return -ERANGE;
	return 0;
}

static int value_to_num(const struct lwm2m_value *v, struct num *n)
{
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		*n = (struct num){ .k = NUM_I, .i = v->i };
		return 0;
	case LWM2M_TYPE_UNSIGNED:
		*n = (struct num){ .k = NUM_U, .u = v->u };
		return 0;
	case LWM2M_TYPE_FLOAT:
		if (!isfinite(v->f))
			return -ERANGE;
		*n = (struct num){ .k = NUM_F, .f = v->f };
		return 0;
	case LWM2M_TYPE_BOOLEAN:
		*n = (struct num){ .k = NUM_I, .i = v->b ? 1 : 0 };
		return 0;
	default:
		return -EINVAL;
	}
}

/* Strict decimal number text, blanks around allowed (plain-text payloads
 * end with a newline): integers stay integers, no hex, inf or nan. */
static int num_from_text(const uint8_t *p, size_t len, struct num *n)
{
	char buf[64];
	bool integral = true;
	size_t a = 0, b = len;

	while (a < b && isspace(p[a]))
		a++;
	while (b > a && isspace(p[b - 1]))
		b--;
	if (b == a || b - a >= sizeof(buf))
		return -EBADMSG;
	for (size_t i = a; i < b; i++) {
		uint8_t c = p[i];
		if (c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && i > a))
			integral = false;
		else if (!isdigit(c) && !(c == '-' && i == a))
			return -EBADMSG;
	}
	memcpy(buf, p + a, b - a);
	buf[b - a] = '\0';
	if (integral) {
		int r = schema_parse_int(buf, &n->i);
		if (r == 0) {
			n->k = NUM_I;
			return 0;
		}
		if (r == -ERANGE && buf[0] != '-' && schema_parse_uint(buf, &n->u) == 0) {
			n->k = NUM_U;
			return 0;
		}
		return r == -ERANGE ? -ERANGE : -EBADMSG;
	}
	{
		char *end;
		errno = 0;
		double d = strtod(buf, &end);
		if (*end != '\0' || end == buf || !isdigit((unsigned char)buf[buf[0] == '-']))
			return -EBADMSG;
		if (!isfinite(d) || errno == ERANGE)
			return -ERANGE;
		n->k = NUM_F;
		n->f = d;
	}
	return 0;
}

/* v * scale + offset, with 1/N scales done as a division (correctly
 * rounded: 215 * 0.1 may not be 21.5, 215 / 10 is). */
static int apply_scale(const struct mapping_transform *xf, struct num *n)
{
	double d;

	if (!xf->has_scale)
		return 0;
	if (!num_to_double_exact(n, &d))
		return -ERANGE;
	if (xf->scale_div)
		d = d / (double)xf->scale_div;
	else
		d = d * xf->scale;
	d += xf->offset;
	if (!isfinite(d))
		return -ERANGE;
	*n = (struct num){ .k = NUM_F, .f = d };
	return 0;
}

static double unscale(const struct mapping_transform *xf, double v)
{
	v -= xf->offset;
	if (xf->scale_div)
		return v * (double)xf->scale_div;
	return v / xf->scale;
}

static double rescale(const struct mapping_transform *xf, double r)
{
	return (xf->scale_div ? r / (double)xf->scale_div : r * xf->scale) + xf->offset;
}

/* A number into the resource type. */
static int num_to_value(const struct mapping_transform *xf, const struct num *n, enum lwm2m_type to,
			struct lwm2m_value *out)
{
	double d;

	switch (to) {
	case LWM2M_TYPE_FLOAT:
		if (!num_to_double_exact(n, &d))
			return -ERANGE;
		*out = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = d };
		return 0;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		if (n->k == NUM_I) {
			*out = (struct lwm2m_value){ .type = (uint8_t)to, .i = n->i };
			return 0;
		}
		if (n->k == NUM_U) {
			if (n->u > INT64_MAX)
				return -ERANGE;
			*out = (struct lwm2m_value){ .type = (uint8_t)to, .i = (int64_t)n->u };
			return 0;
		}
		if (!round_to_integral(n->f, xf->round, &d))
			return -ERANGE;
		out->type = (uint8_t)to;
		return double_to_i64(d, &out->i);
	case LWM2M_TYPE_UNSIGNED:
		if (n->k == NUM_U) {
			*out = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = n->u };
			return 0;
		}
		if (n->k == NUM_I) {
			if (n->i < 0)
				return -ERANGE;
			*out = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = (uint64_t)n->i };
			return 0;
		}
		if (!round_to_integral(n->f, xf->round, &d))
			return -ERANGE;
		out->type = LWM2M_TYPE_UNSIGNED;
		return double_to_u64(d, &out->u);
	case LWM2M_TYPE_BOOLEAN: {
		/* Only 0 and 1 are booleans; 2 is a misconfigured source. */
		int c0 = num_cmp_double(n, 0), c1 = num_cmp_double(n, 1);
		if (c0 != 0 && c1 != 0)
			return -ERANGE;
		*out = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = c1 == 0 };
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* ---- booleans from words ------------------------------------------------------ */

static const char *const default_true[] = { "true", "on", "yes", "1" };
static const char *const default_false[] = { "false", "off", "no", "0" };

static bool word_in(const uint8_t *p, size_t len, const char *const *words, size_t n, bool nocase)
{
	for (size_t i = 0; i < n; i++) {
		size_t wl = strlen(words[i]);
		if (wl == len &&
		    (nocase ? strncasecmp((const char *)p, words[i], len) : memcmp(p, words[i], len)) == 0)
			return true;
	}
	return false;
}

static int bool_from_text(const struct mapping_transform *xf, const uint8_t *p, size_t len, bool *out)
{
	if (xf->true_words || xf->false_words) {
		if (xf->true_words && word_in(p, len, xf->true_words, xf->ntrue, false)) {
			*out = true;
			return 0;
		}
		if (xf->false_words && word_in(p, len, xf->false_words, xf->nfalse, false)) {
			*out = false;
			return 0;
		}
		return -ERANGE;
	}
	if (word_in(p, len, default_true, 4, true)) {
		*out = true;
		return 0;
	}
	if (word_in(p, len, default_false, 4, true)) {
		*out = false;
		return 0;
	}
	return -ERANGE;
}

/* ---- enum maps ---------------------------------------------------------------------- */

static bool raw_num_eq(const struct lwm2m_value *raw, const struct num *n)
{
	struct num m;

	if (value_to_num(raw, &m) < 0)
		return false;
	if (n->k == NUM_F) {
		return num_cmp_double(&m, n->f) == 0;
	}
	if (n->k == NUM_I)
		return m.k == NUM_I ? m.i == n->i : (n->i >= 0 && m.u == (uint64_t)n->i);
	return m.k == NUM_U ? m.u == n->u : (m.i >= 0 && (uint64_t)m.i == n->u);
}

static bool value_eq(const struct lwm2m_value *a, const struct lwm2m_value *b)
{
	struct num nb;

	switch (a->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		return (b->type == LWM2M_TYPE_STRING || b->type == LWM2M_TYPE_OPAQUE ||
			b->type == LWM2M_TYPE_CORELNK) &&
		       a->bytes.len == b->bytes.len &&
		       (a->bytes.len == 0 || !memcmp(a->bytes.ptr, b->bytes.ptr, a->bytes.len));
	case LWM2M_TYPE_BOOLEAN:
		return b->type == LWM2M_TYPE_BOOLEAN && a->b == b->b;
	case LWM2M_TYPE_OBJLNK:
		return b->type == LWM2M_TYPE_OBJLNK && a->lnk.oid == b->lnk.oid && a->lnk.iid == b->lnk.iid;
	default:
		if (b->type == LWM2M_TYPE_BOOLEAN || value_to_num(b, &nb) < 0)
			return false;
		return raw_num_eq(a, &nb);
	}
}

/* ---- decode ---------------------------------------------------------------------------- */

enum inter_kind { INTER_NUM, INTER_STR, INTER_BOOL };

struct inter {
	enum inter_kind k;
	struct num n;
	const uint8_t *p;
	size_t len;
	bool b;
};

static int decode_raw(const struct mapping_transform *xf, const struct mapping_sample *in, struct inter *v)
{
	enum mapping_raw raw = xf->raw;
	size_t size;
	uint64_t u;

	if (raw == MAPPING_RAW_VALUE) {
		if (in->kind != MAPPING_SAMPLE_VALUE)
			return -EINVAL;
		switch (in->value.type) {
		case LWM2M_TYPE_STRING:
			*v = (struct inter){ .k = INTER_STR,
					     .p = in->value.bytes.ptr,
					     .len = in->value.bytes.len };
			return 0;
		case LWM2M_TYPE_BOOLEAN:
			*v = (struct inter){ .k = INTER_BOOL, .b = in->value.b };
			return 0;
		default:
			v->k = INTER_NUM;
			return value_to_num(&in->value, &v->n);
		}
	}
	if (in->kind != MAPPING_SAMPLE_BYTES || (in->len && !in->bytes))
		return -EINVAL;
	if (raw == MAPPING_RAW_STRING) {
		size_t len = in->len;
		if (xf->length && len != xf->length)
			return -EBADMSG;
		/* Registers and fixed fields pad with NUL; a NUL inside stays. */
		while (len > 0 && in->bytes[len - 1] == 0)
			len--;
		*v = (struct inter){ .k = INTER_STR, .p = in->bytes, .len = len };
		return 0;
	}
	if ((unsigned)raw >= MAPPING_RAW__MAX)
		return -EINVAL;
	size = mapping_raw_size(raw, xf->width);
	if (size == 0 || in->len != size)
		return -EBADMSG;
	if (mapping_get_uint(in->bytes, size, (enum mapping_order)xf->order, &u) < 0)
		return -EINVAL;
	v->k = INTER_NUM;
	if (raw == MAPPING_RAW_FLOAT32) {
		uint32_t w = (uint32_t)u;
		float f;
		memcpy(&f, &w, sizeof(f));
		if (!isfinite(f))
			return -ERANGE; /* NaN/Inf: no LwM2M format carries them everywhere */
		v->n = (struct num){ .k = NUM_F, .f = f };
		return 0;
	}
	if (raw == MAPPING_RAW_FLOAT64) {
		double d;
		memcpy(&d, &u, sizeof(d));
		if (!isfinite(d))
			return -ERANGE;
		v->n = (struct num){ .k = NUM_F, .f = d };
		return 0;
	}
	if (raw == MAPPING_RAW_BITS || xf->bits) {
		unsigned count = xf->bits ? xf->bits : 1;
		if (xf->bit + count > size * 8)
			return -EINVAL;
		u >>= xf->bit;
		if (count < 64)
			u &= (UINT64_C(1) << count) - 1;
		v->n = (struct num){ .k = NUM_U, .u = u };
		return 0;
	}
	if (raw_is_signed(raw)) {
		unsigned bits = (unsigned)size * 8;
		int64_t s;
		if (bits < 64 && (u >> (bits - 1)) & 1)
			s = (int64_t)(u | ~((UINT64_C(1) << bits) - 1));
		else
			s = (int64_t)u;
		v->n = (struct num){ .k = NUM_I, .i = s };
		return 0;
	}
	v->n = (struct num){ .k = NUM_U, .u = u };
	return 0;
}

int mapping_transform_decode(const struct mapping_transform *xf, enum lwm2m_type to,
			     const struct mapping_sample *in, struct lwm2m_value *out)
{
	struct lwm2m_value res = { 0 };
	struct inter v;
	int r;

	if (!xf || !in || !out)
		return -EINVAL;
	r = decode_raw(xf, in, &v);
	if (r < 0)
		return r;

	if (xf->nenums) {
		for (size_t i = 0; i < xf->nenums; i++) {
			const struct lwm2m_value *raw = &xf->enums[i].raw;
			bool hit = false;
			if (v.k == INTER_NUM)
				hit = raw_num_eq(raw, &v.n);
			else if (v.k == INTER_STR)
				hit = raw->type == LWM2M_TYPE_STRING && raw->bytes.len == v.len &&
				      (v.len == 0 || !memcmp(raw->bytes.ptr, v.p, v.len));
			else
				hit = raw->type == LWM2M_TYPE_BOOLEAN && raw->b == v.b;
			if (hit) {
				struct num n;
				res = xf->enums[i].val;
				if (value_to_num(&res, &n) == 0 && res.type != LWM2M_TYPE_BOOLEAN &&
				    check_minmax(xf, &n) < 0)
					return -ERANGE;
				*out = res;
				return 0;
			}
		}
		return -ENOENT; /* never a guessed value */
	}

	switch (v.k) {
	case INTER_STR:
		switch (to) {
		case LWM2M_TYPE_STRING:
		case LWM2M_TYPE_OPAQUE:
		case LWM2M_TYPE_CORELNK:
			res = (struct lwm2m_value){ .type = (uint8_t)to, .bytes = { v.p, v.len } };
			*out = res;
			return 0;
		case LWM2M_TYPE_BOOLEAN:
			r = bool_from_text(xf, v.p, v.len, &res.b);
			if (r < 0)
				return r;
			res.type = LWM2M_TYPE_BOOLEAN;
			*out = res;
			return 0;
		default:
			if (xf->raw == MAPPING_RAW_STRING)
				return -EINVAL; /* the loader refuses this; text numbers are raw "value" */
			r = num_from_text(v.p, v.len, &v.n);
			if (r < 0)
				return r;
			v.k = INTER_NUM;
			break;
		}
		break;
	case INTER_BOOL:
		if (to == LWM2M_TYPE_BOOLEAN) {
			*out = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = v.b };
			return 0;
		}
		if (to != LWM2M_TYPE_INTEGER && to != LWM2M_TYPE_UNSIGNED)
			return -EINVAL;
		v = (struct inter){ .k = INTER_NUM, .n = { .k = NUM_I, .i = v.b } };
		break;
	case INTER_NUM:
		break;
	}

	r = apply_scale(xf, &v.n);
	if (r < 0)
		return r;
	r = num_to_value(xf, &v.n, to, &res);
	if (r < 0)
		return r;
	if (res.type != LWM2M_TYPE_BOOLEAN) {
		struct num n;
		value_to_num(&res, &n);
		if (check_minmax(xf, &n) < 0)
			return -ERANGE;
	}
	*out = res;
	return 0;
}

/* ---- encode ------------------------------------------------------------------------------- */

/* An integral-or-not number into raw integer range [lo, hi] (signed) or
 * [0, uhi] (unsigned), as the bit pattern to write. */
static int num_to_raw_int(const struct mapping_transform *xf, const struct num *n, bool is_signed,
			  unsigned bits, uint64_t *pattern)
{
	int64_t lo = bits >= 64 ? INT64_MIN : -(INT64_C(1) << (bits - 1));
	int64_t hi = bits >= 64 ? INT64_MAX : (INT64_C(1) << (bits - 1)) - 1;
	uint64_t uhi = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
	uint64_t mask = uhi;

	if (n->k == NUM_F) {
		double d;
		if (!round_to_integral(n->f, xf->round, &d))
			return -ERANGE;
		if (is_signed) {
			int64_t i;
			if (double_to_i64(d, &i) < 0 || i < lo || i > hi)
				return -ERANGE;
			*pattern = (uint64_t)i & mask;
		} else {
			uint64_t u;
			if (double_to_u64(d, &u) < 0 || u > uhi)
				return -ERANGE;
			*pattern = u;
		}
		return 0;
	}
	if (is_signed) {
		int64_t i;
		if (n->k == NUM_U) {
			if (n->u > (uint64_t)INT64_MAX)
				return -ERANGE;
			i = (int64_t)n->u;
		} else {
			i = n->i;
		}
		if (i < lo || i > hi)
			return -ERANGE;
		*pattern = (uint64_t)i & mask;
		return 0;
	}
	if (n->k == NUM_I) {
		if (n->i < 0)
			return -ERANGE;
		*pattern = (uint64_t)n->i;
	} else {
		*pattern = n->u;
	}
	if (*pattern > uhi)
		return -ERANGE;
	return 0;
}

/* A raw number (after unscaling) into the sample layout. */
static int emit_num(const struct mapping_transform *xf, const struct num *n, uint8_t *buf, size_t cap,
		    struct mapping_sample *out)
{
	enum mapping_raw raw = xf->raw;
	size_t size = mapping_raw_size(raw, xf->width);
	uint64_t pattern;
	int r;

	if (raw == MAPPING_RAW_VALUE) {
		struct lwm2m_value v;
		if (n->k == NUM_I)
			v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = n->i };
		else if (n->k == NUM_U)
			v = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = n->u };
		else
			v = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = n->f };
		*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE, .value = v };
		return 0;
	}
	if (raw == MAPPING_RAW_STRING || size == 0)
		return -EINVAL;
	if (size > cap)
		return -ENOBUFS;
	if (raw == MAPPING_RAW_FLOAT32) {
		double d;
		float f;
		uint32_t w;
		if (!num_to_double_exact(n, &d) || !isfinite(d) || fabs(d) > FLT_MAX)
			return -ERANGE;
		f = (float)d; /* nearest float32: the register cannot hold more */
		memcpy(&w, &f, sizeof(w));
		pattern = w;
	} else if (raw == MAPPING_RAW_FLOAT64) {
		double d;
		if (!num_to_double_exact(n, &d) || !isfinite(d))
			return -ERANGE;
		memcpy(&pattern, &d, sizeof(pattern));
	} else if (raw == MAPPING_RAW_BITS || xf->bits) {
		unsigned count = xf->bits ? xf->bits : 1;
		if (xf->bit + count > size * 8)
			return -EINVAL;
		r = num_to_raw_int(xf, n, false, count, &pattern);
		if (r < 0)
			return r;
		/* The field's bits in place, the others 0: the bridge merges
		 * (read-modify-write or a masked write). */
		pattern <<= xf->bit;
	} else {
		r = num_to_raw_int(xf, n, raw_is_signed(raw), (unsigned)size * 8, &pattern);
		if (r < 0)
			return r;
	}
	r = mapping_put_uint(buf, size, (enum mapping_order)xf->order, pattern);
	if (r < 0)
		return r;
	*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES, .bytes = buf, .len = size };
	return 0;
}

static int emit_bytes(const struct mapping_transform *xf, const uint8_t *p, size_t len, uint8_t *buf,
		      size_t cap, struct mapping_sample *out)
{
	size_t total = len;

	if (xf->raw == MAPPING_RAW_VALUE) {
		*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						.value = { .type = LWM2M_TYPE_STRING, .bytes = { p, len } } };
		return 0;
	}
	if (xf->raw != MAPPING_RAW_STRING)
		return -EINVAL;
	if (xf->length) {
		if (len > xf->length)
			return -ERANGE; /* never cut a string */
		total = xf->length;
	}
	/* A trailing NUL would be trimmed on read: it cannot round-trip. */
	if (len > 0 && p[len - 1] == 0)
		return -ERANGE;
	if (total > cap)
		return -ENOBUFS;
	if (len)
		memcpy(buf, p, len);
	if (total > len)
		memset(buf + len, 0, total - len);
	*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES, .bytes = buf, .len = total };
	return 0;
}

static int emit_enum_raw(const struct mapping_transform *xf, const struct lwm2m_value *raw, uint8_t *buf,
			 size_t cap, struct mapping_sample *out)
{
	struct num n;

	if (raw->type == LWM2M_TYPE_STRING)
		return emit_bytes(xf, raw->bytes.ptr, raw->bytes.len, buf, cap, out);
	if (xf->raw == MAPPING_RAW_VALUE) {
		*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE, .value = *raw };
		return 0;
	}
	if (value_to_num(raw, &n) < 0)
		return -EINVAL;
	return emit_num(xf, &n, buf, cap, out);
}

int mapping_transform_encode(const struct mapping_transform *xf, enum lwm2m_type from,
			     const struct lwm2m_value *in, uint8_t *buf, size_t cap,
			     struct mapping_sample *out)
{
	struct lwm2m_value v;
	struct num n;
	int r;

	if (!xf || !in || !out)
		return -EINVAL;
	if (in->type != from) {
		r = lwm2m_value_convert(in, from, &v);
		if (r < 0)
			return r;
	} else {
		v = *in;
	}
	if (v.type != LWM2M_TYPE_BOOLEAN && value_to_num(&v, &n) == 0 && check_minmax(xf, &n) < 0)
		return -ERANGE;
	if (v.type == LWM2M_TYPE_FLOAT && !isfinite(v.f))
		return -ERANGE;

	if (xf->nenums) {
		for (size_t i = 0; i < xf->nenums; i++)
			if (value_eq(&xf->enums[i].val, &v))
				return emit_enum_raw(xf, &xf->enums[i].raw, buf, cap, out);
		return -ENOENT;
	}

	switch (v.type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		return emit_bytes(xf, v.bytes.ptr, v.bytes.len, buf, cap, out);
	case LWM2M_TYPE_BOOLEAN:
		if (xf->raw == MAPPING_RAW_STRING ||
		    (xf->raw == MAPPING_RAW_VALUE && (xf->true_words || xf->false_words))) {
			const char *w = NULL;
			if (v.b && xf->true_words && xf->ntrue)
				w = xf->true_words[0];
			else if (!v.b && xf->false_words && xf->nfalse)
				w = xf->false_words[0];
			else if (xf->raw == MAPPING_RAW_STRING)
				w = v.b ? "true" : "false";
			if (!w)
				return -EINVAL;
			return emit_bytes(xf, (const uint8_t *)w, strlen(w), buf, cap, out);
		}
		if (xf->raw == MAPPING_RAW_VALUE) {
			*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE, .value = v };
			return 0;
		}
		n = (struct num){ .k = NUM_I, .i = v.b };
		return emit_num(xf, &n, buf, cap, out);
	default:
		break;
	}
	r = value_to_num(&v, &n);
	if (r < 0)
		return r;
	if (xf->has_scale) {
		double d, raw, k;
		if (!num_to_double_exact(&n, &d))
			return -ERANGE;
		raw = unscale(xf, d);
		if (!isfinite(raw))
			return -ERANGE;
		if (xf->raw == MAPPING_RAW_VALUE && xf->round != MAPPING_ROUND_NONE) {
			/* A typed field (a JSON number) scaled by a factor
			 * that is no 1/N (Dimmer % <- brightness 0..254):
			 * `round:` says the field takes an integer. */
			(void)round_to_integral(raw, (enum mapping_round)xf->round, &raw);
		} else if (!raw_is_float(xf->raw) && xf->raw != MAPPING_RAW_VALUE) {
			/* (21.5 - 0) * 10 is 215 exactly, but e.g. 0.3 / 0.1 is not:
			 * accept the integer whose decode gives back exactly v. */
			k = nearbyint(raw);
			if (k != raw && rescale(xf, k) == d)
				raw = k;
		}
		n = (struct num){ .k = NUM_F, .f = raw };
	}
	return emit_num(xf, &n, buf, cap, out);
}

/* ---- text -> typed value (constants, variables) ------------------------------------ */

int mapping_value_from_text(enum lwm2m_type type, const char *s, size_t len, struct lwm2m_value *out)
{
	struct lwm2m_value v = { .type = (uint8_t)type };
	char buf[64];
	int r;

	switch (type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		v.bytes.ptr = (const uint8_t *)s;
		v.bytes.len = len;
		*out = v;
		return 0;
	default:
		break;
	}
	if (len >= sizeof(buf) || memchr(s, 0, len))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	switch (type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		r = schema_parse_int(buf, &v.i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		r = schema_parse_uint(buf, &v.u);
		break;
	case LWM2M_TYPE_FLOAT: {
		struct num n;
		r = num_from_text((const uint8_t *)buf, len, &n);
		if (r == -EBADMSG)
			r = -EINVAL;
		if (r == 0 && len > 0 &&
		    (isspace((unsigned char)buf[0]) || isspace((unsigned char)buf[len - 1])))
			r = -EINVAL;
		if (r == 0 && !num_to_double_exact(&n, &v.f))
			r = -ERANGE;
		break;
	}
	case LWM2M_TYPE_BOOLEAN:
		if (strcmp(buf, "1") == 0 || strcmp(buf, "0") == 0) {
			v.b = buf[0] == '1';
			r = 0;
		} else {
			r = schema_parse_bool(buf, &v.b);
		}
		break;
	case LWM2M_TYPE_OBJLNK: {
		unsigned a, b;
		int used = 0;
		if (sscanf(buf, "%5u:%5u%n", &a, &b, &used) != 2 || (size_t)used != len || a > 65535 ||
		    b > 65535 || !isdigit((unsigned char)buf[0]))
			return -EINVAL;
		v.lnk.oid = (uint16_t)a;
		v.lnk.iid = (uint16_t)b;
		r = 0;
		break;
	}
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	*out = v;
	return 0;
}
