#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Information reporting of lwm2m/client against fg-lwm2m-server: Observe and
Observe-Composite, notifications paced by pmin/pmax, triggered by gt, lt,
st, evaluated no more often than epmin and at least every epmax (timing
asserted on the server's timestamps with tolerances), defaults
from the Server object, both ways of cancelling (GET Observe=1 and Reset),
observations that end with their instance, device or endpoint, and Send."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import Client, main, server, uri  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402

class Observe(unittest.TestCase):
    def setUp(self):
        self.srv = server().start()
        self.cl = Client(uri(self.srv), count=1, ops=True).start()
        self.srv.wait_event("register", ep="ep0")
        self.cl.wait_state("ep0", "registered")

    def tearDown(self):
        rc = self.cl.quit()
        # Nothing reached the server after its observation was gone.
        strays = self.srv.events("stray")
        self.srv.stop()
        self.assertEqual(rc, 0)
        self.assertEqual(strays, [])

    def req(self, op, code=None, **kw):
        r = self.srv.request(op, ep="ep0", **kw)
        if code:
            self.assertEqual(r["code"], code, f"{op} {kw}: {r}")
        return r

    def observe(self, path, **kw):
        r = self.req("observe", "2.05", path=path, **kw)
        self.assertIn("observe", r)
        return r

    def notify(self, obs, timeout=6):
        return self.srv.wait_event("notify", timeout=timeout, where=lambda e: e["observation"] == obs["id"])

    def no_notify(self, obs, seconds):
        with self.assertRaises(TimeoutError):
            self.notify(obs, timeout=seconds)

    def test_pmin_and_pmax(self):
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"pmin": 1, "pmax": 3})
        obs = self.observe("/3303/0/5700")
        self.cl.cmd("set ep0 /3303/0/5700 22.5")
        n1 = self.notify(obs)
        # A change right after the Observe waits for pmin (1 s) ...
        self.around(n1["ts"] - obs["ts"], 1000)
        self.assertEqual(records_by_path(n1), {"/3303/0/5700": 22.5})
        # ... and without changes pmax (3 s) brings the next ones.
        n2 = self.notify(obs)
        n3 = self.notify(obs)
        self.around(n2["ts"] - n1["ts"], 3000)
        self.around(n3["ts"] - n2["ts"], 3000)
        # Same token and format as the Observe; Observe numbers increase.
        self.assertEqual({n["token"] for n in (n1, n2, n3)}, {obs["token"]})
        self.assertEqual({n["ct"] for n in (n1, n2, n3)}, {obs["ct"]})
        self.assertLess(obs["observe"], n1["observe"])
        self.assertLess(n1["observe"], n2["observe"])
        self.assertLess(n2["observe"], n3["observe"])

    def test_notifications_are_non_confirmable(self):
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"pmax": 1})
        obs = self.observe("/3303/0/5700")
        ns = [self.notify(obs) for _ in range(3)]
        self.assertEqual([n["type"] for n in ns], ["NON"] * 3)
        self.assertEqual(len({n["mid"] for n in ns}), 3)

    def test_large_notifications_are_block_wise(self):
        # A notification larger than one datagram goes out as its first
        # Block2; the server fetches the rest, which must be the notified
        # value (not the one of the Observe response, nor another body).
        def text(n, base):
            return "".join(chr(base + i % 26) for i in range(n))
        self.cl.cmd(f"set ep0 /3303/0/5750 {text(3000, 0x41)}")
        obs = self.observe("/3303/0/5750", accept=0)
        self.assertEqual(obs["text"], text(3000, 0x41))
        inst = self.observe("/3303/0", accept=110)
        for n, base in ((3000, 0x61), (1100, 0x41), (3900, 0x61)):   # stdin lines < 4096
            self.cl.cmd(f"set ep0 /3303/0/5750 {text(n, base)}")
            a = self.notify(obs)
            self.assertEqual((a["code"], a["ct"], len(a["text"])), ("2.05", 0, n))
            self.assertEqual(a["text"], text(n, base))
            b = self.notify(inst)
            self.assertEqual((b["code"], b["ct"]), ("2.05", 110))
            self.assertEqual(records_by_path(b)["/3303/0/5750"], text(n, base))
            self.assertEqual(records_by_path(b)["/3303/0/5700"], 21.5)
        self.assertEqual(self.cl.stats()["observations"], 2)

    def test_changes_within_pmin_are_coalesced(self):
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"pmin": 2})
        obs = self.observe("/3303/0/5700")
        for v in ("22", "23", "24.25"):
            self.cl.cmd(f"set ep0 /3303/0/5700 {v}")
        n = self.notify(obs)
        self.around(n["ts"] - obs["ts"], 2000)
        self.assertEqual(records_by_path(n), {"/3303/0/5700": 24.25})
        self.no_notify(obs, 2.5)

    def test_fields_of_one_message_make_one_notification(self):
        # Different resources of an observed instance set in one turn (the
        # fields of one MQTT message): one notification carrying both.
        obs = self.observe("/3303/0")
        self.cl.send("set ep0 /3303/0/5700 27.5\nset ep0 /3303/0/5750 porch")
        for _ in range(2):
            self.cl.wait(lambda x: x == "ok")
        v = records_by_path(self.notify(obs, 2))
        self.assertEqual((v["/3303/0/5700"], v["/3303/0/5750"]), (27.5, "porch"))
        self.no_notify(obs, 0.5)

    def test_flush_sends_one_notification_per_message_at_once(self):
        # lwm2m_client_flush() after the fields of one message (what the
        # MQTT bridge does after each message, issue 13 target 3): the
        # notification leaves inside the call, before the loop turns
        # again, and it is one carrying both fields, not one per field.
        obs = self.observe("/3303/0")
        before = self.cl.stats()["notifications"]
        self.cl.send("set ep0 /3303/0/5700 27.5\nset ep0 /3303/0/5750 porch\nflush")
        ln = self.cl.wait(lambda x: x.startswith("flushed "))
        self.assertEqual(int(ln.split()[1]), before + 1)
        for _ in range(3):
            self.cl.wait(lambda x: x == "ok")
        v = records_by_path(self.notify(obs, 2))
        self.assertEqual((v["/3303/0/5700"], v["/3303/0/5750"]), (27.5, "porch"))
        self.no_notify(obs, 0.5)
        # Nothing due: the call sends nothing.
        self.cl.send("flush")
        ln = self.cl.wait(lambda x: x.startswith("flushed "))
        self.assertEqual(int(ln.split()[1]), before + 1)
        self.cl.wait(lambda x: x == "ok")

    def test_changes_in_one_loop_turn_within_pmin_are_coalesced(self):
        # Sending what is due before a new value (issue 13) must not
        # send within pmin: the values still fold into one at pmin.
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"pmin": 1})
        obs = self.observe("/3303/0/5700")
        self.cl.send("set ep0 /3303/0/5700 22\nset ep0 /3303/0/5700 23")
        for _ in range(2):
            self.cl.wait(lambda x: x == "ok")
        n = self.notify(obs)
        self.around(n["ts"] - obs["ts"], 1000)
        self.assertEqual(records_by_path(n), {"/3303/0/5700": 23.0})
        self.no_notify(obs, 1.5)

    def test_any_change_without_attributes(self):
        obs = self.observe("/3303/0/5700")
        t0 = time.monotonic() * 1000
        self.cl.cmd("set ep0 /3303/0/5700 30")
        n = self.notify(obs)
        self.assertLess(n["ts"] - t0, 100)
        self.cl.cmd("set ep0 /3303/0/5700 30")   # the same value again
        self.no_notify(obs, 0.5)

    def test_changes_in_one_loop_turn_each_notify(self):
        # Two values of an observed resource without attributes handled in
        # one turn of the client's loop (one read of its stdin): each is a
        # notification of its own, in order (issue 13: the due dispatch
        # read the store once and sent only the later value).
        obs = self.observe("/3303/0/5700")
        self.cl.send("set ep0 /3303/0/5700 22\nset ep0 /3303/0/5700 23")
        for _ in range(2):
            self.cl.wait(lambda x: x == "ok")
        got = [records_by_path(self.notify(obs, 2))["/3303/0/5700"] for _ in range(2)]
        self.assertEqual(got, [22.0, 23.0])
        self.no_notify(obs, 0.5)

    def test_step(self):
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"st": 2})
        obs = self.observe("/3303/0/5700")
        self.cl.cmd("set ep0 /3303/0/5700 22.5")   # 1.0 from 21.5
        self.no_notify(obs, 0.5)
        self.cl.cmd("set ep0 /3303/0/5700 23.5")   # 2.0 from the last notified
        self.assertEqual(records_by_path(self.notify(obs, 1)), {"/3303/0/5700": 23.5})
        self.cl.cmd("set ep0 /3303/0/5700 22")
        self.no_notify(obs, 0.5)
        self.cl.cmd("set ep0 /3303/0/5700 21")
        self.assertEqual(records_by_path(self.notify(obs, 1)), {"/3303/0/5700": 21.0})

    def test_greater_and_less_than(self):
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"gt": 30, "lt": 10})
        obs = self.observe("/3303/0/5700")
        self.cl.cmd("set ep0 /3303/0/5700 25")     # no threshold crossed
        self.no_notify(obs, 0.5)
        self.cl.cmd("set ep0 /3303/0/5700 31")     # crosses gt upwards
        self.assertEqual(records_by_path(self.notify(obs, 1)), {"/3303/0/5700": 31.0})
        self.cl.cmd("set ep0 /3303/0/5700 35")     # stays above
        self.no_notify(obs, 0.5)
        self.cl.cmd("set ep0 /3303/0/5700 29")     # crosses back
        self.assertEqual(records_by_path(self.notify(obs, 1)), {"/3303/0/5700": 29.0})
        self.cl.cmd("set ep0 /3303/0/5700 9.5")    # crosses lt
        self.assertEqual(records_by_path(self.notify(obs, 1)), {"/3303/0/5700": 9.5})

    def notifies(self, obs):
        return [e for e in self.srv.events("notify") if e["observation"] == obs["id"]]

    def test_epmin_postpones_evaluation(self):
        # epmin 2 s: values arriving within 2 s of the last evaluation (the
        # Observe response) are not evaluated; when the window ends the
        # current value is read back and evaluated once.
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"epmin": 2, "pmin": 0})
        obs = self.observe("/3303/0/5700")
        for v in ("22", "23", "24.25"):
            self.cl.cmd(f"set ep0 /3303/0/5700 {v}")
        n1 = self.notify(obs, 4)
        self.around(n1["ts"] - obs["ts"], 2000)
        self.assertEqual(records_by_path(n1), {"/3303/0/5700": 24.25})
        # The window restarts with that evaluation: a change right after it
        # waits another 2 s, and it is the only notification meanwhile.
        self.cl.cmd("set ep0 /3303/0/5700 25")
        n2 = self.notify(obs, 4)
        self.around(n2["ts"] - n1["ts"], 2000)
        self.assertEqual(records_by_path(n2), {"/3303/0/5700": 25.0})
        self.assertEqual(self.notifies(obs), [n1, n2])
        # Changed and changed back within the window: at its end the value
        # equals the last notified one, so nothing is sent.
        self.cl.cmd("set ep0 /3303/0/5700 30")
        self.cl.cmd("set ep0 /3303/0/5700 25")
        self.no_notify(obs, 2.6)
        self.assertEqual(len(self.notifies(obs)), 2)

    def test_epmin_inherited_from_instance(self):
        # Attached to the instance, epmin applies to an observation of one
        # of its resources (resource <- instance <- object).
        self.req("write-attributes", "2.04", path="/3303/0", attrs={"epmin": 2})
        obs = self.observe("/3303/0/5700")
        self.cl.cmd("set ep0 /3303/0/5700 26")
        self.cl.cmd("set ep0 /3303/0/5700 27.5")
        n = self.notify(obs, 4)
        self.around(n["ts"] - obs["ts"], 2000)
        self.assertEqual(records_by_path(n), {"/3303/0/5700": 27.5})
        self.assertEqual(self.notifies(obs), [n])
        r = self.req("discover", "2.05", path="/3303/0")
        self.assertEqual(r["links"][0], "</3303/0>;epmin=2")

    def test_epmax_samples_the_source(self):
        # A value that changes in the store without the client being told
        # (a source that does not report) is found by the evaluation that
        # epmax (2 s) forces, and notified then; an unchanged sample is not.
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"epmax": 2})
        obs = self.observe("/3303/0/5700")
        self.cl.cmd("poke ep0 /3303/0/5700 33")
        self.no_notify(obs, 1.5)
        n1 = self.notify(obs, 3)
        self.around(n1["ts"] - obs["ts"], 2000)
        self.assertEqual(records_by_path(n1), {"/3303/0/5700": 33.0})
        # The next sample (2 s after this one) finds the value unchanged ...
        self.no_notify(obs, 2.7)
        # ... and the one after a new value (samples every 2 s from the
        # first: at obs + 6 s).
        self.cl.cmd("poke ep0 /3303/0/5700 34.5")
        n2 = self.notify(obs, 3)
        self.around(n2["ts"] - obs["ts"], 6000)
        self.assertEqual(records_by_path(n2), {"/3303/0/5700": 34.5})
        self.assertEqual(self.notifies(obs), [n1, n2])

    def test_without_epmax_an_unreported_change_stays_unseen(self):
        obs = self.observe("/3303/0/5700")
        self.cl.cmd("poke ep0 /3303/0/5700 33")
        self.no_notify(obs, 2.5)
        self.cl.cmd("set ep0 /3303/0/5700 33")   # now reported: notified at once
        self.assertEqual(records_by_path(self.notify(obs, 1)), {"/3303/0/5700": 33.0})

    def test_inherited_and_default_periods(self):
        # Default Maximum Period of the Server object, then the instance's pmax.
        self.req("write", "2.04", path="/1/0/3", ct=0, text="2")
        obs = self.observe("/3/0/9")
        n1 = self.notify(obs)
        self.around(n1["ts"] - obs["ts"], 2000)
        self.req("write-attributes", "2.04", path="/3/0", attrs={"pmax": 1})
        n2 = self.notify(obs)
        n3 = self.notify(obs)
        self.around(n3["ts"] - n2["ts"], 1000)
        self.req("cancel", "2.05", observation=obs["id"], mode="get")
        self.req("write", "2.04", path="/1/0/3", ct=0, text="0")

    def test_instance_observation_and_format(self):
        obs = self.observe("/3/0", accept=110)
        self.assertEqual(obs["ct"], 110)
        self.cl.cmd("set ep0 /3/0/9 50")
        n = self.notify(obs)
        self.assertEqual(n["ct"], 110)
        self.assertEqual(records_by_path(n)["/3/0/9"], 50)
        self.assertEqual(len(n["records"]), 11)

    def test_server_write_notifies(self):
        obs = self.observe("/3/0/14")
        self.req("write", "2.04", path="/3/0/14", ct=0, text="+06:00")
        self.assertEqual(self.notify(obs, 2)["text"], "+06:00")

    def test_observe_composite(self):
        r = self.req("observe-composite", "2.05", paths=["/3/0/9", "/3303/0/5700"], ct=112)
        self.assertIn("observe", r)
        self.cl.cmd("set ep0 /3303/0/5700 19.75")
        n = self.srv.wait_event("notify", where=lambda e: e["observation"] == r["id"])
        self.assertEqual(n["ct"], 112)
        self.assertEqual(records_by_path(n), {"/3/0/9": 95, "/3303/0/5700": 19.75})
        self.req("cancel", "2.05", observation=r["id"], mode="get")
        self.cl.cmd("set ep0 /3/0/9 10")
        with self.assertRaises(TimeoutError):
            self.srv.wait_event("notify", timeout=0.7, where=lambda e: e["observation"] == r["id"])

    def test_cancel_with_get(self):
        obs = self.observe("/3303/0/5700")
        self.cl.cmd("set ep0 /3303/0/5700 25")
        self.notify(obs)
        r = self.req("cancel", "2.05", observation=obs["id"], mode="get")
        self.assertNotIn("observe", r)
        self.assertEqual(self.cl.stats()["observations"], 0)
        self.cl.cmd("set ep0 /3303/0/5700 26")
        self.no_notify(obs, 1)

    def test_cancel_with_reset(self):
        obs = self.observe("/3303/0/5700")
        self.req("cancel", observation=obs["id"], mode="rst")
        self.cl.cmd("set ep0 /3303/0/5700 25")
        ev = self.srv.wait_event("cancelled", where=lambda e: e["observation"] == obs["id"])
        # A Reset to a NON notification: libcoap 4.3.1 reports it only by
        # its message id, which the client matches.
        self.assertEqual(ev["type"], "NON")
        deadline = time.monotonic() + 2
        while self.cl.stats()["observations"] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.cl.stats()["observations"], 0)
        self.cl.cmd("set ep0 /3303/0/5700 27")
        self.no_notify(obs, 1)

    def test_reobserve_same_path_new_token(self):
        a = self.observe("/3303/0/5700")
        b = self.observe("/3303/0/5700")
        self.assertNotEqual(a["token"], b["token"])
        self.assertEqual(self.cl.stats()["observations"], 2)
        self.cl.cmd("set ep0 /3303/0/5700 28")
        self.notify(a)
        self.notify(b)

    def test_observation_ends_with_its_instance(self):
        self.cl.cmd("add-instance ep0 /3303/1")
        self.cl.cmd("set ep0 /3303/1/5700 1")
        self.observe("/3303/1/5700")
        self.req("delete", "2.02", path="/3303/1")
        self.assertEqual(self.cl.stats()["observations"], 0)

    def test_observe_refused_is_plain_read(self):
        self.req("observe", "4.04", path="/3303/0/5800")
        self.req("observe", "4.01", path="/0/0")
        self.assertEqual(self.cl.stats()["observations"], 0)


