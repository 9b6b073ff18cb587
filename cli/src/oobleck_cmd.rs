//! `ergon oobleck`: pipeline templates (`templates`), the f+1 instantiation with its exact batch
//! split (`plan`), the reconfiguration after losing nodes (`fail`) and the failure simulator
//! (`simulate`).
//!
//! `--profile` takes an `oobleck-profile/v1` file or a directory of the develop profiler's
//! cache (`mb<N>.json`, `allreduce_in_node.json`, `allreduce_across_nodes.json`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use ergon_core::oobleck::formats::{
    parse_develop_cache, parse_profile, parse_trace, plan_json, reconfiguration_json,
    simulation_json, templates_json,
};
use ergon_core::oobleck::sim::{SimCosts, SystemResult, simulate};
use ergon_core::oobleck::{
    Objective, Plan, PlanOptions, Profile, Solver, TemplateOptions, Templates, generate_templates,
    instantiate, reconfigure,
};
use ergon_plot::{Bounds, Corner, Figure, Legend, Panel, Rgb, Series};

use crate::output::{self, Stdout, StdoutError};

/// Arguments of `ergon oobleck`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pipeline templates for every node count in [n0, N].
    Templates(TemplateArgs),
    /// Templates, the instantiation with at least f+1 pipelines and its batch split.
    Plan(PlanArgs),
    /// The plan after losing nodes: new pipelines, batch split, layer copies.
    Fail(FailArgs),
    /// Replay a failure/recovery trace: Oobleck against checkpoint-restart and redundant
    /// computation (effective training-time share, throughput over time).
    Simulate(SimulateArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ObjectiveArg {
    /// PyPI 0.1.1: one stage per node, compared by T(128).
    V011,
    /// develop: power-of-two GPU groups per node with intra-node all-reduce.
    Develop,
}

#[derive(Clone, Copy, ValueEnum)]
enum SolverArg {
    /// Exact minimisation (0.1.1 objective).
    Exact,
    /// The upstream divide-and-conquer recurrence.
    Recurrence,
}

#[derive(clap::Args)]
struct TemplateArgs {
    /// `oobleck-profile/v1` JSON file, or a directory with the develop profiler's cache.
    #[arg(long, value_name = "FILE")]
    profile: PathBuf,
    /// Which `mb<N>.json` of a profiler cache directory (needed when it holds several).
    #[arg(long, value_name = "N")]
    profile_microbatch_size: Option<u32>,
    /// Cluster size N: templates for every node count in [n0, N].
    #[arg(long, value_name = "N")]
    max_nodes: u32,
    /// GPUs per node (a power of two).
    #[arg(long, value_name = "G", default_value_t = 1)]
    gpus_per_node: u32,
    /// Memory of one node in bytes; without it memory does not constrain (n0 = 1).
    #[arg(long, value_name = "BYTES")]
    node_memory: Option<u64>,
    /// Objective (cost model and comparison).
    #[arg(long, value_enum, default_value = "v011")]
    objective: ObjectiveArg,
    /// Search method of the v011 objective (develop always uses the recurrence).
    #[arg(long, value_enum, default_value = "exact")]
    solver: SolverArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct PlanArgs {
    #[command(flatten)]
    templates: TemplateArgs,
    /// f: survive any f simultaneous node failures (at least f+1 pipelines).
    #[arg(long, value_name = "F")]
    fault_tolerance: u32,
    /// Global batch in microbatches.
    #[arg(long, value_name = "B")]
    microbatches: u64,
}

#[derive(clap::Args)]
struct FailArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Lost node ids (0..N-1 as the plan numbers them), comma-separated.
    #[arg(long, value_name = "NODE,...", value_delimiter = ',', required = true)]
    lose: Vec<u32>,
}

#[derive(clap::Args)]
struct SimulateArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// `oobleck-trace/v1` file (events, or a periodic failure every N seconds).
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,
    /// Oobleck's fixed cost per reconfiguration, seconds.
    #[arg(long, value_name = "S", default_value_t = SimCosts::default().oobleck_reconfigure_s)]
    reconfigure_s: f64,
    /// Bandwidth of layer copies, bytes per second.
    #[arg(long, value_name = "B/S", default_value_t = SimCosts::default().copy_bandwidth_bytes_per_s)]
    copy_bandwidth: f64,
    /// Training time between checkpoints, seconds.
    #[arg(long, value_name = "S", default_value_t = SimCosts::default().checkpoint_interval_s)]
    checkpoint_interval_s: f64,
    /// Cost of one checkpoint, seconds.
    #[arg(long, value_name = "S", default_value_t = SimCosts::default().checkpoint_s)]
    checkpoint_s: f64,
    /// Cost of a restart from a checkpoint, seconds.
    #[arg(long, value_name = "S", default_value_t = SimCosts::default().restart_s)]
    restart_s: f64,
    /// Cost of a redundant-computation failover, seconds.
    #[arg(long, value_name = "S", default_value_t = SimCosts::default().failover_s)]
    failover_s: f64,
    /// Sampling period of the throughput series, seconds.
    #[arg(long, value_name = "S", default_value_t = SimCosts::default().sample_s)]
    sample_s: f64,
    /// Also draw throughput over time to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// Runs `ergon oobleck`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Templates(a) => {
            let ts = templates(&a)?;
            let mut out = output::stdout();
            if a.json {
                writeln!(out, "{}", templates_json(&ts))?;
            } else {
                print_templates(&mut out, &ts)?;
            }
            Ok(())
        }
        Cmd::Plan(a) => {
            let (ts, plan) = plan(&a)?;
            let mut out = output::stdout();
            if a.templates.json {
                writeln!(out, "{}", plan_json(&ts, &plan))?;
            } else {
                print_templates(&mut out, &ts)?;
                writeln!(out)?;
                print_plan(&mut out, &plan)?;
            }
            Ok(())
        }
        Cmd::Simulate(a) => simulate_cmd(&a),
        Cmd::Fail(a) => {
            let (ts, plan) = plan(&a.plan)?;
            let r = reconfigure(&ts, &plan, &a.lose)
                .with_context(|| format!("reconfiguring after losing nodes {:?}", a.lose))?;
            let mut out = output::stdout();
            if a.plan.templates.json {
                writeln!(out, "{}", reconfiguration_json(&ts, &r))?;
                return Ok(());
            }
            writeln!(out, "before: {} pipelines", plan.pipelines.len())?;
            print_plan(&mut out, &plan)?;
            writeln!(out, "\nafter losing nodes {:?}:", r.lost)?;
            print_plan(&mut out, &r.plan)?;
            writeln!(out, "\nlayer copies ({}):", r.transfers.len())?;
            for t in &r.transfers {
                writeln!(
                    out,
                    "  node {:>4} ← node {:>4}: layers [{}, {})",
                    t.node, t.from_node, t.first_layer, t.end_layer
                )?;
            }
            Ok(())
        }
    }
}

