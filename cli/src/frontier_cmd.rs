//! `ergon frontier`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use ergon_core::perseus::formats::{
    self, frontier_json, parse_instance, parse_schedule, plan_json,
};
use ergon_core::perseus::{
    self, CostModel, EffectiveEnergy, Frontier, Pipeline, PlanAt, Problem, Termination, synthetic,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{output, plot};

/// Arguments of `ergon frontier`.
#[derive(clap::Args)]
pub struct Args {
    /// Problem file in `perseus-instance/v1` JSON (default: a built-in GPT-3-like 8-stage ×
    /// 32-microbatch 1F1B pipeline on A100-like GPUs).
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    instance: Option<PathBuf>,
    /// Zeus profile CSV (`stage,instruction,frequency,time,energy`); needs --stages,
    /// --microbatches, --unit-time and --p-blocking.
    #[arg(long, value_name = "FILE.csv", requires_all = ["stages", "microbatches", "unit_time", "p_blocking"])]
    profile: Option<PathBuf>,
    /// Pipeline stages (GPUs) of the CSV's pipeline.
    #[arg(long, value_name = "S")]
    stages: Option<u32>,
    /// Microbatches per iteration of the CSV's pipeline.
    #[arg(long, value_name = "M")]
    microbatches: Option<u32>,
    /// Time quantum τ in seconds.
    #[arg(long, value_name = "SECONDS")]
    unit_time: Option<f64>,
    /// GPU power while blocked on communication, watts.
    #[arg(long, value_name = "WATTS")]
    p_blocking: Option<f64>,
    /// Schedule of the CSV's pipeline: 1f1b, gpipe or interleaved_1f1b.
    #[arg(long, default_value = "1f1b")]
    schedule: String,
    /// Model chunks per GPU for interleaved_1f1b.
    #[arg(long, value_name = "V")]
    virtual_stages: Option<u32>,
    /// When blocking energy is subtracted (overrides the instance's `effective_energy`).
    #[arg(long, value_enum)]
    effective_energy: Option<EnergyOrder>,
    /// Print the frontier as `ergon-frontier/v1` JSON on stdout (the summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Include each point's duration changes in the JSON.
    #[arg(long, requires = "json")]
    with_changes: bool,
    /// Where to write the plot.
    #[arg(long, value_name = "FILE", default_value = "frontier.svg")]
    svg: PathBuf,
    /// Do not write the plot.
    #[arg(long)]
    no_plot: bool,
    /// Write `ergon-plan/v1` plans into this directory.
    #[arg(long, value_name = "DIR")]
    plan_out: Option<PathBuf>,
    /// Plan for a straggler deadline T' in seconds: least energy including waiting until T'.
    #[arg(long, value_name = "SECONDS", requires = "plan_out")]
    deadline: Option<f64>,
    /// Which points to write plans for (default: fastest and t_star).
    #[arg(long, value_enum, requires = "plan_out")]
    at: Vec<At>,
    /// Solve only down to the first point at or below this iteration time (seconds), e.g. a
    /// straggler deadline: the plan for a deadline T' never uses a faster point. The method
    /// walks down from T_max, so the points above are still computed.
    #[arg(long, value_name = "SECONDS", conflicts_with = "until")]
    until_deadline: Option<f64>,
    /// Solve only down to this point: `t-star` stops once the energy rises past its minimum
    /// T* (all a deadline at or above T* needs), `t-min` (default) solves the whole frontier.
    #[arg(long, value_enum)]
    until: Option<Until>,
    /// Override the time quantum τ in seconds (coarser = fewer points, faster). Each
    /// computation's time is floored to a multiple of τ, so the model may see it up to τ shorter
    /// than measured; the summary prints that bound relative to the shortest computation.
    #[arg(long, value_name = "SECONDS")]
    quantum: Option<f64>,
    /// Print per-phase time and work of the solve on stderr (profiling).
    #[arg(long)]
    stats: bool,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Until {
    /// The energy-optimal point T*.
    TStar,
    /// The fastest point T_min (the whole frontier).
    TMin,
}

#[derive(Clone, Copy, ValueEnum)]
enum EnergyOrder {
    AfterFilter,
    BeforeFilter,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum At {
    /// Minimum total energy.
    TStar,
    /// Shortest iteration time.
    Fastest,
}

fn load(args: &Args) -> Result<(Problem, String)> {
    let order = args.effective_energy.map(|o| match o {
        EnergyOrder::AfterFilter => EffectiveEnergy::AfterFilter,
        EnergyOrder::BeforeFilter => EffectiveEnergy::BeforeFilter,
    });
    let (mut problem, label) = if let Some(path) = &args.instance {
        let text = crate::output::read_text(path)?;
        let problem = parse_instance(&text).with_context(|| format!("in {}", path.display()))?;
        (problem, path.display().to_string())
    } else if let Some(path) = &args.profile {
        let text = crate::output::read_text(path)?;
        let (Some(s), Some(m), Some(tau), Some(pb)) = (
            args.stages,
            args.microbatches,
            args.unit_time,
            args.p_blocking,
        ) else {
            bail!("--profile needs --stages, --microbatches, --unit-time and --p-blocking");
        };
        let pipeline = Pipeline {
            schedule: parse_schedule(&args.schedule, args.virtual_stages)?,
            num_stages: s,
            num_microbatches: m,
        };
        let problem =
            formats::problem_from_csv(&text, pipeline, tau, pb, order.unwrap_or_default())
                .with_context(|| format!("in {}", path.display()))?;
        (problem, path.display().to_string())
    } else {
        let spec = synthetic::gpt3_default();
        let p = spec.pipeline;
        let label = format!(
            "built-in GPT-3-like pipeline: {} stages x {} microbatches, 1F1B, A100-like GPUs, tau = {} ms",
            p.num_stages,
            p.num_microbatches,
            spec.unit_time_s * 1e3
        );
        (spec.problem()?, label)
    };
    if let Some(order) = order {
        problem.effective_energy = order;
    }
    if let Some(tau) = args.quantum {
        if !(tau.is_finite() && tau > 0.0) {
            bail!("--quantum {tau} is not a positive number of seconds");
        }
        problem.unit_time_s = tau;
    }
    Ok((problem, label))
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let (problem, label) = load(&args)?;
    let started = Instant::now();
    let mut bar: Option<ProgressBar> = None;
    let show_bar = std::io::stderr().is_terminal();
    let mut progress = |done: u64, total: u64| {
        if !show_bar {
            return true;
        }
        let b = match &bar {
            Some(b) => b,
            None if started.elapsed() > Duration::from_secs(1) => {
                let b = ProgressBar::new(total);
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} solving {bar:40} {pos}/{len} points ({eta})",
                ) {
                    b.set_style(style);
                }
                bar.insert(b)
            }
            None => return true,
        };
        b.set_position(done);
        true
    };
    let stop = match (args.until_deadline, args.until) {
        (Some(time_s), _) => perseus::Stop::AtTime { time_s },
        (None, Some(Until::TStar)) => perseus::Stop::AtMinEnergy,
        (None, Some(Until::TMin) | None) => perseus::Stop::AtMinimum,
    };
    let epoch = Instant::now();
    let clock = || epoch.elapsed().as_nanos() as u64;
    let mut stats = perseus::PhaseStats::default();
    let options = perseus::SolveOptions {
        stop,
        progress: Some(&mut progress),
        clock: if args.stats { Some(&clock) } else { None },
        stats: Some(&mut stats),
    };
    // The solver checks more of the problem than the reader does: name the file it came from.
    let source = args.instance.as_ref().or(args.profile.as_ref());
    let frontier = match (perseus::solve_with_options(&problem, options), source) {
        (Ok(frontier), _) => frontier,
        (Err(e), Some(path)) => return Err(e).with_context(|| format!("in {}", path.display())),
        (Err(e), None) => return Err(e.into()),
    };
    let solve_time = started.elapsed();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    if args.stats {
        note!("{}", stats_text(&stats, solve_time));
    }
    let mut summary = summarize(&frontier, &problem, &label, solve_time);
    if args.quantum.is_some() {
        summary.push_str(&quantum_note(&problem));
    }
    let mut out = output::stdout();
    if args.json {
        note!("{}", summary.trim_end_matches('\n'));
        writeln!(
            out,
            "{}",
            frontier_json(
                &frontier,
                frontier.dag().num_microbatches(),
                args.with_changes
            )
        )?;
    } else {
        write!(out, "{summary}")?;
    }
    if !args.no_plot {
        plot::frontier_svg(&frontier, &args.svg)?;
        note!("wrote {}", args.svg.display());
    }
    if let Some(dir) = &args.plan_out {
        write_plans(&frontier, dir, args.deadline, &args.at)?;
    }
    Ok(())
}

fn write_plans(frontier: &Frontier, dir: &PathBuf, deadline: Option<f64>, at: &[At]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut wanted: Vec<(String, PlanAt)> = Vec::new();
    if let Some(t) = deadline {
        wanted.push((
            format!("plan_deadline_{}s.json", perseus::Num(t)),
            PlanAt::Deadline(t),
        ));
    }
    let at: Vec<At> = if at.is_empty() && deadline.is_none() {
        vec![At::Fastest, At::TStar]
    } else {
        at.to_vec()
    };
    for a in at {
        match a {
            At::Fastest => wanted.push(("plan_fastest.json".into(), PlanAt::Fastest)),
            At::TStar => wanted.push(("plan_t_star.json".into(), PlanAt::TStar)),
        }
    }
    for (name, at) in wanted {
        let plan = frontier.plan_at(at)?;
        let path = dir.join(&name);
        output::write_file(&path, (plan_json(&plan) + "\n").as_bytes())?;
        note!(
            "wrote {} (T = {:.4} s, E = {:.2} J)",
            path.display(),
            plan.time_s,
            plan.energy_j
        );
    }
    Ok(())
}

/// The error a coarse time quantum implies: every measured time is floored to a multiple of
/// τ, so the model sees each computation up to τ shorter than measured (and a plan may run up
/// to that much longer per computation on the critical path than the frontier says).
fn quantum_note(problem: &Problem) -> String {
    let tau = problem.unit_time_s;
    let shortest = problem
        .profiles
        .iter()
        .flat_map(|p| p.options.iter().map(|o| o.time_s))
        .fold(f64::INFINITY, f64::min);
    format!(
        "  quantum {} s: each computation's modelled time is up to {} s below its measured time, \
         at most {:.1} % of the shortest computation ({} s); points are {} s apart\n",
        perseus::Num(tau),
        perseus::Num(tau),
        100.0 * tau / shortest,
        perseus::Num(shortest),
        perseus::Num(tau)
    )
}

/// Per-phase profile of a solve, one block of lines for stderr.
fn stats_text(st: &perseus::PhaseStats, solve_time: Duration) -> String {
    let total_ns = solve_time.as_nanos().max(1) as f64;
    let per_point = |x: u64| x as f64 / st.points.max(1) as f64;
    let phase = |name: &str, ns: u64| {
        format!(
            "  {name:<34} {:>9.1} ms {:>5.1} % {:>8.2} us/point",
            ns as f64 / 1e6,
            100.0 * ns as f64 / total_ns,
            per_point(ns) / 1e3
        )
    };
    [
        format!(
            "solve profile: {} points, {:.1} critical computations, {:.1} critical edges, {:.2} changes per point",
            st.points,
            per_point(st.critical_computations),
            per_point(st.critical_edges),
            per_point(st.changes)
        ),
        phase("critical-path recomputation", st.cpm_ticks),
        phase("critical subgraph + capacities", st.subgraph_ticks),
        phase("minimum cut (max flow)", st.flow_ticks),
        phase("cut application", st.apply_ticks),
        phase("whole solve (incl. preprocessing)", total_ns as u64),
    ]
    .join("\n")
}

fn summarize(f: &Frontier, problem: &Problem, label: &str, solve_time: Duration) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let tau = f.unit_time_s;
    let fastest = f.point(f.fastest()).unwrap_or(&f.start);
    let star = f.point(f.min_energy()).unwrap_or(&f.start);
    let baseline = f.baseline_energy_j();
    let saved = |e: f64| 100.0 * (baseline - e) / baseline;
    let hulls = f
        .specs()
        .iter()
        .filter(|s| matches!(s.model, CostModel::ConvexHull { .. }))
        .count();
    let _ = writeln!(s, "Perseus frontier — {label}");
    let _ = writeln!(
        s,
        "  {} computations on {} stages, {} profiles, blocking power {} W",
        problem.dag.nodes.len(),
        f.num_stages,
        problem.profiles.len(),
        perseus::Num(f.p_blocking_w)
    );
    let _ = writeln!(
        s,
        "  {:<46} {:>10} {:>12} {:>9}",
        "", "time (s)", "energy (J)", "saved"
    );
    let _ = writeln!(
        s,
        "  {:<46} {:>10.4} {:>12.2} {:>9}",
        "all at fastest clock (baseline)", fastest.time_s, baseline, "-"
    );
    let _ = writeln!(
        s,
        "  {:<46} {:>10.4} {:>12.2} {:>8.2}%",
        "T_min  fastest plan (intrinsic bloat removed)",
        fastest.time_s,
        fastest.energy_j,
        saved(fastest.energy_j)
    );
    let _ = writeln!(
        s,
        "  {:<46} {:>10.4} {:>12.2} {:>8.2}%",
        "T*     minimum-energy plan",
        star.time_s,
        star.energy_j,
        saved(star.energy_j)
    );
    let _ = writeln!(
        s,
        "  {:<46} {:>10.4} {:>12.2} {:>8.2}%",
        "T_max  all at slowest useful clock",
        f.start.time_s,
        f.start.energy_j,
        saved(f.start.energy_j)
    );
    let _ = writeln!(
        s,
        "  {} points ({} ms apart), solved in {:.1} ms",
        f.points.len(),
        tau * 1e3,
        solve_time.as_secs_f64() * 1e3
    );
    if hulls > 0 {
        let _ = writeln!(
            s,
            "  note: {hulls} profile(s) use a convex-hull cost model (too few distinct durations to fit)"
        );
    }
    match f.termination {
        Termination::ReachedMinimum => {}
        Termination::Stopped { at_quanta } | Termination::Cancelled { at_quanta } => {
            let _ = writeln!(
                s,
                "  stopped as asked at {:.4} s; points below it were not computed",
                at_quanta as f64 * tau
            );
        }
        Termination::InfeasibleCut { at_quanta } | Termination::NoFiniteCut { at_quanta } => {
            let _ = writeln!(
                s,
                "  warning: the frontier stops early at {:.4} s ({:?}); points below it are missing",
                at_quanta as f64 * tau,
                f.termination
            );
        }
    }
    s
}
