//! Instantiation, batch split and reconfiguration: the oracle of notes A12.1 (profile C) and
//! the invariants of A12.3.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::template::tests::oracle_c;
use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * (1.0 + b.abs())
}

fn c_templates() -> Templates {
    let mut o = TemplateOptions::new(12);
    o.node_memory_bytes = Some(1500);
    generate_templates(&oracle_c(), &o).unwrap()
}

/// The oracle's plan: the 0.1.1 threshold 3 (≥ 3 pipelines) is f = 2 here; B = 128.
fn c_plan(ts: &Templates) -> Plan {
    instantiate(
        ts,
        &PlanOptions {
            fault_tolerance: 2,
            microbatches: 128,
        },
    )
    .unwrap()
}

#[test]
fn oracle_c_instantiation() {
    let ts = c_templates();
    let plan = c_plan(&ts);
    assert_eq!(plan.options_considered, 15);
    assert_eq!(plan.pipelines.len(), 4);
    assert!(
        plan.pipelines
            .iter()
            .all(|p| p.num_nodes == 3 && p.microbatches == 32)
    );
    assert!(
        close(plan.iteration_time_ms, 1841.4),
        "{}",
        plan.iteration_time_ms
    );
    let nodes: Vec<u32> = plan
        .pipelines
        .iter()
        .flat_map(|p| p.nodes.clone())
        .collect();
    assert_eq!(nodes, (0..12).collect::<Vec<_>>());
}

#[test]
fn oracle_c_one_failure() {
    let ts = c_templates();
    let opts = PlanOptions {
        fault_tolerance: 2,
        microbatches: 128,
    };
    let plan = instantiate(&ts, &opts).unwrap();
    let r = reconfigure(&ts, &plan, &[4]).unwrap();
    let sizes: Vec<u32> = r.plan.pipelines.iter().map(|p| p.num_nodes).collect();
    assert_eq!(sizes, vec![2, 3, 3, 3]);
    let mb: Vec<u64> = r.plan.pipelines.iter().map(|p| p.microbatches).collect();
    assert_eq!(mb, vec![23, 35, 35, 35]);
    assert!(
        close(r.plan.iteration_time_ms, 2005.2),
        "{}",
        r.plan.iteration_time_ms
    );
    // The damaged pipeline (nodes 3, 5 left) re-lays itself out as the 2-node template: both
    // nodes fetch what they lack from the pipelines that still hold it.
    assert_eq!(r.plan.pipelines[0].nodes, vec![3, 5]);
    assert!(!r.transfers.is_empty());
    assert!(r.transfers.iter().all(|t| t.from_node != 4 && t.node != 4));
}

#[test]
fn unique_split_of_the_oracle() {
    let ts = c_templates();
    let (t2, t3) = (ts.get(2).unwrap().affine(), ts.get(3).unwrap().affine());
    let s = split_batch(&[(t2, 1), (t3, 3)], 128, 1).unwrap();
    assert_eq!(s.microbatches, vec![23, 35]);
    assert!(close(s.z as f64 / ts.ticks_per_ms(), 2005.2));
    // Six equal pipelines cannot split 128 microbatches (A5.4); 4 can.
    assert!(split_batch(&[(t3, 6)], 128, 1).is_none());
}

#[test]
fn errors_for_bad_plans() {
    let ts = c_templates();
    let opts = |f, mb| PlanOptions {
        fault_tolerance: f,
        microbatches: mb,
    };
    assert!(matches!(
        instantiate(&ts, &opts(6, 128)),
        Err(OobleckError::FaultToleranceTooLarge { need: 14, .. })
    ));
    assert!(matches!(
        instantiate(&ts, &opts(2, 0)),
        Err(OobleckError::InvalidMicrobatches { .. })
    ));
    let plan = instantiate(&ts, &opts(2, 128)).unwrap();
    // Losing a whole pipeline's three nodes plus one node of every other pipeline still leaves
    // every layer; losing the same stage of all four loses a layer.
    // Three equal pipelines cannot share 128 microbatches equally: they get 43, 43, 42.
    let r = reconfigure(&ts, &plan, &[0, 1, 2]).unwrap();
    let mut mb: Vec<u64> = r.plan.pipelines.iter().map(|p| p.microbatches).collect();
    mb.sort_unstable();
    assert_eq!(mb, vec![42, 43, 43]);
    let e = reconfigure(&ts, &plan, &[0, 3, 6, 9]).unwrap_err();
    assert!(matches!(e, OobleckError::MustRestart { .. }));
    assert!(e.to_string().contains("training must restart"), "{e}");
    assert!(matches!(
        reconfigure(&ts, &plan, &[12]),
        Err(OobleckError::UnknownNode { node: 12, .. })
    ));
}

