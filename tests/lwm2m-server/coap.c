/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The LwM2M server interfaces of fg-lwm2m-server over libcoap:
 * Registration (/rd), Bootstrap (/bs), Send (/dp) as resources, and the
 * Device Management / Information Reporting requests it sends to clients
 * over the session they registered on.
 *
 * Nothing is freed or deleted inside a libcoap handler: registrations,
 * bootstrap clients and requests are marked dead and reclaimed by
 * srv_housekeeping() from the main loop, so a handler never pulls a
 * resource or session out from under libcoap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "srv.h"

#define DEFAULT_TIMEOUT_MS 30000
#define ROOT_PATH          ((struct lwm2m_path){ .len = 0 })

static struct srv *srv_of(coap_session_t *s)
{
	return coap_get_app_data(coap_session_get_context(s));
}

static void addr_str(coap_session_t *s, char out[64])
{
	size_t n = coap_print_addr(coap_session_get_addr_remote(s), (unsigned char *)out, 63);

	out[n] = 0;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		abort(); /* a test tool: out of memory is not worth a code path */
	return p;
}

static bool opt_uint(const coap_pdu_t *pdu, coap_option_num_t num, uint32_t *out)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);

	if (!opt)
		return false;
	*out = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
	return true;
}

static uint16_t pdu_ct(const coap_pdu_t *pdu)
{
	uint32_t v;

	return opt_uint(pdu, COAP_OPTION_CONTENT_FORMAT, &v) && v < 0xFFFF ? (uint16_t)v : LWM2M_CT_NONE;
}

/* Every Uri-Query option as a JSON object: "k=v" -> "k":"v", "k" -> "k":true. */
static json_object *pdu_query(const coap_pdu_t *pdu)
{
	json_object *q = json_object_new_object();
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *opt;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
	coap_option_iterator_init(pdu, &it, &f);
	while ((opt = coap_option_next(&it))) {
		const char *v = (const char *)coap_opt_value(opt);
		size_t n = coap_opt_length(opt);
		const char *eq = memchr(v, '=', n);
		char key[64];

		if (eq) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
			json_object_object_add(q, key,
					       bytes_json((const uint8_t *)eq + 1, n - (size_t)(eq - v) - 1));
		} else {
			snprintf(key, sizeof(key), "%.*s", (int)n, v);
			json_object_object_add(q, key, json_object_new_boolean(1));
		}
	}
	return q;
}

/* Location-Path options joined: "/3303/1". */
static json_object *pdu_location(const coap_pdu_t *pdu)
{
	struct lwm2m_buf b = { 0 };
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *opt;
	json_object *o = NULL;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
	coap_option_iterator_init(pdu, &it, &f);
	while ((opt = coap_option_next(&it))) {
		lwm2m_buf_putc(&b, '/');
		lwm2m_buf_append(&b, coap_opt_value(opt), coap_opt_length(opt));
	}
	if (b.len)
		o = bytes_json(b.data, b.len);
	lwm2m_buf_free(&b);
	return o;
}

/* Every Uri-Path option as a JSON array of strings, as received. */
static json_object *pdu_uri_path(const coap_pdu_t *pdu)
{
	json_object *a = json_object_new_array();
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *opt;

	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
	coap_option_iterator_init(pdu, &it, &f);
	while ((opt = coap_option_next(&it)))
		json_object_array_add(a, bytes_json(coap_opt_value(opt), coap_opt_length(opt)));
	return a;
}

/* The request addresses the registration with exactly the segments its
 * Location-Path had (libcoap finds the resource by the segments joined
 * with '/', so ["rd/7"] and ["rd","7"] reach the same handler). */
static bool uri_path_is(const coap_pdu_t *pdu, json_object *segs)
{
	json_object *got = pdu_uri_path(pdu);
	bool eq = json_object_equal(got, segs);

	json_object_put(got);
	return eq;
}

static const char *qstr(json_object *q, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(q, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void pdu_body(const coap_pdu_t *pdu, const uint8_t **data, size_t *len)
{
	size_t off, total;

	if (!coap_get_data_large(pdu, len, data, &off, &total)) {
		*len = 0;
		*data = NULL;
	}
}

/* The body of an incoming request. libcoap 4.3.1 reassembles Block1
 * bodies itself only when the client sends Size1; without it the handler
 * sees every block with its Block1 option still there, so those are
 * collected here. Returns 1 with the whole body in data/len, 0 when more
 * blocks are expected (resp is a 2.31), -1 when resp carries an error. */
static int req_body(struct srv *S, coap_session_t *s, coap_resource_t *res, const coap_pdu_t *req,
		    coap_pdu_t *resp, const uint8_t **data, size_t *len)
{
	struct partial *p;
	coap_block_t blk;
	size_t off;

	pdu_body(req, data, len);
	if (!coap_get_block(req, COAP_OPTION_BLOCK1, &blk))
		return 1;
	for (p = S->partials; p; p = p->next)
		if (!p->done && p->session == s && p->res == res)
			break;
	off = (size_t)blk.num << (blk.szx + 4);
	if (blk.num == 0) {
		if (!p) {
			p = calloc(1, sizeof(*p));
			if (!p) {
				coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
				return -1;
			}
			p->session = s;
			p->res = res;
			p->next = S->partials;
			S->partials = p;
		}
		lwm2m_buf_reset(&p->body);
	}
	if (!p || p->body.len != off || p->body.len + *len > 16u << 20) {
		if (p)
			p->done = true;
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(408));
		return -1;
	}
	p->last_ms = now_ms();
	if (*len && lwm2m_buf_append(&p->body, *data, *len) < 0) {
		p->done = true;
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
		return -1;
	}
	if (blk.m) {
		uint8_t buf[4];
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(231));
		coap_add_option(resp, COAP_OPTION_BLOCK1,
				coap_encode_var_safe(buf, sizeof(buf), blk.num << 4 | 1u << 3 | blk.szx),
				buf);
		return 0;
	}
	p->done = true; /* freed from the main loop, after this handler */
	*data = p->body.data;
	*len = p->body.len;
	return 1;
}

/* A matching fail rule is consumed; returns its code or 0. */
static int fail_take(struct srv *S, const char *what, const char *ep)
{
	for (struct failrule **pp = &S->fails, *f; (f = *pp); pp = &f->next) {
		if (strcmp(f->what, what) || (f->ep && (!ep || strcmp(f->ep, ep))))
			continue;
		int code = f->code;
		if (--f->count <= 0) {
			*pp = f->next;
			free(f->ep);
			free(f);
		}
		return code;
	}
	return 0;
}

static void event_addr(json_object *ev, coap_session_t *s)
{
	char a[64];
	const coap_bin_const_t *id;

	addr_str(s, a);
	json_object_object_add(ev, "addr", json_object_new_string(a));
	json_object_object_add(ev, "secure",
			       json_object_new_boolean(coap_session_get_proto(s) == COAP_PROTO_DTLS));
	if (coap_session_get_proto(s) == COAP_PROTO_DTLS && (id = coap_session_get_psk_identity(s)) &&
	    id->length)
		json_object_object_add(ev, "identity", bytes_json(id->s, id->length));
}

static void event_code(json_object *ev, int code)
{
	char c[8];

	code_str(code, c);
	json_object_object_add(ev, "code", json_object_new_string(c));
}

/* ---- registrations ------------------------------------------------------ */

static struct reg *reg_by_ep(struct srv *S, const char *ep)
{
	for (struct reg *r = S->regs; r; r = r->next)
		if (!r->dead && strcmp(r->ep, ep) == 0)
			return r;
	return NULL;
}

static struct reg *reg_by_session(struct srv *S, coap_session_t *s)
{
	struct reg *r;

	for (r = S->regs; r; r = r->next)
		if (!r->dead && r->session == s)
			return r;
	for (r = S->regs; r; r = r->next)
		if (!r->dead && coap_address_equals(coap_session_get_addr_remote(r->session),
						    coap_session_get_addr_remote(s)))
			return r;
	return NULL;
}

/* RFC 7252 4.5 and 4.8.2: a confirmable request that comes again from the
 * same peer with the same message id within EXCHANGE_LIFETIME is a
 * retransmission (the answer was slow or lost), to be answered again and
 * not processed again. libcoap 4.3.1 leaves that to the application (it
 * drops a copy only after an empty ACK). Done for Register and Update,
 * the requests whose second processing is not the same as the first: a
 * Register processed twice made a second registration that replaced the
 * first, whose location the client had from the first answer, so that its
 * next Update got 4.04. */
#define EXCHANGE_LIFETIME_MS 247000

static bool reg_retransmission(const struct reg *r, coap_session_t *s, const coap_pdu_t *req)
{
	return r && !r->dead && r->session == s && r->mid == coap_pdu_get_mid(req) &&
	       coap_pdu_get_type(req) == COAP_MESSAGE_CON && now_ms() - r->last_ms < EXCHANGE_LIFETIME_MS;
}

static void retransmission_event(const char *kind, const struct reg *r, coap_session_t *s,
				 const coap_pdu_t *req)
{
	json_object *ev = event_new(kind);

	json_object_object_add(ev, "ep", json_object_new_string(r->ep));
	json_object_object_add(ev, "location", json_object_new_string(r->location));
	json_object_object_add(ev, "mid", json_object_new_int(coap_pdu_get_mid(req)));
	event_addr(ev, s);
	emit(ev);
}

static void reg_kill(struct reg *r)
{
	r->dead = true;
}

static void reg_free(struct srv *S, struct reg *r)
{
	if (r->res)
		coap_delete_resource(S->ctx, r->res);
	if (r->session)
		coap_session_release(r->session);
	json_object_put(r->query);
	json_object_put(r->links);
	json_object_put(r->loc_segs);
	free(r->ep);
	free(r->lwm2m);
	free(r->binding);
	free(r);
}

