/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers of the Modbus bridge's configuration (see mb_source.h): profile
 * sources with diag_report(), the bridge body and device addresses with
 * the schema tables of common/schema.h.
 */
#include "bridges/modbus/mb_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/schema.h"

static const char *const table_names[MB_TABLE__MAX + 1] = { "coil", "discrete", "input", "holding", NULL };

const char *mb_table_name(enum mb_table t)
{
	return (unsigned)t < MB_TABLE__MAX ? table_names[t] : NULL;
}

/* ---- profile sources ----------------------------------------------------------------------- */

#define REPORT(diag, n, ...) diag_report((diag), DIAG_ERROR, (n)->file, (n)->line, (n)->col, __VA_ARGS__)

/* Decimal or 0x hexadecimal, within [0, max]. */
static int parse_number(const struct ynode *n, uint64_t max, uint64_t *out)
{
	const char *s;
	char *end;
	uint64_t v;

	if (n->kind != YNODE_SCALAR || n->scalar.len == 0 || strlen(n->scalar.str) != n->scalar.len)
		return -EINVAL;
	s = n->scalar.str;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!s[2] || strspn(s + 2, "0123456789abcdefABCDEF") != strlen(s + 2) || strlen(s + 2) > 16)
			return -EINVAL;
		errno = 0;
		v = strtoull(s + 2, &end, 16);
		if (errno || *end)
			return -EINVAL;
	} else if (schema_parse_uint(s, &v) < 0)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int number_key(const struct ynode *n, const char *key, uint64_t min, uint64_t max, struct diag *diag,
		      uint64_t *out)
{
	int r = parse_number(n, max, out);

	if (r == 0 && *out >= min)
		return 0;
	REPORT(diag, n, "modbus: invalid %s '%s': expected a number from %llu to %llu", key,
	       n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n), (unsigned long long)min,
	       (unsigned long long)max);
	return -EINVAL;
}

static const char *const source_keys[] = { "table", "address", "count", NULL };
static const char *const write_keys[] = { "table", "address", "count", "function", "verify", NULL };
static const char *const execute_keys[] = { "table", "address", "function", "value", "pulse", "off", NULL };

static int parse_table(const struct ynode *n, enum mapping_role role, struct diag *diag, uint8_t *out)
{
	for (int t = 0; n->kind == YNODE_SCALAR && t < MB_TABLE__MAX; t++)
		if (strcmp(n->scalar.str, table_names[t]) == 0) {
			if (role != MAPPING_ROLE_READ && (t == MB_TABLE_DISCRETE || t == MB_TABLE_INPUT)) {
				REPORT(diag, n,
				       "modbus: %s table '%s' is read-only (writes and executes go to "
				       "'holding' or 'coil')",
				       role == MAPPING_ROLE_WRITE ? "write" : "execute", table_names[t]);
				return -EINVAL;
			}
			*out = (uint8_t)t;
			return 0;
		}
	if (n->kind == YNODE_SCALAR) {
		const char *s = schema_suggest(n->scalar.str, (const char *const *)table_names);
		if (s) {
			REPORT(diag, n,
			       "modbus: unknown table '%s', did you mean '%s'? (expected coil, discrete, "
			       "input or holding)",
			       n->scalar.str, s);
			return -EINVAL;
		}
	}
	REPORT(diag, n, "modbus: unknown table '%s' (expected coil, discrete, input or holding)",
	       n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n));
	return -EINVAL;
}

/* Manuals often number registers the Modicon way: 4xxxx holding and 3xxxx
 * input registers (1xxxx discrete inputs), counted from 1, so "40001" is
 * holding address 0. The profile takes the zero-based protocol address, so
 * a decimal 30001..49999 (10001..19999 for discrete inputs) is likely that
 * notation: said, with the address it would stand for. Some devices (SMA,
 * SunSpec at 40000) do use such zero-based addresses: written in hex
 * (0x9C41), an address is taken as meant. */
