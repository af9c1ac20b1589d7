/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OMA-LwM2M TLV (content format 11542, TS 1.1 Core §7.4.3).
 *
 * Each TLV is: a type byte (bits 7-6 identifier kind: 00 object instance,
 * 01 resource instance, 10 multiple resource, 11 resource with value; bit 5
 * a 16-bit identifier; bits 4-3 the size of the length field, 0 meaning the
 * length sits in bits 2-0), the identifier, the length, the value. Values
 * carry no type, so decoding asks type_of.
 *
 * The payload's outermost level depends on the request path: object
 * instances under an object, resources under an instance, exactly one
 * resource (or multiple resource) TLV for a resource, exactly one resource
 * instance TLV for a resource instance.
 *
 * Two record shapes exist only to keep TLV payloads lossless:
 *  - an object instance without resources is a record of type NONE at
 *    /oid/iid, and a multiple resource without instances one of type NONE
 *    at /oid/iid/rid;
 *  - resources sent directly under an object (a Create that leaves the
 *    instance id to the client) become records at /oid/65535/rid: 65535 is
 *    the reserved "no id".
 */
#include <errno.h>
#include <string.h>

#include "lwm2m/cbor.h"
#include "lwm2m/codec_internal.h"

enum {
	TLV_OBJ_INST = 0, /* 00 */
	TLV_RES_INST = 1, /* 01 */
	TLV_MULTI = 2,    /* 10 */
	TLV_RES = 3,      /* 11 */
};

#define NO_ID            0xffff
#define TLV_MAX_LEN      0xffffffu /* 24-bit length field */
#define TLV_MAX_HEAD_LEN 6

/* ---- encoding ---- */

static size_t tlv_head(uint8_t h[TLV_MAX_HEAD_LEN], unsigned kind, uint16_t id, size_t len)
{
	size_t n = 1;

	h[0] = (uint8_t)(kind << 6);
	if (id > 0xff) {
		h[0] |= 0x20;
		h[n++] = (uint8_t)(id >> 8);
	}
	h[n++] = (uint8_t)id;
	if (len < 8) {
		h[0] |= (uint8_t)len;
	} else if (len <= 0xff) {
		h[0] |= 0x08;
		h[n++] = (uint8_t)len;
	} else if (len <= 0xffff) {
		h[0] |= 0x10;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[0] |= 0x18;
		h[n++] = (uint8_t)(len >> 16);
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	}
	return n;
}

/* Put a TLV head in front of the content written since start: the content
 * length is only known once the children are encoded. */
static int tlv_wrap(struct lwm2m_buf *out, size_t start, unsigned kind, uint16_t id)
{
	uint8_t h[TLV_MAX_HEAD_LEN];
	size_t clen = out->len - start, hn;
	int r;

	if (clen > TLV_MAX_LEN)
		return -ENOTSUP;
	hn = tlv_head(h, kind, id, clen);
	if ((r = lwm2m_buf_append(out, h, hn)) < 0)
		return r;
	memmove(out->data + start + hn, out->data + start, clen);
	memcpy(out->data + start, h, hn);
	return 0;
}

static size_t be_put(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return n;
}

static int put_value(struct lwm2m_buf *out, const struct lwm2m_value *v)
{
	uint8_t b[8];
	size_t n;

	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		/* Shortest of 1, 2, 4 or 8 bytes of two's complement. */
		if (v->i >= INT8_MIN && v->i <= INT8_MAX)
			n = 1;
		else if (v->i >= INT16_MIN && v->i <= INT16_MAX)
			n = 2;
		else if (v->i >= INT32_MIN && v->i <= INT32_MAX)
			n = 4;
		else
			n = 8;
		be_put(b, (uint64_t)v->i, n);
		break;
	case LWM2M_TYPE_UNSIGNED:
		n = v->u <= 0xff ? 1 : v->u <= 0xffff ? 2 : v->u <= 0xffffffffu ? 4 : 8;
		be_put(b, v->u, n);
		break;
	case LWM2M_TYPE_FLOAT: {
		uint32_t f;
		uint64_t d;
		/* Four bytes only when they hold exactly the same value. */
		if (lw_double_to_single(v->f, &f)) {
			n = be_put(b, f, 4);
		} else {
			memcpy(&d, &v->f, sizeof(d));
			n = be_put(b, d, 8);
		}
		break;
	}
	case LWM2M_TYPE_BOOLEAN:
		b[0] = v->b ? 1 : 0;
		n = 1;
		break;
	case LWM2M_TYPE_OBJLNK:
		be_put(b, v->lnk.oid, 2);
		be_put(b + 2, v->lnk.iid, 2);
		n = 4;
		break;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		if (v->bytes.len > TLV_MAX_LEN)
			return -ENOTSUP;
		return v->bytes.len ? lwm2m_buf_append(out, v->bytes.ptr, v->bytes.len) : 0;
	case LWM2M_TYPE_NONE:
		return -ENOTSUP; /* TLV has no "no value" */
	default:
		return -EINVAL;
	}
	return lwm2m_buf_append(out, b, n);
}

