/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoints: adding, removing and freeing them, their /1 (Server) object,
 * and the public calls on an endpoint. The endpoint module is endpoint.c,
 * session.c (its CoAP session), register.c (the registration state
 * machine) and links.c (the object list), sharing ep_internal.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certname.h"
#include "ep_internal.h"

const char *lwm2m_ep_state_name(enum lwm2m_ep_state s)
{
	switch (s) {
	case LWM2M_EP_WAITING:
		return "waiting";
	case LWM2M_EP_REGISTERING:
		return "registering";
	case LWM2M_EP_REGISTERED:
		return "registered";
	case LWM2M_EP_DEREGISTERING:
		return "deregistering";
	case LWM2M_EP_BOOTSTRAPPING:
		return "bootstrapping";
	}
	return "?";
}

struct lwm2m_endpoint *fg_ep_of_timer(struct fg_timer *t)
{
	return (struct lwm2m_endpoint *)((char *)t - offsetof(struct lwm2m_endpoint, reg.timer));
}

const struct lwm2m_objdef *fg_objdef(const struct lwm2m_endpoint *ep, uint16_t oid)
{
	return lwm2m_registry_find(ep->c->reg, oid);
}

uint16_t fg_ep_default_ct(const struct lwm2m_endpoint *ep)
{
	if (ep->ct_cfg)
		return ep->ct_cfg;
	return ep->version >= 11 ? LWM2M_CT_SENML_CBOR : LWM2M_CT_TLV;
}

void fg_ep_set_state(struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct lwm2m_client *c = ep->c;

	if (ep->reg.pub_st == st && !err)
		return;
	if (ep->reg.pub_st == LWM2M_EP_REGISTERED && st != LWM2M_EP_REGISTERED)
		c->stats.registered--;
	else if (ep->reg.pub_st != LWM2M_EP_REGISTERED && st == LWM2M_EP_REGISTERED)
		c->stats.registered++;
	ep->reg.pub_st = st;
	if (ep->ops && ep->ops->state && !ep->removing)
		ep->ops->state(ep->ops_ud, ep, st, err);
	/* Every gateway endpoint's devices (there may be several). */
	if (ep->ndevs && !ep->removing)
		fg_target_gateway_state(ep, st);
}

/* ---- /1 (Server) ------------------------------------------------------- */

const char *fg_ep_binding_str(const struct lwm2m_endpoint *ep)
{
	/* LwM2M 1.1 moved queue mode out of the binding into the "Q" query
	 * parameter; 1.0 spells it "UQ". */
	if (ep->binding == LWM2M_BINDING_UQ && ep->version < 11)
		return "UQ";
	return "U";
}

int fg_ep_server_object_init(struct lwm2m_endpoint *ep)
{
	struct lwm2m_store *s = ep->store;
	const char *b = fg_ep_binding_str(ep);
	int r;

	r = lwm2m_store_add_instance(s, 1, 0);
	if (r < 0 && r != -EEXIST)
		return r;
	r = lwm2m_store_set(s, &LWM2M_PATH(1, 0, 0),
			    &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = ep->ssid });
	if (r >= 0)
		r = lwm2m_store_set(s, &LWM2M_PATH(1, 0, 1),
				    &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = ep->lifetime });
	if (r >= 0)
		r = lwm2m_store_set(s, &LWM2M_PATH(1, 0, 6),
				    &(struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = ep->sf.storing });
	/* The binding is a string constant: borrowed, no byte buffer in the
	 * store for it (one allocation a device in endpoint mode). */
	if (r >= 0)
		r = lwm2m_store_set_borrowed(
			s, &LWM2M_PATH(1, 0, 7),
			&(struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
					       .bytes = { (const uint8_t *)b, strlen(b) } });
	return r < 0 ? r : 0;
}

