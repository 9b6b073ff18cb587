//! The experiments of docs/dpk.md (`ergon-experiments dpk experiment`): each prints its
//! Markdown table on standard output and writes its figure into `--out-dir`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::ValueEnum;
use ergon_cli_support::note;
use ergon_cli_support::output::{self, Stdout, StdoutError};
use ergon_core::dpk::generate::{AlibabaLike, AmazonLike, Microbenchmark};
use ergon_core::dpk::{
    OnlineConfig, OnlineResult, ScheduleOptions, Scheduler, Workload, schedule, simulate,
};
use ergon_plot::{Bounds, Corner, Figure, Frame, Legend, PALETTE, Panel, Rgb, Series};

use super::generate::Spread;

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Experiment {
    /// Gap over DPF as σ_blocks grows (paper Fig. 4a).
    Fig4a,
    /// Gap over DPF as σ_α grows (paper Fig. 4b).
    Fig4b,
    /// DPK, DPF and the exact solver as the number of tasks grows (paper Fig. 5).
    Fig5,
    /// Alibaba-like online comparison over the number of blocks (paper Fig. 6b).
    Alibaba,
    /// Alibaba-like online comparison over the scheduling period T (paper Fig. 9).
    AlibabaT,
    /// Amazon-like online comparison, unit and drawn weights (paper Fig. 7).
    Amazon,
}

/// Arguments of `dpk experiment`.
#[derive(clap::Args)]
pub struct ExperimentArgs {
    /// Which experiment.
    #[arg(value_enum)]
    which: Experiment,
    /// Directory for the SVG plot.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
    /// Seeds to average over (microbenchmarks).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Number of tasks (alibaba; default 60000).
    #[arg(long)]
    tasks: Option<usize>,
    /// Node budget of the exact solver (fig5).
    #[arg(long, default_value_t = 200_000)]
    max_nodes: u64,
    #[command(flatten)]
    spread: Spread,
}

impl ExperimentArgs {
    /// Runs the experiment: its table on standard output, its figure into `--out-dir`.
    pub fn run(self) -> Result<()> {
        std::fs::create_dir_all(&self.out_dir)
            .with_context(|| format!("creating {}", self.out_dir.display()))?;
        match self.which {
            Experiment::Fig4a | Experiment::Fig4b => micro_sweep(&self),
            Experiment::Fig5 => fig5(&self),
            Experiment::Alibaba | Experiment::AlibabaT => alibaba(&self),
            Experiment::Amazon => amazon(&self),
        }
    }
}

/// The colour of each scheduler's line in every figure.
fn color(s: Scheduler) -> Rgb {
    match s {
        Scheduler::Dpk => PALETTE[1],
        Scheduler::Dpf => PALETTE[0],
        Scheduler::Fcfs => PALETTE[3],
        Scheduler::Area => PALETTE[6],
        Scheduler::Optimal => Rgb(90, 90, 90),
    }
}

/// A figure's line of `label`, coloured as `s`.
fn line(label: &str, s: Scheduler) -> Series {
    Series::line(label, color(s), 2).with_markers(4)
}

/// A figure's lines, one per `(label, scheduler)`, each label followed by `suffix`.
fn lines(specs: &[(&str, Scheduler)], suffix: &str) -> Vec<Series> {
    specs
        .iter()
        .map(|&(label, s)| line(&format!("{label}{suffix}"), s))
        .collect()
}

/// The schedulers of the microbenchmark figures, with their labels.
const MICRO: [(&str, Scheduler); 3] = [
    ("DPK", Scheduler::Dpk),
    ("DPF", Scheduler::Dpf),
    ("Area", Scheduler::Area),
];

/// The schedulers of the online figures, with their labels.
const ONLINE: [(&str, Scheduler); 3] = [
    ("DPK", Scheduler::Dpk),
    ("DPF", Scheduler::Dpf),
    ("FCFS", Scheduler::Fcfs),
];

