/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 5 Firmware Update of the gateway itself (fwupdate.h). The state
 * machine of the specification:
 *
 *   Idle (0) --Write /5/0/0 or /5/0/1--> Downloading (1) --complete--> Downloaded (2)
 *   Downloading --failure--> Idle, Update Result 2, 3, 4, 5 (gw_pkg_result)
 *   Idle --Write of an unusable URI--> Idle, Update Result 7 or 9
 *   Downloaded --Execute /5/0/2--> Updating (3) --command fails--> Downloaded, Result 8
 *   Updating --command succeeds--> the daemon starts again on the new binary:
 *        Idle, Result 1 if its version changed, Downloaded, Result 8 if not
 *   any state but Updating --Execute /5/0/10 Cancel--> Idle, Result 10
 *   any state but Updating --Write of "" to /5/0/1 or of "\0" to /5/0/0--> Idle, Result 0
 *
 * The package is state_dir/firmware/package. What the daemon must know
 * across its restart (state, result, the version that ran the Update, the
 * installed package's name and version) is state_dir/firmware/state,
 * replaced atomically on every change. The command runs as the daemon's
 * child, or under systemd in fieldgate-update.service (fwinstall.c), which
 * records how it ended in state_dir/firmware/outcome.
 */
#include "gateway/registry/fwupdate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/pkg/pkg.h"
#include "gateway/registry/registry_internal.h"

enum { ST_IDLE = 0, ST_DOWNLOADING = 1, ST_DOWNLOADED = 2, ST_UPDATING = 3 };
enum { RES_INITIAL = 0, RES_SUCCESS = 1, RES_FAILED = 8 };

struct fwu {
	struct gw_registry *r;
	int state, result;
	char *dir, *package, *statefile, *outcome;
	char from[64];          /* the version that ran the Update */
	char name[64], ver[64]; /* /5/0/6, /5/0/7: what the last Update installed */
	struct gw_pkg_push *push;
	struct gw_pkg_pull *pull;
	sd_event_source *child, *timer;
	pid_t pid;
	sd_bus *bus; /* under systemd: fieldgate-update.service's start and end */
	sd_bus_slot *match, *call;
	bool follow; /* an Update of the daemon before: its unit is followed */
};

/* ---- the state file --------------------------------------------------------------- */

/* The folder, made when first needed (a gateway never updated has none).
 * The package may be secret to the operator: the server's only. */
static int make_dir(const struct fwu *f)
{
	if (mkdir(f->dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "Firmware update: cannot create %s: %m", f->dir);
	return 0;
}

static void save(struct fwu *f)
{
	char tmp[4096];
	FILE *fp;
	int fd, n;

	if (make_dir(f) < 0)
		return;
	n = snprintf(tmp, sizeof(tmp), "%s.tmp", f->statefile);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(fp = fdopen(fd, "w"))) {
		log_error_errno(-errno, "Firmware update: cannot write %s: %m", tmp);
		if (fd >= 0)
			close(fd);
		return;
	}
	fprintf(fp, "state=%d\nresult=%d\nfrom=%s\nname=%s\nversion=%s\ntime=%lld\n", f->state, f->result,
		f->from, f->name, f->ver, (long long)time(NULL));
	if (fflush(fp) != 0 || fsync(fileno(fp)) < 0 || fclose(fp) != 0 || rename(tmp, f->statefile) < 0) {
		log_error_errno(-errno, "Firmware update: cannot write %s: %m", f->statefile);
		unlink(tmp);
		return;
	}
	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static void copy_span(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void copy_value(char *dst, size_t size, const char *v)
{
	copy_span(dst, size, v, strcspn(v, "\n"));
}

/* A decimal in [0, max], else 0. */
static int small_int(const char *v, size_t n, int max)
{
	int x = 0;

	if (n == 0 || n > 3)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		x = x * 10 + (v[i] - '0');
	}
	return x <= max ? x : 0;
}

void fwupdate_saved_parse(const char *text, size_t len, struct fwupdate_saved *out)
{
	const char *p = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(eol - p));
		if (eq) {
			size_t kl = (size_t)(eq - p), vl = (size_t)(eol - eq - 1);
			const char *v = eq + 1;
			if (kl == 5 && !memcmp(p, "state", 5))
				out->state = small_int(v, vl, ST_UPDATING);
			else if (kl == 6 && !memcmp(p, "result", 6))
				out->result = small_int(v, vl, 11);
			else if (kl == 4 && !memcmp(p, "from", 4))
				copy_span(out->from, sizeof(out->from), v, vl);
			else if (kl == 4 && !memcmp(p, "name", 4))
				copy_span(out->name, sizeof(out->name), v, vl);
			else if (kl == 7 && !memcmp(p, "version", 7))
				copy_span(out->ver, sizeof(out->ver), v, vl);
		}
		p = eol + 1;
	}
}

