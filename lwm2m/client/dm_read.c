/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device management, the reading side: Read (Accept honoured), Discover
 * (Accept 40), Read-Composite (FETCH), Write-Attributes, and the Observe
 * requests that ride on Read. Dispatched by dispatch.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* ---- attributes ---------------------------------------------------------- */

static int fmt_attrs(struct lwm2m_buf *b, const struct lwm2m_attrs *a)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ LWM2M_ATTR_PMIN, "pmin" },   { LWM2M_ATTR_PMAX, "pmax" }, { LWM2M_ATTR_GT, "gt" },
		{ LWM2M_ATTR_LT, "lt" },       { LWM2M_ATTR_ST, "st" },     { LWM2M_ATTR_EPMIN, "epmin" },
		{ LWM2M_ATTR_EPMAX, "epmax" },
	};
	int r = 0;

	if (!a)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && r >= 0; i++) {
		uint32_t bit = names[i].bit;
		char num[32];

		if (!(a->set & bit))
			continue;
		switch (bit) {
		case LWM2M_ATTR_PMIN:
			r = lwm2m_buf_printf(b, ";pmin=%u", a->pmin);
			break;
		case LWM2M_ATTR_PMAX:
			r = lwm2m_buf_printf(b, ";pmax=%u", a->pmax);
			break;
		case LWM2M_ATTR_EPMIN:
			r = lwm2m_buf_printf(b, ";epmin=%u", a->epmin);
			break;
		case LWM2M_ATTR_EPMAX:
			r = lwm2m_buf_printf(b, ";epmax=%u", a->epmax);
			break;
		default: {
			double v = bit == LWM2M_ATTR_GT ? a->gt : bit == LWM2M_ATTR_LT ? a->lt : a->st;

			if (lwm2m_fmt_double(v, num) < 0)
				return -EINVAL;
			r = lwm2m_buf_printf(b, ";%s=%s", names[i].name, num);
		}
		}
	}
	return r < 0 ? r : 0;
}

/* The attributes attached at p of the request's tree, as link parameters. */
static int fmt_attrs_at(struct lwm2m_buf *b, const struct fg_req *rq, const struct lwm2m_path *p)
{
	struct lwm2m_attrs a;

	if (lwm2m_endpoint_attrs(rq->ep, rq->t.dev, p, &a) < 0)
		return 0;
	return fmt_attrs(b, &a);
}

static bool type_numeric(uint8_t t)
{
	return t == LWM2M_TYPE_INTEGER || t == LWM2M_TYPE_UNSIGNED || t == LWM2M_TYPE_FLOAT;
}

/* Does path exist for the purpose of Discover and Write-Attributes? */
bool fg_dm_path_exists(const struct fg_req *rq, const struct lwm2m_path *p)
{
	const struct lwm2m_resdef *rd;

	if (p->len == 0)
		return true;
	if (p->len == 1) {
		if (lwm2m_store_has(rq->t.store, p))
			return true;
		if (fg_req_own_tree(rq))
			for (size_t i = 0; i < rq->ep->ndeclared; i++)
				if (rq->ep->declared[i] == p->id[0])
					return true;
		return false;
	}
	if (!lwm2m_store_has(rq->t.store, &LWM2M_PATH(p->id[0], p->id[1])))
		return false;
	if (p->len == 2)
		return true;
	rd = fg_req_resdef(rq, p);
	if (!rd)
		return false;
	if (p->len == 3 && (rd->ops & LWM2M_OP_E))
		return true;
	return lwm2m_store_has(rq->t.store, p);
}

void fg_dm_write_attributes(struct fg_req *rq)
{
	struct lwm2m_endpoint *ep = rq->ep;
	struct lwm2m_attrs req = { 0 };
	const struct lwm2m_resdef *rd;
	int r;

	if (rq->path.len == 0) {
		fg_req_fail(rq, -EPERM);
		return;
	}
	if (!fg_dm_path_exists(rq, &rq->path)) {
		fg_req_fail(rq, -ENOENT);
		return;
	}
	r = lwm2m_attrs_parse_query((const char *)rq->query->s, rq->query->length, &req);
	if (r < 0) {
		fg_req_fail(rq, -EINVAL);
		return;
	}
	/* gt, lt and st only make sense on numbers (TS "Attributes"). */
	rd = rq->path.len >= 3 ? fg_req_resdef(rq, &rq->path) : NULL;
	if (rd && !type_numeric(rd->type) && (req.set & (LWM2M_ATTR_GT | LWM2M_ATTR_LT | LWM2M_ATTR_ST))) {
		fg_req_fail(rq, -EINVAL);
		return;
	}
	/* The engine keeps the attributes, checks the merged set and
	 * reschedules the observations they affect. */
	r = lwm2m_obs_write_attrs(ep->c->obs, rq->t.dev ? rq->t.dev->obs_id : ep->obs.id, &rq->path, &req,
				  fg_now(ep->c) / 1000u);
	if (r < 0) {
		fg_req_fail(rq, r == -ENOMEM ? r : -EINVAL);
		return;
	}
	fg_obs_rearm(ep->c);
	fg_obs_changed(ep, rq->t.dev);
	fg_req_code(rq, COAP_RESPONSE_CODE(204));
}

