"""DPK (DPack): privacy-budget scheduling of training tasks onto data blocks.

Every data block has a differential-privacy budget that is never replenished; a task (a model
to train) consumes the same Rényi-DP curve on every block it requests, and a set of tasks fits
when every block stays within its capacity at *some* RDP order. :func:`schedule` picks the tasks
to run with DPK (Tholoniat et al., EuroSys'25) or a baseline (DPF, FCFS, Area, an exact
solver), through ``libergon.so``'s ``ergon_dpk_*`` functions::

    from ergon import dpk

    with dpk.Workload.from_file("workload.json") as w:        # dpk-workload/v1
        a = dpk.schedule(w, "dpk")
        print(a.count, a.total_weight, a.allocated)           # ids in allocation order
        print(a.remaining[0])                                 # block 0, one value per order

    w = dpk.Workload(
        blocks=[{"id": 0, "epsilon": 10.0, "delta": 1e-7}],
        tasks=[{"id": 1, "weight": 2.0, "blocks": [0],
                "demand": dpk.subsampled_gaussian(q=0.01, sigma=1.1, steps=1000)}],
    )

:func:`simulate` runs an online simulation (``dpk-online/v1``: blocks arriving over time, budget
unlocked gradually, scheduling every T). The RDP helpers (:func:`gaussian`, :func:`laplace`,
:func:`subsampled_gaussian`, :func:`subsampled_laplace`, :func:`compose`, :func:`block_capacity`,
:func:`gaussian_sigma`, :func:`gaussian_delta`, :func:`dp_epsilon`, :func:`dp_delta`) let a
training job describe its demand and convert between RDP and (ε, δ), on the standard orders, on
:func:`dense_alphas` or on any grid of up to 4096 orders. Failures raise :class:`ergon.ErgonError`
with the library's status and a message naming the offending block or task.
"""

from __future__ import annotations

