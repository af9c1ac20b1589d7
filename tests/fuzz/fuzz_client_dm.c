/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: one CoAP request (RFC 7252 UDP framing) handed to the client's
 * device management handler, as if a server had sent it over an endpoint's
 * session. Exercises path and prefix parsing, option handling, every
 * content-format decoder behind Write/Create/Read-Composite, attribute
 * queries, Execute arguments and Observe registration.
 *
 * One client, one endpoint (with an Object 25 device "dev0") live across
 * inputs, as in a running gateway; observations and unfinished block-wise
 * bodies are dropped after each input so memory stays bounded. The
 * endpoint's server is a port nobody answers: nothing is sent during the
 * run (the loop never runs). Sequences of datagrams through libcoap:
 * fuzz_coap_seq.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/client/client_internal.h"
#include "lwm2m/client/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	sd_event *ev;
	struct lwm2m_registry *reg;
	struct lwm2m_client *c;
	struct lwm2m_store *store, *dstore;
	struct lwm2m_endpoint *ep;
	bool failed;
} F;

static int set(struct lwm2m_store *s, struct lwm2m_path p, struct lwm2m_value v)
{
	return lwm2m_store_set(s, &p, &v);
}

static int fill(struct lwm2m_store *s)
{
	int r = 0;

	r |= lwm2m_store_add_instance(s, 3, 0);
	r |= lwm2m_store_add_instance(s, 3303, 0);
	r |= set(s, LWM2M_PATH(3, 0, 0),
		 (struct lwm2m_value){ .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"Acme", 4 } });
	r |= set(s, LWM2M_PATH(3, 0, 6, 0), (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 1 });
	r |= set(s, LWM2M_PATH(3, 0, 13), (struct lwm2m_value){ .type = LWM2M_TYPE_TIME, .i = 1700000000 });
	r |= set(s, LWM2M_PATH(3303, 0, 5700), (struct lwm2m_value){ .type = LWM2M_TYPE_FLOAT, .f = 21.5 });
	return r;
}

static bool setup(void)
{
	struct lwm2m_endpoint_config ec = {
		.name = "fuzz",
		.server_uri = "coap://127.0.0.1:9",
	};

	if (sd_event_new(&F.ev) < 0)
		return false;
	F.reg = lwm2m_registry_new();
	if (!F.reg || lwm2m_client_new(F.ev, F.reg, NULL, &F.c) < 0)
		return false;
	F.store = lwm2m_store_new(F.reg);
	F.dstore = lwm2m_store_new(F.reg);
	if (!F.store || !F.dstore || fill(F.store) < 0 || fill(F.dstore) < 0)
		return false;
	if (lwm2m_endpoint_add(F.c, &ec, F.store, &F.ep) < 0)
		return false;
	if (lwm2m_endpoint_add_device(F.ep, "dev0", F.dstore, "D0", NULL) < 0)
		return false;
	lwm2m_endpoint_declare_object(F.ep, 3311);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	coap_pdu_t *req, *resp;
	coap_string_t *query;
	coap_session_t *s;

	if (!F.c && !F.failed && !setup())
		F.failed = true;
	if (F.failed)
		abort(); /* the harness itself is broken: say so loudly */
	s = F.ep->session;
	req = coap_pdu_init(0, 0, 0, size ? size : 1);
	if (!req)
		return 0;
	if (!coap_pdu_parse(COAP_PROTO_UDP, data, size, req) || coap_pdu_get_code(req) == 0 ||
	    coap_pdu_get_code(req) > 31) {
		coap_delete_pdu(req);
		return 0;
	}
	query = coap_get_query(req);
	resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, coap_pdu_get_mid(req), coap_session_max_pdu_size(s));
	if (resp) {
		fg_request_handler(fg_ep_cctx(F.ep)->unknown, s, req, query, resp);
		coap_delete_pdu(resp);
	}
	coap_delete_string(query);
	coap_delete_pdu(req);
	fg_obs_stop_all(F.ep);
	fg_b1_drop_all(F.ep);
	return 0;
}