static void warn_notation(const struct ynode *n, enum mb_table table, unsigned addr, struct diag *diag)
{
	static const char *const regs[] = {
		[1] = "discrete input", [3] = "input register", [4] = "holding register"
	};
	static const char *const tables[] = { [1] = "discrete", [3] = "input", [4] = "holding" };
	unsigned lead = addr / 10000, zero = addr % 10000 - 1;

	if (n->kind != YNODE_SCALAR || (n->scalar.str[0] == '0' && n->scalar.str[1] != 0) ||
	    addr % 10000 == 0)
		return;
	if (!((lead == 1 && table == MB_TABLE_DISCRETE) ||
	      ((lead == 3 || lead == 4) && (table == MB_TABLE_INPUT || table == MB_TABLE_HOLDING))))
		return;
	if (strcmp(tables[lead], table_names[table]) == 0)
		diag_report(diag, DIAG_WARNING, n->file, n->line, n->col,
			    "modbus: %s address %u looks like Modbus %ux notation, where %u is %s %u counted "
			    "from 1, i.e. zero-based address %u; fieldgate uses %u as written. If the manual "
			    "means %ux notation, write address: %u; to keep %u, write it in hex (0x%04X) and "
			    "this warning goes",
			    table_names[table], addr, lead, addr, regs[lead], addr % 10000, zero, addr, lead,
			    zero, addr, addr);
	else
		diag_report(
			diag, DIAG_WARNING, n->file, n->line, n->col,
			"modbus: %s address %u looks like Modbus %ux notation, which numbers %ss: %u is %s "
			"%u counted from 1, i.e. table: %s, address: %u; fieldgate uses %s address %u as "
			"written (in hex, 0x%04X, without this warning)",
			table_names[table], addr, lead, regs[lead], addr, regs[lead], addr % 10000,
			tables[lead], zero, table_names[table], addr, addr);
}

