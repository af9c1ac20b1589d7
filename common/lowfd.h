/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/lowfd.h — descriptor numbers below FD_SETSIZE for libraries that
 * wait with select(): libmodbus 3.1 does, in every receive.
 *
 * A gateway in endpoint mode holds one socket per device; with a thousand
 * devices, a socket a library opens afterwards gets a number above 1023,
 * which select() cannot take: glibc aborts the process ("bit out of range
 * 0 - FD_SETSIZE on fd_set"). lowfd_reserve() keeps a few low numbers
 * early, as placeholders open on /dev/null; lowfd_move() puts a descriptor
 * that is too high on one of them (dup3() replaces the placeholder
 * atomically), and lowfd_close() closes what a reserved number holds and
 * keeps the number for the next connection. No number is ever closed and
 * reused behind another thread's back. Thread-safe: the Modbus workers
 * call it.
 */
#pragma once

#include <stdbool.h>

/* Keep up to n more low numbers (64 in all). 0, or -errno when not even
 * one could be had (the callers fall back to any free low number). */
int lowfd_reserve(unsigned n);
/* fd itself when it is below FD_SETSIZE; else fd moved to a reserved
 * number, or failing that to any free number below FD_SETSIZE, and fd
 * closed. -EMFILE: no low number is free (fd is left as it was). The
 * result is close-on-exec. */
int lowfd_move(int fd);
/* Whether fd is a reserved number lowfd_move() handed out. */
bool lowfd_is_reserved(int fd);
/* Close fd; a reserved number becomes a placeholder again. */
void lowfd_close(int fd);
