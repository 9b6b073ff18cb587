//! `ergon chase`: carbon-intensity forecasts over a carbon trace (`forecast`), and Chase's
//! carbon-aware power-limit control replayed over it against the baselines (`simulate`; with
//! `--frontier`, carbon-aware Perseus against Chase's power-limit-only control).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use ergon_core::chase::formats::{
    SimHeader, SimRun, forecast_json, parse_frontier_points, sim_json,
};
use ergon_core::chase::{
    CarbonInterval, CarbonTrace, ChaseParams, DEFAULT_MAX_CI_G_PER_KWH, ForecastMethod,
    OperatingPoint, Policy, REFERENCE_HISTORY, RunOutcome, carbon_aware_perseus, fastest_point,
    forecast_series, mean_absolute_error, parse_carbon_csv, power_limit_scales, run_job,
    zeus_choice,
};
use ergon_core::perseus::{
    self,
    formats::{INSTANCE_SCHEMA, parse_instance},
};
use ergon_core::zeus::Eta;
use ergon_core::zeus::trace::{PowerTrace, TrainTrace, WorkloadTrace, workload};
use ergon_plot::{Bounds, Corner, Figure, Frame, Legend, Panel, Rgb, Series};

use crate::output;

/// Arguments of `ergon chase`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One-step-ahead forecasts of a carbon trace's `hist` column from a start slot on, each
    /// made only from the slots before it, and their mean absolute error.
    Forecast(ForecastArgs),
    /// Replay a training job over the carbon trace from the start slot: Chase choosing the
    /// power limit every slot from the forecast, against the maximum power limit and Zeus's
    /// energy/time choice (and, with --frontier, carbon-aware Perseus).
    Simulate(SimulateArgs),
}

/// The forecaster's choice on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Method {
    /// ½ persistence + ½ the LS-SVM (the default).
    Ergon,
    /// The previous slot's intensity.
    Persistence,
    /// The reference SVR's features and hyper-parameters as a least-squares SVM.
    SvrLike,
}

impl From<Method> for ForecastMethod {
    fn from(m: Method) -> Self {
        match m {
            Method::Ergon => ForecastMethod::Ergon,
            Method::Persistence => ForecastMethod::Persistence,
            Method::SvrLike => ForecastMethod::SvrLike,
        }
    }
}

/// Where the forecasts come from: the trace, the window, the method.
#[derive(clap::Args)]
struct ForecastSource {
    /// Carbon trace CSV (`location,timestamp,duration,value,hist`, as Chase's carbon_hist.csv).
    #[arg(long, value_name = "CARBON.csv")]
    carbon: PathBuf,
    /// Training window: slots before the start the model is trained on.
    #[arg(long, value_name = "SLOTS", default_value_t = REFERENCE_HISTORY)]
    history: usize,
    /// First slot (0-based row) forecast.
    #[arg(long, value_name = "SLOT", default_value_t = REFERENCE_HISTORY)]
    start: usize,
    /// Forecasting method.
    #[arg(long, value_enum, default_value = "ergon")]
    method: Method,
}

#[derive(clap::Args)]
struct ForecastArgs {
    #[command(flatten)]
    source: ForecastSource,
    /// Print `chase-forecast/v1` JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `ergon chase`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Forecast(a) => forecast_cmd(a),
        Cmd::Simulate(a) => simulate_cmd(a),
    }
}

/// Reads and parses a carbon trace; errors name the file (and the parser its line and column).
fn read_carbon(path: &Path) -> Result<CarbonTrace> {
    let text = output::read_text(path)?;
    parse_carbon_csv(&text).with_context(|| format!("{}", path.display()))
}

/// The trace, and the forecasts of its rows from `start` on.
fn load_forecasts(s: &ForecastSource) -> Result<(CarbonTrace, Vec<f64>)> {
    let trace = read_carbon(&s.carbon)?;
    let forecasts = forecast_series(
        &trace.hist_g_per_kwh(),
        s.history,
        s.start,
        trace.slots_per_day(),
        s.method.into(),
    )
    .with_context(|| format!("forecasting {}", s.carbon.display()))?;
    Ok((trace, forecasts))
}

