/* SPDX-License-Identifier: Apache-2.0 */
/* The RuuviTag format 5 decoder on arbitrary manufacturer data: values are
 * finite and within the format's ranges. */
#include <math.h>
#include <stdint.h>

#include "bridges/ble/ruuvi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ruuvi5 r;

	if (ruuvi_decode5(data, size, &r) != 0)
		return 0;
	for (int i = 0; i < RUUVI__MAX; i++)
		if (!isfinite(r.value[i]) || (!r.valid[i] && r.value[i] != 0))
			__builtin_trap();
	if (r.valid[RUUVI_TEMPERATURE] && fabs(r.value[RUUVI_TEMPERATURE]) > 163.84)
		__builtin_trap();
	return 0;
}
