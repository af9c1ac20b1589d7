/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block-wise request bodies (RFC 7959 Block1) that a server sends to an
 * endpoint: Write, Create, Execute, Read-Composite (FETCH), Write-Composite
 * and Bootstrap-Write bodies larger than one datagram.
 *
 * They are reassembled here, not by libcoap. libcoap 4.3.1's reassembly
 * (COAP_BLOCK_SINGLE_BODY) keeps a body buffer that stays NULL when the
 * first block has no Size1 (or an empty payload) and dereferences it once
 * it believes every block is in: three datagrams crashed the process (see
 * docs/ARCHITECTURE.md, "Block-wise requests"). Without SINGLE_BODY libcoap
 * hands every block to the handler as it came, and this module takes over.
 *
 * A transfer is named by what the client must repeat in every block: the
 * method, Uri-Path, Uri-Query, Content-Format and Request-Tag (RFC 9175).
 * Not by the token: RFC 7959 lets a client change it with every block, and
 * libcoap's client does. Blocks must come in order (a retransmission of a
 * block already taken is acknowledged again, a gap is 4.08); a block size
 * change is accepted where the new blocks line up with what was received.
 *
 * Bounds, so that no sequence of datagrams can make the process grow: one
 * body is at most block1_max_body (4.13 with Size1 beyond), an endpoint
 * receives at most block1_max_transfers bodies at once and all endpoints
 * together hold at most block1_budget bytes (transfer, name and body
 * counted; 5.03 with Max-Age beyond), and a transfer silent for
 * block1_timeout_ms is forgotten.
 *
 * Streams: a Write of one opaque resource whose endpoint has
 * ops->write_stream (dispatch.c decides) is not assembled: each block goes
 * to the op as it comes, at its offset, the last with LWM2M_STREAM_LAST.
 * A stream is a transfer like the others for block1_max_transfers and the
 * budget (it holds no body), but not bounded by block1_max_body: the op
 * says how much it takes. A gap is 4.08 and ends it; one that ends
 * otherwise than by its last block or an error of the op (forgotten after
 * block1_timeout_ms, started over, the session or endpoint gone) gets
 * LWM2M_STREAM_ABORT, once.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

struct fg_b1 {
	struct fg_b1 *next; /* the endpoint's transfers */
	struct lwm2m_endpoint *ep;
	struct fg_timer timer; /* when the transfer is forgotten */
	uint8_t *body;
	size_t len, cap;
	size_t charged; /* what c->b1_bytes counts for this transfer */
	bool streaming; /* the blocks go to st.ops->write_stream */
	struct fg_b1_stream st;
	uint64_t at; /* streaming: the offset of the next block */
	size_t key_len;
	uint8_t key[]; /* see b1_key() */
};

/* Request-Tags seen on the endpoint's session, see tag_recorded(). */
struct fg_b1_tags {
	unsigned n;
	struct {
		uint8_t len;
		uint8_t v[8]; /* RFC 9175: at most 8 bytes */
	} tag[];
};

static struct fg_b1 *b1_of(struct fg_timer *t)
{
	return (struct fg_b1 *)((char *)t - offsetof(struct fg_b1, timer));
}

static size_t b1_cost(size_t key_len, size_t cap)
{
	return sizeof(struct fg_b1) + key_len + cap;
}

