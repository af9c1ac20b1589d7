#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Device management of lwm2m/client against fg-lwm2m-server: Read in every
content format, Write (replace, partial, every format), Execute with
arguments, Discover with attributes, Write-Attributes, Create, Delete,
Read-Composite, block-wise transfers, the error codes, and writes/executes
completed asynchronously (separate responses)."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import Client, main, server, uri  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402

DEVICE = {
    "/3/0/0": "Fieldgate", "/3/0/1": "fg-test", "/3/0/2": "SN-00000", "/3/0/3": "1.0.0",
    "/3/0/6/0": 1, "/3/0/6/1": 5, "/3/0/9": 95, "/3/0/11/0": 0, "/3/0/13": 1700000000,
    "/3/0/14": "+01:00", "/3/0/16": "U",
}
TYPES = {"/3/0/0": "string", "/3/0/6/0": "integer", "/3/0/13": "time"}
FORMATS = {"SenML CBOR": 112, "SenML JSON": 110, "TLV": 11542, "LwM2M JSON": 11543, "LwM2M CBOR": 11544}


class DM(unittest.TestCase):
    """One client with one endpoint (ep0), shared by the tests of a class."""
    client_args = {}

    @classmethod
    def setUpClass(cls):
        cls.srv = server().start()
        cls.cl = Client(uri(cls.srv), count=1, **cls.client_args).start()
        cls.srv.wait_event("register", ep="ep0")
        cls.cl.wait_state("ep0", "registered")

    @classmethod
    def tearDownClass(cls):
        rc = cls.cl.quit()
        cls.srv.stop()
        assert rc == 0, f"client exit code {rc}"

    def req(self, op, code=None, **kw):
        r = self.srv.request(op, ep="ep0", **kw)
        if code:
            self.assertEqual(r["code"], code, f"{op} {kw}: {r}")
        return r


