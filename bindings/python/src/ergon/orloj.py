"""Orloj: the online batcher of a model server, and the serving simulator.

The classes of this module drive the Orloj part of the C ABI (``ergon_orloj_batcher_*`` and
``ergon_orloj_simulation_*`` of ``ergon.h``; ``ergon orloj`` on the command line). A
:class:`Batcher` keeps an empirical execution-time distribution per application, a queue per
application in deadline order and a policy (Orloj, or the baselines Clockwork, Nexus, Clipper,
EDF and FIFO)::

    from ergon.orloj import App, Batcher, simulate

    apps = [App.bimodal("early-exit", slo_s=0.040, low_s=0.006, high_s=0.020, p_low=0.3),
            App.lognormal("seq2seq", slo_s=0.060, mean_s=0.030, cv=1.0)]
    with Batcher(apps=apps, max_batch=8, scale=[1 + 0.1 * i for i in range(8)]) as b:
        b.enqueue("early-exit", request_id=17, arrival_s=0.0)    # deadline = arrival + SLO
        ids, dropped = b.next_batch(now_s=0.0)                   # run ids; answer dropped
        b.complete("early-exit", observed_time_s=0.007)          # updates the distribution

    result = simulate({"schema": "orloj-sim/v1", ...})           # orloj-result/v1 as a dict

Applications are given as :class:`App` values or as the ``apps`` entries of ``orloj-sim/v1``
(``{"name", "slo_s", "exec_time": {"kind", ...}}``; ``share`` is ignored), and named in the
calls by index or by name. Times are seconds on the caller's clock.

The native handle is released by :meth:`Batcher.close`, by leaving a ``with`` block, or when
the object is garbage-collected. Any use after closing raises :class:`~ergon.ErgonError` with
``Status.INVALID_STATE``. Calls on one object are serialized by a lock.
"""

from __future__ import annotations

import ctypes
import json
import operator
from ctypes import byref, c_double, c_size_t, c_uint64
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from . import _abi as A
from . import _names
from ._errors import ErgonError, Status
from ._ffi import Handle, Owner, as_bytes, index, make
from ._library import lib


def __getattr__(name: str) -> Any:
    """``POLICIES``: the policy names, as in ``orloj-sim/v1`` and as the library names them (a
    baseline may also end in ``-mean``, the default); built on first use, which loads the
    library."""
    if name == "POLICIES":
        return _names.ORLOJ_POLICIES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "App",
    "AppStats",
    "Batcher",
    "Decision",
    "POLICIES",
    "simulate",
    "simulate_json",
]

