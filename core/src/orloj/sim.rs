//! A deterministic discrete-event simulator of one accelerator serving several applications
//! (reference notes B2, B7): a seeded arrival trace (Poisson or bursty), each request with
//! its own true execution time drawn from its application's law; one batch at a time, which
//! takes `s(b)` times its slowest member; the policy decides through a [`Batcher`] whenever
//! the accelerator is idle and requests wait.
//!
//! A request *finishes* if its batch completes by its deadline; otherwise it is *late*
//! (executed after its deadline) or *dropped* (removed by the policy, or never served).
//! Every policy sees the same trace, so results are paired.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

pub use super::policy::{PolicyKind, PolicySpec};
use super::{BatchModel, BatchScale, Batcher, BatchingError, Distribution, ExecSpec, TimeGrid};

/// Most requests one simulated trace may hold.
pub const MAX_REQUESTS: usize = 20_000_000;

/// One application of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// Name (for reports and errors).
    pub name: String,
    /// Fraction of the requests, in (0, 1]; shares add up to 1.
    pub share: f64,
    /// Latency SLO: each request's deadline is its arrival plus this, seconds.
    pub slo_s: f64,
    /// True execution-time law of one request alone.
    pub exec: ExecSpec,
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// Poisson at `load` times the capacity ([`SimConfig::capacity_per_s`]).
    Poisson {
        /// Offered load relative to capacity.
        load: f64,
    },
    /// Poisson whose rate is `burst_factor` times the average during the first quarter of
    /// every `period_s` and lower in the rest, averaging `load` times the capacity.
    Bursty {
        /// Offered load relative to capacity.
        load: f64,
        /// Rate in a burst over the average rate, in [1, 4].
        burst_factor: f64,
        /// Length of one burst cycle, seconds.
        period_s: f64,
    },
}

impl Arrivals {
    /// The offered load.
    pub fn load(&self) -> f64 {
        match *self {
            Arrivals::Poisson { load } | Arrivals::Bursty { load, .. } => load,
        }
    }

    fn with_load(self, load: f64) -> Self {
        match self {
            Arrivals::Poisson { .. } => Arrivals::Poisson { load },
            Arrivals::Bursty {
                burst_factor,
                period_s,
                ..
            } => Arrivals::Bursty {
                load,
                burst_factor,
                period_s,
            },
        }
    }
}

/// A whole simulation: workload, server and policies (the content of `orloj-sim/v1`).
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of the arrival trace and the execution times.
    pub seed: u64,
    /// Arrivals stop after this many seconds (queued requests are still served).
    pub duration_s: f64,
    /// The applications.
    pub apps: Vec<AppConfig>,
    /// Batch-size factors; their number is the largest batch.
    pub scale: BatchScale,
    /// The arrival process.
    pub arrivals: Arrivals,
    /// Policies to compare.
    pub policies: Vec<PolicySpec>,
    /// Bins of the shared time grid.
    pub bins: usize,
    /// Orloj's drop floor.
    pub p_min: f64,
    /// Feed every executed request's true time back into the laws (with the batcher's
    /// [`DEFAULT_DECAY`](super::DEFAULT_DECAY)).
    pub learn: bool,
}

/// Default number of grid bins.
pub const DEFAULT_BINS: usize = 1024;
/// Default Orloj drop floor (the notes suggest 0.05–0.1; the sweep in docs/orloj.md found
/// 0.5 better at every load tried).
pub const DEFAULT_P_MIN: f64 = 0.5;

/// `s(b) = 1 + 0.1·(b − 1)` up to 16: a batch of 16 takes 2.5× its slowest member alone.
pub fn default_scale() -> BatchScale {
    BatchScale::linear(16, 0.1)
}

impl SimConfig {
    /// The built-in high-variance mix (reference notes B7): an early-exit model (30 % exit at
    /// 6 ms, else 20 ms) and a variable-length model (lognormal, mean 30 ms, CV 1), half the
    /// requests each, SLO = `slo_multiplier` × each application's mean, 80 % Poisson load,
    /// batches up to 16 with `s(b) = 1 + 0.1(b − 1)`, 60 s, every policy.
    pub fn high_variance(slo_multiplier: f64) -> Self {
        let apps = vec![
            AppConfig {
                name: "bert-early-exit".into(),
                share: 0.5,
                slo_s: 0.0,
                exec: ExecSpec::Bimodal {
                    low_s: 0.006,
                    high_s: 0.020,
                    p_low: 0.3,
                },
            },
            AppConfig {
                name: "seq2seq".into(),
                share: 0.5,
                slo_s: 0.0,
                exec: ExecSpec::Lognormal {
                    mean_s: 0.030,
                    cv: 1.0,
                },
            },
        ];
        SimConfig {
            seed: 7,
            duration_s: 60.0,
            apps,
            scale: default_scale(),
            arrivals: Arrivals::Poisson { load: 0.8 },
            policies: PolicySpec::all(),
            bins: DEFAULT_BINS,
            p_min: DEFAULT_P_MIN,
            learn: false,
        }
        .with_slo_multiplier(slo_multiplier)
    }

