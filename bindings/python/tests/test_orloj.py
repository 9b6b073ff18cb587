"""ergon.orloj: the Orloj batcher and the simulator from Python.

The reference notes' score oracle (Part C: A = {10 ms, 30 ms} w.p. 1/2, B = 20 ms; r1 (A, 35 ms),
r2 (A, 12 ms), r3 (B, 25 ms) at now 0 with s(b) = 1), EDF/FIFO orders, completions changing
decisions, errors, the handle's lifecycle, and ``simulate`` equal to ``ergon orloj simulate
--json`` on the same document.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import pickle
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from conftest import fails

import ergon
from ergon import Status
from ergon.orloj import POLICIES, App, Batcher, Decision, simulate, simulate_json

MS = 1e-3


def oracle_batcher(**kw: Any) -> Batcher:
    """The notes' apps on a 1-ms grid (their times are grid points)."""
    apps = [
        App.bimodal("A", slo_s=0.1, low_s=10 * MS, high_s=30 * MS, p_low=0.5),
        App.constant("B", slo_s=0.1, value_s=20 * MS),
    ]
    return Batcher(apps=apps, max_batch=8, grid_span_s=63 * MS, bins=64, **kw)


def enqueue_oracle(b: Batcher) -> None:
    b.enqueue("A", 1, 0.0, 35 * MS)
    b.enqueue("A", 2, 0.0, 12 * MS)
    b.enqueue("B", 3, 0.0, 25 * MS)


def test_orloj_oracle_runs_the_same_app_pair() -> None:
    # Orloj's candidates are prefixes of the deadline order r2, r3, r1 ({r2} 0.025, {r2, r3}
    # 0.02, {r2, r3, r1} 0.0455) and of one app's queue ({r2, r1} 0.05, {r3} 0.05); the tie
    # goes to the larger batch. r2 is kept: P(A <= 12 ms) = 1/2 >= p_min = 0.05.
    with oracle_batcher() as b:
        enqueue_oracle(b)
        assert b.queued == 3
        d = b.decide(0.0)
        assert d == Decision([2, 1], [], pytest.approx(25 * MS, abs=1e-12))
        assert len(b) == 1
        # At 25 ms r3 has no slack left (< B's 20 ms): dropped.
        assert b.next_batch(25 * MS) == ([], [3])
        assert b.policy == "orloj"


def test_orloj_oracle_after_the_early_drop_is_the_notes_argmax() -> None:
    # p_min = 0.6 drops r2 (1/2 < 0.6); then {r1, r3} scores 1.5 / 25 ms = 0.06, the argmax.
    with oracle_batcher(p_min=0.6) as b:
        enqueue_oracle(b)
        d = b.decide(0.0)
        assert d.dropped == [2]
        assert d.batch == [1, 3]
        assert d.expected_time_s == pytest.approx(25 * MS, abs=1e-12)


@pytest.mark.parametrize("policy, first, second", [("edf", 2, 1), ("fifo", 1, 2)])
def test_edf_and_fifo_orders(policy: str, first: int, second: int) -> None:
    apps = [
        App.constant("x", slo_s=0.1, value_s=10 * MS),
        App.constant("y", slo_s=0.1, value_s=10 * MS),
    ]
    with Batcher(apps, max_batch=1, policy=policy) as b:
        b.enqueue("x", 1, 0.0, 0.5)
        b.enqueue("y", 2, 1 * MS, 0.1)
        assert b.next_batch(1 * MS) == ([first], [])
        assert b.next_batch(11 * MS) == ([second], [])
        assert b.policy == policy


def test_completions_update_the_distribution_and_change_decisions() -> None:
    apps = [App.constant("x", slo_s=0.1, value_s=10 * MS)]
    with Batcher(apps, max_batch=4, decay=1.0, grid_span_s=31 * MS, bins=32) as b:
        assert b.app_stats("x").mean_s == pytest.approx(10 * MS)
        b.enqueue("x", 1, 0.0, 15 * MS)
        assert b.next_batch(0.0) == ([1], [])
        b.complete("x", 20 * MS)
        stats = b.app_stats(0)
        assert stats.mean_s == pytest.approx(20 * MS)
        assert stats.completions == 1
        # 15 ms of slack is now hopeless.
        b.enqueue("x", 2, 0.1, 0.115)
        assert b.next_batch(0.1) == ([], [2])


def test_default_deadline_is_arrival_plus_slo() -> None:
    exec_time = {"kind": "constant", "value_s": 0.01}
    apps = [{"name": "x", "share": 1.0, "slo_s": 0.1, "exec_time": exec_time}]
    with Batcher(apps, max_batch=2, policy="edf") as b:
        b.enqueue("x", 5, 0.005)
        assert b.next_batch(0.106) == ([], [5])  # due at 0.105
        assert b.app_stats("x").slo_s == 0.1


