/* SPDX-License-Identifier: Apache-2.0 */
#include "common/diag.h"

#include <stdio.h>
#include <stdlib.h>

void diag_reportv(struct diag *d, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		  const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (!d)
		return;
	if (sev == DIAG_WARNING)
		d->warnings++;
	else
		d->errors++;
	if (!d->fn)
		return;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	d->fn(d->ctx, sev, file, line, col, msg ? msg : fmt);
	free(msg);
}

void diag_report(struct diag *d, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_reportv(d, sev, file, line, col, fmt, ap);
	va_end(ap);
}

int diag_format(char *buf, size_t size, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		const char *msg)
{
	const char *w = sev == DIAG_WARNING ? "warning: " : "";

	if (!file)
		file = "<input>";
	if (line == 0)
		return snprintf(buf, size, "%s: %s%s", file, w, msg);
	if (col == 0)
		return snprintf(buf, size, "%s:%u: %s%s", file, line, w, msg);
	return snprintf(buf, size, "%s:%u:%u: %s%s", file, line, col, w, msg);
}

void diag_print_file(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		     const char *msg)
{
	FILE *f = ctx ? ctx : stderr;
	const char *w = sev == DIAG_WARNING ? "warning: " : "";

	/* Same layout as diag_format() but without a length limit. */
	if (!file)
		file = "<input>";
	if (line == 0)
		fprintf(f, "%s: %s%s\n", file, w, msg);
	else if (col == 0)
		fprintf(f, "%s:%u: %s%s\n", file, line, w, msg);
	else
		fprintf(f, "%s:%u:%u: %s%s\n", file, line, col, w, msg);
}

void diag_forward_error(void *ctx, const char *file, unsigned line, unsigned col, const char *msg)
{
	diag_report(ctx, DIAG_ERROR, file, line, col, "%s", msg);
}
