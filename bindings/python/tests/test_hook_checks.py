"""The hooks' identity checks and refusals (issue 15 item 6), in process, against small
STAND-INS (a module with Megatron's ``forward_step``/``backward_step``/schedule signatures, an
engine class with DeepSpeed's names: test doubles, not the frameworks) and a recording driven
object (no GPU). The real frameworks are exercised in ``test_frameworks_*.py``."""

from __future__ import annotations

import types
from typing import Any, List, Optional

import pytest
from conftest import fails

from ergon import Status
from ergon.hooks import DeepSpeedHook, MegatronHook


class Driven:
    """A driven object with the three methods of a profiler, and a stage."""

    def __init__(self, stage: Optional[int] = 0, with_end: bool = True) -> None:
        self.calls: List[str] = []
        if stage is not None:
            self.stage = stage
        if with_end:
            self.instruction_end = lambda kind: self.calls.append(f"end:{kind}")

    def instruction_begin(self, kind: str) -> None:
        self.calls.append(kind)

    def step_end(self) -> None:
        self.calls.append("step_end")


def megatron_standin(order: List[Any], rank: int = 0) -> types.ModuleType:
    """STAND-IN of ``megatron.core.pipeline_parallel.schedules``: the training schedule runs
    ``order`` (("F", microbatch, vp_stage) or ("B",)) and reports ``rank`` as its pipeline
    rank through ``pg_collection.pp``."""
    m = types.ModuleType("standin_schedules")
    ran: List[Any] = []

    def forward_step(forward_step_func, data_iterator, model, num_microbatches, input_tensor,
                     forward_data_store, config, cp_group_size=None, collect_non_loss_data=False,
                     checkpoint_activations_microbatch=None, is_first_microbatch=False,
                     current_microbatch=None, vp_stage=None, is_last_stage=True):
        ran.append(("F", current_microbatch, vp_stage))
        return "out", 1

    def backward_step(input_tensor, output_tensor, output_tensor_grad, model_type, config):
        ran.append(("B",))

    def forward_backward_pipelining_without_interleaving(
            *, forward_step_func, data_iterator, model, num_microbatches, seq_length,
            micro_batch_size, forward_only=False, pg_collection=None):
        for step in order:
            if step[0] == "F":
                m.forward_step(None, None, model, num_microbatches, None, [], None,
                               current_microbatch=step[1], vp_stage=step[2])
            elif not forward_only:
                m.backward_step(None, "out", None, None, None)
        return {}

    m.forward_step = forward_step
    m.backward_step = backward_step
    m.forward_backward_pipelining_without_interleaving = (
        forward_backward_pipelining_without_interleaving)
    m.get_forward_backward_func = lambda: m.forward_backward_pipelining_without_interleaving
    m.ran = ran
    m.pg = types.SimpleNamespace(pp=types.SimpleNamespace(rank=lambda: rank, size=lambda: 2))
    return m


def run(m: types.ModuleType, fn: Any = None, microbatches: int = 2, model: Any = None) -> Any:
    fn = fn or m.get_forward_backward_func()
    return fn(forward_step_func=None, data_iterator=None, model=model, num_microbatches=microbatches,
              seq_length=1, micro_batch_size=1, pg_collection=m.pg)


ONE_F_ONE_B = [("F", 0, None), ("F", 1, None), ("B",), ("B",)]


def test_megatron_end_calls_and_fetched_before_install() -> None:
    m = megatron_standin(ONE_F_ONE_B)
    fetched = m.get_forward_backward_func()  # as Megatron-LM's train() does, before install
    driven = Driven()
    hook = MegatronHook(driven, sync=None).install(m)
    run(m)
    assert driven.calls == ["forward", "end:forward", "forward", "end:forward", "backward",
                            "end:backward", "backward", "end:backward", "step_end"]
    ran = len(m.ran)
    with fails(Status.INVALID_STATE, "outside a wrapped schedule call", "before install()",
               "auto_step=False"):
        run(m, fetched)
    assert len(m.ran) == ran  # refused before the computation
    # auto_step=False: the loop ends iterations itself; the fetched function works.
    hook.close()
    driven = Driven(with_end=False)
    hook = MegatronHook(driven, auto_step=False, sync=None).install(m)
    run(m, fetched)
    hook.step_end()
    assert driven.calls == ["forward", "forward", "backward", "backward", "step_end"]
    hook.close()


@pytest.mark.parametrize(
    "order,parts",
    [
        ([("F", 1, None), ("F", 0, None), ("B",), ("B",)],
         ["forward 0 should be microbatch 0", "current_microbatch=1"]),
        ([("F", 0, 1), ("F", 1, 0), ("B",), ("B",)],
         ["forward 0 should run model chunk (vp_stage) 0", "vp_stage=1"]),
    ],
)
def test_megatron_microbatch_identity(order: List[Any], parts: List[str]) -> None:
    m = megatron_standin(order)
    driven = Driven()
    with MegatronHook(driven, sync=None).install(m):
        with fails(Status.INVALID_STATE, "Megatron hook", *parts):
            run(m, model=[object(), object()] if order[0][2] is not None else None)
    assert driven.calls == ["step_end"]  # nothing was applied; the plan was rewound


def test_megatron_stage_identity() -> None:
    m = megatron_standin(ONE_F_ONE_B, rank=1)
    driven = Driven(stage=0)
    with MegatronHook(driven, sync=None).install(m):
        with fails(Status.INVALID_ARGUMENT, "plan of pipeline stage 0",
                   "this rank is pipeline stage 1", "pg_collection.pp", "stage=1"):
            run(m)
    assert m.ran == [] and driven.calls == []


