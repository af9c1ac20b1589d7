#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmark of the MQTT bridge's path, MQTT publish -> LwM2M Notify: a
publisher on loopback -> mosquitto -> fieldgate (the MQTT bridge, the
profile transform, the LwM2M client) -> fg-lwm2m-server observing the
value. Printed beside the raw ceilings of the two halves, measured in the
same run on the same machine:

  broker   a publisher -> mosquitto -> a subscriber (the same Python MQTT
           client as the publisher above: its overhead is in both figures)
  coap     a bare libcoap Observe loop (bench_coap_notify: one process,
           no LwM2M, no gateway)

For each: paced latency (one update in flight, p50/p99) and sustained
updates per second (a burst published as fast as possible, measured until
the last value is seen; the observation has no pmin, so every update is
its own notification, and their number is printed too: fewer would be
updates folded, which the specification does not allow here). A paced update
whose notification never comes (10 s) is counted as lost and printed, the
run goes on. Prints figures, asserts nothing about time.

FG_BENCH_SIZE=small: 30 paced updates and a burst of 300 (the suite's
check that every figure is produced, tests/bench/suite.py).

Usage: bench_mqtt.py PATH/TO/fieldgate PATH/TO/bench_coap_notify
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "gateway"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "mqtt"))
from fglwm2m import Server, records_by_path  # noqa: E402
import rawcoap  # noqa: E402
import test_devices  # noqa: E402
from mqttpeer import Broker  # noqa: E402

SMALL = os.environ.get("FG_BENCH_SIZE") == "small"
PACED = 30 if SMALL else 300
BURST = 300 if SMALL else 3000


class Mqtt:
    """The smallest MQTT 3.1.1 client the benchmark needs (QoS 0)."""

    def __init__(self, port, cid):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        body = b"\x00\x04MQTT\x04\x02\x00\x3c" + self._str(cid)
        self.s.sendall(b"\x10" + self._len(len(body)) + body)
        kind, _ = self._packet()
        assert kind == 0x20, "no CONNACK"

    @staticmethod
    def _str(s):
        b = s.encode() if isinstance(s, str) else s
        return struct.pack(">H", len(b)) + b

    @staticmethod
    def _len(n):
        out = b""
        while True:
            d, n = n % 128, n // 128
            out += bytes([d | (0x80 if n else 0)])
            if not n:
                return out

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _packet(self):
        h = self._read(1)[0]
        n, mul = 0, 1
        while True:
            b = self._read(1)[0]
            n += (b & 127) * mul
            mul *= 128
            if not b & 128:
                break
        return h & 0xF0, self._read(n)

    def publish(self, topic, payload):
        body = self._str(topic) + payload.encode()
        self.s.sendall(b"\x30" + self._len(len(body)) + body)

    def subscribe(self, topic):
        body = b"\x00\x01" + self._str(topic) + b"\x00"
        self.s.sendall(b"\x82" + self._len(len(body)) + body)
        kind, _ = self._packet()
        assert kind == 0x90, "no SUBACK"

    def receive(self):
        while True:
            kind, body = self._packet()
            if kind == 0x30:
                tl = struct.unpack(">H", body[:2])[0]
                return body[2:2 + tl].decode(), body[2 + tl:].decode()

    def close(self):
        self.s.close()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else 0.0


def bench_broker(port):
    sub, pub = Mqtt(port, "bench-sub"), Mqtt(port, "bench-pub")
    sub.subscribe("bench/rt")
    lat = []
    for i in range(PACED):
        t = time.monotonic()
        pub.publish("bench/rt", str(i))
        sub.receive()
        lat.append(time.monotonic() - t)
    t = time.monotonic()
    for i in range(BURST):
        pub.publish("bench/rt", str(i))
    for i in range(BURST):
        sub.receive()
    rate = BURST / (time.monotonic() - t)
    sub.close()
    pub.close()
    return rate, pct(lat, 50) * 1e6, pct(lat, 99) * 1e6


