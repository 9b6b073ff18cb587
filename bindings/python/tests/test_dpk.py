"""ergon.dpk: the DPK oracles O4 and O5 (dpk-orloj.md) from Python values and from JSON, the
RDP helpers, bad input (status and a message naming the block or task), the lifecycle of a
workload, and equality with ``ergon dpk schedule --json`` on a generated workload."""

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
from ergon import ErgonError, Status, dpk

# --- the oracle instances ----------------------------------------------------------------------

R = [[1.0, 0.4, 0.4], [0.4, 1.0, 0.4], [0.4, 0.4, 1.0]]
WHICH = [0, 0, 1, 1, 2, 1, 0]


def o4(num_blocks: int = 1) -> Dict[str, Any]:
    """Cohere's 3-order instance: capacity [1.05, 1.10, 1.15] on every block, tasks 0–6 with
    curves (R0, R0, R1, R1, R2, R1, R0) and weights 100 + 10·id, each requesting every block."""
    return {
        "alphas": [2.0, 3.0, 4.0],
        "blocks": [{"id": j, "capacity": [1.05, 1.10, 1.15]} for j in range(num_blocks)],
        "tasks": [
            {
                "id": i,
                "weight": 100.0 + 10.0 * i,
                "blocks": list(range(num_blocks)),
                "demand": R[WHICH[i]],
            }
            for i in range(7)
        ],
    }


def o5() -> Dict[str, Any]:
    """Fig. 1 style: 5 blocks of capacity 1; tasks 0, 1 on all five at 0.5; 2–6 on one each at
    0.6."""
    tasks: List[Dict[str, Any]] = [
        {"id": i, "blocks": [0, 1, 2, 3, 4], "demand": [0.5]} for i in range(2)
    ]
    tasks += [{"id": i, "blocks": [i - 2], "demand": [0.6]} for i in range(2, 7)]
    return {"alphas": [2.0], "blocks": [{"id": j, "capacity": [1.0]} for j in range(5)],
            "tasks": tasks}


def as_document(values: Dict[str, Any]) -> str:
    return json.dumps({"schema": "dpk-workload/v1", **values})


def both(values: Dict[str, Any]) -> List[dpk.Workload]:
    return [dpk.Workload(**values), dpk.Workload.from_json(as_document(values))]


# --- oracles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("num_blocks", [1, 100])
def test_o4(num_blocks: int) -> None:
    for w in both(o4(num_blocks)):
        with w:
            assert (w.num_tasks, w.num_blocks, w.alphas) == (7, num_blocks, [2.0, 3.0, 4.0])
            a = dpk.schedule(w)
            assert a.scheduler == "dpk"
            assert a.allocated == [6, 5]  # efficiency order: 6 first
            assert (a.count, a.num_allocated, a.total_weight) == (2, 2, 310.0)
            assert sorted(a.remaining) == list(range(num_blocks))
            for r in a.remaining.values():
                assert r == pytest.approx([-0.35, -0.30, 0.35], abs=1e-9)
            assert a.upper_bound is None and a.proven_optimal
            doc = json.loads(a.to_json())
            assert doc["schema"] == "dpk-result/v1"
            assert doc["allocated"] == [6, 5] and doc["total_weight"] == 310.0
            assert doc["remaining"]["0"] == pytest.approx([-0.35, -0.30, 0.35], abs=1e-9)

            fcfs = w.schedule("fcfs")
            assert (sorted(fcfs.allocated), fcfs.total_weight) == ([0, 1], 210.0)
            dpf = dpk.schedule(w, "dpf", dpf_weighted=False)
            assert (sorted(dpf.allocated), dpf.total_weight) == ([2, 4], 260.0)
            assert sorted(dpk.schedule(w, "dpf").allocated) == [5, 6]
            assert sorted(dpk.schedule(w, "area").allocated) == [5, 6]
            opt = dpk.schedule(w, "optimal")
            assert sorted(opt.allocated) == [5, 6]
            assert opt.upper_bound == 310.0 and opt.proven_optimal
            assert json.loads(opt.to_json())["proven_optimal"] is True


