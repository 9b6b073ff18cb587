#!/usr/bin/env python3
"""Side-by-side benchmark: lowtime 0.3.0 (Perseus reference) vs. ergon's frontier solver.

What it does
  1. Creates (or reuses) a virtual environment with `lowtime==0.3.0` from PyPI
     (default bench/.venv).
  2. Generates the benchmark instances deterministically with the project's generator
     `../shared/tools/perseus/gen_instances.py OUTDIR --only NAME...` (run from the repo
     root) and records the sha256 of every instance file.
  3. lowtime half: runs `../shared/tools/perseus/run_lowtime.py INSTANCE OUT --order
     after_filter` under the venv's Python N times per instance, keeps every run's
     `timing_s` (solve, solve_cpu, prep_incl_fit, total, ...) plus the wall clock and the
     CPU time (rusage) of the whole child process, and keeps the first run's oracle
     frontier as RESULTS_DIR/NAME.after_filter.frontier.json (later runs are only checked
     for an identical frontier).
     `--skip-lowtime-from FILE` reuses these results from the JSON written by an earlier run
     (`--out` of a lowtime-only or full run) instead of re-measuring.
  4. ergon half (only with `--ergon`): runs `ERGON frontier --instance INSTANCE --json`
     N times (plus warm-up runs that are not counted), timing the whole process with
     time.perf_counter, parses the `ergon-frontier/v1` JSON from stdout and checks it
     against lowtime's oracle: same number of points, `quanta` == `quant_time` point by
     point (both slowest first), `energy_j` within 0.5 % relative.
  5. Prints a Markdown table and writes everything as JSON to `--out`
     (the JSON is rewritten after every instance, so an interrupted run keeps what it has).

Typical use (from the repo root /work/main):
  # the slow lowtime half once (8x128 takes 7-26 minutes per run):
  nice -n 10 python3 bench/lowtime_vs_ergon.py --runs 5 --lowtime-runs-8x32 3 \
      --lowtime-runs-8x128 1 --out bench/results/lowtime_after_filter.json
  # later, the ergon half against the stored lowtime results:
  python3 bench/lowtime_vs_ergon.py --ergon target/release/ergon --runs 5 \
      --skip-lowtime-from bench/results/lowtime_after_filter.json \
      --out bench/results/lowtime_vs_ergon.json

Exit status: 0 on success; 1 if any frontier check failed; 2 if the ergon binary is
missing / its `frontier` command failed (the lowtime results are still written); 3 on
setup errors (venv, generator, lowtime failure).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)  # /work/main
TOOLS_REL = os.path.join("..", "shared", "tools", "perseus")
GEN_REL = os.path.join(TOOLS_REL, "gen_instances.py")
RUN_LT_REL = os.path.join(TOOLS_REL, "run_lowtime.py")

DEFAULT_INSTANCES = ["a100_s4_m8", "a100_s8_m32", "h100_s8_m128"]
SHORT = {"4x8": "a100_s4_m8", "8x32": "a100_s8_m32", "8x128": "h100_s8_m128"}
ORDER = "after_filter"
LOWTIME_VERSION = "0.3.0"
ENERGY_RTOL = 0.005
SCHEMA = "ergon-bench-lowtime-vs-ergon/v1"


def log(msg: str) -> None:
    print(f"[{_dt.datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg: str, code: int = 3) -> None:
    log("ERROR: " + msg)
    sys.exit(code)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ----------------------------------------------------------------------------- machine

def machine_info(venv_python: str | None) -> dict:
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    mem_kb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    info = {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "mem_total_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "platform": platform.platform(),
        "host_python": platform.python_version(),
        "nice": os.nice(0),
        "loadavg_at_start": list(os.getloadavg()),
    }
    if venv_python:
        code = ("import platform, importlib.metadata as m; print(platform.python_version()); "
                "print(m.version('lowtime')); print(m.version('numpy')); print(m.version('scipy')); "
                "print(m.version('networkx'))")
        r = subprocess.run([venv_python, "-c", code], capture_output=True, text=True)
        if r.returncode == 0:
            py, lt, np_, sp, nx = r.stdout.split()
            info.update({"venv_python": py, "lowtime_version": lt, "numpy": np_,
                         "scipy": sp, "networkx": nx})
    return info


# ----------------------------------------------------------------------------- venv

def ensure_venv(venv: str) -> str:
    py = os.path.join(venv, "bin", "python")
    check = ("import importlib.metadata as m, lowtime; "
             f"assert m.version('lowtime') == '{LOWTIME_VERSION}', m.version('lowtime')")
    if os.path.exists(py):
        if subprocess.run([py, "-c", check], capture_output=True).returncode == 0:
            log(f"reusing venv {venv} (lowtime {LOWTIME_VERSION})")
            return py
        log(f"venv {venv} exists but lacks lowtime=={LOWTIME_VERSION}; installing")
    else:
        log(f"creating venv {venv}")
        r = subprocess.run([sys.executable, "-m", "venv", venv])
        if r.returncode != 0:
            die(f"python3 -m venv {venv} failed")
    r = subprocess.run([py, "-m", "pip", "install", "-q", f"lowtime=={LOWTIME_VERSION}"])
    if r.returncode != 0 or subprocess.run([py, "-c", check]).returncode != 0:
        die(f"could not install lowtime=={LOWTIME_VERSION} into {venv} (PyPI reachable?)")
    return py


# ----------------------------------------------------------------------------- instances

def generate_instances(names: list[str], inst_dir: str) -> dict:
    os.makedirs(inst_dir, exist_ok=True)
    cmd = ["python3", GEN_REL, inst_dir, "--only", *names]
    log("generating instances: " + " ".join(cmd))
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"instance generator failed:\n{r.stdout}\n{r.stderr}")
    out = {}
    for name in names:
        path = os.path.join(inst_dir, f"{name}.instance.json")
        if not os.path.exists(path):
            die(f"generator did not write {path} (unknown instance name?)")
        with open(path) as f:
            inst = json.load(f)
        out[name] = {
            "path": path,
            "sha256": sha256(path),
            "num_stages": inst["pipeline"]["num_stages"],
            "num_microbatches": inst["pipeline"]["num_microbatches"],
            "num_nodes": len(inst["dag"]["nodes"]),
            "num_edges": len(inst["dag"]["edges"]),
            "unit_time_s": inst["unit_time_s"],
        }
    return out


# ----------------------------------------------------------------------------- timing

def timed_run(cmd: list[str], timeout: float | None, cwd: str = REPO):
    """Run cmd; return (CompletedProcess | None, wall_s, cpu_s of the child, error str)."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        err = None
    except subprocess.TimeoutExpired:
        r, err = None, f"timed out after {timeout} s"
    except OSError as e:  # missing / non-executable binary
        r, err = None, f"{type(e).__name__}: {e}"
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return r, wall, cpu, err