@pytest.mark.parametrize(
    "config,parts",
    [
        (dict(overlap_moe_expert_parallel_comm=True), ["combined 1F1B",
                                                       "overlap_moe_expert_parallel_comm=False"]),
        (dict(virtual_pipeline_model_parallel_size=2, pipeline_model_parallel_size=2,
              microbatch_group_size_per_vp_stage=4),
         ["microbatch_group_size_per_vp_stage=4", "set it to 2"]),
        (dict(cuda_graph_impl="local", cuda_graph_scope=["full_iteration"]),
         ["CUDA-graph iterations", "full_iteration"]),
    ],
)
def test_megatron_unplannable_schedules_refused(config: Any, parts: List[str]) -> None:
    m = megatron_standin(ONE_F_ONE_B)
    cfg = types.SimpleNamespace(**config)
    hook = MegatronHook(Driven(), sync=None)
    with fails(Status.INVALID_ARGUMENT, "cannot be planned", *parts):
        hook.install(m, config=cfg)
    assert not hook.installed
    # Without config= at install, the first training call refuses before anything runs.
    hook.install(m)
    model = types.SimpleNamespace(config=cfg)
    with fails(Status.INVALID_ARGUMENT, "cannot be planned", *parts):
        run(m, model=model)
    assert m.ran == []
    hook.close()
    # The plannable cases of the same settings pass.
    MegatronHook(Driven(), sync=None).install(
        megatron_standin(ONE_F_ONE_B),
        config=types.SimpleNamespace(overlap_moe_expert_parallel_comm=False,
                                     virtual_pipeline_model_parallel_size=2,
                                     pipeline_model_parallel_size=2,
                                     microbatch_group_size_per_vp_stage=2,
                                     cuda_graph_impl="local", cuda_graph_scope=["attn"]),
    ).close()


# --- DeepSpeed ---------------------------------------------------------------------------------


class Schedule:
    """STAND-IN of a DeepSpeed TrainSchedule: forwards then backwards on buffers."""

    def __init__(self, buffers: List[int], pipe_buffers: int) -> None:
        self.buffers, self.pipe_buffers = buffers, pipe_buffers

    def num_pipe_buffers(self) -> int:
        return self.pipe_buffers


class PipelineEngine:
    """STAND-IN with DeepSpeed's PipelineEngine names (dispatch through _INSTRUCTION_MAP)."""

    def __init__(self, stage_id: int = 0, buffers: Optional[List[int]] = None) -> None:
        self.stage_id = stage_id
        self.buffers = buffers or [0, 1]
        self.ran: List[Any] = []

    def train_batch(self, data_iter: Any = None) -> str:
        self._exec_schedule(Schedule(self.buffers, 2))
        return "loss"

    def _exec_schedule(self, pipe_schedule: Any) -> None:
        for b in pipe_schedule.buffers:
            types.MethodType(self._INSTRUCTION_MAP[ForwardPass], self)(buffer_id=b)
        for b in pipe_schedule.buffers:
            types.MethodType(self._INSTRUCTION_MAP[BackwardPass], self)(buffer_id=b)

    def _exec_forward_pass(self, buffer_id: int) -> None:
        self.ran.append(("F", buffer_id))

    def _exec_backward_pass(self, buffer_id: int) -> None:
        self.ran.append(("B", buffer_id))


class ForwardPass:
    pass


class BackwardPass:
    pass


PipelineEngine._INSTRUCTION_MAP = {  # type: ignore[attr-defined]
    ForwardPass: PipelineEngine._exec_forward_pass,
    BackwardPass: PipelineEngine._exec_backward_pass,
}


class DualPipeVEngine(PipelineEngine):
    """STAND-IN named as DeepSpeed's DualPipeV engine."""


def test_deepspeed_identity_and_dualpipev() -> None:
    driven = Driven()
    engine = PipelineEngine()
    with DeepSpeedHook(driven, sync=None).install(engine):
        engine.train_batch()
    assert driven.calls == ["forward", "end:forward", "forward", "end:forward", "backward",
                            "end:backward", "backward", "end:backward", "step_end"]
    # Micro-batches out of order: refused before the pass runs.
    swapped = PipelineEngine(buffers=[1, 0])
    with DeepSpeedHook(Driven(), sync=None).install(swapped):
        with fails(Status.INVALID_STATE, "micro-batch 0 should use pipe buffer 0",
                   "DeepSpeed runs buffer 1"):
            swapped.train_batch()
    assert swapped.ran == []
    # The executor's stage is not the engine's.
    with fails(Status.INVALID_ARGUMENT, "plan of pipeline stage 0", "pipeline stage 1",
               "engine.stage_id"):
        DeepSpeedHook(Driven(stage=0), sync=None).install(PipelineEngine(stage_id=1))
    # DualPipeV: refused at install (instance or class), and at train_batch when the hook was
    # installed on the base class.
    for target in (DualPipeVEngine(), DualPipeVEngine):
        with fails(Status.INVALID_ARGUMENT, "DualPipeV", "cannot be planned", "PipelineEngine"):
            DeepSpeedHook(Driven(), sync=None).install(target)
    with DeepSpeedHook(Driven(), sync=None).install(PipelineEngine):
        dual = DualPipeVEngine()
        with fails(Status.INVALID_ARGUMENT, "DualPipeV"):
            dual.train_batch()
        assert dual.ran == []
