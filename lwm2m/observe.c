/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The observation engine: when to notify, for thousands of endpoints, with
 * one timer structure.
 *
 * Rules (OMA-TS-LightweightM2M_Core-V1_1_1 §5.1.2, Table 5.1.2-3
 * "<NOTIFICATION> class Attributes"; draft-ietf-core-conditional-attributes,
 * which LwM2M 1.2 §7.3.2 makes normative "unless stated otherwise"):
 *
 *  - pmin: "the minimum time in seconds the LwM2M Client MUST wait between
 *    two notifications"; a notification due earlier "MUST be sent as soon as
 *    pmin expires". A change that meets the conditions is latched (pending)
 *    and sent at last-notification + pmin with the values current then.
 *  - pmax: when it "expires after the last notification, a new notification
 *    MUST be sent", changed or not. 0 means no pmax ("The value of 0, means
 *    pmax MUST be ignored"). TS 1.1.1: pmax "MUST be greater than the minimum
 *    period parameter otherwise pmax will be ignored"; we ignore it only when
 *    it is smaller: pmax == pmin (notify exactly every N s) is what TS 1.0.2
 *    allowed, what the conditional-attributes draft allows, what
 *    lwm2m_attrs_validate() accepts, and what servers use (OMA
 *    LwM2M_for_Developers issue #495).
 *  - Absent pmin/pmax come from the Server object's Default Minimum/Maximum
 *    Period (/1/x/2, /1/x/3).
 *  - gt / lt: notify when the value "crosses" the threshold, relative to the
 *    last reported value (draft §"Greater Than"): (v > gt) != (last > gt),
 *    both directions, so staying above does not notify again. st: when
 *    |v - last notified| >= st. gt, lt and st apply to numeric (Integer,
 *    Unsigned Integer, Float) single values; when several are present
 *    meeting any one is enough. Without them any change of value notifies.
 *  - epmin: "the minimum time in seconds the LwM2M Client MUST wait between
 *    two evaluations of reporting criteria" (an OMA answer: the allowed
 *    frequency of low-level reads). A value arriving earlier is not evaluated;
 *    it is evaluated (read back through cfg.read) when epmin has run out, so
 *    a last change is postponed, never lost.
 *  - epmax: the maximum time between two evaluations. When it runs out the
 *    engine emits LWM2M_OBS_SAMPLE so the bridge polls the device; the value
 *    that comes back is evaluated at once. epmax <= epmin is ignored (the TS
 *    requires epmax > epmin), as is 0.
 *  - Inheritance: resource instance <- resource <- instance <- object <-
 *    defaults, and only downwards: attributes attached below the observed
 *    path do not apply to it ("Only those reporting criteria assigned to the
 *    observation level will be evaluated", OMA issue #478). An observation of
 *    an object, an instance or a multiple resource notifies on any change
 *    below it; thresholds do not apply there.
 *  - Observe-Composite: one notification carries every path, so the
 *    observation's pmin is the largest of its paths' (never more often than
 *    any path allows), pmax the smallest (never less often than any path
 *    needs); likewise epmin/epmax. Change conditions are evaluated per path
 *    with that path's thresholds.
 *  - CON: RFC 7641 §4.5 wants a confirmable notification at least every 24 h;
 *    a notification is CON when the observation's last CON (or its start)
 *    is cfg.con_period_s old, or always with Default Notification Mode CON.
 *
 * Data layout: endpoints live in an array of slots found through an
 * open-addressing hash of their id; each endpoint owns an array of its
 * observations (48 bytes each for one path) and its attribute store. One
 * binary min-heap of deadlines holds at most one entry per observation, and
 * only for observations that have something timed (pending, pmax, epmin
 * postponement, epmax): an idle engine has an empty heap. Attributes are not
 * cached per observation; they are looked up (a binary search in an array
 * that is usually empty) when an observation is evaluated or rescheduled.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/observe.h"

#define THRESHOLDS  (LWM2M_ATTR_GT | LWM2M_ATTR_LT | LWM2M_ATTR_ST)
#define ALL_ATTRS   (LWM2M_ATTR_PMIN | LWM2M_ATTR_PMAX | THRESHOLDS | LWM2M_ATTR_EPMIN | LWM2M_ATTR_EPMAX)
#define NONE        UINT32_MAX
#define CON_DEFAULT 86400u
#define MAX_TARGETS 65535u
#define TIME_BITS   44

/* ---- attribute store ------------------------------------------------------- */

struct lwm2m_attr_entry {
	struct lwm2m_path path;
	struct lwm2m_attrs a;
};

static bool path_valid(const struct lwm2m_path *p)
{
	if (p->len > 4)
		return false;
	for (unsigned i = 0; i < p->len; i++)
		if (p->id[i] > LWM2M_ID_MAX)
			return false;
	return true;
}

static bool path_eq(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
	return a->len == b->len && memcmp(a->id, b->id, a->len * sizeof(a->id[0])) == 0;
}

/* First entry not before p; *found when it is p. */
static uint32_t store_lower(const struct lwm2m_attr_store *s, const struct lwm2m_path *p, bool *found)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (lwm2m_path_cmp(&s->v[mid].path, p) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->n && path_eq(&s->v[lo].path, p);
	return lo;
}

int lwm2m_attr_store_write(struct lwm2m_attr_store *s, const struct lwm2m_path *p,
			   const struct lwm2m_attrs *req)
{
	struct lwm2m_attrs cur = { 0 };
	bool found;
	uint32_t i;
	int r;

	if (!s || !p || !req || p->len == 0 || !path_valid(p))
		return -EINVAL;
	if (((req->set | req->unset) & ~(uint32_t)ALL_ATTRS) != 0)
		return -EINVAL;
	/* TS 1.1.1 Table 5.1.2-3: gt, lt, st attach to Resource and Resource
	 * Instance only; a server asking more gets a 4.00. */
	if (p->len < 3 && (req->set & THRESHOLDS))
		return -EINVAL;

	i = store_lower(s, p, &found);
	if (found)
		cur = s->v[i].a;
	lwm2m_attrs_apply(&cur, req);
	r = lwm2m_attrs_validate(&cur);
	if (r < 0)
		return r;

	if (cur.set == 0) {
		if (found) {
			memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
			s->n--;
			if (s->n == 0)
				lwm2m_attr_store_clear(s);
		}
		return 0;
	}
	if (found) {
		s->v[i].a = cur;
		return 0;
	}
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 2;
		struct lwm2m_attr_entry *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(s->v[0]));
	s->v[i] = (struct lwm2m_attr_entry){ .path = *p, .a = cur };
	s->n++;
	return 0;
}

