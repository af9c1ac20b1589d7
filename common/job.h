/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/job.h — blocking work (a host name lookup, open/write/fsync/
 * rename of a state file) run off the sd-event loop, its result handed
 * back on the loop.
 *
 * Each job runs on a detached thread that takes no signals (they are the
 * loop's, through signalfd); its result comes back through an eventfd,
 * published with release ordering and read with acquire: the eventfd only
 * wakes the loop, epoll is no synchronisation the memory model (or TSan)
 * knows about. The job owns its data; a cancelled job's thread finishes on
 * its own and whichever of the two lets go last frees the data and closes
 * the eventfd, so the thread never writes to a closed, maybe reused,
 * descriptor.
 *
 * Users: common/resolve.c (lookups), lwm2m/client (the bootstrap result and
 * the values held while the server is away). Threads: job_start, job_cancel
 * and the done callback belong to the loop's thread; run() to the job's.
 */
#pragma once

#include <systemd/sd-event.h>

struct job;
/* Runs on the job's thread: may block; returns 0 or a negative errno. */
typedef int (*job_fn)(void *data);
/* On the loop, once run() returned (never after job_cancel()). The job is
 * over and freed when this is called: forget its handle. data is still
 * valid during the call (it is freed right after). */
typedef void (*job_done_fn)(void *ud, void *data, int result);

/* Run run(data) on a detached thread; done(ud, data, result) follows on ev's
 * loop. The job owns data from this call on, whatever its outcome, and
 * frees it with free_data (may be NULL). Returns 0 and *out, or a negative
 * errno: then nothing runs, done is never called and data is already
 * freed. */
int job_start(sd_event *ev, job_fn run, void *data, void (*free_data)(void *data), job_done_fn done, void *ud,
	      struct job **out);
/* done will not be called; a running thread finishes on its own. Accepts
 * NULL; returns NULL. */
struct job *job_cancel(struct job *j);
