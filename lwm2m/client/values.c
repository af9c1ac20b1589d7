/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Values of an endpoint's or a device's tree set by the application, and
 * what follows from them: observations evaluated, store-and-forward
 * holding them, stored notifications sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs_internal.h"

/* ---- values ----------------------------------------------------------------- */

static int value_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p)
{
	struct lwm2m_store *s = dev ? dev->store : ep->store;
	struct lwm2m_value v;
	bool have;
	int r;

	if (!s || ep->removing)
		return 0;
	if (p->len < 3)
		return -EINVAL;
	have = lwm2m_store_get(s, p, &v) == 0;
	r = lwm2m_obs_value_changed(ep->c->obs, dev ? dev->obs_id : ep->obs.id, p, have ? &v : NULL,
				    fg_obs_now_ms(ep->c));
	if (r > 0) {
		fg_obs_due_note(ep->c, dev ? dev->obs_id : ep->obs.id, p);
		fg_timer_arm(ep->c, &ep->c->obs_timer, fg_now(ep->c));
	} else
		fg_obs_rearm(ep->c);
	return r < 0 && r != -ENOENT ? r : 0;
}

int lwm2m_endpoint_value_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
				 const struct lwm2m_path *p)
{
	return value_changed(ep, dev, p);
}

int lwm2m_endpoint_set(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		       const struct lwm2m_value *v)
{
	return lwm2m_endpoint_set_at(ep, dev, p, v, 0);
}

static int set_sample(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		      const struct lwm2m_value *v, double time, bool historical)
{
	struct lwm2m_store *s = dev ? dev->store : ep->store;
	struct lwm2m_value stored;
	int r;

	if (!s)
		return -ESHUTDOWN;
	if (!ep->removing)
		fg_obs_flush_due(ep->c, dev ? dev->obs_id : ep->obs.id, p);
	r = lwm2m_store_set_at(s, p, v, time);
	if (r < 0)
		return r;
	/* The value as stored (converted to the resource's type) is what
	 * store-and-forward keeps; one it holds is not notified now. */
	if (!ep->removing && lwm2m_store_get(s, p, &stored) == 0 &&
	    fg_sf_sample(ep, dev, p, &stored, time, historical) > 0)
		return 0;
	return value_changed(ep, dev, p);
}

int lwm2m_endpoint_set_at(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
			  const struct lwm2m_value *v, double time)
{
	return set_sample(ep, dev, p, v, time, false);
}

int lwm2m_endpoint_set_historical(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
				  const struct lwm2m_path *p, const struct lwm2m_value *v, double time)
{
	return set_sample(ep, dev, p, v, time, true);
}

int fg_obs_paths(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, struct lwm2m_path **out,
		 size_t *n)
{
	for (const struct fg_obs *o = fg_obs_of(ep, dev); o; o = o->tnext) {
		struct lwm2m_path *v;

		v = realloc(*out, (*n + o->npaths) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v + *n, o->paths, o->npaths * sizeof(*v));
		*out = v;
		*n += o->npaths;
	}
	return 0;
}

int fg_obs_send_stored(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_record *rec)
{
	static const struct lwm2m_path root = { .len = 0 };
	struct lwm2m_client *c = ep->c;
	struct lwm2m_record one = *rec;
	struct lwm2m_buf body = { 0 };
	bool too_big = false;
	struct fg_obs *o;
	coap_pdu_t *pdu;
	int r;

	if (!ep->session || ep->session_dead)
		return -ENOTCONN;
	for (o = fg_obs_of(ep, dev); o; o = o->tnext) {
		bool covers = false;

		for (size_t i = 0; i < o->npaths && !covers; i++)
			covers = lwm2m_path_is_under(&rec->path, &o->paths[i]);
		if (covers)
			break;
	}
	if (!o)
		return -ENOENT;
	if (dev && fg_ct_names_prefix(o->ct))
		one.prefix = (struct lwm2m_span){ dev->prefix, dev->prefix_len };
	r = lwm2m_encode(o->ct, o->composite ? &root : &o->paths[0], &one, 1, &body);
	if (r < 0)
		goto out;
	/* Confirmable: libcoap retransmits it; what confirms its arrival is
	 * the barrier that follows (sf.c). */
	pdu = fg_obs_notif_pdu(ep->session, fg_ep_cctx(ep)->unknown, o, true,
			       coap_new_message_id(ep->session), 0, fg_obs_next_seq(c), &body, false,
			       &too_big);
	r = -E2BIG;
	if (!pdu)
		goto out;
	r = -EIO;
	if (fg_coap_send(ep->session, pdu) == COAP_INVALID_MID)
		goto out;
	c->stats.notifications++;
	fg_target_notified(ep, dev);
	ep->obs.con_busy_until = fg_now(c) + fg_obs_max_transmit_wait_us(ep->session);
	r = 0;
out:
	lwm2m_buf_free(&body);
	return r;
}

/* Every value written by the server: observers of it may be due. */
void fg_obs_records_written(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			    const struct lwm2m_records *recs)
{
	for (size_t i = 0; i < recs->n; i++)
		if (recs->v[i].path.len >= 3)
			value_changed(ep, dev, &recs->v[i].path);
}

int lwm2m_endpoint_attrs(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
			 const struct lwm2m_path *path, struct lwm2m_attrs *out)
{
	const struct lwm2m_attr_store *s = lwm2m_obs_attrs(ep->c->obs, dev ? dev->obs_id : ep->obs.id);

	if (!s)
		return -ENOENT;
	return lwm2m_attr_store_get(s, path, out);
}
