/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gw_pkg_pull_start() on an sd-event loop, for test_pull.py: prints
 * "progress GOT TOTAL" lines and "done RESULT SIZE"; with --cancel it
 * cancels the pull at its first progress line and prints "cancelled";
 * --psk=IDENTITY:HEXKEY and --ca-file=FILE set the coaps limits.
 * Last, "child_maxrss KIB": the fetch process's peak RSS (this process is
 * small and spawns it without copying itself, so the figure is its own).
 *   pkg-pull-tool FIELDGATE URI DEST MAX_SIZE TIMEOUT SCHEMES [--cancel]
 *                 [--psk=ID:HEX] [--ca-file=FILE]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "gateway/pkg/pkg.h"

struct state {
	sd_event *ev;
	struct gw_pkg_pull *pull;
	int cancel;
};

static void on_progress(void *ud, uint64_t got, uint64_t total)
{
	struct state *s = ud;

	printf("progress %" PRIu64 " %" PRIu64 "\n", got, total);
	fflush(stdout);
	if (s->cancel) {
		s->pull = gw_pkg_pull_cancel(s->pull);
		printf("cancelled\n");
		sd_event_exit(s->ev, 0);
	}
}

static void on_done(void *ud, enum gw_pkg_result res, uint64_t size)
{
	struct state *s = ud;

	s->pull = NULL;
	printf("done %d %" PRIu64 "\n", (int)res, size);
	sd_event_exit(s->ev, 0);
}

int main(int argc, char **argv)
{
	struct state s = { 0 };
	struct gw_pkg_limits lim = { 0 };
	int r;

	if (argc < 7) {
		fprintf(stderr, "usage: %s FIELDGATE URI DEST MAX_SIZE TIMEOUT SCHEMES [--cancel]\n",
			argv[0]);
		return 2;
	}
	lim.fetch_program = argv[1];
	lim.max_size = strtoull(argv[4], NULL, 10);
	lim.timeout_s = (uint32_t)strtoul(argv[5], NULL, 10);
	for (char *tok = strtok(argv[6], ","); tok; tok = strtok(NULL, ","))
		lim.schemes |= gw_pkg_scheme_bit(tok);
	uint8_t key[64];
	for (int i = 7; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		if (strcmp(argv[i], "--cancel") == 0) {
			s.cancel = 1;
		} else if (strncmp(argv[i], "--ca-file=", 10) == 0) {
			lim.ca_file = argv[i] + 10;
		} else if (strncmp(argv[i], "--psk=", 6) == 0 && colon) {
			*colon = 0;
			lim.psk_identity = argv[i] + 6;
			for (const char *h = colon + 1; h[0] && h[1] && lim.psk_key_len < sizeof(key); h += 2)
				sscanf(h, "%2hhx", &key[lim.psk_key_len++]);
			lim.psk_key = key;
		} else {
			fprintf(stderr, "unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (sd_event_new(&s.ev) < 0)
		return 1;
	r = gw_pkg_pull_start(s.ev, argv[2], argv[3], &lim, on_progress, on_done, &s, &s.pull);
	if (r < 0) {
		printf("start %d %d\n", r, (int)gw_pkg_uri_check(argv[2], lim.schemes));
		sd_event_unref(s.ev);
		return 0;
	}
	r = sd_event_loop(s.ev);
	s.pull = gw_pkg_pull_cancel(s.pull);
	sd_event_unref(s.ev);
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
		printf("child_maxrss %ld\n", ru.ru_maxrss);
	return r < 0 ? 1 : 0;
}
