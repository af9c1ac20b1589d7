/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local control socket: `fieldgate status` (and the diagnostic
 * `fieldgate sample` / `fieldgate presence`) talk to the daemon over a Unix
 * stream socket. One request line per connection, a text answer, then the
 * daemon closes. Everything is non-blocking on the daemon's loop: a client
 * that does not read its answer only holds its own buffer.
 *
 * Access is the file's: the socket is created 0660 in the runtime directory
 * (RuntimeDirectory=fieldgate, 0750), so root and the fieldgate group only.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway/registry/registry.h"

#define REQUEST_MAX 4096

struct conn {
	struct gw_status_server *srv;
	sd_event_source *io;
	int fd;
	char in[REQUEST_MAX];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	struct conn *next;
};

struct gw_status_server {
	sd_event_source *listen;
	int fd;
	char *path;
	gw_status_fn fn;
	void *ud;
	struct conn *conns;
};

const char *gw_status_socket_path(const char *configured, char *buf, size_t size)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");

	if (configured)
		return configured;
	if (rt && *rt) {
		/* systemd lists several directories ':'-separated: ours is the first. */
		snprintf(buf, size, "%.*s/fieldgate.sock", (int)strcspn(rt, ":"), rt);
		return buf;
	}
	return "/run/fieldgate/fieldgate.sock";
}

static void conn_free(struct conn *c)
{
	struct gw_status_server *s = c->srv;

	for (struct conn **p = &s->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	sd_event_source_disable_unref(c->io);
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	free(c);
}

static int conn_io(sd_event_source *es, int fd, uint32_t revents, void *ud)
{
	struct conn *c = ud;
	ssize_t n;

	(void)es;
	if (!c->out) {
		char *nl;
		FILE *f;
		n = read(fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0 && c->in_len == 0) {
			conn_free(c);
			return 0;
		}
		if (n > 0)
			c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		nl = strchr(c->in, '\n');
		if (!nl && n > 0 && c->in_len < sizeof(c->in) - 1)
			return 0; /* more to come */
		if (nl)
			*nl = '\0';
		f = open_memstream(&c->out, &c->out_len);
		if (!f) {
			conn_free(c);
			return 0;
		}
		if (c->srv->fn(c->srv->ud, c->in, f) < 0)
			fflush(f);
		if (fclose(f) != 0 || !c->out) {
			conn_free(c);
			return 0;
		}
		sd_event_source_set_io_events(c->io, EPOLLOUT);
		return 0;
	}
	if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		n = write(fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			conn_free(c);
			return 0;
		}
		c->out_off += (size_t)n;
		if (c->out_off == c->out_len)
			conn_free(c);
	}
	return 0;
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *ud)
{
	struct gw_status_server *s = ud;
	struct conn *c;
	int cfd, r;

	(void)revents;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return 0;
	}
	c->srv = s;
	c->fd = cfd;
	r = sd_event_add_io(sd_event_source_get_event(es), &c->io, cfd, EPOLLIN, conn_io, c);
	if (r < 0) {
		close(cfd);
		free(c);
		return 0;
	}
	c->next = s->conns;
	s->conns = c;
	return 0;
}

int gw_status_server_new(sd_event *ev, const char *configured, gw_status_fn fn, void *ud,
			 struct gw_status_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct gw_status_server *s;
	char buf[sizeof(sa.sun_path) + 64];
	const char *path = gw_status_socket_path(configured, buf, sizeof(buf));
	struct stat st;
	int r;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "Status socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return log_oom();
	s->fn = fn;
	s->ud = ud;
	s->path = strdup(path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!s->path || s->fd < 0) {
		r = s->path ? -errno : -ENOMEM;
		goto fail;
	}
	/* A socket left by a daemon that did not stop cleanly. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		log_warning_errno(
			r, "Cannot create the status socket %s, `fieldgate status` will not work: %m", path);
		free(s->path);
		s->path = NULL;
		goto fail_quiet;
	}
	/* root and the fieldgate group, as the runtime directory is. */
	if (chmod(path, 0660) < 0 || listen(s->fd, 16) < 0) {
		r = log_error_errno(errno, "Cannot set up the status socket %s: %m", path);
		goto fail;
	}
	r = sd_event_add_io(ev, &s->listen, s->fd, EPOLLIN, on_accept, s);
	if (r < 0)
		goto fail;
	log_debug("Status socket %s", path);
	*out = s;
	return 0;
fail:
	log_error_errno(r, "Cannot create the status socket %s: %m", path);
fail_quiet:
	/* Not fatal: the gateway's job does not depend on it. */
	gw_status_server_free(s);
	return 0;
}

