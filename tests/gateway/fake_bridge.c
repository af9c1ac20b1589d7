/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge kind "fake", for the gateway's glue tests: it lives here only
 * and registers itself like any kind (BRIDGE_KIND_REGISTER) in
 * fieldgate-fake, which has the real kinds too. It prints what the core asks on stderr ("fake: ..."), and
 * acknowledges writes and executes after 100 ms, or fails them with
 * -EHOSTUNREACH for a device whose address is "offline". Reads (max_age)
 * answer after 100 ms with 20.5 + the number of reads so far ("fake: read
 * N ..." counts them), after 3 s for the address "slow"; "offline" fails
 * them, "flaky" fails every read but the first (-ETIMEDOUT). Profile sources
 * are {key: NAME}, executes {action: NAME}; a bridge body with a `bogus`
 * key is refused by verify. A body key `discover: "NAME PROFILE ADDRESS"`
 * makes it discover that device once started ("fake: discover NAME rc=N"),
 * and `forget: NAME` forget it 1 s later. Observation hints print "fake:
 * observed ..."; `fieldgate status` shows "fake status" for devices whose
 * address is "a1". `chatty: true` pushes a sample of /3306/0/5851 of every
 * device every millisecond until stop (samples racing the shutdown).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "common/schema.h"

struct pending {
	struct fake_bridge *b;
	sd_event_source *timer;
	int err;
	bridge_done_fn done;
	void *ctx;
	bool read;
	double value; /* what a read answers */
	struct pending *next;
};

struct fake_bridge {
	struct bridge base;
	sd_event *event;
	struct pending *pending;
	char offline[8][64]; /* devices whose address is "offline" */
	size_t noffline;
	char slow[8][64], flaky[8][64]; /* ... "slow", "flaky" */
	size_t nslow, nflaky;
	unsigned reads, flaky_reads;
	char *discover, *forget;
	sd_event_source *discover_timer, *forget_timer;
	char status_dev[8][64];
	size_t nstatus;
	bool chatty;
	sd_event_source *chatty_timer;
	struct bridge_handle *chatty_h[8]; /* of chatty_dev's /3306/0/5851 */
	char chatty_dev[8][64];
	size_t nchatty;
	unsigned chatty_n;
};

_Static_assert(offsetof(struct fake_bridge, base) == 0, "struct bridge comes first");
#define FAKE(b) bridge_container(b, struct fake_bridge)

static bool listed(char (*list)[64], size_t n, const char *device)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], device) == 0)
			return true;
	return false;
}

static int src_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	const struct ynode *k =
		node ? ynode_map_get(node, role == MAPPING_ROLE_EXECUTE ? "action" : "key") : NULL;

	if (!node)
		return 0;
	if (!k || k->kind != YNODE_SCALAR) {
		diag_report(diag, DIAG_ERROR, node->file, node->line, node->col, "fake: missing '%s'",
			    role == MAPPING_ROLE_EXECUTE ? "action" : "key");
		return -EINVAL;
	}
	*out = strdup(k->scalar.str);
	return *out ? 0 : -ENOMEM;
}

static void src_free(void *p)
{
	free(p);
}

static const struct mapping_source_ops fake_source = { .kind = "fake", .parse = src_parse, .free = src_free };

static int fake_verify(struct schema_ctx *ctx, const struct ynode *body)
{
	const struct ynode *b = ynode_map_get(body, "bogus");

	if (b) {
		schema_error(ctx, b, "fake bridge: 'bogus' is not accepted");
		return -EINVAL;
	}
	return 0;
}

static int fake_verify_address(struct schema_ctx *ctx, const struct ynode *a)
{
	if (a->kind != YNODE_SCALAR) {
		schema_error(ctx, a, "fake bridge: the address must be a scalar");
		return -EINVAL;
	}
	return 0;
}

static int fake_init(struct bridge *base, const struct ynode *body)
{
	struct fake_bridge *b = FAKE(base);
	const struct ynode *dn = ynode_map_get(body, "discover"), *fn = ynode_map_get(body, "forget");

	if (dn && dn->kind == YNODE_SCALAR && !(b->discover = strdup(dn->scalar.str)))
		return -ENOMEM;
	if (fn && fn->kind == YNODE_SCALAR && !(b->forget = strdup(fn->scalar.str)))
		return -ENOMEM;
	b->chatty = ynode_map_get(body, "chatty") != NULL;
	fprintf(stderr, "fake: new %s\n", b->base.name);
	return 0;
}

static int on_forget(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fake_bridge *b = ud;

	(void)s;
	(void)usec;
	fprintf(stderr, "fake: forget %s rc=%d\n", b->forget,
		b->base.host.forget(b->base.host.ud, b->forget));
	return 0;
}

