/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `fieldgate run`: the sd-event main loop, signals, reload, sd_notify and
 * the watchdog. The device registry (registry/) owns the LwM2M client and
 * the devices; the status socket (status.c) answers `fieldgate status`.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "common/log.h"
#include "bridges/bridge.h"
#include "common/lowfd.h"
#include "gateway/registry/registry.h"
#include "lwm2m/lwm2m.h"
#include "mappings/mapping.h"

struct daemon {
	sd_event *event;
	const struct gw_options *opt;
	struct gw_config *config; /* until the registry takes it */
	struct lwm2m_registry *registry;
	struct gw_registry *devices;
	struct gw_status_server *status_server;
	struct gw_metrics_file *metrics;
	size_t objects_loaded;
	bool stopping;
	int reboot; /* the server asked: 1 + enum gw_restart, 0: nothing */
	sd_event_source *reboot_ev;
	char status[256];
};

/* Configuration problems go to the log, one entry each, with the journal's
 * CONFIG_FILE= and CONFIG_LINE= fields (as systemd uses them) so they can be
 * found by file. */
static void diag_to_log(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
			const char *msg)
{
	char text[2048], f_file[1024], f_line[32];
	const char *fields[3] = { NULL };
	size_t n = 0;

	(void)ctx;
	diag_format(text, sizeof(text), sev, file, line, col, msg);
	if (file) {
		snprintf(f_file, sizeof(f_file), "CONFIG_FILE=%s", file);
		fields[n++] = f_file;
	}
	if (line) {
		snprintf(f_line, sizeof(f_line), "CONFIG_LINE=%u", line);
		fields[n++] = f_line;
	}
	log_full_fields_errno(sev == DIAG_WARNING ? LOG_WARNING : LOG_ERR, 0, fields, "%s", text);
}

/* Load the configuration, the object definitions it names and the device
 * profiles. On a reload, running is the registry in use: the new object
 * definitions are only validated (and must not change: their definitions
 * are shared by every running store), profiles are checked against the
 * running ones. */
static int load_all(const char *path, const struct gw_remote_change *ch, struct diag *diag,
		    const struct lwm2m_registry *running, struct gw_config **config,
		    struct lwm2m_registry **registry, size_t *loaded)
{
	struct gw_config *c;
	int r;

	*config = NULL;
	*registry = NULL;
	r = gw_config_load_file_change(path, ch, diag, &c);
	if (r < 0)
		return r;
	r = gw_config_load_objects(c, diag, registry, loaded);
	if (r >= 0)
		r = gw_config_load_profiles(c, running ? running : *registry, diag);
	if (r < 0) {
		lwm2m_registry_free(*registry);
		*registry = NULL;
		gw_config_free(c);
		return diag->errors > 0 ? -EINVAL : r;
	}
	*config = c;
	return 0;
}

static void apply_log_settings(const struct gw_options *opt, const struct gw_config *c)
{
	log_set_max_level(opt->log_level >= 0 ? opt->log_level : c->log.level);
	log_set_target(opt->log_target >= 0 ? opt->log_target : c->log.target);
}

static const struct gw_config *config_of(const struct daemon *d)
{
	return d->devices ? gw_registry_config(d->devices) : d->config;
}

/* "42 devices, 41 registered", as systemctl status shows it. */
static void update_status(struct daemon *d)
{
	struct gw_registry_counts cnt = { 0 };

	if (d->devices)
		gw_registry_counts(d->devices, &cnt);
	else
		cnt.devices = gw_config_device_count(d->config);
	snprintf(d->status, sizeof(d->status), "%zu device%s, %zu registered; gateway endpoint %s",
		 cnt.devices, cnt.devices == 1 ? "" : "s", cnt.registered,
		 cnt.gateway_registered ? "registered" : "not registered");
}

static void on_registry_change(void *ud)
{
	struct daemon *d = ud;

	if (d->stopping)
		return;
	update_status(d);
	sd_notifyf(0, "STATUS=%s", d->status);
}