def gateway_text(server_uri, broker):
    """fieldgate's configuration: endpoint mode, one z2m-th-sensor over MQTT."""
    return ("gateway:\n  name: gw\n  profiles_path: %s\n  status_socket: @SOCK@\nlog:\n  level: warning\n"
            "lwm2m:\n  lifetime: 300s\n  servers:\n    - uri: %s\nbridges:\n  broker:\n    type: mqtt\n"
            "    host: 127.0.0.1\n    port: %d\n    qos: 0\ndevices:\n"
            "  - {name: th1, bridge: broker, address: th1, profile: z2m-th-sensor}\n"
            % (os.path.join(SOURCE, "mappings", "profiles"), server_uri, broker.port))


def bench_gateway(fieldgate, broker):
    test_devices.FIELDGATE = fieldgate
    srv = Server(stderr=subprocess.DEVNULL).start()
    gw = None
    try:
        gw = test_devices.Gateway(gateway_text(srv.url, broker))
        srv.wait_event("register", ep="gw-th1", timeout=15)
        pub = Mqtt(broker.port, "bench-gw-pub")
        deadline = time.monotonic() + 10
        while True:
            pub.publish("zigbee2mqtt/th1", '{"temperature":-1}')
            r = srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
            if r["code"] == "2.05" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        obs = srv.request("observe", ep="gw-th1", path="/3303/0/5700", timeout=10)
        assert obs["code"] == "2.05", obs

        def seen(v):
            return lambda e: records_by_path(e).get("/3303/0/5700") == v

        lat = []
        lost = 0
        for i in range(PACED):
            v = float(i) + 0.5
            t = time.monotonic()
            pub.publish("zigbee2mqtt/th1", '{"temperature":%s}' % v)
            try:
                srv.wait_event("notify", ep="gw-th1", timeout=10, where=seen(v))
                lat.append(time.monotonic() - t)
            except TimeoutError:
                lost += 1
        before = len(srv.events("notify"))
        t = time.monotonic()
        for i in range(BURST):
            pub.publish("zigbee2mqtt/th1", '{"temperature":%d}' % (10000 + i))
        try:
            srv.wait_event("notify", ep="gw-th1", timeout=60, where=seen(10000.0 + BURST - 1))
            rate = BURST / (time.monotonic() - t)
        except TimeoutError:
            lost += 1  # the burst's last value: what the folding must never drop
            rate = None
        notifies = len(srv.events("notify")) - before
        pub.close()
        return rate, pct(lat, 50) * 1e6, pct(lat, 99) * 1e6, notifies, lost
    finally:
        if gw:
            gw.stop()
        srv.stop()