static int on_discover(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fake_bridge *b = ud;
	char name[64], profile[64], address[64];

	(void)s;
	(void)usec;
	if (sscanf(b->discover, "%63s %63s %63s", name, profile, address) != 3)
		return 0;
	/* Twice: the second time the name is taken. */
	for (int i = 0; i < 2; i++)
		fprintf(stderr, "fake: discover %s rc=%d\n", name,
			b->base.host.discover(b->base.host.ud, b->base.name, name, profile, address));
	if (b->forget)
		sd_event_add_time_relative(b->event, &b->forget_timer, CLOCK_MONOTONIC, 1000000, 0, on_forget,
					   b);
	return 0;
}

static int on_chatty(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fake_bridge *b = ud;
	struct mapping_sample smp = { .kind = MAPPING_SAMPLE_VALUE, .value = { .type = LWM2M_TYPE_INTEGER } };

	(void)usec;
	smp.value.i = b->chatty_n++ % 100;
	for (size_t i = 0; i < b->nchatty; i++)
		bridge_sample(&b->base, b->chatty_h[i], &smp, 0);
	return sd_event_source_set_time_relative(s, 1000);
}

static int fake_start(struct bridge *base, sd_event *event)
{
	struct fake_bridge *b = FAKE(base);
	b->event = sd_event_ref(event);
	fprintf(stderr, "fake: start %s\n", b->base.name);
	if (b->chatty) {
		int e = sd_event_add_time_relative(event, &b->chatty_timer, CLOCK_MONOTONIC, 1000, 0,
						   on_chatty, b);
		if (e < 0)
			return e;
		sd_event_source_set_enabled(b->chatty_timer, SD_EVENT_ON);
	}
	if (b->discover)
		return sd_event_add_time_relative(event, &b->discover_timer, CLOCK_MONOTONIC, 1000, 0,
						  on_discover, b);
	return 0;
}

static void fake_observed(struct bridge *base, const char *device, const struct lwm2m_path *path,
			  uint64_t period_usec)
{
	struct fake_bridge *b = FAKE(base);
	char ps[32];

	lwm2m_path_format(path, ps);
	fprintf(stderr, "fake: observed %s %s %s %llu\n", b->base.name, device, ps,
		(unsigned long long)period_usec);
}

static int fake_device_status(struct bridge *base, const char *device, char *buf, size_t size)
{
	struct fake_bridge *b = FAKE(base);
	if (!listed(b->status_dev, b->nstatus, device))
		return 0;
	return snprintf(buf, size, "fake status");
}

static int fake_add_point(struct bridge *base, const struct bridge_point *p)
{
	struct fake_bridge *b = FAKE(base);
	char ps[32];

	lwm2m_path_format(&p->pt->path, ps);
	fprintf(stderr, "fake: add_point %s %s %s address=%s poll=%llu\n", b->base.name, p->device, ps,
		p->address && p->address->kind == YNODE_SCALAR ? p->address->scalar.str : "?",
		(unsigned long long)p->poll_usec);
	if (p->address && p->address->kind == YNODE_SCALAR &&
	    strcmp(p->address->scalar.str, "offline") == 0 && b->noffline < 8) {
		snprintf(b->offline[b->noffline++], 64, "%s", p->device);
		/* Tell the core: the device does not answer. */
		b->base.host.presence(b->base.host.ud, p->device, -EHOSTUNREACH);
	}
	if (p->pt->path.id[0] == 3306 && p->pt->path.id[2] == 5851 && b->nchatty < 8) {
		snprintf(b->chatty_dev[b->nchatty], 64, "%s", p->device);
		b->chatty_h[b->nchatty++] = p->handle;
	}
	if (p->address && p->address->kind == YNODE_SCALAR && strcmp(p->address->scalar.str, "a1") == 0 &&
	    b->nstatus < 8 && !listed(b->status_dev, b->nstatus, p->device))
		snprintf(b->status_dev[b->nstatus++], 64, "%s", p->device);
	if (p->address && p->address->kind == YNODE_SCALAR && strcmp(p->address->scalar.str, "slow") == 0 &&
	    b->nslow < 8 && !listed(b->slow, b->nslow, p->device))
		snprintf(b->slow[b->nslow++], 64, "%s", p->device);
	if (p->address && p->address->kind == YNODE_SCALAR && strcmp(p->address->scalar.str, "flaky") == 0 &&
	    b->nflaky < 8 && !listed(b->flaky, b->nflaky, p->device))
		snprintf(b->flaky[b->nflaky++], 64, "%s", p->device);
	return 0;
}

static void fake_remove_point(struct bridge *base, const char *device, const struct lwm2m_path *path)
{
	struct fake_bridge *b = FAKE(base);
	char ps[32];

	lwm2m_path_format(path, ps);
	fprintf(stderr, "fake: remove_point %s %s %s\n", b->base.name, device, ps);
	/* The handle is not valid after this. */
	for (size_t i = 0; path->id[0] == 3306 && path->id[2] == 5851 && i < b->nchatty; i++)
		if (strcmp(b->chatty_dev[i], device) == 0) {
			b->nchatty--;
			memmove(b->chatty_dev[i], b->chatty_dev[b->nchatty], 64);
			b->chatty_h[i] = b->chatty_h[b->nchatty];
			break;
		}
}

