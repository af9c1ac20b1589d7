# SPDX-License-Identifier: Apache-2.0
"""Issue 15 through the daemon: `fieldgate run` with devices whose profile
marks the temperature `historical: true`, samples fed through the status
socket (as a bridge would deliver them) at a known rate, the project's
LwM2M server SIGKILLed for FG_OUTAGE_S (8 s) and started again on its port.

  - the daemon itself SIGKILLed during the outage and started again: what
    it held is in gateway.state_dir and reaches the server by Send once
    the server is back, each value once at least, in order, with the time
    it was taken; every device is registered again within 5 s;
  - the bound (lwm2m.store.max_samples) exceeded: the oldest dropped, and
    `fieldgate status` says how many are held and how many were dropped.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import test_devices  # noqa: E402
from fglwm2m import Server  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lwm2m"))
from clienttest import quiet_port  # noqa: E402

OUTAGE = float(os.environ.get("FG_OUTAGE_S", "8"))
PATH = "/3303/0/5700"
HZ = 4

PROFILE = """profile: hist-sensor
description: a temperature whose every sample reaches the server
objects:
  /3/0:
    0: { const: "fieldgate test" }
    16: { const: U }
  /3303/0:
    5700: { unit: Cel, historical: true }
    5701: { const: Cel }
"""


def sock_request(path, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(line.encode() + b"\n")
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    s.close()
    return out.decode()


class Sensors:
    """One thread feeding HZ samples a second to each device: values 1, 2,
    3... per device (what was fed is in .sent)."""

    def __init__(self, gw, names):
        self.gw, self.names = gw, names
        self.sent = {n: [] for n in names}
        self.errors = []
        self.stop_ev = threading.Event()
        self.paused = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        k = 0
        t0 = time.monotonic()
        while not self.stop_ev.is_set():
            k += 1
            while time.monotonic() < t0 + k / HZ:
                time.sleep(0.005)
            if self.paused.is_set():
                continue
            for n in self.names:
                v = float(len(self.sent[n]) + 1)
                try:
                    r = sock_request(self.gw.sock, f"sample {n} {PATH} {v}")
                except OSError as e:  # the daemon is down: this one was never taken
                    self.errors.append(str(e))
                    continue
                if r == "ok\n":
                    self.sent[n].append(v)

    def start(self):
        self.t.start()

    def stop(self):
        self.stop_ev.set()
        self.t.join()


class Outage(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fg-outage-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.profiles = os.path.join(self.tmp, "profiles")
        self.state = os.path.join(self.tmp, "state")
        os.makedirs(self.profiles)
        with open(os.path.join(self.profiles, "hist-sensor.yaml"), "w") as f:
            f.write(PROFILE)
        # A port below the ephemeral range: nobody takes it while the
        # server is away (tests/lwm2m/clienttest.py quiet_port).
        self.srv = Server(port=quiet_port(), stderr=subprocess.DEVNULL).start()
        self.addCleanup(lambda: self.srv.stop())
        self.servers = [self.srv]

    def gateway(self, names, extra=""):
        devs = [{"name": n, "profile": "hist-sensor"} for n in names]
        text = test_devices.config(self.srv.url, "@SOCK@", devs, profiles=self.profiles, state_dir=self.state)
        text = text.replace("  servers:\n", extra + "  servers:\n")
        gw = test_devices.Gateway(text)
        self.addCleanup(gw.stop)
        return gw

    def registered(self, srv, names, timeout=15):
        return max(srv.wait_event("register", ep=f"gw-{n}", timeout=timeout)["ts"] for n in names)

    def restart_server(self):
        srv = Server(port=self.srv.port, stderr=subprocess.DEVNULL).start()
        self.addCleanup(srv.stop)
        self.servers.append(srv)
        self.srv = srv
        return srv, srv.request("ping")["ts"]

    def delivered(self, name):
        """Values of name's temperature that reached any server, in arrival
        order, with their times (notifications carry none: the samples fed
        here come without a time of their own)."""
        evs = sorted((e for s in self.servers for e in s.events() if e.get("event") in ("notify", "send")
                      and e.get("ep") == f"gw-{name}"), key=lambda e: e["ts"])
        return [(r["value"], r.get("time"), e["event"]) for e in evs for r in e.get("records", [])
                if r["path"] == PATH]

    def test_daemon_killed_during_outage(self):
        names = ["a", "b", "c"]
        t_start = time.time()
        gw = self.gateway(names)
        self.registered(self.srv, names)
        sensors = Sensors(gw, names)
        sensors.start()
        self.addCleanup(sensors.stop)
        time.sleep(2)
        self.srv.kill()
        time.sleep(OUTAGE / 2)
        # Held values reach the state directory within a second: the
        # sensors pause that long before the daemon dies.
        sensors.paused.set()
        time.sleep(1.5)
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"Held for the server: [1-9]\d* values")
        for n in names:
            self.assertRegex(st, rf"\n{n} .* held [1-9]\d*")
        gw.proc.kill()
        gw.proc.wait()
        files = sorted(os.listdir(self.state))
        self.assertEqual(files, [f"sf-gw-{n}.q" for n in names])
        gw = test_devices.Gateway(open(gw.path).read())
        self.addCleanup(gw.stop)
        sensors.gw = gw
        gw.wait_log(re.escape(f"values held from before (sf-gw-{names[0]}.q)"), timeout=10)
        sensors.paused.clear()
        time.sleep(max(0.0, OUTAGE / 2 - 1.5))
        srv, t_up = self.restart_server()
        last = self.registered(srv, names)
        self.assertLessEqual(last - t_up, 5000)
        # Everything held goes by Send; then the values keep coming.
        time.sleep(3)
        sensors.stop()
        time.sleep(2)
        for n in names:
            got = self.delivered(n)
            values = [v for v, _, _ in got]
            self.assertEqual(set(values), set(sensors.sent[n]), n)
            first = []
            for v in values:
                if v not in first:
                    first.append(v)
            self.assertEqual(first, sorted(first), n)
            # Held ones carry the time they were taken: in order, and
            # within the test.
            sent = [(v, t) for v, t, kind in got if kind == "send"]
            self.assertTrue(sent, n)
            times = {}
            for v, t in sent:
                self.assertIsNotNone(t)
                times.setdefault(v, t)
            vs = sorted(times)
            self.assertEqual([times[v] for v in vs], sorted(times[v] for v in vs))
            self.assertGreaterEqual(min(times.values()), t_start)
            self.assertLessEqual(max(times.values()), time.time())
        st = gw.ctl("status").stdout
        self.assertNotRegex(st, r" held [1-9]")
        self.assertEqual(os.listdir(self.state), [])

    def test_bound_reported(self):
        names = ["a"]
        gw = self.gateway(names, extra="  store:\n    max_samples: 5\n")
        self.registered(self.srv, names)
        self.srv.kill()
        # The first sample after the server went makes the loss known
        # (ICMP); a notification needs an observer, Send does not.
        for k in range(1, 13):
            self.assertEqual(gw.ctl("sample", "a", PATH, str(float(k))).stdout, "ok\n")
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = gw.ctl("status").stdout
            if "held 5" in st:
                break
            time.sleep(0.2)
        self.assertRegex(st, r"\na .* registration \d+, held 5, dropped [1-9]\d*")
        dropped = int(st.split("dropped ")[1].split()[0].rstrip(","))
        self.assertRegex(st, rf"Held for the server: 5 values \(\d+ bytes\); since start \d+ held, "
                             rf"\d+ delivered, {dropped} dropped at the bounds; server lost \d+ times?\n")
        srv, _ = self.restart_server()
        self.registered(srv, names)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not srv.events("send"):
            time.sleep(0.1)
        time.sleep(1)
        got = sorted(v for v, _, kind in self.delivered("a") if kind == "send")
        # The oldest went: the last five arrived.
        self.assertEqual(got, [8.0, 9.0, 10.0, 11.0, 12.0])
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"\na .* registration \d+, dropped [1-9]\d*\n")


if __name__ == "__main__":
    test_devices.FIELDGATE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
