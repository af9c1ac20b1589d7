#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A pymodbus 3.0 server (Debian's python3-pymodbus: a Modbus
implementation nobody here wrote) driven by the tests over stdin/stdout,
one JSON object per line.

    pymb_server.py tcp PORT UNITS          e.g. tcp 15020 1,2
    pymb_server.py rtu DEVICE BAUD UNITS   (ModbusRtuFramer, 8N1)

Prints {"ready": true} once serving. Commands (answers are one line each):
    {"op": "set", "unit": 1, "table": "holding", "addr": 0, "values": [..]}  -> {"ok": true}
    {"op": "get", "unit": 1, "table": "holding", "addr": 0, "count": 2}      -> {"values": [..]}
    {"op": "reads"}  -> {"reads": [[unit, fc, addr, count, ts_ms], ...]}: every read request so far
    {"op": "fault", "unit": 2, "kind": "exception", "code": 4}              -> {"ok": true}
        from now on every answer to that unit is spoiled: "exception" (that
        exception code instead of the answer), "crc" (RTU: a wrong CRC),
        "tid" (TCP: the transaction id of the request plus one); "none" heals.
Zero-based addressing; 1000 entries per table, all 0 at start.
"""
import json
import socket
import struct
import sys
import threading
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.pdu import ExceptionResponse
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

FC = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
READS = []
LOCK = threading.Lock()
FAULTS = {}  # unit -> {"kind": ..., "code": ...}; set by the command loop, read by the server thread


def spoiling(framer):
    """pymodbus's own framer, whose answers to a faulty unit are spoiled
    after pymodbus built them."""

    class Spoiling(framer):
        def buildPacket(self, message):  # noqa: N802 (pymodbus's name)
            f = FAULTS.get(message.unit_id)
            kind = f["kind"] if f else "none"
            if kind == "exception":
                exc = ExceptionResponse(message.function_code & 0x7F, f["code"], unit=message.unit_id,
                                        transaction=message.transaction_id, protocol=message.protocol_id)
                message = exc
            packet = super().buildPacket(message)
            if kind == "crc":
                packet = packet[:-2] + bytes([packet[-2] ^ 0xFF, packet[-1]])
            elif kind == "tid":
                packet = struct.pack(">H", (message.transaction_id + 1) & 0xFFFF) + packet[2:]
            return packet

    return Spoiling


class Counting(ModbusSlaveContext):
    def __init__(self, unit):
        self.unit = unit
        super().__init__(di=ModbusSequentialDataBlock(0, [0] * 1000), co=ModbusSequentialDataBlock(0, [0] * 1000),
                         hr=ModbusSequentialDataBlock(0, [0] * 1000), ir=ModbusSequentialDataBlock(0, [0] * 1000),
                         zero_mode=True)

    def getValues(self, fc_as_hex, address, count=1):  # noqa: N802 (pymodbus's name)
        if fc_as_hex in (1, 2, 3, 4):
            with LOCK:
                READS.append([self.unit, fc_as_hex, address, count, time.monotonic() * 1000])
        return super().getValues(fc_as_hex, address, count)


def main():
    mode = sys.argv[1]
    units = [int(u) for u in sys.argv[-1].split(",")]
    slaves = {u: Counting(u) for u in units}
    context = ModbusServerContext(slaves=slaves, single=False)
    if mode == "tcp":
        port = int(sys.argv[2])
        t = threading.Thread(target=lambda: StartTcpServer(context=context, address=("127.0.0.1", port),
                                                           framer=spoiling(ModbusSocketFramer)),
                             daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
    else:
        t = threading.Thread(target=lambda: StartSerialServer(context=context, framer=spoiling(ModbusRtuFramer),
                                                              port=sys.argv[2], baudrate=int(sys.argv[3]),
                                                              bytesize=8, parity="N", stopbits=1, timeout=0.05),
                             daemon=True)
        t.start()
        time.sleep(0.5)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "set":
            slaves[cmd["unit"]].setValues(FC[cmd["table"]], cmd["addr"], cmd["values"])
            out = {"ok": True}
        elif cmd["op"] == "get":
            out = {"values": [int(v) for v in slaves[cmd["unit"]].store[cmd["table"][0] if cmd["table"] != "coil"
                                                                          else "c"].getValues(
                cmd["addr"], cmd["count"])]}
        elif cmd["op"] == "fault":
            if cmd["kind"] == "none":
                FAULTS.pop(cmd["unit"], None)
            else:
                FAULTS[cmd["unit"]] = {"kind": cmd["kind"], "code": cmd.get("code", 4)}
            out = {"ok": True}
        elif cmd["op"] == "reads":
            with LOCK:
                out = {"reads": list(READS)}
        else:
            out = {"error": "unknown op"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
