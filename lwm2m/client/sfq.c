/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sample queue of one target (see sfq.h); its file format is in
 * sfq_file.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sfq_internal.h"

/* ---- paths held -------------------------------------------------------------------- */

static struct fg_sq_path *path_find(const struct fg_sq *q, const struct lwm2m_path *p)
{
	for (size_t i = 0; i < q->npaths; i++)
		if (lwm2m_path_cmp(&q->paths[i].path, p) == 0)
			return &q->paths[i];
	return NULL;
}

uint32_t fg_sq_held(const struct fg_sq *q, const struct lwm2m_path *path)
{
	const struct fg_sq_path *h = path_find(q, path);

	return h ? h->held : 0;
}

static int hold(struct fg_sq *q, const struct lwm2m_path *p)
{
	struct fg_sq_path *h = path_find(q, p);

	if (!h) {
		if (q->npaths == q->cappaths) {
			size_t cap = q->cappaths ? q->cappaths * 2 : 4;
			struct fg_sq_path *v = realloc(q->paths, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			q->paths = v;
			q->cappaths = cap;
		}
		h = &q->paths[q->npaths++];
		*h = (struct fg_sq_path){ .path = *p };
	}
	h->held++;
	q->nheld++;
	return 0;
}

static void release(struct fg_sq *q, const struct lwm2m_path *p)
{
	struct fg_sq_path *h = path_find(q, p);

	if (!h)
		return;
	q->nheld--;
	if (--h->held)
		return;
	*h = q->paths[--q->npaths];
}

bool fg_sq_held_state(uint8_t st)
{
	return st == FG_SQ_PENDING || st == FG_SQ_INFLIGHT;
}

/* ---- the queue ----------------------------------------------------------------------- */

void fg_sq_clear(struct fg_sq *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(fg_sq_at(q, i)->owned);
	free(q->v);
	free(q->paths);
	lwm2m_buf_free(&q->out);
	q->v = NULL;
	q->paths = NULL;
	q->cap = q->head = q->n = q->live = q->bytes = q->nheld = 0;
	q->npaths = q->cappaths = 0;
	q->disk_live = q->disk_dead = 0;
}

int fg_sq_grow(struct fg_sq *q)
{
	size_t cap = q->cap ? q->cap * 2 : 16;
	struct fg_sample *v = malloc(cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < q->n; i++)
		v[i] = *fg_sq_at(q, i);
	free(q->v);
	q->v = v;
	q->cap = cap;
	q->head = 0;
	return 0;
}

void fg_sq_pop_gone(struct fg_sq *q)
{
	while (q->n && fg_sq_at(q, 0)->state == FG_SQ_GONE) {
		q->head = (q->head + 1) % q->cap;
		q->n--;
	}
	if (!q->n)
		q->head = 0;
}

static void disk_gone(struct fg_sq *q, struct fg_sample *s, uint8_t why)
{
	if (!s->on_disk)
		return;
	s->on_disk = false;
	q->disk_live -= s->size < q->disk_live ? s->size : q->disk_live;
	q->disk_dead += s->size;
	/* Out of memory: the record stays live in the file and the sample
	 * comes back after a restart (delivered twice rather than lost). */
	int n = fg_sq_put_gone(&q->out, s->seq, why);

	if (n > 0)
		q->disk_dead += (uint64_t)n;
}

void fg_sq_drop_sample(struct fg_sq *q, struct fg_sample *s, bool delivered)
{
	if (fg_sq_held_state(s->state))
		release(q, &s->path);
	disk_gone(q, s, delivered ? GONE_DELIVERED : GONE_DROPPED);
	free(s->owned);
	s->owned = NULL;
	s->state = FG_SQ_GONE;
	q->live--;
	q->bytes -= s->size;
	if (!delivered) {
		q->dropped++;
		q->dropped_sent += s->sent_once;
	} else if (s->held_once) {
		q->delivered++;
	}
}

void fg_sq_remove(struct fg_sq *q, struct fg_sample *s, bool delivered)
{
	if (s->state == FG_SQ_GONE)
		return;
	fg_sq_drop_sample(q, s, delivered);
	fg_sq_pop_gone(q);
}

int fg_sq_flush(struct fg_sq *q)
{
	if (!q->persist)
		return 0;
	for (size_t i = 0; i < q->n; i++) {
		struct fg_sample *s = fg_sq_at(q, i);

		if (!fg_sq_held_state(s->state) || s->on_disk)
			continue;
		/* Out of memory: tried again at the next write. */
		if (fg_sq_put_sample(&q->out, s) < 0)
			return -ENOMEM;
		s->on_disk = true;
		q->disk_live += s->size;
	}
	return 0;
}

void fg_sq_set_state(struct fg_sq *q, struct fg_sample *s, enum fg_sq_state st, uint32_t mark)
{
	bool was = fg_sq_held_state(s->state), is = fg_sq_held_state(st);

	if (s->state == FG_SQ_GONE || st == FG_SQ_GONE)
		return;
	/* hold() failing leaves the path unheld: values of it may then
	 * overtake this one, nothing is lost. */
	if (is && !was)
		(void)hold(q, &s->path);
	else if (was && !is)
		release(q, &s->path);
	s->state = st;
	s->mark = mark;
	if (st == FG_SQ_SENT)
		s->sent_once = true;
	if (st == FG_SQ_PENDING) {
		if (!s->held_once)
			q->queued++;
		s->held_once = true;
	}
}

/* The oldest sample that may be dropped to make room, or NULL. */
struct fg_sample *fg_sq_oldest_droppable(const struct fg_sq *q)
{
	for (size_t i = 0; i < q->n; i++) {
		struct fg_sample *s = fg_sq_at(q, i);

		if (s->state == FG_SQ_PENDING || s->state == FG_SQ_SENT)
			return s;
	}
	return NULL;
}

bool fg_sq_over(const struct fg_sq *q, size_t add)
{
	return (q->max_count && q->live + 1 > q->max_count) ||
	       (q->max_bytes && q->bytes + add > q->max_bytes);
}

int fg_sq_push(struct fg_sq *q, const struct lwm2m_path *path, const struct lwm2m_value *v, int64_t time_ms,
	       enum fg_sq_state state, uint32_t mark)
{
	struct fg_sample *s;
	size_t size;

	if (!fg_sq_path_ok(path) || !fg_sq_value_ok(v) || time_ms <= 0 ||
	    (state != FG_SQ_PENDING && state != FG_SQ_SENT))
		return -EINVAL;
	size = fg_sq_sample_payload(path, v) + REC_OVERHEAD;
	while (fg_sq_over(q, size)) {
		struct fg_sample *old = fg_sq_oldest_droppable(q);

		if (!old) {
			q->dropped++; /* the new one: nothing older may go */
			return 1;
		}
		fg_sq_drop_sample(q, old, false);
	}
	fg_sq_pop_gone(q);
	if (q->n == q->cap && fg_sq_grow(q) < 0)
		return -ENOMEM;
	s = &q->v[(q->head + q->n) % q->cap];
	*s = (struct fg_sample){ .seq = q->next_seq++,
				 .time_ms = time_ms,
				 .path = *path,
				 .state = FG_SQ_SENT,
				 .size = (uint32_t)size,
				 .value = *v };
	if (fg_sq_byte_type(v->type)) {
		s->owned = malloc(v->bytes.len ? v->bytes.len : 1);
		if (!s->owned)
			return -ENOMEM;
		if (v->bytes.len)
			memcpy(s->owned, v->bytes.ptr, v->bytes.len);
		s->value.bytes.ptr = s->owned;
	}
	q->n++;
	q->live++;
	q->bytes += size;
	fg_sq_set_state(q, s, state, mark);
	return 0;
}

/* ---- the file ---------------------------------------------------------------------------- */

int fg_sq_header(const char *name, struct lwm2m_buf *out)
{
	size_t nl = strlen(name);
	uint8_t h[FG_SQ_HEADER_MIN] = { 'F', 'G', 'S', 'Q', FG_SQ_VERSION, 0 };
	uint32_t crc;

	if (nl == 0 || nl > UINT16_MAX)
		return -EINVAL;
	lwm2m_put_be16(h + 6, (uint16_t)nl);
	crc = lwm2m_crc32(lwm2m_crc32(0, h, 8), (const uint8_t *)name, nl);
	lwm2m_put_be32(h + 8, crc);
	if (lwm2m_buf_append(out, h, sizeof(h)) < 0 || lwm2m_buf_append(out, name, nl) < 0)
		return -ENOMEM;
	return 0;
}

int fg_sq_image(struct fg_sq *q, const char *name, struct lwm2m_buf *out)
{
	size_t start = out->len;
	uint64_t live = 0;
	int r = fg_sq_header(name, out);

	for (size_t i = 0; r >= 0 && i < q->n; i++) {
		const struct fg_sample *s = fg_sq_at(q, i);

		if (fg_sq_held_state(s->state)) {
			r = fg_sq_put_sample(out, s);
			live += s->size;
		}
	}
	if (r < 0) {
		out->len = start;
		return r;
	}
	for (size_t i = 0; i < q->n; i++) {
		struct fg_sample *s = fg_sq_at(q, i);

		s->on_disk = fg_sq_held_state(s->state);
	}
	q->disk_live = live;
	q->disk_dead = 0;
	lwm2m_buf_reset(&q->out);
	return 0;
}
