"""Oobleck: pipeline templates, the f+1 instantiation with an exact batch split, and the
reconfiguration after node failures (``ergon_oobleck_*`` of the C ABI).

A profile is an ``oobleck-profile/v1`` document (docs/formats.md): per layer ``forward`` and
``backward`` times (ms), ``mem_required`` (bytes, or ``[param_bytes, activation_bytes]``) and
optional ``allreduce_in_node`` / ``allreduce_across_nodes`` tables::

    from ergon import oobleck

    templates = oobleck.Templates.from_file("model.profile.json", max_nodes=12,
                                            node_memory_bytes=1500)
    plan = templates.plan(fault_tolerance=2, microbatches=128)
    print(plan.iteration_time_ms, [(p["num_nodes"], p["microbatches"]) for p in plan.pipelines])
    after = plan.reconfigure([4])        # lose node 4: shrink, borrow, merge, re-split
    print(after.transfers)               # [{"node": 3, "layers": [9, 13], "from": 1}, ...]

Every failure raises :class:`~ergon.ErgonError`; a failure set that leaves some layer without
a replica is ``Status.INVALID_STATE`` and its message says training must restart.
"""

from __future__ import annotations

import json

from ctypes import c_uint32
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _abi as A
from ._errors import ErgonError, Status
from ._ffi import Owner, PathLike, _out_handle, as_bytes, make, read_file
from ._library import lib

__all__ = ["Plan", "Templates", "profile_json"]

_OBJECTIVES = {"v011": A.ERGON_OOBLECK_OBJECTIVE_V011, "develop": A.ERGON_OOBLECK_OBJECTIVE_DEVELOP}
_SOLVERS = {"exact": A.ERGON_OOBLECK_SOLVER_EXACT, "recurrence": A.ERGON_OOBLECK_SOLVER_RECURRENCE}


def profile_json(layers: Iterable[Mapping[str, Any]]) -> str:
    """An ``oobleck-profile/v1`` document of the given layer mappings (upstream field names)."""
    return json.dumps({"format": "oobleck-profile/v1", "layers": [dict(x) for x in layers]})


def _code(table: Mapping[str, int], value: str, what: str) -> int:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"unknown {what} {value!r} (expected {' or '.join(sorted(table))})",
        ) from None


