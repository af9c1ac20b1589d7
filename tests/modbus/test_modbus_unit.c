/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Modbus bridge's pure parts: the block planner
 * (coalescing, limits, cuts learned from exceptions), the profile source
 * parser and its cross-checks (through the real profile loader), the bus
 * body and device address checks (file:line:col messages), and the
 * libmodbus errno -> errno mapping.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <modbus.h>

#include "bridges/modbus/mb_bus.h"
#include "bridges/modbus/mb_plan.h"
#include "bridges/modbus/mb_source.h"
#include "common/schema.h"

/* ---- planner ----------------------------------------------------------------------------------- */

static const struct mb_plan_limits regs125 = { .max_count = 125, .max_gap = 16 };

static size_t plan(struct mb_item *it, size_t n, const struct mb_plan_limits *lim, const uint16_t *cuts,
		   size_t ncuts, struct mb_block *out)
{
	mb_items_sort(it, n);
	return mb_plan(it, n, lim, cuts, ncuts, out);
}

static void test_plan_contiguous_and_gaps(void **state)
{
	struct mb_item it[] = { { 9, 1 }, { 0, 2 }, { 2, 2 }, { 4, 1 }, { 30, 2 }, { 100, 4 }, { 104, 1 } };
	struct mb_block b[8];
	size_t n;

	(void)state;
	n = plan(it, 7, &regs125, NULL, 0, b);
	/* 0..9 (gap 4 after 4), 30..31 is 20 past 10 (> 16), 100..104. */
	assert_int_equal(n, 3);
	assert_int_equal(b[0].addr, 0);
	assert_int_equal(b[0].count, 10);
	assert_int_equal(b[0].n, 4);
	assert_int_equal(b[1].addr, 30);
	assert_int_equal(b[1].count, 2);
	assert_int_equal(b[2].addr, 100);
	assert_int_equal(b[2].count, 5);
	assert_int_equal(b[2].first, 5);
	assert_int_equal(b[2].n, 2);
}

static void test_plan_limits(void **state)
{
	struct mb_item it[300];
	struct mb_block b[300];
	struct mb_plan_limits none = { .max_count = 125, .max_gap = -1 },
			      gap0 = { .max_count = 125, .max_gap = 0 },
			      coils = { .max_count = 2000, .max_gap = 16 };
	size_t n;

	(void)state;
	for (size_t i = 0; i < 130; i++)
		it[i] = (struct mb_item){ (uint16_t)i, 1 };
	n = plan(it, 130, &regs125, NULL, 0, b);
	assert_int_equal(n, 2);
	assert_int_equal(b[0].count, 125);
	assert_int_equal(b[1].addr, 125);
	assert_int_equal(b[1].count, 5);
	/* No coalescing: one request per point. */
	n = plan(it, 130, &none, NULL, 0, b);
	assert_int_equal(n, 130);
	/* Gap 0: adjacent points still join, a one-register hole splits. */
	for (size_t i = 0; i < 10; i++)
		it[i] = (struct mb_item){ (uint16_t)(i < 5 ? i : i + 1), 1 };
	n = plan(it, 10, &gap0, NULL, 0, b);
	assert_int_equal(n, 2);
	/* 2000 coils in one read, the 2001st in the next. */
	for (size_t i = 0; i < 300; i++)
		it[i] = (struct mb_item){ (uint16_t)(i * 7), 1 };
	n = plan(it, 300, &coils, NULL, 0, b);
	assert_int_equal(n, 2);
	assert_true(b[0].count <= 2000);
	/* The top of the address space. */
	it[0] = (struct mb_item){ 65534, 2 };
	it[1] = (struct mb_item){ 65530, 2 };
	n = plan(it, 2, &regs125, NULL, 0, b);
	assert_int_equal(n, 1);
	assert_int_equal(b[0].addr, 65530);
	assert_int_equal(b[0].count, 6);
}

static void test_plan_overlap(void **state)
{
	/* Bit fields of one status register and a float32 over it. */
	struct mb_item it[] = { { 10, 1 }, { 10, 1 }, { 9, 2 }, { 11, 2 } };
	struct mb_block b[4];
	uint16_t cut;

	(void)state;
	assert_int_equal(plan(it, 4, &regs125, NULL, 0, b), 1);
	assert_int_equal(b[0].addr, 9);
	assert_int_equal(b[0].count, 4);
	/* 9..10 overlaps 10 and 10; 11 starts where they end: the only cut. */
	assert_int_equal(mb_plan_split(it, &b[0], &cut), 0);
	assert_int_equal(cut, 11);
}

