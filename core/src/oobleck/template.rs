//! Pipeline templates: one stage layout per node count in `[n0, N]` (notes A3, A4).
//!
//! A pipeline of stage latencies `L_0 … L_{S−1}` runs `B` microbatches in the 1F1B estimate
//! `T(B) = Σ L + (B − S + k* − 1)·L_{k*} + Σ_{i≥k*} L_i`, with `k*` the *last* stage of maximal
//! latency (the bottleneck). Both upstream planners pick layouts by a divide-and-conquer
//! recurrence over (stage count, contiguous layer range) that combines the best left and right
//! halves; because `T` is not decomposable that recurrence is a heuristic (A4.4).
//!
//! - [`Objective::V011`] (PyPI 0.1.1): one stage per node, stage latency `Σ (f + b)`, layouts
//!   compared by `T(128)`. [`Solver::Exact`] (the default) minimises `T(128)` *exactly* by a
//!   bottleneck decomposition: for each candidate bottleneck stage `[a, b)` with latency `λ`,
//!   `T(128) = 2·Σ L − P(a) + (127 − S + k*)·λ` depends only on `a`, `λ` and `k*`, and a
//!   `k*`-stage prefix with every stage `≤ λ` (an `m`-stage suffix with every stage `< λ`)
//!   exists iff `k*` (`m`) lies between the greedy minimum stage count and the layer count.
//!   Two memo tables over contiguous ranges (the greedy counts for every `(a, b)`) make this
//!   `O(L³ + S·L²)`. [`Solver::Recurrence`] runs the upstream recurrence itself (flat memo,
//!   no cloning) for comparison; on every oracle of the notes both give the same `T(128)`.
//! - [`Objective::Develop`] (the `develop` C++ planner): a node of G GPUs holds one or more
//!   stages whose GPU counts are powers of two obtained by halving (`{4}`, `{2,1,1}`,
//!   `{1,1,2}`, …); stage latency `Σ (f + b)/g + 2·Σ allreduce_in_node[g]` for `g > 1`;
//!   layouts compared by the unnormalised `T = Σ L + (2S + k* + 1)·L_{k*} + Σ_{i≥k*} L_i`
//!   (`4·L` for one stage), and the template for `n` nodes is the best over `S ∈ [n, L]`.
//!   It always runs the upstream recurrence (the develop objective has no exact solver here),
//!   with the three accumulators upstream leaves uninitialised set to zero.

use alloc::vec;
use alloc::vec::Vec;

use super::batch::AffineTime;
use super::{MAX_GPUS_PER_NODE, MAX_NODES, MAX_RECURRENCE_STATES, OobleckError, Profile};

/// Which upstream planner's cost model and objective templates follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Objective {
    /// PyPI `oobleck==0.1.1`: one stage per node, compared by `T(128)`.
    #[default]
    V011,
    /// The `develop` branch's C++ planner: power-of-two GPU groups per node with intra-node
    /// all-reduce, compared by its unnormalised iteration estimate.
    Develop,
}

impl Objective {
    /// The name used on the command line and in documents (`v011`, `develop`).
    pub fn name(self) -> &'static str {
        match self {
            Objective::V011 => "v011",
            Objective::Develop => "develop",
        }
    }
}

/// How [`Objective::V011`] templates are searched ([`Objective::Develop`] always uses the
/// recurrence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Solver {
    /// Exact minimisation of `T(128)` by bottleneck decomposition (fast, provably optimal).
    #[default]
    Exact,
    /// The upstream divide-and-conquer recurrence (a heuristic; slower).
    Recurrence,
}

/// What [`generate_templates`] needs besides the profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemplateOptions {
    /// Objective (cost model and comparison).
    pub objective: Objective,
    /// Search method for [`Objective::V011`].
    pub solver: Solver,
    /// Cluster size N: templates are built for every node count in `[n0, N]`.
    pub max_nodes: u32,
    /// GPUs per node G (a power of two).
    pub gpus_per_node: u32,
    /// Memory of one node in bytes (`None`: memory does not constrain, n0 = 1).
    pub node_memory_bytes: Option<u64>,
}