int lwm2m_attr_store_get(const struct lwm2m_attr_store *s, const struct lwm2m_path *p,
			 struct lwm2m_attrs *out)
{
	bool found;
	uint32_t i;

	if (!s || !p || !out)
		return -EINVAL;
	i = store_lower(s, p, &found);
	if (!found)
		return -ENOENT;
	*out = s->v[i].a;
	return 0;
}

static void overlay(struct lwm2m_attrs *out, const struct lwm2m_attrs *a)
{
	uint32_t set = a->set;

	if (set & LWM2M_ATTR_PMIN)
		out->pmin = a->pmin;
	if (set & LWM2M_ATTR_PMAX)
		out->pmax = a->pmax;
	if (set & LWM2M_ATTR_EPMIN)
		out->epmin = a->epmin;
	if (set & LWM2M_ATTR_EPMAX)
		out->epmax = a->epmax;
	if (set & LWM2M_ATTR_GT)
		out->gt = a->gt;
	if (set & LWM2M_ATTR_LT)
		out->lt = a->lt;
	if (set & LWM2M_ATTR_ST)
		out->st = a->st;
	out->set |= set;
}

void lwm2m_attr_store_effective(const struct lwm2m_attr_store *s, const struct lwm2m_path *p,
				const struct lwm2m_attrs *defaults, struct lwm2m_attrs *out)
{
	*out = defaults ? *defaults : (struct lwm2m_attrs){ 0 };
	out->unset = 0;
	if (!s || s->n == 0 || !p)
		return;
	/* Ancestors sort before their descendants, so one pass from the first
	 * entry at or after /oid visits the levels in order. */
	struct lwm2m_path q = { .len = 0 };
	for (unsigned l = 1; l <= p->len && l <= 4; l++) {
		bool found;
		uint32_t i;

		q.id[l - 1] = p->id[l - 1];
		q.len = (uint8_t)l;
		i = store_lower(s, &q, &found);
		if (found)
			overlay(out, &s->v[i].a);
		else if (i == s->n || !lwm2m_path_is_under(&s->v[i].path, &q))
			break; /* nothing at or below this level */
	}
}

int lwm2m_attr_store_foreach(const struct lwm2m_attr_store *s, const struct lwm2m_path *under,
			     lwm2m_attr_fn cb, void *ctx)
{
	static const struct lwm2m_path root = { .len = 0 };
	bool found;

	if (!s || !cb)
		return -EINVAL;
	if (!under)
		under = &root;
	for (uint32_t i = store_lower(s, under, &found); i < s->n; i++) {
		if (!lwm2m_path_is_under(&s->v[i].path, under))
			break;
		int r = cb(ctx, &s->v[i].path, &s->v[i].a);
		if (r != 0)
			return r;
	}
	return 0;
}

size_t lwm2m_attr_store_remove(struct lwm2m_attr_store *s, const struct lwm2m_path *p)
{
	bool found;
	uint32_t i, j;

	if (!s || !p)
		return 0;
	i = store_lower(s, p, &found);
	for (j = i; j < s->n && lwm2m_path_is_under(&s->v[j].path, p); j++)
		;
	if (j == i)
		return 0;
	memmove(&s->v[i], &s->v[j], (s->n - j) * sizeof(s->v[0]));
	s->n -= j - i;
	if (s->n == 0)
		lwm2m_attr_store_clear(s);
	return j - i;
}

void lwm2m_attr_store_clear(struct lwm2m_attr_store *s)
{
	if (!s)
		return;
	free(s->v);
	*s = (struct lwm2m_attr_store){ 0 };
}

size_t lwm2m_attr_store_memory(const struct lwm2m_attr_store *s)
{
	return s ? s->cap * sizeof(struct lwm2m_attr_entry) : 0;
}

/* ---- engine data ------------------------------------------------------------- */

/* Paths and reference values of a composite observation, one allocation. */
struct obs_ext {
	uint32_t n;
	uint64_t *base;           /* last notified value (bits or hash) */
	uint8_t *meta;            /* META_HAS | lwm2m type */
	struct lwm2m_path *paths; /* contiguous, handed out in events */
};

#define META_HAS 0x80u

/* One observation. A single path is stored inline; a composite keeps its
 * paths in an obs_ext. Times are milliseconds (44 bits: far beyond
 * LWM2M_OBS_TIME_MAX) except t_con, seconds. */
struct obs {
	uint64_t handle;
	union {
		struct {
			uint64_t base; /* last notified value: bits, or hash of bytes */
			uint16_t id[4];
		} one;
		struct obs_ext *ext;
	} u;
	uint64_t t_notify : TIME_BITS; /* last notification (or the Observe response) */
	uint64_t len : 3;              /* one: path length */
	uint64_t btype : 4;            /* one: lwm2m type of base */
	uint64_t has_base : 1;         /* one */
	uint64_t composite : 1;
	uint64_t pending : 1;            /* change conditions met, waiting for pmin */
	uint64_t eval_deferred : 1;      /* a value arrived inside epmin, evaluate later */
	uint64_t deferred_container : 1; /* ... and it was a change below a container */
	uint64_t sample_req : 1;         /* SAMPLE emitted, next value evaluated at once */
	uint64_t t_eval : TIME_BITS;     /* last evaluation */
	uint32_t heap;                   /* position in the heap, NONE if not there */
	uint32_t t_con;                  /* last CON (or the start), seconds */
};

_Static_assert(sizeof(struct obs) <= 48, "struct obs grew beyond the 48-byte budget");

struct ep {
	uint32_t id; /* when free: index of the next free slot */
	bool used;
	bool con_always;
	uint32_t dpmin, dpmax;
	struct lwm2m_attr_store attrs;
	struct obs *obs;
	uint32_t nobs, cap;
};

/* ref: 0 empty, LIGHT, else the endpoint's slot + 1 */
struct map_ent {
	uint32_t id, ref;
};
#define LIGHT UINT32_MAX

