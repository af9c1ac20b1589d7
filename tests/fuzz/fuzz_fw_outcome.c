/* SPDX-License-Identifier: Apache-2.0 */
/* gw_fw_outcome_parse() (gateway/fwinstall.c), the outcome file that
 * `fieldgate install-update` writes for the daemon in a folder the daemon
 * owns: never reads past the input, refuses or fills a kind in range, and
 * what it parsed formats to text that parses to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: ASan sees a read past the end. */
	char *text = malloc(size ? size : 1), again[128];
	struct gw_fw_outcome o, p;
	int r, n;

	if (!text)
		return 0;
	memcpy(text, data, size);
	r = gw_fw_outcome_parse(text, size, &o);
	free(text);
	if (r < 0)
		return 0;
	if (o.kind > GW_FW_REFUSED || o.time < 0)
		abort();
	n = gw_fw_outcome_format(&o, again, sizeof(again));
	if (n < 0 || gw_fw_outcome_parse(again, (size_t)n, &p) < 0 || p.kind != o.kind ||
	    p.status != o.status || p.time != o.time)
		abort();
	return 0;
}
