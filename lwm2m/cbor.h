/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/: a small CBOR (RFC 8949) reader and writer for the SenML
 * CBOR and LwM2M CBOR codecs, plus the helpers those codecs and TLV share.
 *
 * Hand-written instead of libcbor so that it allocates nothing, never reads
 * past the input, and says exactly why an input is refused. The reader is a
 * pull parser over one buffer: the caller peeks at the next head, then reads
 * the item it expects. Strings are returned as descriptors pointing into the
 * input; an indefinite-length string is validated once and copied on demand.
 *
 * Errors: -EBADMSG for anything not well-formed (truncation, reserved
 * additional information, a break out of place, nesting deeper than
 * LW_CBOR_MAX_DEPTH, invalid UTF-8 in a text string), -ERANGE for a negative
 * integer below INT64_MIN. The writer returns -ENOMEM from lwm2m_buf.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

enum {
	CBOR_UINT = 0,
	CBOR_NINT = 1,
	CBOR_BYTES = 2,
	CBOR_TEXT = 3,
	CBOR_ARRAY = 4,
	CBOR_MAP = 5,
	CBOR_TAG = 6,
	CBOR_SIMPLE = 7, /* simple values and floats */
};

enum {
	CBOR_FALSE = 20,
	CBOR_TRUE = 21,
	CBOR_NULL = 22,
	CBOR_UNDEFINED = 23,
};

/* Arrays and maps nested deeper than this are refused: it bounds the
 * recursion of lw_cbor_skip() and keeps hostile input cheap. */
#define LW_CBOR_MAX_DEPTH 16

/* Most records one decode call produces (TLV, SenML CBOR, LwM2M CBOR): a
 * one-byte CBOR map becomes a 64-byte record, so the cap bounds the
 * amplification of a hostile payload. Beyond it decoders return -EBADMSG. */
#define LW_DECODE_MAX_RECORDS 65536

struct lw_cbor_reader {
	const uint8_t *p, *end;
	unsigned depth;
};

/* The initial byte and argument of one data item. */
struct lw_cbor_head {
	uint8_t major;   /* CBOR_* */
	uint8_t ai;      /* additional information: 25/26/27 give a float's width */
	bool indefinite; /* strings, arrays, maps; for CBOR_SIMPLE: the break */
	uint64_t arg;    /* value, length, count, tag, simple value or float bits */
};

/* A byte or text string in the input. When chunked, p points at the first
 * chunk's head, raw is the size of the chunks and their break, and len is
 * the total length of the content (all chunks already checked). */
struct lw_cbor_str {
	const uint8_t *p;
	size_t len, raw;
	bool chunked;
};

/* Position inside an array or map being read. */
struct lw_cbor_iter {
	uint64_t left; /* items (arrays) or pairs (maps) still to read */
	bool indefinite;
};

void lw_cbor_reader_init(struct lw_cbor_reader *r, const uint8_t *data, size_t len);
static inline bool lw_cbor_at_end(const struct lw_cbor_reader *r)
{
	return r->p == r->end;
}

/* Decode the head at the read position without consuming it. */
int lw_cbor_peek(const struct lw_cbor_reader *r, struct lw_cbor_head *h);
/* Decode and consume one head. */
int lw_cbor_head(struct lw_cbor_reader *r, struct lw_cbor_head *h);

/* Consume the head of an array or map (major CBOR_ARRAY or CBOR_MAP, or
 * -EBADMSG) and start iterating it; counts larger than the bytes left are
 * refused at once. */
int lw_cbor_enter(struct lw_cbor_reader *r, uint8_t major, struct lw_cbor_iter *it);
/* 1 when another item (or key/value pair) follows, 0 at the end of the
 * container (its break consumed, depth restored), or -EBADMSG. */
int lw_cbor_next(struct lw_cbor_reader *r, struct lw_cbor_iter *it);

/* Skip one complete data item of any kind. */
int lw_cbor_skip(struct lw_cbor_reader *r);

