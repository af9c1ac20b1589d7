# SPDX-License-Identifier: Apache-2.0
"""Package pulls (gateway/pkg) against real servers on loopback: a Python
HTTP server written here (Range, a truncated body, a body without length,
a server that stalls, redirects, 404), libcoap's coap-server (Block2) and
coap-server-openssl (coaps: PSK and certificates made here with openssl).
Driven through `fieldgate fetch` and through gw_pkg_pull_start() on an
sd-event loop (pkg-pull-tool). Exit codes are gw_pkg_result values."""
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "gateway"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lwm2m-server"))
import unittest_main  # noqa: E402
from test_devices import make_pki  # noqa: E402
from coapsrv import CoapsServer  # noqa: E402
from rawcoap import ACK, O_BLOCK2, block, block_opt, code, decode, encode, uri_path  # noqa: E402

O_ETAG = 4

FIELDGATE = os.path.abspath(sys.argv.pop(1))
TOOL = os.path.abspath(sys.argv.pop(1))

OK, NO_SPACE, CONN_LOST, INTEGRITY, INVALID_URI, UNSUPPORTED = 0, 2, 4, 5, 7, 9
PKG = os.urandom(300 * 1024 + 123)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ranges = []  # Range headers seen
    if_ranges = []  # If-Range headers seen, of requests with a Range
    release = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.ranges.append(self.headers.get("Range"))
        if self.headers.get("Range"):
            Handler.if_ranges.append(self.headers.get("If-Range"))
        path = self.path
        if path in ("/pkg", "/big"):
            body = PKG if path == "/pkg" else Handler.big
            start = 0
            rng = self.headers.get("Range")
            # RFC 7233 3.2: a Range for another entity is ignored (200).
            if self.headers.get("If-Range") not in (None, '"v1"'):
                rng = None
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))
            else:
                self.send_response(200)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            view = memoryview(body)[start:]
            for i in range(0, len(view), 65536):
                self.wfile.write(view[i:i + 65536])
        elif path == "/norange":
            self.send_response(200)
            self.send_header("Last-Modified", "Sun, 06 Dec 2026 12:00:00 GMT")
            self.send_header("Content-Length", str(len(PKG)))
            self.end_headers()
            self.wfile.write(PKG)
        elif path == "/trunc":
            # Announces the whole package, sends half, closes.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PKG)))
            self.end_headers()
            self.wfile.write(PKG[:len(PKG) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif path == "/stream":
            # No length: the body ends when the connection closes.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"x" * 65536)
            self.close_connection = True
        elif path == "/chunked":
            # HTTP/1.1 chunked: no length announced, 4 MiB in 64 KiB chunks.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"10000\r\n" + b"c" * 65536 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/stall":
            self.send_response(200)
            self.send_header("ETag", '"s1"')
            self.send_header("Content-Length", str(len(PKG)))
            self.end_headers()
            self.wfile.write(PKG[:1000])
            self.wfile.flush()
            Handler.release.wait(30)
            self.close_connection = True
        elif path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/pkg" if path == "/redirect-ftp" else "/pkg")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


class CoapStub:
    """A CoAP server by hand (rawcoap) for what coap-server cannot be
    told to do: /changing answers Block2 GETs of PKG with an ETag that
    changes from block 2 on (the resource replaced mid-transfer); /silent
    never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            m = decode(data)
            if uri_path(m) != ["changing"]:
                continue
            num = (block(m, O_BLOCK2) or (0, 0, 6))[0]
            chunk = PKG[num * 1024:(num + 1) * 1024]
            more = (num + 1) * 1024 < len(PKG)
            etag = b"\x01" if num < 2 else b"\x02"
            self.sock.sendto(encode(ACK, code(2, 5), m["mid"], m["token"],
                                    [(O_ETAG, etag), (O_BLOCK2, block_opt(num, more, 6))], chunk), addr)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


class Pulls:
    """What the test classes share: self.out, self.tmp set by them."""

    def tearDown(self):
        for p in (self.out, self.out + ".uri"):
            if os.path.exists(p):
                os.unlink(p)

    def fetch(self, uri, schemes="coap,http", max_size=1 << 30, timeout=10, extra=()):
        args = [FIELDGATE, "fetch", uri, "--out", self.out, "--schemes", schemes, "--max-size", str(max_size),
                "--timeout", str(timeout)] + list(extra)
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return r.returncode

    def content(self):
        with open(self.out, "rb") as f:
            return f.read()

    def assert_gone(self):
        self.assertFalse(os.path.exists(self.out))
        self.assertFalse(os.path.exists(self.out + ".uri"))

    def tool(self, uri, schemes="coap,http", max_size=1 << 30, cancel=False, extra=()):
        args = [TOOL, FIELDGATE, uri, self.out, str(max_size), "10", schemes] + (["--cancel"] if cancel else [])
        args += list(extra)
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split("\n")


class PullTest(Pulls, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Handler.big = os.urandom(50 * 1024 * 1024)
        cls.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cls.httpd.daemon_threads = True
        # A client that stops reading (over max_size, cancelled) resets
        # the connection: expected, not worth a traceback.
        cls.httpd.handle_error = lambda request, address: None
        cls.http = "http://127.0.0.1:%d" % cls.httpd.server_address[1]
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()
        cls.tmp = tempfile.mkdtemp(prefix="fg-pull-")
        cls.coap_port = free_port(socket.SOCK_DGRAM)
        cls.coapd = subprocess.Popen(["coap-server-notls", "-A", "127.0.0.1", "-p", str(cls.coap_port), "-d", "4"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.coap = "coap://127.0.0.1:%d" % cls.coap_port
        cls.stub = CoapStub()
        cls.stub_uri = "coap://127.0.0.1:%d" % cls.stub.port
        src = os.path.join(cls.tmp, "src")
        with open(src, "wb") as f:
            f.write(PKG)
        # The package onto the CoAP server, block-wise, by libcoap's client.
        deadline = time.monotonic() + 10
        while True:
            r = subprocess.run(["coap-client-notls", "-m", "put", "-b", "1024", "-f", src, cls.coap + "/pkg"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        Handler.release.set()
        cls.httpd.shutdown()
        cls.httpd.server_close()
        cls.stub.close()
        cls.coapd.terminate()
        cls.coapd.wait(10)
        shutil.rmtree(cls.tmp)

    def setUp(self):
        Handler.ranges.clear()
        Handler.if_ranges.clear()
        self.out = os.path.join(self.tmp, self.id().rsplit(".", 1)[1])

    def test_http(self):
        self.assertEqual(self.fetch(self.http + "/pkg"), OK)
        self.assertEqual(sha(self.content()), sha(PKG))
        self.assertEqual(os.stat(self.out).st_mode & 0o777, 0o600)
        self.assertFalse(os.path.exists(self.out + ".uri"))

    def test_coap(self):
        self.assertEqual(self.fetch(self.coap + "/pkg"), OK)
        self.assertEqual(sha(self.content()), sha(PKG))

    def partial(self, uri, n, validator=None):
        with open(self.out, "wb") as f:
            f.write(PKG[:n])
        with open(self.out + ".uri", "w") as f:
            f.write(uri + ("\n" + validator if validator else ""))

    def test_http_resume(self):
        self.partial(self.http + "/pkg", 100000, '"v1"')
        self.assertEqual(self.fetch(self.http + "/pkg"), OK)
        self.assertEqual(Handler.ranges, ["bytes=100000-"])
        self.assertEqual(Handler.if_ranges, ['"v1"'])
        self.assertEqual(sha(self.content()), sha(PKG))
        self.assertFalse(os.path.exists(self.out + ".uri"))

    def test_http_resume_entity_changed(self):
        # The partial file is of another version (If-Range does not
        # match): the server sends it whole (200), fetched again.
        self.partial(self.http + "/pkg", 100000, '"v0"')
        self.assertEqual(self.fetch(self.http + "/pkg"), OK)
        self.assertEqual(Handler.ranges, ["bytes=100000-", None])
        self.assertEqual(sha(self.content()), sha(PKG))

    def test_http_resume_needs_a_validator(self):
        # Nothing says which entity the partial file holds: no Range.
        self.partial(self.http + "/pkg", 100000)
        self.assertEqual(self.fetch(self.http + "/pkg"), OK)
        self.assertEqual(Handler.ranges, [None])
        self.assertEqual(sha(self.content()), sha(PKG))

    def test_http_resume_not_supported(self):
        # The server ignores Range (200): fetched whole, content exact.
        self.partial(self.http + "/norange", 100000, "Sun, 06 Dec 2026 12:00:00 GMT")
        self.assertEqual(self.fetch(self.http + "/norange"), OK)
        self.assertEqual(Handler.ranges, ["bytes=100000-", None])
        self.assertEqual(Handler.if_ranges, ["Sun, 06 Dec 2026 12:00:00 GMT"])
        self.assertEqual(sha(self.content()), sha(PKG))

    def test_resume_other_uri(self):
        # A partial file of another URI is not resumed.
        self.partial(self.http + "/other", 100000, '"v1"')
        self.assertEqual(self.fetch(self.http + "/pkg"), OK)
        self.assertEqual(Handler.ranges, [None])
        self.assertEqual(sha(self.content()), sha(PKG))

    def test_coap_resume(self):
        self.partial(self.coap + "/pkg", 100000 + 17)
        self.assertEqual(self.fetch(self.coap + "/pkg"), OK)
        self.assertEqual(sha(self.content()), sha(PKG))

    def test_bad_uri(self):
        for uri in ("http//x/pkg", "http://a b/", "http://u:p@127.0.0.1/x", "coap://[::1/x", "http://h/#f"):
            self.assertEqual(self.fetch(uri), INVALID_URI, uri)
            self.assert_gone()

    def test_scheme_not_allowed(self):
        self.assertEqual(self.fetch(self.http + "/pkg", schemes="https,coaps"), UNSUPPORTED)
        self.assertEqual(self.fetch("ftp://127.0.0.1/pkg"), UNSUPPORTED)
        self.assertEqual(self.fetch(self.coap + "/pkg", schemes="http"), UNSUPPORTED)
        self.assert_gone()
        # coaps not in update.schemes: refused before anything is sent.
        self.assertEqual(self.fetch("coaps://127.0.0.1:%d/pkg" % free_port(socket.SOCK_DGRAM), schemes="coap,https"),
                         UNSUPPORTED)
        self.assert_gone()
        self.assertIn("start -22 9", self.tool("coaps://127.0.0.1/pkg", schemes="coap,https"))

    def test_redirect(self):
        self.assertEqual(self.fetch(self.http + "/redirect"), OK)
        self.assertEqual(sha(self.content()), sha(PKG))
        os.unlink(self.out)
        self.assertEqual(self.fetch(self.http + "/redirect-ftp"), UNSUPPORTED)
        self.assert_gone()

    def test_not_found(self):
        self.assertEqual(self.fetch(self.http + "/nothing"), INVALID_URI)
        self.assert_gone()
        self.assertEqual(self.fetch(self.coap + "/nothing"), INVALID_URI)
        self.assert_gone()

    def test_unreachable(self):
        # A closed port: refused (TCP), ICMP or no answer (UDP).
        self.assertEqual(self.fetch("http://127.0.0.1:%d/pkg" % free_port()), CONN_LOST)
        self.assertEqual(self.fetch("coap://127.0.0.1:%d/pkg" % free_port(socket.SOCK_DGRAM), timeout=3),
                         CONN_LOST)
        self.assertEqual(self.fetch("http://no-such-host.invalid/pkg", timeout=5), CONN_LOST)

    def test_coap_resource_changed(self):
        # Blocks of two representations (ETag changes): not one package.
        self.assertEqual(self.fetch(self.stub_uri + "/changing"), INTEGRITY)
        self.assert_gone()

    def test_coap_timeout(self):
        t0 = time.monotonic()
        self.assertEqual(self.fetch(self.stub_uri + "/silent", timeout=2), CONN_LOST)
        self.assertLess(time.monotonic() - t0, 20)

    def test_truncated(self):
        self.assertEqual(self.fetch(self.http + "/trunc"), INTEGRITY)
        self.assert_gone()

    def test_over_max_size(self):
        # Content-Length beyond the limit: refused before the body.
        self.assertEqual(self.fetch(self.http + "/pkg", max_size=len(PKG) - 1), NO_SPACE)
        self.assert_gone()
        # No length announced: stopped when the bytes pass the limit.
        self.assertEqual(self.fetch(self.http + "/stream", max_size=1 << 20), NO_SPACE)
        self.assert_gone()
        self.assertEqual(self.fetch(self.http + "/chunked", max_size=1 << 20), NO_SPACE)
        self.assert_gone()
        self.assertEqual(self.fetch(self.http + "/chunked", max_size=4 << 20), OK)
        self.assertEqual(self.content(), b"c" * (4 << 20))
        os.unlink(self.out)
        # CoAP: Size2 beyond, or the blocks beyond.
        self.assertEqual(self.fetch(self.coap + "/pkg", max_size=len(PKG) - 1), NO_SPACE)
        self.assert_gone()
        self.assertEqual(self.fetch(self.http + "/pkg", max_size=len(PKG)), OK)

    def test_timeout(self):
        t0 = time.monotonic()
        self.assertEqual(self.fetch(self.http + "/stall", timeout=2), CONN_LOST)
        took = time.monotonic() - t0
        # Kept for a resume (by hand), with what it holds.
        self.assertEqual(self.content(), PKG[:1000])
        with open(self.out + ".uri") as f:
            self.assertEqual(f.read(), self.http + '/stall\n"s1"')
        self.assertGreaterEqual(took, 2)
        self.assertLess(took, 20)

    def test_pull_start(self):
        lines = self.tool(self.http + "/pkg")
        self.assertIn("done 0 %d" % len(PKG), lines)
        self.assertIn("progress %d %d" % (len(PKG), len(PKG)), lines)
        self.assertEqual(sha(self.content()), sha(PKG))
        os.unlink(self.out)
        lines = self.tool(self.coap + "/pkg")
        self.assertIn("done 0 %d" % len(PKG), lines)
        self.assertEqual(sha(self.content()), sha(PKG))

    def test_pull_start_failures(self):
        self.assertIn("done 7 0", self.tool(self.http + "/nothing"))
        self.assert_gone()
        self.assertIn("done 5 0", self.tool(self.http + "/trunc"))
        self.assert_gone()
        self.assertIn("done 2 0", self.tool(self.http + "/pkg", max_size=1000))
        self.assert_gone()
        self.assertIn("done 4 0", self.tool("http://127.0.0.1:%d/pkg" % free_port()))
        self.assert_gone()
        # Refused before a process starts: the result from the check.
        self.assertIn("start -22 9", self.tool(self.http + "/pkg", schemes="https"))
        self.assertIn("start -22 7", self.tool("http:/x"))

    def test_pull_cancel(self):
        lines = self.tool(self.http + "/big", cancel=True)
        self.assertIn("cancelled", lines)
        self.assertFalse(any(x.startswith("done") for x in lines))
        self.assert_gone()
        # The fetch process is gone (killed and reaped by the cancel).
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    self.assertNotIn(self.out.encode(), f.read())
            except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
                pass

    def test_memory(self):
        # A 50 MiB package through the fetch process: its peak RSS stays
        # far below the package size (the bytes go to the file as they
        # come). Measured by pkg-pull-tool (RUSAGE_CHILDREN), not here: a
        # child forked from this process would count its 50 MiB copy.
        lines = self.tool(self.http + "/big")
        self.assertIn("done 0 %d" % len(Handler.big), lines)
        rss = int([x for x in lines if x.startswith("child_maxrss ")][0].split()[1])
        print("fetch of 50 MiB over http: peak RSS %d KiB" % rss, file=sys.stderr)
        # Holding the package would take 50 MiB above the process's own
        # (12.5 MiB in all without sanitizers, 24 MiB under ASan here).
        self.assertLess(rss, len(Handler.big) * 3 // 4 // 1024)

PSK_ID, PSK_KEY = b"fg-update", b"update-secret-42"


def coaps_server(pki, name):
    """coap-server-openssl with the PSK and certificate NAME.crt serving PKG as /pkg."""
    srv = CoapsServer(PSK_KEY.decode(), os.path.join(pki, name))
    if not srv.put("pkg", PKG):
        srv.close()
        raise RuntimeError("cannot PUT the package on coap-server-openssl")
    return srv


class CoapsTest(Pulls, unittest.TestCase):
    """coaps pulls: PSK (given on fd 3, never on argv) and certificates
    (chain verified against --ca-file, name checked against the URI's
    host). A server that is not authenticated is result 4 and nothing of
    it is kept."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fg-pulls-")
        # make_pki wants a test's addCleanup and skipTest: the class's here.
        scope = types.SimpleNamespace(addCleanup=cls.addClassCleanup, skipTest=cls.skip_class)
        cls.pki = make_pki(scope, [("srv", "localhost", "DNS:localhost"),
                                   ("other", "other.example", "DNS:other.example")])
        cls.ca = os.path.join(cls.pki, "ca.crt")
        cls.good = coaps_server(cls.pki, "srv")
        cls.wrong = coaps_server(cls.pki, "other")

    @staticmethod
    def skip_class(why):
        raise unittest.SkipTest(why)

    @classmethod
    def tearDownClass(cls):
        cls.good.close()
        cls.wrong.close()
        shutil.rmtree(cls.tmp)

    def setUp(self):
        self.out = os.path.join(self.tmp, self.id().rsplit(".", 1)[1])

    def fetch_psk(self, uri, identity=PSK_ID, key=PSK_KEY, timeout=10):
        rd, wr = os.pipe()
        os.write(wr, bytes([len(identity)]) + identity + bytes([len(key)]) + key)
        os.close(wr)
        try:
            r = subprocess.run([FIELDGATE, "fetch", uri, "--out", self.out, "--schemes", "coaps", "--timeout",
                                str(timeout), "--psk-fd", str(rd)], pass_fds=(rd,),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, text=True)
        finally:
            os.close(rd)
        return r

    def test_psk(self):
        r = self.fetch_psk(self.good.uri("pkg"))
        self.assertEqual(r.returncode, OK, r.stderr)
        self.assertEqual(sha(self.content()), sha(PKG))
        self.assertFalse(os.path.exists(self.out + ".uri"))

    def test_psk_wrong(self):
        t0 = time.monotonic()
        r = self.fetch_psk(self.good.uri("pkg"), key=b"not-the-secret", timeout=3)
        self.assertEqual(r.returncode, CONN_LOST, r.stderr)
        self.assertIn("no DTLS session with 127.0.0.1 (PSK identity or key refused", r.stderr)
        self.assertLess(time.monotonic() - t0, 20)
        self.assert_gone()

    def test_certificate(self):
        self.assertEqual(self.fetch(self.good.uri("pkg", "localhost"), schemes="coaps", extra=["--ca-file", self.ca]), OK)
        self.assertEqual(sha(self.content()), sha(PKG))

    def test_certificate_other_host(self):
        # Verifies against the CA, but names other.example: refused.
        args = [FIELDGATE, "fetch", self.wrong.uri("pkg", "localhost"), "--out", self.out, "--schemes", "coaps",
                "--timeout", "5", "--ca-file", self.ca]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, text=True)
        self.assertEqual(r.returncode, CONN_LOST, r.stderr)
        self.assertIn('the server\'s certificate is for DNS:other.example, not for "localhost"', r.stderr)
        self.assert_gone()
        # The right certificate, but the URI names its address: no
        # iPAddress in it, refused too.
        self.assertEqual(self.fetch(self.good.uri("pkg", "127.0.0.1"), schemes="coaps", timeout=5,
                                    extra=["--ca-file", self.ca]), CONN_LOST)
        self.assert_gone()

    def test_certificate_untrusted(self):
        # Without --ca-file: the system's trust store, which does not
        # hold this test CA.
        self.assertEqual(self.fetch(self.good.uri("pkg", "localhost"), schemes="coaps", timeout=5), CONN_LOST)
        self.assert_gone()

    def test_not_allowed(self):
        self.assertEqual(self.fetch(self.good.uri("pkg", "localhost"), schemes="coap,https",
                                    extra=["--ca-file", self.ca]), UNSUPPORTED)
        self.assert_gone()

    def test_pull_start_psk(self):
        # Through gw_pkg_pull_start(): the PSK reaches the child on a pipe.
        lines = self.tool(self.good.uri("pkg"), schemes="coaps",
                          extra=["--psk=%s:%s" % (PSK_ID.decode(), PSK_KEY.hex())])
        self.assertIn("done 0 %d" % len(PKG), lines)
        self.assertEqual(sha(self.content()), sha(PKG))
        os.unlink(self.out)
        lines = self.tool(self.good.uri("pkg"), schemes="coaps", extra=["--psk=%s:%s" % (PSK_ID.decode(), b"x".hex())])
        self.assertIn("done 4 0", lines)
        self.assert_gone()

    def test_pull_start_psk_not_on_argv(self):
        # While the child runs (a server that never answers), its command
        # line names fd 3, not the identity nor the key.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        uri = "coaps://127.0.0.1:%d/pkg" % silent.getsockname()[1]
        tool = subprocess.Popen([TOOL, FIELDGATE, uri, self.out, str(1 << 30), "2", "coaps",
                                 "--psk=%s:%s" % (PSK_ID.decode(), PSK_KEY.hex())],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = None
        deadline = time.monotonic() + 10
        while seen is None and time.monotonic() < deadline and tool.poll() is None:
            for pid in os.listdir("/proc"):
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read()
                except (FileNotFoundError, ProcessLookupError, NotADirectoryError, PermissionError):
                    continue
                if self.out.encode() in cmd and b"fetch" in cmd:
                    seen = cmd
            time.sleep(0.05)
        out, _ = tool.communicate(timeout=30)
        self.assertIsNotNone(seen)
        self.assertIn(b"\0--psk-fd\x003", seen)
        self.assertNotIn(PSK_ID, seen)
        self.assertNotIn(PSK_KEY, seen)
        self.assertNotIn(PSK_KEY.hex().encode(), seen)
        self.assertIn("done 4 0", out.split("\n"))


if __name__ == "__main__":
    sys.exit(unittest_main.run())