static json_object *reg_json(const struct reg *r)
{
	json_object *o = json_object_new_object();
	char a[64];

	json_object_object_add(o, "ep", json_object_new_string(r->ep));
	json_object_object_add(o, "location", json_object_new_string(r->location));
	json_object_object_add(o, "lt", json_object_new_int64(r->lt));
	json_object_object_add(o, "lwm2m", json_object_new_string(r->lwm2m));
	json_object_object_add(o, "b", json_object_new_string(r->binding));
	json_object_object_add(o, "query", json_object_get(r->query));
	json_object_object_add(o, "links", json_object_get(r->links));
	addr_str(r->session, a);
	json_object_object_add(o, "addr", json_object_new_string(a));
	return o;
}

/* Parse the link payload of Register/Update; 0 or an error code to answer. */
static int parse_reg_payload(const coap_pdu_t *req, const uint8_t *data, size_t len, json_object **links,
			     json_object **paths, int *err)
{
	uint16_t ct = pdu_ct(req);

	*links = *paths = NULL;
	if (!len)
		return 0;
	if (ct != LWM2M_CT_NONE && ct != LWM2M_CT_LINK)
		return COAP_RESPONSE_CODE(415);
	*err = links_json(data, len, links, paths);
	return *err < 0 ? COAP_RESPONSE_CODE(400) : 0;
}

static void bad_request(const char *what, coap_session_t *s, const coap_pdu_t *req, int code, const char *why)
{
	json_object *ev = event_new("bad-request");
	const uint8_t *data;
	size_t len;

	json_object_object_add(ev, "what", json_object_new_string(what));
	json_object_object_add(ev, "reason", json_object_new_string(why));
	event_code(ev, code);
	json_object_object_add(ev, "query", pdu_query(req));
	pdu_body(req, &data, &len);
	if (len)
		json_object_object_add(ev, "hex", hex_json(data, len));
	event_addr(ev, s);
	emit(ev);
}

static void hnd_reg_update(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			   const coap_string_t *query, coap_pdu_t *resp);
static void hnd_reg_delete(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			   const coap_string_t *query, coap_pdu_t *resp);

static void hnd_register(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			 const coap_string_t *query, coap_pdu_t *resp)
{
	struct srv *S = srv_of(s);
	json_object *q = pdu_query(req), *links = NULL, *paths = NULL, *ev;
	const char *ep = qstr(q, "ep"), *lts = qstr(q, "lt"), *ver = qstr(q, "lwm2m"), *b = qstr(q, "b");
	unsigned long lt = 86400;
	struct reg *r, *old;
	char idbuf[16];
	int code, err = 0;
	const uint8_t *data;
	size_t len;

	(void)query;
	old = ep ? reg_by_ep(S, ep) : NULL;
	if (reg_retransmission(old, s, req)) {
		for (size_t i = 0; i < json_object_array_length(old->loc_segs); i++) {
			json_object *seg = json_object_array_get_idx(old->loc_segs, i);
			coap_add_option(resp, COAP_OPTION_LOCATION_PATH,
					(size_t)json_object_get_string_len(seg),
					(const uint8_t *)json_object_get_string(seg));
		}
		retransmission_event("register-retransmission", old, s, req);
		code = COAP_RESPONSE_CODE(201);
		goto out;
	}
	if (req_body(S, s, res, req, resp, &data, &len) <= 0) {
		json_object_put(q);
		return;
	}
	if (!ep || !*ep) {
		bad_request("register", s, req, COAP_RESPONSE_CODE(400), "no ep");
		code = COAP_RESPONSE_CODE(400);
		goto out;
	}
	if (lts) {
		char *end;
		errno = 0;
		lt = strtoul(lts, &end, 10);
		if (errno || *end || !*lts || lt > UINT32_MAX) {
			bad_request("register", s, req, COAP_RESPONSE_CODE(400), "bad lt");
			code = COAP_RESPONSE_CODE(400);
			goto out;
		}
	}
	if (!ver)
		ver = "1.0";
	for (size_t i = 0; i < json_object_array_length(S->reject_versions); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(S->reject_versions, i)), ver) ==
		    0) {
			code = COAP_RESPONSE_CODE(412);
			ev = event_new("register-rejected");
			json_object_object_add(ev, "ep", json_object_new_string(ep));
			json_object_object_add(ev, "lwm2m", json_object_new_string(ver));
			event_code(ev, code);
			emit(ev);
			goto out;
		}
	code = fail_take(S, "register", ep);
	if (code) {
		ev = event_new("register-rejected");
		json_object_object_add(ev, "ep", json_object_new_string(ep));
		json_object_object_add(ev, "lwm2m", json_object_new_string(ver));
		event_code(ev, code);
		emit(ev);
		goto out;
	}
	code = parse_reg_payload(req, data, len, &links, &paths, &err);
	if (code) {
		char why[80];
		snprintf(why, sizeof(why), "link payload: %s",
			 err ? errno_name(err) : "content format not 40");
		bad_request("register", s, req, code, why);
		goto out;
	}
	if (!links) {
		links = json_object_new_array();
		paths = json_object_new_array();
	}

	r = calloc(1, sizeof(*r));
	if (!r) {
		code = COAP_RESPONSE_CODE(500);
		goto out;
	}
	r->id = S->next_reg_id++;
	r->loc_segs = json_object_new_array();
	snprintf(idbuf, sizeof(idbuf), "%u", r->id);
	if (!S->loc_template) {
		json_object_array_add(r->loc_segs, json_object_new_string("rd"));
		json_object_array_add(r->loc_segs, json_object_new_string(idbuf));
	}
	for (size_t i = 0; S->loc_template && i < json_object_array_length(S->loc_template); i++) {
		const char *t = json_object_get_string(json_object_array_get_idx(S->loc_template, i));
		const char *at = strstr(t, "{id}");
		char seg[64];

		if (at)
			snprintf(seg, sizeof(seg), "%.*s%s%s", (int)(at - t), t, idbuf, at + 4);
		else
			snprintf(seg, sizeof(seg), "%s", t);
		json_object_array_add(r->loc_segs, json_object_new_string(seg));
	}
	for (size_t i = 0, n = 0; i < json_object_array_length(r->loc_segs); i++)
		n += (size_t)snprintf(r->location + n, sizeof(r->location) - n, "%s%s", i ? "/" : "",
				      json_object_get_string(json_object_array_get_idx(r->loc_segs, i)));
	r->ep = xstrdup(ep);
	r->lwm2m = xstrdup(ver);
	r->binding = xstrdup(b ? b : "U");
	r->lt = (uint32_t)lt;
	r->query = json_object_get(q);
	r->links = json_object_get(links);
	r->session = coap_session_reference(s);
	r->last_ms = now_ms();
	r->mid = coap_pdu_get_mid(req);
	{
		/* libcoap keys resources by the Uri-Path segments joined with
		 * '/', a '/' inside a segment percent-encoded. */
		char key[192];
		size_t n = 0;

		for (size_t i = 0; i < json_object_array_length(r->loc_segs) && n < sizeof(key) - 4; i++) {
			const char *seg = json_object_get_string(json_object_array_get_idx(r->loc_segs, i));

			if (i)
				key[n++] = '/';
			for (; *seg && n < sizeof(key) - 4; seg++)
				n += (size_t)(*seg == '/' ? snprintf(key + n, 4, "%%2F")
							  : snprintf(key + n, 2, "%c", *seg));
		}
		r->res = coap_resource_init(coap_new_str_const((const uint8_t *)key, n),
					    COAP_RESOURCE_FLAGS_RELEASE_URI);
	}
	if (!r->res) {
		reg_free(S, r);
		code = COAP_RESPONSE_CODE(500);
		goto out;
	}
	coap_resource_set_userdata(r->res, r);
	coap_register_handler(r->res, COAP_REQUEST_POST, hnd_reg_update);
	coap_register_handler(r->res, COAP_REQUEST_DELETE, hnd_reg_delete);
	coap_add_resource(S->ctx, r->res);

	/* A second Register of the same endpoint replaces the first. */
	old = reg_by_ep(S, ep);
	if (old)
		reg_kill(old);
	r->next = S->regs;
	S->regs = r;

	code = COAP_RESPONSE_CODE(201);
	for (size_t i = 0; i < json_object_array_length(r->loc_segs); i++) {
		json_object *seg = json_object_array_get_idx(r->loc_segs, i);
		coap_add_option(resp, COAP_OPTION_LOCATION_PATH, (size_t)json_object_get_string_len(seg),
				(const uint8_t *)json_object_get_string(seg));
	}

	ev = event_new("register");
	json_object_object_add(ev, "ep", json_object_new_string(ep));
	json_object_object_add(ev, "lt", json_object_new_int64(r->lt));
	json_object_object_add(ev, "lwm2m", json_object_new_string(r->lwm2m));
	json_object_object_add(ev, "b", json_object_new_string(r->binding));
	json_object_object_add(ev, "query", json_object_get(q));
	json_object_object_add(ev, "links", json_object_get(links));
	json_object_object_add(ev, "paths", json_object_get(paths));
	json_object_object_add(ev, "location", json_object_new_string(r->location));
	json_object_object_add(ev, "location_path", json_object_get(r->loc_segs));
	json_object_object_add(ev, "uri_path", pdu_uri_path(req));
	if (old)
		json_object_object_add(ev, "replaced", json_object_new_string(old->location));
	/* Retransmissions of one Register carry its message id: a test tells
	 * them from distinct Registers by (addr, mid). */
	json_object_object_add(ev, "mid", json_object_new_int(coap_pdu_get_mid(req)));
	event_addr(ev, s);
	emit(ev);
out:
	coap_pdu_set_code(resp, (coap_pdu_code_t)code);
	json_object_put(q);
	json_object_put(links);
	json_object_put(paths);
}

