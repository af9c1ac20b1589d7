/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: the layout of the client, its endpoints and
 * devices (the libcoap pattern: lwm2m/client.h is the public header, this
 * and the module headers below the internal ones).
 *
 * Each module owns its part of the client and of an endpoint as a
 * sub-struct declared in its own header, with its calls: block1.h
 * (ep->b1), obs.h (ep->obs), server.h (ep->srv), sf.h (ep->sf, c->sf),
 * bootstrap.h (ep->bs, opaque); the registration state (ep->reg) is
 * register.c's. What a module keeps to itself is in its *_internal.h
 * (ep_internal.h, obs_internal.h, sf_internal.h, sfq_internal.h,
 * bs_internal.h) and request.h (the requests of a server: dispatch.c,
 * dm*.c, bs_serve.c).
 */
#pragma once

#include <coap3/coap.h>
#include <stdarg.h>

#include "lwm2m/client.h"
#include "lwm2m/observe.h"
#include "common/job.h"

/* ---- one heap of deadlines for every endpoint ----------------------------- */

struct fg_timer;
typedef void (*fg_timer_fn)(struct lwm2m_client *c, struct fg_timer *t);

struct fg_timer {
	uint64_t when; /* CLOCK_MONOTONIC, microseconds */
	size_t idx;    /* position in the heap, FG_TIMER_IDLE when not armed */
	fg_timer_fn fn;
};
#define FG_TIMER_IDLE ((size_t)-1)

void fg_timer_init(struct fg_timer *t, fg_timer_fn fn);
/* Arm (or move) t to fire at `when`; -ENOMEM when the heap cannot grow. */
int fg_timer_arm(struct lwm2m_client *c, struct fg_timer *t, uint64_t when);
void fg_timer_disarm(struct lwm2m_client *c, struct fg_timer *t);
static inline bool fg_timer_armed(const struct fg_timer *t)
{
	return t->idx != FG_TIMER_IDLE;
}
uint64_t fg_now(const struct lwm2m_client *c);

#include "block1.h"
#include "obs.h"
#include "server.h"
#include "sf.h"

/* ---- the client ------------------------------------------------------------ */

/* One libcoap context of at most a bounded number of sessions (cctx.c:
 * why), in the loop as an I/O source and a timer of its own. */
struct fg_cctx {
	struct lwm2m_client *c;
	coap_context_t *ctx;
	coap_resource_t *unknown; /* owned by ctx */
	sd_event_source *io;      /* its epoll descriptor */
	sd_event_source *timer;   /* its next deadline */
	size_t nsess;             /* endpoints' sessions placed in it */
	bool stale;               /* sent on since its deadline was computed */
	bool queued;              /* on c->touched */
	bool held;                /* its reads wait for hold_end (cctx.c) */
	unsigned burst;           /* Updates sent at burst_at */
	uint64_t burst_at;        /* the loop's time of the last one */
	uint64_t burst_until;     /* answers to a burst expected until then */
	uint64_t hold_end;
	uint64_t accuracy; /* of timer, µs */
	struct fg_cctx *next, *next_touched;
};

struct lwm2m_client {
	sd_event *ev;
	const struct lwm2m_registry *reg;

	struct fg_cctx *cctxs;       /* every libcoap context (cctx.c) */
	struct fg_cctx *touched;     /* ... sent on since their last walk */
	sd_event_source *kick;       /* one-shot defer: walk the touched ones */
	sd_event_source *heap_timer; /* top of the heap below, when in the future */
	sd_event_source *heap_due;   /* one-shot defer: the top is due now */

	struct fg_timer **heap;
	size_t nheap, capheap;

	struct lwm2m_client_config cfg;
	uint64_t reg_interval;  /* microseconds between two paced messages */
	uint64_t next_slot;     /* first free pacing slot */
	uint64_t behind_warned; /* when "Updates wait for a slot" was last logged */
	uint64_t rng;           /* xorshift64* state */

	struct lwm2m_endpoint *eps; /* doubly linked */
	size_t nep;
	struct lwm2m_client_stats stats;

