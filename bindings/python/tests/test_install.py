"""The package as ``pip install ./bindings/python`` leaves it: the library it bundles is found
first and ``$ERGON_LIBRARY`` still overrides it, the ``ergon`` command is installed beside the
interpreter, and one version runs through everything (the Cargo workspace's version is the
package's ``__version__``, the library's ``ergon_version()`` and the command's ``--version``;
the library implements ABI version 2).

Run from a source tree (no pip install), the bundled library and the command are missing: those
tests skip, unless ``$ERGON_EXPECT_INSTALLED`` is set (``scripts/test-python.sh`` sets it after
installing the wheel it built), which turns the skip into a failure.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from conftest import REPO, run_python

import ergon
from ergon._library import LIBRARY_FILE, lib

BUNDLED = Path(ergon.__file__).resolve().parent / LIBRARY_FILE
"""Where ``pip install`` puts the library: next to the package's ``__init__.py``."""

ERGON_COMMAND = Path(sysconfig.get_path("scripts")) / "ergon"
"""Where ``pip install`` puts the ``ergon`` command: the environment's scripts (``bin/``)."""


def _installed(path: Path) -> Path:
    if not path.is_file():
        message = f"{path} is missing: the package was not installed by pip from bindings/python"
        if os.environ.get("ERGON_EXPECT_INSTALLED"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _workspace_version() -> str:
    manifest = (REPO / "Cargo.toml").read_text(encoding="utf-8")
    section = manifest.split("[workspace.package]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', section, re.MULTILINE)
    assert found, "no version in [workspace.package] of Cargo.toml"
    return found.group(1)


def test_package_version_is_the_crate_version() -> None:
    assert ergon.__version__ == _workspace_version()
    _installed(BUNDLED)
    assert importlib.metadata.version("ergon") == ergon.__version__


def test_library_version_and_abi_match_the_package() -> None:
    assert ergon.version() == ergon.__version__
    assert ergon.ABI_VERSION == 2
    assert lib().ergon_abi_version() == ergon.ABI_VERSION


def test_bundled_library_is_found_first(instance_2x4: Path) -> None:
    bundled = _installed(BUNDLED)
    code = f"""
        import ergon
        with ergon.Frontier.from_instance({str(instance_2x4)!r}) as f:
            print("POINTS", len(f.points))
        print("PATH", ergon.library_path())
        print("VERSION", ergon.version())
    """
    run = run_python(code, {"ERGON_LIBRARY": ""})
    assert run.returncode == 0, run.stderr
    assert f"PATH {bundled}" in run.stdout.splitlines()
    assert f"VERSION {ergon.__version__}" in run.stdout.splitlines()
    points = int(run.stdout.split("POINTS ", 1)[1].split()[0])
    assert points > 1


def test_environment_variable_overrides_the_bundled_library(tmp_path: Path) -> None:
    _installed(BUNDLED)
    other = tmp_path / LIBRARY_FILE
    shutil.copy(ergon.library_path(), other)
    code = "import ergon; print('PATH', ergon.library_path())"
    run = run_python(code, {"ERGON_LIBRARY": str(other)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"PATH {other}"


def test_ergon_command_is_installed() -> None:
    command = _installed(ERGON_COMMAND)
    help_run = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert help_run.returncode == 0, help_run.stderr
    for system in ("perseus", "dpk", "orloj", "gpu"):
        assert system in help_run.stdout
    version_run = subprocess.run(
        [str(command), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version_run.returncode == 0, version_run.stderr
    assert version_run.stdout.strip() == f"ergon {ergon.__version__}"
