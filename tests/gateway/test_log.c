/* SPDX-License-Identifier: Apache-2.0 */
/* common/log: line formats, level filtering before formatting, errno
 * handling, and how the target is chosen. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

static int saved_stderr = -1, pipe_rd = -1;

/* stderr goes into a pipe for the duration of a test. */
static int setup(void **state)
{
	int p[2];
	(void)state;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	pipe_rd = p[0];
	unsetenv("JOURNAL_STREAM");
	log_set_target(LOG_TARGET_STDERR);
	log_set_max_level(LOG_INFO);
	log_set_stderr_prefix(1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(pipe_rd);
	return 0;
}

static char *drain(void)
{
	static char buf[16384];
	ssize_t n = read(pipe_rd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int calls;
static int side_effect(void)
{
	return ++calls;
}

static void test_prefix_format_and_levels(void **state)
{
	(void)state;
	log_info("hello %d", 5);
	log_notice("n");
	log_warning("w");
	log_error("e");
	log_debug("not shown");
	assert_string_equal(drain(), "<6>hello 5\n<5>n\n<4>w\n<3>e\n");

	log_set_max_level(LOG_DEBUG);
	log_debug("now shown");
	assert_string_equal(drain(), "<7>now shown\n");

	log_set_max_level(LOG_WARNING);
	assert_int_equal(log_get_max_level(), LOG_WARNING);
	log_info("hidden");
	log_warning("shown");
	assert_string_equal(drain(), "<4>shown\n");
}

static void test_level_checked_before_formatting(void **state)
{
	(void)state;
	calls = 0;
	log_debug("%d", side_effect());
	assert_int_equal(calls, 0); /* arguments not even evaluated */
	log_info("%d", side_effect());
	assert_int_equal(calls, 1);
	assert_string_equal(drain(), "<6>1\n");
	/* A disabled errno variant still returns the error. */
	assert_int_equal(log_debug_errno(EPERM, "%d", side_effect()), -EPERM);
	assert_int_equal(calls, 1);
}

static void test_errno_helpers(void **state)
{
	(void)state;
	errno = EAGAIN;
	assert_int_equal(log_error_errno(-ENOENT, "open x: %m"), -ENOENT);
	assert_int_equal(errno, EAGAIN); /* preserved */
	assert_int_equal(log_warning_errno(EIO, "io: %m"), -EIO);
	assert_int_equal(log_oom(), -ENOMEM);
	assert_string_equal(
		drain(),
		"<3>open x: No such file or directory\n<4>io: Input/output error\n<3>Out of memory.\n");
}

static void test_human_format(void **state)
{
	(void)state;
	log_set_stderr_prefix(0);
	log_info("plain");
	log_warning("careful");
	log_error("broken");
	log_set_max_level(LOG_DEBUG);
	log_debug("detail");
	assert_string_equal(drain(), "plain\nwarning: careful\nerror: broken\ndebug: detail\n");
}

static void test_long_message_marked(void **state)
{
	(void)state;
	char *big = malloc(10000);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	log_info("%s", big);
	char *out = drain();
	size_t n = strlen(out);
	assert_int_equal(n, 3 + 4095 + 1);
	assert_memory_equal(out + n - 4, "...\n", 4);
	free(big);
}

static void test_device_lines(void **state)
{
	const struct log_device who = { .device = "pump", .bridge = "bus1", .endpoint = "gw-pump" };
	const struct log_device anon = { 0 };
	const struct log_device named = { .device = "pump", .bridge = "bus1", .named = true };

	(void)state;
	calls = 0;
	/* The level is checked before anything is formatted, as for log_*(). */
	log_device_debug(&who, "%d", side_effect());
	assert_int_equal(calls, 0);
	errno = EAGAIN;
	assert_int_equal(log_device_warning_errno(&who, -EIO, "unreachable: %m"), -EIO);
	assert_int_equal(errno, EAGAIN);
	log_device_info(&who, "reachable again");
	log_device_error(&anon, "no name");
	/* A bridge's line names the device in its own words: no prefix. */
	log_device_warning(&named, "Modbus bus1: device pump (unit 3) does not answer");
	/* On stderr the fields are not shown: the prefix says whom. */
	assert_string_equal(drain(), "<4>Device pump: unreachable: Input/output error\n"
				     "<6>Device pump: reachable again\n"
				     "<3>Device ?: no name\n"
				     "<4>Modbus bus1: device pump (unit 3) does not answer\n");
	char *big = malloc(10000);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	log_device_info(&who, "%s", big);
	char *out = drain();
	assert_int_equal(strlen(out), 3 + 4095 + 1);
	assert_memory_equal(out + strlen(out) - 4, "...\n", 4);
	free(big);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(log_level_from_string("err"), LOG_ERR);
	assert_int_equal(log_level_from_string("error"), LOG_ERR);
	assert_int_equal(log_level_from_string("WARN"), LOG_WARNING);
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("6"), LOG_INFO);
	assert_int_equal(log_level_from_string("8"), -EINVAL);
	assert_int_equal(log_level_from_string("verbose"), -EINVAL);
	assert_string_equal(log_level_to_string(LOG_NOTICE), "notice");
	assert_null(log_level_to_string(9));
	assert_int_equal(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
	assert_int_equal(log_target_from_string("auto"), LOG_TARGET_AUTO);
	assert_int_equal(log_target_from_string("syslog"), -EINVAL);
	assert_string_equal(log_target_to_string(LOG_TARGET_STDERR), "stderr");
}

static void test_auto_target(void **state)
{
	(void)state;
	struct stat st;
	char v[64];

	unsetenv("JOURNAL_STREAM");
	log_set_target(LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);

	/* $JOURNAL_STREAM naming our stderr: systemd connected it to the journal. */
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	log_set_target(LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);

	/* Inherited by a process whose stderr is something else: not the journal. */
	snprintf(v, sizeof(v), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1);
	log_set_target(LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_set_target(LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	unsetenv("JOURNAL_STREAM");

	log_set_target(LOG_TARGET_JOURNAL);
	assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);
	/* With journald this goes there (with DEVICE=); without, the message
	 * must still come out, on stderr. */
	static const char *const fields[] = { "DEVICE=meter-1", "BRIDGE=modbus0", NULL };
	assert_int_equal(log_full_fields_errno(LOG_INFO, EIO, fields, "journal or fallback: %m"), -EIO);
	char *out = drain();
	if (*out)
		assert_string_equal(out, "<6>journal or fallback: Input/output error\n");
	log_set_target(LOG_TARGET_STDERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prefix_format_and_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_checked_before_formatting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_helpers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_human_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message_marked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_target, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