static void log_loaded(const struct daemon *d)
{
	const struct gw_config *c = config_of(d);
	char lifetime[64];

	schema_format_duration(c->lwm2m.lifetime_usec, lifetime, sizeof(lifetime));
	log_info("Gateway '%s': LwM2M mode %s, lifetime %s, state directory %s", c->gateway.name,
		 gw_mode_to_string(c->lwm2m.mode), lifetime, c->gateway.state_dir);
	if (c->lwm2m.mode == GW_MODE_ENDPOINT)
		log_info("Endpoint names: %s", c->lwm2m.endpoint_template);
	for (size_t i = 0; i < c->lwm2m.servers.n; i++) {
		const struct gw_server *sv = gw_config_server(c, i);
		log_info("LwM2M %sserver %s (security %s)", sv->bootstrap ? "bootstrap " : "", sv->uri.text,
			 gw_security_to_string(sv->security));
	}
	if (c->objects_dir)
		log_info("%zu object definitions known (%zu loaded from %s)",
			 lwm2m_registry_count(d->registry), d->objects_loaded, c->objects_dir);
	else
		log_info("%zu object definitions known", lwm2m_registry_count(d->registry));
	log_info("%zu bridge%s and %zu device%s configured", gw_config_bridge_count(c),
		 gw_config_bridge_count(c) == 1 ? "" : "s", gw_config_device_count(c),
		 gw_config_device_count(c) == 1 ? "" : "s");
}

static uint64_t now_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The status socket's commands (status.c parses, we answer). */
static int status_text(void *ud, const char *cmd, FILE *out)
{
	struct daemon *d = ud;

	if (strcmp(cmd, "status") == 0) {
		gw_registry_status(d->devices, out);
		return 0;
	}
	if (strcmp(cmd, "status json") == 0)
		return gw_status_json(d->devices, out);
	if (strcmp(cmd, "names") == 0)
		return gw_status_names(d->devices, out);
	if (strcmp(cmd, "metrics") == 0)
		return gw_metrics_text(d->devices, true, out);
	return gw_status_command(d->devices, cmd, out);
}

static void reload(struct daemon *d)
{
	struct diag diag = { .fn = diag_to_log };
	struct gw_config *c;
	struct lwm2m_registry *reg;
	size_t loaded = 0;
	int r;

	/* MONOTONIC_USEC lets systemd (Type=notify-reload) match this
	 * RELOADING=1 to the reload it asked for. */
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading configuration",
		   (unsigned long long)now_monotonic_usec());
	log_info("Reloading configuration from %s", d->opt->config_path);

	r = load_all(d->opt->config_path, NULL, &diag, d->registry, &c, &reg, &loaded);
	if (r >= 0 && ((c->objects_dir == NULL) != (config_of(d)->objects_dir == NULL) ||
		       (c->objects_dir && strcmp(c->objects_dir, config_of(d)->objects_dir) != 0)))
		log_warning(
			"gateway.objects_dir changed: new object definitions take effect at the next start");
	if (r >= 0 && strcmp(c->gateway.state_dir, config_of(d)->gateway.state_dir) != 0)
		log_warning("gateway.state_dir changed: the LwM2M client keeps using %s until the next start",
			    config_of(d)->gateway.state_dir);
	lwm2m_registry_free(reg);
	if (r < 0) {
		if (diag.errors > 0)
			log_error("Configuration %s has %u error%s, keeping the running configuration",
				  d->opt->config_path, diag.errors, diag.errors == 1 ? "" : "s");
		else
			log_error_errno(r, "Failed to reload %s, keeping the running configuration: %m",
					d->opt->config_path);
	} else {
		apply_log_settings(d->opt, c);
		log_info("Configuration %s is valid, applying the differences", d->opt->config_path);
		/* Only the difference: untouched devices keep their sessions. */
		gw_registry_apply(d->devices, c);
		gw_metrics_file_apply(d->metrics, gw_registry_config(d->devices));
		log_loaded(d);
		update_status(d);
	}
	sd_notifyf(0, "READY=1\nSTATUS=%s", d->status);
}

/* Logs each problem and keeps the first error for the server. */
struct first_error {
	char *buf;
	size_t size;
};

