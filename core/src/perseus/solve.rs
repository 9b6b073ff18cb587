//! The Phillips–Dessouky iteration: from all-slowest to all-fastest, one quantum at a time,
//! each step the cheapest way to shorten every critical path (a minimum cut).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::prep::Spec;
use super::problem::Problem;
use super::pyfloat::floor_div;
use super::{Frontier, FrontierError, Point, Termination};
use crate::flow::{BoundedArc, BoundedCut, CutError};

/// Capacities are fixed point with this many units per joule: lowtime floors every capacity
/// to a multiple of 1e-6 J, so integers at this scale represent its values exactly and make
/// equal-cost cuts compare equal whatever the summation order.
const MICRO: f64 = 1e-6;
const NO_OP: u32 = u32::MAX;

/// The DAG in the shape the iteration needs: topological order and both adjacency lists as
/// compressed sparse rows.
struct Graph {
    n: usize,
    topo: Vec<u32>,
    pred_start: Vec<u32>,
    pred: Vec<u32>,
    succ_start: Vec<u32>,
    succ: Vec<u32>,
    edges: Vec<(u32, u32)>,
}

impl Graph {
    fn new(n: usize, edges: &[(u32, u32)]) -> Result<Self, FrontierError> {
        let mut sorted: Vec<(u32, u32)> = edges.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let csr = |key: fn(&(u32, u32)) -> (u32, u32)| {
            let mut start = alloc::vec![0u32; n + 1];
            for e in &sorted {
                start[key(e).0 as usize + 1] += 1;
            }
            for i in 0..n {
                start[i + 1] += start[i];
            }
            let mut fill = start.clone();
            let mut adj = alloc::vec![0u32; sorted.len()];
            for e in &sorted {
                let (from, to) = key(e);
                adj[fill[from as usize] as usize] = to;
                fill[from as usize] += 1;
            }
            (start, adj)
        };
        let (succ_start, succ) = csr(|&(u, v)| (u, v));
        let (pred_start, pred) = csr(|&(u, v)| (v, u));
        // Kahn's algorithm; smallest-id-first is not needed, any order gives the same CPM.
        let mut indeg: Vec<u32> = (0..n).map(|v| pred_start[v + 1] - pred_start[v]).collect();
        let mut topo: Vec<u32> = (0..n as u32).filter(|&v| indeg[v as usize] == 0).collect();
        let mut head = 0;
        while head < topo.len() {
            let u = topo[head] as usize;
            head += 1;
            for &v in &succ[succ_start[u] as usize..succ_start[u + 1] as usize] {
                indeg[v as usize] -= 1;
                if indeg[v as usize] == 0 {
                    topo.push(v);
                }
            }
        }
        if topo.len() < n {
            let node = indeg.iter().position(|&d| d > 0).unwrap_or(0);
            return Err(FrontierError::Cycle { node });
        }
        Ok(Graph {
            n,
            topo,
            pred_start,
            pred,
            succ_start,
            succ,
            edges: sorted,
        })
    }

    fn preds(&self, v: usize) -> &[u32] {
        &self.pred[self.pred_start[v] as usize..self.pred_start[v + 1] as usize]
    }

    fn succs(&self, v: usize) -> &[u32] {
        &self.succ[self.succ_start[v] as usize..self.succ_start[v + 1] as usize]
    }
}

/// Earliest and latest start/finish of every computation (critical-path method).
#[derive(Default)]
struct Cpm {
    es: Vec<u64>,
    ef: Vec<u64>,
    ls: Vec<u64>,
    lf: Vec<u64>,
    makespan: u64,
}

impl Cpm {
    fn run(&mut self, g: &Graph, dur: &[u32]) {
        let n = g.n;
        self.es.resize(n, 0);
        self.ef.resize(n, 0);
        self.ls.resize(n, 0);
        self.lf.resize(n, 0);
        let mut makespan = 0;
        for &v in &g.topo {
            let v = v as usize;
            let es = g
                .preds(v)
                .iter()
                .map(|&u| self.ef[u as usize])
                .max()
                .unwrap_or(0);
            self.es[v] = es;
            self.ef[v] = es + u64::from(dur[v]);
            makespan = makespan.max(self.ef[v]);
        }
        for &v in g.topo.iter().rev() {
            let v = v as usize;
            let lf = g
                .succs(v)
                .iter()
                .map(|&w| self.ls[w as usize])
                .min()
                .unwrap_or(makespan);
            self.lf[v] = lf;
            self.ls[v] = lf - u64::from(dur[v]);
        }
        self.makespan = makespan;
    }
}

/// Makespan of the DAG with the given durations, by a plain longest-path pass.
pub(super) fn makespan(n: usize, edges: &[(u32, u32)], dur: &[u32]) -> Result<u64, FrontierError> {
    let g = Graph::new(n, edges)?;
    let mut cpm = Cpm::default();
    cpm.run(&g, dur);
    Ok(cpm.makespan)
}

