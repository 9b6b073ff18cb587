"""Zeus: the GPU power limit that minimises a mix of energy and time, chosen just in time inside
one training run (``ergon_zeus_power_limit_optimizer_*`` of ``ergon.h``).

:class:`PowerLimitOptimizer` is used as zeus's ``GlobalPowerLimitOptimizer`` is: call
:meth:`~PowerLimitOptimizer.on_step_begin` at the beginning of every training step and
:meth:`~PowerLimitOptimizer.on_epoch_end` at the end of every epoch::

    from ergon.zeus import PowerLimitOptimizer

    plo = PowerLimitOptimizer([local_rank], eta=0.5, profile_path="plo-profile.json")
    for epoch in range(epochs):
        plo.on_epoch_begin()
        for batch in loader:
            plo.on_step_begin()
            ...                                   # forward, backward, optimizer step
            plo.on_step_end()
        plo.on_epoch_end()
    plo.close()                                   # the GPUs' power limits come back

It sets the maximum power limit, then profiles each limit from the maximum down in 25 W steps
(``warmup_steps`` steps to settle, ``profile_steps`` measured), chooses the optimum and holds
it. Under ``torch.distributed`` (initialised, more than one rank) every rank's window is
all-reduced, energy summed and time maxed, so every rank chooses the same limit; the Zeus cost
then prices time with the GPU count of the whole job. A Hugging Face ``Trainer`` gets the same
through :class:`ergon.hooks.huggingface.PowerLimitCallback`.

Every setting changed (the power limits, persistence mode) is written to the GPU state file
first and restored when the optimizer is closed, garbage-collected, fails, or the process gets
SIGINT/SIGTERM (see :func:`ergon.gpu.restore` after a SIGKILL).

:class:`BatchSizeOptimizer` chooses the batch size of a *recurring* job across its recurrences
(pruning exploration from the default, early stopping at β × the best cost, then Gaussian
Thompson sampling), as a library object the job launcher calls; its state lives in a file
between recurrences (``zeus-bso-state/v1``, rewritten atomically after every call)::

    bso = BatchSizeOptimizer("bso.json", [32, 64, 128, 256], 128, eta=0.5, max_power_w=4 * 300)
    b = bso.next_batch_size()
    ...                                           # train with b; stop early past bso.cost_limit
    bso.report(b, time_s=t, energy_j=e, reached=True)
"""

from __future__ import annotations

import json
import contextlib
import os
import tempfile
from ctypes import byref, c_char_p, c_double, c_size_t, c_uint32
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _abi as A
from ._errors import ErgonError, Status
from ._ffi import Owner, PathLike, as_bytes, make, u32
from ._library import lib
from .gpu import Device, _c_sync, _cuda_sync, _device_bytes

__all__ = ["BatchSizeOptimizer", "PowerLimitOptimizer", "PowerLimitState", "SELECTORS"]

SELECTORS = {
    "zeus-cost": A.ERGON_ZEUS_SELECTOR_ZEUS_COST,
    "energy": A.ERGON_ZEUS_SELECTOR_ENERGY,
    "time": A.ERGON_ZEUS_SELECTOR_TIME,
    "max-slowdown": A.ERGON_ZEUS_SELECTOR_MAX_SLOWDOWN,
}
"""The ways to choose the optimum: the least Zeus cost ``eta*E + (1-eta)*MaxPower*T``, the
least energy, the least time, or the lowest limit at most ``max_slowdown`` times slower than
the maximum limit."""

_PHASES = {
    A.ERGON_ZEUS_PHASE_READY: "ready",
    A.ERGON_ZEUS_PHASE_WARMUP: "warmup",
    A.ERGON_ZEUS_PHASE_PROFILING: "profiling",
    A.ERGON_ZEUS_PHASE_DONE: "done",
    A.ERGON_ZEUS_PHASE_STOPPED: "stopped",
}


