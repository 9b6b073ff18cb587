"""The examples a user copies (``examples/python``) run and do what they say: the training loop
follows the Perseus plan's order of computations, its loss falls, and with ``--gpu`` it drives a
(fake) GPU's clocks through :class:`ergon.gpu.PlanExecutor`.

Where torch, DeepSpeed and Megatron-Core are installed (``scripts/test-frameworks.sh``, with
``ERGON_EXPECT_FRAMEWORKS=1``), the torch model of ``train_with_plan.py`` and the DeepSpeed and
Megatron examples run too, two ranks each on CPU with gloo and a fake GPU per rank; elsewhere
those tests skip."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from conftest import REPO, profile_csv_text, run_python
from frameworks.common import INITIAL_STATE
from frameworks.harness import SHUTDOWN, STARTUP, job_env, require
from frameworks.launch import launch

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


def test_training_loop_torch_model(instance_4x8: Path) -> None:
    require("torch")
    example = _load_example()
    losses, executor = example.train(str(instance_4x8), stage=2, steps=4, model_kind="torch")
    assert type(example.make_model("torch", 0.1)).__name__ == "TorchModel"
    with ergon.Frontier.from_instance(instance_4x8) as f:
        assert executor.applied == list(f.plan().stages[2]) * 4
    assert losses[-1] < losses[0], losses


def _run_pipeline_example(name: str, args: list, nvml: Path, tmp_path: Path) -> list:
    """Runs ``examples/python/<name>`` on two ranks with a fake GPU each; returns each rank's
    NVML log lines and checks that the rank finished and restored its GPU."""
    profile = tmp_path / "profile.csv"
    profile.write_text(profile_csv_text(2))
    for rank in (0, 1):
        (tmp_path / f"state-{rank}").mkdir(mode=0o700)
        (tmp_path / f"nvml-{rank}.state").write_text(INITIAL_STATE)
    env = {**job_env(nvml), "FAKE_NVML_LOG": str(tmp_path / "nvml-{rank}.log"),
           "FAKE_NVML_STATE": str(tmp_path / "nvml-{rank}.state"),
           "ERGON_STATE_DIR": str(tmp_path / "state-{rank}")}
    done = launch(str(REPO / "examples" / "python" / name),
                  ["--profile", str(profile), "--gpu", "0", *args], 2, env=env, timeout_s=600)
    logs = []
    for rank, run in enumerate(done):
        assert run.returncode == 0, run.stdout[-5000:]
        assert f"stage {rank}," in run.stdout and "iterations at the planned clocks" in run.stdout
        log = (tmp_path / f"nvml-{rank}.log").read_text().splitlines()
        locks = {line.split("min=")[1].split()[0] for line in log
                 if line.startswith("nvmlDeviceSetGpuLockedClocks")}
        # The start locks the maximum, then the plan's clocks (the fake's setters are faster
        # than a pass here, so a clock may be superseded before it is set; all are planned).
        assert "1410" in locks and locks <= {"1410", "1200", "1005"}, log
        assert log[: len(STARTUP)] == STARTUP and log[-len(SHUTDOWN) :] == SHUTDOWN, log
        assert (tmp_path / f"nvml-{rank}.state").read_text() == INITIAL_STATE
        logs.append(log)
    return logs


def test_deepspeed_example(fake_nvml: Path, tmp_path: Path) -> None:
    require("deepspeed")
    _run_pipeline_example("deepspeed_pipeline.py", ["--backend", "gloo", "--steps", "3"],
                          fake_nvml, tmp_path)


def test_megatron_example(fake_nvml: Path, tmp_path: Path) -> None:
    require("megatron.core")
    _run_pipeline_example("megatron_pipeline.py", ["--cpu", "--vp", "2", "--steps", "2"],
                          fake_nvml, tmp_path)
