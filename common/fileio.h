/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing files that must survive a power cut: the whole buffer written
 * (write() may stop short) and the folder's entry flushed too (a file
 * whose name is lost is lost all the same).
 */
#pragma once

#include <stddef.h>

/* All n bytes of p to fd (EINTR retried). 0 or a negative errno. */
int fg_write_all(int fd, const void *p, size_t n);
/* fsync() of the folder dir. 0 or a negative errno. */
int fg_sync_dir(const char *dir);
/* fsync() of the folder that holds path. 0 or a negative errno. */
int fg_sync_dir_of(const char *path);
