//! `ergon dpk`: privacy-budget scheduling (DPK / DPack) — offline schedules of a
//! `dpk-workload/v1` file and online simulations of a `dpk-online/v1` file.
//!
//! The workload generators and the experiments of docs/dpk.md are `ergon-experiments dpk`;
//! `ergon dpk generate`, `ergon dpk experiment` and `ergon dpk simulate --generate` stay as
//! hidden aliases that call that library (see [`hide_aliases`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use ergon_core::dpk::formats::{online_result_json, parse_online, parse_workload, result_json};
use ergon_core::dpk::{
    DpfCapacity, KnapsackError, KnapsackMode, ScheduleOptions, Scheduler, schedule, simulate,
};
use ergon_core::names::UnknownName;
use ergon_experiments::dpk::{ExperimentArgs, GenerateArgs, OnlineGenArgs, OnlineWorkload};
use std::str::FromStr;

use crate::output;

/// Arguments of `ergon dpk`.
#[derive(clap::Args)]
#[command(
    after_help = "Workload generators and the experiments of docs/dpk.md: ergon-experiments dpk --help"
)]
pub struct Args {
    #[command(subcommand)]
    command: DpkCommand,
}

#[derive(Subcommand)]
enum DpkCommand {
    /// Schedule the tasks of a `dpk-workload/v1` file offline and print the result.
    Schedule(ScheduleArgs),
    /// Run an online simulation of a `dpk-online/v1` file.
    Simulate(SimulateArgs),
    /// Alias of `ergon-experiments dpk generate`.
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Alias of `ergon-experiments dpk experiment`.
    #[command(hide = true)]
    Experiment(ExperimentArgs),
}

/// A clap parser for a core enum with a name table: the accepted values (and `--help`'s list)
/// are the enum's `NAMES`, and the value is the enum's own `FromStr`; the CLI keeps no table.
fn named<T, const N: usize>(names: [&'static str; N]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = UnknownName> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

/// Scheduler settings shared by `schedule` and `simulate`.
#[derive(clap::Args)]
struct OptionArgs {
    /// DPK precision η (0 < η < 0.75): knapsacks within a factor 1 + 2η/3 of optimal.
    #[arg(long)]
    eta: Option<f64>,
    /// What DPK's per-(block, order) knapsacks maximise.
    #[arg(long, value_parser = named::<KnapsackMode, 2>(KnapsackMode::NAMES))]
    knapsack: Option<KnapsackMode>,
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
    #[arg(long, value_parser = named::<DpfCapacity, 2>(DpfCapacity::NAMES))]
    dpf_capacity: Option<DpfCapacity>,
    /// Optimal: node budget of the branch and bound.
    #[arg(long, value_name = "N")]
    max_nodes: Option<u64>,
}

impl OptionArgs {
    /// `o` with what the command line sets.
    fn apply(&self, o: ScheduleOptions) -> ScheduleOptions {
        ScheduleOptions {
            eta: self.eta.unwrap_or(o.eta),
            knapsack: self.knapsack.unwrap_or(o.knapsack),
            recompute_every: self.recompute_every.unwrap_or(o.recompute_every),
            single_task_fallback: o.single_task_fallback && !self.no_fallback,
            dpf_weighted: o.dpf_weighted && !self.dpf_unweighted,
            dpf_capacity: self.dpf_capacity.unwrap_or(o.dpf_capacity),
            max_nodes: self.max_nodes.unwrap_or(o.max_nodes),
            ..o
        }
    }
}

#[derive(clap::Args)]
struct ScheduleArgs {
    /// The problem, `dpk-workload/v1` JSON.
    #[arg(long, value_name = "FILE.json")]
    workload: PathBuf,
    /// The scheduler.
    #[arg(long, default_value = "dpk", value_parser = named::<Scheduler, 5>(Scheduler::NAMES))]
    scheduler: Scheduler,
    /// Print `dpk-result/v1` JSON on stdout instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: OptionArgs,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// The simulation, `dpk-online/v1` JSON.
    #[arg(long, value_name = "FILE.json", conflicts_with = "generate")]
    config: Option<PathBuf>,
    // Kept for scripts, hidden (see `hide_aliases`): the same as `ergon-experiments dpk
    // generate` followed by --config.
    /// Generate the workload instead of reading it.
    #[arg(long, value_enum)]
    generate: Option<OnlineWorkload>,
    /// Schedulers to run, comma-separated (default: the file's, or dpk).
    #[arg(long, value_delimiter = ',', value_parser = named::<Scheduler, 5>(Scheduler::NAMES))]
    scheduler: Vec<Scheduler>,
    /// Print `dpk-online-result/v1` JSON (an array when several schedulers run).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    options: OptionArgs,
    // The generator's settings, hidden with --generate.
    #[command(flatten)]
    gen_args: OnlineGenArgs,
}

/// Hides from `ergon dpk --help` what stays only for scripts: the aliases of the research
/// harness (`generate`, `experiment`) are hidden where they are declared; `simulate`'s
/// `--generate` and the generator's settings are hidden here, since they are declared once, in
/// `ergon-experiments dpk generate`, where they are visible. `ergon dpk --help` names that
/// command.
pub fn hide_aliases(dpk: clap::Command) -> clap::Command {
    let generator = <OnlineGenArgs as clap::Args>::augment_args(clap::Command::new("generator"));
    let hidden: Vec<clap::Id> = generator
        .get_arguments()
        .map(|a| a.get_id().clone())
        .chain([clap::Id::from("generate")])
        .collect();
    dpk.mut_subcommand("simulate", |simulate| {
        hidden
            .iter()
            .fold(simulate, |cmd, id| cmd.mut_arg(id, |a| a.hide(true)))
    })
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        DpkCommand::Schedule(a) => run_schedule(a),
        DpkCommand::Simulate(a) => run_simulate(a),
        DpkCommand::Generate(a) => a.run(),
        DpkCommand::Experiment(a) => a.run(),
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
    let opts = a.options.apply(ScheduleOptions::with(a.scheduler));
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
        a.scheduler.clone()
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