class PowerLimitState(NamedTuple):
    """Where the optimizer stands (``struct ergon_zeus_power_limit_state``)."""

    phase: str
    """``"ready"``, ``"warmup"``, ``"profiling"``, ``"done"`` or ``"stopped"``."""
    limit_w: float
    """The limit being (or next to be) profiled, or the optimum once done, W."""
    steps_left: int
    """Step begins left in the phase."""
    optimal_limit_w: Optional[float]
    """The chosen limit once done, W; ``None`` before."""
    profiled: int
    """Limits measured so far."""
    candidates: int
    """Candidate limits in all."""


def _torch_group() -> Any:
    """``torch.distributed`` when it is initialised with more than one rank, else ``None``."""
    try:
        import torch.distributed as dist  # the trainer's own torch; ergon does not need it
    except ImportError:
        return None
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist
    return None


def _reduce(dist: Any, value: float, op: Any) -> float:
    """``value`` all-reduced with ``op`` over the default group (on the current CUDA device
    for NCCL, which reduces only GPU tensors)."""
    import torch

    device = "cpu"
    if dist.get_backend() == "nccl":
        device = f"cuda:{torch.cuda.current_device()}"
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op)
    return float(t.item())


class PowerLimitOptimizer(Owner):
    """Zeus's just-in-time power-limit optimizer on the GPUs of this process (see the module
    documentation). Calls are not thread-safe: make them from the training loop."""

    __slots__ = ("_devices", "_sync_cb", "_aggregate_cb", "_error", "_options")
    _what = "power-limit optimizer"

    def __init__(
        self,
        devices: Union[Device, Sequence[Device]],
        eta: float = 0.5,
        *,
        selector: str = "zeus-cost",
        max_slowdown: float = 1.1,
        wait_steps: int = 1,
        warmup_steps: int = 10,
        profile_steps: int = 40,
        pl_step_w: int = 25,
        gpu_count: Optional[int] = None,
        profile_path: Optional[PathLike] = None,
        restore_on_signal: bool = True,
        sync: Union[None, str, Callable[[], Any]] = "auto",
        aggregate: Union[None, str, Callable[[float, float], Any]] = "auto",
    ) -> None:
        """Sets the maximum power limit on ``devices`` (or, when ``profile_path`` exists, the
        optimum of that saved profile at once). Needs CAP_SYS_ADMIN.

        Args:
            devices: this process's GPUs (``0``, ``"0"``, ``"GPU-…"``, or a list), all of one
                model.
            eta: the energy/time trade-off of the Zeus cost, in [0, 1] (1: only energy).
            selector: one of :data:`SELECTORS`.
            max_slowdown: the slowdown ``"max-slowdown"`` allows (at least 1).
            wait_steps: steps before the first warm-up.
            warmup_steps: steps at each limit before its window opens (0: none).
            profile_steps: steps measured at each limit (at least 1).
            pl_step_w: spacing of the candidate limits, W.
            gpu_count: GPUs of the whole job for the Zeus cost; ``None``: the sum of every
                rank's device count under ``torch.distributed``, else ``len(devices)``.
            profile_path: the profile (``zeus-power-profile/v1``) read when it exists (no
                profiling) and written when profiling ends.
            restore_on_signal: restore the GPUs on SIGINT/SIGTERM, then end the process.
            sync: waits for the GPU's queued work before a window opens or closes:
                ``"auto"`` (``torch.cuda.synchronize`` when torch sees CUDA, else nothing),
                ``"cuda"``, ``None`` or a callable.
            aggregate: combines a window's ``(energy_j, time_s)`` with the other ranks':
                ``"auto"`` (all-reduce over ``torch.distributed`` when it runs more than one
                rank: energy summed, time maxed), ``None`` (this process only), or a callable
                returning the job's ``(energy_j, time_s)``.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (no device, GPUs of different power-limit ranges,
                an option out of range), ``PARSE`` (a profile file that cannot be read or
                used), ``NVML_UNAVAILABLE``, ``GPU``.
        """
        device_list = list(devices) if isinstance(devices, (list, tuple)) else [devices]
        names = [_device_bytes(d) for d in device_list]
        if selector not in SELECTORS:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"unknown selector {selector!r} (expected {', '.join(SELECTORS)})",
            )
        dist = _torch_group()
        if aggregate == "auto":
            aggregate = self._torch_aggregate if dist is not None else None
        elif aggregate is not None and not callable(aggregate):
            raise TypeError(f'aggregate must be None, "auto" or a callable, not {aggregate!r}')
        if gpu_count is None:
            gpu_count = len(names)
            if dist is not None:
                gpu_count = int(_reduce(dist, float(len(names)), dist.ReduceOp.SUM))
        if sync == "auto":
            sync = _auto_sync()
        elif sync == "cuda":
            sync = _cuda_sync()
        elif sync is not None and not callable(sync):
            raise TypeError(f'sync must be None, "auto", "cuda" or a callable, not {sync!r}')
        self._devices = [n.decode("utf-8") for n in names]
        self._error: Optional[BaseException] = None
        o = lib().ergon_zeus_power_limit_options_default()
        o.wait_steps = u32(wait_steps, "wait_steps")
        o.warmup_steps = u32(warmup_steps, "warmup_steps")
        o.profile_steps = u32(profile_steps, "profile_steps")
        o.step_mw = u32(int(pl_step_w) * 1000, "pl_step_w * 1000")
        o.selector = SELECTORS[selector]
        o.eta = float(eta)
        o.gpu_count = u32(gpu_count, "gpu_count")
        o.max_slowdown = float(max_slowdown)
        if profile_path is not None:
            raw_path = str(profile_path).encode("utf-8")
            o.profile_path = raw_path
            o.profile_path_len = len(raw_path)
        o.restore_on_signal = bool(restore_on_signal)
        self._sync_cb: Optional[Any] = None
        self._aggregate_cb: Optional[Any] = None
        if sync is not None:
            # Kept alive with the optimizer: the library calls it until the handle is freed.
            self._sync_cb = _c_sync(sync, self._keep_error)
            o.sync = self._sync_cb
        if aggregate is not None:
            user_aggregate = aggregate

            def call_aggregate(_user_data: Any, energy_j: Any, time_s: Any) -> bool:
                try:
                    e, t = user_aggregate(float(energy_j[0]), float(time_s[0]))
                    energy_j[0], time_s[0] = float(e), float(t)
                    return True
                except BaseException as e:  # noqa: BLE001 - re-raised by _checked
                    self._keep_error(e)
                    return False

            self._aggregate_cb = A.ergon_zeus_aggregate(call_aggregate)
            o.aggregate = self._aggregate_cb
        self._options = o  # keeps the path bytes alive for the call
        pointers = (c_char_p * len(names))(*names)
        lens = (c_size_t * len(names))(*(len(n) for n in names))
        self._own(
            make(
                "ergon_zeus_power_limit_optimizer_new",
                "zeus_power_limit_optimizer",
                pointers,
                lens,
                len(names),
                byref(o),
            )
        )

    @staticmethod
    def _torch_aggregate(energy_j: float, time_s: float) -> Tuple[float, float]:
        """Energy summed and time maxed over every rank of ``torch.distributed``."""
        dist = _torch_group()
        if dist is None:
            return energy_j, time_s
        return (
            _reduce(dist, energy_j, dist.ReduceOp.SUM),
            _reduce(dist, time_s, dist.ReduceOp.MAX),
        )

    @property
    def devices(self) -> List[str]:
        """The devices given at construction."""
        return list(self._devices)

    def _keep_error(self, error: BaseException) -> None:
        """Keeps a callback's first exception for :meth:`_checked` to raise."""
        if self._error is None:
            self._error = error

    def _checked(self, verb: str) -> None:
        """``_call``, then a callback's exception, if one raised."""
        try:
            self._call(verb)
        finally:
            error, self._error = self._error, None
            if error is not None:
                raise error

    def on_step_begin(self) -> None:
        """At the beginning of every training step.

        Raises:
            ErgonError: ``INVALID_STATE`` (closed or stopped), ``GPU`` (an NVML call or a
                measurement failed: the optimizer stopped and every setting was restored).
        """
        self._checked("on_step_begin")

    def on_epoch_end(self) -> None:
        """At the end of every epoch: a limit interrupted in warm-up or profiling is profiled
        again, from scratch, in the next epoch."""
        self._checked("on_epoch_end")

    def on_epoch_begin(self) -> None:
        """Does nothing (zeus's API has it)."""

    def on_step_end(self) -> None:
        """Does nothing (zeus's API has it)."""

    @property
    def state(self) -> PowerLimitState:
        """Where the optimizer stands."""
        raw = self._get("get_state", A.ergon_zeus_power_limit_state)
        return PowerLimitState(
            _PHASES.get(int(raw.phase), str(raw.phase)),
            raw.limit_mw / 1000.0,
            int(raw.steps_left),
            raw.optimal_limit_mw / 1000.0 if raw.optimal_limit_mw else None,
            int(raw.profiled),
            int(raw.candidates),
        )

    @property
    def optimal_limit_w(self) -> Optional[float]:
        """The chosen power limit once done, W."""
        return self.state.optimal_limit_w

    @property
    def profile(self) -> List[dict]:
        """The measurements so far: ``{"power_limit_mw", "energy_j", "time_s"}`` per limit, in
        profiling order (energy and time of the whole job)."""
        doc = json.loads(self._text("profile_json"))
        measurements: List[dict] = doc["measurements"]
        return measurements

    def __repr__(self) -> str:
        if self.closed:
            return f"<ergon.zeus.PowerLimitOptimizer devices={self._devices!r} (closed)>"
        s = self.state
        return f"<ergon.zeus.PowerLimitOptimizer devices={self._devices!r} ({s.phase} {s.limit_w:g} W)>"


