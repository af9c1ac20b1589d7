/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SenML JSON (RFC 8428), content format 110, as LwM2M TS 1.1 Core 7.4.4
 * uses it; plus the JSON helpers shared with LwM2M JSON (lwm2m_json.c).
 *
 * Encoding: one record per value. The base name carries the request path
 * ("bn":"/3/0/" then "n":"0", "n":"6/1"); a single value at the request path
 * is "bn":"/3/0/0" alone; with the root as base the names are absolute
 * ("n":"/3/0/0"). An Object 25 prefix goes in front ("/dev0/3303/0/").
 * Values: "v" for Integer, Unsigned, Time and Float (a Float always with a
 * fraction or exponent, "1.0", so it reads back as a Float), "vs" for
 * String and Corelnk, "vb" for Boolean, "vd" for Opaque (base64url without
 * padding), "vlo" for Objlnk ("3:0"); a record without value has only its
 * name (Read-Composite / Observe-Composite requests). A time stamp is
 * written as "t" with the resolved time (no "bt").
 *
 * Decoding: "bn", "bt" and "bv" apply to their record and the ones after it
 * until replaced; the name is bn + n and must be an absolute LwM2M path at
 * or below the request path (-EINVAL otherwise); time is bt + t when either
 * is present. A "bver" above 10 (the version RFC 8428 defines) is -EBADMSG. Labels ending in '_' must be
 * understood, so they are -EBADMSG; other unknown labels are ignored; a known label of the wrong JSON type,
 * or two values in one record, is -EBADMSG. Numbers take the resource type from type_of (Integer for integral
 * text and Float for text with fraction or exponent when unknown, Unsigned above INT64_MAX); "vd" accepts
 * both base64 alphabets. A record without a value field decodes with type NONE.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lwm2m/codec_internal.h"
#include "lwm2m/textual_internal.h"

/* ---- JSON writing ---------------------------------------------------------- */

int lwm2m_json_put_string(struct lwm2m_buf *b, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = p;
	size_t start = b->len, run = 0;
	int r;

	if (n && !p)
		return -EINVAL;
	if (!lwm2m_utf8_valid(s, n))
		return -EINVAL;
	r = lwm2m_buf_putc(b, '"');
	for (size_t i = 0; r == 0 && i < n; i++) {
		char esc[6] = { '\\', 0, '0', '0', 0, 0 };
		size_t elen = 2;
		switch (s[i]) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			if (s[i] >= 0x20)
				continue; /* part of the current unescaped run */
			esc[1] = 'u';
			esc[4] = hex[s[i] >> 4];
			esc[5] = hex[s[i] & 15];
			elen = 6;
			break;
		}
		/* Flush the unescaped bytes before this one, then the escape. */
		r = lwm2m_buf_append(b, s + run, i - run);
		if (r == 0)
			r = lwm2m_buf_append(b, esc, elen);
		run = i + 1;
	}
	if (r == 0)
		r = lwm2m_buf_append(b, s + run, n - run);
	if (r == 0)
		r = lwm2m_buf_putc(b, '"');
	if (r < 0)
		b->len = start;
	return r;
}

int lwm2m_json_put_double(struct lwm2m_buf *b, double v, bool float_form)
{
	char num[32];
	int n = lwm2m_fmt_double(v, num);

	if (n < 0)
		return n;
	if (float_form && !strpbrk(num, ".eE")) {
		if ((size_t)n + 2 >= sizeof(num))
			return -EINVAL;
		memcpy(num + n, ".0", 3);
		n += 2;
	}
	return lwm2m_buf_append(b, num, (size_t)n);
}

int lwm2m_json_full_name(const struct lwm2m_span *prefix, const struct lwm2m_path *p,
			 char out[LWM2M_JSON_NAME_MAX])
{
	char path[32];
	int n = lwm2m_path_format(p, path);

	if (n < 0)
		return n;
	if (!prefix->len) {
		memcpy(out, path, (size_t)n + 1);
		return n;
	}
	if (!lwm2m_prefix_valid(prefix))
		return -EINVAL;
	/* "/dev0" + "/3/0" ("/dev0" alone for the root) */
	n = snprintf(out, LWM2M_JSON_NAME_MAX, "/%.*s%s", (int)prefix->len, prefix->ptr, p->len ? path : "");
	return n > 0 && n < LWM2M_JSON_NAME_MAX ? n : -EINVAL;
}

