#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Field change -> Notify latency under load (issue 13 target 3: fieldgate
adds <= 100 us at p50 and <= 1 ms at p99 over the broker round trip measured
in the same run, at 1,000 updates/s across 1,000 observed resources).

Set-up, every part its own process, all on loopback:
  - mosquitto;
  - fieldgate in gateway mode with N zigbee2mqtt sensors (z2m-th-sensor)
    discovered over MQTT: one observed resource each, /PREFIX/3303/0/5700
    of the endpoint gw (N = 1,000: 1,000 devices x 1 resource);
  - the observer (this file with --observer): the raw CoAP server of
    bench_mqtt.py (RawServer), which answers the Register and Updates,
    observes all N resources (one token each) and notes every
    notification with its arrival time (CLOCK_MONOTONIC, shared by the
    processes of the machine) and its value; its CPU is printed, to show
    it kept up;
  - the load (this file with --load): RATE updates/s for the window, paced
    (the k-th due at k / RATE s), round robin over the N devices, each a
    value of its own (BASE + k), published on its own MQTT connection;
  - this process: probe updates every 1 / PROBE_RATE s on P of the
    resources (values 0.5, 1.5, ...: below BASE, so never a load value),
    and a subscriber of the probes' topics through the same broker (its
    own connection): for each probe the broker round trip (publish -> the
    subscriber has it) and publish -> Notify at the observer, the same
    probe under the same load.

Printed: the load's achieved rate (and with the probes), p50/p99 of both,
"fieldgate adds" (the headline below; differences of p50s and p99s as
context), fieldgate's CPU in the window, and the counts, never hidden:
probes without a Notify (lost), load updates whose value came in no Notify
(folded: without pmin none may fold), Observes that failed, probes the
subscriber did not get. The broker round trip is the broker path alone
(the subscriber takes only the probe topics, a few load updates among
them); fieldgate takes all N topics, so what it adds includes taking the
load. Both ends stamp the
time in Python after recvfrom, each with its own process's delay: the
observer's queueing behind RATE notifications a second, the measuring
process's wake-up (it sleeps between probes; the observer is kept awake).
They differ (at full size the wake-up was the larger), so each end is also
timed by the kernel's receive time (SO_TIMESTAMPNS, CLOCK_REALTIME against
the probe's publish time on the same clock: the Notify's datagram, the
subscriber's last TCP segment read), and "fieldgate adds" is printed both
ways. mosquitto writes a message to its subscribers one after the other,
exact topic levels before "+": the subscriber of the probes' topics gets
each probe before fieldgate (which takes zigbee2mqtt/+), so its round trip
leaves out the broker's write to fieldgate, and the waking of the
subscriber, which can take the CPU from the broker before that write. A
second subscriber of +/sNNNNN is served after fieldgate (kernel receive
time only: it is read after the first); "fieldgate adds" over it is
printed too. The truth lies between the two: the first counts one broker
write too many against fieldgate, the second one too few.

The headline, "FIELDGATE ADDS": mosquitto (2.0.11, src/subs.c) walks the
topic tree exact level before "+" and serves one filter's subscribers in
the order they subscribed, writing to each as it goes; for a probe's topic
it writes to the exact-topic subscriber, then to fieldgate (the only
zigbee2mqtt/+ subscriber), then to the +/sNNNNN one: the two are the
broker's writes just before and just after fieldgate's. Per probe: the
Notify's kernel receive time minus the midpoint of theirs (the estimate of
when the broker wrote to fieldgate), then the p50 and p99 of these
differences. Per probe, so that a stall that delays the probe for everyone
(the broker's, the machine's) is not counted as fieldgate's, while one on
fieldgate's path alone is. The differences of percentiles stay printed as
context. FG_BENCH_LAT_SAME=1 adds two subscribers of fieldgate's own filter
(the whole stream, 1,050 messages/s), one subscribed before fieldgate
starts and one after (written just before and just after it), in a
process of their own, and the same figure over them; off by default: on
the 2-core machine that process took 8-10 % of a core and raised
fieldgate's Notify p50 from 241-258 us to 356-462 us (three pairs), and a
reader that lags lets the kernel merge segments (and their receive times).
Prints figures, asserts nothing about time.