static void hnd_reg_update(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			   const coap_string_t *query, coap_pdu_t *resp)
{
	struct srv *S = srv_of(s);
	struct reg *r = coap_resource_get_userdata(res);
	json_object *q = NULL, *links = NULL, *paths = NULL, *ev;
	const char *lts, *b;
	unsigned long lt = 0;
	int code, err = 0;
	const uint8_t *data;
	size_t len;

	(void)query;
	if (!r || r->dead) {
		code = COAP_RESPONSE_CODE(404);
		goto out;
	}
	if (reg_retransmission(r, s, req)) {
		retransmission_event("update-retransmission", r, s, req);
		code = COAP_RESPONSE_CODE(204);
		goto out;
	}
	if (req_body(S, s, res, req, resp, &data, &len) <= 0)
		return;
	q = pdu_query(req);
	if (!uri_path_is(req, r->loc_segs)) {
		code = COAP_RESPONSE_CODE(404);
		ev = event_new("update-rejected");
		json_object_object_add(ev, "ep", json_object_new_string(r->ep));
		json_object_object_add(ev, "location", json_object_new_string(r->location));
		json_object_object_add(ev, "uri_path", pdu_uri_path(req));
		json_object_object_add(ev, "reason",
				       json_object_new_string("Uri-Path is not the Location-Path"));
		event_code(ev, code);
		emit(ev);
		goto out;
	}
	code = fail_take(S, "update", r->ep);
	if (code) {
		ev = event_new("update-rejected");
		json_object_object_add(ev, "ep", json_object_new_string(r->ep));
		json_object_object_add(ev, "location", json_object_new_string(r->location));
		event_code(ev, code);
		emit(ev);
		goto out;
	}
	lts = qstr(q, "lt");
	b = qstr(q, "b");
	if (lts) {
		char *end;
		errno = 0;
		lt = strtoul(lts, &end, 10);
		if (errno || *end || !*lts || lt > UINT32_MAX) {
			code = COAP_RESPONSE_CODE(400);
			bad_request("update", s, req, code, "bad lt");
			goto out;
		}
	}
	code = parse_reg_payload(req, data, len, &links, &paths, &err);
	if (code) {
		bad_request("update", s, req, code, err ? errno_name(err) : "content format not 40");
		goto out;
	}
	if (lts)
		r->lt = (uint32_t)lt;
	if (b) {
		free(r->binding);
		r->binding = xstrdup(b);
	}
	if (links) {
		json_object_put(r->links);
		r->links = json_object_get(links);
	}
	json_object_object_foreach(q, k, v) json_object_object_add(r->query, k, json_object_get(v));
	if (r->session != s) {
		/* NAT rebinding or a new DTLS session: later requests go there */
		coap_session_release(r->session);
		r->session = coap_session_reference(s);
	}
	r->last_ms = now_ms();
	r->mid = coap_pdu_get_mid(req);
	code = COAP_RESPONSE_CODE(204);

	ev = event_new("update");
	json_object_object_add(ev, "ep", json_object_new_string(r->ep));
	json_object_object_add(ev, "location", json_object_new_string(r->location));
	json_object_object_add(ev, "uri_path", pdu_uri_path(req));
	json_object_object_add(ev, "query", json_object_get(q));
	if (lts)
		json_object_object_add(ev, "lt", json_object_new_int64(r->lt));
	if (b)
		json_object_object_add(ev, "b", json_object_new_string(b));
	if (links) {
		json_object_object_add(ev, "links", json_object_get(links));
		json_object_object_add(ev, "paths", json_object_get(paths));
	}
	event_addr(ev, s);
	emit(ev);
out:
	coap_pdu_set_code(resp, (coap_pdu_code_t)code);
	json_object_put(q);
	json_object_put(links);
	json_object_put(paths);
}

static void hnd_reg_delete(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			   const coap_string_t *query, coap_pdu_t *resp)
{
	struct srv *S = srv_of(s);
	struct reg *r = coap_resource_get_userdata(res);
	json_object *ev;
	int code;

	(void)req;
	(void)query;
	if (!r || r->dead) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
		return;
	}
	code = uri_path_is(req, r->loc_segs) ? fail_take(S, "deregister", r->ep) : COAP_RESPONSE_CODE(404);
	if (!code) {
		code = COAP_RESPONSE_CODE(202);
		reg_kill(r);
	}
	ev = event_new(code == COAP_RESPONSE_CODE(202) ? "deregister" : "deregister-rejected");
	json_object_object_add(ev, "ep", json_object_new_string(r->ep));
	json_object_object_add(ev, "location", json_object_new_string(r->location));
	json_object_object_add(ev, "uri_path", pdu_uri_path(req));
	event_code(ev, code);
	event_addr(ev, s);
	emit(ev);
	coap_pdu_set_code(resp, (coap_pdu_code_t)code);
}

/* Requests to paths nobody serves. libcoap answers a DELETE of an unknown
 * resource with 2.02 (RFC 7252 5.8.4), but a De-register of an unknown
 * registration must get 4.04. */
static void hnd_unknown(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			const coap_string_t *query, coap_pdu_t *resp)
{
	(void)res;
	(void)s;
	(void)req;
	(void)query;
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
}

/* ---- bootstrap ------------------------------------------------------------ */

static struct bsc *bsc_by_ep(struct srv *S, const char *ep)
{
	for (struct bsc *b = S->bscs; b; b = b->next)
		if (!b->dead && strcmp(b->ep, ep) == 0)
			return b;
	return NULL;
}

static void bsc_free(struct bsc *b)
{
	if (b->session)
		coap_session_release(b->session);
	json_object_put(b->script);
	json_object_put(b->results);
	free(b->ep);
	free(b);
}

static void hnd_bootstrap(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
			  const coap_string_t *query, coap_pdu_t *resp)
{
	struct srv *S = srv_of(s);
	json_object *q = pdu_query(req), *ev, *script = NULL;
	const char *ep = qstr(q, "ep");
	struct bsc *b;
	int code;

	(void)res;
	(void)query;
	if (!ep || !*ep) {
		code = COAP_RESPONSE_CODE(400);
		bad_request("bootstrap", s, req, code, "no ep");
		goto out;
	}
	/* A retransmitted Bootstrap-Request (RFC 7252 4.5, as for Register
	 * above): answered again, its script not restarted. */
	b = bsc_by_ep(S, ep);
	if (b && !b->dead && b->session == s && b->mid == coap_pdu_get_mid(req) &&
	    coap_pdu_get_type(req) == COAP_MESSAGE_CON && now_ms() - b->req_ms < EXCHANGE_LIFETIME_MS) {
		code = COAP_RESPONSE_CODE(204);
		ev = event_new("bootstrap-request-retransmission");
		json_object_object_add(ev, "ep", json_object_new_string(ep));
		json_object_object_add(ev, "mid", json_object_new_int(b->mid));
		event_addr(ev, s);
		emit(ev);
		goto out;
	}
	code = fail_take(S, "bootstrap", ep);
	if (!code) {
		code = COAP_RESPONSE_CODE(204);
		if (b)
			b->dead = true;
		b = calloc(1, sizeof(*b));
		if (!b) {
			code = COAP_RESPONSE_CODE(500);
			goto out;
		}
		b->ep = xstrdup(ep);
		b->session = coap_session_reference(s);
		b->mid = coap_pdu_get_mid(req);
		b->req_ms = now_ms();
		if (json_object_object_get_ex(S->bs_scripts, ep, &script) ||
		    json_object_object_get_ex(S->bs_scripts, "*", &script)) {
			b->script = json_object_get(script);
			b->start = true;
		}
		b->results = json_object_new_array();
		b->next = S->bscs;
		S->bscs = b;
	}
	ev = event_new("bootstrap-request");
	json_object_object_add(ev, "ep", json_object_new_string(ep));
	json_object_object_add(ev, "query", json_object_get(q));
	if (qstr(q, "pct"))
		json_object_object_add(ev, "pct", json_object_new_int(atoi(qstr(q, "pct"))));
	json_object_object_add(ev, "scripted", json_object_new_boolean(script != NULL));
	event_code(ev, code);
	event_addr(ev, s);
	emit(ev);
out:
	coap_pdu_set_code(resp, (coap_pdu_code_t)code);
	json_object_put(q);
}

/* ---- Send ------------------------------------------------------------------ */

static void hnd_send(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
		     const coap_string_t *query, coap_pdu_t *resp)
{
	struct srv *S = srv_of(s);
	struct reg *r = reg_by_session(S, s);
	json_object *ev = event_new("send"), *err;
	uint16_t ct = pdu_ct(req);
	const uint8_t *data;
	size_t len;
	int code;

	(void)query;
	if (req_body(S, s, res, req, resp, &data, &len) <= 0) {
		json_object_put(ev);
		return;
	}
	json_object_object_add(ev, "ep", r ? json_object_new_string(r->ep) : NULL);
	if (ct != LWM2M_CT_NONE)
		json_object_object_add(ev, "ct", json_object_new_int(ct));
	payload_json(ev, S, ct, &ROOT_PATH, NULL, data, len);
	code = fail_take(S, "send", r ? r->ep : NULL);
	if (!code) {
		if (!r)
			code = COAP_RESPONSE_CODE(404);
		else if (json_object_object_get_ex(ev, "error", &err) || !len)
			code = COAP_RESPONSE_CODE(400);
		else if (ct != LWM2M_CT_SENML_CBOR && ct != LWM2M_CT_SENML_JSON && ct != LWM2M_CT_LWM2M_CBOR)
			code = COAP_RESPONSE_CODE(415);
		else
			code = COAP_RESPONSE_CODE(204);
	}
	event_code(ev, code);
	event_addr(ev, s);
	emit(ev);
	coap_pdu_set_code(resp, (coap_pdu_code_t)code);
}

/* ---- requests to clients ---------------------------------------------------- */

