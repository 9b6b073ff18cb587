"""Trainer hooks that apply a Perseus frequency plan while a pipeline-parallel job trains.

Each hook drives an :class:`ergon.gpu.PlanExecutor` (one per rank: its GPU and its pipeline
stage): before every forward or backward computation it calls
``executor.instruction_begin("forward" | "backward")`` — the instruction names of
``ergon-plan/v1`` — and at the end of every training iteration ``executor.step_end()``, which
checks that the iteration ran the stage's planned program and rewinds it. A computation the plan
does not expect raises :class:`~ergon.ErgonError` (``INVALID_STATE``) before it runs.

- :class:`DeepSpeedHook` wraps ``deepspeed.runtime.pipe.engine.PipelineEngine``
  (``_exec_forward_pass``/``_exec_backward_pass``, an iteration per ``train_batch``);
- :class:`MegatronHook` wraps ``megatron.core.pipeline_parallel.schedules``
  (``forward_step``/``backward_step``, an iteration per training ``forward_backward_*`` call,
  or per :meth:`~PlanHook.step` block / :meth:`~PlanHook.step_end` call).

:class:`PerseusJob` (:mod:`ergon.hooks.distributed`) is Perseus across the ranks of a
``torch.distributed`` job: it profiles every stage, solves the frontier once on a planner rank,
gives each rank its stage's plan, and re-plans on-line when a straggler announces its iteration
time; the hooks above, or a plain training loop, drive it.

:class:`ergon.hooks.huggingface.PowerLimitCallback` (imported on its own: it imports
``transformers``) runs Zeus's power-limit optimizer (:mod:`ergon.zeus`) from a Hugging Face
``Trainer``.

:class:`ergon.hooks.flower.AuxoFedAvg` (imported on its own: it imports ``flwr``) is a Flower
FedAvg strategy that keeps one model per Auxo cohort (:mod:`ergon.auxo`).

``install()`` returns the hook, which is also a context manager: leaving the block (or
``close()``, or interpreter exit) uninstalls it and closes the executor, restoring the GPU's
settings; ``uninstall()`` alone puts the framework back and keeps the executor. Neither
DeepSpeed, Megatron nor torch is imported by this package until a hook needs it.
"""

from __future__ import annotations

from ._base import PlanHook, Sync
from .deepspeed import DeepSpeedHook
from .distributed import PerseusJob, PlanSwitch, announce_via_store
from .megatron import MegatronHook

__all__ = [
    "DeepSpeedHook",
    "MegatronHook",
    "PerseusJob",
    "PlanHook",
    "PlanSwitch",
    "Sync",
    "announce_via_store",
]