class Read(DM):
    def test_read_instance_every_format(self):
        for name, ct in FORMATS.items():
            with self.subTest(format=name):
                r = self.req("read", "2.05", path="/3/0", accept=ct)
                self.assertEqual(r["ct"], ct)
                self.assertEqual(records_by_path(r), DEVICE)
                types = {x["path"]: x["type"] for x in r["records"]}
                if ct != 11542:  # TLV carries no types: the server guesses them
                    for p, t in TYPES.items():
                        self.assertEqual(types[p], t)

    def test_default_format_is_the_declared_one(self):
        r = self.req("read", "2.05", path="/3/0")
        self.assertEqual(r["ct"], 112)
        self.assertEqual(records_by_path(r), DEVICE)
        # A multiple resource is not a single value either.
        r = self.req("read", "2.05", path="/3/0/6")
        self.assertEqual(r["ct"], 112)
        self.assertEqual(records_by_path(r), {"/3/0/6/0": 1, "/3/0/6/1": 5})

    def test_single_resource_text_by_default(self):
        r = self.req("read", "2.05", path="/3303/0/5700")
        self.assertEqual((r["ct"], r["text"]), (0, "21.5"))
        r = self.req("read", "2.05", path="/3/0/6/1")
        self.assertEqual((r["ct"], r["text"]), (0, "5"))
        r = self.req("read", "2.05", path="/3/0/13", accept=0)
        self.assertEqual(r["text"], "1700000000")

    def test_single_resource_in_every_format(self):
        for name, ct in FORMATS.items():
            with self.subTest(format=name):
                r = self.req("read", "2.05", path="/3303/0/5700", accept=ct)
                self.assertEqual(records_by_path(r), {"/3303/0/5700": 21.5})

    def test_read_errors(self):
        self.req("read", "4.04", path="/3/0/99")    # undefined resource
        self.req("read", "4.04", path="/3/0/7")     # defined, no value
        self.req("read", "4.04", path="/3/7")       # no such instance
        self.req("read", "4.04", path="/4/0")       # object not present
        self.req("read", "4.04", path="/4")
        self.req("read", "4.01", path="/0/0")       # Security is never readable
        self.req("read", "4.01", path="/0")
        self.req("read", "4.05", path="/3/0/4")     # executable
        self.req("read", "4.06", path="/3/0", accept=0)       # text of many values
        self.req("read", "4.06", path="/3303/0/5700", accept=42)  # opaque of a Float
        self.req("read", "4.06", path="/3/0", accept=50)      # application/json
        self.req("read", "4.04", path="/nodev/3/0")           # no such Object 25 prefix

    def test_read_server_object(self):
        r = self.req("read", "2.05", path="/1/0")
        v = records_by_path(r)
        self.assertEqual((v["/1/0/0"], v["/1/0/1"], v["/1/0/7"]), (1, 86400, "U"))

    def test_read_composite(self):
        for ct in (112, 110):
            r = self.req("read-composite", "2.05", paths=["/3/0/0", "/3/0/6", "/3303/0/5700"], ct=ct)
            self.assertEqual(r["ct"], ct)
            self.assertEqual(records_by_path(r), {"/3/0/0": "Fieldgate", "/3303/0/5700": 21.5,
                                                  "/3/0/6/0": 1, "/3/0/6/1": 5})
        # Overlapping paths do not repeat a value; Accept picks the answer's format.
        r = self.req("read-composite", "2.05", paths=["/3303/0", "/3303/0/5700"], ct=112, accept=110)
        self.assertEqual(r["ct"], 110)
        self.assertEqual([x["path"] for x in r["records"]], ["/3303/0/5700", "/3303/0/5701"])
        # Missing paths are left out; none existing is 4.04.
        r = self.req("read-composite", "2.05", paths=["/3/0/0", "/3/0/99", "/7/0"], ct=112)
        self.assertEqual(records_by_path(r), {"/3/0/0": "Fieldgate"})
        self.req("read-composite", "4.04", paths=["/3/0/99", "/7/0"], ct=112)
        self.req("read-composite", "4.06", paths=["/3/0/0"], ct=112, accept=11542)
        self.req("read-composite", "4.01", paths=["/0/0"], ct=112)
        r = self.req("raw", "4.00", method="FETCH", path="/", ct=112, hex="ff00")
        r = self.req("raw", "4.15", method="FETCH", path="/", ct=0, text="/3/0/0")

    def test_block2_read_of_a_large_value(self):
        big = "".join(chr(0x41 + i % 26) for i in range(3000))
        self.cl.cmd(f"set ep0 /3303/0/5750 {big}")
        r = self.req("read", "2.05", path="/3303/0/5750")
        self.assertEqual(r["text"], big)
        r = self.req("read", "2.05", path="/3303/0", accept=110)
        self.assertEqual(records_by_path(r)["/3303/0/5750"], big)
        self.cl.cmd("unset ep0 /3303/0/5750")