static void test_plan_learn_split(void **state)
{
	/* The device rejects register 45: 40..49 fails, halves are tried. */
	struct mb_item it[] = { { 40, 1 }, { 42, 1 }, { 44, 1 }, { 47, 1 }, { 49, 1 } };
	uint16_t cuts[8], cut;
	size_t ncuts = 0, n;
	struct mb_block b[5];

	(void)state;
	n = plan(it, 5, &regs125, cuts, ncuts, b);
	assert_int_equal(n, 1);
	assert_int_equal(mb_plan_split(it, &b[0], &cut), 0);
	assert_int_equal(cut, 44); /* the item start closest to the middle (45) */
	assert_int_equal(mb_cuts_add(cuts, &ncuts, 8, cut), 1);
	assert_int_equal(mb_cuts_add(cuts, &ncuts, 8, cut), 0);
	n = plan(it, 5, &regs125, cuts, ncuts, b);
	assert_int_equal(n, 2);
	assert_int_equal(b[1].addr, 44);
	assert_int_equal(b[1].count, 6);
	assert_int_equal(mb_plan_split(it, &b[1], &cut), 0);
	assert_int_equal(cut, 47);
	assert_int_equal(mb_cuts_add(cuts, &ncuts, 8, cut), 1);
	n = plan(it, 5, &regs125, cuts, ncuts, b);
	assert_int_equal(n, 3);
	assert_int_equal(b[0].addr, 40);
	assert_int_equal(b[0].count, 3);
	assert_int_equal(b[1].addr, 44);
	assert_int_equal(b[1].count, 1);
	assert_int_equal(b[2].addr, 47);
	assert_int_equal(b[2].count, 3);
	/* A single item cannot be split. */
	assert_int_equal(mb_plan_split(it, &b[1], &cut), -ENOENT);
	/* Cuts stay sorted; a full set says so. */
	assert_int_equal(mb_cuts_add(cuts, &ncuts, 8, 3), 1);
	assert_int_equal(cuts[0], 3);
	assert_int_equal(cuts[1], 44);
	for (uint16_t c = 100; ncuts < 8; c++)
		assert_int_equal(mb_cuts_add(cuts, &ncuts, 8, c), 1);
	assert_int_equal(mb_cuts_add(cuts, &ncuts, 8, 1000), -ENOSPC);
}

/* ---- profile sources ------------------------------------------------------------------------------ */

struct capture {
	char text[8192];
	size_t len;
};

static void capture_fn(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		       const char *msg)
{
	struct capture *c = ctx;
	int n = diag_format(c->text + c->len, sizeof(c->text) - c->len, sev, file, line, col, msg);

	if (n > 0 && c->len + (size_t)n + 1 < sizeof(c->text)) {
		c->len += (size_t)n;
		c->text[c->len++] = '\n';
		c->text[c->len] = 0;
	}
}

static const struct mapping_source_ops *const kinds[] = { &mb_source_ops, NULL };

/* Load a profile body; returns the loader's result, messages in cap. */
static int load(const char *objects, struct capture *cap, const struct mapping_profile **out)
{
	static struct lwm2m_registry *reg;
	struct mapping_set *set;
	struct diag d = { .fn = capture_fn, .ctx = cap };
	char text[4096];
	const struct mapping_profile *p = NULL;
	int r;

	if (!reg)
		reg = lwm2m_registry_new();
	assert_non_null(reg);
	set = mapping_set_new(reg, kinds, "/nonexistent");
	assert_non_null(set);
	snprintf(text, sizeof(text), "bridge: modbus\nobjects:\n%s", objects);
	memset(cap, 0, sizeof(*cap));
	r = mapping_set_load_buffer(set, "t", "t.yaml", text, strlen(text), &d, &p);
	if (out && r == 0) {
		/* Copy what the test looks at before the set goes. */
		const struct mapping_point *pt = mapping_profile_point(p, 0);
		static struct mb_source src;
		static struct mapping_point copy;
		copy = *pt;
		if (pt->source)
			src = *(const struct mb_source *)pt->source;
		copy.source = pt->source ? &src : NULL;
		copy.write = NULL;
		copy.execute = NULL;
		*out = (const void *)&copy;
	}
	mapping_set_free(set);
	return r;
}

