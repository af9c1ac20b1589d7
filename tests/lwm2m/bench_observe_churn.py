#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Memory of observations that come and go: fg-lwm2m-client-test (one
endpoint, the default bound of 256) against fg-lwm2m-server goes through
20,000 Observe + cancel cycles, in batches of 250 observations that are
notified once and then cancelled, by GET Observe=1 and by Reset in turn.

Printed: the client's resident memory (VmRSS) after a first batch (the
allocator warmed up), with 250 live observations, and after the 20,000
cycles; the client's counters; the time taken. Prints figures, asserts
nothing about time; it fails only when an observation outlives its
cancellation (the counts are the regression tests' business, this just
keeps them honest over many cycles).

Usage: bench_observe_churn.py [CYCLES]   (default 20000)
"""
import sys
import time

from clienttest import Client, server, uri

BATCH = 250
PATH = "/3303/0/5700"


def main():
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    srv = server().start()
    cl = Client(uri(srv), count=1, ops=True).start()
    srv.wait_event("register", ep="ep0")
    cl.wait_state("ep0", "registered")
    value = [20]

    def rss():
        cl.send("rss")
        return int(cl.wait(lambda ln: ln.startswith("rss ")).split()[1])

    def change():
        value[0] += 1
        cl.cmd(f"set ep0 {PATH} {value[0]}")

    def batch(i, measure=None):
        ids = [srv.send("observe", ep="ep0", path=PATH) for _ in range(BATCH)]
        obs = srv.responses(ids, timeout=60)
        if {"observe" in o for o in obs} != {True}:
            raise SystemExit(f"batch {i}: an Observe was refused")
        if measure is not None:
            measure.append(rss())
        mode = "get" if i % 2 == 0 else "rst"
        srv.responses([srv.send("cancel", observation=o["id"], mode=mode) for o in obs], timeout=60)
        # one notification each: answered by the server, or Reset (which
        # cancels) in the "rst" batches
        change()
        deadline = time.monotonic() + 30
        while cl.stats()["observations"] and time.monotonic() < deadline:
            time.sleep(0.02)
        if cl.stats()["observations"]:
            raise SystemExit(f"batch {i}: {cl.stats()['observations']} observations outlived their cancellation")

    fresh = rss()
    live = []
    batch(0, live)
    base = rss()
    t0 = time.monotonic()
    for i in range(1, cycles // BATCH):
        batch(i)
    took = time.monotonic() - t0
    after = rss()
    st = cl.stats()
    strays = len(srv.events("stray"))
    print(f"observe-churn: {cycles} Observe + cancel cycles (batches of {BATCH}, GET Observe=1 and Reset "
          f"in turn) in {took:.1f} s")
    print(f"  client VmRSS: {fresh} KiB registered, {live[0]} KiB with {BATCH} live observations, "
          f"{base} KiB once they were cancelled, {after} KiB after all {cycles} cycles "
          f"({after - base:+d} KiB)")
    print(f"  counters: requests={st['requests']} notifications={st['notifications']} "
          f"observations={st['observations']} refused={st['obs_refused']}; strays at the server: {strays}")
    rc = cl.quit()
    srv.stop()
    return 0 if rc == 0 and strays == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
