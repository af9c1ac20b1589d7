/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transforms against golden vectors in tests/data/mappings/transform/ (*.vec)
 * (format described at the top of integers.vec), both directions, plus the
 * byte-order helpers and text-to-value parsing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mappings/mapping.h"
#include "tests/unit/testutil.h"

static const struct {
	const char *name;
	int err;
} errs[] = { { "ERANGE", -ERANGE }, { "EBADMSG", -EBADMSG }, { "ENOENT", -ENOENT }, { "EINVAL", -EINVAL } };

static int err_of(const char *s)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (strcmp(s, errs[i].name) == 0)
			return errs[i].err;
	return 0;
}

static const char *const raw_words[] = { "value",   "int8",   "uint8",  "int16", "uint16", "int24",
					 "uint24",  "int32",  "uint32", "int64", "uint64", "float32",
					 "float64", "string", "bits",   NULL };

struct vec {
	const char *file;
	unsigned line;
	char dir[8];
	struct mapping_transform xf;
	enum lwm2m_type type;
	/* sample: bytes or typed */
	uint8_t bytes[64], strbuf[64];
	size_t nbytes;
	struct mapping_sample sample;
	int sample_err; /* column 4 named an error */
	struct lwm2m_value value;
	uint8_t valbuf[64];
};

/* "..." with \xNN escapes into buf. */
static size_t unquote(const char *s, uint8_t *buf, size_t cap, const char *where)
{
	size_t n = 0, len = strlen(s);

	if (len < 2 || s[0] != '"' || s[len - 1] != '"')
		fail_msg("%s: bad string %s", where, s);
	for (size_t i = 1; i + 1 < len && n < cap; i++) {
		if (s[i] == '\\' && s[i + 1] == 'x') {
			unsigned v;
			if (sscanf(s + i + 2, "%2x", &v) != 1)
				fail_msg("%s: bad escape", where);
			buf[n++] = (uint8_t)v;
			i += 3;
		} else {
			buf[n++] = (uint8_t)s[i];
		}
	}
	return n;
}

static void parse_sample(struct vec *v, const char *s, const char *where)
{
	if (strncmp(s, "i:", 2) == 0)
		v->sample = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						     .value = { .type = LWM2M_TYPE_INTEGER,
								.i = strtoll(s + 2, NULL, 10) } };
	else if (strncmp(s, "u:", 2) == 0)
		v->sample = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						     .value = { .type = LWM2M_TYPE_UNSIGNED,
								.u = strtoull(s + 2, NULL, 10) } };
	else if (strncmp(s, "f:", 2) == 0)
		v->sample = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						     .value = { .type = LWM2M_TYPE_FLOAT,
								.f = strtod(s + 2, NULL) } };
	else if (strncmp(s, "b:", 2) == 0)
		v->sample = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						     .value = { .type = LWM2M_TYPE_BOOLEAN,
								.b = strcmp(s + 2, "true") == 0 } };
	else if (strncmp(s, "s:", 2) == 0) {
		size_t n = unquote(s + 2, v->strbuf, sizeof(v->strbuf), where);
		v->sample = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						     .value = { .type = LWM2M_TYPE_STRING,
								.bytes = { v->strbuf, n } } };
	} else {
		size_t n = 0;
		if (strcmp(s, "-") != 0) {
			uint8_t *b = tu_hex(s, &n);
			if (n > sizeof(v->bytes))
				fail_msg("%s: sample too long", where);
			memcpy(v->bytes, b, n);
			free(b);
		}
		v->nbytes = n;
		v->sample =
			(struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES, .bytes = v->bytes, .len = n };
	}
}

