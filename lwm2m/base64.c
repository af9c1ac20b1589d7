/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base64 (RFC 4648 section 4) and base64url (section 5).
 *
 * Decoding is strict so that one byte string has exactly one accepted
 * spelling per alphabet, and a decode -> encode -> decode round trip is exact:
 *  - both alphabets are accepted, but not mixed in one string ('+' or '/'
 *    together with '-' or '_');
 *  - padding is optional, but when present it must make the length a
 *    multiple of 4 ("QQ==" or "QQ", never "QQ=");
 *  - a length of 4k+1 characters (without padding) cannot be produced by an
 *    encoder and is rejected;
 *  - the unused low bits of the last character must be zero (RFC 4648
 *    section 3.5 allows decoders to reject non-canonical encodings);
 *  - whitespace, line breaks and any other byte are rejected.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

static const char std_alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int lwm2m_base64_encode(struct lwm2m_buf *out, const uint8_t *p, size_t n, bool url)
{
	const char *alpha = url ? url_alphabet : std_alphabet;
	size_t start = out->len;
	char q[4];
	int r = 0;

	if (!p && n)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i;
		uint32_t v = (uint32_t)p[i] << 16;
		size_t chars = 4;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		q[0] = alpha[(v >> 18) & 63];
		q[1] = alpha[(v >> 12) & 63];
		q[2] = alpha[(v >> 6) & 63];
		q[3] = alpha[v & 63];
		if (left < 3) {
			/* 1 byte -> 2 characters, 2 bytes -> 3 characters. */
			chars = left + 1;
			for (size_t k = chars; k < 4; k++)
				q[k] = '=';
			if (!url)
				chars = 4;
		}
		r = lwm2m_buf_append(out, q, chars);
		if (r < 0) {
			out->len = start;
			return r;
		}
	}
	return 0;
}

/* Value of one base64 character, and which alphabet it belongs to:
 * bit 0 standard-only, bit 1 url-only. -1 for any other byte. */
static int sextet(unsigned char c, unsigned *alphabet)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	switch (c) {
	case '+':
		*alphabet |= 1;
		return 62;
	case '/':
		*alphabet |= 1;
		return 63;
	case '-':
		*alphabet |= 2;
		return 62;
	case '_':
		*alphabet |= 2;
		return 63;
	default:
		return -1;
	}
}

int lwm2m_base64_decode(uint8_t *out, const char *s, size_t n)
{
	unsigned alphabet = 0;
	size_t chars = n, o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if ((!s && n) || (!out && n))
		return -EINVAL;
	if (n > (size_t)INT32_MAX)
		return -ERANGE; /* the decoded length must fit the int return */
	/* Padding: only as the last one or two characters of a 4-multiple. */
	if (chars > 0 && s[chars - 1] == '=') {
		chars--;
		if (chars > 0 && s[chars - 1] == '=')
			chars--;
		if (n % 4 != 0)
			return -EBADMSG;
	}
	if (chars % 4 == 1)
		return -EBADMSG;
	for (size_t i = 0; i < chars; i++) {
		int v = sextet((unsigned char)s[i], &alphabet);
		if (v < 0 || alphabet == 3)
			return -EBADMSG;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits (2 or 4) are padding bits of the encoder: zero. */
	if (acc != 0)
		return -EBADMSG;
	return (int)o;
}