/* ---- JSON reading ---------------------------------------------------------- */

#define JSON_MAX_DEPTH 16
#define JSON_DUP_CHECK 32 /* members per object checked for duplicate names */

struct jscan {
	const uint8_t *p;
	size_t n, i;
};

static void jskip_ws(struct jscan *s)
{
	while (s->i < s->n &&
	       (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' || s->p[s->i] == '\r'))
		s->i++;
}

static int hex4(const uint8_t *p, unsigned *out)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		uint8_t c = p[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -EBADMSG;
	}
	*out = v;
	return 0;
}

/* A string at s->i ('"'). Member names (is_name) may not contain U+0000:
 * json-c keeps names as C strings and would cut them. */
static int jscan_string(struct jscan *s, bool is_name)
{
	size_t run = ++s->i;

	for (;;) {
		uint8_t c;
		unsigned u, lo;

		if (s->i >= s->n)
			return -EBADMSG;
		c = s->p[s->i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			s->i++;
			continue;
		}
		/* Multi-byte UTF-8 sequences never contain ASCII bytes, so each
		 * run between escapes can be checked on its own. */
		if (!lwm2m_utf8_valid(s->p + run, s->i - run))
			return -EBADMSG;
		if (c == '"') {
			s->i++;
			return 0;
		}
		if (c < 0x20 || s->i + 1 >= s->n)
			return -EBADMSG;
		c = s->p[s->i + 1];
		if (c != 'u') {
			if (!strchr("\"\\/bfnrt", c) || c == 0)
				return -EBADMSG;
			s->i += 2;
			run = s->i;
			continue;
		}
		if (s->n - s->i < 6 || hex4(s->p + s->i + 2, &u) < 0)
			return -EBADMSG;
		s->i += 6;
		if (u == 0 && is_name)
			return -EBADMSG;
		if (u >= 0xDC00 && u <= 0xDFFF)
			return -EBADMSG; /* lone low surrogate */
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (s->n - s->i < 6 || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u' ||
			    hex4(s->p + s->i + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
				return -EBADMSG;
			s->i += 6;
		}
		run = s->i;
	}
}

static int jscan_number(struct jscan *s)
{
	size_t start = s->i, digits;
	bool is_float = false;
	const uint8_t *p = s->p;

	if (s->i < s->n && p[s->i] == '-')
		s->i++;
	if (s->i >= s->n || p[s->i] < '0' || p[s->i] > '9')
		return -EBADMSG;
	if (p[s->i] == '0')
		s->i++; /* no leading zeros */
	else
		while (s->i < s->n && p[s->i] >= '0' && p[s->i] <= '9')
			s->i++;
	if (s->i < s->n && p[s->i] == '.') {
		is_float = true;
		s->i++;
		for (digits = 0; s->i < s->n && p[s->i] >= '0' && p[s->i] <= '9'; digits++)
			s->i++;
		if (!digits)
			return -EBADMSG;
	}
	if (s->i < s->n && (p[s->i] == 'e' || p[s->i] == 'E')) {
		is_float = true;
		s->i++;
		if (s->i < s->n && (p[s->i] == '+' || p[s->i] == '-'))
			s->i++;
		for (digits = 0; s->i < s->n && p[s->i] >= '0' && p[s->i] <= '9'; digits++)
			s->i++;
		if (!digits)
			return -EBADMSG;
	}
	if (is_float) {
		double d;
		return lwm2m_text_parse_double((const char *)p + start, s->i - start, &d);
	}
	/* json-c saturates integers beyond int64/uint64: refuse them here. */
	bool neg = p[start] == '-';
	uint64_t v = 0;
	for (size_t k = start + neg; k < s->i; k++) {
		unsigned d = p[k] - '0';
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (neg && v > (uint64_t)INT64_MAX + 1)
		return -ERANGE;
	return 0;
}

static int jscan_literal(struct jscan *s, const char *word)
{
	size_t len = strlen(word);

	if (s->n - s->i < len || memcmp(s->p + s->i, word, len) != 0)
		return -EBADMSG;
	s->i += len;
	return 0;
}

static int jscan_value(struct jscan *s, unsigned depth);

static int jscan_object(struct jscan *s, unsigned depth)
{
	struct {
		size_t off, len;
	} names[JSON_DUP_CHECK];
	size_t count = 0;
	int r;

	s->i++;
	jskip_ws(s);
	if (s->i < s->n && s->p[s->i] == '}') {
		s->i++;
		return 0;
	}
	for (;;) {
		size_t off = s->i;

		if (s->i >= s->n || s->p[s->i] != '"')
			return -EBADMSG;
		r = jscan_string(s, true);
		if (r < 0)
			return r;
		/* Duplicate names: json-c would keep the last one silently.
		 * Compared as written (escapes are not decoded). */
		for (size_t k = 0; k < count && k < JSON_DUP_CHECK; k++)
			if (names[k].len == s->i - off &&
			    memcmp(s->p + names[k].off, s->p + off, s->i - off) == 0)
				return -EBADMSG;
		if (count < JSON_DUP_CHECK) {
			names[count].off = off;
			names[count].len = s->i - off;
		}
		count++;
		jskip_ws(s);
		if (s->i >= s->n || s->p[s->i] != ':')
			return -EBADMSG;
		s->i++;
		r = jscan_value(s, depth);
		if (r < 0)
			return r;
		jskip_ws(s);
		if (s->i >= s->n)
			return -EBADMSG;
		if (s->p[s->i] == '}') {
			s->i++;
			return 0;
		}
		if (s->p[s->i] != ',')
			return -EBADMSG;
		s->i++;
		jskip_ws(s);
	}
}

static int jscan_array(struct jscan *s, unsigned depth)
{
	int r;

	s->i++;
	jskip_ws(s);
	if (s->i < s->n && s->p[s->i] == ']') {
		s->i++;
		return 0;
	}
	for (;;) {
		r = jscan_value(s, depth);
		if (r < 0)
			return r;
		jskip_ws(s);
		if (s->i >= s->n)
			return -EBADMSG;
		if (s->p[s->i] == ']') {
			s->i++;
			return 0;
		}
		if (s->p[s->i] != ',')
			return -EBADMSG;
		s->i++;
	}
}

/* A strict RFC 8259 check before json-c sees the text: json-c accepts NaN,
 * Infinity, "1.", raw control characters and lone surrogates, and saturates
 * big integers, none of which may pass here. */
static int jscan_value(struct jscan *s, unsigned depth)
{
	jskip_ws(s);
	if (s->i >= s->n)
		return -EBADMSG;
	switch (s->p[s->i]) {
	case '{':
		if (depth >= JSON_MAX_DEPTH)
			return -EBADMSG;
		return jscan_object(s, depth + 1);
	case '[':
		if (depth >= JSON_MAX_DEPTH)
			return -EBADMSG;
		return jscan_array(s, depth + 1);
	case '"':
		return jscan_string(s, false);
	case 't':
		return jscan_literal(s, "true");
	case 'f':
		return jscan_literal(s, "false");
	case 'n':
		return jscan_literal(s, "null");
	default:
		return jscan_number(s);
	}
}

int lwm2m_json_parse(const uint8_t *data, size_t len, struct json_object **out)
{
	struct jscan s = { .p = data, .n = len };
	struct json_tokener *tok;
	struct json_object *o;
	size_t first;
	int r;

	if (len && !data)
		return -EINVAL;
	if (len > INT_MAX)
		return -EBADMSG; /* json-c takes an int length */
	jskip_ws(&s);
	first = s.i;
	if (first >= len || (data[first] != '[' && data[first] != '{'))
		return -EBADMSG; /* both JSON formats are a container */
	r = jscan_value(&s, 0);
	if (r < 0)
		return r;
	jskip_ws(&s);
	if (s.i != len)
		return -EBADMSG; /* trailing data */

	tok = json_tokener_new_ex(JSON_MAX_DEPTH + 1);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, (const char *)data, (int)len);
	if (!o) {
		/* After the check above this is an allocation failure or a
		 * disagreement with json-c; 0.16 has no error code telling
		 * them apart, and calling input malformed is the safe side. */
		json_tokener_free(tok);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	*out = o;
	return 0;
}

int lwm2m_json_number(struct json_object *o, struct lwm2m_value *out)
{
	switch (json_object_get_type(o)) {
	case json_type_int: {
		int64_t i = json_object_get_int64(o);
		/* json-c keeps values above INT64_MAX as uint64 and reports
		 * INT64_MAX for them through get_int64. */
		if (i == INT64_MAX) {
			uint64_t u = json_object_get_uint64(o);
			if (u > (uint64_t)INT64_MAX) {
				*out = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = u };
				return 0;
			}
		}
		*out = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = i };
		return 0;
	}
	case json_type_double:
		*out = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = json_object_get_double(o) };
		return isfinite(out->f) ? 0 : -ERANGE;
	default:
		return -EBADMSG;
	}
}

