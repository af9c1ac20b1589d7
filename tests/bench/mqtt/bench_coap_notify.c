/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ceiling of the CoAP half of the MQTT bridge benchmark: a bare libcoap
 * Observe loop on loopback, one process, no LwM2M and no gateway. A server
 * resource changes, libcoap sends the notification (NON), a client
 * observing it receives it, and the next change follows. Prints
 * "notifies/s" (paced: one change in flight) and the per-notification
 * latency p50/p99 in microseconds, as one line of key=value pairs that
 * bench_mqtt.py reads. Asserts nothing about time.
 *
 * Usage: bench_coap_notify [count]
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned counter, received;
static uint64_t sent_at, *lat;
static size_t nlat, maxlat;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_get(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req, const coap_string_t *q,
		   coap_pdu_t *resp)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%u", counter);

	(void)r;
	(void)s;
	(void)req;
	(void)q;
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
	coap_add_data(resp, (size_t)n, (const uint8_t *)buf);
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *recv,
				   const coap_mid_t mid)
{
	(void)s;
	(void)sent;
	(void)recv;
	(void)mid;
	if (sent_at && nlat < maxlat)
		lat[nlat++] = now_ns() - sent_at;
	sent_at = 0;
	received++;
	return COAP_RESPONSE_OK;
}

/* A free UDP port on loopback (network order), for the server endpoint. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = a.sin_port;
	if (fd >= 0)
		close(fd);
	return port;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned count = argc > 1 ? (unsigned)atoi(argv[1]) : 5000;
	coap_context_t *srv, *cli;
	coap_address_t addr;
	coap_endpoint_t *ep;
	coap_resource_t *res;
	coap_session_t *sess;
	coap_pdu_t *pdu;
	uint8_t tok[2] = { 1, 2 };
	uint64_t t0, t1;
	unsigned start;

	coap_startup();
	coap_set_log_level(LOG_WARNING);
	srv = coap_new_context(NULL);
	cli = coap_new_context(NULL);
	coap_address_init(&addr);
	addr.addr.sin.sin_family = AF_INET;
	addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.addr.sin.sin_port = free_port();
	addr.size = sizeof(struct sockaddr_in);
	ep = coap_new_endpoint(srv, &addr, COAP_PROTO_UDP);
	if (!srv || !cli || !ep)
		return 1;
	res = coap_resource_init(coap_make_str_const("v"), COAP_RESOURCE_FLAGS_NOTIFY_NON);
	coap_register_handler(res, COAP_REQUEST_GET, on_get);
	coap_resource_set_get_observable(res, 1);
	coap_add_resource(srv, res);
	sess = coap_new_client_session(cli, NULL, &addr, COAP_PROTO_UDP);
	coap_register_response_handler(cli, on_response);
	pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, coap_new_message_id(sess),
			    coap_session_max_pdu_size(sess));
	coap_add_token(pdu, sizeof(tok), tok);
	{
		uint8_t b[4];
		coap_add_option(pdu, COAP_OPTION_OBSERVE,
				coap_encode_var_safe(b, sizeof(b), COAP_OBSERVE_ESTABLISH), b);
	}
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 1, (const uint8_t *)"v");
	coap_send(sess, pdu);
	while (received == 0) {
		coap_io_process(srv, COAP_IO_NO_WAIT);
		coap_io_process(cli, COAP_IO_NO_WAIT);
	}
	maxlat = count;
	lat = calloc(count, sizeof(*lat));
	start = received;
	t0 = now_ns();
	while (received - start < count) {
		counter++;
		sent_at = now_ns();
		coap_resource_notify_observers(res, NULL);
		unsigned want = received + 1;
		uint64_t deadline = now_ns() + 1000000000u;
		while (received < want && now_ns() < deadline) {
			coap_io_process(srv, COAP_IO_NO_WAIT);
			coap_io_process(cli, COAP_IO_NO_WAIT);
		}
		if (received < want)
			break; /* a lost NON: stop counting */
	}
	t1 = now_ns();
	qsort(lat, nlat, sizeof(*lat), cmp);
	printf("coap_notify count=%u rate=%.0f p50_us=%.1f p99_us=%.1f\n", received - start,
	       (received - start) / ((t1 - t0) / 1e9), nlat ? lat[nlat / 2] / 1e3 : 0.0,
	       nlat ? lat[nlat * 99 / 100] / 1e3 : 0.0);
	free(lat);
	coap_session_release(sess);
	coap_free_context(cli);
	coap_free_context(srv);
	coap_cleanup();
	return 0;
}
