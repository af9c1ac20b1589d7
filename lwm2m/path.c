/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Data-model paths: parsing of Uri-Path text ("/3303/0/5700", optionally
 * behind an Object 25 prefix "/dev0/3303/0/5700"), formatting and ordering.
 *
 * The parser is strict on purpose: a path names one thing, so "/3//0",
 * "/+3", "/03" or "/70000" are rejected instead of being read as something
 * the server did not mean. Input is a (pointer, length) pair and is never
 * read past n, so a CoAP option can be passed without copying.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

#define PREFIX_MAX 64

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3986 "unreserved": what an Object 25 prefix may contain. */
static bool is_prefix_char(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* One id segment: canonical decimal 0..65534 (no sign, no leading zero). */
static int parse_id(const char *s, size_t n, uint16_t *out)
{
	uint32_t v = 0;

	if (n == 0 || n > 5 || !all_digits(s, n) || (n > 1 && s[0] == '0'))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint32_t)(s[i] - '0');
	if (v > LWM2M_ID_MAX)
		return -EBADMSG;
	*out = (uint16_t)v;
	return 0;
}

static bool valid_prefix(const char *s, size_t n)
{
	if (n == 0 || n > PREFIX_MAX || all_digits(s, n))
		return false;
	/* "." and ".." are URI dot-segments, never a name. */
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_prefix_char(s[i]))
			return false;
	return true;
}

int lwm2m_path_parse(const char *s, size_t n, struct lwm2m_path *out, struct lwm2m_span *prefix)
{
	struct lwm2m_path p = { .len = 0 };
	struct lwm2m_span pfx = { .ptr = NULL, .len = 0 };
	size_t i = 0;
	bool first = true;

	if (!out || (!s && n > 0))
		return -EINVAL;
	if (n > 0 && s[0] == '/')
		i = 1;
	/* One trailing '/' is tolerated ("/3/0/") when something precedes it;
	 * "//" is an empty segment, not the root. */
	if (n > i + 1 && s[n - 1] == '/')
		n--;

	while (i < n) {
		size_t start = i;
		while (i < n && s[i] != '/')
			i++;
		const char *seg = s + start;
		size_t len = i - start;

		if (first && len > 0 && !all_digits(seg, len)) {
			if (!prefix || !valid_prefix(seg, len))
				return -EBADMSG;
			pfx.ptr = seg;
			pfx.len = len;
		} else {
			if (p.len == 4)
				return -EBADMSG;
			if (parse_id(seg, len, &p.id[p.len]) < 0)
				return -EBADMSG;
			p.len++;
		}
		first = false;
		if (i == n)
			break;
		i++; /* the separator: a segment must follow, even an empty one */
		if (i == n)
			return -EBADMSG;
	}

	*out = p;
	if (prefix)
		*prefix = pfx;
	return 0;
}

int lwm2m_path_format(const struct lwm2m_path *p, char out[32])
{
	size_t len = 0;

	if (!p || !out || p->len > 4)
		return -EINVAL;
	if (p->len == 0) {
		out[0] = '/';
		out[1] = '\0';
		return 1;
	}
	for (unsigned i = 0; i < p->len; i++) {
		/* At most 4 * "/65535" = 24 bytes plus NUL: always fits. */
		int r = snprintf(out + len, 32 - len, "/%u", (unsigned)p->id[i]);
		if (r < 0 || (size_t)r >= 32 - len)
			return -EINVAL;
		len += (size_t)r;
	}
	return (int)len;
}

int lwm2m_path_cmp(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
	unsigned n = a->len < b->len ? a->len : b->len;

	for (unsigned i = 0; i < n; i++)
		if (a->id[i] != b->id[i])
			return a->id[i] < b->id[i] ? -1 : 1;
	if (a->len == b->len)
		return 0;
	return a->len < b->len ? -1 : 1;
}

bool lwm2m_path_is_under(const struct lwm2m_path *p, const struct lwm2m_path *base)
{
	if (p->len < base->len)
		return false;
	for (unsigned i = 0; i < base->len; i++)
		if (p->id[i] != base->id[i])
			return false;
	return true;
}