int lwm2m_textual_to_type(const struct lwm2m_value *in, enum lwm2m_type t, struct lwm2m_value *out)
{
	if (t == LWM2M_TYPE_NONE) {
		*out = *in;
		return 0;
	}
	if (t == LWM2M_TYPE_FLOAT && (in->type == LWM2M_TYPE_INTEGER || in->type == LWM2M_TYPE_UNSIGNED)) {
		/* The nearest double, as for the decimal text "0.1". */
		double f = in->type == LWM2M_TYPE_INTEGER ? (double)in->i : (double)in->u;
		*out = (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = f };
		return 0;
	}
	return lwm2m_value_convert(in, t, out);
}

/* ---- SenML JSON encoding ----------------------------------------------------- */

/* See the file comment: bn = prefix + request path ("/" appended unless a
 * record sits at the request path itself); empty for the root without
 * prefix, so names are then absolute. */
int lwm2m_json_plan_names(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			  struct lwm2m_json_names *plan)
{
	char full[LWM2M_JSON_NAME_MAX];
	bool at_base = false;
	int len;

	len = lwm2m_json_full_name(&recs[0].prefix, base, plan->bn);
	if (len < 0)
		return len;
	if (base->len == 0 && recs[0].prefix.len == 0) {
		plan->bn[0] = '\0';
		plan->skip = 0;
		return 0;
	}
	for (size_t i = 0; i < n && !at_base; i++) {
		int fl = lwm2m_json_full_name(&recs[i].prefix, &recs[i].path, full);
		if (fl < 0)
			return fl;
		at_base = fl == len;
	}
	plan->skip = (size_t)len;
	if (!at_base) {
		plan->bn[len] = '/';
		plan->bn[len + 1] = '\0';
		plan->skip++;
	}
	return 0;
}

