/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gateway mode with more devices than one registration holds: which
 * gateway endpoint (0 the gateway's own, gateway.name; k >= 1 the extra
 * one "<gateway.name>-gw<k+1>") and which Object 25 instance id a device
 * has. A place, once given to a device name, is kept for it: in memory
 * while the daemon runs (also after the device is removed, so that a
 * reload that removes and adds it again, or its return, finds it in the
 * same place), and in state_dir/gateway-placement across restarts.
 *
 * A new name takes, in this order: the lowest place no name ever had on
 * an existing endpoint (below lwm2m.gateway_devices_max), else the lowest
 * place of a removed device (that name forgets its place), else the first
 * place of a new extra endpoint. So removing a device moves nobody, and
 * extra endpoints are only added when every place is in use.
 *
 * The file: a line "<endpoint index> <instance id> <device name>" per
 * place, rewritten whole (new file, fsync, rename) a second after the
 * first change, and when the registry is freed.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"

#define PLACEMENT_FILE  "gateway-placement"
#define SAVE_DELAY_USEC 1000000u

struct pent {
	struct pent *next; /* hash chain */
	uint32_t host;
	uint16_t iid;
	bool live;
	char name[];
};

struct phost {
	struct pent **by_iid; /* size entries; NULL: nobody's */
	uint32_t size;
	uint32_t nlive;
	uint32_t hint; /* every place below it is somebody's */
};

