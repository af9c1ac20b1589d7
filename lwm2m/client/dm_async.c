/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device management operations that complete asynchronously (ops table):
 * the handler registers a libcoap async (empty ACK now), and when done()
 * comes, triggers it; libcoap then calls the dispatcher again with a copy
 * of the request and the answer is sent as a separate CON response.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

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

void fg_dm_pending_done(void *ctx, int err)
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
		fg_cctx_touch(fg_ep_cctx(p->ep));
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

struct fg_pending *fg_dm_pending_new(struct fg_req *rq)
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
void fg_dm_pending_settle(struct fg_req *rq, struct fg_pending *p, int r)
{
	p->in_handler = false;
	if (!p->ep) {
		/* The op removed the endpoint: nobody to answer later. done()
		 * frees p when it comes (or came: then free it here). */
		if (r < 0 || p->done)
			pending_free(p);
		fg_req_code(rq, COAP_RESPONSE_CODE(404));
		return;
	}
	if (r < 0 || p->done) {
		int err = r < 0 ? r : p->result;

		pending_unlink(p);
		pending_free(p);
		fg_req_code(rq, lwm2m_errno_to_coap(err));
		return;
	}
	p->async = coap_register_async(rq->session, rq->pdu, 0);
	if (!p->async) {
		/* The op runs on; its done() will find no endpoint and free p. */
		pending_unlink(p);
		fg_req_fail(rq, -EBUSY);
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
bool fg_dm_answer_async(struct fg_req *rq)
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
	fg_req_code(rq, lwm2m_errno_to_coap(p->result));
	pending_unlink(p);
	pending_free(p);
	/* libcoap frees the async when this handler returns. */
	return true;
}

/* Give ops->read the chance to refresh the values of a Read first. Returns
 * false to answer now from the store, true when the request was answered
 * (an error) or goes separate. The same pending/async as Writes: done()
 * triggers the async and the Read is served again by fg_dm_answer_async(). */
bool fg_dm_ask_read(struct fg_req *rq)
{
	struct lwm2m_endpoint *ep = rq->ep;
	void *ud;
	const struct lwm2m_endpoint_ops *ops = fg_ops_of(ep, rq->t.dev, &ud);
	struct fg_pending *p = fg_dm_pending_new(rq);
	int r;

	if (!p) {
		fg_req_fail(rq, -ENOMEM);
		return true;
	}
	p->read = true;
	r = ops->read(ud, ep, rq->t.dev, &rq->path, fg_dm_pending_done, p);
	return fg_dm_read_settle(rq, p, r);
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
	fg_dm_pending_done(p, err);
}

/* fg_dm_ask_read() for each name of a Read-Composite (an op error for one name
 * leaves that name to the store, as the composite skips what it cannot
 * read). */
bool fg_dm_ask_read_composite(struct fg_req *rq, const struct lwm2m_records *names)
{
	struct lwm2m_endpoint *ep = rq->ep;
	struct fg_pending *p = fg_dm_pending_new(rq);
	struct read_multi *m = calloc(1, sizeof(*m));
	bool asked = false;

	if (!p || !m) {
		free(m);
		if (p) {
			pending_unlink(p);
			pending_free(p);
		}
		fg_req_fail(rq, -ENOMEM);
		return true;
	}
	p->read = true;
	m->p = p;
	m->left = 1; /* held through the loop */
	for (size_t i = 0; i < names->n && p->ep; i++) {
		const struct lwm2m_path *np = &names->v[i].path;
		const struct lwm2m_endpoint_ops *ops;
		struct fg_dm_target t;
		void *ud;

		if (np->len == 0 || fg_req_route(rq, &names->v[i].prefix, &t) < 0)
			continue;
		if (!t.dev && (np->id[0] == 0 || np->id[0] == 1 || np->id[0] == 21 || np->id[0] == 25))
			continue;
		m->left++;
		ops = fg_ops_of(ep, t.dev, &ud);
		if (ops && ops->read && ops->read(ud, ep, t.dev, np, multi_done, m) > 0)
			asked = true;
		else
			m->left--; /* done() is not called */
	}
	multi_done(m, 0);
	return fg_dm_read_settle(rq, p, asked ? 1 : 0);
}

/* After ops->read returned r for the pending p: see fg_dm_ask_read(). */
bool fg_dm_read_settle(struct fg_req *rq, struct fg_pending *p, int r)
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
	fg_dm_pending_settle(rq, p, r > 0 ? 0 : r);
	return true;
}
