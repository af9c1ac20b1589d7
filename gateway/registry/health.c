/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's own health, from the host's figures, on its endpoint:
 * /3/0 memory free and total (MemAvailable, MemTotal), error codes, current
 * time, UTC offset and time zone; one Object 26241 "Fieldgate Bridge
 * Statistics" instance per bridge from the core's counters of it (samples
 * and operations, their failures, the last one); Object 4 Connectivity
 * Monitoring from the interface of the default route. Refreshed before
 * the server reads them and every HEALTH_PERIOD, so observations notify.
 */
#include "gateway/registry/registry_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define HEALTH_PERIOD      (30 * USEC_PER_SEC)
#define BRIDGE_STATS_OID   26241
#define MEMORY_LOW_PERCENT 5

/* Object 3 error codes (LwM2M Core, Device object resource 11). */
#define ERR_OUT_OF_MEMORY 5
#define ERR_PERIPHERAL    8

/* Object 4 Network Bearer values. */
#define BEARER_WLAN     21
#define BEARER_ETHERNET 41

/* ---- values of the gateway's own store ------------------------------------------- */

int self_set(struct gw_registry *r, const struct lwm2m_path *p, const struct lwm2m_value *v)
{
	struct lwm2m_value old;

	if (!r->gw_store)
		return -ENOENT;
	/* Unchanged values are not set again: an observer is told changes. */
	if (lwm2m_store_get(r->gw_store, p, &old) == 0 && old.type == v->type) {
		switch (v->type) {
		case LWM2M_TYPE_STRING:
			if (old.bytes.len == v->bytes.len &&
			    !memcmp(old.bytes.ptr, v->bytes.ptr, v->bytes.len))
				return 0;
			break;
		case LWM2M_TYPE_BOOLEAN:
			if (old.b == v->b)
				return 0;
			break;
		case LWM2M_TYPE_UNSIGNED:
			if (old.u == v->u)
				return 0;
			break;
		default:
			if (old.i == v->i)
				return 0;
		}
	}
	if (r->gw_ep)
		return lwm2m_endpoint_set(r->gw_ep, NULL, p, v);
	return lwm2m_store_set(r->gw_store, p, v);
}

int self_set_text(struct gw_registry *r, const struct lwm2m_path *p, const char *s)
{
	const struct lwm2m_value v = { .type = LWM2M_TYPE_STRING,
				       .bytes = { (const uint8_t *)(s ? s : ""), s ? strlen(s) : 0 } };
	return self_set(r, p, &v);
}

static int set_int(struct gw_registry *r, const struct lwm2m_path *p, int64_t i)
{
	return self_set(r, p, &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = i });
}

/* The instances of a multiple resource: values[0..n), the others removed. */
static void set_multi(struct gw_registry *r, uint16_t oid, uint16_t rid, const struct lwm2m_value *v,
		      size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)self_set(r, &LWM2M_PATH(oid, 0, rid, (uint16_t)i), &v[i]);
	for (size_t i = n; i < 32; i++) {
		const struct lwm2m_path p = LWM2M_PATH(oid, 0, rid, (uint16_t)i);
		if (!lwm2m_store_has(r->gw_store, &p))
			break;
		if (lwm2m_store_unset(r->gw_store, &p) == 0 && r->gw_ep)
			(void)lwm2m_endpoint_value_changed(r->gw_ep, NULL, &p);
	}
}

/* ---- /3/0 --------------------------------------------------------------------------- */

/* MemAvailable and MemTotal in KiB (what can be had without swapping,
 * caches included), else sysinfo's free RAM. */
static int memory(int64_t *avail, int64_t *total)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long long v;
	struct sysinfo si;

	*avail = *total = -1;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %lld kB", &v) == 1)
			*avail = v;
		else if (sscanf(line, "MemTotal: %lld kB", &v) == 1)
			*total = v;
	}
	if (f)
		fclose(f);
	if ((*avail < 0 || *total < 0) && sysinfo(&si) == 0) {
		*avail = (int64_t)(si.freeram * si.mem_unit / 1024);
		*total = (int64_t)(si.totalram * si.mem_unit / 1024);
	}
	return *avail >= 0 && *total > 0 ? 0 : -ENODATA;
}

/* The IANA name of the host's zone: $TZ, else where /etc/localtime
 * points into zoneinfo. */
static void timezone_name(char *buf, size_t size)
{
	const char *tz = getenv("TZ");
	char link[PATH_MAX];
	ssize_t n;
	const char *z;

	buf[0] = 0;
	if (tz && *tz) {
		snprintf(buf, size, "%s", tz[0] == ':' ? tz + 1 : tz);
		return;
	}
	n = readlink("/etc/localtime", link, sizeof(link) - 1);
	if (n <= 0)
		return;
	link[n] = 0;
	z = strstr(link, "zoneinfo/");
	if (z)
		snprintf(buf, size, "%s", z + 9);
}