class Templates(Owner):
    """The pipeline templates of one profile for every node count in ``[n0, max_nodes]``.

    Build with :meth:`from_json`, :meth:`from_file` or :meth:`from_layers`; the keyword
    options are ``max_nodes`` (required), ``gpus_per_node`` (1), ``node_memory_bytes`` (None:
    memory does not constrain), ``objective`` (``"v011"`` or ``"develop"``) and ``solver``
    (``"exact"`` or ``"recurrence"``, for ``v011``).
    """

    __slots__ = ("_doc",)
    _what = "templates"

    @classmethod
    def from_json(
        cls,
        text: Union[str, bytes],
        *,
        max_nodes: int,
        gpus_per_node: int = 1,
        node_memory_bytes: Optional[int] = None,
        objective: str = "v011",
        solver: str = "exact",
    ) -> "Templates":
        """Builds templates from an ``oobleck-profile/v1`` document.

        Raises:
            ErgonError: ``PARSE``, ``SCHEMA``, ``INVALID_PROBLEM`` (no layers, a layer larger
                than a node...), ``INVALID_ARGUMENT`` (an option).
        """
        o = A.ergon_oobleck_options()
        o.objective = _code(_OBJECTIVES, objective, "objective")
        o.solver = _code(_SOLVERS, solver, "solver")
        o.max_nodes = int(max_nodes)
        o.gpus_per_node = int(gpus_per_node)
        o.node_memory_bytes = int(node_memory_bytes or 0)
        data = as_bytes(text, "text")
        t = cls.__new__(cls)
        t._own(make("ergon_oobleck_templates_from_json", "oobleck_templates", data, len(data), o))
        t._doc = None
        return t

    @classmethod
    def from_file(cls, path: PathLike, **options: Any) -> "Templates":
        """Reads an ``oobleck-profile/v1`` file; options as :meth:`from_json`."""
        return cls.from_json(read_file(path, "profile"), **options)

    @classmethod
    def from_layers(cls, layers: Iterable[Mapping[str, Any]], **options: Any) -> "Templates":
        """Builds templates from layer mappings (``forward``, ``backward``, ...)."""
        return cls.from_json(profile_json(layers), **options)

    def _document(self) -> Dict[str, Any]:
        if self._doc is None:
            self._doc = json.loads(self._text("to_json"))
        return self._doc

    @property
    def n0(self) -> int:
        """Minimum nodes per pipeline by memory."""
        return int(self._get("summary", A.ergon_oobleck_templates_info).n0)

    @property
    def templates(self) -> List[Dict[str, Any]]:
        """Every template: ``num_nodes``, ``stages`` (``layers`` [first, end), ``gpus``, ``node``,
        ``gpu_offset``, ``latency_ms``), ``bottleneck``, ``objective``, ``latency_at_128``."""
        return list(self._document()["templates"])

    def get(self, num_nodes: int) -> Dict[str, Any]:
        """The template for ``num_nodes`` nodes (``OUT_OF_RANGE`` if there is none)."""
        t = self._get("get", A.ergon_oobleck_template, int(num_nodes))
        return next(x for x in self.templates if x["num_nodes"] == t.num_nodes)

    def to_json(self) -> str:
        """The templates document."""
        return self._text("to_json")

    def plan(self, fault_tolerance: int, microbatches: int) -> "Plan":
        """At least ``fault_tolerance + 1`` pipelines over all nodes, with the exact batch split.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (f too large), ``INVALID_STATE`` (no exact split).
        """
        with self._lock:
            live = self._live()
            # The constructor is named after what it makes (`ergon_oobleck_plan_create`), not
            # after the handle it reads.
            h = _out_handle(
                lib().ergon_oobleck_plan_create,
                (live.ptr, int(fault_tolerance), int(microbatches)),
                "oobleck_plan",
                live.error,
            )
        return Plan._adopt(h)

    def __repr__(self) -> str:
        if self.closed:
            return "<ergon.oobleck.Templates (closed)>"
        i = self._get("summary", A.ergon_oobleck_templates_info)
        return f"<ergon.oobleck.Templates n0={i.n0}, nodes {i.min_nodes}..{i.max_nodes}, {i.num_layers} layers>"


class Plan(Owner):
    """An instantiation (or a reconfiguration of one): pipelines, batch split, iteration time."""

    __slots__ = ("_doc",)
    _what = "plan"

    @classmethod
    def _adopt(cls, handle: Any) -> "Plan":
        p = cls.__new__(cls)
        p._own(handle)
        p._doc = None
        return p

    def _document(self) -> Dict[str, Any]:
        if self._doc is None:
            self._doc = json.loads(self._text("to_json"))
        return self._doc

    @property
    def iteration_time_ms(self) -> float:
        """Predicted iteration time, ms."""
        return float(self._get("summary", A.ergon_oobleck_plan_info).iteration_time_ms)

    @property
    def pipelines(self) -> List[Dict[str, Any]]:
        """Every pipeline: ``num_nodes``, ``microbatches``, ``nodes``."""
        return list(self._document()["pipelines"])

    @property
    def transfers(self) -> List[Dict[str, Any]]:
        """Layer copies of a reconfiguration (``node``, ``layers`` [first, end), ``from``)."""
        return list(self._document().get("transfers", []))

    def to_json(self) -> str:
        """The plan (or reconfiguration) document."""
        return self._text("to_json")

    def reconfigure(self, lost: Sequence[int]) -> "Plan":
        """The plan after losing the nodes ``lost``; this plan is unchanged.

        Raises:
            ErgonError: ``OUT_OF_RANGE`` (a node not in the plan), ``INVALID_STATE`` (a layer lost
                every replica: training must restart from a checkpoint).
        """
        ids = [int(u) for u in lost]
        array = (c_uint32 * max(1, len(ids)))(*ids)
        with self._lock:
            h = self._live().make("reconfigure", "oobleck_plan", array, len(ids))
        return Plan._adopt(h)

    def __repr__(self) -> str:
        if self.closed:
            return "<ergon.oobleck.Plan (closed)>"
        i = self._get("summary", A.ergon_oobleck_plan_info)
        return f"<ergon.oobleck.Plan {i.num_pipelines} pipelines, {i.iteration_time_ms:.3f} ms>"




