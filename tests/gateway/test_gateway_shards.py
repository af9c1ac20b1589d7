#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Gateway mode with more devices than one gateway endpoint holds
(lwm2m.gateway_devices_max): the extra gateway endpoints gw-gw2, gw-gw3...
registered with the right Object 25 instances, Read, Write-Attributes and
Observe of a device on an extra endpoint, `fieldgate status` naming the
endpoint that holds each device, the placement kept across a restart
(state_dir/gateway-placement, whatever the devices' order), a removed
device moving nobody and its place filled by a new one once no never-used
place is left, and an extra endpoint de-registered when its last device
goes. Against fg-lwm2m-server.

Usage: test_gateway_shards.py PATH/TO/fieldgate   (meson passes it)
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_devices  # noqa: E402
import unittest_main  # noqa: E402
from test_devices import Gateway, config, records_by_path  # noqa: E402


def shard_config(url, names, state_dir, limit=3):
    devs = [n if isinstance(n, dict) else {"name": n} for n in names]
    text = config(url, "@SOCK@", devs, mode="gateway", state_dir=state_dir)
    return text.replace("  mode: gateway\n", "  mode: gateway\n  gateway_devices_max: %d\n" % limit)


class Shards(test_devices.Base):
    def setUp(self):
        super().setUp()
        self.state = tempfile.mkdtemp(prefix="fg-shard-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def places(self, ep, expected, timeout=15):
        """Wait until ep's Object 25 instances are {iid: prefix} == expected."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.srv.request("read", ep=ep, path="/25", timeout=10)
            got = {}
            if r["code"] == "2.05":
                for p, v in records_by_path(r).items():
                    m = re.fullmatch(r"/25/(\d+)/1", p)
                    if m:
                        got[int(m.group(1))] = v
            if got == expected or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(got, expected, ep)

    def registered(self, gw, line, timeout=15):
        """Wait until `fieldgate status` ends with line."""
        deadline = time.monotonic() + timeout
        while True:
            out = gw.ctl("status").stdout.splitlines()  # empty until the socket is up
            last = out[-1] if out else ""
            if last == line or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(last, line)

    def start_gw(self, names, limit=3):
        gw = Gateway(shard_config(self.srv.url, names, self.state, limit))
        self.addCleanup(gw.stop)
        return gw

    def test_seven_devices_three_endpoints(self):
        names = ["d%d" % i for i in range(1, 8)]
        gw = self.start_gw(names)
        for ep in ("gw", "gw-gw2", "gw-gw3"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        self.places("gw", {0: "d1", 1: "d2", 2: "d3"})
        self.places("gw-gw2", {0: "d4", 1: "d5", 2: "d6"})
        self.places("gw-gw3", {0: "d7"})
        self.registered(gw, "7 devices, 7 registered")
        self.assertEqual(sorted({e["ep"] for e in self.srv.events("register")}), ["gw", "gw-gw2", "gw-gw3"])
        self.assertIn("in gateway mode (3 devices per gateway endpoint: 3 for the configured devices)",
                      gw.ctl("check").stdout)
        # An extra endpoint is a client of its own: /1 and its Device
        # object, named after itself; Object 25 only for its devices.
        self.assertEqual(self.value("gw-gw2", "/3/0/2"), "gw-gw2")
        self.assertEqual(self.value("gw-gw2", "/25/1/0"), "d5")

        # A device on an extra endpoint: Read, Write-Attributes, Observe.
        self.assertEqual(self.value("gw-gw2", "/d5/3/0/0"), "fieldgate demo")
        self.assertEqual(gw.ctl("sample", "d5", "/3303/0/5700", "1").stdout, "ok\n")
        self.assertEqual(self.value("gw-gw2", "/d5/3303/0/5700"), 1)
        self.assertEqual(gw.ctl("sample", "d7", "/3303/0/5700", "2").stdout, "ok\n")
        r = self.srv.request("write-attributes", ep="gw-gw3", path="/d7/3303/0/5700", attrs={"pmin": 0},
                             timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        obs = self.srv.request("observe", ep="gw-gw3", path="/d7/3303/0/5700", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)
        self.assertEqual(gw.ctl("sample", "--", "d7", "/3303/0/5700", "-3.25").stdout, "ok\n")
        n = self.srv.wait_event("notify", ep="gw-gw3", timeout=10)
        self.assertEqual(list(records_by_path(n).values()), [-3.25])
        # Not another endpoint's device.
        r = self.srv.request("read", ep="gw", path="/d7/3303/0/5700", timeout=10)
        self.assertEqual(r["code"], "4.04", r)

        # Which endpoint holds a device: status says it.
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"\nd5 +- +gw-gw2/d5 +registered ")
        self.assertRegex(st, r"\nd1 +- +gw/d1 +registered ")
        self.assertIn("Also gateway endpoint gw-gw2 registered, 3 devices", st)
        self.assertIn("Also gateway endpoint gw-gw3 registered, 1 device\n", st)
        m = gw.ctl("metrics").stdout
        self.assertIn("\nfieldgate_gateway_extra_endpoints 2\n", m)
        self.assertIn("\nfieldgate_gateway_extra_endpoints_registered 2\n", m)
        js = json.loads(gw.ctl("status", "--json").stdout)
        self.assertEqual({d["name"]: d["endpoint"] for d in js["devices"]}["d5"], "gw-gw2/d5")

        # Restart with the devices in another order: the same places.
        self.assertEqual(gw.stop(), 0)
        with open(os.path.join(self.state, "gateway-placement")) as f:
            self.assertEqual(f.read(), "0 0 d1\n0 1 d2\n0 2 d3\n1 0 d4\n1 1 d5\n1 2 d6\n2 0 d7\n")
        gw = self.start_gw(list(reversed(names)))
        self.registered(gw, "7 devices, 7 registered")
        self.places("gw", {0: "d1", 1: "d2", 2: "d3"})
        self.places("gw-gw2", {0: "d4", 1: "d5", 2: "d6"})
        self.places("gw-gw3", {0: "d7"})
        self.assertEqual(gw.stop(), 0)

    def test_remove_moves_nobody_add_fills(self):
        gw = self.start_gw(["d%d" % i for i in range(1, 8)])
        self.registered(gw, "7 devices, 7 registered")
        # d7, alone on gw-gw3, changes (removed and added again by the
        # reload): gw-gw3 stays registered, d7 keeps its place.
        regs = len(self.srv.events("register"))
        names = ["d%d" % i for i in range(1, 7)] + [{"name": "d7", "serial": "changed"}]
        start = gw.reload(shard_config(self.srv.url, names, self.state))
        gw.wait_log(r"Configuration applied: 0 devices added, 0 removed, 1 changed", start)
        self.assertEqual(self.value("gw-gw3", "/d7/3/0/2"), "changed")
        self.places("gw-gw3", {0: "d7"})
        self.assertEqual(len(self.srv.events("register")), regs)
        self.assertEqual(self.srv.events("deregister"), [])
        # d1 (the first endpoint's) goes: nobody moves.
        start = gw.reload(shard_config(self.srv.url, ["d%d" % i for i in range(2, 8)], self.state))
        gw.wait_log(r"Configuration applied: 0 devices added, 1 removed", start)
        self.places("gw", {1: "d2", 2: "d3"})
        self.places("gw-gw2", {0: "d4", 1: "d5", 2: "d6"})
        self.places("gw-gw3", {0: "d7"})
        # New devices take the free places: those nobody had first, then
        # d1's; no fourth endpoint.
        names = ["d%d" % i for i in range(2, 11)]
        start = gw.reload(shard_config(self.srv.url, names, self.state))
        gw.wait_log(r"Configuration applied: 3 devices added, 0 removed", start)
        self.places("gw-gw3", {0: "d7", 1: "d8", 2: "d9"})
        self.places("gw", {0: "d10", 1: "d2", 2: "d3"})
        self.registered(gw, "9 devices, 9 registered")
        self.assertNotIn("gw-gw4", {e["ep"] for e in self.srv.events("register")})
        # The last device of an extra endpoint goes: it de-registers.
        start = gw.reload(shard_config(self.srv.url, ["d2", "d3", "d10", "d7", "d8", "d9"], self.state))
        self.srv.wait_event("deregister", ep="gw-gw2", timeout=15)
        self.places("gw-gw3", {0: "d7", 1: "d8", 2: "d9"})
        self.assertNotIn("gw-gw2", gw.ctl("status").stdout)
        self.assertEqual(gw.stop(), 0)


    def test_placement_file_checked(self):
        # What the file says is taken line by line; a line that does not
        # parse, a place given twice or an id out of range is skipped with
        # one warning, and that device gets a new place.
        with open(os.path.join(self.state, "gateway-placement"), "w") as f:
            f.write("0 0 d2\nbogus\n0 0 d1\n5 70000 x\n")
        gw = self.start_gw(["d1", "d2"])
        gw.wait_log(r"gateway-placement: 3 lines skipped")
        self.registered(gw, "2 devices, 2 registered")
        self.places("gw", {0: "d2", 1: "d1"})
        self.assertEqual(gw.stop(), 0)
        with open(os.path.join(self.state, "gateway-placement")) as f:
            self.assertEqual(f.read(), "0 0 d2\n0 1 d1\n")

def main():
    test_devices.FIELDGATE = os.path.abspath(sys.argv.pop(1))
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
