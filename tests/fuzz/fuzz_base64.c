/* SPDX-License-Identifier: Apache-2.0 */
/* base64 decoder on any input. What decodes must encode (both alphabets)
 * and decode again to the same bytes; and since the decoder only takes
 * canonical spellings, the encoding in the input's own style must be the
 * input itself. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *want, size_t n, bool url)
{
	struct lwm2m_buf b = { 0 };
	uint8_t *again;
	int r;

	if (lwm2m_base64_encode(&b, want, n, url) < 0)
		abort();
	again = malloc(b.len * 3 / 4 + 3);
	if (!again)
		abort();
	r = lwm2m_base64_decode(again, (const char *)b.data, b.len);
	if (r < 0 || (size_t)r != n || (n && memcmp(again, want, n) != 0))
		abort();
	free(again);
	lwm2m_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = malloc(size * 3 / 4 + 3);
	int r;

	if (!out)
		return 0;
	r = lwm2m_base64_decode(out, (const char *)data, size);
	if (r >= 0) {
		bool url = memchr(data, '-', size) || memchr(data, '_', size);
		bool padded = size > 0 && data[size - 1] == '=';
		struct lwm2m_buf b = { 0 };

		check(out, (size_t)r, false);
		check(out, (size_t)r, true);
		/* Canonical: re-encoding reproduces the input (modulo the
		 * padding choice, which the alphabet decides in the encoder). */
		if (lwm2m_base64_encode(&b, out, (size_t)r, url) < 0)
			abort();
		size_t cmp = b.len;
		if (!url && !padded)
			while (cmp && b.data[cmp - 1] == '=')
				cmp--;
		if (url && padded) {
			/* url encoder writes no padding: compare without it */
			size_t in = size;
			while (in && data[in - 1] == '=')
				in--;
			if (in != cmp || memcmp(b.data, data, cmp) != 0)
				abort();
		} else if (cmp != size || (size && memcmp(b.data, data, size) != 0)) {
			abort();
		}
		lwm2m_buf_free(&b);
	}
	free(out);
	return 0;
}
