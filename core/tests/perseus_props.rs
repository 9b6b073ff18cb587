//! Property tests of the solver invariants: on random pipelines and random DAGs the frontier is
//! one quantum per point, its energies match its plans, its plans meet their times, it is
//! optimal (brute force on tiny instances), and the cut kernels agree with petgraph and with
//! exhaustive enumeration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::fit::ExpModel;
use ergon_core::flow::{BoundedArc, BoundedCut, MaxFlow};
use ergon_core::perseus::synthetic::{A100_LIKE, H100_LIKE, Synthetic};
use ergon_core::perseus::{
    self, Computation, CostModel, Dag, EffectiveEnergy, Frontier, Kind, Pipeline, Problem, Profile,
    ProfileOption, Schedule, Termination,
};
use petgraph::graph::{DiGraph, NodeIndex};
use proptest::prelude::*;

/// Longest path through the DAG with the given durations, via petgraph's topological sort
/// (independent of the solver's own critical-path code).
fn makespan(dag: &Dag, durations: &[u32]) -> u64 {
    let mut g = DiGraph::<(), ()>::new();
    let nodes: Vec<NodeIndex> = (0..dag.nodes.len()).map(|_| g.add_node(())).collect();
    for &(u, v) in &dag.edges {
        g.add_edge(nodes[u as usize], nodes[v as usize], ());
    }
    let order = petgraph::algo::toposort(&g, None).expect("acyclic");
    let mut finish = vec![0u64; dag.nodes.len()];
    for v in order {
        let start = g
            .neighbors_directed(v, petgraph::Direction::Incoming)
            .map(|u| finish[u.index()])
            .max()
            .unwrap_or(0);
        finish[v.index()] = start + u64::from(durations[v.index()]);
    }
    finish.into_iter().max().unwrap_or(0)
}

/// The cost model evaluated from its definition, not through the solver's table.
fn model_cost(f: &Frontier, node: usize, d: u32) -> f64 {
    let spec = f.spec_of(node).unwrap();
    match &spec.model {
        CostModel::Exponential(m) => m.a * (m.b * f64::from(d)).exp() + m.c,
        CostModel::ConvexHull { .. } => spec.cost(d),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1.0)
}

/// Checks every invariant of a solved frontier of `problem`.
fn check_frontier(problem: &Problem, f: &Frontier) -> Result<(), TestCaseError> {
    prop_assert_eq!(f.termination, Termination::ReachedMinimum);
    prop_assert_eq!(f.points.len() as u64, f.t_max_quanta - f.t_min_quanta);
    let n = problem.dag.nodes.len();
    let mut prev_quanta = f.t_max_quanta;
    let mut prev_cost = f.start.effective_cost_j;
    let mut prev_change = f64::NEG_INFINITY;
    let states = std::iter::once(None).chain((0..f.points.len()).map(Some));
    for state in states {
        let point = f.point(state).unwrap();
        let durations = f.durations(state).unwrap();
        // Every duration within its profile's range.
        for (i, &d) in durations.iter().enumerate() {
            let spec = f.spec_of(i).unwrap();
            prop_assert!(
                spec.min_quanta <= d && d <= spec.max_quanta,
                "node {i}: {d}"
            );
        }
        // The plan's makespan (independent longest path) is the point's time.
        prop_assert_eq!(makespan(&problem.dag, &durations), point.quanta);
        // The energy is the model summed over the plan plus blocking energy.
        let cost: f64 = (0..n).map(|i| model_cost(f, i, durations[i])).sum();
        prop_assert!(
            rel(point.effective_cost_j, cost) < 1e-9,
            "{} vs {cost}",
            point.effective_cost_j
        );
        let energy = cost
            + f64::from(f.num_stages)
                * point.quanta as f64
                * problem.unit_time_s
                * problem.p_blocking_w;
        prop_assert!(rel(point.energy_j, energy) < 1e-9);
        if let Some(i) = state {
            // One quantum per point, and the reported step cost is the change of the total.
            prop_assert_eq!(point.quanta + 1, prev_quanta, "point {}", i);
            prop_assert!(
                (point.effective_cost_j - prev_cost - point.cost_change_j).abs()
                    < 1e-6 * prev_cost.abs().max(1.0)
            );
            // Convex models: each further quantum costs at least as much as the one before
            // (up to lowtime's 1e-6 J capacity grid).
            prop_assert!(
                point.cost_change_j >= prev_change - 1e-5 * n as f64,
                "point {i}: {} < {prev_change}",
                point.cost_change_j
            );
            prev_change = point.cost_change_j;
        }
        prev_quanta = point.quanta;
        prev_cost = point.effective_cost_j;
        // The plan lists every stage's program with a surviving clock for each computation.
        let plan = f.plan(state).unwrap();
        let programs = problem.dag.stage_programs();
        prop_assert_eq!(plan.stages.len(), programs.len());
        for (stage, program) in plan.stages.iter().zip(&programs) {
            prop_assert_eq!(stage.instructions.len(), program.len());
            for (&(kind, freq), &node) in stage.instructions.iter().zip(program) {
                prop_assert_eq!(kind, problem.dag.nodes[node as usize].kind);
                let spec = f.spec_of(node as usize).unwrap();
                let chosen = spec.candidates.iter().find(|c| c.freq_mhz == freq);
                prop_assert!(chosen.is_some(), "{freq} MHz is not a candidate");
                let d = durations[node as usize];
                prop_assert!(chosen.unwrap().quanta <= d || d == spec.min_quanta);
            }
        }
    }
    Ok(())
}

