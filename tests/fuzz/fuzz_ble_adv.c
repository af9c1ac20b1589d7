/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The declarative advert decoder: the first bytes choose the match (prefix
 * length), the field (offset, length) and the raw layout; the rest is the
 * advertising data. A field that is cut must lie inside the data and decode
 * through the mapping transform without crashing.
 */
#include <stdint.h>
#include <string.h>

#include "bridges/ble/adv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ble_adv_match m = { 0 };
	struct mapping_transform xf = { 0 };
	struct mapping_sample s;
	struct lwm2m_value v;
	size_t plen;

	if (size < 5)
		return 0;
	plen = data[0] % (BLE_PREFIX_MAX + 1);
	xf.raw = (uint8_t)(1 + data[3] % (MAPPING_RAW__MAX - 1));
	xf.order = data[4] & 3;
	xf.width = 16;
	if (xf.raw == MAPPING_RAW_BITS) {
		xf.bit = data[4] >> 4;
		xf.bits = 1;
	}
	if (data[4] & 4) {
		xf.has_scale = true;
		xf.scale = 0.01;
	}
	data += 5;
	size -= 5;
	if (plen > size)
		plen = size;
	memcpy(m.prefix, data, plen);
	m.prefix_len = plen;
	if (ble_adv_field(&m, data, size, data[-4], data[-3], &s) == 0) {
		if (s.bytes < data || s.bytes + s.len > data + size)
			__builtin_trap();
		(void)mapping_transform_decode(&xf, LWM2M_TYPE_FLOAT, &s, &v);
		(void)mapping_transform_decode(&xf, LWM2M_TYPE_STRING, &s, &v);
	}
	return 0;
}
