#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of the fieldgate command: CLI, `check` on good and broken
configurations (exact file:line:col messages from tests/gateway/data/*.expected),
and `run` under a fake systemd: a notify socket for READY/STATUS/WATCHDOG/
RELOADING/STOPPING, SIGHUP with a broken then a valid configuration, SIGTERM.

Usage: test_fieldgate.py PATH/TO/fieldgate   (meson passes it)
Prints one closing line "N passed, N failed" and exits non-zero on failure.
"""
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

FIELDGATE = None
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
TIMEOUT = 20.0  # generous: sanitizer builds start slowly


def project_version():
    with open(os.path.join(SOURCE, "meson.build")) as f:
        m = re.search(r"version:\s*'([^']+)'", f.read())
    return m.group(1)


def fg(*args, **kw):
    return subprocess.run([FIELDGATE, *args], capture_output=True, text=True, timeout=60, **kw)


def built_bridges():
    """The bridge types of this build, from `fieldgate --version`."""
    for line in fg("--version").stdout.splitlines():
        if line.startswith("bridges:"):
            return [t for t in line.split()[1:] if t != "none"]
    return []


USAGE_HINT = "Try 'fieldgate --help' for more information.\n"


class Cli(unittest.TestCase):
    def test_version(self):
        r = fg("--version")
        self.assertEqual(r.returncode, 0)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "fieldgate %s" % project_version())
        self.assertRegex(lines[1], r"^bridges:( none| modbus| mqtt| ble)+$")
        self.assertEqual(len(lines), 2)
        self.assertEqual(r.stderr, "")
        self.assertEqual(fg("-V").stdout, r.stdout)

    def test_help(self):
        r = fg("--help")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "Usage: fieldgate [OPTIONS] COMMAND")
        for needle in ("  run ", "  check ", "  help ", "  -c, --config=FILE ", "  -l, --log-level=LEVEL ",
                       "  -t, --log-target=TGT ", "  -h, --help ", "  -V, --version "):
            self.assertTrue(any(l.startswith(needle) for l in lines), needle)
        self.assertRegex(r.stdout, r"Configuration file \(default: /\S+/fieldgate/fieldgate\.yaml\)")
        # -h and the help command print the same text.
        self.assertEqual(fg("-h").stdout, r.stdout)
        self.assertEqual(fg("help").stdout, r.stdout)

    def usage_error(self, args, message):
        r = fg(*args)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "fieldgate: %s\n%s" % (message, USAGE_HINT))

    def test_unknown_option(self):
        self.usage_error(["--bogus"], "unknown option '--bogus'")
        self.usage_error(["check", "-x"], "unknown option '-x'")

    def test_unknown_command(self):
        self.usage_error(["frobnicate"], "unknown command 'frobnicate'")

    def test_missing_command(self):
        self.usage_error([], "missing command (run, check, status or help)")

    def test_extra_argument(self):
        self.usage_error(["check", "more"], "unexpected argument 'more'")

    def test_missing_option_argument(self):
        self.usage_error(["check", "-c"], "option '-c' needs an argument")
        self.usage_error(["check", "--config"], "option '--config' needs an argument")

    def test_bad_log_options(self):
        self.usage_error(["--log-level=loud", "check"],
                         "invalid log level 'loud' (expected one of: err, warning, notice, info, debug)")
        self.usage_error(["-t", "syslog", "run"],
                         "invalid log target 'syslog' (expected one of: auto, stderr, journal)")


def without_state_dir_warning(stderr):
    """stderr of `check` less the warning that gateway.state_dir does not
    exist yet (`run` creates it): whether it does depends on the machine."""
    return "".join(l for l in stderr.splitlines(True)
                   if not re.match(r"^\S+:\d+:\d+: warning: state_dir '[^']*' does not exist", l))


class Check(unittest.TestCase):
    def test_demo(self):
        path = os.path.join(SOURCE, "conf", "demo.yaml")
        r = fg("check", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(without_state_dir_warning(r.stderr), "")
        out = r.stdout
        self.assertTrue(out.startswith(
            "%s: configuration is valid. Gateway 'demo-gw' in endpoint mode (endpoint names "
            "'{gateway}-{device}'), lifetime 5m, state in /tmp/fieldgate-demo; 1 LwM2M server "
            "(coap://127.0.0.1:5683 nosec); 2 bridges, 4 devices; " % path), out)
        self.assertRegex(out, r"; \d+ object definitions known \(3 loaded from .*/conf/objects\)\.\n$")
        self.assertEqual(out.count("\n"), 1)  # one paragraph

    def test_example(self):
        # The example keeps its PSK out of the file, as the systemd
        # credential fieldgate_lwm2m-psk: valid with the credential (as
        # the service sees it), at any mode since it holds no secret.
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(SOURCE, "conf"), os.path.join(tmp, "conf"))
            path = os.path.join(tmp, "conf", "fieldgate.yaml")
            creds = os.path.join(tmp, "credentials")
            os.mkdir(creds, 0o700)
            fd = os.open(os.path.join(creds, "fieldgate_lwm2m-psk"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"000102030405060708090a0b0c0d0e0f\n")
            os.close(fd)
            os.chmod(path, 0o644)
            r = fg("check", "-c", path, env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(without_state_dir_warning(r.stderr), "")
            self.assertIn("Gateway 'edge-router-01' in endpoint mode", r.stdout)
            self.assertIn("2 LwM2M servers (coaps://lwm2m.example.com:5684 psk, "
                          "coaps://[2001:db8::10]:5684 certificate)", r.stdout)
            # Without it: said where, and what to do.
            if not os.path.exists("/run/credentials/fieldgate.service"):
                r = fg("check", "-c", path, env=dict(os.environ, CREDENTIALS_DIRECTORY=""))
                self.assertEqual(r.returncode, 1)
                with open(path) as f:
                    line = 1 + next(i for i, l in enumerate(f) if l.startswith("      psk_key_credential:"))
                self.assertRegex(r.stderr, r"^%s:%d:27: psk_key_credential: systemd credential "
                                 r"'fieldgate_lwm2m-psk' not found" % (re.escape(path), line))

    def test_every_error_has_a_position(self):
        # Bytes a YAML reader refuses or stumbles on, put into the demo
        # configuration at several places: whatever the error, `check`
        # names file:line:col (the last line is the count).
        with open(os.path.join(SOURCE, "conf", "demo.yaml"), "rb") as f:
            demo = f.read()
        bad = [b"\x00", b"\x01", b"\x07", b"\x1b[31m", b"\x7f", b"\xc2\x80", b"\xc2\x9f", b"\xff", b"\xfe",
               b"\xc3\x28", b"\xe2\x82", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc", b"\xc0\xaf", b"\xed\xa0\x80",
               b"\xef\xbf\xbe", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b"\xff\xfe", b"\t", b"\t- x\n", b"\r",
               b"\r\r\n\t", b"\xc2\x85", b"\xe2\x80\xa8"]
        lines = demo.split(b"\n")
        cases = [b"\xef\xbb\xbf" + demo, b"\xff\xfe" + demo, b"\xfe\xff" + demo, b"\xff\xfe\x00",
                 "gateway:\n  name: gw\n".encode("utf-16-le"), b"\xef\xbb\xbf\xef\xbb\xbf" + demo]
        for i, b in enumerate(bad):
            for at in (0, 9, 10, 27, len(lines) // 2, len(lines) - 2):
                where = lines[:at] + [lines[at][:(i * 7) % (len(lines[at]) + 1)] + b +
                                      lines[at][(i * 7) % (len(lines[at]) + 1):]] + lines[at + 1:]
                cases.append(b"\n".join(where))
            cases.append(demo + b)
        with tempfile.TemporaryDirectory() as tmp:
            os.symlink(os.path.join(SOURCE, "mappings"), os.path.join(tmp, "mappings"))
            conf = os.path.join(tmp, "conf")
            shutil.copytree(os.path.join(SOURCE, "conf", "objects"), os.path.join(conf, "objects"))
            path = os.path.join(conf, "demo.yaml")
            at_position = re.compile(r"^%s:\d+:\d+: " % re.escape(path))
            failed = 0
            for case in cases:
                with open(path, "wb") as f:
                    f.write(case)
                r = fg("check", "-c", path)
                errors = r.stderr.splitlines()
                if r.returncode == 0:
                    continue  # some are fine YAML (a tab in a scalar, a BOM)
                failed += 1
                self.assertRegex(errors[-1], r"^%s: \d+ errors?, \d+ warnings?$" % re.escape(path))
                for line in errors[:-1]:
                    self.assertRegex(line, at_position, case)
            self.assertGreater(failed, len(cases) // 2)

    def test_missing_file(self):
        path = os.path.join(DATA, "does-not-exist.yaml")
        r = fg("check", "-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "%s: cannot open: No such file or directory\n"
                                   "%s: 1 error, 0 warnings\n" % (path, path))

    def test_default_path(self):
        # Without -c the file named in --help is read.
        default = re.search(r"\(default: (\S+)\)", fg("--help").stdout).group(1)
        if os.path.exists(default):
            self.skipTest("%s exists on this machine" % default)
        r = fg("check")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("%s: cannot open: " % default), r.stderr)

    def test_ddf_errors(self):
        # Problems in objects_dir's DDF files are errors too, at their own
        # file:line:col (the message text is the DDF loader's).
        path = os.path.join(DATA, "ddf_error.yaml")
        r = fg("check", "-c", path)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.splitlines()
        self.assertRegex(lines[0], r"^%s:17:\d+: .*Flaot" %
                         re.escape(os.path.join(DATA, "objects-bad", "26242.xml")))
        self.assertEqual(lines[-1], "%s: 1 error, 0 warnings" % path)

    def test_missing_objects_dir(self):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "c.yaml")
            with open(cfg, "w") as f:
                f.write("gateway:\n  name: gw\n  objects_dir: nowhere\n  state_dir: %s\n"
                        "lwm2m:\n  servers:\n    - uri: coap://[::1]\n" % tmp)
            r = fg("check", "-c", cfg)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr,
                             "%s:3:16: cannot read objects_dir '%s/nowhere': No such file or directory\n"
                             "%s: 1 error, 0 warnings\n" % (cfg, tmp, cfg))


SECRET_KEY = re.compile(r"\b(psk_key|password|bindkey)\s*:")


def add_broken_config_cases():
    """One test per tests/gateway/data/NAME.yaml with a NAME.expected: the
    exact stderr of `fieldgate check` ({path} stands for the file, {data} for
    its folder), exit 1."""
    for name in sorted(os.listdir(DATA)):
        if not name.endswith(".expected"):
            continue
        base = name[:-len(".expected")]

        def case(self, base=base):
            path = os.path.join(DATA, base + ".yaml")
            with open(path) as f:
                text = f.read()
            if SECRET_KEY.search(text):
                # Only its owner may read a file holding a secret, whatever
                # mode the checkout gave it: a private copy.
                tmp = tempfile.mkdtemp(prefix="fg-check-")
                self.addCleanup(shutil.rmtree, tmp, True)
                path = os.path.join(tmp, base + ".yaml")
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                    f.write(text)
            with open(os.path.join(DATA, base + ".expected")) as f:
                expected = f.read().replace("{path}", path).replace("{data}", DATA)
            # A bridge type this build has is no error: drop those lines
            # and count them off the total.
            lines = expected.splitlines(True)
            kept = [l for l in lines if not any("bridge type '%s' is not available" % t in l
                                                for t in built_bridges())]
            gone = len(lines) - len(kept)
            expected = "".join(kept)
            if gone:
                expected = re.sub(r": (\d+) errors?, ",
                                  lambda m: ": %d error%s, " % (int(m.group(1)) - gone,
                                                                "" if int(m.group(1)) - gone == 1 else "s"),
                                  expected)
            r = fg("check", "-c", path)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "")
            self.assertEqual(r.stderr, expected)

        setattr(Check, "test_broken_" + base, case)


