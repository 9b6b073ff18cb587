//! Computation DAGs of pipeline-parallel schedules.
//!
//! Every schedule yields, per stage, the program order of its computations; the DAG's edges are
//! that program order plus the data dependencies between stages: activations flow forward
//! (`F(s, m) → F(s+1, m)`) and gradients backward (`B(s+1, m) → B(s, m)`).

use alloc::vec::Vec;

use super::FrontierError;
use super::problem::{Computation, Dag, Kind};

/// A pipeline-parallel training schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Synchronous 1F1B in DeepSpeed/Megatron program order: stage `s` runs `min(S−s, M)`
    /// forwards, then alternates backward and forward, then drains the backwards.
    OneFOneB,
    /// GPipe: all forwards in microbatch order, then all backwards in reverse order.
    GPipe,
    /// Megatron's interleaved 1F1B: each GPU holds `virtual_stages` model chunks; model chunk
    /// `c` of GPU `d` is virtual stage `c·S + d`. Needs `M` to be a multiple of `S`.
    Interleaved1F1B {
        /// Model chunks per GPU (≥ 2).
        virtual_stages: u32,
    },
}

impl Schedule {
    /// The name of each kind of schedule, as `pipeline.schedule`, the command line and every
    /// binding spell it (the interleaved one takes its `virtual_stages` besides).
    pub const NAMES: [&'static str; 3] = ["1f1b", "gpipe", "interleaved_1f1b"];

    /// The schedule's name (one of [`NAMES`](Self::NAMES)); `Display` writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Schedule::OneFOneB => Self::NAMES[0],
            Schedule::GPipe => Self::NAMES[1],
            Schedule::Interleaved1F1B { .. } => Self::NAMES[2],
        }
    }
}

impl core::fmt::Display for Schedule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Shape of a pipeline: its schedule, number of stages (GPUs) and microbatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// Program order and dependencies.
    pub schedule: Schedule,
    /// Pipeline stages (GPUs), S.
    pub num_stages: u32,
    /// Microbatches per iteration, M.
    pub num_microbatches: u32,
}

/// `(kind, microbatch, chunk)` in one stage's program order.
type Step = (Kind, u32, u32);

impl Pipeline {
    /// Synchronous 1F1B with `num_stages` stages and `num_microbatches` microbatches.
    pub fn one_f_one_b(num_stages: u32, num_microbatches: u32) -> Self {
        Pipeline {
            schedule: Schedule::OneFOneB,
            num_stages,
            num_microbatches,
        }
    }

    fn check(&self) -> Result<(), FrontierError> {
        if self.num_stages == 0 {
            return Err(FrontierError::NoStages);
        }
        if self.num_microbatches == 0 {
            return Err(FrontierError::NoMicrobatches);
        }
        if self.num_stages > super::MAX_STAGES {
            return Err(FrontierError::TooManyStages {
                num_stages: self.num_stages.into(),
            });
        }
        let chunks = match self.schedule {
            Schedule::Interleaved1F1B { virtual_stages } => {
                if virtual_stages < 2 {
                    return Err(FrontierError::InvalidSchedule(
                        "interleaved 1F1B needs at least 2 virtual stages per GPU",
                    ));
                }
                if !self.num_microbatches.is_multiple_of(self.num_stages) {
                    return Err(FrontierError::InvalidSchedule(
                        "interleaved 1F1B needs the number of microbatches to be a multiple of the number of stages",
                    ));
                }
                virtual_stages as u64
            }
            _ => 1,
        };
        let total = 2 * self.num_stages as u64 * self.num_microbatches as u64 * chunks;
        if total > super::MAX_COMPUTATIONS as u64 {
            return Err(FrontierError::TooLarge {
                nodes: total as usize,
            });
        }
        Ok(())
    }

    /// Program order of stage `stage`.
    pub fn program(&self, stage: u32) -> Vec<(Kind, u32, u32)> {
        let (s, m) = (self.num_stages, self.num_microbatches);
        match self.schedule {
            Schedule::OneFOneB => {
                let warmup = (s - stage).min(m);
                let mut seq: Vec<Step> = (0..warmup).map(|mb| (Kind::Forward, mb, 0)).collect();
                let (mut next_f, mut next_b) = (warmup, 0);
                while next_b < m {
                    seq.push((Kind::Backward, next_b, 0));
                    next_b += 1;
                    if next_f < m {
                        seq.push((Kind::Forward, next_f, 0));
                        next_f += 1;
                    }
                }
                seq
            }
            Schedule::GPipe => (0..m)
                .map(|mb| (Kind::Forward, mb, 0))
                .chain((0..m).rev().map(|mb| (Kind::Backward, mb, 0)))
                .collect(),
            Schedule::Interleaved1F1B { virtual_stages: v } => {
                // Megatron's numbering: the k-th forward (backward) of a GPU belongs to chunk
                // (k mod S·v) / S (mirrored for backward) and microbatch (k / S·v)·S + k mod S.
                let total = m * v;
                let step = |k: u32, kind: Kind| {
                    let in_group = k % (s * v);
                    let mut chunk = in_group / s;
                    if kind == Kind::Backward {
                        chunk = v - 1 - chunk;
                    }
                    (kind, (k / (s * v)) * s + k % s, chunk)
                };
                let warmup = ((s - stage - 1) * 2 + (v - 1) * s).min(total);
                let mut seq: Vec<Step> = (0..warmup).map(|k| step(k, Kind::Forward)).collect();
                for k in 0..total - warmup {
                    seq.push(step(k + warmup, Kind::Forward));
                    seq.push(step(k, Kind::Backward));
                }
                for k in total - warmup..total {
                    seq.push(step(k, Kind::Backward));
                }
                seq
            }
        }
    }

