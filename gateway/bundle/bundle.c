/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profile and object bundles: the manifest and the archive reader
 * (bundle.h). The archive is never unpacked by libarchive's own
 * extraction (archive_write_disk): each entry is checked here and its
 * bytes are written with openat() below the caller's folder, so nothing
 * outside it can be reached whatever the archive holds.
 */
#include "gateway/bundle/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/yamldoc.h"
#include "common/fileio.h"

#define MANIFEST_MAX (64u * 1024)
/* What messages about the archive name (the file is the server's). */
#define PACKAGE "package"

/* ---- the manifest ---------------------------------------------------------- */

struct gw_bundle *gw_bundle_free(struct gw_bundle *b)
{
	if (!b)
		return NULL;
	for (size_t i = 0; i < b->nprofiles; i++)
		free(b->profiles[i]);
	for (size_t i = 0; i < b->nobjects; i++)
		free(b->objects[i]);
	free(b->profiles);
	free(b->objects);
	free(b);
	return NULL;
}

/* A name that is also a file name: no '/', no leading dot, no "..". */
static bool safe_name(const char *s, size_t len)
{
	if (len == 0 || len > GW_BUNDLE_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int scalar(const struct ynode *root, const char *key, struct diag *diag, const char **out)
{
	const struct ynode *n = ynode_map_get(root, key);

	if (!n) {
		diag_report(diag, DIAG_ERROR, root->file, root->line, root->col, "'%s' is missing", key);
		return -EINVAL;
	}
	if (n->kind != YNODE_SCALAR || ynode_is_null(n)) {
		diag_report(diag, DIAG_ERROR, n->file, n->line, n->col, "'%s' must be a string, got %s", key,
			    ynode_describe(n));
		return -EINVAL;
	}
	*out = n->scalar.str;
	return 0;
}

/* profiles: or objects: — a list of names. */
static int name_list(const struct ynode *n, const char *key, struct diag *diag, char ***out, size_t *count)
{
	int r = 0;

	if (!n || ynode_is_null(n))
		return 0;
	if (n->kind != YNODE_SEQ) {
		diag_report(diag, DIAG_ERROR, n->file, n->line, n->col,
			    "'%s' must be a list of names, got %s", key, ynode_describe(n));
		return -EINVAL;
	}
	*out = calloc(n->seq.n + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < n->seq.n; i++) {
		const struct ynode *it = &n->seq.items[i];
		bool dup = false;
		if (it->kind != YNODE_SCALAR || !safe_name(it->scalar.str, it->scalar.len)) {
			diag_report(diag, DIAG_ERROR, it->file, it->line, it->col,
				    "'%s': bad name %s (expected letters, digits, '.', '_', '-', at most %d, "
				    "not starting with '.' or '-')",
				    key, it->kind == YNODE_SCALAR ? it->scalar.str : ynode_describe(it),
				    GW_BUNDLE_NAME_MAX);
			r = -EINVAL;
			continue;
		}
		for (size_t j = 0; j < *count; j++)
			dup |= strcmp((*out)[j], it->scalar.str) == 0;
		if (dup) {
			diag_report(diag, DIAG_ERROR, it->file, it->line, it->col,
				    "'%s': '%s' is listed twice", key, it->scalar.str);
			r = -EINVAL;
			continue;
		}
		if (!((*out)[(*count)++] = strdup(it->scalar.str)))
			return -ENOMEM;
	}
	return r;
}

int gw_bundle_manifest_parse(const char *file, const void *data, size_t len, struct diag *diag,
			     struct gw_bundle **out)
{
	static const char *const keys[] = { "name", "version", "description", "profiles", "objects" };
	const struct ydoc_limits lim = { .max_bytes = MANIFEST_MAX, .max_depth = 8, .max_nodes = 4096 };
	const struct ynode *root;
	struct gw_bundle *b = NULL;
	struct ydoc *doc;
	const char *s;
	int r, e = 0;

	*out = NULL;
	r = ydoc_load_buffer(file, data, len, &lim, diag, &doc);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	root = ydoc_root(doc);
	if (root->kind != YNODE_MAP) {
		diag_report(diag, DIAG_ERROR, root->file, root->line, root->col,
			    "a bundle manifest is a mapping with name, version, profiles, objects; got %s",
			    ynode_describe(root));
		r = -EINVAL;
		goto out;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < root->map.n; i++) {
		const struct ynode *k = ynode_map_key(root, i);
		bool known = false;
		for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			known |= ynode_scalar_eq(k, keys[j]);
		if (!known) {
			diag_report(
				diag, DIAG_ERROR, k->file, k->line, k->col,
				"unknown key '%s' (expected name, version, description, profiles, objects)",
				k->scalar.str);
			e = -EINVAL;
		}
	}
	r = scalar(root, "name", diag, &s);
	if (r >= 0 && !safe_name(s, strlen(s))) {
		const struct ynode *n = ynode_map_get(root, "name");
		diag_report(diag, DIAG_ERROR, n->file, n->line, n->col,
			    "bad bundle name '%s' (expected letters, digits, '.', '_', '-', at most %d, not "
			    "starting with '.' or '-')",
			    s, GW_BUNDLE_NAME_MAX);
		r = -EINVAL;
	}
	if (r >= 0)
		snprintf(b->name, sizeof(b->name), "%s", s);
	if (r < 0)
		e = r;
	r = scalar(root, "version", diag, &s);
	if (r >= 0 && (strlen(s) > GW_BUNDLE_NAME_MAX || !*s || !printable(s, strlen(s)))) {
		const struct ynode *n = ynode_map_get(root, "version");
		diag_report(diag, DIAG_ERROR, n->file, n->line, n->col,
			    "bad version '%.80s' (expected 1 to %d printable characters)", s,
			    GW_BUNDLE_NAME_MAX);
		r = -EINVAL;
	}
	if (r >= 0)
		snprintf(b->version, sizeof(b->version), "%s", s);
	if (r < 0)
		e = r;
	r = name_list(ynode_map_get(root, "profiles"), "profiles", diag, &b->profiles, &b->nprofiles);
	if (r < 0 && e != -ENOMEM)
		e = r;
	r = name_list(ynode_map_get(root, "objects"), "objects", diag, &b->objects, &b->nobjects);
	if (r < 0 && e != -ENOMEM)
		e = r;
	if (e >= 0 && b->nprofiles + b->nobjects == 0) {
		diag_report(diag, DIAG_ERROR, root->file, root->line, root->col,
			    "the bundle lists no profiles and no objects");
		e = -EINVAL;
	}
	r = e;
out:
	ydoc_free(doc);
	if (r < 0) {
		gw_bundle_free(b);
		return r;
	}
	*out = b;
	return 0;
}

/* ---- the archive ------------------------------------------------------------ */

struct reader {
	struct archive *a;
	const char *dir; /* NULL: check only */
	int dfd;
	struct diag *diag;
	char **files; /* the entries' names, as listed ("profiles/x.yaml") */
	size_t nfiles;
	char *manifest;
	size_t manifest_len;
	size_t total;
};

enum entry_kind { ENTRY_NONE, ENTRY_MANIFEST, ENTRY_PROFILE, ENTRY_OBJECT };

/* "profiles/NAME.yaml", "objects/NAME.xml" or "bundle.yaml". */
static enum entry_kind classify(const char *name)
{
	static const struct {
		const char *dir, *ext;
		enum entry_kind kind;
	} kinds[] = { { "profiles/", ".yaml", ENTRY_PROFILE }, { "objects/", ".xml", ENTRY_OBJECT } };

	if (strcmp(name, GW_BUNDLE_MANIFEST) == 0)
		return ENTRY_MANIFEST;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t dl = strlen(kinds[i].dir), el = strlen(kinds[i].ext), n = strlen(name);
		if (n > dl + el && strncmp(name, kinds[i].dir, dl) == 0 &&
		    strcmp(name + n - el, kinds[i].ext) == 0 && safe_name(name + dl, n - dl - el))
			return kinds[i].kind;
	}
	return ENTRY_NONE;
}

static int entry_error(struct reader *rd, const char *name, int err, const char *what)
{
	diag_report(rd->diag, DIAG_ERROR, PACKAGE, 0, 0, "archive entry %s: %s", name, what);
	return err;
}

static int folder_error(struct reader *rd, const char *name)
{
	char what[128];
	int err = -errno;

	snprintf(what, sizeof(what), "cannot create the folder: %s", strerror(-err));
	return entry_error(rd, name, err, what);
}

/* The entry's bytes: into the manifest buffer, a new file below dir, or
 * nowhere (check only). */
static int entry_data(struct reader *rd, const char *name, enum entry_kind kind)
{
	char buf[16384];
	size_t got = 0;
	int fd = -1, r = 0;

	if (kind != ENTRY_MANIFEST && rd->dir) {
		fd = openat(rd->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = -errno;
			diag_report(rd->diag, DIAG_ERROR, PACKAGE, 0, 0, "cannot write %s/%s: %s", rd->dir,
				    name, strerror(-r));
			return r;
		}
	}
	for (;;) {
		la_ssize_t n = archive_read_data(rd->a, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			r = entry_error(rd, name, -EBADMSG, archive_error_string(rd->a));
			break;
		}
		got += (size_t)n;
		rd->total += (size_t)n;
		if (got > (kind == ENTRY_MANIFEST ? MANIFEST_MAX : GW_BUNDLE_FILE_MAX) ||
		    rd->total > GW_BUNDLE_TOTAL_MAX) {
			r = entry_error(rd, name, -EFBIG, "over the size limit");
			break;
		}
		if (kind == ENTRY_MANIFEST) {
			char *m = realloc(rd->manifest, got);
			if (!m) {
				r = -ENOMEM;
				break;
			}
			memcpy(m + got - (size_t)n, buf, (size_t)n);
			rd->manifest = m;
			rd->manifest_len = got;
		} else if (fd >= 0 && (r = fg_write_all(fd, buf, (size_t)n)) < 0) {
			diag_report(rd->diag, DIAG_ERROR, PACKAGE, 0, 0, "cannot write %s/%s: %s", rd->dir,
				    name, strerror(-r));
			break;
		}
	}
	/* The caller renames the staging folder into place: the bytes must
	 * be on disk before that. */
	if (fd >= 0 && r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && r >= 0)
		r = -errno;
	return r;
}

static int entry(struct reader *rd, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	enum entry_kind kind;
	char name[256];
	size_t len;
	mode_t type = archive_entry_filetype(e);

	if (!path || !*path)
		return entry_error(rd, "(no name)", -EBADMSG, "no name");
	/* "./profiles/x.yaml" as tar writes it from "." */
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	len = strlen(path);
	if (len >= sizeof(name))
		return entry_error(rd, "(long name)", -EBADMSG, "name too long");
	memcpy(name, path, len + 1);
	if (type == AE_IFDIR) {
		while (len && name[len - 1] == '/')
			name[--len] = '\0';
		if (len == 0 || strcmp(name, ".") == 0)
			return 0;
		if (strcmp(name, "profiles") != 0 && strcmp(name, "objects") != 0)
			return entry_error(rd, name, -EBADMSG, "a folder other than profiles/ or objects/");
		if (rd->dir && mkdirat(rd->dfd, name, 0755) < 0 && errno != EEXIST)
			return folder_error(rd, name);
		return 0;
	}
	if (type != AE_IFREG || archive_entry_hardlink(e) || archive_entry_symlink(e))
		return entry_error(rd, name, -EBADMSG, "not a regular file (links and devices are refused)");
	kind = classify(name);
	if (kind == ENTRY_NONE)
		return entry_error(
			rd, name, -EBADMSG,
			"not a bundle file (expected bundle.yaml, profiles/NAME.yaml or objects/NAME.xml)");
	for (size_t i = 0; i < rd->nfiles; i++)
		if (strcmp(rd->files[i], name) == 0)
			return entry_error(rd, name, -EBADMSG, "in the archive twice");
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > (la_int64_t)GW_BUNDLE_FILE_MAX)
		return entry_error(rd, name, -EFBIG, "over the size limit");
	if (kind != ENTRY_MANIFEST && rd->dir) {
		/* The folder may come without its own entry. */
		char sub[16];
		snprintf(sub, sizeof(sub), "%s", kind == ENTRY_PROFILE ? "profiles" : "objects");
		if (mkdirat(rd->dfd, sub, 0755) < 0 && errno != EEXIST)
			return folder_error(rd, sub);
	}
	{
		char **f = realloc(rd->files, (rd->nfiles + 1) * sizeof(*f));
		if (!f)
			return -ENOMEM;
		rd->files = f;
		if (!(f[rd->nfiles] = strdup(name)))
			return -ENOMEM;
		rd->nfiles++;
	}
	return entry_data(rd, name, kind);
}

