/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus block planner on arbitrary point sets, limits and exception
 * feedback. Input: max_count (2 bytes), max_gap (1 byte, 255 = no
 * coalescing), then items of 4 bytes (address, count); a trailing odd part
 * chooses which blocks the "device" rejects. Invariants checked after every
 * plan: each item in exactly one block, blocks sorted, within max_count
 * (unless a lone oversized item), covering their items, never joining
 * across a learned cut; a split cut lies strictly inside its block, and
 * re-planning with it separates the block's first item from the cut.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/modbus/mb_plan.h"

#define MAXI 512

static void check(const struct mb_item *it, size_t n, const struct mb_plan_limits *lim, const uint16_t *cuts,
		  size_t ncuts, const struct mb_block *b, size_t nb)
{
	size_t covered = 0;

	for (size_t k = 0; k < nb; k++) {
		uint32_t start = b[k].addr, end = start + b[k].count;
		if (b[k].first != covered || b[k].n == 0)
			abort();
		covered += b[k].n;
		if (b[k].count > lim->max_count && b[k].n != 1)
			abort();
		if (lim->max_gap < 0 && b[k].n != 1)
			abort();
		if (k && b[k].addr < b[k - 1].addr)
			abort();
		for (uint32_t i = b[k].first; i < b[k].first + b[k].n; i++) {
			uint32_t a = it[i].addr, e = a + it[i].count;
			if (a < start || e > end)
				abort();
			/* The item before it ended below a cut that lies before it: they
			 * must not share a block. */
			if (i > b[k].first) {
				uint32_t pe = 0;
				for (uint32_t q = b[k].first; q < i; q++)
					if ((uint32_t)it[q].addr + it[q].count > pe)
						pe = (uint32_t)it[q].addr + it[q].count;
				for (size_t c = 0; c < ncuts && a >= pe; c++)
					if (cuts[c] >= pe && cuts[c] <= a && cuts[c] > start)
						abort();
			}
		}
	}
	if (covered != n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mb_item it[MAXI];
	struct mb_block b[MAXI];
	uint16_t cuts[64];
	size_t n = 0, ncuts = 0, nb;
	struct mb_plan_limits lim;
	const uint8_t *fb;
	size_t nfb;

	if (size < 3)
		return 0;
	lim.max_count = (uint16_t)(1 + ((data[0] << 8 | data[1]) % 2000));
	lim.max_gap = data[2] == 255 ? -1 : data[2];
	data += 3;
	size -= 3;
	while (size >= 4 && n < MAXI) {
		uint16_t a = (uint16_t)(data[0] << 8 | data[1]);
		uint16_t c = (uint16_t)(1 + ((data[2] << 8 | data[3]) % 125));
		if ((uint32_t)a + c > 65536u)
			a = (uint16_t)(65536u - c);
		it[n++] = (struct mb_item){ a, c };
		data += 4;
		size -= 4;
	}
	fb = data;
	nfb = size;
	mb_items_sort(it, n);
	nb = mb_plan(it, n, &lim, cuts, ncuts, b);
	check(it, n, &lim, cuts, ncuts, b, nb);
	/* Exception feedback: the device rejects the blocks the tail bytes name. */
	for (size_t r = 0; r < nfb && r < 32 && nb; r++) {
		const struct mb_block *victim = &b[fb[r] % nb];
		size_t before = nb;
		uint32_t vfirst = victim->first;
		uint16_t cut;
		int e = mb_plan_split(it, victim, &cut);

		if (e == -ENOENT)
			continue;
		if (e < 0 || cut <= victim->addr || cut >= (uint32_t)victim->addr + victim->count)
			abort();
		e = mb_cuts_add(cuts, &ncuts, 64, cut);
		if (e < 0)
			break;
		if (e == 0)
			abort(); /* a block that crossed a known cut */
		for (size_t c = 1; c < ncuts; c++)
			if (cuts[c - 1] >= cuts[c])
				abort();
		nb = mb_plan(it, n, &lim, cuts, ncuts, b);
		check(it, n, &lim, cuts, ncuts, b, nb);
		if (nb < before)
			abort(); /* greedy is optimal: one more constraint never gives fewer blocks */
		for (size_t k = 0; k < nb; k++)
			if (b[k].first <= vfirst && vfirst < b[k].first + b[k].n)
				for (uint32_t i = b[k].first; i < b[k].first + b[k].n; i++)
					if (it[i].addr == cut && it[i].addr > it[vfirst].addr)
						abort(); /* the rejected block was not split at the cut */
	}
	return 0;
}
