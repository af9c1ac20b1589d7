/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Payload decoders: JSON (RFC 6901 pointers), plain text, raw bytes;
 * timestamps; and the payload templates of writes and executes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "bridges/mqtt/mqtt_conf.h"
#include "bridges/mqtt/mqtt_internal.h"

/* Nesting a sensor payload never needs; bounds the parser's recursion. */
#define JSON_MAX_DEPTH 32

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

void mqtt_payload_init(struct mqtt_payload *p, const void *data, size_t len)
{
	*p = (struct mqtt_payload){ .data = data, .len = len };
}

void mqtt_payload_clear(struct mqtt_payload *p)
{
	if (p && p->doc)
		json_object_put(p->doc);
	if (p)
		p->doc = NULL;
}

int mqtt_payload_json(struct mqtt_payload *p, struct json_object **out)
{
	if (!p->parsed) {
		struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
		p->parsed = true;
		p->json_err = -EBADMSG;
		if (!tok)
			return -ENOMEM;
		/* json-c reads up to a NUL: a payload with one is not JSON. */
		if (p->len > 0 && p->len <= INT32_MAX && !memchr(p->data, '\0', p->len)) {
			struct json_object *o =
				json_tokener_parse_ex(tok, (const char *)p->data, (int)p->len);
			size_t end = p->len;
			/* A bare number may go on: the end of the payload ends it. */
			if (!o && json_tokener_get_error(tok) == json_tokener_continue)
				o = json_tokener_parse_ex(tok, "", 1);
			else if (o)
				end = json_tokener_get_parse_end(tok);
			while (end < p->len && (p->data[end] == ' ' || p->data[end] == '\t' ||
						p->data[end] == '\r' || p->data[end] == '\n'))
				end++;
			if (o && json_tokener_get_error(tok) == json_tokener_success && end == p->len) {
				p->doc = o;
				p->json_err = 0;
			} else if (o)
				json_object_put(o);
		}
		json_tokener_free(tok);
	}
	*out = p->doc;
	return p->json_err;
}

/* One reference token of a pointer, unescaped (~1 -> '/', ~0 -> '~'). */
static int token(const char *s, size_t n, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '~') {
			if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
				return -EINVAL;
			c = s[++i] == '0' ? '~' : '/';
		}
		if (o + 1 >= size)
			return -ENOBUFS;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return (int)o;
}

struct json_object *mqtt_json_pointer(struct json_object *doc, const char *pointer)
{
	const char *p = pointer;
	struct json_object *cur = doc;
	char key[256];

	if (!doc || !pointer)
		return NULL;
	if (*p == '\0')
		return doc;
	if (*p != '/')
		return NULL;
	while (*p == '/') {
		const char *e = strchr(p + 1, '/');
		size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
		int kl = token(p + 1, n, key, sizeof(key));

		if (kl < 0 || !cur)
			return NULL;
		if (json_object_is_type(cur, json_type_object)) {
			struct json_object *next = NULL;
			if (strlen(key) != (size_t)kl) /* an embedded NUL cannot be a key here */
				return NULL;
			if (!json_object_object_get_ex(cur, key, &next))
				return NULL;
			cur = next;
		} else if (json_object_is_type(cur, json_type_array)) {
			char *end;
			unsigned long idx;
			/* RFC 6901: "0" or digits without a leading zero. */
			if (kl == 0 || (key[0] == '0' && kl > 1) || key[0] < '0' || key[0] > '9')
				return NULL;
			errno = 0;
			idx = strtoul(key, &end, 10);
			if (errno || *end || idx >= json_object_array_length(cur))
				return NULL;
			cur = json_object_array_get_idx(cur, idx);
		} else
			return NULL;
		p += n + 1;
	}
	return cur;
}

