"""``ergon.gpu.Profiler`` against the fake NVML's power model (``FAKE_NVML_IDLE_W``).

Each scenario runs in a child interpreter (``run_child``). The computations are the fake's own
``fakeNvmlRun`` (``ctypes.CDLL`` of the library ``ERGON_NVML_LIBRARY`` names: the same
process-wide instance ergon loaded), whose duration and power follow the locked clock, so the
profile must follow the model; the model's values come from the fake's own formula
(``fakeNvmlBusySeconds``, ``fakeNvmlBusyPowerW``). Sleeps overshoot on a busy machine: times
are checked from below exactly and from above with a margin, energy as mean power.
"""

from __future__ import annotations

from pathlib import Path

from conftest import run_child

POWER_MODEL = {"FAKE_NVML_ARCH": "ampere", "FAKE_NVML_IDLE_W": "60", "FAKE_NVML_POWER_W": "300"}

FAKE_MODEL = """
import ctypes, os
fake = ctypes.CDLL(os.environ["ERGON_NVML_LIBRARY"])
fake.fakeNvmlRun.argtypes = [ctypes.c_uint, ctypes.c_double]
fake.fakeNvmlBusySeconds.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_double]
fake.fakeNvmlBusySeconds.restype = ctypes.c_double
fake.fakeNvmlBusyPowerW.argtypes = [ctypes.c_uint, ctypes.c_uint]
fake.fakeNvmlBusyPowerW.restype = ctypes.c_double
FORWARD_S, BACKWARD_S = 0.03, 0.06

def iteration(prof):
    for kind, seconds in (("forward", FORWARD_S), ("forward", FORWARD_S),
                          ("backward", BACKWARD_S), ("backward", BACKWARD_S)):
        prof.instruction_begin(kind)
        assert fake.fakeNvmlRun(0, seconds) == 0
        prof.instruction_end(kind)
    return prof.step_end()
"""


def env(tmp_path: Path) -> dict:
    state_dir = tmp_path / "ergon-state"
    state_dir.mkdir(mode=0o700)
    return {
        **POWER_MODEL,
        "FAKE_NVML_STATE": str(tmp_path / "fake-state"),
        "FAKE_NVML_LOG": str(tmp_path / "fake-log"),
        "ERGON_STATE_DIR": str(state_dir),
    }


def test_profiler_follows_the_power_model_and_gives_a_frontier(
    fake_nvml: Path, tmp_path: Path
) -> None:
    got = run_child(
        FAKE_MODEL
        + """
syncs = []
seen = []
with gpu.Profiler(0, stage=0, step_mhz=300, max_slowdown=1.4, blocking_window_s=0.3,
                  sync=lambda: syncs.append(1), progress=seen.append) as prof:
    first = prof.progress
    assert prof.p_blocking_w is None
    iterations = 1
    while not iteration(prof):
        iterations += 1
        assert iterations < 20
    csv = prof.to_csv()
    p_blocking = prof.p_blocking_w
    done = prof.done
    try:
        prof.instruction_begin("forward")
        after = None
    except ergon.ErgonError as e:
        after = err(e)
model = {f: {"forward": fake.fakeNvmlBusySeconds(0, f, FORWARD_S),
             "backward": fake.fakeNvmlBusySeconds(0, f, BACKWARD_S),
             "power_w": fake.fakeNvmlBusyPowerW(0, f)} for f in (1410, 1110, 810)}
# One stage as two: the same measurements for stage 1 make a 2-stage pipeline profile.
stage1 = "\\n".join(("1" + l[1:]) if l.startswith("0,") else l for l in csv.splitlines())
merged = ergon.perseus.merge_profile_csv([csv, stage1])
f = ergon.Frontier.from_profile_csv_text(
    merged, stages=2, microbatches=2, unit_time_s=0.001, p_blocking_w=p_blocking)
f.solve()
try:
    ergon.perseus.merge_profile_csv([csv, csv])
    dup = None
except ergon.ErgonError as e:
    dup = err(e)
emit(first=list(first), iterations=iterations, syncs=len(syncs), seen=[list(p) for p in seen],
     csv=csv, p_blocking=p_blocking, done=done, after=after, model=model, points=len(f.points),
     dup=dup, closed=prof.closed)
""",
        env(tmp_path),
        fake_nvml,
    )
    # 1410 MHz first, 5 candidates (1410, 1110, 810, 510, 210), 15 iterations at most.
    assert got["first"][:6] == [1410, 0, 5, True, 15, None]
    assert got["iterations"] == 9 and got["syncs"] == 6 * 8 + 1
    assert len(got["seen"]) == 9 and got["seen"][-1][6] is True
    assert all(p[5] is not None and p[5] >= 0 for p in got["seen"])
    assert got["done"] and got["closed"]
    assert got["after"]["status"] == "INVALID_STATE"
    assert abs(got["p_blocking"] - 60.0) < 3.0
    lines = got["csv"].splitlines()
    assert lines[0] == "stage,instruction,frequency,time,energy"
    rows = [line.split(",") for line in lines[1:]]
    assert [(r[1], int(r[2])) for r in rows] == [
        (k, f) for f in (1410, 1110, 810) for k in ("forward", "backward")
    ]
    for stage, kind, freq, time_s, energy_j in rows:
        model = got["model"][freq]
        t, e = float(time_s), float(energy_j)
        assert stage == "0"
        assert model[kind] * 0.99 <= t <= model[kind] * 1.3 + 0.01, (kind, freq, t, model)
        assert abs(e / t - model["power_w"]) <= 0.08 * model["power_w"], (kind, freq, e / t)
    # The frontier of the measured profile has more than one point.
    assert got["points"] > 1
    assert got["dup"]["status"] == "INVALID_PROBLEM" and "appears twice" in got["dup"]["message"]
    # Restored: the clocks were locked in order and are unlocked now.
    log = (tmp_path / "fake-log").read_text().splitlines()
    locks = [line for line in log if line.startswith("nvmlDeviceSetGpuLockedClocks")]
    assert [line.split()[2] for line in locks] == ["min=1410", "min=1110", "min=810"]
    state = (tmp_path / "fake-state").read_text()
    assert "gpu_locked=none mem_locked=none power_limit_mw=400000" in state


