/* SPDX-License-Identifier: Apache-2.0 */
/* The fieldgate command line: parse options, dispatch to run or check. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "bridges/bridge.h"
#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/pkg/pkg.h"

#define DEFAULT_CONFIG SYSCONFDIR "/fieldgate/fieldgate.yaml"

enum { EXIT_USAGE = 2 };

static void help(void)
{
	printf("Usage: fieldgate [OPTIONS] COMMAND\n"
	       "\n"
	       "Make field devices appear to LwM2M servers as LwM2M devices.\n"
	       "\n"
	       "Commands:\n"
	       "  run                    Run the gateway daemon\n"
	       "  check                  Load and validate the configuration, print every error\n"
	       "  status                 Show the running daemon's devices and their state\n"
	       "                         (--json: one JSON document, --names: device names)\n"
	       "  metrics                Print the running daemon's metrics (OpenMetrics text)\n"
	       "  sample DEVICE PATH VALUE\n"
	       "                         Give the running daemon a sample, as a bridge would\n"
	       "                         (put -- before a negative VALUE)\n"
	       "  presence DEVICE ERRNO  Mark a device reachable (0) or not (e.g. 110)\n"
	       "  install-update         Run update.command on the downloaded firmware package\n"
	       "                         (fieldgate-update.service runs it, as root)\n");
	gw_profile_help(stdout);
	printf("  help                   Show this help\n"
	       "\n"
	       "Options:\n"
	       "  -c, --config=FILE      Configuration file (default: %s)\n"
	       "  -l, --log-level=LEVEL  err, warning, notice, info or debug (overrides the configuration)\n"
	       "  -t, --log-target=TGT   auto, stderr or journal (overrides the configuration)\n"
	       "      --json             status: print JSON (schema: fieldgate(8))\n"
	       "      --names            status: print the device names, one per line\n"
	       "  -h, --help             Show this help\n"
	       "  -V, --version          Show the version\n",
	       DEFAULT_CONFIG);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fieldgate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'fieldgate --help' for more information.\n");
	return EXIT_USAGE;
}

/* Ask the running daemon (the socket the configuration names). */
static int ask_daemon(const struct gw_options *opt, const char *request)
{
	char path[4096];
	const char *sock;

	if (gw_ctl_socket(opt, path, sizeof(path), &sock, stderr) < 0)
		return 1;
	return gw_status_client(sock, request, stdout, stderr);
}

/* Whether the command is `profile` or `fetch`: their options
 * (--registers..., --out...) are their own, so option parsing stops at the
 * command (the others let options follow it). */
