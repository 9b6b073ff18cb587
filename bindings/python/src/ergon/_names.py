"""Every name table of the package, in one place: the names a Python caller gives for the C
ABI's enumerations (schedules, plan selectors, instruction kinds, DPK schedulers and options,
Orloj policies and execution-time laws) and the codes they stand for.

The names are the library's: for each enumeration of :data:`ergon._abi.NAMED_ENUMS` a table
is built by asking ``ergon_<system>_<enum>_name`` for the name of every code of the header
(``ERGON_DPK_SCHEDULER_FCFS`` is ``"fcfs"``), and a caller's name is read by
``ergon_<system>_<enum>_parse``, so an unknown name gets the library's message, which lists the
accepted names. Orloj policy names (``"clockwork-p99"``: a policy and the point estimate it
decides on) come from ``ergon_orloj_policy_name`` / ``_parse``. The two enumerations that have
no names in the library's core (execution-time laws and plan selectors, which are C-only
selectors) take their names from the constants' identifiers.

The tables are built on first use (the module's ``__getattr__``), not at import: importing
:mod:`ergon` does not load the library.
"""

from __future__ import annotations

from ctypes import byref, c_uint32
from typing import Any, Callable, Dict, Tuple

from . import _abi as A
from ._errors import ErgonError, Status
from ._ffi import read_text, thread_error
from ._library import lib


def _constants(prefix: str) -> Dict[str, int]:
    """The constants ``<prefix><VALUE>`` of ``ergon.h``, by identifier, in the header's order."""
    return {
        key: value
        for key, value in vars(A).items()
        if key.startswith(prefix) and isinstance(value, int)
    }


def _from_identifiers(prefix: str, *, leave_out: Tuple[str, ...] = ()) -> Dict[str, int]:
    """The table of an enumeration without names in the library: ``<VALUE>`` in lower case."""
    table = {key[len(prefix) :].lower(): v for key, v in _constants(prefix).items()}
    for key in leave_out:
        del table[key]
    return table


def _from_library(prefix: str) -> Dict[str, int]:
    """The table of an enumeration of :data:`ergon._abi.NAMED_ENUMS`: each code of the header
    under the name the library gives it."""
    name_of = getattr(lib(), f"{A.NAMED_ENUMS[prefix]}_name")
    return {read_text(name_of, v, error=thread_error): v for v in _constants(prefix).values()}


def _policy_names() -> Tuple[str, ...]:
    """Every policy name, each once, in the order of the policies then the estimates (the
    library gives the policies that take no estimate one name whatever the estimate)."""
    name_of = lib().ergon_orloj_policy_name
    policies = _constants("ERGON_ORLOJ_POLICY_").values()
    estimates = _constants("ERGON_ORLOJ_ESTIMATE_").values()
    names = (read_text(name_of, p, e, error=thread_error) for p in policies for e in estimates)
    return tuple(dict.fromkeys(names))


_LIBRARY_TABLES: Dict[str, str] = {
    "PERSEUS_SCHEDULES": "ERGON_PERSEUS_SCHEDULE_",
    "PERSEUS_EFFECTIVE_ENERGY": "ERGON_PERSEUS_EFFECTIVE_ENERGY_",
    "PERSEUS_KINDS": "ERGON_PERSEUS_KIND_",
    "DPK_SCHEDULERS": "ERGON_DPK_SCHEDULER_",
    "DPK_KNAPSACKS": "ERGON_DPK_KNAPSACK_",
    "DPK_DPF_CAPACITIES": "ERGON_DPK_DPF_CAPACITY_",
    "DPK_CONVERSIONS": "ERGON_DPK_CONVERSION_",
}
_IDENTIFIER_TABLES: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "PERSEUS_PLAN_AT": ("ERGON_PERSEUS_PLAN_", ("deadline",)),
    "ORLOJ_EXEC_KINDS": ("ERGON_ORLOJ_EXEC_", ()),
}
_TABLES: Dict[str, Callable[[], Any]] = {
    **{t: (lambda p=prefix: _from_library(p)) for t, prefix in _LIBRARY_TABLES.items()},
    **{
        t: (lambda p=prefix, l=left: _from_identifiers(p, leave_out=l))
        for t, (prefix, left) in _IDENTIFIER_TABLES.items()
    },
    "ORLOJ_POLICIES": _policy_names,
}
"""What each table is built from (see the module documentation):

- ``PERSEUS_SCHEDULES``: ``1f1b``, ``gpipe``, ``interleaved_1f1b``;
- ``PERSEUS_EFFECTIVE_ENERGY``: where blocking energy is subtracted, ``after_filter``,
  ``before_filter``;
- ``PERSEUS_PLAN_AT``: plan selectors given by name (``fastest``, ``t_star``; a deadline plan is
  given by its time);
- ``PERSEUS_KINDS``: instruction kinds, as in ``ergon-plan/v1``: ``forward``, ``backward``;
- ``DPK_SCHEDULERS``: the names of ``ergon dpk schedule --scheduler``;
- ``DPK_KNAPSACKS``: DPK's per-(block, order) objective, ``weighted``, ``count``;
- ``DPK_DPF_CAPACITIES``: what DPF's shares are taken against, ``initial``, ``remaining``;
- ``DPK_CONVERSIONS``: RDP → (ε, δ) conversions, as a block's ``conversion`` in
  ``dpk-workload/v1``;
- ``ORLOJ_EXEC_KINDS``: execution-time laws, as ``exec_time.kind`` in ``orloj-sim/v1``;
- ``ORLOJ_POLICIES``: policy names (a tuple), as in ``orloj-sim/v1``; a baseline may also end in
  ``-mean``, the default.
"""