class Write(DM):
    def test_write_resource_text_and_read_back(self):
        self.req("write", "2.04", path="/3/0/14", ct=0, text="+02:00")
        self.assertEqual(self.cl.get("ep0", "/3/0/14"), "+02:00")
        self.assertEqual(self.req("read", "2.05", path="/3/0/14")["text"], "+02:00")

    def test_write_in_every_format(self):
        for i, (name, ct) in enumerate(FORMATS.items()):
            with self.subTest(format=name):
                tz = f"Europe/Zone{i}"
                self.req("write", "2.04", path="/3/0/15", ct=ct,
                         records=[{"path": "/3/0/15", "type": "string", "value": tz}])
                self.assertEqual(self.cl.get("ep0", "/3/0/15"), tz)
                self.req("write", "2.04", path="/3/0", ct=ct, partial=True,
                         records=[{"path": "/3/0/13", "type": "time", "value": 1800000000 + i}])
                self.assertEqual(self.cl.get("ep0", "/3/0/13"), str(1800000000 + i))
        self.req("write", "2.04", path="/3/0/13", ct=0, text="1700000000")

    def test_partial_update_keeps_other_values(self):
        self.req("write", "2.04", path="/3303/0", partial=True,
                 records=[{"path": "/3303/0/5750", "value": "kitchen"}])
        v = records_by_path(self.req("read", "2.05", path="/3303/0"))
        self.assertEqual(v, {"/3303/0/5700": 21.5, "/3303/0/5701": "Cel", "/3303/0/5750": "kitchen"})

    def test_replace_removes_writable_values_not_given(self):
        self.cl.cmd("add-instance ep0 /3311/0")
        self.cl.cmd("set ep0 /3311/0/5850 1")
        self.cl.cmd("set ep0 /3311/0/5851 40")
        self.cl.cmd("set ep0 /3311/0/5706 red")
        self.req("write", "2.04", path="/3311/0", records=[{"path": "/3311/0/5851", "value": 70}])
        v = records_by_path(self.req("read", "2.05", path="/3311/0"))
        self.assertEqual(v, {"/3311/0/5851": 70})
        # Range of the definition (Dimmer 0..100).
        self.req("write", "4.00", path="/3311/0/5851", ct=0, text="150")
        self.assertEqual(self.cl.get("ep0", "/3311/0/5851"), "70")
        self.cl.cmd("del-instance ep0 /3311/0")

    def test_write_errors(self):
        self.req("write", "4.05", path="/3/0/0", ct=0, text="x")           # read-only
        self.req("write", "4.05", path="/3/0", records=[{"path": "/3/0/0", "value": "x"}])
        self.req("write", "4.04", path="/3/0/99", ct=0, text="x")          # undefined
        self.req("write", "4.04", path="/3/9/14", ct=0, text="x")          # no instance
        self.req("write", "4.00", path="/3/0/14", ct=112, hex="ffff")      # bad CBOR
        self.req("write", "4.05", path="/3/0/9", ct=0, text="50")          # read-only
        self.req("write", "4.00", path="/1/0/2", ct=0, text="many")        # not an integer
        self.req("write", "4.15", path="/3/0/14", ct=50, text="{}")        # application/json
        self.req("raw", "4.15", method="PUT", path="/3/0/14", hex="78")    # no Content-Format
        self.req("write", "4.05", path="/3", records=[{"path": "/3/0/14", "value": "x"}])  # object
        self.req("raw", "4.00", method="POST", path="/3/0", ct=110,          # record outside path
                 text='[{"n":"/3303/0/5750","vs":"x"}]')
        self.req("write", "4.01", path="/0/0/0", ct=0, text="coap://x")
        self.assertEqual(self.cl.get("ep0", "/3/0/0"), "Fieldgate")

    def test_write_lifetime_sends_update(self):
        self.req("write", "2.04", path="/1/0/1", ct=0, text="120")
        ev = self.srv.wait_event("update", ep="ep0")
        self.assertEqual(ev["query"], {"lt": "120", "b": "U"})
        self.req("write", "2.04", path="/1/0/1", ct=0, text="86400")
        self.assertEqual(self.srv.wait_event("update", ep="ep0")["query"]["lt"], "86400")

    def test_block1_write_of_a_large_value(self):
        big = "".join(chr(0x61 + i % 26) for i in range(2500))
        self.req("write", "2.04", path="/3303/0/5750", ct=0, text=big)
        self.assertEqual(self.cl.get("ep0", "/3303/0/5750"), big)
        self.cl.cmd("unset ep0 /3303/0/5750")


class Execute(DM):
    client_args = {"ops": True}

    def test_execute_with_arguments(self):
        self.req("execute", "2.04", path="/3/0/4")
        self.cl.wait(lambda ln: ln == "exec ep0 - /3/0/4 args=")
        self.req("execute", "2.04", path="/3/0/4", args="0='a b',1")
        self.cl.wait(lambda ln: ln == "exec ep0 - /3/0/4 args=0='a b',1")

    def test_execute_errors(self):
        for bad in ("x", "0=a", "0='a", "10", "0,", ",0", "0='a'1"):
            with self.subTest(args=bad):
                self.req("execute", "4.00", path="/3/0/4", args=bad)
        self.req("execute", "4.05", path="/3/0/0")      # not executable
        self.req("execute", "4.04", path="/3/0/99")
        self.req("execute", "4.04", path="/3/1/4")
        self.req("raw", "4.15", method="POST", path="/3/0/4", ct=112, hex="80")

    def test_registration_update_trigger(self):
        self.req("execute", "2.04", path="/1/0/8")
        ev = self.srv.wait_event("update", ep="ep0")
        self.assertNotIn("links", ev)

    def test_writes_through_ops(self):
        self.req("write", "2.04", path="/3/0/14", ct=0, text="+05:00")
        self.cl.wait(lambda ln: ln == "write ep0 - /3/0/14 replace=1 n=1 /3/0/14=+05:00")
        self.assertEqual(self.cl.get("ep0", "/3/0/14"), "+05:00")
        self.req("write", "4.05", path="/3/0/1", ct=0, text="x")  # checked before the op