void fg_ep_server_object_written(struct lwm2m_endpoint *ep)
{
	struct lwm2m_value v;

	if (!ep->store)
		return;
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 1), &v) == 0) {
		struct lwm2m_value iv;

		if (lwm2m_value_convert(&v, LWM2M_TYPE_INTEGER, &iv) == 0 && iv.i > 0 && iv.i <= UINT32_MAX &&
		    (uint32_t)iv.i != ep->lifetime) {
			ep->lifetime = (uint32_t)iv.i;
			ep->reg.params_changed = true;
			ep_log(ep, LWM2M_LOG_INFO, "lifetime changed by the server to %u s", ep->lifetime);
		}
	}
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 6), &v) == 0 && v.type == LWM2M_TYPE_BOOLEAN &&
	    v.b != ep->sf.storing) {
		ep->sf.storing = v.b;
		ep_log(ep, LWM2M_LOG_INFO, "Notification Storing %s by the server",
		       v.b ? "enabled" : "disabled");
	}
	if (lwm2m_store_get(ep->store, &LWM2M_PATH(1, 0, 7), &v) == 0 && v.type == LWM2M_TYPE_STRING) {
		enum lwm2m_binding b = ep->binding;

		if (v.bytes.len == 1 && v.bytes.ptr[0] == 'U')
			b = LWM2M_BINDING_U;
		else if (v.bytes.len == 2 && !memcmp(v.bytes.ptr, "UQ", 2))
			b = LWM2M_BINDING_UQ;
		if (b != ep->binding) {
			ep->binding = b;
			ep->reg.params_changed = true;
		}
	}
	if (ep->reg.params_changed)
		fg_ep_want_update(ep);
}

/* ---- public API ------------------------------------------------------------ */

/* host (may be NULL) receives the URI's host. Nothing changes on error. */
static int parse_server_uri(struct lwm2m_endpoint *ep, const char *uri, char host[INET6_ADDRSTRLEN + 1])
{
	coap_uri_t u;
	coap_address_t a;
	char buf[INET6_ADDRSTRLEN + 1];
	bool secure;
	int r;

	if (!host)
		host = buf;

	if (coap_split_uri((const uint8_t *)uri, strlen(uri), &u) < 0)
		return -EINVAL;
	if (u.scheme != COAP_URI_SCHEME_COAP && u.scheme != COAP_URI_SCHEME_COAPS)
		return -EINVAL;
	if (u.host.length == 0 || u.host.length >= INET6_ADDRSTRLEN + 1)
		return -EINVAL;
	memcpy(host, u.host.s, u.host.length);
	host[u.host.length] = '\0';
	secure = u.scheme == COAP_URI_SCHEME_COAPS;
	coap_address_init(&a);
	/* Numeric addresses only: name resolution would block the loop (see
	 * the TODO in the report / ARCHITECTURE). */
	if (inet_pton(AF_INET, host, &a.addr.sin.sin_addr) == 1) {
		a.addr.sin.sin_family = AF_INET;
		a.addr.sin.sin_port = htons(u.port);
		a.size = sizeof(a.addr.sin);
	} else if (inet_pton(AF_INET6, host, &a.addr.sin6.sin6_addr) == 1) {
		a.addr.sin6.sin6_family = AF_INET6;
		a.addr.sin6.sin6_port = htons(u.port);
		a.size = sizeof(a.addr.sin6);
	} else {
		return -EINVAL;
	}
	/* Endpoints of one server share what is known of its reachability,
	 * its address and URI (server.c). */
	r = fg_srv_attach(ep, &a, secure, uri);
	if (r < 0)
		return r;
	ep->secure = secure;
	return 0;
}

/* ---- for the bootstrap module ------------------------------------------------------ */

int fg_ep_parse_server_uri(struct lwm2m_endpoint *ep, const char *uri)
{
	return parse_server_uri(ep, uri, NULL);
}

int fg_ep_send(struct lwm2m_endpoint *ep, coap_pdu_code_t code, coap_optlist_t **opts, int kind)
{
	return fg_ep_send_req(ep, code, opts, NULL, (enum req_kind)kind);
}

int fg_ep_send_body(struct lwm2m_endpoint *ep, coap_pdu_code_t code, const char *path, struct lwm2m_buf *body,
		    uint16_t ct, uint8_t tok[8], uint8_t *toklen)
{
	coap_optlist_t *opts = NULL;
	int r = fg_ep_add_location(&opts, path);

	if (r < 0) {
		coap_delete_optlist(opts);
		lwm2m_buf_free(body);
		return r;
	}
	return fg_ep_send_request(ep, code, &opts, body, ct, tok, toklen);
}

