//! Paper-level trend checks on small generated workloads (dpk-orloj.md O12), kept fast: DPK
//! allocates at least as many tasks as DPF on the microbenchmark, the gap opens as σ_blocks and
//! σ_α grow, generators are deterministic, and FCFS is lowest online.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::dpk::generate::{AlibabaLike, Microbenchmark, zoo};
use ergon_core::dpk::{ScheduleOptions, Scheduler, Workload, schedule, simulate};

fn count(w: &Workload, s: Scheduler) -> usize {
    schedule(w, &ScheduleOptions::with(s))
        .unwrap()
        .num_allocated()
}

/// How many tasks DPK and DPF allocate on the microbenchmark `m`.
fn dpk_and_dpf(m: Microbenchmark) -> (usize, usize) {
    let w = m.workload().unwrap();
    (count(&w, Scheduler::Dpk), count(&w, Scheduler::Dpf))
}

#[test]
fn zoo_has_620_curves() {
    let z = zoo().unwrap();
    assert_eq!(z.len(), 620);
    assert!(
        z.iter()
            .all(|c| c.len() == 12 && c.iter().all(|x| x.is_finite() && *x >= 0.0))
    );
}

#[test]
fn microbenchmark_is_deterministic() {
    let m = Microbenchmark {
        num_tasks: 50,
        seed: 9,
        ..Microbenchmark::default()
    };
    assert_eq!(m.workload().unwrap(), m.workload().unwrap());
    let other = Microbenchmark { seed: 10, ..m };
    assert_ne!(m.workload().unwrap(), other.workload().unwrap());
}

#[test]
fn dpk_beats_dpf_more_as_sigma_blocks_grows() {
    let run = |sigma_blocks: f64| {
        dpk_and_dpf(Microbenchmark {
            num_tasks: 300,
            num_blocks: 10,
            mu_blocks: 5.0,
            sigma_blocks,
            seed: 1,
            ..Microbenchmark::default()
        })
    };
    let (dpk0, dpf0) = run(0.0);
    let (dpk3, dpf3) = run(3.0);
    assert!(dpk0 >= dpf0 && dpk3 >= dpf3, "{dpk0} {dpf0} {dpk3} {dpf3}");
    assert!(dpk3 as f64 / dpf3 as f64 > dpk0 as f64 / dpf0 as f64 + 0.1);
}

#[test]
fn dpk_beats_dpf_on_one_block_once_best_orders_differ() {
    let run = |sigma_alpha: f64| {
        dpk_and_dpf(Microbenchmark {
            num_tasks: 300,
            num_blocks: 1,
            mu_blocks: 1.0,
            sigma_alpha,
            eps_min_mean: 0.005,
            seed: 2,
            ..Microbenchmark::default()
        })
    };
    let (dpk0, dpf0) = run(0.0);
    assert_eq!(dpk0, dpf0);
    let (dpk2, dpf2) = run(2.0);
    assert!(dpk2 as f64 >= 1.2 * dpf2 as f64, "{dpk2} vs {dpf2}");
}

#[test]
fn alibaba_like_small_fcfs_lowest() {
    let cfg = AlibabaLike {
        num_tasks: 1500,
        initial_blocks: 10,
        total_blocks: 20,
        ..AlibabaLike::default()
    }
    .config(ScheduleOptions::default())
    .unwrap();
    let mut counts = Vec::new();
    for s in [Scheduler::Dpk, Scheduler::Dpf, Scheduler::Fcfs] {
        let mut c = cfg.clone();
        c.options = ScheduleOptions {
            recompute_every: 50,
            ..ScheduleOptions::with(s)
        };
        counts.push(simulate(&c).unwrap().num_allocated());
    }
    assert!(
        counts[0] >= counts[1] && counts[1] >= counts[2],
        "{counts:?}"
    );
}