def frontier_digest(oracle: dict) -> list:
    return [(p["quant_time"], p["energy_j"]) for p in oracle["frontier"]]


def run_lowtime(name: str, inst: dict, runs: int, venv_py: str, results_dir: str,
                timeout: float | None) -> dict:
    oracle_path = os.path.join(results_dir, f"{name}.{ORDER}.frontier.json")
    rec = {"runs": [], "oracle_file": None}
    first_digest = None
    for k in range(runs):
        with tempfile.TemporaryDirectory(prefix="ltbench_") as td:
            tmp_out = os.path.join(td, "oracle.json")
            cmd = [venv_py, RUN_LT_REL, inst["path"], tmp_out, "--order", ORDER]
            log(f"lowtime {name} run {k + 1}/{runs}: {' '.join(cmd)}")
            r, wall, cpu, err = timed_run(cmd, timeout)
            if err or r.returncode != 0:
                tail = "" if r is None else (r.stderr or r.stdout)[-3000:]
                die(f"lowtime failed on {name}: {err or 'exit ' + str(r.returncode)}\n{tail}")
            summary = json.loads(r.stdout)
            with open(tmp_out) as f:
                oracle = json.load(f)
            digest = frontier_digest(oracle)
            if first_digest is None:
                first_digest = digest
                shutil.copyfile(tmp_out, oracle_path)
                rec.update({
                    "oracle_file": os.path.relpath(oracle_path, results_dir),
                    "oracle_size_bytes": os.path.getsize(oracle_path),
                    "points": len(oracle["frontier"]),
                    "bounds": oracle["bounds"],
                    "termination": oracle["termination"]["kind"],
                    "last_log_messages": oracle["termination"]["last_log_messages"][-2:],
                    "producer": oracle["producer"],
                })
            same = digest == first_digest
            if not same:
                log(f"WARNING: lowtime {name} run {k + 1} frontier differs from run 1")
            t = summary["timing_s"]
            run = {k2: v for k2, v in t.items() if k2 != "note"}
            run.update({"process_wall_s": round(wall, 4), "process_cpu_s": round(cpu, 4),
                        "points": summary["points"], "frontier_identical_to_run1": same,
                        "loadavg_after": list(os.getloadavg())})
            rec["runs"].append(run)
            log(f"  points={summary['points']} solve={t['solve']}s solve_cpu={t['solve_cpu']}s "
                f"total={t['total']}s process={wall:.2f}s/{cpu:.2f}s cpu")
    keys = ["solve", "solve_cpu", "prep_incl_fit", "fit_only", "dag_build", "total",
            "process_wall_s", "process_cpu_s"]
    rec["median"] = {key: median([r.get(key) for r in rec["runs"]]) for key in keys}
    rec["num_runs"] = len(rec["runs"])
    return rec