static void diag_first(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		       const char *msg)
{
	struct first_error *fe = ctx;

	diag_to_log(NULL, sev, file, line, col, msg);
	if (sev == DIAG_ERROR && !fe->buf[0])
		diag_format(fe->buf, fe->size, sev, file, line, col, msg);
}

/* Whether the device of a remote file runs as it should (a disabled one
 * does not). */
static bool started(const struct daemon *d, const char *file)
{
	const struct gw_config *c = gw_registry_config(d->devices);
	size_t n = strlen(file) - strlen(".yaml");

	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *dv = gw_config_device(c, i);
		if (strlen(dv->name) == n && strncmp(dv->name, file, n) == 0)
			return !dv->enabled || gw_registry_running(d->devices, dv->name);
	}
	return false;
}

/* The start of every change the LwM2M server asks for (a device on Object
 * 26242, a bundle on Object 9): the whole configuration loaded with the
 * change made, as a reload (and `fieldgate check`) would load it. why gets
 * the first error. running: the object definitions to check profiles
 * against (NULL: the ones loaded here). */
static int change_load(struct daemon *d, const struct gw_remote_change *ch,
		       const struct lwm2m_registry *running, struct diag *diag, struct gw_config **c,
		       struct lwm2m_registry **reg, char *why, size_t size)
{
	size_t loaded = 0;
	int r;

	why[0] = '\0';
	*c = NULL;
	*reg = NULL;
	/* Endpoints are de-registering (SIGTERM, a Reboot): nothing to apply to. */
	if (d->stopping) {
		snprintf(why, size, "the gateway is stopping");
		return -EHOSTUNREACH;
	}
	r = load_all(d->opt->config_path, ch, diag, running, c, reg, &loaded);
	if (r < 0) {
		if (!why[0])
			snprintf(why, size, "cannot load %s: %s", d->opt->config_path, strerror(-r));
		return r == -ENOMEM ? r : -EINVAL;
	}
	return 0;
}

/* An edit of the file not reloaded yet would re-register every endpoint,
 * the one asking included, from inside its own request. */
static int change_keeps_endpoints(const struct daemon *d, const struct gw_config *c, char *why, size_t size)
{
	if (gw_registry_keeps_endpoints(d->devices, c))
		return 0;
	snprintf(why, size,
		 "%s changes the LwM2M settings (servers, mode, lifetime or gateway name) and is not "
		 "applied yet: reload it first",
		 d->opt->config_path);
	return -EBUSY;
}

/* A device the LwM2M server created, changed or removed (Object 26242):
 * the whole configuration is loaded with the change made, as a reload
 * (and `fieldgate check`) would load it; only when it is valid is the file
 * written, and then applied by difference. Persisted and running, or
 * neither. */
static int remote_change(void *ud, const char *file, const char *text, char *why, size_t size)
{
	struct daemon *d = ud;
	struct first_error fe = { why, size };
	struct diag diag = { .fn = diag_first, .ctx = &fe };
	const struct gw_remote_change ch = { file, text };
	struct gw_config *c;
	struct lwm2m_registry *reg;
	char *old = NULL, *dir;
	int r;

	r = change_load(d, &ch, d->registry, &diag, &c, &reg, why, size);
	lwm2m_registry_free(reg);
	if (r < 0)
		return r;
	if (!c->remote_dir) {
		gw_config_free(c);
		snprintf(why, size, "no state directory for remote devices");
		return -EPERM;
	}
	r = change_keeps_endpoints(d, c, why, size);
	if (r < 0) {
		gw_config_free(c);
		return r;
	}
	r = gw_remote_read(c->remote_dir, file, &old);
	if (r == -ENOENT)
		r = 0;
	if (r >= 0)
		r = gw_remote_persist(c->remote_dir, file, text);
	if (r < 0) {
		snprintf(why, size, "cannot store %s/%s: %s", c->remote_dir, file, strerror(-r));
		log_error("%s", why);
		gw_config_free(c);
		free(old);
		return -EIO;
	}
	dir = strdup(c->remote_dir);
	gw_registry_apply(d->devices, c);
	r = 0;
	if (text && dir && !started(d, file)) {
		/* Valid, but it did not start (logged): the file goes back to
		 * what it was and so does what runs, so that the two agree. */
		snprintf(why, size, "the device did not start (see the gateway's log): nothing changed");
		r = gw_remote_persist(dir, file, old);
		if (r < 0)
			log_error_errno(r, "Cannot restore %s/%s: %m", dir, file);
		else
			reload(d);
		r = -EIO;
	} else if (!dir)
		r = log_oom();
	gw_metrics_file_apply(d->metrics, gw_registry_config(d->devices));
	update_status(d);
	free(old);
	free(dir);
	return r;
}

