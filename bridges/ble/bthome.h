/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/ble/bthome.h — BTHome v2 advertisement decoder (service data of
 * UUID 0xFCD2), plain and AES-CCM encrypted.
 *
 * Service data layout: one device-information byte (bit 0 encrypted, bit 2
 * trigger based, bits 5-7 version = 2), then objects: an object id followed
 * by its fixed-size little-endian value (or a length byte for text/raw).
 * Encrypted: info byte, ciphertext, 4-byte counter (LE), 4-byte MIC; the
 * nonce is MAC(6) + d2 fc + info byte + counter bytes. Objects must appear
 * in ascending id order by the format, but decoders accept any order: we do
 * too (the order defines the instance number of repeated measurements).
 *
 * Pure functions: no allocation, no logging; fuzzed (fuzz_bthome).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

#define BTHOME_UUID       "0000fcd2-0000-1000-8000-00805f9b34fb"
#define BTHOME_MAX_VALUES 48
#define BTHOME_MAX_DATA   255

struct bthome_value {
	uint8_t id;       /* object id */
	uint8_t instance; /* 0 for the first object of this name in the advert, 1 for the next... */
	const char *name; /* the measurement's name (bthome_name_of) */
	struct lwm2m_value
		v; /* FLOAT (scaled), INTEGER, UNSIGNED, BOOLEAN, STRING or OPAQUE (into the adv) */
};

struct bthome_adv {
	uint8_t info; /* device information byte */
	bool encrypted;
	uint32_t counter; /* encrypted only */
	bool has_packet_id;
	uint8_t packet_id;
	size_t n;
	struct bthome_value v[BTHOME_MAX_VALUES];
	uint8_t plain[BTHOME_MAX_DATA]; /* decrypted objects; text/raw values point here */
};

/*
 * Decode service data sd (len bytes). mac (6 bytes, most significant first,
 * as written "54:48:E6:8F:80:A5") and key (16 bytes) are needed for an
 * encrypted advert, else may be NULL. Returns 0 and *out;
 *   -EPROTONOSUPPORT  not BTHome v2 (version bits)
 *   -ENOKEY           encrypted but no key given
 *   -EBADMSG          truncated or unknown object id (the rest of the advert
 *                     cannot be framed, so nothing is returned)
 *   -EKEYREJECTED     MIC verification failed (wrong key or tampered)
 *   -E2BIG            more than BTHOME_MAX_VALUES objects
 */
int bthome_decode(const uint8_t *sd, size_t len, const uint8_t *mac, const uint8_t *key,
		  struct bthome_adv *out);

/* Encrypt (for tests and the benchmark): plain objects -> service data with
 * info byte, ciphertext, counter and MIC. out needs len + 9 bytes. */
int bthome_encrypt(const uint8_t *objs, size_t len, uint8_t info, uint32_t counter, const uint8_t *mac,
		   const uint8_t *key, uint8_t *out, size_t cap, size_t *out_len);

/* Measurement name of an object id, NULL if unknown. */
const char *bthome_name_of(uint8_t id);
/* True when name is a measurement name of the format (for profile checks). */
bool bthome_name_known(const char *name);
/* A list of every name (NULL-terminated), for messages. */
const char *const *bthome_names(void);
