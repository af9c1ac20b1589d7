#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Field devices provisioned, reconfigured and removed from the LwM2M server
(issue 14): Object 26242 "Fieldgate Field Device" on the gateway's endpoint,
end to end against fg-lwm2m-server and a real mosquitto behind the devices,
in both northbound modes.

- Create in each content format (TLV, SenML JSON, SenML CBOR, LwM2M CBOR):
  2.01 with Location-Path /26242/<id>; the device registers (endpoint
  mode) or appears in /25 (gateway mode) and serves the broker's values;
  no other endpoint registers again;
- bad creates (unknown bridge, unknown profile, bad address, name taken, no
  name): 4.00 with the loader's diagnostic as payload, nothing persisted,
  nothing registered;
- Write of a created device's address: only it restarts; Write or Delete
  of a device of the local files: 4.05; Delete: it de-registers, its file
  goes;
- the persisted files are accepted by `fieldgate check`; after a restart
  the created devices are back; `status` says where each device comes
  from; no secret is readable through 26242.

Usage: test_remote.py PATH/TO/fieldgate
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import unittest_main

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "mqtt"))
sys.path.insert(0, HERE)
import test_devices  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402
from mqttpeer import Broker  # noqa: E402

FIELDGATE = None
PASSWORD = "pw-Remote-7731-secret"
TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR = 11542, 110, 112, 11544


def config(url, state, port, pwfile, mode):
    return ("gateway:\n  name: gw\n  state_dir: %s\n  profiles_path: %s\n  status_socket: @SOCK@\n"
            "log:\n  level: debug\nlwm2m:\n  mode: %s\n  lifetime: 60s\n  servers:\n    - uri: %s\n"
            "bridges:\n  broker:\n    type: mqtt\n    host: 127.0.0.1\n    port: %d\n    username: gw\n"
            "    password_file: %s\n    reconnect_min: 200ms\n"
            "devices:\n  - name: local1\n    bridge: broker\n    profile: z2m-th-sensor\n    address: local1\n"
            % (state, test_devices.PROFILES, mode, url, port, pwfile))


