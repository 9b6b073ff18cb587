"""What the trainer hooks share: driving a plan executor from wrapped framework functions.

A hook owns (by default) an :class:`ergon.gpu.PlanExecutor` and calls its
``instruction_begin("forward" | "backward")`` before each wrapped computation and ``step_end()``
at the end of each training iteration. The hooks are duck-typed on those methods: any object
with ``instruction_begin(kind)`` and ``step_end()`` can be driven (a profiler, a job that
profiles and then executes); if it also has ``instruction_end(kind)``, that is called when the
wrapped computation returns (after the device is synchronized), and ``close()`` is called when
the hook closes, if it has one. If it has an integer ``stage``, the hooks check it against the
framework's own pipeline rank. Wrapping is done by replacing attributes and is undone by
:meth:`PlanHook.uninstall`; :meth:`PlanHook.close` uninstalls and closes the executor (which
restores every GPU setting it changed), and runs by itself at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import threading
import warnings
from typing import Any, Callable, Iterator, List, Optional, Tuple, Type, TypeVar, Union

from .._errors import ErgonError, Status

__all__ = ["PlanHook", "Sync"]

Sync = Union[None, str, Callable[[], None]]
"""How a hook synchronizes the device before each instruction: ``"cuda"`` (the default:
``torch.cuda.synchronize`` when torch is importable and CUDA is available, else nothing), ``None``
(never) or a callable of no arguments."""

# Marks a wrapper made by a hook, so that a second hook does not wrap a wrapper unknowingly and
# uninstall can tell its own wrappers apart.
_WRAPPED_BY = "__ergon_hook__"

_MISSING = object()

_Hook = TypeVar("_Hook", bound="PlanHook")


def _resolve_sync(sync: Sync) -> Optional[Callable[[], None]]:
    if sync is None:
        return None
    if callable(sync):
        return sync
    if sync != "cuda":
        raise ErgonError(
            Status.INVALID_ARGUMENT, f"sync must be 'cuda', None or a callable; got {sync!r}"
        )
    try:
        import torch  # noqa: PLC0415  (optional: only a real trainer has it)
    except ImportError:
        return None
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_available():
        return None
    return cuda.synchronize  # type: ignore[no-any-return]


class PlanHook:
    """Base of the trainer hooks (see :mod:`ergon.hooks`): the iteration bookkeeping, the
    attribute patching with its undo, and closing.

    An instruction is *applied* (checked against the plan and its clock handed to the worker)
    while an iteration is open (:meth:`step`, or the framework's own iteration function that the
    subclass wraps) or, for hooks made with ``always=True``, whenever the hook is not
    :meth:`paused`. Everything else (evaluation passes) runs untouched.
    """

    #: Shown in error messages ("DeepSpeed hook", "Megatron hook").
    _what = "trainer hook"

    def __init__(
        self,
        executor: Any,
        *,
        sync: Sync = "cuda",
        close_executor: bool = True,
        always: bool = False,
    ) -> None:
        for method in ("instruction_begin", "step_end"):
            if not callable(getattr(executor, method, None)):
                raise TypeError(
                    f"executor must be an ergon.gpu.PlanExecutor, or an object with "
                    f"instruction_begin(kind) and step_end() (no {method}() on "
                    f"{type(executor).__name__})"
                )
        self._executor = executor
        # Optional: a profiler times each computation between begin and end.
        end = getattr(executor, "instruction_end", None)
        self._end: Optional[Callable[[str], None]] = end if callable(end) else None
        self._sync = _resolve_sync(sync)
        self._close_executor = bool(close_executor)
        self._always = bool(always)
        self._lock = threading.RLock()
        self._depth = 0  # open iteration windows
        self._paused = 0  # open pause windows
        self._iterations = 0  # completed iterations (step_end succeeded)
        self._instructions = 0  # instructions applied in the current iteration
        self._forwards = 0  # forward instructions applied in the current iteration
        self._backwards = 0  # backward instructions applied in the current iteration
        # (target, attribute name, previous value or _MISSING, wrapper) in install order.
        self._patches: List[Tuple[Any, str, Any, Any]] = []
        self._closed = False
        atexit.register(self.close)

    @classmethod
    def from_frontier(
        cls: Type[_Hook],
        device: Any,
        frontier: Any,
        stage: int,
        *,
        at: Optional[str] = None,
        deadline_s: Optional[float] = None,
        **options: Any,
    ) -> _Hook:
        """A hook with its own :class:`~ergon.gpu.PlanExecutor` of ``stage`` of ``frontier``'s
        plan on ``device`` (``at``/``deadline_s`` as for :meth:`ergon.Frontier.plan`); the
        other keywords (``sync``, and ``auto_step`` for Megatron) go to the hook."""
        from ..gpu import PlanExecutor

        return cls(PlanExecutor(device, frontier, stage, at=at, deadline_s=deadline_s), **options)

    # --- properties --------------------------------------------------------------------------

    @property
    def executor(self) -> Any:
        """The plan executor this hook drives."""
        return self._executor

    @property
    def installed(self) -> bool:
        """True while the hook's wrappers are in place."""
        return bool(self._patches)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def iterations(self) -> int:
        """Iterations completed (a ``step_end`` that succeeded)."""
        return self._iterations

    @property
    def in_iteration(self) -> bool:
        """True while an iteration window is open."""
        return self._depth > 0

    # --- iteration bookkeeping ---------------------------------------------------------------

    def _applies(self) -> bool:
        return self._paused == 0 and (self._depth > 0 or self._always)

    def _begin(self, kind: str, where: str) -> None:
        """Called by a wrapper before the computation ``where`` (a function name)."""
        if self._closed:
            raise ErgonError(
                Status.INVALID_STATE, f"{self._what}: {where} called after the hook was closed"
            )
        if not self._applies():
            return
        if self._sync is not None:
            # The clock should apply to this computation, not to kernels still queued before it.
            self._sync()
        try:
            self._executor.instruction_begin(kind)
        except ErgonError as e:
            raise ErgonError(
                e.status,
                f"{self._what}: {where} ran a {kind!r} pass as instruction "
                f"{self._instructions} of iteration {self._iterations}, which the plan does not "
                f"allow ({e.message}); the plan must be made for this stage and for the "
                f"schedule's number of stages and microbatches",
            ) from e
        self._instructions += 1
        if kind == "forward":
            self._forwards += 1
        elif kind == "backward":
            self._backwards += 1

    def _end_instruction(self, kind: str) -> None:
        """Called by a wrapper after the computation returned: ``instruction_end(kind)`` of a
        driven object that has one (a profiler), after synchronizing the device so that the
        computation's time is its own."""
        if self._end is None:
            return
        if self._sync is not None:
            self._sync()
        self._end(kind)

    @property
    def executor_stage(self) -> Optional[int]:
        """The pipeline stage of the driven object (its integer ``stage``), if it has one."""
        stage = getattr(self._executor, "stage", None)
        if isinstance(stage, bool) or not isinstance(stage, int):
            return None
        return stage

    def _check_stage(self, framework_stage: Any, source: str) -> None:
        """Fails when the executor runs another stage's plan than the framework's pipeline
        rank ``framework_stage`` (read from ``source``, named in the message)."""
        mine = self.executor_stage
        if mine is None or framework_stage is None:
            return
        if int(framework_stage) != mine:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"{self._what}: the executor runs the plan of pipeline stage {mine}, but this "
                f"rank is pipeline stage {int(framework_stage)} ({source}); make the executor "
                f"with stage={int(framework_stage)}",
            )

    def _mismatch(self, what: str) -> ErgonError:
        """An identity error: the framework's ids disagree with the plan's order."""
        return ErgonError(
            Status.INVALID_STATE,
            f"{self._what}: {what} (instruction {self._instructions} of iteration "
            f"{self._iterations}); the plan must be made for the schedule the framework runs "
            f"(its kind, stages, microbatches and model chunks)",
        )

    def step_end(self) -> None:
        """Ends a training iteration: the executor checks that the plan was consumed and rewinds
        it. Call it after each iteration only when the framework's iteration is not wrapped (see
        the hook's documentation); inside an open iteration it is an error.

        Raises:
            ErgonError: ``INVALID_STATE`` (the iteration ran fewer instructions than planned, or
                an iteration window is open, or the hook is closed) or ``GPU`` (clock changes
                the worker could not make).
        """
        with self._lock:
            if self._closed:
                raise ErgonError(Status.INVALID_STATE, f"{self._what}: step_end after close")
            if self._depth > 0:
                raise ErgonError(
                    Status.INVALID_STATE,
                    f"{self._what}: step_end called inside an open iteration (the iteration "
                    f"ends by itself when it returns)",
                )
            self._finish(ok=True)

    def _finish(self, ok: bool) -> None:
        """Ends the iteration: ``step_end`` of the executor. After a failed iteration (``ok``
        false) its errors are not raised (the iteration's own exception propagates); the
        executor's ``step_end`` rewinds the plan either way."""
        self._instructions = self._forwards = self._backwards = 0
        if ok:
            self._executor.step_end()
            self._iterations += 1
            return
        try:
            self._executor.step_end()
        except ErgonError as e:
            if e.status != Status.INVALID_STATE:  # an incomplete iteration is expected here
                warnings.warn(
                    f"{self._what}: after a failed iteration: {e}", RuntimeWarning, stacklevel=3
                )

    @contextlib.contextmanager
    def step(self) -> Iterator["PlanHook"]:
        """A ``with`` block that is one training iteration: the instructions inside are applied,
        and ``step_end`` runs when the outermost block ends. If the block raises, the plan is
        rewound (its errors suppressed) and the exception propagates."""
        with self._lock:
            if self._closed:
                raise ErgonError(Status.INVALID_STATE, f"{self._what}: step() after close")
            self._depth += 1
        ok = False
        try:
            yield self
            ok = True
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and not self._closed:
                    self._finish(ok)

    @contextlib.contextmanager
    def paused(self) -> Iterator["PlanHook"]:
        """A ``with`` block whose computations run without touching the plan (evaluation)."""
        with self._lock:
            self._paused += 1
        try:
            yield self
        finally:
            with self._lock:
                self._paused -= 1

    # --- patching ----------------------------------------------------------------------------

    def _patch(self, target: Any, name: str, wrapper: Any) -> None:
        """Sets ``target.name`` to ``wrapper``, remembering what ``target`` itself held (its own
        ``__dict__`` entry, not an inherited one) for :meth:`uninstall`."""
        own = vars(target) if hasattr(target, "__dict__") else {}
        previous = own.get(name, _MISSING)
        setattr(target, name, wrapper)
        self._patches.append((target, name, previous, wrapper))

    def _instruction(
        self,
        fn: Callable[..., Any],
        kind: str,
        where: str,
        identify: Optional[Callable[[Any, Any], None]] = None,
    ) -> Callable[..., Any]:
        """``fn`` (a function, or a bound method) preceded by the plan instruction ``kind`` and,
        for a driven object with ``instruction_end``, followed by it; ``where`` names the
        computation in errors. ``identify(args, kwargs)``, called before the instruction is
        applied, checks the framework's ids of the computation (it raises on a mismatch)."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            applied = self._before(kind, where, args, kwargs, identify)
            result = fn(*args, **kwargs)
            if applied:
                self._end_instruction(kind)
            return result

        return self._mark(wrapper)

    def _before(
        self,
        kind: str,
        where: str,
        args: Any,
        kwargs: Any,
        identify: Optional[Callable[[Any, Any], None]],
    ) -> bool:
        """What runs before a wrapped computation; returns whether it was applied."""
        # The identity check runs outside iterations too (unless paused): it is what finds a
        # computation that no iteration window covers.
        if not self._closed and self._paused == 0 and identify is not None:
            identify(args, kwargs)
        before = self._instructions
        self._begin(kind, where)
        return self._instructions != before

    def _mark(self, wrapper: Callable[..., Any]) -> Callable[..., Any]:
        setattr(wrapper, _WRAPPED_BY, self)
        return wrapper

    def uninstall(self) -> None:
        """Puts back every attribute the hook replaced (in reverse order). Uninstalling a hook
        that is not installed does nothing. Raises ``INVALID_STATE`` if something else replaced
        a wrapped attribute after this hook (undoing ours would drop theirs)."""
        with self._lock:
            for target, name, _previous, wrapper in self._patches:
                if getattr(target, name, None) is not wrapper:
                    raise ErgonError(
                        Status.INVALID_STATE,
                        f"{self._what}: {_describe(target)}.{name} was replaced after the hook "
                        f"was installed; uninstall the later wrapper first",
                    )
            while self._patches:
                target, name, previous, _wrapper = self._patches.pop()
                if previous is _MISSING:
                    delattr(target, name)
                else:
                    setattr(target, name, previous)

    def _check_installable(self) -> None:
        if self._closed:
            raise ErgonError(Status.INVALID_STATE, f"{self._what}: install after close")
        if self._patches:
            raise ErgonError(
                Status.INVALID_STATE, f"{self._what}: already installed (uninstall first)"
            )

    # --- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Uninstalls the hook and, unless made with ``close_executor=False``, closes the
        executor, which restores every GPU setting it changed. Runs at interpreter exit too.
        Closing twice is fine."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            atexit.unregister(self.close)
            try:
                self.uninstall()
            finally:
                close = getattr(self._executor, "close", None)
                if self._close_executor and callable(close):
                    close()

    def __enter__(self) -> "PlanHook":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("installed" if self.installed else "idle")
        return f"<ergon.hooks.{type(self).__name__} ({state}, {self._iterations} iterations)>"


def _describe(target: Any) -> str:
    if isinstance(target, type):
        return target.__qualname__
    name = getattr(target, "__name__", None)
    if isinstance(name, str):
        return name
    return f"<{type(target).__name__} object>"
