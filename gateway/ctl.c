/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The commands that talk to a running daemon (`status`, `metrics`,
 * `sample`, `presence`): which socket they use.
 *
 * Only gateway.status_socket is read from the configuration, not the whole
 * file: status must work while the file is being edited (a typo elsewhere
 * must not send it to another socket), and must not need the secrets the
 * configuration names (*_file, credentials), which only the service may
 * read. What cannot be read is said, never silently replaced by the
 * default: a daemon configured with another socket would otherwise be
 * reported as not running.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <string.h>

int gw_ctl_socket(const struct gw_options *opt, char *buf, size_t size, const char **out, FILE *err)
{
	struct diag first = { 0 };
	char why[512] = "";
	const struct ynode *s;
	struct ydoc *doc = NULL;
	int r;

	*out = NULL;
	r = ydoc_load_file(opt->config_path, NULL, &first, &doc);
	if (r < 0) {
		if (r == -EBADMSG || r == -EFBIG)
			snprintf(why, sizeof(why), "%s",
				 r == -EBADMSG ? "it is not valid YAML (see fieldgate check)"
					       : "it is too large");
		else
			snprintf(why, sizeof(why), "%s", strerror(-r));
		if (opt->config_given) {
			fprintf(err,
				"fieldgate: cannot read the configuration %s: %s; it names the status "
				"socket (gateway.status_socket)\n",
				opt->config_path, why);
			return r;
		}
		fprintf(err,
			"fieldgate: cannot read the configuration %s: %s; trying the default socket %s\n",
			opt->config_path, why, gw_status_socket_path(NULL, buf, size));
		return 0;
	}
	s = ynode_map_get(ynode_map_get(ydoc_root(doc), "gateway"), "status_socket");
	if (s && s->kind == YNODE_SCALAR && !ynode_is_null(s)) {
		if (s->scalar.str[0] != '/' || strlen(s->scalar.str) >= size) {
			fprintf(err,
				"%s:%u:%u: gateway.status_socket must be an absolute path of at most %zu "
				"bytes\n",
				s->file, s->line, s->col, size - 1);
			ydoc_free(doc);
			return -EINVAL;
		}
		snprintf(buf, size, "%s", s->scalar.str);
		*out = buf;
	}
	ydoc_free(doc);
	return 0;
}
