//! `ergon-experiments orloj`: the finish-rate sweeps of docs/orloj.md — every policy against
//! the SLO multiplier and against the coefficient of variation of the execution times, as
//! tables (or JSON) and one figure of both.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use ergon_cli_support::note;
use ergon_cli_support::orloj::{Workload, check_multiplier};
use ergon_cli_support::output::{self, Stdout, StdoutError};
use ergon_core::orloj::sim::{SimConfig, simulate};
use ergon_plot::{Figure, Frame, Legend, PALETTE, Panel, Series};

/// The commands of `ergon-experiments orloj`.
#[derive(Subcommand)]
pub enum Command {
    /// Finish rate of every policy against the SLO multiplier and against the CV of the
    /// execution times; tables and an SVG plot.
    Sweep(SweepArgs),
}

impl Command {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        match self {
            Command::Sweep(a) => a.run(),
        }
    }
}

/// Arguments of `orloj sweep`.
#[derive(clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    workload: Workload,
    // Lists of numbers: a negative one reaches the check (and its message), see
    // ergon_cli_support::allow_negative_numbers.
    /// SLO multipliers (each application's SLO = M × its mean time alone).
    #[arg(long, allow_hyphen_values = true, value_delimiter = ',')]
    #[arg(default_value = "1.5,2,3,4,5")]
    multipliers: Vec<f64>,
    /// Coefficients of variation for the variance sweep (every application lognormal at its
    /// mean).
    #[arg(long, allow_hyphen_values = true, value_delimiter = ',')]
    #[arg(default_value = "0,0.25,0.5,1")]
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

/// One sweep: the x values and, per policy, the finish rates.
struct Sweep {
    /// What x is.
    x_label: &'static str,
    /// The x values.
    xs: Vec<f64>,
    /// Policy names.
    policies: Vec<String>,
    /// `rates[i][p]`: finish rate of policy p at xs[i].
    rates: Vec<Vec<f64>>,
}

impl Sweep {
    /// Simulates `at(base, x)` for every x in `xs`.
    fn run(
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

    /// The sweep as a figure panel: one line per policy, Orloj's thick.
    fn panel(&self, title: &str, x_desc: &str) -> Panel {
        let (x0, x1) = self
            .xs
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let pad = ((x1 - x0) * 0.04).max(0.05);
        let series = self
            .policies
            .iter()
            .enumerate()
            .map(|(p, name)| {
                let width = if name == "orloj" { 3 } else { 1 };
                let points = self
                    .xs
                    .iter()
                    .zip(&self.rates)
                    .filter_map(|(&x, row)| row.get(p).map(|&r| (x, r)))
                    .collect();
                Series::line(name.as_str(), PALETTE[p % PALETTE.len()], width)
                    .with_markers(3)
                    .with_points(points)
            })
            .collect();
        Panel {
            title: title.into(),
            x_desc: x_desc.into(),
            y_desc: "finish rate".into(),
            x_range: (x0 - pad)..(x1 + pad),
            y_range: 0.0..1.02,
            series,
        }
    }
}

/// Finish rate against the SLO multiplier (left) and the CV (right), one line per policy;
/// the legend is one row under both panels, so that it hides no line.
fn write_sweep_svg(slo: &Sweep, var: &Sweep, path: &Path) -> Result<()> {
    let figure = Figure {
        width_px: 1200,
        height_px: 560,
        frame: Frame {
            title_px: 20,
            margin_px: 14,
            x_label_area_px: 44,
            y_label_area_px: 56,
        },
        panels: vec![
            slo.panel("Finish rate vs SLO multiplier", "SLO / mean time alone"),
            var.panel(
                "Finish rate vs execution-time variance",
                "coefficient of variation",
            ),
        ],
        legend: Legend::Below { height_px: 50 },
    };
    output::write_file(path, figure.to_svg()?.as_bytes())
}

impl SweepArgs {
    /// Runs both sweeps: tables (or JSON) on standard output, the figure to `--svg`.
    pub fn run(self) -> Result<()> {
        let a = self;
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
        let base = a.workload.load(2.0)?;
        let slo = Sweep::run(&base, "slo_x", &a.multipliers, |c, m| {
            c.clone().with_slo_multiplier(m)
        })?;
        let cv_m = a.cv_slo_multiplier;
        let var = Sweep::run(&base, "cv", &a.cvs, |c, cv| {
            c.clone().with_cv(cv).with_slo_multiplier(cv_m)
        })?;
        if a.json {
            writeln!(
                out,
                "{}",
                serde_json::json!({"slo_sweep": slo.json(), "cv_sweep": var.json()})
            )?;
        } else {
            let titles = [
                "finish rate vs SLO multiplier (SLO = M × mean time alone):".to_string(),
                format!(
                    "finish rate vs coefficient of variation (lognormal at each mean, SLO = {cv_m} × mean):"
                ),
            ];
            // An empty line after the first table.
            for ((sweep, title), gap) in [&slo, &var].into_iter().zip(titles).zip(["\n", ""]) {
                if !sweep.xs.is_empty() {
                    writeln!(out, "{title}")?;
                    sweep.print(&mut out)?;
                    write!(out, "{gap}")?;
                }
            }
        }
        if !a.no_plot {
            write_sweep_svg(&slo, &var, &a.svg)
                .with_context(|| format!("writing {}", a.svg.display()))?;
            note!("plot written to {}", a.svg.display());
        }
        Ok(())
    }
}
