/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MQTT bridge (bridge_kind_mqtt): one broker connection per bridge
 * instance, libmosquitto driven from the sd-event loop.
 *
 * Event loop: the socket is watched for EPOLLIN (mosquitto_loop_read) and,
 * only while mosquitto_want_write(), EPOLLOUT (mosquitto_loop_write);
 * mosquitto_loop_misc runs on a 1 s timer (keepalive pings). Nothing here
 * blocks: a numeric broker address is connected with
 * mosquitto_connect_bind_async (a non-blocking connect), a host name is
 * resolved first on a short-lived thread and the numeric address it gives
 * is connected (the certificate is still checked against the name).
 *
 * Each connection attempt gets a fresh struct mosquitto: after a failure
 * the old one (and its socket) is destroyed outside any libmosquitto
 * callback, and the next attempt waits an exponential backoff with jitter,
 * forever. On every CONNACK all subscriptions are sent again (QoS 1 by
 * default, clean session off: the broker keeps what was published while
 * the gateway was away), and the retained status topic says "online"; the
 * last will says "offline".
 *
 * MQTT 5 by default, because only its CONNECT can tell the broker the
 * largest packet we take (Maximum Packet Size = max_payload + room for the
 * topic and properties): the broker then drops a longer message instead of
 * sending it, and libmosquitto, which reads every packet whole into memory
 * whatever its size, never sees it. A broker that refuses version 5
 * (CONNACK "unacceptable protocol version") is spoken to in 3.1.1 from the
 * next attempt on (protocol: auto), said once in the log: there nothing
 * bounds what a message costs before it is dropped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bridges/mqtt/mqtt_conf.h"
#include "bridges/mqtt/mqtt_internal.h"
#include "common/log.h"
#include "common/resolve.h"
#include "common/schema.h"

#define MISC_PERIOD_USEC (1000000ULL)
#define BAD_LOG_USEC     (10ULL * 1000000ULL)
#define REJECTED_MAX     256
#define PENDING_MAX      256 /* availability of devices not created yet */
#define OTA_PARKED_MAX   64  /* Object 5 state machines of devices being rebuilt */

enum conn_state { ST_IDLE, ST_RESOLVING, ST_CONNECTING, ST_CONNECTED, ST_WAITING };

struct dev {
	/* Its name, then the names and values its address binds, each
	 * NUL-terminated, in one block: dev_bind() makes the struct
	 * mqtt_binding from it when one is needed (that struct has room for
	 * MQTT_TEMPLATE_MAX_CAPTURES: 200 bytes a device if kept here). At the
	 * end of the struct: one allocation a device. */
	uint8_t nbind;
	bool discovered : 1;
	bool stale : 1;       /* not heard for unreachable_after */
	bool bad_counted : 1; /* msg_seen is counted in bad (bad() follows received()) */
	uint8_t offline;      /* bit i: availability topic i said offline */
	unsigned npoints;     /* beside the bytes above: no padding */
	uint64_t heard;       /* CLOCK_MONOTONIC of its last message (0: not yet counted) */
	/* Per message on its topics: rx every one, bad those that could not
	 * be read at all (not JSON, larger than max_payload, empty text).
	 * Per value: value_err one that did not decode (not a value, too
	 * short, refused by the profile), missing one absent. A message is
	 * counted once however many of the device's points it feeds. */
	unsigned long long rx, bad, value_err, missing, pub, timeouts;
	unsigned long long msg_seen; /* the last message counted in rx */
	/* Its points, in profile order. No tail pointer, nor a number of
	 * the last message counted in bad (bad_counted): 16 bytes fewer make
	 * the struct with a zigbee2mqtt name a 160-byte malloc chunk, not 176. */
	struct entry *entries;
	struct mqtt_bridge *b;
	struct z2m_ota *ota;     /* its Object 5 (a profile's `firmware: zigbee2mqtt`), NULL */
	struct dev *next, *prev; /* all devices */
	struct dev *hnext;       /* the bucket of its name */
	struct dev *bnext;       /* the bucket of its {device} value */
	char name[];
};

/* Seven pointers: one more costs every point 16 bytes (a malloc size
 * class); the source is pt->source (entry_src()). */
struct entry {
	struct dev *dev;
	const struct mapping_point *pt;
	struct bridge_handle *h; /* what its samples go back with */
	struct sub *sub;         /* its subscription (a reference), shared */
	/* The exact topic when every capture is bound, else NULL; entries of
	 * one device with the same topic share one copy (key_unref()). */
	char *key;
	struct entry *next;  /* the device's entries */
	struct entry *hnext; /* the index bucket (key) or the wildcard list */
};

/* Entries come from slabs of ENTRY_SLAB: four points a device were four
 * allocations, each 8 bytes of header and 8 of rounding (64 bytes a
 * device). A freed entry goes to a free list, reused first; the slabs are
 * freed with the bridge. */
#define ENTRY_SLAB 64
struct entry_slab {
	struct entry_slab *next;
	size_t used;
	struct entry e[ENTRY_SLAB];
};

static const struct mqtt_source *entry_src(const struct entry *e)
{
	return e->pt->source;
}

/* d's binding in out (valid while d is). */
static const struct mqtt_binding *dev_bind(const struct dev *d, struct mqtt_binding *out)
{
	const char *s = d->name + strlen(d->name) + 1;

	out->n = d->nbind;
	for (size_t i = 0; i < d->nbind; i++) {
		out->v[i].name = s;
		s += strlen(s) + 1;
		out->v[i].value = s;
		out->v[i].len = strlen(s);
		s += out->v[i].len + 1;
	}
	return out;
}

/* The value d's address binds to `device`, NULL without. */
static const char *dev_id(const struct dev *d, size_t *len)
{
	struct mqtt_binding bind;

	return mqtt_binding_get(dev_bind(d, &bind), "device", len);
}

struct sub {
	char *filter;
	unsigned refs;
	bool pending;            /* to be sent after the current libmosquitto call */
	struct sub *next, *prev; /* all subscriptions */
	struct sub *hnext;       /* the bucket of its filter */
};

struct op {
	struct mqtt_bridge *b;
	char *device;
	const struct mapping_point *pt;
	int mid;
	bool confirm, acked, echoed, finished;
	int err;
	struct lwm2m_value expect;
	uint8_t *expect_buf;
	sd_event_source *timer;
	bridge_done_fn done;
	void *ctx;
	struct op *next;
};

struct mqtt_bridge {
	struct bridge base; /* first: the core allocates bridge_kind_mqtt.size */
	struct mqtt_conf conf;
	sd_event *event;

	struct mosquitto *mosq;
	SSL_CTX *ssl_ctx;
	enum conn_state state;
	bool lost;          /* set by callbacks: tear down after the libmosquitto call */
	unsigned progress;  /* callbacks run (the read loop's progress) */
	unsigned attempt;   /* failed attempts since the last CONNACK */
	uint64_t started;   /* CLOCK_MONOTONIC of the current attempt */
	bool was_connected; /* a CONNACK since the last failure */
	bool v5;            /* this attempt speaks MQTT 5 */
	bool v311_only;     /* the broker refused MQTT 5 (protocol: auto) */
	bool again_now;     /* retry at once, in 3.1.1 (the refusal is no failure) */
	bool told_down;     /* devices were told the broker is unreachable */
	sd_event_source *io, *misc, *retry;
	struct resolve *lookup; /* the broker's name, off the loop (common/resolve.h) */
	/* Its addresses, tried in order until one connects; naddrs 0: look
	 * the name up again at the next attempt. */
	struct resolve_addr addrs[RESOLVE_MAX_ADDRS];
	size_t naddrs, addr_next;
	bool in_publish;
	/* Inside mosquitto_loop_*: libmosquitto calls back holding its own
	 * locks, so nothing is published or subscribed from a callback (TSan
	 * sees the lock order against mosquitto_destroy); it is flushed after
	 * the call returns. */
	bool in_loop, connack, subs_pending;
	int early_mid; /* a QoS 0 publish acknowledged inside mosquitto_publish */

	/* Devices by name and by {device} value: thousands of them, looked up
	 * for every status line, discovery check and write. */
	struct dev *devs;
	struct mqtt_index by_name, by_value;
	/* Where a message goes: entries with an exact topic by hash, the
	 * others (unbound captures) tried one by one. */
	struct mqtt_index index;
	struct entry *wild;
	struct entry_slab *slabs;   /* newest first */
	struct entry *free_entries; /* through next */
	struct sub *subs;           /* all, and by filter: */
	struct mqtt_index sub_by_filter;
	struct op *ops;
	unsigned ndiscovered;
	unsigned nota; /* devices with a z2m_ota, and parked ones */
	/* The state machines of devices removed (a reload, a new generated
	 * profile after zigbee2mqtt republished bridge/devices with the
	 * updated firmware), given back when a device of the same name comes:
	 * Update Result 1 survives the rebuild the update itself causes.
	 * Oldest dropped first. */
	struct z2m_ota *parked[OTA_PARKED_MAX];
	size_t nparked;
	char *rejected[REJECTED_MAX];
	size_t nrejected;
	/* Availability: bit i set while topic i (one without captures) says
	 * offline; what topics with captures said about devices that do not
	 * exist yet (discovery creates them later), oldest replaced first. */
	uint8_t offline;
	struct {
		char *topic;
		uint8_t avail;
		bool offline;
	} pending[PENDING_MAX];
	size_t npending, pending_next;
	uint64_t bad_log_at, limit_log_at;
	unsigned long long messages; /* received, numbering them for the per-message counts */
	unsigned bad_suppressed;
	/* Devices that describe themselves (mqtt_auto.h). */
	struct z2m_watch *z2m;
	struct ha_watch *ha;
};

_Static_assert(offsetof(struct mqtt_bridge, base) == 0, "struct bridge comes first");
#define MQ(b) bridge_container(b, struct mqtt_bridge)

static int lib_refs;

/* ---- small helpers ------------------------------------------------------- */

static uint64_t now_usec(struct mqtt_bridge *b)
{
	uint64_t t = 0;

	if (b->event)
		(void)sd_event_now(b->event, CLOCK_MONOTONIC, &t);
	return t;
}

static int mosq_errno(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return 0;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
		return -EINVAL;
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
		return -ENOTCONN;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return -E2BIG;
	case MOSQ_ERR_ERRNO:
		return errno ? -errno : -EIO;
	default:
		return -EIO;
	}
}