/// Writes one experiment's figure, `file` in `--out-dir`: a panel from x's smallest to largest
/// value and from 0 to a tenth above the largest y (at least 1), legend top left.
fn write_figure(
    a: &ExperimentArgs,
    file: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: Vec<Series>,
) -> Result<()> {
    let b = Bounds::of(series.iter().flat_map(|s| s.points.iter().copied()));
    let (x0, mut x1, y1) = b.map_or((0.0, 0.0, 0.0), |b| (b.x_min, b.x_max, b.y_max.max(0.0)));
    if x0 >= x1 {
        x1 = x0 + 1.0;
    }
    let figure = Figure {
        width_px: 800,
        height_px: 520,
        frame: Frame {
            title_px: 20,
            margin_px: 16,
            x_label_area_px: 44,
            y_label_area_px: 64,
        },
        panels: vec![Panel {
            title: title.into(),
            x_desc: x_desc.into(),
            y_desc: y_desc.into(),
            x_range: x0..x1,
            y_range: 0.0..(y1 * 1.1).max(1.0),
            series,
        }],
        legend: Legend::Inside(Corner::UpperLeft),
    };
    let path = a.out_dir.join(file);
    output::write_file(&path, figure.to_svg()?.as_bytes())?;
    note!("wrote {}", path.display());
    Ok(())
}

/// The head of a Markdown table with these columns.
fn table_head(out: &mut Stdout, columns: &[&str]) -> Result<(), StdoutError> {
    writeln!(out, "| {} |", columns.join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(columns.len()))
}

fn count(w: &Workload, s: Scheduler) -> Result<usize> {
    Ok(schedule(w, &ScheduleOptions::with(s))?.num_allocated())
}

/// Figs. 4a and 4b: allocated tasks against σ_blocks or σ_α, averaged over `--seeds`.
fn micro_sweep(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let fig4a = a.which == Experiment::Fig4a;
    let knobs: Vec<f64> = if fig4a {
        vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]
    } else {
        (0..=8).map(f64::from).collect()
    };
    let name = if fig4a { "sigma_blocks" } else { "sigma_alpha" };
    let spread = a.spread.get()?;
    table_head(&mut out, &[name, "DPK", "DPF", "Area", "DPK/DPF"])?;
    let mut series = lines(&MICRO, "");
    for &k in &knobs {
        let mut sums = [0.0; 3];
        for seed in 0..a.seeds.max(1) {
            // The default generator is Fig. 4a's setting at σ_blocks = 0.
            let m = if fig4a {
                Microbenchmark {
                    sigma_blocks: k,
                    spread,
                    seed,
                    ..Microbenchmark::default()
                }
            } else {
                Microbenchmark {
                    num_blocks: 1,
                    mu_blocks: 1.0,
                    sigma_alpha: k,
                    eps_min_mean: 0.005,
                    spread,
                    seed,
                    ..Microbenchmark::default()
                }
            };
            let w = m.workload()?;
            for (sum, &(_, s)) in sums.iter_mut().zip(&MICRO) {
                *sum += count(&w, s)? as f64;
            }
        }
        let n = a.seeds.max(1) as f64;
        let avg = sums.map(|x| x / n);
        writeln!(
            out,
            "| {k} | {:.1} | {:.1} | {:.1} | {:.2} |",
            avg[0],
            avg[1],
            avg[2],
            avg[0] / avg[1].max(1e-9)
        )?;
        for (s, v) in series.iter_mut().zip(avg) {
            s.points.push((k, v));
        }
    }
    let (file, title, x) = if fig4a {
        (
            "dpk-fig4a.svg",
            "Microbenchmark: allocated tasks vs σ_blocks (20 blocks, 1000 tasks)",
            "σ_blocks",
        )
    } else {
        (
            "dpk-fig4b.svg",
            "Microbenchmark: allocated tasks vs σ_α (1 block, 1000 tasks)",
            "σ_α",
        )
    };
    let (file, title) = match spread {
        Some((m, sd)) => (
            file.replace(".svg", "-spread.svg"),
            format!("{title}, spread N({m}, {sd})"),
        ),
        None => (file.to_string(), title.to_string()),
    };
    write_figure(
        a,
        &file,
        &title,
        x,
        "allocated tasks (mean over seeds)",
        series,
    )
}

