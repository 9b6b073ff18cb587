//! The Zeus output documents (docs/formats.md): `zeus-optimum/v1` (the just-in-time power
//! limit and expected time/energy/cost per batch size, and the optimum) and `zeus-sim/v1` (a
//! simulation's recurrences and their sums). Both are written, never read.

use alloc::string::String;
use alloc::vec::Vec;

use serde::Serialize;

use super::Eta;
use super::sim::{SimResult, Totals};
use super::trace::{BatchSizeChoice, WorkloadTrace};
use crate::formats::to_json;

/// Format name of the optimum document.
pub const OPTIMUM_FORMAT: &str = "zeus-optimum/v1";
/// Format name of the simulation document.
pub const SIM_FORMAT: &str = "zeus-sim/v1";

#[derive(Serialize)]
struct OptimumDoc<'a> {
    format: &'static str,
    workload: &'a str,
    eta: f64,
    max_power_w: f64,
    per_batch_size: Vec<ChoiceDoc>,
    optimum: Option<OptimumRow>,
}

#[derive(Serialize)]
struct ChoiceDoc {
    batch_size: u32,
    power_limit_w: u32,
    feasible: bool,
    time_s: Option<f64>,
    energy_j: Option<f64>,
    cost: Option<f64>,
}

#[derive(Serialize)]
struct OptimumRow {
    batch_size: u32,
    power_limit_w: u32,
    time_s: f64,
    energy_j: f64,
    cost: f64,
}

/// `zeus-optimum/v1` of `choices` (from [`WorkloadTrace::choices`] at `eta`); `optimum` is
/// `null` when no batch size is feasible.
pub fn optimum_json(trace: &WorkloadTrace, eta: Eta, choices: &[BatchSizeChoice]) -> String {
    let optimum = WorkloadTrace::optimum(choices).and_then(|c| {
        Some(OptimumRow {
            batch_size: c.batch_size,
            power_limit_w: c.power_limit_w,
            time_s: c.time_s?,
            energy_j: c.energy_j?,
            cost: c.cost?,
        })
    });
    to_json(&OptimumDoc {
        format: OPTIMUM_FORMAT,
        workload: trace.spec.dataset,
        eta: eta.get(),
        max_power_w: trace.max_power_w,
        per_batch_size: choices
            .iter()
            .map(|c| ChoiceDoc {
                batch_size: c.batch_size,
                power_limit_w: c.power_limit_w,
                feasible: c.feasible,
                time_s: c.time_s,
                energy_j: c.energy_j,
                cost: c.cost,
            })
            .collect(),
        optimum,
    })
}

#[derive(Serialize)]
struct SimDoc<'a> {
    format: &'static str,
    workload: &'a str,
    policy: &'static str,
    eta: f64,
    seed: u64,
    max_power_w: f64,
    recurrences: Vec<RecurrenceDoc>,
    cumulative: TotalsDoc,
}

#[derive(Serialize)]
struct RecurrenceDoc {
    batch_size: u32,
    power_limit_w: u32,
    time_s: f64,
    energy_j: f64,
    cost: f64,
    reached: bool,
    attempts: u32,
}

#[derive(Serialize)]
struct TotalsDoc {
    time_s: f64,
    energy_j: f64,
    cost: f64,
}

impl From<Totals> for TotalsDoc {
    fn from(t: Totals) -> Self {
        Self {
            time_s: t.time_s,
            energy_j: t.energy_j,
            cost: t.cost,
        }
    }
}

/// `zeus-sim/v1` of a simulation of `trace`'s workload at `eta` with `seed`.
pub fn sim_json(trace: &WorkloadTrace, eta: Eta, seed: u64, result: &SimResult) -> String {
    to_json(&SimDoc {
        format: SIM_FORMAT,
        workload: trace.spec.dataset,
        policy: result.policy.name(),
        eta: eta.get(),
        seed,
        max_power_w: trace.max_power_w,
        recurrences: result
            .recurrences
            .iter()
            .map(|r| RecurrenceDoc {
                batch_size: r.batch_size,
                power_limit_w: r.power_limit_w,
                time_s: r.time_s,
                energy_j: r.energy_j,
                cost: r.cost,
                reached: r.reached,
                attempts: r.attempts,
            })
            .collect(),
        cumulative: result.cumulative.into(),
    })
}
