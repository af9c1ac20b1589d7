/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BTHome v2 decoder on arbitrary service data: once without a key, once
 * with the format's example key and MAC (so encrypted inputs reach the
 * AES-CCM check), and a plain decode re-encrypted and decoded again must
 * give the same objects.
 */
#include <stdint.h>
#include <string.h>

#include "bridges/ble/bthome.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[16] = { 0x23, 0x1d, 0x39, 0xc1, 0xd7, 0xcc, 0x1a, 0xb1,
					 0xae, 0xe2, 0x24, 0xcd, 0x09, 0x6d, 0xb9, 0x32 };
	static const uint8_t mac[6] = { 0x54, 0x48, 0xe6, 0x8f, 0x80, 0xa5 };
	static struct bthome_adv a, b;
	uint8_t enc[BTHOME_MAX_DATA + 16];
	size_t n;

	(void)bthome_decode(data, size, NULL, NULL, &a);
	if (bthome_decode(data, size, mac, key, &a) == 0 && !a.encrypted && size - 1 <= BTHOME_MAX_DATA &&
	    bthome_encrypt(data + 1, size - 1, (uint8_t)(data[0] | 1), 7, mac, key, enc, sizeof(enc), &n) ==
		    0) {
		if (bthome_decode(enc, n, mac, key, &b) != 0 || b.n != a.n || b.counter != 7)
			__builtin_trap();
		for (size_t i = 0; i < a.n; i++)
			if (a.v[i].id != b.v[i].id || a.v[i].instance != b.v[i].instance)
				__builtin_trap();
	}
	return 0;
}
