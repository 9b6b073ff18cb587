//! Failure simulator: a failure/recovery trace replayed over a training run for Oobleck and two
//! baselines, reporting the effective training-time share and throughput over time.
//!
//! The model (every constant is a field of [`SimCosts`]; defaults in [`SimCosts::default`]):
//!
//! - **Throughput** of a configuration is its plan's `B / iteration time` (microbatches per
//!   second) from ergon's own templates, instantiation and batch split.
//! - **Oobleck**: runs the f+1 plan. A failure costs the iteration in flight, a fixed
//!   `oobleck_reconfigure_s` (rebuilding process groups) and copying the layers the
//!   reconfiguration moves (their `mem_required` bytes at `copy_bandwidth_bytes_per_s`), then
//!   training goes on with the reconfigured plan ([`reconfigure`]). A returning node is added
//!   by re-instantiating on the live nodes at the same cost. If a failure leaves no replica
//!   (more than f at once), Oobleck falls back to a checkpoint restart like the baseline below.
//! - **Checkpoint-restart** (Varuna-like): runs the best plan without redundancy (f = 0) on the
//!   live nodes and checkpoints every `checkpoint_interval_s` of training (each costing
//!   `checkpoint_s`). A failure loses the work since the last checkpoint and costs
//!   `restart_s`; a returning node is taken in at the next restart (a join triggers one after a
//!   checkpoint, so it loses no work).
//! - **Redundant computation** (Bamboo-like): runs the f = 0 plan, and every node also runs the
//!   forward pass of its successor stage, so only `1 / (1 + r)` of the time is useful, with
//!   `r = Σ forward / Σ (forward + backward)` of the profile. A failure costs `failover_s`;
//!   the failed node's predecessor then runs both stages, which halves that pipeline's rate
//!   and, since pipelines synchronise every iteration, the job's, until the node returns; a second failure in an already degraded pipeline forces a checkpoint
//!   restart on the live nodes.
//!
//! The **effective training-time share** is the useful training time over the wall-clock
//! duration: time spent running, minus work that is redone, scaled by the useful fraction
//! (redundant computation: `1 / (1 + r)`, halved while a pipeline is degraded). Running on
//! fewer nodes counts as effective time; the throughput series shows the rate.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{
    OobleckError, Plan, PlanOptions, Profile, TemplateOptions, Templates, generate_templates,
    instantiate, reconfigure,
};

/// Most events of a trace.
pub const MAX_EVENTS: usize = 100_000;
/// Most throughput samples of one system's series.
pub const MAX_SAMPLES: usize = 100_000;

/// One trace event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// When, seconds from the start.
    pub time_s: f64,
    /// Which node.
    pub node: u32,
    /// True: the node fails; false: it (re)joins.
    pub fails: bool,
}

/// A failure/recovery trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Length of the run, seconds.
    pub duration_s: f64,
    /// Events in time order.
    pub events: Vec<Event>,
}

/// The cost assumptions of the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimCosts {
    /// Oobleck's fixed cost of one reconfiguration (process groups, data loader), seconds.
    pub oobleck_reconfigure_s: f64,
    /// Bandwidth of layer copies between nodes, bytes per second.
    pub copy_bandwidth_bytes_per_s: f64,
    /// Training time between two checkpoints (checkpoint-restart, and any restart), seconds.
    pub checkpoint_interval_s: f64,
    /// Cost of one checkpoint, seconds.
    pub checkpoint_s: f64,
    /// Cost of a restart (rescheduling, process start, loading the checkpoint), seconds.
    pub restart_s: f64,
    /// Cost of a redundant-computation failover, seconds.
    pub failover_s: f64,
    /// Sampling period of the throughput series, seconds.
    pub sample_s: f64,
}

impl Default for SimCosts {
    /// 10 s to reconfigure, 10 GB/s copies, a 5-minute checkpoint interval with 10 s
    /// checkpoints, 3-minute restarts, 10 s failovers, samples every 10 s.
    fn default() -> Self {
        SimCosts {
            oobleck_reconfigure_s: 10.0,
            copy_bandwidth_bytes_per_s: 10.0e9,
            checkpoint_interval_s: 300.0,
            checkpoint_s: 10.0,
            restart_s: 180.0,
            failover_s: 10.0,
            sample_s: 10.0,
        }
    }
}

