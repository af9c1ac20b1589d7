/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running update.command on a firmware package (gateway.h, "firmware
 * install"). Two callers share it so the command line is built, and the
 * command started, one way only:
 *
 * - the daemon outside systemd (registry/fwupdate.c): a child of its own;
 * - `fieldgate install-update` (gw_install_update()), the ExecStart of the
 *   shipped fieldgate-update.service: under systemd the daemon may only
 *   start that one root unit, and the unit reads the command, its time
 *   bound and the package's place from the root-owned configuration, never
 *   from the daemon. It records how the command ended in
 *   state_dir/firmware/outcome, where the restarted daemon reads it.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/log.h"

/* s in single quotes for /bin/sh: nothing in it is interpreted. */
static char *shell_quote(const char *s)
{
	size_t n = 3;
	char *q, *o;

	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	q = o = malloc(n);
	if (!q)
		return NULL;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *p;
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}

char *gw_fw_command_line(const char *cmd, const char *file)
{
	char *q = shell_quote(file), *out, *o;
	size_t n = strlen(cmd) + 1, ql;
	const char *p;

	if (!q)
		return NULL;
	ql = strlen(q);
	for (p = cmd; (p = strstr(p, "{file}")); p += 6)
		n += ql;
	out = o = malloc(n);
	if (out) {
		for (p = cmd; *p;) {
			if (!strncmp(p, "{file}", 6)) {
				memcpy(o, q, ql);
				o += ql;
				p += 6;
			} else
				*o++ = *p++;
		}
		*o = '\0';
	}
	free(q);
	return out;
}

int gw_fw_spawn(const char *line, pid_t *out)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Nobody answers a question: stdin is empty. */
		int null = open("/dev/null", O_RDONLY);
		if (null > STDIN_FILENO) {
			(void)dup2(null, STDIN_FILENO);
			close(null);
		}
		/* Its own process group (the time-out kills all of it), the
		 * signals the caller blocks unblocked again. */
		(void)setpgid(0, 0);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	/* Here too: the group exists whichever of the two runs first. */
	(void)setpgid(pid, pid);
	*out = pid;
	return 0;
}

/* Who else than root, the fieldgate user (it writes the package) and the
 * caller may change the file: NULL when nobody. */
const char *gw_fw_writers(const struct stat *st)
{
	const struct passwd *pw = getpwnam("fieldgate");
	const struct group *gr = getgrnam("fieldgate");

	if (st->st_mode & S_IWOTH)
		return "others";
	if ((st->st_mode & S_IWGRP) && st->st_gid != 0 && !(gr && st->st_gid == gr->gr_gid) &&
	    st->st_gid != getegid())
		return "its group";
	if (st->st_uid != 0 && st->st_uid != geteuid() && !(pw && st->st_uid == pw->pw_uid))
		return "its owner";
	return NULL;
}

/* ---- the outcome file ----------------------------------------------------------- */

static const char *const kinds[] = { [GW_FW_EXITED] = "exited",
				     [GW_FW_KILLED] = "killed",
				     [GW_FW_TIMEOUT] = "timeout",
				     [GW_FW_REFUSED] = "refused" };

