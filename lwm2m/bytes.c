/* SPDX-License-Identifier: Apache-2.0 */
/* CRC-32 for the state files (bytes.h). */
#include "lwm2m/bytes.h"

/* Bitwise: the files are written off the loop and read once per start; a
 * table would buy nothing measurable. */
uint32_t lwm2m_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
	}
	return ~crc;
}
