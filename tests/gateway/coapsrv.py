"""libcoap's coap-server-openssl as the server of coap and coaps pulls
(packages, bundles): plain CoAP on a port for the upload, DTLS on the port
after it for the pull, with a PSK and optionally a certificate. What is
served is PUT on it first (coap-client-notls, Block1), so a pull gets it
back byte for byte. Used by tests/gateway/test_bundles.py and
tests/pkg/test_pull.py."""

import socket
import subprocess
import tempfile
import time


def _udp_pair():
    """A free UDP port whose successor is free too."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise OSError("no two free UDP ports in a row")


class CoapsServer:
    def __init__(self, key, cert=None):
        """key: the PSK (text); cert: path without extension of a .crt/.key
        pair the server presents to clients that do not use a PSK."""
        self.port = _udp_pair()
        args = ["coap-server-openssl", "-A", "127.0.0.1", "-p", str(self.port), "-d", "4", "-k", key]
        if cert:
            args += ["-c", cert + ".crt", "-j", cert + ".key", "-n"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def put(self, name, data, timeout=10):
        """Serve data as /name; False when the server never took it."""
        with tempfile.NamedTemporaryFile(prefix="fg-coapsrv-") as f:
            f.write(data)
            f.flush()
            deadline = time.monotonic() + timeout
            while subprocess.run(["coap-client-notls", "-m", "put", "-b", "1024", "-f", f.name,
                                  "coap://127.0.0.1:%d/%s" % (self.port, name)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30).returncode:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
        return True

    def uri(self, name, host="127.0.0.1"):
        return "coaps://%s:%d/%s" % (host, self.port + 1, name)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
