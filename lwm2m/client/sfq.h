/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: the queue of samples one target (an endpoint's
 * own tree or an Object 25 device) holds for its server, and the file that
 * keeps it. Pure: no libcoap, no I/O, no logging (sf*.c do those), so the
 * file format is fuzzed alone (tests/fuzz/fuzz_sfq.c).
 *
 * A sample is a resource (instance) value with its time of measurement
 * (milliseconds since the epoch) and a sequence number that orders it
 * among the target's samples. States:
 *   PENDING   held: to be delivered (Send, stored notifications)
 *   INFLIGHT  in a Send or a stored notification not yet answered
 *   SENT      carried by a live notification whose arrival is not yet
 *             confirmed (kept in memory only, until the next barrier)
 *   GONE      delivered or dropped (a hole until it reaches the front)
 * The queue is a ring in sequence order. Bounds: at most max_count samples
 * and max_bytes (each counted as its record's size in the file, see
 * below) that are not GONE; a push beyond drops the oldest PENDING or SENT
 * sample first (never one INFLIGHT: its answer would count it twice), and
 * counts it in dropped. For each path, the queue knows how many samples
 * are PENDING or INFLIGHT: while any are, a new value of that path must
 * queue behind them (sf.c), so values are delivered in order.
 *
 * File layout, version 1 (integers big-endian):
 *   header   "FGSQ", u8 version (1), u8 flags (0), u16 length of the
 *            endpoint (target) name, u32 CRC-32 of the 8 bytes before and
 *            of the name; then the name (no NUL)
 *   records  u8 kind, u32 length of the payload, the payload, u32 CRC-32
 *            of kind, length and payload
 *     kind 1 SAMPLE  u64 seq, i64 time (ms since the epoch), u8 n (3 or
 *                    4), n x u16 path ids, u8 type (enum lwm2m_type), the
 *                    value: Integer and Time i64, Unsigned u64, Float the
 *                    IEEE 754 binary64 bits, Boolean u8 (0/1), Objlnk two
 *                    u16, String, Opaque and Corelnk the rest of the payload
 *     kind 2 GONE    u64 first, u64 last seq (inclusive): those samples were
 *                    delivered (u8 1) or dropped (u8 2)
 * The file only grows (appends); it is rewritten (fg_sq_image, atomically)
 * when mostly GONE, and a torn last record (power cut) is ignored on load.
 * A sample delivered before the next write never reaches the file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

enum fg_sq_state {
	FG_SQ_PENDING = 0,
	FG_SQ_INFLIGHT,
	FG_SQ_SENT,
	FG_SQ_GONE,
};

struct fg_sample {
	uint64_t seq;
	int64_t time_ms;
	struct lwm2m_path path;
	uint8_t state;            /* enum fg_sq_state */
	bool on_disk;             /* its SAMPLE record is in the file (or queued for it) */
	bool held_once;           /* was PENDING once (counted in queued) */
	bool sent_once;           /* a notification carried it (maybe delivered) */
	uint32_t mark;            /* SENT/INFLIGHT: the exchange or barrier it went with */
	uint32_t size;            /* record size in the file: what the byte bound counts */
	struct lwm2m_value value; /* byte values point to owned */
	uint8_t *owned;
};

struct fg_sq_path {
	struct lwm2m_path path;
	uint32_t held; /* samples PENDING or INFLIGHT */
};

struct fg_sq {
	struct fg_sample *v; /* ring of cap entries, n of them from head */
	size_t cap, head, n;
	size_t live;  /* not GONE */
	size_t nheld; /* PENDING or INFLIGHT */
	size_t bytes; /* sum of size of the live ones */
	uint64_t next_seq;
	size_t max_count, max_bytes; /* 0: no bound */
	struct fg_sq_path *paths;    /* paths with held samples */
	size_t npaths, cappaths;
	/* Counters since the queue was made: samples held (PENDING once), of
	 * those delivered, and samples dropped (bounds, refused by the
	 * server; also a SENT one that had to go before its confirmation). A
	 * SENT sample confirmed was delivered by its notification and counts
	 * nowhere. */
	uint64_t queued;
	uint64_t delivered;
	uint64_t dropped;
	uint64_t dropped_sent; /* of dropped: a notification had carried them (may have arrived) */
	/* Records for the file not yet handed to the writer (persist true). */
	bool persist;
	struct lwm2m_buf out;
	uint64_t disk_live, disk_dead; /* bytes of live and GONE records in the file */
};

#define FG_SQ_VERSION    1
#define FG_SQ_HEADER_MIN 12
#define FG_SQ_SAMPLE_MAX (64u * 1024u) /* a larger value is not kept */

/* Frees every sample and the buffers; the queue is empty and reusable
 * (bounds and persist kept, counters too). */
void fg_sq_clear(struct fg_sq *q);

/* Append a sample (value copied, time_ms > 0) in state PENDING or SENT
 * (with mark). Bounds are applied first (oldest dropped); when nothing can
 * be dropped the new sample itself is (counted): returns 0 when it was
 * kept, 1 when it was dropped, -EINVAL (bad path, type, or larger than
 * FG_SQ_SAMPLE_MAX), -ENOMEM. */
int fg_sq_push(struct fg_sq *q, const struct lwm2m_path *path, const struct lwm2m_value *v, int64_t time_ms,
	       enum fg_sq_state state, uint32_t mark);

/* The i-th sample from the front (0 <= i < q->n), GONE ones included. */
static inline struct fg_sample *fg_sq_at(const struct fg_sq *q, size_t i)
{
	return &q->v[(q->head + i) % q->cap];
}

/* Move s to state st (not GONE: see fg_sq_remove) and mark. PENDING and
 * INFLIGHT keep the path held (and go to the file with fg_sq_flush). */
void fg_sq_set_state(struct fg_sq *q, struct fg_sample *s, enum fg_sq_state st, uint32_t mark);
/* Append to q->out the SAMPLE records of the held samples (PENDING,
 * INFLIGHT) not yet in the file (persist): done when the file is written,
 * so that a sample delivered before never reaches it. 0 or -ENOMEM. */
int fg_sq_flush(struct fg_sq *q);
/* Remove s: delivered (counted in delivered) or dropped. Its bytes are
 * freed, a GONE record is queued when it was on disk, and GONE samples at
 * the front leave the ring. */
void fg_sq_remove(struct fg_sq *q, struct fg_sample *s, bool delivered);
/* Samples of path PENDING or INFLIGHT. */
uint32_t fg_sq_held(const struct fg_sq *q, const struct lwm2m_path *path);

/* The file's header for name, appended to out. */
int fg_sq_header(const char *name, struct lwm2m_buf *out);
/* The whole file for the samples kept (PENDING and INFLIGHT), appended to
 * out: what a rewrite writes. Marks them on_disk and resets the disk
 * accounting and q->out (which the image replaces). */
int fg_sq_image(struct fg_sq *q, const char *name, struct lwm2m_buf *out);

/* Load a file image written for name into q (which must be empty): its
 * samples become PENDING and on_disk, in sequence order, within q's
 * bounds (the oldest beyond them are dropped and counted). A torn or
 * corrupt record ends the file: what came before is kept and *ignored
 * (may be NULL) says how many bytes were not used. Returns the number of
 * samples loaded; -EBADMSG (no usable header), -ESTALE (written for
 * another name), -ENOMEM; *why (may be NULL) says what was wrong. */
int fg_sq_load(struct fg_sq *q, const uint8_t *data, size_t len, const char *name, size_t *ignored,
	       const char **why);
