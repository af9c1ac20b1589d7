/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client: its life cycle, the one heap of deadlines that every
 * endpoint shares, registration pacing and logging (its libcoap contexts
 * in the loop: cctx.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "request.h"

/* libcoap's log handler takes no user data: the most recent client gets
 * libcoap's messages (see client.h, "Global state"). */
static struct lwm2m_client *coap_log_client;

/* ---- logging ---------------------------------------------------------------- */

void fg_log(const struct lwm2m_client *c, int level, const char *ep, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!fg_log_enabled(c, level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->cfg.log(c->cfg.log_ud, level, ep, msg);
}

static void coap_log_cb(coap_log_t level, const char *message)
{
	struct lwm2m_client *c = coap_log_client;
	char msg[512];
	size_t n;

	/* libcoap 4.3.1 reports a Reset answering a Non-confirmable message
	 * (a notification: the server cancels the observation) only here. */
	if (c && level == LOG_ALERT && !strncmp(message, "got RST for mid=0x", 18))
		fg_obs_reset(c, NULL, (coap_mid_t)strtoul(message + 18, NULL, 16));
	if (c && level <= LOG_WARNING && strstr(message, " DTLS: "))
		fg_ep_cert_log_line(c, message);
	/* libcoap 4.3.1 reports an ICMP error on a session (the server's
	 * port closed: its process is gone) only here, unless a confirmable
	 * message was waiting (then the nack handler hears of it too). */
	if (c && level <= LOG_WARNING && strstr(message, "coap_network_read: ICMP"))
		fg_srv_icmp_log_line(c, message);
	if (!c || !fg_log_enabled(c, LWM2M_LOG_DEBUG))
		return;
	n = strlen(message);
	while (n && (message[n - 1] == '\n' || message[n - 1] == '\r'))
		n--;
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	memcpy(msg, message, n);
	msg[n] = '\0';
	c->cfg.log(c->cfg.log_ud, LWM2M_LOG_DEBUG, NULL, msg);
}

/* ---- the heap of deadlines -------------------------------------------------- */

uint64_t fg_now(const struct lwm2m_client *c)
{
	uint64_t now;

	if (sd_event_now(c->ev, CLOCK_MONOTONIC, &now) < 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	}
	return now;
}

void fg_timer_init(struct fg_timer *t, fg_timer_fn fn)
{
	t->when = 0;
	t->idx = FG_TIMER_IDLE;
	t->fn = fn;
}

static void heap_set(struct lwm2m_client *c, size_t i, struct fg_timer *t)
{
	c->heap[i] = t;
	t->idx = i;
}

static void heap_up(struct lwm2m_client *c, size_t i)
{
	struct fg_timer *t = c->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (c->heap[p]->when <= t->when)
			break;
		heap_set(c, i, c->heap[p]);
		i = p;
	}
	heap_set(c, i, t);
}

static void heap_down(struct lwm2m_client *c, size_t i)
{
	struct fg_timer *t = c->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		uint64_t mw = t->when;

		if (l < c->nheap && c->heap[l]->when < mw) {
			m = l;
			mw = c->heap[l]->when;
		}
		if (l + 1 < c->nheap && c->heap[l + 1]->when < mw)
			m = l + 1;
		if (m == i)
			break;
		heap_set(c, i, c->heap[m]);
		i = m;
	}
	heap_set(c, i, t);
}

static void heap_rearm(struct lwm2m_client *c)
{
	if (!c->heap_timer || !c->heap_due || c->dispatching)
		return;
	if (c->nheap == 0) {
		sd_event_source_set_enabled(c->heap_timer, SD_EVENT_OFF);
		sd_event_source_set_enabled(c->heap_due, SD_EVENT_OFF);
		return;
	}
	/* A deadline already reached (a notification made due by a new
	 * value, a slot free now) runs from a defer source at the next turn
	 * of the loop: the timer's 1 ms accuracy would let sd-event hold it
	 * up to a millisecond, which was most of a field change's path to
	 * its Notify (1.3 ms at p50). */
	if (c->heap[0]->when <= fg_now(c)) {
		sd_event_source_set_enabled(c->heap_timer, SD_EVENT_OFF);
		sd_event_source_set_enabled(c->heap_due, SD_EVENT_ONESHOT);
		return;
	}
	sd_event_source_set_enabled(c->heap_due, SD_EVENT_OFF);
	sd_event_source_set_time(c->heap_timer, c->heap[0]->when);
	sd_event_source_set_enabled(c->heap_timer, SD_EVENT_ONESHOT);
}

