/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fg-lwm2m-client-test — N LwM2M endpoints in one process, for the
 * integration tests of lwm2m/client (tests/lwm2m/test_*.py).
 *
 * Every endpoint gets its own store with /3/0 (Device) and /3303/0
 * (Temperature) filled with test values; the process runs the sd_event loop
 * and takes commands on stdin, one per line. An endpoint is named by its
 * name, by its index, or "*" for all.
 *
 *   set EP PATH VALUE      store a value (VALUE read as text/plain)
 *   poke EP PATH VALUE     store a value without telling the client
 *   unset EP PATH          remove a value
 *   get EP PATH            print "value EP PATH TEXT" (or "value EP PATH -ERR")
 *   add-instance EP PATH   /oid/iid       del-instance EP PATH
 *   declare EP OID         object without instances
 *   changed EP             lwm2m_endpoint_objects_changed()
 *   update EP              lwm2m_endpoint_trigger_update()
 *   add-device EP PREFIX ID   Object 25 child with /3/0 and /3303/0
 *   remove-device EP PREFIX
 *   dset EP PREFIX PATH VALUE  set a value in a device's store
 *   remove EP              lwm2m_endpoint_remove()
 *   send EP PREFIX|- PATH...  lwm2m_endpoint_send() (up to 5 paths)
 *   ports                  "port NAME N" for each endpoint
 *   stats                  "stats registered=.. endpoints=.. ..."
 *   flush                  lwm2m_client_flush(), then "flushed N": notifications
 *                          sent so far, counted before the loop turns again
 *   max-observations N     lwm2m_client_set_max_observations() (as a reload)
 *   rss                    "rss KIB": this process's resident memory
 *   historical EP on|off   the pump's samples are historical (or not)
 *   sf EP                  "sf NAME held=.. bytes=.. queued=.. delivered=.. dropped=..
 *                          dropped_sent=.."
 *   pump EP PATH HZ [PREFIX|- [FIRST]]  a sensor: PATH (of the Object 25
 *                          device PREFIX) set every 1/HZ s to FIRST, FIRST+1...
 *                          (Float; FIRST 1 by default)
 *                          with the time of now (ms); "pump EP off" stops it and
 *                          prints "pumped NAME N" (values 1..N were set)
 *   quit                   de-register everything, print "bye", exit 0
 *
 * Events printed on stdout:
 *   ready N
 *   state NAME STATE ERR
 *   write NAME PREFIX|- PATH replace=0|1 n=N [PATH=TEXT]...
 *   exec NAME PREFIX|- PATH args=ARGS
 *   log LEVEL NAME|- MESSAGE        (on stderr)
 *
 * Options: --server URI --count N --name PREFIX --lifetime S --rate R
 *   --version 10|11|12 --binding U|UQ --ct N --psk-id ID --psk-key HEX
 *   --backoff-min MS --backoff-max MS --timeout MS --async-ms MS
 *   --ops (writes through the ops table, synchronous) --ddf FILE
 *   --stream [--stream-max N]  (ops->write_stream: prints "stream NAME PATH
 *                          off=N len=N last=0|1" per block, "stream-done NAME
 *                          PATH size=N fnv=HEX" (FNV-1a 64) after the last,
 *                          "stream-abort NAME PATH at=N")
 *   --log-level N --coap-log N --dtls-timeout MS
 *   --bootstrap URI --bs-psk-id ID --bs-psk-key HEX --state-dir DIR
 *   --bs-timeout MS --bs-after N   (bootstrap; --server is then optional)
 *   --con-period S --ack-timeout MS --max-retransmit N --max-observations N
 *   --same-mids (libcoap's random numbers all 0: every session starts at the
 *   same message id, so that Resets known by their id alone collide)
 *   --cert PEM --key PEM --ca PEM [--cert-no-verify] [--server-name HOST]
 *                          (DTLS certificate mode; HOST: the name the server's
 *                          certificate must carry, default the URI's host)
 *   --block1-max-body N --block1-transfers N --block1-budget N
 *   --block1-timeout MS --block1-max-tags N   (bounds of block-wise request
 *   bodies)
 *   --sf-max-samples N --sf-max-bytes N --sf-total N --sf-sync MS --sf-batch N
 *   --confirm-ms MS --probe-max MS --queue-awake MS --storing-off
 *                          (store-and-forward)
 * With --async-ms, writes and executes complete after that delay; a write
 * whose string value is "field-error" then fails with -ETIMEDOUT (5.03) and
 * an execute with args "9" with -EIO (5.00).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>
#include <systemd/sd-event.h>

#include "lwm2m/client.h"

struct ep_slot {
	struct lwm2m_endpoint *ep;
	struct lwm2m_store *store;
	char name[64];
	sd_event_source *pump; /* a sensor setting pump_path */
	struct lwm2m_path pump_path;
	uint64_t pump_period; /* µs */
	bool historical;      /* pump with lwm2m_endpoint_set_historical() */
	struct lwm2m_device *pump_dev;
	uint64_t pump_first;
	uint64_t pumped;
	struct {
		char prefix[65];
		struct lwm2m_device *dev;
		struct lwm2m_store *store;
	} devs[8];
};

static struct {
	sd_event *ev;
	struct lwm2m_registry *reg;
	struct lwm2m_client *client;
	struct ep_slot *eps;
	size_t n;
	unsigned async_ms;
	bool ops_write;
	char line[4096];
	size_t linelen;
	int exit_code;
} T;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int zero_prng(void *buf, size_t len)
{
	memset(buf, 0, len);
	return 1;
}

/* VmRSS of this process in KiB, -1 when unknown. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static void on_log(void *ud, int level, const char *ep, const char *msg)
{
	(void)ud;
	fprintf(stderr, "log %d %s %s\n", level, ep ? ep : "-", msg);
}

static const char *slot_name(struct lwm2m_endpoint *ep)
{
	return lwm2m_endpoint_name(ep);
}

static void on_state(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	(void)ud;
	out("state %s %s %d", slot_name(ep), lwm2m_ep_state_name(st), err);
}

/* ---- values as text ------------------------------------------------------ */

/* Store a value given as text/plain; through the client (ep set) so that
 * observations see it, or straight into a store being filled. */
static int set_text_ep(struct lwm2m_store *s, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		       const char *path, const char *text)
{
	struct lwm2m_path p;
	struct lwm2m_records recs = { 0 };
	int r;

	r = lwm2m_path_parse(path, strlen(path), &p, NULL);
	if (r < 0)
		return r;
	if (p.len < 3)
		return -EINVAL;
	r = lwm2m_decode(LWM2M_CT_TEXT, &p, (const uint8_t *)text, strlen(text), lwm2m_registry_type_of,
			 T.reg, &recs);
	if (r >= 0 && recs.n != 1)
		r = -EINVAL;
	if (r >= 0)
		r = ep ? lwm2m_endpoint_set(ep, dev, &p, &recs.v[0].value)
		       : lwm2m_store_set(s, &p, &recs.v[0].value);
	lwm2m_records_clear(&recs);
	return r;
}

static int set_text(struct lwm2m_store *s, const char *path, const char *text)
{
	return set_text_ep(s, NULL, NULL, path, text);
}

static int value_text(const struct lwm2m_path *p, const struct lwm2m_value *v, struct lwm2m_buf *b)
{
	struct lwm2m_record rec = { .path = *p, .value = *v };

	return lwm2m_encode(LWM2M_CT_TEXT, p, &rec, 1, b);
}

static int fill_store(struct lwm2m_store *s, size_t i)
{
	char serial[32];
	int r;

	snprintf(serial, sizeof(serial), "SN-%05zu", i);
	r = lwm2m_store_add_instance(s, 3, 0);
	if (r >= 0)
		r = lwm2m_store_add_instance(s, 3303, 0);
	if (r >= 0)
		r = set_text(s, "/3/0/0", "Fieldgate");
	if (r >= 0)
		r = set_text(s, "/3/0/1", "fg-test");
	if (r >= 0)
		r = set_text(s, "/3/0/2", serial);
	if (r >= 0)
		r = set_text(s, "/3/0/3", "1.0.0");
	if (r >= 0)
		r = set_text(s, "/3/0/6/0", "1");
	if (r >= 0)
		r = set_text(s, "/3/0/6/1", "5");
	if (r >= 0)
		r = set_text(s, "/3/0/9", "95");
	if (r >= 0)
		r = set_text(s, "/3/0/11/0", "0");
	if (r >= 0)
		r = set_text(s, "/3/0/13", "1700000000");
	if (r >= 0)
		r = set_text(s, "/3/0/14", "+01:00");
	if (r >= 0)
		r = set_text(s, "/3/0/16", "U");
	if (r >= 0)
		r = set_text(s, "/3303/0/5700", "21.5");
	if (r >= 0)
		r = set_text(s, "/3303/0/5701", "Cel");
	return r;
}

/* ---- asynchronous ops ------------------------------------------------------- */

struct later {
	lwm2m_done_fn done;
	void *done_ctx;
	int err;
};

static int on_later(sd_event_source *s, uint64_t usec, void *ud)
{
	struct later *l = ud;

	(void)usec;
	l->done(l->done_ctx, l->err);
	free(l);
	sd_event_source_disable_unref(s);
	return 0;
}

static int complete(lwm2m_done_fn done, void *done_ctx, int err)
{
	struct later *l;
	uint64_t now;

	if (!T.async_ms) {
		done(done_ctx, err);
		return 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	*l = (struct later){ done, done_ctx, err };
	sd_event_now(T.ev, CLOCK_MONOTONIC, &now);
	if (sd_event_add_time(T.ev, NULL, CLOCK_MONOTONIC, now + T.async_ms * 1000ull, 0, on_later, l) < 0) {
		free(l);
		return -ENOMEM;
	}
	return 0;
}

static int op_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		    lwm2m_done_fn done, void *done_ctx)
{
	struct lwm2m_store *s = dev ? lwm2m_device_store(dev) : lwm2m_endpoint_store(ep);
	char ps[32], line[2048];
	size_t n = 0;
	int err = 0, r;

	(void)ud;
	lwm2m_path_format(path, ps);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "write %s %s %s replace=%d n=%zu",
			      lwm2m_endpoint_name(ep), dev ? lwm2m_device_prefix(dev) : "-", ps, replace,
			      records->n);
	for (size_t i = 0; i < records->n && n < sizeof(line) - 64; i++) {
		const struct lwm2m_record *rec = &records->v[i];
		struct lwm2m_buf b = { 0 };
		char rp[32];

		lwm2m_path_format(&rec->path, rp);
		if (rec->value.type == LWM2M_TYPE_STRING && rec->value.bytes.len == 11 &&
		    !memcmp(rec->value.bytes.ptr, "field-error", 11))
			err = -ETIMEDOUT;
		if (rec->value.type != LWM2M_TYPE_NONE && value_text(&rec->path, &rec->value, &b) == 0)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%.*s", rp, (int)b.len,
					      (char *)b.data);
		else
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", rp);
		lwm2m_buf_free(&b);
	}
	out("%s", line);
	if (err)
		return complete(done, done_ctx, err);
	/* The field device "accepted" the value: the gateway stores it and
	 * tells the client, for observations. */
	r = lwm2m_store_write(s, path, records, replace);
	for (size_t i = 0; r >= 0 && i < records->n; i++)
		if (records->v[i].path.len >= 3)
			lwm2m_endpoint_value_changed(ep, dev, &records->v[i].path);
	return complete(done, done_ctx, r);
}

