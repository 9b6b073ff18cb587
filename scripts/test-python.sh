#!/usr/bin/env bash
# Tests the Python package (bindings/python) against the built library and CLI:
#   - builds target/debug/libergon.so and target/debug/ergon if they are missing (or older than
#     the sources of core, ffi and cli);
#   - creates (or reuses) a virtual environment at target/pyenv with pytest;
#   - installs the package with `pip install ./bindings/python` (non-editable: proves it installs);
#   - runs its pytest suite with ERGON_LIBRARY and ERGON_CLI pointing at the debug build (set
#     either variable beforehand to test another build, and ERGON_HEADER to that build's
#     include/ergon.h for the declaration checks; extra arguments go to pytest).
# Exits non-zero on any failure, including pytest finding no tests (its exit status 5).
# Called by scripts/test.sh after `cargo test`; runs on its own too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PYTEST_PIN="pytest==8.4.2"      # 8.x still supports Python 3.9, the package's minimum
HATCHLING_PIN="hatchling==1.27.0"
VENV=target/pyenv
LIB=${ERGON_LIBRARY:-$ROOT/target/debug/libergon.so}
CLI=${ERGON_CLI:-$ROOT/target/debug/ergon}

say() { printf 'python: %s\n' "$*"; }
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# Missing, or older than a source it is built from (e.g. when run on its own after an edit)?
stale() {
    [[ ! -e $1 ]] || [[ -n $(find core/src ffi/src cli/src core/Cargo.toml ffi/Cargo.toml \
        cli/Cargo.toml -newer "$1" -print -quit 2>/dev/null) ]]
}
if { [[ -z ${ERGON_LIBRARY:-} ]] && stale "$LIB"; } || { [[ -z ${ERGON_CLI:-} ]] && stale "$CLI"; }; then
    say "building libergon.so and the ergon CLI (cargo build -p ergon-ffi -p ergon-cli)"
    if ! cargo build --quiet --locked -p ergon-ffi -p ergon-cli; then
        if [[ -f $LIB && -x $CLI ]]; then
            say "WARNING: the build failed; testing the existing (older) $LIB and $CLI" >&2
        else
            exit 1
        fi
    fi
fi
[[ -z ${ERGON_LIBRARY:-} ]] || say "testing ERGON_LIBRARY=$LIB"
[[ -z ${ERGON_CLI:-} ]] || say "comparing with ERGON_CLI=$CLI"
[[ -f $LIB ]] || { echo "python: no library at $LIB" >&2; exit 1; }
[[ -x $CLI ]] || { echo "python: no CLI at $CLI" >&2; exit 1; }

PYTHON3=${PYTHON3:-python3}
command -v "$PYTHON3" >/dev/null || { echo "python: $PYTHON3 not found; install Python >= 3.9" >&2; exit 1; }

# --- the environment: a venv at target/pyenv, else user-site installs -------------------------
PY=$VENV/bin/python
PIP_USER=()
if [[ ! -x $PY ]] || ! "$PY" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV"
    say "creating a virtual environment at $VENV"
    if ! "$PYTHON3" -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
            say "python3 -m venv failed (no ensurepip?): apt-get install -y python3-venv"
            ver=$("$PYTHON3" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
            { apt-get update -qq && apt-get install -y -qq python3-venv "python$ver-venv" \
                || apt-get install -y -qq python3-venv; } >/dev/null 2>&1 || true
            "$PYTHON3" -m venv "$VENV" >/dev/null 2>&1 || rm -rf "$VENV"
        fi
    fi
    if [[ -x $PY ]] && "$PY" -m pip --version >/dev/null 2>&1; then
        "$PY" -m pip install --quiet "$PYTEST_PIN" "$HATCHLING_PIN"
        echo "$PYTEST_PIN $HATCHLING_PIN" > "$VENV/.ergon-installed"
    else
        say "no usable venv: falling back to \`$PYTHON3 -m pip install --user\`"
        PY=$PYTHON3
        PIP_USER=(--user)
        "$PY" -m pip install --quiet --user --no-warn-script-location "$PYTEST_PIN" "$HATCHLING_PIN" \
            || "$PY" -m pip install --quiet --user --no-warn-script-location \
                   --break-system-packages "$PYTEST_PIN" "$HATCHLING_PIN"
    fi
elif [[ $(cat "$VENV/.ergon-installed" 2>/dev/null) != "$PYTEST_PIN $HATCHLING_PIN" ]]; then
    say "installing $PYTEST_PIN $HATCHLING_PIN into $VENV"
    "$PY" -m pip install --quiet "$PYTEST_PIN" "$HATCHLING_PIN"
    echo "$PYTEST_PIN $HATCHLING_PIN" > "$VENV/.ergon-installed"
fi

# --- the external oracle: Google's dp-accounting, from the package registry ---------------------
# test_dp_accounting.py compares ergon's privacy accounting with it at test time. If it cannot
# be installed (no registry), say so and mark it, so that those tests skip visibly rather than
# fail for a reason unrelated to ergon; without the mark a missing package fails them.
DP_ACCOUNTING_PIN="dp-accounting==0.6.0"
if ! "$PY" -c 'import importlib.metadata as m, sys; sys.exit(m.version("dp-accounting") != "0.6.0")' \
        2>/dev/null; then
    say "installing $DP_ACCOUNTING_PIN (external oracle of the DPK accounting tests)"
    if ! "$PY" -m pip install --quiet ${PIP_USER[@]+"${PIP_USER[@]}"} "$DP_ACCOUNTING_PIN" 2>&1 \
            && ! { [[ ${#PIP_USER[@]} != 0 ]] && "$PY" -m pip install --quiet "${PIP_USER[@]}" \
                   --break-system-packages "$DP_ACCOUNTING_PIN"; }; then
        say "WARNING: could not install $DP_ACCOUNTING_PIN: the dp-accounting oracle tests are SKIPPED" >&2
        export ERGON_DP_ACCOUNTING=unavailable
    fi
fi

# --- the package: a real (non-editable) install of ./bindings/python ---------------------------
# The build backend (hatchling) is already in the environment, so no isolated build env is made.
install_package() {
    "$PY" -m pip install --quiet ${PIP_USER[@]+"${PIP_USER[@]}"} "$@" \
        --no-deps --no-build-isolation --force-reinstall ./bindings/python
}
if [[ ${#PIP_USER[@]} == 0 ]]; then
    install_package
else  # a system Python may be "externally managed" (PEP 668)
    install_package 2>/dev/null || install_package --break-system-packages
fi
"$PY" -c 'import ergon, sys; sys.exit(0 if "site-packages" in ergon.__file__ else 1)' || {
    echo "python: the ergon package did not install into site-packages" >&2; exit 1; }

# --- the tests ---------------------------------------------------------------------------------
status=0
ERGON_LIBRARY=$LIB ERGON_CLI=$CLI "$PY" -m pytest -q -rs -p no:cacheprovider bindings/python/tests "$@" \
    || status=$?
if [[ $status == 5 ]]; then
    echo "python: pytest collected no tests: counted as a failure" >&2
fi
exit "$status"
