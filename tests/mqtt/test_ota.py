#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Object 5 of a zigbee2mqtt device (`firmware: zigbee2mqtt`) end to end:
the real `fieldgate` (endpoint mode), a real mosquitto on a random loopback
port, fg-lwm2m-server, and a simulated zigbee2mqtt on the broker that
answers bridge/request/device/ota_update/check and .../update as
zigbee2mqtt's lib/extension/otaUpdate.ts does: the device's state message
with "update" first, then the response on bridge/response/... with data,
status, error and the request's transaction echoed; progress state
messages (0, 50, 100 %) during an update.

- check, update available: /5/0/3 2 (Downloaded); Execute /5/0/2: 3, the
  progress, then /5/0/5 1, /5/0/3 0 and /5/0/7 the new build, each
  notified to an observer;
- check, nothing available: Idle, Result 0;
- an update failing (status "error"): Result 8, its error logged with the
  device; a check zigbee2mqtt never answers: Result 4 after ota_timeout;
- Update in Idle, Cancel in Updating: 4.05; an empty Package URI resets;
  a URI that is not zigbee2mqtt's: Result 9; Package push: 4.05;
- a device whose profile has no `firmware:` has no /5 (4.04);
- generated profiles: with discovery.zigbee2mqtt.firmware a device whose
  definition says supports_ota gets Object 5, one that does not has none.

Both northbound modes: endpoint (each case) and gateway (check and update
through /plug1/5/0/... of the Object 25 tree).

