"""Perseus end to end, on a laptop: a pipeline-parallel torch job (2 stages × 2 data-parallel
replicas, CPU, gloo) against the fake NVML, closing the loop a real job closes on GPUs.

Every rank is a process with its own fake GPU (``tests/fake-nvml``, one per process, with the
clock-dependent power model ``FAKE_NVML_IDLE_W``/``FAKE_NVML_POWER_W``/``FAKE_NVML_POWER_EXP``
and the computation model ``FAKE_NVML_MEMORY_BOUND``). A computation is the real torch forward
or backward of a small MLP stage *and* ``fakeNvmlRun(0, t0)``: the fake GPU busy for ``t0``
seconds at its maximum clock, stretched by the clock it is locked at, its energy counter running
at the clock's power. The job then does what a user's job does with ergon:

1. profiles every stage at each clock inside the running job (``ergon.gpu.Profiler`` driven by
   :class:`ergon.hooks.PerseusJob`, one clock per iteration block, P_blocking at the end);
2. gathers the stage profiles on the planner rank, solves the frontier, sends each rank its
   stage's plan (replicas of a stage get the same plan);
3. trains with the T* plan, measuring energy with the fake's counter, against the same
   iterations at the maximum clock (no plan);
4. a straggler announces an iteration time T'; the planner answers from the solved frontier and
   every rank switches at the same iteration boundary (the latency is measured);
5. checks that the losses are bitwise those of the same training without ergon.

Output (``--out DIR``): ``profile.csv`` (the merged zeus profile the profiler wrote),
``frontier.json`` (``ergon-frontier/v1``, the frontier the planner rank solved) and
``frontier.svg`` (drawn by ``ergon frontier --profile`` from the same profile),
``nvml-rank<R>.log`` (each fake GPU's NVML calls), ``summary.json``.
Run it through ``scripts/perseus-e2e.sh --out DIR``, which builds the fake NVML and the library.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

STAGES = 2
DATA_PARALLEL = 2
WORLD = STAGES * DATA_PARALLEL
WIDTH = 64
"""Hidden width of the MLP stages."""
MICROBATCH = 16
"""Samples per microbatch."""

# The fake GPU busy time of each computation at the maximum clock, seconds: stage 1 is the
# heavier one, so stage 0 has slack that Perseus turns into energy savings.
BASE_S = {0: {"forward": 0.012, "backward": 0.024}, 1: {"forward": 0.018, "backward": 0.036}}

# The fake GPU's power model (read by tests/fake-nvml/fake_nvml.c).
FAKE_ENV = {
    "FAKE_NVML_ARCH": "ampere",
    "FAKE_NVML_IDLE_W": "60",
    "FAKE_NVML_POWER_W": "300",
    "FAKE_NVML_POWER_EXP": "2.5",
    "FAKE_NVML_MEMORY_BOUND": "0.3",
}


def one_f_one_b(stage: int, microbatches: int) -> List[Tuple[str, int]]:
    """Stage ``stage``'s program of 1F1B: warm-up forwards, then one forward and one backward
    in turn, then the remaining backwards (the order ergon plans for ``schedule="1f1b"``)."""
    warmup = min(STAGES - stage - 1, microbatches)
    order: List[Tuple[str, int]] = [("forward", m) for m in range(warmup)]
    for k in range(microbatches - warmup):
        order += [("forward", warmup + k), ("backward", k)]
    order += [("backward", k) for k in range(microbatches - warmup, microbatches)]
    return order


class Rank:
    """One process of the job: its stage's model, its pipeline peer, its data-parallel group,
    its fake GPU."""

    def __init__(self, rank: int, args: argparse.Namespace) -> None:
        import torch
        import torch.distributed as dist

        self.torch, self.dist = torch, dist
        self.rank, self.args = rank, args
        self.stage, self.replica = rank % STAGES, rank // STAGES
        self.peer = rank + 1 if self.stage == 0 else rank - 1
        # Every rank makes every group, in the same order (torch.distributed's rule).
        groups = [dist.new_group([s + STAGES * d for d in range(DATA_PARALLEL)]) for s in range(STAGES)]
        self.dp_group = groups[self.stage]
        self.fake = ctypes.CDLL(os.environ["ERGON_NVML_LIBRARY"])
        self.fake.fakeNvmlRun.argtypes = [ctypes.c_uint, ctypes.c_double]
        self.fake.fakeNvmlRun.restype = ctypes.c_int
        self.gpu_work = True
        self.reset_model()

    def reset_model(self) -> None:
        """The same initial weights and data on every run (for the loss comparison)."""
        torch = self.torch
        torch.manual_seed(1234 + self.stage)
        layers = [torch.nn.Linear(WIDTH, WIDTH), torch.nn.Tanh(), torch.nn.Linear(WIDTH, WIDTH)]
        self.model = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.05)
        self.data = torch.Generator().manual_seed(99 + self.replica)

    def compute(self, kind: str) -> None:
        """The fake GPU's share of a computation: busy for the stage's base time, stretched by
        the clock the GPU is locked at (skipped when only the losses matter)."""
        if not self.gpu_work:
            return
        code = self.fake.fakeNvmlRun(0, BASE_S[self.stage][kind])
        if code != 0:
            raise RuntimeError(f"fakeNvmlRun failed with NVML code {code}")

    @staticmethod
    def begin(driver: Any, kind: str) -> None:
        if driver is not None:
            driver.instruction_begin(kind)
            # The executor's worker sets the clock within a millisecond or so, which a real
            # computation (tens of milliseconds and more) hides; the fake computation reads the
            # clock once at its start, so it waits for it here.
            executor = getattr(driver, "executor", None)
            if executor is not None:
                executor.wait_applied()

    @staticmethod
    def end(driver: Any, kind: str) -> None:
        end = getattr(driver, "instruction_end", None)
        if end is not None:
            end(kind)

    def iteration(self, driver: Any) -> float:
        """One training iteration of 1F1B over ``args.microbatches`` microbatches; ``driver``
        (None, or anything with instruction_begin/instruction_end/step_end) is told about each
        computation. Returns the last stage's mean loss (0.0 on the first stage)."""
        torch, dist = self.torch, self.dist
        m = self.args.microbatches
        inputs: Dict[int, Any] = {}
        outputs: Dict[int, Any] = {}
        pending: List[Any] = []
        losses: List[float] = []
        self.optimizer.zero_grad(set_to_none=False)
        for kind, mb in one_f_one_b(self.stage, m):
            # Communication stays outside the computation, as in the frameworks (whose hooks
            # wrap the forward and backward functions, not the p2p instructions).
            if kind == "forward":
                if self.stage == 0:
                    x = torch.randn(MICROBATCH, WIDTH, generator=self.data)
                else:
                    x = torch.empty(MICROBATCH, WIDTH)
                    dist.recv(x, self.peer)
                x.requires_grad_(self.stage > 0)
                self.begin(driver, kind)
                y = self.model(x)
                if self.stage == STAGES - 1:
                    target = torch.zeros(MICROBATCH, WIDTH)
                    y = torch.nn.functional.mse_loss(y, target) / m
                    losses.append(float(y.detach()) * m)
                self.compute(kind)
                self.end(driver, kind)
                if self.stage < STAGES - 1:
                    pending.append(dist.isend(y.detach().contiguous(), self.peer))
                inputs[mb], outputs[mb] = x, y
            else:
                y = outputs.pop(mb)
                grad = None
                if self.stage < STAGES - 1:
                    grad = torch.empty_like(y)
                    dist.recv(grad, self.peer)
                self.begin(driver, kind)
                y.backward(grad)
                self.compute(kind)
                self.end(driver, kind)
                x = inputs.pop(mb)
                if self.stage > 0:
                    pending.append(dist.isend(x.grad.contiguous(), self.peer))
        for work in pending:
            work.wait()
        # Data parallelism: the replicas of a stage average their gradients, then step.
        for p in self.model.parameters():
            dist.all_reduce(p.grad, group=self.dp_group)
            p.grad /= DATA_PARALLEL
        self.optimizer.step()
        if driver is not None:
            driver.step_end()
        return sum(losses) / len(losses) if losses else 0.0


