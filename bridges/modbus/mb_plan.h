/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/modbus/mb_plan.h — coalescing a device's points of one table into
 * the fewest block reads, and learning from the device where a block must
 * not reach across (a hole it rejects with an exception).
 *
 * Pure functions over arrays: no allocation, no I/O, no global state (the
 * bridge calls them on the loop thread; the fuzzer and the benchmark call
 * them directly).
 *
 * An item is one point's register (or coil) range [addr, addr + count).
 * A cut at address c means: no block may hold both c - 1 and c unless one
 * item does (a cut inside an item is ignored: the item is read whole).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mb_item {
	uint16_t addr;
	uint16_t count; /* 1.. (an item longer than max_count gets a block of its own) */
};

struct mb_block {
	uint16_t addr;
	uint16_t count;
	uint32_t first, n; /* the items it covers: first .. first + n - 1 of the sorted array */
};

struct mb_plan_limits {
	uint16_t max_count; /* registers (125) or coils (2000) per request */
	int32_t max_gap;    /* unused registers a block may span between items; < 0: one request per item */
};

/* Sort items by address, then count (stable for equal items). */
void mb_items_sort(struct mb_item *items, size_t n);

/* Plan sorted items into blocks (at most n, written to out). Every item is
 * in exactly one block; blocks are sorted and never cross a cut between
 * items. Returns the number of blocks. */
size_t mb_plan(const struct mb_item *items, size_t n, const struct mb_plan_limits *lim, const uint16_t *cuts,
	       size_t ncuts, struct mb_block *out);

/* The device refused block b (illegal data address): where to cut it. The
 * cut is the start of an item that no earlier item of the block overlaps,
 * the one closest to the middle of the block. Returns 0 and *cut, or
 * -ENOENT when the block cannot be split (one item, or overlapping items). */
int mb_plan_split(const struct mb_item *items, const struct mb_block *b, uint16_t *cut);

/* Add cut to the sorted set cuts[*n] of capacity cap. Returns 1 added, 0
 * already there, -ENOSPC full. */
int mb_cuts_add(uint16_t *cuts, size_t *n, size_t cap, uint16_t cut);
