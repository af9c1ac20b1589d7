/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block planning (see mb_plan.h). Greedy from the lowest address: a block
 * takes the next item while the gap before it is within max_gap, the block
 * stays within max_count and no learned cut lies in the gap. Greedy is
 * optimal here: items are taken in address order and each condition only
 * gets harder as the block grows, so ending a block earlier never lets a
 * later block absorb more.
 */
#include "bridges/modbus/mb_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int item_cmp(const void *a, const void *b)
{
	const struct mb_item *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	return 0;
}

void mb_items_sort(struct mb_item *items, size_t n)
{
	if (n > 1)
		qsort(items, n, sizeof(*items), item_cmp);
}

/* A cut c with lo <= c <= hi. */
static bool cut_between(const uint16_t *cuts, size_t n, uint32_t lo, uint32_t hi)
{
	size_t a = 0, b = n;

	/* First cut >= lo. */
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (cuts[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < n && cuts[a] <= hi;
}

size_t mb_plan(const struct mb_item *items, size_t n, const struct mb_plan_limits *lim, const uint16_t *cuts,
	       size_t ncuts, struct mb_block *out)
{
	size_t nb = 0, i = 0;

	while (i < n) {
		uint32_t start = items[i].addr, end = start + items[i].count;
		size_t j = i + 1;

		for (; lim->max_gap >= 0 && j < n; j++) {
			uint32_t a = items[j].addr, e = a + items[j].count;
			uint32_t ne = e > end ? e : end;

			if (a > end && a - end > (uint32_t)lim->max_gap)
				break;
			if (ne - start > lim->max_count)
				break;
			if (a >= end && cut_between(cuts, ncuts, end, a))
				break;
			end = ne;
		}
		out[nb++] = (struct mb_block){ .addr = (uint16_t)start,
					       .count = (uint16_t)(end - start),
					       .first = (uint32_t)i,
					       .n = (uint32_t)(j - i) };
		i = j;
	}
	return nb;
}

int mb_plan_split(const struct mb_item *items, const struct mb_block *b, uint16_t *cut)
{
	uint32_t mid = (uint32_t)b->addr + b->count / 2u, end, best_d = UINT32_MAX;
	bool found = false;

	if (b->n < 2)
		return -ENOENT;
	end = (uint32_t)items[b->first].addr + items[b->first].count;
	for (uint32_t k = b->first + 1; k < b->first + b->n; k++) {
		uint32_t a = items[k].addr, e = a + items[k].count;
		if (a >= end) {
			uint32_t d = a > mid ? a - mid : mid - a;
			if (d < best_d) {
				best_d = d;
				*cut = (uint16_t)a;
				found = true;
			}
		}
		if (e > end)
			end = e;
	}
	return found ? 0 : -ENOENT;
}

int mb_cuts_add(uint16_t *cuts, size_t *n, size_t cap, uint16_t cut)
{
	size_t i = 0;

	while (i < *n && cuts[i] < cut)
		i++;
	if (i < *n && cuts[i] == cut)
		return 0;
	if (*n >= cap)
		return -ENOSPC;
	memmove(&cuts[i + 1], &cuts[i], (*n - i) * sizeof(*cuts));
	cuts[i] = cut;
	(*n)++;
	return 1;
}
