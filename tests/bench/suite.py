#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The benchmark suite (issue 13): every benchmark of tests/bench, one table.

Each figure is printed beside its baseline, measured in the same run on the
same machine (a broker round trip, a bare libcoap loop, the other mode, the
configured rate, the path a change replaced), and the ratio of the two; a
figure whose yardstick is a target of issue 13 rather than a measurement
says "target". Failed registrations and lost notifications are counted by
the benchmarks that can have them and printed as rows of their own, never
hidden. Nothing about time is asserted: a slow machine prints slow figures.

Sizes: FG_BENCH_SIZE=full (default: the sizes of issue 13, for a quiet
machine) or small (a few devices, short windows: the normal test suite's
check that every figure is produced, see tests/bench/meson.build).
FG_BENCH_N overrides the number of devices of the notify, idle and scale
benchmarks (a shared machine: say so beside the figures).

Exit status: 0 when every figure was produced, 1 otherwise (the missing
ones are named). With --check, nothing else is checked either: the counts
of failures are figures too, printed.

Usage: suite.py BUILD_DIR [--check] [benchmark ...]
       (benchmarks: mqtt latency-load read notify idle scale remote outage observe-churn observe
        sample modbus ble: every one of meson test --benchmark)
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "mqtt"))
sys.path.insert(0, os.path.join(HERE, "gateway"))

SMALL = os.environ.get("FG_BENCH_SIZE") == "small"
N = int(os.environ.get("FG_BENCH_N") or (20 if SMALL else 10000))


class Table:
    def __init__(self):
        self.rows = []  # (benchmark, figure, value, unit, baseline name, baseline value, kind)
        self.missing = []

    def add(self, bench, figure, value, unit, base_name=None, base=None, kind="same run"):
        """kind: 'same run' (the baseline was measured in this run),
        'target' (issue 13's), 'configured' (a setting of the run),
        'expected' (what the configuration implies), 'count' (a count of
        failures: no baseline, 0 is right)."""
        if value is None:
            self.missing.append("%s: %s" % (bench, figure))
        self.rows.append((bench, figure, value, unit, base_name, base, kind))

    def count(self, bench, figure, value):
        self.add(bench, figure, value, "", kind="count")

    def print(self, out=sys.stdout):
        def num(v):
            if v is None:
                return "MISSING"
            if isinstance(v, int):
                return "%d" % v
            return "%.3g" % v if abs(v) < 100 else "%.0f" % v

        w = max([len(r[1]) for r in self.rows] + [10])
        bw = max([len(r[4] or "") for r in self.rows] + [8])
        print("%-8s %-*s %10s %-7s  %-*s %10s %7s" % ("bench", w, "figure", "value", "unit", bw, "baseline",
                                                      "baseline", "ratio"), file=out)
        for bench, fig, v, unit, bname, b, kind in self.rows:
            ratio = ""
            if v is not None and b:
                ratio = "%.2f" % (v / b)
            bcol = "" if kind == "count" else (bname or "-")
            if kind not in ("same run", "count"):
                bcol += " (%s)" % kind
            print("%-8s %-*s %10s %-7s  %-*s %10s %7s" % (bench, w, fig, num(v), unit, bw, bcol,
                                                          "" if b is None else num(b), ratio), file=out)


def run_c(exe):
    """A C benchmark's output (they print figures as text)."""
    return subprocess.run([exe], capture_output=True, text=True, timeout=600, check=True).stdout


def num_after(text, pattern):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def bench_mqtt(t, b):
    import bench_mqtt
    f = bench_mqtt.measure(b.fieldgate, b.exe("tests/bench/mqtt/bench_coap_notify"))
    b50, b99 = min(f["b50"], f["b2_50"]), min(f["b99"], f["b2_99"])
    t.add("mqtt", "publish->Notify p50 (raw server end)", f["r50"], "us", "broker round trip p50", b50)
    t.add("mqtt", "publish->Notify p99 (raw server end)", f["r99"], "us", "broker round trip p99", b99)
    t.add("mqtt", "fieldgate adds p50", f["r50"] - b50, "us", "issue 13 target 3", 100.0, kind="target")
    t.add("mqtt", "fieldgate adds p99", f["r99"] - b99, "us", "issue 13 target 3", 1000.0, kind="target")
    t.add("mqtt", "publish->Notify p50 (fg-lwm2m-server)", f["g50"], "us", "bare libcoap notify p50", f["c50"])
    t.add("mqtt", "burst through fieldgate", f["g_rate"], "upd/s", "broker burst", f["b_rate"])
    t.count("mqtt", "lost notifications", f["lost"])