static int op_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		      const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		      void *done_ctx)
{
	char ps[32];

	(void)ud;
	lwm2m_path_format(path, ps);
	out("exec %s %s %s args=%.*s", lwm2m_endpoint_name(ep), dev ? lwm2m_device_prefix(dev) : "-", ps,
	    (int)args_len, args ? args : "");
	return complete(done, done_ctx, args_len == 1 && args[0] == '9' ? -EIO : 0);
}

/* --stream: Writes of application/octet-stream come block by block. A
 * first block starting with "nosys" is refused with -ENOSYS (assembled
 * instead), a block beyond --stream-max bytes with -EFBIG. */
static struct {
	uint64_t max;
	uint64_t fnv; /* FNV-1a 64 of the bytes so far */
} S;

static int op_write_stream(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			   const struct lwm2m_path *path, uint64_t offset, const uint8_t *data, size_t len,
			   unsigned flags)
{
	char ps[32];

	(void)ud;
	(void)dev;
	lwm2m_path_format(path, ps);
	if (flags & LWM2M_STREAM_ABORT) {
		out("stream-abort %s %s at=%llu", lwm2m_endpoint_name(ep), ps, (unsigned long long)offset);
		return 0;
	}
	if (offset == 0 && len >= 5 && !memcmp(data, "nosys", 5))
		return -ENOSYS;
	if (S.max && offset + len > S.max)
		return -EFBIG;
	out("stream %s %s off=%llu len=%zu last=%d", lwm2m_endpoint_name(ep), ps, (unsigned long long)offset,
	    len, (flags & LWM2M_STREAM_LAST) ? 1 : 0);
	if (offset == 0)
		S.fnv = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		S.fnv = (S.fnv ^ data[i]) * 0x100000001b3ull;
	if (flags & LWM2M_STREAM_LAST)
		out("stream-done %s %s size=%llu fnv=%016llx", lwm2m_endpoint_name(ep), ps,
		    (unsigned long long)(offset + len), (unsigned long long)S.fnv);
	return 0;
}

