//! Interchange formats of the privacy knapsack (formats.md §5 and docs/dpk.md):
//! `dpk-workload/v1` in and out, `dpk-result/v1` out, and for online runs `dpk-online/v1` in
//! and `dpk-online-result/v1` out. Everything works on strings.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::formats::{parse_document, to_json};
use crate::names::UnknownName;

use super::{
    Allocation, Block, Conversion, KnapsackError, Mechanism, OnlineConfig, OnlineResult,
    OnlineTask, RdpCurve, STANDARD_ALPHAS, ScheduleOptions, Scheduler, Task, Unlocking, Workload,
    rdp,
};

/// Schema name of a workload.
pub const WORKLOAD_SCHEMA: &str = "dpk-workload/v1";
/// Schema name of an offline result.
pub const RESULT_SCHEMA: &str = "dpk-result/v1";
/// Schema name of an online simulation.
pub const ONLINE_SCHEMA: &str = "dpk-online/v1";
/// Schema name of an online result.
pub const ONLINE_RESULT_SCHEMA: &str = "dpk-online-result/v1";

/// Why a DPK document was rejected (the shared [`crate::formats::FormatError`] over
/// [`KnapsackError`]).
pub type FormatError = crate::formats::FormatError<KnapsackError>;

#[derive(Deserialize)]
struct WorkloadDoc {
    #[serde(default)]
    alphas: Option<Vec<f64>>,
    blocks: Vec<BlockDoc>,
    tasks: Vec<TaskDoc>,
}

#[derive(Deserialize)]
struct BlockDoc {
    id: u64,
    #[serde(default)]
    epsilon: Option<f64>,
    #[serde(default)]
    delta: Option<f64>,
    #[serde(default)]
    capacity: Option<Vec<f64>>,
    #[serde(default)]
    conversion: Option<String>,
    #[serde(default)]
    arrival: Option<f64>,
}

#[derive(Deserialize)]
struct TaskDoc {
    id: u64,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    arrival: Option<f64>,
    #[serde(default)]
    blocks: Option<Vec<u64>>,
    #[serde(default)]
    num_blocks: Option<u32>,
    #[serde(default)]
    demand: Option<Vec<f64>>,
    #[serde(default)]
    mechanism: Option<Value>,
}

/// A mechanism as written in files: `{"kind": "gaussian", "sigma": 1.0}`, `laplace{b}`,
/// `subsampled_gaussian{q, sigma, steps}`, `subsampled_laplace{q, b, steps}`,
/// `compose{parts: [...]}`.
#[derive(Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum MechDoc {
    Gaussian { sigma: f64 },
    Laplace { b: f64 },
    SubsampledGaussian { q: f64, sigma: f64, steps: f64 },
    SubsampledLaplace { q: f64, b: f64, steps: f64 },
    Compose { parts: Vec<MechDoc> },
}

impl MechDoc {
    fn mechanism(self) -> Mechanism {
        match self {
            MechDoc::Gaussian { sigma } => Mechanism::Gaussian { sigma },
            MechDoc::Laplace { b } => Mechanism::Laplace { b },
            MechDoc::SubsampledGaussian { q, sigma, steps } => {
                Mechanism::SubsampledGaussian { q, sigma, steps }
            }
            MechDoc::SubsampledLaplace { q, b, steps } => {
                Mechanism::SubsampledLaplace { q, b, steps }
            }
            MechDoc::Compose { parts } => {
                Mechanism::Compose(parts.into_iter().map(MechDoc::mechanism).collect())
            }
        }
    }
}

fn alphas_of(doc: Option<Vec<f64>>) -> Result<RdpCurve, FormatError> {
    match doc {
        None => Ok(STANDARD_ALPHAS.iter().copied().collect()),
        Some(v) => Ok(rdp::orders(&v)?),
    }
}

/// The conversion named at `field` of `record` (`classic`, the default, or `tight`).
fn conversion_of(
    name: Option<String>,
    record: Option<String>,
    field: &str,
) -> Result<Conversion, FormatError> {
    name.map_or(Ok(Conversion::Classic), |n| {
        n.parse().map_err(|e: UnknownName| FormatError::Field {
            record,
            field: field.into(),
            message: e.to_string(),
        })
    })
}

/// An error about `field` of task `id` (`""`: the task as a whole).
fn task_error(id: u64, field: &str, message: impl Into<String>) -> FormatError {
    FormatError::in_record(format!("task {id}"), field, message)
}

