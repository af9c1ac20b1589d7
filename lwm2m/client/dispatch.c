/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one dispatcher of the requests a server sends over an endpoint's
 * session (request.h). One libcoap handler receives them all (the
 * context's unknown resource and the Observe resources); the session's app
 * data names the endpoint. What every request goes through is here: the
 * answer of a completed asynchronous operation, repeated requests
 * (dedup.c), block-wise bodies (block1.c). Then the endpoint's state picks
 * the server's interface: a Bootstrap-Server's requests (ST_BOOTSTRAP) go
 * to bs_serve.c, a management server's to the device management
 * operations of dm_read.c and dm.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* ---- responses ----------------------------------------------------------- */

void fg_req_code(struct fg_req *rq, uint8_t code)
{
	coap_pdu_set_code(rq->response, (coap_pdu_code_t)code);
}

void fg_req_fail(struct fg_req *rq, int err)
{
	fg_req_code(rq, lwm2m_errno_to_coap(err));
}

static void release_buf(coap_session_t *session, void *app_ptr)
{
	(void)session;
	free(app_ptr);
}

/* Answer 2.05 with body (ownership of its memory passes to libcoap, which
 * sends it block-wise when larger than the session's MTU). */
void fg_req_reply(struct fg_req *rq, uint16_t ct, struct lwm2m_buf *body, bool observing)
{
	uint8_t *data = body->data;
	size_t len = body->len;
	uint8_t seq[4];

	body->data = NULL;
	body->len = body->cap = 0;
	fg_req_code(rq, COAP_RESPONSE_CODE(205));
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
		fg_req_code(rq, COAP_RESPONSE_CODE(500));
	}
}

/* ---- request parsing ----------------------------------------------------- */

