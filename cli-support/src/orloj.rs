//! The arguments that choose an Orloj simulation: an `orloj-sim/v1` file or a built-in mix,
//! with overrides, validated into a [`SimConfig`].

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use ergon_core::orloj::formats::parse_sim;
use ergon_core::orloj::sim::{PolicySpec, SimConfig};

/// Built-in workloads.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mix {
    /// Early-exit (bimodal 6/20 ms, 30 % early) + variable-length (lognormal 30 ms, CV 1).
    HighVariance,
    /// The same two applications with constant times at their means (CV 0).
    Static,
}

impl Mix {
    /// The built-in configuration with each application's SLO at `slo_multiplier` × its mean
    /// time alone.
    pub fn config(self, slo_multiplier: f64) -> SimConfig {
        match self {
            Mix::HighVariance => SimConfig::high_variance(slo_multiplier),
            Mix::Static => SimConfig::static_mix(slo_multiplier),
        }
    }
}

/// Where a simulation's configuration comes from, and what the command line overrides.
#[derive(clap::Args)]
pub struct Workload {
    /// Configuration in `orloj-sim/v1` JSON (default: the built-in --mix).
    #[arg(long, value_name = "FILE.json", conflicts_with = "mix")]
    pub config: Option<PathBuf>,
    /// Built-in workload when no --config is given.
    #[arg(long, value_enum, default_value = "high-variance")]
    pub mix: Mix,
    /// Override the trace length, seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the offered load (relative to the capacity one request at a time at the
    /// mean; batching makes loads above 1 servable).
    #[arg(long)]
    pub load: Option<f64>,
    /// Override the batch-size factors with `s(b) = 1 + STEP·(b − 1)` (same largest batch).
    #[arg(long, value_name = "STEP")]
    pub batch_step: Option<f64>,
    /// Override Orloj's drop floor: drop a request whose probability of finishing in time
    /// alone is below this.
    #[arg(long, value_name = "P")]
    pub p_min: Option<f64>,
    /// Only these policies (comma-separated, e.g. orloj,clockwork-p99).
    #[arg(long, value_delimiter = ',')]
    pub policies: Vec<String>,
}

/// Fails unless `m` is a usable SLO multiplier (positive and finite).
pub fn check_multiplier(m: f64) -> Result<()> {
    if !(m.is_finite() && m > 0.0) {
        bail!("SLO multiplier {m} is not a positive finite number");
    }
    Ok(())
}

impl Workload {
    /// The configuration: the --config file (errors name it) or the built-in mix at
    /// `slo_multiplier`, with the overrides applied, then validated.
    pub fn load(&self, slo_multiplier: f64) -> Result<SimConfig> {
        let mut cfg = match &self.config {
            Some(path) => {
                let text = crate::output::read_text(path)?;
                parse_sim(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => {
                check_multiplier(slo_multiplier)?;
                self.mix.config(slo_multiplier)
            }
        };
        if let Some(d) = self.duration {
            cfg.duration_s = d;
        }
        if let Some(s) = self.seed {
            cfg.seed = s;
        }
        if let Some(l) = self.load {
            cfg = cfg.with_load(l);
        }
        if let Some(step) = self.batch_step {
            if !(step.is_finite() && step >= 0.0) {
                bail!("--batch-step {step} is not a finite non-negative number");
            }
            cfg.scale = ergon_core::orloj::BatchScale::linear(cfg.max_batch(), step);
        }
        if let Some(p) = self.p_min {
            cfg.p_min = p;
        }
        if !self.policies.is_empty() {
            // The names and the message listing them are core's (PolicySpec's FromStr).
            cfg.policies = self
                .policies
                .iter()
                .map(|n| n.parse::<PolicySpec>())
                .collect::<Result<_, _>>()?;
        }
        cfg.validate().context("invalid configuration")?;
        Ok(cfg)
    }
}