    /// The same mix with every time constant at its application's mean (CV 0, a static
    /// model).
    pub fn static_mix(slo_multiplier: f64) -> Self {
        Self::high_variance(slo_multiplier).with_cv(0.0)
    }

    /// The same configuration with each application's SLO at `m` times its mean time alone.
    pub fn with_slo_multiplier(mut self, m: f64) -> Self {
        for a in &mut self.apps {
            a.slo_s = m * a.exec.mean_s();
        }
        self
    }

    /// The same configuration with every application lognormal at its mean with this CV.
    pub fn with_cv(mut self, cv: f64) -> Self {
        for a in &mut self.apps {
            a.exec = ExecSpec::Lognormal {
                mean_s: a.exec.mean_s(),
                cv,
            };
        }
        self
    }

    /// The same configuration at another offered load.
    pub fn with_load(mut self, load: f64) -> Self {
        self.arrivals = self.arrivals.with_load(load);
        self
    }

    /// Largest batch.
    pub fn max_batch(&self) -> usize {
        self.scale.max_size()
    }

    /// Requests per second the server sustains "at the mean": one request at a time, each
    /// taking its application's mean time, `1 / Σ_k share_k · mean_k`. Batching can serve more
    /// (up to `B / (s(B) · mean)` in full batches), so loads above 1 are meaningful.
    pub fn capacity_per_s(&self) -> f64 {
        let per_request_s: f64 = self.apps.iter().map(|a| a.share * a.exec.mean_s()).sum();
        1.0 / per_request_s
    }

    /// Checks everything; errors name the application and field.
    pub fn validate(&self) -> Result<(), BatchingError> {
        if self.apps.is_empty() {
            return Err(BatchingError::NoApps);
        }
        if self.apps.len() > super::MAX_APPS {
            return Err(BatchingError::TooManyApps {
                apps: self.apps.len(),
            });
        }
        let mut sum = 0.0;
        for a in &self.apps {
            if !(a.share.is_finite() && a.share > 0.0 && a.share <= 1.0) {
                return Err(BatchingError::InvalidShare {
                    app: a.name.clone(),
                    share: a.share,
                });
            }
            sum += a.share;
            if !(a.slo_s.is_finite() && a.slo_s > 0.0) {
                return Err(BatchingError::InvalidSlo {
                    app: a.name.clone(),
                    slo_s: a.slo_s,
                });
            }
            a.exec.validate(&a.name)?;
        }
        if libm::fabs(sum - 1.0) > 1e-6 {
            return Err(BatchingError::ShareSum { sum });
        }
        positive("duration_s", self.duration_s)?;
        let (load, burst) = match self.arrivals {
            Arrivals::Poisson { load } => (load, None),
            Arrivals::Bursty {
                load,
                burst_factor,
                period_s,
            } => (load, Some((burst_factor, period_s))),
        };
        positive("arrivals.load", load)?;
        if let Some((factor, period_s)) = burst {
            if !(1.0..=4.0).contains(&factor) {
                return Err(BatchingError::InvalidValue {
                    field: "arrivals.burst_factor",
                    value: factor,
                    message: "not in [1, 4]",
                });
            }
            positive("arrivals.period_s", period_s)?;
        }
        if self.policies.is_empty() {
            return Err(BatchingError::NoPolicies);
        }
        if !(2..=super::MAX_BINS).contains(&self.bins) {
            return Err(BatchingError::InvalidGrid {
                bin_s: 0.0,
                bins: self.bins,
            });
        }
        super::probability("p_min", self.p_min)?;
        let expected = self.capacity_per_s() * load * self.duration_s;
        if expected.is_nan() || expected > MAX_REQUESTS as f64 {
            return Err(BatchingError::TooManyRequests {
                expected,
                limit: MAX_REQUESTS,
            });
        }
        Ok(())
    }

