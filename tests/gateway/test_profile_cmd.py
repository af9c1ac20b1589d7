#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`fieldgate profile check` and `fieldgate profile test`, no daemon, no peer.

- Every profile shipped in mappings/profiles/ has a captured sample in
  tests/data/profile-samples/<profile>.sample: comment lines (#), the
  arguments of `fieldgate profile test` one per line (captured registers,
  MQTT messages, BLE adverts and characteristics, writes and executes), a
  line "====", then exactly what the command prints: every resource's
  decoded value and what each write or execute would send to the field.
  FG_SAMPLES_REGEN=1 rewrites the expected part (review the diff).
- Per bridge kind: Modbus registers (and a SunSpec image), MQTT messages,
  zigbee2mqtt bridge/devices and Home Assistant discovery, BLE adverts;
  exit codes 0 (shown), 1 (a profile or a value is wrong) and 2 (usage), and
  the error messages (file:line:col for profile mistakes).

Usage: test_profile_cmd.py PATH/TO/fieldgate   (meson passes it)
"""
import glob
import os
import re
import subprocess
import sys
import tempfile
import unittest

FIELDGATE = None
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
PROFILES = os.path.join(SOURCE, "mappings", "profiles")
SAMPLES = os.path.join(SOURCE, "tests", "data", "profile-samples")
DATA = os.path.join(SOURCE, "tests", "data")
SEPARATOR = "===="
USAGE_HINT = "Try 'fieldgate --help' for more information.\n"


CONFIG = None  # a configuration whose profiles_path is mappings/profiles: profiles by name


def fg(*args):
    return subprocess.run([FIELDGATE, *args], capture_output=True, text=True, timeout=60,
                          cwd=SOURCE)


def fgc(*args):
    """fg() with the configuration: PROFILE may be a name."""
    return fg("-c", CONFIG, *args)


def built_bridges():
    for line in fg("--version").stdout.splitlines():
        if line.startswith("bridges:"):
            return [t for t in line.split()[1:] if t != "none"]
    return []


def profile_bridge(path):
    with open(path) as f:
        m = re.search(r"^bridge:\s*(\S+)", f.read(), re.M)
    return m.group(1) if m else None


def read_sample(path):
    """(arguments, expected output) of a .sample file."""
    with open(path) as f:
        text = f.read()
    head, sep, expected = text.partition(SEPARATOR + "\n")
    args = [l for l in head.split("\n") if l and not l.startswith("#")]
    return args, (expected if sep else None), head


def value_of(out, path):
    """The VALUE column of PATH's line in `profile test` output."""
    m = re.search(r"^  %s +\S.*? (String|Integer|Unsigned|Float|Boolean|Opaque|Time|Objlnk|Corelnk) +(.*)$"
                  % re.escape(path), out, re.M)
    return m.group(2) if m else None


def shipped():
    return sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(PROFILES, "*.yaml")))


class Kind(unittest.TestCase):
    """Tests of one bridge kind's captures, skipped when it is not built."""
    KIND = None

    @classmethod
    def setUpClass(cls):
        if cls.KIND not in BRIDGES:
            raise unittest.SkipTest("bridge %s not built" % cls.KIND)


class Samples(unittest.TestCase):
    def test_every_shipped_profile_has_a_sample(self):
        samples = sorted(os.path.basename(p)[:-7] for p in glob.glob(os.path.join(SAMPLES, "*.sample")))
        self.assertGreaterEqual(len(shipped()), 20)
        self.assertEqual(samples, shipped())

    def test_samples(self):
        regen = os.environ.get("FG_SAMPLES_REGEN") == "1"
        for name in shipped():
            with self.subTest(profile=name):
                profile = os.path.join(PROFILES, name + ".yaml")
                kind = profile_bridge(profile)
                if kind and kind not in BRIDGES:
                    continue
                args, expected, head = read_sample(os.path.join(SAMPLES, name + ".sample"))
                r = fg("profile", "test", os.path.relpath(profile, SOURCE), *args)
                self.assertEqual(r.stderr, "")
                self.assertEqual(r.returncode, 0)
                if regen:
                    with open(os.path.join(SAMPLES, name + ".sample"), "w") as f:
                        f.write(head + SEPARATOR + "\n" + r.stdout)
                    continue
                self.assertIsNotNone(expected, "no '%s' line in %s.sample" % (SEPARATOR, name))
                self.assertEqual(r.stdout, expected)
                # A sample gives every value its profile reads from the field.
                self.assertNotIn("(no sample", r.stdout)


