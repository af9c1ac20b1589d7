/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SunSpec: walking the model chain and the profile of what it holds
 * (sunspec.h). The point tables below are facts of the SunSpec Information
 * Model (sunspec/models, json/model_1.json, model_101..103, 111..113, 160,
 * 201..204): each point's offset from its model's ID register, its type and
 * its scale factor's offset; the LwM2M side is this project's choice.
 */
#include "bridges/modbus/sunspec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the walk ---------------------------------------------------------------------- */

static const uint32_t bases[] = { 40000, 0, 50000 };

void sunspec_walk_init(struct sunspec_walk *w, unsigned max_read)
{
	memset(w, 0, sizeof(*w));
	w->max_read = (uint16_t)(max_read < 1 ? 1 : max_read > 125 ? 125 : max_read);
	w->state = SUNSPEC_HEADER;
}

static bool mapped_model(uint16_t id);

int sunspec_walk_next(const struct sunspec_walk *w, uint32_t *addr, uint16_t *count)
{
	switch (w->state) {
	case SUNSPEC_HEADER:
		*addr = bases[w->base_i];
		*count = 2;
		return 1;
	case SUNSPEC_CHAIN:
		*addr = w->at;
		*count = 2;
		return 1;
	case SUNSPEC_BODY: {
		const struct sunspec_model *m = &w->m[w->n - 1];
		uint32_t end = m->addr + 2u + m->len;
		*addr = w->at;
		*count = (uint16_t)(end - w->at < w->max_read ? end - w->at : w->max_read);
		return 1;
	}
	default:
		return 0;
	}
}

static int failed(struct sunspec_walk *w, const char *why)
{
	w->state = SUNSPEC_FAILED;
	snprintf(w->why, sizeof(w->why), "%s", why);
	return -EIO;
}

/* After a model (its header, and its body when mapped): the next one. */
static int next_model(struct sunspec_walk *w)
{
	const struct sunspec_model *m = &w->m[w->n - 1];

	w->at = m->addr + 2u + m->len;
	if (w->at + 2u > 65536u)
		return failed(w, "the model chain runs past register 65535 without an end (0xFFFF)");
	w->state = SUNSPEC_CHAIN;
	return 0;
}

int sunspec_walk_feed(struct sunspec_walk *w, const uint16_t *regs, uint16_t count, int err)
{
	uint32_t want;
	uint16_t n;

	if (sunspec_walk_next(w, &want, &n) == 0)
		return w->state == SUNSPEC_DONE ? 1 : -EIO;
	if (err == -ENOENT || err == -EINVAL) {
		/* The device refuses these registers. */
		if (w->state == SUNSPEC_HEADER) {
			if (++w->base_i < sizeof(bases) / sizeof(bases[0]))
				return 0;
			return failed(w, "no SunSpec map: registers 40000, 0 and 50000 do not exist");
		}
		return failed(w, "the device refuses registers of its own model chain");
	}
	if (err < 0)
		return err;
	if (!regs || count != n)
		return failed(w, "the device answered with fewer registers than asked");
	switch (w->state) {
	case SUNSPEC_HEADER:
		if (regs[0] == 0x5375 && regs[1] == 0x6e53) {
			w->base = want;
			w->at = want + 2;
			w->state = SUNSPEC_CHAIN;
			return 0;
		}
		if (++w->base_i < sizeof(bases) / sizeof(bases[0]))
			return 0;
		return failed(w, "no SunSpec map: no \"SunS\" at 40000, 0 or 50000");
	case SUNSPEC_CHAIN: {
		struct sunspec_model *m;
		if (regs[0] == 0xFFFF) {
			w->state = SUNSPEC_DONE;
			return 1;
		}
		if (w->n >= SUNSPEC_MAX_MODELS)
			return failed(w, "more than 64 models without an end (0xFFFF)");
		m = &w->m[w->n++];
		*m = (struct sunspec_model){ .id = regs[0], .len = regs[1], .addr = want };
		if (regs[0] == 0 || (uint32_t)want + 2u + regs[1] > 65536u)
			return failed(w,
				      "a model header that makes no sense (ID 0, or beyond register 65535)");
		m->mapped = mapped_model(m->id) && w->nregs + 2u + m->len <= SUNSPEC_MAX_REGS;
		if (!m->mapped || m->len == 0)
			return next_model(w);
		m->regs = (uint32_t)w->nregs;
		w->regs[w->nregs++] = regs[0];
		w->regs[w->nregs++] = regs[1];
		w->at = want + 2;
		w->state = SUNSPEC_BODY;
		return 0;
	}
	case SUNSPEC_BODY: {
		const struct sunspec_model *m = &w->m[w->n - 1];
		memcpy(&w->regs[w->nregs], regs, (size_t)count * sizeof(*regs));
		w->nregs += count;
		w->at = want + count;
		if (w->at >= m->addr + 2u + m->len)
			return next_model(w);
		return 0;
	}
	default:
		return -EIO;
	}
}