/// The demand of a task: explicit (`demand`) or from its `mechanism`, exactly one of them.
fn demand_of(
    id: u64,
    alphas: &[f64],
    demand: Option<Vec<f64>>,
    mechanism: Option<Value>,
) -> Result<RdpCurve, FormatError> {
    match (demand, mechanism) {
        (Some(d), None) => {
            if d.len() != alphas.len() {
                return Err(KnapsackError::DemandLength {
                    task: id,
                    len: d.len(),
                    expected: alphas.len(),
                }
                .into());
            }
            Ok(d.into_iter().collect())
        }
        (None, Some(m)) => {
            let m: MechDoc = serde_json::from_value(m)
                .map_err(|e| task_error(id, "mechanism", e.to_string()))?;
            m.mechanism().curve(alphas).map_err(|e| {
                KnapsackError::TaskMechanism {
                    task: id,
                    source: Box::new(e),
                }
                .into()
            })
        }
        (Some(_), Some(_)) => Err(task_error(
            id,
            "",
            "give either `demand` or `mechanism`, not both",
        )),
        (None, None) => Err(task_error(
            id,
            "",
            "needs a `demand` (one epsilon per alpha) or a `mechanism`",
        )),
    }
}

/// Parses a `dpk-workload/v1` document. `alphas` defaults to the 12 standard orders; a task's
/// `weight` defaults to 1 and `arrival` to 0, a block's `arrival` to 0.
pub fn parse_workload(text: &str) -> Result<Workload, FormatError> {
    let doc: WorkloadDoc = parse_document(text, WORKLOAD_SCHEMA)?;
    let alphas = alphas_of(doc.alphas)?;
    super::check_sizes(doc.blocks.len(), doc.tasks.len())?;
    let mut blocks = super::vec_for("blocks", doc.blocks.len())?;
    for b in doc.blocks {
        let arrival = b.arrival.unwrap_or(0.0);
        let block = match (b.capacity, b.epsilon, b.delta) {
            (Some(_), None, None) if b.conversion.is_some() => {
                return Err(FormatError::in_record(
                    format!("block {}", b.id),
                    "conversion",
                    "applies to `epsilon` and `delta`, not to an explicit `capacity`",
                ));
            }
            (Some(c), None, None) => {
                if c.len() != alphas.len() {
                    return Err(KnapsackError::CapacityLength {
                        block: b.id,
                        len: c.len(),
                        expected: alphas.len(),
                    }
                    .into());
                }
                Block {
                    id: b.id,
                    capacity: c.into_iter().collect(),
                    arrival,
                }
            }
            (None, Some(e), Some(d)) => {
                let record = Some(format!("block {}", b.id));
                let conversion = conversion_of(b.conversion, record, "conversion")?;
                Block::from_budget_with(b.id, &alphas, e, d, conversion, arrival)?
            }
            _ => {
                return Err(FormatError::in_record(
                    format!("block {}", b.id),
                    "",
                    "give either `capacity` (one value per alpha) or both `epsilon` and `delta`",
                ));
            }
        };
        blocks.push(block);
    }
    let mut tasks = super::vec_for("tasks", doc.tasks.len())?;
    for t in doc.tasks {
        let demand = demand_of(t.id, &alphas, t.demand, t.mechanism)?;
        let Some(requested) = t.blocks else {
            return Err(task_error(t.id, "blocks", "is missing"));
        };
        tasks.push(Task {
            id: t.id,
            weight: t.weight.unwrap_or(1.0),
            arrival: t.arrival.unwrap_or(0.0),
            blocks: requested,
            demand,
        });
    }
    Ok(Workload::new(&alphas, blocks, tasks)?)
}

#[derive(Serialize)]
struct WorkloadOut<'a> {
    schema: &'static str,
    alphas: &'a [f64],
    blocks: Vec<BlockOut<'a>>,
    tasks: Vec<TaskOut<'a>>,
}

#[derive(Serialize)]
struct BlockOut<'a> {
    id: u64,
    capacity: &'a [f64],
    arrival: f64,
}

#[derive(Serialize)]
struct TaskOut<'a> {
    id: u64,
    weight: f64,
    arrival: f64,
    blocks: &'a [u64],
    demand: &'a [f64],
}

/// Renders a workload as `dpk-workload/v1` (explicit capacities and demands).
pub fn workload_json(w: &Workload) -> String {
    let doc = WorkloadOut {
        schema: WORKLOAD_SCHEMA,
        alphas: w.alphas(),
        blocks: w
            .blocks()
            .iter()
            .map(|b| BlockOut {
                id: b.id,
                capacity: &b.capacity,
                arrival: b.arrival,
            })
            .collect(),
        tasks: w
            .tasks()
            .iter()
            .map(|t| TaskOut {
                id: t.id,
                weight: t.weight,
                arrival: t.arrival,
                blocks: &t.blocks,
                demand: &t.demand,
            })
            .collect(),
    };
    to_json(&doc)
}

