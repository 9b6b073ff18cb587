"""``ergon.zeus.PowerLimitOptimizer`` against the fake NVML (``tests/fake-nvml``).

The fake A100 allows 100–400 W and starts at 300 W with persistence off; every GPU draws
``FAKE_NVML_POWER_W`` = 250 W capped by its limit. With the candidates 150 W apart (400, 250,
100 W) and 20 ms steps, 100 W draws the least energy (100 W × 40 ms against 250 W × 40 ms per
window) and must be chosen by the energy selector and by the Zeus cost with η = 0.9 (see
``test_the_zeus_cost_and_max_slowdown_selectors``). Each scenario runs in a child interpreter
(NVML state is per process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict

from conftest import GPU_PRELUDE, run_child

INITIAL = "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0"

SMALL = "wait_steps=0, warmup_steps=1, profile_steps=2, pl_step_w=150"


def env(tmp_path: Path) -> Dict[str, str]:
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700, exist_ok=True)
    state = tmp_path / "fake-state"
    if not state.exists():
        state.write_text(INITIAL + "\n")
    return {
        "FAKE_NVML_POWER_W": "250",
        "FAKE_NVML_STATE": str(state),
        "FAKE_NVML_LOG": str(tmp_path / "fake-log"),
        "ERGON_STATE_DIR": str(state_dir),
    }


def limit_sets(tmp_path: Path) -> list:
    """The limits the fake was set to, in order, W."""
    log = (tmp_path / "fake-log").read_text().splitlines()
    return [
        int(line.split("limit_mw=")[1].split()[0]) // 1000
        for line in log
        if line.startswith("nvmlDeviceSetPowerManagementLimit")
    ]


RUN = f"""
from ergon.zeus import PowerLimitOptimizer
syncs = []
plo = PowerLimitOptimizer(0, selector="energy", {SMALL}, sync=lambda: syncs.append(1),
                          aggregate=None, profile_path=PROFILE)
first = plo.state
steps = 0
while plo.optimal_limit_w is None and steps < 50:
    plo.on_epoch_begin()
    plo.on_step_begin()
    time.sleep(0.02)
    plo.on_step_end()
    steps += 1
held = open(os.environ["FAKE_NVML_STATE"]).read().strip()
profile = plo.profile
state = plo.state
plo.close()
try:
    plo.on_step_begin()
    after = None
except ergon.ErgonError as e:
    after = err(e)
emit(first=first._asdict(), steps=steps, optimum=state.optimal_limit_w, state=state._asdict(),
     syncs=len(syncs), held=held, profile=[m["power_limit_mw"] for m in profile], after=after,
     repr=repr(plo))