static bool has_file(const struct reader *rd, const char *dir, const char *name, const char *ext)
{
	char want[300];

	snprintf(want, sizeof(want), "%s/%s%s", dir, name, ext);
	for (size_t i = 0; i < rd->nfiles; i++)
		if (strcmp(rd->files[i], want) == 0)
			return true;
	return false;
}

/* Is file one of dir/NAME.ext of names? */
static bool listed(const char *file, const char *dir, char **names, size_t n, const char *ext)
{
	char want[300];

	for (size_t i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%s/%s%s", dir, names[i], ext);
		if (strcmp(file, want) == 0)
			return true;
	}
	return false;
}

/* Every file listed is there, every file there is listed. */
static int cross_check(const struct reader *rd, const struct gw_bundle *b)
{
	int r = 0;

	for (size_t i = 0; i < b->nprofiles; i++)
		if (!has_file(rd, "profiles", b->profiles[i], ".yaml")) {
			diag_report(rd->diag, DIAG_ERROR, GW_BUNDLE_MANIFEST, 0, 0,
				    "profile '%s' is listed but profiles/%s.yaml is not in the archive",
				    b->profiles[i], b->profiles[i]);
			r = -EBADMSG;
		}
	for (size_t i = 0; i < b->nobjects; i++)
		if (!has_file(rd, "objects", b->objects[i], ".xml")) {
			diag_report(rd->diag, DIAG_ERROR, GW_BUNDLE_MANIFEST, 0, 0,
				    "object '%s' is listed but objects/%s.xml is not in the archive",
				    b->objects[i], b->objects[i]);
			r = -EBADMSG;
		}
	for (size_t i = 0; i < rd->nfiles; i++) {
		const char *f = rd->files[i];
		if (strcmp(f, GW_BUNDLE_MANIFEST) != 0 &&
		    !listed(f, "profiles", b->profiles, b->nprofiles, ".yaml") &&
		    !listed(f, "objects", b->objects, b->nobjects, ".xml")) {
			diag_report(rd->diag, DIAG_ERROR, GW_BUNDLE_MANIFEST, 0, 0,
				    "%s is in the archive but not listed in the manifest", f);
			r = -EBADMSG;
		}
	}
	return r;
}

