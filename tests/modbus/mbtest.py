# SPDX-License-Identifier: Apache-2.0
"""Helpers of the Modbus bridge's end-to-end tests: a `fieldgate run`
process with a generated configuration and profiles, the pymodbus server
(pymb_server.py), the scripted libmodbus server (mb-test-server), byte and
word orders, free ports. Every process started is stopped by the test's
cleanups, also on failure."""
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "gateway"))
from fglwm2m import Server, records_by_path  # noqa: E402,F401
import test_devices  # noqa: E402

FIELDGATE = None
MB_SERVER = None
PY = "/usr/bin/python3"


# A profile read in two blocks (holding 0..5, input 10) every 500 ms.
TWO_BLOCKS = """bridge: modbus
defaults: {poll: 500ms}
objects:
  /3300/0:
    5700: {source: {table: holding, address: 0}, raw: int16}
  /3300/1:
    5700: {source: {table: holding, address: 1}, raw: int16}
  /3300/2:
    5700: {source: {table: input, address: 10}, raw: uint16}
  /3308/0:
    5900: {source: {table: holding, address: 5}, raw: int16, writable: true}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def order_bytes(be, order):
    """Big-endian bytes -> the wire bytes of a byte/word order (mapping.h)."""
    words = [be[i:i + 2] for i in range(0, len(be), 2)]
    if order == "ABCD":
        return be
    if order == "DCBA":
        return be[::-1]
    if order == "BADC":
        return b"".join(w[::-1] for w in words)
    if order == "CDAB":
        return b"".join(words[::-1])
    raise ValueError(order)


def regs(b):
    """Wire bytes -> 16-bit register values."""
    if len(b) % 2:
        b += b"\0"
    return [b[i] << 8 | b[i + 1] for i in range(0, len(b), 2)]


def regs_bytes(values):
    return b"".join(struct.pack(">H", v) for v in values)


class Proc:
    """A child process speaking JSON lines (or plain lines) on stdout."""

    def __init__(self, cmd, stdin=True):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.log = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            try:
                obj = json.loads(line)
            except ValueError:
                obj = line
            self.log.append(obj)
            self.lines.put(obj)

    def next(self, timeout=10):
        return self.lines.get(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        self.reader.join(5)
        self.proc.stdout.close()


class PyModbus(Proc):
    """pymb_server.py: pymodbus TCP (or RTU) server."""

    def __init__(self, units=(1,), port=None, rtu=None, baud=19200):
        self.port = port or free_port()
        u = ",".join(str(x) for x in units)
        if rtu:
            cmd = [PY, os.path.join(HERE, "pymb_server.py"), "rtu", rtu, str(baud), u]
        else:
            cmd = [PY, os.path.join(HERE, "pymb_server.py"), "tcp", str(self.port), u]
        super().__init__(cmd)
        assert self.next(20) == {"ready": True}

    def cmd(self, **c):
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()
        return self.next(10)

    def set(self, unit, table, addr, values):
        return self.cmd(op="set", unit=unit, table=table, addr=addr, values=list(values))

    def get(self, unit, table, addr, count):
        return self.cmd(op="get", unit=unit, table=table, addr=addr, count=count)["values"]

    def reads(self):
        return self.cmd(op="reads")["reads"]

    def fault(self, unit, kind, code=4):
        """Spoil every answer to unit from now on: "exception" (code),
        "crc" (RTU), "tid" (TCP); "none" heals."""
        return self.cmd(op="fault", unit=unit, kind=kind, code=code)


class MbServer(Proc):
    """mb-test-server: libmodbus TCP server with scripted faults; .requests()
    is every request seen so far (dicts with ts, unit, fc, addr, count, reply),
    .events() the other reports (a dripping answer cut by the client's close)."""

    def __init__(self, port=None, dead=(), exceptions=(), sets=(), ignore=(), drip=()):
        self.port = port or free_port()
        cmd = [MB_SERVER, "--port", str(self.port)]
        for u in dead:
            cmd += ["--dead", str(u)]
        for a, c in exceptions:
            cmd += ["--exception", "%d:%d" % (a, c)]
        for a in ignore:
            cmd += ["--ignore", str(a)]
        for u, ms in drip:
            cmd += ["--drip", "%d:%d" % (u, ms)]
        for t, a, v in sets:
            cmd += ["--set", "%s:%d:%d" % (t, a, v)]
        super().__init__(cmd, stdin=False)
        assert self.next(10) == "listening"

    def requests(self):
        return [r for r in list(self.log) if isinstance(r, dict) and "event" not in r]

    def events(self):
        return [r for r in list(self.log) if isinstance(r, dict) and "event" in r]

    def wait_request(self, pred, timeout=10, start=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.requests()[start:]:
                if pred(r):
                    return r
            time.sleep(0.02)
        raise AssertionError("no such request; seen: %s" % self.requests()[-20:])


def config(tmp, url, bus, devices, profiles_dir):
    return test_devices.bridge_config(
        url, "bus", "modbus", bus, devices, state_dir=os.path.join(tmp, "state"),
        profiles="%s:%s" % (profiles_dir, os.path.join(SOURCE, "mappings", "profiles")),
        sock=os.path.join(tmp, "fg.sock"))

class Gateway(test_devices.Gateway):
    """`fieldgate run` (tests/gateway/test_devices.py's helper) on a
    configuration naming paths in the test's folder tmp."""

    def __init__(self, tmp, text, limit=None):
        os.makedirs(os.path.join(tmp, "state"), exist_ok=True)
        test_devices.FIELDGATE = FIELDGATE
        super().__init__(text, limit)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fg-mb-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.profiles = os.path.join(self.tmp, "profiles")
        os.makedirs(self.profiles)
        self.srv = Server(stderr=subprocess.DEVNULL).start()
        self.addCleanup(self.srv.stop)

    def profile(self, name, text):
        with open(os.path.join(self.profiles, name + ".yaml"), "w") as f:
            f.write(text)

    def pymodbus(self, **kw):
        p = PyModbus(**kw)
        self.addCleanup(p.stop)
        return p

    def mbserver(self, **kw):
        p = MbServer(**kw)
        self.addCleanup(p.stop)
        return p

    def gateway(self, bus, devices):
        gw = Gateway(self.tmp, config(self.tmp, self.srv.url, bus, devices, self.profiles))
        self.addCleanup(self._stop_gw, gw)
        return gw

    def tcp_gateway(self, mb, body, devices):
        """The gateway polling the server mb (more bus keys in body) for
        devices [(name, profile, unit id)], once each registered."""
        gw = self.gateway("tcp: {host: 127.0.0.1, port: %d}\n%s" % (mb.port, body),
                          [{"name": n, "profile": p, "address": u} for n, p, u in devices])
        for n, _, _ in devices:
            self.srv.wait_event("register", ep="gw-" + n, timeout=20)
        return gw

    def _stop_gw(self, gw):
        rc = gw.stop()
        if rc not in (0, None):
            print("\n".join(gw.log[-80:]), file=sys.stderr)
        self.assertEqual(rc, 0, "fieldgate exit status")

    def read(self, ep, path, code="2.05"):
        r = self.srv.request("read", ep=ep, path=path, timeout=15)
        self.assertEqual(r["code"], code, r)
        return records_by_path(r)

    def request_gaps(self, mb, n):
        """Once the server has seen n reads: the ms between consecutive ones."""
        deadline = time.monotonic() + 10
        while len(mb.reads()) < n:
            self.assertLess(time.monotonic(), deadline, mb.reads())
            time.sleep(0.1)
        ts = [r[4] for r in mb.reads()]
        return [y - x for x, y in zip(ts, ts[1:])]

    def wait_value(self, ep, path, pred, timeout=15):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            r = self.srv.request("read", ep=ep, path=path, timeout=15)
            if r["code"] == "2.05":
                last = records_by_path(r)
                if pred(last):
                    return last
            time.sleep(0.1)
        raise AssertionError("%s %s: condition not met, last %s" % (ep, path, last))


def main(argv, module_globals):
    global FIELDGATE, MB_SERVER
    FIELDGATE = os.path.abspath(argv[1])
    if len(argv) > 2:
        MB_SERVER = os.path.abspath(argv[2])
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_globals["__name__"]])
    res = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(res.failures) + len(res.errors)
    print("%d passed, %d failed" % (res.testsRun - failed, failed))
    return 1 if failed or res.testsRun == 0 else 0
