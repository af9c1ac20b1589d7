/* SPDX-License-Identifier: Apache-2.0 */
/* LwM2M JSON (11543): the shared JSON codec tests (json_codec_tests.h). */
#define CT               LWM2M_CT_LWM2M_JSON
#define JSON_NAME        "lwm2m_json"
#define JSON_APPEND_WANT "{\"bn\":\"/3/0/9\",\"e\":[{\"v\":7}]}"
#define JSON_APPEND_BAD  "{\"bn\":\"/3/0/9\",\"e\":[{\"v\":1},{\"v\":2},{\"v\":\"x\"}]}"
#include "json_codec_tests.h"