"""


def test_a_run_profiles_each_limit_chooses_and_restores(fake_nvml: Path, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    code = "import os\nPROFILE = " + repr(str(profile)) + "\n" + RUN
    got = run_child(code, env(tmp_path), fake_nvml)
    assert got["first"] == {
        "phase": "ready",
        "limit_w": 400.0,
        "steps_left": 1,
        "optimal_limit_w": None,
        "profiled": 0,
        "candidates": 3,
    }
    # One step sets 400 W, then 3 limits × (1 warm-up + 2 measured) steps.
    assert got["steps"] == 10
    assert got["optimum"] == 100.0
    assert got["state"]["phase"] == "done"
    assert got["profile"] == [400000, 250000, 100000]
    assert got["syncs"] == 6  # before every window opens and closes
    assert "power_limit_mw=100000 persistence=1" in got["held"]
    assert got["after"]["status"] == "INVALID_STATE"
    assert "closed" in got["repr"]
    # The fake saw the maximum, each candidate, then the restore of the original 300 W.
    assert limit_sets(tmp_path) == [400, 250, 100, 300]
    assert (tmp_path / "fake-state").read_text().splitlines()[0] == INITIAL
    assert profile.read_text().startswith('{"schema":"zeus-power-profile/v1"')

    # A second job with the saved profile skips profiling: done at once, 100 W applied.
    (tmp_path / "fake-log").unlink()
    again = run_child(code, env(tmp_path), fake_nvml)
    assert again["first"]["phase"] == "done" and again["first"]["optimal_limit_w"] == 100.0
    assert again["steps"] == 0
    assert limit_sets(tmp_path) == [100, 300]


def test_bad_options_and_a_failing_callback(fake_nvml: Path, tmp_path: Path) -> None:
    got = run_child(
        f"""
        import os
        from ergon.zeus import PowerLimitOptimizer
        out = {{}}
        def attempt(name, **kw):
            try:
                PowerLimitOptimizer(0, **kw).close()
                out[name] = None
            except ergon.ErgonError as e:
                out[name] = err(e)
        attempt("eta", eta=1.5)
        attempt("selector", selector="fastest")
        attempt("profile_steps", profile_steps=0)
        attempt("slowdown", selector="max-slowdown", max_slowdown=0.5)
        try:
            PowerLimitOptimizer([])
        except ergon.ErgonError as e:
            out["none"] = err(e)
        def raised(plo):
            # The callback's exception, raised by the step that ran it.
            try:
                for _ in range(5):
                    plo.on_step_begin()
            except (RuntimeError, ValueError) as e:
                return str(e)
        def boom():
            raise RuntimeError("sync exploded")
        plo = PowerLimitOptimizer(0, {SMALL}, sync=boom, aggregate=None)
        out["sync"] = raised(plo)
        plo.close()
        def bad_aggregate(e, t):
            raise ValueError("all_reduce timed out")
        plo2 = PowerLimitOptimizer(0, {SMALL}, sync=None, aggregate=bad_aggregate)
        out["aggregate"] = raised(plo2)
        out["stopped"] = plo2.state.phase
        out["held"] = open(os.environ["FAKE_NVML_STATE"]).read().strip()
        plo2.close()
        emit(**out)
        """,
        env(tmp_path),
        fake_nvml,
    )
    assert got["eta"]["status"] == "INVALID_ARGUMENT" and "eta" in got["eta"]["message"]
    assert got["selector"]["status"] == "INVALID_ARGUMENT"
    assert "zeus-cost, energy, time, max-slowdown" in got["selector"]["message"]
    assert "profile_steps" in got["profile_steps"]["message"]
    assert "max_slowdown" in got["slowdown"]["message"]
    assert got["none"] == {
        "status": "INVALID_ARGUMENT",
        "message": "ergon_zeus_power_limit_optimizer_new: the power-limit optimizer needs at least one GPU",
    }
    assert got["sync"] == "sync exploded"
    assert got["aggregate"] == "all_reduce timed out"
    assert got["stopped"] == "stopped"
    # The failed aggregate restored the GPU at once.
    assert got["held"] == INITIAL
    assert (tmp_path / "fake-state").read_text().splitlines()[0] == INITIAL


def test_sigterm_restores_the_power_limit(fake_nvml: Path, tmp_path: Path) -> None:
    """A launcher's SIGTERM (which skips Python's atexit) restores the limit and persistence
    mode through the library's watcher thread."""
    e = env(tmp_path)
    code = GPU_PRELUDE + textwrap.dedent(
        f"""
        import os
        from ergon.zeus import PowerLimitOptimizer
        plo = PowerLimitOptimizer(0, {SMALL}, aggregate=None)
        plo.on_step_begin()
        plo.on_step_begin()
        print("set " + open(os.environ["FAKE_NVML_STATE"]).read().strip(), flush=True)
        time.sleep(60)
        """
    )
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FAKE_NVML_", "ERGON_NVML"))
    }
    child_env.update(e, ERGON_NVML_LIBRARY=str(fake_nvml))
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=child_env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert "power_limit_mw=400000 persistence=1" in line, line
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM
    finally:
        child.kill()
    assert (tmp_path / "fake-state").read_text().splitlines()[0] == INITIAL


# η = 0.9: cost = T·(0.9·P + 0.1·400), 265·T at 400 and 250 W against 130·T at 100 W, a margin
# that a loaded machine's noisy step times cannot close; a slowdown of 3 allows every limit (the
# times are equal), so the lowest is chosen.
def test_the_zeus_cost_and_max_slowdown_selectors(fake_nvml: Path, tmp_path: Path) -> None:
    got = run_child(
        f"""
        from ergon.zeus import PowerLimitOptimizer
        optima = []
        for selector in ("zeus-cost", "max-slowdown"):
            with PowerLimitOptimizer(0, 0.9, {SMALL}, selector=selector, max_slowdown=3.0,
                                     aggregate=None) as plo:
                while plo.optimal_limit_w is None:
                    plo.on_step_begin()
                    time.sleep(0.02)
                optima.append(plo.optimal_limit_w)
        emit(optima=optima)
        """,
        env(tmp_path),
        fake_nvml,
    )
    assert got["optima"] == [100.0, 100.0]
