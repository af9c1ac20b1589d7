/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object store of one endpoint: instances and resource values.
 *
 * Layout, chosen for 10,000 devices of ~10 resources each:
 *  - inst[]: sorted (oid, iid) with a pointer to the shared object definition
 *    (16 bytes per instance);
 *  - val[]: every resource value and resource-instance value of the endpoint
 *    in one array sorted by (oid, iid, rid, riid) (24 bytes per value), so a
 *    lookup is one binary search and a Read of an instance is one slice;
 *  - bytes[]: one buffer per store holding the contents of String, Opaque and
 *    Corelnk values, addressed by 32-bit offset.
 *
 * Why one byte buffer instead of one malloc per string: glibc's smallest
 * chunk is 32 bytes, so a device with six short strings (manufacturer,
 * model, serial, firmware...) would pay ~200 bytes of chunk overhead alone
 * and scatter its data over the heap. In one buffer they cost their length.
 * A value set with lwm2m_store_set_borrowed() is not copied at all: the
 * store points at the caller's bytes (a profile's constants, the same in
 * every device of the profile: ~80 bytes a device otherwise). Such a value
 * is marked BORROWED in its type and keeps its pointer in the union and
 * its length where the time would be (it has none); any later change of
 * it makes it an ordinary value again.
 *
 * The price is garbage when a value grows (it is appended, the old bytes
 * become dead; a value that keeps or shrinks its length is rewritten in
 * place): once dead bytes are more than half the buffer the live ones are
 * copied into a fresh, exactly sized buffer. Offsets instead of pointers keep
 * that copy and every realloc trivial.
 *
 * All changes are all-or-nothing: memory is reserved before anything is
 * modified, so -ENOMEM (or any validation error) leaves the store as it was.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

#define NO_RIID  0xFFFFu
#define BORROWED 0x80u /* in sval.type: bytes not ours (lwm2m_store_set_borrowed) */

struct sinst {
	const struct lwm2m_objdef *def;
	uint16_t oid, iid;
};

struct sval {
	uint16_t oid, iid, rid, riid; /* riid NO_RIID for a single resource */
	union {
		int64_t i;
		uint64_t u;
		double f;
		bool b;
		struct {
			uint16_t oid, iid;
		} lnk;
		struct {
			uint32_t off, len;
		} bytes;
		const uint8_t *borrowed; /* its length in sec */
	} v;
	uint8_t type;
	/* When the value was measured (lwm2m_store_set_at), in the padding
	 * the struct has anyway: seconds since the epoch and milliseconds;
	 * sec 0: no time. */
	uint16_t ms;
	uint32_t sec;
};

struct lwm2m_store {
	const struct lwm2m_registry *reg;
	struct sinst *inst;
	uint32_t ninst, capinst;
	struct sval *val;
	uint32_t nval, capval;
	uint8_t *bytes;
	uint32_t blen, bcap, bdead; /* bdead: bytes in bytes[0..blen) no value uses */
	/* lwm2m_store_new_sized(): the arrays are in the struct's block
	 * (block bytes in all) until they outgrow it. */
	uint32_t block;
	bool inst_inline, val_inline;
};

/* ---- helpers ------------------------------------------------------------ */

static bool is_borrowed(const struct sval *v)
{
	return v->type & BORROWED;
}

static bool is_bytes(uint8_t t)
{
	return t == LWM2M_TYPE_STRING || t == LWM2M_TYPE_OPAQUE || t == LWM2M_TYPE_CORELNK;
}

static uint64_t key4(uint16_t oid, uint16_t iid, uint16_t rid, uint16_t riid)
{
	return (uint64_t)oid << 48 | (uint64_t)iid << 32 | (uint64_t)rid << 16 | riid;
}

static uint64_t key_of(const struct sval *v)
{
	return key4(v->oid, v->iid, v->rid, v->riid);
}

