#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Modbus bridge's fault handling end to end, against mb-test-server
(libmodbus's own server API with scripted faults) and the LwM2M test
server: a unit that never answers costs the other unit on the bus at most
one timeout and is quarantined with backoff (reachability in /3/0/11/0,
counters in `fieldgate status`); Modbus exceptions become the right CoAP
codes for Writes and Executes; a block read that crosses a hole the device
rejects is split and the split is kept; an Execute pulses a coil; the
server killed and restarted -> polling resumes by itself.

Usage: test_modbus_faults.py PATH/TO/fieldgate PATH/TO/mb-test-server
"""
import os
import resource
import sys
import time

import mbtest
from mbtest import TWO_BLOCKS, Base, MbServer


def intervals(ts):
    return [b - a for a, b in zip(ts, ts[1:])]


class Faults(Base):
    def test_dead_unit_does_not_stall_the_bus(self):
        self.profile("two", TWO_BLOCKS)
        mb = self.mbserver(dead=[2])
        gw = self.tcp_gateway(mb, "timeout: 300ms\nbackoff_min: 1s\nbackoff_max: 2s",
                              [("alive", "two", 1), ("dead", "two", 2)])
        self.wait_value("gw-alive", "/3300/1/5700", lambda v: v.get("/3300/1/5700") == 1.0)
        self.wait_value("gw-dead", "/3/0/11", lambda v: v.get("/3/0/11/0") == 16)
        start = len(mb.requests())
        time.sleep(5)
        reqs = mb.requests()[start:]
        alive = [r["ts"] for r in reqs if r["unit"] == 1 and r["fc"] == 3]
        dead = [r for r in reqs if r["unit"] == 2]
        # The live unit keeps its 500 ms period: never late by more than
        # one timeout (300 ms), plus scheduling slack.
        self.assertGreaterEqual(len(alive), 8, alive)
        for d in intervals(alive):
            self.assertLess(d, 500 + 300 + 250, intervals(alive))  # two timeouts would be 1100
        # The dead one is quarantined: one probe per backoff (1 s, then 2 s
        # ...), one request each, instead of two requests every 500 ms.
        self.assertLessEqual(len(dead), 4, dead)
        self.assertGreaterEqual(len(dead), 2, dead)
        self.assertEqual({r["reply"] for r in dead}, {"none"})
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"unit=2 req=\d+ exc=0 crc=0 bad=0 timeout=[1-9]\d* quarantined", st)
        self.assertRegex(st, r"unit=1 req=\d+ exc=0 crc=0 bad=0 timeout=0", st)
        # A Write to the dead unit: 5.03 at once (quarantined: no bus time).
        t0 = time.monotonic()
        r = self.srv.request("write", ep="gw-dead", path="/3308/0/5900", value=3, type="float", timeout=10)
        self.assertEqual(r["code"], "5.03", r)
        self.assertLess(time.monotonic() - t0, 0.25)
        r = self.srv.request("write", ep="gw-alive", path="/3308/0/5900", value=3, type="float", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(self.read("gw-alive", "/3/0/11")["/3/0/11/0"], 0)

    def test_exceptions_holes_execute(self):
        self.profile("exc", """bridge: modbus
defaults: {poll: 500ms}
objects:
  /3/0:
    4: {execute: {table: coil, address: 20, value: 1, pulse: 200ms}}
    5: {execute: {table: holding, address: 50, value: 7}}
  /3300/0:
    5700: {source: {table: holding, address: 40}, raw: int16}
  /3300/1:
    5700: {source: {table: holding, address: 42}, raw: int16}
  /3300/2:
    5700: {source: {table: holding, address: 44}, raw: int16}
  /3300/3:
    5700: {source: {table: holding, address: 47}, raw: int16}
  /3300/4:
    5700: {source: {table: holding, address: 49}, raw: int16}
  /3308/0:
    5900: {source: {table: holding, address: 100}, raw: int16, write: {table: holding, address: 50}}
  /3308/1:
    5900: {source: {table: holding, address: 101}, raw: int16, write: {table: holding, address: 60}}
  /3308/2:
    5900: {source: {table: holding, address: 102}, raw: int16, write: {table: holding, address: 70}}
  /3308/3:
    5900: {source: {table: holding, address: 103}, raw: int16, write: {table: holding, address: 80}}
  /3308/4:
    5900: {source: {table: holding, address: 104}, raw: int16, write: {table: holding, address: 90}}
""")
        mb = self.mbserver(exceptions=[(45, 2), (50, 2), (60, 3), (70, 4), (80, 11), (90, 1)])
        gw = self.gateway("tcp: {host: 127.0.0.1, port: %d}\ntimeout: 300ms\nbackoff_min: 1s" % mb.port,
                          [{"name": "e", "profile": "exc", "address": 1}])
        self.srv.wait_event("register", ep="gw-e", timeout=20)
        want = {"/3300/%d/5700" % i: float(a) for i, a in enumerate((40, 42, 44, 47, 49))}
        self.wait_value("gw-e", "/3300", lambda v: all(v.get(p) == x for p, x in want.items()))
        gw.wait_log(r"refuses reading holding 40\.\.49 at once")
        # Once learned, the reads avoid register 45: 40-42, 44, 47-49.
        time.sleep(1.2)
        start = len(mb.requests())
        time.sleep(1.1)
        blocks = {(r["addr"], r["count"], r["reply"]) for r in mb.requests()[start:] if r["addr"] < 100}
        self.assertEqual(blocks, {(40, 3, "ok"), (44, 1, "ok"), (47, 3, "ok")})

        codes = {}
        # 80 (gateway target failed) last: it quarantines the unit.
        for k in (0, 1, 2, 4, 3):
            r = self.srv.request("write", ep="gw-e", path="/3308/%d/5900" % k, value=5.0, type="float", timeout=10)
            codes[k] = r["code"]
        # illegal address 4.04, illegal value 4.00, device failure 5.00,
        # gateway target failed 5.03, illegal function 4.05.
        self.assertEqual(codes, {0: "4.04", 1: "4.00", 2: "5.00", 3: "5.03", 4: "4.05"})
        # Quarantined by 0x0B: an Execute answers 5.03 at once.
        r = self.srv.request("execute", ep="gw-e", path="/3/0/5", timeout=10)
        self.assertEqual(r["code"], "5.03", r)
        self.wait_value("gw-e", "/3/0/11", lambda v: v.get("/3/0/11/0") == 0)  # the probe succeeded
        r = self.srv.request("execute", ep="gw-e", path="/3/0/5", timeout=10)
        self.assertEqual(r["code"], "4.04", r)
        # Execute: a 200 ms pulse on coil 20; answered after both writes.
        n = len(mb.requests())
        t0 = time.monotonic() * 1000
        r = self.srv.request("execute", ep="gw-e", path="/3/0/4", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertGreaterEqual(r["ts"] - t0, 190)
        # The server reports a request after answering it: wait for the
        # report of the second write.
        mb.wait_request(lambda x: x["fc"] == 5 and x["values"] == [0], timeout=5, start=n)
        w = [x for x in mb.requests()[n:] if x["fc"] == 5]
        self.assertEqual([(x["addr"], x["values"]) for x in w], [(20, [1]), (20, [0])])
        self.assertGreaterEqual(w[1]["ts"] - w[0]["ts"], 190)
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"unit=1 req=\d+ exc=([6-9]|\d\d+) ", st)

    def test_write_verify(self):
        # Register 5 acknowledges writes and keeps its value: only a read-back tells.
        self.profile("ver", """bridge: modbus
defaults: {poll: 1h}
objects:
  /3308/0:
    5900: {source: {table: holding, address: 5}, raw: int16, write: {table: holding, address: 5, verify: true}}
  /3308/1:
    5900: {source: {table: holding, address: 5}, raw: int16, writable: true}
  /3308/2:
    5900: {source: {table: holding, address: 6}, raw: uint16, write: {table: holding, address: 6, verify: true,
           function: 16}}
""")
        mb = self.mbserver(ignore=[5])
        self.gateway("tcp: {host: 127.0.0.1, port: %d}" % mb.port, [{"name": "v", "profile": "ver", "address": 1}])
        self.srv.wait_event("register", ep="gw-v", timeout=20)
        n = len(mb.requests())
        r = self.srv.request("write", ep="gw-v", path="/3308/0/5900", value=9, type="float", timeout=10)
        self.assertEqual(r["code"], "5.00", r)  # written, read back 5: not what was written
        mb.wait_request(lambda x: x["fc"] == 3 and x["addr"] == 5, timeout=5, start=n)
        self.assertEqual([(x["fc"], x["addr"]) for x in mb.requests()[n:]], [(6, 5), (3, 5)])
        r = self.srv.request("write", ep="gw-v", path="/3308/1/5900", value=9, type="float", timeout=10)
        self.assertEqual(r["code"], "2.04", r)  # without verify the device's word is taken
        n = len(mb.requests())
        r = self.srv.request("write", ep="gw-v", path="/3308/2/5900", value=9, type="float", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        mb.wait_request(lambda x: x["fc"] == 3 and x["addr"] == 6, timeout=5, start=n)
        self.assertEqual([(x["fc"], x["addr"], x.get("values")) for x in mb.requests()[n:]],
                         [(16, 6, [9]), (3, 6, None)])

    def test_server_restart(self):
        self.profile("two", TWO_BLOCKS)
        mb = MbServer()
        port = mb.port
        try:
            gw = self.gateway("tcp: {host: 127.0.0.1, port: %d}\ntimeout: 300ms\nreconnect_min: 100ms\n"
                              "reconnect_max: 400ms" % port,
                              [{"name": "r", "profile": "two", "address": 1}])
            self.srv.wait_event("register", ep="gw-r", timeout=20)
            self.wait_value("gw-r", "/3300/1/5700", lambda v: v.get("/3300/1/5700") == 1.0)
            obs = self.srv.request("observe", ep="gw-r", path="/3/0/11/0", timeout=10)
            self.assertEqual(obs["code"], "2.05", obs)
        finally:
            mb.stop()
        self.srv.wait_event("notify", ep="gw-r", where=lambda e: e.get("records", [{}])[0].get("value") == 16,
                            timeout=10)
        gw.wait_log(r"Modbus bus: server 127\.0\.0\.1 unreachable")
        time.sleep(1.5)  # several reconnect attempts fail (backoff up to 400 ms)
        mb2 = self.mbserver(port=port, sets=[("holding", 1, 4242)])
        mb2.wait_request(lambda r: r["fc"] == 3, timeout=5)
        self.srv.wait_event("notify", ep="gw-r", where=lambda e: e.get("records", [{}])[0].get("value") == 0,
                            timeout=10)
        self.wait_value("gw-r", "/3300/1/5700", lambda v: v.get("/3300/1/5700") == 4242.0)
        gw.wait_log(r"Modbus bus: server 127\.0\.0\.1 connected")

    def test_reconnect_among_a_thousand_endpoints(self):
        # Endpoint mode, 1100 more devices: as many UDP sockets, so a socket
        # opened now gets a number above 1023. libmodbus waits with select(),
        # which cannot take one (glibc aborts the process): the bridge keeps
        # the bus's socket on a low number, reconnects included.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 1300:
            self.skipTest("the hard open files limit (%d) keeps every descriptor below 1024" % hard)
        self.profile("two", TWO_BLOCKS)
        mb = MbServer()
        port = mb.port
        many = 1100
        text = mbtest.config(self.tmp, self.srv.url, "tcp: {host: 127.0.0.1, port: %d}\ntimeout: 300ms\n"
                             "reconnect_min: 100ms\nreconnect_max: 400ms" % port,
                             [{"name": "r", "profile": "two", "address": 1}], self.profiles)
        text += "".join("  - {name: d%04d, profile: demo-sensor}\n" % i for i in range(many))
        text = text.replace("  lifetime: 60s\n", "  lifetime: 60s\n  register_rate: 1000\n")
        self.assertIn("register_rate: 1000", text)
        # Started with the usual soft limit: fieldgate raises it itself.
        gw = mbtest.Gateway(self.tmp, text, limit=(1024, hard))
        self.addCleanup(self._stop_gw, gw)
        try:
            self.srv.wait_event("register", ep="gw-r", timeout=20)
            self.wait_value("gw-r", "/3300/1/5700", lambda v: v.get("/3300/1/5700") == 1.0)
            deadline = time.monotonic() + 120
            while True:
                last = gw.ctl("status").stdout.strip().splitlines()[-1:]
                if last == ["%d devices, %d registered" % (many + 1, many + 1)]:
                    break
                self.assertLess(time.monotonic(), deadline, last)
                time.sleep(0.5)
            fds = os.listdir("/proc/%d/fd" % gw.proc.pid)
            self.assertGreater(len(fds), 1100)
        finally:
            mb.stop()
        gw.wait_log(r"Modbus bus: server 127\.0\.0\.1 unreachable")
        mb2 = self.mbserver(port=port, sets=[("holding", 1, 4242)])
        mb2.wait_request(lambda r: r["fc"] == 3, timeout=10)
        self.wait_value("gw-r", "/3300/1/5700", lambda v: v.get("/3300/1/5700") == 4242.0)
        self.assertIsNone(gw.proc.poll())
        # The bus's socket is on a low number, the endpoints' above.
        socks = sorted(int(f) for f in os.listdir("/proc/%d/fd" % gw.proc.pid)
                       if os.readlink("/proc/%d/fd/%s" % (gw.proc.pid, f)).startswith("socket:"))
        self.assertGreater(socks[-1], 1023)


if __name__ == "__main__":
    sys.exit(mbtest.main(sys.argv, globals()))
