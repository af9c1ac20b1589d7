/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the bootstrap module of lwm2m/client/ (bootstrap.c, the
 * endpoint side; bs_serve.c, the Bootstrap-Server's requests): the layout
 * of an endpoint's bootstrap state (ep->bs), which no other file sees.
 */
#pragma once

#include "client_internal.h"

/* Limits of what a Bootstrap-Server may store in /0 and /1. */
#define BS_MAX_RECORDS 512
#define BS_MAX_BYTES   (32u * 1024u)

enum bs_phase {
	BS_IDLE,       /* timer: when to send the Bootstrap-Request */
	BS_REQUESTING, /* POST /bs sent; timer: its time-out */
	BS_SERVING,    /* accepted; timer: no Bootstrap-Finish in time */
};

struct fg_bs {
	char *uri; /* the Bootstrap-Server, from the configuration */
	uint8_t *psk_identity, *psk_key;
	size_t psk_identity_len, psk_key_len;
	enum bs_phase phase;
	unsigned attempts; /* failed bootstraps in a row, for the backoff */
	bool have_account; /* committed holds acct */
	uint16_t bs_iid;   /* /0 instance shown for the Bootstrap-Server account */
	struct lwm2m_bs_account acct;
	struct lwm2m_records committed; /* the result in use (and on disk) */
	struct lwm2m_records work;      /* what the Bootstrap-Server is writing */
	/* Saving committed: at most one write in flight (so the last rename
	 * is the newest result); a newer result waits in pending. */
	struct job *writing;
	struct lwm2m_buf pending;
	bool have_pending;
};

/* Saves bs->committed: encoded here (CPU only), written on a thread. A
 * failure is logged, here or when the write completes. */
void fg_bs_save(struct lwm2m_endpoint *ep);
/* The account's /1 instance becomes the store's /1/0 (what the management
 * server reads), with the client's own view of SSID, lifetime, binding. */
void fg_bs_apply_store(struct lwm2m_endpoint *ep);
/* Take the committed account's server, keys and parameters. */
int fg_bs_use_account(struct lwm2m_endpoint *ep);
/* The Bootstrap-Server serves us: the request's time-out becomes the
 * Bootstrap-Finish deadline. */
void fg_bs_serving(struct lwm2m_endpoint *ep);

/* ---- bs_file.c ------------------------------------------------------------------- */

/* Forget a write in flight (its job goes on with its own copies) and a
 * newer result waiting for it. */
void fg_bs_write_cancel(struct fg_bs *bs);
void fg_bs_drop_pending(struct fg_bs *bs);