/// What one system achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemResult {
    /// `oobleck`, `checkpoint-restart` or `redundant-computation`.
    pub system: &'static str,
    /// Useful training time over wall-clock time.
    pub effective_share: f64,
    /// Useful microbatches trained.
    pub microbatches: f64,
    /// Failures absorbed without a restart.
    pub reconfigurations: u32,
    /// Restarts from a checkpoint.
    pub restarts: u32,
    /// `(time_s, useful microbatches per second)` samples.
    pub series: Vec<(f64, f64)>,
}

/// Why a simulation was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The trace is invalid.
    #[error("trace: {0}")]
    Trace(String),
    /// A cost is not a finite non-negative number (bandwidth and sample period: positive).
    #[error("cost `{0}` must be finite and non-negative (bandwidth and sample period positive)")]
    Cost(&'static str),
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] OobleckError),
}

impl Trace {
    /// Checks times (finite, within the duration, non-decreasing) and node ids (`< nodes`).
    pub fn validate(&self, nodes: u32) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Trace(m));
        if !(self.duration_s.is_finite() && self.duration_s > 0.0 && self.duration_s <= 1.0e9) {
            return bad(alloc::format!(
                "duration_s {} is not in (0, 1e9]",
                self.duration_s
            ));
        }
        if self.events.len() > MAX_EVENTS {
            return bad(alloc::format!(
                "{} events, more than {MAX_EVENTS}",
                self.events.len()
            ));
        }
        let mut last = 0.0;
        for (i, e) in self.events.iter().enumerate() {
            if !(e.time_s.is_finite() && e.time_s >= last && e.time_s <= self.duration_s) {
                return bad(alloc::format!(
                    "event {i}: time_s {} is not in [{last}, duration_s] (events in time order)",
                    e.time_s
                ));
            }
            if e.node >= nodes {
                return bad(alloc::format!(
                    "event {i}: node {} is not in 0..{nodes}",
                    e.node
                ));
            }
            last = e.time_s;
        }
        Ok(())
    }
}

/// The events that change a node's state (a failure of a live node, a return of a failed one);
/// the others change nothing and are dropped. Each system applies them to its own live set.
fn changes(trace: &Trace, nodes: u32) -> Vec<Event> {
    let mut alive = vec![true; nodes as usize];
    let mut out = Vec::new();
    for e in &trace.events {
        if alive[e.node as usize] == e.fails {
            alive[e.node as usize] = !e.fails;
            out.push(*e);
        }
    }
    out
}

/// Throughput of a plan, microbatches per second.
fn rate(plan: &Plan) -> f64 {
    if plan.iteration_time_ms > 0.0 {
        plan.microbatches as f64 / (plan.iteration_time_ms / 1000.0)
    } else {
        0.0
    }
}

/// `templates` restricted to clusters of `n` nodes.
fn for_nodes(t: &Templates, n: u32) -> Templates {
    let mut t = t.clone();
    t.max_nodes = n;
    t.templates.retain(|x| x.num_nodes <= n);
    t
}

/// The best plan on `n` live nodes with at most `f` tolerated failures (lowered until one
/// exists); `None` when not even one pipeline fits.
fn best_plan(t: &Templates, n: u32, f: u32, microbatches: u64) -> Option<Plan> {
    if n < t.n0 {
        return None;
    }
    let ts = for_nodes(t, n);
    let most = (n / t.n0).saturating_sub(1).min(f);
    (0..=most).rev().find_map(|f| {
        instantiate(
            &ts,
            &PlanOptions {
                fault_tolerance: f,
                microbatches,
            },
        )
        .ok()
    })
}

/// Accounting of one system: wall time advances through running and down periods.
struct Ledger {
    now: f64,
    down_until: f64,
    rate: f64,
    useful_fraction: f64,
    useful_s: f64,
    microbatches: f64,
    since_checkpoint_s: f64,
    checkpoints: bool,
    samples: Vec<(f64, f64)>,
    next_sample: f64,
    costs: SimCosts,
}

