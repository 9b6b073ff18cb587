//! `ergon orloj`: serving simulations of Orloj and the baselines (`simulate`), sweeps over
//! SLO tightness and execution-time variance with an SVG plot (`sweep`), and the built-in
//! configurations as `orloj-sim/v1` (`config`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Subcommand, ValueEnum};
use ergon_core::orloj::formats::{parse_sim, result_json, sim_json};
use ergon_core::orloj::sim::{PolicyResult, SimConfig, simulate};

use plotters::prelude::*;

use crate::output::{self, Stdout, StdoutError};

/// Arguments of `ergon orloj`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulate every policy of a configuration on one shared trace and print finish rates.
    Simulate(SimulateArgs),
    /// Finish rate of every policy against the SLO multiplier and against the CV of the
    /// execution times; tables and an SVG plot.
    Sweep(SweepArgs),
    /// Print a built-in configuration as `orloj-sim/v1` JSON (a starting point for --config).
    Config(ConfigArgs),
}

/// Built-in workloads.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mix {
    /// Early-exit (bimodal 6/20 ms, 30 % early) + variable-length (lognormal 30 ms, CV 1).
    HighVariance,
    /// The same two applications with constant times at their means (CV 0).
    Static,
}

#[derive(clap::Args)]
struct Workload {
    /// Configuration in `orloj-sim/v1` JSON (default: the built-in --mix).
    #[arg(long, value_name = "FILE.json", conflicts_with = "mix")]
    config: Option<PathBuf>,
    /// Built-in workload when no --config is given.
    #[arg(long, value_enum, default_value = "high-variance")]
    mix: Mix,
    /// Override the trace length, seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Override the seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the offered load (relative to the capacity one request at a time at the
    /// mean; batching makes loads above 1 servable).
    #[arg(long)]
    load: Option<f64>,
    /// Override the batch-size factors with `s(b) = 1 + STEP·(b − 1)` (same largest batch).
    #[arg(long, value_name = "STEP")]
    batch_step: Option<f64>,
    /// Override Orloj's drop floor: drop a request whose probability of finishing in time
    /// alone is below this.
    #[arg(long, value_name = "P")]
    p_min: Option<f64>,
    /// Only these policies (comma-separated, e.g. orloj,clockwork-p99).
    #[arg(long, value_delimiter = ',')]
    policies: Vec<String>,
}

#[derive(clap::Args)]
struct SimulateArgs {
    #[command(flatten)]
    workload: Workload,
    /// SLO of each application as a multiple of its mean time (built-in workloads only).
    #[arg(
        long,
        value_name = "M",
        default_value_t = 2.0,
        conflicts_with = "config"
    )]
    slo_multiplier: f64,
    /// Print `orloj-result/v1` JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    workload: Workload,
    /// SLO multipliers (each application's SLO = M × its mean time alone).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_delimiter = ',',
        default_value = "1.5,2,3,4,5"
    )]
    multipliers: Vec<f64>,
    /// Coefficients of variation for the variance sweep (every application lognormal at its
    /// mean).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_delimiter = ',',
        default_value = "0,0.25,0.5,1"
    )]
    cvs: Vec<f64>,
    /// SLO multiplier of the variance sweep.
    #[arg(long, value_name = "M", default_value_t = 2.0)]
    cv_slo_multiplier: f64,
    /// Where to write the plot.
    #[arg(long, value_name = "FILE", default_value = "orloj-sweep.svg")]
    svg: PathBuf,
    /// Do not write the plot.
    #[arg(long)]
    no_plot: bool,
    /// Print the tables as JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// Which built-in workload.
    #[arg(long, value_enum, default_value = "high-variance")]
    mix: Mix,
    /// SLO multiplier.
    #[arg(long, value_name = "M", default_value_t = 2.0)]
    slo_multiplier: f64,
}

/// Runs `ergon orloj`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Simulate(a) => simulate_cmd(a),
        Cmd::Sweep(a) => sweep_cmd(a),
        Cmd::Config(a) => {
            check_multiplier(a.slo_multiplier)?;
            let json = sim_json(&builtin(a.mix, a.slo_multiplier));
            writeln!(output::stdout(), "{json}")?;
            Ok(())
        }
    }
}

fn builtin(mix: Mix, m: f64) -> SimConfig {
    match mix {
        Mix::HighVariance => SimConfig::high_variance(m),
        Mix::Static => SimConfig::static_mix(m),
    }
}

fn check_multiplier(m: f64) -> Result<()> {
    if !(m.is_finite() && m > 0.0) {
        bail!("SLO multiplier {m} is not a positive finite number");
    }
    Ok(())
}