struct placement {
	struct pent **tab; /* hash chains, ntab a power of two */
	size_t ntab, n;
	struct phost *hosts;
	uint32_t nhosts;
	bool loaded, dirty, save_failed;
	sd_event_source *save;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static struct pent **chain(const struct placement *p, const char *name)
{
	return &p->tab[name_hash(name) & (p->ntab - 1)];
}

static struct pent *find(const struct placement *p, const char *name)
{
	if (!p->ntab)
		return NULL;
	for (struct pent *e = *chain(p, name); e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static int grow_table(struct placement *p)
{
	size_t n = p->ntab ? p->ntab * 2 : 256;
	struct pent **t = calloc(n, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < p->ntab; i++)
		for (struct pent *e = p->tab[i], *next; e; e = next) {
			next = e->next;
			e->next = t[name_hash(e->name) & (n - 1)];
			t[name_hash(e->name) & (n - 1)] = e;
		}
	free(p->tab);
	p->tab = t;
	p->ntab = n;
	return 0;
}

/* Host h exists with room for iid in its table. */
static int host_reserve(struct placement *p, uint32_t h, uint32_t iid)
{
	if (h >= p->nhosts) {
		struct phost *v = realloc(p->hosts, (h + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(&v[p->nhosts], 0, (h + 1 - p->nhosts) * sizeof(*v));
		p->hosts = v;
		p->nhosts = h + 1;
	}
	struct phost *ph = &p->hosts[h];
	if (iid >= ph->size) {
		uint32_t n = ph->size ? ph->size : 64;
		while (n <= iid)
			n *= 2;
		if (n > LWM2M_ID_MAX + 1u)
			n = LWM2M_ID_MAX + 1u;
		struct pent **v = realloc(ph->by_iid, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(&v[ph->size], 0, (n - ph->size) * sizeof(*v));
		ph->by_iid = v;
		ph->size = n;
	}
	return 0;
}

static struct pent *insert(struct placement *p, const char *name, uint32_t h, uint16_t iid)
{
	size_t len = strlen(name);
	struct pent *e;

	if (host_reserve(p, h, iid) < 0 || (p->n >= p->ntab && grow_table(p) < 0))
		return NULL;
	e = calloc(1, offsetof(struct pent, name) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->name, name, len + 1);
	e->host = h;
	e->iid = iid;
	e->next = *chain(p, name);
	*chain(p, name) = e;
	p->n++;
	p->hosts[h].by_iid[iid] = e;
	return e;
}

static void forget(struct placement *p, struct pent *e)
{
	struct phost *ph = &p->hosts[e->host];

	for (struct pent **pp = chain(p, e->name); *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	ph->by_iid[e->iid] = NULL;
	if (e->iid < ph->hint)
		ph->hint = e->iid;
	p->n--;
	free(e);
}

static char *file_path(const struct gw_registry *r)
{
	char *path;

	if (!r->state_dir || asprintf(&path, "%s/%s", r->state_dir, PLACEMENT_FILE) < 0)
		return NULL;
	return path;
}

/* What the file says; a line that does not parse, or whose place or name
 * is taken already, is skipped (the device gets a new place). */
static void load(struct gw_registry *r, struct placement *p)
{
	char *path = file_path(r), *line = NULL;
	size_t cap = 0, bad = 0;
	FILE *f;

	p->loaded = true;
	f = path ? fopen(path, "re") : NULL;
	if (!f) {
		if (path && errno != ENOENT)
			log_warning_errno(errno, "Cannot read %s: devices get new places: %m", path);
		free(path);
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		unsigned long h, iid;
		int off = 0;

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%lu %lu %n", &h, &iid, &off) != 2 || !off || !line[off] || h > 65535 ||
		    iid >= LWM2M_ID_MAX + 1ul || find(p, line + off) ||
		    (h < p->nhosts && iid < p->hosts[h].size && p->hosts[h].by_iid[iid]) ||
		    !insert(p, line + off, (uint32_t)h, (uint16_t)iid))
			bad++;
	}
	if (bad)
		log_warning("%s: %zu line%s skipped (not \"<endpoint> <instance> <name>\", or a place or "
			    "name given twice)",
			    path, bad, bad == 1 ? "" : "s");
	free(line);
	fclose(f);
	free(path);
}

static int save_now(struct gw_registry *r)
{
	struct placement *p = r->placement;
	char *path = file_path(r), *tmp = NULL;
	FILE *f = NULL;
	int e = -ENOMEM, fd = -1;

	if (!path || asprintf(&tmp, "%s.new", path) < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		e = -errno;
		goto out;
	}
	fd = -1;
	for (uint32_t h = 0; h < p->nhosts; h++)
		for (uint32_t i = 0; i < p->hosts[h].size; i++)
			if (p->hosts[h].by_iid[i])
				fprintf(f, "%u %u %s\n", h, i, p->hosts[h].by_iid[i]->name);
	e = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0 ? -errno : 0;
	if (fclose(f) != 0 && e == 0)
		e = -errno;
	f = NULL;
	if (e == 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e == 0)
		e = fg_sync_dir_of(path);
out:
	if (fd >= 0)
		close(fd);
	if (e < 0 && tmp)
		unlink(tmp);
	if (e < 0 && !p->save_failed)
		log_warning_errno(e, "Cannot write %s: devices may get other places after a restart: %m",
				  path ? path : PLACEMENT_FILE);
	p->save_failed = e < 0;
	if (e == 0)
		p->dirty = false;
	free(tmp);
	free(path);
	return e;
}

static int on_save(sd_event_source *s, uint64_t usec, void *ud)
{
	struct gw_registry *r = ud;

	(void)s;
	(void)usec;
	(void)save_now(r);
	return 0;
}

static void changed(struct gw_registry *r)
{
	struct placement *p = r->placement;
	int e;

	p->dirty = true;
	if (p->save) {
		e = sd_event_source_get_enabled(p->save, NULL);
		if (e > 0)
			return;
		e = sd_event_source_set_time_relative(p->save, SAVE_DELAY_USEC);
		if (e >= 0)
			e = sd_event_source_set_enabled(p->save, SD_EVENT_ONESHOT);
	} else
		e = sd_event_add_time_relative(r->event, &p->save, CLOCK_MONOTONIC, SAVE_DELAY_USEC, 0,
					       on_save, r);
	if (e < 0)
		(void)save_now(r); /* no timer: at once */
}

/* The lowest place nobody has on an existing endpoint, below max. */
static bool free_place(struct placement *p, uint32_t max, uint32_t *h, uint16_t *iid)
{
	for (uint32_t k = 0; k < p->nhosts; k++) {
		struct phost *ph = &p->hosts[k];

		for (; ph->hint < max; ph->hint++)
			if (ph->hint >= ph->size || !ph->by_iid[ph->hint]) {
				*h = k;
				*iid = (uint16_t)ph->hint;
				return true;
			}
	}
	return false;
}

/* The lowest place of a removed device, below max. */
static struct pent *stale_place(struct placement *p, uint32_t max)
{
	for (uint32_t k = 0; k < p->nhosts; k++) {
		struct phost *ph = &p->hosts[k];

		if (ph->nlive >= max)
			continue;
		for (uint32_t i = 0; i < max && i < ph->size; i++)
			if (ph->by_iid[i] && !ph->by_iid[i]->live)
				return ph->by_iid[i];
	}
	return NULL;
}

int placement_take(struct gw_registry *r, const char *name, uint32_t *host, uint16_t *iid)
{
	uint32_t max = (uint32_t)reg_config(r)->lwm2m.gateway_devices_max;
	struct placement *p = r->placement;
	struct pent *e;

	if (!p && !(p = r->placement = calloc(1, sizeof(*p))))
		return -ENOMEM;
	if (!p->loaded)
		load(r, p);
	e = find(p, name);
	if (e && e->live)
		return -EEXIST;
	if (!e) {
		uint32_t h;
		uint16_t i;
		struct pent *old;

		if (!free_place(p, max, &h, &i)) {
			if ((old = stale_place(p, max))) {
				h = old->host;
				i = old->iid;
				forget(p, old);
			} else {
				h = p->nhosts;
				i = 0;
			}
		}
		e = insert(p, name, h, i);
		if (!e)
			return -ENOMEM;
		changed(r);
	}
	e->live = true;
	p->hosts[e->host].nlive++;
	*host = e->host;
	*iid = e->iid;
	return 0;
}

uint32_t placement_release(struct gw_registry *r, const char *name)
{
	struct pent *e = r->placement ? find(r->placement, name) : NULL;

	if (!e || !e->live)
		return UINT32_MAX;
	e->live = false;
	r->placement->hosts[e->host].nlive--;
	return e->host;
}

uint32_t placement_devices(const struct gw_registry *r, uint32_t host)
{
	const struct placement *p = r->placement;

	return p && host < p->nhosts ? p->hosts[host].nlive : 0;
}

uint32_t placement_endpoints(const struct gw_registry *r)
{
	return r->placement ? r->placement->nhosts : 0;
}

void placement_free(struct gw_registry *r)
{
	struct placement *p = r->placement;

	if (!p)
		return;
	if (p->dirty)
		(void)save_now(r);
	sd_event_source_disable_unref(p->save);
	for (size_t i = 0; i < p->ntab; i++)
		for (struct pent *e = p->tab[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	for (uint32_t h = 0; h < p->nhosts; h++)
		free(p->hosts[h].by_iid);
	free(p->hosts);
	free(p->tab);
	free(p);
	r->placement = NULL;
}