class WithBroker(test_devices.Base):
    """The gateway with an MQTT bridge to a real mosquitto (password from a
    file) and one device of its file, local1, registered."""
    mode = "endpoint"

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="fg-remote-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.state = os.path.join(self.dir, "state")
        self.broker = Broker(self.dir, users={"gw": PASSWORD, "test": "test"}).start()
        self.broker.auth = ("test", "test")
        self.addCleanup(self.broker.close)
        pwfile = os.path.join(self.dir, "mqtt-password")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(PASSWORD + "\n")
        self.text = config(self.srv.url, self.state, self.broker.port, pwfile, self.mode)
        self.gw = self.start(self.text)
        self.wait_present("gw")
        self.wait_present("local1")

    # ---- the two modes -------------------------------------------------------------

    def ep(self, dev):
        return "gw-" + dev if self.mode == "endpoint" else "gw"

    def path(self, dev, p):
        return p if self.mode == "endpoint" else "/" + dev + p

    def prefixes(self):
        r = self.srv.request("read", ep="gw", path="/25", timeout=10)
        if r.get("code") != "2.05":
            return []  # not registered (yet), or no device
        return sorted(v for p, v in records_by_path(r).items() if p.endswith("/1"))

    def wait_present(self, dev, start=0):
        if dev == "gw" or self.mode == "endpoint":
            self.wait_event_after("register", "gw" if dev == "gw" else "gw-" + dev, start)
            return
        deadline = time.monotonic() + 15
        while dev not in self.prefixes():
            self.assertLess(time.monotonic(), deadline, "%s never appeared in /25" % dev)
            time.sleep(0.1)

    def wait_gone(self, dev, start=0):
        if self.mode == "endpoint":
            self.wait_event_after("deregister", "gw-" + dev, start)
            return
        deadline = time.monotonic() + 15
        while dev in self.prefixes():
            self.assertLess(time.monotonic(), deadline, "%s never left /25" % dev)
            time.sleep(0.1)

    def wait_event_after(self, kind, ep, start, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            evs = [e for e in self.srv.events(kind)[start:] if e["ep"] == ep]
            if evs:
                return evs[0]
            self.assertLess(time.monotonic(), deadline, "no %s of %s" % (kind, ep))
            time.sleep(0.05)

    def registers(self, ep):
        return len([e for e in self.srv.events("register") if e["ep"] == ep])

    def temperature(self, dev, value):
        """Publish until the device serves value (its subscription may come
        after the first publication)."""
        deadline = time.monotonic() + 15
        while True:
            self.broker.pub("zigbee2mqtt/" + dev, json.dumps({"temperature": value, "humidity": 40}), qos=1)
            r = self.srv.request("read", ep=self.ep(dev), path=self.path(dev, "/3303/0/5700"), timeout=10)
            if r["code"] == "2.05" and records_by_path(r)[self.path(dev, "/3303/0/5700")] == value:
                return
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.1)

    def create_unnumbered(self, values):
        """A TLV Create of resources not wrapped in an Object Instance: the
        server leaves the instance id to the client."""
        tlv = b"".join(bytes([0xC8, rid, len(v.encode())]) + v.encode() for rid, v in sorted(values.items()))
        return self.srv.request("create", ep="gw", path="/26242", ct=TLV, hex=tlv.hex(), timeout=15)

    def create(self, ct, iid, values):
        recs = [{"path": "/26242/%d/%d" % (iid, rid), "value": v} for rid, v in sorted(values.items())]
        return self.srv.request("create", ep="gw", path="/26242", ct=ct, records=recs, timeout=15)

    def instance(self, iid):
        r = self.srv.request("read", ep="gw", path="/26242/%d" % iid, timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        return {int(p.split("/")[3]): v for p, v in records_by_path(r).items()}

    def remote_files(self):
        d = os.path.join(self.state, "devices")
        return sorted(f for f in os.listdir(d) if not f.startswith(".")) if os.path.isdir(d) else []

    # ---- the tests ---------------------------------------------------------------------



class Remote(WithBroker):
    def test_create_write_delete_restart(self):
        local_regs = self.registers(self.ep("local1"))
        # The inventory: the local device, read-only.
        r = self.srv.request("read", ep="gw", path="/26242", timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        local = self.instance(0)
        self.assertEqual((local[0], local[1], local[2], local[3], local[6]),
                         ("local1", "broker", "local1", "z2m-th-sensor", True))
        self.assertEqual(local[10], self.gw.path)
        self.assertEqual(local[9], "gw-local1" if self.mode == "endpoint" else "local1")

        created = {}
        for i, ct in enumerate((TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR)):
            name = "r%d" % i
            start = len(self.srv.events("register"))
            r = self.create(ct, 5 + i, {0: name, 1: "broker", 2: name, 3: "z2m-th-sensor",
                                        5: '{"serial": "S-%d"}' % i})
            self.assertEqual((r["code"], r.get("location")), ("2.01", "/26242/%d" % (5 + i)), (ct, r))
            self.wait_present(name, start)
            self.temperature(name, 20.5 + i)
            self.assertEqual(self.value(self.ep(name), self.path(name, "/3/0/2")), "S-%d" % i)
            created[name] = 5 + i
        self.assertEqual(self.remote_files(), ["r0.yaml", "r1.yaml", "r2.yaml", "r3.yaml"])
        v = self.instance(5)
        self.assertEqual((v[0], v[2], v[5], v[6], v[10]), ("r0", "r0", '{"serial":"S-0"}', True, "remote"))
        deadline = time.monotonic() + 10
        while self.instance(5)[7] != "registered":
            self.assertLess(time.monotonic(), deadline, self.instance(5))
            time.sleep(0.05)
        # Nobody else registered again.
        self.assertEqual(self.registers(self.ep("local1")), local_regs)
        if self.mode == "endpoint":
            self.assertEqual(self.registers("gw"), 1)

        # Local devices are read-only here.
        why = "device local1 is configured in %s, not by the LwM2M server" % self.gw.path
        r = self.srv.request("write", ep="gw", path="/26242/0/2", value="elsewhere", timeout=10)
        self.assertEqual((r["code"], r.get("text")), ("4.05", why))
        r = self.srv.request("delete", ep="gw", path="/26242/0", timeout=10)
        self.assertEqual((r["code"], r.get("text")), ("4.05", why))

        # Write the address of r1: only it restarts.
        start, dstart = len(self.srv.events("register")), len(self.srv.events("deregister"))
        r = self.srv.request("write", ep="gw", path="/26242/6", partial=True, ct=SENML_CBOR,
                             records=[{"path": "/26242/6/2", "value": "moved"}], timeout=15)
        self.assertEqual(r["code"], "2.04", r)
        if self.mode == "endpoint":
            self.wait_event_after("deregister", "gw-r1", dstart)
            self.wait_event_after("register", "gw-r1", start)
        self.temperature_at("r1", "moved", 30.0)
        self.assertEqual(self.instance(6)[2], "moved")
        # A Write the configuration refuses, and one of the name: 4.00,
        # nothing changes (file, instance, registrations).
        with open(os.path.join(self.state, "devices", "r1.yaml")) as f:
            before = f.read()
        nreg = len(self.srv.events("register"))
        for rid, value, why in ((3, "no-such-profile", r"r1\.yaml:\d+:\d+: unknown profile 'no-such-profile'"),
                                (0, "renamed", r"^the name of a device cannot change")):
            r = self.srv.request("write", ep="gw", path="/26242/6/%d" % rid, value=value, timeout=15)
            self.assertEqual(r["code"], "4.00", r)
            self.assertRegex(r.get("text", ""), why)
        with open(os.path.join(self.state, "devices", "r1.yaml")) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual((self.instance(6)[0], self.instance(6)[3]), ("r1", "z2m-th-sensor"))
        self.assertEqual(len(self.srv.events("register")), nreg)
        self.assertEqual(self.registers(self.ep("local1")), local_regs)
        if self.mode == "endpoint":
            self.assertEqual([e["ep"] for e in self.srv.events("register")[start:]], ["gw-r1"])

        # A PUT of the instance replaces it: Variables, left out, is back
        # to none; without Profile it is refused and changes nothing.
        self.assertEqual(self.instance(6)[5], '{"serial":"S-1"}')
        start = len(self.srv.events("register"))
        r = self.srv.request("write", ep="gw", path="/26242/6", ct=SENML_CBOR, timeout=15,
                             records=[{"path": "/26242/6/%d" % k, "value": v} for k, v in
                                      ((0, "r1"), (1, "broker"), (2, "moved"), (3, "z2m-th-sensor"))])
        self.assertEqual(r["code"], "2.04", r)
        if self.mode == "endpoint":
            self.wait_event_after("register", "gw-r1", start)
        self.assertEqual(self.instance(6)[5], "{}")
        with open(os.path.join(self.state, "devices", "r1.yaml")) as f:
            self.assertNotIn("serial", f.read())
        r = self.srv.request("write", ep="gw", path="/26242/6", ct=SENML_CBOR, timeout=15,
                             records=[{"path": "/26242/6/0", "value": "r1"}])
        self.assertEqual((r["code"], r.get("text")),
                         ("4.00", "a replace of the instance needs Name (0) and Profile (3)"))
        self.assertEqual((self.instance(6)[2], self.instance(6)[3]), ("moved", "z2m-th-sensor"))

        # Delete r2.
        start = len(self.srv.events("deregister"))
        r = self.srv.request("delete", ep="gw", path="/26242/7", timeout=15)
        self.assertEqual(r["code"], "2.02", r)
        self.wait_gone("r2", start)
        self.assertEqual(self.remote_files(), ["r0.yaml", "r1.yaml", "r3.yaml"])
        r = self.srv.request("read", ep="gw", path="/26242/7", timeout=10)
        self.assertEqual(r["code"], "4.04", r)

        # fieldgate check reads the persisted files as configuration.
        c = self.gw.ctl("check")
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertIn("(3 created by the LwM2M server, in %s/devices)" % self.state, c.stdout)
        # status says where each device comes from.
        st = json.loads(self.gw.ctl("status", "--json").stdout)
        self.assertEqual({d["name"]: d["source"] for d in st["devices"]},
                         {"local1": self.gw.path, "r0": "remote", "r1": "remote", "r3": "remote"})
        lines = self.gw.ctl("status").stdout.splitlines()
        self.assertEqual(sorted(l.split()[0] for l in lines if l.endswith(" (remote)")), ["r0", "r1", "r3"])
        # No secret of the configuration is readable through 26242.
        r = self.srv.request("read", ep="gw", path="/26242", accept=SENML_JSON, timeout=10)
        self.assertNotIn(PASSWORD, r.get("text", ""))

        # Restart: the created devices are back.
        self.gw.stop()
        start = len(self.srv.events("register"))
        self.gw = self.start(self.text)
        self.wait_present("gw", start)
        for name in ("r0", "r1", "r3"):
            self.wait_present(name, start)
        self.temperature("r3", 12.5)
        # Each with the instance id the server created it with.
        self.assertEqual([self.instance(i)[0] for i in (0, 5, 6, 8)], ["local1", "r0", "r1", "r3"])

    def test_disable_enable(self):
        r = self.create_unnumbered({0: "d1", 1: "broker", 2: "d1", 3: "z2m-th-sensor"})
        self.assertEqual(r["code"], "2.01", r)
        iid = int(r["location"].split("/")[2])
        self.assertEqual(iid, 1)  # the lowest free: the local device has 0
        self.wait_present("d1")
        self.temperature("d1", 5.0)
        # Enabled false: configured (its instance, its file) but stopped.
        dstart = len(self.srv.events("deregister"))
        r = self.srv.request("write", ep="gw", path="/26242/%d/6" % iid, value=False,
                             ct=SENML_CBOR, timeout=15)
        self.assertEqual(r["code"], "2.04", r)
        self.wait_gone("d1", dstart)
        v = self.instance(iid)
        self.assertEqual((v[0], v[6], v[7]), ("d1", False, "disabled"))
        with open(os.path.join(self.state, "devices", "d1.yaml")) as f:
            self.assertIn("enabled: false", f.read())
        self.assertEqual(self.gw.ctl("check").returncode, 0)
        # And back.
        start = len(self.srv.events("register"))
        r = self.srv.request("write", ep="gw", path="/26242/%d/6" % iid, value=True,
                             ct=SENML_CBOR, timeout=15)
        self.assertEqual(r["code"], "2.04", r)
        self.wait_present("d1", start)
        self.temperature("d1", 6.0)
        # The state follows the registration (within the 200 ms of the
        # change notification).
        deadline = time.monotonic() + 10
        while self.instance(iid)[7] != "registered":
            self.assertLess(time.monotonic(), deadline, self.instance(iid))
            time.sleep(0.05)

    def test_unapplied_edit(self):
        # The file was edited (lifetime) and not reloaded: a Create, which
        # would apply it and re-register everything, is refused (5.03).
        with open(self.gw.path) as f:
            text = f.read()
        self.gw.write(text.replace("lifetime: 60s", "lifetime: 90s"))
        r = self.create(SENML_CBOR, 4, {0: "u1", 1: "broker", 2: "u1", 3: "z2m-th-sensor"})
        self.assertEqual(r["code"], "5.03", r)
        self.assertRegex(r.get("text", ""), r"changes the LwM2M settings .* reload it first$")
        self.assertEqual(self.remote_files(), [])
        self.assertEqual(self.srv.events("deregister"), [])

    def test_enabled_key(self):
        # enabled: false in the configuration file: configured, stopped.
        dstart = len(self.srv.events("deregister"))
        start = self.gw.reload(self.text.replace("    address: local1\n", "    address: local1\n    enabled: false\n"))
        self.gw.wait_log(r"Configuration applied: 0 devices added, 0 removed, 1 changed, 0 unchanged", start)
        self.wait_gone("local1", dstart)
        deadline = time.monotonic() + 10
        while self.instance(0)[7] != "disabled":
            self.assertLess(time.monotonic(), deadline, self.instance(0))
            time.sleep(0.05)
        self.assertEqual((self.instance(0)[0], self.instance(0)[6]), ("local1", False))
        self.assertNotIn("local1", self.gw.ctl("status", "--names").stdout.split())

    def execute_gateway(self, rid):
        r = self.srv.request("execute", ep="gw", path="/3/0/%d" % rid, timeout=15)
        self.assertEqual(r["code"], "2.04", r)

    def wait_reregistered(self, eps, dstart, rstart):
        """Every endpoint of eps de-registers, then registers again."""
        for ep in eps:
            d = self.wait_event_after("deregister", ep, dstart)
            reg = self.wait_event_after("register", ep, rstart)
            self.assertLess(d["ts"], reg["ts"], ep)

    def test_reboot(self):
        r = self.create(SENML_CBOR, 3, {0: "b1", 1: "broker", 2: "b1", 3: "z2m-th-sensor"})
        self.assertEqual(r["code"], "2.01", r)
        self.wait_present("b1")
        pid = self.gw.proc.pid
        dstart, rstart = len(self.srv.events("deregister")), len(self.srv.events("register"))
        self.execute_gateway(4)
        eps = ["gw", "gw-local1", "gw-b1"] if self.mode == "endpoint" else ["gw"]
        self.wait_reregistered(eps, dstart, rstart)
        self.wait_present("b1", rstart)
        self.wait_present("local1", rstart)
        # The same process (re-executed: systemd keeps tracking it), the
        # created device kept.
        self.assertIsNone(self.gw.proc.poll())
        self.assertEqual(self.gw.proc.pid, pid)
        self.gw.wait_log(r"The LwM2M server asked for a Reboot: de-registering, then starting again")
        self.temperature("b1", 7.5)
        self.assertEqual(self.remote_files(), ["b1.yaml"])

    def test_factory_reset(self):
        r = self.create(SENML_CBOR, 3, {0: "f1", 1: "broker", 2: "f1", 3: "z2m-th-sensor"})
        self.assertEqual(r["code"], "2.01", r)
        self.wait_present("f1")
        # A bootstrap result the client would have kept.
        with open(os.path.join(self.state, "bs-gw.state"), "w") as f:
            f.write("x")
        dstart, rstart = len(self.srv.events("deregister")), len(self.srv.events("register"))
        self.execute_gateway(5)
        self.wait_reregistered(["gw", "gw-local1"] if self.mode == "endpoint" else ["gw"], dstart, rstart)
        self.wait_present("local1", rstart)
        self.assertEqual(self.remote_files(), [])
        self.assertFalse(os.path.exists(os.path.join(self.state, "bs-gw.state")))
        r = self.srv.request("read", ep="gw", path="/26242", timeout=10)
        self.assertEqual(sorted({p.split("/")[2] for p in records_by_path(r)}), ["0"])
        if self.mode == "endpoint":
            self.assertEqual([e for e in self.srv.events("register")[rstart:] if e["ep"] == "gw-f1"], [])
        else:
            self.assertNotIn("f1", self.prefixes())

    def temperature_at(self, dev, topic, value):
        deadline = time.monotonic() + 15
        while True:
            self.broker.pub("zigbee2mqtt/" + topic, json.dumps({"temperature": value}), qos=1)
            r = self.srv.request("read", ep=self.ep(dev), path=self.path(dev, "/3303/0/5700"), timeout=10)
            if r["code"] == "2.05" and records_by_path(r)[self.path(dev, "/3303/0/5700")] == value:
                return
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.1)

    def test_bad_creates(self):
        before = len(self.srv.events())
        cases = [
            ({0: "x1", 1: "nope", 2: "x1", 3: "z2m-th-sensor"}, r"unknown bridge 'nope' for device 'x1'"),
            ({0: "x2", 1: "broker", 2: "x2", 3: "no-such-profile"}, r"no-such-profile"),
            ({0: "x3", 1: "broker", 2: "a/b", 3: "z2m-th-sensor"}, r"x3.yaml:7:14: mqtt: 'a/b' cannot be a topic level"),
            ({0: "local1", 1: "broker", 2: "l", 3: "z2m-th-sensor"}, r"device name 'local1' is taken"),
            ({1: "broker", 2: "x5", 3: "z2m-th-sensor"}, r"^Name \(resource 0\) is required$"),
            ({0: "x6", 1: "broker", 2: "x6", 3: "z2m-th-sensor", 5: "[1]"}, r"Variables"),
        ]
        for values, want in cases:
            r = self.create(SENML_CBOR, 9, values)
            self.assertEqual(r["code"], "4.00", (values, r))
            self.assertRegex(r.get("text", ""), want)
            self.assertNotIn("\n", r["text"])
        # An instance id that is taken (the local device's).
        r = self.create(SENML_CBOR, 0, {0: "x7", 1: "broker", 2: "x7", 3: "z2m-th-sensor"})
        self.assertEqual((r["code"], r.get("text")), ("4.00", "instance /26242/0 exists"))
        self.assertEqual(self.remote_files(), [])
        # Nothing registered, nothing in /25, one instance (the local one).
        self.assertEqual([e for e in self.srv.events("register")[0:] if e["ep"] not in ("gw", self.ep("local1"))],
                         [])
        r = self.srv.request("read", ep="gw", path="/26242", timeout=10)
        self.assertEqual(sorted({p.split("/")[2] for p in records_by_path(r)}), ["0"])
        del before


class RemoteGateway(Remote):
    mode = "gateway"


class HostReboot(test_devices.Base):
    """reboot: host: Reboot de-registers everything, then asks logind
    (dbusmock's logind template on a private system bus) and exits 0."""

    def setUp(self):
        super().setUp()
        sys.path.insert(0, os.path.join(SOURCE, "tests", "ble"))
        from test_ble import Bus, wait_for
        self.bus = Bus()
        self.addCleanup(self.bus.stop)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.logind = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--system", "--template", "logind"],
                                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_logind)
        wait_for(lambda: self.bus.conn.name_has_owner("org.freedesktop.login1"), 15, "logind on the bus")
        self.state = tempfile.mkdtemp(prefix="fg-remote-state-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def stop_logind(self):
        self.logind.terminate()
        self.logind.wait(10)

    def reboots(self):
        mock = self.bus.conn.get_object("org.freedesktop.login1", "/org/freedesktop/login1")
        return [(str(c[1]), [bool(a) for a in c[2]]) for c in mock.GetCalls(dbus_interface="org.freedesktop.DBus.Mock")
                if str(c[1]) == "Reboot"]

    def test_host(self):
        text = test_devices.config(self.srv.url, "@SOCK@", [{"name": "s1"}], state_dir=self.state)
        text = text.replace("  state_dir:", "  reboot: host\n  state_dir:")
        old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus.address
        try:
            gw = self.start(text)
        finally:
            if old is None:
                del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
            else:
                os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = old
        for ep in ("gw", "gw-s1"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        self.assertEqual(self.reboots(), [])
        r = self.srv.request("execute", ep="gw", path="/3/0/4", timeout=15)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(gw.proc.wait(timeout=20), 0)
        self.assertEqual(sorted(self.srv.wait_event("deregister", ep=ep)["ep"] for ep in ("gw", "gw-s1")),
                         ["gw", "gw-s1"])
        # Not interactive: polkit decides, nobody is asked.
        self.assertEqual(self.reboots(), [("Reboot", [False])])
        gw.wait_log(r"Rebooting the host \(logind\)")


def main():
    global FIELDGATE
    FIELDGATE = os.path.abspath(sys.argv.pop(1))
    test_devices.FIELDGATE = FIELDGATE
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
