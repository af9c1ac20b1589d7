/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/: helpers shared by the textual content formats (text,
 * SenML JSON, LwM2M JSON). Defined in text.c (scalars) and senml_json.c
 * (JSON reading and writing).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

struct json_object;

/* ---- text.c: scalars ------------------------------------------------------ */

/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. NUL is a valid character. */
bool lwm2m_utf8_valid(const uint8_t *p, size_t n);

/* "oid:iid", each 0..65535 in plain decimal digits. -EBADMSG otherwise;
 * an id above 65535 is -ERANGE. */
int lwm2m_text_parse_objlnk(const char *s, size_t n, struct lwm2m_value *out);

/* Strict decimal floating point: -?DIGITS(.DIGITS)?([eE][+-]?DIGITS)? and
 * nothing else. The result is strtod()'s correctly rounded double; a value
 * beyond the double range or a non-zero value that rounds to zero is -ERANGE.
 * Assumes the C locale for LC_NUMERIC (lwm2m/ never calls setlocale). */
int lwm2m_text_parse_double(const char *s, size_t n, double *out);

/* A prefix of Object 25 addressing: 1..64 bytes of [A-Za-z0-9_.~-], not all
 * digits (the rule of lwm2m_path_parse()). Encoders check it before putting
 * it into a name. */
bool lwm2m_prefix_valid(const struct lwm2m_span *prefix);

/* ---- senml_json.c: JSON ---------------------------------------------------- */

/* Append p[0..n) as a JSON string with its quotes. Every control character
 * is escaped (NUL as \u0000, so nothing is cut). -EINVAL when p is not valid
 * UTF-8 (JSON cannot carry arbitrary bytes), -ENOMEM. */
int lwm2m_json_put_string(struct lwm2m_buf *b, const void *p, size_t n);
/* Append a double in the shortest exact form. With float_form the text always
 * reads as a JSON float ("1.0", not "1") so a reader that types numbers by
 * their form gets a Float back. -EINVAL for NaN and infinities. */
int lwm2m_json_put_double(struct lwm2m_buf *b, double v, bool float_form);

/* Parse a whole JSON document (RFC 8259, strictly: no trailing data, no
 * NaN/Infinity, no lone surrogates, no raw control characters, valid UTF-8,
 * no duplicate member names, nesting at most 16 deep). Integers written
 * without fraction or exponent must lie in [INT64_MIN, UINT64_MAX] and
 * floats must be finite and not underflow to zero: -ERANGE otherwise, so no
 * number ever changes silently. On success *out is a new json-c tree
 * (json_object_put() it). -EBADMSG for malformed input, -ENOMEM. */
int lwm2m_json_parse(const uint8_t *data, size_t len, struct json_object **out);

/* A JSON number as a value of its natural type: Integer (fits int64),
 * Unsigned (above INT64_MAX) or Float (written with fraction or exponent).
 * -EBADMSG when o is not a number. */
int lwm2m_json_number(struct json_object *o, struct lwm2m_value *out);

/* Convert a value decoded from a textual format to the resource type t:
 * NONE keeps it; Float takes the nearest double of an integer (as strtod of
 * its digits would); otherwise lwm2m_value_convert(). */
int lwm2m_textual_to_type(const struct lwm2m_value *in, enum lwm2m_type t, struct lwm2m_value *out);

/* Start a member: `"key":`, preceded by ',' unless *first (then cleared). */
int lwm2m_json_put_key(struct lwm2m_buf *b, bool *first, const char *key);

/* The member names of a value in the two JSON formats (SenML JSON "vs",
 * "v", "vb", "vlo", "vd"; LwM2M JSON "sv", "v", "bv", "ov", "sv"), and
 * whether opaque values use the URL-safe base64 alphabet (SenML). */
struct lwm2m_json_labels {
	const char *string, *number, *boolean, *objlnk, *opaque;
	bool url_base64;
};
/* The value member of one record (nothing for type NONE) with those
 * labels. -EINVAL for an unknown type or opaque bytes without a pointer. */
int lwm2m_json_put_value(struct lwm2m_buf *b, bool *first, const struct lwm2m_value *v,
			 const struct lwm2m_json_labels *l);

/* Names for the JSON encoders. The full name of a record is its prefix and
 * path, "/dev0/3/0/1" or "/3/0/1" (at most 96 bytes with the NUL); -EINVAL
 * for an invalid prefix. */
#define LWM2M_JSON_NAME_MAX 96
int lwm2m_json_full_name(const struct lwm2m_span *prefix, const struct lwm2m_path *p,
			 char out[LWM2M_JSON_NAME_MAX]);

/* How records that share one prefix are named: bn, and how many bytes of
 * each full name it covers (the rest is n, omitted when empty). bn is the
 * prefix and request path, with a '/' appended unless some record sits at
 * the request path itself; empty for the root without prefix (names are
 * then absolute). */
struct lwm2m_json_names {
	char bn[LWM2M_JSON_NAME_MAX + 1];
	size_t skip;
};
int lwm2m_json_plan_names(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			  struct lwm2m_json_names *plan);
bool lwm2m_same_prefix(const struct lwm2m_span *a, const struct lwm2m_span *b);