    /// The shared grid: `bins` points up to the largest application's reach.
    pub fn grid(&self) -> Result<TimeGrid, BatchingError> {
        let span = self
            .apps
            .iter()
            .map(|a| a.exec.upper_s())
            .fold(0.0, f64::max);
        TimeGrid::covering(span, self.bins)
    }
}

fn positive(field: &'static str, value: f64) -> Result<f64, BatchingError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(BatchingError::InvalidValue {
            field,
            value,
            message: "not a positive finite number",
        })
    }
}

/// One request of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Application index.
    pub app: usize,
    /// Arrival, seconds.
    pub arrival_s: f64,
    /// Deadline, seconds.
    pub deadline_s: f64,
    /// Its true execution time alone, seconds.
    pub exec_s: f64,
}

struct Uniform(Xoshiro256PlusPlus);

impl Uniform {
    fn next(&mut self) -> f64 {
        // 53 random bits in [0, 1).
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The arrival trace of `cfg` (validated first), in arrival order.
pub fn trace(cfg: &SimConfig) -> Result<Vec<Request>, BatchingError> {
    cfg.validate()?;
    let mut rng = Uniform(Xoshiro256PlusPlus::seed_from_u64(cfg.seed));
    let rate = cfg.arrivals.load() * cfg.capacity_per_s();
    // Thinning: candidates at the peak rate, kept with probability rate(t) / peak.
    let (peak, rate_at): (f64, Box<dyn Fn(f64) -> f64>) = match cfg.arrivals {
        Arrivals::Poisson { .. } => (rate, Box::new(move |_| rate)),
        Arrivals::Bursty {
            burst_factor,
            period_s,
            ..
        } => {
            let high = rate * burst_factor;
            let low = rate * (1.0 - 0.25 * burst_factor) / 0.75;
            (
                high,
                Box::new(move |t: f64| {
                    let phase = t / period_s - libm::floor(t / period_s);
                    if phase < 0.25 { high } else { low }
                }),
            )
        }
    };
    let mut out = Vec::new();
    let mut t = 0.0;
    loop {
        t += -libm::log(1.0 - rng.next()) / peak;
        if t >= cfg.duration_s {
            break;
        }
        if rng.next() * peak >= rate_at(t) {
            continue;
        }
        let u = rng.next();
        let mut acc = 0.0;
        let mut app = cfg.apps.len() - 1;
        for (k, a) in cfg.apps.iter().enumerate() {
            acc += a.share;
            if u < acc {
                app = k;
                break;
            }
        }
        let a = &cfg.apps[app];
        let exec_s = a.exec.sample(&mut || rng.next());
        out.push(Request {
            app,
            arrival_s: t,
            deadline_s: t + a.slo_s,
            exec_s,
        });
        if out.len() > MAX_REQUESTS {
            return Err(BatchingError::TooManyRequests {
                expected: out.len() as f64,
                limit: MAX_REQUESTS,
            });
        }
    }
    Ok(out)
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Completed by its deadline.
    Finished,
    /// Executed, completed after its deadline.
    Late,
    /// Dropped by the policy (or never served).
    Dropped,
}

/// One request's fate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// What happened.
    pub status: Status,
    /// Completion time (finished, late) or drop time, seconds.
    pub done_s: f64,
}

/// One policy's numbers (a row of `orloj-result/v1`).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyResult {
    /// Policy name.
    pub policy: String,
    /// Requests in the trace.
    pub arrived: u64,
    /// Completed by their deadline.
    pub finished: u64,
    /// `finished / arrived` (0 for an empty trace).
    pub finish_rate: f64,
    /// Dropped by the policy.
    pub dropped: u64,
    /// Executed but completed after their deadline.
    pub late: u64,
    /// 99th percentile (nearest rank) of arrival-to-completion latency of finished requests,
    /// seconds (0 if none finished).
    pub p99_latency_s: f64,
    /// Mean lateness of late requests, seconds (0 if none).
    pub mean_lateness_s: f64,
    /// Batches run.
    pub batches: u64,
    /// Mean batch size.
    pub mean_batch_size: f64,
}

