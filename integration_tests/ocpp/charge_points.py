"""OCPP 1.6 charge points for the integration tests, built on PyPI `ocpp`
(which checks every message against the official OCPP 1.6 JSON schemas)
and `websockets`.

Usage: charge_points.py WS_BASE   (e.g. ws://127.0.0.1:8080/ocpp/)

Reads one JSON command per line on stdin and prints one JSON line per
command on stdout (its answer), so a Rust test drives the charge points
step by step. Every command names its charge point ("cp"). Commands:

  connect {password?}           -> {"ok": true} or {"ok": false, "status": 404}
  boot | heartbeat              -> the central system's answer
  status {status, connector?}   -> {}
  meter {amps: [l1,l2,l3], wh?, volts?, connector?}
  authorize {tag}               -> {"status": ...}
  start {tag, meter_start}      -> {"transaction_id": n, "status": ...}
  stop {transaction_id, meter_stop, tag?}
  received {action?}            -> the calls the central system made since the
                                   last `received`, as [action, payload]
  disconnect
  raw_connect                   -> a plain WebSocket without the ocpp library
  raw {text | size, binary?}    -> sends text (or `size` bytes of it), answers
                                   the next frame or the close code
  flood {n}                     -> sends n Heartbeat calls as fast as possible;
                                   answers how many were answered and whether
                                   the connection was closed (code, reason)
"""

import asyncio
import base64
import json
import sys

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    TriggerMessageStatus,
)

BASE = sys.argv[1]


class TestChargePoint(ChargePoint):
    def __init__(self, cp_id, connection):
        super().__init__(cp_id, connection, response_timeout=10)
        self.received = []
        self.connector_status = "Available"

    def note(self, action, payload):
        self.received.append([action, payload])

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        self.note("SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": cs_charging_profiles})
        return call_result.SetChargingProfile(status=ChargingProfileStatus.accepted)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs):
        self.note("ClearChargingProfile", kwargs)
        return call_result.ClearChargingProfile(status=ClearChargingProfileStatus.accepted)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value):
        self.note("ChangeConfiguration", {"key": key, "value": value})
        return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None):
        self.note("GetConfiguration", {"key": key})
        return call_result.GetConfiguration(
            configuration_key=[{"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"}],
            unknown_key=[k for k in (key or []) if k != "ChargeProfileMaxStackLevel"],
        )

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, connector_id=None):
        self.note("TriggerMessage", {"requestedMessage": requested_message, "connectorId": connector_id})
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type):
        self.note("ChangeAvailability", {"connectorId": connector_id, "type": type})
        return call_result.ChangeAvailability(status=AvailabilityStatus.accepted)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        self.note("RemoteStartTransaction", {"idTag": id_tag, "connectorId": connector_id})
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id):
        self.note("RemoteStopTransaction", {"transactionId": transaction_id})
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.reset)
    def on_reset(self, type):
        self.note("Reset", {"type": type})
        return call_result.Reset(status=ResetStatus.accepted)


class Station:
    """One charge point: its ocpp-library connection or a raw socket."""

    def __init__(self, cp_id):
        self.id = cp_id
        self.ws = None
        self.cp = None
        self.task = None
        self.raw = None


stations = {}


def station(cp_id):
    if cp_id not in stations:
        stations[cp_id] = Station(cp_id)
    return stations[cp_id]


def headers(password, cp_id):
    if password is None:
        return None
    token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def open_socket(cp_id, password):
    return await websockets.connect(
        BASE + cp_id,
        subprotocols=["ocpp1.6"],
        additional_headers=headers(password, cp_id),
        open_timeout=5,
        ping_interval=None,
    )


