/* SPDX-License-Identifier: Apache-2.0 */
#define SD_JOURNAL_SUPPRESS_LOCATION /* we pass CODE_FILE/LINE/FUNC of the caller ourselves */

#include "common/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define LOG_LINE_MAX   4096
#define LOG_FIELDS_MAX 16

_Atomic int log_max_level_ = LOG_INFO;
static _Atomic int log_target_ = LOG_TARGET_STDERR;
static _Atomic int log_stderr_prefix_ = -1; /* -1: not decided yet */

static const char *const level_names[] = {
	[LOG_ERR] = "err",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static const char *const target_names[LOG_TARGET__MAX] = {
	[LOG_TARGET_AUTO] = "auto",
	[LOG_TARGET_STDERR] = "stderr",
	[LOG_TARGET_JOURNAL] = "journal",
};

void log_set_max_level(int level)
{
	if (level < LOG_EMERG)
		level = LOG_EMERG;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	atomic_store_explicit(&log_max_level_, level, memory_order_relaxed);
}

/* systemd sets $JOURNAL_STREAM to "device:inode" of the stream it connected
 * to stdout/stderr; only when stderr still is that stream do we know our
 * output ends in the journal (a shell started from the service would inherit
 * the variable with another stderr). */
static bool stderr_is_journal_stream(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	char tail;

	if (!e || sscanf(e, "%ju:%ju%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void log_set_target(enum log_target target)
{
	if (target == LOG_TARGET_AUTO)
		target = stderr_is_journal_stream() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
	if (target != LOG_TARGET_JOURNAL)
		target = LOG_TARGET_STDERR;
	atomic_store_explicit(&log_target_, target, memory_order_relaxed);
}

enum log_target log_get_target(void)
{
	return (enum log_target)atomic_load_explicit(&log_target_, memory_order_relaxed);
}

void log_set_stderr_prefix(int prefix)
{
	atomic_store_explicit(&log_stderr_prefix_, prefix < 0 ? -1 : !!prefix, memory_order_relaxed);
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

const char *log_level_to_string(int level)
{
	if (level < LOG_ERR || level > LOG_DEBUG)
		return NULL;
	return level_names[level];
}

int log_target_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < LOG_TARGET__MAX; i++)
		if (strcasecmp(s, target_names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *log_target_to_string(enum log_target t)
{
	if ((int)t < 0 || t >= LOG_TARGET__MAX)
		return NULL;
	return target_names[t];
}

static void write_stderr(int level, const char *msg, size_t len)
{
	int prefix = atomic_load_explicit(&log_stderr_prefix_, memory_order_relaxed);
	char head[16];
	struct iovec iov[3];
	ssize_t w;

	if (prefix < 0) {
		/* Decided lazily, once: a terminal gets the human form, anything
		 * else (journal stream, pipe, file) the priority prefix. */
		prefix = !isatty(STDERR_FILENO);
		atomic_store_explicit(&log_stderr_prefix_, prefix, memory_order_relaxed);
	}
	if (prefix)
		snprintf(head, sizeof(head), "<%d>", level);
	else if (level <= LOG_ERR)
		snprintf(head, sizeof(head), "error: ");
	else if (level == LOG_WARNING)
		snprintf(head, sizeof(head), "warning: ");
	else if (level == LOG_DEBUG)
		snprintf(head, sizeof(head), "debug: ");
	else
		head[0] = '\0';

	iov[0] = (struct iovec){ .iov_base = head, .iov_len = strlen(head) };
	iov[1] = (struct iovec){ .iov_base = (void *)msg, .iov_len = len };
	iov[2] = (struct iovec){ .iov_base = "\n", .iov_len = 1 };
	/* One writev so concurrent lines do not interleave; nothing useful can
	 * be done when stderr is gone. */
	do {
		w = writev(STDERR_FILENO, iov, 3);
	} while (w < 0 && errno == EINTR);
}

static int write_journal(int level, int error, const char *file, int line, const char *func,
			 const char *const *fields, const char *msg, size_t len)
{
	char prio[16], code_file[512], code_line[32], code_func[256], err[32];
	char mbuf[LOG_LINE_MAX + 8];
	struct iovec iov[8 + LOG_FIELDS_MAX];
	int n = 0;

	snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
	snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
	snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
	snprintf(code_func, sizeof(code_func), "CODE_FUNC=%s", func);

	/* MESSAGE= and its text must be one iovec: the journal takes each
	 * iovec as one whole field. */
	memcpy(mbuf, "MESSAGE=", 8);
	memcpy(mbuf + 8, msg, len);
	iov[n++] = (struct iovec){ .iov_base = mbuf, .iov_len = len + 8 };
	iov[n++] = (struct iovec){ .iov_base = prio, .iov_len = strlen(prio) };
	iov[n++] = (struct iovec){ .iov_base = "SYSLOG_IDENTIFIER=fieldgate", .iov_len = 27 };
	iov[n++] = (struct iovec){ .iov_base = code_file, .iov_len = strlen(code_file) };
	iov[n++] = (struct iovec){ .iov_base = code_line, .iov_len = strlen(code_line) };
	iov[n++] = (struct iovec){ .iov_base = code_func, .iov_len = strlen(code_func) };
	if (error != 0) {
		snprintf(err, sizeof(err), "ERRNO=%d", error < 0 ? -error : error);
		iov[n++] = (struct iovec){ .iov_base = err, .iov_len = strlen(err) };
	}
	for (int i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++)
		iov[n++] = (struct iovec){ .iov_base = (void *)fields[i], .iov_len = strlen(fields[i]) };
	return sd_journal_sendv(iov, n);
}

int log_internalv(int level, int error, const char *file, int line, const char *func,
		  const char *const *fields, const char *format, va_list ap)
{
	int saved_errno = errno;
	char msg[LOG_LINE_MAX];
	int len;

	if (error != 0)
		errno = error < 0 ? -error : error; /* for %m */
	len = vsnprintf(msg, sizeof(msg), format, ap);
	if (len < 0)
		len = snprintf(msg, sizeof(msg), "(unformattable log message: %s)", format);
	if ((size_t)len >= sizeof(msg)) {
		/* Say so rather than cut silently. */
		memcpy(msg + sizeof(msg) - 4, "...", 4);
		len = sizeof(msg) - 1;
	}

	if (log_get_target() != LOG_TARGET_JOURNAL ||
	    write_journal(level, error, file, line, func, fields, msg, (size_t)len) < 0)
		write_stderr(level, msg, (size_t)len);

	errno = saved_errno;
	return log_errno_ret_(error);
}

int log_internal(int level, int error, const char *file, int line, const char *func,
		 const char *const *fields, const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = log_internalv(level, error, file, line, func, fields, format, ap);
	va_end(ap);
	return r;
}

int log_device_internal(int level, int error, const char *file, int line, const char *func,
			const struct log_device *who, const char *format, ...)
{
	char dev[300], br[300], ep[300], text[LOG_LINE_MAX];
	const char *fields[4] = { NULL };
	int saved_errno = errno, n = 0, len;
	va_list ap;

	if (who->device) {
		snprintf(dev, sizeof(dev), "DEVICE=%s", who->device);
		fields[n++] = dev;
	}
	if (who->bridge) {
		snprintf(br, sizeof(br), "BRIDGE=%s", who->bridge);
		fields[n++] = br;
	}
	if (who->endpoint) {
		snprintf(ep, sizeof(ep), "ENDPOINT=%s", who->endpoint);
		fields[n++] = ep;
	}
	/* The caller's text after the prefix; %m needs errno set first. */
	if (error != 0)
		errno = error < 0 ? -error : error;
	len = who->named ? 0 : snprintf(text, sizeof(text), "Device %s: ", who->device ? who->device : "?");
	va_start(ap, format);
	if (len >= 0 && (size_t)len < sizeof(text) &&
	    vsnprintf(text + len, sizeof(text) - (size_t)len, format, ap) >=
		    (int)(sizeof(text) - (size_t)len))
		memcpy(text + sizeof(text) - 4, "...", 4); /* say so rather than cut silently */
	va_end(ap);
	errno = saved_errno;
	return log_internal(level, error, file, line, func, fields, "%s", text);
}
