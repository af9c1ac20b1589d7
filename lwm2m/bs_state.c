/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bootstrap result as records and as a file (bs_state.h): the checks
 * of a server account and the state file's codec. Pure: bytes <-> records,
 * no libcoap, no I/O, no logging; the client (lwm2m/client/bootstrap.c)
 * reads and writes the file and serves the Bootstrap-Server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwm2m/bs_state.h"
#include "lwm2m/bytes.h"

static const struct lwm2m_path root_path = { .len = 0 };

/* ---- records as the bootstrap view of /0 and /1 --------------------------------- */

const struct lwm2m_value *lwm2m_bs_rec_get(const struct lwm2m_records *r, uint16_t oid, uint16_t iid,
					   uint16_t rid)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct lwm2m_path *p = &r->v[i].path;

		if (p->len == 3 && p->id[0] == oid && p->id[1] == iid && p->id[2] == rid)
			return &r->v[i].value;
	}
	return NULL;
}

bool lwm2m_bs_rec_has_instance(const struct lwm2m_records *r, uint16_t oid, uint16_t iid)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].path.len >= 2 && r->v[i].path.id[0] == oid && r->v[i].path.id[1] == iid)
			return true;
	return false;
}

bool lwm2m_bs_is_bootstrap_account(const struct lwm2m_records *r, uint16_t iid)
{
	const struct lwm2m_value *v = lwm2m_bs_rec_get(r, 0, iid, 1);

	return v && v->type == LWM2M_TYPE_BOOLEAN && v->b;
}

/* Append a copy of rec (its bytes copied into out's arena). */
int lwm2m_bs_rec_copy(struct lwm2m_records *out, const struct lwm2m_record *rec)
{
	struct lwm2m_record *n = lwm2m_records_add(out);

	if (!n)
		return -ENOMEM;
	n->path = rec->path;
	n->value = rec->value;
	switch (rec->value.type) {
	case LWM2M_TYPE_STRING:
	case LWM2M_TYPE_OPAQUE:
	case LWM2M_TYPE_CORELNK:
		if (rec->value.bytes.len) {
			n->value.bytes.ptr =
				lwm2m_records_dup(out, rec->value.bytes.ptr, rec->value.bytes.len);
			if (!n->value.bytes.ptr) {
				out->n--;
				return -ENOMEM;
			}
		}
		break;
	default:
		break;
	}
	return 0;
}

/* dst = the records of src for which drop() is false, plus add (may be
 * NULL); sorted. dst is replaced only on success. */
int lwm2m_bs_rec_rebuild(struct lwm2m_records *dst, const struct lwm2m_records *src,
			 bool (*drop)(const struct lwm2m_record *rec, const void *ctx), const void *ctx,
			 const struct lwm2m_records *add)
{
	struct lwm2m_records n = { 0 };
	int r = 0;

	for (size_t i = 0; i < src->n && r >= 0; i++)
		if (!drop || !drop(&src->v[i], ctx))
			r = lwm2m_bs_rec_copy(&n, &src->v[i]);
	for (size_t i = 0; add && i < add->n && r >= 0; i++)
		if (add->v[i].value.type != LWM2M_TYPE_NONE)
			r = lwm2m_bs_rec_copy(&n, &add->v[i]);
	if (r < 0) {
		lwm2m_records_clear(&n);
		return r;
	}
	lwm2m_records_sort(&n);
	lwm2m_records_clear(dst);
	*dst = n;
	return 0;
}

size_t lwm2m_bs_rec_bytes(const struct lwm2m_records *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].value.type == LWM2M_TYPE_STRING || r->v[i].value.type == LWM2M_TYPE_OPAQUE ||
		    r->v[i].value.type == LWM2M_TYPE_CORELNK)
			n += r->v[i].value.bytes.len;
	return n;
}

/* Check records decoded for base against the definitions: resource values
 * (len 3 or 4) at or below base, defined resources, a single resource
 * named without instance and a multiple one with, values converted to the
 * defined type in place. A record of type NONE names a multiple resource
 * with no instance (kept, it empties the resource). -ENOENT for an
 * undefined resource, -EINVAL otherwise. */