/* ---- Read, Discover, Read-Composite -------------------------------------- */

/* Only the SenML family names records absolutely; TLV, LwM2M CBOR, text
 * and opaque are relative to the request path, which already carries the
 * device's prefix. */
bool fg_ct_names_prefix(uint16_t ct)
{
	return ct == LWM2M_CT_SENML_JSON || ct == LWM2M_CT_SENML_CBOR || ct == LWM2M_CT_LWM2M_JSON;
}

static void set_prefix(struct lwm2m_records *recs, size_t from, struct lwm2m_span prefix)
{
	for (size_t i = from; i < recs->n; i++)
		recs->v[i].prefix = prefix;
}

static uint16_t default_read_ct(const struct fg_req *rq)
{
	const struct lwm2m_resdef *rd = fg_req_resdef(rq, &rq->path);

	/* A single value without Accept: plain text (octet stream for Opaque),
	 * which every server version reads. */
	if (rd && (rq->path.len == 4 || !(rd->flags & LWM2M_RES_MULTIPLE)))
		return rd->type == LWM2M_TYPE_OPAQUE ? LWM2M_CT_OPAQUE : LWM2M_CT_TEXT;
	return fg_ep_default_ct(rq->ep);
}

/* Observe option of a Read (paths: what it reads): start or stop an
 * observation. 1 when the answer is to carry an Observe option, 0 when it
 * is a plain Read, -EBUSY when the bound on observations is reached: the
 * request is then answered 5.03 (issue 11), an error response the server
 * cannot mistake for an established observation, nor for a missing value. */
static int observe_request(struct fg_req *rq, const struct lwm2m_path *paths, size_t n, bool composite,
			   uint16_t ct)
{
	coap_bin_const_t tok = coap_pdu_get_token(rq->pdu);
	int r;

	/* Observe 1 (and a previous observation of this token) already
	 * ended in fg_request_handler(). */
	if (!rq->observe || rq->obs_val != 0)
		return 0;
	r = fg_obs_start(rq->ep, rq->t.dev, tok.s, tok.length, paths, n, composite, ct);
	if (r == -ENOSPC) /* fg_obs_start() counted and logged it */
		return -EBUSY;
	/* Anything else (out of memory) still serves the Read: RFC 7641
	 * §4.1's fallback when an observer cannot be added. */
	if (r < 0)
		ep_log(rq->ep, LWM2M_LOG_WARNING, "observation refused: %s", strerror(-r));
	return r == 0;
}

/* The answer to a Read: the content, or 5.03 with a diagnostic payload
 * (RFC 7252 §5.5.2) when the Observe it asked for is over the bound. */
static void reply_read(struct fg_req *rq, uint16_t ct, struct lwm2m_buf *out, int observing)
{
	static const char why[] = "too many observations";

	if (observing == -EBUSY) {
		fg_req_code(rq, lwm2m_errno_to_coap(-EBUSY));
		coap_add_data(rq->response, sizeof(why) - 1, (const uint8_t *)why);
		return;
	}
	fg_req_reply(rq, ct, out, observing > 0);
}

/* Is there an ops->read to ask (for a Read-Composite: of any tree of the
 * endpoint, each name asks its own)? */
static bool has_read(const struct fg_req *rq, bool composite)
{
	const struct lwm2m_endpoint_ops *o;
	void *ud;

	if (composite) {
		if (rq->ep->ops && rq->ep->ops->read)
			return true;
		for (size_t i = 0; i < rq->ep->ndevs; i++) {
			o = fg_ops_of(rq->ep, rq->ep->devs[i], &ud);
			if (o && o->read)
				return true;
		}
		return false;
	}
	o = fg_ops_of(rq->ep, rq->t.dev, &ud);
	return o && o->read;
}

