#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A pymodbus 3.0 Modbus TCP server (Debian's python3-pymodbus) serving a
SunSpec register image: holding registers from an image file of
`holding:ADDR=HEX` lines (tests/data/modbus/sunspec/inverter.regs), sparse,
so that a read of a register the image does not have is answered with
exception 02 (illegal data address), as a device without registers there
does. Driven over stdin/stdout like pymb_server.py:

    sunspec_server.py PORT UNIT IMAGE [SHIFT]   SHIFT moves the image (0: "SunS" at 40000)

Prints {"ready": true}; commands:
    {"op": "set", "addr": 40086, "values": [..]}  -> {"ok": true}
    {"op": "load", "image": PATH, "shift": 10000}  -> {"ok": true}: registers appear
    {"op": "reads"}  -> {"reads": [[addr, count], ...]}
"""
import json
import re
import socket
import sys
import threading
import time

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server import StartTcpServer

READS = []
LOCK = threading.Lock()


class Recording(ModbusSlaveContext):
    def getValues(self, fc_as_hex, address, count=1):  # noqa: N802 (pymodbus's name)
        with LOCK:
            READS.append([address, count])
        return super().getValues(fc_as_hex, address, count)


def load(path, shift):
    regs = {}
    for line in open(path):
        m = re.match(r"holding:(\d+)=(.*)", line)
        if m:
            a = int(m.group(1)) + shift
            for i, w in enumerate(m.group(2).split()):
                regs[a + i] = int(w, 16)
    return regs


def main():
    port, unit, image = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    shift = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    hr = ModbusSparseDataBlock(load(image, shift))
    slave = Recording(hr=hr, ir=ModbusSparseDataBlock({0: 0}), co=ModbusSparseDataBlock({0: 0}),
                      di=ModbusSparseDataBlock({0: 0}), zero_mode=True)
    context = ModbusServerContext(slaves={unit: slave}, single=False)
    threading.Thread(target=lambda: StartTcpServer(context=context, address=("127.0.0.1", port)),
                     daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "set":
            slave.setValues(3, cmd["addr"], cmd["values"])
            out = {"ok": True}
        elif cmd["op"] == "load":
            for addr, value in load(cmd["image"], cmd.get("shift", 0)).items():
                slave.setValues(3, addr, [value])
            out = {"ok": True}
        elif cmd["op"] == "reads":
            with LOCK:
                out = {"reads": list(READS)}
        else:
            out = {"error": "unknown op"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
