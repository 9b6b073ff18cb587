#!/usr/bin/env bash
# Builds the cargo-fuzz targets of fuzz/ (nightly, libFuzzer, AddressSanitizer) and runs each
# for N seconds (default 60): scripts/fuzz.sh [--seconds N] [TARGET...] (all targets when
# none is named). For each target it prints executions, executions per second, libFuzzer's
# coverage (`cov:` edges, `ft:` features, corpus size) and crashes; every crash, timeout or
# out-of-memory input is copied to fuzz/regressions/<target>/, where plain `cargo test`
# replays it (core/tests/fuzz_regressions.rs, ffi/tests/fuzz_regressions.rs). Exits 1 when
# any target crashed. Installs nightly and cargo-fuzz when missing; when that is impossible it
# prints "SKIPPED: ..." and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done

skip() { echo "SKIPPED: $*"; exit 0; }

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain; installing it (rustup toolchain install nightly)"
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 \
        || skip "fuzzing needs a nightly toolchain and 'rustup toolchain install nightly' failed"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: no cargo-fuzz; installing it (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked >/dev/null 2>&1 \
        || skip "fuzzing needs cargo-fuzz and 'cargo install cargo-fuzz --locked' failed"
fi

all_targets=$(cargo +nightly fuzz list 2>/dev/null) || skip "'cargo fuzz list' failed"
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets <<<"$all_targets"
fi
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$all_targets" || { echo "fuzz.sh: no target '$t' (have: $(echo $all_targets))" >&2; exit 2; }
done

# Longest input per target: enough for the seeds, short enough that a legitimately large
# valid input cannot time out a run.
max_len() {
    case "$1" in
        perseus_instance|chase_frontier) echo 16384 ;;
        frontier_solve|dpk_schedule|orloj_simulate) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

echo "== building ${#targets[@]} fuzz target(s) (cargo +nightly fuzz build)"
build_log=$(mktemp)
if ! cargo +nightly fuzz build >/dev/null 2>"$build_log"; then
    tail -30 "$build_log" >&2
    echo "fuzz.sh: the fuzz targets do not build" >&2
    exit 1
fi
rm -f "$build_log"
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="fuzz/target/$triple/release"

crashed=0
summary=()
for t in "${targets[@]}"; do
    work="fuzz/target/corpus/$t"        # grows while fuzzing; not committed
    artifacts="fuzz/artifacts/$t"
    mkdir -p "$work" "$artifacts" "fuzz/regressions/$t"
    log="fuzz/target/$t.log"
    before=$(find "$artifacts" -type f | sort)
    echo "== $t: ${seconds}s, -max_len=$(max_len "$t")"
    started=$SECONDS
    "$bin_dir/$t" "$work" "fuzz/corpus/$t" \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        >"$log" 2>&1
    rc=$?
    ran=$((SECONDS - started))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    new=$(comm -13 <(echo "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')
    if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
        crashed=1
        while read -r f; do
            [ -n "$f" ] && cp "$f" "fuzz/regressions/$t/"
        done <<<"$new"
        echo "   CRASH (exit $rc): inputs copied to fuzz/regressions/$t/; first report lines:"
        grep -m1 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' "$log" | sed 's/^/   /'
        grep -m1 -A2 'panicked at' "$log" | tail -2 | sed 's/^/   /'
        echo "   full log: $log"
    fi
    line=$(printf '%-18s ran %4ss  execs %10s  exec/s %7s  cov %6s  ft %6s  corpus %5s  crashes %s' \
        "$t" "$ran" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
        "$([ "$rc" -ne 0 ] || [ -n "$new" ] && echo "YES (exit $rc)" || echo 0)")
    echo "   $line"
    summary+=("$line")
done

echo
echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit "$crashed"
