//! `ergon zeus`: the Zeus trace-driven tools (docs/zeus.md). `optimum` prints, for each batch
//! size of a workload, the power limit the just-in-time optimizer picks and the expected
//! time/energy/cost to reach the target, and the optimum (`zeus-optimum/v1` with `--json`);
//! `simulate` replays recurrences of the workload under Zeus or a baseline (`zeus-sim/v1`).
//!
//! Both read the NSDI'23 train trace and a power trace of any GPU in the upstream CSV format;
//! batch sizes and power limits come from the traces.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::{Subcommand, ValueEnum};
use ergon_core::zeus::formats::{optimum_json, sim_json};
use ergon_core::zeus::sim::{Policy, SimConfig, SimResult, simulate};
use ergon_core::zeus::trace::{PowerTrace, TrainTrace, WorkloadTrace, workload};
use ergon_core::zeus::{DEFAULT_BETA, Eta, ZeusError};
use ergon_plot::{Corner, Figure, Frame, Legend, Panel, Rgb, Series};

use crate::output;

/// Arguments of `ergon zeus`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Per batch size: the power limit Zeus picks and the expected time, energy and cost to
    /// reach the target; and the optimum over batch sizes that always reach it.
    Optimum(OptimumArgs),
    /// Replay recurrences of a workload under Zeus or a baseline and print per-recurrence and
    /// cumulative energy, time and cost.
    Simulate(SimulateArgs),
}

/// The traces and the workload, shared by both commands.
#[derive(clap::Args)]
struct Inputs {
    /// Train trace CSV (dataset,network,batch_size,optimizer,...,target_metric,target_epoch).
    #[arg(long, value_name = "TRAIN.csv")]
    train: PathBuf,
    /// Power trace CSV of one GPU (dataset,network,batch_size,optimizer,power_limit,
    /// time_per_epoch,average_power).
    #[arg(long, value_name = "POWER.csv")]
    power: PathBuf,
    /// Workload (dataset): cifar100, imagenet, squad, librispeech, movielens-1m, sentiment140.
    #[arg(long, value_name = "DATASET")]
    workload: String,
    /// Energy/time knob η in [0, 1] (1: only energy counts, 0: only time).
    #[arg(long, value_name = "E", default_value_t = 0.5)]
    eta: f64,
}

impl Inputs {
    fn load(&self) -> Result<(WorkloadTrace, Eta)> {
        let eta = Eta::new(self.eta)?;
        let spec = workload(&self.workload)?;
        let train = TrainTrace::parse(&output::read_text(&self.train)?)
            .map_err(|e| anyhow!("{}: {e}", self.train.display()))?;
        let power = PowerTrace::parse(&output::read_text(&self.power)?)
            .map_err(|e| anyhow!("{}: {e}", self.power.display()))?;
        let trace = WorkloadTrace::new(spec, &train, &power).map_err(|e| match e {
            // A gap in the power trace is that file's fault.
            ZeusError::MissingPowerLimits { .. } | ZeusError::DefaultNotInTraces { .. } => {
                anyhow!("{}: {e}", self.power.display())
            }
            e => anyhow!("{} + {}: {e}", self.train.display(), self.power.display()),
        })?;
        Ok((trace, eta))
    }
}

#[derive(clap::Args)]
struct OptimumArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Print `zeus-optimum/v1` JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum PolicyArg {
    /// Zeus: pruning exploration + Thompson sampling over batch sizes, JIT power limit.
    Zeus,
    /// The default batch size at the maximum power limit.
    Default,
    /// The feasible batch size and power limit of lowest expected cost, every time.
    Oracle,
}

#[derive(clap::Args)]
struct SimulateArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Recurrences of the job [default: the artifact's 2 × |batch sizes| × |power limits|].
    #[arg(long, value_name = "N")]
    recurrences: Option<u32>,
    /// Seed of the path sampling and the Thompson sampling.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Early-stopping multiplier β (≥ 1; `inf` disables early stopping).
    #[arg(long, value_name = "B", default_value_t = DEFAULT_BETA)]
    beta: f64,
    /// Which policy chooses batch size and power limit.
    #[arg(long, value_enum, default_value = "zeus")]
    policy: PolicyArg,
    /// Print `zeus-sim/v1` JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also plot per-recurrence and cumulative cost (with energy and time) to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// Runs `ergon zeus`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Optimum(a) => optimum_cmd(&a),
        Cmd::Simulate(a) => simulate_cmd(&a),
    }
}

fn optimum_cmd(a: &OptimumArgs) -> Result<()> {
    let (trace, eta) = a.inputs.load()?;
    let choices = trace.choices(eta);
    let mut out = output::stdout();
    if a.json {
        writeln!(out, "{}", optimum_json(&trace, eta, &choices))?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: eta {}, max power {} W, default batch size {}, power limits {:?} W",
        trace.spec.dataset,
        eta.get(),
        trace.max_power_w,
        trace.default_batch_size,
        trace.power_limits_w
    )?;
    writeln!(
        out,
        "{:>10} {:>8} {:>8} {:>7} {:>12} {:>14} {:>14}",
        "batch size", "PL (W)", "feasible", "paths", "time (s)", "energy (J)", "cost (J)"
    )?;
    let opt = WorkloadTrace::optimum(&choices);
    for c in &choices {
        let num = |v: Option<f64>, w: usize| match v {
            Some(v) => format!("{v:>w$.1}"),
            None => format!("{:>w$}", "-"),
        };
        writeln!(
            out,
            "{:>10} {:>8} {:>8} {:>7} {} {} {}{}",
            c.batch_size,
            c.power_limit_w,
            if c.feasible { "yes" } else { "no" },
            format!("{}/{}", c.reaching_paths, c.paths),
            num(c.time_s, 12),
            num(c.energy_j, 14),
            num(c.cost, 14),
            if opt.is_some_and(|o| o.batch_size == c.batch_size) {
                "  <- optimum"
            } else {
                ""
            }
        )?;
    }
    match opt {
        Some(o) => writeln!(
            out,
            "optimum: batch size {} at {} W: {:.1} s, {:.1} J, cost {:.1} J",
            o.batch_size,
            o.power_limit_w,
            o.time_s.unwrap_or(f64::NAN),
            o.energy_j.unwrap_or(f64::NAN),
            o.cost.unwrap_or(f64::NAN)
        )?,
        None => writeln!(
            out,
            "optimum: none (no batch size reaches the target on every path)"
        )?,
    }
    Ok(())
}

