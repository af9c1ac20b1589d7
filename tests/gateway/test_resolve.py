#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""LwM2M server host names: `fieldgate run` resolves a name without blocking
its loop. A server URI with host `localhost` registers (endpoint and gateway
mode); a name that cannot resolve (the reserved .invalid TLD, RFC 6761) is
logged once, leaves the endpoints "resolving" while `fieldgate status`,
samples and reloads keep working, and is retried; a reload to a working
server cancels the failing lookup and registers; SIGTERM exits 0 promptly.

Usage: test_resolve.py PATH/TO/fieldgate   (meson passes it)
"""
import os
import re
import signal
import socket
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_devices as td  # noqa: E402

BAD_HOST = "fieldgate-test.invalid"


def localhost_is_ipv4():
    """Why the localhost tests cannot run here, or None."""
    try:
        with open("/etc/hosts") as f:
            names = [ln.split("#")[0].split() for ln in f]
    except OSError as e:
        return "cannot read /etc/hosts: %s" % e
    if not any(len(w) > 1 and w[0] == "127.0.0.1" and "localhost" in w[1:] for w in names):
        return "/etc/hosts has no '127.0.0.1 localhost' line"
    try:
        first = socket.getaddrinfo("localhost", None, type=socket.SOCK_DGRAM)[0][4][0]
    except OSError as e:
        return "localhost does not resolve: %s" % e
    if first != "127.0.0.1":
        return "localhost resolves to %s first (the test server listens on 127.0.0.1)" % first
    return None


class Resolve(td.Base):
    def status(self, gw):
        r = gw.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_localhost_endpoint_mode(self):
        why = localhost_is_ipv4()
        if why:
            self.skipTest(why)
        url = "coap://localhost:%d" % self.srv.port
        gw = self.start(td.config(url, "@SOCK@", [{"name": "s1"}]))
        regs = {self.srv.wait_event("register", ep=ep, timeout=15)["ep"] for ep in ("gw", "gw-s1")}
        self.assertEqual(regs, {"gw", "gw-s1"})
        gw.wait_log(r"LwM2M server host 'localhost' resolved to 127\.0\.0\.1")
        self.assertEqual(self.value("gw-s1", "/3/0/2"), "s1")
        self.assertEqual(re.sub(r" \d+s +", " AGE ", self.status(gw)),
                         "Gateway gw (endpoint mode): endpoint gw registered\n"
                         "DEVICE  BRIDGE  ENDPOINT  STATE          LAST SAMPLE  ERRORS\n"
                         "s1      -       gw-s1     registered     never        decode 0, unreachable 0, registration 0\n"
                         "1 device, 1 registered\n")
        gw.proc.send_signal(signal.SIGTERM)
        self.assertEqual(gw.proc.wait(timeout=20), 0)
        gone = {self.srv.wait_event("deregister", timeout=10)["ep"] for _ in range(2)}
        self.assertEqual(gone, {"gw", "gw-s1"})

    def test_localhost_gateway_mode(self):
        why = localhost_is_ipv4()
        if why:
            self.skipTest(why)
        url = "coap://localhost:%d" % self.srv.port
        gw = self.start(td.config(url, "@SOCK@", [{"name": "s1"}], mode="gateway"))
        self.srv.wait_event("register", ep="gw", timeout=15)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.srv.request("read", ep="gw", path="/25", timeout=10)
            prefixes = sorted(v for p, v in td.records_by_path(r).items() if p.endswith("/1"))
            if prefixes == ["s1"]:
                break
            time.sleep(0.2)
        self.assertEqual(prefixes, ["s1"])
        self.assertEqual(self.value("gw", "/s1/3/0/0"), "fieldgate demo")

    def test_unresolvable_then_reload(self):
        # No network here: the lookup fails fast or times out; either way
        # it must be logged (once) and the daemon must stay responsive.
        bad = "coap://%s:5683" % BAD_HOST
        devs = [{"name": "s1"}, {"name": "s2"}]
        gw = self.start(td.config(bad, "@SOCK@", devs))
        gw.wait_log(r"fieldgate .* ready")
        # Answered while the lookup is pending or failing.
        out = self.status(gw)
        self.assertIn("Gateway gw (endpoint mode): endpoint gw resolving\n", out)
        self.assertRegex(out, r"Server host %s: (resolving|lookup failed \(.+\), retrying)\n" % re.escape(BAD_HOST))
        self.assertRegex(out, r"\ns1 +- +gw-s1 +resolving ")
        self.assertRegex(out, r"\ns2 +- +gw-s2 +resolving ")
        self.assertTrue(out.endswith("2 devices, 0 registered\n"), out)
        line = gw.wait_log(r"Cannot resolve LwM2M server host '%s': .+; retrying" % re.escape(BAD_HOST), timeout=40)
        self.assertIn(BAD_HOST, line)
        # Samples go to the device's store meanwhile.
        self.assertEqual(gw.ctl("sample", "s1", "/3303/0/5700", "20").stdout, "ok\n")
        # Retried (1 s, 2 s, ...) but logged once.
        time.sleep(3.5)
        self.assertEqual(gw.proc.poll(), None)
        self.assertEqual(len([ln for ln in gw.log if "Cannot resolve LwM2M server host" in ln]), 1, gw.log)
        self.assertEqual(self.srv.events("register"), [])
        self.assertRegex(self.status(gw), r"Server host %s: (resolving|lookup failed)" % re.escape(BAD_HOST))

        # A reload with the same servers tries again at once; still responsive.
        start = gw.reload(td.config(bad, "@SOCK@", devs + [{"name": "s3"}]))
        gw.wait_log(r"Configuration applied: 1 device added, 0 removed, 0 changed, 2 unchanged", start)
        self.assertRegex(self.status(gw), r"\ns3 +- +gw-s3 +resolving ")

        # A reload to a working server: the failing lookup is dropped, every
        # endpoint registers.
        start = gw.reload(td.config(self.srv.url, "@SOCK@", devs))
        gw.wait_log(r"LwM2M settings changed: every endpoint registers again", start)
        regs = {self.srv.wait_event("register", ep=ep, timeout=15)["ep"] for ep in ("gw", "gw-s1", "gw-s2")}
        self.assertEqual(regs, {"gw", "gw-s1", "gw-s2"})
        out = self.status(gw)
        self.assertNotIn("Server host", out)
        self.assertTrue(out.endswith("2 devices, 2 registered\n"), out)

        # And back to the bad name: endpoints de-register and wait again.
        start = gw.reload(td.config(bad, "@SOCK@", devs))
        gw.wait_log(r"LwM2M settings changed", start)
        gw.wait_log(r"Cannot resolve LwM2M server host '%s'" % re.escape(BAD_HOST), start, timeout=40)
        self.assertIn("endpoint gw resolving", self.status(gw))

        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        self.assertEqual(gw.proc.wait(timeout=20), 0)
        self.assertLess(time.monotonic() - t0, 10)

    def test_unresolvable_sigterm_at_once(self):
        # SIGTERM right away, maybe with the lookup still running.
        gw = self.start(td.config("coap://%s:5683" % BAD_HOST, "@SOCK@", [{"name": "s1"}], mode="gateway"))
        gw.wait_log(r"fieldgate .* ready")
        self.assertIn("endpoint gw resolving", self.status(gw))
        self.assertRegex(self.status(gw), r"\ns1 +- +gw/s1 +resolving ")
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        self.assertEqual(gw.proc.wait(timeout=20), 0)
        self.assertLess(time.monotonic() - t0, 10)


class CertificateName(unittest.TestCase):
    """Certificate mode (issue 11 item 2): the server's certificate must
    name the host as configured, not the address the name resolved to;
    server_name pins another name."""

    def setUp(self):
        self.d = td.make_pki(self, [("for-localhost", "other.example", "DNS:localhost"),
                                    ("for-address", "127.0.0.1", "IP:127.0.0.1"),
                                    ("other", "other.example", "DNS:other.example"), ("gw", "gw", "DNS:gw")])

    def run_gateway(self, server_cert, host, server_name=None):
        srv = td.certificate_server(self, self.d, server_cert)
        gw = td.Gateway(td.certificate_config("coaps://%s:%d" % (host, srv.dtls_port), self.d, server_name))
        self.addCleanup(gw.stop)
        return srv, gw

    def refused(self, srv, gw, held, host):
        gw.wait_log(r'server certificate refused: it is for %s, not for "%s"' % (re.escape(held), re.escape(host)))
        gw.wait_log(r"Register failed: DTLS handshake failed \(the server's certificate is for another host\)")
        self.assertEqual(srv.events("register"), [])

    def test_certificate_names_the_configured_host(self):
        why = localhost_is_ipv4()
        if why:
            self.skipTest(why)
        srv, gw = self.run_gateway("for-localhost", "localhost")
        for ep in ("gw", "gw-s1"):
            self.assertTrue(srv.wait_event("register", ep=ep, timeout=20)["secure"])
        # localhost resolves to 127.0.0.1, but the operator wrote localhost.
        srv, gw = self.run_gateway("for-address", "localhost")
        self.refused(srv, gw, "IP:127.0.0.1, CN=127.0.0.1", "localhost")
        srv, gw = self.run_gateway("other", "localhost")
        self.refused(srv, gw, "DNS:other.example", "localhost")

    def test_server_name_pins_another_name(self):
        srv, gw = self.run_gateway("other", "127.0.0.1")
        self.refused(srv, gw, "DNS:other.example", "127.0.0.1")
        srv, gw = self.run_gateway("other", "127.0.0.1", server_name="other.example")
        for ep in ("gw", "gw-s1"):
            self.assertTrue(srv.wait_event("register", ep=ep, timeout=20)["secure"])


def main():
    td.FIELDGATE = os.path.abspath(sys.argv.pop(1))
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors)
    print("%d passed, %d failed, %d skipped" % (res.testsRun - failed - len(res.skipped), failed, len(res.skipped)))
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
