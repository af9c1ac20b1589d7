/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Generated profiles of Modbus devices: the SunSpec walk over the bus
 * (mb_generate.h).
 */
#include "bridges/modbus/mb_generate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/modbus/sunspec.h"
#include "common/log.h"
#include "common/schema.h"

#define BACKOFF_MIN_USEC (5 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (5 * USEC_PER_MIN)

/* A device being walked (or whose walk failed: waiting to retry). */
struct run {
	uint64_t id; /* what a pending read refers to: the run may be gone by then */
	char *device;
	uint8_t unit;
	uint64_t timeout_usec;
	struct sunspec_walk walk;
	uint64_t backoff;
	sd_event_source *retry;
	char why[200]; /* the last failure, for status */
	struct run *next;
};

/* What status says of a device once its profile is made. */
struct note {
	char *device, *text;
	struct note *next;
};

struct mb_gen {
	struct bridge *b; /* the bridge instance: its name, its host */
	sd_event *event;
	unsigned max_registers;
	mb_gen_read_fn read;
	void *ud;
	struct run *runs;
	struct note *notes;
	uint64_t next_id;
};

struct mb_gen *mb_gen_new(struct bridge *b, sd_event *event, unsigned max_registers, mb_gen_read_fn read,
			  void *ud)
{
	struct mb_gen *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->b = b;
	g->event = sd_event_ref(event);
	g->max_registers = max_registers ? max_registers : 125;
	g->read = read;
	g->ud = ud;
	g->next_id = 1;
	return g;
}

static void run_free(struct run *r)
{
	sd_event_source_disable_unref(r->retry);
	free(r->device);
	free(r);
}

static void note_set(struct mb_gen *g, const char *device, const char *text)
{
	struct note *n;

	for (n = g->notes; n; n = n->next)
		if (strcmp(n->device, device) == 0)
			break;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n || !(n->device = strdup(device))) {
			free(n);
			return;
		}
		n->next = g->notes;
		g->notes = n;
	}
	free(n->text);
	n->text = text ? strdup(text) : NULL;
}

struct mb_gen *mb_gen_free(struct mb_gen *g)
{
	if (!g)
		return NULL;
	while (g->runs) {
		struct run *r = g->runs;
		g->runs = r->next;
		run_free(r);
	}
	while (g->notes) {
		struct note *n = g->notes;
		g->notes = n->next;
		free(n->device);
		free(n->text);
		free(n);
	}
	sd_event_unref(g->event);
	free(g);
	return NULL;
}

