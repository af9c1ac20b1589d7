/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: LwM2M CBOR decoding, and the decode-encode-decode round trip
 * (see fuzz_codec_common.h). */
#include "fuzz_codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_roundtrip(data, size, lwm2m_lwm2m_cbor_encode, lwm2m_lwm2m_cbor_decode, 0);
	return 0;
}
