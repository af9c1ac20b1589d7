#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""DTLS with pre-shared keys in lwm2m/client: registration and device
management over coaps:// with the right key; a wrong key or an unknown
identity fails with a clear error, is retried with backoff, never hangs, and
succeeds once the server knows the key."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import Client, main, server, uri  # noqa: E402

KEY = b"fieldgate-secret"


class Psk(unittest.TestCase):
    def setUp(self):
        self.srv = server(psk=[("dev-psk", KEY), ("other", b"other-key")]).start()

    def tearDown(self):
        self.srv.stop()

    def client(self, **kw):
        cl = Client(uri(self.srv, secure=True), **kw)
        self.addCleanup(cl.stop)
        return cl.start()

    def test_register_and_manage_over_dtls(self):
        cl = self.client(count=2, psk_id="dev-psk", psk_key=KEY.hex())
        regs = [self.srv.wait_event("register", ep=f"ep{i}", timeout=10) for i in range(2)]
        for r in regs:
            self.assertTrue(r["secure"])
            self.assertEqual(r["identity"], "dev-psk")
        self.assertNotEqual(regs[0]["addr"], regs[1]["addr"])
        r = self.srv.request("read", ep="ep1", path="/3/0/2")
        self.assertEqual((r["code"], r["text"]), ("2.05", "SN-00001"))
        r = self.srv.request("write", ep="ep0", path="/3/0/14", ct=0, text="+09:00")
        self.assertEqual(r["code"], "2.04")
        self.assertEqual(cl.get("ep0", "/3/0/14"), "+09:00")
        self.assertEqual(cl.quit(), 0)
        for i in range(2):
            self.assertEqual(self.srv.wait_event("deregister", ep=f"ep{i}")["code"], "2.02")

    def test_wrong_key_fails_clearly_and_retries_with_backoff(self):
        cl = self.client(count=1, psk_id="dev-psk", psk_key=b"not-the-key".hex(),
                         backoff_min=400, backoff_max=800, dtls_timeout=1500)
        t0 = time.monotonic()
        first = cl.wait_log("DTLS handshake", timeout=10)
        self.assertTrue(first.startswith("log 3 ep0 Register failed: DTLS handshake"), first)
        self.assertIn("wrong PSK identity or key?", first)
        cl.wait_log("DTLS handshake", timeout=10)
        cl.wait_log("DTLS handshake", timeout=10)
        # Three attempts of at most 1.5 s each plus backoff of at most 0.8 s.
        self.assertLess(time.monotonic() - t0, 3 * 1.5 + 2 * 0.8 + 2)
        cl.wait(lambda ln: ln == "state ep0 waiting -111")
        self.assertEqual(self.srv.events("register"), [])
        t0 = time.monotonic()
        self.assertEqual(cl.quit(), 0)
        self.assertLess(time.monotonic() - t0, 2)

    def test_unknown_identity_then_key_added(self):
        cl = self.client(count=1, psk_id="late", psk_key=b"late-key".hex(),
                         backoff_min=300, backoff_max=600, dtls_timeout=1500)
        line = cl.wait_log("Register failed: DTLS", timeout=10)
        self.assertIn("wrong PSK identity or key?", line)
        self.srv.request("psk", identity="late", key=b"late-key".hex())
        ev = self.srv.wait_event("register", ep="ep0", timeout=10)
        self.assertEqual(ev["identity"], "late")
        cl.wait_state("ep0", "registered")
        self.assertEqual(cl.quit(), 0)
        self.srv.wait_event("deregister", ep="ep0")

    def test_coaps_requires_a_key(self):
        cl = Client(uri(self.srv, secure=True), count=1)
        self.addCleanup(cl.stop)
        with self.assertRaises(AssertionError):
            cl.start()
        self.assertEqual(cl.wait_exit(), 1)
        self.assertIn("lwm2m_endpoint_add(ep0): Invalid argument", cl.logs)


if __name__ == "__main__":
    main(sys.modules[__name__])
