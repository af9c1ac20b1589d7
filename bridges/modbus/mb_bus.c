/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bus worker (see mb_bus.h). The worker blocks in libmodbus — which has
 * no non-blocking client API — so it never runs on the loop thread; the
 * loop only ever takes the mutex for a queue operation.
 */
#include "bridges/modbus/mb_bus.h"
#include "common/lowfd.h"

#include <errno.h>
#include <modbus.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MB_OP_LINK 0xff /* internal: a link state change travelling on the completion queue */

struct mb_bus {
	char *name;
	modbus_t *ctx;
	char *host, *port; /* TCP: connected by the worker itself (see tcp_open) */
	bool rs485;
	mb_bus_done_fn done;
	mb_bus_link_fn link;
	void *ud;
	int efd;
	sd_event_source *src;

	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: */
	struct mb_job *urgent, *polls; /* FIFO each; urgent first */
	struct mb_job *out;            /* completed, FIFO */
	bool stop;

	/* Worker only: */
	bool connected;
	int link_state; /* 1 unknown, 0 up, <0 down */
	uint64_t retry_at, backoff, rmin, rmax, cur_timeout;
	uint64_t gap;      /* silence before a request */
	uint64_t last_end; /* when the last transaction ended, 0: none since the link opened */
	/* Fair queuing of polls (take_poll): the virtual bus time now, and
	 * when each unit's last transaction ended in it. */
	uint64_t vnow, vfinish[256];
};

uint64_t mb_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t mb_rtu_silence_usec(unsigned baud, unsigned data_bits, bool parity, unsigned stop_bits)
{
	uint64_t bits = 1u + data_bits + (parity ? 1u : 0u) + stop_bits;

	if (baud == 0)
		return 0;
	if (baud > 19200)
		return 1750;
	return (35u * bits * 1000000u / 10u + baud - 1) / baud;
}

/* Before a request: keep the line silent for the gap since the last
 * transaction ended, then discard whatever arrived unasked — it cannot be
 * this request's answer (on a serial line: the tail of an answer given up
 * at its timeout, still trickling in). */
