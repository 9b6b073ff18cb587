//! Interchange formats of Chase (docs/formats.md): `chase-forecast/v1` and `chase-sim/v1` out,
//! and the points of an `ergon-frontier/v1` in (for carbon-aware Perseus). Everything works on
//! strings.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::cost::OperatingPoint;
use super::forecast::{ForecastMethod, mean_absolute_error};
use super::sim::{CarbonInterval, RunOutcome};
use super::trace::CarbonTrace;
use super::{ChaseError, MAX_POINTS};
use crate::formats::{parse_document, to_json};
use crate::perseus::formats::FRONTIER_SCHEMA;

/// Format name of a forecast (the key is `format`, as the acceptance interface names it).
pub const FORECAST_FORMAT: &str = "chase-forecast/v1";
/// Format name of a replay.
pub const SIM_FORMAT: &str = "chase-sim/v1";

/// Why a frontier document was rejected.
pub type FormatError = crate::formats::FormatError<ChaseError>;

#[derive(Serialize)]
struct ForecastDoc<'a> {
    format: &'static str,
    method: &'static str,
    history: usize,
    start: usize,
    forecasts: Vec<ForecastEntry<'a>>,
    mae: f64,
}

#[derive(Serialize)]
struct ForecastEntry<'a> {
    timestamp: &'a str,
    forecast: f64,
    actual: f64,
}

/// Renders `chase-forecast/v1`: `forecasts[i]` is the forecast of row `start + i` of `trace`
/// (`hist` is the actual), `mae` their mean absolute error, gCO2/kWh.
pub fn forecast_json(
    trace: &CarbonTrace,
    history: usize,
    start: usize,
    method: ForecastMethod,
    forecasts: &[f64],
) -> String {
    let rows = trace.records().get(start..).unwrap_or(&[]);
    let actual: Vec<f64> = rows.iter().map(|r| r.hist_g_per_kwh).collect();
    let doc = ForecastDoc {
        format: FORECAST_FORMAT,
        method: method.name(),
        history,
        start,
        forecasts: rows
            .iter()
            .zip(forecasts)
            .map(|(r, &f)| ForecastEntry {
                timestamp: &r.timestamp,
                forecast: f,
                actual: r.hist_g_per_kwh,
            })
            .collect(),
        mae: mean_absolute_error(forecasts, &actual),
    };
    to_json(&doc)
}

/// What a `chase-sim/v1` document says about the whole replay.
#[derive(Debug, Clone, Serialize)]
pub struct SimHeader {
    /// What runs, e.g. `imagenet/resnet50 bs 256 (V100 power trace)`.
    pub workload: String,
    /// The unit of work (`epoch`, `iteration`).
    pub unit: String,
    /// Units of work of the job.
    pub job_units: f64,
    /// η.
    pub eta: f64,
    /// MaxPL of the cost, W.
    pub max_power_limit_w: f64,
    /// MaxCI of the cost, gCO2/kWh.
    pub max_ci_g_per_kwh: f64,
    /// GPUs (N of the cost).
    pub gpus: u32,
    /// The forecaster.
    pub method: String,
    /// Its training window, slots.
    pub history: usize,
    /// The slot the job starts in (row of the carbon trace).
    pub start: usize,
    /// The forecaster's MAE over the slots the Chase run used, gCO2/kWh.
    pub forecast_mae: f64,
}

/// One policy's replay for [`sim_json`].
pub struct SimRun<'a> {
    /// Its name (`max-power`, `zeus`, `chase`, `chase-oracle`, `perseus-chase`, …).
    pub policy: &'a str,
    /// Its outcome.
    pub outcome: &'a RunOutcome,
    /// A label per operating point (`250 W`, `frontier 0.723 s`): what each slot chose.
    pub labels: &'a [String],
}

#[derive(Serialize)]
struct SimDoc<'a> {
    format: &'static str,
    #[serde(flatten)]
    header: &'a SimHeader,
    baseline: &'a str,
    policies: Vec<PolicyDoc<'a>>,
}

#[derive(Serialize)]
struct PolicyDoc<'a> {
    policy: &'a str,
    time_s: f64,
    energy_j: f64,
    carbon_g: f64,
    carbon_change_pct: f64,
    time_change_pct: f64,
    energy_change_pct: f64,
    intervals: Vec<IntervalDoc<'a>>,
}

#[derive(Serialize)]
struct IntervalDoc<'a> {
    slot: usize,
    timestamp: &'a str,
    actual: f64,
    forecast: f64,
    choice: &'a str,
    units: f64,
    time_s: f64,
    energy_j: f64,
    carbon_g: f64,
}

fn pct(x: f64, base: f64) -> f64 {
    if base == 0.0 {
        0.0
    } else {
        100.0 * (x - base) / base
    }
}

