//! Interchange formats of the frontier problem and its results (formats.md §1–4):
//! `perseus-instance/v1` and the zeus profile CSV in, `ergon-frontier/v1` and `ergon-plan/v1`
//! out. Everything works on strings; reading and writing files is the caller's business.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::formats::{parse_document, to_json};
use crate::names::UnknownName;

use super::{
    Dag, EffectiveEnergy, Frontier, FrontierError, Kind, Pipeline, Plan, Problem, Profile,
    ProfileOption, Schedule,
};
use crate::fit::ExpModel;

pub use super::profile_csv::{
    MAX_INSTRUCTION_NAME_LEN, PROFILE_CSV_HEADER, ProfileRow, instruction_name_error,
    merge_profile_csv, profile_rows, read_profile_rows, write_profile_csv,
};

/// Schema name of a frontier problem.
pub const INSTANCE_SCHEMA: &str = "perseus-instance/v1";
/// Schema name of a solved frontier.
pub const FRONTIER_SCHEMA: &str = "ergon-frontier/v1";
/// Largest number of lines of a zeus profile CSV: 4 194 305 (a header and one data row per
/// option, [`MAX_OPTIONS`](super::MAX_OPTIONS)). Counted before anything is parsed.
pub const MAX_CSV_LINES: usize = super::MAX_OPTIONS + 1;
/// Schema name of a frequency plan.
pub const PLAN_SCHEMA: &str = "ergon-plan/v1";

/// Why a frontier problem document or profile CSV was rejected (the shared
/// [`crate::formats::FormatError`] over [`FrontierError`]).
pub type FormatError = crate::formats::FormatError<FrontierError>;

#[derive(Deserialize)]
struct InstanceDoc {
    unit_time_s: f64,
    p_blocking_w: f64,
    #[serde(default)]
    effective_energy: EffectiveEnergy,
    #[serde(default)]
    pipeline: Option<PipelineDoc>,
    profiles: Vec<ProfileDoc>,
    #[serde(default)]
    dag: Option<DagDoc>,
}

#[derive(Deserialize)]
struct PipelineDoc {
    schedule: String,
    num_stages: u32,
    num_microbatches: u32,
    #[serde(default)]
    virtual_stages: Option<u32>,
}

#[derive(Deserialize)]
struct ProfileDoc {
    stage: u32,
    kind: Kind,
    options: Vec<ProfileOption>,
    #[serde(default)]
    fit: Option<ExpModel>,
}

#[derive(Deserialize)]
struct DagDoc {
    nodes: Vec<NodeDoc>,
    edges: Vec<(u32, u32)>,
}

#[derive(Deserialize)]
struct NodeDoc {
    id: u32,
    stage: u32,
    kind: Kind,
    microbatch: u32,
    #[serde(default)]
    chunk: u32,
}

/// Parses a schedule name (one of [`Schedule::NAMES`]) as used in `pipeline.schedule` and on
/// the command line, with the `virtual_stages` that only `interleaved_1f1b` takes (and needs).
pub fn parse_schedule(name: &str, virtual_stages: Option<u32>) -> Result<Schedule, FormatError> {
    let interleaved = Schedule::Interleaved1F1B {
        virtual_stages: virtual_stages.unwrap_or(0),
    };
    let schedule = [Schedule::OneFOneB, Schedule::GPipe, interleaved]
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| {
            let e = UnknownName::new("schedule", name, &Schedule::NAMES);
            FormatError::field("pipeline.schedule", e.to_string())
        })?;
    match (schedule, virtual_stages) {
        (Schedule::Interleaved1F1B { .. }, None) => Err(FormatError::field(
            "pipeline.virtual_stages",
            alloc::format!("{interleaved} needs virtual_stages"),
        )),
        (Schedule::OneFOneB | Schedule::GPipe, Some(_)) => Err(FormatError::field(
            "pipeline.virtual_stages",
            alloc::format!("only {interleaved} takes virtual_stages, not {name}"),
        )),
        (schedule, _) => Ok(schedule),
    }
}

