# SPDX-License-Identifier: Apache-2.0
"""Drive fg-lwm2m-server (tests/lwm2m-server/main.c) from Python tests.

    from fglwm2m import Server
    with Server() as srv:                       # random free port on 127.0.0.1
        start_client(f"coap://127.0.0.1:{srv.port}")
        reg = srv.wait_event("register", ep="dev1", timeout=10)
        resp = srv.request("read", ep="dev1", path="/3/0", accept=112)
        assert resp["code"] == "2.05"
        values = {r["path"]: r["value"] for r in resp["records"]}

Server(port=0, psk=None, dtls=False, reject_versions=(), ddf_dir=None,
       expire_grace=None, args=(), binary=None, verbose=False, stderr=None,
       cert=None)
  psk: (identity, key_bytes) or a list of them; enables the DTLS listener
       (its port is .dtls_port).
  cert: (cert_pem, key_pem, ca_pem) paths: DTLS certificate mode (the
       client's certificate must chain to ca_pem).
  binary: defaults to $FG_BUILD_DIR/tests/lwm2m-server/fg-lwm2m-server.
  stderr: where the server's log goes (a file object; default: inherited).
.url / .dtls_url: "coap://127.0.0.1:<port>" / "coaps://127.0.0.1:<dtls_port>".

.request(op, timeout=30, **fields) -> the "response" event (a dict) of that
    command; raises TimeoutError when none arrives. Fields are the command's
    JSON members (ep=, path=, accept=, ct=, records=, ...); see main.c.
.send(op, **fields) -> the command id, without waiting (for .response(id)).
.responses([ids], timeout=30) -> their responses in that order, once all came.
.wait_event(kind, ep=None, timeout=10, where=None) -> the first event of that
    kind (and endpoint, and where(event) true) not taken by an earlier wait;
    raises TimeoutError. Events are kept in arrival order, so waiting after
    the fact works.
.events(kind=None) -> every event received so far (taken or not).
.kill() -> SIGKILL (a crash: nothing cancelled, nothing answered).
.registrations() -> the list of current registrations.
Every event has "ts": CLOCK_MONOTONIC in ms, the clock of time.monotonic().
"""
import json
import os
import subprocess
import threading
import time

__all__ = ["Server", "ServerError", "records_by_path"]


class ServerError(RuntimeError):
    pass


def records_by_path(resp):
    """{path: value} of a response/notify/send event's records."""
    return {r["path"]: r.get("value") for r in resp.get("records", [])}


class Server:
    def __init__(self, port=0, psk=None, dtls=False, reject_versions=(), ddf_dir=None,
                 expire_grace=None, args=(), binary=None, verbose=False, stderr=None, cert=None):
        if binary is None:
            build = os.environ.get("FG_BUILD_DIR", "build")
            binary = os.path.join(build, "tests", "lwm2m-server", "fg-lwm2m-server")
        cmd = [binary, "--port", str(port)]
        if psk:
            for ident, key in ([psk] if isinstance(psk, tuple) else psk):
                if isinstance(key, str):
                    key = key.encode()
                cmd += ["--psk", f"{ident}:{key.hex()}"]
        elif dtls:
            cmd.append("--dtls")
        if cert:
            cmd += ["--cert", cert[0], "--key", cert[1], "--ca", cert[2]]
        for v in reject_versions:
            cmd += ["--reject-version", v]
        if ddf_dir:
            cmd += ["--ddf-dir", ddf_dir]
        if expire_grace is not None:
            cmd += ["--expire-grace", str(expire_grace)]
        if verbose:
            cmd.append("--verbose")
        self.cmd = cmd + list(args)
        self.stderr = stderr
        self.proc = None
        self.port = self.dtls_port = None
        self._events = []        # every event, in order
        self._taken = set()      # indexes handed out by wait_event/request
        self._cond = threading.Condition()
        self._next_id = 1
        self._reader = None

    # ---- lifetime ---------------------------------------------------------
    def start(self, timeout=10):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, encoding="utf-8", bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ev = self.wait_event("listening", timeout=timeout)
        self.port = ev["port"]
        self.dtls_port = ev.get("dtls_port")
        return self

    @property
    def url(self):
        return f"coap://127.0.0.1:{self.port}"

    @property
    def dtls_url(self):
        return f"coaps://127.0.0.1:{self.dtls_port}" if self.dtls_port else None

    def stop(self, timeout=10):
        """Close stdin (the server exits on EOF) and return its exit code."""
        if not self.proc:
            return None
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._reader.join(timeout=timeout)
        return rc

    def kill(self):
        """SIGKILL: the server vanishes as a crashed one does, cancelling
        nothing and answering nothing; returns once it is gone."""
        if not self.proc:
            return None
        self.proc.kill()
        rc = self.proc.wait()
        self._reader.join(timeout=10)
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if rc and not exc[0]:
            raise ServerError(f"fg-lwm2m-server exited with {rc}")

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "garbage", "line": line}
            with self._cond:
                self._events.append(ev)
                self._cond.notify_all()
        with self._cond:
            self._events.append({"event": "exit"})
            self._cond.notify_all()

    # ---- commands ---------------------------------------------------------
    def send(self, op, **fields):
        """Write one command; returns its id."""
        with self._cond:
            cid = self._next_id
            self._next_id += 1
        msg = dict(fields, id=cid, op=op)
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return cid

    def response(self, cid, timeout=30):
        return self._wait(lambda e: e.get("event") == "response" and e.get("id") == cid,
                          timeout, f"response to command {cid}")

    def responses(self, cids, timeout=30):
        """The responses to the commands cids, in that order, once all
        arrived (one pass over the events, for thousands of commands)."""
        want, got = set(cids), {}
        deadline = time.monotonic() + timeout
        i = 0
        with self._cond:
            while len(got) < len(want):
                while i < len(self._events):
                    ev = self._events[i]
                    if (i not in self._taken and ev.get("event") == "response" and ev.get("id") in want
                            and ev["id"] not in got):
                        self._taken.add(i)
                        got[ev["id"]] = ev
                    i += 1
                left = deadline - time.monotonic()
                if len(got) < len(want):
                    if left <= 0:
                        raise TimeoutError(f"{len(want) - len(got)} of {len(want)} responses missing "
                                           f"after {timeout} s")
                    self._cond.wait(left)
        return [got[c] for c in cids]

    def request(self, op, timeout=30, **fields):
        if op not in ("registrations", "observations", "ping", "quit") and "timeout" not in fields:
            fields["timeout"] = timeout
        return self.response(self.send(op, **fields), timeout=timeout + 5)

    def registrations(self):
        return self.request("registrations")["registrations"]

    # ---- events -----------------------------------------------------------
    def _wait(self, match, timeout, what):
        deadline = time.monotonic() + timeout
        i = 0
        with self._cond:
            while True:
                while i < len(self._events):
                    ev = self._events[i]
                    if i not in self._taken and match(ev):
                        self._taken.add(i)
                        return ev
                    if ev.get("event") == "exit":
                        raise ServerError(f"server exited while waiting for {what}")
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s")
                self._cond.wait(left)

    def wait_event(self, kind, ep=None, timeout=10, where=None):
        def match(e):
            return (e.get("event") == kind and (ep is None or e.get("ep") == ep)
                    and (where is None or where(e)))
        return self._wait(match, timeout, f"'{kind}' event" + (f" of {ep}" if ep else ""))

    def events(self, kind=None):
        with self._cond:
            return [e for e in self._events if kind is None or e.get("event") == kind]