struct heap_ent {
	uint64_t due;
	uint32_t ep, idx;
};

struct lwm2m_obs_engine {
	lwm2m_obs_read_fn read;
	void *read_ctx;
	uint32_t con_period_s;
	uint32_t limit; /* observations per endpoint, 0: none */

	struct ep *eps;
	uint32_t neps, eps_cap, free_head;

	/* Every endpoint by id, capacity a power of two. An endpoint without
	 * observations, attributes or defaults is LIGHT: it has no slot (48
	 * bytes) until it needs one (ep_make()), and reads as the all-zero
	 * blank below. Most endpoints of a gateway of thousands of devices
	 * are never observed. */
	struct map_ent *map;
	uint32_t map_cap, map_n;
	struct ep blank; /* never written */

	struct heap_ent *heap;
	uint32_t nheap, heap_cap;

	size_t nobs;
	uint64_t last_now;

	/* lwm2m_obs_run() state, so that a callback that cancels the
	 * observation being reported is noticed. */
	bool running, cur_gone;
	uint32_t cur_ep;
	uint64_t cur_handle;
};

/* ---- small helpers --------------------------------------------------------- */

static int take_now(struct lwm2m_obs_engine *e, uint64_t *now)
{
	if (*now > LWM2M_OBS_TIME_MAX)
		return -ERANGE;
	if (*now < e->last_now)
		*now = e->last_now;
	e->last_now = *now;
	return 0;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t sec_ms(uint32_t s)
{
	return (uint64_t)s * 1000u;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(1099511628211);
	}
	/* mix the length so that "" and absent bytes differ from "\0" runs */
	h ^= (uint64_t)n;
	h *= UINT64_C(1099511628211);
	return h;
}

/* Reduce a value to (type, 64 bits): the number itself, or a hash of bytes.
 * False when there is nothing to compare. */
static bool encode_value(const struct lwm2m_value *v, uint8_t *type, uint64_t *bits)
{
	if (!v || v->type == LWM2M_TYPE_NONE || v->type >= LWM2M_TYPE__MAX)
		return false;
	*type = v->type;
	switch (v->type) {
	case LWM2M_TYPE_FLOAT:
		memcpy(bits, &v->f, sizeof(*bits));
		break;
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		*bits = (uint64_t)v->i;
		break;
	case LWM2M_TYPE_UNSIGNED:
		*bits = v->u;
		break;
	case LWM2M_TYPE_BOOLEAN:
		*bits = v->b ? 1 : 0;
		break;
	case LWM2M_TYPE_OBJLNK:
		*bits = ((uint64_t)v->lnk.oid << 16) | v->lnk.iid;
		break;
	default: /* STRING, OPAQUE, CORELNK */
		if (!v->bytes.ptr && v->bytes.len > 0)
			return false;
		*bits = fnv1a(v->bytes.ptr, v->bytes.len);
		break;
	}
	return true;
}

static bool is_numeric(uint8_t type)
{
	return type == LWM2M_TYPE_FLOAT || type == LWM2M_TYPE_INTEGER || type == LWM2M_TYPE_UNSIGNED;
}

static double to_double(uint8_t type, uint64_t bits)
{
	double d;

	switch (type) {
	case LWM2M_TYPE_FLOAT:
		memcpy(&d, &bits, sizeof(d));
		return d;
	case LWM2M_TYPE_INTEGER:
		return (double)(int64_t)bits;
	default:
		return (double)bits;
	}
}

/* A reference value (the last notified one) or a new one. */
struct val {
	bool has;
	uint8_t type;
	uint64_t bits;
};

/* The change conditions of one single-valued path: did `now` move far
 * enough from `ref` (the last notified value) to be worth a notification? */
static bool change_met(const struct lwm2m_attrs *a, const struct val *ref, const struct val *v)
{
	if (!v->has)
		return ref->has; /* the value went away */
	if (!ref->has)
		return true;
	if ((a->set & THRESHOLDS) && is_numeric(v->type) && is_numeric(ref->type)) {
		double x = to_double(v->type, v->bits), b = to_double(ref->type, ref->bits);

		if ((a->set & LWM2M_ATTR_GT) && ((x > a->gt) != (b > a->gt)))
			return true;
		if ((a->set & LWM2M_ATTR_LT) && ((x < a->lt) != (b < a->lt)))
			return true;
		if ((a->set & LWM2M_ATTR_ST) && (v->type != ref->type || v->bits != ref->bits) &&
		    fabs(x - b) >= a->st)
			return true;
		return false;
	}
	return v->type != ref->type || v->bits != ref->bits;
}

/* ---- observation targets ---------------------------------------------------- */

static uint32_t obs_n(const struct obs *o)
{
	return o->composite ? o->u.ext->n : 1;
}

static void obs_path(const struct obs *o, uint32_t k, struct lwm2m_path *p)
{
	if (o->composite) {
		*p = o->u.ext->paths[k];
		return;
	}
	memcpy(p->id, o->u.one.id, sizeof(p->id));
	p->len = (uint8_t)o->len;
}

static void obs_base(const struct obs *o, uint32_t k, struct val *out)
{
	if (o->composite) {
		uint8_t m = o->u.ext->meta[k];
		out->has = (m & META_HAS) != 0;
		out->type = m & 0x0f;
		out->bits = o->u.ext->base[k];
		return;
	}
	out->has = o->has_base;
	out->type = (uint8_t)o->btype;
	out->bits = o->u.one.base;
}

static void obs_set_base(struct obs *o, uint32_t k, const struct val *v)
{
	if (o->composite) {
		o->u.ext->meta[k] = (uint8_t)((v->has ? META_HAS : 0) | (v->type & 0x0f));
		o->u.ext->base[k] = v->has ? v->bits : 0;
		return;
	}
	o->has_base = v->has;
	o->btype = v->has ? v->type : 0;
	o->u.one.base = v->has ? v->bits : 0;
}

static void read_value(struct lwm2m_obs_engine *e, uint32_t epid, const struct lwm2m_path *p, struct val *out)
{
	struct lwm2m_value v = { .type = LWM2M_TYPE_NONE };

	out->has = false;
	out->type = 0;
	out->bits = 0;
	/* Only resources and resource instances have a value. */
	if (p->len < 3)
		return;
	if (e->read(e->read_ctx, epid, p, &v) < 0)
		return;
	out->has = encode_value(&v, &out->type, &out->bits);
}

