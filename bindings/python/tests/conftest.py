"""Shared fixtures: where the repository, the shared Perseus fixtures, the library and the CLI are.

The tests exercise the *installed* package (``pip install ./bindings/python``) against a built
``libergon.so``: ``$ERGON_LIBRARY`` names it (``scripts/test-python.sh`` sets it; when unset, the
first of ``target/debug/libergon.so`` and ``target/release/libergon.so`` that exists is used).
``$ERGON_CLI`` names the ``ergon`` binary the same way.

Also the helpers the test modules share: :func:`fails`/:func:`raises` (an ``ErgonError`` of a
status whose message contains given parts), :func:`run_python` (a child interpreter) and
:func:`profile_csv_text` (profiles the fake GPU supports).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[3]
"""The repository root (this file is ``<repo>/bindings/python/tests/conftest.py``)."""

PERSEUS = Path(os.environ.get("ERGON_PERSEUS_DATA", REPO.parent / "shared" / "data" / "perseus"))
"""The shared Perseus fixtures (``<repo>/../shared/data/perseus``)."""

INSTANCE_4X8 = PERSEUS / "a100_s4_m8.instance.json"
INSTANCE_2X4 = PERSEUS / "a100_s2_m4.instance.json"
ORACLE_2X4 = PERSEUS / "a100_s2_m4.after_filter.frontier.json"


def _first_existing(*paths: Path) -> Optional[Path]:
    for p in paths:
        if p.is_file():
            return p
    return None


if not os.environ.get("ERGON_LIBRARY"):
    _lib = _first_existing(
        REPO / "target" / "debug" / "libergon.so", REPO / "target" / "release" / "libergon.so"
    )
    if _lib is not None:
        os.environ["ERGON_LIBRARY"] = str(_lib)

import ergon  # noqa: E402  (after ERGON_LIBRARY is settled)
from ergon import ErgonError, Status  # noqa: E402


@contextlib.contextmanager
def fails(status: Status, *parts: str) -> Iterator[Any]:
    """A block that must raise :class:`ergon.ErgonError` with ``status`` and a message containing
    every one of ``parts``; yields pytest's ``ExceptionInfo`` (its ``.value`` is the error)."""
    with pytest.raises(ErgonError) as info:
        yield info
    err = info.value
    assert err.status == status, f"{err!r}, expected {status.name}"
    assert isinstance(err.status, int) and err.status_name == status.name
    assert err.message and status.name in str(err)
    for part in parts:
        assert part in err.message, (part, err.message)


def raises(status: Status, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> ErgonError:
    """``fn(*args, **kwargs)`` must fail as :func:`fails` says (without parts); returns the
    error."""
    with fails(status) as info:
        fn(*args, **kwargs)
    error: ErgonError = info.value
    return error


def run_python(
    code: str, env: Dict[str, str], *, drop: Tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Runs ``code`` (dedented) in a child interpreter, in this environment without the
    variables whose names start with one of ``drop``, plus ``env``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**inherited, **env},
    )


GPU_PRELUDE = """
import json, sys, time
import ergon
from ergon import gpu
def emit(**kw):
    print("RESULT " + json.dumps(kw), flush=True)
def err(e):
    return {"status": e.status_name, "message": e.message}
"""
"""What every :func:`run_child` scenario starts with: ``emit(**result)`` and ``err(e)``."""


