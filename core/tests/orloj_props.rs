//! Property tests of `core::batching`: the batch-maximum law (F_B below every member's CDF,
//! E[T] monotone in members, constants reduce to the constant maximum), the heapless variant
//! against the heap one, and the simulator (finish rate in [0, 1], outcomes add up, nothing
//! finished after its deadline, determinism for a seed), plus the batcher's bookkeeping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::orloj::sim::{
    AppConfig, Arrivals, PolicySpec, SimConfig, Status, run_policy, simulate, trace,
};
use ergon_core::orloj::{
    BatchDistribution, BatchScale, Batcher, Distribution, ExecDistribution, ExecSpec,
    FixedDistribution, TimeGrid,
};
use proptest::prelude::*;

const BINS: usize = 48;

fn grid() -> TimeGrid {
    TimeGrid::new(0.5, BINS).unwrap()
}

/// A random law on the test grid: sparse non-negative weights with at least one positive.
fn law() -> impl Strategy<Value = Distribution> {
    prop::collection::vec((0usize..BINS, 0.01f64..1.0), 1..6).prop_map(|pts| {
        let mut w = vec![0.0; BINS];
        for (i, p) in pts {
            w[i] += p;
        }
        Distribution::from_weights(grid(), &w).unwrap()
    })
}

fn spec() -> impl Strategy<Value = ExecSpec> {
    prop_oneof![
        (0.002f64..0.05).prop_map(|v| ExecSpec::Constant { value_s: v }),
        (0.002f64..0.02, 1.0f64..4.0, 0.0f64..1.0).prop_map(|(l, f, p)| ExecSpec::Bimodal {
            low_s: l,
            high_s: l * f,
            p_low: p
        }),
        (0.005f64..0.04, 0.0f64..1.5).prop_map(|(m, cv)| ExecSpec::Lognormal { mean_s: m, cv }),
        prop::collection::vec(0.002f64..0.05, 1..8).prop_map(|v| ExecSpec::Samples { values_s: v }),
    ]
}

