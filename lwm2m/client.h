/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lwm2m/client.h — fieldgate's LwM2M client over libcoap, driven by sd-event.
 *
 * Object model
 * ------------
 * struct lwm2m_client: one per process. It owns one coap_context_t whose
 * epoll descriptor (coap_context_get_coap_fd) is watched by the sd_event loop;
 * when it is readable, and when a timer armed from coap_io_prepare_epoll()'s
 * answer expires, the client calls coap_io_process(ctx, COAP_IO_NO_WAIT).
 * That call is never made from inside a libcoap handler: handlers only change
 * state and arm timers; every message the client originates (Register, Update,
 * De-register, separate responses) is sent from its own timer dispatch.
 *
 * All endpoint timers (next Register attempt, Update before the lifetime
 * ends (fg_ep_update_at), request time-outs, De-register deadline) live in
 * ONE binary heap of deadlines that drives ONE sd_event timer, so 10,000
 * idle endpoints cost one timer.
 *
 * Registrations are paced: Register and Update messages leave at most
 * `reg_rate` per second (token slots handed out in order), so a gateway that
 * starts 5,000 endpoints spreads them over 100 s at the default 50/s. A failed
 * registration is retried after an exponential backoff with jitter (uniform in
 * [d/2, d], d = min(backoff_max, backoff_min * 2^attempt)).
 *
 * struct lwm2m_endpoint: one LwM2M client identity (endpoint name) talking to
 * one server, on its OWN client session (coap_new_client_session, or _psk2 /
 * _pki for coaps://): its own UDP socket and source port, which is what a server keys a
 * NoSec registration on. The session's app data points back at the endpoint,
 * so a request the server sends over it (Read, Write, ...) reaches that
 * endpoint's object store. The caller owns the store and its instances (/3,
 * /3303, ...); the client adds and maintains the /1 (Server) instance itself
 * and never exposes /0 (Security) or /21 (OSCORE).
 *
 * An endpoint never holds more than one socket, and an exchange it gives up
 * (no answer in time, ICMP unreachable, a failed DTLS handshake, a Reset)
 * leaves nothing behind: libcoap's queued copies of the session's messages
 * are dropped from the loop before anything else is sent, so an old
 * Register cannot reach a server that comes back and replace the live
 * registration. A UDP session keeps its socket and source port across
 * failures; a DTLS session is closed and the next attempt handshakes on a
 * new one.
 *
 * Device management requests arrive at the context's unknown-resource
 * handler and are dispatched by the session's app data. Reads are served
 * from the store (after ops->read, which may refresh it first); Writes and
 * Executes go to the endpoint's ops table, which
 * may complete later (the client then answers with a separate response:
 * empty ACK now, CON response when done() is called). A NULL op applies a
 * Write to the store directly.
 *
 * Bootstrap (client-initiated, LwM2M 1.1): an endpoint with a bootstrap_uri
 * and no usable stored result sends POST /bs?ep=&pct= to the
 * Bootstrap-Server and serves its Bootstrap-Write, -Read (/1 only: /0
 * holds keys, 4.01), -Discover, -Delete and -Finish on that session. The
 * /0 and /1 instances it writes are kept by the client, not in the store;
 * Finish checks them (a /0 server account, NoSec or PSK, with a matching
 * /1 instance; else 4.06), stores them in state_dir, copies the /1
 * instance to the store's /1/0 and registers with that server. No Finish
 * in time, a refusal or a DTLS failure: retried with backoff. Registration
 * failing bootstrap_after_failures times in a row, or the server executing
 * /1/0/9 (Bootstrap-Request Trigger): bootstrap again.
 *
 * Information reporting: Observe / Observe-Composite requests start
 * observations in the pure observation engine (lwm2m/observe.h), which
 * keeps the Write-Attributes and decides when to notify; its one deadline is
 * one more timer of the heap. Values reach it through lwm2m_endpoint_set() or
 * lwm2m_endpoint_value_changed(). Send (POST /dp) pushes chosen values.
 *
 * Observations are bounded: one server holds at most max_observations on
 * an endpoint's own tree and as many on each Object 25 device. An Observe
 * (or Observe-Composite, which counts as one whatever its paths) beyond
 * the bound is answered 5.03 Service Unavailable with the diagnostic
 * payload "too many observations" and no Observe option: an error the
 * server cannot take for an established observation (RFC 7641 §4.1 lets a
 * server that will not add an observer answer as a plain Read, 2.05 without
 * Observe, but servers such as Leshan then report a successful Observe with
 * nothing behind it; the operator must see the refusal). 4.13 was the other
 * choice issue 11 named; it is about a request's size. The first refusal while at the bound is logged as a
 * warning, and each counts in obs_refused. A GET or FETCH with an Observe option whose token is in use ends
 * that observation first (RFC 7641 §4.1: the entry is keyed by endpoint and token; the token alone is
 * matched, so a cancel whose path or options differ from the Observe's, against §3.6, still ends it): Observe
 * 1 cancels it whatever the answer to the Read (4.04, 4.06...); Observe 0 replaces it by what this request
 * establishes, so a refresh never counts twice, and a re-registration
 * answered with an error leaves no observation behind. A new registration
 * ends every observation of the endpoint (and its devices).
 *
 * Notifications are Non-confirmable; one is Confirmable when the
 * observation's last CON is con_period_s old (or when the engine says so).
 * A Reset answering a notification cancels its observation: for a CON
 * through libcoap's nack handler; for a NON by its message id (libcoap
 * 4.3.1 reports that Reset only in its log line "got RST for mid=...",
 * which the client's libcoap log handler reads; newer libcoap also calls
 * the nack handler). That line does not name the session, and message ids
 * are per session: a NON notification therefore skips ids that another
 * NON of the client used in the last 30 s, so that the id names one
 * observation. libcoap sends one CON at a time per session (NSTART
 * 1), so a CON notification the server never acknowledges holds back the
 * endpoint's Update until libcoap gives it up (MAX_TRANSMIT_WAIT). To keep
 * that to ONE exchange and the registration alive, a notification due as
 * CON goes out as NON (and the next one tries CON again) while a CON of the
 * endpoint may still be in flight (a notification less than
 * MAX_TRANSMIT_WAIT old, a registration request) or while the next Update
 * is less than MAX_TRANSMIT_WAIT away. A lifetime shorter than twice
 * MAX_TRANSMIT_WAIT therefore means NON notifications only.
 *
 * Nothing lost while the server is away (server.c, sf*.c, sfq*.c).
 * A server is found unreachable at once when an exchange with it gives up
 * without answer (Register, Update, Send, a confirmable notification, a
 * barrier ping) or an ICMP error says nobody listens (libcoap 4.3.1 reports
 * one on a session with only NON traffic in its log alone, which the client
 * reads as it reads Resets). Every registration with that server is then
 * taken as lost: its endpoints park and hold their values, and one Register
 * at a time probes the server, after a backoff with jitter (d/2..d, d
 * doubling from backoff_min/2 to probe_max_ms, 4 s). The first answer ends
 * the outage: the parked endpoints register again at reg_rate, so a server
 * coming back is never stormed and a few endpoints are back within about 4
 * s at any lifetime. A Reset to a notification still cancels its
 * observation (RFC 7641) and also sends an Update: a server that restarted
 * answers it 4.04 (registering again at once), one that only cancelled
 * answers 2.04; a 4.04 to an Update has the other endpoints of that server
 * confirm theirs with an Update too. A repeated request that changes
 * something (same message id and token) gets its first answer again and is
 * not run again (dedup.c).
 * What is kept, per target (endpoint or Object 25 device): every sample of a
 * historical resource (lwm2m_endpoint_set_historical), and while /1/0/6
 * Notification Storing is true (the default) every sample of an observed
 * resource that cannot be notified now, with its time of measurement (the
 * wall clock when the caller gave none). Observed resources keep being
 * kept after the server is lost until it observes them again (or 5 min
 * after the new registration): its observations end with the old
 * registration. Delivery once registered again, in order: Send (POST /dp,
 * SenML CBOR with times, sf_send_batch samples at a time, one in flight,
 * deleted on 2.xx, dropped and counted on 4.xx, retried on 5.xx) for LwM2M
 * 1.1 and later, and for 1.0 stored notifications (confirmable, one value
 * each, in the observation's format) once the server observes again. A
 * historical resource's samples always go by Send (1.1+), online too. A
 * notification's values count as delivered only when a barrier confirms
 * them: an empty CON (ping) or an Update/De-register sent after them came
 * back (libcoap sends one CON at a time per session); when the server is
 * lost first, they are held again. Delivery is at least once: a value may
 * arrive twice, never not at all unless counted in dropped. Bounds per
 * target (sf_max_samples, sf_max_bytes) and for all (sf_total_bytes): the
 * oldest held goes first and is counted. With a state_dir each target's
 * held samples are in "sf-<name>.q" (sfq.h: the format), written by a
 * detached job (common/job.h) within a second, synced within sf_sync_ms,
 * rewritten when mostly delivered, removed when empty; a restart delivers
 * them. Queue mode (binding UQ): an endpoint stays reachable queue_awake_ms
 * after the server's last exchange with it (Register, Update, a request),
 * then holds everything until its next Update.
 *
 * LwM2M Gateway mode (Object 25 v2.0): an endpoint may host child devices,
 * each with its own store and a prefix; requests whose first Uri-Path segment
 * is a device prefix go to that device's store, and the device's objects are
 * listed in /25/<n>/3 rather than in Register/Update.
 *
 * Targets: an application that hosts devices need not know which of the two
 * the server sees. It adds each as a struct lwm2m_target (see "targets"
 * below) and the client makes it an endpoint or an Object 25 device of the
 * gateway endpoint, by its target_mode.
 *
 * Logging: the client never logs by itself; it formats a message and calls
 * the log callback of its configuration. libcoap's own log is routed into the
 * same callback at LWM2M_LOG_DEBUG.
 *
 * Global state: libcoap forces two process-wide things on us — coap_startup()
 * (called once, idempotent inside libcoap) and the log handler
 * (coap_set_log_handler takes no user data), so the most recently created
 * client receives libcoap's log messages. The client also makes libcoap
 * show PDUs (debug level) through that log instead of printing them on
 * stdout (coap_set_show_pdu_output(0)). Nothing else is global.
 *
 * Threads: none. Every function here must be called from the thread running
 * the sd_event loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "lwm2m/lwm2m.h"

struct lwm2m_client;
struct lwm2m_endpoint;
struct lwm2m_device;
struct lwm2m_target;

/* syslog levels */
enum {
	LWM2M_LOG_ERR = 3,
	LWM2M_LOG_WARNING = 4,
	LWM2M_LOG_NOTICE = 5,
	LWM2M_LOG_INFO = 6,
	LWM2M_LOG_DEBUG = 7,
};

/* ep is the endpoint name or NULL for messages about the client (and
 * libcoap's). msg has no trailing newline and is valid during the call. */
typedef void (*lwm2m_log_fn)(void *ud, int level, const char *ep, const char *msg);

struct lwm2m_client_config {
	double reg_rate;             /* Register/Update messages per second; 0 = 50 */
	uint32_t backoff_min_ms;     /* first retry delay after a failure; 0 = 2000 */
	uint32_t backoff_max_ms;     /* 0 = 600000 (10 min) */
	uint32_t request_timeout_ms; /* a registration exchange without answer fails; 0 = 120000 */
	/* A DTLS handshake not complete after this fails (a wrong PSK often
	 * shows as silence: the peer's alerts cannot be decrypted); 0 = 15000 */
	uint32_t dtls_timeout_ms;
	/* Notifications are Non-confirmable except one Confirmable at least
	 * every con_period_s per observation (RFC 7641 §4.5: the client must
	 * learn at least every 24 h that the server is still interested);
	 * 0 = 86400. */
	uint32_t con_period_s;
	/* CoAP transmission parameters of every session (RFC 7252 §4.8);
	 * 0 = 2000 ms and 4. They bound how long a Confirmable message that
	 * gets no ACK occupies the session (MAX_TRANSMIT_WAIT, 93 s by
	 * default), see "Information reporting" above. */
	uint32_t ack_timeout_ms;
	uint8_t max_retransmit;
	/* Observations one server may hold on one endpoint's own tree, and on
	 * each Object 25 device of a gateway endpoint (each device is
	 * observed as a separate endpoint would be); 0 = 256. See
	 * "Information reporting" above for what happens beyond it. */
	uint32_t max_observations;
	lwm2m_log_fn log; /* may be NULL: no logging */
	void *log_ud;
	int log_level;      /* messages above this level are not even formatted; 0 = LWM2M_LOG_INFO */
	int coap_log_level; /* libcoap's own threshold (LOG_* of syslog.h); 0 = LOG_WARNING */
	/* Bootstrap (endpoints with a bootstrap_uri). state_dir: where each
	 * endpoint's bootstrap result is kept (one file per endpoint, mode
	 * 0600, replaced atomically) so that a restart registers without
	 * bootstrapping; NULL: not kept. Must outlive the client. */
	const char *state_dir;
	/* A bootstrap in which the Bootstrap-Server stays silent this long
	 * without Bootstrap-Finish fails (and is retried with backoff);
	 * 0 = 247000 (CoAP EXCHANGE_LIFETIME) */
	uint32_t bootstrap_timeout_ms;
	/* Register attempts with a bootstrapped server failing in a row before
	 * the endpoint bootstraps again; 0 = 3 */
	unsigned bootstrap_after_failures;
	/* Request bodies a server sends block-wise (RFC 7959 Block1): the
	 * client reassembles them itself (libcoap 4.3.1's reassembly can be
	 * crashed, docs/ARCHITECTURE.md), within these bounds. A body above
	 * block1_max_body bytes is answered 4.13 with Size1 (0 = 256 KiB,
	 * at least 1024); an endpoint receives at most block1_max_transfers
	 * bodies at once (0 = 4) and all endpoints together hold at most
	 * block1_budget bytes for them (0 = 4 MiB): a block beyond is
	 * answered 5.03 with Max-Age. A transfer that gets no block for
	 * block1_timeout_ms is forgotten (0 = MAX_TRANSMIT_WAIT of the
	 * transmission parameters above, 93 s by default). */
	size_t block1_max_body;
	unsigned block1_max_transfers;
	size_t block1_budget;
	uint32_t block1_timeout_ms;
	/* libcoap 4.3.1 itself keeps a record (~220 bytes) of every block-wise
	 * request with a Request-Tag (RFC 9175) it has not seen on a session,
	 * and frees them only with the session. After block1_max_tags distinct
	 * tags (0 = 32) a further one is answered 5.03 and the endpoint
	 * renews its session: closed (the records go with it), a new one
	 * opened, registered again (docs/ARCHITECTURE.md, "Block-wise
	 * requests"). */
	unsigned block1_max_tags;
	/* Store-and-forward ("Nothing lost while the server is away"
	 * above): a target (an endpoint's own tree, an Object 25 device)
	 * holds at most sf_max_samples samples (0 = 10000) and sf_max_bytes
	 * (0 = 512 KiB) of them, all targets together sf_total_bytes
	 * (0 = 32 MiB); bytes are counted as in the queue file (about 40 per
	 * number). Beyond, the oldest are dropped and counted. */
	uint32_t sf_max_samples;
	size_t sf_max_bytes;
	size_t sf_total_bytes;
	/* With a state_dir, held samples are written to a file per target
	 * from a writer thread within a second, and that file is synced
	 * (fdatasync) at most sf_sync_ms later (0 = 10000; 1: with every
	 * write). */
	uint32_t sf_sync_ms;
	/* Samples per Send (0 = 64), and how long after a notification its
	 * arrival is confirmed by a barrier (CoAP ping) (0 = 10000 ms: it
	 * only frees what a lost server would get again; Updates confirm
	 * too). */
	unsigned sf_send_batch;
	uint32_t sf_confirm_ms;
	/* A server found unreachable is probed by one Register of one of
	 * its endpoints, first after about backoff_min_ms/2, then at most
	 * every probe_max_ms (0 = 4000; jittered within [d/2, d]). */
	uint32_t probe_max_ms;
	/* Queue mode (binding UQ): an endpoint stays reachable this long
	 * after its last exchange with the server, then holds its values
	 * until its next Update (0 = MAX_TRANSMIT_WAIT, 93 s by default). */
	uint32_t queue_awake_ms;
	/* What a target (see "Targets" below) is to the server: its own
	 * endpoint (LWM2M_TARGETS_ENDPOINTS, the default) or an Object 25
	 * device of the gateway endpoint. lwm2m_client_set_target_mode()
	 * changes it for targets added afterwards. */
	int target_mode; /* enum lwm2m_target_mode */
};

/* Create the client and attach it to ev (which it references). reg provides
 * the object definitions (shared, must outlive the client). Returns 0 and
 * *out, or -ENOMEM, -EIO when libcoap cannot create its context. */
int lwm2m_client_new(sd_event *ev, const struct lwm2m_registry *reg, const struct lwm2m_client_config *cfg,
		     struct lwm2m_client **out);

/* De-register every endpoint (DELETE to its registration) and free them as
 * their answers arrive; done(ud) is called from the loop once all are gone
 * or after timeout_ms, whichever comes first (remaining ones are dropped).
 * No endpoint may be added afterwards. done must not free the client (exit
 * the loop, then call lwm2m_client_free()). Returns 0 or -EALREADY. */
int lwm2m_client_shutdown(struct lwm2m_client *c, uint32_t timeout_ms, void (*done)(void *ud), void *ud);

/* Change the pace of Register and Update messages (per second, > 0); the
 * next slot handed out follows it. -EINVAL for a rate not above 0. */
int lwm2m_client_set_reg_rate(struct lwm2m_client *c, double per_second);
/* Seconds from a Register (or Update) to the next Update of a registration
 * of this lifetime (seconds): N endpoints need N / this Updates per second
 * of reg_rate. For `fieldgate check`'s warning. */
double lwm2m_update_period(uint32_t lifetime);

/* Change the bound on observations per endpoint and per device (see
 * max_observations; 0 = 256). Running observations are kept even above a
 * lowered bound (ending them unasked would leave the server waiting for
 * notifications that never come); new ones are refused until cancellations
 * bring the count below it. Returns 0, or -EINVAL without a client. */
int lwm2m_client_set_max_observations(struct lwm2m_client *c, uint32_t n);

/* Free the client and every endpoint at once, without sending anything.
 * Accepts NULL. Stores passed to endpoints are not freed. */
struct lwm2m_client *lwm2m_client_free(struct lwm2m_client *c);

struct lwm2m_client_stats {
	size_t endpoints;       /* alive, including those de-registering */
	size_t registered;      /* currently registered */
	uint64_t registers;     /* Register messages sent */
	uint64_t updates;       /* Update messages sent */
	uint64_t failures;      /* registration exchanges that failed */
	uint64_t requests;      /* device management requests served */
	size_t pending_async;   /* writes/executes waiting for their done() */
	size_t observations;    /* active observations */
	uint64_t notifications; /* notifications sent */
	size_t block1_bodies;   /* block-wise request bodies being received */
	size_t block1_bytes;    /* memory they hold (see block1_budget) */
	uint64_t obs_refused;   /* Observe requests answered 5.03: bound reached */
	uint64_t renewals;      /* sessions renewed: block1_max_tags reached */
	/* Store-and-forward, all targets: samples held now and their bytes,
	 * and since start those held, delivered, dropped (bounds, refusals). */
	size_t sf_held, sf_bytes;
	uint64_t sf_queued, sf_delivered, sf_dropped;
	uint64_t servers_lost; /* times a server was found unreachable or restarted */
	uint64_t probes;       /* Registers sent to probe an unreachable server */
	uint64_t duplicates;   /* repeated requests answered without running them again */
};
void lwm2m_client_get_stats(const struct lwm2m_client *c, struct lwm2m_client_stats *st);

/* ---- endpoints ----------------------------------------------------------- */

enum lwm2m_binding {
	LWM2M_BINDING_U = 0, /* UDP */
	LWM2M_BINDING_UQ,    /* UDP, queue mode: "b=UQ" for 1.0, "b=U&Q" from 1.1 */
};

/* Public registration states (reported to ops->state). */
enum lwm2m_ep_state {
	LWM2M_EP_WAITING = 0, /* waiting for a registration slot or a retry */
	LWM2M_EP_REGISTERING, /* Register sent */
	LWM2M_EP_REGISTERED,  /* registered (Updates do not leave this state) */
	LWM2M_EP_DEREGISTERING,
	LWM2M_EP_BOOTSTRAPPING, /* Bootstrap-Request sent, served by the Bootstrap-Server */
};
const char *lwm2m_ep_state_name(enum lwm2m_ep_state s);

/* Completion of an asynchronous write or execute: err 0 (2.04 Changed) or a
 * negative errno mapped to a CoAP error (see lwm2m_errno_to_coap()). Call it
 * exactly once, from the loop's thread, at any time (also after the endpoint
 * was removed: the answer is then dropped). */
typedef void (*lwm2m_done_fn)(void *done_ctx, int err);

/* What the server's Write and Execute do. dev is NULL for the endpoint's own
 * tree, else the Object 25 device addressed. records and args are valid only
 * during the call (copy what is needed later). Return 0 when done() will be
 * (or already was) called, or a negative errno to answer at once without
 * calling done(). Writes to /1 and executes of /1 resources are handled by
 * the client and never reach these. */
struct lwm2m_endpoint_ops {
	/* NULL: write to the store directly (lwm2m_store_write). */
	int (*write)(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		     const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		     lwm2m_done_fn done, void *done_ctx);
	/* args: the raw argument text ("0='a',1"), already checked against the
	 * TS grammar; NULL op: executable resources answer 4.05. */
	int (*execute)(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		       const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		       void *done_ctx);
	/* Asked before a Read (GET without Observe) of path is answered, so
	 * that values older than their max_age can be fetched first. Return
	 * 0 to answer now from the store (done() must then not be called), 1
	 * when done() will be (or already was) called: the client sends an
	 * empty ACK and, at done(0), the Read's answer from the store as a
	 * separate response; at done(err) the stored value all the same if
	 * there is one (a stale value beats none, as HTTP's stale-if-error,
	 * RFC 5861), else err's CoAP code (5.03 for -EHOSTUNREACH). A
	 * negative errno answers that error at once. Read-Composite asks
	 * it for each name (one answer when all are done; an error for a name
	 * leaves it to the store). Not asked for Observe (nor the first
	 * answer of an Observe) or the client's own objects (/1, /25): those
	 * answer from the store. May be NULL. */
	int (*read)(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx);
	/* Registration state changes; err is the reason of a fall back to
	 * WAITING (negative errno: -ETIMEDOUT no answer, -ECONNREFUSED DTLS
	 * failure or RST, -EPROTO an error response...), 0 otherwise. May be
	 * NULL. */
	void (*state)(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err);
	/* The observations of the endpoint's own tree (dev NULL) or of a
	 * device changed: one started or ended, or attributes were written.
	 * Ask lwm2m_endpoint_observed() what is observed now. Called from
	 * inside the client's request handling: only note it and act later
	 * (e.g. from a deferred event). Not called once the endpoint or the
	 * device is being removed. May be NULL. */
	void (*observations_changed)(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev);
	/* Create (POST /oid) in the endpoint's own tree (dev NULL) or a
	 * device's, of an object the endpoint has: records hold the payload
	 * converted to the defined types, paths /oid/iid/rid with iid the
	 * one the server chose, or -1 when it left the choice to the
	 * endpoint. The op adds the instance to the store itself. Returns the
	 * new instance id (2.01 with its Location-Path, and an Update with
	 * the new object list), -ENOSYS to leave the request to the client
	 * (as with a NULL op: the instance is created in the store), or a
	 * negative errno with a one-line reason in why (sent as the error's
	 * diagnostic payload; may stay empty). Synchronous. May be NULL. */
	int (*create)(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev, uint16_t oid, int iid,
		      const struct lwm2m_records *records, char *why, size_t why_size);
	/* Delete of the existing instance path (/oid/iid): 0 allows it (the
	 * client removes the instance from the store if the op did not, ends
	 * its observations and answers 2.02), -ENOSYS leaves it to the
	 * client's own rules (as with a NULL op), another negative errno
	 * refuses it (-EPERM: 4.05). Synchronous. May be NULL. */
	int (*delete)(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		      const struct lwm2m_path *path);
	/* A Write (PUT or POST) of one resource /oid/iid/rid with a raw body
	 * (Content-Format application/octet-stream, 42), handed over block by
	 * block as the blocks arrive (RFC 7959 Block1) instead of assembled
	 * in memory: data is the body from offset on, flags
	 * LWM2M_STREAM_LAST on the final block (a request without Block1 is
	 * one block with it). LWM2M_STREAM_ABORT (data NULL, len 0): the
	 * transfer was given up (no next block in time, the session went
	 * away, the endpoint removed; once, not after an error the op
	 * returned); nothing is answered. Return 0 to go on (2.31 Continue;
	 * 2.04 Changed after the last block), a negative errno to end the
	 * transfer with its error (-EFBIG 4.13, the others as
	 * lwm2m_errno_to_coap() maps them: -ENOSPC is 5.00), or -ENOSYS on
	 * the first block (offset 0) to have the body assembled and passed
	 * to write() as usual. Only for the endpoint's own objects (not an
	 * Object 25 device's), never for Objects 0, 1, 21. A block out of
	 * order is 4.08 and ends the transfer (ABORT). A stream counts for
	 * block1_max_transfers and block1_timeout_ms, not block1_max_body.
	 * Synchronous. May be NULL. */
	int (*write_stream)(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			    const struct lwm2m_path *path, uint64_t offset, const uint8_t *data, size_t len,
			    unsigned flags);
};
enum {
	LWM2M_STREAM_LAST = 1u << 0,
	LWM2M_STREAM_ABORT = 1u << 1,
};

struct lwm2m_endpoint_config {
	const char *name; /* endpoint client name (ep=); copied */
	/* "coap://host[:port]" or "coaps://host[:port]"; host numeric (see
	 * server_name for the name resolved); copied */
	const char *server_uri;
	uint32_t lifetime; /* seconds; 0 = 86400 */
	enum lwm2m_binding binding;
	/* LwM2M version offered first: 10, 11 or 12; 0 = 11. 1.2 falls back to
	 * 1.1 then 1.0 when the server answers 4.12 Precondition Failed. */
	uint8_t version;
	uint16_t short_server_id; /* /1/0/0; 0 = 1 */
	/* Preferred content format, declared as ct= in Register and used for
	 * reads without Accept; 0 = SenML CBOR from 1.1, TLV for 1.0. */
	uint16_t content_format;
	/* DTLS PSK, required for coaps:// (copied). */
	const char *psk_identity;
	const uint8_t *psk_key;
	size_t psk_key_len;
	/* DTLS certificate mode instead of PSK (coaps://): PEM files of the
	 * endpoint's X.509 certificate and private key, and of the CA that
	 * the server's certificate must chain to (paths copied; endpoints may
	 * share the same files). Unless cert_no_verify (tests only), the
	 * server's certificate must verify against ca_file AND be the
	 * server's: name server_name, or the host of server_uri when that is
	 * NULL (RFC 6125: a subjectAltName dNSName with the usual left-most
	 * wildcard, an iPAddress for an IP address, the CN only without any
	 * dNSName; lwm2m/client/certname.h has the rules). Otherwise the
	 * handshake fails, and the log names the host expected and the names
	 * the certificate holds. */
	const char *cert_file;
	const char *key_file;
	const char *ca_file;
	bool cert_no_verify;
	/* The host the certificate must name (copied): the one the operator
	 * configured when server_uri holds the address it resolved to, or
	 * another name pinned. A DNS name (A-labels, one trailing dot allowed)
	 * or an IP address (IPv6 with or without brackets); anything else is
	 * -EINVAL. NULL: the host of server_uri. */
	const char *server_name;
	const struct lwm2m_endpoint_ops *ops; /* may be NULL; must outlive the endpoint */
	void *ops_ud;
	/* Client-initiated bootstrap: the LwM2M Bootstrap-Server,
	 * "coap://host[:port]" or "coaps://..." with its PSK (all copied).
	 * When set, server_uri, psk_*, lifetime, binding and short_server_id
	 * are not used: they come from the bootstrap (see "Bootstrap" above)
	 * or from its result kept in the client's state_dir. */
	const char *bootstrap_uri;
	const char *bootstrap_psk_identity;
	const uint8_t *bootstrap_psk_key;
	size_t bootstrap_psk_key_len;
	/* /1/0/6 Notification Storing When Disabled or Offline starts false
	 * (the TS default, and ours otherwise, is true). The server may write
	 * it either way. */
	bool storing_off;
	/* This endpoint is the gateway endpoint: in LWM2M_TARGETS_GATEWAY
	 * mode every target is an Object 25 device of it (at most one such
	 * endpoint; targets added before it wait for it). */
	bool gateway;
};

/* Create an endpoint and queue its registration (or its bootstrap, see
 * bootstrap_uri; server_uri may then be NULL). store is the caller's
 * (it must stay valid until lwm2m_endpoint_remove() returns... see there);
 * the client adds /1/0 to it (or updates an existing /1/0) with the Short
 * Server ID, Lifetime and Binding. Errors: -EINVAL (no name, bad URI, coaps
 * without PSK or certificate, certificate without key or CA, a server_name
 * that is neither a DNS name nor an IP address, lifetime out of range), -EPROTONOSUPPORT (coaps:// and this
 * libcoap has no DTLS), -ESHUTDOWN (client shutting down), -ENOMEM, -EIO (libcoap could not open the
 * session), or the store's error adding /1. */
int lwm2m_endpoint_add(struct lwm2m_client *c, const struct lwm2m_endpoint_config *cfg,
		       struct lwm2m_store *store, struct lwm2m_endpoint **out);
/* What lwm2m_endpoint_add() puts in a store without /1/0: one instance
 * and four values (/1/0/0, 1, 6 and 7), for a caller that sizes the store
 * (lwm2m_store_new_sized()) to hold them without growing. */
#define LWM2M_ENDPOINT_STORE_INSTANCES 1
#define LWM2M_ENDPOINT_STORE_VALUES    4

/* De-register (when registered) and free the endpoint in the background. The
 * store is not used any more once this returns: the caller may free it. Ops
 * still holding a done() may call it later. */
void lwm2m_endpoint_remove(struct lwm2m_endpoint *ep);

/* The endpoint's objects or instances changed (instances added or removed
 * by the gateway, objects declared): send an Update with the new object
 * list (paced). Returns 0. */
int lwm2m_endpoint_objects_changed(struct lwm2m_endpoint *ep);
/* From inside an op (write, execute) that is about to return a negative
 * errno: one line saying why, sent as the diagnostic payload of that
 * error response (copied). Ignored when the request is answered later. */
void lwm2m_endpoint_diagnostic(struct lwm2m_endpoint *ep, const char *why);

/* Send an Update now (paced), as the Registration Update Trigger does. */
int lwm2m_endpoint_trigger_update(struct lwm2m_endpoint *ep);

/* Declare an object the endpoint supports even without instances: it is
 * listed as </oid> in Register and Update, and the server may Create
 * instances of it. -ENOENT when the registry has no definition. Does not
 * send an Update by itself (call lwm2m_endpoint_objects_changed()). */
int lwm2m_endpoint_declare_object(struct lwm2m_endpoint *ep, uint16_t oid);

const char *lwm2m_endpoint_name(const struct lwm2m_endpoint *ep);
enum lwm2m_ep_state lwm2m_endpoint_state(const struct lwm2m_endpoint *ep);
struct lwm2m_store *lwm2m_endpoint_store(const struct lwm2m_endpoint *ep);
/* The LwM2M version of the current registration (10, 11, 12). */
uint8_t lwm2m_endpoint_version(const struct lwm2m_endpoint *ep);
/* Local UDP port of the endpoint's session, 0 when it has none. */
uint16_t lwm2m_endpoint_local_port(const struct lwm2m_endpoint *ep);
/* "/rd/5a3f" as assigned by the server, or NULL when not registered. */
const char *lwm2m_endpoint_location(const struct lwm2m_endpoint *ep);

/* Is p (a resource or resource instance of the endpoint's own tree, dev
 * NULL, or of a device) covered by an observation: one of p itself, of a
 * path above it, or of a path below it? Returns 1 and the smallest pmin (in
 * seconds, attributes in force at p with the server's default, 0 when
 * none) of those observations in *pmin_s, or 0 when p is not observed. */
int lwm2m_endpoint_observed(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			    const struct lwm2m_path *p, uint32_t *pmin_s);

/* Notification attributes written by the server at exactly path (no
 * inheritance applied) into *out; -ENOENT when none. dev NULL is the
 * endpoint's own tree. */
int lwm2m_endpoint_attrs(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			 const struct lwm2m_path *path, struct lwm2m_attrs *out);

/* ---- values and observations ------------------------------------------------ */

/* Set a resource (instance) value in the endpoint's store (dev NULL) or a
 * device's, and let observations of it notify as their attributes say.
 * Called outside a libcoap handler, each change that no attribute (pmin,
 * st, gt, lt, epmin) lets fold is notified, even several in one turn of
 * the loop: notifications already due leave before the value is stored.
 * Called from inside a libcoap handler (an ops callback of a request),
 * where nothing may be sent, values set before the next turn of the loop
 * are notified as one, the latest.
 * Errors of lwm2m_store_set(); -ESHUTDOWN after removal. */
int lwm2m_endpoint_set(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		       const struct lwm2m_value *v);
/* The values set since the last turn of the loop (or the last call) made
 * notifications due: send them now instead of at the next turn. For an
 * application that sets the several values of one field message one by
 * one (an MQTT message with several fields): called after the last, each
 * observation gets one notification for the whole message, and it leaves
 * before the application reads its next message rather than after the
 * whole batch and a turn of the loop (issue 13 target 3). Nothing may be
 * sent from inside a libcoap handler: there (and with nothing due) it does
 * nothing, and what is due leaves at the next turn as without the call. */
void lwm2m_client_flush(struct lwm2m_client *c);
/* The same with the time of measurement (lwm2m_store_set_at): notifications
 * and reads in SenML / LwM2M CBOR and JSON carry it. */
int lwm2m_endpoint_set_at(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
			  const struct lwm2m_value *v, double time);
/* The caller changed (or removed) the value at p in the store itself, e.g.
 * in an ops->write: same effect on observations as lwm2m_endpoint_set().
 * -EINVAL when p is not a resource or resource instance. */
int lwm2m_endpoint_value_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
				 const struct lwm2m_path *p);