    /// Builds the computation DAG: nodes stage-major in program order, edges as described in
    /// the module documentation.
    pub fn dag(&self) -> Result<Dag, FrontierError> {
        self.check()?;
        let (s, m) = (self.num_stages, self.num_microbatches);
        let chunks = match self.schedule {
            Schedule::Interleaved1F1B { virtual_stages } => virtual_stages,
            _ => 1,
        };
        // id_of[((vs * M) + mb) * 2 + kind] with vs = chunk·S + stage.
        let slot = |stage: u32, kind: Kind, mb: u32, chunk: u32| {
            let vs = (chunk * s + stage) as usize;
            (vs * m as usize + mb as usize) * 2 + usize::from(kind == Kind::Backward)
        };
        // `check` bounded the total by MAX_COMPUTATIONS; the buffers are still allocated
        // fallibly, so a short memory is an error, not an abort.
        let total = 2 * (s as usize) * (m as usize) * (chunks as usize);
        let mut id_of: Vec<u32> = super::try_vec(total, "computation ids")?;
        id_of.resize(total, u32::MAX);
        let mut nodes: Vec<Computation> = super::try_vec(total, "computations")?;
        // Program order gives fewer than one edge per computation, dependencies two per
        // microbatch and virtual stage boundary.
        let mut edges: Vec<(u32, u32)> = super::try_vec(2 * total, "edges")?;
        for stage in 0..s {
            let program = self.program(stage);
            for (k, &(kind, microbatch, chunk)) in program.iter().enumerate() {
                let id = nodes.len() as u32;
                id_of[slot(stage, kind, microbatch, chunk)] = id;
                nodes.push(Computation {
                    stage,
                    kind,
                    microbatch,
                    chunk,
                });
                if k > 0 {
                    edges.push((id - 1, id));
                }
            }
        }
        let last_vs = chunks * s - 1;
        for mb in 0..m {
            for vs in 0..last_vs {
                let (here, next) = ((vs % s, vs / s), ((vs + 1) % s, (vs + 1) / s));
                let f0 = id_of[slot(here.0, Kind::Forward, mb, here.1)];
                let f1 = id_of[slot(next.0, Kind::Forward, mb, next.1)];
                let b0 = id_of[slot(here.0, Kind::Backward, mb, here.1)];
                let b1 = id_of[slot(next.0, Kind::Backward, mb, next.1)];
                edges.push((f0, f1));
                edges.push((b1, b0));
            }
            if chunks > 1 {
                // Program order implies it in 1F1B and GPipe; interleaved orders are checked.
                let (st, ch) = (last_vs % s, last_vs / s);
                edges.push((
                    id_of[slot(st, Kind::Forward, mb, ch)],
                    id_of[slot(st, Kind::Backward, mb, ch)],
                ));
            }
        }
        Ok(Dag {
            num_stages: s,
            nodes,
            edges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn program_string(p: &Pipeline, stage: u32) -> String {
        let mut out = String::new();
        for (kind, mb, chunk) in p.program(stage) {
            let k = if kind == Kind::Forward { 'F' } else { 'B' };
            if chunk > 0 {
                out.push_str(&alloc::format!("{k}{mb}.{chunk} "));
            } else {
                out.push_str(&alloc::format!("{k}{mb} "));
            }
        }
        out
    }

    #[test]
    fn one_f_one_b_matches_deepspeed_order() {
        let p = Pipeline::one_f_one_b(4, 8);
        assert_eq!(
            program_string(&p, 0),
            "F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7 "
        );
        assert_eq!(
            program_string(&p, 3),
            "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7 "
        );
    }

    #[test]
    fn one_f_one_b_sizes() {
        // perseus.md §1.1: edge count S(2M−1) + 2M(S−1).
        for (s, m, nodes, edges) in [(4, 8, 64, 108), (8, 32, 512, 952), (8, 128, 2048, 3832)] {
            let dag = Pipeline::one_f_one_b(s, m).dag().unwrap();
            assert_eq!((dag.nodes.len(), dag.edges.len()), (nodes, edges));
        }
    }

    #[test]
    fn gpipe_order() {
        let p = Pipeline {
            schedule: Schedule::GPipe,
            num_stages: 2,
            num_microbatches: 3,
        };
        assert_eq!(program_string(&p, 1), "F0 F1 F2 B2 B1 B0 ");
    }

    #[test]
    fn interleaved_order_matches_megatron() {
        // S = 2, v = 2, M = 4: GPU 0 warms up with (2−0−1)·2 + (2−1)·2 = 4 forwards.
        let p = Pipeline {
            schedule: Schedule::Interleaved1F1B { virtual_stages: 2 },
            num_stages: 2,
            num_microbatches: 4,
        };
        assert_eq!(
            program_string(&p, 0),
            "F0 F1 F0.1 F1.1 F2 B0.1 F3 B1.1 F2.1 B0 F3.1 B1 B2.1 B3.1 B2 B3 "
        );
        let dag = p.dag().unwrap();
        assert_eq!(dag.nodes.len(), 2 * 2 * 4 * 2);
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(
            Pipeline::one_f_one_b(0, 4).dag(),
            Err(FrontierError::NoStages)
        );
        assert_eq!(
            Pipeline::one_f_one_b(2, 0).dag(),
            Err(FrontierError::NoMicrobatches)
        );
        let p = Pipeline {
            schedule: Schedule::Interleaved1F1B { virtual_stages: 2 },
            num_stages: 4,
            num_microbatches: 6,
        };
        assert!(matches!(p.dag(), Err(FrontierError::InvalidSchedule(_))));
    }
}
