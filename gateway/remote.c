/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The devices the LwM2M server created (Object 26242): each is one file
 * of gateway.state_dir/devices in the syntax of the configuration's
 * `devices:` (so `fieldgate check` reads it like a devices_dir file),
 * written atomically: a temporary file, fsync, rename, fsync of the
 * folder, so that after a power cut the device is there whole or not at
 * all.
 */
#include "gateway/gateway.h"
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REMOTE_FILE_MAX (64 * 1024)
#define INSTANCE_LINE   "# Object 26242 instance: "

/* A YAML double-quoted scalar: JSON's escapes are YAML's. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A flow collection (a JSON object or list, which is YAML) on one line:
 * nothing after it can add keys to the file. */
static bool one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			return false;
	return true;
}

int gw_remote_yaml(const struct gw_remote_device *d, char **out, char *why, size_t size)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	if (d->address && (d->address[0] == '{' || d->address[0] == '[') && !one_line(d->address)) {
		snprintf(why, size, "Address: a JSON object or list must be on one line");
		return -EINVAL;
	}
	if (d->vars && *d->vars && (d->vars[0] != '{' || !one_line(d->vars))) {
		snprintf(why, size, "Variables: expected a JSON object on one line, got '%.60s'", d->vars);
		return -EINVAL;
	}
	f = open_memstream(&s, &len);
	if (!f)
		return -ENOMEM;
	fputs("# Created by the LwM2M server (Object 26242 of the gateway); fieldgate\n"
	      "# rewrites or removes this file when the server changes the device.\n",
	      f);
	/* The instance id the server knows it by, again after a restart. */
	if (d->instance >= 0)
		fprintf(f, INSTANCE_LINE "%d\n", d->instance);
	fputs("devices:\n  - name: ", f);
	put_quoted(f, d->name);
	if (d->bridge && *d->bridge) {
		fputs("\n    bridge: ", f);
		put_quoted(f, d->bridge);
	}
	if (d->address && *d->address) {
		fputs("\n    address: ", f);
		/* A unit id stays a number, a structured address a mapping. */
		if (all_digits(d->address) || d->address[0] == '{' || d->address[0] == '[')
			fputs(d->address, f);
		else
			put_quoted(f, d->address);
	}
	fputs("\n    profile: ", f);
	put_quoted(f, d->profile ? d->profile : "");
	if (d->poll_s > 0)
		fprintf(f, "\n    poll: %llds", (long long)d->poll_s);
	if (d->vars && *d->vars && strcmp(d->vars, "{}") != 0)
		fprintf(f, "\n    vars: %s", d->vars);
	if (!d->enabled)
		fputs("\n    enabled: false", f);
	fputc('\n', f);
	if (fclose(f) != 0) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

int gw_remote_persist(const char *dir, const char *file, const char *text)
{
	char path[4096], tmp[4096];
	int fd, r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, file) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if (!text) {
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		return fg_sync_dir(dir);
	}
	/* The state directory is the daemon's (0700); the folder too. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = fg_write_all(fd, text, strlen(text));
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	return fg_sync_dir(dir);
}

int gw_remote_read(const char *dir, const char *file, char **out)
{
	char path[4096], *s;
	size_t n = 0;
	FILE *f;

	*out = NULL;
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	s = malloc(REMOTE_FILE_MAX + 1);
	if (!s) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(s, 1, REMOTE_FILE_MAX, f);
	if (ferror(f)) {
		fclose(f);
		free(s);
		return -EIO;
	}
	fclose(f);
	s[n] = '\0';
	*out = s;
	return 0;
}

int gw_remote_instance(const char *file)
{
	char head[512], *at, *end;
	FILE *f = fopen(file, "re");
	size_t n;
	long v;

	if (!f)
		return -ENOENT;
	n = fread(head, 1, sizeof(head) - 1, f);
	fclose(f);
	head[n] = '\0';
	at = strstr(head, INSTANCE_LINE);
	if (!at)
		return -ENOENT;
	v = strtol(at + strlen(INSTANCE_LINE), &end, 10);
	if (end == at + strlen(INSTANCE_LINE) || *end != '\n' || v < 0 || v > 65534)
		return -ENOENT;
	return (int)v;
}
