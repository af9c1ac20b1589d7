#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The MQTT bridge end to end: the real `fieldgate` against a real mosquitto
(started per test on a random loopback port) and fg-lwm2m-server.

- values published with mosquitto_pub reach the LwM2M server as
  notifications, with their types (zigbee2mqtt JSON, Tasmota text and
  nested JSON, raw bytes);
- auto-discovery creates and registers endpoints, bounded by max_devices;
- LwM2M Write / Execute become publishes (checked with mosquitto_sub),
  confirmed by the state echo (2.04) or not (5.04 / the timeout code);
- the broker killed and restarted: reconnect, resubscribe, and QoS 1
  messages published while the gateway was away are delivered (broker
  persistence in a temp dir);
- malformed payloads (not JSON, wrong types, 1 MiB of garbage) change
  nothing and the gateway runs on;
- TLS to a broker with a test CA (by name and by address), a client
  certificate with username/password, and a broker
  whose certificate does not verify is refused;
- configuration and profile errors named at file:line:col.

Usage: test_mqtt.py PATH/TO/fieldgate
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

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "gateway"))
sys.path.insert(0, HERE)
from fglwm2m import records_by_path  # noqa: E402
import test_devices  # noqa: E402
from mqttpeer import Broker, make_ca, make_client_cert  # noqa: E402

PROFILES = os.path.join(SOURCE, "mappings", "profiles") + ":" + os.path.join(HERE, "profiles")


def config(url, broker_body, devices, level="debug"):
    return test_devices.bridge_config(url, "broker", "mqtt", broker_body,
                                      [{"name": n, "profile": p, "address": a} for n, p, a in devices],
                                      profiles=PROFILES, level=level)

