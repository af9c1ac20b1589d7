/* SPDX-License-Identifier: Apache-2.0 */
/* gateway/pkg: the Package URI check, /5/0/8's values, the push to a file. */
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

#include "gateway/pkg/pkg.h"

#define ALL (GW_PKG_COAP | GW_PKG_COAPS | GW_PKG_HTTP | GW_PKG_HTTPS)

static void test_uri_check(void **state)
{
	static const struct {
		const char *uri;
		unsigned schemes;
		enum gw_pkg_result want;
	} cases[] = {
		{ "http://example.com/fw.deb", ALL, GW_PKG_OK },
		{ "https://example.com:8443/a/b?x=1&y=%20", ALL, GW_PKG_OK },
		{ "coap://192.0.2.1/fw", ALL, GW_PKG_OK },
		{ "coap://[2001:db8::1]:5684/fw", ALL, GW_PKG_OK },
	/* coaps: fetched when allowed and libcoap has DTLS */
#ifdef FG_PKG_COAPS
		{ "coaps://[2001:db8::1]:5684/fw", ALL, GW_PKG_OK },
#else
		{ "coaps://[2001:db8::1]:5684/fw", ALL, GW_PKG_UNSUPPORTED_PROTOCOL },
#endif
		{ "coaps://[2001:db8::1]:5684/fw", ALL & ~GW_PKG_COAPS, GW_PKG_UNSUPPORTED_PROTOCOL },
		{ "HTTP://example.com", ALL, GW_PKG_OK },
		{ "coap://h", ALL, GW_PKG_OK },
		/* allowed or not */
		{ "http://example.com/fw", GW_PKG_HTTPS | GW_PKG_COAPS, GW_PKG_UNSUPPORTED_PROTOCOL },
		{ "coap://example.com/fw", GW_PKG_HTTPS, GW_PKG_UNSUPPORTED_PROTOCOL },
		{ "ftp://example.com/fw", ALL, GW_PKG_UNSUPPORTED_PROTOCOL },
		{ "file://localhost/etc/passwd", ALL, GW_PKG_UNSUPPORTED_PROTOCOL },
		/* malformed */
		{ "", ALL, GW_PKG_INVALID_URI },
		{ "example.com/fw", ALL, GW_PKG_INVALID_URI },
		{ "http:/example.com", ALL, GW_PKG_INVALID_URI },
		{ "http://", ALL, GW_PKG_INVALID_URI },
		{ "http:///fw", ALL, GW_PKG_INVALID_URI },
		{ "http://user:pw@example.com/fw", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com/fw#frag", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com/f w", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com/%zz", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com/%2", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com:0/", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com:65536/", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com:/", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com:8a/", ALL, GW_PKG_INVALID_URI },
		{ "http://exa_mple.com/", ALL, GW_PKG_INVALID_URI },
		{ "http://a..b/", ALL, GW_PKG_INVALID_URI },
		{ "http://999.1.1.1/", ALL, GW_PKG_INVALID_URI },
		{ "http://[::1/", ALL, GW_PKG_INVALID_URI },
		{ "http://[::1]x/", ALL, GW_PKG_INVALID_URI },
		{ "http://[1.2.3.4]/", ALL, GW_PKG_INVALID_URI },
		{ "http://[fe80::1%25eth0]/", ALL, GW_PKG_INVALID_URI },
		{ "1http://example.com/", ALL, GW_PKG_INVALID_URI },
		{ "http://example.com/\x01", ALL, GW_PKG_INVALID_URI },
		{ NULL, ALL, GW_PKG_INVALID_URI },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum gw_pkg_result r = gw_pkg_uri_check(cases[i].uri, cases[i].schemes);
		if (r != cases[i].want)
			fail_msg("%s: %d, expected %d", cases[i].uri ? cases[i].uri : "(null)", r,
				 cases[i].want);
	}
	/* Longer than any Package URI a server may write. */
	char *big = malloc(3000);
	assert_non_null(big);
	memset(big, 'a', 2999);
	big[2999] = 0;
	memcpy(big, "http://h/", 9);
	assert_int_equal(gw_pkg_uri_check(big, ALL), GW_PKG_INVALID_URI);
	free(big);
}

static void test_protocols(void **state)
{
	int64_t v[4];

	(void)state;
#ifdef FG_PKG_COAPS
	/* /5/0/8: 0 CoAP, 1 CoAPS, 2 HTTP, 3 HTTPS, as allowed. */
	assert_int_equal(gw_pkg_protocols(ALL, v, 4), 4);
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 1);
	assert_int_equal(v[2], 2);
	assert_int_equal(v[3], 3);
	assert_int_equal(gw_pkg_protocols(GW_PKG_COAPS | GW_PKG_HTTPS, v, 4), 2);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 3);
