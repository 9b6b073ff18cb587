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

A training loop that calls ``forward_step``/``backward_step`` itself (or keeps a schedule
function obtained before :meth:`MegatronHook.install`) marks iterations itself, either as a block::

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
from typing import Any, Callable, Optional

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

    def install(self, schedules: Any = None) -> "MegatronHook":
        """Wraps ``forward_step``, ``backward_step`` and the ``forward_backward_*`` functions
        of ``schedules`` (default: the module ``megatron.core.pipeline_parallel.schedules``).
        Returns the hook.

        Raises:
            TypeError: ``schedules`` lacks ``forward_step`` or ``backward_step``.
            ErgonError: ``INVALID_STATE`` (already installed, or closed).
        """
        with self._lock:
            self._check_installable()
            if schedules is None:
                import megatron.core.pipeline_parallel.schedules as schedules_module

                schedules = schedules_module
            for name in STEPS:
                if not callable(getattr(schedules, name, None)):
                    raise TypeError(
                        f"{_describe(schedules)} has no {name}() function: not Megatron's "
                        f"pipeline_parallel.schedules module"
                    )
            try:
                for name, kind in STEPS.items():
                    fn = getattr(schedules, name)
                    where = getattr(fn, "__name__", kind)
                    self._patch(schedules, name, self._instruction(fn, kind, where))
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

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if forward_only(args, kwargs):
                with self.paused():
                    return fn(*args, **kwargs)
            if not self._auto_step:
                return fn(*args, **kwargs)
            with self.step():
                return fn(*args, **kwargs)

        return self._mark(wrapper)
