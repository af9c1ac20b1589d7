#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What a Create on Object 26242 costs as the inventory grows (issue 14):
the real fieldgate in gateway mode with N devices of the constants profile
demo-sensor, fg-lwm2m-server on loopback. A Create loads and checks the
whole configuration with the new device, writes its file (fsync, rename,
fsync of the folder) and applies it by difference; the figures are the
server's round trip per Create (5 each) and one Read of /26242 with every
instance (block-wise). Prints figures, asserts nothing about time.

Usage: bench_remote.py PATH/TO/fieldgate [N...]   (default 100 1000 5000)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

SOURCE = os.environ.get("FG_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(SOURCE, "tests", "lwm2m-server"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "gateway"))
import test_devices  # noqa: E402
from fglwm2m import Server  # noqa: E402


def run(n):
    srv = Server(stderr=subprocess.DEVNULL).start()
    state = tempfile.mkdtemp(prefix="fg-bench-remote-")
    text = test_devices.config(srv.url, "@SOCK@", [{"name": "d%d" % i} for i in range(n)], mode="gateway",
                               state_dir=state).replace("level: debug", "level: info")
    gw = test_devices.Gateway(text)
    try:
        srv.wait_event("register", ep="gw", timeout=60)
        deadline = time.monotonic() + 300
        while not gw.ctl("status").stdout.splitlines()[-1].startswith("%d devices, %d registered" % (n, n)):
            if time.monotonic() > deadline:
                raise AssertionError("%d devices never registered" % n)
            time.sleep(0.5)
        ms = []
        for i in range(5):
            iid = n + 10 + i
            t0 = time.monotonic()
            r = srv.request("create", ep="gw", path="/26242", ct=112, timeout=120, records=[
                {"path": "/26242/%d/0" % iid, "value": "new%d" % i},
                {"path": "/26242/%d/3" % iid, "value": "demo-sensor"}])
            ms.append((time.monotonic() - t0) * 1000)
            if r["code"] != "2.01":
                raise AssertionError(r)
        t0 = time.monotonic()
        r = srv.request("read", ep="gw", path="/26242", timeout=120)
        read_ms = (time.monotonic() - t0) * 1000
        return sorted(ms)[2], read_ms, ms
    finally:
        gw.stop()
        srv.stop()
        shutil.rmtree(state, True)


def main():
    test_devices.FIELDGATE = os.path.abspath(sys.argv[1])
    for n in [int(a) for a in sys.argv[2:]] or [100, 1000, 5000]:
        median, read_ms, ms = run(n)
        print("%6d devices: Create %s ms (median %.0f); Read /26242 (%d instances) %.0f ms"
              % (n, " ".join("%.0f" % x for x in ms), median, n + 5, read_ms), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
