/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 9 "LwM2M Software Management" on the gateway's own endpoint: each
 * instance is one profile bundle (gateway/bundle/bundle.h). The server
 * creates an instance, writes the package to /9/x/2, executes Install
 * (/9/x/4), Uninstall (6), Activate (10), Deactivate (11); every installed
 * bundle is an instance, also after a restart (state_dir/bundles/NAME,
 * its instance id in NAME/instance). The state machine of the
 * specification (Update State, /9/x/7):
 *
 *   0 INITIAL --Write Package--> 1 DOWNLOAD STARTED --> 2 DOWNLOADED
 *     --checked--> 3 DELIVERED --Install--> 4 INSTALLED --Uninstall--> 0
 *
 * A package that is not a bundle goes back to INITIAL with its Update
 * Result (53 integrity, 54 not a tar archive, 50 too big) and the reason
 * in /9/x/16. Install, Uninstall, Activate and Deactivate are changes of
 * the configuration: the daemon (gw_registry_on_bundle) loads it with the
 * change made as `fieldgate check` would, only then are the files moved
 * (commit(), here) and the result applied by difference; a change that
 * does not validate changes nothing and its first error is in /9/x/16.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "common/log.h"
#include "gateway/bundle/bundle.h"
#include "gateway/pkg/pkg.h"
#include "common/fileio.h"

#define OID 9
/* A package bigger than this cannot hold a bundle (GW_BUNDLE_TOTAL_MAX of
 * files, their tar headers), whatever update.max_size allows. */
#define PKG_MAX (2u * GW_BUNDLE_TOTAL_MAX)

enum { ST_INITIAL, ST_DOWNLOAD_STARTED, ST_DOWNLOADED, ST_DELIVERED, ST_INSTALLED };
enum {
	RES_INITIAL = 0,
	RES_DOWNLOADING = 1,
	RES_INSTALLED = 2,
	RES_DELIVERED = 3,
	RES_NO_STORAGE = 50,
	RES_NO_MEMORY = 51,
	RES_CONN_LOST = 52,
	RES_INTEGRITY = 53,
	RES_UNSUPPORTED = 54,
	RES_INVALID_URI = 56,
	RES_DEVICE_ERROR = 57,
	RES_INSTALL_FAILED = 58,
	RES_UNINSTALL_FAILED = 59,
};

struct swpkg {
	uint16_t iid;
	int state, result;
	bool active;
	char name[GW_BUNDLE_NAME_MAX + 1], version[GW_BUNDLE_NAME_MAX + 1];
	char reason[512];
	bool staged;              /* DELIVERED: its files in .staging-IID */
	struct gw_pkg_push *push; /* a package being written (DOWNLOAD STARTED) */
	struct gw_pkg_pull *pull; /* a package being fetched from its Package URI */
	struct pull_ctx *pull_ctx;
};

/* What a pull's done() finds its instance by: instances move in memory. */
struct pull_ctx {
	struct gw_registry *r;
	uint16_t iid;
};

struct swmgmt {
	struct swpkg *v;
	size_t n;
	bool loaded; /* the installed bundles were read */
};

/* ---- paths ------------------------------------------------------------------- */

/* state_dir/bundles/NAME, NAME from fmt and the instance id. */
static int path_of(const struct gw_registry *r, char *buf, size_t size, const char *prefix, unsigned iid)
{
	return snprintf(buf, size, "%s/bundles/%s%u", r->state_dir, prefix, iid) >= (int)size ? -ENAMETOOLONG
											      : 0;
}

static int staging(const struct gw_registry *r, const struct swpkg *p, char *buf, size_t size)
{
	return path_of(r, buf, size, ".staging-", p->iid);
}

static int installed(const struct gw_registry *r, const char *name, char *buf, size_t size)
{
	return snprintf(buf, size, "%s/bundles/%s", r->state_dir, name) >= (int)size ? -ENAMETOOLONG : 0;
}

