"""One rank of a tiny Megatron-Core pipeline-parallel job on CPU (gloo), with or without ergon.

The real ``megatron.core.pipeline_parallel.schedules`` (``get_forward_backward_func()``: 1F1B,
or interleaved 1F1B with ``--vp 2``) trains a stack of ``torch.nn.Linear`` layers cut into
``pp × vp`` model chunks; the only patch is ``examples/python/megatron_cpu.py`` (CUDA calls on a CPU). Data
parallelism (``world = pp × dp``) all-reduces the gradients over Megatron's data-parallel group
after each schedule call, as a training loop with plain torch modules does. Writes
``rank<R>.json`` into ``--out`` like ``ds_job.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# The CPU shim is the one the Megatron example uses (examples/python/megatron_cpu.py).
sys.path.insert(0, str(HERE.parents[3] / "examples" / "python"))

from common import (  # noqa: E402
    OtherStage,
    Recorder,
    frontier_for,
    job_arguments,
    per_rank_nvml,
    refused_message,
    sigterm_ready,
)

HIDDEN = 8
SEQ = 4
MICRO_BATCH = 2


def main() -> int:
    ap = job_arguments()
    ap.add_argument("--vp", type=int, default=1, help="model chunks per rank (interleaved)")
    ap.add_argument("--baseline", action="store_true",
                    help="train without ergon first, in the same process (rank<R>.json's "
                         "\"plain\")")
    ap.add_argument("--fetch-before-install", action="store_true",
                    help="get_forward_backward_func() before the hook is installed, as "
                         "Megatron-LM's train() does")
    args = ap.parse_args()
    out = Path(args.out)
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    if args.ergon:
        per_rank_nvml(out, rank)

    import torch
    import torch.distributed as dist
    from megatron.core import parallel_state as mpu
    from megatron.core.transformer.transformer_config import TransformerConfig
    from megatron.core.pipeline_parallel import schedules

    from megatron_cpu import cuda_on_cpu

    torch.use_deterministic_algorithms(True)
    dist.init_process_group("gloo")
    vp = args.vp if args.vp > 1 else None
    mpu.initialize_model_parallel(pipeline_model_parallel_size=args.pp,
                                  virtual_pipeline_model_parallel_size=vp)
    stage = mpu.get_pipeline_model_parallel_rank()
    dp_rank = mpu.get_data_parallel_rank()
    config = TransformerConfig(num_layers=args.pp * args.vp, hidden_size=HIDDEN,
                               num_attention_heads=1, pipeline_model_parallel_size=args.pp,
                               virtual_pipeline_model_parallel_size=vp,
                               pipeline_dtype=torch.float32)
    chunks = args.vp
    total = args.pp * chunks

    class Chunk(torch.nn.Module):
        """Model chunk ``vp_stage`` of this stage: one Linear; the first chunk of the pipeline
        reads the data, the last one computes the loss."""

        def __init__(self, vp_stage: int) -> None:
            super().__init__()
            self.config = config
            self.model_type = None
            self.vp_stage = vp_stage if vp else None
            self.index = vp_stage * args.pp + stage  # position in the whole model
            torch.manual_seed(100 + self.index)  # the same weights on every data-parallel rank
            self.linear = torch.nn.Linear(HIDDEN, HIDDEN)
            self.input_tensor = None

        def set_input_tensor(self, tensor):  # type: ignore[no-untyped-def]
            self.input_tensor = tensor[0] if isinstance(tensor, list) else tensor

        def forward(self, x):  # type: ignore[no-untyped-def]
            if self.index != 0:
                x = self.input_tensor
            return torch.tanh(self.linear(x))

    from megatron.core.enums import ModelType

    def train(with_ergon: bool) -> Dict[str, Any]:
        """Trains ``--steps`` iterations from the same initial weights and data every time;
        returns this rank's result (with the hook's calls when ``with_ergon``)."""
        model = [Chunk(v) for v in range(chunks)]
        for m in model:
            m.model_type = ModelType.encoder_or_decoder
        params = [p for m in model for p in m.parameters()]
        opt = torch.optim.SGD(params, lr=0.05)
        gen = torch.Generator().manual_seed(1234 + dp_rank)

        def batches():
            while True:
                x = torch.randn(SEQ, MICRO_BATCH, HIDDEN, generator=gen)
                yield x, x.sum(dim=2, keepdim=True).expand(-1, -1, HIDDEN) / HIDDEN

        data = [batches() for _ in range(chunks)] if vp else batches()
        last = [m.index == total - 1 for m in model]

        def forward_step_func(data_iterator, chunk):  # type: ignore[no-untyped-def]
            x, y = next(data_iterator)  # every chunk draws, so the iterators stay in step
            out = chunk(x)

            def loss_func(output):  # type: ignore[no-untyped-def]
                loss = torch.nn.functional.mse_loss(output, y)
                return loss, {"loss": loss.detach()}

            return out, loss_func

        hook = recorder = None
        fetched = schedules.get_forward_backward_func() if args.fetch_before_install else None
        if with_ergon:
            from ergon import gpu
            from ergon.hooks import MegatronHook

            schedule = "interleaved_1f1b" if vp else "1f1b"
            frontier = frontier_for(args.pp, args.microbatches, schedule=schedule,
                                    virtual_stages=args.vp if vp else 0)
            executor = gpu.PlanExecutor("0", frontier, stage=stage)
            recorder = Recorder(executor, wait=True)
            wrong = refused_message(
                lambda: MegatronHook(OtherStage(1 - stage), sync=None).install(config=config))
            hook = MegatronHook(recorder, sync=None).install(config=config)
            program = frontier.plan().stages[stage]
        run = fetched or schedules.get_forward_backward_func()

        losses = []
        steps = args.steps if not args.wait_for_sigterm else 10**9
        for step in range(steps):
            opt.zero_grad()
            with cuda_on_cpu():
                result = run(forward_step_func=forward_step_func, data_iterator=data,
                             model=model if vp else model[0], num_microbatches=args.microbatches,
                             seq_length=SEQ, micro_batch_size=MICRO_BATCH, forward_only=False)
            if world > args.pp:  # data parallelism: average the gradients over the replicas
                group = mpu.get_data_parallel_group()
                for p in params:
                    dist.all_reduce(p.grad, group=group)
                    p.grad /= dist.get_world_size(group)
            opt.step()
            if any(last):
                losses.append([float(r["loss"]).hex() for r in result])
            if step == 0 and args.wait_for_sigterm:
                sigterm_ready(out, rank)
            if args.wait_for_sigterm:
                time.sleep(0.05)
        doc: Dict[str, Any] = {"rank": rank, "stage": stage, "dp_id": dp_rank, "losses": losses,
                               "weights": [float(p.detach().sum()).hex() for p in params]}
        if hook is not None:
            doc.update(calls=recorder.calls, iterations=hook.iterations, wrong_stage=wrong,
                       program=[list(p) for p in program])
            hook.close()
        return doc

    result_doc: Dict[str, Any] = {}
    if args.baseline:  # the same job without ergon first, in this process
        result_doc["plain"] = train(False)
    result_doc.update(train(args.ergon))
    (out / f"rank{rank}.json").write_text(json.dumps(result_doc))
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