class RawServer:
    """The smallest LwM2M server the latency figure needs, in this process
    on a plain UDP socket: it answers Register (Block1 too) and Update,
    observes one resource and takes the notifications as they arrive, so
    that the gateway's figure has the same measuring end as the broker's
    (no server process, no pipe, no thread between the datagram and the
    clock). CoAP framing: tests/lwm2m-server/rawcoap.py; one resource observed
    without Accept is notified as text/plain."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.eps = {}
        self.mid = 1
        self.notifies = 0

    def serve_one(self, timeout):
        """Answer one datagram; return it parsed with its address."""
        self.s.settimeout(timeout)
        d, addr = self.s.recvfrom(65536)
        m = rawcoap.decode(d)
        m["addr"] = addr
        path = rawcoap.uri_path(m)
        query = [v.decode() for v in rawcoap.opts(m, rawcoap.O_URI_QUERY)]
        block1 = rawcoap.opts(m, rawcoap.O_BLOCK1)
        if m["code"] == rawcoap.POST and path[:1] == ["rd"]:  # Register or Update
            if block1 and rawcoap.block(m)[1]:  # more blocks
                self.reply(m, rawcoap.code(2, 31), [(rawcoap.O_BLOCK1, block1[0])])  # Continue
            elif len(path) == 1:
                ep = next(q[3:] for q in query if q.startswith("ep="))
                self.eps[ep] = addr
                loc = str(len(self.eps)).encode()
                self.reply(m, rawcoap.code(2, 1), [(rawcoap.O_LOC_PATH, b"rd"), (rawcoap.O_LOC_PATH, loc)] +
                           [(rawcoap.O_BLOCK1, b) for b in block1])
            else:
                self.reply(m, rawcoap.code(2, 4))
        elif m["type"] == rawcoap.CON and m["code"] >= rawcoap.code(2, 0):  # a notification
            self.reply(m, 0)
        elif m["type"] == rawcoap.CON:  # anything else confirmable: 4.04
            self.reply(m, rawcoap.code(4, 4))
        return m

    def reply(self, m, code, opts=()):
        self.s.sendto(rawcoap.encode(rawcoap.ACK, code, m["mid"], m["token"] if code else b"", opts), m["addr"])

    def wait_registered(self, ep, timeout=15):
        deadline = time.monotonic() + timeout
        while ep not in self.eps:
            self.serve_one(max(0.01, deadline - time.monotonic()))

    def observe(self, ep, path, timeout=10):
        self.mid += 1
        self.token = b"bench"
        opts = [(rawcoap.O_OBSERVE, b"")] + [(rawcoap.O_URI_PATH, p.encode()) for p in path.strip("/").split("/")]
        self.s.sendto(rawcoap.encode(rawcoap.CON, rawcoap.GET, self.mid, self.token, opts), self.eps[ep])
        deadline = time.monotonic() + timeout
        while True:
            m = self.serve_one(max(0.01, deadline - time.monotonic()))
            if m["token"] == self.token and m["type"] == rawcoap.ACK:
                return m

    @staticmethod
    def value(m):
        # A single resource observed without Accept comes as text/plain.
        return float(m["payload"].decode())

    def wait_value(self, v, timeout=10):
        """The first notification carrying v, and when it arrived."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.serve_one(max(0.01, deadline - time.monotonic()))
            t = time.monotonic()
            if m["token"] == self.token and m["code"] == rawcoap.code(2, 5) and m["payload"]:
                self.notifies += 1
                if self.value(m) == v:
                    return t

    def paced(self, pub, topic, count, base=0.0):
        """count temperatures published on topic one at a time, each waited
        for as a notification: the latencies (s) and how many never came
        (10 s each)."""
        lat, lost = [], 0
        for i in range(count):
            v = base + i + 0.5
            t = time.monotonic()
            pub.publish(topic, '{"temperature":%s}' % v)
            try:
                lat.append(self.wait_value(v) - t)
            except socket.timeout:
                lost += 1
        return lat, lost

    def stop_gateway(self, gw):
        """Stop fieldgate, answering its De-registers meanwhile (4.04, which
        ends them at once): unanswered, each would wait out the shutdown
        time-out."""
        if gw.proc.poll() is None:
            gw.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while gw.proc.poll() is None and time.monotonic() < deadline:
            try:
                self.serve_one(0.05)
            except socket.timeout:
                pass
        gw.stop()

    def close(self):
        self.s.close()


def start_raw_gateway(fieldgate, broker, srv):
    """fieldgate in endpoint mode with one z2m-th-sensor over MQTT, its
    server the RawServer srv; returns once it registered."""
    test_devices.FIELDGATE = fieldgate
    gw = test_devices.Gateway(gateway_text("coap://127.0.0.1:%d" % srv.port, broker))
    try:
        srv.wait_registered("gw-th1")
    except BaseException:
        gw.stop()
        raise
    return gw