/* What the state file says; a missing or unreadable file (false) is
 * Idle, 0. */
static bool load(struct fwu *f)
{
	char text[1024];
	struct fwupdate_saved s;
	size_t n;
	FILE *fp = fopen(f->statefile, "re");

	if (!fp)
		return false;
	n = fread(text, 1, sizeof(text), fp);
	fclose(fp);
	fwupdate_saved_parse(text, n, &s);
	f->state = s.state;
	f->result = s.result;
	memcpy(f->from, s.from, sizeof(f->from));
	memcpy(f->name, s.name, sizeof(f->name));
	memcpy(f->ver, s.ver, sizeof(f->ver));
	return true;
}

/* ---- the resources ---------------------------------------------------------------- */

static void set_int(struct fwu *f, uint16_t rid, int64_t v)
{
	(void)self_set(f->r, &LWM2M_PATH(FWU_OID, 0, rid),
		       &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = v });
}

/* What f holds into the store (observers notified of changes). */
static void publish(struct fwu *f)
{
	set_int(f, 3, f->state);
	set_int(f, 5, f->result);
	(void)self_set_text(f->r, &LWM2M_PATH(FWU_OID, 0, 6), f->name);
	(void)self_set_text(f->r, &LWM2M_PATH(FWU_OID, 0, 7), f->ver);
}

/* A new state and result: the store and the file. */
static void enter(struct fwu *f, int state, int result)
{
	if (f->state != state || f->result != result)
		log_info("Firmware update: state %d, result %d", state, result);
	f->state = state;
	f->result = result;
	publish(f);
	save(f);
}

static struct gw_pkg_limits limits(const struct fwu *f)
{
	struct gw_pkg_limits lim;

	self_pkg_limits(f->r, &lim);
	return lim;
}

/* Transfers stopped, the package removed. */
static void drop_package(struct fwu *f)
{
	f->push = gw_pkg_push_abort(f->push);
	f->pull = gw_pkg_pull_cancel(f->pull);
	if (unlink(f->package) < 0 && errno != ENOENT)
		log_warning_errno(-errno, "Firmware update: cannot remove %s: %m", f->package);
}

/* ---- start, stop ------------------------------------------------------------------ */

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}

static void bus_close(struct fwu *f)
{
	f->match = sd_bus_slot_unref(f->match);
	f->call = sd_bus_slot_unref(f->call);
	if (f->bus)
		(void)sd_bus_detach_event(f->bus);
	f->bus = sd_bus_flush_close_unref(f->bus);
}

/* The outcome fieldgate-update.service recorded, for the log. */
static const char *outcome_text(const struct gw_fw_outcome *o, char *buf, size_t size)
{
	static const char *const what[] = {
		[GW_FW_EXITED] = "the install command exited with status",
		[GW_FW_KILLED] = "the install command was killed by signal",
		[GW_FW_TIMEOUT] =
			"the install command ran longer than update.command_timeout: killed by signal",
		[GW_FW_REFUSED] = "the install was refused (journalctl -u " GW_FW_UNIT "), status",
	};

	snprintf(buf, size, "%s %d", what[o->kind], o->status);
	return buf;
}

static void follow_unit(struct fwu *f);

static struct fwu *fwu_free(struct fwu *f)
{
	if (!f)
		return NULL;
	f->push = gw_pkg_push_abort(f->push);
	f->pull = gw_pkg_pull_cancel(f->pull);
	f->child = sd_event_source_disable_unref(f->child);
	f->timer = sd_event_source_disable_unref(f->timer);
	bus_close(f);
	free(f->dir);
	free(f->outcome);
	free(f->package);
	free(f->statefile);
	free(f);
	return NULL;
}

