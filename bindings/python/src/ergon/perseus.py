"""Perseus: iteration-time/energy frontiers of pipeline-parallel training and the per-stage
frequency plans chosen on them (``ergon_perseus_*`` of ``ergon.h``; ``ergon frontier`` on the
command line).

:class:`Frontier` owns a native handle; :class:`Plan`, :class:`Point` and :class:`Summary` are
plain values. The package re-exports them at top level (``ergon.Frontier``...)::

    import ergon

    with ergon.Frontier.from_instance("a100_s4_m8.instance.json") as f:
        print(f.t_min_s, f.t_star_s, len(f.points))     # solves on first access
        plan = f.plan()                                  # at T*; or at="fastest", deadline_s=...
"""

from __future__ import annotations

import ctypes
import functools
import math
import operator
import os
import struct
from ctypes import byref, c_size_t, c_uint32
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    Generic,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    overload,
)

from . import _abi as A
from . import _ffi, _names
from ._errors import ErgonError, Status
from ._ffi import (
    Handle,
    Owner,
    PathLike,
    as_bytes,
    fill,
    make,
    read_file,
    read_text,
    thread_error,
    u32,
)
from ._library import lib

__all__ = ["Frontier", "Instruction", "Plan", "Point", "Summary", "merge_profile_csv"]

