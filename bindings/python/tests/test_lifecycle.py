"""Handles: deterministic closing, use after close, garbage collection, memory, threads."""

from __future__ import annotations

import copy
import gc
import json
import os
import pickle
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from conftest import run_python

import ergon
from ergon import ErgonError, Status


def live() -> int:
    return ergon.live_handles()["perseus_frontier"]


# --- closing -----------------------------------------------------------------------------------

USES: Dict[str, Callable[[ergon.Frontier], Any]] = {
    "solve": lambda f: f.solve(),
    "points": lambda f: f.points,
    "point_records": lambda f: f.point_records,
    "point": lambda f: f.point(0),
    "num_points": lambda f: f.num_points,
    "summary": lambda f: f.summary(),
    "t_min_s": lambda f: f.t_min_s,
    "t_max_s": lambda f: f.t_max_s,
    "t_star_s": lambda f: f.t_star_s,
    "complete": lambda f: f.complete,
    "incomplete_reason": lambda f: f.incomplete_reason,
    "to_json": lambda f: f.to_json(),
    "plan": lambda f: f.plan(),
    "plan_deadline": lambda f: f.plan(deadline_s=1.0),
}


@pytest.mark.parametrize("solved", [False, True])
def test_use_after_close(instance_2x4: Path, solved: bool) -> None:
    f = ergon.Frontier.from_instance(instance_2x4)
    if solved:
        f.solve()
    f.close()
    assert f.closed
    assert "closed" in repr(f)
    for name, use in USES.items():
        with pytest.raises(ErgonError) as e:
            use(f)
        assert e.value.status == Status.INVALID_STATE, name
        assert "closed" in e.value.message
    f.close()  # twice is fine
    with f:  # and so is a with block on a closed frontier
        pass


def test_context_manager(instance_2x4: Path) -> None:
    before = live()
    with ergon.Frontier.from_instance(instance_2x4) as f:
        assert live() == before + 1 and not f.closed
    assert f.closed and live() == before
    with pytest.raises(RuntimeError):
        with ergon.Frontier.from_instance(instance_2x4) as g:
            raise RuntimeError("inside")
    assert g.closed and live() == before


def test_failed_construction_leaves_no_handle() -> None:
    before = live()
    for _ in range(10):
        with pytest.raises(ErgonError):
            ergon.Frontier.from_instance_json("{}")
    assert live() == before


def test_not_copyable(frontier_2x4: ergon.Frontier) -> None:
    with pytest.raises(TypeError):
        copy.copy(frontier_2x4)
    with pytest.raises(TypeError):
        copy.deepcopy(frontier_2x4)
    with pytest.raises(TypeError):
        pickle.dumps(frontier_2x4)
    with pytest.raises(TypeError):
        ergon.Frontier(None, "x")  # handles come from the from_* class methods only


# --- garbage collection ------------------------------------------------------------------------


def test_garbage_collected_handles_are_freed(instance_2x4: Path) -> None:
    gc.collect()
    before = live()
    f = ergon.Frontier.from_instance(instance_2x4)
    ref = weakref.ref(f)
    assert live() == before + 1
    del f  # refcount drops to zero: freed at once
    assert ref() is None
    assert live() == before


def test_handles_in_reference_cycles_are_freed(instance_2x4: Path) -> None:
    gc.collect()
    before = live()
    refs = []
    for _ in range(5):
        f = ergon.Frontier.from_instance(instance_2x4)
        holder: Dict[str, Any] = {"frontier": f}
        holder["self"] = holder  # a cycle keeps f alive until the collector runs
        refs.append(weakref.ref(f))
        del f, holder
    assert live() == before + 5
    gc.collect()
    assert all(r() is None for r in refs)
    assert live() == before


def test_interpreter_exit_with_live_handles(instance_2x4: Path) -> None:
    code = f"""
        import ergon, gc
        gc.disable()
        keep = ergon.Frontier.from_instance({str(instance_2x4)!r}).solve()
        cycle = {{"f": ergon.Frontier.from_instance({str(instance_2x4)!r})}}
        cycle["me"] = cycle
        class Holder:
            pass
        Holder.f = ergon.Frontier.from_instance({str(instance_2x4)!r})
        print("ok", ergon.live_handles()["perseus_frontier"])
    """
    run = run_python(code, {})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok 3"
    assert run.stderr == ""


# --- memory ------------------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def cycle(text: str) -> None:
    """One create/solve/use/close cycle touching every kind of call, including failures."""
    with ergon.Frontier.from_instance_json(text) as f:
        f.solve()
        assert len(f.points) == len(f.point_records) > 0
        f.point(0)
        f.summary()
        f.to_json()
        f.plan().to_json()
        f.plan(at="fastest")
        try:
            f.plan(deadline_s=0.0)
        except ErgonError:
            pass
    try:
        ergon.Frontier.from_instance_json("{")
    except ErgonError:
        pass


