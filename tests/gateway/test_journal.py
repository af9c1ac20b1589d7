#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Per-device log lines reach the journal with the device's fields: the
real fieldgate (fieldgate-fake, for a bridge whose device is unreachable)
runs with `-t journal` in a mount namespace whose /run is a folder of this
test, where a Unix datagram socket stands in for journald at
/run/systemd/journal/socket. sd_journal_sendv() sends it the native
journal protocol (KEY=value lines, or KEY, a 64-bit length and the bytes
for a value with a newline), which the stub parses into fields.

Checked: the line about an unreachable device carries DEVICE=, BRIDGE=,
ENDPOINT= and its text starts "Device NAME: "; the LwM2M client's lines
carry ENDPOINT=; every message has PRIORITY= and SYSLOG_IDENTIFIER=.

Needs unshare(1) with mount (and, unless run as root, user) namespaces;
skipped with the reason when the system refuses them.

Usage: test_journal.py PATH/TO/fieldgate-fake
"""
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, HERE)
from fglwm2m import Server  # noqa: E402
import test_bridge_glue  # noqa: E402

FIELDGATE = None
UNSHARE = ["unshare", "--mount", "--map-root-user", "--propagation", "private"]


def parse_native(data):
    """One datagram of the journal's native protocol: {KEY: [values]}."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + n]
            if data[nl + 9 + n:nl + 10 + n] != b"\n":
                raise ValueError("binary field %r not ended by a newline" % key)
            i = nl + 10 + n
        fields.setdefault(key.decode(), []).append(value.decode("utf-8", "replace"))
    return fields


class JournalStub:
    """A datagram socket at RUN/systemd/journal/socket; RUN becomes /run."""

    def __init__(self):
        self.run = tempfile.mkdtemp(prefix="fg-journal-")
        os.makedirs(os.path.join(self.run, "systemd", "journal"))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(self.run, "systemd", "journal", "socket")
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.entries = []

    def drain(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return
            self.entries.append(parse_native(self.sock.recv(1 << 20)))
            deadline = time.monotonic()  # what is there now, then return

    def wait(self, pred, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.entries:
                if pred(e):
                    return e
            self.drain(0.2)
        raise AssertionError("no such journal entry; got:\n%s" % "\n".join(
            str({k: v for k, v in e.items() if not k.startswith("CODE_")}) for e in self.entries))

    def close(self):
        self.sock.close()
        shutil.rmtree(self.run, ignore_errors=True)


def namespaces_usable():
    try:
        r = subprocess.run(UNSHARE + ["true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else r.stderr.decode().strip() or "unshare failed"


class Journal(unittest.TestCase):
    def setUp(self):
        why = namespaces_usable()
        if why:
            self.skipTest("no mount namespace for a journal stub: %s" % why)
        self.journal = JournalStub()
        self.addCleanup(self.journal.close)
        self.srv = Server(stderr=subprocess.DEVNULL).start()
        self.addCleanup(self.srv.stop)
        self.tmp = tempfile.mkdtemp(prefix="fg-journal-cfg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def start(self, text):
        cfg = os.path.join(self.tmp, "fieldgate.yaml")
        with open(cfg, "w") as f:
            f.write(text.replace("@SOCK@", os.path.join(self.tmp, "fg.sock")))
        # Inside: /run is the stub's folder, so sd_journal_sendv() reaches it.
        err = open(os.path.join(self.tmp, "stderr"), "w+")
        self.addCleanup(err.close)
        proc = subprocess.Popen(UNSHARE + ["sh", "-c", 'mount --bind "$0" /run && exec "$1" run -t journal -c "$2"',
                                           self.journal.run, FIELDGATE, cfg],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            err.seek(0)
            return err.read()
        self.addCleanup(stop)
        return proc, stop

    def test_device_fields(self):
        proc, stop = self.start(test_bridge_glue.config(self.srv.url))
        # v2's address is "offline": the fake bridge reports it unreachable.
        e = self.journal.wait(lambda e: e.get("DEVICE") == ["v2"] and "4" in e.get("PRIORITY", []))
        self.assertEqual(e["MESSAGE"], ["Device v2: unreachable: No route to host"])
        self.assertEqual(e["BRIDGE"], ["bus"])
        self.assertEqual(e["ENDPOINT"], ["gw-v2"])
        self.assertEqual(e["ERRNO"], ["113"])
        self.assertEqual(e["SYSLOG_IDENTIFIER"], ["fieldgate"])
        # The client's lines name their endpoint.
        self.srv.wait_event("register", ep="gw-v1", timeout=15)
        e = self.journal.wait(lambda e: e.get("ENDPOINT") == ["gw-v1"] and "DEVICE" not in e)
        self.assertTrue(e["MESSAGE"][0].startswith("gw-v1: "), e)
        stderr = stop()
        self.assertEqual(proc.returncode, 0)
        # Nothing of the logger went to stderr: every line had the journal
        # (the fake bridge prints its own "fake: " lines there).
        self.assertEqual([l for l in stderr.splitlines() if not l.startswith("fake: ")], [])


if __name__ == "__main__":
    FIELDGATE = os.path.abspath(sys.argv.pop(1))
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors)
    print("%d passed, %d failed, %d skipped" % (res.testsRun - failed - len(res.skipped), failed,
                                               len(res.skipped)))
    # 77: meson's "skipped", when the system gave no namespace.
    sys.exit(77 if res.wasSuccessful() and len(res.skipped) == res.testsRun else 0 if res.wasSuccessful() else 1)
