//! Property tests of the privacy knapsack (dpk-orloj.md O11): feasibility of every
//! allocation, DPK with one order = Area, DPK ≤ exact optimum, the single-block count
//! guarantee, input-order independence, the online unlocked-budget bound and the unlocking
//! formula.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop)]

mod support;

use ergon_core::dpk::{
    Block, FEASIBILITY_RTOL, KnapsackMode, OnlineConfig, OnlineTask, RdpCurve, ScheduleOptions,
    Scheduler, Task, Unlocking, Workload, block_arrival, schedule, simulate, unlocked_fraction,
};
use proptest::prelude::*;
use support::xorshift::XorShift64;

const ALPHAS: [f64; 3] = [2.0, 4.0, 8.0];

#[derive(Debug, Clone)]
struct Spec {
    num_orders: usize,
    caps: Vec<Vec<f64>>,
    tasks: Vec<(f64, Vec<bool>, Vec<f64>)>,
}

fn spec(
    max_blocks: usize,
    max_orders: usize,
    max_tasks: usize,
    unit: bool,
) -> impl Strategy<Value = Spec> {
    (1..=max_blocks, 1..=max_orders).prop_flat_map(move |(m, na)| {
        let caps = prop::collection::vec(prop::collection::vec(0.0f64..2.0, na), m);
        let weight = if unit {
            Just(1.0).boxed()
        } else {
            (1u32..6).prop_map(f64::from).boxed()
        };
        let task = (
            weight,
            prop::collection::vec(any::<bool>(), m),
            prop::collection::vec(0.0f64..1.2, na),
        );
        let tasks = prop::collection::vec(task, 1..=max_tasks);
        (Just(na), caps, tasks).prop_map(|(num_orders, caps, tasks)| Spec {
            num_orders,
            caps,
            tasks,
        })
    })
}

fn build(s: &Spec) -> Workload {
    let m = s.caps.len();
    let blocks = s
        .caps
        .iter()
        .enumerate()
        .map(|(j, c)| Block {
            id: j as u64 * 10,
            capacity: c.iter().copied().collect(),
            arrival: 0.0,
        })
        .collect();
    let tasks = s
        .tasks
        .iter()
        .enumerate()
        .map(|(i, (w, mask, d))| {
            let mut blocks: Vec<u64> = (0..m).filter(|&j| mask[j]).map(|j| j as u64 * 10).collect();
            if blocks.is_empty() {
                blocks.push((i % m) as u64 * 10);
            }
            Task {
                id: 100 + i as u64,
                weight: *w,
                // Some equal arrivals, so the id tie rule is exercised.
                arrival: (i / 2) as f64,
                blocks,
                demand: d.iter().copied().collect(),
            }
        })
        .collect();
    Workload::new(&ALPHAS[..s.num_orders], blocks, tasks).unwrap()
}

/// `true` when the task subset (positions) is feasible: ∃ order per block.
fn feasible(w: &Workload, set: &[usize]) -> bool {
    let na = w.alphas().len();
    w.blocks().iter().enumerate().all(|(j, b)| {
        let mut sum = vec![0.0; na];
        for &i in set {
            if w.task_block_indices(i).contains(&(j as u32)) {
                for a in 0..na {
                    sum[a] += w.tasks()[i].demand[a];
                }
            }
        }
        // An order without capacity certifies nothing; elsewhere rounding slack only.
        (0..na).any(|a| {
            b.capacity[a] > 0.0 && sum[a] <= b.capacity[a] * (1.0 + 10.0 * FEASIBILITY_RTOL)
        })
    })
}

fn positions(w: &Workload, ids: &[u64]) -> Vec<usize> {
    ids.iter()
        .map(|id| w.tasks().iter().position(|t| t.id == *id).unwrap())
        .collect()
}

/// Exact optimum by enumerating every subset.
fn brute_force(w: &Workload) -> f64 {
    let n = w.tasks().len();
    let mut best = 0.0_f64;
    for mask in 0u32..(1 << n) {
        let set: Vec<usize> = (0..n).filter(|i| mask >> i & 1 == 1).collect();
        let weight: f64 = set.iter().map(|&i| w.tasks()[i].weight).sum();
        if weight > best && feasible(w, &set) {
            best = weight;
        }
    }
    best
}

