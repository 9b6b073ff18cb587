"""Ergon from Python: one module per system, as in every other layer of Ergon.

A Python package that drives ``libergon.so`` (the C ABI of ``include/ergon.h``) through
ctypes; ``pip install`` compiles the library and bundles it in the package, and installs the
``ergon`` command beside the interpreter. The modules are named after the systems, like the C
functions (``ergon_<system>_*``), the Rust modules, the C++ namespaces and the CLI subcommands:

- :mod:`ergon.perseus`: iteration-time/energy frontiers and frequency plans (:class:`Frontier`,
  :class:`Plan`..., also available here at top level);
- :mod:`ergon.dpk`: privacy-budget scheduling (DPack);
- :mod:`ergon.orloj`: the Orloj batcher of a model server and its serving simulator;
- :mod:`ergon.zeus`: Zeus's just-in-time GPU power-limit optimizer;
- :mod:`ergon.chase`: the carbon-intensity forecaster of carbon-aware (Chase) control;
- :mod:`ergon.oobleck`: Oobleck pipeline templates, f+1 instantiation and reconfiguration;
- :mod:`ergon.auxo`: Auxo's cohort clusterer for federated learning (and, in
  :mod:`ergon.hooks.flower`, a Flower strategy with one model per cohort);
- :mod:`ergon.gpu`: GPU control through NVML (listing GPUs, executing a plan, measuring energy);
- :mod:`ergon.hooks`: DeepSpeed and Megatron hooks that apply a plan while a job trains.

The library is loaded on first use from ``$ERGON_LIBRARY`` if set, else from the package
directory (the bundled one), else from the system search path (see :func:`library_path`), and
refused (:class:`LibraryVersionError`) unless its ``ergon_abi_version()`` is :data:`ABI_VERSION`::

    import ergon

    with ergon.Frontier.from_instance("a100_s4_m8.instance.json") as f:
        print(f.t_min_s, f.t_star_s, len(f.points))     # solves on first access
        plan = f.plan()                                  # at T*; or at="fastest", deadline_s=...
        for stage, program in enumerate(plan.stages):
            print(stage, program[:3])                    # [("forward", 1410), ...]

Every failure raises :class:`ErgonError` with the library's :class:`Status` and message.
"""

from __future__ import annotations

from . import auxo, chase, dpk, gpu, oobleck, orloj, perseus, zeus
from ._abi import ERGON_ABI_VERSION
from ._errors import ErgonError, LibraryNotFoundError, LibraryVersionError, Status
from ._library import library_path, live_handles, status_str, version
from .perseus import Frontier, Instruction, Plan, Point, Summary

__version__ = "0.2.0"
"""Version of this Python package: the Cargo workspace's, which is also the library's
(:func:`version`). ``setup.py`` refuses to build when the two differ, and the tests check it
against the loaded library."""

ABI_VERSION = ERGON_ABI_VERSION
"""The C ABI version (``ERGON_ABI_VERSION`` of ``ergon.h``) this package was written for; a
library whose ``ergon_abi_version()`` differs is refused."""

__all__ = [
    "ABI_VERSION",
    "ErgonError",
    "Frontier",
    "Instruction",
    "LibraryNotFoundError",
    "LibraryVersionError",
    "Plan",
    "Point",
    "Status",
    "Summary",
    "__version__",
    "auxo",
    "chase",
    "dpk",
    "gpu",
    "zeus",
    "library_path",
    "live_handles",
    "oobleck",
    "orloj",
    "perseus",
    "status_str",
    "version",
]