fn sim_config() -> impl Strategy<Value = SimConfig> {
    (
        prop::collection::vec((spec(), 1.0f64..5.0), 1..4),
        any::<u64>(),
        0.5f64..2.0,
        1usize..9,
        0.0f64..0.15,
        0.05f64..1.2,
        any::<bool>(),
        0.0f64..0.9,
    )
        .prop_map(
            |(apps, seed, duration_s, max, slope, load, bursty, p_min)| {
                let n = apps.len();
                let apps = apps
                    .into_iter()
                    .enumerate()
                    .map(|(i, (exec, m))| AppConfig {
                        name: format!("app{i}"),
                        share: 1.0 / n as f64,
                        slo_s: m * exec.mean_s(),
                        exec,
                    })
                    .collect();
                SimConfig {
                    seed,
                    duration_s,
                    apps,
                    scale: BatchScale::linear(max, slope),
                    arrivals: if bursty {
                        Arrivals::Bursty {
                            load,
                            burst_factor: 3.0,
                            period_s: 0.25,
                        }
                    } else {
                        Arrivals::Poisson { load }
                    },
                    policies: PolicySpec::all(),
                    bins: 128,
                    p_min,
                    learn: seed % 2 == 0,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batch_cdf_is_below_every_member_cdf(laws in prop::collection::vec((law(), 1usize..3), 1..4)) {
        let members: Vec<(&Distribution, usize)> = laws.iter().map(|(d, n)| (d, *n)).collect();
        let b = BatchDistribution::new(&BatchScale::unit(16).unwrap(), &members).unwrap();
        for i in 0..BINS {
            let t = grid().time_s(i);
            let min = laws.iter().map(|(d, _)| d.cdf_at(t)).fold(1.0, f64::min);
            prop_assert!(b.cdf_at(t) <= min + 1e-12, "t = {t}: {} > {min}", b.cdf_at(t));
        }
        let total: f64 = b.points().iter().map(|p| p.1).sum();
        prop_assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn adding_a_member_never_lowers_the_mean(
        laws in prop::collection::vec(law(), 1..5),
        extra in law(),
        slope in 0.0f64..0.3,
    ) {
        let scale = BatchScale::linear(8, slope);
        let members: Vec<(&Distribution, usize)> = laws.iter().map(|d| (d, 1)).collect();
        let before = BatchDistribution::new(&scale, &members).unwrap().mean_s();
        let mut more = members.clone();
        more.push((&extra, 1));
        let after = BatchDistribution::new(&scale, &more).unwrap().mean_s();
        prop_assert!(after >= before - 1e-12 * before.max(1.0), "{after} < {before}");
        // And the mean is at least every member's own mean.
        for d in &laws {
            prop_assert!(before >= d.mean_s() - 1e-9);
        }
    }

    #[test]
    fn constants_reduce_to_the_constant_maximum(values in prop::collection::vec((1usize..BINS, 1usize..4), 1..5)) {
        let laws: Vec<(Distribution, usize)> = values
            .iter()
            .map(|&(i, n)| {
                let d = Distribution::from_spec(grid(), &ExecSpec::Constant { value_s: grid().time_s(i) }, "c").unwrap();
                (d, n)
            })
            .collect();
        let members: Vec<(&Distribution, usize)> = laws.iter().map(|(d, n)| (d, *n)).collect();
        let b = BatchDistribution::new(&BatchScale::unit(16).unwrap(), &members).unwrap();
        let max = values.iter().map(|v| grid().time_s(v.0)).fold(0.0, f64::max);
        prop_assert_eq!(b.points(), vec![(max, 1.0)]);
        prop_assert!((b.mean_s() - max).abs() <= 1e-9);
        prop_assert_eq!(b.cdf_at(max), 1.0);
        prop_assert_eq!(b.cdf_at(max - 0.25), 0.0);
    }

    #[test]
    fn heapless_variant_equals_the_vec_variant(
        samples in prop::collection::vec(0.0f64..30.0, 1..40),
        observed in prop::collection::vec(0.0f64..30.0, 0..10),
        decay in 0.01f64..1.0,
    ) {
        let mut heap = Distribution::from_samples(grid(), &samples).unwrap();
        let mut fixed: FixedDistribution<BINS> = FixedDistribution::from_samples(grid(), &samples).unwrap();
        for &x in &observed {
            heap.observe(x, decay).unwrap();
            fixed.observe(x, decay).unwrap();
        }
        prop_assert_eq!(heap.pmf(), fixed.pmf());
        prop_assert_eq!(heap.cdf(), fixed.cdf());
        prop_assert_eq!(heap.mean_s(), fixed.mean_s());
        prop_assert_eq!(heap.first_bin(), fixed.first_bin());
        prop_assert_eq!(heap.full_bin(), fixed.full_bin());
        for p in [0.0, 0.05, 0.5, 0.99, 1.0] {
            prop_assert_eq!(heap.quantile_s(p), fixed.quantile_s(p));
        }
        let scale = BatchScale::linear(4, 0.1);
        let a = BatchDistribution::new(&scale, &[(&heap, 3)]).unwrap();
        let b = BatchDistribution::new(&scale, &[(&fixed, 3)]).unwrap();
        prop_assert_eq!(a.points(), b.points());
        prop_assert_eq!(a.mean_s(), b.mean_s());
        // A copy of the heap law is the same law.
        let copy: FixedDistribution<BINS> = FixedDistribution::from_distribution(&heap).unwrap();
        prop_assert_eq!(copy.cdf(), heap.cdf());
    }

    #[test]
    fn samples_law_matches_the_empirical_cdf(samples in prop::collection::vec(0.0f64..23.0, 1..40)) {
        // On grid points, F(t) = #(samples rounded up ≤ t) / n: exact for samples on the grid.
        let on_grid: Vec<f64> = samples.iter().map(|x| (x * 2.0).ceil() / 2.0).collect();
        let d = Distribution::from_samples(grid(), &on_grid).unwrap();
        for i in 0..BINS {
            let t = grid().time_s(i);
            let count = on_grid.iter().filter(|&&x| x <= t).count();
            prop_assert!((d.cdf_at(t) - count as f64 / on_grid.len() as f64).abs() < 1e-9);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20))]

    #[test]
    fn simulator_outcomes_are_consistent(cfg in sim_config()) {
        let requests = trace(&cfg).unwrap();
        for &p in &cfg.policies {
            let (r, outcomes) = run_policy(&cfg, &requests, p).unwrap();
            prop_assert!((0.0..=1.0).contains(&r.finish_rate), "{}: {}", r.policy, r.finish_rate);
            prop_assert_eq!(r.arrived as usize, requests.len());
            prop_assert_eq!(r.finished + r.late + r.dropped, r.arrived);
            for (req, o) in requests.iter().zip(&outcomes) {
                match o.status {
                    Status::Finished => {
                        prop_assert!(o.done_s <= req.deadline_s, "{} finished after its deadline", r.policy);
                        prop_assert!(o.done_s >= req.arrival_s);
                    }
                    Status::Late => prop_assert!(o.done_s > req.deadline_s),
                    Status::Dropped => {}
                }
            }
            if r.finished > 0 {
                let slo = cfg.apps.iter().map(|a| a.slo_s).fold(0.0, f64::max);
                prop_assert!(r.p99_latency_s <= slo + 1e-12);
            }
        }
    }

    #[test]
    fn simulator_is_deterministic_for_a_seed(cfg in sim_config()) {
        let a = simulate(&cfg).unwrap();
        let b = simulate(&cfg).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn batcher_returns_every_request_exactly_once(
        reqs in prop::collection::vec((0usize..3, 0.0f64..1.0, 0.0f64..0.2), 1..200),
        policy in 0usize..10,
    ) {
        let laws: Vec<Distribution> = [
            ExecSpec::Bimodal { low_s: 0.006, high_s: 0.02, p_low: 0.3 },
            ExecSpec::Lognormal { mean_s: 0.03, cv: 1.0 },
            ExecSpec::Constant { value_s: 0.01 },
        ]
        .iter()
        .map(|s| Distribution::from_spec(TimeGrid::covering(0.2, 256).unwrap(), s, "a").unwrap())
        .collect();
        let spec = PolicySpec::all()[policy];
        let mut b = Batcher::new(laws, Box::new(BatchScale::linear(8, 0.1)), spec.build(0.1)).unwrap();
        let mut sorted = reqs.clone();
        sorted.sort_by(|x, y| x.1.total_cmp(&y.1));
        let mut seen = vec![0u32; sorted.len()];
        let (mut batch, mut dropped) = ([0u64; 8], [0u64; 3]);
        let mut now = 0.0;
        let mut next = 0;
        while next < sorted.len() || b.queued() > 0 {
            while next < sorted.len() && sorted[next].1 <= now {
                let (app, at, slo) = sorted[next];
                b.enqueue(app, next as u64, at, at + slo).unwrap();
                next += 1;
            }
            if b.queued() == 0 {
                now = sorted[next].1;
                continue;
            }
            let d = b.next_batch(now, &mut batch, &mut dropped).unwrap();
            prop_assert!(d.batch_len <= 8);
            for &id in batch[..d.batch_len].iter().chain(&dropped[..d.dropped_len]) {
                seen[id as usize] += 1;
            }
            if d.batch_len > 0 {
                now += 0.01;
                b.batch_done(0.01).unwrap();
            } else if !d.more_dropped && b.queued() > 0 {
                prop_assert!(false, "{} formed no batch with requests queued", spec.name());
            }
        }
        prop_assert!(seen.iter().all(|&s| s == 1), "{seen:?}");
    }
}