impl Ledger {
    fn new(costs: SimCosts, rate: f64, useful_fraction: f64, checkpoints: bool) -> Self {
        Ledger {
            now: 0.0,
            down_until: 0.0,
            rate,
            useful_fraction,
            useful_s: 0.0,
            microbatches: 0.0,
            since_checkpoint_s: 0.0,
            checkpoints,
            samples: Vec::new(),
            next_sample: 0.0,
            costs,
        }
    }

    /// Runs until `t`: down time first, then training (with checkpoints when enabled).
    fn advance(&mut self, t: f64) {
        while self.now < t {
            let up = self.now >= self.down_until;
            let mut end = if up { t } else { self.down_until.min(t) };
            if up && self.checkpoints && self.costs.checkpoint_interval_s > 0.0 {
                let to_ckpt = self.costs.checkpoint_interval_s - self.since_checkpoint_s;
                if self.now + to_ckpt <= end {
                    end = self.now + to_ckpt;
                }
            }
            self.sample_until(end, up);
            if up {
                let dt = end - self.now;
                self.useful_s += dt * self.useful_fraction;
                self.microbatches += dt * self.rate * self.useful_fraction;
                self.since_checkpoint_s += dt;
                if self.checkpoints && self.since_checkpoint_s >= self.costs.checkpoint_interval_s {
                    self.since_checkpoint_s = 0.0;
                    self.down_until = end + self.costs.checkpoint_s;
                }
            }
            self.now = end;
            if end == t {
                break;
            }
        }
    }

    fn sample_until(&mut self, end: f64, up: bool) {
        while self.next_sample < end && self.samples.len() < MAX_SAMPLES {
            let r = if up {
                self.rate * self.useful_fraction
            } else {
                0.0
            };
            self.samples.push((self.next_sample, r));
            self.next_sample += self.costs.sample_s;
        }
    }

    /// Loses `redo_s` seconds of training and is down for `cost_s` from now.
    fn stop(&mut self, redo_s: f64, cost_s: f64) {
        let redo = redo_s.min(self.useful_s / self.useful_fraction.max(1e-12));
        self.useful_s -= redo * self.useful_fraction;
        self.microbatches -= redo * self.rate * self.useful_fraction;
        self.down_until = self.down_until.max(self.now) + cost_s;
    }

    fn finish(
        mut self,
        system: &'static str,
        duration: f64,
        reconf: u32,
        restarts: u32,
    ) -> SystemResult {
        self.advance(duration);
        SystemResult {
            system,
            effective_share: self.useful_s / duration,
            microbatches: self.microbatches.max(0.0),
            reconfigurations: reconf,
            restarts,
            series: self.samples,
        }
    }
}

/// Replays `trace` for Oobleck, checkpoint-restart and redundant computation on the cluster of
/// `template_options.max_nodes` nodes with f and B from `plan_options`.
pub fn simulate(
    profile: &Profile,
    template_options: &TemplateOptions,
    plan_options: &PlanOptions,
    trace: &Trace,
    costs: &SimCosts,
) -> Result<Vec<SystemResult>, SimError> {
    let c = *costs;
    for (name, v, positive) in [
        ("oobleck_reconfigure_s", c.oobleck_reconfigure_s, false),
        (
            "copy_bandwidth_bytes_per_s",
            c.copy_bandwidth_bytes_per_s,
            true,
        ),
        ("checkpoint_interval_s", c.checkpoint_interval_s, true),
        ("checkpoint_s", c.checkpoint_s, false),
        ("restart_s", c.restart_s, false),
        ("failover_s", c.failover_s, false),
        ("sample_s", c.sample_s, true),
    ] {
        if !v.is_finite() || v < 0.0 || (positive && v <= 0.0) {
            return Err(SimError::Cost(name));
        }
    }
    let n = template_options.max_nodes;
    trace.validate(n)?;
    let ts = generate_templates(profile, template_options)?;
    let b = plan_options.microbatches;
    let f = plan_options.fault_tolerance;
    let first = instantiate(&ts, plan_options)?;
    let baseline = best_plan(&ts, n, 0, b).ok_or(OobleckError::NoFeasiblePlan {
        pipelines: 1,
        microbatches: b,
    })?;
    let d = trace.duration_s;
    let layer_bytes: Vec<u64> = profile
        .layers()
        .iter()
        .map(|l| l.memory.v011_bytes())
        .collect();
    Ok(vec![
        oobleck(&ts, first, trace, c, &layer_bytes, f, b, d),
        checkpoint_restart(&ts, &baseline, trace, c, b, d),
        redundant(&ts, profile, &baseline, trace, c, b, d),
    ])
}