/* The values a notification carries become the new references. */
static void refresh_bases(struct lwm2m_obs_engine *e, uint32_t epid, struct obs *o)
{
	uint32_t n = obs_n(o);

	for (uint32_t k = 0; k < n; k++) {
		struct lwm2m_path p;
		struct val v;

		obs_path(o, k, &p);
		read_value(e, epid, &p, &v);
		obs_set_base(o, k, &v);
	}
}

/* ---- attributes in force ------------------------------------------------------ */

static void ep_effective(const struct ep *ep, const struct lwm2m_path *p, struct lwm2m_attrs *out)
{
	struct lwm2m_attrs d = { 0 };

	if (ep->dpmin) {
		d.set |= LWM2M_ATTR_PMIN;
		d.pmin = ep->dpmin;
	}
	if (ep->dpmax) {
		d.set |= LWM2M_ATTR_PMAX;
		d.pmax = ep->dpmax;
	}
	lwm2m_attr_store_effective(&ep->attrs, p, &d, out);
}

/* Timing of one observation, in seconds; 0 = none. */
struct timing {
	uint32_t pmin, pmax, epmin, epmax;
};

static void obs_timing(const struct ep *ep, const struct obs *o, struct timing *t)
{
	uint32_t n = obs_n(o);

	*t = (struct timing){ 0 };
	for (uint32_t k = 0; k < n; k++) {
		struct lwm2m_path p;
		struct lwm2m_attrs a;
		uint32_t pmin, pmax, epmin, epmax;

		obs_path(o, k, &p);
		ep_effective(ep, &p, &a);
		pmin = (a.set & LWM2M_ATTR_PMIN) ? a.pmin : 0;
		pmax = (a.set & LWM2M_ATTR_PMAX) ? a.pmax : 0;
		epmin = (a.set & LWM2M_ATTR_EPMIN) ? a.epmin : 0;
		epmax = (a.set & LWM2M_ATTR_EPMAX) ? a.epmax : 0;
		/* Inconsistent timing, e.g. pmax inherited from the object
		 * and pmin attached to the resource: pmax is ignored (TS
		 * 1.1.1 Table 5.1.2-3); the same for epmax <= epmin. */
		if (pmax < pmin)
			pmax = 0;
		if (epmax <= epmin)
			epmax = 0;
		if (pmin > t->pmin)
			t->pmin = pmin;
		if (pmax && (!t->pmax || pmax < t->pmax))
			t->pmax = pmax;
		if (epmin > t->epmin)
			t->epmin = epmin;
		if (epmax && (!t->epmax || epmax < t->epmax))
			t->epmax = epmax;
	}
	/* Composite: the largest pmin can exceed another path's pmax. */
	if (t->pmax < t->pmin)
		t->pmax = 0;
	if (t->epmax <= t->epmin)
		t->epmax = 0;
}

static uint64_t obs_due(const struct obs *o, const struct timing *t)
{
	uint64_t d = LWM2M_OBS_NEVER;

	if (o->pending)
		d = min64(d, o->t_notify + sec_ms(t->pmin));
	if (t->pmax)
		d = min64(d, o->t_notify + sec_ms(t->pmax));
	if (o->eval_deferred)
		d = min64(d, o->t_eval + sec_ms(t->epmin));
	if (t->epmax)
		d = min64(d, o->t_eval + sec_ms(t->epmax));
	return d;
}

/* ---- endpoints: slots and the id hash ------------------------------------------ */

static uint32_t hash_id(uint32_t id, uint32_t cap)
{
	return (uint32_t)(id * UINT32_C(2654435761)) & (cap - 1);
}

/* The map entry of id, or NONE. */
static uint32_t map_find(const struct lwm2m_obs_engine *e, uint32_t id)
{
	if (e->map_cap == 0)
		return NONE;
	for (uint32_t h = hash_id(id, e->map_cap);; h = (h + 1) & (e->map_cap - 1)) {
		if (e->map[h].ref == 0)
			return NONE;
		if (e->map[h].id == id)
			return h;
	}
}

static void map_put(struct lwm2m_obs_engine *e, struct map_ent m)
{
	uint32_t h = hash_id(m.id, e->map_cap);

	while (e->map[h].ref != 0)
		h = (h + 1) & (e->map_cap - 1);
	e->map[h] = m;
	e->map_n++;
}

static int map_reserve(struct lwm2m_obs_engine *e)
{
	struct map_ent *old = e->map;
	uint32_t cap, old_cap = e->map_cap;

	/* load factor <= 1/2 keeps probes short */
	if ((e->map_n + 1) * 2 <= e->map_cap)
		return 0;
	if (e->map_cap > UINT32_MAX / 4)
		return -ENOMEM;
	cap = e->map_cap ? e->map_cap * 2 : 16;
	e->map = calloc(cap, sizeof(*e->map));
	if (!e->map) {
		e->map = old;
		return -ENOMEM;
	}
	e->map_cap = cap;
	e->map_n = 0;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i].ref)
			map_put(e, old[i]);
	free(old);
	return 0;
}

/* Linear probing deletion by backward shift: no tombstones to age. */
static void map_del(struct lwm2m_obs_engine *e, uint32_t i)
{
	uint32_t mask = e->map_cap - 1;

	e->map[i].ref = 0;
	e->map_n--;
	for (uint32_t j = (i + 1) & mask; e->map[j].ref != 0; j = (j + 1) & mask) {
		uint32_t home = hash_id(e->map[j].id, e->map_cap);
		/* move j into the hole i unless its home lies cyclically in (i, j] */
		bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
		if (!stays) {
			e->map[i] = e->map[j];
			e->map[j].ref = 0;
			i = j;
		}
	}
}

/* ---- the heap of deadlines ------------------------------------------------------ */

static struct obs *ent_obs(struct lwm2m_obs_engine *e, const struct heap_ent *h)
{
	return &e->eps[h->ep].obs[h->idx];
}

static void heap_place(struct lwm2m_obs_engine *e, uint32_t pos, struct heap_ent h)
{
	e->heap[pos] = h;
	ent_obs(e, &h)->heap = pos;
}