static struct lwm2m_endpoint_ops ops = {
	.execute = op_execute,
	.state = on_state,
};

/* ---- commands ------------------------------------------------------------ */

static struct ep_slot *find_ep(const char *name)
{
	char *end;
	unsigned long i = strtoul(name, &end, 10);

	if (*name && !*end && i < T.n)
		return T.eps[i].ep ? &T.eps[i] : NULL;
	for (size_t k = 0; k < T.n; k++)
		if (T.eps[k].ep && !strcmp(T.eps[k].name, name))
			return &T.eps[k];
	return NULL;
}

static int on_pump(sd_event_source *src, uint64_t usec, void *ud)
{
	struct ep_slot *s = ud;
	struct lwm2m_value v = { .type = LWM2M_TYPE_FLOAT };
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	v.f = (double)(s->pump_first + s->pumped++);
	if (s->ep)
		(s->historical ? lwm2m_endpoint_set_historical : lwm2m_endpoint_set_at)(
			s->ep, s->pump_dev, &s->pump_path, &v,
			(double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0);
	sd_event_source_set_time(src, usec + s->pump_period);
	return 0;
}

static int pump_start(struct ep_slot *s, const struct lwm2m_path *path, double hz)
{
	uint64_t now, period = (uint64_t)(1e6 / hz);
	int r;

	s->pump = sd_event_source_disable_unref(s->pump);
	s->pump_path = *path;
	s->pumped = 0;
	s->pump_period = period;
	sd_event_now(T.ev, CLOCK_MONOTONIC, &now);
	r = sd_event_add_time(T.ev, &s->pump, CLOCK_MONOTONIC, now + period, 1000, on_pump, s);
	if (r >= 0)
		r = sd_event_source_set_enabled(s->pump, SD_EVENT_ON);
	return r;
}

static void on_shutdown(void *ud)
{
	(void)ud;
	out("bye");
	sd_event_exit(T.ev, 0);
}

/* Apply fn to one endpoint or all ("*"). */
#define FOR_EPS(arg, s, body)                                     \
	do {                                                      \
		if (!strcmp((arg), "*")) {                        \
			for (size_t k_ = 0; k_ < T.n; k_++) {     \
				struct ep_slot *s = &T.eps[k_];   \
				if (!s->ep)                       \
					continue;                 \
				body;                             \
			}                                         \
		} else {                                          \
			struct ep_slot *s = find_ep(arg);         \
			if (!s) {                                 \
				out("error no endpoint %s", arg); \
				return;                           \
			}                                         \
			body;                                     \
		}                                                 \
	} while (0)

static int parse_inst(const char *p, struct lwm2m_path *out_path)
{
	if (lwm2m_path_parse(p, strlen(p), out_path, NULL) < 0 || out_path->len != 2)
		return -EINVAL;
	return 0;
}

static void command(char *line)
{
	char *argv[8] = { 0 };
	int argc = 0, last;
	char *p = line;

	/* Words separated by spaces; the value of set/poke/dset is the rest of
	 * the line (it may contain spaces). */
	last = 7;
	if (!strncmp(line, "set ", 4) || !strncmp(line, "poke ", 5))
		last = 3;
	else if (!strncmp(line, "dset ", 5))
		last = 4;
	while (*p && argc < 8) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		argv[argc++] = p;
		if (argc - 1 == last)
			break;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (argc == 0)
		return;
	const char *cmd = argv[0];

	if (!strcmp(cmd, "quit")) {
		lwm2m_client_shutdown(T.client, 5000, on_shutdown, NULL);
	} else if (!strcmp(cmd, "set") && argc >= 4) {
		FOR_EPS(argv[1], s, {
			int r = set_text_ep(s->store, s->ep, NULL, argv[2], argv[3]);
			if (r < 0)
				out("error set %s %d", s->name, r);
		});
		out("ok");
	} else if (!strcmp(cmd, "poke") && argc >= 4) {
		/* Into the store only, the client not told: a source that
		 * changed without reporting it (only epmax sampling sees it). */
		FOR_EPS(argv[1], s, {
			int r = set_text_ep(s->store, NULL, NULL, argv[2], argv[3]);
			if (r < 0)
				out("error poke %s %d", s->name, r);
		});
		out("ok");
	} else if (!strcmp(cmd, "unset") && argc >= 3) {
		struct lwm2m_path path;
		if (lwm2m_path_parse(argv[2], strlen(argv[2]), &path, NULL) < 0) {
			out("error path");
			return;
		}
		FOR_EPS(argv[1], s, lwm2m_store_unset(s->store, &path));
		out("ok");
	} else if (!strcmp(cmd, "get") && argc >= 3) {
		struct lwm2m_path path;
		if (lwm2m_path_parse(argv[2], strlen(argv[2]), &path, NULL) < 0) {
			out("error path");
			return;
		}
		FOR_EPS(argv[1], s, {
			struct lwm2m_value v;
			struct lwm2m_buf b = { 0 };
			int r = lwm2m_store_get(s->store, &path, &v);
			if (r >= 0)
				r = value_text(&path, &v, &b);
			if (r >= 0)
				out("value %s %s %.*s", s->name, argv[2], (int)b.len,
				    b.data ? (char *)b.data : "");
			else
				out("value %s %s %d", s->name, argv[2], r);
			lwm2m_buf_free(&b);
		});
	} else if ((!strcmp(cmd, "add-instance") || !strcmp(cmd, "del-instance")) && argc >= 3) {
		struct lwm2m_path path;
		bool add = cmd[0] == 'a';
		if (parse_inst(argv[2], &path) < 0) {
			out("error path");
			return;
		}
		FOR_EPS(argv[1], s, {
			int r = add ? lwm2m_store_add_instance(s->store, path.id[0], path.id[1])
				    : lwm2m_store_del_instance(s->store, path.id[0], path.id[1]);
			if (r < 0)
				out("error %s %s %d", cmd, s->name, r);
		});
		out("ok");
	} else if (!strcmp(cmd, "declare") && argc >= 3) {
		FOR_EPS(argv[1], s, lwm2m_endpoint_declare_object(s->ep, (uint16_t)atoi(argv[2])));
		out("ok");
	} else if (!strcmp(cmd, "changed") && argc >= 2) {
		FOR_EPS(argv[1], s, lwm2m_endpoint_objects_changed(s->ep));
		out("ok");
	} else if (!strcmp(cmd, "update") && argc >= 2) {
		FOR_EPS(argv[1], s, lwm2m_endpoint_trigger_update(s->ep));
		out("ok");
	} else if (!strcmp(cmd, "remove") && argc >= 2) {
		FOR_EPS(argv[1], s, {
			lwm2m_endpoint_remove(s->ep);
			s->ep = NULL;
			for (size_t d = 0; d < 8; d++)
				s->devs[d].store = lwm2m_store_free(s->devs[d].store);
			s->store = lwm2m_store_free(s->store);
		});
		out("ok");
	} else if (!strcmp(cmd, "add-device") && argc >= 4) {
		FOR_EPS(argv[1], s, {
			size_t d;
			for (d = 0; d < 8 && s->devs[d].dev; d++)
				;
			if (d == 8) {
				out("error too many devices");
				return;
			}
			struct lwm2m_store *ds = lwm2m_store_new(T.reg);
			int r = ds ? fill_store(ds, 1000 + d) : -ENOMEM;
			if (r >= 0)
				r = lwm2m_endpoint_add_device(s->ep, argv[2], ds, argv[3], &s->devs[d].dev);
			if (r < 0) {
				lwm2m_store_free(ds);
				out("error add-device %d", r);
				return;
			}
			s->devs[d].store = ds;
			snprintf(s->devs[d].prefix, sizeof(s->devs[d].prefix), "%s", argv[2]);
		});
		out("ok");
	} else if (!strcmp(cmd, "remove-device") && argc >= 3) {
		FOR_EPS(argv[1], s, {
			for (size_t d = 0; d < 8; d++) {
				if (s->devs[d].dev && !strcmp(s->devs[d].prefix, argv[2])) {
					if (s->pump_dev == s->devs[d].dev) {
						s->pump = sd_event_source_disable_unref(s->pump);
						s->pump_dev = NULL;
					}
					lwm2m_device_remove(s->devs[d].dev);
					s->devs[d].dev = NULL;
					s->devs[d].store = lwm2m_store_free(s->devs[d].store);
				}
			}
		});
		out("ok");
	} else if (!strcmp(cmd, "dset") && argc >= 5) {
		FOR_EPS(argv[1], s, {
			for (size_t d = 0; d < 8; d++)
				if (s->devs[d].dev && !strcmp(s->devs[d].prefix, argv[2])) {
					int r = set_text_ep(s->devs[d].store, s->ep, s->devs[d].dev, argv[3],
							    argv[4]);
					if (r < 0)
						out("error dset %d", r);
				}
		});
		out("ok");
	} else if (!strcmp(cmd, "send") && argc >= 4) {
		struct lwm2m_path paths[5];
		size_t n = 0;
		for (int i = 3; i < argc && n < 5; i++)
			if (lwm2m_path_parse(argv[i], strlen(argv[i]), &paths[n++], NULL) < 0) {
				out("error path");
				return;
			}
		FOR_EPS(argv[1], s, {
			struct lwm2m_device *dev = NULL;
			for (size_t d = 0; d < 8; d++)
				if (s->devs[d].dev && !strcmp(s->devs[d].prefix, argv[2]))
					dev = s->devs[d].dev;
			int r = lwm2m_endpoint_send(s->ep, dev, paths, n);
			if (r < 0) {
				out("error send %d", r);
				return;
			}
		});
		out("ok");
	} else if (!strcmp(cmd, "ports")) {
		for (size_t k = 0; k < T.n; k++)
			if (T.eps[k].ep)
				out("port %s %u", T.eps[k].name, lwm2m_endpoint_local_port(T.eps[k].ep));
		out("ok");
	} else if (!strcmp(cmd, "flush")) {
		struct lwm2m_client_stats st;
		lwm2m_client_flush(T.client);
		lwm2m_client_get_stats(T.client, &st);
		out("flushed %llu", (unsigned long long)st.notifications);
		out("ok");
	} else if (!strcmp(cmd, "stats")) {
		struct lwm2m_client_stats st;
		lwm2m_client_get_stats(T.client, &st);
		out("stats endpoints=%zu registered=%zu registers=%llu updates=%llu failures=%llu "
		    "requests=%llu pending=%zu observations=%zu notifications=%llu obs_refused=%llu "
		    "block1_bodies=%zu block1_bytes=%zu renewals=%llu sf_held=%zu sf_bytes=%zu "
		    "sf_queued=%llu "
		    "sf_delivered=%llu sf_dropped=%llu servers_lost=%llu probes=%llu duplicates=%llu",
		    st.endpoints, st.registered, (unsigned long long)st.registers,
		    (unsigned long long)st.updates, (unsigned long long)st.failures,
		    (unsigned long long)st.requests, st.pending_async, st.observations,
		    (unsigned long long)st.notifications, (unsigned long long)st.obs_refused,
		    st.block1_bodies, st.block1_bytes, (unsigned long long)st.renewals, st.sf_held,
		    st.sf_bytes, (unsigned long long)st.sf_queued, (unsigned long long)st.sf_delivered,
		    (unsigned long long)st.sf_dropped, (unsigned long long)st.servers_lost,
		    (unsigned long long)st.probes, (unsigned long long)st.duplicates);
	} else if (!strcmp(cmd, "max-observations") && argc >= 2) {
		lwm2m_client_set_max_observations(T.client, (uint32_t)strtoul(argv[1], NULL, 10));
		out("ok");
	} else if (!strcmp(cmd, "rss")) {
		out("rss %ld", rss_kib());
	} else if (!strcmp(cmd, "historical") && argc >= 3) {
		FOR_EPS(argv[1], s, s->historical = !strcmp(argv[2], "on"));
		out("ok");
	} else if (!strcmp(cmd, "sf") && argc >= 2) {
		FOR_EPS(argv[1], s, {
			struct lwm2m_sf_stats st;
			lwm2m_endpoint_sf_stats(s->ep, s->pump_dev, &st);
			out("sf %s held=%zu bytes=%zu queued=%llu delivered=%llu dropped=%llu "
			    "dropped_sent=%llu",
			    s->name, st.held, st.bytes, (unsigned long long)st.queued,
			    (unsigned long long)st.delivered, (unsigned long long)st.dropped,
			    (unsigned long long)st.dropped_sent);
		});
	} else if (!strcmp(cmd, "pump") && argc >= 3) {
		if (!strcmp(argv[2], "off")) {
			FOR_EPS(argv[1], s, {
				s->pump = sd_event_source_disable_unref(s->pump);
				out("pumped %s %llu", s->name, (unsigned long long)s->pumped);
			});
			return;
		}
		struct lwm2m_path path;
		double hz = argc >= 4 ? strtod(argv[3], NULL) : 0;
		if (lwm2m_path_parse(argv[2], strlen(argv[2]), &path, NULL) < 0 || path.len < 3 ||
		    !(hz > 0)) {
			out("error pump");
			return;
		}
		FOR_EPS(argv[1], s, {
			s->pump_dev = NULL;
			s->pump_first = argc >= 6 ? strtoull(argv[5], NULL, 10) : 1;
			for (size_t d = 0; argc >= 5 && d < 8; d++)
				if (s->devs[d].dev && !strcmp(s->devs[d].prefix, argv[4]))
					s->pump_dev = s->devs[d].dev;
			if (pump_start(s, &path, hz) < 0) {
				out("error pump");
				return;
			}
		});
		out("ok");
	} else {
		out("error unknown command %s", cmd);
	}
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	char buf[4096];
	ssize_t n;

	(void)revents;
	(void)ud;
	n = read(fd, buf, sizeof(buf));
	if (n <= 0) {
		/* EOF: behave as "quit" once. */
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
		if (n == 0)
			lwm2m_client_shutdown(T.client, 5000, on_shutdown, NULL);
		return 0;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			T.line[T.linelen] = '\0';
			command(T.line);
			T.linelen = 0;
		} else if (T.linelen < sizeof(T.line) - 1) {
			T.line[T.linelen++] = buf[i];
		}
	}
	return 0;
}

