//! `ergon auxo`: Auxo's cohort identification. `simulate --positions` replays the reference
//! playground (Gaussian-blob positions used as client updates) and scores the recovered
//! cohorts against the blobs.

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use ergon_core::auxo::formats::playground_json;
use ergon_core::auxo::playground::{PlaygroundConfig, run as run_playground};
use ergon_core::auxo::{ImprovedTest, SplitRule};

use crate::output;

/// Arguments of `ergon auxo`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay the reference playground (`--positions`).
    Simulate(SimulateArgs),
}

/// Which split test.
#[derive(Clone, Copy, ValueEnum)]
enum SplitTestArg {
    /// The reference's adaptive rule (size floor, half sizes, ratio window).
    Reference,
    /// Ergon's SigClust-style significance test with a controlled false-split rate.
    Improved,
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Replay the reference playground: clients at Gaussian-blob positions, the positions
    /// used as updates.
    #[arg(long)]
    positions: bool,
    /// Number of blobs.
    #[arg(long, value_name = "C", default_value_t = 4)]
    centers: usize,
    /// Number of clients.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    clients: usize,
    /// Participants per round (all cohorts together).
    #[arg(long, value_name = "K", default_value_t = 50)]
    per_round: usize,
    /// Rounds.
    #[arg(long, value_name = "R", default_value_t = 800)]
    rounds: u32,
    /// Standard deviation of each blob.
    #[arg(long, value_name = "STD", default_value_t = 2.0)]
    cluster_std: f64,
    /// The engine's train ratio (size floor 100 / ratio).
    #[arg(long, value_name = "RATIO", default_value_t = 0.9)]
    train_ratio: f64,
    /// The reference split test's `known_clt`.
    #[arg(long, value_name = "N", default_value_t = 150.0)]
    known_clients: f64,
    /// Fixed split rounds (comma-separated cohort rounds) instead of a split test.
    #[arg(long, value_name = "R1,R2,...", value_delimiter = ',')]
    split_rounds: Vec<u32>,
    /// The adaptive split test.
    #[arg(long, value_enum, default_value = "reference")]
    split_test: SplitTestArg,
    /// Redraw blob centres until each pair is this far apart (0: like make_blobs).
    #[arg(long, value_name = "D", default_value_t = 0.0)]
    min_center_distance: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `ergon auxo`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Simulate(a) => simulate(a),
    }
}

fn simulate(a: SimulateArgs) -> Result<()> {
    if !a.positions {
        bail!("only the playground replay is available: pass --positions");
    }
    let split_rule = if !a.split_rounds.is_empty() {
        SplitRule::FixedRounds(a.split_rounds.clone())
    } else {
        match a.split_test {
            SplitTestArg::Reference => SplitRule::Reference,
            SplitTestArg::Improved => SplitRule::Improved(ImprovedTest::default()),
        }
    };
    let cfg = PlaygroundConfig {
        centers: a.centers,
        clients: a.clients,
        per_round: a.per_round,
        rounds: a.rounds,
        cluster_std: a.cluster_std,
        train_ratio: a.train_ratio,
        known_clients: a.known_clients,
        split_rule,
        center_box: 10.0,
        min_center_distance: a.min_center_distance,
        seed: a.seed,
    };
    let r = run_playground(&cfg).context("playground replay failed")?;
    let mut out = output::stdout();
    if a.json {
        writeln!(out, "{}", playground_json(&r))?;
        return Ok(());
    }
    writeln!(
        out,
        "{} clients in {} blobs, {} per round, {} rounds",
        a.clients, a.centers, a.per_round, a.rounds
    )?;
    for s in &r.splits {
        writeln!(
            out,
            "split at round {} -> {} cohorts",
            s.round, s.num_cohorts_after
        )?;
    }
    writeln!(
        out,
        "final cohorts {}  ARI {:.3}  purity of known clients {:.3}",
        r.final_cohorts, r.ari, r.purity_known
    )?;
    Ok(())
}