#[allow(clippy::too_many_arguments)] // one system's replay, all of it the run's context
fn oobleck(
    ts: &Templates,
    first: Plan,
    trace: &Trace,
    c: SimCosts,
    layer_bytes: &[u64],
    f: u32,
    b: u64,
    d: f64,
) -> SystemResult {
    let n = ts.max_nodes;
    // Plans number nodes 0..k; `phys[i]` is the cluster node of plan node i.
    let mut phys: Vec<u32> = (0..n).collect();
    let mut plan = Some(first);
    let mut l = Ledger::new(c, plan.as_ref().map_or(0.0, rate), 1.0, false);
    let (mut reconf, mut restarts) = (0, 0);
    let mut iter_start: f64 = 0.0;
    let mut alive = vec![true; n as usize];
    for e in changes(trace, n) {
        l.advance(e.time_s);
        alive[e.node as usize] = !e.fails;
        let live: Vec<u32> = (0..n).filter(|&u| alive[u as usize]).collect();
        let iter_s = plan.as_ref().map_or(0.0, |p| p.iteration_time_ms / 1000.0);
        // The iteration in flight is lost.
        let in_flight = if iter_s > 0.0 && l.now >= l.down_until {
            libm::fmod(l.now - iter_start.max(l.down_until), iter_s)
        } else {
            0.0
        };
        let outcome = match (&plan, e.fails) {
            (Some(p), true) => phys
                .iter()
                .position(|&u| u == e.node)
                .map(|i| reconfigure(ts, p, &[i as u32])),
            _ => None,
        };
        match outcome {
            Some(Ok(r)) => {
                let bytes: u64 = r
                    .transfers
                    .iter()
                    .map(|t| layer_bytes[t.first_layer..t.end_layer].iter().sum::<u64>())
                    .sum();
                l.stop(
                    in_flight,
                    c.oobleck_reconfigure_s + bytes as f64 / c.copy_bandwidth_bytes_per_s,
                );
                l.rate = rate(&r.plan);
                plan = Some(r.plan);
                reconf += 1;
            }
            Some(Err(_)) => {
                // No replica survived: restart from the last checkpoint on the live nodes.
                l.stop(c.checkpoint_interval_s / 2.0, c.restart_s);
                plan = best_plan(ts, live.len() as u32, f, b);
                phys = live;
                l.rate = plan.as_ref().map_or(0.0, rate);
                restarts += 1;
            }
            None => {
                // A join (or a failure while no plan runs): re-instantiate on the live nodes.
                l.stop(in_flight, c.oobleck_reconfigure_s);
                plan = best_plan(ts, live.len() as u32, f, b);
                phys = live;
                l.rate = plan.as_ref().map_or(0.0, rate);
                reconf += 1;
            }
        }
        iter_start = l.down_until;
    }
    l.finish("oobleck", d, reconf, restarts)
}