int sunspec_walk_image(struct sunspec_walk *w, int (*read)(void *ud, uint32_t addr), void *ud)
{
	uint16_t buf[125];
	uint32_t addr;
	uint16_t count;
	int r = 0;

	while (sunspec_walk_next(w, &addr, &count)) {
		int err = 0;
		for (uint16_t i = 0; i < count && !err; i++) {
			int v = addr + i < 65536u ? read(ud, addr + i) : -1;
			if (v < 0)
				err = -ENOENT;
			else
				buf[i] = (uint16_t)v;
		}
		r = sunspec_walk_feed(w, err ? NULL : buf, err ? 0 : count, err);
		if (r != 0)
			break;
	}
	return r < 0 ? r : 0;
}

/* ---- the point tables ---------------------------------------------------------------- */

enum pt_type { T_U16, T_I16, T_ACC32, T_U32, T_F32, T_ENUM16 };

/* One SunSpec point and the resource it becomes. Points of one model with
 * the same group share one instance of their object (a Power Measurement
 * with its power, reactive power, power factor and energy); group 0: an
 * instance of its own, named by the point in 5750. */
struct ss_point {
	uint16_t off;
	uint8_t type;
	int16_t sf; /* offset of its scale factor register, -1 none */
	const char *name;
	uint16_t oid, rid;
	uint8_t group;
	const char *unit; /* 5701 */
	double factor;    /* an extra factor (Pct -> ratio), 0: none */
};

/* Inverters with integer values and scale factors: 101 single phase, 102
 * split phase, 103 three phase (one layout). */
static const struct ss_point inverter_int[] = {
	{ 2, T_U16, 6, "A", 3317, 5700, 0, "A", 0 },
	{ 3, T_U16, 6, "AphA", 3317, 5700, 0, "A", 0 },
	{ 4, T_U16, 6, "AphB", 3317, 5700, 0, "A", 0 },
	{ 5, T_U16, 6, "AphC", 3317, 5700, 0, "A", 0 },
	{ 7, T_U16, 13, "PPVphAB", 3316, 5700, 0, "V", 0 },
	{ 8, T_U16, 13, "PPVphBC", 3316, 5700, 0, "V", 0 },
	{ 9, T_U16, 13, "PPVphCA", 3316, 5700, 0, "V", 0 },
	{ 10, T_U16, 13, "PhVphA", 3316, 5700, 0, "V", 0 },
	{ 11, T_U16, 13, "PhVphB", 3316, 5700, 0, "V", 0 },
	{ 12, T_U16, 13, "PhVphC", 3316, 5700, 0, "V", 0 },
	{ 14, T_I16, 15, "W", 3305, 5800, 1, NULL, 0 },
	{ 16, T_U16, 17, "Hz", 3318, 5700, 0, "Hz", 0 },
	{ 18, T_I16, 19, "VA", 3328, 5700, 0, "VA", 0 },
	{ 20, T_I16, 21, "VAr", 3305, 5810, 1, NULL, 0 },
	{ 22, T_I16, 23, "PF", 3305, 5820, 1, NULL, 0.01 },
	{ 24, T_ACC32, 26, "WH", 3305, 5805, 1, NULL, 0 },
	{ 27, T_U16, 28, "DCA", 3317, 5700, 0, "A", 0 },
	{ 29, T_U16, 30, "DCV", 3316, 5700, 0, "V", 0 },
	{ 31, T_I16, 32, "DCW", 3328, 5700, 0, "W", 0 },
	{ 33, T_I16, 37, "TmpCab", 3303, 5700, 0, "Cel", 0 },
	{ 34, T_I16, 37, "TmpSnk", 3303, 5700, 0, "Cel", 0 },
	{ 35, T_I16, 37, "TmpTrns", 3303, 5700, 0, "Cel", 0 },
	{ 36, T_I16, 37, "TmpOt", 3303, 5700, 0, "Cel", 0 },
	{ 38, T_ENUM16, -1, "St", 3306, 5853, 0, NULL, 0 },
};

