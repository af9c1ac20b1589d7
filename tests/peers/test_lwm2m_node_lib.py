# SPDX-License-Identifier: Apache-2.0
"""fieldgate's LwM2M client against a third-party LwM2M server: the one of
the npm package lwm2m-node-lib (tests/peers/package.json, installed by
scripts/install-deps.sh), run by lwm2m-node-server.js, on 127.0.0.1 and a
port the kernel chooses. The client side is fg-lwm2m-client-test
(tests/lwm2m/client_test.c): N endpoints in one process, each with /3/0 and
/3303/0.

Covers what issue 3 asks of this peer: Register of N endpoints, text/plain
Read and Write (and the error of a Write the client refuses), Execute,
Update, De-register; and Observe/cancel through the server's proxy (see the
header of lwm2m-node-server.js for what had to be worked around there).

Environment: FG_CLIENT_TEST (the client program), FG_NODE (node),
FG_PEERS_DIR (this folder, with node_modules). Output is TAP on stdout.
"""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.environ.get("FG_PEERS_DIR") or HERE
NODE = os.environ.get("FG_NODE") or "node"
DRIVER = os.path.join(PEERS, "lwm2m-node-server.js")
CLIENT = os.path.abspath(os.environ.get("FG_CLIENT_TEST") or os.path.join(
    os.environ.get("FG_BUILD_DIR", "build"), "tests", "lwm2m", "fg-lwm2m-client-test"))

# What every endpoint of fg-lwm2m-client-test registers: its objects with the
# versions of the OMA registry's DDFs (1 and 3: 1.2, 3303: 1.1), the Server
# instance, no Security object (TS 1.1 6.2.1), and ct= for its default
# format, SenML CBOR (112).
LINKS = ['</>;rt="oma.lwm2m";ct=112', "</1>;ver=1.1", "</1/0>", "</3>;ver=1.2", "</3/0>",
         "</3303>;ver=1.1", "</3303/0>"]


class Proc:
    """A child process whose stdout lines are collected by a thread, to be
    waited for with a deadline (never a bare sleep)."""

    def __init__(self, argv, name, parse=None):
        self.name = name
        self.parse = parse or (lambda ln: ln)
        self.lines = []
        self.taken = set()
        self.cond = threading.Condition()
        self.stderr = []
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1, cwd=PEERS)
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True).start()

    def _read(self, f, into):
        for ln in f:
            with self.cond:
                into.append(self.parse(ln.rstrip("\n")) if into is self.lines else ln.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            into.append(None)
            self.cond.notify_all()

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, match, timeout=10.0, what="line"):
        """The first line not taken before for which match(line) holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = 0
            while True:
                while i < len(self.lines):
                    ln = self.lines[i]
                    if ln is None:
                        raise AssertionError(f"{self.name} exited (rc={self.proc.poll()}) while waiting "
                                             f"for {what}\n" + "\n".join(x for x in self.stderr[-20:] if x))
                    if i not in self.taken and match(ln):
                        self.taken.add(i)
                        return ln
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name}: no {what} within {timeout:.1f} s")
                self.cond.wait(left)

    def seen(self, match):
        """Every line so far (taken or not) for which match(line) holds."""
        with self.cond:
            return [ln for ln in self.lines if ln is not None and match(ln)]

    def exit_code(self, timeout=10.0):
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class NodeServer(Proc):
    """lwm2m-node-server.js: JSON lines both ways."""

    def __init__(self, *args):
        super().__init__([NODE, "--no-warnings", DRIVER] + [str(a) for a in args], "lwm2m-node-server",
                         json.loads)
        self.next_id = 0
        try:
            self.port = self.wait(lambda m: m.get("event") == "listening", what="listening")["port"]
        except BaseException:
            self.kill()
            raise

    def request(self, op, timeout=15.0, **kw):
        self.next_id += 1
        rid = self.next_id
        self.send(json.dumps(dict(kw, id=rid, op=op)))
        return self.wait(lambda m: m.get("id") == rid, timeout=timeout, what=f"answer to {op}")

    def ok(self, op, **kw):
        r = self.request(op, **kw)
        if not r["ok"]:
            raise AssertionError(f"{op} {kw}: {r}")
        return r

    def event(self, name, timeout=10.0, **fields):
        return self.wait(lambda m: m.get("event") == name and all(m.get(k) == v for k, v in fields.items()),
                         timeout=timeout, what=f"event {name} {fields}")

    def events(self, name):
        return self.seen(lambda m: m.get("event") == name)

    def devices(self):
        return {d["name"]: d for d in self.ok("list")["devices"]}


class Client(Proc):
    """fg-lwm2m-client-test; options as keywords (count=3 -> --count 3)."""

    def __init__(self, server_uri, **opts):
        argv = [CLIENT, "--server", server_uri]
        for k, v in opts.items():
            argv += ["--" + k.replace("_", "-")] + ([] if v is True else [str(v)])
        super().__init__(argv, "fg-lwm2m-client-test")
        try:
            self.wait(lambda ln: ln.startswith("ready "), what="ready")
        except BaseException:
            self.kill()
            raise

    def cmd(self, line):
        self.send(line)
        ln = self.wait(lambda x: x == "ok" or x.startswith("error"), what=f"answer to {line!r}")
        if ln != "ok":
            raise AssertionError(f"{line!r}: {ln}")

    def get(self, ep, path):
        self.send(f"get {ep} {path}")
        return self.wait(lambda x: x.startswith(f"value {ep} {path} "), what="value").split(" ", 3)[3]

    def ports(self):
        self.send("ports")
        out = {}
        while True:
            ln = self.wait(lambda x: x.startswith("port ") or x == "ok", what="ports")
            if ln == "ok":
                return out
            _, name, port = ln.split()
            out[name] = int(port)

    def stats(self):
        self.send("stats")
        ln = self.wait(lambda x: x.startswith("stats "), what="stats")
        return {k: int(v) for k, v in (kv.split("=") for kv in ln.split()[1:])}

    def quit(self, timeout=15.0):
        self.send("quit")
        self.wait(lambda x: x == "bye", timeout=timeout, what="bye")
        return self.exit_code(timeout)


def poll(fn, timeout=10.0, step=0.05):
    """fn() until it returns a true value, or the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