def test_many_drops_grow_the_buffers() -> None:
    with Batcher([App.constant("x", slo_s=0.1, value_s=0.01)], max_batch=4, policy="edf") as b:
        for i in range(300):
            b.enqueue(0, i, 0.0, 0.001)
        ids, dropped = b.next_batch(1.0)
        assert ids == [] and dropped == list(range(300))


def test_names_come_from_the_library() -> None:
    # The tables are the library's names of the header's codes (ergon_*_name / _parse).
    assert POLICIES == (
        "orloj", "clockwork", "clockwork-p99", "nexus", "nexus-p99",
        "clipper", "edf", "edf-p99", "fifo", "fifo-p99",
    )
    assert ergon.dpk.SCHEDULERS == {"dpk": 0, "dpf": 1, "fcfs": 2, "area": 3, "optimal": 4}
    # Another case is still read; the message of an unknown name is the library's.
    with Batcher(GOOD, max_batch=4, policy=" Clockwork-P99") as b:
        assert b.policy == "clockwork-p99"
    with fails(Status.INVALID_ARGUMENT, "ergon_orloj_policy_parse", "baselines optionally"):
        Batcher(GOOD, max_batch=4, policy="orloj-p99")


def test_every_policy_and_law() -> None:
    apps = [
        App.lognormal("ln", slo_s=0.06, mean_s=0.03, cv=1.0),
        App.samples("s", slo_s=0.05, values_s=[0.01, 0.01, 0.02, 0.04]),
    ]
    for policy in POLICIES + ("clockwork-mean",):
        with Batcher(apps, max_batch=4, scale=[1, 1.1, 1.2, 1.3], policy=policy) as b:
            assert b.policy == policy.replace("-mean", "")
            assert b.max_batch == 4 and b.apps == ["ln", "s"]
            b.enqueue("s", 1, 0.0)
            b.enqueue("ln", 2, 0.0)
            ids, dropped = b.next_batch(0.0)
            assert sorted(ids + dropped) == [1, 2] or b.queued > 0
            b.batch_done(0.02)
    with Batcher(apps, max_batch=4) as b:
        s = b.app_stats("s")
        assert s.mean_s == pytest.approx(0.02, abs=1e-3)
        assert s.p99_s == pytest.approx(0.04, abs=1e-3)


GOOD = [App.constant("x", slo_s=0.1, value_s=0.01)]
TWO = [App.constant("x", slo_s=0.1, value_s=0.01), App.constant("y", slo_s=0.1, value_s=0.01)]


@pytest.mark.parametrize("slo", [0.0, -1.0, math.nan])
def test_bad_slo_names_the_app(slo: float) -> None:
    # The name is passed as pointer and length: all of it, past a NUL, reaches the library.
    with fails(Status.INVALID_PROBLEM, "résnet\0v2", "slo_s"):
        Batcher([App.constant("résnet\0v2", slo_s=slo, value_s=0.01)], max_batch=4)


# (apps, Batcher keywords, status, part of the message)
BAD_BATCHERS: List[Tuple[List[Any], Dict[str, Any], Status, str]] = [
    ([], {}, Status.INVALID_PROBLEM, "no applications"),
    # An empty name is the library's default, "app <index>".
    ([GOOD[0], App.constant("", slo_s=0.0, value_s=0.01)], {}, Status.INVALID_PROBLEM, "app 1"),
    ([App("x", 0.1, "gamma")], {}, Status.INVALID_ARGUMENT, "unknown execution-time kind"),
    ([App.bimodal("x", slo_s=0.1, low_s=0.01, high_s=0.02, p_low=2.0)], {},
     Status.INVALID_PROBLEM, "p_low"),
    ([App.samples("x", slo_s=0.1, values_s=[])], {}, Status.INVALID_PROBLEM, "values_s"),
    ([App.lognormal("x", slo_s=0.1, mean_s=0.01, cv=-1)], {}, Status.INVALID_PROBLEM, "cv"),
    *[
        (GOOD, {"policy": policy}, Status.INVALID_ARGUMENT, f'unknown policy "{policy}"')
        for policy in ("sjf", "orloj-p99", "clipper-p99")
    ],
    (GOOD, {"p_min": 1.5}, Status.INVALID_ARGUMENT, "p_min"),
    (GOOD, {"bins": 1}, Status.INVALID_ARGUMENT, "bins"),
    (GOOD, {"decay": 0.0}, Status.INVALID_ARGUMENT, "decay"),
    (GOOD, {"max_batch": 0}, Status.INVALID_PROBLEM, "max_size 0"),
    (GOOD, {"max_batch": 300}, Status.INVALID_PROBLEM, "max_size 300"),
    (GOOD, {"scale": [1.0]}, Status.INVALID_PROBLEM, "one per batch size"),
    (GOOD, {"max_batch": 2, "scale": [1.0, -1.0]}, Status.INVALID_PROBLEM, "size 2"),
    ([{"name": "x", "slo_s": 0.1}], {"max_batch": 2}, Status.INVALID_PROBLEM, "exec_time"),
    # ctypes reduces ints modulo 2**64: a max_batch or bins past it must not wrap (issue 12).
    (TWO, {"max_batch": 2**64 + 4}, Status.INVALID_PROBLEM, "max_batch"),
    (TWO, {"bins": 2**64 + 8}, Status.INVALID_ARGUMENT, "bins"),
]


