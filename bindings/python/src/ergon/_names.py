"""Every name table of the package, in one place: the names a Python caller gives for the C
ABI's enumerations (schedules, plan selectors, instruction kinds, DPK schedulers and options,
Orloj policies and execution-time laws) and the codes they stand for.

The tables are read from the header's constants (``ERGON_DPK_SCHEDULER_FCFS`` is ``"fcfs"``),
so no name is written twice. The policy and scheduler names are defined by the library
(``FromStr``/``Display`` of the core enums, as the CLI and the JSON formats spell them); until
the C ABI exposes them they are derived here, and only here: when it does, :func:`code`,
:func:`name` and :func:`orloj_policy` are the places to switch to library calls.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from . import _abi as A
from ._errors import ErgonError, Status


def _enum(prefix: str, *, leave_out: Tuple[str, ...] = ()) -> Dict[str, int]:
    """The constants ``ERGON_<SYSTEM>_<ENUM>_<VALUE>`` of ``ergon.h`` that start with
    ``prefix``, by name: ``<VALUE>`` in lower case (``ERGON_DPK_SCHEDULER_FCFS`` -> ``"fcfs"``),
    which is how the CLI and the JSON formats spell them; in the header's order."""
    table = {
        key[len(prefix) :].lower(): value
        for key, value in vars(A).items()
        if key.startswith(prefix) and isinstance(value, int)
    }
    for key in leave_out:
        del table[key]
    return table


# --- Perseus -----------------------------------------------------------------------------------

PERSEUS_SCHEDULES = _enum("ERGON_PERSEUS_SCHEDULE_")
"""Pipeline schedules: ``1f1b``, ``gpipe``, ``interleaved_1f1b``."""
PERSEUS_EFFECTIVE_ENERGY = _enum("ERGON_PERSEUS_EFFECTIVE_ENERGY_")
"""Where blocking energy is subtracted: ``after_filter``, ``before_filter``."""
PERSEUS_PLAN_AT = _enum("ERGON_PERSEUS_PLAN_", leave_out=("deadline",))
"""Plan selectors given by name (``fastest``, ``t_star``); a deadline plan is given by its time."""
PERSEUS_KINDS = _enum("ERGON_PERSEUS_KIND_")
"""Instruction kinds, named as in ``ergon-plan/v1``: ``forward``, ``backward``."""

# --- DPK ---------------------------------------------------------------------------------------

DPK_SCHEDULERS = _enum("ERGON_DPK_SCHEDULER_")
"""The schedulers by name (the names of ``ergon dpk schedule --scheduler``)."""
DPK_KNAPSACKS = _enum("ERGON_DPK_KNAPSACK_")
"""DPK's per-(block, order) objective: ``weighted``, ``count``."""
DPK_DPF_CAPACITIES = _enum("ERGON_DPK_DPF_CAPACITY_")
"""What DPF's shares are taken against: ``initial``, ``remaining``."""
DPK_CONVERSIONS = _enum("ERGON_DPK_CONVERSION_")
"""RDP → (ε, δ) conversions, named as a block's ``conversion`` in ``dpk-workload/v1``."""

# --- Orloj -------------------------------------------------------------------------------------

ORLOJ_EXEC_KINDS = _enum("ERGON_ORLOJ_EXEC_")
"""Execution-time laws, named as ``exec_time.kind`` in ``orloj-sim/v1``."""
ORLOJ_POLICY_BASES = _enum("ERGON_ORLOJ_POLICY_")
"""Policies without their estimate suffix: ``orloj``, ``clockwork``, ``nexus``..."""
ORLOJ_ESTIMATES = _enum("ERGON_ORLOJ_ESTIMATE_")
"""The baselines' point estimate of a law, a policy name's suffix: ``mean`` (the default, which
the name may leave out), ``p99``."""
_DEFAULT_ESTIMATE = "mean"
_ORLOJ_WITHOUT_ESTIMATE = frozenset({"orloj", "clipper"})
"""Policies that use the whole distribution (Orloj) or none (Clipper's AIMD): no suffix."""


def _policy_names() -> Tuple[str, ...]:
    names: List[str] = []
    for base in ORLOJ_POLICY_BASES:
        names.append(base)
        if base not in _ORLOJ_WITHOUT_ESTIMATE:
            names += [f"{base}-{e}" for e in ORLOJ_ESTIMATES if e != _DEFAULT_ESTIMATE]
    return tuple(names)


ORLOJ_POLICIES = _policy_names()
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
    base, estimate = value.strip().lower(), _DEFAULT_ESTIMATE
    for suffix in ORLOJ_ESTIMATES:
        if base.endswith(f"-{suffix}"):
            base, estimate = base[: -len(suffix) - 1], suffix
            break
    if base not in ORLOJ_POLICY_BASES or (
        estimate != _DEFAULT_ESTIMATE and base in _ORLOJ_WITHOUT_ESTIMATE
    ):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"unknown policy {value!r} (expected one of {', '.join(ORLOJ_POLICIES)}; baselines "
            "may end in -mean)",
        )
    return ORLOJ_POLICY_BASES[base], ORLOJ_ESTIMATES[estimate]
