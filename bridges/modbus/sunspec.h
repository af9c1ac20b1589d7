/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/modbus/sunspec.h — SunSpec over Modbus: a device with `profile:
 * sunspec` (a profile that says `generate: sunspec`) has its map read and a
 * profile made of it.
 *
 * SunSpec devices (nearly every solar inverter, many meters) put a
 * self-describing map in their holding registers: "SunS" (0x5375 0x6e53) at
 * 40000, 0 or 50000, then models one after the other, each an ID and a
 * length L followed by L registers, until the ID 0xFFFF. The walker reads
 * that chain (struct sunspec_walk, a state machine fed with what was read,
 * so the same code serves the bus and a register image); the generator
 * maps the common model (1) to the Device object and the inverter (101-103
 * integer + scale factors, 111-113 float), MPPT (160) and meter (201-204)
 * models to IPSO objects, each value's scale factor read with the map and
 * applied (10^SF). Points the device marks "not implemented" (0x8000,
 * 0xFFFF, NaN) are left out; other models are listed, not fatal. Point
 * offsets and types are the SunSpec Information Model's (sunspec/models,
 * json/model_<id>.json). Pure; fuzzed (fuzz_sunspec).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUNSPEC_MAX_MODELS 64
#define SUNSPEC_MAX_REGS   8192 /* registers of mapped models kept: bounds a walk */

struct sunspec_model {
	uint16_t id, len; /* L: registers after the ID and L registers */
	uint32_t addr;    /* of its ID register */
	bool mapped;      /* a model the generator knows: its registers were read */
	uint32_t regs;    /* index of its ID register in the walk's regs[] (mapped only) */
};

enum sunspec_state {
	SUNSPEC_HEADER = 0, /* looking for "SunS" */
	SUNSPEC_CHAIN,      /* reading a model header */
	SUNSPEC_BODY,       /* reading a mapped model's registers */
	SUNSPEC_DONE,
	SUNSPEC_FAILED,
};

struct sunspec_walk {
	int state;       /* enum sunspec_state */
	unsigned base_i; /* which of 40000, 0, 50000 is being tried */
	uint32_t base;   /* where "SunS" is */
	uint32_t at;     /* the next header (CHAIN) or the next body register (BODY) */
	uint16_t max_read;
	struct sunspec_model m[SUNSPEC_MAX_MODELS];
	size_t n;
	uint16_t regs[SUNSPEC_MAX_REGS];
	size_t nregs;
	char why[160]; /* FAILED: why */
};

/* Start (max_read: registers per request, 1..125). */
void sunspec_walk_init(struct sunspec_walk *w, unsigned max_read);
/* The read to do next: 1 and *addr, *count (holding registers), or 0 when
 * the walk is over (state DONE or FAILED). */
int sunspec_walk_next(const struct sunspec_walk *w, uint32_t *addr, uint16_t *count);
/* What that read gave: regs (count registers) or err (negative errno;
 * -ENOENT/-EINVAL: the device refused the address, exception 02/03).
 * Returns 0 to go
 * on, 1 when done, -EIO when the walk failed (why in w->why), or err when
 * the device did not answer (the caller retries later). */
int sunspec_walk_feed(struct sunspec_walk *w, const uint16_t *regs, uint16_t count, int err);

/* Walk a register image (tests, `fieldgate profile test`, fuzzing): read(ud,
 * addr) gives a register or -1 for one that does not exist (exception 02). */
int sunspec_walk_image(struct sunspec_walk *w, int (*read)(void *ud, uint32_t addr), void *ud);

/* The profile of a finished walk: YAML text (malloc'ed, NUL-terminated)
 * named "sunspec-<model ids>-<hash>", and the models it does not map
 * ("64110, 124": what `fieldgate status` lists). Returns 0, -ENOMEM, or
 * -ENOENT when nothing could be mapped (why in *unknown). */
int sunspec_profile(const struct sunspec_walk *w, char **text, size_t *len, char **name, char **unknown);