static void before_request(struct mb_bus *bus)
{
	uint64_t now, at = bus->last_end + bus->gap;

	if (bus->gap && bus->last_end) {
		now = mb_now_usec();
		if (now < at) {
			struct timespec ts = { .tv_sec = (time_t)((at - now) / 1000000u),
					       .tv_nsec = (long)((at - now) % 1000000u * 1000u) };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
	(void)modbus_flush(bus->ctx);
}

static void append(struct mb_job **list, struct mb_job *j)
{
	j->next = NULL;
	while (*list)
		list = &(*list)->next;
	*list = j;
}

bool mb_errno_is_link(int e)
{
	switch (e) {
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case EPIPE:
	case ENOTCONN:
	case EBADF:
	case EIO:
	case ENXIO:
	case ENODEV:
	case ENOENT:
	case ENETUNREACH:
	case EHOSTUNREACH:
		return true;
	default:
		return false;
	}
}

int mb_errno(int e, struct mb_job *job)
{
	static const struct {
		int mb;
		uint8_t exc;
		int err;
	} map[] = {
		/* The device exists and refuses: 4.xx; it fails: 5.00; a gateway in
		 * front of it cannot reach it: 5.03. */
		{ EMBXILFUN, 1, -EPERM },  /* illegal function: the device has no such operation (4.05) */
		{ EMBXILADD, 2, -ENOENT }, /* illegal data address (4.04) */
		{ EMBXILVAL, 3, -EINVAL }, /* illegal data value (4.00) */
		{ EMBXSFAIL, 4, -EIO },    /* server device failure (5.00) */
		{ EMBXACK, 5, -EAGAIN },   /* acknowledge: still processing (5.03) */
		{ EMBXSBUSY, 6, -EBUSY },  /* busy (5.03) */
		{ EMBXNACK, 7, -EIO },     /* negative acknowledge */
		{ EMBXMEMPAR, 8, -EIO },   /* memory parity error */
		{ EMBXGPATH, 10, -EHOSTUNREACH }, /* gateway path unavailable (5.03) */
		{ EMBXGTAR, 11, -ETIMEDOUT },     /* gateway target failed to respond (5.03) */
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].mb == e) {
			job->exc = map[i].exc;
			return map[i].err;
		}
	if (e == EMBBADCRC) {
		job->crc = true;
		return -EIO;
	}
	if (e == ETIMEDOUT) {
		job->timeout = true;
		return -ETIMEDOUT;
	}
	if (mb_errno_is_link(e))
		return -EHOSTUNREACH;
	job->bad = true; /* a malformed answer, or one to another request */
	return -EIO;
}

enum mb_outcome mb_job_outcome(const struct mb_job *j)
{
	if (j->err == 0)
		return MB_OUT_OK;
	if (j->timeout || j->exc == 11)
		return MB_OUT_TIMEOUT;
	if (j->link_down || j->exc == 10 || (j->err == -EHOSTUNREACH && !j->exc))
		return MB_OUT_UNREACHABLE;
	if (j->err == -ECANCELED || (j->err == -ETIMEDOUT && !j->exc))
		return MB_OUT_DROPPED;
	/* 01..03 say the unit decoded the request and checked it against what
	 * it has: it works, the profile asks for something it does not have. */
	if ((j->exc >= 1 && j->exc <= 3) || j->mismatch)
		return MB_OUT_REFUSED;
	return MB_OUT_FAILED;
}

/* ---- worker ------------------------------------------------------------------------------------ */

static void post(struct mb_bus *bus, struct mb_job *j)
{
	uint64_t one = 1;

	j->done_usec = mb_now_usec();
	pthread_mutex_lock(&bus->lock);
	append(&bus->out, j);
	pthread_mutex_unlock(&bus->lock);
	/* The mutex orders the job's contents before the loop's read of the
	 * queue; the eventfd only wakes the loop. */
	if (write(bus->efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow at our rates; nothing to do. */
	}
}

static void link_report(struct mb_bus *bus, int err)
{
	struct mb_job *j;

	if (bus->link_state == err || (bus->link_state < 0 && err < 0))
		return;
	bus->link_state = err;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->op = MB_OP_LINK;
	j->err = err;
	post(bus, j);
}

/* libmodbus waits with select(): a descriptor above FD_SETSIZE (a gateway
 * holding a thousand endpoint sockets) would make glibc abort the process.
 * It is moved to a low number (common/lowfd.h), kept across reconnects. */
static int link_fd_low(struct mb_bus *bus)
{
	int s = modbus_get_socket(bus->ctx), m = lowfd_move(s);

	if (m < 0)
		return m;
	if (m != s)
		(void)modbus_set_socket(bus->ctx, m);
	return 0;
}

/* TCP: libmodbus's own connect waits with select() too, on a socket it has
 * just made — above FD_SETSIZE in a busy gateway, and the process aborts
 * before anything could move it. So the worker connects itself: a
 * non-blocking socket moved low first, poll() for the connect within the
 * response timeout, every address of the host in turn; libmodbus then
 * gets the connected socket (modbus_set_socket). 0 or a positive errno. */
static int tcp_open(struct mb_bus *bus)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res, *ai;
	int e = EHOSTUNREACH, g;

	g = getaddrinfo(bus->host, bus->port, &hints, &res);
	if (g != 0)
		return g == EAI_SYSTEM && errno > 0 ? errno : EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		int one = 1, so = 0;
		socklen_t sl = sizeof(so);

		if (fd < 0) {
			e = errno;
			continue;
		}
		int low = lowfd_move(fd);
		if (low < 0) {
			close(fd);
			e = EMFILE; /* no number below FD_SETSIZE is free */
			break;
		}
		fd = low;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			int ms = (int)(bus->cur_timeout / 1000u) + 1;
			if (errno != EINPROGRESS)
				so = errno;
			else if (poll(&pf, 1, ms) <= 0)
				so = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
				so = errno;
		}
		if (so != 0) {
			e = so;
			lowfd_close(fd);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		(void)modbus_set_socket(bus->ctx, fd);
		e = 0;
		break;
	}
	freeaddrinfo(res);
	return e;
}