static void parse_value(struct vec *v, const char *s, const char *where)
{
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
		v->value = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = strtoll(s, NULL, 10) };
		break;
	case LWM2M_TYPE_UNSIGNED:
		v->value = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = strtoull(s, NULL, 10) };
		break;
	case LWM2M_TYPE_FLOAT:
		v->value = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = strtod(s, NULL) };
		break;
	case LWM2M_TYPE_BOOLEAN:
		v->value = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = strcmp(s, "true") == 0 };
		break;
	case LWM2M_TYPE_STRING: {
		size_t n = unquote(s, v->valbuf, sizeof(v->valbuf), where);
		v->value = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { v->valbuf, n } };
		break;
	}
	default:
		fail_msg("%s: type", where);
	}
}

static void check_value(const struct lwm2m_value *got, const struct lwm2m_value *want, const char *where)
{
	if (got->type != want->type)
		fail_msg("%s: type %d, expected %d", where, got->type, want->type);
	switch (want->type) {
	case LWM2M_TYPE_INTEGER:
		if (got->i != want->i)
			fail_msg("%s: got %" PRId64 ", expected %" PRId64, where, got->i, want->i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		if (got->u != want->u)
			fail_msg("%s: got %" PRIu64 ", expected %" PRIu64, where, got->u, want->u);
		break;
	case LWM2M_TYPE_FLOAT:
		if (memcmp(&got->f, &want->f, sizeof(double)) != 0)
			fail_msg("%s: got %.17g, expected %.17g", where, got->f, want->f);
		break;
	case LWM2M_TYPE_BOOLEAN:
		if (got->b != want->b)
			fail_msg("%s: got %d, expected %d", where, got->b, want->b);
		break;
	default:
		if (got->bytes.len != want->bytes.len ||
		    (want->bytes.len && memcmp(got->bytes.ptr, want->bytes.ptr, want->bytes.len)))
			fail_msg("%s: string differs (len %zu vs %zu)", where, got->bytes.len,
				 want->bytes.len);
	}
}

static void check_sample(const struct mapping_sample *got, const struct mapping_sample *want,
			 const char *where)
{
	if (got->kind != want->kind)
		fail_msg("%s: sample kind %d, expected %d", where, got->kind, want->kind);
	if (want->kind == MAPPING_SAMPLE_VALUE) {
		check_value(&got->value, &want->value, where);
		return;
	}
	if (got->len != want->len || (want->len && memcmp(got->bytes, want->bytes, want->len))) {
		char hex[200] = "";
		for (size_t i = 0; i < got->len && i < 64; i++)
			sprintf(hex + 2 * i, "%02x", got->bytes[i]);
		fail_msg("%s: encoded %s (len %zu), expected len %zu", where, hex, got->len, want->len);
	}
}

static void run_line(char *line, const char *file, unsigned lineno, unsigned *count)
{
	char *tok[16];
	size_t n = 0;
	char where[256];
	struct vec v = { .file = file, .line = lineno };
	const char *sample_opt = NULL;

	for (char *save, *t = strtok_r(line, " \t\r\n", &save); t && n < 16;
	     t = strtok_r(NULL, " \t\r\n", &save))
		tok[n++] = t;
	if (n == 0 || tok[0][0] == '#')
		return;
	snprintf(where, sizeof(where), "%s:%u", file, lineno);
	if (n < 6)
		fail_msg("%s: too few columns", where);
	snprintf(v.dir, sizeof(v.dir), "%s", tok[0]);
	size_t ri;
	for (ri = 0; raw_words[ri] && strcmp(raw_words[ri], tok[1]) != 0; ri++)
		;
	if (!raw_words[ri])
		fail_msg("%s: raw %s", where, tok[1]);
	v.xf.raw = (uint8_t)ri;
	assert_string_equal(mapping_raw_name((enum mapping_raw)ri), tok[1]);
	const char *orders[] = { "ABCD", "BADC", "CDAB", "DCBA" };
	for (uint8_t o = 0; o < 4; o++)
		if (strcmp(tok[2], orders[o]) == 0)
			v.xf.order = o;
	if (!strcmp(tok[4], "Unsigned"))
		v.type = LWM2M_TYPE_UNSIGNED;
	else if (lwm2m_type_from_name(tok[4], strlen(tok[4]), &v.type) < 0)
		fail_msg("%s: type %s", where, tok[4]);
	double scale = 1, offset = 0;
	for (size_t i = 6; i < n; i++) {
		char *eq = strchr(tok[i], '=');
		if (!eq)
			fail_msg("%s: option %s", where, tok[i]);
		*eq++ = '\0';
		if (!strcmp(tok[i], "scale"))
			scale = strtod(eq, NULL);
		else if (!strcmp(tok[i], "offset"))
			offset = strtod(eq, NULL);
		else if (!strcmp(tok[i], "round"))
			v.xf.round = !strcmp(eq, "nearest") ? MAPPING_ROUND_NEAREST
				     : !strcmp(eq, "floor") ? MAPPING_ROUND_FLOOR
				     : !strcmp(eq, "ceil")  ? MAPPING_ROUND_CEIL
							    : MAPPING_ROUND_TRUNC;
		else if (!strcmp(tok[i], "bit"))
			v.xf.bit = (uint8_t)atoi(eq);
		else if (!strcmp(tok[i], "bits"))
			v.xf.bits = (uint8_t)atoi(eq);
		else if (!strcmp(tok[i], "width"))
			v.xf.width = (uint8_t)atoi(eq);
		else if (!strcmp(tok[i], "length"))
			v.xf.length = (uint32_t)atoi(eq);
		else if (!strcmp(tok[i], "min")) {
			v.xf.has_min = true;
			v.xf.min = strtod(eq, NULL);
		} else if (!strcmp(tok[i], "max")) {
			v.xf.has_max = true;
			v.xf.max = strtod(eq, NULL);
		} else if (!strcmp(tok[i], "sample"))
			sample_opt = eq;
		else
			fail_msg("%s: option %s", where, tok[i]);
	}
	if (scale != 1 || offset != 0) {
		v.xf.has_scale = true;
		v.xf.scale = scale;
		v.xf.offset = offset;
		double inv = 1 / scale;
		if (fabs(scale) < 1 && nearbyint(inv) >= 2 && 1.0 / nearbyint(inv) == scale)
			v.xf.scale_div = (uint64_t)nearbyint(inv);
	}
	v.sample_err = err_of(tok[3]);
	if (v.sample_err)
		parse_sample(&v, sample_opt ? sample_opt : "-", where);
	else
		parse_sample(&v, tok[3], where);
	int value_err = err_of(tok[5]);
	if (!value_err)
		parse_value(&v, tok[5], where);

	bool dec = !strcmp(v.dir, "both") || !strcmp(v.dir, "decode");
	bool enc = !strcmp(v.dir, "both") || !strcmp(v.dir, "encode");
	if (!dec && !enc)
		fail_msg("%s: direction %s", where, v.dir);

	if (dec) {
		struct lwm2m_value out = { .type = 99 };
		int r = mapping_transform_decode(&v.xf, v.type, &v.sample, &out);
		if (v.sample_err && !strcmp(v.dir, "decode")) {
			if (r != v.sample_err)
				fail_msg("%s: decode returned %d, expected %s", where, r, tok[3]);
			if (out.type != 99)
				fail_msg("%s: output changed on error", where);
		} else if (r != 0) {
			fail_msg("%s: decode returned %d (%s)", where, r, strerror(-r));
		} else {
			check_value(&out, &v.value, where);
		}
	}
	if (enc) {
		uint8_t buf[64];
		struct mapping_sample out = { .kind = 77 };
		int r = mapping_transform_encode(&v.xf, v.type, &v.value, buf, sizeof(buf), &out);
		if (v.sample_err) {
			if (r != v.sample_err)
				fail_msg("%s: encode returned %d, expected %s", where, r, tok[3]);
		} else if (r != 0) {
			fail_msg("%s: encode returned %d (%s)", where, r, strerror(-r));
		} else {
			check_sample(&out, &v.sample, where);
		}
	}
	(*count)++;
}

static void test_vectors(void **state)
{
	char **names;
	size_t n = tu_list_data("mappings/transform", ".vec", &names);
	unsigned count = 0;

	(void)state;
	assert_true(n >= 5);
	for (size_t i = 0; i < n; i++) {
		char rel[256];
		size_t len;
		snprintf(rel, sizeof(rel), "mappings/transform/%s", names[i]);
		char *text = (char *)tu_read_data(rel, &len);
		unsigned lineno = 0;
		for (char *save, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			/* strtok_r skips empty lines; count from the text for messages */
			lineno = 1;
			for (char *p = text; p < l; p++)
				lineno += *p == '\n' || *p == '\0';
			char copy[512];
			snprintf(copy, sizeof(copy), "%s", l);
			run_line(copy, names[i], lineno, &count);
		}
		free(text);
		free(names[i]);
	}
	free(names);
	print_message("# %u golden vectors\n", count);
	assert_true(count >= 100);
}

static void test_orders(void **state)
{
	const uint8_t abcd[] = { 0x11, 0x22, 0x33, 0x44 };
	uint8_t out[8];
	uint64_t v;

	(void)state;
	assert_int_equal(mapping_get_uint(abcd, 4, MAPPING_ORDER_ABCD, &v), 0);
	assert_int_equal(v, 0x11223344);
	assert_int_equal(mapping_get_uint(abcd, 4, MAPPING_ORDER_CDAB, &v), 0);
	assert_int_equal(v, 0x33441122);
	assert_int_equal(mapping_get_uint(abcd, 4, MAPPING_ORDER_BADC, &v), 0);
	assert_int_equal(v, 0x22114433);
	assert_int_equal(mapping_get_uint(abcd, 4, MAPPING_ORDER_DCBA, &v), 0);
	assert_int_equal(v, 0x44332211);
	/* 24-bit values have no whole words to swap */
	assert_int_equal(mapping_get_uint(abcd, 3, MAPPING_ORDER_CDAB, &v), -EINVAL);
	assert_int_equal(mapping_get_uint(abcd, 0, MAPPING_ORDER_ABCD, &v), -EINVAL);
	assert_int_equal(mapping_put_uint(out, 8, MAPPING_ORDER_CDAB, 0x0102030405060708ull), 0);
	const uint8_t want[] = { 0x07, 0x08, 0x05, 0x06, 0x03, 0x04, 0x01, 0x02 };
	assert_memory_equal(out, want, 8);
	assert_int_equal(mapping_raw_size(MAPPING_RAW_BITS, 32), 4);
	assert_int_equal(mapping_raw_size(MAPPING_RAW_STRING, 0), 0);
	assert_null(mapping_raw_name(MAPPING_RAW__MAX));
}

static void test_enum_and_words(void **state)
{
	static const struct mapping_enum_entry e[] = {
		{ { .type = LWM2M_TYPE_INTEGER, .i = 0 },
		  { .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"off", 3 } } },
		{ { .type = LWM2M_TYPE_INTEGER, .i = 1 },
		  { .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"heating", 7 } } },
	};
	static const char *const tw[] = { "AN" }, *const fw[] = { "AUS" };
	struct mapping_transform xf = { .raw = MAPPING_RAW_UINT16, .enums = e, .nenums = 2 };
	const uint8_t one[] = { 0, 1 }, five[] = { 0, 5 };
	struct mapping_sample s = { .bytes = one, .len = 2 };
	struct lwm2m_value v = { 0 }, in;
	uint8_t buf[8];

	(void)state;
	assert_int_equal(mapping_transform_decode(&xf, LWM2M_TYPE_STRING, &s, &v), 0);
	assert_int_equal(v.bytes.len, 7);
	assert_memory_equal(v.bytes.ptr, "heating", 7);
	s.bytes = five;
	v.type = 42;
	assert_int_equal(mapping_transform_decode(&xf, LWM2M_TYPE_STRING, &s, &v), -ENOENT);
	assert_int_equal(v.type, 42); /* never a guessed value */
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"off", 3 } };
	assert_int_equal(mapping_transform_encode(&xf, LWM2M_TYPE_STRING, &in, buf, sizeof(buf), &s), 0);
	assert_int_equal(s.len, 2);
	assert_int_equal(s.bytes[0], 0);
	assert_int_equal(s.bytes[1], 0);
	in.bytes.ptr = (const uint8_t *)"cooling";
	in.bytes.len = 7;
	assert_int_equal(mapping_transform_encode(&xf, LWM2M_TYPE_STRING, &in, buf, sizeof(buf), &s),
			 -ENOENT);

	/* configurable words, exact case */
	struct mapping_transform bx = {
		.raw = MAPPING_RAW_VALUE, .true_words = tw, .ntrue = 1, .false_words = fw, .nfalse = 1
	};
	struct mapping_sample t = { .kind = MAPPING_SAMPLE_VALUE,
				    .value = { .type = LWM2M_TYPE_STRING,
					       .bytes = { (const uint8_t *)"AUS", 3 } } };
	v.b = true;
	assert_int_equal(mapping_transform_decode(&bx, LWM2M_TYPE_BOOLEAN, &t, &v), 0);
	assert_int_equal(v.type, LWM2M_TYPE_BOOLEAN);
	assert_false(v.b);
	t.value.bytes.ptr = (const uint8_t *)"ON";
	t.value.bytes.len = 2;
	assert_int_equal(mapping_transform_decode(&bx, LWM2M_TYPE_BOOLEAN, &t, &v), -ERANGE);
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = true };
	assert_int_equal(mapping_transform_encode(&bx, LWM2M_TYPE_BOOLEAN, &in, buf, sizeof(buf), &t), 0);
	assert_int_equal(t.kind, MAPPING_SAMPLE_VALUE);
	assert_int_equal(t.value.type, LWM2M_TYPE_STRING);
	assert_int_equal(t.value.bytes.len, 2);
	assert_memory_equal(t.value.bytes.ptr, "AN", 2);

	/* buffer too small */
	struct mapping_transform f64 = { .raw = MAPPING_RAW_FLOAT64 };
	in = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 1 };
	assert_int_equal(mapping_transform_encode(&f64, LWM2M_TYPE_FLOAT, &in, buf, 4, &t), -ENOBUFS);
	/* NaN is never written */
	in.f = NAN;
	assert_int_equal(mapping_transform_encode(&f64, LWM2M_TYPE_FLOAT, &in, buf, sizeof(buf), &t),
			 -ERANGE);
}