Config = Union[Mapping[str, Any], str, bytes]
"""An ``orloj-sim/v1`` document: a mapping (serialized here) or its JSON text."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    return float(value)


@dataclass(frozen=True)
class App:
    """One application: its latency SLO and the execution-time law of one request alone.

    Build one with :meth:`constant`, :meth:`bimodal`, :meth:`lognormal`, :meth:`samples` or
    :meth:`from_dict` (an ``apps`` entry of ``orloj-sim/v1``). Values are checked by the library
    when a :class:`Batcher` is made; errors name the application and field.
    """

    name: str
    """Name (for messages, and to name the application in calls)."""
    slo_s: float
    """Latency SLO, seconds: :meth:`Batcher.enqueue` without a deadline uses arrival + SLO."""
    kind: str
    """``"constant"``, ``"bimodal"``, ``"lognormal"`` or ``"samples"``."""
    params: Tuple[Tuple[str, Any], ...] = ()
    """The law's parameters as ``(field, value)`` pairs, named as in ``orloj-sim/v1``."""

    @classmethod
    def constant(cls, name: str, *, slo_s: float, value_s: float) -> "App":
        """Always ``value_s`` (a static model)."""
        return cls(name, slo_s, "constant", (("value_s", value_s),))

    @classmethod
    def bimodal(
        cls, name: str, *, slo_s: float, low_s: float, high_s: float, p_low: float
    ) -> "App":
        """Early exit: ``low_s`` with probability ``p_low``, else ``high_s``."""
        return cls(name, slo_s, "bimodal", (("low_s", low_s), ("high_s", high_s), ("p_low", p_low)))

    @classmethod
    def lognormal(cls, name: str, *, slo_s: float, mean_s: float, cv: float) -> "App":
        """Lognormal with mean ``mean_s`` and coefficient of variation ``cv``."""
        return cls(name, slo_s, "lognormal", (("mean_s", mean_s), ("cv", cv)))

    @classmethod
    def samples(cls, name: str, *, slo_s: float, values_s: Sequence[float]) -> "App":
        """Uniform over measured times."""
        return cls(name, slo_s, "samples", (("values_s", tuple(values_s)),))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "App":
        """An ``apps`` entry of ``orloj-sim/v1``: ``{"name", "slo_s", "exec_time": {"kind",
        ...}}`` (other keys, such as ``share``, are ignored)."""
        if not isinstance(doc, Mapping):
            raise TypeError(f"an app must be an ergon.orloj.App or a mapping, not {doc!r}")
        try:
            exec_time = doc["exec_time"]
            params = tuple((k, v) for k, v in exec_time.items() if k != "kind")
            return cls(str(doc["name"]), doc["slo_s"], str(exec_time["kind"]), params)
        except (KeyError, AttributeError, TypeError) as e:
            raise ErgonError(
                Status.INVALID_PROBLEM,
                f"app {doc!r}: needs name, slo_s and exec_time with a kind ({e!r})",
            ) from None

    def _raw(self, position: int) -> Tuple[A.ergon_orloj_app, Any]:
        """The C struct and what it borrows (kept alive by the caller during the call)."""
        kinds = _names.ORLOJ_EXEC_KINDS
        if self.kind not in kinds:
            raise ErgonError(
                Status.INVALID_ARGUMENT,
                f"app {self.name!r}: unknown execution-time kind {self.kind!r} (expected "
                f"{', '.join(kinds)})",
            )
        raw = A.ergon_orloj_app()
        # The name is passed as pointer and length (UTF-8, not NUL-terminated).
        name = self.name.encode("utf-8")
        raw.name = name
        raw.name_len = len(name)
        raw.slo_s = _number(self.slo_s, f"apps[{position}].slo_s")
        raw.kind = kinds[self.kind]
        keep: List[Any] = [name]
        for key, value in self.params:
            if key == "values_s":
                values = [_number(v, f"apps[{position}].values_s") for v in value]
                array = (c_double * len(values))(*values)
                keep.append(array)
                raw.samples_s = ctypes.cast(array, ctypes.POINTER(c_double))
                raw.num_samples = len(values)
            elif key in _LAW_FIELDS:
                setattr(raw, key, _number(value, f"apps[{position}].exec_time.{key}"))
            else:
                raise ErgonError(
                    Status.INVALID_PROBLEM,
                    f"app {self.name!r}: unknown exec_time field {key!r}",
                )
        return raw, keep


_LAW_FIELDS = frozenset({"value_s", "low_s", "high_s", "p_low", "mean_s", "cv"})
"""The numeric law parameters of ``struct ergon_orloj_app`` (``values_s`` is the array)."""


class AppStats(NamedTuple):
    """An application's SLO and its current law (``struct ergon_orloj_app_stats``)."""

    slo_s: float
    """Latency SLO, seconds."""
    mean_s: float
    """Mean execution time, seconds (on the time grid)."""
    p99_s: float
    """99th percentile, seconds."""
    completions: int
    """Completions reported with :meth:`Batcher.complete`."""


class Decision(NamedTuple):
    """One decision of :meth:`Batcher.decide`."""

    batch: List[int]
    """Request ids to run now, as one batch (empty: wait for an arrival or completion)."""
    dropped: List[int]
    """Hopeless or expired request ids: answer them as missed."""
    expected_time_s: float
    """Expected time of the batch under its distribution, seconds (0 for no batch)."""