/// Fixed-point capacity: `x // 1e-6` with Python's float floor division, as lowtime floors.
fn micro(x: f64) -> Result<i64, FrontierError> {
    let q = floor_div(x, MICRO);
    if !(q.is_finite() && q.abs() < 9.0e15) {
        return Err(FrontierError::Overflow);
    }
    Ok(q as i64)
}

/// Solves the frontier of `problem` with preprocessed `specs`, calling `progress(done, total)`
/// after each point (`total` is the expected number of points, T_max − T_min).
pub(super) fn solve(
    problem: &Problem,
    specs: Vec<Spec>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Frontier, FrontierError> {
    let dag = &problem.dag;
    let n = dag.nodes.len();
    // (stage, kind) → spec: a map, not a scan of every spec per computation.
    let by_key: BTreeMap<_, u32> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.stage, s.kind), i as u32))
        .collect();
    let spec_of: Vec<u32> = dag
        .nodes
        .iter()
        .map(|c| {
            by_key
                .get(&(c.stage, c.kind))
                .copied()
                .ok_or(FrontierError::MissingProfile {
                    stage: c.stage,
                    kind: c.kind,
                })
        })
        .collect::<Result<_, _>>()?;
    let spec = |i: usize| &specs[spec_of[i] as usize];
    let g = Graph::new(n, &dag.edges)?;

    let min_dur: Vec<u32> = (0..n).map(|i| spec(i).min_quanta).collect();
    let max_dur: Vec<u32> = (0..n).map(|i| spec(i).max_quanta).collect();
    let mut cpm = Cpm::default();
    cpm.run(&g, &min_dur);
    let t_min = cpm.makespan;
    let mut dur = max_dur.clone();
    cpm.run(&g, &dur);
    let t_max = cpm.makespan;

    let total_cost = |dur: &[u32]| -> f64 { (0..n).map(|i| spec(i).cost(dur[i])).sum() };
    let num_stages = dag.num_stages;
    let point = |quanta: u64, effective_cost_j: f64, cost_change_j: f64, changes: (u32, u32)| {
        let time_s = quanta as f64 * problem.unit_time_s;
        Point {
            quanta,
            time_s,
            effective_cost_j,
            // The reference's association: cost + (S · T) · P_b.
            energy_j: effective_cost_j + f64::from(num_stages) * time_s * problem.p_blocking_w,
            cost_change_j,
            changes,
        }
    };
    let start = point(t_max, total_cost(&dur), 0.0, (0, 0));

    // Activity-on-arc network: computation i is the arc 2i → 2i+1; precedence u → v is the
    // dummy arc 2u+1 → 2v; the source 2n feeds every root and every leaf feeds the sink 2n+1.
    let (src, snk) = (2 * n, 2 * n + 1);
    let num_aoa = 2 * n + 2;
    let mut arcs: Vec<BoundedArc> = Vec::new();
    let mut arc_op: Vec<u32> = Vec::new();
    // Warm start: each arc's flow from the previous iteration, keyed by what the arc stands
    // for (computation i → i, edge k → n + k, source arc to v → n + E + v, sink arc from
    // v → 2n + E + v). Consecutive critical networks differ little, so the previous maximum
    // flow is nearly maximal again; this cuts the max-flow work several times over.
    let num_edges = g.edges.len();
    let mut warm: Vec<i64> = alloc::vec![0; 3 * n + num_edges];
    let mut arc_key: Vec<u32> = Vec::new();
    let mut initial: Vec<i64> = Vec::new();
    let mut flows: Vec<i64> = Vec::new();
    let mut side: Vec<bool> = Vec::new();
    let mut cut = BoundedCut::new();
    let mut points: Vec<Point> = Vec::new();
    let mut changes: Vec<(u32, u32)> = Vec::new();
    let expected = t_max - t_min;
    let mut termination = Termination::ReachedMinimum;

    while cpm.makespan > t_min {
        arcs.clear();
        arc_op.clear();
        arc_key.clear();
        let mut finite: i64 = 0;
        let mut add_finite = |x: i64| -> Result<(), FrontierError> {
            finite = finite.checked_add(x).ok_or(FrontierError::Overflow)?;
            Ok(())
        };
        // Computation arcs: capacities as lowtime's annotate_capacities (perseus.md §2.5);
        // `None` stands for an infinite upper bound, fixed below once the finite sum is known.
        let mut op_bounds: Vec<(usize, i64, Option<i64>)> = Vec::new();
        for (i, &d) in dur.iter().enumerate() {
            if cpm.es[i] + u64::from(d) != cpm.lf[i] {
                continue;
            }
            let sp = spec(i);
            let (lo, hi) = (sp.min_quanta, sp.max_quanta);
            let (lb, ub) = if lo == hi {
                (0, None)
            } else if d == lo {
                (micro(libm::fabs(sp.cost(d) - sp.cost(d + 1)))?, None)
            } else if d == hi {
                (0, Some(micro(libm::fabs(sp.cost(d - 1) - sp.cost(d)))?))
            } else {
                (
                    micro(libm::fabs(sp.cost(d) - sp.cost(d + 1)))?,
                    Some(micro(libm::fabs(sp.cost(d - 1) - sp.cost(d)) + MICRO)?),
                )
            };
            add_finite(lb)?;
            if let Some(ub) = ub {
                add_finite(ub)?;
            }
            op_bounds.push((i, lb, ub));
        }
        // Any cut through an infinite arc must cost more than every finite cut.
        let inf = finite
            .checked_mul(2)
            .and_then(|x| x.checked_add(1))
            .ok_or(FrontierError::Overflow)?;
        for &(i, lb, ub) in &op_bounds {
            // Convex non-increasing models give lb ≤ ub. A fitted model that rises with duration
            // (possible only after the 0.95 soft filter) could give lb > ub, which lowtime turns
            // into an infeasible flow and a panic; clamping keeps the network feasible and prices
            // that computation's slow-down at its speed-up cost.
            let ub = ub.unwrap_or(inf).max(lb);
            arcs.push(BoundedArc {
                tail: 2 * i as u32,
                head: 2 * i as u32 + 1,
                lower: lb,
                upper: ub,
            });
            arc_op.push(i as u32);
            arc_key.push(i as u32);
        }
        let mut dummy = |tail: usize, head: usize, key: usize| {
            arcs.push(BoundedArc {
                tail: tail as u32,
                head: head as u32,
                lower: 0,
                upper: inf,
            });
            arc_op.push(NO_OP);
            arc_key.push(key as u32);
        };
        for (k, &(u, v)) in g.edges.iter().enumerate() {
            if cpm.ef[u as usize] == cpm.ls[v as usize] {
                dummy(2 * u as usize + 1, 2 * v as usize, n + k);
            }
        }
        for v in 0..n {
            if g.preds(v).is_empty() && cpm.ls[v] == 0 {
                dummy(src, 2 * v, n + num_edges + v);
            }
            if g.succs(v).is_empty() && cpm.ef[v] == cpm.makespan {
                dummy(2 * v + 1, snk, 2 * n + num_edges + v);
            }
        }
        initial.clear();
        initial.extend(arc_key.iter().map(|&k| warm[k as usize]));

        let value = match cut.min_cut_from(
            num_aoa,
            &arcs,
            Some(&initial),
            src,
            snk,
            &mut side,
            &mut flows,
        ) {
            Ok(v) => v,
            Err(CutError::Infeasible { .. }) => {
                termination = Termination::InfeasibleCut {
                    at_quanta: cpm.makespan,
                };
                break;
            }
            Err(CutError::Overflow) => return Err(FrontierError::Overflow),
            Err(e) => return Err(FrontierError::Internal(e)),
        };
        warm.fill(0);
        for (&k, &x) in arc_key.iter().zip(&flows) {
            warm[k as usize] = x;
        }
        if value > finite {
            // Every cut crosses a computation that cannot get faster: T_min is reached, which
            // the loop condition says it is not. Only an inconsistent model can get here.
            termination = Termination::NoFiniteCut {
                at_quanta: cpm.makespan,
            };
            break;
        }

        // Apply the cut: forward arcs get one quantum faster, backward arcs one slower.
        // The cost change is summed with signs, not as lowtime's absolute values: the same
        // where the models do not rise with duration (`prep` cuts them so), and the actual
        // change of the effective cost wherever they might.
        // Dummies and computations already at their slowest absorb a backward crossing (their
        // lower bound, the refund, is 0); lowtime stops the whole run on the latter.
        let first_change = changes.len() as u32;
        let mut faster = 0.0;
        let mut slower = 0.0;
        for (arc, &op) in arcs.iter().zip(&arc_op) {
            if op == NO_OP {
                continue;
            }
            let (t, h) = (side[arc.tail as usize], side[arc.head as usize]);
            let i = op as usize;
            let d = dur[i];
            let sp = spec(i);
            if t && !h {
                // A finite cut has finite forward arcs only: d > min here.
                faster += sp.cost(d - 1) - sp.cost(d);
                dur[i] = d - 1;
                changes.push((op, d - 1));
            } else if !t && h && d < sp.max_quanta {
                slower += sp.cost(d) - sp.cost(d + 1);
                dur[i] = d + 1;
                changes.push((op, d + 1));
            }
        }
        cpm.run(&g, &dur);
        points.push(point(
            cpm.makespan,
            total_cost(&dur),
            faster - slower,
            (first_change, changes.len() as u32),
        ));
        progress(points.len() as u64, expected);
    }

    Ok(Frontier {
        unit_time_s: problem.unit_time_s,
        p_blocking_w: problem.p_blocking_w,
        num_stages,
        t_min_quanta: t_min,
        t_max_quanta: t_max,
        start,
        points,
        termination,
        specs,
        spec_of,
        dag: dag.clone(),
        start_durations: max_dur,
        changes,
    })
}