static int bundles_root(const struct gw_registry *r, char *buf, size_t size)
{
	if (snprintf(buf, size, "%s/bundles", r->state_dir) >= (int)size)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A small file of a bundle's folder (instance, inactive), written whole. */
static int put_file(const char *dir, const char *file, const char *text)
{
	char path[4096];
	int fd, e = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		e = -EIO;
	if (e >= 0 && fsync(fd) < 0)
		e = -errno;
	close(fd);
	return e;
}

/* ---- instances ----------------------------------------------------------------- */

static struct swpkg *find(const struct gw_registry *r, uint16_t iid)
{
	for (size_t i = 0; r->sw && i < r->sw->n; i++)
		if (r->sw->v[i].iid == iid)
			return &r->sw->v[i];
	return NULL;
}

static struct swpkg *find_name(const struct gw_registry *r, const char *name, const struct swpkg * not )
{
	for (size_t i = 0; r->sw && i < r->sw->n; i++)
		if (&r->sw->v[i] != not &&r->sw->v[i].state >= ST_DELIVERED &&
		    strcmp(r->sw->v[i].name, name) == 0)
			return &r->sw->v[i];
	return NULL;
}

static int lowest_free(const struct gw_registry *r)
{
	for (int iid = 0; iid <= LWM2M_ID_MAX; iid++)
		if (!find(r, (uint16_t)iid))
			return iid;
	return -ENOSPC;
}

static struct swpkg *add(struct gw_registry *r, uint16_t iid)
{
	struct swpkg *v;

	if (!r->sw && !(r->sw = calloc(1, sizeof(*r->sw))))
		return NULL;
	v = realloc(r->sw->v, (r->sw->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	r->sw->v = v;
	v[r->sw->n] = (struct swpkg){ .iid = iid };
	return &v[r->sw->n++];
}

/* The instance's resources in the gateway's store. */
static void publish(struct gw_registry *r, struct swpkg *p)
{
	struct lwm2m_value v = { .type = LWM2M_TYPE_INTEGER };

	if (!r->gw_store)
		return;
	if (!lwm2m_store_has(r->gw_store, &LWM2M_PATH(OID, p->iid)) &&
	    lwm2m_store_add_instance(r->gw_store, OID, p->iid) >= 0 && r->gw_ep)
		lwm2m_endpoint_objects_changed(r->gw_ep);
	(void)self_set_text(r, &LWM2M_PATH(OID, p->iid, 0), p->name);
	(void)self_set_text(r, &LWM2M_PATH(OID, p->iid, 1), p->version);
	v.i = p->state;
	(void)self_set(r, &LWM2M_PATH(OID, p->iid, 7), &v);
	v.i = p->result;
	(void)self_set(r, &LWM2M_PATH(OID, p->iid, 9), &v);
	(void)self_set(r, &LWM2M_PATH(OID, p->iid, 12),
		       &(struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = p->active });
	(void)self_set_text(r, &LWM2M_PATH(OID, p->iid, 16), p->reason);
}

static void set_reason(struct swpkg *p, int result, const char *why)
{
	p->result = result;
	snprintf(p->reason, sizeof(p->reason), "%s", why ? why : "");
}

/* The installed bundles, once: every state_dir/bundles/NAME with a
 * manifest is an instance in INSTALLED; what was being staged when the
 * daemon stopped is removed (a Write of the package starts again). */
static void load_installed(struct gw_registry *r)
{
	char root[4096], dir[4096 + 256], file[4096 + 300];
	struct dirent *de;
	DIR *d;

	if (!r->sw && !(r->sw = calloc(1, sizeof(*r->sw))))
		return;
	r->sw->loaded = true;
	if (snprintf(root, sizeof(root), "%s/bundles", r->state_dir) >= (int)sizeof(root) ||
	    !(d = opendir(root)))
		return;
	while ((de = readdir(d))) {
		struct gw_bundle *b = NULL;
		struct diag diag = { 0 };
		struct swpkg *p;
		int iid = -1;
		FILE *f;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", root, de->d_name);
		if (de->d_name[0] == '.') {
			(void)gw_bundle_remove_dir(dir);
			continue;
		}
		if (gw_bundle_load_dir(dir, &diag, &b) < 0) {
			log_warning("%s is not an installed bundle (no valid %s): ignored", dir,
				    GW_BUNDLE_MANIFEST);
			continue;
		}
		snprintf(file, sizeof(file), "%s/instance", dir);
		f = fopen(file, "re");
		if (f && fscanf(f, "%d", &iid) != 1)
			iid = -1;
		if (f)
			fclose(f);
		if (iid < 0 || iid > LWM2M_ID_MAX || find(r, (uint16_t)iid))
			iid = lowest_free(r);
		p = iid >= 0 ? add(r, (uint16_t)iid) : NULL;
		if (p) {
			snprintf(p->name, sizeof(p->name), "%s", b->name);
			snprintf(p->version, sizeof(p->version), "%s", b->version);
			p->state = ST_INSTALLED;
			p->result = RES_INSTALLED;
			snprintf(file, sizeof(file), "%s/inactive", dir);
			p->active = access(file, F_OK) != 0;
		}
		gw_bundle_free(b);
	}
	closedir(d);
}

void swmgmt_sync(struct gw_registry *r)
{
	if (!r->sw || !r->sw->loaded)
		load_installed(r);
	for (size_t i = 0; r->sw && i < r->sw->n; i++)
		publish(r, &r->sw->v[i]);
}

void swmgmt_free(struct gw_registry *r)
{
	if (!r->sw)
		return;
	for (size_t i = 0; i < r->sw->n; i++) {
		gw_pkg_push_abort(r->sw->v[i].push);
		gw_pkg_pull_cancel(r->sw->v[i].pull);
		free(r->sw->v[i].pull_ctx);
	}
	free(r->sw->v);
	free(r->sw);
	r->sw = NULL;
}

int swmgmt_create(struct gw_registry *r, int iid, const struct lwm2m_records *recs, char *why, size_t size)
{
	struct swpkg *p;

	/* Only the server's own settings could come with it; this gateway
	 * has none to take (14, 15: no pull credentials yet). */
	for (size_t i = 0; i < recs->n; i++)
		if (recs->v[i].path.len >= 3) {
			snprintf(why, size, "resource %u of object 9 cannot be set by a Create",
				 recs->v[i].path.id[LWM2M_RID]);
			return -EINVAL;
		}
	if (iid >= 0 && find(r, (uint16_t)iid)) {
		snprintf(why, size, "instance /9/%d exists", iid);
		return -EINVAL;
	}
	if (iid < 0 && (iid = lowest_free(r)) < 0) {
		snprintf(why, size, "no free instance id of object 9");
		return iid;
	}
	p = add(r, (uint16_t)iid);
	if (!p)
		return -ENOMEM;
	publish(r, p);
	log_info("Software Management instance /9/%d created by the LwM2M server", iid);
	return iid;
}

/* ---- the package ------------------------------------------------------------------ */

static void diag_first(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		       const char *msg)
{
	struct swpkg *p = ctx;

	if (sev == DIAG_ERROR && !p->reason[0])
		diag_format(p->reason, sizeof(p->reason), sev, file, line, col, msg);
}

static int result_of(int e)
{
	switch (e) {
	case -ENOTSUP:
		return RES_UNSUPPORTED;
	case -EFBIG:
	case -ENOSPC:
		return RES_NO_STORAGE;
	case -ENOMEM:
		return RES_NO_MEMORY;
	case -EBADMSG:
	case -EINVAL:
		return RES_INTEGRITY;
	default:
		return RES_DEVICE_ERROR;
	}
}

/* A delivered package's staging folder goes. */
static void unstage(struct gw_registry *r, struct swpkg *p)
{
	char dir[4096];

	if (p->staged && staging(r, p, dir, sizeof(dir)) >= 0)
		(void)gw_bundle_remove_dir(dir);
	p->staged = false;
}

/* The package file is complete: checked and unpacked into the staging
 * folder (DELIVERED), or refused (INITIAL, with why). The file goes
 * either way: the staging folder holds what is installed. */
static void deliver(struct gw_registry *r, struct swpkg *p, const char *file)
{
	struct diag diag = { .fn = diag_first, .ctx = p };
	struct gw_bundle *b = NULL;
	char dir[4096];
	int e;

	p->state = ST_DOWNLOADED;
	p->reason[0] = '\0';
	e = staging(r, p, dir, sizeof(dir));
	if (e >= 0) {
		(void)gw_bundle_remove_dir(dir);
		e = mkdir(dir, 0700) < 0 ? -errno : 0;
	}
	if (e >= 0) {
		p->staged = true;
		e = gw_bundle_extract_file(file, dir, &diag, &b);
	}
	if (e >= 0 && find_name(r, b->name, p) && find_name(r, b->name, p)->state == ST_DELIVERED) {
		snprintf(p->reason, sizeof(p->reason), "bundle '%s' is delivered to /9/%u already", b->name,
			 find_name(r, b->name, p)->iid);
		e = -EINVAL;
	}
	(void)unlink(file);
	if (e < 0) {
		unstage(r, p);
		if (!p->reason[0])
			snprintf(p->reason, sizeof(p->reason), "%s", strerror(-e));
		p->state = ST_INITIAL;
		p->result = result_of(e);
		log_warning("Software Management /9/%u: the package is refused: %s", p->iid, p->reason);
	} else {
		snprintf(p->name, sizeof(p->name), "%s", b->name);
		snprintf(p->version, sizeof(p->version), "%s", b->version);
		p->state = ST_DELIVERED;
		set_reason(p, RES_DELIVERED, "");
		log_info("Software Management /9/%u: bundle %s %s delivered (%zu profiles, %zu objects)",
			 p->iid, b->name, b->version, b->nprofiles, b->nobjects);
	}
	gw_bundle_free(b);
	publish(r, p);
}

/* The package's file (state_dir/bundles/.pkg-IID). */
static int package_file(const struct gw_registry *r, const struct swpkg *p, char *buf, size_t size)
{
	return path_of(r, buf, size, ".pkg-", p->iid);
}

static void package_limits(const struct gw_registry *r, struct gw_pkg_limits *lim)
{
	self_pkg_limits(r, lim);
	if (!lim->max_size || lim->max_size > PKG_MAX)
		lim->max_size = PKG_MAX;
}

/* How a transfer ended, as Object 9 says it (its codes are Object 5's
 * moved to 50..). */
static int pkg_result(enum gw_pkg_result res)
{
	switch (res) {
	case GW_PKG_NO_SPACE:
		return RES_NO_STORAGE;
	case GW_PKG_NO_MEMORY:
		return RES_NO_MEMORY;
	case GW_PKG_CONN_LOST:
	case GW_PKG_CANCELLED:
		return RES_CONN_LOST;
	case GW_PKG_INTEGRITY:
		return RES_INTEGRITY;
	case GW_PKG_INVALID_URI:
	case GW_PKG_UNSUPPORTED_PROTOCOL:
		return RES_INVALID_URI;
	default:
		return RES_DEVICE_ERROR;
	}
}

static const char *pkg_words(enum gw_pkg_result res)
{
	switch (res) {
	case GW_PKG_NO_SPACE:
		return "the package is bigger than allowed (update.max_size) or the disk is full";
	case GW_PKG_NO_MEMORY:
		return "out of memory";
	case GW_PKG_CONN_LOST:
		return "the transfer broke off";
	case GW_PKG_CANCELLED:
		return "the transfer was cancelled";
	case GW_PKG_INTEGRITY:
		return "the package's blocks did not arrive in order or in full";
	case GW_PKG_INVALID_URI:
		return "invalid Package URI";
	case GW_PKG_UNSUPPORTED_PROTOCOL:
		return "the Package URI's scheme is not allowed (update.schemes)";
	default:
		return "the transfer failed";
	}
}

/* A transfer that ended without a package: INITIAL again, with why. */
static void transfer_failed(struct gw_registry *r, struct swpkg *p, enum gw_pkg_result res)
{
	p->push = NULL;
	p->state = ST_INITIAL;
	set_reason(p, pkg_result(res), pkg_words(res));
	log_warning("Software Management /9/%u: %s", p->iid, p->reason);
	publish(r, p);
}

/* An empty package resets the instance (as for Object 5). */
static int reset(struct gw_registry *r, struct swpkg *p, char *why, size_t size)
{
	if (p->state == ST_INSTALLED) {
		snprintf(why, size, "/9/%u is INSTALLED: Uninstall it first", p->iid);
		return -EPERM;
	}
	p->push = gw_pkg_push_abort(p->push);
	p->pull = gw_pkg_pull_cancel(p->pull);
	free(p->pull_ctx);
	p->pull_ctx = NULL;
	unstage(r, p);
	p->state = ST_INITIAL;
	p->name[0] = p->version[0] = '\0';
	set_reason(p, RES_INITIAL, "");
	publish(r, p);
	return 0;
}

/* The first block of a package: a new package file, DOWNLOAD STARTED. */
static int package_start(struct gw_registry *r, struct swpkg *p, char *why, size_t size)
{
	struct gw_pkg_limits lim;
	char root[4096], file[4096];
	int e;

	if (p->state != ST_INITIAL) {
		snprintf(why, size, "/9/%u is not INITIAL (Update State %d): Uninstall it first", p->iid,
			 p->state);
		return -EPERM;
	}
	e = bundles_root(r, root, sizeof(root));
	if (e >= 0)
		e = package_file(r, p, file, sizeof(file));
	package_limits(r, &lim);
	if (e >= 0)
		e = gw_pkg_push_start(file, &lim, &p->push);
	if (e < 0) {
		snprintf(why, size, "cannot write the package under %s/bundles: %s", r->state_dir,
			 strerror(-e));
		set_reason(p, result_of(e), why);
		publish(r, p);
		return e;
	}
	p->state = ST_DOWNLOAD_STARTED;
	set_reason(p, RES_DOWNLOADING, "");
	publish(r, p);
	return 0;
}

/* The last block is in: the file is flushed, then delivered. */
static void package_finish(struct gw_registry *r, struct swpkg *p)
{
	char file[4096];
	uint64_t size = 0;
	enum gw_pkg_result res = gw_pkg_push_finish(p->push, &size);

	p->push = NULL;
	if (res != GW_PKG_OK) {
		transfer_failed(r, p, res);
		return;
	}
	if (package_file(r, p, file, sizeof(file)) >= 0)
		deliver(r, p, file);
}

int swmgmt_write_stream(struct gw_registry *r, const struct lwm2m_path *path, uint64_t offset,
			const uint8_t *data, size_t len, unsigned flags)
{
	struct swpkg *p = find(r, path->id[LWM2M_IID]);
	enum gw_pkg_result res;
	char why[256];
	int e;

	if (!p || path->len != 3 || path->id[LWM2M_RID] != 2)
		return -ENOSYS; /* not a package: the client assembles it for write() */
	if (flags & LWM2M_STREAM_ABORT) {
		if (p->push) {
			gw_pkg_push_abort(p->push);
			transfer_failed(r, p, GW_PKG_CONN_LOST);
		}
		return 0;
	}
	if (offset == 0 && (flags & LWM2M_STREAM_LAST) && len == 0)
		return reset(r, p, why, sizeof(why));
	if (offset == 0 && !p->push && (e = package_start(r, p, why, sizeof(why))) < 0)
		return e;
	if (!p->push)
		return -EPERM;
	res = gw_pkg_push_block(&p->push, offset, data, len);
	if (res != GW_PKG_OK) {
		transfer_failed(r, p, res);
		return res == GW_PKG_NO_SPACE ? -EFBIG : -EIO;
	}
	if (flags & LWM2M_STREAM_LAST)
		package_finish(r, p);
	return 0;
}

/* A Write of the whole package (the client assembled the block-wise
 * body, at most its block1_max_body): the same as one block. */
static int write_package(struct gw_registry *r, struct swpkg *p, const struct lwm2m_value *v, char *why,
			 size_t size)
{
	enum gw_pkg_result res;
	int e;

	if (v->type != LWM2M_TYPE_OPAQUE && v->type != LWM2M_TYPE_STRING) {
		snprintf(why, size, "Package (/9/%u/2) is opaque", p->iid);
		return -EINVAL;
	}
	if (v->bytes.len == 0)
		return reset(r, p, why, size);
	e = package_start(r, p, why, size);
	if (e < 0)
		return e;
	res = gw_pkg_push_block(&p->push, 0, v->bytes.ptr, v->bytes.len);
	if (res != GW_PKG_OK) {
		transfer_failed(r, p, res);
		return 0;
	}
	package_finish(r, p);
	return 0;
}

static void pull_done(void *ud, enum gw_pkg_result res, uint64_t size)
{
	struct pull_ctx *ctx = ud;
	struct gw_registry *r = ctx->r;
	struct swpkg *p = find(r, ctx->iid);
	char file[4096];

	free(ctx);
	if (!p)
		return;
	p->pull = NULL; /* freed by the caller */
	p->pull_ctx = NULL;
	if (res != GW_PKG_OK) {
		transfer_failed(r, p, res);
		return;
	}
	log_info("Software Management /9/%u: %" PRIu64 " bytes fetched", p->iid, size);
	if (package_file(r, p, file, sizeof(file)) >= 0)
		deliver(r, p, file);
}

/* A Package URI: checked (scheme allowed by update.schemes), then fetched
 * off the loop into the package file (gateway/pkg/); the result comes in
 * Update State and Update Result. An empty URI resets the instance. */
static int write_uri(struct gw_registry *r, struct swpkg *p, const struct lwm2m_value *v, char *why,
		     size_t size)
{
	struct gw_pkg_limits lim;
	enum gw_pkg_result res;
	char uri[256], file[4096];
	int e;

	if (v->type != LWM2M_TYPE_STRING || v->bytes.len >= sizeof(uri)) {
		snprintf(why, size, "Package URI (/9/%u/3) is a string of at most 255 bytes", p->iid);
		return -EINVAL;
	}
	if (v->bytes.len == 0)
		return reset(r, p, why, size);
	memcpy(uri, v->bytes.ptr, v->bytes.len);
	uri[v->bytes.len] = '\0';
	package_limits(r, &lim);
	res = gw_pkg_uri_check(uri, lim.schemes);
	if (res != GW_PKG_OK) {
		if (p->state == ST_INITIAL)
			transfer_failed(r, p, res);
		snprintf(why, size, "%s: %s", pkg_words(res), uri);
		return -EINVAL;
	}
	e = package_start(r, p, why, size);
	if (e < 0)
		return e;
	/* The pull writes its own file: the push's goes. */
	p->push = gw_pkg_push_abort(p->push);
	e = package_file(r, p, file, sizeof(file));
	p->pull_ctx = e >= 0 ? calloc(1, sizeof(*p->pull_ctx)) : NULL;
	if (!p->pull_ctx)
		e = -ENOMEM;
	if (e >= 0) {
		*p->pull_ctx = (struct pull_ctx){ r, p->iid };
		e = gw_pkg_pull_start(r->event, uri, file, &lim, NULL, pull_done, p->pull_ctx, &p->pull);
	}
	if (e < 0) {
		free(p->pull_ctx);
		p->pull_ctx = NULL;
		p->state = ST_INITIAL;
		set_reason(p, RES_DEVICE_ERROR, strerror(-e));
		publish(r, p);
		snprintf(why, size, "cannot start the download: %s", strerror(-e));
		return e;
	}
	log_info("Software Management /9/%u: fetching %s", p->iid, uri);
	return 0;
}

int swmgmt_write(struct gw_registry *r, const struct lwm2m_path *path, const struct lwm2m_records *recs,
		 char *why, size_t size)
{
	struct swpkg *p = find(r, path->id[LWM2M_IID]);

	if (!p || path->len < 2) {
		snprintf(why, size, "no instance /9/%u", path->id[LWM2M_IID]);
		return -ENOENT;
	}
	for (size_t i = 0; i < recs->n; i++) {
		const struct lwm2m_record *rec = &recs->v[i];
		int e;
		uint16_t rid = rec->path.id[LWM2M_RID];
		if (rec->path.len != 3 || (rid != 2 && rid != 3)) {
			snprintf(why, size,
				 "resource %u of /9/%u cannot be written (Package 2, Package URI 3)", rid,
				 p->iid);
			return -EPERM;
		}
		e = rid == 2 ? write_package(r, p, &rec->value, why, size)
			     : write_uri(r, p, &rec->value, why, size);
		if (e < 0)
			return e;
	}
	return 0;
}

/* ---- Install, Uninstall, Activate, Deactivate --------------------------------------- */

struct commit {
	struct gw_registry *r;
	struct swpkg *p;
	int op;
};

enum { OP_INSTALL, OP_UNINSTALL, OP_ACTIVATE, OP_DEACTIVATE };

/* Install: the staging folder becomes bundles/NAME in one rename (an
 * installed bundle of that name, an older version, moves aside first and
 * goes after). */
static int commit_install(struct gw_registry *r, struct swpkg *p)
{
	char stage[4096], dest[4096], old[4096], root[4096], iid[16];
	bool had;
	int e;

	if (staging(r, p, stage, sizeof(stage)) < 0 || installed(r, p->name, dest, sizeof(dest)) < 0 ||
	    path_of(r, old, sizeof(old), ".old-", p->iid) < 0 || bundles_root(r, root, sizeof(root)) < 0)
		return -ENAMETOOLONG;
	snprintf(iid, sizeof(iid), "%u\n", p->iid);
	e = put_file(stage, "instance", iid);
	if (e < 0)
		return e;
	e = fg_sync_dir(stage);
	had = access(dest, F_OK) == 0;
	if (e >= 0 && had && rename(dest, old) < 0)
		e = -errno;
	if (e >= 0 && rename(stage, dest) < 0) {
		e = -errno;
		if (had)
			(void)rename(old, dest);
	}
	if (e >= 0)
		e = fg_sync_dir(root);
	if (had)
		(void)gw_bundle_remove_dir(old);
	if (e >= 0)
		p->staged = false;
	return e;
}

static int commit(void *ud)
{
	struct commit *c = ud;
	char dir[4096];
	int e;

	switch (c->op) {
	case OP_INSTALL:
		return commit_install(c->r, c->p);
	case OP_UNINSTALL:
		if (installed(c->r, c->p->name, dir, sizeof(dir)) < 0)
			return -ENAMETOOLONG;
		e = gw_bundle_remove_dir(dir);
		if (e >= 0) {
			snprintf(dir, sizeof(dir), "%s/bundles", c->r->state_dir);
			e = fg_sync_dir(dir);
		}
		return e;
	case OP_ACTIVATE:
		if (installed(c->r, c->p->name, dir, sizeof(dir)) < 0)
			return -ENAMETOOLONG;
		strcat(dir, "/inactive");
		if (unlink(dir) < 0 && errno != ENOENT)
			return -errno;
		dir[strlen(dir) - strlen("/inactive")] = '\0';
		return fg_sync_dir(dir);
	default:
		if (installed(c->r, c->p->name, dir, sizeof(dir)) < 0)
			return -ENAMETOOLONG;
		e = put_file(dir, "inactive", "deactivated by the LwM2M server (Object 9)\n");
		return e < 0 ? e : fg_sync_dir(dir);
	}
}

static const char *const op_words[] = { "Install", "Uninstall", "Activate", "Deactivate" };

/* Check with the change made, commit, apply: the daemon's. */
static int change(struct gw_registry *r, struct swpkg *p, int op, char *why, size_t size)
{
	struct commit c = { r, p, op };
	char dir[4096];
	struct gw_remote_change ch = { .bundle = p->name };
	int e;

	if (!r->bundle_fn) {
		snprintf(why, size, "this gateway does not take bundles from the LwM2M server");
		return -EPERM;
	}
	if (op == OP_INSTALL)
		e = staging(r, p, dir, sizeof(dir));
	else
		e = installed(r, p->name, dir, sizeof(dir));
	if (e < 0)
		return e;
	if (op == OP_INSTALL || op == OP_ACTIVATE)
		ch.bundle_dir = dir;
	why[0] = '\0';
	e = r->bundle_fn(r->bundle_ud, &ch, commit, &c, why, size);
	if (e < 0)
		log_warning("Software Management /9/%u: %s of bundle %s refused: %s", p->iid, op_words[op],
			    p->name, why);
	else
		log_info("Software Management /9/%u: %s of bundle %s %s done", p->iid, op_words[op], p->name,
			 p->version);
	return e;
}

/* Another instance that had the bundle p installed now (an older
 * version): its files are gone, it is INITIAL again. */
static void replaced(struct gw_registry *r, const struct swpkg *p)
{
	struct swpkg *o = find_name(r, p->name, p);

	if (!o || o->state != ST_INSTALLED)
		return;
	o->state = ST_INITIAL;
	o->active = false;
	snprintf(o->reason, sizeof(o->reason), "replaced by %s %s of /9/%u", p->name, p->version, p->iid);
	o->result = RES_INITIAL;
	o->name[0] = o->version[0] = '\0';
	publish(r, o);
}

int swmgmt_execute(struct gw_registry *r, const struct lwm2m_path *path, char *why, size_t size)
{
	struct swpkg *p = find(r, path->id[LWM2M_IID]);
	uint16_t rid = path->id[LWM2M_RID];
	int e;

	if (!p) {
		snprintf(why, size, "no instance /9/%u", path->id[LWM2M_IID]);
		return -ENOENT;
	}
	switch (rid) {
	case 4: /* Install */
		if (p->state != ST_DELIVERED) {
			snprintf(why, size, "/9/%u has no delivered package to install (Update State %d)",
				 p->iid, p->state);
			return -EPERM;
		}
		e = change(r, p, OP_INSTALL, why, size);
		if (e < 0) {
			/* Still DELIVERED: the server may Uninstall it or try again. */
			set_reason(p, RES_INSTALL_FAILED, why);
		} else {
			replaced(r, p);
			p->state = ST_INSTALLED;
			p->active = true;
			set_reason(p, RES_INSTALLED, "");
		}
		break;
	case 6: /* Uninstall */
		if (p->state == ST_DELIVERED) {
			unstage(r, p);
			e = 0;
		} else if (p->state == ST_INSTALLED) {
			e = change(r, p, OP_UNINSTALL, why, size);
		} else {
			snprintf(why, size, "/9/%u has nothing to uninstall", p->iid);
			return -EPERM;
		}
		if (e < 0)
			set_reason(p, RES_UNINSTALL_FAILED, why);
		else {
			p->state = ST_INITIAL;
			p->active = false;
			p->name[0] = p->version[0] = '\0';
			set_reason(p, RES_INITIAL, "");
		}
		break;
	case 10: /* Activate */
	case 11: /* Deactivate */
		if (p->state != ST_INSTALLED) {
			snprintf(why, size, "/9/%u is not installed", p->iid);
			return -EPERM;
		}
		if (p->active == (rid == 10)) {
			e = 0;
			break;
		}
		e = change(r, p, rid == 10 ? OP_ACTIVATE : OP_DEACTIVATE, why, size);
		if (e < 0)
			snprintf(p->reason, sizeof(p->reason), "%s", why);
		else {
			p->active = rid == 10;
			p->reason[0] = '\0';
		}
		break;
	default:
		return -EPERM;
	}
	publish(r, p);
	return e;
}

int swmgmt_delete(struct gw_registry *r, const struct lwm2m_path *path, char *why, size_t size)
{
	struct swpkg *p = find(r, path->id[LWM2M_IID]);
	int e = 0;

	if (!p || path->len != 2) {
		snprintf(why, size, "no instance /9/%u", path->id[LWM2M_IID]);
		return -ENOENT;
	}
	/* An installed bundle goes as by Uninstall, or the instance stays. */
	if (p->state == ST_INSTALLED)
		e = change(r, p, OP_UNINSTALL, why, size);
	if (e < 0) {
		set_reason(p, RES_UNINSTALL_FAILED, why);
		publish(r, p);
		return e;
	}
	p->push = gw_pkg_push_abort(p->push);
	p->pull = gw_pkg_pull_cancel(p->pull);
	free(p->pull_ctx);
	unstage(r, p);
	if (r->gw_store && lwm2m_store_del_instance(r->gw_store, OID, p->iid) == 0 && r->gw_ep)
		lwm2m_endpoint_objects_changed(r->gw_ep);
	*p = r->sw->v[--r->sw->n];
	return 0;
}
