/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fg-lwm2m-server internals: shared between main.c (control interface and
 * event loop), coap.c (the LwM2M interfaces over libcoap) and json.c
 * (records <-> JSON). See main.c for what the tool does.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <coap3/coap.h>
#include <json-c/json.h>

#include "lwm2m/lwm2m.h"

/* A registration (Register ... De-register). */
struct reg {
	struct reg *next;
	unsigned id;
	char location[128];    /* "rd/7": the segments joined with '/' */
	json_object *loc_segs; /* the Location-Path segments sent: ["rd","7"] */
	char *ep;
	char *lwm2m, *binding;
	uint32_t lt;
	json_object *query;      /* every Uri-Query parameter of the last Register/Update */
	json_object *links;      /* array of link strings */
	coap_session_t *session; /* referenced */
	coap_resource_t *res;    /* "rd/<id>"; deleted from the main loop */
	int64_t last_ms;         /* Register or last Update, monotonic */
	bool dead;               /* de-registered/expired/replaced; freed later */
	/* The message id of the Register or Update last processed (from
	 * session, at last_ms): the same again is a retransmission. */
	uint16_t mid;
};

/* A client between POST /bs and the response to Bootstrap-Finish. */
struct bsc {
	struct bsc *next;
	char *ep;
	coap_session_t *session; /* referenced */
	json_object *script;     /* array of commands run in order, or NULL */
	size_t step;
	bool start;           /* run the script from the main loop */
	json_object *results; /* array of codes, for "bootstrap-done" */
	bool dead;
	coap_mid_t mid; /* of its Bootstrap-Request: a retransmission is not a new one */
	int64_t req_ms; /* when that came (now_ms()) */
};

enum req_kind {
	REQ_PLAIN,
	REQ_OBSERVE, /* stays after its first 2.xx with Observe: an observation */
	REQ_CANCEL,  /* GET/FETCH with Observe=1 for an observation */
	REQ_REFRESH, /* the observation's GET/FETCH again, Observe=0, same token */
};

/* A request the server sent and waits a response for, or an observation. */
struct req {
	struct req *next;
	uint8_t token[8];
	size_t toklen;
	enum req_kind kind;
	json_object *id; /* command id (referenced) or NULL */
	char *ep;
	char *op;
	coap_session_t *session; /* referenced */
	/* what the cancel of an observation repeats */
	coap_pdu_code_t method;
	char *path; /* as given, prefix included */
	struct lwm2m_path base;
	char prefix[65];
	uint16_t accept, ct;
	uint8_t *body;
	size_t body_len;
	int64_t deadline_ms; /* 0: none */
	bool established;    /* an observation */
	bool cancel_rst;     /* answer the next notification with RST */
	struct bsc *bs;      /* step of a bootstrap script */
	bool dead;
};

/* A Block1 request body being collected (see req_body() in coap.c). */
struct partial {
	struct partial *next;
	coap_session_t *session; /* not referenced: only compared */
	coap_resource_t *res;
	struct lwm2m_buf body;
	int64_t last_ms;
	bool done;
};

struct psk {
	struct psk *next;
	char *identity;
	coap_bin_const_t key; /* key.s owned */
};

/* "Answer the next <count> <what> requests (of <ep>) with <code>." */
struct failrule {
	struct failrule *next;
	char what[16]; /* register, update, deregister, bootstrap, send */
	char *ep;      /* NULL: any */
	int code;
	int count;
};

struct srv {
	coap_context_t *ctx;
	struct lwm2m_registry *registry;
	struct reg *regs;
	unsigned next_reg_id;
	struct bsc *bscs;
	struct req *reqs;
	struct psk *psks;
	struct partial *partials;
	struct failrule *fails;
	json_object *reject_versions; /* array of strings */
	json_object *bs_scripts;      /* object: ep (or "*") -> array of commands */
	json_object *loc_template;    /* Location-Path segments, "{id}" replaced; NULL: ["rd","{id}"] */
	uint64_t token_base, token_ctr;
	int64_t expire_grace_ms;
	bool ignore_con_notify; /* CON notifications get no ACK ("ignored" events) */
	/* DTLS certificate mode (PEM files): the server's certificate and key,
	 * and the CA that client certificates must chain to. */
	const char *cert_file, *key_file, *ca_file;
	uint16_t port, dtls_port;
	bool quit;
};

/* ---- json.c --------------------------------------------------------------- */

extern FILE *event_out; /* NULL: stdout */
int64_t now_ms(void);
/* Write o as one line on stdout and flush; drops the reference. A "ts"
 * member (monotonic ms) is added to events that have none. */
void emit(json_object *o);
json_object *event_new(const char *kind);
/* "2.05" */
void code_str(int code, char out[8]);
/* "2.05" / "4.04" -> CoAP code, or -EINVAL. */
int code_parse(const char *s);
json_object *hex_json(const uint8_t *p, size_t n);
int hex_decode(const char *s, uint8_t **out, size_t *outlen);
bool utf8_valid(const uint8_t *p, size_t n);
/* A JSON string of bytes: as is when valid UTF-8, otherwise with U+FFFD. */
json_object *bytes_json(const uint8_t *p, size_t n);
/* Path with Object 25 prefix: "/dev0/3303/0". */
void path_str(const struct lwm2m_path *p, const char *prefix, size_t plen, char out[128]);
json_object *record_json(const struct lwm2m_record *r, const char *reqprefix);
/* Parse {"path":..,"type":..,"value":..} into a new record of out.
 * Unknown types come from the registry, then from the JSON value.
 * Returns 0 or -EINVAL with *err set to a static message. */
int record_from_json(json_object *o, const struct lwm2m_registry *reg, struct lwm2m_records *out,
		     const char **err);
/* Add "records"/"links"/"text"/"hex"/"error" members describing a payload
 * of content format ct addressed to base. Never fails: what does not decode
 * is reported as hex with the error. */
void payload_json(json_object *o, struct srv *S, uint16_t ct, const struct lwm2m_path *base,
		  const char *prefix, const uint8_t *data, size_t len);
/* Parse a link-format payload into an array of link strings and a
 * parallel array of their URIs. Returns 0 or a negative errno. */
int links_json(const uint8_t *data, size_t len, json_object **links, json_object **paths);
const char *errno_name(int e);

/* ---- coap.c --------------------------------------------------------------- */

int srv_coap_init(struct srv *S, const char *host, uint16_t port, bool dtls, uint16_t dtls_port);
void srv_coap_free(struct srv *S);
/* Work that must not run inside libcoap handlers: start bootstrap scripts,
 * time out requests, expire registrations, free what died. Returns the
 * number of ms until it wants to run again (capped). */
int srv_housekeeping(struct srv *S);
/* Run one control command (a JSON object). Replies with emit(). */
void srv_command(struct srv *S, json_object *cmd);
int srv_add_psk(struct srv *S, const char *identity, const uint8_t *key, size_t keylen);