/* Under systemd the command runs in fieldgate-update.service, a fixed root
 * unit: the package's maintainer scripts restart fieldgate.service, which
 * would kill anything in the service's cgroup, the install included; and
 * the daemon (no privileges) may only start that one unit (the polkit
 * rule), which reads the command from the configuration itself. */
static bool under_systemd(void)
{
	return getenv("INVOCATION_ID") && sd_booted() > 0;
}

/* How the Update a daemon before this one ran turned out: the outcome
 * fieldgate-update.service recorded (a failure is one whatever version
 * runs now), else the version. */
static void updating_ended(struct fwu *f)
{
	bool have = access(f->package, F_OK) == 0;
	struct gw_fw_outcome o;
	char text[160];
	int e = gw_fw_outcome_read(f->dir, &o);

	if (unlinkat(AT_FDCWD, f->outcome, 0) < 0 && errno != ENOENT)
		log_warning_errno(-errno, "Firmware update: cannot remove %s: %m", f->outcome);
	if (e >= 0 && !gw_fw_outcome_ok(&o)) {
		log_error("Firmware update: %s recorded: %s: Update failed", GW_FW_UNIT,
			  outcome_text(&o, text, sizeof(text)));
		f->state = have ? ST_DOWNLOADED : ST_IDLE;
		f->result = RES_FAILED;
	} else if (strcmp(f->from, gw_version) != 0) {
		log_notice("Firmware update: fieldgate %s replaced %s", gw_version, f->from);
		copy_value(f->name, sizeof(f->name), "fieldgate");
		copy_value(f->ver, sizeof(f->ver), gw_version);
		drop_package(f);
		f->state = ST_IDLE;
		f->result = RES_SUCCESS;
	} else {
		log_error("Firmware update: the installed package did not change the version (%s still "
			  "runs): Update failed",
			  gw_version);
		f->state = have ? ST_DOWNLOADED : ST_IDLE;
		f->result = RES_FAILED;
	}
}

/* After a restart: how the Update the last daemon ran turned out. */
static void resume(struct fwu *f)
{
	bool have = access(f->package, F_OK) == 0;

	switch (f->state) {
	case ST_UPDATING:
		/* The package's postinst restarts the service while dpkg still
		 * runs in the unit: nothing recorded yet. The unit is followed
		 * to its end (fwupdate_start()), state Updating until then. */
		if (under_systemd() && access(f->outcome, F_OK) < 0 && errno == ENOENT)
			f->follow = true;
		else
			updating_ended(f);
		break;
	case ST_DOWNLOADING:
		/* The transfer ended with the daemon. */
		drop_package(f);
		f->state = ST_IDLE;
		f->result = GW_PKG_CONN_LOST;
		break;
	case ST_DOWNLOADED:
		if (!have) {
			f->state = ST_IDLE;
			f->result = RES_INITIAL;
		}
		break;
	default:
		break;
	}
}

static int fwu_new(struct gw_registry *r, struct fwu **out)
{
	struct fwu *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->r = r;
	f->dir = join(r->state_dir, "firmware");
	f->package = f->dir ? join(f->dir, "package") : NULL;
	f->statefile = f->dir ? join(f->dir, "state") : NULL;
	f->outcome = f->dir ? join(f->dir, "outcome") : NULL;
	if (!f->package || !f->statefile || !f->outcome) {
		fwu_free(f);
		return -ENOMEM;
	}
	if (load(f)) {
		resume(f);
		save(f);
	}
	*out = f;
	return 0;
}

/* The instance in a new store of the gateway (at start, and when every
 * endpoint registers again after a reload: the update goes on). */