bool lwm2m_same_prefix(const struct lwm2m_span *a, const struct lwm2m_span *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* Number of records from recs[0] on with the same prefix (they are sorted). */
static size_t prefix_group(const struct lwm2m_record *recs, size_t n)
{
	size_t k = 1;

	while (k < n && lwm2m_same_prefix(&recs[0].prefix, &recs[k].prefix))
		k++;
	return k;
}

int lwm2m_json_put_key(struct lwm2m_buf *b, bool *first, const char *key)
{
	int r = 0;

	if (!*first)
		r = lwm2m_buf_putc(b, ',');
	*first = false;
	if (r == 0)
		r = lwm2m_buf_printf(b, "\"%s\":", key);
	return r;
}

int lwm2m_json_put_value(struct lwm2m_buf *b, bool *first, const struct lwm2m_value *v,
			 const struct lwm2m_json_labels *l)
{
	int r;

	switch (v->type) {
	case LWM2M_TYPE_NONE:
		return 0;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		r = lwm2m_json_put_key(b, first, l->string);
		return r < 0 ? r : lwm2m_json_put_string(b, v->bytes.ptr, v->bytes.len);
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		r = lwm2m_json_put_key(b, first, l->number);
		return r < 0 ? r : lwm2m_buf_printf(b, "%" PRId64, v->i);
	case LWM2M_TYPE_UNSIGNED:
		r = lwm2m_json_put_key(b, first, l->number);
		return r < 0 ? r : lwm2m_buf_printf(b, "%" PRIu64, v->u);
	case LWM2M_TYPE_FLOAT:
		r = lwm2m_json_put_key(b, first, l->number);
		return r < 0 ? r : lwm2m_json_put_double(b, v->f, true);
	case LWM2M_TYPE_BOOLEAN:
		r = lwm2m_json_put_key(b, first, l->boolean);
		return r < 0 ? r : lwm2m_buf_printf(b, "%s", v->b ? "true" : "false");
	case LWM2M_TYPE_OBJLNK:
		r = lwm2m_json_put_key(b, first, l->objlnk);
		return r < 0 ? r
			     : lwm2m_buf_printf(b, "\"%u:%u\"", (unsigned)v->lnk.oid, (unsigned)v->lnk.iid);
	case LWM2M_TYPE_OPAQUE:
		if (v->bytes.len && !v->bytes.ptr)
			return -EINVAL;
		r = lwm2m_json_put_key(b, first, l->opaque);
		if (r == 0)
			r = lwm2m_buf_putc(b, '"');
		if (r == 0)
			r = lwm2m_base64_encode(b, v->bytes.ptr, v->bytes.len, l->url_base64);
		return r < 0 ? r : lwm2m_buf_putc(b, '"');
	default:
		return -EINVAL;
	}
}

static const struct lwm2m_json_labels senml_labels = {
	.string = "vs", .number = "v", .boolean = "vb", .objlnk = "vlo", .opaque = "vd", .url_base64 = true
};

int lwm2m_senml_json_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out)
{
	char cur_bn[LWM2M_JSON_NAME_MAX + 1] = "", full[LWM2M_JSON_NAME_MAX];
	struct lwm2m_json_names plan = { .skip = 0 };
	size_t start = out->len, group_end = 0;
	int r = lwm2m_buf_putc(out, '[');

	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct lwm2m_record *rec = &recs[i];
		bool first = true;
		int fl;

		if (i == group_end) {
			group_end = i + prefix_group(rec, n - i);
			r = lwm2m_json_plan_names(base, rec, group_end - i, &plan);
			if (r < 0)
				break;
		}
		fl = lwm2m_json_full_name(&rec->prefix, &rec->path, full);
		if (fl < 0) {
			r = fl;
			break;
		}
		r = lwm2m_buf_append(out, i ? ",{" : "{", i ? 2 : 1);
		/* bn only when it changes: it carries over to later records. */
		if (r == 0 && strcmp(plan.bn, cur_bn) != 0) {
			r = lwm2m_json_put_key(out, &first, "bn");
			if (r == 0)
				r = lwm2m_json_put_string(out, plan.bn, strlen(plan.bn));
			memcpy(cur_bn, plan.bn, sizeof(cur_bn));
		}
		/* No "n" when bn alone is the name (a value at the request path). */
		if (r == 0 && (size_t)fl > plan.skip) {
			r = lwm2m_json_put_key(out, &first, "n");
			if (r == 0)
				r = lwm2m_json_put_string(out, full + plan.skip, (size_t)fl - plan.skip);
		}
		if (r == 0)
			r = lwm2m_json_put_value(out, &first, &rec->value, &senml_labels);
		if (r == 0 && rec->has_time) {
			r = lwm2m_json_put_key(out, &first, "t");
			if (r == 0)
				r = lwm2m_json_put_double(out, rec->time, false);
		}
		if (r == 0)
			r = lwm2m_buf_putc(out, '}');
	}
	if (r == 0)
		r = lwm2m_buf_putc(out, ']');
	if (r < 0)
		out->len = start;
	return r;
}

