#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The BLE bridge end to end: the real `fieldgate run` against a private
dbus-daemon where python3-dbusmock's bluez5 template plays bluetoothd, and
the project's LwM2M test server (fg-lwm2m-server) as the LwM2M side.

Adverts are made by setting Device1 ServiceData / ManufacturerData / RSSI
with org.freedesktop.DBus.Properties.Set (the mock emits PropertiesChanged
as BlueZ does). GATT services and characteristics are added with dbusmock's
AddObject (InterfacesAdded emitted by the test), their methods written here.

Cases: BTHome v2 plain (packet-id de-duplication, two instances of one
measurement, battery, RSSI), encrypted BTHome (the vector of the format's
encryption page, then our own; a wrong key and a replayed counter are
rejected and counted), RuuviTag format 5, a declarative manufacturer-data
profile, auto-discovery, a device not heard becoming unreachable and coming
back, the discovery filter; GATT notify, poll read, write (request) and
execute (command), the device disconnecting and coming back, bluetoothd
(the mock) killed and restarted.

Usage: test_ble.py PATH/TO/fieldgate   (meson passes it)
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import dbus
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "gateway"))
from fglwm2m import Server, records_by_path  # noqa: E402
import test_devices  # noqa: E402  (its Gateway runner)

PROFILES = os.path.join(SOURCE, "mappings", "profiles")
BTHOME = "0000fcd2-0000-1000-8000-00805f9b34fb"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
BLUEZ_MOCK = "org.bluez.Mock"
CHAR = "org.bluez.GattCharacteristic1"
DEV = "org.bluez.Device1"
PROPS = "org.freedesktop.DBus.Properties"
KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""

# A declarative profile: company 0xFFFF, prefix A1, temperature int16 LE
# 0.01 at offset 1, battery uint8 at offset 3.
BEACON_PROFILE = """profile: acme-beacon
bridge: ble
objects:
  /3/0:
    0: { const: ACME }
    9: { source: { manufacturer: 0xFFFF, prefix: "A1", offset: 3 }, raw: uint8 }
  /3303/0:
    5700: { source: { manufacturer: 0xffff, prefix: "a1", offset: 1 }, raw: int16, order: little, scale: 0.01 }
"""


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("%s not met within %s s" % (what, timeout))


class Bus:
    """A private dbus-daemon with a system-bus style configuration."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="fg-ble-bus-")
        conf = os.path.join(self.tmp, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONF % os.path.join(self.tmp, "bus"))
        self.proc = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--print-address"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        assert self.address, "dbus-daemon gave no address"
        self.conn = dbus.bus.BusConnection(self.address)

    def stop(self):
        try:
            self.conn.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Bluez:
    """dbusmock's bluez5 template as bluetoothd, driven over the bus."""

    def __init__(self, bus):
        self.bus = bus
        self.proc = None
        self.start()

    def start(self):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.proc = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--system", "--template", "bluez5"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.bus.conn.name_has_owner("org.bluez"), 15, "org.bluez on the bus")
        self.mock = self.obj("/")

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        wait_for(lambda: not self.bus.conn.name_has_owner("org.bluez"), 10, "org.bluez gone")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def obj(self, path):
        return self.bus.conn.get_object("org.bluez", path)

    def add_adapter(self, name="hci0"):
        return self.mock.AddAdapter(name, "fieldgate-test", dbus_interface=BLUEZ_MOCK)

    def add_device(self, mac, name="dev", adapter="hci0"):
        return str(self.mock.AddDevice(adapter, mac, name, dbus_interface=BLUEZ_MOCK))

    def set(self, path, iface, prop, value):
        self.obj(path).Set(iface, prop, value, dbus_interface=PROPS)

    def get(self, path, iface, prop):
        return self.obj(path).Get(iface, prop, dbus_interface=PROPS)

    def service_data(self, path, uuid, data):
        self.set(path, DEV, "ServiceData",
                 dbus.Dictionary({uuid: dbus.ByteArray(bytes(data))}, signature="sv"))

    def manufacturer_data(self, path, company, data):
        self.set(path, DEV, "ManufacturerData",
                 dbus.Dictionary({dbus.UInt16(company): dbus.ByteArray(bytes(data))}, signature="qv"))

    def rssi(self, path, value):
        self.set(path, DEV, "RSSI", dbus.Int16(value))

    def add_object(self, path, iface, props, methods=()):
        self.mock.AddObject(path, iface, dbus.Dictionary(props, signature="sv"),
                            dbus.Array(methods, signature="(ssss)"), dbus_interface=MOCK_IFACE)
        self.mock.EmitSignal("org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "oa{sa{sv}}",
                             [dbus.ObjectPath(path), dbus.Dictionary({iface: dbus.Dictionary(props, signature="sv")},
                                                                     signature="sa{sv}")],
                             dbus_interface=MOCK_IFACE)