#[test]
fn sync_groups_have_one_member_per_pipeline() {
    let ts = c_templates();
    let plan = c_plan(&ts);
    let groups = sync_groups(&ts, &plan).unwrap();
    assert_eq!(groups.len(), 24);
    for (layer, g) in groups.iter().enumerate() {
        assert_eq!(g.len(), 4);
        // Layer 9 is the first layer of stage 1 of the 3-node template: node 1 of each pipeline.
        if layer == 9 {
            let nodes: Vec<u32> = g.iter().map(|m| m.node).collect();
            assert_eq!(nodes, vec![1, 4, 7, 10]);
        }
    }
}

/// Brute force over every `B_t ≥ 1` vector.
fn brute_split(groups: &[(AffineTime, u64)], total: u64) -> Option<i128> {
    fn go(groups: &[(AffineTime, u64)], left: u64, worst: i128) -> Option<i128> {
        let Some((&(t, x), rest)) = groups.split_first() else {
            return (left == 0).then_some(worst);
        };
        let mut best: Option<i128> = None;
        let mut b = 1;
        while b * x <= left {
            if let Some(z) = go(rest, left - b * x, worst.max(t.at(b))) {
                best = Some(best.map_or(z, |c: i128| c.min(z)));
            }
            b += 1;
        }
        best
    }
    go(groups, total, i128::MIN)
}

