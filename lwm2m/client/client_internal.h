/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: the layout of the client, its endpoints and
 * devices, shared by client.c (loop, timers, pacing, logging), endpoint.c
 * (registration state machine), dm.c (device management requests) and
 * gateway.c (Object 25).
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

/* ---- the client ------------------------------------------------------------ */

struct lwm2m_client {
	sd_event *ev;
	coap_context_t *ctx;
	const struct lwm2m_registry *reg;
	coap_resource_t *unknown; /* owned by ctx */

	sd_event_source *io;         /* the coap epoll fd */
	sd_event_source *coap_timer; /* libcoap's next internal deadline */
	sd_event_source *heap_timer; /* top of the heap below */
	sd_event_source *kick;       /* one-shot defer: run coap_io_process after we sent */

	struct fg_timer **heap;
	size_t nheap, capheap;

	struct lwm2m_client_config cfg;
	uint64_t reg_interval; /* microseconds between two paced messages */
	uint64_t next_slot;    /* first free pacing slot */
	uint64_t rng;          /* xorshift64* state */

	struct lwm2m_endpoint *eps; /* doubly linked */
	size_t nep;
	struct lwm2m_client_stats stats;

	/* Observation engine: one target (engine "endpoint") per LwM2M
	 * endpoint and per Object 25 device; ids index targets[id - 1]. */
	struct lwm2m_obs_engine *obs;
	struct fg_mid_index *mids; /* NON notifications by message id (obs.c) */
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

	/* Store-and-forward (sf.c): bytes all targets hold, the files to
	 * write (one job at a time), when they were last synced. */
	size_t sf_bytes;
	struct fg_timer sf_flush_timer;
	struct job *sf_job;
	struct fg_sf *sf_orphans; /* queues of targets gone, until written */
	uint64_t sf_synced;       /* µs, when the files were last synced */
	bool sf_unsynced;         /* written since */
	uint64_t sf_gone_queued, sf_gone_delivered, sf_gone_dropped; /* of targets removed */
	bool sf_final;                                               /* shutdown: one last synced write */
	uint64_t sf_warned;                                          /* µs: the last write failure logged */

	bool shutting_down;
	struct fg_timer shutdown_timer;
	void (*shutdown_done)(void *ud);
	void *shutdown_ud;
	bool dispatching; /* inside our own dispatch of the heap */
};

void fg_client_kick(struct lwm2m_client *c);
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

struct fg_sf; /* a target's store-and-forward state (sf.c) */

struct fg_target {
	struct lwm2m_endpoint *ep; /* NULL: free slot */
	struct lwm2m_device *dev;  /* NULL: the endpoint's own tree */
	struct fg_sf *sf;          /* NULL: nothing held or kept */
	/* Observe requests refused at the bound: when the last warning was
	 * logged (µs, 0: never) and how many were refused since. */
	uint64_t refused_warned;
	uint32_t refused_since;
};

struct fg_pending; /* an asynchronous write/execute (dm.c) */
struct fg_obs;     /* an observation (obs.c) */

struct lwm2m_endpoint {
	struct lwm2m_client *c;
	struct lwm2m_endpoint *prev, *next;

	char *name;
	char *uri;
	coap_address_t server;
	bool secure;
	uint32_t lifetime;
	enum lwm2m_binding binding;
	uint8_t version_cfg, version; /* configured, currently offered */
	uint16_t ssid;
	uint16_t ct_cfg; /* 0: default for the version */
	uint8_t *psk_identity, *psk_key;
	size_t psk_identity_len, psk_key_len;
	char *cert_file, *key_file, *ca_file; /* certificate mode (cert_file NULL: PSK) */
	char *cert_host;                      /* the name the server's certificate must carry (certname.h) */
	bool cert_no_verify;
	bool cert_refused;  /* the server's certificate did not verify (this handshake) */
	bool cert_mismatch; /* ... or is not for cert_host (this handshake) */
	const struct lwm2m_endpoint_ops *ops;
	void *ops_ud;

	struct lwm2m_store *store; /* NULL once removed */
	coap_session_t *session;
	bool session_dead;   /* release and reopen before the next message */
	bool dtls_connected; /* the session's DTLS handshake completed */
	/* An exchange was given up: libcoap's copies of it are dropped from
	 * drop_timer (or before the next message), see fg_ep_abandon(). */
	bool drop_pending;
	struct fg_timer drop_timer;