/* modbus_close(), but a reserved low number stays reserved. */
static void link_drop(struct mb_bus *bus)
{
	int s = modbus_get_socket(bus->ctx);

	if (s >= 0 && lowfd_is_reserved(s)) {
		(void)modbus_set_socket(bus->ctx, -1);
		lowfd_close(s);
	}
	modbus_close(bus->ctx);
}

/* Close the link; the next job reopens it at once (then with backoff).
 * e: why (reported: every device is unreachable), or 0 for a TCP
 * connection replaced because a late answer may still be on its way. */
static void link_close(struct mb_bus *bus, int e)
{
	link_drop(bus);
	bus->connected = false;
	bus->last_end = 0;
	bus->retry_at = 0; /* one immediate attempt, then the backoff */
	if (e)
		link_report(bus, -e);
}

static int link_up(struct mb_bus *bus)
{
	uint64_t now = mb_now_usec();
	int e;

	if (bus->connected)
		return 0;
	if (now < bus->retry_at)
		return -EHOSTUNREACH;
	e = 0;
	if (bus->host)
		e = tcp_open(bus);
	else if (modbus_connect(bus->ctx) < 0)
		e = errno > 0 ? errno : EHOSTUNREACH;
	else if (link_fd_low(bus) < 0) {
		link_drop(bus);
		e = EMFILE; /* no descriptor number below FD_SETSIZE is free */
	}
	if (e) {
		bus->backoff = bus->backoff ? bus->backoff * 2 : bus->rmin;
		if (bus->backoff > bus->rmax)
			bus->backoff = bus->rmax;
		bus->retry_at = mb_now_usec() + bus->backoff;
		link_report(bus, -e);
		return -EHOSTUNREACH;
	}
	if (bus->rs485 && modbus_rtu_set_serial_mode(bus->ctx, MODBUS_RTU_RS485) < 0) {
		/* The driver may not know TIOCSRS485 (USB adapters switch by
		 * themselves): the link still works. */
	}
	bus->connected = true;
	bus->backoff = 0;
	link_report(bus, 0);
	return 0;
}

static int read_table(struct mb_bus *bus, uint8_t table, uint16_t addr, uint16_t count, uint8_t *data)
{
	uint16_t regs[125];
	uint8_t bits[2000];
	int n;

	before_request(bus);
	switch (table) {
	case MB_TABLE_COIL:
		n = modbus_read_bits(bus->ctx, addr, count, bits);
		break;
	case MB_TABLE_DISCRETE:
		n = modbus_read_input_bits(bus->ctx, addr, count, bits);
		break;
	case MB_TABLE_INPUT:
		n = modbus_read_input_registers(bus->ctx, addr, count, regs);
		break;
	default:
		n = modbus_read_registers(bus->ctx, addr, count, regs);
		break;
	}
	bus->last_end = mb_now_usec();
	if (n < 0)
		return -1;
	if (n != count) {
		errno = EMBBADDATA;
		return -1;
	}
	if (mb_table_is_bits(table))
		for (unsigned i = 0; i < count; i++)
			data[i] = bits[i] ? 1 : 0;
	else
		for (unsigned i = 0; i < count; i++) {
			/* Wire order: high byte first, register after register. */
			data[2 * i] = (uint8_t)(regs[i] >> 8);
			data[2 * i + 1] = (uint8_t)regs[i];
		}
	return 0;
}