fn load_profile(a: &TemplateArgs) -> Result<Profile> {
    let path = &a.profile;
    if path.is_dir() {
        return load_cache_dir(path, a.profile_microbatch_size);
    }
    let text = output::read_text(path)?;
    parse_profile(&text).with_context(|| format!("reading profile {}", path.display()))
}

/// The develop profiler's cache directory: `mb<N>.json` plus the two all-reduce files.
fn load_cache_dir(dir: &Path, mb: Option<u32>) -> Result<Profile> {
    let file = match mb {
        Some(n) => dir.join(format!("mb{n}.json")),
        None => {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with("mb")
                            && n.ends_with(".json")
                            && n[2..n.len() - 5].parse::<u32>().is_ok()
                    })
                })
                .collect();
            found.sort();
            match found.len() {
                0 => bail!("{} holds no mb<N>.json profiler file", dir.display()),
                1 => found.remove(0),
                _ => bail!(
                    "{} holds several mb<N>.json files; choose one with --profile-microbatch-size",
                    dir.display()
                ),
            }
        }
    };
    let layers = output::read_text(&file)?;
    let optional = |name: &str| -> Result<Option<String>> {
        let p = dir.join(name);
        if p.exists() {
            Ok(Some(output::read_text(&p)?))
        } else {
            Ok(None)
        }
    };
    let ins = optional("allreduce_in_node.json")?;
    let across = optional("allreduce_across_nodes.json")?;
    parse_develop_cache(&layers, ins.as_deref(), across.as_deref())
        .with_context(|| format!("reading profiler cache {}", dir.display()))
}

fn templates(a: &TemplateArgs) -> Result<Templates> {
    let profile = load_profile(a)?;
    generate_templates(&profile, &template_options(a)).context("building pipeline templates")
}

fn template_options(a: &TemplateArgs) -> TemplateOptions {
    TemplateOptions {
        objective: match a.objective {
            ObjectiveArg::V011 => Objective::V011,
            ObjectiveArg::Develop => Objective::Develop,
        },
        solver: match a.solver {
            SolverArg::Exact => Solver::Exact,
            SolverArg::Recurrence => Solver::Recurrence,
        },
        max_nodes: a.max_nodes,
        gpus_per_node: a.gpus_per_node,
        node_memory_bytes: a.node_memory,
    }
}

fn plan(a: &PlanArgs) -> Result<(Templates, Plan)> {
    let ts = templates(&a.templates)?;
    let plan = instantiate(
        &ts,
        &PlanOptions {
            fault_tolerance: a.fault_tolerance,
            microbatches: a.microbatches,
        },
    )
    .context("instantiating pipelines")?;
    Ok((ts, plan))
}