static int put_leaf(struct lwm2m_buf *out, unsigned kind, uint16_t id, const struct lwm2m_value *v)
{
	size_t start = out->len;
	int r = put_value(out, v);

	return r < 0 ? r : tlv_wrap(out, start, kind, id);
}

/* One resource: recs[0..n) all share oid/iid/rid. */
static int put_resource(struct lwm2m_buf *out, const struct lwm2m_record *recs, size_t n)
{
	uint16_t rid = recs[0].path.id[LWM2M_RID];
	size_t start;
	int r;

	if (recs[0].path.len == 3) {
		if (n != 1)
			return -EINVAL; /* twice, or single and multiple at once */
		if (recs[0].value.type == LWM2M_TYPE_NONE) {
			start = out->len;
			return tlv_wrap(out, start, TLV_MULTI, rid); /* no instances */
		}
		return put_leaf(out, TLV_RES, rid, &recs[0].value);
	}
	start = out->len;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].path.len != 4 ||
		    (i && recs[i].path.id[LWM2M_RIID] == recs[i - 1].path.id[LWM2M_RIID]))
			return -EINVAL;
		if ((r = put_leaf(out, TLV_RES_INST, recs[i].path.id[LWM2M_RIID], &recs[i].value)) < 0)
			return r;
	}
	return tlv_wrap(out, start, TLV_MULTI, rid);
}

/* The resources of one instance, grouped by resource id (recs sorted). */
static int put_resources(struct lwm2m_buf *out, const struct lwm2m_record *recs, size_t n)
{
	size_t i = 0, j;
	int r;

	while (i < n) {
		if (recs[i].path.len < 3)
			return -EINVAL;
		for (j = i + 1; j < n && recs[j].path.len >= 3 &&
				recs[j].path.id[LWM2M_RID] == recs[i].path.id[LWM2M_RID];
		     j++)
			;
		if ((r = put_resource(out, recs + i, j - i)) < 0)
			return r;
		i = j;
	}
	return 0;
}

static int put_object(struct lwm2m_buf *out, const struct lwm2m_record *recs, size_t n)
{
	size_t i = 0, j, start;
	int r;

	if (n && recs[0].path.len >= 2 && recs[0].path.id[LWM2M_IID] == NO_ID) {
		/* Resources for an instance the client will number. */
		for (i = 0; i < n; i++)
			if (recs[i].path.len < 3 || recs[i].path.id[LWM2M_IID] != NO_ID)
				return -EINVAL;
		return put_resources(out, recs, n);
	}
	while (i < n) {
		uint16_t iid;
		if (recs[i].path.len < 2 || recs[i].path.id[LWM2M_IID] == NO_ID)
			return -EINVAL;
		iid = recs[i].path.id[LWM2M_IID];
		for (j = i + 1; j < n && recs[j].path.len >= 2 && recs[j].path.id[LWM2M_IID] == iid; j++)
			;
		start = out->len;
		if (recs[i].path.len == 2) {
			/* An instance without resources. */
			if (j - i != 1 || recs[i].value.type != LWM2M_TYPE_NONE)
				return -EINVAL;
		} else if ((r = put_resources(out, recs + i, j - i)) < 0) {
			return r;
		}
		if ((r = tlv_wrap(out, start, TLV_OBJ_INST, iid)) < 0)
			return r;
		i = j;
	}
	return 0;
}

int lwm2m_tlv_encode(const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
		     struct lwm2m_buf *out)
{
	size_t start = out->len;
	int r;

	if (base->len == 0)
		return -ENOTSUP; /* composite: TLV has one base */
	for (size_t i = 0; i < n; i++) {
		if (recs[i].prefix.len)
			return -ENOTSUP; /* no room for an Object 25 prefix */
		if (!lwm2m_path_is_under(&recs[i].path, base))
			return -EINVAL;
	}
	switch (base->len) {
	case 1:
		r = put_object(out, recs, n);
		break;
	case 2:
		r = put_resources(out, recs, n);
		break;
	case 3:
		r = n ? put_resource(out, recs, n) : 0;
		break;
	default:
		if (n == 0)
			r = 0;
		else if (n != 1)
			r = -EINVAL;
		else
			r = put_leaf(out, TLV_RES_INST, base->id[LWM2M_RIID], &recs[0].value);
		break;
	}
	if (r < 0)
		out->len = start;
	return r;
}

