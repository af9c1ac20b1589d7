/* SPDX-License-Identifier: Apache-2.0 */
/* Low descriptor numbers for select() users (see lowfd.h). */
#include "common/lowfd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/select.h>
#include <unistd.h>

#define LOWFD_MAX 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int null_fd = -1; /* what a free reserved number holds a copy of */
static struct {
	int fd;
	bool used;
} slots[LOWFD_MAX];
static unsigned nslots;

int lowfd_reserve(unsigned n)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	if (null_fd < 0)
		null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		r = -errno;
	for (unsigned i = 0; r == 0 && i < n && nslots < LOWFD_MAX; i++) {
		int fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0 || fd >= FD_SETSIZE) {
			if (fd >= 0)
				close(fd);
			r = nslots ? 0 : -EMFILE;
			break;
		}
		slots[nslots].fd = fd;
		slots[nslots++].used = false;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

int lowfd_move(int fd)
{
	int to = -1;

	if (fd < FD_SETSIZE)
		return fd;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nslots && to < 0; i++)
		if (!slots[i].used && dup3(fd, slots[i].fd, O_CLOEXEC) >= 0) {
			slots[i].used = true;
			to = slots[i].fd;
		}
	pthread_mutex_unlock(&lock);
	if (to < 0) {
		/* No reserve left: the lowest free number, if it is low enough. */
		to = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (to >= FD_SETSIZE) {
			close(to);
			to = -1;
		}
		if (to < 0)
			return -EMFILE;
	}
	close(fd);
	return to;
}

bool lowfd_is_reserved(int fd)
{
	bool found = false;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nslots && !found; i++)
		found = slots[i].used && slots[i].fd == fd;
	pthread_mutex_unlock(&lock);
	return found;
}

void lowfd_close(int fd)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nslots; i++)
		if (slots[i].used && slots[i].fd == fd) {
			/* Closes what fd held; the number stays a placeholder. */
			if (dup3(null_fd, fd, O_CLOEXEC) >= 0) {
				slots[i].used = false;
				pthread_mutex_unlock(&lock);
				return;
			}
			slots[i] = slots[--nslots]; /* cannot happen: give the number up */
			break;
		}
	pthread_mutex_unlock(&lock);
	close(fd);
}