static void test_source_ok(void **state)
{
	struct capture cap;
	const struct mapping_profile *p;
	const struct mapping_point *pt;
	const struct mb_source *s;

	(void)state;
	assert_int_equal(
		load("  /3300/0:\n    5700: {source: {table: input, address: 0x10}, raw: float32, order: "
		     "CDAB}\n",
		     &cap, &p),
		0);
	pt = (const void *)p;
	s = pt->source;
	assert_int_equal(s->table, MB_TABLE_INPUT);
	assert_int_equal(s->addr, 16);
	assert_int_equal(mb_point_count(s, &pt->xf), 2);
	assert_int_equal(
		load("  /3341/0:\n    5527: {source: {table: holding, address: 7}, raw: string, length: 5}\n",
		     &cap, &p),
		0);
	pt = (const void *)p;
	assert_int_equal(mb_point_count(pt->source, &pt->xf), 3);
	assert_int_equal(
		load("  /3/0:\n    4: {execute: {table: coil, address: 3, value: on, pulse: 500ms}}\n"
		     "  /3308/0:\n    5900: {source: {table: input, address: 1}, raw: int16, write: {table: "
		     "holding, address: 2, function: 16, verify: true}}\n",
		     &cap, NULL),
		0);
	assert_int_equal(
		load("  /3201/0:\n    5550: {source: {table: coil, address: 65535}, raw: uint8, writable: "
		     "true}\n",
		     &cap, NULL),
		0);
}

static void expect_error(const char *objects, const char *message)
{
	struct capture cap;
	int r = load(objects, &cap, NULL);

	if (r != -EINVAL || !strstr(cap.text, message)) {
		print_error("load: %d, expected '%s' in:\n%s", r, message, cap.text);
		fail();
	}
}

static void test_source_errors(void **state)
{
	(void)state;
	expect_error("  /3300/0:\n    5700: {source: {table: holdnig, address: 0}, raw: int16}\n",
		     "t.yaml:4:28: modbus: unknown table 'holdnig', did you mean 'holding'?");
	expect_error("  /3300/0:\n    5700: {source: {table: input}, raw: int16}\n",
		     "t.yaml:4:20: modbus: missing key 'address' in source");
	expect_error("  /3300/0:\n    5700: {source: {table: input, address: 65536}, raw: int16}\n",
		     "modbus: invalid address '65536': expected a number from 0 to 65535");
	expect_error("  /3300/0:\n    5700: {source: {table: input, adress: 1}, raw: int16}\n",
		     "modbus: unknown key 'adress' in source, did you mean 'address'?");
	expect_error("  /3300/0:\n    5700: {source: {table: coil, address: 1}, raw: float32}\n",
		     "modbus: a coil is one bit: use raw uint8 (0/1), not float32");
	expect_error("  /3300/0:\n    5700: {source: {table: input, address: 1}, raw: uint8}\n",
		     "modbus: raw uint8 is not whole 16-bit registers");
	expect_error("  /3300/0:\n    5700: {source: {table: input, address: 1}, raw: int24}\n",
		     "modbus: raw int24 is not whole 16-bit registers");
	expect_error("  /3300/0:\n    5700: {source: {table: input, address: 1}}\n",
		     "modbus: registers need a raw layout");
	expect_error("  /3341/0:\n    5527: {source: {table: input, address: 1}, raw: string}\n",
		     "modbus: a string needs 'length'");
	expect_error(
		"  /3308/0:\n    5900: {source: {table: input, address: 1}, raw: int16, writable: true}\n",
		"modbus: writable, but the source is the read-only input table");
	expect_error("  /3308/0:\n    5900: {source: {table: input, address: 1}, raw: int16, write: {table: "
		     "input, "
		     "address: 2}}\n",
		     "modbus: write table 'input' is read-only");
	expect_error(
		"  /3308/0:\n    5900: {source: {table: holding, address: 1}, raw: float32, write: {table: "
		"holding, address: 2, function: 6}}\n",
		"modbus: function 6 writes one register, this point has 2 (use 16)");
	expect_error(
		"  /3308/0:\n    5900: {source: {table: holding, address: 1}, raw: int16, write: {table: "
		"holding, address: 2, function: 5}}\n",
		"modbus: function 5 does not write a holding (use 6 or 16)");
	expect_error("  /3/0:\n    4: {execute: {table: coil, address: 3, value: 2}}\n",
		     "modbus: a coil is written 0 or 1 (true/false), not 2");
	expect_error("  /3/0:\n    4: {execute: {table: coil, address: 3, value: 1, pulse: 0}}\n",
		     "modbus: invalid pulse '0'");
	expect_error("  /3/0:\n    4: {execute: {table: coil, address: 3}}\n",
		     "missing key 'value' in execute");
	expect_error("  /3300/0:\n    5700: {source: {table: holding, address: 65535}, raw: float32}\n",
		     "modbus: 2 registers from address 65535 do not fit one request");
	expect_error("  /3300/0:\n    5700: {source: [holding, 1], raw: int16}\n",
		     "modbus: source must be a mapping such as {table: holding, address: 0}, got a sequence");
}