/// Parses a `perseus-instance/v1` document. The problem is validated.
pub fn parse_instance(text: &str) -> Result<Problem, FormatError> {
    let doc: InstanceDoc = parse_document(text, INSTANCE_SCHEMA)?;
    let pipeline = doc
        .pipeline
        .as_ref()
        .map(|p| {
            Ok::<_, FormatError>(Pipeline {
                schedule: parse_schedule(&p.schedule, p.virtual_stages)?,
                num_stages: p.num_stages,
                num_microbatches: p.num_microbatches,
            })
        })
        .transpose()?;
    let (dag, ids) = match (doc.dag, pipeline) {
        (Some(d), p) => explicit_dag(d, p.map(|p| p.num_stages))?,
        (None, Some(p)) => (p.dag()?, Vec::new()),
        (None, None) => {
            return Err(FormatError::field(
                "pipeline",
                "either `pipeline` or `dag` is required",
            ));
        }
    };
    let profiles = doc
        .profiles
        .into_iter()
        .map(|p| Profile {
            stage: p.stage,
            kind: p.kind,
            options: p.options,
            fit: p.fit,
        })
        .collect();
    let problem = Problem {
        unit_time_s: doc.unit_time_s,
        p_blocking_w: doc.p_blocking_w,
        effective_energy: doc.effective_energy,
        profiles,
        dag,
    };
    // Errors about nodes name the document's node ids, not internal indices.
    let id = |index: usize| ids.get(index).map_or(index, |&id| id as usize);
    problem.validate().map_err(|e| match e {
        FrontierError::Cycle { node } => FrontierError::Cycle { node: id(node) },
        FrontierError::StageOutOfRange {
            node,
            stage,
            num_stages,
        } => FrontierError::StageOutOfRange {
            node: id(node),
            stage,
            num_stages,
        },
        other => other,
    })?;
    Ok(problem)
}

