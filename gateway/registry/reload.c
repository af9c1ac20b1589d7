/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A new configuration applied by difference: each device's fingerprint
 * (everything of its configuration, its bridge's body and its profile
 * file) says whether it changed; unchanged devices keep their endpoint,
 * session, registration and observations; a change of what every endpoint
 * depends on (the global fingerprint) re-registers everything.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* ---- fingerprints: what makes a device "changed" ----------------------------- */

static void node_print(FILE *f, const struct ynode *n)
{
	if (!n) {
		fputs("~", f);
		return;
	}
	switch (n->kind) {
	case YNODE_SCALAR:
		fputc('"', f);
		fwrite(n->scalar.str, 1, n->scalar.len, f);
		fputc('"', f);
		break;
	case YNODE_SEQ:
		fputc('[', f);
		for (size_t i = 0; i < n->seq.n; i++) {
			node_print(f, &n->seq.items[i]);
			fputc(',', f);
		}
		fputc(']', f);
		break;
	default:
		fputc('{', f);
		for (size_t i = 0; i < n->map.n; i++) {
			node_print(f, ynode_map_key(n, i));
			fputc(':', f);
			node_print(f, ynode_map_value(n, i));
			fputc(',', f);
		}
		fputc('}', f);
	}
}

/* The profile's file content (a changed profile file changes its devices). */
static void file_print(FILE *f, const char *path)
{
	FILE *in = path ? fopen(path, "re") : NULL;
	char buf[4096];
	size_t n;

	if (!in)
		return;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, f);
	fclose(in);
}

/* The text of an open_memstream(&s, ...) stream: s is set by fclose(). */
static char *memstream_done(FILE *f, char **s)
{
	if (fclose(f) != 0) {
		free(*s);
		return NULL;
	}
	return *s;
}

char *reload_device_fingerprint(const struct gw_config *c, const struct gw_device *d,
				const struct mapping_profile *p, const char *endpoint)
{
	const struct gw_bridge *b = d->bridge ? gw_config_find_bridge(c, d->bridge) : NULL;
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "ep=%s\nbridge=%s\npoll=%llu\nprofile=%s\n", endpoint, d->bridge ? d->bridge : "",
		(unsigned long long)d->poll_usec, d->profile);
	/* The bridge's body too: a device on a changed bus re-registers. */
	fputs("bridge-body=", f);
	node_print(f, b ? b->body : NULL);
	fputs("\naddress=", f);
	node_print(f, d->address);
	fputs("\nvars=", f);
	node_print(f, d->vars);
	fprintf(f, "\nenabled=%d", d->enabled);
	fprintf(f, "\npsk=%s:", d->psk_identity ? d->psk_identity : "");
	for (size_t i = 0; d->psk_key && i < d->psk_key->len; i++)
		fprintf(f, "%02x", d->psk_key->bytes[i]);
	fputs("\nprofile-file=", f);
	file_print(f, mapping_profile_file(p));
	return memstream_done(f, &s);
}

char *reload_global_fingerprint(const struct gw_config *c)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "gw=%s\nmode=%d\nlt=%llu\n", c->gateway.name, c->lwm2m.mode,
		(unsigned long long)c->lwm2m.lifetime_usec);
	for (size_t k = 0; k < c->lwm2m.servers.n; k++) {
		const struct gw_server *sv = gw_config_server(c, k);
		fprintf(f, "uri=%s\nbs=%d\nsec=%d\nq=%d\nstoring=%d\nid=%s\ncert=%s:%s:%s\nname=%s\nkey=",
			sv->uri.text, sv->bootstrap, sv->security, sv->queue_mode, sv->notification_storing,
			sv->psk_identity ? sv->psk_identity : "", sv->certificate ? sv->certificate : "",
			sv->private_key ? sv->private_key : "", sv->ca_certificate ? sv->ca_certificate : "",
			sv->server_name ? sv->server_name : "");
		for (size_t i = 0; i < sv->psk_key.len; i++)
			fprintf(f, "%02x", sv->psk_key.bytes[i]);
		fputc('\n', f);
	}
	return memstream_done(f, &s);
}

char *reload_bridge_fingerprint(const struct gw_bridge *b)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "%s\n", b->type);
	node_print(f, b->body);
	return memstream_done(f, &s);
}

/* ---- applying ------------------------------------------------------------------------ */

static bool configured(const struct gw_config *c, const char *name)
{
	for (size_t j = 0; j < c->devices.n; j++)
		if (strcmp(gw_config_device(c, j)->name, name) == 0)
			return true;
	return false;
}