def bench_gateway_raw(fieldgate, broker):
    """publish -> mosquitto -> fieldgate -> Notify, taken by RawServer in this
    process: the same measuring end as bench_broker(), so the difference of
    the two is what fieldgate adds."""
    srv = RawServer()
    gw = None
    try:
        gw = start_raw_gateway(fieldgate, broker, srv)
        pub = Mqtt(broker.port, "bench-raw-pub")
        # The subscription may not be in place yet: publish until a value is
        # in the store (the Observe's answer carries it).
        deadline = time.monotonic() + 10
        while True:
            pub.publish("zigbee2mqtt/th1", '{"temperature":-1}')
            first = srv.observe("gw-th1", "/3303/0/5700")
            if first["code"] == rawcoap.code(2, 5):  # 4.04 while no value came
                break
            assert time.monotonic() < deadline, "no value reached the gateway"
            time.sleep(0.05)
        lat, lost = srv.paced(pub, "zigbee2mqtt/th1", PACED)
        pub.close()
        return pct(lat, 50) * 1e6, pct(lat, 99) * 1e6, lost
    finally:
        if gw:
            srv.stop_gateway(gw)
        srv.close()


def measure(fieldgate, coap_bench):
    """Every figure of this benchmark, as a dict (the suite's table and main()
    print them)."""
    f = {}
    tmp = tempfile.mkdtemp(prefix="fg-bench-mqtt-")
    try:
        with Broker(tmp) as broker:
            f["b_rate"], f["b50"], f["b99"] = bench_broker(broker.port)
            f["g_rate"], f["g50"], f["g99"], f["notifies"], lost_g = bench_gateway(fieldgate, broker)
            f["r50"], f["r99"], lost_r = bench_gateway_raw(fieldgate, broker)
            f["b2_rate"], f["b2_50"], f["b2_99"] = bench_broker(broker.port)
        f["lost"], f["lost_server"], f["lost_raw"] = lost_g + lost_r, lost_g, lost_r
        out = subprocess.run([coap_bench, "500" if SMALL else "5000"], capture_output=True, text=True,
                             timeout=120).stdout
        kv = dict(x.split("=") for x in out.split()[1:])
        f["c_rate"], f["c50"], f["c99"] = float(kv["rate"]), float(kv["p50_us"]), float(kv["p99_us"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return f


def main():
    f = measure(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
    b50, b99, r50, r99 = f["b50"], f["b99"], f["r50"], f["r99"]
    print("MQTT bridge path, loopback, %d paced updates and a burst of %d:" % (PACED, BURST))
    print("  %-44s %10s %12s %12s" % ("", "updates/s", "p50 (us)", "p99 (us)"))
    print("  %-44s %10.0f %12.0f %12.0f" % ("publish -> mosquitto -> fieldgate -> Notify", f["g_rate"] or 0.0,
                                           f["g50"], f["g99"]))
    print("  %-44s %10.0f %12.0f %12.0f" % ("ceiling: broker round trip alone", f["b_rate"], b50, b99))
    print("  %-44s %10.0f %12.1f %12.1f" % ("ceiling: bare libcoap notify loop (paced)", f["c_rate"], f["c50"],
                                           f["c99"]))
    print("  burst: %d notifications carried the %d updates (no pmin: one each)" % (f["notifies"], BURST))
    print("Measured at the same end as the broker's round trip (a raw CoAP server in the benchmark's")
    print("process instead of fg-lwm2m-server and its pipe), %d paced updates:" % PACED)
    print("  %-44s %10s %12.0f %12.0f" % ("publish -> mosquitto -> fieldgate -> Notify", "", r50, r99))
    print("  %-44s %10.0f %12.0f %12.0f" % ("broker round trip alone (again, now)", f["b2_rate"], f["b2_50"],
                                           f["b2_99"]))
    print("  fieldgate adds: p50 %.0f us, p99 %.0f us (each minus the broker's, better of the two"
          " broker runs)" % (r50 - min(b50, f["b2_50"]), r99 - min(b99, f["b2_99"])))
    print("  lost notifications (a paced update never notified, or the burst's last value): %d" % f["lost"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