void fg_dm_read(struct fg_req *rq)
{
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf out = { 0 };
	uint16_t ct = rq->accept != LWM2M_CT_NONE ? rq->accept : default_read_ct(rq);
	int r;

	if (rq->path.len == 0) {
		fg_req_fail(rq, -EPERM);
		return;
	}
	if (!rq->refreshed && !rq->observe && has_read(rq, false) &&
	    !fg_req_client_owned(rq, rq->path.id[0]) && fg_dm_ask_read(rq))
		return;
	r = lwm2m_store_read(rq->t.store, &rq->path, &recs);
	/* The field could not be asked: a stale value is still an answer
	 * (client.h), only none at all is the field's error. */
	if (rq->refreshed && rq->refresh_err < 0 && (r < 0 || recs.n == 0))
		r = rq->refresh_err;
	if (r < 0)
		goto out;
	if (rq->t.dev && fg_ct_names_prefix(ct))
		set_prefix(&recs, 0, rq->t.prefix);
	r = lwm2m_encode(ct, &rq->path, recs.v, recs.n, &out);
	if (r == -EPROTONOSUPPORT || r == -ENOTSUP) {
		r = -ENOTSUP; /* 4.06: we cannot produce what Accept asks */
		goto out;
	}
	if (r < 0)
		goto out;
	reply_read(rq, ct, &out, observe_request(rq, &rq->path, 1, false, ct));
out:
	if (r < 0)
		fg_req_fail(rq, r == -EINVAL ? -EIO : r);
	lwm2m_records_clear(&recs);
	lwm2m_buf_free(&out);
}

static int link_path(struct lwm2m_buf *b, const struct fg_req *rq, const struct lwm2m_path *p, bool first)
{
	char s[32];

	lwm2m_path_format(p, s);
	if (rq->t.dev)
		return lwm2m_buf_printf(b, "%s</%.*s%s>", first ? "" : ",", (int)rq->t.prefix.len,
					rq->t.prefix.ptr, s);
	return lwm2m_buf_printf(b, "%s<%s>", first ? "" : ",", s);
}

/* Links of the resources of one instance (and the instance itself unless
 * only one resource is asked for). */
static int discover_instance(struct lwm2m_buf *b, const struct fg_req *rq, const struct lwm2m_objdef *def,
			     uint16_t iid, int only_rid, bool first)
{
	struct lwm2m_path ip = LWM2M_PATH(def->oid, iid);
	int r;

	if (only_rid < 0) {
		r = link_path(b, rq, &ip, first);
		if (r >= 0)
			r = fmt_attrs_at(b, rq, &ip);
		if (r < 0)
			return r;
		first = false;
	}
	for (size_t k = 0; k < def->nres; k++) {
		const struct lwm2m_resdef *rd = &def->res[k];
		struct lwm2m_path rp = LWM2M_PATH(def->oid, iid, rd->rid);

		if (only_rid >= 0 && rd->rid != only_rid)
			continue;
		if (!(rd->ops & LWM2M_OP_E) && !lwm2m_store_has(rq->t.store, &rp))
			continue;
		r = link_path(b, rq, &rp, first);
		if (r < 0)
			return r;
		first = false;
		if ((rd->flags & LWM2M_RES_MULTIPLE) && (rd->ops & LWM2M_OP_R)) {
			struct lwm2m_records recs = { 0 };

			if (lwm2m_store_read(rq->t.store, &rp, &recs) == 0 || recs.n == 0)
				r = lwm2m_buf_printf(b, ";dim=%zu", recs.n);
			lwm2m_records_clear(&recs);
			if (r < 0)
				return r;
		}
		r = fmt_attrs_at(b, rq, &rp);
		if (r < 0)
			return r;
	}
	return 0;
}

struct disc_ctx {
	struct lwm2m_buf *b;
	const struct fg_req *rq;
	bool first;
};

static int discover_each(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	struct disc_ctx *d = ctx;
	int r;

	if (def->oid != d->rq->path.id[0])
		return 0;
	r = discover_instance(d->b, d->rq, def, iid, -1, d->first);
	d->first = false;
	return r;
}

