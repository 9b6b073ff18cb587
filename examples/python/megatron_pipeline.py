"""Perseus GPU clocks in a Megatron-Core pipeline-parallel job: what to add to a training loop.

The additions are marked ``# ergon``: build the frontier from the stages' profiles, make the
plan executor of this rank's GPU and pipeline stage, install the hook BEFORE the loop fetches
``get_forward_backward_func()`` (Megatron-LM's ``train()`` fetches it once; a function fetched
before ``install()`` is refused at its first forward). Every ``forward_step``/``backward_step``
of a training schedule call then runs at its planned clock (1F1B, or interleaved 1F1B with
``--vp 2``), and leaving the ``with`` block restores the GPU::

    torchrun --nproc-per-node 2 examples/python/megatron_pipeline.py --profile profile.csv

On a machine without a GPU (what CI runs): ``--cpu`` (gloo, and the shim of
``megatron_cpu.py`` for the three CUDA calls Megatron-Core makes) and the fake NVML
(``ERGON_NVML_LIBRARY=.../libnvidia-ml.so.1`` from ``tests/fake-nvml``). Setting clocks on a
real GPU needs CAP_SYS_ADMIN.
"""

from __future__ import annotations

import argparse
import contextlib
import os

import torch
import torch.distributed as dist
from megatron.core import parallel_state as mpu
from megatron.core.enums import ModelType
from megatron.core.pipeline_parallel import schedules
from megatron.core.transformer.transformer_config import TransformerConfig

import ergon  # ergon
from ergon import gpu  # ergon
from ergon.hooks import MegatronHook  # ergon

HIDDEN, SEQ, MICRO_BATCH = 16, 8, 2


class Chunk(torch.nn.Module):
    """One model chunk: a Linear layer; the first chunk of the pipeline reads the data."""

    def __init__(self, config: TransformerConfig, first: bool, vp_stage: "int | None") -> None:
        super().__init__()
        self.config, self.model_type, self.first = config, ModelType.encoder_or_decoder, first
        self.vp_stage = vp_stage
        self.linear = torch.nn.Linear(HIDDEN, HIDDEN)
        self.input_tensor = None

    def set_input_tensor(self, tensor):  # type: ignore[no-untyped-def]
        self.input_tensor = tensor[0] if isinstance(tensor, list) else tensor

    def forward(self, x):  # type: ignore[no-untyped-def]
        return torch.tanh(self.linear(x if self.first else self.input_tensor))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="zeus profile CSV of every stage")
    ap.add_argument("--pp", type=int, default=2)
    ap.add_argument("--vp", type=int, default=1, help="model chunks per GPU (interleaved)")
    ap.add_argument("--microbatches", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--cpu", action="store_true", help="no GPU: gloo and megatron_cpu's shim")
    ap.add_argument("--gpu", default=os.environ.get("LOCAL_RANK", "0"),
                    help="this rank's GPU (NVML index or UUID; default LOCAL_RANK)")
    args = ap.parse_args()

    dist.init_process_group("gloo" if args.cpu else "nccl")
    vp = args.vp if args.vp > 1 else None
    mpu.initialize_model_parallel(pipeline_model_parallel_size=args.pp,
                                  virtual_pipeline_model_parallel_size=vp)
    config = TransformerConfig(num_layers=args.pp * args.vp, hidden_size=HIDDEN,
                               num_attention_heads=1, pipeline_model_parallel_size=args.pp,
                               virtual_pipeline_model_parallel_size=vp,
                               pipeline_dtype=torch.float32)
    stage = mpu.get_pipeline_model_parallel_rank()
    model = [Chunk(config, first=(stage == 0 and v == 0), vp_stage=v if vp else None)
             for v in range(args.vp)]
    if not args.cpu:
        model = [m.cuda() for m in model]
    opt = torch.optim.SGD([p for m in model for p in m.parameters()], lr=0.05)

    def batches():
        g = torch.Generator().manual_seed(mpu.get_data_parallel_rank())
        while True:
            x = torch.randn(SEQ, MICRO_BATCH, HIDDEN, generator=g)
            yield (x.cuda(), x.mean(dim=2, keepdim=True).cuda()) if not args.cpu else (
                x, x.mean(dim=2, keepdim=True))

    def forward_step(data_iterator, chunk):  # type: ignore[no-untyped-def]
        x, y = next(data_iterator)
        out = chunk(x)
        return out, lambda o: (torch.nn.functional.mse_loss(o[..., :1], y),
                               {"loss": torch.nn.functional.mse_loss(o[..., :1], y).detach()})

    # ergon: the frontier of the whole pipeline, the executor of this rank's stage, and the
    # hook, installed before get_forward_backward_func() (config= refuses at once what a plan
    # cannot describe, and checks the executor's stage against Megatron's pipeline rank).
    frontier = ergon.Frontier.from_profile_csv(
        args.profile, stages=args.pp, microbatches=args.microbatches, unit_time_s=0.001,
        p_blocking_w=60.0, schedule="interleaved_1f1b" if vp else "1f1b",
        virtual_stages=args.vp if vp else 0)
    executor = gpu.PlanExecutor(args.gpu, frontier, stage=stage)
    with MegatronHook(executor).install(config=config) as hook:
        forward_backward = schedules.get_forward_backward_func()
        data = [batches() for _ in model] if vp else batches()
        shim: contextlib.AbstractContextManager = contextlib.nullcontext()
        for step in range(args.steps):
            if args.cpu:
                from megatron_cpu import cuda_on_cpu  # this directory; CPU only

                shim = cuda_on_cpu()
            opt.zero_grad()
            with shim:
                losses = forward_backward(
                    forward_step_func=forward_step, data_iterator=data,
                    model=model if vp else model[0], num_microbatches=args.microbatches,
                    seq_length=SEQ, micro_batch_size=MICRO_BATCH, forward_only=False)
            opt.step()
            if losses:  # the last stage
                mean = sum(float(x["loss"]) for x in losses) / len(losses)
                print(f"step {step}: loss {mean:.4f}")
    print(f"rank {dist.get_rank()}: stage {stage}, {hook.iterations} iterations at the planned "
          f"clocks; GPU {args.gpu} restored")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