struct gw_status_server *gw_status_server_free(struct gw_status_server *s)
{
	if (!s)
		return NULL;
	while (s->conns)
		conn_free(s->conns);
	sd_event_source_disable_unref(s->listen);
	if (s->fd >= 0)
		close(s->fd);
	if (s->path)
		unlink(s->path);
	free(s->path);
	free(s);
	return NULL;
}

/* "21", "-3", "21.5", "true", else a string. */
static void sample_from_text(const char *t, struct mapping_sample *s)
{
	int64_t i;
	char *end;
	double f;

	*s = (struct mapping_sample){ .kind = MAPPING_SAMPLE_VALUE };
	if (schema_parse_int(t, &i) == 0) {
		s->value.type = LWM2M_TYPE_INTEGER;
		s->value.i = i;
		return;
	}
	if (strcmp(t, "true") == 0 || strcmp(t, "false") == 0) {
		s->value.type = LWM2M_TYPE_BOOLEAN;
		s->value.b = t[0] == 't';
		return;
	}
	errno = 0;
	f = strtod(t, &end);
	if (*t && !*end && errno == 0 && isfinite(f)) {
		s->value.type = LWM2M_TYPE_FLOAT;
		s->value.f = f;
		return;
	}
	s->value.type = LWM2M_TYPE_STRING;
	s->value.bytes.ptr = (const uint8_t *)t;
	s->value.bytes.len = strlen(t);
}

int gw_status_command(struct gw_registry *r, const char *cmd, FILE *out)
{
	char dev[256], path[64], value[2048];
	struct lwm2m_path p;
	int e, n;

	/* sample DEVICE PATH VALUE: what a bridge would deliver, for tests and
	 * for trying a profile without the field device. */
	if (sscanf(cmd, "sample %255s %63s %n", dev, path, &n) == 2) {
		struct mapping_sample s;
		snprintf(value, sizeof(value), "%s", cmd + n);
		if (lwm2m_path_parse(path, strlen(path), &p, NULL) < 0 || p.len < 3) {
			fprintf(out, "error: invalid resource path '%s'\n", path);
			return -EINVAL;
		}
		sample_from_text(value, &s);
		e = gw_registry_sample(r, dev, &p, &s, 0);
		if (e == -ENOENT)
			fprintf(out, "error: no device '%s' with a point at %s\n", dev, path);
		else if (e < 0)
			fprintf(out, "error: %s\n", strerror(-e));
		else
			fprintf(out, "ok\n");
		return e;
	}
	/* presence DEVICE ERRNO: 0 reachable, e.g. 110 (ETIMEDOUT) not. */
	if (sscanf(cmd, "presence %255s %d", dev, &n) == 2) {
		e = gw_registry_presence(r, dev, -abs(n));
		fprintf(out, e < 0 ? "error: no device '%s'\n" : "ok\n", dev);
		return e;
	}
	fprintf(out, "error: unknown command '%.64s' (status, sample, presence)\n", cmd);
	return -EINVAL;
}

int gw_status_client(const char *configured, const char *request, FILE *out, FILE *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[sizeof(sa.sun_path) + 64], chunk[4096];
	const char *path = gw_status_socket_path(configured, buf, sizeof(buf));
	size_t len = strlen(request);
	bool failed = false;
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(err, "fieldgate: status socket path %s is too long\n", path);
		return 1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(err, "fieldgate: cannot connect to %s: %s (is the daemon running?)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (write(fd, request, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		fprintf(err, "fieldgate: cannot send to %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (strncmp(chunk, "error: ", 7) == 0)
			failed = true;
		fwrite(chunk, 1, (size_t)n, out);
	}
	close(fd);
	return failed ? 1 : 0;
}