#else
	/* CoAPS is not offered when libcoap has no DTLS. */
	assert_int_equal(gw_pkg_protocols(ALL, v, 4), 3);
	assert_int_equal(gw_pkg_protocols(GW_PKG_COAPS | GW_PKG_HTTPS, v, 4), 1);
	assert_int_equal(v[0], 3);
#endif
	assert_int_equal(gw_pkg_protocols(GW_PKG_HTTP, v, 4), 1);
	assert_int_equal(v[0], 2);
	assert_int_equal(gw_pkg_protocols(ALL, v, 1), 1);
	assert_int_equal(gw_pkg_scheme_bit("coaps"), GW_PKG_COAPS);
	assert_int_equal(gw_pkg_scheme_bit("ftp"), 0);
}

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/fg-pkg-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

static off_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_push(void **state)
{
	struct gw_pkg_limits lim = { .max_size = 4096 };
	struct gw_pkg_push *p;
	char path[128];
	uint8_t block[1024], back[3000];
	uint64_t size;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/pushed", dir);
	assert_int_equal(gw_pkg_push_start(path, &lim, &p), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	for (int i = 0; i < 3; i++) {
		memset(block, 'a' + i, sizeof(block));
		assert_int_equal(gw_pkg_push_block(&p, (uint64_t)i * 1024, block, i == 2 ? 952 : 1024),
				 GW_PKG_OK);
		/* The same block again (its answer was lost): nothing changes. */
		memset(block, 'x', sizeof(block));
		assert_int_equal(gw_pkg_push_block(&p, (uint64_t)i * 1024, block, i == 2 ? 952 : 1024),
				 GW_PKG_OK);
	}
	assert_int_equal(gw_pkg_push_finish(p, &size), GW_PKG_OK);
	assert_int_equal(size, 3000);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, back, sizeof(back)), 3000);
	close(fd);
	assert_int_equal(back[0], 'a');
	assert_int_equal(back[1024], 'b');
	assert_int_equal(back[2999], 'c');
	unlink(path);

	/* A gap: INTEGRITY, the file gone, the push freed. */
	assert_int_equal(gw_pkg_push_start(path, &lim, &p), 0);
	assert_int_equal(gw_pkg_push_block(&p, 0, block, 1024), GW_PKG_OK);
	assert_int_equal(gw_pkg_push_block(&p, 2048, block, 1024), GW_PKG_INTEGRITY);
	assert_null(p);
	assert_int_equal(size_of(path), -1);

	/* Over max_size: NO_SPACE. */
	assert_int_equal(gw_pkg_push_start(path, &lim, &p), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(gw_pkg_push_block(&p, (uint64_t)i * 1024, block, 1024), GW_PKG_OK);
	assert_int_equal(gw_pkg_push_block(&p, 4096, block, 1), GW_PKG_NO_SPACE);
	assert_null(p);
	assert_int_equal(size_of(path), -1);

	/* Abort: the file gone. */
	assert_int_equal(gw_pkg_push_start(path, &lim, &p), 0);
	assert_int_equal(gw_pkg_push_block(&p, 0, block, 10), GW_PKG_OK);
	assert_null(gw_pkg_push_abort(p));
	assert_null(gw_pkg_push_abort(NULL));
	assert_int_equal(size_of(path), -1);

	/* A directory that is not there: the errno. */
	assert_int_equal(gw_pkg_push_start("/nonexistent/x", &lim, &p), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_check),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_push),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