fn forecast_cmd(a: ForecastArgs) -> Result<()> {
    let (trace, forecasts) = load_forecasts(&a.source)?;
    let s = &a.source;
    let method: ForecastMethod = s.method.into();
    let mut out = output::stdout();
    if a.json {
        writeln!(
            out,
            "{}",
            forecast_json(&trace, s.history, s.start, method, &forecasts)
        )?;
        return Ok(());
    }
    let hist = trace.hist_g_per_kwh();
    let actual = &hist[s.start..];
    writeln!(
        out,
        "{} slots of {} min from slot {} ({}), method {}, trained on the {} slots before",
        forecasts.len(),
        trace.interval_min(),
        s.start,
        trace.records()[s.start].timestamp,
        method.name(),
        s.history
    )?;
    writeln!(
        out,
        "{:>5}  {:<26} {:>9} {:>9} {:>8}",
        "slot", "timestamp", "forecast", "actual", "error"
    )?;
    for (i, (f, a)) in forecasts.iter().zip(actual).enumerate() {
        writeln!(
            out,
            "{:>5}  {:<26} {:>9.2} {:>9.2} {:>+8.2}",
            s.start + i,
            trace.records()[s.start + i].timestamp,
            f,
            a,
            f - a
        )?;
    }
    writeln!(out, "mean absolute error, gCO2/kWh:")?;
    for m in ForecastMethod::ALL {
        let f = forecast_series(&hist, s.history, s.start, trace.slots_per_day(), m)?;
        writeln!(
            out,
            "  {:<12} {:.3}{}",
            m.name(),
            mean_absolute_error(&f, actual),
            if m == method { "  (shown above)" } else { "" }
        )?;
    }
    Ok(())
}

#[derive(clap::Args)]
struct SimulateArgs {
    #[command(flatten)]
    source: ForecastSource,
    /// Zeus train trace (summary_train.csv): the epochs the job runs are the mean target epoch
    /// of the batch size's training paths that reach the target (unless --epochs is given).
    #[arg(long, value_name = "TRAIN.csv")]
    train: PathBuf,
    /// Zeus power trace of one GPU (`summary_power_<gpu>.csv`): time per epoch and average power
    /// at each power limit.
    #[arg(long, value_name = "POWER.csv")]
    power: PathBuf,
    /// Workload (the dataset name of the Zeus traces, e.g. imagenet).
    #[arg(long, value_name = "DATASET", default_value = "imagenet")]
    workload: String,
    /// Batch size (default: the workload's default batch size).
    #[arg(long, value_name = "B")]
    batch_size: Option<u32>,
    /// Epochs the job runs (default: from the train trace, see --train).
    #[arg(long, value_name = "E", conflicts_with = "frontier")]
    epochs: Option<f64>,
    /// η: 0 weighs only time, 1 only carbon (energy for Zeus).
    #[arg(long, value_name = "E", default_value_t = 0.5)]
    eta: f64,
    /// MaxCI of Chase's cost, gCO2/kWh (the reference's default 750).
    #[arg(long, value_name = "G_PER_KWH", default_value_t = DEFAULT_MAX_CI_G_PER_KWH)]
    max_ci: f64,
    /// The largest power limit of one GPU, W, for the cost's MaxPL (default: the power
    /// trace's largest limit of the workload).
    #[arg(long, value_name = "W")]
    max_power_limit: Option<f64>,
    /// Carbon-aware Perseus: an `ergon-frontier/v1` file (what `ergon frontier --json` writes)
    /// or a `perseus-instance/v1` file (solved here, which also gives the all-max-clock
    /// iteration's energy). The job is then --iterations iterations of that pipeline on
    /// `num_stages` GPUs; see docs/chase.md for how a power limit and a frontier point are put
    /// on the same job.
    #[arg(long, value_name = "FILE", requires = "iterations")]
    frontier: Option<PathBuf>,
    /// Iterations of the pipeline (with --frontier).
    #[arg(long, value_name = "N", requires = "frontier")]
    iterations: Option<f64>,
    /// Print `chase-sim/v1` JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also plot the intensity and each policy's cumulative emissions to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// The power limits of one workload and batch size, highest first (Chase's profiling order;
/// the first of equal costs is the higher limit, as in Zeus), as operating points of one
/// epoch; the mean epochs to reach the target; and a description.
struct JobProfile {
    limits_w: Vec<u32>,
    points: Vec<OperatingPoint>,
    zeus_index: usize,
    epochs_to_target: Option<f64>,
    workload: String,
}

fn load_profile(a: &SimulateArgs, eta: Eta) -> Result<JobProfile> {
    let spec = workload(&a.workload)?;
    let train = TrainTrace::parse(&output::read_text(&a.train)?)
        .with_context(|| format!("{}", a.train.display()))?;
    let power = PowerTrace::parse(&output::read_text(&a.power)?)
        .with_context(|| format!("{}", a.power.display()))?;
    let wt = WorkloadTrace::new(spec, &train, &power)?;
    let batch_size = a.batch_size.unwrap_or(wt.default_batch_size);
    let b = wt.index_of(batch_size).with_context(|| {
        format!(
            "batch size {batch_size} is not in the traces of {} (batch sizes: {:?})",
            a.workload, wt.batch_sizes
        )
    })?;
    let n = wt.power_limits_w.len();
    // Ascending in the trace; highest first here.
    let limits_w: Vec<u32> = wt.power_limits_w.iter().rev().copied().collect();
    let points = wt.profiles[b]
        .iter()
        .rev()
        .map(|p| OperatingPoint {
            time_per_unit_s: p.time_per_epoch_s,
            energy_per_unit_j: p.energy_per_epoch_j(),
        })
        .collect();
    let zeus_index = n - 1 - wt.power_limit_choice(b, eta);
    let budget = f64::from(spec.max_epochs);
    let reaching: Vec<f64> = wt.paths[b]
        .iter()
        .filter(|e| WorkloadTrace::reaches(**e, budget))
        .flatten()
        .copied()
        .collect();
    let epochs_to_target =
        (!reaching.is_empty()).then(|| reaching.iter().sum::<f64>() / reaching.len() as f64);
    Ok(JobProfile {
        limits_w,
        points,
        zeus_index,
        epochs_to_target,
        workload: format!(
            "{}/{} batch size {batch_size} ({})",
            spec.dataset,
            spec.network,
            a.power
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
        ),
    })
}

/// One replayed policy, its point labels, and its name.
struct Replay {
    policy: &'static str,
    outcome: RunOutcome,
    labels: Vec<String>,
}

fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let eta = Eta::new(a.eta)?;
    let (trace, forecasts) = load_forecasts(&a.source)?;
    let s = &a.source;
    let job = load_profile(&a, eta)?;
    let slot_s = trace.interval_min() * 60.0;
    let intervals: Vec<CarbonInterval> = trace.records()[s.start..]
        .iter()
        .zip(&forecasts)
        .map(|(r, &f)| CarbonInterval {
            duration_s: slot_s,
            actual_g_per_kwh: r.hist_g_per_kwh,
            forecast_g_per_kwh: f,
        })
        .collect();
    let max_pl_w = a
        .max_power_limit
        .unwrap_or_else(|| f64::from(job.limits_w.first().copied().unwrap_or(0)));
    let pl_labels: Vec<String> = job.limits_w.iter().map(|w| format!("{w} W")).collect();