uint16_t fg_req_opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, bool *present)
{
	coap_opt_iterator_t oi;
	coap_opt_t *o = coap_check_option(pdu, num, &oi);

	if (present)
		*present = o != NULL;
	if (!o)
		return LWM2M_CT_NONE;
	return (uint16_t)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

/* Route a record named with an optional prefix to the tree it addresses. */
int fg_req_route(const struct fg_req *rq, const struct lwm2m_span *prefix, struct fg_dm_target *t)
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

/* The Uri-Path as text ("/0/1", "/bs"); -EBADMSG when it cannot be. */
int fg_req_uri_path(const coap_pdu_t *pdu, char *buf, size_t cap, size_t *len)
{
	coap_opt_iterator_t oi;
	coap_opt_filter_t f;
	coap_opt_t *o;
	size_t n = 0;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(pdu, &oi, &f);
	while ((o = coap_option_next(&oi))) {
		size_t l = coap_opt_length(o);
		const uint8_t *v = coap_opt_value(o);

		if (l == 0 || n + 1 + l >= cap || memchr(v, '/', l))
			return -EBADMSG;
		buf[n++] = '/';
		memcpy(buf + n, v, l);
		n += l;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Uri-Path options to a data-model path and optional device prefix.
 * -EBADMSG malformed, -ENOENT unknown prefix. */
static int parse_path(struct fg_req *rq)
{
	char buf[160];
	size_t n;
	struct lwm2m_span pfx = { 0 };

	if (fg_req_uri_path(rq->pdu, buf, sizeof(buf), &n) < 0)
		return -EBADMSG;
	if (lwm2m_path_parse(buf, n, &rq->path, &pfx) < 0)
		return -EBADMSG;
	return fg_req_route(rq, &pfx, &rq->t);
}

const struct lwm2m_resdef *fg_req_resdef(const struct fg_req *rq, const struct lwm2m_path *p)
{
	const struct lwm2m_objdef *d = fg_objdef(rq->ep, p->id[LWM2M_OID]);

	return d && p->len >= 3 ? lwm2m_objdef_find_res(d, p->id[LWM2M_RID]) : NULL;
}

bool fg_req_own_tree(const struct fg_req *rq)
{
	return rq->t.dev == NULL;
}

/* Objects the client manages itself: the server may read them but not
 * create or delete their instances. */
bool fg_req_client_owned(const struct fg_req *rq, uint16_t oid)
{
	return fg_req_own_tree(rq) && (oid == 1 || oid == 25);
}

/* ---- dispatch -------------------------------------------------------------- */

/* Whether rq is a Write the endpoint's ops take as a stream (see
 * block1.c): PUT or POST of application/octet-stream to one resource of
 * the endpoint's own tree, ops->write_stream set. 1 and *st when it is;
 * 0 when it is not (served as usual); a negative errno when it would be
 * but the resource is not there (-ENOENT) or not writable (-EPERM), to
 * answer before any block is taken. The Security, OSCORE and Server
 * objects are never streamed (dm_dispatch() refuses or serves them). */
static int stream_target(struct fg_req *rq, struct fg_b1_stream *st)
{
	const struct lwm2m_resdef *rd;
	uint16_t oid;

	if (rq->ep->reg.st == ST_BOOTSTRAP ||
	    (rq->method != COAP_REQUEST_CODE_PUT && rq->method != COAP_REQUEST_CODE_POST) ||
	    fg_req_opt_uint(rq->pdu, COAP_OPTION_CONTENT_FORMAT, NULL) != LWM2M_CT_OPAQUE)
		return 0;
	st->ops = fg_ops_of(rq->ep, NULL, &st->ud);
	if (!st->ops || !st->ops->write_stream || parse_path(rq) < 0 || !fg_req_own_tree(rq) ||
	    rq->path.len != 3)
		return 0;
	oid = rq->path.id[LWM2M_OID];
	if (oid == 0 || oid == 1 || oid == 21)
		return 0;
	if (!lwm2m_store_has(rq->t.store, &LWM2M_PATH(oid, rq->path.id[LWM2M_IID])))
		return -ENOENT;
	rd = fg_req_resdef(rq, &rq->path);
	if (!rd)
		return -ENOENT;
	if (!(rd->ops & LWM2M_OP_W))
		return -EPERM;
	st->path = rq->path;
	return 1;
}

/* A management server's request: its operation by method and path. */
static void dm_dispatch(struct fg_req *rq)
{
	const coap_pdu_t *request = rq->pdu;
	int r;

	if (!rq->refreshed)
		rq->ep->c->stats.requests++;
	rq->obs_val = fg_req_opt_uint(request, COAP_OPTION_OBSERVE, &rq->observe);
	/* RFC 7641 §4.1: the observation keyed by this token ends before the
	 * request is served, whatever its answer (a bad path included):
	 * Observe 1 deregisters, and Observe 0 replaces it by what this
	 * request establishes (nothing if it fails or is refused). */
	if (rq->observe && (rq->method == COAP_REQUEST_CODE_GET || rq->method == COAP_REQUEST_CODE_FETCH)) {
		coap_bin_const_t tok = coap_pdu_get_token(request);

		fg_obs_stop_token(rq->ep, tok.s, tok.length);
	}
	r = parse_path(rq);
	if (r < 0) {
		fg_req_fail(rq, r == -EBADMSG ? -ENOENT : r);
		return;
	}
	/* Security (and OSCORE) hold keys: never visible to a management
	 * server (TS: 4.01 Unauthorized). */
	if (fg_req_own_tree(rq) && rq->path.len >= 1 && (rq->path.id[0] == 0 || rq->path.id[0] == 21)) {
		fg_req_fail(rq, -EACCES);
		return;
	}
	rq->accept = fg_req_opt_uint(request, COAP_OPTION_ACCEPT, NULL);
	rq->cf = fg_req_opt_uint(request, COAP_OPTION_CONTENT_FORMAT, NULL);

	switch (rq->method) {
	case COAP_REQUEST_CODE_GET:
		if (rq->accept == LWM2M_CT_LINK)
			fg_dm_discover(rq);
		else
			fg_dm_read(rq);
		break;
	case COAP_REQUEST_CODE_PUT:
		if (rq->len == 0 && rq->query && rq->query->length)
			fg_dm_write_attributes(rq);
		else
			fg_dm_write(rq, true);
		break;
	case COAP_REQUEST_CODE_POST:
		switch (rq->path.len) {
		case 1:
			fg_dm_create(rq);
			break;
		case 2:
			fg_dm_write(rq, false);
			break;
		case 3:
			fg_dm_execute(rq);
			break;
		default:
			fg_req_fail(rq, -EPERM);
			break;
		}
		break;
	case COAP_REQUEST_CODE_DELETE:
		fg_dm_delete(rq);
		break;
	case COAP_REQUEST_CODE_FETCH:
		fg_dm_read_composite(rq);
		break;
	default:
		fg_req_fail(rq, -EPERM);
		break;
	}
}

void fg_request_handler(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
			const coap_string_t *query, coap_pdu_t *response)
{
	struct fg_req rq = {
		.ep = coap_session_get_app_data(session),
		.resource = resource,
		.session = session,
		.pdu = request,
		.query = query,
		.response = response,
		.method = coap_pdu_get_code(request),
	};

	if (!rq.ep || rq.ep->removing || !rq.ep->store) {
		fg_req_code(&rq, COAP_RESPONSE_CODE(404));
		return;
	}
	rq.ep->sf.last_exchange = fg_now(rq.ep->c);
	if (rq.ep->reg.st != ST_BOOTSTRAP && fg_dm_answer_async(&rq)) {
		fg_b1_echo(request, response);
		fg_dedup_note(rq.ep, request, response);
		return;
	}
	/* A repeat of a request already served gets its answer again. */
	if (fg_dedup_answer(rq.ep, request, response))
		return;
	/* The payload: the request's, or the whole body once its last block
	 * came (an earlier block is answered here). A Read served again
	 * after ops->read has it from fg_dm_answer_async(). */
	if (!rq.owned) {
		struct fg_b1_body body;
		struct fg_b1_stream st;
		int s = stream_target(&rq, &st);

		if (s < 0) {
			fg_req_fail(&rq, s);
			fg_dedup_note(rq.ep, request, response);
			return;
		}
		switch (fg_b1_receive(rq.ep, request, response, s ? &st : NULL, &body)) {
		case FG_B1_ANSWERED:
			return;
		case FG_B1_STREAMED:
			/* The op has the whole body: a repeat of this last
			 * block gets the same answer, not a 4.08. */
			fg_dedup_note(rq.ep, request, response);
			return;
		default:
			break;
		}
		rq.data = body.data;
		rq.len = body.len;
		rq.owned = body.owned;
	}
	if (rq.ep->reg.st == ST_BOOTSTRAP)
		fg_bs_serve(&rq);
	else
		dm_dispatch(&rq);
	fg_diag_attach(rq.ep, response);
	fg_b1_echo(request, response);
	fg_dedup_note(rq.ep, request, response);
	free(rq.owned);
}
