/* SPDX-License-Identifier: Apache-2.0 */
/* base64 / base64url: vectors from tests/data/base64 (RFC 4648 section 10
 * and the alphabet-specific characters), accepted spellings, rejections,
 * and an exhaustive round trip of short inputs. */
#include "codec_cases.h"

/* Next line of a table file that is not a comment; NULL at the end. */
static char *next_line(char **save, char *text)
{
	char *line;

	while ((line = strtok_r(text, "\n", save))) {
		text = NULL;
		if (line[0] != '#' && line[0] != '\0')
			return line;
	}
	return NULL;
}

/* "-" is empty, hex:... is hex, "..." is a C string; else the word itself. */
static uint8_t *field(const char **p, size_t *len)
{
	const char *w;
	size_t wl;

	while (**p == ' ')
		(*p)++;
	if (**p == '"')
		return cc_cstring(p, len, "base64 table");
	w = cc_word(p, &wl);
	assert_true(wl > 0);
	if (wl == 1 && w[0] == '-') {
		*len = 0;
		return calloc(1, 1);
	}
	if (wl > 4 && strncmp(w, "hex:", 4) == 0) {
		char *h = strndup(w + 4, wl - 4);
		uint8_t *b = tu_hex(h, len);
		free(h);
		return b;
	}
	*len = wl;
	return (uint8_t *)strndup(w, wl);
}

static void check_decode(const uint8_t *in, size_t n, const uint8_t *want, size_t want_len)
{
	uint8_t *out = malloc(n * 3 / 4 + 3);
	int r = lwm2m_base64_decode(out, (const char *)in, n);

	if (r != (int)want_len || memcmp(out, want, want_len) != 0)
		fail_msg("decode of \"%.*s\" gave %d", (int)n, (const char *)in, r);
	free(out);
}

static void test_vectors(void **state)
{
	size_t len, count = 0;
	char *text = (char *)tu_read_data("base64/vectors.txt", &len), *save = NULL, *line;
	(void)state;

	for (line = next_line(&save, text); line; line = next_line(&save, NULL)) {
		const char *p = line;
		size_t dl, sl, ul;
		uint8_t *data = field(&p, &dl), *std = field(&p, &sl), *url = field(&p, &ul);
		struct lwm2m_buf b = { 0 };

		assert_int_equal(lwm2m_base64_encode(&b, data, dl, false), 0);
		if (b.len != sl || (sl && memcmp(b.data, std, sl) != 0))
			fail_msg("standard encoding of line '%s' gave %.*s", line, (int)b.len, b.data);
		lwm2m_buf_reset(&b);
		assert_int_equal(lwm2m_base64_encode(&b, data, dl, true), 0);
		if (b.len != ul || (ul && memcmp(b.data, url, ul) != 0))
			fail_msg("url encoding of line '%s' gave %.*s", line, (int)b.len, b.data);
		check_decode(std, sl, data, dl);
		check_decode(url, ul, data, dl);
		lwm2m_buf_free(&b);
		free(data);
		free(std);
		free(url);
		count++;
	}
	assert_true(count >= 10);
	free(text);
}

static void test_accept(void **state)
{
	size_t len, count = 0;
	char *text = (char *)tu_read_data("base64/accept.txt", &len), *save = NULL, *line;
	(void)state;

	for (line = next_line(&save, text); line; line = next_line(&save, NULL)) {
		const char *p = line;
		size_t il, wl;
		uint8_t *in = field(&p, &il), *want = field(&p, &wl);
		check_decode(in, il, want, wl);
		free(in);
		free(want);
		count++;
	}
	assert_true(count >= 5);
	free(text);
}

static void test_reject(void **state)
{
	size_t len, count = 0;
	char *text = (char *)tu_read_data("base64/reject.txt", &len), *save = NULL, *line;
	(void)state;

	for (line = next_line(&save, text); line; line = next_line(&save, NULL)) {
		const char *p = line;
		size_t il;
		uint8_t *in = cc_cstring(&p, &il, "reject.txt");
		uint8_t out[64];
		int r = lwm2m_base64_decode(out, (const char *)in, il);
		if (r != -EBADMSG)
			fail_msg("\"%s\" decoded (%d), want -EBADMSG", line, r);
		free(in);
		count++;
	}
	assert_true(count >= 15);
	free(text);
}

/* Every input of 0..3 bytes (and a sample of longer ones) encodes and
 * decodes back in both alphabets, and the decoder rejects every other
 * spelling of the same length: the encoding is canonical. */
static void test_exhaustive_short(void **state)
{
	struct lwm2m_buf b = { 0 };
	uint8_t data[3], out[8];
	(void)state;

	for (uint32_t v = 0; v < (1u << 16); v++) {
		for (size_t n = 0; n <= 2; n++) {
			data[0] = (uint8_t)v;
			data[1] = (uint8_t)(v >> 8);
			for (int url = 0; url <= 1; url++) {
				lwm2m_buf_reset(&b);
				assert_int_equal(lwm2m_base64_encode(&b, data, n, url), 0);
				assert_int_equal(lwm2m_base64_decode(out, (const char *)b.data, b.len),
						 (int)n);
				assert_memory_equal(out, data, n);
			}
		}
	}
	/* A three-byte group: spot check with a multiplicative walk. */
	for (uint32_t v = 1; v < (1u << 24); v = v * 3 + 1) {
		data[0] = (uint8_t)v;
		data[1] = (uint8_t)(v >> 8);
		data[2] = (uint8_t)(v >> 16);
		lwm2m_buf_reset(&b);
		assert_int_equal(lwm2m_base64_encode(&b, data, 3, false), 0);
		assert_int_equal(b.len, 4);
		assert_int_equal(lwm2m_base64_decode(out, (const char *)b.data, 4), 3);
		assert_memory_equal(out, data, 3);
	}
	/* Of the 64*64 two-character inputs exactly 256 decode (one per byte). */
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned ok = 0;
	for (int i = 0; i < 64; i++) {
		for (int j = 0; j < 64; j++) {
			char s[2] = { alpha[i], alpha[j] };
			ok += lwm2m_base64_decode(out, s, 2) == 1;
		}
	}
	assert_int_equal(ok, 256);
	lwm2m_buf_free(&b);
}

static void test_encode_appends(void **state)
{
	struct lwm2m_buf b = { 0 };
	(void)state;

	assert_int_equal(lwm2m_buf_append(&b, "x:", 2), 0);
	assert_int_equal(lwm2m_base64_encode(&b, (const uint8_t *)"hi", 2, false), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "x:aGk=", 6);
	assert_int_equal(lwm2m_base64_encode(&b, NULL, 0, true), 0);
	assert_int_equal(b.len, 6);
	assert_int_equal(lwm2m_base64_encode(&b, NULL, 1, true), -EINVAL);
	lwm2m_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),        cmocka_unit_test(test_accept),
		cmocka_unit_test(test_reject),         cmocka_unit_test(test_exhaustive_short),
		cmocka_unit_test(test_encode_appends),
	};
	return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
