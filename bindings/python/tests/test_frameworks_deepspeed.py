"""``ergon.hooks.DeepSpeedHook`` in the REAL DeepSpeed pipeline engine (``deepspeed.pipe``),
trained on CPU with gloo (``DS_ACCELERATOR=cpu``; DeepSpeed needs no patch on CPU), one process
per rank, each rank's :class:`ergon.gpu.PlanExecutor` on its own fake GPU (``FAKE_NVML_LOG`` and
``FAKE_NVML_STATE`` per rank). The job is ``frameworks/ds_job.py``.

Skipped without DeepSpeed (the Python step of CI), run by ``scripts/test-frameworks.sh`` with
``ERGON_EXPECT_FRAMEWORKS=1``, which turns the skips into failures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from frameworks.common import INITIAL_STATE
from frameworks.harness import check_ranks, require, run_job, sigterm_job

STEPS = 3
MICROBATCHES = 4


@pytest.mark.parametrize("world", [2, 4], ids=["pp2", "pp2xdp2"])
def test_deepspeed_pipeline_follows_the_plan(world: int, fake_nvml: Path, tmp_path: Path) -> None:
    require("deepspeed")
    args = ["--pp", "2", "--microbatches", str(MICROBATCHES), "--steps", str(STEPS)]
    with_ergon = run_job("ds_job.py", tmp_path / "ergon", world, [*args, "--ergon"], fake_nvml)
    without = run_job("ds_job.py", tmp_path / "plain", world, args, fake_nvml)
    check_ranks(with_ergon, without, tmp_path / "ergon", stages=2, steps=STEPS,
                rank_source="engine.stage_id")
    # Data-parallel replicas of a stage run the same plan on their own GPUs.
    if world == 4:
        assert sorted((r["stage"], r["dp_id"]) for r in with_ergon) == [(0, 0), (0, 1), (1, 0),
                                                                          (1, 1)]
    # The 1F1B order DeepSpeed ran: stage 0 warms up with one forward, stage 1 alternates.
    by_stage = {r["stage"]: r for r in with_ergon}
    kinds0 = [k for k in by_stage[0]["calls"] if not k.startswith("end:")][:3]
    kinds1 = [k for k in by_stage[1]["calls"] if not k.startswith("end:")][:3]
    assert kinds0 == ["forward", "forward", "backward"]
    assert kinds1 == ["forward", "backward", "forward"]


def test_deepspeed_sigterm_restores_every_gpu(fake_nvml: Path, tmp_path: Path) -> None:
    """torchrun forwards its SIGTERM to the ranks; every fake GPU is back as it was (the
    executor's signal restore, which does not depend on Python running atexit)."""
    require("deepspeed")
    states = sigterm_job("ds_job.py", tmp_path, 2, ["--pp", "2", "--microbatches", "4"],
                         fake_nvml)
    assert states == [INITIAL_STATE] * 2


def test_deepspeed_hook_drives_the_profiler(fake_nvml: Path, tmp_path: Path) -> None:
    """The same hook drives :class:`ergon.gpu.Profiler` (instruction_end after each pass): every
    rank profiles its stage's forward and backward at each selected clock of its fake GPU."""
    require("deepspeed")
    ranks = run_job("ds_job.py", tmp_path, 2, ["--pp", "2", "--profile"], fake_nvml)
    for r in ranks:
        rows = [line.split(",") for line in r["csv"].splitlines()[1:]]
        assert rows, r["csv"]
        assert {row[0] for row in rows} == {str(r["stage"])}
        kinds = {row[1] for row in rows}
        assert kinds == {"forward", "backward"}, r["csv"]
        clocks = sorted({int(row[2]) for row in rows}, reverse=True)
        # From the maximum down, at least 400 MHz apart, none below 600 MHz: one iteration each.
        assert clocks[0] == 1410 and len(clocks) >= 2 and clocks[-1] >= 600, clocks
        assert all(a - b >= 400 for a, b in zip(clocks, clocks[1:])), clocks
        assert r["iterations"] == len(clocks)
        assert all(float(row[3]) > 0 and float(row[4]) >= 0 for row in rows), r["csv"]
        log = (tmp_path / f"nvml-rank{r['rank']}.log").read_text()
        assert "nvmlDeviceResetGpuLockedClocks" in log  # restored when profiling ended
        assert (tmp_path / f"nvml-rank{r['rank']}.state").read_text() == INITIAL_STATE