def worker(rank: int, args: argparse.Namespace) -> None:
    out = Path(args.out)
    os.environ.update(FAKE_ENV)
    os.environ.update(
        FAKE_NVML_LOG=str(out / f"nvml-rank{rank}.log"),
        FAKE_NVML_STATE=str(out / "state" / f"fake-rank{rank}"),
        ERGON_STATE_DIR=str(out / "state" / f"ergon-rank{rank}"),
    )
    (out / "state" / f"ergon-rank{rank}").mkdir(mode=0o700, parents=True, exist_ok=True)
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{out / 'state' / 'rendezvous'}", rank=rank, world_size=WORLD
    )
    try:
        result = run_rank(Rank(rank, args))
        (out / "state" / f"result-rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def simulate_iteration_s(programs: List[List[Tuple[str, int]]], busy_s: Any) -> float:
    """The model's iteration time of 1F1B: each stage runs its program in order, a forward
    after the previous stage's forward of the same microbatch, a backward after the next
    stage's backward of it; ``busy_s(stage, kind, freq_mhz)`` is a computation's duration."""
    m = len(programs[0]) // 2
    orders = [one_f_one_b(s, m) for s in range(STAGES)]
    end: Dict[Tuple[int, str, int], float] = {}
    position = [0] * STAGES
    clock = [0.0] * STAGES
    while any(position[s] < len(orders[s]) for s in range(STAGES)):
        progressed = False
        for s in range(STAGES):
            if position[s] == len(orders[s]):
                continue
            kind, mb = orders[s][position[s]]
            dep = (s - 1, "forward", mb) if kind == "forward" else (s + 1, "backward", mb)
            if 0 <= dep[0] < STAGES and dep not in end:
                continue
            start = max(clock[s], end.get(dep, 0.0))
            freq = programs[s][position[s]][1]
            clock[s] = end[(s, kind, mb)] = start + busy_s(s, kind, freq)
            position[s] += 1
            progressed = True
        if not progressed:
            raise RuntimeError("the 1F1B programs deadlock")
    return max(clock)


class Model:
    """The fake GPU's own model, through its exported functions (``fakeNvmlBusySeconds``,
    ``fakeNvmlBusyPowerW``; idle at ``FAKE_NVML_IDLE_W``), in the parent process."""

    def __init__(self, max_mhz: int) -> None:
        os.environ.update(FAKE_ENV)  # read by the fake at its first call in this process
        fake = ctypes.CDLL(os.environ["ERGON_NVML_LIBRARY"])
        fake.fakeNvmlBusySeconds.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_double]
        fake.fakeNvmlBusySeconds.restype = ctypes.c_double
        fake.fakeNvmlBusyPowerW.argtypes = [ctypes.c_uint, ctypes.c_uint]
        fake.fakeNvmlBusyPowerW.restype = ctypes.c_double
        self.fake, self.max_mhz = fake, max_mhz
        self.idle_w = float(FAKE_ENV["FAKE_NVML_IDLE_W"])

    def busy_s(self, stage: int, kind: str, freq_mhz: int) -> float:
        return float(self.fake.fakeNvmlBusySeconds(0, freq_mhz or self.max_mhz, BASE_S[stage][kind]))

    def busy(self, stage: int, program: List[Tuple[str, int]]) -> Tuple[float, float]:
        """(busy seconds, busy joules) of one iteration of ``program`` on ``stage``."""
        time_s = energy_j = 0.0
        for kind, freq in program:
            t = self.busy_s(stage, kind, freq)
            time_s += t
            energy_j += t * float(self.fake.fakeNvmlBusyPowerW(0, freq or self.max_mhz))
        return time_s, energy_j

    def rank_energy_j(self, stage: int, program: List[Tuple[str, int]], iteration_s: float) -> float:
        """One iteration of one rank that lasted ``iteration_s``: busy, then idle."""
        busy_s, busy_j = self.busy(stage, program)
        return busy_j + self.idle_w * max(iteration_s - busy_s, 0.0)

    def at_max(self, program: List[Tuple[str, int]]) -> List[Tuple[str, int]]:
        return [(kind, self.max_mhz) for kind, _ in program]

    def ideal(self, programs: List[List[Tuple[str, int]]]) -> Tuple[float, float]:
        """(iteration time, energy of every rank) with no time but the computations': the
        1F1B dependencies only (no communication, no optimizer step)."""
        time_s = simulate_iteration_s(programs, self.busy_s)
        return time_s, DATA_PARALLEL * sum(
            self.rank_energy_j(s, program, time_s) for s, program in enumerate(programs))


