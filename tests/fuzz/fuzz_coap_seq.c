/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: a SEQUENCE of CoAP datagrams sent by "the server" to a real
 * endpoint of a real lwm2m_client, through the endpoint's UDP socket, so
 * that libcoap's own handling (block-wise state, observe, asynchronous
 * answers, message layer) is fuzzed together with ours. One datagram at a
 * time could not find the 4.3.1 Block1 crash (three datagrams with one
 * URI): fuzz_client_dm calls the handler directly, past all of libcoap.
 *
 * Input: records, each a 16-bit big-endian length then that many bytes,
 * one datagram each (a short last record is sent as it is); length 0xFFFF
 * instead lets time pass until the unfinished block-wise transfers expire.
 * At most 64 datagrams and 2 waits per input.
 *
 * Each input gets a new endpoint (and store) that registers with a UDP
 * socket of this program playing the server: it answers the Register,
 * then sends the datagrams from that same address and port, running the
 * event loop until it is idle after each; it acknowledges every
 * Confirmable message the endpoint sends (separate answers,
 * notifications, Updates). The endpoint is freed at the end, so nothing
 * carries over from one input to the next but libcoap's context. Writes
 * and some reads complete asynchronously (a deferred event) to exercise
 * separate answers.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lwm2m/client/client_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DATAGRAMS 64
#define MAX_WAITS     2
#define B1_TIMEOUT_MS 20

static struct {
	sd_event *ev;
	struct lwm2m_registry *reg;
	struct lwm2m_client *c;
	int srv; /* the "server" socket */
	struct sockaddr_in srvaddr;
	struct sockaddr_in epaddr; /* the endpoint's socket */
	bool failed;
} F;

/* ---- the field side: asynchronous completions ------------------------------- */

struct later {
	lwm2m_done_fn done;
	void *ctx;
	int err;
};

static int on_later(sd_event_source *s, void *ud)
{
	struct later *l = ud;

	l->done(l->ctx, l->err);
	free(l);
	sd_event_source_disable_unref(s);
	return 0;
}

static int later(lwm2m_done_fn done, void *ctx, int err)
{
	struct later *l = malloc(sizeof(*l));

	if (!l)
		return -ENOMEM;
	*l = (struct later){ done, ctx, err };
	if (sd_event_add_defer(F.ev, NULL, on_later, l) < 0) {
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

	(void)ud;
	return later(done, done_ctx, lwm2m_store_write(s, path, records, replace));
}

static int op_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		      const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		      void *done_ctx)
{
	(void)ud;
	(void)ep;
	(void)dev;
	(void)path;
	(void)args;
	done(done_ctx, args_len ? -EIO : 0);
	return 0;
}

/* Temperatures are "fetched from the field" first, the rest is not. */
static int op_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		   const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	(void)ud;
	(void)ep;
	(void)dev;
	if (path->len == 0 || path->id[0] != 3303)
		return 0;
	return later(done, done_ctx, 0) < 0 ? -ENOMEM : 1;
}

/* Octet-stream Writes of /5/0/0 come block by block (block1.c streams):
 * a first block starting with "nosys" is assembled instead, more than
 * 16 KiB is refused (-EFBIG). Checks what the client promises the op:
 * data with every block but an ABORT, which carries none. */
static int op_write_stream(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			   const struct lwm2m_path *path, uint64_t offset, const uint8_t *data, size_t len,
			   unsigned flags)
{
	(void)ud;
	(void)ep;
	if (dev || path->len != 3)
		abort();
	if (flags & LWM2M_STREAM_ABORT) {
		if (data || len || (flags & LWM2M_STREAM_LAST))
			abort();
		return 0;
	}
	if (len && !data)
		abort();
	if (offset == 0 && len >= 5 && !memcmp(data, "nosys", 5))
		return -ENOSYS;
	return offset + len > 16384 ? -EFBIG : 0;
}

static const struct lwm2m_endpoint_ops ops = {
	.write = op_write,
	.write_stream = op_write_stream,
	.execute = op_execute,
	.read = op_read,
};

/* ---- the server side ---------------------------------------------------------- */

/* Acknowledge every Confirmable message the endpoint sent. With
 * registering, the first POST is its Register: answered 2.01 (at /rd/0),
 * and its address is kept. Returns whether it came. */