/* ---- SenML JSON decoding ----------------------------------------------------- */

/* An integral value as sign and magnitude. */
static void sign_mag(const struct lwm2m_value *v, bool *neg, uint64_t *mag)
{
	*neg = v->type == LWM2M_TYPE_INTEGER && v->i < 0;
	if (v->type == LWM2M_TYPE_UNSIGNED)
		*mag = v->u;
	else
		*mag = *neg ? (uint64_t)(-(v->i + 1)) + 1 : (uint64_t)v->i;
}

/* bv + v without losing anything: integers exactly (Integer, or Unsigned
 * above INT64_MAX, or -ERANGE), floats as SenML defines the sum. */
static int add_base_value(const struct lwm2m_value *bv, struct lwm2m_value *v)
{
	if (bv->type != LWM2M_TYPE_FLOAT && v->type != LWM2M_TYPE_FLOAT) {
		bool na, nb, neg;
		uint64_t a, b, m;

		sign_mag(bv, &na, &a);
		sign_mag(v, &nb, &b);
		if (na == nb) {
			if (__builtin_add_overflow(a, b, &m))
				return -ERANGE;
			neg = na;
		} else if (a >= b) {
			m = a - b;
			neg = na;
		} else {
			m = b - a;
			neg = nb;
		}
		if (neg && m > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		if (neg)
			*v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = (int64_t)(0 - m) };
		else if (m <= (uint64_t)INT64_MAX)
			*v = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = (int64_t)m };
		else
			*v = (struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = m };
		return 0;
	}
	struct lwm2m_value a, b;
	if (lwm2m_value_convert(bv, LWM2M_TYPE_FLOAT, &a) < 0 ||
	    lwm2m_value_convert(v, LWM2M_TYPE_FLOAT, &b) < 0)
		return -ERANGE; /* an integer with no exact double */
	v->type = LWM2M_TYPE_FLOAT;
	v->f = a.f + b.f;
	return isfinite(v->f) ? 0 : -ERANGE;
}

