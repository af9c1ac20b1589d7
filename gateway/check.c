/* SPDX-License-Identifier: Apache-2.0 */
/* `fieldgate check`: everything `run` would load, validated, every problem printed. */
#include "gateway/gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

int gw_check(const struct gw_options *opt, FILE *out, FILE *err)
{
	struct diag diag = { .fn = diag_print_file, .ctx = err };
	struct gw_config *c = NULL;
	struct lwm2m_registry *reg = NULL;
	size_t loaded = 0;
	char *summary;
	int r;

	struct gw_config *partial = NULL;

	r = gw_config_load_file_partial(opt->config_path, &diag, &c, &partial);
	if (r >= 0)
		gw_state_dir_check(c, &diag);
	if (r >= 0)
		r = gw_config_load_objects(c, &diag, &reg, &loaded);
	if (r >= 0)
		r = gw_config_load_profiles(c, reg, &diag);
	if (partial) {
		/* Every error at once: the profiles of a file with other
		 * errors are checked too (against the built-in objects when the
		 * objects_dir could not be read). */
		struct lwm2m_registry *preg = NULL;
		if (gw_config_load_objects(partial, &diag, &preg, NULL) < 0 && !preg)
			preg = lwm2m_registry_new();
		if (preg)
			(void)gw_config_load_profiles(partial, preg, &diag);
		gw_config_free(partial);
		lwm2m_registry_free(preg);
	}
	if (r < 0 || diag.errors > 0) {
		if (diag.errors > 0)
			fprintf(err, "%s: %u error%s, %u warning%s\n", opt->config_path, diag.errors,
				diag.errors == 1 ? "" : "s", diag.warnings, diag.warnings == 1 ? "" : "s");
		else
			fprintf(err, "%s: cannot load: %s\n", opt->config_path,
				strerror(r == -ENOMEM ? ENOMEM : -r));
		lwm2m_registry_free(reg);
		gw_config_free(c);
		return 1;
	}
	summary = gw_config_summary(c, opt->config_path, reg, loaded);
	fprintf(out, "%s\n", summary ? summary : "configuration is valid");
	free(summary);
	lwm2m_registry_free(reg);
	gw_config_free(c);
	return 0;
}
