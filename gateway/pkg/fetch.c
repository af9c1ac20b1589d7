/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `fieldgate fetch URI --out FILE ...`: one package pull, in its own
 * process (see pull.c for why). The exit code is the gw_pkg_result. The
 * file is written as the bytes arrive, never held in memory. A partial
 * file is resumed when FILE.uri (written beside it at the start) names
 * the same URI (over HTTP only when it also holds the entity's ETag or
 * Last-Modified, sent as If-Range); it is kept after a lost connection (4) for that, removed
 * after any other failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway/pkg/pkg_internal.h"

enum { EXIT_USAGE = 64 };

void pkg_fetch_progress(struct pkg_fetch *f, uint64_t got, uint64_t total, int last)
{
	if (!f->progress || (!last && got - f->reported < 256 * 1024))
		return;
	f->reported = got;
	fprintf(f->progress, "%" PRIu64 " %" PRIu64 "\n", got, total);
	fflush(f->progress);
}

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr,
		"fieldgate fetch: %s%s%s\n"
		"Usage: fieldgate fetch URI --out FILE [--max-size BYTES] [--timeout SECONDS]\n"
		"                       [--schemes coap,coaps,http,https] [--ca-file FILE] [--psk-fd FD]\n"
		"                       [--progress]\n",
		msg, arg ? ": " : "", arg ? arg : "");
	return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s[0] || s[0] == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

/* The sidecar: the URI the partial file belongs to, then (HTTP) the
 * validator of the entity it holds. true when it names uri; validator
 * filled ("" without one). */
/* The coaps PSK from fd (closed): [len] identity [len] key. Not a
 * command-line argument: argv is world-readable in /proc. */
