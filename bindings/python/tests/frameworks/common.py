"""What the framework jobs (``ds_job.py``, ``megatron_job.py``) share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, List

# The zeus profile of every stage (clocks the fake Ampere GPU supports): the T* plan runs the
# forwards and backwards at different clocks, so the NVML log shows the schedule.
PROFILE_ROWS = [
    ("forward", 1410, 0.010, 3.0),
    ("forward", 1200, 0.012, 2.2),
    ("forward", 1005, 0.015, 2.5),
    ("backward", 1410, 0.020, 6.0),
    ("backward", 1200, 0.024, 4.4),
    ("backward", 1005, 0.030, 4.0),
]


def profile_csv(stages: int) -> str:
    lines = ["stage,instruction,frequency,time,energy"]
    for stage in range(stages):
        lines += [f"{stage},{k},{mhz},{t:.3f},{e}" for k, mhz, t, e in PROFILE_ROWS]
    return "\n".join(lines) + "\n"


def frontier_for(stages: int, microbatches: int, schedule: str = "1f1b",
                 virtual_stages: int = 0) -> Any:
    """The frontier of a ``stages`` × ``microbatches`` pipeline with :data:`PROFILE_ROWS`."""
    import ergon

    return ergon.Frontier.from_profile_csv_text(
        profile_csv(stages), stages=stages, microbatches=microbatches, unit_time_s=0.001,
        p_blocking_w=60.0, schedule=schedule, virtual_stages=virtual_stages)


INITIAL_STATE = "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0\n"


def per_rank_nvml(out: Path, rank: int) -> None:
    """This rank's own fake GPU: its NVML log and state file, and its ergon state dir (set
    before NVML is loaded, which reads them once)."""
    state = out / f"nvml-rank{rank}.state"
    if not state.exists():
        state.write_text(INITIAL_STATE)
    state_dir = out / f"ergon-state-rank{rank}"
    state_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ["FAKE_NVML_LOG"] = str(out / f"nvml-rank{rank}.log")
    os.environ["FAKE_NVML_STATE"] = str(state)
    os.environ["ERGON_STATE_DIR"] = str(state_dir)


def sigterm_ready(out: Path, rank: int) -> None:
    (out / f"ready-rank{rank}").write_text(str(os.getpid()))


class Recorder:
    """Duck-typed executor in front of a real one: records what the hook calls, and (``wait``)
    waits for each clock to be applied, as a computation of milliseconds would on a GPU (the
    test's passes take microseconds, less than the worker needs to set a clock)."""

    def __init__(self, executor: Any, wait: bool = False) -> None:
        self.executor = executor
        self.wait = wait
        self.calls: List[str] = []

    @property
    def stage(self) -> int:
        return int(self.executor.stage)

    def instruction_begin(self, kind: str) -> None:
        self.executor.instruction_begin(kind)
        if self.wait:
            self.executor.wait_applied()
        self.calls.append(kind)

    def instruction_end(self, kind: str) -> None:
        self.calls.append(f"end:{kind}")

    def step_end(self) -> None:
        self.executor.step_end()
        if self.wait:
            self.executor.wait_applied()  # the between-iterations clock
        self.calls.append("step_end")

    def close(self) -> None:
        self.executor.close()


def job_arguments() -> argparse.ArgumentParser:
    """The arguments every job takes (a job adds its own)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="where rank<R>.json and the NVML files go")
    ap.add_argument("--pp", type=int, default=2, help="pipeline stages")
    ap.add_argument("--microbatches", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--ergon", action="store_true", help="drive a plan executor per rank")
    ap.add_argument("--wait-for-sigterm", action="store_true",
                    help="after the first iteration, signal readiness and train until killed")
    return ap


class OtherStage:
    """A driven object that claims pipeline stage ``stage`` and must never be driven: installing
    a hook with it on another stage's rank must be refused (the identity check reads the
    framework's real pipeline rank)."""

    def __init__(self, stage: int) -> None:
        self.stage = stage

    def instruction_begin(self, kind: str) -> None:
        raise AssertionError("a refused hook was driven")

    def step_end(self) -> None:
        raise AssertionError("a refused hook was driven")


def refused_message(install: Any) -> str:
    """``install()`` must raise :class:`ergon.ErgonError`; returns its status and message."""
    import ergon

    try:
        install()
    except ergon.ErgonError as e:
        return f"{e.status_name}: {e.message}"
    raise AssertionError("a hook for another stage was installed")
