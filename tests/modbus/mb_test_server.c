/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Modbus TCP server with scripted faults, on libmodbus's own server API,
 * for the bridge's integration tests (a pymodbus server cannot stay silent
 * for one unit or refuse chosen addresses).
 *
 *   mb-test-server --port N [--dead UNIT]... [--exception ADDR:CODE]...
 *                  [--set TABLE:ADDR:VALUE]... [--ignore ADDR]... [--drip UNIT:MS]...
 *
 * Every unit id shares one data model (10000 entries per table; holding
 * register i and input register i start at i, coils and discrete inputs at
 * i % 2). A request from a --dead unit is never answered; a request whose
 * range covers a --exception address is answered with that exception code;
 * a write covering an --ignore address is acknowledged but changes nothing
 * (a device that silently refuses values: what read-back verification is for).
 * The answer to a --drip unit is sent one byte every MS ms, the first at
 * once (a slow device, or a slow line behind a gateway); like a device that
 * serves one request at a time, the server reads nothing meanwhile, but it
 * gives up when the client closes the connection, and then reports
 *   {"ts": ..., "event": "closed", "unit": 2, "sent": 5, "of": 13}
 * (bytes of the answer sent before the close was seen).
 * Each request is printed on stdout as one JSON line, flushed:
 *   {"ts": <CLOCK_MONOTONIC ms>, "unit": 1, "fc": 3, "addr": 0, "count": 10, "reply": "ok"}
 * with "reply": "ok", "exception", "drip" or "none"; and written values as
 *   {"ts":..., "unit":1, "fc":16, "addr":5, "count":2, "values":[1,2], ...}
 * "listening" is printed once the socket listens. One client at a time; a
 * closed connection is followed by the next accept.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define N 10000

static unsigned dead[32], ndead;
static struct {
	unsigned addr, code;
} exc[32];
static unsigned nexc;
static unsigned ignore[32], nignore;
static struct {
	unsigned unit, ms;
} drip[32];
static unsigned ndrip;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* libmodbus's own answer to query, sent one byte every ms ms: libmodbus
 * writes it into a socket pair first. false when the client closed the
 * connection meanwhile (reported; the caller accepts the next one). */
static bool drip_reply(modbus_t *ctx, const uint8_t *query, int len, modbus_mapping_t *map, unsigned unit,
		       unsigned ms)
{
	uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	int conn = modbus_get_socket(ctx), sp[2], n, i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		return true;
	modbus_set_socket(ctx, sp[0]);
	modbus_reply(ctx, query, len, map);
	modbus_set_socket(ctx, conn);
	n = (int)recv(sp[1], rsp, sizeof(rsp), MSG_DONTWAIT);
	close(sp[0]);
	close(sp[1]);
	for (i = 0; i < n; i++) {
		struct pollfd pf = { .fd = conn, .events = POLLRDHUP };
		/* Only the client's close (or an error) ends the wait early. */
		if (i > 0 && poll(&pf, 1, (int)ms) > 0)
			break;
		if (send(conn, rsp + i, 1, MSG_NOSIGNAL) != 1)
			break;
	}
	if (i == n)
		return true;
	printf("{\"ts\": %.3f, \"event\": \"closed\", \"unit\": %u, \"sent\": %d, \"of\": %d}\n", now_ms(),
	       unit, i, n);
	fflush(stdout);
	return false;
}