static int parse_source(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out)
{
	const char *const *keys = role == MAPPING_ROLE_READ    ? source_keys
				  : role == MAPPING_ROLE_WRITE ? write_keys
							       : execute_keys;
	const char *what = role == MAPPING_ROLE_READ    ? "source"
			   : role == MAPPING_ROLE_WRITE ? "write"
							: "execute";
	struct mb_source *s;
	bool has_table = false, has_addr = false, has_value = false;
	unsigned errors = diag ? diag->errors : 0, bad = 0;
	uint64_t v;

	if (!node)
		return 0; /* writable: true — the write goes to the read source */
	if (node->kind != YNODE_MAP) {
		REPORT(diag, node,
		       "modbus: %s must be a mapping such as {table: holding, address: 0}, got %s", what,
		       ynode_describe(node));
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->role = (uint8_t)role;
	s->verify = -1;
	for (size_t i = 0; i < node->map.n; i++) {
		const struct ynode *k = ynode_map_key(node, i), *n = ynode_map_value(node, i);
		const char *key = k->kind == YNODE_SCALAR ? k->scalar.str : "";

		if (strcmp(key, "table") == 0) {
			bad += parse_table(n, role, diag, &s->table) < 0;
			has_table = true;
		} else if (strcmp(key, "address") == 0) {
			bad += number_key(n, "address", 0, 65535, diag, &v) < 0;
			s->addr = (uint16_t)v;
			has_addr = true;
		} else if (strcmp(key, "count") == 0 && role != MAPPING_ROLE_EXECUTE) {
			bad += number_key(n, "count", 1, 2000, diag, &v) < 0;
			s->count = (uint16_t)v;
		} else if (strcmp(key, "function") == 0 && role != MAPPING_ROLE_READ) {
			if (parse_number(n, 255, &v) < 0 || (v != 5 && v != 6 && v != 15 && v != 16)) {
				REPORT(diag, n,
				       "modbus: invalid function '%s' (expected 5 or 15 for coils, 6 or 16 "
				       "for holding registers)",
				       n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n));
				bad++;
			}
			s->function = (uint8_t)v;
		} else if (strcmp(key, "verify") == 0 && role == MAPPING_ROLE_WRITE) {
			bool b = false;
			if (n->kind != YNODE_SCALAR || schema_parse_bool(n->scalar.str, &b) < 0) {
				REPORT(diag, n, "modbus: invalid verify '%s' (expected true or false)",
				       n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n));
				bad++;
			}
			s->verify = b;
		} else if ((strcmp(key, "value") == 0 || strcmp(key, "off") == 0) &&
			   role == MAPPING_ROLE_EXECUTE) {
			bool b;
			if (n->kind == YNODE_SCALAR && schema_parse_bool(n->scalar.str, &b) == 0)
				v = b;
			else if (number_key(n, key, 0, 65535, diag, &v) < 0)
				bad++;
			if (key[0] == 'v') {
				s->value = (uint16_t)v;
				has_value = true;
			} else
				s->off = (uint16_t)v;
		} else if (strcmp(key, "pulse") == 0 && role == MAPPING_ROLE_EXECUTE) {
			if (n->kind != YNODE_SCALAR || schema_parse_duration(n->scalar.str, &v) < 0 ||
			    v == 0 || v > 60 * USEC_PER_SEC) {
				REPORT(diag, n,
				       "modbus: invalid pulse '%s' (expected a duration from 1ms to 60s)",
				       n->kind == YNODE_SCALAR ? n->scalar.str : ynode_describe(n));
				bad++;
			}
			s->pulse_usec = v;
		} else {
			char list[128] = "";
			const char *sug = schema_suggest(key, keys);
			for (size_t j = 0; keys[j]; j++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 j ? ", " : "", keys[j]);
			if (sug)
				REPORT(diag, k,
				       "modbus: unknown key '%s' in %s, did you mean '%s'? (accepted keys: "
				       "%s)",
				       key, what, sug, list);
			else
				REPORT(diag, k, "modbus: unknown key '%s' in %s (accepted keys: %s)", key,
				       what, list);
			bad++;
		}
	}
	if (!has_table) {
		REPORT(diag, node, "modbus: missing key 'table' in %s (coil, discrete, input or holding)",
		       what);
		bad++;
	}
	if (!has_addr) {
		REPORT(diag, node, "modbus: missing key 'address' in %s (the zero-based protocol address)",
		       what);
		bad++;
	}
	if (role == MAPPING_ROLE_EXECUTE && !has_value) {
		REPORT(diag, node, "modbus: missing key 'value' in execute (what the action writes)");
		bad++;
	}
	if (!bad && s->function) {
		bool bits = mb_table_is_bits(s->table);
		if (bits != (s->function == 5 || s->function == 15)) {
			REPORT(diag, node, "modbus: function %u does not write a %s (use %s)", s->function,
			       table_names[s->table], bits ? "5 or 15" : "6 or 16");
			bad++;
		}
	}
	if (!bad && role == MAPPING_ROLE_EXECUTE && s->table == MB_TABLE_COIL &&
	    (s->value > 1 || s->off > 1)) {
		REPORT(diag, node, "modbus: a coil is written 0 or 1 (true/false), not %u",
		       s->value > 1 ? s->value : s->off);
		bad++;
	}
	if (!bad)
		warn_notation(ynode_map_get(node, "address"), s->table, s->addr, diag);
	if (!bad && (uint32_t)s->addr + (s->count ? s->count : 1) > 65536u) {
		REPORT(diag, node, "modbus: %u %s from address %u run past 65535", s->count, "registers",
		       s->addr);
		bad++;
	}
	(void)errors;
	if (bad) {
		free(s);
		return -EINVAL;
	}
	*out = s;
	return 0;
}

static void free_source(void *p)
{
	free(p);
}

unsigned mb_point_count(const struct mb_source *src, const struct mapping_transform *xf)
{
	size_t bytes;

	if (src->count)
		return src->count;
	if (mb_table_is_bits(src->table))
		return 1;
	if (xf->raw == MAPPING_RAW_STRING)
		bytes = xf->length;
	else
		bytes = mapping_raw_size(xf->raw, xf->width);
	return (unsigned)((bytes + 1) / 2);
}

