/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the sample queue (sfq.c, the queue; sfq_file.c, its file
 * format): what one uses of the other. Pure.
 */
#pragma once

#include "sfq.h"
#include "statefile.h"

enum { REC_SAMPLE = 1, REC_GONE = 2 };
enum { GONE_DELIVERED = 1, GONE_DROPPED = 2 };

#define REC_OVERHEAD 9u /* kind, length, CRC */

/* ---- sfq.c ------------------------------------------------------------------------ */

/* A sample in this state is (to be) in the file. */
bool fg_sq_held_state(uint8_t st);
int fg_sq_grow(struct fg_sq *q);
void fg_sq_pop_gone(struct fg_sq *q);
void fg_sq_drop_sample(struct fg_sq *q, struct fg_sample *s, bool delivered);
struct fg_sample *fg_sq_oldest_droppable(const struct fg_sq *q);
/* Would add more bytes take q over its bound? */
bool fg_sq_over(const struct fg_sq *q, size_t add);

/* ---- sfq_file.c ------------------------------------------------------------------- */

bool fg_sq_byte_type(uint8_t t);
/* Bytes of a sample's record payload. */
size_t fg_sq_sample_payload(const struct lwm2m_path *p, const struct lwm2m_value *v);
bool fg_sq_path_ok(const struct lwm2m_path *p);
bool fg_sq_value_ok(const struct lwm2m_value *v);
/* Append the record of a sample, of samples gone. */
int fg_sq_put_sample(struct lwm2m_buf *out, const struct fg_sample *s);
int fg_sq_put_gone(struct lwm2m_buf *out, uint64_t seq, uint8_t why);
