/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The requests of a Bootstrap-Server (bootstrap.c has the endpoint side:
 * Bootstrap-Request, the result, its file), dispatched by dispatch.c while
 * the endpoint is in ST_BOOTSTRAP:
 *
 *   PUT    /0, /0/x[/r], /1, /1/x[/r]  Bootstrap-Write (creates instances)
 *   GET    /1, /1/x                    Bootstrap-Read (/0 holds keys: 4.01)
 *   GET    / or /oid, Accept 40        Bootstrap-Discover
 *   DELETE /, /0, /0/x, /1, /1/x       Bootstrap-Delete (never the
 *                                      Bootstrap-Server account: 4.00)
 *   POST   /bs                         Bootstrap-Finish
 *
 * The /0 and /1 instances being written are records (bs->work), not the
 * endpoint's store: see bootstrap.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bs_internal.h"
#include "request.h"

/* Drop the records at or below ctx (a path). */
static bool drop_under(const struct lwm2m_record *rec, const void *ctx)
{
	return lwm2m_path_is_under(&rec->path, ctx);
}

/* Drop the instances of /0 that are not Bootstrap-Server accounts (ctx:
 * the records being rebuilt) and every /1 instance when asked. */
struct drop_ctx {
	const struct lwm2m_records *recs;
	bool sec, srv;
};

static bool drop_accounts(const struct lwm2m_record *rec, const void *ctx)
{
	const struct drop_ctx *d = ctx;

	if (rec->path.id[0] == 0)
		return d->sec && !lwm2m_bs_is_bootstrap_account(d->recs, rec->path.id[1]);
	return d->srv && rec->path.id[0] == 1;
}

/* Drop the instances of an object that appear in ctx (the new records). */
struct drop_inst_ctx {
	const struct lwm2m_records *add;
};

static bool drop_written_instances(const struct lwm2m_record *rec, const void *ctx)
{
	const struct drop_inst_ctx *d = ctx;

	for (size_t i = 0; i < d->add->n; i++)
		if (d->add->v[i].path.id[0] == rec->path.id[0] && d->add->v[i].path.id[1] == rec->path.id[1])
			return true;
	return false;
}

static int bs_decode(struct fg_req *q, struct lwm2m_records *recs, const char **why)
{
	int r;

	if (q->cf == LWM2M_CT_NONE || q->cf == LWM2M_CT_LINK)
		return -EPROTONOSUPPORT;
	r = lwm2m_decode(q->cf, &q->path, q->data, q->len, lwm2m_registry_type_of, (void *)q->ep->c->reg,
			 recs);
	if (r == -ENOTSUP)
		return -EPROTONOSUPPORT;
	if (r < 0)
		return r == -ENOMEM || r == -EPROTONOSUPPORT ? r : -EBADMSG;
	return lwm2m_bs_rec_normalize(q->ep->c->reg, &q->path, recs, why);
}

static int bs_write(struct fg_req *q)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct fg_bs *bs = ep->bs;
	struct lwm2m_records recs = { 0 };
	const char *why = NULL;
	uint16_t oid = q->path.id[0];
	int r;

	if (q->path.len == 0)
		return -EINVAL;
	if (!fg_objdef(ep, oid))
		return -ENOENT;
	r = bs_decode(q, &recs, &why);
	if (r < 0)
		goto out;
	if (oid == 0 || oid == 1) {
		struct lwm2m_records next = { 0 };
		struct drop_inst_ctx d = { &recs };

		/* A whole object: the instances it carries replace theirs;
		 * an instance or resource: replaced whole. */
		r = q->path.len == 1
			    ? lwm2m_bs_rec_rebuild(&next, &bs->work, drop_written_instances, &d, &recs)
			    : lwm2m_bs_rec_rebuild(&next, &bs->work, drop_under, &q->path, &recs);
		if (r >= 0 && (next.n > BS_MAX_RECORDS || lwm2m_bs_rec_bytes(&next) > BS_MAX_BYTES))
			r = -E2BIG;
		if (r >= 0) {
			lwm2m_records_clear(&bs->work);
			bs->work = next;
		} else {
			lwm2m_records_clear(&next);
		}
		goto out;
	}
	/* Another object: the gateway's own store (not persisted). */
	if (!ep->store) {
		r = -ENOENT;
		goto out;
	}
	for (size_t i = 0; i < recs.n && r >= 0; i++) {
		const struct lwm2m_record *rec = &recs.v[i];

		if (rec->value.type == LWM2M_TYPE_NONE)
			continue;
		r = lwm2m_store_add_instance(ep->store, rec->path.id[0], rec->path.id[1]);
		if (r == -EEXIST)
			r = 0;
		if (r >= 0)
			r = lwm2m_store_set(ep->store, &rec->path, &rec->value);
	}