add_broken_config_cases()


GOOD = """gateway:
  name: gw-one
  state_dir: /tmp/fieldgate-test
log:
  level: {level}
lwm2m:
  mode: endpoint
  lifetime: 1m
  servers:
    - uri: coap://127.0.0.1:5683
devices: []
"""

BROKEN = """gateway:
  name: gw-one
  nmae: typo
lwm2m:
  servers:
    - uri: coap://127.0.0.1:99999
"""

SECOND = """gateway:
  name: gw-two
lwm2m:
  mode: gateway
  servers:
    - uri: coap://127.0.0.1:5683
    - uri: coap://127.0.0.1:5685
"""


class Daemon:
    """fieldgate run with a notify socket and its stderr collected line by line."""

    def __init__(self, config_text, extra_args=(), env=None, mode=0o600):
        self.tmp = tempfile.mkdtemp(prefix="fg-run-")
        self.config = os.path.join(self.tmp, "fieldgate.yaml")
        self.write_config(config_text, mode)
        self.sock_path = os.path.join(self.tmp, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.notes = []
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        e.pop("WATCHDOG_PID", None)
        e["NOTIFY_SOCKET"] = self.sock_path
        # The status socket goes there, as under systemd's RuntimeDirectory=.
        e["RUNTIME_DIRECTORY"] = self.tmp
        e.update(env or {})
        self.proc = subprocess.Popen([FIELDGATE, "run", "-c", self.config, *extra_args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=e)
        self.lines = queue.Queue()
        self.log = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def write_config(self, text, mode=0o600):
        # Replace atomically, as an editor or config management would.
        tmp = self.config + ".new"
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, self.config)

    def wait_notify(self, pred, timeout=TIMEOUT):
        """Next notify message (as a dict) for which pred is true."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching notification; got %r" % self.notes)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            msg = dict(l.split("=", 1) for l in data.split("\n") if "=" in l)
            self.notes.append(msg)
            if pred(msg):
                return msg

    def notes_sent(self):
        """The raw notify messages not read yet, without waiting (after the
        process ended)."""
        self.sock.settimeout(0)
        msgs = []
        try:
            while True:
                msgs.append(self.sock.recv(4096).decode())
        except (BlockingIOError, socket.timeout):
            pass
        return msgs

    def wait_log(self, text, timeout=TIMEOUT):
        """Wait for a stderr line equal to text (or matching it, if a regex)."""
        deadline = time.monotonic() + timeout
        for seen in self.log:
            if self._match(text, seen):
                return seen
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("log line %r not seen; got:\n%s" % (text, "\n".join(self.log)))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("stderr closed before %r; got:\n%s" % (text, "\n".join(self.log)))
            self.log.append(line)
            if self._match(text, line):
                return line

    @staticmethod
    def _match(text, line):
        return text.match(line) if isinstance(text, re.Pattern) else text == line

    def drain_log(self):
        """Collect the rest of stderr (after the process ended)."""
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                break
            if line is None:
                break
            self.log.append(line)
        return self.log

    def wait_exit(self, timeout=TIMEOUT):
        return self.proc.wait(timeout=timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(TIMEOUT)
        self.proc.stderr.close()
        self.sock.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Run(unittest.TestCase):
    def start(self, config_text, extra_args=(), env=None, mode=0o600):
        d = Daemon(config_text, extra_args, env, mode)
        self.addCleanup(d.close)
        return d

    def test_lifecycle(self):
        d = self.start(GOOD.format(level="info"), env={"WATCHDOG_USEC": "400000"})
        ready = d.wait_notify(lambda m: m.get("READY") == "1")
        self.assertRegex(ready.get("STATUS", ""),
                         r"^0 devices, 0 registered; gateway endpoint not registered$")
        d.wait_log(re.compile(r"^<5>fieldgate \S+ ready: 0 devices, 0 registered"))
        # Startup says what was loaded.
        d.wait_log("<6>Gateway 'gw-one': LwM2M mode endpoint, lifetime 1m, state directory /tmp/fieldgate-test")
        d.wait_log("<6>LwM2M server coap://127.0.0.1:5683 (security nosec)")
        d.wait_log(re.compile(r"^<6>\d+ object definitions known$"))
        # sd-event pings the watchdog because $WATCHDOG_USEC asks for it.
        d.wait_notify(lambda m: m.get("WATCHDOG") == "1")

        # A broken file on SIGHUP: errors logged, the daemon keeps running.
        d.write_config(BROKEN)
        d.proc.send_signal(signal.SIGHUP)
        rel = d.wait_notify(lambda m: m.get("RELOADING") == "1")
        self.assertRegex(rel.get("MONOTONIC_USEC", ""), r"^\d+$")
        d.wait_log("<3>%s:3:3: unknown key 'nmae' in 'gateway', did you mean 'name'? "
                   "(accepted keys: name, state_dir, objects_dir, profiles_path, status_socket, devices_dir, reboot)" % d.config)
        d.wait_log("<3>%s:6:12: invalid URI 'coap://127.0.0.1:99999' for 'lwm2m.servers[0].uri': "
                   "port 99999 is out of range (1..65535)" % d.config)
        d.wait_log("<3>Configuration %s has 2 errors, keeping the running configuration" % d.config)
        again = d.wait_notify(lambda m: m.get("READY") == "1")
        self.assertEqual(again.get("STATUS"), ready.get("STATUS"))
        self.assertIsNone(d.proc.poll())

        # A valid one: taken.
        d.write_config(SECOND)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_notify(lambda m: m.get("RELOADING") == "1")
        new = d.wait_notify(lambda m: m.get("READY") == "1")
        self.assertRegex(new.get("STATUS", ""), r"^0 devices, 0 registered; gateway endpoint not registered$")
        d.wait_log("<6>Configuration %s is valid, applying the differences" % d.config)
        d.wait_log("<6>LwM2M settings changed: every endpoint registers again")
        d.wait_log("<6>LwM2M server coap://127.0.0.1:5685 (security nosec)")
        self.assertIsNone(d.proc.poll())

        d.proc.send_signal(signal.SIGTERM)
        d.wait_notify(lambda m: m.get("STOPPING") == "1")
        self.assertEqual(d.wait_exit(), 0)
        log = d.drain_log()
        self.assertIn("<6>Received SIGTERM, de-registering and stopping", log)
        self.assertEqual(log[-1], "<6>Stopped")

    def test_sigint(self):
        d = self.start(GOOD.format(level="info"))
        d.wait_notify(lambda m: m.get("READY") == "1")
        d.proc.send_signal(signal.SIGINT)
        self.assertEqual(d.wait_exit(), 0)
        self.assertIn("<6>Received SIGINT, de-registering and stopping", d.drain_log())

    def test_invalid_config_does_not_start(self):
        d = self.start(BROKEN)
        self.assertEqual(d.wait_exit(), 1)
        log = d.drain_log()
        self.assertIn("<3>%s:3:3: unknown key 'nmae' in 'gateway', did you mean 'name'? "
                      "(accepted keys: name, state_dir, objects_dir, profiles_path, status_socket, devices_dir, reboot)" % d.config, log)
        self.assertEqual(log[-1], "<3>Configuration %s has 2 errors, not starting" % d.config)
        msgs = d.notes_sent()
        self.assertFalse(any("READY=1" in m for m in msgs), msgs)
        self.assertTrue(any(m.startswith("STATUS=Invalid configuration") for m in msgs), msgs)

    def test_log_level_from_config_and_cli(self):
        # log.level: debug from the file reaches the logger...
        d = self.start(GOOD.format(level="debug"), env={"WATCHDOG_USEC": "10000000"})
        d.wait_notify(lambda m: m.get("READY") == "1")
        d.wait_log("<7>Watchdog enabled")
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        # ...and --log-level overrides it: nothing below warning is written.
        d = self.start(GOOD.format(level="debug"), extra_args=["--log-level=warning"])
        d.wait_notify(lambda m: m.get("READY") == "1")
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        # Only warnings and errors (the LwM2M server of this test is not
        # there, so registration failures may be warned about).
        self.assertEqual([l for l in d.drain_log() if not re.match(r"<[34]>", l)], [])


class StateDir(unittest.TestCase):
    """gateway.state_dir: `run` creates a missing one (0700) or does not
    start; `check` says what run will find."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fg-state-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def config(self, state):
        return GOOD.format(level="info").replace("/tmp/fieldgate-test", state)

    def check(self, state):
        path = os.path.join(self.tmp, "c.yaml")
        with open(path, "w") as f:
            f.write(self.config(state))
        return path, fg("check", "-c", path)

    def test_check(self):
        state = os.path.join(self.tmp, "a", "b", "state")
        path, r = self.check(state)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "%s:3:14: warning: state_dir '%s' does not exist: `fieldgate run` creates "
                                   "it (mode 0700)\n" % (path, state))
        self.assertFalse(os.path.exists(state))  # check changes nothing
        os.makedirs(state)
        self.assertEqual(self.check(state)[1].stderr, "")
        # A file where the directory should be, or on its way: errors.
        afile = os.path.join(self.tmp, "file")
        open(afile, "w").close()
        path, r = self.check(afile)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines()[0], "%s:3:14: state_dir '%s' is not a directory (expected a "
                         "directory fieldgate can write to)" % (path, afile))
        path, r = self.check(afile + "/state")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.splitlines()[0], "%s:3:14: state_dir '%s/state': a part of the path is not a "
                         "directory (expected a directory fieldgate can write to)" % (path, afile))
        if os.geteuid() != 0:  # root may write anywhere
            ro = os.path.join(self.tmp, "ro")
            os.mkdir(ro, 0o500)
            path, r = self.check(ro)
            self.assertEqual(r.returncode, 0)
            self.assertEqual(r.stderr, "%s:3:14: warning: state_dir '%s' is not writable by this user (uid %d): "
                             "Permission denied; `fieldgate run` needs to write there\n" % (path, ro, os.geteuid()))

    def test_run_creates_it(self):
        state = os.path.join(self.tmp, "a", "b", "state")
        d = Daemon(self.config(state))
        self.addCleanup(d.close)
        d.wait_notify(lambda m: m.get("READY") == "1")
        d.wait_log("<6>Created the state directory %s (mode 0700)" % state)
        st = os.stat(state)
        self.assertEqual((st.st_mode & 0o777, st.st_uid), (0o700, os.geteuid()))
        # Changed by a reload: the client keeps the one it started with.
        other = os.path.join(self.tmp, "other")
        d.write_config(self.config(other))
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("<4>gateway.state_dir changed: the LwM2M client keeps using %s until the next start" % state)
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        # There already: used as it is.
        d = Daemon(self.config(state))
        self.addCleanup(d.close)
        d.wait_notify(lambda m: m.get("READY") == "1")
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)
        self.assertFalse([l for l in d.drain_log() if "Created the state directory" in l])

    def test_run_refuses_unusable(self):
        afile = os.path.join(self.tmp, "file")
        open(afile, "w").close()
        for state in (afile, afile + "/state"):
            d = Daemon(self.config(state))
            self.addCleanup(d.close)
            self.assertEqual(d.wait_exit(), 1)
            self.assertEqual(d.drain_log()[-1], "<3>Cannot create the state directory %s (gateway.state_dir): "
                             "Not a directory" % state)
            msgs = d.notes_sent()
            self.assertIn("STATUS=State directory %s unusable" % state, msgs)
            self.assertFalse(any("READY=1" in m for m in msgs), msgs)


