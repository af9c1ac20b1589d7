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

int gw_devices_dir_load(struct gw_config *c, const char *path, struct diag *diag,
			struct gw_secret_scan *secrets)
{
	const struct ynode *n = ynode_map_get(ynode_map_get(ydoc_root(c->doc), "gateway"), "devices_dir");
	char **names = NULL;
	size_t nnames = 0, cap = 0;
	struct dirent *e;
	DIR *dir;
	int ret = 0, r;

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
	while ((e = readdir(dir))) {
		if (!wanted(e->d_name))
			continue;
		if (nnames == cap) {
			char **v = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*v));
			if (!v) {
				ret = -ENOMEM;
				break;
			}
			names = v;
		}
		if (nnames == DEVICES_FILES_MAX) {
			diag_report(diag, DIAG_ERROR, n ? n->file : path, n ? n->line : 0, n ? n->col : 0,
				    "devices_dir '%s' holds more than %d files", c->devices_dir,
				    DEVICES_FILES_MAX);
			ret = -EINVAL;
			break;
		}
		if (!(names[nnames] = strdup(e->d_name))) {
			ret = -ENOMEM;
			break;
		}
		nnames++;
	}
	closedir(dir);
	if (ret >= 0 && nnames)
		qsort(names, nnames, sizeof(*names), cmp_names);
	if (ret >= 0 && nnames && !(c->devices_docs = calloc(nnames, sizeof(*c->devices_docs))))
		ret = -ENOMEM;
	for (size_t i = 0; ret >= 0 && i < nnames; i++) {
		char *file;
		struct stat st;
		struct ydoc *doc;

		if (asprintf(&file, "%s/%s", c->devices_dir, names[i]) < 0) {
			ret = -ENOMEM;
			break;
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
		free(file);
		if (r == -ENOMEM)
			ret = r;
		if (r < 0) {
			ret = ret < 0 ? ret : -EINVAL;
			continue;
		}
		c->devices_docs[c->ndevices_docs++] = doc;
		r = gw_secrets_resolve(doc, diag, secrets);
		if (r < 0)
			ret = r == -ENOMEM || ret == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	return ret;
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
