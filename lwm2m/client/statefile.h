/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: what the files the client keeps in its state
 * directory have in common (the bootstrap result, bootstrap.c; the values
 * held while the server is away, sf.c), and the one way they are written
 * without blocking the loop.
 *
 * Pure helpers (no libcoap, no logging): big-endian integers, CRC-32, file
 * names made from endpoint names. Blocking helpers (never on the loop:
 * from a job below, or from tests): atomic replacement of a file and
 * appending to one.
 *
 * The blocking work (open, write, fsync, rename) runs as jobs of
 * common/job.h, never on the loop.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/job.h"
#include "lwm2m/bytes.h"

/* Big-endian integers and CRC-32: lwm2m/bytes.h (the pure side uses them too). */

/* ---- names -------------------------------------------------------------------- */

/* A file name for an endpoint (or any) name: prefix + the name with every
 * byte outside [A-Za-z0-9._-] as %XX + suffix. Names whose encoding is long
 * are cut and given a 64-bit hash ('~' and 16 hex digits), so the result
 * always fits NAME_MAX; files carry the full name to tell such names apart.
 * prefix must be non-empty (it keeps "." and ".." away) and prefix and
 * suffix at most 16 bytes each. out must hold FG_STATE_FILE_NAME_MAX bytes.
 * Returns the length or -EINVAL (empty name). */
#define FG_STATE_FILE_NAME_MAX 200
int fg_state_file_name(const char *prefix, const char *name, const char *suffix,
		       char out[FG_STATE_FILE_NAME_MAX]);

/* ---- blocking I/O (never on the loop) --------------------------------------------- */

/* Make data dir/fname, atomically: a fresh temporary file (mode 0600),
 * write, fsync, rename over fname, fsync the directory. -errno. */
int fg_state_replace(const char *dir, const char *fname, const uint8_t *data, size_t len);
/* Append data to dir/fname (created 0600 when missing, with head first
 * when it is created or empty); fsync it when sync. -errno. */
int fg_state_append(const char *dir, const char *fname, const uint8_t *head, size_t head_len,
		    const uint8_t *data, size_t len, int sync);
/* Remove dir/fname (missing is fine) and fsync the directory. -errno. */
int fg_state_remove(const char *dir, const char *fname);
