/* SPDX-License-Identifier: Apache-2.0 */
/* SenML names are LwM2M paths: bn + n, optionally with an Object 25 prefix;
 * times are bt + t. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lwm2m/codec_internal.h"

/* "/" + 64-byte prefix + four "/65534" + slack */
#define SENML_NAME_MAX 128

int lwm2m_senml_resolve_name(const char *bn, size_t bnlen, const char *n, size_t nlen, struct lwm2m_path *p,
			     struct lwm2m_span *prefix, struct lwm2m_records *arena_owner)
{
	char name[SENML_NAME_MAX];
	struct lwm2m_span pfx = { 0 };
	int r;

	if (bnlen > SENML_NAME_MAX || nlen > SENML_NAME_MAX - bnlen || bnlen + nlen == 0)
		return -EBADMSG;
	if (bnlen)
		memcpy(name, bn, bnlen);
	if (nlen)
		memcpy(name + bnlen, n, nlen);
	/* Names are absolute paths in LwM2M: "/3/0/1", never "3/0/1". */
	if (name[0] != '/')
		return -EBADMSG;
	r = lwm2m_path_parse(name, bnlen + nlen, p, &pfx);
	if (r < 0)
		return -EBADMSG;
	if (pfx.len && !prefix)
		return -EBADMSG;
	if (pfx.len) {
		/* pfx points into the local buffer: keep a copy. */
		pfx.ptr = lwm2m_records_dup(arena_owner, pfx.ptr, pfx.len);
		if (!pfx.ptr)
			return -ENOMEM;
	}
	if (prefix)
		*prefix = pfx;
	return 0;
}

int lwm2m_senml_time(bool has_bt, double bt, bool has_t, double t, double *out)
{
	double v = (has_bt ? bt : 0) + (has_t ? t : 0);

	if (!isfinite(v))
		return -ERANGE;
	*out = v == 0 ? 0 : v; /* -0 + -0 is -0 */
	return 0;
}
