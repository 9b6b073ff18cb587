//! `ergon orloj`: serving simulations of Orloj and the baselines (`simulate`) and the built-in
//! configurations as `orloj-sim/v1` (`config`).
//!
//! The sweeps of docs/orloj.md are `ergon-experiments orloj sweep`; `ergon orloj sweep` stays
//! as a hidden alias that calls that library.

use anyhow::{Context, Result};
use clap::Subcommand;
use ergon_cli_support::orloj::{Mix, Workload, check_multiplier};
use ergon_core::orloj::formats::{result_json, sim_json};
use ergon_core::orloj::sim::{PolicyResult, simulate};
use ergon_experiments::orloj::SweepArgs;

use crate::output::{self, Stdout, StdoutError};

/// Arguments of `ergon orloj`.
#[derive(clap::Args)]
#[command(
    after_help = "The SLO and variance sweeps of docs/orloj.md: ergon-experiments orloj --help"
)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulate every policy of a configuration on one shared trace and print finish rates.
    Simulate(SimulateArgs),
    /// Alias of `ergon-experiments orloj sweep`.
    #[command(hide = true)]
    Sweep(SweepArgs),
    /// Print a built-in configuration as `orloj-sim/v1` JSON (a starting point for --config).
    Config(ConfigArgs),
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
        Cmd::Sweep(a) => a.run(),
        Cmd::Config(a) => {
            check_multiplier(a.slo_multiplier)?;
            let json = sim_json(&a.mix.config(a.slo_multiplier));
            writeln!(output::stdout(), "{json}")?;
            Ok(())
        }
    }
}

fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let mut out = output::stdout();
    let cfg = a.workload.load(a.slo_multiplier)?;
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
