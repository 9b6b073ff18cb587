"""The frontier and plans through the Python package against the CLI and the shared fixtures."""

from __future__ import annotations

import importlib
import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import ergon
from ergon._library import lib

REL = 1e-12


def close_rel(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0) or a == b


def assert_same_points(records: List[ergon.Point], doc_points: List[Dict[str, Any]]) -> None:
    assert len(records) == len(doc_points)
    for i, (p, q) in enumerate(zip(records, doc_points)):
        assert p.quanta == q["quanta"], i
        assert close_rel(p.time_s, q["time_s"]), (i, p.time_s, q["time_s"])
        assert close_rel(p.energy_j, q["energy_j"]), (i, p.energy_j, q["energy_j"])
        assert close_rel(p.effective_cost_j, q["effective_cost_j"]), i
        assert close_rel(p.cost_change_j, q["cost_change_j"], 1e-9), i


def one_f_one_b(stage: int, stages: int, microbatches: int) -> List[str]:
    """The 1F1B program of a stage (DeepSpeed/Megatron order), independently of the library."""
    warmup = min(stages - stage - 1, microbatches)
    program = ["forward"] * warmup
    f, b = warmup, 0
    while b < microbatches:
        if f < microbatches:
            program.append("forward")
            f += 1
        program.append("backward")
        b += 1
    return program


# --- the 4×8 fixture against the CLI ------------------------------------------------------------


def test_points_equal_cli(frontier_4x8: ergon.Frontier, cli_4x8: Dict[str, Any]) -> None:
    doc = cli_4x8["frontier"]
    assert len(doc["points"]) == 174
    records = frontier_4x8.point_records
    assert len(records) == 174
    assert_same_points(records, doc["points"])
    # .points is (time_s, energy_j) of the same records.
    assert frontier_4x8.points == [(p.time_s, p.energy_j) for p in records]
    assert frontier_4x8.num_points == 174


def test_summary_equals_cli(frontier_4x8: ergon.Frontier, cli_4x8: Dict[str, Any]) -> None:
    doc = cli_4x8["frontier"]
    s = frontier_4x8.summary()
    assert (s.t_min_s, s.t_max_s, s.t_star_s) == (doc["t_min_s"], doc["t_max_s"], doc["t_star_s"])
    assert frontier_4x8.t_min_s == doc["t_min_s"] == pytest.approx(0.723)
    assert frontier_4x8.t_max_s == doc["t_max_s"] == pytest.approx(0.897)
    assert frontier_4x8.t_star_s == doc["t_star_s"]
    assert frontier_4x8.complete is True and doc["complete"] is True
    assert frontier_4x8.incomplete_reason is None
    assert s.num_stages == frontier_4x8.num_stages == doc["num_stages"] == 4
    assert s.num_points == 174
    # T*'s energy is the least of all points.
    star = min(frontier_4x8.points, key=lambda p: p[1])
    assert star == (s.t_star_s, s.t_star_energy_j)


def test_to_json_equals_cli(frontier_4x8: ergon.Frontier, cli_4x8: Dict[str, Any]) -> None:
    text = frontier_4x8.to_json()
    assert json.loads(text) == cli_4x8["frontier"]
    assert text == cli_4x8["text"].rstrip("\n")
    assert json.loads(text)["schema"] == "ergon-frontier/v1"


def test_from_instance_json_equals_file(instance_2x4: Path, frontier_2x4: ergon.Frontier) -> None:
    text = instance_2x4.read_text()
    for source in (text, text.encode()):
        with ergon.Frontier.from_instance_json(source) as f:
            assert f.point_records == frontier_2x4.point_records


