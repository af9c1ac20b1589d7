/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LwM2M JSON, content format 11543 (application/vnd.oma.lwm2m+json, LwM2M
 * TS 1.0 6.4.4 / TS 1.1 Core 7.4.5): the pre-RFC SenML layout of LwM2M 1.0,
 *
 *   {"bn":"/3/0/","bt":1500000000,"e":[{"n":"0","sv":"Open Mobile Alliance"},
 *                                      {"n":"9","v":100,"t":-5}, ...]}
 *
 * with "v" for numbers, "sv" for strings (Opaque as standard base64 in "sv"),
 * "bv" for booleans and "ov" for object links ("3:0"). Names are bn + n,
 * absolute LwM2M paths at or below the request path; time is bt + t.
 *
 * Decoding takes the same care as SenML JSON (senml_json.c): strict JSON,
 * exact numbers, types from type_of; unknown members are ignored, a known
 * member of the wrong JSON type or two values in one entry is -EBADMSG, and
 * "e" is required. Encoding uses one "bn" for the whole document (see
 * lwm2m_json_plan_names(); records with different Object 25 prefixes get
 * absolute names and no bn) and writes time stamps as "t".
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <string.h>

#include "lwm2m/codec_internal.h"
#include "lwm2m/textual_internal.h"

/* Opaque values are a base64 string under "sv" (the standard alphabet). */
static const struct lwm2m_json_labels lwm2m_labels = {
	.string = "sv", .number = "v", .boolean = "bv", .objlnk = "ov", .opaque = "sv", .url_base64 = false
};

int lwm2m_lwm2m_json_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
			    struct lwm2m_buf *out)
{
	struct lwm2m_json_names plan = { .bn = "", .skip = 0 };
	char full[LWM2M_JSON_NAME_MAX];
	size_t start = out->len;
	bool one_prefix = true;
	int r = 0;

	for (size_t i = 1; i < n && one_prefix; i++)
		one_prefix = lwm2m_same_prefix(&recs[0].prefix, &recs[i].prefix);
	if (n && one_prefix)
		r = lwm2m_json_plan_names(base, recs, n, &plan);
	if (r == 0)
		r = lwm2m_buf_putc(out, '{');
	if (r == 0 && plan.bn[0]) {
		r = lwm2m_buf_append(out, "\"bn\":", 5);
		if (r == 0)
			r = lwm2m_json_put_string(out, plan.bn, strlen(plan.bn));
		if (r == 0)
			r = lwm2m_buf_putc(out, ',');
	}
	if (r == 0)
		r = lwm2m_buf_append(out, "\"e\":[", 5);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct lwm2m_record *rec = &recs[i];
		bool first = true;
		int fl = lwm2m_json_full_name(&rec->prefix, &rec->path, full);

		if (fl < 0) {
			r = fl;
			break;
		}
		r = lwm2m_buf_append(out, i ? ",{" : "{", i ? 2 : 1);
		if (r == 0 && (size_t)fl > plan.skip) {
			r = lwm2m_json_put_key(out, &first, "n");
			if (r == 0)
				r = lwm2m_json_put_string(out, full + plan.skip, (size_t)fl - plan.skip);
		}
		if (r == 0)
			r = lwm2m_json_put_value(out, &first, &rec->value, &lwm2m_labels);
		if (r == 0 && rec->has_time) {
			r = lwm2m_json_put_key(out, &first, "t");
			if (r == 0)
				r = lwm2m_json_put_double(out, rec->time, false);
		}
		if (r == 0)
			r = lwm2m_buf_putc(out, '}');
	}
	if (r == 0)
		r = lwm2m_buf_append(out, "]}", 2);
	if (r < 0)
		out->len = start;
	return r;
}

static bool is_number(struct json_object *o)
{
	return json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double);
}

static double number_as_double(struct json_object *o)
{
	struct lwm2m_value v;

	if (lwm2m_json_number(o, &v) < 0)
		return NAN;
	return v.type == LWM2M_TYPE_INTEGER ? (double)v.i : v.type == LWM2M_TYPE_UNSIGNED ? (double)v.u : v.f;
}

struct entry_ctx {
	const struct lwm2m_path *base;
	const char *bn;
	size_t bnlen;
	struct json_object *bt;
	lwm2m_type_fn type_of;
	void *type_ctx;
	struct lwm2m_records *out;
};

static int entry_value(const char *kind, struct json_object *val, enum lwm2m_type t,
		       struct lwm2m_records *out, struct lwm2m_value *res)
{
	struct lwm2m_value v = { 0 };
	const char *s;
	size_t len;
	int r;

