/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests a server sends twice (RFC 7252 §4.5): the same message id again
 * is a repeat, not a new request, and gets the first answer again without
 * being run again. A retransmitted Write must not reach the field device
 * twice, an Execute not run twice, a Create not make two instances.
 * libcoap 4.3.1 detects repeats only of requests it acknowledged early
 * itself; this file remembers the answers to the last requests of each
 * endpoint that change something (PUT, POST, DELETE, iPATCH) for
 * EXCHANGE_LIFETIME. Reads (GET, FETCH) are safe to serve twice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

/* RFC 7252 §4.8.2 EXCHANGE_LIFETIME with the default parameters. */
#define KEEP_US (247u * 1000000u)
#define SLOTS   8u

struct answer {
	coap_mid_t mid;
	uint8_t token[8]; /* a repeat carries both again */
	size_t token_len;
	uint64_t when; /* µs; 0: empty slot */
	uint8_t code;
	uint8_t *bytes; /* options (u16 number, u16 length, value) then payload */
	size_t opts_len, len;
};

struct fg_dedup {
	struct answer a[SLOTS];
	unsigned next;
};

static bool changes(const coap_pdu_t *req)
{
	coap_pdu_code_t m = coap_pdu_get_code(req);

	return m == COAP_REQUEST_CODE_PUT || m == COAP_REQUEST_CODE_POST || m == COAP_REQUEST_CODE_DELETE ||
	       m == COAP_REQUEST_CODE_IPATCH;
}

static bool block_wise(const coap_pdu_t *req)
{
	coap_opt_iterator_t oi;

	/* Each block has its own id; block1.c keeps the transfer. */
	return coap_check_option(req, COAP_OPTION_BLOCK1, &oi) != NULL;
}

/* The answer to req when it was seen before: same message id and token (a
 * restarted server may reuse an id, not with the same random token). */
static struct answer *find(struct fg_dedup *d, const coap_pdu_t *req, uint64_t now)
{
	coap_bin_const_t tok = coap_pdu_get_token(req);
	coap_mid_t mid = coap_pdu_get_mid(req);

	for (unsigned i = 0; d && i < SLOTS; i++) {
		struct answer *a = &d->a[i];

		if (a->when && a->mid == mid && now - a->when < KEEP_US && a->token_len == tok.length &&
		    !memcmp(a->token, tok.s, tok.length))
			return a;
	}
	return NULL;
}

bool fg_dedup_answer(struct lwm2m_endpoint *ep, const coap_pdu_t *req, coap_pdu_t *resp)
{
	struct answer *a;

	if (!changes(req) || block_wise(req))
		return false;
	a = find(ep->dedup, req, fg_now(ep->c));
	if (!a)
		return false;
	ep->c->stats.duplicates++;
	coap_pdu_set_code(resp, (coap_pdu_code_t)a->code);
	for (size_t off = 0; off + 4 <= a->opts_len;) {
		uint16_t num, len;

		memcpy(&num, a->bytes + off, 2);
		memcpy(&len, a->bytes + off + 2, 2);
		off += 4;
		coap_add_option(resp, num, len, a->bytes + off);
		off += len;
	}
	if (a->len > a->opts_len)
		coap_add_data(resp, a->len - a->opts_len, a->bytes + a->opts_len);
	ep_log(ep, LWM2M_LOG_DEBUG, "repeated request (message id 0x%04x): answered again, not run again",
	       (unsigned)coap_pdu_get_mid(req));
	return true;
}

void fg_dedup_note(struct lwm2m_endpoint *ep, const coap_pdu_t *req, const coap_pdu_t *resp)
{
	struct lwm2m_buf b = { 0 };
	coap_opt_iterator_t oi;
	coap_opt_t *o;
	struct answer *a;
	const uint8_t *data;
	size_t len, opts_len;

	/* No code yet: an empty ACK now, the answer comes separate (noted
	 * then, when the request is served again). */
	if (!changes(req) || block_wise(req) || coap_pdu_get_code(resp) == 0)
		return;
	if (!ep->dedup && !(ep->dedup = calloc(1, sizeof(*ep->dedup))))
		return; /* a repeat would then run again */
	coap_option_iterator_init(resp, &oi, COAP_OPT_ALL);
	while ((o = coap_option_next(&oi))) {
		uint16_t num = oi.number, olen = (uint16_t)coap_opt_length(o);

		if (lwm2m_buf_append(&b, &num, 2) < 0 || lwm2m_buf_append(&b, &olen, 2) < 0 ||
		    lwm2m_buf_append(&b, coap_opt_value(o), olen) < 0)
			goto out;
	}
	opts_len = b.len;
	if (coap_get_data(resp, &len, &data) && len && lwm2m_buf_append(&b, data, len) < 0)
		goto out;
	a = find(ep->dedup, req, fg_now(ep->c));
	if (!a) {
		a = &ep->dedup->a[ep->dedup->next];
		ep->dedup->next = (ep->dedup->next + 1) % SLOTS;
	}
	coap_bin_const_t tok = coap_pdu_get_token(req);

	if (tok.length > sizeof(a->token))
		goto out;
	free(a->bytes);
	*a = (struct answer){ .mid = coap_pdu_get_mid(req),
			      .token_len = tok.length,
			      .when = fg_now(ep->c),
			      .code = (uint8_t)coap_pdu_get_code(resp),
			      .bytes = b.data,
			      .opts_len = opts_len,
			      .len = b.len };
	memcpy(a->token, tok.s, tok.length);
	b.data = NULL;
out:
	lwm2m_buf_free(&b);
}

void fg_dedup_free(struct lwm2m_endpoint *ep)
{
	if (!ep->dedup)
		return;
	for (unsigned i = 0; i < SLOTS; i++)
		free(ep->dedup->a[i].bytes);
	free(ep->dedup);
	ep->dedup = NULL;
}