def bench_latency_load(t, b):
    import bench_latency_load as bl
    f = bl.measure(b.fieldgate)
    load = "%d upd/s over %d resources" % (f["rate"], f["n"])
    t.add("latency", "load achieved (%s)" % load, f["achieved"], "upd/s", "configured rate", f["rate"],
          kind="configured")
    t.add("latency", "publish->Notify p50 under load", f["g50"], "us", "broker round trip p50, same probes", f["b50"])
    t.add("latency", "publish->Notify p99 under load", f["g99"], "us", "broker round trip p99, same probes", f["b99"])
    for q in ("50", "99"):
        t.add("latency", "publish->Notify p%s at the kernel" % q, f["k" + q], "us",
              "broker round trip p%s at the kernel" % q, f["bk" + q])
    for q in ("50", "99"):  # the subscriber mosquitto serves after fieldgate
        t.add("latency", "publish->Notify p%s at the kernel" % q, f["k" + q], "us",
              "p%s, subscriber served after fieldgate" % q, f["lk" + q])
    # The headline (bench_latency_load.py's header): per probe, over the
    # midpoint of the subscribers served just before and just after
    # fieldgate, then the percentile.
    t.add("latency", "fieldgate adds p50 under load", f["a50"], "us", "issue 13 target 3", 100.0, kind="target")
    t.add("latency", "fieldgate adds p99 under load", f["a99"], "us", "issue 13 target 3", 1000.0, kind="target")
    t.count("latency", "lost notifications (probes)", f["lost"])
    t.count("latency", "folded updates (no pmin: none allowed)", f["folded"])
    t.count("latency", "datagrams the observer's socket dropped", f["obs_drops"])
    t.count("latency", "Observes that failed", f["observe_failed"])


def bench_notify_scale(t, b):
    import bench_notify_scale
    few = 5 if SMALL else 10
    res = bench_notify_scale.measure(b.fieldgate, [few, N])
    (r1, p1, _, lost1, unreg1), (r2, p2, _, lost2, unreg2) = res[few], res[N]
    t.add("notify", "paced Notify rate, %d endpoints registered" % N, r2, "1/s", "%d registered" % few, r1)
    t.add("notify", "publish->Notify p50, %d endpoints registered" % N, p2, "us", "%d registered" % few, p1)
    t.count("notify", "lost notifications", lost1 + lost2)
    t.count("notify", "failed registrations", unreg1 + unreg2)


def bench_idle(t, b):
    import bench_idle
    from mqttpeer import Broker
    import test_devices
    test_devices.FIELDGATE = b.fieldgate
    # Two Update periods from 1.5 periods after the registrations
    # (bench_idle.py): two whole rounds of Updates, the steady state.
    window = float(os.environ.get("FG_BENCH_IDLE_S", 3 if SMALL else 2 * bench_idle.UPDATE_PERIOD))
    res = {}
    tmp = tempfile.mkdtemp(prefix="fg-bench-suite-")
    try:
        with Broker(tmp) as broker:
            for mode in ("endpoint", "gateway"):
                res[mode] = bench_idle.run("this", broker, N, mode, window, None)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    e, g = res["endpoint"], res["gateway"]
    t.add("idle", "idle CPU, endpoint mode, N=%d" % N, e[1], "% core", "gateway mode, same N", g[1])
    t.add("idle", "wake-ups, endpoint mode, N=%d" % N, e[2], "1/min", "gateway mode, same N", g[2])
    # One Update per endpoint every lifetime - max(lifetime/10, 10 s) = 50 s
    # (lwm2m/client/register.c, fg_ep_update_at): N per 50 s.
    t.add("idle", "Updates seen by the server, endpoint", e[3], "", "N per 50 s (lifetime 60 s)",
          1.0 * N * window / bench_idle.UPDATE_PERIOD, kind="expected")
    t.count("idle", "Registers again in the window", e[4] + g[4])
    t.count("idle", "Updates refused, registrations expired", e[5] + g[5])
    t.count("idle", "failed registrations (not registered at the end)", e[6] + g[6])
    t.count("idle", "Registers/Updates the server got twice", e[8] + g[8])