static void sift_up(struct lwm2m_obs_engine *e, uint32_t pos)
{
	struct heap_ent h = e->heap[pos];

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;
		if (e->heap[parent].due <= h.due)
			break;
		heap_place(e, pos, e->heap[parent]);
		pos = parent;
	}
	heap_place(e, pos, h);
}

static void sift_down(struct lwm2m_obs_engine *e, uint32_t pos)
{
	struct heap_ent h = e->heap[pos];

	for (;;) {
		uint32_t c = 2 * pos + 1;
		if (c >= e->nheap)
			break;
		if (c + 1 < e->nheap && e->heap[c + 1].due < e->heap[c].due)
			c++;
		if (h.due <= e->heap[c].due)
			break;
		heap_place(e, pos, e->heap[c]);
		pos = c;
	}
	heap_place(e, pos, h);
}

static void heap_remove(struct lwm2m_obs_engine *e, uint32_t pos)
{
	struct heap_ent last = e->heap[--e->nheap];

	ent_obs(e, &e->heap[pos])->heap = NONE;
	if (pos == e->nheap)
		return;
	heap_place(e, pos, last);
	if (pos > 0 && e->heap[(pos - 1) / 2].due > last.due)
		sift_up(e, pos);
	else
		sift_down(e, pos);
}

/* Room for `more` insertions, so that scheduling never fails half-way
 * through an operation: every operation reserves before it changes state. */
static int heap_reserve(struct lwm2m_obs_engine *e, uint32_t more)
{
	uint64_t need = (uint64_t)e->nheap + more;

	if (need <= e->heap_cap)
		return 0;
	if (need > UINT32_MAX / 2)
		return -ENOMEM;
	uint32_t cap = e->heap_cap ? e->heap_cap : 16;
	while (cap < need)
		cap *= 2;
	struct heap_ent *h = realloc(e->heap, (size_t)cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	e->heap = h;
	e->heap_cap = cap;
	return 0;
}

/* Put observation (slot, idx) at deadline due (NEVER: out of the heap).
 * Capacity was reserved by the caller. */
static void heap_set(struct lwm2m_obs_engine *e, uint32_t slot, uint32_t idx, uint64_t due)
{
	struct obs *o = &e->eps[slot].obs[idx];

	if (due == LWM2M_OBS_NEVER) {
		if (o->heap != NONE)
			heap_remove(e, o->heap);
		return;
	}
	if (o->heap == NONE) {
		uint32_t pos = e->nheap++;
		heap_place(e, pos, (struct heap_ent){ .due = due, .ep = slot, .idx = idx });
		sift_up(e, pos);
		return;
	}
	uint32_t pos = o->heap;
	uint64_t old = e->heap[pos].due;
	e->heap[pos].due = due;
	if (due < old)
		sift_up(e, pos);
	else if (due > old)
		sift_down(e, pos);
}

static uint64_t reschedule(struct lwm2m_obs_engine *e, uint32_t slot, uint32_t idx, const struct timing *t)
{
	uint64_t due = obs_due(&e->eps[slot].obs[idx], t);

	heap_set(e, slot, idx, due);
	return due;
}

static void reschedule_all(struct lwm2m_obs_engine *e, uint32_t slot)
{
	struct ep *ep = &e->eps[slot];

	for (uint32_t i = 0; i < ep->nobs; i++) {
		struct timing t;
		obs_timing(ep, &ep->obs[i], &t);
		reschedule(e, slot, i, &t);
	}
}

/* ---- engine life ------------------------------------------------------------------ */

struct lwm2m_obs_engine *lwm2m_obs_engine_new(const struct lwm2m_obs_config *cfg)
{
	struct lwm2m_obs_engine *e;

	if (!cfg || !cfg->read)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->read = cfg->read;
	e->read_ctx = cfg->read_ctx;
	e->con_period_s = cfg->con_period_s ? cfg->con_period_s : CON_DEFAULT;
	e->limit = cfg->max_per_endpoint;
	e->free_head = NONE;
	return e;
}

static void obs_free_parts(struct obs *o)
{
	if (o->composite)
		free(o->u.ext);
}

struct lwm2m_obs_engine *lwm2m_obs_engine_free(struct lwm2m_obs_engine *e)
{
	if (!e)
		return NULL;
	for (uint32_t s = 0; s < e->neps; s++) {
		struct ep *ep = &e->eps[s];
		if (!ep->used)
			continue;
		for (uint32_t i = 0; i < ep->nobs; i++)
			obs_free_parts(&ep->obs[i]);
		free(ep->obs);
		lwm2m_attr_store_clear(&ep->attrs);
	}
	free(e->eps);
	free(e->map);
	free(e->heap);
	free(e);
	return NULL;
}

/* The state of endpoint id, NULL when unknown. A light one's is the
 * blank (no observations, attributes or defaults), *slot NONE: what only
 * reads it needs no slot; what writes it calls ep_make() first. */
static struct ep *ep_get(const struct lwm2m_obs_engine *e, uint32_t id, uint32_t *slot)
{
	uint32_t h = e ? map_find(e, id) : NONE;
	uint32_t s;

	if (h == NONE)
		return NULL;
	s = e->map[h].ref == LIGHT ? NONE : e->map[h].ref - 1;
	if (slot)
		*slot = s;
	return s == NONE ? (struct ep *)&e->blank : &e->eps[s];
}

static void ep_set_defaults(struct ep *ep, const struct lwm2m_obs_defaults *d)
{
	ep->dpmin = d ? d->pmin : 0;
	ep->dpmax = d ? d->pmax : 0;
	ep->con_always = d ? d->con : false;
}

/* A slot for endpoint id, with defaults d. */
static int slot_new(struct lwm2m_obs_engine *e, uint32_t id, const struct lwm2m_obs_defaults *d,
		    uint32_t *out)
{
	uint32_t slot;

	if (e->free_head != NONE) {
		slot = e->free_head;
		e->free_head = e->eps[slot].id;
	} else {
		if (e->neps == e->eps_cap) {
			if (e->eps_cap > UINT32_MAX / 4)
				return -ENOMEM;
			uint32_t cap = e->eps_cap ? e->eps_cap * 2 : 16;
			struct ep *v = realloc(e->eps, (size_t)cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			e->eps = v;
			e->eps_cap = cap;
		}
		slot = e->neps++;
	}
	e->eps[slot] = (struct ep){ .id = id, .used = true };
	ep_set_defaults(&e->eps[slot], d);
	*out = slot;
	return 0;
}

/* Give light endpoint id (ep_get() said *slot NONE) its slot: *ep and
 * *slot are then its own. Earlier pointers into e->eps are stale. */
static int ep_make(struct lwm2m_obs_engine *e, uint32_t id, struct ep **ep, uint32_t *slot)
{
	int r;

	if (*slot != NONE)
		return 0;
	r = slot_new(e, id, NULL, slot);
	if (r < 0)
		return r;
	e->map[map_find(e, id)].ref = *slot + 1;
	*ep = &e->eps[*slot];
	return 0;
}

static bool defaults_none(const struct lwm2m_obs_defaults *d)
{
	return !d || (!d->pmin && !d->pmax && !d->con);
}

int lwm2m_obs_endpoint_add(struct lwm2m_obs_engine *e, uint32_t id, const struct lwm2m_obs_defaults *d)
{
	uint32_t slot = NONE;
	int r;

	if (!e)
		return -EINVAL;
	if (map_find(e, id) != NONE)
		return -EEXIST;
	r = map_reserve(e);
	if (r < 0)
		return r;
	if (!defaults_none(d)) {
		r = slot_new(e, id, d, &slot);
		if (r < 0)
			return r;
	}
	map_put(e, (struct map_ent){ .id = id, .ref = slot == NONE ? LIGHT : slot + 1 });
	return 0;
}

/* Remove observation idx of endpoint slot: its heap entry first, then its
 * storage; the last observation moves into its place. */
static void obs_remove(struct lwm2m_obs_engine *e, uint32_t slot, uint32_t idx)
{
	struct ep *ep = &e->eps[slot];
	struct obs *o = &ep->obs[idx];
	uint32_t last = ep->nobs - 1;

	if (o->heap != NONE)
		heap_remove(e, o->heap);
	if (e->running && e->cur_ep == slot && e->cur_handle == o->handle)
		e->cur_gone = true;
	obs_free_parts(o);
	if (idx != last) {
		ep->obs[idx] = ep->obs[last];
		if (ep->obs[idx].heap != NONE)
			e->heap[ep->obs[idx].heap].idx = idx;
	}
	ep->nobs--;
	e->nobs--;
	if (ep->nobs == 0) {
		free(ep->obs);
		ep->obs = NULL;
		ep->cap = 0;
	} else if (ep->cap > 16 && ep->nobs < ep->cap / 4) {
		/* A server that held many observations and cancelled them gets
		 * the memory back, not just a slot to reuse. */
		struct obs *v = realloc(ep->obs, (size_t)(ep->cap / 2) * sizeof(*v));
		if (v) {
			ep->obs = v;
			ep->cap /= 2;
		}
	}
}

int lwm2m_obs_cancel_all(struct lwm2m_obs_engine *e, uint32_t id)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);
	int n;

	if (!ep)
		return -ENOENT;
	n = (int)ep->nobs;
	while (ep->nobs > 0)
		obs_remove(e, slot, ep->nobs - 1);
	return n;
}

