/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files in the client's state directory and the detached jobs that write
 * them: see statefile.h.
 */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool name_char_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '-';
}

int fg_state_file_name(const char *prefix, const char *name, const char *suffix,
		       char out[FG_STATE_FILE_NAME_MAX])
{
	static const char hex[] = "0123456789ABCDEF";
	enum { KEEP = 150 };
	size_t n, enc = 0, len = strlen(name), pl = strlen(prefix), sl = strlen(suffix);
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

	if (len == 0 || pl == 0 || pl > 16 || sl > 16)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		enc += name_char_plain((unsigned char)name[i]) ? 1 : 3;
	memcpy(out, prefix, pl);
	n = pl;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		size_t w = name_char_plain(c) ? 1 : 3;

		/* The prefix keeps "." and ".." and hidden names away; %XX
		 * keeps '/' and control bytes out; the mapping is one to one,
		 * so two names never share a file... */
		if (enc > KEEP && n - pl + w > KEEP)
			break;
		if (w == 1) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	if (enc > KEEP) {
		/* ...except long ones, cut and told apart by a hash ('~' never
		 * appears in an encoded name); the files also carry the full
		 * name, which their readers check. */
		for (size_t i = 0; i < len; i++) {
			h ^= (unsigned char)name[i];
			h *= 0x100000001b3ull;
		}
		out[n++] = '~';
		for (int k = 15; k >= 0; k--)
			out[n++] = hex[(h >> (4 * k)) & 15];
	}
	memcpy(out + n, suffix, sl + 1);
	return (int)(n + sl);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int fg_state_replace(const char *dir, const char *fname, const uint8_t *data, size_t len)
{
	char tmp[FG_STATE_FILE_NAME_MAX + 8];
	int dfd, fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", fname) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/* A fresh file, so its mode is ours (0600) whatever was there. */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT) {
		r = -errno;
		goto out;
	}
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, data, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && renameat(dfd, tmp, dfd, fname) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	/* The rename itself must reach the disk. */
	if (fsync(dfd) < 0)
		r = -errno;
out:
	close(dfd);
	return r;
}

int fg_state_append(const char *dir, const char *fname, const uint8_t *head, size_t head_len,
		    const uint8_t *data, size_t len, int sync)
{
	struct stat st;
	int dfd, fd, r = 0;
	bool created = false;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, fname, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(dfd, fname, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		created = true;
	}
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EBADF;
	if (r >= 0 && st.st_size == 0 && head_len)
		r = write_all(fd, head, head_len);
	if (r >= 0)
		r = write_all(fd, data, len);
	if (r >= 0 && sync && fdatasync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	/* A new file's name must reach the disk with it. */
	if (r >= 0 && created && sync && fsync(dfd) < 0)
		r = -errno;
out:
	close(dfd);
	return r;
}

int fg_state_remove(const char *dir, const char *fname)
{
	int dfd, r = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (unlinkat(dfd, fname, 0) < 0 && errno != ENOENT)
		r = -errno;
	else if (fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}
