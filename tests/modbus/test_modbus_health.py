#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A unit's health on a shared bus, end to end (issue 11, item 4):

- a unit dripping its answer one byte every 200 ms is cut at the bus's
  `timeout` (the bound holds for the whole answer, not per byte), is
  quarantined, and the healthy unit beside it keeps >= 90 % of its polls;
- a unit that answers within the timeout but slowly delays the others by at
  most one of its transactions (fair queuing): the healthy unit keeps >= 90 %
  of its polls although the slow unit's reads outlast the poll period;
- units answering only exception 04, exception 06 or a wrong transaction id
  are reported unreachable (/3/0/11/0 = 16, read through LwM2M) once they
  have failed for `unreachable_after`, with counters saying why in
  `fieldgate status`, serve no fresh values meanwhile, and are reachable
  again when they recover; a unit answering exception 02 (a profile
  problem) stays reachable.

Peers: mb-test-server (libmodbus's server API; --drip) and Debian's
pymodbus server with answers spoiled per unit (pymb_server.py "fault").

Usage: test_modbus_health.py PATH/TO/fieldgate PATH/TO/mb-test-server
"""
import re
import sys
import time

import mbtest
from mbtest import TWO_BLOCKS, Base

PERIOD_MS = 500
WINDOW_MS = 10000


def in_window(reqs, unit, t0, t1):
    return [r for r in reqs if r["unit"] == unit and t0 <= r["ts"] < t1]


class Health(Base):
    def window(self, mb):
        """Requests seen by mb during the next WINDOW_MS (server clock =
        time.monotonic()): the poll count over a fixed time is the figure."""
        t0 = time.monotonic() * 1000
        mb.wait_request(lambda r: r["ts"] >= t0 + WINDOW_MS, timeout=WINDOW_MS / 1000 + 10)
        return t0, t0 + WINDOW_MS

    def test_dripping_unit_is_cut_at_the_timeout(self):
        self.profile("two", TWO_BLOCKS)
        # Unit 2 sends its answers one byte every 200 ms (21 bytes: 4 s): with
        # a per-byte timeout (libmodbus's default, 500 ms) it never times out.
        mb = self.mbserver(drip=[(2, 200)])
        gw = self.tcp_gateway(mb, "timeout: 300ms\nbackoff_min: 2s\nbackoff_max: 8s",
                              [("slow", "two", 2), ("alive", "two", 1)])
        self.wait_value("gw-alive", "/3300/1/5700", lambda v: v.get("/3300/1/5700") == 1.0)
        t0, t1 = self.window(mb)
        reqs = mb.requests()
        alive = [r for r in in_window(reqs, 1, t0, t1) if r["reply"] == "ok" and r["fc"] == 3]
        slow = in_window(reqs, 2, t0, t1)
        expected = WINDOW_MS // PERIOD_MS
        print("healthy unit: %d polls of %d expected in %d ms; dripping unit: %d requests"
              % (len(alive), expected, WINDOW_MS, len(slow)))
        self.assertGreaterEqual(len(alive), 0.9 * expected, [r["ts"] for r in alive])
        # Quarantined: one probe per backoff (2 s, 4 s, 8 s), not one every 500 ms.
        self.assertLessEqual(len(slow), 4, slow)
        # Each answer was given up at the timeout: the connection is closed
        # (its late bytes must not meet the next request) 300 ms after the
        # request, whatever the bytes trickling in meanwhile.
        cut = [e for e in mb.events() if e["event"] == "closed" and e["unit"] == 2]
        drips = [r for r in reqs if r["unit"] == 2 and r["reply"] == "drip"]
        self.assertGreaterEqual(len(cut), 2, (drips, cut))
        took = []
        for r in drips:
            c = [e for e in cut if e["ts"] >= r["ts"]]
            if not c:
                continue  # the last one may still be dripping
            took.append(round(c[0]["ts"] - r["ts"]))
            self.assertGreaterEqual(took[-1], 290, (r, c[0]))
            self.assertLess(took[-1], 300 + 150, (r, c[0]))
            self.assertLess(c[0]["sent"], c[0]["of"], c[0])
        print("dripping answers given up after (ms, timeout 300): %s" % took)
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"unit=2 req=\d+ exc=0 crc=0 bad=0 timeout=[1-9]\d* quarantined", st)
        self.assertRegex(st, r"unit=1 req=\d+ exc=0 crc=0 bad=0 timeout=0", st)
        self.assertEqual(self.read("gw-slow", "/3/0/11")["/3/0/11/0"], 16)
        self.assertEqual(self.read("gw-alive", "/3/0/11")["/3/0/11/0"], 0)

    def test_slow_unit_gets_only_its_share(self):
        self.profile("two", TWO_BLOCKS)
        # Unit 2 answers within the timeout (21 bytes at 20 ms: 400 ms, 11
        # bytes: 200 ms), but its two reads take longer than the 500 ms
        # period. Listed first, first in the queue: served in order, the
        # healthy unit would wait behind both and miss every other cycle.
        mb = self.mbserver(drip=[(2, 20)])
        gw = self.tcp_gateway(mb, "timeout: 600ms", [("slow", "two", 2), ("alive", "two", 1)])
        self.wait_value("gw-alive", "/3300/2/5700", lambda v: v.get("/3300/2/5700") == 10.0)
        self.wait_value("gw-slow", "/3300/2/5700", lambda v: v.get("/3300/2/5700") == 10.0)
        t0, t1 = self.window(mb)
        reqs = mb.requests()
        alive = [r for r in in_window(reqs, 1, t0, t1) if r["reply"] == "ok" and r["fc"] == 4]
        slow = [r for r in in_window(reqs, 2, t0, t1) if r["fc"] == 4]
        expected = WINDOW_MS // PERIOD_MS
        print("healthy unit: %d polls of %d expected in %d ms; slow unit: %d" % (len(alive), expected, WINDOW_MS,
                                                                                 len(slow)))
        self.assertGreaterEqual(len(alive), 0.9 * expected, [r["ts"] for r in alive])
        # The slow unit is not quarantined for being slow: it still answers.
        self.assertGreaterEqual(len(slow), expected // 3, slow)
        st = gw.ctl("status").stdout
        self.assertRegex(st, r"unit=2 req=\d+ exc=0 crc=0 bad=0 timeout=0", st)
        self.assertEqual(self.read("gw-slow", "/3/0/11")["/3/0/11/0"], 0)

    def test_failing_answers_make_a_unit_unreachable(self):
        self.profile("two", TWO_BLOCKS)
        units = {"ok": 1, "e04": 2, "tid": 3, "e02": 4, "e06": 5}
        mb = self.pymodbus(units=tuple(units.values()))
        for u in units.values():
            mb.set(u, "holding", 0, [10 * u, 10 * u + 1])
        gw = self.tcp_gateway(mb, "timeout: 300ms\nunreachable_after: 2s",
                              [(n, "two", u) for n, u in units.items()])
        for n, u in units.items():
            self.wait_value("gw-" + n, "/3300/1/5700", lambda v, u=u: v.get("/3300/1/5700") == 10 * u + 1)
            r = self.srv.request("observe", ep="gw-" + n, path="/3/0/11/0", timeout=10)
            self.assertEqual(r["code"], "2.05", r)
        t0 = time.monotonic() * 1000
        mb.fault(units["e04"], "exception", 4)   # server device failure
        mb.fault(units["tid"], "tid")            # an answer to some other request
        mb.fault(units["e02"], "exception", 2)   # illegal data address: the profile's problem
        mb.fault(units["e06"], "exception", 6)   # busy, for longer than unreachable_after
        # A new value while failing: it must not be served.
        mb.set(units["e04"], "holding", 0, [777])
        down = {}
        for n in ("e04", "tid", "e06"):
            e = self.srv.wait_event("notify", ep="gw-" + n, timeout=10,
                                    where=lambda e: records_by_value(e) == 16)
            down[n] = e["ts"] - t0
        print("reported unreachable after (ms, unreachable_after 2000, poll 500): %s"
              % {n: round(v) for n, v in down.items()})
        for n, ms in down.items():
            self.assertGreaterEqual(ms, 2000, (n, down))
            self.assertLess(ms, 2000 + PERIOD_MS + 1000, (n, down))
        for n in ("ok", "e02"):
            self.assertEqual(self.read("gw-" + n, "/3/0/11")["/3/0/11/0"], 0, n)
        self.assertEqual(self.read("gw-e04", "/3300/0/5700")["/3300/0/5700"], 20.0)  # stale, not 777
        st = gw.ctl("status").stdout
        counts = {}
        for n, u in units.items():
            m = re.search(r"unit=%d req=(\d+) exc=(\d+) crc=(\d+) bad=(\d+) timeout=(\d+)([^\n]*)" % u, st)
            self.assertIsNotNone(m, st)
            counts[n] = tuple(int(x) for x in m.groups()[:5]) + (m.group(6),)
        self.assertGreaterEqual(counts["e04"][1], 4, st)
        self.assertRegex(counts["e04"][5], r"failing \d+ ms \(exception 04\)", st)
        self.assertGreaterEqual(counts["e06"][1], 4, st)
        self.assertRegex(counts["e06"][5], r"failing \d+ ms \(exception 06\)", st)
        self.assertGreaterEqual(counts["tid"][3], 4, st)
        self.assertRegex(counts["tid"][5], r"failing \d+ ms \(bad answer\)", st)
        self.assertEqual(counts["tid"][1:3] + counts["tid"][4:5], (0, 0, 0), st)
        self.assertGreaterEqual(counts["e02"][1], 4, st)
        self.assertNotIn("failing", counts["e02"][5], st)
        self.assertEqual(counts["ok"][1:5], (0, 0, 0, 0), st)

        # Recovery: the next good answer makes them reachable, with fresh values.
        t0 = time.monotonic() * 1000
        for n in ("e04", "tid", "e06", "e02"):
            mb.fault(units[n], "none")
        for n in ("e04", "tid", "e06"):
            e = self.srv.wait_event("notify", ep="gw-" + n, timeout=5, where=lambda e: records_by_value(e) == 0)
            self.assertLess(e["ts"] - t0, PERIOD_MS + 1000, n)
        self.wait_value("gw-e04", "/3300/0/5700", lambda v: v.get("/3300/0/5700") == 777.0)
        self.assertNotIn("failing", gw.ctl("status").stdout)


def records_by_value(e):
    recs = e.get("records") or [{}]
    return recs[0].get("value")


if __name__ == "__main__":
    sys.exit(mbtest.main(sys.argv, globals()))
