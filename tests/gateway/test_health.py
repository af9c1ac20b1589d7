#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The gateway's own health on its endpoint, from real figures (issue 14,
part 3), against fg-lwm2m-server with a real mosquitto behind an MQTT
bridge:

- /3/0: Memory Free and Total as /proc/meminfo says (MemAvailable,
  MemTotal, KiB), Current Time, UTC Offset and Timezone of the host, Error
  Code 0, then 8 (peripheral) while a device is unreachable;
- Object 26241 Fieldgate Bridge Statistics: one instance per bridge with
  the samples through it, the failed ones and the last failure; Reset
  Statistics (Execute /26241/0/4) zeroes them;
- Object 4 Connectivity Monitoring of the default route's interface: its
  addresses, the router's, the bearer (Ethernet or WLAN); and when that
  interface is a modem's, its radio as ModemManager says (a dbusmock
  stand-in on a private system bus): LTE, RSSI, quality, MCC/MNC.

Usage: test_health.py PATH/TO/fieldgate
"""
import json
import os
import socket
import struct
import sys
import time
import unittest

import unittest_main

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_devices  # noqa: E402
import test_remote  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])
    return out


def default_route():
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[1] == "00000000" and p[7] == "00000000" and int(p[3], 16) & 1:
                return p[0], socket.inet_ntoa(struct.pack("<I", int(p[2], 16)))
    return None, None


def addresses(ifname):
    """The interface's addresses as `ip -j addr` lists them."""
    import subprocess
    out = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", ifname], capture_output=True,
                                    text=True, check=True).stdout)
    return sorted(a["local"] for i in out for a in i.get("addr_info", []))