fn print_templates(out: &mut Stdout, ts: &Templates) -> Result<(), StdoutError> {
    writeln!(
        out,
        "{} templates, objective {}, n0 = {} (nodes {}..={}), {} layers, {} GPUs per node",
        ts.templates.len(),
        ts.objective.name(),
        ts.n0,
        ts.size_range().0,
        ts.size_range().1,
        ts.layers,
        ts.gpus_per_node
    )?;
    writeln!(
        out,
        "{:>5} {:>6} {:>10} {:>14} {:>12}  stages [first, end)×GPUs",
        "nodes", "stages", "bottleneck", "objective ms", "T(128) ms"
    )?;
    for t in &ts.templates {
        let layout: Vec<String> = t
            .stages
            .iter()
            .map(|s| format!("[{},{})×{}", s.first_layer, s.end_layer, s.gpus))
            .collect();
        writeln!(
            out,
            "{:>5} {:>6} {:>10} {:>14.3} {:>12.3}  {}",
            t.num_nodes,
            t.stages.len(),
            t.bottleneck,
            t.objective_ms,
            t.latency_at_128_ms,
            layout.join(" ")
        )?;
    }
    Ok(())
}

fn print_plan(out: &mut Stdout, plan: &Plan) -> Result<(), StdoutError> {
    writeln!(
        out,
        "{} pipelines, {} microbatches, iteration time {:.3} ms ({} options considered)",
        plan.pipelines.len(),
        plan.microbatches,
        plan.iteration_time_ms,
        plan.options_considered
    )?;
    writeln!(
        out,
        "{:>8} {:>5} {:>12}  nodes",
        "pipeline", "nodes", "microbatches"
    )?;
    for (i, p) in plan.pipelines.iter().enumerate() {
        let nodes: Vec<String> = p.nodes.iter().map(u32::to_string).collect();
        writeln!(
            out,
            "{:>8} {:>5} {:>12}  {}",
            i,
            p.num_nodes,
            p.microbatches,
            nodes.join(",")
        )?;
    }
    Ok(())
}

fn simulate_cmd(a: &SimulateArgs) -> Result<()> {
    let t = &a.plan.templates;
    let profile = load_profile(t)?;
    let text = output::read_text(&a.trace)?;
    let trace = parse_trace(&text, t.max_nodes)
        .with_context(|| format!("reading trace {}", a.trace.display()))?;
    let costs = SimCosts {
        oobleck_reconfigure_s: a.reconfigure_s,
        copy_bandwidth_bytes_per_s: a.copy_bandwidth,
        checkpoint_interval_s: a.checkpoint_interval_s,
        checkpoint_s: a.checkpoint_s,
        restart_s: a.restart_s,
        failover_s: a.failover_s,
        sample_s: a.sample_s,
    };
    let results = simulate(
        &profile,
        &template_options(t),
        &PlanOptions {
            fault_tolerance: a.plan.fault_tolerance,
            microbatches: a.plan.microbatches,
        },
        &trace,
        &costs,
    )
    .context("simulating the trace")?;
    if let Some(path) = &a.svg {
        output::write_file(path, throughput_figure(&results).to_svg()?.as_bytes())?;
    }
    let mut out = output::stdout();
    if t.json {
        writeln!(out, "{}", simulation_json(&results))?;
        return Ok(());
    }
    let fails = trace.events.iter().filter(|e| e.fails).count();
    writeln!(
        out,
        "{} nodes, {:.0} s, {} failures, {} returns",
        t.max_nodes,
        trace.duration_s,
        fails,
        trace.events.len() - fails
    )?;
    writeln!(
        out,
        "{:<22} {:>10} {:>14} {:>9} {:>9}",
        "system", "effective", "microbatches", "reconfig", "restarts"
    )?;
    for r in &results {
        writeln!(
            out,
            "{:<22} {:>9.1}% {:>14.0} {:>9} {:>9}",
            r.system,
            r.effective_share * 100.0,
            r.microbatches,
            r.reconfigurations,
            r.restarts
        )?;
    }
    Ok(())
}

/// Useful throughput over time, one line per system.
fn throughput_figure(results: &[SystemResult]) -> Figure {
    let colors = [Rgb(0, 0, 255), Rgb(255, 0, 0), Rgb(0, 160, 0)];
    let b = Bounds::of(results.iter().flat_map(|r| r.series.iter().copied())).unwrap_or(Bounds {
        x_min: 0.0,
        x_max: 1.0,
        y_min: 0.0,
        y_max: 1.0,
    });
    let series = results
        .iter()
        .zip(colors.iter().cycle())
        .map(|(r, &c)| {
            Series::line(
                format!(
                    "{} ({:.1} % effective)",
                    r.system,
                    r.effective_share * 100.0
                ),
                c,
                2,
            )
            .with_points(r.series.clone())
        })
        .collect();
    Figure {
        width_px: 900,
        height_px: 500,
        frame: crate::plot::CHART_FRAME,
        panels: vec![Panel {
            title: "Training throughput under failures".into(),
            x_desc: "time (s)".into(),
            y_desc: "useful microbatches / s".into(),
            x_range: 0.0..b.x_max.max(1.0),
            y_range: 0.0..(b.y_max * 1.15).max(1e-6),
            series,
        }],
        legend: Legend::Inside(Corner::UpperRight),
    }
}
