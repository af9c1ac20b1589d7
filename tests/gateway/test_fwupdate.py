#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Object 5 Firmware Update of the gateway's own endpoint (issue 16 item 1),
end to end against fg-lwm2m-server and a local HTTP file server:

- a package written to /5/0/0 (block-wise) lands in
  state_dir/firmware/package (0600 in a 0700 folder), state Downloaded;
  Update runs update.command with the path quoted (the command sees the
  file); a failing command is Update Result 8, state Downloaded, and the
  running version stays; Cancel is Result 10, state Idle, the file gone;
- the state machine's refusals: Update outside Downloaded (4.05), a second
  package while one is there (4.05), an empty Package URI resets to Idle;
- every failure result a download can end with: invalid URI (7),
  unsupported protocol (9), unreachable host (4), a truncated body (5),
  a package over update.max_size (2), pushed and pulled;
- a pull over HTTP, the states Downloading then Downloaded observed;
- an update that really replaces the running binary (a copy of fieldgate
  in a temporary folder; the package is fieldgate-next, the same daemon
  with another version): the daemon re-executes, registers again and
  reports the new version in /3/0/3 and /5/0/7, Result 1, State 0; an
  install command that succeeds without changing the binary is Result 8.

Usage: test_fwupdate.py PATH/TO/fieldgate PATH/TO/fieldgate-next
"""
import http.server
import os
import re
import shutil
import socket
import stat
import sys
import subprocess
import tempfile
import threading
import time
import unittest

import unittest_main

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import test_devices  # noqa: E402
import test_journal  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402

FIELDGATE = NEXT = None
OPAQUE = 42
IDLE, DOWNLOADING, DOWNLOADED, UPDATING = 0, 1, 2, 3


def config(url, state, update, mode="endpoint", reboot="daemon"):
    return ("gateway:\n  name: gw\n  reboot: %s\n  state_dir: \"%s\"\n  profiles_path: %s\n  status_socket: @SOCK@\n"
            "log:\n  level: debug\nlwm2m:\n  mode: %s\n  lifetime: 60s\n  servers:\n    - uri: %s\n"
            "update:\n%sdevices: []\n" % (reboot, state, test_devices.PROFILES, mode, url, update))


class Files(http.server.BaseHTTPRequestHandler):
    """GET /<name>: the bytes of files[name]; /truncated: announces 4096
    bytes, sends 1000 and closes; /slow-NAME: the body in 4 pieces, 0.5 s apart."""
    files = {}

    def do_GET(self):
        name = self.path.lstrip("/")
        if name == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
            return
        body = self.files.get(name.replace("slow-", ""))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name.startswith("slow-"):
            for i in range(0, len(body), len(body) // 4 + 1):
                self.wfile.write(body[i:i + len(body) // 4 + 1])
                self.wfile.flush()
                time.sleep(0.5)
        else:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Base(test_devices.Base):
    update = "  max_size: 10000000\n  schemes: [http]\n  command: /bin/false {file}\n"
    program = None  # FIELDGATE
    mode = "endpoint"
    reboot = "daemon"
    state_name = "state"

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="fg-fwupdate-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.state = os.path.join(self.dir, self.state_name)
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.addCleanup(self.http.server_close)
        self.addCleanup(self.http.shutdown)
        self.base = "http://127.0.0.1:%d/" % self.http.server_address[1]
        self.gw = self.run_gateway(self.update.replace("@DIR@", self.dir))

    def run_gateway(self, update):
        test_devices.FIELDGATE = self.program or FIELDGATE
        try:
            gw = self.start(config(self.srv.url, self.state, update, self.mode, self.reboot))
        finally:
            test_devices.FIELDGATE = FIELDGATE
        self.addCleanup(self.stopped_cleanly, gw)
        self.srv.wait_event("register", ep="gw", timeout=15)
        return gw

    def stopped_cleanly(self, gw):
        """Exit status 0 on SIGTERM, no sanitizer report (the ASan build)."""
        self.assertEqual(gw.stop(), 0, "\n".join(gw.log[-30:]))
        self.assertFalse([x for x in gw.log if "Sanitizer" in x or "runtime error" in x])

    @property
    def package(self):
        return os.path.join(self.state, "firmware", "package")

    def fw(self):
        """/5/0 as {resource id: value}."""
        r = self.srv.request("read", ep="gw", path="/5/0", timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        return {int(p.split("/")[3]): v for p, v in records_by_path(r).items() if p.count("/") == 3}

    def wait_fw(self, state, result, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            v = self.fw()
            if (v[3], v[5]) == (state, result) or time.monotonic() > deadline:
                self.assertEqual((v[3], v[5]), (state, result), v)
                return v
            time.sleep(0.1)

    def push(self, data, code="2.04"):
        r = self.srv.request("write", ep="gw", path="/5/0/0", ct=OPAQUE, hex=data.hex(), timeout=60)
        self.assertEqual(r["code"], code, r)

    def execute(self, rid, code="2.04"):
        r = self.srv.request("execute", ep="gw", path="/5/0/%d" % rid, timeout=10)
        self.assertEqual(r["code"], code, r)

    def write_uri(self, uri, code="2.04"):
        r = self.srv.request("write", ep="gw", path="/5/0/1", value=uri, type="string", timeout=10)
        self.assertEqual(r["code"], code, r)

    def observe(self):
        r = self.srv.request("observe", ep="gw", path="/5/0", timeout=10)
        self.assertEqual(r["code"], "2.05", r)
        self.first = records_by_path(r)
        return r["id"]

    def seen(self, obs):
        """The (state, result) pairs the observer was told (the Observe's
        answer, then the notifications), in order, repeats merged."""
        out = [(self.first["/5/0/3"], self.first["/5/0/5"])]
        for n in self.srv.events("notify"):
            if n.get("observation") != obs:
                continue
            v = records_by_path(n)
            pair = (v.get("/5/0/3"), v.get("/5/0/5"))
            if not out or out[-1] != pair:
                out.append(pair)
        return out


class Push(Base):
    def test_resources_at_start(self):
        v = self.fw()
        self.assertEqual((v[3], v[5], v[9]), (IDLE, 0, 2))
        r = self.srv.request("read", ep="gw", path="/5/0/8", timeout=10)
        self.assertEqual(list(records_by_path(r).values()), [2])  # HTTP 1.1 only, as configured
        reg = [x for x in self.srv.registrations() if x["ep"] == "gw"][0]
        self.assertIn("</5/0>", reg["links"])

    def test_push_fail_cancel(self):
        obs = self.observe()
        data = os.urandom(5000) + b"'$(touch x)'"
        self.push(data)
        self.wait_fw(DOWNLOADED, 0)
        with open(self.package, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(stat.S_IMODE(os.stat(self.package).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.package)).st_mode), 0o700)
        # A second package while one is there: not in this state.
        self.push(b"other", code="4.05")
        # The command fails: Result 8, Downloaded, the same version runs.
        self.execute(2)
        self.wait_fw(DOWNLOADED, 8)
        self.gw.wait_log(r"install command exited with status 1")
        self.assertEqual(self.value("gw", "/3/0/3"), test_devices.VERSION)
        # Cancel: Idle, 10, the package gone.
        self.execute(10)
        self.wait_fw(IDLE, 10)
        self.assertFalse(os.path.exists(self.package))
        deadline = time.monotonic() + 10
        while self.seen(obs)[-1:] != [(IDLE, 10)] and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = self.seen(obs)
        self.assertEqual(seen[0], (IDLE, 0))
        for pair in [(DOWNLOADED, 0), (DOWNLOADED, 8), (IDLE, 10)]:
            self.assertIn(pair, seen)
        self.assertLess(seen.index((DOWNLOADED, 0)), seen.index((DOWNLOADED, 8)))
        self.assertLess(seen.index((DOWNLOADED, 8)), seen.index((IDLE, 10)))

    def test_downloaded_survives_restart(self):
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        self.gw.stop()
        self.gw = self.run_gateway(self.update)
        self.wait_fw(DOWNLOADED, 0)
        with open(self.package, "rb") as f:
            self.assertEqual(f.read(), b"package")
        with open(os.path.join(self.state, "firmware", "state")) as f:
            self.assertIn("state=2\nresult=0\n", f.read())

    def test_refusals_and_reset(self):
        # Update only in Downloaded; Cancel is fine in Idle.
        self.execute(2, code="4.05")
        self.wait_fw(IDLE, 0)
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        self.write_uri(self.base + "p", code="4.05")
        # An empty Package URI resets the state machine: Idle, 0, no file.
        self.write_uri("")
        self.wait_fw(IDLE, 0)
        self.assertFalse(os.path.exists(self.package))
        # So does a Package of "\0".
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        self.push(b"\0")
        self.wait_fw(IDLE, 0)
        self.assertFalse(os.path.exists(self.package))


class Command(Base):
    """update.command gets the package's path as one quoted argument: a
    state directory whose name the shell would split and expand."""
    state_name = "st'a te $(touch pwned) `touch pwned2`"
    update = ("  max_size: 10000000\n  schemes: [http]\n"
              "  command: cp {file} @DIR@/seen; echo ran >> @DIR@/ran; exit 3\n")

    def test_command_sees_the_file(self):
        data = b"pkg;'$(touch /tmp/nope)' `x`"
        self.push(data)
        self.wait_fw(DOWNLOADED, 0)
        self.execute(2)
        self.wait_fw(DOWNLOADED, 8)
        with open(os.path.join(self.dir, "seen"), "rb") as f:
            self.assertEqual(f.read(), data)
        with open(os.path.join(self.dir, "ran")) as f:
            self.assertEqual(f.read(), "ran\n")
        self.gw.wait_log(r"install command exited with status 3")
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(["ran", "seen", self.state_name]))


class CommandTimeout(Base):
    """update.command_timeout: the command and what it started are killed."""
    update = ("  max_size: 1000\n  schemes: [http]\n  command_timeout: 2s\n"
              "  command: ': {file}; sleep 60 & echo $! > @DIR@/pid; wait'\n")

    def test_killed_after_timeout(self):
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        obs = self.observe()
        t0 = time.monotonic()
        self.execute(2)
        self.wait_fw(DOWNLOADED, 8, timeout=10)
        self.assertGreaterEqual(time.monotonic() - t0, 1.9)
        deadline = time.monotonic() + 10
        while self.seen(obs)[-1:] != [(DOWNLOADED, 8)] and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.seen(obs), [(DOWNLOADED, 0), (UPDATING, 0), (DOWNLOADED, 8)])
        self.gw.wait_log(r"ran longer than update.command_timeout \(2 s\): stopped")
        self.gw.wait_log(r"install command was killed by signal 9")
        # The background sleep of the command is gone too (its process group).
        with open(os.path.join(self.dir, "pid")) as f:
            pid = int(f.read())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().split(")")[1].split()[0] == "Z":
                        break
            except FileNotFoundError:
                break
            time.sleep(0.05)
        else:
            self.fail("the command's child %d still runs" % pid)


class UnderSystemd(Base):
    """The daemon as systemd runs it ($INVOCATION_ID, /run/systemd/system
    present: a mount namespace with its own /run) on a private system bus
    where systemd1_mock.py plays systemd's Manager: the daemon may only
    start fieldgate-update.service, and the mock runs that unit's ExecStart,
    `fieldgate install-update -c CONFIG`, as systemd would (JobRemoved
    "done" or "failed" when it ends). The command comes from the
    configuration file, never from the daemon."""
    update = ("  max_size: 1000\n  schemes: [http]\n  command_timeout: 7s\n"
              "  command: cp {file} @DIR@/seen; exit 5\n")

    def setUp(self):
        why = test_journal.namespaces_usable()
        if why:
            self.skipTest("no mount namespace for a /run of our own: %s" % why)
        sys.path.insert(0, os.path.join(SOURCE, "tests", "ble"))
        from test_ble import Bus, wait_for
        self.fake = tempfile.mkdtemp(prefix="fg-fwsd-")
        self.addCleanup(shutil.rmtree, self.fake, True)
        self.bus = Bus()
        self.addCleanup(self.bus.stop)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.unit_log = os.path.join(self.fake, "unit.log")
        self.monitor_log = open(os.path.join(self.fake, "monitor.log"), "w+")
        self.addCleanup(self.monitor_log.close)
        # Every method call to systemd, whatever the mock answers.
        self.monitor = subprocess.Popen(["dbus-monitor", "--address", self.bus.address,
                                         "type='method_call',destination='org.freedesktop.systemd1'"],
                                        stdout=self.monitor_log, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_proc, self.monitor)
        self.systemd = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--system", "--template",
                                         os.path.join(HERE, "systemd1_mock.py")],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_proc, self.systemd)
        wait_for(lambda: self.bus.conn.name_has_owner("org.freedesktop.systemd1"), 15, "systemd on the bus")
        run = os.path.join(self.fake, "run")
        os.makedirs(os.path.join(run, "systemd", "system"))
        self.program = os.path.join(self.fake, "fieldgate")
        self.script(self.program,
                    'export INVOCATION_ID=0123456789abcdef DBUS_SYSTEM_BUS_ADDRESS=%s\n'
                    'exec %s sh -c \'mount --bind "$0" /run && shift && exec "$@"\' %s x %s "$@"\n'
                    % (self.bus.address, " ".join(test_journal.UNSHARE), run, FIELDGATE))
        super().setUp()
        self.manager = self.bus.conn.get_object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
        self.manager.AddMockUnit("fieldgate-update.service", [FIELDGATE, "install-update", "-c", self.gw.path],
                                 self.unit_log, dbus_interface="org.fieldgate.Test")

    @staticmethod
    def stop_proc(p):
        p.terminate()
        p.wait(10)

    @staticmethod
    def script(path, body):
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)

    def calls(self):
        """(method, args) of every call to the Manager the mock answered."""
        return [(str(c[1]), [str(a) for a in c[2]])
                for c in self.manager.GetCalls(dbus_interface="org.freedesktop.DBus.Mock")]

    def monitored(self):
        """The member of every method call sent to systemd by others than
        this test (the daemon, the unit)."""
        me = self.bus.conn.get_unique_name()
        with open(self.monitor_log.name) as f:
            return [m for who, m in re.findall(r"^method call .* sender=(\S+) .* member=(\S+)", f.read(), re.M)
                    if who != me]

    def unit_output(self):
        with open(self.unit_log) as f:
            text = f.read()
        self.assertFalse([x for x in text.splitlines() if "Sanitizer" in x or "runtime error" in x], text)
        return text

    def test_failing_command_in_the_unit(self):
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        self.execute(2)
        self.wait_fw(DOWNLOADED, 8)
        self.gw.wait_log(r"starting fieldgate-update.service")
        self.gw.wait_log(r"fieldgate-update.service ended \(failed\): the install command exited with status 5")
        with open(os.path.join(self.dir, "seen"), "rb") as f:
            self.assertEqual(f.read(), b"package")
        self.assertIn("Running cp '%s' %s/seen; exit 5\n" % (self.package, self.dir), self.unit_output())
        self.assertEqual([c for c in self.calls() if c[0] not in ("Subscribe", "AddMockUnit")],
                         [("StartUnit", ["fieldgate-update.service", "replace"])])
        self.assertEqual(self.monitored(), ["Subscribe", "StartUnit"])
        # What the unit recorded for the daemon (a restart would read it).
        with open(os.path.join(self.state, "firmware", "outcome")) as f:
            self.assertRegex(f.read(), r"^result=exited\nstatus=5\ntime=[0-9]+\n$")

    def test_success_then_same_version(self):
        """The unit succeeds: the daemon restarts itself, finds the same
        version, Result 8 (the existing version check), and the outcome is
        consumed."""
        self.gw.stop()
        self.gw = self.run_gateway("  max_size: 1000\n  schemes: [http]\n  command: cp {file} %s/seen\n" % self.dir)
        self.manager.AddMockUnit("fieldgate-update.service", [FIELDGATE, "install-update", "-c", self.gw.path],
                                 self.unit_log, dbus_interface="org.fieldgate.Test")
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        self.execute(2)
        self.gw.wait_log(r"fieldgate-update.service ended \(done\): the install command exited with status 0")
        self.gw.wait_log(r"Starting again: ", timeout=30)
        self.srv.wait_event("register", ep="gw", timeout=30)
        self.wait_fw(DOWNLOADED, 8)
        self.assertIn("The install command exited with status 0", self.unit_output())
        self.assertFalse(os.path.exists(os.path.join(self.state, "firmware", "outcome")))
        self.assertEqual([c for c in self.calls() if c[0] not in ("Subscribe", "AddMockUnit")],
                         [("StartUnit", ["fieldgate-update.service", "replace"])])

    def test_restarted_during_install(self):
        """The package's postinst restarts the service while the unit still
        runs dpkg: the new daemon (another version already on disk) stays
        Updating until the unit ends, then reports what it recorded: a
        failure is Result 8 though the version changed."""
        self.gw.stop()
        fw = os.path.join(self.state, "firmware")
        os.makedirs(fw, 0o700, exist_ok=True)
        with open(os.path.join(fw, "package"), "wb") as f:
            f.write(b"package")
        os.chmod(os.path.join(fw, "package"), 0o600)
        with open(os.path.join(fw, "state"), "w") as f:
            f.write("state=3\nresult=0\nfrom=0.0-before\nname=\nversion=\ntime=1\n")
        update = ("  max_size: 1000\n  schemes: [http]\n"
                  "  command: ': {file}; while [ ! -e %s/go ]; do sleep 0.05; done; exit 4'\n" % self.dir)
        conf = os.path.join(self.fake, "unit.yaml")
        with open(conf, "w") as f:
            f.write(config(self.srv.url, self.state, update).replace("@SOCK@", os.path.join(self.fake, "sock")))
        self.manager.AddMockUnit("fieldgate-update.service", [FIELDGATE, "install-update", "-c", conf],
                                 self.unit_log, dbus_interface="org.fieldgate.Test")
        self.manager.StartUnit("fieldgate-update.service", "replace",
                               dbus_interface="org.freedesktop.systemd1.Manager")
        self.gw = self.run_gateway(update)
        self.gw.wait_log(r"fieldgate-update.service is still installing: Updating until it ends")
        self.assertEqual((self.fw()[3], self.fw()[5]), (UPDATING, 0))
        with open(os.path.join(self.dir, "go"), "w"):
            pass
        self.wait_fw(DOWNLOADED, 8)
        self.gw.wait_log(r"fieldgate-update.service recorded: the install command exited with status 4: Update failed")
        self.assertFalse(os.path.exists(os.path.join(fw, "outcome")))
        self.assertFalse([c for c in self.calls() if c[0] == "StartUnit" and c[1] != ["fieldgate-update.service",
                                                                                      "replace"]])

    def test_restarted_after_install(self):
        """Restarted with no unit running and nothing recorded (the unit
        never ran, or the daemon outside systemd): the version decides."""
        self.gw.stop()
        fw = os.path.join(self.state, "firmware")
        os.makedirs(fw, 0o700, exist_ok=True)
        with open(os.path.join(fw, "state"), "w") as f:
            f.write("state=3\nresult=0\nfrom=0.0-before\nname=\nversion=\ntime=1\n")
        self.gw = self.run_gateway(self.update.replace("@DIR@", self.dir))
        v = self.wait_fw(IDLE, 1)
        self.assertEqual((v[6], v[7]), ("fieldgate", test_devices.VERSION))

    def test_refused_by_systemd(self):
        """systemd (polkit) refuses the start: Result 8 at once, nothing ran."""
        self.manager.AddMockUnit("fieldgate-update.service", [], self.unit_log, dbus_interface="org.fieldgate.Test")
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        self.execute(2)
        self.wait_fw(DOWNLOADED, 8)
        self.gw.wait_log(r"systemd refused to start fieldgate-update.service: Interactive authentication required")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "seen")))
        self.assertEqual([c for c in self.calls() if c[0] not in ("Subscribe", "AddMockUnit")],
                         [("StartUnit", ["fieldgate-update.service", "replace"])])


class InstallUpdate(unittest.TestCase):
    """`fieldgate install-update -c CONFIG`, the ExecStart of
    fieldgate-update.service, run directly: update.command and its time
    bound come from the configuration file, the package from
    state_dir/firmware/package; the outcome is recorded in
    state_dir/firmware/outcome."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fg-install-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        # A state folder whose name the shell would split and expand.
        self.state = os.path.join(self.dir, "st'a te $(touch pwned) `touch pwned2`")
        self.fw = os.path.join(self.state, "firmware")
        os.makedirs(self.fw, 0o700)
        self.package = os.path.join(self.fw, "package")
        with open(self.package, "wb") as f:
            f.write(b"pkg;'$(touch /tmp/nope)' `x`")
        os.chmod(self.package, 0o600)
        self.conf = os.path.join(self.dir, "fieldgate.yaml")

    def configure(self, update):
        with open(self.conf, "w") as f:
            f.write(config("coap://127.0.0.1:5683", self.state, update.replace("@DIR@", self.dir))
                    .replace("@SOCK@", os.path.join(self.dir, "sock")))
        os.chmod(self.conf, 0o640)

    def install(self, timeout=30):
        t0 = time.monotonic()
        r = subprocess.run([FIELDGATE, "install-update", "-c", self.conf], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        self.elapsed = time.monotonic() - t0
        self.assertFalse([x for x in r.stderr.splitlines() if "Sanitizer" in x or "runtime error" in x], r.stderr)
        return r

    def outcome(self):
        with open(os.path.join(self.fw, "outcome")) as f:
            return f.read()

    def test_runs_the_configured_command(self):
        self.configure("  command: cp {file} @DIR@/seen; echo ran >> @DIR@/ran; exit 3\n")
        r = self.install()
        self.assertEqual(r.returncode, 1, r.stderr)
        with open(os.path.join(self.dir, "seen"), "rb") as f:
            self.assertEqual(f.read(), b"pkg;'$(touch /tmp/nope)' `x`")
        with open(os.path.join(self.dir, "ran")) as f:
            self.assertEqual(f.read(), "ran\n")
        quoted = "'" + self.package.replace("'", "'\\''") + "'"
        self.assertIn("Running cp %s %s/seen; echo ran >> %s/ran; exit 3\n" % (quoted, self.dir, self.dir), r.stderr)
        self.assertIn("The install command exited with status 3", r.stderr)
        self.assertRegex(self.outcome(), r"^result=exited\nstatus=3\ntime=[0-9]+\n$")
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(["fieldgate.yaml", "ran", "seen",
                                                               os.path.basename(self.state)]))
        self.assertEqual(sorted(os.listdir(self.fw)), ["outcome", "package"])

    def test_success_recorded_for_the_folder_owner(self):
        self.configure("  command: test -f {file}\n")
        if os.geteuid() == 0:
            # As the unit runs it: root, in the fieldgate user's folder.
            os.chown(self.fw, 4321, 4322)
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(self.outcome(), r"^result=exited\nstatus=0\ntime=[0-9]+\n$")
        st = os.stat(os.path.join(self.fw, "outcome"))
        self.assertEqual(st.st_mode & 0o777, 0o640)
        if os.geteuid() == 0:
            self.assertEqual((st.st_uid, st.st_gid), (4321, 4322))

    def test_refuses_files_others_can_write(self):
        self.configure("  command: touch @DIR@/ran {file}\n")
        os.chmod(self.conf, 0o646)
        r = self.install()
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s: the configuration is writable by others (mode 0646" % self.conf, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.fw, "outcome")))  # nothing known yet
        os.chmod(self.conf, 0o640)
        for mode in (0o602, 0o622):
            os.chmod(self.package, mode)
            if mode & 0o020:
                os.chown(self.package, os.geteuid(), 54321)  # a group that is not root's nor fieldgate's
            r = self.install()
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stderr, r"%s: the package is writable by (others|its group) \(mode 0%o"
                             % (re.escape(self.package), mode))
            self.assertRegex(self.outcome(), r"^result=refused\nstatus=-1\n")
        # A link is not the package, whatever it points to.
        os.unlink(self.package)
        os.symlink(self.conf, self.package)
        r = self.install()
        self.assertEqual(r.returncode, 1)
        self.assertIn("the package is not a regular file", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "ran")))

    def test_no_command_configured(self):
        self.configure("  max_size: 1000\n")
        r = self.install()
        self.assertEqual(r.returncode, 1)
        self.assertIn("update.command is not configured", r.stderr)
        self.assertRegex(self.outcome(), r"^result=refused\n")

    def test_time_bound(self):
        """update.command_timeout: the command and what it started are
        killed; the outcome says so."""
        self.configure("  command_timeout: 1s\n  command: ': {file}; sleep 60 & echo $! > @DIR@/pid; wait'\n")
        r = self.install()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertGreaterEqual(self.elapsed, 0.9)
        self.assertLess(self.elapsed, 10)
        self.assertIn("ran longer than update.command_timeout (1 s): stopped", r.stderr)
        self.assertRegex(self.outcome(), r"^result=timeout\nstatus=9\n")
        with open(os.path.join(self.dir, "pid")) as f:
            pid = int(f.read())
        deadline = time.monotonic() + 5
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[1].split()[0] == "Z":
                    break
            time.sleep(0.05)
        else:
            self.assertFalse(os.path.exists("/proc/%d" % pid), "the command's child still runs")