/* Send (LwM2M 1.1, POST /dp): push the current values at paths of the
 * endpoint's store (dev NULL) or a device's (names then carry its prefix) as
 * SenML CBOR. Fire and forget: a refusal by the server is logged. Errors:
 * -ENOTCONN (not registered), -EPROTONOSUPPORT (registered as 1.0),
 * -ENOENT/-EPERM (a path cannot be read), -EINVAL, -ENOMEM, -EIO. */
int lwm2m_endpoint_send(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *paths,
			size_t n);

/* ---- store-and-forward ------------------------------------------------------ */

/* lwm2m_endpoint_set_at() for a historical resource: every sample of it is
 * kept for the server, observed or not (see "Nothing lost while the
 * server is away"): while the endpoint cannot reach its server, and while
 * it can but the server does not observe the resource (LwM2M 1.1+: it is
 * delivered with Send). time 0: now. */
int lwm2m_endpoint_set_historical(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
				  const struct lwm2m_path *p, const struct lwm2m_value *v, double time);

struct lwm2m_sf_stats {
	size_t held;        /* samples held now (not yet delivered) */
	size_t bytes;       /* their bytes (as counted by the bounds) */
	uint64_t queued;    /* samples held since the target was added */
	uint64_t delivered; /* of those: delivered (acknowledged) */
	uint64_t dropped;   /* dropped (bounds, refused by the server)... */
	/* ...of which a notification had carried this many before the server
	 * was lost (they may have arrived: their arrival was not confirmed) */
	uint64_t dropped_sent;
};
/* The store-and-forward counters of the endpoint's own tree (dev NULL) or
 * of a device. */
