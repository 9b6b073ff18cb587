"""Ergon from Python: Perseus iteration-time/energy frontiers and frequency plans.

A pure-Python package that drives ``libergon.so`` (the C ABI of ``include/ergon.h``) through
ctypes. The library is loaded on first use from ``$ERGON_LIBRARY`` if set, else from the package
directory, else from the system search path (see :func:`library_path`)::

    import ergon

    with ergon.Frontier.from_instance("a100_s4_m8.instance.json") as f:
        print(f.t_min_s, f.t_star_s, len(f.points))     # solves on first access
        plan = f.plan()                                  # at T*; or at="fastest", deadline_s=...
        for stage, program in enumerate(plan.stages):
            print(stage, program[:3])                    # [("forward", 1410), ...]

Every failure raises :class:`ErgonError` with the library's :class:`Status` and message.

GPU control through NVML (listing GPUs, executing a plan, measuring energy) is in
:mod:`ergon.gpu`; privacy-budget scheduling (DPK) in :mod:`ergon.dpk`; the Orloj batcher of a
model server and its serving simulator are in :mod:`ergon.batching`.
"""

from __future__ import annotations

from . import batching, dpk, gpu
from ._errors import ErgonError, LibraryNotFoundError, Status
from ._frontier import Frontier, Instruction, Plan, Point, Summary, status_str, version
from ._native import ERGON_ABI_VERSION, library_path, live_handles

__version__ = "0.1.0"
"""Version of this Python package (the library's is :func:`version`)."""

ABI_VERSION = ERGON_ABI_VERSION
"""The C ABI version (``ERGON_ABI_VERSION`` of ``ergon.h``) this package was written for."""

__all__ = [
    "ABI_VERSION",
    "ErgonError",
    "Frontier",
    "Instruction",
    "LibraryNotFoundError",
    "Plan",
    "Point",
    "Status",
    "Summary",
    "__version__",
    "batching",
    "dpk",
    "gpu",
    "library_path",
    "live_handles",
    "status_str",
    "version",
]