/* A change of the profile bundles (Object 9): the configuration is loaded
 * with it made, as `fieldgate check` would load it, and every profile of
 * the bundle too (a device may be created with it later); only when that
 * is valid are the files moved (commit) and the result applied by
 * difference. The check uses object definitions of its own (the bundle's
 * are not in the running registry yet); the applied configuration the
 * running ones, with the bundle's new objects added. */
static int bundle_change(void *ud, const struct gw_remote_change *ch, int (*commit)(void *cud), void *cud,
			 char *why, size_t size)
{
	struct daemon *d = ud;
	struct first_error fe = { why, size };
	struct diag diag = { .fn = diag_first, .ctx = &fe };
	struct gw_config *c;
	struct lwm2m_registry *reg;
	char installed[4096];
	size_t loaded = 0;
	int r;

	r = change_load(d, ch, NULL, &diag, &c, &reg, why, size);
	if (r < 0)
		return r;
	if (ch->bundle_dir)
		r = gw_config_check_bundle(c, ch->bundle_dir, &diag);
	if (r < 0 && !why[0])
		snprintf(why, size, "cannot load %s: %s", d->opt->config_path, strerror(-r));
	if (r < 0 && r != -ENOMEM)
		r = -EINVAL;
	if (r >= 0)
		r = change_keeps_endpoints(d, c, why, size);
	snprintf(installed, sizeof(installed), "%s/bundles/%s", c->gateway.state_dir, ch->bundle);
	gw_config_free(c);
	lwm2m_registry_free(reg);
	if (r < 0)
		return r;
	r = commit(cud);
	if (r < 0) {
		snprintf(why, size, "cannot change %s: %s", installed, strerror(-r));
		log_error("%s", why);
		return -EIO;
	}
	if (ch->bundle_dir && gw_config_bundle_objects_add(d->registry, installed) > 0)
		log_info("Object definitions of bundle %s added", ch->bundle);
	/* As checked, now with the files in place and the running objects. */
	diag = (struct diag){ .fn = diag_to_log };
	r = load_all(d->opt->config_path, NULL, &diag, d->registry, &c, &reg, &loaded);
	lwm2m_registry_free(reg);
	if (r < 0) {
		snprintf(why, size, "the configuration with the bundle did not load again (see the log)");
		return -EIO;
	}
	gw_registry_apply(d->devices, c);
	gw_metrics_file_apply(d->metrics, gw_registry_config(d->devices));
	update_status(d);
	return 0;
}

static void on_shutdown_done(void *ud)
{
	struct daemon *d = ud;

	log_info("Every endpoint de-registered");
	sd_event_exit(d->event, 0);
}

/* Whether the restart asked for re-executes the daemon (not the host's
 * reboot, not a plain stop). */
static bool reexecs(const struct daemon *d)
{
	return d->reboot &&
	       (d->reboot - 1 == GW_RESTART_UPDATE || config_of(d)->gateway.reboot == GW_REBOOT_DAEMON);
}

/* De-register every endpoint, then leave the loop. */
static int stop(struct daemon *d)
{
	d->stopping = true;
	/* A Reboot that starts the daemon again is, for systemd, a reload:
	 * STOPPING=1 would have it stop the service, while the same process
	 * (re-executed) says READY=1 again. */
	if (reexecs(d))
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reboot: de-registering",
			   (unsigned long long)now_monotonic_usec());
	else
		sd_notify(0, "STOPPING=1\nSTATUS=De-registering");
	d->status_server = gw_status_server_free(d->status_server);
	d->metrics = gw_metrics_file_free(d->metrics);
	if (d->devices && gw_registry_shutdown(d->devices, 5000, on_shutdown_done, d) >= 0)
		return 0;
	return sd_event_exit(d->event, 0);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	(void)s;
	switch (si->ssi_signo) {
	case SIGHUP:
		/* Nothing to apply to endpoints that are de-registering. */
		if (!d->stopping)
			reload(d);
		break;
	case SIGTERM:
	case SIGINT:
		if (d->stopping)
			break;
		log_info("Received %s, de-registering and stopping",
			 si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		return stop(d);
	default:
		break;
	}
	return 0;
}