impl TemplateOptions {
    /// Options for `max_nodes` nodes of one GPU, objective 0.1.1, no memory limit.
    pub fn new(max_nodes: u32) -> Self {
        TemplateOptions {
            objective: Objective::V011,
            solver: Solver::Exact,
            max_nodes,
            gpus_per_node: 1,
            node_memory_bytes: None,
        }
    }
}

/// One stage of a template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// First layer (inclusive).
    pub first_layer: usize,
    /// End layer (exclusive): the stage holds `[first_layer, end_layer)`.
    pub end_layer: usize,
    /// Node of the pipeline it runs on (0-based within the pipeline).
    pub node: u32,
    /// First GPU of that node it uses.
    pub gpu_offset: u32,
    /// GPUs it uses.
    pub gpus: u32,
    /// Its latency (forward + backward of one microbatch), milliseconds.
    pub latency_ms: f64,
}

/// The stage layout chosen for one node count, with its latency estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Nodes it spans.
    pub num_nodes: u32,
    /// Stages in pipeline order; contiguous, covering every layer once.
    pub stages: Vec<Stage>,
    /// Index of the bottleneck stage `k*` (last stage of maximal latency).
    pub bottleneck: usize,
    /// The value the reference planner minimises for this template, milliseconds: the 0.1.1
    /// pseudo latency `T(4S)`, or develop's unnormalised estimate.
    pub objective_ms: f64,
    /// `T(128)` under the objective's stage costs, milliseconds.
    pub latency_at_128_ms: f64,
    pub(crate) summary: Summary,
    pub(crate) ticks_per_ms: f64,
}

impl Template {
    /// `T(B)` as an affine function of the microbatch count, in ticks.
    pub fn affine(&self) -> AffineTime {
        self.summary.affine(self.stages.len())
    }

    /// `T(B) = Σ L + (B − S + k* − 1)·L_{k*} + Σ_{i≥k*} L_i`, milliseconds.
    pub fn latency_ms(&self, microbatches: u64) -> f64 {
        self.affine().at(microbatches) as f64 / self.ticks_per_ms
    }

    /// The bottleneck stage's latency `L_{k*}`, milliseconds (the slope of `T(B)`).
    pub fn bottleneck_ms(&self) -> f64 {
        self.summary.lk as f64 / self.ticks_per_ms
    }
}

/// All templates of one profile and cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    /// The objective they were built under.
    pub objective: Objective,
    /// Minimum nodes per pipeline by memory.
    pub n0: u32,
    /// Cluster size N.
    pub max_nodes: u32,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Number of layers.
    pub layers: usize,
    /// Templates by increasing node count (consecutive from `n0`).
    pub templates: Vec<Template>,
    /// Layer 0's cross-node all-reduce time by replica count (develop's sync term), ticks.
    pub(crate) sync_ticks: Vec<(u32, u64)>,
    pub(crate) ticks_per_ms: f64,
}

impl Templates {
    /// The template for `nodes` nodes.
    pub fn get(&self, nodes: u32) -> Option<&Template> {
        let first = self.templates.first()?.num_nodes;
        let i = usize::try_from(nodes.checked_sub(first)?).ok()?;
        self.templates.get(i)
    }

    /// Smallest and largest template node count.
    pub fn size_range(&self) -> (u32, u32) {
        (
            self.templates.first().map_or(0, |t| t.num_nodes),
            self.templates.last().map_or(0, |t| t.num_nodes),
        )
    }

    /// Ticks per millisecond (the internal time resolution).
    pub fn ticks_per_ms(&self) -> f64 {
        self.ticks_per_ms
    }

    /// The develop sync term for `pipelines` replicas, ticks (0 under 0.1.1).
    pub(crate) fn sync(&self, pipelines: u64) -> u64 {
        self.sync_ticks
            .iter()
            .find(|(k, _)| u64::from(*k) == pipelines)
            .map_or(0, |(_, t)| *t)
    }
}