	/* Observation engine: one target (engine "endpoint") per LwM2M
	 * endpoint and per Object 25 device; ids index targets[id - 1]. */
	struct lwm2m_obs_engine *obs;
	struct fg_mid_index *mids; /* NON notifications by message id (obs_notify.c) */
	struct fg_timer obs_timer;
	struct fg_target *targets;
	size_t ntargets;
	uint32_t *free_targets;
	size_t nfree_targets;
	uint32_t observe_seq;

	/* Block-wise request bodies being received, all endpoints (block1.c) */
	size_t nb1;
	size_t b1_bytes; /* charged against cfg.block1_budget */

	struct fg_srv *srvs; /* the servers endpoints talk to (server.c) */

	struct fg_client_sf sf; /* store-and-forward (sf.h) */

	bool shutting_down;
	struct fg_timer shutdown_timer;
	void (*shutdown_done)(void *ud);
	void *shutdown_ud;
	bool dispatching; /* inside our own dispatch of the heap */
	/* Inside libcoap I/O (cctx.c), where its handlers run: nothing may be
	 * sent from there, so due notifications wait for the heap dispatch. */
	unsigned in_coap;
	/* Resources whose new value made a notification due that has not left
	 * yet (obs_notify.c): another value of one of them must not replace
	 * it unsent. More than fit here: any new value sends what is due. */
	struct {
		uint32_t target;
		struct lwm2m_path p;
	} due[8];
	uint8_t ndue; /* sizeof(due) / sizeof(due[0]) + 1: overflowed */

	/* Targets (target.c): all of them, and the gateway endpoint added
	 * last, where Object 25 devices that name none hang off in
	 * LWM2M_TARGETS_GATEWAY mode. */
	struct lwm2m_target *tgts;
	struct lwm2m_endpoint *gw_ep;
	/* Shared texts (strtab.c); NULL while there is none. */
	struct fg_strtab *strtab;
};

/* libcoap contexts (cctx.c). attach: a context with room for one more
 * session (made when none has), detach: that session is gone. touch: we
 * queued something on the context (sent, a handshake, an async answer):
 * its next deadline is computed again at the next turn of the loop. Every
 * message we send goes through fg_coap_send(), which touches, but the
 * NON notifications of one datagram (obs_notify.c: nothing to time). */
int fg_cctx_init(struct lwm2m_client *c);
void fg_cctx_free_all(struct lwm2m_client *c);
int fg_cctx_attach(struct lwm2m_client *c, struct fg_cctx **out);
void fg_cctx_detach(struct fg_cctx *x);
void fg_cctx_touch(struct fg_cctx *x);
void fg_cctx_update_sent(struct fg_cctx *x);
struct fg_cctx *fg_cctx_of(coap_session_t *s);
coap_mid_t fg_coap_send(coap_session_t *s, coap_pdu_t *pdu);
/* A pacing slot for a Register/Update: returns the time it may be sent
 * (now or later) and reserves it. */
uint64_t fg_client_take_slot(struct lwm2m_client *c);
uint64_t fg_client_random(struct lwm2m_client *c);
/* The next delay of a backoff: d = min_us * 2^*attempts up to max_us,
 * uniform in [d/2, d]; counts the attempt. */
uint64_t fg_client_backoff(struct lwm2m_client *c, uint64_t min_us, uint64_t max_us, unsigned *attempts);
void fg_client_endpoint_gone(struct lwm2m_client *c, struct lwm2m_endpoint *ep);

