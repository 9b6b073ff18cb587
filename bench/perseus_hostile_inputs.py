#!/usr/bin/env python3
"""Writes the adversarial-but-valid Perseus inputs timed in BENCHMARKS.md ("Perseus on hostile
input") into a directory (default: the current one):

  options_1e5.json   one profile of 100 000 options (energy falling with time plus a ripple)
  front_1e5.json     one profile of 100 000 options that are all on the Pareto front
  profiles_2e5.csv   200 000 profiles (100 000 stages x forward/backward), one row each
  profiles_2e5.json  the same as a perseus-instance/v1 document
  big.csv            144 MB: 8 stages x 2 kinds x 240 000 options (3.84 M rows)
  csv_1g.csv         1.0 GB: big.csv's rows seven times (26.9 M rows), with --big

Usage: python3 bench/perseus_hostile_inputs.py [DIR] [--big]
"""

import json
import os
import sys


def ripple_options(n, base):
    return [
        {
            "freq_mhz": 990 + i % 500,
            "time_s": base + base * i / n,
            "energy_j": 20.0 - 200.0 * (base + base * i / n) * 0.02 / base + ((i * 7919) % 101) * 1e-3,
        }
        for i in range(n)
    ]


def front_options(n, base):
    return [
        {"freq_mhz": 990 + i % 500, "time_s": base * (1 + i / n), "energy_j": 2.0 / (1 + i / n)}
        for i in range(n)
    ]


def one_stage(forward, backward):
    return {
        "schema": "perseus-instance/v1",
        "unit_time_s": 0.001,
        "p_blocking_w": 80.0,
        "pipeline": {"schedule": "1f1b", "num_stages": 1, "num_microbatches": 1},
        "profiles": [
            {"stage": 0, "kind": "forward", "options": forward},
            {"stage": 0, "kind": "backward", "options": backward},
        ],
    }


def main():
    args = [a for a in sys.argv[1:] if a != "--big"]
    out = args[0] if args else "."
    os.makedirs(out, exist_ok=True)
    path = lambda name: os.path.join(out, name)
    json.dump(one_stage(ripple_options(100_000, 0.020), ripple_options(5, 0.040)), open(path("options_1e5.json"), "w"))
    json.dump(one_stage(front_options(100_000, 0.020), front_options(5, 0.040)), open(path("front_1e5.json"), "w"))
    kinds = ("forward", "backward")
    with open(path("profiles_2e5.csv"), "w") as f:
        f.write("stage,instruction,frequency,time,energy\n")
        for s in range(100_000):
            for k in kinds:
                f.write(f"{s},{k},1410,0.0205,8.0\n")
    doc = {
        "schema": "perseus-instance/v1",
        "unit_time_s": 0.001,
        "p_blocking_w": 80.0,
        "pipeline": {"schedule": "1f1b", "num_stages": 100_000, "num_microbatches": 1},
        "profiles": [
            {"stage": s, "kind": k, "options": [{"freq_mhz": 1410, "time_s": 0.0205, "energy_j": 8.0}]}
            for s in range(100_000)
            for k in kinds
        ],
    }
    json.dump(doc, open(path("profiles_2e5.json"), "w"))
    rows = []
    for s in range(8):
        for k in kinds:
            base = 0.020 if k == "forward" else 0.040
            n = 240_000
            for i in range(n):
                t = base + base * i / n
                e = 20.0 - 200.0 * t * 0.02 / base + ((i * 7919) % 101) * 1e-3
                rows.append(f"{s},{k},{990 + i % 500},{t:.9f},{e:.6f}\n")
    body = "".join(rows)
    with open(path("big.csv"), "w") as f:
        f.write("stage,instruction,frequency,time,energy\n")
        f.write(body)
    if "--big" in sys.argv[1:]:
        with open(path("csv_1g.csv"), "w") as f:
            f.write("stage,instruction,frequency,time,energy\n")
            for _ in range(7):
                f.write(body)


if __name__ == "__main__":
    main()
