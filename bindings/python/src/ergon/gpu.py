"""GPUs through NVML: listing them, profiling a pipeline stage, executing a frequency plan,
measuring energy.

The functions of this module drive the GPU part of the C ABI (``ergon_gpu_*``,
``ergon_gpu_executor_*``, ``ergon_gpu_energy_monitor_*`` of ``ergon.h``). NVML
(``libnvidia-ml.so.1``, or ``$ERGON_NVML_LIBRARY``) is loaded by the library on first use; without
it every call raises :class:`~ergon.ErgonError` with ``Status.NVML_UNAVAILABLE``::

    import ergon
    from ergon import gpu

    print(gpu.count(), gpu.devices())
    with ergon.Frontier.from_instance("a100_s4_m8.instance.json") as f, \\
            gpu.PlanExecutor("0", f, stage=0) as ex:        # plan at T*; needs CAP_SYS_ADMIN
        for kind, _freq in f.plan().stages[0]:
            ex.instruction_begin(kind)                       # before each computation
            ...
        ex.step_end()                                        # after each iteration

    with gpu.EnergyMonitor(0) as mon, mon.window("step") as w:
        ...
    print(w.time_s, w.energy_j, w.power_w)

Profiling (Perseus): :class:`Profiler` locks each GPU clock in turn over consecutive training
iterations and measures every computation; its :meth:`Profiler.to_csv` is the stage's zeus
profile CSV, which :func:`ergon.perseus.merge_profile_csv` joins with the other stages' and
:meth:`ergon.Frontier.from_profile_csv_text` solves::

    with gpu.Profiler(local_rank, stage=pp_rank, sync="cuda") as prof:
        while True:
            for kind in schedule:                            # "forward", "backward", ...
                prof.instruction_begin(kind)
                ...                                          # the computation
                prof.instruction_end(kind)
            if prof.step_end():                              # after each iteration
                break
        csv, p_blocking_w = prof.to_csv(), prof.p_blocking_w

Devices are named as the library's module notes say (an NVML index such as ``"0"``, a
``GPU-…``/``MIG-…`` UUID...); an ``int`` is passed as its decimal text.

Handles are released by ``close()``, by leaving a ``with`` block, or when the object is
garbage-collected (a ``weakref.finalize``, which also runs at interpreter exit). Closing a
:class:`PlanExecutor` restores every GPU setting it changed. Any use after closing raises
:class:`~ergon.ErgonError` with ``Status.INVALID_STATE``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from ctypes import byref, c_bool, c_double, c_size_t, c_uint32
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Tuple, Union

from . import _abi as A
from . import _names
from ._errors import ErgonError, Status
from ._ffi import Owner, check, index, make, u32, utf8
from ._library import lib
from .perseus import Frontier, Plan, _plan_selector

__all__ = [
    "EnergyMonitor",
    "GpuInfo",
    "Measurement",
    "PlanExecutor",
    "Profiler",
    "ProfilerProgress",
    "count",
    "devices",
    "info",
    "restore",
]

Device = Union[str, int]
"""A device name (``"0"``, ``"GPU-…"``, ``"MIG-…"``...) or an NVML index."""


class GpuInfo(NamedTuple):
    """What NVML reports about one GPU (``struct ergon_gpu_device_info``)."""

    # A field named as in the C struct (it hides tuple.index, which a GpuInfo does not need).
    index: int  # type: ignore[assignment]
    """NVML index (the parent GPU's for a MIG device)."""
    architecture: int
    """NVML architecture code (``nvmlDeviceArchitecture_t``: 7 Ampere, 8 Ada, 9 Hopper...)."""
    is_mig: bool
    """True for a MIG device."""
    uuid: str
    """``GPU-…`` or ``MIG-…``."""
    name: str
    """Product name, e.g. ``"NVIDIA A100-SXM4-40GB"``."""


def _device_bytes(device: Device) -> bytes:
    """A device name as UTF-8 (an ``int`` as its decimal text), for a pointer and a length."""
    if isinstance(device, int) and not isinstance(device, bool):
        if device < 0:
            raise ErgonError(Status.INVALID_ARGUMENT, f"device index {device} is negative")
        return str(device).encode("utf-8")
    if isinstance(device, bool) or not isinstance(device, str):
        raise TypeError(f"device must be a str or an int, not {type(device).__name__}")
    return device.encode("utf-8")


# --- module functions --------------------------------------------------------------------------


def count() -> int:
    """The number of GPUs NVML sees (MIG devices not counted).

    Raises:
        ErgonError: ``NVML_UNAVAILABLE`` (NVML could not be loaded; the message names every
            path tried) or ``GPU`` (an NVML call failed).
    """
    out = c_uint32(0)
    check(lib().ergon_gpu_device_count(byref(out)))
    return int(out.value)


def info(index: int) -> GpuInfo:
    """What NVML reports about GPU ``index`` (0 ≤ ``index`` < :func:`count`).

    Raises:
        ErgonError: ``OUT_OF_RANGE`` (no such GPU), ``NVML_UNAVAILABLE`` or ``GPU``.
    """
    out = A.ergon_gpu_device_info()
    check(lib().ergon_gpu_device_get_info(u32(index, "index"), byref(out)))
    return GpuInfo(
        int(out.index),
        int(out.architecture),
        bool(out.is_mig),
        out.uuid.decode("utf-8", "replace"),
        out.name.decode("utf-8", "replace"),
    )


def devices() -> List[GpuInfo]:
    """:func:`info` of every GPU, in NVML index order."""
    return [info(i) for i in range(count())]


def restore() -> int:
    """Puts back every GPU setting recorded in the GPU state file (``$ERGON_STATE_DIR``, else
    the default location), as ``ergon gpu restore`` does after a process that changed settings
    was killed. Returns the number of settings restored (0, without loading NVML, when there is
    no state file).

    Raises:
        ErgonError: ``NVML_UNAVAILABLE`` or ``GPU`` (a setting could not be put back, or the
            state file is unreadable; what could not be restored stays in the file).
    """
    out = c_size_t(0)
    check(lib().ergon_gpu_state_restore(byref(out)))
    return int(out.value)


class _OnDevice(Owner):
    """What :class:`PlanExecutor` and :class:`EnergyMonitor` share: the device they were made
    for, and how they show."""

    __slots__ = ("_device",)
    _running = "open"
    """The state ``repr`` shows until the object is closed."""

    def _set_device(self, device: Device) -> bytes:
        """Records ``device``; returns its name as the UTF-8 bytes the library takes."""
        name = _device_bytes(device)
        self._device = name.decode("utf-8")
        return name

    @property
    def device(self) -> str:
        """The device name given at construction."""
        return self._device

    def _repr_fields(self) -> str:
        return f"device={self._device!r}"

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._running
        return f"<ergon.gpu.{type(self).__name__} {self._repr_fields()} ({state})>"


# --- plan executor -----------------------------------------------------------------------------


class PlanExecutor(_OnDevice):
    """Executes one pipeline stage's frequency plan on a GPU (``ergon_gpu_executor_*``).

    Construction checks the planned clocks against the GPU's, sets the power limit to its
    default, locks the memory and graphics clocks at their maxima and starts a worker thread
    that applies each instruction's clock; every original setting is also written to the GPU
    state file so that :func:`restore` can put it back after a crash. Needs CAP_SYS_ADMIN.

    The plan comes either from a :class:`~ergon.Frontier` with the same ``at``/``deadline_s``
    as :meth:`Frontier.plan`, or as a :class:`~ergon.Plan` (e.g. one a planner rank solved and
    sent as JSON, read back by :meth:`Plan.from_json`). :meth:`set_plan` replaces it at an
    iteration boundary (a straggler re-plan). Between iterations (the optimizer step, the
    gradient all-reduce) the GPU runs at the stage plan's highest clock.

    SIGINT and SIGTERM restore every setting before the process ends, from a thread of the
    library (a launcher's SIGTERM skips Python's ``atexit``); a Python SIGINT handler installed
    before the executor still runs first.

    Per iteration: :meth:`instruction_begin` before each computation, in the plan's order,
    then :meth:`step_end`. :meth:`close` (or leaving a ``with`` block) stops the worker and
    restores every setting the executor changed; restore failures cannot be reported there
    (the settings stay in the GPU state file for :func:`restore`). Calls are serialized by a
    lock.
    """

    __slots__ = ("_stage",)
    _what = "plan executor"
    _running = "running"

    def __init__(
        self,
        device: Device,
        frontier: Union[Frontier, Plan],
        stage: int = 0,
        *,
        at: Optional[str] = None,
        deadline_s: Optional[float] = None,
    ) -> None:
        """Starts executing stage ``stage`` of ``frontier``'s plan on ``device``.

        Args:
            device: the GPU: an NVML index (``"0"``, ``0``), a UUID, or a CUDA ordinal
                ``"cuda:N"`` as the trainer knows it (``f"cuda:{local_rank}"``; mapped through
                ``CUDA_VISIBLE_DEVICES``).
            frontier: the frontier to plan from (solved here if it is not yet), or a
                :class:`~ergon.Plan` (then ``at`` and ``deadline_s`` must be left out).
            stage: the pipeline stage this GPU runs.
            at: ``"t_star"`` (the default) or ``"fastest"``, as for :meth:`Frontier.plan`.
            deadline_s: a straggler deadline, seconds, as for :meth:`Frontier.plan`.

        Raises:
            TypeError: ``frontier`` is neither a :class:`~ergon.Frontier` nor a
                :class:`~ergon.Plan`, or a plan comes with ``at``/``deadline_s``.
            ErgonError: ``INVALID_ARGUMENT`` (no such device, or a planned clock the GPU does
                not support), ``OUT_OF_RANGE`` (no such stage), ``DEADLINE``,
                ``NVML_UNAVAILABLE``, ``GPU``; a closed frontier gives ``INVALID_STATE``.
        """
        stage_index = index(stage, "stage")
        name = self._set_device(device)
        self._stage = stage_index
        # The executor copies its stage's program: the plan is not borrowed past the call.
        with _native_plan(frontier, at, deadline_s) as plan:
            handle = make(
                "ergon_gpu_executor_new", "gpu_executor", name, len(name), plan.ptr, stage_index
            )
        self._own(handle)

    @property
    def stage(self) -> int:
        """The pipeline stage executed."""
        return self._stage

    def _repr_fields(self) -> str:
        return f"{super()._repr_fields()} stage={self._stage}"

    # --- execution ---------------------------------------------------------------------------

    def instruction_begin(self, kind: str) -> None:
        """Before a computation: checks that ``kind`` (``"forward"`` or ``"backward"``) is the
        plan's next instruction and hands its clock to the worker (never waits). On a mismatch
        nothing advances.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (unknown kind), ``INVALID_STATE`` (not the plan's
                next instruction, past its end, or the executor is closed).
        """
        self._call("instruction_begin", _names.code(kind, "instruction kind", "PERSEUS_KINDS"))

    def step_end(self) -> None:
        """After an iteration: rewinds the plan, then reports an iteration that did not run
        every planned instruction, else clock changes the worker failed to make since the last
        report.

        Raises:
            ErgonError: ``INVALID_STATE`` (incomplete iteration; the plan is rewound anyway) or
                ``GPU`` (the worker's errors).
        """
        self._call("step_end")

    def set_plan(
        self,
        plan: Union[Frontier, Plan],
        stage: Optional[int] = None,
        *,
        at: Optional[str] = None,
        deadline_s: Optional[float] = None,
    ) -> None:
        """Replaces the executed plan by stage ``stage`` (default: this executor's stage) of
        ``plan`` — a :class:`~ergon.Plan`, or a :class:`~ergon.Frontier` with ``at``/
        ``deadline_s`` as for :meth:`Frontier.plan` — at an iteration boundary: at once when
        called between iterations, else at the next :meth:`step_end`, so that no iteration runs
        part of two plans. On an error the current plan stays.

        Raises:
            TypeError: as for the constructor.
            ErgonError: ``INVALID_ARGUMENT`` (a planned clock the GPU does not support),
                ``OUT_OF_RANGE`` (no such stage), ``DEADLINE``, ``INVALID_STATE`` (closed).
        """
        stage_index = self._stage if stage is None else index(stage, "stage")
        with _native_plan(plan, at, deadline_s) as native:
            self._call("set_plan", native.ptr, stage_index)
            if stage is not None:
                self._stage = stage_index

    def wait_applied(self) -> None:
        """Blocks until the worker has handled the latest clock request (applied it, or
        recorded its failure for :meth:`step_end`).

        Raises:
            ErgonError: ``GPU`` (the worker is gone).
        """
        self._call("wait_applied")


def _native_plan(plan: Union[Frontier, Plan], at: Optional[str], deadline_s: Optional[float]) -> Any:
    """A native plan handle (the caller frees it) from a frontier and a selector, or a Plan."""
    if isinstance(plan, Plan):
        if at is not None or deadline_s is not None:
            raise TypeError("at= and deadline_s= select a point of a Frontier, not of a Plan")
        return plan._native()
    if not isinstance(plan, Frontier):
        raise TypeError(
            f"expected an ergon.Frontier or an ergon.Plan, not {type(plan).__name__}"
        )
    return plan._native_plan(*_plan_selector(deadline_s, at))


# --- energy monitor ----------------------------------------------------------------------------


@dataclass
class Measurement:
    """One energy window of an :class:`EnergyMonitor`; ``time_s`` and ``energy_j`` are set when
    the window closes (``None`` while it is open)."""

    name: str
    """The window's name."""
    time_s: Optional[float] = None
    """Wall time of the window, seconds."""
    energy_j: Optional[float] = None
    """GPU energy over the window, joules."""

    @property
    def power_w(self) -> Optional[float]:
        """Average power over the window, watts (``None`` while open or for a zero time)."""
        if self.time_s is None or self.energy_j is None or self.time_s <= 0:
            return None
        return self.energy_j / self.time_s


class EnergyMonitor(_OnDevice):
    """Measures the energy of a GPU over named, possibly overlapping, windows
    (``ergon_gpu_energy_monitor_*``): the GPU's energy counter where it has one, else power
    polling on a thread. Needs no privileges. Closing drops the open windows.

    ::

        with EnergyMonitor("0") as mon:
            mon.begin("step")
            ...
            time_s, energy_j = mon.end("step")
            with mon.window("eval") as m:
                ...
            print(m.time_s, m.energy_j)
    """

    __slots__ = ()
    _what = "energy monitor"

    def __init__(self, device: Device) -> None:
        """Starts measuring ``device`` (``"0"``, ``0``, a ``GPU-…`` UUID...).

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (no such device, or a MIG device),
                ``NVML_UNAVAILABLE`` or ``GPU``.
        """
        name = self._set_device(device)
        self._own(make("ergon_gpu_energy_monitor_new", "gpu_energy_monitor", name, len(name)))

    # --- windows -----------------------------------------------------------------------------

    def begin(self, name: str) -> None:
        """Opens the window ``name``.

        Raises:
            ErgonError: ``INVALID_STATE`` (a window of that name is open, or the monitor is
                closed), ``PARSE`` or ``GPU``.
        """
        raw = utf8(name, "a window name")
        self._call("begin", raw, len(raw))

    def end(self, name: str) -> Tuple[float, float]:
        """Closes the window ``name``; returns its ``(time_s, energy_j)``.

        Raises:
            ErgonError: ``INVALID_STATE`` (no window of that name is open, or the monitor is
                closed), ``PARSE`` or ``GPU``.
        """
        raw = utf8(name, "a window name")
        time_s = c_double(0.0)
        energy_j = c_double(0.0)
        self._call("end", raw, len(raw), byref(time_s), byref(energy_j))
        return float(time_s.value), float(energy_j.value)

    @contextlib.contextmanager
    def window(self, name: str) -> Iterator[Measurement]:
        """A ``with`` block measured as the window ``name``: yields a :class:`Measurement`
        whose ``time_s`` and ``energy_j`` are filled in when the block ends (also when it
        raises; the block's exception then propagates)."""
        self.begin(name)
        m = Measurement(name)
        try:
            yield m
        finally:
            m.time_s, m.energy_j = self.end(name)


# --- profiler ----------------------------------------------------------------------------------

_log = logging.getLogger("ergon.gpu")


class ProfilerProgress(NamedTuple):
    """Where profiling stands (``struct ergon_gpu_profiler_progress``)."""

    freq_mhz: int
    """The clock being profiled (after the end: the last one profiled), MHz."""
    clock_index: int
    """0-based position of that clock among the candidates."""
    clocks_total: int
    """Number of candidate clocks (profiling may stop earlier: ``max_slowdown``)."""
    warming_up: bool
    """True during the warm-up iterations of the current clock."""
    iters_left: int
    """Iterations left if every remaining candidate is profiled (an upper bound)."""
    eta_s: Optional[float]
    """Estimated seconds left, the blocking window included; ``None`` before the first
    iteration ended."""
    done: bool
    """True once profiling is done."""


def _cuda_sync() -> Callable[[], None]:
    """``torch.cuda.synchronize`` of the current device, or a clear error without CUDA."""
    try:
        import torch  # the trainer's own torch; ergon does not depend on it
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ErgonError(
            Status.INVALID_ARGUMENT, 'sync="cuda" needs torch (pip install torch)'
        ) from e
    if not torch.cuda.is_available():
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            'sync="cuda": torch sees no CUDA device; pass sync=None or a callable',
        )
    synchronize: Callable[[], None] = torch.cuda.synchronize
    return synchronize


