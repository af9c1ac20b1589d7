/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading fieldgate.yaml (YAML -> schema -> configuration), its object
 * definitions and profiles, and the summary `fieldgate check` prints.
 */
#include "gateway/gateway.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "common/log.h"
#include "lwm2m/lwm2m.h"
#include "bridges/bridge.h"
#include "mappings/mapping.h"
#include "config_internal.h"

/* ---- loading ------------------------------------------------------------------ */

const char *gw_mode_to_string(int mode)
{
	return mode == GW_MODE_GATEWAY ? "gateway" : "endpoint";
}

const char *gw_security_to_string(int security)
{
	switch (security) {
	case GW_SECURITY_PSK:
		return "psk";
	case GW_SECURITY_CERTIFICATE:
		return "certificate";
	default:
		return "nosec";
	}
}

struct gw_config *gw_config_free(struct gw_config *c)
{
	if (!c)
		return NULL;
	mapping_set_free(c->profiles);
	free(c->device_profiles);
	schema_free(&gwc_root_section, c);
	for (size_t i = 0; i < c->ndevices_docs; i++)
		ydoc_free(c->devices_docs[i]);
	free(c->devices_docs);
	free(c->devices_dir);
	free(c->remote_dir);
	free(c->objects_dir);
	for (char **p = c->profiles_dirs; p && *p; p++)
		free(*p);
	free(c->profiles_dirs);
	for (char **p = c->bundle_dirs; p && *p; p++)
		free(*p);
	free(c->bundle_dirs);
	ydoc_free(c->doc);
	free(c);
	return NULL;
}

static int split_profiles_path(struct gw_config *c, const char *path)
{
	const char *s = c->gateway.profiles_path ? c->gateway.profiles_path : "";
	const char *slash = path ? strrchr(path, '/') : NULL;
	size_t n = 1;

	for (const char *p = s; *p; p++)
		n += *p == ':';
	c->profiles_dirs = calloc(n + 1, sizeof(char *));
	if (!c->profiles_dirs)
		return -ENOMEM;
	n = 0;
	for (const char *p = s; *p;) {
		size_t len = strcspn(p, ":");
		char *d;
		int r;
		if (len == 0) {
			p++;
			continue;
		}
		/* Relative to the configuration file, like objects_dir. */
		if (p[0] != '/' && slash)
			r = asprintf(&d, "%.*s/%.*s", (int)(slash - path), path, (int)len, p);
		else
			r = asprintf(&d, "%.*s", (int)len, p);
		if (r < 0)
			return -ENOMEM;
		c->profiles_dirs[n++] = d;
		p += len;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append s (taken) to the NULL-terminated *v of *n. */
static int push_str(char ***v, size_t *n, char *s)
{
	char **g;

	if (!s)
		return -ENOMEM;
	g = realloc(*v, (*n + 2) * sizeof(*g));
	if (!g) {
		free(s);
		return -ENOMEM;
	}
	g[(*n)++] = s;
	g[*n] = NULL;
	*v = g;
	return 0;
}

/* A profile of a bundle that a folder searched before it has too: that
 * one is used. An Install refuses such a bundle (config_bundle.c); a file
 * put there later is reported here, as a warning: the configuration works,
 * with the other profile. */
static void hidden_profiles(const struct gw_config *c, size_t nconf, struct diag *diag)
{
	for (size_t b = 0; c->profiles_dirs[nconf + b]; b++) {
		const char *own = c->profiles_dirs[nconf + b];
		struct dirent *de;
		DIR *d = opendir(own);
		while (d && (de = readdir(d))) {
			size_t n = strlen(de->d_name);
			char other[4096 + 256];
			if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".yaml") != 0)
				continue;
			for (size_t i = 0; i < nconf + b; i++) {
				snprintf(other, sizeof(other), "%s/%s", c->profiles_dirs[i], de->d_name);
				if (access(other, F_OK) != 0)
					continue;
				diag_report(diag, DIAG_WARNING, own, 0, 0,
					    "profile %s of this bundle is not used: %s is found first",
					    de->d_name, other);
				break;
			}
		}
		if (d)
			closedir(d);
	}
}

/* The active profile bundles of state_dir/bundles (Object 9: a folder per
 * installed bundle, "inactive" in it when deactivated; names starting with
 * '.' are being staged), with ch's bundle in place of what is there. Their
 * profiles are searched after profiles_path: a profile of the
 * configuration's own folders wins over a bundle's of the same name (the
 * install refuses such a bundle, docs/updates.md). */
