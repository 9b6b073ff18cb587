#!/usr/bin/env bash
# Tests ergon's trainer hooks (ergon.hooks) against the REAL frameworks, on the CPU with gloo:
#   - a virtual environment with the pins of bindings/python/framework-requirements.txt (torch,
#     DeepSpeed, Megatron-Core, ninja, pytest), cached under
#     ${XDG_CACHE_HOME:-$HOME/.cache}/ergon/pyfw-<key>, the key a hash of that file and the
#     Python version: a fresh machine pays the install once (~80 s from PyPI, ~5.5 GB: torch is
#     the CUDA build), later runs reuse it; pip's own wheel cache is kept.
#     ERGON_FRAMEWORK_VENV=DIR uses an existing environment instead (its versions must match the
#     pins). If the packages cannot be installed (no registry), prints SKIP and exits 0;
#   - the ergon wheel that scripts/test-python.sh built (target/pywheel/ergon-*.whl) is unpacked
#     into target/pyfw-ergon and put first on PYTHONPATH, so that the cached environment stays
#     exactly what its key says (without a wheel: the sources, bindings/python/src);
#   - runs, with ERGON_EXPECT_FRAMEWORKS=1 (a test that would skip for a missing framework fails
#     instead), DS_ACCELERATOR=cpu, ninja on PATH and DeepSpeed's JIT-compiled op cached in
#     ${XDG_CACHE_HOME:-$HOME/.cache}/ergon/torch-extensions (TORCH_EXTENSIONS_DIR; ~110 s to
#     compile the first time):
#       test_frameworks_deepspeed.py, test_frameworks_megatron.py (multi-process jobs),
#       test_examples.py (the examples a user copies, with torch, DeepSpeed and Megatron),
#       test_hooks.py (its checks of the real classes run here),
#       test_distributed.py (PerseusJob over gloo ranks: needs torch, skipped in the Python step),
#       test_frameworks_flower.py (the Auxo strategy driven with flwr's own objects, ~2 s);
#     then scripts/perseus-e2e.sh --out target/perseus-e2e (the end-to-end Perseus job, ~30 s).
#     Extra arguments go to pytest.
# Called by scripts/test.sh after scripts/test-python.sh; runs on its own too (after a
# `cargo build -p ergon-ffi -p ergon-cli`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REQS=bindings/python/framework-requirements.txt
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ergon
LIB=${ERGON_LIBRARY:-$ROOT/target/debug/libergon.so}
CLI=${ERGON_CLI:-$ROOT/target/debug/ergon}
PYTHON3=${PYTHON3:-python3}
say() { printf 'frameworks: %s\n' "$*"; }
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

[[ -f $LIB ]] || { echo "frameworks: no library at $LIB (cargo build -p ergon-ffi)" >&2; exit 1; }
[[ -x $CLI ]] || { echo "frameworks: no CLI at $CLI (cargo build -p ergon-cli)" >&2; exit 1; }
command -v "$PYTHON3" >/dev/null || { echo "frameworks: $PYTHON3 not found" >&2; exit 1; }

# The pins, as name==version lines (comments and blank lines dropped).
pins() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$REQS" | grep -v '^$'; }
# Does the environment's Python have exactly these versions?
has_pins() {
    "$1/bin/python" - "$(pins)" <<'EOF_PY' 2>/dev/null
import importlib.metadata as m
import sys

for line in sys.argv[1].split():
    name, version = line.split("==")
    if m.version(name) != version:
        sys.exit(f"{name} {m.version(name)} != {version}")
EOF_PY
}

