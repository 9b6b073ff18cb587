"""Overhead of ergon's DeepSpeed hook per training step, on the tiny CPU pipeline of the tests.

Runs ``bindings/python/tests/frameworks/ds_job.py``'s model (pp2, 4 microbatches, gloo,
``DS_ACCELERATOR=cpu``) on two ranks, in one process per rank, alternating blocks of
``--steps`` ``engine.train_batch()`` calls without and with a ``DeepSpeedHook`` driving a
:class:`ergon.gpu.PlanExecutor` on the fake NVML (``--nvml``: tests/fake-nvml's
``libnvidia-ml.so.1``, in memory: no call log or state file; the executor's clock changes go to
the fake, ~µs each) or a no-op driven object (the hook's own cost), and prints the median step
time of each, per rank, with the difference per step and per instruction.

    DS_ACCELERATOR=cpu TORCH_EXTENSIONS_DIR=~/.cache/ergon/torch-extensions \\
      ERGON_LIBRARY=target/debug/libergon.so PYTHONPATH=bindings/python/src \\
      ~/.cache/ergon/pyfw-probe/bin/python bench/hook_overhead.py --nvml PATH/libnvidia-ml.so.1

Without ``--worker`` it launches the two ranks itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRAMEWORKS = REPO / "bindings" / "python" / "tests" / "frameworks"
sys.path.insert(0, str(FRAMEWORKS))


class NoOp:
    """A driven object that does nothing: the hook's own cost."""

    stage = 0

    def instruction_begin(self, kind: str) -> None:
        pass

    def step_end(self) -> None:
        pass


def worker(args: argparse.Namespace) -> None:
    from common import frontier_for

    rank = int(os.environ["RANK"])
    out = Path(args.out)
    # The fake GPU in memory only (no call log, no state file: their file writes would be
    # measured too); the executor's own state file in a directory per rank.
    state_dir = out / f"ergon-state-{rank}"
    state_dir.mkdir(mode=0o700)
    os.environ["ERGON_STATE_DIR"] = str(state_dir)
    import deepspeed
    import torch
    from deepspeed.pipe import PipelineModule

    from ergon import gpu
    from ergon.hooks import DeepSpeedHook

    torch.manual_seed(0)
    deepspeed.init_distributed(dist_backend="gloo")
    layers = [torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
              torch.nn.Linear(8, 1)]
    model = PipelineModule(layers=layers, num_stages=2, loss_fn=torch.nn.MSELoss())
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config={
        "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 4,
        "train_batch_size": 8, "optimizer": {"type": "SGD", "params": {"lr": 0.01}},
        "steps_per_print": 10**9})
    x = torch.randn(2, 8)

    def data():
        while True:
            yield x, x.sum(dim=1, keepdim=True)

    it = data()
    executor = gpu.PlanExecutor("0", frontier_for(2, 4), stage=engine.stage_id)
    noop = NoOp()
    noop.stage = engine.stage_id
    times = {"without": [], "noop": [], "with": []}
    for _ in range(3):
        engine.train_batch(data_iter=it)  # warm-up
    for _block in range(args.blocks):
        for label in ("without", "noop", "with"):
            driven = {"without": None, "noop": noop, "with": executor}[label]
            hook = DeepSpeedHook(driven, close_executor=False).install(engine) \
                if driven is not None else None
            for _ in range(args.steps):
                torch.distributed.barrier()
                t0 = time.perf_counter()
                engine.train_batch(data_iter=it)
                times[label].append(time.perf_counter() - t0)
            if hook is not None:
                hook.close()
    # Per instruction, without the training around it (the step times above vary by more than
    # the hooks cost): the wrapper of a no-op pass, one iteration of this stage's program at a
    # time, step_end included.
    kinds = [k for k, _ in frontier_for(2, 4).plan().stages[engine.stage_id]]
    micro = {}
    for label, driven in (("noop", noop), ("with", executor)):
        hook = DeepSpeedHook(driven, close_executor=False, sync=None)
        passes = {k: hook._instruction(lambda: None, k, "no-op pass") for k in ("forward",
                                                                             "backward")}
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(args.micro_iterations):
                with hook.step():
                    for k in kinds:
                        passes[k]()
            best = min(best, (time.perf_counter() - t0) / (args.micro_iterations * len(kinds)))
        micro[label] = best
        hook.close()
    executor.close()
    (out / f"bench{rank}.json").write_text(json.dumps({**times, "micro": micro}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nvml", help="the fake NVML (libnvidia-ml.so.1)")
    ap.add_argument("--steps", type=int, default=20, help="steps per block")
    ap.add_argument("--blocks", type=int, default=5, help="alternating blocks of each")
    ap.add_argument("--micro-iterations", type=int, default=1000,
                    help="iterations of the per-instruction measurement")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return 0
    from launch import launch

    with tempfile.TemporaryDirectory() as tmp:
        env = {"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1"}
        if args.nvml:
            env["ERGON_NVML_LIBRARY"] = args.nvml
        done = launch(__file__, ["--worker", "--out", tmp, "--steps", str(args.steps),
                                 "--blocks", str(args.blocks),
                                 "--micro-iterations", str(args.micro_iterations)], 2, env=env)
        for r in done:
            if r.returncode:
                print(r.stdout[-4000:])
                return 1
        print(f"DeepSpeed pp2, 4 microbatches, CPU/gloo; {args.blocks} x {args.steps} steps each "
              f"(medians; 8 planned instructions per step per rank)")
        for rank in (0, 1):
            t = json.loads((Path(tmp) / f"bench{rank}.json").read_text())
            a = statistics.median(t["without"])
            line = f"rank {rank}: without {a * 1e3:.3f} ms"
            for label, what in (("noop", "hook, no-op driven object"),
                                ("with", "hook + PlanExecutor")):
                b = statistics.median(t[label])
                line += (f"; {what} {b * 1e3:.3f} ms (+{(b - a) * 1e6:.0f} µs/step, "
                         f"{(b - a) / a * 100:+.1f} %, {(b - a) / 8 * 1e6:+.1f} µs/instruction)")
            print(line)
            m = t["micro"]
            print(f"rank {rank}: per instruction (wrapper around a no-op pass, best of 5): "
                  f"no-op driven object {m['noop'] * 1e6:.2f} µs, PlanExecutor "
                  f"{m['with'] * 1e6:.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
