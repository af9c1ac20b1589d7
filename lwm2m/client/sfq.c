/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sample queue of one target and its file format: see sfq.h.
 */
#include "sfq.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "statefile.h"

enum { REC_SAMPLE = 1, REC_GONE = 2 };
enum { GONE_DELIVERED = 1, GONE_DROPPED = 2 };

#define REC_OVERHEAD 9u /* kind, length, CRC */

/* ---- values -------------------------------------------------------------------- */

static bool byte_type(uint8_t t)
{
	return t == LWM2M_TYPE_STRING || t == LWM2M_TYPE_OPAQUE || t == LWM2M_TYPE_CORELNK;
}

/* Payload size of a SAMPLE record for this path and value. */
static size_t value_size(const struct lwm2m_value *v)
{
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
	case LWM2M_TYPE_UNSIGNED:
	case LWM2M_TYPE_FLOAT:
		return 8;
	case LWM2M_TYPE_BOOLEAN:
		return 1;
	case LWM2M_TYPE_OBJLNK:
		return 4;
	default:
		return v->bytes.len;
	}
}

static size_t sample_payload(const struct lwm2m_path *p, const struct lwm2m_value *v)
{
	return 8 + 8 + 1 + 2u * p->len + 1 + value_size(v);
}

static bool path_ok(const struct lwm2m_path *p)
{
	if (p->len < 3 || p->len > 4)
		return false;
	for (unsigned i = 0; i < p->len; i++)
		if (p->id[i] > LWM2M_ID_MAX)
			return false;
	return true;
}

static bool value_ok(const struct lwm2m_value *v)
{
	if (v->type == LWM2M_TYPE_NONE || v->type >= LWM2M_TYPE__MAX)
		return false;
	/* SenML and JSON cannot carry them (the store never holds one). */
	if (v->type == LWM2M_TYPE_FLOAT && !isfinite(v->f))
		return false;
	return !byte_type(v->type) || v->bytes.len <= FG_SQ_SAMPLE_MAX;
}

/* ---- records --------------------------------------------------------------------- */

/* The CRC of the record that starts at out->data[start] and ends here. */
static int rec_end(struct lwm2m_buf *out, size_t start)
{
	uint8_t crc[4];

	lwm2m_put_be32(crc, lwm2m_crc32(0, out->data + start, out->len - start));
	return lwm2m_buf_append(out, crc, sizeof(crc));
}

static int put_sample(struct lwm2m_buf *out, const struct fg_sample *s)
{
	const struct lwm2m_value *v = &s->value;
	size_t pl = sample_payload(&s->path, v), start = out->len;
	uint8_t b[5 + 17 + 8 + 1 + 8], *p = b;
	uint64_t bits;

	*p++ = REC_SAMPLE;
	lwm2m_put_be32(p, (uint32_t)pl);
	lwm2m_put_be64(p + 4, s->seq);
	lwm2m_put_be64(p + 12, (uint64_t)s->time_ms);
	p[20] = s->path.len;
	p += 21;
	for (unsigned i = 0; i < s->path.len; i++, p += 2)
		lwm2m_put_be16(p, s->path.id[i]);
	*p++ = v->type;
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		lwm2m_put_be64(p, (uint64_t)v->i);
		p += 8;
		break;
	case LWM2M_TYPE_UNSIGNED:
		lwm2m_put_be64(p, v->u);
		p += 8;
		break;
	case LWM2M_TYPE_FLOAT:
		memcpy(&bits, &v->f, 8);
		lwm2m_put_be64(p, bits);
		p += 8;
		break;
	case LWM2M_TYPE_BOOLEAN:
		*p++ = v->b ? 1 : 0;
		break;
	case LWM2M_TYPE_OBJLNK:
		lwm2m_put_be16(p, v->lnk.oid);
		lwm2m_put_be16(p + 2, v->lnk.iid);
		p += 4;
		break;
	default:
		break;
	}
	if (lwm2m_buf_append(out, b, (size_t)(p - b)) < 0 ||
	    (byte_type(v->type) && v->bytes.len && lwm2m_buf_append(out, v->bytes.ptr, v->bytes.len) < 0) ||
	    rec_end(out, start) < 0) {
		out->len = start;
		return -ENOMEM;
	}
	return 0;
}

/* A GONE record for seq, or the last record of out extended when it is the
 * GONE record of the sequence number just before with the same reason.
 * Returns the bytes added to out, or -ENOMEM. */
