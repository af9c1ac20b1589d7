/* SPDX-License-Identifier: Apache-2.0 */
/* Decoder of content format LWM2M_CT_OPAQUE on any input, with varied resource
 * types; what decodes must survive encode -> decode unchanged (see
 * fuzz_codec.h for the input layout). */
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_codec_one(LWM2M_CT_OPAQUE, data, size);
}
