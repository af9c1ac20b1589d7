# SPDX-License-Identifier: Apache-2.0
"""Benchmark of issue 15's measurement: five sensors at 2 Hz, observed by
the server, the server SIGKILLed for 60 s (FG_OUTAGE_S) and started again on
its port; lifetime 5 min. Prints what the issue measured before the work
(every endpoint registered again 70 s after the server returned, 39 % of
the values lost) for this build; asserts nothing about time. FG_BENCH_SIZE=small:
the sensors pump 3 s before the server goes (20 s by default), and the
outage is 3 s unless FG_OUTAGE_S says otherwise (the benchmark suite's
check that every figure is produced, tests/bench/suite.py)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from clienttest import Client, quiet_port, server, uri
from test_store_forward import PATH, arrivals, merged

SMALL = os.environ.get("FG_BENCH_SIZE") == "small"
OUTAGE = float(os.environ.get("FG_OUTAGE_S", "3" if SMALL else "60"))
N, HZ = 5, 2


def main():
    state = tempfile.mkdtemp(prefix="fg-bench-outage-")
    names = [f"ep{i}" for i in range(N)]
    srv = server(port=quiet_port(), stderr=subprocess.DEVNULL).start()
    port = srv.port
    cl = Client(uri(srv), count=N, lifetime=300, state_dir=state).start()
    try:
        for ep in names:
            srv.wait_event("register", ep=ep, timeout=30)
        for ep in names:
            srv.request("observe", ep=ep, path=PATH, accept=112, timeout=10)
        cl.cmd(f"pump * {PATH} {HZ}")
        time.sleep(3 if SMALL else 20)
        srv.kill()
        t_kill = time.monotonic()
        peak_files = 0
        while time.monotonic() < t_kill + OUTAGE:
            time.sleep(1)
            size = sum(os.path.getsize(os.path.join(state, f)) for f in os.listdir(state))
            peak_files = max(peak_files, size)
        srv2 = server(port=port, stderr=subprocess.DEVNULL).start()
        t_up = srv2.request("ping")["ts"]
        last = max(srv2.wait_event("register", ep=ep, timeout=120)["ts"] for ep in names)
        for ep in names:
            srv2.request("observe", ep=ep, path=PATH, accept=112, timeout=10)
        # Until everything held went.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            held = 0
            for ep in names:
                cl.send(f"sf {ep}")
                ln = cl.wait(lambda x, ep=ep: x.startswith(f"sf {ep} "))
                held += int(ln.split("held=")[1].split()[0])
            if held == 0:
                break
            time.sleep(0.2)
        t_drained = time.monotonic()
        cl.send("pump * off")
        sent = {ep: int(cl.wait(lambda x, ep=ep: x.startswith(f"pumped {ep} ")).split()[2]) for ep in names}
        time.sleep(3)
        st = cl.stats()
        evs = merged(srv, srv2)
        total = delivered = dups = 0
        for ep in names:
            got = [v for v, _ in arrivals(evs, ep)]
            total += sent[ep]
            delivered += len(set(got))
            dups += len(got) - len(set(got))
        sends = len(srv2.events("send"))
        print(f"# outage {OUTAGE:.0f} s, {N} sensors at {HZ} Hz, lifetime 300 s")
        print(f"# every endpoint registered again {(last - t_up) / 1000:.2f} s after the server returned "
              f"({st['probes']} probe(s))")
        print(f"# everything held delivered {t_drained - t_up / 1000:.2f} s after the server returned, "
              f"in {sends} Send(s)")
        print(f"# values: {total} sent, {delivered} delivered ({100.0 * delivered / total:.1f} %), "
              f"{st['sf_dropped']} dropped, {dups} delivered twice")
        print(f"# queue files at most {peak_files} bytes for {N} endpoints")
        cl.quit()
        srv2.stop()
    finally:
        cl.stop()
        srv.stop()
        shutil.rmtree(state, True)


if __name__ == "__main__":
    sys.exit(main())