static int check_point(const struct mapping_point *pt, struct diag *diag)
{
	const struct mb_source *rd = pt->source, *wr = pt->write, *ex = pt->execute;
	const struct mb_source *list[2] = { rd, wr };
	const struct mapping_transform *xf = &pt->xf;
	int bad = 0;

	for (size_t i = 0; i < 2; i++) {
		const struct mb_source *s = list[i];
		unsigned count;

		if (!s)
			continue;
		if (mb_table_is_bits(s->table)) {
			/* A coil or discrete input is one bit: delivered as one byte 0/1. */
			if (xf->raw != MAPPING_RAW_UINT8 && xf->raw != MAPPING_RAW_INT8 &&
			    !(xf->raw == MAPPING_RAW_BITS && xf->width == 8)) {
				diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
					    "modbus: a %s is one bit: use raw uint8 (0/1), not %s",
					    table_names[s->table], mapping_raw_name(xf->raw));
				bad++;
			}
			if (s->count > 1) {
				diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
					    "modbus: a %s point is one bit: count must be 1",
					    table_names[s->table]);
				bad++;
			}
			continue;
		}
		if (xf->raw == MAPPING_RAW_VALUE) {
			diag_report(
				diag, DIAG_ERROR, pt->file, pt->line, pt->col,
				"modbus: registers need a raw layout (int16, uint16, int32, uint32, int64, "
				"uint64, float32, float64, string or bits)");
			bad++;
			continue;
		}
		if (xf->raw != MAPPING_RAW_STRING && mapping_raw_size(xf->raw, xf->width) % 2) {
			diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
				    "modbus: raw %s%s is not whole 16-bit registers: use int16/uint16 (with "
				    "bit: and "
				    "bits: for a byte of a register) or int32/uint32",
				    mapping_raw_name(xf->raw), xf->raw == MAPPING_RAW_BITS ? " width 8" : "");
			bad++;
			continue;
		}
		if (xf->raw == MAPPING_RAW_STRING && !xf->length && !s->count) {
			diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
				    "modbus: a string needs 'length' (bytes) or the source's 'count' "
				    "(registers)");
			bad++;
			continue;
		}
		count = mb_point_count(s, xf);
		if (count == 0 || count > 125 || (uint32_t)s->addr + count > 65536u) {
			diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
				    "modbus: %u registers from address %u do not fit one request (1 to 125, "
				    "within 0..65535)",
				    count, s->addr);
			bad++;
			continue;
		}
		if (xf->raw != MAPPING_RAW_STRING && s->count &&
		    s->count * 2u < mapping_raw_size(xf->raw, xf->width)) {
			diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
				    "modbus: count %u registers is shorter than raw %s", s->count,
				    mapping_raw_name(xf->raw));
			bad++;
		}
		if (i == 1 || (i == 0 && pt->writable && !wr)) {
			/* A write needs whole registers. */
			size_t bytes = xf->raw == MAPPING_RAW_STRING ? xf->length
								     : mapping_raw_size(xf->raw, xf->width);
			if (bytes % 2) {
				diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
					    "modbus: a %zu-byte %s cannot be written to 16-bit registers",
					    bytes, mapping_raw_name(xf->raw));
				bad++;
			}
		}
		if (s->function == 6 && count != 1) {
			diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
				    "modbus: function 6 writes one register, this point has %u (use 16)",
				    count);
			bad++;
		}
	}
	if (pt->writable && !wr && rd && (rd->table == MB_TABLE_INPUT || rd->table == MB_TABLE_DISCRETE)) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "modbus: writable, but the source is the read-only %s table (add a 'write:' to a "
			    "holding register or coil)",
			    table_names[rd->table]);
		bad++;
	}
	if (pt->writable && !wr && !rd) {
		diag_report(diag, DIAG_ERROR, pt->file, pt->line, pt->col,
			    "modbus: writable without a source: add 'write: {table: ..., address: ...}'");
		bad++;
	}
	(void)ex;
	return bad ? -EINVAL : 0;
}

/* `generate: sunspec`: the device's SunSpec map makes its profile
 * (bridges/modbus/sunspec.h). */
static const char *const generators[] = { "sunspec", NULL };

const struct mapping_source_ops mb_source_ops = {
	.kind = "modbus",
	.parse = parse_source,
	.free = free_source,
	.check = check_point,
	.generators = generators,
};

/* ---- the bridge body -------------------------------------------------------------------------- */