int mqtt_template_json(void *ud, const struct mapping_tstep *steps, size_t n, struct mapping_tval *out)
{
	struct json_object *cur;
	int r = mqtt_payload_json(ud, &cur);

	*out = (struct mapping_tval){ .kind = MAPPING_TVAL_NONE };
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct mapping_tstep *st = &steps[i];
		struct json_object *next = NULL;
		if (st->is_index) {
			if (!json_object_is_type(cur, json_type_array) || st->index < 0 ||
			    (size_t)st->index >= json_object_array_length(cur))
				return 0; /* undefined */
			cur = json_object_array_get_idx(cur, (size_t)st->index);
			continue;
		}
		if (!json_object_is_type(cur, json_type_object))
			return 0;
		/* JSON null is a member json-c stores as NULL; a key with a
		 * NUL matches nothing (json-c's keys end at one). */
		char key[256];
		bool found = false;
		if (st->len < sizeof(key) && !memchr(st->key, '\0', st->len)) {
			memcpy(key, st->key, st->len);
			key[st->len] = '\0';
			found = json_object_object_get_ex(cur, key, &next);
		}
		if (!found || (!next && i + 1 < n))
			return 0; /* undefined (Jinja: a member of None is undefined too) */
		cur = next;
	}
	switch (json_object_get_type(cur)) {
	case json_type_null:
		out->kind = MAPPING_TVAL_NULL;
		return 0;
	case json_type_boolean:
		out->kind = MAPPING_TVAL_BOOL;
		out->b = json_object_get_boolean(cur);
		return 0;
	case json_type_double:
		out->kind = MAPPING_TVAL_FLOAT;
		out->f = json_object_get_double(cur);
		return 0;
	case json_type_int:
		out->kind = MAPPING_TVAL_INT;
		out->i = json_object_get_int64(cur);
		if (out->i == INT64_MAX && json_object_get_uint64(cur) > (uint64_t)INT64_MAX)
			return -ERANGE; /* beyond what the evaluator computes with */
		return 0;
	case json_type_string:
		out->kind = MAPPING_TVAL_STRING;
		out->s = json_object_get_string(cur);
		out->len = (size_t)json_object_get_string_len(cur);
		return 0;
	default:
		return -EINVAL; /* an object or a list: not a value */
	}
}

static int num2(const char *s, size_t n, size_t i, int *out)
{
	if (i + 2 > n || s[i] < '0' || s[i] > '9' || s[i + 1] < '0' || s[i + 1] > '9')
		return -EINVAL;
	*out = (s[i] - '0') * 10 + (s[i + 1] - '0');
	return 0;
}

int mqtt_time_from_number(double v, uint64_t *usec)
{
	/* Seconds until year 5138, then milliseconds, then microseconds. */
	if (!isfinite(v) || v <= 0)
		return -EINVAL;
	if (v < 1e11)
		v *= 1e6;
	else if (v < 1e14)
		v *= 1e3;
	if (v >= 1.8e19)
		return -EINVAL;
	*usec = (uint64_t)v;
	return 0;
}

