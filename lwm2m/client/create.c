/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Create and Delete handed to the endpoint's ops (lwm2m_endpoint_ops.create
 * and .delete): objects whose instances the application makes itself, such
 * as the gateway's Field Device object (26242), where a Create is a whole
 * configuration change that may be refused with a reason. dm.c asks these
 * first and does its own store-only Create and Delete when they leave the
 * request to it (-ENOSYS).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

void fg_location_path(coap_pdu_t *response, const struct lwm2m_span *prefix, uint16_t oid, uint16_t iid)
{
	char num[8];
	int n;

	if (prefix && prefix->len)
		coap_add_option(response, COAP_OPTION_LOCATION_PATH, prefix->len,
				(const uint8_t *)prefix->ptr);
	n = snprintf(num, sizeof(num), "%u", oid);
	coap_add_option(response, COAP_OPTION_LOCATION_PATH, (size_t)n, (const uint8_t *)num);
	n = snprintf(num, sizeof(num), "%u", iid);
	coap_add_option(response, COAP_OPTION_LOCATION_PATH, (size_t)n, (const uint8_t *)num);
}

/* An error answer with its reason as the diagnostic payload (RFC 7252
 * 5.5.2: no Content-Format, UTF-8 text for a human). */
static void refuse(coap_pdu_t *response, int err, const char *why)
{
	coap_pdu_set_code(response, (coap_pdu_code_t)lwm2m_errno_to_coap(err));
	if (why && *why)
		coap_add_data(response, strlen(why), (const uint8_t *)why);
}

void lwm2m_endpoint_diagnostic(struct lwm2m_endpoint *ep, const char *why)
{
	free(ep->diag);
	ep->diag = why && *why ? strdup(why) : NULL;
}

void fg_diag_attach(struct lwm2m_endpoint *ep, coap_pdu_t *response)
{
	if (!ep || !ep->diag)
		return;
	if (coap_pdu_get_code(response) >= COAP_RESPONSE_CODE(400))
		coap_add_data(response, strlen(ep->diag), (const uint8_t *)ep->diag);
	free(ep->diag);
	ep->diag = NULL;
}

/* The records in the defined types, as a Write gets them: a Create's
 * payload is decoded with the registry's types, but text and opaque
 * formats carry whatever the server sent. */
static int convert(const struct lwm2m_objdef *def, struct lwm2m_records *recs, char *why, size_t size)
{
	for (size_t i = 0; i < recs->n; i++) {
		struct lwm2m_record *rec = &recs->v[i];
		const struct lwm2m_resdef *rd = lwm2m_objdef_find_res(def, rec->path.id[LWM2M_RID]);
		struct lwm2m_value v;

		if (!rd) {
			snprintf(why, size, "object %u has no resource %u", def->oid,
				 rec->path.id[LWM2M_RID]);
			return -EINVAL;
		}
		if (rec->value.type == LWM2M_TYPE_NONE)
			continue;
		if (lwm2m_value_convert(&rec->value, rd->type, &v) < 0) {
			snprintf(why, size, "resource %u (%s): the value is not of its type", rd->rid,
				 rd->name);
			return -EINVAL;
		}
		rec->value = v;
	}
	return 0;
}

bool fg_create_by_ops(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_span *prefix,
		      uint16_t oid, int iid, struct lwm2m_records *recs, coap_pdu_t *response)
{
	const struct lwm2m_objdef *def = fg_objdef(ep, oid);
	char why[256] = "";
	int r;

	if (!ep->ops || !ep->ops->create || !def)
		return false;
	r = convert(def, recs, why, sizeof(why));
	if (r >= 0)
		r = ep->ops->create(ep->ops_ud, ep, dev, oid, iid, recs, why, sizeof(why));
	if (r == -ENOSYS)
		return false;
	if (r < 0 || r > LWM2M_ID_MAX) {
		refuse(response, r < 0 ? r : -EIO, why);
		return true;
	}
	fg_location_path(response, prefix, oid, (uint16_t)r);
	coap_pdu_set_code(response, COAP_RESPONSE_CODE(201));
	if (dev)
		lwm2m_device_objects_changed(dev);
	else
		lwm2m_endpoint_objects_changed(ep);
	return true;
}

int fg_delete_by_ops(struct lwm2m_endpoint *ep, struct lwm2m_device *dev, const struct lwm2m_path *path)
{
	if (!ep->ops || !ep->ops->delete)
		return -ENOSYS;
	return ep->ops->delete (ep->ops_ud, ep, dev, path);
}