/// Fig. 5: DPK, DPF, Area and the exact branch and bound as the number of tasks grows.
fn fig5(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let sizes = [25usize, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000];
    table_head(
        &mut out,
        &[
            "tasks",
            "DPK",
            "DPF",
            "Area",
            "exact B&B (best found)",
            "upper bound",
            "proven",
            "DPK ms",
            "DPF ms",
            "B&B ms",
        ],
    )?;
    let mut dpk_line = line("DPK", Scheduler::Dpk);
    let mut dpf_line = line("DPF", Scheduler::Dpf);
    let mut opt_line = line("exact B&B (best found)", Scheduler::Optimal);
    let mut bound_line = line(
        "upper bound (B&B root bound when not proven)",
        Scheduler::Fcfs,
    );
    let mut area_line = line("Area", Scheduler::Area);
    for &n in &sizes {
        let w = Microbenchmark::fig5(n).workload()?;
        let timed = |opts: ScheduleOptions| -> Result<_> {
            let t = Instant::now();
            let alloc = schedule(&w, &opts)?;
            Ok((alloc, t.elapsed().as_secs_f64() * 1e3))
        };
        let (dpk, t_dpk) = timed(ScheduleOptions::default())?;
        let (dpf, t_dpf) = timed(ScheduleOptions::with(Scheduler::Dpf))?;
        let (area, _) = timed(ScheduleOptions::with(Scheduler::Area))?;
        let x = n as f64;
        area_line.points.push((x, area.total_weight));
        dpk_line.points.push((x, dpk.total_weight));
        dpf_line.points.push((x, dpf.total_weight));
        if n <= 500 {
            let (opt, t_opt) = timed(ScheduleOptions {
                max_nodes: a.max_nodes,
                ..ScheduleOptions::with(Scheduler::Optimal)
            })?;
            let ub = opt.upper_bound.unwrap_or(f64::NAN);
            writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {:.1} | {} | {t_dpk:.2} | {t_dpf:.2} | {t_opt:.0} |",
                dpk.num_allocated(),
                dpf.num_allocated(),
                area.num_allocated(),
                opt.num_allocated(),
                ub,
                if opt.proven_optimal() { "yes" } else { "no" }
            )?;
            opt_line.points.push((x, opt.total_weight));
            bound_line.points.push((x, ub));
        } else {
            writeln!(
                out,
                "| {n} | {} | {} | {} | – | – | – | {t_dpk:.2} | {t_dpf:.2} | – |",
                dpk.num_allocated(),
                dpf.num_allocated(),
                area.num_allocated()
            )?;
        }
    }
    write_figure(
        a,
        "dpk-fig5.svg",
        "Scaling: 7 blocks, σ_α = 4, σ_blocks = 10, μ_blocks = 1",
        "submitted tasks",
        "allocated tasks",
        vec![dpk_line, dpf_line, opt_line, bound_line, area_line],
    )
}

/// One online run of every scheduler of [`ONLINE`] on `cfg` (recomputing every 50
/// allocations): the results and the seconds each took.
fn online_runs(cfg: &OnlineConfig) -> Result<[(OnlineResult, f64); 3]> {
    let mut runs = Vec::with_capacity(ONLINE.len());
    for (_, s) in ONLINE {
        let mut c = cfg.clone();
        c.options = ScheduleOptions {
            recompute_every: 50,
            ..ScheduleOptions::with(s)
        };
        let t = Instant::now();
        let r = simulate(&c)?;
        runs.push((r, t.elapsed().as_secs_f64()));
    }
    runs.try_into()
        .map_err(|_| anyhow::anyhow!("one run per scheduler"))
}