class Confirmable(unittest.TestCase):
    """CON notifications (at least every con_period) and a server that never
    acknowledges them: with NSTART 1 a CON without ACK holds the session
    until libcoap gives it up, MAX_TRANSMIT_WAIT later."""
    # --ack-timeout 1000 --max-retransmit 2: MAX_TRANSMIT_WAIT = 1 s *
    # (2^3 - 1) * ACK_RANDOM_FACTOR 1.5.
    FAST = dict(ack_timeout=1000, max_retransmit=2)
    MTW = 10500

    def start(self, **kw):
        self.srv = server().start()
        self.addCleanup(self.srv.stop)
        self.cl = Client(uri(self.srv), count=1, **kw)
        self.addCleanup(self.cl.stop)
        self.cl.start()
        self.reg = self.srv.wait_event("register", ep="ep0")
        self.cl.wait_state("ep0", "registered")

    def observe(self, pmax, pmin=None):
        attrs = {"pmax": pmax} if pmin is None else {"pmin": pmin, "pmax": pmax}
        r = self.srv.request("write-attributes", ep="ep0", path="/3303/0/5700", attrs=attrs)
        self.assertEqual(r["code"], "2.04")
        obs = self.srv.request("observe", ep="ep0", path="/3303/0/5700")
        self.assertEqual(obs["code"], "2.05")
        return obs

    def test_con_at_least_every_con_period(self):
        # Default transmission parameters: once a CON left, the next may
        # only follow when it cannot be in flight any more (93 s): NON until then.
        self.start(con_period=2)
        obs = self.observe(pmax=1)
        ns = [self.srv.wait_event("notify", where=lambda e: e["observation"] == obs["id"]) for _ in range(5)]
        self.assertEqual([n["type"] for n in ns], ["NON", "CON", "NON", "NON", "NON"])
        self.around(ns[1]["ts"] - obs["ts"], 2000)
        self.assertEqual(self.cl.quit(), 0)

    def test_unacknowledged_notification_means_server_lost(self):
        # Issue 15: a confirmable notification that gets no answer says the
        # server is away (before: only its observation ended and the
        # registration stayed until an Update failed, lifetime/2 later). The
        # registration is taken as lost at once and, the server answering
        # Registers, the endpoint registers again within a probe interval
        # (4 s) of libcoap giving the CON up; the Update due at 20 s never
        # had to wait for it.
        self.start(lifetime=40, con_period=1, log_level=7, **self.FAST)
        self.srv.request("ignore-notifications", on=True)
        self.observe(pmin=1, pmax=2)
        first = self.srv.wait_event("ignored", ep="ep0", timeout=10)
        reg2 = self.srv.wait_event("register", ep="ep0", timeout=30)
        self.assertGreater(reg2["ts"] - first["ts"], 6500)
        self.assertLessEqual(reg2["ts"] - first["ts"], self.MTW + 4000 + 400)
        self.cl.wait_log("a confirmable notification got no answer")
        self.cl.wait_log("observation cancelled by the server (reset or no answer)")
        # NON notifications went on until then.
        nons = [n for n in self.srv.events("notify") if n["ts"] < reg2["ts"]]
        self.assertTrue(nons)
        self.assertEqual({n["type"] for n in nons}, {"NON"})
        self.assertEqual(self.srv.events("expire"), [])
        self.assertEqual(self.srv.events("update-rejected"), [])

    def test_update_waits_for_one_con_exchange_at_most(self):
        # An Update triggered while a CON notification is unacknowledged
        # leaves when libcoap gives that one exchange up, not later.
        self.start(lifetime=300, con_period=1, **self.FAST)
        self.srv.request("ignore-notifications", on=True)
        self.observe(pmax=2)
        e0 = self.srv.wait_event("ignored", ep="ep0", timeout=5)
        self.cl.cmd("update ep0")
        up = self.srv.wait_event("update", ep="ep0", timeout=15)
        # Held back (NSTART 1) by that exchange and nothing else: the CON is
        # given up 7 to 10.5 s after it first left.
        self.assertGreater(up["ts"] - e0["ts"], 6500)
        self.assertLessEqual(up["ts"] - e0["ts"], self.MTW + 400)
        self.assertEqual(len({e["mid"] for e in self.srv.events("ignored")}), 1)


