//! The input of a frontier solve: profiles, the computation DAG, the time quantum and the
//! blocking power.

use super::FrontierError;
use crate::fit::ExpModel;
use crate::names::named_enum;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The kind of a pipeline computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Kind {
    /// Forward pass of one microbatch through one stage.
    Forward,
    /// Backward pass of one microbatch through one stage.
    Backward,
}

named_enum!(Kind, "computation kind" {
    Forward => "forward",
    Backward => "backward",
});

/// One measured way to run a computation: at `freq_mhz` it took `time_s` and `energy_j`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProfileOption {
    /// GPU SM clock in MHz.
    pub freq_mhz: u32,
    /// Measured time of one computation, seconds.
    pub time_s: f64,
    /// Measured energy of one computation, joules.
    pub energy_j: f64,
}

/// The measurements of one (stage, kind); every computation of that stage and kind uses them.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Pipeline stage (GPU) index.
    pub stage: u32,
    /// Forward or backward.
    pub kind: Kind,
    /// Raw measurements, in any order; the solver filters them itself.
    pub options: Vec<ProfileOption>,
    /// A cost model to use instead of fitting one.
    pub fit: Option<ExpModel>,
}

/// Where the blocking energy is subtracted from the measured energy (perseus.md §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum EffectiveEnergy {
    /// Pareto-filter on raw energy, then subtract (the SOSP'24 artifact; reproduces the paper).
    #[default]
    AfterFilter,
    /// Subtract first, then filter on effective energy (the zeus driver).
    BeforeFilter,
}

named_enum!(EffectiveEnergy, "effective-energy order" {
    AfterFilter => "after_filter",
    BeforeFilter => "before_filter",
});

/// One computation: a node of the activity-on-node DAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Computation {
    /// Pipeline stage (GPU) that runs it.
    pub stage: u32,
    /// Forward or backward.
    pub kind: Kind,
    /// Microbatch index.
    pub microbatch: u32,
    /// Model chunk on that GPU (interleaved 1F1B); 0 otherwise.
    pub chunk: u32,
}

/// The computation DAG. Nodes of one stage appear in that stage's program order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dag {
    /// Number of pipeline stages (GPUs); blocking power is drawn by each of them.
    pub num_stages: u32,
    /// Computations; node ids are indices into this list.
    pub nodes: Vec<Computation>,
    /// Precedence `u → v`: `u` must finish before `v` starts.
    pub edges: Vec<(u32, u32)>,
}

/// A frontier problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Time quantum τ in seconds; durations are integer multiples of it.
    pub unit_time_s: f64,
    /// Power drawn by a GPU while it is not computing, watts.
    pub p_blocking_w: f64,
    /// When the blocking energy is subtracted.
    pub effective_energy: EffectiveEnergy,
    /// One profile per (stage, kind) used by the DAG.
    pub profiles: Vec<Profile>,
    /// The computations and their precedences.
    pub dag: Dag,
}

impl Problem {
    /// Checks every number a user can get wrong, naming the offending profile or row.
    pub fn validate(&self) -> Result<(), FrontierError> {
        if !(self.unit_time_s.is_finite() && self.unit_time_s > 0.0) {
            return Err(FrontierError::InvalidUnitTime(self.unit_time_s));
        }
        if !(self.p_blocking_w.is_finite() && self.p_blocking_w >= 0.0) {
            return Err(FrontierError::InvalidBlockingPower(self.p_blocking_w));
        }
        if self.profiles.len() > super::MAX_PROFILES {
            return Err(FrontierError::TooManyProfiles {
                profiles: self.profiles.len(),
            });
        }
        let total_options: usize = self.profiles.iter().map(|p| p.options.len()).sum();
        if total_options > super::MAX_OPTIONS {
            return Err(FrontierError::TooManyOptions {
                what: "the problem".into(),
                options: total_options,
                limit_name: "MAX_OPTIONS",
                limit: super::MAX_OPTIONS,
            });
        }
        // (stage, kind) → profile index: duplicate and missing profiles are found in
        // O(log P) per lookup, not by scanning every profile.
        let mut index = BTreeMap::new();
        for p in &self.profiles {
            if index.insert((p.stage, p.kind), ()).is_some() {
                return Err(FrontierError::DuplicateProfile {
                    stage: p.stage,
                    kind: p.kind,
                });
            }
            if p.options.len() > super::MAX_OPTIONS_PER_PROFILE {
                return Err(FrontierError::TooManyOptions {
                    what: alloc::format!("profile (stage {}, {})", p.stage, p.kind),
                    options: p.options.len(),
                    limit_name: "MAX_OPTIONS_PER_PROFILE",
                    limit: super::MAX_OPTIONS_PER_PROFILE,
                });
            }
            if p.options.is_empty() {
                return Err(FrontierError::EmptyProfile {
                    stage: p.stage,
                    kind: p.kind,
                });
            }
            for (row, o) in p.options.iter().enumerate() {
                let bad = |field, value| FrontierError::InvalidOption {
                    stage: p.stage,
                    kind: p.kind,
                    row,
                    field,
                    value,
                };
                if !(o.time_s.is_finite() && o.time_s > 0.0) {
                    return Err(bad("time_s", o.time_s));
                }
                if !(o.energy_j.is_finite() && o.energy_j > 0.0) {
                    return Err(bad("energy_j", o.energy_j));
                }
                if o.freq_mhz == 0 {
                    return Err(bad("freq_mhz", 0.0));
                }
            }
            // The solver needs a cost that is convex (a ≥ 0) and does not rise with duration
            // (b ≤ 0); otherwise the refund for slowing down could exceed the price of speeding up.
            if let Some(m) = p.fit
                && !(m.a.is_finite()
                    && m.b.is_finite()
                    && m.c.is_finite()
                    && m.a >= 0.0
                    && m.b <= 0.0)
            {
                return Err(FrontierError::InvalidFit {
                    stage: p.stage,
                    kind: p.kind,
                    model: m,
                });
            }
        }
        self.dag.validate()?;
        if let Some(p) = self
            .profiles
            .iter()
            .find(|p| p.stage >= self.dag.num_stages)
        {
            return Err(FrontierError::UnusedProfile {
                stage: p.stage,
                kind: p.kind,
                num_stages: self.dag.num_stages,
            });
        }
        for c in &self.dag.nodes {
            if !index.contains_key(&(c.stage, c.kind)) {
                return Err(FrontierError::MissingProfile {
                    stage: c.stage,
                    kind: c.kind,
                });
            }
        }
        Ok(())
    }
}