static void *memdup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

struct fg_ep_sec *fg_ep_sec(struct lwm2m_endpoint *ep)
{
	if (!ep->sec)
		ep->sec = calloc(1, sizeof(*ep->sec));
	return ep->sec;
}

void fg_ep_sec_free(struct lwm2m_endpoint *ep)
{
	struct fg_ep_sec *sec = ep->sec;

	if (!sec)
		return;
	if (sec->psk_key)
		memset(sec->psk_key, 0, sec->psk_key_len);
	free(sec->psk_key);
	free(sec->psk_identity);
	free(sec->cert_file);
	free(sec->key_file);
	free(sec->ca_file);
	free(sec->cert_host);
	free(sec);
	ep->sec = NULL;
}

int lwm2m_endpoint_add(struct lwm2m_client *c, const struct lwm2m_endpoint_config *cfg,
		       struct lwm2m_store *store, struct lwm2m_endpoint **out)
{
	char host[INET6_ADDRSTRLEN + 1] = "";
	struct lwm2m_endpoint *ep;
	struct fg_ep_sec *sec;
	size_t size;
	int r;

	if (!c || !cfg || !cfg->name || !*cfg->name || strlen(cfg->name) > 255 ||
	    (!cfg->server_uri && !cfg->bootstrap_uri) || !store)
		return -EINVAL;
	if (c->shutting_down)
		return -ESHUTDOWN;
	if (cfg->version && cfg->version != 10 && cfg->version != 11 && cfg->version != 12)
		return -EINVAL;
	/* The name in the endpoint's block: one allocation a device fewer;
	 * right after the last field, not after the struct's tail padding
	 * (a name of up to 12 bytes then fits a malloc chunk 16 bytes
	 * smaller). */
	size = offsetof(struct lwm2m_endpoint, name) + strlen(cfg->name) + 1;
	ep = calloc(1, size > sizeof(*ep) ? size : sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	strcpy(ep->name, cfg->name);
	ep->c = c;
	fg_timer_init(&ep->reg.timer, fg_ep_on_timer);
	fg_timer_init(&ep->drop_timer, fg_ep_on_drop_timer);
	fg_sf_ep_init(ep);
	ep->sf.storing = !cfg->storing_off;
	ep->store = store;
	ep->lifetime = cfg->lifetime ? cfg->lifetime : 86400;
	ep->binding = cfg->binding;
	ep->version_cfg = ep->version = cfg->version ? cfg->version : 11;
	ep->ssid = cfg->short_server_id ? cfg->short_server_id : 1;
	ep->ct_cfg = cfg->content_format;
	ep->ops = cfg->ops;
	ep->ops_ud = cfg->ops_ud;
	/* With a Bootstrap-Server, server and keys come from bootstrap.c. */
	r = cfg->bootstrap_uri ? fg_bs_init(ep, cfg) : parse_server_uri(ep, cfg->server_uri, host);
	if (r < 0)
		goto fail;
	if (ep->secure && !ep->bs) {
		r = -EPROTONOSUPPORT;
		if (!coap_dtls_is_supported())
			goto fail;
		r = -EINVAL;
		if (cfg->cert_file) {
			/* Certificate mode: the server is verified unless told
			 * not to, so a CA is needed. */
			if (!cfg->key_file || (!cfg->ca_file && !cfg->cert_no_verify))
				goto fail;
			/* The name its certificate must carry: the one the
			 * operator wrote, not the address it resolved to. */
			struct fg_certname_ref ref;
			const char *name = cfg->server_name ? cfg->server_name : host;

			if (fg_certname_ref_parse(name, &ref) < 0)
				goto fail;
			r = -ENOMEM;
			ep->cert_no_verify = cfg->cert_no_verify;
			if (!(sec = fg_ep_sec(ep)))
				goto fail;
			sec->cert_file = strdup(cfg->cert_file);
			sec->key_file = strdup(cfg->key_file);
			sec->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
			sec->cert_host = strdup(name);
			if (!sec->cert_file || !sec->key_file || (cfg->ca_file && !sec->ca_file) ||
			    !sec->cert_host)
				goto fail;
			goto secured;
		}
		if (!cfg->psk_identity || !*cfg->psk_identity || !cfg->psk_key || !cfg->psk_key_len)
			goto fail;
		r = -ENOMEM;
		if (!(sec = fg_ep_sec(ep)))
			goto fail;
		sec->psk_identity_len = strlen(cfg->psk_identity);
		sec->psk_identity = memdup(cfg->psk_identity, sec->psk_identity_len);
		sec->psk_key_len = cfg->psk_key_len;
		sec->psk_key = memdup(cfg->psk_key, cfg->psk_key_len);
		if (!sec->psk_identity || !sec->psk_key)
			goto fail;
	}
secured:
	r = fg_ep_server_object_init(ep);
	if (r < 0)
		goto fail;
	r = fg_ep_open_session(ep);
	if (r < 0)
		goto fail;
	r = fg_obs_target_add(ep, NULL, &ep->obs.id);
	if (r < 0)
		goto fail;

	ep->next = c->eps;
	if (c->eps)
		c->eps->prev = ep;
	c->eps = ep;
	c->nep++;
	ep->reg.st = ST_WAIT_REGISTER;
	ep->reg.pub_st = LWM2M_EP_WAITING;
	fg_ep_arm(ep, fg_now(c));
	if (ep->bs)
		fg_bs_start(ep);
	ep_log(ep, LWM2M_LOG_DEBUG, "added (server %s, local port %u)", ep->uri,
	       lwm2m_endpoint_local_port(ep));
	if (out)
		*out = ep;
	ep->gateway = cfg->gateway;
	if (cfg->gateway)
		fg_target_gateway_added(ep);
	return 0;
fail:
	ep->store = NULL;
	fg_ep_close_session(ep);
	fg_srv_detach(ep);
	fg_bs_free(ep);
	fg_ep_sec_free(ep);
	free(ep);
	return r;
}

void fg_ep_free(struct lwm2m_endpoint *ep)
{
	struct lwm2m_client *c = ep->c;

	fg_timer_disarm(c, &ep->reg.timer);
	fg_timer_disarm(c, &ep->drop_timer);
	fg_sf_endpoint_free(ep);
	fg_dm_abandon(ep);
	fg_target_gateway_gone(ep);
	fg_target_endpoint_gone(ep);
	fg_device_free_all(ep);
	fg_obs_target_remove(ep, ep->obs.id);
	ep->removing = true; /* no state callback from here on */
	if (ep->reg.pub_st == LWM2M_EP_REGISTERED)
		c->stats.registered--;
	fg_ep_close_session(ep);
	fg_srv_detach(ep); /* ep->uri with it */
	if (ep->prev)
		ep->prev->next = ep->next;
	else
		c->eps = ep->next;
	if (ep->next)
		ep->next->prev = ep->prev;
	c->nep--;
	fg_ep_sec_free(ep);
	fg_ep_forget_location(ep);
	fg_bs_free(ep);
	free(ep->declared);
	free(ep->devs);
	free(ep->diag);
	free(ep);
	fg_client_endpoint_gone(c, NULL);
}

void lwm2m_endpoint_remove(struct lwm2m_endpoint *ep)
{
	if (!ep || ep->removing)
		return;
	ep->obs_quiet = true;
	fg_dm_abandon(ep);
	fg_target_gateway_gone(ep);
	fg_device_free_all(ep);
	fg_obs_target_remove(ep, ep->obs.id);
	ep->obs.id = 0;
	ep->removing = true;
	ep->store = NULL;
	switch (ep->reg.st) {
	case ST_REGISTERED:
		ep->reg.slot_reserved = false;
		fg_ep_arm(ep, fg_now(ep->c));
		break;
	case ST_WAIT_REGISTER:
	case ST_BOOTSTRAP: /* nothing to undo with a Bootstrap-Server */
		fg_ep_kill(ep);
		break;
	case ST_REGISTERING:
		/* Still in the DTLS handshake: the server cannot have
		 * registered us, nothing to wait for. */
		if (fg_ep_handshaking(ep))
			fg_ep_kill(ep);
		break;
	default:
		/* An exchange is in flight: its outcome decides (a late
		 * registration is de-registered at once). */
		break;
	}
}

int lwm2m_endpoint_send(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *paths,
			size_t n)
{
	static const struct lwm2m_path root = { .len = 0 };
	struct lwm2m_store *s = dev ? dev->store : ep->store;
	struct lwm2m_records recs = { 0 };
	struct lwm2m_buf body = { 0 };
	int r;

	if (ep->removing || !s)
		return -ESHUTDOWN;
	if (ep->version < 11)
		return -EPROTONOSUPPORT; /* Send is LwM2M 1.1 */
	if (ep->reg.st != ST_REGISTERED && ep->reg.st != ST_UPDATING)
		return -ENOTCONN;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t n0 = recs.n;

		if (paths[i].len == 0 || (!dev && (paths[i].id[0] == 0 || paths[i].id[0] == 21))) {
			r = -EINVAL;
			goto out;
		}
		r = lwm2m_store_read(s, &paths[i], &recs);
		if (r < 0)
			goto out;
		if (dev)
			for (size_t k = n0; k < recs.n; k++)
				recs.v[k].prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
	}
	lwm2m_records_sort(&recs);
	r = lwm2m_encode(LWM2M_CT_SENML_CBOR, &root, recs.v, recs.n, &body);
	if (r >= 0)
		r = fg_ep_send_body(ep, COAP_REQUEST_CODE_POST, "/dp", &body, LWM2M_CT_SENML_CBOR,
				    ep->reg.send_token, &ep->reg.send_token_len);
	if (r >= 0)
		ep_log(ep, LWM2M_LOG_DEBUG, "Send of %zu value(s)", recs.n);
out:
	lwm2m_buf_free(&body);
	lwm2m_records_clear(&recs);
	return r;
}

