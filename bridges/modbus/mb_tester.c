/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `fieldgate profile test` for Modbus profiles (bridge_tester): registers
 * captured on the command line (--registers TABLE:ADDR=HEX, repeated) read
 * by each point's source exactly as the bridge reads them (wire order,
 * register after register), writes shown as the Modbus requests they would
 * be, and a SunSpec profile made of a captured SunSpec map.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "bridges/modbus/mb_source.h"
#include "bridges/modbus/sunspec.h"

#define MAX_BLOCKS 256

struct block {
	uint8_t table;
	uint32_t addr;
	uint16_t *v;
	size_t n;
};

struct bridge_capture {
	struct block b[MAX_BLOCKS];
	size_t n;
};

static const struct bridge_tester_opt opts[] = {
	{ "--registers", 1, "TABLE:ADDR=HEX",
	  "registers from ADDR on (holding, input: 4 hex digits each; coil, discrete: 0 or 1 each)" },
	{ NULL, 0, NULL, NULL },
};

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

static int capture(struct bridge_capture **cap, const char *opt, char *const *args, char *why,
		   size_t why_size)
{
	static const char *const tables[] = { "coil", "discrete", "input", "holding" };
	struct bridge_capture *c = *cap;
	const char *s = args[0], *colon = strchr(s, ':'), *eq = colon ? strchr(colon, '=') : NULL;
	struct block *bl;
	unsigned long addr;
	char *end;
	int t = -1;

	(void)opt;
	if (!c && !(c = *cap = calloc(1, sizeof(*c))))
		return -ENOMEM;
	for (int i = 0; colon && i < 4; i++)
		if ((size_t)(colon - s) == strlen(tables[i]) &&
		    strncmp(s, tables[i], (size_t)(colon - s)) == 0)
			t = i;
	if (t < 0 || !eq) {
		snprintf(why, why_size,
			 "'%s': expected TABLE:ADDR=HEX, TABLE one of coil, discrete, input, holding", s);
		return -EINVAL;
	}
	errno = 0;
	addr = strtoul(colon + 1, &end, 0);
	if (errno || end != eq || end == colon + 1 || addr > 65535) {
		snprintf(why, why_size, "'%s': the address must be 0..65535 (decimal or 0x hex)", s);
		return -EINVAL;
	}
	if (c->n >= MAX_BLOCKS) {
		snprintf(why, why_size, "at most %d --registers", MAX_BLOCKS);
		return -EINVAL;
	}
	bl = &c->b[c->n];
	*bl = (struct block){ .table = (uint8_t)t,
			      .addr = (uint32_t)addr,
			      .v = calloc(strlen(eq) + 1, sizeof(uint16_t)) };
	if (!bl->v)
		return -ENOMEM;
	/* Registers: 4 hex digits each; bits: one 0/1 each; blanks, '_' and
	 * ':' between them are ignored. */
	for (const char *p = eq + 1; *p;) {
		unsigned w = 0;
		int digits = mb_table_is_bits((enum mb_table)t) ? 1 : 4;
		if (*p == ' ' || *p == '_' || *p == ':') {
			p++;
			continue;
		}
		for (int k = 0; k < digits; k++, p++) {
			int h = *p ? hexval(*p) : -1;
			if (h < 0 || (digits == 1 && h > 1)) {
				snprintf(why, why_size, "'%s': %s", s,
					 digits == 1 ? "coils and discrete inputs are 0 or 1 each"
						     : "registers are 4 hex digits each (0000..ffff)");
				free(bl->v);
				return -EINVAL;
			}
			w = w << 4 | (unsigned)h;
		}
		bl->v[bl->n++] = (uint16_t)w;
	}
	if (bl->n == 0 || addr + bl->n > 65536) {
		snprintf(why, why_size, "'%s': no values, or past address 65535", s);
		free(bl->v);
		return -EINVAL;
	}
	c->n++;
	return 0;
}

static void capture_free(struct bridge_capture *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->b[i].v);
	free(c);
}

/* The captured value of one register or bit, -1 when none; later
 * --registers win. */
static int reg(const struct bridge_capture *c, uint8_t table, uint32_t addr)
{
	for (size_t i = c ? c->n : 0; i-- > 0;)
		if (c->b[i].table == table && addr >= c->b[i].addr && addr - c->b[i].addr < c->b[i].n)
			return c->b[i].v[addr - c->b[i].addr];
	return -1;
}

