/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/modbus/mb_bus.h — one Modbus bus (a TCP host:port or a serial
 * line) served by one worker thread that owns its modbus_t.
 *
 * The loop thread submits jobs (one Modbus transaction each, or a
 * read-modify-write / write-and-verify pair); the worker runs them strictly
 * one after the other — never two requests in flight on a bus — and hands
 * each job back, with its result, through a completion queue and an
 * eventfd the loop watches. The two queues (under one mutex) are the only
 * shared state: a job belongs to the loop until mb_bus_submit(), to the
 * worker until it is queued back, then to the loop again.
 *
 * The worker also owns the link: it connects (TCP) or opens (serial) on the
 * first job, closes on a link error (connection reset, a vanished tty) and
 * reconnects with exponential backoff, forever; while the link is down
 * jobs fail at once with -EHOSTUNREACH. When a read times out, the other
 * queued poll reads of the same device are failed at once (-ETIMEDOUT)
 * instead of each waiting a timeout: a dead unit costs the bus one timeout.
 *
 * A job's timeout bounds each of its transactions as a whole: libmodbus's
 * byte timeout is disabled, so its response timeout covers the entire
 * answer (libmodbus 3.1 restarts a byte timeout at every byte: a unit
 * dripping its answer would hold the bus for as long as it liked). After
 * a timeout a TCP connection is replaced before the next request (the late
 * answer would otherwise arrive as the next request's), and before every
 * request whatever arrived unasked is discarded.
 *
 * Queued polls are served by start-time fair queuing over unit ids,
 * weighted by the bus time each unit's transactions took: a unit whose
 * answers are slow delays another unit's poll by at most one of its own
 * transactions, whatever the queue order. Urgent jobs (writes, on-demand
 * reads) go first, in order.
 *
 * Between the end of one transaction and the next request the line stays
 * silent for the bus's request_gap, and on a serial line for at least the
 * 3.5 character times that end an RTU frame (libmodbus does not wait:
 * a request sent right after a response can run into it for a device
 * still turning its RS-485 driver around).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "bridges/modbus/mb_source.h"

#define MB_MAX_DATA 2000 /* bytes: 125 registers in wire order, or 2000 coils one byte each */

enum mb_op {
	MB_OP_READ = 0, /* table, addr, count -> data */
	MB_OP_WRITE,    /* data (wire-order register bytes, or coil bytes 0/1) -> table, addr, count */
};

struct mb_job {
	struct mb_job *next;
	/* Set by the loop. */
	uint64_t tag;        /* the loop's own reference (a request id); opaque to the worker */
	uint32_t gen, group; /* the loop's poll bookkeeping; opaque to the worker */
	uint32_t dev;        /* device key: queued poll reads of a device that timed out are dropped */
	uint8_t op;          /* enum mb_op */
	uint8_t table;       /* enum mb_table */
	uint8_t unit;
	uint8_t function; /* writes: 0 auto (05/06 for one, 15/16 for more) */
	bool urgent;      /* before queued polls (writes, on-demand reads) */
	bool poll;        /* a scheduled poll read: may be dropped after a timeout of its device */
	bool masked;      /* write: read, merge (old & ~mask) | (data & mask), write */
	bool verify;      /* write: read back and compare */
	uint16_t addr, count;
	uint64_t timeout_usec;
	uint8_t data[MB_MAX_DATA];
	uint8_t mask[250];
	/* Set by the worker. */
	int err;            /* 0 or negative errno (see mb_errno) */
	uint8_t exc;        /* Modbus exception code, 0 for none */
	bool crc;           /* a CRC error (RTU) */
	bool bad;           /* a malformed answer, or one to another request (wrong transaction or unit id) */
	bool mismatch;      /* write verified: the value read back differs */
	bool timeout;       /* no (whole) answer within the timeout */
	bool link_down;     /* failed without I/O: the link is down (reconnect pending) */
	uint32_t requests;  /* Modbus transactions this job made */
	uint64_t done_usec; /* CLOCK_MONOTONIC at completion */
};

struct mb_bus;
typedef void (*mb_bus_done_fn)(void *ud, struct mb_job *job);
/* Link state changes, reported on the loop thread: err 0 up, else why down. */
typedef void (*mb_bus_link_fn)(void *ud, int err);

struct mb_bus_params {
	const struct mb_conf *conf; /* copied what is needed */
	const char *name;           /* for logs */
	mb_bus_done_fn done;        /* each completed job, on the loop thread; the callee frees it */
	mb_bus_link_fn link;
	void *ud;
};

/* Create the bus, its modbus_t and its worker thread, and attach the
 * completion eventfd to event. No I/O yet (the worker connects on the
 * first job). -EINVAL (libmodbus refuses the settings), -ENOMEM, or the
 * thread/eventfd errno. */
int mb_bus_new(const struct mb_bus_params *p, sd_event *event, struct mb_bus **out);
/* Queue a job (calloc'ed by the caller; owned by the bus until done()). */
void mb_bus_submit(struct mb_bus *bus, struct mb_job *job);
/* Stop the worker (the running job finishes, at worst one timeout), then
 * complete every unfinished job with -ECANCELED through done(), and free.
 * Accepts NULL; returns NULL. */
struct mb_bus *mb_bus_free(struct mb_bus *bus);

/* libmodbus's errno after a failed call -> the bridge's errno; fills
 * job->exc / crc / bad / timeout. Exported for tests. */
int mb_errno(int e, struct mb_job *job);

/* What a finished job says about its unit's health. */
enum mb_outcome {
	MB_OUT_OK = 0,      /* answered */
	MB_OUT_REFUSED,     /* answered, refusing this request (exception 01, 02, 03; a read-back
			       mismatch): the unit works, the request or the profile is wrong */
	MB_OUT_FAILED,      /* answered with a failure (exception 04 to 08 and unknown codes, a CRC
			       error, a malformed answer or one to another request) */
	MB_OUT_TIMEOUT,     /* no answer within the timeout, or exception 0B (gateway target failed) */
	MB_OUT_UNREACHABLE, /* the link is down, or exception 0A (gateway path unavailable) */
	MB_OUT_DROPPED,     /* never sent: dropped behind a timeout of its device, or cancelled */
};
enum mb_outcome mb_job_outcome(const struct mb_job *job);
/* Errors after which the link is closed and reopened. */
bool mb_errno_is_link(int e);
/* The silent interval that ends an RTU frame (Modbus over Serial Line
 * V1.02 §2.5.1.1): 3.5 character times at the line's settings, a fixed
 * 1750 us above 19200 baud. Exported for tests. */
uint64_t mb_rtu_silence_usec(unsigned baud, unsigned data_bits, bool parity, unsigned stop_bits);
/* A job's own reference to the clock: CLOCK_MONOTONIC in microseconds. */
uint64_t mb_now_usec(void);
