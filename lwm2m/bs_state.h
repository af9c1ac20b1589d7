/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The result of a bootstrap (LwM2M 1.1 Core TS, Bootstrap interface) as
 * records of /0 and /1, the server account it provides, and the file that
 * keeps it (bs_state.c). Pure: no libcoap, no I/O, no logging. The client
 * (lwm2m/client/bootstrap.c) serves the Bootstrap-Server with the record
 * helpers below and reads/writes the file with the codec.
 *
 * File layout, version 1 (all integers big-endian):
 *   0  "FGBS"            magic
 *   4  u8 version (1)    5  u8 flags (0)   6  u16 length of the endpoint name
 *   8  u32 length of the payload
 *   12 u32 CRC-32 (IEEE 802.3) of every byte of the file except these four
 *   16 endpoint name (no NUL), then the payload: SenML CBOR (RFC 8428, the
 *      lwm2m/ codec) of the /0 and /1 resource values, names from the root.
 * The name guards against two endpoints whose file names collide (long
 * names are shortened with a hash) and against a file copied to another
 * endpoint; the CRC catches truncation and bit rot that CBOR alone may not.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

#define LWM2M_BS_STATE_HDR_LEN 16
#define LWM2M_BS_STATE_MAX     (64u * 1024u) /* larger payloads are refused */

/* ---- records as the bootstrap view of /0 and /1 ------------------------------ */

/* The value of /oid/iid/rid (a single resource), NULL when absent. */
const struct lwm2m_value *lwm2m_bs_rec_get(const struct lwm2m_records *r, uint16_t oid, uint16_t iid,
					   uint16_t rid);
bool lwm2m_bs_rec_has_instance(const struct lwm2m_records *r, uint16_t oid, uint16_t iid);
/* /0/iid/1 (Bootstrap-Server) is true. */
bool lwm2m_bs_is_bootstrap_account(const struct lwm2m_records *r, uint16_t iid);
/* Append a copy of rec (its bytes copied into out's arena). */
int lwm2m_bs_rec_copy(struct lwm2m_records *out, const struct lwm2m_record *rec);
/* dst = the records of src for which drop() is false, plus add (may be
 * NULL); sorted. dst is replaced only on success. */
int lwm2m_bs_rec_rebuild(struct lwm2m_records *dst, const struct lwm2m_records *src,
			 bool (*drop)(const struct lwm2m_record *rec, const void *ctx), const void *ctx,
			 const struct lwm2m_records *add);
/* Bytes of the string, opaque and link values. */
size_t lwm2m_bs_rec_bytes(const struct lwm2m_records *r);
/* Check records decoded for base against the definitions: resource values
 * (len 3 or 4) at or below base, defined resources, a single resource
 * named without instance and a multiple one with, values converted to the
 * defined type in place. A record of type NONE names a multiple resource
 * with no instance (kept, it empties the resource). -ENOENT for an
 * undefined resource, -EINVAL otherwise; *why says what. */
int lwm2m_bs_rec_normalize(const struct lwm2m_registry *reg, const struct lwm2m_path *base,
			   struct lwm2m_records *recs, const char **why);

/* ---- the server account ------------------------------------------------------ */

/* The server account a bootstrap result provides: the first /0 instance
 * (by instance id) that is not a Bootstrap-Server account and has a usable
 * URI, security mode (NoSec with coap://, PSK with coaps:// and both keys)
 * and Short Server ID matched by a /1 instance with a lifetime and a UDP
 * binding. Spans point into the records. */
struct lwm2m_bs_account {
	uint16_t sec_iid, srv_iid, ssid;
	uint8_t mode; /* 0 PSK, 3 NoSec */
	bool queue;   /* binding "UQ" */
	uint32_t lifetime;
	struct lwm2m_span uri;
	struct lwm2m_span identity, key;
	bool bootstrap_on_failure; /* /1/x/16, true when absent */
};
/* 0 with *acct, or -EINVAL and *why (a static string naming the problem). */
int lwm2m_bs_check(const struct lwm2m_records *recs, struct lwm2m_bs_account *acct, const char **why);

/* ---- the file ---------------------------------------------------------------- */

/* Append the file image of recs (resource values of /0 and /1, sorted) for
 * endpoint name to out. -EINVAL (a record outside /0 and /1), -E2BIG,
 * -ENOMEM, codec errors. */
int lwm2m_bs_state_encode(const char *name, const struct lwm2m_records *recs, struct lwm2m_buf *out);

/* Parse a file image written for endpoint name: header, CRC, name, payload,
 * every record a defined /0 or /1 resource of the right type and
 * multiplicity, no duplicates, and a usable server account (see
 * lwm2m_bs_check()). Records are appended to out (values converted to their
 * defined types) only when everything is right; otherwise out is untouched,
 * *why (may be NULL) says what was wrong, and -EBADMSG (malformed),
 * -EINVAL (well-formed but unusable), -ESTALE (written for another
 * endpoint) or -ENOMEM is returned. */
int lwm2m_bs_state_decode(const uint8_t *data, size_t len, const char *name, const struct lwm2m_registry *reg,
			  struct lwm2m_records *out, const char **why);
