//! Instantiation (notes A5), reconfiguration after failures (A8) and the per-layer gradient
//! synchronisation groups (A5.6).

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::batch::{AffineTime, split_batch};
use super::{MAX_MICROBATCHES, MAX_OPTIONS, OobleckError, Template, Templates};

/// What [`instantiate`] needs besides the templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// f: the plan survives any `f` simultaneous node failures (it has at least `f + 1`
    /// pipelines; the 0.1.1 planner used `≥ f`, the paper `≥ f + 1`, which is what this does).
    pub fault_tolerance: u32,
    /// The global batch B in microbatches.
    pub microbatches: u64,
}

/// One pipeline instance: a template bound to nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Nodes it spans (= its template's node count).
    pub num_nodes: u32,
    /// Node ids, in the order of the template's nodes.
    pub nodes: Vec<u32>,
    /// Microbatches it runs per iteration.
    pub microbatches: u64,
}

/// An instantiation: pipelines, their batch split and the predicted iteration time.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Pipelines ordered by node count (then first node).
    pub pipelines: Vec<Pipeline>,
    /// `max_t T_t(B_t)` plus, under develop, the cross-node sync term, milliseconds.
    pub iteration_time_ms: f64,
    /// Node ids are `0..num_nodes`.
    pub num_nodes: u32,
    /// The global batch B.
    pub microbatches: u64,
    /// How many template multisets with `Σ nodes = N` and `≥ f + 1` pipelines exist (the
    /// search bounds away most of them without solving their split); 1 after a
    /// reconfiguration.
    pub options_considered: u64,
}

/// The plan after losing nodes, and how the surviving nodes get the layers they now hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconfiguration {
    /// The new plan (surviving nodes only).
    pub plan: Plan,
    /// Layer copies: each surviving node receives the layers of its new stages that it did not
    /// hold before, from a surviving node that held them.
    pub transfers: Vec<Transfer>,
    /// The lost nodes, sorted, without duplicates.
    pub lost: Vec<u32>,
}

/// Layers `[first_layer, end_layer)` copied to `node` from `from_node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Receiving node.
    pub node: u32,
    /// First layer.
    pub first_layer: usize,
    /// End layer (exclusive).
    pub end_layer: usize,
    /// Sending node (a surviving holder in the old plan).
    pub from_node: u32,
}

/// One member of a layer's gradient-synchronisation group: where one pipeline holds the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncMember {
    /// Pipeline index in the plan.
    pub pipeline: usize,
    /// Node holding the layer.
    pub node: u32,
    /// First GPU of the stage on that node.
    pub gpu_offset: u32,
    /// GPUs the stage shards the layer across.
    pub gpus: u32,
}

fn template_of(templates: &Templates, nodes: u32) -> Result<&Template, OobleckError> {
    templates.get(nodes).ok_or_else(|| {
        let (min, max) = templates.size_range();
        OobleckError::NoTemplateForSize { nodes, min, max }
    })
}

fn check_microbatches(microbatches: u64) -> Result<(), OobleckError> {
    if microbatches == 0 || microbatches > MAX_MICROBATCHES {
        return Err(OobleckError::InvalidMicrobatches { microbatches });
    }
    Ok(())
}

/// The best option found so far by the enumeration.
struct Best {
    total: i128,
    pipelines: u64,
    counts: Vec<u64>,
    split: Vec<u64>,
}

struct Search<'t> {
    sizes: Vec<u32>,
    affine: Vec<AffineTime>,
    templates: &'t Templates,
    microbatches: u64,
    min_pipelines: u64,
    counts: Vec<u64>,
    /// Per size: `(o, r) = (offset / slope, 1 / slope)` of its `T(B)` (all slopes positive,
    /// else no bound is used).
    rate: Vec<(f64, f64)>,
    /// Per size index: the smallest size from there on.
    smallest: Vec<u32>,
    bound: Option<Bound>,
    work: u64,
    best: Option<Best>,
}

/// Branch-and-bound over partial multisets. For integer counts the batch split's optimum is at
/// least the continuous one, `Z = (B + Σ x·o) / (Σ x·r)` (every `T_t` equalised, with
/// `T_t(B) = (B + o_t) / r_t`). Some completion of a partial choice `(num, den)` with `R` nodes
/// left reaches `Z ≤ z` only if `B + num − z·den + R·min_t (o_t − z·r_t) / n_t ≤ 0` (the
/// remaining nodes spread continuously over the best template per node), so a branch where
/// that is positive cannot beat the incumbent `z`.
struct Bound {
    z: f64,
    /// `suffix[i] = min_{t ≥ i} (o_t − z·r_t) / n_t`.
    suffix: Vec<f64>,
}

