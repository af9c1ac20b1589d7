#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Read of a cached resource (issue 13 target 5): GET /3303/0/5700 of a
z2m-th-sensor whose value came over MQTT, sent by an LwM2M server in this
process (RawServer of bench_mqtt.py: the endpoint's session only hears its
server's address) to fieldgate in endpoint mode, beside the same GET
answered by a bare libcoap server (coap-server-openssl of libcoap3-bin,
the resource made with a PUT), measured in the same run by the same client
code.

For each: requests one at a time (p50 and p99 of the round trip, requests
per second), then with WINDOW requests in flight (requests per second). A
request without an answer in 5 s is counted as lost and printed. Prints
figures, asserts nothing about time. FG_BENCH_SIZE=small: 50 requests.

Usage: bench_read.py PATH/TO/fieldgate [PATH/TO/coap-server]
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_mqtt import Mqtt, RawServer, pct, rawcoap, start_raw_gateway, Broker  # noqa: E402

SMALL = os.environ.get("FG_BENCH_SIZE") == "small"
COUNT = 50 if SMALL else 2000
WINDOW = 8
PATH = ["3303", "0", "5700"]


class Getter:
    """GETs of one path from one socket, by message id."""

    def __init__(self, sock, peer):
        self.s, self.peer, self.mid, self.lost = sock, peer, 0, 0

    def _send(self):
        self.mid = (self.mid + 1) & 0xFFFF
        opts = [(rawcoap.O_URI_PATH, p.encode()) for p in PATH]
        self.s.sendto(rawcoap.encode(rawcoap.CON, rawcoap.GET, self.mid, b"r%d" % self.mid, opts), self.peer)
        return self.mid

    def _answers(self, timeout):
        """Answers (mid, code) until timeout with nothing."""
        self.s.settimeout(timeout)
        try:
            while True:
                d, addr = self.s.recvfrom(65536)
                if addr != self.peer:
                    continue
                m = rawcoap.decode(d)
                if m["type"] == rawcoap.ACK:
                    yield m["mid"], m["code"]
        except socket.timeout:
            return

    def paced(self, n):
        lat = []
        t0 = time.monotonic()
        for _ in range(n):
            t = time.monotonic()
            mid = self._send()
            for got, c in self._answers(5):
                if got == mid:
                    if c != rawcoap.code(2, 5):
                        raise AssertionError("GET answered %s" % rawcoap.code_str(c))
                    lat.append(time.monotonic() - t)
                    break
            else:
                self.lost += 1
        return n / (time.monotonic() - t0), pct(lat, 50) * 1e6, pct(lat, 99) * 1e6

    def windowed(self, n):
        t0 = time.monotonic()
        out = set(self._send() for _ in range(min(WINDOW, n)))
        sent, done = len(out), 0
        for got, _ in self._answers(5):
            if got in out:
                out.discard(got)
                done += 1
                if sent < n:
                    out.add(self._send())
                    sent += 1
                if not out:
                    break
        self.lost += len(out)
        return done / (time.monotonic() - t0)


def bench_gateway(fieldgate, broker):
    srv = RawServer()
    gw = None
    try:
        gw = start_raw_gateway(fieldgate, broker, srv)
        pub = Mqtt(broker.port, "bench-read-pub")
        g = Getter(srv.s, srv.eps["gw-th1"])
        # The subscription may not be in place yet: publish until the value
        # is in the store (4.04 while none came).
        deadline = time.monotonic() + 10
        while True:
            pub.publish("zigbee2mqtt/th1", '{"temperature":21.5}')
            mid = g._send()
            if any(c == rawcoap.code(2, 5) for got, c in g._answers(1) if got == mid):
                break
            assert time.monotonic() < deadline, "no value reached the gateway"
        pub.close()
        return g.paced(COUNT) + (g.windowed(COUNT), g.lost)
    finally:
        if gw:
            srv.stop_gateway(gw)
        srv.s.close()


def bench_bare(coap_server):
    """The same GET answered by libcoap's own example server."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([coap_server, "-A", "127.0.0.1", "-p", str(port), "-d", "4", "-v", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        g = Getter(s, ("127.0.0.1", port))
        opts = [(rawcoap.O_URI_PATH, p.encode()) for p in PATH]
        deadline = time.monotonic() + 10
        while True:  # until the server listens and has made the resource
            s.sendto(rawcoap.encode(rawcoap.CON, rawcoap.PUT, 60000, b"p", opts, b"21.5"), g.peer)
            if any(got == 60000 and c in (rawcoap.code(2, 1), rawcoap.code(2, 4)) for got, c in g._answers(0.2)):
                break
            assert time.monotonic() < deadline, "coap-server did not answer"
        return g.paced(COUNT) + (g.windowed(COUNT), g.lost)
    finally:
        s.close()
        proc.terminate()
        proc.wait()


def measure(fieldgate, coap_server):
    tmp = tempfile.mkdtemp(prefix="fg-bench-read-")
    try:
        with Broker(tmp) as broker:
            gw = bench_gateway(fieldgate, broker)
        bare = bench_bare(coap_server)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    keys = ("rate1", "p50", "p99", "rate", "lost")
    return dict(zip(keys, gw)), dict(zip(keys, bare))


def main():
    coap_server = sys.argv[2] if len(sys.argv) > 2 else shutil.which("coap-server-openssl") or "coap-server"
    gw, bare = measure(os.path.abspath(sys.argv[1]), coap_server)
    print("Read of a cached resource (GET /3303/0/5700), loopback, %d requests:" % COUNT)
    print("  %-36s %14s %10s %10s %16s %6s" % ("", "1 in flight/s", "p50 (us)", "p99 (us)",
                                             "%d in flight/s" % WINDOW, "lost"))
    for name, f in (("fieldgate (endpoint mode)", gw), ("bare libcoap server (coap-server)", bare)):
        print("  %-36s %14.0f %10.0f %10.0f %16.0f %6d" % (name, f["rate1"], f["p50"], f["p99"], f["rate"], f["lost"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