/* The server's Reboot or Factory Reset, after its 2.04 went out: the
 * same de-registration as SIGTERM; gw_daemon_run() then does the rest. */
static int on_reboot(sd_event_source *s, void *ud)
{
	struct daemon *d = ud;

	(void)s;
	d->reboot_ev = sd_event_source_disable_unref(d->reboot_ev);
	if (d->stopping)
		return 0;
	if (d->reboot - 1 == GW_RESTART_UPDATE)
		log_notice("Firmware update installed: de-registering, then starting the new program");
	else
		log_notice("The LwM2M server asked for a %s: de-registering, then %s",
			   d->reboot - 1 == GW_RESTART_FACTORY_RESET ? "Factory Reset" : "Reboot",
			   reexecs(d) ? "starting again" : "rebooting the host");
	return stop(d);
}

static void reboot_requested(void *ud, enum gw_restart what)
{
	struct daemon *d = ud;

	if (d->stopping || d->reboot)
		return;
	d->reboot = 1 + (int)what;
	if (sd_event_add_defer(d->event, &d->reboot_ev, on_reboot, d) < 0) {
		log_oom();
		d->reboot = 0;
	}
}

static int setup_loop(struct daemon *d)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	sigset_t mask;
	int r;

	r = sd_event_default(&d->event);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate the event loop: %m");

	/* Signals arrive through signalfd only when blocked; block them
	 * before any thread exists so every thread inherits the mask. */
	sigemptyset(&mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&mask, sigs[i]);
	/* SIGCHLD too: sd_event_add_child() (the firmware update's install
	 * command) wants it blocked in every thread. */
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_error_errno(errno, "Failed to block signals: %m");
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		r = sd_event_add_signal(d->event, NULL, sigs[i], on_signal, d);
		if (r < 0)
			return log_error_errno(r, "Failed to watch signal %d: %m", sigs[i]);
	}

	/* Sends WATCHDOG=1 at half of $WATCHDOG_USEC when systemd asks for it. */
	r = sd_event_set_watchdog(d->event, true);
	if (r < 0)
		return log_error_errno(r, "Failed to enable the watchdog: %m");
	if (r > 0)
		log_debug("Watchdog enabled");
	return 0;
}

/* Bootstrap results live in gateway.state_dir: without it every start
 * would bootstrap again, silently. Created like systemd's StateDirectory=
 * when missing; unusable, the daemon does not start. */
static int prepare_state_dir(const char *path)
{
	char failed[4096];
	int r;

	r = gw_state_dir_create(path, failed, sizeof(failed));
	if (r < 0) {
		if (strcmp(failed, path) != 0)
			return log_error_errno(
				r, "Cannot create the state directory %s (gateway.state_dir): %s: %m", path,
				failed);
		return log_error_errno(r, "Cannot create the state directory %s (gateway.state_dir): %m",
				       path);
	}
	if (r > 0)
		log_info("Created the state directory %s (mode 0700)", path);
	r = gw_state_dir_writable(path);
	if (r < 0)
		return log_error_errno(r, "Cannot write to the state directory %s (gateway.state_dir): %m",
				       path);
	return 0;
}

#define FD_LIMIT_CAP 65536 /* as the systemd unit's LimitNOFILE */

/* One socket per endpoint: a gateway with thousands of devices needs more
 * descriptors than the usual soft limit of 1024. Nothing here waits with
 * select() on an arbitrary descriptor (libmodbus's are kept low), so the
 * soft limit goes up to the hard one (the systemd unit sets both), capped. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max || rl.rlim_cur >= FD_LIMIT_CAP)
		return;
	rl.rlim_cur = rl.rlim_max < FD_LIMIT_CAP ? rl.rlim_max : FD_LIMIT_CAP;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug_errno(-errno, "Cannot raise the open files limit: %m");
	else
		log_debug("Open files limit raised to %llu", (unsigned long long)rl.rlim_cur);
}

/* Low numbers for libraries that select() (common/lowfd.h), as many as
 * the bridge kind that needs most asks, taken before a thousand endpoint
 * sockets take them. */
