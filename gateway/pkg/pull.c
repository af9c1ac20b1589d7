/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pulled packages, daemon side: each pull is a `fieldgate fetch` child
 * process (fetch.c), watched through a pidfd on the loop. A process, not a
 * thread: libcurl and libcoap (whose state is global) stay out of the
 * daemon, a cancel is a SIGKILL that cannot leave a half-written block
 * behind a thread we no longer own, and the same command runs by hand.
 * The child reports "got total" lines on a pipe; its exit code is the
 * gw_pkg_result.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway/pkg/pkg_internal.h"

extern char **environ;

struct gw_pkg_pull {
	sd_event_source *child; /* the pidfd */
	sd_event_source *pipe;  /* the progress lines */
	pid_t pid;
	int pidfd, pipefd;
	char *dest;
	gw_pkg_progress_fn progress;
	gw_pkg_done_fn done;
	void *ud;
	char line[64];
	size_t nline;
};

/* The resume sidecar fetch.c keeps beside dest. */
static void remove_dest(const char *dest)
{
	char side[4096];

	unlink(dest);
	if ((size_t)snprintf(side, sizeof(side), "%s.uri", dest) < sizeof(side))
		unlink(side);
}

static void pull_free(struct gw_pkg_pull *p)
{
	sd_event_source_disable_unref(p->child);
	sd_event_source_disable_unref(p->pipe);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->pipefd >= 0)
		close(p->pipefd);
	free(p->dest);
	free(p);
}

/* Read what the child wrote: the last whole "got total" line into *got and
 * *total; whether there was one. */
static bool read_progress(struct gw_pkg_pull *p, uint64_t *got, uint64_t *total, bool *eof)
{
	char buf[512];
	bool any = false;
	ssize_t n = read(p->pipefd, buf, sizeof(buf));

	*eof = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (p->nline < sizeof(p->line) - 1)
				p->line[p->nline++] = buf[i];
			continue;
		}
		p->line[p->nline] = 0;
		p->nline = 0;
		if (sscanf(p->line, "%" SCNu64 " %" SCNu64, got, total) == 2)
			any = true;
	}
	return any;
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct gw_pkg_pull *p = ud;
	uint64_t got, total;
	bool eof;

	(void)fd;
	(void)revents;
	bool any = read_progress(p, &got, &total, &eof);
	/* The child closed its end: its exit follows on the pidfd. */
	if (eof)
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
	/* Last: the callback may cancel the pull (and free p). */
	if (any && p->progress)
		p->progress(p->ud, got, total);
	return 0;
}

static enum gw_pkg_result exit_result(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED) {
		switch (si->si_status) {
		case GW_PKG_OK:
		case GW_PKG_NO_SPACE:
		case GW_PKG_NO_MEMORY:
		case GW_PKG_CONN_LOST:
		case GW_PKG_INTEGRITY:
		case GW_PKG_INVALID_URI:
		case GW_PKG_UNSUPPORTED_PROTOCOL:
			return (enum gw_pkg_result)si->si_status;
		default:
			break;
		}
		log_error("The package fetch exited with %d", si->si_status);
	} else {
		log_error("The package fetch was killed by signal %s", strsignal(si->si_status));
	}
	return GW_PKG_CONN_LOST;
}

static int on_exit_fd(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct gw_pkg_pull *p = ud;
	siginfo_t si = { 0 };
	enum gw_pkg_result res;
	struct stat st;
	uint64_t size = 0;

	(void)s;
	(void)revents;
	if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return 0;
	p->pid = 0;
	res = exit_result(&si);
	if (res == GW_PKG_OK) {
		if (stat(p->dest, &st) == 0)
			size = (uint64_t)st.st_size;
		else
			res = GW_PKG_INTEGRITY;
	}
	if (res != GW_PKG_OK)
		remove_dest(p->dest);
	gw_pkg_done_fn done = p->done;
	void *dud = p->ud;
	pull_free(p);
	done(dud, res, size);
	return 0;
}

/* A pipe holding the coaps PSK as `fieldgate fetch --psk-fd` reads it,
 * its write end closed: the read end, or a negative errno. A pipe, not
 * argv (world-readable in /proc/PID/cmdline) nor the environment (kept
 * in /proc/PID/environ for the child's life): read once, then gone. */