int mqtt_parse_time(const char *s, size_t n, uint64_t *usec)
{
	struct tm tm = { 0 };
	int year = 0, mon, day, hh, mm, ss = 0, off = 0;
	uint64_t frac = 0, fscale = 1;
	size_t i = 0;
	int64_t t;

	if (n == 0 || n > 64)
		return -EINVAL;
	/* A number: epoch. */
	if (s[0] >= '0' && s[0] <= '9' && (n < 5 || s[4] != '-')) {
		char buf[65], *end;
		double v;
		memcpy(buf, s, n);
		buf[n] = '\0';
		errno = 0;
		v = strtod(buf, &end);
		if (errno || *end)
			return -EINVAL;
		return mqtt_time_from_number(v, usec);
	}
	for (; i < 4; i++) {
		if (i >= n || s[i] < '0' || s[i] > '9')
			return -EINVAL;
		year = year * 10 + (s[i] - '0');
	}
	if (i >= n || s[i++] != '-' || num2(s, n, i, &mon) < 0)
		return -EINVAL;
	i += 2;
	if (i >= n || s[i++] != '-' || num2(s, n, i, &day) < 0)
		return -EINVAL;
	i += 2;
	if (i >= n || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
		return -EINVAL;
	i++;
	if (num2(s, n, i, &hh) < 0)
		return -EINVAL;
	i += 2;
	if (i >= n || s[i++] != ':' || num2(s, n, i, &mm) < 0)
		return -EINVAL;
	i += 2;
	if (i < n && s[i] == ':') {
		if (num2(s, n, i + 1, &ss) < 0)
			return -EINVAL;
		i += 3;
		if (i < n && (s[i] == '.' || s[i] == ',')) {
			i++;
			if (i >= n || s[i] < '0' || s[i] > '9')
				return -EINVAL;
			for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
				if (fscale < 1000000) {
					frac = frac * 10 + (uint64_t)(s[i] - '0');
					fscale *= 10;
				}
		}
	}
	if (i < n) {
		if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n)
			i++;
		else if (s[i] == '+' || s[i] == '-') {
			int oh, om = 0, sign = s[i] == '-' ? -1 : 1;
			if (num2(s, n, i + 1, &oh) < 0)
				return -EINVAL;
			i += 3;
			if (i < n && s[i] == ':')
				i++;
			if (i < n) {
				if (num2(s, n, i, &om) < 0)
					return -EINVAL;
				i += 2;
			}
			if (oh > 23 || om > 59)
				return -EINVAL;
			off = sign * (oh * 3600 + om * 60);
		}
		if (i != n)
			return -EINVAL;
	}
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = (int64_t)timegm(&tm) - off;
	if (t <= 0)
		return -EINVAL;
	while (fscale < 1000000) {
		frac *= 10;
		fscale *= 10;
	}
	*usec = (uint64_t)t * 1000000u + frac;
	return 0;
}

static void time_of(const struct mqtt_source *src, struct mqtt_payload *p, uint64_t *time_usec)
{
	struct json_object *doc, *o;

	*time_usec = 0;
	if (!src->time_pointer || mqtt_payload_json(p, &doc) < 0)
		return;
	o = mqtt_json_pointer(doc, src->time_pointer);
	if (!o)
		return;
	if (json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double))
		(void)mqtt_time_from_number(json_object_get_double(o), time_usec);
	else if (json_object_is_type(o, json_type_string))
		(void)mqtt_parse_time(json_object_get_string(o), (size_t)json_object_get_string_len(o),
				      time_usec);
}

static void trim(const uint8_t **p, size_t *n)
{
	while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t' || (*p)[0] == '\r' || (*p)[0] == '\n')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 &&
	       ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r' || (*p)[*n - 1] == '\n'))
		(*n)--;
}

int mqtt_payload_decode(const struct mqtt_source *src, size_t raw_size, struct mqtt_payload *p,
			struct mapping_sample *out, uint64_t *time_usec)
{
	struct json_object *doc, *o;
	int r;