/// The pipeline latency summary the combine step carries: `t1 = Σ L`, `lk = L_{k*}`, `k*`,
/// `t3 = Σ_{i≥k*} L_i` (ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Summary {
    pub(crate) t1: u64,
    pub(crate) lk: u64,
    pub(crate) kstar: u32,
    pub(crate) t3: u64,
}

impl Summary {
    fn single(l: u64) -> Self {
        Summary {
            t1: l,
            lk: l,
            kstar: 0,
            t3: l,
        }
    }

    /// Upstream's combine: the left bottleneck is kept only when strictly larger, so `k*` is
    /// the last argmax.
    #[inline]
    fn combine(l: &Summary, s_left: u32, r: &Summary) -> Summary {
        if l.lk > r.lk {
            Summary {
                t1: l.t1 + r.t1,
                lk: l.lk,
                kstar: l.kstar,
                t3: l.t3 + r.t1,
            }
        } else {
            Summary {
                t1: l.t1 + r.t1,
                lk: r.lk,
                kstar: s_left + r.kstar,
                t3: r.t3,
            }
        }
    }

    pub(crate) fn of(costs: &[u64]) -> Summary {
        let mut s = Summary::default();
        for (i, &c) in costs.iter().enumerate() {
            s.t1 += c;
            if c >= s.lk {
                s.lk = c;
                s.kstar = i as u32;
            }
        }
        s.t3 = costs[s.kstar as usize..].iter().sum();
        s
    }

    /// `T(B) = t1 + t3 + (B − S + k* − 1)·lk`.
    pub(crate) fn affine(&self, stages: usize) -> AffineTime {
        let s = stages as i128;
        AffineTime {
            offset: i128::from(self.t1)
                + i128::from(self.t3)
                + (i128::from(self.kstar) - 1 - s) * i128::from(self.lk),
            slope: self.lk,
        }
    }

    /// The comparison key of the objective.
    #[inline]
    fn key(&self, objective: Objective, stages: u32) -> i128 {
        let (t1, t3, lk, k, s) = (
            i128::from(self.t1),
            i128::from(self.t3),
            i128::from(self.lk),
            i128::from(self.kstar),
            i128::from(stages),
        );
        match objective {
            Objective::V011 => t1 + t3 + (127 - s + k) * lk,
            Objective::Develop if stages == 1 => 4 * t1,
            Objective::Develop => t1 + t3 + (2 * s + k + 1) * lk,
        }
    }
}

/// Stage costs in ticks from prefix sums.
struct Costs {
    gpus: u32,
    /// Prefix sums of `(f + b)` in ns.
    fb: Vec<u64>,
    /// Prefix sums of `allreduce_in_node[G >> level]` in ns, by level (develop only).
    ar: Vec<Vec<u64>>,
    develop: bool,
}

fn to_ns(ms: f64) -> u64 {
    // Times are validated finite in [0, MAX_LAYER_TIME_MS], so this is in range.
    libm::round(ms * 1.0e6) as u64
}

impl Costs {
    fn new(profile: &Profile, develop: bool, gpus: u32) -> Self {
        let layers = profile.layers();
        let mut fb = Vec::with_capacity(layers.len() + 1);
        fb.push(0u64);
        for l in layers {
            let last = fb[fb.len() - 1];
            fb.push(last + to_ns(l.forward_ms) + to_ns(l.backward_ms));
        }
        let mut ar = Vec::new();
        if develop {
            let mut g = gpus;
            while g >= 1 {
                let mut p = Vec::with_capacity(layers.len() + 1);
                p.push(0u64);
                for l in layers {
                    let last = p[p.len() - 1];
                    p.push(last + to_ns(l.allreduce_in_node(g)));
                }
                ar.push(p);
                g /= 2;
            }
        }
        Costs {
            gpus,
            fb,
            ar,
            develop,
        }
    }