int fwupdate_start(struct gw_registry *r)
{
	const struct gw_config *c = reg_config(r);
	struct lwm2m_store *s = r->gw_store;
	int64_t protos[4];
	size_t n = gw_pkg_protocols(c->update.schemes, protos, 4);
	int e = r->fwu ? 0 : fwu_new(r, &r->fwu);

	if (e < 0)
		return e;
	e = lwm2m_store_add_instance(s, FWU_OID, 0);
	if (e >= 0)
		e = device_set_text(s, "/5/0/1", "");
	/* Both: the server writes the package or a URI to fetch it from. */
	if (e >= 0)
		e = device_set_int(s, "/5/0/9", 2);
	for (size_t i = 0; e >= 0 && i < n; i++)
		e = lwm2m_store_set(s, &LWM2M_PATH(FWU_OID, 0, 8, (uint16_t)i),
				    &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = protos[i] });
	if (e < 0)
		return e;
	publish(r->fwu);
	if (r->fwu->follow && !r->fwu->bus)
		follow_unit(r->fwu);
	return 0;
}

void fwupdate_stop(struct gw_registry *r)
{
	struct fwu *f = r->fwu;

	if (!f)
		return;
	if (f->push || f->pull) {
		drop_package(f);
		f->state = ST_IDLE;
		f->result = GW_PKG_CONN_LOST;
		save(f);
	}
	r->fwu = fwu_free(f);
}

/* ---- download ------------------------------------------------------------------- */

/* Back to Idle with result: transfers stopped, the package removed. */
static void reset(struct fwu *f, int result)
{
	drop_package(f);
	(void)self_set_text(f->r, &LWM2M_PATH(FWU_OID, 0, 1), "");
	enter(f, ST_IDLE, result);
}

static void pulled(void *ud, enum gw_pkg_result res, uint64_t size)
{
	struct fwu *f = ud;

	f->pull = NULL;
	if (res != GW_PKG_OK) {
		log_error("Firmware update: the download failed (Update Result %d)", (int)res);
		reset(f, (int)res);
		return;
	}
	log_notice("Firmware update: downloaded %llu bytes", (unsigned long long)size);
	enter(f, ST_DOWNLOADED, RES_INITIAL);
}

static int write_uri(struct fwu *f, const struct lwm2m_value *v)
{
	const struct gw_pkg_limits lim = limits(f);
	char uri[1024];
	enum gw_pkg_result res;
	int e;

	if (v->type != LWM2M_TYPE_STRING && v->type != LWM2M_TYPE_OPAQUE)
		return -EINVAL;
	if (v->bytes.len == 0) {
		if (f->state == ST_UPDATING)
			return -EPERM;
		reset(f, RES_INITIAL);
		return 0;
	}
	if (f->state != ST_IDLE)
		return -EPERM;
	if (v->bytes.len >= sizeof(uri)) {
		enter(f, ST_IDLE, GW_PKG_INVALID_URI);
		return 0;
	}
	memcpy(uri, v->bytes.ptr, v->bytes.len);
	uri[v->bytes.len] = '\0';
	/* A refused URI is the Write's result too: 2.04, then Result 7 or 9. */
	res = gw_pkg_uri_check(uri, lim.schemes);
	if (res != GW_PKG_OK) {
		log_error("Firmware update: Package URI %s refused (Update Result %d)", uri, (int)res);
		enter(f, ST_IDLE, (int)res);
		return 0;
	}
	e = make_dir(f);
	if (e >= 0)
		e = gw_pkg_pull_start(f->r->event, uri, f->package, &lim, NULL, pulled, f, &f->pull);
	if (e < 0) {
		log_error_errno(e, "Firmware update: cannot fetch %s: %m", uri);
		enter(f, ST_IDLE, e == -ENOMEM ? GW_PKG_NO_MEMORY : GW_PKG_CONN_LOST);
		return 0;
	}
	log_notice("Firmware update: fetching %s", uri);
	(void)self_set_text(f->r, &LWM2M_PATH(FWU_OID, 0, 1), uri);
	enter(f, ST_DOWNLOADING, RES_INITIAL);
	return 0;
}

/* A pushed transfer that ended with res: Idle, its result; the errno the
 * server's Write gets. */
static int push_failed(struct fwu *f, enum gw_pkg_result res)
{
	f->push = NULL; /* freed by gw_pkg_push_*() */
	log_error("Firmware update: the package written to /5/0/0 is refused (Update Result %d)", (int)res);
	reset(f, (int)res);
	return res == GW_PKG_NO_SPACE ? -EFBIG : res == GW_PKG_NO_MEMORY ? -ENOMEM : -EINVAL;
}