/// Figs. 6b and 9: the Alibaba-like trace over the number of online blocks or over T.
fn alibaba(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let by_t = a.which == Experiment::AlibabaT;
    let knobs: Vec<f64> = if by_t {
        vec![1.0, 5.0, 10.0, 25.0, 50.0, 100.0]
    } else {
        vec![30.0, 60.0, 90.0, 120.0, 180.0]
    };
    let name = if by_t { "T" } else { "online blocks" };
    table_head(
        &mut out,
        &[
            name, "DPK", "DPF", "FCFS", "DPK/DPF", "DPK s", "DPF s", "FCFS s",
        ],
    )?;
    let mut series = lines(&ONLINE, "");
    for &k in &knobs {
        let d = AlibabaLike::default();
        let generator = AlibabaLike {
            num_tasks: a.tasks.unwrap_or(d.num_tasks),
            total_blocks: if by_t { d.total_blocks } else { 100 + k as u32 },
            scheduling_period: if by_t { k } else { d.scheduling_period },
            ..d
        };
        let runs = online_runs(&generator.config(ScheduleOptions::default())?)?;
        let counts = runs.each_ref().map(|(r, _)| r.num_allocated());
        let secs = runs.each_ref().map(|(_, s)| *s);
        writeln!(
            out,
            "| {k} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            counts[0],
            counts[1],
            counts[2],
            counts[0] as f64 / (counts[1].max(1)) as f64,
            secs[0],
            secs[1],
            secs[2]
        )?;
        for (s, v) in series.iter_mut().zip(counts) {
            s.points.push((k, v as f64));
        }
    }
    let (file, title, x) = if by_t {
        (
            "dpk-alibaba-t.svg",
            "Alibaba-like, 60k tasks, 90 online blocks: allocated vs T",
            "scheduling period T",
        )
    } else {
        (
            "dpk-alibaba.svg",
            "Alibaba-like, 60k tasks: allocated vs online blocks (T = 10)",
            "blocks arriving online (after 100 initial)",
        )
    };
    write_figure(a, file, title, x, "allocated tasks", series)
}

/// Fig. 7: the Amazon-like trace over the load, unit and drawn weights (the figure shows unit
/// weights).
fn amazon(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let rates = [250.0, 500.0, 750.0, 1000.0, 1500.0];
    table_head(
        &mut out,
        &[
            "tasks per block",
            "weighted",
            "DPK",
            "DPF",
            "FCFS",
            "DPK/DPF",
        ],
    )?;
    let mut series = lines(&ONLINE, " (unit weights)");
    for weighted in [false, true] {
        for &r in &rates {
            let cfg = AmazonLike {
                num_tasks: (r * 20.0) as usize,
                tasks_per_block: r,
                weighted,
                ..AmazonLike::default()
            }
            .config(ScheduleOptions::default())?;
            let vals = online_runs(&cfg)?.map(|(r, _)| r.total_weight);
            writeln!(
                out,
                "| {r} | {} | {} | {} | {} | {:.2} |",
                if weighted { "yes" } else { "no" },
                vals[0],
                vals[1],
                vals[2],
                vals[0] / vals[1].max(1e-9)
            )?;
            if !weighted {
                for (s, v) in series.iter_mut().zip(vals) {
                    s.points.push((r, v));
                }
            }
        }
    }
    write_figure(
        a,
        "dpk-amazon.svg",
        "Amazon-like, 20 blocks of arrivals: allocated tasks vs load",
        "mean tasks per block",
        "allocated tasks",
        series,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheduler_has_its_own_colour() {
        let all = Scheduler::ALL;
        for (i, &a) in all.iter().enumerate() {
            for &b in &all[i + 1..] {
                assert_ne!(color(a), color(b), "{} and {}", a.name(), b.name());
            }
        }
    }
}
