/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON side of fg-lwm2m-server: events on stdout, records <-> JSON,
 * payload descriptions. Values keep their exact type and value: integers
 * stay 64-bit integers, floats are printed with the shortest text that
 * reads back as the same double, bytes that are not UTF-8 are never put
 * raw into the output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv.h"

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where events go: stdout, moved to its own descriptor by main() because
 * libcoap prints PDU dumps on file descriptor 1 at debug level. */
FILE *event_out;

void emit(json_object *o)
{
	FILE *f = event_out ? event_out : stdout;

	if (!o)
		return;
	if (!json_object_object_get_ex(o, "ts", NULL))
		json_object_object_add(o, "ts", json_object_new_int64(now_ms()));
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), f);
	fputc('\n', f);
	fflush(f);
	json_object_put(o);
}

json_object *event_new(const char *kind)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "event", json_object_new_string(kind));
	return o;
}

void code_str(int code, char out[8])
{
	snprintf(out, 8, "%d.%02d", (code >> 5) & 7, code & 31);
}

int code_parse(const char *s)
{
	unsigned c, d;
	char end;

	if (!s || sscanf(s, "%1u.%2u%c", &c, &d, &end) != 2 || c > 7 || d > 31)
		return -EINVAL;
	return (int)(c << 5 | d);
}

json_object *hex_json(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	json_object *o;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = 0;
	o = json_object_new_string_len(s, (int)(2 * n));
	free(s);
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(s), k = 0;
	uint8_t *p = malloc(n / 2 + 1);

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		int hi, lo;

		if (s[i] == ' ' || s[i] == ':') {
			i++;
			continue;
		}
		if (i + 1 >= n || (hi = hexval(s[i])) < 0 || (lo = hexval(s[i + 1])) < 0) {
			free(p);
			return -EINVAL;
		}
		p[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	*out = p;
	*outlen = k;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint32_t c;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		len = 2;
		c = p[0] & 0x1F;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		len = 3;
		c = p[0] & 0x0F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3F);
	}
	/* overlong forms, surrogates, above U+10FFFF */
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	return len;
}

