#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Client-initiated Bootstrap of lwm2m/client against two fg-lwm2m-server
processes, one as LwM2M Bootstrap-Server and one as LwM2M server: the
server account written by Bootstrap-Write is what the endpoint registers
with, the result is kept in the state directory (mode 0600) so a restart
registers without bootstrapping, a corrupt file is ignored, Bootstrap-Read
of /0 is refused, Bootstrap-Discover is exact, an inconsistent Finish gets
4.06, a silent Bootstrap-Server times out and is retried, PSK keys
delivered by bootstrap open a DTLS registration, and a server that keeps
refusing registration sends the endpoint back to bootstrap."""
import os
import shutil
import stat
import sys
import tempfile
import time
import unittest
import urllib.parse

import cbor2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import Client, main, server  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402

NOWHERE = "coap://127.0.0.1:9"  # --server is ignored with --bootstrap
KEY = b"bootstrapped-key"
BS_KEY = b"factory-bs-key"


def security(uri, iid=1, ssid=101, mode=3, identity=None, key=None, bootstrap=False):
    """Records of a /0 instance (Security)."""
    recs = [{"path": f"/0/{iid}/0", "value": uri},
            {"path": f"/0/{iid}/1", "value": bootstrap},
            {"path": f"/0/{iid}/2", "value": mode},
            {"path": f"/0/{iid}/10", "value": ssid}]
    if identity is not None:
        recs.append({"path": f"/0/{iid}/3", "type": "opaque", "value": identity.hex()})
    if key is not None:
        recs.append({"path": f"/0/{iid}/5", "type": "opaque", "value": key.hex()})
    return recs


def server_obj(iid=1, ssid=101, lifetime=120, binding="U"):
    """Records of a /1 instance (Server)."""
    return [{"path": f"/1/{iid}/0", "value": ssid},
            {"path": f"/1/{iid}/1", "value": lifetime},
            {"path": f"/1/{iid}/6", "value": False},
            {"path": f"/1/{iid}/7", "value": binding}]


def script(uri, **kw):
    """Delete everything, write one server account, finish."""
    sec = {k: kw.pop(k) for k in ("mode", "identity", "key") if k in kw}
    return [{"op": "bs-delete", "path": "/"},
            {"op": "bs-write", "path": "/0/1", "records": security(uri, **sec)},
            {"op": "bs-write", "path": "/1/1", "records": server_obj(**kw)},
            {"op": "bs-finish"}]


def state_file(state, ep="ep0"):
    return os.path.join(state, f"bs-{urllib.parse.quote(ep, safe='')}.state")


def wait_state_file(state, ep="ep0", timeout=10):
    """The client saves the result on a thread, after Bootstrap-Finish
    and independently of Register: wait (bounded) for the rename."""
    path = state_file(state, ep)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) or any(n.endswith(".tmp") for n in os.listdir(state)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} not written within {timeout} s")
        time.sleep(0.02)
    return path


class Bootstrap(unittest.TestCase):
    def setUp(self):
        self.bs = server().start()
        self.addCleanup(self.bs.stop)
        self.srv = server().start()
        self.addCleanup(self.srv.stop)
        self.state = tempfile.mkdtemp(prefix="fg-bs-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def client(self, **kw):
        opts = dict(bootstrap=f"coap://127.0.0.1:{self.bs.port}", state_dir=self.state,
                    backoff_min=200, backoff_max=400)
        opts.update(kw)
        cl = Client(NOWHERE, **opts)
        self.addCleanup(cl.stop)
        return cl.start()

    def bootstrapped(self, cl, ep="ep0"):
        done = self.bs.wait_event("bootstrap-done", ep=ep, timeout=10)
        self.assertTrue(done["ok"], done)
        reg = self.srv.wait_event("register", ep=ep, timeout=10)
        cl.wait_state(ep, "registered")
        wait_state_file(self.state, ep)
        return reg

    def test_bootstrap_then_register_with_written_account(self):
        self.bs.request("bootstrap-script", ep="ep0", steps=script(self.srv.url, lifetime=120, binding="UQ"))
        cl = self.client(lifetime=999)
        req = self.bs.wait_event("bootstrap-request", ep="ep0")
        self.assertEqual(req["query"], {"ep": "ep0", "pct": "112"})
        self.assertEqual(req["pct"], 112)
        cl.wait_state("ep0", "bootstrapping")
        done = self.bs.wait_event("bootstrap-done", ep="ep0")
        self.assertEqual((done["ok"], done["results"]), (True, ["2.02", "2.04", "2.04", "2.04"]))
        reg = self.srv.wait_event("register", ep="ep0")
        # lt and binding from the written /1/1 (UQ: b=U plus Q in 1.1),
        # not from the command line; /0 never listed.
        self.assertEqual(reg["query"], {"ep": "ep0", "lt": "120", "lwm2m": "1.1", "b": "U", "Q": True})
        self.assertFalse([ln for ln in reg["links"] if ln.startswith("</0")])
        self.assertIn("</1/0>", reg["links"])
        cl.wait_state("ep0", "registered")
        # The management server sees /1/0 as bootstrapped, never /0.
        r = self.srv.request("read", ep="ep0", path="/1/0", accept=112)
        self.assertEqual(r["code"], "2.05")
        vals = records_by_path(r)
        # queue mode is the Q parameter from 1.1: the client keeps "U"
        self.assertEqual((vals["/1/0/0"], vals["/1/0/1"], vals["/1/0/7"]), (101, 120, "U"))
        self.assertEqual(self.srv.request("read", ep="ep0", path="/0")["code"], "4.01")
        self.assertEqual(self.srv.request("read", ep="ep0", path="/0/1/0")["code"], "4.01")
        self.assertEqual(self.srv.request("discover", ep="ep0", path="/0")["code"], "4.01")
        # The result is on disk, for the owner only, written atomically.
        path = wait_state_file(self.state)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(os.listdir(self.state), ["bs-ep0.state"])
        self.assertEqual(cl.quit(), 0)
        self.srv.wait_event("deregister", ep="ep0")

    def test_state_file_layout(self):
        self.bs.request("bootstrap-script", ep="ep0",
                        steps=script(self.srv.url, lifetime=77))
        cl = self.client()
        self.bootstrapped(cl)
        with open(state_file(self.state), "rb") as f:
            data = f.read()
        # "FGBS", version 1, flags 0, name length, payload length, CRC-32,
        # the endpoint name, then SenML CBOR (decoded here by python3-cbor2).
        self.assertEqual(data[:6], b"FGBS\x01\x00")
        nl, pl = int.from_bytes(data[6:8], "big"), int.from_bytes(data[8:12], "big")
        self.assertEqual(data[16:16 + nl], b"ep0")
        self.assertEqual(len(data), 16 + nl + pl)
        import zlib
        self.assertEqual(int.from_bytes(data[12:16], "big"), zlib.crc32(data[:12] + data[16:]))
        pack = cbor2.loads(data[16 + nl:])
        names, values = [], {}
        for rec in pack:
            names.append(rec[0])
            values[rec[0]] = next(rec[k] for k in (2, 3, 4, 8) if k in rec)
        self.assertEqual(values["/0/1/0"], self.srv.url)
        self.assertIs(values["/0/1/1"], False)
        self.assertEqual((values["/0/1/2"], values["/0/1/10"]), (3, 101))
        self.assertEqual((values["/1/1/0"], values["/1/1/1"], values["/1/1/7"]), (101, 77, "U"))
        self.assertTrue(all(n.startswith(("/0/", "/1/")) for n in names), names)
        self.assertEqual(cl.quit(), 0)

    def test_restart_registers_without_bootstrap(self):
        self.bs.request("bootstrap-script", ep="ep0", steps=script(self.srv.url, lifetime=150))
        cl = self.client()
        self.bootstrapped(cl)
        self.assertEqual(cl.quit(), 0)
        self.srv.wait_event("deregister", ep="ep0")
        cl2 = self.client()
        reg = self.srv.wait_event("register", ep="ep0", timeout=10)
        self.assertEqual(reg["query"]["lt"], "150")
        cl2.wait_state("ep0", "registered")
        cl2.wait_log("using the stored bootstrap result")
        time.sleep(0.3)
        self.assertEqual(len(self.bs.events("bootstrap-request")), 1)
        self.assertFalse([ln for ln in cl2.lines if ln and "bootstrapping" in ln])
        self.assertEqual(cl2.quit(), 0)

    def corrupt_then_restart(self, damage, message):
        self.bs.request("bootstrap-script", ep="*", steps=script(self.srv.url))
        cl = self.client()
        self.bootstrapped(cl)
        self.assertEqual(cl.quit(), 0)
        path = state_file(self.state)
        with open(path, "rb") as f:
            good = f.read()
        with open(path, "wb") as f:
            f.write(damage(good))
        cl2 = self.client()
        line = cl2.wait_log("unusable")
        self.assertIn(message, line)
        self.assertIn("bootstrapping again", line)
        self.bs.wait_event("bootstrap-request", ep="ep0")
        self.bs.wait_event("bootstrap-request", ep="ep0")
        self.bootstrapped(cl2)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), good)  # rewritten by the new bootstrap
        self.assertEqual(cl2.quit(), 0)

    def test_truncated_file_bootstraps_again(self):
        self.corrupt_then_restart(lambda b: b[:len(b) // 2], "truncated")

    def test_flipped_bit_bootstraps_again(self):
        self.corrupt_then_restart(lambda b: b[:40] + bytes([b[40] ^ 4]) + b[41:], "checksum mismatch")

    def test_garbage_file_bootstraps_again(self):
        self.corrupt_then_restart(lambda b: b"\x00" * 7, "bad magic")

    def test_read_discover_delete_and_finish(self):
        cl = self.client()
        self.assertFalse(self.bs.wait_event("bootstrap-request", ep="ep0")["scripted"])
        cl.wait_state("ep0", "bootstrapping")
        req = self.bs.request
        self.assertEqual(req("bs-write", ep="ep0", path="/0/1", records=security(self.srv.url))["code"], "2.04")
        self.assertEqual(req("bs-write", ep="ep0", path="/1/1", records=server_obj())["code"], "2.04")
        # /0 holds keys: never readable, not even by the Bootstrap-Server.
        self.assertEqual(req("bs-read", ep="ep0", path="/0")["code"], "4.01")
        self.assertEqual(req("bs-read", ep="ep0", path="/0/1")["code"], "4.01")
        self.assertEqual(req("bs-read", ep="ep0", path="/3/0")["code"], "4.05")
        self.assertEqual(req("bs-read", ep="ep0", path="/1/7")["code"], "4.04")
        r = req("bs-read", ep="ep0", path="/1")
        self.assertEqual((r["code"], r["ct"]), ("2.05", 112))
        self.assertEqual(records_by_path(r), {"/1/1/0": 101, "/1/1/1": 120, "/1/1/6": False, "/1/1/7": "U"})
        r = req("bs-read", ep="ep0", path="/1/1", accept=11542)
        self.assertEqual((r["code"], r["ct"]), ("2.05", 11542))
        self.assertEqual(records_by_path(r)["/1/1/1"], 120)
        # Discover: lwm2m= first, the Bootstrap-Server account /0/0 plain,
        # the server account with ssid and uri, /1 with ssid, the rest.
        r = req("bs-discover", ep="ep0", path="/")
        self.assertEqual(r["code"], "2.05")
        self.assertEqual(r["text"],
                         '</>;lwm2m=1.1,</0>;ver=1.2,</0/0>,</0/1>;ssid=101;uri="%s",</1>;ver=1.1,'
                         '</1/1>;ssid=101,</3>;ver=1.2,</3/0>,</3303>;ver=1.1,</3303/0>' % self.srv.url)
        r = req("bs-discover", ep="ep0", path="/1")
        self.assertEqual(r["text"], '</>;lwm2m=1.1,</1>;ver=1.1,</1/1>;ssid=101')
        self.assertEqual(req("bs-discover", ep="ep0", path="/1/1")["code"], "4.00")
        # The Bootstrap-Server account is never deleted.
        self.assertEqual(req("bs-delete", ep="ep0", path="/0/0")["code"], "4.00")
        self.assertEqual(req("bs-delete", ep="ep0", path="/3/0")["code"], "4.00")
        self.assertEqual(req("bs-delete", ep="ep0", path="/0")["code"], "2.02")
        r = req("bs-discover", ep="ep0", path="/0")
        self.assertEqual(r["text"], '</>;lwm2m=1.1,</0>;ver=1.2,</0/0>')
        # Written again, in SenML CBOR, object-level with two instances.
        recs = security(self.srv.url, iid=3, ssid=7) + security("coap://127.0.0.1:9", iid=4, ssid=8)
        self.assertEqual(req("bs-write", ep="ep0", path="/0", ct=112, records=recs)["code"], "2.04")
        self.assertEqual(req("bs-write", ep="ep0", path="/1", ct=112,
                             records=server_obj(iid=0, ssid=7, lifetime=60))["code"], "2.04")
        r = req("bs-discover", ep="ep0", path="/")
        self.assertEqual(r["text"],
                         '</>;lwm2m=1.1,</0>;ver=1.2,</0/0>,</0/3>;ssid=7;uri="%s",'
                         '</0/4>;ssid=8;uri="coap://127.0.0.1:9",</1>;ver=1.1,</1/0>;ssid=7,</1/1>;ssid=101,'
                         '</3>;ver=1.2,</3/0>,</3303>;ver=1.1,</3303/0>' % self.srv.url)
        self.assertEqual(req("bs-finish", ep="ep0")["code"], "2.04")
        reg = self.srv.wait_event("register", ep="ep0")
        self.assertEqual(reg["query"]["lt"], "60")  # /1/0: ssid 7 of /0/3
        cl.wait_state("ep0", "registered")
        self.assertEqual(cl.quit(), 0)

    def test_inconsistent_finish_is_not_acceptable(self):
        cl = self.client()
        self.bs.wait_event("bootstrap-request", ep="ep0")
        req = self.bs.request
        r = req("bs-finish", ep="ep0")
        self.assertEqual(r.get("code"), "4.06", r)
        self.assertIn("no LwM2M Server account in /0", cl.wait_log("Bootstrap-Finish refused"))
        req("bs-write", ep="ep0", path="/0/1", records=security(self.srv.url, ssid=101))
        req("bs-write", ep="ep0", path="/1/1", records=server_obj(ssid=102))
        self.assertEqual(req("bs-finish", ep="ep0")["code"], "4.06")
        self.assertIn("no Server instance (/1) with the Short Server ID",
                      cl.wait_log("Bootstrap-Finish refused"))
        # PSK mode needs coaps:// and both keys.
        req("bs-write", ep="ep0", path="/1/1", records=server_obj(ssid=101))
        req("bs-write", ep="ep0", path="/0/1", records=security(self.srv.url, mode=0))
        self.assertEqual(req("bs-finish", ep="ep0")["code"], "4.06")
        self.assertIn("Security Mode PSK with a coap:// URI", cl.wait_log("Bootstrap-Finish refused"))
        self.assertEqual(self.srv.events("register"), [])
        self.assertFalse(os.path.exists(state_file(self.state)))
        # Still bootstrapping: fixed, it finishes.
        req("bs-write", ep="ep0", path="/0/1", records=security(self.srv.url))
        self.assertEqual(req("bs-finish", ep="ep0")["code"], "2.04")
        self.srv.wait_event("register", ep="ep0")
        wait_state_file(self.state)
        self.assertEqual(cl.quit(), 0)

    def test_no_finish_times_out_and_retries(self):
        cl = self.client(bs_timeout=1000, backoff_min=300, backoff_max=300)
        first = self.bs.wait_event("bootstrap-request", ep="ep0")
        req = self.bs.request
        req("bs-write", ep="ep0", path="/0/1", records=security(self.srv.url))
        req("bs-write", ep="ep0", path="/1/1", records=server_obj())
        line = cl.wait_log("Bootstrap failed", timeout=5)
        self.assertIn("no Bootstrap-Finish within 1.0 s; retrying in", line)
        cl.wait(lambda ln: ln == "state ep0 waiting -110")
        second = self.bs.wait_event("bootstrap-request", ep="ep0", timeout=5)
        # 1 s after the last message, then a backoff in [150, 300] ms.
        self.assertGreaterEqual(second["ts"] - first["ts"], 1000 + 150 - 30)
        self.assertLessEqual(second["ts"] - first["ts"], 1000 + 300 + 800)
        # What the failed attempt wrote is gone.
        r = req("bs-discover", ep="ep0", path="/0")
        self.assertEqual(r["text"], '</>;lwm2m=1.1,</0>;ver=1.2,</0/0>')
        self.assertEqual(self.srv.events("register"), [])
        self.assertFalse(os.path.exists(state_file(self.state)))
        t0 = time.monotonic()
        self.assertEqual(cl.quit(), 0)  # removal during bootstrap is immediate
        self.assertLess(time.monotonic() - t0, 2)

    def test_refused_bootstrap_request_is_retried(self):
        self.bs.request("fail", what="bootstrap", code="5.03", count=1)
        self.bs.request("bootstrap-script", ep="ep0", steps=script(self.srv.url))
        cl = self.client()
        self.assertEqual(self.bs.wait_event("bootstrap-request", ep="ep0")["code"], "5.03")
        self.assertIn("the Bootstrap-Server answered 5.03", cl.wait_log("Bootstrap failed"))
        self.assertEqual(self.bs.wait_event("bootstrap-request", ep="ep0", timeout=5)["code"], "2.04")
        self.bootstrapped(cl)
        self.assertEqual(cl.quit(), 0)

    def test_registration_refused_falls_back_to_bootstrap(self):
        self.bs.request("bootstrap-script", ep="*", steps=script(self.srv.url))
        self.srv.request("fail", what="register", code="4.03", count=2)
        cl = self.client(bs_after=2)
        self.bs.wait_event("bootstrap-request", ep="ep0")
        for _ in range(2):
            self.assertEqual(self.srv.wait_event("register-rejected", ep="ep0")["code"], "4.03")
        line = cl.wait_log("bootstrapping again", timeout=5)
        self.assertIn("Register failed 2 times in a row (last: server answered 4.03)", line)
        self.bs.wait_event("bootstrap-request", ep="ep0", timeout=5)
        self.bs.wait_event("bootstrap-done", ep="ep0")
        self.bootstrapped(cl)
        self.assertEqual(cl.quit(), 0)

    def test_bootstrap_request_trigger(self):
        self.bs.request("bootstrap-script", ep="*", steps=script(self.srv.url, lifetime=100))
        cl = self.client()
        self.bootstrapped(cl)
        r = self.srv.request("execute", ep="ep0", path="/1/0/9")
        self.assertEqual(r["code"], "2.04")
        cl.wait_log("Bootstrap-Request Trigger executed by the server")
        self.assertEqual(len([self.bs.wait_event("bootstrap-request", ep="ep0") for _ in range(2)]), 2)
        reg = self.bootstrapped(cl)
        self.assertEqual(reg["query"]["lt"], "100")
        self.assertEqual(cl.quit(), 0)
        # Without a Bootstrap-Server there is nothing to trigger.
        plain = Client(self.srv.url, name="plain")
        self.addCleanup(plain.stop)
        plain.start()
        self.srv.wait_event("register", ep="plain0")
        self.assertEqual(self.srv.request("execute", ep="plain0", path="/1/0/9")["code"], "4.05")
        self.assertEqual(plain.quit(), 0)

    def test_unwritable_state_dir_is_logged(self):
        # The write fails on the worker thread; the loop logs it and the
        # endpoint still registers with the bootstrapped server.
        notdir = os.path.join(self.state, "file")
        with open(notdir, "wb"):
            pass
        self.bs.request("bootstrap-script", ep="*", steps=script(self.srv.url))
        cl = self.client(state_dir=notdir)
        line = cl.wait_log("cannot store the bootstrap result")
        self.assertIn(f"in {notdir}: Not a directory (the next start bootstraps again)", line)
        self.srv.wait_event("register", ep="ep0")
        cl.wait_state("ep0", "registered")
        self.assertEqual(os.listdir(self.state), ["file"])
        self.assertEqual(cl.quit(), 0)

    def test_endpoints_get_their_own_files(self):
        self.bs.request("bootstrap-script", ep="*", steps=script(self.srv.url))
        cl = self.client(count=3, name="dev/../x")
        names = [f"dev/../x{i}" for i in range(3)]
        for n in names:
            self.bootstrapped(cl, ep=n)
        self.assertEqual(sorted(os.listdir(self.state)), [f"bs-dev%2F..%2Fx{i}.state" for i in range(3)])
        for i, n in enumerate(names):
            with open(os.path.join(self.state, f"bs-dev%2F..%2Fx{i}.state"), "rb") as f:
                self.assertEqual(f.read()[16:16 + len(n)], n.encode())
        self.assertEqual(cl.quit(), 0)


class BootstrapDtls(unittest.TestCase):
    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="fg-bs-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def test_psk_from_bootstrap_opens_dtls_registration(self):
        # The Bootstrap-Server over DTLS with the factory key; the LwM2M
        # server knows only the key that bootstrap delivers.
        bs = server(psk=("factory", BS_KEY)).start()
        self.addCleanup(bs.stop)
        srv = server(psk=("bs-dev", KEY)).start()
        self.addCleanup(srv.stop)
        url = f"coaps://127.0.0.1:{srv.dtls_port}"
        bs.request("bootstrap-script", ep="ep0",
                   steps=script(url, mode=0, identity=b"bs-dev", key=KEY, lifetime=90))
        cl = Client(NOWHERE, bootstrap=f"coaps://127.0.0.1:{bs.dtls_port}", bs_psk_id="factory",
                    bs_psk_key=BS_KEY.hex(), state_dir=self.state, backoff_min=200, backoff_max=400)
        self.addCleanup(cl.stop)
        cl.start()
        self.assertEqual(bs.wait_event("dtls", where=lambda e: e["state"] == "connected")["identity"],
                         "factory")
        self.assertTrue(bs.wait_event("bootstrap-done", ep="ep0")["ok"])
        reg = srv.wait_event("register", ep="ep0", timeout=15)
        self.assertTrue(reg["secure"])
        self.assertEqual((reg["identity"], reg["query"]["lt"]), ("bs-dev", "90"))
        cl.wait_state("ep0", "registered")
        r = srv.request("read", ep="ep0", path="/3/0/2")
        self.assertEqual((r["code"], r["text"]), ("2.05", "SN-00000"))
        self.assertEqual(cl.quit(), 0)
        # Restart: the stored key opens the DTLS session again.
        cl2 = Client(NOWHERE, bootstrap=f"coaps://127.0.0.1:{bs.dtls_port}", bs_psk_id="factory",
                     bs_psk_key=BS_KEY.hex(), state_dir=self.state)
        self.addCleanup(cl2.stop)
        cl2.start()
        reg = srv.wait_event("register", ep="ep0", timeout=15)
        self.assertEqual(reg["identity"], "bs-dev")
        self.assertEqual(len(bs.events("bootstrap-request")), 1)
        self.assertEqual(cl2.quit(), 0)


if __name__ == "__main__":
    main(sys.modules[__name__])
