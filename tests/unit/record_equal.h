/* SPDX-License-Identifier: Apache-2.0 */
/* Exact equality of two records, for the codec tests and fuzz targets:
 * path (and its length), prefix, time and value, doubles bit for bit (so
 * -0.0 differs from 0.0 and a NaN equals the same NaN). */
#pragma once

#include <stdbool.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

static inline bool tu_double_same(double a, double b)
{
	return memcmp(&a, &b, sizeof(double)) == 0;
}

static inline bool tu_record_equal(const struct lwm2m_record *a, const struct lwm2m_record *b)
{
	const struct lwm2m_value *x = &a->value, *y = &b->value;

	if (a->path.len != b->path.len || lwm2m_path_cmp(&a->path, &b->path) != 0)
		return false;
	if (a->prefix.len != b->prefix.len ||
	    (a->prefix.len && memcmp(a->prefix.ptr, b->prefix.ptr, a->prefix.len) != 0))
		return false;
	if (a->has_time != b->has_time || (a->has_time && !tu_double_same(a->time, b->time)))
		return false;
	if (x->type != y->type)
		return false;
	switch (x->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		return x->i == y->i;
	case LWM2M_TYPE_UNSIGNED:
		return x->u == y->u;
	case LWM2M_TYPE_FLOAT:
		return tu_double_same(x->f, y->f);
	case LWM2M_TYPE_BOOLEAN:
		return x->b == y->b;
	case LWM2M_TYPE_OBJLNK:
		return x->lnk.oid == y->lnk.oid && x->lnk.iid == y->lnk.iid;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_CORELNK:
	case LWM2M_TYPE_OPAQUE:
		return x->bytes.len == y->bytes.len &&
		       (x->bytes.len == 0 || memcmp(x->bytes.ptr, y->bytes.ptr, x->bytes.len) == 0);
	default:
		return true;
	}
}
