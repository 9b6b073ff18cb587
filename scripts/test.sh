#!/usr/bin/env bash
# Runs every check and test of the repository: formatting, lints, the no_std build of the core
# for a bare-metal target, all Rust tests (unit, property, oracle, CLI), and the benchmark
# builds, and the Python bindings' tests. Installs what the checks need (the rustup target,
# a virtual environment with pytest) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "rustfmt"
cargo fmt --all --check

step "clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "ergon-core builds no_std for thumbv7em-none-eabihf"
if rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf \
    || rustup target add thumbv7em-none-eabihf; then
    cargo build -p ergon-core --no-default-features --target thumbv7em-none-eabihf --locked
    cargo build -p ergon-core --target thumbv7em-none-eabihf --locked
else
    echo "WARNING: could not install the thumbv7em-none-eabihf target;" \
         "building ergon-core without default features on the host instead" >&2
    cargo build -p ergon-core --no-default-features --locked
fi

step "build (the C and Python tests load libergon and run ergon from target/debug)"
cargo build --workspace --locked

step "tests"
cargo test --workspace --locked

step "Python bindings (pytest against the built libergon.so and ergon)"
scripts/test-python.sh

step "benchmarks compile"
cargo bench --workspace --no-run --locked