/* First value whose key is >= key. */
static size_t val_lower(const struct lwm2m_store *s, uint64_t key)
{
	size_t lo = 0, hi = s->nval;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_of(&s->val[mid]) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First value whose key is > key. */
static size_t val_upper(const struct lwm2m_store *s, uint64_t key)
{
	size_t lo = 0, hi = s->nval;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_of(&s->val[mid]) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The slice of val[] at or below path p (len 0..4). */
static void val_range(const struct lwm2m_store *s, const struct lwm2m_path *p, size_t *lo, size_t *hi)
{
	uint16_t a[4] = { 0, 0, 0, 0 }, b[4] = { 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF };

	for (unsigned i = 0; i < p->len && i < 4; i++)
		a[i] = b[i] = p->id[i];
	*lo = val_lower(s, key4(a[0], a[1], a[2], a[3]));
	*hi = val_upper(s, key4(b[0], b[1], b[2], b[3]));
}

static size_t inst_find(const struct lwm2m_store *s, uint16_t oid, uint16_t iid, bool *found)
{
	uint32_t key = (uint32_t)oid << 16 | iid;
	size_t lo = 0, hi = s->ninst;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t k = (uint32_t)s->inst[mid].oid << 16 | s->inst[mid].iid;
		if (k == key) {
			*found = true;
			return mid;
		}
		if (k < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static const struct sinst *inst_get(const struct lwm2m_store *s, uint16_t oid, uint16_t iid)
{
	bool found;
	size_t i = inst_find(s, oid, iid, &found);

	return found ? &s->inst[i] : NULL;
}

/* Arrays at least this large (bytes) grow by an eighth, not by half: a
 * gateway endpoint's store holds every device's Object 25 instance
 * (100,000 devices: ~13 MB of values and strings), where half would leave
 * megabytes unused. A realloc that large is an mremap() or one copy per
 * eighth of growth. */
#define BIG_ARRAY (64u * 1024u)

/* Capacities grow by half: a device's store is built once and rarely grows,
 * so doubling would mostly buy unused slots. size: of an element. */
static uint32_t grown(uint32_t cap, uint64_t need, uint32_t first, size_t size)
{
	uint64_t c = cap ? cap : first;

	while (c < need)
		c += (c * size >= BIG_ARRAY ? c / 8 : c / 2) + 1;
	return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

/* exact: room for need and no more (lwm2m_store_reserve()); else grown(). */
static int reserve_inst(struct lwm2m_store *s, uint64_t need, bool exact)
{
	if (need <= s->capinst)
		return 0;
	if (need > UINT32_MAX)
		return -ENOMEM;
	uint32_t c = exact ? (uint32_t)need : grown(s->capinst, need, 2, sizeof(*s->inst));
	struct sinst *v =
		s->inst_inline ? malloc((size_t)c * sizeof(*v)) : realloc(s->inst, (size_t)c * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (s->inst_inline)
		memcpy(v, s->inst, (size_t)s->ninst * sizeof(*v));
	s->inst_inline = false;
	s->inst = v;
	s->capinst = c;
	return 0;
}

static int reserve_val(struct lwm2m_store *s, uint64_t need, bool exact)
{
	if (need <= s->capval)
		return 0;
	if (need > UINT32_MAX)
		return -ENOMEM;
	uint32_t c = exact ? (uint32_t)need : grown(s->capval, need, 4, sizeof(*s->val));
	struct sval *v =
		s->val_inline ? malloc((size_t)c * sizeof(*v)) : realloc(s->val, (size_t)c * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (s->val_inline)
		memcpy(v, s->val, (size_t)s->nval * sizeof(*v));
	s->val_inline = false;
	s->val = v;
	s->capval = c;
	return 0;
}

static int reserve_bytes(struct lwm2m_store *s, uint64_t extra)
{
	uint64_t need = (uint64_t)s->blen + extra;

	if (need <= s->bcap)
		return 0;
	if (need > UINT32_MAX)
		return -ENOMEM;
	uint64_t c = s->bcap + (s->bcap >= BIG_ARRAY ? s->bcap / 8 : s->bcap / 2);
	if (c < need)
		c = need;
	c = (c + 15) & ~(uint64_t)15;
	if (c > UINT32_MAX)
		c = need;
	uint8_t *b = realloc(s->bytes, (size_t)c);
	if (!b)
		return -ENOMEM;
	s->bytes = b;
	s->bcap = (uint32_t)c;
	return 0;
}

/* Where a caller's byte pointer lies inside our own buffer (a value taken
 * from lwm2m_store_get() and set back): remembered as an offset, because the
 * buffer may move when it grows. */
static bool inside_bytes(const struct lwm2m_store *s, const void *p, uint32_t *off)
{
	const uint8_t *q = p;

	if (!s->bytes || !q || q < s->bytes || q >= s->bytes + s->bcap)
		return false;
	*off = (uint32_t)(q - s->bytes);
	return true;
}

static void drop_bytes(struct lwm2m_store *s, const struct sval *v)
{
	if (is_bytes(v->type) && !is_borrowed(v))
		s->bdead += v->v.bytes.len;
}

/* Copy the live bytes into a new, exactly sized buffer when more than half
 * of the buffer is dead. Best effort: without memory it simply waits. */
static void maybe_compact(struct lwm2m_store *s)
{
	uint32_t live = s->blen - s->bdead, o = 0;
	uint8_t *nb = NULL;

	if (s->bdead == 0 || (s->bdead < 64 && live > 0) || s->bdead * 2 < s->blen)
		return;
	if (live > 0) {
		nb = malloc((live + 15) & ~15u);
		if (!nb)
			return;
	}
	for (uint32_t i = 0; i < s->nval; i++) {
		struct sval *v = &s->val[i];
		if (!is_bytes(v->type) || is_borrowed(v) || v->v.bytes.len == 0)
			continue;
		memcpy(nb + o, s->bytes + v->v.bytes.off, v->v.bytes.len);
		v->v.bytes.off = o;
		o += v->v.bytes.len;
	}
	free(s->bytes);
	s->bytes = nb;
	s->blen = live;
	s->bcap = live ? (live + 15) & ~15u : 0;
	s->bdead = 0;
}

static void val_to_value(const struct lwm2m_store *s, const struct sval *sv, struct lwm2m_value *out)
{
	if (is_borrowed(sv)) {
		*out = (struct lwm2m_value){ .type = sv->type & ~BORROWED,
					     .bytes = { sv->v.borrowed, sv->sec } };
		return;
	}
	*out = (struct lwm2m_value){ .type = sv->type };
	switch (sv->type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		out->bytes.ptr = sv->v.bytes.len ? s->bytes + sv->v.bytes.off : (const uint8_t *)"";
		out->bytes.len = sv->v.bytes.len;
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		out->i = sv->v.i;
		break;
	case LWM2M_TYPE_UNSIGNED:
		out->u = sv->v.u;
		break;
	case LWM2M_TYPE_FLOAT:
		out->f = sv->v.f;
		break;
	case LWM2M_TYPE_BOOLEAN:
		out->b = sv->v.b;
		break;
	case LWM2M_TYPE_OBJLNK:
		out->lnk.oid = sv->v.lnk.oid;
		out->lnk.iid = sv->v.lnk.iid;
		break;
	default:
		break;
	}
}

/* Fill the scalar part of a stored value (bytes are handled by callers). */
static void value_to_val(const struct lwm2m_value *v, struct sval *sv)
{
	sv->type = v->type;
	sv->sec = 0;
	sv->ms = 0;
	memset(&sv->v, 0, sizeof(sv->v));
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		sv->v.i = v->i;
		break;
	case LWM2M_TYPE_UNSIGNED:
		sv->v.u = v->u;
		break;
	case LWM2M_TYPE_FLOAT:
		sv->v.f = v->f;
		break;
	case LWM2M_TYPE_BOOLEAN:
		sv->v.b = v->b;
		break;
	case LWM2M_TYPE_OBJLNK:
		sv->v.lnk.oid = v->lnk.oid;
		sv->v.lnk.iid = v->lnk.iid;
		break;
	default:
		break;
	}
}

/* Resolve the definition of a resource path (len 3 or 4) and check its
 * shape: a single resource is addressed at len 3, a multiple one at len 4. */
static int resolve(const struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_resdef **rd)
{
	const struct sinst *in;

	if (p->len < 3 || p->len > 4)
		return -EINVAL;
	in = inst_get(s, p->id[LWM2M_OID], p->id[LWM2M_IID]);
	if (!in)
		return -ENOENT;
	*rd = lwm2m_objdef_find_res(in->def, p->id[LWM2M_RID]);
	if (!*rd)
		return -ENOENT;
	if (((*rd)->flags & LWM2M_RES_MULTIPLE) ? p->len != 4 : p->len != 3)
		return -EINVAL;
	if (p->len == 4 && p->id[LWM2M_RIID] > LWM2M_ID_MAX)
		return -EINVAL;
	return 0;
}

/* Convert v to the resource's type; byte values must fit a 32-bit length. */
static int convert(const struct lwm2m_resdef *rd, const struct lwm2m_value *v, struct lwm2m_value *out)
{
	int r;

	if (rd->type == LWM2M_TYPE_NONE || v->type == LWM2M_TYPE_NONE)
		return -EINVAL;
	r = lwm2m_value_convert(v, (enum lwm2m_type)rd->type, out);
	if (r < 0)
		return r;
	if (is_bytes(out->type) && (out->bytes.len > UINT32_MAX || (out->bytes.len && !out->bytes.ptr)))
		return -ERANGE;
	return 0;
}

/* The DDF's range, for values a server writes: the value of a number, the
 * length of a String or Opaque ("0..255" on a URI is its length). */
static int check_range(const struct lwm2m_resdef *rd, const struct lwm2m_value *v)
{
	double x;

	if (!(rd->flags & LWM2M_RES_HAS_RANGE))
		return 0;
	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
		x = (double)v->i;
		break;
	case LWM2M_TYPE_UNSIGNED:
		x = (double)v->u;
		break;
	case LWM2M_TYPE_FLOAT:
		x = v->f;
		break;
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
		x = (double)v->bytes.len;
		break;
	default:
		return 0;
	}
	return x >= rd->min && x <= rd->max ? 0 : -ERANGE;
}

/* ---- public API --------------------------------------------------------- */

struct lwm2m_store *lwm2m_store_new(const struct lwm2m_registry *reg)
{
	return lwm2m_store_new_sized(reg, 0, 0);
}

struct lwm2m_store *lwm2m_store_new_sized(const struct lwm2m_registry *reg, size_t ninst, size_t nval)
{
	struct lwm2m_store *s;
	size_t block;

	if (!reg || ninst > UINT16_MAX * 4u || nval > UINT16_MAX * 64u)
		return NULL;
	/* Values first: both arrays need 8-byte alignment, the struct has it. */
	block = sizeof(*s) + nval * sizeof(struct sval) + ninst * sizeof(struct sinst);
	s = calloc(1, block);
	if (!s)
		return NULL;
	s->reg = reg;
	s->block = (uint32_t)block;
	if (nval) {
		s->val = (struct sval *)(s + 1);
		s->capval = (uint32_t)nval;
		s->val_inline = true;
	}
	if (ninst) {
		s->inst = (struct sinst *)((struct sval *)(s + 1) + nval);
		s->capinst = (uint32_t)ninst;
		s->inst_inline = true;
	}
	return s;
}

struct lwm2m_store *lwm2m_store_free(struct lwm2m_store *s)
{
	if (!s)
		return NULL;
	if (!s->inst_inline)
		free(s->inst);
	if (!s->val_inline)
		free(s->val);
	free(s->bytes);
	free(s);
	return NULL;
}

int lwm2m_store_add_instance(struct lwm2m_store *s, uint16_t oid, uint16_t iid)
{
	const struct lwm2m_objdef *def;
	bool found;
	size_t i;

	if (!s || oid > LWM2M_ID_MAX || iid > LWM2M_ID_MAX)
		return -EINVAL;
	def = lwm2m_registry_find(s->reg, oid);
	if (!def)
		return -ENOENT;
	i = inst_find(s, oid, iid, &found);
	if (found)
		return -EEXIST;
	if (!(def->flags & LWM2M_OBJ_MULTIPLE)) {
		/* Instances of oid sit next to the insertion point. */
		if ((i > 0 && s->inst[i - 1].oid == oid) || (i < s->ninst && s->inst[i].oid == oid))
			return -EINVAL;
	}
	if (reserve_inst(s, (uint64_t)s->ninst + 1, false) < 0)
		return -ENOMEM;
	memmove(&s->inst[i + 1], &s->inst[i], (s->ninst - i) * sizeof(*s->inst));
	s->inst[i] = (struct sinst){ .def = def, .oid = oid, .iid = iid };
	s->ninst++;
	return 0;
}

int lwm2m_store_del_instance(struct lwm2m_store *s, uint16_t oid, uint16_t iid)
{
	bool found;
	size_t i, lo, hi;

	if (!s)
		return -EINVAL;
	i = inst_find(s, oid, iid, &found);
	if (!found)
		return -ENOENT;
	val_range(s, &LWM2M_PATH(oid, iid), &lo, &hi);
	for (size_t k = lo; k < hi; k++)
		drop_bytes(s, &s->val[k]);
	if (hi > lo) {
		memmove(&s->val[lo], &s->val[hi], (s->nval - hi) * sizeof(*s->val));
		s->nval -= (uint32_t)(hi - lo);
	}
	memmove(&s->inst[i], &s->inst[i + 1], (s->ninst - i - 1) * sizeof(*s->inst));
	s->ninst--;
	maybe_compact(s);
	return 0;
}

bool lwm2m_store_has(const struct lwm2m_store *s, const struct lwm2m_path *p)
{
	size_t lo, hi;

	if (!s || !p || p->len > 4)
		return false;
	switch (p->len) {
	case 0:
		return true;
	case 1: {
		bool found;
		size_t i = inst_find(s, p->id[0], 0, &found);
		return found || (i < s->ninst && s->inst[i].oid == p->id[0]);
	}
	case 2:
		return inst_get(s, p->id[0], p->id[1]) != NULL;
	default:
		val_range(s, p, &lo, &hi);
		return lo < hi;
	}
}

static int set_value(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v,
		     double time, bool borrow);

int lwm2m_store_set(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v)
{
	return set_value(s, p, v, 0, false);
}

int lwm2m_store_set_at(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v,
		       double time)
{
	return set_value(s, p, v, time, false);
}

int lwm2m_store_set_borrowed(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v)
{
	return set_value(s, p, v, 0, true);
}

static int set_value(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v,
		     double time, bool borrow)
{
	const struct lwm2m_resdef *rd;
	struct lwm2m_value cv;
	uint32_t src_off = 0, off = 0;
	bool src_inside = false, found;
	size_t i;
	int r;

	if (!s || !p || !v)
		return -EINVAL;
	r = resolve(s, p, &rd);
	if (r < 0)
		return r;
	r = convert(rd, v, &cv);
	if (r < 0)
		return r;

	uint16_t riid = p->len == 4 ? p->id[LWM2M_RIID] : NO_RIID;
	uint64_t key = key4(p->id[0], p->id[1], p->id[2], riid);
	i = val_lower(s, key);
	found = i < s->nval && key_of(&s->val[i]) == key;
	if (!found && reserve_val(s, (uint64_t)s->nval + 1, false) < 0)
		return -ENOMEM;
	/* Only the caller's own bytes can be borrowed: not a conversion's,
	 * not ours. */
	borrow = borrow && is_bytes(cv.type) && cv.bytes.len > 0 && cv.bytes.ptr == v->bytes.ptr &&
		 !inside_bytes(s, cv.bytes.ptr, &src_off);

	if (borrow) {
		if (found)
			drop_bytes(s, &s->val[i]);
	} else if (is_bytes(cv.type) && cv.bytes.len > 0) {
		uint32_t len = (uint32_t)cv.bytes.len;
		src_inside = inside_bytes(s, cv.bytes.ptr, &src_off);
		if (found && !is_borrowed(&s->val[i]) && s->val[i].v.bytes.len >= len) {
			/* Same length or shorter: rewrite in place. */
			off = s->val[i].v.bytes.off;
			memmove(s->bytes + off, cv.bytes.ptr, len);
			s->bdead += s->val[i].v.bytes.len - len;
		} else {
			if (reserve_bytes(s, len) < 0)
				return -ENOMEM;
			off = s->blen;
			memmove(s->bytes + off, src_inside ? s->bytes + src_off : cv.bytes.ptr, len);
			s->blen += len;
			if (found)
				drop_bytes(s, &s->val[i]);
		}
	} else if (found) {
		drop_bytes(s, &s->val[i]);
	}

	if (!found) {
		memmove(&s->val[i + 1], &s->val[i], (s->nval - i) * sizeof(*s->val));
		s->nval++;
	}
	struct sval *sv = &s->val[i];
	sv->oid = p->id[0];
	sv->iid = p->id[1];
	sv->rid = p->id[2];
	sv->riid = riid;
	value_to_val(&cv, sv);
	if (borrow) {
		sv->type |= BORROWED;
		sv->v.borrowed = cv.bytes.ptr;
		sv->sec = (uint32_t)cv.bytes.len;
	} else if (is_bytes(cv.type)) {
		sv->v.bytes.off = cv.bytes.len ? off : 0;
		sv->v.bytes.len = (uint32_t)cv.bytes.len;
	}
	if (!borrow && time >= 1.0 && time < 4294967296.0) {
		uint64_t ms = (uint64_t)(time * 1000.0 + 0.5);
		sv->sec = (uint32_t)(ms / 1000u);
		sv->ms = (uint16_t)(ms % 1000u);
	}
	maybe_compact(s);
	return 0;
}

int lwm2m_store_unset(struct lwm2m_store *s, const struct lwm2m_path *p)
{
	size_t lo, hi;

	if (!s || !p || p->len < 3 || p->len > 4)
		return -EINVAL;
	if (p->len == 4 && p->id[LWM2M_RIID] == NO_RIID)
		return -ENOENT;
	val_range(s, p, &lo, &hi);
	if (lo == hi)
		return -ENOENT;
	for (size_t k = lo; k < hi; k++)
		drop_bytes(s, &s->val[k]);
	if (hi > lo) {
		memmove(&s->val[lo], &s->val[hi], (s->nval - hi) * sizeof(*s->val));
		s->nval -= (uint32_t)(hi - lo);
	}
	maybe_compact(s);
	return 0;
}

int lwm2m_store_get(const struct lwm2m_store *s, const struct lwm2m_path *p, struct lwm2m_value *out)
{
	uint64_t key;
	size_t i;

	if (!s || !p || !out || p->len < 3 || p->len > 4)
		return -EINVAL;
	if (p->len == 4 && p->id[LWM2M_RIID] == NO_RIID)
		return -ENOENT;
	key = key4(p->id[0], p->id[1], p->id[2], p->len == 4 ? p->id[3] : NO_RIID);
	i = val_lower(s, key);
	if (i >= s->nval || key_of(&s->val[i]) != key)
		return -ENOENT;
	val_to_value(s, &s->val[i], out);
	return 0;
}

int lwm2m_store_read(const struct lwm2m_store *s, const struct lwm2m_path *p, struct lwm2m_records *out)
{
	const struct sinst *in = NULL;
	size_t n0, lo, hi;

	if (!s || !p || !out || p->len > 4)
		return -EINVAL;
	if (p->len == 1 && !lwm2m_store_has(s, p))
		return -ENOENT;
	if (p->len >= 2) {
		in = inst_get(s, p->id[0], p->id[1]);
		if (!in)
			return -ENOENT;
	}
	if (p->len >= 3) {
		const struct lwm2m_resdef *rd = lwm2m_objdef_find_res(in->def, p->id[LWM2M_RID]);
		if (!rd)
			return -ENOENT;
		if (!(rd->ops & LWM2M_OP_R))
			return -EPERM;
		if (p->len == 4 && !(rd->flags & LWM2M_RES_MULTIPLE))
			return -ENOENT;
	}

	n0 = out->n;
	val_range(s, p, &lo, &hi);
	for (size_t k = lo; k < hi; k++) {
		const struct sval *sv = &s->val[k];
		if (!in || in->oid != sv->oid || in->iid != sv->iid)
			in = inst_get(s, sv->oid, sv->iid);
		const struct lwm2m_resdef *rd = in ? lwm2m_objdef_find_res(in->def, sv->rid) : NULL;
		if (!rd || !(rd->ops & LWM2M_OP_R))
			continue;

		struct lwm2m_value v;
		val_to_value(s, sv, &v);
		if (is_bytes(v.type)) {
			const void *copy = lwm2m_records_dup(out, v.bytes.ptr, v.bytes.len);
			if (!copy)
				goto oom;
			v.bytes.ptr = copy;
		}
		struct lwm2m_record *rec = lwm2m_records_add(out);
		if (!rec)
			goto oom;
		rec->path = sv->riid == NO_RIID ? LWM2M_PATH(sv->oid, sv->iid, sv->rid)
						: LWM2M_PATH(sv->oid, sv->iid, sv->rid, sv->riid);
		rec->value = v;
		if (sv->sec && !is_borrowed(sv)) {
			rec->has_time = true;
			rec->time = (double)sv->sec + sv->ms / 1000.0;
		}
	}
	if (p->len >= 3 && out->n == n0)
		return -ENOENT;
	return 0;
oom:
	/* Bytes already copied stay in out's arena until it is cleared. */
	out->n = n0;
	return -ENOMEM;
}

/* A record of a Write, checked and converted. */
struct wval {
	uint64_t key;
	struct lwm2m_value v;
	uint32_t src_off; /* when src_inside: bytes live in our own buffer */
	bool src_inside;
	bool clear; /* "this multiple resource, with no instances" */
};

/* Should the value at k be removed before a replace-Write is applied? */
static bool replaced(const struct sinst *in, const struct lwm2m_path *p, const struct sval *sv, bool replace)
{
	const struct lwm2m_resdef *rd;

	if (!replace)
		return false;
	if (p->len == 2) {
		rd = lwm2m_objdef_find_res(in->def, sv->rid);
		return rd && (rd->ops & LWM2M_OP_W);
	}
	/* A multiple resource written as a whole: its instances are replaced. */
	return p->len == 3 && sv->rid == p->id[LWM2M_RID];
}

int lwm2m_store_write(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_records *in,
		      bool replace)
{
	const struct sinst *inst;
	struct wval *w = NULL;
	uint64_t need_bytes = 0;
	size_t nw = 0;
	int r = 0;

	if (!s || !p || !in || p->len > 4)
		return -EINVAL;
	if (p->len < 2)
		return -EPERM; /* Write addresses an instance or a resource */
	inst = inst_get(s, p->id[0], p->id[1]);
	if (!inst)
		return -ENOENT;
	if (p->len >= 3) {
		const struct lwm2m_resdef *rd = lwm2m_objdef_find_res(inst->def, p->id[LWM2M_RID]);
		if (!rd)
			return -ENOENT;
		if (!(rd->ops & LWM2M_OP_W))
			return -EPERM;
		if (p->len == 4 && !(rd->flags & LWM2M_RES_MULTIPLE))
			return -EINVAL;
	}

	/* Phase 1: check and convert every record; nothing is changed yet. */
	if (in->n) {
		w = calloc(in->n, sizeof(*w));
		if (!w)
			return -ENOMEM;
	}
	for (size_t k = 0; k < in->n; k++) {
		const struct lwm2m_record *rec = &in->v[k];
		const struct lwm2m_path *rp = &rec->path;
		const struct lwm2m_resdef *rd;
		struct wval *x = &w[nw];

		if (rp->len < 3 || rp->len > 4 || !lwm2m_path_is_under(rp, p)) {
			r = -EINVAL;
			goto out;
		}
		rd = lwm2m_objdef_find_res(inst->def, rp->id[LWM2M_RID]);
		if (!rd) {
			r = -ENOENT;
			goto out;
		}
		if (!(rd->ops & LWM2M_OP_W)) {
			r = -EPERM;
			goto out;
		}
		if (rd->flags & LWM2M_RES_MULTIPLE) {
			if (rp->len == 3) {
				/* Only "no instances" can be said of a multiple
				 * resource as a whole (an empty TLV or array). */
				if (rec->value.type != LWM2M_TYPE_NONE) {
					r = -EINVAL;
					goto out;
				}
				x->key = key4(rp->id[0], rp->id[1], rp->id[2], 0);
				x->clear = true;
				nw++;
				continue;
			}
			if (rp->id[LWM2M_RIID] > LWM2M_ID_MAX) {
				r = -EINVAL;
				goto out;
			}
		} else if (rp->len != 3) {
			r = -EINVAL;
			goto out;
		}
		r = convert(rd, &rec->value, &x->v);
		if (r < 0)
			goto out;
		r = check_range(rd, &x->v);
		if (r < 0)
			goto out;
		x->key = key4(rp->id[0], rp->id[1], rp->id[2], rp->len == 4 ? rp->id[3] : NO_RIID);
		if (is_bytes(x->v.type) && x->v.bytes.len) {
			x->src_inside = inside_bytes(s, x->v.bytes.ptr, &x->src_off);
			need_bytes += x->v.bytes.len;
		}
		nw++;
	}

	/* Reserve: after this nothing can fail. Bytes are always appended
	 * during the commit (never rewritten in place), so sources that live
	 * in our own buffer stay intact until they are copied. */
	if (reserve_val(s, (uint64_t)s->nval + nw, false) < 0 || reserve_bytes(s, need_bytes) < 0) {
		r = -ENOMEM;
		goto out;
	}

	/* Phase 2: removals of a replace, and of cleared multiple resources. */
	{
		size_t lo, hi, o;
		val_range(s, &LWM2M_PATH(p->id[0], p->id[1]), &lo, &hi);
		o = lo;
		for (size_t k = lo; k < hi; k++) {
			struct sval *sv = &s->val[k];
			bool drop = replaced(inst, p, sv, replace);
			for (size_t j = 0; !drop && j < nw; j++)
				drop = w[j].clear && sv->rid == (uint16_t)(w[j].key >> 16);
			if (drop)
				drop_bytes(s, sv);
			else
				s->val[o++] = *sv;
		}
		if (hi > o) {
			memmove(&s->val[o], &s->val[hi], (s->nval - hi) * sizeof(*s->val));
			s->nval -= (uint32_t)(hi - o);
		}
	}

	/* Phase 3: upserts, in record order (a later record for the same path
	 * wins). */
	for (size_t j = 0; j < nw; j++) {
		const struct wval *x = &w[j];
		if (x->clear)
			continue;
		size_t i = val_lower(s, x->key);
		bool found = i < s->nval && key_of(&s->val[i]) == x->key;
		if (found) {
			drop_bytes(s, &s->val[i]);
		} else {
			memmove(&s->val[i + 1], &s->val[i], (s->nval - i) * sizeof(*s->val));
			s->nval++;
		}
		struct sval *sv = &s->val[i];
		sv->oid = (uint16_t)(x->key >> 48);
		sv->iid = (uint16_t)(x->key >> 32);
		sv->rid = (uint16_t)(x->key >> 16);
		sv->riid = (uint16_t)x->key;
		value_to_val(&x->v, sv);
		if (is_bytes(x->v.type)) {
			uint32_t len = (uint32_t)x->v.bytes.len;
			sv->v.bytes.off = len ? s->blen : 0;
			sv->v.bytes.len = len;
			if (len) {
				memcpy(s->bytes + s->blen,
				       x->src_inside ? s->bytes + x->src_off : x->v.bytes.ptr, len);
				s->blen += len;
			}
		}
	}
	maybe_compact(s);
	r = 0;
out:
	free(w);
	return r;
}

int lwm2m_store_foreach_instance(const struct lwm2m_store *s, lwm2m_inst_fn cb, void *ctx)
{
	if (!s || !cb)
		return -EINVAL;
	for (uint32_t i = 0; i < s->ninst; i++) {
		int r = cb(ctx, s->inst[i].def, s->inst[i].iid);
		if (r)
			return r;
	}
	return 0;
}

/* glibc's chunk for a request of n bytes: 8 bytes of header, 16-byte
 * granularity, 32 bytes at least. What the heap really gives away. */
static size_t chunk(size_t n)
{
	size_t c = (n + 8 + 15) & ~(size_t)15;
	return c < 32 ? 32 : c;
}

int lwm2m_store_reserve(struct lwm2m_store *s, size_t ninst, size_t nval)
{
	int r;

	if (!s)
		return -EINVAL;
	r = reserve_inst(s, ninst, true);
	return r < 0 ? r : reserve_val(s, nval, true);
}

size_t lwm2m_store_memory(const struct lwm2m_store *s)
{
	size_t m;

	if (!s)
		return 0;
	m = chunk(s->block);
	if (s->capinst && !s->inst_inline)
		m += chunk((size_t)s->capinst * sizeof(*s->inst));
	if (s->capval && !s->val_inline)
		m += chunk((size_t)s->capval * sizeof(*s->val));
	if (s->bcap)
		m += chunk(s->bcap);
	return m;
}
