/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: the observation module (obs.c, obs_notify.c,
 * values.c) as the rest of the client sees it: its part of each endpoint
 * and its calls. Its own layouts: obs_internal.h.
 */
#pragma once

#include <coap3/coap.h>
#include <stdbool.h>
#include <stdint.h>

#include "lwm2m/client.h"

struct lwm2m_client;
struct lwm2m_device;
struct lwm2m_endpoint;
struct fg_obs;

/* Of an endpoint: its own tree's target and its observations. */
struct fg_ep_obs {
	uint32_t id;         /* target of the observation engine */
	struct fg_obs *list; /* observations of the endpoint and its devices */
	/* A CON notification sent before this (µs) may still be in flight:
	 * libcoap does not report its ACK, only its failure (obs_notify.c). */
	uint64_t con_busy_until;
};

int fg_obs_init(struct lwm2m_client *c);
void fg_obs_free(struct lwm2m_client *c);
void fg_obs_rearm(struct lwm2m_client *c);
/* A target of the engine for ep's own tree (dev NULL) or a device. */
int fg_obs_target_add(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, uint32_t *out);
/* Drop the target with its observations and attributes. */
void fg_obs_target_remove(struct lwm2m_endpoint *ep, uint32_t id);
void fg_obs_target_release_id(struct lwm2m_client *c, uint32_t id);
/* /1/0/2 or /1/0/3 written. */
void fg_obs_defaults_changed(struct lwm2m_endpoint *ep);
/* Start an observation (the caller answers the request with Observe
 * fg_obs_next_seq()). -ENOSPC at the bound (counted and logged here, not
 * by the caller), -EINVAL, -ENOMEM, engine errors. */
int fg_obs_start(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const uint8_t *tok, size_t toklen,
		 const struct lwm2m_path *paths, size_t n, bool composite, uint16_t ct);
bool fg_obs_stop_token(struct lwm2m_endpoint *ep, const uint8_t *tok, size_t toklen);
/* Tell the endpoint's owner its observations (of dev's tree) changed. */
void fg_obs_changed(struct lwm2m_endpoint *ep, struct lwm2m_device *dev);
void fg_obs_stop_all(struct lwm2m_endpoint *ep);
/* Observations of dev with a path at or below p (instance deleted). */
void fg_obs_stop_under(struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, const struct lwm2m_path *p);
uint32_t fg_obs_next_seq(struct lwm2m_client *c);
/* A CON we sent was reset, never acknowledged, or met an ICMP error. */
void fg_obs_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason);
/* A Reset with message id mid arrived, on ep's session (NULL: unknown,
 * from libcoap 4.3.1's log line): it cancels the observation whose last
 * NON notification had that id. */
void fg_obs_reset(struct lwm2m_client *c, struct lwm2m_endpoint *ep, coap_mid_t mid);
void fg_obs_records_written(struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
			    const struct lwm2m_records *recs);

/* Stored notifications (LwM2M 1.0, values.c): send rec as a notification of
 * an observation of the target that covers it (CON); 0, -ENOENT when no
 * observation covers it, or an error. */
int fg_obs_send_stored(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_record *rec);
/* A message id for a CON that is not a notification (a barrier ping): one
 * no recent NON notification used, so that a Reset to it names it alone. */
coap_mid_t fg_obs_quiet_mid(struct lwm2m_client *c, coap_session_t *s);
/* The paths ep's target (dev) observes now, appended to out. */
int fg_obs_paths(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev, struct lwm2m_path **out,
		 size_t *n);