    /// Latency of layers `[a, b)` on `G >> level` GPUs, ticks.
    #[inline]
    fn cost(&self, a: usize, b: usize, level: u32) -> u64 {
        let base = self.fb[b] - self.fb[a];
        if !self.develop {
            return base;
        }
        let ar = &self.ar[level as usize];
        let g = self.gpus >> level;
        let mut c = base * u64::from(self.gpus / g);
        if g > 1 {
            c += 2 * (ar[b] - ar[a]) * u64::from(self.gpus);
        }
        c
    }

    fn ticks_per_ms(&self) -> f64 {
        if self.develop {
            1.0e6 * f64::from(self.gpus)
        } else {
            1.0e6
        }
    }
}

/// A stage before its latency is converted: layers, node, GPU offset, level (`g = G >> level`).
#[derive(Debug, Clone, Copy)]
struct RawStage {
    a: usize,
    b: usize,
    node: u32,
    offset: u32,
    level: u32,
}

/// Builds the templates of every node count in `[n0, N]` (sizes with no feasible layout —
/// more nodes than layers — are left out).
pub fn generate_templates(
    profile: &Profile,
    options: &TemplateOptions,
) -> Result<Templates, OobleckError> {
    let n = options.max_nodes;
    if n == 0 || n > MAX_NODES {
        return Err(OobleckError::InvalidNodes { nodes: n });
    }
    let g = options.gpus_per_node;
    if g == 0 || g > MAX_GPUS_PER_NODE || !g.is_power_of_two() {
        return Err(OobleckError::InvalidGpus { gpus: g });
    }
    let develop = options.objective == Objective::Develop;
    let n0 = profile.min_nodes(develop, options.node_memory_bytes)?;
    if n0 > n {
        return Err(OobleckError::ModelTooLarge { n0, nodes: n });
    }
    let layers = profile.len();
    let top = n.min(u32::try_from(layers).unwrap_or(u32::MAX));
    if n0 > top {
        return Err(OobleckError::NoTemplates {
            n0,
            nodes: n,
            layers,
        });
    }
    let costs = Costs::new(profile, develop, if develop { g } else { 1 });
    let layouts: Vec<(u32, Vec<RawStage>)> = match (options.objective, options.solver) {
        (Objective::V011, Solver::Exact) => exact_v011(&costs, layers, n0, top),
        _ => Recurrence::new(&costs, options.objective, layers, top)?.templates(n0, top),
    };
    let ticks_per_ms = costs.ticks_per_ms();
    let mut templates = Vec::with_capacity(layouts.len());
    for (nodes, raw) in layouts {
        let stage_costs: Vec<u64> = raw.iter().map(|s| costs.cost(s.a, s.b, s.level)).collect();
        let summary = Summary::of(&stage_costs);
        let s = raw.len() as u32;
        let objective_ticks = match options.objective {
            // The 0.1.1 pseudo latency: T(m) at the fake microbatch count m = 4S.
            Objective::V011 => summary.affine(raw.len()).at(4 * u64::from(s)),
            Objective::Develop => summary.key(Objective::Develop, s),
        };
        let stages = raw
            .iter()
            .zip(&stage_costs)
            .map(|(r, &c)| Stage {
                first_layer: r.a,
                end_layer: r.b,
                node: r.node,
                gpu_offset: r.offset,
                gpus: if develop { g >> r.level } else { g },
                latency_ms: c as f64 / ticks_per_ms,
            })
            .collect();
        templates.push(Template {
            num_nodes: nodes,
            stages,
            bottleneck: summary.kstar as usize,
            objective_ms: objective_ticks as f64 / ticks_per_ms,
            latency_at_128_ms: summary.affine(raw.len()).at(128) as f64 / ticks_per_ms,
            summary,
            ticks_per_ms,
        });
    }
    let sync_ticks = if develop {
        profile.layers()[0]
            .allreduce_across_nodes_ms
            .iter()
            .map(|&(k, ms)| (k, to_ns(ms) * u64::from(g)))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Templates {
        objective: options.objective,
        n0,
        max_nodes: n,
        gpus_per_node: g,
        layers,
        templates,
        sync_ticks,
        ticks_per_ms,
    })
}