int fwupdate_write_stream(struct gw_registry *r, uint64_t offset, const uint8_t *data, size_t len,
			  unsigned flags)
{
	struct fwu *f = r->fwu;
	struct gw_pkg_limits lim;
	enum gw_pkg_result res;
	uint64_t size = 0;
	int e;

	if (!f)
		return -ENOENT;
	lim = limits(f);
	if (flags & LWM2M_STREAM_ABORT) {
		if (f->push)
			reset(f, GW_PKG_CONN_LOST);
		return 0;
	}
	if (offset == 0) {
		/* "\0" (or nothing) resets the state machine. */
		if ((flags & LWM2M_STREAM_LAST) && (len == 0 || (len == 1 && data[0] == '\0'))) {
			if (f->state == ST_UPDATING)
				return -EPERM;
			reset(f, RES_INITIAL);
			return 0;
		}
		if (f->state != ST_IDLE || f->push)
			return -EPERM;
		e = make_dir(f);
		if (e >= 0)
			e = gw_pkg_push_start(f->package, &lim, &f->push);
		if (e < 0) {
			log_error_errno(e, "Firmware update: cannot create %s: %m", f->package);
			enter(f, ST_IDLE, e == -ENOSPC ? GW_PKG_NO_SPACE : GW_PKG_NO_MEMORY);
			return e;
		}
		enter(f, ST_DOWNLOADING, RES_INITIAL);
	} else if (!f->push)
		return -EINVAL;
	res = gw_pkg_push_block(&f->push, offset, data, len);
	if (res != GW_PKG_OK)
		return push_failed(f, res);
	if (!(flags & LWM2M_STREAM_LAST))
		return 0;
	res = gw_pkg_push_finish(f->push, &size);
	if (res != GW_PKG_OK)
		return push_failed(f, res);
	f->push = NULL;
	log_notice("Firmware update: package of %llu bytes written", (unsigned long long)size);
	enter(f, ST_DOWNLOADED, RES_INITIAL);
	return 0;
}

int fwupdate_write(struct gw_registry *r, const struct lwm2m_records *records)
{
	struct fwu *f = r->fwu;
	int e = 0;

	if (!f)
		return -ENOENT;
	for (size_t i = 0; e >= 0 && i < records->n; i++) {
		const struct lwm2m_record *rec = &records->v[i];
		uint16_t rid = rec->path.len >= 3 ? rec->path.id[LWM2M_RID] : UINT16_MAX;
		if (rid == 1)
			e = write_uri(f, &rec->value);
		else if (rid == 0)
			/* The whole body at once (a client that assembled it). */
			e = fwupdate_write_stream(r, 0, rec->value.bytes.ptr, rec->value.bytes.len,
						  LWM2M_STREAM_LAST);
		else
			e = -EPERM;
	}
	return e;
}

/* ---- update --------------------------------------------------------------------- */

static void update_ended(struct fwu *f, bool ok)
{
	f->child = sd_event_source_disable_unref(f->child);
	f->timer = sd_event_source_disable_unref(f->timer);
	/* The unit's signals end here (the connection stays until the next
	 * Update or the end: this may run in its own callback). */
	f->match = sd_bus_slot_unref(f->match);
	f->call = sd_bus_slot_unref(f->call);
	f->pid = 0;
	if (!ok) {
		/* The running version stays; the package too, for another try. */
		enter(f, ST_DOWNLOADED, RES_FAILED);
		return;
	}
	/* State stays Updating in the file: the daemon that starts next
	 * tells by its version whether the package replaced it. */
	log_notice("Firmware update: the install command succeeded; restarting on the new version");
	if (f->r->reboot_fn)
		f->r->reboot_fn(f->r->reboot_ud, GW_RESTART_UPDATE);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *ud)
{
	struct fwu *f = ud;

	(void)s;
	if (si->si_code == CLD_EXITED && si->si_status == 0) {
		update_ended(f, true);
		return 0;
	}
	if (si->si_code == CLD_EXITED)
		log_error("Firmware update: the install command exited with status %d", si->si_status);
	else
		log_error("Firmware update: the install command was killed by signal %d", si->si_status);
	update_ended(f, false);
	return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fwu *f = ud;

	(void)s;
	(void)usec;
	log_error("Firmware update: the install command ran longer than update.command_timeout (%llu s): "
		  "stopped",
		  (unsigned long long)(reg_config(f->r)->update.command_timeout_usec / 1000000));
	/* Its process group: what it started goes too. */
	if (f->pid > 0)
		(void)kill(-f->pid, SIGKILL);
	f->timer = sd_event_source_disable_unref(f->timer);
	return 0;
}