class Counting:
    """Counting notifications exactly. The last endpoint holds a sentinel
    observation of the same resource: every `change` sets it on all
    endpoints, the client sends all notifications of one change in one pass,
    so when the sentinel's notification has arrived the client's count of
    notifications sent is final, and the server has everything once it
    counts as many (of the endpoints in TARGETS)."""
    MAX = 100
    PATH = "/3303/0/5700"
    COUNT = 2
    OPTS = {}
    TARGETS = ("ep0",)

    def setUp(self):
        self.srv = server().start()
        self.cl = Client(uri(self.srv), count=self.COUNT, ops=True, max_observations=self.MAX,
                         **self.OPTS).start()
        for i in range(self.COUNT):
            self.srv.wait_event("register", ep=f"ep{i}")
            self.cl.wait_state(f"ep{i}", "registered")
        self.sentinel = self.srv.request("observe", ep=f"ep{self.COUNT - 1}", path=self.PATH)
        self.assertIn("observe", self.sentinel)
        self.value = 30

    def tearDown(self):
        rc = self.cl.quit()
        self.srv.stop()
        self.assertEqual(rc, 0)

    def observe_many(self, n, path=PATH, ep="ep0"):
        """n Observe requests sent at once; (established, refused) responses."""
        rs = self.srv.responses([self.srv.send("observe", ep=ep, path=path) for _ in range(n)], timeout=60)
        self.assertLessEqual({r.get("code") for r in rs}, {"2.05", "5.03"})
        ok = [r for r in rs if r.get("code") == "2.05"]
        self.assertTrue(all("observe" in r for r in ok), ok)
        refused = [r for r in rs if r.get("code") == "5.03"]
        self.assertTrue(all("observe" not in r for r in refused), refused)
        return ok, refused

    def cancel_all(self, obs, mode):
        return self.srv.responses([self.srv.send("cancel", observation=o["id"], mode=mode) for o in obs],
                                  timeout=60)

    def received(self, since):
        """The TARGETS' notifications at the server after event index since:
        notify events, and those answered with RST (cancelled, stray)."""
        kinds = ("notify", "cancelled", "stray")
        return [e for e in self.srv.events()[since:] if e.get("event") in kinds and e.get("ep") in self.TARGETS]

    def change(self):
        """Change the value on every endpoint; the TARGETS' notifications as
        (number the client sent, events the server received)."""
        self.value += 1
        s0 = self.cl.stats()["notifications"]
        mark = len(self.srv.events())
        self.cl.cmd(f"set * {self.PATH} {self.value}")
        self.srv.wait_event("notify", where=lambda e: e["observation"] == self.sentinel["id"])
        sent = self.cl.stats()["notifications"] - s0 - 1
        deadline = time.monotonic() + 10
        while len(self.received(mark)) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        return sent, self.received(mark)

    def assert_notified(self, live):
        """One change: exactly one notification for each live observation."""
        sent, evs = self.change()
        self.assertEqual(sent, len(live))
        self.assertEqual(sorted(e["observation"] for e in evs if e["event"] == "notify"),
                         sorted(o["id"] for o in live))
        self.assertEqual([e for e in evs if e["event"] != "notify"], [])
        self.assertEqual(self.cl.stats()["observations"], len(live) + 1)

    def wait_observations(self, n, timeout=5):
        """The client holds n observations (sentinel included) once the
        Resets that the server sent have arrived."""
        deadline = time.monotonic() + timeout
        while self.cl.stats()["observations"] > n and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.cl.stats()["observations"], n)

    def reset_all(self, obs):
        """Cancel obs (all ep0's or ep1's) by Reset: the next change sends
        each one notification, answered with RST; the change after it none.
        The events of the first change."""
        self.assertEqual({r.get("ok") for r in self.cancel_all(obs, "rst")}, {True})
        sent, evs = self.change()
        self.assertEqual(sent, len(obs))
        self.assertEqual(sorted(e["observation"] for e in evs if e["event"] == "cancelled"),
                         sorted(o["id"] for o in obs))
        self.wait_observations(1)
        self.assertEqual(self.change(), (0, []))
        return evs