static int table_of(const char *s)
{
	static const char *const names[] = { "coil", "discrete", "input", "holding" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "dead", required_argument, NULL, 'd' },
		{ "exception", required_argument, NULL, 'e' },
		{ "set", required_argument, NULL, 's' },
		{ "ignore", required_argument, NULL, 'i' },
		{ "drip", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
	modbus_mapping_t *map;
	modbus_t *ctx;
	int port = 0, c, sock;

	map = modbus_mapping_new(N, N, N, N);
	if (!map)
		return 1;
	for (int i = 0; i < N; i++) {
		map->tab_registers[i] = (uint16_t)i;
		map->tab_input_registers[i] = (uint16_t)i;
		map->tab_bits[i] = (uint8_t)(i % 2);
		map->tab_input_bits[i] = (uint8_t)(i % 2);
	}
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char t[16];
		unsigned a, v;
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'd':
			if (ndead < 32)
				dead[ndead++] = (unsigned)atoi(optarg);
			break;
		case 'e':
			if (nexc < 32 && sscanf(optarg, "%u:%u", &exc[nexc].addr, &exc[nexc].code) == 2)
				nexc++;
			break;
		case 'r':
			if (ndrip < 32 && sscanf(optarg, "%u:%u", &drip[ndrip].unit, &drip[ndrip].ms) == 2)
				ndrip++;
			break;
		case 'i':
			if (nignore < 32)
				ignore[nignore++] = (unsigned)atoi(optarg);
			break;
		case 's':
			if (sscanf(optarg, "%15[a-z]:%u:%u", t, &a, &v) == 3 && a < N && table_of(t) >= 0) {
				switch (table_of(t)) {
				case 0:
					map->tab_bits[a] = (uint8_t)v;
					break;
				case 1:
					map->tab_input_bits[a] = (uint8_t)v;
					break;
				case 2:
					map->tab_input_registers[a] = (uint16_t)v;
					break;
				default:
					map->tab_registers[a] = (uint16_t)v;
					break;
				}
			}
			break;
		default:
			return 2;
		}
	}
	ctx = modbus_new_tcp("127.0.0.1", port);
	if (!ctx)
		return 1;
	sock = modbus_tcp_listen(ctx, 1);
	if (sock < 0) {
		fprintf(stderr, "listen: %s\n", modbus_strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		if (modbus_tcp_accept(ctx, &sock) < 0)
			return 1;
		for (;;) {
			int len = modbus_receive(ctx, query), hl = modbus_get_header_length(ctx);
			unsigned unit, fc, addr, count, code = 0;
			const char *reply = "ok";
			bool silent = false;
			unsigned slow = 0;

			if (len < 0)
				break; /* the client went away: wait for the next */
			if (len == 0)
				continue;
			unit = query[hl - 1];
			fc = query[hl];
			addr = (unsigned)query[hl + 1] << 8 | query[hl + 2];
			count = fc == 5 || fc == 6 ? 1 : (unsigned)query[hl + 3] << 8 | query[hl + 4];
			for (unsigned i = 0; i < ndead; i++)
				silent |= dead[i] == unit;
			for (unsigned i = 0; i < ndrip; i++)
				if (drip[i].unit == unit)
					slow = drip[i].ms;
			for (unsigned i = 0; i < nexc && !code; i++)
				if (exc[i].addr >= addr && exc[i].addr < addr + count)
					code = exc[i].code;
			if (silent)
				reply = "none";
			else if (code)
				reply = "exception";
			else if (slow)
				reply = "drip";
			printf("{\"ts\": %.3f, \"unit\": %u, \"fc\": %u, \"addr\": %u, \"count\": %u, "
			       "\"reply\": \"%s\"",
			       now_ms(), unit, fc, addr, count, reply);
			if (fc == 6)
				printf(", \"values\": [%u]", (unsigned)query[hl + 3] << 8 | query[hl + 4]);
			if (fc == 5)
				printf(", \"values\": [%u]", query[hl + 3] == 0xff ? 1u : 0u);
			if (fc == 16)
				for (unsigned i = 0; i < count && i < 123; i++)
					printf("%s%u", i ? ", " : ", \"values\": [",
					       (unsigned)query[hl + 6 + 2 * i] << 8 | query[hl + 7 + 2 * i]);
			if (fc == 16 && count)
				printf("]");
			printf("}\n");
			fflush(stdout);
			if (silent)
				continue;
			if (code)
				modbus_reply_exception(ctx, query, code);
			else if (slow) {
				if (!drip_reply(ctx, query, len, map, unit, slow))
					break;
			} else {
				bool ign = false;
				uint16_t saved[125];
				for (unsigned i = 0; i < nignore; i++)
					ign |= (fc == 6 || fc == 16) && ignore[i] >= addr &&
					       ignore[i] < addr + count;
				if (ign && addr + count <= N && count <= 125)
					memcpy(saved, map->tab_registers + addr, count * sizeof(uint16_t));
				modbus_reply(ctx, query, len, map);
				if (ign && addr + count <= N && count <= 125)
					memcpy(map->tab_registers + addr, saved, count * sizeof(uint16_t));
			}
		}
		modbus_close(ctx);
	}
}
