/* SPDX-License-Identifier: Apache-2.0 */
/* Write-Attributes query parsing, validation and merging on any input. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct lwm2m_attrs a = { 0 }, one = { 0 }, before;
	struct lwm2m_attrs stored = { .set = LWM2M_ATTR_PMIN | LWM2M_ATTR_GT, .pmin = 5, .gt = 10 };

	/* a single parameter: at most one attribute recorded, nothing on error */
	if (lwm2m_attrs_parse_param(s, size, &one) < 0) {
		if (one.set || one.unset)
			abort();
	} else if (__builtin_popcount(one.set | one.unset) != 1) {
		abort();
	}

	before = a;
	if (lwm2m_attrs_parse_query(s, size, &a) < 0) {
		if (memcmp(&a, &before, sizeof(a)) != 0)
			abort();
		return 0;
	}
	if (a.set & a.unset)
		abort();
	if ((a.set & LWM2M_ATTR_ST) && (a.st < 0 || !isfinite(a.st)))
		abort();
	if ((a.set & LWM2M_ATTR_GT) && !isfinite(a.gt))
		abort();
	if ((a.set & LWM2M_ATTR_LT) && !isfinite(a.lt))
		abort();
	(void)lwm2m_attrs_validate(&a);
	lwm2m_attrs_apply(&stored, &a);
	if (stored.set & a.unset & ~a.set)
		abort();
	if ((stored.set & a.set) != a.set)
		abort();
	(void)lwm2m_attrs_validate(&stored);
	return 0;
}
