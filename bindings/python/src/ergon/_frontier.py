"""The Pythonic API: :class:`Frontier`, :class:`Plan` and their value types."""

from __future__ import annotations

import ctypes
import functools
import math
import operator
import os
import struct
import threading
import weakref
from ctypes import byref, c_size_t, c_uint32, create_string_buffer
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, TypeVar, Union

from . import _native as N
from ._errors import ErgonError, Status, _index

PathLike = Union[str, "os.PathLike[str]"]
"""A file name: ``str`` or any ``os.PathLike``."""

_SCHEDULES = {
    "1f1b": N.ERGON_PERSEUS_SCHEDULE_1F1B,
    "gpipe": N.ERGON_PERSEUS_SCHEDULE_GPIPE,
    "interleaved_1f1b": N.ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B,
}
_ENERGY_ORDERS = {
    "after_filter": N.ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER,
    "before_filter": N.ERGON_PERSEUS_EFFECTIVE_ENERGY_BEFORE_FILTER,
}
_PLAN_AT = {
    "fastest": N.ERGON_PERSEUS_PLAN_FASTEST,
    "t_star": N.ERGON_PERSEUS_PLAN_T_STAR,
}
_KIND_NAMES = {N.ERGON_PERSEUS_KIND_FORWARD: "forward", N.ERGON_PERSEUS_KIND_BACKWARD: "backward"}

# ergon_perseus_point as raw bytes: four doubles and a uint64 in native layout (checked below), and the
# same with only (time_s, energy_j) read.
_POINT_STRUCT = struct.Struct("@ddddQ")
_TIME_ENERGY_STRUCT = struct.Struct("@dd24x")
_FAST_POINTS = (
    _POINT_STRUCT.size == _TIME_ENERGY_STRUCT.size == ctypes.sizeof(N.ergon_perseus_point)
    and N.ergon_perseus_point.energy_j.offset == 8
)


class Point(NamedTuple):
    """One point of the frontier (``ergon_perseus_point``)."""

    time_s: float
    """Iteration time, seconds."""
    energy_j: float
    """Total iteration energy (effective cost + stages · time · blocking power), joules."""
    effective_cost_j: float
    """Sum of the cost model over all computations, joules."""
    cost_change_j: float
    """Effective cost of this point minus the previous one's, joules."""
    quanta: int
    """Iteration time in quanta of the time unit τ."""


# Point from a 5-tuple of the right types (faster than Point._make, which checks the length).
_new_point: Callable[[Tuple[float, float, float, float, int]], Point] = functools.partial(
    tuple.__new__, Point
)


class Summary(NamedTuple):
    """Facts about a solved frontier (``ergon_perseus_summary``)."""

    t_min_s: float
    """Fastest iteration time, seconds."""
    t_max_s: float
    """Slowest iteration time (all computations at their slowest), seconds."""
    t_star_s: float
    """Iteration time of least total energy, seconds."""
    t_star_energy_j: float
    """Energy at T*, joules."""
    num_points: int
    """Number of points (T_max − T_min in quanta when complete)."""
    num_stages: int
    """Pipeline stages."""
    complete: bool
    """Whether the frontier reaches T_min."""


Instruction = Tuple[str, int]
"""One computation of a stage's program: ``("forward" | "backward", freq_mhz)``."""


class _OwnsHandle:
    """What every class owning a native handle shares: ``closed``, the context-manager
    protocol, and refusing copies and pickling. Subclasses set ``self._finalizer`` (a
    ``weakref.finalize`` releasing the handle) and define ``close()``."""

    __slots__ = ()
    _finalizer: "weakref.finalize"

    def close(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """Whether the handle has been released."""
        return not self._finalizer.alive

    def __enter__(self: "_H") -> "_H":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refuse(self, what: str) -> TypeError:
        name = type(self).__name__
        article = "an" if name[0] in "AEIOU" else "a"
        return TypeError(f"{article} {name} owns a native handle and cannot be {what}")

    def __copy__(self) -> Any:
        raise self._refuse("copied")

    def __deepcopy__(self, memo: Dict[int, Any]) -> Any:
        raise self._refuse("copied")

    def __reduce__(self) -> Any:
        raise self._refuse("pickled")


_H = TypeVar("_H", bound=_OwnsHandle)


@dataclass(frozen=True)
class Plan:
    """A frequency plan: what every pipeline stage runs in one iteration (``ergon-plan/v1``).

    A plan is a plain value: its native handle is read completely and released before
    :meth:`Frontier.plan` returns, so it needs no closing and outlives its frontier.
    """

    time_s: float
    """Iteration time of the plan, seconds."""
    energy_j: float
    """Energy of one iteration, joules (for a deadline plan, including waiting until it)."""
    stages: List[List[Instruction]]
    """Per stage, in program order, ``(instruction, freq_mhz)``: set the clock, then compute."""
    at: str
    """How the plan was chosen: ``"fastest"``, ``"t_star"`` or ``"deadline"``."""
    deadline_s: Optional[float] = None
    """The straggler deadline, for ``at == "deadline"``."""
    _json: str = field(default="", repr=False, compare=False)

    @property
    def num_stages(self) -> int:
        """Number of pipeline stages."""
        return len(self.stages)

    def to_json(self) -> str:
        """The plan as ``ergon-plan/v1`` JSON, exactly as the library writes it."""
        return self._json


def _closed_error(what: str) -> ErgonError:
    return ErgonError(Status.INVALID_STATE, f"the {what} is closed")


def _normalize(value: str, what: str, choices: Dict[str, int]) -> int:
    if not isinstance(value, str):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"{what} must be a string, one of {', '.join(choices)}; got {value!r}",
        )
    key = value.strip().lower().replace("-", "_")
    if key not in choices:
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"unknown {what} {value!r} (expected one of {', '.join(choices)})",
        )
    return choices[key]


