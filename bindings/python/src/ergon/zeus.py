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
"""

from __future__ import annotations

import json
from ctypes import byref, c_char_p, c_size_t
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _abi as A
from ._errors import ErgonError, Status
from ._ffi import Owner, PathLike, make, u32
from ._library import lib
from .gpu import Device, _cuda_sync, _device_bytes

__all__ = ["PowerLimitOptimizer", "PowerLimitState", "SELECTORS"]

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
            user_sync = sync

            def call_sync(_user_data: Any) -> None:
                # An exception cannot cross the C library: keep the first, raise it after.
                try:
                    user_sync()
                except BaseException as e:  # noqa: BLE001 - re-raised by _checked
                    if self._error is None:
                        self._error = e

            self._sync_cb = A.ergon_gpu_profiler_sync(call_sync)
            o.sync = self._sync_cb
        if aggregate is not None:
            user_aggregate = aggregate

            def call_aggregate(_user_data: Any, energy_j: Any, time_s: Any) -> bool:
                try:
                    e, t = user_aggregate(float(energy_j[0]), float(time_s[0]))
                    energy_j[0], time_s[0] = float(e), float(t)
                    return True
                except BaseException as e:  # noqa: BLE001 - re-raised by _checked
                    if self._error is None:
                        self._error = e
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

