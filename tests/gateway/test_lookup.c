/* SPDX-License-Identifier: Apache-2.0 */
/* common/resolve.h: addresses recognised without a lookup, names looked up
 * off the loop (localhost answers, a .invalid name fails), a cancelled
 * lookup never calls back. */
#include <errno.h>
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/resolve.h"

struct answer {
	int calls, gai, family;
	size_t n;
	char addr[64];
	sd_event *ev;
};

static void on_answer(void *ud, int gai, int sys_errno, const struct resolve_addr *addrs, size_t n)
{
	struct answer *a = ud;

	(void)sys_errno;
	a->calls++;
	a->gai = gai;
	a->n = n;
	/* The loopback address among them (a hosts file may list ::1 first). */
	for (size_t i = 0; i < n; i++)
		if (strcmp(addrs[i].text, "127.0.0.1") == 0 || strcmp(addrs[i].text, "::1") == 0) {
			a->family = addrs[i].family;
			snprintf(a->addr, sizeof(a->addr), "%s", addrs[i].text);
		}
	sd_event_exit(a->ev, 0);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	(void)s;
	(void)usec;
	sd_event_exit(ud, -ETIMEDOUT);
	return 0;
}

/* Run the loop until the answer or timeout_s; returns the loop's exit code. */
static int run(sd_event *ev, unsigned timeout_s)
{
	sd_event_source *t = NULL;
	int r;

	assert_int_equal(sd_event_add_time_relative(ev, &t, CLOCK_MONOTONIC, timeout_s * 1000000ull, 0,
						    on_timeout, ev),
			 0);
	r = sd_event_loop(ev);
	sd_event_source_disable_unref(t);
	return r;
}

static void numeric(void **state)
{
	char buf[64];
	int family = 0;

	(void)state;
	assert_int_equal(resolve_numeric("192.0.2.7", &family, buf, sizeof(buf)), 0);
	assert_int_equal(family, AF_INET);
	assert_string_equal(buf, "192.0.2.7");
	assert_int_equal(resolve_numeric("2001:DB8:0:0::1", &family, buf, sizeof(buf)), 0);
	assert_int_equal(family, AF_INET6);
	assert_string_equal(buf, "2001:db8::1"); /* normalised */
	assert_int_equal(resolve_numeric("localhost", &family, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(resolve_numeric("[::1]", &family, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(resolve_numeric("256.1.1.1", &family, buf, sizeof(buf)), -EINVAL);
}

static void lookups(void **state)
{
	struct answer a = { 0 };
	struct resolve *r = NULL;

	(void)state;
	assert_int_equal(sd_event_new(&a.ev), 0);
	assert_int_equal(resolve_start(a.ev, "localhost", SOCK_DGRAM, on_answer, &a, &r), 0);
	assert_non_null(r);
	assert_int_equal(run(a.ev, 20), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.gai, 0);
	assert_true(a.n >= 1 && a.n <= RESOLVE_MAX_ADDRS);
	assert_true(strcmp(a.addr, "127.0.0.1") == 0 || strcmp(a.addr, "::1") == 0);
	assert_int_equal(a.family, strcmp(a.addr, "::1") == 0 ? AF_INET6 : AF_INET);
	sd_event_unref(a.ev);

	/* RFC 6761: .invalid never resolves. */
	a = (struct answer){ 0 };
	assert_int_equal(sd_event_new(&a.ev), 0);
	assert_int_equal(resolve_start(a.ev, "fieldgate-test.invalid", SOCK_STREAM, on_answer, &a, &r), 0);
	assert_int_equal(run(a.ev, 30), 0);
	assert_int_equal(a.calls, 1);
	assert_int_not_equal(a.gai, 0);
	assert_int_equal(a.n, 0);
	sd_event_unref(a.ev);

	/* Cancelled: the thread finishes on its own, no callback. */
	a = (struct answer){ 0 };
	assert_int_equal(sd_event_new(&a.ev), 0);
	assert_int_equal(resolve_start(a.ev, "localhost", SOCK_DGRAM, on_answer, &a, &r), 0);
	assert_null(resolve_cancel(r));
	assert_int_equal(run(a.ev, 1), -ETIMEDOUT);
	assert_int_equal(a.calls, 0);
	sd_event_unref(a.ev);
	assert_null(resolve_cancel(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numeric),
		cmocka_unit_test(lookups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