impl Bound {
    fn new(rate: &[(f64, f64)], sizes: &[u32], z: f64) -> Option<Bound> {
        if rate
            .iter()
            .any(|&(o, r)| !(o.is_finite() && r.is_finite() && r > 0.0))
        {
            return None;
        }
        let mut suffix = vec![f64::INFINITY; rate.len() + 1];
        for i in (0..rate.len()).rev() {
            let (o, r) = rate[i];
            suffix[i] = suffix[i + 1].min((o - z * r) / f64::from(sizes[i]));
        }
        Some(Bound { z, suffix })
    }

    fn prunes(&self, b: f64, num: f64, den: f64, rem: f64, i: usize) -> bool {
        let lhs = b + num - self.z * den + rem * self.suffix[i];
        // A relative margin keeps ties (and rounding) in the search.
        lhs > 1e-9 * (b.abs() + num.abs() + (self.z * den).abs() + 1.0)
    }
}

impl Search<'_> {
    /// Depth-first over the sizes: how many pipelines of `sizes[i]`, with `rem` nodes left.
    /// Depth-first over the sizes: how many pipelines of `sizes[i]`, with `rem` nodes left;
    /// `num`, `den` are `Σ x·o` and `Σ x·r` of the pipelines chosen so far (see [`Bound`]).
    fn dfs(
        &mut self,
        i: usize,
        rem: u32,
        parts: u64,
        num: f64,
        den: f64,
    ) -> Result<(), OobleckError> {
        self.work += 1;
        if self.work > MAX_OPTIONS {
            return Err(OobleckError::TooManyOptions {
                nodes: self.templates.max_nodes,
            });
        }
        if rem == 0 {
            if parts >= self.min_pipelines {
                self.leaf(parts)?;
            }
            return Ok(());
        }
        if i == self.sizes.len() {
            return Ok(());
        }
        // Even if every remaining node went into the smallest remaining size, too few parts.
        if parts + u64::from(rem / self.smallest[i]) < self.min_pipelines {
            return Ok(());
        }
        if let Some(b) = &self.bound
            && b.prunes(self.microbatches as f64, num, den, f64::from(rem), i)
        {
            return Ok(());
        }
        let size = self.sizes[i];
        let (o, r) = self.rate[i];
        let most = rem / size;
        for x in (0..=most).rev() {
            self.counts[i] = u64::from(x);
            let xf = f64::from(x);
            self.dfs(
                i + 1,
                rem - x * size,
                parts + u64::from(x),
                num + xf * o,
                den + xf * r,
            )?;
        }
        self.counts[i] = 0;
        Ok(())
    }

    fn leaf(&mut self, parts: u64) -> Result<(), OobleckError> {
        let sync = i128::from(self.templates.sync(parts));
        // Lower bound: the continuous relaxation equalises every T_t, and every pipeline runs
        // at least one microbatch.
        if let Some(best) = &self.best {
            let (mut rate, mut off, mut floor) = (0.0f64, 0.0f64, i128::MIN);
            let mut flat = false;
            for (t, &x) in self.counts.iter().enumerate() {
                if x == 0 {
                    continue;
                }
                let a = self.affine[t];
                floor = floor.max(a.at(1));
                if a.slope == 0 {
                    flat = true;
                } else {
                    rate += x as f64 / a.slope as f64;
                    off += x as f64 * a.offset as f64 / a.slope as f64;
                }
            }
            let relaxed = if flat {
                floor as f64
            } else {
                ((self.microbatches as f64 + off) / rate).max(floor as f64)
            };
            if relaxed + sync as f64 > best.total as f64 * (1.0 + 1e-12) + 1.0 {
                return Ok(());
            }
        }
        let groups: Vec<(AffineTime, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|&(_, &x)| x > 0)
            .map(|(t, &x)| (self.affine[t], x))
            .collect();
        let Some(split) = split_batch(&groups, self.microbatches, 1) else {
            return Ok(());
        };
        let total = split.z + sync;
        let better = match &self.best {
            None => true,
            Some(b) => total < b.total || (total == b.total && parts > b.pipelines),
        };
        if better {
            self.bound = Bound::new(&self.rate, &self.sizes, total as f64);
            self.best = Some(Best {
                total,
                pipelines: parts,
                counts: self.counts.clone(),
                split: split.microbatches,
            });
        }
        Ok(())
    }
}