fn checkpoint_restart(
    ts: &Templates,
    baseline: &Plan,
    trace: &Trace,
    c: SimCosts,
    b: u64,
    d: f64,
) -> SystemResult {
    let n = ts.max_nodes;
    let mut l = Ledger::new(c, rate(baseline), 1.0, true);
    let mut restarts = 0;
    let mut alive = vec![true; n as usize];
    for e in changes(trace, n) {
        l.advance(e.time_s);
        alive[e.node as usize] = !e.fails;
        let live = alive.iter().filter(|&&a| a).count() as u32;
        if e.fails {
            let lost = l.since_checkpoint_s;
            l.since_checkpoint_s = 0.0;
            l.stop(lost, c.restart_s);
        } else {
            // Checkpoint, then restart with the node.
            l.since_checkpoint_s = 0.0;
            l.stop(0.0, c.checkpoint_s + c.restart_s);
        }
        l.rate = best_plan(ts, live, 0, b).as_ref().map_or(0.0, rate);
        restarts += 1;
    }
    l.finish("checkpoint-restart", d, 0, restarts)
}

fn redundant(
    ts: &Templates,
    profile: &Profile,
    baseline: &Plan,
    trace: &Trace,
    c: SimCosts,
    b: u64,
    d: f64,
) -> SystemResult {
    let (fw, total) = profile.layers().iter().fold((0.0, 0.0), |(f, t), l| {
        (f + l.forward_ms, t + l.forward_ms + l.backward_ms)
    });
    let r = if total > 0.0 { fw / total } else { 0.0 };
    let n = ts.max_nodes;
    let mut plan = baseline.clone();
    let mut phys: Vec<u32> = (0..n).collect();
    // Per pipeline: nodes down since the last restart.
    let mut degraded = vec![0u32; plan.pipelines.len()];
    let mut l = Ledger::new(c, rate(&plan), 1.0 / (1.0 + r), true);
    let (mut reconf, mut restarts) = (0, 0);
    // Pipelines synchronise gradients every iteration, so one degraded pipeline (its
    // bottleneck node running two stages) halves the useful work of all.
    let fraction = |degraded: &[u32]| -> f64 {
        let slow = if degraded.iter().any(|&k| k > 0) {
            0.5
        } else {
            1.0
        };
        slow / (1.0 + r)
    };
    let mut alive = vec![true; n as usize];
    for e in changes(trace, n) {
        l.advance(e.time_s);
        alive[e.node as usize] = !e.fails;
        let owner = phys.iter().position(|&u| u == e.node).and_then(|i| {
            plan.pipelines
                .iter()
                .position(|p| p.nodes.contains(&(i as u32)))
        });
        match (e.fails, owner) {
            (true, Some(p)) if degraded[p] == 0 => {
                degraded[p] = 1;
                l.stop(0.0, c.failover_s);
                reconf += 1;
            }
            (false, Some(p)) if degraded[p] > 0 => {
                // The shadow hands the stage back.
                degraded[p] -= 1;
                l.stop(0.0, c.failover_s);
            }
            _ => {
                // A second failure in a degraded pipeline (or a node outside the plan joining):
                // restart on the live nodes from the last checkpoint.
                let live: Vec<u32> = (0..n).filter(|&u| alive[u as usize]).collect();
                let lost = if e.fails { l.since_checkpoint_s } else { 0.0 };
                l.since_checkpoint_s = 0.0;
                l.stop(lost, c.restart_s);
                match best_plan(ts, live.len() as u32, 0, b) {
                    Some(p) => {
                        degraded = vec![0; p.pipelines.len()];
                        plan = p;
                    }
                    None => {
                        degraded.iter_mut().for_each(|k| *k = 0);
                        plan.pipelines.clear();
                    }
                }
                phys = live;
                restarts += 1;
            }
        }
        l.rate = if plan.pipelines.is_empty() {
            0.0
        } else {
            rate(&plan)
        };
        l.useful_fraction = fraction(&degraded);
    }
    l.finish("redundant-computation", d, reconf, restarts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oobleck::Layer;

    fn setup() -> (Profile, TemplateOptions, PlanOptions) {
        let p = Profile::new((0..8).map(|_| Layer::new(1.0, 2.0, 0)).collect()).unwrap();
        (
            p,
            TemplateOptions::new(4),
            PlanOptions {
                fault_tolerance: 1,
                microbatches: 64,
            },
        )
    }

    fn failures(duration_s: f64, at: &[(f64, u32)]) -> Trace {
        Trace {
            duration_s,
            events: at
                .iter()
                .map(|&(time_s, node)| Event {
                    time_s,
                    node,
                    fails: true,
                })
                .collect(),
        }
    }

    fn share(r: &[SystemResult], system: &str) -> f64 {
        r.iter()
            .find(|x| x.system == system)
            .unwrap()
            .effective_share
    }

    #[test]
    fn without_failures_only_checkpoints_and_redundancy_cost() {
        let (p, t, o) = setup();
        let trace = failures(3100.0, &[]);
        let r = simulate(&p, &t, &o, &trace, &SimCosts::default()).unwrap();
        // 10 cycles of 300 s training + 10 s checkpoint; r = Σf / Σ(f+b) = 1/3.
        assert!((share(&r, "oobleck") - 1.0).abs() < 1e-12);
        assert!((share(&r, "checkpoint-restart") - 3000.0 / 3100.0).abs() < 1e-12);
        assert!((share(&r, "redundant-computation") - 0.75 * 3000.0 / 3100.0).abs() < 1e-12);
    }

    #[test]
    fn one_failure_by_hand() {
        let (p, t, o) = setup();
        let trace = failures(1000.0, &[(150.0, 0)]);
        let r = simulate(&p, &t, &o, &trace, &SimCosts::default()).unwrap();
        // Checkpoint-restart: 150 s trained and lost, down 150..330, trains 330..630,
        // checkpoint, 640..940, checkpoint, 950..1000: 650 s useful.
        assert!((share(&r, "checkpoint-restart") - 0.65).abs() < 1e-12);
        // Oobleck: loses the iteration in flight and 10 s (no bytes to copy).
        let ts = generate_templates(&p, &t).unwrap();
        let iter_s = instantiate(&ts, &o).unwrap().iteration_time_ms / 1000.0;
        let want = (1000.0 - 10.0 - libm::fmod(150.0, iter_s)) / 1000.0;
        assert!((share(&r, "oobleck") - want).abs() < 1e-9);
        // Redundant computation: 10 s failover, then one pipeline degraded (half useful).
        let rr = 1.0 / 1.5;
        let want = ((150.0 * rr) + (140.0 * 0.5 * rr) + (10.0 * 0.0)) / 1000.0;
        // Up to the first checkpoint at 300 s of training: 150 + 150 of degraded training,
        // ... the rest follows the ledger: at least the first 290 s are as computed.
        assert!(share(&r, "redundant-computation") > want);
        assert!(share(&r, "redundant-computation") < share(&r, "oobleck"));
    }

    #[test]
    fn losing_every_replica_restarts_oobleck() {
        let (_, mut t, o) = setup();
        // 8 bytes of layers on nodes of 5 bytes: n0 = 2.
        let p = Profile::new((0..8).map(|_| Layer::new(1.0, 2.0, 1)).collect()).unwrap();
        t.node_memory_bytes = Some(5);
        let ts = generate_templates(&p, &t).unwrap();
        let plan = instantiate(&ts, &o).unwrap();
        // Two pipelines of two nodes: losing node 0 and then node 2 (the first stage of each)
        // leaves no replica of layer 0.
        assert_eq!(plan.pipelines.len(), 2);
        let trace = failures(1000.0, &[(100.0, 0), (101.0, 2)]);
        let r = simulate(&p, &t, &o, &trace, &SimCosts::default()).unwrap();
        let oob = r.iter().find(|x| x.system == "oobleck").unwrap();
        assert_eq!((oob.reconfigurations, oob.restarts), (1, 1));
    }

    #[test]
    fn bad_traces_are_rejected() {
        let (p, t, o) = setup();
        let trace = failures(100.0, &[(10.0, 9)]);
        assert!(matches!(
            simulate(&p, &t, &o, &trace, &SimCosts::default()),
            Err(SimError::Trace(_))
        ));
        let costs = SimCosts {
            sample_s: 0.0,
            ..SimCosts::default()
        };
        let ok = failures(100.0, &[]);
        assert!(matches!(
            simulate(&p, &t, &o, &ok, &costs),
            Err(SimError::Cost("sample_s"))
        ));
    }
}
