/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LwM2M Gateway mode (Object 25 v2.0): child devices hosted by one
 * registered endpoint. Each device is /25/<n> in the endpoint's store
 * (0 Device ID, 1 Prefix, 3 IoT Device Objects) and has its own store that
 * requests addressed /<prefix>/... reach (routing in dispatch.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

enum { RID_DEVICE_ID = 0, RID_PREFIX = 1, RID_OBJECTS = 3 };

static bool prefix_valid(const char *p, size_t n)
{
	bool digits_only = true;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (ch >= '0' && ch <= '9')
			continue;
		digits_only = false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '.' ||
		      ch == '~' || ch == '-'))
			return false;
	}
	return !digits_only;
}

/* ep->devs is kept sorted by prefix (bytes, then length) and searched by
 * bisection: a gateway of thousands of devices looks one up for every
 * request with a prefix and for every device added. The position where
 * prefix is, or would go. */
static size_t dev_pos(const struct lwm2m_endpoint *ep, const char *prefix, size_t len, bool *found)
{
	size_t lo = 0, hi = ep->ndevs;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct lwm2m_device *d = ep->devs[mid];
		int c = memcmp(d->prefix, prefix, d->prefix_len < len ? d->prefix_len : len);

		if (c == 0)
			c = d->prefix_len < len ? -1 : d->prefix_len > len ? 1 : 0;
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct lwm2m_device *fg_device_find(const struct lwm2m_endpoint *ep, const char *prefix, size_t len)
{
	bool found;
	size_t i = dev_pos(ep, prefix, len, &found);

	return found ? ep->devs[i] : NULL;
}

/* The device's own bytes, borrowed (lwm2m_store_set_borrowed): the
 * device id and prefix are in its block, which outlives its instance. */
static int set_borrowed(struct lwm2m_store *s, uint16_t iid, uint16_t rid, uint8_t type, const void *p,
			size_t n)
{
	struct lwm2m_value v = { .type = type, .bytes = { p, n } };

	return lwm2m_store_set_borrowed(s, &LWM2M_PATH(25, iid, rid), &v);
}

/* /25/N/3 borrows a shared copy of its text (strtab.c): the devices of
 * one profile have the same one ("</3/0>,</3303/0>,..."), and a copy per
 * device in the gateway's store was its longest value (~90 bytes a device
 * with the store's byte buffer's growth). */
static int refresh_links(struct lwm2m_device *dev)
{
	struct lwm2m_endpoint *ep = dev->ep;
	struct lwm2m_buf b = { 0 };
	const char *x;
	int r;

	if (!ep->store)
		return 0;
	r = fg_links(ep->c, dev->store, NULL, 0, false, ep->version, &b);
	if (r >= 0) {
		x = fg_str_get(ep->c, b.data, b.len);
		r = x ? set_borrowed(ep->store, dev->iid, RID_OBJECTS, LWM2M_TYPE_CORELNK, x, strlen(x))
		      : -ENOMEM;
		if (r < 0) {
			fg_str_put(ep->c, x);
		} else {
			fg_str_put(ep->c, dev->links);
			dev->links = x;
		}
	}
	lwm2m_buf_free(&b);
	return r;
}

static struct lwm2m_device *device_free(struct lwm2m_device *dev)
{
	if (!dev)
		return NULL;
	fg_target_device_gone(dev);
	fg_str_put(dev->ep->c, dev->links);
	free(dev);
	return NULL;
}

/* The lowest free instance id of /25 (every one below the hint is in use,
 * a removal lowers it), or the one asked for. */
static int pick_iid(const struct lwm2m_endpoint *ep, int want)
{
	unsigned iid;

	if (want >= 0) {
		if (want > LWM2M_ID_MAX)
			return -EINVAL;
		return lwm2m_store_has(ep->store, &LWM2M_PATH(25, (uint16_t)want)) ? -EEXIST : want;
	}
	for (iid = ep->iid_hint; iid <= LWM2M_ID_MAX; iid++)
		if (!lwm2m_store_has(ep->store, &LWM2M_PATH(25, (uint16_t)iid)))
			return (int)iid;
	return -ENOSPC;
}

int lwm2m_endpoint_add_device(struct lwm2m_endpoint *ep, const char *prefix, struct lwm2m_store *store,
			      const char *device_id, struct lwm2m_device **out)
{
	return fg_device_add(ep, prefix, store, device_id, -1, out);
}

int fg_device_add(struct lwm2m_endpoint *ep, const char *prefix, struct lwm2m_store *store,
		  const char *device_id, int want_iid, struct lwm2m_device **out)
{
	struct lwm2m_device *dev, **v;
	size_t plen, pos;
	bool found, same;
	int r;

	if (!ep || !prefix || !store || !device_id || ep->removing || !ep->store)
		return -EINVAL;
	plen = strlen(prefix);
	if (!prefix_valid(prefix, plen))
		return -EINVAL;
	pos = dev_pos(ep, prefix, plen, &found);
	if (found)
		return -EEXIST;
	if (!fg_objdef(ep, 25))
		return -ENOENT;
	/* The prefix and device id in the same block: two allocations
	 * fewer a device; one copy when they are the same (the registry's
	 * devices: 74 bytes were a 96-byte malloc chunk, 65 are an 80). */
	same = strcmp(prefix, device_id) == 0;
	dev = calloc(1, offsetof(struct lwm2m_device, strs) + plen + 1 + (same ? 0 : strlen(device_id) + 1));
	if (!dev)
		return -ENOMEM;
	dev->ep = ep;
	dev->store = store;
	dev->prefix = memcpy(dev->strs, prefix, plen + 1);
	dev->prefix_len = (uint8_t)plen;
	dev->device_id = same ? dev->prefix : strcpy(dev->strs + plen + 1, device_id);
	r = -ENOMEM;
	v = realloc(ep->devs, (ep->ndevs + 1) * sizeof(*v));
	if (!v)
		goto fail;
	ep->devs = v;

	r = pick_iid(ep, want_iid);
	if (r < 0)
		goto fail;
	dev->iid = (uint16_t)r;
	r = lwm2m_store_add_instance(ep->store, 25, dev->iid);
	if (r < 0)
		goto fail;
	r = set_borrowed(ep->store, dev->iid, RID_DEVICE_ID, LWM2M_TYPE_STRING, dev->device_id,
			 strlen(dev->device_id));
	if (r >= 0)
		r = set_borrowed(ep->store, dev->iid, RID_PREFIX, LWM2M_TYPE_STRING, dev->prefix, plen);
	if (r >= 0)
		r = refresh_links(dev);
	if (r < 0) {
		lwm2m_store_del_instance(ep->store, 25, dev->iid);
		goto fail;
	}
	r = fg_obs_target_add(ep, dev, &dev->obs_id);
	if (r < 0) {
		lwm2m_store_del_instance(ep->store, 25, dev->iid);
		goto fail;
	}
	memmove(&ep->devs[pos + 1], &ep->devs[pos], (ep->ndevs - pos) * sizeof(*ep->devs));
	ep->devs[pos] = dev;
	ep->ndevs++;
	if (dev->iid == ep->iid_hint)
		ep->iid_hint = (uint16_t)(dev->iid + 1u > LWM2M_ID_MAX ? LWM2M_ID_MAX : dev->iid + 1u);
	lwm2m_endpoint_objects_changed(ep);
	ep_log(ep, LWM2M_LOG_DEBUG, "device '%s' added as /25/%u (prefix /%s)", device_id, dev->iid, prefix);
	if (out)
		*out = dev;
	return 0;
fail:
	device_free(dev);
	return r;
}

void lwm2m_device_remove(struct lwm2m_device *dev)
{
	struct lwm2m_endpoint *ep;

	if (!dev)
		return;
	ep = dev->ep;
	bool found;
	size_t i = dev_pos(ep, dev->prefix, dev->prefix_len, &found);
	if (found && ep->devs[i] == dev) {
		memmove(&ep->devs[i], &ep->devs[i + 1], (ep->ndevs - i - 1) * sizeof(*ep->devs));
		ep->ndevs--;
		if (dev->iid < ep->iid_hint)
			ep->iid_hint = dev->iid;
	}
	fg_obs_target_remove(ep, dev->obs_id);
	if (ep->store) {
		lwm2m_store_del_instance(ep->store, 25, dev->iid);
		fg_obs_stop_under(ep, NULL, &LWM2M_PATH(25, dev->iid));
		lwm2m_obs_remove_attrs(ep->c->obs, ep->obs.id, &LWM2M_PATH(25, dev->iid),
				       fg_now(ep->c) / 1000u);
		lwm2m_endpoint_objects_changed(ep);
	}
	device_free(dev);
}

int lwm2m_device_objects_changed(struct lwm2m_device *dev)
{
	return refresh_links(dev);
}

static int cmp_iid_desc(const void *a, const void *b)
{
	return (int)*(const uint16_t *)b - (int)*(const uint16_t *)a;
}

/* The devices' /25 instances, from the highest instance id down: each is
 * then the last of /25 in the store, so deleting it moves only the values
 * of the objects after 25, not every other device's (at 65,535 devices
 * that would be gigabytes). Without memory for the order, one by one. */
static void del_instances(struct lwm2m_endpoint *ep)
{
	uint16_t *iid = ep->ndevs ? malloc(ep->ndevs * sizeof(*iid)) : NULL;

	for (size_t i = 0; i < ep->ndevs; i++) {
		if (iid)
			iid[i] = ep->devs[i]->iid;
		else
			lwm2m_store_del_instance(ep->store, 25, ep->devs[i]->iid);
	}
	if (!iid)
		return;
	qsort(iid, ep->ndevs, sizeof(*iid), cmp_iid_desc);
	for (size_t i = 0; i < ep->ndevs; i++)
		lwm2m_store_del_instance(ep->store, 25, iid[i]);
	free(iid);
}

/* The endpoint goes, its devices with it. Their /25 instances first: the
 * store is the caller's and outlives the endpoint, and their values
 * borrow the devices' bytes. */
void fg_device_free_all(struct lwm2m_endpoint *ep)
{
	if (ep->store)
		del_instances(ep);
	for (size_t i = 0; i < ep->ndevs; i++) {
		fg_obs_target_remove(ep, ep->devs[i]->obs_id);
		device_free(ep->devs[i]);
	}
	ep->ndevs = 0;
}

const char *lwm2m_device_prefix(const struct lwm2m_device *dev)
{
	return dev->prefix;
}

struct lwm2m_store *lwm2m_device_store(const struct lwm2m_device *dev)
{
	return dev->store;
}

struct lwm2m_endpoint *lwm2m_device_endpoint(const struct lwm2m_device *dev)
{
	return dev->ep;
}