static struct entry *entry_new(struct mqtt_bridge *b)
{
	struct entry *e = b->free_entries;

	if (e) {
		b->free_entries = e->next;
	} else {
		if (!b->slabs || b->slabs->used == ENTRY_SLAB) {
			struct entry_slab *sl = malloc(sizeof(*sl));

			if (!sl)
				return NULL;
			sl->next = b->slabs;
			sl->used = 0;
			b->slabs = sl;
		}
		e = &b->slabs->e[b->slabs->used++];
	}
	*e = (struct entry){ 0 };
	return e;
}

static void entry_free(struct mqtt_bridge *b, struct entry *e)
{
	if (!e)
		return;
	e->next = b->free_entries;
	b->free_entries = e;
}

/* ---- the indexes' keys ------------------------------------------------------- */

static const char *key_name(const void *node, size_t *len)
{
	const struct dev *d = node;

	*len = strlen(d->name);
	return d->name;
}

static const char *key_value(const void *node, size_t *len)
{
	return dev_id(node, len);
}

static const char *key_topic(const void *node, size_t *len)
{
	const struct entry *e = node;

	*len = strlen(e->key);
	return e->key;
}

static const char *key_filter(const void *node, size_t *len)
{
	const struct sub *sub = node;

	*len = strlen(sub->filter);
	return sub->filter;
}

static void indexes_init(struct mqtt_bridge *b)
{
	mqtt_index_init(&b->by_name, offsetof(struct dev, hnext), key_name);
	mqtt_index_init(&b->by_value, offsetof(struct dev, bnext), key_value);
	mqtt_index_init(&b->index, offsetof(struct entry, hnext), key_topic);
	mqtt_index_init(&b->sub_by_filter, offsetof(struct sub, hnext), key_filter);
}

static struct dev *dev_find(struct mqtt_bridge *b, const char *name)
{
	for (struct dev *d = mqtt_index_first(&b->by_name, name, strlen(name)); d; d = d->hnext)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

/* A device is reachable while the broker is, no availability topic says
 * it (or the whole bridge) is offline, and it was heard within
 * unreachable_after. Nothing is said before the first attempt ends. */
static void dev_tell(struct mqtt_bridge *b, struct dev *d)
{
	int err = 0;

	if (b->told_down)
		err = -EHOSTUNREACH;
	else if (b->state != ST_CONNECTED)
		return;
	else if (d->offline || b->offline)
		err = -EHOSTDOWN;
	else if (d->stale)
		err = -ETIMEDOUT;
	b->base.host.presence(b->base.host.ud, d->name, err);
}

static void tell_all(struct mqtt_bridge *b)
{
	for (struct dev *d = b->devs; d; d = d->next)
		dev_tell(b, d);
}

/* ---- subscriptions ----------------------------------------------------------- */

static struct sub *sub_find(struct mqtt_bridge *b, const char *filter)
{
	struct sub *s = mqtt_index_first(&b->sub_by_filter, filter, strlen(filter));

	while (s && strcmp(s->filter, filter) != 0)
		s = s->hnext;
	return s;
}

static void sub_send(struct mqtt_bridge *b, const char *filter)
{
	int rc;

	if (b->state != ST_CONNECTED || !b->mosq)
		return; /* sent at the next CONNACK */
	if (b->in_loop) {
		struct sub *s = sub_find(b, filter);

		if (s)
			s->pending = true;
		b->subs_pending = true;
		return;
	}
	rc = mosquitto_subscribe(b->mosq, NULL, filter, b->conf.qos);
	if (rc != MOSQ_ERR_SUCCESS)
		log_warning("MQTT bridge %s: cannot subscribe to '%s': %s", b->base.name, filter,
			    mosquitto_strerror(rc));
}

/* The subscription to filter, made when new; NULL: no memory. */
static struct sub *sub_ref(struct mqtt_bridge *b, const char *filter)
{
	struct sub *s = sub_find(b, filter);

	if (s) {
		s->refs++;
		return s;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->filter = strdup(filter)) || mqtt_index_add(&b->sub_by_filter, s) < 0) {
		if (s)
			free(s->filter);
		free(s);
		return NULL;
	}
	s->refs = 1;
	s->next = b->subs;
	if (b->subs)
		b->subs->prev = s;
	b->subs = s;
	sub_send(b, filter);
	return s;
}

static void sub_unref(struct mqtt_bridge *b, struct sub *s)
{
	if (!s || --s->refs > 0)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		b->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	mqtt_index_del(&b->sub_by_filter, s);
	if (b->state == ST_CONNECTED && b->mosq)
		(void)mosquitto_unsubscribe(b->mosq, NULL, s->filter);
	free(s->filter);
	free(s);
}

/* ---- connection ------------------------------------------------------------ */

static void conn_begin(struct mqtt_bridge *b);
static void update_events(struct mqtt_bridge *b);
static void ops_fail_unacked(struct mqtt_bridge *b, int err);

static void conn_teardown(struct mqtt_bridge *b)
{
	b->io = sd_event_source_disable_unref(b->io);
	if (b->mosq) {
		mosquitto_destroy(b->mosq);
		b->mosq = NULL;
	}
	b->lost = false;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *ud)
{
	struct mqtt_bridge *b = ud;

	(void)s;
	(void)usec;
	b->retry = sd_event_source_disable_unref(b->retry);
	conn_begin(b);
	return 0;
}

/* After a failure: the next attempt after min * 2^attempt (capped at max),
 * times a random factor in [0.5, 1) so that gateways restarted together do
 * not hit the broker together. */
static void conn_retry(struct mqtt_bridge *b, const char *why)
{
	uint64_t d = b->conf.reconnect_min_usec;
	uint32_t rnd = 0;
	int r;

	if (b->state == ST_CONNECTING && b->addr_next + 1 < b->naddrs) {
		/* The name has more addresses (IPv6 and IPv4, say): the next
		 * one at once, before any backoff. */
		conn_teardown(b);
		log_debug("MQTT bridge %s: %s at %s: %s; trying %s", b->base.name, b->conf.host,
			  b->addrs[b->addr_next].text, why, b->addrs[b->addr_next + 1].text);
		b->addr_next++;
		b->state = ST_WAITING;
		b->retry = sd_event_source_disable_unref(b->retry);
		if (sd_event_add_time_relative(b->event, &b->retry, CLOCK_MONOTONIC, 0, 0, on_retry, b) >= 0)
			return;
	}
	/* Every address failed (or there was one): look the name up again
	 * at the next attempt. */
	b->naddrs = b->addr_next = 0;
	conn_teardown(b);
	if (b->was_connected) {
		b->was_connected = false;
		/* Unacknowledged publishes died with the connection's state. */
		ops_fail_unacked(b, -EHOSTUNREACH);
	}
	if (!b->told_down) {
		b->told_down = true;
		tell_all(b);
	}
	for (unsigned i = 0; i < b->attempt && d < b->conf.reconnect_max_usec; i++)
		d *= 2;
	if (d > b->conf.reconnect_max_usec)
		d = b->conf.reconnect_max_usec;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)now_usec(b) * 2654435761u;
	d = d / 2 + (uint64_t)((double)(d / 2) * (rnd / 4294967296.0));
	b->attempt++;
	b->state = ST_WAITING;
	log_full(b->attempt == 1 ? LOG_WARNING : LOG_INFO,
		 "MQTT bridge %s: broker %s:%u: %s; next attempt in %llu ms", b->base.name, b->conf.host,
		 (unsigned)b->conf.port, why, (unsigned long long)(d / 1000));
	b->retry = sd_event_source_disable_unref(b->retry);
	r = sd_event_add_time_relative(b->event, &b->retry, CLOCK_MONOTONIC, d, 10000, on_retry, b);
	if (r < 0)
		log_error_errno(r, "MQTT bridge %s: cannot arm the reconnect timer: %m", b->base.name);
}

static void read_pass(struct mqtt_bridge *b)
{
	int fd = mosquitto_socket(b->mosq);

	for (int i = 0; i < 256 && b->mosq && !b->lost; i++) {
		unsigned before = b->progress;
		int avail = 0, rc;

		b->in_loop = true;
		rc = mosquitto_loop_read(b->mosq, 1);
		b->in_loop = false;
		if (rc != MOSQ_ERR_SUCCESS) {
			if (!b->lost)
				log_debug("MQTT bridge %s: read: %s", b->base.name, mosquitto_strerror(rc));
			b->lost = true;
			break;
		}
		/* Plain TCP: the kernel says whether more is there. TLS keeps
		 * decrypted records OpenSSL-side: go on while packets come. */
		if (ioctl(fd, FIONREAD, &avail) < 0)
			avail = 0;
		if (avail == 0 && (!b->conf.tls || b->progress == before))
			break;
	}
}

static void after_connack(struct mqtt_bridge *b);

static void after_io(struct mqtt_bridge *b)
{
	if (b->again_now) {
		b->again_now = false;
		b->connack = false;
		conn_teardown(b);
		b->state = ST_WAITING;
		b->retry = sd_event_source_disable_unref(b->retry);
		if (sd_event_add_time_relative(b->event, &b->retry, CLOCK_MONOTONIC, 0, 0, on_retry, b) >= 0)
			return;
		b->lost = true;
	}
	if (b->lost || (b->mosq && mosquitto_socket(b->mosq) < 0)) {
		b->connack = false;
		conn_retry(b, b->state == ST_CONNECTED ? "connection lost" : "connection failed");
		return;
	}
	if (b->connack)
		after_connack(b);
	if (b->subs_pending) {
		b->subs_pending = false;
		for (struct sub *s = b->subs; s; s = s->next)
			if (s->pending) {
				s->pending = false;
				sub_send(b, s->filter);
			}
	}
	update_events(b);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct mqtt_bridge *b = ud;

	(void)s;
	(void)fd;
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_pass(b);
	/* What could be read was read: a hung-up or failed socket would
	 * otherwise wake the loop again and again. */
	if (revents & (EPOLLHUP | EPOLLERR))
		b->lost = true;
	if (!b->lost && b->mosq && (revents & EPOLLOUT)) {
		int rc;

		b->in_loop = true;
		rc = mosquitto_loop_write(b->mosq, 1);
		b->in_loop = false;
		if (rc != MOSQ_ERR_SUCCESS) {
			log_debug("MQTT bridge %s: write: %s", b->base.name, mosquitto_strerror(rc));
			b->lost = true;
		}
	}
	after_io(b);
	return 0;
}