class Bound(Counting, unittest.TestCase):
    """Observations bounded per endpoint (--max-observations, lwm2m.
    max_observations), and cancelling always freeing them: a server that
    fires thousands of Observe requests gets MAX, the others are answered
    5.03 (no Observe option, a diagnostic payload); a change then sends
    exactly one notification per live observation, and none once they are
    cancelled (GET Observe=1, Reset, new registration)."""

    def test_beyond_the_bound_refused_while_others_notify(self):
        ok, refused = self.observe_many(2000)
        self.assertEqual((len(ok), len(refused)), (self.MAX, 2000 - self.MAX))
        # the refused ones say why, and carry no value
        self.assertEqual(refused[0].get("text"), "too many observations")
        self.assertNotIn("records", refused[0])
        st = self.cl.stats()
        self.assertEqual((st["observations"], st["obs_refused"]), (self.MAX + 1, 2000 - self.MAX))
        # logged once, not 1900 times
        self.cl.wait_log(f"Observe of {self.PATH} refused: {self.MAX} observations held, the bound is "
                         f"{self.MAX} (max_observations)")
        self.assertEqual(len([ln for ln in self.cl.logs if ln and "refused:" in ln]), 1)
        self.assert_notified(ok)
        self.assert_notified(ok)
        # a re-Observe with a token in use replaces its observation: it
        # succeeds at the bound and does not count twice
        rs = self.cancel_all(ok[:10], "refresh")
        self.assertEqual([("observe" in r, r["code"]) for r in rs], [(True, "2.05")] * 10)
        self.assertEqual(self.cl.stats()["observations"], self.MAX + 1)
        more, refused = self.observe_many(5)
        self.assertEqual((len(more), len(refused)), (0, 5))
        self.assert_notified(ok)
        # one cancellation frees one place
        self.assertEqual(self.cancel_all(ok[:1], "get")[0]["code"], "2.05")
        more, refused = self.observe_many(3)
        self.assertEqual((len(more), len(refused)), (1, 2))
        self.assert_notified(ok[1:] + more)
        self.assertEqual(self.srv.events("stray"), [])

    def test_cancelling_every_token_with_get(self):
        ok, _ = self.observe_many(2000)
        self.assert_notified(ok)
        # the value is absent when the cancellations arrive: they are
        # answered 4.04, and cancel all the same (RFC 7641 §4.1)
        self.cl.cmd(f"unset ep0 {self.PATH}")
        rs = self.cancel_all(ok, "get")
        self.assertEqual({(r.get("code"), "observe" in r) for r in rs}, {("4.04", False)})
        self.assertEqual(self.cl.stats()["observations"], 1)
        sent, evs = self.change()
        self.assertEqual((sent, evs), (0, []))

    def test_cancelling_every_token_with_reset(self):
        ok, _ = self.observe_many(2000)
        evs = self.reset_all(ok)
        self.assertEqual({e["type"] for e in evs}, {"NON"})

    def test_any_mix_notifies_each_live_observation_once(self):
        live, _ = self.observe_many(2000)
        self.assert_notified(live)
        by_get, by_rst, live = live[:30], live[30:45], live[45:]
        self.cancel_all(by_get, "get")
        self.cancel_all(by_rst, "rst")
        # refreshed with an error: the value gone, the re-Observe is
        # answered 4.04 and its observation ends
        self.cl.cmd(f"unset ep0 {self.PATH}")
        failed = self.cancel_all(live[:5], "refresh")
        self.assertEqual({r["code"] for r in failed}, {"4.04"})
        self.cl.cmd(f"poke ep0 {self.PATH} 1")   # back, the client not told
        live = live[5:]
        sent, evs = self.change()
        self.assertEqual(sent, len(live) + len(by_rst))
        self.assertEqual(sorted(e["observation"] for e in evs if e["event"] == "cancelled"),
                         sorted(o["id"] for o in by_rst))
        self.wait_observations(len(live) + 1)
        # room for 50 again: 50 of 80 new ones established
        more, refused = self.observe_many(80)
        self.assertEqual((len(more), len(refused)), (self.MAX - len(live), 80 - self.MAX + len(live)))
        live += more
        self.assert_notified(live)
        self.assertEqual(self.srv.events("stray"), [])

    def test_new_registration_ends_every_observation(self):
        ok, _ = self.observe_many(self.MAX)
        self.srv.request("forget", ep="ep0")
        self.cl.cmd("update ep0")
        self.srv.wait_event("register", ep="ep0")   # the second one
        self.cl.wait_state("ep0", "registered")
        self.assertEqual(self.cl.stats()["observations"], 1)
        sent, evs = self.change()
        self.assertEqual((sent, evs), (0, []))
        # and the bound is the whole bound again
        ok, refused = self.observe_many(self.MAX + 1)
        self.assertEqual((len(ok), len(refused)), (self.MAX, 1))

    def test_composite_counts_as_one(self):
        ok = [self.srv.request("observe-composite", ep="ep0", paths=["/3/0/9", self.PATH], ct=112)
              for _ in range(self.MAX)]
        self.assertEqual({"observe" in r for r in ok}, {True})
        r = self.srv.request("observe-composite", ep="ep0", paths=["/3/0/9", self.PATH], ct=112)
        self.assertEqual((r["code"], "observe" in r, r.get("text")), ("5.03", False, "too many observations"))
        self.cl.wait_log("Observe-Composite of 2 paths refused")
        self.assert_notified(ok)

    def test_reload_lowers_the_bound(self):
        ok, _ = self.observe_many(60)
        self.assertEqual(len(ok), 60)
        # lowered below what is held: nothing ends, nothing new
        self.cl.cmd("max-observations 20")
        self.assertEqual(self.observe_many(1)[0], [])
        self.assert_notified(ok)
        self.cancel_all(ok[:40], "get")
        self.assertEqual(self.observe_many(1)[0], [])    # 20 held: at the bound
        self.cancel_all(ok[40:41], "get")
        more, refused = self.observe_many(2)
        self.assertEqual((len(more), len(refused)), (1, 1))
        self.assert_notified(ok[41:] + more)


