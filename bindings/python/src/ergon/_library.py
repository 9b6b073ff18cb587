"""Loading ``libergon``: where it is looked up, the ABI version check, the declarations, and the
library's global calls (version, status text, live handle accounting).

The library is looked up, in order, at

1. ``$ERGON_LIBRARY`` (a path to the shared library) when that variable is set — and only there,
   so a wrong path is an error rather than a silent fallback;
2. the package directory: the ``libergon.so`` that ``pip install`` built and bundled next to
   ``__init__.py`` (``setup.py`` compiles it with cargo);
3. the system search path: ``ctypes.util.find_library("ergon")``, then the file name of this
   ABI version (``libergon.so.2``), then the plain file name (``dlopen`` honours
   ``LD_LIBRARY_PATH`` and ``ldconfig``).

The first candidate that loads is checked before anything is declared: its
``ergon_abi_version()`` must be :data:`~ergon._abi.ERGON_ABI_VERSION`. A library of another
version (or without that symbol) is refused with :class:`~ergon.LibraryVersionError`: calling
it through this package's declarations would pass arguments of the wrong shape.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from ctypes import c_uint32
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ._abi import ERGON_ABI_VERSION, PROTOTYPES
from ._errors import LibraryNotFoundError, LibraryVersionError

ENV_LIBRARY = "ERGON_LIBRARY"
"""Environment variable naming the shared library to load."""

if sys.platform == "darwin":
    LIBRARY_FILE = "libergon.dylib"
    VERSIONED_FILE = f"libergon.{ERGON_ABI_VERSION}.dylib"
elif sys.platform == "win32":
    LIBRARY_FILE = VERSIONED_FILE = "ergon.dll"
else:
    LIBRARY_FILE = "libergon.so"
    VERSIONED_FILE = f"libergon.so.{ERGON_ABI_VERSION}"  # the SONAME

_PACKAGE_DIRECTORY = "package directory"

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None


def _candidates() -> List[Tuple[str, str]]:
    """The places to try, in order, as ``(description, path or name)``."""
    env = os.environ.get(ENV_LIBRARY)
    if env:
        return [(f"${ENV_LIBRARY}", env)]
    found: List[Tuple[str, str]] = [
        (_PACKAGE_DIRECTORY, str(Path(__file__).resolve().parent / LIBRARY_FILE))
    ]
    system = ctypes.util.find_library("ergon")
    if system:
        found.append(("ctypes.util.find_library('ergon')", system))
    for name in dict.fromkeys((VERSIONED_FILE, LIBRARY_FILE)):
        found.append(("system search path", name))
    return found


def check_abi(cdll: ctypes.CDLL, path: str) -> None:
    """Refuses a library whose ``ergon_abi_version()`` is not this package's ABI version.

    Raises:
        LibraryVersionError: another version, or no ``ergon_abi_version`` symbol.
    """
    try:
        abi_version = cdll.ergon_abi_version
    except AttributeError:
        raise LibraryVersionError(path, None, ERGON_ABI_VERSION) from None
    abi_version.restype = c_uint32
    abi_version.argtypes = []
    found = int(abi_version())
    if found != ERGON_ABI_VERSION:
        raise LibraryVersionError(path, found, ERGON_ABI_VERSION)


def _declare(cdll: ctypes.CDLL, path: str) -> None:
    """Sets ``restype``/``argtypes`` of every function of the header (after :func:`check_abi`,
    so a missing symbol here means a broken build of the right version)."""
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise LibraryNotFoundError(
                f"libergon at {path} says ABI version {ERGON_ABI_VERSION} but has no symbol "
                f"{name}: a broken or partial build",
                [path],
            ) from None
        fn.restype = restype
        fn.argtypes = argtypes


def lib() -> ctypes.CDLL:
    """The loaded library with every prototype declared (loaded on first use, then cached).

    Raises:
        LibraryNotFoundError: no candidate could be loaded; the message lists what was tried.
        LibraryVersionError: the library loaded implements another ABI version.
    """
    cdll = _lib
    if cdll is not None:
        return cdll
    return _load()


def _load() -> ctypes.CDLL:
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            return _lib
        tried: List[str] = []
        for what, where in _candidates():
            if what == _PACKAGE_DIRECTORY and not os.path.exists(where):
                tried.append(f"{what}: {where} (no such file)")
                continue
            try:
                cdll = ctypes.CDLL(where)
            except OSError as e:
                tried.append(f"{what}: {where} ({e})")
                if what.startswith("$"):
                    break
                continue
            check_abi(cdll, where)
            _declare(cdll, where)
            _lib, _lib_path = cdll, where
            return cdll
        raise LibraryNotFoundError(
            f"cannot load the Ergon shared library ({LIBRARY_FILE}); reinstall the package with "
            "`pip install ./bindings/python` (it builds and bundles the library), or build it "
            f"with `cargo build -p ergon-ffi` and point ${ENV_LIBRARY} at "
            f"target/<profile>/{LIBRARY_FILE}, or install it on the system search path. "
            "Tried: " + "; ".join(tried),
            tried,
        )


def library_path() -> str:
    """Path (or name, for a system-wide library) of the loaded library; loads it if needed."""
    lib()
    assert _lib_path is not None
    return _lib_path


# --- global calls ------------------------------------------------------------------------------


def version() -> str:
    """The version of the loaded ``libergon`` (``ergon_version``), e.g. ``"0.1.0"``."""
    raw = lib().ergon_version()
    return raw.decode("utf-8") if raw else ""


def status_str(status: int) -> str:
    """The library's description of a status code (``ergon_status_str``)."""
    raw = lib().ergon_status_str(int(status))
    return raw.decode("utf-8") if raw else ""


# --- handle accounting (for tests and leak hunting) -------------------------------------------

HANDLE_KINDS = (
    "perseus_frontier",
    "perseus_plan",
    "dpk_workload",
    "dpk_result",
    "dpk_online",
    "orloj_batcher",
    "orloj_simulation",
    "chase_forecaster",
    "oobleck_templates",
    "oobleck_plan",
    "auxo_clusterer",
    "gpu_executor",
    "gpu_energy_monitor",
    "gpu_profiler",
    "zeus_power_limit_optimizer",
    "zeus_batch_size_optimizer",
)
"""Every kind of native handle, named as its C type without ``ergon_``."""

_live_lock = threading.Lock()
_live: Dict[str, int] = dict.fromkeys(HANDLE_KINDS, 0)


def track(kind: str, delta: int) -> None:
    """Counts handles made (+1) and freed (-1) by this package."""
    with _live_lock:
        _live[kind] += delta


def live_handles() -> Dict[str, int]:
    """Native handles this package made and has not freed yet, per kind (the C type's name
    without ``ergon_``, e.g. ``"perseus_frontier"``)."""
    with _live_lock:
        return dict(_live)
