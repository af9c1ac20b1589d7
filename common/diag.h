/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/diag.h — a collector for configuration diagnostics.
 *
 * Loaders (YAML, schema, DDF) report every problem they find with its
 * position instead of stopping at the first one; the collector counts them
 * and hands each to a callback that prints, logs or discards it. The printed
 * form is "file:line:col: message" (": warning: " for warnings), with line
 * and column 1-based and left out when unknown (0).
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>

enum diag_severity {
	DIAG_ERROR = 0,
	DIAG_WARNING,
};

typedef void (*diag_fn)(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
			const char *msg);

struct diag {
	unsigned errors, warnings; /* counts of what was reported */
	diag_fn fn;                /* NULL: count only */
	void *ctx;
};

/* Report one problem: counts it and calls d->fn with the formatted message.
 * file may be NULL. Never fails (on OOM the raw format string is passed). */
void diag_report(struct diag *d, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void diag_reportv(struct diag *d, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		  const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* "file:line:col: message" into buf (always NUL-terminated); returns what
 * snprintf returns. */
int diag_format(char *buf, size_t size, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		const char *msg);

/* A diag_fn printing diag_format() lines to the FILE * in ctx (stderr when
 * ctx is NULL). */
void diag_print_file(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		     const char *msg);

/* Adapter with the signature of lwm2m_diag_fn: ctx is a struct diag *; the
 * problem is reported as an error. */
void diag_forward_error(void *ctx, const char *file, unsigned line, unsigned col, const char *msg);
