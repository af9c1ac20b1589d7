/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the store-and-forward module of lwm2m/client/: sf.c (what is
 * held, targets, bounds, samples), sf_file.c (the files), sf_deliver.c
 * (delivery and its answers). The layout of a target's store-and-forward
 * state (struct fg_sf) is seen by these files only; the rest of the client
 * uses the fg_sf_* calls of client_internal.h.
 */
#pragma once

#include "client_internal.h"
#include "sfq.h"
#include "statefile.h"

#define MS  1000u    /* microseconds */
#define SEC 1000000u /* microseconds */

/* Held samples reach the writer at most this long after they were held. */
#define FLUSH_US (1u * SEC)
/* A file is rewritten once its dead records outweigh the live ones by this. */
#define REWRITE_SLACK (64u * 1024u)
/* Stored notifications sent before their barrier. */
#define STORED_BATCH 32u
/* Two barriers at least this far apart: a libcoap server answers at most
 * one empty message per 250 ms and session with a Reset (4.3.1, net.c);
 * a ping sooner waits for its retransmission, seconds later. */
#define BARRIER_GAP_US (300u * 1000u)
/* A refused Send (5.xx) is tried again after this. */
#define SEND_RETRY_US (5u * SEC)
/* Write failures are logged at most this often. */
#define WRITE_WARN_US (60u * SEC)
/* Once registered again, what was observed before stays kept this long for
 * the server to observe it again (its observations ended with the old
 * registration; an application observes again on a registration event):
 * until then every sample of it goes by Send. */
#define KEPT_GRACE_US (300u * SEC)

enum file_op {
	OP_NONE,
	OP_APPEND,
	OP_REPLACE,
	OP_REMOVE,
	OP_SYNC,
};

struct fg_sf {
	struct fg_sq q;
	char *name; /* endpoint name, "/" and the device prefix for a device */
	/* No file name here: fg_sf_fname() makes it from name when a file is
	 * touched (200 bytes a target otherwise, for every device of a
	 * gateway that may never write one). */
	struct lwm2m_path *kept; /* observed when the endpoint lost its server */
	size_t nkept;
	uint64_t kept_until; /* µs: then they are forgotten (0: offline yet) */
	bool dirty;          /* file work to do */
	bool on_disk;        /* the file exists (or is being written) */
	bool rewrite;        /* the next write replaces the file */
	bool unsynced;       /* written since the last sync */
	/* Removed with its target (orphan): kept until its last write is done,
	 * and taken back if the same target comes back meanwhile. */
	struct fg_sf *next_orphan;
	bool in_job;
};

/* ---- sf.c ------------------------------------------------------------------------- */

/* The store-and-forward state of ep's target (dev NULL) or a device's. */
struct fg_sf *fg_sf_of(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev);
void fg_sf_free_one(struct fg_sf *sf);
/* sf's state file name (fg_state_file_name() of its name) into out. */
int fg_sf_fname(const struct fg_sf *sf, char out[FG_STATE_FILE_NAME_MAX]);
/* Drop s from sf's queue (delivered: it arrived; else it was dropped). */
void fg_sf_sq_remove(struct lwm2m_client *c, struct fg_sf *sf, struct fg_sample *s, bool delivered);
/* Arm ep->sf_timer (delivery, barriers, queue mode). */
void fg_sf_arm(struct lwm2m_endpoint *ep, uint64_t when);
/* The targets of an endpoint: its own tree (i = 0) and its devices. */
size_t fg_sf_ntargets(const struct lwm2m_endpoint *ep);
struct lwm2m_device *fg_sf_target_dev(const struct lwm2m_endpoint *ep, size_t i);

/* ---- sf_file.c ------------------------------------------------------------------- */

/* sf has file work to do: the flush timer is armed. */
void fg_sf_want_flush(struct lwm2m_client *c, struct fg_sf *sf);
void fg_sf_on_flush_timer(struct lwm2m_client *c, struct fg_timer *t);
/* A target was added: take what its file holds. */
void fg_sf_load_file(struct lwm2m_endpoint *ep, struct fg_sf *sf);

/* ---- sf_deliver.c ---------------------------------------------------------------- */

/* ep->sf_timer fired. */
void fg_sf_on_timer(struct lwm2m_client *c, struct fg_timer *t);
