#!/usr/bin/env bash
# Tests the Python package (bindings/python) as pip builds it and against the built library and CLI:
#   - builds target/debug/libergon.so and target/debug/ergon if they are missing (or older than
#     the sources of core, ffi and cli);
#   - creates (or reuses) a virtual environment at target/pyenv with pytest;
#   - the packaging checks: downloads the pinned build backend (setuptools, setuptools-rust:
#     bindings/python/build-constraints.txt) once into target/pybuild-wheels, then, offline from
#     there and with no ERGON_LIBRARY, in a fresh venv (target/pyfresh) runs
#     `pip install ./bindings/python` (setuptools-rust runs cargo and bundles libergon and the
#     `ergon` command; timed), computes a frontier with `import ergon` and runs `ergon --help`;
#     `pip wheel ./bindings/python` must give a py3-none-<platform> wheel that holds libergon,
#     the command, the license and the extras. That wheel is what target/pyenv gets installed.
#     The cargo profile is `dev` (it reuses the debug build above; ERGON_PY_PROFILE=release
#     builds what a user gets, from scratch the first time: ~3 min on 2 cores). If the backend
#     cannot be downloaded, these checks print SKIP and the tests run on the sources instead;
#   - runs its pytest suite with ERGON_LIBRARY and ERGON_CLI pointing at the debug build (set
#     either variable beforehand to test another build, and ERGON_HEADER to that build's
#     include/ergon.h for the declaration checks; extra arguments go to pytest).
# Exits non-zero on any failure, including pytest finding no tests (its exit status 5).
# Called by scripts/test.sh after `cargo test`; runs on its own too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PYTEST_PIN="pytest==8.4.2"      # 8.x still supports Python 3.9, the package's minimum
CONSTRAINTS=$ROOT/bindings/python/build-constraints.txt
BACKEND=(setuptools setuptools-rust "tomli; python_version < '3.11'")  # pyproject's build-system
WHEELHOUSE=target/pybuild-wheels
PROFILE=${ERGON_PY_PROFILE:-dev}
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
        "$PY" -m pip install --quiet "$PYTEST_PIN"
        echo "$PYTEST_PIN" > "$VENV/.ergon-installed"
    else
        say "no usable venv: falling back to \`$PYTHON3 -m pip install --user\`"
        PY=$PYTHON3
        PIP_USER=(--user)
        "$PY" -m pip install --quiet --user --no-warn-script-location "$PYTEST_PIN" \
            || "$PY" -m pip install --quiet --user --no-warn-script-location \
                   --break-system-packages "$PYTEST_PIN"
    fi
elif [[ $(cat "$VENV/.ergon-installed" 2>/dev/null) != "$PYTEST_PIN" ]]; then
    say "installing $PYTEST_PIN into $VENV"
    "$PY" -m pip install --quiet "$PYTEST_PIN"
    echo "$PYTEST_PIN" > "$VENV/.ergon-installed"
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

# --- the package as pip builds it -------------------------------------------------------------
# The build backend comes from a wheelhouse, so that every build below (pip's isolated build
# environments included) is offline and uses exactly the pinned versions; it is downloaded once.
# It is keyed by the pins and the Python version (tomli is only needed below 3.11).
backend_key() { cat "$CONSTRAINTS"; "$PY" -c 'import sys; print(sys.version_info[:2])'; }
backend_ready() {
    [[ $(backend_key) == "$(cat "$WHEELHOUSE/key" 2>/dev/null)" ]] \
        && compgen -G "$WHEELHOUSE/setuptools_rust-*.whl" >/dev/null
}
if ! backend_ready; then
    say "downloading the build backend (${BACKEND[*]:0:2}, pinned) into $WHEELHOUSE"
    rm -rf "$WHEELHOUSE"
    if "$PY" -m pip download --quiet --only-binary=:all: -d "$WHEELHOUSE" -c "$CONSTRAINTS" \
            "${BACKEND[@]}"; then
        backend_key > "$WHEELHOUSE/key"
    else
        rm -rf "$WHEELHOUSE"
    fi