class PeerTest(unittest.TestCase):
    N = 3
    LIFETIME = 60
    CLIENT_OPTS = {}

    def setUp(self):
        self.cl = None
        self.srv = self.start(NodeServer)

    def start(self, cls, *a, **kw):
        """A process killed when the test ends, whatever happens (cleanups
        run even when setUp fails, unlike tearDown)."""
        p = cls(*a, **kw)
        self.addCleanup(p.kill)
        return p

    def start_client(self, count=None, lifetime=None, **opts):
        count = count or self.N
        self.cl = self.start(Client, f"coap://127.0.0.1:{self.srv.port}", count=count,
                             lifetime=lifetime or self.LIFETIME, **dict(self.CLIENT_OPTS, **opts))
        for i in range(count):
            self.cl.wait(lambda x, i=i: x == f"state ep{i} registered 0", what=f"ep{i} registered")
            self.srv.event("registration", ep=f"ep{i}")
        return self.cl


class TestRegistration(PeerTest):
    def test_endpoints_register_with_name_lifetime_links(self):
        self.start_client()
        regs = {m["ep"]: m for m in self.srv.events("registration")}
        self.assertEqual(sorted(regs), ["ep0", "ep1", "ep2"])
        for name, m in regs.items():
            self.assertEqual(m["lifetime"], 60, name)
            self.assertEqual(m["version"], "1.1", name)
            self.assertEqual(m["binding"], "U", name)
            self.assertEqual(m["payload"].split(","), LINKS, name)
        devs = self.srv.devices()
        ports = self.cl.ports()
        self.assertEqual(sorted(devs), ["ep0", "ep1", "ep2"])
        for name, d in devs.items():
            self.assertEqual(d["lifetime"], 60, name)
            self.assertEqual(d["links"].split(","), LINKS, name)
            self.assertEqual(d["address"], "127.0.0.1", name)
            # Each endpoint registered from its own session (source port).
            self.assertEqual(d["port"], ports[name], name)
        self.assertEqual(len(set(ports.values())), 3)
        st = self.cl.stats()
        self.assertEqual((st["endpoints"], st["registered"], st["registers"], st["failures"]), (3, 3, 3, 0))

    def test_update_within_lifetime(self):
        # Update at lifetime/2: 2 s; the server expires a registration
        # that is not refreshed within 4 s.
        self.start_client(lifetime=4)
        t0 = time.monotonic()
        for round_ in (1, 2):
            for i in range(3):
                m = self.srv.event("update", ep=f"ep{i}", timeout=8)
                self.assertEqual(m["lifetime"], 4)
                self.assertEqual(m["payload"], "")  # nothing changed: no links
        # Two rounds of Updates at about 2 s and 4 s, not a storm.
        self.assertGreater(time.monotonic() - t0, 3.0)
        self.assertEqual(self.srv.events("expired"), [])
        devs = self.srv.devices()
        self.assertEqual(sorted(devs), ["ep0", "ep1", "ep2"])
        for d in devs.values():
            self.assertGreaterEqual(d["updates"], 2)
            self.assertEqual(d["links"].split(","), LINKS)

    def test_update_on_object_change_carries_links(self):
        self.start_client()
        self.cl.cmd("add-instance ep1 /3303/1")
        self.cl.cmd("changed ep1")
        m = self.srv.event("update", ep="ep1")
        self.assertEqual(m["payload"].split(","), LINKS + ["</3303/1>"])
        self.assertEqual(self.srv.devices()["ep1"]["links"].split(","), LINKS + ["</3303/1>"])
        # Only ep1 changed.
        self.assertEqual([e["ep"] for e in self.srv.events("update")], ["ep1"])

    def test_reregister_after_server_restart(self):
        # The server forgets every registration; each Update then gets
        # 4.04 and the endpoint registers again (TS 1.1 6.2.2).
        self.start_client(lifetime=4)
        old = self.srv.devices()
        self.assertEqual(sorted(d["id"] for d in old.values()), [1, 2, 3])
        port = self.srv.port
        self.srv.kill()
        self.srv = self.start(NodeServer, "--port", port, "--skip-ids", 10)
        self.assertEqual(self.srv.port, port)
        for i in range(3):
            m = self.srv.event("registration", ep=f"ep{i}", timeout=20)
            self.assertEqual(m["lifetime"], 4)
            self.assertEqual(m["payload"].split(","), LINKS)
        devs = self.srv.devices()
        self.assertEqual(sorted(devs), ["ep0", "ep1", "ep2"])
        self.assertTrue(all(d["id"] > 10 for d in devs.values()), devs)
        # And they stay registered: Updates to the new locations succeed.
        for i in range(3):
            self.srv.event("update", ep=f"ep{i}", timeout=8)
        st = self.cl.stats()
        self.assertEqual((st["registered"], st["registers"]), (3, 6))
        self.assertEqual(self.srv.events("expired"), [])

    def test_deregister_on_quit(self):
        self.start_client()
        self.assertEqual(self.cl.quit(), 0)
        for i in range(3):
            self.srv.event("unregistration", ep=f"ep{i}")
        self.assertEqual(self.srv.devices(), {})
        self.assertEqual(self.srv.events("expired"), [])

    def test_remove_one_endpoint_deregisters_it(self):
        self.start_client()
        self.cl.cmd("remove ep1")
        self.srv.event("unregistration", ep="ep1")
        self.assertEqual(sorted(self.srv.devices()), ["ep0", "ep2"])
        # The others still answer.
        self.assertEqual(self.srv.ok("read", ep="ep2", path="/3/0/2")["value"], "SN-00002")


