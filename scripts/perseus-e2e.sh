#!/usr/bin/env bash
# Perseus end to end on one machine, without a GPU: a 2-stage × 2-replica pipeline-parallel torch
# job (CPU, gloo) against the fake NVML, which profiles every stage at each clock inside the job,
# solves the frontier once, sends every rank its stage's plan, trains with it, re-plans after a
# straggler's announcement, and reports the energy saved against the maximum clock — measured on
# the fake GPUs' energy counters and predicted by their power model — and that the losses are
# bitwise those without ergon (scripts/perseus_e2e.py has the details).
#
#   scripts/perseus-e2e.sh --out DIR [--microbatches M] [--iterations N] [--straggler X]
#
# Leaves in DIR: profile.csv (the merged zeus profile the profiler wrote), frontier.json
# (ergon-frontier/v1) and frontier.svg, nvml-rank<R>.log (each fake GPU's NVML calls),
# summary.json. Exits 1 if a check fails (the reason on stderr, in `error:` lines).
#
# Needs cargo, a C compiler and a Python with torch: $ERGON_E2E_PYTHON, else the framework
# environment scripts/test-frameworks.sh caches, else python3. Uses target/debug's libergon and
# ergon (built here if missing) unless ERGON_LIBRARY / ERGON_CLI name others.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

out=""
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --out=*) out=${1#--out=}; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
[[ -n $out ]] || { echo "error: --out DIR is required (scripts/perseus-e2e.sh --help)" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [[ -z ${ERGON_LIBRARY:-} || -z ${ERGON_CLI:-} ]]; then
    cargo build --quiet --locked -p ergon-ffi -p ergon-cli
fi
export ERGON_LIBRARY=${ERGON_LIBRARY:-$ROOT/target/debug/libergon.so}
export ERGON_CLI=${ERGON_CLI:-$ROOT/target/debug/ergon}
make -s -C tests/fake-nvml OUT="$out/fake-nvml" "$out/fake-nvml/libnvidia-ml.so.1"
export ERGON_NVML_LIBRARY=$out/fake-nvml/libnvidia-ml.so.1

has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
python=${ERGON_E2E_PYTHON:-}
if [[ -z $python ]]; then
    for candidate in "${XDG_CACHE_HOME:-$HOME/.cache}"/ergon/pyfw-*/bin/python python3; do
        if [[ -x $candidate || $candidate == python3 ]] && has_torch "$candidate"; then
            python=$candidate
            break
        fi
    done
fi
if [[ -z $python ]] || ! has_torch "$python"; then
    echo "error: no Python with torch: pip install torch (the CPU build is enough), or set" \
         "ERGON_E2E_PYTHON" >&2
    exit 2
fi
# ergon from an installed package if the interpreter has one, else from the sources.
if ! "$python" -c 'import ergon' >/dev/null 2>&1; then
    export PYTHONPATH=$ROOT/bindings/python/src${PYTHONPATH:+:$PYTHONPATH}
fi
exec "$python" scripts/perseus_e2e.py --out "$out" ${args[@]+"${args[@]}"}
