/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sample queue's file format (see sfq.h): records of samples and of
 * samples gone, and loading a file back into a queue. Pure.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sfq_internal.h"

/* ---- values -------------------------------------------------------------------- */

bool fg_sq_byte_type(uint8_t t)
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

size_t fg_sq_sample_payload(const struct lwm2m_path *p, const struct lwm2m_value *v)
{
	return 8 + 8 + 1 + 2u * p->len + 1 + value_size(v);
}

bool fg_sq_path_ok(const struct lwm2m_path *p)
{
	if (p->len < 3 || p->len > 4)
		return false;
	for (unsigned i = 0; i < p->len; i++)
		if (p->id[i] > LWM2M_ID_MAX)
			return false;
	return true;
}

bool fg_sq_value_ok(const struct lwm2m_value *v)
{
	if (v->type == LWM2M_TYPE_NONE || v->type >= LWM2M_TYPE__MAX)
		return false;
	/* SenML and JSON cannot carry them (the store never holds one). */
	if (v->type == LWM2M_TYPE_FLOAT && !isfinite(v->f))
		return false;
	return !fg_sq_byte_type(v->type) || v->bytes.len <= FG_SQ_SAMPLE_MAX;
}

/* ---- records --------------------------------------------------------------------- */

/* The CRC of the record that starts at out->data[start] and ends here. */
static int rec_end(struct lwm2m_buf *out, size_t start)
{
	uint8_t crc[4];

	lwm2m_put_be32(crc, lwm2m_crc32(0, out->data + start, out->len - start));
	return lwm2m_buf_append(out, crc, sizeof(crc));
}

int fg_sq_put_sample(struct lwm2m_buf *out, const struct fg_sample *s)
{
	const struct lwm2m_value *v = &s->value;
	size_t pl = fg_sq_sample_payload(&s->path, v), start = out->len;
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
	    (fg_sq_byte_type(v->type) && v->bytes.len &&
	     lwm2m_buf_append(out, v->bytes.ptr, v->bytes.len) < 0) ||
	    rec_end(out, start) < 0) {
		out->len = start;
		return -ENOMEM;
	}
	return 0;
}

/* A GONE record for seq, or the last record of out extended when it is the
 * GONE record of the sequence number just before with the same reason.
 * Returns the bytes added to out, or -ENOMEM. */
int fg_sq_put_gone(struct lwm2m_buf *out, uint64_t seq, uint8_t why)
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
	need = fg_sq_byte_type(v->type) ? pl : value_size(v);
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
	if (!fg_sq_path_ok(&s->path) || !fg_sq_value_ok(v))
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
	if (fg_sq_byte_type(s->value.type)) {
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
		if (q->n == q->cap && (r = fg_sq_grow(q)) < 0)
			goto out;
		while (fg_sq_over(q, s->size)) {
			struct fg_sample *old = fg_sq_oldest_droppable(q);

			if (!old)
				break;
			fg_sq_drop_sample(q, old, false);
		}
		fg_sq_pop_gone(q);
		if (fg_sq_over(q, s->size)) {
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