class Objects(DM):
    def test_discover(self):
        r = self.req("discover", "2.05", path="/3")
        self.assertEqual(r["links"], [
            "</3>;ver=1.2", "</3/0>", "</3/0/0>", "</3/0/1>", "</3/0/2>", "</3/0/3>", "</3/0/4>", "</3/0/5>",
            "</3/0/6>;dim=2", "</3/0/9>", "</3/0/11>;dim=1", "</3/0/12>", "</3/0/13>", "</3/0/14>", "</3/0/16>"])
        r = self.req("discover", "2.05", path="/3303/0")
        self.assertEqual(r["links"], ["</3303/0>", "</3303/0/5605>", "</3303/0/5700>", "</3303/0/5701>"])
        r = self.req("discover", "2.05", path="/3/0/6")
        self.assertEqual(r["links"], ["</3/0/6>;dim=2"])
        self.req("discover", "4.04", path="/4")
        self.req("discover", "4.04", path="/3/0/7")
        self.req("discover", "4.01", path="/0")

    def test_write_attributes_and_discover(self):
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"pmin": 1, "pmax": 10, "gt": 25.5})
        self.req("write-attributes", "2.04", path="/3303/0", attrs={"pmax": 60})
        self.req("write-attributes", "2.04", path="/3303", attrs={"pmin": 5, "epmin": 1, "epmax": 30})
        r = self.req("discover", "2.05", path="/3303")
        self.assertEqual(r["links"], ["</3303>;ver=1.1;pmin=5;epmin=1;epmax=30", "</3303/0>;pmax=60",
                                      "</3303/0/5605>", "</3303/0/5700>;pmin=1;pmax=10;gt=25.5",
                                      "</3303/0/5701>"])
        # An attribute without value removes it; merging is checked as a whole.
        self.req("write-attributes", "2.04", path="/3303/0/5700", attrs={"gt": None, "lt": 5, "st": 1})
        r = self.req("discover", "2.05", path="/3303/0/5700")
        self.assertEqual(r["links"], ["</3303/0/5700>;pmin=1;pmax=10;lt=5;st=1"])
        self.req("write-attributes", "4.00", path="/3303/0/5700", attrs={"pmin": 20})   # pmin > pmax
        self.req("write-attributes", "4.00", path="/3303/0/5700", attrs={"gt": 6})      # lt+2st >= gt
        self.req("write-attributes", "4.00", path="/3303/0/5700", query=["pmin=-1"])
        self.req("write-attributes", "4.00", path="/3303/0/5700", query=["speed=3"])
        self.req("write-attributes", "4.00", path="/3/0/0", attrs={"gt": 1})            # not numeric
        self.req("write-attributes", "4.04", path="/3303/0/5800", attrs={"pmin": 1})
        self.req("write-attributes", "4.04", path="/3304", attrs={"pmin": 1})
        for p in ("/3303/0/5700", "/3303/0", "/3303"):
            self.req("write-attributes", "2.04", path=p,
                     query=["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax"])
        r = self.req("discover", "2.05", path="/3303")
        self.assertEqual(r["links"][0:2], ["</3303>;ver=1.1", "</3303/0>"])

    def test_create_and_delete(self):
        r = self.req("create", "2.01", path="/3303", records=[{"path": "/3303/1/5700", "value": 10.5}])
        self.assertEqual(r["location"], "/3303/1")
        ev = self.srv.wait_event("update", ep="ep0")
        self.assertIn("</3303/1>", ev["links"])
        self.assertEqual(records_by_path(self.req("read", "2.05", path="/3303/1")), {"/3303/1/5700": 10.5})
        # TLV resources without an instance: the lowest free id.
        # e4: resource value, 16-bit id, 4-byte length; 5700 = 1644; 11.0f.
        r = self.req("raw", "2.01", method="POST", path="/3303", ct=11542, hex="e4164441300000")
        self.assertEqual(r["location"], "/3303/2")
        self.assertEqual(self.cl.get("ep0", "/3303/2/5700"), "11")
        self.srv.wait_event("update", ep="ep0")
        self.req("create", "4.00", path="/3303", records=[{"path": "/3303/0/5700", "value": 1.0}])
        self.req("create", "4.04", path="/3311", records=[{"path": "/3311/0/5850", "value": True}])
        self.req("create", "4.05", path="/1", records=[{"path": "/1/1/0", "value": 2}])
        self.req("create", "4.00", path="/3303", ct=112, hex="ff")
        self.req("delete", "2.02", path="/3303/1")
        ev = self.srv.wait_event("update", ep="ep0")
        self.assertNotIn("</3303/1>", ev["links"])
        self.req("delete", "4.04", path="/3303/1")
        self.req("delete", "2.02", path="/3303/2")
        self.srv.wait_event("update", ep="ep0")
        self.req("delete", "4.05", path="/3/0")       # mandatory Device
        self.req("delete", "4.05", path="/1/0")       # the client's own Server object
        self.req("delete", "4.05", path="/3303")      # not an instance
        self.req("delete", "4.05", path="/3303/0/5700")
        self.req("delete", "4.01", path="/0/0")

    def test_create_on_declared_object(self):
        self.cl.cmd("declare ep0 3311")
        r = self.req("create", "2.01", path="/3311", ct=110,
                     records=[{"path": "/3311/3/5850", "value": True}, {"path": "/3311/3/5851", "value": 30}])
        self.assertEqual(r["location"], "/3311/3")
        v = records_by_path(self.req("read", "2.05", path="/3311/3", accept=110))
        self.assertEqual(v, {"/3311/3/5850": True, "/3311/3/5851": 30})
        self.srv.wait_event("update", ep="ep0")
        self.req("delete", "2.02", path="/3311/3")
        ev = self.srv.wait_event("update", ep="ep0")
        self.assertIn("</3311>", ev["links"])

    def test_unsupported_methods(self):
        self.req("write-composite", "4.05", records=[{"path": "/3/0/14", "value": "x"}])
        self.req("raw", "4.05", method="POST", path="/3/0/6/0", text="")
        self.req("raw", "4.05", method="GET", path="/")


