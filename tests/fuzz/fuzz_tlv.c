/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: OMA-LwM2M TLV decoding, and the decode-encode-decode round trip
 * (see fuzz_codec_common.h). */
#include "fuzz_codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_roundtrip(data, size, lwm2m_tlv_encode, lwm2m_tlv_decode, 1);
	return 0;
}