def bench_scale(t, b):
    import bench_scale
    from mqttpeer import Broker
    import test_devices
    test_devices.FIELDGATE = b.fieldgate
    res = {}
    tmp = tempfile.mkdtemp(prefix="fg-bench-suite-")
    try:
        with Broker(tmp) as broker:
            for mode in ("endpoint", "gateway"):
                res[mode] = bench_scale.run(b.fieldgate, broker, N, mode)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    per_dev = {mode: (r[3] - r[2]) / N for mode, r in res.items()}
    t.add("scale", "registration pace at the server, endpoint, N=%d" % N, res["endpoint"][7], "1/s",
          "register_rate", 1000.0, kind="configured")
    for mode, r in res.items():
        t.add("scale", "publish -> all registered, %s mode" % mode, N / r[0], "dev/s", "register_rate", 1000.0,
              kind="configured")
    t.add("scale", "memory per device, endpoint mode", per_dev["endpoint"], "KiB", "issue 13 target 4", 3.0,
          kind="target")
    t.add("scale", "memory per device, gateway mode", per_dev["gateway"], "KiB", "issue 13 target 4", 2.0,
          kind="target")
    e, g = res["endpoint"], res["gateway"]
    rounds = bench_scale.ROUNDS
    t.add("scale", "CPU per MQTT sample, endpoint mode", e[6] * 1e6 / (rounds * N * 4), "us",
          "gateway mode, same N", g[6] * 1e6 / (rounds * N * 4))
    t.memory = per_dev


def bench_read(t, b):
    import bench_read
    import shutil
    coap_server = shutil.which("coap-server-openssl") or shutil.which("coap-server")
    gw, bare = bench_read.measure(b.fieldgate, coap_server)
    t.add("read", "cached Read, 1 in flight", gw["rate1"], "req/s", "bare libcoap server", bare["rate1"])
    t.add("read", "cached Read p50", gw["p50"], "us", "bare libcoap server", bare["p50"])
    t.add("read", "cached Read, %d in flight" % bench_read.WINDOW, gw["rate"], "req/s", "bare libcoap server",
          bare["rate"])
    t.count("read", "Reads without an answer", gw["lost"] + bare["lost"])


def bench_remote(t, b):
    import bench_remote
    import test_devices
    test_devices.FIELDGATE = b.fieldgate
    small, big = (5, 20) if SMALL else (100, 5000)
    m_small, r_small, _ = bench_remote.run(small)
    m_big, r_big, _ = bench_remote.run(big)
    t.add("remote", "Create on 26242 with %d devices" % big, m_big, "ms", "with %d devices" % small, m_small)
    t.add("remote", "Read /26242 with %d devices" % big, r_big, "ms", "with %d devices" % small, r_small)


def client_test_env(b):
    """What tests/lwm2m/meson.build gives its benchmarks (client_test_env)."""
    src = os.path.dirname(os.path.dirname(HERE))
    env = dict(os.environ, FG_CLIENT_TEST=b.exe("tests/lwm2m/fg-lwm2m-client-test"),
               FG_LWM2M_SERVER=b.exe("tests/lwm2m-server/fg-lwm2m-server"))
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(src, "tests", "lwm2m"),
                                         os.path.join(src, "tests", "lwm2m-server")] +
                                        [p for p in [os.environ.get("PYTHONPATH")] if p])
    return env


def run_py(b, script, *args):
    """A Python benchmark's output; its exit status is not checked (what it
    counts is printed: the figures it did not print are missing)."""
    r = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(HERE), script)] + list(args),
                       capture_output=True, text=True, timeout=600, env=client_test_env(b))
    if r.returncode:
        sys.stderr.write(r.stderr[-2000:])
    return r.stdout


def bench_outage(t, b):
    out = run_py(b, "lwm2m/bench_outage.py")
    m = re.search(r"values: (\d+) sent, (\d+) delivered", out)
    t.add("outage", "registered again after the server returned",
          num_after(out, r"registered again ([0-9.]+) s after"), "s", None, None)
    t.add("outage", "values delivered after the outage", int(m.group(2)) if m else None, "", "values sampled",
          int(m.group(1)) if m else None)
    t.count("outage", "values lost (not delivered)", int(m.group(1)) - int(m.group(2)) if m else None)
    dups = num_after(out, r"(\d+) delivered twice")
    t.count("outage", "values delivered twice", None if dups is None else int(dups))


def bench_observe_churn(t, b):
    out = run_py(b, "lwm2m/bench_observe_churn.py", "500" if SMALL else "20000")
    m = re.search(r"(\d+) KiB once they were cancelled, (\d+) KiB after all", out)
    t.add("churn", "client RSS after the Observe/cancel cycles", int(m.group(2)) if m else None, "KiB",
          "after the first batch", int(m.group(1)) if m else None)
    strays = num_after(out, r"strays at the server: (\d+)")
    t.count("churn", "observations outliving their cancellation", None if strays is None else int(strays))