out:
	if (r < 0 && why)
		ep_log(ep, LWM2M_LOG_NOTICE, "Bootstrap-Write refused: %s", why);
	lwm2m_records_clear(&recs);
	return r;
}

static int bs_delete(struct fg_req *q)
{
	struct fg_bs *bs = q->ep->bs;
	struct lwm2m_records next = { 0 };
	const struct lwm2m_path *p = &q->path;
	int r;

	if (p->len > 2)
		return -EINVAL;
	if (p->len >= 1 && p->id[0] > 1)
		return -EINVAL; /* the gateway's own objects are not the Bootstrap-Server's */
	if (p->len == 2) {
		/* Never the Bootstrap-Server account (TS: 4.00 Bad Request). */
		if (p->id[0] == 0 &&
		    ((p->id[1] == bs->bs_iid && !lwm2m_bs_rec_has_instance(&bs->work, 0, p->id[1])) ||
		     lwm2m_bs_is_bootstrap_account(&bs->work, p->id[1])))
			return -EINVAL;
		r = lwm2m_bs_rec_rebuild(&next, &bs->work, drop_under, p, NULL);
	} else {
		struct drop_ctx d = { &bs->work, p->len == 0 || p->id[0] == 0, p->len == 0 || p->id[0] == 1 };

		r = lwm2m_bs_rec_rebuild(&next, &bs->work, drop_accounts, &d, NULL);
	}
	if (r < 0)
		return r;
	lwm2m_records_clear(&bs->work);
	bs->work = next;
	fg_req_code(q, COAP_RESPONSE_CODE(202));
	return 0;
}

static int bs_read(struct fg_req *q)
{
	struct fg_bs *bs = q->ep->bs;
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf out = { 0 };
	const struct lwm2m_path *p = &q->path;
	uint16_t ct = q->accept != LWM2M_CT_NONE ? q->accept : fg_ep_default_ct(q->ep);
	int r = 0;

	/* Security and OSCORE hold keys: never readable. Reads are for the
	 * Server object only (TS: restricted to /1, and /2 which we lack). */
	if (p->len >= 1 && (p->id[0] == 0 || p->id[0] == 21))
		return -EACCES;
	if (p->len == 0 || p->id[0] != 1)
		return -EPERM;
	if (p->len > 2)
		return -EINVAL;
	if (p->len == 2 && !lwm2m_bs_rec_has_instance(&bs->work, 1, p->id[1]))
		return -ENOENT;
	for (size_t i = 0; i < bs->work.n && r >= 0; i++)
		if (lwm2m_path_is_under(&bs->work.v[i].path, p))
			r = lwm2m_bs_rec_copy(&recs, &bs->work.v[i]);
	if (r >= 0)
		r = lwm2m_encode(ct, p, recs.v, recs.n, &out);
	if (r == -EPROTONOSUPPORT || r == -ENOTSUP)
		r = -ENOTSUP;
	if (r >= 0)
		fg_req_reply(q, ct, &out, false);
	if (out.data)
		explicit_bzero(out.data, out.cap);
	lwm2m_buf_free(&out);
	lwm2m_records_clear(&recs);
	return r;
}

struct oid_set {
	uint16_t *v;
	size_t n, cap;
};

static int oid_add(struct oid_set *s, uint16_t oid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == oid)
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		uint16_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = oid;
	return 0;
}

static int collect_oid(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	(void)iid;
	return oid_add(ctx, def->oid);
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return x < y ? -1 : x > y;
}

struct iid_ctx {
	uint16_t oid;
	struct oid_set *iids;
};

static int collect_iid(void *ctx, const struct lwm2m_objdef *def, uint16_t iid)
{
	struct iid_ctx *d = ctx;

	return def->oid == d->oid ? oid_add(d->iids, iid) : 0;
}

/* Links of one object for Bootstrap-Discover: "</oid>;ver=" when not 1.0
 * (or "</oid>" without instances), then each instance, /0 and /1 with the
 * ssid and uri attributes of the TS. */