static bool drain(bool registering)
{
	bool reg = false;
	uint8_t buf[2048];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	while ((n = recvfrom(F.srv, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) >= 0) {
		uint8_t ack[16];
		size_t tkl = buf[0] & 15, len = 4;

		fl = sizeof(from);
		if (n < 4 || (buf[0] >> 4 & 3) != 0 || tkl > 8 || (size_t)n < 4 + tkl)
			continue; /* not a CON */
		ack[0] = 0x60;
		ack[1] = 0;
		memcpy(ack + 2, buf + 2, 2);
		if (buf[1] >= 1 && buf[1] <= 31) {
			/* A request (Register, Update): 2.01 at /rd/0, or 2.04. */
			ack[0] = (uint8_t)(0x60 | tkl);
			ack[1] = buf[1] == 2 && registering && !reg ? 0x41 : 0x44;
			memcpy(ack + 4, buf + 4, tkl);
			len = 4 + tkl;
			if (ack[1] == 0x41) {
				static const uint8_t loc[] = { 0x82, 'r', 'd', 0x01, '0' };

				memcpy(ack + len, loc, sizeof(loc));
				len += sizeof(loc);
				F.epaddr = from;
				reg = true;
			}
		}
		sendto(F.srv, ack, len, 0, (struct sockaddr *)&from, sizeof(from));
	}
	return reg;
}

/* Run the loop until it has nothing to do now (bounded: a loop that never
 * settles is a finding too, as a time-out). */
static void pump(void)
{
	for (int i = 0; i < 10000 && sd_event_run(F.ev, 0) > 0; i++)
		;
	drain(false);
	for (int i = 0; i < 10000 && sd_event_run(F.ev, 0) > 0; i++)
		;
}

static int fill(struct lwm2m_store *s)
{
	static const struct {
		struct lwm2m_path p;
		struct lwm2m_value v;
	} vals[] = {
		{ LWM2M_PATH(3, 0, 0),
		  { .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"Acme", 4 } } },
		{ LWM2M_PATH(3, 0, 6, 0), { .type = LWM2M_TYPE_INTEGER, .i = 1 } },
		{ LWM2M_PATH(3, 0, 13), { .type = LWM2M_TYPE_TIME, .i = 1700000000 } },
		{ LWM2M_PATH(3303, 0, 5700), { .type = LWM2M_TYPE_FLOAT, .f = 21.5 } },
		{ LWM2M_PATH(3303, 0, 5750),
		  { .type = LWM2M_TYPE_STRING, .bytes = { (const uint8_t *)"room", 4 } } },
	};
	int r = lwm2m_store_add_instance(s, 3, 0);

	r |= lwm2m_store_add_instance(s, 3303, 0);
	r |= lwm2m_store_add_instance(s, 5, 0); /* /5/0/0: streamed Writes */
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		r |= lwm2m_store_set(s, &vals[i].p, &vals[i].v);
	return r;
}

static bool setup(void)
{
	struct lwm2m_client_config cc = {
		.reg_rate = 1e6, /* no pacing between inputs */
		.block1_max_body = 4096,
		.block1_max_transfers = 2,
		.block1_budget = 16384,
		.block1_timeout_ms = B1_TIMEOUT_MS,
		/* A fourth Request-Tag renews the session (and the Register
		 * that follows is answered 2.04 by drain(): it fails). */
		.block1_max_tags = 3,
		/* A Confirmable message nobody acknowledges (sent after the
		 * endpoint is gone) gives up within ~0.1 s, freeing its
		 * session and socket. */
		.ack_timeout_ms = 20,
		.max_retransmit = 1,
	};
	socklen_t l = sizeof(F.srvaddr);

	F.srv = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	F.srvaddr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (F.srv < 0 || bind(F.srv, (struct sockaddr *)&F.srvaddr, sizeof(F.srvaddr)) < 0 ||
	    getsockname(F.srv, (struct sockaddr *)&F.srvaddr, &l) < 0)
		return false;
	if (sd_event_new(&F.ev) < 0)
		return false;
	F.reg = lwm2m_registry_new();
	return F.reg && lwm2m_client_new(F.ev, F.reg, &cc, &F.c) >= 0;
}

/* A new endpoint registered with us, or NULL. */
static struct lwm2m_endpoint *endpoint_new(struct lwm2m_store *store, struct lwm2m_store *dstore)
{
	char uri[64];
	struct lwm2m_endpoint_config ec = { .name = "fuzz", .server_uri = uri, .ops = &ops };
	struct lwm2m_endpoint *ep;
	bool reg = false;

	snprintf(uri, sizeof(uri), "coap://127.0.0.1:%u", ntohs(F.srvaddr.sin_port));
	if (lwm2m_endpoint_add(F.c, &ec, store, &ep) < 0)
		return NULL;
	if (lwm2m_endpoint_add_device(ep, "dev0", dstore, "D0", NULL) < 0) {
		fg_ep_free(ep);
		return NULL;
	}
	for (int i = 0; i < 2000 && lwm2m_endpoint_state(ep) != LWM2M_EP_REGISTERED; i++) {
		sd_event_run(F.ev, 1000);
		reg |= drain(!reg);
	}
	if (lwm2m_endpoint_state(ep) != LWM2M_EP_REGISTERED) {
		fg_ep_free(ep);
		return NULL;
	}
	return ep;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_store *store, *dstore;
	struct lwm2m_endpoint *ep;
	unsigned sent = 0, waits = 0;

	if (!F.c && !F.failed && !setup())
		F.failed = true;
	if (F.failed)
		abort(); /* the harness itself is broken: say so loudly */
	store = lwm2m_store_new(F.reg);
	dstore = lwm2m_store_new(F.reg);
	if (!store || !dstore || fill(store) < 0 || fill(dstore) < 0)
		abort();
	ep = endpoint_new(store, dstore);
	if (!ep)
		abort(); /* registration with ourselves failed: the harness */

	while (size >= 2 && sent < MAX_DATAGRAMS) {
		size_t n = (size_t)data[0] << 8 | data[1];

		data += 2;
		size -= 2;
		if (n == 0xFFFF) {
			if (waits++ < MAX_WAITS) {
				usleep((B1_TIMEOUT_MS + 5) * 1000);
				pump();
			}
			continue;
		}
		if (n > size)
			n = size;
		sendto(F.srv, data, n, 0, (struct sockaddr *)&F.epaddr, sizeof(F.epaddr));
		sent++;
		data += n;
		size -= n;
		pump();
	}

	fg_ep_free(ep);
	pump(); /* asynchronous completions still due find no endpoint */
	lwm2m_store_free(store);
	lwm2m_store_free(dstore);
	return 0;
}
