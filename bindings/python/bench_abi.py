#!/usr/bin/env python3
"""Micro-benchmark of calling libergon through ctypes: the cost of one trivial ABI call from
Python (reading one point with ``ergon_perseus_frontier_point``) and of the package's wrappers, e.g.
``Frontier.points`` for a whole frontier.

Each case is timed with ``timeit``: the number of calls per repeat is chosen so that a repeat
takes about 0.2 s, and the median over ``--repeat`` repeats is printed as ns per call.

    python bindings/python/bench_abi.py --library target/release/libergon.so

The library is found as the package finds it (``--library`` sets ``$ERGON_LIBRARY``). The
instance defaults to the shared 4×8 fixture (``<repo>/../shared/data/perseus``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import timeit
from ctypes import byref
from pathlib import Path
from typing import Callable, List, Tuple

HERE = Path(__file__).resolve().parent
DEFAULT_INSTANCE = (
    HERE.parents[1].parent / "shared" / "data" / "perseus" / "a100_s4_m8.instance.json"
)


def measure(fn: Callable[[], object], repeat: int) -> Tuple[float, int]:
    """Median seconds per call over ``repeat`` repeats, and the calls per repeat."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()  # at least 0.2 s per repeat
    times = timer.repeat(repeat=repeat, number=number)
    return statistics.median(times) / number, number


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", help="path to libergon.so (sets $ERGON_LIBRARY)")
    ap.add_argument("--instance", default=str(DEFAULT_INSTANCE), help="perseus-instance/v1 file")
    ap.add_argument("--repeat", type=int, default=7, help="repeats; the median is reported")
    args = ap.parse_args(argv)
    if args.library:
        os.environ["ERGON_LIBRARY"] = str(Path(args.library).resolve())

    import ergon
    from ergon import _abi as A
    from ergon._library import lib as load

    lib = load()
    f = ergon.Frontier.from_instance(args.instance).solve()
    n = f.num_points
    ptr = f._h.ptr  # the raw handle, for the bare ctypes calls
    point = A.ergon_perseus_point()
    point_ref = byref(point)
    fn_point = lib.ergon_perseus_frontier_point
    fn_version = lib.ergon_version
    assert fn_point(ptr, 0, point_ref) == 0

    # The same symbol without declared argtypes: what ctypes' argument conversion costs. (The
    # package always declares them; this is for comparison only.)
    import ctypes

    bare = ctypes.CDLL(ergon.library_path()).ergon_perseus_frontier_point
    bare.restype = ctypes.c_int32
    bare_handle = ctypes.c_void_p(ctypes.cast(ptr, ctypes.c_void_p).value)
    bare_index = ctypes.c_size_t(0)
    assert bare(bare_handle, bare_index, point_ref) == 0

    cases: List[Tuple[str, Callable[[], object], int]] = [
        ("ctypes: ergon_version() (no arguments)", fn_version, 1),
        ("ctypes: ergon_perseus_frontier_point(h, 0, &pt)", lambda: fn_point(ptr, 0, point_ref), 1),
        (
            "  same, no argtypes (pre-converted arguments)",
            lambda: bare(bare_handle, bare_index, point_ref),
            1,
        ),
        (
            "ctypes: ergon_perseus_frontier_point(h, 0, byref(pt))",
            lambda: fn_point(ptr, 0, byref(point)),
            1,
        ),
        ("Frontier.point(0) -> Point", lambda: f.point(0), 1),
        ("Frontier.t_star_s (ergon_perseus_frontier_summary)", lambda: f.t_star_s, 1),
        (f"Frontier.points ({n} points, list of tuples)", lambda: f.points, n),
        (f"Frontier.point_records ({n} points)", lambda: f.point_records, n),
        (f"{n} x Frontier.point(i)", lambda: [f.point(i) for i in range(n)], n),
    ]
    print(f"library   {ergon.library_path()} (libergon {ergon.version()})")
    print(f"instance  {args.instance} ({n} points)")
    print(
        f"python    {platform.python_implementation()} {platform.python_version()} on {cpu_model()}"
    )
    print(f"method    timeit, median of {args.repeat} repeats of >= 0.2 s each")
    print()
    print(f"{'case':<50} {'ns/call':>12} {'ns/point':>10} {'calls/repeat':>13}")
    for name, fn, per in cases:
        seconds, number = measure(fn, args.repeat)
        ns = seconds * 1e9
        per_point = f"{ns / per:10.1f}" if per > 1 else f"{'':>10}"
        print(f"{name:<50} {ns:12.1f} {per_point} {number:13d}")
    f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