@pytest.mark.parametrize("apps, options, status, part", BAD_BATCHERS)
def test_bad_construction(
    apps: List[Any], options: Dict[str, Any], status: Status, part: str
) -> None:
    before = ergon.live_handles()["orloj_batcher"]
    with fails(status, part):
        Batcher(apps, **{"max_batch": 4, **options})
    assert ergon.live_handles()["orloj_batcher"] == before


@pytest.mark.parametrize("max_batch", [True, 4.0])
def test_max_batch_must_be_an_integer(max_batch: Any) -> None:
    with pytest.raises(TypeError):
        Batcher(GOOD, max_batch=max_batch)


# (method, arguments, status, part of the message): each fails and queues nothing.
BAD_CALLS: List[Tuple[str, Tuple[Any, ...], Status, str]] = [
    ("enqueue", (0, 1, math.nan, 1.0), Status.INVALID_ARGUMENT, "arrival_s"),
    ("enqueue", (0, 1, 0.0, math.inf), Status.INVALID_ARGUMENT, "deadline_s"),
    ("enqueue", (0, 1, 1.0, 0.5), Status.INVALID_ARGUMENT, "before its arrival"),
    ("enqueue", (0, -1, 0.0, 1.0), Status.INVALID_ARGUMENT, "request_id"),
    ("enqueue", (3, 1, 0.0, 1.0), Status.OUT_OF_RANGE, "unknown app 3"),
    ("enqueue", ("z", 1, 0.0, 1.0), Status.OUT_OF_RANGE, "unknown app 'z'"),
    ("complete", (-1, 0.01), Status.OUT_OF_RANGE, "negative"),
    ("app_stats", (2,), Status.OUT_OF_RANGE, "unknown app 2"),
    ("complete", (0, -0.01), Status.INVALID_ARGUMENT, "observed_time_s"),
    ("batch_done", (math.nan,), Status.INVALID_ARGUMENT, "batch_time_s"),
    ("next_batch", (math.nan,), Status.INVALID_ARGUMENT, "now_s"),
    # ctypes reduces ints modulo 2**64: enqueue(2**64 + 1, ...) queued into app 1 (issue 12).
    ("enqueue", (2**64 + 1, 1, 0.0, 1.0), Status.OUT_OF_RANGE, "app"),
    ("enqueue", (2**64, 1, 0.0, 1.0), Status.OUT_OF_RANGE, "app"),
    ("complete", (2**64 + 1, 0.01), Status.OUT_OF_RANGE, "app"),
    ("app_stats", (2**65,), Status.OUT_OF_RANGE, "app"),
    ("enqueue", (0, 2**64, 0.0, 1.0), Status.INVALID_ARGUMENT, "request_id"),
]


@pytest.fixture(scope="module")
def batcher() -> Iterator[Batcher]:
    with Batcher(TWO, max_batch=4) as b:
        yield b


@pytest.mark.parametrize("method, args, status, part", BAD_CALLS)
def test_bad_calls(
    batcher: Batcher, method: str, args: Tuple[Any, ...], status: Status, part: str
) -> None:
    with fails(status, part):
        getattr(batcher, method)(*args)
    assert batcher.queued == 0