class TestDeviceManagement(PeerTest):
    CLIENT_OPTS = {"ops": True}  # writes reach the program: it prints them

    def test_read_text_plain(self):
        self.start_client()
        for i in range(3):
            ep = f"ep{i}"
            self.assertEqual(self.srv.ok("read", ep=ep, path="/3/0/0")["value"], "Fieldgate")
            self.assertEqual(self.srv.ok("read", ep=ep, path="/3/0/1")["value"], "fg-test")
            # Each endpoint answers from its own tree.
            self.assertEqual(self.srv.ok("read", ep=ep, path="/3/0/2")["value"], f"SN-{i:05d}")
            self.assertEqual(self.srv.ok("read", ep=ep, path="/3/0/9")["value"], "95")
            self.assertEqual(self.srv.ok("read", ep=ep, path="/3/0/13")["value"], "1700000000")
            self.assertEqual(self.srv.ok("read", ep=ep, path="/3303/0/5700")["value"], "21.5")
            self.assertEqual(self.srv.ok("read", ep=ep, path="/3303/0/5701")["value"], "Cel")

    def test_read_value_set_by_gateway(self):
        self.start_client()
        self.cl.cmd("set ep1 /3303/0/5700 -3.25")
        self.assertEqual(self.srv.ok("read", ep="ep1", path="/3303/0/5700")["value"], "-3.25")
        self.assertEqual(self.srv.ok("read", ep="ep0", path="/3303/0/5700")["value"], "21.5")
        self.cl.cmd("set ep0 /3303/0/5700 22")
        self.assertEqual(self.srv.ok("read", ep="ep0", path="/3303/0/5700")["value"], "22")

    def test_read_missing_is_4_04(self):
        self.start_client()
        r = self.srv.request("read", ep="ep0", path="/3/0/15")  # Timezone: defined, no value
        self.assertEqual((r["ok"], r["code"]), (False, "4.04"))
        r = self.srv.request("read", ep="ep0", path="/3303/7/5700")
        self.assertEqual((r["ok"], r["code"]), (False, "4.04"))

    def test_write_text_plain_and_read_back(self):
        self.start_client()
        self.srv.ok("write", ep="ep0", path="/3/0/14", value="+02:00")
        self.cl.wait(lambda x: x == "write ep0 - /3/0/14 replace=1 n=1 /3/0/14=+02:00", what="write")
        self.assertEqual(self.srv.ok("read", ep="ep0", path="/3/0/14")["value"], "+02:00")
        self.assertEqual(self.cl.get("ep0", "/3/0/14"), "+02:00")
        self.assertEqual(self.srv.ok("read", ep="ep1", path="/3/0/14")["value"], "+01:00")
        # A resource without a value yet, and a Time.
        self.srv.ok("write", ep="ep2", path="/3/0/15", value="Europe/Berlin")
        self.assertEqual(self.srv.ok("read", ep="ep2", path="/3/0/15")["value"], "Europe/Berlin")
        self.srv.ok("write", ep="ep2", path="/3/0/13", value="1800000000")
        self.cl.wait(lambda x: x == "write ep2 - /3/0/13 replace=1 n=1 /3/0/13=1800000000", what="write")
        self.assertEqual(self.srv.ok("read", ep="ep2", path="/3/0/13")["value"], "1800000000")

    def test_write_refused(self):
        self.start_client()
        r = self.srv.request("write", ep="ep0", path="/3/0/0", value="Other")  # read-only
        self.assertEqual((r["ok"], r["code"]), (False, "4.05"))
        r = self.srv.request("write", ep="ep0", path="/3303/0/5700", value="1")  # read-only
        self.assertEqual((r["ok"], r["code"]), (False, "4.05"))
        r = self.srv.request("write", ep="ep0", path="/3/0/13", value="soon")  # not a Time
        self.assertEqual((r["ok"], r["code"]), (False, "4.00"))
        r = self.srv.request("write", ep="ep0", path="/3/7/14", value="+03:00")  # no instance
        self.assertEqual((r["ok"], r["code"]), (False, "4.04"))
        self.assertEqual(self.srv.ok("read", ep="ep0", path="/3/0/0")["value"], "Fieldgate")
        self.assertEqual(self.srv.ok("read", ep="ep0", path="/3/0/13")["value"], "1700000000")
        self.assertEqual(self.cl.seen(lambda x: x.startswith("write ")), [])

    def test_execute(self):
        self.start_client()
        self.srv.ok("execute", ep="ep1", path="/3/0/4")  # Reboot
        self.cl.wait(lambda x: x == "exec ep1 - /3/0/4 args=", what="exec")
        self.srv.ok("execute", ep="ep2", path="/3/0/4", args="0='now',1")
        self.cl.wait(lambda x: x == "exec ep2 - /3/0/4 args=0='now',1", what="exec")
        r = self.srv.request("execute", ep="ep0", path="/3/0/0")  # not executable
        self.assertEqual((r["ok"], r["code"]), (False, "4.05"))
        r = self.srv.request("execute", ep="ep0", path="/3/0/4", args="x")  # bad arguments
        self.assertEqual((r["ok"], r["code"]), (False, "4.00"))
        self.assertEqual(len(self.cl.seen(lambda x: x.startswith("exec "))), 2)

    def test_discover(self):
        self.start_client()
        r = self.srv.ok("discover", ep="ep0", path="/3303/0")
        self.assertEqual(r["value"].split(","), ["</3303/0>", "</3303/0/5605>", "</3303/0/5700>",
                                                 "</3303/0/5701>"])