static bool profile_command(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return false;
		if (a[0] != '-')
			return strcmp(a, "profile") == 0 || strcmp(a, "fetch") == 0;
		if (strcmp(a, "-c") == 0 || strcmp(a, "-l") == 0 || strcmp(a, "-t") == 0 ||
		    strcmp(a, "--config") == 0 || strcmp(a, "--log-level") == 0 ||
		    strcmp(a, "--log-target") == 0)
			i++;
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-target", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'J' },
		{ "names", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const char *view = NULL; /* --json / --names */
	struct gw_options opt = { .config_path = DEFAULT_CONFIG, .log_level = -1, .log_target = -1 };
	const char *cmd;
	char shortopt[3] = "-?";
	int c;

	opterr = 0; /* our own messages, the same on every libc */
	const char *optstring = profile_command(argc, argv) ? "+:c:l:t:hV" : ":c:l:t:hV";

	while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			opt.config_path = optarg;
			opt.config_given = true;
			break;
		case 'J':
		case 'N':
			if (view && strcmp(view, c == 'J' ? "--json" : "--names") != 0)
				return usage_error("%s", "--json and --names exclude each other");
			view = c == 'J' ? "--json" : "--names";
			break;
		case 'l':
			opt.log_level = log_level_from_string(optarg);
			if (opt.log_level < 0)
				return usage_error(
					"invalid log level '%s' (expected one of: err, warning, notice, "
					"info, debug)",
					optarg);
			break;
		case 't':
			opt.log_target = log_target_from_string(optarg);
			if (opt.log_target < 0)
				return usage_error(
					"invalid log target '%s' (expected one of: auto, stderr, journal)",
					optarg);
			break;
		case 'h':
			help();
			return 0;
		case 'V': {
			bool any = false;

			/* The bridge kinds this build has (bridges/meson.build). */
			printf("fieldgate %s\nbridges:", gw_version);
			for (size_t i = 0; bridge_kind_name(i); i++)
				if (bridge_kind_find(bridge_kind_name(i))) {
					printf(" %s", bridge_kind_name(i));
					any = true;
				}
			printf("%s\n", any ? "" : " none");
			return 0;
		}
		case ':':
			/* optopt is the option's letter, for long options too. */
			for (size_t i = 0; options[i].name; i++)
				if (options[i].val == optopt && strncmp(argv[optind - 1], "--", 2) == 0)
					return usage_error("option '--%s' needs an argument",
							   options[i].name);
			shortopt[1] = (char)optopt;
			return usage_error("option '%s' needs an argument", shortopt);
		default:
			if (optopt) {
				shortopt[1] = (char)optopt;
				return usage_error("unknown option '%s'", shortopt);
			}
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	if (optind >= argc)
		return usage_error("%s", "missing command (run, check, status or help)");
	cmd = argv[optind];
	if (view && strcmp(cmd, "status") != 0)
		return usage_error("option '%s' is only for status", view);
	if (strcmp(cmd, "sample") == 0 || strcmp(cmd, "presence") == 0) {
		int want = cmd[0] == 's' ? 3 : 2;
		char req[4096];
		if (argc - optind - 1 != want)
			return usage_error("'%s' needs %s", cmd,
					   want == 3 ? "DEVICE PATH VALUE" : "DEVICE ERRNO");
		snprintf(req, sizeof(req), "%s %s %s%s%s", cmd, argv[optind + 1], argv[optind + 2],
			 want == 3 ? " " : "", want == 3 ? argv[optind + 3] : "");
		return ask_daemon(&opt, req);
	}
#ifdef HAVE_COAP
	/* Not in help: the daemon's package pulls run it (gateway/pkg/pull.c);
	 * documented in docs/updates.md for running one by hand. */
	if (strcmp(cmd, "fetch") == 0)
		return gw_pkg_fetch_main(argc - optind, argv + optind);
#endif
	if (strcmp(cmd, "profile") == 0)
		return gw_profile_command(&opt, argc - optind - 1, argv + optind + 1, stdout, stderr);
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (strcmp(cmd, "status") == 0)
		return ask_daemon(&opt, !view ? "status" : view[2] == 'j' ? "status json" : "names");
	if (strcmp(cmd, "metrics") == 0)
		return ask_daemon(&opt, "metrics");

	if (strcmp(cmd, "help") == 0) {
		help();
		return 0;
	}
	if (strcmp(cmd, "check") == 0)
		return gw_check(&opt, stdout, stderr);
	if (strcmp(cmd, "install-update") == 0)
		return gw_install_update(&opt, stderr);
	if (strcmp(cmd, "run") == 0) {
		/* The program's path, read now: once a firmware update has
		 * replaced the file, /proc/self/exe names the old, deleted one. */
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		int r = gw_daemon_run(&opt);
		if (r != GW_DAEMON_REEXEC)
			return r;
		if (n <= 0 || (size_t)n >= sizeof(self) - 1)
			strcpy(self, "/proc/self/exe");
		else
			self[n] = '\0';
		/* The server's Reboot or a firmware update: the program at the
		 * same path (the new one after an update) with the same
		 * arguments, a fresh process image (same PID, so systemd keeps
		 * tracking it). */
		log_notice("Starting again: %s", self);
		execv(self, argv);
		log_error_errno(-errno, "Cannot execute %s again: %m", self);
		return 1;
	}
	return usage_error("unknown command '%s'", cmd);
}