static void b1_free(struct fg_b1 *b)
{
	struct lwm2m_client *c = b->ep->c;

	for (struct fg_b1 **pp = &b->ep->b1.list; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	b->ep->b1.n--;
	c->b1_bytes -= b->charged;
	c->nb1--;
	fg_timer_disarm(c, &b->timer);
	free(b->body);
	free(b);
}

/* A transfer given up: a stream's op hears of it. */
static void b1_abort(struct fg_b1 *b)
{
	if (b->streaming)
		b->st.ops->write_stream(b->st.ud, b->ep, NULL, &b->st.path, b->at, NULL, 0,
					LWM2M_STREAM_ABORT);
	b1_free(b);
}

static void on_b1_expired(struct lwm2m_client *c, struct fg_timer *t)
{
	struct fg_b1 *b = b1_of(t);

	(void)c;
	ep_log(b->ep, LWM2M_LOG_DEBUG,
	       "block-wise request body forgotten after %zu bytes: no block for %u ms",
	       b->streaming ? (size_t)b->at : b->len, c->cfg.block1_timeout_ms);
	b1_abort(b);
}

void fg_b1_drop_all(struct lwm2m_endpoint *ep)
{
	while (ep->b1.list)
		b1_abort(ep->b1.list);
	free(ep->b1.tags);
	ep->b1.tags = NULL;
}

/* libcoap 4.3.1 has already made a record of req's transfer when req is
 * the first block of several with a Request-Tag it had not seen on the
 * session (without a tag it keeps one record, shared), and frees these
 * records only with the session (not at the last block, and it never
 * expires them on a client session). So the tags are counted here: false
 * when req's is one more than block1_max_tags (or cannot be counted), and
 * the session must go. A tag that comes again costs nothing more. */
static bool tag_recorded(struct lwm2m_endpoint *ep, const coap_pdu_t *req, const coap_block_t *blk)
{
	unsigned max = ep->c->cfg.block1_max_tags;
	struct fg_b1_tags *t = ep->b1.tags;
	coap_opt_iterator_t oi;
	const coap_opt_t *o;
	size_t len;

	if (blk->num != 0 || !blk->m)
		return true;
	o = coap_check_option(req, COAP_OPTION_RTAG, &oi);
	if (!o)
		return true;
	len = coap_opt_length(o);
	if (len > sizeof(t->tag[0].v))
		len = sizeof(t->tag[0].v);
	for (unsigned i = 0; t && i < t->n; i++)
		if (t->tag[i].len == coap_opt_length(o) && !memcmp(t->tag[i].v, coap_opt_value(o), len))
			return true;
	if (!t) {
		t = calloc(1, sizeof(*t) + max * sizeof(t->tag[0]));
		if (!t)
			return false;
		ep->b1.tags = t;
	}
	if (t->n >= max)
		return false;
	t->tag[t->n].len = (uint8_t)coap_opt_length(o);
	memcpy(t->tag[t->n].v, coap_opt_value(o), len);
	t->n++;
	return true;
}

/* ---- the request ---------------------------------------------------------- */

/* The name of the transfer a block belongs to: the method, then each of
 * the options that identify it as (number, length, value). */
static int b1_key(const coap_pdu_t *pdu, struct lwm2m_buf *key)
{
	coap_opt_iterator_t oi;
	coap_opt_t *o;
	int r = lwm2m_buf_putc(key, (uint8_t)coap_pdu_get_code(pdu));

	coap_option_iterator_init(pdu, &oi, COAP_OPT_ALL);
	while (r >= 0 && (o = coap_option_next(&oi))) {
		uint16_t len = (uint16_t)coap_opt_length(o);
		uint8_t hdr[4] = { (uint8_t)(oi.number >> 8), (uint8_t)oi.number, (uint8_t)(len >> 8),
				   (uint8_t)len };

		if (oi.number != COAP_OPTION_URI_PATH && oi.number != COAP_OPTION_URI_QUERY &&
		    oi.number != COAP_OPTION_CONTENT_FORMAT && oi.number != COAP_OPTION_RTAG)
			continue;
		r = lwm2m_buf_append(key, hdr, sizeof(hdr));
		if (r >= 0)
			r = lwm2m_buf_append(key, coap_opt_value(o), len);
	}
	return r < 0 ? r : 0;
}

static struct fg_b1 *b1_find(struct lwm2m_endpoint *ep, const struct lwm2m_buf *key)
{
	for (struct fg_b1 *b = ep->b1.list; b; b = b->next)
		if (b->key_len == key->len && !memcmp(b->key, key->data, key->len))
			return b;
	return NULL;
}

/* ---- answers -------------------------------------------------------------- */

static void put_uint_opt(coap_pdu_t *resp, coap_option_num_t num, uint32_t v)
{
	uint8_t buf[4];

	coap_add_option(resp, num, coap_encode_var_safe(buf, sizeof(buf), v), buf);
}

/* The Block1 option of an answer. libcoap 4.3.1 has put one there
 * already when it tracks the transfer too (and takes it out again from
 * an error). */
static void put_block1(coap_pdu_t *resp, uint32_t num, bool more, unsigned szx)
{
	coap_opt_iterator_t oi;

	if (!coap_check_option(resp, COAP_OPTION_BLOCK1, &oi))
		put_uint_opt(resp, COAP_OPTION_BLOCK1, num << 4 | (more ? 1u : 0u) << 3 | szx);
}

static int answer(coap_pdu_t *resp, unsigned code)
{
	coap_pdu_set_code(resp, (coap_pdu_code_t)code);
	return FG_B1_ANSWERED;
}

/* 4.13: Size1 says how much would be accepted (RFC 7959 §2.9.3). */
static int too_large(struct lwm2m_endpoint *ep, coap_pdu_t *resp)
{
	size_t max = ep->c->cfg.block1_max_body;

	put_uint_opt(resp, COAP_OPTION_SIZE1, max > UINT32_MAX ? UINT32_MAX : (uint32_t)max);
	return answer(resp, COAP_RESPONSE_CODE(413));
}

/* 5.03: no room now; Max-Age says when the first transfer in the way
 * (of this endpoint when it has its maximum, else of any) ends at the
 * latest. */
static int no_room(struct lwm2m_endpoint *ep, coap_pdu_t *resp)
{
	struct lwm2m_client *c = ep->c;
	uint64_t first = UINT64_MAX, now = fg_now(c);
	uint32_t secs;

	if (ep->b1.n >= c->cfg.block1_max_transfers) {
		for (struct fg_b1 *b = ep->b1.list; b; b = b->next)
			if (b->timer.when < first)
				first = b->timer.when;
	} else {
		for (struct lwm2m_endpoint *e = c->eps; e; e = e->next)
			for (struct fg_b1 *b = e->b1.list; b; b = b->next)
				if (b->timer.when < first)
					first = b->timer.when;
	}
	secs = first == UINT64_MAX || first <= now ? 1 : (uint32_t)((first - now + 999999) / 1000000);
	put_uint_opt(resp, COAP_OPTION_MAXAGE, secs);
	return answer(resp, COAP_RESPONSE_CODE(503));
}

/* ---- reassembly ------------------------------------------------------------ */

/* Make room for n more bytes of b's body within the budget. */
static int b1_reserve(struct fg_b1 *b, size_t n)
{
	struct lwm2m_client *c = b->ep->c;
	size_t want = b->len + n, cap, cost;
	uint8_t *p;

	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 1024;
	while (cap < want)
		cap *= 2;
	if (cap > c->cfg.block1_max_body)
		cap = c->cfg.block1_max_body;
	cost = b1_cost(b->key_len, cap);
	if (c->b1_bytes - b->charged + cost > c->cfg.block1_budget)
		return -ENOBUFS;
	p = realloc(b->body, cap);
	if (!p)
		return -ENOMEM;
	b->body = p;
	b->cap = cap;
	c->b1_bytes = c->b1_bytes - b->charged + cost;
	b->charged = cost;
	return 0;
}

static struct fg_b1 *b1_new(struct lwm2m_endpoint *ep, const struct lwm2m_buf *key)
{
	struct lwm2m_client *c = ep->c;
	size_t cost = b1_cost(key->len, 0);
	struct fg_b1 *b;

	if (ep->b1.n >= c->cfg.block1_max_transfers || c->b1_bytes + cost > c->cfg.block1_budget)
		return NULL;
	b = calloc(1, sizeof(*b) + key->len);
	if (!b)
		return NULL;
	b->ep = ep;
	fg_timer_init(&b->timer, on_b1_expired);
	b->key_len = key->len;
	memcpy(b->key, key->data, key->len);
	b->charged = cost;
	c->b1_bytes += cost;
	c->nb1++;
	ep->b1.n++;
	b->next = ep->b1.list;
	ep->b1.list = b;
	return b;
}

/* Another block came: the transfer lives block1_timeout_ms more. A
 * transfer that cannot be given a deadline is not kept. */
static int b1_touch(struct fg_b1 *b)
{
	struct lwm2m_client *c = b->ep->c;
	int r = fg_timer_arm(c, &b->timer, fg_now(c) + (uint64_t)c->cfg.block1_timeout_ms * 1000u);

	if (r < 0)
		b1_free(b);
	return r;
}

static bool has_payload(coap_pdu_code_t method)
{
	return method == COAP_REQUEST_CODE_PUT || method == COAP_REQUEST_CODE_POST ||
	       method == COAP_REQUEST_CODE_FETCH || method == COAP_REQUEST_CODE_PATCH ||
	       method == COAP_REQUEST_CODE_IPATCH;
}

/* ---- streams -------------------------------------------------------------- */

static int stream_call(const struct fg_b1_stream *st, struct lwm2m_endpoint *ep, uint64_t offset,
		       const uint8_t *data, size_t len, bool last)
{
	return st->ops->write_stream(st->ud, ep, NULL, &st->path, offset, data, len,
				     last ? LWM2M_STREAM_LAST : 0);
}

/* The op's error: -EFBIG (more than it takes) is 4.13 Request Entity Too
 * Large; the others as for any operation (lwm2m_errno_to_coap()). */
static int stream_failed(coap_pdu_t *resp, int err)
{
	return answer(resp, err == -EFBIG ? COAP_RESPONSE_CODE(413) : lwm2m_errno_to_coap(err));
}

/* After the op took a block: 2.31 Continue, or 2.04 after the last. */
static int stream_took(struct fg_b1 *b, coap_pdu_t *resp, const coap_block_t *blk)
{
	if (!blk->m) {
		if (b)
			b1_free(b);
		put_block1(resp, blk->num, false, blk->szx);
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
		return FG_B1_STREAMED;
	}
	if (b1_touch(b) < 0)
		return answer(resp, COAP_RESPONSE_CODE(500));
	put_block1(resp, blk->num, true, blk->szx);
	return answer(resp, COAP_RESPONSE_CODE(231));
}

/* A later block of a stream. */
static int stream_block(struct fg_b1 *b, coap_pdu_t *resp, const coap_block_t *blk, uint64_t offset,
			const uint8_t *data, size_t len)
{
	int r;

	if (offset < b->at && blk->m && offset + len <= b->at) {
		/* A block the op took already: our answer was lost. */
		if (b1_touch(b) < 0)
			return answer(resp, COAP_RESPONSE_CODE(500));
		put_block1(resp, blk->num, true, blk->szx);
		return answer(resp, COAP_RESPONSE_CODE(231));
	}
	if (offset != b->at) {
		ep_log(b->ep, LWM2M_LOG_DEBUG, "streamed Write: block at %llu, expected %llu",
		       (unsigned long long)offset, (unsigned long long)b->at);
		b1_abort(b);
		return answer(resp, COAP_RESPONSE_CODE(408));
	}
	r = stream_call(&b->st, b->ep, offset, data, len, !blk->m);
	if (r < 0) {
		b1_free(b); /* the op ended it itself */
		return stream_failed(resp, r);
	}
	b->at += len;
	return stream_took(b, resp, blk);
}

int fg_b1_receive(struct lwm2m_endpoint *ep, const coap_pdu_t *req, coap_pdu_t *resp,
		  const struct fg_b1_stream *st, struct fg_b1_body *out)
{
	struct lwm2m_client *c = ep->c;
	struct lwm2m_buf key = { 0 };
	coap_opt_iterator_t oi;
	coap_opt_t *size1;
	coap_block_t blk;
	const uint8_t *data = NULL;
	size_t len = 0, bsize, offset;
	struct fg_b1 *b;
	int r;

	memset(out, 0, sizeof(*out));
	if (!coap_check_option(req, COAP_OPTION_BLOCK1, &oi)) {
		if (!coap_get_data(req, &out->len, &out->data)) {
			out->len = 0;
			out->data = NULL;
		}
		if (!st)
			return FG_B1_NONE;
		/* One block, the last. */
		r = stream_call(st, ep, 0, out->data, out->len, true);
		if (r == -ENOSYS)
			return FG_B1_NONE;
		if (r < 0)
			return stream_failed(resp, r);
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
		return FG_B1_STREAMED;
	}
	/* A number above 2^20 - 1, or SZX 7 (BERT, only over TCP): an option
	 * the client must not send (RFC 7959 §2.2, RFC 8323 §6). */
	if (!coap_get_block(req, COAP_OPTION_BLOCK1, &blk))
		return answer(resp, COAP_RESPONSE_CODE(400));
	/* Whatever is answered, libcoap kept its record of a new tag. A
	 * bootstrap session is closed when the bootstrap ends. */
	if (!tag_recorded(ep, req, &blk)) {
		if (ep->reg.st != ST_BOOTSTRAP)
			fg_ep_renew_session(ep);
		put_uint_opt(resp, COAP_OPTION_MAXAGE, 1);
		return answer(resp, COAP_RESPONSE_CODE(503));
	}
	/* A Block1 option describes a request body: a GET or DELETE has none
	 * to cut in blocks (RFC 7252 §5.4.1: a critical option that cannot be
	 * processed is 4.02). */
	if (!has_payload(coap_pdu_get_code(req)))
		return answer(resp, COAP_RESPONSE_CODE(402));
	if (!coap_get_data(req, &len, &data)) {
		len = 0;
		data = NULL;
	}
	bsize = (size_t)1 << (blk.szx + 4);
	/* Every block but the last carries exactly the block size. */
	if (len > bsize || (blk.m && len != bsize))
		return answer(resp, COAP_RESPONSE_CODE(400));
	offset = (size_t)blk.num << (blk.szx + 4);

	r = b1_key(req, &key);
	if (r < 0) {
		lwm2m_buf_free(&key);
		return answer(resp, COAP_RESPONSE_CODE(500));
	}
	b = b1_find(ep, &key);
	if (b && b->streaming && blk.num != 0) {
		lwm2m_buf_free(&key);
		return stream_block(b, resp, &blk, offset, data, len);
	}
	if (blk.num == 0) {
		if (b)
			b1_abort(b); /* the client started over */
		b = NULL;
		if (st) {
			/* A stream is bounded by what the op takes, not by
			 * block1_max_body; -ENOSYS: assembled after all. */
			if (blk.m && !(b = b1_new(ep, &key))) {
				lwm2m_buf_free(&key);
				return no_room(ep, resp);
			}
			r = stream_call(st, ep, 0, data, len, !blk.m);
			if (r != -ENOSYS) {
				lwm2m_buf_free(&key);
				if (r < 0) {
					if (b)
						b1_free(b);
					return stream_failed(resp, r);
				}
				if (b) {
					b->streaming = true;
					b->st = *st;
					b->at = len;
				}
				return stream_took(b, resp, &blk);
			}
			if (b)
				b1_free(b);
			b = NULL;
		}
		size1 = coap_check_option(req, COAP_OPTION_SIZE1, &oi);
		if ((size1 && coap_decode_var_bytes8(coap_opt_value(size1), coap_opt_length(size1)) >
				      c->cfg.block1_max_body) ||
		    len > c->cfg.block1_max_body) {
			lwm2m_buf_free(&key);
			return too_large(ep, resp);
		}
		if (!blk.m) {
			/* The whole body in one block. */
			lwm2m_buf_free(&key);
			out->data = data;
			out->len = len;
			return FG_B1_COMPLETE;
		}
		b = b1_new(ep, &key);
		lwm2m_buf_free(&key);
		if (!b)
			return no_room(ep, resp);
	} else {
		lwm2m_buf_free(&key);
		/* No transfer (never started, finished, refused or forgotten),
		 * or a block after a gap: what came before is missing. */
		if (!b || offset > b->len)
			return answer(resp, COAP_RESPONSE_CODE(408));
		if (offset < b->len) {
			/* A block taken already: our answer was lost. */
			if (!blk.m || offset + len > b->len)
				return answer(resp, COAP_RESPONSE_CODE(408));
			if (b1_touch(b) < 0)
				return answer(resp, COAP_RESPONSE_CODE(500));
			put_block1(resp, blk.num, true, blk.szx);
			return answer(resp, COAP_RESPONSE_CODE(231));
		}
		if (b->len + len > c->cfg.block1_max_body) {
			b1_free(b);
			return too_large(ep, resp);
		}
	}

	r = b1_reserve(b, len);
	if (r < 0) {
		b1_free(b);
		return r == -ENOBUFS ? no_room(ep, resp) : answer(resp, COAP_RESPONSE_CODE(500));
	}
	if (len)
		memcpy(b->body + b->len, data, len);
	b->len += len;
	if (blk.m) {
		if (b1_touch(b) < 0)
			return answer(resp, COAP_RESPONSE_CODE(500));
		put_block1(resp, blk.num, true, blk.szx);
		return answer(resp, COAP_RESPONSE_CODE(231));
	}
	/* Complete: the body goes to the caller, the transfer ends. */
	out->owned = b->body;
	out->data = b->body;
	out->len = b->len;
	b->body = NULL;
	b1_free(b);
	return FG_B1_COMPLETE;
}

void fg_b1_echo(const coap_pdu_t *req, coap_pdu_t *resp)
{
	coap_block_t blk;
	size_t len;
	const uint8_t *data;

	/* Only a final answer that carries nothing yet: an empty ACK (a
	 * separate answer follows) must stay empty, and content goes out
	 * block-wise by libcoap, whose later blocks must not repeat it. */
	if (coap_pdu_get_code(resp) == 0 || coap_get_data(resp, &len, &data))
		return;
	if (!coap_get_block(req, COAP_OPTION_BLOCK1, &blk) || blk.m)
		return;
	put_block1(resp, blk.num, false, blk.szx);
}