void fg_log(const struct lwm2m_client *c, int level, const char *ep, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define ep_log(ep, level, ...) fg_log((ep)->c, (level), (ep)->name, __VA_ARGS__)
static inline bool fg_log_enabled(const struct lwm2m_client *c, int level)
{
	return c->cfg.log && level <= c->cfg.log_level;
}

/* ---- endpoints ---------------------------------------------------------- */

enum ep_st {
	ST_WAIT_REGISTER, /* timer: when to send Register (pacing or backoff) */
	ST_REGISTERING,   /* Register outstanding; timer: request time-out */
	ST_REGISTERED,    /* timer: next Update */
	ST_UPDATING,      /* Update outstanding; timer: request time-out */
	ST_DEREGISTERING, /* DELETE outstanding; timer: give up and free */
	ST_DEAD,          /* timer fires at once to free the endpoint */
	ST_BOOTSTRAP,     /* bootstrap.c: Bootstrap-Request due, sent or served */
};

enum req_kind {
	REQ_NONE,
	REQ_REGISTER,
	REQ_UPDATE,
	REQ_DEREGISTER,
	REQ_BOOTSTRAP,
};

/* An endpoint's registration: written by register.c (and by bootstrap.c,
 * which hands the endpoint over to it); read elsewhere. Small types and
 * bit-fields: one of these per device in endpoint mode. */
struct fg_ep_reg {
	struct fg_timer timer;
	char *location; /* "/rd/abc" from Location-Path, NULL when not registered */
	/* Before location in its block (register.c; freed with it): the
	 * Location-Path options exactly as received, each as a 16-bit length
	 * (host order) then its bytes, loc_segs_len bytes in all (one
	 * datagram's options: below 2^32). Update and De-register repeat
	 * them as Uri-Path options, even a segment that contains a '/'. */
	uint32_t loc_segs_len;
	unsigned attempts; /* consecutive failures, for the backoff */
	uint8_t token[8];
	uint8_t send_token[8]; /* the last Send (/dp), to report its failure */
	enum ep_st st : 8;
	enum lwm2m_ep_state pub_st : 8;
	enum req_kind req : 8;
	uint8_t token_len, send_token_len; /* CoAP tokens: at most 8 bytes */
	bool slot_reserved : 1;            /* timer is a pacing slot already taken */
	bool want_update : 1;              /* an Update is due as soon as a slot allows */
	bool links_changed : 1;            /* next Update carries the object list */
	bool params_changed : 1;           /* next Update carries lt/b */
};

struct fg_sf; /* a target's store-and-forward state (sf.c) */

struct fg_target {
	struct lwm2m_endpoint *ep; /* NULL: free slot */
	struct lwm2m_device *dev;  /* NULL: the endpoint's own tree */
	struct fg_sf *sf;          /* NULL: nothing held or kept */
	/* Its observations (obs.c), by fg_obs.tnext: what a sample asks
	 * (is this path observed?) costs the target's observations, not
	 * all of the endpoint's (1,000 devices of one gateway endpoint). */
	struct fg_obs *obs;
	/* Observe requests refused at the bound: when the last warning was
	 * logged (seconds of fg_now(), 0: never; 32 bits, not 64: one of
	 * these per device) and how many were refused since. */
	uint32_t refused_warned;
	uint32_t refused_since;
};

struct fg_pending; /* an asynchronous write/execute (dm_async.c) */

/* What a coaps endpoint authenticates with, apart from struct
 * lwm2m_endpoint: 64 bytes a plain-coap endpoint (one per device in
 * endpoint mode) does not need. */
struct fg_ep_sec {
	uint8_t *psk_identity, *psk_key;
	size_t psk_identity_len, psk_key_len;
	char *cert_file, *key_file, *ca_file; /* certificate mode (cert_file NULL: PSK) */
	char *cert_host;                      /* the name the server's certificate must carry (certname.h) */
};

/* Fields ordered by alignment, small types and the flags as bit-fields
 * together at the end: there is one of these per device in endpoint mode
 * (624 bytes with 60 of holes in the order of their meaning; issue 13,
 * docs/PERFORMANCE.md). */
struct lwm2m_endpoint {
	struct lwm2m_client *c;
	struct lwm2m_endpoint *prev, *next;

	/* The server's URI: its struct fg_srv's copy (server.h), or its own
	 * when uri_own; its address is the fg_srv's too. */
	char *uri;
	struct fg_ep_sec *sec; /* coaps: its keys or certificate; NULL: none (coap) */
	const struct lwm2m_endpoint_ops *ops;
	void *ops_ud;

	struct lwm2m_store *store; /* NULL once removed */
	coap_session_t *session;   /* its context's is fg_ep_cctx() */
	/* An exchange was given up: libcoap's copies of it are dropped from
	 * drop_timer (or before the next message), see fg_ep_abandon(). */
	struct fg_timer drop_timer;

	struct fg_ep_reg reg; /* registration (register.c) */

	struct fg_ep_obs obs;       /* observations (obs.h) */
	uint16_t *declared;         /* ndeclared of them */
	struct lwm2m_device **devs; /* sorted by prefix (gateway.c) */
	size_t ndevs;
	struct fg_pending *pending; /* asynchronous operations in flight */
	char *diag;                 /* an op's reason for its refusal (create.c), sent once */
	struct fg_bs *bs;           /* bootstrap.c; NULL without a Bootstrap-Server */
	struct fg_ep_b1 b1;         /* block-wise request bodies (block1.h) */

	struct fg_ep_srv srv; /* reachability of its server (server.h) */

	struct fg_ep_sf sf;       /* store-and-forward (sf.h) */
	struct fg_dedup *dedup;   /* dedup.c: answers to recent requests */
	struct lwm2m_target *tgt; /* the target this endpoint is (target.c), or NULL */

	uint32_t lifetime;
	uint32_t ndeclared;
	enum lwm2m_binding binding : 8;
	uint16_t ssid;
	uint16_t ct_cfg;              /* 0: default for the version */
	uint16_t iid_hint;            /* every /25 instance id below it is in use */
	uint8_t version_cfg, version; /* configured, currently offered */
	bool secure : 1;
	bool cert_no_verify : 1;
	bool cert_refused : 1;   /* the server's certificate did not verify (this handshake) */
	bool cert_mismatch : 1;  /* ... or is not for cert_host (this handshake) */
	bool session_dead : 1;   /* release and reopen before the next message */
	bool dtls_connected : 1; /* the session's DTLS handshake completed */
	bool drop_pending : 1;   /* see drop_timer */
	bool removing : 1;       /* lwm2m_endpoint_remove() called */
	bool obs_quiet : 1;      /* being removed: no more ops->observations_changed */
	bool gateway : 1;        /* added as a gateway endpoint (targets may name it) */
	bool uri_own : 1;        /* uri is a copy of its own (server.h) */
	char name[];             /* in the endpoint's block */
};

/* Free at once: no message, timers and pending operations dropped. */
void fg_ep_free(struct lwm2m_endpoint *ep);
/* The libcoap context (cctx.c) of ep's session, NULL without one: found
 * through the session, not kept in each endpoint. */
static inline struct fg_cctx *fg_ep_cctx(const struct lwm2m_endpoint *ep)
{
	return fg_cctx_of(ep->session);
}
/* ep->sec, made empty when there is none; NULL: no memory. */
struct fg_ep_sec *fg_ep_sec(struct lwm2m_endpoint *ep);
/* Free ep->sec (the key wiped). */
void fg_ep_sec_free(struct lwm2m_endpoint *ep);
uint16_t fg_ep_default_ct(const struct lwm2m_endpoint *ep);
/* Links "</oid/iid>" of a store's instances and of declared objects
 * without instances ("</oid>", ";ver=X.Y" when not 1.0, see
 * fg_announced_version() for enabler), never /0 or /21;
 * comma: put a ',' before the first one. */
int fg_links(const struct lwm2m_client *c, const struct lwm2m_store *s, const uint16_t *declared,
	     size_t ndeclared, bool comma, uint8_t enabler, struct lwm2m_buf *out);
/* The version an object is announced with ("ver=") to a server of the
 * given LwM2M enabler version (10, 11, 12; 0: the definition's): the core
 * objects 0-7 are 1.0 to a LwM2M 1.0 server, and Server 1.2 needs LwM2M
 * 1.2 (the DDFs' LWM2MVersion), so a 1.1 server gets Server 1.1. Returns
 * major*10+minor. */
unsigned fg_announced_version(const struct lwm2m_objdef *def, uint8_t enabler);
/* Build the Register/Update payload: </>;rt="oma.lwm2m";ct=..,</1/0>,... */
int fg_ep_links(const struct lwm2m_endpoint *ep, struct lwm2m_buf *out);
/* Re-read /1/0 (lifetime, binding) after the server wrote it. */
void fg_ep_server_object_written(struct lwm2m_endpoint *ep);
void fg_ep_set_state(struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err);
const struct lwm2m_objdef *fg_objdef(const struct lwm2m_endpoint *ep, uint16_t oid);

/* ---- libcoap glue (register.c, session.c) --------------------------------------------- */

coap_response_t fg_response_handler(coap_session_t *session, const coap_pdu_t *sent,
				    const coap_pdu_t *received, const coap_mid_t mid);
void fg_nack_handler(coap_session_t *session, const coap_pdu_t *sent, const coap_nack_reason_t reason,
		     const coap_mid_t mid);
int fg_event_handler(coap_session_t *session, const coap_event_t event);
/* The local port of the session a libcoap log line names ("<local> <->
 * <remote> ..."; arrow points at " <-> "). 0 or -EINVAL. */
int fg_log_line_port(const char *msg, const char *arrow, unsigned long *port);
/* A libcoap log line about DTLS: it may say a server certificate failed
 * to verify (the only report of why with libcoap 4.3.1). */
void fg_ep_cert_log_line(struct lwm2m_client *c, const char *msg);

/* ---- device management (dm*.c; the requests themselves: request.h) ------- */

/* Drop every asynchronous operation of ep (endpoint going away). */
void fg_dm_abandon(struct lwm2m_endpoint *ep);
/* Create and Delete by the endpoint's ops (create.c). fg_create_by_ops():
 * true when the op answered (2.01 with Location-Path, or its refusal with
 * the reason as payload), false to create in the store. iid: the payload's,
 * -1 when the server left the choice. fg_delete_by_ops(): the op's answer,
 * -ENOSYS when it has none. */
bool fg_create_by_ops(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_span *prefix,
		      uint16_t oid, int iid, struct lwm2m_records *recs, coap_pdu_t *response);
int fg_delete_by_ops(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *path);
/* The reason an op gave for refusing the request now being answered
 * (lwm2m_endpoint_diagnostic), as the payload of an error response;
 * forgotten after, whatever the answer. */
void fg_diag_attach(struct lwm2m_endpoint *ep, coap_pdu_t *response);
/* Location-Path of a created instance: [prefix/]oid/iid. */
void fg_location_path(coap_pdu_t *response, const struct lwm2m_span *prefix, uint16_t oid, uint16_t iid);
/* Formats that name records absolutely and so carry a device prefix. */
bool fg_ct_names_prefix(uint16_t ct);

/* Repeated requests (dedup.c): answer a repeat of a request that changed
 * something with the first answer (true: resp is that answer), and note the
 * answers of such requests. fg_dedup_free() forgets them (the session goes:
 * message ids start anew). */
bool fg_dedup_answer(struct lwm2m_endpoint *ep, const coap_pdu_t *req, coap_pdu_t *resp);
void fg_dedup_note(struct lwm2m_endpoint *ep, const coap_pdu_t *req, const coap_pdu_t *resp);
void fg_dedup_free(struct lwm2m_endpoint *ep);

/* Check Execute arguments against the TS grammar:
 *   args = arg *( "," arg ); arg = DIGIT [ "=" "'" *CHAR "'" ]
 * where CHAR is any printable ASCII but "'". Empty is valid.
 * 0 or -EINVAL. */
int fg_exec_args_check(const char *s, size_t n);

/* ---- Object 25 (gateway.c) ------------------------------------------------- */

/* lwm2m_endpoint_add_device() with the instance id iid (0..65534; -EEXIST
 * when in use) or, iid < 0, the lowest free one. */
int fg_device_add(struct lwm2m_endpoint *ep, const char *prefix, struct lwm2m_store *store,
		  const char *device_id, int iid, struct lwm2m_device **out);

struct lwm2m_device {
	struct lwm2m_endpoint *ep;
	char *prefix;
	char *device_id;
	struct lwm2m_store *store;
	struct lwm2m_target *tgt; /* the target this device is (target.c), or NULL */
	const char *links;        /* /25/<iid>/3 borrows it (fg_str_get()), or NULL */
	uint32_t obs_id;
	uint16_t iid;       /* /25/<iid> */
	uint8_t prefix_len; /* at most 64 (prefix_valid()) */
	/* prefix and device_id point here; /25/<iid>/0 and /1 borrow them,
	 * so the device is freed only after its instance is deleted. */
	char strs[];
};

struct lwm2m_device *fg_device_find(const struct lwm2m_endpoint *ep, const char *prefix, size_t len);
void fg_device_free_all(struct lwm2m_endpoint *ep);

/* Shared texts (strtab.c): a counted copy of p (n bytes, no NUL among
 * them), NUL-terminated; NULL without memory. Given back with
 * fg_str_put() (NULL: nothing). */
const char *fg_str_get(struct lwm2m_client *c, const void *p, size_t n);
void fg_str_put(struct lwm2m_client *c, const char *text);

/* ---- for server.c and sf*.c, from the endpoint module (register.c) ----------------------------------------
 */

/* Park ep (its server is unreachable): no registration, timer off, the
 * exchange in flight given up, values held. */
void fg_ep_park(struct lwm2m_endpoint *ep, int err);
/* Register again soon (paced); probe: as the server's probe. */
void fg_ep_unpark(struct lwm2m_endpoint *ep, bool probe);
/* An Update as soon as a slot allows (registered endpoints). */
void fg_ep_want_update(struct lwm2m_endpoint *ep);
/* Is ep registered and able to reach its server now? */
bool fg_ep_online(const struct lwm2m_endpoint *ep);
/* Send a request with a body (content format ct) and its own token. */
int fg_ep_send_body(struct lwm2m_endpoint *ep, coap_pdu_code_t code, const char *path, struct lwm2m_buf *body,
		    uint16_t ct, uint8_t tok[8], uint8_t *toklen);

/* ---- targets (target.c) ------------------------------------------------------------ */

struct lwm2m_target {
	struct lwm2m_client *c;
	struct lwm2m_target *prev, *next; /* c->tgts */
	const struct lwm2m_target_ops *ops;
	void *ud;
	struct lwm2m_store *store;
	/* Gateway mode (the mode when it was added; NULL in endpoint mode):
	 * the caller's (lwm2m_target_config). */
	const char *prefix, *device_id;
	const char *host; /* gateway mode: its gateway endpoint's name (fg_str_get()), NULL: c->gw_ep */
	int iid;          /* gateway mode: its /25 instance id, -1: the lowest free */
	struct lwm2m_endpoint *ep; /* endpoint mode: its own, NULL once gone */
	struct lwm2m_device *dev;  /* gateway mode: NULL while waiting for the gateway endpoint */
	uint64_t notifications;    /* sent for it since it was added (kept across registrations) */
};

/* Count a notification sent for ep's own tree (dev NULL) or a device
 * toward the target that is, if any. */
void fg_target_notified(struct lwm2m_endpoint *ep, struct lwm2m_device *dev);

/* The operations (and their user data) that serve a request to ep's own
 * tree (dev NULL) or to a device: a device that is a target has the
 * target's. NULL: none. */
const struct lwm2m_endpoint_ops *fg_ops_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
					   void **ud);
/* The gateway endpoint was added (waiting targets become its devices) or
 * is going; its registration state changed (its targets' presence). */
void fg_target_gateway_added(struct lwm2m_endpoint *gw);
void fg_target_gateway_gone(struct lwm2m_endpoint *gw);
void fg_target_gateway_state(struct lwm2m_endpoint *gw, enum lwm2m_ep_state st);
/* A target's device or endpoint is being freed. */
void fg_target_device_gone(struct lwm2m_device *dev);
void fg_target_endpoint_gone(struct lwm2m_endpoint *ep);
/* lwm2m_client_free(): the targets left. */
void fg_target_free_all(struct lwm2m_client *c);

#include "bootstrap.h"
