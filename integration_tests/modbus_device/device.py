"""A Modbus TCP device served by PyPI pymodbus (its simulator's SimDevice).

Started with one argument, a JSON object:

    {"unit": 1,
     "registers": [{"table": "holding"|"input", "addr": A, "words": [...]}, ...],
     "values": [{"table": ..., "addr": A, "type": "float32"|"int32"|...,
                 "value": V, "word_order": "high_first"|"low_first"}, ...]}

`registers` are raw words; each of `values` is encoded into registers by
pymodbus itself (its DataType), high word first unless it says otherwise,
and laid over them. With "sunspec": {"models": [{"id": 1, "points":
{"Mn": "Maker", ...}}, {"id": 64900, "raw_len": 8}, ...], "marker": "SunS",
"end": true, "base": 40000}, holding registers from "base" (40000 unless
given) hold a SunSpec model chain whose
every model PyPI pysunspec2 lays out from the official model definitions it
ships (points not given are "not implemented"). Every other address answers
"illegal address", as a real device does for a register it lacks. With
"framer": "ascii" it speaks Modbus ASCII (pymodbus's ASCII framer: ':', hex,
LRC, CR LF) on its socket instead of Modbus TCP, as a serial device behind a
transparent link would.

Prints {"port": P} once it listens on 127.0.0.1, then answers one JSON
command a line on stdin:

    {"cmd": "get", "table": "holding", "addr": A, "count": N}  -> {"values": [...]}
    {"cmd": "writes"}  -> {"writes": [[function, addr, [words]], ...]} (since the last look)
    {"cmd": "reads"}  -> {"reads": [[function, addr, count], ...]} (answered, since the last look)
"""

import asyncio
import json
import sys

from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

TYPES = {
    "int16": DataType.INT16,
    "uint16": DataType.UINT16,
    "int32": DataType.INT32,
    "uint32": DataType.UINT32,
    "int64": DataType.INT64,
    "uint64": DataType.UINT64,
    "float32": DataType.FLOAT32,
    "float64": DataType.FLOAT64,
}

# Function codes by the table they touch.
HOLDING = {3, 6, 16, 22, 23}


def words_of(spec):
    """The words a typed value takes, encoded by pymodbus."""
    value = spec["value"]
    if not spec["type"].startswith("float"):
        value = int(value)
    data = SimData(spec["addr"], values=value, datatype=TYPES[spec["type"]])
    words = list(data.build_registers(False))
    if spec.get("word_order") == "low_first":
        words = [w for pair in zip(words[1::2], words[0::2]) for w in pair]
    return words


# SunSpec: the model chain from 40000, each model laid out by pysunspec2
# from the official model definitions it ships.
SUNSPEC_BASE = 40000


def sunspec_words(spec):
    """The words of a SunSpec chain: marker, models, end marker."""
    from sunspec2.device import Model

    marker = spec.get("marker", "SunS").encode()
    words = [int.from_bytes(marker[0:2], "big"), int.from_bytes(marker[2:4], "big")]
    for entry in spec["models"]:
        if "raw_len" in entry:
            # A model pysunspec2 does not know (a maker's own): zeros.
            words += [entry["id"], entry["raw_len"]] + [0] * entry["raw_len"]
            continue
        model = Model(model_id=entry["id"])
        length = len(model.get_mb()) // 2 - 2
        model.points["ID"].value = entry["id"]
        model.points["L"].value = length
        for name, value in entry.get("points", {}).items():
            model.points[name].value = value
        data = model.get_mb()
        words += [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if spec.get("end", True):
        words += [0xFFFF, 0]
    return words


def blocks(table, spec):
    """The table's registers as SimData runs of consecutive addresses."""
    words = {}
    if table == "holding" and "sunspec" in spec:
        base = spec["sunspec"].get("base", SUNSPEC_BASE)
        for i, w in enumerate(sunspec_words(spec["sunspec"])):
            words[base + i] = w
    for run in spec.get("registers", []):
        if run["table"] == table:
            for i, w in enumerate(run["words"]):
                words[run["addr"] + i] = w
    for value in spec.get("values", []):
        if value["table"] == table:
            for i, w in enumerate(words_of(value)):
                words[value["addr"] + i] = w
    runs = []
    for addr in sorted(words):
        if runs and runs[-1][0] + len(runs[-1][1]) == addr:
            runs[-1][1].append(words[addr])
        else:
            runs.append((addr, [words[addr]]))
    # pymodbus wants at least one entry in a block.
    if not runs:
        return [SimData(65535, values=0, datatype=DataType.INVALID)]
    return [SimData(a, values=w, datatype=DataType.REGISTERS) for a, w in runs]


async def main():
    spec = json.loads(sys.argv[1])
    memory = {}  # "holding"/"input" -> (first address, the live registers)
    writes = []
    reads = []

    async def action(function, start, address, count, registers, values):
        table = "holding" if function in HOLDING else "input"
        memory[table] = (start, registers)
        if values is not None:
            writes.append([function, address, list(values)])
        elif function in (3, 4):
            reads.append([function, address, count])
        return None

    no_bits = [SimData(65535, values=False, datatype=DataType.BITS)]
    device = SimDevice(
        id=spec.get("unit", 1),
        simdata=(no_bits, list(no_bits), blocks("holding", spec), blocks("input", spec)),
        action=action,
    )
    framer = FramerType.ASCII if spec.get("framer") == "ascii" else FramerType.SOCKET
    server = ModbusTcpServer([device], address=("127.0.0.1", 0), framer=framer)
    await server.serve_forever(background=True)
    port = server.transport.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)

    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["cmd"] == "get":
            if cmd["table"] not in memory:
                answer = {"error": "not read or written yet"}
            else:
                start, registers = memory[cmd["table"]]
                at = cmd["addr"] - start
                answer = {"values": registers[at : at + cmd["count"]]}
        elif cmd["cmd"] == "writes":
            answer = {"writes": writes[:]}
            writes.clear()
        elif cmd["cmd"] == "reads":
            answer = {"reads": reads[:]}
            reads.clear()
        else:
            answer = {"error": f"unknown command {cmd['cmd']}"}
        print(json.dumps(answer), flush=True)
    await server.shutdown()


asyncio.run(main())
