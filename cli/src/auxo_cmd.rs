//! `ergon auxo`: Auxo's cohort identification. `simulate --positions` replays the reference
//! playground (Gaussian-blob positions used as client updates) and scores the recovered
//! cohorts against the blobs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use ergon_core::auxo::formats::playground_json;
use ergon_core::auxo::playground::{PlaygroundConfig, run as run_playground};
use ergon_core::auxo::sim::{EvalPoint, TrainSimConfig, TrainSimResult, run as run_sim};
use ergon_core::auxo::{ImprovedTest, SplitRule};
use ergon_plot::{Figure, Frame, Legend, Panel, Rgb, Series};

use crate::output;

/// Arguments of `ergon auxo`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train one model per cohort on synthetic non-IID clients against one global FedAvg
    /// model, or (`--positions`) replay the reference playground.
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
    /// Training simulator: latent groups of clients.
    #[arg(long, value_name = "G", default_value_t = 3)]
    groups: usize,
    /// Training simulator: share of samples relabelled to the group's favourite classes.
    #[arg(long, value_name = "P", default_value_t = 0.3)]
    label_skew: f64,
    /// Training simulator: distance of each group's feature mean from the origin.
    #[arg(long, value_name = "D", default_value_t = 1.0)]
    feature_skew: f64,
    /// Training simulator: probability that a client is online in a round.
    #[arg(long, value_name = "P", default_value_t = 0.8)]
    availability: f64,
    /// Training simulator: write the cohort count and accuracy curves to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// Runs `ergon auxo`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Simulate(a) => simulate(a),
    }
}

fn simulate(a: SimulateArgs) -> Result<()> {
    let split_rule = if !a.split_rounds.is_empty() {
        SplitRule::FixedRounds(a.split_rounds.clone())
    } else {
        match a.split_test {
            SplitTestArg::Reference => SplitRule::Reference,
            SplitTestArg::Improved => SplitRule::Improved(ImprovedTest::default()),
        }
    };
    if !a.positions {
        return train_sim(&a, split_rule);
    }
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

fn train_sim(a: &SimulateArgs, split_rule: SplitRule) -> Result<()> {
    let mut cfg = TrainSimConfig {
        clients: a.clients,
        groups: a.groups,
        per_round: a.per_round,
        rounds: a.rounds,
        label_skew: a.label_skew,
        feature_skew: a.feature_skew,
        availability: a.availability,
        split_rule,
        seed: a.seed,
        ..TrainSimConfig::default()
    };
    // The playground defaults (1000 clients, 50 per round, 800 rounds) are heavy for training;
    // the simulator's own defaults apply unless the flags were changed.
    if a.clients == 1000 && a.per_round == 50 && a.rounds == 800 {
        let d = TrainSimConfig::default();
        cfg.clients = d.clients;
        cfg.per_round = d.per_round;
        cfg.rounds = d.rounds;
    }
    let r = run_sim(&cfg).context("training simulation failed")?;
    if let Some(path) = &a.svg {
        let svg = sim_svg(&r).context("plotting failed")?;
        output::write_file(path, svg.as_bytes())?;
    }
    let last = r.curve.last().copied();
    let mut out = output::stdout();
    if a.json {
        let curve: Vec<serde_json::Value> = r
            .curve
            .iter()
            .map(|p| {
                serde_json::json!({"round": p.round, "cohorts": p.cohorts,
                    "cohort_mean_acc": p.cohort_mean, "cohort_std_acc": p.cohort_std,
                    "global_mean_acc": p.global_mean, "global_std_acc": p.global_std})
            })
            .collect();
        let v = serde_json::json!({"schema": "auxo-train-sim/v1", "split_rounds": r.split_rounds,
            "ari": r.ari, "purity": r.purity, "curve": curve});
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} clients in {} latent groups, {} per round, {} rounds",
        cfg.clients, cfg.groups, cfg.per_round, cfg.rounds
    )?;
    writeln!(
        out,
        "{:>6} {:>7} {:>12} {:>11} {:>12} {:>11}",
        "round", "cohorts", "cohort acc", "cohort std", "global acc", "global std"
    )?;
    for p in &r.curve {
        writeln!(
            out,
            "{:>6} {:>7} {:>12.3} {:>11.3} {:>12.3} {:>11.3}",
            p.round, p.cohorts, p.cohort_mean, p.cohort_std, p.global_mean, p.global_std
        )?;
    }
    if let Some(p) = last {
        writeln!(
            out,
            "final: cohorts {}  ARI {:.3}  purity {:.3}  accuracy {:.3} ± {:.3} (cohorts) vs {:.3} ± {:.3} (global)",
            p.cohorts, r.ari, r.purity, p.cohort_mean, p.cohort_std, p.global_mean, p.global_std
        )?;
    }
    Ok(())
}

fn sim_svg(r: &TrainSimResult) -> Result<String> {
    let pts = |f: &dyn Fn(&EvalPoint) -> f64| -> Vec<(f64, f64)> {
        r.curve.iter().map(|p| (f64::from(p.round), f(p))).collect()
    };
    let x_max = r.curve.last().map_or(1.0, |p| f64::from(p.round)).max(1.0);
    let blue = Rgb(31, 119, 180);
    let red = Rgb(214, 39, 40);
    let panel = |title: &str, y_desc: &str, y_max: f64, series: Vec<Series>| Panel {
        title: title.to_owned(),
        x_desc: "round".to_owned(),
        y_desc: y_desc.to_owned(),
        x_range: 0.0..x_max,
        y_range: 0.0..y_max,
        series,
    };
    // The cohort models' and the global model's curves of one quantity.
    let both = |cohort: &dyn Fn(&EvalPoint) -> f64, global: &dyn Fn(&EvalPoint) -> f64| {
        vec![
            Series::line("one model per cohort (Auxo)", blue, 2).with_points(pts(cohort)),
            Series::line("one global FedAvg model", red, 2).with_points(pts(global)),
        ]
    };
    let max_std = r
        .curve
        .iter()
        .map(|p| p.cohort_std.max(p.global_std))
        .fold(0.01, f64::max);
    let max_cohorts = r.curve.iter().map(|p| p.cohorts).max().unwrap_or(1) as f64;
    let fig = Figure {
        width_px: 1500,
        height_px: 480,
        frame: Frame {
            title_px: 18,
            margin_px: 12,
            x_label_area_px: 40,
            y_label_area_px: 60,
        },
        panels: vec![
            panel(
                "mean per-client accuracy",
                "accuracy",
                1.0,
                both(&|p| p.cohort_mean, &|p| p.global_mean),
            ),
            panel(
                "spread (std) of per-client accuracy",
                "std",
                max_std * 1.1,
                both(&|p| p.cohort_std, &|p| p.global_std),
            ),
            panel(
                "cohorts",
                "cohorts",
                max_cohorts + 1.0,
                vec![
                    Series::line("cohorts", Rgb(44, 160, 44), 2)
                        .with_points(pts(&|p| p.cohorts as f64)),
                ],
            ),
        ],
        legend: Legend::Below { height_px: 40 },
    };
    Ok(fig.to_svg()?)
}