/// The workload's configuration, with overrides applied and validated.
fn load_config(w: &Workload, slo_multiplier: f64) -> Result<(SimConfig, bool)> {
    let (mut cfg, from_file) = match &w.config {
        Some(path) => {
            let text = crate::output::read_text(path)?;
            let cfg = parse_sim(&text).with_context(|| format!("in {}", path.display()))?;
            (cfg, true)
        }
        None => {
            check_multiplier(slo_multiplier)?;
            (builtin(w.mix, slo_multiplier), false)
        }
    };
    if let Some(d) = w.duration {
        cfg.duration_s = d;
    }
    if let Some(s) = w.seed {
        cfg.seed = s;
    }
    if let Some(l) = w.load {
        cfg = cfg.with_load(l);
    }
    if let Some(step) = w.batch_step {
        if !(step.is_finite() && step >= 0.0) {
            bail!("--batch-step {step} is not a finite non-negative number");
        }
        cfg.scale = ergon_core::orloj::BatchScale::linear(cfg.max_batch(), step);
    }
    if let Some(p) = w.p_min {
        cfg.p_min = p;
    }
    if !w.policies.is_empty() {
        cfg.policies = w
            .policies
            .iter()
            .map(|n| {
                ergon_core::orloj::sim::PolicySpec::parse(n).with_context(|| {
                    format!(
                        "unknown policy \"{n}\" (expected orloj, clockwork, nexus, clipper, edf or fifo, baselines optionally with -mean or -p99)"
                    )
                })
            })
            .collect::<Result<_>>()?;
    }
    cfg.validate().context("invalid configuration")?;
    Ok((cfg, from_file))
}

fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let mut out = output::stdout();
    let (cfg, _) = load_config(&a.workload, a.slo_multiplier)?;
    let results = simulate(&cfg).context("simulation failed")?;
    if a.json {
        writeln!(out, "{}", result_json(&results))?;
        return Ok(());
    }
    writeln!(
        out,
        "{} applications, {:.0} s, {:.0} requests/s offered ({:.0} % of {:.1}/s, the capacity one request at a time at the mean), batches ≤ {}",
        cfg.apps.len(),
        cfg.duration_s,
        cfg.arrivals.load() * cfg.capacity_per_s(),
        cfg.arrivals.load() * 100.0,
        cfg.capacity_per_s(),
        cfg.max_batch()
    )?;
    for app in &cfg.apps {
        writeln!(
            out,
            "  {:<20} share {:.2}  SLO {:.1} ms  {} (mean {:.1} ms)",
            app.name,
            app.share,
            app.slo_s * 1e3,
            app.exec.kind(),
            app.exec.mean_s() * 1e3
        )?;
    }
    writeln!(out)?;
    print_table(&mut out, &results)?;
    Ok(())
}

fn print_table(out: &mut Stdout, results: &[PolicyResult]) -> Result<(), StdoutError> {
    writeln!(
        out,
        "{:<15} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>7}",
        "policy", "arrived", "finished", "rate", "dropped", "late", "p99 ms", "batch"
    )?;
    for r in results {
        writeln!(
            out,
            "{:<15} {:>8} {:>8} {:>8.3} {:>8} {:>8} {:>10.2} {:>7.2}",
            r.policy,
            r.arrived,
            r.finished,
            r.finish_rate,
            r.dropped,
            r.late,
            r.p99_latency_s * 1e3,
            r.mean_batch_size
        )?;
    }
    Ok(())
}

/// One sweep: the x values and, per policy, the finish rates.
pub struct Sweep {
    /// What x is.
    pub x_label: &'static str,
    /// The x values.
    pub xs: Vec<f64>,
    /// Policy names.
    pub policies: Vec<String>,
    /// `rates[i][p]`: finish rate of policy p at xs[i].
    pub rates: Vec<Vec<f64>>,
}

impl Sweep {
    /// Orloj's finish rate over the best baseline's at row `i` (None without Orloj or
    /// baselines).
    fn gain(&self, i: usize) -> Option<f64> {
        let row = self.rates.get(i)?;
        let orloj = self.policies.iter().position(|p| p == "orloj")?;
        let best = self
            .policies
            .iter()
            .zip(row)
            .filter(|(p, _)| *p != "orloj")
            .map(|(_, &r)| r)
            .fold(f64::NAN, f64::max);
        if best.is_nan() {
            return None;
        }
        Some(row.get(orloj)? / best)
    }

    fn print(&self, out: &mut Stdout) -> Result<(), StdoutError> {
        write!(out, "{:>8}", self.x_label)?;
        for p in &self.policies {
            write!(out, " {:>13}", p)?;
        }
        writeln!(out, " {:>13}", "orloj/best")?;
        for (i, (x, row)) in self.xs.iter().zip(&self.rates).enumerate() {
            write!(out, "{x:>8.2}")?;
            for r in row {
                write!(out, " {r:>13.3}")?;
            }
            match self.gain(i) {
                Some(g) if g.is_finite() => writeln!(out, " {g:>12.2}×")?,
                _ => writeln!(out, " {:>13}", "-")?,
            }
        }
        Ok(())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "x": self.x_label,
            "xs": self.xs,
            "policies": self.policies,
            "finish_rates": self.rates,
        })
    }
}