FG_BENCH_SIZE=small: N = 50 at 100 updates/s for 3 s (the suite's check
that every figure is produced). FG_BENCH_LAT_N, FG_BENCH_LAT_RATE,
FG_BENCH_LAT_S override N, RATE and the window. FG_BENCH_LAT_NODELAY=1:
mosquitto with set_tcp_nodelay true (default: mosquitto's default, Nagle
on its sockets, as the other benchmarks). FG_BENCH_LAT_DEBUG=1: every
probe on stderr with the notifications of its device within a second.
FG_BENCH_LAT_RCVBUF=BYTES: the observer's
receive buffer (default 4 MiB, capped by net.core.rmem_max; 0: the
system's default); what its socket drops is counted (SO_RXQ_OVFL, on the
next datagram it takes) and printed. FG_BENCH_LAT_DUMP=FILE: every probe and notification as JSON, with
fieldgate's pid and the broker's sockets (`ss`), for a look at the tail
with perf sched / tcp_probe traces.

Usage: bench_latency_load.py PATH/TO/fieldgate
"""
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_mqtt import Mqtt, RawServer, pct, rawcoap, test_devices, Broker  # noqa: E402
from bench_scale import cpu_s, status_counts, wait  # noqa: E402

SMALL = os.environ.get("FG_BENCH_SIZE") == "small"
N = int(os.environ.get("FG_BENCH_LAT_N") or (50 if SMALL else 1000))
RATE = float(os.environ.get("FG_BENCH_LAT_RATE") or (100 if SMALL else 1000))
WINDOW = float(os.environ.get("FG_BENCH_LAT_S") or (3 if SMALL else 20))
PROBES = 5  # resources probed
PROBE_RATE = 20.0 if SMALL else 50.0  # probes per second
BASE = 100000  # the load's values are BASE + k; the probes' are below
TOPIC = "zigbee2mqtt/s%05d"
FILTER = "zigbee2mqtt/+"  # fieldgate's subscription (the discovery rule's topic)
PATH = "/z-s%05d/3303/0/5700"  # gateway mode: the device name is the prefix
NODELAY = os.environ.get("FG_BENCH_LAT_NODELAY") == "1"
SAME = os.environ.get("FG_BENCH_LAT_SAME") == "1"  # the same-filter subscribers too (context; they cost fieldgate)
QUIET = 0.5  # s without a notification: the observer has them all
WARM_UP = -0.75  # the value of the probes' first, unmeasured, messages


# SO_TIMESTAMPNS (asm-generic/socket.h; not in Python's socket module): the
# kernel's receive time of each datagram, CLOCK_REALTIME, as a struct
# timespec in the ancillary data.
SO_TIMESTAMPNS = 35
# SO_RXQ_OVFL (the same header): with each datagram, how many the socket
# has dropped so far for want of buffer space (a uint32).
SO_RXQ_OVFL = 40


class Stamped:
    """RawServer's socket, noting when each datagram was taken (t: right
    after recvfrom, before it is decoded and answered, CLOCK_MONOTONIC) and
    when the kernel received it (kt: CLOCK_REALTIME)."""

    def __init__(self, s):
        self.s = s
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        self.t = self.kt = 0.0
        self.drops = 0

    def recvfrom(self, n):
        d, anc, _, addr = self.s.recvmsg(n, 64)
        self.t = time.monotonic()
        self.kt = 0.0
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", data[:16])
                self.kt = sec + nsec * 1e-9
            elif level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL:
                self.drops = max(self.drops, struct.unpack("I", data[:4])[0])
        return d, addr

    def recv(self, n):  # a TCP socket (the MQTT subscriber's)
        return self.recvfrom(n)[0]

    def __getattr__(self, name):
        return getattr(self.s, name)


def observer():
    """The observing LwM2M server process: commands on stdin, answers on stdout."""
    srv = RawServer()
    # Room for a few seconds of notifications (up to net.core.rmem_max): the
    # observer, a Python process on a shared machine, can be kept off a CPU
    # for 100 ms and more, and a datagram its socket drops would count as a
    # notification fieldgate did not send. Drops are counted all the same.
    rcvbuf = int(os.environ.get("FG_BENCH_LAT_RCVBUF") or 4 << 20)
    if rcvbuf:
        srv.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.s = Stamped(srv.s)
    out = sys.stdout
    out.write("port %d\n" % srv.port)
    out.flush()
    tokens = {}  # token -> resource index
    notes = []  # (index, value, arrival)
    last = [time.monotonic()]

    def serve(timeout):
        try:
            m = srv.serve_one(timeout)
        except socket.timeout:
            return None
        i = tokens.get(m["token"])
        if i is not None and m["code"] == rawcoap.code(2, 5) and m["payload"] and rawcoap.opts(m, rawcoap.O_OBSERVE):
            notes.append((i, float(m["payload"].decode()), srv.s.t, srv.s.kt))
            last[0] = srv.s.t
        return m

    def observe(n):
        """Observe every resource, at most 32 in flight; one that answered
        4.04 (no value yet) or nothing is asked again, up to 30 s."""
        todo = list(range(n))
        pending = {}  # token -> (index, sent at)
        failed = {}
        deadline = time.monotonic() + 30
        mid = 1000
        while (todo or pending) and time.monotonic() < deadline:
            while todo and len(pending) < 32:
                i = todo.pop(0)
                mid = mid % 65000 + 1
                tok = b"o" + i.to_bytes(3, "big") + mid.to_bytes(2, "big")
                opts = [(rawcoap.O_OBSERVE, b"")] + [(rawcoap.O_URI_PATH, p.encode())
                                                     for p in (PATH % i).strip("/").split("/")]
                srv.s.sendto(rawcoap.encode(rawcoap.CON, rawcoap.GET, mid, tok, opts), srv.eps["gw"])
                pending[tok] = (i, time.monotonic())
            m = serve(0.05)
            if m is not None and m["type"] == rawcoap.ACK and m["token"] in pending:
                i, _ = pending.pop(m["token"])
                if m["code"] == rawcoap.code(2, 5):
                    tokens[m["token"]] = i
                    failed.pop(i, None)
                else:
                    failed[i] = rawcoap.code_str(m["code"])
                    todo.append(i)
            for tok, (i, sent) in list(pending.items()):
                if time.monotonic() - sent > 5:  # lost: CON retransmission is not worth it here
                    del pending[tok]
                    failed[i] = "no answer"
                    todo.append(i)
        return len(tokens), len(failed) + len(todo) + len(pending)

    cmds = Lines()
    while True:
        line = cmds.get(srv.s)
        if line is None:  # stdin closed
            return 0
        if line == "":  # a datagram, not a command: answer it
            serve(0)
            continue
        cmd = line.split()
        if cmd[0] == "observe":  # observe N: gw registered and its devices added
            ok, bad = observe(int(cmd[1])) if "gw" in srv.eps else (0, int(cmd[1]))
            out.write("observed %d failed %d\n" % (ok, bad))
        elif cmd[0] == "serve":  # take notifications until the next line ("drain")
            del notes[:]
            c0 = cpu_s(os.getpid())
            t0 = time.monotonic()
            while cmds.get(srv.s) == "":
                serve(0)
            cpu = (cpu_s(os.getpid()) - c0) / (time.monotonic() - t0) * 100
            last[0] = time.monotonic()  # then until QUIET s without a notification
            while time.monotonic() - last[0] < QUIET:
                serve(0.05)
            out.write(json.dumps({"notes": notes, "cpu": cpu, "drops": srv.s.drops}) + "\n")
        out.flush()


class Lines:
    """Command lines on stdin (fd 0, unbuffered: select must see them),
    waited for together with a socket."""

    def __init__(self):
        self.buf = b""
        self.eof = False

    def get(self, sock):
        """The next line; "" when the socket has a datagram first; None at
        the end of stdin."""
        while b"\n" not in self.buf and not self.eof:
            r = select.select([0, sock], [], [])[0]
            if sock in r:
                return ""
            chunk = os.read(0, 4096)
            self.buf += chunk
            self.eof = not chunk
        if b"\n" not in self.buf:
            return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def load(port, n, rate, window):
    """The load process: paced publishes, then 'sent K in S s' on stdout."""
    pub = Mqtt(port, "bench-lat-load")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # go
    t0 = time.monotonic()
    k = 0
    total = int(rate * window)
    while k < total:
        due = t0 + k / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        pub.publish(TOPIC % (k % n), '{"temperature":%d}' % (BASE + k))
        k += 1
    took = time.monotonic() - t0
    pub.close()
    sys.stdout.write("sent %d in %.6f s\n" % (k, took))
    sys.stdout.flush()
    return 0


def subscribers(port):
    """The same-filter subscribers' process: "early" subscribes to
    fieldgate's filter before fieldgate starts, "late" (on the line "late")
    after it; mosquitto serves the subscribers of one filter in the order
    they subscribed, so it writes each message to them just before and
    just after fieldgate, and they take the stream fieldgate takes. On
    "drain" (then QUIET s without a message), each probe's kernel receive
    time at each, as JSON."""
    out = sys.stdout

    def connect(cid):
        c = Mqtt(port, cid)
        c.subscribe(FILTER)
        c.s = Stamped(c.s)
        out.write("ready\n")
        out.flush()
        return c

    conns = {"early": connect("bench-lat-early")}
    stamps = {"early": {}, "late": {}}  # "index value" -> kernel receive time (CLOCK_REALTIME)
    queued = [0]

    def take(name):
        """Every whole frame the socket has, each read on its own: the
        kernel's time of a read is that of the last segment it took, so a
        frame's time is that of the segment that completed it, never a
        later message's."""
        c = conns[name].s
        while True:
            try:
                head = c.s.recv(5, socket.MSG_DONTWAIT | socket.MSG_PEEK)
            except BlockingIOError:
                return
            if not head:
                raise EOFError
            n, mul, k = 0, 1, 1  # the remaining length, a varint after the first byte
            while k < len(head):
                n += (head[k] & 127) * mul
                mul *= 128
                k += 1
                if not head[k - 1] & 128:
                    break
            else:
                return  # the rest of the header is on its way
            frame = b""  # header and body in one read: 2 system calls a frame
            while len(frame) < k + n:
                frame += c.recvfrom(k + n - len(frame))[0]
            body = frame[k:]
            if head[0] & 0xF0 != 0x30:
                continue
            tl = struct.unpack(">H", body[:2])[0]
            topic, payload = body[2:2 + tl], body[2 + tl:]
            if not payload.startswith(b'{"temperature":'):
                continue  # not a sensor value
            v = float(payload[15:-1])
            if v < BASE:  # a probe (or a warm-up or discovery value)
                stamps[name]["%d %r" % (int(topic[-5:]), v)] = c.kt
                try:  # a probe with more queued behind it: its segment may have been merged with a later one
                    queued[0] += v > 0 and bool(c.s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK))
                except BlockingIOError:
                    pass

    cmd = b""
    last, draining = time.monotonic(), False
    while True:
        socks = {c.s: name for name, c in conns.items()}
        r = select.select(list(socks) + ([] if draining else [0]), [], [], 0.05)[0]
        for sock in r:
            if sock in socks:
                take(socks[sock])
                last = time.monotonic()
        if draining and not r and time.monotonic() - last > QUIET:
            out.write(json.dumps({"stamps": stamps, "queued": queued[0]}) + "\n")
            out.flush()
            return 0
        if 0 in r:
            chunk = os.read(0, 4096)
            if not chunk:
                return 0
            cmd += chunk
            while b"\n" in cmd:
                line, cmd = cmd.split(b"\n", 1)
                if line == b"late":
                    conns["late"] = connect("bench-lat-late-same")
                elif line == b"drain":
                    draining, last = True, time.monotonic()


