#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Devices that describe themselves over MQTT, end to end: the real
`fieldgate` against a real mosquitto and fg-lwm2m-server, with no device
and no profile configured.

- zigbee2mqtt: the retained bridge/devices capture of 12 devices
  (tests/data/mqtt/z2m/bridge-devices.json) makes 12 LwM2M devices whose
  values, read through LwM2M, equal the device states published; writes
  reach <device>/set; devices leaving (bridge/event), vanishing from
  bridge/devices or renamed follow; discovery.max_devices bounds it all.
- Home Assistant discovery as ESPHome, Tasmota and zigbee2mqtt publish it
  (tests/data/mqtt/ha/*.txt): one LwM2M device per device block, values
  through value templates, writes to the command topics, an entity added
  later re-profiles the device, entities removed with an empty config.

Usage: test_selfdescribed.py PATH/TO/fieldgate
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "gateway"))
sys.path.insert(0, HERE)
from fglwm2m import records_by_path  # noqa: E402
import test_devices  # noqa: E402
from mqttpeer import Broker  # noqa: E402

DATA = os.path.join(SOURCE, "tests", "data", "mqtt")
PROFILES = os.path.join(SOURCE, "mappings", "profiles")
DEVICES = json.load(open(os.path.join(DATA, "z2m", "bridge-devices.json"), encoding="utf-8"))


def config(url, port, discovery):
    body = "host: 127.0.0.1\nport: %d\nreconnect_min: 200ms\nreconnect_max: 1s\nmax_payload: 1048576\n" % port
    body += "discovery:\n" + "".join("  " + l + "\n" for l in discovery.strip("\n").split("\n"))
    return test_devices.bridge_config(url, "broker", "mqtt", body, [], profiles=PROFILES)


def ha_lines(name):
    out = []
    for line in open(os.path.join(DATA, "ha", name + ".txt"), encoding="utf-8"):
        line = line.rstrip("\n")
        if line and not line.startswith("#"):
            topic, payload = line.split("\t", 1)
            out.append((topic, payload))
    return out


class Base(test_devices.Base):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="fg-auto-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.b = Broker(self.dir).start()
        self.addCleanup(self.b.close)

    def until(self, ep, path, want, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            r = self.srv.request("read", ep=ep, path=path, timeout=10)
            v = records_by_path(r).get(path) if r["code"] == "2.05" else None
            if v == want or time.monotonic() > deadline:
                self.assertEqual(v, want, r)
                return
            time.sleep(0.05)

    def registered(self, ep, timeout=15, where=None):
        return self.srv.wait_event("register", ep=ep, timeout=timeout, where=where)


def links(ev):
    return json.dumps(ev.get("links"))


class Zigbee2mqtt(Base):
    def test_devices_values_writes_and_changes(self):
        b = self.b
        b.pub("zigbee2mqtt/bridge/devices", json.dumps(DEVICES), retain=True)
        b.pub("zigbee2mqtt/living-th", '{"battery":97,"humidity":48.25,"linkquality":120,"pressure":1012.3,'
              '"temperature":21.5,"voltage":3005}', retain=True)
        b.pub("zigbee2mqtt/front-door", '{"battery":91,"contact":false,"device_temperature":24,"voltage":3015}',
              retain=True)
        b.pub("zigbee2mqtt/desk-plug", '{"state":"ON","power":57.3,"energy":12.43,"device_temperature":31,'
              '"power_outage_memory":true}', retain=True)
        b.pub("zigbee2mqtt/hall-bulb", '{"state":"ON","brightness":127,"power_on_behavior":"previous"}',
              retain=True)
        b.pub("zigbee2mqtt/stairs-switch", '{"state_left":"ON","state_right":"OFF","power":12}', retain=True)
        gw = self.start(config(self.srv.url, b.port, "max_devices: 16\nzigbee2mqtt: {}"))
        ieee = {d["friendly_name"]: d["ieee_address"] for d in DEVICES if d.get("definition")}
        for name, addr in ieee.items():
            ev = self.registered("gw-" + addr)
            self.assertIn("/3/0", links(ev))
        self.assertEqual(len(ieee), 12)
        ep = "gw-" + ieee["living-th"]

        # Values read through LwM2M equal the field's.
        self.assertEqual(self.read_when(ep, "/3303/0/5700"), 21.5)
        self.assertEqual(self.read_when(ep, "/3304/0/5700"), 48.25)
        self.assertEqual(self.read_when(ep, "/3315/0/5700"), 1012.3)
        self.assertEqual(self.read_when(ep, "/3/0/9"), 97)
        self.assertEqual(self.read_when(ep, "/3/0/7/0"), 3005)
        r = self.srv.request("read", ep=ep, path="/3/0", timeout=10)
        v = records_by_path(r)
        self.assertEqual((v["/3/0/0"], v["/3/0/1"], v["/3/0/2"], v["/3/0/3"]),
                         ("Aqara", "WSDCGQ11LM", ieee["living-th"], "3000-0001"))
        self.assertEqual(self.read_when(ep, "/3303/0/5701"), "Cel")
        door = "gw-" + ieee["front-door"]
        self.assertIs(self.read_when(door, "/3342/0/5500"), True)  # contact false: open, "on"
        self.assertEqual(self.read_when(door, "/3342/0/5750"), "contact")
        plug = "gw-" + ieee["desk-plug"]
        self.assertIs(self.read_when(plug, "/3312/0/5850"), True)
        self.assertEqual(self.read_when(plug, "/3328/0/5700"), 57.3)
        self.assertEqual(self.read_when(plug, "/3331/0/5700"), 12.43)
        bulb = "gw-" + ieee["hall-bulb"]
        self.assertEqual(self.read_when(bulb, "/3311/0/5851"), 50)  # 127 of 254
        self.assertEqual(self.read_when(bulb, "/3306/0/5853"), "previous")
        stairs = "gw-" + ieee["stairs-switch"]
        self.assertIs(self.read_when(stairs, "/3312/1/5850"), False)

        # A change published reaches an observer.
        obs = self.srv.request("observe", ep=ep, path="/3303/0/5700", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)
        b.pub("zigbee2mqtt/living-th", '{"temperature":22.75}', qos=1)
        n = self.srv.wait_event("notify", ep=ep, timeout=10, where=lambda e: "/3303/0/5700" in records_by_path(e))
        self.assertEqual(records_by_path(n)["/3303/0/5700"], 22.75)

        # Writes reach the field: confirmed by the state echo.
        sub = b.sub("zigbee2mqtt/+/set")
        rid = self.srv.send("write", ep=plug, path="/3312/0/5850", value=False, type="boolean")
        self.assertEqual(sub.wait(1), ['zigbee2mqtt/desk-plug/set {"state":"OFF"}'])
        b.pub("zigbee2mqtt/desk-plug", '{"state":"OFF"}', qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")
        rid = self.srv.send("write", ep=bulb, path="/3311/0/5851", value=100, type="integer")
        self.assertEqual(sub.wait(2)[1], 'zigbee2mqtt/hall-bulb/set {"brightness":254}')
        b.pub("zigbee2mqtt/hall-bulb", '{"brightness":254}', qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")
        rid = self.srv.send("write", ep=stairs, path="/3312/1/5850", value=True, type="boolean")
        self.assertEqual(sub.wait(3)[2], 'zigbee2mqtt/stairs-switch/set {"state_right":"ON"}')
        b.pub("zigbee2mqtt/stairs-switch", '{"state_right":"ON"}', qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")
        # An enum: only its values.
        r = self.srv.request("write", ep=bulb, path="/3306/0/5853", value="sometimes", type="string", timeout=10)
        self.assertEqual(r["code"], "4.04", r)  # no such enum entry (-ENOENT)
        rid = self.srv.send("write", ep=bulb, path="/3306/0/5853", value="on", type="string")
        self.assertEqual(sub.wait(4)[3], 'zigbee2mqtt/hall-bulb/set {"power_on_behavior":"on"}')
        b.pub("zigbee2mqtt/hall-bulb", '{"power_on_behavior":"on"}', qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")

        # What has no rule is reported: status and the log.
        r = gw.ctl("status")
        line = [l for l in r.stdout.split("\n") if l.startswith(ieee["living-th"])][0]
        self.assertIn("discovered", line)
        self.assertIn("not mapped: linkquality (numeric: no rule)", line)
        gw.wait_log(r"zigbee2mqtt: %s \(WSDCGQ11LM living-th\): 5 features mapped, not mapped \(no rule\): "
                    r"linkquality" % ieee["living-th"])

        # A device leaves the network (the bridge's event): gone at once.
        b.pub("zigbee2mqtt/bridge/event", json.dumps({"type": "device_leave", "data": {
            "ieee_address": ieee["desk-button"], "friendly_name": "desk-button"}}), qos=1)
        self.srv.wait_event("deregister", ep="gw-" + ieee["desk-button"], timeout=10)
        # A device gone from bridge/devices, another renamed: followed.
        devs = [d for d in DEVICES if d["friendly_name"] not in ("desk-button", "bed-remote")]
        devs = json.loads(json.dumps(devs))
        for d in devs:
            if d["friendly_name"] == "living-th":
                d["friendly_name"] = "lounge-th"
        b.pub("zigbee2mqtt/bridge/devices", json.dumps(devs), qos=1, retain=True)
        self.srv.wait_event("deregister", ep="gw-" + ieee["bed-remote"], timeout=10)
        self.srv.wait_event("deregister", ep=ep, timeout=10)
        self.registered(ep)  # again, now bound to the new name
        b.pub("zigbee2mqtt/lounge-th", '{"temperature":19.5}', qos=1)
        self.until(ep, "/3303/0/5700", 19.5)
        self.assertEqual(gw.stop(), 0)

    def test_bounded_and_configured_first(self):
        """max_devices bounds what bridge/devices creates; a configured
        device bound to a friendly name keeps it (its profile wins)."""
        b = self.b
        b.pub("zigbee2mqtt/bridge/devices", json.dumps(DEVICES), retain=True)
        text = config(self.srv.url, b.port, "max_devices: 3\nzigbee2mqtt: {prefix: z-}")
        text = text.replace("devices: []", "devices:\n  - name: th1\n    bridge: broker\n"
                            "    profile: z2m-th-sensor\n    address: living-th\n")
        gw = self.start(text)
        self.registered("gw-th1")
        made = set()
        deadline = time.monotonic() + 15
        while len(made) < 3 and time.monotonic() < deadline:
            try:
                made.add(self.srv.wait_event("register", timeout=1, where=lambda e: e["ep"].startswith("gw-z-"))["ep"])
            except TimeoutError:
                pass
        self.assertEqual(len(made), 3, made)
        gw.wait_log(r"zigbee2mqtt: .* not created: discovery.max_devices reached")
        time.sleep(0.5)  # nothing more comes
        regs = [r["ep"] for r in self.srv.registrations()]
        self.assertEqual(len([e for e in regs if e.startswith("gw-z-")]), 3, regs)
        self.assertNotIn("gw-z-" + DEVICES[1]["ieee_address"], regs)  # living-th is th1's
        self.assertEqual(gw.stop(), 0)


class HomeAssistant(Base):
    def test_esphome_tasmota_zigbee2mqtt(self):
        b = self.b
        for name in ("esphome", "tasmota", "zigbee2mqtt"):
            for topic, payload in ha_lines(name):
                b.pub(topic, payload, retain=True)
        b.pub("livingroom/sensor/temperature/state", "21.5", retain=True)
        b.pub("livingroom/sensor/humidity/state", "48", retain=True)
        b.pub("livingroom/binary_sensor/motion/state", "ON", retain=True)
        b.pub("livingroom/switch/relay/state", "OFF", retain=True)
        b.pub("livingroom/light/lamp/state", '{"state":"ON","brightness":128,"color_mode":"brightness"}',
              retain=True)
        b.pub("tele/EZPlug_35EBF6/SENSOR", '{"Time":"2024-05-01T12:00:00","ENERGY":{"Total":3.25,"Power":57,'
              '"Voltage":231,"Current":0.25,"TotalStartTime":"2024-01-01T00:00:00"},"DS18B20":{"Temperature":22.1}}',
              retain=True)
        b.pub("tele/EZPlug_35EBF6/STATE", '{"POWER":"ON","Wifi":{"RSSI":80}}', retain=True)
        b.pub("zigbee2mqtt/front-door", '{"contact":true,"battery":91}', retain=True)
        gw = self.start(config(self.srv.url, b.port, "max_devices: 16\nhomeassistant: {settle: 300ms}"))
        esp, tas = "gw-ha-a4cf12b3c4d5", "gw-ha-35EBF6"
        door = "gw-ha-zigbee2mqtt_0x00158d0003c4d5e6"
        for ep in (esp, tas, door, "gw-ha-zigbee2mqtt_0x00158d0001a2b3c4", "gw-ha-zigbee2mqtt_0x00158d0005e6f7a8",
                   "gw-ha-zigbee2mqtt_0x000d6ffffe1a2b3c"):
            self.registered(ep)
        # ESPHome: text states.
        self.assertEqual(self.read_when(esp, "/3303/0/5700"), 21.5)
        self.assertEqual(self.read_when(esp, "/3304/0/5700"), 48.0)
        self.assertIs(self.read_when(esp, "/3302/0/5500"), True)
        self.assertIs(self.read_when(esp, "/3312/0/5850"), False)
        self.assertEqual(self.read_when(esp, "/3311/0/5851"), 50)  # 128 of 255
        self.assertEqual(self.read_when(esp, "/3/0/0"), "Espressif")
        # Tasmota: value templates on one JSON message.
        self.assertEqual(self.read_when(tas, "/3328/0/5700"), 57.0)
        self.assertEqual(self.read_when(tas, "/3331/0/5700"), 3.25)
        self.assertEqual(self.read_when(tas, "/3316/0/5700"), 231.0)
        self.assertEqual(self.read_when(tas, "/3303/0/5700"), 22.1)
        self.assertIs(self.read_when(tas, "/3312/0/5850"), True)
        self.assertEqual(self.read_when(tas, "/3/0/1"), "Sonoff S31")
        # zigbee2mqtt's: payload_on false (a door: open is on).
        self.assertIs(self.read_when(door, "/3342/0/5500"), False)
        b.pub("zigbee2mqtt/front-door", '{"contact":false}', qos=1)
        self.until(door, "/3342/0/5500", True)

        # Writes go to the command topics.
        sub = b.sub("livingroom/+/+/command")
        tsub = b.sub("cmnd/EZPlug_35EBF6/#")
        r = self.srv.request("write", ep=esp, path="/3312/0/5850", value=True, type="boolean", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(sub.wait(1), ["livingroom/switch/relay/command ON"])
        r = self.srv.request("write", ep=esp, path="/3311/0/5851", value=100, type="integer", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(sub.wait(2)[1], 'livingroom/light/lamp/command {"state":"ON","brightness":255}')
        r = self.srv.request("write", ep=tas, path="/3312/0/5850", value=False, type="boolean", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(tsub.wait(1), ["cmnd/EZPlug_35EBF6/POWER OFF"])

        # Skipped entities are reported.
        r = gw.ctl("status")
        line = [l for l in r.stdout.split("\n") if l.startswith("ha-a4cf12b3c4d5")][0]
        self.assertIn("not mapped: button ESPbuttonrestart (component without a rule)", line)

        # A new entity later: the device gets it (registers again with it).
        b.pub("homeassistant/sensor/livingroom/pressure/config", json.dumps({
            "dev_cla": "atmospheric_pressure", "unit_of_meas": "hPa", "name": "Pressure",
            "stat_t": "livingroom/sensor/pressure/state", "uniq_id": "ESPsensorpressure",
            "dev": {"ids": "a4cf12b3c4d5"}}), qos=1, retain=True)
        b.pub("livingroom/sensor/pressure/state", "1008.5", qos=1, retain=True)
        self.registered(esp, where=lambda e: "/3315/0" in links(e))
        self.assertEqual(self.read_when(esp, "/3315/0/5700"), 1008.5)
        # An empty configuration removes an entity.
        b.pub("homeassistant/binary_sensor/livingroom/motion/config", "", qos=1, retain=True)
        self.registered(esp, where=lambda e: "/3302/0" not in links(e))
        self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    sys.exit(test_devices.main())