int lwm2m_bs_rec_normalize(const struct lwm2m_registry *reg, const struct lwm2m_path *base,
			   struct lwm2m_records *recs, const char **why)
{
	for (size_t i = 0; i < recs->n; i++) {
		struct lwm2m_record *rec = &recs->v[i];
		const struct lwm2m_resdef *rd;
		struct lwm2m_value v;
		bool multiple;

		if (rec->prefix.len || rec->path.len < 3 || !lwm2m_path_is_under(&rec->path, base)) {
			*why = "a value outside the target or not at a resource";
			return -EINVAL;
		}
		rd = lwm2m_objdef_find_res(lwm2m_registry_find(reg, rec->path.id[0]), rec->path.id[2]);
		if (!rd) {
			*why = "a value of an undefined resource";
			return -ENOENT;
		}
		multiple = rd->flags & LWM2M_RES_MULTIPLE;
		if (rec->value.type == LWM2M_TYPE_NONE) {
			if (!multiple || rec->path.len != 3) {
				*why = "a resource without value";
				return -EINVAL;
			}
			continue;
		}
		if (multiple != (rec->path.len == 4)) {
			*why = "a single resource with instances, or a multiple one without";
			return -EINVAL;
		}
		if (lwm2m_value_convert(&rec->value, rd->type, &v) < 0) {
			*why = "a value of the wrong type";
			return -EINVAL;
		}
		rec->value = v;
		rec->has_time = false;
	}
	return 0;
}

/* ---- the server account of a bootstrap result -------------------------------- */

/* Split "coap[s]://host[:port][/path][?query]" the way the endpoint will
 * when it uses the account (libcoap's coap_split_uri(), endpoint.c): the
 * scheme's letters in any case but the 's', a non-empty host ("[...]" for
 * IPv6), a port of at most 65535; a query right after the host without a
 * port or path is refused, as libcoap does. Kept here so that the codec
 * needs no libcoap. */
static int uri_split(const char *s, size_t len, bool *secure, const char **host, size_t *hlen)
{
	const char *end = s + len, *h;
	bool cursor_moved = false; /* libcoap looks for the '?' past a port or path only */

	if (len < 4 || strncasecmp(s, "coap", 4) != 0)
		return -EINVAL;
	s += 4;
	*secure = s < end && *s == 's';
	if (*secure)
		s++;
	/* "+tcp" fails here too: only UDP is reachable. */
	if (end - s < 3 || memcmp(s, "://", 3) != 0)
		return -EINVAL;
	s += 3;
	if (s < end && *s == '[') {
		h = ++s;
		while (s < end && *s != ']')
			s++;
		if (s == end || s == h)
			return -EINVAL;
		*hlen = (size_t)(s - h);
		s++;
	} else {
		h = s;
		while (s < end && *s != ':' && *s != '/' && *s != '?')
			s++;
		if (s == h)
			return -EINVAL;
		*hlen = (size_t)(s - h);
	}
	*host = h;
	if (s < end && *s == ':') {
		unsigned long port = 0;

		for (s++; s < end && *s >= '0' && *s <= '9'; s++)
			if (port <= UINT16_MAX)
				port = port * 10 + (unsigned long)(*s - '0');
		if (port > UINT16_MAX)
			return -EINVAL;
		cursor_moved = true;
	}
	if (s < end && *s == '/') {
		while (s < end && *s != '?')
			s++;
		cursor_moved = true;
	}
	if (s < end && *s == '?' && cursor_moved)
		s = end;
	return s == end ? 0 : -EINVAL;
}

/* coap:// or coaps:// with a numeric host, as endpoint.c can reach. */
static int uri_check(const struct lwm2m_value *v, bool *secure)
{
	char buf[256], host[64];
	const char *h;
	size_t hlen;
	struct in6_addr a6;
	struct in_addr a4;

	if (!v || v->type != LWM2M_TYPE_STRING || v->bytes.len == 0 || v->bytes.len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, v->bytes.ptr, v->bytes.len);
	buf[v->bytes.len] = '\0';
	if (strlen(buf) != v->bytes.len)
		return -EINVAL;
	if (uri_split(buf, v->bytes.len, secure, &h, &hlen) < 0)
		return -EINVAL;
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
		return -EINVAL;
	return 0;
}

static bool int_in(const struct lwm2m_value *v, int64_t lo, int64_t hi)
{
	return v && v->type == LWM2M_TYPE_INTEGER && v->i >= lo && v->i <= hi;
}