class TestObserve(PeerTest):
    N = 2

    def test_observe_notify_cancel(self):
        self.start_client(lifetime=4)
        r = self.srv.ok("observe", ep="ep1", path="/3303/0/5700")
        self.assertEqual(r["value"], "21.5")
        self.assertEqual(poll(lambda: self.cl.stats()["observations"] == 1), True)
        self.cl.cmd("set ep1 /3303/0/5700 22.25")
        self.assertEqual(self.srv.event("notify", ep="ep1")["value"], "22.25")
        self.cl.cmd("set ep1 /3303/0/5700 23")
        self.assertEqual(self.srv.event("notify", ep="ep1")["value"], "23")
        # ep0 is not observed: no notification from it.
        self.cl.cmd("set ep0 /3303/0/5700 30")
        # Updates go on while the observation runs (a pending notification
        # must not hold them back long enough to expire).
        self.srv.event("update", ep="ep1", timeout=8)
        self.srv.ok("cancel", ep="ep1", path="/3303/0/5700")
        self.cl.cmd("set ep1 /3303/0/5700 24")
        # The server answers the next notification with Reset; the
        # observation ends in the client.
        self.srv.event("observe-reset", path="/3303/0/5700", port=self.cl.ports()["ep1"])
        self.assertEqual(poll(lambda: self.cl.stats()["observations"] == 0), True)
        self.cl.cmd("set ep1 /3303/0/5700 25")
        self.srv.event("update", ep="ep1", timeout=8)
        self.assertEqual([(m["ep"], m["value"]) for m in self.srv.events("notify")],
                         [("ep1", "22.25"), ("ep1", "23")])
        self.assertEqual(len(self.srv.events("observe-reset")), 1)
        self.assertEqual(self.srv.events("expired"), [])
        self.assertEqual(self.cl.quit(), 0)
        self.srv.event("unregistration", ep="ep0")
        self.srv.event("unregistration", ep="ep1")


