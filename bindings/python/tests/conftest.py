"""Shared fixtures: where the repository, the shared Perseus fixtures, the library and the CLI are.

The tests exercise the *installed* package (``pip install ./bindings/python``) against a built
``libergon.so``: ``$ERGON_LIBRARY`` names it (``scripts/test-python.sh`` sets it; when unset, the
first of ``target/debug/libergon.so`` and ``target/release/libergon.so`` that exists is used).
``$ERGON_CLI`` names the ``ergon`` binary the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

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


@pytest.fixture(scope="session")
def instance_4x8() -> Path:
    """The shared 4-stage × 8-microbatch fixture."""
    if not INSTANCE_4X8.is_file():
        pytest.fail(f"missing shared fixture {INSTANCE_4X8}")
    return INSTANCE_4X8


@pytest.fixture(scope="session")
def instance_2x4() -> Path:
    """The shared 2-stage × 4-microbatch fixture."""
    if not INSTANCE_2X4.is_file():
        pytest.fail(f"missing shared fixture {INSTANCE_2X4}")
    return INSTANCE_2X4


@pytest.fixture(scope="session")
def oracle_2x4() -> Path:
    """The lowtime oracle of the 2×4 fixture (after-filter order)."""
    if not ORACLE_2X4.is_file():
        pytest.fail(f"missing shared fixture {ORACLE_2X4}")
    return ORACLE_2X4


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
