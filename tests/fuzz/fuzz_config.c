/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration loader on arbitrary bytes: YAML parsing into the node
 * tree, the schema engine with every key kind, the URI/name/template/PSK
 * validators and the summary, exactly the path `fieldgate check` takes
 * (gw_config_load_buffer), from memory. Diagnostics are formatted (so the
 * message code runs) and discarded; each must carry a line and a column
 * (users see file:line:col), also what libyaml's reader rejects.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/gateway.h"

static void discard(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	char buf[512];

	(void)ctx;
	if (line == 0 || col == 0 || !file)
		abort();
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag diag = { .fn = discard };
	struct gw_config *c = NULL;

	if (gw_config_load_buffer("fuzz.yaml", data, size, &diag, &c) == 0) {
		/* A config that loads has no errors and is complete. */
		if (diag.errors != 0 || !c || !c->gateway.name || c->lwm2m.servers.n == 0)
			abort();
		free(gw_config_summary(c, "fuzz.yaml", NULL, 0));
	} else if (c) {
		abort(); /* failure leaves *out NULL */
	}
	gw_config_free(c);
	return 0;
}
