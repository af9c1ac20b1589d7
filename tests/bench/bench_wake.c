/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The machine's floor under every Notify of `latency-load`: how long a
 * sleeping process takes to run after another process wakes it. fieldgate
 * is woken once per MQTT message (mosquitto writes, fieldgate sleeps in
 * epoll_wait); the broker round trips it is compared with are kernel
 * receive times, which need no process woken. On a VM a wake-up onto the
 * other, idle vCPU waits until the host runs that vCPU again, which this
 * measures without fieldgate, mosquitto or Python in the way.
 *
 * A writer sleeps 1 ms, stamps CLOCK_MONOTONIC and writes the stamp to a
 * pipe; the reader, asleep in read(), takes the difference. Two runs:
 * "where the kernel chooses" (no affinity: the reader often runs where the
 * writer just went to sleep) and "across CPUs" (reader and writer pinned
 * to two different CPUs, the reader's otherwise idle). Prints wake-up
 * latency percentiles in microseconds; asserts nothing about time.
 * FG_BENCH_SIZE=small: 300 wake-ups a run instead of 10,000.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* Reads n stamps and writes the n latencies, sorted, to out. */
static int reader(int fd, int cpu, size_t n, int out)
{
	double *d = calloc(n, sizeof(*d)), t;

	if (!d || pin(cpu) < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (read(fd, &t, sizeof(t)) != (ssize_t)sizeof(t))
			return 1;
		d[i] = now_us() - t;
	}
	qsort(d, n, sizeof(*d), cmp_double);
	if (write(out, d, n * sizeof(*d)) != (ssize_t)(n * sizeof(*d)))
		return 1;
	free(d);
	return 0;
}

/* One run: -1 for no affinity, else the reader's and writer's CPUs. */
static int run(const char *what, int rcpu, int wcpu, size_t n)
{
	const struct timespec period = { 0, 1000000 };
	int ping[2], back[2], status, ret = -1;
	double *d = calloc(n, sizeof(*d));
	size_t got = 0;
	pid_t pid;

	if (!d || pipe(ping) < 0 || pipe(back) < 0)
		goto out;
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		close(ping[1]);
		close(back[0]);
		_exit(reader(ping[0], rcpu, n, back[1]));
	}
	close(ping[0]);
	close(back[1]);
	if (pin(wcpu) < 0)
		fprintf(stderr, "bench_wake: cannot pin the writer to CPU %d: %s\n", wcpu, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		double t;

		nanosleep(&period, NULL);
		t = now_us();
		if (write(ping[1], &t, sizeof(t)) != (ssize_t)sizeof(t))
			break;
	}
	close(ping[1]);
	while (got < n * sizeof(*d)) {
		ssize_t r = read(back[0], (char *)d + got, n * sizeof(*d) - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(back[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    got != n * sizeof(*d)) {
		fprintf(stderr, "bench_wake: the reader of run '%s' failed\n", what);
		goto out;
	}
	printf("  %-28s %8.1f %8.1f %8.1f %8.1f %9.1f\n", what, d[n / 2], d[n * 9 / 10], d[n * 99 / 100],
	       d[n * 999 / 1000], d[n - 1]);
	ret = 0;
out:
	free(d);
	return ret;
}

int main(void)
{
	const char *size = getenv("FG_BENCH_SIZE");
	size_t n = size && strcmp(size, "small") == 0 ? 300 : 10000;
	int cpus[2], k = 0;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		perror("bench_wake: sched_getaffinity");
		return 1;
	}
	for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[k++] = c;
	printf("Wake-up of a sleeping process by a pipe write, once a millisecond, %zu a run (us):\n", n);
	printf("  %-28s %8s %8s %8s %8s %9s\n", "", "p50", "p90", "p99", "p99.9", "max");
	if (run("where the kernel chooses", -1, -1, n) < 0)
		return 1;
	if (k < 2) {
		printf("  across CPUs: not measured, this process may use one CPU only\n");
		return 0;
	}
	return run("across CPUs", cpus[0], cpus[1], n) < 0 ? 1 : 0;
}