static void update_events(struct mqtt_bridge *b)
{
	uint32_t ev;

	if (!b->io || !b->mosq)
		return;
	ev = EPOLLIN | (mosquitto_want_write(b->mosq) ? EPOLLOUT : 0);
	(void)sd_event_source_set_io_events(b->io, ev);
}

/* Only while connected (nobody can be heard otherwise): devices silent for
 * unreachable_after are unreachable; a discovered device silent for
 * discovery.forget goes (the core removes it, which removes its points
 * here: one per tick, outside the walk that forget() changes), freeing
 * its slot; it comes back when it is heard again. */
static void silence(struct mqtt_bridge *b, uint64_t now)
{
	/* Neither is set by default: no walk of every device every second
	 * (a list scattered over the heap: ~0.5 % of a core at 60,000). */
	if (!b->conf.forget_usec && !b->conf.unreachable_usec)
		return;
	for (struct dev *d = b->devs; d; d = d->next) {
		if (b->conf.forget_usec && d->discovered && b->base.host.forget &&
		    now - d->heard >= b->conf.forget_usec) {
			char *name = strdup(d->name);
			if (!name)
				return;
			log_device_info(
				BRIDGE_DEV_LOG(&b->base, name),
				"MQTT bridge %s: discovered device %s not heard for %llu s: forgotten",
				b->base.name, name, (unsigned long long)((now - d->heard) / 1000000));
			(void)b->base.host.forget(b->base.host.ud, name);
			z2m_watch_gone(b->z2m, name);
			ha_watch_gone(b->ha, name);
			free(name);
			return;
		}
		if (b->conf.unreachable_usec && !d->stale && now - d->heard >= b->conf.unreachable_usec) {
			d->stale = true;
			log_device_warning(BRIDGE_DEV_LOG(&b->base, d->name),
					   "MQTT bridge %s: %s not heard for %llu s", b->base.name, d->name,
					   (unsigned long long)((now - d->heard) / 1000000));
			dev_tell(b, d);
		}
	}
}

static int on_misc(sd_event_source *s, uint64_t usec, void *ud)
{
	struct mqtt_bridge *b = ud;
	int r;

	(void)sd_event_source_set_time(s, usec + MISC_PERIOD_USEC);
	if (b->state == ST_CONNECTED)
		silence(b, now_usec(b));
	ha_watch_tick(b->ha, now_usec(b));
	if (!b->mosq)
		return 0;
	if (b->state == ST_CONNECTING && now_usec(b) - b->started >= b->conf.connect_timeout_usec) {
		conn_retry(b, "no CONNACK within connect_timeout");
		return 0;
	}
	b->in_loop = true;
	r = mosquitto_loop_misc(b->mosq);
	b->in_loop = false;
	if (r != MOSQ_ERR_SUCCESS)
		b->lost = true; /* keepalive expired */
	if (b->conf.tls && !b->lost && b->mosq)
		read_pass(b); /* records OpenSSL holds that epoll cannot see */
	after_io(b);
	return 0;
}

/* libmosquitto callbacks: they only record; teardown happens in after_io. */
static void cb_connect(struct mosquitto *m, void *ud, int rc)
{
	struct mqtt_bridge *b = ud;

	(void)m;
	b->progress++;
	if (rc != 0 && b->v5 && rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION &&
	    b->conf.protocol == MQTT_PROTO_AUTO) {
		log_warning("MQTT bridge %s: broker %s:%u does not speak MQTT 5: using MQTT 3.1.1, where the "
			    "broker cannot be told max_payload (%zu bytes): a longer message is read whole "
			    "before it is dropped (limit message sizes at the broker, e.g. mosquitto's "
			    "message_size_limit)",
			    b->base.name, b->conf.host, (unsigned)b->conf.port, b->conf.max_payload);
		b->v311_only = true;
		b->again_now = true;
		return;
	}
	if (rc != 0) {
		/* MQTT 5 CONNACKs carry reason codes, 3.1.1 ones return codes. */
		log_error("MQTT bridge %s: broker %s:%u refused the connection: %s%s", b->base.name,
			  b->conf.host, (unsigned)b->conf.port,
			  b->v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc),
			  b->v5 && rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION
				  ? " (it speaks MQTT 3.1.1 only: protocol: auto or 3.1.1 would connect)"
				  : "");
		b->lost = true;
		return;
	}
	b->state = ST_CONNECTED;
	b->attempt = 0;
	b->connack = true; /* the rest in after_connack(), outside the callback */
}

/* After a CONNACK: the status, every subscription again, the devices
 * reachable. */
static void after_connack(struct mqtt_bridge *b)
{
	int r;

	b->connack = false;
	log_info("MQTT bridge %s: connected to %s:%u as %s", b->base.name, b->conf.host,
		 (unsigned)b->conf.port, b->conf.client_id);
	r = mosquitto_publish(b->mosq, NULL, b->conf.status_topic, 6, "online", 1, true);
	if (r != MOSQ_ERR_SUCCESS)
		log_warning("MQTT bridge %s: cannot publish the status: %s", b->base.name,
			    mosquitto_strerror(r));
	for (struct sub *s = b->subs; s; s = s->next)
		s->pending = true;
	b->subs_pending = true;
	b->was_connected = true;
	b->told_down = false;
	/* Nobody could be heard while the broker was away: silence counts
	 * from now. */
	for (struct dev *d = b->devs; d; d = d->next)
		d->heard = now_usec(b);
	tell_all(b);
}

static void cb_disconnect(struct mosquitto *m, void *ud, int rc)
{
	struct mqtt_bridge *b = ud;

	(void)m;
	(void)rc;
	b->progress++;
	b->lost = true;
}

static void cb_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	struct mqtt_bridge *b = ud;

	(void)m;
	(void)mid;
	b->progress++;
	/* 0x80 in 3.1.1; in MQTT 5 every reason code from 0x80 on. */
	for (int i = 0; i < n; i++)
		if (granted[i] >= 0x80)
			log_warning("MQTT bridge %s: the broker refused a subscription: %s", b->base.name,
				    b->v5 ? mosquitto_reason_string(granted[i]) : "failure");
}

static void op_finish_later(struct op *op, int err);

/* reason: an MQTT 5 PUBACK/PUBCOMP's (0 in 3.1.1, where a broker that
 * refuses a publish says nothing). */
static void cb_publish(struct mosquitto *m, void *ud, int mid, int reason, const mosquitto_property *props)
{
	struct mqtt_bridge *b = ud;

	(void)m;
	(void)props;
	b->progress++;
	for (struct op *op = b->ops; op; op = op->next)
		if (op->mid == mid && !op->acked && !op->finished) {
			op->acked = true;
			if (reason >= 0x80) {
				/* The request was fine, its way to the field is
				 * closed: the gateway failed (5.00). */
				log_device_warning(BRIDGE_DEV_LOG(&b->base, op->device),
						   "MQTT bridge %s: the broker refused a publish for %s: %s",
						   b->base.name, op->device, mosquitto_reason_string(reason));
				op_finish_later(op, -EIO);
			} else if (!op->confirm)
				op_finish_later(op, 0);
			return;
		}
	if (b->in_publish)
		b->early_mid = mid;
}

static void dispatch(struct mqtt_bridge *b, const char *topic, const uint8_t *data, size_t len);

static void cb_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct mqtt_bridge *b = ud;

	(void)m;
	b->progress++;
	dispatch(b, msg->topic, msg->payload ? msg->payload : (const uint8_t *)"", (size_t)msg->payloadlen);
	/* Its notifications leave before the next message is read: under
	 * load a read pass takes several, and each would otherwise wait for
	 * all of them and a turn of the loop (issue 13 target 3). */
	bridge_flush(&b->base);
}

static void cb_log(struct mosquitto *m, void *ud, int level, const char *str)
{
	struct mqtt_bridge *b = ud;

	(void)m;
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		log_info("MQTT bridge %s: libmosquitto: %s", b->base.name, str);
	else
		log_debug("MQTT bridge %s: libmosquitto: %s", b->base.name, str);
}

static int verify_cert_cb(int ok, X509_STORE_CTX *x)
{
	(void)x;
	return ok;
}

/* The chain check of a connection made by address: the configured name is
 * set on the verification itself, then OpenSSL verifies chain and name
 * together. */
