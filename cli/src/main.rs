//! `ergon`: the command-line face of the Ergon library.
//!
//! `ergon frontier` computes the Perseus iteration-time/energy frontier of a pipeline-parallel
//! training iteration (a built-in GPT-3-like default, a `perseus-instance/v1` file, or a zeus
//! profile CSV), prints a summary, plots it to SVG and writes frequency plans.
//!
//! `ergon gpu` lists, inspects, monitors and controls NVIDIA GPUs through NVML (loaded at run
//! time; without it the command says NVML is unavailable), and `ergon gpu restore` puts back the
//! settings recorded in the GPU state file.
//!
//! `ergon dpk` schedules privacy budget (DPK / DPack): offline schedules of `dpk-workload/v1`
//! files, online simulations, workload generators and the experiments of docs/dpk.md.
//! `ergon orloj` simulates serving dynamic DNNs with Orloj's distribution-aware batching and
//! the baselines (`orloj-sim/v1` in, `orloj-result/v1` out) and sweeps SLO and variance.

/// `eprintln!` that ignores a failed write instead of panicking (see [`output`]).
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note(format_args!($($arg)*))
    };
}

mod dpk_cmd;
mod frontier_cmd;
mod gpu_cmd;
mod orloj_cmd;
mod output;
mod plot;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Ergon: energy-, privacy- and GPU-time-efficient training and serving.
#[derive(Parser)]
#[command(name = "ergon", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute the iteration-time/energy Pareto frontier of a pipeline (Perseus).
    Frontier(frontier_cmd::Args),
    /// Inspect, monitor and control NVIDIA GPUs through NVML: list, show, lock, reset,
    /// power-limit, restore, monitor.
    Gpu(gpu_cmd::Args),
    /// Privacy-budget scheduling (DPK / DPack): schedule, simulate, generate, experiment.
    Dpk(dpk_cmd::Args),
    /// Simulate serving dynamic DNNs with Orloj and baseline batching policies (simulate,
    /// sweep, config).
    Orloj(orloj_cmd::Args),
}

/// The command line, with every option and argument that takes a value accepting one that
/// looks like a negative number (`--load -1`, `power-limit 0 -5`): such a value then reaches
/// the option's own check and its message, instead of clap's "unexpected argument '-1'". No
/// option of `ergon` has a digit as its short name, so nothing becomes ambiguous. (Lists of
/// numbers, `--cvs -1,0.5`, are not one number: those options allow hyphen values themselves.)
fn command() -> clap::Command {
    fn negative_numbers(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|arg| {
            if arg.get_action().takes_values() {
                arg.allow_negative_numbers(true)
            } else {
                arg
            }
        })
        .mut_subcommands(negative_numbers)
    }
    negative_numbers(Cli::command())
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Frontier(args) => frontier_cmd::run(args),
        Command::Gpu(args) => gpu_cmd::run(args),
        Command::Dpk(args) => dpk_cmd::run(args),
        Command::Orloj(args) => orloj_cmd::run(args),
    };
    // Standard output is line-buffered: a last partial line fails only here.
    let result = result.and_then(|()| Ok(output::stdout().flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::from(output::BROKEN_PIPE_STATUS),
        Err(e) => {
            note!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