const NONE: u32 = u32::MAX;

/// The exact 0.1.1 search (see the module documentation).
fn exact_v011(costs: &Costs, layers: usize, n0: u32, top: u32) -> Vec<(u32, Vec<RawStage>)> {
    let l = layers;
    let w = l + 1;
    let p = &costs.fb;
    // pre[a·w + b]: fewest stages covering [0, a) with every stage ≤ λ = cost(a, b);
    // suf[a·w + b]: fewest covering [b, L) with every stage < λ. NONE when impossible.
    let mut pre = vec![NONE; w * w];
    let mut suf = vec![NONE; w * w];
    for a in 0..l {
        for b in a + 1..=l {
            let lam = p[b] - p[a];
            pre[a * w + b] = greedy(p, 0, a, |s| s <= lam);
            suf[a * w + b] = greedy(p, b, l, |s| s < lam);
        }
    }
    let mut out = Vec::new();
    for s in n0..=top {
        let mut best: Option<(i128, usize, usize, u32)> = None;
        for a in 0..l {
            for b in a + 1..=l {
                let (pm, sm) = (pre[a * w + b], suf[a * w + b]);
                if pm == NONE || sm == NONE || sm > s - 1 {
                    continue;
                }
                // k* must leave at most L − b stages for the suffix and at least its minimum.
                let rest = (l - b) as u32;
                let lo = pm.max((s - 1).saturating_sub(rest));
                let hi = (a as u32).min(s - 1 - sm);
                if lo > hi {
                    continue;
                }
                let lam = i128::from(p[b] - p[a]);
                let t = 2 * i128::from(p[l]) - i128::from(p[a])
                    + (127 - i128::from(s) + i128::from(lo)) * lam;
                if best.is_none_or(|(bt, ..)| t < bt) {
                    best = Some((t, a, b, lo));
                }
            }
        }
        let Some((_, a, b, k)) = best else { continue };
        let lam = p[b] - p[a];
        let mut cuts = split_exact(p, 0, a, k, |x| x <= lam);
        cuts.push((a, b));
        cuts.extend(split_exact(p, b, l, s - 1 - k, |x| x < lam));
        let raw = cuts
            .into_iter()
            .enumerate()
            .map(|(i, (a, b))| RawStage {
                a,
                b,
                node: i as u32,
                offset: 0,
                level: 0,
            })
            .collect();
        out.push((s, raw));
    }
    out
}

/// Fewest contiguous stages covering `[from, to)` with every stage sum accepted by `fits`
/// (greedy: extend each stage while it fits), or NONE when a single layer does not fit.
#[inline]
fn greedy(p: &[u64], from: usize, to: usize, fits: impl Fn(u64) -> bool) -> u32 {
    let mut count = 0u32;
    let mut start = from;
    while start < to {
        if !fits(p[start + 1] - p[start]) {
            return NONE;
        }
        let mut end = start + 1;
        while end < to && fits(p[end + 1] - p[start]) {
            end += 1;
        }
        count += 1;
        start = end;
    }
    count
}

/// Exactly `k` contiguous stages over `[from, to)` each accepted by `fits` (the greedy cover,
/// then stages split until there are `k`; splitting never raises a sum). The caller has checked
/// that `greedy ≤ k ≤ to − from`.
fn split_exact(
    p: &[u64],
    from: usize,
    to: usize,
    k: u32,
    fits: impl Fn(u64) -> bool,
) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut start = from;
    while start < to {
        let mut end = start + 1;
        while end < to && fits(p[end + 1] - p[start]) {
            end += 1;
        }
        parts.push((start, end));
        start = end;
    }
    let mut i = 0;
    while (parts.len() as u32) < k && i < parts.len() {
        let (a, b) = parts[i];
        if b - a >= 2 {
            parts[i] = (a, a + 1);
            parts.insert(i + 1, (a + 1, b));
        }
        i += 1;
    }
    parts
}