static struct req *req_by_token(struct srv *S, const uint8_t *tok, size_t len, bool established)
{
	for (struct req *q = S->reqs; q; q = q->next)
		if (!q->dead && q->established == established && q->toklen == len &&
		    !memcmp(q->token, tok, len))
			return q;
	return NULL;
}

static void req_free(struct req *q)
{
	if (q->session)
		coap_session_release(q->session);
	json_object_put(q->id);
	free(q->ep);
	free(q->op);
	free(q->path);
	free(q->body);
	free(q);
}

static void release_body(coap_session_t *s, void *p)
{
	(void)s;
	free(p);
}

struct reqspec {
	coap_pdu_code_t method;
	const char *path;
	json_object *query; /* array of strings */
	int observe;        /* -1: no Observe option */
	uint16_t accept, ct;
	const uint8_t *body;
	size_t body_len;
	bool non;
	int timeout_ms;
};

static int add_path_opts(coap_optlist_t **ol, const char *path)
{
	const char *p = path;

	while (*p) {
		const char *e;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		if (!e)
			e = p + strlen(p);
		if (!coap_insert_optlist(
			    ol, coap_new_optlist(COAP_OPTION_URI_PATH, (size_t)(e - p), (const uint8_t *)p)))
			return -ENOMEM;
		p = e;
	}
	return 0;
}

static int add_uint_opt(coap_optlist_t **ol, coap_option_num_t num, unsigned v)
{
	uint8_t buf[4];
	size_t n = coap_encode_var_safe(buf, sizeof(buf), v);

	return coap_insert_optlist(ol, coap_new_optlist(num, n, buf)) ? 0 : -ENOMEM;
}

/* Build and send one request; on success q (already filled with id/ep/op/
 * kind) is linked into S->reqs with its token. Returns 0 or -errno. */
static int req_send(struct srv *S, coap_session_t *s, const struct reqspec *sp, struct req *q)
{
	coap_optlist_t *ol = NULL;
	coap_pdu_t *pdu;
	uint64_t t;
	int r = -ENOMEM;

	pdu = coap_pdu_init(sp->non ? COAP_MESSAGE_NON : COAP_MESSAGE_CON, sp->method, coap_new_message_id(s),
			    coap_session_max_pdu_size(s));
	if (!pdu)
		return -ENOMEM;
	if (!q->toklen) {
		/* Tokens unique over every session, so a late notification can
		 * never be taken for another endpoint's. */
		t = S->token_base + S->token_ctr++;
		for (int i = 0; i < 8; i++)
			q->token[i] = (uint8_t)(t >> (56 - 8 * i));
		q->toklen = 8;
	}
	if (!coap_add_token(pdu, q->toklen, q->token))
		goto fail;
	if (sp->observe >= 0 && add_uint_opt(&ol, COAP_OPTION_OBSERVE, (unsigned)sp->observe) < 0)
		goto fail;
	if (add_path_opts(&ol, sp->path) < 0)
		goto fail;
	if (sp->ct != LWM2M_CT_NONE && add_uint_opt(&ol, COAP_OPTION_CONTENT_FORMAT, sp->ct) < 0)
		goto fail;
	for (size_t i = 0; sp->query && i < json_object_array_length(sp->query); i++) {
		json_object *e = json_object_array_get_idx(sp->query, i);
		if (!coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_URI_QUERY,
							       (size_t)json_object_get_string_len(e),
							       (const uint8_t *)json_object_get_string(e))))
			goto fail;
	}
	if (sp->accept != LWM2M_CT_NONE && add_uint_opt(&ol, COAP_OPTION_ACCEPT, sp->accept) < 0)
		goto fail;
	if (ol && !coap_add_optlist_pdu(pdu, &ol))
		goto fail;
	if (sp->body_len) {
		uint8_t *copy = malloc(sp->body_len);
		if (!copy)
			goto fail;
		memcpy(copy, sp->body, sp->body_len);
		/* libcoap calls release_body() on success and on failure */
		if (!coap_add_data_large_request(s, pdu, sp->body_len, copy, release_body, copy)) {
			r = -EMSGSIZE;
			goto fail;
		}
	}
	coap_delete_optlist(ol);
	ol = NULL;
	if (coap_send(s, pdu) == COAP_INVALID_MID)
		return -EIO; /* coap_send() consumed the pdu */
	q->session = coap_session_reference(s);
	q->deadline_ms = now_ms() + (sp->timeout_ms > 0 ? sp->timeout_ms : DEFAULT_TIMEOUT_MS);
	q->next = S->reqs;
	S->reqs = q;
	return 0;
fail:
	coap_delete_optlist(ol);
	coap_delete_pdu(pdu);
	return r;
}