/* Write the manifest as it came: the installed bundle keeps it. */
static int save_manifest(const struct reader *rd)
{
	int fd, r;

	fd = openat(rd->dfd, GW_BUNDLE_MANIFEST, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = fg_write_all(fd, rd->manifest, rd->manifest_len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	return r;
}

static int read_all(struct reader *rd, struct gw_bundle **out)
{
	struct archive_entry *e;
	size_t entries = 0;
	int r = 0;

	for (;;) {
		int h = archive_read_next_header(rd->a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			/* No entry read: not a tar archive (or not one libarchive
			 * knows); after one, a damaged or truncated one. */
			bool format = entries == 0;
			diag_report(rd->diag, DIAG_ERROR, PACKAGE, 0, 0, "%s: %s",
				    format ? "not a tar archive" : "damaged archive",
				    archive_error_string(rd->a));
			return format ? -ENOTSUP : -EBADMSG;
		}
		if (++entries > GW_BUNDLE_ENTRIES_MAX) {
			diag_report(rd->diag, DIAG_ERROR, PACKAGE, 0, 0,
				    "more than %d entries in the archive", GW_BUNDLE_ENTRIES_MAX);
			return -EFBIG;
		}
		r = entry(rd, e);
		if (r < 0)
			return r;
	}
	if (!rd->manifest) {
		diag_report(rd->diag, DIAG_ERROR, PACKAGE, 0, 0, "no %s in the archive", GW_BUNDLE_MANIFEST);
		return -EBADMSG;
	}
	r = gw_bundle_manifest_parse(GW_BUNDLE_MANIFEST, rd->manifest, rd->manifest_len, rd->diag, out);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	r = cross_check(rd, *out);
	if (r >= 0 && rd->dir && (r = save_manifest(rd)) < 0)
		diag_report(rd->diag, DIAG_ERROR, PACKAGE, 0, 0, "cannot write %s/%s: %s", rd->dir,
			    GW_BUNDLE_MANIFEST, strerror(-r));
	if (r < 0)
		*out = gw_bundle_free(*out);
	return r;
}

static int extract(const char *file, const void *data, size_t len, const char *dir, struct diag *diag,
		   struct gw_bundle **out)
{
	struct reader rd = { .dir = dir, .dfd = -1, .diag = diag };
	int r;

	*out = NULL;
	rd.a = archive_read_new();
	if (!rd.a)
		return -ENOMEM;
	/* tar (ustar, pax, GNU), plain or gzip: nothing else is a bundle. */
	archive_read_support_format_tar(rd.a);
	archive_read_support_filter_gzip(rd.a);
	if (dir) {
		rd.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (rd.dfd < 0) {
			r = -errno;
			diag_report(diag, DIAG_ERROR, PACKAGE, 0, 0, "cannot open %s: %s", dir, strerror(-r));
			goto out;
		}
	}
	r = file ? archive_read_open_filename(rd.a, file, 16384) : archive_read_open_memory(rd.a, data, len);
	if (r != ARCHIVE_OK) {
		diag_report(diag, DIAG_ERROR, PACKAGE, 0, 0, "not a tar archive: %s",
			    archive_error_string(rd.a));
		r = -ENOTSUP;
		goto out;
	}
	r = read_all(&rd, out);
out:
	archive_read_free(rd.a);
	if (rd.dfd >= 0)
		close(rd.dfd);
	for (size_t i = 0; i < rd.nfiles; i++)
		free(rd.files[i]);
	free(rd.files);
	free(rd.manifest);
	return r;
}

int gw_bundle_extract_file(const char *archive, const char *dir, struct diag *diag, struct gw_bundle **out)
{
	return extract(archive, NULL, 0, dir, diag, out);
}

int gw_bundle_extract_memory(const void *data, size_t len, const char *dir, struct diag *diag,
			     struct gw_bundle **out)
{
	return extract(NULL, data, len, dir, diag, out);
}

int gw_bundle_load_dir(const char *dir, struct diag *diag, struct gw_bundle **out)
{
	char path[4096], *buf;
	ssize_t n;
	int fd, r;

	*out = NULL;
	if (snprintf(path, sizeof(path), "%s/%s", dir, GW_BUNDLE_MANIFEST) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	buf = malloc(MANIFEST_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, MANIFEST_MAX + 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r >= 0 && (size_t)n > MANIFEST_MAX)
		r = -EFBIG;
	if (r >= 0)
		r = gw_bundle_manifest_parse(path, buf, (size_t)n, diag, out);
	free(buf);
	return r;
}

/* Files, then the folders a bundle may have; nothing is followed. */
static int remove_in(int dfd, int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0, fd = dup(dfd);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			continue;
		if ((errno == EISDIR || errno == EPERM) && depth > 0) {
			int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = -errno;
				continue;
			}
			r = remove_in(sub, depth - 1);
			close(sub);
			if (r >= 0 && unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0)
				r = -errno;
		} else
			r = -errno;
	}
	closedir(d);
	return r;
}

int gw_bundle_remove_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r;

	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = remove_in(dfd, 1);
	close(dfd);
	if (r >= 0 && rmdir(dir) < 0)
		r = -errno;
	return r;
}