int fg_timer_arm(struct lwm2m_client *c, struct fg_timer *t, uint64_t when)
{
	if (t->idx != FG_TIMER_IDLE) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			heap_up(c, t->idx);
		else
			heap_down(c, t->idx);
	} else {
		if (c->nheap == c->capheap) {
			size_t cap = c->capheap ? c->capheap * 2 : 64;
			struct fg_timer **v = realloc(c->heap, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			c->heap = v;
			c->capheap = cap;
		}
		t->when = when;
		heap_set(c, c->nheap++, t);
		heap_up(c, t->idx);
	}
	heap_rearm(c);
	return 0;
}

void fg_timer_disarm(struct lwm2m_client *c, struct fg_timer *t)
{
	size_t i = t->idx;

	if (i == FG_TIMER_IDLE)
		return;
	t->idx = FG_TIMER_IDLE;
	c->nheap--;
	if (i != c->nheap) {
		struct fg_timer *last = c->heap[c->nheap];

		heap_set(c, i, last);
		if (i > 0 && c->heap[(i - 1) / 2]->when > last->when)
			heap_up(c, i);
		else
			heap_down(c, i);
	}
	heap_rearm(c);
}

static void heap_dispatch(struct lwm2m_client *c)
{
	uint64_t now = fg_now(c);

	/* Deadlines in the past fire in order; a callback may arm timers
	 * again (even itself), so the top is re-read each time. A bounded
	 * number per turn keeps the loop responsive with 10,000 endpoints. */
	c->dispatching = true;
	for (unsigned n = 0; n < 4096 && c->nheap && c->heap[0]->when <= now; n++) {
		struct fg_timer *t = c->heap[0];

		c->dispatching = true;
		fg_timer_disarm(c, t);
		t->fn(c, t);
	}
	c->dispatching = false;
	heap_rearm(c);
}

static int on_heap_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	(void)s;
	(void)usec;
	heap_dispatch(ud);
	return 0;
}

static int on_heap_due(sd_event_source *s, void *ud)
{
	(void)s;
	heap_dispatch(ud);
	return 0;
}

/* ---- pacing and randomness ---------------------------------------------- */

uint64_t fg_client_take_slot(struct lwm2m_client *c)
{
	uint64_t now = fg_now(c), at = c->next_slot > now ? c->next_slot : now;

	c->next_slot = at + c->reg_interval;
	return at;
}

uint64_t fg_client_backoff(struct lwm2m_client *c, uint64_t min_us, uint64_t max_us, unsigned *attempts)
{
	uint64_t d = min_us ? min_us : 1;

	for (unsigned i = 0; i < *attempts && d < max_us; i++)
		d *= 2;
	if (d > max_us)
		d = max_us;
	if (*attempts < 64)
		(*attempts)++;
	/* Uniform in [d/2, d]: what failed together (a server gone) does
	 * not come back together. */
	return d / 2 + fg_client_random(c) % (d / 2 + 1);
}

