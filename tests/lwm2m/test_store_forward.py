# SPDX-License-Identifier: Apache-2.0
"""Issue 15: nothing lost while the server is away.

N endpoints of fg-lwm2m-client-test each run a sensor ("pump": the Float
/3303/0/5700 set to 1, 2, 3... HZ times a second, each sample stamped with
its wall-clock time); the server observes it. The server is SIGKILLed (a
crash: it cancels nothing) for OUTAGE seconds and started again on the same
port. Asserted:
  - every endpoint is registered again at most 5 s after the restart;
  - sent = delivered + dropped: every value 1..N the sensor produced reached
    the server (notifications before the outage, Send of the held ones
    after it, notifications again) unless the client counted it dropped;
  - each value arrives with the time it was measured, and in order: the
    first arrival of each value comes after the first arrival of the one
    before, and the times follow the sensor's period;
and the variants: the client SIGKILLed during the outage and restarted (its
files in the state directory deliver), the bound exceeded (the oldest
dropped and counted), a LwM2M 1.0 server (stored notifications), an Object
25 device, queue mode, Notification Storing written false, and a server
coming back to many endpoints (paced by the registration rate).

FG_OUTAGE_S sets the outage (default 8 s here: every behaviour tested is the
same for 60 s, which bench_outage.py runs and reports).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from clienttest import Client, main, quiet_port, server, uri

OUTAGE = float(os.environ.get("FG_OUTAGE_S", "8"))
PATH = "/3303/0/5700"
HZ = 5
REREGISTER_MS = 5000


def arrivals(events, ep, path=PATH):
    """(value, time) of every record of path for ep, in arrival order."""
    out = []
    for e in events:
        if e.get("ep") != ep:
            continue
        for r in e.get("records", []):
            if r["path"].endswith(path) and "value" in r:
                out.append((r["value"], r.get("time")))
    return out


def merged(*servers):
    """Notify and send events of all servers, in arrival order."""
    evs = [e for s in servers for e in s.events() if e.get("event") in ("notify", "send")]
    return sorted(evs, key=lambda e: e["ts"])


class Base(unittest.TestCase):
    N = 5
    VERSION = 11
    CT = 112  # SenML CBOR: notifications carry the times

    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="fg-sf-")
        self.addCleanup(shutil.rmtree, self.state, True)
        self.servers = []

    def server(self, port=0):
        rej = ("1.2", "1.1") if self.VERSION == 10 else ()
        # A port no other test can take while this server is away.
        s = server(port=port or quiet_port(), reject_versions=rej, stderr=subprocess.DEVNULL).start()
        self.addCleanup(s.stop)
        self.servers.append(s)
        return s

    def client(self, srv, **kw):
        opts = dict(count=self.N, lifetime=300, state_dir=self.state, sf_sync=200, log_level=7)
        if self.VERSION == 10:
            opts["version"] = 10
        opts.update(kw)
        cl = Client(uri(srv), **opts)
        self.addCleanup(cl.stop)
        return cl.start()

    def registered(self, srv, cl, names, since=None):
        """Wait for each name's Register at srv; the latest arrival (ms)."""
        last = 0
        for ep in names:
            ev = srv.wait_event("register", ep=ep, timeout=30)
            last = max(last, ev["ts"])
        for ep in names:
            cl.wait_state(ep, "registered", timeout=30)
        return last

    def observe(self, srv, names, path=PATH):
        for ep in names:
            r = srv.request("observe", ep=ep, path=path, accept=self.CT, timeout=10)
            self.assertEqual(r["code"], "2.05", r)

    def sf(self, cl, ep):
        cl.send(f"sf {ep}")
        ln = cl.wait(lambda x: x.startswith(f"sf {ep} "))
        return {k: int(v) for k, v in (kv.split("=") for kv in ln.split()[2:])}

    def settle(self, cl, names, timeout=30):
        """Until nothing is held any more (everything delivered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.sf(cl, ep)["held"] == 0 for ep in names):
                return
            time.sleep(0.2)
        self.fail("values still held: " + str({ep: self.sf(cl, ep) for ep in names}))

    def stop_pumps(self, cl, names):
        cl.send("pump * off")
        n = {}
        for ep in names:
            ln = cl.wait(lambda x: x.startswith(f"pumped {ep} "))
            n[ep] = int(ln.split()[2])
        return n

    def dropped(self, cl, names):
        """(dropped, dropped_sent) per endpoint, as the client counted them."""
        return {ep: (st["dropped"], st["dropped_sent"]) for ep, st in ((ep, self.sf(cl, ep)) for ep in names)}

    def check(self, names, sent, dropped, path=PATH, runs=None):
        """sent = delivered + dropped per endpoint (a value the client
        dropped after a notification had carried it, dropped_sent, may
        have arrived all the same: missing is then between dropped -
        dropped_sent and dropped); times and order. sent: how many values
        the sensor produced (1..n), or runs: [(first, n), ...]."""
        evs = merged(*self.servers)
        for ep in names:
            got = arrivals(evs, ep, path)
            values = [v for v, _ in got]
            delivered = set(values)
            want = set()
            for first, n in (runs[ep] if runs else [(1, sent[ep])]):
                want |= set(float(v) for v in range(first, first + n))
            self.assertLessEqual(delivered, want, ep)
            missing = want - delivered
            d, d_sent = dropped[ep]
            self.assertTrue(d - d_sent <= len(missing) <= d,
                            f"{ep}: {len(want)} sent, {len(delivered)} delivered, {d} dropped "
                            f"({d_sent} after a notification); missing {sorted(missing)[:20]}")
            # In order: first arrivals increase.
            seen, order = set(), []
            for v in values:
                if v not in seen:
                    seen.add(v)
                    order.append(v)
            self.assertEqual(order, sorted(order), ep)
            # Each value keeps its time of measurement, wherever it came from.
            times = {}
            for v, t in got:
                self.assertIsNotNone(t, f"{ep}: value {v} without a time")
                times.setdefault(v, t)
                self.assertAlmostEqual(times[v], t, delta=0.0015, msg=f"{ep}: value {v}")
            vs = sorted(times)
            run_of = {}
            for first, n in (runs[ep] if runs else [(1, sent[ep])]):
                for v in range(first, first + n):
                    run_of[float(v)] = first
            for a, b in zip(vs, vs[1:]):
                if run_of[a] != run_of[b]:
                    continue  # another run of the sensor: another clock origin
                self.assertGreater(times[b], times[a], f"{ep}: {a}, {b}")
                # The sensor's period (its timer is exact; the loop may be late).
                self.assertAlmostEqual(times[b] - times[a], (b - a) / HZ, delta=0.5 + 0.02 * (b - a),
                                       msg=f"{ep}: times of {a} and {b}")


class Outage(Base):
    def run_outage(self, kill_client=False, historical=True, observe_after=0.0, **client_kw):
        names = [f"ep{i}" for i in range(self.N)]
        srv = self.server()
        port = srv.port
        cl = self.client(srv, **client_kw)
        self.registered(srv, cl, names)
        self.observe(srv, names)
        if historical:
            cl.cmd("historical * on")
        cl.cmd(f"pump * {PATH} {HZ}")
        time.sleep(2)
        t_kill = time.monotonic()
        srv.kill()
        first = 1
        sent = {ep: 0 for ep in names}
        if kill_client:
            time.sleep(OUTAGE / 2)
            sent = self.stop_pumps(cl, names)
            # Held values reach the file within a second (FLUSH_US).
            time.sleep(1.5)
            cl.proc.kill()
            cl.proc.wait()
            first = max(sent.values()) + 1
            cl = self.client(srv, **client_kw)
            if historical:
                cl.cmd("historical * on")
            cl.cmd(f"pump * {PATH} {HZ} - {first}")
        time.sleep(max(0.0, t_kill + OUTAGE - time.monotonic()))
        srv2 = self.server(port=port)
        t_up = srv2.request("ping")["ts"]
        last = self.registered(srv2, cl, names)
        self.assertLessEqual(last - t_up, REREGISTER_MS, "registered again too late")
        # The server application observes again, as Leshan users do (some
        # take their time).
        time.sleep(observe_after)
        self.observe(srv2, names)
        time.sleep(2)
        self.settle(cl, names)
        more = self.stop_pumps(cl, names)
        time.sleep(2)  # notifications of the last values, then their barrier
        self.settle(cl, names)
        dropped = self.dropped(cl, names)
        self.assertEqual(cl.quit(), 0)
        if kill_client:
            # Two runs of the sensor: 1..sent and first..first+more-1 (the
            # first client's counters went with it: no bound was reached).
            runs = {ep: [(1, sent[ep]), (first, more[ep])] for ep in names}
            self.check(names, None, dropped, runs=runs)
        else:
            self.check(names, more, dropped)
        return cl

    def test_outage(self):
        cl = self.run_outage()
        self.assertTrue(any("unreachable" in ln for ln in cl.logs if ln))
        # The held values went by Send.
        self.assertTrue(self.servers[1].events("send"))

    def test_outage_not_historical(self):
        # Only observed: what the server observed when it went away stays
        # kept (every sample, by Send) until it observes it again after
        # registering anew, as an application does on a registration:
        # nothing may fall between the drain and that Observe, 2 s later.
        self.run_outage(historical=False, observe_after=2.0)

    def test_client_killed_during_outage(self):
        self.run_outage(kill_client=True)

    def test_bound_drops_oldest(self):
        names = [f"ep{i}" for i in range(self.N)]
        srv = self.server()
        port = srv.port
        cl = self.client(srv, sf_max_samples=20)
        self.registered(srv, cl, names)
        self.observe(srv, names)
        cl.cmd(f"pump * {PATH} {HZ}")
        time.sleep(1)
        srv.kill()
        time.sleep(OUTAGE)
        sent = self.stop_pumps(cl, names)
        stats = {ep: self.sf(cl, ep) for ep in names}
        srv2 = self.server(port=port)
        self.registered(srv2, cl, names)
        self.observe(srv2, names)
        self.settle(cl, names)
        for ep in names:
            st = self.sf(cl, ep)
            self.assertGreater(st["dropped"], 0, st)
            self.assertEqual(stats[ep]["held"], 20, stats[ep])
        dropped = self.dropped(cl, names)
        total = cl.stats()
        self.assertEqual(total["sf_dropped"], sum(d for d, _ in dropped.values()))
        self.assertEqual(cl.quit(), 0)
        self.check(names, sent, dropped)
        # The oldest went: after the held ones, the last 20 sent arrived.
        evs = merged(srv2)
        for ep in names:
            got = sorted({v for v, _ in arrivals(evs, ep)})
            self.assertEqual(got, [float(v) for v in range(sent[ep] - 19, sent[ep] + 1)], ep)

    def test_storing_off_holds_nothing(self):
        # /1/0/6 written false by the server: observed values are not held
        # (historical ones would be: the integrator asked for them).
        names = ["ep0"]
        self.N = 1
        srv = self.server()
        port = srv.port
        cl = self.client(srv)
        self.registered(srv, cl, names)
        r = srv.request("write", ep="ep0", path="/1/0/6", value=False, timeout=10)
        self.assertEqual(r["code"], "2.04", r)
        cl.wait_log("Notification Storing disabled by the server")
        self.observe(srv, names)
        cl.cmd(f"pump * {PATH} {HZ}")
        time.sleep(1)
        srv.kill()
        time.sleep(3)
        self.assertEqual(self.sf(cl, "ep0")["held"], 0)
        self.assertEqual(self.sf(cl, "ep0")["queued"], 0)
        srv2 = self.server(port=port)
        self.registered(srv2, cl, names)
        self.assertEqual(srv2.events("send"), [])
        self.assertEqual(cl.quit(), 0)


class Lwm2m10(Outage):
    """A LwM2M 1.0 server has no Send: held values go as stored
    notifications (confirmable, one value each) once it observes again,
    in LwM2M JSON, which carries times."""
    VERSION = 10
    CT = 11543

    def test_outage(self):
        self.run_outage(historical=False)
        self.assertEqual([e for s in self.servers for e in s.events("send")], [])
        stored = [e for e in self.servers[1].events("notify") if e["type"] == "CON"]
        self.assertTrue(stored)

    test_outage_not_historical = None
    test_client_killed_during_outage = None
    test_storing_off_holds_nothing = None


class Object25(Base):
    N = 1

    def test_outage_device(self):
        srv = self.server()
        port = srv.port
        cl = self.client(srv)
        self.registered(srv, cl, ["ep0"])
        cl.cmd("add-device ep0 dev0 id0")
        srv.wait_event("update", ep="ep0", timeout=10)
        self.observe(srv, ["ep0"], path="/dev0" + PATH)
        cl.cmd("historical * on")
        cl.cmd(f"pump ep0 {PATH} {HZ} dev0")
        time.sleep(2)
        srv.kill()
        time.sleep(OUTAGE)
        srv2 = self.server(port=port)
        t_up = srv2.request("ping")["ts"]
        last = self.registered(srv2, cl, ["ep0"])
        self.assertLessEqual(last - t_up, REREGISTER_MS)
        self.settle(cl, ["ep0"])
        sent = self.stop_pumps(cl, ["ep0"])
        time.sleep(2)
        self.settle(cl, ["ep0"])
        dropped = self.dropped(cl, ["ep0"])
        # Send names the device's values with its prefix.
        names = {r["path"] for e in srv2.events("send") for r in e.get("records", [])}
        self.assertEqual(names, {"/dev0" + PATH})
        self.assertEqual(cl.quit(), 0)
        self.check(["ep0"], sent, dropped, path="/dev0" + PATH)


class QueueMode(Base):
    N = 1

    def test_values_held_between_updates(self):
        # UQ: reachable for queue_awake after an exchange, then values are
        # held until the next Update (lifetime 8 s: every 4 s).
        srv = self.server()
        cl = self.client(srv, binding="UQ", lifetime=8, queue_awake=1000)
        self.registered(srv, cl, ["ep0"])
        self.assertIn("Q", srv.events("register")[0]["query"])
        cl.cmd("historical * on")
        cl.cmd(f"pump ep0 {PATH} {HZ}")
        time.sleep(10)
        sent = self.stop_pumps(cl, ["ep0"])
        srv.wait_event("update", ep="ep0", timeout=10)
        self.settle(cl, ["ep0"], timeout=15)
        dropped = self.dropped(cl, ["ep0"])
        self.assertEqual(cl.quit(), 0)
        self.check(["ep0"], sent, dropped)
        # Sends only within the awake second after the Register or an
        # Update; what came meanwhile waited for the next Update.
        sends = srv.events("send")
        wakes = [e["ts"] for e in srv.events("register") + srv.events("update")]
        self.assertGreaterEqual(len(wakes), 3)
        for e in sends:
            self.assertTrue(any(0 <= e["ts"] - w < 1000 + 600 for w in wakes), (e["ts"], wakes))
        self.assertGreaterEqual(max(len(e.get("records", [])) for e in sends), 10)


class Storm(Base):
    """A server coming back to many endpoints gets their Registers at the
    registration rate, never all at once."""
    N = 150
    RATE = 50

    def test_paced_return(self):
        names = [f"ep{i}" for i in range(self.N)]
        srv = self.server()
        port = srv.port
        cl = self.client(srv, rate=self.RATE, log_level=6)
        self.registered(srv, cl, names)
        # Every endpoint sends: each one learns of the outage (ICMP).
        cl.cmd("update *")
        srv.kill()
        time.sleep(3)
        srv2 = self.server(port=port)
        t_up = srv2.request("ping")["ts"]
        self.registered(srv2, cl, names)
        regs = sorted(e["ts"] for e in srv2.events("register"))
        self.assertEqual(len(regs), self.N)
        # The first (the probe) within the probe interval...
        self.assertLessEqual(regs[0] - t_up, 4500)
        # ...the others paced: at most RATE in any second. The times are the
        # server's: a stall of either process (up to 100 ms on a loaded
        # machine) moves a window's edges, and the client sends the slots
        # it was late for at once, so up to 1.1 s of slots (+1 at the edge).
        for i, t in enumerate(regs):
            within = sum(1 for u in regs[i:] if u - t < 1000)
            self.assertLessEqual(within, int(self.RATE * 1.1) + 1, f"{within} Registers within 1 s of {t}")
        self.assertGreaterEqual(regs[-1] - regs[0], (self.N - 2) * 1000 / self.RATE)
        st = cl.stats()
        self.assertGreaterEqual(st["probes"], 1)
        print(f"# {self.N} endpoints back in {(regs[-1] - t_up) / 1000:.2f} s at {self.RATE}/s, "
              f"{st['probes']} probe(s)", file=sys.stderr)
        self.assertEqual(cl.quit(timeout=30), 0)


if __name__ == "__main__":
    main(sys.modules[__name__])
