"""Applying a frequency plan inside Megatron-LM's pipeline schedules.

``megatron.core.pipeline_parallel.schedules`` runs one training iteration in one of its
``forward_backward_*`` functions (``forward_backward_no_pipelining``,
``forward_backward_pipelining_without_interleaving`` for 1F1B,
``forward_backward_pipelining_with_interleaving``), which ``get_forward_backward_func()``
returns. They call the module-level functions ``forward_step(...)`` and ``backward_step(...)``
once per microbatch, looked up in the module when called, so replacing the module's attributes
wraps every computation (the integration Perseus users wire up for Megatron).

::

    from ergon import gpu
    from ergon.hooks import MegatronHook

    executor = gpu.PlanExecutor(local_rank, frontier, stage=mpu.get_pipeline_model_parallel_rank())
    with MegatronHook(executor).install():     # before the loop calls get_forward_backward_func()
        pretrain(...)

With ``auto_step=True`` (the default) every training call of a ``forward_backward_*`` function
(``forward_only`` false) is one iteration: each ``forward_step``/``backward_step`` inside calls
``executor.instruction_begin("forward" | "backward")`` first (after synchronizing the CUDA
device) and the function's return calls ``executor.step_end()``. Evaluation calls
(``forward_only=True``) and calls outside an iteration run untouched.

A schedule function fetched with ``get_forward_backward_func()`` *before*
:meth:`MegatronHook.install` (Megatron-LM's ``train()`` does this) is not wrapped; its
``forward_step`` calls are, and with ``auto_step=True`` the first of them raises
:class:`~ergon.ErgonError` (``INVALID_STATE``) saying so, before the computation runs, instead of
training zero planned iterations: install the hook before the loop fetches the function (before
``pretrain``/``train``), or mark iterations yourself as below.

Checks (each fails with a message that says what to do), at install when ``config=`` (the
model's ``TransformerConfig``/``ModelParallelConfig``) is given and at every training schedule
call before anything runs:

- schedules that cannot be planned are refused: interleaved 1F1B with
  ``microbatch_group_size_per_vp_stage`` ≠ the pipeline size (Perseus plans Megatron's default
  grouping), combined 1F1B (``overlap_moe_expert_parallel_comm``: a forward and a backward of
  two microbatches run as one overlapped computation), and CUDA-graph iterations
  (``cuda_graph_scope`` with ``full_iteration``: a replayed graph never calls ``forward_step``);
- the executor's ``stage`` must be the pipeline rank
  (``parallel_state.get_pipeline_model_parallel_rank()``, or the rank in the schedule's
  ``pg_collection.pp``);
- the k-th forward of an iteration must be the k-th (microbatch, model chunk) of Megatron's
  order (``current_microbatch`` and ``vp_stage`` as the schedule passes them; for interleaved
  1F1B the order of ``get_schedule_table``).

A training loop that calls ``forward_step``/``backward_step`` itself marks iterations itself,
either as a block::

    with hook.step():
        run_one_iteration()

or with ``MegatronHook(executor, auto_step=False)``, where every ``forward_step``/
``backward_step`` is applied and the loop calls ``hook.step_end()`` after each iteration
(evaluation then goes in ``with hook.paused():``).

Megatron is imported only when :meth:`MegatronHook.install` is called without a module.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, List, Optional, Tuple

from .._errors import ErgonError, Status
from ._base import PlanHook, Sync, _describe

__all__ = ["MegatronHook"]

#: The module functions wrapped as computations, with the plan instruction each one runs.
STEPS = {"forward_step": "forward", "backward_step": "backward"}
#: The schedule functions that run one iteration each (those present are wrapped).
SCHEDULES = (
    "forward_backward_no_pipelining",
    "forward_backward_pipelining_without_interleaving",
    "forward_backward_pipelining_with_interleaving",
)


class MegatronHook(PlanHook):
    """Drives a :class:`~ergon.gpu.PlanExecutor` from Megatron's pipeline schedules (see the
    module documentation).

    Args:
        executor: the plan executor of this rank's GPU and pipeline stage.
        auto_step: end an iteration at the return of each training ``forward_backward_*`` call
            (default); false: apply every step and let the loop call :meth:`step_end`.
        sync: ``"cuda"`` (default: ``torch.cuda.synchronize()`` before each instruction when
            CUDA is available), ``None``, or a callable.
        close_executor: close the executor when the hook is closed (default true).
    """

    _what = "Megatron hook"

    def __init__(
        self,
        executor: Any,
        *,
        auto_step: bool = True,
        sync: Sync = "cuda",
        close_executor: bool = True,
    ) -> None:
        super().__init__(executor, sync=sync, close_executor=close_executor, always=not auto_step)
        self._auto_step = bool(auto_step)
        self._schedules: Any = None
        # The (microbatch, model chunk) order of the forwards of the iteration running now.
        self._order: Optional[List[Tuple[int, Optional[int]]]] = None

    def install(self, schedules: Any = None, *, config: Any = None) -> "MegatronHook":
        """Wraps ``forward_step``, ``backward_step`` and the ``forward_backward_*`` functions
        of ``schedules`` (default: the module ``megatron.core.pipeline_parallel.schedules``).
        With ``config`` (the model's ``TransformerConfig``), refuses here what cannot be planned
        and checks the pipeline rank (see the module documentation). Returns the hook.

        Raises:
            TypeError: ``schedules`` lacks ``forward_step`` or ``backward_step``.
            ErgonError: ``INVALID_STATE`` (already installed, or closed), ``INVALID_ARGUMENT``
                (a schedule that cannot be planned, or the executor's stage is not this rank's
                pipeline stage).
        """
        with self._lock:
            self._check_installable()
            if schedules is None:
                import megatron.core.pipeline_parallel.schedules as schedules_module

                schedules = schedules_module
            if config is not None:
                self._check_config(config)
                self._check_stage(_pipeline_rank(None), _RANK_SOURCE)
            for name in STEPS:
                if not callable(getattr(schedules, name, None)):
                    raise TypeError(
                        f"{_describe(schedules)} has no {name}() function: not Megatron's "
                        f"pipeline_parallel.schedules module"
                    )
            self._schedules = schedules
            try:
                for name, kind in STEPS.items():
                    fn = getattr(schedules, name)
                    where = getattr(fn, "__name__", kind)
                    identify = self._identify_forward(fn) if kind == "forward" else None
                    self._patch(schedules, name, self._instruction(fn, kind, where, identify))
                for name in SCHEDULES:
                    fn = getattr(schedules, name, None)
                    if callable(fn):
                        self._patch(schedules, name, self._schedule(fn))
            except BaseException:
                self.uninstall()
                raise
        return self

    # --- wrappers ----------------------------------------------------------------------------

    def _schedule(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        try:
            signature: Optional[inspect.Signature] = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None

        def forward_only(args: Any, kwargs: Any) -> bool:
            # Keyword-only in current Megatron, positional in old releases.
            if "forward_only" in kwargs:
                return bool(kwargs["forward_only"])
            if signature is None:
                return False
            try:
                bound = signature.bind_partial(*args, **kwargs)
            except TypeError:
                return False  # the call itself will raise
            if "forward_only" in bound.arguments:
                return bool(bound.arguments["forward_only"])
            param = signature.parameters.get("forward_only")
            return bool(param is not None and param.default is True)

        def bound(args: Any, kwargs: Any) -> Any:
            if signature is None:
                return dict(kwargs)
            try:
                return signature.bind_partial(*args, **kwargs).arguments
            except TypeError:
                return dict(kwargs)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if forward_only(args, kwargs):
                with self.paused():
                    return fn(*args, **kwargs)
            arguments = bound(args, kwargs)
            self._before_schedule(arguments)
            if not self._auto_step:
                return fn(*args, **kwargs)
            with self.step():
                return fn(*args, **kwargs)

        return self._mark(wrapper)

    # --- checks ------------------------------------------------------------------------------

    def _check_config(self, config: Any) -> None:
        """Refuses the schedules a Perseus plan cannot describe (module documentation)."""
        refuse = []
        vp = getattr(config, "virtual_pipeline_model_parallel_size", None)
        pp = getattr(config, "pipeline_model_parallel_size", None)
        group = getattr(config, "microbatch_group_size_per_vp_stage", None)
        if vp is not None and vp > 1 and group is not None and pp is not None and group != pp:
            refuse.append(
                f"interleaved 1F1B with microbatch_group_size_per_vp_stage={group} != the "
                f"pipeline size {pp} (Perseus plans Megatron's default grouping: leave "
                f"microbatch_group_size_per_vp_stage unset or set it to {pp})"
            )
        if getattr(config, "overlap_moe_expert_parallel_comm", False):
            refuse.append(
                "combined 1F1B (overlap_moe_expert_parallel_comm=True runs the forward and the "
                "backward of two microbatches as one overlapped computation, which has no "
                "clock of its own in a plan: set overlap_moe_expert_parallel_comm=False)"
            )
        scopes = getattr(config, "cuda_graph_scope", None)
        if not isinstance(scopes, (list, tuple)):
            scopes = [scopes]
        impl = getattr(config, "cuda_graph_impl", "none")
        if impl not in (None, "none") and any(
            getattr(x, "name", x) == "full_iteration" for x in scopes
        ):
            refuse.append(
                "CUDA-graph iterations (cuda_graph_scope full_iteration: a replayed graph never "
                "calls forward_step, so no computation can be clocked; capture per layer "
                "(attn, mlp) or not at all)"
            )
        if refuse:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"{self._what}: this schedule cannot be planned: {'; '.join(refuse)}",
            )

    def _before_schedule(self, arguments: Any) -> None:
        """A training schedule call: its config, pipeline rank and forward order."""
        model = arguments.get("model")
        chunks = model if isinstance(model, (list, tuple)) else [model]
        config = getattr(chunks[0], "config", None) if chunks else None
        if config is None and chunks:
            config = _model_config(chunks[0])
        if config is not None:
            self._check_config(config)
        pg = arguments.get("pg_collection")
        pp = getattr(pg, "pp", None) if pg is not None else None
        self._check_stage(_pipeline_rank(pp), "pg_collection.pp" if pp else _RANK_SOURCE)
        microbatches = arguments.get("num_microbatches")
        if not isinstance(microbatches, int):
            self._order = None
            return
        if len(chunks) > 1:
            group = getattr(config, "microbatch_group_size_per_vp_stage", None)
            if not isinstance(group, int) or group <= 0:
                group = _pipeline_size(pp) or microbatches
            table = getattr(self._schedules, "get_schedule_table", None)
            if callable(table):
                pairs = table(microbatches, len(chunks), group)
            else:
                pairs = _schedule_table(microbatches, len(chunks), group)
            self._order = [(int(m), int(c)) for m, c in pairs]
        else:
            self._order = [(m, None) for m in range(microbatches)]

    def _identify_forward(self, fn: Callable[..., Any]) -> Callable[[Any, Any], None]:
        """The identity check of a ``forward_step`` call against :attr:`_order`."""
        try:
            signature: Optional[inspect.Signature] = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None

        def identify(args: Any, kwargs: Any) -> None:
            if self._auto_step and self._depth == 0:
                raise ErgonError(
                    Status.INVALID_STATE,
                    f"{self._what}: forward_step ran outside a wrapped schedule call: the "
                    f"training loop holds a schedule function that get_forward_backward_func() "
                    f"returned before install() (Megatron-LM's train() fetches it once), so no "
                    f"iteration would be planned. Install the hook before the loop fetches the "
                    f"function, or make it with auto_step=False and call hook.step_end() after "
                    f"each iteration (or run each iteration in `with hook.step():`)",
                )
            order = self._order
            if order is None or signature is None or not self._applies():
                return
            try:
                arguments = signature.bind_partial(*args, **kwargs).arguments
            except TypeError:
                return
            k = self._forwards
            if k >= len(order):
                return  # the executor reports a forward past the plan's end
            microbatch, chunk = order[k]
            got_mb = arguments.get("current_microbatch")
            got_chunk = arguments.get("vp_stage")
            if got_mb is not None and got_mb != microbatch:
                raise self._mismatch(
                    f"forward {k} should be microbatch {microbatch}"
                    f"{'' if chunk is None else f' of model chunk {chunk}'}, but Megatron runs "
                    f"current_microbatch={got_mb}"
                )
            if chunk is not None and got_chunk is not None and got_chunk != chunk:
                raise self._mismatch(
                    f"forward {k} should run model chunk (vp_stage) {chunk}, but Megatron runs "
                    f"vp_stage={got_chunk}"
                )

        return identify


_RANK_SOURCE = "megatron.core.parallel_state.get_pipeline_model_parallel_rank()"


def _pipeline_rank(pp_group: Any) -> Optional[int]:
    """This rank's pipeline stage: in ``pp_group`` when given, else Megatron's parallel state
    (None when it is not initialized or Megatron is absent)."""
    if pp_group is not None:
        rank = getattr(pp_group, "rank", None)
        return int(rank()) if callable(rank) else None
    try:
        from megatron.core import parallel_state  # noqa: PLC0415
    except ImportError:
        return None
    try:
        if not parallel_state.model_parallel_is_initialized():
            return None
        return int(parallel_state.get_pipeline_model_parallel_rank())
    except (AssertionError, AttributeError, RuntimeError, TypeError):
        return None


def _pipeline_size(pp_group: Any) -> Optional[int]:
    if pp_group is not None and callable(getattr(pp_group, "size", None)):
        return int(pp_group.size())
    try:
        from megatron.core import parallel_state  # noqa: PLC0415

        return int(parallel_state.get_pipeline_model_parallel_world_size())
    except (ImportError, AssertionError, AttributeError, RuntimeError, TypeError):
        return None


def _model_config(model: Any) -> Any:
    """The config of a (wrapped) model chunk, as Megatron's ``get_model_config`` finds it."""
    seen = 0
    while model is not None and seen < 8:
        config = getattr(model, "config", None)
        if config is not None:
            return config
        model = getattr(model, "module", None)
        seen += 1
    return None


def _schedule_table(microbatches: int, chunks: int, group: int) -> List[Tuple[int, int]]:
    """Megatron's ``get_schedule_table``: (microbatch, model chunk) in forward order."""
    table: List[Tuple[int, int]] = []
    for start in range(0, microbatches, group):
        stop = microbatches if start + group >= microbatches else start + group
        table += [(m, c) for c in range(chunks) for m in range(start, stop)]
    return table