static int hexkey(const char *s, uint8_t *out_key, size_t max)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out_key[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "server", required_argument, 0, 's' },
		{ "count", required_argument, 0, 'n' },
		{ "name", required_argument, 0, 'N' },
		{ "lifetime", required_argument, 0, 'l' },
		{ "rate", required_argument, 0, 'r' },
		{ "version", required_argument, 0, 'v' },
		{ "binding", required_argument, 0, 'b' },
		{ "ct", required_argument, 0, 'c' },
		{ "psk-id", required_argument, 0, 'i' },
		{ "psk-key", required_argument, 0, 'k' },
		{ "backoff-min", required_argument, 0, 'm' },
		{ "backoff-max", required_argument, 0, 'M' },
		{ "timeout", required_argument, 0, 't' },
		{ "async-ms", required_argument, 0, 'a' },
		{ "ops", no_argument, 0, 'o' },
		{ "ddf", required_argument, 0, 'd' },
		{ "log-level", required_argument, 0, 'L' },
		{ "coap-log", required_argument, 0, 'C' },
		{ "dtls-timeout", required_argument, 0, 'D' },
		{ "bootstrap", required_argument, 0, 'B' },
		{ "bs-psk-id", required_argument, 0, 'I' },
		{ "bs-psk-key", required_argument, 0, 'K' },
		{ "state-dir", required_argument, 0, 'S' },
		{ "bs-timeout", required_argument, 0, 'T' },
		{ "bs-after", required_argument, 0, 'F' },
		{ "con-period", required_argument, 0, 'P' },
		{ "ack-timeout", required_argument, 0, 'A' },
		{ "max-retransmit", required_argument, 0, 'R' },
		{ "max-observations", required_argument, 0, 'O' },
		{ "same-mids", no_argument, 0, 'X' },
		{ "cert", required_argument, 0, 'x' },
		{ "key", required_argument, 0, 'y' },
		{ "ca", required_argument, 0, 'z' },
		{ "cert-no-verify", no_argument, 0, 'Z' },
		{ "block1-max-body", required_argument, 0, 0x100 },
		{ "block1-transfers", required_argument, 0, 0x101 },
		{ "block1-budget", required_argument, 0, 0x102 },
		{ "block1-timeout", required_argument, 0, 0x103 },
		{ "block1-max-tags", required_argument, 0, 0x104 },
		{ "server-name", required_argument, 0, 'H' },
		{ "sf-max-samples", required_argument, 0, 0x110 },
		{ "sf-max-bytes", required_argument, 0, 0x111 },
		{ "sf-total", required_argument, 0, 0x112 },
		{ "sf-sync", required_argument, 0, 0x113 },
		{ "sf-batch", required_argument, 0, 0x114 },
		{ "confirm-ms", required_argument, 0, 0x115 },
		{ "probe-max", required_argument, 0, 0x116 },
		{ "queue-awake", required_argument, 0, 0x117 },
		{ "storing-off", no_argument, 0, 0x118 },
		{ "stream", no_argument, 0, 0x120 },
		{ "stream-max", required_argument, 0, 0x121 },
		{ 0, 0, 0, 0 },
	};
	struct lwm2m_client_config cc = { .log = on_log, .log_level = LWM2M_LOG_INFO };
	struct lwm2m_endpoint_config ec = { .ops = &ops };
	const char *name = "ep";
	uint8_t key[64], bskey[64];
	int opt, r;

	T.n = 1;
	while ((opt = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			ec.server_uri = optarg;
			break;
		case 'n':
			T.n = strtoul(optarg, NULL, 10);
			break;
		case 'N':
			name = optarg;
			break;
		case 'l':
			ec.lifetime = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			cc.reg_rate = strtod(optarg, NULL);
			break;
		case 'v':
			ec.version = (uint8_t)atoi(optarg);
			break;
		case 'b':
			ec.binding = !strcmp(optarg, "UQ") ? LWM2M_BINDING_UQ : LWM2M_BINDING_U;
			break;
		case 'c':
			ec.content_format = (uint16_t)atoi(optarg);
			break;
		case 'i':
			ec.psk_identity = optarg;
			break;
		case 'k':
			r = hexkey(optarg, key, sizeof(key));
			if (r < 0) {
				fprintf(stderr, "bad --psk-key\n");
				return 2;
			}
			ec.psk_key = key;
			ec.psk_key_len = (size_t)r;
			break;
		case 'm':
			cc.backoff_min_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'M':
			cc.backoff_max_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 't':
			cc.request_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			T.async_ms = (unsigned)strtoul(optarg, NULL, 10);
			T.ops_write = true;
			break;
		case 'o':
			T.ops_write = true;
			break;
		case 0x120:
			ops.write_stream = op_write_stream;
			break;
		case 0x121:
			S.max = strtoull(optarg, NULL, 10);
			break;
		case 'd':
			if (!T.reg)
				T.reg = lwm2m_registry_new();
			if (!T.reg || lwm2m_registry_load_ddf_file(T.reg, optarg, NULL, NULL) < 0) {
				fprintf(stderr, "cannot load %s\n", optarg);
				return 2;
			}
			break;
		case 'D':
			cc.dtls_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'B':
			ec.bootstrap_uri = optarg;
			break;
		case 'I':
			ec.bootstrap_psk_identity = optarg;
			break;
		case 'K':
			r = hexkey(optarg, bskey, sizeof(bskey));
			if (r < 0) {
				fprintf(stderr, "bad --bs-psk-key\n");
				return 2;
			}
			ec.bootstrap_psk_key = bskey;
			ec.bootstrap_psk_key_len = (size_t)r;
			break;
		case 'S':
			cc.state_dir = optarg;
			break;
		case 0x100:
			cc.block1_max_body = strtoul(optarg, NULL, 10);
			break;
		case 0x101:
			cc.block1_max_transfers = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 0x102:
			cc.block1_budget = strtoul(optarg, NULL, 10);
			break;
		case 0x103:
			cc.block1_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 0x104:
			cc.block1_max_tags = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			cc.bootstrap_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'F':
			cc.bootstrap_after_failures = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			cc.con_period_s = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'A':
			cc.ack_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			cc.max_retransmit = (uint8_t)strtoul(optarg, NULL, 10);
			break;
		case 'O':
			cc.max_observations = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'X':
			coap_set_prng(zero_prng);
			break;
		case 'x':
			ec.cert_file = optarg;
			break;
		case 'y':
			ec.key_file = optarg;
			break;
		case 'z':
			ec.ca_file = optarg;
			break;
		case 'Z':
			ec.cert_no_verify = true;
			break;
		case 'H':
			ec.server_name = optarg;
			break;
		case 'L':
			cc.log_level = atoi(optarg);
			break;
		case 'C':
			cc.coap_log_level = atoi(optarg);
			break;
		case 0x110:
			cc.sf_max_samples = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 0x111:
			cc.sf_max_bytes = strtoul(optarg, NULL, 10);
			break;
		case 0x112:
			cc.sf_total_bytes = strtoul(optarg, NULL, 10);
			break;
		case 0x113:
			cc.sf_sync_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 0x114:
			cc.sf_send_batch = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 0x115:
			cc.sf_confirm_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 0x116:
			cc.probe_max_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 0x117:
			cc.queue_awake_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 0x118:
			ec.storing_off = true;
			break;
		default:
			return 2;
		}
	}
	if (!ec.server_uri && !ec.bootstrap_uri) {
		fprintf(stderr, "usage: fg-lwm2m-client-test --server URI [options]\n");
		return 2;
	}
	if (T.ops_write)
		ops.write = op_write;
	if (!T.reg)
		T.reg = lwm2m_registry_new();
	T.eps = calloc(T.n ? T.n : 1, sizeof(*T.eps));
	if (!T.reg || !T.eps || sd_event_default(&T.ev) < 0)
		return 1;
	r = lwm2m_client_new(T.ev, T.reg, &cc, &T.client);
	if (r < 0) {
		fprintf(stderr, "lwm2m_client_new: %s\n", strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < T.n; i++) {
		struct ep_slot *s = &T.eps[i];

		snprintf(s->name, sizeof(s->name), "%s%zu", name, i);
		s->store = lwm2m_store_new(T.reg);
		if (!s->store || fill_store(s->store, i) < 0) {
			fprintf(stderr, "store setup failed\n");
			return 1;
		}
		ec.name = s->name;
		r = lwm2m_endpoint_add(T.client, &ec, s->store, &s->ep);
		if (r < 0) {
			fprintf(stderr, "lwm2m_endpoint_add(%s): %s\n", s->name, strerror(-r));
			return 1;
		}
	}
	sd_event_add_io(T.ev, NULL, STDIN_FILENO, EPOLLIN, on_stdin, NULL);
	out("ready %zu", T.n);
	r = sd_event_loop(T.ev);
	T.client = lwm2m_client_free(T.client);
	for (size_t i = 0; i < T.n; i++) {
		sd_event_source_disable_unref(T.eps[i].pump);
		for (size_t d = 0; d < 8; d++)
			lwm2m_store_free(T.eps[i].devs[d].store);
		lwm2m_store_free(T.eps[i].store);
	}
	free(T.eps);
	lwm2m_registry_free(T.reg);
	sd_event_unref(T.ev);
	return r < 0 ? 1 : T.exit_code;
}