#[derive(Serialize)]
struct ResultOut<'a> {
    schema: &'static str,
    scheduler: &'static str,
    allocated: &'a [u64],
    num_allocated: usize,
    total_weight: f64,
    remaining: BTreeMap<String, &'a [f64]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upper_bound: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proven_optimal: Option<bool>,
}

/// Renders an offline result as `dpk-result/v1`. `remaining` maps block ids (as strings) to
/// the per-order remaining budget; the optimal scheduler adds `upper_bound` and
/// `proven_optimal`.
pub fn result_json(scheduler: Scheduler, w: &Workload, a: &Allocation) -> String {
    let doc = ResultOut {
        schema: RESULT_SCHEMA,
        scheduler: scheduler.name(),
        allocated: &a.allocated,
        num_allocated: a.num_allocated(),
        total_weight: a.total_weight,
        remaining: w
            .blocks()
            .iter()
            .zip(&a.remaining)
            .map(|(b, r)| (b.id.to_string(), r.as_slice()))
            .collect(),
        upper_bound: a.upper_bound,
        proven_optimal: a.upper_bound.map(|_| a.proven_optimal()),
    };
    to_json(&doc)
}

/// Scheduler settings as written in files; every field but `name` is optional.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct OptionsDoc {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eta: Option<f64>,
    /// "weighted" or "count".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    knapsack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recompute_every: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    single_task_fallback: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpf_weighted: Option<bool>,
    /// "initial" or "remaining".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpf_capacity: Option<String>,
}

/// The value `name` names, read with `FromStr`; an unknown name is an error at `field`.
fn named<T: FromStr<Err = UnknownName>>(field: &str, name: &str) -> Result<T, FormatError> {
    name.parse()
        .map_err(|e: UnknownName| FormatError::field(field, e.to_string()))
}

impl OptionsDoc {
    fn options(self) -> Result<ScheduleOptions, FormatError> {
        let mut o = ScheduleOptions::default();
        if let Some(n) = self.name {
            o.scheduler = named("scheduler.name", &n)?;
        }
        if let Some(x) = self.eta {
            o.eta = x;
        }
        if let Some(k) = self.knapsack {
            o.knapsack = named("scheduler.knapsack", &k)?;
        }
        if let Some(k) = self.recompute_every {
            o.recompute_every = k;
        }
        if let Some(b) = self.single_task_fallback {
            o.single_task_fallback = b;
        }
        if let Some(b) = self.dpf_weighted {
            o.dpf_weighted = b;
        }
        if let Some(c) = self.dpf_capacity {
            o.dpf_capacity = named("scheduler.dpf_capacity", &c)?;
        }
        o.validate()?;
        Ok(o)
    }
}

#[derive(Deserialize)]
struct OnlineDoc {
    #[serde(default)]
    alphas: Option<Vec<f64>>,
    #[serde(default)]
    block_epsilon: Option<f64>,
    #[serde(default)]
    block_delta: Option<f64>,
    #[serde(default)]
    block_conversion: Option<String>,
    initial_blocks: u32,
    total_blocks: u32,
    scheduling_period: f64,
    unlocking: UnlockDoc,
    #[serde(default)]
    scheduler: Option<OptionsDoc>,
    tasks: Vec<TaskDoc>,
}

#[derive(Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum UnlockDoc {
    Time { period: f64, steps: u32 },
    Arrivals { steps: u32 },
}