class Check(unittest.TestCase):
    def test_shipped_profiles_load(self):
        files = [os.path.join("mappings", "profiles", n + ".yaml") for n in shipped()]
        r = fg("profile", "check", *files)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), len(files))
        for f, line in zip(files, lines):
            self.assertRegex(line, r"^%s: profile \S+ (for \w+, )?\d+ resources" % re.escape(f))
        self.assertEqual(r.stderr, "")

    def test_mistakes_name_file_line_column(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.yaml")
            with open(bad, "w") as f:
                f.write("profile: bad\nobjects:\n  /3303/0:\n    5700: { const: 21.5 }\n"
                        "    9999: { const: 1 }\n")
            good = os.path.join(d, "good.yaml")
            with open(good, "w") as f:
                f.write("profile: good\nobjects:\n  /3303/0:\n    5700: { const: 21.5 }\n")
            r = fg("profile", "check", bad, good)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "%s: profile good, 1 resources (0 read from the field) in 1 "
                             "object instances\n" % good)
            self.assertRegex(r.stderr, r"^%s:5:5: .*9999" % re.escape(bad))
            r = fg("profile", "check", os.path.join(d, "absent.yaml"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("absent.yaml", r.stderr)

    def test_usage(self):
        for args, msg in (
                (["profile"], "fieldgate: 'profile' needs 'check' or 'test'\n"),
                (["profile", "frob"], "fieldgate: unknown 'profile' command 'frob' (expected check or test)\n"),
                (["profile", "check"], "fieldgate: 'profile' check' needs a FILE\n"),
                (["profile", "test"], "fieldgate: 'profile test' needs a PROFILE, or a capture that "
                 "describes devices (--z2m-devices, --ha-config)\n")):
            with self.subTest(args=args):
                r = fg(*args)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, "")
                self.assertEqual(r.stderr, msg.replace("'profile' check'", "'profile check'") + USAGE_HINT)

    def test_unknown_profile(self):
        r = fg("profile", "test", "no-such-profile")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^fieldgate: unknown profile 'no-such-profile' \(no no-such-profile.yaml "
                         r"in the search path .*\)\n$")


class Modbus(Kind):
    KIND = "modbus"
    XY = "mappings/profiles/xy-md02.yaml"

    def test_registers_decode_and_writes_encode(self):
        r = fg("profile", "test", self.XY, "--registers", "input:1=ff9c 0190", "--write", "/3308/0/5900=-2.5")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("  /3303/0/5700    Temperature.Sensor Value   Float    -10\n", r.stdout)
        self.assertIn("  /3304/0/5700    Humidity.Sensor Value      Float    40\n", r.stdout)
        self.assertIn("(no sample: no --registers holding:259)  [writable]\n", r.stdout)
        self.assertIn("  write /3308/0/5900 = -2.5: write holding 259 (function 06): ffe7\n", r.stdout)

    def test_value_out_of_range(self):
        # 0x0800 = 204.8 %RH: the profile's max 100 refuses it, as the daemon would.
        r = fg("profile", "test", self.XY, "--registers", "input:2=0800", "--write", "/3308/0/5900=11")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Humidity.Sensor Value      Float    error: ", r.stdout)
        self.assertIn("write /3308/0/5900 = 11: refused, out of its range", r.stdout)

    def test_bad_registers(self):
        for arg, msg in (("input:1=0G", "'input:1=0G': registers are 4 hex digits each (0000..ffff)"),
                         ("bogus:1=0000", None), ("input=0000", None)):
            with self.subTest(arg=arg):
                r = fg("profile", "test", self.XY, "--registers", arg)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, "")
                self.assertTrue(r.stderr.startswith("fieldgate: --registers: "), r.stderr)
                if msg:
                    self.assertIn(msg, r.stderr)

    def test_sunspec_without_a_map(self):
        r = fgc("profile", "test", "sunspec", "--registers", "holding:40000=0000 0000")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no SunSpec map", r.stderr)

    def test_sunspec_generated_profile_as_yaml(self):
        args, _, _ = read_sample(os.path.join(SAMPLES, "sunspec.sample"))
        r = fg("profile", "test", "mappings/profiles/sunspec.yaml", "--yaml", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(DATA, "modbus", "sunspec", "inverter.yaml")) as f:
            golden = f.read()
        # The generated profile is printed as the daemon would load it.
        self.assertIn(golden.strip().split("\n", 1)[1][:200], r.stdout)
        self.assertIn("  Not mapped: models 64110\n", r.stdout)


