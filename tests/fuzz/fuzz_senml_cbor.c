/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: SenML CBOR decoding, and the decode-encode-decode round trip
 * (see fuzz_codec_common.h). */
#include "fuzz_codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_roundtrip(data, size, lwm2m_senml_cbor_encode, lwm2m_senml_cbor_decode, 0);
	return 0;
}
