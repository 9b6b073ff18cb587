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
from typing import Any, Dict

import ergon
import pytest
from ergon import ErgonError, Status
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


def expect(status: Status, part: str, fn: Any, *args: Any, **kw: Any) -> ErgonError:
    with pytest.raises(ErgonError) as info:
        fn(*args, **kw)
    assert info.value.status == status, info.value
    assert part in info.value.message, info.value.message
    return info.value


def test_bad_construction() -> None:
    good = [App.constant("x", slo_s=0.1, value_s=0.01)]
    expect(Status.INVALID_PROBLEM, "no applications", Batcher, [], max_batch=4)
    for slo in (0.0, -1.0, math.nan):
        apps = [App.constant("résnet\0v2", slo_s=slo, value_s=0.01)]
        # The name is passed as pointer and length: all of it, past a NUL, reaches the library.
        e = expect(Status.INVALID_PROBLEM, "résnet\0v2", Batcher, apps, max_batch=4)
        assert "slo_s" in e.message
    # An empty name is the library's default, "app <index>".
    apps = [good[0], App.constant("", slo_s=0.0, value_s=0.01)]
    expect(Status.INVALID_PROBLEM, "app 1", Batcher, apps, max_batch=4)
    for app, status, part in [
        (App("x", 0.1, "gamma"), Status.INVALID_ARGUMENT, "unknown execution-time kind"),
        (
            App.bimodal("x", slo_s=0.1, low_s=0.01, high_s=0.02, p_low=2.0),
            Status.INVALID_PROBLEM,
            "p_low",
        ),
        (App.samples("x", slo_s=0.1, values_s=[]), Status.INVALID_PROBLEM, "values_s"),
        (App.lognormal("x", slo_s=0.1, mean_s=0.01, cv=-1), Status.INVALID_PROBLEM, "cv"),
    ]:
        expect(status, part, Batcher, [app], max_batch=4)
    for policy in ("sjf", "orloj-p99", "clipper-p99"):
        part = f"unknown policy {policy!r}"
        expect(Status.INVALID_ARGUMENT, part, Batcher, good, 4, None, policy)
    expect(Status.INVALID_ARGUMENT, "p_min", Batcher, good, max_batch=4, p_min=1.5)
    expect(Status.INVALID_ARGUMENT, "bins", Batcher, good, max_batch=4, bins=1)
    expect(Status.INVALID_ARGUMENT, "decay", Batcher, good, max_batch=4, decay=0.0)
    expect(Status.INVALID_PROBLEM, "max_size 0", Batcher, good, max_batch=0)
    expect(Status.INVALID_PROBLEM, "max_size 300", Batcher, good, max_batch=300)
    expect(Status.INVALID_PROBLEM, "one per batch size", Batcher, good, max_batch=4, scale=[1.0])
    expect(Status.INVALID_PROBLEM, "size 2", Batcher, good, max_batch=2, scale=[1.0, -1.0])
    expect(Status.INVALID_PROBLEM, "exec_time", Batcher, [{"name": "x", "slo_s": 0.1}], max_batch=2)
    with pytest.raises(TypeError):
        Batcher(good, max_batch=True)


def test_bad_calls() -> None:
    with Batcher([App.constant("x", slo_s=0.1, value_s=0.01)], max_batch=4) as b:
        expect(Status.INVALID_ARGUMENT, "arrival_s", b.enqueue, 0, 1, math.nan, 1.0)
        expect(Status.INVALID_ARGUMENT, "deadline_s", b.enqueue, 0, 1, 0.0, math.inf)
        expect(Status.INVALID_ARGUMENT, "before its arrival", b.enqueue, 0, 1, 1.0, 0.5)
        expect(Status.INVALID_ARGUMENT, "request_id", b.enqueue, 0, -1, 0.0, 1.0)
        expect(Status.OUT_OF_RANGE, "unknown app 3", b.enqueue, 3, 1, 0.0, 1.0)
        expect(Status.OUT_OF_RANGE, "unknown app 'y'", b.enqueue, "y", 1, 0.0, 1.0)
        expect(Status.OUT_OF_RANGE, "negative", b.complete, -1, 0.01)
        expect(Status.OUT_OF_RANGE, "unknown app 1", b.app_stats, 1)
        expect(Status.INVALID_ARGUMENT, "observed_time_s", b.complete, 0, -0.01)
        expect(Status.INVALID_ARGUMENT, "batch_time_s", b.batch_done, math.nan)
        expect(Status.INVALID_ARGUMENT, "now_s", b.next_batch, math.nan)
        assert b.queued == 0
        with pytest.raises(TypeError):
            b.enqueue(True, 1, 0.0)
        with pytest.raises(TypeError):
            b.enqueue(0, 1, "now")


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
    expect(Status.INVALID_STATE, "closed", b.enqueue, 0, 1, 0.0, 1.0)
    expect(Status.INVALID_STATE, "closed", b.next_batch, 0.0)
    expect(Status.INVALID_STATE, "closed", lambda: b.queued)
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
    expect(Status.INVALID_ARGUMENT, "sjf", Batcher.from_json, cfg, policy="sjf")
    expect(Status.PARSE, "orloj-sim/v1", Batcher.from_json, "{")
    expect(Status.SCHEMA, "orloj-sim/v9", Batcher.from_json, dict(cfg, schema="orloj-sim/v9"))
    bad = copy.deepcopy(cfg)
    bad["apps"][0]["slo_s"] = 0
    expect(Status.INVALID_PROBLEM, "early-exit", Batcher.from_json, bad)


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


def test_simulate_errors() -> None:
    expect(Status.PARSE, "orloj-sim/v1", simulate, "{")
    expect(Status.SCHEMA, "orloj-sim/v2", simulate, dict(sim_config(), schema="orloj-sim/v2"))
    cfg = sim_config()
    cfg["apps"][1]["share"] = 0.7
    expect(Status.INVALID_PROBLEM, "shares add up to", simulate, cfg)
    cfg = sim_config()
    cfg["apps"][0]["exec_time"]["kind"] = "gamma"
    expect(Status.INVALID_PROBLEM, "unknown distribution kind", simulate, cfg)
    with pytest.raises(TypeError):
        simulate(42)  # type: ignore[arg-type]


def test_indices_past_2_64_do_not_wrap() -> None:
    # ctypes reduces ints modulo 2**64: enqueue(2**64 + 1, ...) queued into app 1 (issue 12).
    apps = [App.constant("x", slo_s=0.1, value_s=0.01), App.constant("y", slo_s=0.1, value_s=0.01)]
    with Batcher(apps, max_batch=4) as b:
        expect(Status.OUT_OF_RANGE, "app", b.enqueue, 2**64 + 1, 1, 0.0, 1.0)
        expect(Status.OUT_OF_RANGE, "app", b.enqueue, 2**64, 1, 0.0, 1.0)
        expect(Status.OUT_OF_RANGE, "app", b.complete, 2**64 + 1, 0.01)
        expect(Status.OUT_OF_RANGE, "app", b.app_stats, 2**65)
        expect(Status.INVALID_ARGUMENT, "request_id", b.enqueue, 0, 2**64, 0.0, 1.0)
        assert b.queued == 0
    expect(Status.INVALID_PROBLEM, "max_batch", Batcher, apps, max_batch=2**64 + 4)
    expect(Status.INVALID_ARGUMENT, "bins", Batcher, apps, max_batch=4, bins=2**64 + 8)
    with pytest.raises(TypeError):
        Batcher(apps, max_batch=4.0)  # type: ignore[arg-type]
