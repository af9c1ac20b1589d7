/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device management and service enablement: the requests an LwM2M server
 * sends over an endpoint's session. One libcoap handler receives them all
 * (the context's unknown resource); the session's app data names the
 * endpoint, the first Uri-Path segment may name an Object 25 device.
 *
 *   GET                 Read (Accept honoured), Discover (Accept 40)
 *   PUT                 Write replace; Write-Attributes (query, no payload)
 *   POST /o             Create
 *   POST /o/i           Write partial update
 *   POST /o/i/r         Execute (or partial update of a multiple resource)
 *   DELETE /o/i         Delete
 *   FETCH               Read-Composite
 *
 * Writes and Executes may complete asynchronously (ops table): the handler
 * registers a libcoap async (empty ACK now), and when done() comes, triggers
 * it; libcoap then calls this handler again with a copy of the request and
 * the answer is sent as a separate CON response.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

struct fg_pending {
	struct fg_pending *prev, *next;
	struct lwm2m_endpoint *ep; /* NULL once abandoned */
	coap_session_t *session;   /* referenced while ep is set */
	coap_async_t *async;
	int result;
	bool done, in_handler;
	bool read; /* ops->read: the request is answered again once done */
	/* The body of a block-wise request served again once done: libcoap
	 * keeps only the last block's datagram for that. */
	uint8_t *body;
	size_t body_len;
};

/* A request's target: the endpoint's own tree or a device's. */
struct target {
	struct lwm2m_store *store;
	struct lwm2m_device *dev;
	struct lwm2m_span prefix;
};

struct req {
	struct lwm2m_endpoint *ep;
	coap_resource_t *resource;
	coap_session_t *session;
	const coap_pdu_t *pdu;
	const coap_string_t *query;
	coap_pdu_t *response;
	coap_pdu_code_t method;
	struct lwm2m_path path;
	struct target t;
	uint16_t accept, cf; /* LWM2M_CT_NONE when absent */
	bool observe;        /* the request has an Observe option */
	uint16_t obs_val;    /* its value: 0 register, 1 deregister */
	const uint8_t *data;
	size_t len;
	uint8_t *owned;  /* data, when reassembled from blocks (freed after the answer) */
	bool refreshed;  /* ops->read completed: answer from the store */
	int refresh_err; /* its result */
};

/* ---- responses ----------------------------------------------------------- */

static void set_code(struct req *rq, uint8_t code)
{
	coap_pdu_set_code(rq->response, (coap_pdu_code_t)code);
}

static void fail(struct req *rq, int err)
{
	set_code(rq, lwm2m_errno_to_coap(err));
}

static void release_buf(coap_session_t *session, void *app_ptr)
{
	(void)session;
	free(app_ptr);
}

/* Answer 2.05 with body (ownership of its memory passes to libcoap, which
 * sends it block-wise when larger than the session's MTU). */
static void reply_content(struct req *rq, uint16_t ct, struct lwm2m_buf *body, bool observing)
{
	uint8_t *data = body->data;
	size_t len = body->len;
	uint8_t seq[4];

	body->data = NULL;
	body->len = body->cap = 0;
	set_code(rq, COAP_RESPONSE_CODE(205));
	/* The answer to an accepted Observe carries the first sequence number;
	 * without it the server knows the observation was refused. */
	if (observing)
		coap_add_option(rq->response, COAP_OPTION_OBSERVE,
				coap_encode_var_safe(seq, sizeof(seq), fg_obs_next_seq(rq->ep->c)), seq);
	/* libcoap 4.3.1 leaves Content-Format out when it is 0 (text/plain),
	 * which a server would read as "no format": say it explicitly. */
	if (ct == LWM2M_CT_TEXT)
		coap_add_option(rq->response, COAP_OPTION_CONTENT_FORMAT, 0, NULL);
	if (!coap_add_data_large_response(rq->resource, rq->session, rq->pdu, rq->response, rq->query, ct, -1,
					  0, len, data ? data : (const uint8_t *)"", release_buf, data)) {
		/* libcoap has called release_buf() already (found by fuzzing:
		 * freeing here too was a double free). */
		set_code(rq, COAP_RESPONSE_CODE(500));
	}
}

/* ---- request parsing ----------------------------------------------------- */

static uint16_t opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, bool *present)
{
	coap_opt_iterator_t oi;
	coap_opt_t *o = coap_check_option(pdu, num, &oi);

	if (present)
		*present = o != NULL;
	if (!o)
		return LWM2M_CT_NONE;
	return (uint16_t)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

/* Uri-Path options to a data-model path and optional device prefix.
 * -EBADMSG malformed, -ENOENT unknown prefix. */
static int parse_path(struct req *rq)
{
	char buf[160];
	size_t n = 0;
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	struct lwm2m_span pfx = { 0 };

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(rq->pdu, &oi, &f);
	while ((o = coap_option_next(&oi))) {
		size_t l = coap_opt_length(o);
		const uint8_t *v = coap_opt_value(o);

		if (l == 0 || n + 1 + l >= sizeof(buf) || memchr(v, '/', l))
			return -EBADMSG;
		buf[n++] = '/';
		memcpy(buf + n, v, l);
		n += l;
	}
	if (lwm2m_path_parse(buf, n, &rq->path, &pfx) < 0)
		return -EBADMSG;
	rq->t.store = rq->ep->store;
	rq->t.dev = NULL;
	rq->t.prefix = (struct lwm2m_span){ 0 };
	if (pfx.len) {
		struct lwm2m_device *dev = fg_device_find(rq->ep, pfx.ptr, pfx.len);

		if (!dev)
			return -ENOENT;
		rq->t.store = dev->store;
		rq->t.dev = dev;
		rq->t.prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
	}
	return 0;
}

static const struct lwm2m_resdef *resdef_of(const struct req *rq, const struct lwm2m_path *p)
{
	const struct lwm2m_objdef *d = fg_objdef(rq->ep, p->id[LWM2M_OID]);

	return d && p->len >= 3 ? lwm2m_objdef_find_res(d, p->id[LWM2M_RID]) : NULL;
}

static bool own_tree(const struct req *rq)
{
	return rq->t.dev == NULL;
}

/* Objects the client manages itself: the server may read them but not
 * create or delete their instances. */
static bool client_owned(const struct req *rq, uint16_t oid)
{
	return own_tree(rq) && (oid == 1 || oid == 25);
}

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
static int fmt_attrs_at(struct lwm2m_buf *b, const struct req *rq, const struct lwm2m_path *p)
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
static bool path_exists(const struct req *rq, const struct lwm2m_path *p)
{
	const struct lwm2m_resdef *rd;

	if (p->len == 0)
		return true;
	if (p->len == 1) {
		if (lwm2m_store_has(rq->t.store, p))
			return true;
		if (own_tree(rq))
			for (size_t i = 0; i < rq->ep->ndeclared; i++)
				if (rq->ep->declared[i] == p->id[0])
					return true;
		return false;
	}
	if (!lwm2m_store_has(rq->t.store, &LWM2M_PATH(p->id[0], p->id[1])))
		return false;
	if (p->len == 2)
		return true;
	rd = resdef_of(rq, p);
	if (!rd)
		return false;
	if (p->len == 3 && (rd->ops & LWM2M_OP_E))
		return true;
	return lwm2m_store_has(rq->t.store, p);
}

static void do_write_attributes(struct req *rq)
{
	struct lwm2m_endpoint *ep = rq->ep;
	struct lwm2m_attrs req = { 0 };
	const struct lwm2m_resdef *rd;
	int r;

	if (rq->path.len == 0) {
		fail(rq, -EPERM);
		return;
	}
	if (!path_exists(rq, &rq->path)) {
		fail(rq, -ENOENT);
		return;
	}
	r = lwm2m_attrs_parse_query((const char *)rq->query->s, rq->query->length, &req);
	if (r < 0) {
		fail(rq, -EINVAL);
		return;
	}
	/* gt, lt and st only make sense on numbers (TS "Attributes"). */
	rd = rq->path.len >= 3 ? resdef_of(rq, &rq->path) : NULL;
	if (rd && !type_numeric(rd->type) && (req.set & (LWM2M_ATTR_GT | LWM2M_ATTR_LT | LWM2M_ATTR_ST))) {
		fail(rq, -EINVAL);
		return;
	}
	/* The engine keeps the attributes, checks the merged set and
	 * reschedules the observations they affect. */
	r = lwm2m_obs_write_attrs(ep->c->obs, rq->t.dev ? rq->t.dev->obs_id : ep->obs_id, &rq->path, &req,
				  fg_now(ep->c) / 1000u);
	if (r < 0) {
		fail(rq, r == -ENOMEM ? r : -EINVAL);
		return;
	}
	fg_obs_rearm(ep->c);
	fg_obs_changed(ep, rq->t.dev);
	set_code(rq, COAP_RESPONSE_CODE(204));
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

static uint16_t default_read_ct(const struct req *rq)
{
	const struct lwm2m_resdef *rd = resdef_of(rq, &rq->path);

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
static int observe_request(struct req *rq, const struct lwm2m_path *paths, size_t n, bool composite,
			   uint16_t ct)
{
	coap_bin_const_t tok = coap_pdu_get_token(rq->pdu);
	int r;

	/* Observe 1 (and a previous observation of this token) already
	 * ended in fg_dm_handler(). */
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
static void reply_read(struct req *rq, uint16_t ct, struct lwm2m_buf *out, int observing)
{
	static const char why[] = "too many observations";

	if (observing == -EBUSY) {
		set_code(rq, lwm2m_errno_to_coap(-EBUSY));
		coap_add_data(rq->response, sizeof(why) - 1, (const uint8_t *)why);
		return;
	}
	reply_content(rq, ct, out, observing > 0);
}

static bool ask_read(struct req *rq);
static bool ask_read_composite(struct req *rq, const struct lwm2m_records *names);
static bool read_settle(struct req *rq, struct fg_pending *p, int r);

static void do_read(struct req *rq)
{
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf out = { 0 };
	uint16_t ct = rq->accept != LWM2M_CT_NONE ? rq->accept : default_read_ct(rq);
	int r;

	if (rq->path.len == 0) {
		fail(rq, -EPERM);
		return;
	}
	if (!rq->refreshed && !rq->observe && rq->ep->ops && rq->ep->ops->read &&
	    !client_owned(rq, rq->path.id[0]) && ask_read(rq))
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
		fail(rq, r == -EINVAL ? -EIO : r);
	lwm2m_records_clear(&recs);
	lwm2m_buf_free(&out);
}

static int link_path(struct lwm2m_buf *b, const struct req *rq, const struct lwm2m_path *p, bool first)
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
static int discover_instance(struct lwm2m_buf *b, const struct req *rq, const struct lwm2m_objdef *def,
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
	const struct req *rq;
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

static void do_discover(struct req *rq)
{
	const struct lwm2m_objdef *def;
	struct lwm2m_buf b = { 0 };
	int r;

	if (rq->path.len == 0 || rq->path.len == 4) {
		fail(rq, -EPERM);
		return;
	}
	def = fg_objdef(rq->ep, rq->path.id[0]);
	if (!def || !path_exists(rq, &rq->path)) {
		fail(rq, -ENOENT);
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
		fail(rq, r == -EINVAL ? -EIO : r);
		return;
	}
	reply_content(rq, LWM2M_CT_LINK, &b, false);
	lwm2m_buf_free(&b);
}

/* Route a record named with an optional prefix to the tree it addresses. */
static int route(const struct req *rq, const struct lwm2m_span *prefix, struct target *t)
{
	t->store = rq->ep->store;
	t->dev = NULL;
	t->prefix = (struct lwm2m_span){ 0 };
	if (prefix->len) {
		struct lwm2m_device *dev = fg_device_find(rq->ep, prefix->ptr, prefix->len);

		if (!dev)
			return -ENOENT;
		t->store = dev->store;
		t->dev = dev;
		t->prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
	}
	return 0;
}

static bool same_record_name(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	return a->prefix.len == b->prefix.len &&
	       (!a->prefix.len || !memcmp(a->prefix.ptr, b->prefix.ptr, a->prefix.len)) &&
	       lwm2m_path_cmp(&a->path, &b->path) == 0;
}

static void do_read_composite(struct req *rq)
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
	if (!rq->refreshed && !rq->observe && rq->ep->ops && rq->ep->ops->read &&
	    ask_read_composite(rq, &names))
		goto out; /* answered, or separate */
	for (size_t i = 0; i < names.n; i++) {
		const struct lwm2m_record *nm = &names.v[i];
		struct target t;
		size_t n0 = recs.n;

		prefixed |= nm->prefix.len > 0;
		if (nm->path.len == 0 || route(rq, &nm->prefix, &t) < 0)
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
		fail(rq, r == -EINVAL ? -EBADMSG : r);
	lwm2m_records_clear(&names);
	lwm2m_records_clear(&recs);
	lwm2m_buf_free(&out);
}

/* ---- asynchronous completion --------------------------------------------- */

static void pending_free(struct fg_pending *p)
{
	free(p->body);
	free(p);
}

static void pending_unlink(struct fg_pending *p)
{
	struct lwm2m_endpoint *ep = p->ep;

	if (!ep)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		ep->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	ep->c->stats.pending_async--;
	p->ep = NULL;
}

static void pending_done(void *ctx, int err)
{
	struct fg_pending *p = ctx;

	if (p->done)
		return; /* done() twice: a bug in the op, ignore the second */
	p->done = true;
	p->result = err;
	if (p->in_handler)
		return; /* answered by the handler, piggybacked */
	if (!p->ep) {
		pending_free(p); /* endpoint gone: nobody to answer */
		return;
	}
	if (p->async) {
		/* libcoap calls the handler again with the request, which
		 * then answers from p->result. */
		coap_async_trigger(p->async);
		fg_client_kick(p->ep->c);
	}
}

void fg_dm_abandon(struct lwm2m_endpoint *ep)
{
	fg_b1_drop_all(ep);
	while (ep->pending) {
		struct fg_pending *p = ep->pending;

		if (p->async && p->session)
			coap_free_async(p->session, p->async);
		p->async = NULL;
		pending_unlink(p);
		/* done() has not come yet: it frees p when it does. */
	}
}

static struct fg_pending *pending_new(struct req *rq)
{
	struct fg_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->ep = rq->ep;
	p->session = rq->session;
	p->in_handler = true;
	p->next = rq->ep->pending;
	if (p->next)
		p->next->prev = p;
	rq->ep->pending = p;
	rq->ep->c->stats.pending_async++;
	return p;
}

/* After the op returned: answer now, or go separate. */
static void pending_settle(struct req *rq, struct fg_pending *p, int r)
{
	p->in_handler = false;
	if (!p->ep) {
		/* The op removed the endpoint: nobody to answer later. done()
		 * frees p when it comes (or came: then free it here). */
		if (r < 0 || p->done)
			pending_free(p);
		set_code(rq, COAP_RESPONSE_CODE(404));
		return;
	}
	if (r < 0 || p->done) {
		int err = r < 0 ? r : p->result;

		pending_unlink(p);
		pending_free(p);
		set_code(rq, lwm2m_errno_to_coap(err));
		return;
	}
	p->async = coap_register_async(rq->session, rq->pdu, 0);
	if (!p->async) {
		/* The op runs on; its done() will find no endpoint and free p. */
		pending_unlink(p);
		fail(rq, -EBUSY);
		return;
	}
	coap_async_set_app_data(p->async, p);
	if (p->read && rq->owned) {
		p->body = rq->owned;
		p->body_len = rq->len;
		rq->owned = NULL;
	}
	/* No response code: libcoap sends an empty ACK now. */
}

/* A triggered async: the request comes back, answer with its result. */
static bool answer_async(struct req *rq)
{
	coap_async_t *a = coap_find_async(rq->session, coap_pdu_get_token(rq->pdu));
	struct fg_pending *p;

	if (!a)
		return false;
	p = coap_async_get_app_data(a);
	if (!p || !p->done) {
		/* A retransmission of a request still in progress: libcoap
		 * already acknowledged it; say nothing more. */
		return true;
	}
	if (p->read) {
		/* The values are fresh now: the request is served as a Read
		 * that does not ask again. */
		rq->refreshed = true;
		rq->refresh_err = p->result;
		if (p->body) {
			rq->owned = p->body;
			rq->data = p->body;
			rq->len = p->body_len;
			p->body = NULL;
		}
		pending_unlink(p);
		pending_free(p);
		coap_async_set_app_data(a, NULL);
		return false;
	}
	set_code(rq, lwm2m_errno_to_coap(p->result));
	pending_unlink(p);
	pending_free(p);
	/* libcoap frees the async when this handler returns. */
	return true;
}

/* Give ops->read the chance to refresh the values of a Read first. Returns
 * false to answer now from the store, true when the request was answered
 * (an error) or goes separate. The same pending/async as Writes: done()
 * triggers the async and the Read is served again by answer_async(). */
static bool ask_read(struct req *rq)
{
	struct lwm2m_endpoint *ep = rq->ep;
	struct fg_pending *p = pending_new(rq);
	int r;

	if (!p) {
		fail(rq, -ENOMEM);
		return true;
	}
	p->read = true;
	r = ep->ops->read(ep->ops_ud, ep, rq->t.dev, &rq->path, pending_done, p);
	return read_settle(rq, p, r);
}

/* Several ops->read calls of one Read-Composite: the request's pending is
 * done once all are, with the first error. */
struct read_multi {
	struct fg_pending *p;
	unsigned left;
	int err;
};

static void multi_done(void *ctx, int err)
{
	struct read_multi *m = ctx;
	struct fg_pending *p = m->p;

	if (err < 0 && m->err == 0)
		m->err = err;
	if (--m->left > 0)
		return;
	err = m->err;
	free(m);
	pending_done(p, err);
}

/* ask_read() for each name of a Read-Composite (an op error for one name
 * leaves that name to the store, as the composite skips what it cannot
 * read). */
static bool ask_read_composite(struct req *rq, const struct lwm2m_records *names)
{
	struct lwm2m_endpoint *ep = rq->ep;
	struct fg_pending *p = pending_new(rq);
	struct read_multi *m = calloc(1, sizeof(*m));
	bool asked = false;

	if (!p || !m) {
		free(m);
		if (p) {
			pending_unlink(p);
			pending_free(p);
		}
		fail(rq, -ENOMEM);
		return true;
	}
	p->read = true;
	m->p = p;
	m->left = 1; /* held through the loop */
	for (size_t i = 0; i < names->n && p->ep; i++) {
		const struct lwm2m_path *np = &names->v[i].path;
		struct target t;

		if (np->len == 0 || route(rq, &names->v[i].prefix, &t) < 0)
			continue;
		if (!t.dev && (np->id[0] == 0 || np->id[0] == 1 || np->id[0] == 21 || np->id[0] == 25))
			continue;
		m->left++;
		if (ep->ops->read(ep->ops_ud, ep, t.dev, np, multi_done, m) > 0)
			asked = true;
		else
			m->left--; /* done() is not called */
	}
	multi_done(m, 0);
	return read_settle(rq, p, asked ? 1 : 0);
}

/* After ops->read returned r for the pending p: see ask_read(). */
static bool read_settle(struct req *rq, struct fg_pending *p, int r)
{
	if (r >= 0 && p->ep && (r == 0 || p->done)) {
		/* Nothing to ask (r 0), or already asked and answered. */
		rq->refreshed = r > 0;
		rq->refresh_err = p->result;
		p->in_handler = false;
		pending_unlink(p);
		pending_free(p);
		return false;
	}
	pending_settle(rq, p, r > 0 ? 0 : r);
	return true;
}

/* ---- Write, Execute, Create, Delete --------------------------------------- */

/* SenML names carry the device prefix; TLV, text, opaque and LwM2M CBOR
 * are relative to the request path and carry none. */
static bool prefix_matches(const struct req *rq, const struct lwm2m_record *rec)
{
	if (!rec->prefix.len)
		return true;
	return rec->prefix.len == rq->t.prefix.len &&
	       !memcmp(rec->prefix.ptr, rq->t.prefix.ptr, rec->prefix.len);
}

/* Check every record of a Write against the definitions and convert its
 * value to the defined type, so ops get exactly what the store would. */
static int check_write(struct req *rq, struct lwm2m_records *recs)
{
	for (size_t i = 0; i < recs->n; i++) {
		struct lwm2m_record *rec = &recs->v[i];
		const struct lwm2m_resdef *rd;
		struct lwm2m_value v;

		if (!prefix_matches(rq, rec))
			return -EINVAL;
		rec->prefix = (struct lwm2m_span){ 0 };
		if (rec->path.len < 3 || !lwm2m_path_is_under(&rec->path, &rq->path))
			return -EINVAL;
		rd = resdef_of(rq, &rec->path);
		if (!rd)
			return -ENOENT;
		if (!(rd->ops & LWM2M_OP_W))
			return -EPERM;
		if (rec->value.type == LWM2M_TYPE_NONE)
			continue; /* "no instances" of a multiple resource */
		if (lwm2m_value_convert(&rec->value, rd->type, &v) < 0)
			return -EINVAL;
		rec->value = v;
	}
	return 0;
}

static int decode_payload(struct req *rq, const struct lwm2m_path *base, struct lwm2m_records *recs)
{
	int r;

	if (rq->cf == LWM2M_CT_NONE)
		return -EPROTONOSUPPORT;
	if (rq->cf == LWM2M_CT_LINK)
		return -EPROTONOSUPPORT;
	r = lwm2m_decode(rq->cf, base, rq->data, rq->len, lwm2m_registry_type_of, (void *)rq->ep->c->reg,
			 recs);
	if (r == -ENOTSUP)
		r = -EPROTONOSUPPORT;
	if (r == -EINVAL)
		r = -EBADMSG;
	return r;
}

static void do_write(struct req *rq, bool replace)
{
	struct lwm2m_endpoint *ep = rq->ep;
	struct lwm2m_records recs = { 0 };
	const struct lwm2m_resdef *rd;
	int r;

	if (rq->path.len < 2) {
		r = -EPERM;
		goto out;
	}
	if (!lwm2m_store_has(rq->t.store, &LWM2M_PATH(rq->path.id[0], rq->path.id[1]))) {
		r = -ENOENT;
		goto out;
	}
	if (rq->path.len >= 3) {
		rd = resdef_of(rq, &rq->path);
		if (!rd) {
			r = -ENOENT;
			goto out;
		}
		if (!(rd->ops & LWM2M_OP_W)) {
			r = -EPERM;
			goto out;
		}
	}
	r = decode_payload(rq, &rq->path, &recs);
	if (r < 0)
		goto out;
	r = check_write(rq, &recs);
	if (r < 0)
		goto out;
	if ((own_tree(rq) && rq->path.id[0] == 1) || !ep->ops || !ep->ops->write) {
		r = lwm2m_store_write(rq->t.store, &rq->path, &recs, replace);
		if (r >= 0)
			fg_obs_records_written(ep, rq->t.dev, &recs);
		if (r >= 0 && own_tree(rq) && rq->path.id[0] == 1) {
			fg_ep_server_object_written(ep);
			fg_obs_defaults_changed(ep);
		}
		if (r >= 0)
			set_code(rq, COAP_RESPONSE_CODE(204));
		goto out;
	}
	struct fg_pending *p = pending_new(rq);
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	r = ep->ops->write(ep->ops_ud, ep, rq->t.dev, &rq->path, &recs, replace, pending_done, p);
	pending_settle(rq, p, r);
	r = 0;
out:
	if (r < 0)
		fail(rq, r);
	lwm2m_records_clear(&recs);
}

int fg_exec_args_check(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0)
		return 0;
	for (;;) {
		if (i >= n || s[i] < '0' || s[i] > '9')
			return -EINVAL;
		i++;
		if (i < n && s[i] == '=') {
			i++;
			if (i >= n || s[i] != '\'')
				return -EINVAL;
			i++;
			while (i < n && s[i] != '\'') {
				/* CHAR: printable ASCII except the quote */
				if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
					return -EINVAL;
				i++;
			}
			if (i >= n)
				return -EINVAL;
			i++;
		}
		if (i == n)
			return 0;
		if (s[i] != ',')
			return -EINVAL;
		i++;
	}
}

static void do_execute(struct req *rq)
{
	struct lwm2m_endpoint *ep = rq->ep;
	const struct lwm2m_resdef *rd = resdef_of(rq, &rq->path);
	int r;

	if (!rd || !lwm2m_store_has(rq->t.store, &LWM2M_PATH(rq->path.id[0], rq->path.id[1]))) {
		fail(rq, -ENOENT);
		return;
	}
	if (!(rd->ops & LWM2M_OP_E)) {
		/* POST on a writable multiple resource adds or updates some of
		 * its instances (TS 1.1 Write, partial update). */
		if ((rd->ops & LWM2M_OP_W) && (rd->flags & LWM2M_RES_MULTIPLE))
			do_write(rq, false);
		else
			fail(rq, -EPERM);
		return;
	}
	if (rq->cf != LWM2M_CT_NONE && rq->cf != LWM2M_CT_TEXT) {
		fail(rq, -EPROTONOSUPPORT);
		return;
	}
	if (fg_exec_args_check((const char *)rq->data, rq->len) < 0) {
		fail(rq, -EINVAL);
		return;
	}
	if (own_tree(rq) && rq->path.id[0] == 1) {
		if (rq->path.id[2] == 8) { /* Registration Update Trigger */
			lwm2m_endpoint_trigger_update(ep);
			set_code(rq, COAP_RESPONSE_CODE(204));
		} else if (rq->path.id[2] == 9 && ep->bs) { /* Bootstrap-Request Trigger */
			fg_bs_trigger(ep);
			set_code(rq, COAP_RESPONSE_CODE(204));
		} else {
			/* Disable (4) is not implemented yet; 9 needs a
			 * Bootstrap-Server. */
			fail(rq, -EPERM);
		}
		return;
	}
	if (!ep->ops || !ep->ops->execute) {
		fail(rq, -EPERM);
		return;
	}
	struct fg_pending *p = pending_new(rq);
	if (!p) {
		fail(rq, -ENOMEM);
		return;
	}
	r = ep->ops->execute(ep->ops_ud, ep, rq->t.dev, &rq->path, (const char *)rq->data, rq->len,
			     pending_done, p);
	pending_settle(rq, p, r);
}

static void objects_changed(struct req *rq)
{
	if (rq->t.dev)
		lwm2m_device_objects_changed(rq->t.dev);
	else
		lwm2m_endpoint_objects_changed(rq->ep);
}

static bool object_supported(const struct req *rq, uint16_t oid)
{
	return path_exists(rq, &LWM2M_PATH(oid));
}

static int free_iid(const struct lwm2m_store *s, uint16_t oid)
{
	for (unsigned iid = 0; iid <= LWM2M_ID_MAX; iid++)
		if (!lwm2m_store_has(s, &LWM2M_PATH(oid, (uint16_t)iid)))
			return (int)iid;
	return -ENOSPC;
}

static void do_create(struct req *rq)
{
	uint16_t oid = rq->path.id[0];
	const struct lwm2m_objdef *def = fg_objdef(rq->ep, oid);
	struct lwm2m_records recs = { 0 };
	int iid = -1, r;

	if (!def || !object_supported(rq, oid)) {
		fail(rq, -ENOENT);
		return;
	}
	if (client_owned(rq, oid)) {
		fail(rq, -EPERM);
		return;
	}
	if (rq->len) {
		r = decode_payload(rq, &rq->path, &recs);
		if (r < 0)
			goto out;
	}
	/* The new instance's id comes from the payload (TLV instance, SenML
	 * names) or is the lowest free one. */
	for (size_t i = 0; i < recs.n; i++) {
		const struct lwm2m_record *rec = &recs.v[i];

		if (rec->path.len < 3 || !prefix_matches(rq, rec) || (iid >= 0 && rec->path.id[1] != iid)) {
			r = -EBADMSG;
			goto out;
		}
		iid = rec->path.id[1];
	}
	if (fg_create_by_ops(rq->ep, rq->t.dev, &rq->t.prefix, oid, iid == 0xFFFF ? -1 : iid, &recs,
			     rq->response)) {
		r = 0;
		goto out;
	}
	/* TLV resources not wrapped in an Object Instance TLV decode with
	 * the reserved id 65535: the server leaves the choice to us. */
	if (iid < 0 || iid == 0xFFFF) {
		iid = free_iid(rq->t.store, oid);
		if (iid < 0) {
			r = iid;
			goto out;
		}
	}
	r = lwm2m_store_add_instance(rq->t.store, oid, (uint16_t)iid);
	if (r == -EEXIST)
		r = -EINVAL; /* 4.00: that instance exists (or a second of a single one) */
	if (r < 0)
		goto out;
	/* Create may initialise any defined resource, read-only ones too. */
	for (size_t i = 0; i < recs.n && r >= 0; i++) {
		struct lwm2m_record *rec = &recs.v[i];

		rec->path.id[LWM2M_IID] = (uint16_t)iid;
		if (!resdef_of(rq, &rec->path))
			r = -ENOENT;
		else if (rec->value.type != LWM2M_TYPE_NONE)
			r = lwm2m_store_set(rq->t.store, &rec->path, &rec->value);
	}
	if (r < 0) {
		lwm2m_store_del_instance(rq->t.store, oid, (uint16_t)iid);
		if (r == -ENOENT)
			r = -EINVAL;
		goto out;
	}
	fg_location_path(rq->response, rq->t.dev ? &rq->t.prefix : NULL, oid, (uint16_t)iid);
	set_code(rq, COAP_RESPONSE_CODE(201));
	fg_obs_records_written(rq->ep, rq->t.dev, &recs);
	objects_changed(rq);
	r = 0;
out:
	if (r < 0)
		fail(rq, r);
	lwm2m_records_clear(&recs);
}

static void do_delete(struct req *rq)
{
	uint16_t oid = rq->path.id[0];
	const struct lwm2m_objdef *def;
	int r;

	if (rq->path.len != 2) {
		fail(rq, -EPERM);
		return;
	}
	def = fg_objdef(rq->ep, oid);
	if (!lwm2m_store_has(rq->t.store, &rq->path)) {
		fail(rq, -ENOENT);
		return;
	}
	r = client_owned(rq, oid) ? -ENOSYS : fg_delete_by_ops(rq->ep, rq->t.dev, &rq->path);
	if (r < 0 && r != -ENOSYS) {
		fail(rq, r);
		return;
	}
	/* The client's own objects, and mandatory ones such as Device,
	 * cannot be deleted by a management server. */
	if (r == -ENOSYS && (client_owned(rq, oid) || (def && (def->flags & LWM2M_OBJ_MANDATORY)))) {
		fail(rq, -EPERM);
		return;
	}
	/* An op that allowed it may have removed the instance already. */
	r = lwm2m_store_has(rq->t.store, &rq->path)
		    ? lwm2m_store_del_instance(rq->t.store, oid, rq->path.id[1])
		    : 0;
	if (r < 0) {
		fail(rq, r);
		return;
	}
	fg_obs_stop_under(rq->ep, rq->t.dev, &rq->path);
	lwm2m_obs_remove_attrs(rq->ep->c->obs, rq->t.dev ? rq->t.dev->obs_id : rq->ep->obs_id, &rq->path,
			       fg_now(rq->ep->c) / 1000u);
	fg_obs_rearm(rq->ep->c);
	set_code(rq, COAP_RESPONSE_CODE(202));
	objects_changed(rq);
}

/* ---- dispatch -------------------------------------------------------------- */

void fg_dm_handler(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
		   const coap_string_t *query, coap_pdu_t *response)
{
	struct req rq = {
		.ep = coap_session_get_app_data(session),
		.resource = resource,
		.session = session,
		.pdu = request,
		.query = query,
		.response = response,
		.method = coap_pdu_get_code(request),
	};
	int r;

	if (!rq.ep || rq.ep->removing || !rq.ep->store) {
		set_code(&rq, COAP_RESPONSE_CODE(404));
		return;
	}
	rq.ep->last_exchange = fg_now(rq.ep->c);
	if (rq.ep->st != ST_BOOTSTRAP && answer_async(&rq)) {
		fg_b1_echo(request, response);
		fg_dedup_note(rq.ep, request, response);
		return;
	}
	/* A repeat of a request already served gets its answer again. */
	if (fg_dedup_answer(rq.ep, request, response))
		return;
	/* The payload: the request's, or the whole body once its last block
	 * came (an earlier block is answered here). A Read served again
	 * after ops->read has it from answer_async(). */
	if (!rq.owned) {
		struct fg_b1_body body;

		if (fg_b1_receive(rq.ep, request, response, &body) == FG_B1_ANSWERED)
			return;
		rq.data = body.data;
		rq.len = body.len;
		rq.owned = body.owned;
	}
	if (rq.ep->st == ST_BOOTSTRAP) {
		fg_bs_handler(rq.ep, resource, session, request, query, response, rq.data, rq.len);
		goto out;
	}
	if (!rq.refreshed)
		rq.ep->c->stats.requests++;
	rq.obs_val = opt_uint(request, COAP_OPTION_OBSERVE, &rq.observe);
	/* RFC 7641 §4.1: the observation keyed by this token ends before the
	 * request is served, whatever its answer (a bad path included):
	 * Observe 1 deregisters, and Observe 0 replaces it by what this
	 * request establishes (nothing if it fails or is refused). */
	if (rq.observe && (rq.method == COAP_REQUEST_CODE_GET || rq.method == COAP_REQUEST_CODE_FETCH)) {
		coap_bin_const_t tok = coap_pdu_get_token(request);

		fg_obs_stop_token(rq.ep, tok.s, tok.length);
	}
	r = parse_path(&rq);
	if (r < 0) {
		fail(&rq, r == -EBADMSG ? -ENOENT : r);
		goto out;
	}
	/* Security (and OSCORE) hold keys: never visible to a management
	 * server (TS: 4.01 Unauthorized). */
	if (own_tree(&rq) && rq.path.len >= 1 && (rq.path.id[0] == 0 || rq.path.id[0] == 21)) {
		fail(&rq, -EACCES);
		goto out;
	}
	rq.accept = opt_uint(request, COAP_OPTION_ACCEPT, NULL);
	rq.cf = opt_uint(request, COAP_OPTION_CONTENT_FORMAT, NULL);

	switch (rq.method) {
	case COAP_REQUEST_CODE_GET:
		if (rq.accept == LWM2M_CT_LINK)
			do_discover(&rq);
		else
			do_read(&rq);
		break;
	case COAP_REQUEST_CODE_PUT:
		if (rq.len == 0 && query && query->length)
			do_write_attributes(&rq);
		else
			do_write(&rq, true);
		break;
	case COAP_REQUEST_CODE_POST:
		switch (rq.path.len) {
		case 1:
			do_create(&rq);
			break;
		case 2:
			do_write(&rq, false);
			break;
		case 3:
			do_execute(&rq);
			break;
		default:
			fail(&rq, -EPERM);
			break;
		}
		break;
	case COAP_REQUEST_CODE_DELETE:
		do_delete(&rq);
		break;
	case COAP_REQUEST_CODE_FETCH:
		do_read_composite(&rq);
		break;
	default:
		fail(&rq, -EPERM);
		break;
	}
out:
	fg_diag_attach(rq.ep, response);
	fg_b1_echo(request, response);
	fg_dedup_note(rq.ep, request, response);
	free(rq.owned);
}
