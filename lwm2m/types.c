/* SPDX-License-Identifier: Apache-2.0 */
/* Type names, lossless value conversion and exact double formatting. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwm2m/lwm2m.h"

const char *lwm2m_ct_name(uint16_t ct)
{
	switch (ct) {
	case LWM2M_CT_TEXT:
		return "text/plain";
	case LWM2M_CT_LINK:
		return "application/link-format";
	case LWM2M_CT_OPAQUE:
		return "application/octet-stream";
	case LWM2M_CT_SENML_JSON:
		return "application/senml+json";
	case LWM2M_CT_SENML_CBOR:
		return "application/senml+cbor";
	case LWM2M_CT_TLV:
		return "application/vnd.oma.lwm2m+tlv";
	case LWM2M_CT_LWM2M_JSON:
		return "application/vnd.oma.lwm2m+json";
	case LWM2M_CT_LWM2M_CBOR:
		return "application/vnd.oma.lwm2m+cbor";
	default:
		return NULL;
	}
}

static const char *const type_names[LWM2M_TYPE__MAX] = {
	[LWM2M_TYPE_NONE] = "",           [LWM2M_TYPE_STRING] = "String",
	[LWM2M_TYPE_INTEGER] = "Integer", [LWM2M_TYPE_UNSIGNED] = "Unsigned Integer",
	[LWM2M_TYPE_FLOAT] = "Float",     [LWM2M_TYPE_BOOLEAN] = "Boolean",
	[LWM2M_TYPE_OPAQUE] = "Opaque",   [LWM2M_TYPE_TIME] = "Time",
	[LWM2M_TYPE_OBJLNK] = "Objlnk",   [LWM2M_TYPE_CORELNK] = "Corelnk",
};

const char *lwm2m_type_name(enum lwm2m_type t)
{
	return (unsigned)t < LWM2M_TYPE__MAX ? type_names[t] : NULL;
}

int lwm2m_type_from_name(const char *s, size_t n, enum lwm2m_type *out)
{
	for (unsigned t = 0; t < LWM2M_TYPE__MAX; t++) {
		if (strlen(type_names[t]) == n && strncasecmp(type_names[t], s, n) == 0) {
			*out = t;
			return 0;
		}
	}
	/* The registry spells "none" for executable resources. */
	if (n == 4 && strncasecmp(s, "none", 4) == 0) {
		*out = LWM2M_TYPE_NONE;
		return 0;
	}
	return -EINVAL;
}

/* 2^63 and 2^64 as doubles: exact powers of two, so comparisons are exact. */
#define TWO63 9223372036854775808.0
#define TWO64 18446744073709551616.0

static bool is_int_type(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_INTEGER || t == LWM2M_TYPE_TIME;
}

static bool is_bytes_type(enum lwm2m_type t)
{
	return t == LWM2M_TYPE_STRING || t == LWM2M_TYPE_OPAQUE || t == LWM2M_TYPE_CORELNK;
}

/* The value as a sign and magnitude, for the numeric conversions. */
static int numeric(const struct lwm2m_value *in, bool *neg, uint64_t *mag, double *f, bool *is_float)
{
	*is_float = false;
	switch (in->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		*neg = in->i < 0;
		*mag = *neg ? (uint64_t)(-(in->i + 1)) + 1 : (uint64_t)in->i;
		return 0;
	case LWM2M_TYPE_UNSIGNED:
		*neg = false;
		*mag = in->u;
		return 0;
	case LWM2M_TYPE_BOOLEAN:
		*neg = false;
		*mag = in->b ? 1 : 0;
		return 0;
	case LWM2M_TYPE_FLOAT:
		*is_float = true;
		*f = in->f;
		return 0;
	default:
		return -EINVAL;
	}
}

int lwm2m_value_convert(const struct lwm2m_value *in, enum lwm2m_type to, struct lwm2m_value *out)
{
	struct lwm2m_value v = { .type = (uint8_t)to };
	bool neg = false, is_float;
	uint64_t mag = 0;
	double f = 0;

	if (in->type == to || (is_int_type(in->type) && is_int_type(to))) {
		*out = *in;
		out->type = (uint8_t)to;
		return 0;
	}
	if (is_bytes_type(to) || is_bytes_type(in->type)) {
		bool text = (to == LWM2M_TYPE_STRING || to == LWM2M_TYPE_CORELNK) &&
			    (in->type == LWM2M_TYPE_STRING || in->type == LWM2M_TYPE_CORELNK);
		if (!text)
			return -EINVAL;
		*out = *in;
		out->type = (uint8_t)to;
		return 0;
	}
	if (to == LWM2M_TYPE_OBJLNK || in->type == LWM2M_TYPE_OBJLNK || to == LWM2M_TYPE_NONE)
		return -EINVAL;
	if (numeric(in, &neg, &mag, &f, &is_float) < 0)
		return -EINVAL;

	if (is_float) {
		if (!isfinite(f) || trunc(f) != f) {
			if (to == LWM2M_TYPE_FLOAT)
				goto done;
			return -ERANGE;
		}
		neg = f < 0;
		if (fabs(f) >= TWO64)
			return -ERANGE;
		mag = (uint64_t)fabs(f);
	}

	switch (to) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
			return -ERANGE;
		v.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		break;
	case LWM2M_TYPE_UNSIGNED:
		if (neg && mag)
			return -ERANGE;
		v.u = mag;
		break;
	case LWM2M_TYPE_BOOLEAN:
		if (neg || mag > 1)
			return -ERANGE;
		v.b = mag == 1;
		break;
	case LWM2M_TYPE_FLOAT: {
		/* Exact only: 2^53+1 has no double. */
		double d = (double)mag;
		if (d >= TWO64 || (uint64_t)d != mag)
			return -ERANGE;
		v.f = neg ? -d : d;
		break;
	}
	default:
		return -EINVAL;
	}
	*out = v;
	return 0;
done:
	v.f = f;
	*out = v;
	return 0;
}

static int fmt_prec(double v, int prec, char out[32])
{
	int n = snprintf(out, 32, "%.*g", prec, v);

	if (n < 0 || n >= 32)
		return -EINVAL;
	return strtod(out, NULL) == v ? n : -1;
}

int lwm2m_fmt_double(double v, char out[32])
{
	int n;

	if (!isfinite(v))
		return -EINVAL;
	/* Most values print exactly in 15 digits or fewer, which %g trims to the
	 * shortest form; only 15-digit results can hide a shorter spelling
	 * (5e-324), and only values that need 16 or 17 digits go further. */
	n = fmt_prec(v, 15, out);
	if (n >= 0) {
		size_t digits = 0;
		for (const char *p = out; *p && *p != 'e'; p++)
			digits += (*p >= '0' && *p <= '9');
		if (digits < 15)
			return n;
		for (int p = 1; p < 15; p++) {
			int m = fmt_prec(v, p, out);
			if (m >= 0)
				return m;
		}
		return fmt_prec(v, 15, out);
	}
	n = fmt_prec(v, 16, out);
	if (n >= 0)
		return n;
	return fmt_prec(v, 17, out);
}