def _u32(value: Any, what: str) -> int:
    return _index(value, what, 32, Status.INVALID_ARGUMENT)


def _read_file(path: PathLike, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ErgonError(
            Status.INVALID_ARGUMENT, f"cannot read the {what} {os.fspath(path)!r}: {e}"
        ) from e


def _as_bytes(text: Union[str, bytes, bytearray, memoryview], what: str) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8")
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise TypeError(f"{what} must be str or bytes, not {type(text).__name__}")


def _read_text(fn: Callable[..., int], *head: Any) -> Tuple[int, str]:
    """Ask the length, then fill: returns ``(status, text)``."""
    n = c_size_t(0)
    status = fn(*head, None, 0, byref(n))
    if status:
        return status, ""
    buf = create_string_buffer(n.value + 1)
    status = fn(*head, buf, n.value + 1, byref(n))
    if status:
        return status, ""
    return status, buf.raw[: n.value].decode("utf-8", "replace")


def _thread_error(status: int) -> ErgonError:
    """The error of a failed call without a handle (the per-thread message)."""
    _, message = _read_text(N.lib().ergon_last_error)
    return ErgonError(status, message)


def version() -> str:
    """The version of the loaded ``libergon`` (``ergon_version``), e.g. ``"0.1.0"``."""
    raw = N.lib().ergon_version()
    return raw.decode("utf-8") if raw else ""


def status_str(status: int) -> str:
    """The library's description of a status code (``ergon_status_str``)."""
    raw = N.lib().ergon_status_str(int(status))
    return raw.decode("utf-8") if raw else ""


def _free_frontier(free: Callable[[Any], None], ptr: Any) -> None:
    """Finalizer of a :class:`Frontier`: frees its handle once (also at interpreter exit)."""
    try:
        free(ptr)
    finally:
        N.track("frontier", -1)


class Frontier(_OwnsHandle):
    """A Perseus iteration-time/energy frontier problem and, once solved, its frontier.

    Make one with :meth:`from_instance`, :meth:`from_instance_json`, :meth:`from_profile_csv`
    or :meth:`from_profile_csv_text`; construction parses and validates the problem but does
    not solve it. **Solving is lazy**: the first access to a result (:attr:`points`,
    :meth:`summary` and the ``t_*`` properties, :meth:`to_json`, :meth:`plan`...) solves the
    frontier, or call :meth:`solve` explicitly (it returns ``self``; later calls do nothing).

    The native handle is released by :meth:`close`, by leaving a ``with`` block, or when the
    object is garbage-collected (a ``weakref.finalize``, which also runs at interpreter exit).
    Any use after closing raises :class:`ErgonError` with ``Status.INVALID_STATE``. Calls on
    one object are serialized by a lock, so sharing it between threads is safe (not parallel).
    """

    __slots__ = (
        "_ptr",
        "_lib",
        "_lock",
        "_finalizer",
        "_solved",
        "_stop_message",
        "_source",
        "__weakref__",
    )

    def __init__(self, _handle: Any, _source: str) -> None:
        """Takes ownership of a native handle; use the ``from_*`` class methods instead."""
        if not isinstance(_handle, N.FrontierPtr) or not _handle:
            raise TypeError("use Frontier.from_instance(...) or another from_* class method")
        self._ptr: Any = _handle
        self._lib = N.lib()
        self._lock = threading.RLock()
        self._solved = False
        self._stop_message = ""
        self._source = _source
        N.track("frontier", +1)
        self._finalizer = weakref.finalize(
            self, _free_frontier, self._lib.ergon_perseus_frontier_free, _handle
        )

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_instance(cls, path: PathLike) -> "Frontier":
        """Reads a ``perseus-instance/v1`` JSON file (formats.md §1).

        Raises:
            ErgonError: the file cannot be read (``INVALID_ARGUMENT``), is not JSON
                (``PARSE``), names another schema (``SCHEMA``) or describes an invalid problem
                (``INVALID_PROBLEM``).
        """
        return cls._from_instance_bytes(_read_file(path, "instance"), os.fspath(path))

    @classmethod
    def from_instance_json(cls, text: Union[str, bytes]) -> "Frontier":
        """Parses a ``perseus-instance/v1`` JSON document given as text (``str`` or UTF-8 bytes).

        Raises:
            ErgonError: as :meth:`from_instance`.
        """
        return cls._from_instance_bytes(_as_bytes(text, "text"), "<instance JSON>")

    @classmethod
    def _from_instance_bytes(cls, data: bytes, source: str) -> "Frontier":
        out = N.FrontierPtr()
        status = N.lib().ergon_perseus_frontier_from_instance_json(data, len(data), byref(out))
        if status:
            raise _thread_error(status)
        return cls(out, source)

    @classmethod
    def from_profile_csv(
        cls,
        path: PathLike,
        *,
        stages: int,
        microbatches: int,
        unit_time_s: float,
        p_blocking_w: float,
        schedule: str = "1f1b",
        virtual_stages: int = 0,
        effective_energy: str = "after_filter",
    ) -> "Frontier":
        """Reads a zeus profile CSV file (``stage,instruction,frequency,time,energy``; formats.md
        §2) for a pipeline of ``stages`` × ``microbatches``.

        Args:
            path: the CSV file (read here; its text is passed to the library).
            stages: pipeline stages (GPUs).
            microbatches: microbatches per iteration.
            unit_time_s: the time quantum τ, seconds.
            p_blocking_w: GPU power while blocked on communication, watts.
            schedule: ``"1f1b"``, ``"gpipe"`` or ``"interleaved_1f1b"``.
            virtual_stages: model chunks per GPU for ``"interleaved_1f1b"``; 0 otherwise.
            effective_energy: ``"after_filter"`` (default) or ``"before_filter"``: where
                blocking energy is subtracted (perseus.md §1.3).

        Raises:
            ErgonError: the file cannot be read, an argument is out of its domain
                (``INVALID_ARGUMENT``), a CSV line is malformed (``PARSE``, the message names
                the line) or the problem is invalid (``INVALID_PROBLEM``).
        """
        return cls.from_profile_csv_text(
            _read_file(path, "profile CSV"),
            stages=stages,
            microbatches=microbatches,
            unit_time_s=unit_time_s,
            p_blocking_w=p_blocking_w,
            schedule=schedule,
            virtual_stages=virtual_stages,
            effective_energy=effective_energy,
            _source=os.fspath(path),
        )

    @classmethod
    def from_profile_csv_text(
        cls,
        text: Union[str, bytes],
        *,
        stages: int,
        microbatches: int,
        unit_time_s: float,
        p_blocking_w: float,
        schedule: str = "1f1b",
        virtual_stages: int = 0,
        effective_energy: str = "after_filter",
        _source: str = "<profile CSV>",
    ) -> "Frontier":
        """Like :meth:`from_profile_csv`, with the CSV given as text (``str`` or UTF-8 bytes)."""
        data = _as_bytes(text, "text")
        pipeline = N.ergon_perseus_pipeline(
            schedule=_normalize(schedule, "schedule", _SCHEDULES),
            num_stages=_u32(stages, "stages"),
            num_microbatches=_u32(microbatches, "microbatches"),
            virtual_stages=_u32(virtual_stages, "virtual_stages"),
        )
        order = _normalize(effective_energy, "effective_energy", _ENERGY_ORDERS)
        out = N.FrontierPtr()
        status = N.lib().ergon_perseus_frontier_from_profile_csv(
            data,
            len(data),
            byref(pipeline),
            float(unit_time_s),
            float(p_blocking_w),
            order,
            byref(out),
        )
        if status:
            raise _thread_error(status)
        return cls(out, _source)

    # --- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Releases the native handle now. Closing twice is fine; any other use afterwards
        raises :class:`ErgonError` (``INVALID_STATE``)."""
        with self._lock:
            self._ptr = None
            self._finalizer()

    def __repr__(self) -> str:
        if self.closed:
            state = "closed"
        elif self._solved:
            state = "solved"
        else:
            state = "not solved"
        return f"<ergon.Frontier {self._source} ({state})>"

    def _handle(self) -> Any:
        """The live handle; raises if closed. Call with the lock held.

        ``_ptr`` is set to ``None`` by :meth:`close` (under the lock) before the handle is freed;
        the finalizer runs otherwise only once the object is unreachable.
        """
        ptr = self._ptr
        if ptr is None:
            raise _closed_error("frontier")
        return ptr

    def _error(self, ptr: Any, status: int) -> ErgonError:
        _, message = _read_text(self._lib.ergon_perseus_frontier_last_error, ptr)
        return ErgonError(status, message)

    def _solved_handle(self) -> Any:
        """The live handle of a solved frontier (solving first if needed). Lock held."""
        ptr = self._ptr
        if ptr is not None and self._solved:
            return ptr
        ptr = self._handle()
        status = self._lib.ergon_perseus_frontier_solve(ptr)
        if status:
            raise self._error(ptr, status)
        self._solved = True
        # A frontier that stops before T_min says why in the handle's last-error slot, which the
        # next failing call overwrites: keep the message now.
        _, self._stop_message = _read_text(self._lib.ergon_perseus_frontier_last_error, ptr)
        return ptr

    # --- solving and results -----------------------------------------------------------------

    def solve(self) -> "Frontier":
        """Solves the frontier if it is not solved yet; returns ``self``.

        Raises:
            ErgonError: ``INVALID_PROBLEM``, ``OVERFLOW`` (numbers too large for the solver's
                fixed-point arithmetic) or ``PANIC``; ``INVALID_STATE`` if closed.
        """
        with self._lock:
            self._solved_handle()
        return self

    @property
    def solved(self) -> bool:
        """Whether the frontier has been solved (results are available without solving)."""
        return self._solved

    def summary(self) -> Summary:
        """T_min, T_max, T* and the other facts of the frontier (solves it if needed)."""
        out = N.ergon_perseus_summary()
        with self._lock:
            ptr = self._solved_handle()
            status = self._lib.ergon_perseus_frontier_summary(ptr, byref(out))
            if status:
                raise self._error(ptr, status)
        return Summary(
            out.t_min_s,
            out.t_max_s,
            out.t_star_s,
            out.t_star_energy_j,
            out.num_points,
            out.num_stages,
            bool(out.complete),
        )

    @property
    def t_min_s(self) -> float:
        """Fastest iteration time, seconds."""
        return self.summary().t_min_s

    @property
    def t_max_s(self) -> float:
        """Slowest iteration time (all computations at their slowest), seconds."""
        return self.summary().t_max_s

    @property
    def t_star_s(self) -> float:
        """Iteration time of least total energy (T*), seconds."""
        return self.summary().t_star_s

    @property
    def t_star_energy_j(self) -> float:
        """Total iteration energy at T*, joules."""
        return self.summary().t_star_energy_j

    @property
    def num_stages(self) -> int:
        """Pipeline stages."""
        return self.summary().num_stages

    @property
    def complete(self) -> bool:
        """Whether the frontier reaches T_min (see :attr:`incomplete_reason` if not)."""
        return self.summary().complete

    @property
    def incomplete_reason(self) -> Optional[str]:
        """Why the frontier stops before T_min, or ``None`` when it is complete."""
        if self.summary().complete:
            return None
        return self._stop_message or "the frontier stops before T_min"

    @property
    def num_points(self) -> int:
        """Number of points of the frontier."""
        n = c_size_t(0)
        with self._lock:
            ptr = self._solved_handle()
            status = self._lib.ergon_perseus_frontier_num_points(ptr, byref(n))
            if status:
                raise self._error(ptr, status)
        return n.value

    def point(self, index: int) -> Point:
        """Point ``index`` (0 is the slowest; negative indices count from the fastest end).

        Raises:
            ErgonError: ``OUT_OF_RANGE`` for an index beyond either end (also 2**64 and more,
                which ctypes would otherwise wrap).
            TypeError: for a bool or a non-integer.
        """
        if isinstance(index, bool):
            raise TypeError("index must be an integer, not bool")
        i = operator.index(index)
        out = N.ergon_perseus_point()
        with self._lock:
            ptr = self._solved_handle()
            if i < 0:
                i += self.num_points
                if i < 0:
                    raise ErgonError(Status.OUT_OF_RANGE, f"point {index} does not exist")
            i = _index(i, f"point index {index}")
            status = self._lib.ergon_perseus_frontier_point(ptr, i, byref(out))
            if status:
                raise self._error(ptr, status)
        if _FAST_POINTS:
            return _new_point(_POINT_STRUCT.unpack_from(out))
        return Point(out.time_s, out.energy_j, out.effective_cost_j, out.cost_change_j, out.quanta)

    def _point_array(self) -> Any:
        n = c_size_t(0)
        with self._lock:
            ptr = self._solved_handle()
            fn = self._lib.ergon_perseus_frontier_points
            status = fn(ptr, None, 0, byref(n))
            if not status:
                buf = (N.ergon_perseus_point * n.value)()
                status = fn(ptr, buf, n.value, byref(n))
            if status:
                raise self._error(ptr, status)
        return buf

    @property
    def point_records(self) -> List[Point]:
        """Every point with all its fields, slowest first (a fresh list on every access)."""
        buf = self._point_array()
        if _FAST_POINTS:
            return list(map(_new_point, _POINT_STRUCT.iter_unpack(buf)))
        return [
            Point(p.time_s, p.energy_j, p.effective_cost_j, p.cost_change_j, p.quanta) for p in buf
        ]

    @property
    def points(self) -> List[Tuple[float, float]]:
        """``(time_s, energy_j)`` of every point, slowest first (a fresh list on every access)."""
        buf = self._point_array()
        if _FAST_POINTS:
            return list(_TIME_ENERGY_STRUCT.iter_unpack(buf))
        return [(p.time_s, p.energy_j) for p in buf]

    def to_json(self) -> str:
        """The frontier as ``ergon-frontier/v1`` JSON (formats.md §3), as the library writes it."""
        with self._lock:
            ptr = self._solved_handle()
            status, text = _read_text(self._lib.ergon_perseus_frontier_to_json, ptr)
            if status:
                raise self._error(ptr, status)
        return text

    def plan(self, deadline_s: Optional[float] = None, at: Optional[str] = None) -> Plan:
        """A frequency plan for every stage.

        Args:
            deadline_s: a straggler's iteration time, seconds: the plan of least energy
                *including* blocking power while waiting until the deadline. ``None`` for a
                point of the frontier chosen by ``at``.
            at: ``"t_star"`` (the default: least energy) or ``"fastest"`` (T_min); not
                together with ``deadline_s``.

        Raises:
            ErgonError: ``DEADLINE`` when ``deadline_s`` is shorter than T_min,
                ``INVALID_ARGUMENT`` for a non-finite or negative deadline or an unknown
                ``at``.
        """
        if deadline_s is not None:
            if at is not None:
                raise ErgonError(Status.INVALID_ARGUMENT, "give either deadline_s or at, not both")
            selector, label, deadline = N.ERGON_PERSEUS_PLAN_DEADLINE, "deadline", float(deadline_s)
        else:
            selector = _normalize("t_star" if at is None else at, "plan selector `at`", _PLAN_AT)
            label = "fastest" if selector == N.ERGON_PERSEUS_PLAN_FASTEST else "t_star"
            deadline = math.nan
        L = N.lib()
        out = N.PlanPtr()
        with self._lock:
            ptr = self._solved_handle()
            status = L.ergon_perseus_frontier_plan(ptr, selector, deadline, byref(out))
            if status:
                raise self._error(ptr, status)
        N.track("plan", +1)
        try:
            return _read_plan(out, label, None if deadline_s is None else deadline)
        finally:
            L.ergon_perseus_plan_free(out)
            N.track("plan", -1)


def _read_plan(ptr: Any, at: str, deadline_s: Optional[float]) -> Plan:
    L = N.lib()

    def fail(status: int) -> ErgonError:
        _, message = _read_text(L.ergon_perseus_plan_last_error, ptr)
        return ErgonError(status, message)

    summary = N.ergon_perseus_plan_info()
    status = L.ergon_perseus_plan_summary(ptr, byref(summary))
    if status:
        raise fail(status)
    stages: List[List[Instruction]] = []
    n = c_size_t(0)
    for s in range(summary.num_stages):
        status = L.ergon_perseus_plan_stage(ptr, s, None, None, 0, byref(n))
        if not status:
            kinds = (c_uint32 * n.value)()
            freqs = (c_uint32 * n.value)()
            status = L.ergon_perseus_plan_stage(ptr, s, kinds, freqs, n.value, byref(n))
        if status:
            raise fail(status)
        stages.append([(_KIND_NAMES.get(k, f"kind{k}"), f) for k, f in zip(kinds, freqs)])
    status, text = _read_text(L.ergon_perseus_plan_to_json, ptr)
    if status:
        raise fail(status)
    return Plan(summary.time_s, summary.energy_j, stages, at, deadline_s, text)