def now():
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def run(cmd):
    s = station(cmd["cp"])
    what = cmd["cmd"]
    connector = cmd.get("connector", 1)
    if what == "connect":
        try:
            s.ws = await open_socket(s.id, cmd.get("password"))
        except websockets.exceptions.InvalidStatus as e:
            return {"ok": False, "status": e.response.status_code}
        s.cp = TestChargePoint(s.id, s.ws)
        s.task = asyncio.ensure_future(s.cp.start())
        return {"ok": True, "subprotocol": s.ws.subprotocol}
    if what == "disconnect":
        if s.ws is not None:
            await s.ws.close()
            s.task.cancel()
            s.ws = s.cp = s.task = None
        return {}
    if what == "boot":
        r = await s.cp.call(call.BootNotification(charge_point_model="TestBox", charge_point_vendor="chargebrain-tests", firmware_version="1.0"))
        return {"status": r.status, "interval": r.interval, "current_time": r.current_time}
    if what == "heartbeat":
        r = await s.cp.call(call.Heartbeat())
        return {"current_time": r.current_time}
    if what == "status":
        await s.cp.call(call.StatusNotification(connector_id=connector, error_code="NoError", status=cmd["status"], timestamp=now()))
        return {}
    if what == "meter":
        amps = cmd["amps"]
        volts = cmd.get("volts", 230)
        samples = [
            {"value": f"{a:.2f}", "measurand": "Current.Import", "phase": f"L{i + 1}", "unit": "A"}
            for i, a in enumerate(amps)
        ]
        samples += [
            {"value": f"{volts}", "measurand": "Voltage", "phase": f"L{i + 1}-N", "unit": "V"}
            for i in range(3)
        ]
        samples.append({"value": f"{sum(amps) * volts:.0f}", "measurand": "Power.Active.Import", "unit": "W"})
        if "wh" in cmd:
            samples.append({"value": f"{cmd['wh']}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"})
        await s.cp.call(call.MeterValues(connector_id=connector, meter_value=[{"timestamp": now(), "sampledValue": samples}]))
        return {}
    if what == "authorize":
        r = await s.cp.call(call.Authorize(id_tag=cmd["tag"]))
        return {"status": r.id_tag_info["status"]}
    if what == "start":
        r = await s.cp.call(call.StartTransaction(connector_id=connector, id_tag=cmd["tag"], meter_start=cmd["meter_start"], timestamp=now()))
        return {"transaction_id": r.transaction_id, "status": r.id_tag_info["status"]}
    if what == "stop":
        r = await s.cp.call(call.StopTransaction(transaction_id=cmd["transaction_id"], meter_stop=cmd["meter_stop"], timestamp=now(), id_tag=cmd.get("tag")))
        return {"status": (r.id_tag_info or {}).get("status")}
    if what == "received":
        got, s.cp.received = s.cp.received, []
        if "action" in cmd:
            got = [g for g in got if g[0] == cmd["action"]]
        return {"calls": got}
    if what == "raw_connect":
        s.raw = await open_socket(s.id, cmd.get("password"))
        return {"ok": True}
    if what == "raw":
        text = cmd["text"] if "text" in cmd else "x" * cmd["size"]
        try:
            if cmd.get("binary"):
                await s.raw.send(text.encode())
            else:
                await s.raw.send(text)
            while True:
                frame = await asyncio.wait_for(s.raw.recv(), 5)
                reply = json.loads(frame)
                # Calls of the central system (profiles...) are not the answer.
                if reply[0] != 2:
                    return {"reply": reply}
        except websockets.exceptions.ConnectionClosed as e:
            return {"closed": e.rcvd.code if e.rcvd else None}
    if what == "flood":
        answered = 0
        try:
            for i in range(cmd["n"]):
                await s.raw.send(json.dumps([2, f"f{i}", "Heartbeat", {}]))
            deadline = asyncio.get_event_loop().time() + 5
            while answered < cmd["n"]:
                left = deadline - asyncio.get_event_loop().time()
                frame = await asyncio.wait_for(s.raw.recv(), max(left, 0.01))
                if json.loads(frame)[0] == 3:
                    answered += 1
        except websockets.exceptions.ConnectionClosed as e:
            return {
                "answered": answered,
                "closed": e.rcvd.code if e.rcvd else None,
                "reason": e.rcvd.reason if e.rcvd else None,
            }
        except asyncio.TimeoutError:
            pass
        return {"answered": answered, "closed": None}
    raise ValueError(f"unknown command {what}")


async def main():
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        try:
            answer = await run(cmd)
        except Exception as e:  # the test sees what went wrong
            answer = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer, default=float), flush=True)


asyncio.run(main())