/// Runs one policy on a trace of `cfg`; returns its numbers and every request's outcome.
pub fn run_policy(
    cfg: &SimConfig,
    requests: &[Request],
    policy: PolicySpec,
) -> Result<(PolicyResult, Vec<Outcome>), BatchingError> {
    let grid = cfg.grid()?;
    let dists = cfg
        .apps
        .iter()
        .map(|a| Distribution::from_spec(grid, &a.exec, &a.name))
        .collect::<Result<Vec<_>, _>>()?;
    let scale = cfg.scale.clone();
    let max = scale.max_size();
    let mut batcher = Batcher::new(dists, Box::new(scale.clone()), policy.build(cfg.p_min))?;
    let mut outcome: Vec<Option<Outcome>> = vec![None; requests.len()];
    let mut batch = vec![0u64; max];
    let mut dropped = vec![0u64; 4096];
    let (mut batches, mut batched) = (0u64, 0u64);
    let mut now = 0.0f64;
    let mut next = 0usize;
    loop {
        while let Some(r) = requests.get(next) {
            if r.arrival_s > now {
                break;
            }
            batcher.enqueue(r.app, next as u64, r.arrival_s, r.deadline_s)?;
            next += 1;
        }
        if batcher.queued() == 0 {
            match requests.get(next) {
                Some(r) => {
                    now = r.arrival_s;
                    continue;
                }
                None => break,
            }
        }
        let d = batcher.next_batch(now, &mut batch, &mut dropped)?;
        for &id in dropped.get(..d.dropped_len).unwrap_or(&[]) {
            if let Some(slot) = outcome.get_mut(id as usize) {
                *slot = Some(Outcome {
                    status: Status::Dropped,
                    done_s: now,
                });
            }
        }
        if d.more_dropped {
            continue;
        }
        if d.batch_len == 0 {
            if batcher.queued() == 0 {
                continue;
            }
            // The policy waits: until the next arrival, or for ever (never served).
            match requests.get(next) {
                Some(r) => {
                    now = r.arrival_s;
                    continue;
                }
                None => break,
            }
        }
        let members = batch.get(..d.batch_len).unwrap_or(&[]);
        let slowest = members
            .iter()
            .filter_map(|&id| requests.get(id as usize))
            .map(|r| r.exec_s)
            .fold(0.0, f64::max);
        let exec_s = scale.scale(d.batch_len) * slowest;
        let finish = now + exec_s;
        for &id in members {
            let Some(r) = requests.get(id as usize) else {
                continue;
            };
            let status = if finish <= r.deadline_s {
                Status::Finished
            } else {
                Status::Late
            };
            if let Some(slot) = outcome.get_mut(id as usize) {
                *slot = Some(Outcome {
                    status,
                    done_s: finish,
                });
            }
            if cfg.learn {
                batcher.complete(r.app, r.exec_s)?;
            }
        }
        batcher.batch_done(exec_s)?;
        batches += 1;
        batched += d.batch_len as u64;
        now = finish;
    }
    let outcomes: Vec<Outcome> = outcome
        .into_iter()
        .map(|o| {
            o.unwrap_or(Outcome {
                status: Status::Dropped,
                done_s: now,
            })
        })
        .collect();
    let result = summarise(policy.name(), requests, &outcomes, batches, batched);
    Ok((result, outcomes))
}

fn summarise(
    name: &str,
    requests: &[Request],
    outcomes: &[Outcome],
    batches: u64,
    batched: u64,
) -> PolicyResult {
    let (mut finished, mut late, mut dropped) = (0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    let mut lateness = 0.0;
    for (r, o) in requests.iter().zip(outcomes) {
        match o.status {
            Status::Finished => {
                finished += 1;
                latencies.push(o.done_s - r.arrival_s);
            }
            Status::Late => {
                late += 1;
                lateness += o.done_s - r.deadline_s;
            }
            Status::Dropped => dropped += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let p99 = if latencies.is_empty() {
        0.0
    } else {
        let rank = libm::ceil(0.99 * latencies.len() as f64) as usize;
        latencies
            .get(rank.clamp(1, latencies.len()) - 1)
            .copied()
            .unwrap_or(0.0)
    };
    let arrived = requests.len() as u64;
    PolicyResult {
        policy: String::from(name),
        arrived,
        finished,
        finish_rate: if arrived == 0 {
            0.0
        } else {
            finished as f64 / arrived as f64
        },
        dropped,
        late,
        p99_latency_s: p99,
        mean_lateness_s: if late == 0 {
            0.0
        } else {
            lateness / late as f64
        },
        batches,
        mean_batch_size: if batches == 0 {
            0.0
        } else {
            batched as f64 / batches as f64
        },
    }
}

/// Simulates every policy of `cfg` on one shared trace.
pub fn simulate(cfg: &SimConfig) -> Result<Vec<PolicyResult>, BatchingError> {
    let requests = trace(cfg)?;
    cfg.policies
        .iter()
        .map(|&p| run_policy(cfg, &requests, p).map(|(r, _)| r))
        .collect()
}
