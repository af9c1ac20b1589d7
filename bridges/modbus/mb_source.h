/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/modbus/mb_source.h — the Modbus bridge's configuration language:
 * a profile point's `source:` / `write:` / `execute:` (struct mb_source, the
 * mapping engine's source parser for `bridge: modbus`), the bridge body
 * (bridges.<name>: tcp or serial line, timeouts, coalescing, backoff) and a
 * device's `address:` (unit id, or a mapping with per-device overrides).
 * Everything is checked with file:line:col diagnostics; nothing here does
 * I/O. docs/modbus.md documents the keys.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "mappings/mapping.h"

struct schema_ctx;

enum mb_table {
	MB_TABLE_COIL = 0, /* read 01, write 05/15 */
	MB_TABLE_DISCRETE, /* read 02 */
	MB_TABLE_INPUT,    /* read 04 */
	MB_TABLE_HOLDING,  /* read 03, write 06/16 */
	MB_TABLE__MAX,
};

const char *mb_table_name(enum mb_table t);
static inline bool mb_table_is_bits(enum mb_table t)
{
	return t == MB_TABLE_COIL || t == MB_TABLE_DISCRETE;
}

/* A parsed `source:` (role READ), `write:` (WRITE) or `execute:` (EXECUTE). */
struct mb_source {
	uint8_t role;     /* enum mapping_role */
	uint8_t table;    /* enum mb_table */
	uint16_t addr;    /* zero-based protocol address */
	uint16_t count;   /* registers/coils; 0: from the point's raw layout */
	uint8_t function; /* writes and executes: 0 (06/05 for one, 16/15 for more), 5, 6, 15, 16 */
	int8_t verify;    /* writes: -1 the bus default, 0 no, 1 read back and compare */
	/* execute: */
	uint16_t value;      /* written (a coil: 0 or 1) */
	uint16_t off;        /* written pulse_usec later when pulse_usec > 0 */
	uint64_t pulse_usec; /* 0: a plain write */
};

/* The parser the mapping engine gets for `bridge: modbus` profiles. */
extern const struct mapping_source_ops mb_source_ops;
/* `fieldgate profile test` (mb_tester.c). */
struct bridge_tester;
extern const struct bridge_tester mb_tester;

/* Registers or coils a point occupies: src->count, or from the raw layout
 * (int16: 1, float32: 2, float64: 4, string: length / 2 rounded up, bits:
 * width / 16...). 0 when it cannot be told (a string without length). */
unsigned mb_point_count(const struct mb_source *src, const struct mapping_transform *xf);

/* ---- the bridge body ------------------------------------------------------ */

enum mb_parity { MB_PARITY_NONE = 0, MB_PARITY_EVEN, MB_PARITY_ODD };

struct mb_tcp_conf {
	const char *host;
	uint64_t port;
};

struct mb_serial_conf {
	const char *device;
	uint64_t baud, data_bits, stop_bits;
	int parity;
	bool rs485;
};

/* Strings point into the YAML document (copy them). */
struct mb_conf {
	const char *type;
	struct mb_tcp_conf tcp;
	struct mb_serial_conf serial;
	bool has_tcp, has_serial;
	uint64_t timeout_usec;     /* bound of a whole transaction (request to the answer's last byte) */
	uint64_t max_gap;          /* registers/coils a block may skip */
	bool coalesce;             /* false: one request per point */
	uint64_t max_registers;    /* per read request, <= 125 */
	uint64_t max_bits;         /* per read request, <= 2000 */
	uint64_t min_poll_usec;    /* floor of an observation-tightened poll */
	uint64_t backoff_min_usec; /* quarantine of a unit that timed out, doubling */
	uint64_t backoff_max_usec;
	uint64_t reconnect_min_usec; /* link (TCP connect / serial open) retries, doubling */
	uint64_t reconnect_max_usec;
	bool verify_writes;              /* read back every write */
	uint64_t request_gap_usec;       /* silence on the line before each request (RTU: at least t3.5) */
	uint64_t unreachable_after_usec; /* answering only failures this long: unreachable; 0 never */
};

/* Check a body (type: included) reporting through ctx; 0 or -EINVAL. */
int mb_conf_verify(struct schema_ctx *ctx, const struct ynode *body);
/* Parse a body already verified (no reports); 0, -EINVAL, -ENOMEM. */
int mb_conf_parse(const struct ynode *body, struct mb_conf *out);

/* ---- a device's address ---------------------------------------------------- */

struct mb_addr {
	uint8_t unit;
	uint64_t timeout_usec;  /* 0: the bus's */
	int32_t max_gap;        /* -1: the bus's */
	uint16_t max_registers; /* 0: the bus's */
};

/* `address: 3` or `address: {unit: 3, timeout: 300ms, max_gap: 0, max_registers: 60}`.
 * ctx may be NULL (no reports). 0 or -EINVAL. */
int mb_addr_parse(struct schema_ctx *ctx, const struct ynode *node, struct mb_addr *out);