/// Chooses the multiset of templates with `Σ nodes = N` and at least `f + 1` pipelines whose
/// exact batch split has the least iteration time (ties: more pipelines). Pipelines are laid
/// out by increasing node count on consecutive node ids.
pub fn instantiate(templates: &Templates, options: &PlanOptions) -> Result<Plan, OobleckError> {
    check_microbatches(options.microbatches)?;
    let n = templates.max_nodes;
    let f = options.fault_tolerance;
    let need = (u64::from(f) + 1) * u64::from(templates.n0);
    if need > u64::from(n) {
        return Err(OobleckError::FaultToleranceTooLarge {
            f,
            n0: templates.n0,
            need,
            nodes: n,
        });
    }
    let sizes: Vec<u32> = templates.templates.iter().map(|t| t.num_nodes).collect();
    let affine: Vec<AffineTime> = templates.templates.iter().map(Template::affine).collect();
    let rate = affine
        .iter()
        .map(|a| {
            let s = a.slope as f64;
            (a.offset as f64 / s, 1.0 / s)
        })
        .collect();
    let mut smallest = sizes.clone();
    for i in (0..smallest.len().saturating_sub(1)).rev() {
        smallest[i] = smallest[i].min(smallest[i + 1]);
    }
    let options_considered = count_options(&sizes, n, u64::from(f) + 1);
    let mut search = Search {
        counts: vec![0; sizes.len()],
        sizes,
        affine,
        rate,
        smallest,
        bound: None,
        templates,
        microbatches: options.microbatches,
        min_pipelines: u64::from(f) + 1,
        work: 0,
        best: None,
    };
    search.dfs(0, n, 0, 0.0, 0.0)?;
    let Some(best) = search.best else {
        return Err(OobleckError::NoFeasiblePlan {
            pipelines: u64::from(f) + 1,
            microbatches: options.microbatches,
        });
    };
    let mut pipelines = Vec::new();
    let mut next = 0u32;
    let used = best.counts.iter().enumerate().filter(|&(_, &x)| x > 0);
    for ((t, &x), &b) in used.zip(&best.split) {
        let size = search.sizes[t];
        for _ in 0..x {
            pipelines.push(Pipeline {
                num_nodes: size,
                nodes: (next..next + size).collect(),
                microbatches: b,
            });
            next += size;
        }
    }
    Ok(Plan {
        pipelines,
        iteration_time_ms: best.total as f64 / templates.ticks_per_ms(),
        num_nodes: n,
        microbatches: options.microbatches,
        options_considered,
    })
}

/// How many multisets of `sizes` sum to exactly `n` with at least `min_parts` parts
/// (saturating): partitions counted by a DP over (sum, parts capped at `min_parts`).
fn count_options(sizes: &[u32], n: u32, min_parts: u64) -> u64 {
    let cap = usize::try_from(min_parts)
        .unwrap_or(usize::MAX)
        .min(n as usize + 1);
    let w = cap + 1;
    let n = n as usize;
    let mut ways = vec![0u64; (n + 1) * w];
    ways[0] = 1;
    for &s in sizes {
        let s = s as usize;
        for sum in s..=n {
            for p in 0..w {
                let from = ways[(sum - s) * w + p];
                if from > 0 {
                    let q = (p + 1).min(cap);
                    ways[sum * w + q] = ways[sum * w + q].saturating_add(from);
                }
            }
        }
    }
    ways[n * w + cap]
}

/// The layers `[first, end)` that node `i` of a template holds.
fn node_layers(t: &Template, i: u32) -> (usize, usize) {
    let mut first = usize::MAX;
    let mut end = 0;
    for s in t.stages.iter().filter(|s| s.node == i) {
        first = first.min(s.first_layer);
        end = end.max(s.end_layer);
    }
    (first, end)
}

/// For each pipeline, the node holding each layer.
fn holders(templates: &Templates, plan: &Plan) -> Result<Vec<Vec<u32>>, OobleckError> {
    let mut out = Vec::with_capacity(plan.pipelines.len());
    for p in &plan.pipelines {
        let t = template_of(templates, p.num_nodes)?;
        if p.nodes.len() != p.num_nodes as usize {
            return Err(OobleckError::PlanMismatch(
                "a pipeline's node list does not have its node count",
            ));
        }
        let mut h = vec![0u32; templates.layers];
        for s in &t.stages {
            let node = p.nodes[s.node as usize];
            h[s.first_layer..s.end_layer].fill(node);
        }
        out.push(h);
    }
    Ok(out)
}