static void settle(struct fwu *f);

/* The unit's start job ended: its result ("done", "failed", "timeout"...)
 * and the outcome the unit recorded. */
static int on_job_removed(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
	struct fwu *f = ud;
	const char *job, *unit, *result;
	struct gw_fw_outcome o;
	char text[160];
	uint32_t id;
	int e;

	(void)ret_error;
	if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0 || strcmp(unit, GW_FW_UNIT) != 0 ||
	    f->state != ST_UPDATING)
		return 0;
	if (f->follow) {
		settle(f);
		return 0;
	}
	e = gw_fw_outcome_read(f->dir, &o);
	if (e < 0)
		log_error("Firmware update: %s ended (%s) and recorded no outcome: Update failed", GW_FW_UNIT,
			  result);
	else
		log_full(gw_fw_outcome_ok(&o) ? LOG_INFO : LOG_ERR, "Firmware update: %s ended (%s): %s",
			 GW_FW_UNIT, result, outcome_text(&o, text, sizeof(text)));
	update_ended(f, e >= 0 && gw_fw_outcome_ok(&o) && strcmp(result, "done") == 0);
	return 0;
}

static int on_started(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
	struct fwu *f = ud;
	const sd_bus_error *err = sd_bus_message_get_error(m);

	(void)ret_error;
	f->call = sd_bus_slot_unref(f->call);
	if (err) {
		log_error("Firmware update: systemd refused to start %s: %s", GW_FW_UNIT, err->message);
		update_ended(f, false);
		return 0;
	}
	log_info("Firmware update: %s started", GW_FW_UNIT);
	return 0;
}

/* The system bus on the event loop, JobRemoved matched, subscribed (systemd
 * sends job signals only to subscribed clients). */
static int bus_open(struct fwu *f)
{
	int e;

	bus_close(f);
	e = sd_bus_open_system(&f->bus);
	if (e >= 0)
		e = sd_bus_attach_event(f->bus, f->r->event, SD_EVENT_PRIORITY_NORMAL);
	if (e >= 0)
		e = sd_bus_match_signal_async(f->bus, &f->match, "org.freedesktop.systemd1",
					      "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
					      "JobRemoved", on_job_removed, NULL, f);
	if (e >= 0)
		e = sd_bus_call_method_async(f->bus, NULL, "org.freedesktop.systemd1",
					     "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
					     "Subscribe", NULL, NULL, "");
	return e;
}

/* StartUnit(GW_FW_UNIT, "replace") and nothing else; its end comes as
 * JobRemoved (the match is made before the call, so it cannot be missed). */
static int start_unit(struct fwu *f)
{
	int e = bus_open(f);

	if (e >= 0)
		e = sd_bus_call_method_async(f->bus, &f->call, "org.freedesktop.systemd1",
					     "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
					     "StartUnit", on_started, f, "ss", GW_FW_UNIT, "replace");
	return e;
}

/* The unit an earlier daemon started has ended (or never ran, or cannot be
 * asked): its outcome, once. */
static void settle(struct fwu *f)
{
	if (!f->follow)
		return;
	f->follow = false;
	f->match = sd_bus_slot_unref(f->match);
	f->call = sd_bus_slot_unref(f->call);
	updating_ended(f);
	enter(f, f->state, f->result);
}

static int on_active_state(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
	struct fwu *f = ud;
	const char *state = NULL;

	(void)ret_error;
	f->call = sd_bus_slot_unref(f->call);
	if (!sd_bus_message_is_method_error(m, NULL) && sd_bus_message_enter_container(m, 'v', "s") >= 0 &&
	    sd_bus_message_read(m, "s", &state) >= 0 && strcmp(state, "activating") == 0) {
		log_notice("Firmware update: %s is still installing: Updating until it ends", GW_FW_UNIT);
		return 0;
	}
	settle(f);
	return 0;
}