int lwm2m_obs_endpoint_remove(struct lwm2m_obs_engine *e, uint32_t id)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);

	if (!ep)
		return -ENOENT;
	if (slot != NONE) {
		lwm2m_obs_cancel_all(e, id);
		if (e->running && e->cur_ep == slot)
			e->cur_gone = true;
		lwm2m_attr_store_clear(&ep->attrs);
		*ep = (struct ep){ .id = e->free_head, .used = false };
		e->free_head = slot;
	}
	map_del(e, map_find(e, id));
	return 0;
}

int lwm2m_obs_set_defaults(struct lwm2m_obs_engine *e, uint32_t id, const struct lwm2m_obs_defaults *d,
			   uint64_t now)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);
	int r;

	if (!ep)
		return -ENOENT;
	r = take_now(e, &now);
	if (r < 0)
		return r;
	r = heap_reserve(e, ep->nobs);
	if (r < 0)
		return r;
	if (slot == NONE && defaults_none(d))
		return 0; /* still light */
	r = ep_make(e, id, &ep, &slot);
	if (r < 0)
		return r;
	ep_set_defaults(ep, d);
	reschedule_all(e, slot);
	return 0;
}

/* ---- attributes through the engine ------------------------------------------------ */

int lwm2m_obs_write_attrs(struct lwm2m_obs_engine *e, uint32_t id, const struct lwm2m_path *p,
			  const struct lwm2m_attrs *req, uint64_t now)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);
	int r;

	if (!ep)
		return -ENOENT;
	r = take_now(e, &now);
	if (r < 0)
		return r;
	r = heap_reserve(e, ep->nobs);
	if (r < 0)
		return r;
	r = ep_make(e, id, &ep, &slot);
	if (r < 0)
		return r;
	r = lwm2m_attr_store_write(&ep->attrs, p, req);
	if (r < 0)
		return r;
	/* Only observations at or below p can be affected, but an endpoint
	 * has a handful: rescheduling them all is simpler and as cheap. */
	reschedule_all(e, slot);
	return 0;
}

int lwm2m_obs_remove_attrs(struct lwm2m_obs_engine *e, uint32_t id, const struct lwm2m_path *p, uint64_t now)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);
	int r;

	if (!ep)
		return -ENOENT;
	if (!p || !path_valid(p))
		return -EINVAL;
	r = take_now(e, &now);
	if (r < 0)
		return r;
	r = heap_reserve(e, ep->nobs);
	if (r < 0)
		return r;
	if (lwm2m_attr_store_remove(&ep->attrs, p) > 0)
		reschedule_all(e, slot);
	return 0;
}

const struct lwm2m_attr_store *lwm2m_obs_attrs(const struct lwm2m_obs_engine *e, uint32_t id)
{
	struct ep *ep = ep_get(e, id, NULL);

	return ep ? &ep->attrs : NULL;
}

int lwm2m_obs_effective(const struct lwm2m_obs_engine *e, uint32_t id, const struct lwm2m_path *p,
			struct lwm2m_attrs *out)
{
	struct ep *ep = ep_get(e, id, NULL);

