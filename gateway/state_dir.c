/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway.state_dir at start-up: `run` creates it when it is missing (as
 * systemd's StateDirectory= would) or refuses to start, since without it
 * every bootstrap result is lost and each start bootstraps again;
 * `check` says what `run` will find.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gw_state_dir_create(const char *path, char *failed, size_t size)
{
	char buf[4096];
	size_t len = strlen(path);
	struct stat st;

	snprintf(failed, size, "%s", path);
	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	/* Each missing parent in turn (0755, less the umask), then the
	 * directory itself, private to the service: 0700. */
	memcpy(buf, path, len + 1);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0'; /* or the last mkdir would be a parent's */
	for (char *p = buf + 1;; p++) {
		bool last = *p == '\0';
		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(buf, last ? 0700 : 0755) < 0 && errno != EEXIST) {
			int e = -errno;
			snprintf(failed, size, "%s", buf);
			return e;
		}
		if (last)
			break;
		*p = '/';
	}
	/* EEXIST of a file (or a race): it must be a directory now. */
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 1 : -ENOTDIR;
}

int gw_state_dir_writable(const char *path)
{
	return access(path, W_OK | X_OK) < 0 ? -errno : 0;
}

/* The nearest existing ancestor of path, into buf. */
static void existing_parent(const char *path, char *buf, size_t size)
{
	struct stat st;
	char *slash;

	snprintf(buf, size, "%s", path);
	while ((slash = strrchr(buf, '/'))) {
		if (slash == buf) {
			buf[1] = '\0';
			return;
		}
		*slash = '\0';
		if (stat(buf, &st) == 0)
			return;
	}
}

void gw_state_dir_check(const struct gw_config *c, struct diag *diag)
{
	const struct ynode *gw = ynode_map_get(ydoc_root(c->doc), "gateway");
	const struct ynode *n = ynode_map_get(gw, "state_dir");
	const char *path = c->gateway.state_dir;
	const char *file = n ? n->file : gw ? gw->file : ydoc_name(c->doc);
	unsigned line = n ? n->line : gw ? gw->line : 1, col = n ? n->col : gw ? gw->col : 1;
	char parent[4096];
	struct stat st;

	if (!path)
		return;
	/* `check` may run as another user than the daemon (root, an admin):
	 * what this user cannot do is a warning, what no user can is an
	 * error. */
	if (stat(path, &st) < 0) {
		int e = errno;
		if (e == ENOTDIR) {
			diag_report(diag, DIAG_ERROR, file, line, col,
				    "state_dir '%s': a part of the path is not a directory (expected a "
				    "directory fieldgate can write to)",
				    path);
			return;
		}
		if (e != ENOENT) {
			diag_report(diag, DIAG_WARNING, file, line, col,
				    "state_dir '%s' cannot be checked by this user (uid %u): %s", path,
				    (unsigned)geteuid(), strerror(e));
			return;
		}
		existing_parent(path, parent, sizeof(parent));
		if (gw_state_dir_writable(parent) < 0)
			diag_report(
				diag, DIAG_WARNING, file, line, col,
				"state_dir '%s' does not exist, and this user (uid %u) cannot create it in "
				"'%s': `fieldgate run` creates it (mode 0700) if its user can",
				path, (unsigned)geteuid(), parent);
		else
			diag_report(diag, DIAG_WARNING, file, line, col,
				    "state_dir '%s' does not exist: `fieldgate run` creates it (mode 0700)",
				    path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		diag_report(diag, DIAG_ERROR, file, line, col,
			    "state_dir '%s' is not a directory (expected a directory fieldgate can write to)",
			    path);
		return;
	}
	int r = gw_state_dir_writable(path);
	if (r < 0)
		diag_report(diag, DIAG_WARNING, file, line, col,
			    "state_dir '%s' is not writable by this user (uid %u): %s; `fieldgate run` needs "
			    "to write there",
			    path, (unsigned)geteuid(), strerror(-r));
}