int gw_registry_apply(struct gw_registry *r, struct gw_config *config)
{
	const struct gw_config *c;
	struct dev **devs;
	size_t n = 0, added = 0, removed = 0, changed = 0, kept = 0;
	bool all_changed = false;
	char *global;
	int e;

	if (config) {
		e = reg_gen_push(r, config);
		if (e < 0)
			return log_oom();
		/* The previous configuration stays referenced by its devices. */
		reg_gen_unref(r, r->gens->next);
	}
	c = reg_config(r);
	target_client_settings(r, c);
	global = reload_global_fingerprint(c);
	if (!global)
		return log_oom();
	if (strcmp(global, r->global) != 0) {
		/* Server, mode, lifetime or gateway name: every endpoint
		 * registers again, the gateway's own included. */
		all_changed = true;
		free(r->global);
		r->global = global;
		global = NULL;
	}
	free(global);

	devs = calloc(c->devices.n + r->n + 1, sizeof(*devs));
	if (!devs)
		return log_oom();
	for (size_t i = 0; i < r->n; i++)
		r->devs[i]->keep = false;

	if (all_changed) {
		/* Devices first (their Object 25 instances hang off it). */
		for (size_t i = 0; i < r->n; i++) {
			device_free(r->devs[i]);
			changed++;
		}
		r->n = 0;
		self_stop(r);
		/* New servers: a pending lookup of the old ones is cancelled
		 * (its answer is dropped, nothing is called back). */
		servers_setup(r);
		e = self_start(r);
		if (e < 0) {
			free(devs);
			return e;
		}
		log_info("LwM2M settings changed: every endpoint registers again");
	} else if (config)
		servers_retry(r);

	/* First pass: which running devices stay as they are. */
	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *cfg = gw_config_device(c, i);
		struct dev *old = device_find(r, cfg->name);
		char ep[256], *fp;
		if (!old)
			continue;
		(void)target_name(c, cfg, ep, sizeof(ep));
		fp = reload_device_fingerprint(c, cfg, c->device_profiles[i], ep);
		if (fp && strcmp(fp, old->fingerprint) == 0) {
			old->keep = true;
			old->order = i;
		} else {
			log_device_info(DEV_LOG(old), "changed: registering it again");
			changed++;
		}
		free(fp);
	}
	/* Discovered devices stay while their bridge does (same body) and no
	 * configured device takes their name. */
	for (size_t i = 0; !all_changed && i < r->n; i++) {
		struct dev *d = r->devs[i];
		if (d->disc)
			d->keep = instances_kept(r, c, d->disc->cfg.bridge) && !configured(c, d->name);
	}
	/* What is not kept goes first (removed devices and the old version of
	 * changed ones), so a changed device never meets its old self on the
	 * server or in /25. Removing an endpoint de-registers it. */
	for (size_t i = 0; i < r->n; i++) {
		if (r->devs[i]->keep) {
			devs[n++] = r->devs[i];
			kept++;
			continue;
		}
		if (!configured(c, r->devs[i]->name)) {
			log_device_info(DEV_LOG(r->devs[i]), "removed");
			removed++;
		}
		device_free(r->devs[i]);
	}
	free(r->devs);
	r->devs = devs;
	r->n = n;
	device_sort(r);

	instances_sync(r);

	/* Second pass: new and changed devices. */
	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *cfg = gw_config_device(c, i);
		struct dev *d = NULL;
		/* A disabled device stays configured (Object 26242) but
		 * does not run. */
		if (!cfg->enabled || device_find(r, cfg->name))
			continue;
		e = device_new(r, r->gens, cfg, NULL, c->device_profiles[i], i, &d);
		if (e >= 0) {
			r->starting = d;
			e = device_start(d);
			r->starting = NULL;
		}
		if (e < 0) {
			log_device_error_errno(
				d ? DEV_LOG(d) : (&(const struct log_device){ cfg->name, cfg->bridge, NULL }),
				e, "not started: %m");
			device_free(d);
			continue;
		}
		devs[n++] = d;
	}
	added = n - r->n;
	added = added > changed ? added - changed : 0;
	r->n = n;
	device_sort(r);
	if (config)
		log_info("Configuration applied: %zu device%s added, %zu removed, %zu changed, %zu unchanged",
			 added, added == 1 ? "" : "s", removed, changed, kept);
	else
		log_info("%zu device%s started", added, added == 1 ? "" : "s");
	fielddev_sync(r, true);
	health_refresh(r); /* 26241: the bridges may have changed */
	reg_changed(r);
	return 0;
}