/* The same with float32 values: 111, 112, 113. */
static const struct ss_point inverter_float[] = {
	{ 2, T_F32, -1, "A", 3317, 5700, 0, "A", 0 },
	{ 4, T_F32, -1, "AphA", 3317, 5700, 0, "A", 0 },
	{ 6, T_F32, -1, "AphB", 3317, 5700, 0, "A", 0 },
	{ 8, T_F32, -1, "AphC", 3317, 5700, 0, "A", 0 },
	{ 10, T_F32, -1, "PPVphAB", 3316, 5700, 0, "V", 0 },
	{ 12, T_F32, -1, "PPVphBC", 3316, 5700, 0, "V", 0 },
	{ 14, T_F32, -1, "PPVphCA", 3316, 5700, 0, "V", 0 },
	{ 16, T_F32, -1, "PhVphA", 3316, 5700, 0, "V", 0 },
	{ 18, T_F32, -1, "PhVphB", 3316, 5700, 0, "V", 0 },
	{ 20, T_F32, -1, "PhVphC", 3316, 5700, 0, "V", 0 },
	{ 22, T_F32, -1, "W", 3305, 5800, 1, NULL, 0 },
	{ 24, T_F32, -1, "Hz", 3318, 5700, 0, "Hz", 0 },
	{ 26, T_F32, -1, "VA", 3328, 5700, 0, "VA", 0 },
	{ 28, T_F32, -1, "VAr", 3305, 5810, 1, NULL, 0 },
	{ 30, T_F32, -1, "PF", 3305, 5820, 1, NULL, 0.01 },
	{ 32, T_F32, -1, "WH", 3305, 5805, 1, NULL, 0 },
	{ 34, T_F32, -1, "DCA", 3317, 5700, 0, "A", 0 },
	{ 36, T_F32, -1, "DCV", 3316, 5700, 0, "V", 0 },
	{ 38, T_F32, -1, "DCW", 3328, 5700, 0, "W", 0 },
	{ 40, T_F32, -1, "TmpCab", 3303, 5700, 0, "Cel", 0 },
	{ 42, T_F32, -1, "TmpSnk", 3303, 5700, 0, "Cel", 0 },
	{ 44, T_F32, -1, "TmpTrns", 3303, 5700, 0, "Cel", 0 },
	{ 46, T_F32, -1, "TmpOt", 3303, 5700, 0, "Cel", 0 },
	{ 48, T_ENUM16, -1, "St", 3306, 5853, 0, NULL, 0 },
};

/* Meters 201 (single phase), 202 (split phase), 203 (three phase wye),
 * 204 (three phase delta): one layout. Import energy is the Power
 * Measurement's cumulative energy; export goes to an Energy object. */
static const struct ss_point meter[] = {
	{ 2, T_I16, 6, "A", 3317, 5700, 0, "A", 0 },
	{ 3, T_I16, 6, "AphA", 3317, 5700, 0, "A", 0 },
	{ 4, T_I16, 6, "AphB", 3317, 5700, 0, "A", 0 },
	{ 5, T_I16, 6, "AphC", 3317, 5700, 0, "A", 0 },
	{ 7, T_I16, 15, "PhV", 3316, 5700, 0, "V", 0 },
	{ 8, T_I16, 15, "PhVphA", 3316, 5700, 0, "V", 0 },
	{ 9, T_I16, 15, "PhVphB", 3316, 5700, 0, "V", 0 },
	{ 10, T_I16, 15, "PhVphC", 3316, 5700, 0, "V", 0 },
	{ 11, T_I16, 15, "PPV", 3316, 5700, 0, "V", 0 },
	{ 16, T_I16, 17, "Hz", 3318, 5700, 0, "Hz", 0 },
	{ 18, T_I16, 22, "W", 3305, 5800, 1, NULL, 0 },
	{ 19, T_I16, 22, "WphA", 3328, 5700, 0, "W", 0 },
	{ 20, T_I16, 22, "WphB", 3328, 5700, 0, "W", 0 },
	{ 21, T_I16, 22, "WphC", 3328, 5700, 0, "W", 0 },
	{ 23, T_I16, 27, "VA", 3328, 5700, 0, "VA", 0 },
	{ 28, T_I16, 32, "VAR", 3305, 5810, 1, NULL, 0 },
	{ 33, T_I16, 37, "PF", 3305, 5820, 1, NULL, 0.01 },
	{ 46, T_ACC32, 54, "TotWhImp", 3305, 5805, 1, NULL, 0 },
	{ 38, T_ACC32, 54, "TotWhExp", 3331, 5700, 0, "Wh", 0 },
};

