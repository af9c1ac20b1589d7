#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of fuzz_coap_seq (tests/fuzz/corpus/coap_seq/):
sequences of datagrams a server sends to an endpoint, each a 16-bit
big-endian length then the datagram; length 0xFFFF lets the unfinished
block-wise transfers expire (see fuzz_coap_seq.c). Run it again after
changing a sequence; findings of the fuzzer are kept beside these seeds
(crash-*, finding-*) and are not written here.

    /usr/bin/python3 tests/fuzz/gen_coap_seq.py
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lwm2m-server"))
from rawcoap import (  # noqa: E402
    CON, DELETE, FETCH, GET, IPATCH, NON, O_ACCEPT, O_BLOCK1, O_BLOCK2, O_CT, O_OBSERVE, O_RTAG,
    O_SIZE1, O_URI_PATH, O_URI_QUERY, POST, PUT, RST, block_opt, encode, uint_opt)

WAIT = b"\xff\xff"
TEXT, OPAQUE, SENML_JSON, SENML_CBOR = 0, 42, 110, 112


class Seq:
    def __init__(self):
        self.out = b""
        self.mid = 0x100

    def dgram(self, mcode, path="", options=(), payload=b"", token=b"\x01\x02", mtype=CON):
        self.mid += 1
        o = [(O_URI_PATH, p.encode()) for p in path.strip("/").split("/") if p] + list(options)
        d = encode(mtype, mcode, self.mid, token, o, payload)
        self.out += struct.pack(">H", len(d)) + d
        return self

    def raw(self, d):
        self.out += struct.pack(">H", len(d)) + d
        return self

    def wait(self):
        self.out += WAIT
        return self

    def blocks(self, mcode, path, body, options=(), szx=6, token=b"\x07", size1=False, last=None):
        size = 1 << (szx + 4)
        n = max(1, (len(body) + size - 1) // size)
        for num in range(n if last is None else last):
            o = list(options) + [(O_BLOCK1, block_opt(num, (num + 1) * size < len(body), szx))]
            if size1 and num == 0:
                o.append((O_SIZE1, uint_opt(len(body))))
            self.dgram(mcode, path, o, body[num * size:(num + 1) * size], token)
        return self


def ct(n):
    return (O_CT, uint_opt(n))


def b1(num, more, szx=6):
    return (O_BLOCK1, block_opt(num, more, szx))


def seeds():
    text = [ct(TEXT)]
    opaque = [ct(OPAQUE)]
    pkg = bytes(i % 251 for i in range(5000))
    # Streamed Writes (ops->write_stream, /5/0/0): in order, then a gap,
    # a repeat, a restart, one datagram, the op's -ENOSYS and -EFBIG.
    yield "stream-in-order", Seq().blocks(PUT, "/5/0/0", pkg, opaque)
    yield "stream-gap-repeat-restart", (Seq()
        .dgram(PUT, "/5/0/0", opaque + [b1(0, True)], pkg[:1024])
        .dgram(PUT, "/5/0/0", opaque + [b1(1, True)], pkg[1024:2048])
        .dgram(PUT, "/5/0/0", opaque + [b1(1, True)], pkg[1024:2048])
        .dgram(PUT, "/5/0/0", opaque + [b1(0, True)], pkg[:1024])
        .dgram(PUT, "/5/0/0", opaque + [b1(3, True)], pkg[:1024])
        .dgram(PUT, "/5/0/0", opaque, b"one datagram")
        .dgram(PUT, "/5/0/3", opaque + [b1(0, True)], pkg[:1024]))
    yield "stream-nosys-efbig-expire", (Seq()
        .blocks(PUT, "/5/0/0", b"nosys" + pkg, opaque)
        .blocks(PUT, "/5/0/0", pkg * 4, opaque)
        .dgram(PUT, "/5/0/0", opaque + [b1(0, True)], pkg[:1024])
        .wait()
        .dgram(PUT, "/5/0/0", opaque + [b1(1, False)], pkg[:10]))
    big = bytes(0x61 + i % 26 for i in range(2500))
    names = b"[" + b",".join(b'{"n":"/3303/0/5700"}' for _ in range(53)) + b"]"
    yield "crash-issue11-write", (Seq()
        .dgram(PUT, "/1/0", text + [b1(0, True)], b"1" * 1024, b"\xc0\xff\xee")
        .dgram(PUT, "/1/0", text + [b1(1, False)], b"2" * 10, b"\xc0\xff\xee")
        .dgram(PUT, "/1/0", text + [b1(1, False)], b"2" * 10, b"\xc0\xff\xee"))
    yield "crash-issue11-fetch-nested", (Seq()
        .blocks(FETCH, "/", b"[" * 2500 + b"]" * 500, [ct(SENML_JSON)], token=b"\x0f\xe7")
        .dgram(FETCH, "/", [ct(SENML_JSON), b1(2, False)], b"]" * 952, b"\x0f\xe7"))
    yield "write-3-blocks-then-read", (Seq()
        .blocks(PUT, "/3303/0/5750", big, text)
        .dgram(GET, "/3303/0/5750", token=b"\x09")
        .dgram(GET, "/3303/0/5750", [(O_BLOCK2, block_opt(1, False, 6))], token=b"\x0a"))
    yield "write-size1-device", Seq().blocks(PUT, "/dev0/3303/0/5750", big, text, size1=True)
    yield "fetch-composite-block2", (Seq()
        .blocks(FETCH, "/", names, [ct(SENML_JSON)])
        .dgram(FETCH, "/", [ct(SENML_JSON), (O_BLOCK2, block_opt(1, False, 6))], names))
    yield "observe-composite-blockwise", (Seq()
        .blocks(FETCH, "/", names, [ct(SENML_JSON), (O_OBSERVE, b"")], token=b"\x0b")
        .dgram(FETCH, "/", [ct(SENML_JSON), (O_OBSERVE, b"\x01")], names[:40] + b"]", b"\x0b"))
    yield "expire-then-continue", (Seq()
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True)], b"e" * 1024)
        .wait()
        .dgram(PUT, "/3303/0/5750", text + [b1(1, False)], b"f"))
    yield "gap-retransmit-szx", (Seq()
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True)], b"0" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(2, True)], b"2" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True)], b"0" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(2, True, 5)], b"h" * 512)
        .dgram(PUT, "/3303/0/5750", text + [b1(3, False, 5)], b"i" * 7))
    yield "get-delete-with-block1", (Seq()
        .dgram(GET, "/3/0/0", [b1(0, True)], b"x" * 1024)
        .dgram(DELETE, "/3303/0", [b1(0, False)]))
    yield "over-the-bounds", (Seq()
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"\x01")], b"a" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"\x02")], b"b" * 1024)
        .dgram(PUT, "/3/0/14", text + [b1(0, True)], b"c" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(1, True), (O_RTAG, b"\x01")], b"a" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_SIZE1, uint_opt(19 << 20))], b"d" * 1024)
        .blocks(PUT, "/3/0/15", b"g" * 6000, text))
    yield "execute-create-ipatch", (Seq()
        .blocks(POST, "/3/0/4", b"0='" + b"x" * 1500 + b"'", text)
        .blocks(POST, "/3303", b'[{"bn":"/3303/1/","n":"5750","vs":"' + b"y" * 1200 + b'"}]', [ct(SENML_JSON)])
        .blocks(IPATCH, "/", b'[{"n":"/3303/0/5750","vs":"' + b"z" * 1200 + b'"}]', [ct(SENML_JSON)]))
    yield "format-change-and-query", (Seq()
        .blocks(PUT, "/3303/0/5750", big, text, last=1)
        .blocks(FETCH, "/", names, [ct(SENML_JSON)])
        .dgram(PUT, "/3303/0", [(O_URI_QUERY, b"pmin=1"), b1(0, False)]))
    yield "observe-read-cancel", (Seq()
        .dgram(GET, "/3303/0/5700", [(O_OBSERVE, b"")], token=b"\x0c")
        .dgram(PUT, "/3303/0/5700", text + [b1(0, False)], b"23.5")
        .dgram(GET, "/3303/0/5700", [(O_OBSERVE, b"\x01")], token=b"\x0c"))
    yield "request-tag-lengths", (Seq()
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"")], b"r" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"12345678")], b"s" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"123456789")], b"t" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(1, False), (O_RTAG, b"12345678")], b"u"))
    yield "request-tags-renew", (Seq()
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"\x01")], b"a" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"\x02")], b"b" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(1, False), (O_RTAG, b"\x01")], b"!")
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"\x03")], b"c" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True), (O_RTAG, b"\x04")], b"d" * 1024)
        .dgram(PUT, "/3303/0/5750", text + [b1(1, False), (O_RTAG, b"\x02")], b"?")
        .dgram(GET, "/3303/0/5750"))
    yield "non-rst-empty", (Seq()
        .dgram(PUT, "/3303/0/5750", text + [b1(0, True)], b"n" * 1024, mtype=NON)
        .raw(encode(CON, 0, 0x4242))
        .raw(encode(RST, 0, 0x4243))
        .dgram(PUT, "/3303/0/5750", text + [b1(1, False)], b"n", mtype=NON)
        .dgram(GET, "/3/0", [(O_ACCEPT, uint_opt(SENML_CBOR))]))


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "coap_seq")
    os.makedirs(d, exist_ok=True)
    for name, seq in seeds():
        with open(os.path.join(d, name), "wb") as f:
            f.write(seq.out)


if __name__ == "__main__":
    main()
