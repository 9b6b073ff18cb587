//! `ergon-experiments`: reproduces the paper figures and writes the synthetic workloads (see the
//! library's documentation).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ergon_experiments::{dpk, orloj};

/// Ergon's research harness: paper figures and synthetic workloads.
#[derive(Parser)]
#[command(name = "ergon-experiments", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// DPK (DPack): workload generators (micro, alibaba, amazon) and the experiments of
    /// docs/dpk.md (Figs. 4a, 4b, 5, 6b, 7, 9).
    #[command(subcommand)]
    Dpk(dpk::Command),
    /// Orloj: finish-rate sweeps over SLO tightness and execution-time variance
    /// (docs/orloj.md).
    #[command(subcommand)]
    Orloj(orloj::Command),
}

fn main() -> ExitCode {
    ergon_cli_support::run(
        |cmd| cmd,
        |cli: Cli| match cli.command {
            Command::Dpk(command) => command.run(),
            Command::Orloj(command) => command.run(),
        },
    )
}