/// Renders `chase-sim/v1`: the header, then each run with its totals, its change against the
/// first run (the baseline) in percent, and its slots. `intervals[i]` is slot `start + i` of
/// `trace`.
pub fn sim_json(
    header: &SimHeader,
    trace: &CarbonTrace,
    intervals: &[CarbonInterval],
    runs: &[SimRun<'_>],
) -> String {
    let base = runs.first().map(|r| r.outcome);
    let policies = runs
        .iter()
        .map(|run| PolicyDoc {
            policy: run.policy,
            time_s: run.outcome.time_s,
            energy_j: run.outcome.energy_j,
            carbon_g: run.outcome.carbon_g,
            carbon_change_pct: base.map_or(0.0, |b| pct(run.outcome.carbon_g, b.carbon_g)),
            time_change_pct: base.map_or(0.0, |b| pct(run.outcome.time_s, b.time_s)),
            energy_change_pct: base.map_or(0.0, |b| pct(run.outcome.energy_j, b.energy_j)),
            intervals: run
                .outcome
                .intervals
                .iter()
                .filter_map(|o| {
                    let slot = intervals.get(o.interval)?;
                    let row = header.start + o.interval;
                    Some(IntervalDoc {
                        slot: row,
                        timestamp: trace
                            .records()
                            .get(row)
                            .map_or("", |r| r.timestamp.as_str()),
                        actual: slot.actual_g_per_kwh,
                        forecast: slot.forecast_g_per_kwh,
                        choice: run.labels.get(o.point).map_or("", String::as_str),
                        units: o.units,
                        time_s: o.time_s,
                        energy_j: o.energy_j,
                        carbon_g: o.carbon_g,
                    })
                })
                .collect(),
        })
        .collect();
    to_json(&SimDoc {
        format: SIM_FORMAT,
        header,
        baseline: runs.first().map_or("", |r| r.policy),
        policies,
    })
}

#[derive(Deserialize)]
struct FrontierIn {
    #[serde(default)]
    num_stages: Option<u32>,
    points: Vec<FrontierPointIn>,
}

#[derive(Deserialize)]
struct FrontierPointIn {
    time_s: f64,
    energy_j: f64,
}

/// The points of an `ergon-frontier/v1` document (what `ergon frontier --json` writes) as
/// operating points of one iteration, and its `num_stages` (GPUs of the pipeline) if given.
/// Errors: another schema, no point, more than [`MAX_POINTS`] points, a point whose time is not
/// finite and > 0 or whose energy is not finite and ≥ 0 (named by its index).
pub fn parse_frontier_points(
    text: &str,
) -> Result<(Vec<OperatingPoint>, Option<u32>), FormatError> {
    let doc: FrontierIn = parse_document(text, FRONTIER_SCHEMA)?;
    if doc.points.is_empty() {
        return Err(FormatError::field("points", "the frontier has no point"));
    }
    if doc.points.len() > MAX_POINTS {
        return Err(FormatError::field(
            "points",
            alloc::format!(
                "{} points, more than the limit of {MAX_POINTS}",
                doc.points.len()
            ),
        ));
    }
    let mut points = Vec::with_capacity(doc.points.len());
    for (i, p) in doc.points.iter().enumerate() {
        if !(p.time_s.is_finite() && p.time_s > 0.0) {
            return Err(FormatError::field(
                alloc::format!("points[{i}].time_s"),
                "need a finite number > 0",
            ));
        }
        if !(p.energy_j.is_finite() && p.energy_j >= 0.0) {
            return Err(FormatError::field(
                alloc::format!("points[{i}].energy_j"),
                "need a finite number >= 0",
            ));
        }
        points.push(OperatingPoint {
            time_per_unit_s: p.time_s,
            energy_per_unit_j: p.energy_j,
        });
    }
    Ok((points, doc.num_stages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chase::parse_carbon_csv;
    use alloc::string::ToString;

    #[test]
    fn forecast_document_shape() {
        let trace = parse_carbon_csv(
            "location,timestamp,duration,value,hist\nR,t0,30,1,600\nR,t1,30,1,610\nR,t2,30,1,590\n",
        )
        .unwrap();
        let json = forecast_json(&trace, 2, 2, ForecastMethod::Persistence, &[610.0]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["format"], "chase-forecast/v1");
        assert_eq!(v["forecasts"][0]["timestamp"], "t2");
        assert_eq!(v["forecasts"][0]["actual"], 590.0);
        assert_eq!(v["mae"], 20.0);
    }

    #[test]
    fn frontier_points_read_and_checked() {
        let ok = r#"{"schema":"ergon-frontier/v1","num_stages":4,"points":[{"time_s":0.9,"energy_j":100.0,"quanta":9},{"time_s":0.7,"energy_j":130.0}]}"#;
        let (points, stages) = parse_frontier_points(ok).unwrap();
        assert_eq!(stages, Some(4));
        assert_eq!(points[1].time_per_unit_s, 0.7);
        let bad = r#"{"schema":"ergon-frontier/v1","points":[{"time_s":0.0,"energy_j":1.0}]}"#;
        assert_eq!(
            parse_frontier_points(bad).unwrap_err().to_string(),
            "field `points[0].time_s`: need a finite number > 0"
        );
        let other = r#"{"schema":"ergon-plan/v1","points":[]}"#;
        assert!(matches!(
            parse_frontier_points(other),
            Err(FormatError::Schema { .. })
        ));
        let empty = r#"{"schema":"ergon-frontier/v1","points":[]}"#;
        assert!(parse_frontier_points(empty).is_err());
    }
}
