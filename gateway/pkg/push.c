/* SPDX-License-Identifier: Apache-2.0 */
/* Pushed packages: the blocks of a block-wise Write, written to the file
 * as they come; nothing of the package stays in memory. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway/pkg/pkg_internal.h"
#include "common/fileio.h"

struct gw_pkg_push {
	int fd;
	char *dest;
	uint64_t size; /* bytes written, all from offset 0 on */
	uint64_t max_size;
};

enum gw_pkg_result pkg_write_at(int fd, uint64_t offset, const void *data, size_t len, uint64_t max_size)
{
	const uint8_t *p = data;

	if (offset > max_size || len > max_size - offset)
		return GW_PKG_NO_SPACE;
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)offset);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EFBIG))
			return GW_PKG_NO_SPACE;
		if (w < 0) {
			log_warning_errno(-errno, "Cannot write the package: %m");
			return GW_PKG_INTEGRITY;
		}
		p += w;
		len -= (size_t)w;
		offset += (uint64_t)w;
	}
	return GW_PKG_OK;
}

int gw_pkg_push_start(const char *dest, const struct gw_pkg_limits *lim, struct gw_pkg_push **out)
{
	struct gw_pkg_push *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->dest = strdup(dest);
	if (!p->dest) {
		free(p);
		return -ENOMEM;
	}
	p->fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (p->fd < 0) {
		int r = -errno;
		free(p->dest);
		free(p);
		return r;
	}
	p->max_size = lim->max_size;
	*out = p;
	return 0;
}

static void push_free(struct gw_pkg_push *p, bool remove)
{
	if (p->fd >= 0)
		close(p->fd);
	if (remove)
		unlink(p->dest);
	free(p->dest);
	free(p);
}

enum gw_pkg_result gw_pkg_push_block(struct gw_pkg_push **pp, uint64_t offset, const void *data, size_t len)
{
	struct gw_pkg_push *p = *pp;
	enum gw_pkg_result r;

	if (offset > p->size) {
		r = GW_PKG_INTEGRITY; /* a block is missing */
	} else if (len <= p->size - offset) {
		return GW_PKG_OK; /* a repeated block: written already */
	} else {
		/* From the first byte not yet written (a retransmission may
		 * overlap what is). */
		size_t skip = (size_t)(p->size - offset);
		r = pkg_write_at(p->fd, p->size, (const uint8_t *)data + skip, len - skip, p->max_size);
		if (r == GW_PKG_OK) {
			p->size += len - skip;
			return GW_PKG_OK;
		}
	}
	push_free(p, true);
	*pp = NULL;
	return r;
}

/* The directory entry on disk too: a package that survives a power cut
 * but whose name does not is lost all the same. */
enum gw_pkg_result gw_pkg_push_finish(struct gw_pkg_push *p, uint64_t *size)
{
	enum gw_pkg_result r = GW_PKG_OK;
	int e = 0;

	if (fsync(p->fd) < 0 || close(p->fd) < 0)
		e = -errno;
	p->fd = -1;
	if (e == 0)
		e = fg_sync_dir_of(p->dest);
	if (e == -ENOSPC || e == -EDQUOT)
		r = GW_PKG_NO_SPACE;
	else if (e < 0) {
		log_warning_errno(e, "Cannot flush the package %s: %m", p->dest);
		r = GW_PKG_INTEGRITY;
	}
	*size = r == GW_PKG_OK ? p->size : 0;
	push_free(p, r != GW_PKG_OK);
	return r;
}

struct gw_pkg_push *gw_pkg_push_abort(struct gw_pkg_push *p)
{
	if (p)
		push_free(p, true);
	return NULL;
}