	enum ep_st st;
	enum lwm2m_ep_state pub_st;
	struct fg_timer timer;
	bool slot_reserved;  /* timer is a pacing slot already taken */
	bool removing;       /* lwm2m_endpoint_remove() called */
	bool obs_quiet;      /* being removed: no more ops->observations_changed */
	bool want_update;    /* an Update is due as soon as a slot allows */
	bool links_changed;  /* next Update carries the object list */
	bool params_changed; /* next Update carries lt/b */
	unsigned attempts;   /* consecutive failures, for the backoff */

	enum req_kind req;
	uint8_t token[8];
	size_t token_len;
	uint8_t send_token[8]; /* the last Send (/dp), to report its failure */
	size_t send_token_len;

	char *location; /* "/rd/abc" from Location-Path, NULL when not registered */
	/* The Location-Path options exactly as received, each as a 16-bit
	 * length (host order) then its bytes: Update and De-register repeat
	 * them as Uri-Path options, even a segment that contains a '/'. */
	uint8_t *loc_segs;
	size_t loc_segs_len;
	/* A CON notification sent before this (µs) may still be in flight:
	 * libcoap does not report its ACK, only its failure (obs.c). */
	uint64_t con_busy_until;

	uint32_t obs_id; /* target of the observation engine */
	struct fg_obs *obs;
	uint16_t *declared;
	size_t ndeclared;
	struct lwm2m_device **devs; /* sorted by prefix (gateway.c) */
	size_t ndevs;
	uint16_t iid_hint;          /* every /25 instance id below it is in use */
	struct fg_pending *pending; /* asynchronous operations in flight */
	struct fg_bs *bs;           /* bootstrap.c; NULL without a Bootstrap-Server */
	struct fg_b1 *b1;           /* block1.c: request bodies being received */
	size_t nb1;                 /* their number */
	struct fg_b1_tags *b1_tags; /* block1.c: Request-Tags libcoap recorded on the session */
	/* The session is to be closed and a new one registered (block1.c:
	 * libcoap's records of Request-Tags go only with the session). */
	bool renew_session;

	struct fg_srv *srv; /* server.c: whether the server is reachable */
	bool parked;        /* its server is unreachable: waiting for the probe */
	bool probing;       /* its Register (or Update) probes the server */

	/* Store-and-forward (sf.c). */
	bool storing;           /* /1/0/6 Notification Storing */
	bool sleeping;          /* queue mode: holding values until the next Update */
	uint64_t last_exchange; /* µs: the server's last answer (queue mode) */
	uint32_t tx_mark;       /* notifications sent: what a barrier confirms */
	uint32_t req_mark;      /* tx_mark when the registration request left */
	bool barrier_busy;      /* a CoAP ping in flight ... */
	coap_mid_t barrier_mid; /* ... with this id, */
	uint32_t barrier_mark;  /* confirming what went before it */
	uint64_t barrier_since; /* µs: when it left */
	uint64_t barrier_done;  /* µs: when the last one came back */
	bool sf_sending;        /* a Send of held samples in flight */
	uint8_t sf_token[8];    /* its token */
	size_t sf_token_len;
	uint32_t sf_send_target; /* of that target (id) */
	uint32_t sf_send_mark;
	uint32_t sf_next_mark;
	struct fg_timer sf_timer; /* delivery, barriers, queue mode */
	struct fg_dedup *dedup;   /* dm.c: answers to recent requests */
};

/* Free at once: no message, timers and pending operations dropped. */
void fg_ep_free(struct lwm2m_endpoint *ep);
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

/* ---- libcoap glue (endpoint.c) --------------------------------------------- */

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

/* ---- block-wise request bodies (block1.c) ------------------------------- */

struct fg_b1;
struct fg_b1_body {
	const uint8_t *data;
	size_t len;
	uint8_t *owned; /* data, when the caller must free it; NULL: data is the request's */
};
enum {
	FG_B1_NONE,     /* no Block1 option: out is the request's payload */
	FG_B1_ANSWERED, /* resp carries the answer (2.31 Continue or an error) */
	FG_B1_COMPLETE, /* out is the whole body, the request is to be served */
};
/* Take a request of ep's server: its Block1 option, if any, is one block
 * of a body (RFC 7959). Returns one of the FG_B1_* above. */