fn explicit_dag(doc: DagDoc, pipeline_stages: Option<u32>) -> Result<(Dag, Vec<u32>), FormatError> {
    if doc.nodes.is_empty() {
        return Err(FrontierError::EmptyDag.into());
    }
    let mut index = BTreeMap::new();
    for (i, n) in doc.nodes.iter().enumerate() {
        if index.insert(n.id, i as u32).is_some() {
            return Err(FormatError::field(
                "dag.nodes",
                alloc::format!("node id {} appears twice", n.id),
            ));
        }
    }
    let edges = doc
        .edges
        .iter()
        .enumerate()
        .map(|(k, &(u, v))| match (index.get(&u), index.get(&v)) {
            (Some(&a), Some(&b)) => Ok((a, b)),
            _ => Err(FormatError::field(
                "dag.edges",
                alloc::format!("edge {k} ({u} -> {v}) names a node id that is not in dag.nodes"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The GPUs that draw blocking power are the DAG's stages; a `pipeline` next to a `dag` is
    // informative only (formats.md §1), so its `num_stages` must not change the energy. It
    // still catches a node on a stage the pipeline does not have.
    if let Some(ps) = pipeline_stages
        && let Some(n) = doc.nodes.iter().find(|n| n.stage >= ps)
    {
        return Err(FrontierError::StageOutOfRange {
            node: n.id as usize,
            stage: n.stage,
            num_stages: ps,
        }
        .into());
    }
    let num_stages = doc
        .nodes
        .iter()
        .map(|n| u64::from(n.stage) + 1)
        .max()
        .unwrap_or(0);
    let num_stages = match u32::try_from(num_stages) {
        Ok(s) if s <= super::MAX_STAGES => s,
        _ => return Err(FrontierError::TooManyStages { num_stages }.into()),
    };
    let nodes = doc
        .nodes
        .iter()
        .map(|n| super::Computation {
            stage: n.stage,
            kind: n.kind,
            microbatch: n.microbatch,
            chunk: n.chunk,
        })
        .collect();
    let ids = doc.nodes.iter().map(|n| n.id).collect();
    Ok((
        Dag {
            num_stages,
            nodes,
            edges,
        },
        ids,
    ))
}

/// Parses the zeus profile CSV (`stage,instruction,frequency,time,energy` with a header; extra
/// columns ignored) into one profile per (stage, instruction), in order of first appearance.
///
/// A UTF-8 byte-order mark before the header is ignored. Linear in the size of the text; more
/// than [`MAX_CSV_LINES`] lines are refused before parsing.
pub fn parse_profile_csv(text: &str) -> Result<Vec<Profile>, FormatError> {
    let mut profiles: Vec<Profile> = Vec::new();
    // (stage, kind) → index into `profiles`: O(log P) per row, not a scan of every profile.
    let mut index: BTreeMap<(u32, Kind), usize> = BTreeMap::new();
    super::profile_csv::for_each_row(text, |row| {
        let kind: Kind = row
            .instruction
            .parse()
            .map_err(|e: UnknownName| FormatError::Csv {
                line: row.line,
                message: alloc::format!("`instruction`: {e}"),
            })?;
        let option = ProfileOption {
            freq_mhz: row.freq_mhz,
            time_s: row.time_s,
            energy_j: row.energy_j,
        };
        match index
            .get(&(row.stage, kind))
            .and_then(|&k| profiles.get_mut(k))
        {
            Some(p) => p.options.push(option),
            None => {
                index.insert((row.stage, kind), profiles.len());
                profiles.push(Profile {
                    stage: row.stage,
                    kind,
                    options: alloc::vec![option],
                    fit: None,
                });
            }
        }
        Ok(())
    })?;
    Ok(profiles)
}

/// Builds and validates a problem from CSV profiles and a pipeline description.
pub fn problem_from_csv(
    text: &str,
    pipeline: Pipeline,
    unit_time_s: f64,
    p_blocking_w: f64,
    effective_energy: EffectiveEnergy,
) -> Result<Problem, FormatError> {
    let profiles = parse_profile_csv(text)?;
    let problem = Problem {
        unit_time_s,
        p_blocking_w,
        effective_energy,
        profiles,
        dag: pipeline.dag()?,
    };
    problem.validate()?;
    Ok(problem)
}

#[derive(Serialize)]
struct FrontierDoc<'a> {
    schema: &'static str,
    unit_time_s: f64,
    num_stages: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_microbatches: Option<u32>,
    p_blocking_w: f64,
    t_min_s: f64,
    t_max_s: f64,
    t_star_s: f64,
    complete: bool,
    points: Vec<PointDoc<'a>>,
}

#[derive(Serialize)]
struct PointDoc<'a> {
    time_s: f64,
    quanta: u64,
    energy_j: f64,
    effective_cost_j: f64,
    cost_change_j: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<&'a [(u32, u32)]>,
}

/// Renders `ergon-frontier/v1`. With `with_changes`, each point lists the
/// `[computation, new duration]` pairs that changed from the previous point.
pub fn frontier_json(
    frontier: &Frontier,
    num_microbatches: Option<u32>,
    with_changes: bool,
) -> String {
    let t_star = frontier
        .point(frontier.min_energy())
        .map_or(frontier.start.time_s, |p| p.time_s);
    let points = frontier
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| PointDoc {
            time_s: p.time_s,
            quanta: p.quanta,
            energy_j: p.energy_j,
            effective_cost_j: p.effective_cost_j,
            cost_change_j: p.cost_change_j,
            changes: if with_changes {
                frontier.changes(i).ok()
            } else {
                None
            },
        })
        .collect();
    let doc = FrontierDoc {
        schema: FRONTIER_SCHEMA,
        unit_time_s: frontier.unit_time_s,
        num_stages: frontier.num_stages,
        num_microbatches,
        p_blocking_w: frontier.p_blocking_w,
        t_min_s: frontier.t_min_s(),
        t_max_s: frontier.t_max_s(),
        t_star_s: t_star,
        complete: frontier.is_complete(),
        points,
    };
    to_json(&doc)
}

/// `ergon-plan/v1` as read back (the writer's [`PlanDoc`] borrows names; this owns them).
#[derive(Deserialize)]
struct PlanDocIn {
    time_s: f64,
    energy_j: f64,
    stages: Vec<PlanStageDocIn>,
}

#[derive(Deserialize)]
struct PlanStageDocIn {
    stage: u32,
    instructions: Vec<(Kind, u32)>,
}

/// Parses an `ergon-plan/v1` document (what [`plan_json`] writes), e.g. a plan that a planner
/// process solved and sent to the ranks of a training job. The plan is checked: a finite
/// non-negative `time_s` and `energy_j`; stages `0, 1, …, n-1` in order (at most
/// [`MAX_STAGES`](super::MAX_STAGES)); every stage with at least one instruction; at most
/// [`MAX_COMPUTATIONS`](super::MAX_COMPUTATIONS) instructions in all; clocks of 0 (leave the
/// clock as it is) up to `u32::MAX` MHz are taken as written.
pub fn parse_plan(text: &str) -> Result<Plan, FormatError> {
    let doc: PlanDocIn = parse_document(text, PLAN_SCHEMA)?;
    for (field, value) in [("time_s", doc.time_s), ("energy_j", doc.energy_j)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(FormatError::field(
                field,
                alloc::format!("{value} is not a finite non-negative number"),
            ));
        }
    }
    if doc.stages.is_empty() {
        return Err(FormatError::field("stages", "the plan has no stages"));
    }
    if doc.stages.len() > super::MAX_STAGES as usize {
        return Err(FrontierError::TooManyStages {
            num_stages: u64::try_from(doc.stages.len()).unwrap_or(u64::MAX),
        }
        .into());
    }
    let mut total = 0usize;
    for (i, s) in doc.stages.iter().enumerate() {
        if usize::try_from(s.stage).ok() != Some(i) {
            return Err(FormatError::field(
                alloc::format!("stages[{i}].stage"),
                alloc::format!(
                    "is {}, expected {i}: stages are listed 0, 1, … in order",
                    s.stage
                ),
            ));
        }
        if s.instructions.is_empty() {
            return Err(FormatError::field(
                alloc::format!("stages[{i}].instructions"),
                "a stage runs at least one computation per iteration",
            ));
        }
        total = total.saturating_add(s.instructions.len());
    }
    if total > super::MAX_COMPUTATIONS {
        return Err(FrontierError::TooLarge { nodes: total }.into());
    }
    Ok(Plan {
        time_s: doc.time_s,
        energy_j: doc.energy_j,
        stages: doc
            .stages
            .into_iter()
            .map(|s| super::PlanStage {
                stage: s.stage,
                instructions: s.instructions,
            })
            .collect(),
    })
}

#[derive(Serialize)]
struct PlanDoc<'a> {
    schema: &'static str,
    time_s: f64,
    energy_j: f64,
    stages: Vec<PlanStageDoc<'a>>,
}

#[derive(Serialize)]
struct PlanStageDoc<'a> {
    stage: u32,
    instructions: Vec<(&'a str, u32)>,
}

/// Renders `ergon-plan/v1`.
pub fn plan_json(plan: &Plan) -> String {
    let doc = PlanDoc {
        schema: PLAN_SCHEMA,
        time_s: plan.time_s,
        energy_j: plan.energy_j,
        stages: plan
            .stages
            .iter()
            .map(|s| PlanStageDoc {
                stage: s.stage,
                instructions: s.instructions.iter().map(|&(k, f)| (k.name(), f)).collect(),
            })
            .collect(),
    };
    to_json(&doc)
}