/* ---- decoding ---- */

struct tlv {
	unsigned kind;
	uint16_t id;
	const uint8_t *v;
	size_t len;
};

struct tlv_in {
	const uint8_t *p, *end;
};

static uint64_t be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Next TLV of in; -EBADMSG when its head or value runs past the end. */
static int tlv_next(struct tlv_in *in, struct tlv *t)
{
	size_t avail = (size_t)(in->end - in->p), idn, lenn, hn;
	uint8_t type;

	if (avail < 2)
		return -EBADMSG;
	type = in->p[0];
	idn = type & 0x20 ? 2 : 1;
	lenn = (type >> 3) & 3;
	/* The 3-bit length is only meaningful without a length field. */
	if (lenn && (type & 7))
		return -EBADMSG;
	hn = 1 + idn + lenn;
	if (avail < hn)
		return -EBADMSG;
	t->kind = type >> 6;
	t->id = (uint16_t)be_get(in->p + 1, idn);
	t->len = lenn ? (size_t)be_get(in->p + 1 + idn, lenn) : (size_t)(type & 7);
	if (t->id == NO_ID || t->len > avail - hn)
		return -EBADMSG;
	t->v = in->p + hn;
	in->p += hn + t->len;
	return 0;
}

struct tlv_dec {
	lwm2m_type_fn type_of;
	void *type_ctx;
	struct lwm2m_records *out;
	size_t start;
};

static int add_record(struct tlv_dec *d, const struct lwm2m_path *p, const struct lwm2m_value *v)
{
	struct lwm2m_record *rec;

	if (d->out->n - d->start >= LW_DECODE_MAX_RECORDS)
		return -EBADMSG;
	if (!(rec = lwm2m_records_add(d->out)))
		return -ENOMEM;
	rec->path = *p;
	rec->value = *v;
	return 0;
}

static int get_value(struct tlv_dec *d, const struct lwm2m_path *p, const struct tlv *t,
		     struct lwm2m_value *v)
{
	enum lwm2m_type type = lw_type_of(d->type_of, d->type_ctx, p);
	uint64_t u;

	*v = (struct lwm2m_value){ .type = (uint8_t)type };
	switch (type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
	case LWM2M_TYPE_UNSIGNED:
		if (t->len != 1 && t->len != 2 && t->len != 4 && t->len != 8)
			return -EBADMSG;
		u = be_get(t->v, t->len);
		if (type == LWM2M_TYPE_UNSIGNED) {
			v->u = u; /* never negative, whatever its top bit */
		} else if (t->len == 8) {
			v->i = (int64_t)u;
		} else {
			/* Sign-extend from the top bit of the received width. */
			uint64_t sign = 1ull << (8 * t->len - 1);
			v->i = (int64_t)((u ^ sign) - sign);
		}
		return 0;
	case LWM2M_TYPE_FLOAT:
		if (t->len == 4) {
			v->f = lw_single_to_double((uint32_t)be_get(t->v, 4));
		} else if (t->len == 8) {
			u = be_get(t->v, 8);
			memcpy(&v->f, &u, sizeof(v->f));
		} else {
			return -EBADMSG;
		}
		return 0;
	case LWM2M_TYPE_BOOLEAN:
		if (t->len != 1 || t->v[0] > 1)
			return -EBADMSG;
		v->b = t->v[0] == 1;
		return 0;
	case LWM2M_TYPE_OBJLNK:
		if (t->len != 4)
			return -EBADMSG;
		v->lnk.oid = (uint16_t)be_get(t->v, 2);
		v->lnk.iid = (uint16_t)be_get(t->v + 2, 2);
		return 0;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
		break;
	default:
		/* Opaque, and whatever type_of does not know: the raw bytes. */
		v->type = LWM2M_TYPE_OPAQUE;
		break;
	}
	v->bytes.len = t->len;
	v->bytes.ptr = lwm2m_records_dup(d->out, t->v, t->len);
	return v->bytes.ptr ? 0 : -ENOMEM;
}

static int get_leaf(struct tlv_dec *d, const struct lwm2m_path *p, const struct tlv *t)
{
	struct lwm2m_value v;
	int r = get_value(d, p, t, &v);

	return r < 0 ? r : add_record(d, p, &v);
}

