#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Registration interface of lwm2m/client against fg-lwm2m-server: Register
fields and payload, Update before the lifetime ends (lifetime/2 for short
ones; those due together in one tick) and on object changes, De-register,
the 4.12 version fall-back, re-registration on 4.04, backoff, pacing, and
1,000 endpoints in one process. Timings are asserted on the server's
timestamps with tolerances."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import Client, main, outage, quiet_port, server, uri  # noqa: E402

ROOT11 = '</>;rt="oma.lwm2m";ct=112'
# Object versions of the built-in registry (lwm2m/objdefs.c): /1 and /3 are
# 1.2, /3303 is 1.1; objects at 1.0 carry no ver=. Server 1.2 needs LwM2M
# 1.2: a 1.1 registration announces Server 1.1.
OBJECTS = ['</1>;ver=1.1', '</1/0>', '</3>;ver=1.2', '</3/0>', '</3303>;ver=1.1', '</3303/0>']


class Register(unittest.TestCase):
    def setUp(self):
        self.srv = server().start()

    def tearDown(self):
        self.srv.stop()

    def client(self, **kw):
        cl = Client(uri(self.srv), **kw)
        self.addCleanup(cl.stop)
        return cl.start()

    def test_register_fields_and_links(self):
        cl = self.client(count=1, lifetime=300)
        ev = self.srv.wait_event("register", ep="ep0")
        self.assertEqual(ev["query"], {"ep": "ep0", "lt": "300", "lwm2m": "1.1", "b": "U"})
        self.assertEqual(ev["links"], [ROOT11] + OBJECTS)
        self.assertFalse(ev["secure"])
        self.assertEqual(ev["location"], "rd/1")
        cl.wait_state("ep0", "registered")
        self.assertEqual(cl.quit(), 0)

    def test_register_lwm2m_10_declares_tlv(self):
        self.client(count=1, version=10)
        ev = self.srv.wait_event("register", ep="ep0")
        self.assertEqual(ev["query"]["lwm2m"], "1.0")
        self.assertEqual(ev["links"][0], '</>;rt="oma.lwm2m";ct=11542')
        # The core objects are 1.0 to a LwM2M 1.0 server.
        self.assertEqual(ev["links"][1:], ['</1/0>', '</3/0>', '</3303>;ver=1.1', '</3303/0>'])

    def test_register_preferred_ct_configurable(self):
        self.client(count=1, ct=110)
        ev = self.srv.wait_event("register", ep="ep0")
        self.assertEqual(ev["links"][0], '</>;rt="oma.lwm2m";ct=110')

    def test_queue_mode_binding(self):
        # 1.1 moved queue mode to the Q parameter; 1.0 spells it b=UQ.
        self.client(count=1, binding="UQ", name="q11-")
        ev = self.srv.wait_event("register", ep="q11-0")
        self.assertEqual(ev["query"], {"ep": "q11-0", "lt": "86400", "lwm2m": "1.1", "b": "U", "Q": True})
        self.client(count=1, binding="UQ", version=10, name="q10-")
        ev = self.srv.wait_event("register", ep="q10-0")
        self.assertEqual(ev["query"]["b"], "UQ")
        self.assertNotIn("Q", ev["query"])

    def test_objects_changed_update_carries_links(self):
        cl = self.client(count=1)
        self.srv.wait_event("register", ep="ep0")
        cl.wait_state("ep0", "registered")
        cl.cmd("add-instance ep0 /3303/1")
        cl.cmd("declare ep0 3311")
        cl.cmd("changed ep0")
        ev = self.srv.wait_event("update", ep="ep0")
        self.assertEqual(ev["links"], [ROOT11, '</1>;ver=1.1', '</1/0>', '</3>;ver=1.2', '</3/0>',
                                       '</3303>;ver=1.1', '</3303/0>', '</3303/1>', '</3311>'])
        self.assertEqual(ev["query"], {})
        # An Update without changes carries neither payload nor parameters.
        cl.cmd("update ep0")
        ev = self.srv.wait_event("update", ep="ep0")
        self.assertNotIn("links", ev)
        self.assertEqual(ev["query"], {})

    def test_update_at_half_lifetime(self):
        self.client(count=1, lifetime=4)
        reg = self.srv.wait_event("register", ep="ep0")
        u1 = self.srv.wait_event("update", ep="ep0", timeout=6)
        u2 = self.srv.wait_event("update", ep="ep0", timeout=6)
        # lifetime/2 = 2 s after the previous exchange; loopback RTT is
        # negligible, the loop adds at most a few ms.
        self.around(u1["ts"] - reg["ts"], 2000)
        self.around(u2["ts"] - u1["ts"], 2000)
        self.assertEqual(u1["location"], reg["location"])

    def test_update_schedule_margin_and_tick(self):
        # Lifetime 30 s: the Update leaves 10 s (the least margin; a tenth
        # would be 3 s) before the lifetime ends, 20 s after the Register,
        # not at lifetime/2 (15 s). Four endpoints registered 50 ms apart
        # (rate 20/s): their Updates are due in the same 200 ms tick or
        # two (tick = 1/100 of the wait) and leave together, not 50 ms
        # apart at register_rate (a gap over 40 ms starts another burst;
        # within one the server reads them back to back). Four, not
        # five: five registrations span exactly one tick (200 ms), so a
        # Register a few ms late under load could spread them over three.
        self.client(count=4, rate=20, lifetime=30)
        regs = {e["ep"]: e for e in (self.srv.wait_event("register", ep=f"ep{i}") for i in range(4))}
        ups = {e["ep"]: e for e in (self.srv.wait_event("update", ep=f"ep{i}", timeout=25) for i in range(4))}
        for ep, up in ups.items():
            d = up["ts"] - regs[ep]["ts"]
            # Rounded up to the tick: up to 200 ms later than 20 s.
            self.assertGreaterEqual(d, 20000 - 30, f"{ep}: first Update {d} ms after its Register")
            self.assertLessEqual(d, 20000 + 200 + 400, f"{ep}: first Update {d} ms after its Register")
        ts = sorted(up["ts"] for up in ups.values())
        bursts = 1 + sum(1 for a, b in zip(ts, ts[1:]) if b - a > 40)
        self.assertLessEqual(bursts, 2, f"Updates at {[t - ts[0] for t in ts]} ms")
        self.assertEqual(self.srv.events("update-rejected"), [])

    def test_update_waiting_for_register_rate_is_said(self):
        # Ten endpoints, lifetime 2 s (an Update every second each), at
        # one message per second: the Updates queue for register_rate's
        # slots, one waits more than 5 s (half the least margin), and the
        # client says so, naming the figures, instead of letting the
        # registrations expire without a word.
        cl = self.client(count=10, rate=1, lifetime=2)
        line = cl.wait_log("for a register_rate slot: 10 endpoints with lifetime 2 s need 10.0 Updates/s, "
                           "register_rate allows 1.0; registrations may expire", timeout=40)
        self.assertIn("Update waits", line)

    def test_deregister_on_quit_and_on_remove(self):
        cl = self.client(count=3)
        for i in range(3):
            self.srv.wait_event("register", ep=f"ep{i}")
            cl.wait_state(f"ep{i}", "registered")
        cl.cmd("remove ep1")
        ev = self.srv.wait_event("deregister", ep="ep1")
        self.assertEqual(ev["code"], "2.02")
        self.assertEqual({r["ep"] for r in self.srv.registrations()}, {"ep0", "ep2"})
        self.assertEqual(cl.quit(), 0)
        for ep in ("ep0", "ep2"):
            self.srv.wait_event("deregister", ep=ep)
        self.assertEqual(self.srv.registrations(), [])

    def test_location_path_segments_kept_as_received(self):
        # lwm2m-node-lib answers Register with ONE Location-Path segment
        # "rd/1"; others use several. Update and De-register must carry
        # exactly those segments as Uri-Path options (the server answers
        # 4.04 to anything else, so a mismatch also shows as a re-register).
        for tmpl, name in ((["rd/{id}"], "one"), (["rd", "x", "{id}"], "three"), (["rd", "{id}"], "two")):
            self.srv.request("location-path", segments=tmpl)
            cl = self.client(count=1, name=name)
            reg = self.srv.wait_event("register", ep=name + "0")
            rid = reg["location"].rsplit("/", 1)[1]
            segs = [t.replace("{id}", rid) for t in tmpl]
            self.assertEqual(reg["location_path"], segs)
            self.assertEqual(reg["uri_path"], ["rd"])
            cl.wait_state(name + "0", "registered")
            cl.cmd(f"update {name}0")
            up = self.srv.wait_event("update", ep=name + "0")
            self.assertEqual(up["uri_path"], segs)
            self.assertEqual(cl.quit(), 0)
            dereg = self.srv.wait_event("deregister", ep=name + "0")
            self.assertEqual(dereg["uri_path"], segs)
            self.assertEqual(dereg["code"], "2.02")
        self.assertEqual(self.srv.events("update-rejected"), [])
        self.assertEqual(self.srv.events("deregister-rejected"), [])
        self.assertEqual(len(self.srv.events("register")), 3)

    def test_coap_debug_log_stays_off_stdout(self):
        # libcoap at debug level dumps every PDU; the dumps must reach the
        # client's log callback (stderr here) and never stdout, which
        # carries the test program's own protocol lines.
        cl = self.client(count=1, coap_log=7, log_level=7)
        self.srv.wait_event("register", ep="ep0")
        cl.wait_state("ep0", "registered")
        resp = self.srv.request("read", ep="ep0", path="/3/0/0", accept=0)
        self.assertEqual(resp["code"], "2.05")
        cl.cmd("update ep0")
        self.srv.wait_event("update", ep="ep0")
        self.assertEqual(cl.quit(), 0)
        self.assertEqual(cl.wait_exit(), 0)
        own = re.compile(r"^(ready|state|write|exec|value|port|stats|ok|error|bye)( |$)")
        out = [ln for ln in cl.lines if ln is not None]
        self.assertIn("bye", out)
        self.assertEqual([ln for ln in out if not own.match(ln)], [])
        logs = [ln for ln in cl.logs if ln is not None]
        # The dumps happened, in the log: the Register and the read's answer.
        self.assertTrue(any("t:CON c:POST" in ln and "Uri-Path:rd" in ln for ln in logs), logs[-40:])
        self.assertTrue(any("c:2.05" in ln for ln in logs), logs[-40:])

    def test_reregister_after_404_to_update(self):
        cl = self.client(count=1, lifetime=4)
        self.srv.wait_event("register", ep="ep0")
        cl.wait_state("ep0", "registered")
        # The server forgets the registration: the next Update (at 2 s) gets
        # 4.04 and the client registers again at once, no backoff.
        self.srv.request("forget", ep="ep0")
        ev = self.srv.wait_event("register", ep="ep0", timeout=5)
        self.assertEqual(ev["query"]["ep"], "ep0")
        cl.wait_log("Update answered 4.04: registering again")
        # Same through an explicit 4.04 answer to an Update.
        self.srv.request("fail", what="update", code="4.04", ep="ep0")
        rej = self.srv.wait_event("update-rejected", ep="ep0", timeout=6)
        again = self.srv.wait_event("register", ep="ep0", timeout=5)
        self.assertLess(again["ts"] - rej["ts"], 500)

    def test_backoff_with_jitter_after_failures(self):
        self.srv.request("fail", what="register", code="5.03", count=4)
        cl = self.client(count=1, backoff_min=400, backoff_max=1600)
        rej = [self.srv.wait_event("register-rejected", ep="ep0", timeout=10) for _ in range(4)]
        ok = self.srv.wait_event("register", ep="ep0", timeout=10)
        gaps = [b["ts"] - a["ts"] for a, b in zip(rej + [ok], (rej + [ok])[1:])]
        # Attempt k waits uniformly in [d/2, d] with d = min(1600, 400 * 2^k).
        for k, g in enumerate(gaps):
            d = min(1600, 400 * 2 ** k)
            self.assertGreaterEqual(g, d / 2 - 20, f"gap {k}: {gaps}")
            self.assertLessEqual(g, d + 400, f"gap {k}: {gaps}")
        cl.wait_log("Register failed: server answered 5.03; retrying in")

    def test_unreachable_server_retries_and_quits_promptly(self):
        # Nobody listens on that port: ICMP port unreachable; the server is
        # taken as away (both endpoints wait) and probed again and again
        # with backoff; quitting does not wait for anything.
        cl = Client("coap://127.0.0.1:9", count=2, backoff_min=200, backoff_max=400)
        self.addCleanup(cl.stop)
        cl.start()
        cl.wait_log("unreachable (server unreachable): 2 registrations taken as lost", timeout=10)
        cl.wait_log("server still unreachable", timeout=10)
        cl.wait_log("server still unreachable", timeout=10)
        t0 = time.monotonic()
        self.assertEqual(cl.quit(), 0)
        self.assertLess(time.monotonic() - t0, 2)

    def test_version_fallback_on_412(self):
        self.srv.stop()
        self.srv = server(reject_versions=("1.2",)).start()
        cl = self.client(count=1, version=12)
        rej = self.srv.wait_event("register-rejected", ep="ep0")
        self.assertEqual(rej["code"], "4.12")
        ev = self.srv.wait_event("register", ep="ep0")
        self.assertEqual(ev["query"]["lwm2m"], "1.1")
        cl.wait_log("server refused LwM2M 1.2 (4.12): offering 1.1")
        # Server 1.2 needs LwM2M 1.2: a 1.1 registration says Server 1.1.
        self.assertEqual(ev["links"][1:], OBJECTS)

    def test_version_fallback_down_to_10(self):
        self.srv.stop()
        self.srv = server(reject_versions=("1.2", "1.1")).start()
        self.client(count=1, version=12)
        self.assertEqual(self.srv.wait_event("register-rejected", ep="ep0")["lwm2m"], "1.2")
        self.assertEqual(self.srv.wait_event("register-rejected", ep="ep0")["lwm2m"], "1.1")
        ev = self.srv.wait_event("register", ep="ep0")
        self.assertEqual(ev["query"]["lwm2m"], "1.0")
        self.assertEqual(ev["links"][0], '</>;rt="oma.lwm2m";ct=11542')
        # The core objects are 1.0 to a LwM2M 1.0 server.
        self.assertEqual(ev["links"][1:], ['</1/0>', '</3/0>', '</3303>;ver=1.1', '</3303/0>'])

    def test_pacing_rate(self):
        n, rate = 40, 20.0
        self.client(count=n, rate=rate)
        regs = [self.srv.wait_event("register", ep=f"ep{i}", timeout=10) for i in range(n)]
        ts = sorted(r["ts"] for r in regs)
        span = ts[-1] - ts[0]
        self.assertGreaterEqual(span, (n - 1) / rate * 1000 * 0.95)
        self.assertLessEqual(span, (n - 1) / rate * 1000 + 500)
        # No second holds more than rate registrations. The times are the
        # server's: a stall of either process (up to 100 ms on a loaded
        # machine) moves a window's edges, and the client sends the slots it
        # was late for at once, so up to 1.1 s of slots (+1 at the edge).
        for i in range(n):
            window = [t for t in ts if ts[i] <= t < ts[i] + 1000]
            self.assertLessEqual(len(window), int(rate * 1.1) + 1)