def bench_observe(t, b):
    out = run_c(b.exe("tests/bench/bench_observe"))
    p50 = num_after(out, r"NOTIFY decision.*\n.*\n  latency: p50 ([0-9.]+) us")
    deferred = num_after(out, r"deferred by pmin[^:]*: p50 ([0-9.]+) us")
    t.add("observe", "change -> NOTIFY decision p50", p50, "us", "decision deferred by pmin p50", deferred)
    t.add("observe", "idle CPU with pmax 300, 100,000 obs.", num_after(out, r"3\. idle(?:.|\n)*?\(([0-9.]+) % of a core"),
          "% core", None, None)


def bench_sample(t, b):
    out = run_c(b.exe("tests/bench/bench_sample"))
    for mode, n, handle, name in re.findall(r"^  (endpoint|gateway) +(\d+) +\d+ +(\d+) +(\d+)$", out, re.M):
        t.add("sample", "CPU per sample, %s, N=%s" % (mode, n), float(handle), "ns", "by name (before handles)",
              float(name))
    if not re.search(r"^  endpoint ", out, re.M):
        t.add("sample", "CPU per sample", None, "ns")


def bench_wake(t, b):
    # The machine's floor under latency-load's p99 (bench_wake.c): a
    # sleeping process woken onto the other, idle CPU, against a wake-up
    # where the kernel chooses.
    out = run_c(b.exe("tests/bench/bench_wake"))
    row = r"^  %s +([0-9.]+) +[0-9.]+ +([0-9.]+) "
    chosen = re.search(row % "where the kernel chooses", out, re.M)
    across = re.search(row % "across CPUs", out, re.M)
    if across is None and "across CPUs: not measured" in out:
        return
    for i, q in ((1, "50"), (2, "99")):
        t.add("wake", "process wake-up across CPUs p%s" % q, float(across.group(i)) if across else None, "us",
              "where the kernel chooses p%s" % q, float(chosen.group(i)) if chosen else None)


def bench_modbus(t, b):
    out = run_c(b.exe("tests/bench/modbus/bench_modbus"))
    t.add("modbus", "poll cycle, coalesced", num_after(out, r"coalesced: .*cycle ([0-9.]+) ms mean"), "ms",
          "one request per point", num_after(out, r"one per point: .*cycle ([0-9.]+) ms mean"))
    errors = num_after(out, r"errors: (\d+)")
    t.count("modbus", "Modbus errors", None if errors is None else int(errors))


def bench_ble(t, b):
    out = run_c(b.exe("tests/bench/ble/bench_ble"))
    plain = num_after(out, r"BTHome plain.* ([0-9.]+) us/advert")
    t.add("ble", "BTHome encrypted (AES-CCM) decode", num_after(out, r"BTHome encrypted.* ([0-9.]+) us/advert"),
          "us", "BTHome plain", plain)
    t.add("ble", "RuuviTag format 5 decode", num_after(out, r"RuuviTag.* ([0-9.]+) us/advert"), "us",
          "BTHome plain", plain)


BENCHMARKS = {"mqtt": bench_mqtt, "latency-load": bench_latency_load, "read": bench_read, "notify": bench_notify_scale, "idle": bench_idle,
              "scale": bench_scale,
              "remote": bench_remote, "outage": bench_outage, "observe-churn": bench_observe_churn,
              "observe": bench_observe, "sample": bench_sample, "wake": bench_wake, "modbus": bench_modbus, "ble": bench_ble}


class Build:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.fieldgate = self.exe("gateway/fieldgate")

    def exe(self, rel):
        return os.path.join(self.path, rel)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    b = Build(args[0])
    os.environ.setdefault("FG_BUILD_DIR", b.path)
    names = args[1:] or list(BENCHMARKS)
    t = Table()
    t.memory = None
    t0 = time.monotonic()
    took = []
    for name in names:
        t1 = time.monotonic()
        try:
            BENCHMARKS[name](t, b)
        except Exception:  # a benchmark that broke: its figures are missing, the others still run
            traceback.print_exc()
            t.add(name, "(the benchmark failed, see above)", None, "")
        took.append("%s %.0f s" % (name, time.monotonic() - t1))
    print("\nfieldgate benchmark suite, size %s (N = %d for notify, idle and scale), %.0f s; %s" % (
        "small" if SMALL else "full", N, time.monotonic() - t0, b.fieldgate))
    t.print()
    print("time taken: " + ", ".join(took))
    if t.memory:
        print("memory per device: %.1f KiB (endpoint), %.1f KiB (gateway)" % (t.memory["endpoint"],
                                                                            t.memory["gateway"]))
    if t.missing:
        print("MISSING figures: " + "; ".join(t.missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
