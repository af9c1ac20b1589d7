/* SPDX-License-Identifier: Apache-2.0 */
/* The DDF loader on any bytes: into a fresh registry, then freed. A failed
 * load changes nothing; a successful one keeps the registry sorted. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void diag(void *ctx, const char *file, unsigned line, unsigned col, const char *msg)
{
	(void)line;
	(void)col;
	if (!file || !msg || strchr(msg, '\n'))
		abort();
	(*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lwm2m_registry *r = lwm2m_registry_new();
	size_t before, ndiag = 0;
	int k;

	if (!r)
		return 0;
	before = lwm2m_registry_count(r);
	k = lwm2m_registry_load_ddf(r, "fuzz.xml", data, size, diag, &ndiag);
	if (k < 0) {
		if (lwm2m_registry_count(r) != before || (k != -ENOMEM && ndiag == 0))
			abort();
	} else {
		if (ndiag != 0 || lwm2m_registry_count(r) > before + (size_t)k)
			abort();
		for (size_t i = 0; i < lwm2m_registry_count(r); i++) {
			const struct lwm2m_objdef *d = lwm2m_registry_at(r, i);
			if (i && lwm2m_registry_at(r, i - 1)->oid >= d->oid)
				abort();
			for (size_t j = 0; j < d->nres; j++) {
				if (j && d->res[j - 1].rid >= d->res[j].rid)
					abort();
				if (!d->res[j].name || lwm2m_objdef_find_res(d, d->res[j].rid) != &d->res[j])
					abort();
			}
			struct lwm2m_path p = LWM2M_PATH(d->oid, 0, d->nres ? d->res[0].rid : 0);
			(void)lwm2m_registry_type_of(r, &p);
		}
	}
	lwm2m_registry_free(r);
	return 0;
}
