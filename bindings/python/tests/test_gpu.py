"""``ergon.gpu`` against the fake NVML (``tests/fake-nvml``).

NVML state and the environment are process-global and read when NVML is loaded, so every
scenario runs in a child Python process with its own environment (``run_child`` and the
``fake_nvml`` fixture of conftest.py); the child prints one JSON line that the test checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ergon._library
from conftest import GPU_PRELUDE, profile_csv_text, run_child

# One stage, one microbatch (forward then backward): at T* the forward runs at 1200 MHz, the
# backward at 1005.
PROFILE_CSV = profile_csv_text(1)

def default_state(gpu: int, power_limit_w: int) -> str:
    """A line of the fake's state file with every setting at its default."""
    return (
        f"gpu={gpu} gpu_locked=none mem_locked=none "
        f"power_limit_mw={power_limit_w * 1000} persistence=0"
    )


def test_gpu_count_and_devices_of_two_fakes(fake_nvml: Path) -> None:
    got = run_child(
        """
        n = gpu.count()
        devs = gpu.devices()
        one = gpu.info(1)
        try:
            gpu.info(2)
            missing = None
        except ergon.ErgonError as e:
            missing = err(e)
        emit(count=n, devs=[list(d) for d in devs], one=list(one),
             is_info=isinstance(one, gpu.GpuInfo), missing=missing)
        """,
        {"FAKE_NVML_DEVICES": "2", "FAKE_NVML_ARCH": "ampere,ada"},
        fake_nvml,
    )
    assert got["count"] == 2
    devs = got["devs"]
    assert [d[:3] for d in devs] == [[0, 7, False], [1, 8, False]]
    assert [d[4] for d in devs] == ["NVIDIA A100-SXM4-40GB", "NVIDIA L40S"]
    assert all(d[3].startswith("GPU-") for d in devs)
    assert devs[0][3] != devs[1][3]
    assert got["one"] == devs[1] and got["is_info"]
    assert got["missing"]["status"] == "OUT_OF_RANGE"


def test_gpu_plan_executor_two_iterations_restores_defaults(
    fake_nvml: Path, tmp_path: Path
) -> None:
    state = tmp_path / "fake-state"
    log = tmp_path / "fake-log"
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    got = run_child(
        f"""
        csv = {PROFILE_CSV!r}
        f = ergon.Frontier.from_profile_csv_text(
            csv, stages=1, microbatches=1, unit_time_s=0.001, p_blocking_w=60.0)
        program = f.plan().stages[0]
        during = None
        with gpu.PlanExecutor("0", f, 0) as ex:
            for _ in range(2):
                for kind, _freq in program:
                    ex.instruction_begin(kind)
                    ex.wait_applied()
                    if during is None:
                        during = open({str(state)!r}).read()
                ex.step_end()
                ex.wait_applied()
            between = open({str(state)!r}).read()
        closed = ex.closed
        try:
            ex.step_end()
            after_close = None
        except ergon.ErgonError as e:
            after_close = err(e)
        f.close()
        emit(program=program, during=during, between=between, closed=closed,
             after_close=after_close,
             live=ergon.live_handles(), restored=gpu.restore())
        """,
        {
            "FAKE_NVML_STATE": str(state),
            "FAKE_NVML_LOG": str(log),
            "ERGON_STATE_DIR": str(state_dir),
        },
        fake_nvml,
    )
    assert got["program"] == [["forward", 1200], ["backward", 1005]]
    assert "gpu_locked=1200:1200" in got["during"], got["during"]
    # Between iterations (optimizer step, all-reduce) the plan's highest clock, not the last.
    assert "gpu_locked=1200:1200" in got["between"], got["between"]
    assert got["closed"]
    assert got["after_close"]["status"] == "INVALID_STATE"
    # Every kind of handle is counted, and none is left.
    assert set(got["live"]) == set(ergon._library.HANDLE_KINDS)
    assert not any(got["live"].values()), got["live"]
    assert got["restored"] == 0  # close() already put everything back
    assert state.read_text().splitlines()[0] == default_state(0, 400)
    locks = [
        int(line.split("min=")[1].split()[0].rstrip(","))
        for line in log.read_text().splitlines()
        if line.startswith("nvmlDeviceSetGpuLockedClocks")
    ]
    assert locks == [1410, 1200, 1005, 1200, 1005, 1200]


