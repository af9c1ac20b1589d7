/* SPDX-License-Identifier: Apache-2.0 */
/* common/lowfd: low numbers kept for select() users while the rest of the
 * process takes every number below FD_SETSIZE. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/lowfd.h"

static int same_file(int a, int b)
{
	struct stat x, y;

	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_ino == y.st_ino && x.st_dev == y.st_dev;
}

static void test_move_and_keep(void **state)
{
	struct rlimit rl;
	int fill[FD_SETSIZE], nfill = 0, pair[2], high, low, again;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < FD_SETSIZE + 64) {
		/* No descriptor can be above FD_SETSIZE here: nothing to move. */
		assert_int_equal(lowfd_move(0), 0);
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(lowfd_reserve(2), 0);
	/* The rest of the process takes every low number left. */
	for (;;) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		if (fd >= FD_SETSIZE) {
			close(fd);
			break;
		}
		fill[nfill++] = fd;
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	high = pair[0];
	assert_true(high >= FD_SETSIZE);
	assert_int_equal(lowfd_move(5), 5); /* low already: itself */
	low = lowfd_move(high);
	assert_true(low >= 0 && low < FD_SETSIZE);
	assert_true(lowfd_is_reserved(low));
	assert_int_equal(fcntl(high, F_GETFD), -1); /* the high one is closed */
	assert_int_equal(write(pair[1], "x", 1), 1);
	char c = 0;
	assert_int_equal(read(low, &c, 1), 1); /* the same socket */
	assert_int_equal(c, 'x');
	assert_true(fcntl(low, F_GETFD) & FD_CLOEXEC);
	/* Closing keeps the number: the peer sees the end, the number is a
	 * placeholder again and the next move gets it back. */
	lowfd_close(low);
	assert_int_equal(read(pair[1], &c, 1), 0);
	assert_false(lowfd_is_reserved(low));
	assert_true(fcntl(low, F_GETFD) >= 0);
	int p2[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p2), 0);
	again = lowfd_move(p2[0]);
	assert_true(again >= 0 && again < FD_SETSIZE);
	assert_true(lowfd_is_reserved(again));
	/* Both reserved numbers in use: -EMFILE, the descriptor left open. */
	int p3[2], p4[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p3), 0);
	int second = lowfd_move(p3[0]);
	assert_true(second >= 0 && second < FD_SETSIZE && second != again);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p4), 0);
	assert_int_equal(lowfd_move(p4[0]), -EMFILE);
	assert_true(fcntl(p4[0], F_GETFD) >= 0);
	/* A low number freed elsewhere is taken when the reserve is used up. */
	close(fill[nfill - 1]);
	int any = lowfd_move(p4[0]);
	assert_int_equal(any, fill[--nfill]);
	assert_false(lowfd_is_reserved(any));
	assert_false(same_file(any, again));
	lowfd_close(any); /* not reserved: closed for good */
	assert_int_equal(fcntl(any, F_GETFD), -1);

	lowfd_close(again);
	lowfd_close(second);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(pair[1]);
	close(p2[1]);
	close(p3[1]);
	close(p4[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_move_and_keep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