static int find_bundles(struct gw_config *c, const struct gw_remote_change *ch, struct diag *diag)
{
	char root[4096], *dir;
	size_t n = 0, np = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	while (c->profiles_dirs && c->profiles_dirs[np])
		np++;
	if (!c->gateway.state_dir ||
	    snprintf(root, sizeof(root), "%s/bundles", c->gateway.state_dir) >= (int)sizeof(root))
		return 0;
	d = opendir(root);
	while (d && r >= 0 && (de = readdir(d))) {
		char marker[4096 + 300];
		if (de->d_name[0] == '.' || (ch && ch->bundle && strcmp(ch->bundle, de->d_name) == 0))
			continue;
		snprintf(marker, sizeof(marker), "%s/%s/inactive", root, de->d_name);
		if (access(marker, F_OK) == 0)
			continue;
		r = asprintf(&dir, "%s/%s", root, de->d_name) < 0 ? -ENOMEM
								  : push_str(&c->bundle_dirs, &n, dir);
	}
	if (d)
		closedir(d);
	if (r >= 0 && ch && ch->bundle && ch->bundle_dir)
		r = push_str(&c->bundle_dirs, &n, strdup(ch->bundle_dir));
	if (r < 0)
		return r;
	if (n)
		qsort(c->bundle_dirs, n, sizeof(*c->bundle_dirs), cmp_str);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = asprintf(&dir, "%s/profiles", c->bundle_dirs[i]) < 0
			    ? -ENOMEM
			    : push_str(&c->profiles_dirs, &np, dir);
	if (r >= 0 && n)
		hidden_profiles(c, np - n, diag);
	return r;
}

/* The secrets of the main file and of devices_dir's files. */
static int check_secrets(const struct gw_config *c, const struct gw_secret_scan *secrets, struct diag *diag)
{
	struct ydoc **docs = calloc(c->ndevices_docs + 1, sizeof(*docs));
	int r;

	if (!docs)
		return -ENOMEM;
	docs[0] = c->doc;
	if (c->ndevices_docs)
		memcpy(docs + 1, c->devices_docs, c->ndevices_docs * sizeof(*docs));
	r = gw_secrets_check(secrets, docs, c->ndevices_docs + 1, diag);
	free(docs);
	return r;
}

static int config_from_doc(struct ydoc *doc, const char *path, const struct gw_remote_change *ch,
			   struct diag *diag, struct gw_config **out, struct gw_config **partial)
{
	struct gw_secret_scan secrets = { 0 };
	struct gw_config *c;
	int r, rs, rf, rd;

	c = calloc(1, sizeof(*c));
	if (!c) {
		ydoc_free(doc);
		return -ENOMEM;
	}
	c->doc = doc;
	/* Secrets of *_file and *_credential keys first: put in place, they
	 * are parsed like any other. */
	rf = gw_secrets_resolve(doc, diag, &secrets);
	rd = gw_devices_dir_load(c, path, diag, &secrets);
	if (rd >= 0)
		rd = gw_remote_dir_load(c, path, ch, diag, &secrets);
	if (rf == 0 || rd == -ENOMEM)
		rf = rd;
	r = schema_parse_secrets(&gwc_root_section, ydoc_root(doc), c, diag, NULL, gw_secret_seen, &secrets);
	rs = check_secrets(c, &secrets, diag);
	gw_secret_scan_clear(&secrets);
	if (r == 0 || rs == -ENOMEM)
		r = rs == -EACCES ? -EINVAL : rs;
	if (r == 0 || rf == -ENOMEM)
		r = rf;
	if (r == -EINVAL && partial && split_profiles_path(c, path) >= 0) {
		*partial = c;
		return r;
	}
	if (r < 0) {
		gw_config_free(c);
		return r;
	}

