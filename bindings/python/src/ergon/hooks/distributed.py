"""Perseus across the ranks of a ``torch.distributed`` job: profile, plan once, execute everywhere.

A pipeline-parallel job runs one process per GPU; each knows its pipeline ``stage`` and every
stage may be replicated by data or tensor parallelism. :class:`PerseusJob` is the object the
trainer hooks drive on every rank (``instruction_begin(kind)`` before each computation,
``instruction_end(kind)`` after it, ``step_end()`` after each training iteration). It goes
through three phases:

1. **profiling** — an :class:`ergon.gpu.Profiler` per rank measures its stage's computations at
   each clock, one clock per iteration. Every iteration ends with a one-element all-reduce so
   that all ranks agree on the iteration at which *every* profiler is done.
2. **planning** — at that iteration's ``step_end`` (the same one on every rank) the stage
   profiles are gathered to the planner rank, merged (replicas of a stage are **averaged**:
   per (stage, instruction, clock) the mean time and energy over the replicas that profiled it;
   a clock that not every replica profiled is dropped), solved with
   :meth:`ergon.Frontier.from_profile_csv_text`, and the plan at the chosen point (``at``:
   ``"t_star"``, ``"fastest"`` or a deadline in seconds) is broadcast; each rank executes the
   program of **its own stage** (replicas of a stage therefore run the same program).
3. **executing** — an :class:`ergon.gpu.PlanExecutor` per rank applies its stage's clocks.

Plans are **versioned** (1 is the first). A new plan is only ever installed inside ``step_end``,
after the executor finished the iteration, and on every rank at the same iteration, so no rank
runs a mix of two plans within one iteration.

**On-line re-planning.** A straggler calls :meth:`PerseusJob.announce` with its expected
iteration time T′ (any rank, any thread); an operator outside the job calls
:func:`announce_via_store` on the job's ``torch.distributed`` store. Every ``check_every``
iterations, ``step_end`` runs one all-reduce (MAX) of a three-element tensor (T′, the
announcement's wall time, a failure flag): all ranks see the same result, so they take the same
branch. When a T′ is pending, the planner answers from the already-solved frontier
(:meth:`ergon.Frontier.plan` with ``deadline_s=T′``: microseconds), broadcasts the plan, and
every rank installs it before its next iteration. Several announcements between two checks
coalesce into the largest T′ (the slowest straggler decides). A T′ below the frontier's fastest
time T_min gives the fastest plan (the "straggler" is faster than this pipeline can go); a T′
equal to the current plan's deadline changes nothing. :attr:`PerseusJob.replan_latency_ms` is
the time from the announcement to the moment the last rank held the new plan, measured with
each host's wall clock (exact on one host; across hosts it includes their clock offset).

Failures are collective: a bad argument on one rank (a stage out of range, microbatches that
differ between ranks...), an empty profile, a solver error or a GPU error in ``step_end`` raise
:class:`~ergon.ErgonError` on **every** rank (at construction, at planning, or at the next
check) instead of leaving the other ranks waiting in a collective.

torch is imported when a job is made, not by ``import ergon.hooks``. Any process group works
(gloo on CPUs, NCCL on GPUs: with NCCL, call ``torch.cuda.set_device(local_rank)`` first, as
NCCL's object collectives need it). The collectives are those of ``group`` (default: the world);
every rank of the group must make a :class:`PerseusJob` and drive it.

A plain training loop::

    import torch.distributed as dist
    from ergon.hooks import PerseusJob

    dist.init_process_group("nccl")
    job = PerseusJob(f"cuda:{local_rank}", stage=pp_rank, num_stages=pp_size,
                     microbatches=num_microbatches, at="t_star")
    for batch in data:
        for kind, mb in my_schedule:                 # the stage's 1F1B order
            job.instruction_begin(kind)
            run(kind, mb)
            job.instruction_end(kind)
        optimizer.step()
        job.step_end()                               # profiling, planning, re-planning happen here
    job.close()                                      # restores the GPU
"""

from __future__ import annotations

import csv
import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .. import _names
from .._errors import ErgonError, Status

__all__ = ["PerseusJob", "PlanSwitch", "announce_via_store", "merge_profiles"]

PROFILING = "profiling"
"""Phase: the profiler measures the stage (until every rank's profiler is done)."""
WAITING = "waiting"
"""Phase: no profiler and no plan yet (call :meth:`PerseusJob.plan_from_profile`)."""
EXECUTING = "executing"
"""Phase: a plan is executed."""
CLOSED = "closed"
"""Phase: after :meth:`PerseusJob.close`."""

STORE_PREFIX = "ergon/perseus"
"""Default prefix of the store keys an operator writes announcements under."""

PROFILE_COLUMNS = ("stage", "instruction", "frequency", "time", "energy")
"""The zeus profile CSV columns (formats.md §2)."""

At = Union[str, float]
"""Which plan of the frontier: ``"t_star"``, ``"fastest"``, or a deadline in seconds."""