static struct run *run_by_id(struct mb_gen *g, uint64_t id)
{
	for (struct run *r = g->runs; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void run_unlink(struct mb_gen *g, struct run *r)
{
	for (struct run **q = &g->runs; *q; q = &(*q)->next)
		if (*q == r) {
			*q = r->next;
			return;
		}
}

/* A pending read names its run by id (and the bridge): both in ctx. */
struct rd {
	struct mb_gen *g;
	uint64_t id;
};

static void step(struct mb_gen *g, struct run *r);

static int on_retry(sd_event_source *s, uint64_t usec, void *ud)
{
	struct rd *x = ud;
	struct mb_gen *g = x->g;
	struct run *r = run_by_id(g, x->id);

	(void)s;
	(void)usec;
	if (!r)
		return 0;
	r->retry = sd_event_source_disable_unref(r->retry);
	sunspec_walk_init(&r->walk, g->max_registers);
	step(g, r);
	return 0;
}

static void retry_later(struct mb_gen *g, struct run *r, int err, const char *why)
{
	struct rd *ctx;

	snprintf(r->why, sizeof(r->why), "%s", why);
	r->backoff = r->backoff ? r->backoff * 2 : BACKOFF_MIN_USEC;
	if (r->backoff > BACKOFF_MAX_USEC)
		r->backoff = BACKOFF_MAX_USEC;
	log_device_warning(BRIDGE_DEV_LOG(g->b, r->device),
			   "Modbus %s: %s: SunSpec map not read (%s): trying again in %llu s", g->b->name,
			   r->device, why, (unsigned long long)(r->backoff / USEC_PER_SEC));
	if (err < 0 && g->b->host.presence)
		g->b->host.presence(g->b->host.ud, r->device, err);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return;
	*ctx = (struct rd){ .g = g, .id = r->id };
	r->retry = sd_event_source_disable_unref(r->retry);
	if (sd_event_add_time_relative(g->event, &r->retry, CLOCK_MONOTONIC, r->backoff, USEC_PER_SEC / 10,
				       on_retry, ctx) < 0) {
		free(ctx);
		return;
	}
	(void)sd_event_source_set_destroy_callback(r->retry, free);
}

/* The walk is over: the profile made of it goes to the core. */
static void finished(struct mb_gen *g, struct run *r)
{
	char *text = NULL, *name = NULL, *unknown = NULL;
	size_t len = 0;
	char *device;
	int e = sunspec_profile(&r->walk, &text, &len, &name, &unknown);

	if (e < 0) {
		retry_later(g, r, -EIO, e == -ENOENT && unknown ? unknown : "cannot make its profile");
		free(unknown);
		return;
	}
	/* Out of the list first: the core replaces the device, which stops
	 * (mb_gen_stop) what is no longer there. */
	run_unlink(g, r);
	device = r->device;
	r->device = NULL;
	run_free(r);
	note_set(g, device, unknown && *unknown ? unknown : NULL);
	if (g->b->host.presence)
		g->b->host.presence(g->b->host.ud, device, 0);
	log_device_info(BRIDGE_DEV_LOG(g->b, device), "Modbus %s: %s: SunSpec map read (profile %s%s%s)",
			g->b->name, device, name, unknown && *unknown ? "; models not mapped: " : "",
			unknown ? unknown : "");
	e = g->b->host.generated
		    ? g->b->host.generated(g->b->host.ud, g->b->name, device, NULL, name, text, len)
		    : -ENOTSUP;
	if (e < 0)
		log_device_error_errno(BRIDGE_DEV_LOG(g->b, device), e,
				       "Modbus %s: %s: its SunSpec profile %s is not applied: %m", g->b->name,
				       device, name);
	free(device);
	free(text);
	free(name);
	free(unknown);
}

static void on_read(void *ctx, int err, const uint8_t *data, uint16_t count)
{
	struct rd *x = ctx;
	struct mb_gen *g = x->g;
	struct run *r = run_by_id(g, x->id);
	uint16_t regs[125];
	int e;

	free(x);
	if (!r || err == -ECANCELED)
		return; /* stopped meanwhile */
	for (uint16_t i = 0; !err && i < count && i < 125; i++)
		regs[i] = (uint16_t)(data[2 * i] << 8 | data[2 * i + 1]);
	e = sunspec_walk_feed(&r->walk, err ? NULL : regs, err ? 0 : count, err);
	if (e == 1)
		finished(g, r);
	else if (e == 0)
		step(g, r);
	else if (e == -EIO)
		retry_later(g, r, -EIO, r->walk.why);
	else {
		char why[80];
		snprintf(why, sizeof(why), "%s", strerror(-e));
		retry_later(g, r, e, why);
	}
}

static void step(struct mb_gen *g, struct run *r)
{
	uint32_t addr;
	uint16_t count;
	struct rd *ctx;
	int e;

	if (!sunspec_walk_next(&r->walk, &addr, &count))
		return;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		retry_later(g, r, -ENOMEM, "out of memory");
		return;
	}
	*ctx = (struct rd){ .g = g, .id = r->id };
	e = g->read(g->ud, r->unit, r->timeout_usec, addr, count, on_read, ctx);
	if (e < 0) {
		free(ctx);
		retry_later(g, r, e, strerror(-e));
	}
}

int mb_gen_start(struct mb_gen *g, const char *device, uint8_t unit, uint64_t timeout_usec, const char *what)
{
	struct run *r;

	if (!what) {
		mb_gen_stop(g, device);
		return 0;
	}
	if (strcmp(what, "sunspec") != 0)
		return -ENOTSUP;
	mb_gen_stop(g, device);
	r = calloc(1, sizeof(*r));
	if (!r || !(r->device = strdup(device))) {
		free(r);
		return -ENOMEM;
	}
	r->id = g->next_id++;
	r->unit = unit;
	r->timeout_usec = timeout_usec;
	snprintf(r->why, sizeof(r->why), "reading the SunSpec map");
	sunspec_walk_init(&r->walk, g->max_registers);
	r->next = g->runs;
	g->runs = r;
	step(g, r);
	return 0;
}

void mb_gen_stop(struct mb_gen *g, const char *device)
{
	for (struct run *r = g ? g->runs : NULL; r; r = r->next)
		if (r->device && strcmp(r->device, device) == 0) {
			run_unlink(g, r);
			run_free(r);
			return;
		}
}

const char *mb_gen_status(struct mb_gen *g, const char *device, char *buf, size_t size)
{
	for (struct run *r = g ? g->runs : NULL; r; r = r->next)
		if (r->device && strcmp(r->device, device) == 0) {
			snprintf(buf, size, "sunspec: %s", r->why);
			return buf;
		}
	for (struct note *n = g ? g->notes : NULL; n; n = n->next)
		if (strcmp(n->device, device) == 0 && n->text) {
			snprintf(buf, size, "sunspec: models not mapped: %s", n->text);
			return buf;
		}
	return NULL;
}