void lwm2m_endpoint_sf_stats(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			     struct lwm2m_sf_stats *out);

/* ---- LwM2M Gateway (Object 25 v2.0) ------------------------------------- */

/* Host a child device on a gateway endpoint: creates /25/<n> in the
 * endpoint's store with 0 Device ID, 1 Prefix and 3 IoT Device Objects (the
 * CoRE link list of store's instances), routes requests addressed
 * /<prefix>/... to store, and sends an Update. prefix: 1..64 characters of
 * [A-Za-z0-9_.~-], not all digits, unique on the endpoint. Both strings are
 * copied; store must stay valid until the device is removed. -EINVAL,
 * -EEXIST (prefix in use), -ENOENT (registry lacks Object 25), -ENOMEM. */
int lwm2m_endpoint_add_device(struct lwm2m_endpoint *ep, const char *prefix, struct lwm2m_store *store,
			      const char *device_id, struct lwm2m_device **out);
/* Remove the device and its /25 instance and send an Update. */
void lwm2m_device_remove(struct lwm2m_device *dev);
/* The device's instances changed: refresh /25/<n>/3. */
int lwm2m_device_objects_changed(struct lwm2m_device *dev);
const char *lwm2m_device_prefix(const struct lwm2m_device *dev);
struct lwm2m_store *lwm2m_device_store(const struct lwm2m_device *dev);
struct lwm2m_endpoint *lwm2m_device_endpoint(const struct lwm2m_device *dev);

