"""Builds the ``ergon`` Python package with the native parts inside it.

setuptools-rust runs cargo for two crates of the Ergon workspace and puts their artifacts in the
wheel, so that ``pip install ./bindings/python`` is the whole install:

- ``libergon`` (crate ``ergon-ffi``, a cdylib with no Python bindings: the package loads it with
  ctypes) goes next to ``ergon/__init__.py``, under the file name ``ergon._library`` looks for;
- the ``ergon`` command (crate ``ergon-cli``) goes to the environment's scripts (``bin/``).

Where the Rust sources are: the workspace two levels up (a checkout), or ``rust/`` beside this
file (an sdist, which carries a copy of the workspace crates because cargo path dependencies
outside the project directory cannot be packed otherwise; see :class:`SdistWithWorkspace`).

The package version is the workspace's (``[workspace.package] version`` of its Cargo.toml); the
build stops if ``ergon.__version__`` says otherwise. The cargo profile is ``release`` unless
``SETUPTOOLS_RUST_CARGO_PROFILE`` names another (CI builds ``dev`` to reuse its debug build);
``CARGO_TARGET_DIR`` is honoured by cargo itself (default: the workspace's ``target/``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List, Tuple

from setuptools import setup
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustBin, RustExtension
from setuptools_rust.build import build_rust

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
BUNDLED = "rust"
"""Where an sdist keeps its copy of the workspace (relative to this file)."""

WORKSPACE = HERE / BUNDLED if (HERE / BUNDLED / "Cargo.toml").is_file() else HERE.parent.parent
"""The Cargo workspace the native parts are built from."""

WORKSPACE_FILES = ("Cargo.toml", "Cargo.lock")
CRATES = ("core", "ffi", "hwctl", "cli", "cli-support", "experiments", "plot")
"""Every member of the workspace (cargo refuses a workspace with a member missing); fuzz/ is
excluded from it and not needed."""

if sys.platform == "darwin":
    LIBRARY_FILE = "libergon.dylib"
elif sys.platform == "win32":
    LIBRARY_FILE = "ergon.dll"
else:
    LIBRARY_FILE = "libergon.so"
# The same names as ergon/_library.py's LIBRARY_FILE (that module cannot be imported here: the
# build environment need not be able to import the package).


def workspace_version() -> str:
    """``[workspace.package] version`` of the workspace's Cargo.toml: the one version number."""
    with open(WORKSPACE / "Cargo.toml", "rb") as f:
        manifest = tomllib.load(f)
    try:
        return str(manifest["workspace"]["package"]["version"])
    except KeyError:
        raise SystemExit(f"{WORKSPACE / 'Cargo.toml'} has no [workspace.package] version") from None


def checked_version() -> str:
    """The workspace version, after checking that ``ergon.__version__`` is the same."""
    version = workspace_version()
    init = (HERE / "src" / "ergon" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"$', init, re.MULTILINE)
    if found is None or found.group(1) != version:
        raise SystemExit(
            f"src/ergon/__init__.py says __version__ = {found.group(1) if found else None!r} but "
            f"the Cargo workspace ({WORKSPACE / 'Cargo.toml'}) is version {version!r}: "
            "set __version__ to the crate version"
        )
    return version


class BuildRustNamed(build_rust):
    """Puts the cdylib in the package as ``libergon.so`` (``.dylib``, ``.dll``) instead of the
    Python extension-module name (``libergon.cpython-311-x86_64-linux-gnu.so``) setuptools-rust
    gives it: it is not an extension module, and ``ergon._library`` (and any other program that
    dlopens it) looks for the library's own name."""

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        path = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(path), LIBRARY_FILE)


class BdistWheelAnyPython(bdist_wheel):
    """Tags the wheel ``py3-none-<platform>``: it holds native code for one platform (so never
    ``py3-none-any``), but none of it is built against a Python version or ABI (the library is
    loaded with ctypes), so one wheel serves every Python 3."""

    def get_tag(self) -> Tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


def tracked_files(root: Path, paths: Iterable[str]) -> List[str]:
    """Files under ``paths`` (relative to ``root``): those git tracks in a checkout, else every
    file but build outputs (an unpacked sdist has no git)."""
    paths = list(paths)
    if (root / ".git").exists():
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--", *paths],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout
        return [p for p in out.decode("utf-8").split("\0") if p]
    found: List[str] = []
    for p in paths:
        top = root / p
        if top.is_file():
            found.append(p)
            continue
        for f in sorted(top.rglob("*")):
            rel = f.relative_to(root)
            if f.is_file() and "target" not in rel.parts and "__pycache__" not in rel.parts:
                found.append(rel.as_posix())
    return found


class SdistWithWorkspace(sdist):
    """Adds the Rust sources to the sdist under ``rust/``: the workspace manifest and lock file
    and every member crate (as git tracks them), so that the sdist builds on a machine with cargo
    and nothing else. setuptools packs only files below this directory, and the crates are two
    levels up; setuptools-rust leaves path dependencies out (PyO3/setuptools-rust#507)."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        # From an unpacked sdist, WORKSPACE is its rust/ already: the copy is copied again.
        for name in tracked_files(WORKSPACE, WORKSPACE_FILES + CRATES):
            dest = Path(base_dir) / BUNDLED / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(WORKSPACE / name, dest)


setup(
    version=checked_version(),
    rust_extensions=[
        RustExtension(
            "ergon.libergon",
            path=str(WORKSPACE / "ffi" / "Cargo.toml"),
            binding=Binding.NoBinding,
            args=["--locked"],
            py_limited_api=False,
        ),
        RustBin("ergon", path=str(WORKSPACE / "cli" / "Cargo.toml"), args=["--locked"]),
    ],
    cmdclass={
        "build_rust": BuildRustNamed,
        "bdist_wheel": BdistWheelAnyPython,
        "sdist": SdistWithWorkspace,
    },
    zip_safe=False,
)
