#!/usr/bin/env python3
"""Oobleck templates: the PyPI 0.1.1 planner vs `ergon oobleck templates`, side by side.

Both get the same GPT-like profiles (the shape of oracle C of the reference notes, A12.1,
stretched to L layers) and build the templates for every node count 1..N under the 0.1.1
objective. The 0.1.1 planner is `oobleck==0.1.1` from PyPI, installed with
`pip install --no-deps --no-build-isolation oobleck==0.1.1` (its sdist compiles a PyO3
extension; needs setuptools-rust, wheel and cargo) into its own venv; it instantiates
`cornstarch.pipeline_template.PipelineTemplate`, which pulls in torch and colossalai, so this
script puts a torch-free stand-in with the same constructor on the path (the planner only
passes it the stage lists, pseudo latency, bottleneck latency and memory).

For each size the script checks that both give the same T(128) per node count
(`pseudo + (128 − 4S)·L*` for 0.1.1, `latency_at_128` for ergon), then prints a Markdown table
of the median wall time (ergon: whole process, JSON printed).

Usage (from the repository root, after `cargo build --release -p ergon-cli`):
    python3 bench/oobleck_vs_ergon.py --venv /root/.cache/ergon/oobleck-venv \
        --ergon target/release/ergon [--sizes 24x12 48x32 96x64] [--runs 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAND_IN = '''
class PipelineTemplate:
    """Torch-free stand-in: keeps what the 0.1.1 planner passes."""

    def __init__(self, model_name, modules_per_stage, latency, kstar_latency, mem_required):
        self.modules_per_stage = modules_per_stage
        self.latency = latency
        self.kstar_latency = kstar_latency
        self.mem_required = mem_required
'''

RUNNER = '''
import json, sys, time
from oobleck.planning.planner import create_pipeline_templates

class Layer:
    def __init__(self, i, f, b, m):
        self.layer_index, self.layer_name = i, f"l{i}"
        self.forward, self.backward, self.mem_required = f, b, m

doc = json.load(open(sys.argv[1]))
nodes = int(sys.argv[2])
layers = [Layer(i, l["forward"], l["backward"], l["mem_required"]) for i, l in enumerate(doc["layers"])]
t = time.perf_counter()
out = create_pipeline_templates("bench", layers, list(range(1, nodes + 1)))
elapsed = time.perf_counter() - t
t128 = {}
for s, tpl in out.items():
    t128[s] = tpl.latency + (128 - 4 * s) * tpl.kstar_latency
print(json.dumps({"seconds": elapsed, "t128": t128}))
'''


def gpt_like(n: int) -> dict:
    layers = []
    for i in range(n):
        f = 0.5 if i == 0 else 3.0 if i == n - 1 else 2.0 + 0.1 * ((7 * i) % 5)
        layers.append({"forward": f, "backward": 2 * f, "mem_required": 300 if i in (0, n - 1) else 100})
    return {"format": "oobleck-profile/v1", "layers": layers}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, required=True)
    ap.add_argument("--ergon", type=Path, default=Path("target/release/ergon"))
    ap.add_argument("--sizes", nargs="+", default=["24x12", "48x32", "96x64"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--upstream-runs-96x64", type=int, default=1)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    py = a.venv / "bin" / "python"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stand = Path(tmp) / "cornstarch"
        stand.mkdir()
        (stand / "__init__.py").write_text("")
        (stand / "pipeline_template.py").write_text(STAND_IN)
        runner = Path(tmp) / "runner.py"
        runner.write_text(RUNNER)
        for size in a.sizes:
            layers, nodes = (int(x) for x in size.split("x"))
            prof = Path(tmp) / f"{size}.json"
            prof.write_text(json.dumps(gpt_like(layers)))
            runs = a.upstream_runs_96x64 if size == "96x64" else a.runs
            up = []
            for _ in range(runs):
                r = subprocess.run(
                    [str(py), str(runner), str(prof), str(nodes)],
                    capture_output=True, text=True, check=True, env={"PYTHONPATH": tmp},
                )
                up.append(json.loads(r.stdout))
            ours = []
            doc = None
            for _ in range(a.runs + 1):  # the first run warms the page cache, uncounted
                t = time.perf_counter()
                r = subprocess.run(
                    [str(a.ergon), "oobleck", "templates", "--profile", str(prof),
                     "--max-nodes", str(nodes), "--json"],
                    capture_output=True, text=True, check=True,
                )
                ours.append(time.perf_counter() - t)
                doc = json.loads(r.stdout)
            ours = ours[1:]
            mismatch = []
            for tpl in doc["templates"]:
                want = up[0]["t128"][str(tpl["num_nodes"])]
                if abs(tpl["latency_at_128"] - want) > 1e-6 * max(1.0, abs(want)):
                    mismatch.append((tpl["num_nodes"], want, tpl["latency_at_128"]))
            rows.append({
                "size": size,
                "upstream_s": statistics.median(u["seconds"] for u in up),
                "ergon_s": statistics.median(ours),
                "templates": len(doc["templates"]),
                "mismatch": mismatch,
            })
    print("| layers × nodes | 0.1.1 planner (s) | ergon (s, whole process) | speed-up | T(128) equal |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['upstream_s']:.3f} | {r['ergon_s']:.4f} | "
              f"{r['upstream_s'] / r['ergon_s']:.0f}× | "
              f"{'all ' + str(r['templates']) if not r['mismatch'] else r['mismatch']} |")
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))
    return 1 if any(r["mismatch"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
