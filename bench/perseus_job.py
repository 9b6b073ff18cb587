#!/usr/bin/env python3
"""What :class:`ergon.hooks.PerseusJob` costs a training step, and how fast a re-plan spreads.

Spawns ``--ranks`` gloo ranks on this machine (torch CPU; ``--ranks / 2`` replicas of a 2-stage
pipeline planned from the shared 2×4 fixture, no GPU: the job's own work, not NVML's) and
measures, per rank:

- the mean time of an iteration of 8 ``instruction_begin``/``instruction_end`` pairs and
  ``step_end`` without a job (the loop alone), and with a job that checks for announcements
  every ``check_every`` iterations (one 3-element all-reduce per check), next to a bare
  ``all_reduce`` of such a tensor (what a check costs at least on this process group);
- after a rank announces a straggler's T′ (``--replans`` times), the median switch cost
  (``switch_ms``: last rank in the check → last rank holding the new plan) and the latency
  from the announcement (``latency_ms``, which includes the rest of the iteration it was
  announced in).

    python bench/perseus_job.py --ranks 4 --iterations 2000

Needs torch; the library is found as the package finds it (``$ERGON_LIBRARY``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
INSTANCE = HERE.parent.parent / "shared" / "data" / "perseus" / "a100_s2_m4.instance.json"


def _rank(rank: int, world: int, init: str, args: argparse.Namespace, out: str) -> None:
    import torch.distributed as dist

    from ergon.hooks import PerseusJob

    dist.init_process_group(
        "gloo", init_method=init, rank=rank, world_size=world, timeout=timedelta(seconds=120)
    )
    doc = json.loads(INSTANCE.read_text())
    stage = rank * 2 // world
    csv = ["stage,instruction,frequency,time,energy"] + [
        f"{p['stage']},{p['kind']},{o['freq_mhz']},{o['time_s']!r},{o['energy_j']!r}"
        for p in doc["profiles"]
        if p["stage"] == stage
        for o in p["options"]
    ]
    result: Dict[str, Any] = {}

    class NoJob:
        program = [("forward", 0)] * 4 + [("backward", 0)] * 4

        def instruction_begin(self, kind: str) -> None:
            pass

        def instruction_end(self, kind: str) -> None:
            pass

        def step_end(self) -> None:
            pass

    def steps(job: Any, n: int) -> List[float]:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            for kind, _f in job.program:
                job.instruction_begin(kind)
                job.instruction_end(kind)
            job.step_end()
            times.append(time.perf_counter() - t0)
        return times

    import torch

    t = torch.zeros(3, dtype=torch.float64)
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    result["bare_all_reduce_us"] = (time.perf_counter() - t0) / args.iterations * 1e6
    dist.barrier()
    result["no_job_us"] = statistics.fmean(steps(NoJob(), args.iterations)) * 1e6

    def make_job(check_every: int) -> Any:
        return PerseusJob.from_profiles(
            None,
            "\n".join(csv) + "\n",
            p_blocking_w=doc["p_blocking_w"],
            stage=stage,
            num_stages=2,
            microbatches=4,
            at="fastest",
            check_every=check_every,
        )

    for every in args.check_every:
        job = make_job(every)
        dist.barrier()
        result[f"job_check_every_{every}_us"] = statistics.fmean(steps(job, args.iterations)) * 1e6
        job.close()
    job = make_job(1)
    t_min, t_star = 0.335, 0.432  # the fixture's frontier
    for i in range(args.replans):
        if rank == world - 1:
            job.announce(t_min + (t_star - t_min) * (i + 1) / (args.replans + 1))
        steps(job, 1)
    replans = job.switches[1:]
    result["replans"] = len(replans)
    result["switch_ms"] = statistics.median(s.switch_ms for s in replans)
    result["latency_ms"] = statistics.median(s.latency_ms for s in replans)
    job.close()
    Path(out, f"{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=4, help="an even number of ranks")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--check-every", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--replans", type=int, default=20)
    args = parser.parse_args()
    import torch.multiprocessing as torch_mp

    with tempfile.TemporaryDirectory() as out:
        init = f"file://{out}/rendezvous"
        torch_mp.start_processes(
            _rank, args=(args.ranks, init, args, out), nprocs=args.ranks, start_method="spawn"
        )
        results = [json.loads(Path(out, f"{r}.json").read_text()) for r in range(args.ranks)]
    print(f"{args.ranks} gloo ranks on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for key in results[0]:
        values = [r[key] for r in results]
        print(
            f"  {key:24} median over ranks {statistics.median(values):10.1f}   "
            f"max {max(values):10.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
