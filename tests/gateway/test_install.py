#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Packaging checks: `systemd-analyze verify` on the generated unit (with
ExecStart pointing at the built binary, since verify wants it to exist), the
hardening the unit must keep, and `meson install --destdir` putting the
binary, unit, sysusers/tmpfiles snippets, profiles and example configuration
in their places.

Usage: test_install.py BUILD_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = None


def option(name):
    opts = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", BUILD], check=True,
                                     capture_output=True, text=True).stdout)
    return [o["value"] for o in opts if o["name"] == name][0]


def unit_text():
    with open(os.path.join(BUILD, "systemd", "fieldgate.service")) as f:
        return f.read()


class Unit(unittest.TestCase):
    def test_hardening(self):
        text = unit_text()
        self.assertNotIn("@", re.sub(r"SystemCallFilter=.*", "", text))  # every placeholder filled
        keys = {}
        for line in text.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                keys.setdefault(k, []).append(v)
        bindir = os.path.join(option("prefix"), option("bindir"))
        self.assertEqual(keys["Type"], ["notify"])
        self.assertTrue(keys["ExecStart"][0].startswith(bindir + "/fieldgate run -c "), keys["ExecStart"])
        self.assertEqual(keys["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        for k, v in (("WatchdogSec", "30s"), ("StateDirectory", "fieldgate"), ("RuntimeDirectory", "fieldgate"),
                     ("ConfigurationDirectory", "fieldgate"), ("ProtectSystem", "strict"),
                     ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"), ("User", "fieldgate"),
                     ("SupplementaryGroups", "dialout"), ("LimitNOFILE", "65536"),
                     ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK")):
            self.assertEqual(keys.get(k), [v], k)

    def test_systemd_analyze_verify(self):
        exe = shutil.which("systemd-analyze")
        if not exe:
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        with tempfile.TemporaryDirectory() as tmp:
            binary = os.path.join(BUILD, "gateway", "fieldgate")
            text = re.sub(r"(ExecStart(Pre)?=)\S+/fieldgate", r"\1" + binary, unit_text())
            unit = os.path.join(tmp, "fieldgate.service")
            with open(unit, "w") as f:
                f.write(text)
            r = subprocess.run([exe, "verify", "--man=no", unit], capture_output=True, text=True)
            # Any complaint about our unit (unknown keys, bad values) fails.
            ours = [l for l in (r.stdout + r.stderr).splitlines() if "fieldgate" in l]
            self.assertEqual((r.returncode, ours), (0, []), r.stdout + r.stderr)
            # And the check can fail: a misspelt key is reported.
            with open(unit, "w") as f:
                f.write(text.replace("NoNewPrivileges=", "NoNewPrivilege="))
            r = subprocess.run([exe, "verify", "--man=no", unit], capture_output=True, text=True)
            self.assertIn("NoNewPrivilege", r.stdout + r.stderr)


class Install(unittest.TestCase):
    def test_destdir(self):
        with tempfile.TemporaryDirectory() as dest:
            r = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild", "--quiet"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            prefix = option("prefix")
            sysconf = os.path.join(prefix, option("sysconfdir"))
            datadir = os.path.join(prefix, option("datadir"))
            unitdir = "/lib/systemd/system" if prefix == "/usr" else os.path.join(prefix, "lib/systemd/system")
            expect = [
                os.path.join(prefix, option("bindir"), "fieldgate"),
                os.path.join(sysconf, "fieldgate", "fieldgate.yaml"),
                os.path.join(datadir, "fieldgate", "profiles", "demo-sensor.yaml"),
                os.path.join(prefix, "lib", "sysusers.d", "fieldgate.conf"),
                os.path.join(prefix, "lib", "tmpfiles.d", "fieldgate.conf"),
                os.path.join(datadir, "fieldgate", "fieldgate.yaml.example"),
                os.path.join(datadir, "fieldgate", "status.schema.json"),
                os.path.join(datadir, "polkit-1", "rules.d", "fieldgate.rules"),
            ]
            if os.path.exists(os.path.join(BUILD, "docs", "man", "fieldgate.8")):
                expect += [os.path.join(prefix, option("mandir"), "man8", "fieldgate.8"),
                           os.path.join(prefix, option("mandir"), "man5", "fieldgate.yaml.5"),
                           os.path.join(prefix, option("mandir"), "man5", "fieldgate-profile.5")]
            if prefix == "/usr":
                unitdir = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                                         capture_output=True, text=True).stdout.strip() or unitdir
            # The service, and the firmware install unit it may start.
            expect += [os.path.join(unitdir, "fieldgate.service"), os.path.join(unitdir, "fieldgate-update.service")]
            for p in expect:
                self.assertTrue(os.path.isfile(dest + p), "%s not installed; got:\n%s" % (
                    p, "\n".join(os.path.join(d, f)[len(dest):] for d, _, fs in os.walk(dest) for f in fs)))
            self.assertTrue(os.access(dest + expect[0], os.X_OK))
            # The installed binary validates the installed example against the
            # installed profiles: what a fresh package does first.
            with open(dest + expect[1]) as f:
                self.assertIn("devices:", f.read())
            # It holds a psk_key: not readable by others (fieldgate would
            # refuse it).
            self.assertEqual(os.stat(dest + expect[1]).st_mode & 0o777, 0o640)
            # The example as installed, beside it: the unit's ExecCondition=
            # compares them. The credentials folder is root's alone.
            with open(dest + expect[1], "rb") as a, open(dest + expect[5], "rb") as b:
                self.assertEqual(a.read(), b.read())
            self.assertEqual(os.stat(os.path.join(dest + sysconf, "fieldgate", "credentials")).st_mode & 0o777, 0o700)
            self.assertTrue(os.path.isdir(os.path.join(dest + sysconf, "fieldgate", "devices.d")))
            completion = [os.path.join(d, f)[len(dest):] for d, _, fs in os.walk(dest) for f in fs
                          if d.endswith("bash-completion/completions")]
            self.assertEqual([os.path.basename(c) for c in completion], ["fieldgate"])
            # Test programs are not installed.
            names = [f for _, _, fs in os.walk(dest) for f in fs]
            self.assertFalse([n for n in names if n.startswith("test_") or n == "fg-lwm2m-server"], names)


def main():
    global BUILD
    BUILD = os.path.abspath(sys.argv.pop(1))
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
