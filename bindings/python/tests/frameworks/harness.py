"""What the real-framework tests share: requiring a framework, running a job with and without
ergon, and checking each rank's hook calls and fake-NVML log against its stage's plan."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from .common import INITIAL_STATE
from .launch import free_port, launch

HERE = Path(__file__).resolve().parent

# The NVML calls of a plan executor's start and of its close (see test_hooks.py).
STARTUP = [
    "nvmlInit_v2 -> SUCCESS",
    "nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS",
    "nvmlDeviceGetSupportedMemoryClocks dev=0 -> SUCCESS",
    "nvmlDeviceGetSupportedGraphicsClocks dev=0 mem=1215 -> SUCCESS",
    "nvmlDeviceGetPowerManagementDefaultLimit dev=0 -> SUCCESS",
    "nvmlDeviceGetUUID dev=0 -> SUCCESS",
    "nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS",
    "nvmlDeviceGetUUID dev=0 -> SUCCESS",
    "nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS",
    "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=400000 -> SUCCESS",
    "nvmlDeviceSetMemoryLockedClocks dev=0 min=1215 max=1215 -> SUCCESS",
    "nvmlDeviceSetGpuLockedClocks dev=0 min=1410 max=1410 -> SUCCESS",
]
SHUTDOWN = [
    "nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS",
    "nvmlDeviceResetMemoryLockedClocks dev=0 -> SUCCESS",
    "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS",
    "nvmlShutdown -> SUCCESS",
]


def require(module: str) -> None:
    """Skips the test when ``module`` cannot be imported, unless ``ERGON_EXPECT_FRAMEWORKS=1``
    (the framework step of CI, where a skip would hide that nothing was tested): then fails."""
    # Found, not imported: the jobs import the frameworks in their own processes.
    try:
        found = importlib.util.find_spec(module) is not None
        why = "not found"
    except ImportError as e:  # a parent package is missing
        found, why = False, str(e)
    if not found:
        if os.environ.get("ERGON_EXPECT_FRAMEWORKS") == "1":
            pytest.fail(f"ERGON_EXPECT_FRAMEWORKS=1 but {module} is not importable: {why}")
        pytest.skip(f"{module} is not installed ({why}); scripts/test-frameworks.sh installs it")


def job_env(nvml: Path) -> Dict[str, str]:
    env = {"ERGON_NVML_LIBRARY": str(nvml), "DS_ACCELERATOR": "cpu",
           "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # Each rank sets its own FAKE_NVML_*: none may leak in from the test's environment.
    for k in list(os.environ):
        if k.startswith("FAKE_NVML_"):
            env[k] = ""
    return env


def run_job(script: str, out: Path, world: int, args: List[str], nvml: Path) -> List[Dict[str, Any]]:
    """Runs ``script`` on ``world`` ranks; returns each rank's ``rank<R>.json``."""
    out.mkdir(parents=True, exist_ok=True)
    done = launch(str(HERE / script), ["--out", str(out), *args], world, env=job_env(nvml))
    for r in done:
        assert r.returncode == 0, f"{script} {args} failed ({r.returncode}):\n{r.stdout[-6000:]}"
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(world)]


def expected_calls(program: List[List[Any]], iterations: int) -> List[str]:
    """What the hook calls on a driven object with ``instruction_end``, per iteration."""
    one: List[str] = []
    for kind, _mhz in program:
        one += [kind, f"end:{kind}"]
    return (one + ["step_end"]) * iterations


def expected_log(program: List[List[Any]], iterations: int) -> List[str]:
    """The fake NVML's log of a rank: the start, each change of the planned clock in schedule
    order (the start locked the maximum, 1410 MHz; after each iteration the executor runs the
    work between iterations at the plan's highest clock), the restore."""
    locks, last = [], 1410
    between = max(mhz for _kind, mhz in program)
    for _ in range(iterations):
        for mhz in [mhz for _kind, mhz in program] + [between]:
            if mhz != last:
                locks.append(f"nvmlDeviceSetGpuLockedClocks dev=0 min={mhz} max={mhz} -> SUCCESS")
                last = mhz
    return STARTUP + locks + SHUTDOWN


def check_ranks(with_ergon: List[Dict[str, Any]], without: List[Dict[str, Any]], out: Path,
                stages: int, steps: int, rank_source: str) -> None:
    """Every rank ran its stage's plan in order and restored its GPU; the training result is
    bitwise the one without ergon; a hook for the other stage was refused at install, naming
    both stages and ``rank_source`` (where the framework's pipeline rank was read)."""
    assert sorted({r["stage"] for r in with_ergon}) == list(range(stages))
    for got, plain in zip(with_ergon, without):
        rank = got["rank"]
        stage = got["stage"]
        wrong = got["wrong_stage"]
        for part in ("INVALID_ARGUMENT", f"plan of pipeline stage {1 - stage}",
                     f"this rank is pipeline stage {stage}", rank_source, f"stage={stage}"):
            assert part in wrong, (part, wrong)
        assert got["losses"] == plain["losses"], f"rank {rank}: losses differ with ergon"
        assert got.get("weights") == plain.get("weights"), f"rank {rank}: weights differ"
        program = got["program"]
        assert len(program) > 0 and {k for k, _ in program} == {"forward", "backward"}
        assert got["iterations"] == steps
        assert got["calls"] == expected_calls(program, steps), f"rank {rank}"
        log = (out / f"nvml-rank{rank}.log").read_text().splitlines()
        assert log == expected_log(program, steps), f"rank {rank}:\n" + "\n".join(log)
        assert (out / f"nvml-rank{rank}.state").read_text() == INITIAL_STATE
    assert any(r["losses"] for r in without), "no rank reported a loss"


def sigterm_job(script: str, out: Path, world: int, args: List[str], nvml: Path) -> List[str]:
    """Starts ``script`` under ``torchrun`` with ergon, sends the launcher SIGTERM once every
    rank finished an iteration (its clocks locked), waits for it; returns each rank's fake GPU
    state afterwards."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **job_env(nvml)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
           "--nproc-per-node", str(world), "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), str(HERE / script), "--out", str(out), "--ergon",
           "--wait-for-sigterm", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not all((out / f"ready-rank{r}").exists() for r in range(world)):
            if proc.poll() is not None:
                raise AssertionError(f"the job ended before it was ready:\n{proc.stdout.read()}")
            assert time.monotonic() < deadline, "the job did not get ready in 300 s"
            time.sleep(0.2)
        locked = [(out / f"nvml-rank{r}.state").read_text() for r in range(world)]
        assert all("gpu_locked=none" not in s for s in locked), locked  # the plan is running
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return [(out / f"nvml-rank{r}.state").read_text() for r in range(world)]