static void test_value_from_text(void **state)
{
	struct lwm2m_value v;

	(void)state;
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_INTEGER, "-12", 3, &v), 0);
	assert_int_equal(v.i, -12);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_INTEGER, "1.5", 3, &v), -EINVAL);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_INTEGER, "99999999999999999999", 20, &v),
			 -ERANGE);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_UNSIGNED, "-1", 2, &v), -EINVAL);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_FLOAT, "21.5", 4, &v), 0);
	assert_true(v.f == 21.5);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_FLOAT, "nan", 3, &v), -EINVAL);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_BOOLEAN, "true", 4, &v), 0);
	assert_true(v.b);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_BOOLEAN, "0", 1, &v), 0);
	assert_false(v.b);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_BOOLEAN, "maybe", 5, &v), -EINVAL);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_OBJLNK, "3303:1", 6, &v), 0);
	assert_int_equal(v.lnk.oid, 3303);
	assert_int_equal(v.lnk.iid, 1);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_OBJLNK, "3303:", 5, &v), -EINVAL);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_STRING, "a\0b", 3, &v), 0);
	assert_int_equal(v.bytes.len, 3);
	assert_int_equal(mapping_value_from_text(LWM2M_TYPE_NONE, "x", 1, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_orders),
		cmocka_unit_test(test_enum_and_words),
		cmocka_unit_test(test_value_from_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
