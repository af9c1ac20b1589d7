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
 *
 * Secrets also stay out of the configuration altogether: every key holding
 * one also takes `<key>_file: /path` (a file of its own, under the same
 * rule) and `<key>_credential: NAME` (a systemd credential, which the
 * service manager hands to the service alone, decrypted if it was
 * encrypted, in $CREDENTIALS_DIRECTORY). The loader reads them before the
 * parse and puts the secret in the document where the key was, so every
 * reader of the configuration (the schema, the bridges, now and at a
 * reload) sees the plain key and needs to know nothing of this.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_MAX          4096 /* keys and passwords are short: anything longer is the wrong file */
#define SERVICE_CREDENTIALS "/run/credentials/fieldgate.service"

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

	/* Read from a file or credential: not in this file, and its own
	 * file was checked when it was read. */
	for (size_t i = 0; i < s->nrefs; i++)
		if (s->refs[i].value == value) {
			s->refs[i].secret = kind == SCHEMA_SECRET;
			return;
		}
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
	/* The first secret written in each file (the main one, each of
	 * devices_dir's), and how many more. */
	for (size_t i = 0; i < s->nin; i++)
		if (strcmp(s->in[i].value->file, value->file) == 0) {
			s->in[i].n++;
			return;
		}
	{
		struct gw_secret_in *in = realloc(s->in, (s->nin + 1) * sizeof(*in));
		if (!in) {
			s->oom = true;
			return;
		}
		s->in = in;
		s->in[s->nin].value = value;
		s->in[s->nin].n = 1;
		snprintf(s->in[s->nin++].key, sizeof(s->in[0].key), "%s", key);
	}
}

void gw_secret_scan_clear(struct gw_secret_scan *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i].key);
	free(s->files);
	free(s->refs);
	free(s->in);
	*s = (struct gw_secret_scan){ 0 };
}

/* ---- <key>_file and <key>_credential --------------------------------------- */

static const char *suffix_of(const char *key, size_t *base)
{
	static const char *const suffixes[] = { "_file", "_credential" };
	size_t n = strlen(key);

	for (size_t i = 0; i < 2; i++) {
		size_t l = strlen(suffixes[i]);
		if (n > l && strcmp(key + n - l, suffixes[i]) == 0) {
			*base = n - l;
			return suffixes[i];
		}
	}
	return NULL;
}

/* Where credential name is: $CREDENTIALS_DIRECTORY (the service's), else
 * the running service's directory (root may read it). 0, or -ENOENT with
 * why. */
static int credential_path(const char *name, char *buf, size_t size, char *why, size_t whysize)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strlen(name) > 255) {
		snprintf(why, whysize, "'%.64s' is not a credential name (a file name: no '/')", name);
		return -EINVAL;
	}
	if (dir && *dir) {
		snprintf(buf, size, "%s/%s", dir, name);
		return 0;
	}
	snprintf(buf, size, "%s/%s", SERVICE_CREDENTIALS, name);
	if (access(buf, F_OK) == 0)
		return 0;
	snprintf(why, whysize,
		 "systemd credential '%s' not found: $CREDENTIALS_DIRECTORY is not set (systemd sets it "
		 "for the service, from LoadCredential= in its unit) and %s/ has no such file (is the "
		 "service running?)",
		 name, SERVICE_CREDENTIALS);
	return -ENOENT;
}

/* The secret in path: one line, at most SECRET_MAX bytes, in a regular
 * file nobody else can read. Its length, or a negative errno with why. */
static ssize_t read_secret(const char *path, char *buf, size_t size, char *why, size_t whysize)
{
	struct stat st;
	const char *readers;
	ssize_t n = 0, k;
	/* O_NONBLOCK: a FIFO must not hang check or a reload; it is refused
	 * below as not a regular file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), e;

	if (fd < 0) {
		e = -errno;
		snprintf(why, whysize, "cannot read '%.1000s': %s", path, strerror(-e));
		return e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, whysize, "'%.1000s' is not a regular file", path);
		return -EINVAL;
	}
	if ((readers = gw_secret_readers(st.st_mode, st.st_uid))) {
		close(fd);
		snprintf(why, whysize,
			 "'%.1000s' is readable by %s (mode %04o, owner uid %u): chmod 600 %.1000s (or 640 "
			 "owned by root "
			 "with the service's group: chown root:fieldgate %.1000s)",
			 path, readers, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, path, path);
		return -EACCES;
	}
	while ((size_t)n < size && (k = read(fd, buf + n, size - (size_t)n)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			e = -errno;
			close(fd);
			explicit_bzero(buf, size);
			snprintf(why, whysize, "cannot read '%.1000s': %s", path, strerror(-e));
			return e;
		}
		n += k;
	}
	close(fd);
	/* The content itself is never quoted: it is the secret. */
	if ((size_t)n == size) {
		snprintf(why, whysize, "'%.1000s' is larger than %d bytes: not a key or a password", path,
			 SECRET_MAX);
		e = -EFBIG;
	} else {
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		e = 0;
		if (n == 0)
			snprintf(why, whysize, "'%.1000s' is empty", path), e = -EINVAL;
		else if (memchr(buf, '\0', (size_t)n))
			snprintf(why, whysize, "'%.1000s' holds a NUL byte", path), e = -EINVAL;
		else if (memchr(buf, '\n', (size_t)n) || memchr(buf, '\r', (size_t)n))
			snprintf(why, whysize,
				 "'%.1000s' holds more than one line: a key or a password is one line", path),
				e = -EINVAL;
	}
	if (e < 0) {
		explicit_bzero(buf, size);
		return e;
	}
	return n;
}