#define C_OFF(f) offsetof(struct mb_conf, f)
#define T_OFF(f) offsetof(struct mb_tcp_conf, f)
#define S_OFF(f) offsetof(struct mb_serial_conf, f)

static int check_device_path(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
			     void *t)
{
	const char *s = *(const char **)t;
	struct stat st;

	(void)k;
	if (s[0] != '/') {
		schema_error(
			ctx, n,
			"modbus: serial device '%s' must be an absolute path, best /dev/serial/by-id/... "
			"(stable across reboots and re-plugging)",
			s);
		return -EINVAL;
	}
	/* A warning, not an error: `check` may run where the adapter is not
	 * plugged in, and the bridge keeps trying to open the line. */
	if (stat(s, &st) < 0)
		schema_warning(
			ctx, n,
			"modbus: serial device '%s' does not exist (%s): is the adapter plugged in? `ls "
			"-l /dev/serial/by-id/` lists those present; the bridge keeps trying to open it",
			s, strerror(errno));
	else if (!S_ISCHR(st.st_mode))
		schema_warning(ctx, n, "modbus: serial device '%s' is not a character device (a serial port)",
			       s);
	return 0;
}

static int check_baud(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	static const uint64_t rates[] = { 1200,  2400,   4800,   9600,   19200, 38400,
					  57600, 115200, 230400, 460800, 921600 };
	uint64_t v = *(uint64_t *)t;

	(void)k;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (rates[i] == v)
			return 0;
	schema_error(
		ctx, n,
		"modbus: unsupported baud rate %llu (expected 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
		"115200, 230400, 460800 or 921600)",
		(unsigned long long)v);
	return -EINVAL;
}

static const struct schema_key tcp_keys[] = {
	{ .name = "host",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = T_OFF(host),
	  .max_len = 253,
	  .doc = "IP address or host name of the Modbus TCP server (or gateway)" },
	{ .name = "port",
	  .kind = SCHEMA_UINT,
	  .offset = T_OFF(port),
	  .umin = 1,
	  .umax = 65535,
	  .def_uint = 502 },
	{ NULL },
};

static const struct schema_section tcp_section = { .name = "tcp",
						   .size = sizeof(struct mb_tcp_conf),
						   .keys = tcp_keys };

static const struct schema_enum_word parity_words[] = {
	{ "none", MB_PARITY_NONE },
	{ "even", MB_PARITY_EVEN },
	{ "odd", MB_PARITY_ODD },
	{ "N", MB_PARITY_NONE, true },
	{ "E", MB_PARITY_EVEN, true },
	{ "O", MB_PARITY_ODD, true },
	{ NULL },
};

static const struct schema_key serial_keys[] = {
	{ .name = "device",
	  .kind = SCHEMA_STRING,
	  .required = true,
	  .offset = S_OFF(device),
	  .max_len = 4095,
	  .parse = check_device_path },
	{ .name = "baud",
	  .kind = SCHEMA_UINT,
	  .offset = S_OFF(baud),
	  .umin = 1,
	  .umax = 921600,
	  .def_uint = 9600,
	  .parse = check_baud },
	{ .name = "parity",
	  .kind = SCHEMA_ENUM,
	  .offset = S_OFF(parity),
	  .words = parity_words,
	  .def_int = MB_PARITY_NONE },
	{ .name = "data_bits",
	  .kind = SCHEMA_UINT,
	  .offset = S_OFF(data_bits),
	  .umin = 5,
	  .umax = 8,
	  .def_uint = 8 },
	{ .name = "stop_bits",
	  .kind = SCHEMA_UINT,
	  .offset = S_OFF(stop_bits),
	  .umin = 1,
	  .umax = 2,
	  .def_uint = 1 },
	{ .name = "rs485",
	  .kind = SCHEMA_BOOL,
	  .offset = S_OFF(rs485),
	  .doc = "put the UART in RS-485 mode (TIOCSRS485) where the driver needs it" },
	{ NULL },
};

static const struct schema_section serial_section = { .name = "serial",
						      .size = sizeof(struct mb_serial_conf),
						      .keys = serial_keys };

