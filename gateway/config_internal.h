/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between the files of the configuration schema (config_*.c): the
 * custom key parsers and the section tables. Private to gateway/; the
 * public interface is gateway/gateway.h.
 */
#ifndef FIELDGATE_GATEWAY_CONFIG_INTERNAL_H
#define FIELDGATE_GATEWAY_CONFIG_INTERNAL_H

#include <stdbool.h>

#include "gateway/gateway.h"

/* config_validate.c: key parsers (schema_key.parse), each reports its own
 * error and returns -EINVAL. */
int gwc_check_name(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t);
int gwc_check_absolute_path(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
			    void *t);
int gwc_check_template(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t);
int gwc_parse_uri(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t);
int gwc_parse_psk_key(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t);
/* The same into a struct gw_psk_key * it allocates (freed by
 * gwc_free_psk_key_ptr(), the key's .free). */
int gwc_parse_psk_key_ptr(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t);
void gwc_free_psk_key_ptr(void *t);
/* A DNS name or an IP address (IPv6 without brackets). */
bool gwc_valid_server_name(const char *s);

/* config_lwm2m.c */
extern const struct schema_section gwc_gateway_section;
extern const struct schema_section gwc_log_section;
extern const struct schema_section gwc_lwm2m_section;
extern const struct schema_section gwc_metrics_section;
extern const struct schema_section gwc_update_section;
/* The update section's defaults that the table cannot give (custom keys),
 * also when the section is absent: called by the root check. */
void gwc_update_defaults(struct gw_update_config *u);

/* config_devices.c: the whole file. */
extern const struct schema_section gwc_root_section;

#endif