static void device_object(struct gw_registry *r)
{
	struct lwm2m_value codes[3];
	size_t ncodes = 0;
	int64_t avail, total;
	time_t now = time(NULL);
	struct tm tm;
	char offset[16], zone[128];
	bool peripheral = false;

	if (memory(&avail, &total) == 0) {
		(void)set_int(r, &LWM2M_PATH(3, 0, 10), avail);
		(void)set_int(r, &LWM2M_PATH(3, 0, 21), total);
		if (avail * 100 < total * MEMORY_LOW_PERCENT)
			codes[ncodes++] =
				(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = ERR_OUT_OF_MEMORY };
	}
	/* A bridge that does not run, or a device it cannot reach. */
	for (size_t i = 0; i < r->nbridges; i++)
		peripheral |= !r->bridges[i].b;
	peripheral |= r->unreachable_devs > 0;
	if (peripheral)
		codes[ncodes++] = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = ERR_PERIPHERAL };
	if (!ncodes)
		codes[ncodes++] = (struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = 0 };
	set_multi(r, 3, 11, codes, ncodes);

	(void)self_set(r, &LWM2M_PATH(3, 0, 13), &(struct lwm2m_value){ .type = LWM2M_TYPE_TIME, .i = now });
	if (localtime_r(&now, &tm)) {
		/* Offsets are within a day: -12:00..+14:00. */
		int off = (int)(tm.tm_gmtoff / 60) % (24 * 60);
		snprintf(offset, sizeof(offset), "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60,
			 abs(off) % 60);
		(void)self_set_text(r, &LWM2M_PATH(3, 0, 14), offset);
	}
	timezone_name(zone, sizeof(zone));
	if (zone[0])
		(void)self_set_text(r, &LWM2M_PATH(3, 0, 15), zone);
}

/* ---- 26241: the bridges' statistics --------------------------------------------------- */

void health_error(struct dev *d, int err, const char *what)
{
	struct brt *b = d->br;

	if (!b || err >= 0)
		return;
	b->errors++;
	snprintf(b->last_error, sizeof(b->last_error), "%s: %s: %s", d->name, what, strerror(-err));
}

void health_count(struct dev *d, int err, const char *what)
{
	if (!d->br)
		return;
	d->br->requests++;
	health_error(d, err, what);
}

static void bridge_stats(struct gw_registry *r)
{
	bool changed = false;

	for (size_t i = 0; i < r->nbridges; i++) {
		const struct brt *b = &r->bridges[i];
		uint16_t iid = (uint16_t)i;
		if (!lwm2m_store_has(r->gw_store, &LWM2M_PATH(BRIDGE_STATS_OID, iid))) {
			if (lwm2m_store_add_instance(r->gw_store, BRIDGE_STATS_OID, iid) < 0)
				continue;
			changed = true;
		}
		(void)self_set_text(r, &LWM2M_PATH(BRIDGE_STATS_OID, iid, 0), b->name);
		(void)self_set(r, &LWM2M_PATH(BRIDGE_STATS_OID, iid, 1),
			       &(struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = b->requests });
		(void)self_set(r, &LWM2M_PATH(BRIDGE_STATS_OID, iid, 2),
			       &(struct lwm2m_value){ .type = LWM2M_TYPE_UNSIGNED, .u = b->errors });
		(void)self_set_text(r, &LWM2M_PATH(BRIDGE_STATS_OID, iid, 3),
				    b->b ? b->last_error : "not running (see the gateway's log)");
	}
	for (unsigned i = (unsigned)r->nbridges; i <= LWM2M_ID_MAX; i++) {
		if (lwm2m_store_del_instance(r->gw_store, BRIDGE_STATS_OID, (uint16_t)i) < 0)
			break;
		changed = true;
	}
	if (changed && r->gw_ep)
		lwm2m_endpoint_objects_changed(r->gw_ep);
}

int health_reset(struct gw_registry *r, uint16_t iid)
{
	struct brt *b;

	if (iid >= r->nbridges)
		return -ENOENT;
	b = &r->bridges[iid];
	b->requests = b->errors = 0;
	b->last_error[0] = 0;
	bridge_stats(r);
	return 0;
}

/* ---- Object 4 ------------------------------------------------------------------------ */

/* The interface and gateway of the IPv4 default route (/proc/net/route). */
static int default_route(char *ifname, size_t size, struct in_addr *gw)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], name[IF_NAMESIZE + 1];
	unsigned dest, gateway, flags, mask;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%16s %x %x %x %*d %*d %*d %x", name, &dest, &gateway, &flags, &mask) == 5 &&
		    dest == 0 && mask == 0 && (flags & 1 /* RTF_UP */)) {
			snprintf(ifname, size, "%s", name);
			gw->s_addr = gateway;
			r = 0;
			break;
		}
	fclose(f);
	return r;
}