fi
# pip (and the pip of each isolated build environment, through the environment) reads these;
# cargo gets the workspace's target dir even when it builds an unpacked sdist elsewhere, so that
# nothing already built is built again.
offline_pip() {
    PIP_NO_INDEX=1 PIP_FIND_LINKS=$ROOT/$WHEELHOUSE PIP_CONSTRAINT=$CONSTRAINTS \
        SETUPTOOLS_RUST_CARGO_PROFILE=$PROFILE CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target} \
        "$@"
}
WHEEL_DIR=target/pywheel
FRESH=target/pyfresh
INSTANCE=${ERGON_PERSEUS_DATA:-$ROOT/../shared/data/perseus}/a100_s4_m8.instance.json
if ! backend_ready; then
    say "SKIP: the build backend (${BACKEND[*]:0:2}) could not be downloaded: \
\`pip install ./bindings/python\`, \`pip wheel\` and the installed-package tests are SKIPPED; \
the tests run on the sources (bindings/python/src)" >&2
    export PYTHONPATH=$ROOT/bindings/python/src${PYTHONPATH:+:$PYTHONPATH}
else
    # setuptools builds in bindings/python/build and never removes what it copied there before
    # (a module deleted from src/ would still be packed): start from nothing.
    rm -rf bindings/python/build
    # A new user: a fresh venv, no ERGON_LIBRARY, `pip install ./bindings/python`.
    rm -rf "$FRESH"
    if [[ ${#PIP_USER[@]} != 0 ]] || ! "$PYTHON3" -m venv "$FRESH" >/dev/null 2>&1; then
        say "SKIP: no venv can be made: the fresh-venv install check is SKIPPED" >&2
    else
        start=$SECONDS
        ( unset ERGON_LIBRARY ERGON_CLI
          offline_pip "$FRESH/bin/python" -m pip install --quiet ./bindings/python )
        say "pip install ./bindings/python (cargo profile $PROFILE, target dir reused): \
$((SECONDS - start)) s"
        ( unset ERGON_LIBRARY ERGON_CLI; cd "$FRESH" && bin/python - "$INSTANCE" <<'EOF'
import sys
from pathlib import Path

import ergon

bundled = Path(ergon.__file__).parent / "libergon.so"
assert Path(ergon.library_path()) == bundled, (ergon.library_path(), bundled)
assert ergon.version() == ergon.__version__, (ergon.version(), ergon.__version__)
with ergon.Frontier.from_instance(sys.argv[1]) as f:
    points, t_star_s = len(f.points), f.t_star_s
assert points > 1, points
print(f"python: fresh venv: ergon {ergon.__version__} from {bundled}: "
      f"{points} frontier points, T* = {t_star_s:.3f} s")
EOF
        )
        "$FRESH/bin/ergon" --help >/dev/null
        say "fresh venv: $("$FRESH/bin/ergon" --version) runs from $FRESH/bin/ergon"
        # The example a user copies: the plain-Python model and the dry-run executor (no torch,
        # no GPU here); it fails unless the loss falls.
        ( unset ERGON_LIBRARY; "$FRESH/bin/python" examples/python/train_with_plan.py \
              "$INSTANCE" --stage 1 --steps 3 --model python >/dev/null )
        say "fresh venv: examples/python/train_with_plan.py trained (dry run, plain-Python model)"
    fi
    # The wheel: platform-tagged, with the library, the command, the license and the extras.
    rm -rf "$WHEEL_DIR"
    start=$SECONDS
    offline_pip "$PY" -m pip wheel --quiet --no-deps -w "$WHEEL_DIR" ./bindings/python
    say "pip wheel ./bindings/python: $((SECONDS - start)) s"
    "$PY" - "$WHEEL_DIR" <<'EOF'
import re
import sys
import zipfile
from pathlib import Path

wheels = sorted(Path(sys.argv[1]).glob("*.whl"))
assert len(wheels) == 1, wheels
wheel = wheels[0]
tag = re.fullmatch(r"ergon-([^-]+)-py3-none-([^-]+)\.whl", wheel.name)
assert tag and tag.group(2) != "any", f"{wheel.name}: not a py3-none-<platform> wheel"
version = tag.group(1)
names = zipfile.ZipFile(wheel).namelist()
dist_info = f"ergon-{version}.dist-info"
for needed in ("ergon/libergon.so", f"ergon-{version}.data/scripts/ergon",
               f"{dist_info}/licenses/LICENSE", "ergon/__init__.py", "ergon/py.typed"):
    assert needed in names, f"{wheel.name} lacks {needed}: {names}"
metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
extras = set(re.findall(r"^Provides-Extra: (\S+)$", metadata, re.MULTILINE))
assert extras == {"torch", "deepspeed", "megatron", "transformers"}, extras
assert "License-Expression: Apache-2.0" in metadata
print(f"python: {wheel.name}: {len(names)} files, ergon/libergon.so and the ergon command "
      f"inside; extras {sorted(extras)}")
EOF
    # The sdist: made by the backend itself (pip cannot make one), it must carry the Rust
    # workspace under rust/ and build a wheel with the library from there alone.
    if [[ ${#PIP_USER[@]} == 0 ]]; then
        SDIST_DIR=target/pysdist
        rm -rf "$SDIST_DIR"
        start=$SECONDS
        offline_pip "$PY" -m pip install --quiet "${BACKEND[@]}"
        ( cd bindings/python && "$ROOT/$PY" -c 'import sys; from setuptools import build_meta as b
b.build_sdist(sys.argv[1])' "$ROOT/$SDIST_DIR" >/dev/null )
        sdist=$(echo "$SDIST_DIR"/ergon-*.tar.gz)
        tar tzf "$sdist" > "$SDIST_DIR/files.txt"
        grep -q '^ergon-[^/]*/rust/ffi/src/lib.rs$' "$SDIST_DIR/files.txt" \
            || { echo "python: $sdist lacks rust/ffi/src/lib.rs" >&2; exit 1; }
        offline_pip "$PY" -m pip wheel --quiet --no-deps -w "$SDIST_DIR/wheel" "$sdist"
        "$PY" -c 'import sys, zipfile; n = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit("ergon/libergon.so" not in n)' "$SDIST_DIR"/wheel/ergon-*.whl \
            || { echo "python: the wheel built from $sdist lacks ergon/libergon.so" >&2; exit 1; }
        say "$(basename "$sdist"): the Rust workspace inside; a wheel built from it alone \
has libergon ($((SECONDS - start)) s)"
    else
        say "SKIP: no venv for the build backend: the sdist check is SKIPPED" >&2
    fi
    # The suite's environment gets that wheel: the tests see the package as users install it.
    install_wheel() {
        "$PY" -m pip install --quiet ${PIP_USER[@]+"${PIP_USER[@]}"} "$@" --no-deps \
            --force-reinstall "$WHEEL_DIR"/ergon-*.whl
    }
    if [[ ${#PIP_USER[@]} == 0 ]]; then
        install_wheel
        # test_install.py fails (rather than skips) without the bundled library or the command.
        export ERGON_EXPECT_INSTALLED=1
    else  # a system Python may be "externally managed" (PEP 668)
        install_wheel 2>/dev/null || install_wheel --break-system-packages
    fi
    "$PY" -c 'import ergon, sys; sys.exit(0 if "site-packages" in ergon.__file__ else 1)' || {
        echo "python: the ergon package did not install into site-packages" >&2; exit 1; }
fi

# --- the tests ---------------------------------------------------------------------------------
status=0
ERGON_LIBRARY=$LIB ERGON_CLI=$CLI "$PY" -m pytest -q -rs -p no:cacheprovider bindings/python/tests "$@" \
    || status=$?
if [[ $status == 5 ]]; then
    echo "python: pytest collected no tests: counted as a failure" >&2
fi
exit "$status"