/* A resource (11) or multiple resource (10) TLV of instance oid/iid. */
static int get_resource(struct tlv_dec *d, uint16_t oid, uint16_t iid, const struct tlv *t)
{
	struct lwm2m_path p = LWM2M_PATH(oid, iid, t->id);
	struct tlv_in in = { t->v, t->v + t->len };
	struct tlv c;
	int r;

	if (t->kind == TLV_RES)
		return get_leaf(d, &p, t);
	if (t->kind != TLV_MULTI)
		return -EBADMSG;
	if (t->len == 0) {
		struct lwm2m_value none = { .type = LWM2M_TYPE_NONE };
		return add_record(d, &p, &none);
	}
	while (in.p < in.end) {
		if ((r = tlv_next(&in, &c)) < 0)
			return r;
		if (c.kind != TLV_RES_INST)
			return -EBADMSG;
		struct lwm2m_path ip = LWM2M_PATH(oid, iid, t->id, c.id);
		if ((r = get_leaf(d, &ip, &c)) < 0)
			return r;
	}
	return 0;
}

/* The resources making up one object instance's content. */
static int get_resources(struct tlv_dec *d, uint16_t oid, uint16_t iid, const uint8_t *p, size_t len)
{
	struct tlv_in in = { p, p + len };
	struct tlv t;
	int r;

	while (in.p < in.end) {
		if ((r = tlv_next(&in, &t)) < 0)
			return r;
		if ((r = get_resource(d, oid, iid, &t)) < 0)
			return r;
	}
	return 0;
}

static int get_object(struct tlv_dec *d, uint16_t oid, const uint8_t *data, size_t len)
{
	struct tlv_in in = { data, data + len };
	struct tlv t;
	int wrapped = -1, r;

	while (in.p < in.end) {
		if ((r = tlv_next(&in, &t)) < 0)
			return r;
		/* Either object instances or bare resources, never both. */
		if (wrapped == -1)
			wrapped = t.kind == TLV_OBJ_INST;
		else if (wrapped != (t.kind == TLV_OBJ_INST))
			return -EBADMSG;
		if (!wrapped) {
			r = get_resource(d, oid, NO_ID, &t);
		} else if (t.len == 0) {
			struct lwm2m_path p = LWM2M_PATH(oid, t.id);
			struct lwm2m_value none = { .type = LWM2M_TYPE_NONE };
			r = add_record(d, &p, &none);
		} else {
			r = get_resources(d, oid, t.id, t.v, t.len);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int get_instance(struct tlv_dec *d, const struct lwm2m_path *base, const uint8_t *data, size_t len)
{
	struct tlv_in in = { data, data + len };
	struct tlv t;
	int r;

	/* Some servers wrap a Write on an instance in its object instance
	 * TLV: accepted when it is the whole payload and names the base. */
	if (len && data[0] >> 6 == TLV_OBJ_INST) {
		if ((r = tlv_next(&in, &t)) < 0)
			return r;
		if (t.id != base->id[LWM2M_IID] || in.p != in.end)
			return -EBADMSG;
		data = t.v;
		len = t.len;
	}
	return get_resources(d, base->id[LWM2M_OID], base->id[LWM2M_IID], data, len);
}

int lwm2m_tlv_decode(const struct lwm2m_path *base, const uint8_t *data, size_t len, lwm2m_type_fn type_of,
		     void *type_ctx, struct lwm2m_records *out)
{
	static const uint8_t nothing[1];
	struct tlv_dec d = { type_of, type_ctx, out, out->n };
	struct tlv_in in;
	struct tlv t;
	int r;

	if (!data)
		data = nothing, len = 0; /* no arithmetic on a NULL pointer */
	in = (struct tlv_in){ data, data + len };
	if (base->len == 0)
		return -ENOTSUP;
	switch (base->len) {
	case 1:
		r = get_object(&d, base->id[LWM2M_OID], data, len);
		break;
	case 2:
		r = get_instance(&d, base, data, len);
		break;
	case 3:
		/* Exactly one resource TLV, naming the base resource. */
		r = tlv_next(&in, &t);
		if (!r && (in.p != in.end || t.id != base->id[LWM2M_RID] ||
			   (t.kind != TLV_RES && t.kind != TLV_MULTI)))
			r = -EBADMSG;
		if (!r)
			r = get_resource(&d, base->id[LWM2M_OID], base->id[LWM2M_IID], &t);
		break;
	default:
		r = tlv_next(&in, &t);
		if (!r && (in.p != in.end || t.id != base->id[LWM2M_RIID] || t.kind != TLV_RES_INST))
			r = -EBADMSG;
		if (!r)
			r = get_leaf(&d, base, &t);
		break;
	}
	if (!r && out->n > d.start)
		r = lw_records_check_tree(out->v + d.start, out->n - d.start);
	if (r < 0)
		lwm2m_records_truncate(out, d.start);
	return r;
}
