"""``ergon.hooks.MegatronHook`` in the REAL Megatron-Core pipeline schedules
(``get_forward_backward_func()``: 1F1B and interleaved 1F1B), trained on CPU with gloo, one
process per rank, each rank's :class:`ergon.gpu.PlanExecutor` on its own fake GPU. Megatron-Core
has no CPU path: ``frameworks/megatron_cpu.py`` is the in-process shim (its docstring lists the
three CUDA calls it redirects, and why; docs/frameworks.md repeats it). The job is
``frameworks/megatron_job.py``.

Skipped without megatron-core (the Python step of CI), run by ``scripts/test-frameworks.sh``
with ``ERGON_EXPECT_FRAMEWORKS=1``, which turns the skips into failures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from frameworks.common import INITIAL_STATE
from frameworks.harness import check_ranks, require, run_job, sigterm_job
from frameworks.launch import launch

STEPS = 2
MICROBATCHES = 4


@pytest.mark.parametrize(
    "world,vp",
    [(2, 1), (4, 1), (2, 2), (4, 2)],
    ids=["1f1b-pp2", "1f1b-pp2xdp2", "interleaved-pp2", "interleaved-pp2xdp2"],
)
def test_megatron_schedules_follow_the_plan(
    world: int, vp: int, fake_nvml: Path, tmp_path: Path
) -> None:
    require("megatron.core")
    args = ["--pp", "2", "--vp", str(vp), "--microbatches", str(MICROBATCHES),
            "--steps", str(STEPS)]
    # Each rank trains without ergon first, then with it, in the same process (from the same
    # weights and data): one launch, half the framework imports.
    with_ergon = run_job("megatron_job.py", tmp_path / "ergon", world,
                         [*args, "--ergon", "--baseline"], fake_nvml)
    without = [r["plain"] for r in with_ergon]
    check_ranks(with_ergon, without, tmp_path / "ergon", stages=2, steps=STEPS,
                rank_source="get_pipeline_model_parallel_rank()")
    for r in with_ergon:
        forwards = sum(1 for k in r["calls"] if k == "forward")
        assert forwards == MICROBATCHES * vp * STEPS  # every model chunk's forward is planned


def test_megatron_schedule_fetched_before_install_is_refused(
    fake_nvml: Path, tmp_path: Path
) -> None:
    """Megatron-LM's train() fetches the schedule function once, before a hook could be
    installed: the first forward_step fails with what to do, instead of zero planned
    iterations."""
    require("megatron.core")
    done = launch(
        str(Path(__file__).parent / "frameworks" / "megatron_job.py"),
        ["--out", str(tmp_path), "--pp", "2", "--steps", "1", "--ergon",
         "--fetch-before-install"],
        2,
        env={"ERGON_NVML_LIBRARY": str(fake_nvml), "OMP_NUM_THREADS": "1"},
        timeout_s=300,
    )
    first = done[0]
    assert first.returncode != 0
    assert "forward_step ran outside a wrapped schedule call" in first.stdout, first.stdout[-3000:]
    assert "before install()" in first.stdout
    # Refused before anything ran: the GPU was restored when the process ended.
    assert (tmp_path / "nvml-rank0.state").read_text() == INITIAL_STATE


def test_megatron_sigterm_restores_every_gpu(fake_nvml: Path, tmp_path: Path) -> None:
    require("megatron.core")
    states = sigterm_job("megatron_job.py", tmp_path, 2, ["--pp", "2"], fake_nvml)
    assert states == [INITIAL_STATE] * 2