static int put_gone(struct lwm2m_buf *out, uint64_t seq, uint8_t why)
{
	enum { PL = 17, LEN = PL + REC_OVERHEAD };
	uint8_t b[5 + PL], *p;
	size_t start = out->len;

	if (out->len >= LEN) {
		p = out->data + out->len - LEN;
		if (p[0] == REC_GONE && lwm2m_get_be32(p + 1) == PL && lwm2m_get_be64(p + 13) + 1 == seq &&
		    p[21] == why && lwm2m_get_be32(p + LEN - 4) == lwm2m_crc32(0, p, LEN - 4)) {
			lwm2m_put_be64(p + 13, seq);
			lwm2m_put_be32(p + LEN - 4, lwm2m_crc32(0, p, LEN - 4));
			return 0;
		}
	}
	b[0] = REC_GONE;
	lwm2m_put_be32(b + 1, PL);
	lwm2m_put_be64(b + 5, seq);
	lwm2m_put_be64(b + 13, seq);
	b[21] = why;
	if (lwm2m_buf_append(out, b, sizeof(b)) < 0 || rec_end(out, start) < 0) {
		out->len = start;
		return -ENOMEM;
	}
	return LEN;
}

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

static bool held_state(uint8_t st)
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

static int grow(struct fg_sq *q)
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

static void pop_gone(struct fg_sq *q)
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
	int n = put_gone(&q->out, s->seq, why);

	if (n > 0)
		q->disk_dead += (uint64_t)n;
}

static void drop_sample(struct fg_sq *q, struct fg_sample *s, bool delivered)
{
	if (held_state(s->state))
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
	drop_sample(q, s, delivered);
	pop_gone(q);
}

int fg_sq_flush(struct fg_sq *q)
{
	if (!q->persist)
		return 0;
	for (size_t i = 0; i < q->n; i++) {
		struct fg_sample *s = fg_sq_at(q, i);

		if (!held_state(s->state) || s->on_disk)
			continue;
		/* Out of memory: tried again at the next write. */
		if (put_sample(&q->out, s) < 0)
			return -ENOMEM;
		s->on_disk = true;
		q->disk_live += s->size;
	}
	return 0;
}

void fg_sq_set_state(struct fg_sq *q, struct fg_sample *s, enum fg_sq_state st, uint32_t mark)
{
	bool was = held_state(s->state), is = held_state(st);

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
static struct fg_sample *oldest_droppable(const struct fg_sq *q)
{
	for (size_t i = 0; i < q->n; i++) {
		struct fg_sample *s = fg_sq_at(q, i);

		if (s->state == FG_SQ_PENDING || s->state == FG_SQ_SENT)
			return s;
	}
	return NULL;
}

static bool over(const struct fg_sq *q, size_t add)
{
	return (q->max_count && q->live + 1 > q->max_count) ||
	       (q->max_bytes && q->bytes + add > q->max_bytes);
}

int fg_sq_push(struct fg_sq *q, const struct lwm2m_path *path, const struct lwm2m_value *v, int64_t time_ms,
	       enum fg_sq_state state, uint32_t mark)
{
	struct fg_sample *s;
	size_t size;

	if (!path_ok(path) || !value_ok(v) || time_ms <= 0 || (state != FG_SQ_PENDING && state != FG_SQ_SENT))
		return -EINVAL;
	size = sample_payload(path, v) + REC_OVERHEAD;
	while (over(q, size)) {
		struct fg_sample *old = oldest_droppable(q);

		if (!old) {
			q->dropped++; /* the new one: nothing older may go */
			return 1;
		}
		drop_sample(q, old, false);
	}
	pop_gone(q);
	if (q->n == q->cap && grow(q) < 0)
		return -ENOMEM;
	s = &q->v[(q->head + q->n) % q->cap];
	*s = (struct fg_sample){ .seq = q->next_seq++,
				 .time_ms = time_ms,
				 .path = *path,
				 .state = FG_SQ_SENT,
				 .size = (uint32_t)size,
				 .value = *v };
	if (byte_type(v->type)) {
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

		if (held_state(s->state)) {
			r = put_sample(out, s);
			live += s->size;
		}
	}
	if (r < 0) {
		out->len = start;
		return r;
	}
	for (size_t i = 0; i < q->n; i++) {
		struct fg_sample *s = fg_sq_at(q, i);

		s->on_disk = held_state(s->state);
	}
	q->disk_live = live;
	q->disk_dead = 0;
	lwm2m_buf_reset(&q->out);
	return 0;
}

struct gone_range {
	uint64_t first, last;
};

struct loading {
	struct fg_sample *v;
	size_t n, cap;
	struct gone_range *g;
	size_t ng, capg;
};

static int parse_sample(const uint8_t *p, size_t pl, struct fg_sample *s)
{
	struct lwm2m_value *v = &s->value;
	size_t need;
	uint64_t bits;

	if (pl < 8 + 8 + 1)
		return -EBADMSG;
	*s = (struct fg_sample){ .seq = lwm2m_get_be64(p), .time_ms = (int64_t)lwm2m_get_be64(p + 8) };
	s->path.len = p[16];
	if (s->path.len < 3 || s->path.len > 4 || pl < 17 + 2u * s->path.len + 1 || s->time_ms <= 0)
		return -EBADMSG;
	p += 17;
	pl -= 17;
	for (unsigned i = 0; i < s->path.len; i++, p += 2, pl -= 2)
		s->path.id[i] = lwm2m_get_be16(p);
	v->type = *p++;
	pl--;
	if (v->type == LWM2M_TYPE_NONE || v->type >= LWM2M_TYPE__MAX)
		return -EBADMSG;
	need = byte_type(v->type) ? pl : value_size(v);
	if (pl != need)
		return -EBADMSG;
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		v->i = (int64_t)lwm2m_get_be64(p);
		break;
	case LWM2M_TYPE_UNSIGNED:
		v->u = lwm2m_get_be64(p);
		break;
	case LWM2M_TYPE_FLOAT:
		bits = lwm2m_get_be64(p);
		memcpy(&v->f, &bits, 8);
		break;
	case LWM2M_TYPE_BOOLEAN:
		if (*p > 1)
			return -EBADMSG;
		v->b = *p;
		break;
	case LWM2M_TYPE_OBJLNK:
		v->lnk.oid = lwm2m_get_be16(p);
		v->lnk.iid = lwm2m_get_be16(p + 2);
		break;
	default:
		v->bytes.ptr = p; /* copied by the caller */
		v->bytes.len = pl;
		break;
	}
	if (!path_ok(&s->path) || !value_ok(v))
		return -EBADMSG;
	return 0;
}