def run_ergon(name: str, inst: dict, ergon: str, runs: int, warmup: int,
              oracle: dict, timeout: float | None) -> dict:
    cmd = [ergon, "frontier", "--instance", inst["path"], "--json"]
    rec = {"command": cmd, "runs": [], "error": None}
    out_json = None
    for k in range(warmup + runs):
        counted = k >= warmup
        r, wall, cpu, err = timed_run(cmd, timeout)
        if err or r.returncode != 0:
            msg = err or f"exit status {r.returncode}"
            tail = "" if r is None else (r.stderr or r.stdout)[-2000:].strip()
            rec["error"] = f"`{' '.join(cmd)}` failed: {msg}" + (f"\n{tail}" if tail else "")
            log("ergon " + rec["error"])
            return rec
        if counted:
            rec["runs"].append({"wall_s": round(wall, 6), "cpu_s": round(cpu, 6)})
            log(f"ergon {name} run {k - warmup + 1}/{runs}: {wall:.4f}s wall, {cpu:.4f}s cpu")
        if out_json is None:
            try:
                out_json = json.loads(r.stdout)
            except json.JSONDecodeError as e:
                rec["error"] = f"ergon stdout is not JSON ({e}); first 300 chars: {r.stdout[:300]!r}"
                log(rec["error"])
                return rec
    rec["median_wall_s"] = median([x["wall_s"] for x in rec["runs"]])
    rec["median_cpu_s"] = median([x["cpu_s"] for x in rec["runs"]])
    rec["num_runs"] = len(rec["runs"])
    rec["check"] = compare(out_json, oracle)
    rec["points"] = len(out_json.get("points", []))
    rec["header"] = {k: out_json.get(k) for k in
                     ("schema", "unit_time_s", "num_stages", "num_microbatches",
                      "t_min_s", "t_max_s", "t_star_s")}
    return rec