	*time_usec = 0;
	switch (src->format) {
	case MQTT_FORMAT_TEXT: {
		const uint8_t *t = p->data;
		size_t n = p->len;
		trim(&t, &n);
		if (n == 0 || memchr(t, '\0', n))
			return -EBADMSG;
		*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						.value = { .type = LWM2M_TYPE_STRING, .bytes = { t, n } } };
		return 0;
	}
	case MQTT_FORMAT_RAW: {
		size_t want = src->length ? src->length : raw_size;
		if (src->offset > p->len)
			return -EBADMSG;
		if (want == 0)
			want = p->len - src->offset;
		if (want > p->len - src->offset)
			return -EBADMSG;
		*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES,
						.bytes = p->data + src->offset,
						.len = want };
		return 0;
	}
	case MQTT_FORMAT_TEMPLATE: {
		/* Home Assistant renders the template to text and the entity
		 * parses that: the same here (the transform parses numbers and
		 * words). The text lives in the payload until the next one. */
		r = mapping_template_render(src->tpl, (const char *)p->data, p->len, mqtt_template_json, p,
					    p->text, sizeof(p->text));
		if (r < 0)
			return r == -ENOBUFS ? -EBADMSG : r;
		*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE,
						.value = {
							.type = LWM2M_TYPE_STRING,
							.bytes = { (const uint8_t *)p->text, (size_t)r } } };
		return 0;
	}
	default:
		break;
	}
	r = mqtt_payload_json(p, &doc);
	if (r < 0)
		return r;
	o = mqtt_json_pointer(doc, src->pointer ? src->pointer : "");
	if (!o)
		return json_object_is_type(doc, json_type_object) || json_object_is_type(doc, json_type_array)
			       ? -ENOENT
			       : -EBADMSG;
	*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE };
	switch (json_object_get_type(o)) {
	case json_type_boolean:
		out->value.type = LWM2M_TYPE_BOOLEAN;
		out->value.b = json_object_get_boolean(o);
		break;
	case json_type_double:
		out->value.type = LWM2M_TYPE_FLOAT;
		out->value.f = json_object_get_double(o);
		break;
	case json_type_int:
		/* json-c keeps integers above INT64_MAX as uint64. */
		errno = 0;
		out->value.type = LWM2M_TYPE_INTEGER;
		out->value.i = json_object_get_int64(o);
		if (out->value.i == INT64_MAX) {
			uint64_t u = json_object_get_uint64(o);
			if (u > (uint64_t)INT64_MAX) {
				out->value.type = LWM2M_TYPE_UNSIGNED;
				out->value.u = u;
			}
		}
		break;
	case json_type_string:
		out->value.type = LWM2M_TYPE_STRING;
		out->value.bytes.ptr = (const uint8_t *)json_object_get_string(o);
		out->value.bytes.len = (size_t)json_object_get_string_len(o);
		break;
	default: /* null, object, array */
		return -EINVAL;
	}
	time_of(src, p, time_usec);
	return 0;
}

