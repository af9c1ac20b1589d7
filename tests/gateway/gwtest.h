/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of the gateway unit tests: a diag collector that keeps every
 * message as "file:line:col: message" for exact comparison. */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "common/diag.h"

#define GWT_MAX_MSGS 64

struct gwt_diag {
	struct diag diag;
	size_t n;
	char *msg[GWT_MAX_MSGS];
};

static inline void gwt_diag_cb(void *ctx, enum diag_severity sev, const char *file, unsigned line,
			       unsigned col, const char *msg)
{
	struct gwt_diag *d = ctx;
	char buf[2048];

	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
	if (d->n < GWT_MAX_MSGS)
		d->msg[d->n++] = strdup(buf);
}

static inline void gwt_diag_init(struct gwt_diag *d)
{
	memset(d, 0, sizeof(*d));
	d->diag.fn = gwt_diag_cb;
	d->diag.ctx = d;
}

static inline void gwt_diag_clear(struct gwt_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msg[i]);
	gwt_diag_init(d);
}