bool utf8_valid(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

json_object *bytes_json(const uint8_t *p, size_t n)
{
	struct lwm2m_buf b = { 0 };
	json_object *o;

	if (utf8_valid(p, n))
		return json_object_new_string_len(n ? (const char *)p : "", (int)n);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(p + i, n - i);
		if (l) {
			lwm2m_buf_append(&b, p + i, l);
			i += l;
		} else {
			lwm2m_buf_append(&b, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	o = json_object_new_string_len(b.data ? (const char *)b.data : "", (int)b.len);
	lwm2m_buf_free(&b);
	return o;
}

void path_str(const struct lwm2m_path *p, const char *prefix, size_t plen, char out[128])
{
	char tmp[32];

	lwm2m_path_format(p, tmp);
	if (!prefix || !plen)
		snprintf(out, 128, "%s", tmp);
	else if (p->len == 0)
		snprintf(out, 128, "/%.*s", (int)plen, prefix);
	else
		snprintf(out, 128, "/%.*s%s", (int)plen, prefix, tmp);
}

static const char *const type_names[LWM2M_TYPE__MAX] = {
	[LWM2M_TYPE_NONE] = "none",         [LWM2M_TYPE_STRING] = "string", [LWM2M_TYPE_INTEGER] = "integer",
	[LWM2M_TYPE_UNSIGNED] = "unsigned", [LWM2M_TYPE_FLOAT] = "float",   [LWM2M_TYPE_BOOLEAN] = "boolean",
	[LWM2M_TYPE_OPAQUE] = "opaque",     [LWM2M_TYPE_TIME] = "time",     [LWM2M_TYPE_OBJLNK] = "objlnk",
	[LWM2M_TYPE_CORELNK] = "corelnk",
};

static int type_parse(const char *s, enum lwm2m_type *t)
{
	for (int i = 0; i < LWM2M_TYPE__MAX; i++)
		if (strcasecmp(s, type_names[i]) == 0) {
			*t = (enum lwm2m_type)i;
			return 0;
		}
	return lwm2m_type_from_name(s, strlen(s), t);
}

/* Floats keep a '.' or exponent so a reader never mistakes them for integers. */
static json_object *double_json(double d)
{
	char buf[40];
	int n = lwm2m_fmt_double(d, buf);

	if (n < 0)
		return json_object_new_string(d != d ? "nan" : d > 0 ? "inf" : "-inf");
	if (!strpbrk(buf, ".eE"))
		strcat(buf, ".0");
	return json_object_new_double_s(d, buf);
}

json_object *record_json(const struct lwm2m_record *r, const char *reqprefix)
{
	json_object *o = json_object_new_object();
	const struct lwm2m_value *v = &r->value;
	char path[128];

	if (r->prefix.len)
		path_str(&r->path, r->prefix.ptr, r->prefix.len, path);
	else
		path_str(&r->path, reqprefix, reqprefix ? strlen(reqprefix) : 0, path);
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "type",
			       json_object_new_string(v->type < LWM2M_TYPE__MAX ? type_names[v->type] : "?"));
	switch (v->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		json_object_object_add(o, "value", bytes_json(v->bytes.ptr, v->bytes.len));
		if (!utf8_valid(v->bytes.ptr, v->bytes.len))
			json_object_object_add(o, "hex", hex_json(v->bytes.ptr, v->bytes.len));
		break;
	case LWM2M_TYPE_OPAQUE:
		json_object_object_add(o, "value", hex_json(v->bytes.ptr, v->bytes.len));
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		json_object_object_add(o, "value", json_object_new_int64(v->i));
		break;
	case LWM2M_TYPE_UNSIGNED:
		json_object_object_add(o, "value", json_object_new_uint64(v->u));
		break;
	case LWM2M_TYPE_FLOAT:
		json_object_object_add(o, "value", double_json(v->f));
		break;
	case LWM2M_TYPE_BOOLEAN:
		json_object_object_add(o, "value", json_object_new_boolean(v->b));
		break;
	case LWM2M_TYPE_OBJLNK: {
		char s[16];
		snprintf(s, sizeof(s), "%u:%u", v->lnk.oid, v->lnk.iid);
		json_object_object_add(o, "value", json_object_new_string(s));
		break;
	}
	default:
		break;
	}
	if (r->has_time)
		json_object_object_add(o, "time", double_json(r->time));
	return o;
}

static int parse_u16(const char *s, char **end, uint16_t *out)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int record_from_json(json_object *o, const struct lwm2m_registry *reg, struct lwm2m_records *out,
		     const char **err)
{
	json_object *jp, *jt, *jv, *jtime;
	struct lwm2m_record rec = { 0 }, *r;
	struct lwm2m_span prefix = { 0 };
	enum lwm2m_type t = LWM2M_TYPE_NONE;
	const char *ps;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "path", &jp) ||
	    !json_object_is_type(jp, json_type_string)) {
		*err = "record needs a \"path\" string";
		return -EINVAL;
	}
	ps = json_object_get_string(jp);
	if (lwm2m_path_parse(ps, strlen(ps), &rec.path, &prefix) < 0) {
		*err = "bad record path";
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "type", &jt)) {
		if (type_parse(json_object_get_string(jt), &t) < 0) {
			*err = "unknown record type";
			return -EINVAL;
		}
	} else if (reg) {
		t = lwm2m_registry_type_of((void *)reg, &rec.path);
	}
	jv = NULL;
	json_object_object_get_ex(o, "value", &jv);
	if (t == LWM2M_TYPE_NONE && jv) {
		switch (json_object_get_type(jv)) {
		case json_type_boolean:
			t = LWM2M_TYPE_BOOLEAN;
			break;
		case json_type_double:
			t = LWM2M_TYPE_FLOAT;
			break;
		case json_type_int:
			t = LWM2M_TYPE_INTEGER;
			break;
		case json_type_string:
			t = LWM2M_TYPE_STRING;
			break;
		default:
			*err = "record value must be a number, string or boolean";
			return -EINVAL;
		}
	}
	rec.value.type = (uint8_t)t;
	if (t != LWM2M_TYPE_NONE && !jv) {
		*err = "record needs a \"value\"";
		return -EINVAL;
	}
	switch (t) {
	case LWM2M_TYPE_NONE:
		break;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK: {
		const char *s = json_object_get_string(jv);
		size_t n = (size_t)json_object_get_string_len(jv);
		if (!json_object_is_type(jv, json_type_string)) {
			*err = "string value expected";
			return -EINVAL;
		}
		rec.value.bytes.ptr = lwm2m_records_dup(out, s, n);
		rec.value.bytes.len = n;
		if (!rec.value.bytes.ptr)
			goto oom;
		break;
	}
	case LWM2M_TYPE_OPAQUE: {
		uint8_t *bytes;
		size_t n;
		if (!json_object_is_type(jv, json_type_string) ||
		    hex_decode(json_object_get_string(jv), &bytes, &n) < 0) {
			*err = "opaque value must be a hex string";
			return -EINVAL;
		}
		rec.value.bytes.ptr = lwm2m_records_dup(out, bytes, n);
		rec.value.bytes.len = n;
		free(bytes);
		if (!rec.value.bytes.ptr)
			goto oom;
		break;
	}
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		if (!json_object_is_type(jv, json_type_int)) {
			*err = "integer value expected";
			return -EINVAL;
		}
		rec.value.i = json_object_get_int64(jv);
		break;
	case LWM2M_TYPE_UNSIGNED:
		if (!json_object_is_type(jv, json_type_int)) {
			*err = "unsigned value expected";
			return -EINVAL;
		}
		rec.value.u = json_object_get_uint64(jv);
		break;
	case LWM2M_TYPE_FLOAT:
		if (!json_object_is_type(jv, json_type_int) && !json_object_is_type(jv, json_type_double)) {
			*err = "float value expected";
			return -EINVAL;
		}
		rec.value.f = json_object_get_double(jv);
		break;
	case LWM2M_TYPE_BOOLEAN:
		if (!json_object_is_type(jv, json_type_boolean)) {
			*err = "boolean value expected";
			return -EINVAL;
		}
		rec.value.b = json_object_get_boolean(jv);
		break;
	case LWM2M_TYPE_OBJLNK: {
		const char *s = json_object_get_string(jv);
		char *end;
		if (!json_object_is_type(jv, json_type_string) ||
		    parse_u16(s, &end, &rec.value.lnk.oid) < 0 || *end != ':' ||
		    parse_u16(end + 1, &end, &rec.value.lnk.iid) < 0 || *end) {
			*err = "objlnk value must be \"oid:iid\"";
			return -EINVAL;
		}
		break;
	}
	default:
		*err = "unsupported type";
		return -EINVAL;
	}
	if (prefix.len) {
		rec.prefix.ptr = lwm2m_records_dup(out, prefix.ptr, prefix.len);
		rec.prefix.len = prefix.len;
		if (!rec.prefix.ptr)
			goto oom;
	}
	if (json_object_object_get_ex(o, "time", &jtime)) {
		rec.time = json_object_get_double(jtime);
		rec.has_time = true;
	}
	r = lwm2m_records_add(out);
	if (!r)
		goto oom;
	*r = rec;
	return 0;