static int verify_chain(X509_STORE_CTX *x, void *arg)
{
	struct mqtt_bridge *b = arg;
	X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(x);

	int ok;

	if (X509_VERIFY_PARAM_set1_host(p, b->conf.host, 0) != 1)
		return 0;
	X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* libmosquitto's per-certificate callback would check the address
	 * again (and fails here): chain and name are OpenSSL's alone. */
	X509_STORE_CTX_set_verify_cb(x, verify_cert_cb);
	ok = X509_verify_cert(x);
	if (ok != 1)
		log_warning("MQTT bridge %s: the broker's certificate does not verify for '%s': %s",
			    b->base.name, b->conf.host,
			    X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	return ok;
}

static int tls_setup(struct mqtt_bridge *b, bool by_name)
{
	const struct mqtt_conf *c = &b->conf;
	int rc;

	rc = mosquitto_tls_set(b->mosq, c->tls_ca, c->tls_ca_path, c->tls_cert, c->tls_key, NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_opts_set(b->mosq, c->tls_verify ? 1 : 0, NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		return mosq_errno(rc);
	if (!c->tls_verify)
		return mosq_errno(mosquitto_tls_insecure_set(b->mosq, true));
	if (!by_name)
		return 0; /* libmosquitto checks the certificate against the numeric host */
	/* Connected by the resolved address: libmosquitto would check the
	 * certificate against that address. OpenSSL checks the configured
	 * name instead (X509_VERIFY_PARAM host), during the handshake. */
	if (!b->ssl_ctx) {
		b->ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (!b->ssl_ctx)
			return -ENOMEM;
		/* libmosquitto leaves a context of ours as it is: load it all. */
		if (SSL_CTX_load_verify_locations(b->ssl_ctx, c->tls_ca, c->tls_ca_path) != 1 ||
		    (c->tls_cert &&
		     (SSL_CTX_use_certificate_chain_file(b->ssl_ctx, c->tls_cert) != 1 ||
		      SSL_CTX_use_PrivateKey_file(b->ssl_ctx, c->tls_key, SSL_FILETYPE_PEM) != 1))) {
			log_error("MQTT bridge %s: cannot load the TLS files (ca, cert, key)", b->base.name);
			SSL_CTX_free(b->ssl_ctx);
			b->ssl_ctx = NULL;
			return -EINVAL;
		}
		SSL_CTX_set_verify(b->ssl_ctx, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_min_proto_version(b->ssl_ctx, TLS1_2_VERSION);
		SSL_CTX_set_mode(b->ssl_ctx,
				 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_cert_verify_callback(b->ssl_ctx, verify_chain, b);
	}
	rc = mosquitto_opts_set(b->mosq, MOSQ_OPT_SSL_CTX, b->ssl_ctx);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_insecure_set(b->mosq, true);
	return mosq_errno(rc);
}

/* The MQTT 5 CONNECT properties: Maximum Packet Size (the broker drops
 * what we would not take: see the top of this file) and, for a persistent
 * session, a Session Expiry Interval that never ends (in MQTT 5 a session
 * without one ends with the connection; 3.1.1 kept it).
 *
 * libmosquitto 2.0 takes CONNECT properties only in
 * mosquitto_connect_bind_v5(), whose TCP connect() blocks (the loop would
 * stop for as long as an unreachable broker's SYN goes unanswered). It
 * keeps the properties it is given before it checks its other arguments,
 * and sends them with every later connect (lib/connect.c, 2.0.11): they are
 * handed over by a call that an invalid keepalive stops before any I/O, and
 * mosquitto_connect_bind_async() then connects without blocking.
 * tests/mqtt/test_mqtt.py (MaxPayload) fails if that stops holding. */
static int connect_properties(struct mqtt_bridge *b, const char *addr)
{
	mosquitto_property *props = NULL;
	int rc;

	rc = mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
					  (uint32_t)(b->conf.max_payload + MQTT_PACKET_ROOM));
	if (rc == MOSQ_ERR_SUCCESS && !b->conf.clean_session)
		rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, UINT32_MAX);
	if (rc == MOSQ_ERR_SUCCESS) {
		rc = mosquitto_connect_bind_v5(b->mosq, addr, b->conf.port, 1 /* invalid */, NULL, props);
		rc = rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS : rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_UNKNOWN : rc;
	}
	mosquitto_property_free_all(&props);
	return rc;
}

static void conn_open(struct mqtt_bridge *b, const char *addr, bool by_name)
{
	const struct mqtt_conf *c = &b->conf;
	char why[160];
	int rc, r;

	b->mosq = mosquitto_new(c->client_id, c->clean_session, b);
	if (!b->mosq) {
		conn_retry(b, "out of memory");
		return;
	}
	mosquitto_connect_callback_set(b->mosq, cb_connect);
	mosquitto_disconnect_callback_set(b->mosq, cb_disconnect);
	mosquitto_subscribe_callback_set(b->mosq, cb_subscribe);
	mosquitto_publish_v5_callback_set(b->mosq, cb_publish);
	mosquitto_message_callback_set(b->mosq, cb_message);
	mosquitto_log_callback_set(b->mosq, cb_log);
	b->v5 = c->protocol == MQTT_PROTO_V5 || (c->protocol == MQTT_PROTO_AUTO && !b->v311_only);
	rc = mosquitto_int_option(b->mosq, MOSQ_OPT_PROTOCOL_VERSION,
				  b->v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	(void)mosquitto_int_option(b->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_will_set(b->mosq, c->status_topic, 7, "offline", 1, true);
	if (rc == MOSQ_ERR_SUCCESS && c->username)
		rc = mosquitto_username_pw_set(b->mosq, c->username, c->password);
	if (rc == MOSQ_ERR_SUCCESS && b->v5)
		rc = connect_properties(b, addr);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(why, sizeof(why), "cannot set up the client: %s", mosquitto_strerror(rc));
		conn_retry(b, why);
		return;
	}
	if (c->tls && (r = tls_setup(b, by_name)) < 0) {
		snprintf(why, sizeof(why), "TLS set-up failed: %s", strerror(-r));
		conn_retry(b, why);
		return;
	}
	b->state = ST_CONNECTING;
	b->started = now_usec(b);
	errno = 0;
	/* Numeric address: getaddrinfo does not block, connect() is
	 * non-blocking (EINPROGRESS), CONNECT waits in the write queue. */
	rc = mosquitto_connect_bind_async(b->mosq, addr, c->port, (int)c->keepalive_s, NULL);
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(b->mosq) < 0) {
		snprintf(why, sizeof(why), "cannot connect: %s",
			 rc == MOSQ_ERR_ERRNO ? strerror(errno ? errno : EIO) : mosquitto_strerror(rc));
		conn_retry(b, why);
		return;
	}
	r = sd_event_add_io(b->event, &b->io, mosquitto_socket(b->mosq), EPOLLIN | EPOLLOUT, on_io, b);
	if (r < 0) {
		conn_retry(b, "cannot watch the socket");
		return;
	}
	update_events(b);
}

static void on_resolved(void *ud, int gai, int sys_errno, const struct resolve_addr *addrs, size_t n)
{
	struct mqtt_bridge *b = ud;
	char why[200];

	b->lookup = NULL;
	if (gai || n == 0) {
		snprintf(why, sizeof(why), "cannot resolve '%s': %s", b->conf.host,
			 gai == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(gai ? gai : EAI_NONAME));
		conn_retry(b, why);
		return;
	}
	memcpy(b->addrs, addrs, n * sizeof(*addrs));
	b->naddrs = n;
	b->addr_next = 0;
	log_debug("MQTT bridge %s: %s is %s%s", b->base.name, b->conf.host, addrs[0].text,
		  n > 1 ? " (and more addresses)" : "");
	conn_open(b, addrs[0].text, true);
}

static void conn_begin(struct mqtt_bridge *b)
{
	if (mqtt_host_is_numeric(b->conf.host)) {
		conn_open(b, b->conf.host, false);
		return;
	}
	if (b->addr_next < b->naddrs) {
		/* The previous address of the name failed: the next one. */
		conn_open(b, b->addrs[b->addr_next].text, true);
		return;
	}
	if (resolve_start(b->event, b->conf.host, SOCK_STREAM, on_resolved, b, &b->lookup) < 0) {
		conn_retry(b, "cannot start the name lookup");
		return;
	}
	b->state = ST_RESOLVING;
}

/* ---- messages -------------------------------------------------------------- */

static bool value_equal(const struct lwm2m_value *a, const struct lwm2m_value *b)
{
	struct lwm2m_value c;

	if (a->type != b->type && lwm2m_value_convert(b, a->type, &c) == 0)
		b = &c;
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case LWM2M_TYPE_BOOLEAN:
		return a->b == b->b;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		return a->i == b->i;
	case LWM2M_TYPE_UNSIGNED:
		return a->u == b->u;
	case LWM2M_TYPE_FLOAT:
		return a->f == b->f;
	case LWM2M_TYPE_OBJLNK:
		return a->lnk.oid == b->lnk.oid && a->lnk.iid == b->lnk.iid;
	default:
		return a->bytes.len == b->bytes.len &&
		       (a->bytes.len == 0 || memcmp(a->bytes.ptr, b->bytes.ptr, a->bytes.len) == 0);
	}
}

/* "payload on '<topic>' <what> (ignored)", at most once per BAD_LOG_USEC. */
__attribute__((format(printf, 3, 4))) static void log_bad(struct mqtt_bridge *b, const char *topic,
							  const char *fmt, ...)
{
	uint64_t t = now_usec(b);
	char what[400];
	va_list ap;

	if (b->bad_log_at && t - b->bad_log_at < BAD_LOG_USEC) {
		b->bad_suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_warning("MQTT bridge %s: payload on '%s' %s (ignored%s)", b->base.name, topic, what,
		    b->bad_suppressed ? "; more suppressed" : "");
	b->bad_log_at = t;
	b->bad_suppressed = 0;
}

static bool rejected(struct mqtt_bridge *b, const char *name)
{
	for (size_t i = 0; i < b->nrejected; i++)
		if (strcmp(b->rejected[i], name) == 0)
			return true;
	return false;
}

static bool bound_device(struct mqtt_bridge *b, const char *v, size_t n)
{
	for (struct dev *d = mqtt_index_first(&b->by_value, v, n); d; d = d->bnext) {
		size_t l;
		const char *x = dev_id(d, &l);
		if (x && l == n && memcmp(x, v, n) == 0)
			return true;
	}
	return false;
}

/* Whether discovery may create one more device (max_devices); logs the
 * refusal at most once a minute. */
static bool discovery_room(struct mqtt_bridge *b, const char *name, const char *where)
{
	uint64_t t;

	if (b->ndiscovered < b->conf.max_devices)
		return true;
	t = now_usec(b);
	if (!b->limit_log_at || t - b->limit_log_at > 60 * 1000000ULL) {
		log_device_warning(BRIDGE_DEV_LOG(&b->base, name),
				   "MQTT bridge %s: discovery limit of %u devices reached: '%s' (%s) is not "
				   "created (max_devices)",
				   b->base.name, b->conf.max_devices, name, where);
		b->limit_log_at = t;
	}
	return false;
}

/* After the core created (or re-created) a discovered device: counted,
 * marked, told the broker's state. */
static void discovered(struct mqtt_bridge *b, const char *name)
{
	struct dev *d = dev_find(b, name);

	if (d && !d->discovered) {
		d->discovered = true;
		b->ndiscovered++;
	}
	if (d)
		dev_tell(b, d);
}

static int create_discovered(struct mqtt_bridge *b, const char *name, const char *profile, const char *addr,
			     const struct auto_profile *gen)
{
	bool exists = dev_find(b, name) != NULL;
	int r;

	if (!exists && !discovery_room(b, name, addr))
		return -EDQUOT;
	r = gen ? b->base.host.generated(b->base.host.ud, b->base.name, name, addr, gen->name, gen->text,
					 gen->len)
		: b->base.host.discover(b->base.host.ud, b->base.name, name, profile, addr);
	if (r >= 0)
		discovered(b, name);
	return r;
}

static void discover(struct mqtt_bridge *b, const char *topic, size_t tlen, struct mqtt_payload *pl)
{
	for (size_t i = 0; i < b->conf.nrules; i++) {
		const struct mqtt_rule *rl = &b->conf.rules[i];
		struct mqtt_binding caps;
		const char *v;
		size_t n;
		char name[80], addr[256];
		bool ok = true;
		int r;

		if (!mqtt_template_match(&rl->topic, topic, tlen, NULL, &caps))
			continue;
		v = mqtt_binding_get(&caps, "device", &n);
		if (!v || n == 0 || n >= sizeof(addr) || bound_device(b, v, n))
			continue;
		if (rl->nrequire) {
			struct json_object *doc;
			if (mqtt_payload_json(pl, &doc) < 0)
				continue;
			for (size_t j = 0; j < rl->nrequire && ok; j++)
				ok = mqtt_json_pointer(doc, rl->require[j]) != NULL;
			if (!ok)
				continue;
		}
		if (mqtt_sanitize_name(rl->prefix, v, n, name, sizeof(name)) == 0 || rejected(b, name))
			continue;
		memcpy(addr, v, n);
		addr[n] = '\0';
		r = create_discovered(b, name, rl->profile, addr, NULL);
		if (r == -EDQUOT)
			return;
		if (r >= 0)
			log_device_info(BRIDGE_DEV_LOG(&b->base, name),
					"MQTT bridge %s: discovered %s (profile %s) on '%.*s'", b->base.name,
					name, rl->profile, (int)tlen, topic);
		else {
			log_device_warning_errno(BRIDGE_DEV_LOG(&b->base, name), r,
						 "MQTT bridge %s: cannot create discovered device %s: %m",
						 b->base.name, name);
			if (b->nrejected < REJECTED_MAX && (b->rejected[b->nrejected] = strdup(name)))
				b->nrejected++;
		}
		return;
	}
}

/* ---- devices that describe themselves (zigbee2mqtt, Home Assistant) --------------------- */

static int auto_generated(void *ud, const struct auto_profile *p)
{
	return create_discovered(ud, p->device, NULL, p->address, p);
}

static int auto_discover(void *ud, const char *device, const char *profile, const char *address)
{
	return create_discovered(ud, device, profile, address, NULL);
}

static int auto_forget(void *ud, const char *device)
{
	struct mqtt_bridge *b = ud;

	return b->base.host.forget ? b->base.host.forget(b->base.host.ud, device) : -ENOTSUP;
}

static bool auto_bound(void *ud, const char *address, size_t len)
{
	return bound_device(ud, address, len);
}

static int auto_watchers(struct mqtt_bridge *b)
{
	const struct mqtt_auto_host h = { .ud = b,
					  .bridge = b->base.name,
					  .generated = auto_generated,
					  .discover = auto_discover,
					  .forget = auto_forget,
					  .bound = auto_bound };

	if (b->conf.z2m_on && !(b->z2m = z2m_watch_new(&b->conf.z2m, &h)))
		return -ENOMEM;
	if (b->conf.ha_on && !(b->ha = ha_watch_new(&b->conf.ha, &h, b->conf.max_devices)))
		return -ENOMEM;
	return 0;
}

static int auto_subscribe(struct mqtt_bridge *b)
{
	char f[2][300];
	size_t n;

	n = b->z2m ? z2m_watch_filters(b->z2m, f) : 0;
	for (size_t i = 0; i < n; i++)
		if (!sub_ref(b, f[i]))
			return -ENOMEM;
	n = b->ha ? ha_watch_filters(b->ha, f) : 0;
	for (size_t i = 0; i < n; i++)
		if (!sub_ref(b, f[i]))
			return -ENOMEM;
	return 0;
}

static void echo_check(struct mqtt_bridge *b, struct entry *e, const struct mapping_sample *s)
{
	struct lwm2m_value got;
	bool decoded = false;

	for (struct op *op = b->ops; op; op = op->next) {
		if (!op->confirm || op->finished || op->echoed || op->pt != e->pt ||
		    strcmp(op->device, e->dev->name))
			continue;
		if (!decoded && mapping_decode(e->pt, s, &got) < 0)
			return;
		decoded = true;
		if (value_equal(&op->expect, &got))
			op->echoed = true;
	}
}

/* The entries a message on topic feeds, in the order they were added. */
static void each_match(struct mqtt_bridge *b, const char *topic, size_t tlen,
		       void (*fn)(struct mqtt_bridge *b, struct entry *e, void *ctx), void *ctx)
{
	struct mqtt_binding bind;
	for (struct entry *e = mqtt_index_first(&b->index, topic, tlen); e; e = e->hnext)
		if (strcmp(e->key, topic) == 0)
			fn(b, e, ctx);
	for (struct entry *e = b->wild; e; e = e->hnext)
		if (mqtt_filter_match(e->sub->filter, topic, tlen) &&
		    mqtt_template_match(&entry_src(e)->topic, topic, tlen, dev_bind(e->dev, &bind), NULL))
			fn(b, e, ctx);
}

struct msg {
	const char *topic;
	unsigned long long seq; /* this message's number on the bridge */
	struct mqtt_payload pl;
	bool bad_logged, echoes;
};

/* A message or one of its values does not fit the device's profile:
 * counted as a bad message (once per message) or a value error. */
static void bad(struct mqtt_bridge *b, struct entry *e, struct msg *m, bool whole, const char *why)
{
	struct dev *d = e->dev;

	if (!whole)
		d->value_err++;
	else if (!d->bad_counted) {
		d->bad_counted = true;
		d->bad++;
	}
	if (!m->bad_logged)
		log_bad(b, m->topic, "does not match the profile of %s: %s", d->name, why);
	m->bad_logged = true;
}

/* Any message on a device's topics, even one that does not decode, says
 * the device is alive. */
static void heard(struct mqtt_bridge *b, struct dev *d)
{
	d->heard = now_usec(b);
	if (d->stale) {
		d->stale = false;
		log_device_info(BRIDGE_DEV_LOG(&b->base, d->name), "MQTT bridge %s: %s is heard again",
				b->base.name, d->name);
		dev_tell(b, d);
	}
}

/* Count the message on e's device, once. */
static void received(struct mqtt_bridge *b, struct entry *e, const struct msg *m)
{
	heard(b, e->dev);
	if (e->dev->msg_seen != m->seq) {
		e->dev->msg_seen = m->seq;
		e->dev->bad_counted = false;
		e->dev->rx++;
	}
}

static void feed_too_big(struct mqtt_bridge *b, struct entry *e, void *ctx)
{
	received(b, e, ctx);
	bad(b, e, ctx, true, "larger than max_payload");
}

static void feed(struct mqtt_bridge *b, struct entry *e, void *ctx)
{
	struct msg *m = ctx;
	struct mapping_sample s;
	struct json_object *doc;
	uint64_t t;
	int r;

	received(b, e, m);
	if (entry_src(e)->ota) {
		/* Object 5's values are the state machine's; one of its
		 * entries hands it the message. */
		if (entry_src(e)->ota_rid == 3 && e->dev->ota && mqtt_payload_json(&m->pl, &doc) == 0)
			z2m_ota_state_message(e->dev->ota, doc);
		return;
	}
	/* Not JSON is the whole message's fault, not each value's. */
	if (entry_src(e)->format == MQTT_FORMAT_JSON && mqtt_payload_json(&m->pl, &doc) == -EBADMSG) {
		bad(b, e, m, true, "not JSON");
		return;
	}
	r = mqtt_payload_decode(entry_src(e), mapping_raw_size(e->pt->xf.raw, e->pt->xf.width), &m->pl, &s,
				&t);
	if (r == -ENOENT) {
		e->dev->missing++;
		return;
	}
	if (r < 0) {
		/* Text: an empty payload, the same for every point. */
		if (entry_src(e)->format == MQTT_FORMAT_TEXT)
			bad(b, e, m, true, "empty or not text");
		else if (entry_src(e)->format == MQTT_FORMAT_TEMPLATE)
			/* Each point has its own template: a value's error. */
			bad(b, e, m, false,
			    r == -EBADMSG
				    ? "value_json of a payload that is not JSON"
				    : "the value template fails on it (no number, or a division by zero)");
		else
			bad(b, e, m, false,
			    entry_src(e)->format == MQTT_FORMAT_RAW ? "too short"
								    : "not a value (a JSON scalar document, "
								      "object, array or null)");
		return;
	}
	r = bridge_sample(&b->base, e->h, &s, t);
	if (r < 0) {
		e->dev->value_err++; /* the core counted and logged it */
		return;
	}
	if (b->ops) {
		echo_check(b, e, &s);
		m->echoes = true;
	}
}

static void pending_put(struct mqtt_bridge *b, size_t i, const char *topic, bool offline)
{
	size_t k;
	char *t;

	for (k = 0; k < b->npending; k++)
		if (b->pending[k].avail == i && strcmp(b->pending[k].topic, topic) == 0) {
			b->pending[k].offline = offline;
			return;
		}
	if (!(t = strdup(topic)))
		return;
	if (b->npending < PENDING_MAX)
		k = b->npending++;
	else {
		k = b->pending_next;
		b->pending_next = (b->pending_next + 1) % PENDING_MAX;
		free(b->pending[k].topic);
	}
	b->pending[k].topic = t;
	b->pending[k].avail = (uint8_t)i;
	b->pending[k].offline = offline;
}

/* A new device takes what availability topics already said about it. */
static void pending_apply(struct mqtt_bridge *b, struct dev *d)
{
	struct mqtt_binding bind;
	for (size_t k = 0; k < b->npending; k++) {
		const char *t = b->pending[k].topic;
		uint8_t bit = (uint8_t)(1u << b->pending[k].avail);
		if (!mqtt_template_match(&b->conf.avail[b->pending[k].avail].topic, t, strlen(t),
					 dev_bind(d, &bind), NULL))
			continue;
		d->offline = b->pending[k].offline ? d->offline | bit : d->offline & (uint8_t)~bit;
	}
}

static const char *words_text(char *const *w, size_t n, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++) {
		int k = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", w[i]);
		if (k < 0)
			break;
		o += (size_t)k;
	}
	return buf;
}

static bool has_captures(const struct mqtt_template *t)
{
	for (size_t l = 0; l < t->nlv; l++)
		if (t->lv[l].capture)
			return true;
	return false;
}

/* A message on availability topic i: about the whole bridge (no
 * captures), or about the devices whose bound captures it matches. */
static void availability(struct mqtt_bridge *b, size_t i, const char *topic, size_t tlen,
			 struct mqtt_payload *pl)
{
	struct mqtt_binding bind;
	const struct mqtt_avail *a = &b->conf.avail[i];
	uint8_t bit = (uint8_t)(1u << i);
	char word[65];
	int r = mqtt_avail_word(a, pl, word, sizeof(word));

	if (r < 0) {
		char on[160], off[160];
		log_bad(b, topic, "says neither online (%s) nor offline (%s): %s",
			words_text(a->online, a->nonline, on, sizeof(on)),
			words_text(a->offline, a->noffline, off, sizeof(off)), word);
		return;
	}
	log_debug("MQTT bridge %s: '%s' says %s", b->base.name, topic, r ? "online" : "offline");
	if (!has_captures(&a->topic)) {
		b->offline = r ? b->offline & (uint8_t)~bit : b->offline | bit;
		tell_all(b);
		return;
	}
	for (struct dev *d = b->devs; d; d = d->next) {
		if (!mqtt_template_match(&a->topic, topic, tlen, dev_bind(d, &bind), NULL))
			continue;
		d->offline = r ? d->offline & (uint8_t)~bit : d->offline | bit;
		dev_tell(b, d);
	}
	if (b->conf.nrules) /* for devices discovery creates later */
		pending_put(b, i, topic, !r);
}

/* ---- Object 5 through zigbee2mqtt (z2m_ota.c) ------------------------------------------------ */

/* A response on <base>/bridge/response/device/ota_update/<kind>: to the
 * device whose request it answers. */
static bool ota_response(struct mqtt_bridge *b, const char *topic, size_t tlen, struct mqtt_payload *pl)
{
	struct z2m_ota_response r;
	struct json_object *doc;
	char base[256], kind[8];

	if (!z2m_ota_response_topic(topic, tlen, base, sizeof(base), kind, sizeof(kind)))
		return false;
	if (mqtt_payload_json(pl, &doc) < 0 || z2m_ota_response_parse(doc, &r) < 0) {
		log_bad(b, topic,
			"is no zigbee2mqtt response (a JSON object with status \"ok\" or \"error\")");
		return true;
	}
	for (struct dev *d = b->devs; d; d = d->next)
		if (d->ota && strcmp(z2m_ota_base(d->ota), base) == 0 && z2m_ota_response(d->ota, kind, &r))
			return true;
	for (size_t i = 0; i < b->nparked; i++)
		if (strcmp(z2m_ota_base(b->parked[i]), base) == 0 && z2m_ota_response(b->parked[i], kind, &r))
			break;
	return true;
}

static void ota_changed(void *ud, uint16_t rid)
{
	struct dev *d = ud;
	struct mapping_sample s;

	for (struct entry *e = d->entries; e; e = e->next)
		if (entry_src(e)->ota && entry_src(e)->ota_rid == rid && z2m_ota_get(d->ota, rid, &s) == 0)
			(void)bridge_sample(&d->b->base, e->h, &s, 0);
}

static int ota_publish(void *ud, const char *topic, const char *payload)
{
	struct dev *d = ud;
	struct mqtt_bridge *b = d->b;
	int rc;

	if (b->state != ST_CONNECTED || !b->mosq)
		return -EHOSTUNREACH;
	b->in_publish = true;
	b->early_mid = -1;
	rc = mosquitto_publish(b->mosq, NULL, topic, (int)strlen(payload), payload, 1, false);
	b->in_publish = false;
	if (rc != MOSQ_ERR_SUCCESS) {
		log_device_error(BRIDGE_DEV_LOG(&b->base, d->name),
				 "MQTT bridge %s: %s: cannot publish on '%s': %s", b->base.name, d->name,
				 topic, mosquitto_strerror(rc));
		return rc == MOSQ_ERR_NO_CONN ? -EHOSTUNREACH : mosq_errno(rc);
	}
	d->pub++;
	log_device_debug(BRIDGE_DEV_LOG(&b->base, d->name), "MQTT bridge %s: %s: published '%s' on '%s'",
			 b->base.name, d->name, payload, topic);
	update_events(b);
	return 0;
}

static sd_event *ota_loop(void *ud)
{
	return ((struct dev *)ud)->b->event;
}

static void ota_filter(const struct z2m_ota *o, char *buf, size_t size)
{
	snprintf(buf, size, "%s/bridge/response/device/ota_update/+", z2m_ota_base(o));
}

/* An Object 5 entry of d was added: the state machine (one per device),
 * and the entry's current value. */
static int ota_attach(struct mqtt_bridge *b, struct dev *d, struct entry *e)
{
	const struct mqtt_source *src = entry_src(e);
	const struct z2m_ota_host host = {
		.ud = d, .changed = ota_changed, .publish = ota_publish, .loop = ota_loop
	};
	struct mapping_sample s;
	char filter[300];
	size_t vl;

	const char *id = dev_id(d, &vl);

	for (size_t i = 0; !d->ota && id && i < b->nparked; i++)
		if (strcmp(z2m_ota_device(b->parked[i]), d->name) == 0 &&
		    strcmp(z2m_ota_id(b->parked[i]), id) == 0 &&
		    strcmp(z2m_ota_base(b->parked[i]), src->ota_base) == 0) {
			d->ota = b->parked[i];
			memmove(&b->parked[i], &b->parked[i + 1],
				(b->nparked - i - 1) * sizeof(b->parked[0]));
			b->nparked--;
			z2m_ota_rehost(d->ota, d);
		}
	if (!d->ota) {
		if (!id) {
			log_device_error(BRIDGE_DEV_LOG(&b->base, d->name),
					 "MQTT bridge %s: device %s: 'firmware: zigbee2mqtt' needs its "
					 "friendly name as the address ({device})",
					 b->base.name, d->name);
			return -EINVAL;
		}
		d->ota = z2m_ota_new(src->ota_base, id, d->name, b->base.name, b->conf.ota_timeout_usec,
				     &host);
		if (!d->ota)
			return -ENOMEM;
		ota_filter(d->ota, filter, sizeof(filter));
		if (!sub_ref(b, filter)) {
			d->ota = z2m_ota_free(d->ota);
			return -ENOMEM;
		}
		b->nota++;
	}
	if (z2m_ota_get(d->ota, src->ota_rid, &s) == 0)
		(void)bridge_sample(&b->base, e->h, &s, 0);
	return 0;
}

static void ota_free(struct mqtt_bridge *b, struct z2m_ota *o)
{
	char filter[300];

	ota_filter(o, filter, sizeof(filter));
	sub_unref(b, sub_find(b, filter));
	z2m_ota_free(o);
	b->nota--;
}

/* Parked, with its subscription (a response may come meanwhile). */
static void ota_detach(struct mqtt_bridge *b, struct dev *d)
{
	if (!d->ota)
		return;
	z2m_ota_rehost(d->ota, NULL);
	if (b->nparked == OTA_PARKED_MAX) {
		ota_free(b, b->parked[0]);
		memmove(&b->parked[0], &b->parked[1], (OTA_PARKED_MAX - 1) * sizeof(b->parked[0]));
		b->nparked--;
	}
	b->parked[b->nparked++] = d->ota;
	d->ota = NULL;
}

static void dispatch(struct mqtt_bridge *b, const char *topic, const uint8_t *data, size_t len)
{
	struct msg m = { .topic = topic, .seq = ++b->messages };
	size_t tlen = strlen(topic);

	if (len > b->conf.max_payload) {
		each_match(b, topic, tlen, feed_too_big, &m);
		return;
	}
	mqtt_payload_init(&m.pl, data, len);
	for (size_t i = 0; i < b->conf.navail; i++)
		if (mqtt_template_match(&b->conf.avail[i].topic, topic, tlen, NULL, NULL))
			availability(b, i, topic, tlen, &m.pl);
	if (b->nota && ota_response(b, topic, tlen, &m.pl)) {
		mqtt_payload_clear(&m.pl);
		return;
	}
	if (b->base.host.generated && ((b->z2m && z2m_watch_message(b->z2m, topic, &m.pl)) ||
				       (b->ha && ha_watch_message(b->ha, topic, &m.pl, now_usec(b))))) {
		mqtt_payload_clear(&m.pl);
		return;
	}
	if (b->conf.nrules && b->base.host.discover)
		discover(b, topic, tlen, &m.pl);
	each_match(b, topic, tlen, feed, &m);
	mqtt_payload_clear(&m.pl);
	if (m.echoes)
		for (struct op *op = b->ops; op; op = op->next)
			if (op->echoed && !op->finished)
				op_finish_later(op, 0);
}

/* ---- writes and executes ------------------------------------------------------- */

static void op_free(struct op *op)
{
	sd_event_source_disable_unref(op->timer);
	free(op->device);
	free(op->expect_buf);
	free(op);
}

static void op_unlink(struct op *op)
{
	for (struct op **q = &op->b->ops; *q; q = &(*q)->next)
		if (*q == op) {
			*q = op->next;
			return;
		}
}

static int on_op_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct op *op = ud;
	struct mqtt_bridge *b = op->b;
	bridge_done_fn done = op->done;
	void *ctx = op->ctx;
	int err = op->finished ? op->err : -ETIME;
	struct dev *d = dev_find(b, op->device);

	(void)s;
	(void)usec;
	if (err == -ETIME) {
		if (d)
			d->timeouts++;
		log_device_warning(BRIDGE_DEV_LOG(&b->base, op->device),
				   "MQTT bridge %s: %s: no %s within the timeout", b->base.name, op->device,
				   op->confirm && op->acked ? "state echo" : "PUBACK");
	}
	op_unlink(op);
	op_free(op);
	done(ctx, err, NULL);
	return 0;
}

/* done() is never called from inside an op (nor a libmosquitto callback):
 * the op's timer is moved to now. */
static void op_finish_later(struct op *op, int err)
{
	op->finished = true;
	op->err = err;
	(void)sd_event_source_set_time(op->timer, 0);
	(void)sd_event_source_set_enabled(op->timer, SD_EVENT_ONESHOT);
}

static void ops_fail_unacked(struct mqtt_bridge *b, int err)
{
	for (struct op *op = b->ops; op; op = op->next)
		if (!op->acked && !op->finished)
			op_finish_later(op, err);
}

/* A write or execute of pt on d, not yet linked into b->ops (that happens
 * once it has gone out); NULL when out of memory. */
static struct op *op_new(struct mqtt_bridge *b, const struct dev *d, const struct mapping_point *pt,
			 bridge_done_fn done, void *ctx)
{
	struct op *op = calloc(1, sizeof(*op));

	if (!op || !(op->device = strdup(d->name))) {
		free(op);
		return NULL;
	}
	op->b = b;
	op->pt = pt;
	op->done = done;
	op->ctx = ctx;
	op->mid = -1;
	return op;
}

static int publish(struct mqtt_bridge *b, struct dev *d, const struct mqtt_source *w, const char *value,
		   size_t vlen, bool is_string, const struct mapping_point *pt,
		   const struct mapping_sample *written, bridge_done_fn done, void *ctx)
{
	struct mqtt_binding bind;
	char topic[1100], payload[4200];
	const char *missing = NULL;
	struct op *op;
	int tl, pl, rc, r;
	uint64_t timeout;

	if (b->state != ST_CONNECTED || !b->mosq)
		return -EHOSTUNREACH;
	tl = mqtt_template_expand(&w->topic, dev_bind(d, &bind), topic, sizeof(topic), &missing);
	if (tl < 0) {
		if (tl == -ENOENT)
			log_device_error(
				BRIDGE_DEV_LOG(&b->base, d->name),
				"MQTT bridge %s: %s: topic '%s' needs {%s}, which the device's address "
				"does not bind",
				b->base.name, d->name, w->topic.src, missing);
		else
			log_device_error(BRIDGE_DEV_LOG(&b->base, d->name),
					 "MQTT bridge %s: %s: cannot build a topic from '%s'", b->base.name,
					 d->name, w->topic.src);
		return -EINVAL;
	}
	pl = mqtt_fill_payload(w->payload, value, vlen, is_string, &bind, payload, sizeof(payload));
	if (pl < 0) {
		log_device_error(BRIDGE_DEV_LOG(&b->base, d->name),
				 "MQTT bridge %s: %s: cannot fill the payload template '%s'", b->base.name,
				 d->name, w->payload);
		return -EINVAL;
	}
	op = op_new(b, d, pt, done, ctx);
	if (!op)
		return -ENOMEM;
	op->confirm = w->confirm_usec > 0 && written;
	if (op->confirm) {
		r = mapping_decode(pt, written, &op->expect);
		if (r < 0)
			op->confirm = false; /* cannot compare: the PUBACK has to do */
		else if ((op->expect.type == LWM2M_TYPE_STRING || op->expect.type == LWM2M_TYPE_OPAQUE ||
			  op->expect.type == LWM2M_TYPE_CORELNK) &&
			 op->expect.bytes.len) {
			op->expect_buf = malloc(op->expect.bytes.len);
			if (!op->expect_buf) {
				op_free(op);
				return -ENOMEM;
			}
			memcpy(op->expect_buf, op->expect.bytes.ptr, op->expect.bytes.len);
			op->expect.bytes.ptr = op->expect_buf;
		}
	}
	timeout = op->confirm ? w->confirm_usec : b->conf.ack_timeout_usec;
	r = sd_event_add_time_relative(b->event, &op->timer, CLOCK_MONOTONIC, timeout, 1000, on_op_timer, op);
	if (r < 0) {
		op_free(op);
		return r;
	}
	b->in_publish = true;
	b->early_mid = -1;
	rc = mosquitto_publish(b->mosq, &op->mid, topic, pl, payload, w->qos, w->retain);
	b->in_publish = false;
	if (rc != MOSQ_ERR_SUCCESS) {
		log_device_error(BRIDGE_DEV_LOG(&b->base, d->name),
				 "MQTT bridge %s: %s: cannot publish on '%s': %s", b->base.name, d->name,
				 topic, mosquitto_strerror(rc));
		op_free(op);
		return rc == MOSQ_ERR_NO_CONN ? -EHOSTUNREACH : mosq_errno(rc);
	}
	op->next = b->ops;
	b->ops = op;
	if (b->early_mid == op->mid) {
		op->acked = true;
		if (!op->confirm)
			op_finish_later(op, 0);
	}
	d->pub++;
	log_device_debug(BRIDGE_DEV_LOG(&b->base, d->name), "MQTT bridge %s: %s: published '%s' on '%s'",
			 b->base.name, d->name, payload, topic);
	update_events(b);
	return 0;
}

/* A Write (v) or Execute (v NULL) of /5/0/rid: the state machine decides at
 * once; done() follows from the loop, as every op's does. */
static int ota_op(struct mqtt_bridge *b, struct dev *d, const struct mapping_point *pt, uint16_t rid,
		  const struct mapping_sample *v, bridge_done_fn done, void *ctx)
{
	struct op *op;
	int r;

	if (!d->ota)
		return -EHOSTUNREACH;
	op = op_new(b, d, pt, done, ctx);
	if (!op)
		return -ENOMEM;
	op->acked = true;
	r = sd_event_add_time(b->event, &op->timer, CLOCK_MONOTONIC, 0, 0, on_op_timer, op);
	if (r >= 0)
		r = v ? z2m_ota_write(d->ota, rid, v) : z2m_ota_execute(d->ota, rid);
	if (r < 0) {
		op_free(op);
		return r;
	}
	op->finished = true;
	op->next = b->ops;
	b->ops = op;
	return 0;
}

static int mqtt_write(struct bridge *base, const char *device, const struct mapping_point *pt,
		      const struct mapping_sample *v, bridge_done_fn done, void *ctx)
{
	struct mqtt_bridge *b = MQ(base);
	struct dev *d = dev_find(b, device);
	const struct mqtt_source *w = pt->write;
	char text[1024];
	bool is_string;
	int n;

	if (!d)
		return -ENOENT;
	if (!w)
		return -EPERM;
	if (w->ota)
		return ota_op(b, d, pt, w->ota_rid, v, done, ctx);
	n = mqtt_sample_text(v, text, sizeof(text), &is_string);
	if (n < 0)
		return n == -ENOBUFS ? -E2BIG : n;
	return publish(b, d, w, text, (size_t)n, is_string, pt, v, done, ctx);
}

static int mqtt_execute(struct bridge *base, const char *device, const struct mapping_point *pt,
			const char *args, size_t args_len, bridge_done_fn done, void *ctx)
{
	struct mqtt_bridge *b = MQ(base);
	struct dev *d = dev_find(b, device);

	if (!d)
		return -ENOENT;
	if (!pt->execute)
		return -EPERM;
	if (((const struct mqtt_source *)pt->execute)->ota)
		return ota_op(b, d, pt, ((const struct mqtt_source *)pt->execute)->ota_rid, NULL, done, ctx);
	return publish(b, d, pt->execute, args ? args : "", args ? args_len : 0, true, pt, NULL, done, ctx);
}

/* ---- points -------------------------------------------------------------------- */

static struct dev *dev_new(struct mqtt_bridge *b, const char *name, const struct ynode *address)
{
	struct mqtt_binding bind;
	struct dev *d;
	char why[200];
	size_t total = 0, o = 0;

	if (mqtt_address_binding(address, &bind, why, sizeof(why)) < 0) {
		log_device_error(BRIDGE_DEV_LOG(&b->base, name), "MQTT bridge %s: device %s: %s",
				 b->base.name, name, why);
		return NULL;
	}
	total = strlen(name) + 1;
	for (size_t i = 0; i < bind.n; i++) {
		/* Kept NUL-terminated (dev_bind()); a topic holds no NUL either. */
		if (memchr(bind.v[i].value, '\0', bind.v[i].len)) {
			log_device_error(
				BRIDGE_DEV_LOG(&b->base, name),
				"MQTT bridge %s: device %s: the address value of %s holds a NUL byte "
				"(no MQTT topic can)",
				b->base.name, name, bind.v[i].name);
			return NULL;
		}
		total += strlen(bind.v[i].name) + 1 + bind.v[i].len + 1;
	}
	d = calloc(1, sizeof(*d) + total);
	if (!d)
		return NULL;
	memcpy(d->name, name, strlen(name) + 1);
	o = strlen(name) + 1;
	for (size_t i = 0; i < bind.n; i++) {
		size_t nl = strlen(bind.v[i].name);
		memcpy(d->name + o, bind.v[i].name, nl + 1);
		o += nl + 1;
		memcpy(d->name + o, bind.v[i].value, bind.v[i].len);
		o += bind.v[i].len;
		d->name[o++] = '\0';
	}
	d->nbind = (uint8_t)bind.n;
	d->b = b;
	d->heard = now_usec(b);
	size_t vl;
	if (mqtt_index_add(&b->by_name, d) < 0) {
		free(d);
		return NULL;
	}
	if (dev_id(d, &vl) && mqtt_index_add(&b->by_value, d) < 0) {
		mqtt_index_del(&b->by_name, d);
		free(d);
		return NULL;
	}
	d->next = b->devs;
	if (b->devs)
		b->devs->prev = d;
	b->devs = d;
	pending_apply(b, d);
	return d;
}

/* Free e's key unless another entry of d (e is none of them) has it. */
static void key_unref(const struct dev *d, struct entry *e)
{
	for (const struct entry *o = d->entries; o && e->key; o = o->next)
		if (o->key == e->key)
			e->key = NULL;
	free(e->key);
	e->key = NULL;
}

static void dev_drop(struct mqtt_bridge *b, struct dev *d)
{
	size_t vl;

	if (d->prev)
		d->prev->next = d->next;
	else
		b->devs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	mqtt_index_del(&b->by_name, d);
	if (dev_id(d, &vl))
		mqtt_index_del(&b->by_value, d);
	if (d->discovered && b->ndiscovered)
		b->ndiscovered--;
	ota_detach(b, d);
	free(d);
}

static int mqtt_add_point(struct bridge *base, const struct bridge_point *p)
{
	struct mqtt_binding bind;
	struct mqtt_bridge *b = MQ(base);
	const struct mqtt_source *src = p->pt->source;
	struct dev *d = dev_find(b, p->device);
	struct entry *e;
	char filter[1100], key[1100];
	const char *missing;
	int r;

	if (!src)
		return 0;
	if (!d && !(d = dev_new(b, p->device, p->address)))
		return -EINVAL;
	r = mqtt_template_filter(&src->topic, dev_bind(d, &bind), filter, sizeof(filter));
	if (r < 0) {
		log_device_error(BRIDGE_DEV_LOG(&b->base, d->name),
				 "MQTT bridge %s: device %s: cannot subscribe to '%s' with its address",
				 b->base.name, d->name, src->topic.src);
		if (d->npoints == 0)
			dev_drop(b, d);
		return -EINVAL;
	}
	/* A discovery or availability filter that receives this topic anyway:
	 * one subscription (overlapping ones could deliver a message twice). */
	for (size_t i = 0; i < b->conf.nrules + b->conf.navail; i++) {
		const struct mqtt_template *t = i < b->conf.nrules ? &b->conf.rules[i].topic
								   : &b->conf.avail[i - b->conf.nrules].topic;
		char rf[1100];
		if (mqtt_template_filter(t, NULL, rf, sizeof(rf)) > 0 && mqtt_filter_covers(rf, filter)) {
			snprintf(filter, sizeof(filter), "%s", rf);
			break;
		}
	}
	e = entry_new(b);
	r = mqtt_template_expand(&src->topic, &bind, key, sizeof(key), &missing);
	if (e && r >= 0) {
		/* A device's points mostly come from one topic: one copy. */
		for (struct entry *o = d->entries; o && !e->key; o = o->next)
			if (o->key && strcmp(o->key, key) == 0)
				e->key = o->key;
		if (!e->key)
			e->key = strdup(key);
	}
	if (!e || (r >= 0 && !e->key) || !(e->sub = sub_ref(b, filter)) ||
	    (e->key && mqtt_index_add(&b->index, e) < 0)) {
		if (e) {
			if (e->sub)
				sub_unref(b, e->sub);
			key_unref(d, e);
		}
		entry_free(b, e);
		if (d->npoints == 0)
			dev_drop(b, d);
		return -ENOMEM;
	}
	e->dev = d;
	e->pt = p->pt;
	e->h = p->handle;
	/* Appended: a message feeds the points in profile order. */
	struct entry **tail = &d->entries;
	while (*tail)
		tail = &(*tail)->next;
	*tail = e;
	if (!e->key) {
		struct entry **q = &b->wild;

		while (*q)
			q = &(*q)->hnext;
		*q = e;
	}
	d->npoints++;
	if (src->ota && (r = ota_attach(b, d, e)) < 0)
		return r;
	update_events(b);
	/* A new device shares the broker's state (none yet while the first
	 * attempt is under way). */
	if (d->npoints == 1)
		dev_tell(b, d);
	return 0;
}

static void mqtt_remove_point(struct bridge *base, const char *device, const struct lwm2m_path *path)
{
	struct mqtt_bridge *b = MQ(base);
	struct dev *d = dev_find(b, device);

	for (struct entry **q = d ? &d->entries : NULL; q && *q; q = &(*q)->next) {
		struct entry *e = *q;
		if (lwm2m_path_cmp(&e->pt->path, path) != 0)
			continue;
		*q = e->next;
		if (e->key) {
			mqtt_index_del(&b->index, e);
		} else {
			for (q = &b->wild; *q; q = &(*q)->hnext)
				if (*q == e) {
					*q = e->hnext;
					break;
				}
		}
		sub_unref(b, e->sub);
		key_unref(d, e);
		entry_free(b, e);
		if (--d->npoints == 0)
			dev_drop(b, d);
		update_events(b);
		return;
	}
}

static int mqtt_device_status(struct bridge *base, const char *device, char *buf, size_t size)
{
	struct mqtt_bridge *b = MQ(base);
	struct dev *d = dev_find(b, device);
	int n;

	if (!d)
		return 0;
	const char *note = z2m_watch_note(b->z2m, device);
	if (!note)
		note = ha_watch_note(b->ha, device);
	char fw[64] = "";
	if (d->ota)
		(void)z2m_ota_note(d->ota, fw, sizeof(fw));
	n = snprintf(buf, size,
		     "rx=%llu bad=%llu value_err=%llu missing=%llu pub=%llu timeout=%llu%s%s%s%s%s%s%s",
		     d->rx, d->bad, d->value_err, d->missing, d->pub, d->timeouts,
		     d->discovered ? " discovered" : "", b->state == ST_CONNECTED ? "" : " broker-down",
		     d->offline || b->offline ? " offline" : "", d->stale ? " silent" : "", fw,
		     note ? " not mapped: " : "", note ? note : "");
	return n < 0 ? -EIO : (size_t)n >= size ? (int)size - 1 : n;
}

static int mqtt_device_counters(struct bridge *base, const char *device, struct bridge_counter *out,
				size_t max)
{
	struct dev *d = dev_find(MQ(base), device);
	const struct bridge_counter c[] = {
		{ "messages", "MQTT messages received on the device's topics", d ? d->rx : 0 },
		{ "bad_messages", "messages that could not be read at all (not JSON, too large)",
		  d ? d->bad : 0 },
		{ "value_errors", "values of a message that did not decode", d ? d->value_err : 0 },
		{ "missing_values", "values a message did not carry", d ? d->missing : 0 },
		{ "commands", "writes and executes published", d ? d->pub : 0 },
		{ "command_timeouts", "commands never acknowledged", d ? d->timeouts : 0 },
	};

	return d ? bridge_counters_copy(out, max, c, sizeof(c) / sizeof(c[0])) : 0;
}

/* ---- life cycle ---------------------------------------------------------------- */

static int mqtt_verify(struct schema_ctx *ctx, const struct ynode *body)
{
	return mqtt_conf_verify(ctx, body);
}

static int mqtt_verify_address(struct schema_ctx *ctx, const struct ynode *address)
{
	struct mqtt_binding bind;
	char why[200];

	if (!address)
		return 0; /* the core reports the missing key */
	if (mqtt_address_binding(address, &bind, why, sizeof(why)) < 0) {
		schema_error(ctx, address, "mqtt: %s", why);
		return -EINVAL;
	}
	return 0;
}

static int mqtt_init(struct bridge *base, const struct ynode *body)
{
	struct mqtt_bridge *b = MQ(base);
	int r;

	indexes_init(b);
	/* First, so that done() always has one to give back. */
	if (lib_refs++ == 0)
		mosquitto_lib_init();
	r = mqtt_conf_load(b->base.name, body, &b->conf);
	if (r < 0)
		return r;
	/* done() frees what was made of them. */
	return auto_watchers(b);
}

static int mqtt_start(struct bridge *base, sd_event *event)
{
	struct mqtt_bridge *b = MQ(base);
	int r;

	b->event = sd_event_ref(event);
	for (size_t i = 0; i < b->conf.nrules; i++) {
		char f[1100];
		if (mqtt_template_filter(&b->conf.rules[i].topic, NULL, f, sizeof(f)) > 0 && !sub_ref(b, f))
			return -ENOMEM;
	}
	for (size_t i = 0; i < b->conf.navail; i++) {
		char f[1100];
		if (mqtt_template_filter(&b->conf.avail[i].topic, NULL, f, sizeof(f)) > 0 && !sub_ref(b, f))
			return -ENOMEM;
	}
	if ((r = auto_subscribe(b)) < 0)
		return r;
	if ((b->z2m || b->ha) && !b->base.host.generated)
		log_warning("MQTT bridge %s: this gateway cannot create devices: zigbee2mqtt/homeassistant "
			    "discovery is off",
			    b->base.name);
	if (b->conf.nrules && !b->base.host.discover)
		log_warning("MQTT bridge %s: this gateway cannot create devices: discovery is off",
			    b->base.name);
	r = sd_event_add_time_relative(event, &b->misc, CLOCK_MONOTONIC, MISC_PERIOD_USEC, 100000, on_misc,
				       b);
	if (r < 0)
		return log_error_errno(r, "MQTT bridge %s: cannot arm a timer: %m", b->base.name);
	(void)sd_event_source_set_enabled(b->misc, SD_EVENT_ON);
	conn_begin(b);
	return 0;
}

static void mqtt_stop(struct bridge *base)
{
	struct mqtt_bridge *b = MQ(base);

	while (b->ops) {
		struct op *op = b->ops;
		bridge_done_fn done = op->done;
		void *ctx = op->ctx;
		b->ops = op->next;
		op_free(op);
		done(ctx, -ECANCELED, NULL);
	}
	if (b->mosq && b->state == ST_CONNECTED) {
		/* A clean goodbye: "offline" retained, then DISCONNECT (the
		 * broker drops the will). Whatever the socket takes now. */
		(void)mosquitto_publish(b->mosq, NULL, b->conf.status_topic, 7, "offline", 1, true);
		(void)mosquitto_disconnect(b->mosq);
		for (int i = 0; i < 10 && mosquitto_want_write(b->mosq); i++)
			if (mosquitto_loop_write(b->mosq, 1) != MOSQ_ERR_SUCCESS)
				break;
	}
	conn_teardown(b);
	b->state = ST_IDLE;
	b->retry = sd_event_source_disable_unref(b->retry);
	b->misc = sd_event_source_disable_unref(b->misc);
	b->lookup = resolve_cancel(b->lookup);
}

static void mqtt_done(struct bridge *base)
{
	struct mqtt_bridge *b = MQ(base);

	mqtt_stop(base);
	while (b->devs) {
		struct dev *d = b->devs;
		while (d->entries) {
			struct entry *e = d->entries;
			d->entries = e->next;
			key_unref(d, e);
			entry_free(b, e);
		}
		dev_drop(b, d);
	}
	while (b->nparked)
		ota_free(b, b->parked[--b->nparked]);
	while (b->subs) {
		struct sub *s = b->subs;
		b->subs = s->next;
		free(s->filter);
		free(s);
	}
	mqtt_index_clear(&b->by_name);
	mqtt_index_clear(&b->by_value);
	mqtt_index_clear(&b->index);
	mqtt_index_clear(&b->sub_by_filter);
	while (b->slabs) {
		struct entry_slab *sl = b->slabs;

		b->slabs = sl->next;
		free(sl);
	}
	b->free_entries = NULL;
	for (size_t i = 0; i < b->nrejected; i++)
		free(b->rejected[i]);
	for (size_t i = 0; i < b->npending; i++)
		free(b->pending[i].topic);
	if (b->ssl_ctx)
		SSL_CTX_free(b->ssl_ctx);
	z2m_watch_free(b->z2m);
	ha_watch_free(b->ha);
	mqtt_conf_clear(&b->conf);
	sd_event_unref(b->event);
	if (--lib_refs == 0)
		mosquitto_lib_cleanup();
}

static const struct bridge_kind bridge_kind_mqtt = {
	.name = "mqtt",
	.size = sizeof(struct mqtt_bridge),
	.tester = &mqtt_tester,
	.source_ops = &mqtt_source_ops,
	.verify = mqtt_verify,
	.verify_address = mqtt_verify_address,
	.init = mqtt_init,
	.start = mqtt_start,
	.add_point = mqtt_add_point,
	.remove_point = mqtt_remove_point,
	.write = mqtt_write,
	.execute = mqtt_execute,
	.device_status = mqtt_device_status,
	.device_counters = mqtt_device_counters,
	.stop = mqtt_stop,
	.done = mqtt_done,
};
BRIDGE_KIND_REGISTER(bridge_kind_mqtt)
