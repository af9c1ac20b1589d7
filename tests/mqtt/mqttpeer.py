# SPDX-License-Identifier: Apache-2.0
"""A real mosquitto broker for the MQTT bridge's tests, on a random free
loopback port, with its own generated configuration (persistence and a TLS
listener when asked), plus mosquitto_pub / mosquitto_sub helpers and a test
CA made with openssl.

    with Broker(tmpdir) as b:          # mosquitto on 127.0.0.1:<b.port>
        b.pub("zigbee2mqtt/th1", '{"temperature":21.5}', qos=1, retain=True)
        sub = b.sub("zigbee2mqtt/plug1/set")   # mosquitto_sub, subscribed
        ...
        sub.wait(1)  -> ['zigbee2mqtt/plug1/set {"state":"OFF"}']
"""
import os
import socket
import subprocess
import threading
import time

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on port %d" % port)


class Sub:
    """mosquitto_sub in the background, its lines ("topic payload") collected
    by a thread. Ready once a probe message on its own probe topic came
    back: no sleeping and hoping that the SUBSCRIBE went through."""

    def __init__(self, args, topic, probe):
        self.probe = probe
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(args + ["-t", topic, "-t", probe, "-v"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def messages(self):
        with self.cond:
            return [l for l in self.lines if not l.startswith(self.probe + " ")]

    def wait(self, count=1, timeout=15):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("mosquitto_sub: %d messages expected within %s s, got %r"
                                         % (count, timeout, self.messages()))
                self.cond.wait(left)
            return self.messages()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()


class Broker:
    def __init__(self, tmp, persistence=False, tls=None, client_certs=False, users=None, acl=None):
        """tls: (ca, cert, key) paths: the listener is TLS only; client_certs:
        clients must present a certificate of that CA; users: {name: password}
        (anonymous clients are then refused); acl: lines of a mosquitto
        acl_file ("topic read zigbee2mqtt/#")."""
        self.tmp = tmp
        self.port = free_port()
        self.persistence = persistence
        self.tls = tls
        self.proc = None
        self.subs = []
        self.conf = os.path.join(tmp, "mosquitto-%d.conf" % self.port)
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous %s" % ("false" if users else "true"),
                 "max_queued_messages 10000"]
        if os.geteuid() == 0:
            # Run as root, mosquitto would drop to the mosquitto user, who
            # cannot read the test's private temp dir (keys, persistence).
            lines.append("user root")
        if persistence:
            lines += ["persistence true", "persistence_location %s/" % tmp, "autosave_interval 1"]
        if tls:
            lines += ["cafile " + tls[0], "certfile " + tls[1], "keyfile " + tls[2]]
        if client_certs:
            lines.append("require_certificate true")
        if users:
            pw = os.path.join(tmp, "passwd-%d" % self.port)
            open(pw, "w").close()
            for u, p in users.items():
                subprocess.run(["mosquitto_passwd", "-b", pw, u, p], check=True, capture_output=True)
            lines.append("password_file " + pw)
        if acl:
            path = os.path.join(tmp, "acl-%d" % self.port)
            with open(path, "w") as f:
                f.write("\n".join(acl) + "\n")
            lines.append("acl_file " + path)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(tmp, "mosquitto-%d.log" % self.port), "a")

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=self.log, stderr=self.log)
        wait_port(self.port)
        return self

    def stop(self, sig_kill=False):
        if self.proc and self.proc.poll() is None:
            if sig_kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self):
        for s in self.subs:
            s.stop()
        self.stop(sig_kill=True)
        self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _args(self, prog):
        a = [prog, "-h", "127.0.0.1", "-p", str(self.port)]
        if getattr(self, "auth", None):  # (user, password) of the test's own clients
            a += ["-u", self.auth[0], "-P", self.auth[1]]
        if self.tls:
            a += ["--cafile", self.tls[0]]
        return a

    def pub(self, topic, payload, qos=0, retain=False):
        a = self._args("mosquitto_pub") + ["-t", topic, "-q", str(qos)]
        if retain:
            a.append("-r")
        if isinstance(payload, bytes):
            a += ["-s"]
            r = subprocess.run(a, input=payload, capture_output=True, timeout=20)
        else:
            a += ["-m", payload]
            r = subprocess.run(a, capture_output=True, timeout=20)
        if r.returncode != 0:
            raise AssertionError("mosquitto_pub failed: %r" % r.stderr)

    def sub(self, topic):
        """mosquitto_sub on topic, returned once it is subscribed."""
        self.nprobe = getattr(self, "nprobe", 0) + 1
        probe = "fgtest/probe/%d" % self.nprobe
        s = Sub(self._args("mosquitto_sub"), topic, probe)
        self.subs.append(s)
        deadline = time.monotonic() + 10
        while True:
            self.pub(probe, "x")
            with s.cond:
                if s.cond.wait_for(lambda: any(l.startswith(probe + " ") for l in s.lines), 0.2):
                    return s
            if time.monotonic() > deadline:
                raise AssertionError("mosquitto_sub did not subscribe")


def make_ca(tmp, names=("localhost",), ips=("127.0.0.1",)):
    """A test CA and a server certificate for names/ips: (ca, cert, key)."""
    ca_key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, csr, cert = os.path.join(tmp, "srv.key"), os.path.join(tmp, "srv.csr"), os.path.join(tmp, "srv.pem")
    ext = os.path.join(tmp, "ext.cnf")
    san = ",".join(["DNS:" + n for n in names] + ["IP:" + i for i in ips])
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=fieldgate test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=" + names[0])
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext)
    return ca, cert, key


def make_client_cert(tmp, name="fieldgate-gw"):
    """A client certificate of make_ca's CA in tmp: (cert, key)."""
    ca_key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, csr, cert = os.path.join(tmp, "cli.key"), os.path.join(tmp, "cli.csr"), os.path.join(tmp, "cli.pem")
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", "/CN=" + name], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", cert, "-days", "2"], check=True, capture_output=True)
    return cert, key
