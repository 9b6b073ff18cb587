//! Interchange formats of the serving simulation (formats.md §6): `orloj-sim/v1` in,
//! `orloj-result/v1` out. Everything works on strings.
//!
//! Beyond the documented fields, `orloj-sim/v1` accepts: `bins` (grid bins, default 1024),
//! `p_min` (Orloj's drop floor, default 0.5), `learn` (feed executed times back into the
//! laws, default false), `batch.profile` (measured `[batch_size, time_s]` pairs, fitted by
//! least squares, instead of `batch.scale`; with neither, `s(b) = 1 + 0.1·(b − 1)`),
//! `arrivals.kind = "bursty"` with `burst_factor` and `period_s`. `policies` defaults to every
//! policy; a baseline name may end in `-mean` (the default) or `-p99`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::sim::{
    AppConfig, Arrivals, DEFAULT_BINS, DEFAULT_P_MIN, PolicyResult, PolicySpec, SimConfig,
};
use super::{BatchScale, BatchingError, ExecSpec};
use crate::formats::{parse_document, to_json};

/// Schema name of a simulation.
pub const SIM_SCHEMA: &str = "orloj-sim/v1";
/// Schema name of its result.
pub const RESULT_SCHEMA: &str = "orloj-result/v1";

/// Why an `orloj-sim/v1` document was rejected (the shared [`crate::formats::FormatError`]
/// over [`BatchingError`]).
pub type FormatError = crate::formats::FormatError<BatchingError>;

#[derive(Deserialize)]
struct SimDoc {
    seed: u64,
    duration_s: f64,
    apps: Vec<AppDoc>,
    batch: BatchDoc,
    arrivals: ArrivalsDoc,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default)]
    bins: Option<usize>,
    #[serde(default)]
    p_min: Option<f64>,
    #[serde(default)]
    learn: bool,
}

#[derive(Deserialize)]
struct AppDoc {
    name: String,
    share: f64,
    slo_s: f64,
    exec_time: ExecDoc,
}

#[derive(Deserialize)]
struct ExecDoc {
    kind: String,
    value_s: Option<f64>,
    low_s: Option<f64>,
    high_s: Option<f64>,
    p_low: Option<f64>,
    mean_s: Option<f64>,
    cv: Option<f64>,
    values_s: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct BatchDoc {
    max_size: usize,
    #[serde(default)]
    scale: Option<Vec<f64>>,
    #[serde(default)]
    profile: Option<Vec<(usize, f64)>>,
}

#[derive(Deserialize)]
struct ArrivalsDoc {
    kind: String,
    load: f64,
    #[serde(default)]
    burst_factor: Option<f64>,
    #[serde(default)]
    period_s: Option<f64>,
}

fn exec_spec(app: &str, e: ExecDoc) -> Result<ExecSpec, FormatError> {
    let need = |v: Option<f64>, name: &'static str| {
        v.ok_or_else(|| BatchingError::InvalidSpec {
            app: app.into(),
            field: name,
            message: format!("missing (kind \"{}\" needs it)", e.kind),
        })
    };
    let spec = match e.kind.as_str() {
        "constant" => ExecSpec::Constant {
            value_s: need(e.value_s, "exec_time.value_s")?,
        },
        "bimodal" => ExecSpec::Bimodal {
            low_s: need(e.low_s, "exec_time.low_s")?,
            high_s: need(e.high_s, "exec_time.high_s")?,
            p_low: need(e.p_low, "exec_time.p_low")?,
        },
        "lognormal" => ExecSpec::Lognormal {
            mean_s: need(e.mean_s, "exec_time.mean_s")?,
            cv: need(e.cv, "exec_time.cv")?,
        },
        "samples" => ExecSpec::Samples {
            values_s: e
                .values_s
                .clone()
                .ok_or_else(|| BatchingError::InvalidSpec {
                    app: app.into(),
                    field: "exec_time.values_s",
                    message: "missing (kind \"samples\" needs it)".into(),
                })?,
        },
        other => {
            return Err(BatchingError::InvalidSpec {
                app: app.into(),
                field: "exec_time.kind",
                message: format!(
                    "unknown distribution kind \"{other}\" (expected constant, bimodal, lognormal or samples)"
                ),
            }
            .into());
        }
    };
    spec.validate(app)?;
    Ok(spec)
}

