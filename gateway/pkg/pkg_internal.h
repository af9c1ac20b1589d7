/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to gateway/pkg/: the parsed Package URI and the fetch child's
 * entry points (fetch.c runs in the `fieldgate fetch` process, never in
 * the daemon).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/pkg/pkg.h"

#define PKG_URI_MAX  2048
#define PKG_HOST_MAX 253

/* A Package URI split by pkg_uri_parse(): pointers into the caller's
 * string except host (copied, IPv6 brackets removed). */
struct pkg_uri {
	unsigned scheme; /* one GW_PKG_* */
	char host[PKG_HOST_MAX + 1];
	uint16_t port;    /* the given one, or the scheme's default */
	const char *path; /* "" or "/..." up to the query */
	size_t path_len;
	const char *query; /* after '?', NULL without one */
	size_t query_len;
	int host_is_ip; /* the host is an IPv4 or IPv6 literal */
};

/* Parse uri strictly (scheme://host[:port][/path][?query], no userinfo,
 * no fragment, only RFC 3986 characters, valid %HH). GW_PKG_OK,
 * GW_PKG_INVALID_URI or GW_PKG_UNSUPPORTED_PROTOCOL (a well-formed URI of
 * a scheme other than coap, coaps, http, https). */
enum gw_pkg_result pkg_uri_parse(const char *uri, struct pkg_uri *out);

/* The scheme bits as update.schemes writes them ("coap,https"), into buf. */
void pkg_schemes_format(unsigned schemes, char *buf, size_t size);
/* The inverse, for `fieldgate fetch --schemes`: 0 on error. */
unsigned pkg_schemes_parse(const char *s);

/* What the fetch child needs beyond the limits. */
struct pkg_fetch {
	uint64_t reported; /* got at the last progress line */
	const char *uri;
	const char *out;
	struct gw_pkg_limits lim;
	FILE *progress;  /* "got total\n" lines, or NULL */
	char side[4096]; /* the sidecar: out ".uri" */
	/* HTTP: the partial file's validator (its ETag, else Last-Modified)
	 * from the sidecar's second line, "" when none. */
	char validator[256];
	/* coaps PSK read from --psk-fd (lim.psk_* point here). */
	char psk_identity[256];
	uint8_t psk_key[256];
	/* The failure is one a resume cannot mend (a coaps server that
	 * could not be authenticated): the partial file is removed. */
	bool discard;
};

/* Record the validator of the response being written (HTTP) in the
 * sidecar, so a resume can ask for the same entity (If-Range). */
int pkg_fetch_set_validator(struct pkg_fetch *f, const char *validator);

/* Fetch into f->out; the result, f->out complete or (CONN_LOST,
 * resumable) partial or removed. In fetch_http.c / fetch_coap.c: */
enum gw_pkg_result pkg_fetch_http(struct pkg_fetch *f, const struct pkg_uri *u, int fd, uint64_t from);
enum gw_pkg_result pkg_fetch_coap(struct pkg_fetch *f, const struct pkg_uri *u, int fd, uint64_t from);

/* Shared by both: write len bytes at offset of fd, within the limit.
 * GW_PKG_OK, GW_PKG_NO_SPACE (max_size, ENOSPC, EDQUOT, EFBIG) or
 * GW_PKG_INTEGRITY (another write error, logged). */
enum gw_pkg_result pkg_write_at(int fd, uint64_t offset, const void *data, size_t len, uint64_t max_size);
/* Progress line on f->progress, at most every 256 KiB and at the end. */
void pkg_fetch_progress(struct pkg_fetch *f, uint64_t got, uint64_t total, int last);