	if (!kind) {
		*res = (struct lwm2m_value){ .type = LWM2M_TYPE_NONE };
		return 0;
	}
	if (kind[0] == 'v') {
		r = lwm2m_json_number(val, &v);
		return r < 0 ? r : lwm2m_textual_to_type(&v, t, res);
	}
	if (kind[0] == 'b') {
		v = (struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = json_object_get_boolean(val) };
		return lwm2m_textual_to_type(&v, t, res);
	}
	s = json_object_get_string(val);
	len = (size_t)json_object_get_string_len(val);
	if (kind[0] == 'o') {
		r = lwm2m_text_parse_objlnk(s, len, &v);
		if (r < 0)
			return r == -ERANGE ? r : -EBADMSG;
		return lwm2m_textual_to_type(&v, t, res);
	}
	/* "sv": text, or base64 when the resource is Opaque. */
	if (t == LWM2M_TYPE_OPAQUE) {
		uint8_t *buf = lwm2m_records_alloc(out, len / 4 * 3 + 3);
		if (!buf)
			return -ENOMEM;
		r = lwm2m_base64_decode(buf, s, len);
		if (r < 0)
			return r;
		*res = (struct lwm2m_value){ .type = LWM2M_TYPE_OPAQUE, .bytes = { buf, (size_t)r } };
		return 0;
	}
	v.type = LWM2M_TYPE_STRING;
	v.bytes.ptr = lwm2m_records_dup(out, s, len);
	if (!v.bytes.ptr)
		return -ENOMEM;
	v.bytes.len = len;
	return lwm2m_textual_to_type(&v, t, res);
}

static int decode_entry(struct entry_ctx *c, struct json_object *obj)
{
	struct json_object *nval = NULL, *val = NULL, *tval = NULL;
	struct lwm2m_record rec = { 0 }, *slot;
	const char *kind = NULL;
	enum lwm2m_type t;
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return -EBADMSG;
	json_object_object_foreach(obj, key, v)
	{
		if (strcmp(key, "n") == 0) {
			if (!json_object_is_type(v, json_type_string))
				return -EBADMSG;
			nval = v;
		} else if (strcmp(key, "t") == 0) {
			if (!is_number(v))
				return -EBADMSG;
			tval = v;
		} else if (!strcmp(key, "v") || !strcmp(key, "sv") || !strcmp(key, "bv") ||
			   !strcmp(key, "ov")) {
			bool ok = key[0] == 'v'   ? is_number(v)
				  : key[0] == 'b' ? json_object_is_type(v, json_type_boolean)
						  : json_object_is_type(v, json_type_string);
			if (!ok || kind)
				return -EBADMSG;
			kind = key;
			val = v;
		}
	}
	r = lwm2m_senml_resolve_name(c->bn, c->bnlen, nval ? json_object_get_string(nval) : NULL,
				     nval ? (size_t)json_object_get_string_len(nval) : 0, &rec.path,
				     &rec.prefix, c->out);
	if (r < 0)
		return r;
	if (!lwm2m_path_is_under(&rec.path, c->base))
		return -EINVAL;
	t = c->type_of ? c->type_of(c->type_ctx, &rec.path) : LWM2M_TYPE_NONE;
	if (t >= LWM2M_TYPE__MAX)
		return -EINVAL;
	r = entry_value(kind, val, t, c->out, &rec.value);
	if (r < 0)
		return r;
	if (c->bt || tval) {
		rec.has_time = true;
		r = lwm2m_senml_time(c->bt != NULL, c->bt ? number_as_double(c->bt) : 0, tval != NULL,
				     tval ? number_as_double(tval) : 0, &rec.time);
		if (r < 0)
			return r;
	}
	slot = lwm2m_records_add(c->out);
	if (!slot)
		return -ENOMEM;
	*slot = rec;
	return 0;
}

int lwm2m_lwm2m_json_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len,
			    lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out)
{
	struct entry_ctx c = { .base = base, .bn = "", .type_of = type_of, .type_ctx = type_ctx, .out = out };
	struct json_object *root = NULL, *e = NULL;
	size_t n0 = out->n, count;
	int r;

	r = lwm2m_json_parse(data, len, &root);
	if (r < 0)
		return r;
	r = -EBADMSG;
	if (!json_object_is_type(root, json_type_object))
		goto out;
	json_object_object_foreach(root, key, v)
	{
		if (strcmp(key, "bn") == 0) {
			if (!json_object_is_type(v, json_type_string))
				goto out;
			c.bn = json_object_get_string(v);
			c.bnlen = (size_t)json_object_get_string_len(v);
		} else if (strcmp(key, "bt") == 0) {
			if (!is_number(v))
				goto out;
			c.bt = v;
		} else if (strcmp(key, "e") == 0) {
			if (!json_object_is_type(v, json_type_array))
				goto out;
			e = v;
		}
	}
	if (!e)
		goto out;
	r = 0;
	count = json_object_array_length(e);
	for (size_t i = 0; i < count && r == 0; i++)
		r = decode_entry(&c, json_object_array_get_idx(e, i));
out:
	if (r < 0)
		lwm2m_records_truncate(out, n0);
	json_object_put(root);
	return r;
}