    let (unit, job_units, gpus, replays) = match (&a.frontier, a.iterations) {
        (Some(path), Some(iterations)) => {
            let pipeline = load_pipeline(path)?;
            let gpus = pipeline.gpus;
            let frontier = pipeline.points;
            let params = ChaseParams::new(eta, max_pl_w, a.max_ci, gpus)?;
            let by_limit: Vec<(f64, OperatingPoint)> = job
                .limits_w
                .iter()
                .map(|w| f64::from(*w))
                .zip(job.points.iter().copied())
                .collect();
            let scales = power_limit_scales(&by_limit)?;
            let cmp = carbon_aware_perseus(
                &frontier,
                pipeline.max_power,
                &scales,
                &intervals,
                iterations,
                &params,
            )
            .context("carbon-aware Perseus")?;
            let mut labels: Vec<String> = cmp.candidates[..cmp.frontier_points]
                .iter()
                .map(|p| format!("frontier {:.4} s", p.time_per_unit_s))
                .collect();
            labels.extend(pl_labels.iter().cloned());
            let limits = &cmp.candidates[cmp.frontier_points..];
            let zeus = zeus_choice(limits, &params).unwrap_or(0);
            let fixed = |policy, i| -> Result<Replay> {
                let mut outcome =
                    run_job(limits, &intervals, iterations, Policy::Fixed(i), &params)
                        .with_context(|| format!("policy {policy}"))?;
                for o in &mut outcome.intervals {
                    o.point += cmp.frontier_points;
                }
                Ok(Replay {
                    policy,
                    outcome,
                    labels: labels.clone(),
                })
            };
            let replays = vec![
                fixed("max-power", 0)?,
                fixed("zeus", zeus)?,
                Replay {
                    policy: "chase",
                    outcome: cmp.power_limit_only.clone(),
                    labels: labels.clone(),
                },
                Replay {
                    policy: "perseus-chase",
                    outcome: cmp.carbon_aware.clone(),
                    labels,
                },
            ];
            ("iteration", iterations, gpus, replays)
        }
        _ => {
            let epochs = match (a.epochs, job.epochs_to_target) {
                (Some(e), _) => e,
                (None, Some(e)) => e,
                (None, None) => anyhow::bail!(
                    "no training path of {} reaches the target; give --epochs",
                    job.workload
                ),
            };
            let params = ChaseParams::new(eta, max_pl_w, a.max_ci, 1)?;
            let run = |policy, p| -> Result<Replay> {
                Ok(Replay {
                    policy,
                    outcome: run_job(&job.points, &intervals, epochs, p, &params)
                        .with_context(|| format!("policy {policy}"))?,
                    labels: pl_labels.clone(),
                })
            };
            let replays = vec![
                run("max-power", Policy::Fixed(0))?,
                run("zeus", Policy::Fixed(job.zeus_index))?,
                run("chase", Policy::Chase)?,
                run("chase-oracle", Policy::ChaseOracle)?,
            ];
            ("epoch", epochs, 1, replays)
        }
    };