static int bearer(const char *ifname)
{
	char path[64 + IF_NAMESIZE];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/net/%s/wireless", ifname);
	return stat(path, &st) == 0 ? BEARER_WLAN : BEARER_ETHERNET;
}

static void unset(struct gw_registry *r, const struct lwm2m_path *p)
{
	if (lwm2m_store_unset(r->gw_store, p) == 0 && r->gw_ep)
		(void)lwm2m_endpoint_value_changed(r->gw_ep, NULL, p);
}

/* ask: ModemManager too, whose answer comes back here with ask false. */
static void connectivity(struct gw_registry *r, bool ask)
{
	const struct modem_info *mi = modem_info(r);
	int b;
	struct lwm2m_value ips[8], router[1];
	char text[8][INET6_ADDRSTRLEN], gwtext[INET_ADDRSTRLEN], ifname[IF_NAMESIZE + 1];
	struct ifaddrs *ifa = NULL;
	struct in_addr gw;
	size_t n = 0;
	bool added = false;

	if (default_route(ifname, sizeof(ifname), &gw) < 0 || getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *a = ifa; a && n < 8; a = a->ifa_next) {
		const void *addr;
		if (!a->ifa_addr || strcmp(a->ifa_name, ifname) != 0)
			continue;
		if (a->ifa_addr->sa_family == AF_INET)
			addr = &((const struct sockaddr_in *)(const void *)a->ifa_addr)->sin_addr;
		else if (a->ifa_addr->sa_family == AF_INET6)
			addr = &((const struct sockaddr_in6 *)(const void *)a->ifa_addr)->sin6_addr;
		else
			continue;
		if (!inet_ntop(a->ifa_addr->sa_family, addr, text[n], sizeof(text[n])))
			continue;
		ips[n] = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
					       .bytes = { (const uint8_t *)text[n], strlen(text[n]) } };
		n++;
	}
	freeifaddrs(ifa);
	if (!lwm2m_store_has(r->gw_store, &LWM2M_PATH(4, 0))) {
		if (lwm2m_store_add_instance(r->gw_store, 4, 0) < 0)
			return;
		added = true;
	}
	/* A modem's radio as ModemManager last said, else the interface's
	 * kind; a wired link has no radio: Radio Signal Strength (mandatory) 0. */
	if (mi && strcmp(r->modem_if, ifname) != 0)
		mi = NULL;
	b = mi ? mi->bearer : bearer(ifname);
	(void)set_int(r, &LWM2M_PATH(4, 0, 0), b);
	set_multi(r, 4, 1, &(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER, .i = b }, 1);
	(void)set_int(r, &LWM2M_PATH(4, 0, 2), mi && mi->rssi != INT_MIN ? mi->rssi : 0);
	if (mi && mi->quality >= 0)
		(void)set_int(r, &LWM2M_PATH(4, 0, 3), mi->quality);
	else
		unset(r, &LWM2M_PATH(4, 0, 3));
	if (mi && mi->mcc >= 0) {
		(void)set_int(r, &LWM2M_PATH(4, 0, 9), mi->mnc);
		(void)set_int(r, &LWM2M_PATH(4, 0, 10), mi->mcc);
	} else {
		unset(r, &LWM2M_PATH(4, 0, 9));
		unset(r, &LWM2M_PATH(4, 0, 10));
	}
	set_multi(r, 4, 4, ips, n);
	if (gw.s_addr && inet_ntop(AF_INET, &gw, gwtext, sizeof(gwtext))) {
		router[0] = (struct lwm2m_value){ .type = LWM2M_TYPE_STRING,
						  .bytes = { (const uint8_t *)gwtext, strlen(gwtext) } };
		set_multi(r, 4, 5, router, 1);
	}
	if (added && r->gw_ep)
		lwm2m_endpoint_objects_changed(r->gw_ep);
	if (ask)
		modem_ask(r, ifname);
}

void health_modem(struct gw_registry *r)
{
	if (r->gw_store)
		connectivity(r, false);
}

/* ---- refreshing ------------------------------------------------------------------------ */

void health_refresh(struct gw_registry *r)
{
	if (!r->gw_store)
		return;
	device_object(r);
	bridge_stats(r);
	connectivity(r, true);
}

static int on_health_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	(void)usec;
	health_refresh(ud);
	sd_event_source_set_time_relative(s, HEALTH_PERIOD);
	return 0;
}

int health_start(struct gw_registry *r)
{
	int e;

	if (r->health_timer)
		return 0;
	e = sd_event_add_time_relative(r->event, &r->health_timer, CLOCK_MONOTONIC, HEALTH_PERIOD,
				       USEC_PER_SEC, on_health_timer, r);
	if (e < 0)
		return e;
	return sd_event_source_set_enabled(r->health_timer, SD_EVENT_ON);
}

void health_stop(struct gw_registry *r)
{
	r->health_timer = sd_event_source_disable_unref(r->health_timer);
	modem_free(r);
}