/// One memo cell of the recurrence.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    sum: Summary,
    ok: bool,
    /// Split point, left stage count and left node count of the best combine (S ≥ 2).
    k: u16,
    s_left: u16,
    n_left: u16,
}

/// The upstream divide-and-conquer recurrence on flat tables.
///
/// Blocks: under develop, `dc(·, ·, ·, 1, G >> level)` for each level and `dc(·, ·, ·, n, G)`
/// for `n ≥ 2`; under 0.1.1 (one stage per node, so `n = S`) a single block.
struct Recurrence<'c> {
    costs: &'c Costs,
    objective: Objective,
    layers: usize,
    levels: u32,
    nodes: u32,
    smax: u32,
    cells: Vec<Cell>,
}

impl<'c> Recurrence<'c> {
    fn new(
        costs: &'c Costs,
        objective: Objective,
        layers: usize,
        top: u32,
    ) -> Result<Self, OobleckError> {
        let develop = objective == Objective::Develop;
        let levels = if develop {
            costs.gpus.trailing_zeros() + 1
        } else {
            1
        };
        let nodes = if develop { top } else { 1 };
        let smax = if develop {
            (layers as u64).min(u64::from(top) * u64::from(costs.gpus)) as u32
        } else {
            top
        };
        let blocks = u64::from(levels) + u64::from(nodes.saturating_sub(1));
        let w = layers as u64 + 1;
        let states = blocks * (u64::from(smax) + 1) * w * w;
        if states > MAX_RECURRENCE_STATES {
            return Err(OobleckError::TooLarge {
                objective: objective.name(),
                states,
            });
        }
        let mut r = Recurrence {
            costs,
            objective,
            layers,
            levels,
            nodes,
            smax,
            cells: vec![Cell::default(); states as usize],
        };
        r.fill();
        Ok(r)
    }

    #[inline]
    fn block(&self, n: u32, level: u32) -> usize {
        if n <= 1 {
            level as usize
        } else {
            (self.levels + n - 2) as usize
        }
    }

    #[inline]
    fn idx(&self, block: usize, s: u32, i: usize, j: usize) -> usize {
        let w = self.layers + 1;
        ((block * (self.smax as usize + 1) + s as usize) * w + i) * w + j
    }

    fn fill(&mut self) {
        let l = self.layers;
        let develop = self.objective == Objective::Develop;
        // S = 1: one stage (n = 1) at every GPU level.
        for level in 0..self.levels {
            for i in 0..l {
                for j in i + 1..=l {
                    let c = self.costs.cost(i, j, level);
                    let at = self.idx(level as usize, 1, i, j);
                    self.cells[at] = Cell {
                        sum: Summary::single(c),
                        ok: true,
                        ..Cell::default()
                    };
                }
            }
        }
        for s in 2..=self.smax {
            if develop {
                // One node split into two halves of its GPUs.
                for level in 0..self.levels - 1 {
                    if (self.costs.gpus >> level) < s {
                        continue;
                    }
                    self.fill_block(s, level as usize, |_| Some((level as usize + 1, 0)));
                }
                for n in 2..=self.nodes.min(s) {
                    let nb = self.block(n, 0);
                    let this = &*self;
                    let kids: Vec<(usize, usize, u16)> = (1..n)
                        .map(|nl| (this.block(nl, 0), this.block(n - nl, 0), nl as u16))
                        .collect();
                    self.fill_nodes(s, nb, &kids);
                }
            } else {
                self.fill_block(s, 0, |_| Some((0, 0)));
            }
        }
    }

    /// Fills block `b` for stage count `s` where both children live in block `child(·)`.
    fn fill_block(&mut self, s: u32, b: usize, child: impl Fn(u32) -> Option<(usize, u16)>) {
        if let Some((cb, _)) = child(s) {
            self.fill_nodes(s, b, &[(cb, cb, 0)]);
        }
    }