int fg_b1_receive(struct lwm2m_endpoint *ep, const coap_pdu_t *req, coap_pdu_t *resp, struct fg_b1_body *out);
/* The final answer to a block-wise request acknowledges its last block
 * (Block1 with M=0); nothing when req has no Block1 option. */
void fg_b1_echo(const coap_pdu_t *req, coap_pdu_t *resp);
/* Forget every transfer of ep, and the Request-Tags its session saw (the
 * session is going away). */
void fg_b1_drop_all(struct lwm2m_endpoint *ep);
/* Close ep's session soon (from a timer: never inside a libcoap handler)
 * and register again on a new one; see block1_max_tags. */
void fg_ep_renew_session(struct lwm2m_endpoint *ep);

/* ---- Object 25 (gateway.c) ------------------------------------------------- */

struct lwm2m_device {
	struct lwm2m_endpoint *ep;
	char *prefix;
	size_t prefix_len;
	char *device_id;
	struct lwm2m_store *store;
	uint16_t iid; /* /25/<iid> */
	uint32_t obs_id;
};

struct lwm2m_device *fg_device_find(const struct lwm2m_endpoint *ep, const char *prefix, size_t len);
void fg_device_free_all(struct lwm2m_endpoint *ep);

/* ---- observations (obs.c) ---------------------------------------------------- */

int fg_obs_init(struct lwm2m_client *c);
void fg_obs_free(struct lwm2m_client *c);
void fg_obs_rearm(struct lwm2m_client *c);
/* A target of the engine for ep's own tree (dev NULL) or a device. */
int fg_obs_target_add(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, uint32_t *out);
/* Drop the target with its observations and attributes. */
void fg_obs_target_remove(struct lwm2m_endpoint *ep, uint32_t id);
void fg_obs_target_release_id(struct lwm2m_client *c, uint32_t id);
/* /1/0/2 or /1/0/3 written. */
void fg_obs_defaults_changed(struct lwm2m_endpoint *ep);
/* Start an observation (the caller answers the request with Observe
 * fg_obs_next_seq()). -ENOSPC at the bound (counted and logged here, not
 * by the caller), -EINVAL, -ENOMEM, engine errors. */
int fg_obs_start(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const uint8_t *tok, size_t toklen,
		 const struct lwm2m_path *paths, size_t n, bool composite, uint16_t ct);
bool fg_obs_stop_token(struct lwm2m_endpoint *ep, const uint8_t *tok, size_t toklen);
/* Tell the endpoint's owner its observations (of dev's tree) changed. */
void fg_obs_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev);
void fg_obs_stop_all(struct lwm2m_endpoint *ep);
/* Observations of dev with a path at or below p (instance deleted). */
void fg_obs_stop_under(struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, const struct lwm2m_path *p);
uint32_t fg_obs_next_seq(struct lwm2m_client *c);
/* A CON we sent was reset, never acknowledged, or met an ICMP error. */
void fg_obs_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason);
/* A Reset with message id mid arrived, on ep's session (NULL: unknown,
 * from libcoap 4.3.1's log line): it cancels the observation whose last
 * NON notification had that id. */
void fg_obs_reset(struct lwm2m_client *c, struct lwm2m_endpoint *ep, coap_mid_t mid);
void fg_obs_records_written(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			    const struct lwm2m_records *recs);

/* ---- servers (server.c) -------------------------------------------------------- */

/* Endpoints talking to the same server address (and scheme) share what
 * is known of its reachability. */
int fg_srv_attach(struct lwm2m_endpoint *ep);
void fg_srv_detach(struct lwm2m_endpoint *ep);
void fg_srv_free_all(struct lwm2m_client *c);
/* Does err (of a failed exchange) say the server could not be reached? */
bool fg_srv_unreachable(int err);
/* ep found its server unreachable (a CON exchange timed out, an ICMP
 * error): every registration with it is taken as lost; its endpoints park
 * and hold their values, and one of them probes the server with a Register
 * after a jittered backoff. Returns true when ep was parked (false: no
 * server, or ep is not one to park: de-registering, bootstrapping). Safe in
 * libcoap handlers (state and timers only). */