int mqtt_sample_text(const struct mapping_sample *s, char *buf, size_t size, bool *is_string)
{
	int n;

	*is_string = false;
	if (s->kind == MAPPING_SAMPLE_BYTES) {
		/* A raw layout: the bytes go out as they are. */
		if (s->len >= size)
			return -ENOBUFS;
		memcpy(buf, s->bytes, s->len);
		buf[s->len] = '\0';
		*is_string = true;
		return (int)s->len;
	}
	switch (s->value.type) {
	case LWM2M_TYPE_BOOLEAN:
		n = snprintf(buf, size, "%s", s->value.b ? "true" : "false");
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		n = snprintf(buf, size, "%lld", (long long)s->value.i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		n = snprintf(buf, size, "%llu", (unsigned long long)s->value.u);
		break;
	case LWM2M_TYPE_FLOAT: {
		char d[32];
		n = lwm2m_fmt_double(s->value.f, d);
		if (n < 0)
			return n;
		n = snprintf(buf, size, "%s", d);
		break;
	}
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
		if (s->value.bytes.len >= size)
			return -ENOBUFS;
		memcpy(buf, s->value.bytes.ptr, s->value.bytes.len);
		buf[s->value.bytes.len] = '\0';
		*is_string = true;
		return (int)s->value.bytes.len;
	default:
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

static bool put(char *buf, size_t size, size_t *o, const char *s, size_t n)
{
	if (*o + n >= size)
		return false;
	memcpy(buf + *o, s, n);
	*o += n;
	return true;
}

/* JSON string escaping of one byte (control characters, quote, backslash). */
static bool put_escaped(char *buf, size_t size, size_t *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[8];
		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			if (!put(buf, size, o, e, 2))
				return false;
		} else if (c < 0x20) {
			snprintf(e, sizeof(e), "\\u%04x", c);
			if (!put(buf, size, o, e, 6))
				return false;
		} else if (!put(buf, size, o, (const char *)&s[i], 1))
			return false;
	}
	return true;
}

int mqtt_fill_payload(const char *tmpl, const char *value, size_t value_len, bool value_is_string,
		      const struct mqtt_binding *bound, char *buf, size_t size)
{
	const char *p = tmpl;
	size_t o = 0;
	/* A template that is a JSON document gets its strings escaped. */
	bool json = false;

	for (const char *q = tmpl; *q; q++)
		if (*q != ' ' && *q != '\t' && *q != '\n') {
			/* '{' then a name is a placeholder, not an object. */
			json = *q == '[' || (*q == '{' && !is_name_start(q[1]));
			break;
		}
	if (size == 0)
		return -ENOBUFS;
	while (*p) {
		const char *e;
		size_t n = 0;
		if (p[0] == '{' && is_name_start(p[1])) {
			for (e = p + 1; (*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') ||
					(*e >= '0' && *e <= '9') || *e == '_';
			     e++)
				;
			if (*e == '}') {
				const char *v;
				size_t nl = (size_t)(e - p - 1);
				char name[MQTT_NAME_MAX + 1];
				bool is_value = (nl == 5 && memcmp(p + 1, "value", 5) == 0) ||
						(nl == 4 && memcmp(p + 1, "args", 4) == 0);
				if (nl > MQTT_NAME_MAX)
					return -ENOENT;
				memcpy(name, p + 1, nl);
				name[nl] = '\0';
				if (is_value) {
					v = value ? value : "";
					n = value ? value_len : 0;
					if (json && value_is_string ? !put_escaped(buf, size, &o, v, n)
								    : !put(buf, size, &o, v, n))
						return -ENOBUFS;
				} else {
					v = mqtt_binding_get(bound, name, &n);
					if (!v)
						return -ENOENT;
					if (json ? !put_escaped(buf, size, &o, v, n)
						 : !put(buf, size, &o, v, n))
						return -ENOBUFS;
				}
				p = e + 1;
				continue;
			}
		}
		if (!put(buf, size, &o, p, 1))
			return -ENOBUFS;
		p++;
	}
	buf[o] = '\0';
	return (int)o;
}

/* ---- availability ------------------------------------------------------------ */

static bool word_in(char *const *words, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(words[i], w) == 0)
			return true;
	return false;
}

int mqtt_avail_word(const struct mqtt_avail *a, struct mqtt_payload *pl, char *word, size_t size)
{
	struct json_object *doc = NULL, *v;
	const char *s;
	size_t n;

	if (size < 2)
		return -EINVAL;
	if (mqtt_payload_json(pl, &doc) == 0) {
		v = doc;
		if (json_object_is_type(doc, json_type_object) || json_object_is_type(doc, json_type_array)) {
			v = a->pointer ? mqtt_json_pointer(doc, a->pointer) : NULL;
			if (!v) {
				if (a->pointer)
					snprintf(word, size, "no %s in the JSON document", a->pointer);
				else
					snprintf(word, size, "a JSON document, and no json: pointer");
				return -EINVAL;
			}
		}
		if (!json_object_is_type(v, json_type_string) && !json_object_is_type(v, json_type_boolean) &&
		    !json_object_is_type(v, json_type_int)) {
			snprintf(word, size, "not a word");
			return -EINVAL;
		}
		s = json_object_get_string(v);
		n = strlen(s);
	} else {
		/* Plain text: trimmed, one word of printable characters. */
		s = (const char *)pl->data;
		n = pl->len;
		while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
			s++, n--;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
			n--;
	}
	if (n == 0 || n >= size) {
		snprintf(word, size, n ? "too long for a word" : "empty");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) {
			snprintf(word, size, "not a word");
			return -EINVAL;
		}
	memcpy(word, s, n);
	word[n] = '\0';
	if (word_in(a->online, a->nonline, word))
		return 1;
	if (word_in(a->offline, a->noffline, word))
		return 0;
	return -EINVAL;
}