static int check_type(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	(void)k;
	if (strcmp(*(const char **)t, "modbus") != 0) {
		schema_error(ctx, n, "modbus: type must be 'modbus'");
		return -EINVAL;
	}
	return 0;
}

static const struct schema_key conf_keys[] = {
	{ .name = "type", .kind = SCHEMA_STRING, .offset = C_OFF(type), .parse = check_type },
	{ .name = "tcp", .kind = SCHEMA_SECTION, .offset = C_OFF(tcp), .section = &tcp_section },
	{ .name = "serial", .kind = SCHEMA_SECTION, .offset = C_OFF(serial), .section = &serial_section },
	{ .name = "timeout",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(timeout_usec),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = 60 * USEC_PER_SEC,
	  .def_uint = USEC_PER_SEC,
	  .doc = "bound of a whole transaction, from the request to the answer's last byte" },
	{ .name = "max_gap",
	  .kind = SCHEMA_UINT,
	  .offset = C_OFF(max_gap),
	  .umax = 2000,
	  .def_uint = 16,
	  .doc = "unused registers (coils) one read may span to join two points" },
	{ .name = "coalesce", .kind = SCHEMA_BOOL, .offset = C_OFF(coalesce), .def_bool = true },
	{ .name = "max_registers",
	  .kind = SCHEMA_UINT,
	  .offset = C_OFF(max_registers),
	  .umin = 1,
	  .umax = 125,
	  .def_uint = 125 },
	{ .name = "max_bits",
	  .kind = SCHEMA_UINT,
	  .offset = C_OFF(max_bits),
	  .umin = 1,
	  .umax = 2000,
	  .def_uint = 2000 },
	{ .name = "min_poll",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(min_poll_usec),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = USEC_PER_HOUR,
	  .def_uint = 100 * USEC_PER_MSEC },
	{ .name = "backoff_min",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(backoff_min_usec),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = USEC_PER_DAY,
	  .def_uint = 5 * USEC_PER_SEC },
	{ .name = "backoff_max",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(backoff_max_usec),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = USEC_PER_DAY,
	  .def_uint = 5 * USEC_PER_MIN },
	{ .name = "reconnect_min",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(reconnect_min_usec),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = USEC_PER_DAY,
	  .def_uint = USEC_PER_SEC },
	{ .name = "reconnect_max",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(reconnect_max_usec),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = USEC_PER_DAY,
	  .def_uint = USEC_PER_MIN },
	{ .name = "verify_writes", .kind = SCHEMA_BOOL, .offset = C_OFF(verify_writes) },
	{ .name = "request_gap",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(request_gap_usec),
	  .umax = USEC_PER_SEC,
	  .doc = "silence before each request (serial: at least 3.5 characters)" },
	{ .name = "unreachable_after",
	  .kind = SCHEMA_DURATION,
	  .offset = C_OFF(unreachable_after_usec),
	  .umax = USEC_PER_DAY,
	  .def_uint = 30 * USEC_PER_SEC,
	  .doc = "a unit answering only failures (exceptions 04..08, CRC errors, malformed answers) for this "
		 "long is unreachable (0: never)" },
	{ NULL },
};

static int check_conf(struct schema_ctx *ctx, const struct ynode *map, void *obj)
{
	struct mb_conf *c = obj;
	const struct ynode *t = ynode_map_get(map, "tcp"), *s = ynode_map_get(map, "serial");
	char w[600];
	int r = 0;

	c->has_tcp = t && !ynode_is_null(t);
	c->has_serial = s && !ynode_is_null(s);
	if (c->has_tcp == c->has_serial) {
		schema_error(
			ctx, c->has_tcp ? s : map,
			"modbus: %s needs exactly one of 'tcp' ({host, port}) or 'serial' ({device, baud, "
			"...})",
			schema_where(ctx, w, sizeof(w)));
		r = -EINVAL;
	}
	if (schema_key_ok(ctx, "backoff_min") && schema_key_ok(ctx, "backoff_max") &&
	    c->backoff_min_usec > c->backoff_max_usec) {
		schema_error(ctx, ynode_map_get(map, "backoff_max") ?: map,
			     "modbus: backoff_max must not be below backoff_min");
		r = -EINVAL;
	}
	if (schema_key_ok(ctx, "reconnect_min") && schema_key_ok(ctx, "reconnect_max") &&
	    c->reconnect_min_usec > c->reconnect_max_usec) {
		schema_error(ctx, ynode_map_get(map, "reconnect_max") ?: map,
			     "modbus: reconnect_max must not be below reconnect_min");
		r = -EINVAL;
	}
	return r;
}

