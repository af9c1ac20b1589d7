/* SPDX-License-Identifier: Apache-2.0 */
/* lwm2m_path_parse(): never reads past n, and whatever it accepts formats
 * to text that parses back to the same path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct lwm2m_path p, q, r;
	struct lwm2m_span pfx;
	char buf[32];
	int n;

	if (lwm2m_path_parse(s, size, &p, &pfx) < 0) {
		/* without a prefix argument it cannot succeed either */
		if (lwm2m_path_parse(s, size, &q, NULL) == 0)
			abort();
		return 0;
	}
	if (p.len > 4 || pfx.len > 64 || (pfx.len && (pfx.ptr < s || pfx.ptr + pfx.len > s + size)))
		abort();
	/* a path without prefix parses the same with prefix NULL */
	if ((lwm2m_path_parse(s, size, &q, NULL) == 0) != (pfx.len == 0))
		abort();
	n = lwm2m_path_format(&p, buf);
	if (n <= 0 || n >= 32 || strlen(buf) != (size_t)n)
		abort();
	if (lwm2m_path_parse(buf, (size_t)n, &r, NULL) != 0 || lwm2m_path_cmp(&p, &r) != 0 || p.len != r.len)
		abort();
	for (unsigned i = 0; i < p.len; i++)
		if (p.id[i] != r.id[i] || p.id[i] > LWM2M_ID_MAX)
			abort();
	if (!lwm2m_path_is_under(&p, &r) || !lwm2m_path_is_under(&r, &p))
		abort();
	return 0;
}