def test_profile_csv_gives_the_same_points(
    tmp_path: Path,
    instance_4x8_doc: Dict[str, Any],
    cli_4x8: Dict[str, Any],
    profiles_csv: Callable[[Dict[str, Any]], str],
) -> None:
    csv = tmp_path / "a100_s4_m8.csv"
    csv.write_text(profiles_csv(instance_4x8_doc))
    with ergon.Frontier.from_profile_csv(
        csv,
        stages=4,
        microbatches=8,
        unit_time_s=instance_4x8_doc["unit_time_s"],
        p_blocking_w=instance_4x8_doc["p_blocking_w"],
        schedule="1f1b",
        virtual_stages=0,
        effective_energy="after_filter",
    ) as f:
        assert_same_points(f.point_records, cli_4x8["frontier"]["points"])
        assert (f.t_min_s, f.t_max_s, f.t_star_s) == (0.723, 0.897, 0.875)
        # The CSV pipeline's plan runs the same programs as the instance's explicit DAG.
        assert f.plan().to_json() == cli_4x8["plan_t_star"].rstrip("\n")


def test_profile_csv_text_and_before_filter(
    instance_2x4: Path, profiles_csv: Callable[[Dict[str, Any]], str], cli: Path
) -> None:
    doc = json.loads(instance_2x4.read_text())
    kwargs = dict(stages=2, microbatches=4, unit_time_s=0.001, p_blocking_w=83.64)
    with ergon.Frontier.from_profile_csv_text(
        profiles_csv(doc), effective_energy="before-filter", **kwargs
    ) as f:
        records = f.point_records
    # The before-filter order has its own frontier (177 points for this fixture, see the README
    # of the shared fixtures); compare it with the CLI's.
    run = subprocess.run(
        [
            str(cli),
            "frontier",
            "--instance",
            str(instance_2x4),
            "--json",
            "--no-plot",
            "--effective-energy",
            "before-filter",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert_same_points(records, json.loads(run.stdout)["points"])
    assert len(records) == 177


# --- points ------------------------------------------------------------------------------------


def test_point_access(frontier_4x8: ergon.Frontier) -> None:
    records = frontier_4x8.point_records
    assert frontier_4x8.point(0) == records[0]
    assert frontier_4x8.point(173) == records[-1]
    assert frontier_4x8.point(-1) == records[-1]
    assert frontier_4x8.point(-174) == records[0]
    # slowest first, one quantum apart, down to T_min
    assert [p.quanta for p in records] == list(range(896, 722, -1))
    assert all(isinstance(p.quanta, int) for p in records)
    for bad in (174, 10**9, -175):
        with pytest.raises(ergon.ErgonError) as e:
            frontier_4x8.point(bad)
        assert e.value.status == ergon.Status.OUT_OF_RANGE


def test_lazy_solve(instance_2x4: Path) -> None:
    with ergon.Frontier.from_instance(instance_2x4) as f:
        assert not f.solved
        assert "not solved" in repr(f)
        assert f.t_star_s > 0
        assert f.solved
        assert f.solve() is f  # idempotent
        assert "solved" in repr(f)


def test_version(cli: Path) -> None:
    v = ergon.version()
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", v), v
    assert ergon.ABI_VERSION == 2
    assert lib().ergon_abi_version() == ergon.ABI_VERSION  # the library loaded says so too
    run = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=60)
    if run.returncode == 0:
        assert v in run.stdout
    assert Path(ergon.library_path()).name.startswith("libergon")


@pytest.mark.parametrize("system", ["perseus", "dpk", "orloj", "gpu", "hooks"])
def test_one_module_per_system(system: str) -> None:
    # Named as the C functions (ergon_<system>_*), the Rust modules and the CLI subcommands.
    module = importlib.import_module(f"ergon.{system}")
    assert module.__name__ == f"ergon.{system}" and module.__doc__
    if system != "hooks":
        assert getattr(ergon, system) is module


def test_abi_1_module_names_are_gone() -> None:
    assert ergon.Frontier is ergon.perseus.Frontier and ergon.Plan is ergon.perseus.Plan
    for old in ("ergon.batching", "ergon._frontier", "ergon._native"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)


# --- plans -------------------------------------------------------------------------------------


def freqs_of(doc: Dict[str, Any]) -> Dict[Tuple[int, str], set]:
    return {(p["stage"], p["kind"]): {o["freq_mhz"] for o in p["options"]} for p in doc["profiles"]}


@pytest.mark.parametrize("at", ["t_star", "fastest"])
def test_plans_equal_cli(
    frontier_4x8: ergon.Frontier,
    cli_4x8: Dict[str, Any],
    instance_4x8_doc: Dict[str, Any],
    at: str,
) -> None:
    plan = frontier_4x8.plan(at=at)
    assert plan.at == at and plan.deadline_s is None
    assert plan.num_stages == len(plan.stages) == 4
    freqs = freqs_of(instance_4x8_doc)
    # program order: the 1F1B order, and the stage-major node order of the fixture's DAG
    nodes = instance_4x8_doc["dag"]["nodes"]
    for s, program in enumerate(plan.stages):
        assert len(program) == 16
        kinds = [k for k, _ in program]
        assert kinds == one_f_one_b(s, 4, 8)
        assert kinds == [n["kind"] for n in nodes if n["stage"] == s]
        for kind, f in program:
            assert isinstance(f, int) and f in freqs[(s, kind)]
    t_expected = frontier_4x8.t_star_s if at == "t_star" else frontier_4x8.t_min_s
    assert plan.time_s == pytest.approx(t_expected, rel=REL)
    cli_text = cli_4x8["plan_t_star" if at == "t_star" else "plan_fastest"].rstrip("\n")
    assert plan.to_json() == cli_text
    doc = json.loads(plan.to_json())
    assert doc["schema"] == "ergon-plan/v1"
    assert doc["time_s"] == plan.time_s and doc["energy_j"] == plan.energy_j
    assert [[tuple(i) for i in st["instructions"]] for st in doc["stages"]] == plan.stages
    if at == "t_star":
        assert plan.energy_j == pytest.approx(frontier_4x8.t_star_energy_j, rel=REL)
    else:
        assert plan.energy_j == pytest.approx(frontier_4x8.point(-1).energy_j, rel=REL)


def test_default_plan_is_t_star(frontier_2x4: ergon.Frontier) -> None:
    assert frontier_2x4.plan() == frontier_2x4.plan(at="t_star") == frontier_2x4.plan(at="t-star")
    assert frontier_2x4.plan().at == "t_star"
    for program in frontier_2x4.plan(at="FASTEST").stages:
        assert len(program) == 8


def test_deadline_plans(frontier_4x8: ergon.Frontier, instance_4x8_doc: Dict[str, Any]) -> None:
    s = frontier_4x8.summary()
    stages, pb = s.num_stages, instance_4x8_doc["p_blocking_w"]
    with pytest.raises(ergon.ErgonError) as e:
        frontier_4x8.plan(deadline_s=s.t_min_s - 0.01)
    assert e.value.status == ergon.Status.DEADLINE == 10
    assert e.value.status_name == "DEADLINE"
    assert "ergon_perseus_frontier_plan" in e.value.message
    # at T_min exactly: the fastest plan
    fastest = frontier_4x8.plan(deadline_s=s.t_min_s)
    assert fastest.time_s == pytest.approx(s.t_min_s) and fastest.at == "deadline"
    assert fastest.deadline_s == s.t_min_s
    assert fastest.stages == frontier_4x8.plan(at="fastest").stages
    # in between: meets the deadline, and its energy includes waiting until it
    for deadline in (0.75, 0.8, 0.85):
        plan = frontier_4x8.plan(deadline_s=deadline)
        assert plan.time_s <= deadline + 1e-12
        wait = stages * pb * (deadline - plan.time_s)
        best = min(
            e + stages * pb * (deadline - t)
            for t, e in frontier_4x8.points
            if t <= deadline + 1e-12
        )
        assert plan.energy_j == pytest.approx(best, rel=1e-12)
        point = next(p for p in frontier_4x8.point_records if p.time_s == plan.time_s)
        assert plan.energy_j == pytest.approx(point.energy_j + wait, rel=1e-12)
    # Beyond T_max the blocking power is paid until the deadline whatever the plan, so the
    # slowest state (T_max, every computation at its slowest clock; not a frontier point) wins.
    slowest = frontier_4x8.plan(deadline_s=s.t_max_s)
    assert slowest.time_s == pytest.approx(s.t_max_s)
    late = frontier_4x8.plan(deadline_s=1.0)
    assert late.stages == slowest.stages and late.time_s == slowest.time_s
    assert late.energy_j == pytest.approx(slowest.energy_j + stages * pb * (1.0 - s.t_max_s))


def test_plan_outlives_frontier(instance_2x4: Path) -> None:
    with ergon.Frontier.from_instance(instance_2x4) as f:
        plan = f.plan()
    assert f.closed
    assert plan.to_json().startswith('{"schema":"ergon-plan/v1"')
    assert len(plan.stages) == 2


def test_point_index_past_size_t_does_not_wrap(frontier_4x8: ergon.Frontier) -> None:
    # ctypes reduces ints modulo 2**64: point(2**64 + 5) returned point 5 (issue 12).
    for bad in (2**64 + 5, 2**64, 2**200, -(2**64) - 1):
        with pytest.raises(ergon.ErgonError) as e:
            frontier_4x8.point(bad)
        assert e.value.status == ergon.Status.OUT_OF_RANGE, e.value
    for bad_type in (True, 1.0, "1"):
        with pytest.raises(TypeError):
            frontier_4x8.point(bad_type)  # type: ignore[arg-type]


# --- bounded solves and progress (issue 19) ------------------------------------------------------


def _oracle_4x8(instance_4x8: Path) -> Dict[str, Any]:
    """lowtime's after-filter frontier of the 4×8 fixture (beside the instance)."""
    path = instance_4x8.with_name("a100_s4_m8.after_filter.frontier.json")
    return json.loads(path.read_text())


def test_progress_counts_every_point(instance_4x8: Path) -> None:
    oracle = _oracle_4x8(instance_4x8)
    expected = len(oracle["frontier"])  # lowtime's point count, T_max − T_min
    calls: List[Tuple[int, int]] = []
    with ergon.Frontier.from_instance(instance_4x8) as f:
        f.solve(progress=lambda done, total: calls.append((done, total)))
        assert f.complete
        assert f.num_points == expected
    assert calls == [(k, expected) for k in range(1, expected + 1)]


def test_progress_false_stops_and_exceptions_propagate(
    instance_4x8: Path, frontier_4x8: ergon.Frontier
) -> None:
    with ergon.Frontier.from_instance(instance_4x8) as f:
        f.solve(progress=lambda done, total: done < 10)
        assert not f.complete
        assert f.num_points == 10
        assert f.points == frontier_4x8.points[:10]
        assert "as asked" in (f.incomplete_reason or "")

    def boom(done: int, total: int) -> None:
        if done == 3:
            raise KeyError("from the callback")
    with ergon.Frontier.from_instance(instance_4x8) as f:
        with pytest.raises(KeyError, match="from the callback"):
            f.solve(progress=boom)
        assert f.num_points == 3


def test_until_t_star_and_deadline(instance_4x8: Path, frontier_4x8: ergon.Frontier) -> None:
    oracle = _oracle_4x8(instance_4x8)
    energies = [p["energy_j"] for p in oracle["frontier"]]
    star = min(range(len(energies)), key=lambda i: (energies[i], -i))
    with ergon.Frontier.from_instance(instance_4x8) as f:
        f.solve(until="t_star")
        # Stops at the first point past T*, whose energy rises again.
        assert f.num_points == star + 2
        assert f.t_star_s == pytest.approx(oracle["frontier"][star]["real_time"], abs=1e-12)
        assert f.t_star_s == frontier_4x8.t_star_s
    deadline = oracle["frontier"][100]["real_time"] + 0.0004  # between two points
    with ergon.Frontier.from_instance(instance_4x8) as f:
        f.solve(until=deadline)
        times = [t for t, _ in f.points]
        assert times[-1] <= deadline < times[-2]
        assert f.num_points == 101
    with ergon.Frontier.from_instance(instance_4x8) as f:
        with pytest.raises(ergon.ErgonError) as e:
            f.solve(until="tomorrow")
        assert e.value.status == ergon.Status.INVALID_ARGUMENT