static int sample(struct bridge_capture *c, const struct mapping_point *pt, const char *address,
		  struct mapping_sample *out, uint64_t *time_usec, char *why, size_t why_size)
{
	static uint8_t buf[2 * 125]; /* valid until the next call, as the contract allows */
	const struct mb_source *src = pt->source;
	unsigned n;

	(void)address;
	*time_usec = 0;
	if (!src) {
		snprintf(why, why_size, "no source");
		return -ENOENT;
	}
	n = mb_point_count(src, &pt->xf);
	if (n == 0 || n > 125)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		int v = reg(c, src->table, src->addr + i);
		if (v < 0) {
			snprintf(why, why_size, "no --registers %s:%u",
				 mb_table_name((enum mb_table)src->table), src->addr + i);
			return -ENOENT;
		}
		if (mb_table_is_bits((enum mb_table)src->table))
			buf[i] = (uint8_t)v;
		else {
			buf[2 * i] = (uint8_t)(v >> 8);
			buf[2 * i + 1] = (uint8_t)v;
		}
	}
	*out = (struct mapping_sample){ .kind = MAPPING_SAMPLE_BYTES,
					.bytes = buf,
					.len = mb_table_is_bits((enum mb_table)src->table) ? n : 2 * n };
	return 0;
}

static int describe(struct bridge_capture *c, const struct mapping_point *pt, const char *address,
		    const struct mapping_sample *s, const char *args, char *buf, size_t size)
{
	const struct mb_source *w = s ? (pt->write ? pt->write : pt->source) : pt->execute;
	size_t o = 0;
	unsigned fn;

	(void)c;
	(void)address;
	(void)args;
	if (!w || (s && (w->table == MB_TABLE_INPUT || w->table == MB_TABLE_DISCRETE))) {
		snprintf(buf, size, "nothing: the point has no %s", s ? "writable source" : "execute");
		return -EPERM;
	}
	if (!s) {
		snprintf(buf, size, "write %s %u = %u%s", mb_table_name((enum mb_table)w->table), w->addr,
			 w->value, w->pulse_usec ? ", then the off value after the pulse" : "");
		return 0;
	}
	if (mb_table_is_bits((enum mb_table)w->table)) {
		bool on = false;
		for (size_t i = 0; i < s->len; i++)
			on |= s->bytes[i] != 0;
		fn = w->function ? w->function : 5;
		snprintf(buf, size, "write coil %u = %d (function %02u)", w->addr, on, fn);
		return 0;
	}
	fn = w->function ? w->function : s->len == 2 ? 6 : 16;
	o += (size_t)snprintf(buf + o, size - o, "%swrite holding %u (function %02u):",
			      pt->xf.raw == MAPPING_RAW_BITS || pt->xf.bits ? "read-modify-" : "", w->addr,
			      fn);
	for (size_t i = 0; i < s->len && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%02x", i % 2 ? "" : " ", s->bytes[i]);
	return 0;
}

static int image_read(void *ud, uint32_t addr)
{
	return reg(ud, MB_TABLE_HOLDING, addr);
}

static int generate(struct bridge_capture *c, const char *what,
		    int (*fn)(void *ud, const struct bridge_generated *g), void *ud, char *why,
		    size_t why_size)
{
	struct sunspec_walk *w;
	char *text = NULL, *name = NULL, *unknown = NULL;
	size_t len;
	int r;

	if (!what || strcmp(what, "sunspec") != 0) {
		snprintf(why, why_size, "Modbus bridges generate 'sunspec' only");
		return -ENOTSUP;
	}
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	sunspec_walk_init(w, 125);
	(void)sunspec_walk_image(w, image_read, c);
	r = sunspec_profile(w, &text, &len, &name, &unknown);
	if (r < 0) {
		snprintf(why, why_size, "SunSpec: %s (the --registers hold no complete map)",
			 unknown ? unknown : strerror(-r));
		r = r == -ENOENT ? -EINVAL : r;
	} else {
		struct bridge_generated g = {
			.name = name, .text = text, .len = len, .skipped = unknown[0] ? unknown : NULL
		};
		char note[400];
		if (unknown[0]) {
			snprintf(note, sizeof(note), "models %s", unknown);
			g.skipped = note;
		}
		r = fn(ud, &g) < 0 ? 0 : 1;
	}
	free(text);
	free(name);
	free(unknown);
	free(w);
	return r;
}

const struct bridge_tester mb_tester = {
	.opts = opts,
	.capture = capture,
	.capture_free = capture_free,
	.sample = sample,
	.describe = describe,
	.generate = generate,
};
