//! `ergon-experiments dpk`: the synthetic DPK workloads and the experiments of docs/dpk.md.

mod figures;
mod generate;

use anyhow::Result;
use clap::Subcommand;

pub use figures::ExperimentArgs;
pub use generate::{GenerateArgs, OnlineGenArgs, OnlineWorkload};

/// The commands of `ergon-experiments dpk`.
#[derive(Subcommand)]
pub enum Command {
    /// Write a generated workload: `micro` as dpk-workload/v1, `alibaba` and `amazon` as
    /// dpk-online/v1.
    Generate(GenerateArgs),
    /// Reproduce an experiment of docs/dpk.md: print a Markdown table, write an SVG plot.
    Experiment(ExperimentArgs),
}

impl Command {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        match self {
            Command::Generate(a) => a.run(),
            Command::Experiment(a) => a.run(),
        }
    }
}