/* The shipped Modbus profiles load with the real source parser. */
static void test_shipped_profiles(void **state)
{
	static const char *const names[] = { "example", "eastron-sdm120", "xy-md02" };
	const char *src = getenv("FG_SOURCE_DIR");
	struct lwm2m_registry *reg = lwm2m_registry_new();
	char path[1024];
	struct capture cap = { 0 };
	struct diag d = { .fn = capture_fn, .ctx = &cap };
	struct mapping_set *set;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/mappings/profiles", src);
	set = mapping_set_new(reg, kinds, path);
	assert_non_null(set);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct mapping_profile *p;
		int r = mapping_set_get(set, names[i], NULL, &d, &p);
		if (r != 0) {
			print_error("%s: %d\n%s", names[i], r, cap.text);
			fail();
		}
		assert_string_equal(mapping_profile_bridge(p), "modbus");
	}
	{
		/* SDM120 energy: input 0x156, float32, kWh -> Wh. */
		const struct mapping_profile *p;
		const struct mapping_point *pt;
		const struct mb_source *s;
		assert_int_equal(mapping_set_get(set, "eastron-sdm120", NULL, &d, &p), 0);
		pt = mapping_profile_find(p, &LWM2M_PATH(3305, 0, 5805));
		assert_non_null(pt);
		s = pt->source;
		assert_int_equal(s->table, MB_TABLE_INPUT);
		assert_int_equal(s->addr, 0x156);
		assert_int_equal(mb_point_count(s, &pt->xf), 2);
	}
	mapping_set_free(set);
	lwm2m_registry_free(reg);
}

/* ---- bus body and device address -------------------------------------------------------------------- */

static int verify_text(const char *text, bool address, struct capture *cap)
{
	struct diag d = { .fn = capture_fn, .ctx = cap };
	struct schema_ctx ctx = { .diag = &d };
	struct ydoc *doc;
	struct mb_addr a;
	int r;

	memset(cap, 0, sizeof(*cap));
	assert_int_equal(ydoc_load_buffer("c.yaml", text, strlen(text), NULL, &d, &doc), 0);
	r = address ? mb_addr_parse(&ctx, ydoc_root(doc), &a) : mb_conf_verify(&ctx, ydoc_root(doc));
	if (r == 0 && !address) {
		struct mb_conf c;
		assert_int_equal(mb_conf_parse(ydoc_root(doc), &c), 0);
	}
	ydoc_free(doc);
	return r;
}

static void expect_conf(const char *text, bool address, const char *message)
{
	struct capture cap;
	int r = verify_text(text, address, &cap);

	if (message ? r != -EINVAL || !strstr(cap.text, message) : r != 0) {
		print_error("verify: %d, expected '%s' in:\n%s", r, message ? message : "(nothing)",
			    cap.text);
		fail();
	}
}