def test_o5() -> None:
    for w in both(o5()):
        with w:
            assert sorted(w.schedule("dpf").allocated) == [0, 1]
            assert sorted(w.schedule("fcfs").allocated) == [0, 1]
            assert sorted(w.schedule("dpk").allocated) == [2, 3, 4, 5, 6]
            assert sorted(w.schedule("area").allocated) == [2, 3, 4, 5, 6]
            assert w.schedule("optimal").count == 5


def test_values_and_json_give_the_same_workload() -> None:
    with dpk.Workload(**o4(3)) as a, dpk.Workload.from_json(as_document(o4(3))) as b:
        assert a.to_json() == b.to_json()
        with dpk.Workload.from_json(a.to_json()) as c:
            assert c.to_json() == a.to_json()


def test_blocks_from_a_budget_and_tasks_from_a_mechanism() -> None:
    alphas = dpk.standard_alphas()
    assert alphas == [1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 16.0, 32.0, 64.0]
    capacity = dpk.block_capacity(10.0, 1e-7)
    expected = [0, 0, 0, 0, 1.94, 4.63, 5.97, 6.78, 7.70, 8.93, 9.48, 9.74]
    assert capacity == pytest.approx(expected, abs=0.005)
    tasks = [
        {"id": 0, "blocks": [0], "mechanism": {"kind": "gaussian", "sigma": 1.0}},
        {"id": 1, "blocks": [0], "demand": dpk.gaussian(1.0), "weight": 3},
    ]
    with dpk.Workload(blocks=[{"id": 0, "epsilon": 10.0, "delta": 1e-7}], tasks=tasks) as w:
        doc = json.loads(w.to_json())
        assert doc["blocks"][0]["capacity"] == pytest.approx(capacity, abs=1e-12)
        assert doc["tasks"][0]["demand"] == pytest.approx(doc["tasks"][1]["demand"])
        a = w.schedule("fcfs")
        assert a.allocated == [0, 1]
        assert a.remaining[0][-1] == pytest.approx(capacity[-1] - 2 * 32.0)


def test_rdp_helpers() -> None:
    alphas = [1.5, 2.0, 4.0, 8.0, 32.0]
    capacity = dpk.block_capacity(10.0, 1e-7, alphas)
    for c, a in zip(capacity, alphas):
        assert c == pytest.approx(max(10.0 - math.log(1e7) / (a - 1.0), 0.0), abs=1e-12)
    eps, alpha = dpk.dp_epsilon(capacity, 1e-7, alphas)
    assert eps == pytest.approx(10.0, abs=1e-9)
    assert capacity[alphas.index(alpha)] > 0
    # A capacity is 0 at its low orders: read as a curve, the tight rule's small-divergence
    # shortcut certifies ε = 0 there. A mechanism's curve gets a positive, smaller ε.
    tight, _ = dpk.dp_epsilon(capacity, 1e-7, alphas, tight=True)
    assert tight == 0.0
    g = dpk.gaussian(2.0, alphas)
    assert 0 < dpk.dp_epsilon(g, 1e-7, alphas, tight=True)[0] < dpk.dp_epsilon(g, 1e-7, alphas)[0]
    assert dpk.gaussian(2.0, alphas) == pytest.approx([a / 8.0 for a in alphas])
    assert dpk.subsampled_gaussian(1.0, 2.0, 3.0, alphas) == pytest.approx(
        [3 * a / 8.0 for a in alphas]
    )
    sgm = dpk.subsampled_gaussian(0.01, 1.1, 1000)
    assert len(sgm) == 12 and all(v > 0 for v in sgm)
    eps, alpha = dpk.dp_epsilon(sgm, 1e-5, tight=True)
    assert 0 < eps < 10 and alpha in dpk.standard_alphas()
    assert dpk.gaussian_sigma(1.0, 1e-5, classic=False) < math.sqrt(2 * math.log(1.25e5))
    assert dpk.gaussian_sigma(0.5, 1e-5, classic=True) == pytest.approx(
        math.sqrt(2 * math.log(1.25e5)) / 0.5
    )