def test_gpu_plan_executor_wrong_kind_raises(fake_nvml: Path, tmp_path: Path) -> None:
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    got = run_child(
        f"""
        f = ergon.Frontier.from_profile_csv_text(
            {PROFILE_CSV!r}, stages=1, microbatches=1, unit_time_s=0.001, p_blocking_w=60.0)
        out = {{}}
        for name, args, kwargs in [("plan_and_at", (f.plan(),), {{"at": "fastest"}}),
                                   ("not_a_plan", ("plan.json",), {{}})]:
            try:
                gpu.PlanExecutor("0", *args, 0, **kwargs)
            except TypeError as e:
                out[name] = "TypeError"
        try:
            gpu.PlanExecutor("0", f, 5)
        except ergon.ErgonError as e:
            out["bad_stage"] = err(e)
        with gpu.PlanExecutor(0, f, 0) as ex:
            for name, kind in [("unknown", "sideways"), ("out_of_order", "backward")]:
                try:
                    ex.instruction_begin(kind)
                except ergon.ErgonError as e:
                    out[name] = err(e)
            ex.instruction_begin("forward")   # nothing advanced: the program still starts here
            try:
                ex.step_end()                 # incomplete iteration
            except ergon.ErgonError as e:
                out["incomplete"] = err(e)
        emit(**out)
        """,
        {"ERGON_STATE_DIR": str(state_dir), "FAKE_NVML_STATE": str(tmp_path / "fake-state")},
        fake_nvml,
    )
    assert got["plan_and_at"] == got["not_a_plan"] == "TypeError"
    assert got["bad_stage"]["status"] == "OUT_OF_RANGE", got
    assert got["unknown"]["status"] == "INVALID_ARGUMENT", got
    assert "sideways" in got["unknown"]["message"]
    assert got["out_of_order"]["status"] == "INVALID_STATE", got
    assert got["out_of_order"]["message"] != "(no message)"
    assert got["incomplete"]["status"] == "INVALID_STATE", got


def test_gpu_energy_window_at_200_w(fake_nvml: Path) -> None:
    got = run_child(
        """
        with gpu.EnergyMonitor(0) as mon:
            with mon.window("sleep") as m:
                time.sleep(0.1)
            mon.begin("manual")
            time.sleep(0.05)
            t2, e2 = mon.end("manual")
            try:
                mon.end("manual")
                twice = None
            except ergon.ErgonError as e:
                twice = err(e)
            # Names are passed as pointer and length: a NUL inside is part of the name.
            mon.begin("x\\0y")
            try:
                mon.end("x")
                prefix = None
            except ergon.ErgonError as e:
                prefix = err(e)
            whole = mon.end("x\\0y")
        emit(t=m.time_s, e=m.energy_j, p=m.power_w, t2=t2, e2=e2, twice=twice,
             closed=mon.closed, prefix=prefix, whole=list(whole))
        """,
        {"FAKE_NVML_ARCH": "ampere", "FAKE_NVML_POWER_W": "200"},
        fake_nvml,
    )
    assert 0.09 <= got["t"] < 2.0, got
    assert got["e"] == pytest.approx(200.0 * got["t"], rel=0.25, abs=2.0), got
    assert got["p"] == pytest.approx(200.0, rel=0.25, abs=20.0), got
    assert 0.045 <= got["t2"] < 2.0, got
    assert got["e2"] == pytest.approx(200.0 * got["t2"], rel=0.25, abs=2.0), got
    assert got["twice"]["status"] == "INVALID_STATE"
    assert got["prefix"]["status"] == "INVALID_STATE", got
    assert got["whole"][0] >= 0.0 and got["whole"][1] >= 0.0
    assert got["closed"]


def test_gpu_without_nvml_raises_nvml_unavailable() -> None:
    got = run_child(
        """
        out = {}
        for name, fn in [("count", gpu.count), ("info", lambda: gpu.info(0)),
                         ("monitor", lambda: gpu.EnergyMonitor(0))]:
            try:
                fn()
                out[name] = None
            except ergon.ErgonError as e:
                out[name] = err(e)
                out[name + "_is_status"] = e.status is ergon.Status.NVML_UNAVAILABLE
        emit(**out)
        """,
        {},
        None,
    )
    assert got["count"]["status"] == "NVML_UNAVAILABLE", got
    assert got["count_is_status"]
    assert "/nonexistent" in got["count"]["message"], got
    assert got["info"]["status"] == "NVML_UNAVAILABLE", got
    assert got["monitor"]["status"] == "NVML_UNAVAILABLE", got