/* MPPT (160): scale factors in the fixed part, N modules of 20 registers
 * from offset 10; offsets here are a module's. */
#define MPPT_N      8
#define MPPT_FIRST  10
#define MPPT_MODULE 20
#define MPPT_IDSTR  1
static const struct ss_point mppt_module[] = {
	{ 9, T_U16, 2, "DCA", 3317, 5700, 0, "A", 0 },     { 10, T_U16, 3, "DCV", 3316, 5700, 0, "V", 0 },
	{ 11, T_U16, 4, "DCW", 3328, 5700, 0, "W", 0 },    { 12, T_ACC32, 5, "DCWH", 3331, 5700, 0, "Wh", 0 },
	{ 16, T_I16, -1, "Tmp", 3303, 5700, 0, "Cel", 0 },
};

/* Operating state of the inverter models (St). */
static const char *const inverter_states[] = { NULL,        "OFF",           "SLEEPING", "STARTING", "MPPT",
					       "THROTTLED", "SHUTTING_DOWN", "FAULT",    "STANDBY" };

static const struct {
	uint16_t id;
	const char *what;
	const struct ss_point *pts;
	size_t n;
} models[] = {
	{ 101, "inverter, single phase", inverter_int, sizeof(inverter_int) / sizeof(inverter_int[0]) },
	{ 102, "inverter, split phase", inverter_int, sizeof(inverter_int) / sizeof(inverter_int[0]) },
	{ 103, "inverter, three phase", inverter_int, sizeof(inverter_int) / sizeof(inverter_int[0]) },
	{ 111, "inverter, single phase, float", inverter_float,
	  sizeof(inverter_float) / sizeof(inverter_float[0]) },
	{ 112, "inverter, split phase, float", inverter_float,
	  sizeof(inverter_float) / sizeof(inverter_float[0]) },
	{ 113, "inverter, three phase, float", inverter_float,
	  sizeof(inverter_float) / sizeof(inverter_float[0]) },
	{ 201, "meter, single phase", meter, sizeof(meter) / sizeof(meter[0]) },
	{ 202, "meter, split phase", meter, sizeof(meter) / sizeof(meter[0]) },
	{ 203, "meter, three phase wye", meter, sizeof(meter) / sizeof(meter[0]) },
	{ 204, "meter, three phase delta", meter, sizeof(meter) / sizeof(meter[0]) },
};

static bool mapped_model(uint16_t id)
{
	if (id == 1 || id == 160)
		return true;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (models[i].id == id)
			return true;
	return false;
}

/* ---- the profile ---------------------------------------------------------------------- */

struct gen {
	FILE *f;
	const struct sunspec_walk *w;
	struct {
		uint16_t oid, next;
	} ins[32];
	size_t nins;
	unsigned mapped;
};

static int next_instance(struct gen *G, uint16_t oid)
{
	for (size_t i = 0; i < G->nins; i++)
		if (G->ins[i].oid == oid)
			return G->ins[i].next++;
	if (G->nins >= sizeof(G->ins) / sizeof(G->ins[0]))
		return -1;
	G->ins[G->nins].oid = oid;
	G->ins[G->nins++].next = 1;
	return 0;
}

/* A register of a mapped model (its offset from the ID register). */
static uint16_t reg(const struct gen *G, const struct sunspec_model *m, unsigned off)
{
	return off < 2u + m->len ? G->w->regs[m->regs + off] : 0xFFFF;
}