static int psk_pipe(const struct gw_pkg_limits *lim)
{
	uint8_t buf[2 + 255 + 255];
	size_t ilen = strlen(lim->psk_identity), n = 0;
	int fds[2], r = 0;

	if (ilen == 0 || ilen > 255 || lim->psk_key_len == 0 || lim->psk_key_len > 255)
		return -EINVAL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	buf[n++] = (uint8_t)ilen;
	memcpy(buf + n, lim->psk_identity, ilen);
	n += ilen;
	buf[n++] = (uint8_t)lim->psk_key_len;
	memcpy(buf + n, lim->psk_key, lim->psk_key_len);
	n += lim->psk_key_len;
	/* At most 512 bytes: the pipe's buffer (PIPE_BUF) takes them at once. */
	if (write(fds[1], buf, n) != (ssize_t)n)
		r = -EIO;
	explicit_bzero(buf, sizeof(buf));
	close(fds[1]);
	if (r < 0) {
		close(fds[0]);
		return r;
	}
	return fds[0];
}

/* `fieldgate fetch` with its stdout on outfd (the progress pipe) and,
 * with a PSK, pskfd on fd 3. */
static int spawn_fetch(struct gw_pkg_pull *p, const char *uri, const struct gw_pkg_limits *lim, int outfd,
		       int pskfd)
{
	char maxs[24], tmo[16], sch[32];
	const char *prog = lim->fetch_program ? lim->fetch_program : "/proc/self/exe";
	const char *argv[16];
	size_t n = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int r;

	snprintf(maxs, sizeof(maxs), "%" PRIu64, lim->max_size);
	snprintf(tmo, sizeof(tmo), "%" PRIu32, lim->timeout_s ? lim->timeout_s : 60);
	pkg_schemes_format(lim->schemes, sch, sizeof(sch));
	argv[n++] = "fieldgate";
	argv[n++] = "fetch";
	argv[n++] = uri;
	argv[n++] = "--out";
	argv[n++] = p->dest;
	argv[n++] = "--max-size";
	argv[n++] = maxs;
	argv[n++] = "--timeout";
	argv[n++] = tmo;
	argv[n++] = "--schemes";
	argv[n++] = sch;
	argv[n++] = "--progress";
	if (lim->ca_file) {
		argv[n++] = "--ca-file";
		argv[n++] = lim->ca_file;
	}
	if (pskfd >= 0) {
		argv[n++] = "--psk-fd";
		argv[n++] = "3";
	}
	argv[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	if (pskfd >= 0)
		posix_spawn_file_actions_adddup2(&fa, pskfd, 3);
	/* Nothing else of the daemon's (libcoap's sockets are not all
	 * close-on-exec). */
	posix_spawn_file_actions_addclosefrom_np(&fa, pskfd >= 0 ? 4 : 3);
	posix_spawnattr_init(&at);
	/* The daemon's signal mask and handlers are its own (signalfd). */
	sigemptyset(&none);
	sigfillset(&dfl);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = -posix_spawn(&p->pid, prog, &fa, &at, (char *const *)argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

int gw_pkg_pull_start(sd_event *ev, const char *uri, const char *dest, const struct gw_pkg_limits *lim,
		      gw_pkg_progress_fn progress, gw_pkg_done_fn done, void *ud, struct gw_pkg_pull **out)
{
	struct gw_pkg_pull *p;
	int fds[2], r, pskfd = -1;

	if (gw_pkg_uri_check(uri, lim->schemes) != GW_PKG_OK)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pidfd = p->pipefd = -1;
	p->progress = progress;
	p->done = done;
	p->ud = ud;
	p->dest = strdup(dest);
	if (!p->dest) {
		r = -ENOMEM;
		goto fail;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	p->pipefd = fds[0];
	/* Only coaps uses the PSK: an http pull does not get it. */
	if (lim->psk_identity && lim->psk_key_len && strncasecmp(uri, "coaps:", 6) == 0) {
		pskfd = psk_pipe(lim);
		if (pskfd < 0) {
			close(fds[1]);
			r = pskfd;
			goto fail;
		}
	}
	r = spawn_fetch(p, uri, lim, fds[1], pskfd);
	close(fds[1]);
	if (pskfd >= 0)
		close(pskfd);
	if (r < 0)
		goto fail;
	p->pidfd = pidfd_open(p->pid, 0);
	if (p->pidfd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(ev, &p->child, p->pidfd, EPOLLIN, on_exit_fd, p);
	/* The progress the child wrote before it exited comes before done(). */
	if (r >= 0)
		r = sd_event_source_set_priority(p->child, SD_EVENT_PRIORITY_NORMAL + 1);
	if (r >= 0)
		r = sd_event_add_io(ev, &p->pipe, p->pipefd, EPOLLIN, on_pipe, p);
	if (r < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		remove_dest(p->dest);
	}
	pull_free(p);
	return r;
}

struct gw_pkg_pull *gw_pkg_pull_cancel(struct gw_pkg_pull *p)
{
	if (!p)
		return NULL;
	if (p->pid > 0) {
		/* SIGKILL and wait (a dead process exits at once): once it
		 * is reaped, nothing writes dest any more. */
		pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		while (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
	}
	remove_dest(p->dest);
	pull_free(p);
	return NULL;
}
