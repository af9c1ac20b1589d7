#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What fieldgate costs while idle with N registered devices: N zigbee2mqtt
sensors are discovered through the MQTT bridge (mosquitto on loopback) and
register with fg-lwm2m-server at register_rate 1000, lifetime 60 s; once all
are registered, nothing more is published. The window is the steady
state: the endpoints registered within R seconds send their Updates in
rounds, one every UPDATE_PERIOD = 50 s (a tenth of the lifetime but at
least 10 s before it ends), each round R seconds long and a little later
each time (rounded up to a shared tick); the window opens one and a half
Update periods after the last registration (between the rounds: the
registrations and the first round are behind it) and lasts two Update
periods (100 s), so it holds two whole rounds, every endpoint's Update
twice, as long as R is under 25 s. In it the benchmark reads fieldgate's
CPU time and its context switches (wake-ups).

Printed for each program, mode and N: the seconds to register every device,
the idle CPU as % of one core, wake-ups per minute, the Updates the server
saw in the window and the number expected (N * window / 50 s; the reader
checks the window saw the steady rate), fieldgate's CPU time per Update (all of it divided by the Updates,
µs), the Registers (a registration lost and made again), the
Updates refused and registrations expired, and the devices not registered
at the end: counted and printed, never hidden; the CPU of the test
server (fg-lwm2m-server, one libcoap context for every registration) in
the window, and the Registers and Updates it got twice over the whole run
(a retransmission: its answer came later than ACK_TIMEOUT, so the server
or fieldgate was starved; answered again, not processed again), which say
whether it kept up. Prints figures, asserts nothing about time.