fn all_schedulers() -> Vec<ScheduleOptions> {
    let mut v: Vec<ScheduleOptions> = Scheduler::ALL
        .iter()
        .map(|s| ScheduleOptions::with(*s))
        .collect();
    v.push(ScheduleOptions {
        recompute_every: 1,
        ..ScheduleOptions::default()
    });
    v.push(ScheduleOptions {
        knapsack: KnapsackMode::Count,
        ..ScheduleOptions::default()
    });
    v.push(ScheduleOptions {
        dpf_weighted: false,
        ..ScheduleOptions::with(Scheduler::Dpf)
    });
    v.push(ScheduleOptions {
        dpf_capacity: ergon_core::dpk::DpfCapacity::Remaining,
        recompute_every: 2,
        ..ScheduleOptions::with(Scheduler::Dpf)
    });
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_allocation_is_feasible_and_remaining_is_consistent(s in spec(4, 3, 14, false)) {
        let w = build(&s);
        for opts in all_schedulers() {
            let a = schedule(&w, &opts).unwrap();
            let set = positions(&w, &a.allocated);
            prop_assert!(feasible(&w, &set), "{:?} infeasible: {:?}", opts.scheduler, a.allocated);
            let total: f64 = set.iter().map(|&i| w.tasks()[i].weight).sum();
            prop_assert!((total - a.total_weight).abs() < 1e-9);
            // remaining = capacity − Σ demand of allocated tasks on the block, at every order.
            for (j, b) in w.blocks().iter().enumerate() {
                for k in 0..w.alphas().len() {
                    let used: f64 = set
                        .iter()
                        .filter(|&&i| w.task_block_indices(i).contains(&(j as u32)))
                        .map(|&i| w.tasks()[i].demand[k])
                        .sum();
                    prop_assert!((b.capacity[k] - used - a.remaining[j][k]).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn dpk_with_one_order_equals_area(s in spec(4, 1, 14, false)) {
        let w = build(&s);
        let dpk = ScheduleOptions { single_task_fallback: false, ..ScheduleOptions::default() };
        prop_assert_eq!(
            schedule(&w, &dpk).unwrap().allocated,
            schedule(&w, &ScheduleOptions::with(Scheduler::Area)).unwrap().allocated
        );
        let dpk_k = ScheduleOptions { recompute_every: 1, ..dpk };
        let area_k = ScheduleOptions { recompute_every: 1, ..ScheduleOptions::with(Scheduler::Area) };
        prop_assert_eq!(
            schedule(&w, &dpk_k).unwrap().allocated,
            schedule(&w, &area_k).unwrap().allocated
        );
    }

    #[test]
    fn heuristics_never_beat_the_exact_optimum(s in spec(3, 3, 12, false)) {
        let w = build(&s);
        let opt = brute_force(&w);
        let bnb = schedule(&w, &ScheduleOptions::with(Scheduler::Optimal)).unwrap();
        prop_assert!(bnb.proven_optimal());
        prop_assert!((bnb.total_weight - opt).abs() < 1e-9, "B&B {} vs brute force {}", bnb.total_weight, opt);
        for opts in all_schedulers() {
            let a = schedule(&w, &opts).unwrap();
            prop_assert!(a.total_weight <= opt + 1e-9);
        }
    }

    #[test]
    fn single_block_unit_weight_count_dpk_is_optimal(s in spec(1, 3, 14, true)) {
        let w = build(&s);
        let opt = brute_force(&w);
        for knapsack in [KnapsackMode::Count, KnapsackMode::Weighted] {
            let opts = ScheduleOptions { knapsack, ..ScheduleOptions::default() };
            prop_assert_eq!(schedule(&w, &opts).unwrap().total_weight, opt);
        }
    }

    #[test]
    fn results_do_not_depend_on_task_order(s in spec(3, 3, 12, false), seed in any::<u64>()) {
        let w = build(&s);
        let mut tasks = w.tasks().to_vec();
        // Deterministic shuffle from the seed.
        let mut random = XorShift64(seed | 1);
        for i in (1..tasks.len()).rev() {
            tasks.swap(i, (random.next_u64() % (i as u64 + 1)) as usize);
        }
        let shuffled = Workload::new(w.alphas(), w.blocks().to_vec(), tasks).unwrap();
        for opts in all_schedulers() {
            let a = schedule(&w, &opts).unwrap();
            let b = schedule(&shuffled, &opts).unwrap();
            prop_assert_eq!(&a.allocated, &b.allocated, "{:?}", opts.scheduler);
            prop_assert_eq!(a.total_weight, b.total_weight);
        }
    }

    #[test]
    fn online_never_exceeds_the_unlocked_budget(
        initial in 1u32..4,
        extra in 0u32..5,
        period in prop::sample::select(vec![0.5, 1.0, 2.0]),
        steps in 1u32..6,
        by_arrivals in any::<bool>(),
        sched in prop::sample::select(vec![Scheduler::Dpk, Scheduler::Dpf, Scheduler::Fcfs, Scheduler::Area]),
        raw in prop::collection::vec((0.0f64..8.0, 1u32..4, prop::collection::vec(0.0f64..4.0, 3)), 1..40),
    ) {
        let unlocking = if by_arrivals {
            Unlocking::Arrivals { steps }
        } else {
            Unlocking::Time { period: 0.7, steps }
        };
        let tasks: Vec<OnlineTask> = raw
            .iter()
            .enumerate()
            .map(|(i, (t, k, d))| OnlineTask {
                id: i as u64,
                weight: 1.0,
                arrival: *t,
                num_blocks: *k,
                demand: d.iter().copied().collect(),
            })
            .collect();
        let cfg = OnlineConfig {
            alphas: RdpCurve::from_slice(&[4.0, 8.0, 16.0]).unwrap(),
            block_epsilon: 10.0,
            block_delta: 1e-7,
            block_conversion: Default::default(),
            initial_blocks: initial,
            total_blocks: initial + extra,
            scheduling_period: period,
            unlocking,
            options: ScheduleOptions { recompute_every: 3, ..ScheduleOptions::with(sched) },
            tasks: tasks.clone(),
        };
        let r = simulate(&cfg).unwrap();
        let cap = ergon_core::dpk::rdp::block_capacity(&cfg.alphas, 10.0, 1e-7).unwrap();
        let m = (initial + extra) as usize;
        // Replay: at each allocation time, consumed ≤ unlocked at some order on every block.
        let mut times: Vec<f64> = r.allocations.iter().map(|a| a.time).collect();
        times.dedup();
        for &t in &times {
            for j in 0..m {
                let arrivals_on = tasks
                    .iter()
                    .filter(|x| x.arrival <= t)
                    .filter(|x| {
                        // The blocks the task requests: the latest num_blocks existing at arrival.
                        let existing = initial + (x.arrival.floor() as u32).min(extra);
                        let k = x.num_blocks.min(existing);
                        (existing - k..existing).contains(&(j as u32))
                    })
                    .count() as u64;
                let f = unlocked_fraction(&unlocking, t, block_arrival(initial, j as u32), arrivals_on);
                prop_assert!((0.0..=1.0).contains(&f));
                let mut used = [0.0; 3];
                let mut any = false;
                for a in r.allocations.iter().filter(|a| a.time <= t && a.blocks.contains(&(j as u32))) {
                    any = true;
                    let d = &tasks[a.id as usize].demand;
                    for k in 0..3 { used[k] += d[k]; }
                }
                if any {
                    prop_assert!(
                        (0..3).any(|k| used[k] <= f * cap[k] + 1e-7),
                        "block {} at t = {}: used {:?}, unlocked {} of {:?}", j, t, used, f, cap
                    );
                }
            }
        }
        for a in &r.allocations {
            let task = &tasks[a.id as usize];
            prop_assert!(a.time >= task.arrival && (a.delay - (a.time - task.arrival)).abs() < 1e-12);
        }
    }

    #[test]
    fn unlocked_fraction_formula(
        t in 0.0f64..100.0, tj in 0.0f64..50.0, period in 0.1f64..10.0, steps in 1u32..2000, arrivals in 0u64..3000,
    ) {
        let u = Unlocking::Time { period, steps };
        let f = unlocked_fraction(&u, t, tj, 0);
        let want = if t < tj { 0.0 } else { ((t - tj) / period).ceil().min(f64::from(steps)) / f64::from(steps) };
        prop_assert_eq!(f, want);
        prop_assert!((0.0..=1.0).contains(&f));
        prop_assert!(unlocked_fraction(&u, t + period, tj, 0) >= f);
        let n = Unlocking::Arrivals { steps };
        let g = unlocked_fraction(&n, t, tj, arrivals);
        prop_assert_eq!(g, arrivals.min(u64::from(steps)) as f64 / f64::from(steps));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Long contiguous requests take DPK's prefix-sum path; the same tasks with their block
    /// lists reversed take the direct path. Same allocation (demands are random, so rounding
    /// never decides a tie).
    #[test]
    fn dpk_prefix_path_matches_direct_path(
        m in 20usize..30,
        raw in prop::collection::vec((0usize..30, 17usize..30, prop::collection::vec(0.01f64..0.5, 3)), 5..40),
        recompute in 0usize..3,
    ) {
        let blocks: Vec<Block> = (0..m as u64)
            .map(|id| Block { id, capacity: RdpCurve::from_slice(&[1.0, 2.0, 3.0]).unwrap(), arrival: 0.0 })
            .collect();
        let mk = |reverse: bool| {
            let tasks: Vec<Task> = raw
                .iter()
                .enumerate()
                .map(|(i, (start, len, d))| {
                    let len = (*len).min(m);
                    let lo = (*start).min(m - len) as u64;
                    let mut b: Vec<u64> = (lo..lo + len as u64).collect();
                    if reverse {
                        b.reverse();
                    }
                    Task { id: i as u64, weight: 1.0, arrival: 0.0, blocks: b, demand: d.iter().copied().collect() }
                })
                .collect();
            Workload::new(&ALPHAS, blocks.clone(), tasks).unwrap()
        };
        let opts = ScheduleOptions { recompute_every: recompute, ..ScheduleOptions::default() };
        let a = schedule(&mk(false), &opts).unwrap();
        let b = schedule(&mk(true), &opts).unwrap();
        prop_assert_eq!(a.allocated, b.allocated);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// O11: with one order and unit weights, DPF is "smallest max-share first" (shares against
    /// the initial capacity, ties by arrival then id), greedy with the budget check.
    #[test]
    fn dpf_one_order_unit_weights_is_smallest_max_share_first(s in spec(4, 1, 14, true)) {
        let w = build(&s);
        let share = |i: usize| {
            w.task_block_indices(i)
                .iter()
                .map(|&j| {
                    let c = w.blocks()[j as usize].capacity[0];
                    if c > 0.0 { w.tasks()[i].demand[0] / c } else { 0.0 }
                })
                .fold(0.0, f64::max)
        };
        let mut order: Vec<usize> = (0..w.tasks().len()).collect();
        order.sort_by(|&a, &b| {
            share(a)
                .total_cmp(&share(b))
                .then(w.tasks()[a].arrival.total_cmp(&w.tasks()[b].arrival))
                .then(w.tasks()[a].id.cmp(&w.tasks()[b].id))
        });
        let mut remaining: Vec<f64> = w.blocks().iter().map(|b| b.capacity[0]).collect();
        let mut expect = Vec::new();
        for i in order {
            let d = w.tasks()[i].demand[0];
            let blocks = w.task_block_indices(i);
            if blocks.iter().all(|&j| {
                let c = w.blocks()[j as usize].capacity[0];
                c > 0.0 && remaining[j as usize] - d >= -FEASIBILITY_RTOL * c
            }) {
                for &j in blocks {
                    remaining[j as usize] -= d;
                }
                expect.push(w.tasks()[i].id);
            }
        }
        let got = schedule(&w, &ScheduleOptions::with(Scheduler::Dpf)).unwrap().allocated;
        prop_assert_eq!(got, expect);
    }
}