fn run_sweep(
    base: &SimConfig,
    x_label: &'static str,
    xs: &[f64],
    at: impl Fn(&SimConfig, f64) -> SimConfig,
) -> Result<Sweep> {
    let mut rates = Vec::new();
    let policies: Vec<String> = base.policies.iter().map(|p| p.name().to_string()).collect();
    for &x in xs {
        let cfg = at(base, x);
        let results =
            simulate(&cfg).with_context(|| format!("simulation at {x_label} = {x} failed"))?;
        rates.push(results.iter().map(|r| r.finish_rate).collect());
    }
    Ok(Sweep {
        x_label,
        xs: xs.to_vec(),
        policies,
        rates,
    })
}

fn sweep_cmd(a: SweepArgs) -> Result<()> {
    let mut out = output::stdout();
    if a.multipliers.is_empty() && a.cvs.is_empty() {
        bail!("nothing to sweep: give --multipliers or --cvs");
    }
    for &m in a
        .multipliers
        .iter()
        .chain(std::iter::once(&a.cv_slo_multiplier))
    {
        check_multiplier(m)?;
    }
    for &cv in &a.cvs {
        if !(cv.is_finite() && (0.0..=100.0).contains(&cv)) {
            bail!("CV {cv} is not a finite number in [0, 100]");
        }
    }
    let (base, _) = load_config(&a.workload, 2.0)?;
    let slo = run_sweep(&base, "slo_x", &a.multipliers, |c, m| {
        c.clone().with_slo_multiplier(m)
    })?;
    let cv_m = a.cv_slo_multiplier;
    let var = run_sweep(&base, "cv", &a.cvs, |c, cv| {
        c.clone().with_cv(cv).with_slo_multiplier(cv_m)
    })?;
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"slo_sweep": slo.json(), "cv_sweep": var.json()})
        )?;
    } else {
        if !slo.xs.is_empty() {
            writeln!(
                out,
                "finish rate vs SLO multiplier (SLO = M × mean time alone):"
            )?;
            slo.print(&mut out)?;
            writeln!(out)?;
        }
        if !var.xs.is_empty() {
            writeln!(
                out,
                "finish rate vs coefficient of variation (lognormal at each mean, SLO = {cv_m} × mean):"
            )?;
            var.print(&mut out)?;
        }
    }
    if !a.no_plot {
        sweep_svg(&slo, &var, &a.svg).with_context(|| format!("writing {}", a.svg.display()))?;
        note!("plot written to {}", a.svg.display());
    }
    Ok(())
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(174, 199, 232),
    RGBColor(44, 160, 44),
    RGBColor(152, 223, 138),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(197, 176, 213),
    RGBColor(140, 86, 75),
    RGBColor(196, 156, 148),
];

/// Finish rate against the SLO multiplier (left) and the CV (right), one line per policy;
/// Orloj drawn thick.
fn sweep_svg(slo: &Sweep, var: &Sweep, path: &Path) -> Result<()> {
    // Drawn in memory, then written in one go: a failure leaves no half-drawn file.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 560)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<std::io::Error>| anyhow!("{e}");
        root.fill(&WHITE).map_err(err)?;
        let (charts, legend) = root.split_vertically(510);
        let panels = charts.split_evenly((1, 2));
        for (area, (sweep, title, x_desc)) in panels.iter().zip([
            (
                slo,
                "Finish rate vs SLO multiplier",
                "SLO / mean time alone",
            ),
            (
                var,
                "Finish rate vs execution-time variance",
                "coefficient of variation",
            ),
        ]) {
            if sweep.xs.is_empty() {
                continue;
            }
            let (x0, x1) = sweep
                .xs
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let pad = ((x1 - x0) * 0.04).max(0.05);
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 20))
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(56)
                .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..1.02)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("finish rate")
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(err)?;
            for (p, name) in sweep.policies.iter().enumerate() {
                let color = PALETTE[p % PALETTE.len()];
                let width = if name == "orloj" { 3 } else { 1 };
                let pts: Vec<(f64, f64)> = sweep
                    .xs
                    .iter()
                    .zip(&sweep.rates)
                    .filter_map(|(&x, row)| row.get(p).map(|&r| (x, r)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().copied(),
                        color.stroke_width(width),
                    ))
                    .map_err(err)?;
                chart
                    .draw_series(pts.iter().map(|&pt| Circle::new(pt, 3, color.filled())))
                    .map_err(err)?;
            }
        }
        // One legend row under both panels, so no line is hidden behind it.
        let policies = if slo.policies.is_empty() {
            &var.policies
        } else {
            &slo.policies
        };
        let step = 1160 / policies.len().max(1) as i32;
        for (p, name) in policies.iter().enumerate() {
            let color = PALETTE[p % PALETTE.len()];
            let width = if name == "orloj" { 3 } else { 1 };
            let x = 20 + step * p as i32;
            legend
                .draw(&PathElement::new(
                    vec![(x, 20), (x + 22, 20)],
                    color.stroke_width(width),
                ))
                .map_err(err)?;
            legend
                .draw(&Text::new(name.clone(), (x + 28, 13), ("sans-serif", 14)))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    output::write_file(path, svg.as_bytes())
}
