#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Debian package, built and looked at as an operator gets it:

1. dpkg-buildpackage -us -uc -b in a copy of the source tree (the tracked
   and untracked-but-not-ignored files: what a checkout holds), checks off
   (-Pnocheck: the other suites test the code);
2. lintian on the result: no error;
3. dpkg -x into a scratch root: the files in their places with their modes,
   the conffiles, the maintainer scripts (user, tmpfiles, unit enabled);
4. the unpacked fieldgate runs `check` on the unpacked example (with the
   systemd credential the example names, as the service gets it);
5. the unit's ExecCondition= against the unpacked files: the start is
   skipped while the configuration is the installed example, runs once it
   was edited.

Prints how long the build and lintian took. Usage: test_package.py
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gateway"))
import unittest_main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
TOOLS = ("dpkg-buildpackage", "dh", "lintian", "scdoc")


def copy_tree(dst):
    """The files a checkout has: tracked, and new ones git does not ignore."""
    try:
        out = subprocess.run(["git", "-C", SOURCE, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout.decode()
        files = [f for f in out.split("\0") if f and os.path.lexists(os.path.join(SOURCE, f))]
    except (OSError, subprocess.CalledProcessError):
        files = None
    if files is None:
        shutil.copytree(SOURCE, dst, symlinks=True, ignore=shutil.ignore_patterns(
            "build*", ".git", "node_modules", "obj-*"))
        return
    for f in files:
        os.makedirs(os.path.dirname(os.path.join(dst, f)), exist_ok=True)
        shutil.copy2(os.path.join(SOURCE, f), os.path.join(dst, f), follow_symlinks=False)


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in TOOLS if not shutil.which(t)]
        if missing:
            raise unittest.SkipTest("not installed: %s (scripts/install-deps.sh installs them)" % ", ".join(missing))
        cls.tmp = tempfile.mkdtemp(prefix="fg-deb-")
        src = os.path.join(cls.tmp, "fieldgate")
        copy_tree(src)
        t0 = time.monotonic()
        env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2", LC_ALL="C.UTF-8")
        env.pop("MESON_TESTTHREADS", None)
        r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b", "-Pnocheck"], cwd=src, env=env,
                           capture_output=True, text=True)
        cls.build_seconds = time.monotonic() - t0
        if r.returncode != 0:
            shutil.rmtree(cls.tmp, True)
            raise AssertionError("dpkg-buildpackage failed:\n" + (r.stdout + r.stderr)[-6000:])
        cls.deb = glob.glob(os.path.join(cls.tmp, "fieldgate_*.deb"))[0]
        cls.changes = glob.glob(os.path.join(cls.tmp, "fieldgate_*.changes"))[0]
        cls.root = os.path.join(cls.tmp, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)
        cls.control = os.path.join(cls.tmp, "control")
        subprocess.run(["dpkg-deb", "-e", cls.deb, cls.control], check=True)
        print("package built in %.0f s: %s" % (cls.build_seconds, os.path.basename(cls.deb)), flush=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def test_lintian(self):
        t0 = time.monotonic()
        r = subprocess.run(["lintian", "--fail-on", "error", "--no-tag-display-limit", self.changes],
                           capture_output=True, text=True)
        print("lintian took %.0f s" % (time.monotonic() - t0), flush=True)
        tags = r.stdout.splitlines()
        print("\n".join(tags))
        self.assertEqual([t for t in tags if t.startswith("E:")], [])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_files(self):
        for p, mode in (("/usr/bin/fieldgate", 0o755),
                        ("/lib/systemd/system/fieldgate.service", 0o644),
                        ("/lib/systemd/system/fieldgate-update.service", 0o644),
                        ("/usr/share/polkit-1/rules.d/fieldgate.rules", 0o644),
                        ("/usr/lib/sysusers.d/fieldgate.conf", 0o644),
                        ("/usr/lib/tmpfiles.d/fieldgate.conf", 0o644),
                        ("/etc/fieldgate/fieldgate.yaml", 0o640),
                        ("/etc/fieldgate/objects", 0o755),
                        ("/usr/share/fieldgate/objects/26241.xml", 0o644),
                        ("/usr/share/fieldgate/objects/26242.xml", 0o644),
                        ("/etc/fieldgate/devices.d", 0o755),
                        ("/etc/fieldgate/credentials", 0o700),
                        ("/usr/share/fieldgate/fieldgate.yaml.example", 0o644),
                        ("/usr/share/fieldgate/status.schema.json", 0o644),
                        ("/usr/share/fieldgate/profiles/eastron-sdm120.yaml", 0o644),
                        ("/usr/share/fieldgate/profiles/example.yaml", 0o644),
                        ("/usr/share/man/man8/fieldgate.8.gz", 0o644),
                        ("/usr/share/man/man5/fieldgate.yaml.5.gz", 0o644),
                        ("/usr/share/man/man5/fieldgate-profile.5.gz", 0o644),
                        ("/usr/share/bash-completion/completions/fieldgate", 0o644),
                        ("/usr/share/doc/fieldgate/copyright", 0o644),
                        ("/usr/share/doc/fieldgate/README.Debian", 0o644)):
            self.assertTrue(os.path.lexists(self.path(p)), p)
            self.assertEqual(os.lstat(self.path(p)).st_mode & 0o7777, mode, p)
        with open(self.path("/etc/fieldgate/fieldgate.yaml"), "rb") as a, \
                open(self.path("/usr/share/fieldgate/fieldgate.yaml.example"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        # Nothing of the tests.
        names = [f for _, _, fs in os.walk(self.root) for f in fs]
        self.assertFalse([n for n in names if n.startswith("test_") or n.startswith("fg-lwm2m")], names)
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(sorted(f.read().split()), ["/etc/fieldgate/fieldgate.yaml"])

    def test_maintainer_scripts(self):
        with open(os.path.join(self.control, "postinst")) as f:
            post = f.read()
        # The user first, then the folders and the configuration's group,
        # then the unit: enabled (and started: ExecCondition= skips it).
        user = post.index("systemd-sysusers")
        tmpfiles = post.index("systemd-tmpfiles")
        enable = post.index("deb-systemd-helper enable")
        start = post.index("deb-systemd-invoke")
        self.assertLess(user, tmpfiles)
        self.assertLess(tmpfiles, enable)
        self.assertLess(enable, start)
        self.assertIn("fieldgate.service", post[enable:])
        # The install unit runs dpkg on this package: never started, enabled
        # or stopped by the package's own scripts (it would stop the install
        # that runs them).
        scripts = {}
        for name in ("preinst", "postinst", "prerm", "postrm"):
            p = os.path.join(self.control, name)
            if os.path.exists(p):
                with open(p) as f:
                    scripts[name] = f.read()
        for name, text in scripts.items():
            for line in text.splitlines():
                if "fieldgate-update" in line:
                    self.assertNotRegex(line, r"deb-systemd-invoke|deb-systemd-helper (enable|.*start)",
                                        (name, line))

    def test_update_unit_and_rule(self):
        """fieldgate-update.service runs the subcommand as root on the
        installed configuration; the polkit rule lets the fieldgate user
        start that unit and nothing else (the rule run in node with the
        objects polkitd gives it)."""
        with open(self.path("/lib/systemd/system/fieldgate-update.service")) as f:
            unit = f.read()
        self.assertRegex(unit, r"(?m)^Type=oneshot$")
        self.assertRegex(unit, r"(?m)^ExecStart=/usr/bin/fieldgate install-update -c /etc/fieldgate/fieldgate.yaml$")
        self.assertRegex(unit, r"(?m)^TimeoutStartSec=\S+$")
        self.assertNotRegex(unit, r"(?m)^\[Install\]")
        self.assertNotRegex(unit, r"(?m)^User=(?!root$)")
        node = shutil.which("node") or shutil.which("nodejs")
        if not node:
            self.skipTest("node is not installed: the rule's logic is not run")
        rule = self.path("/usr/share/polkit-1/rules.d/fieldgate.rules")
        js = """
const fs = require('fs');
let rules = [];
const polkit = {Result: {YES: 'yes', NO: 'no'}, addRule: f => rules.push(f)};
eval(fs.readFileSync(process.argv[1], 'utf8'));
const ask = (id, user, unit, verb) => rules.map(r => r(
    {id: id, lookup: k => ({unit: unit, verb: verb})[k]}, {user: user})).find(x => x) || 'none';
console.log(JSON.stringify([
  ask('org.freedesktop.systemd1.manage-units', 'fieldgate', 'fieldgate-update.service', 'start'),
  ask('org.freedesktop.systemd1.manage-units', 'fieldgate', 'fieldgate-update.service', 'stop'),
  ask('org.freedesktop.systemd1.manage-units', 'fieldgate', 'fieldgate-update.service', 'restart'),
  ask('org.freedesktop.systemd1.manage-units', 'fieldgate', 'ssh.service', 'start'),
  ask('org.freedesktop.systemd1.manage-units', 'fieldgate', 'run-u1.service', 'start'),
  ask('org.freedesktop.systemd1.manage-units', 'nobody', 'fieldgate-update.service', 'start'),
  ask('org.freedesktop.systemd1.manage-unit-files', 'fieldgate', 'fieldgate-update.service', 'start'),
  ask('org.freedesktop.login1.reboot', 'fieldgate', undefined, undefined),
]));
"""
        r = subprocess.run([node, "-e", js, rule], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), '["yes","none","none","none","none","none","none","none"]')

    def test_installed_check_on_installed_example(self):
        fg = self.path("/usr/bin/fieldgate")
        r = subprocess.run([fg, "--version"], capture_output=True, text=True)
        self.assertRegex(r.stdout, r"^fieldgate \S+\nbridges: modbus mqtt ble\n$")
        conf = self.path("/etc/fieldgate/fieldgate.yaml")
        creds = os.path.join(self.tmp, "credentials")
        os.makedirs(creds, 0o700, exist_ok=True)
        fd = os.open(os.path.join(creds, "fieldgate_lwm2m-psk"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"000102030405060708090a0b0c0d0e0f\n")
        os.close(fd)
        r = subprocess.run([fg, "check", "-c", conf], capture_output=True, text=True,
                           env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration is valid. Gateway 'edge-router-01'", r.stdout)
        # Only the state folder's warning (it is made when the service runs).
        self.assertEqual([l for l in r.stderr.splitlines() if "state_dir" not in l], [])
        # The man page renders from the package.
        r = subprocess.run(["man", "-l", self.path("/usr/share/man/man8/fieldgate.8.gz")], capture_output=True,
                           text=True, env=dict(os.environ, MANWIDTH="80"))
        self.assertIn("fieldgate - make Modbus", r.stdout)
        self.assertIn("/etc/fieldgate/fieldgate.yaml", r.stdout)

    def test_not_started_until_configured(self):
        with open(self.path("/lib/systemd/system/fieldgate.service")) as f:
            unit = f.read()
        cond = re.search(r"^ExecCondition=(.*)$", unit, re.M).group(1)
        self.assertIn("/etc/fieldgate/fieldgate.yaml", cond)
        self.assertIn("/usr/share/fieldgate/fieldgate.yaml.example", cond)
        # Rerooted into the scratch root, run as systemd would (an exit
        # status 1..254 skips the start without failing the unit).
        argv = [re.sub(r"(/etc/fieldgate|/usr/share/fieldgate)", lambda m: self.path(m.group(1)), a)
                for a in re.findall(r"'[^']*'|\S+", cond)]
        argv = [a[1:-1] if a.startswith("'") else a for a in argv]
        self.assertEqual(subprocess.run(argv).returncode, 1)
        conf = self.path("/etc/fieldgate/fieldgate.yaml")
        with open(conf) as f:
            text = f.read()
        try:
            with open(conf, "w") as f:
                f.write(text.replace("name: edge-router-01", "name: router-7"))
            self.assertEqual(subprocess.run(argv).returncode, 0)
            os.unlink(conf)  # gone: the start goes on, and check says why
            self.assertEqual(subprocess.run(argv, stderr=subprocess.DEVNULL).returncode, 0)
        finally:
            with open(conf, "w") as f:
                f.write(text)
            os.chmod(conf, 0o640)


def main():
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