	if (c->gateway.objects_dir) {
		const char *d = c->gateway.objects_dir;
		const char *slash = path ? strrchr(path, '/') : NULL;
		/* Relative to the configuration file, so a folder shipped
		 * beside it works wherever the daemon was started. */
		if (d[0] != '/' && slash)
			r = asprintf(&c->objects_dir, "%.*s/%s", (int)(slash - path), path, d);
		else
			r = (c->objects_dir = strdup(d)) ? 0 : -1;
		if (r < 0) {
			c->objects_dir = NULL;
			gw_config_free(c);
			return -ENOMEM;
		}
	}
	r = split_profiles_path(c, path);
	/* Bundles are the daemon's: a configuration from memory has none. */
	if (r >= 0 && path)
		r = find_bundles(c, ch, diag);
	if (r < 0) {
		gw_config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int gw_config_load_file(const char *path, struct diag *diag, struct gw_config **out)
{
	return gw_config_load_file_change(path, NULL, diag, out);
}

int gw_config_load_file_change(const char *path, const struct gw_remote_change *ch, struct diag *diag,
			       struct gw_config **out)
{
	struct ydoc *doc;
	int r;

	*out = NULL;
	r = ydoc_load_file(path, NULL, diag, &doc);
	if (r < 0)
		return r;
	return config_from_doc(doc, path, ch, diag, out, NULL);
}

int gw_config_load_file_partial(const char *path, struct diag *diag, struct gw_config **out,
				struct gw_config **partial)
{
	struct ydoc *doc;
	int r;

	*out = NULL;
	*partial = NULL;
	r = ydoc_load_file(path, NULL, diag, &doc);
	if (r < 0)
		return r;
	return config_from_doc(doc, path, NULL, diag, out, partial);
}

int gw_config_load_buffer(const char *name, const void *data, size_t len, struct diag *diag,
			  struct gw_config **out)
{
	struct ydoc *doc;
	int r;

	*out = NULL;
	r = ydoc_load_buffer(name, data, len, NULL, diag, &doc);
	if (r < 0)
		return r;
	return config_from_doc(doc, NULL, NULL, diag, out, NULL);
}

int gw_config_load_objects(const struct gw_config *c, struct diag *diag, struct lwm2m_registry **out,
			   size_t *loaded)
{
	struct lwm2m_registry *reg;
	unsigned before = diag ? diag->errors : 0;
	int r;

	*out = NULL;
	if (loaded)
		*loaded = 0;
	reg = lwm2m_registry_new();
	if (!reg)
		return -ENOMEM;
	if (c->objects_dir) {
		DIR *d = opendir(c->objects_dir);
		/* Checked here first so the error points at the key in the
		 * configuration, not only at the folder. */
		if (!d) {
			const struct ynode *n =
				ynode_map_get(ynode_map_get(ydoc_root(c->doc), "gateway"), "objects_dir");
			r = -errno;
			diag_report(diag, DIAG_ERROR, n ? n->file : NULL, n ? n->line : 0, n ? n->col : 0,
				    "cannot read objects_dir '%s': %s", c->objects_dir, strerror(-r));
			lwm2m_registry_free(reg);
			return r;
		}
		closedir(d);
		r = lwm2m_registry_load_dir(reg, c->objects_dir, diag_forward_error, diag);
		if (r < 0) {
			lwm2m_registry_free(reg);
			return r;
		}
		if (loaded)
			*loaded = (size_t)r;
	}
	/* The bundles' after objects_dir's (a bundle that redefines a known
	 * object is refused when installed). */
	for (char **b = c->bundle_dirs; b && *b; b++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/objects", *b);
		if (access(dir, F_OK) < 0)
			continue;
		r = lwm2m_registry_load_dir(reg, dir, diag_forward_error, diag);
		if (r < 0) {
			diag_report(diag, DIAG_ERROR, dir, 0, 0, "cannot read the bundle's objects: %s",
				    strerror(-r));
			lwm2m_registry_free(reg);
			return r;
		}
	}
	if (diag && diag->errors > before) {
		lwm2m_registry_free(reg);
		return -EINVAL;
	}
	*out = reg;
	return 0;
}

int gw_config_load_profiles(struct gw_config *c, const struct lwm2m_registry *reg, struct diag *diag)
{
	char *path = NULL;
	size_t len = 0;
	FILE *f;
	int ret = 0;

	/* The resolved folders, ':'-joined again for the engine. */
	f = open_memstream(&path, &len);
	if (!f)
		return -ENOMEM;
	for (char **p = c->profiles_dirs; p && *p; p++)
		fprintf(f, "%s%s", p == c->profiles_dirs ? "" : ":", *p);
	if (fclose(f) != 0) {
		free(path);
		return -ENOMEM;
	}
	mapping_set_free(c->profiles);
	free(c->device_profiles);
	c->profiles = mapping_set_new(reg, bridge_source_kinds(), path);
	free(path);
	c->device_profiles = calloc(c->devices.n + 1, sizeof(*c->device_profiles));
	if (!c->profiles || !c->device_profiles)
		return -ENOMEM;
	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *d = gw_config_device(c, i);
		const struct ynode *at = ynode_map_get(d->node, "profile");
		const struct gw_bridge *b = d->bridge ? gw_config_find_bridge(c, d->bridge) : NULL;
		const char *kind;
		int r;
		/* A partially parsed configuration (`fieldgate check` after
		 * errors) may have devices without a usable profile key. */
		if (!d->name || !d->profile || !at || at->kind != YNODE_SCALAR) {
			ret = -EINVAL;
			continue;
		}
		r = mapping_set_get(c->profiles, d->profile, at, diag, &c->device_profiles[i]);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			ret = -EINVAL;
			continue;
		}
		kind = mapping_profile_bridge(c->device_profiles[i]);
		if (kind && !d->bridge) {
			diag_report(diag, DIAG_ERROR, at->file, at->line, at->col,
				    "profile '%s' reads from a %s bridge, but device '%s' has no 'bridge'",
				    d->profile, kind, d->name);
			ret = -EINVAL;
		} else if (kind && b && b->type && strcmp(kind, b->type) != 0) {
			diag_report(diag, DIAG_ERROR, at->file, at->line, at->col,
				    "profile '%s' is for a %s bridge, but device '%s' uses bridge '%s' of "
				    "type %s",
				    d->profile, kind, d->name, b->name, b->type);
			ret = -EINVAL;
		}
	}
	return ret;
}