def test_gpu_plan_from_json_and_set_plan_at_the_iteration_boundary(
    fake_nvml: Path, tmp_path: Path
) -> None:
    """A plan sent as JSON (as a planner rank does) drives an executor; a re-plan set within
    an iteration waits for its end; a CUDA ordinal names the GPU."""
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    log = tmp_path / "fake-log"
    got = run_child(
        f"""
        f = ergon.Frontier.from_profile_csv_text(
            {PROFILE_CSV!r}, stages=1, microbatches=1, unit_time_s=0.001, p_blocking_w=60.0)
        t_star, fastest = f.plan(), f.plan(at="fastest")
        sent = ergon.Plan.from_json(t_star.to_json(), at="t_star")
        out = {{"same": sent == t_star, "at": sent.at, "fastest": fastest.stages[0]}}
        with gpu.PlanExecutor("cuda:1", sent, 0) as ex:
            ex.instruction_begin("forward")
            ex.wait_applied()
            ex.set_plan(ergon.Plan.from_json(fastest.to_json()))   # within the iteration
            ex.instruction_begin("backward")                     # still the T* plan
            ex.wait_applied()
            ex.step_end()
            for kind, _ in fastest.stages[0]:
                ex.instruction_begin(kind)
                ex.wait_applied()
            ex.step_end()
            ex.wait_applied()
            try:
                ex.set_plan(sent, 3)
            except ergon.ErgonError as e:
                out["bad_stage"] = err(e)
        for bad in ['{{"schema":"ergon-plan/v1"}}', "[]", t_star.to_json().replace('"stage":0', '"stage":1')]:
            try:
                ergon.Plan.from_json(bad)
            except ergon.ErgonError as e:
                out.setdefault("bad", []).append(err(e))
        emit(**out)
        """,
        {
            "ERGON_STATE_DIR": str(state_dir),
            "FAKE_NVML_DEVICES": "2",
            "CUDA_VISIBLE_DEVICES": "1,0",
            "FAKE_NVML_LOG": str(log),
        },
        fake_nvml,
    )
    assert got["same"] and got["at"] == "t_star"
    assert got["bad_stage"]["status"] == "OUT_OF_RANGE", got
    assert [b["status"] for b in got["bad"]] == ["PARSE", "PARSE", "INVALID_PROBLEM"], got["bad"]
    assert "stages[0].stage" in got["bad"][2]["message"]
    locks = [
        line.split()[1:4]
        for line in log.read_text().splitlines()
        if line.startswith("nvmlDeviceSetGpuLockedClocks")
    ]
    fastest = [mhz for _, mhz in got["fastest"]]
    # cuda:1 under CUDA_VISIBLE_DEVICES=1,0 is NVML GPU 0; T*: 1200 then 1005; the fastest
    # plan from the next iteration on (its highest clock between iterations).
    want = [1410, 1200, 1005, max(fastest)]
    for mhz in fastest + [max(fastest)]:
        if mhz != want[-1]:
            want.append(mhz)
    assert locks == [["dev=0", f"min={m}", f"max={m}"] for m in want], locks


def test_gpu_sigterm_restores_the_gpu_without_python(fake_nvml: Path, tmp_path: Path) -> None:
    """A launcher's SIGTERM (which skips Python's atexit) leaves the GPU as it was: the
    library's own watcher thread restores, then the process ends by the signal."""
    state = tmp_path / "fake-state"
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    code = GPU_PRELUDE + textwrap.dedent(
        f"""
        f = ergon.Frontier.from_profile_csv_text(
            {PROFILE_CSV!r}, stages=1, microbatches=1, unit_time_s=0.001, p_blocking_w=60.0)
        ex = gpu.PlanExecutor("0", f, 0)
        ex.instruction_begin("forward")
        ex.wait_applied()
        print("locked " + open({str(state)!r}).read().strip(), flush=True)
        time.sleep(60)
        """
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FAKE_NVML_", "ERGON_NVML"))
    }
    env.update(
        ERGON_NVML_LIBRARY=str(fake_nvml),
        FAKE_NVML_STATE=str(state),
        ERGON_STATE_DIR=str(state_dir),
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert "gpu_locked=1200:1200" in line, line
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM
    finally:
        child.kill()
    assert state.read_text().splitlines()[0] == default_state(0, 400)
