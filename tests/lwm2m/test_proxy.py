# SPDX-License-Identifier: Apache-2.0
"""Issue 15: a bad path between gateway and server (tests/lwm2m/udpproxy.py
drops, duplicates, delays and reorders datagrams both ways).

  - every value of a historical resource arrives (Send is confirmed and
    retransmitted, acknowledged before the value is deleted), in order of
    its first arrival, with its time; none lost unless counted dropped;
  - a Write or Execute the path duplicates runs once (the repeat gets the
    first answer again);
  - with the server gone behind the proxy (no ICMP reaches the client, as
    on a real network) the loss is found by a timeout and what was held
    meanwhile arrives once the server is back.
"""
import sys
import time
import unittest

from clienttest import Client, main, server, uri
from test_store_forward import HZ, PATH, Base, arrivals, merged
from udpproxy import UdpProxy


class Proxy(Base):
    N = 2

    def proxied(self, srv, **kw):
        p = UdpProxy(srv.port, **kw).start()
        self.addCleanup(p.stop)
        return p

    def client_via(self, p, **kw):
        opts = dict(count=self.N, lifetime=300, state_dir=self.state, log_level=7)
        opts.update(kw)
        cl = Client(f"coap://127.0.0.1:{p.port}", **opts)
        self.addCleanup(cl.stop)
        return cl.start()

    def test_values_survive_drop_duplicate_delay_reorder(self):
        names = [f"ep{i}" for i in range(self.N)]
        srv = self.server()
        p = self.proxied(srv, drop=0.1, dup=0.1, delay_ms=(0, 120), seed=15)
        # More retransmissions: the path loses one datagram in ten.
        cl = self.client_via(p, ack_timeout=1000, max_retransmit=5)
        self.registered(srv, cl, names)
        cl.cmd("historical * on")
        cl.cmd(f"pump * {PATH} {HZ}")
        time.sleep(10)
        sent = self.stop_pumps(cl, names)
        self.settle(cl, names, timeout=90)
        dropped = self.dropped(cl, names)
        st = dict(p.stats)
        self.assertEqual(cl.quit(timeout=30), 0)
        self.check(names, sent, dropped)
        self.assertEqual({d for d, _ in dropped.values()}, {0})
        self.assertGreater(st["dropped"], 2, st)
        self.assertGreater(st["duplicated"], 2, st)
        print(f"# proxy: {st}; {sum(sent.values())} values, all delivered", file=sys.stderr)

    def test_duplicated_write_and_execute_run_once(self):
        srv = self.server()
        # Every datagram from the server arrives twice, the copy up to
        # 200 ms later (and its answers twice at the server: it keeps one).
        p = self.proxied(srv, down={"dup": 1.0, "delay_ms": (0, 200)})
        cl = self.client_via(p, count=1, ops=True)
        self.registered(srv, cl, ["ep0"])
        for k in range(5):
            r = srv.request("write", ep="ep0", path="/3/0/14", value=f"+0{k}:00", timeout=10)
            self.assertEqual(r["code"], "2.04", r)
            r = srv.request("execute", ep="ep0", path="/3/0/4", args=str(k), timeout=10)
            self.assertEqual(r["code"], "2.04", r)
        time.sleep(0.5)  # the last copies
        writes = [ln for ln in cl.lines if ln and ln.startswith("write ep0 - /3/0/14 ")]
        execs = [ln for ln in cl.lines if ln and ln.startswith("exec ep0 - /3/0/4 ")]
        self.assertEqual(len(writes), 5, writes)
        self.assertEqual(len(execs), 5, execs)
        self.assertGreaterEqual(cl.stats()["duplicates"], 10)
        self.assertEqual(cl.quit(), 0)

    def test_server_gone_behind_the_path(self):
        # No ICMP through the proxy: the loss shows as a Send without
        # answer (MAX_TRANSMIT_WAIT: 1 s * 7 * 1.5 = 10.5 s here; libcoap
        # 4.3.1 takes no ACK_TIMEOUT below 1 s).
        names = ["ep0"]
        srv = self.server()
        p = self.proxied(srv)
        cl = self.client_via(p, count=1, ack_timeout=1000, max_retransmit=2)
        self.registered(srv, cl, names)
        cl.cmd("historical * on")
        cl.cmd(f"pump * {PATH} {HZ}")
        time.sleep(1)
        port = srv.port
        srv.kill()
        cl.wait_log("unreachable (a Send got no answer)", timeout=20)
        time.sleep(2)
        srv2 = self.server(port=port)
        self.registered(srv2, cl, names)
        sent = self.stop_pumps(cl, names)
        self.settle(cl, names, timeout=30)
        dropped = self.dropped(cl, names)
        self.assertEqual(cl.quit(), 0)
        self.check(names, sent, dropped)


if __name__ == "__main__":
    main(sys.modules[__name__])