# Secrets: a psk_key (of a server and of a device), an MQTT password, a BLE
# bindkey in the file; a private key and an MQTT client key in files.
def secret_config(tmp):
    lines = ["gateway:", "  name: gw", "  state_dir: %s/state" % tmp,
             "  profiles_path: %s" % os.path.join(SOURCE, "mappings", "profiles"),
             "lwm2m:", "  servers:",
             "    - uri: coaps://127.0.0.1:5684",
             "      security: psk",
             "      psk_identity: gw",
             "      psk_key: 000102030405",
             "    - uri: coaps://127.0.0.2:5684",
             "      security: certificate",
             "      certificate: %s/gw.crt" % tmp,
             "      private_key: %s/gw.key" % tmp,
             "      ca_certificate: %s/ca.crt" % tmp]
    secrets = 2
    bridges = built_bridges()
    if "mqtt" in bridges or "ble" in bridges:
        lines.append("bridges:")
    if "mqtt" in bridges:
        lines += ["  broker:", "    type: mqtt", "    host: 127.0.0.1", "    username: gw",
                  "    password: s3cret", "    tls:", "      ca: %s/ca.crt" % tmp,
                  "      cert: %s/gw.crt" % tmp, "      key: %s/mqtt.key" % tmp]
        secrets += 1
    if "ble" in bridges:
        lines += ["  bt:", "    type: ble"]
    lines += ["devices:", "  - {name: d1, profile: demo-sensor, psk_identity: d1, psk_key: 0a0b}"]
    if "ble" in bridges:
        lines.append("  - {name: s1, bridge: bt, profile: bthome-sensor, "
                     "address: {mac: \"A4:C1:38:0D:4E:21\", bindkey: %s}}" % ("ab" * 16))
        secrets += 1
    for name in ("gw.crt", "ca.crt", "gw.key", "mqtt.key"):
        with open(os.path.join(tmp, name), "w") as f:
            f.write("not really PEM\n")
    return "\n".join(lines) + "\n", secrets


