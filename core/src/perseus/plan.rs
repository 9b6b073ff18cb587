//! Choosing a point of the frontier and turning it into per-stage frequency plans.

use alloc::vec::Vec;

use super::{Frontier, FrontierError, Kind, Point, Termination};

/// What one pipeline stage runs in one iteration: `(instruction, MHz)` in program order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStage {
    /// Stage (GPU) index.
    pub stage: u32,
    /// Each computation's kind and the SM clock to set before it.
    pub instructions: Vec<(Kind, u32)>,
}

/// A frequency plan for every stage of the pipeline (`ergon-plan/v1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Iteration time of the plan, seconds.
    pub time_s: f64,
    /// Energy of one iteration, joules; for a deadline plan it includes the blocking energy
    /// of waiting from the plan's time until the deadline.
    pub energy_j: f64,
    /// One entry per stage, ascending.
    pub stages: Vec<PlanStage>,
}

/// A state of the frontier: `None` is the start (T_max), `Some(i)` is `points[i]`.
pub type State = Option<usize>;

/// Which point of a frontier to plan for (the three plans of the Perseus paper, §3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlanAt {
    /// The fastest point, T_min when the frontier is complete: removes the intrinsic energy
    /// bloat without slowing the iteration down.
    Fastest,
    /// The point of least total energy, T\* (the faster one on ties).
    TStar,
    /// The point of least energy when the iteration lasts this many seconds anyway (a
    /// straggler pipeline sets the pace), counting the blocking energy of every stage while
    /// it waits from the point's time until the deadline: removes the extrinsic bloat.
    Deadline(f64),
}

impl Frontier {
    /// The start state followed by every point, slowest first.
    fn states(&self) -> impl Iterator<Item = (State, &Point)> {
        core::iter::once((None, &self.start))
            .chain(self.points.iter().enumerate().map(|(i, p)| (Some(i), p)))
    }

    /// The fastest state (T_min when the frontier is complete).
    pub fn fastest(&self) -> State {
        self.points.len().checked_sub(1)
    }

    /// The state of minimum total energy, T\* (the faster one on ties).
    pub fn min_energy(&self) -> State {
        self.best_by(|p| p.energy_j)
    }

    /// The state that takes least energy when the iteration must last `deadline_s` anyway
    /// (a straggler pipeline sets the pace): its energy plus the blocking power of every
    /// stage while waiting from its time to the deadline. Returns the state and that energy.
    pub fn for_deadline(&self, deadline_s: f64) -> Result<(State, f64), FrontierError> {
        let fastest = self
            .fastest()
            .and_then(|i| self.points.get(i))
            .unwrap_or(&self.start);
        // Times are multiples of τ; allow for the rounding of a deadline given in seconds.
        let slack = self.unit_time_s * 1e-9;
        if !(deadline_s.is_finite() && deadline_s >= 0.0) {
            return Err(FrontierError::InvalidDeadline(deadline_s));
        }
        if deadline_s + slack < fastest.time_s {
            return Err(FrontierError::DeadlineTooShort {
                deadline_s,
                t_min_s: fastest.time_s,
            });
        }
        let wait = |p: &Point| {
            f64::from(self.num_stages) * self.p_blocking_w * (deadline_s - p.time_s).max(0.0)
        };
        let state = self.best_by(|p| {
            if p.time_s <= deadline_s + slack {
                p.energy_j + wait(p)
            } else {
                f64::INFINITY
            }
        });
        let point = self.point(state)?;
        Ok((state, point.energy_j + wait(point)))
    }

    /// The state `at` selects and its energy per iteration, joules: the point's energy for
    /// [`PlanAt::Fastest`] and [`PlanAt::TStar`], and with the wait until the deadline for
    /// [`PlanAt::Deadline`] (see [`for_deadline`](Self::for_deadline), whose errors it
    /// returns).
    pub fn state_at(&self, at: PlanAt) -> Result<(State, f64), FrontierError> {
        let state = match at {
            PlanAt::Fastest => self.fastest(),
            PlanAt::TStar => self.min_energy(),
            PlanAt::Deadline(deadline_s) => return self.for_deadline(deadline_s),
        };
        Ok((state, self.point(state)?.energy_j))
    }

    /// The frequency plan `at` selects (see [`plan`](Self::plan)); its `energy_j` is the one
    /// [`state_at`](Self::state_at) gives, so a deadline plan includes the wait.
    pub fn plan_at(&self, at: PlanAt) -> Result<Plan, FrontierError> {
        let (state, energy_j) = self.state_at(at)?;
        let mut plan = self.plan(state)?;
        plan.energy_j = energy_j;
        Ok(plan)
    }

    /// Energy of one iteration with every computation at its fastest clock, joules: the
    /// all-maximum-frequency baseline that Perseus' savings are measured against. It is the
    /// cost model at each computation's shortest duration plus the blocking power of every
    /// stage over T_min, so it can exceed the fastest frontier point's energy (the intrinsic
    /// bloat: computations off the critical path need not run at their fastest).
    pub fn baseline_energy_j(&self) -> f64 {
        let cost_j: f64 = (0..self.dag.nodes.len())
            .filter_map(|node| self.spec_of(node).map(|s| s.cost(s.min_quanta)))
            .sum();
        cost_j
            + f64::from(self.num_stages)
                * self.t_min_quanta as f64
                * self.unit_time_s
                * self.p_blocking_w
    }

    /// Fastest iteration time T_min, seconds (`t_min_quanta · τ`; the last point's time when
    /// the frontier [is complete](Self::is_complete)).
    pub fn t_min_s(&self) -> f64 {
        self.t_min_quanta as f64 * self.unit_time_s
    }

    /// Slowest iteration time T_max (every computation at its slowest), seconds.
    pub fn t_max_s(&self) -> f64 {
        self.t_max_quanta as f64 * self.unit_time_s
    }

    /// Whether the frontier reaches T_min ([`Termination::ReachedMinimum`]).
    pub fn is_complete(&self) -> bool {
        self.termination == Termination::ReachedMinimum
    }

    fn best_by(&self, key: impl Fn(&Point) -> f64) -> State {
        let mut best = (None, f64::INFINITY);
        for (state, p) in self.states() {
            // `<=`: later states are faster, so ties go to the faster one.
            let k = key(p);
            if k <= best.1 {
                best = (state, k);
            }
        }
        best.0
    }

    /// The point of a state.
    pub fn point(&self, state: State) -> Result<&Point, FrontierError> {
        match state {
            None => Ok(&self.start),
            Some(index) => self.points.get(index).ok_or(FrontierError::NoSuchPoint {
                index,
                len: self.points.len(),
            }),
        }
    }

    /// The frequency plan of a state: every computation runs at the slowest surviving clock
    /// that meets its duration.
    pub fn plan(&self, state: State) -> Result<Plan, FrontierError> {
        let point = self.point(state)?;
        let durations = self.durations(state)?;
        let stages = self
            .dag()
            .stage_programs()
            .into_iter()
            .enumerate()
            .map(|(stage, nodes)| PlanStage {
                stage: stage as u32,
                instructions: nodes
                    .iter()
                    .map(|&id| {
                        let kind = self.dag().nodes[id as usize].kind;
                        let freq = self
                            .spec_of(id as usize)
                            .map_or(0, |s| s.freq_for(durations[id as usize]));
                        (kind, freq)
                    })
                    .collect(),
            })
            .collect();
        Ok(Plan {
            time_s: point.time_s,
            energy_j: point.energy_j,
            stages,
        })
    }
}
