"""``ergon.hooks.distributed`` (:class:`PerseusJob`) across real ``torch.distributed`` ranks.

Every multi-rank scenario spawns its ranks with ``torch.multiprocessing`` (gloo on CPU); this
process hosts the ``TCPStore`` they rendezvous on and plays the operator who announces a
straggler through it. Each rank has its own fake NVML (``tests/fake-nvml``: its own call log and
state file, since NVML state is per process) and writes what it saw to ``rank<R>.json``. The
profiles are the shared Perseus fixture ``a100_s2_m4`` (2 stages × 4 microbatches, clocks
810-1410 MHz that the fake Ampere GPU supports). Process groups time out after 60 s and the
ranks are killed after 240 s, so a hang fails the test instead of blocking it.

Without torch the multi-rank tests are skipped (the main CI has none), unless
``ERGON_EXPECT_FRAMEWORKS=1`` (the framework CI), where a missing torch fails them.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from conftest import INSTANCE_2X4, fails

import ergon
from ergon import ErgonError, Status
from ergon.hooks import PerseusJob, announce_via_store
from ergon.hooks.distributed import _merge_profiles

try:
    import torch.distributed as dist
    import torch.multiprocessing as torch_mp

    _NO_TORCH = None if dist.is_available() and dist.is_gloo_available() else "no gloo"
except ImportError as _e:  # the main CI: no torch
    _NO_TORCH = f"torch is not installed ({_e})"

P_BLOCKING_W = 83.64
JOIN_TIMEOUT_S = 240.0
PG_TIMEOUT = timedelta(seconds=60)


@pytest.fixture
def torch_dist() -> None:
    """Skips a test that needs torch.distributed where it is missing (fails instead under
    ``ERGON_EXPECT_FRAMEWORKS=1``)."""
    if _NO_TORCH is not None:
        if os.environ.get("ERGON_EXPECT_FRAMEWORKS") == "1":
            pytest.fail(f"ERGON_EXPECT_FRAMEWORKS=1 but {_NO_TORCH}")
        pytest.skip(f"needs torch.distributed with gloo: {_NO_TORCH}")


def instance_rows(stage: Optional[int] = None) -> List[Tuple[int, str, int, float, float]]:
    """The 2×4 fixture's profile rows (of one stage, or all)."""
    doc = json.loads(INSTANCE_2X4.read_text())
    return [
        (p["stage"], p["kind"], o["freq_mhz"], o["time_s"], o["energy_j"])
        for p in doc["profiles"]
        if stage is None or p["stage"] == stage
        for o in p["options"]
    ]


def csv_of(
    rows: List[Tuple[int, str, int, float, float]], scale_t: float = 1.0, scale_e: float = 1.0
) -> str:
    lines = ["stage,instruction,frequency,time,energy"]
    lines += [f"{s},{k},{f},{t * scale_t!r},{e * scale_e!r}" for s, k, f, t, e in rows]
    return "\n".join(lines) + "\n"


def reference_frontier(csv_text: str) -> ergon.Frontier:
    return ergon.Frontier.from_profile_csv_text(
        csv_text, stages=2, microbatches=4, unit_time_s=0.001, p_blocking_w=P_BLOCKING_W
    )


# --- merging (the library's merge and its rank names: runs without torch) -----------------------


def test_merge_averages_replicas_and_keeps_common_clocks() -> None:
    rows0 = instance_rows(0)
    # Replica b measured 2 % slower and 2 % less energy, and did not reach the lowest clock.
    b_rows = [r for r in rows0 if r[2] != 810]
    merged = _merge_profiles(
        [
            ("rank 0 (stage 0)", csv_of(rows0)),
            ("rank 1 (stage 0)", csv_of(b_rows, 1.02, 0.98)),
            ("rank 2 (stage 1)", csv_of(instance_rows(1))),
        ]
    )
    lines = merged.splitlines()
    assert lines[0] == "stage,instruction,frequency,time,energy"
    got = [
        (int(s), k, int(f), float(t), float(e))
        for s, k, f, t, e in (ln.split(",") for ln in lines[1:])
    ]
    # Stage 0's rows without 810 MHz (not measured by every replica), in their order, the
    # mean of the replicas; stage 1's exactly (one replica).
    want = [r for r in rows0 if r[2] != 810] + instance_rows(1)
    assert [r[:3] for r in got] == [r[:3] for r in want]
    for (s, _k, _f, t, e), w in zip(got, want):
        if s == 0:
            assert (t, e) == pytest.approx((w[3] * 1.01, w[4] * 0.99), rel=1e-12)
        else:
            assert (t, e) == (w[3], w[4])
    # The merged CSV solves (every stage, every kind present).
    with reference_frontier(merged) as f:
        assert f.t_min_s > 0 and f.complete