def loose_message(path, what, mode):
    """What fieldgate says of a secret in path (mode): its owner decides."""
    st = os.stat(path)
    readers = "others" if mode & 0o004 else "its group"
    if st.st_uid == 0:
        return "%s readable by %s (mode %04o): chmod 600 %s (or 640 with the service's group: chgrp fieldgate %s)" % (
            what, readers, mode, path, path)
    return ("%s readable by %s (mode %04o, owner uid %d): chmod 600 %s (a group may read a secret only in "
            "a file of root: root:fieldgate 0640)" % (what, readers, mode, st.st_uid, path))


class Secrets(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fg-secrets-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.text, self.nsecrets = secret_config(self.tmp)
        os.mkdir(os.path.join(self.tmp, "state"))
        self.path = os.path.join(self.tmp, "fieldgate.yaml")
        with open(self.path, "w") as f:
            f.write(self.text)

    def expected(self, config_mode, key_mode, mqtt_key_mode):
        """The messages of `check` for these modes of the file, gw.key, mqtt.key."""
        os.chmod(self.path, config_mode)
        os.chmod(os.path.join(self.tmp, "gw.key"), key_mode)
        os.chmod(os.path.join(self.tmp, "mqtt.key"), mqtt_key_mode)
        lines = self.text.splitlines()
        out = []
        if config_mode & 0o044 and (config_mode & 0o004 or os.stat(self.path).st_uid != 0):
            more = self.nsecrets - 1
            out.append("%s:10:16: " % self.path + loose_message(
                self.path, "lwm2m.servers[0].psk_key (and %d more secrets) in a file" % more, config_mode))
        key = os.path.join(self.tmp, "gw.key")
        if key_mode & 0o044 and (key_mode & 0o004 or os.stat(key).st_uid != 0):
            out.append("%s:14:20: " % self.path + loose_message(key, "lwm2m.servers[1].private_key file '%s' is" % key, key_mode))
        mkey = os.path.join(self.tmp, "mqtt.key")
        if "mqtt" in built_bridges() and mqtt_key_mode & 0o044 and (mqtt_key_mode & 0o004 or os.stat(mkey).st_uid != 0):
            line = 1 + next(i for i, l in enumerate(lines) if "mqtt.key" in l)
            out.append("%s:%d:12: " % (self.path, line) + loose_message(mkey, "bridges.broker.tls.key file '%s' is" % mkey, mqtt_key_mode))
        return out

    def test_check(self):
        for modes in ((0o644, 0o644, 0o604), (0o600, 0o640 if os.geteuid() else 0o644, 0o600),
                      (0o640, 0o600, 0o600), (0o600, 0o600, 0o600)):
            want = self.expected(*modes)
            r = fg("check", "-c", self.path)
            got = [l for l in r.stderr.splitlines() if not l.startswith(self.path + ": ")]
            self.assertEqual(got, want, "modes %r: %s" % (modes, r.stderr))
            self.assertEqual(r.returncode, 1 if want else 0, r.stderr)
        # root may let its group read: the service reads through it.
        if os.geteuid() == 0:
            os.chmod(self.path, 0o640)
            r = fg("check", "-c", self.path)
            self.assertEqual(r.returncode, 0, r.stderr)
            os.chown(self.path, 65534, -1)
            r = fg("check", "-c", self.path)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("in a file readable by its group (mode 0640, owner uid 65534)", r.stderr)

    def test_run_and_reload(self):
        want = self.expected(0o644, 0o600, 0o600)
        d = Daemon(self.text, mode=0o644)
        self.addCleanup(d.close)
        self.assertEqual(d.wait_exit(), 1)
        log = d.drain_log()
        self.assertIn("<3>" + want[0].replace(self.path, d.config), log)
        self.assertEqual(log[-1], "<3>Configuration %s has 1 error, not starting" % d.config)

        # Running: a reload to a file others can read keeps what runs.
        d = Daemon(GOOD.format(level="info"))
        self.addCleanup(d.close)
        d.wait_notify(lambda m: m.get("READY") == "1")
        d.write_config(self.text, 0o644)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("<3>" + want[0].replace(self.path, d.config))
        d.wait_log("<3>Configuration %s has 1 error, keeping the running configuration" % d.config)
        self.assertIsNone(d.proc.poll())
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)


def main():
    global FIELDGATE
    if len(sys.argv) < 2:
        print("usage: test_fieldgate.py PATH/TO/fieldgate", file=sys.stderr)
        return 2
    FIELDGATE = os.path.abspath(sys.argv.pop(1))
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    passed = res.testsRun - failed - len(res.skipped)
    line = "%d passed, %d failed" % (passed, failed)
    if res.skipped:
        line += ", %d skipped" % len(res.skipped)
    print(line)
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
