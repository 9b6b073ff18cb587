//! `ergon-cli-support`: what the two command-line binaries, `ergon` (the user commands) and
//! `ergon-experiments` (the paper figures and workload generators), share, so that both behave
//! the same way and their shared commands stay byte-identical:
//!
//! - [`output`]: how every command reads input files and writes files, standard output and
//!   notes on standard error, and the [`note!`] macro;
//! - [`run`]: parsing the command line (negative numbers reach the options' own checks) and
//!   turning the command's result into the exit status and its one `error:` line;
//! - [`orloj`]: the arguments that choose an Orloj simulation (`--config`, `--mix` and the
//!   overrides), accepted by `ergon orloj simulate` and `ergon-experiments orloj sweep`.

pub mod orloj;
pub mod output;

use std::process::ExitCode;

use clap::Parser;

/// `eprintln!` that ignores a failed write instead of panicking (see [`output`]).
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note(format_args!($($arg)*))
    };
}

/// `cmd` with every option and argument that takes a value accepting one that looks like a
/// negative number (`--load -1`, `power-limit 0 -5`): such a value then reaches the option's
/// own check and its message, instead of clap's "unexpected argument '-1'". No option of either
/// binary has a digit as its short name, so nothing becomes ambiguous. (Lists of numbers,
/// `--cvs -1,0.5`, are not one number: those options allow hyphen values themselves.)
pub fn allow_negative_numbers(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|arg| {
        if arg.get_action().takes_values() {
            arg.allow_negative_numbers(true)
        } else {
            arg
        }
    })
    .mut_subcommands(allow_negative_numbers)
}

/// A binary's `main`: parses the command line of `C` (as changed by `adjust`, after
/// [`allow_negative_numbers`]), runs `body`, flushes standard output and returns the exit
/// status: 0, [`output::BROKEN_PIPE_STATUS`] quietly when the reader of standard output went
/// away, or 1 after one `error: …` line on standard error. Usage errors exit as clap decides
/// (status 2, `--help` and `--version` 0).
pub fn run<C: Parser>(
    adjust: impl FnOnce(clap::Command) -> clap::Command,
    body: impl FnOnce(C) -> anyhow::Result<()>,
) -> ExitCode {
    let matches = adjust(allow_negative_numbers(C::command())).get_matches();
    let cli = match C::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Standard output is line-buffered: a last partial line fails only here.
    let result = body(cli).and_then(|()| Ok(output::stdout().flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::from(output::BROKEN_PIPE_STATUS),
        Err(e) => {
            note!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