bool fg_srv_lost(struct lwm2m_endpoint *ep, int err, const char *why);
/* ep is to send a Register while its server is known to be away: it parks
 * instead (true), unless it is the probe. */
bool fg_srv_parks(struct lwm2m_endpoint *ep);
/* The server answered ep: when it was unreachable, its parked endpoints
 * register again (paced). */
void fg_srv_alive(struct lwm2m_endpoint *ep);
/* The server forgot ep's registration (4.04 to an Update): the others of
 * that server confirm theirs with an Update (paced), at most once in a
 * while. */
void fg_srv_restarted(struct lwm2m_endpoint *ep);
/* ep's deadline for its exchange when it is the probe (shorter). */
uint64_t fg_srv_probe_deadline(const struct lwm2m_endpoint *ep, uint64_t deadline);
/* A libcoap log line "... coap_network_read: ICMP: ...": the endpoint of
 * the session it names lost its server (NON traffic gets no other sign). */
void fg_srv_icmp_log_line(struct lwm2m_client *c, const char *msg);

/* ---- for server.c and sf.c, from endpoint.c ---------------------------------------- */

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
		    uint16_t ct, uint8_t tok[8], size_t *toklen);

/* ---- store-and-forward (sf.c) ------------------------------------------------------ */

int fg_sf_init(struct lwm2m_client *c);
void fg_sf_ep_init(struct lwm2m_endpoint *ep);
void fg_sf_free(struct lwm2m_client *c);
/* A target was added (load what its file holds) or is going. */
int fg_sf_target_add(struct lwm2m_client *c, uint32_t id);
void fg_sf_target_remove(struct lwm2m_client *c, uint32_t id);
/* A sample for path of ep (dev NULL) or a device: returns 1 when it was
 * held (the caller stores it but does not notify: values held for that
 * path leave first), 0 to go on as usual, a negative errno. */
int fg_sf_sample(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		 const struct lwm2m_value *v, double time, bool historical);
/* Must a notification of observation paths (of dev) wait? (ep not
 * online, or values of these paths held). */
bool fg_sf_holds(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
		 const struct lwm2m_path *paths, size_t n);
/* A notification of ep left. */
void fg_sf_notified(struct lwm2m_endpoint *ep);
/* A confirmable exchange that left after every notification up to mark
 * (ep->tx_mark then) was answered: those arrived. */
void fg_sf_confirmed(struct lwm2m_endpoint *ep, uint32_t mark);
/* ep lost its registration (or went to sleep): what was on its way comes
 * back to be held. */
void fg_sf_offline(struct lwm2m_endpoint *ep);
/* ep is registered and reachable: deliver what is held. */
void fg_sf_online(struct lwm2m_endpoint *ep);
/* An answer or a failure that may be store-and-forward's own (a Send of
 * held samples, a barrier); true when it was. */
bool fg_sf_response(struct lwm2m_endpoint *ep, const coap_pdu_t *received, uint8_t code);
bool fg_sf_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason, coap_mid_t mid);
void fg_sf_endpoint_free(struct lwm2m_endpoint *ep);
/* The client shuts down: write what is not yet written, synced; done() is
 * called from the loop when that is over. */
void fg_sf_final_flush(struct lwm2m_client *c);
bool fg_sf_flushing(const struct lwm2m_client *c);
void fg_sf_stats(const struct lwm2m_client *c, struct lwm2m_client_stats *st);
/* Stored notifications (LwM2M 1.0, obs.c): send rec as a notification of
 * an observation of the target that covers it (CON); 0, -ENOENT when no
 * observation covers it, or an error. */
int fg_obs_send_stored(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_record *rec);
/* A message id for a CON that is not a notification (a barrier ping): one
 * no recent NON notification used, so that a Reset to it names it alone. */
coap_mid_t fg_obs_quiet_mid(struct lwm2m_client *c, coap_session_t *s);
/* The paths ep's target (dev) observes now, appended to out. */
int fg_obs_paths(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, struct lwm2m_path **out,
		 size_t *n);

#include "bootstrap.h"
