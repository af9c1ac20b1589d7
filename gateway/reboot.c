/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the LwM2M server's Reboot (/3/0/4) and Factory Reset (/3/0/5) of the
 * gateway's Device object do once every endpoint is de-registered (the
 * daemon, daemon.c, decides when): forget what the server provisioned, and
 * reboot the host through logind when gateway.reboot says host.
 */
#include "gateway/gateway.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "common/log.h"

static bool has(const char *name, const char *prefix, const char *suffix)
{
	size_t n = strlen(name), p = strlen(prefix), s = strlen(suffix);

	return n > p + s && strncmp(name, prefix, p) == 0 && strcmp(name + n - s, suffix) == 0;
}

/* Remove the files of dir named prefix*suffix; a missing dir has none. */
static int remove_files(const char *dir, const char *prefix, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)))
		if (has(e->d_name, prefix, suffix) && unlinkat(dirfd(d), e->d_name, 0) < 0 && r == 0)
			r = -errno;
	if (r == 0 && fsync(dirfd(d)) < 0)
		r = -errno;
	closedir(d);
	return r;
}

int gw_factory_reset(const char *state_dir, const char *remote_dir)
{
	int r = remote_dir ? remove_files(remote_dir, "", ".yaml") : 0;
	int r2 = remove_files(state_dir, "bs-", ".state");

	return r < 0 ? r : r2;
}

int gw_host_reboot(void)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus *bus = NULL;
	int r;

	r = sd_bus_open_system(&bus);
	if (r < 0)
		return log_error_errno(r, "Cannot connect to the system bus: %m");
	/* false: not interactive; polkit decides (see conf/fieldgate.yaml). */
	r = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
			       "org.freedesktop.login1.Manager", "Reboot", &err, NULL, "b", 0);
	if (r < 0)
		log_error("logind refused to reboot: %s", err.message ? err.message : strerror(-r));
	sd_bus_error_free(&err);
	sd_bus_flush_close_unref(bus);
	return r;
}

int gw_reboot_finish(const struct gw_config *c, bool factory_reset)
{
	int r;

	if (factory_reset) {
		r = gw_factory_reset(c->gateway.state_dir, c->remote_dir);
		if (r < 0)
			log_error_errno(r, "Factory Reset: cannot remove everything in %s: %m",
					c->gateway.state_dir);
		else
			log_notice("Factory Reset: the devices the LwM2M server created and the bootstrap "
				   "results are removed");
	}
	if (c->gateway.reboot == GW_REBOOT_HOST) {
		r = gw_host_reboot();
		if (r >= 0) {
			log_notice("Rebooting the host (logind)");
			return 0;
		}
		log_notice("Starting the daemon again instead");
	}
	return GW_DAEMON_REEXEC;
}