class GatewayMode(Base):
    """Object 5 is on the gateway's endpoint in gateway mode too."""
    mode = "gateway"

    def test_push_and_fail(self):
        reg = [x for x in self.srv.registrations() if x["ep"] == "gw"][0]
        self.assertIn("</5/0>", reg["links"])
        self.push(b"package")
        self.wait_fw(DOWNLOADED, 0)
        self.execute(2)
        self.wait_fw(DOWNLOADED, 8)


class Limits(Base):
    update = "  max_size: 3000\n  schemes: [http]\n  command: /bin/true {file}\n"

    def test_push_over_max_size(self):
        self.push(os.urandom(5000), code="4.13")
        self.wait_fw(IDLE, 2)
        self.assertFalse(os.path.exists(self.package))

    def test_pull_over_max_size(self):
        Files.files["big"] = os.urandom(5000)
        self.write_uri(self.base + "big")
        self.wait_fw(IDLE, 2)
        self.assertFalse(os.path.exists(self.package))


class Pull(Base):
    def test_uri_refused_at_once(self):
        for uri, result in [("no uri at all", 7), ("ftp://127.0.0.1/p", 9), ("https://127.0.0.1/p", 9),
                            ("coap://127.0.0.1/p", 9)]:
            self.write_uri(uri)
            v = self.wait_fw(IDLE, result)
            self.assertEqual(v[1], "")
        self.assertFalse(os.path.exists(self.package))

    def test_unreachable_and_truncated(self):
        self.write_uri("http://127.0.0.1:%d/p" % closed_port())
        self.wait_fw(IDLE, 4)
        self.write_uri(self.base + "truncated")
        self.wait_fw(IDLE, 5)
        self.assertFalse(os.path.exists(self.package))

    def test_restart_interrupts_download(self):
        Files.files["pkg"] = os.urandom(40000)
        self.write_uri(self.base + "slow-pkg")
        self.wait_fw(DOWNLOADING, 0)
        self.gw.stop()
        self.gw = self.run_gateway(self.update)
        self.wait_fw(IDLE, 4)
        self.assertFalse(os.path.exists(self.package))

    def test_pull_then_cancel(self):
        data = os.urandom(40000)
        Files.files["pkg"] = data
        obs = self.observe()
        self.write_uri(self.base + "slow-pkg")
        self.wait_fw(DOWNLOADING, 0)
        self.assertEqual(self.fw()[1], self.base + "slow-pkg")
        self.wait_fw(DOWNLOADED, 0)
        with open(self.package, "rb") as f:
            self.assertEqual(f.read(), data)
        deadline = time.monotonic() + 10
        while (DOWNLOADED, 0) not in self.seen(obs) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.seen(obs), [(IDLE, 0), (DOWNLOADING, 0), (DOWNLOADED, 0)])
        self.execute(10)
        self.wait_fw(IDLE, 10)
        # Cancel during the download.
        self.write_uri(self.base + "slow-pkg")
        self.wait_fw(DOWNLOADING, 0)
        self.execute(10)
        self.wait_fw(IDLE, 10)
        self.assertFalse(os.path.exists(self.package))


