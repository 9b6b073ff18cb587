"""Auxo: cohort identification for cross-device federated learning.

The class of this module drives the Auxo part of the C ABI (``ergon_auxo_clusterer_*`` of
``ergon.h``; ``ergon auxo simulate`` on the command line). A federated-learning server keeps
one model per cohort; after each round of a cohort it passes the clients that reported and
their update vectors (the slice of the update to cluster, e.g. the flattened last layer) to
:meth:`Clusterer.step`, and asks :meth:`Clusterer.cohort_of` where each client trains next::

    from ergon.auxo import Clusterer

    models = [initial_model]                           # one per cohort
    with Clusterer(clients=1000, train_ratio=50 / 1000, seed=1) as c:
        r = c.step(cohort, participant_ids, updates)   # updates: rows of floats, or a 2-D array
        if r.split is not None:                        # the child starts as a copy of the parent
            parent, child = r.split
            models.append(copy(models[parent]))
        nxt = c.cohort_of(client_id)

``updates`` is a sequence of equally long rows of numbers, one per participant, or a 2-D numpy
array (numpy is used when it is what is passed; it is never required). Bad input raises
:class:`~ergon.ErgonError`: ``INVALID_ARGUMENT`` for no participants, ragged rows, NaN or
infinite values (the message names the client and the index) or a client listed twice;
``OUT_OF_RANGE`` for an unknown client or cohort id. Nothing changes on an error.

Split tests (``split_test=``): ``"reference"`` (the FedScale prototype's adaptive rule),
``"fixed"`` (split at the cohort rounds of ``split_rounds``) and ``"improved"`` (Ergon's
significance test, whose false-split rate per cohort is held at ``alpha``); docs/auxo.md
compares them.
"""

from __future__ import annotations

from ctypes import POINTER, c_float, c_uint32, c_uint64, cast
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from . import _abi as A
from ._errors import ErgonError, Status
from ._ffi import Owner, index, make, u32
from ._library import lib

__all__ = ["SIGNALS", "SPLIT_TESTS", "Clusterer", "StepResult"]

SPLIT_TESTS = ("reference", "fixed", "improved")
"""The split tests, as ``ergon auxo simulate`` names them (``fixed`` is its
``--split-rounds``)."""

_SPLIT_CODES = {
    "reference": A.ERGON_AUXO_SPLIT_TEST_REFERENCE,
    "fixed": A.ERGON_AUXO_SPLIT_TEST_FIXED,
    "improved": A.ERGON_AUXO_SPLIT_TEST_IMPROVED,
}

SIGNALS = ("centered-normalized", "raw")
"""How updates become the clustering signal: centered by the round mean and L2-normalised
(the FL default), or as given (positions, as in the reference playground)."""

_SIGNAL_CODES = {
    "centered-normalized": A.ERGON_AUXO_SIGNAL_CENTERED_NORMALIZED,
    "raw": A.ERGON_AUXO_SIGNAL_RAW,
}


@dataclass(frozen=True)
class StepResult:
    """What one :meth:`Clusterer.step` did."""

    ran: bool
    """Whether the step ran (it needs ``min_reporters`` participants)."""
    rewarded: bool
    """Whether main rewards were given."""
    split: Optional[Tuple[int, int]]
    """``(parent, child)`` when the cohort split: give ``child`` a copy of ``parent``'s model."""
    merged: Optional[int]
    """The cohort dropped by a merge (ids above it shift down by one)."""
    num_cohorts: int
    """Cohorts after the step."""


def _choice(table: Any, value: Any, what: str) -> int:
    if value not in table:
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"{what} = {value!r}: expected one of {', '.join(repr(k) for k in table)}",
        )
    return int(table[value])


def _is_numpy(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "numpy"


def _matrix(updates: Any, rows: int) -> Tuple[Any, int, Any]:
    """``updates`` as a C float array, its row length, and the object that keeps the memory
    alive. A numpy array is converted without a Python loop; anything else must be a sequence
    of ``rows`` equally long sequences of numbers."""
    if _is_numpy(updates):
        import numpy as np  # only when the caller already uses numpy

        arr = np.ascontiguousarray(updates, dtype=np.float32)
        if arr.ndim != 2:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"updates: need a 2-D array (one row per participant), got shape {arr.shape}",
            )
        if arr.shape[0] != rows:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"updates: {arr.shape[0]} rows for {rows} participants (need one row each)",
            )
        return arr.ctypes.data_as(POINTER(c_float)), int(arr.shape[1]), arr
    if isinstance(updates, (str, bytes)):
        raise TypeError("updates must be a sequence of rows of numbers")
    table = list(updates)
    if len(table) != rows:
        raise ErgonError(
            Status.INVALID_ARGUMENT,
            f"updates: {len(table)} rows for {rows} participants (need one row each)",
        )
    dim = len(table[0]) if table else 0
    flat: List[float] = []
    for i, row in enumerate(table):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise TypeError(f"updates[{i}] must be a sequence of numbers")
        if len(row) != dim:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"updates: ragged rows: row {i} has {len(row)} values, row 0 has {dim} "
                "(every update must have the same length)",
            )
        try:
            flat.extend(float(v) for v in row)
        except (TypeError, ValueError) as e:
            raise TypeError(f"updates[{i}] must be a sequence of numbers: {e}") from e
    buf = (c_float * len(flat))(*flat)
    return cast(buf, POINTER(c_float)), dim, buf