/// Re-splits the batch of `pipelines` (≥ 1 microbatch each) and orders them by (size, first
/// node); returns the plan.
fn resplit(
    templates: &Templates,
    mut pipelines: Vec<Vec<u32>>,
    num_nodes: u32,
    microbatches: u64,
) -> Result<Plan, OobleckError> {
    for p in &mut pipelines {
        p.sort_unstable();
    }
    pipelines.sort_by_key(|p| (p.len(), p.first().copied()));
    let mut sizes: Vec<u32> = pipelines.iter().map(|p| p.len() as u32).collect();
    sizes.dedup();
    let mut groups = Vec::with_capacity(sizes.len());
    for &s in &sizes {
        let t = template_of(templates, s)?;
        let x = pipelines.iter().filter(|p| p.len() as u32 == s).count() as u64;
        groups.push((t.affine(), x));
    }
    let count = pipelines.len() as u64;
    // Upstream gives every pipeline of a template the same count. When that has no exact
    // solution (three equal pipelines, 128 microbatches) a running job should not stop, so
    // each pipeline becomes its own group: counts within a template may then differ by the
    // least amount the min-max allows.
    let per_template = split_batch(&groups, microbatches, 1);
    let counts: Vec<u64> = match per_template {
        Some(split) => pipelines
            .iter()
            .map(|p| {
                let g = sizes.iter().position(|&x| x == p.len() as u32).unwrap_or(0);
                split.microbatches[g]
            })
            .collect(),
        None => {
            let each: Vec<(AffineTime, u64)> = pipelines
                .iter()
                .map(|p| {
                    let g = sizes.iter().position(|&x| x == p.len() as u32).unwrap_or(0);
                    (groups[g].0, 1)
                })
                .collect();
            split_batch(&each, microbatches, 1)
                .ok_or(OobleckError::NoFeasiblePlan {
                    pipelines: count,
                    microbatches,
                })?
                .microbatches
        }
    };
    let z = pipelines
        .iter()
        .zip(&counts)
        .map(|(p, &b)| {
            let g = sizes.iter().position(|&x| x == p.len() as u32).unwrap_or(0);
            groups[g].0.at(b)
        })
        .max()
        .unwrap_or(0);
    let total = z + i128::from(templates.sync(count));
    let pipelines = pipelines
        .into_iter()
        .zip(counts)
        .map(|(nodes, microbatches)| Pipeline {
            num_nodes: nodes.len() as u32,
            nodes,
            microbatches,
        })
        .collect();
    Ok(Plan {
        pipelines,
        iteration_time_ms: total as f64 / templates.ticks_per_ms(),
        num_nodes,
        microbatches,
        options_considered: 1,
    })
}