FG_BENCH_SIZE=small: N = 20, no wait and a 3 s window by default (the
suite's check that every figure is produced). FG_BENCH_LOG_LEVEL: fieldgate's log
level (default warning; at info the re-registrations' reasons show).

With FG_BENCH_BASELINE=PATH/TO/another/fieldgate (say, a build of the
commit before a change), each measurement is made with both programs in the
same run, alternately, against the same broker. FG_BENCH_IDLE_S sets the
window's length, FG_BENCH_WAIT_S the wait before it. FG_BENCH_PERF=PREFIX records the idle window of each run with
`perf record -g` into PREFIX-<program>-<mode>-<N>.data (perf's own cost is
then in the CPU figure: use it to find where the time goes, not to
compare). FG_BENCH_STRACE=PREFIX counts the window's system calls with
`strace -c -f` into PREFIX-<program>-<mode>-<N>.txt (the same caveat).

Usage: bench_idle.py PATH/TO/fieldgate [endpoint|gateway] [N ...]
       (default: both modes, N = 100 and 1000)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_scale import cpu_s, status_counts, wait, test_devices, Server, Broker  # noqa: E402
from bench_mqtt import Mqtt  # noqa: E402

LIFETIME = 60
# When fieldgate renews a registration of LIFETIME (register.c,
# fg_ep_update_at): max(LIFETIME / 10, 10 s) before it ends.
UPDATE_PERIOD = LIFETIME - max(LIFETIME / 10, 10)
SMALL = os.environ.get("FG_BENCH_SIZE") == "small"


def wakeups(pid):
    n = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                n += int(line.split()[1])
    return n


def run(label, broker, n, mode, idle_s, perf_prefix, wait_s=None, strace_prefix=None):
    """One measurement; returns (seconds to register, idle CPU %, wake-ups/min,
    Updates, Registers, rejected/expired, lost, server CPU %, retransmitted,
    Updates expected, µs of CPU per Update). wait_s: from the last
    registration to the window (default 1.5 Update periods)."""
    if wait_s is None:
        wait_s = 0.5 if SMALL else 1.5 * UPDATE_PERIOD
    srv = Server(stderr=subprocess.DEVNULL).start()
    gw = None
    try:
        body = ("host: 127.0.0.1\nport: %d\nqos: 0\ndiscovery:\n  max_devices: %d\n  rules:\n"
                "    - {topic: \"zigbee2mqtt/{device}\", profile: z2m-th-sensor, prefix: z-,"
                " require: [/temperature]}" % (broker.port, n))
        text = test_devices.bridge_config(srv.url, "broker", "mqtt", body, [],
                                          level=os.environ.get("FG_BENCH_LOG_LEVEL", "warning"))
        text = text.replace("  lifetime: 60s\n", "  lifetime: %ds\n  register_rate: 1000\n  mode: %s\n"
                            % (LIFETIME, mode))
        gw = test_devices.Gateway(text)
        wait(lambda: status_counts(gw) == (0, 0), 20, "the gateway")
        pub = Mqtt(broker.port, "bench-idle-pub")
        t0 = time.monotonic()
        for i in range(n):
            pub.publish("zigbee2mqtt/s%05d" % i, '{"temperature":%d.5,"humidity":40,"battery":90}' % (i % 40))
        wait(lambda: status_counts(gw) == (n, n), 300, "%d registrations" % n)
        t_reg = time.monotonic() - t0
        pub.close()
        # The registrations' answers, the first observations and the
        # first round of Updates are over before the window opens.
        time.sleep(wait_s)
        pid = gw.proc.pid
        perf = None
        if perf_prefix:
            perf = subprocess.Popen(["perf", "record", "-q", "-g", "-p", str(pid), "-o",
                                     "%s-%s-%s-%d.data" % (perf_prefix, label, mode, n)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif strace_prefix:
            perf = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o",
                                     "%s-%s-%s-%d.txt" % (strace_prefix, label, mode, n)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ev0, log0 = len(srv.events()), len(gw.log)
        c0, w0, s0, t0 = cpu_s(pid), wakeups(pid), cpu_s(srv.proc.pid), time.monotonic()
        time.sleep(idle_s)
        c1, w1, s1, t1 = cpu_s(pid), wakeups(pid), cpu_s(srv.proc.pid), time.monotonic()
        if perf:
            perf.send_signal(2)
            perf.wait()
        evs = srv.events()[ev0:]
        updates = sum(1 for e in evs if e.get("event") == "update")
        registers = sum(1 for e in evs if e.get("event") == "register")
        rejected = sum(1 for e in evs if e.get("event") in ("update-rejected", "expire"))
        retrans = sum(1 for e in srv.events() if e.get("event") in ("register-retransmission",
                                                                    "update-retransmission"))
        counts = status_counts(gw)
        lost = n - counts[1] if counts else n
        # What fieldgate said meanwhile (warnings and worse): why a
        # registration was made again, say.
        said = {}
        for line in gw.log[log0:]:
            key = line.split(": ", 1)[-1][:100]
            said[key] = said.get(key, 0) + 1
        for key, k in sorted(said.items(), key=lambda kv: -kv[1])[:5]:
            print("  %s %s N=%d: %d x %s" % (label, mode, n, k, key), file=sys.stderr)
        per_update = (c1 - c0) * 1e6 / updates if updates else float("nan")
        return (t_reg, (c1 - c0) * 100.0 / (t1 - t0), (w1 - w0) * 60.0 / (t1 - t0), updates, registers, rejected,
                lost, (s1 - s0) * 100.0 / (t1 - t0), retrans, n * (t1 - t0) / UPDATE_PERIOD, per_update)
    finally:
        if gw:
            gw.stop()
        srv.stop()


def main():
    fieldgate = os.path.abspath(sys.argv[1])
    modes = [m for m in ("endpoint", "gateway") if m in sys.argv[2:]] or ["endpoint", "gateway"]
    sizes = [int(x) for x in sys.argv[2:] if x.isdigit()] or ([20] if SMALL else [100, 1000])
    idle_s = float(os.environ.get("FG_BENCH_IDLE_S", 3 if SMALL else 2 * UPDATE_PERIOD))
    wait_s = float(os.environ.get("FG_BENCH_WAIT_S", 0.5 if SMALL else 1.5 * UPDATE_PERIOD))
    perf_prefix = os.environ.get("FG_BENCH_PERF")
    strace_prefix = os.environ.get("FG_BENCH_STRACE")
    baseline = os.environ.get("FG_BENCH_BASELINE")
    programs = [("this", fieldgate)]
    if baseline:
        programs = [("baseline", os.path.abspath(baseline))] + programs
    tmp = tempfile.mkdtemp(prefix="fg-bench-idle-")
    rows = []
    try:
        with Broker(tmp) as broker:
            for mode in modes:
                for n in sizes:
                    for label, program in programs:
                        test_devices.FIELDGATE = program
                        rows.append((label, mode, n) + run(label, broker, n, mode, idle_s, perf_prefix, wait_s,
                                                               strace_prefix))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("fieldgate idle with N registered zigbee2mqtt sensors (MQTT bridge, register_rate 1000,"
          " lifetime %d s, Update every %.0f s; window %.0f s from %.0f s after the last registration,"
          " loopback):" % (LIFETIME, UPDATE_PERIOD, idle_s, wait_s))
    for label, program in programs:
        print("  %-8s = %s" % (label, program))
    print("  %-8s %-9s %6s %12s %14s %14s %8s %9s %12s %10s %17s %6s %15s %14s" % (
        "program", "mode", "N", "register (s)", "idle CPU (%)", "wake-ups/min", "Updates", "expected",
        "us/Update", "Registers", "rejected/expired", "lost", "server CPU (%)", "retransmitted"))
    for label, mode, n, t_reg, cpu, wk, upd, regs, rej, lost, scpu, retrans, exp, per in rows:
        print("  %-8s %-9s %6d %12.2f %14.2f %14.0f %8d %9.0f %12.1f %10d %17d %6d %15.2f %14d" % (
            label, mode, n, t_reg, cpu, wk, upd, exp, per, regs, rej, lost, scpu, retrans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