class ResetById(Counting, unittest.TestCase):
    """libcoap 4.3.1 reports a Reset to a NON notification by its message
    id alone, without the session, and message ids are per session. Here
    every session starts at the same id (--same-mids), so ep0's and ep1's
    notifications would carry the same ids: a Reset must still cancel the
    one observation it answers, and all of them end."""
    COUNT = 3
    OPTS = {"same_mids": True}
    TARGETS = ("ep0", "ep1")

    def test_resets_of_two_endpoints_with_the_same_ids(self):
        obs = self.observe_many(self.MAX, ep="ep0")[0] + self.observe_many(self.MAX, ep="ep1")[0]
        self.assertEqual(len(obs), 2 * self.MAX)
        sent, evs = self.change()
        self.assertEqual((sent, len(evs)), (len(obs), len(obs)))
        # every id told only one observation apart
        self.assertEqual(len({e["mid"] for e in evs}), len(obs))
        self.reset_all(obs)


class BoundGateway(unittest.TestCase):
    def test_bound_per_device(self):
        # Object 25: each device is bounded like an endpoint, and so is the
        # gateway's own tree.
        with server() as srv:
            cl = Client(uri(srv), count=1, name="gw", max_observations=5)
            self.addCleanup(cl.stop)
            cl.start()
            srv.wait_event("register", ep="gw0")
            cl.wait_state("gw0", "registered")
            for d in ("dev0", "dev1"):
                cl.cmd(f"add-device gw0 {d} {d.upper()}")
            srv.wait_event("update", ep="gw0")

            def observe(path, n):
                rs = [srv.response(srv.send("observe", ep="gw0", path=path)) for _ in range(n)]
                self.assertEqual({r["code"] for r in rs}, {"2.05", "5.03"})
                return [r for r in rs if r["code"] == "2.05" and "observe" in r]

            ok0 = observe("/dev0/3303/0/5700", 7)
            self.assertEqual(len(ok0), 5)
            self.assertEqual(len(observe("/dev1/3303/0/5700", 7)), 5)
            self.assertEqual(len(observe("/3303/0/5700", 7)), 5)
            cl.wait_log("Observe of /dev0/3303/0/5700 refused: 5 observations held")
            self.assertEqual(cl.stats()["obs_refused"], 6)
            cl.cmd("dset gw0 dev0 /3303/0/5700 18.5")
            for o in ok0:
                n = srv.wait_event("notify", where=lambda e, o=o: e["observation"] == o["id"])
                self.assertEqual(records_by_path(n), {"/dev0/3303/0/5700": 18.5})
            self.assertEqual(cl.quit(), 0)
            self.assertEqual(srv.events("stray"), [])


