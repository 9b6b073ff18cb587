//! `ergon dpk`: privacy-budget scheduling (DPK / DPack) — offline schedules of a
//! `dpk-workload/v1` file, online simulations, workload generators and the experiments of
//! docs/dpk.md.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Subcommand, ValueEnum};
use ergon_core::dpk::formats::{
    online_json, online_result_json, parse_online, parse_workload, result_json, workload_json,
};
use ergon_core::dpk::generate::{AlibabaLike, AmazonLike, Microbenchmark};
use ergon_core::dpk::{
    DpfCapacity, KnapsackError, KnapsackMode, OnlineConfig, ScheduleOptions, Scheduler, Workload,
    schedule, simulate,
};
use plotters::prelude::*;

use crate::output;

/// Arguments of `ergon dpk`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DpkCommand,
}

#[derive(Subcommand)]
enum DpkCommand {
    /// Schedule the tasks of a `dpk-workload/v1` file offline and print the result.
    Schedule(ScheduleArgs),
    /// Run an online simulation: a `dpk-online/v1` file or a generated workload.
    Simulate(SimulateArgs),
    /// Write a generated workload: `micro` as dpk-workload/v1, `alibaba` and `amazon` as
    /// dpk-online/v1.
    Generate(GenerateArgs),
    /// Reproduce an experiment of docs/dpk.md: print a Markdown table, write an SVG plot.
    Experiment(ExperimentArgs),
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum SchedulerArg {
    Dpk,
    Dpf,
    Fcfs,
    Area,
    Optimal,
}

impl SchedulerArg {
    fn core(self) -> Scheduler {
        match self {
            SchedulerArg::Dpk => Scheduler::Dpk,
            SchedulerArg::Dpf => Scheduler::Dpf,
            SchedulerArg::Fcfs => Scheduler::Fcfs,
            SchedulerArg::Area => Scheduler::Area,
            SchedulerArg::Optimal => Scheduler::Optimal,
        }
    }
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum KnapsackArg {
    Weighted,
    Count,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum DpfCapacityArg {
    Initial,
    Remaining,
}

/// Scheduler settings shared by `schedule` and `simulate`.
#[derive(clap::Args)]
struct OptionArgs {
    /// DPK precision η (0 < η < 0.75): knapsacks within a factor 1 + 2η/3 of optimal.
    #[arg(long)]
    eta: Option<f64>,
    /// What DPK's per-(block, order) knapsacks maximise.
    #[arg(long, value_enum)]
    knapsack: Option<KnapsackArg>,
    /// Recompute DPK/Area priorities after every K allocations (0: never).
    #[arg(long, value_name = "K")]
    recompute_every: Option<usize>,
    /// DPK: do not fall back to the best single task.
    #[arg(long)]
    no_fallback: bool,
    /// DPF: order by dominant share alone, ignoring weights.
    #[arg(long)]
    dpf_unweighted: bool,
    /// DPF: capacity the dominant shares are measured against.
    #[arg(long, value_enum)]
    dpf_capacity: Option<DpfCapacityArg>,
    /// Optimal: node budget of the branch and bound.
    #[arg(long, value_name = "N")]
    max_nodes: Option<u64>,
}

impl OptionArgs {
    fn apply(&self, mut o: ScheduleOptions) -> ScheduleOptions {
        if let Some(e) = self.eta {
            o.eta = e;
        }
        if let Some(k) = self.knapsack {
            o.knapsack = match k {
                KnapsackArg::Weighted => KnapsackMode::Weighted,
                KnapsackArg::Count => KnapsackMode::Count,
            };
        }
        if let Some(k) = self.recompute_every {
            o.recompute_every = k;
        }
        if self.no_fallback {
            o.single_task_fallback = false;
        }
        if self.dpf_unweighted {
            o.dpf_weighted = false;
        }
        if let Some(c) = self.dpf_capacity {
            o.dpf_capacity = match c {
                DpfCapacityArg::Initial => DpfCapacity::Initial,
                DpfCapacityArg::Remaining => DpfCapacity::Remaining,
            };
        }
        if let Some(n) = self.max_nodes {
            o.max_nodes = n;
        }
        o
    }
}

#[derive(clap::Args)]
struct ScheduleArgs {
    /// The problem, `dpk-workload/v1` JSON.
    #[arg(long, value_name = "FILE.json")]
    workload: PathBuf,
    /// The scheduler.
    #[arg(long, value_enum, default_value = "dpk")]
    scheduler: SchedulerArg,
    /// Print `dpk-result/v1` JSON on stdout instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: OptionArgs,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum OnlineWorkload {
    Alibaba,
    Amazon,
}

/// Settings of the generated online workloads.
#[derive(clap::Args)]
struct OnlineGenArgs {
    /// Number of tasks (default: 60000 for alibaba, 10000 for amazon).
    #[arg(long)]
    tasks: Option<usize>,
    /// Blocks at t = 0 (default: 100 for alibaba, 1 for amazon).
    #[arg(long)]
    initial_blocks: Option<u32>,
    /// Total number of blocks (alibaba; default 190).
    #[arg(long)]
    total_blocks: Option<u32>,
    /// Scheduling period T (default: 10 for alibaba, 1 for amazon).
    #[arg(long)]
    period: Option<f64>,
    /// Data lifetime: time to unlock a block fully (default: 30 for alibaba, 5 for amazon).
    #[arg(long)]
    lifetime: Option<f64>,
    /// Amazon: mean tasks per block (time unit).
    #[arg(long, default_value_t = 250.0)]
    tasks_per_block: f64,
    /// Amazon: draw weights ({10,50,100,500} for elephants, {1,5,10,50} for mice).
    #[arg(long)]
    weighted: bool,
    /// Seed.
    #[arg(long, default_value_t = 64)]
    seed: u64,
}

impl OnlineGenArgs {
    fn config(&self, kind: OnlineWorkload, options: ScheduleOptions) -> Result<OnlineConfig> {
        Ok(match kind {
            OnlineWorkload::Alibaba => {
                let d = AlibabaLike::default();
                AlibabaLike {
                    num_tasks: self.tasks.unwrap_or(d.num_tasks),
                    initial_blocks: self.initial_blocks.unwrap_or(d.initial_blocks),
                    total_blocks: self.total_blocks.unwrap_or(d.total_blocks),
                    scheduling_period: self.period.unwrap_or(d.scheduling_period),
                    data_lifetime: self.lifetime.unwrap_or(d.data_lifetime),
                    unlock_steps: d.unlock_steps,
                    seed: self.seed,
                }
                .config(options)?
            }
            OnlineWorkload::Amazon => {
                let d = AmazonLike::default();
                AmazonLike {
                    num_tasks: self.tasks.unwrap_or(d.num_tasks),
                    tasks_per_block: self.tasks_per_block,
                    elephant_fraction: d.elephant_fraction,
                    weighted: self.weighted,
                    initial_blocks: self.initial_blocks.unwrap_or(d.initial_blocks),
                    scheduling_period: self.period.unwrap_or(d.scheduling_period),
                    data_lifetime: self.lifetime.unwrap_or(d.data_lifetime),
                    seed: self.seed,
                }
                .config(options)?
            }
        })
    }
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// The simulation, `dpk-online/v1` JSON.
    #[arg(long, value_name = "FILE.json", conflicts_with = "generate")]
    config: Option<PathBuf>,
    /// Generate the workload instead of reading it.
    #[arg(long, value_enum)]
    generate: Option<OnlineWorkload>,
    /// Schedulers to run, comma-separated (default: the file's, or dpk).
    #[arg(long, value_enum, value_delimiter = ',')]
    scheduler: Vec<SchedulerArg>,
    /// Print `dpk-online-result/v1` JSON (an array when several schedulers run).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: OptionArgs,
    #[command(flatten)]
    gen_args: OnlineGenArgs,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum GenKind {
    Micro,
    Alibaba,
    Amazon,
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Which workload.
    #[arg(value_enum)]
    kind: GenKind,
    /// Output file.
    #[arg(long, value_name = "FILE.json")]
    out: PathBuf,
    /// Micro: number of tasks.
    #[arg(long, default_value_t = 1000)]
    num_tasks: usize,
    /// Micro: number of blocks.
    #[arg(long, default_value_t = 20)]
    blocks: usize,
    /// Micro: mean blocks per task.
    #[arg(long, default_value_t = 10.0)]
    mu_blocks: f64,
    /// Micro: standard deviation of blocks per task.
    #[arg(long, default_value_t = 0.0)]
    sigma_blocks: f64,
    /// Micro: spread of best orders around α = 5 (buckets).
    #[arg(long, default_value_t = 0.0)]
    sigma_alpha: f64,
    /// Micro: mean normalised ε_min.
    #[arg(long, default_value_t = 0.1)]
    eps_min: f64,
    /// Micro: standard deviation of the normalised ε_min.
    #[arg(long, default_value_t = 0.0)]
    eps_min_std: f64,
    /// Micro: stretch the normalised spread over α ∈ {4, 5, 6, 8} to N(MEAN, STD).
    #[arg(
        long,
        value_name = "MEAN,STD",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    spread: Vec<f64>,
    #[command(flatten)]
    gen_args: OnlineGenArgs,
}

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

#[derive(clap::Args)]
struct ExperimentArgs {
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
    /// Microbenchmarks: stretch each curve's normalised spread over α ∈ {4, 5, 6, 8} to a
    /// draw of N(MEAN, STD) (the reference generator's option), e.g. `--spread 0.05,0.03`.
    #[arg(
        long,
        value_name = "MEAN,STD",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    spread: Vec<f64>,
}

fn spread_of(v: &[f64]) -> Result<Option<(f64, f64)>> {
    match v {
        [] => Ok(None),
        [m, s] if m.is_finite() && *m > 0.0 && s.is_finite() && *s >= 0.0 => Ok(Some((*m, *s))),
        _ => bail!("--spread needs MEAN,STD with MEAN > 0 and STD >= 0"),
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        DpkCommand::Schedule(a) => run_schedule(a),
        DpkCommand::Simulate(a) => run_simulate(a),
        DpkCommand::Generate(a) => run_generate(a),
        DpkCommand::Experiment(a) => run_experiment(a),
    }
}

fn read(path: &Path) -> Result<String> {
    crate::output::read_text(path)
}

/// An error of a scheduler or simulation run on the contents of `file`, naming the file: the
/// readers check the format, the run checks the rest (duplicate tasks, weights, arrivals, sizes).
/// An option error is left as it is: the option may come from the command line, and the
/// message names it.
fn about_file(file: Option<&Path>, e: KnapsackError) -> anyhow::Error {
    match file {
        Some(path) if !matches!(e, KnapsackError::InvalidOption { .. }) => {
            anyhow!("{}: {e}", path.display())
        }
        _ => anyhow!("{e}"),
    }
}

fn run_schedule(a: ScheduleArgs) -> Result<()> {
    let mut out = output::stdout();
    let text = read(&a.workload)?;
    let w = parse_workload(&text).map_err(|e| anyhow!("{}: {e}", a.workload.display()))?;
    let opts = a.options.apply(ScheduleOptions::with(a.scheduler.core()));
    let started = Instant::now();
    let alloc = schedule(&w, &opts).map_err(|e| about_file(Some(&a.workload), e))?;
    let took = started.elapsed();
    if a.json {
        writeln!(out, "{}", result_json(opts.scheduler, &w, &alloc))?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: {} tasks, {} blocks, {} RDP orders",
        a.workload.display(),
        w.tasks().len(),
        w.blocks().len(),
        w.alphas().len()
    )?;
    writeln!(
        out,
        "scheduler {}: allocated {} of {} tasks, total weight {}, in {:.3} ms",
        opts.scheduler.name(),
        alloc.num_allocated(),
        w.tasks().len(),
        alloc.total_weight,
        took.as_secs_f64() * 1e3
    )?;
    if let Some(ub) = alloc.upper_bound {
        if alloc.proven_optimal() {
            writeln!(out, "proven optimal")?;
        } else {
            writeln!(
                out,
                "node budget exhausted: best found {}, upper bound {ub}",
                alloc.total_weight
            )?;
        }
    }
    let shown: Vec<String> = alloc
        .allocated
        .iter()
        .take(20)
        .map(u64::to_string)
        .collect();
    let more = if alloc.num_allocated() > 20 {
        ", ..."
    } else {
        ""
    };
    writeln!(out, "allocated (in order): [{}{more}]", shown.join(", "))?;
    Ok(())
}

fn run_simulate(a: SimulateArgs) -> Result<()> {
    let mut out = output::stdout();
    let base = match (&a.config, a.generate) {
        (Some(path), _) => {
            let text = read(path)?;
            parse_online(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        (None, Some(kind)) => a.gen_args.config(kind, ScheduleOptions::default())?,
        (None, None) => bail!("give --config FILE.json or --generate alibaba|amazon"),
    };
    let schedulers: Vec<Scheduler> = if a.scheduler.is_empty() {
        vec![base.options.scheduler]
    } else {
        a.scheduler.iter().map(|s| s.core()).collect()
    };
    // Run everything first, so that an error leaves stdout empty.
    let mut rows = Vec::new();
    for s in schedulers {
        let mut cfg = base.clone();
        cfg.options = a.options.apply(ScheduleOptions {
            scheduler: s,
            ..base.options
        });
        let started = Instant::now();
        let r = simulate(&cfg).map_err(|e| about_file(a.config.as_deref(), e))?;
        rows.push((s, r, started.elapsed().as_secs_f64()));
    }
    if a.json {
        let docs: Vec<String> = rows
            .iter()
            .map(|(s, r, _)| online_result_json(*s, r))
            .collect();
        if docs.len() == 1 {
            writeln!(out, "{}", docs.join(""))?;
        } else {
            writeln!(out, "[{}]", docs.join(","))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{} tasks, blocks {} + {}, T = {}",
        base.tasks.len(),
        base.initial_blocks,
        base.total_blocks.saturating_sub(base.initial_blocks),
        base.scheduling_period
    )?;
    writeln!(
        out,
        "| scheduler | allocated | total weight | mean delay | time (s) |"
    )?;
    writeln!(out, "|---|---|---|---|---|")?;
    for (s, r, took) in rows {
        writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} |",
            s.name(),
            r.num_allocated(),
            r.total_weight,
            r.mean_delay,
            took
        )?;
    }
    Ok(())
}

fn run_generate(a: GenerateArgs) -> Result<()> {
    let text = match a.kind {
        GenKind::Micro => {
            let w = Microbenchmark {
                num_tasks: a.num_tasks,
                num_blocks: a.blocks,
                mu_blocks: a.mu_blocks,
                sigma_blocks: a.sigma_blocks,
                sigma_alpha: a.sigma_alpha,
                eps_min_mean: a.eps_min,
                eps_min_std: a.eps_min_std,
                spread: spread_of(&a.spread)?,
                seed: a.gen_args.seed,
            }
            .workload()?;
            workload_json(&w)
        }
        GenKind::Alibaba => online_json(
            &a.gen_args
                .config(OnlineWorkload::Alibaba, ScheduleOptions::default())?,
        ),
        GenKind::Amazon => online_json(
            &a.gen_args
                .config(OnlineWorkload::Amazon, ScheduleOptions::default())?,
        ),
    };
    output::write_file(&a.out, text.as_bytes())?;
    note!("wrote {}", a.out.display());
    Ok(())
}

// ------------------------------------------------------------------------------ experiments

fn count(w: &Workload, s: Scheduler) -> Result<usize> {
    Ok(schedule(w, &ScheduleOptions::with(s))?.num_allocated())
}

/// One line of a plot.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn line_svg(path: &Path, title: &str, x_desc: &str, y_desc: &str, series: &[Series]) -> Result<()> {
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0_f64);
    for s in series {
        for &(x, y) in &s.points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if x0 >= x1 {
        x1 = x0 + 1.0;
    }
    // Drawn in memory, then written in one go: a failure leaves no half-drawn file.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 520)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<std::io::Error>| anyhow!("{e}");
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..(y1 * 1.1).max(1.0))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    output::write_file(path, svg.as_bytes())
}

const DPK_COLOR: RGBColor = RGBColor(31, 119, 180);
const DPF_COLOR: RGBColor = RGBColor(214, 39, 40);
const FCFS_COLOR: RGBColor = RGBColor(44, 160, 44);
const OPT_COLOR: RGBColor = RGBColor(90, 90, 90);
const AREA_COLOR: RGBColor = RGBColor(148, 103, 189);

fn run_experiment(a: ExperimentArgs) -> Result<()> {
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("creating {}", a.out_dir.display()))?;
    match a.which {
        Experiment::Fig4a | Experiment::Fig4b => micro_sweep(&a),
        Experiment::Fig5 => fig5(&a),
        Experiment::Alibaba | Experiment::AlibabaT => alibaba(&a),
        Experiment::Amazon => amazon(&a),
    }
}

fn micro_sweep(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let fig4a = a.which == Experiment::Fig4a;
    let knobs: Vec<f64> = if fig4a {
        vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]
    } else {
        (0..=8).map(f64::from).collect()
    };
    let name = if fig4a { "sigma_blocks" } else { "sigma_alpha" };
    let spread = spread_of(&a.spread)?;
    writeln!(out, "| {name} | DPK | DPF | Area | DPK/DPF |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    let mut series = vec![
        Series {
            label: "DPK".into(),
            color: DPK_COLOR,
            points: vec![],
        },
        Series {
            label: "DPF".into(),
            color: DPF_COLOR,
            points: vec![],
        },
        Series {
            label: "Area".into(),
            color: AREA_COLOR,
            points: vec![],
        },
    ];
    for &k in &knobs {
        let mut sums = [0.0; 3];
        for seed in 0..a.seeds.max(1) {
            let m = if fig4a {
                Microbenchmark {
                    num_tasks: 1000,
                    num_blocks: 20,
                    mu_blocks: 10.0,
                    sigma_blocks: k,
                    sigma_alpha: 0.0,
                    eps_min_mean: 0.1,
                    eps_min_std: 0.0,
                    spread,
                    seed,
                }
            } else {
                Microbenchmark {
                    num_tasks: 1000,
                    num_blocks: 1,
                    mu_blocks: 1.0,
                    sigma_blocks: 0.0,
                    sigma_alpha: k,
                    eps_min_mean: 0.005,
                    eps_min_std: 0.0,
                    spread,
                    seed,
                }
            };
            let w = m.workload()?;
            for (i, s) in [Scheduler::Dpk, Scheduler::Dpf, Scheduler::Area]
                .iter()
                .enumerate()
            {
                sums[i] += count(&w, *s)? as f64;
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
    let title = title.as_str();
    let path = a.out_dir.join(file);
    line_svg(
        &path,
        title,
        x,
        "allocated tasks (mean over seeds)",
        &series,
    )?;
    note!("wrote {}", path.display());
    Ok(())
}

fn fig5(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let sizes = [25usize, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000];
    writeln!(
        out,
        "| tasks | DPK | DPF | Area | exact B&B (best found) | upper bound | proven | DPK ms | DPF ms | B&B ms |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|")?;
    let mut series = vec![
        Series {
            label: "DPK".into(),
            color: DPK_COLOR,
            points: vec![],
        },
        Series {
            label: "DPF".into(),
            color: DPF_COLOR,
            points: vec![],
        },
        Series {
            label: "exact B&B (best found)".into(),
            color: OPT_COLOR,
            points: vec![],
        },
        Series {
            label: "upper bound (B&B root bound when not proven)".into(),
            color: FCFS_COLOR,
            points: vec![],
        },
        Series {
            label: "Area".into(),
            color: AREA_COLOR,
            points: vec![],
        },
    ];
    for &n in &sizes {
        let w = Microbenchmark {
            num_tasks: n,
            num_blocks: 7,
            mu_blocks: 1.0,
            sigma_blocks: 10.0,
            sigma_alpha: 4.0,
            eps_min_mean: 0.01,
            eps_min_std: 0.0,
            spread: None,
            seed: 64,
        }
        .workload()?;
        let t = Instant::now();
        let dpk = schedule(&w, &ScheduleOptions::default())?;
        let t_dpk = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let dpf = schedule(&w, &ScheduleOptions::with(Scheduler::Dpf))?;
        let t_dpf = t.elapsed().as_secs_f64() * 1e3;
        let area = schedule(&w, &ScheduleOptions::with(Scheduler::Area))?;
        series[4].points.push((n as f64, area.total_weight));
        series[0].points.push((n as f64, dpk.total_weight));
        series[1].points.push((n as f64, dpf.total_weight));
        if n <= 500 {
            let t = Instant::now();
            let opt = schedule(
                &w,
                &ScheduleOptions {
                    max_nodes: a.max_nodes,
                    ..ScheduleOptions::with(Scheduler::Optimal)
                },
            )?;
            let t_opt = t.elapsed().as_secs_f64() * 1e3;
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
            series[2].points.push((n as f64, opt.total_weight));
            series[3].points.push((n as f64, ub));
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
    let path = a.out_dir.join("dpk-fig5.svg");
    line_svg(
        &path,
        "Scaling: 7 blocks, σ_α = 4, σ_blocks = 10, μ_blocks = 1",
        "submitted tasks",
        "allocated tasks",
        &series,
    )?;
    note!("wrote {}", path.display());
    Ok(())
}

fn alibaba(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let by_t = a.which == Experiment::AlibabaT;
    let knobs: Vec<f64> = if by_t {
        vec![1.0, 5.0, 10.0, 25.0, 50.0, 100.0]
    } else {
        vec![30.0, 60.0, 90.0, 120.0, 180.0]
    };
    let name = if by_t { "T" } else { "online blocks" };
    writeln!(
        out,
        "| {name} | DPK | DPF | FCFS | DPK/DPF | DPK s | DPF s | FCFS s |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|")?;
    let mut series = vec![
        Series {
            label: "DPK".into(),
            color: DPK_COLOR,
            points: vec![],
        },
        Series {
            label: "DPF".into(),
            color: DPF_COLOR,
            points: vec![],
        },
        Series {
            label: "FCFS".into(),
            color: FCFS_COLOR,
            points: vec![],
        },
    ];
    for &k in &knobs {
        let d = AlibabaLike::default();
        let generator = AlibabaLike {
            num_tasks: a.tasks.unwrap_or(d.num_tasks),
            total_blocks: if by_t { d.total_blocks } else { 100 + k as u32 },
            scheduling_period: if by_t { k } else { d.scheduling_period },
            ..d
        };
        let cfg = generator.config(ScheduleOptions::default())?;
        let mut counts = [0usize; 3];
        let mut secs = [0.0; 3];
        for (i, s) in [Scheduler::Dpk, Scheduler::Dpf, Scheduler::Fcfs]
            .iter()
            .enumerate()
        {
            let mut c = cfg.clone();
            c.options = ScheduleOptions {
                recompute_every: 50,
                ..ScheduleOptions::with(*s)
            };
            let t = Instant::now();
            counts[i] = simulate(&c)?.num_allocated();
            secs[i] = t.elapsed().as_secs_f64();
        }
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
    let path = a.out_dir.join(file);
    line_svg(&path, title, x, "allocated tasks", &series)?;
    note!("wrote {}", path.display());
    Ok(())
}

fn amazon(a: &ExperimentArgs) -> Result<()> {
    let mut out = output::stdout();
    let rates = [250.0, 500.0, 750.0, 1000.0, 1500.0];
    writeln!(
        out,
        "| tasks per block | weighted | DPK | DPF | FCFS | DPK/DPF |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    let mut series = vec![
        Series {
            label: "DPK (unit weights)".into(),
            color: DPK_COLOR,
            points: vec![],
        },
        Series {
            label: "DPF (unit weights)".into(),
            color: DPF_COLOR,
            points: vec![],
        },
        Series {
            label: "FCFS (unit weights)".into(),
            color: FCFS_COLOR,
            points: vec![],
        },
    ];
    for weighted in [false, true] {
        for &r in &rates {
            let cfg = AmazonLike {
                num_tasks: (r * 20.0) as usize,
                tasks_per_block: r,
                weighted,
                ..AmazonLike::default()
            }
            .config(ScheduleOptions::default())?;
            let mut vals = [0.0; 3];
            for (i, s) in [Scheduler::Dpk, Scheduler::Dpf, Scheduler::Fcfs]
                .iter()
                .enumerate()
            {
                let mut c = cfg.clone();
                c.options = ScheduleOptions {
                    recompute_every: 50,
                    ..ScheduleOptions::with(*s)
                };
                vals[i] = simulate(&c)?.total_weight;
            }
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
    let path = a.out_dir.join("dpk-amazon.svg");
    line_svg(
        &path,
        "Amazon-like, 20 blocks of arrivals: allocated tasks vs load",
        "mean tasks per block",
        "allocated tasks",
        &series,
    )?;
    note!("wrote {}", path.display());
    Ok(())
}
