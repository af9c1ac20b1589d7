/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BLE bridge's configuration parsers on arbitrary YAML: the profile
 * source parser in every role, the bridge body and the device address.
 * Every error is reported (counted) and nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>

#include "bridges/ble/source.h"
#include "common/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag diag = { 0 };
	struct ydoc *doc = NULL;
	const struct ynode *root;

	if (ydoc_load_buffer("fuzz.yaml", data, size, NULL, &diag, &doc) < 0)
		return 0;
	root = ydoc_root(doc);
	for (int role = MAPPING_ROLE_READ; role <= MAPPING_ROLE_EXECUTE; role++) {
		void *src = NULL;
		unsigned before = diag.errors;
		int r = ble_source_ops.parse((enum mapping_role)role, root, &diag, &src);
		if (r < 0 && diag.errors == before)
			__builtin_trap(); /* refused without saying why */
		if (r == 0 && root && !src)
			__builtin_trap();
		ble_source_ops.free(src);
	}
	{
		struct schema_ctx ctx = { .diag = &diag };
		struct ble_conf conf;
		struct ble_address addr;
		if (ble_conf_parse(&ctx, root, &conf) == 0)
			ble_conf_free(&conf);
		(void)ble_address_parse(&ctx, root, &addr);
	}
	ydoc_free(doc);
	return 0;
}
