/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/log.h — the one logger of the fieldgate daemon.
 *
 * Levels are the syslog priorities (LOG_ERR .. LOG_DEBUG from <syslog.h>).
 * Every macro checks the level before any argument is formatted, so a
 * disabled log_debug() on a hot path costs one relaxed atomic load and a
 * compare. Messages are formatted into a stack buffer and written with one
 * write()/sd_journal_sendv() call, so threads may log concurrently.
 *
 * Targets:
 *   LOG_TARGET_JOURNAL  native journal protocol with structured fields
 *                       (PRIORITY, MESSAGE, CODE_FILE/LINE/FUNC,
 *                       SYSLOG_IDENTIFIER, ERRNO and caller fields such as
 *                       DEVICE=, BRIDGE= and ENDPOINT= of log_device_*());
 *                       falls back to stderr when the journal cannot be
 *                       reached.
 *   LOG_TARGET_STDERR   one line per message on stderr: "<N>message" (the
 *                       syslog priority prefix journald and most log
 *                       collectors understand) unless stderr is a terminal,
 *                       where it is the human form "warning: message".
 *   LOG_TARGET_AUTO     journal when stderr is the service's journal stream
 *                       ($JOURNAL_STREAM names stderr's device:inode, as
 *                       systemd sets it), stderr otherwise.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_AUTO = 0,
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
	LOG_TARGET__MAX,
};

/* Private: read through log_get_max_level(). */
extern _Atomic int log_max_level_;

static inline int log_get_max_level(void)
{
	return atomic_load_explicit(&log_max_level_, memory_order_relaxed);
}

/* The error value a log_*_errno() macro returns: always negative, so
 * `return log_error_errno(r, ...)` works with r = -EINVAL and with errno. */
static inline int log_errno_ret_(int error)
{
	return error < 0 ? error : -error;
}

/* Set the most verbose level that is written (LOG_ERR .. LOG_DEBUG). */
void log_set_max_level(int level);
/* Choose where messages go; LOG_TARGET_AUTO decides once, here, from the
 * environment. Safe to call again (e.g. after a reload). */
void log_set_target(enum log_target target);
/* The target in use after AUTO was resolved (STDERR or JOURNAL). */
enum log_target log_get_target(void);
/* Force or forbid the "<N>" prefix on stderr (-1: decide by isatty). */
void log_set_stderr_prefix(int prefix);

/* Names: "err", "warning", "notice", "info", "debug" (also accepted when
 * parsing: "error", "warn", and the numbers 3..7). -EINVAL if unknown. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);
/* "auto", "stderr", "journal". -EINVAL if unknown. */
int log_target_from_string(const char *s);
const char *log_target_to_string(enum log_target t);

/* Write one message. fields is NULL or a NULL-terminated array of extra
 * journal fields "KEY=value" (keys upper case, as the journal wants them);
 * on stderr they are not shown, per-object helpers put the context in the
 * message text too. error is 0 or an errno (either sign); it sets errno for
 * %m and the ERRNO= field. Returns log_errno_ret_(error). Do not call
 * directly: the macros below check the level first. */
int log_internal(int level, int error, const char *file, int line, const char *func,
		 const char *const *fields, const char *format, ...) __attribute__((format(printf, 7, 8)));
int log_internalv(int level, int error, const char *file, int line, const char *func,
		  const char *const *fields, const char *format, va_list ap)
	__attribute__((format(printf, 7, 0)));

#define log_full_fields_errno(level, error, fields, ...)                                               \
	(log_get_max_level() >= (level)                                                                \
		 ? log_internal((level), (error), __FILE__, __LINE__, __func__, (fields), __VA_ARGS__) \
		 : log_errno_ret_(error))

#define log_full_errno(level, error, ...) log_full_fields_errno((level), (error), NULL, __VA_ARGS__)
#define log_full(level, ...)              ((void)log_full_errno((level), 0, __VA_ARGS__))

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

/* These return the (negative) error so callers can `return log_error_errno(r, "...: %m");`. */
#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_notice_errno(error, ...)  log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, (error), __VA_ARGS__)

/* ---- per-device lines ------------------------------------------------------ */

/* Whom a line is about, as systemd's log_netdev_*() say which interface:
 * the journal gets DEVICE=, BRIDGE= and ENDPOINT= (each field only when it
 * is not NULL), and the text starts "Device NAME: " on every target, so
 * that stderr says it too. */
struct log_device {
	const char *device;   /* the device's name (configured or discovered) */
	const char *bridge;   /* the name of its bridge instance, or NULL */
	const char *endpoint; /* the LwM2M endpoint it is, or NULL */
	/* The text names the device in its own words (a bridge's lines,
	 * "Modbus bus1: device pump (unit 3) ..."): no prefix, fields only. */
	bool named;
};

/* Like log_internal(), for a line about who (not NULL). Do not call
 * directly: the macros below check the level first. */
int log_device_internal(int level, int error, const char *file, int line, const char *func,
			const struct log_device *who, const char *format, ...)
	__attribute__((format(printf, 7, 8)));

#define log_device_full_errno(who, level, error, ...)                                                      \
	(log_get_max_level() >= (level)                                                                    \
		 ? log_device_internal((level), (error), __FILE__, __LINE__, __func__, (who), __VA_ARGS__) \
		 : log_errno_ret_(error))
#define log_device_full(who, level, ...) ((void)log_device_full_errno((who), (level), 0, __VA_ARGS__))

#define log_device_debug(who, ...)              log_device_full((who), LOG_DEBUG, __VA_ARGS__)
#define log_device_info(who, ...)               log_device_full((who), LOG_INFO, __VA_ARGS__)
#define log_device_notice(who, ...)             log_device_full((who), LOG_NOTICE, __VA_ARGS__)
#define log_device_warning(who, ...)            log_device_full((who), LOG_WARNING, __VA_ARGS__)
#define log_device_error(who, ...)              log_device_full((who), LOG_ERR, __VA_ARGS__)
#define log_device_debug_errno(who, error, ...) log_device_full_errno((who), LOG_DEBUG, (error), __VA_ARGS__)
#define log_device_info_errno(who, error, ...)  log_device_full_errno((who), LOG_INFO, (error), __VA_ARGS__)
#define log_device_notice_errno(who, error, ...) \
	log_device_full_errno((who), LOG_NOTICE, (error), __VA_ARGS__)
#define log_device_warning_errno(who, error, ...) \
	log_device_full_errno((who), LOG_WARNING, (error), __VA_ARGS__)
#define log_device_error_errno(who, error, ...) log_device_full_errno((who), LOG_ERR, (error), __VA_ARGS__)

/* For out-of-memory paths: logs and returns -ENOMEM. */
#define log_oom() log_full_errno(LOG_ERR, ENOMEM, "Out of memory.")