class Clusterer(Owner):
    """The cohort clusterer of ``clients`` clients (ids ``0..clients``), all in cohort 0 at
    first.

    ``train_ratio`` is participants per round over population (``K / N``, in (0, 1]); it sets
    the reference split test's size floor ``100 / train_ratio``. ``known_clients`` is the
    reference test's half-size floor (``None``: ``clients / 20``). ``split_rounds`` lists the
    cohort rounds at which ``split_test="fixed"`` splits. ``sub_clustering_rounds`` stops the
    sub-clustering after that cohort round (``None``: never). ``alpha``, ``block`` and
    ``null_draws`` tune ``split_test="improved"``. Out-of-range options raise
    :class:`~ergon.ErgonError` (``INVALID_ARGUMENT``) naming the field.
    """

    __slots__ = ("clients",)
    _what = "clusterer"

    def __init__(
        self,
        clients: int,
        train_ratio: float = 1.0,
        *,
        seed: int = 0,
        split_test: str = "reference",
        split_rounds: Sequence[int] = (),
        known_clients: Optional[float] = None,
        signal: str = "centered-normalized",
        min_reporters: int = 5,
        merge: bool = False,
        sub_clustering_rounds: Optional[int] = None,
        epsilon: float = 0.01,
        epsilon_decay: float = 0.99,
        alpha: float = 0.05,
        block: int = 10,
        null_draws: int = 40,
    ) -> None:
        o = lib().ergon_auxo_options_default()
        o.clients = index(clients, "clients", 64, Status.INVALID_ARGUMENT)
        o.train_ratio = float(train_ratio)
        o.known_clients = -1.0 if known_clients is None else float(known_clients)
        o.split_test = _choice(_SPLIT_CODES, split_test, "split_test")
        o.signal = _choice(_SIGNAL_CODES, signal, "signal")
        rounds = [u32(r, "split_rounds[]") for r in split_rounds]
        rounds_buf = (c_uint32 * len(rounds))(*rounds)
        o.split_rounds = cast(rounds_buf, POINTER(c_uint32))
        o.num_split_rounds = len(rounds)
        o.sub_clustering_rounds = (
            0
            if sub_clustering_rounds is None
            else u32(sub_clustering_rounds, "sub_clustering_rounds")
        )
        o.min_reporters = u32(min_reporters, "min_reporters")
        o.merge = bool(merge)
        o.epsilon = float(epsilon)
        o.epsilon_decay = float(epsilon_decay)
        o.improved_alpha = float(alpha)
        o.improved_block = u32(block, "block")
        o.improved_null_draws = u32(null_draws, "null_draws")
        o.seed = index(seed, "seed", 64, Status.INVALID_ARGUMENT)
        self.clients = int(clients)
        self._own(make("ergon_auxo_clusterer_new", "auxo_clusterer", o))

    def step(self, cohort: int, participants: Sequence[int], updates: Any) -> StepResult:
        """The clustering step of ``cohort`` after one of its rounds: ``participants`` are the
        client ids that reported, ``updates`` their update vectors (one row each, as a sequence
        of sequences or a 2-D numpy array). With fewer than ``min_reporters`` participants
        nothing happens (``ran`` is False)."""
        if _is_numpy(participants):
            ids = [int(p) for p in participants.tolist()]
        else:
            ids = list(participants)
        if not ids:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"cohort {cohort}: a clustering step needs at least one participant, got none",
            )
        id_buf = (c_uint32 * len(ids))(
            *(index(p, "participant id", 32, Status.OUT_OF_RANGE) for p in ids)
        )
        rows, dim, keep = _matrix(updates, len(ids))
        r = self._get(
            "step",
            A.ergon_auxo_step_result,
            index(cohort, "cohort", 32, Status.OUT_OF_RANGE),
            id_buf,
            len(ids),
            rows,
            dim,
        )
        del keep  # the native call has returned; the rows may go
        return StepResult(
            ran=bool(r.ran),
            rewarded=bool(r.rewarded),
            split=(int(r.split_parent), int(r.split_child)) if r.split else None,
            merged=int(r.merged_cohort) if r.merged else None,
            num_cohorts=int(r.num_cohorts),
        )

    def cohort_of(self, client: int) -> int:
        """The cohort ``client`` trains in next (the ε-greedy mapping)."""
        c = index(client, "client", 32, Status.OUT_OF_RANGE)
        return int(self._get("cohort_of", c_uint32, c).value)

    def best_cohort(self, client: int) -> int:
        """``client``'s cohort of highest affinity (no exploration): whose model serves it."""
        c = index(client, "client", 32, Status.OUT_OF_RANGE)
        return int(self._get("best_cohort", c_uint32, c).value)

    @property
    def num_cohorts(self) -> int:
        """The number of cohorts."""
        return int(self._get("num_cohorts", c_uint32).value)

    def members(self, cohort: int) -> int:
        """How many clients are mapped to ``cohort``."""
        m = index(cohort, "cohort", 32, Status.OUT_OF_RANGE)
        return int(self._get("members", c_uint64, m).value)

    def assignment(self) -> List[int]:
        """Every client's cohort (index = client id)."""
        return [int(v) for v in self._list("assignment", c_uint32)]
