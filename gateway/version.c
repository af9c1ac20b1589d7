/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The version the program reports. The only unit that reads
 * FIELDGATE_VERSION: tests/meson.build links a second daemon with
 * FIELDGATE_TEST_VERSION set here (an update that really changes the
 * running version); its own copy of this object is linked before
 * gateway_core's, which then adds nothing.
 */
#include "gateway/gateway.h"

#ifdef FIELDGATE_TEST_VERSION
const char gw_version[] = FIELDGATE_TEST_VERSION;
#else
const char gw_version[] = FIELDGATE_VERSION;
#endif
