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

Checks (each fails with a message that says what to do):

- the executor's ``stage`` must be the engine's ``stage_id`` (at install for an engine
  instance, at the first ``train_batch`` of each engine for the class);
- the k-th forward (backward) pass of an iteration must use the buffer of the k-th microbatch
  (``buffer_id == k % num_pipe_buffers`` of the ``TrainSchedule``, DeepSpeed's mapping from
  micro-batch ids to buffers): a schedule of another order than the plan's is refused before
  the pass runs;
- DeepSpeed's DualPipeV (``deepspeed.runtime.pipe.dualpipev.DualPipeVEngine``, its
  ``DualPipeVSchedule``) is refused: each rank runs two stages of a V-shaped pipeline and
  overlaps a forward with a backward in one computation, which a per-stage Perseus plan of
  forward and backward computations cannot describe. Use the ordinary ``PipelineEngine``
  (``TrainSchedule``, 1F1B).

DeepSpeed itself is imported only when :meth:`DeepSpeedHook.install` is called without an
engine.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Dict, Optional

from .._errors import ErgonError, Status
from ._base import PlanHook, Sync, _describe

__all__ = ["DeepSpeedHook"]

#: The methods wrapped, with the plan instruction each one runs.
PASSES = {"_exec_forward_pass": "forward", "_exec_backward_pass": "backward"}
#: The schedule instruction classes (by name) dispatched to each method.
COMMANDS = {"ForwardPass": "_exec_forward_pass", "BackwardPass": "_exec_backward_pass"}
#: Engines and schedules (class names, anywhere in the MRO) that cannot be planned.
UNPLANNABLE = {
    "DualPipeVEngine": "DeepSpeed's DualPipeV",
    "DualPipeVSchedule": "DeepSpeed's DualPipeV schedule",
}
_DUALPIPE_ADVICE = (
    "each rank runs two stages of a V-shaped pipeline and overlaps a forward with a backward "
    "in one computation, which a per-stage Perseus plan cannot describe; train with the "
    "ordinary PipelineEngine (deepspeed.pipe.PipelineModule, TrainSchedule)"
)


def _unplannable(obj: Any) -> Optional[str]:
    cls = obj if isinstance(obj, type) else type(obj)
    for base in cls.__mro__:
        if base.__name__ in UNPLANNABLE:
            return UNPLANNABLE[base.__name__]
    return None


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
        # The engines already checked (weakly: an engine is not kept alive by its hook); the
        # buffer count of the schedule each engine runs now (by id, only while it runs).
        self._checked: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._buffers: Dict[int, int] = {}

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
            refused = _unplannable(engine)
            if refused is not None:
                raise ErgonError(
                    Status.INVALID_ARGUMENT,
                    f"{self._what}: {refused} cannot be planned: {_DUALPIPE_ADVICE}",
                )
            for name in (*PASSES, "train_batch", "_exec_schedule"):
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
            if not isinstance(engine, type):
                self._check_engine(engine)
            new_table = dict(table)
            for command, method in COMMANDS.items():
                key = keys[command]
                # Called as MethodType(function, engine)(buffer_id=...): args[0] is the engine.
                new_table[key] = self._instruction(
                    table[key], PASSES[method], method, self._identify(PASSES[method], None)
                )
            try:
                self._patch(engine, "_INSTRUCTION_MAP", new_table)
                for method, kind in PASSES.items():
                    # A function on the class, a bound method on an instance: either way the
                    # wrapper passes its arguments through.
                    bound = None if isinstance(engine, type) else engine
                    self._patch(
                        engine,
                        method,
                        self._instruction(
                            getattr(engine, method), kind, method, self._identify(kind, bound)
                        ),
                    )
                self._patch(engine, "train_batch", self._iteration(engine.train_batch))
                self._patch(
                    engine,
                    "_exec_schedule",
                    self._schedule(engine._exec_schedule, None if engine is cls else engine),
                )
            except BaseException:
                self.uninstall()
                raise
        return self

    # --- wrappers ----------------------------------------------------------------------------

    def _check_engine(self, engine: Any) -> None:
        """The engine's own identity against the plan's: its stage, its kind."""
        try:
            if engine in self._checked:
                return
        except TypeError:  # not weakly referenceable: checked every time
            pass
        refused = _unplannable(engine)
        if refused is not None:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"{self._what}: {refused} cannot be planned: {_DUALPIPE_ADVICE}",
            )
        self._check_stage(getattr(engine, "stage_id", None), "DeepSpeed engine.stage_id")
        try:
            self._checked.add(engine)
        except TypeError:
            pass

    def _schedule(self, fn: Callable[..., Any], bound: Any) -> Callable[..., Any]:
        """``_exec_schedule(self, pipe_schedule)``: refuses schedules that cannot be planned
        and records the schedule's buffer count (for the micro-batch identity check)."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            engine, schedule = _engine_and_schedule(bound, args, kwargs)
            if self._applies() and schedule is not None:
                refused = _unplannable(schedule)
                if refused is not None:
                    raise ErgonError(
                        Status.INVALID_ARGUMENT,
                        f"{self._what}: {refused} cannot be planned: {_DUALPIPE_ADVICE}",
                    )
                buffers = getattr(schedule, "num_pipe_buffers", None)
                if callable(buffers) and engine is not None:
                    self._buffers[id(engine)] = int(buffers())
            try:
                return fn(*args, **kwargs)
            finally:
                if engine is not None:
                    self._buffers.pop(id(engine), None)

        return self._mark(wrapper)

    def _identify(self, kind: str, bound: Any) -> Callable[[Any, Any], None]:
        """The micro-batch identity check of a ``kind`` pass (``bound``: the engine of a bound
        method, else the engine is the call's first argument)."""

        def identify(args: Any, kwargs: Any) -> None:
            if not self._applies():
                return  # outside train_batch (evaluation): not checked
            engine = bound
            rest = args
            if engine is None and args:
                engine, rest = args[0], args[1:]
            if engine is None:
                return
            self._check_engine(engine)
            buffers = self._buffers.get(id(engine))
            buffer_id = kwargs.get("buffer_id", rest[0] if rest else None)
            if buffers is None or buffers <= 0 or not isinstance(buffer_id, int):
                return
            k = self._forwards if kind == "forward" else self._backwards
            if buffer_id != k % buffers:
                raise self._mismatch(
                    f"the {kind} pass of micro-batch {k} should use pipe buffer {k % buffers} "
                    f"of {buffers}, but DeepSpeed runs buffer {buffer_id}: the engine's "
                    f"schedule runs micro-batches in another order than the plan"
                )

        return identify

    def _iteration(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``train_batch`` (function or bound method) as one iteration: ``step_end`` when it
        returns; a rewound plan when it raises."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.step():
                return fn(*args, **kwargs)

        return self._mark(wrapper)


def _engine_and_schedule(bound: Any, args: Any, kwargs: Any) -> Any:
    """``(engine, pipe_schedule)`` of an ``_exec_schedule`` call: of the function on the class
    (``bound`` None: the engine is the first argument) or of ``bound``'s bound method."""
    if bound is None:
        if not args:
            return None, kwargs.get("pipe_schedule")
        bound, args = args[0], args[1:]
    return bound, kwargs.get("pipe_schedule", args[0] if args else None)