static int resolve_one(struct ydoc *doc, const struct ynode *map, size_t i, struct diag *diag,
		       struct gw_secret_scan *s)
{
	const struct ynode *k = ynode_map_key(map, i), *v = ynode_map_value(map, i), *put;
	char base[64], path[4096], why[4200], secret[SECRET_MAX + 1];
	const char *suffix;
	struct gw_secret_ref ref = { .file = k->file, .line = k->line, .col = k->col }, *refs;
	size_t blen;
	ssize_t n = -EINVAL;

	if (k->kind != YNODE_SCALAR || !(suffix = suffix_of(k->scalar.str, &blen)) || blen >= sizeof(base))
		return 0;
	memcpy(base, k->scalar.str, blen);
	base[blen] = '\0';
	snprintf(ref.key, sizeof(ref.key), "%s", k->scalar.str);
	snprintf(ref.base, sizeof(ref.base), "%s", base);
	if (ynode_map_get(map, base)) {
		snprintf(why, sizeof(why), "'%s' and '%s' exclude each other: the secret is in one place",
			 base, ref.key);
	} else if (v->kind != YNODE_SCALAR || ynode_is_null(v) || strlen(v->scalar.str) != v->scalar.len) {
		snprintf(why, sizeof(why), "'%s' must be %s, got %s", ref.key,
			 suffix[1] == 'f' ? "the path of a file" : "a credential name", ynode_describe(v));
	} else if (suffix[1] == 'f' && v->scalar.str[0] != '/') {
		snprintf(why, sizeof(why), "'%s' must be an absolute path, got '%.200s'", ref.key,
			 v->scalar.str);
	} else if (suffix[1] == 'f'
			   ? snprintf(path, sizeof(path), "%s", v->scalar.str) >= (int)sizeof(path)
			   : credential_path(v->scalar.str, path, sizeof(path), why, sizeof(why)) < 0) {
		if (suffix[1] == 'f')
			snprintf(why, sizeof(why), "'%s' is too long", ref.key);
	} else
		n = read_secret(path, secret, sizeof(secret), why, sizeof(why));
	if (n < 0) {
		diag_report(diag, DIAG_ERROR, v->file, v->line, v->col, "%s: %s", ref.key, why);
		/* Parsed as an absent secret: no second error for the same. */
		put = ydoc_replace_pair(doc, k, base, "", 0, v->file, v->line, v->col);
		if (put)
			((struct ynode *)put)->style = YSCALAR_PLAIN;
		return put ? -EINVAL : -ENOMEM;
	}
	put = ydoc_replace_pair(doc, k, base, secret, (size_t)n, path, 1, 1);
	explicit_bzero(secret, sizeof(secret));
	if (!put)
		return -ENOMEM;
	ref.value = put;
	refs = realloc(s->refs, (s->nrefs + 1) * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	s->refs = refs;
	s->refs[s->nrefs++] = ref;
	return 0;
}

static int resolve_node(struct ydoc *doc, const struct ynode *n, struct diag *diag, struct gw_secret_scan *s)
{
	int ret = 0, r;

	if (n->kind == YNODE_SEQ)
		for (size_t i = 0; i < n->seq.n; i++)
			if ((r = resolve_node(doc, &n->seq.items[i], diag, s)) < 0 && ret != -ENOMEM)
				ret = r;
	if (n->kind == YNODE_MAP)
		for (size_t i = 0; i < n->map.n; i++) {
			if ((r = resolve_one(doc, n, i, diag, s)) < 0 && ret != -ENOMEM)
				ret = r;
			if ((r = resolve_node(doc, ynode_map_value(n, i), diag, s)) < 0 && ret != -ENOMEM)
				ret = r;
		}
	return ret;
}

int gw_secrets_resolve(struct ydoc *doc, struct diag *diag, struct gw_secret_scan *s)
{
	return resolve_node(doc, ydoc_root(doc), diag, s);
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

int gw_secrets_check(const struct gw_secret_scan *s, struct ydoc *const *docs, size_t ndocs,
		     struct diag *diag)
{
	const char *readers;
	int ret = 0;

	if (s->oom)
		return -ENOMEM;
	for (size_t i = 0; i < s->nin; i++) {
		const struct gw_secret_in *in = &s->in[i];
		const struct stat *cst = NULL;
		const char *name = NULL;
		char what[sizeof(in->key) + 64];

		for (size_t d = 0; d < ndocs && !cst; d++)
			if (strcmp(ydoc_name(docs[d]), in->value->file) == 0) {
				name = ydoc_name(docs[d]);
				cst = ydoc_file_stat(docs[d]);
			}
		if (!cst || !(readers = gw_secret_readers(cst->st_mode, cst->st_uid)))
			continue;
		if (in->n > 1)
			snprintf(what, sizeof(what), "%s (and %zu more secret%s) in a file", in->key,
				 in->n - 1, in->n > 2 ? "s" : "");
		else
			snprintf(what, sizeof(what), "%s in a file", in->key);
		report_loose(diag, in->value, what, name, cst, readers);
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
	for (size_t i = 0; i < s->nrefs; i++) {
		const struct gw_secret_ref *r = &s->refs[i];
		if (r->secret)
			continue;
		diag_report(
			diag, DIAG_ERROR, r->file, r->line, r->col,
			"'%s': only a secret (a key, a password) may be read from a file or a credential, "
			"and '%s' is none here",
			r->key, r->base);
		ret = -EACCES;
	}
	return ret;
}
