#!/usr/bin/env python3
"""OCPP benchmark: N charge points (default 200) on one daemon.

Starts the release binary with N `evse_ocpp` wallboxes and an HTTP-input grid
meter, connects N charge points over loopback (plain `websockets`, from the
test venv: ocpp1.6 subprotocol, BootNotification, StatusNotification
Charging, MeterValues every 2 s), and reports
  - set-up: from the first connection to every charge point booted;
  - the cycle time with them (`chargebrain_cycle_duration_seconds` from
    /metrics over the measuring window: mean and the share of cycles under
    each bucket);
  - the daemon's RSS before and with them.
    benches/load/ocpp.py [N] [seconds]     (python: the test venv, see scripts/test.sh)

CHARGEBRAIN_BIN names another binary (default: target/release/chargebrain,
built first).
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SECS = int(sys.argv[2]) if len(sys.argv) > 2 else 30


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def metrics(base):
    text = urllib.request.urlopen(base + "/metrics").read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"chargebrain_cycle_duration_seconds_(sum|count)\s+(\S+)", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


async def charge_point(base, i, booted, stop):
    cp = f"CP{i}"
    async with websockets.connect(f"{base}/ocpp/{cp}", subprotocols=["ocpp1.6"], ping_interval=None) as ws:
        n = 0

        async def call(action, payload):
            nonlocal n
            n += 1
            await ws.send(json.dumps([2, f"{cp}-{n}", action, payload]))

        async def reader():
            async for frame in ws:
                msg = json.loads(frame)
                if msg[0] == 2:  # the central system's calls: accept them
                    await ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))
                elif msg[0] == 3 and msg[1] == f"{cp}-1":
                    booted.set_result(time.monotonic()) if not booted.done() else None

        task = asyncio.ensure_future(reader())
        await call("BootNotification", {"chargePointVendor": "bench", "chargePointModel": "ocpp.py"})
        await call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
        while not stop.is_set():
            amps = [{"value": "6.0", "measurand": "Current.Import", "phase": f"L{p}", "unit": "A"} for p in (1, 2, 3)]
            await call("MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": amps}]})
            try:
                await asyncio.wait_for(stop.wait(), 2)
            except asyncio.TimeoutError:
                pass
        task.cancel()


async def main():
    binary = os.environ.get("CHARGEBRAIN_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/chargebrain")
    settings = "[simulation]\nenabled = false\n[http]\nmax_connections = 4096\nmax_connections_per_client = 4096\n"
    settings += "[load]\nmax_total_current = 1000000\n[[devices]]\ndev_id = \"M1\"\ndev_type = \"meter_ajax\"\nrole = 3\n"
    for i in range(1, N + 1):
        settings += f'[[devices]]\ndev_id = "E{i}"\ndev_type = "evse_ocpp"\naddress = "CP{i}"\n'
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "settings.toml"), "w") as f:
            f.write(settings)
        env = dict(os.environ, CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0", CHARGEBRAIN__STORAGE__DIR=os.path.join(d, "data"),
                   CHARGEBRAIN__LOG__LEVEL="error")
        daemon = subprocess.Popen([binary, "--config", os.path.join(d, "settings.toml")],
                                  env=env, stdout=subprocess.PIPE, text=True)
        try:
            # The daemon takes a free port (port 0) and says which.
            for line in daemon.stdout:
                if line.startswith("listening on "):
                    base = line[len("listening on "):].strip()
                    break
            else:
                raise SystemExit("the daemon did not start")
            time.sleep(2)
            rss_before = rss_kib(daemon.pid)
            loop = asyncio.get_event_loop()
            boots = [loop.create_future() for _ in range(N)]
            stop = asyncio.Event()
            t0 = time.monotonic()
            tasks = [asyncio.ensure_future(charge_point(base.replace("http://", "ws://"), i + 1, boots[i], stop)) for i in range(N)]
            done = await asyncio.gather(*boots)
            setup = max(done) - t0
            await asyncio.sleep(5)
            m0 = metrics(base)
            await asyncio.sleep(SECS)
            m1 = metrics(base)
            rss_with = rss_kib(daemon.pid)
            info = json.loads(urllib.request.urlopen(base + "/cnf?cmd=get_dev_info").read())
            charging = sum(1 for dev in info["devices"] if dev.get("state") == 3 and not dev["com_err"])
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            daemon.terminate()
            daemon.wait()
    cycles = m1["count"] - m0["count"]
    mean_ms = (m1["sum"] - m0["sum"]) / cycles * 1000 if cycles else float("nan")
    print(f"charge points: {N}, charging and without com error: {charging}")
    print(f"set-up (first connection to all booted): {setup * 1000:.0f} ms")
    print(f"cycle time over {SECS} s: {cycles:.0f} cycles, mean {mean_ms:.2f} ms")
    print(f"RSS: {rss_before} KiB before, {rss_with} KiB with them ({(rss_with - rss_before) / N:.1f} KiB per charge point)")


asyncio.run(main())