static const struct schema_section conf_section = {
	.name = "modbus", .size = sizeof(struct mb_conf), .keys = conf_keys, .check = check_conf
};

int mb_conf_verify(struct schema_ctx *ctx, const struct ynode *body)
{
	struct mb_conf c = { 0 };
	int r = schema_parse_section(ctx, &conf_section, body, &c);

	schema_free(&conf_section, &c);
	return r < 0 ? -EINVAL : 0;
}

int mb_conf_parse(const struct ynode *body, struct mb_conf *out)
{
	struct diag d = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	r = schema_parse(&conf_section, body, out, &d, NULL);
	schema_free(&conf_section, out); /* no lists: strings stay in the document */
	return r;
}

/* ---- device addresses --------------------------------------------------------------------------- */

struct addr_conf {
	uint64_t unit, timeout, max_gap, max_registers;
};

#define A_OFF(f) offsetof(struct addr_conf, f)

static const struct schema_key addr_keys[] = {
	{ .name = "unit",
	  .kind = SCHEMA_UINT,
	  .required = true,
	  .offset = A_OFF(unit),
	  .umax = 255,
	  .doc = "the unit (slave) id: 1..247 on a serial line; 0..255 behind TCP" },
	{ .name = "timeout",
	  .kind = SCHEMA_DURATION,
	  .offset = A_OFF(timeout),
	  .umin = 10 * USEC_PER_MSEC,
	  .umax = 60 * USEC_PER_SEC },
	{ .name = "max_gap",
	  .kind = SCHEMA_UINT,
	  .offset = A_OFF(max_gap),
	  .umax = 2000,
	  .def_uint = UINT64_MAX },
	{ .name = "max_registers",
	  .kind = SCHEMA_UINT,
	  .offset = A_OFF(max_registers),
	  .umin = 1,
	  .umax = 125 },
	{ NULL },
};

static const struct schema_section addr_section = { .name = "address",
						    .size = sizeof(struct addr_conf),
						    .keys = addr_keys };

int mb_addr_parse(struct schema_ctx *ctx, const struct ynode *node, struct mb_addr *out)
{
	struct addr_conf a = { 0 };
	struct schema_ctx quiet = { 0 };
	struct diag d = { 0 };
	uint64_t v;
	int r = 0;

	if (!ctx) {
		quiet.diag = &d;
		ctx = &quiet;
	}
	*out = (struct mb_addr){ .max_gap = -1 };
	if (!node) {
		schema_error(ctx, NULL, "modbus: a device needs 'address': its unit id (1..247)");
		return -EINVAL;
	}
	if (node->kind == YNODE_SCALAR) {
		if (parse_number(node, 255, &v) < 0) {
			schema_error(ctx, node,
				     "modbus: invalid address '%s': expected a unit id from 0 to 255, or "
				     "{unit: N, "
				     "timeout: ..., max_gap: ..., max_registers: ...}",
				     node->scalar.str);
			return -EINVAL;
		}
		out->unit = (uint8_t)v;
		return 0;
	}
	if (node->kind != YNODE_MAP) {
		schema_error(ctx, node,
			     "modbus: the address must be a unit id or a mapping with 'unit', got %s",
			     ynode_describe(node));
		return -EINVAL;
	}
	r = schema_parse_section(ctx, &addr_section, node, &a);
	schema_free(&addr_section, &a);
	if (r < 0)
		return -EINVAL;
	out->unit = (uint8_t)a.unit;
	out->timeout_usec = a.timeout;
	out->max_gap = a.max_gap == UINT64_MAX ? -1 : (int32_t)a.max_gap;
	out->max_registers = (uint16_t)a.max_registers;
	return 0;
}