    // The forecaster's error over the slots the Chase run used.
    let chase = replays.iter().find(|r| r.policy == "chase");
    let used = chase.map_or(0, |r| r.outcome.intervals.len());
    let actual: Vec<f64> = intervals[..used]
        .iter()
        .map(|i| i.actual_g_per_kwh)
        .collect();
    let header = SimHeader {
        workload: job.workload.clone(),
        unit: unit.into(),
        job_units,
        eta: eta.get(),
        max_power_limit_w: max_pl_w,
        max_ci_g_per_kwh: a.max_ci,
        gpus,
        method: ForecastMethod::from(s.method).name().into(),
        history: s.history,
        start: s.start,
        forecast_mae: mean_absolute_error(&forecasts[..used], &actual),
    };
    if let Some(path) = &a.svg {
        output::write_file(
            path,
            sim_figure(&replays, &intervals, slot_s)
                .to_svg()?
                .as_bytes(),
        )?;
    }
    let mut out = output::stdout();
    if a.json {
        let runs: Vec<SimRun<'_>> = replays
            .iter()
            .map(|r| SimRun {
                policy: r.policy,
                outcome: &r.outcome,
                labels: &r.labels,
            })
            .collect();
        writeln!(out, "{}", sim_json(&header, &trace, &intervals, &runs))?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: {:.2} {}s from slot {} ({}), η {}, MaxPL {} W, MaxCI {} gCO2/kWh, N {}; forecast {} (MAE {:.2} gCO2/kWh over the job)",
        header.workload,
        job_units,
        unit,
        s.start,
        trace.records()[s.start].timestamp,
        header.eta,
        max_pl_w,
        a.max_ci,
        gpus,
        header.method,
        header.forecast_mae
    )?;
    writeln!(
        out,
        "{:<14} {:>10} {:>12} {:>11} {:>9} {:>9} {:>9}  choices (slots)",
        "policy", "time h", "energy kWh", "carbon kg", "carbon %", "time %", "energy %"
    )?;
    let base = &replays[0].outcome;
    for r in &replays {
        let o = &r.outcome;
        let pct = |x: f64, b: f64| 100.0 * (x - b) / b;
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for i in &o.intervals {
            match counts.iter_mut().find(|(p, _)| *p == i.point) {
                Some((_, c)) => *c += 1,
                None => counts.push((i.point, 1)),
            }
        }
        counts.sort_unstable();
        let choices: Vec<String> = counts
            .iter()
            .map(|(p, c)| format!("{}×{c}", r.labels.get(*p).map_or("?", String::as_str)))
            .collect();
        writeln!(
            out,
            "{:<14} {:>10.2} {:>12.2} {:>11.3} {:>+9.2} {:>+9.2} {:>+9.2}  {}",
            r.policy,
            o.time_s / 3600.0,
            o.energy_j / 3.6e6,
            o.carbon_g / 1000.0,
            pct(o.carbon_g, base.carbon_g),
            pct(o.time_s, base.time_s),
            pct(o.energy_j, base.energy_j),
            choices.join(", ")
        )?;
    }
    Ok(())
}

