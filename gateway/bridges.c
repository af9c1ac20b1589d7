/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which bridge implementations this fieldgate has. Each bridge (issues 5-7)
 * defines `const struct bridge_ops bridge_<type>_ops`; until it exists the
 * weak declaration leaves the pointer NULL, and a configuration naming that
 * type is refused with a clear message. A bridge linked from a static
 * library must be referenced strongly (a weak reference does not pull an
 * archive member in): link its objects into gateway_core, or drop `weak`
 * here once it is always built.
 */
#include "gateway/gateway.h"

#include <string.h>

#include "bridges/bridge.h"

extern const struct bridge_ops bridge_modbus_ops __attribute__((weak));
extern const struct bridge_ops bridge_mqtt_ops __attribute__((weak));
extern const struct bridge_ops bridge_ble_ops __attribute__((weak));

const struct bridge_ops *gw_bridge_ops(int type)
{
	switch (type) {
	case GW_BRIDGE_MODBUS:
		return &bridge_modbus_ops;
	case GW_BRIDGE_MQTT:
		return &bridge_mqtt_ops;
	case GW_BRIDGE_BLE:
		return &bridge_ble_ops;
	default:
		return NULL;
	}
}

const struct mapping_source_ops *const *gw_source_kinds(void)
{
	static const struct mapping_source_ops *kinds[4];
	size_t n = 0;

	/* Rebuilt on each call (cheap): the table is the same every time. */
	for (int t = GW_BRIDGE_MODBUS; t <= GW_BRIDGE_BLE; t++) {
		const struct bridge_ops *o = gw_bridge_ops(t);
		if (o && o->source_ops)
			kinds[n++] = o->source_ops;
	}
	kinds[n] = NULL;
	return kinds;
}