class Mqtt(Kind):
    KIND = "mqtt"
    def test_message_and_topic_binding(self):
        # No --address: the message on the state topic binds {device}.
        r = fgc("profile", "test", "z2m-smart-plug", "--mqtt", "zigbee2mqtt/desk", '{"state":"OFF","power":0}',
               "--write", "/3312/0/5850=true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"/3312/0/5850 +Power Control.On/Off +Boolean +false  \[writable\]\n")
        self.assertIn("write /3312/0/5850 = true: publish 'zigbee2mqtt/desk/set' '{\"state\":\"ON\"}' "
                      "(QoS 1, then wait for the state echo)\n", r.stdout)
        self.assertIn("(no sample: no --mqtt message on 'zigbee2mqtt/{device}' has it)", r.stdout)

    def test_not_json(self):
        r = fgc("profile", "test", "z2m-smart-plug", "--mqtt", "zigbee2mqtt/desk", "{oops")
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: Bad message: the message on 'zigbee2mqtt/desk' is not JSON", r.stdout)

    def test_bad_address(self):
        r = fgc("profile", "test", "tasmota-discovery", "--address", "{device: [x]}", "--execute", "/3/0/4")
        self.assertEqual(r.returncode, 1)
        self.assertIn("  execute /3/0/4: capture 'device' needs a scalar value, got a sequence\n", r.stdout)
        r = fgc("profile", "test", "tasmota-discovery", "--address", "{device: x", "--execute", "/3/0/4")
        self.assertEqual(r.returncode, 1)
        self.assertIn("  execute /3/0/4: --address '{device: x' is not a YAML flow mapping such as "
                      "{device: plug-1, channel: 0}\n", r.stdout)

    def test_zigbee2mqtt_devices(self):
        r = fg("profile", "test", "--z2m-devices", "tests/data/mqtt/z2m/bridge-devices.json",
               "--mqtt", "zigbee2mqtt/living-th",
               '{"temperature":21.37,"humidity":48.12,"pressure":1003.2,"battery":97,"voltage":2995}')
        self.assertEqual(r.returncode, 0, r.stderr)
        devices = re.findall(r"^Device (\S+) \(address ([^)]+)\), profile ([^:\s]+)", r.stdout, re.M)
        self.assertEqual(len(devices), 12)
        self.assertEqual(devices[0], ("0x00158d0001a2b3c4", "living-th", "z2m-WSDCGQ11LM-26e6ee45"))
        first = r.stdout.split("\n\n")[0]
        self.assertRegex(first, r"/3303/0/5700 +Temperature.Sensor Value +Float +21.37\n")
        self.assertRegex(first, r"/3315/0/5700 +Barometer.Sensor Value +Float +1003.2\n")
        self.assertRegex(first, r"/3/0/9 +Device.Battery Level +Integer +97 /100\n")
        self.assertIn("Not mapped: linkquality (numeric: no rule)", first)

    def test_home_assistant_configs(self):
        args = []
        with open(os.path.join(DATA, "mqtt", "ha", "tasmota.txt")) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    topic, payload = line.rstrip("\n").split("\t", 1)
                    args += ["--ha-config", topic, payload]
        r = fg("profile", "test", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^Device ha-\S+ \(address \S+\), profile ha-")
        self.assertRegex(r.stdout, r"/3312/0/5850 +Power Control.On/Off +Boolean +\(no sample")

    def test_bad_ha_config(self):
        # Field data that makes no device: exit 1 (2 is for the command line's form).
        for payload in ("[1,2]", "{oops"):
            with self.subTest(payload=payload):
                r = fg("profile", "test", "--ha-config", "homeassistant/sensor/x/config", payload)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, "")
                self.assertEqual(r.stderr, "fieldgate: --ha-config 'homeassistant/sensor/x/config': not "
                                 "<prefix>/<component>/[<node_id>/]<object_id>/config with a JSON "
                                 "configuration\n")


class Ble(Kind):
    KIND = "ble"
    def test_bthome(self):
        r = fgc("profile", "test", "bthome-sensor", "--ble-advert", "0c16d2fc40016102ca0903bf13")
        self.assertEqual(r.returncode, 0, r.stderr)
        # BTHome's factors (0.01) as the bridge applies them: 2506 * 0.01, 5055 * 0.01.
        t, unit = value_of(r.stdout, "/3303/0/5700").split()
        self.assertAlmostEqual(float(t), 25.06, places=9)
        self.assertEqual(unit, "Cel")
        h, unit = value_of(r.stdout, "/3304/0/5700").split()
        self.assertAlmostEqual(float(h), 50.55, places=9)
        self.assertEqual(unit, "%RH")
        self.assertEqual(value_of(r.stdout, "/3/0/9"), "97 /100")
        self.assertRegex(r.stdout, r"/3303/1/5700 .*\(no sample: the BTHome advert has no temperature\)")
        self.assertRegex(r.stdout, r"/4/0/2 .*\(no sample: no --ble-rssi\)")

    def test_encrypted_bthome(self):
        # Device info 0x41: encrypted (payload, counter, MIC); the test takes no key.
        r = fgc("profile", "test", "bthome-sensor", "--ble-advert", "1216d2fc41a47266c95f730011223378237214")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(no sample: an encrypted BTHome advert (the test takes no key))", r.stdout)

    def test_bad_captures(self):
        for args, msg in ((["--ble-advert", "0aff"], "--ble-advert: '0aff': an AD structure at byte 0 runs "
                           "past the end"),
                          (["--ble-gatt", "2a6e"], "--ble-gatt: '2a6e': expected UUID=HEX, e.g. 2a6e=3408"),
                          (["--ble-gatt", "2a6e=zz"], "--ble-gatt: '2a6e=zz': expected hex bytes"),
                          (["--ble-rssi", "loud"], "--ble-rssi: 'loud': expected dBm")):
            with self.subTest(args=args):
                r = fgc("profile", "test", "ruuvitag", *args)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, "")
                self.assertTrue(r.stderr.startswith("fieldgate: " + msg), r.stderr)


def main():
    global FIELDGATE, BRIDGES, CONFIG
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    FIELDGATE = os.path.abspath(sys.argv.pop(1))
    BRIDGES = built_bridges()
    with tempfile.TemporaryDirectory() as d:
        CONFIG = os.path.join(d, "fieldgate.yaml")
        with open(CONFIG, "w") as f:
            f.write("gateway:\n  name: gw\n  profiles_path: %s\nlwm2m:\n  servers:\n"
                    "    - uri: coap://127.0.0.1:5683\n" % PROFILES)
        prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len({id(t) for t, _ in res.failures + res.errors})
    print("%d passed, %d failed" % (res.testsRun - failed, failed))
    return 1 if failed else 0


BRIDGES = []
if __name__ == "__main__":
    sys.exit(main())