static int discover_object(struct fg_req *q, uint16_t oid, struct lwm2m_buf *b)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct fg_bs *bs = ep->bs;
	const struct lwm2m_objdef *def = fg_objdef(ep, oid);
	struct oid_set iids = { 0 };
	int r = 0;

	if (!def)
		return 0;
	if (oid == 0 || oid == 1) {
		for (size_t i = 0; i < bs->work.n && r >= 0; i++)
			if (bs->work.v[i].path.id[0] == oid)
				r = oid_add(&iids, bs->work.v[i].path.id[1]);
		if (oid == 0 && r >= 0 && !lwm2m_bs_rec_has_instance(&bs->work, 0, bs->bs_iid))
			r = oid_add(&iids, bs->bs_iid);
	} else if (ep->store) {
		struct iid_ctx d = { oid, &iids };

		r = lwm2m_store_foreach_instance(ep->store, collect_iid, &d);
	}
	if (r < 0)
		goto out;
	if (iids.n)
		qsort(iids.v, iids.n, sizeof(*iids.v), cmp_u16);
	unsigned v = fg_announced_version(def, ep->version);
	if (v != 10)
		r = lwm2m_buf_printf(b, ",</%u>;ver=%u.%u", oid, v / 10, v % 10);
	else if (!iids.n)
		r = lwm2m_buf_printf(b, ",</%u>", oid);
	for (size_t i = 0; i < iids.n && r >= 0; i++) {
		uint16_t iid = iids.v[i];
		const struct lwm2m_value *ssid = NULL, *uri = NULL;

		r = lwm2m_buf_printf(b, ",</%u/%u>", oid, iid);
		if (oid == 0 && !lwm2m_bs_is_bootstrap_account(&bs->work, iid)) {
			ssid = lwm2m_bs_rec_get(&bs->work, 0, iid, 10);
			uri = lwm2m_bs_rec_get(&bs->work, 0, iid, 0);
		} else if (oid == 1) {
			ssid = lwm2m_bs_rec_get(&bs->work, 1, iid, 0);
		}
		if (r >= 0 && ssid && ssid->type == LWM2M_TYPE_INTEGER)
			r = lwm2m_buf_printf(b, ";ssid=%lld", (long long)ssid->i);
		if (r >= 0 && uri && uri->type == LWM2M_TYPE_STRING) {
			struct lwm2m_link l = { .uri = { "", 0 }, .nparams = 1 };
			struct lwm2m_buf one = { 0 };

			/* The link encoder quotes (and escapes) the value. */
			l.params[0] = (struct lwm2m_link_param){
				.name = { "uri", 3 },
				.value = { (const char *)uri->bytes.ptr, uri->bytes.len },
				.has_value = true,
				.quoted = true,
			};
			r = lwm2m_link_encode(&one, &l, 1);
			/* "<>;uri=..." -> ";uri=..." */
			if (r >= 0 && one.len > 2)
				r = lwm2m_buf_append(b, one.data + 2, one.len - 2);
			lwm2m_buf_free(&one);
		}
	}
out:
	free(iids.v);
	return r;
}

static int bs_discover(struct fg_req *q)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct oid_set oids = { 0 };
	struct lwm2m_buf b = { 0 };
	const char *ver = ep->version == 10 ? "1.0" : ep->version == 12 ? "1.2" : "1.1";
	int r;

	if (q->path.len > 1)
		return -EINVAL;
	if (q->path.len == 1 && !fg_objdef(ep, q->path.id[0]))
		return -ENOENT;
	r = oid_add(&oids, 0);
	if (r >= 0)
		r = oid_add(&oids, 1);
	if (r >= 0 && ep->store)
		r = lwm2m_store_foreach_instance(ep->store, collect_oid, &oids);
	for (size_t i = 0; i < ep->ndeclared && r >= 0; i++)
		r = oid_add(&oids, ep->declared[i]);
	if (r < 0)
		goto out;
	qsort(oids.v, oids.n, sizeof(*oids.v), cmp_u16);
	r = lwm2m_buf_printf(&b, "</>;lwm2m=%s", ver);
	for (size_t i = 0; i < oids.n && r >= 0; i++) {
		/* /21 (OSCORE) would be listed; /25 belongs to the client. */
		if (q->path.len == 1 && oids.v[i] != q->path.id[0])
			continue;
		r = discover_object(q, oids.v[i], &b);
	}
	if (r >= 0)
		fg_req_reply(q, LWM2M_CT_LINK, &b, false);
