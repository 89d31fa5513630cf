#!/usr/bin/env python3
"""Admin page benchmark: page weight, time to first render in headless
Chromium, and the daemon's CPU share while one dashboard is open.

Runs the release binary on the built-in simulated plant on loopback and
drives Debian's chromium through chromedriver (W3C WebDriver, stdlib only).
    benches/load/web.py [seconds of CPU sampling, default 30] [network latency, ms]
With a latency, Chromium adds it to every request (as on a slow LAN or
Wi-Fi). CHARGEBRAIN_BIN runs that binary instead of building the release one.
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from procstat import cpu_share

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
LATENCY_MS = float(sys.argv[2]) if len(sys.argv) > 2 else 0


def free_port():
    """A port for chromedriver, which cannot be given port 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def wd(session, method, path, body=None):
    return json.loads(http(method, session + path, body))["value"]


def main():
    binary = os.environ.get("CHARGEBRAIN_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/chargebrain")
    work = tempfile.mkdtemp()
    # The daemon and its plant take free ports (port 0) and say which.
    driver_port = free_port()
    env = dict(os.environ,
               CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0",
               CHARGEBRAIN__SIMULATION__BASE_PORT="0",
               CHARGEBRAIN__STORAGE__DIR=work,
               CHARGEBRAIN__LOG__LEVEL="warn")
    daemon = subprocess.Popen([binary,
                               "--config", os.path.join(ROOT, "settings.toml")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    driver = subprocess.Popen(["chromedriver", f"--port={driver_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        base = None
        while base is None:
            line = daemon.stdout.readline().decode()
            if not line:
                raise SystemExit("the daemon did not start")
            if line.startswith("listening on "):
                base = line[len("listening on "):].strip()
        time.sleep(1)

        print("| asset | bytes |\n|---|---|")
        total = 0
        # The page and every file it names (it preloads all its modules).
        index = http("GET", base + "/").decode()
        files = ["/"] + list(dict.fromkeys(re.findall(r'(?:src|href)="(/[^"#]*)"', index)))
        for path in files:
            size = len(http("GET", base + path))
            total += size
            print(f"| `{path}` | {size} |")
        print(f"| **page total, {len(files)} files** | **{total}** |")
        print(f"| `get_dev_info` (one poll) | {len(http('GET', base + '/cnf?cmd=get_dev_info'))} |")

        for _ in range(100):
            try:
                if json.loads(http("GET", f"http://127.0.0.1:{driver_port}/status"))["value"]["ready"]:
                    break
            except OSError:
                time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium") or "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"]}}}}
        session_id = json.loads(http("POST", f"http://127.0.0.1:{driver_port}/session", caps))["value"]["sessionId"]
        session = f"http://127.0.0.1:{driver_port}/session/{session_id}"
        if LATENCY_MS:
            # chromedriver's own command for DevTools' network emulation.
            wd(session, "POST", "/chromium/network_conditions", {"network_conditions": {
                "latency": LATENCY_MS, "download_throughput": 100e6 / 8, "upload_throughput": 100e6 / 8}})
            print(f"\nEvery request {LATENCY_MS:g} ms later, at 100 Mbit/s.")

        probe = """
            const nav = performance.getEntriesByType('navigation')[0];
            const fcp = performance.getEntriesByName('first-contentful-paint')[0];
            const dash = performance.getEntriesByName('dashboard-rendered')[0];
            // The page's files that took a request (a 304 too), not the cache alone.
            const asked = performance.getEntriesByType('resource')
                .filter((r) => !r.name.includes('/cnf') && r.transferSize > 0).length;
            return dash && fcp ? [nav.responseEnd, nav.loadEventEnd, fcp.startTime,
                                  dash.startTime, asked] : null;"""
        runs = []
        for _ in range(21):
            wd(session, "POST", "/url", {"url": "about:blank"})
            wd(session, "POST", "/url", {"url": base + "/"})
            for _ in range(200):
                got = wd(session, "POST", "/execute/sync", {"script": probe, "args": []})
                if got:
                    runs.append(got)
                    break
                time.sleep(0.01)
        cold, warm = runs[0], runs[1:]

        def med(i):
            return statistics.median(r[i] for r in warm if r[i] is not None)
        print("\n| time from navigation start (ms) | first load | median of 20 reloads |\n|---|---|---|")
        for i, name in enumerate(["HTML received", "load event", "first contentful paint",
                                  "dashboard filled (first get_dev_info drawn)"]):
            print(f"| {name} | {cold[i]:.1f} | {med(i):.1f} |")
        print(f"| requests for files besides index.html | {cold[4]} | {med(4):g} |")

        open_share = 100.0 * cpu_share(daemon.pid, SECS)
        wd(session, "POST", "/url", {"url": "about:blank"})
        idle_share = 100.0 * cpu_share(daemon.pid, SECS)
        print(f"\n| daemon CPU, {SECS} s each | share of one core |\n|---|---|")
        print(f"| one dashboard open | {open_share:.2f} % |")
        print(f"| no browser | {idle_share:.2f} % |")
        wd(session, "DELETE", "")
    finally:
        os.killpg(driver.pid, 9)
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
