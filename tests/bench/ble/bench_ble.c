/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Advert decoding cost: how many adverts per second one core decodes, for a
 * BTHome temperature/humidity/battery advert in plain and encrypted form
 * (AES-CCM with MIC check, mbedTLS) and a RuuviTag format 5 advert. A busy
 * BLE neighbourhood is a few hundred adverts per second, so these figures
 * show the headroom. Prints figures; asserts nothing about time.
 */
#include <stdio.h>
#include <time.h>

#include "bridges/ble/bthome.h"
#include "bridges/ble/ruuvi.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile double sink;

int main(void)
{
	static const uint8_t key[16] = { 0x23, 0x1d, 0x39, 0xc1, 0xd7, 0xcc, 0x1a, 0xb1,
					 0xae, 0xe2, 0x24, 0xcd, 0x09, 0x6d, 0xb9, 0x32 };
	static const uint8_t mac[6] = { 0x54, 0x48, 0xe6, 0x8f, 0x80, 0xa5 };
	static const uint8_t plain[] = { 0x40, 0x00, 0x01, 0x01, 0x64, 0x02, 0xca, 0x09, 0x03, 0xbf, 0x13 };
	static const uint8_t ruuvi[] = { 0x05, 0x12, 0xFC, 0x53, 0x94, 0xC3, 0x7C, 0x00,
					 0x04, 0xFF, 0xFC, 0x04, 0x0C, 0xAC, 0x36, 0x42,
					 0x00, 0xCD, 0xCB, 0xB8, 0x33, 0x4C, 0x88, 0x4F };
	static struct bthome_adv a;
	uint8_t enc[64];
	size_t n;
	const long N = 1000000, NE = 200000;
	double t;

	if (bthome_encrypt(plain + 1, sizeof(plain) - 1, 0x41, 1, mac, key, enc, sizeof(enc), &n) < 0)
		return 1;

	t = now_s();
	for (long i = 0; i < N; i++) {
		if (bthome_decode(plain, sizeof(plain), NULL, NULL, &a) < 0)
			return 1;
		sink = a.v[2].v.f;
	}
	t = now_s() - t;
	printf("BTHome plain (4 objects):      %8.0f adverts/s  %6.2f us/advert\n", N / t, t / N * 1e6);

	t = now_s();
	for (long i = 0; i < NE; i++) {
		if (bthome_decode(enc, n, mac, key, &a) < 0)
			return 1;
		sink = a.v[2].v.f;
	}
	t = now_s() - t;
	printf("BTHome encrypted (AES-CCM):    %8.0f adverts/s  %6.2f us/advert\n", NE / t, t / NE * 1e6);

	t = now_s();
	for (long i = 0; i < N; i++) {
		struct ruuvi5 r;
		if (ruuvi_decode5(ruuvi, sizeof(ruuvi), &r) < 0)
			return 1;
		sink = r.value[0];
	}
	t = now_s() - t;
	printf("RuuviTag format 5:             %8.0f adverts/s  %6.2f us/advert\n", N / t, t / N * 1e6);
	return 0;
}