@pytest.mark.parametrize("args", [(True, 1, 0.0), (0, 1, "now")])
def test_bad_call_types(batcher: Batcher, args: Tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        batcher.enqueue(*args)


def test_lifecycle() -> None:
    before = ergon.live_handles()["orloj_batcher"]
    b = oracle_batcher()
    assert ergon.live_handles()["orloj_batcher"] == before + 1
    assert "orloj" in repr(b)
    for refuse in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="native handle"):
            refuse(b)
    b.close()
    b.close()
    assert b.closed and "closed" in repr(b)
    assert ergon.live_handles()["orloj_batcher"] == before
    for use in (lambda: b.enqueue(0, 1, 0.0, 1.0), lambda: b.next_batch(0.0), lambda: b.queued):
        with fails(Status.INVALID_STATE, "closed"):
            use()
    oracle_batcher()  # dropped at once: the finalizer frees it
    gc.collect()
    assert ergon.live_handles()["orloj_batcher"] == before


def sim_config(duration_s: float = 1.0) -> Dict[str, Any]:
    return {
        "schema": "orloj-sim/v1",
        "seed": 11,
        "duration_s": duration_s,
        "apps": [
            {"name": "early-exit", "share": 0.5, "slo_s": 0.04,
             "exec_time": {"kind": "bimodal", "low_s": 0.006, "high_s": 0.02, "p_low": 0.3}},
            {"name": "seq2seq", "share": 0.5, "slo_s": 0.06,
             "exec_time": {"kind": "lognormal", "mean_s": 0.03, "cv": 1.0}},
        ],
        "batch": {"max_size": 4, "scale": [1.0, 1.1, 1.2, 1.3]},
        "arrivals": {"kind": "poisson", "load": 0.8},
        "policies": ["orloj", "clockwork-p99", "edf"],
    }


def test_batcher_from_json() -> None:
    cfg = sim_config()
    with Batcher.from_json(cfg) as b:
        assert b.policy == "orloj"
        assert b.apps == ["early-exit", "seq2seq"]
        assert b.max_batch == 4
        assert b.app_stats("seq2seq").slo_s == 0.06
        b.enqueue("seq2seq", 9, 0.0)
        assert b.queued == 1
    with Batcher.from_json(json.dumps(cfg), policy="nexus-p99") as b:
        assert b.policy == "nexus-p99"


def sim_config_with(edit: Callable[[Dict[str, Any]], Any]) -> Dict[str, Any]:
    cfg = sim_config()
    edit(cfg)
    return cfg


# (what reads the document, the document, keywords, status, part of the message)
BAD_DOCUMENTS: List[Tuple[Callable[..., Any], Any, Dict[str, Any], Status, str]] = [
    (Batcher.from_json, sim_config(), {"policy": "sjf"}, Status.INVALID_ARGUMENT, "sjf"),
    (Batcher.from_json, "{", {}, Status.PARSE, "orloj-sim/v1"),
    (Batcher.from_json, sim_config_with(lambda c: c.update(schema="orloj-sim/v9")), {},
     Status.SCHEMA, "orloj-sim/v9"),
    (Batcher.from_json, sim_config_with(lambda c: c["apps"][0].update(slo_s=0)), {},
     Status.INVALID_PROBLEM, "early-exit"),
    (simulate, "{", {}, Status.PARSE, "orloj-sim/v1"),
    (simulate, sim_config_with(lambda c: c.update(schema="orloj-sim/v2")), {},
     Status.SCHEMA, "orloj-sim/v2"),
    (simulate, sim_config_with(lambda c: c["apps"][1].update(share=0.7)), {},
     Status.INVALID_PROBLEM, "shares add up to"),
    (simulate, sim_config_with(lambda c: c["apps"][0]["exec_time"].update(kind="gamma")), {},
     Status.INVALID_PROBLEM, "unknown distribution kind"),
]


@pytest.mark.parametrize("read, document, options, status, part", BAD_DOCUMENTS)
def test_bad_documents(
    read: Callable[..., Any], document: Any, options: Dict[str, Any], status: Status, part: str
) -> None:
    with fails(status, part):
        read(document, **options)


def test_simulate_equals_the_cli(cli: Path, tmp_path: Path) -> None:
    cfg = sim_config(2.0)
    path = tmp_path / "sim.json"
    path.write_text(json.dumps(cfg))
    run = subprocess.run(
        [str(cli), "orloj", "simulate", "--config", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    text = simulate_json(cfg)
    assert text == run.stdout.strip()
    result = simulate(path.read_text())
    assert result == json.loads(run.stdout)
    assert result["schema"] == "orloj-result/v1"
    assert [r["policy"] for r in result["results"]] == ["orloj", "clockwork-p99", "edf"]
    for r in result["results"]:
        assert 0.0 <= r["finish_rate"] <= 1.0
        assert r["finished"] + r["dropped"] + r["late"] == r["arrived"]


def test_simulate_needs_a_document() -> None:
    with pytest.raises(TypeError):
        simulate(42)  # type: ignore[arg-type]
