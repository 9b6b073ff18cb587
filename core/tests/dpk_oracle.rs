//! DPK oracles O1–O11 of dpk-orloj.md Part C, with the exact values of the notes, and the 200
//! random 1-D knapsack instances with known optima (shared/data/dpk/kp_instances.json).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::dpk::kp::{self, KpItem};
use ergon_core::dpk::rdp::{self, STANDARD_ALPHAS};
use ergon_core::dpk::{
    Allocation, Block, KnapsackMode, RdpCurve, ScheduleOptions, Scheduler, Task, Workload, schedule,
};

#[track_caller]
fn close(got: f64, want: f64, rel: f64) {
    let tol = rel * want.abs().max(1e-12);
    assert!(
        (got - want).abs() <= tol,
        "got {got}, want {want} (rel tol {rel})"
    );
}

#[track_caller]
fn close_vec(got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1e-6);
        assert!(
            (g - w).abs() <= tol,
            "entry {i}: got {g}, want {w}\n{got:?}"
        );
    }
}

fn curve(v: &[f64]) -> RdpCurve {
    v.iter().copied().collect()
}

// ---------------------------------------------------------------- O1: capacities

/// Asserts the capacity of the (ε = 10, δ) block at the standard orders (the notes' values, to
/// 1e-6) and returns it.
#[track_caller]
fn assert_capacity(delta: f64, want: [f64; 12]) -> RdpCurve {
    let c = rdp::block_capacity(&STANDARD_ALPHAS, 10.0, delta).unwrap();
    close_vec(&c, &want, 1e-6);
    c
}

#[test]
fn o1_capacity_default_block() {
    let c = assert_capacity(
        1e-7,
        [
            0.0, 0.0, 0.0, 0.0, 1.940952, 4.627301, 5.970476, 6.776381, 7.697415, 8.925460,
            9.480061, 9.744157,
        ],
    );
    for (a, c) in STANDARD_ALPHAS.iter().zip(&c) {
        if *c > 0.0 {
            close(c + (1e7f64).ln() / (a - 1.0), 10.0, 1e-12);
        }
    }
}

#[test]
fn o1_capacity_delta_1e5() {
    assert_capacity(
        1e-5,
        [
            0.0, 0.0, 0.0, 2.324716, 4.243537, 6.162358, 7.121769, 7.697415, 8.355296, 9.232472,
            9.628615, 9.817255,
        ],
    );
}

// ---------------------------------------------------------------- O2: curves

#[test]
fn o2_gaussian_sigma_1() {
    let g = rdp::gaussian(&STANDARD_ALPHAS, 1.0).unwrap();
    let want: Vec<f64> = STANDARD_ALPHAS.iter().map(|a| a / 2.0).collect();
    close_vec(&g, &want, 1e-12);
}

#[test]
fn o2_laplace_b2_and_b1() {
    let b2 = [
        0.1559778785,
        0.1788529722,
        0.2003038962,
        0.2387126588,
        0.2712264323,
        0.3209265302,
        0.3552653184,
        0.3794528106,
        0.4102678818,
        0.4559067794,
        0.4781484250,
        0.4891221587,
    ];
    let b1 = [
        0.512884, 0.570533, 0.619124, 0.693951, 0.746828, 0.813689, 0.853078, 0.878776, 0.910199,
        0.955907, 0.978148, 0.989122,
    ];
    for (b, want) in [(2.0, b2), (1.0, b1)] {
        close_vec(&rdp::laplace(&STANDARD_ALPHAS, b).unwrap(), &want, 1e-6);
    }
}

#[test]
fn o2_laplace_overflow_safe() {
    // b tiny: e^{(α−1)/b} overflows f64; the value must stay finite and ≈ 1/b.
    let l = rdp::laplace(&STANDARD_ALPHAS, 1e-4).unwrap();
    for (a, v) in STANDARD_ALPHAS.iter().zip(&l) {
        assert!(v.is_finite());
        let dropped = ((a / (2.0 * a - 1.0)).ln() + (a - 1.0) / 1e-4) / (a - 1.0);
        close(*v, dropped, 1e-12);
    }
}