/* ---- targets ------------------------------------------------------------------ */

/*
 * A target is what the server sees as one device: an endpoint of its own,
 * or an Object 25 device of the gateway endpoint. Which one is the
 * client's decision (a client-level mode, below); the application creates
 * a target with its store, its operations and its user data, and addresses
 * it by handle: set a value, ask whether a resource is observed, its
 * presence (registration state), remove it. Its operations receive the
 * target and the user data, never an (endpoint, device) pair, so that the
 * application never needs to know the mode.
 *
 * In gateway mode a target added while there is no gateway endpoint (see
 * lwm2m_endpoint_config.gateway; or none of the name it asks for) waits; it becomes an Object 25 device of
 * the gateway endpoint when that one is added, and waits again when it is
 * removed. Its presence is the gateway endpoint's registration state.
 * Meanwhile set values go to its store and nothing is observed.
 *
 * Targets belong to the client: lwm2m_client_free() frees those left.
 */
enum lwm2m_target_mode {
	LWM2M_TARGETS_ENDPOINTS = 0, /* each target registers as its own endpoint */
	LWM2M_TARGETS_GATEWAY,       /* each target is an Object 25 device of the gateway endpoint */
};

/* Set the mode for targets added from now on (targets already added keep
 * theirs). -EINVAL for an unknown mode. */