def _config_bytes(config: Config) -> bytes:
    if isinstance(config, Mapping):
        return json.dumps(config).encode("utf-8")
    return as_bytes(config, "config")


class Batcher(Owner):
    """The Orloj online batcher of a model server.

    Args:
        apps: the applications, as :class:`App` values or ``orloj-sim/v1`` app mappings; their
            index (or name) identifies them in the other calls.
        max_batch: the largest batch, 1 to 256.
        scale: batch-size factors ``s(1..max_batch)``: a batch of ``b`` takes ``s(b)`` times its
            slowest member (default: all 1).
        policy: ``"orloj"`` or a baseline (see :data:`POLICIES`).
        p_min: Orloj's drop floor (a request whose probability of finishing even alone is
            below it is dropped); default 0.5.
        bins: bins of the shared time grid (default 1024).
        grid_span_s: the grid's last time; 0 (default) covers every application's law.
        decay: weight of one completion in :meth:`complete` (default 0.01).
        single_app: Orloj also weighs single-application batches (default True).
        powers_of_two: Orloj forms only power-of-two batch sizes (default False).
        adaptive_floor: Orloj raises its drop floor to the recent fraction of requests
            dropped, an overload signal (default True).
        load_floor: Orloj raises its drop floor when the load it estimates from arrivals
            exceeds one-at-a-time capacity (default True).

    Raises:
        ErgonError: ``INVALID_ARGUMENT`` (unknown policy or kind, an option out of its
            domain), ``INVALID_PROBLEM`` (no applications, a bad SLO or law parameter, bad
            batch sizes; the message names the application and field).
    """

    __slots__ = ("_names", "_batch", "_dropped", "_max_batch")
    _what = "batcher"

    def __init__(
        self,
        apps: Sequence[Union[App, Mapping[str, Any]]],
        max_batch: int,
        scale: Optional[Sequence[float]] = None,
        policy: str = "orloj",
        *,
        p_min: Optional[float] = None,
        bins: Optional[int] = None,
        grid_span_s: Optional[float] = None,
        decay: Optional[float] = None,
        single_app: Optional[bool] = None,
        powers_of_two: Optional[bool] = None,
        adaptive_floor: Optional[bool] = None,
        load_floor: Optional[bool] = None,
        _handle: Any = None,
    ) -> None:
        if _handle is None:
            parsed = [a if isinstance(a, App) else App.from_dict(a) for a in apps]
            out = self._build(
                parsed,
                max_batch,
                scale,
                policy,
                dict(
                    p_min=p_min,
                    bins=bins,
                    grid_span_s=grid_span_s,
                    decay=decay,
                    single_app=single_app,
                    powers_of_two=powers_of_two,
                    adaptive_floor=adaptive_floor,
                    load_floor=load_floor,
                ),
            )
            self._names = [a.name for a in parsed]
        else:
            out = _handle
            self._names = [a["name"] if isinstance(a, Mapping) else a.name for a in apps]
        self._own(out)
        self._max_batch = int(self._get("max_batch_size", c_size_t).value)
        self._batch = (c_uint64 * self._max_batch)()
        self._dropped = (c_uint64 * 64)()

    def _build(
        self,
        apps: List[App],
        max_batch: Any,
        scale: Optional[Sequence[float]],
        policy: str,
        overrides: Dict[str, Any],
    ) -> Handle:
        max_batch = index(max_batch, "max_batch", status=Status.INVALID_PROBLEM)
        options = lib().ergon_orloj_batcher_options_default()
        options.policy, options.estimate = _names.orloj_policy(policy)
        for key, value in overrides.items():
            if value is None:
                continue
            if key in ("single_app", "powers_of_two", "adaptive_floor", "load_floor"):
                setattr(options, key, bool(value))
            elif key == "bins":
                options.bins = index(value, "options.bins", status=Status.INVALID_ARGUMENT)
            else:
                setattr(options, key, _number(value, key))
        raws, keep = [], []
        for i, a in enumerate(apps):
            raw, k = a._raw(i)
            raws.append(raw)
            keep.append(k)
        array = (A.ergon_orloj_app * len(raws))(*raws)
        scale_ptr = None
        if scale is not None:
            factors = [_number(s, "scale") for s in scale]
            if len(factors) != max_batch:
                raise ErgonError(
                    Status.INVALID_PROBLEM,
                    f"batch scale has {len(factors)} factors but max_batch is {max_batch}: "
                    "give one per batch size",
                )
            scale_ptr = (c_double * len(factors))(*factors)
        handle = make(
            "ergon_orloj_batcher_new",
            "orloj_batcher",
            array,
            len(raws),
            scale_ptr,
            max_batch,
            byref(options),
        )
        del keep  # the C call has copied everything it borrowed
        return handle

    @classmethod
    def from_json(cls, config: Config, policy: Optional[str] = None) -> "Batcher":
        """The workload of an ``orloj-sim/v1`` document (its apps, batch scale, ``bins`` and
        ``p_min``, on the simulator's grid), deciding with ``policy`` (default: the document's
        first policy).

        Raises:
            ErgonError: ``PARSE``, ``SCHEMA``, ``INVALID_ARGUMENT`` (unknown policy) or
                ``INVALID_PROBLEM``.
        """
        data = _config_bytes(config)
        name = b""  # the document's first policy
        if policy is not None:
            # The library's name of the policy (the case as the package reads it).
            name = _names.orloj_policy_name(*_names.orloj_policy(policy)).encode("utf-8")
        out = make(
            "ergon_orloj_batcher_from_json", "orloj_batcher", data, len(data), name, len(name)
        )
        try:
            apps = json.loads(data)["apps"]
        except Exception:  # pragma: no cover - the library has parsed it
            apps = []
        return cls(apps, 0, _handle=out)

    # --- lifetime ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        if self.closed:
            return "<ergon.orloj.Batcher (closed)>"
        return (
            f"<ergon.orloj.Batcher {self.policy} apps={self._names} "
            f"max_batch={self._max_batch} queued={self.queued}>"
        )

    def _app(self, app: Union[int, str]) -> int:
        if isinstance(app, str):
            try:
                return self._names.index(app)
            except ValueError:
                raise ErgonError(
                    Status.OUT_OF_RANGE,
                    f"unknown app {app!r} (the apps are {', '.join(map(repr, self._names))})",
                ) from None
        if isinstance(app, bool):
            raise TypeError("app must be an index or a name, not bool")
        position = operator.index(app)
        if position < 0:
            raise ErgonError(Status.OUT_OF_RANGE, f"unknown app {position} (negative)")
        # An index of 2**64 or more would wrap to a small one in ctypes.
        return index(position, "app")

    # --- the server's calls ------------------------------------------------------------------

    def enqueue(
        self,
        app: Union[int, str],
        request_id: int,
        arrival_s: float,
        deadline_s: Optional[float] = None,
    ) -> None:
        """Queues ``request_id`` (0 to 2**64 - 1) of ``app`` (index or name), arrived at
        ``arrival_s`` and due by ``deadline_s`` (default: arrival + the app's SLO).

        Raises:
            ErgonError: ``OUT_OF_RANGE`` (unknown app), ``INVALID_ARGUMENT`` (a time not
                finite, a deadline before the arrival, an id out of range).
        """
        app_index = self._app(app)
        rid = index(request_id, "request_id", 64, Status.INVALID_ARGUMENT)
        arrival = _number(arrival_s, "arrival_s")
        if deadline_s is None:
            self._call("enqueue_slo", app_index, rid, arrival)
        else:
            self._call("enqueue", app_index, rid, arrival, _number(deadline_s, "deadline_s"))

    def decide(self, now_s: float) -> Decision:
        """Decides at ``now_s``: drops hopeless and expired requests and picks the next batch,
        with its expected time.

        Raises:
            ErgonError: ``INVALID_ARGUMENT`` (``now_s`` not finite).
        """
        return self._decide(now_s, True)

    def next_batch(self, now_s: float) -> Tuple[List[int], List[int]]:
        """``(ids, dropped)`` of the decision at ``now_s`` (see :meth:`decide`): run ``ids``
        now as one batch (empty: wait), answer ``dropped`` as missed."""
        d = self._decide(now_s, False)
        return d.batch, d.dropped

    def _decide(self, now_s: float, expected: bool) -> Decision:
        now = _number(now_s, "now_s")
        nb, nd, t = c_size_t(0), c_size_t(0), c_double(0.0)
        with self._lock:
            h = self._live()
            next_batch = h.fn("next_batch")
            for _ in range(2):
                status = next_batch(
                    h.ptr,
                    now,
                    self._batch,
                    len(self._batch),
                    byref(nb),
                    self._dropped,
                    len(self._dropped),
                    byref(nd),
                    byref(t) if expected else None,
                )
                if status != Status.BUFFER_TOO_SMALL:
                    break
                # The decision is kept in the handle: grow the buffers and take it.
                if nb.value > len(self._batch):
                    self._batch = (c_uint64 * nb.value)()
                if nd.value > len(self._dropped):
                    self._dropped = (c_uint64 * max(nd.value, 2 * len(self._dropped)))()
            if status:
                raise h.error(status)
            return Decision(list(self._batch[: nb.value]), list(self._dropped[: nd.value]), t.value)

    def complete(self, app: Union[int, str], observed_time_s: float) -> None:
        """Reports the observed time of one finished request of ``app`` (its time alone) and
        moves a fraction ``decay`` of the app's distribution onto it.

        Raises:
            ErgonError: ``OUT_OF_RANGE`` (unknown app), ``INVALID_ARGUMENT`` (a time not
                finite or negative).
        """
        self._call("complete", self._app(app), _number(observed_time_s, "observed_time_s"))

    def batch_done(self, batch_time_s: float) -> None:
        """Reports how long the last batch took (Clipper's AIMD feedback)."""
        self._call("batch_done", _number(batch_time_s, "batch_time_s"))

    # --- state -------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Requests waiting."""
        return int(self._get("queued", c_size_t).value)

    def __len__(self) -> int:
        return self.queued

    @property
    def max_batch(self) -> int:
        """The largest batch."""
        return self._max_batch

    @property
    def apps(self) -> List[str]:
        """Application names, by index."""
        return list(self._names)

    @property
    def policy(self) -> str:
        """The policy's name (``"orloj"``, ``"clockwork-p99"``...)."""
        return self._text("policy_name")

    def app_stats(self, app: Union[int, str]) -> AppStats:
        """The SLO and current law's mean and p99 of ``app``, and completions reported."""
        s = self._get("app_stats", A.ergon_orloj_app_stats, self._app(app))
        return AppStats(s.slo_s, s.mean_s, s.p99_s, s.completions)


def simulate_json(config: Config) -> str:
    """Runs an ``orloj-sim/v1`` simulation; returns the ``orloj-result/v1`` JSON exactly as
    ``ergon orloj simulate --config FILE --json`` prints it (without the newline).

    Raises:
        ErgonError: ``PARSE``, ``SCHEMA`` or ``INVALID_PROBLEM``.
    """
    data = _config_bytes(config)
    with make("ergon_orloj_simulation_run_json", "orloj_simulation", data, len(data)) as h:
        return h.text("to_json")


def simulate(config: Config) -> Dict[str, Any]:
    """:func:`simulate_json`, parsed: ``{"schema": "orloj-result/v1", "results": [...]}``."""
    result: Dict[str, Any] = json.loads(simulate_json(config))
    return result
