#!/usr/bin/env python3
"""Oracle values for `ergon zeus optimum` and `ergon zeus simulate`, computed with the public
Zeus reference code (the legacy NSDI'23 simulator, `zeus._legacy`, shipped in the PyPI `zeus`
0.16.0 wheel): nothing here re-implements Zeus, every number comes out of its classes.

    python -m venv /root/.cache/ergon/zeus-venv
    /root/.cache/ergon/zeus-venv/bin/pip install --no-deps zeus==0.16.0
    /root/.cache/ergon/zeus-venv/bin/pip install numpy pandas
    /root/.cache/ergon/zeus-venv/bin/python bench/zeus_reference_oracle.py optimum > tests/data/zeus/reference_optimum.json
    /root/.cache/ergon/zeus-venv/bin/python bench/zeus_reference_oracle.py simulate > tests/data/zeus/reference_sim.json

`optimum`: per trace, workload, η and batch size, the power limit the reference's
`JITPowerLimitOptimizer` picks from `Simulator._profile_power_limit`, and the mean TTA/ETA of
the training paths (rows of the reference's merged frame at that batch size and limit) that
reach the target within the job's epoch budget, priced by the reference's `zeus_cost`.

`simulate`: `Simulator.simulate_one_job` (PruningGTSBatchSizeOptimizer + JITPowerLimitOptimizer,
β = 2, η = 0.5, 2·|B|·|P| recurrences) for seeds 1..10 per workload: cumulative cost, energy,
time and the batch size of the last recurrence.
"""

from __future__ import annotations

import contextlib
from collections import Counter
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from zeus._legacy.job import Job
from zeus._legacy.policy.optimizer import JITPowerLimitOptimizer, PruningGTSBatchSizeOptimizer
from zeus._legacy.simulate import Simulator
from zeus.utils.metric import zeus_cost

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "zeus"
TRAIN = SHARED / "summary_train.csv"
POWER = {
    "v100": SHARED / "summary_power_v100.csv",
    "a40-cifar100": ROOT / "tests" / "data" / "zeus" / "summary_power_a40_cifar100.csv",
}

# run_alibaba.py::get_job_with_defaults (dataset, network, optimizer, target, max_epochs, b0)
WORKLOADS = [
    ("cifar100", "shufflenetv2", "adadelta", 0.6, 100, 1024),
    ("imagenet", "resnet50", "adadelta", 0.65, 100, 256),
    ("squad", "bert_base_uncased", "adamw", 84.0, 6, 32),
    ("librispeech", "deepspeech2", "adamw", 40.0, 16, 256),
    ("movielens-1m", "ncf", "adam", 0.41, 100, 1024),
    ("sentiment140", "bert_base_uncased", "adamw", 0.84, 10, 128),
]
ETAS = [0.2, 0.5, 0.8]
SEEDS = range(1, 11)


def job_for(w, power_df) -> Job:
    dataset, network, optimizer, target, max_epochs, b0 = w
    bmax = int(power_df.loc[power_df.dataset == dataset].batch_size.max())
    return Job(dataset, network, optimizer, target, max_epochs, min(b0, bmax))


def quiet(fn, *args):
    # The legacy simulator prints some lines even with verbose=False.
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def optimum() -> dict:
    out = []
    train_df = pd.read_csv(TRAIN)
    for gpu, path in POWER.items():
        power_df = pd.read_csv(path)
        sim = Simulator(train_df, power_df, None, None, verbose=False)
        max_power = sim.df.power_limit.max().item()
        for w in WORKLOADS:
            if not (power_df.dataset == w[0]).any():
                continue
            job = job_for(w, power_df)
            jdf = job.filter_df(sim.df)
            for eta in ETAS:
                rows = []
                for bs in sorted(jdf.batch_size.unique()):
                    plo = JITPowerLimitOptimizer(verbose=False)
                    for pl, cost in quiet(sim._profile_power_limit, job, bs, eta).items():
                        plo.observe(job, bs, pl, cost)
                    pl = plo.predict(job, bs)
                    paths = jdf.loc[(jdf.batch_size == bs) & (jdf.power_limit == pl)]
                    ok = paths.loc[paths.target_epoch.notnull() & (paths.target_epoch <= job.max_epochs)]
                    row = {"batch_size": int(bs), "power_limit_w": int(pl),
                           "feasible": bool(len(ok) == len(paths)), "paths": len(paths),
                           "time_s": None, "energy_j": None, "cost": None}
                    if len(ok):
                        t, e = ok.TTA.mean().item(), ok.ETA.mean().item()
                        row.update(time_s=t, energy_j=e, cost=zeus_cost(e, t, eta, max_power))
                    rows.append(row)
                out.append({"gpu": gpu, "workload": w[0], "eta": eta, "max_power_w": max_power,
                            "default_batch_size": job.default_bs, "per_batch_size": rows})
    return {"source": "zeus==0.16.0 zeus._legacy (PyPI)", "cases": out}


def simulate() -> dict:
    train_df = pd.read_csv(TRAIN)
    power_df = pd.read_csv(POWER["v100"])
    out = {}
    total_s = 0.0
    for w in WORKLOADS:
        job = job_for(w, power_df)
        jdf = job.filter_df(train_df.merge(power_df, how="inner"))
        r = 2 * len(jdf.batch_size.unique()) * len(jdf.power_limit.unique())
        seeds = []
        for seed in SEEDS:
            bso = PruningGTSBatchSizeOptimizer(seed=seed, verbose=False)
            plo = JITPowerLimitOptimizer(verbose=False)
            sim = Simulator(train_df, power_df, bso, plo, seed=seed, verbose=False)
            start = time.perf_counter()
            hist = quiet(sim.simulate_one_job, job, r, 2.0, 0.5)
            total_s += time.perf_counter() - start
            max_power = sim.df.power_limit.max().item()
            energy = sum(h.energy for h in hist)
            t = sum(h.time for h in hist)
            cost = sum(zeus_cost(h.energy, h.time, 0.5, max_power) for h in hist)
            reached = [h for h in hist if h.reached]
            last = reached[-1]
            # The batch size most recurrences of the last ten ran (first seen wins a tie).
            mode10 = Counter(int(h.bs) for h in reached[-10:]).most_common(1)[0][0]
            seeds.append({"seed": seed, "cost": cost, "energy_j": energy, "time_s": t,
                          "last_batch_size": int(last.bs), "last_power_limit_w": int(last.pl),
                          "last10_mode_batch_size": mode10, "attempts": len(hist)})
        out[w[0]] = {"recurrences": r, "seeds": seeds}
    return {"source": "zeus==0.16.0 zeus._legacy (PyPI)", "eta": 0.5, "beta": 2.0,
            "seconds_total": total_s, "workloads": out}


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "optimum"
    doc = optimum() if mode == "optimum" else simulate()
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")