/* 0: acct filled; 1: a Bootstrap-Server account (skipped); -EINVAL, *why. */
static int account_of(const struct lwm2m_records *r, uint16_t iid, struct lwm2m_bs_account *a,
		      const char **why)
{
	const struct lwm2m_value *uri = lwm2m_bs_rec_get(r, 0, iid, 0),
				 *mode = lwm2m_bs_rec_get(r, 0, iid, 2);
	const struct lwm2m_value *ssid = lwm2m_bs_rec_get(r, 0, iid, 10), *v;
	bool secure = false;

	if (lwm2m_bs_is_bootstrap_account(r, iid))
		return 1;
	memset(a, 0, sizeof(*a));
	a->sec_iid = iid;
	if (!uri) {
		*why = "a Security instance has no LwM2M Server URI (/0/x/0)";
		return -EINVAL;
	}
	if (uri_check(uri, &secure) < 0) {
		*why = "the LwM2M Server URI is not coap:// or coaps:// with a numeric host";
		return -EINVAL;
	}
	a->uri = (struct lwm2m_span){ (const char *)uri->bytes.ptr, uri->bytes.len };
	if (!int_in(mode, 0, 4)) {
		*why = "a Security instance has no Security Mode (/0/x/2)";
		return -EINVAL;
	}
	a->mode = (uint8_t)mode->i;
	if (a->mode == 3) {
		if (secure) {
			*why = "Security Mode NoSec with a coaps:// URI";
			return -EINVAL;
		}
	} else if (a->mode == 0) {
		const struct lwm2m_value *id = lwm2m_bs_rec_get(r, 0, iid, 3),
					 *key = lwm2m_bs_rec_get(r, 0, iid, 5);

		if (!secure) {
			*why = "Security Mode PSK with a coap:// URI";
			return -EINVAL;
		}
		if (!id || id->type != LWM2M_TYPE_OPAQUE || !id->bytes.len || !key ||
		    key->type != LWM2M_TYPE_OPAQUE || !key->bytes.len) {
			*why = "Security Mode PSK without identity (/0/x/3) or key (/0/x/5)";
			return -EINVAL;
		}
		a->identity = (struct lwm2m_span){ (const char *)id->bytes.ptr, id->bytes.len };
		a->key = (struct lwm2m_span){ (const char *)key->bytes.ptr, key->bytes.len };
	} else {
		*why = "Security Mode not supported (only PSK and NoSec)";
		return -EINVAL;
	}
	if (!int_in(ssid, 1, LWM2M_ID_MAX)) {
		*why = "a Security instance has no Short Server ID (/0/x/10)";
		return -EINVAL;
	}
	a->ssid = (uint16_t)ssid->i;
	/* The /1 instance of that server: the first with the same SSID. */
	for (size_t i = 0; i < r->n; i++) {
		const struct lwm2m_path *p = &r->v[i].path;
		const struct lwm2m_value *lt, *b;

		if (p->len != 3 || p->id[0] != 1 || p->id[2] != 0 ||
		    !int_in(&r->v[i].value, a->ssid, a->ssid))
			continue;
		a->srv_iid = p->id[1];
		lt = lwm2m_bs_rec_get(r, 1, a->srv_iid, 1);
		if (!int_in(lt, 1, UINT32_MAX)) {
			*why = "the Server instance has no valid Lifetime (/1/x/1)";
			return -EINVAL;
		}
		a->lifetime = (uint32_t)lt->i;
		b = lwm2m_bs_rec_get(r, 1, a->srv_iid, 7);
		if (!b || b->type != LWM2M_TYPE_STRING || !memchr(b->bytes.ptr, 'U', b->bytes.len)) {
			*why = "the Server instance has no UDP Binding (/1/x/7 without U)";
			return -EINVAL;
		}
		a->queue = memchr(b->bytes.ptr, 'Q', b->bytes.len) != NULL;
		v = lwm2m_bs_rec_get(r, 1, a->srv_iid, 16);
		a->bootstrap_on_failure = !(v && v->type == LWM2M_TYPE_BOOLEAN && !v->b);
		return 0;
	}
	*why = "no Server instance (/1) with the Short Server ID of the Security instance";
	return -EINVAL;
}

int lwm2m_bs_check(const struct lwm2m_records *recs, struct lwm2m_bs_account *acct, const char **why)
{
	const char *first = NULL;
	int prev = -1;

	for (size_t i = 0; i < recs->n; i++) {
		const struct lwm2m_path *p = &recs->v[i].path;
		const char *w = NULL;
		int r;

		if (p->id[0] != 0 || p->len < 2 || p->id[1] == prev)
			continue;
		prev = p->id[1];
		r = account_of(recs, p->id[1], acct, &w);
		if (r == 0)
			return 0;
		if (r < 0 && !first)
			first = w;
	}
	if (why)
		*why = first ? first : "no LwM2M Server account in /0";
	return -EINVAL;
}

/* ---- the state file --------------------------------------------------------- */