#[test]
fn o2_calibrated_gaussian() {
    let s = rdp::gaussian_sigma_classic(0.5, 1e-6).unwrap();
    close(s, 10.5976050537, 1e-9);
    let g = rdp::gaussian(&STANDARD_ALPHAS, s).unwrap();
    close(g[0], 0.006677990587, 1e-8);
}

#[test]
fn o2_subsampled_gaussian_integer_and_fractional() {
    let g = rdp::subsampled_gaussian(&STANDARD_ALPHAS, 0.01, 1.0, 100.0).unwrap();
    close_vec(
        &g,
        &[
            0.012725374,
            0.014938885,
            0.017181342,
            0.021757533,
            0.026463757,
            0.036315405,
            0.046866724,
            0.058349815,
            0.089364391,
            308.785078,
            1124.627594,
            2732.173187,
        ],
        1e-6,
    );
}

#[test]
fn o2_subsampled_gaussian_special_cases() {
    let zero = rdp::subsampled_gaussian(&STANDARD_ALPHAS, 0.0, 1.0, 10.0).unwrap();
    assert!(zero.iter().all(|&x| x == 0.0));
    let full = rdp::subsampled_gaussian(&STANDARD_ALPHAS, 1.0, 2.0, 3.0).unwrap();
    let g = rdp::gaussian(&STANDARD_ALPHAS, 2.0).unwrap();
    close_vec(&full, &rdp::scale(&g, 3.0), 1e-12);
}

#[test]
fn subsampled_laplace_is_below_plain_laplace_and_grows_with_q() {
    let plain = rdp::laplace(&STANDARD_ALPHAS, 1.0).unwrap();
    let small = rdp::subsampled_laplace(&STANDARD_ALPHAS, 0.01, 1.0, 1.0).unwrap();
    let large = rdp::subsampled_laplace(&STANDARD_ALPHAS, 0.2, 1.0, 1.0).unwrap();
    for i in 0..STANDARD_ALPHAS.len() {
        assert!(small[i] <= plain[i] + 1e-15 && large[i] <= plain[i] + 1e-15);
        assert!(
            small[i] < large[i],
            "order {i}: {} !< {}",
            small[i],
            large[i]
        );
    }
}

// ---------------------------------------------------------------- O3: conversions

#[test]
fn o3_tight_conversion_opacus_doctest() {
    // Orders 2..32 are 31 orders, more than MAX_ORDERS: curves are per order, so compute and
    // convert in two chunks and keep the smaller ε.
    let all: Vec<f64> = (2..=32).map(f64::from).collect();
    let mut best = (f64::INFINITY, 0.0);
    for chunk in all.chunks(16) {
        let a = rdp::subsampled_gaussian(chunk, 1e-5, 1.0, 10.0).unwrap();
        let b = rdp::subsampled_gaussian(chunk, 1e-4, 3.0, 4.0).unwrap();
        let c = rdp::compose(&a, &b).unwrap();
        let (eps, idx) = rdp::dp_epsilon_tight(chunk, &c, 1e-5).unwrap();
        if eps < best.0 {
            best = (eps, chunk[idx]);
        }
    }
    assert!((best.0 - 0.3363).abs() < 5e-5, "eps = {}", best.0);
    assert_eq!(best.1, 23.0);
}

#[test]
fn o3_classic_conversion_gaussian() {
    let g = rdp::gaussian(&STANDARD_ALPHAS, 2.0).unwrap();
    let (eps, idx) = rdp::dp_epsilon(&STANDARD_ALPHAS, &g, 1e-6).unwrap();
    close(eps, 2.921034, 1e-6);
    assert_eq!(STANDARD_ALPHAS[idx], 16.0);
}

#[test]
fn capacity_is_the_inverse_of_the_classic_conversion() {
    let c = rdp::block_capacity(&STANDARD_ALPHAS, 10.0, 1e-7).unwrap();
    let (eps, _) = rdp::dp_epsilon(&STANDARD_ALPHAS, &c, 1e-7).unwrap();
    close(eps, 10.0, 1e-12);
}

// ---------------------------------------------------------------- helpers for schedules