/* Read an integer or float as a value of type INTEGER, UNSIGNED (only above
 * INT64_MAX) or FLOAT. -EBADMSG when the item is not a number, -ERANGE
 * below INT64_MIN. */
int lw_cbor_read_number(struct lw_cbor_reader *r, struct lwm2m_value *v);
/* Read a byte (CBOR_BYTES) or text (CBOR_TEXT, UTF-8 checked) string,
 * definite or indefinite. */
int lw_cbor_read_str(struct lw_cbor_reader *r, uint8_t major, struct lw_cbor_str *s);
int lw_cbor_read_bool(struct lw_cbor_reader *r, bool *b);
int lw_cbor_read_tag(struct lw_cbor_reader *r, uint64_t *tag);

/* Copy a string's bytes (len of them) to out. */
void lw_cbor_str_copy(const struct lw_cbor_str *s, uint8_t *out);
/* The string as one contiguous span: itself when not chunked, else copied
 * into buf (-EBADMSG when longer than cap). */
int lw_cbor_str_flat(const struct lw_cbor_str *s, uint8_t *buf, size_t cap, const uint8_t **out);
/* A copy in the records' arena (lives until lwm2m_records_clear). -ENOMEM. */
int lw_cbor_str_dup(const struct lw_cbor_str *s, struct lwm2m_records *r, const uint8_t **out);
/* True when the string equals the NUL-terminated lit. */
bool lw_cbor_str_eq(const struct lw_cbor_str *s, const char *lit);

/* Writer: each appends one item in preferred (shortest) serialization. */
int lw_cbor_put_head(struct lwm2m_buf *b, uint8_t major, uint64_t arg);
int lw_cbor_put_uint(struct lwm2m_buf *b, uint64_t v);
int lw_cbor_put_int(struct lwm2m_buf *b, int64_t v);
int lw_cbor_put_str(struct lwm2m_buf *b, uint8_t major, const void *p, size_t n);
int lw_cbor_put_simple(struct lwm2m_buf *b, uint8_t v);
int lw_cbor_put_bool(struct lwm2m_buf *b, bool v);
/* A float in the narrowest of half, single and double precision that gives
 * back exactly the same bits (NaN payloads and -0.0 included). */
int lw_cbor_put_float(struct lwm2m_buf *b, double d);

/* IEEE 754 helpers, exposed for the tests and for TLV's 4-byte floats. */
double lw_half_to_double(uint16_t h);
double lw_single_to_double(uint32_t f);
bool lw_double_to_half(double d, uint16_t *h);
bool lw_double_to_single(double d, uint32_t *f);

/* ---- shared by the binary codecs ---- */

/* "oid:iid" (decimal, each 0..65535) to an OBJLNK value; -EINVAL. */
int lw_objlnk_parse(const uint8_t *s, size_t n, struct lwm2m_value *v);
/* OBJLNK value to "oid:iid"; returns the length (at most 11). */
int lw_objlnk_format(const struct lwm2m_value *v, char out[12]);

/* A decoded value given to a resource of type want (from type_of; NONE or
 * out of range keeps the value as decoded). Numbers convert losslessly with
 * lwm2m_value_convert (-ERANGE when they cannot), text becomes String or
 * Corelnk; any other mismatch is -EINVAL. */
int lw_value_as(const struct lwm2m_value *in, enum lwm2m_type want, struct lwm2m_value *out);

/* The type type_of gives p, NONE when type_of is NULL or answers nonsense. */
enum lwm2m_type lw_type_of(lwm2m_type_fn type_of, void *ctx, const struct lwm2m_path *p);

/* Decoders whose payload is a tree (TLV, LwM2M CBOR) call this on the
 * records they produced: the same path twice, or a path that is also the
 * parent of another, is -EBADMSG. -ENOMEM. */
int lw_records_check_tree(const struct lwm2m_record *v, size_t n);
