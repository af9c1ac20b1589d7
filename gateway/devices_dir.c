/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway.devices_dir: devices in files of their own, one per device or
 * group (as EdgeX reads a devices directory), merged with the main file's
 * `devices:`. Each file holds what the main file's `devices:` holds:
 *
 *   devices:
 *     - name: pump-3
 *       ...
 *
 * Files named *.yaml or *.yml, not hidden, are read in name order (C
 * locale), after the main file's devices; anything else (README,
 * pump.yaml.dpkg-old, an editor's .pump.yaml.swp) is left alone. Every
 * problem keeps its own file:line:col, and a file that holds a secret is
 * checked like the main file. A reload reads the folder again, so adding,
 * changing or removing a file applies by difference like any other change.
 */
#include "gateway/gateway.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEVICES_FILES_MAX 10000

static bool wanted(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder: as written (relative to the configuration's folder), or the
 * default devices.d beside the configuration. */
static int folder(const struct ynode *n, const char *path, char **out)
{
	const char *d = n && n->kind == YNODE_SCALAR && !ynode_is_null(n) ? n->scalar.str : "devices.d";
	const char *slash = strrchr(path, '/');
	int r;

	if (d[0] != '/' && slash)
		r = asprintf(out, "%.*s/%s", (int)(slash - path), path, d);
	else
		r = asprintf(out, "%s", d);
	return r < 0 ? -ENOMEM : 0;
}

/* Append one document to c->devices_docs. */
static int add_doc(struct gw_config *c, struct ydoc *doc)
{
	struct ydoc **v = realloc(c->devices_docs, (c->ndevices_docs + 1) * sizeof(*v));

	if (!v) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	c->devices_docs = v;
	c->devices_docs[c->ndevices_docs++] = doc;
	return 0;
}

static int add_name(char ***names, size_t *n, size_t *cap, const char *name)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		char **v = realloc(*names, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		*names = v;
		*cap = c;
	}
	if (!((*names)[*n] = strdup(name)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* The wanted files of dir in name order into *out, with ch made: its file
 * added or replaced (read from memory later), or left out when ch removes
 * it. Problems reported at at (or the folder). */
static int list_folder(DIR *dir, const char *what, const struct gw_remote_change *ch, const char *folder_path,
		       const struct ynode *at, struct diag *diag, char ***out, size_t *count)
{
	char **names = NULL;
	size_t nnames = 0, cap = 0;
	struct dirent *e;
	int ret = 0;

	while (ret >= 0 && (e = readdir(dir))) {
		if (!wanted(e->d_name) || (ch && ch->file && strcmp(e->d_name, ch->file) == 0))
			continue;
		if (nnames == DEVICES_FILES_MAX) {
			diag_report(diag, DIAG_ERROR, at ? at->file : folder_path, at ? at->line : 0,
				    at ? at->col : 0, "%s '%s' holds more than %d files", what, folder_path,
				    DEVICES_FILES_MAX);
			ret = -EINVAL;
			break;
		}
		ret = add_name(&names, &nnames, &cap, e->d_name);
	}
	if (ret >= 0 && ch && ch->text)
		ret = add_name(&names, &nnames, &cap, ch->file);
	if (ret >= 0 && nnames)
		qsort(names, nnames, sizeof(*names), cmp_names);
	*out = names;
	*count = nnames;
	return ret;
}

/* Read the devices files of folder dir (opened) into c->devices_docs. */
static int read_folder(struct gw_config *c, DIR *dir, const char *folder_path, const char *what,
		       const struct ynode *at, const struct gw_remote_change *ch, struct diag *diag,
		       struct gw_secret_scan *secrets)
{
	char **names = NULL;
	size_t nnames = 0;
	int ret, r;

	ret = list_folder(dir, what, ch, folder_path, at, diag, &names, &nnames);
	for (size_t i = 0; ret >= 0 && i < nnames; i++) {
		char *file;
		struct stat st;
		struct ydoc *doc;

		if (asprintf(&file, "%s/%s", folder_path, names[i]) < 0) {
			ret = -ENOMEM;
			break;
		}
		if (ch && ch->text && strcmp(names[i], ch->file) == 0) {
			r = ydoc_load_buffer(file, ch->text, strlen(ch->text), NULL, diag, &doc);
			goto loaded;
		}
		/* Through a symbolic link too: a folder named x.yaml is left
		 * alone, anything else that is not a file (a FIFO would block
		 * the reader) is refused. */
		if (stat(file, &st) == 0 && !S_ISREG(st.st_mode)) {
			if (!S_ISDIR(st.st_mode)) {
				diag_report(diag, DIAG_ERROR, file, 0, 0, "not a regular file");
				ret = ret < 0 ? ret : -EINVAL;
			}
			free(file);
			continue;
		}
		r = ydoc_load_file(file, NULL, diag, &doc);
	loaded:
		free(file);
		if (r == -ENOMEM)
			ret = r;
		if (r < 0) {
			ret = ret < 0 ? ret : -EINVAL;
			continue;
		}
		r = add_doc(c, doc);
		if (r < 0) {
			ret = r;
			break;
		}
		r = gw_secrets_resolve(doc, diag, secrets);
		if (r < 0)
			ret = r == -ENOMEM || ret == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	return ret;
}

int gw_devices_dir_load(struct gw_config *c, const char *path, struct diag *diag,
			struct gw_secret_scan *secrets)
{
	const struct ynode *n = ynode_map_get(ynode_map_get(ydoc_root(c->doc), "gateway"), "devices_dir");
	DIR *dir;
	int r;

	/* Not a string: the schema says so; in memory: no folder to read. */
	if (!path || (n && (n->kind != YNODE_SCALAR || n->style == YSCALAR_BLOCK)))
		return 0;
	r = folder(n, path, &c->devices_dir);
	if (r < 0)
		return r;
	dir = opendir(c->devices_dir);
	if (!dir) {
		r = -errno;
		/* The default folder need not exist; one written must. */
		if (!n || ynode_is_null(n)) {
			if (r == -ENOENT)
				return 0;
			n = ynode_map_get(ydoc_root(c->doc), "gateway");
		}
		diag_report(diag, DIAG_ERROR, n ? n->file : path, n ? n->line : 0, n ? n->col : 0,
			    "cannot read devices_dir '%s': %s", c->devices_dir, strerror(-r));
		return -EINVAL;
	}
	r = read_folder(c, dir, c->devices_dir, "devices_dir", n, NULL, diag, secrets);
	closedir(dir);
	return r;
}

/* The remote devices live in the state directory, as the server's other
 * state does: gateway.state_dir as written (the schema checks it later),
 * else its default. */
int gw_remote_dir_load(struct gw_config *c, const char *path, const struct gw_remote_change *ch,
		       struct diag *diag, struct gw_secret_scan *secrets)
{
	const struct ynode *n = ynode_map_get(ynode_map_get(ydoc_root(c->doc), "gateway"), "state_dir");
	const char *state = "/var/lib/fieldgate";
	size_t before = c->ndevices_docs;
	DIR *dir;
	int r;

	if (!path)
		return 0;
	if (n && n->kind == YNODE_SCALAR && !ynode_is_null(n) && n->scalar.str[0] == '/')
		state = n->scalar.str;
	if (asprintf(&c->remote_dir, "%s/devices", state) < 0) {
		c->remote_dir = NULL;
		return -ENOMEM;
	}
	dir = opendir(c->remote_dir);
	/* Missing until the server creates a device: a change to check is
	 * then read from memory alone. */
	if (!dir && (errno != ENOENT || !ch || !ch->text)) {
		r = errno;
		/* A state_dir that is not a directory is reported at its key. */
		if (r == ENOENT || r == ENOTDIR)
			return 0;
		/* `check` run by another user than the daemon's: said, not an
		 * error of the configuration. */
		if (r == EACCES) {
			diag_report(diag, DIAG_WARNING, c->remote_dir, 0, 0,
				    "cannot read the devices the LwM2M server created (%s): they are not "
				    "checked",
				    strerror(r));
			return 0;
		}
		diag_report(diag, DIAG_ERROR, c->remote_dir, 0, 0,
			    "cannot read the devices the LwM2M server created: %s", strerror(r));
		return -EINVAL;
	}
	r = 0;
	if (dir) {
		r = read_folder(c, dir, c->remote_dir, "the remote devices folder", NULL, ch, diag, secrets);
		closedir(dir);
	} else {
		struct ydoc *doc;
		char *file;
		if (asprintf(&file, "%s/%s", c->remote_dir, ch->file) < 0)
			return -ENOMEM;
		r = ydoc_load_buffer(file, ch->text, strlen(ch->text), NULL, diag, &doc);
		free(file);
		if (r >= 0 && (r = add_doc(c, doc)) >= 0)
			r = gw_secrets_resolve(doc, diag, secrets);
		else if (r < 0 && r != -ENOMEM)
			r = -EINVAL;
	}
	c->nremote_docs = c->ndevices_docs - before;
	return r;
}

int gw_devices_dir_merge(struct schema_ctx *ctx, struct gw_config *c, const struct schema_key *device)
{
	const struct schema_key keys[] = {
		{ .name = "devices", .kind = SCHEMA_LIST, .elem = device, .max_items = 100000 },
		{ NULL },
	};
	const struct schema_section file = { .name = "devices file",
					     .size = sizeof(struct schema_list),
					     .keys = keys };
	size_t size = device->section->size;

	c->ndevices_main = c->devices.n;
	for (size_t i = 0; i < c->ndevices_docs; i++) {
		struct schema_list l = { 0 };
		void *v;
		int r = schema_parse_section(ctx, &file, ydoc_root(c->devices_docs[i]), &l);

		if (r == -ENOMEM) {
			schema_free(&file, &l);
			return r;
		}
		if (l.n == 0) {
			schema_free(&file, &l);
			continue;
		}
		/* The devices move to the configuration's list, where they are
		 * freed like the main file's. */
		v = realloc(c->devices.items, (c->devices.n + l.n) * size);
		if (!v) {
			schema_free(&file, &l);
			return -ENOMEM;
		}
		c->devices.items = v;
		memcpy((char *)v + c->devices.n * size, l.items, l.n * size);
		c->devices.n += l.n;
		free(l.items);
	}
	return 0;
}

size_t gw_devices_dir_count(const struct gw_config *c, bool remote)
{
	size_t n = 0;

	for (size_t i = c->ndevices_main; i < c->devices.n; i++)
		if (gw_device_is_remote(c, gw_config_device(c, i)) == remote)
			n++;
	return n;
}

bool gw_device_is_remote(const struct gw_config *c, const struct gw_device *d)
{
	size_t n = c->remote_dir ? strlen(c->remote_dir) : 0;

	return n && d->node && d->node->file && strncmp(d->node->file, c->remote_dir, n) == 0 &&
	       d->node->file[n] == '/';
}

const char *gw_device_source(const struct gw_config *c, const struct gw_device *d)
{
	if (gw_device_is_remote(c, d))
		return "remote";
	return d->node && d->node->file ? d->node->file : "";
}