def bthome_encrypt(mac, key, objs, counter, info=0x41):
    ctr = counter.to_bytes(4, "little")
    nonce = bytes.fromhex(mac.replace(":", "")) + b"\xd2\xfc" + bytes([info]) + ctr
    ct = AESCCM(key, tag_length=4).encrypt(nonce, objs, None)
    return bytes([info]) + ct[:-4] + ctr + ct[-4:]


def gw_config(srv, bus, devices, extra_bridge="", profiles=PROFILES):
    return test_devices.bridge_config(srv.url, "bt", "ble", "dbus_address: %s\n%s" % (bus.address, extra_bridge),
                                      devices, profiles=profiles)

class Base(unittest.TestCase):
    def setUp(self):
        self.bus = Bus()
        self.addCleanup(self.bus.stop)
        self.bz = Bluez(self.bus)
        self.addCleanup(self.bz.stop)
        self.srv = Server(stderr=subprocess.DEVNULL).start()
        self.addCleanup(self.srv.stop)
        self.tmp = tempfile.mkdtemp(prefix="fg-ble-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, text):
        gw = test_devices.Gateway(text)

        def stop():
            # A clean exit: no sanitizer report, no leak (the ASan build).
            rc = gw.stop()
            self.assertEqual(rc, 0, "fieldgate exited with %s:\n%s" % (rc, "\n".join(gw.log[-40:])))
        self.addCleanup(stop)
        return gw

    def read(self, ep, path):
        r = self.srv.request("read", ep=ep, path=path, timeout=10)
        if r["code"] != "2.05":
            return None
        return records_by_path(r).get(path)

    def wait_value(self, ep, path, want, timeout=10):
        def ok():
            v = self.read(ep, path)
            if isinstance(want, float) and isinstance(v, (int, float)):
                return abs(v - want) < 1e-6
            return v == want
        try:
            wait_for(ok, timeout, "%s %s == %r" % (ep, path, want))
        except AssertionError:
            raise AssertionError("%s %s is %r, not %r" % (ep, path, self.read(ep, path), want))

    def status_line(self, gw, device):
        out = gw.ctl("status").stdout
        for line in out.splitlines():
            if line.startswith(device + " "):
                return line
        return out


class Adverts(Base):
    def test_adverts(self):
        bz = self.bz
        bz.add_adapter("hci0")
        th1 = bz.add_device("A4:C1:38:0D:4E:21", "ATC_0D4E21")
        th2 = bz.add_device("54:48:E6:8F:80:A5", "BTHome-enc")
        r1 = bz.add_device("CB:B8:33:4C:88:4F", "Ruuvi 884F")
        m1 = bz.add_device("11:22:33:44:55:66", "beacon")
        os.makedirs(os.path.join(self.tmp, "p"))
        with open(os.path.join(self.tmp, "p", "acme-beacon.yaml"), "w") as f:
            f.write(BEACON_PROFILE)
        devs = [{"name": "th1", "profile": "bthome-sensor", "address": '"A4:C1:38:0D:4E:21"'},
                {"name": "th2", "profile": "bthome-sensor",
                 "address": '{mac: "54:48:E6:8F:80:A5", bindkey: %s}' % KEY.hex()},
                {"name": "r1", "profile": "ruuvitag", "address": '"CB:B8:33:4C:88:4F"'},
                {"name": "m1", "profile": "acme-beacon", "address": '"11:22:33:44:55:66"'},
                {"name": "ghost", "profile": "bthome-sensor", "address": '"00:00:00:00:00:01"'}]
        gw = self.start(gw_config(self.srv, self.bus, devs, "unreachable_after: 3s",
                                  profiles=os.path.join(self.tmp, "p") + ":" + PROFILES))
        for ep in ("gw-th1", "gw-th2", "gw-r1", "gw-m1", "gw-ghost"):
            self.srv.wait_event("register", ep=ep, timeout=20)
        gw.wait_log(r"LE discovery started on /org/bluez/hci0")
        # The discovery filter: LE only, every advert reported.
        filt = bz.get("/org/bluez/hci0", "org.bluez.Adapter1", "DiscoveryFilter")
        self.assertEqual(str(filt["Transport"]), "le")
        self.assertEqual(bool(filt["DuplicateData"]), True)
        self.assertTrue(bz.get("/org/bluez/hci0", "org.bluez.Adapter1", "Discovering"))

        # BTHome v2 plain: the format page's example plus packet id and battery.
        bz.service_data(th1, BTHOME, bytes.fromhex("40 0001 0164 02CA09 03BF13".replace(" ", "")))
        self.wait_value("gw-th1", "/3303/0/5700", 25.06)
        self.assertAlmostEqual(self.read("gw-th1", "/3304/0/5700"), 50.55)
        self.assertEqual(self.read("gw-th1", "/3/0/9"), 100)
        bz.rssi(th1, -67)
        self.wait_value("gw-th1", "/4/0/2", -67)
        # Two temperatures: instance 1 goes to /3303/1.
        bz.service_data(th1, BTHOME, bytes.fromhex("40 0002 02D007 02E803".replace(" ", "")))
        self.wait_value("gw-th1", "/3303/1/5700", 10.0)
        self.assertAlmostEqual(self.read("gw-th1", "/3303/0/5700"), 20.0)
        # The same packet id again with other data: a duplicate, dropped.
        bz.service_data(th1, BTHOME, bytes.fromhex("40 0002 02A00F".replace(" ", "")))
        bz.rssi(th1, -66)  # signals are ordered: once this is seen, the duplicate was handled
        self.wait_value("gw-th1", "/4/0/2", -66)
        self.assertAlmostEqual(self.read("gw-th1", "/3303/0/5700"), 20.0)
        self.assertRegex(self.status_line(gw, "th1"), r"dup=1\b")

        # Encrypted: the encryption page's vector (counter bytes 00112233).
        bz.service_data(th2, BTHOME, bytes.fromhex("41a47266c95f730011223378237214"))
        self.wait_value("gw-th2", "/3303/0/5700", 25.06)
        self.assertAlmostEqual(self.read("gw-th2", "/3304/0/5700"), 50.55)
        ctr = 0x33221100
        # Our own: a later counter, 21.00 °C.
        bz.service_data(th2, BTHOME, bthome_encrypt("54:48:E6:8F:80:A5", KEY, bytes.fromhex("023408"), ctr + 1))
        self.wait_value("gw-th2", "/3303/0/5700", 21.0)
        # A wrong key: the MIC does not verify; nothing is taken.
        bz.service_data(th2, BTHOME, bthome_encrypt("54:48:E6:8F:80:A5", bytes(16), bytes.fromhex("02D007"),
                                                    ctr + 2))
        # A replayed counter (valid MIC, old counter, new data).
        bz.service_data(th2, BTHOME, bthome_encrypt("54:48:E6:8F:80:A5", KEY, bytes.fromhex("02D007"), ctr + 1))
        # A plain advert for a device with a key: refused as well.
        bz.service_data(th2, BTHOME, bytes.fromhex("4002D007"))
        bz.rssi(th2, -70)
        self.wait_value("gw-th2", "/4/0/2", -70)
        self.assertAlmostEqual(self.read("gw-th2", "/3303/0/5700"), 21.0)
        st = self.status_line(gw, "th2")
        self.assertRegex(st, r"mic_fail=1 replay=1\b")
        self.assertRegex(st, r"plain=1\b")
        gw.wait_log(r"th2 \(54:48:E6:8F:80:A5\): encrypted BTHome advert rejected: MIC check failed")
        gw.wait_log(r"th2 \(54:48:E6:8F:80:A5\): encrypted BTHome advert rejected: replayed counter 857870593 "
                    r"\(last 857870593\)")
        # The next counter is taken again.
        bz.service_data(th2, BTHOME, bthome_encrypt("54:48:E6:8F:80:A5", KEY, bytes.fromhex("02D007"), ctr + 5))
        self.wait_value("gw-th2", "/3303/0/5700", 20.0)

        # RuuviTag data format 5: the documented valid vector.
        bz.manufacturer_data(r1, 0x0499, bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"))
        self.wait_value("gw-r1", "/3303/0/5700", 24.3)
        self.assertAlmostEqual(self.read("gw-r1", "/3304/0/5700"), 53.49)
        self.assertAlmostEqual(self.read("gw-r1", "/3315/0/5700"), 1000.44)
        self.assertAlmostEqual(self.read("gw-r1", "/3313/0/5704"), 1.036)
        self.assertEqual(self.read("gw-r1", "/3/0/7/0"), 2977)
        # The "invalid" vector changes nothing.
        bz.manufacturer_data(r1, 0x0499, bytes.fromhex("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF"))
        bz.rssi(r1, -80)
        self.wait_value("gw-r1", "/4/0/2", -80)
        self.assertAlmostEqual(self.read("gw-r1", "/3303/0/5700"), 24.3)

        # Declarative manufacturer data; another prefix is not this profile's.
        bz.manufacturer_data(m1, 0xFFFF, bytes.fromhex("A1 3408 55".replace(" ", "")))
        self.wait_value("gw-m1", "/3303/0/5700", 21.0)
        self.assertEqual(self.read("gw-m1", "/3/0/9"), 85)
        bz.manufacturer_data(m1, 0xFFFF, bytes.fromhex("B2 D007 56".replace(" ", "")))
        bz.manufacturer_data(m1, 0xFFFF, bytes.fromhex("A1 D007 57".replace(" ", "")))
        self.wait_value("gw-m1", "/3/0/9", 87)
        self.assertAlmostEqual(self.read("gw-m1", "/3303/0/5700"), 20.0)

        # A device never heard becomes unreachable, and reachable when heard.
        self.wait_value("gw-ghost", "/3/0/11/0", 16, timeout=10)
        ghost = bz.add_device("00:00:00:00:00:01", "ghost")
        bz.rssi(ghost, -90)
        self.wait_value("gw-ghost", "/3/0/11/0", 0)
        self.assertEqual(self.read("gw-ghost", "/4/0/2"), -90)

    def test_bthome_counter_resync(self):
        # bthome_resync: 3 -- a sensor whose counter went back (battery
        # change) is taken again after 3 valid adverts counting up from
        # there; until then, and for a counter already seen, a replay.
        bz = self.bz
        bz.add_adapter("hci0")
        mac = "54:48:E6:8F:80:A5"
        dev = bz.add_device(mac, "BTHome-enc")
        gw = self.start(gw_config(self.srv, self.bus, [{"name": "th2", "profile": "bthome-sensor",
                                                        "address": '{mac: "%s", bindkey: %s}' % (mac, KEY.hex())}],
                                  "bthome_resync: 3"))
        self.srv.wait_event("register", ep="gw-th2", timeout=20)
        gw.wait_log(r"LE discovery started")

        def adv(counter, centi, rssi):
            bz.service_data(dev, BTHOME, bthome_encrypt(mac, KEY, bytes([0x02]) + centi.to_bytes(2, "little"),
                                                        counter))
            bz.rssi(dev, rssi)  # signals are ordered: once this is seen, the advert was handled
            self.wait_value("gw-th2", "/4/0/2", rssi)

        adv(100000, 2100, -60)
        self.assertAlmostEqual(self.read("gw-th2", "/3303/0/5700"), 21.0)
        adv(5, 2000, -61)   # went back: 1 of 3
        adv(6, 2001, -62)   # 2 of 3
        self.assertAlmostEqual(self.read("gw-th2", "/3303/0/5700"), 21.0)
        self.assertRegex(self.status_line(gw, "th2"), r"replay=2\b")
        adv(7, 1900, -63)   # 3 of 3: the new sequence
        self.assertAlmostEqual(self.read("gw-th2", "/3303/0/5700"), 19.0)
        gw.wait_log(r"th2 \(54:48:E6:8F:80:A5\): BTHome counter went back from 100000 and counted up to 7 "
                    r"over 3 adverts: accepted")
        adv(8, 1800, -64)   # on from there
        self.assertAlmostEqual(self.read("gw-th2", "/3303/0/5700"), 18.0)
        # A run must count up: 2, 2, 3 is broken by the repeat.
        adv(2, 1000, -65)
        adv(2, 1001, -66)
        adv(3, 1002, -67)
        self.assertAlmostEqual(self.read("gw-th2", "/3303/0/5700"), 18.0)
        self.assertRegex(self.status_line(gw, "th2"), r"replay=5\b")
        self.assertEqual(gw.stop(), 0)

    def test_discovery(self):
        bz = self.bz
        bz.add_adapter("hci0")
        gw = self.start(gw_config(self.srv, self.bus, [], "discover_max: 1\ndiscover_forget: 3s\ndiscover:\n"
                                  "  - {profile: ruuvitag, match: ruuvi}\n  - {profile: bthome-sensor, match: bthome}\n"
                                  "  - {profile: no-such-profile, manufacturer: 0xFFFF, prefix: \"A1\"}"))
        gw.wait_log(r"LE discovery started")
        # A rule whose profile does not exist: refused by the core, said once.
        m1 = bz.add_device("11:22:33:44:55:66", "beacon")
        bz.manufacturer_data(m1, 0xFFFF, bytes.fromhex("A13408"))
        bz.manufacturer_data(m1, 0xFFFF, bytes.fromhex("A13508"))
        r1 = bz.add_device("CB:B8:33:4C:88:4F", "Ruuvi 884F")
        bz.manufacturer_data(r1, 0x0499, bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"))
        self.srv.wait_event("register", ep="gw-ruuvitag-cbb8334c884f", timeout=20)
        self.wait_value("gw-ruuvitag-cbb8334c884f", "/3303/0/5700", 24.3)
        refused = [x for x in gw.log if "cannot add discovered device no-such-profile-112233445566" in x]
        self.assertEqual(len(refused), 1, "\n".join(gw.log))
        # The bound: a second sensor is not added.
        th = bz.add_device("A4:C1:38:0D:4E:21", "ATC")
        bz.service_data(th, BTHOME, bytes.fromhex("4002CA09"))
        gw.wait_log(r"discovery limit 1 reached")
        self.assertEqual(len([r for r in self.srv.registrations() if r["ep"].startswith("gw-")]), 1)
        # The RuuviTag falls silent: forgotten after discover_forget, which
        # frees the slot; the BTHome sensor heard next is discovered.
        self.srv.wait_event("deregister", ep="gw-ruuvitag-cbb8334c884f", timeout=15)
        gw.wait_log(r"discovered device ruuvitag-cbb8334c884f \(CB:B8:33:4C:88:4F\) not heard for \d+ s: forgotten")
        bz.service_data(th, BTHOME, bytes.fromhex("4002CB09"))
        self.srv.wait_event("register", ep="gw-bthome-sensor-a4c1380d4e21", timeout=20)
        self.wait_value("gw-bthome-sensor-a4c1380d4e21", "/3303/0/5700", 25.07)
        self.assertEqual([r["ep"] for r in self.srv.registrations() if r["ep"].startswith("gw-")],
                         ["gw-bthome-sensor-a4c1380d4e21"])


class Reload(Base):
    def test_reload(self):
        """SIGHUP with the bridge unchanged: devices come and go through
        add_point / remove_point, the scan goes on."""
        bz = self.bz
        bz.add_adapter("hci0")
        th1 = bz.add_device("A4:C1:38:0D:4E:21", "ATC")
        r1 = bz.add_device("CB:B8:33:4C:88:4F", "Ruuvi")
        dev_th1 = {"name": "th1", "profile": "bthome-sensor", "address": '"A4:C1:38:0D:4E:21"'}
        dev_r1 = {"name": "r1", "profile": "ruuvitag", "address": '"CB:B8:33:4C:88:4F"'}
        gw = self.start(gw_config(self.srv, self.bus, [dev_th1], "unreachable_after: 2s"))
        t0 = time.monotonic()
        self.srv.wait_event("register", ep="gw-th1", timeout=20)
        gw.wait_log(r"LE discovery started")
        bz.service_data(th1, BTHOME, bytes.fromhex("4002CA09"))
        self.wait_value("gw-th1", "/3303/0/5700", 25.06)
        time.sleep(max(0, t0 + 2.5 - time.monotonic()))  # longer than unreachable_after
        n = gw.reload(gw_config(self.srv, self.bus, [dev_r1], "unreachable_after: 2s").replace("@SOCK@", gw.sock))
        self.srv.wait_event("register", ep="gw-r1", timeout=20)
        self.srv.wait_event("deregister", ep="gw-th1", timeout=20)
        # A device added now has its own 2 s, not the bridge's age.
        time.sleep(1.2)
        self.assertEqual(self.read("gw-r1", "/3/0/11/0"), 0)
        bz.service_data(th1, BTHOME, bytes.fromhex("4002D007"))  # no longer ours: ignored
        bz.manufacturer_data(r1, 0x0499, bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"))
        self.wait_value("gw-r1", "/3303/0/5700", 24.3)
        self.assertFalse([x for x in gw.log[n:] if "Bridge bt (ble) started" in x])
        self.assertTrue(bz.get("/org/bluez/hci0", "org.bluez.Adapter1", "Discovering"))


class Adapter(Base):
    def test_adapter_by_name(self):
        """`adapter: hci1` waits for hci1, scans there only, and ignores the
        devices of other adapters."""
        bz = self.bz
        bz.add_adapter("hci0")
        devs = [{"name": "th1", "profile": "bthome-sensor", "address": '"A4:C1:38:0D:4E:21"'}]
        gw = self.start(gw_config(self.srv, self.bus, devs, "adapter: hci1"))
        self.srv.wait_event("register", ep="gw-th1", timeout=20)
        gw.wait_log(r"adapter hci1 not found; waiting for it")
        other = bz.add_device("A4:C1:38:0D:4E:21", "on hci0")
        bz.service_data(other, BTHOME, bytes.fromhex("4002CA09"))
        bz.add_adapter("hci1")
        gw.wait_log(r"LE discovery started on /org/bluez/hci1")
        self.assertTrue(bz.get("/org/bluez/hci1", "org.bluez.Adapter1", "Discovering"))
        self.assertFalse(bz.get("/org/bluez/hci0", "org.bluez.Adapter1", "Discovering"))
        # Powered off and on again (rfkill): the scan is started again.
        n = len(gw.log)
        bz.set("/org/bluez/hci1", "org.bluez.Adapter1", "Powered", False)
        bz.set("/org/bluez/hci1", "org.bluez.Adapter1", "Discovering", False)
        bz.set("/org/bluez/hci1", "org.bluez.Adapter1", "Powered", True)
        gw.wait_log(r"adapter /org/bluez/hci1 powered on", start=n)
        gw.wait_log(r"LE discovery started on /org/bluez/hci1", start=n)
        self.assertTrue(bz.get("/org/bluez/hci1", "org.bluez.Adapter1", "Discovering"))
        dev = bz.add_device("A4:C1:38:0D:4E:21", "on hci1", adapter="hci1")
        bz.service_data(dev, BTHOME, bytes.fromhex("4002D007"))
        self.wait_value("gw-th1", "/3303/0/5700", 20.0)
        bz.service_data(other, BTHOME, bytes.fromhex("4002CA09"))
        bz.rssi(dev, -50)
        self.wait_value("gw-th1", "/4/0/2", -50)
        self.assertAlmostEqual(self.read("gw-th1", "/3303/0/5700"), 20.0)
        # Only what hci1 reported counts: the device appearing (with its
        # RSSI), its service data, its RSSI.
        self.assertRegex(self.status_line(gw, "th1"), r" adverts=3 ")


GATT_METHODS_CHAR = [
    ("ReadValue", "a{sv}", "ay", "self.reads = getattr(self, 'reads', 0) + 1\n"
                                 "ret = self.props['org.bluez.GattCharacteristic1']['Value']"),
    ("WriteValue", "aya{sv}", "", "self.props['org.bluez.GattCharacteristic1']['Value'] = dbus.Array(args[0], "
                                  "signature='y')\nself.props['org.bluez.GattCharacteristic1']['WriteType'] = "
                                  "str(args[1].get('type', ''))"),
    ("StartNotify", "", "", "self.Set('org.bluez.GattCharacteristic1', 'Notifying', True)"),
    ("StopNotify", "", "", "self.Set('org.bluez.GattCharacteristic1', 'Notifying', False)"),
]
VENDOR = "7e570001-1234-5678-9abc-def012345678"


def uuid16(u):
    return "0000%s-0000-1000-8000-00805f9b34fb" % u


MAC = "C0:FF:EE:00:00:01"


class Gatt(Base):

    def setup_device(self, mac=MAC, resolve=True, adapter=True):
        bz = self.bz
        if adapter:
            bz.add_adapter("hci0")
        dev = bz.add_device(mac, "thermostat")
        # Connect / Disconnect as BlueZ does them: Connected, then
        # ServicesResolved once the GATT database is known (or never, for a
        # connection stuck in service discovery).
        bz.obj(dev).AddMethod(DEV, "Connect", "", "",
                              "self.connects = getattr(self, 'connects', 0) + 1\n"
                              "self.Set('org.bluez.Device1', 'Connected', True)\n" +
                              ("self.Set('org.bluez.Device1', 'ServicesResolved', True)" if resolve else ""),
                              dbus_interface=MOCK_IFACE)
        bz.obj(dev).AddMethod(DEV, "Disconnect", "", "",
                              "self.Set('org.bluez.Device1', 'ServicesResolved', False)\n"
                              "self.Set('org.bluez.Device1', 'Connected', False)",
                              dbus_interface=MOCK_IFACE)
        chars = {}
        for sname, suuid, clist in (("service0010", uuid16("181a"), [("char0011", uuid16("2a6e"), b"\x00\x00"),
                                                                     ("char0013", uuid16("2a6f"), b"\x88\x13")]),
                                    ("service0020", uuid16("180f"), [("char0021", uuid16("2a19"), b"\x4b")]),
                                    ("service0030", VENDOR, [("char0031", VENDOR.replace("0001-", "0002-", 1), b"\xc8\x00"),
                                                             ("char0033", VENDOR.replace("0001-", "0003-", 1), b"")])):
            spath = dev + "/" + sname
            bz.add_object(spath, "org.bluez.GattService1",
                          {"UUID": suuid, "Device": dbus.ObjectPath(dev), "Primary": True})
            for cname, cuuid, value in clist:
                cpath = spath + "/" + cname
                bz.add_object(cpath, CHAR, {"UUID": cuuid, "Service": dbus.ObjectPath(spath),
                                            "Value": dbus.Array(value, signature="y"), "Notifying": False,
                                            "WriteType": "",
                                            "Flags": dbus.Array(["read", "write", "notify"], signature="s")},
                              GATT_METHODS_CHAR)
                chars[cuuid] = cpath
        return dev, chars

    def test_on_demand_read(self):
        """A device without notify points is connected for a max_age Read
        only, and let go afterwards."""
        bz = self.bz
        dev, chars = self.setup_device()
        hum = chars[uuid16("2a6f")]
        os.makedirs(os.path.join(self.tmp, "p"))
        with open(os.path.join(self.tmp, "p", "ble-ondemand.yaml"), "w") as f:
            f.write("bridge: ble\ndefaults: {max_age: 1s}\nobjects:\n  /3304/0:\n"
                    "    5700: {source: {service: '181a', characteristic: '2a6f'}, raw: uint16, order: little,"
                    " scale: 0.01}\n")
        devs = [{"name": "h1", "profile": "ble-ondemand", "address": '"%s"' % MAC}]
        gw = self.start(gw_config(self.srv, self.bus, devs, profiles=os.path.join(self.tmp, "p")))
        self.srv.wait_event("register", ep="gw-h1", timeout=20)
        gw.wait_log(r"LE discovery started")
        self.assertFalse(bz.get(dev, DEV, "Connected"))
        self.assertAlmostEqual(self.read("gw-h1", "/3304/0/5700"), 50.0)
        wait_for(lambda: not bz.get(dev, DEV, "Connected"), 5, "disconnected after the read")
        bz.set(hum, CHAR, "Value", dbus.Array(b"\x70\x17", signature="y"))  # 60.00
        time.sleep(1.1)  # older than max_age
        self.assertAlmostEqual(self.read("gw-h1", "/3304/0/5700"), 60.0)
        self.assertRegex(self.status_line(gw, "h1"), r"gatt=(idle|ready) ok=2 err=0 connects=2")

    def test_write_timeout(self):
        """A write the device does not acknowledge within call_timeout is a
        5.04; the connection is renewed and the next write goes through."""
        bz = self.bz
        dev, chars = self.setup_device()
        sp = chars[VENDOR.replace("0001-", "0002-", 1)]
        devs = [{"name": "t1", "profile": "ble-gatt-thermostat", "address": '"%s"' % MAC}]
        gw = self.start(gw_config(self.srv, self.bus, devs, "call_timeout: 1s"))
        self.srv.wait_event("register", ep="gw-t1", timeout=20)
        wait_for(lambda: bz.get(chars[uuid16("2a6e")], CHAR, "Notifying"), 10, "subscribed")
        # bluetoothd (the mock) stuck for 2 s in this WriteValue.
        bz.obj(sp).AddMethod(CHAR, "WriteValue", "aya{sv}", "", "import time\ntime.sleep(2)",
                             dbus_interface=MOCK_IFACE)
        r = self.srv.request("write", ep="gw-t1", path="/3308/0/5900", value=21.5, type="float", timeout=10)
        self.assertEqual(r["code"], "5.04", r)
        gw.wait_log(r"BLE device t1 \(C0:FF:EE:00:00:01\): GATT call failed")
        bz.obj(sp).AddMethod(CHAR, "WriteValue", "aya{sv}", "", GATT_METHODS_CHAR[1][3], dbus_interface=MOCK_IFACE)
        gw.wait_log(r"Device t1: reachable again")  # reconnected after the backoff
        r = self.srv.request("write", ep="gw-t1", path="/3308/0/5900", value=22.0, type="float", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(bytes(bz.get(sp, CHAR, "Value")), b"\xdc\x00")

    def test_stuck_and_bound(self):
        """A connection stuck in service discovery blocks neither the loop
        nor other devices; max_connections bounds what is connected."""
        bz = self.bz
        stuck, _ = self.setup_device("C0:FF:EE:00:00:0A", resolve=False)
        good, gchars = self.setup_device("C0:FF:EE:00:00:0B", adapter=False)
        late, lchars = self.setup_device("C0:FF:EE:00:00:0C", adapter=False)
        devs = [{"name": n, "profile": "ble-gatt-thermostat", "address": '"%s"' % m}
                for n, m in (("a", "C0:FF:EE:00:00:0A"), ("b", "C0:FF:EE:00:00:0B"), ("c", "C0:FF:EE:00:00:0C"))]
        gw = self.start(gw_config(self.srv, self.bus, devs, "max_connections: 2\nconnect_timeout: 4s"))
        for ep in ("gw-a", "gw-b", "gw-c"):
            self.srv.wait_event("register", ep=ep, timeout=20)
        # Devices are taken in configuration order: a (stuck) and b hold the
        # two connections; b works while a waits for ServicesResolved.
        wait_for(lambda: bz.get(gchars[uuid16("2a6e")], CHAR, "Notifying"), 10, "b subscribed")
        bz.set(gchars[uuid16("2a6e")], CHAR, "Value", dbus.Array(b"\x66\x08", signature="y"))
        self.wait_value("gw-b", "/3303/0/5700", 21.5)
        self.assertRegex(self.status_line(gw, "a"), r"gatt=resolving")
        # c is not connected while both slots are taken.
        self.assertFalse(bz.get(late, DEV, "Connected"))
        # a times out (4 s), frees its slot, c takes it.
        gw.wait_log(r"BLE device a \(C0:FF:EE:00:00:0A\): services not resolved in time", timeout=10)
        wait_for(lambda: bz.get(lchars[uuid16("2a6e")], CHAR, "Notifying"), 10, "c subscribed")
        self.wait_value("gw-a", "/3/0/11/0", 16)
        # The half-made connection was let go.
        wait_for(lambda: not bz.get(stuck, DEV, "Connected"), 5, "a disconnected after its timeout")
        # Never more than two at once: a stays waiting.
        time.sleep(1.5)
        self.assertRegex(self.status_line(gw, "a"), r"gatt=(idle|backoff)")
        self.assertEqual(self.read("gw-b", "/3/0/11/0"), 0)

        # Humidity is polled every 30 s (the profile); observed with pmin 1 s
        # it is read every second.
        self.wait_value("gw-b", "/3304/0/5700", 50.0)
        bz.set(gchars[uuid16("2a6f")], CHAR, "Value", dbus.Array(b"\x70\x17", signature="y"))  # 60.00
        r = self.srv.request("write-attributes", ep="gw-b", path="/3304/0/5700", attrs={"pmin": 1}, timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        obs = self.srv.request("observe", ep="gw-b", path="/3304/0/5700", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)
        self.wait_value("gw-b", "/3304/0/5700", 60.0, timeout=6)

    def test_gatt(self):
        bz = self.bz
        dev, chars = self.setup_device()
        temp = chars[uuid16("2a6e")]
        devs = [{"name": "t1", "profile": "ble-gatt-thermostat", "address": '"%s"' % MAC, "poll": "1s"}]
        gw = self.start(gw_config(self.srv, self.bus, devs, "max_connections: 1\nconnect_timeout: 2s"))
        self.srv.wait_event("register", ep="gw-t1", timeout=20)
        # A notify point keeps the device connected and subscribed.
        wait_for(lambda: bz.get(temp, CHAR, "Notifying"), 10, "StartNotify")
        bz.set(temp, CHAR, "Value", dbus.Array(b"\x66\x08", signature="y"))  # 2150 -> 21.5
        self.wait_value("gw-t1", "/3303/0/5700", 21.5)
        # Polled reads: humidity 0x1388 = 50.00, battery 75.
        self.wait_value("gw-t1", "/3304/0/5700", 50.0)
        self.wait_value("gw-t1", "/3/0/9", 75)
        # LwM2M Write -> WriteValue with a response ("request"), 21.5 -> 215 LE.
        r = self.srv.request("write", ep="gw-t1", path="/3308/0/5900", value=21.5, type="float", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        sp = chars[VENDOR.replace("0001-", "0002-", 1)]
        self.assertEqual(bytes(bz.get(sp, CHAR, "Value")), b"\xd7\x00")
        self.assertEqual(str(bz.get(sp, CHAR, "WriteType")), "request")
        # Out of the profile's range: refused before the device.
        r = self.srv.request("write", ep="gw-t1", path="/3308/0/5900", value=40.0, type="float", timeout=10)
        self.assertEqual(r["code"], "4.00", r)
        self.assertEqual(bytes(bz.get(sp, CHAR, "Value")), b"\xd7\x00")
        # Execute -> WriteValue 01 without response ("command").
        r = self.srv.request("execute", ep="gw-t1", path="/3/0/4", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        ctl = chars[VENDOR.replace("0001-", "0003-", 1)]
        self.assertEqual(bytes(bz.get(ctl, CHAR, "Value")), b"\x01")
        self.assertEqual(str(bz.get(ctl, CHAR, "WriteType")), "command")
        self.assertRegex(self.status_line(gw, "t1"), r"gatt=ready")

        # The device drops the connection: reconnect (backoff), subscribe again.
        bz.set(temp, CHAR, "Notifying", False)
        bz.set(dev, DEV, "ServicesResolved", False)
        bz.set(dev, DEV, "Connected", False)
        gw.wait_log(r"BLE device t1 \(C0:FF:EE:00:00:01\): disconnected")
        wait_for(lambda: bz.get(temp, CHAR, "Notifying"), 15, "StartNotify after the reconnect")
        bz.set(temp, CHAR, "Value", dbus.Array(b"\xfc\x08", signature="y"))  # 2300
        self.wait_value("gw-t1", "/3303/0/5700", 23.0)

        # bluetoothd dies and comes back: start over, values flow again.
        n = len(gw.log)
        bz.kill()
        gw.wait_log(r"bluetoothd left the bus", start=n)
        bz.start()
        dev, chars = self.setup_device()
        temp = chars[uuid16("2a6e")]
        gw.wait_log(r"bluetoothd is on the bus", start=n)
        wait_for(lambda: bz.get(temp, CHAR, "Notifying"), 20, "StartNotify after bluetoothd restarted")
        bz.set(temp, CHAR, "Value", dbus.Array(b"\x60\x09", signature="y"))  # 2400
        self.wait_value("gw-t1", "/3303/0/5700", 24.0)
        self.assertEqual(self.read("gw-t1", "/3/0/11/0"), 0)
        # On exit the gateway leaves BlueZ as it found it.
        self.assertEqual(gw.stop(), 0)
        self.assertFalse(bz.get(dev, DEV, "Connected"))
        self.assertFalse(bz.get("/org/bluez/hci0", "org.bluez.Adapter1", "Discovering"))


def main():
    test_devices.FIELDGATE = os.path.abspath(sys.argv.pop(1))
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors)
    print("%d passed, %d failed" % (res.testsRun - failed - len(res.skipped), failed))
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