static int add_loaded(struct loading *L, const struct fg_sample *s)
{
	struct fg_sample *n;

	if (L->n == L->cap) {
		size_t cap = L->cap ? L->cap * 2 : 64;
		struct fg_sample *v = realloc(L->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		L->v = v;
		L->cap = cap;
	}
	n = &L->v[L->n];
	*n = *s;
	if (byte_type(s->value.type)) {
		n->owned = malloc(s->value.bytes.len ? s->value.bytes.len : 1);
		if (!n->owned)
			return -ENOMEM;
		if (s->value.bytes.len)
			memcpy(n->owned, s->value.bytes.ptr, s->value.bytes.len);
		n->value.bytes.ptr = n->owned;
	}
	L->n++;
	return 0;
}

static int add_gone(struct loading *L, uint64_t first, uint64_t last)
{
	if (L->ng == L->capg) {
		size_t cap = L->capg ? L->capg * 2 : 64;
		struct gone_range *g = realloc(L->g, cap * sizeof(*g));

		if (!g)
			return -ENOMEM;
		L->g = g;
		L->capg = cap;
	}
	L->g[L->ng++] = (struct gone_range){ first, last };
	return 0;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct fg_sample *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_range(const void *a, const void *b)
{
	const struct gone_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Parse the records after the header; stops at the first that is torn or
 * wrong (*at: where). */
static int read_records(struct loading *L, const uint8_t *data, size_t len, size_t *at)
{
	size_t off = *at;
	int r = 0;

	while (off + REC_OVERHEAD <= len) {
		const uint8_t *rec = data + off, *p = rec + 5;
		uint32_t pl = lwm2m_get_be32(rec + 1);
		struct fg_sample s;

		if (pl > len - off - REC_OVERHEAD ||
		    lwm2m_get_be32(p + pl) != lwm2m_crc32(0, rec, 5 + (size_t)pl))
			break;
		if (rec[0] == REC_SAMPLE) {
			if (parse_sample(p, pl, &s) < 0)
				break;
			s.size = pl + REC_OVERHEAD;
			r = add_loaded(L, &s);
		} else if (rec[0] == REC_GONE) {
			uint64_t first, last;

			if (pl != 17 || (p[16] != GONE_DELIVERED && p[16] != GONE_DROPPED))
				break;
			first = lwm2m_get_be64(p);
			last = lwm2m_get_be64(p + 8);
			if (last < first)
				break;
			r = add_gone(L, first, last);
		} else {
			break;
		}
		if (r < 0)
			return r;
		off += REC_OVERHEAD + pl;
	}
	*at = off;
	return 0;
}

/* Mark the loaded samples that a GONE range covers, and repeats of a
 * sequence number, by setting their state GONE. */
static void apply_gone(struct loading *L)
{
	size_t k = 0;
	uint64_t reach = 0;
	bool any = false;

	if (L->n)
		qsort(L->v, L->n, sizeof(*L->v), cmp_seq);
	if (L->ng)
		qsort(L->g, L->ng, sizeof(*L->g), cmp_range);
	for (size_t i = 0; i < L->n; i++) {
		struct fg_sample *s = &L->v[i];

		s->state = FG_SQ_PENDING;
		if (i > 0 && L->v[i - 1].seq == s->seq) {
			s->state = FG_SQ_GONE;
			continue;
		}
		/* Ranges starting at or before seq: the furthest reach. */
		while (k < L->ng && L->g[k].first <= s->seq) {
			if (!any || L->g[k].last > reach)
				reach = L->g[k].last;
			any = true;
			k++;
		}
		if (any && reach >= s->seq)
			s->state = FG_SQ_GONE;
	}
}

int fg_sq_load(struct fg_sq *q, const uint8_t *data, size_t len, const char *name, size_t *ignored,
	       const char **why)
{
	struct loading L = { 0 };
	size_t nl, at;
	size_t count = 0;
	int r;

	if (ignored)
		*ignored = 0;
	if (why)
		*why = NULL;
	if (len < FG_SQ_HEADER_MIN || memcmp(data, "FGSQ", 4) != 0) {
		if (why)
			*why = "not a sample queue file";
		return -EBADMSG;
	}
	if (data[4] != FG_SQ_VERSION || data[5] != 0) {
		if (why)
			*why = "unknown version";
		return -EBADMSG;
	}
	nl = lwm2m_get_be16(data + 6);
	if (nl == 0 || len < FG_SQ_HEADER_MIN + nl ||
	    lwm2m_get_be32(data + 8) != lwm2m_crc32(lwm2m_crc32(0, data, 8), data + FG_SQ_HEADER_MIN, nl)) {
		if (why)
			*why = "damaged header";
		return -EBADMSG;
	}
	if (nl != strlen(name) || memcmp(data + FG_SQ_HEADER_MIN, name, nl) != 0) {
		if (why)
			*why = "written for another endpoint";
		return -ESTALE;
	}
	at = FG_SQ_HEADER_MIN + nl;
	r = read_records(&L, data, len, &at);
	if (r < 0)
		goto out;
	if (ignored)
		*ignored = len - at;
	apply_gone(&L);
	/* Into the queue, oldest first; the bounds drop the oldest. */
	for (size_t i = 0; i < L.n; i++) {
		struct fg_sample *s = &L.v[i];
		struct fg_sample *d;

		if (s->state == FG_SQ_GONE)
			continue;
		if (q->n == q->cap && (r = grow(q)) < 0)
			goto out;
		while (over(q, s->size)) {
			struct fg_sample *old = oldest_droppable(q);

			if (!old)
				break;
			drop_sample(q, old, false);
		}
		pop_gone(q);
		if (over(q, s->size)) {
			q->dropped++;
			continue;
		}
		d = &q->v[(q->head + q->n) % q->cap];
		*d = *s;
		s->owned = NULL;
		d->state = FG_SQ_SENT; /* moved to PENDING below */
		d->on_disk = true;
		q->n++;
		q->live++;
		q->bytes += d->size;
		q->disk_live += d->size;
		if (d->seq >= q->next_seq)
			q->next_seq = d->seq + 1;
		fg_sq_set_state(q, d, FG_SQ_PENDING, 0);
		count++;
	}
	/* The disk accounting: everything else in the file is dead. */
	q->disk_dead = at > q->disk_live ? at - q->disk_live : 0;
	/* Those kept: the bounds may have dropped some loaded first. */
	count = q->live;
	r = (int)(count > INT32_MAX ? INT32_MAX : count);
out:
	for (size_t i = 0; i < L.n; i++)
		free(L.v[i].owned);
	free(L.v);
	free(L.g);
	if (r == -ENOMEM && why)
		*why = "out of memory";
	return r;
}
