/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profile bundles as part of the configuration (Object 9): what an Install
 * or Activate checks beyond the loader (gateway.h), and the objects a
 * bundle adds to the running daemon.
 */
#include "gateway/gateway.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/bundle/bundle.h"
#include "lwm2m/lwm2m.h"
#include "mappings/mapping.h"

/* Is a profile name in another folder of the search path? One before the
 * bundle's would win over it, one after would lose without a word. */
static int clash(const struct gw_config *c, const struct gw_bundle *b, const char *dir, const char *name,
		 struct diag *diag)
{
	char own[4096], file[4096 + 128];

	snprintf(own, sizeof(own), "%s/profiles", dir);
	for (char **p = c->profiles_dirs; p && *p; p++) {
		if (strcmp(*p, own) == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s.yaml", *p, name);
		if (access(file, F_OK) == 0) {
			diag_report(diag, DIAG_ERROR, GW_BUNDLE_MANIFEST, 0, 0,
				    "bundle %s: profile '%s' is also %s: one name, two profiles; rename "
				    "one of them",
				    b->name, name, file);
			return -EINVAL;
		}
	}
	return 0;
}

/* The definitions a DDF file holds: those of scratch that are not the
 * built-in ones of base. */
static int new_objects(const struct lwm2m_registry *scratch, const struct lwm2m_registry *builtin,
		       const struct lwm2m_registry *known, const char *file, struct diag *diag)
{
	int r = 0;

	for (size_t i = 0; i < lwm2m_registry_count(scratch); i++) {
		const struct lwm2m_objdef *d = lwm2m_registry_at(scratch, i);
		if (d == lwm2m_registry_find(builtin, d->oid))
			continue;
		if (lwm2m_registry_find(known, d->oid)) {
			diag_report(diag, DIAG_ERROR, file, 0, 0,
				    "object %u is built in, in objects_dir or in another bundle already: a "
				    "bundle adds object definitions, it does not replace them",
				    d->oid);
			r = -EINVAL;
		}
	}
	return r;
}

static int check_objects(const struct gw_config *c, const struct gw_bundle *b, const char *dir,
			 struct diag *diag)
{
	struct lwm2m_registry *builtin = lwm2m_registry_new(), *known = lwm2m_registry_new();
	int r = builtin && known ? 0 : -ENOMEM;

	if (r >= 0 && c->objects_dir)
		(void)lwm2m_registry_load_dir(known, c->objects_dir, NULL, NULL);
	/* And the other active bundles': one object, one definition. */
	for (char **o = c->bundle_dirs; r >= 0 && o && *o; o++) {
		char objects[4096];
		if (strcmp(*o, dir) == 0)
			continue;
		snprintf(objects, sizeof(objects), "%s/objects", *o);
		if (access(objects, F_OK) == 0)
			(void)lwm2m_registry_load_dir(known, objects, NULL, NULL);
	}
	for (size_t i = 0; r >= 0 && i < b->nobjects; i++) {
		struct lwm2m_registry *scratch = lwm2m_registry_new();
		char file[4096];
		int e;
		if (!scratch) {
			r = -ENOMEM;
			break;
		}
		snprintf(file, sizeof(file), "%s/objects/%s.xml", dir, b->objects[i]);
		e = lwm2m_registry_load_ddf_file(scratch, file, diag_forward_error, diag);
		/* 0: none, or only older versions of objects built in. */
		if (e == 0)
			diag_report(diag, DIAG_ERROR, file, 0, 0,
				    "adds no object definition: it has none, or only objects the gateway "
				    "has already (a bundle adds objects, it does not replace them)");
		if (e > 0)
			e = new_objects(scratch, builtin, known, file, diag);
		if (e < 0 || e == 0)
			r = e == -ENOMEM ? e : -EINVAL;
		lwm2m_registry_free(scratch);
	}
	lwm2m_registry_free(builtin);
	lwm2m_registry_free(known);
	return r;
}

int gw_config_check_bundle(struct gw_config *c, const char *dir, struct diag *diag)
{
	struct gw_bundle *b = NULL;
	unsigned before = diag->errors;
	int r = gw_bundle_load_dir(dir, diag, &b);

	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = check_objects(c, b, dir, diag);
	for (size_t i = 0; r != -ENOMEM && i < b->nprofiles; i++) {
		const struct mapping_profile *p;
		int e = clash(c, b, dir, b->profiles[i], diag);
		/* Every profile, used or not: a device may be created with it later. */
		if (e >= 0)
			e = mapping_set_get(c->profiles, b->profiles[i], NULL, diag, &p);
		if (e == -ENOMEM)
			r = e;
	}
	gw_bundle_free(b);
	if (r == -ENOMEM)
		return r;
	return diag->errors > before ? -EINVAL : 0;
}

int gw_config_bundle_objects_add(struct lwm2m_registry *reg, const char *dir)
{
	struct gw_bundle *b = NULL;
	struct diag diag = { 0 };
	int n = 0;

	if (gw_bundle_load_dir(dir, &diag, &b) < 0)
		return 0;
	for (size_t i = 0; i < b->nobjects; i++) {
		struct lwm2m_registry *scratch = lwm2m_registry_new(), *builtin = lwm2m_registry_new();
		char file[4096];
		bool known = false;
		snprintf(file, sizeof(file), "%s/objects/%s.xml", dir, b->objects[i]);
		if (scratch && builtin && lwm2m_registry_load_ddf_file(scratch, file, NULL, NULL) > 0) {
			for (size_t j = 0; j < lwm2m_registry_count(scratch); j++) {
				const struct lwm2m_objdef *d = lwm2m_registry_at(scratch, j);
				known |= d != lwm2m_registry_find(builtin, d->oid) &&
					 lwm2m_registry_find(reg, d->oid);
			}
			if (!known && lwm2m_registry_load_ddf_file(reg, file, NULL, NULL) > 0)
				n++;
		}
		lwm2m_registry_free(scratch);
		lwm2m_registry_free(builtin);
	}
	gw_bundle_free(b);
	return n;
}