fn pipeline_strategy() -> impl Strategy<Value = Pipeline> {
    (1u32..=4, 1u32..=6, 0u8..3).prop_map(|(s, m, kind)| {
        let schedule = match kind {
            0 => Schedule::OneFOneB,
            1 => Schedule::GPipe,
            _ if s > 1 => Schedule::Interleaved1F1B { virtual_stages: 2 },
            _ => Schedule::OneFOneB,
        };
        // Interleaving needs M to be a multiple of S.
        let m = if matches!(schedule, Schedule::Interleaved1F1B { .. }) {
            s * m.div_ceil(s)
        } else {
            m
        };
        Pipeline {
            schedule,
            num_stages: s,
            num_microbatches: m,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn synthetic_pipelines_keep_every_invariant(
        pipeline in pipeline_strategy(),
        h100 in any::<bool>(),
        fwd_ms in 4.0f64..30.0,
        tau_ms in prop::sample::select(vec![0.5, 1.0, 2.0]),
        before in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let spec = Synthetic {
            gpu: if h100 { H100_LIKE } else { A100_LIKE },
            pipeline,
            fwd_s_at_fmax: fwd_ms / 1e3,
            unit_time_s: tau_ms / 1e3,
            seed,
        };
        let mut problem = spec.problem().unwrap();
        if before {
            problem.effective_energy = EffectiveEnergy::BeforeFilter;
        }
        let f = perseus::solve(&problem).unwrap();
        check_frontier(&problem, &f)?;
    }
}

/// A tiny explicit DAG: `n` computations, each with its own profile whose options follow a
/// given convex model exactly (no blocking power, so raw and effective energy coincide).
#[derive(Debug, Clone)]
struct Tiny {
    edges: Vec<(u32, u32)>,
    ranges: Vec<(u32, u32)>,
    models: Vec<ExpModel>,
}

fn tiny_strategy() -> impl Strategy<Value = Tiny> {
    (2usize..=6).prop_flat_map(|n| {
        let pairs: Vec<(u32, u32)> = (0..n as u32)
            .flat_map(|u| (u + 1..n as u32).map(move |v| (u, v)))
            .collect();
        let mask = prop::collection::vec(any::<bool>(), pairs.len());
        let ranges = prop::collection::vec((2u32..6, 0u32..4), n);
        let models = prop::collection::vec((1.0f64..100.0, -0.8f64..-0.05, 0.0f64..5.0), n);
        (Just(pairs), mask, ranges, models).prop_map(|(pairs, mask, ranges, models)| Tiny {
            edges: pairs
                .into_iter()
                .zip(mask)
                .filter(|(_, keep)| *keep)
                .map(|(e, _)| e)
                .collect(),
            ranges: ranges
                .into_iter()
                .map(|(lo, extra)| (lo, lo + extra))
                .collect(),
            models: models
                .into_iter()
                .map(|(a, b, c)| ExpModel { a, b, c })
                .collect(),
        })
    })
}

fn tiny_problem(t: &Tiny) -> Problem {
    let tau = 0.001;
    let n = t.ranges.len();
    let profiles = (0..n)
        .map(|i| {
            let (lo, hi) = t.ranges[i];
            let options = (lo..=hi)
                .map(|q| ProfileOption {
                    freq_mhz: 2000 - 10 * q,
                    // Mid-quantum times floor to exactly q.
                    time_s: (f64::from(q) + 0.5) * tau,
                    energy_j: t.models[i].eval(f64::from(q)),
                })
                .collect();
            Profile {
                stage: i as u32,
                kind: Kind::Forward,
                options,
                fit: Some(t.models[i]),
            }
        })
        .collect();
    let nodes = (0..n as u32)
        .map(|stage| Computation {
            stage,
            kind: Kind::Forward,
            microbatch: 0,
            chunk: 0,
        })
        .collect();
    Problem {
        unit_time_s: tau,
        p_blocking_w: 0.0,
        effective_energy: EffectiveEnergy::AfterFilter,
        profiles,
        dag: Dag {
            num_stages: n as u32,
            nodes,
            edges: t.edges.clone(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn frontier_is_optimal_on_tiny_dags(t in tiny_strategy()) {
        let problem = tiny_problem(&t);
        let f = perseus::solve(&problem).unwrap();
        check_frontier(&problem, &f)?;
        // Brute force: least model cost over all duration vectors for every deadline.
        let n = t.ranges.len();
        let mut best = vec![f64::INFINITY; (f.t_max_quanta + 1) as usize];
        let mut d: Vec<u32> = t.ranges.iter().map(|r| r.0).collect();
        loop {
            let span = makespan(&problem.dag, &d) as usize;
            let cost: f64 = (0..n).map(|i| t.models[i].eval(f64::from(d[i]))).sum();
            for slot in best.iter_mut().skip(span) {
                *slot = slot.min(cost);
            }
            // Next vector in mixed radix.
            let mut k = 0;
            while k < n && d[k] == t.ranges[k].1 {
                d[k] = t.ranges[k].0;
                k += 1;
            }
            if k == n {
                break;
            }
            d[k] += 1;
        }
        for p in std::iter::once(&f.start).chain(&f.points) {
            let opt = best[p.quanta as usize];
            prop_assert!(p.effective_cost_j >= opt - 1e-9, "below the optimum at {}", p.quanta);
            prop_assert!(p.effective_cost_j <= opt + 1e-5 * n as f64, "at {}: {} vs optimum {opt}", p.quanta, p.effective_cost_j);
        }
    }
}

/// Random networks: `n` nodes, arcs with capacities; node 0 is s, node n−1 is t.
fn network() -> impl Strategy<Value = (usize, Vec<(usize, usize, i64)>)> {
    (2usize..=9).prop_flat_map(|n| {
        let arc = (0..n, 0..n, 0i64..50).prop_filter("no loops", |(u, v, _)| u != v);
        (Just(n), prop::collection::vec(arc, 0..3 * n))
    })
}

/// Exhaustive minimum cut: its value and the intersection of the source sides of all
/// minimum cuts (the minimal one).
fn brute_min_cut(n: usize, value_of: impl Fn(&[bool]) -> i64) -> (i64, Vec<bool>) {
    let (s, t) = (0, n - 1);
    let mut best = i64::MAX;
    let mut inter = vec![true; n];
    for mask in 0u32..(1 << n) {
        let side: Vec<bool> = (0..n).map(|v| mask >> v & 1 == 1).collect();
        if !side[s] || side[t] {
            continue;
        }
        let value = value_of(&side);
        if value < best {
            best = value;
            inter = side;
        } else if value == best {
            for (a, b) in inter.iter_mut().zip(&side) {
                *a &= *b;
            }
        }
    }
    (best, inter)
}

proptest! {
    #[test]
    fn max_flow_matches_petgraph_and_the_minimal_cut((n, arcs) in network()) {
        let mut mf = MaxFlow::new();
        mf.reset(n);
        let mut g = DiGraph::<(), u64>::new();
        let nodes: Vec<NodeIndex> = (0..n).map(|_| g.add_node(())).collect();
        for &(u, v, c) in &arcs {
            mf.add_arc(u, v, c);
            g.add_edge(nodes[u], nodes[v], c as u64);
        }
        let value = mf.max_flow(0, n - 1);
        let (oracle, _) = petgraph::algo::dinics(&g, nodes[0], nodes[n - 1]);
        prop_assert_eq!(value as u64, oracle);
        let mut side = Vec::new();
        mf.source_side(0, &mut side);
        let (best, minimal) = brute_min_cut(n, |side| {
            arcs.iter().filter(|&&(u, v, _)| side[u] && !side[v]).map(|a| a.2).sum()
        });
        prop_assert_eq!(best, value);
        prop_assert_eq!(side, minimal);
    }

    #[test]
    fn bounded_cut_is_the_minimal_minimum_cut(
        n in 3usize..=8,
        paths in prop::collection::vec((prop::collection::vec(1usize..7, 0..5), 1i64..20), 1..6),
        extra in prop::collection::vec((0usize..8, 0usize..8, 0i64..30), 0..8),
        slack in prop::collection::vec((0i64..25, 0i64..25), 64),
        start in prop::collection::vec(0i64..40, 64),
    ) {
        // A feasible network by construction: route some s–t paths, then bound each arc's flow
        // loosely around what the paths put on it.
        let (s, t) = (0, n - 1);
        let mut load: Vec<((usize, usize), i64)> = Vec::new();
        let mut add = |u: usize, v: usize, x: i64| {
            if u == v { return; }
            match load.iter_mut().find(|(e, _)| *e == (u, v)) {
                Some((_, l)) => *l += x,
                None => load.push(((u, v), x)),
            }
        };
        for (inner, x) in &paths {
            let mut prev = s;
            for &v in inner.iter().filter(|&&v| v < n - 1) {
                add(prev, v, *x);
                prev = v;
            }
            add(prev, t, *x);
        }
        for &(u, v, _) in &extra {
            add(u % n, v % n, 0);
        }
        let arcs: Vec<BoundedArc> = load
            .iter()
            .enumerate()
            .map(|(k, &((u, v), x))| {
                let (down, up) = slack[k % slack.len()];
                BoundedArc { tail: u as u32, head: v as u32, lower: (x - down).max(0), upper: x + up }
            })
            .collect();
        let mut cut = BoundedCut::new();
        let mut side = Vec::new();
        let value = cut.min_cut(n, &arcs, s, t, &mut side).unwrap();
        let (best, minimal) = brute_min_cut(n, |side| {
            arcs.iter()
                .map(|a| match (side[a.tail as usize], side[a.head as usize]) {
                    (true, false) => a.upper,
                    (false, true) => -a.lower,
                    _ => 0,
                })
                .sum()
        });
        prop_assert_eq!(value, best);
        prop_assert_eq!(&side, &minimal);
        // A warm start from arbitrary flows reaches the same cut.
        let mut flows = Vec::new();
        let warm = cut.min_cut_from(n, &arcs, Some(&start[..arcs.len().min(start.len())]), s, t, &mut side, &mut flows).unwrap();
        prop_assert_eq!(warm, best);
        prop_assert_eq!(&side, &minimal);
        for (a, &x) in arcs.iter().zip(&flows) {
            prop_assert!(a.lower <= x && x <= a.upper);
        }
    }
}
