#!/usr/bin/env python3
"""Perseus at production scale: `ergon frontier` on 1F1B pipelines of growing size (issue 19).

Generates the H100-like oracle instances of ../shared/tools/perseus/gen_instances.py
(`h100_s8_m128`'s GPU model, 10 ms forwards at f_max, tau = 1 ms, seed 13) with only the
pipeline size changed, builds the release CLI (unless --ergon is given), and times the whole
`ergon frontier --instance I --json --no-plot` process on each. Prints, per pipeline: wall time
(median of --runs), frontier points, per-point cost, and the per-point ratio 8x1024 / 8x128
(both measured in this run, so that machine noise mostly cancels). Wall and CPU (user + system
of the child) are both printed: on a loaded machine CPU time is the steadier of the two. With --stats it also prints
the solver's per-phase profile (`ergon frontier --stats`) of each pipeline's last run.

Usage (from the repository root):
    python3 bench/perseus_scale.py                      # all six pipelines, 1 run each
    python3 bench/perseus_scale.py --runs 3 --stats --out bench/results/perseus_scale.json
    python3 bench/perseus_scale.py --sizes 8x128 8x512

Exit status: 0 ok, 1 a run failed, 2 setup error (generator or build missing).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = ["8x128", "8x256", "8x512", "8x1024", "16x256", "16x1024"]


def load_generator(path: Path):
    """The shared instance generator, imported from its file."""
    if not path.is_file():
        sys.exit(f"error: instance generator not found at {path} (pass --generator)")
    spec = importlib.util.spec_from_file_location("gen_instances", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def instance(gen, stages: int, microbatches: int, out_dir: Path) -> Path:
    """h100_s{S}_m{M}: the 8x128 oracle instance's GPU, forward time, tau and seed."""
    name = f"h100_s{stages}_m{microbatches}"
    path = out_dir / f"{name}.instance.json"
    if not path.exists():
        gen.INSTANCES[name] = ("h100like", stages, microbatches, 10.0, 0.001, 13)
        doc = gen.make_instance(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        tmp.replace(path)
    return path


def run_once(ergon: str, path: Path, stats: bool):
    cmd = [ergon, "frontier", "--instance", str(path), "--json", "--no-plot"]
    if stats:
        cmd.append("--stats")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    points = len(json.loads(proc.stdout)["points"])
    profile = [line for line in proc.stderr.splitlines()
               if line.startswith("solve profile") or line.startswith("  ") and " us/point" in line]
    return wall, cpu, points, profile


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ergon", help="ergon binary (default: build target/release/ergon)")
    ap.add_argument("--sizes", nargs="*", default=DEFAULT_SIZES, help="SxM pipelines")
    ap.add_argument("--runs", type=int, default=1, help="runs per pipeline (median)")
    ap.add_argument("--stats", action="store_true", help="print the per-phase profile")
    ap.add_argument("--generator", type=Path,
                    default=ROOT.parent / "shared/tools/perseus/gen_instances.py")
    ap.add_argument("--instances", type=Path, default=ROOT / "bench/results/instances")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()

    gen = load_generator(args.generator)
    args.instances.mkdir(parents=True, exist_ok=True)
    ergon = args.ergon
    if ergon is None:
        build = subprocess.run(["cargo", "build", "--release", "-p", "ergon-cli"], cwd=ROOT)
        if build.returncode != 0:
            print("error: cargo build --release -p ergon-cli failed", file=sys.stderr)
            return 2
        ergon = str(ROOT / "target/release/ergon")

    results = []
    print("| pipeline | computations | frontier points | time (s) | per point (ms) "
          "| CPU (s) | CPU per point (ms) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        s, m = (int(x) for x in size.lower().split("x"))
        path = instance(gen, s, m, args.instances)
        walls, cpus, points, profile = [], [], 0, []
        try:
            for _ in range(args.runs):
                wall, cpu, points, profile = run_once(ergon, path, args.stats)
                walls.append(wall)
                cpus.append(cpu)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        row = dict(pipeline=f"{s}x{m}", stages=s, microbatches=m,
                   computations=2 * s * m, points=points, time_s=wall, cpu_s=cpu,
                   per_point_ms=1e3 * wall / max(points, 1),
                   cpu_per_point_ms=1e3 * cpu / max(points, 1),
                   runs_s=walls, runs_cpu_s=cpus, profile=profile)
        results.append(row)
        print(f"| {s} × {m} | {2 * s * m} | {points} | {wall:.2f} | "
              f"{row['per_point_ms']:.3f} | {cpu:.2f} | {row['cpu_per_point_ms']:.3f} |",
              flush=True)
        for line in profile:
            print(f"    {line.strip()}", flush=True)

    by = {r["pipeline"]: r for r in results}
    small, large = by.get("8x128"), by.get("8x1024")
    if small and large:
        ratio = large["per_point_ms"] / small["per_point_ms"]
        cpu_ratio = large["cpu_per_point_ms"] / small["cpu_per_point_ms"]
        print(f"per-point ratio 8x1024 / 8x128: {ratio:.2f} wall, {cpu_ratio:.2f} CPU "
              f"(target <= 2)")
    if args.out:
        doc = dict(machine=dict(cpu=platform.processor() or platform.machine(),
                                cores=os.cpu_count(), load=os.getloadavg()),
                   ergon=ergon, results=results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