uint64_t fg_client_random(struct lwm2m_client *c)
{
	uint64_t x = c->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	c->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* ---- life cycle ------------------------------------------------------------ */

static void set_defaults(struct lwm2m_client_config *cfg)
{
	if (!(cfg->reg_rate > 0))
		cfg->reg_rate = 50;
	if (!cfg->backoff_min_ms)
		cfg->backoff_min_ms = 2000;
	if (!cfg->backoff_max_ms)
		cfg->backoff_max_ms = 600000;
	if (cfg->backoff_max_ms < cfg->backoff_min_ms)
		cfg->backoff_max_ms = cfg->backoff_min_ms;
	if (!cfg->request_timeout_ms)
		cfg->request_timeout_ms = 120000;
	if (!cfg->dtls_timeout_ms)
		cfg->dtls_timeout_ms = 15000;
	if (!cfg->log_level)
		cfg->log_level = LWM2M_LOG_INFO;
	if (!cfg->coap_log_level)
		cfg->coap_log_level = LOG_WARNING;
	if (!cfg->block1_max_body)
		cfg->block1_max_body = 256 * 1024;
	if (cfg->block1_max_body < 1024)
		cfg->block1_max_body = 1024; /* one block of the largest size */
	if (!cfg->block1_max_transfers)
		cfg->block1_max_transfers = 4;
	if (!cfg->block1_max_tags)
		cfg->block1_max_tags = 32;
	if (!cfg->block1_budget)
		cfg->block1_budget = 4 * 1024 * 1024;
	{
		/* MAX_TRANSMIT_WAIT (RFC 7252 §4.8.2): the longest a client
		 * may try to get the next block to us, and the longest a
		 * queue-mode server waits for us after an exchange. */
		uint64_t ack = cfg->ack_timeout_ms ? cfg->ack_timeout_ms : 2000;
		unsigned mr = cfg->max_retransmit ? cfg->max_retransmit : 4;
		uint64_t ms = ack * ((2ull << (mr > 20 ? 20 : mr)) - 1) * 3 / 2;
		uint32_t mtw = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;

		if (!cfg->block1_timeout_ms)
			cfg->block1_timeout_ms = mtw;
		if (!cfg->queue_awake_ms)
			cfg->queue_awake_ms = mtw;
	}
}

int lwm2m_client_set_reg_rate(struct lwm2m_client *c, double per_second)
{
	if (!c || !(per_second > 0))
		return -EINVAL;
	c->cfg.reg_rate = per_second;
	c->reg_interval = (uint64_t)(1e6 / per_second);
	if (c->reg_interval == 0)
		c->reg_interval = 1;
	return 0;
}

int lwm2m_client_new(sd_event *ev, const struct lwm2m_registry *reg, const struct lwm2m_client_config *cfg,
		     struct lwm2m_client **out)
{
	struct lwm2m_client *c;
	int r;

	if (!ev || !reg || !out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (cfg)
		c->cfg = *cfg;
	set_defaults(&c->cfg);
	c->ev = sd_event_ref(ev);
	c->reg = reg;
	(void)lwm2m_client_set_reg_rate(c, c->cfg.reg_rate);
	if (getrandom(&c->rng, sizeof(c->rng), GRND_NONBLOCK) != sizeof(c->rng))
		c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	c->rng |= 1; /* xorshift must not start at 0 */
	fg_timer_init(&c->shutdown_timer, NULL);

	coap_startup();
	coap_log_client = c;
	coap_set_log_handler(coap_log_cb);
	/* libcoap prints PDUs (debug level) with fprintf on stdout unless
	 * told to use its log, which is ours: stdout may be a protocol. */
	coap_set_show_pdu_output(0);
	coap_set_log_level((coap_log_t)c->cfg.coap_log_level);

	r = fg_obs_init(c);
	if (r < 0)
		goto fail;
	r = fg_sf_init(c);
	if (r < 0)
		goto fail;
	r = fg_cctx_init(c);
	if (r < 0)
		goto fail;
	/* 1 ms accuracy: pacing and Update deadlines need no more, and a
	 * coarser one would let sd-event batch slots together. */
	r = sd_event_add_time(ev, &c->heap_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_heap_timer, c);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(c->heap_timer, SD_EVENT_OFF);
	r = sd_event_add_defer(ev, &c->heap_due, on_heap_due, c);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(c->heap_due, SD_EVENT_OFF);
	*out = c;
	return 0;
fail:
	lwm2m_client_free(c);
	return r;
}

/* The completion of a shutdown is always reported from the heap dispatch,
 * never from inside the call that freed the last endpoint. */
void fg_client_endpoint_gone(struct lwm2m_client *c, struct lwm2m_endpoint *ep)
{
	(void)ep;
	if (c->shutting_down && c->nep == 0 && c->shutdown_done)
		fg_timer_arm(c, &c->shutdown_timer, fg_now(c));
}

static void on_shutdown_deadline(struct lwm2m_client *c, struct fg_timer *t)
{
	void (*done)(void *) = c->shutdown_done;

	(void)t;
	if (c->nep)
		fg_log(c, LWM2M_LOG_WARNING, NULL,
		       "shutdown: %zu endpoint(s) did not finish de-registering in time", c->nep);
	while (c->eps)
		fg_ep_free(c->eps);
	/* Values held for the server are written (and synced) first: the
	 * next start delivers them. The write's end calls this again. */
	if (!c->sf.final) {
		fg_sf_final_flush(c);
		if (fg_sf_flushing(c))
			return;
	} else if (fg_sf_flushing(c)) {
		return;
	}
	c->shutdown_done = NULL;
	if (done)
		done(c->shutdown_ud);
}

int lwm2m_client_shutdown(struct lwm2m_client *c, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
	if (c->shutting_down)
		return -EALREADY;
	c->shutting_down = true;
	c->shutdown_done = done;
	c->shutdown_ud = ud;
	c->shutdown_timer.fn = on_shutdown_deadline;
	fg_timer_arm(c, &c->shutdown_timer, fg_now(c) + (uint64_t)timeout_ms * 1000u);
	for (struct lwm2m_endpoint *ep = c->eps; ep; ep = ep->next)
		lwm2m_endpoint_remove(ep);
	if (c->nep == 0)
		fg_timer_arm(c, &c->shutdown_timer, fg_now(c));
	return 0;
}

struct lwm2m_client *lwm2m_client_free(struct lwm2m_client *c)
{
	if (!c)
		return NULL;
	fg_target_free_all(c);
	while (c->eps)
		fg_ep_free(c->eps);
	fg_sf_free(c);
	fg_srv_free_all(c);
	c->heap_timer = sd_event_source_disable_unref(c->heap_timer);
	c->heap_due = sd_event_source_disable_unref(c->heap_due);
	fg_cctx_free_all(c);
	fg_obs_free(c);
	if (coap_log_client == c) {
		coap_log_client = NULL;
		coap_set_log_handler(NULL);
	}
	free(c->heap);
	sd_event_unref(c->ev);
	free(c);
	return NULL;
}

void lwm2m_client_get_stats(const struct lwm2m_client *c, struct lwm2m_client_stats *st)
{
	*st = c->stats;
	fg_sf_stats(c, st);
	st->endpoints = c->nep;
	st->block1_bodies = c->nb1;
	st->block1_bytes = c->b1_bytes;
}

uint8_t lwm2m_errno_to_coap(int err)
{
	static const struct {
		int err;
		uint8_t code;
	} map[] = {
		{ 0, COAP_RESPONSE_CODE(204) },
		{ -EBADMSG, COAP_RESPONSE_CODE(400) },
		{ -EINVAL, COAP_RESPONSE_CODE(400) },
		{ -ERANGE, COAP_RESPONSE_CODE(400) },
		{ -EEXIST, COAP_RESPONSE_CODE(400) },
		{ -EACCES, COAP_RESPONSE_CODE(401) },
		{ -ENOENT, COAP_RESPONSE_CODE(404) },
		{ -EPERM, COAP_RESPONSE_CODE(405) },
		{ -ENOTSUP, COAP_RESPONSE_CODE(406) },
		{ -EPROTONOSUPPORT, COAP_RESPONSE_CODE(415) },
		{ -E2BIG, COAP_RESPONSE_CODE(413) },
		{ -ETIMEDOUT, COAP_RESPONSE_CODE(503) },
		{ -EHOSTUNREACH, COAP_RESPONSE_CODE(503) },
		{ -EAGAIN, COAP_RESPONSE_CODE(503) },
		{ -EBUSY, COAP_RESPONSE_CODE(503) },
		/* The field device took the request but its confirmation
		 * did not come in time (an MQTT state echo): 5.04. */
		{ -ETIME, COAP_RESPONSE_CODE(504) },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].err == err)
			return map[i].code;
	return COAP_RESPONSE_CODE(500);
}