# --- bad input ---------------------------------------------------------------------------------

# (id, blocks in o4, an edit of its values, parts of the INVALID_PROBLEM message, also checked
# through dpk-workload/v1 JSON)
BAD_VALUES: List[Tuple[str, int, Callable[[Dict[str, Any]], Any], List[str], bool]] = [
    ("nan-demand", 2, lambda v: v["tasks"][3].update(demand=[1.0, math.nan, 0.4]),
     ["task 3", "NaN"], False),
    ("negative-demand", 2, lambda v: v["tasks"][4].update(demand=[-0.1, 0.4, 0.4]),
     ["task 4", "-0.1"], True),
    ("unknown-block", 2, lambda v: v["tasks"][5].update(blocks=[0, 9]),
     ["task 5", "block 9"], True),
    *[
        (f"delta-{delta}", 2,
         lambda v, d=delta: v["blocks"].__setitem__(1, {"id": 1, "epsilon": 10.0, "delta": d}),
         ["block 1", "delta"], True)
        for delta in (0.0, 1.0, 1.5, -1e-3)
    ],
    ("no-orders", 1, lambda v: v.update(alphas=[]), ["empty"], True),
    ("demand-too-long", 1, lambda v: v["tasks"][6].update(demand=[0.1] * 20),
     ["task 6", "20 entries"], False),
    ("unknown-key", 1, lambda v: v["blocks"][0].update(colour="red"), ["blocks[0]", "colour"],
     False),
    ("no-blocks", 1, lambda v: v["tasks"][2].pop("blocks"), ["task 2", "blocks"], False),
    ("capacity-and-budget", 1, lambda v: v["blocks"][0].update(epsilon=1.0),
     ["block 0", "not both"], False),
    ("weight-not-a-number", 1, lambda v: v["tasks"][1].update(weight="heavy"),
     ["task 1", "weight"], False),
    ("negative-id", 1, lambda v: v["tasks"][1].update(id=-1), ["tasks[1]", "out of range"], False),
    ("zero-weight", 1, lambda v: v["tasks"][1].update(weight=0), ["task 1", "weight"], False),
]


@pytest.mark.parametrize(
    "num_blocks, edit, parts, as_json", [pytest.param(*row[1:], id=row[0]) for row in BAD_VALUES]
)
def test_bad_values_name_the_task_or_block(
    num_blocks: int, edit: Callable[[Dict[str, Any]], Any], parts: List[str], as_json: bool
) -> None:
    v = o4(num_blocks)
    edit(v)
    with fails(Status.INVALID_PROBLEM, *parts):
        dpk.Workload(**v)
    if as_json:
        with fails(Status.INVALID_PROBLEM, *parts):
            dpk.Workload.from_json(as_document(v))


@pytest.mark.parametrize(
    "text, status, parts",
    [
        ("{", Status.PARSE, ["dpk-workload/v1"]),
        ('{"schema": "dpk-result/v1"}', Status.SCHEMA, ["dpk-workload/v1", "dpk-result/v1"]),
        (b"\xff\xfe", Status.PARSE, []),
    ],
)
def test_bad_documents(text: Any, status: Status, parts: List[str]) -> None:
    with fails(status, *parts):
        dpk.Workload.from_json(text)


def test_files(tmp_path: Path) -> None:
    with fails(Status.INVALID_ARGUMENT, "cannot read"):
        dpk.Workload.from_file(tmp_path / "missing.json")
    path = tmp_path / "o4.json"
    path.write_text(as_document(o4(1)))
    with dpk.Workload.from_file(path) as w:
        assert w.schedule().allocated == [6, 5]
        assert str(path) in repr(w)


@pytest.fixture(scope="module")
def o4_workload() -> Iterator[dpk.Workload]:
    with dpk.Workload(**o4(1)) as w:
        yield w