int lwm2m_client_set_target_mode(struct lwm2m_client *c, enum lwm2m_target_mode mode);

/* The server's requests to a target, as lwm2m_endpoint_ops (same contracts,
 * same NULL meanings) but with the target and its user data. */
struct lwm2m_target_ops {
	int (*write)(void *ud, struct lwm2m_target *t, const struct lwm2m_path *path,
		     const struct lwm2m_records *records, bool replace, lwm2m_done_fn done, void *done_ctx);
	int (*execute)(void *ud, struct lwm2m_target *t, const struct lwm2m_path *path, const char *args,
		       size_t args_len, lwm2m_done_fn done, void *done_ctx);
	int (*read)(void *ud, struct lwm2m_target *t, const struct lwm2m_path *path, lwm2m_done_fn done,
		    void *done_ctx);
	/* Presence: the registration state of the target's endpoint (in
	 * gateway mode the gateway endpoint's, err then always 0: the gateway
	 * endpoint's own ops get the reason). Also called when a waiting
	 * target becomes an Object 25 device. */
	void (*state)(void *ud, struct lwm2m_target *t, enum lwm2m_ep_state st, int err);
	void (*observations_changed)(void *ud, struct lwm2m_target *t);
};

struct lwm2m_target_config {
	/* Endpoint mode: the endpoint (its name, server, keys...; ops, ops_ud
	 * and gateway are ignored). NULL in endpoint mode: -EAGAIN (the
	 * caller does not know its server yet). Not used in gateway mode. */
	const struct lwm2m_endpoint_config *endpoint;
	/* Gateway mode: the Object 25 prefix and Device ID (see
	 * lwm2m_endpoint_add_device()); not copied: they must stay valid
	 * until lwm2m_target_remove() (a gateway's thousands of targets). */
	const char *prefix;
	const char *device_id;
	/* Gateway mode, several gateway endpoints: the name of the one that
	 * hosts the device (copied; the target waits until an endpoint of that
	 * name is added with lwm2m_endpoint_config.gateway), and its Object 25
	 * instance id when iid_fixed (-EEXIST when taken), so that a device
	 * keeps its place across restarts. NULL: the gateway endpoint added
	 * last, the lowest free instance id. */
	const char *gateway;
	bool iid_fixed;
	uint16_t iid;
	struct lwm2m_store *store;          /* the caller's, valid until lwm2m_target_remove() */
	const struct lwm2m_target_ops *ops; /* may be NULL; must outlive the target */
	void *ud;
};