int gw_fw_outcome_write(const char *dir, const struct gw_fw_outcome *o)
{
	char text[128];
	struct stat st;
	int dfd, fd = -1, n, e = 0;

	/* The folder belongs to the daemon's user, who may have left anything
	 * there: no link is followed, the file is created new. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	n = gw_fw_outcome_format(o, text, sizeof(text));
	if (n < 0)
		e = n;
	else if (fstat(dfd, &st) < 0 || (unlinkat(dfd, "outcome.tmp", 0) < 0 && errno != ENOENT))
		e = -errno;
	if (e == 0 &&
	    (fd = openat(dfd, "outcome.tmp", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640)) < 0)
		e = -errno;
	/* The daemon's user reads it. */
	if (e == 0 && geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
		e = -errno;
	if (e == 0) {
		ssize_t w = write(fd, text, (size_t)n);
		if (w != n)
			e = w < 0 ? -errno : -EIO;
		else if (fsync(fd) < 0)
			e = -errno;
	}
	if (fd >= 0 && close(fd) < 0 && e == 0)
		e = -errno;
	if (e == 0 && renameat(dfd, "outcome.tmp", dfd, "outcome") < 0)
		e = -errno;
	if (e == 0)
		(void)fsync(dfd);
	else
		(void)unlinkat(dfd, "outcome.tmp", 0);
	close(dfd);
	return e;
}

int gw_fw_outcome_format(const struct gw_fw_outcome *o, char *buf, size_t size)
{
	int n = snprintf(buf, size, "result=%s\nstatus=%d\ntime=%lld\n", kinds[o->kind], o->status,
			 (long long)o->time);

	return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

/* "key=" at *p, then a decimal in [lo, hi] and a newline (or the end). */
static bool number(const char **p, const char *key, long long lo, long long hi, long long *out)
{
	size_t kl = strlen(key);
	char *end;

	if (strncmp(*p, key, kl) != 0 || !(((*p)[kl] >= '0' && (*p)[kl] <= '9') || (*p)[kl] == '-'))
		return false;
	errno = 0;
	*out = strtoll(*p + kl, &end, 10);
	if (errno || *out < lo || *out > hi || (*end != '\n' && *end != '\0'))
		return false;
	*p = *end ? end + 1 : end;
	return true;
}

int gw_fw_outcome_parse(const char *text, size_t len, struct gw_fw_outcome *o)
{
	char copy[128];
	const char *p = copy;
	long long status, t;
	size_t kl;

	/* What gw_fw_outcome_format() writes is shorter. */
	if (len >= sizeof(copy))
		return -EBADMSG;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (strncmp(p, "result=", 7) != 0)
		return -EBADMSG;
	p += 7;
	kl = strcspn(p, "\n");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i]) == kl && strncmp(p, kinds[i], kl) == 0 && p[kl] == '\n') {
			p += kl + 1;
			if (!number(&p, "status=", INT_MIN, INT_MAX, &status) ||
			    !number(&p, "time=", 0, LLONG_MAX, &t) || *p)
				return -EBADMSG;
			o->kind = (enum gw_fw_kind)i;
			o->status = (int)status;
			o->time = (time_t)t;
			return 0;
		}
	return -EBADMSG;
}

