#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The man pages the build makes from docs/man/*.scd (scdoc):

- each renders without a groff warning;
- fieldgate(8) and `fieldgate --help` agree: the same commands, the same
  options, the same default configuration file;
- fieldgate.yaml(5) documents every key the configuration accepts (asked
  from fieldgate itself: the "accepted keys" of an unknown key in each
  section, bridges of this build included), fieldgate-profile(5) every key
  a profile accepts.

Usage: test_manpages.py PATH/TO/fieldgate BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import unittest_main

FIELDGATE = BUILD = None
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))


def page(name):
    path = os.path.join(BUILD, "docs", "man", name)
    if not os.path.exists(path):
        raise unittest.SkipTest("man pages not built (scdoc missing, -Dman=disabled)")
    return path


def render(name):
    """The page as plain text: wide, without hyphenation, so that a name is
    never split."""
    r = subprocess.run(["groff", "-man", "-Tascii", "-rLL=250n", "-rHY=0", "-ww", page(name)],
                       capture_output=True, text=True, check=True)
    return re.sub(r".\x08", "", r.stdout), r.stderr


def sections(text):
    """{SECTION: [lines]} of a rendered page."""
    out, cur = {}, None
    for line in text.splitlines():
        if line and not line[0].isspace():
            cur = line.strip()
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def terms(lines):
    """The terms of a section's list: lines indented 7 columns whose next
    line is their description, indented further."""
    lines = [l for l in lines if l.strip()]
    return [l.strip() for l, n in zip(lines, lines[1:] + [""]) if re.match(r"^ {7}\S", l) and re.match(r"^ {8,}\S", n)]


def options_of(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", text))


def accepted_keys(stderr):
    return {k for m in re.findall(r"\(accepted keys: ([^)]*)\)", stderr) for k in m.split(", ")}


class Pages(unittest.TestCase):
    def test_render_without_warnings(self):
        for name in ("fieldgate.8", "fieldgate.yaml.5", "fieldgate-profile.5"):
            text, err = render(name)
            self.assertEqual(err, "", name)
            self.assertIn("NAME", sections(text), name)

    def test_help_and_fieldgate_8_agree(self):
        text, _ = render("fieldgate.8")
        man = sections(text)
        help_text = subprocess.run([FIELDGATE, "--help"], capture_output=True, text=True, check=True).stdout
        part, commands, options = None, [], set()
        for line in help_text.splitlines():
            if line in ("Commands:", "Options:"):
                part = line
            elif part == "Commands:" and re.match(r"^  [a-z]", line):
                commands.append(line.split()[0])
            elif part == "Options:" and re.match(r"^ +-", line):
                options |= options_of(line.split("  ")[1] if line.startswith("  -") else line.strip().split()[0])
        man_commands = [t.split()[0].rstrip(",") for t in terms(man["COMMANDS"])]
        self.assertEqual(man_commands, commands)
        self.assertEqual({o for t in terms(man["OPTIONS"]) for o in options_of(t)}, options)
        self.assertGreaterEqual(len(commands), 7)
        self.assertGreaterEqual(len(options), 9)
        # The same default file.
        default = re.search(r"\(default: (\S+)\)", help_text).group(1)
        self.assertIn("Default: %s." % default, " ".join(" ".join(man["OPTIONS"]).split()))
        # The synopsis names every command too.
        synopsis = " ".join(man["SYNOPSIS"])
        for c in commands:
            self.assertIn(c, synopsis)


class Keys(unittest.TestCase):
    def check(self, text, profile=None):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "f.yaml")
            with open(path, "w") as f:
                f.write(text.replace("@TMP@", tmp))
            if profile:
                with open(os.path.join(tmp, "p.yaml"), "w") as f:
                    f.write(profile)
            return subprocess.run([FIELDGATE, "check", "-c", path], capture_output=True, text=True).stderr

    def documented(self, name):
        text, _ = render(name)
        return set(re.findall(r"([a-z0-9_]+):", text))

    def test_configuration_keys(self):
        bridges = subprocess.run([FIELDGATE, "--version"], capture_output=True, text=True).stdout.split()
        body = {
            "modbus": "  m:\n    type: modbus\n    zzz: 1\n    tcp: {host: a, zzz: 1}\n"
                      "  s:\n    type: modbus\n    serial: {device: /dev/null, zzz: 1}\n",
            "mqtt": "  q:\n    type: mqtt\n    zzz: 1\n    tls: {zzz: 1}\n    discovery: {zzz: 1, rules: [{zzz: 1}]}\n"
                    "    availability: [{topic: a, zzz: 1}]\n",
            "ble": "  b:\n    type: ble\n    zzz: 1\n    discover: [{profile: a, zzz: 1}]\n",
        }
        text = ("zzz: 1\ngateway:\n  name: gw\n  zzz: 1\nlog:\n  zzz: 1\nmetrics:\n  zzz: 1\nlwm2m:\n  zzz: 1\n"
                "  servers:\n    - uri: coap://127.0.0.1\n      zzz: 1\nbridges:\n" +
                "".join(b for t, b in body.items() if t in bridges) +
                "devices:\n  - name: d\n    profile: x\n    zzz: 1\n")
        keys = accepted_keys(self.check(text))
        self.assertGreater(len(keys), 40)
        for t in ("modbus", "mqtt", "ble"):
            if t in bridges:
                self.assertIn({"modbus": "max_registers", "mqtt": "clean_session", "ble": "bthome_resync"}[t], keys)
        self.assertEqual(keys - self.documented("fieldgate.yaml.5"), set())

    def test_profile_keys(self):
        profile = ("profile: p\nzzz: 1\ndefaults: {zzz: 1}\nobjects:\n  /3303/0:\n    5700: {const: 1, zzz: 1}\n")
        text = ("gateway:\n  name: gw\n  state_dir: @TMP@\n  profiles_path: @TMP@\nlwm2m:\n  servers:\n"
                "    - uri: coap://127.0.0.1\ndevices:\n  - name: d\n    profile: p\n")
        keys = accepted_keys(self.check(text, profile))
        self.assertIn("true_words", keys)
        self.assertIn("max_age", keys)
        self.assertEqual(keys - self.documented("fieldgate-profile.5"), set())


def main():
    global FIELDGATE, BUILD
    FIELDGATE = os.path.abspath(sys.argv.pop(1))
    BUILD = os.path.abspath(sys.argv.pop(1))
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
