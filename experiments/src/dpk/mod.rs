//! `ergon-experiments dpk`: the synthetic DPK workloads and the experiments of docs/dpk.md.

mod figures;
mod generate;

use anyhow::Result;
use clap::Subcommand;

pub use figures::ExperimentArgs;
pub use generate::{GenerateArgs, OnlineGenArgs, OnlineWorkload};

/// Arguments of `ergon-experiments dpk`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a generated workload: `micro` as dpk-workload/v1, `alibaba` and `amazon` as
    /// dpk-online/v1.
    Generate(GenerateArgs),
    /// Reproduce an experiment of docs/dpk.md: print a Markdown table, write an SVG plot.
    Experiment(ExperimentArgs),
}

/// Runs `ergon-experiments dpk`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Generate(a) => a.run(),
        Command::Experiment(a) => a.run(),
    }
}