class Health(test_remote.WithBroker):
    def read(self, path):
        r = self.srv.request("read", ep="gw", path=path, timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        return records_by_path(r)

    def test_device_object(self):
        before = meminfo()
        v = self.read("/3/0")
        after = meminfo()
        self.assertEqual(v["/3/0/21"], before["MemTotal"])
        lo, hi = sorted((before["MemAvailable"], after["MemAvailable"]))
        # Memory moves while we look: within 64 MiB of what we read around it.
        self.assertLessEqual(lo - 65536, v["/3/0/10"])
        self.assertLessEqual(v["/3/0/10"], hi + 65536)
        self.assertAlmostEqual(v["/3/0/13"], time.time(), delta=5)
        off = time.localtime().tm_gmtoff // 60
        self.assertEqual(v["/3/0/14"], "%s%02d:%02d" % ("-" if off < 0 else "+", abs(off) // 60, abs(off) % 60))
        link = os.path.realpath("/etc/localtime")
        if not os.environ.get("TZ") and "zoneinfo/" in link:
            self.assertEqual(v["/3/0/15"], link.split("zoneinfo/", 1)[1])
        self.assertEqual(v["/3/0/11/0"], 0)
        self.assertNotIn("/3/0/11/1", v)
        # A device its bridge cannot reach: Peripheral Malfunction (8).
        self.assertEqual(self.gw.ctl("presence", "local1", "110").stdout, "ok\n")
        v = self.read("/3/0/11")
        self.assertEqual(v, {"/3/0/11/0": 8})
        self.assertEqual(self.gw.ctl("presence", "local1", "0").stdout, "ok\n")
        self.assertEqual(self.read("/3/0/11"), {"/3/0/11/0": 0})
        # An unreachable device that goes away takes its Peripheral
        # Malfunction with it (the registry counts unreachable devices
        # rather than walking all of them at every refresh).
        r = self.create_unnumbered({0: "d1", 1: "broker", 2: "d1", 3: "z2m-th-sensor"})
        self.assertEqual(r["code"], "2.01", r)
        self.wait_present("d1")
        self.assertEqual(self.gw.ctl("presence", "d1", "110").stdout, "ok\n")
        self.assertEqual(self.gw.ctl("presence", "local1", "110").stdout, "ok\n")
        self.assertEqual(self.read("/3/0/11"), {"/3/0/11/0": 8})
        dstart = len(self.srv.events("deregister"))
        r = self.srv.request("delete", ep="gw", path=r["location"], timeout=15)
        self.assertEqual(r["code"], "2.02", r)
        self.wait_gone("d1", dstart)
        self.assertEqual(self.read("/3/0/11"), {"/3/0/11/0": 8})  # local1 still
        self.assertEqual(self.gw.ctl("presence", "local1", "0").stdout, "ok\n")
        self.assertEqual(self.read("/3/0/11"), {"/3/0/11/0": 0})

    def test_bridge_statistics(self):
        v = self.read("/26241")
        self.assertEqual(v["/26241/0/0"], "broker")
        self.assertEqual((v["/26241/0/2"], v["/26241/0/3"]), (0, ""))
        base = v["/26241/0/1"]
        self.temperature("local1", 19.5)
        v = self.read("/26241/0")
        self.assertGreaterEqual(v["/26241/0/1"], base + 1)
        self.assertEqual(v["/26241/0/2"], 0)
        # A sample the profile refuses (humidity above its max 100).
        n = v["/26241/0/1"]
        self.broker.pub("zigbee2mqtt/local1", json.dumps({"humidity": 150}), qos=1)
        deadline = time.monotonic() + 10
        while self.read("/26241/0/2")["/26241/0/2"] == 0:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        v = self.read("/26241/0")
        self.assertEqual(v["/26241/0/2"], 1)
        self.assertGreaterEqual(v["/26241/0/1"], n + 1)
        self.assertRegex(v["/26241/0/3"], r"^local1: sample: ")
        # Reset Statistics.
        r = self.srv.request("execute", ep="gw", path="/26241/0/4", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        v = self.read("/26241/0")
        self.assertEqual((v["/26241/0/1"], v["/26241/0/2"], v["/26241/0/3"]), (0, 0, ""))
        r = self.srv.request("execute", ep="gw", path="/26241/1/4", timeout=10)
        self.assertEqual(r["code"], "4.04", r)

    def test_connectivity(self):
        ifname, router = default_route()
        r = self.srv.request("read", ep="gw", path="/4/0", timeout=10)
        if not ifname:
            self.assertEqual(r["code"], "4.04", r)
            self.skipTest("this host has no IPv4 default route")
        v = records_by_path(r)
        bearer = 21 if os.path.exists("/sys/class/net/%s/wireless" % ifname) else 41
        self.assertEqual((v["/4/0/0"], v["/4/0/1/0"], v["/4/0/2"]), (bearer, bearer, 0))
        self.assertEqual(sorted(x for p, x in v.items() if p.startswith("/4/0/4/")), addresses(ifname))
        if router != "0.0.0.0":
            self.assertEqual(v["/4/0/5/0"], router)


class Modem(test_devices.Base):
    """A cellular router: the default route leaves through a modem of
    ModemManager (dbusmock's generic mock on a private system bus, the
    objects and properties ModemManager 1.20 exports)."""

    def setUp(self):
        super().setUp()
        self.ifname, _ = default_route()
        if not self.ifname:
            self.skipTest("this host has no IPv4 default route")
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ble"))
        import subprocess
        import dbus
        from test_ble import Bus, wait_for
        self.bus = Bus()
        self.addCleanup(self.bus.stop)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        mm = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--system", "-m",
                               "org.freedesktop.ModemManager1", "/org/freedesktop/ModemManager1",
                               "org.freedesktop.ModemManager1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (mm.terminate(), mm.wait(10)))
        wait_for(lambda: self.bus.conn.name_has_owner("org.freedesktop.ModemManager1"), 15, "ModemManager")
        mock = self.bus.conn.get_object("org.freedesktop.ModemManager1", "/org/freedesktop/ModemManager1")
        path = "/org/freedesktop/ModemManager1/Modem/0"
        mock.AddObject(path, "org.freedesktop.ModemManager1.Modem", {
            "Ports": dbus.Array([dbus.Struct(("cdc-wdm0", dbus.UInt32(6)), signature="su"),
                                 dbus.Struct((self.ifname, dbus.UInt32(2)), signature="su")], signature="(su)"),
            "AccessTechnologies": dbus.UInt32(1 << 14),  # LTE
            "SignalQuality": dbus.Struct((dbus.UInt32(67), True), signature="ub"),
        }, [], dbus_interface="org.freedesktop.DBus.Mock")
        modem = self.bus.conn.get_object("org.freedesktop.ModemManager1", path)
        modem.AddProperties("org.freedesktop.ModemManager1.Modem.Modem3gpp",
                            {"OperatorCode": "26201"}, dbus_interface="org.freedesktop.DBus.Mock")
        modem.AddProperties("org.freedesktop.ModemManager1.Modem.Signal",
                            {"Rate": dbus.UInt32(10),
                             "Lte": dbus.Dictionary({"rssi": dbus.Double(-71.2), "rsrp": dbus.Double(-98.0)},
                                                    signature="sv")},
                            dbus_interface="org.freedesktop.DBus.Mock")
        old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus.address
        try:
            self.gw = self.start(test_devices.config(self.srv.url, "@SOCK@", []))
        finally:
            if old is None:
                del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
            else:
                os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = old
        self.srv.wait_event("register", ep="gw", timeout=15)

    def test_cellular(self):
        deadline = time.monotonic() + 10
        while True:
            r = self.srv.request("read", ep="gw", path="/4/0", timeout=10)
            v = records_by_path(r)
            if v.get("/4/0/0") == 6 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # LTE (LTE-FDD, 6), RSSI -71 dBm, quality 67 %, MCC 262, MNC 01.
        self.assertEqual((v["/4/0/0"], v["/4/0/1/0"], v["/4/0/2"], v["/4/0/3"], v["/4/0/10"], v["/4/0/9"]),
                         (6, 6, -71, 67, 262, 1), v)
        self.assertEqual(sorted(x for p, x in v.items() if p.startswith("/4/0/4/")), addresses(self.ifname))


def main():
    test_devices.FIELDGATE = os.path.abspath(sys.argv.pop(1))
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
