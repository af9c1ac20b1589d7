# SPDX-License-Identifier: Apache-2.0
"""CoAP datagrams by hand (RFC 7252 framing over UDP), for tests that must
say exactly what goes on the wire: message types, codes, options by number,
Block1/Block2 values, tokens and message ids. Used by the test server's
self-test (a raw client), the lwm2m client's Block1 tests (a raw server) and
the generator of the CoAP sequence fuzz seeds."""
import struct

CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE, FETCH, PATCH, IPATCH = 1, 2, 3, 4, 5, 6, 7
O_OBSERVE, O_LOC_PATH, O_URI_PATH, O_CT, O_MAX_AGE, O_URI_QUERY, O_ACCEPT = 6, 8, 11, 12, 14, 15, 17
O_BLOCK2, O_BLOCK1, O_SIZE2, O_SIZE1, O_RTAG = 23, 27, 28, 60, 292


def code(c, d):
    return c << 5 | d


def code_str(c):
    return f"{c >> 5}.{c & 31:02d}"


def uint_opt(v):
    if v == 0:
        return b""
    n = (v.bit_length() + 7) // 8
    return v.to_bytes(n, "big")


def block_opt(num, more, szx):
    """A Block1/Block2 option value (RFC 7959 §2.2)."""
    return uint_opt(num << 4 | (1 if more else 0) << 3 | szx)


def encode(mtype, mcode, mid, token=b"", options=(), payload=b""):
    out = bytearray([0x40 | mtype << 4 | len(token), mcode]) + struct.pack(">H", mid) + token
    last = 0
    for num, val in sorted(options, key=lambda o: o[0]):
        delta, length = num - last, len(val)
        last = num

        def nib(x):
            if x < 13:
                return x, b""
            if x < 269:
                return 13, bytes([x - 13])
            return 14, struct.pack(">H", x - 269)
        dn, dx = nib(delta)
        ln, lx = nib(length)
        out += bytes([dn << 4 | ln]) + dx + lx + val
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def decode(data):
    if len(data) < 4 or data[0] >> 6 != 1:
        raise ValueError("not CoAP")
    tkl = data[0] & 15
    m = {"type": data[0] >> 4 & 3, "code": data[1], "mid": struct.unpack(">H", data[2:4])[0],
         "token": data[4:4 + tkl], "options": [], "payload": b""}
    i, num = 4 + tkl, 0
    while i < len(data):
        if data[i] == 0xFF:
            m["payload"] = data[i + 1:]
            break
        dn, ln = data[i] >> 4, data[i] & 15
        i += 1
        vals = []
        for n in (dn, ln):
            if n == 13:
                vals.append(data[i] + 13)
                i += 1
            elif n == 14:
                vals.append(struct.unpack(">H", data[i:i + 2])[0] + 269)
                i += 2
            else:
                vals.append(n)
        num += vals[0]
        m["options"].append((num, data[i:i + vals[1]]))
        i += vals[1]
    return m


def opts(m, num):
    return [v for n, v in m["options"] if n == num]


def opt_uint(m, num):
    v = opts(m, num)
    return int.from_bytes(v[0], "big") if v else None


def block(m, num=O_BLOCK1):
    """(NUM, M, SZX) of a message's Block1 (or Block2) option, or None."""
    v = opt_uint(m, num)
    return None if v is None else (v >> 4, v >> 3 & 1, v & 7)


def uri_path(m):
    return [v.decode() for v in opts(m, O_URI_PATH)]