def growth_over(text: str, warmup: int, cycles: int) -> int:
    for _ in range(warmup):
        cycle(text)
    gc.collect()
    before = live(), rss_bytes()
    for _ in range(cycles):
        cycle(text)
    gc.collect()
    assert live() == before[0]
    return rss_bytes() - before[1]


MB = 1 << 20


def test_memory_1000_cycles(instance_2x4: Path, fits_2x4: str) -> None:
    """1 000 create/solve/close cycles of the 2×4 fixture do not grow the RSS by 8 MB.

    The cycles use the fixture with the cost models lowtime fitted (the shared oracle's
    coefficients as ``fit``), so that no fitting is done: fitting 8 profiles takes ~0.4 s per
    cycle in a debug build of the library; everything else (parsing, validation, the solve,
    points, plans, JSON, errors, handles) runs as for the plain fixture.
    """
    grown = growth_over(fits_2x4, warmup=50, cycles=1000)
    assert grown < 8 * MB, f"RSS grew by {grown / MB:.1f} MB over 1000 cycles"


def test_memory_with_fitting(instance_2x4: Path) -> None:
    """The plain fixture (fitting included): as many cycles as fit in ~5 s (1 000 on a release
    build of the library, about a dozen on a debug build), at least 10."""
    text = instance_2x4.read_text()
    t0 = time.perf_counter()
    for _ in range(3):
        cycle(text)
    per_cycle = (time.perf_counter() - t0) / 3
    cycles = max(10, min(1000, int(5.0 / per_cycle)))
    grown = growth_over(text, warmup=0, cycles=cycles)
    assert grown < 8 * MB, f"RSS grew by {grown / MB:.1f} MB over {cycles} cycles"


@pytest.fixture(scope="module")
def fits_2x4(instance_2x4: Path, oracle_2x4: Path) -> str:
    """The 2×4 fixture with each profile's ``fit`` set to the oracle's fitted coefficients."""
    doc = json.loads(instance_2x4.read_text())
    oracle = json.loads(oracle_2x4.read_text())
    coeffs = {(s["stage"], s["kind"]): s["coefficients"] for s in oracle["specs"]}
    for p in doc["profiles"]:
        c = coeffs[(p["stage"], p["kind"])]
        p["fit"] = {"a": c["a"], "b": c["b"], "c": c["c"]}
    return json.dumps(doc)


def test_fitted_fixture_is_the_same_problem(fits_2x4: str, frontier_2x4: ergon.Frontier) -> None:
    """The lowtime coefficients give the library's frontier to fitting precision."""
    with ergon.Frontier.from_instance_json(fits_2x4) as f:
        mine, theirs = f.point_records, frontier_2x4.point_records
    assert [p.quanta for p in mine] == [p.quanta for p in theirs]
    for p, q in zip(mine, theirs):
        assert p.energy_j == pytest.approx(q.energy_j, rel=1e-4)


# --- threads -----------------------------------------------------------------------------------


def test_shared_between_threads(frontier_2x4: ergon.Frontier, instance_2x4: Path) -> None:
    expected = frontier_2x4.point_records
    errors: List[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                assert frontier_2x4.point_records == expected
                frontier_2x4.plan()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    # closing while other threads use it: they see ErgonError (INVALID_STATE), never a crash
    f = ergon.Frontier.from_instance(instance_2x4).solve()
    seen: List[int] = []

    def reader() -> None:
        for _ in range(10_000):
            try:
                _ = f.points
            except ErgonError as e:
                seen.append(e.status)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.01)
    f.close()
    for t in threads:
        t.join()
    assert all(s == Status.INVALID_STATE for s in seen)


def test_errors_are_per_thread(frontier_2x4: ergon.Frontier) -> None:
    """A constructor's message comes from the calling thread, not another thread's failure."""
    messages: Dict[str, str] = {}

    def fail(name: str, text: str) -> None:
        for _ in range(200):
            try:
                ergon.Frontier.from_instance_json(text)
            except ErgonError as e:
                messages[name] = e.message
                if e.status != (Status.PARSE if name == "parse" else Status.SCHEMA):
                    messages[name] = f"WRONG {e!r}"
                    return

    a = threading.Thread(target=fail, args=("parse", "{"))
    b = threading.Thread(target=fail, args=("schema", '{"schema": "x/v1"}'))
    a.start()
    b.start()
    a.join()
    b.join()  # noqa: E702
    assert not messages["parse"].startswith("WRONG"), messages["parse"]
    assert not messages["schema"].startswith("WRONG"), messages["schema"]