def _auto_sync() -> Optional[Callable[[], None]]:
    """``torch.cuda.synchronize`` when torch is importable and sees CUDA, else ``None``."""
    try:
        import torch
    except ImportError:
        return None
    if torch.cuda.is_available():
        sync: Callable[[], None] = torch.cuda.synchronize
        return sync
    return None



class BatchSizeOptimizer(Owner):
    """The Zeus batch-size optimizer of a recurring job, persisted in ``state_path`` (see the
    module documentation). The file is read at construction when it exists (the job's
    parameters must then be the ones it was made with) and rewritten, atomically (a temporary
    file beside it, then a rename), after every :meth:`next_batch_size` and :meth:`report`.
    """

    __slots__ = ("_path",)
    _what = "batch-size optimizer"

    def __init__(
        self,
        state_path: PathLike,
        batch_sizes: Sequence[int],
        default_batch_size: int,
        *,
        eta: float = 0.5,
        max_power_w: float,
        beta: float = 2.0,
        num_pruning_rounds: int = 2,
        num_explorations: int = 2,
        window_size: int = 0,
        seed: int = 1,
        prior_mean: float = 0.0,
        prior_precision: float = 0.0,
    ) -> None:
        """Args:
            state_path: the file the state lives in between recurrences.
            batch_sizes: the batch sizes that may be chosen.
            default_batch_size: where pruning starts (one of ``batch_sizes``).
            eta: the energy/time trade-off of the cost, in [0, 1].
            max_power_w: the power that prices time: the maximum power limit of the job's GPUs
                times their count (zeus's ``max_power``), W.
            beta: early-stopping multiplier (at least 1; ``math.inf`` disables it).
            num_pruning_rounds, num_explorations, window_size, seed, prior_mean,
                prior_precision: as in zeus (its defaults).

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (bad parameters, or a state file made with other
                batch sizes, default, η or ``max_power_w``), ``PARSE``/``SCHEMA``/
                ``INVALID_PROBLEM`` (a state file that is not ``zeus-bso-state/v1``).
        """
        self._path = os.fspath(state_path)
        sizes = [u32(b, "batch size") for b in batch_sizes]
        o = lib().ergon_zeus_batch_size_options_default()
        o.eta = float(eta)
        o.max_power_w = float(max_power_w)
        o.beta = float(beta)
        o.num_pruning_rounds = u32(num_pruning_rounds, "num_pruning_rounds")
        o.num_explorations = u32(num_explorations, "num_explorations")
        o.window_size = u32(window_size, "window_size")
        o.seed = int(seed)
        o.prior_mean = float(prior_mean)
        o.prior_precision = float(prior_precision)
        fresh = make(
            "ergon_zeus_batch_size_optimizer_new",
            "zeus_batch_size_optimizer",
            (c_uint32 * len(sizes))(*sizes),
            len(sizes),
            u32(default_batch_size, "default_batch_size"),
            byref(o),
        )
        if not os.path.exists(self._path):
            self._own(fresh)
            self._save()
            return
        try:
            wanted = json.loads(fresh.text("to_json"))
        finally:
            fresh.free()
        with open(self._path, "rb") as f:
            raw = f.read()
        self._own(
            make(
                "ergon_zeus_batch_size_optimizer_from_json",
                "zeus_batch_size_optimizer",
                raw,
                len(raw),
            )
        )
        saved = json.loads(self._text("to_json"))
        for key, got, want in (
            ("batch_sizes", saved["optimizer"]["params"]["batch_sizes"],
             wanted["optimizer"]["params"]["batch_sizes"]),
            ("default_batch_size", saved["optimizer"]["params"]["default_batch_size"],
             wanted["optimizer"]["params"]["default_batch_size"]),
            ("eta", saved["eta"], wanted["eta"]),
            ("max_power_w", saved["max_power_w"], wanted["max_power_w"]),
        ):
            if got != want:
                self.close()
                raise ErgonError(
                    Status.INVALID_ARGUMENT,
                    f"{self._path} holds the batch-size optimizer of another job: its {key} "
                    f"is {got!r}, this job's {want!r}",
                )

    def _save(self) -> None:
        """Writes the state atomically: a temporary file in the same folder, then a rename."""
        text = as_bytes(self._text("to_json"), "state")
        folder = os.path.dirname(os.path.abspath(self._path))
        fd, tmp = tempfile.mkstemp(prefix=".bso-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @property
    def state_path(self) -> str:
        """The state file."""
        return self._path

    def next_batch_size(self) -> int:
        """The batch size to run this recurrence with (saved: asked again before a report,
        pruning hands out the same one).

        Raises:
            ErgonError: ``INVALID_STATE`` (a pruning round ended with no batch size that
                reached the target).
        """
        out = c_uint32(0)
        self._call("next_batch_size", byref(out))
        self._save()
        return int(out.value)

    def report(
        self,
        batch_size: int,
        time_s: Optional[float] = None,
        energy_j: Optional[float] = None,
        reached: bool = True,
        *,
        cost: Optional[float] = None,
    ) -> None:
        """Records an attempt at ``batch_size``: the ``time_s`` and ``energy_j`` it took (every
        epoch it ran, every GPU), priced as ``eta*E + (1-eta)*max_power_w*T``, or its ``cost``
        directly, and whether it ``reached`` the target. Saved.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (an unknown batch size, a bad time, energy or
                cost), ``INVALID_STATE`` (during pruning, another batch size than the one
                handed out).
        """
        if cost is not None:
            if time_s is not None or energy_j is not None:
                raise TypeError("give either cost= or time_s and energy_j, not both")
            self._call("report_cost", u32(batch_size, "batch_size"), float(cost), bool(reached))
        elif time_s is None or energy_j is None:
            raise TypeError("report needs time_s and energy_j (or cost=)")
        else:
            self._call(
                "report",
                u32(batch_size, "batch_size"),
                float(time_s),
                float(energy_j),
                bool(reached),
            )
        self._save()

    @property
    def cost_limit(self) -> float:
        """β × the lowest cost of a finished recurrence (``math.inf`` before one): stop an
        attempt before an epoch would take its cost past this."""
        out = self._get("cost_limit", c_double)
        return float(out.value)

    @property
    def history(self) -> List[Tuple[int, float]]:
        """Every ``(batch_size, cost)`` observed, in order."""
        doc = json.loads(self._text("to_json"))
        return [(int(b), -float(r)) for b, r in doc["optimizer"]["history"]]

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ergon.zeus.BatchSizeOptimizer {self._path!r} ({state})>"

