/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the cmocka unit tests: golden-vector data files. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Read tests/data/<rel> (FG_TEST_DATA) whole; aborts the test on failure.
 * The buffer is NUL-terminated (not counted in *len); free() it. */
uint8_t *tu_read_data(const char *rel, size_t *len);

/* Parse hex text ("0a ff\n# comment\n12") into bytes: whitespace ignored,
 * '#' starts a comment to end of line. Aborts the test on bad input; free(). */
uint8_t *tu_hex(const char *text, size_t *len);

/* tu_read_data() of a .hex file, then tu_hex(). */
uint8_t *tu_read_hex(const char *rel, size_t *len);

/* List the files (not directories) of tests/data/<dir> with the given suffix,
 * sorted; returns the count and sets *names (free each and the array). */
size_t tu_list_data(const char *dir, const char *suffix, char ***names);