static void test_conf(void **state)
{
	struct capture cap;
	struct ydoc *doc;
	struct diag d = { 0 };
	struct mb_conf c;
	const char *ok =
		"type: modbus\nserial: {device: /dev/serial/by-id/usb-FTDI-if00, baud: 19200, parity: even, "
		"rs485: true}\ntimeout: 250ms\nmax_gap: 0\nrequest_gap: 20ms\n";

	(void)state;
	expect_conf("type: modbus\ntcp: {host: 10.0.0.5}\n", false, NULL);
	expect_conf(ok, false, NULL);
	assert_int_equal(ydoc_load_buffer("c.yaml", ok, strlen(ok), NULL, &d, &doc), 0);
	assert_int_equal(mb_conf_parse(ydoc_root(doc), &c), 0);
	assert_true(c.has_serial && !c.has_tcp);
	assert_int_equal(c.serial.baud, 19200);
	assert_int_equal(c.serial.parity, MB_PARITY_EVEN);
	assert_int_equal(c.serial.data_bits, 8);
	assert_true(c.serial.rs485);
	assert_int_equal(c.timeout_usec, 250000);
	assert_int_equal(c.max_gap, 0);
	assert_int_equal(c.max_registers, 125);
	assert_true(c.coalesce);
	assert_int_equal(c.request_gap_usec, 20000);
	assert_int_equal(c.unreachable_after_usec, 30000000); /* the default */
	ydoc_free(doc);
	expect_conf("type: modbus\ntcp: {host: a}\nrequest_gap: 2s\n", false,
		    "c.yaml:3:14: duration '2s' for 'request_gap' is out of range (0..1s)");
	expect_conf("type: modbus\ntcp: {host: a}\nunreachable_after: 0\n", false, NULL);
	expect_conf("type: modbus\ntcp: {host: a}\nunreachable_after: 2d\n", false,
		    "c.yaml:3:20: duration '2d' for 'unreachable_after' is out of range (0..1d)");
	expect_conf("type: modbus\ntcp: {host: a}\nunreachable_after: soon\n", false, "c.yaml:3:20: ");

	expect_conf("type: modbus\n", false, "needs exactly one of 'tcp' ({host, port}) or 'serial'");
	expect_conf("type: modbus\ntcp: {host: a}\nserial: {device: /dev/ttyS0}\n", false,
		    "c.yaml:3:9: modbus: the top level needs exactly one of");
	expect_conf("type: modbus\nserial: {device: ttyUSB0}\n", false,
		    "c.yaml:2:18: modbus: serial device 'ttyUSB0' must be an absolute path, best "
		    "/dev/serial/by-id/");
	expect_conf("type: modbus\nserial: {device: /dev/ttyS0, baud: 9601}\n", false,
		    "modbus: unsupported baud rate 9601");
	expect_conf("type: modbus\nserial: {device: /dev/ttyS0, parity: mark}\n", false, "parity");
	expect_conf("type: modbus\ntcp: {host: a, port: 0}\n", false, "port");
	expect_conf("type: modbus\ntcp: {host: a}\ntimeot: 1s\n", false, "did you mean 'timeout'?");
	expect_conf("type: modbus\ntcp: {host: a}\nbackoff_min: 10s\nbackoff_max: 1s\n", false,
		    "c.yaml:4:14: modbus: backoff_max must not be below backoff_min");
	expect_conf("type: modbus\ntcp: {host: a}\nmax_registers: 126\n", false, "max_registers");

	expect_conf("3", true, NULL);
	expect_conf("0x10", true, NULL);
	expect_conf("{unit: 247, timeout: 200ms, max_gap: 0, max_registers: 60}", true, NULL);
	expect_conf("256", true,
		    "c.yaml:1:1: modbus: invalid address '256': expected a unit id from 0 to 255");
	expect_conf("-1", true, "invalid address '-1'");
	expect_conf("{unit: 3, tmeout: 1s}", true, "did you mean 'timeout'?");
	expect_conf("{timeout: 1s}", true, "unit");
	expect_conf("[1, 2]", true, "the address must be a unit id or a mapping with 'unit', got a sequence");
	(void)cap;
}

/* The silence that ends an RTU frame: 3.5 characters of 1 start, the data
 * bits, parity and stop bits; 1750 us above 19200 baud. */
static void test_rtu_silence(void **state)
{
	(void)state;
	assert_int_equal(mb_rtu_silence_usec(9600, 8, false, 1), 3646);  /* 35 bits / 9600 */
	assert_int_equal(mb_rtu_silence_usec(9600, 8, true, 1), 4011);   /* 38.5 bits */
	assert_int_equal(mb_rtu_silence_usec(19200, 8, false, 2), 2006); /* 38.5 bits, rounded up */
	assert_int_equal(mb_rtu_silence_usec(1200, 7, true, 1), 29167);
	assert_int_equal(mb_rtu_silence_usec(38400, 8, false, 1), 1750);
	assert_int_equal(mb_rtu_silence_usec(115200, 8, true, 2), 1750);
}

