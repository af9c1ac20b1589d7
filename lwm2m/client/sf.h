/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lwm2m/client/: the store-and-forward module (sf.c, sf_file.c,
 * sf_deliver.c) as the rest of the client sees it: its part of the client
 * and of each endpoint (sub-structs written by the module, read elsewhere
 * only where noted) and its calls. Its own layouts: sf_internal.h.
 */
#pragma once

#include <coap3/coap.h>
#include <stdbool.h>
#include <stdint.h>

#include "lwm2m/client.h"

struct lwm2m_client;
struct lwm2m_device;
struct lwm2m_endpoint;
struct fg_sf;
struct job;

/* Of the client: bytes all targets hold, the files to write (one job at a
 * time), when they were last synced. */
struct fg_client_sf {
	size_t bytes;
	struct fg_timer flush_timer;
	struct job *job;
	struct fg_sf *orphans;                              /* queues of targets gone, until written */
	uint64_t synced;                                    /* µs, when the files were last synced */
	bool unsynced;                                      /* written since */
	uint64_t gone_queued, gone_delivered, gone_dropped; /* of targets removed */
	bool final;                                         /* shutdown: one last synced write */
	uint64_t warned;                                    /* µs: the last write failure logged */
};

/* What a barrier or a Send of held values needs (sf_deliver.c): made at
 * the first of either, kept until the endpoint goes. Most endpoints of a
 * gateway never need one (48 bytes each). */
struct fg_ep_sf_x {
	uint64_t barrier_since; /* µs: when the barrier (below) left */
	uint64_t barrier_done;  /* µs: when the last one came back */
	coap_mid_t barrier_mid; /* a CoAP ping in flight (barrier_busy) with this id, */
	uint32_t barrier_mark;  /* confirming what went before it */
	uint32_t send_target;   /* the Send in flight (sending): of that target (id) */
	uint32_t send_mark;
	uint32_t next_mark;
	uint8_t token[8];  /* the Send's token */
	uint8_t token_len; /* ... its length */
};

/* Of an endpoint. register.c sets sleeping, req_mark and last_exchange
 * (dispatch.c too) as registration goes; dm and obs count tx_mark. */
struct fg_ep_sf {
	uint64_t last_exchange; /* µs: the server's last answer (queue mode) */
	struct fg_timer timer;  /* delivery, barriers, queue mode */
	struct fg_ep_sf_x *x;   /* NULL until the first barrier or Send */
	uint32_t tx_mark;       /* notifications sent: what a barrier confirms */
	uint32_t req_mark;      /* tx_mark when the registration request left */
	bool storing : 1;       /* /1/0/6 Notification Storing */
	bool sleeping : 1;      /* queue mode: holding values until the next Update */
	bool barrier_busy : 1;  /* a barrier in flight (x is there) */
	bool sending : 1;       /* a Send of held samples in flight (x is there) */
};

int fg_sf_init(struct lwm2m_client *c);
void fg_sf_ep_init(struct lwm2m_endpoint *ep);
void fg_sf_free(struct lwm2m_client *c);
/* A target was added (load what its file holds) or is going. */
int fg_sf_target_add(struct lwm2m_client *c, uint32_t id);
void fg_sf_target_remove(struct lwm2m_client *c, uint32_t id);
/* A sample for path of ep (dev NULL) or a device: returns 1 when it was
 * held (the caller stores it but does not notify: values held for that
 * path leave first), 0 to go on as usual, a negative errno. */
int fg_sf_sample(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *p,
		 const struct lwm2m_value *v, double time, bool historical);
/* Must a notification of observation paths (of dev) wait? (ep not
 * online, or values of these paths held). */
bool fg_sf_holds(const struct lwm2m_endpoint *ep, const struct lwm2m_device *dev,
		 const struct lwm2m_path *paths, size_t n);
/* A notification of ep left. */
void fg_sf_notified(struct lwm2m_endpoint *ep);
/* A confirmable exchange that left after every notification up to mark
 * (ep->tx_mark then) was answered: those arrived. */
void fg_sf_confirmed(struct lwm2m_endpoint *ep, uint32_t mark);
/* ep lost its registration (or went to sleep): what was on its way comes
 * back to be held. */
void fg_sf_offline(struct lwm2m_endpoint *ep);
/* ep is registered and reachable: deliver what is held. */
void fg_sf_online(struct lwm2m_endpoint *ep);
/* An answer or a failure that may be store-and-forward's own (a Send of
 * held samples, a barrier); true when it was. */
bool fg_sf_response(struct lwm2m_endpoint *ep, const coap_pdu_t *received, uint8_t code);
bool fg_sf_nack(struct lwm2m_endpoint *ep, const coap_pdu_t *sent, coap_nack_reason_t reason, coap_mid_t mid);
void fg_sf_endpoint_free(struct lwm2m_endpoint *ep);
/* The client shuts down: write what is not yet written, synced; done() is
 * called from the loop when that is over. */
void fg_sf_final_flush(struct lwm2m_client *c);
bool fg_sf_flushing(const struct lwm2m_client *c);
void fg_sf_stats(const struct lwm2m_client *c, struct lwm2m_client_stats *st);
