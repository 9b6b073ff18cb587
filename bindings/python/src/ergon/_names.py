"""Every name table of the package, in one place: the names a Python caller gives for the C
ABI's enumerations (schedules, plan selectors, instruction kinds, DPK schedulers and options,
Orloj policies and execution-time laws) and the codes they stand for.

The policy and scheduler names are defined by the library (``FromStr``/``Display`` of the core
enums, as the CLI and the JSON formats spell them). Until the C ABI exposes them, they are
written here, and only here; when it does, :func:`code` and :func:`orloj_policy` are the two
places to switch to library calls.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

from . import _abi as A
from ._errors import ErgonError, Status

# --- Perseus -----------------------------------------------------------------------------------

PERSEUS_SCHEDULES: Dict[str, int] = {
    "1f1b": A.ERGON_PERSEUS_SCHEDULE_1F1B,
    "gpipe": A.ERGON_PERSEUS_SCHEDULE_GPIPE,
    "interleaved_1f1b": A.ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B,
}
PERSEUS_EFFECTIVE_ENERGY: Dict[str, int] = {
    "after_filter": A.ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER,
    "before_filter": A.ERGON_PERSEUS_EFFECTIVE_ENERGY_BEFORE_FILTER,
}
PERSEUS_PLAN_AT: Dict[str, int] = {
    "fastest": A.ERGON_PERSEUS_PLAN_FASTEST,
    "t_star": A.ERGON_PERSEUS_PLAN_T_STAR,
}
PERSEUS_KINDS: Dict[str, int] = {
    "forward": A.ERGON_PERSEUS_KIND_FORWARD,
    "backward": A.ERGON_PERSEUS_KIND_BACKWARD,
}
"""Instruction kinds, named as in ``ergon-plan/v1``."""

# --- DPK ---------------------------------------------------------------------------------------

DPK_SCHEDULERS: Dict[str, int] = {
    "dpk": A.ERGON_DPK_SCHEDULER_DPK,
    "dpf": A.ERGON_DPK_SCHEDULER_DPF,
    "fcfs": A.ERGON_DPK_SCHEDULER_FCFS,
    "area": A.ERGON_DPK_SCHEDULER_AREA,
    "optimal": A.ERGON_DPK_SCHEDULER_OPTIMAL,
}
"""The schedulers by name (the names of ``ergon dpk schedule --scheduler``)."""
DPK_KNAPSACKS: Dict[str, int] = {
    "weighted": A.ERGON_DPK_KNAPSACK_WEIGHTED,
    "count": A.ERGON_DPK_KNAPSACK_COUNT,
}
DPK_DPF_CAPACITIES: Dict[str, int] = {
    "initial": A.ERGON_DPK_DPF_CAPACITY_INITIAL,
    "remaining": A.ERGON_DPK_DPF_CAPACITY_REMAINING,
}
DPK_CONVERSIONS: Dict[str, int] = {
    "classic": A.ERGON_DPK_CONVERSION_CLASSIC,
    "tight": A.ERGON_DPK_CONVERSION_TIGHT,
}
"""RDP → (ε, δ) conversions, named as a block's ``conversion`` in ``dpk-workload/v1``."""

# --- Orloj -------------------------------------------------------------------------------------

ORLOJ_EXEC_KINDS: Dict[str, int] = {
    "constant": A.ERGON_ORLOJ_EXEC_CONSTANT,
    "bimodal": A.ERGON_ORLOJ_EXEC_BIMODAL,
    "lognormal": A.ERGON_ORLOJ_EXEC_LOGNORMAL,
    "samples": A.ERGON_ORLOJ_EXEC_SAMPLES,
}
"""Execution-time laws, named as ``exec_time.kind`` in ``orloj-sim/v1``."""
ORLOJ_POLICY_BASES: Dict[str, int] = {
    "orloj": A.ERGON_ORLOJ_POLICY_ORLOJ,
    "clockwork": A.ERGON_ORLOJ_POLICY_CLOCKWORK,
    "nexus": A.ERGON_ORLOJ_POLICY_NEXUS,
    "clipper": A.ERGON_ORLOJ_POLICY_CLIPPER,
    "edf": A.ERGON_ORLOJ_POLICY_EDF,
    "fifo": A.ERGON_ORLOJ_POLICY_FIFO,
}
_ORLOJ_WITHOUT_ESTIMATE = frozenset({"orloj", "clipper"})
"""Policies that use the whole distribution (Orloj) or none (Clipper's AIMD): no ``-p99``."""
ORLOJ_POLICIES: Tuple[str, ...] = tuple(
    name
    for base in ORLOJ_POLICY_BASES
    for name in ((base,) if base in _ORLOJ_WITHOUT_ESTIMATE else (base, f"{base}-p99"))
)
"""Policy names, as in ``orloj-sim/v1`` (a baseline may also end in ``-mean``, the default)."""


# --- lookups -----------------------------------------------------------------------------------


def code(value: Any, what: str, table: Mapping[str, int]) -> int:
    """The code of the name ``value`` in ``table``: case-insensitive, ``-`` read as ``_``.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for a non-string or an unknown name; the message lists
            the names.
    """
    if not isinstance(value, str):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"{what} must be a string, one of {', '.join(table)}; got {value!r}",
        )
    key = value.strip().lower().replace("-", "_")
    if key not in table:
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"unknown {what} {value!r} (expected one of {', '.join(table)})",
        )
    return table[key]


def name(table: Mapping[str, int], value: int, what: str) -> str:
    """The name of ``value`` in ``table``; ``f"{what}{value}"`` for a code newer than this
    package."""
    for key, code_ in table.items():
        if code_ == value:
            return key
    return f"{what}{value}"


def orloj_policy(value: Any) -> Tuple[int, int]:
    """``(ERGON_ORLOJ_POLICY_*, ERGON_ORLOJ_ESTIMATE_*)`` of an Orloj policy name.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for a non-string or an unknown policy.
    """
    if not isinstance(value, str):
        raise ErgonError(
            Status.INVALID_ARGUMENT, f"policy must be a string such as 'orloj'; got {value!r}"
        )
    base = value.strip().lower()
    estimate = A.ERGON_ORLOJ_ESTIMATE_MEAN
    if base.endswith("-p99"):
        base, estimate = base[: -len("-p99")], A.ERGON_ORLOJ_ESTIMATE_P99
    elif base.endswith("-mean"):
        base = base[: -len("-mean")]
    if base not in ORLOJ_POLICY_BASES or (
        estimate == A.ERGON_ORLOJ_ESTIMATE_P99 and base in _ORLOJ_WITHOUT_ESTIMATE
    ):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"unknown policy {value!r} (expected one of {', '.join(ORLOJ_POLICIES)}; baselines "
            "may end in -mean)",
        )
    return ORLOJ_POLICY_BASES[base], estimate
