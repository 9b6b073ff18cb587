//! The Phillips–Dessouky iteration: from all-slowest to all-fastest, one quantum at a time,
//! each step the cheapest way to shorten every critical path (a minimum cut).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::prep::Spec;
use super::problem::Problem;
use super::pyfloat::floor_div;
use super::{Frontier, FrontierError, PhaseStats, Point, SolveOptions, Stop, Termination};
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
    /// Computations without predecessors.
    roots: Vec<u32>,
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
        let roots = (0..n as u32)
            .filter(|&v| pred_start[v as usize + 1] == pred_start[v as usize])
            .collect();
        Ok(Graph {
            roots,
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

/// Critical-path method, backward only: for every computation its `tail`, the longest path
/// from its start to the end, and the makespan (the longest tail). That is all the iteration
/// needs: a computation u on a longest path continues along an edge u → v with zero float iff
/// `tail[u] == dur[u] + tail[v]` (then v is on a longest path too), and the longest paths start
/// at the roots whose tail is the makespan. The earliest starts are never needed.
#[derive(Default)]
struct Cpm {
    tail: Vec<u64>,
    makespan: u64,
}

impl Cpm {
    fn run(&mut self, g: &Graph, dur: &[u32]) {
        self.tail.resize(g.n, 0);
        let tail = &mut self.tail;
        let mut makespan = 0;
        for &v in g.topo.iter().rev() {
            let v = v as usize;
            let rest = g
                .succs(v)
                .iter()
                .map(|&w| tail[w as usize])
                .max()
                .unwrap_or(0);
            let t = rest + u64::from(dur[v]);
            tail[v] = t;
            makespan = makespan.max(t);
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

/// Marks an infinite upper bound in the capacity table (fixed per iteration, once the sum of
/// the finite capacities is known).
const INFINITE: i64 = -1;
/// Marks a capacity too large for the fixed point (an error once a critical arc needs it).
const OVERFLOW: i64 = i64::MIN;

/// Lower and upper bound of a critical computation at duration `d`, as lowtime's
/// annotate_capacities (perseus.md §2.5): the refund for one quantum slower and the price of
/// one quantum faster.
fn capacities(sp: &Spec, d: u32) -> (i64, i64) {
    let m = |x: f64| micro(x).unwrap_or(OVERFLOW);
    let (lo, hi) = (sp.min_quanta, sp.max_quanta);
    if lo == hi {
        (0, INFINITE)
    } else if d == lo {
        (m(libm::fabs(sp.cost(d) - sp.cost(d + 1))), INFINITE)
    } else if d == hi {
        (0, m(libm::fabs(sp.cost(d - 1) - sp.cost(d))))
    } else {
        (
            m(libm::fabs(sp.cost(d) - sp.cost(d + 1))),
            m(libm::fabs(sp.cost(d - 1) - sp.cost(d)) + MICRO),
        )
    }
}

/// Effective cost Σ c_i(d_i) over all computations, kept up to date point by point.
///
/// When the cost tables are small next to the DAG (always for pipelines: a few profiles of a
/// few dozen durations each, shared by thousands of computations), it counts how many
/// computations of each profile sit at each duration and sums count × cost over the table
/// cells: O(cells) per point instead of O(computations). Otherwise it sums over the
/// computations. Both sums are exact up to the rounding of one f64 summation.
struct CostSum {
    /// `counts[offset[s] + d − min]`: computations of spec s at duration d.
    counts: Vec<u32>,
    offset: Vec<usize>,
    by_cells: bool,
}

impl CostSum {
    fn new(specs: &[Spec], spec_of: &[u32], dur: &[u32]) -> Self {
        let mut offset = Vec::with_capacity(specs.len() + 1);
        let mut cells = 0usize;
        for sp in specs {
            offset.push(cells);
            cells += (sp.max_quanta - sp.min_quanta) as usize + 1;
        }
        offset.push(cells);
        let by_cells = cells <= dur.len();
        let mut counts = Vec::new();
        if by_cells {
            counts.resize(cells, 0);
            for (i, &d) in dur.iter().enumerate() {
                let s = spec_of[i] as usize;
                counts[offset[s] + (d - specs[s].min_quanta) as usize] += 1;
            }
        }
        CostSum {
            counts,
            offset,
            by_cells,
        }
    }

    fn change(&mut self, specs: &[Spec], s: u32, from: u32, to: u32) {
        if self.by_cells {
            let (s, base) = (s as usize, self.offset[s as usize]);
            self.counts[base + (from - specs[s].min_quanta) as usize] -= 1;
            self.counts[base + (to - specs[s].min_quanta) as usize] += 1;
        }
    }

    fn total(&self, specs: &[Spec], spec_of: &[u32], dur: &[u32]) -> f64 {
        if !self.by_cells {
            return (0..dur.len())
                .map(|i| specs[spec_of[i] as usize].cost(dur[i]))
                .sum();
        }
        let mut sum = 0.0;
        for (s, sp) in specs.iter().enumerate() {
            let counts = &self.counts[self.offset[s]..self.offset[s + 1]];
            for (k, &c) in counts.iter().enumerate() {
                if c > 0 {
                    sum += f64::from(c) * sp.cost(sp.min_quanta + k as u32);
                }
            }
        }
        sum
    }
}

/// Solves the frontier of `problem` with preprocessed `specs` (see [`SolveOptions`]).
pub(super) fn solve(
    problem: &Problem,
    specs: Vec<Spec>,
    options: &mut SolveOptions<'_>,
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
    let mut stats = PhaseStats::default();
    let mut cpm = Cpm::default();
    cpm.run(&g, &min_dur);
    let t_min = cpm.makespan;
    let mut dur = max_dur.clone();
    cpm.run(&g, &dur);
    let t_max = cpm.makespan;

    let mut cost_sum = CostSum::new(&specs, &spec_of, &dur);
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
    let start = point(t_max, cost_sum.total(&specs, &spec_of, &dur), 0.0, (0, 0));
    // Where to stop early (options.stop): a time in quanta, or the first rise of the energy.
    let stop_quanta = match options.stop {
        Stop::AtMinimum | Stop::AtMinEnergy => None,
        Stop::AtTime { time_s } => {
            if !(time_s.is_finite() && time_s >= 0.0) {
                return Err(FrontierError::InvalidDeadline(time_s));
            }
            // The first point at or below the time; a hair of slack for times given in seconds.
            Some(libm::floor(time_s / problem.unit_time_s * (1.0 + 1e-12)) as u64)
        }
    };

    // Activity-on-arc network: computation i is the arc 2i → 2i+1; precedence u → v is the
    // dummy arc 2u+1 → 2v; the source 2n feeds every root and every leaf feeds the sink 2n+1.
    // Each iteration's flow network holds the critical arcs only, on its own compact node
    // numbering (`local`), so that the max flow costs O(critical arcs), not O(computations).
    // Capacities of a critical computation depend only on its spec and duration: tabulate
    // them once (the Python floor division of `micro` is the slowest arithmetic here).
    let mut bound_offset: Vec<usize> = Vec::with_capacity(specs.len());
    let mut bounds: Vec<(i64, i64)> = Vec::new();
    for sp in &specs {
        bound_offset.push(bounds.len());
        for d in sp.min_quanta..=sp.max_quanta {
            bounds.push(capacities(sp, d));
        }
    }
    let mut op_bounds: Vec<(usize, i64, i64)> = Vec::new();
    let mut pending: Vec<(u32, u32)> = Vec::new();
    let (src, snk) = (2 * n, 2 * n + 1);
    let mut local: Vec<u32> = alloc::vec![u32::MAX; 2 * n + 2];
    let mut local_nodes: Vec<u32> = Vec::new();
    let mut arcs: Vec<BoundedArc> = Vec::new();
    let mut arc_op: Vec<u32> = Vec::new();
    // Warm start: each arc's flow from the previous iteration, keyed by what the arc stands
    // for (computation i → i, edge k → n + k, source arc to v → n + E + v, sink arc from
    // v → 2n + E + v). Consecutive critical networks differ little, so the previous maximum
    // flow is nearly maximal again; this cuts the max-flow work several times over.
    let num_edges = g.edges.len();
    let mut warm: Vec<i64> = alloc::vec![0; 3 * n + num_edges];
    let mut arc_key: Vec<u32> = Vec::new();
    let mut warm_keys: Vec<u32> = Vec::new();
    let mut initial: Vec<i64> = Vec::new();
    let mut flows: Vec<i64> = Vec::new();
    let mut side: Vec<bool> = Vec::new();
    let mut cut = BoundedCut::new();
    let mut points: Vec<Point> = Vec::new();
    let mut changes: Vec<(u32, u32)> = Vec::new();
    // Critical computations of the current iteration (found by a search from the roots) and
    // the critical precedence edges (tail, head, edge index).
    let mut seen: Vec<u32> = alloc::vec![0; n];
    let mut epoch: u32 = 0;
    let mut stack: Vec<u32> = Vec::new();
    let mut crit: Vec<u32> = Vec::new();
    let mut crit_edges: Vec<(u32, u32, u32)> = Vec::new();
    // Points this solve will compute: down to the stop time where one is given (the T* stop
    // is not known in advance: the whole frontier).
    let expected = t_max - stop_quanta.map_or(t_min, |q| q.clamp(t_min, t_max));
    let mut termination = Termination::ReachedMinimum;
    let mut min_energy = start.energy_j;
    let clock = options.clock;
    let tick = || clock.map_or(0, |c| c());

    while cpm.makespan > t_min {
        if let Some(q) = stop_quanta
            && cpm.makespan <= q
        {
            termination = Termination::Stopped {
                at_quanta: cpm.makespan,
            };
            break;
        }
        let t0 = tick();
        // The critical subgraph: every zero-float computation and precedence, reached from
        // the critical roots (every zero-float arc lies on a longest path from the source).
        epoch = epoch.wrapping_add(1);
        if epoch == 0 {
            seen.fill(0);
            epoch = 1;
        }
        crit.clear();
        crit_edges.clear();
        stack.clear();
        for &v in &g.roots {
            if cpm.tail[v as usize] == cpm.makespan {
                seen[v as usize] = epoch;
                stack.push(v);
            }
        }
        while let Some(u) = stack.pop() {
            crit.push(u);
            let u = u as usize;
            // What must follow u on a longest path: tail[u] − dur[u].
            let rest = cpm.tail[u] - u64::from(dur[u]);
            let first = g.succ_start[u] as usize;
            for (k, &v) in g.succs(u).iter().enumerate() {
                if cpm.tail[v as usize] == rest {
                    crit_edges.push((u as u32, v, (first + k) as u32));
                    if seen[v as usize] != epoch {
                        seen[v as usize] = epoch;
                        stack.push(v);
                    }
                }
            }
        }
        stats.critical_computations += crit.len() as u64;
        stats.critical_edges += crit_edges.len() as u64;

        arcs.clear();
        arc_op.clear();
        arc_key.clear();
        for &x in &local_nodes {
            local[x as usize] = u32::MAX;
        }
        local_nodes.clear();
        let mut id = |x: usize| -> u32 {
            if local[x] == u32::MAX {
                local[x] = local_nodes.len() as u32;
                local_nodes.push(x as u32);
            }
            local[x]
        };
        let (s_local, t_local) = (id(src), id(snk));
        let mut finite: i64 = 0;
        let mut add_finite = |x: i64| -> Result<(), FrontierError> {
            finite = finite.checked_add(x).ok_or(FrontierError::Overflow)?;
            Ok(())
        };
        // Computation arcs: capacities as lowtime's annotate_capacities (perseus.md §2.5);
        // `None` stands for an infinite upper bound, fixed below once the finite sum is known.
        op_bounds.clear();
        for &i in &crit {
            let i = i as usize;
            let s = spec_of[i] as usize;
            let (lb, ub) = bounds[bound_offset[s] + (dur[i] - specs[s].min_quanta) as usize];
            if lb == OVERFLOW || ub == OVERFLOW {
                return Err(FrontierError::Overflow);
            }
            add_finite(lb)?;
            if ub != INFINITE {
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
            let ub = if ub == INFINITE { inf } else { ub }.max(lb);
            arcs.push(BoundedArc {
                tail: id(2 * i),
                head: id(2 * i + 1),
                lower: lb,
                upper: ub,
            });
            arc_op.push(i as u32);
            arc_key.push(i as u32);
        }
        let mut dummy = |tail: u32, head: u32, key: usize| {
            arcs.push(BoundedArc {
                tail,
                head,
                lower: 0,
                upper: inf,
            });
            arc_op.push(NO_OP);
            arc_key.push(key as u32);
        };
        for &(u, v, k) in &crit_edges {
            let (t, h) = (id(2 * u as usize + 1), id(2 * v as usize));
            dummy(t, h, n + k as usize);
        }
        for &v in &crit {
            let v = v as usize;
            if g.preds(v).is_empty() {
                let h = id(2 * v);
                dummy(s_local, h, n + num_edges + v);
            }
            // A critical leaf finishes at the makespan.
            if g.succs(v).is_empty() {
                let t = id(2 * v + 1);
                dummy(t, t_local, 2 * n + num_edges + v);
            }
        }
        initial.clear();
        initial.extend(arc_key.iter().map(|&k| warm[k as usize]));
        let t1 = tick();
        stats.subgraph_ticks += t1.wrapping_sub(t0);

        let result = cut.min_cut_from(
            local_nodes.len(),
            &arcs,
            Some(&initial),
            s_local as usize,
            t_local as usize,
            &mut side,
            &mut flows,
        );
        let t2 = tick();
        stats.flow_ticks += t2.wrapping_sub(t1);
        let value = match result {
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
        for &k in &warm_keys {
            warm[k as usize] = 0;
        }
        warm_keys.clear();
        for (&k, &x) in arc_key.iter().zip(&flows) {
            warm[k as usize] = x;
            warm_keys.push(k);
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
        pending.clear();
        for (arc, &op) in arcs.iter().zip(&arc_op) {
            if op == NO_OP {
                continue;
            }
            let (t, h) = (side[arc.tail as usize], side[arc.head as usize]);
            let i = op as usize;
            let d = dur[i];
            if t && !h {
                // A finite cut has finite forward arcs only: d > min here.
                pending.push((op, d - 1));
            } else if !t && h && d < spec(i).max_quanta {
                pending.push((op, d + 1));
            }
        }
        // The change log lists computations ascending, and the cost change is summed in that
        // order (the critical search visits them in no particular order).
        pending.sort_unstable();
        let first_change = changes.len() as u32;
        let mut faster = 0.0;
        let mut slower = 0.0;
        for &(op, to) in &pending {
            let i = op as usize;
            let (d, sp) = (dur[i], spec(i));
            if to < d {
                faster += sp.cost(to) - sp.cost(d);
            } else {
                slower += sp.cost(d) - sp.cost(to);
            }
            dur[i] = to;
            cost_sum.change(&specs, spec_of[i], d, to);
            changes.push((op, to));
        }
        stats.changes += u64::from(changes.len() as u32 - first_change);
        let t3 = tick();
        stats.apply_ticks += t3.wrapping_sub(t2);
        cpm.run(&g, &dur);
        stats.cpm_ticks += tick().wrapping_sub(t3);
        let p = point(
            cpm.makespan,
            cost_sum.total(&specs, &spec_of, &dur),
            faster - slower,
            (first_change, changes.len() as u32),
        );
        points.push(p);
        stats.points += 1;
        if let Some(progress) = options.progress.as_mut()
            && !progress(points.len() as u64, expected)
        {
            termination = Termination::Cancelled {
                at_quanta: cpm.makespan,
            };
            break;
        }
        if options.stop == Stop::AtMinEnergy {
            // Energy is convex along the frontier: once it rises, T* is behind.
            if p.energy_j > min_energy {
                termination = Termination::Stopped {
                    at_quanta: cpm.makespan,
                };
                break;
            }
            min_energy = min_energy.min(p.energy_j);
        }
    }
    if let Some(out) = options.stats.as_mut() {
        **out = stats;
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