import json
import math
import operator
import os
from ctypes import byref, c_double, c_size_t, c_uint64
from dataclasses import dataclass, field
from typing import (
    AbstractSet,
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _abi as A
from . import _names
from ._errors import ErgonError, Status
from ._ffi import (
    Handle,
    Owner,
    PathLike,
    as_bytes,
    check,
    index,
    make,
    read_file,
    read_list,
    thread_error,
)
from ._library import lib

_SCHEDULERS = "DPK_SCHEDULERS"
_CONVERSIONS = "DPK_CONVERSIONS"


def __getattr__(name: str) -> Any:
    """``SCHEDULERS``: the schedulers by name (the names of ``ergon dpk schedule --scheduler``),
    as the library names them; built on first use, which loads the library."""
    if name == "SCHEDULERS":
        return getattr(_names, _SCHEDULERS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_OPTION_NAMES = {
    "eta",
    "knapsack",
    "recompute_every",
    "single_task_fallback",
    "dpf_weighted",
    "dpf_capacity",
    "max_nodes",
}
_BLOCK_KEYS = {"id", "epsilon", "delta", "conversion", "capacity", "arrival"}
_TASK_KEYS = {"id", "weight", "arrival", "blocks", "demand", "mechanism"}

Number = Union[int, float]


def _problem(message: str) -> ErgonError:
    return ErgonError(Status.INVALID_PROBLEM, message)


def _id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise _problem(f"{what}: id must be an integer, got {value!r}")
    v = operator.index(value)
    if not 0 <= v < 2**64:
        raise _problem(f"{what}: id {v} is out of range (0 to 2**64 - 1)")
    return v


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise _problem(f"{what} must be a number, not bool")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _problem(f"{what} must be a number, got {value!r}") from None


def _numbers(values: Any, what: str) -> List[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _problem(f"{what} must be a list of numbers, got {values!r}")
    return [_number(v, f"{what}[{i}]") for i, v in enumerate(values)]


def _doubles(values: Sequence[float]) -> Any:
    return (c_double * len(values))(*values)


@dataclass(frozen=True)
class Allocation:
    """The result of :func:`schedule`: a plain value (its native handle is read completely and
    released before :func:`schedule` returns)."""

    scheduler: str
    """The scheduler that made it: ``"dpk"``, ``"dpf"``, ``"fcfs"``, ``"area"`` or ``"optimal"``."""
    allocated: List[int]
    """Ids of the allocated tasks, in allocation order."""
    total_weight: float
    """Sum of their weights."""
    remaining: Dict[int, List[float]]
    """Remaining budget per block id (workload order), one value per RDP order; negative at the
    orders a block did not use."""
    upper_bound: Optional[float] = None
    """``"optimal"`` only: an upper bound on the optimum (equal to :attr:`total_weight` when the
    search finished)."""
    proven_optimal: bool = True
    """False only when the exact search stopped at its node budget."""
    _json: str = field(default="", repr=False, compare=False)

    @property
    def count(self) -> int:
        """Number of allocated tasks."""
        return len(self.allocated)

    num_allocated = count
    """Alias of :attr:`count`."""

    def to_json(self) -> str:
        """The allocation as ``dpk-result/v1`` JSON, exactly as ``ergon dpk schedule --json``
        prints it."""
        return self._json


class Workload(Owner):
    """A validated DPK workload: RDP orders, data blocks and tasks (``dpk-workload/v1``).

    Make one from Python values (``Workload(blocks=[...], tasks=[...], alphas=None)``), from a
    document (:meth:`from_json`) or a file (:meth:`from_file`). The values:

    - ``alphas``: the RDP orders (finite, > 1, increasing; at most 16); ``None`` for the 12
      standard ones (:func:`standard_alphas`).
    - a block: a mapping with ``id`` and either ``epsilon`` and ``delta`` (its global budget,
      turned into a capacity per order by ``conversion``: ``"classic"``, the default, or
      ``"tight"``; see :func:`block_capacity`) or ``capacity`` (one value per order); optional
      ``arrival``.
    - a task: a mapping with ``id``, ``blocks`` (the ids it requests) and ``demand`` (its RDP
      curve, one value per order) or a ``mechanism`` as in ``dpk-workload/v1`` (e.g.
      ``{"kind": "gaussian", "sigma": 1.0}``); optional ``weight`` (1) and ``arrival`` (0).

    The native handle is released by :meth:`close`, by leaving a ``with`` block, or when the
    object is garbage-collected. Any use after closing raises :class:`ErgonError` with
    ``Status.INVALID_STATE``. A workload can be scheduled any number of times.
    """

    __slots__ = ("_source",)
    _what = "workload"

    def __init__(
        self,
        blocks: Iterable[Mapping[str, Any]],
        tasks: Iterable[Mapping[str, Any]],
        alphas: Optional[Sequence[Number]] = None,
    ) -> None:
        """Builds a workload from Python values (see the class documentation).

        Raises:
            ErgonError: ``INVALID_PROBLEM`` naming the block or task (an unknown or missing
                key, a NaN or negative demand, a missing block, δ outside (0, 1), empty
                orders...).
        """
        blocks = list(blocks)
        tasks = list(tasks)
        if any(isinstance(t, Mapping) and "mechanism" in t for t in tasks):
            # Mechanisms are turned into curves by the document parser.
            doc: Dict[str, Any] = {
                "schema": "dpk-workload/v1",
                "blocks": [
                    dict(_check_keys(b, _BLOCK_KEYS, f"blocks[{j}]")) for j, b in enumerate(blocks)
                ],
                "tasks": [
                    dict(_check_keys(t, _TASK_KEYS, f"tasks[{i}]")) for i, t in enumerate(tasks)
                ],
            }
            if alphas is not None:
                doc["alphas"] = _numbers(alphas, "alphas")
            try:
                text = json.dumps(doc, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise _problem(f"the workload cannot be written as JSON: {e}") from e
            self._adopt(_from_bytes(text.encode("utf-8")), "<values>")
            return
        self._adopt(_from_values(blocks, tasks, alphas), "<values>")

    def _adopt(self, handle: Handle, source: str) -> None:
        self._own(handle)
        self._source = source

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Workload":
        """Parses a ``dpk-workload/v1`` document given as text (``str`` or UTF-8 bytes).

        Raises:
            ErgonError: ``PARSE`` (not JSON, a missing or mistyped field), ``SCHEMA`` (another
                schema), ``INVALID_PROBLEM`` (naming the block or task).
        """
        w = cls.__new__(cls)
        w._adopt(_from_bytes(as_bytes(text, "text")), "<workload JSON>")
        return w

    @classmethod
    def from_file(cls, path: PathLike) -> "Workload":
        """Reads a ``dpk-workload/v1`` file.

        Raises:
            ErgonError: as :meth:`from_json`; ``INVALID_ARGUMENT`` if the file cannot be read.
        """
        w = cls.__new__(cls)
        w._adopt(_from_bytes(read_file(path, "workload")), os.fspath(path))
        return w

    # --- lifetime ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        if self.closed:
            return f"<ergon.dpk.Workload {self._source} (closed)>"
        info = self._info()
        return (
            f"<ergon.dpk.Workload {self._source}: {info.num_tasks} tasks, "
            f"{info.num_blocks} blocks, {info.num_alphas} orders>"
        )

    def _info(self) -> Any:
        return self._get("summary", A.ergon_dpk_workload_info)

    # --- contents ----------------------------------------------------------------------------

    @property
    def num_tasks(self) -> int:
        """Number of tasks."""
        return int(self._info().num_tasks)

    @property
    def num_blocks(self) -> int:
        """Number of blocks."""
        return int(self._info().num_blocks)

    @property
    def alphas(self) -> List[float]:
        """The RDP orders."""
        return self._list("alphas", c_double)

    def to_json(self) -> str:
        """The workload as ``dpk-workload/v1`` JSON (explicit capacities and demands)."""
        return self._text("to_json")

    def schedule(self, scheduler: str = "dpk", **options: Any) -> Allocation:
        """Same as :func:`schedule` on this workload."""
        return schedule(self, scheduler, **options)


def _check_keys(value: Any, allowed: AbstractSet[str], what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _problem(f"{what} must be a mapping (dict), got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        label = f"{what} (id {value['id']!r})" if "id" in value else what
        raise _problem(
            f"{label}: unknown key(s) {', '.join(map(repr, unknown))} "
            f"(expected {', '.join(sorted(allowed))})"
        )
    if "id" not in value:
        raise _problem(f"{what}: missing `id`")
    return value


def _from_bytes(data: bytes) -> Handle:
    return make("ergon_dpk_workload_from_json", "dpk_workload", data, len(data))


def _structs(
    values: List[Mapping[str, Any]], keys: AbstractSet[str], label: str, struct: Any
) -> Tuple[Any, List[Tuple[Mapping[str, Any], Any, str]]]:
    """A C array of ``struct`` for the block or task mappings ``values``, with ``id`` and
    ``arrival`` set; and each mapping with its struct and its name for messages
    (``"block 7"``)."""
    array = (struct * len(values))()
    entries = []
    for j, value in enumerate(values):
        where = f"{label}s[{j}]"
        _check_keys(value, keys, where)
        c = array[j]
        c.id = _id(value["id"], where)
        what = f"{label} {c.id}"
        c.arrival = _number(value.get("arrival", 0.0), f"{what}: arrival")
        entries.append((value, c, what))
    return array, entries


def _from_values(
    blocks: List[Mapping[str, Any]],
    tasks: List[Mapping[str, Any]],
    alphas: Optional[Sequence[Number]],
) -> Handle:
    orders = standard_alphas() if alphas is None else _numbers(alphas, "alphas")
    keep: List[Any] = []  # the ctypes arrays the structs point into, alive during the call

    def doubles(values: Sequence[float]) -> Tuple[Any, int]:
        array = _doubles(values)
        keep.append(array)
        return array, len(values)

    c_blocks, block_entries = _structs(blocks, _BLOCK_KEYS, "block", A.ergon_dpk_block)
    for b, c, what in block_entries:
        if "capacity" in b:
            if "epsilon" in b or "delta" in b:
                raise _problem(f"{what}: give either `capacity` or `epsilon` and `delta`, not both")
            c.capacity, c.capacity_len = doubles(_numbers(b["capacity"], f"{what}: capacity"))
            if c.capacity_len == 0:
                raise _problem(f"{what}: capacity has 0 entries but there are {len(orders)} orders")
            if "conversion" in b:
                raise _problem(
                    f"{what}: `conversion` applies to `epsilon` and `delta`, not to an explicit "
                    "`capacity`"
                )
        elif "epsilon" in b and "delta" in b:
            c.epsilon = _number(b["epsilon"], f"{what}: epsilon")
            c.delta = _number(b["delta"], f"{what}: delta")
            try:
                conversion = _names.code(b.get("conversion", "classic"), "conversion", _CONVERSIONS)
            except ErgonError as e:
                raise _problem(f"{what}: field `conversion`: {e.message}") from None
            if conversion == A.ERGON_DPK_CONVERSION_TIGHT:
                # The arrays carry a capacity, not a conversion: derive it here, by the library.
                try:
                    tight = block_capacity(c.epsilon, c.delta, orders, tight=True)
                except ErgonError as e:
                    raise _problem(f"{what}: {e.message}") from e
                c.capacity, c.capacity_len = doubles(tight)
        else:
            raise _problem(
                f"{what}: give either `capacity` (one value per alpha) or both `epsilon` and "
                "`delta`"
            )
    c_tasks, task_entries = _structs(tasks, _TASK_KEYS, "task", A.ergon_dpk_task)
    for t, c, what in task_entries:
        c.weight = _number(t.get("weight", 1.0), f"{what}: weight")
        if "blocks" not in t:
            raise _problem(f"{what}: field `blocks` is missing")
        if "demand" not in t:
            raise _problem(f"{what}: needs a `demand` (one epsilon per alpha) or a `mechanism`")
        requested = t["blocks"]
        if isinstance(requested, (str, bytes)) or not isinstance(requested, Iterable):
            raise _problem(f"{what}: blocks must be a list of block ids, got {requested!r}")
        ids = [_id(b, f"{what}: blocks[{k}]") for k, b in enumerate(requested)]
        ids_array = (c_uint64 * len(ids))(*ids)
        keep.append(ids_array)
        c.blocks, c.num_blocks = ids_array, len(ids)
        c.demand, c.demand_len = doubles(_numbers(t["demand"], f"{what}: demand"))
    c_alphas, num_alphas = doubles(orders)
    problem = A.ergon_dpk_problem(
        alphas=c_alphas,
        num_alphas=num_alphas,
        blocks=c_blocks,
        num_blocks=len(blocks),
        tasks=c_tasks,
        num_tasks=len(tasks),
    )
    # `keep` holds every array the structs point into until here: the call copies them.
    return make("ergon_dpk_workload_new", "dpk_workload", byref(problem))


def _options(scheduler: str, **kw: Any) -> Any:
    o = lib().ergon_dpk_options_default()
    o.scheduler = _names.code(scheduler, "scheduler", _SCHEDULERS)
    unknown = sorted(set(kw) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"schedule() got unexpected option(s) {', '.join(unknown)}")
    if kw.get("eta") is not None:
        o.eta = float(kw["eta"])
    if kw.get("knapsack") is not None:
        o.knapsack = _names.code(kw["knapsack"], "knapsack", "DPK_KNAPSACKS")
    if kw.get("recompute_every") is not None:
        o.recompute_every = index(
            kw["recompute_every"], "recompute_every", status=Status.INVALID_ARGUMENT
        )
    for flag in ("single_task_fallback", "dpf_weighted"):
        if kw.get(flag) is not None:
            if not isinstance(kw[flag], bool):
                raise TypeError(f"{flag} must be a bool, got {kw[flag]!r}")
            setattr(o, flag, kw[flag])
    if kw.get("dpf_capacity") is not None:
        o.dpf_capacity = _names.code(kw["dpf_capacity"], "dpf_capacity", "DPK_DPF_CAPACITIES")
    if kw.get("max_nodes") is not None:
        o.max_nodes = index(kw["max_nodes"], "max_nodes", 64, Status.INVALID_ARGUMENT)
    return o


def schedule(
    workload: Workload,
    scheduler: str = "dpk",
    *,
    eta: Optional[float] = None,
    knapsack: Optional[str] = None,
    recompute_every: Optional[int] = None,
    single_task_fallback: Optional[bool] = None,
    dpf_weighted: Optional[bool] = None,
    dpf_capacity: Optional[str] = None,
    max_nodes: Optional[int] = None,
) -> Allocation:
    """Schedules the workload's tasks offline.

    Args:
        workload: the workload (not modified; it can be scheduled again).
        scheduler: ``"dpk"`` (default), ``"dpf"``, ``"fcfs"``, ``"area"`` or ``"optimal"``.
        eta: DPK precision η, 0 < η < 0.75 (default 0.05).
        knapsack: DPK's per-(block, order) objective, ``"weighted"`` (default) or ``"count"``.
        recompute_every: recompute priorities after every k allocations (default 0: never).
        single_task_fallback: DPK: allocate the best single task when it is worth more than the
            packing (default True).
        dpf_weighted: DPF: divide the dominant share by the weight (default True).
        dpf_capacity: DPF: shares against ``"initial"`` (default) or ``"remaining"`` capacity.
        max_nodes: optimal: node budget of the branch and bound (default 20 000 000).
        ``None`` keeps the library's default (``ergon_dpk_options_default``).

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for an unknown scheduler or option value, η out of
            range, or ``"optimal"`` on more tasks than it accepts; ``INVALID_STATE`` if the
            workload is closed.
    """
    if not isinstance(workload, Workload):
        raise TypeError(f"schedule() needs a Workload, not {type(workload).__name__}")
    o = _options(
        scheduler,
        eta=eta,
        knapsack=knapsack,
        recompute_every=recompute_every,
        single_task_fallback=single_task_fallback,
        dpf_weighted=dpf_weighted,
        dpf_capacity=dpf_capacity,
        max_nodes=max_nodes,
    )
    with workload._lock:
        result = workload._live().make("schedule", "dpk_result", byref(o))
    with result:
        return _read_result(result)


def _read_result(h: Handle) -> Allocation:
    info = h.get("summary", A.ergon_dpk_result_info)
    flat = h.list("remaining", c_double)
    na = int(info.num_alphas)
    remaining = {
        b: flat[j * na : (j + 1) * na] for j, b in enumerate(h.list("block_ids", c_uint64))
    }
    upper = None if math.isnan(info.upper_bound) else float(info.upper_bound)
    return Allocation(
        scheduler=_names.name(_SCHEDULERS, info.scheduler, "scheduler"),
        allocated=h.list("allocated", c_uint64),
        total_weight=float(info.total_weight),
        remaining=remaining,
        upper_bound=upper,
        proven_optimal=bool(info.proven_optimal),
        _json=h.text("to_json"),
    )


# --- online simulation -----------------------------------------------------------------------


@dataclass(frozen=True)
class OnlineResult:
    """The outcome of :func:`simulate`: a plain value."""

    scheduler: str
    """The scheduler that ran."""
    allocated: List[int]
    """Ids of the allocated tasks, in allocation order."""
    num_submitted: int
    """Number of tasks submitted."""
    total_weight: float
    """Sum of the allocated tasks' weights."""
    mean_delay: float
    """Mean scheduling delay of the allocated tasks, time units (0 if none)."""
    num_rounds: int
    """Number of scheduling rounds run."""
    _json: str = field(default="", repr=False, compare=False)

    @property
    def count(self) -> int:
        """Number of allocated tasks."""
        return len(self.allocated)

    def to_json(self) -> str:
        """The outcome as ``dpk-online-result/v1`` JSON (every allocation with its time, delay
        and block indices), as ``ergon dpk simulate --json`` prints it."""
        return self._json


def simulate(
    config: Union[str, bytes], scheduler: Optional[str] = None, **options: Any
) -> OnlineResult:
    """Runs an online simulation described by a ``dpk-online/v1`` document (text): blocks
    arriving over time, budget unlocked gradually, scheduling every T.

    Args:
        config: the document, as ``str`` or UTF-8 bytes (:func:`simulate_file` reads a file).
        scheduler: ``None`` for the document's scheduler settings; else ``"dpk"``, ``"dpf"``,
            ``"fcfs"`` or ``"area"`` with the default options, changed by ``options`` (the
            keywords of :func:`schedule`).

    Raises:
        ErgonError: ``PARSE``, ``SCHEMA``, ``INVALID_PROBLEM`` (a setting or task of the
            document, named), ``INVALID_ARGUMENT`` (an unknown scheduler or option, or
            ``"optimal"``, which is offline only).
    """
    data = as_bytes(config, "config")
    if scheduler is None:
        if options:
            raise ErgonError(
                Status.INVALID_ARGUMENT, "give `scheduler` together with scheduler options"
            )
        o = None
    else:
        o = byref(_options(scheduler, **options))
    with make("ergon_dpk_online_run_json", "dpk_online", data, len(data), o) as h:
        return _read_online(h)


def simulate_file(path: PathLike, scheduler: Optional[str] = None, **options: Any) -> OnlineResult:
    """:func:`simulate` on a ``dpk-online/v1`` file (``INVALID_ARGUMENT`` if it cannot be
    read)."""
    return simulate(read_file(path, "online configuration"), scheduler, **options)


def _read_online(h: Handle) -> OnlineResult:
    info = h.get("summary", A.ergon_dpk_online_info)
    return OnlineResult(
        scheduler=_names.name(_SCHEDULERS, info.scheduler, "scheduler"),
        allocated=h.list("allocated", c_uint64),
        num_submitted=int(info.num_submitted),
        total_weight=float(info.total_weight),
        mean_delay=float(info.mean_delay),
        num_rounds=int(info.num_rounds),
        _json=h.text("to_json"),
    )


# --- RDP helpers ---------------------------------------------------------------------------


def _orders_arg(alphas: Optional[Sequence[Number]]) -> Any:
    orders = standard_alphas() if alphas is None else [float(a) for a in alphas]
    return _doubles(orders), len(orders)


def _doubles_of(fn_name: str, *head: Any) -> List[float]:
    """The array of doubles of ``fn_name(*head, buf, cap, &len)`` (a call without a handle)."""
    return read_list(getattr(lib(), fn_name), c_double, *head, error=thread_error)


def _curve_call(fn_name: str, alphas: Optional[Sequence[Number]], *params: float) -> List[float]:
    return _doubles_of(fn_name, *_orders_arg(alphas), *params)


def standard_alphas() -> List[float]:
    """The 12 standard RDP orders of the DPack paper: 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 8, 16, 32,
    64."""
    return _doubles_of("ergon_dpk_alphas_standard")


def dense_alphas() -> List[float]:
    """The 156-order default grid of Google's ``dp-accounting`` (1.1 to 10.9 by 0.1, 11 to 63,
    128, 256, 512, 1024), for accounting with the helpers below; a workload takes at most 16
    orders."""
    return _doubles_of("ergon_dpk_alphas_dense")


def _conversion(tight: bool) -> int:
    return A.ERGON_DPK_CONVERSION_TIGHT if tight else A.ERGON_DPK_CONVERSION_CLASSIC


def block_capacity(
    epsilon: float,
    delta: float,
    alphas: Optional[Sequence[Number]] = None,
    tight: bool = False,
) -> List[float]:
    """Capacity of a block with global budget (ε, δ) at each order (default: the standard
    orders): the largest total RDP demand at that order that the conversion certifies as
    (ε, δ)-DP, 0 where none can be. Classic (the default, the DPack paper's):
    ``max(ε − ln(1/δ)/(α − 1), 0)``; ``tight=True`` inverts the conversion of Balle et al.
    (2020), which leaves more budget (pass the result as a block's ``capacity``).

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for ε not positive and finite, δ outside (0, 1) or
            invalid orders.
    """
    return _curve_call(
        "ergon_dpk_block_capacity_with",
        alphas,
        float(epsilon),
        float(delta),
        _conversion(tight),
    )


def gaussian(sigma: float, alphas: Optional[Sequence[Number]] = None) -> List[float]:
    """RDP curve of the Gaussian mechanism with standard deviation ``sigma`` (sensitivity 1):
    ``α / (2σ²)`` at each order."""
    return _curve_call("ergon_dpk_curve_gaussian", alphas, float(sigma))


def laplace(b: float, alphas: Optional[Sequence[Number]] = None) -> List[float]:
    """RDP curve of the Laplace mechanism with scale ``b`` (sensitivity 1; ``b = 1/ε`` for
    ε-DP), exact at every scale."""
    return _curve_call("ergon_dpk_curve_laplace", alphas, float(b))


def subsampled_gaussian(
    q: float, sigma: float, steps: float, alphas: Optional[Sequence[Number]] = None
) -> List[float]:
    """RDP curve of DP-SGD: the Poisson-subsampled Gaussian mechanism (sampling rate ``q``,
    noise multiplier ``sigma``) composed over ``steps`` steps; exact at integer and fractional
    orders."""
    return _curve_call(
        "ergon_dpk_curve_subsampled_gaussian", alphas, float(q), float(sigma), float(steps)
    )


def subsampled_laplace(
    q: float, b: float, steps: float, alphas: Optional[Sequence[Number]] = None
) -> List[float]:
    """An upper bound on the RDP curve of the Poisson-subsampled Laplace mechanism (sampling
    rate ``q``, scale ``b``) over ``steps`` steps: the general bound of Zhu & Wang (2019),
    capped by the unsampled curve."""
    return _curve_call(
        "ergon_dpk_curve_subsampled_laplace", alphas, float(q), float(b), float(steps)
    )


def compose(
    curves: Sequence[Sequence[Number]], counts: Optional[Sequence[Number]] = None
) -> List[float]:
    """RDP composition: ``Σ counts[i]·curves[i]`` order by order (one run of each when
    ``counts`` is None). The curves must be on the same orders.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for curves of different lengths, a NaN or negative
            value or count, or no curve values at all.
    """
    rows = [[float(v) for v in c] for c in curves]
    width = len(rows[0]) if rows else 0
    if any(len(r) != width for r in rows):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            "compose: curves of different lengths " + str(sorted({len(r) for r in rows})),
        )
    flat = _doubles([v for r in rows for v in r])
    c_counts = None
    if counts is not None:
        if len(counts) != len(rows):
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"compose: {len(counts)} counts for {len(rows)} curves",
            )
        c_counts = _doubles([float(k) for k in counts])
    return _doubles_of("ergon_dpk_curve_compose", flat, len(rows), width, c_counts)


def _scalar(fn_name: str, *args: float) -> float:
    out = c_double(0.0)
    check(getattr(lib(), fn_name)(*args, byref(out)))
    return out.value


def gaussian_sigma(epsilon: float, delta: float, classic: bool = False) -> float:
    """σ of the Gaussian mechanism (sensitivity 1) calibrated to (ε, δ).

    By default the analytic Gaussian mechanism (Balle & Wang 2018): the smallest σ whose exact
    privacy profile meets δ at ε, valid for every ε ≥ 0. ``classic=True`` gives
    ``sqrt(2 ln(1.25/δ)) / ε``, which is (ε, δ)-DP only for ε < 1 and is refused otherwise.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for ε or δ out of range (ε ≥ 1 with ``classic``).
    """
    name = "ergon_dpk_gaussian_sigma_classic" if classic else "ergon_dpk_gaussian_sigma"
    return _scalar(name, float(epsilon), float(delta))


def gaussian_delta(sigma: float, epsilon: float) -> float:
    """The exact δ at which the Gaussian mechanism with standard deviation ``sigma``
    (sensitivity 1) is (ε, δ)-DP (its privacy profile)."""
    return _scalar("ergon_dpk_gaussian_delta", float(sigma), float(epsilon))


def _conversion_call(
    fn_name: str,
    curve: Sequence[Number],
    target: float,
    alphas: Optional[Sequence[Number]],
    tight: bool,
) -> Tuple[float, float]:
    arr, n = _orders_arg(alphas)
    values = [float(v) for v in curve]
    out = c_double(0.0)
    alpha_index = c_size_t(0)
    check(
        getattr(lib(), fn_name)(
            arr,
            n,
            _doubles(values),
            len(values),
            float(target),
            _conversion(tight),
            byref(out),
            byref(alpha_index),
        )
    )
    return out.value, arr[alpha_index.value]


def dp_epsilon(
    curve: Sequence[Number],
    delta: float,
    alphas: Optional[Sequence[Number]] = None,
    tight: bool = False,
) -> Tuple[float, float]:
    """Converts an RDP curve to (ε, δ)-DP: returns ``(epsilon, alpha)``, the ε and the order
    that attains it. ``tight`` uses the bound of Balle et al. (2020) as ``dp-accounting`` and
    Opacus do (clamped at 0, with their small-divergence shortcut) instead of Mironov's classic
    one. Any grid of up to 4096 orders.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for δ outside (0, 1), a curve of another length than
            the orders, a NaN or negative value.
    """
    return _conversion_call("ergon_dpk_curve_dp_epsilon", curve, delta, alphas, tight)


def dp_delta(
    curve: Sequence[Number],
    epsilon: float,
    alphas: Optional[Sequence[Number]] = None,
    tight: bool = False,
) -> Tuple[float, float]:
    """Converts an RDP curve to (ε, δ)-DP the other way: returns ``(delta, alpha)``, the
    smallest δ (at most 1) that the curve certifies for ``epsilon`` and the order that attains
    it.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for ε negative or not finite, a curve of another
            length than the orders, a NaN or negative value.
    """
    return _conversion_call("ergon_dpk_curve_dp_delta", curve, epsilon, alphas, tight)


__all__ = [
    "SCHEDULERS",
    "Allocation",
    "OnlineResult",
    "Workload",
    "block_capacity",
    "compose",
    "dense_alphas",
    "dp_delta",
    "dp_epsilon",
    "gaussian",
    "gaussian_delta",
    "gaussian_sigma",
    "laplace",
    "schedule",
    "simulate",
    "simulate_file",
    "standard_alphas",
    "subsampled_gaussian",
    "subsampled_laplace",
]