def gateway_text(port, broker_port, n):
    body = ("host: 127.0.0.1\nport: %d\nqos: 0\ndiscovery:\n  max_devices: %d\n  rules:\n"
            "    - {topic: \"zigbee2mqtt/{device}\", profile: z2m-th-sensor, prefix: z-,"
            " require: [/temperature]}" % (broker_port, n))
    text = test_devices.bridge_config("coap://127.0.0.1:%d" % port, "broker", "mqtt", body, [], level="warning")
    return text.replace("  lifetime: 60s\n", "  lifetime: 300s\n  register_rate: 1000\n  mode: gateway\n")


def helper(*args):
    return subprocess.Popen(["/usr/bin/python3", os.path.abspath(__file__)] + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)


def probe_run(broker_port, n, window, load_proc):
    """Probes for the window while the load runs: [(index, value, published
    at (monotonic, realtime), broker round trip (at the subscriber, at its
    kernel) or None, the same at the kernel of the subscriber served after
    fieldgate or None)] and how many the subscribers missed."""
    probed = [i * n // PROBES for i in range(PROBES)]
    sub, pub = Mqtt(broker_port, "bench-lat-sub"), Mqtt(broker_port, "bench-lat-probe")
    # mosquitto writes a message to its subscribers in the order of its
    # topic tree, exact levels before "+": sub (the exact topic) gets each
    # probe before fieldgate (zigbee2mqtt/+), late (+/sNNNNN) after it.
    late = Mqtt(broker_port, "bench-lat-late")
    for i in probed:
        sub.subscribe(TOPIC % i)
        late.subscribe("+/" + (TOPIC % i).split("/", 1)[1])
    for m in (sub, late):
        m.s = Stamped(m.s)
        m.s.settimeout(10)
    # One message per topic first, not measured: the first one on the new
    # connections took 40 ms (delayed ACK) and was the broker's p99.
    for i in probed:
        pub.publish(TOPIC % i, '{"temperature":%s}' % WARM_UP)
        sub.receive()
        late.receive()
    probes, missed = [], 0
    load_proc.stdin.write("go\n")
    # Half a probe period after the load's start: the first probe would
    # otherwise always come with the load's first update of the same device.
    t0 = time.monotonic() + 0.5 / PROBE_RATE
    j = 0
    while j < window * PROBE_RATE:
        due = t0 + j / PROBE_RATE
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        i, v = probed[j % PROBES], j + 0.5
        t, wall = time.monotonic(), time.time()
        pub.publish(TOPIC % i, '{"temperature":%s}' % v)
        rt = krt = lkrt = None
        try:
            while rt is None:
                _, payload = sub.receive()
                if json.loads(payload)["temperature"] == v:
                    rt, krt = time.monotonic() - t, sub.s.kt - wall
            # Read after sub: only its kernel's receive time is its own.
            while lkrt is None:
                _, payload = late.receive()
                if json.loads(payload)["temperature"] == v:
                    lkrt = late.s.kt - wall
        except socket.timeout:
            missed += 1
        probes.append((i, v, t, wall, rt, krt, lkrt))
        j += 1
    sub.close()
    late.close()
    pub.close()
    return probes, missed


def measure(fieldgate, n=N, rate=RATE, window=WINDOW):
    """Every figure, as a dict (main() and the suite print them)."""
    test_devices.FIELDGATE = fieldgate
    tmp = tempfile.mkdtemp(prefix="fg-bench-lat-")
    obs = helper("--observer")
    gw = loadp = subs = None
    f = {"n": n, "rate": rate, "window": window}
    try:
        port = int(obs.stdout.readline().split()[1])
        broker = Broker(tmp)
        if NODELAY:
            with open(broker.conf, "a") as conf:
                conf.write("set_tcp_nodelay true\n")
        with broker:
            if SAME:
                subs = helper("--subs", broker.port)  # "early" subscribes before fieldgate does
                assert subs.stdout.readline().strip() == "ready"
            gw = test_devices.Gateway(gateway_text(port, broker.port, n))
            wait(lambda: status_counts(gw) is not None, 30, "the gateway")
            pub = Mqtt(broker.port, "bench-lat-discover")
            for i in range(n):
                pub.publish(TOPIC % i, '{"temperature":-%d.25}' % (i + 1))
            pub.close()
            wait(lambda: status_counts(gw) == (n, n), 60 + n / 100, "%d devices" % n)
            if subs:  # fieldgate has subscribed (it has the devices): "late" comes after it
                subs.stdin.write("late\n")
                assert subs.stdout.readline().strip() == "ready"
            obs.stdin.write("observe %d\n" % n)
            words = obs.stdout.readline().split()  # observed K failed F
            f["observed"], f["observe_failed"] = int(words[1]), int(words[3])
            loadp = helper("--load", broker.port, n, rate, window)
            assert loadp.stdout.readline().strip() == "ready"
            obs.stdin.write("serve\n")
            c0, s0, t0 = cpu_s(gw.proc.pid), cpu_s(subs.pid) if subs else 0, time.monotonic()
            probes, f["sub_missed"] = probe_run(broker.port, n, window, loadp)
            words = loadp.stdout.readline().split()  # sent K in S s
            f["fg_cpu"] = (cpu_s(gw.proc.pid) - c0) / (time.monotonic() - t0) * 100
            if subs:
                f["subs_cpu"] = (cpu_s(subs.pid) - s0) / (time.monotonic() - t0) * 100
            sent, took = int(words[1]), float(words[3])
            f["sent"], f["achieved"] = sent, sent / took
            f["with_probes"] = (sent + len(probes)) / took
            obs.stdin.write("drain\n")
            if subs:
                subs.stdin.write("drain\n")
            res = json.loads(obs.stdout.readline())
            f["obs_cpu"], f["obs_drops"] = res["cpu"], res["drops"]
            seen = {}  # (index, value) -> first arrival (monotonic, kernel realtime)
            for i, v, t, kt in res["notes"]:
                seen.setdefault((i, v), (t, kt))
            lat = [seen[p[:2]][0] - p[2] for p in probes if p[:2] in seen]
            klat = [seen[p[:2]][1] - p[3] for p in probes if p[:2] in seen]
            rts = [p[4] for p in probes if p[4] is not None]
            krts = [p[5] for p in probes if p[5] is not None]
            lkrts = [p[6] for p in probes if p[6] is not None]
            f["probes"], f["lost"] = len(probes), len(probes) - len(lat)
            f["folded"] = sum(1 for k in range(sent) if (k % n, float(BASE + k)) not in seen)
            f["notifies"] = sum(1 for note in res["notes"] if note[1] != WARM_UP)
            if os.environ.get("FG_BENCH_LAT_DUMP"):  # every probe and notification, for a later look
                with open(os.environ["FG_BENCH_LAT_DUMP"], "w") as dump:
                    socks = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                                           text=True).stdout
                    json.dump({"probes": probes, "notes": res["notes"], "fg_pid": gw.proc.pid,
                               "broker_port": broker.port, "ss": socks}, dump)
            if os.environ.get("FG_BENCH_LAT_DEBUG"):  # each probe, with the notifications of its device
                for i, v, t, _, rt, _, _ in probes:
                    near = [(round(n[2] - t, 4), n[1]) for n in res["notes"] if n[0] == i and abs(n[2] - t) < 1]
                    print("probe", i, v, rt, (i, v) in seen, near, file=sys.stderr)
            f["g50"], f["g99"] = pct(lat, 50) * 1e6, pct(lat, 99) * 1e6
            f["b50"], f["b99"] = pct(rts, 50) * 1e6, pct(rts, 99) * 1e6
            f["k50"], f["k99"] = pct(klat, 50) * 1e6, pct(klat, 99) * 1e6
            f["bk50"], f["bk99"] = pct(krts, 50) * 1e6, pct(krts, 99) * 1e6
            f["lk50"], f["lk99"] = pct(lkrts, 50) * 1e6, pct(lkrts, 99) * 1e6
            # The headline: per probe, the Notify's kernel receive time minus
            # the midpoint of the kernel receive times of the subscribers the
            # broker writes just before fieldgate (the exact topic) and just
            # after it (+/sNNNNN), then the percentiles of that difference.
            adds = [seen[p[:2]][1] - p[3] - (p[5] + p[6]) / 2 for p in probes
                    if p[:2] in seen and p[5] is not None and p[6] is not None]
            f["a50"], f["a99"] = pct(adds, 50) * 1e6, pct(adds, 99) * 1e6
            if subs:  # context: the subscribers of fieldgate's own filter, just before and just after it
                same = json.loads(subs.stdout.readline())
                early, late, sadds = [], [], []
                for p in probes:
                    key = "%d %r" % (p[0], p[1])
                    e, lt = same["stamps"]["early"].get(key), same["stamps"]["late"].get(key)
                    if e is None or lt is None:
                        continue
                    early.append(e - p[3])
                    late.append(lt - p[3])
                    if p[:2] in seen:
                        sadds.append(seen[p[:2]][1] - (e + lt) / 2)
                f["same_missed"], f["same_queued"] = len(probes) - len(early), same["queued"]
                f["e50"], f["e99"] = pct(early, 50) * 1e6, pct(early, 99) * 1e6
                f["s50"], f["s99"] = pct(late, 50) * 1e6, pct(late, 99) * 1e6
                f["sa50"], f["sa99"] = pct(sadds, 50) * 1e6, pct(sadds, 99) * 1e6
            # Stop fieldgate while the observer (idle: answering) takes its De-register.
            gw.proc.send_signal(signal.SIGTERM)
            gw.proc.wait(20)
    finally:
        for p in (loadp, subs, obs):
            if p:
                p.stdin.close()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if gw:
            gw.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return f


