/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One poll cycle of a 100-register profile spread over 4 ranges (per range:
 * 5 float32 and 15 int16 points = 25 registers, 20 points), planned by the
 * bridge's planner and read through the real bus worker (mb_bus: worker
 * thread, queue, eventfd, sd-event) from a libmodbus TCP server on
 * loopback: Modbus transactions per cycle and cycle time, coalesced vs one
 * request per point, in the same run. Also the time the same transactions
 * would take on an RTU line at 9600 baud 8N1 (computed from frame sizes:
 * loopback TCP hides the per-request cost a serial line has). Prints
 * figures, asserts nothing about time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridges/modbus/mb_bus.h"
#include "bridges/modbus/mb_plan.h"

#define CYCLES 200
#define NPTS   80

static int server_sock = -1;

static void *server(void *arg)
{
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", 0);
	modbus_mapping_t *map = modbus_mapping_new(0, 0, 5000, 0);
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];

	(void)arg;
	modbus_set_socket(ctx, server_sock);
	for (;;) {
		int s = accept(server_sock, NULL, NULL);
		if (s < 0)
			break;
		modbus_set_socket(ctx, s);
		for (;;) {
			int n = modbus_receive(ctx, q);
			if (n < 0)
				break;
			if (n > 0)
				modbus_reply(ctx, q, n, map);
		}
		close(s);
	}
	modbus_mapping_free(map);
	modbus_free(ctx);
	return NULL;
}

struct run {
	sd_event *ev;
	unsigned pending, requests, errors;
};

static void on_done(void *ud, struct mb_job *j)
{
	struct run *r = ud;

	r->requests += j->requests;
	r->errors += j->err != 0;
	r->pending--;
	free(j);
}

static double cycle(struct mb_bus *bus, struct run *r, const struct mb_block *b, size_t nb)
{
	uint64_t t0 = mb_now_usec();

	for (size_t i = 0; i < nb; i++) {
		struct mb_job *j = calloc(1, sizeof(*j));
		if (!j)
			abort();
		*j = (struct mb_job){ .dev = 1,
				      .op = MB_OP_READ,
				      .table = MB_TABLE_HOLDING,
				      .unit = 1,
				      .addr = b[i].addr,
				      .count = b[i].count,
				      .timeout_usec = 1000000,
				      .poll = true };
		r->pending++;
		mb_bus_submit(bus, j);
	}
	while (r->pending)
		sd_event_run(r->ev, UINT64_MAX);
	return (double)(mb_now_usec() - t0) / 1000.0;
}

/* Seconds on a 9600 baud 8N1 line: request 8 bytes, answer 5 + 2n, 3.5
 * character times of silence after each frame. */
static double rtu_ms(const struct mb_block *b, size_t nb)
{
	double chars = 0;

	for (size_t i = 0; i < nb; i++)
		chars += 8 + 5 + 2.0 * b[i].count + 7;
	return chars * 10.0 / 9600.0 * 1000.0;
}

int main(void)
{
	struct mb_item it[NPTS];
	struct mb_block co[NPTS], pp[NPTS];
	struct mb_plan_limits lco = { .max_count = 125, .max_gap = 16 },
			      lpp = { .max_count = 125, .max_gap = -1 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct mb_conf conf = { .has_tcp = true,
				.tcp = { .host = "127.0.0.1" },
				.timeout_usec = 1000000,
				.reconnect_min_usec = 100000,
				.reconnect_max_usec = 1000000 };
	struct run r = { 0 };
	struct mb_bus *bus;
	pthread_t th;
	size_t nco, npp, n = 0;
	double tco = 0, tpp = 0, best_co = 1e9, best_pp = 1e9;
	unsigned rco, rpp;
	char port[8];
	int one = 1;

	/* 4 ranges of 25 registers: 5 float32 then 15 int16. */
	for (unsigned rg = 0; rg < 4; rg++) {
		uint16_t a = (uint16_t)(rg * 1000);
		for (unsigned i = 0; i < 5; i++, a += 2)
			it[n++] = (struct mb_item){ a, 2 };
		for (unsigned i = 0; i < 15; i++, a += 1)
			it[n++] = (struct mb_item){ a, 1 };
	}
	mb_items_sort(it, n);
	nco = mb_plan(it, n, &lco, NULL, 0, co);
	npp = mb_plan(it, n, &lpp, NULL, 0, pp);

	server_sock = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(server_sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(server_sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(server_sock, 1) < 0 ||
	    getsockname(server_sock, (struct sockaddr *)&sa, &sl) < 0) {
		perror("server");
		return 1;
	}
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	pthread_create(&th, NULL, server, NULL);
	conf.tcp.host = "127.0.0.1";
	conf.tcp.port = ntohs(sa.sin_port);
	sd_event_default(&r.ev);
	if (mb_bus_new(&(struct mb_bus_params){ .conf = &conf, .name = "bench", .done = on_done, .ud = &r },
		       r.ev, &bus) < 0) {
		fprintf(stderr, "bus: %s\n", strerror(errno));
		return 1;
	}
	(void)cycle(bus, &r, co, nco); /* connect, warm up */
	r.requests = 0;
	for (int c = 0; c < CYCLES; c++) {
		double t = cycle(bus, &r, co, nco);
		tco += t;
		best_co = t < best_co ? t : best_co;
	}
	rco = r.requests;
	r.requests = 0;
	for (int c = 0; c < CYCLES; c++) {
		double t = cycle(bus, &r, pp, npp);
		tpp += t;
		best_pp = t < best_pp ? t : best_pp;
	}
	rpp = r.requests;
	printf("modbus poll cycle: %zu points, 100 registers in 4 ranges, %d cycles each, TCP loopback via "
	       "the bus "
	       "worker\n",
	       n, CYCLES);
	printf("  coalesced:        %u transactions/cycle, cycle %.3f ms mean (%.3f ms best); RTU 9600 8N1 "
	       "would "
	       "take %.0f ms\n",
	       rco / CYCLES, tco / CYCLES, best_co, rtu_ms(co, nco));
	printf("  one per point:    %u transactions/cycle, cycle %.3f ms mean (%.3f ms best); RTU 9600 8N1 "
	       "would "
	       "take %.0f ms\n",
	       rpp / CYCLES, tpp / CYCLES, best_pp, rtu_ms(pp, npp));
	printf("  errors: %u\n", r.errors);
	mb_bus_free(bus);
	shutdown(server_sock, SHUT_RDWR);
	close(server_sock);
	sd_event_unref(r.ev);
	return r.errors ? 1 : 0;
}
