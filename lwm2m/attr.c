/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Notification attributes of Write-Attributes (LwM2M 1.1/1.2 Core, "Attributes"):
 * pmin, pmax, epmin, epmax (non-negative integer seconds), gt, lt, st
 * (numbers; st non-negative). "name" without "=value" removes the attribute.
 *
 * Numbers are parsed strictly: a server that sends "pmin=10s", "gt=0x10",
 * "st=nan" or "pmax=99999999999" made a mistake that must become a 4.00,
 * not a silently different observation.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

/* Longest number text accepted; a double needs at most 17 significant digits,
 * so anything longer than this is not something a server meant. */
#define NUM_MAX 64

struct attr_name {
	const char *name;
	uint32_t bit;
	bool is_float;
};

static const struct attr_name attr_names[] = {
	{ "pmin", LWM2M_ATTR_PMIN, false },   { "pmax", LWM2M_ATTR_PMAX, false },
	{ "gt", LWM2M_ATTR_GT, true },        { "lt", LWM2M_ATTR_LT, true },
	{ "st", LWM2M_ATTR_ST, true },        { "epmin", LWM2M_ATTR_EPMIN, false },
	{ "epmax", LWM2M_ATTR_EPMAX, false },
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Unsigned decimal seconds that fit in 32 bits. */
static int parse_seconds(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* [-]digits[.digits][(e|E)[+-]digits]: the TS grammar (1*DIGIT ["." 1*DIGIT])
 * plus a sign and an exponent, which some servers print. Rejects what strtod
 * would also take: hex, "inf", "nan", leading blanks, a bare ".5". */
static int parse_number(const char *s, size_t n, double *out)
{
	char buf[NUM_MAX + 1];
	size_t i = 0;
	char *end;
	double v;

	if (n == 0 || n > NUM_MAX)
		return -EINVAL;
	if (s[i] == '-')
		i++;
	if (i == n || !is_digit(s[i]))
		return -EINVAL;
	while (i < n && is_digit(s[i]))
		i++;
	if (i < n && s[i] == '.') {
		i++;
		if (i == n || !is_digit(s[i]))
			return -EINVAL;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || !is_digit(s[i]))
			return -EINVAL;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i != n)
		return -EINVAL;

	memcpy(buf, s, n);
	buf[n] = '\0';
	/* The text is '.'-decimal whatever LC_NUMERIC the process runs with;
	 * glibc hands out its static C locale object here without allocating. */
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (c == (locale_t)0)
		return -ENOMEM;
	errno = 0;
	v = strtod_l(buf, &end, c);
	int err = errno;
	freelocale(c);
	/* ERANGE: overflow to infinity, or an underflow that lost digits. */
	if (end != buf + n || err == ERANGE || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

int lwm2m_attrs_parse_param(const char *s, size_t n, struct lwm2m_attrs *a)
{
	const struct attr_name *an = NULL;
	size_t nlen = 0;

	if (!a || (!s && n > 0))
		return -EINVAL;
	while (nlen < n && s[nlen] != '=')
		nlen++;
	for (size_t i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++) {
		if (strlen(attr_names[i].name) == nlen && memcmp(attr_names[i].name, s, nlen) == 0) {
			an = &attr_names[i];
			break;
		}
	}
	if (!an)
		return -EINVAL;
	/* The same attribute twice in one request is ambiguous. */
	if ((a->set | a->unset) & an->bit)
		return -EINVAL;

	if (nlen == n) {
		a->unset |= an->bit;
		return 0;
	}

	const char *v = s + nlen + 1;
	size_t vlen = n - nlen - 1;
	if (an->is_float) {
		double d;
		int r = parse_number(v, vlen, &d);
		if (r < 0)
			return r;
		switch (an->bit) {
		case LWM2M_ATTR_GT:
			a->gt = d;
			break;
		case LWM2M_ATTR_LT:
			a->lt = d;
			break;
		default: /* st: a step is a distance */
			if (d < 0 || signbit(d))
				return -EINVAL;
			a->st = d;
			break;
		}
	} else {
		uint32_t u;
		int r = parse_seconds(v, vlen, &u);
		if (r < 0)
			return r;
		switch (an->bit) {
		case LWM2M_ATTR_PMIN:
			a->pmin = u;
			break;
		case LWM2M_ATTR_PMAX:
			a->pmax = u;
			break;
		case LWM2M_ATTR_EPMIN:
			a->epmin = u;
			break;
		default:
			a->epmax = u;
			break;
		}
	}
	a->set |= an->bit;
	return 0;
}

int lwm2m_attrs_parse_query(const char *s, size_t n, struct lwm2m_attrs *a)
{
	struct lwm2m_attrs tmp;
	size_t i = 0;

	if (!a || (!s && n > 0))
		return -EINVAL;
	/* Work on a copy so that a bad parameter leaves *a as it was. */
	tmp = *a;
	while (i < n) {
		size_t start = i;
		while (i < n && s[i] != '&')
			i++;
		int r = lwm2m_attrs_parse_param(s + start, i - start, &tmp);
		if (r < 0)
			return r;
		if (i < n) {
			i++;
			if (i == n) /* "pmin=1&": an empty parameter */
				return -EINVAL;
		}
	}
	*a = tmp;
	return 0;
}

/*
 * The TS rules between attributes of one level, checked on the set that will
 * be in force after the request is applied:
 *  - pmax >= pmin ("the Maximum Period MUST be greater than or equal to the
 *    Minimum Period");
 *  - epmax > epmin (the Maximum Evaluation Period MUST be greater than the
 *    Minimum Evaluation Period);
 *  - lt < gt, and lt + 2*st < gt when all three are present, so that the
 *    band between the thresholds is wider than two steps.
 * st and the periods are non-negative by construction (parse rejects '-'),
 * but a caller may have filled the struct itself, so they are checked too.
 */
int lwm2m_attrs_validate(const struct lwm2m_attrs *a)
{
	uint32_t s;

	if (!a)
		return -EINVAL;
	s = a->set;
	if ((s & LWM2M_ATTR_GT) && !isfinite(a->gt))
		return -EINVAL;
	if ((s & LWM2M_ATTR_LT) && !isfinite(a->lt))
		return -EINVAL;
	if ((s & LWM2M_ATTR_ST) && (!isfinite(a->st) || a->st < 0))
		return -EINVAL;
	if ((s & LWM2M_ATTR_PMIN) && (s & LWM2M_ATTR_PMAX) && a->pmax < a->pmin)
		return -EINVAL;
	if ((s & LWM2M_ATTR_EPMIN) && (s & LWM2M_ATTR_EPMAX) && a->epmax <= a->epmin)
		return -EINVAL;
	if ((s & LWM2M_ATTR_LT) && (s & LWM2M_ATTR_GT)) {
		if (!(a->lt < a->gt))
			return -EINVAL;
		if ((s & LWM2M_ATTR_ST) && !(a->lt + 2 * a->st < a->gt))
			return -EINVAL;
	}
	return 0;
}

void lwm2m_attrs_apply(struct lwm2m_attrs *dst, const struct lwm2m_attrs *req)
{
	uint32_t set = req->set, unset = req->unset & ~req->set;

	if (set & LWM2M_ATTR_PMIN)
		dst->pmin = req->pmin;
	if (set & LWM2M_ATTR_PMAX)
		dst->pmax = req->pmax;
	if (set & LWM2M_ATTR_EPMIN)
		dst->epmin = req->epmin;
	if (set & LWM2M_ATTR_EPMAX)
		dst->epmax = req->epmax;
	if (set & LWM2M_ATTR_GT)
		dst->gt = req->gt;
	if (set & LWM2M_ATTR_LT)
		dst->lt = req->lt;
	if (set & LWM2M_ATTR_ST)
		dst->st = req->st;

	/* Removed attributes read back as zero so that two equal sets compare
	 * equal field by field. */
	if (unset & LWM2M_ATTR_PMIN)
		dst->pmin = 0;
	if (unset & LWM2M_ATTR_PMAX)
		dst->pmax = 0;
	if (unset & LWM2M_ATTR_EPMIN)
		dst->epmin = 0;
	if (unset & LWM2M_ATTR_EPMAX)
		dst->epmax = 0;
	if (unset & LWM2M_ATTR_GT)
		dst->gt = 0;
	if (unset & LWM2M_ATTR_LT)
		dst->lt = 0;
	if (unset & LWM2M_ATTR_ST)
		dst->st = 0;

	dst->set = (dst->set | set) & ~unset;
	/* A stored set holds values only; "unset" describes requests. */
	dst->unset = 0;
}
