"""The examples a user copies (``examples/python``) run and do what they say: the training loop
follows the Perseus plan's order of computations, its loss falls, and with ``--gpu`` it drives a
(fake) GPU's clocks through :class:`ergon.gpu.PlanExecutor`. torch is not installed here, so the
plain-Python model trains (the torch model is not exercised)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from conftest import REPO, run_python

import ergon

EXAMPLE = REPO / "examples" / "python" / "train_with_plan.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_with_plan", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_training_loop_follows_the_plan(instance_4x8: Path) -> None:
    example = _load_example()
    losses, executor = example.train(str(instance_4x8), stage=1, steps=3, model_kind="python")
    with ergon.Frontier.from_instance(instance_4x8) as f:
        program = f.plan().stages[1]
    assert executor.applied == list(program) * 3
    assert len(losses) == 3
    assert losses[0] > losses[1] > losses[2]


def test_training_loop_drives_the_gpu(instance_4x8: Path, fake_nvml: Path, tmp_path: Path) -> None:
    log = tmp_path / "fake-log"
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    # Here a computation takes microseconds, less than the executor's worker needs to set a clock
    # (a pending clock is dropped at close): each one waits until its clock is set, as a real
    # forward or backward pass of milliseconds would.
    code = f"""
        import runpy, sys
        from ergon import gpu
        begin = gpu.PlanExecutor.instruction_begin
        def begin_and_wait(self, kind):
            begin(self, kind)
            self.wait_applied()
        gpu.PlanExecutor.instruction_begin = begin_and_wait
        sys.argv = ["train_with_plan.py", {str(instance_4x8)!r}, "--stage", "1", "--steps", "3",
                    "--gpu", "0", "--model", "python"]
        runpy.run_path({str(EXAMPLE)!r}, run_name="__main__")
    """
    env = {
        "ERGON_NVML_LIBRARY": str(fake_nvml),
        "FAKE_NVML_LOG": str(log),
        "FAKE_NVML_STATE": str(tmp_path / "fake-state"),
        "ERGON_STATE_DIR": str(state_dir),
    }
    run = run_python(code, env, drop=("FAKE_NVML_", "ERGON_NVML"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "iteration 2: loss" in run.stdout
    assert "dry run" not in run.stdout
    with ergon.Frontier.from_instance(instance_4x8) as f:
        planned_mhz = {mhz for _, mhz in f.plan().stages[1]}
    locks = [
        int(line.split("min=")[1].split()[0].rstrip(","))
        for line in log.read_text().splitlines()
        if line.startswith("nvmlDeviceSetGpuLockedClocks")
    ]
    # The executor first locks the maximum clock, then each planned clock as it changes.
    assert locks and locks[0] == 1410, locks
    assert set(locks[1:]) == planned_mhz, (planned_mhz, locks)
    assert all(a != b for a, b in zip(locks[1:], locks[2:])), locks
    assert "nvmlDeviceResetGpuLockedClocks" in log.read_text()  # close() restored the clocks
