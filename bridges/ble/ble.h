/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/ble/ble.h — the BLE bridge (issue 7): BlueZ over D-Bus (sd-bus on
 * the sd-event loop). Implements the kind "ble" (bridges/bridge.h): adverts
 * (BTHome v2 plain/encrypted, RuuviTag 5, declarative fields, RSSI) and GATT
 * devices (read, notify, write). See docs/ble.md.
 *
 * Module map: bthome.h, ruuvi.h, adv.h (pure decoders), source.h (profile
 * sources, body and address parsing); the bridge itself is ble.c (ops,
 * devices), ble_bluez.c (D-Bus), ble_adverts.c, ble_gatt.c, sharing the
 * private ble_internal.h.
 */
#pragma once

#include "bridges/bridge.h"
