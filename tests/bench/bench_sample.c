/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway core's sample path alone, in one process, without a broker
 * or a server sharing the CPU: N devices on a bridge of the kind "bench"
 * (this file, registered like any kind), rounds of one sample of each of
 * their four points, given to the core as a bridge gives them
 * (bridge_sample() with the handle add_point gave) and by name
 * (gw_registry_sample(): the device's name bisected among all, the point
 * found by its path, which is what every bridge sample cost before
 * handles). Prints CPU nanoseconds per sample for both, alternately, in
 * endpoint and in gateway mode; asserts nothing about time.
 *
 * The devices never register (the loop does not run): a sample is decoded
 * by the profile and set in the device's store, observations checked.
 * FG_BENCH_SIZE=small: 100 devices per mode only (the suite's check that
 * every figure is produced, tests/bench/suite.py).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bridges/bridge.h"
#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/registry/registry.h"
#include "lwm2m/lwm2m.h"

#define POINTS 4
#define ROUNDS 100
#define REPS   3

struct bench_bridge {
	struct bridge base;
};

/* What add_point gave: the handle, and the name and path of the point. */
struct slot {
	struct bridge_handle *h;
	char device[16];
	struct lwm2m_path path;
};
static struct slot *slots;
static size_t nslots, cap;
static struct bridge *the_bridge;

static int src_parse(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	(void)role;
	(void)diag;
	(void)node;
	static char nothing; /* a source, with nothing to parse */

	*out = &nothing;
	return 0;
}

static void src_free(void *p)
{
	(void)p;
}

static const struct mapping_source_ops bench_source = { .kind = "bench",
							.parse = src_parse,
							.free = src_free };

static int bench_init(struct bridge *b, const struct ynode *body)
{
	(void)body;
	the_bridge = b;
	return 0;
}

static int bench_add_point(struct bridge *b, const struct bridge_point *p)
{
	(void)b;
	if (p->pt->from != MAPPING_FROM_SOURCE)
		return 0;
	if (nslots == cap) {
		struct slot *v = realloc(slots, (cap = cap ? 2 * cap : 1024) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		slots = v;
	}
	slots[nslots].h = p->handle;
	snprintf(slots[nslots].device, sizeof(slots[nslots].device), "%s", p->device);
	slots[nslots++].path = p->pt->path;
	return 0;
}

static const struct bridge_kind bridge_kind_bench = {
	.name = "bench",
	.size = sizeof(struct bench_bridge),
	.source_ops = &bench_source,
	.init = bench_init,
	.add_point = bench_add_point,
};
BRIDGE_KIND_REGISTER(bridge_kind_bench)

static const char profile[] = "profile: bench-sensor\n"
			      "bridge: bench\n"
			      "objects:\n"
			      "  /3/0:\n"
			      "    0: { const: bench }\n"
			      "    9: { source: { b: 1 } }\n"
			      "    7/0: { source: { v: 1 } }\n"
			      "  /3303/0:\n"
			      "    5700: { source: { t: 1 } }\n"
			      "    5701: { const: Cel }\n"
			      "  /3304/0:\n"
			      "    5700: { source: { h: 1 } }\n"
			      "    5701: { const: \"%RH\" }\n";

static void diag_print(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		       const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
	fprintf(stderr, "%s\n", buf);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU ns per sample of ROUNDS rounds over every slot. */
static double run(struct gw_registry *r, int by_name)
{
	struct mapping_sample s = { .kind = MAPPING_SAMPLE_VALUE, .value = { .type = LWM2M_TYPE_FLOAT } };
	double t0 = cpu_now();

	for (int k = 0; k < ROUNDS; k++)
		for (size_t i = 0; i < nslots; i++) {
			s.value.f = (double)(k % 50) + 0.5;
			if (by_name)
				(void)gw_registry_sample(r, slots[i].device, &slots[i].path, &s, 0);
			else
				(void)bridge_sample(the_bridge, slots[i].h, &s, 0);
		}
	return (cpu_now() - t0) * 1e9 / ((double)ROUNDS * (double)nslots);
}

static int bench(const char *dir, const char *mode, unsigned n)
{
	struct diag diag = { .fn = diag_print };
	struct lwm2m_registry *reg = NULL;
	struct gw_config *c = NULL;
	struct gw_registry *r = NULL;
	sd_event *ev = NULL;
	char *text = NULL;
	size_t len = 0;
	double best[2] = { 1e30, 1e30 };
	FILE *f = open_memstream(&text, &len);
	int e;

	if (!f)
		return -ENOMEM;
	fprintf(f,
		"gateway: {name: gw, state_dir: %s/state, profiles_path: %s}\n"
		"lwm2m:\n  mode: %s\n  lifetime: 300s\n  servers: [{uri: \"coap://127.0.0.1:9\"}]\n"
		"bridges: {b: {type: bench}}\ndevices:\n",
		dir, dir, mode);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "  - {name: d%05u, bridge: b, address: x, profile: bench-sensor}\n", i);
	if (fclose(f) != 0)
		return -ENOMEM;
	e = gw_config_load_buffer("bench.yaml", text, len, &diag, &c);
	if (e >= 0)
		e = gw_config_load_objects(c, &diag, &reg, NULL);
	if (e >= 0)
		e = gw_config_load_profiles(c, reg, &diag);
	free(text);
	if (e >= 0)
		e = sd_event_new(&ev);
	nslots = 0;
	if (e >= 0) {
		e = gw_registry_new(ev, reg, c, &r);
		c = NULL; /* taken */
	}
	if (e >= 0 && nslots != (size_t)n * POINTS)
		e = -EIO;
	for (int rep = 0; e >= 0 && rep < REPS; rep++)
		for (int by_name = 0; by_name < 2; by_name++) {
			double ns = run(r, by_name);
			if (ns < best[by_name])
				best[by_name] = ns;
		}
	if (e >= 0)
		printf("  %-9s %6u %9zu %20.0f %20.0f\n", mode, n, nslots, best[0], best[1]);
	gw_registry_free(r);
	gw_config_free(c);
	lwm2m_registry_free(reg);
	sd_event_unref(ev);
	return e;
}

int main(void)
{
	char dir[] = "/tmp/fg-bench-sample-XXXXXX", path[64];
	struct rlimit rl;
	bool small;
	FILE *f;
	int e = 0;

	/* Endpoint mode: a socket per device. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	log_set_max_level(LOG_ERR);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/bench-sensor.yaml", dir);
	f = fopen(path, "we");
	if (!f || fputs(profile, f) < 0 || fclose(f) != 0)
		return 1;
	printf("The gateway core's sample path, %d rounds of a sample of each of 4 points per device, best "
	       "of %d;\n"
	       "CPU ns per sample, by handle (as bridges give them) and by name (as they did before "
	       "handles):\n",
	       ROUNDS, REPS);
	printf("  %-9s %6s %9s %20s %20s\n", "mode", "N", "points", "by handle (ns)", "by name (ns)");
	small = getenv("FG_BENCH_SIZE") && strcmp(getenv("FG_BENCH_SIZE"), "small") == 0;
	for (size_t i = 0; e >= 0 && i < 4; i++) {
		static const unsigned sizes[] = { 100, 1000 };
		if (!small || i % 2 == 0)
			e = bench(dir, i < 2 ? "endpoint" : "gateway", sizes[i % 2]);
	}
	if (e >= 0 && !small)
		e = bench(dir, "gateway", 10000);
	unlink(path);
	rmdir(dir);
	free(slots);
	if (e < 0)
		fprintf(stderr, "bench_sample: %s\n", strerror(-e));
	return e < 0;
}
