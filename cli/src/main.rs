//! `ergon`: the command-line face of the Ergon library, one subcommand per system.
//!
//! `ergon frontier` (also `ergon perseus`) computes the Perseus iteration-time/energy frontier
//! of a pipeline-parallel training iteration (a built-in GPT-3-like default, a
//! `perseus-instance/v1` file, or a zeus profile CSV), prints a summary, plots it to SVG and
//! writes frequency plans.
//!
//! `ergon dpk` schedules privacy budget (DPK / DPack): offline schedules of `dpk-workload/v1`
//! files and online simulations of `dpk-online/v1` files.
//!
//! `ergon orloj` simulates serving dynamic DNNs with Orloj's distribution-aware batching and
//! the baselines (`orloj-sim/v1` in, `orloj-result/v1` out).
//!
//! `ergon zeus` reads the Zeus train and power traces: the just-in-time power limit and
//! expected cost per batch size (`zeus-optimum/v1`) and trace-driven simulations of recurring
//! jobs under Zeus and the baselines (`zeus-sim/v1`).
//!
//! `ergon chase` forecasts a grid's carbon intensity from a carbon trace and replays Chase's
//! carbon-aware power-limit control over it.
//!
//! `ergon oobleck` builds Oobleck's pipeline templates, instantiates at least f+1 pipelines
//! with an exact batch split, and reconfigures a plan after node failures.
//!
//! `ergon gpu` lists, inspects, monitors and controls NVIDIA GPUs through NVML (loaded at run
//! time; without it the command says NVML is unavailable), and `ergon gpu restore` puts back the
//! settings recorded in the GPU state file.
//!
//! The research harness (paper figures, synthetic workload generators) is the
//! `ergon-experiments` crate and binary; `ergon` keeps its former spellings (`dpk generate`,
//! `dpk experiment`, `dpk simulate --generate`, `orloj sweep`) as hidden aliases that call that
//! library, so that scripts keep working.

#[macro_use]
extern crate ergon_cli_support;

mod auxo_cmd;
mod chase_cmd;
mod dpk_cmd;
mod frontier_cmd;
mod gpu_cmd;
mod oobleck_cmd;
mod orloj_cmd;
mod plot;
mod zeus_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
// The output rules are shared with `ergon-experiments`; the modules reach them as
// `crate::output`.
use ergon_cli_support::output;

/// Ergon: energy-, privacy- and GPU-time-efficient training and serving.
#[derive(Parser)]
#[command(name = "ergon", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Perseus: time/energy frontier of a training pipeline and its GPU frequency plans.
    #[command(visible_alias = "perseus")]
    Frontier(frontier_cmd::Args),
    /// DPK (DPack): privacy-budget scheduling of a workload, offline (schedule) or online
    /// (simulate).
    Dpk(dpk_cmd::Args),
    /// Orloj: simulate serving dynamic DNNs with Orloj and baseline batching policies
    /// (simulate, config).
    Orloj(orloj_cmd::Args),
    /// Zeus: power-limit and batch-size optimum of a workload from its traces, and the
    /// trace-driven simulation of recurring training (optimum, simulate).
    Zeus(zeus_cmd::Args),
    /// Chase: carbon-intensity forecasts (forecast) and carbon-aware power-limit control
    /// replayed over a carbon trace (simulate).
    Chase(chase_cmd::Args),
    /// Oobleck: pipeline templates, f+1 instantiation with an exact batch split, and
    /// reconfiguration after node failures (templates, plan, fail).
    Oobleck(oobleck_cmd::Args),
    /// Auxo: cohort identification for cross-device federated learning (simulate).
    Auxo(auxo_cmd::Args),
    /// GPU layer: inspect, monitor and control NVIDIA GPUs through NVML (list, show, lock,
    /// reset, power-limit, restore, monitor).
    Gpu(gpu_cmd::Args),
}

fn main() -> ExitCode {
    ergon_cli_support::run(
        |cmd| cmd.mut_subcommand("dpk", dpk_cmd::hide_aliases),
        |cli: Cli| match cli.command {
            Command::Frontier(args) => frontier_cmd::run(args),
            Command::Gpu(args) => gpu_cmd::run(args),
            Command::Dpk(args) => dpk_cmd::run(args),
            Command::Orloj(args) => orloj_cmd::run(args),
            Command::Zeus(args) => zeus_cmd::run(args),
            Command::Chase(args) => chase_cmd::run(args),
            Command::Oobleck(args) => oobleck_cmd::run(args),
            Command::Auxo(args) => auxo_cmd::run(args),
        },
    )
}
