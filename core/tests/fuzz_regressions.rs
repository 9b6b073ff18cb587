//! Replays the fuzz targets' inputs on stable: every file of `fuzz/regressions/<target>/`
//! (crashers found by `scripts/fuzz.sh`) and of `fuzz/corpus/<target>/` (the seeds) runs
//! through the same body as the libFuzzer target, compiled from `fuzz/src/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../../fuzz/src/readers.rs"]
mod readers;
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[allow(dead_code)]
#[path = "../../fuzz/src/solvers.rs"]
mod solvers;

use replay::replay;

#[test]
fn perseus_instance() {
    replay("perseus_instance", readers::perseus_instance);
}

#[test]
fn zeus_csv() {
    replay("zeus_csv", readers::zeus_csv);
}

#[test]
fn dpk_workload() {
    replay("dpk_workload", readers::dpk_workload);
}

#[test]
fn dpk_online() {
    replay("dpk_online", readers::dpk_online);
}

#[test]
fn orloj_sim() {
    replay("orloj_sim", readers::orloj_sim);
}

#[test]
fn frontier_solve() {
    replay("frontier_solve", solvers::frontier_solve);
}

#[test]
fn dpk_schedule() {
    replay("dpk_schedule", solvers::dpk_schedule);
}

#[test]
fn orloj_simulate() {
    replay("orloj_simulate", solvers::orloj_simulate);
}
