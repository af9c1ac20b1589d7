#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What an operator reads from a running gateway, end to end: `fieldgate
run` with an MQTT bridge (a real mosquitto) and a constants device against
fg-lwm2m-server.

- `status --json` is validated against docs/status.schema.json (python3-
  jsonschema) and its values checked;
- `fieldgate metrics` is parsed as OpenMetrics and metrics.textfile as the
  Prometheus text format (python3-prometheus-client's own parsers, strict),
  and their numbers compared with the JSON's;
- `status --names`;
- `status -c`: the socket the configuration names, or a plain error when
  it cannot be read (never a silent fall back to the default socket).

Usage: test_operate.py PATH/TO/fieldgate
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import unittest_main

import jsonschema
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "mqtt"))
sys.path.insert(0, HERE)
import test_devices  # noqa: E402
from mqttpeer import Broker  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402

FIELDGATE = None
SCHEMA = os.path.join(SOURCE, "docs", "status.schema.json")
PASSWORD = "pw-Zq81-never-shown"


def fg(*args, env=None):
    return subprocess.run([FIELDGATE, *args], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **(env or {})))


def families(text, openmetrics):
    parse = parse_openmetrics if openmetrics else parse_prometheus
    return {f.name: f for f in parse(text)}


def sample_value(fams, family, name, **labels):
    for s in fams[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError("no sample %s%r in %s" % (name, labels, [s for s in fams[family].samples]))


def wait_for(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class Reports(test_devices.Base):
    def setUp(self):
        super().setUp()
        if "mqtt" not in fg("--version").stdout:
            self.skipTest("the MQTT bridge is not built")
        self.dir = tempfile.mkdtemp(prefix="fg-operate-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.broker = Broker(self.dir, users={"gw": PASSWORD, "test": "test"}).start()
        self.broker.auth = ("test", "test")
        self.addCleanup(self.broker.close)
        self.textfile = os.path.join(self.dir, "metrics", "fieldgate.prom")
        os.mkdir(os.path.dirname(self.textfile))
        pwfile = os.path.join(self.dir, "mqtt-password")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(PASSWORD + "\n")
        body = ("host: 127.0.0.1\nport: %d\nusername: gw\npassword_file: %s\nreconnect_min: 200ms\n"
                % (self.broker.port, pwfile))
        text = test_devices.bridge_config(self.srv.url, "broker", "mqtt", body, [
            {"name": "th1", "profile": "z2m-th-sensor", "address": "th1"},
            {"name": "th2", "profile": "z2m-th-sensor", "address": "th2"}])
        text = text.replace("devices:\n", "metrics:\n  textfile: %s\n  interval: 1s\ndevices:\n"
                            "  - name: const1\n    profile: demo-sensor\n" % self.textfile)
        self.gw = self.start(text)
        for ep in ("gw", "gw-th1", "gw-th2", "gw-const1"):
            self.srv.wait_event("register", ep=ep, timeout=15)
        self.gw.wait_log(r"MQTT bridge broker: connected")

    def status_json(self):
        r = self.gw.ctl("status", "--json")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        doc = json.loads(r.stdout)
        with open(SCHEMA) as f:
            jsonschema.Draft202012Validator(json.load(f)).validate(doc)
        return doc

    def publish_until_counted(self, n):
        """Publish to th1 until its bridge counted n messages (the first ones
        may come before the subscription is in place)."""
        def counted():
            d = next(d for d in self.status_json()["devices"] if d["name"] == "th1")
            return d["bridge_counters"]["messages"] >= n and d
        deadline = time.monotonic() + 15
        while True:
            self.broker.pub("zigbee2mqtt/th1", '{"temperature":21.5,"humidity":40,"battery":90}', qos=1)
            d = wait_for(lambda: counted() or time.monotonic() > deadline, "th1's messages", 2)
            if d is not True:
                return d
            self.assertLess(time.monotonic(), deadline)

    def test_json_names_metrics(self):
        th1 = self.publish_until_counted(1)
        self.broker.pub("zigbee2mqtt/th1", "not json", qos=1)
        th1 = wait_for(lambda: [d for d in self.status_json()["devices"]
                                if d["name"] == "th1" and d["bridge_counters"]["bad_messages"] == 1],
                       "the bad message counted")[0]
        self.assertEqual(fg("-c", self.gw.path, "sample", "const1", "/3303/0/5700", "warm").returncode, 1)

        doc = self.status_json()
        self.assertEqual((doc["format"], doc["format_version"]), ("fieldgate-status", 1))
        self.assertEqual(doc["version"], test_devices.VERSION)
        self.assertEqual(doc["gateway"], {"name": "gw", "mode": "endpoint", "state": "registered",
                                          "registration_failures": 0})
        self.assertEqual(doc["servers"], [{"role": "server", "host": "127.0.0.1", "resolved": True,
                                           "lookup_error": None}])
        self.assertEqual(doc["totals"], {"devices": 3, "registered": 3, "reachable": 3})
        self.assertEqual(doc["lwm2m"]["endpoints"], 4)
        self.assertEqual(doc["lwm2m"]["registered"], 4)
        self.assertGreaterEqual(doc["lwm2m"]["registers"], 4)
        devs = {d["name"]: d for d in doc["devices"]}
        self.assertEqual([d["name"] for d in doc["devices"]], ["const1", "th1", "th2"])
        th1, th2, const1 = devs["th1"], devs["th2"], devs["const1"]
        msgs = th1["bridge_counters"]["messages"]
        # Each good message gives 3 values (temperature, humidity,
        # battery; no voltage): samples = 3 per good message.
        self.assertEqual(th1["samples"], 3 * (msgs - 1))
        self.assertEqual(th1["bridge_counters"], {"messages": msgs, "bad_messages": 1, "value_errors": 0,
                                                  "missing_values": msgs - 1, "commands": 0,
                                                  "command_timeouts": 0})
        self.assertEqual({k: th1[k] for k in ("endpoint", "profile", "bridge", "bridge_type", "state",
                                              "discovered", "reachable", "unreachable_reason",
                                              "decode_errors", "unreachable", "registration_failures")},
                         {"endpoint": "gw-th1", "profile": "z2m-th-sensor", "bridge": "broker",
                          "bridge_type": "mqtt", "state": "registered", "discovered": False,
                          "reachable": True, "unreachable_reason": None, "decode_errors": 0,
                          "unreachable": 0, "registration_failures": 0})
        self.assertLess(abs(th1["last_sample"] - doc["time"] + th1["last_sample_age"]), 0.01)
        self.assertLess(th1["last_sample_age"], 15)
        self.assertTrue(th1["bridge_status"].startswith("rx=%d bad=1 value_err=0 " % msgs), th1)
        self.assertEqual((th2["samples"], th2["last_sample"], th2["last_sample_age"]), (0, None, None))
        self.assertEqual((const1["bridge"], const1["bridge_type"], const1["bridge_counters"],
                          const1["bridge_status"], const1["decode_errors"]), (None, None, {}, None, 1))
        # Unreachable, with the reason.
        self.assertEqual(fg("-c", self.gw.path, "presence", "const1", "110").stdout, "ok\n")
        const1 = self.status_json()["devices"][0]
        self.assertEqual((const1["reachable"], const1["unreachable_reason"], const1["unreachable"]),
                         (False, "Connection timed out", 1))

        # The names, for scripts and the shell completion.
        r = self.gw.ctl("status", "--names")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "const1\nth1\nth2\n", ""))

        # OpenMetrics, parsed (the parser refuses anything out of the format:
        # a missing # EOF, a counter without _total, a family split up...).
        r = fg("-c", self.gw.path, "metrics")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertTrue(r.stdout.endswith("# EOF\n"))
        om = families(r.stdout, True)
        doc = self.status_json()
        devs = {d["name"]: d for d in doc["devices"]}
        self.assertEqual(om["fieldgate_info"].samples[0].labels,
                         {"version": test_devices.VERSION, "gateway": "gw", "mode": "endpoint"})
        self.assertEqual(sample_value(om, "fieldgate_devices", "fieldgate_devices"), 3)
        self.assertEqual(sample_value(om, "fieldgate_devices_registered", "fieldgate_devices_registered"), 3)
        self.assertEqual(sample_value(om, "fieldgate_gateway_registered", "fieldgate_gateway_registered"), 1)
        self.assertEqual(om["fieldgate_device_samples"].type, "counter")
        for name, d in devs.items():
            labels = {"device": name}
            self.assertEqual(sample_value(om, "fieldgate_device_samples", "fieldgate_device_samples_total",
                                          **labels), d["samples"])
            self.assertEqual(sample_value(om, "fieldgate_device_decode_errors",
                                          "fieldgate_device_decode_errors_total", **labels), d["decode_errors"])
            self.assertEqual(sample_value(om, "fieldgate_device_reachable", "fieldgate_device_reachable",
                                          **labels), int(d["reachable"]))
            self.assertEqual(sample_value(om, "fieldgate_device_registered", "fieldgate_device_registered",
                                          **labels), 1)
        # Last seen: only for devices that sent something.
        seen = {s.labels["device"]: s.value for s in om["fieldgate_device_last_seen_seconds"].samples}
        self.assertEqual(set(seen), {"th1"})
        self.assertLess(abs(seen["th1"] - devs["th1"]["last_sample"]), 0.002)
        # The bridge's own counters, labelled with bridge and device.
        self.assertEqual(sample_value(om, "fieldgate_mqtt_messages", "fieldgate_mqtt_messages_total",
                                      device="th1", bridge="broker"), devs["th1"]["bridge_counters"]["messages"])
        self.assertEqual(sample_value(om, "fieldgate_mqtt_bad_messages", "fieldgate_mqtt_bad_messages_total",
                                      device="th1"), 1)
        self.assertEqual(sample_value(om, "fieldgate_bridge_devices", "fieldgate_bridge_devices",
                                      bridge="broker", type="mqtt"), 2)
        self.assertEqual(sample_value(om, "fieldgate_bridge_samples", "fieldgate_bridge_samples_total",
                                      bridge="broker"), devs["th1"]["samples"])
        self.assertGreaterEqual(sample_value(om, "fieldgate_lwm2m_registers", "fieldgate_lwm2m_registers_total"),
                                4)

        # The textfile, in the dialect node_exporter reads, rewritten every
        # interval: a new sample shows up in it.
        self.assertEqual(os.stat(self.textfile).st_mode & 0o777, 0o644)
        before = devs["th2"]["samples"]
        self.broker.pub("zigbee2mqtt/th2", '{"temperature":19}', qos=1)

        def th2_in_file():
            with open(self.textfile) as f:
                text = f.read()
            fams = families(text, False)
            return sample_value(fams, "fieldgate_device_samples", "fieldgate_device_samples_total",
                                device="th2") > before and (text, fams)
        text, prom = wait_for(th2_in_file, "th2's sample in the textfile")
        # node_exporter's parser (Go's expfmt) wants the counter's TYPE
        # line to name the sample, and no "# EOF".
        self.assertNotIn("# EOF", text)
        self.assertIn("\n# TYPE fieldgate_device_samples_total counter\n", text)
        self.assertEqual(prom["fieldgate_device_samples"].type, "counter")
        self.assertEqual(sample_value(prom, "fieldgate_mqtt_messages", "fieldgate_mqtt_messages_total",
                                      device="th2"), 1)
        # No temporary files left beside it.
        self.assertEqual(os.listdir(os.path.dirname(self.textfile)), ["fieldgate.prom"])

        # Never a secret: not in status, metrics, the log.
        everything = (self.gw.ctl("status").stdout + self.gw.ctl("status", "--json").stdout +
                      fg("-c", self.gw.path, "metrics").stdout + text + "\n".join(self.gw.log))
        self.assertNotIn(PASSWORD, everything)

        # Stopped, the gateway leaves no metrics behind to be read as current.
        self.gw.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.gw.proc.wait(timeout=20), 0)
        self.assertFalse(os.path.exists(self.textfile))

    def test_notifications_per_device(self):
        # Issue 18: per device, the notifications sent to the server. th1 is
        # observed and changes twice; th2 is not observed.
        self.publish_until_counted(1)
        obs = self.srv.request("observe", ep="gw-th1", path="/3303/0/5700", timeout=10)
        self.assertEqual(obs["code"], "2.05", obs)

        def count(dev):
            om = families(fg("-c", self.gw.path, "metrics").stdout, True)
            return sample_value(om, "fieldgate_device_notifications",
                                "fieldgate_device_notifications_total", device=dev)
        self.assertEqual(count("th1"), 0)  # the Observe's answer is no notification
        for v in (30.5, 31.5):
            self.broker.pub("zigbee2mqtt/th1", '{"temperature":%s,"humidity":40,"battery":90}' % v, qos=1)
            wait_for(lambda: [e for e in self.srv.events("notify") if e["ep"] == "gw-th1"
                              and records_by_path(e).get("/3303/0/5700") == v], "the notification of %s" % v)
        sent = len([e for e in self.srv.events("notify") if e["ep"] == "gw-th1"])
        self.assertEqual(sent, 2)
        self.assertEqual(count("th1"), sent)
        self.assertEqual(count("th2"), 0)
        self.assertEqual(count("const1"), 0)


def write_secret(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Secrets(unittest.TestCase):
    """Secrets out of the main file: <key>_file and <key>_credential."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fg-secrets-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.creds = os.path.join(self.tmp, "credentials")
        os.mkdir(self.creds, 0o700)

    def config(self, server_key, device_key="", uri="coaps://127.0.0.1:5684", sock=None):
        text = test_devices.config(uri, sock or os.path.join(self.tmp, "fg.sock"), [{"name": "pump"}])
        text = text.replace("    - uri: %s\n" % uri, "    - uri: %s\n      security: psk\n      psk_identity: "
                            "gw-id\n      %s\n" % (uri, server_key))
        if device_key:
            text = text.replace("  - name: pump\n    profile: demo-sensor\n",
                                "  - name: pump\n    profile: demo-sensor\n    psk_identity: pump-id\n"
                                "    %s\n" % device_key)
        path = os.path.join(self.tmp, "fieldgate.yaml")
        write_secret(path, text, 0o644)  # no secret in it: others may read it
        return path

    def check(self, path, creds=True):
        env = {"CREDENTIALS_DIRECTORY": self.creds} if creds else {"CREDENTIALS_DIRECTORY": ""}
        return fg("check", "-c", path, env=env)

    def line_of(self, path, needle):
        with open(path) as f:
            for i, line in enumerate(f, 1):
                if needle in line:
                    return i, line.index(needle.split(":")[0]) + 1, line.index(": ") + 3
        raise AssertionError(needle)

    def test_registers_with_secrets_from_a_file_and_a_credential(self):
        # A real DTLS PSK server: the keys arrive, from the credential
        # (the gateway's account) and from a file (the pump's own).
        write_secret(os.path.join(self.creds, "lwm2m-psk"), b"gateway-key".hex() + "\n")
        pump = write_secret(os.path.join(self.tmp, "pump.psk"), b"pump-key".hex(), 0o600)
        srv = test_devices.Server(psk=[("gw-id", b"gateway-key"), ("pump-id", b"pump-key")],
                                  stderr=subprocess.DEVNULL).start()
        self.addCleanup(srv.stop)
        path = self.config("psk_key_credential: lwm2m-psk", "psk_key_file: " + pump, srv.dtls_url)
        r = self.check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        os.environ["CREDENTIALS_DIRECTORY"] = self.creds
        try:
            with open(path) as f:
                gw = test_devices.Gateway(f.read())
        finally:
            del os.environ["CREDENTIALS_DIRECTORY"]
        self.addCleanup(gw.stop)
        ids = {ep: srv.wait_event("register", ep=ep, timeout=20).get("identity") for ep in ("gw", "gw-pump")}
        self.assertEqual(ids, {"gw": "gw-id", "gw-pump": "pump-id"})
        # Never in the log, even at debug level, nor in status, nor in the
        # LwM2M objects (the Security object is refused to the server).
        self.assertEqual(srv.request("read", ep="gw-pump", path="/0/0", timeout=10)["code"], "4.01")
        self.assertEqual(srv.request("read", ep="gw", path="/0", timeout=10)["code"], "4.01")
        st = gw.ctl("status", "--json").stdout + gw.ctl("status").stdout
        for key in (b"gateway-key".hex(), b"pump-key".hex()):
            self.assertNotIn(key, "\n".join(gw.log) + st)

    def test_loose_or_wrong_files_are_refused(self):
        key = b"k".hex()
        cases = [
            # (file name, content, mode, expected message after "psk_key_file: ")
            ("others.psk", key, 0o644, "'{f}' is readable by others (mode 0644, owner uid 0): chmod 600 {f} "
                                       "(or 640 owned by root with the service's group: chown root:fieldgate {f})"),
            ("pem.key", "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----\n", 0o600,
             "'{f}' holds more than one line: a key or a password is one line"),
            ("empty.psk", "\n", 0o600, "'{f}' is empty"),
            ("big.psk", "a" * 5000, 0o600, "'{f}' is larger than 4096 bytes: not a key or a password"),
            ("missing.psk", None, 0, "cannot read '{f}': No such file or directory"),
        ]
        for name, content, mode, message in cases:
            f = os.path.join(self.tmp, name)
            if content is not None:
                write_secret(f, content, mode)
            path = self.config("psk_key_file: " + f)
            r = self.check(path)
            line, kcol, vcol = self.line_of(path, "psk_key_file: ")
            self.assertEqual(r.returncode, 1, name)
            self.assertEqual(r.stderr.splitlines()[0], "%s:%d:%d: psk_key_file: %s" % (
                path, line, vcol, message.format(f=f)), name)
            self.assertEqual(r.stderr.splitlines()[-1], "%s: 1 error, 0 warnings" % path, r.stderr)
        # Group-readable: only a file of root's (root:fieldgate 0640).
        f = write_secret(os.path.join(self.tmp, "group.psk"), key, 0o640)
        self.assertEqual(self.check(self.config("psk_key_file: " + f)).returncode, 0)
        os.chown(f, 1, -1)
        r = self.check(self.config("psk_key_file: " + f))
        self.assertIn("psk_key_file: '%s' is readable by its group (mode 0640, owner uid 1)" % f, r.stderr)
        # The content is checked as the key would be, where it is, never quoted.
        bad = write_secret(os.path.join(self.tmp, "bad.psk"), "secret-not-hex")
        r = self.check(self.config("psk_key_file: " + bad))
        self.assertEqual(r.stderr, "%s:1:1: invalid key for 'lwm2m.servers[0].psk_key': expected an even number "
                                   "of hex digits (1 to 64 bytes)\n%s: 1 error, 0 warnings\n" % (bad, path))
        self.assertNotIn("secret-not-hex", r.stderr)

    def test_key_rules(self):
        f = write_secret(os.path.join(self.tmp, "k.psk"), "0a0b")
        for text, message in (
                ("psk_key_file: k.psk", "psk_key_file: 'psk_key_file' must be an absolute path, got 'k.psk'"),
                ("psk_key_file: [a]", "psk_key_file: 'psk_key_file' must be the path of a file, got a sequence"),
                ("psk_key: 0a0b\n      psk_key_file: " + f,
                 "psk_key_file: 'psk_key' and 'psk_key_file' exclude each other: the secret is in one place"),
                ("psk_key_credential: ../x", "psk_key_credential: '../x' is not a credential name (a file name: "
                                             "no '/')")):
            path = self.config(text)
            r = self.check(path)
            self.assertEqual(r.returncode, 1, text)
            self.assertRegex(r.stderr, r"^%s:\d+:\d+: %s\n" % (re.escape(path), re.escape(message)))
        # Only secrets: a key that holds none does not take _file.
        path = self.config("psk_key: 0a0b\n      server_name_file: " + f)
        r = self.check(path)
        line, kcol, vcol = self.line_of(path, "server_name_file: ")
        self.assertIn("%s:%d:%d: 'server_name_file': only a secret (a key, a password) may be read from a file "
                      "or a credential, and 'server_name' is none here" % (path, line, kcol), r.stderr)

    def test_every_secret_key(self):
        # The MQTT password (end to end in Reports) and the BLE bindkey too.
        built = fg("--version").stdout
        if "ble" not in built:
            self.skipTest("the BLE bridge is not built")
        key = write_secret(os.path.join(self.tmp, "bindkey"), "00112233445566778899aabbccddeeff\n")
        path = os.path.join(self.tmp, "ble.yaml")
        text = test_devices.bridge_config("coap://127.0.0.1", "bt", "ble", "unreachable_after: 5m", [
            {"name": "s1", "profile": "bthome-sensor", "address": '{mac: "A4:C1:38:0D:4E:21", bindkey_file: %s}' % key},
            {"name": "s2", "profile": "bthome-sensor",
             "address": '{mac: "A4:C1:38:0D:4E:22", bindkey_credential: fieldgate_bindkey}'}], sock=os.path.join(self.tmp, "s"))
        write_secret(os.path.join(self.creds, "fieldgate_bindkey"), "ffeeddccbbaa99887766554433221100")
        write_secret(path, text, 0o644)
        r = self.check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        write_secret(key, "00112233")
        r = self.check(path)
        self.assertIn("%s:1:1: invalid bindkey: expected 16 bytes as 32 hex digits" % key, r.stderr)

    def test_credentials(self):
        write_secret(os.path.join(self.creds, "lwm2m-psk"), "0a0b")
        path = self.config("psk_key_credential: lwm2m-psk")
        self.assertEqual(self.check(path).returncode, 0)
        # The credential directory systemd makes is the service's own; one
        # others can read is refused all the same.
        os.chmod(os.path.join(self.creds, "lwm2m-psk"), 0o644)
        self.assertIn("is readable by others", self.check(path).stderr)
        # Outside the service (no $CREDENTIALS_DIRECTORY): said how to get it.
        if os.path.exists("/run/credentials/fieldgate.service"):
            self.skipTest("fieldgate.service runs on this machine")
        r = self.check(path, creds=False)
        line, kcol, vcol = self.line_of(path, "psk_key_credential: ")
        self.assertEqual(r.stderr.splitlines()[0],
                         "%s:%d:%d: psk_key_credential: systemd credential 'lwm2m-psk' not found: "
                         "$CREDENTIALS_DIRECTORY is not set (systemd sets it for the service, from LoadCredential= "
                         "in its unit) and /run/credentials/fieldgate.service/ has no such file (is the service "
                         "running?)" % (path, line, vcol))


class DevicesDir(test_devices.Base):
    """gateway.devices_dir: more devices in files of their own, merged,
    errors at their own file:line:col, reload by difference."""

    def write(self, name, text, mode=0o644):
        write_secret(os.path.join(self.gw.tmp, "devices.d", name), text, mode)

    def test_merge_and_reload(self):
        self.gw = self.start(test_devices.config(self.srv.url, "@SOCK@", [{"name": "a"}]))
        # The default folder (devices.d beside the file) appears later.
        self.srv.wait_event("register", ep="gw-a", timeout=15)
        os.mkdir(os.path.join(self.gw.tmp, "devices.d"))
        self.write("10-b.yaml", "devices:\n  - name: b\n    profile: demo-sensor\n")
        self.write("README", "not read")
        self.write(".20-hidden.yaml", "devices: [{name: hidden, profile: demo-sensor}]\n")
        start = self.gw.reload(open(self.gw.path).read())
        self.gw.wait_log(r"Configuration applied: 1 devices? added, 0 removed, 0 changed, 1 unchanged", start)
        self.srv.wait_event("register", ep="gw-b", timeout=15)
        r = self.gw.ctl("status", "--names")
        self.assertEqual(r.stdout, "a\nb\n")

        # Another file; then b moves from its file into the main one.
        self.write("30-c.yml", "devices:\n  - name: c\n    profile: demo-sensor\n    vars: {serial: C-1}\n")
        start = self.gw.reload(open(self.gw.path).read())
        self.gw.wait_log(r"Configuration applied: 1 devices? added, 0 removed, 0 changed, 2 unchanged", start)
        self.srv.wait_event("register", ep="gw-c", timeout=15)
        self.assertEqual(self.value("gw-c", "/3/0/2"), "C-1")
        os.unlink(os.path.join(self.gw.tmp, "devices.d", "10-b.yaml"))
        text = open(self.gw.path).read().replace("devices:\n", "devices:\n  - name: b\n    profile: demo-sensor\n")
        start = self.gw.reload(text)
        self.gw.wait_log(r"Configuration applied: 0 devices? added, 0 removed, 0 changed, 3 unchanged", start)

        # A broken file: said where, and nothing changes.
        self.write("40-bad.yaml", "devices:\n  - name: d\n    profile: demo-sensor\n    pol: 5s\n  - name: a\n"
                                  "    profile: demo-sensor\n")
        start = self.gw.reload(text)
        bad = os.path.join(self.gw.tmp, "devices.d", "40-bad.yaml")
        self.gw.wait_log(r"%s:4:5: unknown key 'pol' in 'devices\[0\]', did you mean 'poll'\?" % re.escape(bad), start)
        self.gw.wait_log(r"%s:5:11: device name 'a' is used twice \(also %s:\d+\)"
                         % (re.escape(bad), re.escape(self.gw.path)), start)
        self.gw.wait_log(r"Configuration %s has 2 errors, keeping the running configuration" % re.escape(self.gw.path),
                         start)
        self.assertEqual(self.gw.ctl("status", "--names").stdout, "b\na\nc\n")
        r = fg("check", "-c", self.gw.path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines()[-1], "%s: 2 errors, 0 warnings" % self.gw.path)

        # A secret in a file others can read is refused there too.
        os.unlink(bad)
        self.write("50-psk.yaml", "devices:\n  - name: e\n    profile: demo-sensor\n    psk_identity: e\n"
                                  "    psk_key: 0a0b\n")
        r = fg("check", "-c", self.gw.path)
        psk = os.path.join(self.gw.tmp, "devices.d", "50-psk.yaml")
        self.assertIn("%s:5:14: devices[0].psk_key in a file readable by others (mode 0644)" % psk, r.stderr)
        os.unlink(psk)

        # Removing a file removes its devices.
        os.unlink(os.path.join(self.gw.tmp, "devices.d", "30-c.yml"))
        start = self.gw.reload(text)
        self.gw.wait_log(r"Configuration applied: 0 devices? added, 1 removed, 0 changed, 2 unchanged", start)
        self.srv.wait_event("deregister", ep="gw-c", timeout=15)
        # Only c ever de-registered: the others kept their registration.
        self.assertEqual([e["ep"] for e in self.srv.events("deregister")], ["gw-c"])

    def test_configured_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "f.yaml")
            text = test_devices.config("coap://127.0.0.1:5683", os.path.join(tmp, "s"), [{"name": "a"}])
            text = text.replace("gateway:\n", "gateway:\n  devices_dir: more\n")
            write_secret(cfg, text)
            r = fg("check", "-c", cfg)
            self.assertEqual(r.stderr.splitlines()[0], "%s:2:16: cannot read devices_dir '%s/more': No such file "
                                                       "or directory" % (cfg, tmp))
            os.mkdir(os.path.join(tmp, "more"))
            write_secret(os.path.join(tmp, "more", "x.yaml"), "devices:\n  - {name: x, profile: demo-sensor}\n")
            r = fg("check", "-c", cfg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("2 devices (1 from 1 file in %s/more)" % tmp, r.stdout)


class StatusSocket(unittest.TestCase):
    """`status -c`: the socket of that configuration or a plain error."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fg-ctl-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_unreadable_configuration(self):
        missing = os.path.join(self.tmp, "nonexistent.yaml")
        r = fg("status", "-c", missing)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        # Said, and no other socket tried (before: "cannot connect to
        # /run/fieldgate/fieldgate.sock ... (is the daemon running?)").
        self.assertEqual(r.stderr, "fieldgate: cannot read the configuration %s: No such file or directory; "
                                   "it names the status socket (gateway.status_socket)\n" % missing)
        bad = os.path.join(self.tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("gateway: [unclosed\n")
        r = fg("metrics", "-c", bad)
        self.assertEqual(r.stderr, "fieldgate: cannot read the configuration %s: it is not valid YAML (see "
                                   "fieldgate check); it names the status socket (gateway.status_socket)\n" % bad)
        self.assertEqual(r.returncode, 1)

    def test_default_configuration_missing(self):
        default = re.search(r"\(default: (\S+)\)", fg("--help").stdout).group(1)
        if os.path.exists(default):
            self.skipTest("%s exists on this machine" % default)
        r = fg("status", env={"RUNTIME_DIRECTORY": self.tmp})
        self.assertEqual(r.returncode, 1)
        sock = os.path.join(self.tmp, "fieldgate.sock")
        self.assertEqual(r.stderr.splitlines(), [
            "fieldgate: cannot read the configuration %s: No such file or directory; trying the default "
            "socket %s" % (default, sock),
            "fieldgate: cannot connect to %s: No such file or directory (is the daemon running?)" % sock])

    def test_configuration_with_errors_still_names_its_socket(self):
        # The daemon runs; its file is then being edited and has errors
        # (and a secret file only the service may read): status still
        # asks the configured socket, not the default one.
        srv = test_devices.Server(stderr=subprocess.DEVNULL).start()
        self.addCleanup(srv.stop)
        sock = os.path.join(self.tmp, "fg.sock")
        gw = test_devices.Gateway(test_devices.config(srv.url, sock, [{"name": "s1"}]))
        self.addCleanup(gw.stop)
        srv.wait_event("register", ep="gw-s1", timeout=15)
        edited = os.path.join(self.tmp, "edited.yaml")
        with open(gw.path) as f:
            text = f.read()
        with open(edited, "w") as f:
            f.write(text.replace("  lifetime: 60s", "  lifetime: soon\n  nonsense: 1") +
                    "bridges:\n  b:\n    type: mqtt\n    password_file: /nonexistent\n")
        self.assertEqual(fg("check", "-c", edited).returncode, 1)
        r = fg("status", "--names", "-c", edited)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "s1\n", ""))
        # A relative socket is refused where it is written.
        with open(edited, "w") as f:
            f.write(text.replace("status_socket: " + sock, "status_socket: fg.sock"))
        r = fg("status", "-c", edited)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^%s:5:18: gateway.status_socket must be an absolute path" % re.escape(edited))

    def test_options_only_for_status(self):
        r = fg("check", "--json")
        self.assertEqual((r.returncode, r.stderr.splitlines()[0]), (2, "fieldgate: option '--json' is only for status"))
        r = fg("status", "--json", "--names")
        self.assertEqual((r.returncode, r.stderr.splitlines()[0]),
                         (2, "fieldgate: --json and --names exclude each other"))


def main():
    global FIELDGATE
    FIELDGATE = os.path.abspath(sys.argv.pop(1))
    test_devices.FIELDGATE = FIELDGATE
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
