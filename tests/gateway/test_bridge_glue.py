#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The glue between LwM2M, profiles and bridges, with the fake bridge of
fake_bridge.c (the bridge kind "fake", linked into fieldgate-fake beside
the real kinds): the kinds registered, bridge
bodies and device addresses verified by the bridge at load time, points
handed to the bridge, presence in /3/0/11/0, LwM2M Write answered only
after the field acknowledged (2.04), a value out of the DDF range refused
(4.00) before anything reaches the field, an unreachable device (5.03),
Execute through the bridge, a bridge restarted when its body changes, and
stopped on SIGTERM; devices a bridge discovers (registered like configured
ones, kept by a reload that keeps their bridge, dropped with it, forgotten
on the bridge's request), observation periods handed to the bridge, and a
bridge's own counters in `fieldgate status`.

Usage: test_bridge_glue.py PATH/TO/fieldgate-fake
"""
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, HERE)
from fglwm2m import Server, records_by_path  # noqa: E402
import test_devices  # noqa: E402

PROFILES = os.path.join(HERE, "data", "profiles-fake")


def config(url, body="host: broker-1", offline="offline", extra_dev=""):
    return """gateway:
  name: gw
  profiles_path: %s
  status_socket: @SOCK@
log:
  level: info
lwm2m:
  lifetime: 60s
  servers:
    - uri: %s
bridges:
  bus:
    type: fake
    %s
devices:
  - name: v1
    bridge: bus
    address: a1
    profile: fake-valve
    poll: 2s
  - name: v2
    bridge: bus
    address: %s
    profile: fake-valve
%s""" % (PROFILES, url, body, offline, extra_dev)


class Glue(test_devices.Base):
    def test_check_uses_the_bridge(self):
        with open(os.path.join(self.tmp(), "c.yaml"), "w") as f:
            f.write(config(self.srv.url, body="bogus: 1", offline="{a: 1}").replace("@SOCK@", "/tmp/x.sock"))
            path = f.name
        r = subprocess.run([test_devices.FIELDGATE, "check", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr,
                         "%s:14:12: fake bridge: 'bogus' is not accepted\n"
                         "%s:23:14: fake bridge: the address must be a scalar\n"
                         "%s: 2 errors, 0 warnings\n" % (path, path, path))

    def test_kinds_register_themselves(self):
        # A fourth kind, from tests/ only, beside the real ones (gateway/
        # had room for three: kinds[4] with its NULL end).
        r = subprocess.run([test_devices.FIELDGATE, "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.splitlines()[1], r"^bridges:( modbus)?( mqtt)?( ble)? fake plain$")
        with open(os.path.join(self.tmp(), "c.yaml"), "w") as f:
            f.write(config(self.srv.url).replace("type: fake", "type: faek").replace("@SOCK@", "/tmp/x.sock"))
            path = f.name
        r = subprocess.run([test_devices.FIELDGATE, "check", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines()[0],
                         "%s:13:11: invalid value 'faek' for 'bridges.bus.type', did you mean 'fake'? "
                         "(expected one of: modbus, mqtt, ble, fake, plain)" % path)

    def test_missing_operations_answer_4_05(self):
        # The kind "plain" (plain_bridge.c, tests only) has no write and no
        # execute: a Write or an Execute its profile allows is 4.05 Method
        # Not Allowed (it was 5.03, as if the device were unreachable); its
        # samples arrive, and a Read without its read op is the store's.
        text = config(self.srv.url) + ("  - {name: p1, bridge: plain, address: x, profile: plain-dimmer}\n")
        text = text.replace("devices:\n", "  plain:\n    type: plain\n    value: 42\ndevices:\n")
        gw = self.start(text)
        self.srv.wait_event("register", ep="gw-p1", timeout=15)
        self.assertEqual(self.value("gw-p1", "/3306/0/5851"), 42)
        r = self.srv.request("write", ep="gw-p1", path="/3306/0/5851", value=7, type="integer", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        r = self.srv.request("execute", ep="gw-p1", path="/3/0/4", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        self.assertEqual(self.value("gw-p1", "/3306/0/5851"), 42)
        # The fake's, which has both, still reach the field.
        r = self.srv.request("write", ep="gw-v1", path="/3306/0/5851", value=7, type="integer", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(gw.stop(), 0)

    def test_gateway_mode_requests_reach_the_device(self):
        # In gateway mode each device is a target of the client that is an
        # Object 25 device of the gateway's endpoint: the server's Write,
        # Execute and Read addressed /PREFIX/... reach that device's bridge
        # (the client routes them to the target, no lookup by name), the
        # gateway's own tree stays its own, and an unknown prefix is 4.04.
        text = config(self.srv.url).replace("  lifetime: 60s", "  mode: gateway\n  lifetime: 60s")
        gw = self.start(text)
        self.srv.wait_event("register", ep="gw", timeout=15)
        gw.wait_log(r"^fake: add_point bus v1 /3306/0/5850 address=a1 poll=2000000$")
        self.wait_prefixes("gw", ["v1", "v2"])
        self.assertEqual(self.value("gw", "/v2/3/0/11/0"), 16)
        r = self.srv.request("write", ep="gw", path="/v1/3306/0/5850", value=True, type="boolean", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        gw.wait_log(r"^fake: write bus v1 key=on value=true$")
        self.assertEqual(self.value("gw", "/v1/3306/0/5850"), True)
        r = self.srv.request("write", ep="gw", path="/v2/3306/0/5850", value=False, type="boolean", timeout=10)
        self.assertEqual(r["code"], "5.03", r)
        r = self.srv.request("execute", ep="gw", path="/v1/3/0/4", args="0='now'", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        gw.wait_log(r"^fake: execute bus v1 action=reboot args=0='now'$")
        # The gateway's own tree is its own: an Execute of a resource that
        # is not executable there is 4.05 (its Reboot, /3/0/4, reboots the
        # gateway: tests/gateway/test_remote.py).
        r = self.srv.request("execute", ep="gw", path="/3/0/0", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        r = self.srv.request("write", ep="gw", path="/nope/3306/0/5850", value=True, type="boolean", timeout=10)
        self.assertEqual(r["code"], "4.04", r)
        r = gw.ctl("status")
        self.assertIn("v1      bus     gw/v1     registered", r.stdout)
        self.assertEqual(gw.stop(), 0)

    def tmp(self):
        import tempfile
        import shutil
        d = tempfile.mkdtemp(prefix="fg-glue-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_write_execute_presence_reload(self):
        gw = self.start(config(self.srv.url))
        for ep in ("gw", "gw-v1", "gw-v2"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        gw.wait_log(r"^fake: start bus$")
        gw.wait_log(r"^fake: add_point bus v1 /3306/0/5850 address=a1 poll=2000000$")
        gw.wait_log(r"^fake: add_point bus v2 /3306/0/5851 address=offline poll=0$")
        # Presence reported by the bridge is visible to the server.
        self.assertEqual(self.value("gw-v2", "/3/0/11/0"), 16)
        self.assertEqual(self.value("gw-v1", "/3/0/11/0"), 0)

        # Write: 2.04 only after the field acknowledged (the fake takes 100 ms).
        t0 = time.monotonic()
        r = self.srv.request("write", ep="gw-v1", path="/3306/0/5850", value=True, type="boolean", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)
        gw.wait_log(r"^fake: write bus v1 key=on value=true$")
        self.assertEqual(self.value("gw-v1", "/3306/0/5850"), True)
        r = self.srv.request("write", ep="gw-v1", path="/3306/0/5851", value=42, type="integer", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        gw.wait_log(r"^fake: write bus v1 key=dim value=42$")
        # Out of the Dimmer's range 0..100: refused, nothing sent.
        r = self.srv.request("write", ep="gw-v1", path="/3306/0/5851", value=150, type="integer", timeout=10)
        self.assertEqual(r["code"], "4.00", r)
        self.assertFalse([l for l in gw.log if "value=150" in l])
        # The unreachable device: 5.03.
        r = self.srv.request("write", ep="gw-v2", path="/3306/0/5850", value=False, type="boolean", timeout=10)
        self.assertEqual(r["code"], "5.03", r)
        # Execute through the bridge.
        r = self.srv.request("execute", ep="gw-v1", path="/3/0/4", args="0='now'", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        gw.wait_log(r"^fake: execute bus v1 action=reboot args=0='now'$")

        # A changed bridge body: the bridge restarts, its devices register again.
        start = gw.reload(config(self.srv.url, body="host: broker-2"))
        gw.wait_log(r"^fake: stop bus$", start)
        gw.wait_log(r"^fake: new bus$", start)
        gw.wait_log(r"Configuration applied: 0 devices added, 0 removed, 2 changed, 0 unchanged", start)
        self.srv.wait_event("deregister", ep="gw-v1")
        self.srv.wait_event("register", ep="gw-v1", timeout=15)
        # An unchanged one stays: a new device on it leaves the bridge running.
        start = gw.reload(config(self.srv.url, body="host: broker-2",
                                 extra_dev="  - {name: v3, bridge: bus, address: a3, profile: fake-valve}\n"))
        gw.wait_log(r"Configuration applied: 1 device added, 0 removed, 0 changed, 2 unchanged", start)
        gw.wait_log(r"^fake: add_point bus v3 /3306/0/5850 address=a3 poll=0$", start)
        self.assertFalse([l for l in gw.log[start:] if l.startswith("fake: stop") or l.startswith("fake: new")])

        self.assertEqual(gw.stop(), 0)
        self.assertIn("fake: stop bus", gw.log)

    def reads(self, gw, dev):
        """The fake's read numbers for dev, in order."""
        import re
        return [int(m.group(1)) for m in (re.match(r"^fake: read (\d+) bus %s key=temp$" % dev, l)
                                          for l in gw.log) if m]

    def test_max_age_read(self):
        sensors = "".join("  - {name: %s, bridge: bus, address: %s, profile: fake-sensor}\n" % (n, a)
                          for n, a in (("s1", "a1"), ("s2", "slow"), ("s3", "flaky"), ("s4", "offline")))
        gw = self.start(config(self.srv.url, extra_dev=sensors))
        for ep in ("gw-s1", "gw-s2", "gw-s3", "gw-s4"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        # Never sampled: exactly one bridge read, and the answer is its value.
        self.assertEqual(self.reads(gw, "s1"), [])
        v = self.value("gw-s1", "/3303/0/5700")
        n = self.reads(gw, "s1")
        self.assertEqual(len(n), 1)
        self.assertEqual(v, 20.5 + n[0])
        # Fresh (younger than max_age 2 s): answered from the store, no read;
        # a point without source (5701) never asks.
        self.assertEqual(self.value("gw-s1", "/3303/0/5700"), v)
        self.assertEqual(self.value("gw-s1", "/3303/0/5701"), "Cel")
        self.assertEqual(self.reads(gw, "s1"), n)
        # Older than max_age: one more read, the NEW value (the instance too).
        time.sleep(2.2)
        r = self.srv.request("read", ep="gw-s1", path="/3303/0", timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        n2 = self.reads(gw, "s1")
        self.assertEqual(len(n2), 2)
        self.assertEqual(records_by_path(r)["/3303/0/5700"], 20.5 + n2[1])
        self.assertNotEqual(20.5 + n2[1], v)
        # Read-Composite asks the same way, once per stale point.
        time.sleep(2.2)
        r = self.srv.request("read-composite", ep="gw-s1", paths=["/3303/0/5700", "/3303/0/5701"], ct=110,
                             timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        n3 = self.reads(gw, "s1")
        self.assertEqual(len(n3), 3)
        self.assertEqual(records_by_path(r), {"/3303/0/5700": 20.5 + n3[2], "/3303/0/5701": "Cel"})

        # A slow field device (3 s) does not hold up the others: a read of
        # another device answers meanwhile, the slow one afterwards.
        t0 = time.monotonic()
        slow = self.srv.send("read", ep="gw-s2", path="/3303/0/5700", timeout=20)
        gw.wait_log(r"^fake: read \d+ bus s2 key=temp$")
        time.sleep(2.2)  # s1 stale again
        self.assertEqual(self.value("gw-v1", "/3/0/0"), "fake valves inc.")
        v3 = self.value("gw-s1", "/3303/0/5700")
        self.assertEqual(v3, 20.5 + self.reads(gw, "s1")[-1])
        self.assertLess(time.monotonic() - t0, 2.9)
        r = self.srv.response(slow, timeout=20)
        self.assertEqual(r["code"], "2.05", r)
        self.assertGreaterEqual(time.monotonic() - t0, 2.9)
        self.assertEqual(records_by_path(r)["/3303/0/5700"], 20.5 + self.reads(gw, "s2")[0])
        self.assertEqual(len(self.reads(gw, "s2")), 1)

        # A failing bridge: a stale value is still an answer (RFC 5861's
        # stale-if-error); without any value, 5.03.
        first = self.value("gw-s3", "/3303/0/5700")
        time.sleep(2.2)
        self.assertEqual(self.value("gw-s3", "/3303/0/5700"), first)
        self.assertEqual(len(self.reads(gw, "s3")), 2)
        r = self.srv.request("read", ep="gw-s4", path="/3303/0/5700", timeout=10)
        self.assertEqual(r["code"], "5.03", r)
        self.assertEqual(len(self.reads(gw, "s4")), 1)
        self.assertEqual(gw.stop(), 0)

    def test_samples_racing_the_shutdown(self):
        # A bridge delivering samples every millisecond while the endpoints
        # de-register and are freed one by one: nothing may touch a freed
        # endpoint (the sanitizer builds run this).
        gw = self.start(config(self.srv.url, body="host: broker-1\n    chatty: true"))
        for ep in ("gw", "gw-v1", "gw-v2"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        obs = self.srv.request("observe", ep="gw-v1", path="/3306/0/5851", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)
        self.srv.wait_event("notify", ep="gw-v1", timeout=10)
        # The first De-register answered, the server freezes: the other
        # endpoints stay registered a while longer, the first one is gone.
        gw.proc.send_signal(signal.SIGTERM)
        self.srv.wait_event("deregister", timeout=10)
        self.srv.proc.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        self.srv.proc.send_signal(signal.SIGCONT)
        self.assertEqual(gw.stop(), 0)
        self.assertIn("fake: stop bus", gw.log)

    def test_discovered_names_checked_as_configured(self):
        # The one device name check: a discovered "-x" is refused as a
        # configured one is (it was accepted and registered as gw--x).
        gw = self.start(config(self.srv.url, body='host: broker-1\n    discover: "-x fake-sensor a1"'))
        gw.wait_log(r"^fake: discover -x rc=-22$")
        gw.wait_log(r"Bridge bus discovered a device named '-x': use 1 to 64 letters, digits, '\.', '_' or "
                    r"'-', starting with a letter or digit$")
        self.srv.wait_event("register", ep="gw-v1", timeout=15)
        # The server logs a Register before its 2.01 reaches the gateway:
        # wait until the gateway counts both as registered.
        deadline = time.monotonic() + 15
        while True:
            last = gw.ctl("status").stdout.splitlines()[-1]
            if last == "2 devices, 2 registered" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(last, "2 devices, 2 registered")
        self.assertEqual(gw.stop(), 0)
        # In gateway mode a name is an Object 25 prefix: not all digits.
        text = config(self.srv.url, body='host: broker-1\n    discover: "123 fake-sensor a1"')
        gw = self.start(text.replace("  lifetime: 60s", "  mode: gateway\n  lifetime: 60s"))
        gw.wait_log(r"^fake: discover 123 rc=-22$")
        gw.wait_log(r"Bridge bus discovered a device named '123': in gateway mode it is an Object 25 prefix "
                    r"and must not be all digits$")
        self.assertEqual(gw.stop(), 0)

    def test_discover_observe_status(self):
        body = 'host: broker-1\n    discover: "d9 fake-sensor a1"'
        gw = self.start(config(self.srv.url, body=body))
        for ep in ("gw-v1", "gw-v2", "gw-d9"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        gw.wait_log(r"^fake: discover d9 rc=0$")
        gw.wait_log(r"^fake: discover d9 rc=-17$")  # -EEXIST: the name is taken now
        gw.wait_log(r"^fake: add_point bus d9 /3303/0/5700 address=a1 poll=0$")
        # The discovered device reads through its bridge like any other.
        v = self.value("gw-d9", "/3303/0/5700")
        self.assertEqual(v, 20.5 + self.reads(gw, "d9")[0])

        # Observation periods reach the bridge: pmin 3 s while observed, 0 after.
        r = self.srv.request("write-attributes", ep="gw-d9", path="/3303/0/5700", attrs={"pmin": 3}, timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        obs = self.srv.request("observe", ep="gw-d9", path="/3303/0", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)
        gw.wait_log(r"^fake: observed bus d9 /3303/0/5700 3000000$")
        r = self.srv.request("cancel", observation=obs["id"], mode="get", timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        gw.wait_log(r"^fake: observed bus d9 /3303/0/5700 0$")

        st = gw.ctl("status").stdout.splitlines()
        self.assertRegex(st[2], r"^v1 .* registration 0, fake status$")
        self.assertRegex(st[3], r"^v2 .* registration 0 \(unreachable now\)$")
        self.assertRegex(st[4], r"^d9 +bus +gw-d9 +registered .* registration 0, fake status \(discovered\)$")
        self.assertEqual(st[5], "3 devices, 3 registered")

        # A reload that keeps the bridge keeps the discovered device.
        start = gw.reload(config(self.srv.url, body=body))
        gw.wait_log(r"Configuration applied: 0 devices added, 0 removed, 0 changed, 3 unchanged", start)
        # A changed bridge drops it with the old instance; the new one
        # discovers it again and then forgets it.
        start = gw.reload(config(self.srv.url, body=body + "\n    forget: d9"))
        self.srv.wait_event("deregister", ep="gw-d9", timeout=15)
        gw.wait_log(r"^fake: discover d9 rc=0$", start)
        self.srv.wait_event("register", ep="gw-d9", timeout=15)
        gw.wait_log(r"^fake: forget d9 rc=0$", start)
        gw.wait_log(r"^fake: remove_point bus d9 /3303/0/5700$", start)
        self.srv.wait_event("deregister", ep="gw-d9", timeout=15)
        self.assertEqual(gw.ctl("status").stdout.splitlines()[-1], "2 devices, 2 registered")
        self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    test_devices.FIELDGATE = os.path.abspath(sys.argv.pop(1))
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors)
    print("%d passed, %d failed" % (res.testsRun - failed - len(res.skipped), failed))
    sys.exit(0 if res.wasSuccessful() else 1)