impl Dag {
    /// Checks the shape: at least one stage and node, stages in range, edges between existing
    /// distinct nodes, no cycle.
    pub fn validate(&self) -> Result<(), FrontierError> {
        if self.num_stages == 0 {
            return Err(FrontierError::NoStages);
        }
        if self.num_stages > super::MAX_STAGES {
            return Err(FrontierError::TooManyStages {
                num_stages: self.num_stages.into(),
            });
        }
        if self.nodes.is_empty() {
            return Err(FrontierError::EmptyDag);
        }
        if self.nodes.len() > super::MAX_COMPUTATIONS {
            return Err(FrontierError::TooLarge {
                nodes: self.nodes.len(),
            });
        }
        if self.edges.len() > super::MAX_EDGES {
            return Err(FrontierError::TooManyEdges {
                edges: self.edges.len(),
            });
        }
        for (id, c) in self.nodes.iter().enumerate() {
            if c.stage >= self.num_stages {
                return Err(FrontierError::StageOutOfRange {
                    node: id,
                    stage: c.stage,
                    num_stages: self.num_stages,
                });
            }
        }
        let n = self.nodes.len();
        for (index, &(u, v)) in self.edges.iter().enumerate() {
            if u as usize >= n || v as usize >= n || u == v {
                return Err(FrontierError::InvalidEdge {
                    index,
                    from: u,
                    to: v,
                    num_nodes: n,
                });
            }
        }
        // Kahn's algorithm: whatever is never freed lies on or behind a cycle.
        // Successors as compressed sparse rows: three flat buffers, allocated fallibly, instead
        // of one vector per node.
        let mut indegree: Vec<u32> = super::try_vec(n, "DAG in-degrees")?;
        indegree.resize(n, 0);
        let mut start: Vec<u32> = super::try_vec(n + 1, "DAG adjacency offsets")?;
        start.resize(n + 1, 0);
        for &(u, v) in &self.edges {
            indegree[v as usize] += 1;
            start[u as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut succ: Vec<u32> = super::try_vec(self.edges.len(), "DAG edges")?;
        succ.resize(self.edges.len(), 0);
        {
            let mut fill: Vec<u32> = super::try_vec(n, "DAG adjacency offsets")?;
            fill.extend_from_slice(&start[..n]);
            for &(u, v) in &self.edges {
                succ[fill[u as usize] as usize] = v;
                fill[u as usize] += 1;
            }
        }
        let mut ready: Vec<u32> = super::try_vec(n, "DAG nodes")?;
        ready.extend((0..n as u32).filter(|&v| indegree[v as usize] == 0));
        let mut freed = 0;
        while let Some(u) = ready.pop() {
            freed += 1;
            let u = u as usize;
            for &v in &succ[start[u] as usize..start[u + 1] as usize] {
                indegree[v as usize] -= 1;
                if indegree[v as usize] == 0 {
                    ready.push(v);
                }
            }
        }
        if freed < n {
            // Walk back along unfreed predecessors: after n steps the walk is on a cycle.
            let mut pred = alloc::vec![u32::MAX; n];
            for &(u, v) in &self.edges {
                if indegree[u as usize] > 0 && indegree[v as usize] > 0 {
                    pred[v as usize] = u;
                }
            }
            let mut node = indegree.iter().position(|&d| d > 0).unwrap_or(0);
            for _ in 0..n {
                match pred.get(node) {
                    Some(&p) if p != u32::MAX => node = p as usize,
                    _ => break,
                }
            }
            return Err(FrontierError::Cycle { node });
        }
        Ok(())
    }

    /// Microbatches per iteration: one more than the largest microbatch index of a
    /// computation (`None` for a DAG without computations). For a DAG built from a
    /// [`Pipeline`](super::Pipeline) it is the pipeline's `num_microbatches`; `ergon-frontier/v1`
    /// reports it.
    pub fn num_microbatches(&self) -> Option<u32> {
        self.nodes
            .iter()
            .map(|c| c.microbatch.saturating_add(1))
            .max()
    }

    /// Node ids of each stage in program order (the order of `nodes`).
    pub fn stage_programs(&self) -> Vec<Vec<u32>> {
        let mut out = alloc::vec![Vec::new(); self.num_stages as usize];
        for (id, c) in self.nodes.iter().enumerate() {
            if let Some(list) = out.get_mut(c.stage as usize) {
                list.push(id as u32);
            }
        }
        out
    }
}