def test_profiler_misuse_sync_errors_and_close_restores(fake_nvml: Path, tmp_path: Path) -> None:
    got = run_child(
        FAKE_MODEL
        + """
def failing_sync():
    raise RuntimeError("sync failed")

errors = {}
def attempt(name, fn):
    try:
        fn()
        errors[name] = None
    except ergon.ErgonError as e:
        errors[name] = err(e)
    except Exception as e:
        errors[name] = {"status": type(e).__name__, "message": str(e)}

prof = gpu.Profiler("0", 2, warmup_iters=0, sync=failing_sync, blocking_window_s=0.1)
attempt("end_first", lambda: prof.instruction_end("forward"))
attempt("comma", lambda: prof.instruction_begin("a,b"))
attempt("sync", lambda: prof.instruction_begin("forward"))  # opened; the sync's error raised
attempt("twice", lambda: prof.instruction_begin("backward"))
attempt("step_open", prof.step_end)
during = open(os.environ["FAKE_NVML_STATE"]).read()
r = repr(prof)
prof.close()
attempt("closed", lambda: prof.instruction_end("forward"))
attempt("bad_sync", lambda: gpu.Profiler(0, sync="nope"))
attempt("bad_option", lambda: gpu.Profiler(0, iters_per_clock=0))
attempt("high", lambda: gpu.Profiler(0, min_mhz=5000))
try:
    import torch  # noqa: F401 - only to know whether sync="cuda" can be tried here
    cpu_only_torch = not torch.cuda.is_available()
except ImportError:
    cpu_only_torch = False
if cpu_only_torch:
    attempt("cuda", lambda: gpu.Profiler(0, sync="cuda"))
emit(errors=errors, during=during, after=open(os.environ["FAKE_NVML_STATE"]).read(), repr=r)
""",
        env(tmp_path),
        fake_nvml,
    )
    e = got["errors"]
    assert e["end_first"]["status"] == "INVALID_STATE"
    assert "without an instruction_begin" in e["end_first"]["message"]
    assert e["comma"]["status"] == "INVALID_ARGUMENT" and "comma" in e["comma"]["message"]
    assert e["sync"] == {"status": "RuntimeError", "message": "sync failed"}
    assert e["twice"]["status"] == "INVALID_STATE" and "still open" in e["twice"]["message"]
    assert e["step_open"]["status"] == "INVALID_STATE"
    assert e["closed"]["status"] == "INVALID_STATE"
    assert "profiler is closed" in e["closed"]["message"]
    assert e["bad_sync"]["status"] == "TypeError"
    assert e["bad_option"]["status"] == "INVALID_ARGUMENT"
    assert "iters_per_clock" in e["bad_option"]["message"]
    assert e["high"]["status"] == "INVALID_ARGUMENT" and "min_mhz = 5000" in e["high"]["message"]
    if "cuda" in e:  # torch without a CUDA device: a clear refusal, nothing changed
        assert e["cuda"]["status"] == "INVALID_ARGUMENT" and "CUDA" in e["cuda"]["message"]
    assert "gpu_locked=1410:1410" in got["during"]
    assert "gpu_locked=none mem_locked=none power_limit_mw=400000" in got["after"]
    assert got["repr"] == "<ergon.gpu.Profiler device='0' stage=2 (profiling)>"