def run_rank(r: Rank) -> Dict[str, Any]:
    """What every rank does; returns what it measured (the parent writes the summary)."""
    from ergon import gpu
    from ergon.hooks import PerseusJob

    args = r.args
    n = args.iterations
    monitor = gpu.EnergyMonitor("0")

    def phase(name: str, driver: Any, iterations: int) -> Dict[str, Any]:
        """``iterations`` iterations, the first not measured (warm-up); energy from the fake
        GPU's counter, time from the wall clock, both per measured iteration."""
        losses = [r.iteration(driver)]
        r.dist.barrier()
        monitor.begin(name)
        start = time.perf_counter()
        losses += [r.iteration(driver) for _ in range(iterations - 1)]
        wall = time.perf_counter() - start
        _, energy = monitor.end(name)
        return {"losses": losses, "time_s": wall / (iterations - 1),
                "energy_j": energy / (iterations - 1)}

    # 1. The reference: training without ergon (the fake GPU unlocked, at its maximum clock).
    r.reset_model()
    baseline = phase("max_clock", None, n)

    # 2. The same training with ergon: profiling (one clock per iteration block), planning at
    # T*, then the plan. The job is what a user adds to a training loop.
    r.reset_model()
    job = PerseusJob(
        "0", stage=r.stage, num_stages=STAGES, microbatches=args.microbatches, at="t_star",
        profiler={"step_mhz": 150, "warmup_iters": 1, "iters_per_clock": 2,
                  "max_slowdown": 1.6, "blocking_window_s": 0.5},
    )
    profiling_start = time.perf_counter()
    with_ergon: List[float] = []
    while job.phase == "profiling":
        with_ergon.append(r.iteration(job))
    profiling_s = time.perf_counter() - profiling_start
    profiling_iterations = len(with_ergon)
    program_t_star = job.program
    t_star_plan = job.plan  # the straggler's re-plan replaces it below
    planned = phase("t_star", job, n)
    with_ergon += planned["losses"]

    # 3. A straggler (the last rank) announces T'; every rank switches at the same boundary.
    version_before = job.plan_version
    if r.rank == WORLD - 1:
        job.announce(args.straggler * job.plan.time_s)
    switched = phase("straggler", job, n)
    result: Dict[str, Any] = {
        "rank": r.rank, "stage": r.stage,
        "baseline": baseline, "t_star": planned, "straggler": switched,
        "losses_with_ergon": with_ergon,
        "profiling_s": profiling_s, "profiling_iterations": profiling_iterations,
        "plan_versions": [version_before, job.plan_version],
        "switch_iterations": [sw.iteration for sw in job.switches],
        "replan_latency_ms": job.replan_latency_ms,
        "program_t_star": program_t_star,
        "program": job.program,
    }
    # 4. The same number of iterations without ergon again, from the same start, for the loss
    # comparison (the reference phase above ran n).
    r.reset_model()
    r.gpu_work = False  # the fake GPU's time changes no number
    result["losses_without_ergon"] = [r.iteration(None) for _ in range(len(with_ergon))]
    if job.is_planner:
        out = Path(args.out)
        plan = t_star_plan
        result.update(
            plan_time_s=plan.time_s, plan_energy_j=plan.energy_j,
            plan_stages=[list(map(list, stage)) for stage in plan.stages],
            p_blocking_w=job.p_blocking_w,
        )
        (out / "profile.csv").write_text(job.profile_csv or "")
        (out / "frontier.json").write_text(job.frontier.to_json())
    job.close()
    monitor.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--microbatches", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=6, help="measured iterations per phase")
    parser.add_argument("--straggler", type=float, default=1.25,
                        help="T' announced by the straggler, as a multiple of the T* plan's time")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "state").mkdir(exist_ok=True)
    for stale in list(out.glob("nvml-rank*.log")) + list((out / "state").glob("*")):
        if stale.is_file():
            stale.unlink()
    if "ERGON_NVML_LIBRARY" not in os.environ:
        print("error: ERGON_NVML_LIBRARY must name the fake NVML (scripts/perseus-e2e.sh sets it)",
              file=sys.stderr)
        return 2
    import torch.multiprocessing as mp

    start = time.perf_counter()
    mp.spawn(worker, args=(args,), nprocs=WORLD, join=True)
    wall_s = time.perf_counter() - start
    results = [json.loads((out / "state" / f"result-rank{r}.json").read_text()) for r in range(WORLD)]
    summary, failures = summarize(results, args, wall_s)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(out, summary, args)
    print(
        f"perseus-e2e: {WORLD} ranks ({STAGES} stages x {DATA_PARALLEL} replicas), profiled "
        f"{summary['profiling_iterations']} iterations; T* plan {summary['t_star_time_s']:.3f} s/it: "
        f"energy saved vs max clock {100 * summary['energy_saved_fraction_measured']:.1f} % "
        f"measured, {100 * summary['energy_saved_fraction_model']:.1f} % by the fake GPU's model; "
        f"re-plan reached every rank in {summary['replan_latency_ms']:.1f} ms; "
        f"losses {'identical' if summary['losses_identical'] else 'DIFFERENT'}; {wall_s:.0f} s"
    )
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def summarize(results: List[Dict[str, Any]], args: argparse.Namespace, wall_s: float
              ) -> Tuple[Dict[str, Any], List[str]]:
    """summary.json, and the checks that failed.

    The model's saving is the fake GPU's formula applied to what ran: per rank and iteration,
    the busy energy of its program at the planned clocks (at the maximum clock for the
    reference) plus idle power for the rest of the iteration as long as it measured (so the
    communication and optimizer time the model does not know is counted the same on both
    sides). ``energy_saved_fraction_model_ideal`` is the saving with only the computations'
    own times (1F1B dependencies, nothing else), what a job whose GPU time dwarfs everything
    else would see."""
    planner = next(r for r in results if "plan_stages" in r)
    profile = (Path(args.out) / "profile.csv").read_text().splitlines()[1:]
    model = Model(max(int(row.split(",")[2]) for row in profile))
    plan_programs = [[(k, int(f)) for k, f in stage] for stage in planner["plan_stages"]]
    measured = {p: sum(r[p]["energy_j"] for r in results) for p in ("baseline", "t_star", "straggler")}
    modeled = {"baseline": 0.0, "t_star": 0.0}
    for r in results:
        program = [(k, int(f)) for k, f in r["program_t_star"]]
        if program != plan_programs[r["stage"]]:
            raise RuntimeError(f"rank {r['rank']} ran {program}, not its stage's plan")
        modeled["t_star"] += model.rank_energy_j(r["stage"], program, r["t_star"]["time_s"])
        modeled["baseline"] += model.rank_energy_j(
            r["stage"], model.at_max(program), r["baseline"]["time_s"])
    saved_measured = 1 - measured["t_star"] / measured["baseline"]
    saved_model = 1 - modeled["t_star"] / modeled["baseline"]
    ideal_t_star = model.ideal(plan_programs)
    ideal_max = model.ideal([model.at_max(p) for p in plan_programs])
    saved_ideal = 1 - ideal_t_star[1] / ideal_max[1]
    last = [r for r in results if r["stage"] == STAGES - 1]
    losses_with = [r["losses_with_ergon"] for r in last]
    losses_without = [r["losses_without_ergon"] for r in last]
    latency = max(r["replan_latency_ms"] or 0.0 for r in results)
    summary = {
        "ranks": WORLD,
        "stages": STAGES,
        "data_parallel": DATA_PARALLEL,
        "microbatches": args.microbatches,
        "energy_saved_fraction_measured": saved_measured,
        "energy_saved_fraction_model": saved_model,
        "energy_saved_fraction_model_ideal": saved_ideal,
        "loss_with_ergon": losses_with[0],
        "loss_without_ergon": losses_without[0],
        "losses_identical": losses_with == losses_without,
        "replan_latency_ms": latency,
        "t_star_time_s": planner["plan_time_s"],
        "t_star_energy_j": planner["plan_energy_j"],
        "p_blocking_w": planner["p_blocking_w"],
        "profiling_iterations": planner["profiling_iterations"],
        "profiling_s": planner["profiling_s"],
        "model": {
            "energy_j_per_iteration": modeled,
            "ideal": {"t_star_time_s": ideal_t_star[0], "t_star_energy_j": ideal_t_star[1],
                      "max_clock_time_s": ideal_max[0], "max_clock_energy_j": ideal_max[1]},
        },
        "measured": {
            "energy_j_per_iteration": measured,
            "time_s_per_iteration": {p: max(r[p]["time_s"] for r in results)
                                     for p in ("baseline", "t_star", "straggler")},
        },
        "plan_versions": {str(r["rank"]): r["plan_versions"] for r in results},
        "switch_iterations": {str(r["rank"]): r["switch_iterations"] for r in results},
        "programs": {str(r["rank"]): r["program"] for r in results},
        "wall_s": wall_s,
    }
    failures = []
    if abs(saved_measured - saved_model) > 0.05 * abs(saved_model):
        failures.append(f"measured saving {saved_measured:.4f} is not within 5 % of the model's "
                        f"{saved_model:.4f}")
    if not saved_model > 0:
        failures.append(f"the T* plan saves nothing under the model ({saved_model:.4f})")
    if not summary["losses_identical"]:
        failures.append("the losses with ergon differ from those without")
    # Each fake GPU ran its stage's planned clocks, in schedule order, in every planned iteration
    # (the fake logs each computation's clock: "fakeNvmlRun dev=0 mhz=F ...").
    for r in results:
        log = (Path(args.out) / f"nvml-rank{r['rank']}.log").read_text().splitlines()
        clocks = [int(line.split("mhz=")[1].split()[0]) for line in log if line.startswith("fakeNvmlRun")]
        per_iteration = len(r["program_t_star"])
        first = (args.iterations + r["profiling_iterations"]) * per_iteration
        ran = clocks[first:first + args.iterations * per_iteration]
        want = [int(f) for _, f in r["program_t_star"]] * args.iterations
        if ran != want:
            failures.append(f"rank {r['rank']}: the fake GPU ran {ran} in the T* iterations, "
                            f"not its stage's plan {want}")
    versions = {tuple(v) for v in summary["plan_versions"].values()}
    switches = {tuple(v) for v in summary["switch_iterations"].values()}
    if versions != {(1, 2)} or len(switches) != 1:
        failures.append(f"the re-plan did not reach every rank at one iteration: versions "
                        f"{summary['plan_versions']}, switches {summary['switch_iterations']}")
    return summary, failures


def plot(out: Path, summary: Dict[str, Any], args: argparse.Namespace) -> None:
    """frontier.svg from the measured profile, by the ergon command (skipped if absent)."""
    cli = os.environ.get("ERGON_CLI") or shutil.which("ergon")
    if cli is None:
        print("perseus-e2e: no ergon command on PATH: frontier.svg not drawn", file=sys.stderr)
        return
    subprocess.run(
        [cli, "frontier", "--profile", str(out / "profile.csv"), "--stages", str(STAGES),
         "--microbatches", str(args.microbatches), "--unit-time", "0.001",
         "--p-blocking", str(summary["p_blocking_w"]), "--svg", str(out / "frontier.svg")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    sys.exit(main())
