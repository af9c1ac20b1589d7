/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device management and service enablement: the requests an LwM2M server
 * sends over an endpoint's session (dispatched by dispatch.c; this file:
 * Write, Execute, Create, Delete). One libcoap handler receives them all
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

#include "request.h"

/* ---- Write, Execute, Create, Delete --------------------------------------- */

/* SenML names carry the device prefix; TLV, text, opaque and LwM2M CBOR
 * are relative to the request path and carry none. */
static bool prefix_matches(const struct fg_req *rq, const struct lwm2m_record *rec)
{
	if (!rec->prefix.len)
		return true;
	return rec->prefix.len == rq->t.prefix.len &&
	       !memcmp(rec->prefix.ptr, rq->t.prefix.ptr, rec->prefix.len);
}

/* Check every record of a Write against the definitions and convert its
 * value to the defined type, so ops get exactly what the store would. */
static int check_write(struct fg_req *rq, struct lwm2m_records *recs)
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
		rd = fg_req_resdef(rq, &rec->path);
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

static int decode_payload(struct fg_req *rq, const struct lwm2m_path *base, struct lwm2m_records *recs)
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

void fg_dm_write(struct fg_req *rq, bool replace)
{
	struct lwm2m_endpoint *ep = rq->ep;
	void *ud;
	const struct lwm2m_endpoint_ops *ops = fg_ops_of(ep, rq->t.dev, &ud);
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
		rd = fg_req_resdef(rq, &rq->path);
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
	if ((fg_req_own_tree(rq) && rq->path.id[0] == 1) || !ops || !ops->write) {
		r = lwm2m_store_write(rq->t.store, &rq->path, &recs, replace);
		if (r >= 0)
			fg_obs_records_written(ep, rq->t.dev, &recs);
		if (r >= 0 && fg_req_own_tree(rq) && rq->path.id[0] == 1) {
			fg_ep_server_object_written(ep);
			fg_obs_defaults_changed(ep);
		}
		if (r >= 0)
			fg_req_code(rq, COAP_RESPONSE_CODE(204));
		goto out;
	}
	struct fg_pending *p = fg_dm_pending_new(rq);
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	r = ops->write(ud, ep, rq->t.dev, &rq->path, &recs, replace, fg_dm_pending_done, p);
	fg_dm_pending_settle(rq, p, r);
	r = 0;
out:
	if (r < 0)
		fg_req_fail(rq, r);
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

void fg_dm_execute(struct fg_req *rq)
{
	struct lwm2m_endpoint *ep = rq->ep;
	void *ud;
	const struct lwm2m_endpoint_ops *ops = fg_ops_of(ep, rq->t.dev, &ud);
	const struct lwm2m_resdef *rd = fg_req_resdef(rq, &rq->path);
	int r;

	if (!rd || !lwm2m_store_has(rq->t.store, &LWM2M_PATH(rq->path.id[0], rq->path.id[1]))) {
		fg_req_fail(rq, -ENOENT);
		return;
	}
	if (!(rd->ops & LWM2M_OP_E)) {
		/* POST on a writable multiple resource adds or updates some of
		 * its instances (TS 1.1 Write, partial update). */
		if ((rd->ops & LWM2M_OP_W) && (rd->flags & LWM2M_RES_MULTIPLE))
			fg_dm_write(rq, false);
		else
			fg_req_fail(rq, -EPERM);
		return;
	}
	if (rq->cf != LWM2M_CT_NONE && rq->cf != LWM2M_CT_TEXT) {
		fg_req_fail(rq, -EPROTONOSUPPORT);
		return;
	}
	if (fg_exec_args_check((const char *)rq->data, rq->len) < 0) {
		fg_req_fail(rq, -EINVAL);
		return;
	}
	if (fg_req_own_tree(rq) && rq->path.id[0] == 1) {
		if (rq->path.id[2] == 8) { /* Registration Update Trigger */
			lwm2m_endpoint_trigger_update(ep);
			fg_req_code(rq, COAP_RESPONSE_CODE(204));
		} else if (rq->path.id[2] == 9 && ep->bs) { /* Bootstrap-Request Trigger */
			fg_bs_trigger(ep);
			fg_req_code(rq, COAP_RESPONSE_CODE(204));
		} else {
			/* Disable (4) is not implemented yet; 9 needs a
			 * Bootstrap-Server. */
			fg_req_fail(rq, -EPERM);
		}
		return;
	}
	if (!ops || !ops->execute) {
		fg_req_fail(rq, -EPERM);
		return;
	}
	struct fg_pending *p = fg_dm_pending_new(rq);
	if (!p) {
		fg_req_fail(rq, -ENOMEM);
		return;
	}
	r = ops->execute(ud, ep, rq->t.dev, &rq->path, (const char *)rq->data, rq->len, fg_dm_pending_done,
			 p);
	fg_dm_pending_settle(rq, p, r);
}

static void objects_changed(struct fg_req *rq)
{
	if (rq->t.dev)
		lwm2m_device_objects_changed(rq->t.dev);
	else
		lwm2m_endpoint_objects_changed(rq->ep);
}

static bool object_supported(const struct fg_req *rq, uint16_t oid)
{
	return fg_dm_path_exists(rq, &LWM2M_PATH(oid));
}

static int free_iid(const struct lwm2m_store *s, uint16_t oid)
{
	for (unsigned iid = 0; iid <= LWM2M_ID_MAX; iid++)
		if (!lwm2m_store_has(s, &LWM2M_PATH(oid, (uint16_t)iid)))
			return (int)iid;
	return -ENOSPC;
}

void fg_dm_create(struct fg_req *rq)
{
	uint16_t oid = rq->path.id[0];
	const struct lwm2m_objdef *def = fg_objdef(rq->ep, oid);
	struct lwm2m_records recs = { 0 };
	int iid = -1, r;

	if (!def || !object_supported(rq, oid)) {
		fg_req_fail(rq, -ENOENT);
		return;
	}
	if (fg_req_client_owned(rq, oid)) {
		fg_req_fail(rq, -EPERM);
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
		if (!fg_req_resdef(rq, &rec->path))
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
	fg_req_code(rq, COAP_RESPONSE_CODE(201));
	fg_obs_records_written(rq->ep, rq->t.dev, &recs);
	objects_changed(rq);
	r = 0;
out:
	if (r < 0)
		fg_req_fail(rq, r);
	lwm2m_records_clear(&recs);
}

void fg_dm_delete(struct fg_req *rq)
{
	uint16_t oid = rq->path.id[0];
	const struct lwm2m_objdef *def;
	int r;

	if (rq->path.len != 2) {
		fg_req_fail(rq, -EPERM);
		return;
	}
	def = fg_objdef(rq->ep, oid);
	if (!lwm2m_store_has(rq->t.store, &rq->path)) {
		fg_req_fail(rq, -ENOENT);
		return;
	}
	r = fg_req_client_owned(rq, oid) ? -ENOSYS : fg_delete_by_ops(rq->ep, rq->t.dev, &rq->path);
	if (r < 0 && r != -ENOSYS) {
		fg_req_fail(rq, r);
		return;
	}
	/* The client's own objects, and mandatory ones such as Device,
	 * cannot be deleted by a management server. */
	if (r == -ENOSYS && (fg_req_client_owned(rq, oid) || (def && (def->flags & LWM2M_OBJ_MANDATORY)))) {
		fg_req_fail(rq, -EPERM);
		return;
	}
	/* An op that allowed it may have removed the instance already. */
	r = lwm2m_store_has(rq->t.store, &rq->path)
		    ? lwm2m_store_del_instance(rq->t.store, oid, rq->path.id[1])
		    : 0;
	if (r < 0) {
		fg_req_fail(rq, r);
		return;
	}
	fg_obs_stop_under(rq->ep, rq->t.dev, &rq->path);
	lwm2m_obs_remove_attrs(rq->ep->c->obs, rq->t.dev ? rq->t.dev->obs_id : rq->ep->obs.id, &rq->path,
			       fg_now(rq->ep->c) / 1000u);
	fg_obs_rearm(rq->ep->c);
	fg_req_code(rq, COAP_RESPONSE_CODE(202));
	objects_changed(rq);
}