@pytest.fixture(scope="session")
def fake_nvml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``libnvidia-ml.so.1`` of the fake (``tests/fake-nvml``), built once per session."""
    if shutil.which(os.environ.get("CC", "cc")) is None or shutil.which("make") is None:
        pytest.skip("no C compiler or make to build the fake NVML")
    out = tmp_path_factory.mktemp("fake-nvml")
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(REPO / "tests" / "fake-nvml"),
            f"OUT={out}",
            f"{out}/libnvidia-ml.so.1",
        ],
        check=True,
    )
    lib = out / "libnvidia-ml.so.1"
    assert lib.is_file()
    return lib


def run_child(code: str, env: Dict[str, str], nvml: Optional[Path]) -> Dict[str, Any]:
    """Runs a GPU scenario: ``code`` after :data:`GPU_PRELUDE` in a child interpreter with NVML
    at ``nvml`` (``None``: none) and none of this process's ``FAKE_NVML_*``/``ERGON_NVML*``
    settings; returns what it ``emit``-ted (NVML state and the environment are process-global
    and read when NVML is loaded, hence a process per scenario)."""
    env = {"ERGON_NVML_LIBRARY": str(nvml) if nvml is not None else "/nonexistent", **env}
    proc = run_python(GPU_PRELUDE + textwrap.dedent(code), env, drop=("FAKE_NVML_", "ERGON_NVML"))
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout + proc.stderr
    result: Dict[str, Any] = json.loads(lines[0][len("RESULT ") :])
    return result


def profile_csv_text(stages: int) -> str:
    """A zeus profile CSV with the same profiles for each of ``stages`` stages, at clocks the fake
    Ampere GPU supports (210..=1410 MHz in 15 MHz steps): on one stage and one microbatch the T*
    plan runs the forward at 1200 MHz and the backward at 1005. The rows are those the framework
    jobs use (``frameworks/common.py``)."""
    from frameworks.common import profile_csv  # noqa: PLC0415

    return profile_csv(stages)


def pytest_report_header(config: Any) -> str:
    try:
        where = f"libergon {ergon.version()} from {ergon.library_path()}"
    except OSError as e:
        where = f"libergon not loadable: {e}"
    return f"ergon package at {Path(ergon.__file__).parent}; {where}"


@pytest.fixture(scope="session")
def cli() -> Path:
    """The ``ergon`` CLI binary: ``$ERGON_CLI``, else target/debug/ergon, else target/release."""
    env = os.environ.get("ERGON_CLI")
    path = (
        Path(env)
        if env
        else _first_existing(
            REPO / "target" / "debug" / "ergon", REPO / "target" / "release" / "ergon"
        )
    )
    if path is None or not path.is_file():
        pytest.fail(
            "the ergon CLI is needed to compare against: build it with "
            "`cargo build -p ergon-cli` or set $ERGON_CLI"
        )
    return path


def _shared_file(name: str, path: Path, doc: str) -> Any:
    """A session fixture ``name`` giving the shared fixture file ``path`` (failing, not
    skipping, when it is missing)."""

    def fixture() -> Path:
        if not path.is_file():
            pytest.fail(f"missing shared fixture {path}")
        return path

    fixture.__doc__ = doc
    return pytest.fixture(scope="session", name=name)(fixture)


instance_4x8 = _shared_file(
    "instance_4x8", INSTANCE_4X8, "The shared 4-stage × 8-microbatch fixture."
)
instance_2x4 = _shared_file(
    "instance_2x4", INSTANCE_2X4, "The shared 2-stage × 4-microbatch fixture."
)
oracle_2x4 = _shared_file(
    "oracle_2x4", ORACLE_2X4, "The lowtime oracle of the 2×4 fixture (after-filter order)."
)


@pytest.fixture(scope="session")
def instance_4x8_doc(instance_4x8: Path) -> Dict[str, Any]:
    """The 4×8 fixture as parsed JSON."""
    return json.loads(instance_4x8.read_text())


@pytest.fixture(scope="session")
def cli_4x8(
    cli: Path, instance_4x8: Path, tmp_path_factory: pytest.TempPathFactory
) -> Dict[str, Any]:
    """One run of ``ergon frontier --instance 4x8 --json --no-plot --plan-out DIR``: the parsed
    frontier JSON (key ``frontier``), its raw text (``text``) and the plans it wrote
    (``plan_fastest``, ``plan_t_star``)."""
    out = tmp_path_factory.mktemp("cli_plans")
    run = subprocess.run(
        [
            str(cli),
            "frontier",
            "--instance",
            str(instance_4x8),
            "--json",
            "--no-plot",
            "--plan-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return {
        "text": run.stdout,
        "frontier": json.loads(run.stdout),
        "plan_fastest": (out / "plan_fastest.json").read_text(),
        "plan_t_star": (out / "plan_t_star.json").read_text(),
    }


@pytest.fixture(scope="session")
def frontier_4x8(instance_4x8: Path) -> Iterator[ergon.Frontier]:
    """The 4×8 fixture, solved once for the session."""
    with ergon.Frontier.from_instance(instance_4x8) as f:
        f.solve()
        yield f


@pytest.fixture(scope="session")
def frontier_2x4(instance_2x4: Path) -> Iterator[ergon.Frontier]:
    """The 2×4 fixture, solved once for the session."""
    with ergon.Frontier.from_instance(instance_2x4) as f:
        f.solve()
        yield f


def _profiles_csv(doc: Dict[str, Any]) -> str:
    """A zeus profile CSV (``stage,instruction,frequency,time,energy``) with the instance's
    measurements, values written with ``repr`` so that they read back exactly."""
    lines = ["stage,instruction,frequency,time,energy"]
    for prof in doc["profiles"]:
        for o in prof["options"]:
            lines.append(
                f"{prof['stage']},{prof['kind']},{o['freq_mhz']},{o['time_s']!r},{o['energy_j']!r}"
            )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def profiles_csv() -> Callable[[Dict[str, Any]], str]:
    """Writes an instance's profiles as a zeus profile CSV (see ``_profiles_csv``)."""
    return _profiles_csv