def main():
    if sys.argv[1:2] == ["--observer"]:
        return observer()
    if sys.argv[1:2] == ["--subs"]:
        return subscribers(int(sys.argv[2]))
    if sys.argv[1:2] == ["--load"]:
        return load(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    f = measure(os.path.abspath(sys.argv[1]))
    print("Notify latency under load: gateway mode, %d devices x 1 observed resource (/3303/0/5700),"
          % f["n"])
    print("  load %.0f updates/s for %.0f s, round robin; %d probes on %d of the resources"
          % (f["rate"], f["window"], f["probes"], PROBES))
    print("  load achieved: %.0f updates/s (%d sent), %.0f/s with the probes" % (f["achieved"], f["sent"],
                                                                               f["with_probes"]))
    print("  %-44s %12s %12s" % ("", "p50 (us)", "p99 (us)"))
    print("  %-44s %12.0f %12.0f" % ("probe publish -> Notify at the observer", f["g50"], f["g99"]))
    print("  %-44s %12.0f %12.0f" % ("the same, when the observer's kernel had it", f["k50"], f["k99"]))
    print("  %-44s %12.0f %12.0f" % ("probe broker round trip (same probes)", f["b50"], f["b99"]))
    print("  %-44s %12.0f %12.0f" % ("the same, when the subscriber's kernel had it", f["bk50"], f["bk99"]))
    print("  %-44s %12.0f %12.0f" % ("the same, subscriber served after fieldgate", f["lk50"], f["lk99"]))
    if "e50" in f:
        print("  %-44s %12.0f %12.0f" % ("same filter as fieldgate, served before it", f["e50"], f["e99"]))
        print("  %-44s %12.0f %12.0f" % ("same filter as fieldgate, served after it", f["s50"], f["s99"]))
    print("  FIELDGATE ADDS (per probe: Notify's kernel time minus the midpoint of the kernel times of the")
    print("  subscribers served just before and just after fieldgate; then the percentile): p50 %.0f us, p99 %.0f us"
          " (target 100 / 1,000 us)" % (f["a50"], f["a99"]))
    if "sa50" in f:
        print("  the same over the midpoint of the same-filter subscribers: p50 %.0f us, p99 %.0f us"
              % (f["sa50"], f["sa99"]))
    print("  context, differences of percentiles:")
    print("  fieldgate adds, Python-side: p50 %.0f us, p99 %.0f us"
          % (f["g50"] - f["b50"], f["g99"] - f["b99"]))
    print("  fieldgate adds, kernel receive times at both ends: p50 %.0f us, p99 %.0f us"
          % (f["k50"] - f["bk50"], f["k99"] - f["bk99"]))
    print("  fieldgate adds, kernel times, over the subscriber served after it: p50 %.0f us, p99 %.0f us"
          % (f["k50"] - f["lk50"], f["k99"] - f["lk99"]))
    print("  CPU in the window: fieldgate %.1f %% of a core, the observer %.1f %%" % (f["fg_cpu"], f["obs_cpu"])
          + (", the same-filter subscribers %.1f %%" % f["subs_cpu"] if "subs_cpu" in f else ""))
    print("  notifications: %d; Observes %d, failed %d" % (f["notifies"], f["observed"], f["observe_failed"]))
    print("  lost notifications (a probe without its Notify): %d" % f["lost"])
    print("  datagrams the observer's socket dropped (SO_RXQ_OVFL; not fieldgate's): %d" % f["obs_drops"])
    print("  folded updates (a load update whose value came in no Notify; no pmin set): %d" % f["folded"])
    print("  probes the broker subscribers did not get: %d" % f["sub_missed"])
    if "same_queued" in f:
        print("  probes the same-filter subscribers did not get: %d; probe frames they found more data queued"
              " behind (their time may be a later segment's): %d of %d"
              % (f["same_missed"], f["same_queued"], 2 * (f["probes"] - f["same_missed"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