/* libmodbus's errno -> the bridge's errno, and what it says about the
 * unit: 01..03 a refusal of one request (the unit works), 04..08, CRC
 * errors and answers to another request failures, 0A/0B and timeouts the
 * unit out of reach. */
static void test_errno(void **state)
{
	static const struct {
		int mb, err, exc;
		enum mb_outcome out;
	} v[] = {
		{ EMBXILFUN, -EPERM, 1, MB_OUT_REFUSED },
		{ EMBXILADD, -ENOENT, 2, MB_OUT_REFUSED },
		{ EMBXILVAL, -EINVAL, 3, MB_OUT_REFUSED },
		{ EMBXSFAIL, -EIO, 4, MB_OUT_FAILED },
		{ EMBXACK, -EAGAIN, 5, MB_OUT_FAILED },
		{ EMBXSBUSY, -EBUSY, 6, MB_OUT_FAILED },
		{ EMBXNACK, -EIO, 7, MB_OUT_FAILED },
		{ EMBXMEMPAR, -EIO, 8, MB_OUT_FAILED },
		{ EMBXGPATH, -EHOSTUNREACH, 10, MB_OUT_UNREACHABLE },
		{ EMBXGTAR, -ETIMEDOUT, 11, MB_OUT_TIMEOUT },
		{ ETIMEDOUT, -ETIMEDOUT, 0, MB_OUT_TIMEOUT },
		{ EMBBADCRC, -EIO, 0, MB_OUT_FAILED },
		{ ECONNRESET, -EHOSTUNREACH, 0, MB_OUT_UNREACHABLE },
		{ EMBBADDATA, -EIO, 0, MB_OUT_FAILED },  /* wrong transaction id, function, length */
		{ EMBBADSLAVE, -EIO, 0, MB_OUT_FAILED }, /* RTU: another unit answered */
		{ EMBBADEXC, -EIO, 0, MB_OUT_FAILED },   /* an exception code Modbus does not define */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct mb_job j = { 0 };
		j.err = mb_errno(v[i].mb, &j);
		assert_int_equal(j.err, v[i].err);
		assert_int_equal(j.exc, v[i].exc);
		assert_int_equal(mb_job_outcome(&j), v[i].out);
	}
	{
		struct mb_job j = { 0 };
		mb_errno(EMBBADCRC, &j);
		assert_true(j.crc && !j.bad);
		mb_errno(ETIMEDOUT, &j);
		assert_true(j.timeout);
	}
	{
		struct mb_job j = { 0 };
		mb_errno(EMBBADDATA, &j);
		assert_true(j.bad && !j.crc && !j.timeout);
	}
	{
		/* Never sent: no news about the unit. */
		struct mb_job dropped = { .err = -ETIMEDOUT }, cancelled = { .err = -ECANCELED };
		struct mb_job down = { .err = -EHOSTUNREACH, .link_down = true }, ok = { 0 };
		struct mb_job differs = { .err = -EIO, .mismatch = true };
		assert_int_equal(mb_job_outcome(&dropped), MB_OUT_DROPPED);
		assert_int_equal(mb_job_outcome(&cancelled), MB_OUT_DROPPED);
		assert_int_equal(mb_job_outcome(&down), MB_OUT_UNREACHABLE);
		assert_int_equal(mb_job_outcome(&ok), MB_OUT_OK);
		assert_int_equal(mb_job_outcome(&differs), MB_OUT_REFUSED);
	}
	assert_true(mb_errno_is_link(ECONNRESET));
	assert_true(mb_errno_is_link(EIO));
	assert_false(mb_errno_is_link(ETIMEDOUT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_contiguous_and_gaps),
		cmocka_unit_test(test_plan_limits),
		cmocka_unit_test(test_plan_overlap),
		cmocka_unit_test(test_plan_learn_split),
		cmocka_unit_test(test_source_ok),
		cmocka_unit_test(test_source_errors),
		cmocka_unit_test(test_shipped_profiles),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_rtu_silence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