/* Add a target in the client's current mode. Errors: -EAGAIN (see
 * endpoint above), those of lwm2m_endpoint_add() (endpoint mode) and of
 * lwm2m_endpoint_add_device() (gateway mode, when the gateway endpoint is
 * there), -EINVAL, -ENOMEM. */
int lwm2m_target_add(struct lwm2m_client *c, const struct lwm2m_target_config *cfg,
		     struct lwm2m_target **out);
/* De-register (endpoint) or remove the Object 25 instance, and free the
 * target. The store is not used any more once this returns. */
void lwm2m_target_remove(struct lwm2m_target *t);

/* lwm2m_endpoint_set_at() / _set_historical() on the target (time 0:
 * unknown, now for historical ones). A waiting target's store is set. */
int lwm2m_target_set(struct lwm2m_target *t, const struct lwm2m_path *p, const struct lwm2m_value *v,
		     double time, bool historical);
/* lwm2m_endpoint_value_changed() on the target (0 while waiting). */
int lwm2m_target_value_changed(struct lwm2m_target *t, const struct lwm2m_path *p);
/* lwm2m_endpoint_observed() on the target (0 while waiting). */
int lwm2m_target_observed(const struct lwm2m_target *t, const struct lwm2m_path *p, uint32_t *pmin_s);
/* Presence: the registration state of what the server sees of the target
 * (LWM2M_EP_WAITING while waiting). */
