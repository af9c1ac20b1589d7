/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/modbus/mb_generate.h — the Modbus bridge's generated profiles
 * (bridge_kind.generate): for each device whose profile says `generate:
 * sunspec`, its SunSpec map is walked over the bus (sunspec.h) and the
 * profile made of it handed to the core (bridge_host.generated). A device
 * that does not answer, or answers without a SunSpec map, is tried again
 * with backoff (5 s doubling to 5 min) and reported unreachable meanwhile;
 * the models that are not mapped are kept for `fieldgate status`.
 *
 * The walk reads through the bridge (mb_gen_read_fn): its requests queue
 * with the others on the bus, one at a time.
 */
#pragma once

#include <stdint.h>

#include <systemd/sd-event.h>

#include "bridges/bridge.h"

struct mb_gen;

/* Read count holding registers at addr of unit; done(ctx, err, regs (wire
 * order, 2 bytes each), count) later, from the loop. 0 or a negative errno
 * (done() is then not called). */
typedef void (*mb_gen_done_fn)(void *ctx, int err, const uint8_t *data, uint16_t count);
typedef int (*mb_gen_read_fn)(void *ud, uint8_t unit, uint64_t timeout_usec, uint32_t addr, uint16_t count,
			      mb_gen_done_fn done, void *ctx);

/* For the bridge instance b (its name, its host; it outlives the
 * mb_gen). NULL: out of memory. */
struct mb_gen *mb_gen_new(struct bridge *b, sd_event *event, unsigned max_registers, mb_gen_read_fn read,
			  void *ud);
/* Accepts NULL; returns NULL. */
struct mb_gen *mb_gen_free(struct mb_gen *g);
/* bridge_kind.generate: start walking for device (unit, per-read timeout;
 * what must be "sunspec"), or stop (what NULL). */
int mb_gen_start(struct mb_gen *g, const char *device, uint8_t unit, uint64_t timeout_usec, const char *what);
void mb_gen_stop(struct mb_gen *g, const char *device);
/* For `fieldgate status`: "sunspec: ..." of the device, or NULL. */
const char *mb_gen_status(struct mb_gen *g, const char *device, char *buf, size_t size);
