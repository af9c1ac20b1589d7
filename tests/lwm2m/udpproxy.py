# SPDX-License-Identifier: Apache-2.0
"""A UDP proxy on 127.0.0.1 that drops, duplicates, delays and so reorders
datagrams, between LwM2M clients and a server (issue 15 tests).

    with UdpProxy(server_port, drop=0.1, dup=0.1, delay_ms=(0, 150), seed=7) as p:
        client uses coap://127.0.0.1:<p.port>

Each client address gets its own upstream socket, so the server still sees
one source port per client endpoint (what it keys registrations on).
Impairments apply to both directions, or per direction with up={...} and
down={...} (keys drop, dup, delay_ms). .stats counts what was done.
drop_if=fn(direction, data, client_addr) drops the datagrams it returns
true for (called in the proxy's thread, in arrival order).
"""
import heapq
import random
import select
import socket
import threading
import time


class UdpProxy:
    def __init__(self, server_port, drop=0.0, dup=0.0, delay_ms=(0, 0), seed=1, up=None, down=None,
                 host="127.0.0.1", drop_if=None):
        base = dict(drop=drop, dup=dup, delay_ms=delay_ms)
        self.up = dict(base, **(up or {}))      # client -> server
        self.down = dict(base, **(down or {}))  # server -> client
        self.server = (host, server_port)
        self.rng = random.Random(seed)
        self.drop_if = drop_if
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.listen.bind((host, 0))
        self.port = self.listen.getsockname()[1]
        self.clients = {}   # client addr -> upstream socket
        self.upstream = {}  # upstream socket fileno -> client addr
        self.queue = []     # (due, seq, sock, data, addr)
        self.seq = 0
        self.stats = {"up": 0, "down": 0, "dropped": 0, "duplicated": 0, "delayed": 0}
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        for s in list(self.clients.values()) + [self.listen]:
            s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def set(self, direction, **kw):
        """Change the impairments of "up", "down" or "both" while running."""
        with self.lock:
            for d in ((self.up, self.down) if direction == "both" else (getattr(self, direction),)):
                d.update(kw)

    def _schedule(self, how, sock, data, addr, direction, client):
        with self.lock:
            self.stats[direction] += 1
            if (self.drop_if and self.drop_if(direction, data, client)) or self.rng.random() < how["drop"]:
                self.stats["dropped"] += 1
                return
            copies = 2 if self.rng.random() < how["dup"] else 1
            self.stats["duplicated"] += copies - 1
            lo, hi = how["delay_ms"]
            for _ in range(copies):
                d = self.rng.uniform(lo, hi) / 1000.0
                self.stats["delayed"] += d > 0
                self.seq += 1
                heapq.heappush(self.queue, (time.monotonic() + d, self.seq, sock, data, addr))

    def _upstream(self, addr):
        s = self.clients.get(addr)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((self.listen.getsockname()[0], 0))
            s.connect(self.server)
            self.clients[addr] = s
            self.upstream[s.fileno()] = addr
        return s

    def run(self):
        while not self.stopping:
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _, _, sock, data, addr = heapq.heappop(self.queue)
                try:
                    if addr is None:
                        sock.send(data)
                    else:
                        sock.sendto(data, addr)
                except OSError:
                    pass  # the server is down: as on a real path, the datagram is gone
            timeout = 0.05 if not self.queue else max(0.0, min(0.05, self.queue[0][0] - now))
            socks = [self.listen] + list(self.clients.values())
            r, _, _ = select.select(socks, [], [], timeout)
            for s in r:
                try:
                    if s is self.listen:
                        data, addr = s.recvfrom(65536)
                        self._schedule(self.up, self._upstream(addr), data, None, "up", addr)
                    else:
                        data = s.recv(65536)
                        client = self.upstream[s.fileno()]
                        self._schedule(self.down, self.listen, data, client, "down", client)
                except OSError:
                    continue  # ICMP from a closed port