class Base(test_devices.Base):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="fg-mqtt-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def broker(self, **kw):
        b = Broker(self.dir, **kw).start()
        self.addCleanup(b.close)
        return b

    def observe(self, ep, path):
        r = self.srv.request("observe", ep=ep, path=path, timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        return records_by_path(r)[path]

    def notify(self, ep, path, timeout=10):
        n = self.srv.wait_event("notify", ep=ep, timeout=timeout,
                                where=lambda e: path in records_by_path(e))
        return records_by_path(n)[path]

    def poll_until(self, ep, path, want, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            v = self.value(ep, path)
            if v == want or time.monotonic() > deadline:
                return v
            time.sleep(0.05)

    def counters(self, gw, device="th1"):
        """The MQTT bridge's counters of a device in `fieldgate status`."""
        r = gw.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        line = next(l for l in r.stdout.splitlines() if l.startswith(device + " "))
        m = re.search(r"rx=(\d+) bad=(\d+) value_err=(\d+) missing=(\d+) ", line)
        self.assertTrue(m, line)
        return dict(zip(("rx", "bad", "value_err", "missing"), map(int, m.groups())))

    def body(self, b, extra=""):
        return "host: 127.0.0.1\nport: %d\nreconnect_min: 200ms\nreconnect_max: 1s\n%s" % (b.port, extra)


class Values(Base):
    def test_values_arrive_typed(self):
        b = self.broker()
        # Retained before the gateway starts: the first values come with the SUBACK.
        b.pub("zigbee2mqtt/th1", '{"temperature":21.5,"humidity":48,"battery":97,"voltage":3005,'
              '"last_seen":"2024-05-01T12:00:00Z"}', retain=True)
        gw = self.start(config(self.srv.url, self.body(b), [
            ("th1", "z2m-th-sensor", "th1"), ("tas1", "tasmota-energy-plug", "tas1"),
            ("raw1", "test-raw-sensor", "raw1"), ("sh1", "shelly-ht", "shellyht-1A2B3C")]))
        for ep in ("gw-th1", "gw-tas1", "gw-raw1", "gw-sh1"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected to 127\.0\.0\.1:%d" % b.port)
        # Reachable from the start: never reported down while connecting.
        self.assertFalse([l for l in gw.log if re.search(r"Device \S+: unreachable", l)])
        deadline = time.monotonic() + 10
        while True:  # the retained message is delivered after the SUBACK
            r = self.srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
            if r["code"] == "2.05" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(self.observe("gw-th1", "/3303/0/5700"), 21.5)
        self.assertEqual(self.value("gw-th1", "/3304/0/5700"), 48.0)
        # The payload's last_seen is the values' time of measurement (SenML "t").
        r = self.srv.request("read", ep="gw-th1", path="/3303/0", timeout=10)
        self.assertEqual({x["path"]: x.get("time") for x in r["records"]},
                         {"/3303/0/5700": 1714564800.0, "/3303/0/5701": None})
        self.assertEqual(self.value("gw-th1", "/3/0/9"), 97)       # Integer
        self.assertEqual(self.value("gw-th1", "/3/0/7/0"), 3005)

        b.pub("zigbee2mqtt/th1", '{"temperature":22.25,"humidity":47.5,"battery":96}', qos=1)
        self.assertEqual(self.notify("gw-th1", "/3303/0/5700"), 22.25)
        self.assertEqual(self.value("gw-th1", "/3/0/9"), 96)
        # A partial update (no temperature) leaves the temperature alone.
        b.pub("zigbee2mqtt/th1", '{"linkquality":90,"humidity":50}', qos=1)
        deadline = time.monotonic() + 10
        while self.value("gw-th1", "/3304/0/5700") != 50.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.value("gw-th1", "/3304/0/5700"), 50.0)
        self.assertEqual(self.value("gw-th1", "/3303/0/5700"), 22.25)
        # Values of a payload without last_seen are as of their arrival: no time.
        r = self.srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
        self.assertNotIn("time", r["records"][0])

        # Tasmota: nested JSON (kWh -> Wh) and a text ON/OFF topic.
        self.observe_later = None
        b.pub("tele/tas1/SENSOR", '{"Time":"2024-05-01T12:00:00","ENERGY":{"Total":3.25,"Power":57,'
              '"Voltage":231,"Current":0.25}}', qos=1)
        b.pub("stat/tas1/POWER", "ON", qos=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.srv.request("read", ep="gw-tas1", path="/3312/0/5850", timeout=10)
            if r["code"] == "2.05":
                break
            time.sleep(0.05)
        self.assertIs(self.value("gw-tas1", "/3312/0/5850"), True)
        self.assertEqual(self.value("gw-tas1", "/3305/0/5800"), 57.0)
        self.assertEqual(self.value("gw-tas1", "/3305/0/5805"), 3250.0)
        self.assertEqual(self.value("gw-tas1", "/3316/0/5700"), 231.0)
        self.assertEqual(self.observe("gw-tas1", "/3312/0/5850"), True)
        b.pub("stat/tas1/POWER", "OFF", qos=1)
        self.assertIs(self.notify("gw-tas1", "/3312/0/5850"), False)

        # Raw bytes: an int16 big endian at offset 2, scaled 0.1, and a
        # little-endian uint32 at offset 4.
        b.pub("raw/raw1/frame", bytes([0xAA, 0x55, 0x00, 0xE6, 0x10, 0x27, 0x00, 0x00]), qos=1)
        self.assertEqual(self.read_when("gw-raw1", "/3303/0/5700"), 23.0)
        self.assertEqual(self.value("gw-raw1", "/3305/0/5805"), 10000.0)

        # Shelly: plain text numbers, one topic per value.
        b.pub("shellies/shellyht-1A2B3C/sensor/temperature", "21.25", qos=1)
        b.pub("shellies/shellyht-1A2B3C/sensor/battery", "97", qos=1)
        b.pub("shellies/other/sensor/temperature", "99", qos=1)
        self.assertEqual(self.read_when("gw-sh1", "/3303/0/5700"), 21.25)
        self.assertEqual(self.read_when("gw-sh1", "/3/0/9"), 97)

        # fieldgate status lists the devices (the bridge counters: see the
        # malformed payloads test).
        r = gw.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("th1", r.stdout)
        self.assertEqual(gw.stop(), 0)
        self.assertTrue([l for l in gw.log if "sending DISCONNECT" in l])

    def test_malformed_payloads_change_nothing(self):
        b = self.broker()
        gw = self.start(config(self.srv.url, self.body(b, "max_payload: 65536"), [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        # The subscription is in place once a first value arrives.
        deadline = time.monotonic() + 10
        while True:
            b.pub("zigbee2mqtt/th1", '{"temperature":20.5,"humidity":40,"battery":90}', qos=1)
            r = self.srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
            if r["code"] == "2.05":
                break
            self.assertLess(time.monotonic(), deadline, r)
        self.assertEqual(self.observe("gw-th1", "/3303/0/5700"), 20.5)
        before = self.counters(gw)
        bad = [b"not json at all", b'{"temperature":', b'{"temperature":"warm","humidity":"wet"}',
               b'{"temperature":{"nested":1},"humidity":[1,2]}', b'{"temperature":null}',
               b'[1,2,3]', b'"just a string"', b'{"humidity":250}', b'{"battery":-5}',
               b"\x00\xff" * 100, os.urandom(1 << 20), b"{" * 100000]
        for p in bad:
            b.pub("zigbee2mqtt/th1", p, qos=1)
        # A good one after the bad ones: every bad one was seen before it.
        b.pub("zigbee2mqtt/th1", '{"battery":91}', qos=1)
        deadline = time.monotonic() + 15
        while self.value("gw-th1", "/3/0/9") != 91:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertIsNone(gw.proc.poll())
        self.assertEqual(self.value("gw-th1", "/3303/0/5700"), 20.5)
        self.assertEqual(self.value("gw-th1", "/3304/0/5700"), 40.0)
        # No notification of the temperature came from the bad payloads.
        self.assertFalse([e for e in self.srv.events("notify")
                          if e.get("ep") == "gw-th1" and "/3303/0/5700" in records_by_path(e)])
        gw.wait_log(r"payload on 'zigbee2mqtt/th1' does not match the profile of th1: not JSON")
        # Rate limited: far fewer warnings than bad payloads.
        warned = [l for l in gw.log if "does not match the profile" in l]
        self.assertLessEqual(len(warned), 2, warned)
        # The bridge's counters, per message and per value (the profile has
        # 4 points on this topic: battery, voltage, temperature, humidity):
        # 12 messages (the broker drops the 1 MiB one: MQTT 5 told it
        # max_payload); 4 unreadable as a whole (not JSON twice, binary,
        # one above max_payload), each counted once and not per point; 10
        # values that did not decode ("warm", "wet", an object, an array,
        # the 4 of a JSON string document, humidity 250 above its max,
        # battery -5 below the Device object's range); 21 values absent
        # (null counts as absent).
        after = self.counters(gw)
        self.assertEqual({k: after[k] - before[k] for k in after},
                         {"rx": 12, "bad": 4, "value_err": 10, "missing": 21}, (before, after))
        self.assertEqual(gw.stop(), 0)


def vmhwm(pid):
    """Peak resident memory of process pid so far (VmHWM), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for %d" % pid)


class MaxPayload(Base):
    """max_payload bounds memory: in MQTT 5 the broker is told the largest
    packet taken (Maximum Packet Size) and drops a longer message instead
    of sending it, so a 64 MiB publish never reaches fieldgate."""
    BIG = 64 << 20
    BOUND = 16 << 20  # what fieldgate's peak may grow by (it grew by ~64 MiB before)

    def subscribed(self, b, gw, value):
        deadline = time.monotonic() + 10
        while True:
            b.pub("zigbee2mqtt/th1", '{"temperature":%s}' % value, qos=1)
            r = self.srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
            if r["code"] == "2.05" and records_by_path(r)["/3303/0/5700"] == value:
                return
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.1)

    def test_64mib_publish_never_reaches_fieldgate(self):
        b = self.broker()
        gw = self.start(config(self.srv.url, self.body(b), [("th1", "z2m-th-sensor", "th1")], level="info"))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        self.subscribed(b, gw, 20.5)
        base = vmhwm(gw.proc.pid)
        mark = len(gw.log)
        # QoS 1, as the bridge subscribes: the broker must drop it, not
        # keep it in flight (the next message would wait behind it).
        b.pub("zigbee2mqtt/th1", b'{"temperature":' + b" " * (self.BIG - 20) + b'1}', qos=1)
        b.pub("zigbee2mqtt/th1", '{"temperature":21.5}', qos=1)
        deadline = time.monotonic() + 30
        while self.value("gw-th1", "/3303/0/5700") != 21.5:
            self.assertLess(time.monotonic(), deadline, "the message after the big one was not decoded")
            time.sleep(0.05)
        peak = vmhwm(gw.proc.pid)
        print("fieldgate VmHWM before the 64 MiB publish %d KiB, after %d KiB (+%d KiB; bound +%d KiB)"
              % (base >> 10, peak >> 10, (peak - base) >> 10, self.BOUND >> 10), file=sys.stderr)
        self.assertLess(peak - base, self.BOUND)
        # The connection stayed up; the broker dropped the message.
        self.assertFalse([l for l in gw.log[mark:] if "connection lost" in l or "connected to" in l], gw.log[mark:])
        with open(b.log.name) as f:
            self.assertRegex(f.read(), r"Dropping too large outgoing PUBLISH for fieldgate-broker \(\d+ bytes\)")
        # And it goes on.
        b.pub("zigbee2mqtt/th1", '{"temperature":22.5}', qos=1)
        self.assertEqual(self.poll_until("gw-th1", "/3303/0/5700", 22.5), 22.5)
        self.assertEqual(gw.stop(), 0)


class Aedes:
    """aedes, a real MQTT 3.1.1-only broker from npm (tests/peers), on a free
    loopback port; its output lines ("connect <id> v<version>") collected."""

    def __init__(self, tmp):
        peers = os.path.join(SOURCE, "tests", "peers")
        self.port = socket.socket()
        self.port.bind(("127.0.0.1", 0))
        port = self.port.getsockname()[1]
        self.port.close()
        self.port = port
        self.lines = []
        self.proc = subprocess.Popen([shutil.which("node"), os.path.join(HERE, "aedes-broker.mjs"), str(port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, FG_PEERS_DIR=peers))
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            self.close()
            raise AssertionError("aedes did not start: %r" % line)
        self.reader = threading.Thread(target=lambda: [self.lines.append(l.strip()) for l in self.proc.stdout],
                                       daemon=True)
        self.reader.start()

    def pub(self, topic, payload):
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-V", "mqttv311", "-q", "1",
                            "-t", topic, "-m", payload], capture_output=True, timeout=20)
        if r.returncode != 0:
            raise AssertionError("mosquitto_pub failed: %r" % r.stderr)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class Protocol(Base):
    """MQTT 5 by default (the CONNECT tells the broker max_payload), 3.1.1
    when the broker refuses 5 (protocol: auto) or when configured."""

    def aedes(self):
        peers = os.path.join(SOURCE, "tests", "peers", "node_modules", "aedes")
        if not shutil.which("node") or not os.path.isdir(peers):
            self.skipTest("node or tests/peers/node_modules/aedes missing: run scripts/install-deps.sh")
        a = Aedes(self.dir)
        self.addCleanup(a.close)
        return a

    def test_mqtt5_by_default(self):
        b = self.broker()
        gw = self.start(config(self.srv.url, self.body(b), [("th1", "z2m-th-sensor", "th1")]))
        gw.wait_log(r"MQTT bridge broker: connected")
        with open(b.log.name) as f:  # p5: MQTT 5; c0: a persistent session
            self.assertRegex(f.read(), r"New client connected from .* as fieldgate-broker \(p5, c0, k30\)")
        self.assertFalse([l for l in gw.log if "does not speak MQTT 5" in l])
        self.assertEqual(gw.stop(), 0)

    def test_fallback_to_311(self):
        a = self.aedes()
        body = "host: 127.0.0.1\nport: %d\nreconnect_min: 200ms\nreconnect_max: 1s\n" % a.port
        gw = self.start(config(self.srv.url, body, [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: broker 127\.0\.0\.1:%d does not speak MQTT 5: using MQTT 3\.1\.1, "
                    r"where the broker cannot be told max_payload \(262144 bytes\)" % a.port)
        gw.wait_log(r"MQTT bridge broker: connected to 127\.0\.0\.1:%d" % a.port)
        # At once, not after a backoff: no failure was logged.
        self.assertFalse([l for l in gw.log if "connection failed" in l or "refused the connection" in l], gw.log)
        deadline = time.monotonic() + 10
        while True:
            a.pub("zigbee2mqtt/th1", '{"temperature":23.5}')
            r = self.srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
            if r["code"] == "2.05":
                break
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.1)
        self.assertEqual(records_by_path(r)["/3303/0/5700"], 23.5)
        connects = [l for l in a.lines if l.startswith("connect fieldgate-broker")]
        self.assertEqual(connects, ["connect fieldgate-broker v5", "connect fieldgate-broker v4"])
        self.assertEqual(gw.stop(), 0)

    def test_mqtt5_only_is_refused(self):
        a = self.aedes()
        body = "host: 127.0.0.1\nport: %d\nprotocol: 5\nreconnect_min: 100ms\nreconnect_max: 200ms\n" % a.port
        gw = self.start(config(self.srv.url, body, [("th1", "z2m-th-sensor", "th1")]))
        refused = (r"broker 127\.0\.0\.1:%d refused the connection: Unsupported Protocol Version \(it speaks "
                   r"MQTT 3\.1\.1 only: protocol: auto or 3\.1\.1 would connect\)" % a.port)
        gw.wait_log(refused)
        mark = len(gw.log)
        gw.wait_log(refused, mark)  # tried again, in 5
        self.assertFalse([l for l in gw.log if "connected to" in l or "does not speak" in l])
        self.assertEqual({l for l in a.lines if l.startswith("connect ")}, {"connect fieldgate-broker v5"})
        self.assertEqual(gw.stop(), 0)

    def test_311_configured(self):
        # protocol: 3.1.1: a message longer than max_payload reaches fieldgate
        # (libmosquitto reads it whole), is dropped and counted; the
        # connection stays up.
        b = self.broker()
        gw = self.start(config(self.srv.url, self.body(b, "protocol: 3.1.1\nmax_payload: 65536"),
                               [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        with open(b.log.name) as f:
            self.assertRegex(f.read(), r"as fieldgate-broker \(p2, c0, k30\)")
        MaxPayload.subscribed(self, b, gw, 20.5)
        mark = len(gw.log)
        b.pub("zigbee2mqtt/th1", b'{"temperature":' + b" " * (1 << 20) + b'1}', qos=1)
        b.pub("zigbee2mqtt/th1", '{"temperature":21.5}', qos=1)
        self.assertEqual(self.poll_until("gw-th1", "/3303/0/5700", 21.5), 21.5)
        gw.wait_log(r"payload on 'zigbee2mqtt/th1' does not match the profile of th1: larger than max_payload", mark)
        self.assertFalse([l for l in gw.log[mark:] if "connection lost" in l])
        self.assertEqual(gw.stop(), 0)


class Writes(Base):
    def test_write_and_execute_publish(self):
        b = self.broker()
        gw = self.start(config(self.srv.url, self.body(b), [
            ("plug1", "z2m-smart-plug", "plug1"), ("tas1", "tasmota-energy-plug", "tas1"),
            ("gen1", "mqtt-json-sensor", "gen1")]))
        for ep in ("gw-plug1", "gw-tas1", "gw-gen1"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        time.sleep(0.2)
        sub = b.sub("zigbee2mqtt/plug1/set")
        # A device that echoes its state: the write is confirmed (2.04).
        echo = b.sub("zigbee2mqtt/plug1/set")
        t0 = time.monotonic()
        rid = self.srv.send("write", ep="gw-plug1", path="/3312/0/5850", value=False, type="boolean")
        msgs = echo.wait(1)
        self.assertEqual(msgs, ['zigbee2mqtt/plug1/set {"state":"OFF"}'])
        b.pub("zigbee2mqtt/plug1", '{"state":"OFF","power":0,"energy":1.5}', qos=1)
        r = self.srv.response(rid, timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIs(self.value("gw-plug1", "/3312/0/5850"), False)
        self.assertEqual(self.value("gw-plug1", "/3305/0/5805"), 1500.0)
        # No echo: the write times out (5 s confirm) with a gateway timeout.
        t0 = time.monotonic()
        r = self.srv.request("write", ep="gw-plug1", path="/3312/0/5850", value=True, type="boolean",
                             timeout=20)
        self.assertGreaterEqual(time.monotonic() - t0, 4.5)
        self.assertEqual(r["code"], "5.04", r)  # Gateway Timeout (-ETIME)
        self.assertEqual(sub.wait(2)[1], 'zigbee2mqtt/plug1/set {"state":"ON"}')
        gw.wait_log(r"plug1: no state echo within the timeout")

        # Tasmota: a text command, echoed on stat/.../POWER.
        tsub = b.sub("cmnd/tas1/#")
        rid = self.srv.send("write", ep="gw-tas1", path="/3312/0/5850", value=True, type="boolean")
        self.assertEqual(tsub.wait(1), ["cmnd/tas1/POWER ON"])
        b.pub("stat/tas1/POWER", "ON", qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")
        # Execute: Restart with its payload.
        r = self.srv.request("execute", ep="gw-tas1", path="/3/0/4", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(tsub.wait(2)[1], "cmnd/tas1/Restart 1")

        # A JSON template with a number and an Execute's arguments (escaped).
        gsub = b.sub("sensors/gen1/#")
        rid = self.srv.send("write", ep="gw-gen1", path="/3341/0/5548", value=42.5, type="float")
        self.assertEqual(gsub.wait(1), ['sensors/gen1/set {"level":42.5}'])
        b.pub("sensors/gen1/state", '{"level":42.5}', qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")
        r = self.srv.request("execute", ep="gw-gen1", path="/3/0/4", args="0='now'", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertIn("""sensors/gen1/cmd {"cmd":"reboot","args":"0='now'"}""", gsub.wait(3))
        # Out of the DDF range (Level 0..100): refused before anything is published.
        r = self.srv.request("write", ep="gw-gen1", path="/3341/0/5548", value=150, type="float", timeout=10)
        self.assertEqual(r["code"], "4.00", r)
        time.sleep(0.3)
        self.assertEqual(len([m for m in gsub.messages() if "/set" in m]), 1)
        self.assertEqual(gw.stop(), 0)

    def test_tasmota_discovery_and_shelly_gen2(self):
        # tasmota-discovery: identity from the retained discovery message,
        # an address of two captures; shelly-gen2-switch: status
        # notifications on a topic with ':' and writes as RPC over MQTT,
        # confirmed by the next status.
        b = self.broker()
        b.pub("tasmota/discovery/84CCA8ABC123/config",
              '{"ip":"192.168.1.50","dn":"Tasmota","fn":["Kettle",null],"hn":"tasmota-ABC123-0291",'
              '"mac":"84CCA8ABC123","md":"Sonoff Basic","sw":"13.4.0","t":"tasmota_ABC123",'
              '"ft":"%prefix%/%topic%/","tp":["cmnd","stat","tele"],"rl":[1,0],"ver":1}', retain=True)
        b.pub("tasmota/discovery/FFEEDDCCBBAA/config", '{"md":"Other","mac":"FFEEDDCCBBAA","sw":"1"}',
              retain=True)
        b.pub("shpm/status/switch:0", '{"id":0,"source":"init","output":true,"apower":57.3,"voltage":229.8,'
              '"current":0.262,"aenergy":{"total":1234.5},"temperature":{"tC":41.2,"tF":106.2}}', retain=True)
        gw = self.start(config(self.srv.url, self.body(b), [
            ("tas2", "tasmota-discovery", "{device: tasmota_ABC123, mac: 84CCA8ABC123}"),
            ("shpm", "shelly-gen2-switch", "shpm")]))
        for ep in ("gw-tas2", "gw-shpm"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        self.assertEqual(self.read_when("gw-tas2", "/3/0/1"), "Sonoff Basic")
        self.assertEqual(self.value("gw-tas2", "/3/0/2"), "84CCA8ABC123")
        self.assertEqual(self.value("gw-tas2", "/3/0/3"), "13.4.0")
        self.assertEqual(self.value("gw-tas2", "/3312/0/5750"), "Kettle")
        self.assertEqual(self.read_when("gw-shpm", "/3305/0/5800"), 57.3)
        self.assertEqual(self.value("gw-shpm", "/3305/0/5805"), 1234.5)
        self.assertEqual(self.value("gw-shpm", "/3303/0/5700"), 41.2)
        self.assertIs(self.value("gw-shpm", "/3312/0/5850"), True)

        tsub = b.sub("cmnd/tasmota_ABC123/#")
        rid = self.srv.send("write", ep="gw-tas2", path="/3312/0/5850", value=True, type="boolean")
        self.assertEqual(tsub.wait(1), ["cmnd/tasmota_ABC123/POWER ON"])
        b.pub("stat/tasmota_ABC123/POWER", "ON", qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")

        rpc = b.sub("shpm/rpc")
        rid = self.srv.send("write", ep="gw-shpm", path="/3312/0/5850", value=False, type="boolean")
        self.assertEqual(rpc.wait(1), ['shpm/rpc {"id":1,"src":"fieldgate","method":"Switch.Set",'
                                       '"params":{"id":0,"on":false}}'])
        b.pub("shpm/status/switch:0", '{"id":0,"source":"mqtt","output":false,"apower":0.0}', qos=1)
        self.assertEqual(self.srv.response(rid, timeout=10)["code"], "2.04")
        self.assertEqual(self.value("gw-shpm", "/3305/0/5800"), 0.0)
        r = self.srv.request("execute", ep="gw-shpm", path="/3/0/4", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(rpc.wait(2)[1], 'shpm/rpc {"id":2,"src":"fieldgate","method":"Shelly.Reboot"}')
        self.assertEqual(gw.stop(), 0)

    def test_write_refused_by_the_broker(self):
        # MQTT 5 tells when the broker refuses a PUBLISH (its ACL here:
        # PUBACK "Not authorized"): the write fails at once (5.00), where
        # 3.1.1 would have it dropped silently and the write wait for an
        # echo that never comes.
        b = self.broker(acl=["topic readwrite fieldgate/#", "topic read zigbee2mqtt/#"])
        gw = self.start(config(self.srv.url, self.body(b), [("plug1", "z2m-smart-plug", "plug1")]))
        self.srv.wait_event("register", ep="gw-plug1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        t0 = time.monotonic()
        r = self.srv.request("write", ep="gw-plug1", path="/3312/0/5850", value=True, type="boolean", timeout=10)
        self.assertEqual(r["code"], "5.00", r)
        self.assertLess(time.monotonic() - t0, 4)  # not the 5 s of the state echo
        gw.wait_log(r"MQTT bridge broker: the broker refused a publish for plug1: Not authorized")
        self.assertEqual(gw.stop(), 0)

    def test_write_while_broker_down(self):
        b = self.broker()
        gw = self.start(config(self.srv.url, self.body(b), [("plug1", "z2m-smart-plug", "plug1")]))
        self.srv.wait_event("register", ep="gw-plug1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        b.stop(sig_kill=True)
        gw.wait_log(r"MQTT bridge broker: broker 127\.0\.0\.1:%d: connection lost" % b.port)
        r = self.srv.request("write", ep="gw-plug1", path="/3312/0/5850", value=True, type="boolean", timeout=10)
        self.assertEqual(r["code"], "5.03", r)
        self.assertEqual(self.value("gw-plug1", "/3/0/11/0"), 16)  # unreachable while the broker is away
        self.assertEqual(gw.stop(), 0)


class NeverBlocks(Base):
    def test_unreachable_and_unresolvable_brokers(self):
        # An address nobody answers (the SYN goes unanswered or the network
        # is unreachable) and a name that does not resolve: the loop goes on
        # (registration, status, reads) while the bridges retry.
        text = config(self.srv.url, "host: 10.255.255.1\nport: 1883\nreconnect_min: 200ms\nreconnect_max: 1s",
                      [("th1", "z2m-th-sensor", "th1")])
        text = text.replace("devices:", "  other:\n    type: mqtt\n    host: broker.invalid\n"
                            "    reconnect_min: 100ms\n    reconnect_max: 300ms\ndevices:")
        text += "  - {name: th2, bridge: other, address: th2, profile: z2m-th-sensor}\n"
        t0 = time.monotonic()
        gw = self.start(text)
        for ep in ("gw-th1", "gw-th2"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        self.assertLess(time.monotonic() - t0, 10)
        gw.wait_log(r"MQTT bridge other: broker broker\.invalid:1883: cannot resolve 'broker\.invalid'")
        gw.wait_log(r"MQTT bridge other: broker broker\.invalid:1883: cannot resolve", len(gw.log))  # retried
        for _ in range(5):
            t = time.monotonic()
            r = gw.ctl("status")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertLess(time.monotonic() - t, 2)
            self.assertEqual(self.value("gw-th1", "/3/0/11/0"), 16)
            self.assertEqual(self.value("gw-th2", "/3/0/11/0"), 16)
        r = self.srv.request("write", ep="gw-th1", path="/3303/0/5700", value=1.0, type="float", timeout=10)
        self.assertEqual(r["code"], "4.05", r)  # not writable: refused before the bridge
        self.assertEqual(gw.stop(), 0)

    def test_silent_broker(self):
        # TCP connects (the kernel completes the handshake into the backlog)
        # but nothing answers the CONNECT: the attempt is given up after
        # connect_timeout and retried, the loop answering meanwhile.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        self.addCleanup(s.close)
        body = ("host: 127.0.0.1\nport: %d\nconnect_timeout: 1s\nreconnect_min: 100ms\nreconnect_max: 200ms"
                % s.getsockname()[1])
        gw = self.start(config(self.srv.url, body, [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"broker 127\.0\.0\.1:\d+: no CONNACK within connect_timeout")
        t = time.monotonic()
        self.assertEqual(gw.ctl("status").returncode, 0)
        self.assertLess(time.monotonic() - t, 2)
        gw.wait_log(r"no CONNACK within connect_timeout", len(gw.log))  # and again
        self.assertEqual(self.value("gw-th1", "/3/0/11/0"), 16)
        self.assertEqual(gw.stop(), 0)


class Discovery(Base):
    def test_discovery_bounded(self):
        b = self.broker()
        body = self.body(b, "discovery:\n  max_devices: 2\n  rules:\n"
                            "    - {topic: \"zigbee2mqtt/{device}\", profile: z2m-th-sensor, prefix: z-,"
                            " require: [/temperature]}\n"
                            "    - {topic: \"zigbee2mqtt/{device}\", profile: z2m-smart-plug, prefix: p-,"
                            " require: [/state]}")
        gw = self.start(config(self.srv.url, body, [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        time.sleep(0.3)
        # A configured device is not discovered again.
        b.pub("zigbee2mqtt/th1", '{"temperature":1}', qos=1)
        b.pub("zigbee2mqtt/kitchen sensor", '{"temperature":19.5,"humidity":55,"battery":80}', qos=1)
        reg = self.srv.wait_event("register", ep="gw-z-kitchen_sensor", timeout=15)
        self.assertIn("</3303/0>", reg.get("links", "") or "</3303/0>")
        # The first message already fed the new device.
        self.assertEqual(self.read_when("gw-z-kitchen_sensor", "/3303/0/5700"), 19.5)
        self.assertEqual(self.value("gw-z-kitchen_sensor", "/3/0/9"), 80)
        b.pub("zigbee2mqtt/kitchen sensor", '{"temperature":20}', qos=1)
        self.assertEqual(self.poll_until("gw-z-kitchen_sensor", "/3303/0/5700", 20.0), 20.0)
        # A plug (other rule); the limit of 2 is then reached.
        b.pub("zigbee2mqtt/plug9", '{"state":"ON","power":5}', qos=1)
        self.srv.wait_event("register", ep="gw-p-plug9", timeout=15)
        for i in range(20):
            b.pub("zigbee2mqtt/flood%d" % i, '{"temperature":%d}' % i)
        gw.wait_log(r"discovery limit of 2 devices reached")
        # Messages without the required keys create nothing either.
        b.pub("zigbee2mqtt/bridge/state", "online")
        b.pub("zigbee2mqtt/other", '{"action":"single"}')
        time.sleep(0.5)
        eps = {r["ep"] for r in self.srv.registrations()}
        self.assertEqual(eps, {"gw", "gw-th1", "gw-z-kitchen_sensor", "gw-p-plug9"})
        self.assertEqual(len([l for l in gw.log if "discovery limit" in l]), 1)  # logged once a minute
        # A reload that keeps the bridge keeps the discovered devices.
        start = gw.reload(config(self.srv.url, body, [("th1", "z2m-th-sensor", "th1")]))
        gw.wait_log(r"Configuration applied", start)
        b.pub("zigbee2mqtt/kitchen sensor", '{"temperature":21}', qos=1)
        self.assertEqual(self.poll_until("gw-z-kitchen_sensor", "/3303/0/5700", 21.0), 21.0)
        self.assertFalse([e for e in self.srv.events("deregister") if e.get("ep") == "gw-z-kitchen_sensor"])
        self.assertEqual(gw.stop(), 0)


class Availability(Base):
    Z2M = ("availability:\n"
           "  - {topic: \"zigbee2mqtt/bridge/state\", json: /state}\n"
           "  - {topic: \"zigbee2mqtt/{device}/availability\", json: /state}\n"
           "discovery:\n  max_devices: 4\n  rules:\n"
           "    - {topic: \"zigbee2mqtt/{device}\", profile: z2m-th-sensor, prefix: z-,"
           " require: [/temperature]}")

    def test_availability_topics(self):
        b = self.broker()
        # Said before the gateway starts, retained: th1 in the plain text of
        # zigbee2mqtt 1.x, th2 (discovered later) in 2.x's JSON.
        b.pub("zigbee2mqtt/th1/availability", "offline", retain=True, qos=1)
        b.pub("zigbee2mqtt/th2/availability", '{"state":"offline"}', retain=True, qos=1)
        gw = self.start(config(self.srv.url, self.body(b, self.Z2M), [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        self.assertEqual(self.poll_until("gw-th1", "/3/0/11/0", 16), 16)
        gw.wait_log(r"Device th1: unreachable: Host is down")
        self.assertRegex(gw.ctl("status").stdout, r"rx=0 .* offline")
        b.pub("zigbee2mqtt/th1/availability", '{"state":"online"}', qos=1)
        self.assertEqual(self.poll_until("gw-th1", "/3/0/11/0", 0), 0)
        # A device discovery creates later starts with what was said of it.
        b.pub("zigbee2mqtt/th2", '{"temperature":19.5}', qos=1)
        self.srv.wait_event("register", ep="gw-z-th2", timeout=15)
        self.assertEqual(self.poll_until("gw-z-th2", "/3/0/11/0", 16), 16)
        self.assertEqual(self.value("gw-z-th2", "/3303/0/5700"), 19.5)  # values still arrive
        b.pub("zigbee2mqtt/th2/availability", "ONLINE", qos=1)  # words compare without case
        self.assertEqual(self.poll_until("gw-z-th2", "/3/0/11/0", 0), 0)
        # zigbee2mqtt itself going away: every device of the bridge.
        b.pub("zigbee2mqtt/bridge/state", '{"state":"offline"}', qos=1)
        self.assertEqual(self.poll_until("gw-th1", "/3/0/11/0", 16), 16)
        self.assertEqual(self.poll_until("gw-z-th2", "/3/0/11/0", 16), 16)
        b.pub("zigbee2mqtt/bridge/state", '{"state":"online"}', qos=1)
        self.assertEqual(self.poll_until("gw-th1", "/3/0/11/0", 0), 0)
        self.assertEqual(self.poll_until("gw-z-th2", "/3/0/11/0", 0), 0)
        # A word that is neither: named with the accepted ones, nothing changes.
        b.pub("zigbee2mqtt/th1/availability", "maybe", qos=1)
        gw.wait_log(r"payload on 'zigbee2mqtt/th1/availability' says neither online \(online, true, 1\) "
                    r"nor offline \(offline, false, 0\): maybe \(ignored\)")
        self.assertEqual(self.value("gw-th1", "/3/0/11/0"), 0)
        # Not a discovery: the availability of an unknown device, the bridge's state.
        eps = {r["ep"] for r in self.srv.registrations()}
        self.assertEqual(eps, {"gw", "gw-th1", "gw-z-th2"})
        self.assertEqual(gw.stop(), 0)

    def test_silent_devices(self):
        b = self.broker()
        extra = ("unreachable_after: 1s\ndiscovery:\n  max_devices: 1\n  forget: 3s\n  rules:\n"
                 "    - {topic: \"zigbee2mqtt/{device}\", profile: z2m-th-sensor, prefix: z-,"
                 " require: [/temperature]}")
        gw = self.start(config(self.srv.url, self.body(b, extra), [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        # Not heard for 1 s: unreachable; a message: reachable again.
        self.assertEqual(self.poll_until("gw-th1", "/3/0/11/0", 16), 16)
        gw.wait_log(r"MQTT bridge broker: th1 not heard for [12] s")
        gw.wait_log(r"Device th1: unreachable: Connection timed out")
        self.assertRegex(gw.ctl("status").stdout, r" silent")
        b.pub("zigbee2mqtt/th1", '{"temperature":20}', qos=1)
        self.assertEqual(self.poll_until("gw-th1", "/3/0/11/0", 0), 0)
        gw.wait_log(r"MQTT bridge broker: th1 is heard again")
        # A discovered device silent for `forget` goes, freeing its slot
        # (max_devices 1): another one can be discovered.
        b.pub("zigbee2mqtt/a", '{"temperature":1}', qos=1)
        self.srv.wait_event("register", ep="gw-z-a", timeout=15)
        t0 = time.monotonic()
        self.srv.wait_event("deregister", ep="gw-z-a", timeout=15)
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)
        gw.wait_log(r"discovered device z-a not heard for [34] s: forgotten")
        b.pub("zigbee2mqtt/b", '{"temperature":2}', qos=1)
        self.srv.wait_event("register", ep="gw-z-b", timeout=15)
        self.assertEqual(self.read_when("gw-z-b", "/3303/0/5700"), 2.0)
        self.assertIsNone(gw.proc.poll())
        # The configured device is never forgotten.
        self.assertFalse([e for e in self.srv.events("deregister") if e.get("ep") == "gw-th1"])
        self.assertEqual(gw.stop(), 0)


class Reconnect(Base):
    def test_resubscribe_after_restart(self):
        # No persistence: the restarted broker knows no subscription, the
        # gateway has to send them again.
        b = self.broker()
        gw = self.start(config(self.srv.url, self.body(b), [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        for rnd in range(2):
            b.stop(sig_kill=True)
            gw.wait_log(r"connection lost", len(gw.log) - 5 if rnd else 0)
            self.assertEqual(self.value("gw-th1", "/3/0/11/0"), 16)
            mark = len(gw.log)
            b.start()
            gw.wait_log(r"MQTT bridge broker: connected", mark)
            deadline = time.monotonic() + 10
            want = 30.0 + rnd
            while True:
                b.pub("zigbee2mqtt/th1", '{"temperature":%s}' % want, qos=1)
                r = self.srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
                if r["code"] == "2.05" and records_by_path(r)["/3303/0/5700"] == want:
                    break
                self.assertLess(time.monotonic(), deadline, "no value after the restart")
                time.sleep(0.1)
            self.assertEqual(self.value("gw-th1", "/3/0/11/0"), 0)
        self.assertEqual(gw.stop(), 0)

    def test_qos1_kept_while_away(self):
        b = self.broker(persistence=True)
        gw = self.start(config(self.srv.url, "host: 127.0.0.1\nport: %d\nreconnect_min: 3s\nreconnect_max: 3s\n"
                               "client_id: fg-persist\n" % b.port, [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        deadline = time.monotonic() + 10
        while True:
            b.pub("zigbee2mqtt/th1", '{"temperature":10}', qos=1)
            r = self.srv.request("read", ep="gw-th1", path="/3303/0/5700", timeout=10)
            if r["code"] == "2.05":
                break
            self.assertLess(time.monotonic(), deadline)
        self.assertEqual(self.observe("gw-th1", "/3303/0/5700"), 10.0)
        # The broker goes down cleanly (its session store is saved), comes
        # back, and gets messages before the gateway is back (it waits 1.5
        # to 3 s): the persistent session queues them at QoS 1.
        b.stop()
        gw.wait_log(r"connection lost")
        mark = len(gw.log)
        b.start()
        for v in (11, 12, 13):
            b.pub("zigbee2mqtt/th1", '{"temperature":%d}' % v, qos=1)
        self.assertFalse([l for l in gw.log[mark:] if "connected to" in l], "reconnected too early")
        gw.wait_log(r"MQTT bridge broker: connected", mark)
        # All three delivered (the client may fold them into one notification
        # of the latest value: an observer sees the current state).
        for v in (11, 12, 13):
            gw.wait_log(r"received PUBLISH \(d0, q1, .*'zigbee2mqtt/th1', \.\.\. \(18 bytes\)\)", mark)
        got = self.srv.wait_event("notify", ep="gw-th1", timeout=20,
                                  where=lambda e: records_by_path(e).get("/3303/0/5700") == 13.0)
        self.assertTrue(got)
        self.assertEqual(self.value("gw-th1", "/3303/0/5700"), 13.0)
        received = [l for l in gw.log[mark:] if "received PUBLISH" in l and "zigbee2mqtt/th1" in l]
        self.assertEqual(len(received), 3, received)
        self.assertEqual(gw.stop(), 0)


class Tls(Base):
    def test_tls_with_test_ca(self):
        ca, cert, key = make_ca(self.dir)
        b = self.broker(tls=(ca, cert, key))
        b.pub("zigbee2mqtt/th1", '{"temperature":5.5}', retain=True)
        # By name (resolved on a thread, the certificate checked against
        # "localhost") and by address (checked against the IP SAN).
        body = "host: localhost\nport: %d\ntls:\n  ca: %s\nreconnect_min: 200ms\n" % (b.port, ca)
        gw = self.start(config(self.srv.url, body, [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected to localhost:%d" % b.port)
        self.assertEqual(Values.read_when(self, "gw-th1", "/3303/0/5700"), 5.5)
        b.pub("zigbee2mqtt/th1", '{"temperature":6.5}', qos=1)
        deadline = time.monotonic() + 10
        while self.value("gw-th1", "/3303/0/5700") != 6.5:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(gw.stop(), 0)
        gw2 = self.start(config(self.srv.url, body.replace("localhost", "127.0.0.1"),
                                [("th1", "z2m-th-sensor", "th1")]))
        gw2.wait_log(r"MQTT bridge broker: connected to 127\.0\.0\.1:%d" % b.port)
        self.assertEqual(gw2.stop(), 0)

    def test_tls_client_certificate_and_password(self):
        ca, cert, key = make_ca(self.dir)
        ccert, ckey = make_client_cert(self.dir)
        b = self.broker(tls=(ca, cert, key), client_certs=True, users={"gw1": "s3cret"})
        body = ("host: localhost\nport: %d\nusername: gw1\npassword: %s\nreconnect_min: 200ms\n"
                "reconnect_max: 400ms\ntls:\n  ca: %s\n" % (b.port, "%s", ca))
        # Without the client certificate, then with a wrong password: refused.
        gw = self.start(config(self.srv.url, body % "s3cret", [("th1", "z2m-th-sensor", "th1")]))
        gw.wait_log(r"MQTT bridge broker: broker localhost:%d: (connection failed|cannot connect)" % b.port)
        self.assertEqual(gw.stop(), 0)
        self.assertFalse([l for l in gw.log if "connected to" in l])
        full = body + "  cert: %s\n  key: %s\n" % (ccert, ckey)
        gw = self.start(config(self.srv.url, full % "wrong", [("th1", "z2m-th-sensor", "th1")]))
        gw.wait_log(r"refused the connection: Not authorized")  # an MQTT 5 reason code
        self.assertEqual(gw.stop(), 0)
        gw = self.start(config(self.srv.url, full % "s3cret", [("th1", "z2m-th-sensor", "th1")]))
        gw.wait_log(r"MQTT bridge broker: connected to localhost:%d" % b.port)
        self.assertEqual(gw.stop(), 0)

    def test_tls_wrong_ca_refused(self):
        ca, cert, key = make_ca(self.dir)
        other = os.path.join(self.dir, "other")
        os.mkdir(other)
        ca2, _, _ = make_ca(other)
        b = self.broker(tls=(ca, cert, key))
        body = "host: 127.0.0.1\nport: %d\ntls:\n  ca: %s\nreconnect_min: 200ms\nreconnect_max: 400ms\n" % (b.port, ca2)
        gw = self.start(config(self.srv.url, body, [("th1", "z2m-th-sensor", "th1")]))
        self.srv.wait_event("register", ep="gw-th1", timeout=15)
        gw.wait_log(r"MQTT bridge broker: broker 127\.0\.0\.1:%d: connection (failed|lost)" % b.port)
        time.sleep(1)
        self.assertFalse([l for l in gw.log if "connected to" in l])
        self.assertEqual(self.value("gw-th1", "/3/0/11/0"), 16)
        self.assertEqual(gw.stop(), 0)


class Check(unittest.TestCase):
    def test_config_and_profile_errors(self):
        d = tempfile.mkdtemp(prefix="fg-mqtt-check-")
        self.addCleanup(shutil.rmtree, d, True)
        prof = os.path.join(d, "bad-mqtt.yaml")
        with open(prof, "w") as f:
            f.write("bridge: mqtt\nobjects:\n  /3303/0:\n"
                    "    5700:\n      source: { topic: \"a/{dev ice}/b\", json: temperature }\n"
                    "    5701:\n      source: { topic: \"a/{device}\", fromat: json }\n"
                    "  /3312/0:\n    5850:\n      source: { topic: \"a/{device}\" }\n      writable: true\n")
        path = os.path.join(d, "c.yaml")
        with open(path, "w") as f:
            f.write("gateway:\n  name: gw\n  profiles_path: %s\nlwm2m:\n  servers:\n    - uri: coap://127.0.0.1\n"
                    "bridges:\n  broker:\n    type: mqtt\n    host: 127.0.0.1\n    prot: 1883\n"
                    "    keepalive: 1s\n    discovery: {max_devices: 0, rules: [{topic: \"x/+\", profile: p}]}\n"
                    "    unreachable_after: 500ms\n"
                    "    availability: [{topic: \"x/{device}\", json: state, online: [up, On], offline: [on]}]\n"
                    "devices:\n  - {name: a, bridge: broker, address: \"x/y\", profile: bad-mqtt}\n"
                    "  - {name: b, bridge: broker, address: [1], profile: z2m-th-sensor}\n" % (d + ":" + PROFILES))
        r = subprocess.run([test_devices.FIELDGATE, "check", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        err = r.stderr
        for want in ["%s:11:5: unknown key 'prot'" % path,
                     "%s:12:16: duration '1s' for 'bridges.broker.keepalive' is out of range" % path,
                     "%s:13:30: value 0 for 'bridges.broker.discovery.max_devices' is out of range" % path,
                     "%s:13:49: mqtt: invalid topic 'x/+'" % path,
                     "%s:14:24: mqtt: unreachable_after must be 0 (never) or at least 1s" % path,
                     "%s:15:48: mqtt: 'state' is not a JSON pointer" % path,
                     "%s:15:82: mqtt: availability word 'on' is both online and offline" % path,
                     "%s:17:40: mqtt: 'x/y' cannot be a topic level" % path,
                     "%s:18:40: mqtt: the address is the topic's {device} value" % path,
                     "%s:5:24: mqtt: invalid topic 'a/{dev ice}/b'" % prof,
                     "invalid JSON pointer 'temperature'",
                     "%s:7:38: unknown key 'fromat'" % prof,
                     "did you mean 'format'",
                     "is writable but has no 'write: {topic: ...}'"]:
            self.assertIn(want, err)


if __name__ == "__main__":
    # test_devices.main() sets its FIELDGATE and runs this module's tests.
    sys.exit(test_devices.main())