/* The value of a record, decoded and converted to the resource type. kind
 * is the label that carried it; bytes are copied into out. */
static int senml_value(const char *kind, struct json_object *val, const struct lwm2m_value *bv, bool has_bv,
		       enum lwm2m_type t, struct lwm2m_records *out, struct lwm2m_value *res)
{
	struct lwm2m_value v = { 0 };
	const char *s = NULL;
	size_t len = 0;
	int r;

	if (!kind) {
		*res = (struct lwm2m_value){ .type = LWM2M_TYPE_NONE };
		return 0;
	}
	if (json_object_is_type(val, json_type_string)) {
		s = json_object_get_string(val);
		len = (size_t)json_object_get_string_len(val);
	}
	if (strcmp(kind, "v") == 0) {
		r = lwm2m_json_number(val, &v);
		if (r == 0 && has_bv)
			r = add_base_value(bv, &v);
		if (r < 0)
			return r;
	} else if (strcmp(kind, "vb") == 0) {
		v.type = LWM2M_TYPE_BOOLEAN;
		v.b = json_object_get_boolean(val);
	} else if (strcmp(kind, "vlo") == 0) {
		r = lwm2m_text_parse_objlnk(s, len, &v);
		if (r < 0)
			return r == -ERANGE ? r : -EBADMSG;
	} else if (strcmp(kind, "vd") == 0) {
		uint8_t *buf = lwm2m_records_alloc(out, len / 4 * 3 + 3);
		if (!buf)
			return -ENOMEM;
		r = lwm2m_base64_decode(buf, s, len);
		if (r < 0)
			return r;
		v.type = LWM2M_TYPE_OPAQUE;
		v.bytes.ptr = buf;
		v.bytes.len = (size_t)r;
	} else { /* vs */
		v.type = LWM2M_TYPE_STRING;
		v.bytes.ptr = lwm2m_records_dup(out, s, len);
		if (!v.bytes.ptr)
			return -ENOMEM;
		v.bytes.len = len;
	}
	return lwm2m_textual_to_type(&v, t, res);
}

/* Label -> the JSON type it must have. */
static bool label_type_ok(const char *key, struct json_object *val, bool *known)
{
	static const struct {
		const char *name;
		enum json_type type; /* json_type_int stands for any number */
	} labels[] = {
		{ "bn", json_type_string },  { "bt", json_type_int },     { "bu", json_type_string },
		{ "bv", json_type_int },     { "bs", json_type_int },     { "bver", json_type_int },
		{ "n", json_type_string },   { "u", json_type_string },   { "v", json_type_int },
		{ "vs", json_type_string },  { "vb", json_type_boolean }, { "vd", json_type_string },
		{ "vlo", json_type_string }, { "s", json_type_int },      { "t", json_type_int },
		{ "ut", json_type_int },
	};
	enum json_type jt = json_object_get_type(val);

	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		if (strcmp(key, labels[i].name) != 0)
			continue;
		*known = true;
		if (labels[i].type == json_type_int)
			return jt == json_type_int || jt == json_type_double;
		return jt == labels[i].type;
	}
	*known = false;
	return true;
}