	if (!ep)
		return -ENOENT;
	if (!p || !out || !path_valid(p))
		return -EINVAL;
	ep_effective(ep, p, out);
	return 0;
}

/* ---- observations ------------------------------------------------------------------- */

int lwm2m_obs_add(struct lwm2m_obs_engine *e, uint32_t id, uint64_t handle, const struct lwm2m_path *paths,
		  size_t n, uint64_t now)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);
	struct obs_ext *ext = NULL;
	struct obs *o;
	struct timing t;
	int r;

	if (!ep)
		return -ENOENT;
	if (!paths || n == 0 || n > MAX_TARGETS)
		return -EINVAL;
	for (size_t k = 0; k < n; k++)
		if (!path_valid(&paths[k]))
			return -EINVAL;
	r = take_now(e, &now);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < ep->nobs; i++)
		if (ep->obs[i].handle == handle)
			return -EEXIST;
	if (e->limit && ep->nobs >= e->limit)
		return -ENOSPC;

	r = heap_reserve(e, 1);
	if (r < 0)
		return r;
	r = ep_make(e, id, &ep, &slot);
	if (r < 0)
		return r;
	if (ep->nobs == ep->cap) {
		/* endpoints hold ~10 observations: grow one by one while
		 * small (realloc of a few hundred bytes), by a quarter after */
		uint32_t cap = ep->cap < 16 ? ep->cap + 1 : ep->cap + ep->cap / 4;
		struct obs *v = realloc(ep->obs, (size_t)cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ep->obs = v;
		ep->cap = cap;
	}
	if (n > 1) {
		/* header, then base[n] (8-aligned), paths[n], meta[n] */
		size_t sz = sizeof(*ext) + n * sizeof(uint64_t) + n * sizeof(struct lwm2m_path) + n;
		ext = calloc(1, sz);
		if (!ext)
			return -ENOMEM;
		ext->n = (uint32_t)n;
		ext->base = (uint64_t *)(ext + 1);
		ext->paths = (struct lwm2m_path *)(ext->base + n);
		ext->meta = (uint8_t *)(ext->paths + n);
		memcpy(ext->paths, paths, n * sizeof(*paths));
	}

	o = &ep->obs[ep->nobs];
	memset(o, 0, sizeof(*o));
	o->handle = handle;
	o->heap = NONE;
	o->t_notify = now;
	o->t_eval = now; /* the Observe response read and evaluated the value */
	o->t_con = (uint32_t)(now / 1000);
	if (ext) {
		o->composite = 1;
		o->u.ext = ext;
	} else {
		memcpy(o->u.one.id, paths[0].id, sizeof(o->u.one.id));
		o->len = paths[0].len;
	}
	ep->nobs++;
	e->nobs++;
	refresh_bases(e, id, o);
	obs_timing(ep, o, &t);
	reschedule(e, slot, ep->nobs - 1, &t);
	return 0;
}

int lwm2m_obs_cancel(struct lwm2m_obs_engine *e, uint32_t id, uint64_t handle)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);

	if (!ep)
		return -ENOENT;
	for (uint32_t i = 0; i < ep->nobs; i++) {
		if (ep->obs[i].handle == handle) {
			obs_remove(e, slot, i);
			return 0;
		}
	}
	return -ENOENT;
}

enum rel {
	REL_NONE,
	REL_EQUAL,     /* the observed single value itself */
	REL_CONTAINED, /* a value below an observed object/instance/multiple resource */
	REL_ABOVE,     /* a whole resource changed under an observed resource instance */
};

static enum rel relation(const struct lwm2m_path *changed, const struct lwm2m_path *observed)
{
	if (path_eq(changed, observed))
		return REL_EQUAL;
	if (lwm2m_path_is_under(changed, observed))
		return REL_CONTAINED;
	if (lwm2m_path_is_under(observed, changed))
		return REL_ABOVE;
	return REL_NONE;
}

/* Evaluate one single-valued path against its reference, reading the
 * current value through cfg.read unless it is given. */
static bool eval_target(struct lwm2m_obs_engine *e, const struct ep *ep, const struct obs *o, uint32_t k,
			const struct val *given)
{
	struct lwm2m_path p;
	struct lwm2m_attrs a;
	struct val ref, cur;

	obs_path(o, k, &p);
	obs_base(o, k, &ref);
	if (given)
		cur = *given;
	else
		read_value(e, ep->id, &p, &cur);
	if (cur.has && ref.has && is_numeric(cur.type) && is_numeric(ref.type))
		ep_effective(ep, &p, &a);
	else
		a = (struct lwm2m_attrs){ 0 }; /* thresholds cannot apply */
	return change_met(&a, &ref, &cur);
}

int lwm2m_obs_value_changed(struct lwm2m_obs_engine *e, uint32_t id, const struct lwm2m_path *p,
			    const struct lwm2m_value *v, uint64_t now)
{
	uint32_t slot;
	struct ep *ep = ep_get(e, id, &slot);
	struct val nv = { 0 };
	int due = 0, r;

	if (!ep)
		return -ENOENT;
	if (!p || p->len < 3 || !path_valid(p))
		return -EINVAL;
	r = take_now(e, &now);
	if (r < 0)
		return r;
	r = heap_reserve(e, ep->nobs);
	if (r < 0)
		return r;
	nv.has = encode_value(v, &nv.type, &nv.bits);

	for (uint32_t i = 0; i < ep->nobs; i++) {
		struct obs *o = &ep->obs[i];
		uint32_t n = obs_n(o);
		bool related = false, container = false, cm = false;
		struct timing t;

		for (uint32_t k = 0; k < n; k++) {
			struct lwm2m_path q;
			obs_path(o, k, &q);
			enum rel rl = relation(p, &q);
			related |= rl != REL_NONE;
			container |= rl == REL_CONTAINED;
		}
		if (!related)
			continue;
		obs_timing(ep, o, &t);

		/* epmin: not evaluated now; looked at again when it runs out.
		 * A value that answers a SAMPLE request is that evaluation. */
		if (t.epmin && !o->sample_req && now < o->t_eval + sec_ms(t.epmin)) {
			o->eval_deferred = 1;
			if (container)
				o->deferred_container = 1;
			reschedule(e, slot, i, &t);
			continue;
		}

		for (uint32_t k = 0; k < n && !cm; k++) {
			struct lwm2m_path q;
			obs_path(o, k, &q);
			switch (relation(p, &q)) {
			case REL_EQUAL:
				cm = eval_target(e, ep, o, k, &nv);
				break;
			case REL_CONTAINED:
				cm = true;
				break;
			case REL_ABOVE:
				cm = eval_target(e, ep, o, k, NULL);
				break;
			default:
				break;
			}
		}
		o->t_eval = now;
		o->sample_req = 0;
		if (cm) {
			/* latched until pmin allows; the notification will
			 * carry every current value, postponed ones included */
			o->pending = 1;
			o->eval_deferred = 0;
			o->deferred_container = 0;
		} else if (n == 1) {
			/* the postponed value of this one path is superseded */
			o->eval_deferred = 0;
			o->deferred_container = 0;
		}
		if (reschedule(e, slot, i, &t) <= now)
			due++;
	}
	return due;
}

