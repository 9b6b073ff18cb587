//! Replays the fuzz targets' inputs on stable: every file of `fuzz/regressions/<target>/`
//! (crashers found by `scripts/fuzz.sh`) and of `fuzz/corpus/<target>/` (the seeds) runs
//! through the same body as the libFuzzer target, compiled from `fuzz/src/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../../fuzz/src/readers.rs"]
mod readers;
#[macro_use]
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[allow(dead_code)]
#[path = "../../fuzz/src/solvers.rs"]
mod solvers;

replay_tests! {
    readers::perseus_instance,
    readers::perseus_plan,
    readers::zeus_csv,
    readers::zeus_trace,
    readers::zeus_state,
    readers::dpk_workload,
    readers::dpk_online,
    readers::orloj_sim,
    readers::chase_carbon_csv,
    readers::oobleck_profile,
    readers::oobleck_trace,
    readers::oobleck_develop_cache,
    readers::chase_frontier,
    solvers::frontier_solve,
    solvers::dpk_schedule,
    solvers::orloj_simulate,
}