/// Two panels: the intensity (actual and forecast) over the job's slots, and each policy's
/// cumulative emissions against elapsed time.
fn sim_figure(replays: &[Replay], intervals: &[CarbonInterval], slot_s: f64) -> Figure {
    const COLORS: [Rgb; 5] = [
        Rgb(200, 0, 0),
        Rgb(0, 120, 0),
        Rgb(0, 0, 220),
        Rgb(200, 0, 200),
        Rgb(120, 120, 120),
    ];
    let used = replays
        .iter()
        .map(|r| r.outcome.intervals.len())
        .max()
        .unwrap_or(0)
        .min(intervals.len());
    let hours = |i: usize| i as f64 * slot_s / 3600.0;
    let actual: Vec<(f64, f64)> = (0..used)
        .map(|i| (hours(i), intervals[i].actual_g_per_kwh))
        .collect();
    let forecast: Vec<(f64, f64)> = (0..used)
        .map(|i| (hours(i), intervals[i].forecast_g_per_kwh))
        .collect();
    let ci_bounds = Bounds::of(actual.iter().chain(&forecast).copied());
    let mut carbon_series = Vec::new();
    let mut all = Vec::new();
    for (r, color) in replays.iter().zip(COLORS.iter().cycle()) {
        let mut t_h = 0.0;
        let mut kg = 0.0;
        let mut pts = vec![(0.0, 0.0)];
        for o in &r.outcome.intervals {
            t_h += o.time_s / 3600.0;
            kg += o.carbon_g / 1000.0;
            pts.push((t_h, kg));
        }
        all.extend(pts.iter().copied());
        carbon_series.push(Series::line(r.policy, *color, 2).with_points(pts));
    }
    let range = |b: Option<Bounds>| {
        let b = b.unwrap_or(Bounds {
            x_min: 0.0,
            x_max: 1.0,
            y_min: 0.0,
            y_max: 1.0,
        });
        let dx = ((b.x_max - b.x_min) * 0.03).max(1e-6);
        let dy = ((b.y_max - b.y_min) * 0.08).max(1e-6);
        (
            (b.x_min - dx)..(b.x_max + dx),
            (b.y_min - dy)..(b.y_max + dy),
        )
    };
    let (ci_x, ci_y) = range(ci_bounds);
    let (c_x, c_y) = range(Bounds::of(all));
    Figure {
        width_px: 1400,
        height_px: 560,
        frame: Frame {
            title_px: 22,
            margin_px: 16,
            x_label_area_px: 48,
            y_label_area_px: 72,
        },
        panels: vec![
            Panel {
                title: "carbon intensity over the job".into(),
                x_desc: "hours from the start slot".into(),
                y_desc: "gCO2/kWh".into(),
                x_range: ci_x,
                y_range: ci_y,
                series: vec![
                    Series::line("actual (hist)", Rgb(0, 0, 0), 2).with_points(actual),
                    Series::line("forecast", Rgb(255, 140, 0), 2).with_points(forecast),
                ],
            },
            Panel {
                title: "cumulative emissions".into(),
                x_desc: "hours from the start slot".into(),
                y_desc: "kgCO2".into(),
                x_range: c_x,
                y_range: c_y,
                series: carbon_series,
            },
        ],
        legend: Legend::Inside(Corner::UpperLeft),
    }
}

/// A Perseus pipeline for carbon-aware Perseus: its frontier points (one iteration each), the
/// iteration at the maximum power limit, and its GPU count.
struct Pipeline {
    points: Vec<OperatingPoint>,
    max_power: OperatingPoint,
    gpus: u32,
}

/// Reads `--frontier`: an `ergon-frontier/v1` document (the maximum-power iteration is then
/// the fastest point, T_min, as the frontier carries no baseline energy) or a
/// `perseus-instance/v1` document, solved here (the maximum-power iteration is Perseus's
/// all-at-the-fastest-clock baseline).
fn load_pipeline(path: &Path) -> Result<Pipeline> {
    let text = output::read_text(path)?;
    let schema = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_owned));
    let on = || format!("{}", path.display());
    if schema.as_deref() == Some(INSTANCE_SCHEMA) {
        let problem = parse_instance(&text).with_context(on)?;
        let f = perseus::solve(&problem).with_context(on)?;
        let points: Vec<OperatingPoint> = std::iter::once(&f.start)
            .chain(&f.points)
            .map(|p| OperatingPoint {
                time_per_unit_s: p.time_s,
                energy_per_unit_j: p.energy_j,
            })
            .collect();
        let fastest = f.point(f.fastest()).unwrap_or(&f.start);
        return Ok(Pipeline {
            points,
            max_power: OperatingPoint {
                time_per_unit_s: fastest.time_s,
                energy_per_unit_j: f.baseline_energy_j(),
            },
            gpus: f.num_stages.max(1),
        });
    }
    let (points, stages) = parse_frontier_points(&text).with_context(on)?;
    let max_power = fastest_point(&points).context("the frontier has no point")?;
    Ok(Pipeline {
        points,
        max_power,
        gpus: stages.unwrap_or(1).max(1),
    })
}