fn run(w: &Workload, opts: ScheduleOptions) -> (Vec<u64>, f64) {
    let a = schedule(w, &opts).unwrap();
    (a.allocated, a.total_weight)
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

/// Asserts the sorted ids each scheduler allocates on `w`, and how many tasks the optimal
/// scheduler allocates; returns the optimal allocation.
#[track_caller]
fn assert_allocations(
    w: &Workload,
    rows: &[(ScheduleOptions, &[u64])],
    optimal_count: usize,
) -> Allocation {
    for &(opts, want) in rows {
        assert_eq!(sorted(run(w, opts).0), want, "{opts:?}");
    }
    let opt = schedule(w, &ScheduleOptions::with(Scheduler::Optimal)).unwrap();
    assert_eq!(opt.num_allocated(), optimal_count);
    opt
}

/// A task of weight 1 that arrives at 0.
fn unit_task(id: u64, blocks: Vec<u64>, demand: &[f64]) -> Task {
    Task {
        id,
        weight: 1.0,
        arrival: 0.0,
        blocks,
        demand: curve(demand),
    }
}

/// A block of this capacity that arrives at 0.
fn block(id: u64, capacity: &[f64]) -> Block {
    Block {
        id,
        capacity: curve(capacity),
        arrival: 0.0,
    }
}

fn dpf_unweighted() -> ScheduleOptions {
    ScheduleOptions {
        dpf_weighted: false,
        ..ScheduleOptions::with(Scheduler::Dpf)
    }
}

// ---------------------------------------------------------------- O4: Cohere's instance

fn o4(num_blocks: u64) -> Workload {
    let r = [[1.0, 0.4, 0.4], [0.4, 1.0, 0.4], [0.4, 0.4, 1.0]];
    let which = [0, 0, 1, 1, 2, 1, 0];
    let blocks = (0..num_blocks)
        .map(|id| block(id, &[1.05, 1.10, 1.15]))
        .collect();
    let tasks = (0..7u64)
        .map(|id| Task {
            id,
            weight: 100.0 + 10.0 * id as f64,
            arrival: 0.0,
            blocks: (0..num_blocks).collect(),
            demand: curve(&r[which[id as usize]]),
        })
        .collect();
    Workload::new(&[2.0, 3.0, 4.0], blocks, tasks).unwrap()
}

#[test]
fn o4_best_alpha_profits() {
    let w = o4(1);
    let profits: Vec<f64> = (0..3)
        .map(|a| {
            let items: Vec<KpItem> = w
                .tasks()
                .iter()
                .map(|t| KpItem {
                    weight: t.demand[a],
                    profit: t.weight,
                })
                .collect();
            kp::exact_dp(&items, w.blocks()[0].capacity[a]).unwrap()
        })
        .collect();
    assert_eq!(profits, vec![290.0, 300.0, 310.0]);
}

#[test]
fn o4_schedulers() {
    for nb in [1, 100] {
        let w = o4(nb);
        let dpk = schedule(&w, &ScheduleOptions::default()).unwrap();
        assert_eq!(sorted(dpk.allocated.clone()), vec![5, 6]);
        assert_eq!(dpk.total_weight, 310.0);
        // Efficiency order 6, 5, 3, 2, 1, 0, 4: 6 goes first.
        assert_eq!(dpk.allocated, vec![6, 5]);
        for rem in &dpk.remaining {
            close_vec(rem, &[-0.35, -0.30, 0.35], 1e-9);
        }
        let opt = schedule(&w, &ScheduleOptions::with(Scheduler::Optimal)).unwrap();
        assert_eq!(sorted(opt.allocated.clone()), vec![5, 6]);
        assert!(opt.proven_optimal());
        assert_eq!(opt.upper_bound, Some(310.0));
        for (opts, ids, profit) in [
            (ScheduleOptions::with(Scheduler::Dpf), [5, 6], 310.0),
            (dpf_unweighted(), [2, 4], 260.0),
            (ScheduleOptions::with(Scheduler::Fcfs), [0, 1], 210.0),
            (ScheduleOptions::with(Scheduler::Area), [5, 6], 310.0),
        ] {
            let (a, p) = run(&w, opts);
            assert_eq!(
                (sorted(a), p),
                (ids.to_vec(), profit),
                "{opts:?} on {nb} blocks"
            );
        }
    }
}

// ---------------------------------------------------------------- O5: multi-block, one order

fn o5() -> Workload {
    let blocks = (0..5).map(|id| block(id, &[1.0])).collect();
    // Two tasks on every block, then one task on each block.
    let wide = (0..2).map(|id| unit_task(id, (0..5).collect(), &[0.5]));
    let narrow = (2..7).map(|id| unit_task(id, vec![id - 2], &[0.6]));
    Workload::new(&[2.0], blocks, wide.chain(narrow).collect()).unwrap()
}

#[test]
fn o5_multi_block() {
    let rows: [(_, &[u64]); 4] = [
        (ScheduleOptions::with(Scheduler::Dpf), &[0, 1]),
        (ScheduleOptions::with(Scheduler::Fcfs), &[0, 1]),
        (ScheduleOptions::default(), &[2, 3, 4, 5, 6]),
        (ScheduleOptions::with(Scheduler::Area), &[2, 3, 4, 5, 6]),
    ];
    let opt = assert_allocations(&o5(), &rows, 5);
    assert!(opt.proven_optimal());
}

// ---------------------------------------------------------------- O6: the alpha problem

fn o6() -> Workload {
    // Even ids are cheap at α₀, odd ids at α₁.
    let demand = |id: u64| {
        if id.is_multiple_of(2) {
            [0.1, 0.9]
        } else {
            [0.9, 0.1]
        }
    };
    let tasks = (0..10)
        .map(|id| unit_task(id, vec![0], &demand(id)))
        .collect();
    Workload::new(&[2.0, 3.0], vec![block(0, &[1.0, 1.0])], tasks).unwrap()
}

#[test]
fn o6_alpha_problem() {
    let rows: [(_, &[u64]); 4] = [
        (ScheduleOptions::with(Scheduler::Dpf), &[0, 1]),
        (ScheduleOptions::with(Scheduler::Fcfs), &[0, 1]),
        (ScheduleOptions::with(Scheduler::Area), &[0, 1]),
        // Tie between α₀ and α₁ (5 tasks each): the first order wins, so the X tasks go.
        (ScheduleOptions::default(), &[0, 2, 4, 6, 8]),
    ];
    assert_allocations(&o6(), &rows, 5);
}

// ---------------------------------------------------------------- O7: mixed curves, one block

fn o7(n: u64) -> Workload {
    let g1 = rdp::gaussian(&STANDARD_ALPHAS, 1.0).unwrap();
    let g2 = rdp::subsampled_gaussian(&STANDARD_ALPHAS, 0.01, 1.0, 100.0).unwrap();
    let blocks = vec![Block::from_budget(0, &STANDARD_ALPHAS, 10.0, 1e-7, 0.0).unwrap()];
    let tasks = (0..n)
        .map(|id| unit_task(id, vec![0], if id % 2 == 0 { &g1 } else { &g2 }))
        .collect();
    Workload::new(&STANDARD_ALPHAS, blocks, tasks).unwrap()
}

#[test]
fn o7_copies_per_order() {
    let c = rdp::block_capacity(&STANDARD_ALPHAS, 10.0, 1e-7).unwrap();
    let g1 = rdp::gaussian(&STANDARD_ALPHAS, 1.0).unwrap();
    let g2 = rdp::subsampled_gaussian(&STANDARD_ALPHAS, 0.01, 1.0, 100.0).unwrap();
    let copies = |g: &RdpCurve| -> Vec<usize> {
        (0..12)
            .map(|a| kp::max_count(&vec![g[a]; 1000], c[a]))
            .collect()
    };
    assert_eq!(copies(&g1), vec![0, 0, 0, 0, 1, 2, 2, 2, 1, 1, 0, 0]);
    assert_eq!(
        copies(&g2),
        vec![0, 0, 0, 0, 73, 127, 127, 116, 86, 0, 0, 0]
    );
}

#[test]
fn o7_mixed_curves() {
    // n → (DPF, FCFS, Area, DPK, Optimal)
    let rows = [
        (25, 14, 14, 14, 14),
        (50, 22, 22, 22, 26),
        (100, 22, 22, 22, 51),
        (200, 22, 22, 22, 100),
        (300, 22, 22, 22, 127),
    ];
    for (n, dpf, fcfs, area, dpk) in rows {
        let w = o7(n);
        let count = |s| {
            schedule(&w, &ScheduleOptions::with(s))
                .unwrap()
                .num_allocated()
        };
        assert_eq!(count(Scheduler::Dpf), dpf, "DPF n={n}");
        assert_eq!(count(Scheduler::Fcfs), fcfs, "FCFS n={n}");
        assert_eq!(count(Scheduler::Area), area, "Area n={n}");
        assert_eq!(count(Scheduler::Dpk), dpk, "DPK n={n}");
    }
    for (n, all) in [(1, 1), (5, 4), (10, 7), (15, 9), (20, 12)] {
        let w = o7(n);
        for s in [
            Scheduler::Dpf,
            Scheduler::Fcfs,
            Scheduler::Area,
            Scheduler::Dpk,
            Scheduler::Optimal,
        ] {
            assert_eq!(
                schedule(&w, &ScheduleOptions::with(s))
                    .unwrap()
                    .num_allocated(),
                all,
                "{s:?} n={n}"
            );
        }
    }
    // Optimal on the table's rows it can prove (single block: the LP bound is tight).
    for (n, opt) in [(25, 14), (50, 26)] {
        let a = schedule(&o7(n), &ScheduleOptions::with(Scheduler::Optimal)).unwrap();
        assert!(a.proven_optimal(), "n={n}");
        assert_eq!(a.num_allocated(), opt, "Optimal n={n}");
    }
}

// ---------------------------------------------------------------- O8, O9

#[test]
fn o8_dpk_not_optimal_with_two_blocks() {
    let blocks = vec![block(0, &[1.0]), block(1, &[1.0])];
    let tasks = vec![
        unit_task(1, vec![0, 1], &[0.3]),
        unit_task(2, vec![0], &[0.75]),
        unit_task(3, vec![1], &[0.75]),
    ];
    let w = Workload::new(&[2.0], blocks, tasks).unwrap();
    assert_eq!(run(&w, ScheduleOptions::default()).0, vec![1]);
    assert_eq!(run(&w, ScheduleOptions::with(Scheduler::Dpf)).0, vec![1]);
    let opt = schedule(&w, &ScheduleOptions::with(Scheduler::Optimal)).unwrap();
    assert_eq!(sorted(opt.allocated), vec![2, 3]);
}

#[test]
fn o9_density_greedy_needs_the_fallback() {
    let blocks = vec![block(0, &[10.0])];
    let tasks = vec![
        Task {
            weight: 2.0,
            ..unit_task(0, vec![0], &[1.0])
        },
        Task {
            weight: 10.0,
            ..unit_task(1, vec![0], &[10.0])
        },
    ];
    let w = Workload::new(&[2.0], blocks, tasks).unwrap();
    let plain = ScheduleOptions {
        single_task_fallback: false,
        ..ScheduleOptions::default()
    };
    assert_eq!(run(&w, plain), (vec![0], 2.0));
    assert_eq!(run(&w, ScheduleOptions::default()), (vec![1], 10.0));
    assert_eq!(run(&w, ScheduleOptions::with(Scheduler::Optimal)).1, 10.0);
    let items = [
        KpItem {
            weight: 1.0,
            profit: 2.0,
        },
        KpItem {
            weight: 10.0,
            profit: 10.0,
        },
    ];
    assert_eq!(kp::greedy_with_fallback(&items, 10.0), 10.0);
}

// ---------------------------------------------------------------- O10: 1-D knapsack

fn items(pw: &[(f64, f64)]) -> Vec<KpItem> {
    pw.iter()
        .map(|&(profit, weight)| KpItem { weight, profit })
        .collect()
}

#[test]
fn o10_book_example() {
    let it = items(&[
        (6., 2.),
        (5., 3.),
        (8., 6.),
        (9., 7.),
        (6., 5.),
        (7., 9.),
        (3., 4.),
    ]);
    assert_eq!(kp::exact_dp(&it, 9.0), Some(15.0));
    assert_eq!(kp::branch_and_bound(&it, 9.0, 1_000_000), Some(15.0));
    assert_eq!(kp::solve(&it, 9.0, 0.1).0, 15.0);
    let f = kp::fptas(&it, 9.0, 0.1).unwrap();
    assert!((0.9 * 15.0..=15.0).contains(&f));
}

#[test]
fn o10_fractional_items() {
    let it = items(&[(1.0, 1.0), (2.0, 1.5), (0.2, 0.1)]);
    close(
        kp::branch_and_bound(&it, 1.0, 1_000_000).unwrap(),
        1.0,
        1e-12,
    );
    let f = kp::fptas(&it, 1.0, 0.05).unwrap();
    assert!((0.95..=1.0 + 1e-12).contains(&f));
}

#[derive(serde::Deserialize)]
struct Instance {
    items: Vec<InstanceItem>,
    capacity: f64,
    optimal_profit: f64,
}

#[derive(serde::Deserialize)]
struct InstanceItem {
    weight: f64,
    profit: f64,
}

fn instances() -> Vec<Instance> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/dpk/kp_instances.json"
    );
    let text = std::fs::read_to_string(path).expect("shared/data/dpk/kp_instances.json");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn o10_200_instances_exact_and_fptas() {
    let all = instances();
    assert_eq!(all.len(), 200);
    for (k, inst) in all.iter().enumerate() {
        let it: Vec<KpItem> = inst
            .items
            .iter()
            .map(|i| KpItem {
                weight: i.weight,
                profit: i.profit,
            })
            .collect();
        let opt = inst.optimal_profit;
        let exact = kp::branch_and_bound(&it, inst.capacity, 50_000_000).unwrap();
        close(exact, opt, 1e-6);
        for eps in [0.5, 0.1, 0.02] {
            let f = kp::fptas(&it, inst.capacity, eps).unwrap();
            assert!(
                f >= (1.0 - eps) * opt - 1e-9,
                "instance {k} eps {eps}: {f} < (1-eps)*{opt}"
            );
            assert!(f <= opt * (1.0 + 1e-9), "instance {k}: {f} > OPT {opt}");
        }
        let (s, _) = kp::solve(&it, inst.capacity, 0.05);
        assert!(s >= 0.95 * opt - 1e-9 && s <= opt * (1.0 + 1e-9));
        let g = kp::greedy_with_fallback(&it, inst.capacity);
        assert!(g >= 0.5 * opt - 1e-9);
        // Counting: every weight 1 profit → max_count is the exact count optimum; check against
        // the DP over unit profits.
        let unit: Vec<KpItem> = it
            .iter()
            .map(|i| KpItem {
                weight: i.weight,
                profit: 1.0,
            })
            .collect();
        let w: Vec<f64> = it.iter().map(|i| i.weight).collect();
        assert_eq!(
            kp::max_count(&w, inst.capacity) as f64,
            kp::exact_dp(&unit, inst.capacity).unwrap()
        );
    }
}