def _c_sync(sync: Callable[[], Any], keep: Callable[[BaseException], None]) -> Any:
    """``sync`` as the C callback ``void (*)(void *)``. An exception cannot cross the C
    library: it goes to ``keep``, and the call that made the callback run raises it after."""

    def call(_user_data: Any) -> None:
        try:
            sync()
        except BaseException as e:  # noqa: BLE001 - re-raised by the caller's call
            keep(e)

    return A.ergon_gpu_profiler_sync(call)


class Profiler(_OnDevice):
    """Profiles one pipeline stage's computations at each GPU clock inside a training job
    (``ergon_gpu_profiler_*``; the Perseus profiler).

    Construction selects the clocks (the supported graphics clocks from the maximum down, at
    least ``step_mhz`` apart, none below ``min_mhz``), sets the power limit to its default and
    locks the memory clock and the highest selected graphics clock; every original setting is
    also written to the GPU state file (see :func:`restore`). Needs CAP_SYS_ADMIN.

    Per iteration: :meth:`instruction_begin` and :meth:`instruction_end` around every
    computation (``"forward"``, ``"backward"`` or any other name of the schedule), then
    :meth:`step_end`, which returns True once profiling is done. Each clock gets
    ``warmup_iters`` discarded and ``iters_per_clock`` measured iterations; profiling stops
    lowering the clock once a computation is ``max_slowdown`` times slower than at its fastest,
    then measures the blocking power (the GPU idle at the lowest profiled clock for
    ``blocking_window_s``; :meth:`step_end` blocks that long) and restores every setting.
    :meth:`close` (or leaving a ``with`` block) restores them at any time. Calls are serialized
    by a lock.
    """

    __slots__ = ("_stage", "_sync_cb", "_sync_error", "_progress_cb", "_last_freq")
    _what = "profiler"
    _running = "profiling"

    def __init__(
        self,
        device: Device,
        stage: int = 0,
        *,
        warmup_iters: int = 1,
        iters_per_clock: int = 2,
        step_mhz: int = 0,
        min_mhz: int = 0,
        max_slowdown: float = 1.5,
        blocking_window_s: float = 1.0,
        restore_on_signal: bool = True,
        sync: Union[None, str, Callable[[], Any]] = None,
        progress: Optional[Callable[[ProfilerProgress], Any]] = None,
    ) -> None:
        """Starts profiling stage ``stage`` on ``device``.

        Args:
            device: the GPU (``"0"``, ``0``, a UUID...).
            stage: the pipeline stage this GPU runs (the ``stage`` column of the CSV).
            warmup_iters: iterations discarded after each clock change.
            iters_per_clock: iterations measured at each clock (at least 1).
            step_mhz: least spacing of the profiled clocks, MHz (0: every supported clock).
            min_mhz: no clock below this is profiled, MHz.
            max_slowdown: stop lowering the clock once a computation's mean time exceeds this
                factor of its fastest (at least 1; ``math.inf`` never stops).
            blocking_window_s: seconds the idle GPU is measured for P_blocking at the end.
            restore_on_signal: restore the GPU's settings on SIGINT/SIGTERM, then end the
                process (a launcher's SIGTERM must not leave clocks locked; Python's ``atexit``
                does not run then).
            sync: waits for the GPU's queued work before each time and energy reading:
                ``None`` (no synchronisation), ``"cuda"`` (``torch.cuda.synchronize``) or any
                callable without arguments. An exception it raises is re-raised by the profiler
                call that made it run.
            progress: called with a :class:`ProfilerProgress` after every :meth:`step_end`;
                ``None`` logs to the ``ergon.gpu`` logger (INFO) at each new clock and at the
                end.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (no such device, an option out of range, no clock
                at or above ``min_mhz``, ``sync="cuda"`` without CUDA), ``NVML_UNAVAILABLE``,
                ``GPU``.
        """
        stage_index = index(stage, "stage")
        if sync == "cuda":
            sync = _cuda_sync()
        elif sync is not None and not callable(sync):
            raise TypeError(f'sync must be None, "cuda" or a callable, not {sync!r}')
        if progress is not None and not callable(progress):
            raise TypeError(f"progress must be None or a callable, not {progress!r}")
        name = self._set_device(device)
        self._stage = stage_index
        self._progress_cb: Optional[Callable[[ProfilerProgress], Any]] = progress
        self._sync_error: Optional[BaseException] = None
        self._last_freq: Optional[int] = None
        options = lib().ergon_gpu_profiler_options_default()
        options.warmup_iters = u32(warmup_iters, "warmup_iters")
        options.iters_per_clock = u32(iters_per_clock, "iters_per_clock")
        options.step_mhz = u32(step_mhz, "step_mhz")
        options.min_mhz = u32(min_mhz, "min_mhz")
        options.max_slowdown = float(max_slowdown)
        options.blocking_window_s = float(blocking_window_s)
        options.restore_on_signal = bool(restore_on_signal)
        # The ctypes callback object, kept alive with the profiler (None: no sync).
        self._sync_cb: Optional[Any] = None
        if sync is not None:
            # Kept alive with the profiler: the library calls it until the handle is freed.
            self._sync_cb = _c_sync(sync, self._keep_sync_error)
            options.sync = self._sync_cb
        self._own(
            make("ergon_gpu_profiler_new", "gpu_profiler", name, len(name), stage_index,
                 byref(options))
        )

    @property
    def stage(self) -> int:
        """The pipeline stage profiled."""
        return self._stage

    def _repr_fields(self) -> str:
        return f"{super()._repr_fields()} stage={self._stage}"

    def _keep_sync_error(self, error: BaseException) -> None:
        if self._sync_error is None:
            self._sync_error = error

    def _checked(self, verb: str, *args: Any) -> None:
        """``_call``, then the sync callback's exception, if it raised one."""
        try:
            self._call(verb, *args)
        finally:
            error, self._sync_error = self._sync_error, None
            if error is not None:
                raise error

    # --- profiling ---------------------------------------------------------------------------

    def instruction_begin(self, kind: str) -> None:
        """Before the computation ``kind`` (any name without commas, quotes or control
        characters): during measured iterations, synchronises and opens its window.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (a name the CSV cannot carry), ``INVALID_STATE``
                (an instruction is open, profiling is over, or the profiler is closed), ``GPU``
                (the reading failed: profiling stopped and the settings were restored).
        """
        raw = utf8(kind, "an instruction name")
        self._checked("instruction_begin", raw, len(raw))

    def instruction_end(self, kind: str) -> None:
        """After the computation ``kind``: during measured iterations, synchronises and adds its
        time and energy to the current clock's.

        Raises:
            ErgonError: ``INVALID_STATE`` (no instruction open, another one open, profiling is
                over) or ``GPU``.
        """
        raw = utf8(kind, "an instruction name")
        self._checked("instruction_end", raw, len(raw))

    def step_end(self) -> bool:
        """After an iteration: advances warm-up, measured iterations and clocks; after the last
        clock measures P_blocking (blocking ``blocking_window_s``) and restores the settings.
        Returns True once profiling is done, then reports progress (see ``progress``).

        Raises:
            ErgonError: ``INVALID_STATE`` (an instruction is open, or profiling is over) or
                ``GPU`` (profiling stopped, settings restored).
        """
        done = c_bool(False)
        self._checked("step_end", byref(done))
        p = self.progress
        if self._progress_cb is not None:
            self._progress_cb(p)
        elif p.done:
            _log.info("ergon profiler (stage %d): done, %d clocks", self._stage, p.clock_index + 1)
        elif p.freq_mhz != self._last_freq:
            eta = "?" if p.eta_s is None else f"{p.eta_s:.0f} s"
            _log.info(
                "ergon profiler (stage %d): profiling %d MHz (%d/%d), %d iterations left, ETA %s",
                self._stage, p.freq_mhz, p.clock_index + 1, p.clocks_total, p.iters_left, eta,
            )
        self._last_freq = p.freq_mhz
        return bool(done.value)

    @property
    def progress(self) -> ProfilerProgress:
        """Where profiling stands."""
        raw = self._get("get_progress", A.ergon_gpu_profiler_progress)
        eta = float(raw.eta_s)
        return ProfilerProgress(
            int(raw.freq_mhz),
            int(raw.clock_index),
            int(raw.clocks_total),
            bool(raw.warming_up),
            int(raw.iters_left),
            None if math.isnan(eta) else eta,
            bool(raw.done),
        )

    @property
    def done(self) -> bool:
        """True once profiling is done (the profile and P_blocking are final)."""
        return self.progress.done

    @property
    def p_blocking_w(self) -> Optional[float]:
        """The blocking power measured at the end, W; ``None`` before."""
        with self._lock:
            h = self._live()
            out = c_double(0.0)
            if h.fn("p_blocking_w")(h.ptr, byref(out)):
                return None
            return float(out.value)

    def to_csv(self) -> str:
        """The profile so far (complete once done) as zeus profile CSV:
        ``stage,instruction,frequency,time,energy``, one row per instruction and clock, time in
        seconds and energy in joules per computation."""
        return self._text("to_csv")
