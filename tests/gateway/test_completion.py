#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The bash completion (completion/fieldgate), run by a real bash: commands
and options as --help lists them, option values, and the device names of a
running daemon (fieldgate run against fg-lwm2m-server) for sample and
presence, asked with the -c/--config of the command line.

Usage: test_completion.py PATH/TO/fieldgate
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import unittest_main

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(SOURCE, "completion", "fieldgate")
sys.path.insert(0, HERE)
import test_devices  # noqa: E402

FIELDGATE = None


def complete(line):
    """COMPREPLY for the command line `line` (the cursor at its end), the
    command word being the fieldgate under test."""
    words = line.split(" ")
    # bash's COMP_WORDBREAKS splits at '=' too.
    split = []
    for w in words:
        if "=" in w and w.startswith("--"):
            a, b = w.split("=", 1)
            split += [a, "=", b]
        else:
            split.append(w)
    split[0] = FIELDGATE
    script = ("source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_fieldgate\nprintf '%%s\\n' \"${COMPREPLY[@]}\"\n"
              % (SCRIPT, " ".join("'%s'" % w for w in split), len(split) - 1))
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, timeout=20)
    assert r.stderr == "", r.stderr
    return [l for l in r.stdout.split("\n") if l]


def help_lists():
    text = subprocess.run([FIELDGATE, "--help"], capture_output=True, text=True, check=True).stdout
    commands = re.findall(r"^  ([a-z][a-z-]*)", text.split("Options:")[0], re.M)
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", text.split("Options:")[1]))
    return commands, options


class Completion(unittest.TestCase):
    def test_registered(self):
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", "source %s; complete -p fieldgate" % SCRIPT],
                           capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), "complete -F _fieldgate fieldgate")

    def test_commands_and_options_as_help_lists_them(self):
        commands, options = help_lists()
        self.assertEqual(complete("fieldgate "), commands)
        self.assertEqual(complete("fieldgate st"), ["status"])
        self.assertEqual({o.rstrip("=").rstrip() for o in complete("fieldgate -")}, options)
        # A single match gets its space, an option taking a value its '='.
        self.assertEqual(complete("fieldgate --ver"), ["--version "])
        self.assertEqual(complete("fieldgate --conf"), ["--config="])
        # --json and --names are for status only.
        self.assertEqual(complete("fieldgate status --j"), ["--json "])
        self.assertEqual(complete("fieldgate check --j"), [])
        self.assertEqual(complete("fieldgate -c x.yaml ch"), ["check"])

    def test_option_values(self):
        self.assertEqual(complete("fieldgate -l "), ["err", "warning", "notice", "info", "debug"])
        self.assertEqual(complete("fieldgate --log-level=w"), ["warning"])
        self.assertEqual(complete("fieldgate -t j"), ["journal"])
        with tempfile.TemporaryDirectory() as tmp:
            open(os.path.join(tmp, "fieldgate.yaml"), "w").close()
            self.assertEqual(complete("fieldgate -c %s/fie" % tmp), ["%s/fieldgate.yaml" % tmp])
            self.assertEqual(complete("fieldgate --config=%s/fie" % tmp), ["%s/fieldgate.yaml" % tmp])

    def test_profile(self):
        self.assertEqual(complete("fieldgate profile "), ["check", "test"])
        self.assertEqual(complete("fieldgate -c x.yaml profile t"), ["test"])
        # profile test: its own options and the capture options of the
        # build's bridge kinds, as --help lists them.
        text = subprocess.run([FIELDGATE, "--help"], capture_output=True, text=True, check=True).stdout
        captures = set(re.findall(r"^ {20,}(--[a-z0-9-]+) ", text, re.M))
        kinds = subprocess.run([FIELDGATE, "--version"], capture_output=True, text=True).stdout.split()
        if "modbus" in kinds:
            self.assertIn("--registers", captures)
        if "mqtt" in kinds:
            self.assertIn("--z2m-devices", captures)
        self.assertEqual(set(complete("fieldgate profile test --")),
                         {"--address", "--write", "--execute", "--yaml"} | captures)
        self.assertEqual(complete("fieldgate profile test p.yaml --ya"), ["--yaml"])
        # Files: the profiles to check, a profile or a capture to test.
        with tempfile.TemporaryDirectory() as tmp:
            open(os.path.join(tmp, "pump.yaml"), "w").close()
            self.assertEqual(complete("fieldgate profile check %s/pu" % tmp), ["%s/pump.yaml" % tmp])
            self.assertEqual(complete("fieldgate profile test %s/pu" % tmp), ["%s/pump.yaml" % tmp])

    def test_device_names_of_the_running_daemon(self):
        srv = test_devices.Server(stderr=subprocess.DEVNULL).start()
        self.addCleanup(srv.stop)
        gw = test_devices.Gateway(test_devices.config(srv.url, "@SOCK@", [
            {"name": "kitchen"}, {"name": "kettle"}, {"name": "boiler"}]))
        self.addCleanup(gw.stop)
        srv.wait_event("register", ep="gw-boiler", timeout=15)
        self.assertEqual(complete("fieldgate -c %s sample " % gw.path), ["kitchen", "kettle", "boiler"])
        self.assertEqual(complete("fieldgate --config=%s presence k" % gw.path), ["kitchen", "kettle"])
        self.assertEqual(complete("fieldgate -c %s presence boiler 1" % gw.path), ["110", "113"])
        self.assertEqual(complete("fieldgate -c %s sample boiler " % gw.path), [])
        # No daemon there: nothing, and nothing printed on the terminal.
        self.assertEqual(complete("fieldgate -c /nonexistent.yaml sample "), [])


def main():
    global FIELDGATE
    FIELDGATE = os.path.abspath(sys.argv.pop(1))
    test_devices.FIELDGATE = FIELDGATE
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
