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

import jsonschema
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "mqtt"))
sys.path.insert(0, HERE)
import test_devices  # noqa: E402
from mqttpeer import Broker  # noqa: E402

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
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors)
    line = "%d passed, %d failed" % (res.testsRun - failed - len(res.skipped), failed)
    if res.skipped:
        line += ", %d skipped" % len(res.skipped)
    print(line)
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
