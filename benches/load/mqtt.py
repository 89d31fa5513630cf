#!/usr/bin/env python3
"""MQTT benchmark, against the release binary and Debian's mosquitto on
loopback (stdlib only; the broker's own clients publish and subscribe):

1. From a `set/` publish to the changed wallbox current: a house meter fed
   over `cfos_mqtt/set/M4` (alternately 5 A and 20 A), until the wallbox's
   `cfos_mqtt/get/E1` shows its new `lb_current` (`mosquitto_sub` stamps
   each message with its arrival time, `%U`).
2. The daemon's CPU share on the shipped simulated plant (5 devices, 1 s
   cycle) without MQTT, and with MQTT publishing every 1 s (Home Assistant
   discovery on).

    benches/load/mqtt.py [round trips, default 200] [seconds of CPU sampling, default 60]

BROKER_NODELAY=1 sets mosquitto's `set_tcp_nodelay true` (its default is
off: it may then hold a small message for up to 40 ms for the receiver's
ACK).
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import json

from procstat import cpu_share

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SECS = int(sys.argv[2]) if len(sys.argv) > 2 else 60
BIN = os.path.join(ROOT, "target", "release", "chargebrain")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_broker(tmp):
    for _ in range(10):
        port = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
            if os.environ.get("BROKER_NODELAY"):
                f.write("set_tcp_nodelay true\n")
        proc = subprocess.Popen(["mosquitto", "-c", conf], stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if " running" in line:
                threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
                return proc, port
        proc.wait()
    raise SystemExit("mosquitto did not start")


def start_daemon(tmp, settings, env=None):
    os.makedirs(tmp, exist_ok=True)
    path = os.path.join(tmp, "settings.toml")
    with open(path, "w") as f:
        f.write(settings)
    environ = dict(os.environ, CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0",
                   CHARGEBRAIN__STORAGE__DIR=os.path.join(tmp, "data"),
                   CHARGEBRAIN__LOG__LEVEL="warn", **(env or {}))
    proc = subprocess.Popen([BIN, "--config", path], env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("listening on "):
            return proc
    raise SystemExit("the daemon did not start")


HTTP_INPUT = """
[simulation]
enabled = false
[load]
max_total_current = 32000
cycle_time_ms = 1000
meter_timeout_s = 3600
[mqtt]
url = "mqtt://127.0.0.1:{port}"
[[devices]]
dev_id = "E1"
dev_type = "evse_ajax"
max_charging_cur = 32000
timeout_s = 3600
[[devices]]
dev_id = "E2"
dev_type = "evse_ajax"
max_charging_cur = 32000
timeout_s = 3600
[[devices]]
dev_id = "M4"
dev_type = "meter_ajax"
role = 1
timeout_s = 3600
"""


def latency(tmp, port):
    daemon = start_daemon(os.path.join(tmp, "latency"), HTTP_INPUT.format(port=port))
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", "cfos_mqtt/get/E1",
                            "-F", "%U %p"], stdout=subprocess.PIPE, text=True)
    pub = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-t", "cfos_mqtt/set/M4", "-l"],
                           stdin=subprocess.PIPE, text=True)
    cars = subprocess.Popen(["mosquitto_pub", "-p", str(port), "-t", "cfos_mqtt/set/E1", "-l"],
                            stdin=subprocess.PIPE, text=True)
    arrived = []
    lock = threading.Condition()

    def read():
        for line in sub.stdout:
            stamp, payload = line.split(" ", 1)
            with lock:
                arrived.append((float(stamp), json.loads(payload)["lb_current"]))
                lock.notify_all()

    threading.Thread(target=read, daemon=True).start()
    time.sleep(1)
    # Two cars that draw nothing yet (no overdraw when the house grows).
    for topic in ["cfos_mqtt/set/E1", "cfos_mqtt/set/E2"]:
        subprocess.run(["mosquitto_pub", "-p", str(port), "-t", topic, "-m",
                        '{"state": 3, "current": [0, 0, 0]}'], check=True)
    samples = []
    for i in range(ROUNDS + 5):
        house = 5000 if i % 2 else 20000
        want = (32000 - house) // 2 // 100 * 100
        with lock:
            seen = len(arrived)
        sent = time.time()
        pub.stdin.write(f'{{"current": [{house}, {house}, {house}]}}\n')
        pub.stdin.flush()
        with lock:
            ok = lock.wait_for(lambda: any(v == want for _, v in arrived[seen:]), timeout=10)
            if not ok:
                raise SystemExit(f"no lb_current {want} after house {house}")
            at = next(t for t, v in arrived[seen:] if v == want)
        if i >= 5:  # warm-up
            samples.append(at - sent)
        time.sleep(0.05)
    for p in (pub, cars):
        p.stdin.close()
    sub.kill()
    daemon.terminate()
    daemon.wait()
    return samples


def cpu(tmp, port):
    with open(os.path.join(ROOT, "settings.toml")) as f:
        shipped = f.read()
    shares = {}
    for name, env in [("without MQTT", {}),
                      ("MQTT every 1 s", {"CHARGEBRAIN__MQTT__URL": f"mqtt://127.0.0.1:{port}",
                                          "CHARGEBRAIN__MQTT__HOMEASSISTANT": "true"})]:
        env = dict(env, CHARGEBRAIN__SIMULATION__BASE_PORT="0")
        daemon = start_daemon(os.path.join(tmp, name.replace(" ", "_")), shipped, env)
        time.sleep(3)
        shares[name] = cpu_share(daemon.pid, SECS)
        daemon.terminate()
        daemon.wait()
    return shares


def main():
    for tool in ["mosquitto", "mosquitto_sub", "mosquitto_pub"]:
        if not shutil.which(tool):
            raise SystemExit("needs mosquitto and mosquitto-clients (apt-get install mosquitto mosquitto-clients)")
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp()
    broker, port = start_broker(tmp)
    try:
        samples = sorted(latency(tmp, port))
        q = statistics.quantiles(samples, n=100, method="inclusive")
        print(f"set/ publish -> get/E1 with the new lb_current, {len(samples)} round trips:")
        print(f"  median {statistics.median(samples) * 1e3:.2f} ms, p90 {q[89] * 1e3:.2f} ms, "
              f"p99 {q[98] * 1e3:.2f} ms, max {samples[-1] * 1e3:.2f} ms")
        for name, share in cpu(tmp, port).items():
            print(f"daemon CPU, shipped plant, {name}: {share * 100:.2f} % of one core ({SECS} s)")
    finally:
        broker.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
