#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Notify throughput against the number of registered endpoints (issue 13
target 1: with 10,000 registered, >= 80 % of that with 10): N zigbee2mqtt
sensors discovered over MQTT register in endpoint mode with an LwM2M
server in this process (RawServer of bench_mqtt.py: one socket, no libcoap,
so the server's own cost does not grow with N); the server observes the
first sensor's temperature once fieldgate is idle, and PACED updates are
published one at a time,
each waited for as a notification. Printed for each N: notifications per
second and p50/p99 from publish to Notify; a notification that does not
come in 10 s is counted as lost. Prints figures, asserts nothing about
time. FG_BENCH_SIZE=small: N = 5 and 20, 30 updates.

Usage: bench_notify_scale.py PATH/TO/fieldgate [N ...]   (default 10 10000)
"""
import os
import shutil
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_mqtt import Mqtt, RawServer, pct, rawcoap, test_devices, Broker  # noqa: E402
from bench_scale import cpu_s, status_counts  # noqa: E402

SMALL = os.environ.get("FG_BENCH_SIZE") == "small"
PACED = 30 if SMALL else 3000


def settle(pid, limit=20):
    """Until fieldgate is idle (under 2 % of a core for half a second): it
    answers the last registrations' exchanges for a while after they are
    in, which is not the per-Notify cost this measures."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        c0 = cpu_s(pid)
        time.sleep(0.5)
        if cpu_s(pid) - c0 < 0.01:
            return


def run(fieldgate, broker, n):
    test_devices.FIELDGATE = fieldgate
    srv = RawServer()
    gw = None
    try:
        body = ("host: 127.0.0.1\nport: %d\nqos: 0\ndiscovery:\n  max_devices: %d\n  rules:\n"
                "    - {topic: \"zigbee2mqtt/{device}\", profile: z2m-th-sensor, prefix: z-,"
                " require: [/temperature]}" % (broker.port, n))
        text = test_devices.bridge_config("coap://127.0.0.1:%d" % srv.port, "broker", "mqtt", body, [],
                                          level="warning")
        text = text.replace("  lifetime: 60s\n", "  lifetime: 300s\n  register_rate: 1000\n  mode: endpoint\n")
        gw = test_devices.Gateway(text)
        pub = Mqtt(broker.port, "bench-notify-scale")
        deadline = time.monotonic() + 30
        while status_counts(gw) is None:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        # The bridge subscribes after the gateway answers status, and a
        # QoS 0 message published before that is gone: announce the first
        # sensor until it is discovered, then the others.
        deadline = time.monotonic() + 30
        while (status_counts(gw) or (0, 0))[0] < 1:
            assert time.monotonic() < deadline, "the bridge did not discover the first sensor"
            pub.publish("zigbee2mqtt/s00000", '{"temperature":0.5}')
            time.sleep(0.2)
        for i in range(1, n):
            pub.publish("zigbee2mqtt/s%05d" % i, '{"temperature":%d.5}' % (i % 40))
        names = {"gw-z-s%05d" % i for i in range(n)}
        deadline = time.monotonic() + 60 + n / 100
        while not names <= set(srv.eps):
            try:
                srv.serve_one(max(0.01, deadline - time.monotonic()))
            except socket.timeout:
                break
        registered = len(names & set(srv.eps))
        settle(gw.proc.pid)
        first = srv.observe("gw-z-s00000", "/3303/0/5700")
        if first["code"] != rawcoap.code(2, 5):
            raise AssertionError("Observe answered %s" % rawcoap.code_str(first["code"]))
        t0 = time.monotonic()
        lat, lost = srv.paced(pub, "zigbee2mqtt/s00000", PACED, 1000.0)
        rate = PACED / (time.monotonic() - t0)
        pub.close()
        return rate, pct(lat, 50) * 1e6, pct(lat, 99) * 1e6, lost, n - registered
    finally:
        if gw:
            srv.stop_gateway(gw)
        srv.close()


def measure(fieldgate, sizes):
    tmp = tempfile.mkdtemp(prefix="fg-bench-notify-scale-")
    try:
        with Broker(tmp) as broker:
            return {n: run(fieldgate, broker, n) for n in sizes}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    sizes = [int(x) for x in sys.argv[2:]] or ([5, 20] if SMALL else [10, 10000])
    res = measure(os.path.abspath(sys.argv[1]), sizes)
    print("Notify with N registered endpoints (MQTT sensors, endpoint mode), %d paced updates of one:" % PACED)
    print("  %6s %16s %10s %10s %6s %16s" % ("N", "notifications/s", "p50 (us)", "p99 (us)", "lost",
                                             "not registered"))
    for n, (rate, p50, p99, lost, unreg) in res.items():
        print("  %6d %16.0f %10.0f %10.0f %6d %16d" % (n, rate, p50, p99, lost, unreg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
