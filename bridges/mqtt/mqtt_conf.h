/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridges/mqtt/mqtt_conf.h — the MQTT bridge's body (one broker), as
 * documented in conf/fieldgate.yaml and docs/mqtt.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridges/mqtt/mqtt_auto.h"
#include "bridges/mqtt/mqtt_internal.h"

struct schema_ctx;

/* An auto-discovery rule: a message on topic whose {device} is unknown
 * creates a device of profile (named prefix + the capture), when the
 * payload has every JSON pointer of require. */
struct mqtt_rule {
	struct mqtt_template topic;
	char *profile, *prefix;
	char **require;
	size_t nrequire;
};

/* An availability topic: a message whose word (the payload as text, or the
 * string/boolean/number at pointer when the payload is JSON) is one of
 * offline makes the devices it names unreachable until one of online
 * comes. A template without captures names every device of the bridge
 * (zigbee2mqtt/bridge/state); with captures, the devices whose bound
 * captures match. Words compare without case. */
#define MQTT_AVAIL_MAX 8

struct mqtt_avail {
	struct mqtt_template topic;
	char *pointer; /* NULL: the payload's text only */
	char **online, **offline;
	size_t nonline, noffline;
};

/* The MQTT version spoken (key `protocol`). */
enum mqtt_protocol {
	MQTT_PROTO_AUTO = 0, /* 5, and 3.1.1 when the broker refuses 5 */
	MQTT_PROTO_V5,
	MQTT_PROTO_V311,
};

/* What a PUBLISH may take besides its payload, for the Maximum Packet Size
 * told to the broker: the fixed header (5), the longest topic (2 + 65535),
 * a packet id (2) and 4 KiB of MQTT 5 properties (their length, 4). */
#define MQTT_PACKET_ROOM (5u + 2u + 65535u + 2u + 4u + 4096u)

struct mqtt_conf {
	int protocol; /* enum mqtt_protocol */
	char *host;   /* a name or a numeric address */
	uint16_t port;
	char *client_id, *username, *password, *status_topic;
	bool tls, tls_verify;
	char *tls_ca, *tls_ca_path, *tls_cert, *tls_key;
	unsigned keepalive_s;
	bool clean_session;
	int qos; /* of the subscriptions */
	uint64_t reconnect_min_usec, reconnect_max_usec, ack_timeout_usec;
	uint64_t connect_timeout_usec; /* TCP + TLS + CONNACK */
	uint64_t ota_timeout_usec;     /* zigbee2mqtt's silence during a firmware check or update */
	size_t max_payload;
	uint64_t unreachable_usec; /* not heard for this long: unreachable (0: never) */
	struct mqtt_avail *avail;
	size_t navail;
	unsigned max_devices; /* discovery */
	uint64_t forget_usec; /* a discovered device not heard for this long goes (0: never) */
	struct mqtt_rule *rules;
	size_t nrules;
	bool z2m_on, ha_on; /* discovery.zigbee2mqtt / discovery.homeassistant */
	struct z2m_conf z2m;
	struct ha_conf ha;
};

/* Check a body, reporting through ctx (bridge_kind.verify). */
int mqtt_conf_verify(struct schema_ctx *ctx, const struct ynode *body);
/* Copy a verified body into out (owned; mqtt_conf_clear()). name is the
 * bridge's name (default client id fieldgate-<name>). */
int mqtt_conf_load(const char *name, const struct ynode *body, struct mqtt_conf *out);
void mqtt_conf_clear(struct mqtt_conf *c);
bool mqtt_host_is_numeric(const char *host);
/* What an availability message says: 1 online, 0 offline, -EINVAL neither
 * (the word, or why, in word). */
int mqtt_avail_word(const struct mqtt_avail *a, struct mqtt_payload *pl, char *word, size_t size);