int gw_fw_outcome_read(const char *dir, struct gw_fw_outcome *o)
{
	char path[4096], text[128];
	size_t len;
	FILE *fp;
	int n;

	n = snprintf(path, sizeof(path), "%s/outcome", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	len = fread(text, 1, sizeof(text), fp);
	fclose(fp);
	return gw_fw_outcome_parse(text, len, o);
}

bool gw_fw_outcome_ok(const struct gw_fw_outcome *o)
{
	return o->kind == GW_FW_EXITED && o->status == 0;
}

/* ---- fieldgate install-update ---------------------------------------------------- */

/* path must be a regular file (no link) nobody else can change. */
static int trusted(const char *path, const char *what, FILE *err)
{
	struct stat st;
	const char *who;

	if (lstat(path, &st) < 0) {
		fprintf(err, "%s: cannot read the %s: %s\n", path, what, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(err, "%s: the %s is not a regular file (mode %06o): refused\n", path, what,
			(unsigned)st.st_mode);
		return -EPERM;
	}
	who = gw_fw_writers(&st);
	if (who) {
		fprintf(err,
			"%s: the %s is writable by %s (mode %04o, owner uid %u, group gid %u): refused; "
			"expected owned by root or fieldgate and writable by nobody else (chmod go-w %s)\n",
			path, what, who, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
			(unsigned)st.st_gid, path);
		return -EPERM;
	}
	return 0;
}

/* Wait for pid, at most timeout_usec; then kill its process group. SIGCHLD
 * is blocked by the caller. */
static struct gw_fw_outcome wait_bounded(pid_t pid, uint64_t timeout_usec)
{
	struct gw_fw_outcome o = { .kind = GW_FW_EXITED };
	struct timespec end, now, left;
	sigset_t chld;
	int st;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(timeout_usec / 1000000);
	end.tv_nsec += (long)(timeout_usec % 1000000) * 1000;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0) {
			(void)kill(-pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			o.kind = GW_FW_TIMEOUT;
			o.status = SIGKILL;
			return o;
		}
		(void)sigtimedwait(&chld, NULL, &left);
	}
	if (WIFEXITED(st))
		o.status = WEXITSTATUS(st);
	else {
		o.kind = GW_FW_KILLED;
		o.status = WTERMSIG(st);
	}
	return o;
}

static int record(const char *dir, struct gw_fw_outcome o, FILE *err)
{
	int e;

	o.time = time(NULL);
	e = gw_fw_outcome_write(dir, &o);
	if (e < 0)
		fprintf(err, "%s/outcome: cannot record the outcome: %s\n", dir, strerror(-e));
	return e;
}

int gw_install_update(const struct gw_options *opt, FILE *err)
{
	struct diag diag = { .fn = diag_print_file, .ctx = err };
	struct gw_config *c = NULL;
	char *dir = NULL, *package = NULL, *line = NULL;
	struct gw_fw_outcome o = { .kind = GW_FW_REFUSED, .status = -1 };
	sigset_t chld, old;
	pid_t pid;
	int e;

	/* The command comes from this file: nobody but root (or fieldgate,
	 * which owns it root:fieldgate 0640) may have written it. */
	if (trusted(opt->config_path, "configuration", err) < 0)
		return 1;
	e = gw_config_load_file(opt->config_path, &diag, &c);
	if (e < 0) {
		fprintf(err, "%s: the configuration does not load: nothing installed\n", opt->config_path);
		return 1;
	}
	dir = malloc(strlen(c->gateway.state_dir) + sizeof("/firmware"));
	package = dir ? malloc(strlen(c->gateway.state_dir) + sizeof("/firmware/package")) : NULL;
	if (!package) {
		e = -ENOMEM;
		goto out;
	}
	sprintf(dir, "%s/firmware", c->gateway.state_dir);
	sprintf(package, "%s/package", dir);
	if (!c->update.command) {
		fprintf(err, "%s: update.command is not configured: nothing installed\n", opt->config_path);
		e = -EINVAL;
		(void)record(dir, o, err);
		goto out;
	}
	e = trusted(package, "package", err);
	if (e < 0) {
		(void)record(dir, o, err);
		goto out;
	}
	line = gw_fw_command_line(c->update.command, package);
	if (!line) {
		e = -ENOMEM;
		goto out;
	}
	fprintf(err, "Running %s\n", line);
	fflush(err);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &chld, &old);
	e = gw_fw_spawn(line, &pid);
	if (e >= 0)
		o = wait_bounded(pid, c->update.command_timeout_usec);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	if (e < 0) {
		fprintf(err, "Cannot run the install command: %s\n", strerror(-e));
		(void)record(dir, o, err);
		goto out;
	}
	if (o.kind == GW_FW_TIMEOUT)
		fprintf(err, "The install command ran longer than update.command_timeout (%llu s): stopped\n",
			(unsigned long long)(c->update.command_timeout_usec / 1000000));
	else if (o.kind == GW_FW_KILLED)
		fprintf(err, "The install command was killed by signal %d\n", o.status);
	else
		fprintf(err, "The install command exited with status %d\n", o.status);
	e = record(dir, o, err);
	if (e >= 0 && !gw_fw_outcome_ok(&o))
		e = -EIO;
out:
	free(line);
	free(package);
	free(dir);
	gw_config_free(c);
	return e < 0 ? 1 : 0;
}