class Lifecycle(unittest.TestCase):
    def test_device_observation_and_removals(self):
        with server() as srv:
            cl = Client(uri(srv), count=2, name="gw")
            self.addCleanup(cl.stop)
            cl.start()
            for i in range(2):
                srv.wait_event("register", ep=f"gw{i}")
                cl.wait_state(f"gw{i}", "registered")
            cl.cmd("add-device gw0 dev0 D0")
            srv.wait_event("update", ep="gw0")
            obs = srv.request("observe", ep="gw0", path="/dev0/3303/0/5700")
            self.assertEqual(obs["code"], "2.05")
            cl.cmd("dset gw0 dev0 /3303/0/5700 18.5")
            n = srv.wait_event("notify", where=lambda e: e["observation"] == obs["id"])
            self.assertEqual(records_by_path(n), {"/dev0/3303/0/5700": 18.5})
            # The gateway's own /3303/0/5700 is another value.
            cl.cmd("set gw0 /3303/0/5700 40")
            with self.assertRaises(TimeoutError):
                srv.wait_event("notify", timeout=0.5, where=lambda e: e["observation"] == obs["id"])
            cl.cmd("remove-device gw0 dev0")
            self.assertEqual(cl.stats()["observations"], 0)
            # An endpoint's observations end with it.
            o1 = srv.request("observe", ep="gw1", path="/3303/0/5700")
            self.assertEqual(o1["code"], "2.05")
            self.assertEqual(cl.stats()["observations"], 1)
            cl.cmd("remove gw1")
            srv.wait_event("deregister", ep="gw1")
            self.assertEqual(cl.stats()["observations"], 0)
            self.assertEqual(cl.quit(), 0)
            self.assertEqual(srv.events("stray"), [])


