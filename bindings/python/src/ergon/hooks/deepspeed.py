"""Applying a frequency plan inside DeepSpeed's pipeline engine.

DeepSpeed's ``deepspeed.runtime.pipe.engine.PipelineEngine`` runs one training iteration in
``train_batch(self, data_iter=None)``, which executes a ``TrainSchedule`` through
``_exec_schedule``: every instruction is dispatched through the class-level table
``_INSTRUCTION_MAP`` (``schedule.ForwardPass`` → ``_exec_forward_pass(self, buffer_id)``,
``schedule.BackwardPass`` → ``_exec_backward_pass(self, buffer_id)``, ...), bound with
``MethodType(self._INSTRUCTION_MAP[type(cmd)], self)``. The table holds the functions themselves,
so replacing only the methods would not change what runs: the hook also installs its own copy of
the table with the two passes wrapped (as the Perseus integration of the Merak fork calls
``on_instruction_begin`` around each ``ForwardPass``/``BackwardPass`` command).

::

    from ergon import gpu
    from ergon.hooks import DeepSpeedHook

    engine, *_ = deepspeed.initialize(model=pipeline_module, ...)
    executor = gpu.PlanExecutor(local_rank, frontier, stage=engine.stage_id)
    with DeepSpeedHook(executor).install(engine):
        for _ in range(steps):
            engine.train_batch()            # one iteration: the plan is checked and rewound

Inside ``train_batch`` every forward and backward pass calls
``executor.instruction_begin("forward" | "backward")`` first (after synchronizing the CUDA
device, as Perseus does), and the end of ``train_batch`` calls ``executor.step_end()``. Passes
outside ``train_batch`` (``eval_batch``, inference) run untouched. Leaving the ``with`` block
(or :meth:`~ergon.hooks.PlanHook.close`, or interpreter exit) uninstalls the hook and closes the
executor, which restores the GPU's clocks and power limit.

DeepSpeed itself is imported only when :meth:`DeepSpeedHook.install` is called without an
engine.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from ._base import PlanHook, Sync, _describe

__all__ = ["DeepSpeedHook"]

#: The methods wrapped, with the plan instruction each one runs.
PASSES = {"_exec_forward_pass": "forward", "_exec_backward_pass": "backward"}
#: The schedule instruction classes (by name) dispatched to each method.
COMMANDS = {"ForwardPass": "_exec_forward_pass", "BackwardPass": "_exec_backward_pass"}


class DeepSpeedHook(PlanHook):
    """Drives a :class:`~ergon.gpu.PlanExecutor` from a DeepSpeed ``PipelineEngine`` (see the
    module documentation).

    Args:
        executor: the plan executor of this rank's GPU and pipeline stage.
        sync: ``"cuda"`` (default: ``torch.cuda.synchronize()`` before each instruction when
            CUDA is available), ``None``, or a callable.
        close_executor: close the executor when the hook is closed (default true).
    """

    _what = "DeepSpeed hook"

    def __init__(self, executor: Any, *, sync: Sync = "cuda", close_executor: bool = True):
        super().__init__(executor, sync=sync, close_executor=close_executor, always=False)

    def install(self, engine: Any = None) -> "DeepSpeedHook":
        """Wraps the forward and backward passes and ``train_batch`` of ``engine``: a
        ``PipelineEngine`` instance (only that engine is affected) or class (every engine of it,
        including existing ones); by default the class
        ``deepspeed.runtime.pipe.engine.PipelineEngine``. Returns the hook.

        Raises:
            TypeError: ``engine`` is not a pipeline engine (a method or the
                ``ForwardPass``/``BackwardPass`` entries of ``_INSTRUCTION_MAP`` are missing).
            ErgonError: ``INVALID_STATE`` (already installed, or closed).
        """
        with self._lock:
            self._check_installable()
            if engine is None:
                from deepspeed.runtime.pipe.engine import PipelineEngine

                engine = PipelineEngine
            cls = engine if isinstance(engine, type) else type(engine)
            for name in (*PASSES, "train_batch"):
                if not callable(getattr(cls, name, None)):
                    raise TypeError(
                        f"{_describe(engine)} is not a DeepSpeed PipelineEngine: it has no "
                        f"{name}() method"
                    )
            table = getattr(engine, "_INSTRUCTION_MAP", None)
            if not isinstance(table, dict):
                raise TypeError(
                    f"{_describe(engine)} is not a DeepSpeed PipelineEngine: it has no "
                    f"_INSTRUCTION_MAP dict"
                )
            keys = {getattr(k, "__name__", None): k for k in table}
            missing = [c for c in COMMANDS if c not in keys]
            if missing:
                raise TypeError(
                    f"{_describe(engine)}._INSTRUCTION_MAP has no {' or '.join(missing)} entry: "
                    f"not a DeepSpeed PipelineEngine"
                )
            new_table = dict(table)
            for command, method in COMMANDS.items():
                key = keys[command]
                new_table[key] = self._instruction(table[key], PASSES[method], method)
            try:
                self._patch(engine, "_INSTRUCTION_MAP", new_table)
                for method, kind in PASSES.items():
                    # A function on the class, a bound method on an instance: either way the
                    # wrapper passes its arguments through.
                    self._patch(
                        engine, method, self._instruction(getattr(engine, method), kind, method)
                    )
                self._patch(engine, "train_batch", self._iteration(engine.train_batch))
            except BaseException:
                self.uninstall()
                raise
        return self

    # --- wrappers ----------------------------------------------------------------------------

    def _iteration(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``train_batch`` (function or bound method) as one iteration: ``step_end`` when it
        returns; a rewound plan when it raises."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.step():
                return fn(*args, **kwargs)

        return self._mark(wrapper)
