#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SunSpec end to end: a device configured with `profile: sunspec` in
front of a pymodbus server serving a SunSpec register image (common model,
inverter 103, MPPT 160 with two strings, meter 203, scale factors, points
"not implemented", a vendor model; tests/data/modbus/sunspec/inverter.regs).
fieldgate walks the map, the device registers again with the objects made
of it, and values read through LwM2M equal the field's (scale factors
applied); a value changed on the server is seen at the next poll; the
vendor model is listed in `fieldgate status`. A device without a SunSpec
map is retried and shown unreachable, and gets its objects once the map
appears; a map at 50000 is found too.

Usage: test_modbus_sunspec.py PATH/TO/fieldgate PATH/TO/mb-test-server
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mbtest  # noqa: E402
from mbtest import PY, Proc, free_port, records_by_path  # noqa: E402

IMAGE = os.path.join(mbtest.SOURCE, "tests", "data", "modbus", "sunspec", "inverter.regs")


class SunSpecServer(Proc):
    def __init__(self, unit=1, shift=0, image=IMAGE):
        self.port = free_port()
        super().__init__([PY, os.path.join(HERE, "sunspec_server.py"), str(self.port), str(unit), image, str(shift)])
        assert self.next(20) == {"ready": True}

    def cmd(self, **c):
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()
        return self.next(10)


class SunSpec(mbtest.Base):
    def server(self, **kw):
        s = SunSpecServer(**kw)
        self.addCleanup(s.stop)
        return s

    def test_inverter_mppt_meter(self):
        mb = self.server()
        gw = self.gateway("tcp: {host: 127.0.0.1, port: %d}\ntimeout: 1s" % mb.port,
                          [{"name": "inv", "profile": "sunspec", "address": 1, "poll": "500ms"}])
        # With the map's objects (the placeholder's registration, if it
        # came first, is replaced).
        ev = self.srv.wait_event("register", ep="gw-inv", timeout=20, where=lambda e: "/3305/0" in str(e.get("links")))
        links = str(ev.get("links"))
        for o in ("/3305/0", "/3305/1", "/3316/0", "/3317/0", "/3318/0", "/3303/0", "/3331/0", "/3306/0"):
            self.assertIn(o, links)
        gw.wait_log(r"Modbus bus: inv: SunSpec map read \(profile sunspec-1-103-160-203-64110-[0-9a-f]+; "
                    r"models not mapped: 64110\)")
        v = self.read("gw-inv", "/3/0")
        self.assertEqual((v["/3/0/0"], v["/3/0/1"], v["/3/0/2"], v["/3/0/3"]),
                         ("SunSpec Demo", "SSI-5K-3P", "A1B2C3D4", "1.4.2"))
        # Scale factors applied: the values the image was made of.
        want = {"/3317/0/5700": 12.34, "/3316/3/5700": 230.1, "/3318/0/5700": 50.01,
                "/3305/0/5800": 8500.0, "/3305/0/5810": -120.0, "/3305/0/5820": 0.987,
                "/3305/0/5805": 12345678.0, "/3303/0/5700": 45.5, "/3306/0/5853": "MPPT",
                "/3317/5/5700": 10.75, "/3316/8/5700": 409.0, "/3331/1/5700": 5980456.0,
                "/3305/1/5800": -8450.0, "/3305/1/5820": -0.99, "/3305/1/5805": 12345.0}
        for path, value in want.items():
            got = self.wait_value("gw-inv", path, lambda r: path in r)[path]
            if isinstance(value, float):
                self.assertAlmostEqual(got, value, places=9, msg=path)
            else:
                self.assertEqual(got, value, path)
        self.assertEqual(self.read("gw-inv", "/3305/0/5750")["/3305/0/5750"], "103 power")
        # A new value at the device: seen at the next poll (W = 423 x 10).
        mb.cmd(op="set", addr=40084, values=[423])
        self.wait_value("gw-inv", "/3305/0/5800", lambda r: r["/3305/0/5800"] == 4230.0)
        # Points "not implemented" are not there (VA of the inverter).
        r = self.srv.request("read", ep="gw-inv", path="/3328/0/5750", timeout=10)
        self.assertNotEqual(records_by_path(r).get("/3328/0/5750"), "103 VA")
        st = gw.ctl("status")
        line = [l for l in st.stdout.split("\n") if l.startswith("inv ")][0]
        self.assertIn("sunspec: models not mapped: 64110", line)
        # The generated profile loaded without a word: SunSpec's 40000s
        # are not taken for the manuals' 4x notation.
        self.assertEqual([l for l in gw.log if "notation" in l], [])

    def test_no_map_then_a_map_at_50000(self):
        # The device has no SunSpec map yet: retried, unreachable meanwhile.
        empty = os.path.join(self.tmp, "empty.regs")
        with open(empty, "w") as f:
            f.write("holding:100=0001 0002\n")
        mb = self.server(image=empty)
        gw = self.gateway("tcp: {host: 127.0.0.1, port: %d}\ntimeout: 1s" % mb.port,
                          [{"name": "inv", "profile": "sunspec", "address": 1}])
        self.srv.wait_event("register", ep="gw-inv", timeout=20)
        gw.wait_log(r"inv: SunSpec map not read \(no SunSpec map: registers 40000, 0 and 50000 do not "
                    r"exist\): trying again in 5 s")
        self.wait_value("gw-inv", "/3/0/11/0", lambda r: r["/3/0/11/0"] == 16)
        st = gw.ctl("status")
        self.assertIn("sunspec: no SunSpec map", st.stdout)
        # The map appears (a firmware update, say), at 50000: found at a
        # later try, without a reload.
        self.assertEqual(mb.cmd(op="load", image=IMAGE, shift=10000), {"ok": True})
        self.srv.wait_event("register", ep="gw-inv", timeout=40, where=lambda e: "/3305/0" in str(e.get("links")))
        self.wait_value("gw-inv", "/3305/0/5800", lambda r: r["/3305/0/5800"] == 8500.0)
        self.wait_value("gw-inv", "/3/0/11/0", lambda r: r["/3/0/11/0"] == 0)


if __name__ == "__main__":
    sys.exit(mbtest.main(sys.argv, globals()))