/* The device's text as YAML: printable ASCII, trailing NULs and blanks gone. */
static void text_const(struct gen *G, unsigned rid, const struct sunspec_model *m, unsigned off,
		       unsigned nregs)
{
	char s[64];
	size_t n = 0;

	for (unsigned i = 0; i < nregs && n + 2 < sizeof(s); i++) {
		uint16_t v = reg(G, m, off + i);
		s[n++] = (char)(v >> 8);
		s[n++] = (char)(v & 0xff);
	}
	while (n > 0 && (s[n - 1] == '\0' || s[n - 1] == ' '))
		n--;
	if (n == 0)
		return;
	fprintf(G->f, "    %u: { const: \"", rid);
	for (size_t i = 0; i < n; i++)
		fputc(s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?', G->f);
	fprintf(G->f, "\" }\n");
}

/* The shortest text that reads back as d (0.1, not 0.10000000000000001;
 * a whole number without an exponent: 10, not 1e+01). */
static const char *num(double d, char buf[32])
{
	if (fabs(d) < 1e15 && d == trunc(d)) {
		snprintf(buf, 32, "%.0f", d);
		return buf;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return buf;
}

static bool not_implemented(uint8_t type, uint32_t v)
{
	switch (type) {
	case T_U16:
	case T_ENUM16:
		return v == 0xFFFF;
	case T_I16:
		return v == 0x8000;
	case T_U32:
		return v == 0xFFFFFFFFu;
	case T_F32:
		return (v & 0x7f800000u) == 0x7f800000u; /* NaN (0x7FC00000) or infinite */
	default:
		return false; /* acc32: 0 is also a count */
	}
}

/* The resource lines of one point at absolute register addr (its value
 * raw at the walk: v), scale 10^sf. */
static void point_lines(struct gen *G, const struct ss_point *p, uint32_t addr, int sf)
{
	static const char *const raw[] = { "uint16", "int16", "uint32", "uint32", "float32", "uint16" };
	double scale = pow(10.0, sf) * (p->factor ? p->factor : 1);

	/* In hex: SunSpec's zero-based 40000s are meant, not the manuals' 4x
	 * notation the loader warns of for a decimal 30001..49999. */
	fprintf(G->f, "    %u:\n      source: { table: holding, address: 0x%04X }  # %u\n      raw: %s\n",
		p->rid, addr, addr, raw[p->type]);
	char b[32];

	if (scale != 1)
		fprintf(G->f, "      scale: %s\n", num(scale, b));
	/* A value the device marks "not implemented" later is refused, not
	 * shown as -3276.8 or 6553.5. */
	if (p->type == T_I16)
		fprintf(G->f, "      min: %s\n", num(-32767 * scale, b));
	else if (p->type == T_U16)
		fprintf(G->f, "      max: %s\n", num(65534 * scale, b));
	if (p->type == T_ENUM16) {
		fprintf(G->f, "      enum: {");
		for (size_t i = 1; i < sizeof(inverter_states) / sizeof(inverter_states[0]); i++)
			fprintf(G->f, "%s%zu: %s", i > 1 ? ", " : " ", i, inverter_states[i]);
		fprintf(G->f, " }\n");
	}
}

static uint32_t value_at(const struct gen *G, const struct sunspec_model *m, unsigned off, uint8_t type)
{
	if (type == T_ACC32 || type == T_U32 || type == T_F32)
		return (uint32_t)reg(G, m, off) << 16 | reg(G, m, off + 1);
	return reg(G, m, off);
}

/* The points of one model (or one MPPT module at base offset mod). */
static void model_points(struct gen *G, const struct sunspec_model *m, const struct ss_point *pts, size_t n,
			 unsigned mod, const char *label)
{
	/* The grouped points' lines wait for the end of the model: one
	 * instance block each group. */
	char *gbuf = NULL;
	size_t glen = 0;
	FILE *main = G->f, *grp = open_memstream(&gbuf, &glen);
	uint16_t goid = 0;

	if (!grp)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct ss_point *p = &pts[i];
		unsigned off = mod + p->off;
		int sf = 0, iid;
		if (off + (p->type == T_ACC32 || p->type == T_U32 || p->type == T_F32 ? 2u : 1u) >
		    2u + m->len)
			continue; /* a shorter model than the standard's (vendor variants) */
		if (not_implemented(p->type, value_at(G, m, off, p->type)))
			continue;
		if (p->sf >= 0) {
			uint16_t s = reg(G, m, (unsigned)p->sf);
			if (s == 0x8000 || (int16_t)s < -10 || (int16_t)s > 10)
				continue; /* no scale factor: the value means nothing */
			sf = (int16_t)s;
		}
		if (p->group) {
			goid = p->oid;
			G->f = grp;
		} else {
			iid = next_instance(G, p->oid);
			if (iid < 0)
				continue;
			fprintf(G->f, "  /%u/%d:\n    5750: { const: \"%s%s%s\" }\n", p->oid, iid, label,
				label[0] ? " " : "", p->name);
			if (p->unit && p->rid == 5700)
				fprintf(G->f, "    5701: { const: \"%s\" }\n", p->unit);
		}
		point_lines(G, p, m->addr + off, sf);
		G->f = main;
		G->mapped++;
	}
	if (fclose(grp) == 0 && gbuf && glen) {
		int iid = next_instance(G, goid);
		if (iid >= 0)
			fprintf(G->f, "  /%u/%d:\n    5750: { const: \"%s%spower\" }\n%s", goid, iid, label,
				label[0] ? " " : "", gbuf);
	}
	free(gbuf);
}

static void common_model(struct gen *G, const struct sunspec_model *m)
{
	fprintf(G->f, "  /3/0:\n");
	text_const(G, 0, m, 2, 16);  /* Mn */
	text_const(G, 1, m, 18, 16); /* Md */
	text_const(G, 2, m, 50, 16); /* SN */
	text_const(G, 3, m, 42, 8);  /* Vr */
}

int sunspec_profile(const struct sunspec_walk *w, char **text, size_t *len, char **name, char **unknown)
{
	struct gen G = { .w = w };
	char *buf = NULL, ids[200] = "", unk[300] = "", what[400] = "";
	size_t blen = 0, io = 0, uo = 0, wo = 0;
	const struct sunspec_model *common = NULL;
	uint32_t h = 2166136261u;

	*text = *name = *unknown = NULL;
	*len = 0;
	if (w->state != SUNSPEC_DONE) {
		*unknown = strdup(w->why[0] ? w->why : "the walk did not finish");
		return *unknown ? -ENOENT : -ENOMEM;
	}
	for (size_t i = 0; i < w->n; i++) {
		const struct sunspec_model *m = &w->m[i];
		if (m->mapped && m->id == 1 && !common)
			common = m;
		if (io < sizeof(ids))
			io += (size_t)snprintf(ids + io, sizeof(ids) - io, "-%u", m->id);
		if (!m->mapped && uo < sizeof(unk))
			uo += (size_t)snprintf(unk + uo, sizeof(unk) - uo, "%s%u", uo ? ", " : "", m->id);
		if (wo < sizeof(what))
			wo += (size_t)snprintf(what + wo, sizeof(what) - wo, "%s%u", wo ? ", " : "", m->id);
	}
	G.f = open_memstream(&buf, &blen);
	if (!G.f)
		return -ENOMEM;
	fprintf(G.f,
		"# Generated by fieldgate from the SunSpec map of the device (\"SunS\" at holding %u):\n"
		"# models %s\n",
		w->base, what);
	if (unk[0])
		fprintf(G.f, "# Not mapped (no rule for these models): %s\n", unk);
	fprintf(G.f,
		"description: \"SunSpec device, models %s\"\nbridge: modbus\ndefaults: { poll: 10s "
		"}\nobjects:\n",
		what);
	if (common)
		common_model(&G, common);
	else
		fprintf(G.f, "  /3/0:\n    2: { device: serial }\n");
	for (size_t i = 0; i < w->n; i++) {
		const struct sunspec_model *m = &w->m[i];
		if (!m->mapped || m->id == 1)
			continue;
		if (m->id == 160) {
			unsigned nmod = reg(&G, m, MPPT_N);
			for (unsigned k = 0; k < nmod && MPPT_FIRST + (k + 1) * MPPT_MODULE <= 2u + m->len;
			     k++) {
				char label[32];
				snprintf(label, sizeof(label), "MPPT %u", k + 1);
				model_points(&G, m, mppt_module, sizeof(mppt_module) / sizeof(mppt_module[0]),
					     MPPT_FIRST + k * MPPT_MODULE, label);
			}
			continue;
		}
		for (size_t j = 0; j < sizeof(models) / sizeof(models[0]); j++)
			if (models[j].id == m->id) {
				char label[32];
				snprintf(label, sizeof(label), "%u", m->id);
				model_points(&G, m, models[j].pts, models[j].n, 0, label);
			}
	}
	if (fclose(G.f) != 0 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	if (G.mapped == 0 && !common) {
		free(buf);
		*unknown = strdup(unk[0] ? unk : "no models");
		return *unknown ? -ENOENT : -ENOMEM;
	}
	for (size_t i = 0; i < blen; i++)
		h = (h ^ (uint8_t)buf[i]) * 16777619u;
	if (asprintf(name, "sunspec%s-%08x", ids, h) < 0 || !(*unknown = strdup(unk))) {
		free(*name);
		*name = NULL;
		free(buf);
		return -ENOMEM;
	}
	*text = buf;
	*len = blen;
	return 0;
}
