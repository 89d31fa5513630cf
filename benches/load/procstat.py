"""A process's CPU share from /proc/<pid>/stat, for the benchmarks."""

import os
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """User and system time of `pid` so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_share(pid, secs):
    """The share of one core `pid` uses over the next `secs` seconds (0.01 = 1 %)."""
    start, t0 = cpu_ticks(pid), time.monotonic()
    time.sleep(secs)
    return (cpu_ticks(pid) - start) / TICK / (time.monotonic() - t0)