void fg_dm_discover(struct fg_req *rq)
{
	const struct lwm2m_objdef *def;
	struct lwm2m_buf b = { 0 };
	int r;

	if (rq->path.len == 0 || rq->path.len == 4) {
		fg_req_fail(rq, -EPERM);
		return;
	}
	def = fg_objdef(rq->ep, rq->path.id[0]);
	if (!def || !fg_dm_path_exists(rq, &rq->path)) {
		fg_req_fail(rq, -ENOENT);
		return;
	}
	switch (rq->path.len) {
	case 1: {
		struct disc_ctx d = { &b, rq, false };

		r = link_path(&b, rq, &rq->path, true);
		unsigned v = fg_announced_version(def, rq->ep->version);
		if (r >= 0 && v != 10)
			r = lwm2m_buf_printf(&b, ";ver=%u.%u", v / 10, v % 10);
		if (r >= 0)
			r = fmt_attrs_at(&b, rq, &rq->path);
		if (r >= 0)
			r = lwm2m_store_foreach_instance(rq->t.store, discover_each, &d);
		break;
	}
	case 2:
		r = discover_instance(&b, rq, def, rq->path.id[1], -1, true);
		break;
	default:
		r = discover_instance(&b, rq, def, rq->path.id[1], rq->path.id[2], true);
		break;
	}
	if (r < 0) {
		lwm2m_buf_free(&b);
		fg_req_fail(rq, r == -EINVAL ? -EIO : r);
		return;
	}
	fg_req_reply(rq, LWM2M_CT_LINK, &b, false);
	lwm2m_buf_free(&b);
}

static bool same_record_name(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	return a->prefix.len == b->prefix.len &&
	       (!a->prefix.len || !memcmp(a->prefix.ptr, b->prefix.ptr, a->prefix.len)) &&
	       lwm2m_path_cmp(&a->path, &b->path) == 0;
}

void fg_dm_read_composite(struct fg_req *rq)
{
	struct lwm2m_records names = { 0 }, recs = { 0 };
	struct lwm2m_buf out = { 0 };
	static const struct lwm2m_path root = { .len = 0 };
	uint16_t ct;
	size_t found = 0;
	bool prefixed = false;
	int observing;
	int r;

	if (rq->cf == LWM2M_CT_NONE) {
		r = -EPROTONOSUPPORT;
		goto out;
	}
	if (rq->path.len != 0 || rq->t.dev) {
		r = -EPERM;
		goto out;
	}
	ct = rq->accept != LWM2M_CT_NONE ? rq->accept : rq->cf;
	r = lwm2m_decode(rq->cf, &root, rq->data, rq->len, NULL, NULL, &names);
	if (r == -ENOTSUP)
		r = -EPROTONOSUPPORT;
	if (r < 0)
		goto out;
	if (!rq->refreshed && !rq->observe && has_read(rq, true) && fg_dm_ask_read_composite(rq, &names))
		goto out; /* answered, or separate */
	for (size_t i = 0; i < names.n; i++) {
		const struct lwm2m_record *nm = &names.v[i];
		struct fg_dm_target t;
		size_t n0 = recs.n;

		prefixed |= nm->prefix.len > 0;
		if (nm->path.len == 0 || fg_req_route(rq, &nm->prefix, &t) < 0)
			continue;
		if (!t.dev && (nm->path.id[0] == 0 || nm->path.id[0] == 21)) {
			r = -EACCES;
			goto out;
		}
		r = lwm2m_store_read(t.store, &nm->path, &recs);
		if (r == -ENOENT || r == -EPERM)
			continue;
		if (r < 0)
			goto out;
		found++;
		if (t.dev)
			set_prefix(&recs, n0, t.prefix);
	}
	if (rq->refreshed && rq->refresh_err < 0 && recs.n == 0) {
		r = rq->refresh_err; /* no stale value either (as do_read) */
		goto out;
	}
	if (names.n && !found) {
		r = -ENOENT;
		goto out;
	}
	lwm2m_records_sort(&recs);
	/* Overlapping names ("/3/0" and "/3/0/1") must not repeat a value. */
	if (recs.n > 1) {
		size_t o = 1;

		for (size_t i = 1; i < recs.n; i++)
			if (!same_record_name(&recs.v[i], &recs.v[o - 1]))
				recs.v[o++] = recs.v[i];
		recs.n = o;
	}
	r = lwm2m_encode(ct, &root, recs.v, recs.n, &out);
	if (r == -EPROTONOSUPPORT || r == -ENOTSUP) {
		r = -ENOTSUP;
		goto out;
	}
	if (r < 0)
		goto out;
	observing = 0;
	if (rq->observe && names.n && names.n <= 64 && !prefixed) {
		struct lwm2m_path paths[64];

		for (size_t i = 0; i < names.n; i++)
			paths[i] = names.v[i].path;
		observing = observe_request(rq, paths, names.n, true, ct);
	}
	reply_read(rq, ct, &out, observing);
out:
	if (r < 0)
		fg_req_fail(rq, r == -EINVAL ? -EBADMSG : r);
	lwm2m_records_clear(&names);
	lwm2m_records_clear(&recs);
	lwm2m_buf_free(&out);
}