static void reserve_low_fds(void)
{
	const struct bridge_kind *k, *most = NULL;

	for (size_t i = 0; bridge_kind_name(i); i++)
		if ((k = bridge_kind_find(bridge_kind_name(i))) && k->low_fds &&
		    (!most || k->low_fds > most->low_fds))
			most = k;
	if (most && lowfd_reserve(most->low_fds) < 0)
		log_warning("Cannot reserve low file descriptor numbers: %s bridges take any free one",
			    most->name);
}

int gw_daemon_run(const struct gw_options *opt)
{
	struct daemon d = { .opt = opt };
	struct diag diag = { .fn = diag_to_log };
	int r, ret = 1;

	/* Until the configuration says otherwise: command line, else auto. */
	log_set_target(opt->log_target >= 0 ? opt->log_target : LOG_TARGET_AUTO);
	if (opt->log_level >= 0)
		log_set_max_level(opt->log_level);

	log_info("fieldgate %s starting, configuration %s", gw_version, opt->config_path);
	raise_fd_limit();
	reserve_low_fds();
	r = load_all(opt->config_path, NULL, &diag, NULL, &d.config, &d.registry, &d.objects_loaded);
	if (r < 0) {
		if (diag.errors > 0)
			log_error("Configuration %s has %u error%s, not starting", opt->config_path,
				  diag.errors, diag.errors == 1 ? "" : "s");
		else
			log_error_errno(r, "Failed to load %s: %m", opt->config_path);
		sd_notifyf(0, "STATUS=Invalid configuration %s\nERRNO=%d", opt->config_path, -r);
		goto out;
	}
	apply_log_settings(opt, d.config);
	log_loaded(&d);
	if (prepare_state_dir(d.config->gateway.state_dir) < 0) {
		sd_notifyf(0, "STATUS=State directory %s unusable", d.config->gateway.state_dir);
		goto out;
	}

	if (setup_loop(&d) < 0)
		goto out;
	r = gw_status_server_new(d.event, d.config->gateway.status_socket, status_text, &d, &d.status_server);
	if (r < 0)
		goto out;
	{
		struct gw_config *c = d.config;
		d.config = NULL;
		r = gw_registry_new(d.event, d.registry, c, &d.devices);
		if (r < 0)
			goto out;
	}
	gw_registry_on_change(d.devices, on_registry_change, &d);
	gw_registry_on_remote(d.devices, remote_change, &d);
	gw_registry_on_bundle(d.devices, bundle_change, &d);
	gw_registry_on_reboot(d.devices, reboot_requested, &d);
	update_status(&d);
	if (gw_metrics_file_new(d.event, d.devices, &d.metrics) < 0)
		log_warning("Cannot set up the metrics file timer: metrics.textfile is not written");
	gw_metrics_file_apply(d.metrics, gw_registry_config(d.devices));

	sd_notifyf(0, "READY=1\nSTATUS=%s", d.status);
	log_notice("fieldgate %s ready: %s", gw_version, d.status);

	r = sd_event_loop(d.event);
	if (r < 0) {
		log_error_errno(r, "Event loop failed: %m");
		goto out;
	}
	log_info("Stopped");
	ret = r == 0 ? 0 : 1;
	if (ret == 0 && d.reboot - 1 == GW_RESTART_UPDATE)
		ret = GW_DAEMON_REEXEC;
	else if (ret == 0 && d.reboot)
		ret = gw_reboot_finish(config_of(&d), d.reboot - 1 == GW_RESTART_FACTORY_RESET);
out:
	gw_metrics_file_free(d.metrics);
	gw_status_server_free(d.status_server);
	gw_registry_free(d.devices);
	sd_event_unref(d.event);
	lwm2m_registry_free(d.registry);
	gw_config_free(d.config);
	return ret;
}