    /// Fills block `b` for stage count `s`, combining over split point, left stage count and
    /// each `(left block, right block, left nodes)` of `kids`.
    fn fill_nodes(&mut self, s: u32, b: usize, kids: &[(usize, usize, u16)]) {
        let l = self.layers;
        for i in 0..l {
            for j in i + s as usize..=l {
                let mut best: Option<(i128, Cell)> = None;
                for k in i + 1..j {
                    let sl_lo = 1.max(s as i64 - (j - k) as i64) as u32;
                    let sl_hi = (s - 1).min((k - i) as u32);
                    for sl in sl_lo..=sl_hi {
                        for &(lb, rb, nl) in kids {
                            let left = &self.cells[self.idx(lb, sl, i, k)];
                            if !left.ok {
                                continue;
                            }
                            let right = &self.cells[self.idx(rb, s - sl, k, j)];
                            if !right.ok {
                                continue;
                            }
                            let sum = Summary::combine(&left.sum, sl, &right.sum);
                            let key = sum.key(self.objective, s);
                            if best.is_none_or(|(bk, _)| key < bk) {
                                best = Some((
                                    key,
                                    Cell {
                                        sum,
                                        ok: true,
                                        k: k as u16,
                                        s_left: sl as u16,
                                        n_left: nl,
                                    },
                                ));
                            }
                        }
                    }
                }
                if let Some((_, cell)) = best {
                    let at = self.idx(b, s, i, j);
                    self.cells[at] = cell;
                }
            }
        }
    }

    /// The template of each node count: `dc(n, 0, L)` (0.1.1) or the best over `S` of
    /// `dc(S, 0, L, n, G)` (develop, ties to fewer stages).
    fn templates(&self, n0: u32, top: u32) -> Vec<(u32, Vec<RawStage>)> {
        let mut out = Vec::new();
        for n in n0..=top {
            let (block, candidates) = if self.objective == Objective::Develop {
                (self.block(n, 0), n..=self.smax)
            } else {
                (0, n..=n)
            };
            let mut best: Option<(i128, u32)> = None;
            for s in candidates {
                let c = &self.cells[self.idx(block, s, 0, self.layers)];
                if c.ok {
                    let key = c.sum.key(self.objective, s);
                    if best.is_none_or(|(bk, _)| key < bk) {
                        best = Some((key, s));
                    }
                }
            }
            if let Some((_, s)) = best {
                out.push((n, self.unwind(block, n, s)));
            }
        }
        out
    }

    /// Rebuilds the stage list of a cell from its recorded splits.
    fn unwind(&self, block: usize, n: u32, s: u32) -> Vec<RawStage> {
        let develop = self.objective == Objective::Develop;
        let mut stages = Vec::new();
        // (block, nodes, stages, i, j, node offset, gpu offset)
        let mut stack = vec![(block, n, s, 0usize, self.layers, 0u32, 0u32)];
        while let Some((b, n, s, i, j, node, offset)) = stack.pop() {
            let c = &self.cells[self.idx(b, s, i, j)];
            if s == 1 {
                let level = if develop && n <= 1 { b as u32 } else { 0 };
                stages.push(RawStage {
                    a: i,
                    b: j,
                    node,
                    offset,
                    level,
                });
                continue;
            }
            let (k, sl) = (c.k as usize, u32::from(c.s_left));
            if !develop {
                stack.push((0, 0, s - sl, k, j, node + sl, 0));
                stack.push((0, 0, sl, i, k, node, 0));
            } else if n <= 1 {
                let half = self.costs.gpus >> (b + 1);
                stack.push((b + 1, 1, s - sl, k, j, node, offset + half));
                stack.push((b + 1, 1, sl, i, k, node, offset));
            } else {
                let nl = u32::from(c.n_left);
                stack.push((self.block(n - nl, 0), n - nl, s - sl, k, j, node + nl, 0));
                stack.push((self.block(nl, 0), nl, sl, i, k, node, 0));
            }
        }
        stages
    }
}

#[cfg(test)]
pub(crate) mod tests;
