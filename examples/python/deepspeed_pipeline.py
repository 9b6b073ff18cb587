"""Perseus GPU clocks in a DeepSpeed pipeline-parallel job: what to add to a training script.

The additions are marked ``# ergon``: build the frontier from the stages' profiles, make the
plan executor of this rank's GPU and pipeline stage, install the hook on the engine. Every
forward and backward pass of ``train_batch`` then runs at its planned clock, and leaving the
``with`` block restores the GPU. Launch it as any DeepSpeed job::

    deepspeed --num_gpus 2 examples/python/deepspeed_pipeline.py --profile profile.csv
    # or: torchrun --nproc-per-node 2 examples/python/deepspeed_pipeline.py --profile ...

On a machine without a GPU (what CI runs): ``DS_ACCELERATOR=cpu``, ``--backend gloo`` and the
fake NVML (``ERGON_NVML_LIBRARY=.../libnvidia-ml.so.1`` built from ``tests/fake-nvml``). Setting
clocks on a real GPU needs CAP_SYS_ADMIN. ``profile.csv`` is a zeus profile
(``stage,instruction,frequency,time,energy``).
"""

from __future__ import annotations

import argparse
import os

import deepspeed
import torch
from deepspeed.pipe import PipelineModule

import ergon  # ergon
from ergon import gpu  # ergon
from ergon.hooks import DeepSpeedHook  # ergon


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="zeus profile CSV of every stage")
    ap.add_argument("--stages", type=int, default=2)
    ap.add_argument("--microbatches", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--backend", default="nccl", help="gloo on a CPU")
    ap.add_argument("--gpu", default=os.environ.get("LOCAL_RANK", "0"),
                    help="this rank's GPU (NVML index or UUID; default LOCAL_RANK)")
    args = ap.parse_args()

    deepspeed.init_distributed(dist_backend=args.backend)
    torch.manual_seed(0)
    layers = [torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
              torch.nn.Linear(16, 1)]
    model = PipelineModule(layers=layers, num_stages=args.stages, loss_fn=torch.nn.MSELoss())
    world = torch.distributed.get_world_size()
    engine, *_ = deepspeed.initialize(
        model=model,
        model_parameters=model.parameters(),
        config={
            "train_micro_batch_size_per_gpu": 4,
            "gradient_accumulation_steps": args.microbatches,
            "train_batch_size": 4 * args.microbatches * (world // args.stages),
            "optimizer": {"type": "SGD", "params": {"lr": 0.05}},
            "steps_per_print": 10**9,
        },
    )

    def data():
        g = torch.Generator().manual_seed(engine.grid.data_parallel_id)
        while True:
            x = torch.randn(4, 16, generator=g)
            yield x, x.mean(dim=1, keepdim=True)

    # ergon: the frontier of the whole pipeline (every rank solves the same one: it is fast),
    # the executor of this rank's stage, the hook on the engine.
    frontier = ergon.Frontier.from_profile_csv(
        args.profile, stages=engine.num_stages, microbatches=engine.micro_batches,
        unit_time_s=0.001, p_blocking_w=60.0)
    executor = gpu.PlanExecutor(args.gpu, frontier, stage=engine.stage_id)
    with DeepSpeedHook(executor).install(engine) as hook:
        it = data()
        for step in range(args.steps):
            loss = engine.train_batch(data_iter=it)
            if engine.global_rank == 0:
                print(f"step {step}: loss {float(loss):.4f}")
    print(f"rank {engine.global_rank}: stage {engine.stage_id}, {hook.iterations} iterations "
          f"at the planned clocks; GPU {args.gpu} restored")


if __name__ == "__main__":
    main()