static int on_unit(sd_bus_message *m, void *ud, sd_bus_error *ret_error)
{
	struct fwu *f = ud;
	const char *path;
	int e;

	(void)ret_error;
	f->call = sd_bus_slot_unref(f->call);
	/* No such unit loaded: it does not run. */
	e = sd_bus_message_is_method_error(m, NULL) ? -ENOENT : sd_bus_message_read(m, "o", &path);
	if (e >= 0)
		e = sd_bus_call_method_async(f->bus, &f->call, "org.freedesktop.systemd1", path,
					     "org.freedesktop.DBus.Properties", "Get", on_active_state, f,
					     "ss", "org.freedesktop.systemd1.Unit", "ActiveState");
	if (e < 0)
		settle(f);
	return 0;
}

/* Subscribed to the unit's jobs first, then asked whether it runs. */
static void follow_unit(struct fwu *f)
{
	int e = bus_open(f);

	if (e >= 0)
		e = sd_bus_call_method_async(f->bus, &f->call, "org.freedesktop.systemd1",
					     "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
					     "GetUnit", on_unit, f, "s", GW_FW_UNIT);
	if (e < 0) {
		log_error_errno(e, "Firmware update: cannot ask systemd about %s: %m", GW_FW_UNIT);
		settle(f);
	}
}

static int update(struct fwu *f)
{
	const struct gw_update_config *u = &reg_config(f->r)->update;
	const char *cmd = u->command;
	char *line;
	int e;

	if (f->state != ST_DOWNLOADED)
		return -EPERM;
	copy_value(f->from, sizeof(f->from), gw_version);
	enter(f, ST_UPDATING, RES_INITIAL);
	if (!cmd) {
		log_error("Firmware update: update.command is not configured: Update failed");
		enter(f, ST_DOWNLOADED, RES_FAILED);
		return 0;
	}
	if (under_systemd()) {
		/* A stale outcome must not be taken for this one's. */
		if (unlinkat(AT_FDCWD, f->outcome, 0) < 0 && errno != ENOENT)
			log_warning_errno(-errno, "Firmware update: cannot remove %s: %m", f->outcome);
		log_notice("Firmware update: starting %s", GW_FW_UNIT);
		e = start_unit(f);
		if (e < 0) {
			log_error_errno(e, "Firmware update: cannot ask systemd to start %s: %m", GW_FW_UNIT);
			update_ended(f, false);
		}
		return 0;
	}
	line = gw_fw_command_line(cmd, f->package);
	if (!line) {
		enter(f, ST_DOWNLOADED, RES_FAILED);
		return -ENOMEM;
	}
	log_notice("Firmware update: running %s", line);
	e = gw_fw_spawn(line, &f->pid);
	free(line);
	if (e >= 0)
		e = sd_event_add_child(f->r->event, &f->child, f->pid, WEXITED, on_child, f);
	if (e >= 0)
		e = sd_event_add_time_relative(f->r->event, &f->timer, CLOCK_MONOTONIC,
					       u->command_timeout_usec, 0, on_timeout, f);
	if (e < 0) {
		log_error_errno(e, "Firmware update: cannot run the install command: %m");
		f->child = sd_event_source_disable_unref(f->child);
		if (f->pid > 0) {
			(void)kill(-f->pid, SIGKILL);
			(void)waitpid(f->pid, NULL, 0);
		}
		update_ended(f, false);
		return 0;
	}
	return 0;
}

int fwupdate_execute(struct gw_registry *r, uint16_t rid)
{
	struct fwu *f = r->fwu;

	if (!f)
		return -ENOENT;
	if (rid == 2)
		return update(f);
	if (rid == 10) {
		/* Not once the install has begun. */
		if (f->state == ST_UPDATING)
			return -EPERM;
		log_notice("Firmware update: cancelled");
		reset(f, GW_PKG_CANCELLED);
		return 0;
	}
	return -EPERM;
}
