/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packages the LwM2M server sends the gateway (Firmware Update, Object 5;
 * Software Management, Object 9): each becomes a file under state_dir,
 * written as it arrives and never held whole in memory.
 *   pushed: the blocks of a block-wise Write of an opaque resource
 *           (lwm2m_endpoint_ops.write_stream), given to gw_pkg_push_*;
 *   pulled: from a Package URI (coap, coaps, http, https, as update.schemes
 *           allows), off the event loop, bounded by update.max_size and
 *           resumed where the protocol allows.
 * The objects map a gw_pkg_result to their own result resources.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* How a transfer ended. The numbers are Object 5's Update Result values
 * (/5/0/5); Object 9 maps them to its own (50 + ...). */
enum gw_pkg_result {
	GW_PKG_OK = 0,
	GW_PKG_NO_SPACE = 2,  /* over update.max_size, or the file system is full */
	GW_PKG_NO_MEMORY = 3, /* out of RAM */
	GW_PKG_CONN_LOST = 4, /* unreachable, refused, broken off, no progress within update.timeout */
	GW_PKG_INTEGRITY = 5, /* fewer or more bytes than announced, blocks out of order */
	GW_PKG_INVALID_URI = 7,
	GW_PKG_UNSUPPORTED_PROTOCOL = 9, /* a scheme update.schemes does not allow */
	GW_PKG_CANCELLED = 10,
};

/* Schemes, as update.schemes lists them. */
enum {
	GW_PKG_COAP = 1u << 0,
	GW_PKG_COAPS = 1u << 1,
	GW_PKG_HTTP = 1u << 2,
	GW_PKG_HTTPS = 1u << 3,
};

struct gw_pkg_limits {
	uint64_t max_size;   /* bytes; a bigger package is GW_PKG_NO_SPACE */
	unsigned schemes;    /* GW_PKG_* the configuration allows */
	uint32_t timeout_s;  /* pull: no progress this long ends it (GW_PKG_CONN_LOST) */
	const char *ca_file; /* https, coaps with certificates: trust anchors; NULL: the system's */
	/* coaps: a pre-shared key (update.psk_identity, update.psk_key).
	 * When both are set a coaps pull uses them, else the server's
	 * certificate (verified against ca_file, its name against the URI's
	 * host). Given to the fetch child on a pipe, never on its argv. */
	const char *psk_identity;
	const uint8_t *psk_key;
	size_t psk_key_len;
	/* pull: the fieldgate binary that runs `fieldgate fetch`; NULL: this
	 * program (/proc/self/exe). Tests that are not fieldgate set it. */
	const char *fetch_program;
};

/* The GW_PKG_* bit of a scheme name ("coap"...), 0 for another. */
unsigned gw_pkg_scheme_bit(const char *name);

/* A Package URI checked before anything starts: GW_PKG_OK,
 * GW_PKG_INVALID_URI or GW_PKG_UNSUPPORTED_PROTOCOL (a scheme schemes
 * does not allow, or that this build cannot fetch: coaps with a libcoap
 * without DTLS). */
enum gw_pkg_result gw_pkg_uri_check(const char *uri, unsigned schemes);

/* /5/0/8 Firmware Update Protocol Support values of schemes (0 CoAP,
 * 1 CoAPS, 2 HTTP 1.1, 3 HTTPS 1.1) into out, at most max; the count.
 * Only what a pull can fetch (see gw_pkg_uri_check). */
size_t gw_pkg_protocols(unsigned schemes, int64_t *out, size_t max);

/* ---- pull ---- */

struct gw_pkg_pull;
/* got: bytes in dest so far; total: the announced size, 0 when unknown. */
typedef void (*gw_pkg_progress_fn)(void *ud, uint64_t got, uint64_t total);
/* The end of a pull: GW_PKG_OK with dest complete (size bytes), or the
 * reason, dest removed. Called once, from the event loop, never from
 * inside gw_pkg_pull_start(). The pull is freed when this is called:
 * forget its handle (do not cancel it).
 * A body shorter than its Content-Length / Size2 (the connection closed
 * early) is GW_PKG_INTEGRITY; no answer, a refused or reset connection or
 * an HTTP 5xx is GW_PKG_CONN_LOST, and so is a coaps server that cannot
 * be authenticated (certificate not trusted or not for the URI's host,
 * PSK refused: a log line says which; dest is not kept for a resume); HTTP 4xx, CoAP 4.xx GW_PKG_INVALID_URI;
 * a redirect to a scheme not allowed GW_PKG_UNSUPPORTED_PROTOCOL. */
typedef void (*gw_pkg_done_fn)(void *ud, enum gw_pkg_result res, uint64_t size);

/* Start fetching uri into dest (created 0600; an existing partial dest
 * of the same uri is resumed where the protocol allows: HTTP Range, CoAP
 * Block2 from the next whole block; dest.uri beside it names the uri
 * while the pull runs). Runs `fieldgate fetch` (gw_pkg_fetch_main) as a
 * child process. progress may be NULL. Returns 0, or a negative errno (-EINVAL for a URI
 * gw_pkg_uri_check() refuses: check it first to get the result). */
int gw_pkg_pull_start(sd_event *ev, const char *uri, const char *dest, const struct gw_pkg_limits *lim,
		      gw_pkg_progress_fn progress, gw_pkg_done_fn done, void *ud, struct gw_pkg_pull **out);
/* Stop a pull: done is not called, dest is removed. Accepts NULL;
 * returns NULL. */
struct gw_pkg_pull *gw_pkg_pull_cancel(struct gw_pkg_pull *p);

/* `fieldgate fetch URI --out FILE [--max-size N] [--timeout S] [--schemes
 * LIST] [--ca-file F] [--psk-fd FD] [--progress]` (argv[0] is "fetch"):
 * one pull in this process; returns the gw_pkg_result as exit code, 64 for
 * a usage error. --psk-fd: read the coaps PSK from FD (pull.c passes a
 * pipe as fd 3): one byte the identity's length, the identity, one byte
 * the key's length, the key. */
int gw_pkg_fetch_main(int argc, char **argv);

/* ---- push ---- */

struct gw_pkg_push;
/* A new dest (created 0600, truncated) for a pushed package. */
int gw_pkg_push_start(const char *dest, const struct gw_pkg_limits *lim, struct gw_pkg_push **out);
/* The block at offset (blocks come in order; a repeated block is
 * ignored). GW_PKG_OK, or the result that ends the push (dest removed,
 * p freed). */
enum gw_pkg_result gw_pkg_push_block(struct gw_pkg_push **p, uint64_t offset, const void *data, size_t len);
/* After the last block: dest flushed to disk; GW_PKG_OK and *size, or
 * the reason (dest removed). Frees p either way. */
enum gw_pkg_result gw_pkg_push_finish(struct gw_pkg_push *p, uint64_t *size);
/* The push was given up: dest removed. Accepts NULL; returns NULL. */
struct gw_pkg_push *gw_pkg_push_abort(struct gw_pkg_push *p);