int lwm2m_endpoint_objects_changed(struct lwm2m_endpoint *ep)
{
	if (ep->removing)
		return 0;
	ep->reg.links_changed = true;
	fg_ep_want_update(ep);
	return 0;
}

int lwm2m_endpoint_trigger_update(struct lwm2m_endpoint *ep)
{
	if (ep->removing)
		return 0;
	fg_ep_want_update(ep);
	return 0;
}

int lwm2m_endpoint_declare_object(struct lwm2m_endpoint *ep, uint16_t oid)
{
	uint16_t *v;

	if (!fg_objdef(ep, oid))
		return -ENOENT;
	for (size_t i = 0; i < ep->ndeclared; i++)
		if (ep->declared[i] == oid)
			return 0;
	v = realloc(ep->declared, (ep->ndeclared + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ep->declared = v;
	v[ep->ndeclared++] = oid;
	return 0;
}

const char *lwm2m_endpoint_name(const struct lwm2m_endpoint *ep)
{
	return ep->name;
}

enum lwm2m_ep_state lwm2m_endpoint_state(const struct lwm2m_endpoint *ep)
{
	return ep->reg.pub_st;
}

struct lwm2m_store *lwm2m_endpoint_store(const struct lwm2m_endpoint *ep)
{
	return ep->store;
}

uint8_t lwm2m_endpoint_version(const struct lwm2m_endpoint *ep)
{
	return ep->version;
}

uint16_t lwm2m_endpoint_local_port(const struct lwm2m_endpoint *ep)
{
	const coap_address_t *a;

	if (!ep->session)
		return 0;
	a = coap_session_get_addr_local(ep->session);
	if (!a)
		return 0;
	if (a->addr.sa.sa_family == AF_INET)
		return ntohs(a->addr.sin.sin_port);
	if (a->addr.sa.sa_family == AF_INET6)
		return ntohs(a->addr.sin6.sin6_port);
	return 0;
}

const char *lwm2m_endpoint_location(const struct lwm2m_endpoint *ep)
{
	return ep->reg.location;
}