class Contexts(unittest.TestCase):
    def test_endpoints_of_a_third_libcoap_context(self):
        # The client spreads its sessions over libcoap contexts of 64
        # (lwm2m/client/cctx.c), each with its own descriptor and timer in
        # the loop: of 150 endpoints, the last ones are in a third context.
        # Every endpoint registers, answers, notifies and de-registers.
        n = 150
        srv = server().start()
        self.addCleanup(srv.stop)
        cl = Client(uri(srv), count=n, rate=1000, lifetime=300).start()
        self.addCleanup(cl.stop)
        for i in range(n):
            srv.wait_event("register", ep=f"ep{i}", timeout=30)
        self.assertEqual(len(srv.registrations()), n)
        obs = {}
        for ep in ("ep0", "ep70", "ep149"):
            r = srv.request("read", ep=ep, path="/3/0")
            self.assertEqual(r["code"], "2.05", f"{ep}: {r}")
            r = srv.request("write-attributes", ep=ep, path="/3303/0/5700", attrs={"pmax": 1})
            self.assertEqual(r["code"], "2.04", f"{ep}: {r}")
            obs[ep] = srv.request("observe", ep=ep, path="/3303/0/5700")
            self.assertEqual(obs[ep]["code"], "2.05", f"{ep}: {obs[ep]}")
        for i, ep in enumerate(obs):
            cl.cmd(f"set {ep} /3303/0/5700 {20 + i}.5")
        for i, ep in enumerate(obs):
            n1 = srv.wait_event("notify", timeout=6, where=lambda e, o=obs[ep], v=20 + i + 0.5:
                                e["observation"] == o["id"] and records_by_path(e).get("/3303/0/5700") == v)
            self.assertEqual(n1["ep"], ep)
        st = cl.stats()
        self.assertEqual((st["endpoints"], st["registered"], st["failures"]), (n, n, 0))
        self.assertEqual(cl.quit(timeout=30), 0)
        deregs = [srv.wait_event("deregister", ep=f"ep{i}", timeout=30) for i in range(n)]
        self.assertEqual({d["code"] for d in deregs}, {"2.02"})