uint64_t lwm2m_obs_next_deadline(const struct lwm2m_obs_engine *e)
{
	return e && e->nheap ? e->heap[0].due : LWM2M_OBS_NEVER;
}

/* One due observation: update its state, reschedule it, and describe the
 * events in ev[] (the callbacks run afterwards). Returns the event count. */
static int process_due(struct lwm2m_obs_engine *e, uint32_t slot, uint32_t idx, uint64_t now,
		       struct lwm2m_obs_event ev[2])
{
	struct ep *ep = &e->eps[slot];
	struct obs *o = &ep->obs[idx];
	struct timing t;
	uint8_t why = 0;
	bool sample = false;
	int nev = 0;

	obs_timing(ep, o, &t);

	if (o->eval_deferred && now >= o->t_eval + sec_ms(t.epmin)) {
		uint32_t n = obs_n(o);
		bool cm = o->deferred_container;
		for (uint32_t k = 0; k < n && !cm; k++)
			cm = eval_target(e, ep, o, k, NULL);
		o->t_eval = now;
		o->eval_deferred = 0;
		o->deferred_container = 0;
		o->sample_req = 0;
		if (cm)
			o->pending = 1;
	}

	if (o->pending && now >= o->t_notify + sec_ms(t.pmin))
		why |= LWM2M_OBS_WHY_CHANGE;
	if (t.pmax && now >= o->t_notify + sec_ms(t.pmax))
		why |= LWM2M_OBS_WHY_PMAX;
	if (t.epmax && now >= o->t_eval + sec_ms(t.epmax)) {
		sample = true;
		o->t_eval = now;
		o->sample_req = 1;
	}

	struct lwm2m_obs_event base = { .ep = ep->id, .handle = o->handle };
	if (o->composite) {
		base.paths = o->u.ext->paths;
		base.npaths = o->u.ext->n;
	} else {
		obs_path(o, 0, &base.path_);
		base.npaths = 1;
	}

	if (why) {
		uint32_t now_s = (uint32_t)(now / 1000);
		bool con = ep->con_always || now_s - o->t_con >= e->con_period_s;

		if (con)
			o->t_con = now_s;
		o->t_notify = now;
		o->pending = 0;
		refresh_bases(e, ep->id, o);
		ev[nev] = base;
		ev[nev].kind = LWM2M_OBS_NOTIFY;
		ev[nev].why = why;
		ev[nev].con = con;
		nev++;
	}
	if (sample) {
		ev[nev] = base;
		ev[nev].kind = LWM2M_OBS_SAMPLE;
		nev++;
	}
	reschedule(e, slot, idx, &t);
	return nev;
}

int lwm2m_obs_run(struct lwm2m_obs_engine *e, uint64_t now, lwm2m_obs_emit_fn emit, void *ctx)
{
	int count = 0, r;

	if (!e)
		return -EINVAL;
	if (e->running)
		return -EBUSY;
	r = take_now(e, &now);
	if (r < 0)
		return r;
	e->running = true;
	/* Every processed observation leaves with a deadline after now (see
	 * process_due), so this terminates; callbacks that add work for now
	 * (a value reported from inside a callback) are served in the same
	 * pass. */
	while (e->nheap > 0 && e->heap[0].due <= now) {
		struct heap_ent h = e->heap[0];
		struct lwm2m_obs_event ev[2];
		int nev;

		e->cur_ep = h.ep;
		e->cur_handle = e->eps[h.ep].obs[h.idx].handle;
		e->cur_gone = false;
		nev = process_due(e, h.ep, h.idx, now, ev);
		for (int i = 0; i < nev && !e->cur_gone; i++) {
			if (!ev[i].paths)
				ev[i].paths = &ev[i].path_;
			count++;
			if (emit)
				emit(ctx, &ev[i]);
		}
	}
	e->running = false;
	return count;
}

void lwm2m_obs_set_limit(struct lwm2m_obs_engine *e, uint32_t limit)
{
	if (e)
		e->limit = limit;
}

int lwm2m_obs_endpoint_count(const struct lwm2m_obs_engine *e, uint32_t id)
{
	const struct ep *ep = ep_get(e, id, NULL);

	if (!ep)
		return -ENOENT;
	return ep->nobs > INT32_MAX ? INT32_MAX : (int)ep->nobs;
}

size_t lwm2m_obs_count(const struct lwm2m_obs_engine *e)
{
	return e ? e->nobs : 0;
}

size_t lwm2m_obs_memory(const struct lwm2m_obs_engine *e)
{
	size_t m;

	if (!e)
		return 0;
	m = sizeof(*e) + (size_t)e->eps_cap * sizeof(struct ep) +
	    (size_t)e->map_cap * sizeof(struct map_ent) + (size_t)e->heap_cap * sizeof(struct heap_ent);
	for (uint32_t s = 0; s < e->neps; s++) {
		const struct ep *ep = &e->eps[s];
		if (!ep->used)
			continue;
		m += (size_t)ep->cap * sizeof(struct obs) + lwm2m_attr_store_memory(&ep->attrs);
		for (uint32_t i = 0; i < ep->nobs; i++)
			if (ep->obs[i].composite)
				m += sizeof(struct obs_ext) +
				     ep->obs[i].u.ext->n * (sizeof(uint64_t) + sizeof(struct lwm2m_path) + 1);
	}
	return m;
}