@pytest.mark.parametrize(
    "scheduler, options, part",
    [
        ("greedy", {}, 'unknown scheduler "greedy" (expected dpk, dpf, fcfs, area or optimal)'),
        ("dpk", {"eta": 0.9}, "eta"),
        ("dpk", {"eta": math.nan}, "eta"),
        ("dpk", {"knapsack": "profit"}, "knapsack"),
        ("dpf", {"dpf_capacity": "half"}, "dpf_capacity"),
        # ctypes reduces ints modulo 2**64: recompute_every=2**64 + 1 became 1 (issue 12).
        ("dpk", {"recompute_every": 2**64 + 1}, "recompute_every"),
        ("dpk", {"recompute_every": -1}, "recompute_every"),
        ("optimal", {"max_nodes": 2**64}, "max_nodes"),
    ],
)
def test_bad_schedule_arguments(
    o4_workload: dpk.Workload, scheduler: str, options: Dict[str, Any], part: str
) -> None:
    with fails(Status.INVALID_ARGUMENT, part):
        dpk.schedule(o4_workload, scheduler, **options)
    # The workload still works after the failure.
    assert o4_workload.schedule("dpk", knapsack="count", recompute_every=1).count == 2


@pytest.mark.parametrize(
    "workload, options",
    [(None, {"dpf_weighted": 1}), (None, {"recompute_every": 1.5}), ("not a workload", {})],
)
def test_schedule_argument_types(
    o4_workload: dpk.Workload, workload: Any, options: Dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        dpk.schedule(workload or o4_workload, **options)


@pytest.mark.parametrize(
    "call, part",
    [
        (lambda: dpk.block_capacity(10.0, 1.5), "delta"),
        (lambda: dpk.block_capacity(-1.0, 1e-5), "epsilon"),
        (lambda: dpk.gaussian(1.0, alphas=[]), "empty"),
        (lambda: dpk.gaussian(0.0), "sigma"),
        (lambda: dpk.subsampled_gaussian(1.5, 1.0, 10), "q"),
        (lambda: dpk.dp_epsilon([1.0, 2.0], 1e-5), "12"),
        (lambda: dpk.dp_epsilon([1.0, math.nan], 1e-5, alphas=[2.0, 4.0]), "alpha = 4"),
        (lambda: dpk.gaussian_sigma(1.0, 0.0), "delta"),
        # Order 1e308 hung the subsampled series (issue 12).
        (lambda: dpk.subsampled_gaussian(0.01, 1.0, 1.0, alphas=[2.0, 1e308]), "MAX_ALPHA"),
        (lambda: dpk.subsampled_laplace(0.01, 1.0, 1.0, alphas=[2.0, 1e308]), "MAX_ALPHA"),
    ],
)
def test_rdp_helper_errors(call: Callable[[], Any], part: str) -> None:
    with fails(Status.INVALID_ARGUMENT, part):
        call()


# --- lifecycle ---------------------------------------------------------------------------------


def live() -> int:
    return ergon.live_handles()["dpk_workload"]


def test_close_and_with() -> None:
    before = live()
    w = dpk.Workload(**o4(1))
    assert live() == before + 1 and not w.closed
    a = w.schedule()
    w.close()
    w.close()  # twice is fine
    assert w.closed and live() == before and "closed" in repr(w)
    for use in (
        lambda: w.schedule(),
        lambda: dpk.schedule(w, "fcfs"),
        lambda: w.to_json(),
        lambda: w.alphas,
        lambda: w.num_tasks,
    ):
        with fails(Status.INVALID_STATE, "closed"):
            use()
    # An allocation is a plain value that outlives its workload.
    assert a.allocated == [6, 5] and json.loads(a.to_json())["total_weight"] == 310.0
    with dpk.Workload(**o4(1)) as w2:
        assert live() == before + 1
    assert w2.closed and live() == before
    assert ergon.live_handles()["dpk_result"] == 0


def test_garbage_collection_and_no_copies() -> None:
    before = live()
    w = dpk.Workload(**o4(1))
    with pytest.raises(TypeError):
        copy.copy(w)
    with pytest.raises(TypeError):
        pickle.dumps(w)
    del w
    gc.collect()
    assert live() == before
    # A failed constructor leaves nothing behind.
    v = o4(1)
    v["tasks"][0]["blocks"] = [5]
    for _ in range(3):
        with pytest.raises(ErgonError):
            dpk.Workload(**v)
    assert live() == before


# --- the CLI -----------------------------------------------------------------------------------


def test_same_result_as_the_cli(cli: Path, tmp_path: Path) -> None:
    path = tmp_path / "micro.json"
    gen = subprocess.run(
        [str(cli), "dpk", "generate", "micro", "--out", str(path), "--num-tasks", "300",
         "--blocks", "6", "--mu-blocks", "3", "--sigma-blocks", "1.5", "--seed", "7"],
        capture_output=True, text=True, timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    with dpk.Workload.from_file(path) as w:
        assert w.num_tasks == 300 and w.num_blocks == 6
        for scheduler, extra, kwargs in [
            ("dpk", [], {}),
            ("dpk", ["--knapsack", "count", "--recompute-every", "10"],
             {"knapsack": "count", "recompute_every": 10}),
            ("dpf", [], {}),
            ("dpf", ["--dpf-unweighted", "--dpf-capacity", "remaining"],
             {"dpf_weighted": False, "dpf_capacity": "remaining"}),
            ("fcfs", [], {}),
            ("area", [], {}),
        ]:
            run = subprocess.run(
                [str(cli), "dpk", "schedule", "--workload", str(path), "--scheduler", scheduler,
                 "--json", *extra],
                capture_output=True, text=True, timeout=300,
            )
            assert run.returncode == 0, run.stderr
            a = dpk.schedule(w, scheduler, **kwargs)
            assert a.to_json() == run.stdout.rstrip("\n"), (scheduler, extra)
            doc = json.loads(run.stdout)
            assert a.allocated == doc["allocated"]
            assert a.count == doc["num_allocated"] > 0
            assert a.total_weight == doc["total_weight"]
            assert {str(k): v for k, v in a.remaining.items()} == doc["remaining"]


# --- online simulation -------------------------------------------------------------------------

ONLINE = {
    "schema": "dpk-online/v1",
    "alphas": [2.0, 4.0],
    "block_epsilon": 10.0,
    "block_delta": 1e-5,
    "initial_blocks": 1,
    "total_blocks": 4,
    "scheduling_period": 1.0,
    "unlocking": {"kind": "time", "period": 1.0, "steps": 2},
    "tasks": [
        {"id": i, "arrival": 0.25 * i, "num_blocks": 1 + i % 2, "demand": [0.05, 2.5]}
        for i in range(12)
    ],
}


def test_simulate() -> None:
    r = dpk.simulate(json.dumps(ONLINE))
    assert r.scheduler == "dpk" and r.num_submitted == 12
    assert 0 < r.count < 12 and r.num_rounds > 0  # the budget runs out
    doc = json.loads(r.to_json())
    assert doc["schema"] == "dpk-online-result/v1"
    assert [a["id"] for a in doc["allocations"]] == r.allocated
    assert doc["total_weight"] == r.total_weight == float(r.count)
    assert dpk.simulate(json.dumps(ONLINE), "fcfs").scheduler == "fcfs"
    assert ergon.live_handles()["dpk_online"] == 0


def online_with(edit: Callable[[Dict[str, Any]], Any]) -> str:
    """The ONLINE document with ``edit`` applied, as text."""
    config = copy.deepcopy(ONLINE)
    edit(config)
    return json.dumps(config)


@pytest.mark.parametrize(
    "config, scheduler, options, status, parts",
    [
        (online_with(lambda c: c["tasks"][3].pop("num_blocks")), None, {},
         Status.INVALID_PROBLEM, ["task 3", "num_blocks"]),
        (online_with(lambda c: c.update(scheduling_period=0)), None, {},
         Status.INVALID_PROBLEM, ["scheduling_period"]),
        (json.dumps(ONLINE), "optimal", {}, Status.INVALID_ARGUMENT, ["offline only"]),
        (json.dumps(ONLINE), None, {"eta": 0.1}, Status.INVALID_ARGUMENT, ["scheduler"]),
        (as_document(o4(1)), None, {}, Status.SCHEMA, ["dpk-online/v1"]),
    ],
)
def test_bad_simulations(
    config: str, scheduler: Any, options: Dict[str, Any], status: Status, parts: List[str]
) -> None:
    with fails(status, *parts):
        dpk.simulate(config, scheduler, **options)


def test_simulation_file_errors(tmp_path: Path) -> None:
    with fails(Status.INVALID_ARGUMENT, "cannot read"):
        dpk.simulate_file(tmp_path / "missing.json")


def test_simulation_same_as_the_cli(cli: Path, tmp_path: Path) -> None:
    path = tmp_path / "amazon.json"
    gen = subprocess.run(
        [str(cli), "dpk", "generate", "amazon", "--out", str(path), "--tasks", "300",
         "--tasks-per-block", "30", "--weighted", "--seed", "3"],
        capture_output=True, text=True, timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    for scheduler in (None, "dpf", "fcfs"):
        extra = [] if scheduler is None else ["--scheduler", scheduler]
        run = subprocess.run(
            [str(cli), "dpk", "simulate", "--config", str(path), "--json", *extra],
            capture_output=True, text=True, timeout=300,
        )
        assert run.returncode == 0, run.stderr
        r = dpk.simulate_file(path, scheduler)
        assert r.to_json() == run.stdout.rstrip("\n"), scheduler
        doc = json.loads(run.stdout)
        assert r.count == doc["num_allocated"] > 0
        assert r.allocated == [a["id"] for a in doc["allocations"]]


def test_tight_blocks_admit_more_and_stay_certified() -> None:
    classic = dpk.block_capacity(1.0, 1e-5)
    tight = dpk.block_capacity(1.0, 1e-5, tight=True)
    assert all(t >= c for t, c in zip(tight, classic)) and tight != classic
    sgm = dpk.subsampled_gaussian(0.01, 1.0, 100)
    counts = {}
    for conversion in ("classic", "tight"):
        blocks = [{"id": 0, "epsilon": 2.0, "delta": 1e-5, "conversion": conversion}]
        tasks = [{"id": i, "blocks": [0], "demand": sgm} for i in range(60)]
        a = dpk.schedule(dpk.Workload(blocks, tasks), "fcfs")
        total = [a.count * v for v in sgm]
        eps, _ = dpk.dp_epsilon(total, 1e-5, tight=conversion == "tight")
        assert eps <= 2.0 * (1 + 1e-11)
        # One more task would not be certified.
        over = [(a.count + 1) * v for v in sgm]
        assert dpk.dp_epsilon(over, 1e-5, tight=conversion == "tight")[0] > 2.0
        # The document path (mechanisms go through the parser) agrees.
        doc_tasks = [
            {
                "id": i,
                "blocks": [0],
                "mechanism": {
                    "kind": "subsampled_gaussian",
                    "q": 0.01,
                    "sigma": 1.0,
                    "steps": 100,
                },
            }
            for i in range(60)
        ]
        assert dpk.schedule(dpk.Workload(blocks, doc_tasks), "fcfs").count == a.count
        counts[conversion] = a.count
    # 3 and 8 tasks: the tight conversion certifies more than twice as many.
    assert (counts["classic"], counts["tight"]) == (3, 8)
    with pytest.raises(ErgonError, match="unknown conversion"):
        dpk.Workload([{"id": 0, "epsilon": 1.0, "delta": 1e-5, "conversion": "loose"}], [])


def test_huge_sizes_are_errors_not_wrong_curves() -> None:
    # sigma 1e9 gave a negative curve (issue 12); huge orders: test_rdp_helper_errors.
    curve = dpk.subsampled_gaussian(q=0.01, sigma=1e9, steps=100.0)
    assert all(0.0 <= v < 1e-14 for v in curve), curve
    doc = o4(1)
    doc["tasks"][0]["weight"] = 1e300
    with fails(Status.INVALID_PROBLEM, "MAX_WEIGHT"):
        dpk.Workload(**doc)
