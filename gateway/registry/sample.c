/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What bridges report about a device: samples of its points, decoded by
 * the profile into the device's values, and its presence, shown in its
 * Device object's Error Code.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>

#include "common/log.h"

int sample_point(struct bridge_handle *h, const struct mapping_sample *s, uint64_t time_usec)
{
	struct dev *d = handle_dev(h);
	size_t i = h->i;
	const struct mapping_point *pt = mapping_profile_point(d->profile, i);
	struct lwm2m_value v;
	char ps[32];
	int e;

	e = mapping_decode(pt, s, &v);
	/* A time the field gave (a payload's timestamp) travels with the
	 * value; without one the value is as of now and carries none. */
	if (e >= 0)
		e = target_set_at(d, &pt->path, &v, time_usec ? (double)time_usec / 1e6 : 0, pt->historical);
	health_count(d, e, "sample");
	if (e < 0) {
		/* One line per failure would flood the journal at poll rates:
		 * the first one is logged, status shows the count. */
		if (d->errors++ == 0) {
			lwm2m_path_format(&pt->path, ps);
			log_device_warning_errno(DEV_LOG(d), e, "sample of %s rejected: %m", ps);
		}
		return e;
	}
	d->samples++;
	d->last_sample = reg_now_usec();
	if (d->pt_sample)
		d->pt_sample[i] = d->last_sample;
	return 0;
}

/* By name, for the status socket's `sample` command: the lookups a
 * bridge's sample does not need. */
int gw_registry_sample(struct gw_registry *r, const char *device, const struct lwm2m_path *path,
		       const struct mapping_sample *s, uint64_t time_usec)
{
	struct dev *d = device_find(r, device);
	size_t np = d ? mapping_profile_npoints(d->profile) : 0;

	for (size_t i = 0; i < np; i++)
		if (lwm2m_path_cmp(&mapping_profile_point(d->profile, i)->path, path) == 0)
			return sample_point(&d->handles[i], s, time_usec);
	return -ENOENT;
}

int gw_registry_presence(struct gw_registry *r, const char *device, int err)
{
	struct dev *d = device_find(r, device);
	struct lwm2m_path p;
	struct lwm2m_value v = { .type = LWM2M_TYPE_INTEGER };

	if (!d)
		return -ENOENT;
	err = err > 0 ? -err : err;
	if ((d->presence < 0) == (err < 0)) {
		d->presence = err;
		return 0;
	}
	d->presence = err;
	if (err < 0) {
		d->r->unreachable_devs++;
		d->unreachable++;
		health_error(d, err, "unreachable");
		log_device_warning_errno(DEV_LOG(d), err, "unreachable: %m");
	} else {
		d->r->unreachable_devs--;
		log_device_info(DEV_LOG(d), "reachable again");
	}
	v.i = err < 0 ? GW_ERROR_UNREACHABLE : 0;
	lwm2m_path_parse("/3/0/11/0", 9, &p, NULL);
	return target_set_at(d, &p, &v, 0, false);
}