def compare(ej: dict, oracle: dict) -> dict:
    """ergon-frontier/v1 vs perseus-oracle/v1 frontier (both slowest first)."""
    problems = []
    if ej.get("schema") != "ergon-frontier/v1":
        problems.append(f"schema is {ej.get('schema')!r}, expected 'ergon-frontier/v1'")
    ep = ej.get("points") or []
    lp = oracle["frontier"]
    if len(ep) != len(lp):
        problems.append(f"point count: ergon {len(ep)} vs lowtime {len(lp)}")
    n = min(len(ep), len(lp))
    quanta_mismatch = [i for i in range(n) if ep[i].get("quanta") != lp[i]["quant_time"]]
    if quanta_mismatch:
        i = quanta_mismatch[0]
        problems.append(f"quanta differ at {len(quanta_mismatch)} points; first at index {i}: "
                        f"ergon {ep[i].get('quanta')} vs lowtime {lp[i]['quant_time']}")
    rels = []
    for i in range(n):
        e, l = ep[i].get("energy_j"), lp[i]["energy_j"]
        rels.append(abs(e - l) / abs(l) if e is not None and l else float("inf"))
    max_rel = max(rels) if rels else None
    arg = rels.index(max_rel) if rels else None
    if max_rel is not None and max_rel > ENERGY_RTOL:
        problems.append(f"max rel energy diff {max_rel:.4%} > {ENERGY_RTOL:.1%} at index {arg}")
    b = oracle["bounds"]
    unit = oracle["params"]["unit_time_s"]
    bounds_note = None
    if ej.get("t_max_s") is not None and ej.get("t_min_s") is not None:
        bounds_note = {"ergon_t_max_s": ej["t_max_s"], "lowtime_t_max_s": b["t_max_quant"] * unit,
                       "ergon_t_min_s": ej["t_min_s"], "lowtime_t_min_s": b["t_min_quant"] * unit}
    return {"ok": not problems, "problems": problems, "points_ergon": len(ep),
            "points_lowtime": len(lp), "quanta_mismatches": len(quanta_mismatch),
            "max_rel_energy_diff": max_rel, "max_rel_energy_diff_index": arg,
            "energy_rtol": ENERGY_RTOL, "bounds": bounds_note}


# ----------------------------------------------------------------------------- report

def fmt(x, nd=3):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if x >= 100:
            return f"{x:.1f}"
        if x >= 1:
            return f"{x:.{nd}g}" if x < 10 else f"{x:.2f}"
        return f"{x:.{nd}g}"
    return str(x)


def build_rows(names, instances, lowtime, ergon):
    rows = []
    for name in names:
        inst = instances[name]
        lt = lowtime.get(name) or {}
        lm = lt.get("median", {})
        er = (ergon or {}).get(name) or {}
        ew = er.get("median_wall_s")
        chk = er.get("check") or {}
        row = {
            "instance": name,
            "SxM": f"{inst['num_stages']}x{inst['num_microbatches']}",
            "points_lowtime": lt.get("points"),
            "points_ergon": er.get("points"),
            "lowtime_runs": lt.get("num_runs"),
            "lowtime_median_total_wall_s": lm.get("total"),
            "lowtime_median_solve_wall_s": lm.get("solve"),
            "lowtime_median_solve_cpu_s": lm.get("solve_cpu"),
            "lowtime_median_prep_incl_fit_s": lm.get("prep_incl_fit"),
            "lowtime_median_process_wall_s": lm.get("process_wall_s"),
            "lowtime_median_process_cpu_s": lm.get("process_cpu_s"),
            "ergon_runs": er.get("num_runs"),
            "ergon_median_wall_s": ew,
            "ergon_median_cpu_s": er.get("median_cpu_s"),
            "speedup_total_vs_ergon": (lm["total"] / ew) if ew and lm.get("total") else None,
            "speedup_process_vs_ergon": (lm["process_wall_s"] / ew)
            if ew and lm.get("process_wall_s") else None,
            "speedup_solve_vs_ergon": (lm["solve"] / ew) if ew and lm.get("solve") else None,
            "max_rel_energy_diff": chk.get("max_rel_energy_diff"),
            "check_ok": chk.get("ok") if chk else None,
            "ergon_error": er.get("error"),
        }
        rows.append(row)
    return rows