int lwm2m_bs_state_encode(const char *name, const struct lwm2m_records *recs, struct lwm2m_buf *out)
{
	size_t start = out->len, nl = strlen(name), pl;
	uint8_t *h;
	uint32_t crc;
	int r;

	if (nl == 0 || nl > UINT16_MAX)
		return -EINVAL;
	for (size_t i = 0; i < recs->n; i++)
		if (recs->v[i].path.len < 3 || recs->v[i].path.id[0] > 1 || recs->v[i].prefix.len)
			return -EINVAL;
	r = lwm2m_buf_append(out, "FGBS\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
			     LWM2M_BS_STATE_HDR_LEN);
	if (r >= 0)
		r = lwm2m_buf_append(out, name, nl);
	if (r >= 0)
		r = lwm2m_encode(LWM2M_CT_SENML_CBOR, &root_path, recs->v, recs->n, out);
	if (r < 0)
		goto fail;
	pl = out->len - start - LWM2M_BS_STATE_HDR_LEN - nl;
	if (pl > LWM2M_BS_STATE_MAX) {
		r = -E2BIG;
		goto fail;
	}
	h = out->data + start;
	lwm2m_put_be16(h + 6, (uint16_t)nl);
	lwm2m_put_be32(h + 8, (uint32_t)pl);
	crc = lwm2m_crc32(0, h, 12);
	crc = lwm2m_crc32(crc, h + LWM2M_BS_STATE_HDR_LEN, nl + pl);
	lwm2m_put_be32(h + 12, crc);
	return 0;
fail:
	if (out->data && out->len > start)
		explicit_bzero(out->data + start, out->len - start);
	out->len = start;
	return r;
}

static int sort_and_dedup(struct lwm2m_records *recs, const char **why)
{
	lwm2m_records_sort(recs);
	for (size_t i = 1; i < recs->n; i++) {
		const struct lwm2m_path *a = &recs->v[i - 1].path, *b = &recs->v[i].path;

		/* Equal paths, or a resource both whole and with instances. */
		if (lwm2m_path_cmp(a, b) == 0 || lwm2m_path_is_under(b, a)) {
			*why = "a resource given twice";
			return -EINVAL;
		}
	}
	return 0;
}

int lwm2m_bs_state_decode(const uint8_t *data, size_t len, const char *name, const struct lwm2m_registry *reg,
			  struct lwm2m_records *out, const char **why)
{
	struct lwm2m_records tmp = { 0 };
	struct lwm2m_bs_account acct;
	const char *w = NULL;
	size_t nl, pl, n0 = out->n;
	uint32_t crc;
	int r;

	if (!why)
		why = &w;
	if (len < LWM2M_BS_STATE_HDR_LEN || memcmp(data, "FGBS", 4) != 0) {
		*why = "not a fieldgate bootstrap state file (bad magic or too short)";
		return -EBADMSG;
	}
	if (data[4] != 1 || data[5] != 0) {
		*why = "unknown file format version";
		return -EBADMSG;
	}
	nl = lwm2m_get_be16(data + 6);
	pl = lwm2m_get_be32(data + 8);
	if (pl > LWM2M_BS_STATE_MAX || len != LWM2M_BS_STATE_HDR_LEN + nl + pl) {
		*why = "truncated, or bytes after its end";
		return -EBADMSG;
	}
	crc = lwm2m_crc32(0, data, 12);
	crc = lwm2m_crc32(crc, data + LWM2M_BS_STATE_HDR_LEN, nl + pl);
	if (crc != lwm2m_get_be32(data + 12)) {
		*why = "checksum mismatch (corrupted)";
		return -EBADMSG;
	}
	if (nl != strlen(name) || memcmp(data + LWM2M_BS_STATE_HDR_LEN, name, nl) != 0) {
		*why = "written for another endpoint";
		return -ESTALE;
	}
	r = lwm2m_decode(LWM2M_CT_SENML_CBOR, &root_path, data + LWM2M_BS_STATE_HDR_LEN + nl, pl,
			 lwm2m_registry_type_of, (void *)reg, &tmp);
	if (r < 0) {
		*why = "payload is not valid SenML CBOR";
		r = r == -ENOMEM ? r : -EBADMSG;
		goto out;
	}
	for (size_t i = 0; i < tmp.n; i++)
		if (tmp.v[i].path.len < 3 || tmp.v[i].path.id[0] > 1 ||
		    tmp.v[i].value.type == LWM2M_TYPE_NONE) {
			*why = "a value outside /0 and /1";
			r = -EBADMSG;
			goto out;
		}
	r = lwm2m_bs_rec_normalize(reg, &root_path, &tmp, why);
	if (r >= 0)
		r = sort_and_dedup(&tmp, why);
	if (r < 0) {
		r = -EBADMSG;
		goto out;
	}
	r = lwm2m_bs_check(&tmp, &acct, why);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < tmp.n && r >= 0; i++)
		r = lwm2m_bs_rec_copy(out, &tmp.v[i]);
	if (r < 0) {
		out->n = n0;
		*why = "out of memory";
	}
out:
	lwm2m_records_clear(&tmp);
	return r;
}
