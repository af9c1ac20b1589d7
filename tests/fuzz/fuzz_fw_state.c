/* SPDX-License-Identifier: Apache-2.0 */
/* fwupdate_saved_parse() (gateway/registry/fwupdate.c), the firmware
 * update's state file: never reads past the input, every string field is
 * terminated within its size and holds no newline, state and result are in
 * their ranges (0..3, 0..11), and the text the daemon would write back from
 * what was parsed parses to the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/registry/fwupdate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t size)
{
	if (!memchr(s, '\0', size) || strchr(s, '\n'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: ASan sees a read past the end. */
	char *text = malloc(size ? size : 1), again[512];
	struct fwupdate_saved s, t;
	int n;

	if (!text)
		return 0;
	memcpy(text, data, size);
	fwupdate_saved_parse(text, size, &s);
	free(text);
	if (s.state < 0 || s.state > 3 || s.result < 0 || s.result > 11)
		abort();
	check_text(s.from, sizeof(s.from));
	check_text(s.name, sizeof(s.name));
	check_text(s.ver, sizeof(s.ver));
	n = snprintf(again, sizeof(again), "state=%d\nresult=%d\nfrom=%s\nname=%s\nversion=%s\n", s.state,
		     s.result, s.from, s.name, s.ver);
	if (n < 0 || (size_t)n >= sizeof(again))
		abort();
	fwupdate_saved_parse(again, (size_t)n, &t);
	if (s.state != t.state || s.result != t.result || strcmp(s.from, t.from) || strcmp(s.name, t.name) ||
	    strcmp(s.ver, t.ver))
		abort();
	return 0;
}
