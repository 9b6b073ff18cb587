#!/usr/bin/env bash
# Read-only check of `ergon gpu` on a real GPU machine: builds the CLI if needed, then runs
#
#     ergon gpu list
#     ergon gpu show 0
#     ergon gpu monitor 0 --seconds 2
#
# and prints their output. It exits non-zero if any of them failed.
#
# READ-ONLY BY DESIGN: this script must never lock clocks, reset clocks, change a power limit,
# persistence mode or any other GPU setting, and never run `ergon gpu restore` (which changes
# settings too). Do not add such commands here; it takes no arguments so that none can be passed
# through. Set ERGON_BIN to use an ergon binary that is already built (for example on a machine
# without cargo); NVML is found as usual (ERGON_NVML_LIBRARY, else libnvidia-ml.so.1).
set -uo pipefail

if [ "$#" -ne 0 ]; then
    echo "usage: $0 (no arguments: it only runs the read-only commands list, show 0, monitor 0)" >&2
    exit 2
fi

cd "$(dirname "$0")/.."

if [ -n "${ERGON_BIN:-}" ]; then
    ergon="$ERGON_BIN"
else
    echo "== building the ergon CLI (cargo build -p ergon-cli)"
    cargo build -p ergon-cli --quiet || exit 1
    ergon="target/debug/ergon"
fi
if [ ! -x "$ergon" ]; then
    echo "error: $ergon is not an executable ergon binary" >&2
    exit 1
fi

failed=0
run() {
    echo
    echo "== ergon $*"
    "$ergon" "$@"
    local status=$?
    if [ "$status" -ne 0 ]; then
        echo "== exit status $status"
        failed=1
    fi
}

# Only reads. Keep it that way.
run gpu list
run gpu show 0
run gpu monitor 0 --seconds 2

exit "$failed"
