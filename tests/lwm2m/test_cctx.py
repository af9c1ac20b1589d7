#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""lwm2m/client's libcoap contexts in the loop (lwm2m/client/cctx.c), which
skips walks of a context where libcoap keeps its own timer right and reads
the answers to a burst of Updates together:

- retransmissions of confirmable messages leave on time: a lost Update is
  sent again ACK_TIMEOUT x [1, 1.5] after the first copy, also while
  another endpoint of the same context is retransmitting (libcoap 4.3.1's
  coap_wait_ack() then arms its timer seconds late; the client walks the
  context half an ACK_TIMEOUT after a send, unless its answer came);
- after the Updates of one tick, while their answers are read in batches
  (a context waits 10 ms between reads for 2 s), the server's requests
  are still answered, each within that wait.

Between the endpoints and fg-lwm2m-server, tests/lwm2m/udpproxy.py drops
the datagrams chosen here; the times compared are the proxy's (when it
dropped the first copy) and the server's (when the copy that came through
arrived), both CLOCK_MONOTONIC."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import Client, main, server, uri  # noqa: E402
from udpproxy import UdpProxy  # noqa: E402

ACK_MS = 1000
# RFC 7252 4.2: the first retransmission comes ACK_TIMEOUT times a random
# factor in [1, ACK_RANDOM_FACTOR = 1.5] after the message; libcoap counts
# in milliseconds, the loop and the proxy's thread add a little.
EARLY_MS = 20
LATE_MS = 300


class Dropper:
    """Which client address is which endpoint (from its Register's ep=
    query), and the datagrams to drop: every one of the endpoints in
    `mute` after their Register, the first one of those in `once`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.addr = {}       # endpoint name -> client address
        self.mute = set()
        self.once = set()
        self.dropped = {}    # endpoint name -> [monotonic ms of each drop]

    def name_of(self, data, addr):
        for ep, a in self.addr.items():
            if a == addr:
                return ep
        for ep in ("ep0", "ep1"):
            if b"ep=" + ep.encode() in data:
                self.addr[ep] = addr
        return None

    def __call__(self, direction, data, addr):
        if direction != "up":
            return False
        with self.lock:
            ep = self.name_of(data, addr)
            if ep is None or not (ep in self.mute or ep in self.once):
                return False
            self.once.discard(ep)
            self.dropped.setdefault(ep, []).append(time.monotonic() * 1000)
            return True

    def drops(self, ep):
        with self.lock:
            return list(self.dropped.get(ep, []))

    def wait_drops(self, ep, n, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            d = self.drops(ep)
            if len(d) >= n:
                return d
            time.sleep(0.02)
        raise AssertionError(f"{ep}: {len(self.drops(ep))} datagrams dropped, waited for {n}")


class Retransmit(unittest.TestCase):
    def setUp(self):
        self.srv = server().start()
        self.addCleanup(self.srv.stop)
        self.drop = Dropper()
        self.proxy = UdpProxy(self.srv.port, drop_if=self.drop).start()
        self.addCleanup(self.proxy.stop)
        # Lifetime 300 s: no Update of its own comes during the test.
        self.cl = Client(f"coap://127.0.0.1:{self.proxy.port}", count=2, lifetime=300,
                         ack_timeout=ACK_MS, max_retransmit=4).start()
        self.addCleanup(self.cl.stop)
        for ep in ("ep0", "ep1"):
            self.srv.wait_event("register", ep=ep)
            self.cl.wait_state(ep, "registered")

    def lost_update_sent_again(self, ep):
        with self.drop.lock:
            self.drop.once.add(ep)
        self.cl.cmd(f"update {ep}")
        first = self.drop.wait_drops(ep, 1, 5)[0]
        up = self.srv.wait_event("update", ep=ep, timeout=5)
        d = up["ts"] - first
        self.assertGreaterEqual(d, ACK_MS - EARLY_MS, f"{ep}: Update sent again {d:.0f} ms after the first copy")
        self.assertLessEqual(d, ACK_MS * 1.5 + LATE_MS, f"{ep}: Update sent again {d:.0f} ms after the first copy")
        self.assertEqual(len(self.drop.drops(ep)), 1)
        self.assertEqual(self.srv.events("update-rejected"), [])

    def test_lost_update_sent_again_on_time(self):
        self.lost_update_sent_again("ep0")

    def test_lost_update_on_time_while_another_endpoint_retransmits(self):
        # ep0's Update gets no answer: libcoap sends it again after T, 3T
        # and 7T (T = ACK_TIMEOUT x random factor, the send queue's base
        # time moving to each) and would give up after 31T (31 s at
        # least). 1.5 s after its third retransmission, ep1's Update (the
        # first copy lost) enters the queue ahead of it: libcoap 4.3.1
        # alone would send ep1's copy 1.5 s late.
        with self.drop.lock:
            self.drop.mute.add("ep0")
        self.cl.cmd("update ep0")
        third = self.drop.wait_drops("ep0", 4, 15)[3]
        time.sleep(max(0.0, third / 1000 + 1.5 - time.monotonic()))
        self.lost_update_sent_again("ep1")
        # ep0 was still retransmitting: the case this test is about.
        self.assertEqual(len(self.drop.drops("ep0")), 4)


class Burst(unittest.TestCase):
    def test_requests_answered_while_answers_to_updates_are_batched(self):
        srv = server().start()
        self.addCleanup(srv.stop)
        cl = Client(uri(srv), count=4, lifetime=300, rate=1000).start()
        self.addCleanup(cl.stop)
        for i in range(4):
            cl.wait_state(f"ep{i}", "registered")
        for rnd in range(2):
            n0 = len(srv.events("update"))
            # One turn of the loop sends the four Updates: their context
            # reads in batches for the next 2 s.
            cl.cmd("update *")
            t0 = time.monotonic()
            for i in range(4):
                srv.wait_event("update", ep=f"ep{i}", where=lambda e: e["ts"] >= t0 * 1000 - 5)
            for k in range(8):
                ep = f"ep{k % 4}"
                t = time.monotonic()
                r = srv.request("read", ep=ep, path="/3/0/2", accept=0, timeout=5)
                ms = (time.monotonic() - t) * 1000
                self.assertEqual((r.get("code"), r.get("text")), ("2.05", f"SN-{k % 4:05d}"), r)
                # The wait (10 ms) and the server's and Python's time.
                self.assertLessEqual(ms, 10 + LATE_MS, f"read {k} of round {rnd} answered after {ms:.0f} ms")
            self.assertLess(time.monotonic() - t0, 2, "the reads were not all in the batching time")
            self.assertEqual(len(srv.events("update")), n0 + 4)
        self.assertEqual(srv.events("update-rejected"), [])


if __name__ == "__main__":
    main(sys.modules[__name__])