class Async(DM):
    client_args = {"async_ms": 300}

    def timed(self, op, **kw):
        t0 = time.monotonic() * 1000
        r = self.req(op, **kw)
        return r, r["ts"] - t0

    def test_write_answered_when_the_field_confirms(self):
        r, ms = self.timed("write", path="/3/0/14", ct=0, text="+03:00")
        self.assertEqual(r["code"], "2.04")
        self.assertGreaterEqual(ms, 290)
        self.assertLess(ms, 2000)
        self.assertEqual(self.cl.get("ep0", "/3/0/14"), "+03:00")

    def test_field_error_maps_to_coap(self):
        r, ms = self.timed("write", path="/3/0/14", ct=0, text="field-error")
        self.assertEqual(r["code"], "5.03")
        self.assertGreaterEqual(ms, 290)
        self.assertNotEqual(self.cl.get("ep0", "/3/0/14"), "field-error")
        r, ms = self.timed("execute", path="/3/0/4", args="9")
        self.assertEqual(r["code"], "5.00")
        r, ms = self.timed("execute", path="/3/0/4", args="1")
        self.assertEqual(r["code"], "2.04")
        self.assertGreaterEqual(ms, 290)

    def test_concurrent_async_operations(self):
        ids = [self.srv.send("write", ep="ep0", path="/3/0/15", ct=0, text=f"Zone/{i}", timeout=10)
               for i in range(5)]
        codes = [self.srv.response(i)["code"] for i in ids]
        self.assertEqual(codes, ["2.04"] * 5)
        self.assertEqual(self.cl.stats()["pending"], 0)


class Version10(DM):
    client_args = {"version": 10}

    def test_default_format_is_tlv(self):
        r = self.req("read", "2.05", path="/3/0")
        self.assertEqual(r["ct"], 11542)
        self.assertEqual(records_by_path(r), DEVICE)
        r = self.req("read", "2.05", path="/3303/0/5700")
        self.assertEqual((r["ct"], r["text"]), (0, "21.5"))


if __name__ == "__main__":
    main(sys.modules[__name__])
