/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secrets of the configuration: a key or password written in it (keys the
 * schema marks SCHEMA_SECRET) and files holding one (SCHEMA_SECRET_FILE, a
 * private key). Neither may be readable by users other than the service,
 * or anyone on the router could copy the gateway's credentials: the same
 * rule for `check`, `run` and a reload, so a loose file never starts.
 *
 * Group-readable is accepted for a file owned by root, and only then (the
 * rule PostgreSQL applies to its key file): that is how a package installs
 * secrets for a service that runs as its own user (systemd-tmpfiles sets
 * root:fieldgate 0640, systemd/fieldgate.tmpfiles), the service reading
 * through its dedicated group while only root can change the file or pick
 * the group. A file of any other owner that its group can read is refused:
 * that group may be a user's, "users" or "staff".
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *gw_secret_readers(mode_t mode, uid_t owner)
{
	if (mode & S_IROTH)
		return "others";
	if ((mode & S_IRGRP) && owner != 0)
		return "its group";
	return NULL;
}

void gw_secret_seen(void *ud, const struct ynode *value, const char *key, enum schema_secret kind)
{
	struct gw_secret_scan *s = ud;

	if (kind == SCHEMA_SECRET_FILE) {
		struct gw_secret_file *v;
		if (s->nfiles == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 4;
			v = realloc(s->files, cap * sizeof(*v));
			if (!v) {
				s->oom = true;
				return;
			}
			s->files = v;
			s->cap = cap;
		}
		s->files[s->nfiles] = (struct gw_secret_file){ value, strdup(key) };
		if (!s->files[s->nfiles++].key)
			s->oom = true;
		return;
	}
	if (s->nvalues++ == 0) {
		s->value = value;
		snprintf(s->value_key, sizeof(s->value_key), "%s", key);
	}
}

void gw_secret_scan_clear(struct gw_secret_scan *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].key);
	free(s->files);
	*s = (struct gw_secret_scan){ 0 };
}

static void report_loose(struct diag *diag, const struct ynode *at, const char *what, const char *path,
			 const struct stat *st, const char *readers)
{
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (st->st_uid == 0)
		diag_report(diag, DIAG_ERROR, at->file, at->line, at->col,
			    "%s readable by %s (mode %04o): chmod 600 %s (or 640 with the service's group: "
			    "chgrp fieldgate %s)",
			    what, readers, mode, path, path);
	else
		diag_report(diag, DIAG_ERROR, at->file, at->line, at->col,
			    "%s readable by %s (mode %04o, owner uid %u): chmod 600 %s (a group may read a "
			    "secret only in a file of root: root:fieldgate 0640)",
			    what, readers, mode, (unsigned)st->st_uid, path);
}

int gw_secrets_check(const struct gw_secret_scan *s, const struct ydoc *doc, struct diag *diag)
{
	const struct stat *cst = ydoc_file_stat(doc);
	const char *readers;
	int ret = 0;

	if (s->oom)
		return -ENOMEM;
	if (s->value && cst && (readers = gw_secret_readers(cst->st_mode, cst->st_uid))) {
		char what[sizeof(s->value_key) + 64];
		if (s->nvalues > 1)
			snprintf(what, sizeof(what), "%s (and %zu more secret%s) in a file", s->value_key,
				 s->nvalues - 1, s->nvalues > 2 ? "s" : "");
		else
			snprintf(what, sizeof(what), "%s in a file", s->value_key);
		report_loose(diag, s->value, what, ydoc_name(doc), cst, readers);
		ret = -EACCES;
	}
	for (size_t i = 0; i < s->nfiles; i++) {
		const struct ynode *n = s->files[i].node;
		const char *path = n->scalar.str;
		struct stat st;
		bool again = false;
		char what[700];

		for (size_t j = 0; j < i && !again; j++)
			again = strcmp(s->files[j].node->scalar.str, path) == 0;
		/* A file that is not there (yet) is the business of whoever
		 * opens it; only one others can read is refused here. */
		if (again || strlen(path) != n->scalar.len || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		readers = gw_secret_readers(st.st_mode, st.st_uid);
		if (!readers)
			continue;
		snprintf(what, sizeof(what), "%s file '%.100s' is", s->files[i].key ? s->files[i].key : "key",
			 path);
		report_loose(diag, n, what, path, &st, readers);
		ret = -EACCES;
	}
	return ret;
}