/// Parses a `dpk-online/v1` document (see docs/dpk.md). `block_epsilon`/`block_delta` default
/// to 10 and 1e-7, `alphas` to the standard orders, `scheduler` to DPK; each task needs
/// `num_blocks` (it requests the latest that many blocks).
pub fn parse_online(text: &str) -> Result<OnlineConfig, FormatError> {
    let doc: OnlineDoc = parse_document(text, ONLINE_SCHEMA)?;
    let alphas = alphas_of(doc.alphas)?;
    super::check_limit("tasks", "MAX_TASKS", doc.tasks.len(), super::MAX_TASKS)?;
    let mut tasks = super::vec_for("tasks", doc.tasks.len())?;
    for t in doc.tasks {
        let demand = demand_of(t.id, &alphas, t.demand, t.mechanism)?;
        if t.blocks.is_some() {
            return Err(task_error(
                t.id,
                "blocks",
                "online tasks give `num_blocks` (the latest blocks), not `blocks`",
            ));
        }
        let Some(num_blocks) = t.num_blocks else {
            return Err(task_error(t.id, "num_blocks", "is missing"));
        };
        tasks.push(OnlineTask {
            id: t.id,
            weight: t.weight.unwrap_or(1.0),
            arrival: t.arrival.unwrap_or(0.0),
            num_blocks,
            demand,
        });
    }
    Ok(OnlineConfig {
        alphas,
        block_epsilon: doc.block_epsilon.unwrap_or(10.0),
        block_delta: doc.block_delta.unwrap_or(1e-7),
        block_conversion: conversion_of(doc.block_conversion, None, "block_conversion")?,
        initial_blocks: doc.initial_blocks,
        total_blocks: doc.total_blocks,
        scheduling_period: doc.scheduling_period,
        unlocking: match doc.unlocking {
            UnlockDoc::Time { period, steps } => Unlocking::Time { period, steps },
            UnlockDoc::Arrivals { steps } => Unlocking::Arrivals { steps },
        },
        options: doc.scheduler.unwrap_or_default().options()?,
        tasks,
    })
}

#[derive(Serialize)]
struct OnlineOut<'a> {
    schema: &'static str,
    alphas: &'a [f64],
    block_epsilon: f64,
    block_delta: f64,
    block_conversion: &'static str,
    initial_blocks: u32,
    total_blocks: u32,
    scheduling_period: f64,
    unlocking: UnlockDoc,
    scheduler: OptionsDoc,
    tasks: Vec<OnlineTaskOut<'a>>,
}

#[derive(Serialize)]
struct OnlineTaskOut<'a> {
    id: u64,
    weight: f64,
    arrival: f64,
    num_blocks: u32,
    demand: &'a [f64],
}

/// Renders an online configuration as `dpk-online/v1`.
pub fn online_json(c: &OnlineConfig) -> String {
    let o = &c.options;
    let doc = OnlineOut {
        schema: ONLINE_SCHEMA,
        alphas: &c.alphas,
        block_epsilon: c.block_epsilon,
        block_delta: c.block_delta,
        block_conversion: c.block_conversion.name(),
        initial_blocks: c.initial_blocks,
        total_blocks: c.total_blocks,
        scheduling_period: c.scheduling_period,
        unlocking: match c.unlocking {
            Unlocking::Time { period, steps } => UnlockDoc::Time { period, steps },
            Unlocking::Arrivals { steps } => UnlockDoc::Arrivals { steps },
        },
        scheduler: OptionsDoc {
            name: Some(o.scheduler.to_string()),
            eta: Some(o.eta),
            knapsack: Some(o.knapsack.to_string()),
            recompute_every: Some(o.recompute_every),
            single_task_fallback: Some(o.single_task_fallback),
            dpf_weighted: Some(o.dpf_weighted),
            dpf_capacity: Some(o.dpf_capacity.to_string()),
        },
        tasks: c
            .tasks
            .iter()
            .map(|t| OnlineTaskOut {
                id: t.id,
                weight: t.weight,
                arrival: t.arrival,
                num_blocks: t.num_blocks,
                demand: &t.demand,
            })
            .collect(),
    };
    to_json(&doc)
}

#[derive(Serialize)]
struct OnlineResultOut<'a> {
    schema: &'static str,
    scheduler: &'static str,
    num_submitted: usize,
    num_allocated: usize,
    total_weight: f64,
    mean_delay: f64,
    num_rounds: usize,
    allocations: Vec<AllocOut<'a>>,
}

#[derive(Serialize)]
struct AllocOut<'a> {
    id: u64,
    time: f64,
    delay: f64,
    blocks: &'a [u32],
}

/// Renders an online result as `dpk-online-result/v1`; `blocks` are block indices.
pub fn online_result_json(scheduler: Scheduler, r: &OnlineResult) -> String {
    let doc = OnlineResultOut {
        schema: ONLINE_RESULT_SCHEMA,
        scheduler: scheduler.name(),
        num_submitted: r.num_submitted,
        num_allocated: r.num_allocated(),
        total_weight: r.total_weight,
        mean_delay: r.mean_delay,
        num_rounds: r.num_rounds,
        allocations: r
            .allocations
            .iter()
            .map(|a| AllocOut {
                id: a.id,
                time: a.time,
                delay: a.delay,
                blocks: &a.blocks,
            })
            .collect(),
    };
    to_json(&doc)
}
