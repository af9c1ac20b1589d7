/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 26242 "Fieldgate Field Device" on the gateway's own endpoint:
 * every configured device is an instance (its configuration and state), so
 * the server sees the whole inventory. The server may Create a device,
 * Write or Delete the ones it created; devices of the local files are
 * read-only here (4.05). A change is a configuration change: the daemon
 * (gw_registry_on_remote) checks it as `fieldgate check` would, persists
 * it and applies it by difference, or refuses it with the loader's first
 * diagnostic and changes nothing. Instance ids are kept per device name
 * while the daemon runs.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define OID GW_FIELDDEV_OID

struct fdid {
	char *name;
	uint16_t iid;
	bool seen; /* fielddev_sync(): still configured */
};

/* Sorted by name and a bitmap of the ids: a sync of 10,000 devices is
 * n log n, not n². */
#define USED_WORDS ((LWM2M_ID_MAX + 64) / 64)

static bool used(const struct gw_registry *r, uint16_t iid)
{
	return r->fd_used && (r->fd_used[iid / 64] >> (iid % 64)) & 1;
}

static void mark(struct gw_registry *r, uint16_t iid, bool on)
{
	if (on)
		r->fd_used[iid / 64] |= 1ull << (iid % 64);
	else
		r->fd_used[iid / 64] &= ~(1ull << (iid % 64));
}

static struct fdid *id_by_iid(const struct gw_registry *r, uint16_t iid)
{
	if (!used(r, iid))
		return NULL;
	for (size_t i = 0; i < r->nfd; i++)
		if (r->fd[i].iid == iid)
			return &r->fd[i];
	return NULL;
}

static const char *name_at(const void *ctx, size_t i)
{
	return ((const struct gw_registry *)ctx)->fd[i].name;
}

/* Where name is, or would be inserted. */
static size_t id_pos(const struct gw_registry *r, const char *name, bool *found)
{
	return reg_name_slot(r->nfd, name_at, r, name, found);
}

static struct fdid *id_by_name(const struct gw_registry *r, const char *name)
{
	bool found;
	size_t i = id_pos(r, name, &found);

	return found ? &r->fd[i] : NULL;
}

static void id_drop(struct gw_registry *r, struct fdid *f)
{
	size_t i = (size_t)(f - r->fd);

	mark(r, f->iid, false);
	free(f->name);
	memmove(f, f + 1, (r->nfd - i - 1) * sizeof(*f));
	r->nfd--;
}

static int lowest_free(const struct gw_registry *r)
{
	for (size_t w = 0; w < USED_WORDS; w++)
		if (~r->fd_used[w]) {
			int iid = (int)(w * 64) + __builtin_ctzll(~r->fd_used[w]);
			return iid <= LWM2M_ID_MAX ? iid : -ENOSPC;
		}
	return -ENOSPC;
}

/* The instance id of name: its own, the one asked (iid >= 0), or the
 * lowest free. -EEXIST when iid belongs to another device. */
