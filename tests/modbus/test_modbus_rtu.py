#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Modbus bridge over RTU: a socat pseudo-terminal pair, Debian's
pymodbus RTU server (ModbusRtuFramer) on one end, `fieldgate run` on the
other, two unit ids on the line. Values read (float32 ABCD, int16 scaled),
a float32 CDAB Write lands in the right word order, requests 3.5 characters apart, no CRC error nor
timeout on either unit (two requests on the half-duplex line at once would
garble both), and the line vanishing (socat killed) and
coming back is reopened by itself. A unit whose answers all have a wrong
CRC is unreachable once that has lasted `unreachable_after` (its neighbour
on the line is not), and reachable again when its answers are good.

Usage: test_modbus_rtu.py PATH/TO/fieldgate PATH/TO/mb-test-server
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import mbtest
from mbtest import Base, order_bytes, regs

PROFILE = """bridge: modbus
defaults: {poll: 300ms}
objects:
  /3300/0:
    5700: {source: {table: input, address: 0}, raw: float32, order: ABCD}
  /3303/0:
    5700: {source: {table: input, address: 2}, raw: int16, scale: 0.1}
  /3308/0:
    5900: {source: {table: holding, address: 10}, raw: float32, order: CDAB, writable: true}
"""


class Rtu(Base):
    def socat(self):
        a, b = os.path.join(self.tmp, "ttyA"), os.path.join(self.tmp, "ttyB")
        p = subprocess.Popen(["socat", "pty,raw,echo=0,link=" + a, "pty,raw,echo=0,link=" + b],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (os.path.exists(a) and os.path.exists(b)):
            self.assertLess(time.monotonic(), deadline, "socat made no ptys")
            time.sleep(0.05)
        return p, a, b

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            p.wait(10)

    def fill(self, mb, temp):
        for u in (1, 2):
            mb.set(u, "input", 0, regs(struct.pack(">f", 230.5 + u)) + [temp + u])

    def line(self, body):
        """A pty line with pymodbus serving units 1 and 2 on one end and the
        gateway (devices m1, m2; bus keys body) on the other, registered."""
        self.profile("rtu", PROFILE)
        sp, a, b = self.socat()
        self.addCleanup(self.stop, sp)
        mb = self.pymodbus(units=(1, 2), rtu=a, baud=19200)
        self.fill(mb, 210)
        gw = self.gateway("serial: {device: %s, baud: 19200, parity: none}\n%s" % (b, body),
                          [{"name": "m1", "profile": "rtu", "address": 1},
                           {"name": "m2", "profile": "rtu", "address": 2}])
        for ep in ("gw-m1", "gw-m2"):
            self.srv.wait_event("register", ep=ep, timeout=20)
        return sp, mb, gw

    def test_rtu(self):
        sp, mb, gw = self.line("timeout: 500ms\nreconnect_min: 100ms\nreconnect_max: 500ms")
        self.wait_value("gw-m1", "/3300/0/5700", lambda v: v.get("/3300/0/5700") == 231.5)
        self.wait_value("gw-m2", "/3300/0/5700", lambda v: v.get("/3300/0/5700") == 232.5)
        v = self.wait_value("gw-m2", "/3303/0/5700", lambda v: "/3303/0/5700" in v)
        self.assertAlmostEqual(v["/3303/0/5700"], 21.2)
        r = self.srv.request("write", ep="gw-m2", path="/3308/0/5900", value=-7.5, type="float", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(mb.get(2, "holding", 10, 2), regs(order_bytes(struct.pack(">f", -7.5), "CDAB")))
        # The line is silent for 3.5 characters (1.82 ms at 19200 8N1) between
        # a response and the next request, though the two units are polled at
        # the same instant (libmodbus alone sends the next one ~0.3 ms later).
        gaps = self.request_gaps(mb, 12)
        self.assertGreaterEqual(min(gaps), 1.82, gaps)
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"unit=1 req=\d+ exc=0 crc=0 bad=0 timeout=0", st)
        self.assertRegex(st, r"unit=2 req=\d+ exc=0 crc=0 bad=0 timeout=0", st)

        # The line goes away (adapter unplugged) and comes back.
        mb.stop()
        self.stop(sp)
        self.wait_value("gw-m1", "/3/0/11", lambda v: v.get("/3/0/11/0") == 16)
        time.sleep(1)
        sp2, a2, b2 = self.socat()
        self.addCleanup(self.stop, sp2)
        mb2 = self.pymodbus(units=(1, 2), rtu=a2, baud=19200)
        self.fill(mb2, 300)
        self.wait_value("gw-m1", "/3303/0/5700", lambda v: v.get("/3303/0/5700") == 30.1)
        self.wait_value("gw-m1", "/3/0/11", lambda v: v.get("/3/0/11/0") == 0)

    def test_crc_errors_counted(self):
        # A responder that answers every read with a corrupted CRC.
        self.profile("rtu", PROFILE)
        sp, a, b = self.socat()
        self.addCleanup(self.stop, sp)
        bad = subprocess.Popen([mbtest.PY, "-c", BAD_CRC, a], stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: (bad.kill(), bad.wait()))
        gw = self.gateway("serial: {device: %s, baud: 19200}\ntimeout: 300ms" % b,
                          [{"name": "c1", "profile": "rtu", "address": 1}])
        self.srv.wait_event("register", ep="gw-c1", timeout=20)
        deadline = time.monotonic() + 10
        while True:
            st = gw.ctl("status").stdout
            m = re.search(r"unit=1 req=(\d+) exc=0 crc=(\d+) bad=0 timeout=\d+", st)
            if m and int(m.group(2)) >= 3:
                break
            self.assertLess(time.monotonic(), deadline, st)
            time.sleep(0.2)
        self.assertEqual(self.read("gw-c1", "/3300/0"), {})  # never a value from a bad frame

    def test_crc_errors_make_a_unit_unreachable(self):
        sp, mb, gw = self.line("timeout: 300ms\nunreachable_after: 2s")
        for ep in ("gw-m1", "gw-m2"):
            self.wait_value(ep, "/3303/0/5700", lambda v: "/3303/0/5700" in v)
        obs = self.srv.request("observe", ep="gw-m2", path="/3/0/11/0", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)
        t0 = time.monotonic() * 1000
        mb.fault(2, "crc")
        e = self.srv.wait_event("notify", ep="gw-m2", timeout=10,
                                where=lambda e: e.get("records", [{}])[0].get("value") == 16)
        took = e["ts"] - t0
        print("CRC errors only: unreachable after %d ms (unreachable_after 2000, poll 300)" % took)
        self.assertGreaterEqual(took, 2000)
        self.assertLess(took, 2000 + 300 + 1000)
        self.assertEqual(self.read("gw-m1", "/3/0/11")["/3/0/11/0"], 0)
        st = gw.ctl("status").stdout
        m = re.search(r"unit=2 req=\d+ exc=0 crc=(\d+) bad=0 timeout=0 failing \d+ ms \(crc error\)", st)
        self.assertIsNotNone(m, st)
        self.assertGreaterEqual(int(m.group(1)), 4, st)
        self.assertRegex(st, r"unit=1 req=\d+ exc=0 crc=0 bad=0 timeout=0,?\s", st)
        t0 = time.monotonic() * 1000
        mb.fault(2, "none")
        e = self.srv.wait_event("notify", ep="gw-m2", timeout=5,
                                where=lambda e: e.get("records", [{}])[0].get("value") == 0)
        self.assertLess(e["ts"] - t0, 300 + 1000)


# Answers each 8-byte read request with the right length and a wrong CRC.
BAD_CRC = """
import os, sys, termios, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
buf = b""
while True:
    buf += os.read(fd, 256)
    while len(buf) >= 8:
        req, buf = buf[:8], buf[8:]
        n = req[4] << 8 | req[5]
        os.write(fd, bytes([req[0], req[1], 2 * n]) + bytes(2 * n) + b"\\xde\\xad")
"""


if __name__ == "__main__":
    if not shutil.which("socat"):
        print("socat missing: the RTU test needs it (Debian package socat)")
        sys.exit(77)
    sys.exit(mbtest.main(sys.argv, globals()))