def markdown(rows) -> str:
    hdr = ("| instance | S×M | points (lowtime / ergon) | lowtime wall s (total) "
           "| lowtime solve s (wall / CPU) | lowtime process s (wall / CPU) "
           "| ergon wall s (process) | speed-up (total / ergon) | max rel ΔE | check |")
    sep = "|" + "|".join(["---"] * 10) + "|"
    lines = [hdr, sep]
    for r in rows:
        sp = r["speedup_total_vs_ergon"]
        mre = r["max_rel_energy_diff"]
        chk = "n/a" if r["check_ok"] is None else ("ok" if r["check_ok"] else "FAIL")
        if r["ergon_error"]:
            chk = "ergon error"
        lines.append(
            f"| {r['instance']} | {r['SxM']} | {fmt(r['points_lowtime'])} / {fmt(r['points_ergon'])} "
            f"| {fmt(r['lowtime_median_total_wall_s'])} "
            f"| {fmt(r['lowtime_median_solve_wall_s'])} / {fmt(r['lowtime_median_solve_cpu_s'])} "
            f"| {fmt(r['lowtime_median_process_wall_s'])} / {fmt(r['lowtime_median_process_cpu_s'])} "
            f"| {fmt(r['ergon_median_wall_s'], 4)} "
            f"| {'n/a' if sp is None else f'{sp:.1f}×'} "
            f"| {'n/a' if mre is None else f'{mre:.2e}'} | {chk} |")
    lines.append("")
    lines.append("Medians over the runs (lowtime runs: "
                 + ", ".join(f"{r['instance']}={r['lowtime_runs']}" for r in rows)
                 + "). lowtime 'total' = prep incl. fit + DAG + solve inside run_lowtime.py "
                 "(no interpreter start/imports); 'process' = whole `python run_lowtime.py` "
                 "child; ergon = whole `ergon frontier --instance I --json` process "
                 "(perf_counter). Speed-up = lowtime total / ergon wall.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring / bench/README.md.")
    ap.add_argument("--ergon", metavar="PATH",
                    help="ergon binary; without it only the lowtime half runs")
    ap.add_argument("--runs", type=int, default=5, help="runs per instance (median), default 5")
    ap.add_argument("--ergon-runs", type=int, help="ergon runs per instance (default --runs)")
    ap.add_argument("--ergon-warmup", type=int, default=1,
                    help="uncounted ergon runs before timing (default 1)")
    for short, name in SHORT.items():
        ap.add_argument(f"--lowtime-runs-{short}", type=int, dest=f"lt_runs_{name}",
                        metavar="N", help=f"lowtime runs for {name} (default --runs)")
    ap.add_argument("--lowtime-runs-for", action="append", default=[], metavar="NAME=N",
                    help="lowtime runs for any instance NAME (repeatable)")
    ap.add_argument("--instances", nargs="+", default=DEFAULT_INSTANCES,
                    help=f"instance names for gen_instances.py (default: {' '.join(DEFAULT_INSTANCES)})")
    ap.add_argument("--skip-lowtime-from", metavar="FILE",
                    help="reuse lowtime results (and oracle files) from an earlier --out JSON")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"),
                    help="where oracle frontiers and instances/ go (default bench/results)")
    ap.add_argument("--venv", default=os.path.join(HERE, ".venv"),
                    help="virtual environment with lowtime (default bench/.venv)")
    ap.add_argument("--timeout", type=float, default=3600.0,
                    help="per-run timeout in seconds (default 3600)")
    ap.add_argument("--out", help="write the results JSON here "
                    "(default RESULTS_DIR/lowtime_vs_ergon.json)")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    results_dir = os.path.abspath(args.results_dir)
    os.makedirs(results_dir, exist_ok=True)
    out_path = os.path.abspath(args.out or os.path.join(results_dir, "lowtime_vs_ergon.json"))
    inst_dir = os.path.join(results_dir, "instances")
    names = list(args.instances)

    lt_runs = {n: args.runs for n in names}
    for name in SHORT.values():
        v = getattr(args, f"lt_runs_{name}")
        if v is not None:
            lt_runs[name] = v
    for spec in args.lowtime_runs_for:
        n, _, v = spec.partition("=")
        lt_runs[n] = int(v)

    # ergon binary sanity check up front, so a typo is reported before lowtime's long runs
    ergon = None
    ergon_missing = None
    if args.ergon:
        ergon = os.path.abspath(args.ergon) if os.sep in args.ergon else (shutil.which(args.ergon) or args.ergon)
        if not (os.path.isfile(ergon) and os.access(ergon, os.X_OK)):
            ergon_missing = (f"ergon binary not found or not executable: {args.ergon!r}. Build it first "
                             "(`cargo build --release` in the repo root), then pass "
                             "--ergon target/release/ergon. Continuing with the lowtime half only.")
            log("ERROR: " + ergon_missing)

    instances = generate_instances(names, inst_dir)

    result = {
        "schema": SCHEMA,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": sys.argv,
        "order": ORDER,
        "instances": {n: {k: (os.path.relpath(v, results_dir) if k == "path" else v)
                          for k, v in i.items()} for n, i in instances.items()},
    }

    # ---- lowtime half
    if args.skip_lowtime_from:
        src = os.path.abspath(args.skip_lowtime_from)
        with open(src) as f:
            prev = json.load(f)
        src_dir = os.path.dirname(src)
        lowtime = prev.get("lowtime", {}).get("instances", {})
        missing = [n for n in names if n not in lowtime]
        if missing:
            die(f"{src} has no lowtime results for {missing}")
        for n in names:
            old_sha = prev.get("instances", {}).get(n, {}).get("sha256")
            if old_sha and old_sha != instances[n]["sha256"]:
                log(f"WARNING: {n}: regenerated instance differs from the one lowtime was run on "
                    f"({old_sha[:12]} vs {instances[n]['sha256'][:12]})")
            of = os.path.join(src_dir, lowtime[n]["oracle_file"])
            if not os.path.exists(of):
                die(f"oracle file {of} referenced by {src} is missing")
            lowtime[n] = dict(lowtime[n], oracle_file=os.path.relpath(of, results_dir))
        result["lowtime"] = {"reused_from": src, "machine": prev.get("lowtime", {}).get("machine"),
                             "created": prev.get("created"), "instances": lowtime}
        result["machine"] = machine_info(None)
        log(f"reusing lowtime results from {src} (measured {prev.get('created')})")
    else:
        venv_py = ensure_venv(os.path.abspath(args.venv))
        result["machine"] = machine_info(venv_py)
        result["lowtime"] = {"runner": RUN_LT_REL, "machine": result["machine"], "instances": {}}
        lowtime = result["lowtime"]["instances"]
        for n in names:
            lowtime[n] = run_lowtime(n, instances[n], lt_runs[n], venv_py, results_dir, args.timeout)
            write_out(out_path, result, names, instances, lowtime, None)

    # ---- ergon half
    ergon_res = None
    ergon_failed = False
    if args.ergon:
        ergon_res = {}
        result["ergon"] = {"binary": ergon, "instances": ergon_res}
        if ergon_missing:
            result["ergon"]["error"] = ergon_missing
            ergon_failed = True
        else:
            runs = args.ergon_runs or args.runs
            for n in names:
                with open(os.path.join(results_dir, lowtime[n]["oracle_file"])) as f:
                    oracle = json.load(f)
                ergon_res[n] = run_ergon(n, instances[n], ergon, runs, args.ergon_warmup,
                                         oracle, args.timeout)
                if ergon_res[n]["error"]:
                    ergon_failed = True
                    log("the ergon CLI may not implement `frontier --instance I --json` yet; "
                        "stopping the ergon half")
                    break
        result["machine"]["loadavg_at_end"] = list(os.getloadavg())

    rows = write_out(out_path, result, names, instances, lowtime, ergon_res)
    md = markdown(rows)
    print(md)
    for n, er in (ergon_res or {}).items():
        for p in (er.get("check") or {}).get("problems", []):
            print(f"- {n}: {p}")
    m = result["machine"]
    print(f"\nMachine: {m.get('cpu_model')}, {m.get('cpu_count')} cores, Python "
          f"{m.get('venv_python') or m.get('host_python')}, lowtime "
          f"{m.get('lowtime_version') or (result['lowtime'].get('machine') or {}).get('lowtime_version')}")
    log(f"wrote {out_path}")
    if ergon_failed:
        return 2
    if ergon_res and not all(er.get("check", {}).get("ok") for er in ergon_res.values()):
        return 1
    return 0


def write_out(out_path, result, names, instances, lowtime, ergon_res):
    rows = build_rows([n for n in names if n in lowtime], instances, lowtime, ergon_res)
    result["table"] = rows
    result["markdown"] = markdown(rows)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, out_path)
    return rows


if __name__ == "__main__":
    sys.exit(main())