def test_merge_identical_copies_are_exact() -> None:
    text = csv_of(instance_rows())
    merged = _merge_profiles([("rank 0", text), ("rank 1", text), ("rank 2", text)])
    assert merged == text


@pytest.mark.parametrize(
    "profiles,status,parts",
    [
        (
            [("rank 0 (stage 0)", "stage,instruction,frequency,time,energy\n")],
            Status.PARSE,
            ["rank 0 (stage 0): no data rows"],
        ),
        (
            [
                ("rank 0 (stage 0)", csv_of(instance_rows(0))),
                ("rank 1 (stage 1)", "stage,kind,frequency,time,energy\n1,forward,1410,1,1\n"),
            ],
            Status.PARSE,
            ["rank 1 (stage 1): the header has no `instruction` column"],
        ),
        (
            [("rank 0 (stage 0)", "stage,instruction,frequency,time,energy\n0,forward,fast,1,1\n")],
            Status.PARSE,
            ["line 2", "rank 0 (stage 0): `frequency`"],
        ),
        (
            [("rank 0 (stage 0)", csv_of(instance_rows(0) + instance_rows(0)[:1]))],
            Status.INVALID_PROBLEM,
            ["stage 0 instruction forward frequency 1410: appears twice in rank 0 (stage 0)"],
        ),
        (
            [
                ("rank 0 (stage 0)", csv_of([r for r in instance_rows(0) if r[2] == 1410])),
                ("rank 1 (stage 1)", csv_of(instance_rows(1))),
                ("rank 2 (stage 0)", csv_of([r for r in instance_rows(0) if r[2] == 810])),
            ],
            Status.INVALID_PROBLEM,
            [
                "stage 0 instruction forward: rank 0 (stage 0), rank 2 (stage 0) list no "
                "frequency in common"
            ],
        ),
    ],
)
def test_merge_bad_input_names_the_ranks(profiles: Any, status: Status, parts: List[str]) -> None:
    with fails(status, *parts):
        _merge_profiles(profiles)


def test_announce_via_store_validates_and_writes() -> None:
    class Store:
        def __init__(self) -> None:
            self.kv: Dict[str, Any] = {}

        def set(self, k: str, v: str) -> None:
            self.kv[k] = v

        def add(self, k: str, n: int) -> int:
            self.kv[k] = self.kv.get(k, 0) + n
            return int(self.kv[k])

    s = Store()
    for bad in (0, -1.0, math.nan, math.inf, "x", True):
        with fails(Status.INVALID_ARGUMENT, "positive number of seconds"):
            announce_via_store(s, bad)
    assert s.kv == {}
    announce_via_store(s, 0.25, prefix="p")
    assert s.kv["p/announce_seq"] == 1
    assert json.loads(s.kv["p/announce"])["t_prime_s"] == 0.25


# --- the multi-rank harness ----------------------------------------------------------------------


def _rank_entry(
    rank: int, scenario: str, world: int, port: int, out: str, envs: List[Dict[str, str]]
) -> None:
    """A rank's process: its own fake NVML environment, the process group, the scenario; what it
    returns (or the error it raised) goes to ``out/rank<R>.json``."""
    os.environ.update(envs[rank])
    result: Dict[str, Any]
    try:
        client = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=PG_TIMEOUT)
        dist.init_process_group(
            "gloo",
            store=dist.PrefixStore("pg", client),
            rank=rank,
            world_size=world,
            timeout=PG_TIMEOUT,
        )
        try:
            result = SCENARIOS[scenario](rank, world, client)
        finally:
            dist.destroy_process_group()
    except BaseException as e:  # noqa: BLE001  (reported to the test)
        result = {"crashed": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))


