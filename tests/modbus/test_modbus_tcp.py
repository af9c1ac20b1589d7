#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Modbus bridge end to end over TCP against Debian's pymodbus server
(pymb_server.py) and the project's LwM2M test server: every raw type in
every byte/word order read to LwM2M, strings, bit fields, coils, discrete
and input registers with a scale; LwM2M Writes landing in the registers
in the right order (float32/float64/int32 CDAB..., a bit field merged by
read-modify-write, a coil); coalescing and the drift-free period asserted
on the requests the server counted; an observation tightening the poll;
a max_age Read asking the device; `fieldgate status` counters.

Usage: test_modbus_tcp.py PATH/TO/fieldgate PATH/TO/mb-test-server
"""
import os
import struct
import subprocess
import sys
import time

import mbtest
from mbtest import Base, order_bytes, records_by_path, regs

TYPES = [("int16", "h", -1234), ("uint16", "H", 54321), ("int32", "i", -123456789),
         ("uint32", "I", 3123456789), ("int64", "q", -1234567890123456789),
         ("uint64", "Q", 1234567890123456789), ("float32", "f", 21.5), ("float64", "d", -1234.5678)]
ORDERS = ["ABCD", "BADC", "CDAB", "DCBA"]


def types_profile():
    """A profile with every type x order in holding registers, and what the
    server must hold: {(table, addr): [register values]} and {path: value}."""
    objs, regs_at, expect = [], {}, {}
    addr, ni, nf = 0, 0, 0
    for raw, fmt, val in TYPES:
        for order in ORDERS:
            wire = order_bytes(struct.pack(">" + fmt, val), order)
            if fmt in "fd":
                path, res = "/3300/%d" % nf, 5700
                nf += 1
            else:
                path, res = "/3200/%d" % ni, 5501
                ni += 1
            objs.append("  %s:\n    %d: {source: {table: holding, address: %d}, raw: %s, order: %s}"
                        % (path, res, addr, raw, order))
            regs_at[("holding", addr)] = regs(wire)
            expect["%s/%d" % (path, res)] = val
            addr += len(wire) // 2 + 1
    # A string, a bit field, a coil, a discrete input, a scaled input register.
    objs.append("  /3341/0:\n    5527: {source: {table: holding, address: 200}, raw: string, length: 8}")
    regs_at[("holding", 200)] = regs(b"HELLO\0\0\0")
    expect["/3341/0/5527"] = "HELLO"
    objs.append("  /3200/40:\n    5500: {source: {table: holding, address: 210}, raw: bits, bit: 3}")
    regs_at[("holding", 210)] = [0b1000]
    expect["/3200/40/5500"] = True
    objs.append("  /3201/0:\n    5550: {source: {table: coil, address: 5}, raw: uint8, writable: true}")
    regs_at[("coil", 5)] = [1]
    expect["/3201/0/5550"] = True
    objs.append("  /3200/41:\n    5500: {source: {table: discrete, address: 7}, raw: uint8}")
    regs_at[("discrete", 7)] = [1]
    expect["/3200/41/5500"] = True
    objs.append("  /3300/41:\n    5700: {source: {table: holding, address: 220, count: 3}, raw: int16}")
    regs_at[("holding", 220)] = [77, 1, 2]  # a wider read: the value is its first register
    expect["/3300/41/5700"] = 77.0
    objs.append("  /3300/40:\n    5700: {source: {table: input, address: 3}, raw: int16, scale: 0.1}")
    regs_at[("input", 3)] = [215]
    expect["/3300/40/5700"] = 21.5
    # Writable points: float32/float64 in each order, int32 CDAB, a bit field.
    for k, order in enumerate(ORDERS):
        objs.append("  /3308/%d:\n    5900: {source: {table: holding, address: %d}, raw: float32, order: %s, "
                    "writable: true}" % (k, 300 + 10 * k, order))
        objs.append("  /3308/%d:\n    5900: {source: {table: holding, address: %d}, raw: float64, order: %s, "
                    "writable: true}" % (k + 4, 400 + 10 * k, order))
    objs.append("  /3200/50:\n    5503: {source: {table: holding, address: 500}, raw: int32, order: CDAB, "
                "writable: true}")
    objs.append("  /3201/1:\n    5550: {source: {table: holding, address: 510}, raw: bits, bit: 4, "
                "writable: true}")
    regs_at[("holding", 510)] = [0b11]
    text = "bridge: modbus\ndefaults: {poll: 500ms}\nobjects:\n" + "\n".join(objs) + "\n"
    return text, regs_at, expect


class Tcp(Base):
    def test_types_orders_writes(self):
        text, at, expect = types_profile()
        self.profile("mbtypes", text)
        mb = self.pymodbus(units=(1, 2))
        for (table, addr), values in at.items():
            mb.set(1, table, addr, values)
        gw = self.gateway("tcp: {host: 127.0.0.1, port: %d}\ntimeout: 500ms" % mb.port,
                          [{"name": "t1", "profile": "mbtypes", "address": 1}])
        self.srv.wait_event("register", ep="gw-t1", timeout=20)
        got = {}
        for obj in ("/3200", "/3300", "/3341", "/3201"):
            want = [p for p in expect if p.startswith(obj + "/")]
            got.update(self.wait_value("gw-t1", obj, lambda v: all(p in v for p in want)))
        for path, val in expect.items():
            self.assertIn(path, got)
            if isinstance(val, float):
                self.assertAlmostEqual(got[path], val, places=4, msg=path)
            else:
                self.assertEqual(got[path], val, path)

        # Writes: the value lands in the registers in the point's order.
        for k, order in enumerate(ORDERS):
            r = self.srv.request("write", ep="gw-t1", path="/3308/%d/5900" % k, value=12.25, type="float",
                                 timeout=10)
            self.assertEqual(r["code"], "2.04", r)
            self.assertEqual(mb.get(1, "holding", 300 + 10 * k, 2), regs(order_bytes(struct.pack(">f", 12.25), order)),
                             order)
            r = self.srv.request("write", ep="gw-t1", path="/3308/%d/5900" % (k + 4), value=-0.1, type="float",
                                 timeout=10)
            self.assertEqual(r["code"], "2.04", r)
            self.assertEqual(mb.get(1, "holding", 400 + 10 * k, 4), regs(order_bytes(struct.pack(">d", -0.1), order)),
                             order)
        r = self.srv.request("write", ep="gw-t1", path="/3200/50/5503", value=-2, type="integer", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(mb.get(1, "holding", 500, 2), [0xFFFE, 0xFFFF])  # CDAB of FF FF FF FE
        # A bit field: only bit 4 changes (read-modify-write).
        r = self.srv.request("write", ep="gw-t1", path="/3201/1/5550", value=True, type="boolean", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(mb.get(1, "holding", 510, 1), [0b10011])
        r = self.srv.request("write", ep="gw-t1", path="/3201/0/5550", value=False, type="boolean", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(mb.get(1, "coil", 5, 1), [0])
        # The written values come back through the poll.
        self.wait_value("gw-t1", "/3308/2/5900", lambda v: v.get("/3308/2/5900") == 12.25)
        # A value out of the raw range is refused before Modbus: 4.00.
        r = self.srv.request("write", ep="gw-t1", path="/3200/50/5503", value=2 ** 40, type="integer", timeout=10)
        self.assertEqual(r["code"], "4.00", r)
        st = gw.ctl("status")
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertRegex(st.stdout, r"unit=1 req=\d+ exc=0 crc=0 bad=0 timeout=0")

    def test_coalescing_period_observe(self):
        objs = []
        for i in range(10):   # holding 0..9: one block
            objs.append("  /3300/%d:\n    5700: {source: {table: holding, address: %d}, raw: int16}" % (i, i))
        for i in range(5):    # holding 100, 102, ..., 108: one block (gaps of 1)
            objs.append("  /3300/%d:\n    5700: {source: {table: holding, address: %d}, raw: int16}"
                        % (10 + i, 100 + 2 * i))
        for i in range(3):    # input 0..2 (float32 at 0: 2 registers, then 2): one block
            objs.append("  /3300/%d:\n    5700: {source: {table: input, address: %d}, raw: uint16}" % (20 + i, i))
        objs.append("  /3200/0:\n    5500: {source: {table: coil, address: 3}, raw: uint8}")
        objs.append("  /3200/1:\n    5500: {source: {table: coil, address: 6}, raw: uint8}")
        # Polled every 2 s unless observed.
        objs.append("  /3303/0:\n    5700: {source: {table: holding, address: 700}, raw: int16, poll: 2s}")
        self.profile("mbco", "bridge: modbus\ndefaults: {poll: 400ms}\nobjects:\n" + "\n".join(objs) + "\n")
        mb = self.pymodbus(units=(2, 3))
        mb.set(2, "holding", 0, list(range(10, 20)))
        mb.set(2, "holding", 700, [77])
        # Unit 3 on the same bus: only adjacent points join (max_gap 0).
        self.gateway("tcp: {host: 127.0.0.1, port: %d}\nmax_gap: 4" % mb.port,
                     [{"name": "c1", "profile": "mbco", "address": 2},
                      {"name": "c3", "profile": "mbco", "address": "{unit: 3, max_gap: 0}"}])
        self.srv.wait_event("register", ep="gw-c1", timeout=20)
        self.wait_value("gw-c1", "/3300/9/5700", lambda v: v.get("/3300/9/5700") == 19)
        time.sleep(2.5)
        reads = [tuple(r[:4]) for r in mb.reads()]
        self.assertEqual({r for r in reads if r[0] == 3},
                         {(3, 3, 0, 10), (3, 3, 100, 1), (3, 3, 102, 1), (3, 3, 104, 1), (3, 3, 106, 1),
                          (3, 3, 108, 1), (3, 4, 0, 3), (3, 1, 3, 1), (3, 1, 6, 1), (3, 3, 700, 1)})
        reads = [r for r in reads if r[0] == 2]
        blocks = set(reads)
        self.assertEqual(blocks, {(2, 3, 0, 10), (2, 3, 100, 9), (2, 4, 0, 3), (2, 1, 3, 4), (2, 3, 700, 1)},
                         reads)
        # Every 400 ms cycle is 4 requests: equal counts (within one cycle).
        n = [reads.count(b) for b in ((2, 3, 0, 10), (2, 3, 100, 9), (2, 4, 0, 3), (2, 1, 3, 4))]
        self.assertLessEqual(max(n) - min(n), 1, n)
        # No drift: the k-th read of a block is at start + k * 400 ms.
        ts = [r[4] for r in mb.reads() if tuple(r[:4]) == (2, 3, 0, 10)]
        for k, t in enumerate(ts):
            self.assertLess(abs(t - ts[0] - 400 * k), 150, (k, [round(x - ts[0]) for x in ts]))

        # Observing /3303/0/5700 with pmin 1 polls it every second.
        def slow_reads():
            return [r[4] for r in mb.reads() if tuple(r[:4]) == (2, 3, 700, 1)]
        before = len(slow_reads())
        r = self.srv.request("write-attributes", ep="gw-c1", path="/3303/0/5700", attrs={"pmin": 1}, timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        obs = self.srv.request("observe", ep="gw-c1", path="/3303/0/5700", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)
        t0 = time.monotonic()
        time.sleep(4.2)
        during = slow_reads()[before:]
        self.assertGreaterEqual(len(during), 4, [round(x - t0 * 1000) for x in during])
        mb.set(2, "holding", 700, [78])
        n = self.srv.wait_event("notify", ep="gw-c1", timeout=5)
        self.assertEqual(records_by_path(n)["/3303/0/5700"], 78.0)

    def test_request_gap(self):
        # request_gap 60 ms: the server sees the requests of a cycle (two
        # units, two tables each, polled at the same instant) at least that
        # far apart; the poll period still holds.
        self.profile("mbgap", "bridge: modbus\ndefaults: {poll: 500ms}\nobjects:\n"
                     "  /3300/0:\n    5700: {source: {table: holding, address: 0}, raw: int16}\n"
                     "  /3300/1:\n    5700: {source: {table: input, address: 0}, raw: int16}\n")
        mb = self.pymodbus(units=(1, 2))
        self.gateway("tcp: {host: 127.0.0.1, port: %d}\nrequest_gap: 60ms" % mb.port,
                     [{"name": "g1", "profile": "mbgap", "address": 1},
                      {"name": "g2", "profile": "mbgap", "address": 2}])
        self.srv.wait_event("register", ep="gw-g2", timeout=20)
        gaps = self.request_gaps(mb, 12)
        self.assertGreaterEqual(min(gaps), 60.0, gaps)
        first = [r[4] for r in mb.reads() if tuple(r[:3]) == (1, 3, 0)]
        self.assertGreaterEqual(len(first), 3, mb.reads())
        for k, t in enumerate(first):
            self.assertLess(abs(t - first[0] - 500 * k), 150, [round(x - first[0]) for x in first])

    def test_max_age_read_and_reload(self):
        # Polled once an hour, but a Read older than its max_age asks the device.
        self.profile("mbage", "bridge: modbus\nobjects:\n  /3303/0:\n    5700: {source: {table: input, "
                     "address: 4}, raw: int16, scale: 0.1, poll: 1h, max_age: 1s}\n")
        mb = self.pymodbus(units=(1, 2))
        mb.set(1, "input", 4, [215])
        mb.set(2, "input", 4, [100])
        bus = "tcp: {host: 127.0.0.1, port: %d}" % mb.port
        gw = self.gateway(bus, [{"name": "a1", "profile": "mbage", "address": 1}])
        self.srv.wait_event("register", ep="gw-a1", timeout=20)
        self.wait_value("gw-a1", "/3303/0/5700", lambda v: v.get("/3303/0/5700") == 21.5)
        mb.set(1, "input", 4, [230])
        time.sleep(1.2)
        n = len(mb.reads())
        self.assertEqual(self.read("gw-a1", "/3303/0/5700")["/3303/0/5700"], 23.0)
        self.assertEqual([tuple(r[:4]) for r in mb.reads()[n:]], [(1, 4, 4, 1)])
        # A reload adding a device on the same bus keeps the bus and polls it.
        with open(gw.path, "w") as f:
            f.write(mbtest.config(self.tmp, self.srv.url, bus,
                                  [{"name": "a1", "profile": "mbage", "address": 1},
                                   {"name": "a2", "profile": "mbage", "address": "{unit: 2, timeout: 200ms}"}],
                                  self.profiles))
        gw.proc.send_signal(__import__("signal").SIGHUP)
        self.srv.wait_event("register", ep="gw-a2", timeout=20)
        self.wait_value("gw-a2", "/3303/0/5700", lambda v: v.get("/3303/0/5700") == 10.0)

    def test_write_and_execute_only_device(self):
        # Nothing to poll: the bridge still learns the device's unit id.
        self.profile("mbact", "bridge: modbus\nobjects:\n  /3/0:\n    4: {execute: {table: holding, address: 11, "
                     "value: 3}}\n  /3308/0:\n    5900: {write: {table: holding, address: 10}, raw: int16}\n")
        mb = self.pymodbus(units=(5,))
        gw = self.gateway("tcp: {host: 127.0.0.1, port: %d}" % mb.port,
                          [{"name": "act", "profile": "mbact", "address": 5}])
        self.srv.wait_event("register", ep="gw-act", timeout=20)
        r = self.srv.request("write", ep="gw-act", path="/3308/0/5900", value=-7.0, type="float", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(mb.get(5, "holding", 10, 1), [0xFFF9])
        r = self.srv.request("execute", ep="gw-act", path="/3/0/4", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(mb.get(5, "holding", 11, 1), [3])
        self.assertEqual(mb.reads(), [])
        self.assertFalse([l for l in gw.log if "refused point" in l])

    def test_check_reports_modbus_errors(self):
        self.profile("mbbad", "bridge: modbus\nobjects:\n  /3303/0:\n    5700: {source: {table: holdng, "
                     "address: 1}, raw: float32}\n")
        text = mbtest.config(self.tmp, self.srv.url, "tcp: {host: 127.0.0.1, prot: 502}\ntimeout: 5ms",
                             [{"name": "b1", "profile": "mbbad", "address": 300}], self.profiles)
        path = os.path.join(self.tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([mbtest.FIELDGATE, "check", "-c", path], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(path + ":15:28: unknown key 'prot' in 'bridges.bus.tcp', did you mean 'port'?", r.stderr)
        self.assertIn(path + ":16:14: duration '5ms' for 'bridges.bus.timeout' is out of range (10ms..1m)", r.stderr)
        self.assertIn(path + ":21:14: modbus: invalid address '300': expected a unit id from 0 to 255", r.stderr)
        self.assertIn("mbbad.yaml:4:28: modbus: unknown table 'holdng', did you mean 'holding'?", r.stderr)

    def test_check_warns_of_manual_notation_and_missing_serial_devices(self):
        # Traps a new operator fell into: a register written as the manual
        # numbers it (40001 = holding register 1, zero-based address 0),
        # and a serial adapter that is not there. Warnings: check passes.
        self.profile("notation", "bridge: modbus\nobjects:\n  /3303/0:\n"
                     "    5700: {source: {table: holding, address: 40001}, raw: int16}\n"
                     "    5601: {source: {table: input, address: 30005}, raw: int16}\n"
                     "    5602: {source: {table: holding, address: 30010}, raw: int16}\n"
                     "    5603: {source: {table: holding, address: 0x9C41}, raw: int16}\n"
                     "    5604: {source: {table: holding, address: 40000}, raw: int16}\n"
                     "  /3342/0:\n    5500: {source: {table: discrete, address: 10001}, raw: uint8}\n"
                     "  /3312/0:\n    5850: {source: {table: coil, address: 40001}, raw: uint8}\n")
        missing = os.path.join(self.tmp, "ttyUSB9")
        plain = os.path.join(self.tmp, "not-a-tty")
        open(plain, "w").close()
        for device, warning in ((missing, "serial device '%s' does not exist (No such file or directory): is the "
                                          "adapter plugged in? `ls -l /dev/serial/by-id/` lists those present; "
                                          "the bridge keeps trying to open it" % missing),
                                (plain, "serial device '%s' is not a character device (a serial port)" % plain),
                                ("/dev/null", None)):
            text = mbtest.config(self.tmp, self.srv.url, "serial: {device: %s}" % device,
                                 [{"name": "n1", "profile": "notation", "address": 3}], self.profiles)
            path = os.path.join(self.tmp, "notation.yaml")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([mbtest.FIELDGATE, "check", "-c", path], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = [l for l in r.stderr.splitlines() if "state_dir" not in l]
            prof = os.path.join(self.profiles, "notation.yaml")
            expected = ([] if not warning else ["%s:15:22: warning: modbus: %s" % (path, warning)]) + [
                "%s:4:46: warning: modbus: holding address 40001 looks like Modbus 4x notation, where 40001 is "
                "holding register 1 counted from 1, i.e. zero-based address 0; fieldgate uses 40001 as written. If "
                "the manual means 4x notation, write address: 0; to keep 40001, write it in hex (0x9C41) and this "
                "warning goes" % prof,
                "%s:5:44: warning: modbus: input address 30005 looks like Modbus 3x notation, where 30005 is input "
                "register 5 counted from 1, i.e. zero-based address 4; fieldgate uses 30005 as written. If the "
                "manual means 3x notation, write address: 4; to keep 30005, write it in hex (0x7535) and this "
                "warning goes" % prof,
                "%s:6:46: warning: modbus: holding address 30010 looks like Modbus 3x notation, which numbers input "
                "registers: 30010 is input register 10 counted from 1, i.e. table: input, address: 9; fieldgate "
                "uses holding address 30010 as written (in hex, 0x753A, without this warning)" % prof,
                "%s:10:47: warning: modbus: discrete address 10001 looks like Modbus 1x notation, where 10001 is "
                "discrete input 1 counted from 1, i.e. zero-based address 0; fieldgate uses 10001 as written. If "
                "the manual means 1x notation, write address: 0; to keep 10001, write it in hex (0x2711) and this "
                "warning goes" % prof]
            self.assertEqual(lines, expected)
            self.assertIn("configuration is valid", r.stdout)


if __name__ == "__main__":
    sys.exit(mbtest.main(sys.argv, globals()))