class RealUpdate(Base):
    """The daemon runs from a copy in a temporary folder; the update
    installs fieldgate-next over it."""
    update = "  max_size: 100000000\n  schemes: [http]\n  command: install -m 0755 {file} @DIR@/fieldgate\n"

    def setUp(self):
        self.bin = tempfile.mkdtemp(prefix="fg-fwbin-")
        self.addCleanup(shutil.rmtree, self.bin, True)
        self.program = os.path.join(self.bin, "fieldgate")
        shutil.copy(FIELDGATE, self.program)
        self.update = self.update.replace("@DIR@", self.bin)
        super().setUp()

    def wait_version(self, version, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            r = self.srv.request("read", ep="gw", path="/3/0/3", timeout=10)
            v = records_by_path(r).get("/3/0/3")
            if v == version or time.monotonic() > deadline:
                self.assertEqual(v, version, r)
                return
            time.sleep(0.2)

    def test_update_to_next_version(self):
        with open(NEXT, "rb") as f:
            Files.files["next"] = f.read()
        self.assertEqual(self.value("gw", "/3/0/3"), test_devices.VERSION)
        self.write_uri(self.base + "next")
        self.wait_fw(DOWNLOADED, 0, timeout=60)
        self.execute(2)
        self.gw.wait_log(r"Starting again: " + self.program, timeout=30)
        self.srv.wait_event("register", ep="gw", timeout=30)
        self.wait_version(test_devices.VERSION + "-next")
        v = self.wait_fw(IDLE, 1)
        self.assertEqual((v[6], v[7]), ("fieldgate", test_devices.VERSION + "-next"))
        self.assertFalse(os.path.exists(self.package))
        # The same process (re-executed in place).
        self.assertIsNone(self.gw.proc.poll())

    def test_same_version_is_failure(self):
        """Also with gateway.reboot: host: an update restarts the daemon,
        never the host (logind is not asked)."""
        self.gw.stop()
        self.reboot = "host"
        self.gw = self.run_gateway("  max_size: 1000000\n  schemes: [http]\n  command: /bin/true {file}\n")
        self.push(b"not a new fieldgate")
        self.wait_fw(DOWNLOADED, 0)
        self.execute(2)
        self.gw.wait_log(r"Firmware update installed: de-registering, then starting the new program")
        self.gw.wait_log(r"Starting again: ", timeout=30)
        self.assertFalse([x for x in self.gw.log if "logind" in x or "Rebooting" in x or "again instead" in x
                              or "Cannot connect to the system bus" in x])
        self.srv.wait_event("register", ep="gw", timeout=30)
        self.wait_fw(DOWNLOADED, 8)
        self.assertEqual(self.value("gw", "/3/0/3"), test_devices.VERSION)


def main():
    global FIELDGATE, NEXT
    FIELDGATE, NEXT = os.path.abspath(sys.argv.pop(1)), os.path.abspath(sys.argv.pop(1))
    test_devices.FIELDGATE = FIELDGATE
    return unittest_main.run()


if __name__ == "__main__":
    sys.exit(main())