static void reply_error(json_object *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_error(json_object *id, const char *fmt, ...)
{
	json_object *ev = event_new("response");
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (id)
		json_object_object_add(ev, "id", json_object_get(id));
	json_object_object_add(ev, "error", json_object_new_string(msg));
	emit(ev);
}

static void reply_ok(json_object *id, json_object *ev)
{
	if (!ev)
		ev = event_new("response");
	if (id)
		json_object_object_add(ev, "id", json_object_get(id));
	json_object_object_add(ev, "ok", json_object_new_boolean(1));
	emit(ev);
}

static const char *jstr(json_object *cmd, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(cmd, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool jint(json_object *cmd, const char *key, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(cmd, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

/* ct-like member: a number, absent -> def. */
static int jct(json_object *cmd, const char *key, uint16_t def, uint16_t *out)
{
	json_object *v;

	*out = def;
	if (!json_object_object_get_ex(cmd, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_int64(v) > 65535)
		return -EINVAL;
	*out = (uint16_t)json_object_get_int64(v);
	return 0;
}

/* The payload of a write/create/composite command: "hex", "text",
 * "records" (array) or "value" (one record at path). */
static int build_body(struct srv *S, json_object *cmd, const char *path, const struct lwm2m_path *base,
		      uint16_t *ct, struct lwm2m_buf *out, const char **err)
{
	struct lwm2m_records recs = { 0 };
	json_object *v;
	int r;

	if (jstr(cmd, "hex")) {
		uint8_t *p;
		size_t n;
		if (hex_decode(jstr(cmd, "hex"), &p, &n) < 0) {
			*err = "bad hex";
			return -EINVAL;
		}
		r = lwm2m_buf_append(out, p, n);
		free(p);
		return r;
	}
	if (json_object_object_get_ex(cmd, "text", &v)) {
		if (*ct == 0xFFFE)
			*ct = LWM2M_CT_TEXT;
		return lwm2m_buf_append(out, json_object_get_string(v),
					(size_t)json_object_get_string_len(v));
	}
	if (json_object_object_get_ex(cmd, "records", &v)) {
		if (!json_object_is_type(v, json_type_array)) {
			*err = "records must be an array";
			return -EINVAL;
		}
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			r = record_from_json(json_object_array_get_idx(v, i), S->registry, &recs, err);
			if (r < 0)
				goto out;
		}
	} else if (json_object_object_get_ex(cmd, "value", &v)) {
		json_object *one = json_object_new_object();
		json_object *t;
		json_object_object_add(one, "path", json_object_new_string(path));
		json_object_object_add(one, "value", json_object_get(v));
		if (json_object_object_get_ex(cmd, "type", &t))
			json_object_object_add(one, "type", json_object_get(t));
		r = record_from_json(one, S->registry, &recs, err);
		json_object_put(one);
		if (r < 0)
			goto out;
	} else {
		*err = NULL;
		return 0; /* no payload */
	}
	if (*ct == 0xFFFE)
		*ct = LWM2M_CT_SENML_CBOR;
	lwm2m_records_sort(&recs);
	r = lwm2m_encode(*ct, base, recs.v, recs.n, out);
	if (r < 0)
		*err = "cannot encode the records in that content format";
out:
	lwm2m_records_clear(&recs);
	return r;
}

/* Names-only SenML payload for Read-Composite / Observe-Composite. */
static int build_names(json_object *paths, uint16_t ct, struct lwm2m_buf *out, const char **err)
{
	struct lwm2m_records recs = { 0 };
	int r = 0;

	if (!paths || !json_object_is_type(paths, json_type_array)) {
		*err = "\"paths\" array needed";
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(paths); i++) {
		const char *ps = json_object_get_string(json_object_array_get_idx(paths, i));
		struct lwm2m_record *rec;
		struct lwm2m_span pfx;
		struct lwm2m_path p;
		if (!ps || lwm2m_path_parse(ps, strlen(ps), &p, &pfx) < 0) {
			*err = "bad path in \"paths\"";
			r = -EINVAL;
			goto out;
		}
		rec = lwm2m_records_add(&recs);
		if (!rec) {
			r = -ENOMEM;
			goto out;
		}
		rec->path = p;
		if (pfx.len) {
			rec->prefix.ptr = lwm2m_records_dup(&recs, pfx.ptr, pfx.len);
			rec->prefix.len = pfx.len;
		}
	}
	r = lwm2m_encode(ct, &ROOT_PATH, recs.v, recs.n, out);
	if (r < 0)
		*err = "cannot encode the names in that content format";
out:
	lwm2m_records_clear(&recs);
	return r;
}

static void attr_query(json_object *attrs, json_object *query)
{
	json_object_object_foreach(attrs, k, v)
	{
		char buf[96];
		switch (json_object_get_type(v)) {
		case json_type_null:
			snprintf(buf, sizeof(buf), "%s", k);
			break;
		case json_type_int:
			snprintf(buf, sizeof(buf), "%s=%lld", k, (long long)json_object_get_int64(v));
			break;
		case json_type_double: {
			char d[32];
			if (lwm2m_fmt_double(json_object_get_double(v), d) < 0)
				snprintf(d, sizeof(d), "nan");
			snprintf(buf, sizeof(buf), "%s=%s", k, d);
			break;
		}
		default:
			snprintf(buf, sizeof(buf), "%s=%s", k, json_object_get_string(v));
			break;
		}
		json_object_array_add(query, json_object_new_string(buf));
	}
}

static int method_parse(json_object *m, coap_pdu_code_t *out)
{
	static const struct {
		const char *name;
		coap_pdu_code_t code;
	} methods[] = {
		{ "GET", COAP_REQUEST_CODE_GET },       { "POST", COAP_REQUEST_CODE_POST },
		{ "PUT", COAP_REQUEST_CODE_PUT },       { "DELETE", COAP_REQUEST_CODE_DELETE },
		{ "FETCH", COAP_REQUEST_CODE_FETCH },   { "PATCH", COAP_REQUEST_CODE_PATCH },
		{ "IPATCH", COAP_REQUEST_CODE_IPATCH },
	};

	if (json_object_is_type(m, json_type_int)) {
		int64_t v = json_object_get_int64(m);
		if (v < 1 || v > 31)
			return -EINVAL;
		*out = (coap_pdu_code_t)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcasecmp(json_object_get_string(m), methods[i].name) == 0) {
			*out = methods[i].code;
			return 0;
		}
	return -EINVAL;
}

/* Which session reaches ep: a client in bootstrap first, then a registration. */
static coap_session_t *target(struct srv *S, const char *ep, struct reg **regp)
{
	struct bsc *b = bsc_by_ep(S, ep);
	struct reg *r;

	*regp = NULL;
	if (b)
		return b->session;
	r = reg_by_ep(S, ep);
	*regp = r;
	return r ? r->session : NULL;
}

static void bs_step(struct srv *S, struct bsc *b);

/* A device-management command: build the request, send it, and reply when
 * the response arrives. bs is the bootstrap client running a script, or NULL.
 * Returns 0 when a request went out (or an error was already replied). */
static int cmd_request(struct srv *S, json_object *cmd, const char *op, struct bsc *bs)
{
	json_object *id = NULL, *jv;
	const char *ep = bs ? bs->ep : jstr(cmd, "ep"), *path = jstr(cmd, "path"), *err = NULL;
	struct reqspec sp = { .observe = -1, .accept = LWM2M_CT_NONE, .ct = LWM2M_CT_NONE };
	struct lwm2m_buf body = { 0 };
	struct lwm2m_span pfx = { 0 };
	struct lwm2m_path base = { 0 };
	enum req_kind kind = REQ_PLAIN;
	coap_session_t *s;
	struct reg *reg = NULL;
	struct req *q;
	int64_t tmo;
	uint16_t defct;
	int r;

	json_object_object_get_ex(cmd, "id", &id);
	if (!ep) {
		reply_error(id, "\"ep\" needed");
		return -EINVAL;
	}
	s = bs ? bs->session : target(S, ep, &reg);
	if (!s) {
		reply_error(id, "no such endpoint '%s'", ep);
		return -ENOENT;
	}
	if (!path)
		path = strcmp(op, "bs-finish") == 0 ? "/bs" : "/";
	if (lwm2m_path_parse(path, strlen(path), &base, &pfx) < 0) {
		base = ROOT_PATH;
		pfx.len = 0;
	}
	/* default content format of a payload: TLV for LwM2M 1.0 clients and
	 * in bootstrap, SenML CBOR otherwise (0xFFFE = "not given") */
	defct = (!reg || strcmp(reg->lwm2m, "1.0") == 0) ? LWM2M_CT_TLV : 0xFFFE;
	if (jct(cmd, "accept", LWM2M_CT_NONE, &sp.accept) < 0 || jct(cmd, "ct", 0xFFFE, &sp.ct) < 0) {
		reply_error(id, "bad \"accept\" or \"ct\"");
		return -EINVAL;
	}
	sp.path = path;
	if (jint(cmd, "timeout", &tmo))
		sp.timeout_ms = (int)(tmo * 1000);
	json_object_object_get_ex(cmd, "non", &jv);
	sp.non = jv && json_object_get_boolean(jv);

	if (!strcmp(op, "read") || !strcmp(op, "bs-read")) {
		sp.method = COAP_REQUEST_CODE_GET;
	} else if (!strcmp(op, "discover") || !strcmp(op, "bs-discover")) {
		sp.method = COAP_REQUEST_CODE_GET;
		sp.accept = LWM2M_CT_LINK;
	} else if (!strcmp(op, "observe")) {
		sp.method = COAP_REQUEST_CODE_GET;
		sp.observe = 0;
		kind = REQ_OBSERVE;
	} else if (!strcmp(op, "write") || !strcmp(op, "bs-write") || !strcmp(op, "create") ||
		   !strcmp(op, "write-composite")) {
		bool partial = json_object_object_get_ex(cmd, "partial", &jv) && json_object_get_boolean(jv);
		if (!strcmp(op, "write-composite")) {
			sp.method = COAP_REQUEST_CODE_IPATCH;
			if (sp.ct == 0xFFFE)
				sp.ct = LWM2M_CT_SENML_CBOR;
		} else {
			sp.method = (!strcmp(op, "create") || partial) ? COAP_REQUEST_CODE_POST
								       : COAP_REQUEST_CODE_PUT;
			if (sp.ct == 0xFFFE)
				sp.ct = defct;
		}
		r = build_body(S, cmd, path, strcmp(op, "write-composite") ? &base : &ROOT_PATH, &sp.ct,
			       &body, &err);
		if (r < 0)
			goto bad;
	} else if (!strcmp(op, "execute")) {
		sp.method = COAP_REQUEST_CODE_POST;
		if (jstr(cmd, "args"))
			lwm2m_buf_append(&body, jstr(cmd, "args"), strlen(jstr(cmd, "args")));
		if (sp.ct == 0xFFFE)
			sp.ct = LWM2M_CT_NONE;
	} else if (!strcmp(op, "write-attributes")) {
		sp.method = COAP_REQUEST_CODE_PUT;
		sp.query = json_object_new_array();
		if (json_object_object_get_ex(cmd, "attrs", &jv) && json_object_is_type(jv, json_type_object))
			attr_query(jv, sp.query);
		if (json_object_object_get_ex(cmd, "query", &jv)) {
			for (size_t i = 0;
			     json_object_is_type(jv, json_type_array) && i < json_object_array_length(jv);
			     i++)
				json_object_array_add(sp.query,
						      json_object_get(json_object_array_get_idx(jv, i)));
		}
	} else if (!strcmp(op, "delete") || !strcmp(op, "bs-delete")) {
		sp.method = COAP_REQUEST_CODE_DELETE;
	} else if (!strcmp(op, "read-composite") || !strcmp(op, "observe-composite")) {
		json_object_object_get_ex(cmd, "paths", &jv);
		sp.method = COAP_REQUEST_CODE_FETCH;
		if (sp.ct == 0xFFFE)
			sp.ct = LWM2M_CT_SENML_CBOR;
		if (sp.accept == LWM2M_CT_NONE)
			sp.accept = sp.ct;
		r = build_names(jv, sp.ct, &body, &err);
		if (r < 0)
			goto bad;
		base = ROOT_PATH;
		pfx.len = 0;
		if (!strcmp(op, "observe-composite")) {
			sp.observe = 0;
			kind = REQ_OBSERVE;
		}
	} else if (!strcmp(op, "bs-finish")) {
		sp.method = COAP_REQUEST_CODE_POST;
		if (sp.ct == 0xFFFE)
			sp.ct = LWM2M_CT_NONE;
	} else if (!strcmp(op, "raw")) {
		int64_t obs;
		if (!json_object_object_get_ex(cmd, "method", &jv) || method_parse(jv, &sp.method) < 0) {
			err = "\"method\" must be GET, POST, PUT, DELETE, FETCH, PATCH, IPATCH or a code";
			r = -EINVAL;
			goto bad;
		}
		if (jint(cmd, "observe", &obs)) {
			sp.observe = (int)obs;
			if (obs == 0)
				kind = REQ_OBSERVE;
		}
		if (json_object_object_get_ex(cmd, "query", &jv) && json_object_is_type(jv, json_type_array))
			sp.query = json_object_get(jv);
		r = build_body(S, cmd, path, &base, &sp.ct, &body, &err);
		if (r < 0)
			goto bad;
		if (sp.ct == 0xFFFE)
			sp.ct = LWM2M_CT_NONE;
	} else {
		reply_error(id, "unknown op '%s'", op);
		return -EINVAL;
	}
	if (sp.ct == 0xFFFE)
		sp.ct = LWM2M_CT_NONE;
	sp.body = body.data;
	sp.body_len = body.len;

	q = calloc(1, sizeof(*q));
	if (!q) {
		r = -ENOMEM;
		goto bad;
	}
	q->kind = kind;
	q->id = id ? json_object_get(id) : NULL;
	q->ep = xstrdup(ep);
	q->op = xstrdup(op);
	q->method = sp.method;
	q->path = xstrdup(path);
	q->base = base;
	snprintf(q->prefix, sizeof(q->prefix), "%.*s", (int)pfx.len, pfx.ptr ? pfx.ptr : "");
	q->accept = sp.accept;
	q->ct = sp.ct;
	q->bs = bs;
	if (kind == REQ_OBSERVE && body.len) {
		/* kept to repeat it in a FETCH cancel */
		q->body = malloc(body.len);
		if (q->body) {
			memcpy(q->body, body.data, body.len);
			q->body_len = body.len;
		}
	}
	r = req_send(S, s, &sp, q);
	if (r < 0) {
		req_free(q);
		err = "sending failed";
		goto bad;
	}
	json_object_put(sp.query);
	lwm2m_buf_free(&body);
	return 0;
bad:
	reply_error(id, "%s (%s)", err ? err : "cannot build the request", errno_name(r));
	json_object_put(sp.query);
	lwm2m_buf_free(&body);
	return r;
}

/* Cancel an observation: a GET/FETCH with Observe=1 and the same token,
 * or (mode "rst") a RST to its next notification. Mode "refresh" sends
 * the observation's request again with Observe=0 and the same token (a
 * re-registration, RFC 7641 §4.1): the observation lives on if the answer
 * carries Observe, else it ends. */
static void cmd_cancel(struct srv *S, json_object *cmd)
{
	json_object *id = NULL, *obs = NULL;
	const char *mode = jstr(cmd, "mode");
	struct req *o, *q;
	int r;

	json_object_object_get_ex(cmd, "id", &id);
	json_object_object_get_ex(cmd, "observation", &obs);
	for (o = S->reqs; o; o = o->next)
		if (!o->dead && o->kind == REQ_OBSERVE && o->established && o->id && obs &&
		    json_object_equal(o->id, obs))
			break;
	if (!o) {
		reply_error(id, "no such observation");
		return;
	}
	if (mode && !strcmp(mode, "rst")) {
		o->cancel_rst = true;
		reply_ok(id, NULL);
		return;
	}
	bool refresh = mode && !strcmp(mode, "refresh");
	if (mode && strcmp(mode, "get") && !refresh) {
		reply_error(id, "mode must be \"get\", \"rst\" or \"refresh\"");
		return;
	}
	struct reqspec sp = {
		.method = o->method,
		.path = o->path,
		.observe = refresh ? 0 : 1,
		.accept = o->accept,
		.ct = o->method == COAP_REQUEST_CODE_FETCH ? o->ct : LWM2M_CT_NONE,
		.body = o->body,
		.body_len = o->body_len,
	};
	int64_t tmo;
	if (jint(cmd, "timeout", &tmo))
		sp.timeout_ms = (int)(tmo * 1000);
	q = calloc(1, sizeof(*q));
	if (!q) {
		reply_error(id, "out of memory");
		return;
	}
	q->kind = refresh ? REQ_REFRESH : REQ_CANCEL;
	q->id = id ? json_object_get(id) : NULL;
	q->ep = xstrdup(o->ep);
	q->op = xstrdup(refresh ? "refresh" : "cancel");
	q->path = xstrdup(o->path);
	q->base = o->base;
	memcpy(q->prefix, o->prefix, sizeof(q->prefix));
	memcpy(q->token, o->token, o->toklen);
	q->toklen = o->toklen;
	q->method = o->method;
	if (!refresh) {
		coap_binary_t tok = { .length = o->toklen, .s = o->token };
		if (coap_cancel_observe(o->session, &tok, COAP_MESSAGE_CON)) {
			q->session = coap_session_reference(o->session);
			q->deadline_ms = now_ms() + (sp.timeout_ms > 0 ? sp.timeout_ms : DEFAULT_TIMEOUT_MS);
			q->next = S->reqs;
			S->reqs = q;
			return;
		}
	}
	r = req_send(S, o->session, &sp, q);
	if (r < 0) {
		req_free(q);
		reply_error(id, "sending failed (%s)", errno_name(r));
	}
}

/* The response (or a notification) for q arrived. */
static json_object *response_event(struct srv *S, const char *kind, struct req *q, const coap_pdu_t *rcv)
{
	json_object *ev = event_new(kind), *loc;
	uint16_t ct = pdu_ct(rcv);
	const uint8_t *data;
	size_t len;
	uint32_t obs;

	if (q->id)
		json_object_object_add(ev, !strcmp(kind, "notify") ? "observation" : "id",
				       json_object_get(q->id));
	json_object_object_add(ev, "ep", json_object_new_string(q->ep));
	json_object_object_add(ev, "op", json_object_new_string(q->op));
	event_code(ev, coap_pdu_get_code(rcv));
	if (ct != LWM2M_CT_NONE)
		json_object_object_add(ev, "ct", json_object_new_int(ct));
	if (opt_uint(rcv, COAP_OPTION_OBSERVE, &obs))
		json_object_object_add(ev, "observe", json_object_new_int64(obs));
	json_object_object_add(ev, "token", hex_json(q->token, q->toklen));
	loc = pdu_location(rcv);
	if (loc)
		json_object_object_add(ev, "location", loc);
	pdu_body(rcv, &data, &len);
	payload_json(ev, S, ct, &q->base, q->prefix, data, len);
	if (q->bs) {
		json_object_object_add(ev, "bootstrap", json_object_new_string(q->bs->ep));
		json_object_object_add(ev, "step", json_object_new_int64((int64_t)q->bs->step));
	}
	return ev;
}

static void bs_advance(struct srv *S, struct bsc *b, const char *result)
{
	json_object_array_add(b->results, json_object_new_string(result));
	b->step++;
	bs_step(S, b);
}

static void bs_done(struct bsc *b, bool ok)
{
	json_object *ev = event_new("bootstrap-done");

	json_object_object_add(ev, "ep", json_object_new_string(b->ep));
	json_object_object_add(ev, "ok", json_object_new_boolean(ok));
	json_object_object_add(ev, "results", json_object_get(b->results));
	emit(ev);
	b->dead = true;
}

/* Run the next step of b's script, or finish it. */
static void bs_step(struct srv *S, struct bsc *b)
{
	if (b->dead)
		return; /* replaced by a newer Bootstrap-Request */
	while (b->script && b->step < json_object_array_length(b->script)) {
		json_object *cmd = json_object_array_get_idx(b->script, b->step);
		const char *op = jstr(cmd, "op");

		if (op && cmd_request(S, cmd, op, b) == 0)
			return;
		json_object_array_add(b->results, json_object_new_string("error"));
		b->step++;
	}
	if (b->script) {
		bool ok = true;
		for (size_t i = 0; i < json_object_array_length(b->results); i++)
			if (json_object_get_string(json_object_array_get_idx(b->results, i))[0] != '2')
				ok = false;
		bs_done(b, ok);
	}
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcv,
				   const coap_mid_t mid)
{
	struct srv *S = srv_of(s);
	coap_bin_const_t tok = coap_pdu_get_token(rcv);
	int code = coap_pdu_get_code(rcv);
	struct req *q, *o;
	uint32_t obs;
	char c[8];

	(void)sent;
	(void)mid;
	if (code == 0)
		return COAP_RESPONSE_OK; /* empty ACK */
	q = req_by_token(S, tok.s, tok.length, false);
	if (q) {
		emit(response_event(S, "response", q, rcv));
		code_str(code, c);
		if (q->kind == REQ_OBSERVE && COAP_RESPONSE_CLASS(code) == 2 &&
		    opt_uint(rcv, COAP_OPTION_OBSERVE, &obs)) {
			q->established = true;
			q->deadline_ms = 0;
		} else {
			q->dead = true;
		}
		if (q->kind == REQ_CANCEL ||
		    (q->kind == REQ_REFRESH &&
		     (COAP_RESPONSE_CLASS(code) != 2 || !opt_uint(rcv, COAP_OPTION_OBSERVE, &obs)))) {
			o = req_by_token(S, tok.s, tok.length, true);
			if (o)
				o->dead = true;
		}
		if (q->bs) {
			struct bsc *b = q->bs;
			q->bs = NULL;
			bs_advance(S, b, c);
		} else if (!strcmp(q->op, "bs-finish") && COAP_RESPONSE_CLASS(code) == 2) {
			/* Bootstrap-Finish accepted: later commands go to the
			 * registration (after a 4.06 the bootstrap goes on) */
			struct bsc *b = bsc_by_ep(S, q->ep);
			if (b)
				b->dead = true;
		}
		return COAP_RESPONSE_OK;
	}
	o = req_by_token(S, tok.s, tok.length, true);
	if (o) {
		const char *type = coap_pdu_get_type(rcv) == COAP_MESSAGE_CON ? "CON" : "NON";

		if (o->cancel_rst) {
			json_object *ev = event_new("cancelled");
			json_object_object_add(ev, "observation", json_object_get(o->id));
			json_object_object_add(ev, "ep", json_object_new_string(o->ep));
			json_object_object_add(ev, "mode", json_object_new_string("rst"));
			json_object_object_add(ev, "type", json_object_new_string(type));
			json_object_object_add(ev, "mid", json_object_new_int(coap_pdu_get_mid(rcv)));
			emit(ev);
			o->dead = true;
			return COAP_RESPONSE_FAIL; /* libcoap answers with RST */
		}
		if (S->ignore_con_notify && coap_pdu_get_type(rcv) == COAP_MESSAGE_CON) {
			/* libcoap acknowledges whatever the handler returns; its
			 * debug packet loss drops the next datagram it sends,
			 * which is that ACK (counting restarts here). */
			json_object *ev = event_new("ignored");
			json_object_object_add(ev, "observation", json_object_get(o->id));
			json_object_object_add(ev, "ep", json_object_new_string(o->ep));
			json_object_object_add(ev, "mid", json_object_new_int(coap_pdu_get_mid(rcv)));
			if (opt_uint(rcv, COAP_OPTION_OBSERVE, &obs))
				json_object_object_add(ev, "observe", json_object_new_int64(obs));
			emit(ev);
			coap_debug_set_packet_loss("1");
			return COAP_RESPONSE_OK;
		}
		json_object *ev = response_event(S, "notify", o, rcv);
		json_object_object_add(ev, "type", json_object_new_string(type));
		json_object_object_add(ev, "mid", json_object_new_int(coap_pdu_get_mid(rcv)));
		emit(ev);
		if (COAP_RESPONSE_CLASS(code) != 2 || !opt_uint(rcv, COAP_OPTION_OBSERVE, &obs))
			o->dead = true; /* the client ended the observation */
		return COAP_RESPONSE_OK;
	}
	json_object *ev = event_new("stray");
	struct reg *r = reg_by_session(S, s);
	json_object_object_add(ev, "ep", r ? json_object_new_string(r->ep) : NULL);
	event_code(ev, code);
	json_object_object_add(ev, "token", hex_json(tok.s, tok.length));
	if (opt_uint(rcv, COAP_OPTION_OBSERVE, &obs))
		json_object_object_add(ev, "observe", json_object_new_int64(obs));
	event_addr(ev, s);
	emit(ev);
	return COAP_RESPONSE_FAIL;
}

static const char *nack_name(coap_nack_reason_t r)
{
	switch (r) {
	case COAP_NACK_TOO_MANY_RETRIES:
		return "timeout";
	case COAP_NACK_NOT_DELIVERABLE:
		return "not deliverable";
	case COAP_NACK_RST:
		return "rst";
	case COAP_NACK_TLS_FAILED:
		return "tls failed";
	case COAP_NACK_ICMP_ISSUE:
		return "icmp";
	default:
		return "nack";
	}
}

static void req_fail(struct srv *S, struct req *q, const char *why)
{
	json_object *ev = event_new("response");

	if (q->id)
		json_object_object_add(ev, "id", json_object_get(q->id));
	json_object_object_add(ev, "ep", json_object_new_string(q->ep));
	json_object_object_add(ev, "op", json_object_new_string(q->op));
	json_object_object_add(ev, "error", json_object_new_string(why));
	json_object_object_add(ev, "token", hex_json(q->token, q->toklen));
	if (q->bs) {
		json_object_object_add(ev, "bootstrap", json_object_new_string(q->bs->ep));
		json_object_object_add(ev, "step", json_object_new_int64((int64_t)q->bs->step));
	}
	emit(ev);
	q->dead = true;
	if (q->bs) {
		struct bsc *b = q->bs;
		q->bs = NULL;
		bs_advance(S, b, why);
	}
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
		    const coap_mid_t mid)
{
	struct srv *S = srv_of(s);
	coap_bin_const_t tok;
	struct req *q;

	(void)mid;
	if (!sent)
		return;
	tok = coap_pdu_get_token(sent);
	q = req_by_token(S, tok.s, tok.length, false);
	if (q)
		req_fail(S, q, nack_name(reason));
}

static int on_event(coap_session_t *s, const coap_event_t event)
{
	const char *name = NULL;

	switch (event) {
	case COAP_EVENT_DTLS_CONNECTED:
		name = "connected";
		break;
	case COAP_EVENT_DTLS_CLOSED:
		name = "closed";
		break;
	case COAP_EVENT_DTLS_ERROR:
		name = "error";
		break;
	default:
		return 0;
	}
	json_object *ev = event_new("dtls");
	json_object_object_add(ev, "state", json_object_new_string(name));
	event_addr(ev, s);
	emit(ev);
	return 0;
}

/* ---- PSK ------------------------------------------------------------------ */

static const coap_bin_const_t *psk_lookup(coap_bin_const_t *identity, coap_session_t *s, void *arg)
{
	struct srv *S = arg;
	json_object *ev;

	for (struct psk *p = S->psks; p; p = p->next)
		if (strlen(p->identity) == identity->length &&
		    !memcmp(p->identity, identity->s, identity->length))
			return &p->key;
	ev = event_new("dtls");
	json_object_object_add(ev, "state", json_object_new_string("unknown-identity"));
	json_object_object_add(ev, "identity", bytes_json(identity->s, identity->length));
	event_addr(ev, s);
	emit(ev);
	return NULL;
}

int srv_add_psk(struct srv *S, const char *identity, const uint8_t *key, size_t keylen)
{
	struct psk *p;
	uint8_t *k;

	for (p = S->psks; p; p = p->next)
		if (!strcmp(p->identity, identity))
			break;
	k = malloc(keylen ? keylen : 1);
	if (!k)
		return -ENOMEM;
	memcpy(k, key, keylen);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			free(k);
			return -ENOMEM;
		}
		p->identity = xstrdup(identity);
		p->next = S->psks;
		S->psks = p;
	} else {
		free((void *)p->key.s);
	}
	p->key.s = k;
	p->key.length = keylen;
	return 0;
}

/* ---- control commands -------------------------------------------------------- */

static void cmd_fail(struct srv *S, json_object *cmd, json_object *id, const char *what, int defcode)
{
	const char *w = what ? what : jstr(cmd, "what"), *cs = jstr(cmd, "code"), *ep = jstr(cmd, "ep");
	int code = cs ? code_parse(cs) : defcode;
	int64_t count = 1;
	struct failrule *f;

	jint(cmd, "count", &count);
	if (!w || strlen(w) >= sizeof(f->what) || code < 0 || count < 1) {
		reply_error(id, "fail needs \"what\", a \"code\" like \"4.04\" and a positive \"count\"");
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		reply_error(id, "out of memory");
		return;
	}
	snprintf(f->what, sizeof(f->what), "%s", w);
	f->ep = ep ? xstrdup(ep) : NULL;
	f->code = code;
	f->count = (int)count;
	/* appended, so rules are used in the order given */
	struct failrule **pp = &S->fails;
	while (*pp)
		pp = &(*pp)->next;
	*pp = f;
	reply_ok(id, NULL);
}

static void cmd_version(struct srv *S, json_object *id, const char *v, bool reject)
{
	json_object *a = S->reject_versions, *n = json_object_new_array();

	if (!v) {
		json_object_put(n);
		reply_error(id, "\"version\" needed");
		return;
	}
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);
		if (strcmp(json_object_get_string(e), v))
			json_object_array_add(n, json_object_get(e));
	}
	if (reject)
		json_object_array_add(n, json_object_new_string(v));
	json_object_put(a);
	S->reject_versions = n;
	reply_ok(id, NULL);
}

void srv_command(struct srv *S, json_object *cmd)
{
	json_object *id = NULL;
	const char *op;

	json_object_object_get_ex(cmd, "id", &id);
	op = jstr(cmd, "op");
	if (!op) {
		reply_error(id, "\"op\" needed");
		return;
	}
	if (!strcmp(op, "ping")) {
		reply_ok(id, NULL);
	} else if (!strcmp(op, "quit")) {
		reply_ok(id, NULL);
		S->quit = true;
	} else if (!strcmp(op, "registrations")) {
		json_object *ev = event_new("response"), *arr = json_object_new_array();
		for (struct reg *r = S->regs; r; r = r->next)
			if (!r->dead)
				json_object_array_add(arr, reg_json(r));
		json_object_object_add(ev, "registrations", arr);
		reply_ok(id, ev);
	} else if (!strcmp(op, "observations")) {
		json_object *ev = event_new("response"), *arr = json_object_new_array();
		for (struct req *q = S->reqs; q; q = q->next)
			if (!q->dead && q->established) {
				json_object *o = json_object_new_object();
				json_object_object_add(o, "observation", json_object_get(q->id));
				json_object_object_add(o, "ep", json_object_new_string(q->ep));
				json_object_object_add(o, "path", json_object_new_string(q->path));
				json_object_object_add(o, "token", hex_json(q->token, q->toklen));
				json_object_array_add(arr, o);
			}
		json_object_object_add(ev, "observations", arr);
		reply_ok(id, ev);
	} else if (!strcmp(op, "forget")) {
		const char *ep = jstr(cmd, "ep");
		struct reg *r = ep ? reg_by_ep(S, ep) : NULL;
		if (!r) {
			reply_error(id, "no such endpoint '%s'", ep ? ep : "");
			return;
		}
		reg_kill(r);
		reply_ok(id, NULL);
	} else if (!strcmp(op, "psk")) {
		const char *ident = jstr(cmd, "identity"), *key = jstr(cmd, "key"),
			   *text = jstr(cmd, "key_text");
		uint8_t *k = NULL;
		size_t kl = 0;
		if (!ident || (!key && !text) || (key && hex_decode(key, &k, &kl) < 0)) {
			reply_error(id, "psk needs \"identity\" and \"key\" (hex) or \"key_text\"");
			return;
		}
		if (srv_add_psk(S, ident, key ? k : (const uint8_t *)text, key ? kl : strlen(text)) < 0)
			reply_error(id, "out of memory");
		else
			reply_ok(id, NULL);
		free(k);
	} else if (!strcmp(op, "reject-version") || !strcmp(op, "accept-version")) {
		cmd_version(S, id, jstr(cmd, "version"), !strcmp(op, "reject-version"));
	} else if (!strcmp(op, "fail")) {
		cmd_fail(S, cmd, id, NULL, -EINVAL);
	} else if (!strcmp(op, "fail-next-update")) {
		cmd_fail(S, cmd, id, "update", COAP_RESPONSE_CODE(404));
	} else if (!strcmp(op, "bootstrap-script")) {
		const char *ep = jstr(cmd, "ep");
		json_object *steps;
		if (!json_object_object_get_ex(cmd, "steps", &steps) ||
		    !json_object_is_type(steps, json_type_array)) {
			reply_error(id, "bootstrap-script needs \"steps\" (array of commands)");
			return;
		}
		json_object_object_add(S->bs_scripts, ep ? ep : "*", json_object_get(steps));
		reply_ok(id, NULL);
	} else if (!strcmp(op, "ignore-notifications")) {
		json_object *on;
		S->ignore_con_notify =
			!json_object_object_get_ex(cmd, "on", &on) || json_object_get_boolean(on);
		reply_ok(id, NULL);
	} else if (!strcmp(op, "location-path")) {
		json_object *segs;
		bool ok = json_object_object_get_ex(cmd, "segments", &segs) &&
			  json_object_is_type(segs, json_type_array) && json_object_array_length(segs) > 0;
		for (size_t i = 0; ok && i < json_object_array_length(segs); i++) {
			json_object *seg = json_object_array_get_idx(segs, i);
			ok = json_object_is_type(seg, json_type_string) &&
			     json_object_get_string_len(seg) < 40;
		}
		if (!ok) {
			reply_error(id, "location-path needs \"segments\" (strings, \"{id}\" = the number)");
			return;
		}
		json_object_put(S->loc_template);
		S->loc_template = json_object_get(segs);
		reply_ok(id, NULL);
	} else if (!strcmp(op, "cancel")) {
		cmd_cancel(S, cmd);
	} else {
		cmd_request(S, cmd, op, NULL);
	}
}

/* ---- main-loop work ---------------------------------------------------------- */

int srv_housekeeping(struct srv *S)
{
	int64_t now = now_ms(), next = now + 1000;

	for (struct bsc *b = S->bscs; b; b = b->next)
		if (b->start && !b->dead) {
			b->start = false;
			bs_step(S, b);
		}
	for (struct req *q = S->reqs; q; q = q->next) {
		if (q->dead || !q->deadline_ms)
			continue;
		if (q->deadline_ms <= now)
			req_fail(S, q, "timeout");
		else if (q->deadline_ms < next)
			next = q->deadline_ms;
	}
	for (struct reg *r = S->regs; r; r = r->next) {
		int64_t end = r->last_ms + (int64_t)r->lt * 1000 + S->expire_grace_ms;
		if (r->dead || S->expire_grace_ms < 0)
			continue;
		if (end <= now) {
			json_object *ev = event_new("expire");
			json_object_object_add(ev, "ep", json_object_new_string(r->ep));
			json_object_object_add(ev, "location", json_object_new_string(r->location));
			emit(ev);
			reg_kill(r);
		} else if (end < next) {
			next = end;
		}
	}
	for (struct partial **pp = &S->partials, *p; (p = *pp);) {
		if (p->done || p->last_ms + 60000 < now) {
			*pp = p->next;
			lwm2m_buf_free(&p->body);
			free(p);
		} else {
			pp = &p->next;
		}
	}
	/* reclaim */
	for (struct req **pp = &S->reqs, *q; (q = *pp);) {
		if (q->dead) {
			*pp = q->next;
			req_free(q);
		} else {
			pp = &q->next;
		}
	}
	for (struct reg **pp = &S->regs, *r; (r = *pp);) {
		if (r->dead) {
			*pp = r->next;
			/* observations die with their registration */
			for (struct req *q = S->reqs; q; q = q->next)
				if (q->established && !strcmp(q->ep, r->ep) && q->session == r->session)
					q->dead = true;
			reg_free(S, r);
		} else {
			pp = &r->next;
		}
	}
	for (struct bsc **pp = &S->bscs, *b; (b = *pp);) {
		bool busy = false;
		for (struct req *q = S->reqs; q; q = q->next)
			if (q->bs == b && !q->dead)
				busy = true;
		if (b->dead && !busy) {
			*pp = b->next;
			for (struct req *q = S->reqs; q; q = q->next)
				if (q->bs == b)
					q->bs = NULL;
			bsc_free(b);
		} else {
			pp = &b->next;
		}
	}
	next -= now_ms();
	return next < 0 ? 0 : next > 1000 ? 1000 : (int)next;
}

/* ---- setup ----------------------------------------------------------------- */

/* Each certificate of a client's chain, after libcoap checked it against
 * the CA: reported, and refused when it did not verify. */
static int client_cert_check(const char *cn, const uint8_t *asn1, size_t asn1_len, coap_session_t *s,
			     unsigned depth, int validated, void *arg)
{
	json_object *ev = event_new("dtls");

	(void)asn1;
	(void)asn1_len;
	(void)arg;
	json_object_object_add(ev, "state", json_object_new_string("certificate"));
	json_object_object_add(ev, "cn", json_object_new_string(cn ? cn : ""));
	json_object_object_add(ev, "depth", json_object_new_int((int)depth));
	json_object_object_add(ev, "validated", json_object_new_boolean(validated));
	event_addr(ev, s);
	emit(ev);
	return validated;
}

static coap_endpoint_t *listen_on(struct srv *S, const char *host, uint16_t port, coap_proto_t proto,
				  uint16_t *bound)
{
	coap_address_t a;
	coap_endpoint_t *e;
	const char *str, *colon;

	coap_address_init(&a);
	a.addr.sin.sin_family = AF_INET;
	a.addr.sin.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &a.addr.sin.sin_addr) != 1)
		return NULL;
	a.size = sizeof(a.addr.sin);
	e = coap_new_endpoint(S->ctx, &a, proto);
	if (!e)
		return NULL;
	/* the endpoint string carries the address after bind(), so port 0
	 * tells which port the kernel picked */
	str = coap_endpoint_str(e);
	colon = str ? strrchr(str, ':') : NULL;
	*bound = colon ? (uint16_t)atoi(colon + 1) : port;
	return e;
}