enum lwm2m_ep_state lwm2m_target_state(const struct lwm2m_target *t);
/* The endpoint name the server knows the target by (its own, or the gateway
 * endpoint's), NULL while waiting. */
const char *lwm2m_target_endpoint_name(const struct lwm2m_target *t);
/* lwm2m_endpoint_sf_stats() of the target (zeros while waiting). */
void lwm2m_target_sf_stats(const struct lwm2m_target *t, struct lwm2m_sf_stats *out);
struct lwm2m_store *lwm2m_target_store(const struct lwm2m_target *t);
/* Notifications sent for the target since it was added (observations and
 * held values delivered as notifications; not Send), whatever its
 * endpoint or gateway endpoint did meanwhile. */
uint64_t lwm2m_target_notifications(const struct lwm2m_target *t);

/* ---- errors ---------------------------------------------------------------- */

/* The CoAP response code (class*32 + detail, e.g. 132 for 4.04) for a
 * negative errno, following lwm2m.h's conventions: -EBADMSG/-EINVAL/-ERANGE/
 * -EEXIST 4.00, -EACCES 4.01, -ENOENT 4.04, -EPERM 4.05, -ENOTSUP 4.06,
 * -EPROTONOSUPPORT 4.15, -ETIMEDOUT/-EHOSTUNREACH/-EAGAIN/-EBUSY 5.03,
 * -ETIME 5.04 (a field device's confirmation did not arrive in time),
 * anything else 5.00. 0 gives 2.04. */
uint8_t lwm2m_errno_to_coap(int err);