def __getattr__(name: str) -> Any:
    """Builds a table of :data:`_TABLES` on first use (loading the library) and keeps it."""
    build = _TABLES.get(name)
    if build is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    table = build()
    globals()[name] = table
    return table


# --- lookups -----------------------------------------------------------------------------------


def _lenient(parse: Callable[[bytes], Any], value: str, fold: Callable[[str], str]) -> Any:
    """``parse`` of ``value``; if the library refuses it, of ``fold(value)`` (the package has
    always accepted other cases and surrounding blanks). The error is the library's, about the
    name as given."""
    try:
        return parse(value.encode("utf-8"))
    except ErgonError as first:
        folded = fold(value)
        if first.status != Status.INVALID_ARGUMENT or folded == value:
            raise
        try:
            return parse(folded.encode("utf-8"))
        except ErgonError:
            raise first from None


def _parse_code(stem: str, name: bytes) -> int:
    out = c_uint32()
    status = getattr(lib(), f"{stem}_parse")(name, len(name), byref(out))
    if status:
        raise thread_error(status)
    return out.value


def code(value: Any, what: str, table: str) -> int:
    """The code of the name ``value`` in the table named ``table`` (see :data:`_TABLES`),
    parsed by the library when it names that enumeration; case-insensitive, ``-`` read as
    ``_``.

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for a non-string or an unknown name; the message
            starts with ``what`` and lists the names.
    """
    if not isinstance(value, str):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"{what} must be a string, one of {', '.join(__getattr__(table))}; got {value!r}",
        )

    def fold(s: str) -> str:
        return s.strip().lower().replace("-", "_")

    prefix = _LIBRARY_TABLES.get(table)
    if prefix is not None:
        stem = A.NAMED_ENUMS[prefix]
        try:
            return int(_lenient(lambda b: _parse_code(stem, b), value, fold))
        except ErgonError as e:
            raise ErgonError(e.status, f"{what}: {e.message}") from None
    names = __getattr__(table)
    if fold(value) not in names:
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"unknown {what} {value!r} (expected one of {', '.join(names)})",
        )
    return int(names[fold(value)])


def name(table: str, value: int, what: str) -> str:
    """The name of ``value`` in the table named ``table``; ``f"{what}{value}"`` for a code the
    table lacks."""
    for key, code_ in __getattr__(table).items():
        if code_ == value:
            return str(key)
    return f"{what}{value}"


def _parse_policy(name: bytes) -> Tuple[int, int]:
    policy, estimate = c_uint32(), c_uint32()
    status = lib().ergon_orloj_policy_parse(name, len(name), byref(policy), byref(estimate))
    if status:
        raise thread_error(status)
    return policy.value, estimate.value


def orloj_policy(value: Any) -> Tuple[int, int]:
    """``(ERGON_ORLOJ_POLICY_*, ERGON_ORLOJ_ESTIMATE_*)`` of an Orloj policy name, as the library
    reads it (case-insensitive).

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` for a non-string or an unknown policy (the library's
            message, which lists the policies).
    """
    if not isinstance(value, str):
        raise ErgonError(
            Status.INVALID_ARGUMENT, f"policy must be a string such as 'orloj'; got {value!r}"
        )
    return tuple(_lenient(_parse_policy, value, lambda s: s.strip().lower()))  # type: ignore


def orloj_policy_name(policy: int, estimate: int) -> str:
    """The library's name of a policy deciding on an estimate (``"clockwork-p99"``)."""
    return read_text(lib().ergon_orloj_policy_name, policy, estimate, error=thread_error)