def spawn(
    scenario: str,
    world: int,
    tmp_path: Path,
    nvml: Optional[Path],
    operator: Optional[Callable[[Any], None]] = None,
    extra_env: Optional[Dict[str, str]] = None,
) -> List[Dict[str, Any]]:
    """Runs ``scenario`` on ``world`` ranks; ``operator(store)`` runs here meanwhile. Returns
    each rank's result with its fake NVML ``log`` lines."""
    store = dist.TCPStore(
        "127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=PG_TIMEOUT
    )
    envs = []
    for r in range(world):
        d = tmp_path / f"rank{r}"
        (d / "ergon-state").mkdir(parents=True, mode=0o700)
        envs.append(
            {
                "ERGON_NVML_LIBRARY": str(nvml) if nvml else "/nonexistent",
                "FAKE_NVML_LOG": str(d / "nvml.log"),
                "FAKE_NVML_STATE": str(d / "nvml.state"),
                "ERGON_STATE_DIR": str(d / "ergon-state"),
                **(extra_env or {}),
            }
        )
    ctx = torch_mp.start_processes(
        _rank_entry,
        args=(scenario, world, store.port, str(tmp_path), envs),
        nprocs=world,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    try:
        if operator is not None:
            operator(store)
        while not ctx.join(timeout=2):
            if time.monotonic() > deadline:
                pytest.fail(f"{scenario}: the ranks did not finish in {JOIN_TIMEOUT_S} s (a hang)")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    results = []
    for r in range(world):
        got = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert "crashed" not in got, f"rank {r}: {got['crashed']}\n{got['traceback']}"
        log = tmp_path / f"rank{r}" / "nvml.log"
        got["log"] = log.read_text().splitlines() if log.exists() else []
        state = tmp_path / f"rank{r}" / "nvml.state"
        got["state"] = state.read_text().splitlines()[0] if state.exists() else None
        results.append(got)
    return results


def _err(e: BaseException) -> Dict[str, Any]:
    if isinstance(e, ErgonError):
        return {"status": e.status_name, "message": e.message}
    return {"status": type(e).__name__, "message": str(e)}


def _run_iterations(
    job: PerseusJob, n: int, before: Optional[Callable[[int], None]] = None
) -> List[Any]:
    """``n`` iterations of the job's own program (a stand-in for the framework's schedule):
    per iteration ``[version, [[kind, freq_mhz], ...]]`` as the job reported them."""
    trace = []
    for it in range(n):
        if before is not None:
            before(it)
        version = job.plan_version
        done = []
        for kind, _ in job.program:
            job.instruction_begin(kind)
            if job.executor is not None:
                job.executor.wait_applied()  # one clock per computation, none coalesced
            done.append([kind, job.current_freq_mhz, job.plan_version])
            job.instruction_end(kind)
        job.step_end()
        if job.executor is not None:
            job.executor.wait_applied()  # the between-iterations clock too, never coalesced
        trace.append([version, done])
    return trace


def _switches(job: PerseusJob) -> List[Dict[str, Any]]:
    return [s.__dict__ for s in job.switches]


# --- scenarios (run in the ranks) -----------------------------------------------------------------


def _pp2_dp2(rank: int, world: int, client: Any) -> Dict[str, Any]:
    """Stage = rank // 2; the second replica of each stage measured 2 % slower. Rank 3 announces
    T1 before the end of iteration 2; the operator announces T2 during iteration 5."""
    stage, replica = divmod(rank, 2)
    t1, t2 = json.loads(client.get("params"))
    scale = 1.02 if replica else 1.0
    job = PerseusJob.from_profiles(
        "0",
        csv_of(instance_rows(stage), scale, 1 / scale),
        p_blocking_w=P_BLOCKING_W,
        stage=stage,
        num_stages=2,
        microbatches=4,
        at="fastest",
        store=dist.PrefixStore("job", client),
    )

    def before(it: int) -> None:
        if it == 2 and rank == 3:
            job.announce(t1)
        if it == 5:
            if rank == 0:
                client.set("operator/ready", "1")
            client.wait(["operator/done"])

    trace = _run_iterations(job, 8, before)
    out = {
        "stage": stage,
        "trace": trace,
        "switches": _switches(job),
        "plans": [job.plan.to_json()],
        "latency_ms": job.replan_latency_ms,
        "profile_csv": job.profile_csv,
        "is_planner": job.is_planner,
        "has_frontier": job.frontier is not None,
    }
    job.close()
    return out


class FakeProfiler:
    """A test double of ``ergon.gpu.Profiler``: done after ``iterations`` iterations, when its
    CSV is the fixture's rows of its stage."""

    def __init__(self, stage: int, iterations: int) -> None:
        self.stage, self.iterations, self.seen, self.kinds = stage, iterations, 0, []
        self.closed = False
        self.p_blocking_w = P_BLOCKING_W

    def instruction_begin(self, kind: str) -> None:
        self.kinds.append(kind)

    def instruction_end(self, kind: str) -> None:
        assert self.kinds[-1] == kind

    def step_end(self) -> bool:
        self.seen += 1
        return self.seen >= self.iterations

    def to_csv(self) -> str:
        return csv_of(instance_rows(self.stage))

    def close(self) -> None:
        self.closed = True


def _pp2_profiling(rank: int, world: int, client: Any) -> Dict[str, Any]:
    """pp2 × dp1, plan-only (no GPU), profiles from a profiler double: stage 0's finishes after 2
    iterations, stage 1's after 4; planning must happen at iteration 4 on both."""
    profiler = FakeProfiler(rank, 2 + 2 * rank)
    job = PerseusJob(None, stage=rank, num_stages=2, microbatches=4, profiler=profiler)
    phases = []
    for _ in range(6):
        phases.append(job.phase)
        if job.phase == "profiling":
            for kind in ["forward", "backward"] * 4:
                job.instruction_begin(kind)
                job.instruction_end(kind)
            job.step_end()
        else:
            _run_iterations(job, 1)
    t_min = json.loads(client.get("params"))[0]
    fastest_versions = []
    job.announce(t_min / 2)  # faster than the pipeline can go: the fastest plan
    _run_iterations(job, 1)
    fastest_versions.append(job.plan_version)
    job.announce(t_min / 3)  # again below T_min: nothing changes
    _run_iterations(job, 1)
    fastest_versions.append(job.plan_version)
    out = {
        "phases": phases,
        "profiler_seen": profiler.seen,
        "profiler_closed": profiler.closed,
        "switches": _switches(job),
        "plan": job.plan.to_json(),
        "profile_csv": job.profile_csv,
        "fastest_versions": fastest_versions,
    }
    job.close()
    return out


def _bad_inputs(rank: int, world: int, client: Any) -> Dict[str, Any]:
    """Each bad input must raise on both ranks; afterwards a good job still works."""
    out: Dict[str, Any] = {}
    common = {"num_stages": 2, "microbatches": 4}

    def attempt(name: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
            out[name] = None
        except Exception as e:  # noqa: BLE001
            out[name] = _err(e)

    attempt(
        "stage_out_of_range",
        lambda: PerseusJob(None, stage=rank * 2, profiler=False, **common),
    )
    attempt(
        "microbatches_differ",
        lambda: PerseusJob(
            None, stage=rank, num_stages=2, microbatches=4 + 4 * rank, profiler=False
        ),
    )
    attempt(
        "empty_profile",
        lambda: PerseusJob.from_profiles(
            None,
            "stage,instruction,frequency,time,energy\n" if rank == 0 else csv_of(instance_rows(1)),
            p_blocking_w=P_BLOCKING_W,
            stage=rank,
            **common,
        ),
    )
    # Stage coverage is the frontier's check: both ranks gave stage 0 (replicas), or a row of
    # a stage beyond the pipeline.
    attempt(
        "missing_stage",
        lambda: PerseusJob.from_profiles(
            None, csv_of(instance_rows(0)), p_blocking_w=P_BLOCKING_W, stage=rank, **common
        ),
    )
    attempt(
        "stage_beyond",
        lambda: PerseusJob.from_profiles(
            None,
            csv_of(instance_rows(rank) + [(5, "forward", 1410, 0.01, 1.0)] * rank),
            p_blocking_w=P_BLOCKING_W,
            stage=rank,
            **common,
        ),
    )
    attempt(
        "deadline_below_t_min",
        lambda: PerseusJob.from_profiles(
            None,
            csv_of(instance_rows(rank)),
            p_blocking_w=P_BLOCKING_W,
            stage=rank,
            at=0.001,
            **common,
        ),
    )
    job = PerseusJob.from_profiles(
        None, csv_of(instance_rows(rank)), p_blocking_w=P_BLOCKING_W, stage=rank, **common
    )
    attempt("bad_announce", lambda: job.announce(-1.0))
    _run_iterations(job, 1)

    def incomplete() -> None:
        program = job.program if rank == 0 else job.program[:-1]
        for kind, _ in program:
            job.instruction_begin(kind)
            job.instruction_end(kind)
        job.step_end()

    attempt("incomplete_iteration", incomplete)
    attempt("after", lambda: _run_iterations(job, 2))
    out["iteration"] = job.iteration
    job.close()

    # A profiler that cannot be used on one rank, or fails while profiling.
    attempt(
        "bad_profiler",
        lambda: PerseusJob(
            None, stage=rank, profiler=FakeProfiler(rank, 3) if rank == 0 else object(), **common
        ),
    )
    failing = FakeProfiler(rank, 5)
    if rank == 1:
        failing.step_end = lambda: 1 / 0  # type: ignore[method-assign]
    profiling = PerseusJob(None, stage=rank, profiler=failing, **common)
    attempt("profiler_failed", lambda: profiling.step_end())
    out["profiling_phase"] = profiling.phase

    # Checks every 2 iterations: an announcement before the first executing iteration is
    # installed after the second, on both ranks.
    sparse = PerseusJob.from_profiles(
        None,
        csv_of(instance_rows(rank)),
        p_blocking_w=P_BLOCKING_W,
        stage=rank,
        at="fastest",
        check_every=2,
        **common,
    )
    if rank == 0:
        sparse.announce(0.4)
    _run_iterations(sparse, 4)
    out["sparse"] = _switches(sparse)
    sparse.close()
    return out


# The fake GPU's power model for the real profiler: busy power and time depend on the clock.
POWER_MODEL = {
    "FAKE_NVML_POWER_W": "300",
    "FAKE_NVML_IDLE_W": "60",
    "FAKE_NVML_POWER_EXP": "2.5",
    "FAKE_NVML_MEMORY_BOUND": "0.3",
}
# The profiled clocks (step 150 MHz, none below 900): 1410, 1260, 1110, 960.
PROFILED_MHZ = [1410, 1260, 1110, 960]


def _pp2_real_profiler(rank: int, world: int, client: Any) -> Dict[str, Any]:
    """pp2 × dp1 with ergon.gpu.Profiler on the fake's power model: every computation is
    fakeNvmlRun of a stage-dependent amount of work, stretched by the locked clock."""
    import ctypes

    fake = ctypes.CDLL(os.environ["ERGON_NVML_LIBRARY"])
    fake.fakeNvmlRun.argtypes = [ctypes.c_uint, ctypes.c_double]
    job = PerseusJob(
        "0",
        stage=rank,
        num_stages=2,
        microbatches=2,
        profiler={
            "step_mhz": 150,
            "min_mhz": 900,
            "warmup_iters": 1,
            "iters_per_clock": 1,
            "max_slowdown": 100.0,  # every clock: the count does not depend on the timing
            "blocking_window_s": 0.2,
        },
    )
    work_s = {"forward": 0.004 * (1 + rank), "backward": 0.008 * (1 + rank)}
    # 1F1B over 2 microbatches: stage 0 runs one warm-up forward.
    order = (
        ["forward", "forward", "backward", "backward"] if rank == 0 else ["forward", "backward"] * 2
    )
    phases, trace = [], []
    while len(phases) < 40 and (not phases or job.phase == "profiling" or len(trace) < 2):
        phases.append(job.phase)
        done = []
        for kind in order:
            job.instruction_begin(kind)
            if job.executor is not None:
                job.executor.wait_applied()
            assert fake.fakeNvmlRun(0, work_s[kind]) == 0
            done.append([kind, job.current_freq_mhz])
            job.instruction_end(kind)
        if phases[-1] == "executing":
            trace.append(done)
        job.step_end()
    out = {
        "phases": phases,
        "switches": _switches(job),
        "profile_csv": job.profile_csv,
        "p_blocking_w": job.p_blocking_w,
        "program": job.program,
        "trace": trace,
    }
    job.close()
    return out


SCENARIOS: Dict[str, Callable[[int, int, Any], Dict[str, Any]]] = {
    "pp2_real_profiler": _pp2_real_profiler,
    "pp2_dp2": _pp2_dp2,
    "pp2_profiling": _pp2_profiling,
    "bad_inputs": _bad_inputs,
}


# --- the tests ----------------------------------------------------------------------------------


def _locks(log: List[str]) -> List[int]:
    return [
        int(line.split("min=")[1].split()[0])
        for line in log
        if line.startswith("nvmlDeviceSetGpuLockedClocks")
    ]


def _dedup(freqs: List[int]) -> List[int]:
    out: List[int] = []
    for f in freqs:
        if not out or out[-1] != f:
            out.append(f)
    return out


def test_pp2_dp2_plans_per_stage_and_straggler_replans(
    torch_dist: None, fake_nvml: Path, tmp_path: Path
) -> None:
    with reference_frontier(csv_of(instance_rows())) as f:
        t_min, t_star = f.t_min_s, f.t_star_s
    # The job starts at the fastest plan; the stragglers' times lie between it and T* (here
    # T* is the slowest point, so a T' beyond it would change nothing).
    t1 = round(t_min + 0.4 * (t_star - t_min), 4)
    t2 = round(t_min + 0.8 * (t_star - t_min), 4)

    def operator(store: Any) -> None:
        store.set("params", json.dumps([t1, t2]))
        store.wait(["operator/ready"], timedelta(seconds=JOIN_TIMEOUT_S))
        announce_via_store(dist.PrefixStore("job", store), t2)
        store.set("operator/done", "1")

    got = spawn("pp2_dp2", 4, tmp_path, fake_nvml, operator)

    # Every rank switched at the same iterations: v1 from the start, v2 (rank 3's T1) from
    # iteration 3, v3 (the operator's T2) from iteration 6.
    switches = [[(s["version"], s["iteration"]) for s in g["switches"]] for g in got]
    assert switches == [[(1, 0), (2, 3), (3, 6)]] * 4, switches
    assert all(g["switches"] == got[0]["switches"] for g in got)  # same times, energies...
    v1, v2, v3 = got[0]["switches"]
    assert v1["at"] == "fastest" and v1["latency_ms"] is None
    assert v2["at"] == "deadline" and v2["deadline_s"] == t1 and v2["time_s"] <= t1
    assert v3["at"] == "deadline" and v3["deadline_s"] == t2 and v3["time_s"] <= t2
    assert v1["time_s"] < v2["time_s"] < v3["time_s"]
    assert v1["energy_j"] > v2["energy_j"] > v3["energy_j"]
    for g in got:
        assert 0 < g["latency_ms"] < 60_000, g["latency_ms"]
        assert g["latency_ms"] == g["switches"][2]["latency_ms"]
        for sw in g["switches"][1:]:
            assert 0 < sw["switch_ms"] <= sw["latency_ms"], sw
    assert [g["is_planner"] for g in got] == [True, False, False, False]
    assert [g["has_frontier"] for g in got] == [True, False, False, False]

    # The merged profile averages the replicas (stage 0 and 1 alike) and is the same everywhere.
    merged = got[0]["profile_csv"]
    assert all(g["profile_csv"] == merged for g in got)
    rows = {
        (int(s), k, int(f)): (float(t), float(e))
        for s, k, f, t, e in (ln.split(",") for ln in merged.splitlines()[1:])
    }
    for s, k, f, t, e in instance_rows():
        assert rows[(s, k, f)] == pytest.approx((t * 1.01, (e + e / 1.02) / 2), rel=1e-12)

    # Each rank ran its own stage's program of the plan in force, never two plans in one
    # iteration; the replicas of a stage ran the same.
    with reference_frontier(merged) as ref:
        plans = {1: ref.plan(at="fastest"), 2: ref.plan(deadline_s=t1), 3: ref.plan(deadline_s=t2)}
    for g in got:
        for it, (version, done) in enumerate(g["trace"]):
            expected_version = 1 if it < 3 else (2 if it < 6 else 3)
            assert version == expected_version
            assert {v for _k, _f, v in done} == {version}, (it, done)
            assert [[k, f] for k, f, _v in done] == [
                list(i) for i in plans[version].stages[g["stage"]]
            ]
    for s in (0, 1):
        assert got[2 * s]["trace"] == got[2 * s + 1]["trace"]
    assert got[0]["trace"] != got[2]["trace"]

    # The fake GPU of each rank received exactly its stage's clocks, in order: the startup
    # lock at the maximum, each computation's clock, and between iterations (optimizer step,
    # all-reduce) the highest clock of the plan in force (a switch installs the new plan
    # between iterations, so its highest clock at once). The old plan's highest clock at the
    # end of a switching iteration may be overtaken by the new plan's before the worker sets it
    # (requests coalesce; the job does not wait inside step_end), so it may be missing.
    for g in got:
        variants: List[List[int]] = [[1410]]
        last_version = 1
        for version, done in g["trace"]:
            highest = max(f for _k, f in plans[version].stages[g["stage"]])
            if version != last_version:
                variants = [v + [highest] for v in variants] + [
                    v[:-1] + [highest] for v in variants
                ]
                last_version = version
            variants = [v + [f for _k, f, _ in done] + [highest] for v in variants]
        locks = _locks(g["log"])
        assert locks in [_dedup(v) for v in variants], (g["stage"], locks)
        assert g["log"][-1] == "nvmlShutdown -> SUCCESS"
        assert "gpu_locked=none mem_locked=none" in g["state"], g["state"]  # restored


def test_pp2_profiling_then_planning_at_the_same_iteration(
    torch_dist: None, tmp_path: Path
) -> None:
    with reference_frontier(csv_of(instance_rows())) as f:
        t_min = f.t_min_s
        ref_t_star, ref_fastest = f.plan(), f.plan(at="fastest")

    got = spawn("pp2_profiling", 2, tmp_path, None, lambda s: s.set("params", json.dumps([t_min])))
    for g in got:
        # Stage 0's profiler finished first, but nobody planned before stage 1's was done.
        assert g["phases"] == ["profiling"] * 4 + ["executing"] * 2
        assert g["profiler_closed"]
        assert g["switches"][0]["iteration"] == 4 and g["switches"][0]["version"] == 1
        assert g["profile_csv"] == csv_of(instance_rows())  # one replica per stage: exact
        # T' below T_min gives the fastest plan once; the second such T' changes nothing.
        assert g["fastest_versions"] == [2, 2]
        assert g["switches"][1]["at"] == "fastest"
        assert g["switches"][1]["time_s"] == pytest.approx(ref_fastest.time_s)
    assert got[0]["profiler_seen"] == 2 and got[1]["profiler_seen"] == 4
    assert got[0]["switches"] == got[1]["switches"]
    assert got[0]["switches"][0]["time_s"] == ref_t_star.time_s
    assert json.loads(got[0]["plan"])["stages"] == json.loads(ref_fastest.to_json())["stages"]


def test_bad_inputs_fail_on_every_rank(torch_dist: None, tmp_path: Path) -> None:
    got = spawn("bad_inputs", 2, tmp_path, None)
    for g in got:
        assert g["stage_out_of_range"]["status"] == "INVALID_ARGUMENT"
        assert "rank 1: stage 2 is out of range for 2 stages" in g["stage_out_of_range"]["message"]
        assert g["microbatches_differ"]["status"] == "INVALID_ARGUMENT"
        assert (
            "disagree on microbatches (rank 0: 4, rank 1: 8)" in g["microbatches_differ"]["message"]
        )
        assert g["empty_profile"]["status"] == "PARSE"
        assert "rank 0 (stage 0): no data rows" in g["empty_profile"]["message"]
        assert g["missing_stage"]["status"] == "INVALID_PROBLEM"
        assert "no profile for stage 1, forward" in g["missing_stage"]["message"]
        assert g["stage_beyond"]["status"] == "INVALID_PROBLEM"
        assert "(stage 5, forward) is for a stage beyond" in g["stage_beyond"]["message"]
        assert g["deadline_below_t_min"]["status"] == "DEADLINE", g["deadline_below_t_min"]
        assert g["bad_announce"]["status"] == "INVALID_ARGUMENT"
        assert g["incomplete_iteration"]["status"] == "INVALID_STATE"
        assert g["after"] is None  # the group is not wedged: two more iterations ran
        assert g["iteration"] == 4
        assert g["bad_profiler"]["status"] == "INVALID_ARGUMENT"
        assert "rank 1: cannot start the profiler" in g["bad_profiler"]["message"]
        assert g["profiling_phase"] == "closed"
        assert [(s["version"], s["iteration"]) for s in g["sparse"]] == [(1, 0), (2, 2)]
        assert g["sparse"][1]["deadline_s"] == 0.4 and g["sparse"][1]["time_s"] <= 0.4
    assert got[1]["profiler_failed"]["status"] == "ZeroDivisionError"
    assert got[0]["profiler_failed"]["status"] == "INVALID_STATE"
    assert "rank 1 failed while profiling" in got[0]["profiler_failed"]["message"]
    assert "ran 7 of the 8 instructions" in got[1]["incomplete_iteration"]["message"]
    assert "rank 1 failed in step_end" in got[0]["incomplete_iteration"]["message"]


def test_pp2_real_profiler_on_the_fake_power_model(
    torch_dist: None, fake_nvml: Path, tmp_path: Path
) -> None:
    got = spawn("pp2_real_profiler", 2, tmp_path, fake_nvml, extra_env=POWER_MODEL)
    profiling = len(PROFILED_MHZ) * 2  # a warm-up and a measured iteration per clock
    for g in got:
        # Both ranks profiled the same clocks and planned at the same iteration.
        assert g["phases"] == ["profiling"] * profiling + ["executing"] * 2, g["phases"]
        assert g["switches"][0]["iteration"] == profiling
        assert g["p_blocking_w"] == pytest.approx(60.0, rel=0.1)  # the fake's idle power
        freqs = sorted({f for _k, f in g["program"]})
        assert set(freqs) <= set(PROFILED_MHZ), freqs
        assert g["trace"] == [[[k, f] for k, f in g["program"]]] * 2
        # The rank's fake GPU ran each planned clock before its computation.
        runs = [ln for ln in g["log"] if ln.startswith("fakeNvmlRun")]
        executed = [int(ln.split("mhz=")[1].split()[0]) for ln in runs[-len(g["program"]) * 2 :]]
        assert executed == [f for _k, f in g["program"]] * 2
        assert "gpu_locked=none" in g["state"]
    assert got[0]["switches"] == got[1]["switches"]
    assert got[0]["profile_csv"] == got[1]["profile_csv"]
    rows = [ln.split(",") for ln in got[0]["profile_csv"].splitlines()[1:]]
    assert {(int(s), k) for s, k, *_ in rows} == {
        (0, "forward"),
        (0, "backward"),
        (1, "forward"),
        (1, "backward"),
    }
    assert sorted({int(r[2]) for r in rows}, reverse=True) == PROFILED_MHZ
    # The profiled times follow the fake's model: stage 1's work is twice stage 0's, and the
    # lowest clock stretches a computation by 0.3 + 0.7 * 1410 / 960 = 1.33.
    t = {(int(s), k, int(f)): float(tt) for s, k, f, tt, _e in rows}
    assert t[(0, "forward", 1410)] == pytest.approx(0.004, rel=0.5)
    assert t[(1, "backward", 960)] > t[(1, "backward", 1410)]