static int id_take(struct gw_registry *r, const char *name, int iid)
{
	struct fdid *v;
	bool found;
	size_t pos;

	if (!r->fd_used && !(r->fd_used = calloc(USED_WORDS, sizeof(*r->fd_used))))
		return -ENOMEM;
	pos = id_pos(r, name, &found);
	if (found)
		return r->fd[pos].iid;
	if (iid >= 0 && used(r, (uint16_t)iid))
		return -EEXIST;
	if (iid < 0 && (iid = lowest_free(r)) < 0)
		return iid;
	v = realloc(r->fd, (r->nfd + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->fd = v;
	memmove(v + pos + 1, v + pos, (r->nfd - pos) * sizeof(*v));
	v[pos] = (struct fdid){ .name = strdup(name), .iid = (uint16_t)iid, .seen = true };
	r->nfd++;
	if (!v[pos].name) {
		id_drop(r, &v[pos]);
		return -ENOMEM;
	}
	mark(r, (uint16_t)iid, true);
	return iid;
}

void fielddev_free(struct gw_registry *r)
{
	while (r->nfd)
		id_drop(r, &r->fd[r->nfd - 1]);
	free(r->fd);
	r->fd = NULL;
	free(r->fd_used);
	r->fd_used = NULL;
}

/* ---- the instances' values ------------------------------------------------------ */

static void json_node(FILE *f, const struct ynode *n)
{
	if (!n || ynode_is_null(n)) {
		fputs("null", f);
		return;
	}
	switch (n->kind) {
	case YNODE_SCALAR: {
		bool num = n->style == YSCALAR_PLAIN && n->scalar.len > 0 &&
			   strspn(n->scalar.str, "0123456789") == n->scalar.len;
		if (num) {
			fputs(n->scalar.str, f);
			break;
		}
		fputc('"', f);
		for (const unsigned char *p = (const unsigned char *)n->scalar.str; *p; p++)
			if (*p == '"' || *p == '\\')
				fprintf(f, "\\%c", *p);
			else if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		fputc('"', f);
		break;
	}
	case YNODE_SEQ:
		fputc('[', f);
		for (size_t i = 0; i < n->seq.n; i++) {
			fputs(i ? "," : "", f);
			json_node(f, &n->seq.items[i]);
		}
		fputc(']', f);
		break;
	default:
		fputc('{', f);
		for (size_t i = 0; i < n->map.n; i++) {
			fputs(i ? "," : "", f);
			json_node(f, ynode_map_key(n, i));
			fputc(':', f);
			json_node(f, ynode_map_value(n, i));
		}
		fputc('}', f);
	}
}

/* A scalar address as written, anything else (and vars) as JSON. */
static char *node_text(const struct ynode *n, bool scalar_raw)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	if (!n || ynode_is_null(n))
		return strdup("");
	if (scalar_raw && n->kind == YNODE_SCALAR)
		return strdup(n->scalar.str);
	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	json_node(f, n);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int set_value(struct gw_registry *r, uint16_t iid, uint16_t rid, const struct lwm2m_value *v)
{
	return self_set(r, &LWM2M_PATH(OID, iid, rid), v);
}

static int set_text(struct gw_registry *r, uint16_t iid, uint16_t rid, const char *s)
{
	return self_set_text(r, &LWM2M_PATH(OID, iid, rid), s);
}

/* State and Last Error: what changes without a configuration change. */
static void device_state(struct gw_registry *r, const struct gw_device *cfg, uint16_t iid)
{
	struct dev *d = device_find(r, cfg->name);
	const char *state, *err = "";

	if (!cfg->enabled)
		state = "disabled";
	else if (!d) {
		state = "error";
		err = "not started: see the gateway's log";
	} else if (d->presence < 0) {
		state = "unreachable";
		err = strerror(-d->presence);
	} else
		state = status_state_word(d->state);
	(void)set_text(r, iid, 7, state);
	(void)set_text(r, iid, 8, err);
}

static void device_values(struct gw_registry *r, const struct gw_config *c, const struct gw_device *cfg,
			  uint16_t iid)
{
	char ep[256] = "", *address = node_text(cfg->address, true), *vars = node_text(cfg->vars, false);

	device_state(r, cfg, iid);
	/* The endpoint name, or the Object 25 prefix (the device's name). */
	if (c->lwm2m.mode == GW_MODE_GATEWAY)
		snprintf(ep, sizeof(ep), "%s", cfg->name);
	else
		(void)target_name(c, cfg, ep, sizeof(ep));
	(void)set_text(r, iid, 0, cfg->name);
	(void)set_text(r, iid, 1, cfg->bridge);
	(void)set_text(r, iid, 2, address);
	(void)set_text(r, iid, 3, cfg->profile);
	(void)set_value(r, iid, 4,
			&(struct lwm2m_value){ .type = LWM2M_TYPE_INTEGER,
					       .i = (int64_t)(cfg->poll_usec / USEC_PER_SEC) });
	/* vars only: psk keys and bridge passwords are never in 26242. */
	(void)set_text(r, iid, 5, vars && *vars ? vars : "{}");
	(void)set_value(r, iid, 6, &(struct lwm2m_value){ .type = LWM2M_TYPE_BOOLEAN, .b = cfg->enabled });
	(void)set_text(r, iid, 9, ep);
	(void)set_text(r, iid, 10, gw_device_source(c, cfg));
	free(address);
	free(vars);
}

void fielddev_sync(struct gw_registry *r, bool full)
{
	const struct gw_config *c = reg_config(r);
	bool changed = false;

	if (!r->gw_store)
		return;
	for (size_t i = 0; i < r->nfd; i++)
		r->fd[i].seen = false;
	/* Devices the server created keep the instance id it knows them by
	 * (written in their file), also after a restart: those first. */
	for (size_t j = 0; j < c->devices.n; j++) {
		const struct gw_device *cfg = gw_config_device(c, j);
		int want;
		if (!gw_device_is_remote(c, cfg) || id_by_name(r, cfg->name))
			continue;
		want = gw_remote_instance(cfg->node->file);
		if (want >= 0)
			(void)id_take(r, cfg->name, want);
	}
	for (size_t j = 0; j < c->devices.n; j++) {
		const struct gw_device *cfg = gw_config_device(c, j);
		int iid = id_take(r, cfg->name, -1);
		bool fresh;
		if (iid < 0) {
			log_oom();
			continue;
		}
		id_by_name(r, cfg->name)->seen = true;
		fresh = !lwm2m_store_has(r->gw_store, &LWM2M_PATH(OID, (uint16_t)iid));
		if (fresh) {
			if (lwm2m_store_add_instance(r->gw_store, OID, (uint16_t)iid) < 0)
				continue;
			changed = true;
		}
		/* Between configuration changes only the state moves. */
		if (full || fresh)
			device_values(r, c, cfg, (uint16_t)iid);
		else
			device_state(r, cfg, (uint16_t)iid);
	}
	/* Devices gone: their instances and ids. */
	for (size_t i = r->nfd; i-- > 0;) {
		if (r->fd[i].seen)
			continue;
		if (lwm2m_store_del_instance(r->gw_store, OID, r->fd[i].iid) == 0)
			changed = true;
		id_drop(r, &r->fd[i]);
	}
	if (changed && r->gw_ep)
		lwm2m_endpoint_objects_changed(r->gw_ep);
}

/* ---- the server's changes ------------------------------------------------------- */

/* The text of a string record, or NULL when it is not one (copied). */
static char *record_text(const struct lwm2m_value *v)
{
	if (v->type != LWM2M_TYPE_STRING)
		return NULL;
	return strndup((const char *)v->bytes.ptr, v->bytes.len);
}

struct spec {
	char *s[6]; /* by resource id 0..5 (4 unused) */
	int64_t poll_s;
	bool enabled;
};

static void spec_clear(struct spec *sp)
{
	for (size_t i = 0; i < 6; i++)
		free(sp->s[i]);
}

/* Resources 0..6 of records over sp. */
static int spec_apply(struct spec *sp, const struct lwm2m_records *recs, char *why, size_t size)
{
	for (size_t i = 0; i < recs->n; i++) {
		const struct lwm2m_record *rec = &recs->v[i];
		uint16_t rid = rec->path.id[LWM2M_RID];

		if (rec->path.len != 3 || rid > 6) {
			snprintf(why, size, "resource %u of object 26242 cannot be written (only 0..6 can)",
				 rid);
			return -EINVAL;
		}
		if (rid == 4 && rec->value.type == LWM2M_TYPE_INTEGER) {
			if (rec->value.i < 0) {
				snprintf(why, size, "Poll Period: %lld s is negative (0: the profile's)",
					 (long long)rec->value.i);
				return -EINVAL;
			}
			sp->poll_s = rec->value.i;
		} else if (rid == 6 && rec->value.type == LWM2M_TYPE_BOOLEAN)
			sp->enabled = rec->value.b;
		else if (rid != 4 && rid != 6) {
			char *t = record_text(&rec->value);
			if (!t)
				return -ENOMEM;
			free(sp->s[rid]);
			sp->s[rid] = t;
		}
	}
	return 0;
}

/* Check, persist and apply (the daemon's gw_registry_on_remote), with
 * the device's file text or NULL to remove it. */
static int change(struct gw_registry *r, const struct spec *sp, const char *name, bool remove, char *why,
		  size_t size)
{
	const struct fdid *id = id_by_name(r, name);
	const struct gw_remote_device d = { .name = sp->s[0],
					    .bridge = sp->s[1],
					    .address = sp->s[2],
					    .profile = sp->s[3],
					    .vars = sp->s[5],
					    .poll_s = sp->poll_s,
					    .enabled = sp->enabled,
					    .instance = id ? id->iid : -1 };
	char file[GW_NAME_MAX + 8], *text = NULL;
	int e;

	if (!r->remote_fn) {
		snprintf(why, size, "this gateway does not take devices from the LwM2M server");
		return -EPERM;
	}
	snprintf(file, sizeof(file), "%s.yaml", name);
	if (!remove) {
		e = gw_remote_yaml(&d, &text, why, size);
		if (e < 0)
			return e;
	}
	e = r->remote_fn(r->remote_ud, file, text, why, size);
	free(text);
	return e;
}

static const struct gw_device *config_device(const struct gw_registry *r, const char *name)
{
	const struct gw_config *c = reg_config(r);

	for (size_t j = 0; j < c->devices.n; j++)
		if (strcmp(gw_config_device(c, j)->name, name) == 0)
			return gw_config_device(c, j);
	return NULL;
}

int fielddev_create(struct gw_registry *r, int iid, const struct lwm2m_records *recs, char *why, size_t size)
{
	struct spec sp = { .enabled = true };
	const struct gw_device *other;
	int e, id = -1;

	e = spec_apply(&sp, recs, why, size);
	if (e < 0)
		goto out;
	e = -EINVAL;
	if (!sp.s[0] || !*sp.s[0]) {
		snprintf(why, size, "Name (resource 0) is required");
		goto out;
	}
	/* Also the file's name: checked before it is made. */
	if (gw_device_name_check(sp.s[0], reg_config(r)->lwm2m.mode, why, size) < 0)
		goto out;
	if (!sp.s[3] || !*sp.s[3]) {
		snprintf(why, size, "Profile (resource 3) is required");
		goto out;
	}
	other = config_device(r, sp.s[0]);
	if (other) {
		snprintf(why, size, "device name '%s' is taken (%s)", sp.s[0],
			 gw_device_source(reg_config(r), other));
		goto out;
	}
	id = id_take(r, sp.s[0], iid);
	if (id < 0) {
		e = id == -EEXIST ? -EINVAL : id;
		if (id == -EEXIST)
			snprintf(why, size, "instance /26242/%d exists", iid);
		else if (id == -ENOSPC)
			snprintf(why, size, "no free instance id of object 26242");
		id = -1;
		goto out;
	}
	e = change(r, &sp, sp.s[0], false, why, size);
	if (e < 0) {
		struct fdid *f = id_by_name(r, sp.s[0]);
		if (f)
			id_drop(r, f);
		log_warning("The LwM2M server's new device '%s' is refused: %s", sp.s[0], why);
	} else
		log_info("Device %s created by the LwM2M server (/26242/%d)", sp.s[0], id);
out:
	spec_clear(&sp);
	return e < 0 ? e : id;
}

/* The device of instance iid, when the server may change it. */
static int remote_device(struct gw_registry *r, uint16_t iid, const struct gw_device **out, char *why,
			 size_t size)
{
	struct fdid *f = id_by_iid(r, iid);
	const struct gw_device *cfg = f ? config_device(r, f->name) : NULL;

	if (!cfg) {
		snprintf(why, size, "no instance /26242/%u", iid);
		return -ENOENT;
	}
	if (!gw_device_is_remote(reg_config(r), cfg)) {
		snprintf(why, size, "device %s is configured in %s, not by the LwM2M server", cfg->name,
			 gw_device_source(reg_config(r), cfg));
		return -EPERM;
	}
	*out = cfg;
	return 0;
}

int fielddev_write(struct gw_registry *r, const struct lwm2m_path *path, const struct lwm2m_records *recs,
		   bool replace, char *why, size_t size)
{
	const struct gw_device *cfg;
	struct spec sp = { .enabled = true };
	int e = remote_device(r, path->id[LWM2M_IID], &cfg, why, size);

	/* A PUT of the instance replaces it (TS Core 5.4.3): what it leaves
	 * out is back to its default, as in a Create; Name and Profile must
	 * be in it. A POST, or a PUT of one resource, changes what it holds. */
	if (e >= 0 && replace && path->len == 2) {
		e = spec_apply(&sp, recs, why, size);
		if (e >= 0 && (!sp.s[0] || !sp.s[3])) {
			snprintf(why, size, "a replace of the instance needs Name (0) and Profile (3)");
			e = -EINVAL;
		}
	} else if (e >= 0) {
		/* What the device has now, then what the server writes. */
		sp.s[0] = strdup(cfg->name);
		sp.s[1] = cfg->bridge ? strdup(cfg->bridge) : NULL;
		sp.s[2] = node_text(cfg->address, true);
		sp.s[3] = strdup(cfg->profile);
		sp.s[5] = cfg->vars ? node_text(cfg->vars, false) : NULL;
		sp.poll_s = (int64_t)(cfg->poll_usec / USEC_PER_SEC);
		sp.enabled = cfg->enabled;
		e = spec_apply(&sp, recs, why, size);
	}
	if (e >= 0 && strcmp(sp.s[0], cfg->name) != 0) {
		snprintf(why, size, "the name of a device cannot change (create another)");
		e = -EINVAL;
	}
	if (e >= 0)
		e = change(r, &sp, cfg->name, false, why, size);
	if (e < 0)
		log_warning("The LwM2M server's Write of /26242/%u is refused: %s", path->id[LWM2M_IID], why);
	spec_clear(&sp);
	return e;
}

int fielddev_delete(struct gw_registry *r, const struct lwm2m_path *path, char *why, size_t size)
{
	const struct gw_device *cfg;
	struct spec sp = { 0 };
	char name[GW_NAME_MAX + 1] = "";
	int e = remote_device(r, path->id[LWM2M_IID], &cfg, why, size);

	if (e >= 0) {
		snprintf(name, sizeof(name), "%s", cfg->name);
		e = change(r, &sp, name, true, why, size);
	}
	if (e < 0)
		log_warning("The LwM2M server's Delete of /26242/%u is refused: %s", path->id[LWM2M_IID],
			    why);
	else
		log_info("Device %s removed by the LwM2M server", name);
	return e;
}
