/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 5 Firmware Update of the gateway's own endpoint (fwupdate.c): the
 * state machine of the specification, the package pushed to /5/0/0 or
 * pulled from /5/0/1 (gateway/pkg/), the Update running update.command,
 * and the daemon coming back on the new version. Private to
 * gateway/registry/; target.c routes the server's requests here, self.c
 * builds the instance.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/client.h"

struct gw_registry;

#define FWU_OID 5

/* /5/0 in the gateway's store (r->gw_store, before its endpoint exists),
 * from what state_dir says of an update that was running when the daemon
 * stopped: after an Update the result is 1 if the version changed, 8 if
 * not. 0 or a negative errno. */
int fwupdate_start(struct gw_registry *r); /* again with each new store */
/* With the registry: transfers stop (a partial package is removed); a
 * running install command is left to finish, its outcome read at the
 * next start. */
void fwupdate_stop(struct gw_registry *r);

/* The server's Write of /5/0 resources (not streamed): 0 or a negative
 * errno (-EPERM: 4.05 not in this state). */
int fwupdate_write(struct gw_registry *r, const struct lwm2m_records *records);
/* The blocks of a Write of /5/0/0 (lwm2m_endpoint_ops.write_stream). */
int fwupdate_write_stream(struct gw_registry *r, uint64_t offset, const uint8_t *data, size_t len,
			  unsigned flags);
/* Execute of /5/0/2 Update or /5/0/10 Cancel: 0 or a negative errno. */
int fwupdate_execute(struct gw_registry *r, uint16_t rid);

/* What state_dir/firmware/state keeps ("key=value" lines). */
struct fwupdate_saved {
	int state, result;      /* /5/0/3, /5/0/5 */
	char from[64];          /* the version that ran the Update */
	char name[64], ver[64]; /* /5/0/6, /5/0/7: what the last Update installed */
};
/* The file's text (len bytes, no NUL needed) into out: unknown keys and
 * lines without '=' are skipped, values cut to the fields' size, a state
 * or result out of range is 0. Never fails. */
void fwupdate_saved_parse(const char *text, size_t len, struct fwupdate_saved *out);