oom:
	*err = "out of memory";
	return -ENOMEM;
}

const char *errno_name(int e)
{
	const char *s = strerrorname_np(e < 0 ? -e : e);

	return s ? s : "E?";
}

static int link_cb(void *ctx, const struct lwm2m_link *l)
{
	json_object **arrs = ctx;
	struct lwm2m_buf b = { 0 };
	int r = lwm2m_link_encode(&b, l, 1);

	if (r < 0) {
		lwm2m_buf_free(&b);
		return r;
	}
	json_object_array_add(arrs[0], bytes_json(b.data, b.len));
	json_object_array_add(arrs[1], bytes_json((const uint8_t *)l->uri.ptr, l->uri.len));
	lwm2m_buf_free(&b);
	return 0;
}

int links_json(const uint8_t *data, size_t len, json_object **links, json_object **paths)
{
	json_object *arrs[2] = { json_object_new_array(), json_object_new_array() };
	int r = lwm2m_link_parse((const char *)data, len, link_cb, arrs);

	if (r < 0) {
		json_object_put(arrs[0]);
		json_object_put(arrs[1]);
		return r;
	}
	*links = arrs[0];
	*paths = arrs[1];
	return 0;
}

static bool is_data_format(uint16_t ct)
{
	switch (ct) {
	case LWM2M_CT_TEXT:
	case LWM2M_CT_OPAQUE:
	case LWM2M_CT_SENML_JSON:
	case LWM2M_CT_SENML_CBOR:
	case LWM2M_CT_TLV:
	case LWM2M_CT_LWM2M_JSON:
	case LWM2M_CT_LWM2M_CBOR:
		return true;
	default:
		return false;
	}
}

static void add_error(json_object *o, int r)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "%s: %s", errno_name(r), strerror(r < 0 ? -r : r));
	json_object_object_add(o, "error", json_object_new_string(msg));
}

void payload_json(json_object *o, struct srv *S, uint16_t ct, const struct lwm2m_path *base,
		  const char *prefix, const uint8_t *data, size_t len)
{
	if (!len)
		return;
	json_object_object_add(o, "hex", hex_json(data, len));
	if ((ct == LWM2M_CT_TEXT || ct == LWM2M_CT_LINK || ct == LWM2M_CT_SENML_JSON ||
	     ct == LWM2M_CT_LWM2M_JSON || ct == LWM2M_CT_NONE) &&
	    utf8_valid(data, len))
		json_object_object_add(o, "text", json_object_new_string_len((const char *)data, (int)len));
	if (ct == LWM2M_CT_LINK) {
		json_object *links, *paths;
		int r = links_json(data, len, &links, &paths);
		if (r < 0) {
			add_error(o, r);
		} else {
			json_object_object_add(o, "links", links);
			json_object_object_add(o, "paths", paths);
		}
	} else if (is_data_format(ct)) {
		struct lwm2m_records recs = { 0 };
		int r = lwm2m_decode(ct, base, data, len, lwm2m_registry_type_of, S->registry, &recs);
		if (r < 0) {
			add_error(o, r);
		} else {
			json_object *arr = json_object_new_array();
			for (size_t i = 0; i < recs.n; i++)
				json_object_array_add(arr, record_json(&recs.v[i], prefix));
			json_object_object_add(o, "records", arr);
		}
		lwm2m_records_clear(&recs);
	}
}