# ergon_perseus_point as raw bytes: four doubles and a uint64 in native layout (checked below),
# and the same with only (time_s, energy_j) read.
_POINT_STRUCT = struct.Struct("@ddddQ")
_TIME_ENERGY_STRUCT = struct.Struct("@dd24x")
_FAST_POINTS = (
    _POINT_STRUCT.size == _TIME_ENERGY_STRUCT.size == ctypes.sizeof(A.ergon_perseus_point)
    and A.ergon_perseus_point.energy_j.offset == 8
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
    """How the plan was chosen: ``"fastest"``, ``"t_star"`` or ``"deadline"`` (for a plan read
    by :meth:`from_json`, what its caller said, ``"json"`` by default)."""
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

    @classmethod
    def from_json(
        cls,
        text: Union[str, bytes],
        *,
        at: str = "json",
        deadline_s: Optional[float] = None,
    ) -> "Plan":
        """Reads an ``ergon-plan/v1`` document (what :meth:`to_json` writes; the way a plan
        solved on a planner rank reaches the other ranks). The library checks it: stages listed
        0, 1, … in order, each with at least one instruction, finite non-negative time and
        energy. ``at`` and ``deadline_s`` are recorded as given (the document does not say how
        the plan was chosen).

        Raises:
            ErgonError: ``PARSE`` (not JSON, a missing or mistyped field), ``SCHEMA``
                (another format) or ``INVALID_PROBLEM`` (stages out of order or empty, a
                negative time or energy, beyond the solver's limits; the message names the
                field).
        """
        data = as_bytes(text, "text")
        with make("ergon_perseus_plan_from_json", "perseus_plan", data, len(data)) as h:
            return _read_plan(h, str(at), deadline_s)

    def _native(self) -> Handle:
        """A native plan handle read from this plan's JSON; the caller frees it."""
        data = self._json.encode("utf-8")
        return make("ergon_perseus_plan_from_json", "perseus_plan", data, len(data))


_T = TypeVar("_T")


class _FromSummary(Generic[_T]):
    """A read-only attribute of :class:`Frontier`: the field of the same name of its
    :meth:`~Frontier.summary` (solving first if needed)."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self._field = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._field = name

    @overload
    def __get__(self, frontier: None, owner: type) -> "_FromSummary[_T]": ...

    @overload
    def __get__(self, frontier: "Frontier", owner: type) -> _T: ...

    def __get__(self, frontier: Optional["Frontier"], owner: type) -> Any:
        if frontier is None:
            return self
        return getattr(frontier.summary(), self._field)


class Frontier(Owner):
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

    __slots__ = ("_solved", "_stop_message", "_source", "_point_fn")
    _what = "frontier"

    def __init__(self, _handle: Any, _source: str) -> None:
        """Takes ownership of a native handle; use the ``from_*`` class methods instead."""
        if not isinstance(_handle, Handle) or _handle.kind != "perseus_frontier":
            raise TypeError("use Frontier.from_instance(...) or another from_* class method")
        self._own(_handle)
        self._point_fn = _handle.fn("point")
        self._solved = False
        self._stop_message = ""
        self._source = _source

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_instance(cls, path: PathLike) -> "Frontier":
        """Reads a ``perseus-instance/v1`` JSON file (formats.md §1).

        Raises:
            ErgonError: the file cannot be read (``INVALID_ARGUMENT``), is not JSON
                (``PARSE``), names another schema (``SCHEMA``) or describes an invalid problem
                (``INVALID_PROBLEM``).
        """
        return cls._from_instance_bytes(read_file(path, "instance"), os.fspath(path))

    @classmethod
    def from_instance_json(cls, text: Union[str, bytes]) -> "Frontier":
        """Parses a ``perseus-instance/v1`` JSON document given as text (``str`` or UTF-8 bytes).

        Raises:
            ErgonError: as :meth:`from_instance`.
        """
        return cls._from_instance_bytes(as_bytes(text, "text"), "<instance JSON>")

    @classmethod
    def _from_instance_bytes(cls, data: bytes, source: str) -> "Frontier":
        handle = make(
            "ergon_perseus_frontier_from_instance_json", "perseus_frontier", data, len(data)
        )
        return cls(handle, source)

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
            read_file(path, "profile CSV"),
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
        data = as_bytes(text, "text")
        pipeline = A.ergon_perseus_pipeline(
            schedule=_names.code(schedule, "schedule", "PERSEUS_SCHEDULES"),
            num_stages=u32(stages, "stages"),
            num_microbatches=u32(microbatches, "microbatches"),
            virtual_stages=u32(virtual_stages, "virtual_stages"),
        )
        order = _names.code(effective_energy, "effective_energy", "PERSEUS_EFFECTIVE_ENERGY")
        handle = make(
            "ergon_perseus_frontier_from_profile_csv",
            "perseus_frontier",
            data,
            len(data),
            byref(pipeline),
            float(unit_time_s),
            float(p_blocking_w),
            order,
        )
        return cls(handle, _source)

    # --- lifetime ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        if self.closed:
            state = "closed"
        elif self._solved:
            state = "solved"
        else:
            state = "not solved"
        return f"<ergon.Frontier {self._source} ({state})>"

    def _live(self) -> Handle:
        """The live handle of a solved frontier (solving first if needed). Lock held."""
        h = super()._live()
        if not self._solved:
            self._solve(h, lib().ergon_perseus_solve_options_default(), None)
        return h

    def _solve(
        self,
        h: Handle,
        options: Any,
        progress: Optional[Callable[[int, int], Any]],
    ) -> None:
        """Solves with ``options`` and an optional Python progress callable. Lock held."""
        error: List[BaseException] = []
        if progress is not None:
            user_progress = progress

            def call(_user_data: Any, done: int, total: int) -> int:
                # An exception cannot cross the C library: keep it, stop, raise it after.
                try:
                    return 1 if user_progress(done, total) is False else 0
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    error.append(e)
                    return 1

            callback = A.ergon_perseus_progress_fn(call)
            options.progress = callback
        h.call("solve_with_options", byref(options))
        self._solved = True
        # A frontier that stops before T_min says why in the handle's last-error slot,
        # which the next failing call overwrites: keep the message now.
        self._stop_message = h.last_error()
        if error:
            raise error[0]

    # --- solving and results -----------------------------------------------------------------

    def solve(
        self,
        progress: Optional[Callable[[int, int], Any]] = None,
        until: Union[None, str, float] = None,
    ) -> "Frontier":
        """Solves the frontier if it is not solved yet; returns ``self``.

        Args:
            progress: called as ``progress(points_done, points_total)`` after every point, on
                this thread (``points_total`` = T_max − T_min, the whole frontier, or the
                points down to ``until`` when it is a time); returning ``False`` stops the
                solve there (the frontier is then incomplete), and an exception it raises
                stops the solve and is raised here.
            until: how far down to solve: ``None`` or ``"t_min"`` (the whole frontier),
                ``"t_star"`` (stop once the energy rises past its minimum T*), or a time in
                seconds (stop at the first point at or below it, e.g. a straggler deadline).
                The solve walks down from T_max, so the points above are always computed.

        Raises:
            ErgonError: ``INVALID_PROBLEM``, ``OVERFLOW`` (numbers too large for the solver's
                fixed-point arithmetic), ``INVALID_ARGUMENT`` (a bad ``until``) or ``PANIC``;
                ``INVALID_STATE`` if closed.
        """
        options = lib().ergon_perseus_solve_options_default()
        if until is None or until == "t_min":
            options.stop = A.ERGON_PERSEUS_STOP_T_MIN
        elif until == "t_star":
            options.stop = A.ERGON_PERSEUS_STOP_T_STAR
        elif isinstance(until, (int, float)) and not isinstance(until, bool):
            options.stop = A.ERGON_PERSEUS_STOP_TIME
            options.stop_time_s = float(until)
        else:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"until={until!r}: expected None, 't_min', 't_star' or a time in seconds",
            )
        with self._lock:
            h = super()._live()
            if not self._solved:
                self._solve(h, options, progress)
        return self

    @property
    def solved(self) -> bool:
        """Whether the frontier has been solved (results are available without solving)."""
        return self._solved

    def summary(self) -> Summary:
        """T_min, T_max, T* and the other facts of the frontier (solves it if needed)."""
        out = self._get("summary", A.ergon_perseus_summary)
        return Summary(
            out.t_min_s,
            out.t_max_s,
            out.t_star_s,
            out.t_star_energy_j,
            out.num_points,
            out.num_stages,
            bool(out.complete),
        )

    t_min_s = _FromSummary[float]("Fastest iteration time, seconds.")
    t_max_s = _FromSummary[float]("Slowest iteration time (all at their slowest clock), seconds.")
    t_star_s = _FromSummary[float]("Iteration time of least total energy (T*), seconds.")
    t_star_energy_j = _FromSummary[float]("Total iteration energy at T*, joules.")
    num_stages = _FromSummary[int]("Pipeline stages.")
    complete = _FromSummary[bool](
        "Whether the frontier reaches T_min (else see `incomplete_reason`)."
    )

    @property
    def incomplete_reason(self) -> Optional[str]:
        """Why the frontier stops before T_min, or ``None`` when it is complete."""
        if self.summary().complete:
            return None
        return self._stop_message or "the frontier stops before T_min"

    @property
    def num_points(self) -> int:
        """Number of points of the frontier."""
        return int(self._get("num_points", c_size_t).value)

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
        with self._lock:
            h = self._live()
            if i < 0:
                i += self.num_points
                if i < 0:
                    raise ErgonError(Status.OUT_OF_RANGE, f"point {index} does not exist")
            out = A.ergon_perseus_point()
            # The hot path of point-by-point readers: the function bound once, no helper.
            status = self._point_fn(h.ptr, _ffi.index(i, f"point index {index}"), byref(out))
            if status:
                raise h.error(status)
        if _FAST_POINTS:
            return _new_point(_POINT_STRUCT.unpack_from(out))
        return Point(out.time_s, out.energy_j, out.effective_cost_j, out.cost_change_j, out.quanta)

    def _point_array(self) -> Any:
        with self._lock:
            h = self._live()
            (buf,), _ = fill(h.fn("points"), (h.ptr,), (A.ergon_perseus_point,), h.error)
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
        return self._text("to_json")

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
        selector, deadline = _plan_selector(deadline_s, at)
        if deadline_s is not None:
            label = "deadline"
        else:
            label = _names.name("PERSEUS_PLAN_AT", selector, "plan")
        with self._native_plan(selector, deadline) as h:
            return _read_plan(h, label, None if deadline_s is None else deadline)

    def _native_plan(self, selector: int, deadline: float) -> Handle:
        """A native plan handle (``ergon_perseus_frontier_plan``); the caller frees it."""
        with self._lock:
            return self._live().make("plan", "perseus_plan", selector, deadline)


def _plan_selector(deadline_s: Optional[float], at: Optional[str]) -> Tuple[int, float]:
    """``(ERGON_PERSEUS_PLAN_*, deadline)`` of :meth:`Frontier.plan`'s arguments."""
    if deadline_s is not None:
        if at is not None:
            raise ErgonError(Status.INVALID_ARGUMENT, "give either deadline_s or at, not both")
        return A.ERGON_PERSEUS_PLAN_DEADLINE, float(deadline_s)
    at_ = "t_star" if at is None else at
    return _names.code(at_, "plan selector `at`", "PERSEUS_PLAN_AT"), math.nan


def _read_plan(h: Handle, at: str, deadline_s: Optional[float]) -> Plan:
    """Everything of a native plan, as a :class:`Plan`."""
    summary = h.get("summary", A.ergon_perseus_plan_info)
    stage = h.fn("stage")
    stages: List[List[Instruction]] = []
    for s in range(summary.num_stages):
        (kinds, freqs), n = fill(stage, (h.ptr, s), (c_uint32, c_uint32), h.error)
        stages.append(
            [
                (_names.name("PERSEUS_KINDS", k, "kind"), f)
                for k, f in zip(kinds[:n], freqs[:n])
            ]
        )
    return Plan(summary.time_s, summary.energy_j, stages, at, deadline_s, h.text("to_json"))


def merge_profile_csv(texts: Sequence[Union[str, bytes]]) -> str:
    """Merges profile CSVs (one per profiling rank: :meth:`ergon.gpu.Profiler.to_csv` of every
    pipeline stage, and of data-parallel replicas of a stage) into the pipeline's
    (``ergon_perseus_profile_merge_csv``).

    Texts with rows of the same (stage, instruction) are replicas: a frequency's rows from
    different texts become one row whose time and energy are each exactly the first value when
    all are equal, else their mean; only the frequencies that every such text lists are kept.
    Rows come out grouped by (stage, instruction) in order of first appearance, each group's
    frequencies in their order of first appearance; numbers read back exactly.

    Raises:
        ErgonError: ``PARSE`` (a text that is not a profile CSV; the message names the text
            and line) or ``INVALID_PROBLEM`` (a stage, instruction and frequency listed twice in
            one text, naming them, the text and both lines; replicas with no frequency in
            common, naming the stage, instruction and texts; or no text at all).
    """
    data = [as_bytes(t, f"texts[{i}]") for i, t in enumerate(texts)]
    pointers = (ctypes.c_char_p * len(data))(*data)
    lens = (ctypes.c_size_t * len(data))(*(len(d) for d in data))
    return read_text(
        lib().ergon_perseus_profile_merge_csv, pointers, lens, len(data), error=thread_error
    )
