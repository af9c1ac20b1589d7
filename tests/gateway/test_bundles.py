#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Profile bundles installed from the LwM2M server (issue 16 item 2): Object
9 Software Management on the gateway's endpoint, end to end against
fg-lwm2m-server and a real mosquitto behind the devices (test_remote.py's
setup: one device of the file, local1).

- a bundle adding a profile: Create /9, Write /9/x/2 (opaque, block-wise),
  DELIVERED with its name and version, Execute Install: INSTALLED and
  active; a device created with the bundle's profile through Object 26242
  serves the broker's values; `fieldgate check` passes;
- a bundle with a broken profile: Install refused (4.00), Update Result 58
  and the loader's file:line:col error in /9/x/16, still DELIVERED;
  nothing installed, nothing re-registered, `fieldgate check` passes;
- a bundle whose profile has the name of a local one: refused, naming both;
- not a tar archive: Update Result 54, back to INITIAL;
- Uninstall refused while a device uses the bundle's profile (59, the
  device's file in /9/x/16), done once it is gone: the files are removed;
- Deactivate: the bundle's profiles are not found (a Create with one is
  refused), Activate: they are again;
- a restart: the installed bundle is the same instance, INSTALLED, and
  the device created with its profile comes back;
- a new version to another instance replaces the installed one;
- pull: a Package URI on a local HTTP server (update.schemes: [http]),
  installed and used; a 404 is Update Result 56; a scheme not allowed is
  refused at once (4.00, 56); a push over update.max_size ends with 4.13
  and 50; a Package URI on a coaps server (libcoap's coap-server-openssl)
  with the PSK of update.psk_identity / update.psk_key, installed;
- a bundle with an object definition and a profile using it; bundles
  redefining a known object refused;
- every case again in gateway mode (Object 25).

Usage: test_bundles.py PATH/TO/fieldgate
"""
import functools
import http.server
import os
import subprocess
import sys
import threading
import time

import unittest_main

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bundlemk  # noqa: E402
import coapsrv  # noqa: E402
import test_devices  # noqa: E402
import test_remote  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402

OPAQUE, SENML_CBOR = 42, 112
DDF = """<?xml version="1.0" encoding="utf-8"?>
<LWM2M><Object ObjectType="MODefinition"><Name>Acme Meter</Name><ObjectID>%d</ObjectID>
<ObjectVersion>1.0</ObjectVersion><MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
<Resources><Item ID="0"><Name>Energy</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>
<Mandatory>Mandatory</Mandatory><Type>Float</Type><RangeEnumeration></RangeEnumeration><Units>Wh</Units></Item>
</Resources></Object></LWM2M>
"""
METER = """profile: acme-meter
description: an ACME meter with an object of its own
bridge: mqtt
objects:
  /%d/0:
    0:
      source: { topic: "zigbee2mqtt/{device}", json: /energy }
"""
INITIAL, DELIVERED, INSTALLED = 0, 3, 4


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Bundles(test_remote.WithBroker):
    def start(self, text):
        gw = super().start(text)
        self.addCleanup(self.stopped_clean, gw)
        return gw

    def stopped_clean(self, gw):
        """Each daemon stops with 0 and no sanitizer report (ASan build)."""
        gw.stop()
        bad = [l for l in gw.log if "Sanitizer" in l or "runtime error" in l]
        self.assertEqual((gw.proc.returncode, bad[:5]), (0, []))

    def sw(self, iid):
        r = self.srv.request("read", ep="gw", path="/9/%d" % iid, timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        return {int(p.split("/")[3]): v for p, v in records_by_path(r).items()}

    def deliver(self, package):
        """A new instance with package written to it: its id."""
        r = self.srv.request("create", ep="gw", path="/9", ct=SENML_CBOR, records=[], timeout=15)
        self.assertEqual(r["code"], "2.01", r)
        iid = int(r["location"].rstrip("/").split("/")[-1]) if "location" in r else 0
        r = self.srv.request("write", ep="gw", path="/9/%d/2" % iid, ct=OPAQUE, hex=package.hex(), timeout=30)
        self.assertEqual(r["code"], "2.04", r)
        return iid

    def execute(self, iid, rid):
        return self.srv.request("execute", ep="gw", path="/9/%d/%d" % (iid, rid), timeout=30)

    def install(self, package):
        iid = self.deliver(package)
        r = self.execute(iid, 4)
        self.assertEqual(r["code"], "2.04", r)
        return iid

    def create_device(self, name, profile):
        return self.create(SENML_CBOR, 20 + len(self.remote_files()),
                           {0: name, 1: "broker", 2: name, 3: profile})

    def bundles(self):
        d = os.path.join(self.state, "bundles")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_install_create_device(self):
        iid = self.deliver(bundlemk.profile_bundle("acme", "1.0.2", "acme-th"))
        v = self.sw(iid)
        self.assertEqual((v[0], v[1], v[7], v[9], v[12]), ("acme", "1.0.2", DELIVERED, 3, False), v)
        # Nothing is searched before the Install.
        self.assertEqual(self.bundles(), [".staging-%d" % iid])
        r = self.create_device("t1", "acme-th")
        self.assertEqual(r["code"], "4.00", r)
        self.assertIn("unknown profile 'acme-th'", r.get("text", ""))

        local_regs = self.registers(self.ep("local1"))
        r = self.execute(iid, 4)
        self.assertEqual(r["code"], "2.04", r)
        v = self.sw(iid)
        self.assertEqual((v[0], v[1], v[7], v[9], v[12], v[16]), ("acme", "1.0.2", INSTALLED, 2, True, ""), v)
        self.assertEqual(self.bundles(), ["acme"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.state, "bundles", "acme"))),
                         ["bundle.yaml", "instance", "profiles"])

        start = len(self.srv.events("register"))
        r = self.create_device("t1", "acme-th")
        self.assertEqual(r["code"], "2.01", r)
        self.wait_present("t1", start)
        self.temperature("t1", 23.5)
        # Installing changed no other device.
        self.assertEqual(self.registers(self.ep("local1")), local_regs)
        c = self.gw.ctl("check")
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertNotIn("warning", c.stderr)
        # A profile of that name put in a configured folder later wins: check
        # warns (the Install would have refused the bundle).
        local = os.path.join(self.dir, "local-profiles")
        os.makedirs(local)
        with open(os.path.join(local, "acme-th.yaml"), "w") as f:
            f.write(bundlemk.renamed_profile("z2m-th-sensor", "acme-th"))
        other = os.path.join(self.dir, "other.yaml")
        with open(os.open(other, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.text.replace("@SOCK@", os.path.join(self.dir, "s.sock")).replace(
                "profiles_path: " + test_devices.PROFILES, "profiles_path: %s:%s" % (local, test_devices.PROFILES)))
        c = subprocess.run([test_remote.FIELDGATE, "check", "-c", other], capture_output=True, text=True, timeout=20)
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertIn("%s/bundles/acme/profiles: warning: profile acme-th.yaml of this bundle is not used: "
                      "%s/acme-th.yaml is found first" % (self.state, local), c.stderr)

        # Restart: the same instance, installed and active; t1 is back.
        self.gw.stop()
        start = len(self.srv.events("register"))
        self.gw = self.start(self.text)
        self.wait_present("gw", start)
        self.wait_present("t1", start)
        v = self.sw(iid)
        self.assertEqual((v[0], v[1], v[7], v[9], v[12]), ("acme", "1.0.2", INSTALLED, 2, True), v)
        self.temperature("t1", 24.5)

    def test_new_version(self):
        old = self.install(bundlemk.profile_bundle("acme", "1", "acme-th"))
        start = len(self.srv.events("register"))
        self.assertEqual(self.create_device("t4", "acme-th")["code"], "2.01")
        self.wait_present("t4", start)
        regs = self.registers(self.ep("t4"))
        # Version 2 to a new instance, installed: it replaces version 1.
        new = self.install(bundlemk.profile_bundle("acme", "2", "acme-th"))
        v = self.sw(new)
        self.assertEqual((v[0], v[1], v[7], v[9], v[12]), ("acme", "2", INSTALLED, 2, True), v)
        v = self.sw(old)
        self.assertEqual((v[0], v[7], v[9], v[16]), ("", INITIAL, 0, "replaced by acme 2 of /9/%d" % new), v)
        self.assertEqual(self.bundles(), ["acme"])
        with open(os.path.join(self.state, "bundles", "acme", "instance")) as f:
            self.assertEqual(f.read(), "%d\n" % new)
        with open(os.path.join(self.state, "bundles", "acme", "bundle.yaml")) as f:
            self.assertIn('version: "2"', f.read())
        # The same profile text: t4 is untouched and serves values.
        self.temperature("t4", 22.5)
        self.assertEqual(self.registers(self.ep("t4")), regs)
        # Delete of the installed instance: uninstalled first, refused while
        # t4 uses its profile; then both instances go.
        r = self.srv.request("delete", ep="gw", path="/9/%d" % new, timeout=15)
        self.assertEqual(r["code"], "4.00", r)
        self.assertIn("unknown profile 'acme-th'", r.get("text", ""))
        self.assertEqual(self.sw(new)[7], INSTALLED)
        self.assertEqual(self.srv.request("delete", ep="gw", path="/26242/20", timeout=15)["code"], "2.02")
        for iid in (new, old):
            r = self.srv.request("delete", ep="gw", path="/9/%d" % iid, timeout=15)
            self.assertEqual(r["code"], "2.02", r)
            self.assertEqual(self.srv.request("read", ep="gw", path="/9/%d" % iid, timeout=10)["code"], "4.04")
        self.assertEqual(self.bundles(), [])

    def serve(self, files):
        """A local HTTP server of files ({name: bytes}) on a free port: its URL."""
        root = os.path.join(self.dir, "www")
        os.makedirs(root)
        for name, data in files.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        handler = functools.partial(QuietHandler, directory=root)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        return "http://127.0.0.1:%d" % httpd.server_address[1]

    def wait_state(self, iid, states, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            v = self.sw(iid)
            if v[7] in states:
                return v
            self.assertLess(time.monotonic(), deadline, v)
            time.sleep(0.05)

    def coaps_server(self, name, data, key):
        """coap-server-openssl with PSK key serving data as /name: the coaps URI."""
        srv = coapsrv.CoapsServer(key)
        self.addCleanup(srv.close)
        self.assertTrue(srv.put(name, data), "cannot PUT the bundle on coap-server-openssl")
        return srv.uri(name)

    def test_pull_coaps_psk(self):
        uri = self.coaps_server("acme.tar.gz", bundlemk.profile_bundle("acme", "4", "acme-th", gz=True),
                                "bundle-secret-7")
        self.gw.stop()
        start = len(self.srv.events("register"))
        self.gw = self.start(self.text + "update:\n  schemes: [coaps]\n  psk_identity: fg-gw\n"
                             "  psk_key: %s\n  timeout: 10s\n" % b"bundle-secret-7".hex())
        self.wait_present("gw", start)
        r = self.srv.request("create", ep="gw", path="/9", ct=SENML_CBOR, records=[], timeout=15)
        self.assertEqual(r["code"], "2.01", r)
        iid = int(r["location"].rstrip("/").split("/")[-1])
        r = self.srv.request("write", ep="gw", path="/9/%d/3" % iid, value=uri, type="string", timeout=15)
        self.assertEqual(r["code"], "2.04", r)
        v = self.wait_state(iid, (DELIVERED,), timeout=30)
        self.assertEqual((v[0], v[1], v[9]), ("acme", "4", 3), v)
        self.assertEqual(self.execute(iid, 4)["code"], "2.04")
        self.assertEqual(self.sw(iid)[7], INSTALLED)
        self.assertEqual(self.bundles(), ["acme"])

    def test_pull(self):
        url = self.serve({"acme.tar.gz": bundlemk.profile_bundle("acme", "3", "acme-th", gz=True)})
        # http allowed (the default is coaps and https only).
        self.gw.stop()
        start = len(self.srv.events("register"))
        self.gw = self.start(self.text + "update:\n  schemes: [http]\n  max_size: 8192\n")
        self.wait_present("gw", start)
        r = self.srv.request("create", ep="gw", path="/9", ct=SENML_CBOR, records=[], timeout=15)
        self.assertEqual(r["code"], "2.01", r)
        r = self.srv.request("write", ep="gw", path="/9/0/3", value=url + "/acme.tar.gz", type="string", timeout=15)
        self.assertEqual(r["code"], "2.04", r)
        v = self.wait_state(0, (DELIVERED, INITIAL))
        self.assertEqual((v[0], v[1], v[7], v[9]), ("acme", "3", DELIVERED, 3), v)
        r = self.execute(0, 4)
        self.assertEqual(r["code"], "2.04", r)
        start = len(self.srv.events("register"))
        self.assertEqual(self.create_device("t5", "acme-th")["code"], "2.01")
        self.wait_present("t5", start)
        self.temperature("t5", 18.5)
        # A missing file: Invalid URI; a scheme not allowed: refused at once.
        r = self.srv.request("create", ep="gw", path="/9", ct=SENML_CBOR, records=[], timeout=15)
        iid = int(r["location"].rstrip("/").split("/")[-1])
        r = self.srv.request("write", ep="gw", path="/9/%d/3" % iid, value=url + "/nothing.tar", type="string",
                             timeout=15)
        self.assertEqual(r["code"], "2.04", r)
        v = self.wait_state(iid, (INITIAL,))
        deadline = time.monotonic() + 20
        while v[9] in (0, 1):
            self.assertLess(time.monotonic(), deadline, v)
            time.sleep(0.05)
            v = self.sw(iid)
        self.assertEqual((v[7], v[9]), (INITIAL, 56), v)
        r = self.srv.request("write", ep="gw", path="/9/%d/3" % iid, value="https://127.0.0.1/x.tar", type="string",
                             timeout=15)
        self.assertEqual(r["code"], "4.00", r)
        self.assertIn("scheme is not allowed", r.get("text", ""))
        self.assertEqual(self.sw(iid)[9], 56)
        self.assertEqual(self.bundles(), ["acme"])
        # A pushed package over update.max_size (a plain tar: 10240 bytes):
        # the block-wise Write ends with 4.13, Update Result 50, no file left.
        pkg = bundlemk.profile_bundle("big", "1", "big-th")
        self.assertGreater(len(pkg), 8192)
        r = self.srv.request("write", ep="gw", path="/9/%d/2" % iid, ct=OPAQUE, hex=pkg.hex(), timeout=30)
        self.assertEqual(r["code"], "4.13", r)
        v = self.sw(iid)
        self.assertEqual((v[0], v[7], v[9]), ("", INITIAL, 50), v)
        self.assertEqual(self.bundles(), ["acme"])

    def object_bundle(self, oid, name="acme-obj", profile="acme-meter"):
        return bundlemk.tar({"bundle.yaml": bundlemk.manifest(name, "1", [profile], [str(oid)]),
                             "profiles/%s.yaml" % profile: (METER % oid).replace("acme-meter", profile),
                             "objects/%d.xml" % oid: DDF % oid})

    def energy(self, dev, oid, value):
        deadline = time.monotonic() + 15
        path = self.path(dev, "/%d/0/0" % oid)
        while True:
            self.broker.pub("zigbee2mqtt/" + dev, '{"energy": %s}' % value, qos=1)
            r = self.srv.request("read", ep=self.ep(dev), path=path, timeout=10)
            # The test server knows no object 33000: a plain text value.
            if r["code"] == "2.05" and str(records_by_path(r)[path]) == str(value):
                return
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.1)

    def test_object_bundle(self):
        # An object the gateway does not know, and a profile using it.
        iid = self.install(self.object_bundle(33000))
        start = len(self.srv.events("register"))
        self.assertEqual(self.create_device("t6", "acme-meter")["code"], "2.01")
        self.wait_present("t6", start)
        self.energy("t6", 33000, 1234.5)
        # After a restart the object is loaded from the bundle at start.
        self.gw.stop()
        start = len(self.srv.events("register"))
        self.gw = self.start(self.text)
        self.wait_present("t6", start)
        self.energy("t6", 33000, 1235.5)
        self.assertEqual(self.sw(iid)[7], INSTALLED)
        c = self.gw.ctl("check")
        self.assertEqual(c.returncode, 0, c.stderr)
        # A bundle may not redefine a known object: 3303 is built in (1.1),
        # 33000 is another bundle's.
        for oid, why in ((3303, "adds no object definition"),
                         (33000, "object 33000 is built in, in objects_dir or in another bundle already")):
            other = self.deliver(self.object_bundle(oid, "bad-obj-%d" % oid, "bad-meter-%d" % oid))
            r = self.execute(other, 4)
            self.assertEqual(r["code"], "4.00", r)
            v = self.sw(other)
            self.assertEqual((v[7], v[9]), (DELIVERED, 58), v)
            self.assertIn("objects/%d.xml: %s" % (oid, why), v[16])

    def test_broken_profile_refused(self):
        text = bundlemk.renamed_profile("z2m-th-sensor", "acme-bad").replace("unit: Cel", "unit: Cel\n      scale: x", 1)
        line = text.splitlines().index("      scale: x") + 1
        iid = self.deliver(bundlemk.profile_bundle("acme-bad", "1", "acme-bad", text=text))
        local_regs = self.registers(self.ep("local1"))
        r = self.execute(iid, 4)
        self.assertEqual(r["code"], "4.00", r)
        v = self.sw(iid)
        self.assertEqual((v[7], v[9], v[12]), (DELIVERED, 58, False), v)
        where = ("/bundles/.staging-%d/profiles/acme-bad.yaml:%d:14: invalid scale 'x' of /3303/0/5700: "
                 "expected a decimal number" % (iid, line))
        self.assertIn(where, v[16])
        self.assertIn(where, r.get("text", ""))
        # Nothing changed: nothing installed, the configuration still checks,
        # local1 kept its registration and values.
        self.assertNotIn("acme-bad", self.bundles())
        c = self.gw.ctl("check")
        self.assertEqual(c.returncode, 0, c.stderr)
        self.temperature("local1", 19.5)
        self.assertEqual(self.registers(self.ep("local1")), local_regs)
        # Uninstall of a delivered package: back to INITIAL, the files gone.
        r = self.execute(iid, 6)
        self.assertEqual(r["code"], "2.04", r)
        v = self.sw(iid)
        self.assertEqual((v[0], v[7], v[9]), ("", INITIAL, 0), v)
        self.assertEqual(self.bundles(), [])

    def test_clash_and_not_a_bundle(self):
        # A profile of the bundle with the name of one of profiles_path.
        iid = self.deliver(bundlemk.profile_bundle("clash", "1", "z2m-th-sensor", source="z2m-th-sensor"))
        r = self.execute(iid, 4)
        self.assertEqual(r["code"], "4.00", r)
        v = self.sw(iid)
        self.assertEqual((v[7], v[9]), (DELIVERED, 58), v)
        self.assertIn("profile 'z2m-th-sensor' is also %s/z2m-th-sensor.yaml" % test_devices.PROFILES, v[16])
        # Not a tar archive; a path out of the folder.
        iid = self.deliver(b"PK\x03\x04 a zip file")
        v = self.sw(iid)
        self.assertEqual((v[0], v[7], v[9]), ("", INITIAL, 54), v)
        self.assertIn("not a tar archive", v[16])
        r = self.srv.request("write", ep="gw", path="/9/%d/2" % iid, ct=OPAQUE, timeout=30,
                             hex=bundlemk.tar({"bundle.yaml": bundlemk.manifest("x", "1", ["a"]),
                                               "profiles/../../../a.yaml": "x"}).hex())
        self.assertEqual(r["code"], "2.04", r)
        v = self.sw(iid)
        self.assertEqual((v[7], v[9]), (INITIAL, 53), v)
        self.assertIn("archive entry profiles/../../../a.yaml: not a bundle file", v[16])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "a.yaml")))

    def test_uninstall_deactivate_activate(self):
        iid = self.install(bundlemk.profile_bundle("acme", "2", "acme-th"))
        start = len(self.srv.events("register"))
        self.assertEqual(self.create_device("t2", "acme-th")["code"], "2.01")
        self.wait_present("t2", start)
        # Uninstall and Deactivate refused while t2 uses its profile (the
        # Update Result is the Uninstall's: a Deactivate has none of its own).
        for rid, result in ((6, 59), (11, 59)):
            r = self.execute(iid, rid)
            self.assertEqual(r.get("code"), "4.00", (r, self.gw.proc.poll(), self.gw.log[-15:]))
            v = self.sw(iid)
            self.assertEqual((v[7], v[9], v[12]), (INSTALLED, result, True), v)
            self.assertIn("devices/t2.yaml", v[16])
            self.assertIn("unknown profile 'acme-th'", v[16])
        self.temperature("t2", 21.0)
        # t2 goes; then Deactivate: its profiles are not found.
        r = self.srv.request("delete", ep="gw", path="/26242/%d" % 20, timeout=15)
        self.assertEqual(r["code"], "2.02", r)
        r = self.execute(iid, 11)
        self.assertEqual(r["code"], "2.04", r)
        v = self.sw(iid)
        self.assertEqual((v[7], v[12]), (INSTALLED, False), v)
        self.assertTrue(os.path.exists(os.path.join(self.state, "bundles", "acme", "inactive")))
        r = self.create_device("t3", "acme-th")
        self.assertEqual(r.get("code"), "4.00", r)
        # Activate: found again.
        r = self.execute(iid, 10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(self.sw(iid)[12], True)
        start = len(self.srv.events("register"))
        self.assertEqual(self.create_device("t3", "acme-th")["code"], "2.01")
        self.wait_present("t3", start)
        r = self.srv.request("delete", ep="gw", path="/26242/%d" % 20, timeout=15)
        self.assertEqual(r["code"], "2.02", r)
        # Uninstall: back to INITIAL, the files gone; check still passes.
        r = self.execute(iid, 6)
        self.assertEqual(r["code"], "2.04", r)
        v = self.sw(iid)
        self.assertEqual((v[0], v[1], v[7], v[9], v[12]), ("", "", INITIAL, 0, False), v)
        self.assertEqual(self.bundles(), [])
        c = self.gw.ctl("check")
        self.assertEqual(c.returncode, 0, c.stderr)


class BundlesGateway(Bundles):
    """The same with the devices as Object 25 instances of the gateway."""
    mode = "gateway"


def main():
    test_remote.FIELDGATE = os.path.abspath(sys.argv[1])
    test_devices.FIELDGATE = test_remote.FIELDGATE
    sys.argv.pop(1)
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