class Outage(unittest.TestCase):
    def test_no_ghost_registrations_after_outage(self):
        # Issue 11 item 3 (see clienttest.outage); NoSec keeps exactly one
        # socket per endpoint all along, with the same source port.
        srv = server(port=quiet_port()).start()  # comes back on the same port
        self.addCleanup(srv.stop)
        outage(self, srv, lambda port: server(port=port).start(), secure=False)


class Thousand(unittest.TestCase):
    def test_1000_endpoints_register_and_deregister(self):
        n, rate = 1000, 400.0
        with server() as srv:
            cl = Client(uri(srv), count=n, rate=rate, lifetime=600)
            self.addCleanup(cl.stop)
            cl.start()
            regs = [srv.wait_event("register", ep=f"ep{i}", timeout=30) for i in range(n)]
            # Each endpoint its own session, hence its own source port.
            addrs = {r["addr"] for r in regs}
            self.assertEqual(len(addrs), n)
            ports = cl.ports()
            self.assertEqual(len(set(ports.values())), n)
            self.assertEqual({f"127.0.0.1:{p}" for p in ports.values()}, addrs)
            ts = sorted(r["ts"] for r in regs)
            self.assertGreaterEqual(ts[-1] - ts[0], (n - 1) / rate * 1000 * 0.95)
            self.assertEqual(len(srv.registrations()), n)
            st = cl.stats()
            self.assertEqual((st["endpoints"], st["registered"], st["failures"]), (n, n, 0))
            self.assertEqual(cl.quit(timeout=30), 0)
            deregs = [srv.wait_event("deregister", ep=f"ep{i}", timeout=30) for i in range(n)]
            self.assertTrue(all(d["code"] == "2.02" for d in deregs))
            self.assertEqual(srv.registrations(), [])


if __name__ == "__main__":
    main(sys.modules[__name__])