# ---- TAP ------------------------------------------------------------------


class TapResult(unittest.TextTestResult):
    n = 0

    def _tap(self, ok, test, note=""):
        TapResult.n += 1
        print(f"{'ok' if ok else 'not ok'} {TapResult.n} - {test.id()}{note}", flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._tap(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._tap(False, test)

    def addError(self, test, err):
        super().addError(test, err)
        self._tap(False, test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._tap(True, test, f" # SKIP {reason}")


def _flatten(s):
    for t in s:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def main():
    missing = [p for p in (CLIENT, os.path.join(PEERS, "node_modules", "lwm2m-node-lib")) if not os.path.exists(p)]
    if missing:
        # Not a skip: the dependency is part of the test set-up.
        print("1..1\nnot ok 1 - setup # missing " + ", ".join(missing)
              + " (run scripts/install-deps.sh)", flush=True)
        sys.exit(1)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    if len(sys.argv) > 1:  # only tests whose id contains an argument
        suite = unittest.TestSuite(t for t in _flatten(suite) if any(a in t.id() for a in sys.argv[1:]))
    print(f"1..{suite.countTestCases()}", flush=True)
    res = unittest.TextTestRunner(stream=sys.stderr, resultclass=TapResult, verbosity=2).run(suite)
    sys.exit(0 if res.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
