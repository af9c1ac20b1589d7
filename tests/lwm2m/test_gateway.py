#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""LwM2M Gateway mode (Object 25 v2.0) of lwm2m/client: child devices as
/25 instances, requests addressed /{prefix}/... routed to the device's own
store in every operation and format, device objects kept out of
Register/Update, an Update when a device is added or removed."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clienttest import Client, main, server, uri  # noqa: E402
from fglwm2m import records_by_path  # noqa: E402

OWN = ['</>;rt="oma.lwm2m";ct=112', '</1>;ver=1.1', '</1/0>', '</3>;ver=1.2', '</3/0>']
DEV_LINKS = "</3>;ver=1.2,</3/0>,</3303>;ver=1.1,</3303/0>"


class Gateway(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = server().start()
        cls.cl = Client(uri(cls.srv), count=1, ops=True, name="gw").start()
        cls.srv.wait_event("register", ep="gw0")
        cls.cl.wait_state("gw0", "registered")
        cls.cl.cmd("add-device gw0 dev0 DEV-A")
        cls.first_update = cls.srv.wait_event("update", ep="gw0")
        cls.cl.cmd("add-device gw0 dev1 DEV-B")
        cls.second_update = cls.srv.wait_event("update", ep="gw0")
        cls.cl.cmd("dset gw0 dev1 /3303/0/5700 -3.25")

    @classmethod
    def tearDownClass(cls):
        rc = cls.cl.quit()
        cls.srv.stop()
        assert rc == 0, f"client exit code {rc}"

    def req(self, op, code=None, **kw):
        r = self.srv.request(op, ep="gw0", **kw)
        if code:
            self.assertEqual(r["code"], code, f"{op} {kw}: {r}")
        return r

    def test_adding_devices_sends_updates_without_their_objects(self):
        tail = ['</3303>;ver=1.1', '</3303/0>']
        self.assertEqual(self.first_update["links"], OWN + ['</25>;ver=2.0', '</25/0>'] + tail)
        self.assertEqual(self.second_update["links"], OWN + ['</25>;ver=2.0', '</25/0>', '</25/1>'] + tail)

    def test_object_25_instances(self):
        v = records_by_path(self.req("read", "2.05", path="/25"))
        self.assertEqual(v, {"/25/0/0": "DEV-A", "/25/0/1": "dev0", "/25/0/3": DEV_LINKS,
                             "/25/1/0": "DEV-B", "/25/1/1": "dev1", "/25/1/3": DEV_LINKS})
        self.req("write", "4.05", path="/25/0/1", ct=0, text="other")
        self.req("delete", "4.05", path="/25/0")
        self.req("create", "4.05", path="/25", records=[{"path": "/25/5/0", "value": "x"}])

    def test_device_changes_in_one_loop_turn_each_notify(self):
        # Two values of a device's observed resource in one turn of the
        # client's loop: two notifications, in order (issue 13).
        obs = self.req("observe", "2.05", path="/dev1/3303/0/5700")
        self.cl.send("dset gw0 dev1 /3303/0/5700 4.5\ndset gw0 dev1 /3303/0/5700 5.5")
        for _ in range(2):
            self.cl.wait(lambda x: x == "ok")
        got = [records_by_path(self.srv.wait_event("notify", timeout=2,
                                                   where=lambda e: e["observation"] == obs["id"]))
               for _ in range(2)]
        self.assertEqual([list(g.values()) for g in got], [[4.5], [5.5]])
        self.assertEqual(self.srv.request("cancel", observation=obs["id"], mode="get")["code"], "2.05")
        self.cl.cmd("dset gw0 dev1 /3303/0/5700 -3.25")  # what the other tests read

    def test_reads_are_routed_by_prefix(self):
        r = self.req("read", "2.05", path="/dev1/3303/0/5700")
        self.assertEqual((r["ct"], r["text"]), (0, "-3.25"))
        self.assertEqual(self.req("read", "2.05", path="/dev0/3303/0/5700")["text"], "21.5")
        self.assertEqual(self.req("read", "2.05", path="/3303/0/5700")["text"], "21.5")
        for ct in (110, 112, 11542, 11543, 11544):
            with self.subTest(ct=ct):
                r = self.req("read", "2.05", path="/dev1/3303/0", accept=ct)
                self.assertEqual(records_by_path(r), {"/dev1/3303/0/5700": -3.25, "/dev1/3303/0/5701": "Cel"})
        r = self.req("read", "2.05", path="/dev1/3303/0", accept=110)
        self.assertIn('"bn":"/dev1/3303/0/"', r["text"])
        self.req("read", "4.04", path="/dev7/3303/0")
        self.req("read", "4.04", path="/dev0/3303/4")
        self.req("read", "4.04", path="/dev0/25/0")   # a device has no /25 of its own

    def test_read_composite_across_devices(self):
        r = self.req("read-composite", "2.05", ct=112,
                     paths=["/3303/0/5700", "/dev0/3303/0/5700", "/dev1/3303/0/5700"])
        self.assertEqual(records_by_path(r), {"/3303/0/5700": 21.5, "/dev0/3303/0/5700": 21.5,
                                              "/dev1/3303/0/5700": -3.25})

    def test_writes_and_executes_reach_the_device(self):
        self.req("write", "2.04", path="/dev0/3303/0", partial=True,
                 records=[{"path": "/dev0/3303/0/5750", "value": "boiler"}])
        self.cl.wait(lambda ln: ln == "write gw0 dev0 /3303/0 replace=0 n=1 /3303/0/5750=boiler")
        self.req("write", "2.04", path="/dev0/3/0/14", ct=0, text="+04:00")
        self.assertEqual(self.req("read", "2.05", path="/dev0/3/0/14")["text"], "+04:00")
        self.assertEqual(self.req("read", "2.05", path="/3/0/14")["text"], "+01:00")
        self.req("read", "4.04", path="/dev1/3303/0/5750")
        self.req("raw", "4.00", method="POST", path="/dev0/3303/0", ct=110,   # names another device
                 text='[{"n":"/dev1/3303/0/5750","vs":"x"}]')
        self.req("execute", "2.04", path="/dev1/3/0/4", args="0='x'")
        self.cl.wait(lambda ln: ln == "exec gw0 dev1 /3/0/4 args=0='x'")

    def test_discover_and_attributes_per_device(self):
        self.req("write-attributes", "2.04", path="/dev1/3303/0/5700", attrs={"pmin": 2, "lt": 0})
        r = self.req("discover", "2.05", path="/dev1/3303/0")
        self.assertEqual(r["links"], ["</dev1/3303/0>", "</dev1/3303/0/5605>", "</dev1/3303/0/5700>;pmin=2;lt=0",
                                      "</dev1/3303/0/5701>"])
        # The same path on the gateway itself and on the other device has none.
        self.assertEqual(self.req("discover", "2.05", path="/3303/0/5700")["links"], ["</3303/0/5700>"])
        self.assertEqual(self.req("discover", "2.05", path="/dev0/3303/0/5700")["links"],
                         ["</dev0/3303/0/5700>"])
        self.req("write-attributes", "2.04", path="/dev1/3303/0/5700", query=["pmin", "lt"])
        self.assertEqual(self.req("discover", "2.05", path="/dev1/3303/0/5700")["links"],
                         ["</dev1/3303/0/5700>"])

    def test_create_and_delete_in_a_device(self):
        r = self.req("create", "2.01", path="/dev1/3303", records=[{"path": "/dev1/3303/4/5700", "value": 7.5}])
        self.assertEqual(r["location"], "/dev1/3303/4")
        self.assertEqual(self.req("read", "2.05", path="/dev1/3303/4/5700")["text"], "7.5")
        self.assertEqual(self.req("read", "2.05", path="/25/1/3")["text"], DEV_LINKS + ",</3303/4>")
        self.req("delete", "2.02", path="/dev1/3303/4")
        self.assertEqual(self.req("read", "2.05", path="/25/1/3")["text"], DEV_LINKS)
        self.req("delete", "4.05", path="/dev1/3/0")


class AddRemove(unittest.TestCase):
    def test_remove_device_sends_update_and_stops_routing(self):
        with server() as srv:
            cl = Client(uri(srv), count=1, name="gw")
            self.addCleanup(cl.stop)
            cl.start()
            srv.wait_event("register", ep="gw0")
            cl.wait_state("gw0", "registered")
            cl.cmd("add-device gw0 kitchen K-1")
            self.assertIn("</25/0>", srv.wait_event("update", ep="gw0")["links"])
            self.assertEqual(srv.request("read", ep="gw0", path="/kitchen/3/0/2")["text"], "SN-01000")
            cl.cmd("remove-device gw0 kitchen")
            ev = srv.wait_event("update", ep="gw0")
            self.assertNotIn("</25/0>", ev["links"])
            self.assertNotIn("</25>;ver=2.0", ev["links"])
            self.assertEqual(srv.request("read", ep="gw0", path="/kitchen/3/0/2")["code"], "4.04")
            self.assertEqual(srv.request("read", ep="gw0", path="/25/0")["code"], "4.04")
            # Prefixes: numbers-only and duplicates are refused.
            cl.cmd("add-device gw0 a K-2")
            self.assertRaises(AssertionError, cl.cmd, "add-device gw0 a K-3")
            self.assertRaises(AssertionError, cl.cmd, "add-device gw0 123 K-4")
            # Found by prefix in any order of arrival; a removed device's
            # instance id is the next one given (the lowest free).
            for p in ("zz", "b"):
                cl.cmd("add-device gw0 %s K-%s" % (p, p))
            ids = {p: srv.request("read", ep="gw0", path="/25/%d/1" % i)["text"] for i, p in
                   ((0, "a"), (1, "zz"), (2, "b"))}
            self.assertEqual(ids, {"a": "a", "zz": "zz", "b": "b"})
            cl.cmd("remove-device gw0 zz")
            cl.cmd("add-device gw0 m K-m")
            self.assertEqual(srv.request("read", ep="gw0", path="/25/1/1")["text"], "m")
            for p, code in (("a", "2.05"), ("b", "2.05"), ("m", "2.05"), ("zz", "4.04"), ("c", "4.04")):
                self.assertEqual(srv.request("read", ep="gw0", path="/%s/3/0/2" % p)["code"], code, p)
            self.assertEqual(cl.quit(), 0)


if __name__ == "__main__":
    main(sys.modules[__name__])