Usage: test_ota.py PATH/TO/fieldgate
"""
import json
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_mqtt  # noqa: E402  (sets up the paths, fieldgate's location)
from fglwm2m import records_by_path  # noqa: E402

REQ = "zigbee2mqtt/bridge/request/device/ota_update/+"


class Z2M:
    """zigbee2mqtt's OTA extension, as far as the requests go: check says
    `check` ("available", "none", "error", "silent"), update `update` ("ok",
    "error"). Requests are kept in self.requests (kind, payload)."""

    def __init__(self, broker, check="available", update="ok"):
        self.b = broker
        self.check, self.update = check, update
        self.requests = []
        self.sub = broker.sub(REQ)
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sub.stop()

    def _run(self):
        seen = 0
        while not self.done:
            with self.sub.cond:
                msgs = self.sub.messages()
                if len(msgs) <= seen:
                    self.sub.cond.wait(0.1)
                    continue
            for line in msgs[seen:]:
                topic, payload = line.split(" ", 1)
                self._request(topic.rsplit("/", 1)[1], json.loads(payload))
            seen = len(msgs)

    def state(self, name, update):
        self.b.pub("zigbee2mqtt/" + name, json.dumps({"state": "ON", "power": 5.0, "update": update}), qos=1)

    def respond(self, kind, req, data, error=None):
        msg = {"data": data, "status": "error" if error else "ok"}
        if error:
            msg["error"] = error
        if "transaction" in req:
            msg["transaction"] = req["transaction"]
        self.b.pub("zigbee2mqtt/bridge/response/device/ota_update/" + kind, json.dumps(msg), qos=1)

    def _request(self, kind, req):
        self.requests.append((kind, req))
        name = req["id"]
        if kind == "check":
            if self.check == "silent":
                return
            if self.check == "error":
                self.respond(kind, req, {"id": name},
                             error="Failed to check if update available for '%s' (no response)" % name)
                return
            avail = self.check == "available"
            self.state(name, {"state": "available" if avail else "idle", "installed_version": 1,
                              "latest_version": 2 if avail else 1})
            self.respond(kind, req, {"id": name, "update_available": avail})
            return
        for p in (0, 50, 100):
            self.state(name, {"state": "updating", "progress": p, "remaining": 100 - p,
                              "installed_version": 1, "latest_version": 2})
        if self.update == "error":
            self.state(name, {"state": "available", "installed_version": 1, "latest_version": 2})
            self.respond(kind, req, {"id": name},
                         error="Update of '%s' failed (Device didn't respond to OTA request)" % name)
            return
        self.state(name, {"state": "idle", "installed_version": 2, "latest_version": 2})
        self.respond(kind, req, {"id": name, "from": {"software_build_id": "1.0.1", "date_code": "20230101"},
                                 "to": {"software_build_id": "2.1.0", "date_code": "20240601"}})


class Ota(test_mqtt.Base):
    EP = "gw-plug1"

    def gateway(self, z2m_check="available", z2m_update="ok", timeout="3s"):
        b = self.broker()
        self.z2m = Z2M(b, z2m_check, z2m_update)
        self.addCleanup(self.z2m.close)
        gw = self.start(test_mqtt.config(self.srv.url, self.body(b, "ota_timeout: %s\n" % timeout), [
            ("plug1", "z2m-smart-plug-ota", "plug1"), ("plug2", "z2m-smart-plug", "plug2")]))
        self.srv.wait_event("register", ep=self.EP, timeout=15)
        self.srv.wait_event("register", ep="gw-plug2", timeout=15)
        gw.wait_log(r"MQTT bridge broker: connected")
        return b, gw

    def fw(self):
        r = self.srv.request("read", ep=self.EP, path="/5/0", timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        return records_by_path(r)

    def until(self, path, want, timeout=10):
        self.assertEqual(self.poll_until(self.EP, path, want, timeout), want)

    def notified(self, path):
        return [records_by_path(e)[path] for e in self.srv.events("notify")
                if e.get("ep") == self.EP and path in records_by_path(e)]

    def write_uri(self, uri):
        r = self.srv.request("write", ep=self.EP, path="/5/0/1", value=uri, type="string", timeout=10)
        self.assertEqual(r["code"], "2.04", r)

    def test_check_update_progress_success(self):
        b, gw = self.gateway()
        v = self.fw()
        self.assertEqual((v["/5/0/3"], v["/5/0/5"], v["/5/0/9"], v["/5/0/1"]), (0, 0, 0, ""))
        self.assertEqual(self.observe(self.EP, "/5/0/3"), 0)
        self.assertEqual(self.observe(self.EP, "/5/0/5"), 0)
        r = self.srv.request("observe", ep=self.EP, path="/5/0/7", timeout=10)
        self.assertEqual(r["code"], "2.05", r)  # "" in text/plain: no record
        self.write_uri("zigbee2mqtt:ota")
        self.until("/5/0/3", 2)
        self.assertEqual(self.value(self.EP, "/5/0/1"), "zigbee2mqtt:ota")
        kind, req = self.z2m.requests[0]
        self.assertEqual(kind, "check")
        self.assertEqual(req["id"], "plug1")
        self.assertTrue(req["transaction"].startswith("fieldgate-plug1-"), req)
        # Downloading while zigbee2mqtt checked, then Downloaded: both notified.
        self.srv.wait_event("notify", ep=self.EP, where=lambda e: records_by_path(e).get("/5/0/3") == 2)
        self.assertEqual(self.notified("/5/0/3")[-2:], [1, 2])

        r = self.srv.request("execute", ep=self.EP, path="/5/0/2", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.until("/5/0/5", 1)
        v = self.fw()
        self.assertEqual((v["/5/0/3"], v["/5/0/5"], v["/5/0/7"]), (0, 1, "2.1.0"))
        self.assertEqual([k for k, _ in self.z2m.requests], ["check", "update"])
        self.srv.wait_event("notify", ep=self.EP, where=lambda e: records_by_path(e).get("/5/0/5") == 1)
        self.srv.wait_event("notify", ep=self.EP, where=lambda e: records_by_path(e).get("/5/0/7") == "2.1.0")
        self.assertEqual(self.notified("/5/0/3")[-3:], [2, 3, 0])
        for p in ("0.0", "50.0", "100.0"):
            gw.wait_log(r"plug1: firmware update at %s %%" % p.replace(".", r"\."))
        gw.wait_log(r"plug1: firmware of 'plug1' updated to 2\.1\.0")
        # Update again in Idle: the specification's Method Not Allowed.
        r = self.srv.request("execute", ep=self.EP, path="/5/0/2", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        self.assertEqual(len(self.z2m.requests), 2)
        self.assertEqual(gw.stop(), 0)

    def test_no_update_available(self):
        b, gw = self.gateway(z2m_check="none")
        self.write_uri("zigbee2mqtt:ota")
        gw.wait_log(r"no firmware update for 'plug1' in zigbee2mqtt's OTA index")
        v = self.fw()
        self.assertEqual((v["/5/0/3"], v["/5/0/5"]), (0, 0))
        r = self.srv.request("execute", ep=self.EP, path="/5/0/2", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        self.assertEqual([k for k, _ in self.z2m.requests], ["check"])
        self.assertEqual(gw.stop(), 0)

    def test_update_fails(self):
        b, gw = self.gateway(z2m_update="error")
        self.write_uri("zigbee2mqtt:ota")
        self.until("/5/0/3", 2)
        self.assertEqual(self.observe(self.EP, "/5/0/5"), 0)
        r = self.srv.request("execute", ep=self.EP, path="/5/0/2", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.srv.wait_event("notify", ep=self.EP, where=lambda e: records_by_path(e).get("/5/0/5") == 8)
        # zigbee2mqtt still offers the image: Downloaded again, the new
        # version not claimed.
        v = self.fw()
        self.assertEqual((v["/5/0/3"], v["/5/0/5"], v["/5/0/7"]), (2, 8, ""))
        line = gw.wait_log(r"firmware update of 'plug1' failed: Update of 'plug1' failed "
                           r"\(Device didn't respond to OTA request\)")
        self.assertIn("plug1", line)
        self.assertEqual(gw.stop(), 0)

    def test_check_error_and_silence(self):
        b, gw = self.gateway(z2m_check="error")
        self.write_uri("zigbee2mqtt:ota")
        self.until("/5/0/5", 8)
        self.assertEqual(self.value(self.EP, "/5/0/3"), 0)
        gw.wait_log(r"cannot check the firmware of 'plug1': Failed to check if update available")
        # zigbee2mqtt no longer answers: Result 4 after ota_timeout (3 s).
        self.z2m.check = "silent"
        t0 = time.monotonic()
        self.write_uri("zigbee2mqtt:ota")
        self.assertEqual(self.value(self.EP, "/5/0/3"), 1)
        self.assertEqual(self.value(self.EP, "/5/0/5"), 0)
        self.until("/5/0/5", 4, timeout=15)
        self.assertGreaterEqual(time.monotonic() - t0, 2.5)
        self.assertEqual(self.value(self.EP, "/5/0/3"), 0)
        gw.wait_log(r"zigbee2mqtt said nothing of the firmware check of 'plug1' for 3 s: Update Result 4")
        self.assertEqual(gw.stop(), 0)

    def test_refusals_cancel_and_reset(self):
        b, gw = self.gateway(z2m_check="available", timeout="60s")
        # No push: the image comes from zigbee2mqtt's OTA index.
        r = self.srv.request("write", ep=self.EP, path="/5/0/0", value="AAEC", type="opaque", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        # Cancel with nothing to cancel; a URI that is not zigbee2mqtt's.
        r = self.srv.request("execute", ep=self.EP, path="/5/0/10", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        self.write_uri("https://example.org/fw.bin")
        v = self.fw()
        self.assertEqual((v["/5/0/3"], v["/5/0/5"]), (0, 9))
        self.assertEqual(self.z2m.requests, [])
        # Downloaded, then Cancel: Idle, Result 10.
        self.write_uri("zigbee2mqtt:ota")
        self.until("/5/0/3", 2)
        r = self.srv.request("execute", ep=self.EP, path="/5/0/10", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        v = self.fw()
        self.assertEqual((v["/5/0/3"], v["/5/0/5"]), (0, 10))
        # zigbee2mqtt says in the state message that an image is there:
        # Downloaded (the server sees an update can be started).
        self.z2m.state("plug1", {"state": "available", "installed_version": 1, "latest_version": 2})
        self.until("/5/0/3", 2)
        # An empty URI resets to Idle, Result 0 (the specification).
        self.write_uri("")
        v = self.fw()
        self.assertEqual((v["/5/0/3"], v["/5/0/5"]), (0, 0))
        # An update zigbee2mqtt runs (started elsewhere): Updating, and
        # then neither Cancel nor an empty URI (zigbee2mqtt cannot abort).
        self.z2m.state("plug1", {"state": "updating", "progress": 10, "installed_version": 1,
                                 "latest_version": 2})
        self.until("/5/0/3", 3)
        r = self.srv.request("execute", ep=self.EP, path="/5/0/10", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        r = self.srv.request("write", ep=self.EP, path="/5/0/1", value="", type="string", timeout=10)
        self.assertEqual(r["code"], "4.05", r)
        self.assertEqual(self.value(self.EP, "/5/0/3"), 3)
        st = gw.ctl("status")
        self.assertRegex(st.stdout, r"firmware=updating")
        # A device without `firmware:` has no Object 5.
        r = self.srv.request("read", ep="gw-plug2", path="/5/0/3", timeout=10)
        self.assertEqual(r["code"], "4.04", r)
        self.assertEqual(gw.stop(), 0)



class OtaGatewayMode(test_mqtt.Base):
    """The same state machine behind the gateway's Object 25 tree: the
    bridge side does not know the mode."""

    def test_check_and_update(self):
        b = self.broker()
        z2m = Z2M(b)
        self.addCleanup(z2m.close)
        text = test_mqtt.config(self.srv.url, self.body(b, "ota_timeout: 3s\n"),
                                [("plug1", "z2m-smart-plug-ota", "plug1"), ("plug2", "z2m-smart-plug", "plug2")])
        self.assertIn("lwm2m:\n", text)
        gw = self.start(text.replace("lwm2m:\n", "lwm2m:\n  mode: gateway\n", 1))
        self.srv.wait_event("register", ep="gw", timeout=15)
        self.wait_prefixes("gw", ["plug1", "plug2"])
        gw.wait_log(r"MQTT bridge broker: connected")
        self.assertEqual(self.read_when("gw", "/plug1/5/0/3"), 0)
        self.assertEqual(self.observe("gw", "/plug1/5/0/3"), 0)
        r = self.srv.request("write", ep="gw", path="/plug1/5/0/1", value="zigbee2mqtt:ota", type="string",
                             timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.srv.wait_event("notify", ep="gw", where=lambda e: records_by_path(e).get("/plug1/5/0/3") == 2)
        r = self.srv.request("execute", ep="gw", path="/plug1/5/0/2", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.srv.wait_event("notify", ep="gw", where=lambda e: records_by_path(e).get("/plug1/5/0/3") == 0)
        self.assertEqual(self.poll_until("gw", "/plug1/5/0/5", 1), 1)
        self.assertEqual(self.value("gw", "/plug1/5/0/7"), "2.1.0")
        self.assertEqual([k for k, _ in z2m.requests], ["check", "update"])
        r = self.srv.request("read", ep="gw", path="/plug2/5/0/3", timeout=10)
        self.assertEqual(r["code"], "4.04", r)
        self.assertEqual(gw.stop(), 0)



class OtaGenerated(test_mqtt.Base):
    """Profiles generated from zigbee2mqtt's bridge/devices: with
    `discovery.zigbee2mqtt.firmware: true` a device whose definition says
    supports_ota gets Object 5; the others do not."""

    def test_supports_ota(self):
        with open(os.path.join(test_mqtt.SOURCE, "tests", "data", "mqtt", "z2m", "bridge-devices.json"),
                  encoding="utf-8") as f:
            devices = json.load(f)
        ieee = {d["friendly_name"]: d["ieee_address"] for d in devices}
        for d in devices:
            if d["friendly_name"] == "tv-plug":
                d["definition"]["supports_ota"] = True
        b = self.broker()
        z2m = Z2M(b)
        self.addCleanup(z2m.close)
        b.pub("zigbee2mqtt/bridge/devices", json.dumps(devices), retain=True)
        gw = self.start(test_mqtt.config(self.srv.url, self.body(
            b, "ota_timeout: 3s\ndiscovery:\n  max_devices: 16\n  zigbee2mqtt: {firmware: true}\n"), []))
        tv, desk = "gw-" + ieee["tv-plug"], "gw-" + ieee["desk-plug"]
        self.srv.wait_event("register", ep=tv, timeout=15)
        self.srv.wait_event("register", ep=desk, timeout=15)
        self.assertEqual(self.read_when(tv, "/5/0/3"), 0)
        r = self.srv.request("write", ep=tv, path="/5/0/1", value="zigbee2mqtt:ota", type="string", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(self.poll_until(tv, "/5/0/3", 2), 2)
        self.assertEqual(z2m.requests[0][1]["id"], "tv-plug")
        r = self.srv.request("execute", ep=tv, path="/5/0/2", timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        self.assertEqual(self.poll_until(tv, "/5/0/5", 1), 1)
        # zigbee2mqtt republishes bridge/devices with the new build (as
        # otaUpdate.ts's emitDevicesChanged does): a new generated profile,
        # the device registers again, /3/0/3 says the new build and the
        # result of the update it just had survives the rebuild.
        n = len([e for e in self.srv.events("register") if e.get("ep") == tv])
        for d in devices:
            if d["friendly_name"] == "tv-plug":
                d["software_build_id"] = "2.1.0"
        b.pub("zigbee2mqtt/bridge/devices", json.dumps(devices), qos=1, retain=True)
        deadline = time.monotonic() + 15
        while len([e for e in self.srv.events("register") if e.get("ep") == tv]) == n:
            self.assertLess(time.monotonic(), deadline, "tv-plug did not register again")
            time.sleep(0.05)
        self.assertEqual(self.poll_until(tv, "/3/0/3", "2.1.0"), "2.1.0")
        v = records_by_path(self.srv.request("read", ep=tv, path="/5/0", timeout=10))
        self.assertEqual((v["/5/0/3"], v["/5/0/5"], v["/5/0/7"]), (0, 1, "2.1.0"))
        r = self.srv.request("read", ep=desk, path="/5/0/3", timeout=10)
        self.assertEqual(r["code"], "4.04", r)
        self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    sys.exit(test_mqtt.test_devices.main())