static double number_as_double(struct json_object *o)
{
	struct lwm2m_value v;

	if (lwm2m_json_number(o, &v) < 0)
		return NAN;
	switch (v.type) {
	case LWM2M_TYPE_INTEGER:
		return (double)v.i;
	case LWM2M_TYPE_UNSIGNED:
		return (double)v.u;
	default:
		return v.f;
	}
}

struct senml_state {
	const char *bn;
	size_t bnlen;
	double bt;
	bool has_bt, has_bv;
	struct lwm2m_value bv;
};

static int senml_record(const struct lwm2m_path *base, struct json_object *obj, struct senml_state *st,
			lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out)
{
	struct json_object *nval = NULL, *val = NULL, *tval = NULL;
	const char *kind = NULL;
	struct lwm2m_record rec = { 0 }, *slot;
	enum lwm2m_type t;
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return -EBADMSG;
	json_object_object_foreach(obj, key, v)
	{
		size_t klen = strlen(key);
		bool known;

		if (klen > 0 && key[klen - 1] == '_')
			return -EBADMSG; /* must-understand label (RFC 8428 4.4) */
		if (!label_type_ok(key, v, &known))
			return -EBADMSG;
		if (!known)
			continue;
		if (strcmp(key, "bn") == 0) {
			st->bn = json_object_get_string(v);
			st->bnlen = (size_t)json_object_get_string_len(v);
		} else if (strcmp(key, "bt") == 0) {
			st->bt = number_as_double(v);
			st->has_bt = true;
		} else if (strcmp(key, "bv") == 0) {
			r = lwm2m_json_number(v, &st->bv);
			if (r < 0)
				return r;
			st->has_bv = true;
		} else if (strcmp(key, "bver") == 0) {
			/* RFC 8428 4.4: a version newer than 10 must not be used. */
			struct lwm2m_value ver;
			if (lwm2m_json_number(v, &ver) < 0 || ver.type != LWM2M_TYPE_INTEGER || ver.i > 10)
				return -EBADMSG;
		} else if (strcmp(key, "n") == 0) {
			nval = v;
		} else if (strcmp(key, "t") == 0) {
			tval = v;
		} else if (!strcmp(key, "v") || !strcmp(key, "vs") || !strcmp(key, "vb") ||
			   !strcmp(key, "vd") || !strcmp(key, "vlo")) {
			if (kind)
				return -EBADMSG; /* two values in one record */
			kind = key;
			val = v;
		}
	}

	r = lwm2m_senml_resolve_name(st->bn, st->bnlen, nval ? json_object_get_string(nval) : NULL,
				     nval ? (size_t)json_object_get_string_len(nval) : 0, &rec.path,
				     &rec.prefix, out);
	if (r < 0)
		return r;
	if (!lwm2m_path_is_under(&rec.path, base))
		return -EINVAL;
	t = type_of ? type_of(type_ctx, &rec.path) : LWM2M_TYPE_NONE;
	if (t >= LWM2M_TYPE__MAX)
		return -EINVAL;
	r = senml_value(kind, val, &st->bv, st->has_bv, t, out, &rec.value);
	if (r < 0)
		return r;
	if (st->has_bt || tval) {
		rec.has_time = true;
		r = lwm2m_senml_time(st->has_bt, st->bt, tval != NULL, tval ? number_as_double(tval) : 0,
				     &rec.time);
		if (r < 0)
			return r;
	}
	slot = lwm2m_records_add(out);
	if (!slot)
		return -ENOMEM;
	*slot = rec;
	return 0;
}

int lwm2m_senml_json_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out)
{
	struct senml_state st = { .bn = "" };
	struct json_object *root = NULL;
	size_t n0 = out->n, count;
	int r;

	r = lwm2m_json_parse(data, len, &root);
	if (r < 0)
		return r;
	if (!json_object_is_type(root, json_type_array)) {
		r = -EBADMSG;
		goto out;
	}
	count = json_object_array_length(root);
	for (size_t i = 0; i < count; i++) {
		r = senml_record(base, json_object_array_get_idx(root, i), &st, type_of, type_ctx, out);
		if (r < 0)
			break;
	}
out:
	if (r < 0)
		lwm2m_records_truncate(out, n0);
	json_object_put(root);
	return r;
}