out:
	lwm2m_buf_free(&b);
	free(oids.v);
	return r;
}

static void bs_finish(struct fg_req *q)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct lwm2m_client *c = ep->c;
	struct fg_bs *bs = ep->bs;
	struct lwm2m_bs_account acct, old_acct = bs->acct;
	struct lwm2m_records old = bs->committed;
	const char *why = NULL;
	int r;

	if (lwm2m_bs_check(&bs->work, &acct, &why) < 0) {
		/* TS: 4.06 Not Acceptable, and the Bootstrap-Server may go on. */
		ep_log(ep, LWM2M_LOG_WARNING, "Bootstrap-Finish refused: %s", why);
		fg_req_code(q, COAP_RESPONSE_CODE(406));
		return;
	}
	bs->committed = bs->work;
	bs->work = (struct lwm2m_records){ 0 };
	bs->acct = acct;
	r = fg_bs_use_account(ep);
	if (r < 0) {
		bs->work = bs->committed;
		bs->committed = old;
		bs->acct = old_acct;
		fg_req_code(q, lwm2m_errno_to_coap(r));
		return;
	}
	lwm2m_records_clear(&old);
	bs->have_account = true;
	bs->attempts = 0;
	bs->phase = BS_IDLE;
	if (c->cfg.state_dir)
		fg_bs_save(ep);
	fg_bs_apply_store(ep);
	fg_req_code(q, COAP_RESPONSE_CODE(204));
	ep_log(ep, LWM2M_LOG_INFO, "bootstrapped: LwM2M server %s (Short Server ID %u, %s, lifetime %u s)",
	       ep->uri, ep->ssid, acct.mode == 0 ? "PSK" : "NoSec", ep->lifetime);
	/* Register from the timer, once this answer has left on the
	 * Bootstrap-Server's session (ep_use_server marked it for closing). */
	ep->reg.st = ST_WAIT_REGISTER;
	ep->reg.req = REQ_NONE;
	ep->reg.slot_reserved = false;
	ep->reg.attempts = 0;
	fg_ep_arm(ep, fg_now(c));
	fg_ep_set_state(ep, LWM2M_EP_WAITING, 0);
}

void fg_bs_serve(struct fg_req *q)
{
	struct lwm2m_endpoint *ep = q->ep;
	struct fg_bs *bs = ep->bs;
	char path[160];
	size_t plen;
	int r;

	if (bs->phase == BS_IDLE) {
		/* Between attempts: nobody may configure us. */
		fg_req_code(q, COAP_RESPONSE_CODE(401));
		return;
	}
	/* A request before the answer to ours (a separate response still
	 * on its way) means the Bootstrap-Server accepted it. */
	fg_bs_serving(ep);
	if (fg_req_uri_path(q->pdu, path, sizeof(path), &plen) < 0) {
		fg_req_code(q, COAP_RESPONSE_CODE(400));
		return;
	}
	if (plen == 3 && !memcmp(path, "/bs", 3)) {
		if (q->method == COAP_REQUEST_CODE_POST)
			bs_finish(q);
		else
			fg_req_code(q, COAP_RESPONSE_CODE(405));
		return;
	}
	if (lwm2m_path_parse(path, plen, &q->path, NULL) < 0) {
		fg_req_code(q, COAP_RESPONSE_CODE(404));
		return;
	}
	q->accept = fg_req_opt_uint(q->pdu, COAP_OPTION_ACCEPT, NULL);
	q->cf = fg_req_opt_uint(q->pdu, COAP_OPTION_CONTENT_FORMAT, NULL);
	switch (q->method) {
	case COAP_REQUEST_CODE_PUT:
		r = bs_write(q);
		if (r >= 0)
			fg_req_code(q, COAP_RESPONSE_CODE(204));
		break;
	case COAP_REQUEST_CODE_GET:
		r = q->accept == LWM2M_CT_LINK ? bs_discover(q) : bs_read(q);
		break;
	case COAP_REQUEST_CODE_DELETE:
		r = bs_delete(q);
		break;
	default:
		r = -EPERM;
		break;
	}
	if (r < 0)
		fg_req_code(q, lwm2m_errno_to_coap(r == -EBADMSG ? -EINVAL : r));
}