/// Parses and validates an `orloj-sim/v1` document.
pub fn parse_sim(text: &str) -> Result<SimConfig, FormatError> {
    let doc: SimDoc = parse_document(text, SIM_SCHEMA)?;
    if doc.apps.is_empty() {
        return Err(BatchingError::NoApps.into());
    }
    let mut apps = Vec::with_capacity(doc.apps.len());
    for (i, a) in doc.apps.into_iter().enumerate() {
        if a.name.trim().is_empty() {
            return Err(FormatError::field(format!("apps[{i}].name"), "is empty"));
        }
        if apps.iter().any(|b: &AppConfig| b.name == a.name) {
            return Err(FormatError::field(
                format!("apps[{i}].name"),
                format!("app name \"{}\" appears twice", a.name),
            ));
        }
        let exec = exec_spec(&a.name, a.exec_time)?;
        apps.push(AppConfig {
            name: a.name,
            share: a.share,
            slo_s: a.slo_s,
            exec,
        });
    }
    let max = doc.batch.max_size;
    let scale = match (doc.batch.scale, doc.batch.profile) {
        (Some(_), Some(_)) => {
            return Err(FormatError::field(
                "batch",
                "give `scale` or `profile`, not both",
            ));
        }
        (Some(f), None) => {
            if f.len() != max {
                return Err(BatchingError::ScaleLength {
                    len: f.len(),
                    max_size: max,
                }
                .into());
            }
            BatchScale::from_factors(&f)?
        }
        (None, Some(p)) => BatchScale::fit(&p, max)?,
        (None, None) => {
            if !(1..=super::MAX_BATCH_SIZE).contains(&max) {
                return Err(BatchingError::InvalidMaxBatch { max_size: max }.into());
            }
            BatchScale::linear(max, 0.1)
        }
    };
    let arrivals = match doc.arrivals.kind.as_str() {
        "poisson" => Arrivals::Poisson {
            load: doc.arrivals.load,
        },
        "bursty" => Arrivals::Bursty {
            load: doc.arrivals.load,
            burst_factor: doc.arrivals.burst_factor.unwrap_or(3.0),
            period_s: doc.arrivals.period_s.unwrap_or(1.0),
        },
        other => {
            return Err(FormatError::field(
                "arrivals.kind",
                format!("unknown arrival kind \"{other}\" (expected poisson or bursty)"),
            ));
        }
    };
    let policies = match doc.policies {
        None => PolicySpec::all(),
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.parse::<PolicySpec>()
                    .map_err(|e| FormatError::field(format!("policies[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let cfg = SimConfig {
        seed: doc.seed,
        duration_s: doc.duration_s,
        apps,
        scale,
        arrivals,
        policies,
        bins: doc.bins.unwrap_or(DEFAULT_BINS),
        p_min: doc.p_min.unwrap_or(DEFAULT_P_MIN),
        learn: doc.learn,
    };
    cfg.validate()?;
    Ok(cfg)
}

#[derive(Serialize)]
struct ResultDoc<'a> {
    schema: &'static str,
    results: Vec<RowDoc<'a>>,
}

#[derive(Serialize)]
struct RowDoc<'a> {
    policy: &'a str,
    arrived: u64,
    finished: u64,
    finish_rate: f64,
    dropped: u64,
    late: u64,
    p99_latency_s: f64,
    mean_lateness_s: f64,
    batches: u64,
    mean_batch_size: f64,
}

/// Renders results as `orloj-result/v1` (with the optional extras `mean_lateness_s`,
/// `batches` and `mean_batch_size`).
pub fn result_json(results: &[PolicyResult]) -> String {
    let doc = ResultDoc {
        schema: RESULT_SCHEMA,
        results: results
            .iter()
            .map(|r| RowDoc {
                policy: &r.policy,
                arrived: r.arrived,
                finished: r.finished,
                finish_rate: r.finish_rate,
                dropped: r.dropped,
                late: r.late,
                p99_latency_s: r.p99_latency_s,
                mean_lateness_s: r.mean_lateness_s,
                batches: r.batches,
                mean_batch_size: r.mean_batch_size,
            })
            .collect(),
    };
    to_json(&doc)
}

/// Renders a configuration as `orloj-sim/v1` (for the built-in defaults).
pub fn sim_json(cfg: &SimConfig) -> String {
    let apps: Vec<serde_json::Value> = cfg
        .apps
        .iter()
        .map(|a| {
            let exec = match &a.exec {
                ExecSpec::Constant { value_s } => {
                    serde_json::json!({"kind": "constant", "value_s": value_s})
                }
                ExecSpec::Bimodal {
                    low_s,
                    high_s,
                    p_low,
                } => serde_json::json!({"kind": "bimodal", "low_s": low_s, "high_s": high_s, "p_low": p_low}),
                ExecSpec::Lognormal { mean_s, cv } => {
                    serde_json::json!({"kind": "lognormal", "mean_s": mean_s, "cv": cv})
                }
                ExecSpec::Samples { values_s } => {
                    serde_json::json!({"kind": "samples", "values_s": values_s})
                }
            };
            serde_json::json!({"name": a.name, "share": a.share, "slo_s": a.slo_s, "exec_time": exec})
        })
        .collect();
    let arrivals = match cfg.arrivals {
        Arrivals::Poisson { load } => serde_json::json!({"kind": "poisson", "load": load}),
        Arrivals::Bursty {
            load,
            burst_factor,
            period_s,
        } => {
            serde_json::json!({"kind": "bursty", "load": load, "burst_factor": burst_factor, "period_s": period_s})
        }
    };
    let policies: Vec<&str> = cfg.policies.iter().map(|p| p.name()).collect();
    let doc = serde_json::json!({
        "schema": SIM_SCHEMA,
        "seed": cfg.seed,
        "duration_s": cfg.duration_s,
        "apps": apps,
        "batch": {"max_size": cfg.max_batch(), "scale": cfg.scale.factors()},
        "arrivals": arrivals,
        "policies": policies,
        "bins": cfg.bins,
        "p_min": cfg.p_min,
        "learn": cfg.learn,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
