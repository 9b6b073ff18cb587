//! The synthetic DPK workloads: the microbenchmark of Figs. 4–5 as `dpk-workload/v1`, and the
//! Alibaba-like and Amazon-like online traces as `dpk-online/v1` (`ergon-experiments dpk
//! generate`; `ergon dpk simulate --generate` builds the same traces in memory).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::ValueEnum;
use ergon_cli_support::{note, output};
use ergon_core::dpk::formats::{online_json, workload_json};
use ergon_core::dpk::generate::{AlibabaLike, AmazonLike, Microbenchmark};
use ergon_core::dpk::{OnlineConfig, ScheduleOptions};

/// A generated online workload.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum OnlineWorkload {
    /// Alibaba-like: many small tasks over a growing set of blocks (paper Figs. 6b, 9).
    Alibaba,
    /// Amazon-like: elephants and mice arriving per block (paper Fig. 7).
    Amazon,
}

/// Settings of the generated online workloads.
#[derive(clap::Args)]
pub struct OnlineGenArgs {
    /// Number of tasks (default: 60000 for alibaba, 10000 for amazon).
    #[arg(long)]
    tasks: Option<usize>,
    /// Blocks at t = 0 (default: 100 for alibaba, 1 for amazon).
    #[arg(long)]
    initial_blocks: Option<u32>,
    /// Total number of blocks (alibaba; default 190).
    #[arg(long)]
    total_blocks: Option<u32>,
    /// Scheduling period T (default: 10 for alibaba, 1 for amazon).
    #[arg(long)]
    period: Option<f64>,
    /// Data lifetime: time to unlock a block fully (default: 30 for alibaba, 5 for amazon).
    #[arg(long)]
    lifetime: Option<f64>,
    /// Amazon: mean tasks per block (time unit).
    #[arg(long, default_value_t = 250.0)]
    tasks_per_block: f64,
    /// Amazon: draw weights ({10,50,100,500} for elephants, {1,5,10,50} for mice).
    #[arg(long)]
    weighted: bool,
    /// Seed.
    #[arg(long, default_value_t = 64)]
    seed: u64,
}

impl OnlineGenArgs {
    /// The generated workload `kind` with these settings, scheduled with `options`.
    pub fn config(&self, kind: OnlineWorkload, options: ScheduleOptions) -> Result<OnlineConfig> {
        Ok(match kind {
            OnlineWorkload::Alibaba => {
                let d = AlibabaLike::default();
                AlibabaLike {
                    num_tasks: self.tasks.unwrap_or(d.num_tasks),
                    initial_blocks: self.initial_blocks.unwrap_or(d.initial_blocks),
                    total_blocks: self.total_blocks.unwrap_or(d.total_blocks),
                    scheduling_period: self.period.unwrap_or(d.scheduling_period),
                    data_lifetime: self.lifetime.unwrap_or(d.data_lifetime),
                    unlock_steps: d.unlock_steps,
                    seed: self.seed,
                }
                .config(options)?
            }
            OnlineWorkload::Amazon => {
                let d = AmazonLike::default();
                AmazonLike {
                    num_tasks: self.tasks.unwrap_or(d.num_tasks),
                    tasks_per_block: self.tasks_per_block,
                    elephant_fraction: d.elephant_fraction,
                    weighted: self.weighted,
                    initial_blocks: self.initial_blocks.unwrap_or(d.initial_blocks),
                    scheduling_period: self.period.unwrap_or(d.scheduling_period),
                    data_lifetime: self.lifetime.unwrap_or(d.data_lifetime),
                    seed: self.seed,
                }
                .config(options)?
            }
        })
    }
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum GenKind {
    Micro,
    Alibaba,
    Amazon,
}

/// Arguments of `dpk generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Which workload.
    #[arg(value_enum)]
    kind: GenKind,
    /// Output file.
    #[arg(long, value_name = "FILE.json")]
    out: PathBuf,
    /// Micro: number of tasks.
    #[arg(long, default_value_t = 1000)]
    num_tasks: usize,
    /// Micro: number of blocks.
    #[arg(long, default_value_t = 20)]
    blocks: usize,
    /// Micro: mean blocks per task.
    #[arg(long, default_value_t = 10.0)]
    mu_blocks: f64,
    /// Micro: standard deviation of blocks per task.
    #[arg(long, default_value_t = 0.0)]
    sigma_blocks: f64,
    /// Micro: spread of best orders around α = 5 (buckets).
    #[arg(long, default_value_t = 0.0)]
    sigma_alpha: f64,
    /// Micro: mean normalised ε_min.
    #[arg(long, default_value_t = 0.1)]
    eps_min: f64,
    /// Micro: standard deviation of the normalised ε_min.
    #[arg(long, default_value_t = 0.0)]
    eps_min_std: f64,
    #[command(flatten)]
    spread: Spread,
    #[command(flatten)]
    gen_args: OnlineGenArgs,
}

/// The microbenchmark's `--spread MEAN,STD` (of `generate` and `experiment`).
#[derive(clap::Args)]
pub(crate) struct Spread {
    /// Microbenchmark: stretch each curve's normalised spread over α ∈ {4, 5, 6, 8} to a draw
    /// of N(MEAN, STD) (the reference generator's option), e.g. `--spread 0.05,0.03`.
    #[arg(long = "spread", value_name = "MEAN,STD", value_delimiter = ',')]
    #[arg(allow_hyphen_values = true)]
    mean_std: Vec<f64>,
}

impl Spread {
    /// The generator's option (none when not given).
    pub(crate) fn get(&self) -> Result<Option<(f64, f64)>> {
        match self.mean_std[..] {
            [] => Ok(None),
            [m, s] if m.is_finite() && m > 0.0 && s.is_finite() && s >= 0.0 => Ok(Some((m, s))),
            _ => bail!("--spread needs MEAN,STD with MEAN > 0 and STD >= 0"),
        }
    }
}

impl GenerateArgs {
    /// Writes the workload to `--out` (atomically; nothing on standard output).
    pub fn run(self) -> Result<()> {
        let online = |kind| -> Result<String> {
            Ok(online_json(
                &self.gen_args.config(kind, ScheduleOptions::default())?,
            ))
        };
        let text = match self.kind {
            GenKind::Micro => {
                let w = Microbenchmark {
                    num_tasks: self.num_tasks,
                    num_blocks: self.blocks,
                    mu_blocks: self.mu_blocks,
                    sigma_blocks: self.sigma_blocks,
                    sigma_alpha: self.sigma_alpha,
                    eps_min_mean: self.eps_min,
                    eps_min_std: self.eps_min_std,
                    spread: self.spread.get()?,
                    seed: self.gen_args.seed,
                }
                .workload()?;
                workload_json(&w)
            }
            GenKind::Alibaba => online(OnlineWorkload::Alibaba)?,
            GenKind::Amazon => online(OnlineWorkload::Amazon)?,
        };
        output::write_file(&self.out, text.as_bytes())?;
        note!("wrote {}", self.out.display());
        Ok(())
    }
}