static int write_table(struct mb_bus *bus, const struct mb_job *j, const uint8_t *data)
{
	uint16_t regs[123];
	uint8_t bits[1968];
	int n;

	before_request(bus);
	if (j->table == MB_TABLE_COIL) {
		for (unsigned i = 0; i < j->count; i++)
			bits[i] = data[i] ? 1 : 0;
		if (j->count == 1 && j->function != 15)
			n = modbus_write_bit(bus->ctx, j->addr, bits[0]);
		else
			n = modbus_write_bits(bus->ctx, j->addr, j->count, bits);
	} else {
		for (unsigned i = 0; i < j->count; i++)
			regs[i] = (uint16_t)(data[2 * i] << 8 | data[2 * i + 1]);
		if (j->count == 1 && j->function != 16)
			n = modbus_write_register(bus->ctx, j->addr, regs[0]);
		else
			n = modbus_write_registers(bus->ctx, j->addr, j->count, regs);
	}
	bus->last_end = mb_now_usec();
	return n < 0 ? -1 : 0;
}

static int run_job(struct mb_bus *bus, struct mb_job *j)
{
	size_t bytes = mb_table_is_bits(j->table) ? j->count : 2u * j->count;
	uint8_t cur[MB_MAX_DATA];

	/* Before connecting too: libmodbus bounds a TCP connect by it. */
	if (j->timeout_usec != bus->cur_timeout) {
		modbus_set_response_timeout(bus->ctx, (uint32_t)(j->timeout_usec / 1000000u),
					    (uint32_t)(j->timeout_usec % 1000000u));
		bus->cur_timeout = j->timeout_usec;
	}
	if (link_up(bus) < 0) {
		j->link_down = true;
		return -EHOSTUNREACH;
	}
	modbus_set_slave(bus->ctx, j->unit);
	if (j->op == MB_OP_READ) {
		j->requests++;
		return read_table(bus, j->table, j->addr, j->count, j->data);
	}
	if (j->masked) {
		j->requests++;
		if (read_table(bus, j->table, j->addr, j->count, cur) < 0)
			return -1;
		for (size_t i = 0; i < bytes && i < sizeof(j->mask); i++)
			j->data[i] = (uint8_t)((cur[i] & ~j->mask[i]) | (j->data[i] & j->mask[i]));
	}
	j->requests++;
	if (write_table(bus, j, j->data) < 0)
		return -1;
	if (j->verify) {
		/* Read the value back from the table written. */
		j->requests++;
		if (read_table(bus, j->table, j->addr, j->count, cur) < 0)
			return -1;
		for (size_t i = 0; i < bytes; i++) {
			uint8_t m = j->masked && i < sizeof(j->mask) ? j->mask[i] : 0xff;
			if ((cur[i] & m) != (j->data[i] & m)) {
				j->err = -EIO;
				j->mismatch = true;
				return -2; /* read back differs */
			}
		}
	}
	return 0;
}

/* A unit's start tag in start-time fair queuing: where its next
 * transaction would begin in virtual bus time. A unit that was idle starts
 * at the present (vnow): it banks no credit for the time it asked nothing. */
static uint64_t start_tag(const struct mb_bus *bus, uint8_t unit)
{
	return bus->vfinish[unit] > bus->vnow ? bus->vfinish[unit] : bus->vnow;
}

/* Under lock: the queued poll with the smallest start tag (the first of
 * them in queue order: a unit's own polls keep their order). */
static struct mb_job *take_poll(struct mb_bus *bus, uint64_t *tag)
{
	struct mb_job **best = &bus->polls, *j;

	*tag = start_tag(bus, bus->polls->unit);
	for (struct mb_job **p = &bus->polls->next; *p; p = &(*p)->next) {
		uint64_t t = start_tag(bus, (*p)->unit);
		if (t < *tag) {
			*tag = t;
			best = p;
		}
	}
	j = *best;
	*best = j->next;
	bus->vnow = *tag;
	return j;
}