@dataclass(frozen=True)
class PlanSwitch:
    """One plan a :class:`PerseusJob` started executing (the same record on every rank)."""

    version: int
    """The plan's version: 1 for the first plan, one more at every switch."""
    iteration: int
    """The first iteration (0-based count of ``step_end`` calls before it) run with the plan."""
    at: str
    """How the plan was chosen: ``"fastest"``, ``"t_star"`` or ``"deadline"``."""
    deadline_s: Optional[float]
    """The deadline (a straggler's T′, or the ``at`` given as seconds), for ``at == "deadline"``."""
    time_s: float
    """The plan's iteration time, seconds."""
    energy_j: float
    """The plan's energy per iteration, joules."""
    latency_ms: Optional[float]
    """Re-plans: milliseconds from the announcement to every rank holding the plan (wall
    clocks); ``None`` for the first plan. It includes the wait for the iteration boundary."""
    switch_ms: Optional[float] = None
    """Re-plans: milliseconds from the last rank entering the check that found the
    announcement (when its collective can complete) to the last rank holding the plan: what
    re-planning itself costs (the collectives, the planner's answer from the frontier,
    installing the plan), without the wait for the iteration boundary."""


# --- profiles ----------------------------------------------------------------------------------


def _parse_profile(text: str, who: str) -> List[Tuple[int, str, int, float, float]]:
    """The rows ``(stage, instruction, freq_mhz, time_s, energy_j)`` of a zeus profile CSV, read
    as the library reads it (columns by name, extra columns ignored, blank lines skipped, a BOM
    ignored). ``who`` names the source in errors."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows: List[Tuple[int, str, int, float, float]] = []
    cols: Optional[List[int]] = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in next(csv.reader([line]))]
        if cols is None:
            missing = [c for c in PROFILE_COLUMNS if c not in cells]
            if missing:
                raise ErgonError(
                    Status.PARSE,
                    f"{who}: the profile CSV header has no {', '.join(missing)} column "
                    f"(need {','.join(PROFILE_COLUMNS)})",
                )
            cols = [cells.index(c) for c in PROFILE_COLUMNS]
            continue
        try:
            stage_s, kind, freq_s, time_s, energy_s = (cells[c] for c in cols)
            freq = float(freq_s)
            if not (freq >= 1 and freq == int(freq)):
                raise ValueError(f"frequency {freq_s!r} is not a positive whole number of MHz")
            rows.append((int(stage_s), kind, int(freq), float(time_s), float(energy_s)))
        except (IndexError, ValueError) as e:
            raise ErgonError(
                Status.PARSE, f"{who}: profile CSV line {line_no} ({line!r}): {e}"
            ) from None
    return rows


def _mean(values: Sequence[float]) -> float:
    # Identical values (every rank gave the same file) come back bit for bit.
    if all(v == values[0] for v in values):
        return values[0]
    return math.fsum(values) / len(values)


def merge_profiles(profiles: Sequence[Tuple[str, Optional[int], str]], num_stages: int) -> str:
    """Merges the zeus profile CSVs of several ranks into one for the pipeline.

    Args:
        profiles: per contributing rank ``(who, own_stage, csv_text)``: ``who`` names it in
            errors (``"rank 3"``); ``own_stage`` is the only stage its rows may be of (a
            profiler measures its own stage), or ``None`` for rows of any stage.
        num_stages: pipeline stages; every stage needs rows.

    Returns:
        The merged CSV: per (stage, instruction, frequency) the mean time and energy over the
        contributors that have that (stage, instruction); frequencies that not all of them
        have are dropped (replicas whose profilers stopped lowering the clock at different
        points agree on what they all measured). Rows are ordered by stage, then instruction
        in order of first appearance, then frequency from the highest; numbers are written with
        ``repr`` so that they read back exactly.

    Raises:
        ErgonError: ``PARSE`` (a malformed CSV), ``INVALID_ARGUMENT`` (an empty profile, rows
            of another stage than ``own_stage``, a stage out of range, a stage without rows, or
            replicas without a frequency in common).
    """
    # (stage, instruction) -> contributor -> freq -> (time, energy)
    table: Dict[Tuple[int, str], Dict[str, Dict[int, Tuple[float, float]]]] = {}
    for who, own_stage, text in profiles:
        rows = _parse_profile(text, who)
        if not rows:
            raise ErgonError(Status.INVALID_ARGUMENT, f"{who}: the profile is empty (no data rows)")
        for stage, kind, freq, time_s, energy_j in rows:
            if own_stage is not None and stage != own_stage:
                raise ErgonError(
                    Status.INVALID_ARGUMENT,
                    f"{who}: the profile of stage {own_stage} has a row of stage {stage}",
                )
            if not 0 <= stage < num_stages:
                raise ErgonError(
                    Status.INVALID_ARGUMENT,
                    f"{who}: a profile row of stage {stage}, but the pipeline has "
                    f"{num_stages} stages",
                )
            table.setdefault((stage, kind), {}).setdefault(who, {})[freq] = (time_s, energy_j)
    missing = sorted({s for s in range(num_stages)} - {s for s, _ in table})
    if missing:
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"no profile for stage(s) {', '.join(map(str, missing))} of {num_stages}",
        )
    lines = [",".join(PROFILE_COLUMNS)]
    for stage in range(num_stages):
        for (s, kind), by_who in table.items():
            if s != stage:
                continue
            common = set.intersection(*(set(f) for f in by_who.values()))
            if not common:
                raise ErgonError(
                    Status.INVALID_ARGUMENT,
                    f"stage {stage} {kind}: {', '.join(by_who)} profiled no frequency in common",
                )
            for freq in sorted(common, reverse=True):
                t = _mean([m[freq][0] for m in by_who.values()])
                e = _mean([m[freq][1] for m in by_who.values()])
                lines.append(f"{stage},{kind},{freq},{t!r},{e!r}")
    return "\n".join(lines) + "\n"


# --- operator path -----------------------------------------------------------------------------


def announce_via_store(store: Any, t_prime_s: float, *, prefix: str = STORE_PREFIX) -> None:
    """Announces a straggler's iteration time T′ from outside the job (an operator, a monitor),
    through the ``torch.distributed`` store the job was given (``store=`` of
    :class:`PerseusJob`; e.g. a ``TCPStore`` client connected to the job's). The planner reads
    it at its next check and every rank switches at the same iteration boundary.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for a T′ that is not a positive finite number.
    """
    t = _check_t_prime(t_prime_s)
    # The value first, then the counter the planner polls: a counter it sees always has its
    # value written (two operators racing leave the newer value).
    store.set(f"{prefix}/announce", json.dumps({"t_prime_s": t, "wall_time_s": time.time()}))
    store.add(f"{prefix}/announce_seq", 1)


def _check_t_prime(t_prime_s: Any) -> float:
    try:
        t = float(t_prime_s)
    except (TypeError, ValueError):
        t = math.nan
    if isinstance(t_prime_s, bool) or not (math.isfinite(t) and t > 0):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"a straggler's iteration time must be a positive number of seconds, not {t_prime_s!r}",
        )
    return t


# --- the job -----------------------------------------------------------------------------------


def _torch() -> Tuple[Any, Any]:
    try:
        import torch  # noqa: PLC0415  (optional: only a real trainer has it)
        import torch.distributed as dist  # noqa: PLC0415
    except ImportError as e:
        raise ErgonError(
            Status.INVALID_STATE, f"PerseusJob needs torch with torch.distributed ({e})"
        ) from e
    if not dist.is_available() or not dist.is_initialized():
        raise ErgonError(
            Status.INVALID_STATE,
            "PerseusJob needs an initialized torch.distributed process group "
            "(call torch.distributed.init_process_group first)",
        )
    return torch, dist


def _plan_payload(plan: Any) -> Dict[str, Any]:
    """What the planner broadcasts for a plan: its ``ergon-plan/v1`` JSON (read back natively
    by :meth:`ergon.Plan.from_json` on every rank) and how it was chosen."""
    return {"plan_json": plan.to_json(), "at": plan.at, "deadline_s": plan.deadline_s}


def _error_text(e: BaseException) -> Dict[str, Any]:
    """An exception as a picklable record for the other ranks."""
    if isinstance(e, ErgonError):
        return {"status": int(e.status), "message": e.message}
    return {"status": int(Status.INVALID_ARGUMENT), "message": f"{type(e).__name__}: {e}"}


class PerseusJob:
    """Perseus on one rank of a ``torch.distributed`` job (see :mod:`ergon.hooks.distributed`).

    Construction is a collective of ``group``: every rank makes its job at the same point, and
    the configurations are compared there (an error on any rank raises on all). Not
    thread-safe except :meth:`announce`.
    """

    def __init__(
        self,
        device: Any,
        *,
        stage: int,
        num_stages: int,
        microbatches: int,
        schedule: str = "1f1b",
        virtual_stages: int = 0,
        group: Any = None,
        planner_rank: int = 0,
        at: At = "t_star",
        unit_time_s: float = 0.001,
        profiler: Any = None,
        check_every: int = 1,
        store: Any = None,
        store_prefix: str = STORE_PREFIX,
    ) -> None:
        """Joins the job: a collective of ``group`` that checks every rank's arguments.

        Args:
            device: this rank's GPU as :class:`ergon.gpu.PlanExecutor` takes it (``"0"``,
                ``"cuda:0"``, a UUID...), or ``None`` to plan without a GPU (the job computes,
                distributes and checks plans but changes no clock; profiles must then come
                from :meth:`plan_from_profile` or a ``profiler`` object).
            stage: this rank's pipeline stage, 0 ≤ ``stage`` < ``num_stages``.
            num_stages: pipeline stages (the same on every rank).
            microbatches: microbatches per iteration (the same on every rank).
            schedule: ``"1f1b"``, ``"gpipe"`` or ``"interleaved_1f1b"``.
            virtual_stages: model chunks per GPU for ``"interleaved_1f1b"``; 0 otherwise.
            group: the ``torch.distributed`` process group (default: the world).
            planner_rank: the rank (within ``group``) that merges profiles and solves.
            at: the plan: ``"t_star"`` (least energy), ``"fastest"`` or a deadline, seconds.
            unit_time_s: the solver's time quantum τ, seconds.
            profiler: ``None`` (default: an :class:`ergon.gpu.Profiler` on ``device`` with its
                default options; none when ``device`` is ``None``), a ``dict`` of keyword
                options for ``ergon.gpu.Profiler(device, stage=stage, **options)``, ``False``
                (no profiling: call :meth:`plan_from_profile`), or a profiler object (anything
                with ``instruction_begin``, ``instruction_end``, ``step_end() -> bool``,
                ``to_csv()``, ``p_blocking_w`` and ``close``).
            check_every: iterations between re-planning checks (each is one small all-reduce).
            store: a ``torch.distributed`` store the planner polls for operator announcements
                (:func:`announce_via_store`); ``None`` for none.
            store_prefix: the prefix of those store keys.

        Raises:
            ErgonError: ``INVALID_STATE`` (no torch or no initialized process group),
                ``INVALID_ARGUMENT`` with the problems of every rank (on every rank).
        """
        self._torch, self._dist = _torch()
        dist = self._dist
        self._group = group
        self._rank: int = int(dist.get_rank(group))
        self._world: int = int(dist.get_world_size(group))
        self._device = device
        self._stage: int = stage
        self._num_stages: int = num_stages
        self._microbatches = microbatches
        self._schedule = schedule
        self._virtual_stages = virtual_stages
        self._planner: int = planner_rank
        self._at = at
        self._unit_time_s = unit_time_s
        self._check_every = check_every
        self._store = store
        self._store_prefix = store_prefix
        self._store_seq = 0
        self._lock = threading.Lock()
        self._pending_t_prime = 0.0  # the largest T′ announced on this rank since the last check
        self._pending_wall = 0.0
        self._phase = WAITING
        self._profiler: Any = None
        self._profiler_done = False  # this rank's profiler finished (others may still run)
        self._executor: Any = None
        self._frontier: Any = None  # planner only
        self._plan: Any = None
        self._program: List[Tuple[str, int]] = []
        self._position = 0  # instructions begun in this iteration
        self._iteration = 0  # step_end calls so far
        self._executing_since = 0
        self._switches: List[PlanSwitch] = []
        self._profile_csv: Optional[str] = None
        self._p_blocking_w: Optional[float] = None
        self._deferred: Optional[BaseException] = None  # a step_end failure to report at a check
        backend = str(dist.get_backend(group)).lower()
        if "nccl" in backend:
            self._tensor_device = self._torch.device("cuda", self._torch.cuda.current_device())
        else:
            self._tensor_device = self._torch.device("cpu")

        problems = self._local_problems()
        if not problems and profiler is not False and (device is not None or profiler is not None):
            try:
                self._profiler = self._make_profiler(profiler)
            except Exception as e:  # noqa: BLE001  (reported on every rank below)
                problems.append(f"cannot start the profiler: {_error_text(e)['message']}")
        config = {
            "stage": stage if isinstance(stage, int) else repr(stage),
            "num_stages": num_stages,
            "microbatches": microbatches,
            "schedule": schedule,
            "virtual_stages": virtual_stages,
            "planner_rank": planner_rank,
            "at": at,
            "unit_time_s": unit_time_s,
            "check_every": check_every,
            "profiling": self._profiler is not None,
            "problems": problems,
        }
        configs: List[Any] = [None] * self._world
        dist.all_gather_object(configs, config, group=group)
        message = self._compare(configs)
        if message:
            self._close_quietly()
            self._phase = CLOSED
            raise ErgonError(Status.INVALID_ARGUMENT, f"PerseusJob: {message}")
        self._phase = PROFILING if self._profiler is not None else WAITING

    @classmethod
    def from_profiles(
        cls,
        device: Any,
        profile_csv: Optional[str],
        *,
        p_blocking_w: Optional[float],
        **kwargs: Any,
    ) -> "PerseusJob":
        """A job that skips profiling: joins (as the constructor, with ``kwargs``) and plans
        from the given profiles at once (:meth:`plan_from_profile`). Collective.

        Args:
            device: as for the constructor.
            profile_csv: this rank's zeus profile CSV text (rows of any stages; replicas'
                rows are averaged), or ``None`` when other ranks give the profiles.
            p_blocking_w: GPU power while blocked on communication, watts, or ``None``
                (the mean of the values the ranks give is used).
        """
        kwargs.setdefault("profiler", False)
        job = cls(device, **kwargs)
        try:
            job.plan_from_profile(profile_csv, p_blocking_w=p_blocking_w)
        except BaseException:
            job.close()
            raise
        return job

    # --- checks ------------------------------------------------------------------------------

    def _local_problems(self) -> List[str]:
        problems: List[str] = []

        def whole(name: str, value: Any, low: int) -> bool:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                problems.append(f"{name} must be an integer ≥ {low}, not {value!r}")
                return False
            return True

        if whole("num_stages", self._num_stages, 1) and whole("stage", self._stage, 0):
            if self._stage >= self._num_stages:
                problems.append(
                    f"stage {self._stage} is out of range for {self._num_stages} stages"
                )
        whole("microbatches", self._microbatches, 1)
        whole("virtual_stages", self._virtual_stages, 0)
        whole("check_every", self._check_every, 1)
        if whole("planner_rank", self._planner, 0) and self._planner >= self._world:
            problems.append(f"planner_rank {self._planner} is not a rank of the {self._world}")
        try:
            _names.code(self._schedule, "schedule", "PERSEUS_SCHEDULES")
        except (ErgonError, TypeError) as e:
            problems.append(str(e))
        u = self._unit_time_s
        if (
            isinstance(u, bool)
            or not isinstance(u, (int, float))
            or not (math.isfinite(u) and u > 0)
        ):
            problems.append(f"unit_time_s must be a positive number of seconds, not {u!r}")
        at = self._at
        if isinstance(at, str):
            if at not in ("t_star", "fastest"):
                problems.append(f"at must be 't_star', 'fastest' or a deadline, not {at!r}")
        else:
            try:
                _check_t_prime(at)
            except ErgonError:
                problems.append(f"at must be 't_star', 'fastest' or a deadline, not {at!r}")
        return problems

    def _compare(self, configs: Sequence[Mapping[str, Any]]) -> str:
        """What is wrong with the ranks' configurations ("" when nothing): the same text on
        every rank."""
        out: List[str] = []
        for r, c in enumerate(configs):
            out += [f"rank {r}: {p}" for p in c["problems"]]
        if out:
            return "; ".join(out)
        for key in (
            "num_stages",
            "microbatches",
            "schedule",
            "virtual_stages",
            "planner_rank",
            "at",
            "unit_time_s",
            "check_every",
            "profiling",
        ):
            values = [c[key] for c in configs]
            if any(v != values[0] for v in values):
                shown = ", ".join(f"rank {r}: {v!r}" for r, v in enumerate(values))
                return f"the ranks disagree on {key} ({shown})"
        covered = {c["stage"] for c in configs}
        missing = [s for s in range(configs[0]["num_stages"]) if s not in covered]
        if missing:
            return f"no rank runs stage(s) {', '.join(map(str, missing))}"
        return ""

    def _make_profiler(self, profiler: Any) -> Any:
        if profiler is None or isinstance(profiler, Mapping):
            from ..gpu import Profiler  # noqa: PLC0415  (added with the in-trainer profiler)

            return Profiler(self._device, stage=self._stage, **dict(profiler or {}))
        for method in ("instruction_begin", "instruction_end", "step_end", "to_csv", "close"):
            if not callable(getattr(profiler, method, None)):
                raise TypeError(f"the profiler has no {method}() ({type(profiler).__name__})")
        return profiler

    # --- properties --------------------------------------------------------------------------

    @property
    def phase(self) -> str:
        """``"profiling"``, ``"waiting"`` (for :meth:`plan_from_profile`), ``"executing"`` or
        ``"closed"``."""
        return self._phase

    @property
    def rank(self) -> int:
        """This rank within the group."""
        return self._rank

    @property
    def stage(self) -> int:
        """This rank's pipeline stage."""
        return self._stage

    @property
    def is_planner(self) -> bool:
        """True on the planner rank."""
        return self._rank == self._planner

    @property
    def iteration(self) -> int:
        """Iterations ended (``step_end`` calls), profiling included."""
        return self._iteration

    @property
    def plan(self) -> Any:
        """The :class:`ergon.Plan` executed (every stage's program; this rank runs
        ``plan.stages[stage]``), ``None`` before planning."""
        return self._plan

    @property
    def plan_version(self) -> int:
        """The executed plan's version (0 before planning)."""
        return self._switches[-1].version if self._switches else 0

    @property
    def program(self) -> List[Tuple[str, int]]:
        """This rank's program, ``(kind, freq_mhz)`` per instruction ([] before planning)."""
        return list(self._program)

    @property
    def current_freq_mhz(self) -> Optional[int]:
        """The planned clock of the instruction begun last in this iteration (``None`` when
        none was begun or no plan is executed)."""
        if self._phase != EXECUTING or self._position == 0:
            return None
        return self._program[self._position - 1][1]

    @property
    def switches(self) -> List[PlanSwitch]:
        """Every plan executed, in order (the same list on every rank)."""
        return list(self._switches)

    @property
    def replan_latency_ms(self) -> Optional[float]:
        """Milliseconds from the latest announcement to every rank holding its plan (``None``
        before a re-plan)."""
        for s in reversed(self._switches):
            if s.latency_ms is not None:
                return s.latency_ms
        return None

    @property
    def profile_csv(self) -> Optional[str]:
        """The merged pipeline profile the plans were solved from (every rank), or ``None``."""
        return self._profile_csv

    @property
    def p_blocking_w(self) -> Optional[float]:
        """The blocking power the frontier was solved with, watts (every rank)."""
        return self._p_blocking_w

    @property
    def frontier(self) -> Any:
        """The solved :class:`ergon.Frontier` (planner rank only; ``None`` elsewhere)."""
        return self._frontier

    @property
    def executor(self) -> Any:
        """The :class:`ergon.gpu.PlanExecutor` (``None`` before planning or without a GPU)."""
        return self._executor

    @property
    def profiler(self) -> Any:
        """The profiler while profiling, else ``None``."""
        return self._profiler

    # --- what the hooks call -----------------------------------------------------------------

    def instruction_begin(self, kind: str) -> None:
        """Before a computation of ``kind`` (``"forward"``, ``"backward"``...).

        Raises:
            ErgonError: ``INVALID_STATE`` (not the plan's next instruction, no plan yet without
                a profiler, or closed), or the profiler's/executor's errors.
        """
        if self._phase == PROFILING:
            if not self._profiler_done:
                self._profiler.instruction_begin(kind)
            return
        if self._phase != EXECUTING:
            raise ErgonError(
                Status.INVALID_STATE,
                f"PerseusJob: a {kind!r} instruction while {self._phase} (no plan yet: "
                f"profile, or call plan_from_profile first)",
            )
        if self._position >= len(self._program) or self._program[self._position][0] != kind:
            expected = (
                repr(self._program[self._position][0])
                if self._position < len(self._program)
                else "the end of the iteration"
            )
            raise ErgonError(
                Status.INVALID_STATE,
                f"PerseusJob: instruction {self._position} of iteration {self._iteration} is "
                f"{kind!r}, but plan v{self.plan_version} of stage {self._stage} expects "
                f"{expected}",
            )
        if self._executor is not None:
            self._executor.instruction_begin(kind)
        self._position += 1

    def instruction_end(self, kind: str) -> None:
        """After a computation of ``kind`` (the profiler times it; executing needs nothing)."""
        if self._phase == PROFILING:
            if not self._profiler_done:
                self._profiler.instruction_end(kind)
        elif self._phase == CLOSED:
            raise ErgonError(Status.INVALID_STATE, "PerseusJob: instruction_end after close")

    def step_end(self) -> None:
        """After a training iteration, on every rank. Profiling: advances the profiler and,
        at the iteration where every rank's profiler is done, plans (collective). Executing:
        ends the executor's iteration and every ``check_every`` iterations checks for
        announcements and switches plans (collective).

        Raises:
            ErgonError: a failure on this rank, or ``INVALID_STATE`` naming another rank that
                failed (on every rank at the same iteration).
        """
        if self._phase == CLOSED:
            raise ErgonError(Status.INVALID_STATE, "PerseusJob: step_end after close")
        if self._phase == PROFILING:
            self._profiling_step_end()
        elif self._phase == EXECUTING:
            self._executing_step_end()
        else:
            self._iteration += 1

    def _failure_flag(self) -> float:
        return float(self._rank + 1) if self._deferred is not None else 0.0

    def _raise_failure(self, failed_rank_plus_1: float, where: str) -> None:
        """Raises on every rank after a collective showed a failure (this rank's own error
        where it failed)."""
        own = self._deferred
        self._deferred = None
        if own is not None:
            raise own
        raise ErgonError(
            Status.INVALID_STATE,
            f"PerseusJob: rank {int(failed_rank_plus_1) - 1} failed {where} at iteration "
            f"{self._iteration} (see its error)",
        )

    def _profiling_step_end(self) -> None:
        # A profiler that is done is left alone (its GPU back at its settings) while the others
        # finish: the planning collective needs every rank.
        if not self._profiler_done:
            try:
                self._profiler_done = bool(self._profiler.step_end())
            except Exception as e:  # noqa: BLE001  (every rank raises, below)
                self._deferred = e
        self._iteration += 1
        not_done, failed = self._all_max(
            [0.0 if self._profiler_done else 1.0, self._failure_flag()]
        )
        if failed:
            self._close_quietly()
            self._phase = CLOSED
            self._raise_failure(failed, "while profiling")
        if not_done:
            return
        profiler, self._profiler = self._profiler, None
        csv_text: Optional[str] = None
        p_blocking: Optional[float] = None
        error: Optional[Dict[str, Any]] = None
        try:
            csv_text = str(profiler.to_csv())
            p_blocking = float(profiler.p_blocking_w)
        except Exception as e:  # noqa: BLE001
            error = _error_text(e)
        finally:
            try:
                profiler.close()
            except Exception as e:  # noqa: BLE001
                error = error or _error_text(e)
        self._plan_collective(csv_text, p_blocking, own_stage_only=True, error=error)

    def _executing_step_end(self) -> None:
        error: Optional[BaseException] = None
        if self._position != len(self._program):
            error = ErgonError(
                Status.INVALID_STATE,
                f"PerseusJob: iteration {self._iteration} ran {self._position} of the "
                f"{len(self._program)} instructions of plan v{self.plan_version} "
                f"(stage {self._stage})",
            )
        self._position = 0
        if self._executor is not None:
            try:
                self._executor.step_end()  # rewinds the plan even when it reports an error
            except Exception as e:  # noqa: BLE001  (reported at the check, on every rank)
                error = error or e
        if error is not None and self._deferred is None:
            self._deferred = error
        self._iteration += 1
        if (self._iteration - self._executing_since) % self._check_every:
            return
        self._check()

    # --- collectives -------------------------------------------------------------------------

    def _global(self, group_rank: int) -> int:
        if self._group is None:
            return group_rank
        return int(self._dist.get_global_rank(self._group, group_rank))

    def _all_max(self, values: List[float]) -> List[float]:
        t = self._torch.tensor(values, dtype=self._torch.float64, device=self._tensor_device)
        self._dist.all_reduce(t, op=self._dist.ReduceOp.MAX, group=self._group)
        return [float(v) for v in t.tolist()]

    def _broadcast(self, payload: Any) -> Any:
        box = [payload]
        self._dist.broadcast_object_list(box, src=self._global(self._planner), group=self._group)
        return box[0]

    def _poll_store(self) -> Tuple[float, float]:
        """The planner's view of the operator's latest announcement (T′, wall time), or zeros."""
        if self._store is None:
            return 0.0, 0.0
        try:
            seq = int(self._store.add(f"{self._store_prefix}/announce_seq", 0))
            if seq <= self._store_seq:
                return 0.0, 0.0
            self._store_seq = seq
            raw = self._store.get(f"{self._store_prefix}/announce")
            doc = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
            return _check_t_prime(doc["t_prime_s"]), float(doc.get("wall_time_s", time.time()))
        except Exception as e:  # noqa: BLE001  (a bad announcement must not stop training)
            import warnings  # noqa: PLC0415

            warnings.warn(
                f"PerseusJob: ignoring the store's announcement: {e}", RuntimeWarning, stacklevel=3
            )
            return 0.0, 0.0

    def _check(self) -> None:
        started_wall = time.time()
        with self._lock:
            t_prime, wall = self._pending_t_prime, self._pending_wall
            self._pending_t_prime = self._pending_wall = 0.0
        if self.is_planner:
            op_t, op_wall = self._poll_store()
            if op_t > t_prime:
                t_prime, wall = op_t, op_wall
        t_prime, wall, failed = self._all_max([t_prime, wall, self._failure_flag()])
        if failed:
            self._raise_failure(failed, "in step_end")
        if t_prime > 0:
            self._replan(t_prime, wall, started_wall)

    def _replan(self, t_prime_s: float, announced_wall_s: float, started_wall_s: float) -> None:
        payload: Dict[str, Any] = {}
        if self.is_planner:
            try:
                current = self._switches[-1]
                fastest = t_prime_s < self._frontier.t_min_s
                if (current.at == "deadline" and current.deadline_s == t_prime_s) or (
                    fastest and current.at == "fastest"
                ):
                    payload = {"unchanged": True}
                elif fastest:
                    payload = _plan_payload(self._frontier.plan(at="fastest"))
                else:
                    payload = _plan_payload(self._frontier.plan(deadline_s=t_prime_s))
            except Exception as e:  # noqa: BLE001
                payload = {"error": _error_text(e)}
        payload = self._broadcast(payload)
        if payload.get("unchanged"):
            return
        if "error" in payload:
            raise ErgonError(
                payload["error"]["status"],
                f"PerseusJob: re-planning for T′ = {t_prime_s} s failed on the planner: "
                f"{payload['error']['message']}",
            )
        self._install(payload, announced_wall_s, started_wall_s)

    def _install(
        self, payload: Mapping[str, Any], announced_wall_s: float, started_wall_s: float = 0.0
    ) -> None:
        """Makes the plan of ``payload`` (:func:`_plan_payload`) the executed one on every rank
        (collective), between iterations."""
        from ..perseus import Plan  # noqa: PLC0415

        first = self._plan is None
        program: List[Tuple[str, int]] = []
        plan: Any = None
        try:
            plan = Plan.from_json(
                payload["plan_json"], at=payload["at"], deadline_s=payload["deadline_s"]
            )
            program = list(plan.stages[self._stage])
            if self._device is not None:
                if self._executor is None:
                    from ..gpu import PlanExecutor  # noqa: PLC0415

                    self._executor = PlanExecutor(self._device, plan, self._stage)
                else:
                    self._executor.set_plan(plan, self._stage)
        except Exception as e:  # noqa: BLE001  (every rank raises, below)
            self._deferred = e
        held_wall = time.time()
        held, started, failed = self._all_max([held_wall, started_wall_s, self._failure_flag()])
        if failed:
            self._close_quietly()
            self._phase = CLOSED
            self._raise_failure(failed, "starting its plan" if first else "switching plans")
        self._plan = plan
        self._program = program
        self._position = 0
        if first:
            self._executing_since = self._iteration
        self._switches.append(
            PlanSwitch(
                version=len(self._switches) + 1,
                iteration=self._iteration,
                at=plan.at,
                deadline_s=plan.deadline_s,
                time_s=plan.time_s,
                energy_j=plan.energy_j,
                latency_ms=None if first else (held - announced_wall_s) * 1e3,
                switch_ms=None if first else (held - started) * 1e3,
            )
        )
        self._phase = EXECUTING

    def plan_from_profile(
        self, profile_csv: Optional[str], *, p_blocking_w: Optional[float] = None
    ) -> Any:
        """Plans from given profiles instead of profiling (collective: every rank calls it).

        Args:
            profile_csv: this rank's zeus profile CSV text (rows of any stages), or ``None``
                when other ranks supply the profiles; see :func:`merge_profiles` for how
                several ranks' rows are combined.
            p_blocking_w: GPU power while blocked on communication, watts (``None``: the mean
                of the other ranks' values).

        Returns:
            The :class:`ergon.Plan` now executed.

        Raises:
            ErgonError: on every rank: ``INVALID_STATE`` (already executing a plan, or
                profiling), or the planner's error (``PARSE``, ``INVALID_ARGUMENT`` for empty
                profiles or missing stages, ``INVALID_PROBLEM``, ``DEADLINE``...).
        """
        if self._phase != WAITING:
            raise ErgonError(
                Status.INVALID_STATE, f"PerseusJob: plan_from_profile while {self._phase}"
            )
        error = None
        if p_blocking_w is not None:
            try:
                p_blocking_w = float(p_blocking_w)
                if not (math.isfinite(p_blocking_w) and p_blocking_w >= 0):
                    raise ValueError(f"p_blocking_w = {p_blocking_w!r} is not a power in watts")
            except (TypeError, ValueError) as e:
                error = _error_text(e)
        if profile_csv is not None and not isinstance(profile_csv, str):
            error = {
                "status": int(Status.INVALID_ARGUMENT),
                "message": f"the profile must be CSV text, not {type(profile_csv).__name__}",
            }
        self._plan_collective(profile_csv, p_blocking_w, own_stage_only=False, error=error)
        return self._plan

    def _plan_collective(
        self,
        csv_text: Optional[str],
        p_blocking_w: Optional[float],
        *,
        own_stage_only: bool,
        error: Optional[Dict[str, Any]],
    ) -> None:
        """Gathers the profiles to the planner, solves there, broadcasts the plan, starts the
        executors; raises the same error on every rank if any step fails anywhere."""
        mine = {"stage": self._stage, "csv": csv_text, "p_blocking_w": p_blocking_w, "error": error}
        gathered: Optional[List[Any]] = [None] * self._world if self.is_planner else None
        self._dist.gather_object(mine, gathered, dst=self._global(self._planner), group=self._group)
        payload: Dict[str, Any] = {}
        if self.is_planner:
            assert gathered is not None
            try:
                payload = self._solve(gathered, own_stage_only)
            except Exception as e:  # noqa: BLE001
                payload = {"error": _error_text(e)}
        payload = self._broadcast(payload)
        if "error" in payload:
            self._close_quietly()
            self._phase = CLOSED
            raise ErgonError(
                payload["error"]["status"], f"PerseusJob: {payload['error']['message']}"
            )
        self._profile_csv = payload["profile_csv"]
        self._p_blocking_w = payload["p_blocking_w"]
        self._install(payload, 0.0)

    def _solve(self, gathered: Sequence[Mapping[str, Any]], own_stage_only: bool) -> Dict[str, Any]:
        """The planner's part: merge, solve, choose the point."""
        from ..perseus import Frontier  # noqa: PLC0415

        errors = [
            f"rank {r}: {g['error']['message']}" for r, g in enumerate(gathered) if g["error"]
        ]
        if errors:
            raise ErgonError(Status.INVALID_ARGUMENT, "; ".join(errors))
        profiles = [
            (f"rank {r} (stage {g['stage']})", g["stage"] if own_stage_only else None, g["csv"])
            for r, g in enumerate(gathered)
            if g["csv"] is not None
        ]
        if not profiles:
            raise ErgonError(Status.INVALID_ARGUMENT, "no rank gave a profile")
        merged = merge_profiles(profiles, self._num_stages)
        powers = [float(g["p_blocking_w"]) for g in gathered if g["p_blocking_w"] is not None]
        if not powers:
            raise ErgonError(
                Status.INVALID_ARGUMENT, "no rank gave the blocking power p_blocking_w"
            )
        p_blocking = _mean(powers)
        frontier = Frontier.from_profile_csv_text(
            merged,
            stages=self._num_stages,
            microbatches=self._microbatches,
            unit_time_s=self._unit_time_s,
            p_blocking_w=p_blocking,
            schedule=self._schedule,
            virtual_stages=self._virtual_stages,
            _source="<PerseusJob profiles>",
        )
        try:
            frontier.solve()
            if isinstance(self._at, str):
                plan = frontier.plan(at=self._at)
            else:
                plan = frontier.plan(deadline_s=float(self._at))
        except BaseException:
            frontier.close()
            raise
        if self._frontier is not None:
            self._frontier.close()
        self._frontier = frontier
        return {
            **_plan_payload(plan),
            "profile_csv": merged,
            "p_blocking_w": p_blocking,
        }

    # --- re-planning -------------------------------------------------------------------------

    def announce(self, t_prime_s: float) -> None:
        """Announces that a straggler's iterations take ``t_prime_s`` seconds (any rank, any
        thread; it needs no other rank). At the next check (``step_end`` of every rank, every
        ``check_every`` iterations) the planner answers with the frontier's plan for that
        deadline and every rank switches to it before its next iteration.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` for a T′ that is not a positive finite number,
                ``INVALID_STATE`` after close.
        """
        t = _check_t_prime(t_prime_s)
        with self._lock:
            if self._phase == CLOSED:
                raise ErgonError(Status.INVALID_STATE, "PerseusJob: announce after close")
            if t > self._pending_t_prime:
                self._pending_t_prime = t
                self._pending_wall = time.time()

    # --- lifetime ----------------------------------------------------------------------------

    def _close_quietly(self) -> None:
        for attr in ("_profiler", "_executor", "_frontier"):
            obj = getattr(self, attr)
            setattr(self, attr, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001,S110  (closing after a failure: the first error wins)
                    pass

    def close(self) -> None:
        """Closes the profiler or executor (which restores the GPU's settings) and the
        frontier. Not a collective; closing twice is fine."""
        with self._lock:
            if self._phase == CLOSED and self._executor is None and self._profiler is None:
                return
            self._phase = CLOSED
        profiler, executor, frontier = self._profiler, self._executor, self._frontier
        self._profiler = self._executor = self._frontier = None
        try:
            if profiler is not None:
                profiler.close()
        finally:
            try:
                if executor is not None:
                    executor.close()
            finally:
                if frontier is not None:
                    frontier.close()

    def __enter__(self) -> "PerseusJob":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<ergon.hooks.PerseusJob rank={self._rank} stage={self._stage} {self._phase} "
            f"plan v{self.plan_version}, {self._iteration} iterations>"
        )