pyver=$("$PYTHON3" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$({ pins; echo "python $pyver"; } | sha256sum | cut -c1-16)
if [[ -n ${ERGON_FRAMEWORK_VENV:-} ]]; then
    VENV=$ERGON_FRAMEWORK_VENV
    if ! has_pins "$VENV"; then
        echo "frameworks: ERGON_FRAMEWORK_VENV=$VENV lacks the pins of $REQS:" \
             "$(has_pins "$VENV" 2>&1 || true)" >&2
        exit 1
    fi
    say "using ERGON_FRAMEWORK_VENV=$VENV"
else
    VENV=$CACHE/pyfw-$key
    if [[ $(cat "$VENV/.ergon-key" 2>/dev/null) == "$key" ]] && has_pins "$VENV"; then
        say "reusing $VENV (key $key: $(pins | paste -sd ' ') python $pyver)"
    else
        say "installing $(pins | paste -sd ' ') into $VENV (once per key; ~80 s and ~5.5 GB)"
        mkdir -p "$CACHE"
        # In place (a venv's scripts name their interpreter by path, so it cannot be moved);
        # the key file, written last, marks a complete install.
        rm -rf "$VENV"
        start=$SECONDS
        if "$PYTHON3" -m venv "$VENV" >/dev/null 2>&1 \
                && "$VENV/bin/python" -m pip install --quiet -r "$REQS"; then
            echo "$key" > "$VENV/.ergon-key"
            say "installed in $((SECONDS - start)) s"
        else
            rm -rf "$VENV"
            echo "frameworks: SKIP: the real frameworks ($(pins | paste -sd ' ')) could not be" \
                 "installed (no package registry?): test_frameworks_*.py, the framework" \
                 "examples and the real-class checks of test_hooks.py did NOT run" >&2
            exit 0
        fi
    fi
fi
PY=$VENV/bin/python

# The package as pip builds it, outside the cached environment.
ERGON_DIR=target/pyfw-ergon
rm -rf "$ERGON_DIR"
if compgen -G "target/pywheel/ergon-*.whl" >/dev/null; then
    "$PY" -m pip install --quiet --no-deps --target "$ERGON_DIR" target/pywheel/ergon-*.whl
    say "ergon from $(basename target/pywheel/ergon-*.whl)"
else
    mkdir -p "$ERGON_DIR"
    cp -r bindings/python/src/ergon "$ERGON_DIR/"
    say "no wheel in target/pywheel (scripts/test-python.sh builds it): ergon from the sources"
fi

export PYTHONPATH=$ROOT/$ERGON_DIR${PYTHONPATH:+:$PYTHONPATH}
export PATH=$VENV/bin:$PATH DS_ACCELERATOR=cpu TORCH_EXTENSIONS_DIR=$CACHE/torch-extensions
export ERGON_EXPECT_FRAMEWORKS=1 ERGON_LIBRARY=$LIB ERGON_CLI=$CLI
"$PY" -c 'import ergon, sys; sys.exit(0 if "pyfw-ergon" in ergon.__file__ else 1)' || {
    echo "frameworks: ergon is not imported from $ERGON_DIR" >&2; exit 1; }

status=0
start=$SECONDS
"$PY" -m pytest -q -rs -p no:cacheprovider --durations=0 \
    bindings/python/tests/test_frameworks_deepspeed.py \
    bindings/python/tests/test_frameworks_megatron.py \
    bindings/python/tests/test_examples.py \
    bindings/python/tests/test_hooks.py \
    bindings/python/tests/test_distributed.py \
    bindings/python/tests/test_zeus_distributed.py \
    bindings/python/tests/test_frameworks_huggingface.py \
    bindings/python/tests/test_frameworks_flower.py "$@" || status=$?
say "pytest: $((SECONDS - start)) s"
if [[ $status == 5 ]]; then
    echo "frameworks: pytest collected no tests: counted as a failure" >&2
fi

# The end-to-end Perseus job (issue 15's acceptance interface): it checks itself (energy saved
# within 5 % of the fake GPUs' model, each rank's clocks in schedule order, one re-plan reaching
# every rank at one iteration, losses bitwise equal) and exits 1 otherwise; here its output
# files and summary fields are checked too.
E2E=target/perseus-e2e
start=$SECONDS
if ERGON_E2E_PYTHON=$PY scripts/perseus-e2e.sh --out "$E2E" \
        && "$PY" - "$E2E" <<'EOF_PY'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
summary = json.loads((out / "summary.json").read_text())
keys = {"ranks", "stages", "energy_saved_fraction_measured", "energy_saved_fraction_model",
        "loss_with_ergon", "loss_without_ergon", "replan_latency_ms"}
assert keys <= set(summary), sorted(keys - set(summary))
assert (out / "profile.csv").read_text().startswith("stage,instruction,frequency,time,energy")
frontier = json.loads((out / "frontier.json").read_text())
assert frontier["schema"] == "ergon-frontier/v1" and len(frontier["points"]) > 1, frontier
for rank in range(summary["ranks"]):
    log = (out / f"nvml-rank{rank}.log").read_text()
    assert "nvmlDeviceSetGpuLockedClocks" in log and "fakeNvmlRun" in log, rank
EOF_PY
then
    say "perseus-e2e: $((SECONDS - start)) s ($E2E)"
else
    echo "frameworks: scripts/perseus-e2e.sh failed (see above; $E2E)" >&2
    status=1
fi
exit "$status"