static void pending_drop(struct pending *p)
{
	for (struct pending **q = &p->b->pending; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	sd_event_source_disable_unref(p->timer);
	free(p);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct pending *p = ud;
	bridge_done_fn done = p->done;
	void *ctx = p->ctx;
	int err = p->err;
	struct mapping_sample smp = { .kind = MAPPING_SAMPLE_VALUE,
				      .value = { .type = LWM2M_TYPE_FLOAT, .f = p->value } };
	bool read = p->read;

	(void)s;
	(void)usec;
	pending_drop(p);
	done(ctx, err, read && !err ? &smp : NULL);
	return 0;
}

static int later_usec(struct fake_bridge *b, const char *device, bridge_done_fn done, void *ctx,
		      uint64_t usec, struct pending **out)
{
	struct pending *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->b = b;
	p->done = done;
	p->ctx = ctx;
	if (listed(b->offline, b->noffline, device))
		p->err = -EHOSTUNREACH;
	r = sd_event_add_time_relative(b->event, &p->timer, CLOCK_MONOTONIC, usec, 0, on_timer, p);
	if (r < 0) {
		free(p);
		return r;
	}
	p->next = b->pending;
	b->pending = p;
	if (out)
		*out = p;
	return 0;
}

static int later(struct fake_bridge *b, const char *device, bridge_done_fn done, void *ctx)
{
	return later_usec(b, device, done, ctx, 100000, NULL);
}

static int fake_read(struct bridge *base, const char *device, const struct mapping_point *pt,
		     bridge_done_fn done, void *ctx)
{
	struct fake_bridge *b = FAKE(base);
	struct pending *p;
	int r;

	b->reads++;
	fprintf(stderr, "fake: read %u %s %s key=%s\n", b->reads, b->base.name, device,
		(const char *)pt->source);
	r = later_usec(b, device, done, ctx, listed(b->slow, b->nslow, device) ? 3000000 : 100000, &p);
	if (r < 0)
		return r;
	p->read = true;
	p->value = 20.5 + b->reads;
	if (listed(b->flaky, b->nflaky, device) && b->flaky_reads++ > 0)
		p->err = -ETIMEDOUT;
	return 0;
}

static int fake_write(struct bridge *base, const char *device, const struct mapping_point *pt,
		      const struct mapping_sample *v, bridge_done_fn done, void *ctx)
{
	struct fake_bridge *b = FAKE(base);
	char text[64] = "?";

	if (v->kind == MAPPING_SAMPLE_VALUE) {
		switch (v->value.type) {
		case LWM2M_TYPE_BOOLEAN:
			snprintf(text, sizeof(text), "%s", v->value.b ? "true" : "false");
			break;
		case LWM2M_TYPE_INTEGER:
			snprintf(text, sizeof(text), "%lld", (long long)v->value.i);
			break;
		case LWM2M_TYPE_FLOAT:
			snprintf(text, sizeof(text), "%g", v->value.f);
			break;
		default:
			break;
		}
	}
	fprintf(stderr, "fake: write %s %s key=%s value=%s\n", b->base.name, device,
		(const char *)(pt->write ? pt->write : pt->source), text);
	return later(b, device, done, ctx);
}

static int fake_execute(struct bridge *base, const char *device, const struct mapping_point *pt,
			const char *args, size_t args_len, bridge_done_fn done, void *ctx)
{
	struct fake_bridge *b = FAKE(base);
	fprintf(stderr, "fake: execute %s %s action=%s args=%.*s\n", b->base.name, device,
		(const char *)pt->execute, (int)args_len, args ? args : "");
	return later(b, device, done, ctx);
}

static void fake_stop(struct bridge *base)
{
	struct fake_bridge *b = FAKE(base);
	fprintf(stderr, "fake: stop %s\n", b->base.name);
	while (b->pending) {
		struct pending *p = b->pending;
		bridge_done_fn done = p->done;
		void *ctx = p->ctx;
		pending_drop(p);
		done(ctx, -ECANCELED, NULL);
	}
}

static void fake_done(struct bridge *base)
{
	struct fake_bridge *b = FAKE(base);

	sd_event_source_disable_unref(b->discover_timer);
	sd_event_source_disable_unref(b->chatty_timer);
	sd_event_source_disable_unref(b->forget_timer);
	sd_event_unref(b->event);
	free(b->discover);
	free(b->forget);
}

static const struct bridge_kind bridge_kind_fake = {
	.name = "fake",
	.size = sizeof(struct fake_bridge),
	.source_ops = &fake_source,
	.verify = fake_verify,
	.verify_address = fake_verify_address,
	.init = fake_init,
	.start = fake_start,
	.add_point = fake_add_point,
	.remove_point = fake_remove_point,
	.read = fake_read,
	.write = fake_write,
	.execute = fake_execute,
	.observed = fake_observed,
	.device_status = fake_device_status,
	.stop = fake_stop,
	.done = fake_done,
};
BRIDGE_KIND_REGISTER(bridge_kind_fake)