fn simulate_cmd(a: &SimulateArgs) -> Result<()> {
    let (trace, eta) = a.inputs.load()?;
    let cfg = SimConfig {
        eta,
        beta: a.beta,
        recurrences: a.recurrences.unwrap_or_else(|| trace.recurrences()),
        seed: a.seed,
        policy: match a.policy {
            PolicyArg::Zeus => Policy::Zeus,
            PolicyArg::Default => Policy::Default,
            PolicyArg::Oracle => Policy::Oracle,
        },
    };
    let result = simulate(&trace, &cfg).context("simulation failed")?;
    if let Some(path) = &a.svg {
        sim_svg(&trace, &result, path)?;
    }
    let mut out = output::stdout();
    if a.json {
        writeln!(out, "{}", sim_json(&trace, eta, a.seed, &result))?;
        return Ok(());
    }
    writeln!(
        out,
        "{} under {}: {} recurrences, eta {}, beta {}, seed {}, max power {} W",
        trace.spec.dataset,
        result.policy.name(),
        cfg.recurrences,
        eta.get(),
        a.beta,
        a.seed,
        trace.max_power_w
    )?;
    writeln!(
        out,
        "{:>5} {:>10} {:>7} {:>8} {:>12} {:>14} {:>14} {:>16}",
        "rec",
        "batch size",
        "PL (W)",
        "attempts",
        "time (s)",
        "energy (J)",
        "cost (J)",
        "cumulative cost"
    )?;
    let mut cum = 0.0;
    for (i, r) in result.recurrences.iter().enumerate() {
        cum += r.cost;
        writeln!(
            out,
            "{:>5} {:>10} {:>7} {:>8} {:>12.1} {:>14.1} {:>14.1} {:>16.1}{}",
            i + 1,
            r.batch_size,
            r.power_limit_w,
            r.attempts,
            r.time_s,
            r.energy_j,
            r.cost,
            cum,
            if r.reached {
                ""
            } else {
                "  (target not reached)"
            }
        )?;
    }
    let c = result.cumulative;
    writeln!(
        out,
        "cumulative: {:.1} s, {:.1} J, cost {:.1} J",
        c.time_s, c.energy_j, c.cost
    )?;
    Ok(())
}

/// Three panels side by side: cost and energy per recurrence, cumulative cost, batch size.
fn sim_svg(trace: &WorkloadTrace, r: &SimResult, path: &Path) -> Result<()> {
    let xs = 1..=r.recurrences.len();
    let per = |f: &dyn Fn(&ergon_core::zeus::sim::Recurrence) -> f64| -> Vec<(f64, f64)> {
        xs.clone()
            .zip(&r.recurrences)
            .map(|(i, rec)| (i as f64, f(rec)))
            .collect()
    };
    let cost = per(&|x| x.cost);
    let energy = per(&|x| x.energy_j);
    let bs = per(&|x| f64::from(x.batch_size));
    let mut acc = 0.0;
    let cumulative: Vec<(f64, f64)> = cost
        .iter()
        .map(|&(i, c)| {
            acc += c;
            (i, acc)
        })
        .collect();
    let n = r.recurrences.len() as f64;
    // One panel over the recurrences 1..=n, from 0 to `y_max`.
    let panel = |title: String, y_desc: &str, y_max: f64, series: Vec<Series>| Panel {
        title,
        x_desc: "recurrence".into(),
        y_desc: y_desc.into(),
        x_range: 0.0..n + 1.0,
        y_range: 0.0..y_max,
        series,
    };
    let top = |s: &[(f64, f64)]| s.iter().map(|p| p.1).fold(0.0_f64, f64::max) * 1.08 + 1e-9;
    let title = format!("{} under {}", trace.spec.dataset, r.policy.name());
    let fig = Figure {
        width_px: 1500,
        height_px: 500,
        frame: Frame {
            title_px: 20,
            margin_px: 16,
            x_label_area_px: 44,
            y_label_area_px: 84,
        },
        panels: vec![
            panel(
                format!("{title}: cost and energy per recurrence"),
                "J",
                top(&cost).max(top(&energy)),
                vec![
                    Series::line("cost (J)", Rgb(0, 0, 200), 2).with_points(cost.clone()),
                    Series::line("energy (J)", Rgb(0, 150, 0), 2).with_points(energy),
                ],
            ),
            panel(
                format!("{title}: cumulative cost"),
                "J",
                top(&cumulative),
                vec![
                    Series::line("cumulative cost (J)", Rgb(200, 0, 0), 2).with_points(cumulative),
                ],
            ),
            panel(
                format!("{title}: batch size of each recurrence"),
                "batch size",
                top(&bs),
                vec![Series::line("batch size", Rgb(120, 0, 160), 2).with_points(bs)],
            ),
        ],
        legend: Legend::Inside(Corner::UpperRight),
    };
    output::write_file(path, fig.to_svg()?.as_bytes())
}
