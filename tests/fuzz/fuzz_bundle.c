/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profile bundles (gateway/bundle/) on arbitrary bytes: the archive reader
 * in check-only mode (libarchive's tar and gzip readers, the entry checks,
 * the manifest parser on what the archive holds, the cross-check of the
 * two), and the manifest parser alone on the same bytes. Nothing is
 * written. A bundle that is accepted has a valid name and version and at
 * least one file; a refused one leaves *out NULL and reported why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/bundle/bundle.h"

static void discard(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
}

static void check(int r, const struct diag *diag, const struct gw_bundle *b)
{
	if (r == 0) {
		if (!b || diag->errors != 0 || !b->name[0] || !b->version[0] ||
		    b->nprofiles + b->nobjects == 0)
			abort();
	} else if (b || diag->errors == 0) {
		abort(); /* failure: nothing out, and said why */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag diag = { .fn = discard };
	struct gw_bundle *b = NULL;
	int r;

	r = gw_bundle_extract_memory(data, size, NULL, &diag, &b);
	if (r != -ENOMEM)
		check(r, &diag, b);
	b = gw_bundle_free(b);
	diag = (struct diag){ .fn = discard };
	r = gw_bundle_manifest_parse("fuzz.yaml", data, size, &diag, &b);
	if (r != -ENOMEM)
		check(r, &diag, b);
	gw_bundle_free(b);
	return 0;
}
