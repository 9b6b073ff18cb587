"""One rank of a tiny DeepSpeed pipeline-parallel job on CPU (gloo), with or without ergon.

Launched once per rank, by :mod:`launch` (``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``
in the environment) or by ``torchrun``. Writes ``rank<R>.json`` into ``--out``: the losses (as
``float.hex``, so that "bitwise identical" can be compared), the stage, the instructions the hook
reported and the iterations. With ``--ergon`` each rank drives an :class:`ergon.gpu.PlanExecutor`
on its own fake GPU: ``FAKE_NVML_LOG``/``FAKE_NVML_STATE``/``ERGON_STATE_DIR`` are set per rank
here, before NVML is loaded (``nvml-rank<R>.log``, ``nvml-rank<R>.state``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    OtherStage,
    Recorder,
    job_arguments,
    frontier_for,
    per_rank_nvml,
    refused_message,
    sigterm_ready,
)


def main() -> int:
    ap = job_arguments()
    ap.add_argument("--profile", action="store_true",
                    help="drive an ergon.gpu.Profiler instead of a plan executor")
    args = ap.parse_args()
    out = Path(args.out)
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    if args.ergon or args.profile:
        per_rank_nvml(out, rank)

    import torch
    import deepspeed
    from deepspeed.pipe import PipelineModule

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    deepspeed.init_distributed(dist_backend="gloo")
    dp = world // args.pp
    layers = [torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
              torch.nn.Linear(8, 1)]
    model = PipelineModule(layers=layers, num_stages=args.pp, loss_fn=torch.nn.MSELoss(),
                           partition_method="uniform")
    config = {
        "train_micro_batch_size_per_gpu": 2,
        "gradient_accumulation_steps": args.microbatches,
        "train_batch_size": 2 * args.microbatches * dp,
        "optimizer": {"type": "SGD", "params": {"lr": 0.05}},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                      config=config)
    gen = torch.Generator().manual_seed(1234 + engine.grid.data_parallel_id)

    def data():
        while True:
            x = torch.randn(2, 8, generator=gen)
            yield x, x.sum(dim=1, keepdim=True)

    it = data()
    hook = recorder = None
    if args.ergon:
        from ergon import gpu
        from ergon.hooks import DeepSpeedHook

        frontier = frontier_for(args.pp, args.microbatches)
        executor = gpu.PlanExecutor("0", frontier, stage=engine.stage_id)
        recorder = Recorder(executor, wait=True)
        wrong = refused_message(
            lambda: DeepSpeedHook(OtherStage(1 - engine.stage_id), sync=None).install(engine))
        hook = DeepSpeedHook(recorder, sync=None).install(engine)
        program = frontier.plan().stages[engine.stage_id]
    if args.profile:
        # The hook drives the Perseus profiler instead of an executor: instruction_begin and
        # instruction_end around every pass, step_end after every train_batch, until done.
        import math

        from ergon import gpu
        from ergon.hooks import DeepSpeedHook

        profiler = gpu.Profiler("0", engine.stage_id, warmup_iters=0, iters_per_clock=1,
                                step_mhz=400, min_mhz=600, max_slowdown=math.inf,
                                blocking_window_s=0.05)
        with DeepSpeedHook(profiler, sync=None).install(engine) as hook:
            while not profiler.done:
                engine.train_batch(data_iter=it)
            csv = profiler.to_csv()
        (out / f"rank{rank}.json").write_text(json.dumps(
            {"rank": rank, "stage": engine.stage_id, "iterations": hook.iterations,
             "csv": csv}))
        return 0
    losses = []
    steps = args.steps if not args.wait_for_sigterm else 10**9
    for step in range(steps):
        loss = engine.train_batch(data_iter=it)
        losses.append(float(loss).hex())
        if step == 0 and args.wait_for_sigterm:
            sigterm_ready(out, rank)
        if args.wait_for_sigterm:
            time.sleep(0.05)
    result = {"rank": rank, "stage": engine.stage_id, "losses": losses,
              "dp_id": engine.grid.data_parallel_id}
    if hook is not None:
        result.update(calls=recorder.calls, iterations=hook.iterations, wrong_stage=wrong,
                      program=[list(p) for p in program])
        hook.close()
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
