/* SPDX-License-Identifier: Apache-2.0 */
/* Literals of struct lwm2m_value for test tables (the codec tests and the
 * interop tool): V_INT(-3), V_STR("a"), V_OBJ(3, 0)... Strings and opaque
 * values take a string literal (its size, NUL excluded, is the length). */
#pragma once

#include "lwm2m/lwm2m.h"

#define V_INT(x)                                     \
	{                                            \
		.type = LWM2M_TYPE_INTEGER, .i = (x) \
	}
#define V_UINT(x)                                     \
	{                                             \
		.type = LWM2M_TYPE_UNSIGNED, .u = (x) \
	}
#define V_FLT(x)                                   \
	{                                          \
		.type = LWM2M_TYPE_FLOAT, .f = (x) \
	}
#define V_STR(s)                                                                           \
	{                                                                                  \
		.type = LWM2M_TYPE_STRING, .bytes = {(const uint8_t *)(s), sizeof(s) - 1 } \
	}
#define V_OPQ(s)                                                                           \
	{                                                                                  \
		.type = LWM2M_TYPE_OPAQUE, .bytes = {(const uint8_t *)(s), sizeof(s) - 1 } \
	}
#define V_LNK(s)                                                                            \
	{                                                                                   \
		.type = LWM2M_TYPE_CORELNK, .bytes = {(const uint8_t *)(s), sizeof(s) - 1 } \
	}
#define V_BOOL(x)                                    \
	{                                            \
		.type = LWM2M_TYPE_BOOLEAN, .b = (x) \
	}
#define V_TIME(x)                                 \
	{                                         \
		.type = LWM2M_TYPE_TIME, .i = (x) \
	}
#define V_OBJ(o, i)                                           \
	{                                                     \
		.type = LWM2M_TYPE_OBJLNK, .lnk = {(o), (i) } \
	}