#[test]
fn o10_integer_rounded_instances_dp_equals_bnb() {
    for inst in instances().iter().take(60) {
        let it: Vec<KpItem> = inst
            .items
            .iter()
            .map(|i| KpItem {
                weight: i.weight,
                profit: i.profit.round(),
            })
            .collect();
        let dp = kp::exact_dp(&it, inst.capacity).unwrap();
        let bb = kp::branch_and_bound(&it, inst.capacity, 50_000_000).unwrap();
        close(dp, bb, 1e-9);
    }
}

// ---------------------------------------------------------------- O11 (fixed instances)

#[test]
fn o11_dpk_with_one_order_equals_area_on_o5() {
    let w = o5();
    let plain = ScheduleOptions {
        single_task_fallback: false,
        ..ScheduleOptions::default()
    };
    assert_eq!(
        run(&w, plain),
        run(&w, ScheduleOptions::with(Scheduler::Area))
    );
}

#[test]
fn o11_count_mode_single_block_is_optimal() {
    for n in [25, 50, 100] {
        let w = o7(n);
        let opts = ScheduleOptions {
            knapsack: KnapsackMode::Count,
            ..ScheduleOptions::default()
        };
        let got = schedule(&w, &opts).unwrap().num_allocated();
        let expect = [(25, 14), (50, 26), (100, 51)]
            .iter()
            .find(|r| r.0 == n)
            .unwrap()
            .1;
        assert_eq!(got, expect);
    }
}
