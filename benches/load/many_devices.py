"""Prints a settings file of N HTTP-input devices for the benchmarks at scale:
the repository's settings.toml without its devices, with the simulated plant
as it says (the scripts switch it off through the environment), then a grid
meter M1 and N-1 wallboxes E2..EN, nothing pushed.

    python3 benches/load/many_devices.py N > settings-N.toml
"""

import pathlib
import re
import sys

n = int(sys.argv[1])
base = pathlib.Path(__file__).resolve().parents[2] / "settings.toml"
head = re.split(r"(?m)^\[\[devices\]\]", base.read_text(), maxsplit=1)[0]
out = [head + '[[devices]]\ndev_id = "M1"\ndev_type = "meter_ajax"\nname = "Grid"\nrole = 3\n']
for i in range(2, n + 1):
    out.append(f'[[devices]]\ndev_id = "E{i}"\ndev_type = "evse_ajax"\nname = "Wallbox {i}"\n'
               f'min_charging_cur = 6000\nmax_charging_cur = 16000\nphase_rotation = {(i % 3) * 120}\n')
print("\n".join(out))
