/* SPDX-License-Identifier: Apache-2.0 */
/* SenML JSON (110): the shared JSON codec tests (json_codec_tests.h). */
#define CT               LWM2M_CT_SENML_JSON
#define JSON_NAME        "senml_json"
#define JSON_APPEND_WANT "[{\"bn\":\"/3/0/9\",\"v\":7}]"
#define JSON_APPEND_BAD  "[{\"bn\":\"/3/0/9\",\"v\":1},{\"v\":2},{\"v\":\"x\"}]"
#include "json_codec_tests.h"