static void *worker(void *arg)
{
	struct mb_bus *bus = arg;

	for (;;) {
		struct mb_job *j;
		uint64_t tag, t0;
		uint32_t dead;
		uint8_t unit;
		int r;

		pthread_mutex_lock(&bus->lock);
		while (!bus->stop && !bus->urgent && !bus->polls)
			pthread_cond_wait(&bus->cond, &bus->lock);
		if (bus->stop) {
			pthread_mutex_unlock(&bus->lock);
			break;
		}
		if (bus->urgent) {
			j = bus->urgent;
			bus->urgent = j->next;
			tag = start_tag(bus, j->unit); /* served first, but its bus time counts */
		} else
			j = take_poll(bus, &tag);
		pthread_mutex_unlock(&bus->lock);

		j->err = 0;
		unit = j->unit;
		t0 = mb_now_usec();
		r = run_job(bus, j);
		if (r == -1 && !j->link_down) {
			int e = errno;
			j->err = mb_errno(e, j);
			if (mb_errno_is_link(e))
				link_close(bus, e);
			else if (e == ETIMEDOUT && bus->host)
				link_close(bus, 0); /* the late answer dies with the connection */
		} else if (r == -EHOSTUNREACH)
			j->err = -EHOSTUNREACH;
		bus->vfinish[unit] = tag + (mb_now_usec() - t0);
		/* The job belongs to the loop once posted: read what we need first. */
		dead = j->timeout && j->dev && j->poll ? j->dev : 0;
		post(bus, j);

		if (dead) {
			/* The device does not answer: its other queued polls fail
			 * now rather than each costing the bus a timeout. */
			struct mb_job **p, *drop = NULL;
			pthread_mutex_lock(&bus->lock);
			for (p = &bus->polls; *p;) {
				if ((*p)->dev == dead && (*p)->poll) {
					struct mb_job *d = *p;
					*p = d->next;
					d->err = -ETIMEDOUT;
					append(&drop, d);
				} else
					p = &(*p)->next;
			}
			pthread_mutex_unlock(&bus->lock);
			while (drop) {
				struct mb_job *d = drop;
				drop = d->next;
				post(bus, d);
			}
		}
	}
	return NULL;
}

/* ---- loop side ----------------------------------------------------------------------------------- */

static void deliver(struct mb_bus *bus, struct mb_job *list)
{
	while (list) {
		struct mb_job *j = list;
		list = j->next;
		j->next = NULL;
		if (j->op == MB_OP_LINK) {
			if (bus->link)
				bus->link(bus->ud, j->err);
			free(j);
		} else
			bus->done(bus->ud, j);
	}
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct mb_bus *bus = ud;
	struct mb_job *list;
	uint64_t v;

	(void)s;
	(void)revents;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a previous wake-up already took the jobs. */
	}
	pthread_mutex_lock(&bus->lock);
	list = bus->out;
	bus->out = NULL;
	pthread_mutex_unlock(&bus->lock);
	deliver(bus, list);
	return 0;
}