/* One change on a client holding many observations sends every notification
 * at once; the default receive buffer (net.core.rmem_default, 208 KiB: about
 * 300 small datagrams on loopback) drops the rest, and a test counting
 * notifications would count the drops. libcoap 4.3.1 does not hand out an
 * endpoint's socket, so the UDP socket bound to our port is found among the
 * process's descriptors. The kernel caps the size at net.core.rmem_max
 * (then at least twice the default). */
static void widen_rcvbuf(uint16_t port)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss), tl = sizeof(int);
		int type, size = 8 << 20;
		uint16_t bound;

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
			continue;
		if (ss.ss_family == AF_INET)
			bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			continue;
		if (bound == port)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
}

int srv_coap_init(struct srv *S, const char *host, uint16_t port, bool dtls, uint16_t dtls_port)
{
	coap_resource_t *r;

	S->ctx = coap_new_context(NULL);
	if (!S->ctx)
		return -ENOMEM;
	coap_set_app_data(S->ctx, S);
	coap_context_set_block_mode(S->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
	coap_register_response_handler(S->ctx, on_response);
	coap_register_nack_handler(S->ctx, on_nack);
	coap_register_event_handler(S->ctx, on_event);
	if (coap_prng(&S->token_base, sizeof(S->token_base)) != 1)
		S->token_base = (uint64_t)now_ms() << 20;
	S->token_base &= ~0xFFFFFFFFull;

	if (!listen_on(S, host, port, COAP_PROTO_UDP, &S->port))
		return -EADDRINUSE;
	widen_rcvbuf(S->port);
	if (dtls && S->cert_file) {
		coap_dtls_pki_t pk;

		memset(&pk, 0, sizeof(pk));
		pk.version = COAP_DTLS_PKI_SETUP_VERSION;
		pk.verify_peer_cert = 1; /* a client certificate is required */
		pk.check_common_ca = 1;
		pk.cert_chain_validation = 1;
		pk.cert_chain_verify_depth = 4;
		pk.allow_no_crl = 1;
		pk.allow_expired_crl = 1;
		pk.validate_cn_call_back = client_cert_check;
		pk.cn_call_back_arg = S;
		pk.pki_key.key_type = COAP_PKI_KEY_PEM;
		pk.pki_key.key.pem.public_cert = S->cert_file;
		pk.pki_key.key.pem.private_key = S->key_file;
		pk.pki_key.key.pem.ca_file = S->ca_file;
		if (!coap_dtls_is_supported())
			return -ENOTSUP;
		if (!coap_context_set_pki(S->ctx, &pk))
			return -EINVAL;
	}
	if (dtls) {
		coap_dtls_spsk_t sp = { 0 };
		if (!coap_dtls_is_supported())
			return -ENOTSUP;
		sp.version = COAP_DTLS_SPSK_SETUP_VERSION;
		sp.validate_id_call_back = psk_lookup;
		sp.id_call_back_arg = S;
		sp.psk_info.hint.s = (const uint8_t *)"fg-lwm2m-server";
		sp.psk_info.hint.length = strlen("fg-lwm2m-server");
		if (!coap_context_set_psk2(S->ctx, &sp))
			return -EINVAL;
		if (!listen_on(S, host, dtls_port, COAP_PROTO_DTLS, &S->dtls_port))
			return -EADDRINUSE;
	}

	r = coap_resource_unknown_init(hnd_unknown);
	coap_register_handler(r, COAP_REQUEST_POST, hnd_unknown);
	coap_register_handler(r, COAP_REQUEST_DELETE, hnd_unknown);
	coap_register_handler(r, COAP_REQUEST_GET, hnd_unknown);
	coap_add_resource(S->ctx, r);
	r = coap_resource_init(coap_make_str_const("rd"), 0);
	coap_register_handler(r, COAP_REQUEST_POST, hnd_register);
	coap_add_resource(S->ctx, r);
	r = coap_resource_init(coap_make_str_const("bs"), 0);
	coap_register_handler(r, COAP_REQUEST_POST, hnd_bootstrap);
	coap_add_resource(S->ctx, r);
	r = coap_resource_init(coap_make_str_const("dp"), 0);
	coap_register_handler(r, COAP_REQUEST_POST, hnd_send);
	coap_add_resource(S->ctx, r);
	return 0;
}

void srv_coap_free(struct srv *S)
{
	for (struct req *q = S->reqs, *n; q; q = n) {
		n = q->next;
		req_free(q);
	}
	for (struct reg *r = S->regs, *n; r; r = n) {
		n = r->next;
		r->res = NULL; /* coap_free_context() deletes resources */
		reg_free(S, r);
	}
	for (struct bsc *b = S->bscs, *n; b; b = n) {
		n = b->next;
		bsc_free(b);
	}
	for (struct psk *p = S->psks, *n; p; p = n) {
		n = p->next;
		free(p->identity);
		free((void *)p->key.s);
		free(p);
	}
	for (struct failrule *f = S->fails, *n; f; f = n) {
		n = f->next;
		free(f->ep);
		free(f);
	}
	for (struct partial *p = S->partials, *n; p; p = n) {
		n = p->next;
		lwm2m_buf_free(&p->body);
		free(p);
	}
	S->partials = NULL;
	S->reqs = NULL;
	S->regs = NULL;
	S->bscs = NULL;
	S->psks = NULL;
	S->fails = NULL;
	if (S->ctx)
		coap_free_context(S->ctx);
	S->ctx = NULL;
}