fn lost_sets(n: u32, f: usize) -> Vec<Vec<u32>> {
    let mut out = vec![vec![]];
    for _ in 0..f {
        let mut next = Vec::new();
        for s in &out {
            let from = s.last().map_or(0, |&u| u + 1);
            for u in from..n {
                let mut t = s.clone();
                t.push(u);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        out = {
            out.sort();
            out.dedup();
            out
        };
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// The split is the exact optimum and sums to B exactly.
    #[test]
    fn split_is_exact_and_optimal(
        g in prop::collection::vec((-50i64..50, 0u64..20, 1u64..4), 1..4),
        total in 1u64..40,
    ) {
        let groups: Vec<(AffineTime, u64)> = g
            .iter()
            .map(|&(o, s, x)| (AffineTime { offset: i128::from(o), slope: s }, x))
            .collect();
        let want = brute_split(&groups, total);
        let got = split_batch(&groups, total, 1);
        prop_assert_eq!(got.as_ref().map(|s| s.z), want);
        if let Some(s) = got {
            let sum: u64 = s.microbatches.iter().zip(&groups).map(|(b, (_, x))| b * x).sum();
            prop_assert_eq!(sum, total);
            prop_assert!(s.microbatches.iter().all(|&b| b >= 1));
        }
    }

    /// For every failure set of at most f nodes: the reconfigured plan uses only surviving
    /// nodes, every one of them exactly once, every pipeline is a full replica (a template of
    /// its size), the batch sums to B, and every copied layer comes from a surviving node.
    #[test]
    fn any_f_failures_leave_a_replica(
        fb in prop::collection::vec((1u32..9, 1u32..9), 4..12),
        nodes in 4u32..10,
        f in 1u32..3,
        mem in prop::sample::select(vec![None, Some(2u64)]),
        microbatches in 16u64..64,
    ) {
        let p = Profile::new(fb.iter().map(|&(a, b)| Layer::new(f64::from(a), f64::from(b), 1)).collect()).unwrap();
        let mut o = TemplateOptions::new(nodes);
        // With memory 2·(layers)/… n0 grows: 1 byte per layer, node memory layers/2.
        o.node_memory_bytes = mem.map(|_| (p.len() as u64).div_ceil(2));
        let Ok(ts) = generate_templates(&p, &o) else { return Ok(()); };
        let Ok(plan) = instantiate(&ts, &PlanOptions { fault_tolerance: f, microbatches }) else {
            return Ok(());
        };
        prop_assert!(plan.pipelines.len() as u32 > f);
        let total: u64 = plan.pipelines.iter().map(|p| p.microbatches).sum();
        prop_assert_eq!(total, microbatches);
        for lost in lost_sets(nodes, f as usize) {
            let r = match reconfigure(&ts, &plan, &lost) {
                Ok(r) => r,
                Err(e) => return Err(TestCaseError::fail(alloc::format!("{lost:?}: {e}"))),
            };
            let mut used: Vec<u32> = r.plan.pipelines.iter().flat_map(|p| p.nodes.clone()).collect();
            used.sort_unstable();
            let alive: Vec<u32> = (0..nodes).filter(|u| !lost.contains(u)).collect();
            prop_assert_eq!(&used, &alive);
            prop_assert!(!r.plan.pipelines.is_empty());
            for q in &r.plan.pipelines {
                prop_assert!(q.num_nodes >= ts.n0);
                prop_assert!(ts.get(q.num_nodes).is_some());
                prop_assert_eq!(q.nodes.len() as u32, q.num_nodes);
            }
            let total: u64 = r.plan.pipelines.iter().map(|p| p.microbatches).sum();
            prop_assert_eq!(total, microbatches);
            for t in &r.transfers {
                prop_assert!(!lost.contains(&t.from_node) && !lost.contains(&t.node));
            }
            // Every layer each node now holds, it held before or receives.
            let groups = sync_groups(&ts, &r.plan).unwrap();
            prop_assert!(groups.iter().all(|g| g.len() == r.plan.pipelines.len()));
        }
    }
}

/// Every multiset of template sizes summing to `n` with at least `min_parts` parts.
fn all_options(sizes: &[u32], n: u32, min_parts: usize) -> Vec<Vec<u32>> {
    fn go(sizes: &[u32], n: u32, acc: &mut Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if n == 0 {
            out.push(acc.clone());
            return;
        }
        for (i, &s) in sizes.iter().enumerate() {
            if s <= n {
                acc.push(s);
                go(&sizes[i..], n - s, acc, out);
                acc.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(sizes, n, &mut Vec::new(), &mut out);
    out.retain(|o| o.len() >= min_parts);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// The branch-and-bound instantiation finds the least iteration time over every option
    /// (each solved exactly), and counts the options.
    #[test]
    fn instantiation_is_optimal(
        fb in prop::collection::vec((1u32..9, 1u32..9), 2..10),
        nodes in 2u32..11,
        f in 0u32..3,
        microbatches in 4u64..40,
    ) {
        let p = Profile::new(fb.iter().map(|&(a, b)| Layer::new(f64::from(a), f64::from(b), 0)).collect()).unwrap();
        let ts = generate_templates(&p, &TemplateOptions::new(nodes)).unwrap();
        let sizes: Vec<u32> = ts.templates.iter().map(|t| t.num_nodes).collect();
        let options = all_options(&sizes, nodes, f as usize + 1);
        let mut best: Option<i128> = None;
        for o in &options {
            let mut groups: Vec<(AffineTime, u64)> = Vec::new();
            for &s in &sizes {
                let x = o.iter().filter(|&&y| y == s).count() as u64;
                if x > 0 {
                    groups.push((ts.get(s).unwrap().affine(), x));
                }
            }
            if let Some(split) = split_batch(&groups, microbatches, 1) {
                best = Some(best.map_or(split.z, |b: i128| b.min(split.z)));
            }
        }
        let got = instantiate(&ts, &PlanOptions { fault_tolerance: f, microbatches });
        match (best, got) {
            (Some(z), Ok(plan)) => {
                prop_assert!((plan.iteration_time_ms - z as f64 / ts.ticks_per_ms()).abs() < 1e-9);
                prop_assert_eq!(plan.options_considered, options.len() as u64);
            }
            (None, Err(_)) => {}
            (b, g) => prop_assert!(false, "brute force {:?}, instantiate {:?}", b, g),
        }
    }
}