static int read_psk(struct pkg_fetch *f, int fd)
{
	uint8_t buf[2 + 255 + 255];
	size_t n = 0;
	ssize_t k;

	while (n < sizeof(buf) && (k = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	size_t ilen = n > 0 ? buf[0] : 0;
	size_t klen = n > 1 + ilen ? buf[1 + ilen] : 0;
	if (ilen == 0 || klen == 0 || n != 2 + ilen + klen || memchr(buf + 1, 0, ilen)) {
		explicit_bzero(buf, sizeof(buf));
		return -EINVAL;
	}
	memcpy(f->psk_identity, buf + 1, ilen);
	f->psk_identity[ilen] = 0;
	memcpy(f->psk_key, buf + 2 + ilen, klen);
	explicit_bzero(buf, sizeof(buf));
	f->lim.psk_identity = f->psk_identity;
	f->lim.psk_key = f->psk_key;
	f->lim.psk_key_len = klen;
	return 0;
}

static bool read_sidecar(struct pkg_fetch *f)
{
	char buf[PKG_URI_MAX + 2 + sizeof(f->validator)];
	FILE *fp = fopen(f->side, "re");
	size_t n, ulen = strlen(f->uri);

	f->validator[0] = 0;
	if (!fp)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	if (strncmp(buf, f->uri, ulen) != 0 || (buf[ulen] != 0 && buf[ulen] != '\n'))
		return false;
	if (buf[ulen] == '\n' && strlen(buf + ulen + 1) < sizeof(f->validator))
		strcpy(f->validator, buf + ulen + 1);
	return true;
}

static int write_sidecar(const struct pkg_fetch *f, const char *validator)
{
	int fd = open(f->side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (dprintf(fd, "%s%s%s", f->uri, validator[0] ? "\n" : "", validator) < 0)
		r = -EIO;
	close(fd);
	return r;
}

int pkg_fetch_set_validator(struct pkg_fetch *f, const char *validator)
{
	if (strlen(validator) >= sizeof(f->validator) || strchr(validator, '\n'))
		return -EINVAL;
	strcpy(f->validator, validator);
	return write_sidecar(f, validator);
}

static enum gw_pkg_result run(struct pkg_fetch *f)
{
	struct pkg_uri u;
	enum gw_pkg_result r = pkg_uri_parse(f->uri, &u);
	uint64_t from = 0;
	struct stat st;
	int fd;

	if (r == GW_PKG_OK && !(u.scheme & f->lim.schemes))
		r = GW_PKG_UNSUPPORTED_PROTOCOL;
	if (r != GW_PKG_OK)
		return r;
	if ((size_t)snprintf(f->side, sizeof(f->side), "%s.uri", f->out) >= sizeof(f->side))
		return GW_PKG_INVALID_URI;
	fd = open(f->out, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error_errno(-errno, "Cannot open %s: %m", f->out);
		return errno == ENOSPC || errno == EDQUOT ? GW_PKG_NO_SPACE : GW_PKG_INTEGRITY;
	}
	if (fstat(fd, &st) == 0 && st.st_size > 0 && read_sidecar(f))
		from = (uint64_t)st.st_size;
	if (from == 0)
		f->validator[0] = 0;
	if (from == 0 && (ftruncate(fd, 0) < 0 || write_sidecar(f, "") < 0)) {
		log_error_errno(-errno, "Cannot prepare %s: %m", f->out);
		r = GW_PKG_NO_SPACE;
	} else if (u.scheme & (GW_PKG_HTTP | GW_PKG_HTTPS)) {
		r = pkg_fetch_http(f, &u, fd, from);
	} else {
		r = pkg_fetch_coap(f, &u, fd, from);
	}
	if (fsync(fd) < 0 && r == GW_PKG_OK)
		r = errno == ENOSPC || errno == EDQUOT ? GW_PKG_NO_SPACE : GW_PKG_INTEGRITY;
	close(fd);
	if (r != GW_PKG_CONN_LOST || f->discard) {
		unlink(f->side);
		if (r != GW_PKG_OK)
			unlink(f->out);
	}
	return r;
}

int gw_pkg_fetch_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "out", required_argument, NULL, 'o' },     { "max-size", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' }, { "schemes", required_argument, NULL, 's' },
		{ "ca-file", required_argument, NULL, 'a' }, { "psk-fd", required_argument, NULL, 'k' },
		{ "progress", no_argument, NULL, 'p' },      { NULL, 0, NULL, 0 },
	};
	struct pkg_fetch f = {
		.lim = { .max_size = 64u << 20, .schemes = GW_PKG_COAPS | GW_PKG_HTTPS, .timeout_s = 60 },
	};
	uint64_t v;
	int c;

	optind = 0; /* getopt again from the start (GNU: reinitialise) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-", options, NULL)) >= 0) {
		switch (c) {
		case 'o':
			f.out = optarg;
			break;
		case 'm':
			if (parse_u64(optarg, &f.lim.max_size) < 0)
				return usage("invalid --max-size (expected bytes)", optarg);
			break;
		case 't':
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > 86400)
				return usage("invalid --timeout (expected 1 to 86400 seconds)", optarg);
			f.lim.timeout_s = (uint32_t)v;
			break;
		case 's':
			f.lim.schemes = pkg_schemes_parse(optarg);
			if (!f.lim.schemes)
				return usage(
					"invalid --schemes (expected a list of coap, coaps, http, https)",
					optarg);
			break;
		case 'a':
			f.lim.ca_file = optarg;
			break;
		case 'k':
			if (parse_u64(optarg, &v) < 0 || v < 3 || v > INT32_MAX || read_psk(&f, (int)v) < 0)
				return usage("invalid --psk-fd (expected an open descriptor holding the "
					     "PSK)",
					     optarg);
			break;
		case 'p':
			f.progress = stdout;
			break;
		case 1: /* "-": a non-option, in its place */
			if (f.uri)
				return usage("expected one URI", optarg);
			f.uri = optarg;
			break;
		default:
			return usage("unknown option or missing argument", argv[optind - 1]);
		}
	}
	if (!f.uri || optind != argc)
		return usage("expected one URI", NULL);
	if (!f.out)
		return usage("--out FILE is required", NULL);
	enum gw_pkg_result r = run(&f);
	explicit_bzero(f.psk_key, sizeof(f.psk_key));
	if (r != GW_PKG_OK)
		log_error("Fetching %s failed: result %d", f.uri, (int)r);
	return (int)r;
}