/// Reconfigures `plan` after losing the nodes `lost` (notes A8): every pipeline drops its lost
/// nodes; a pipeline left below n0 nodes borrows nodes one at a time from the end of the
/// currently largest pipeline while that stays at ≥ n0; pipelines still short are merged
/// (undersized ones together, then into the smallest other pipeline); each pipeline takes the
/// template of its new size and the batch is re-split (≥ 1 microbatch each; pipelines of one
/// template get the same count where an exact split allows it, else each its own). Instantiation
/// is not re-run. If some layer lost every replica, or fewer than n0 nodes survive, the error
/// says training must restart.
pub fn reconfigure(
    templates: &Templates,
    plan: &Plan,
    lost: &[u32],
) -> Result<Reconfiguration, OobleckError> {
    check_microbatches(plan.microbatches)?;
    let n = plan.num_nodes;
    let mut dead = vec![false; n as usize];
    for &u in lost {
        if u >= n {
            return Err(OobleckError::UnknownNode { node: u, nodes: n });
        }
        dead[u as usize] = true;
    }
    let old = holders(templates, plan)?;
    // Every layer needs a surviving holder somewhere.
    let mut source = vec![0u32; templates.layers];
    for (layer, src) in source.iter_mut().enumerate() {
        match old.iter().map(|h| h[layer]).find(|&u| !dead[u as usize]) {
            Some(u) => *src = u,
            None => {
                return Err(OobleckError::MustRestart {
                    reason: format!("layer {layer} lost every replica"),
                });
            }
        }
    }
    let n0 = templates.n0 as usize;
    let mut pipes: Vec<Vec<u32>> = plan
        .pipelines
        .iter()
        .map(|p| {
            p.nodes
                .iter()
                .copied()
                .filter(|&u| !dead[u as usize])
                .collect::<Vec<_>>()
        })
        .filter(|p: &Vec<u32>| !p.is_empty())
        .collect();
    // Borrow: each short pipeline takes nodes from the end of the currently largest one while
    // that one keeps at least n0.
    for i in 0..pipes.len() {
        while pipes[i].len() < n0 {
            let donor = (0..pipes.len())
                .filter(|&d| d != i && pipes[d].len() > n0)
                .max_by_key(|&d| (pipes[d].len(), core::cmp::Reverse(d)));
            let Some(d) = donor else { break };
            if let Some(u) = pipes[d].pop() {
                pipes[i].push(u);
            }
        }
    }
    // Merge: concatenate short pipelines until each reaches n0; a remainder joins the smallest
    // other pipeline.
    let (mut short, mut ok): (Vec<Vec<u32>>, Vec<Vec<u32>>) =
        pipes.into_iter().partition(|p| p.len() < n0);
    let mut acc: Vec<u32> = Vec::new();
    for p in short.drain(..) {
        acc.extend(p);
        if acc.len() >= n0 {
            ok.push(core::mem::take(&mut acc));
        }
    }
    if !acc.is_empty() {
        let target = (0..ok.len()).min_by_key(|&i| (ok[i].len(), i));
        match target {
            Some(i) => ok[i].extend(acc),
            None => {
                return Err(OobleckError::MustRestart {
                    reason: format!(
                        "{} nodes survive, fewer than the {} one pipeline needs",
                        acc.len(),
                        n0
                    ),
                });
            }
        }
    }
    let new_plan = resplit(templates, ok, n, plan.microbatches)?;
    // Copies: the layers each node now holds and did not hold before.
    let mut held = vec![(0usize, 0usize); n as usize];
    for (p, h) in plan.pipelines.iter().zip(&old) {
        for &u in &p.nodes {
            let first = h.iter().position(|&x| x == u).unwrap_or(0);
            let end = h.iter().rposition(|&x| x == u).map_or(0, |e| e + 1);
            held[u as usize] = (first, end);
        }
    }
    let mut transfers = Vec::new();
    for p in &new_plan.pipelines {
        let t = template_of(templates, p.num_nodes)?;
        for (i, &u) in p.nodes.iter().enumerate() {
            let (a, b) = node_layers(t, i as u32);
            let (ha, hb) = held[u as usize];
            let mut layer = a;
            while layer < b {
                if layer >= ha && layer < hb {
                    layer = hb;
                    continue;
                }
                let from = source[layer];
                let mut end = layer + 1;
                while end < b && source[end] == from && !(end >= ha && end < hb) {
                    end += 1;
                }
                transfers.push(Transfer {
                    node: u,
                    first_layer: layer,
                    end_layer: end,
                    from_node: from,
                });
                layer = end;
            }
        }
    }
    let mut lost: Vec<u32> = lost.to_vec();
    lost.sort_unstable();
    lost.dedup();
    Ok(Reconfiguration {
        plan: new_plan,
        transfers,
        lost,
    })
}

/// The gradient-synchronisation group of every layer: for each pipeline, the node and GPUs
/// holding it. Groups are per layer rather than per stage because stage boundaries differ
/// between templates (notes A5.6).
pub fn sync_groups(
    templates: &Templates,
    plan: &Plan,
) -> Result<Vec<Vec<SyncMember>>, OobleckError> {
    let mut groups = vec![Vec::with_capacity(plan.pipelines.len()); templates.layers];
    for (pi, p) in plan.pipelines.iter().enumerate() {
        let t = template_of(templates, p.num_nodes)?;
        if p.nodes.len() != p.num_nodes as usize {
            return Err(OobleckError::PlanMismatch(
                "a pipeline's node list does not have its node count",
            ));
        }
        for s in &t.stages {
            for g in &mut groups[s.first_layer..s.end_layer] {
                g.push(SyncMember {
                    pipeline: pi,
                    node: p.nodes[s.node as usize],
                    gpu_offset: s.gpu_offset,
                    gpus: s.gpus,
                });
            }
        }
    }
    Ok(groups)
}
