//! Replays the C ABI fuzz targets' inputs on stable: every file of
//! `fuzz/regressions/<target>/` and `fuzz/corpus/<target>/` runs through the same body as the
//! libFuzzer target, compiled from `fuzz/src/abi.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/src/abi.rs"]
mod abi;
#[allow(dead_code)]
#[path = "../../fuzz/src/readers.rs"]
mod readers;
#[path = "../../fuzz/src/replay.rs"]
mod replay;

use replay::replay;

#[test]
fn abi_frontier() {
    replay("abi_frontier", abi::abi_frontier);
}

#[test]
fn abi_dpk() {
    replay("abi_dpk", abi::abi_dpk);
}

#[test]
fn abi_names() {
    replay("abi_names", abi::abi_names);
}

#[test]
fn abi_batcher() {
    replay("abi_batcher", abi::abi_batcher);
}