size_t gw_config_device_count(const struct gw_config *c)
{
	return c->devices.n;
}

size_t gw_config_bridge_count(const struct gw_config *c)
{
	return c->bridges.n;
}

char *gw_config_summary(const struct gw_config *c, const char *path, const struct lwm2m_registry *reg,
			size_t loaded)
{
	char lifetime[64], *s = NULL;
	size_t len = 0, nobj = reg ? lwm2m_registry_count(reg) : 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	schema_format_duration(c->lwm2m.lifetime_usec, lifetime, sizeof(lifetime));
	fprintf(f, "%s: configuration is valid. Gateway '%s' in %s mode", path, c->gateway.name,
		gw_mode_to_string(c->lwm2m.mode));
	if (c->lwm2m.mode == GW_MODE_ENDPOINT)
		fprintf(f, " (endpoint names '%s')", c->lwm2m.endpoint_template);
	else {
		/* What the configured devices need at least (discovered ones
		 * and kept places may need more: state_dir/gateway-placement). */
		size_t per = (size_t)c->lwm2m.gateway_devices_max, n = gw_config_device_count(c);
		size_t neps = n ? (n + per - 1) / per : 1;
		fprintf(f, " (%zu device%s per gateway endpoint: %zu for the configured devices)", per,
			per == 1 ? "" : "s", neps);
	}
	fprintf(f, ", lifetime %s, state in %s; %zu LwM2M server%s (", lifetime, c->gateway.state_dir,
		c->lwm2m.servers.n, c->lwm2m.servers.n == 1 ? "" : "s");
	for (size_t i = 0; i < c->lwm2m.servers.n; i++) {
		const struct gw_server *sv = gw_config_server(c, i);
		fprintf(f, "%s%s %s%s", i ? ", " : "", sv->uri.text, gw_security_to_string(sv->security),
			sv->bootstrap ? " bootstrap" : "");
	}
	fprintf(f, "); %zu bridge%s, %zu device%s", gw_config_bridge_count(c),
		gw_config_bridge_count(c) == 1 ? "" : "s", gw_config_device_count(c),
		gw_config_device_count(c) == 1 ? "" : "s");
	if (c->ndevices_docs > c->nremote_docs)
		fprintf(f, " (%zu from %zu file%s in %s)", gw_devices_dir_count(c, false),
			c->ndevices_docs - c->nremote_docs,
			c->ndevices_docs - c->nremote_docs == 1 ? "" : "s", c->devices_dir);
	if (c->nremote_docs)
		fprintf(f, " (%zu created by the LwM2M server, in %s)", gw_devices_dir_count(c, true),
			c->remote_dir);
	fprintf(f, "; %zu object definitions known", nobj);
	if (c->objects_dir)
		fprintf(f, " (%zu loaded from %s)", loaded, c->objects_dir);
	fputc('.', f);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}