int mb_bus_new(const struct mb_bus_params *p, sd_event *event, struct mb_bus **out)
{
	const struct mb_conf *c = p->conf;
	struct mb_bus *bus = calloc(1, sizeof(*bus));
	int r;

	if (!bus)
		return -ENOMEM;
	bus->efd = -1;
	pthread_mutex_init(&bus->lock, NULL);
	pthread_cond_init(&bus->cond, NULL);
	bus->done = p->done;
	bus->link = p->link;
	bus->ud = p->ud;
	bus->link_state = 1;
	bus->rmin = c->reconnect_min_usec;
	bus->rmax = c->reconnect_max_usec;
	bus->name = strdup(p->name);
	if (!bus->name) {
		r = -ENOMEM;
		goto fail;
	}
	if (c->has_tcp) {
		char port[8];
		snprintf(port, sizeof(port), "%u", (unsigned)c->tcp.port);
		bus->ctx = modbus_new_tcp_pi(c->tcp.host, port);
		bus->host = strdup(c->tcp.host);
		bus->port = strdup(port);
		if (!bus->host || !bus->port) {
			r = -ENOMEM;
			goto fail;
		}
	} else {
		static const char parity[] = { 'N', 'E', 'O' };
		bus->ctx = modbus_new_rtu(c->serial.device, (int)c->serial.baud, parity[c->serial.parity],
					  (int)c->serial.data_bits, (int)c->serial.stop_bits);
		bus->rs485 = c->serial.rs485;
		bus->gap = mb_rtu_silence_usec((unsigned)c->serial.baud, (unsigned)c->serial.data_bits,
					       c->serial.parity != MB_PARITY_NONE,
					       (unsigned)c->serial.stop_bits);
	}
	if (c->request_gap_usec > bus->gap)
		bus->gap = c->request_gap_usec;
	if (!bus->ctx) {
		r = errno == ENOMEM ? -ENOMEM : -EINVAL;
		goto fail;
	}
	modbus_set_error_recovery(bus->ctx, MODBUS_ERROR_RECOVERY_NONE); /* the worker recovers itself */
	/* No byte timeout: libmodbus then bounds the whole answer by the
	 * response timeout (one timeval for every select() of an answer, which
	 * Linux decrements by the time waited). A byte timeout restarts at
	 * every byte: one byte per (byte timeout - 1 ms) would never time out. */
	(void)modbus_set_byte_timeout(bus->ctx, 0, 0);
	bus->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bus->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(event, &bus->src, bus->efd, EPOLLIN, on_event, bus);
	if (r < 0)
		goto fail;
	r = -pthread_create(&bus->thread, NULL, worker, bus);
	if (r < 0)
		goto fail;
	bus->started = true;
	*out = bus;
	return 0;
fail:
	mb_bus_free(bus);
	return r;
}

void mb_bus_submit(struct mb_bus *bus, struct mb_job *job)
{
	pthread_mutex_lock(&bus->lock);
	append(job->urgent ? &bus->urgent : &bus->polls, job);
	pthread_cond_signal(&bus->cond);
	pthread_mutex_unlock(&bus->lock);
}

struct mb_bus *mb_bus_free(struct mb_bus *bus)
{
	struct mb_job *list = NULL;

	if (!bus)
		return NULL;
	if (bus->started) {
		pthread_mutex_lock(&bus->lock);
		bus->stop = true;
		pthread_cond_signal(&bus->cond);
		pthread_mutex_unlock(&bus->lock);
		pthread_join(bus->thread, NULL);
	}
	/* The worker is gone: results first, then the unstarted jobs. */
	list = bus->out;
	bus->out = NULL;
	for (struct mb_job *j = bus->urgent; j;) {
		struct mb_job *n = j->next;
		j->err = -ECANCELED;
		append(&list, j);
		j = n;
	}
	for (struct mb_job *j = bus->polls; j;) {
		struct mb_job *n = j->next;
		j->err = -ECANCELED;
		append(&list, j);
		j = n;
	}
	bus->urgent = bus->polls = NULL;
	bus->link = NULL; /* going away: no more link news */
	if (bus->done)
		deliver(bus, list);
	else
		while (list) {
			struct mb_job *j = list;
			list = j->next;
			free(j);
		}
	sd_event_source_disable_unref(bus->src);
	if (bus->efd >= 0)
		close(bus->efd);
	if (bus->ctx) {
		link_drop(bus);
		modbus_free(bus->ctx);
	}
	pthread_cond_destroy(&bus->cond);
	pthread_mutex_destroy(&bus->lock);
	free(bus->name);
	free(bus->host);
	free(bus->port);
	free(bus);
	return NULL;
}