class Send(unittest.TestCase):
    def test_send_values(self):
        with server() as srv:
            cl = Client(uri(srv), count=1, name="gw")
            self.addCleanup(cl.stop)
            cl.start()
            srv.wait_event("register", ep="gw0")
            cl.wait_state("gw0", "registered")
            cl.cmd("set gw0 /3303/0/5700 17.25")
            cl.cmd("send gw0 - /3303/0/5700 /3/0/9")
            ev = srv.wait_event("send", ep="gw0")
            self.assertEqual((ev["ct"], ev["code"]), (112, "2.04"))
            self.assertEqual(records_by_path(ev), {"/3/0/9": 95, "/3303/0/5700": 17.25})
            # A device's values carry its prefix.
            cl.cmd("add-device gw0 dev3 D3")
            cl.cmd("send gw0 dev3 /3303/0")
            ev = srv.wait_event("send", ep="gw0")
            self.assertEqual(records_by_path(ev), {"/dev3/3303/0/5700": 21.5, "/dev3/3303/0/5701": "Cel"})
            # Refused by the server: logged, nothing else breaks.
            srv.request("fail", what="send", code="4.00")
            cl.cmd("send gw0 - /3/0/9")
            cl.wait_log("Send answered 4.00")
            self.assertRaises(AssertionError, cl.cmd, "send gw0 - /3/0/99")   # -ENOENT
            self.assertRaises(AssertionError, cl.cmd, "send gw0 - /0/0")      # never /0
            self.assertEqual(cl.quit(), 0)

    def test_send_needs_lwm2m_11(self):
        with server() as srv:
            cl = Client(uri(srv), count=1, version=10)
            self.addCleanup(cl.stop)
            cl.start()
            cl.wait_state("ep0", "registered")
            cl.send("send ep0 - /3/0/9")
            self.assertEqual(cl.wait(lambda ln: ln.startswith("error")), "error send -93")
            self.assertEqual(srv.events("send"), [])


if __name__ == "__main__":
    main(sys.modules[__name__])
