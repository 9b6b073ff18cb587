//! The Zeus batch-size optimizer across recurrences of a job: pruning exploration from the
//! default batch size, early stopping at β × the best cost so far, then Gaussian Thompson
//! sampling over the batch sizes that survived pruning (`PruningGTSBatchSizeOptimizer` +
//! `GaussianTS` of the legacy Zeus code; zeus-simulator.md §1.7).
//!
//! A job launcher calls [`BatchSizeOptimizer::next_batch_size`] before each attempt, runs it
//! (stopping early once its cost would exceed [`BatchSizeOptimizer::cost_limit`]) and reports
//! the outcome with [`BatchSizeOptimizer::report`] (or
//! [`BatchSizeOptimizer::report_never_ran`] when not even one epoch fitted under the limit).
//! The whole state, random stream included, serializes (feature `serde`), so it can live in a
//! file between recurrences.

use alloc::vec::Vec;

use super::ZeusError;
use super::rng::ZeusRng;

/// The reference's number of pruning rounds.
pub const DEFAULT_PRUNING_ROUNDS: u32 = 2;
/// The reference's early-stopping multiplier β.
pub const DEFAULT_BETA: f64 = 2.0;
/// Observations an arm needs before Thompson sampling uses its posterior (the reference's
/// `num_exploration = 2`); with fewer, the arm is simply tried.
pub const DEFAULT_NUM_EXPLORATIONS: u32 = 2;

/// Parameters of a [`BatchSizeOptimizer`] (the reference's defaults in
/// [`BsoParams::new`]).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BsoParams {
    /// The batch sizes that may be chosen (any order; sorted and checked for duplicates).
    pub batch_sizes: Vec<u32>,
    /// b0, where pruning starts; must be one of `batch_sizes`.
    pub default_batch_size: u32,
    /// Early-stopping multiplier: an attempt stops before its cost exceeds β × the lowest
    /// cost of a finished recurrence. ≥ 1; `f64::INFINITY` (serialized as `null`) disables
    /// early stopping.
    #[cfg_attr(feature = "serde", serde(with = "inf_as_null"))]
    pub beta: f64,
    /// Rounds of pruning exploration (the reference: 2). 0 starts Thompson sampling at once
    /// over every batch size.
    pub num_pruning_rounds: u32,
    /// Seed of the Thompson-sampling stream.
    pub seed: u64,
    /// Mean of the Gaussian prior over each arm's expected reward (reward = −cost).
    pub prior_mean: f64,
    /// Precision of that prior; 0 (the reference) is the flat improper prior.
    pub prior_precision: f64,
    /// How many of an arm's latest observations the posterior uses; 0 (the reference) = all.
    pub window_size: u32,
    /// Observations an arm needs before its posterior is sampled.
    pub num_explorations: u32,
}

impl BsoParams {
    /// The reference's parameters for `batch_sizes` starting at `default_batch_size`:
    /// β = 2, two pruning rounds, flat prior, whole history, two explorations, seed 1.
    pub fn new(batch_sizes: Vec<u32>, default_batch_size: u32) -> Self {
        Self {
            batch_sizes,
            default_batch_size,
            beta: DEFAULT_BETA,
            num_pruning_rounds: DEFAULT_PRUNING_ROUNDS,
            seed: 1,
            prior_mean: 0.0,
            prior_precision: 0.0,
            window_size: 0,
            num_explorations: DEFAULT_NUM_EXPLORATIONS,
        }
    }
}

/// Where the optimizer is.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage<'a> {
    /// Pruning exploration, round `round` (1-based).
    Pruning {
        /// The round.
        round: u32,
    },
    /// Gaussian Thompson sampling over `arms` (ascending).
    Thompson {
        /// The surviving batch sizes.
        arms: &'a [u32],
    },
}

/// One pruning round: its exploration order (down from the default, then up) and results.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Round {
    /// 1-based.
    round: u32,
    /// The default, then every smaller candidate, descending.
    down: Vec<u32>,
    /// Every larger candidate, ascending.
    up: Vec<u32>,
    /// 0: exploring `down`, 1: exploring `up`.
    phase: u8,
    /// Next index into the current list.
    pos: usize,
    /// Candidates that reached the target this round, in exploration order.
    good: Vec<u32>,
    /// Lowest cost among them and its batch size (the next round's default).
    best: Option<(f64, u32)>,
    /// The batch size handed out and not yet reported.
    expecting: Option<u32>,
}

impl Round {
    fn new(round: u32, candidates: &[u32], default: u32) -> Self {
        let split = candidates.partition_point(|&b| b <= default);
        Self {
            round,
            down: candidates[..split].iter().rev().copied().collect(),
            up: candidates[split..].to_vec(),
            phase: 0,
            pos: 0,
            good: Vec::new(),
            best: None,
            expecting: None,
        }
    }

    /// The next batch size of this round, or `None` when the round is over.
    fn next(&mut self) -> Option<u32> {
        if let Some(b) = self.expecting {
            // Asked twice without a report: the same one again (the reference would be out
            // of step; a relaunched job is the likelier cause).
            return Some(b);
        }
        loop {
            let list = if self.phase == 0 {
                &self.down
            } else {
                &self.up
            };
            if let Some(&b) = list.get(self.pos) {
                self.expecting = Some(b);
                return Some(b);
            }
            if self.phase == 0 {
                self.phase = 1;
                self.pos = 0;
            } else {
                return None;
            }
        }
    }

    fn report(&mut self, batch_size: u32, cost: f64, reached: bool) -> Result<(), ZeusError> {
        if self.expecting != Some(batch_size) {
            return Err(ZeusError::UnexpectedBatchSize {
                expected: self.expecting,
                got: batch_size,
            });
        }
        self.expecting = None;
        if reached {
            if self.best.is_none_or(|(c, _)| cost < c) {
                self.best = Some((cost, batch_size));
            }
            self.good.push(batch_size);
            self.pos += 1;
        } else if self.phase == 0 {
            // The first failure ends the downward sweep; the upward one starts.
            self.phase = 1;
            self.pos = 0;
        } else {
            // ... and the first failure upwards ends the round.
            self.pos = self.up.len();
        }
        Ok(())
    }
}

/// The Thompson-sampling stage's posterior of one arm.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Arm {
    batch_size: u32,
    /// Posterior mean of the expected reward (−cost).
    mean: f64,
    /// Posterior precision; `f64::INFINITY` (serialized as `null`) is a point mass.
    #[cfg_attr(feature = "serde", serde(with = "inf_as_null"))]
    precision: f64,
    /// Observations the posterior was fitted on.
    observations: u32,
}

/// The Zeus batch-size optimizer (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BatchSizeOptimizer {
    params: BsoParams,
    /// Every observation `(batch_size, reward = −cost)`, in order (never-ran penalties too).
    history: Vec<(u32, f64)>,
    /// The current pruning round; `None` once Thompson sampling started.
    round: Option<Round>,
    /// The Thompson-sampling arms (ascending), empty while pruning.
    arms: Vec<Arm>,
    /// Their batch sizes (ascending), kept beside `arms` to hand out as a slice.
    arm_sizes: Vec<u32>,
    /// Lowest cost of a finished recurrence (all its attempts summed); `None` before the first.
    min_cost: Option<f64>,
    /// Cost of the attempts of the current recurrence so far.
    recurrence_cost: f64,
    rng: ZeusRng,
}

impl BatchSizeOptimizer {
    /// A fresh optimizer, or why `params` are unusable.
    pub fn new(mut params: BsoParams) -> Result<Self, ZeusError> {
        if params.batch_sizes.is_empty() {
            return Err(ZeusError::NoBatchSizes);
        }
        params.batch_sizes.sort_unstable();
        for w in params.batch_sizes.windows(2) {
            if w[0] == w[1] {
                return Err(ZeusError::BadBatchSize { batch_size: w[0] });
            }
        }
        if params.batch_sizes[0] == 0 {
            return Err(ZeusError::BadBatchSize { batch_size: 0 });
        }
        if params
            .batch_sizes
            .binary_search(&params.default_batch_size)
            .is_err()
        {
            return Err(ZeusError::DefaultNotListed {
                default: params.default_batch_size,
                batch_sizes: params.batch_sizes.clone(),
            });
        }
        if params.beta.is_nan() || params.beta < 1.0 {
            return Err(ZeusError::BadBeta { value: params.beta });
        }
        if !params.prior_mean.is_finite() {
            return Err(ZeusError::BadParameter {
                name: "prior_mean",
                value: params.prior_mean,
            });
        }
        if !(params.prior_precision.is_finite() && params.prior_precision >= 0.0) {
            return Err(ZeusError::BadParameter {
                name: "prior_precision",
                value: params.prior_precision,
            });
        }
        if params.num_explorations == 0 && params.prior_precision == 0.0 {
            // A flat prior has no posterior to draw from before the first observation.
            return Err(ZeusError::BadParameter {
                name: "num_explorations (must be >= 1 with a flat prior)",
                value: 0.0,
            });
        }
        let rng = ZeusRng::new(params.seed);
        let mut bso = Self {
            history: Vec::new(),
            round: None,
            arms: Vec::new(),
            arm_sizes: Vec::new(),
            min_cost: None,
            recurrence_cost: 0.0,
            rng,
            params,
        };
        if bso.params.num_pruning_rounds > 0 {
            bso.round = Some(Round::new(
                1,
                &bso.params.batch_sizes,
                bso.params.default_batch_size,
            ));
        } else {
            let all = bso.params.batch_sizes.clone();
            bso.start_thompson(&all);
        }
        Ok(bso)
    }

    /// The parameters (batch sizes sorted).
    pub fn params(&self) -> &BsoParams {
        &self.params
    }

    /// Pruning (with its round) or Thompson sampling (with its arms).
    pub fn stage(&self) -> Stage<'_> {
        match &self.round {
            Some(r) => Stage::Pruning { round: r.round },
            None => Stage::Thompson {
                arms: &self.arm_sizes,
            },
        }
    }

    /// The batch size to run next. During pruning it is the next one to explore (asked again
    /// before a report, the same one); during Thompson sampling one posterior draw per arm
    /// picks it (an arm with fewer than `num_explorations` observations is tried first).
    ///
    /// Fails only when a pruning round ends with no batch size that reached the target.
    pub fn next_batch_size(&mut self) -> Result<u32, ZeusError> {
        while let Some(round) = &mut self.round {
            if let Some(b) = round.next() {
                return Ok(b);
            }
            // The round is over: its survivors are the next round's candidates, started from
            // the cheapest of them.
            let mut good = core::mem::take(&mut round.good);
            good.sort_unstable();
            let (number, best) = (round.round, round.best);
            let Some((_, default)) = best else {
                return Err(ZeusError::NoSurvivors { round: number });
            };
            if number < self.params.num_pruning_rounds {
                self.round = Some(Round::new(number + 1, &good, default));
            } else {
                self.start_thompson(&good);
            }
        }
        Ok(self.thompson_pick())
    }

    /// Records the outcome of an attempt at `batch_size` that ran: its `cost` (J, every epoch
    /// it ran, see [`crate::zeus::zeus_cost`]) and whether it `reached` the target. A reached
    /// attempt ends the recurrence: the recurrence's cost (this attempt plus the failed ones
    /// before it) may lower the best cost and so the [`cost_limit`](Self::cost_limit).
    pub fn report(&mut self, batch_size: u32, cost: f64, reached: bool) -> Result<(), ZeusError> {
        if !(cost.is_finite() && cost >= 0.0) {
            return Err(ZeusError::BadCost { value: cost });
        }
        self.observe(batch_size, cost, reached)?;
        self.recurrence_cost += cost;
        if reached {
            if self.min_cost.is_none_or(|m| self.recurrence_cost < m) {
                self.min_cost = Some(self.recurrence_cost);
            }
            self.recurrence_cost = 0.0;
        }
        Ok(())
    }

    /// Records an attempt at `batch_size` that never ran because even its first epoch would
    /// have exceeded the cost limit. As in the reference it counts as a failure with the
    /// penalty cost 100 × the cost limit, and adds nothing to the recurrence's cost.
    pub fn report_never_ran(&mut self, batch_size: u32) -> Result<(), ZeusError> {
        let limit = self.cost_limit();
        if !limit.is_finite() {
            return Err(ZeusError::NeverRanWithoutLimit { batch_size });
        }
        self.observe(batch_size, 100.0 * limit, false)
    }

    /// β × the lowest cost of a finished recurrence: an attempt stops before an epoch that
    /// would take its cost past this. Infinite before the first recurrence finishes or when
    /// β is infinite.
    pub fn cost_limit(&self) -> f64 {
        match self.min_cost {
            Some(m) if self.params.beta.is_finite() => self.params.beta * m,
            _ => f64::INFINITY,
        }
    }

    /// The lowest cost of a finished recurrence, if one finished.
    pub fn min_cost(&self) -> Option<f64> {
        self.min_cost
    }

    /// Observations so far: `(batch_size, cost)` in report order (never-ran penalties
    /// included).
    pub fn history(&self) -> impl ExactSizeIterator<Item = (u32, f64)> + '_ {
        self.history.iter().map(|&(b, r)| (b, -r))
    }

    fn observe(&mut self, batch_size: u32, cost: f64, reached: bool) -> Result<(), ZeusError> {
        if self.params.batch_sizes.binary_search(&batch_size).is_err() {
            return Err(ZeusError::UnknownBatchSize { batch_size });
        }
        if let Some(round) = &mut self.round {
            round.report(batch_size, cost, reached)?;
            self.history.push((batch_size, -cost));
        } else {
            // Thompson stage: every observation, failed or not, refits that arm from scratch.
            self.history.push((batch_size, -cost));
            if let Ok(i) = self.arm_sizes.binary_search(&batch_size) {
                self.arms[i] = self.fit(batch_size);
            }
        }
        Ok(())
    }

    fn start_thompson(&mut self, survivors: &[u32]) {
        self.round = None;
        self.arm_sizes = survivors.to_vec();
        self.arms = survivors.iter().map(|&b| self.fit(b)).collect();
    }

    /// The rewards of `batch_size` the posterior uses: all, or the latest `window_size`.
    fn rewards(&self, batch_size: u32) -> impl Iterator<Item = f64> + Clone + '_ {
        let total = self.history.iter().filter(|h| h.0 == batch_size).count();
        let w = self.params.window_size as usize;
        let skip = if w == 0 { 0 } else { total.saturating_sub(w) };
        self.history
            .iter()
            .filter(move |h| h.0 == batch_size)
            .skip(skip)
            .map(|h| h.1)
    }

    /// Conjugate Gaussian posterior with known reward precision = 1 / (population variance of
    /// the arm's rewards); zero variance gives a point mass at their mean (the reference's
    /// `GaussianTS.fit_arm` after `reset`).
    fn fit(&self, batch_size: u32) -> Arm {
        let (prior_mean, prior_precision) = (self.params.prior_mean, self.params.prior_precision);
        let rewards = self.rewards(batch_size);
        let n = rewards.clone().count();
        if n == 0 {
            return Arm {
                batch_size,
                mean: prior_mean,
                precision: prior_precision,
                observations: 0,
            };
        }
        let sum: f64 = rewards.clone().sum();
        let mean = sum / n as f64;
        let var = rewards.map(|r| (r - mean) * (r - mean)).sum::<f64>() / n as f64;
        let (mean, precision) = if var == 0.0 {
            (mean, f64::INFINITY)
        } else {
            let reward_precision = 1.0 / var;
            let precision = prior_precision + n as f64 * reward_precision;
            (
                (prior_precision * prior_mean + reward_precision * sum) / precision,
                precision,
            )
        };
        Arm {
            batch_size,
            mean,
            precision,
            observations: n as u32,
        }
    }

    /// One Thompson-sampling decision, drawing as the reference does: first a random order of
    /// the arms (drawn on every call, used only to pick an under-explored arm), then one
    /// normal draw per arm in ascending order; the highest draw wins, the first on a tie.
    fn thompson_pick(&mut self) -> u32 {
        let mut order: Vec<usize> = (0..self.arms.len()).collect();
        self.rng.shuffle(&mut order);
        for &i in &order {
            if self.arms[i].observations < self.params.num_explorations {
                return self.arms[i].batch_size;
            }
        }
        let mut best: Option<(f64, u32)> = None;
        for arm in &self.arms {
            let std = if arm.precision == f64::INFINITY {
                0.0
            } else {
                libm::sqrt(1.0 / arm.precision)
            };
            let theta = self.rng.normal(arm.mean, std);
            if best.is_none_or(|(t, _)| theta > t) {
                best = Some((theta, arm.batch_size));
            }
        }
        // `arms` is never empty here: a round without survivors is an error before this.
        best.map_or(self.params.default_batch_size, |(_, b)| b)
    }
}

/// Serializes an infinite precision (a point-mass posterior) as `null`, which JSON can hold.
#[cfg(feature = "serde")]
mod inf_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn bso(sizes: &[u32], default: u32) -> BatchSizeOptimizer {
        BatchSizeOptimizer::new(BsoParams::new(sizes.to_vec(), default)).unwrap()
    }

    /// Asks for the next batch size, checks it is `want`, reports `(cost, reached)`.
    fn step(o: &mut BatchSizeOptimizer, want: u32, cost: f64, reached: bool) {
        assert_eq!(o.next_batch_size().unwrap(), want);
        o.report(want, cost, reached).unwrap();
    }

    #[test]
    fn pruning_goes_down_then_up_and_keeps_the_survivors() {
        let mut o = bso(&[8, 16, 32, 64, 128], 32);
        // Round 1 from 32: down 32, 16, 8 (fails: the sweep stops), then up 64, 128 (fails).
        step(&mut o, 32, 10.0, true);
        step(&mut o, 16, 8.0, true);
        step(&mut o, 8, 30.0, false);
        step(&mut o, 64, 12.0, true);
        step(&mut o, 128, 40.0, false);
        // Round 2 over {16, 32, 64} from the cheapest, 16: down 16, then up 32, 64.
        assert_eq!(o.stage(), Stage::Pruning { round: 1 });
        step(&mut o, 16, 8.0, true);
        assert_eq!(o.stage(), Stage::Pruning { round: 2 });
        step(&mut o, 32, 10.0, true);
        step(&mut o, 64, 12.0, false);
        // Survivors of round 2: 16 and 32; each has two equal costs, so zero variance and a
        // point mass: Thompson sampling always picks the cheaper, 16.
        for _ in 0..20 {
            let b = o.next_batch_size().unwrap();
            assert_eq!(o.stage(), Stage::Thompson { arms: &[16, 32] });
            assert_eq!(b, 16);
            o.report(b, 8.0, true).unwrap();
        }
    }

    #[test]
    fn cost_limit_is_beta_times_the_cheapest_recurrence_with_its_failures() {
        let mut o = bso(&[8, 16, 32], 16);
        assert_eq!(o.cost_limit(), f64::INFINITY);
        step(&mut o, 16, 10.0, true);
        assert_eq!(o.cost_limit(), 20.0);
        // A recurrence of a failed attempt (6) and a reached one (5) costs 11 > 10: no change.
        step(&mut o, 8, 6.0, false);
        step(&mut o, 32, 5.0, true);
        assert_eq!(o.min_cost(), Some(10.0));
        // A never-ran attempt is penalised with 100 × the limit and costs the recurrence 0.
        let next = o.next_batch_size().unwrap();
        o.report_never_ran(next).unwrap();
        assert_eq!(o.history().last(), Some((next, 2000.0)));
        let mut inf = BsoParams::new(vec![8, 16], 16);
        inf.beta = f64::INFINITY;
        let mut o = BatchSizeOptimizer::new(inf).unwrap();
        step(&mut o, 16, 10.0, true);
        assert_eq!(o.cost_limit(), f64::INFINITY);
        assert!(matches!(
            o.report_never_ran(8),
            Err(ZeusError::NeverRanWithoutLimit { batch_size: 8 })
        ));
    }

    #[test]
    fn bad_calls_are_errors() {
        assert_eq!(
            BatchSizeOptimizer::new(BsoParams::new(vec![], 8)).unwrap_err(),
            ZeusError::NoBatchSizes
        );
        assert!(matches!(
            BatchSizeOptimizer::new(BsoParams::new(vec![8, 16], 32)),
            Err(ZeusError::DefaultNotListed { default: 32, .. })
        ));
        assert!(matches!(
            BatchSizeOptimizer::new(BsoParams::new(vec![8, 8], 8)),
            Err(ZeusError::BadBatchSize { batch_size: 8 })
        ));
        let mut p = BsoParams::new(vec![8], 8);
        p.beta = 0.5;
        assert!(matches!(
            BatchSizeOptimizer::new(p),
            Err(ZeusError::BadBeta { .. })
        ));
        let mut o = bso(&[8, 16], 16);
        assert_eq!(
            o.report(16, 1.0, true),
            Err(ZeusError::UnexpectedBatchSize {
                expected: None,
                got: 16
            })
        );
        assert_eq!(o.next_batch_size().unwrap(), 16);
        assert_eq!(
            o.report(8, 1.0, true),
            Err(ZeusError::UnexpectedBatchSize {
                expected: Some(16),
                got: 8
            })
        );
        assert_eq!(
            o.report(4, 1.0, true),
            Err(ZeusError::UnknownBatchSize { batch_size: 4 })
        );
        assert!(matches!(
            o.report(16, f64::NAN, true),
            Err(ZeusError::BadCost { .. })
        ));
        // Asking again before reporting hands out the same batch size.
        assert_eq!(o.next_batch_size().unwrap(), 16);
    }

    #[test]
    fn a_round_without_survivors_is_an_error() {
        let mut o = bso(&[8, 16], 16);
        step(&mut o, 16, 1.0, false);
        // Down failed at once; up has nothing above 16.
        assert_eq!(
            o.next_batch_size(),
            Err(ZeusError::NoSurvivors { round: 1 })
        );
    }

    #[test]
    fn thompson_sampling_follows_the_gaussian_posterior() {
        // Arms 8 (costs 10, 12: mean 11, population variance 1, so the posterior of the mean
        // reward is N(−11, 1/2)) and 16 (costs 11.5 twice: a point mass at −11.5). Arm 8
        // wins when its draw exceeds −11.5: P = Φ(0.5 / √0.5) = Φ(0.7071) = 0.7602.
        let mut p = BsoParams::new(vec![8, 16], 8);
        p.num_pruning_rounds = 0;
        p.seed = 3;
        let mut o = BatchSizeOptimizer::new(p).unwrap();
        // With no observations, both arms are explored before any posterior is drawn.
        for _ in 0..4 {
            let b = o.next_batch_size().unwrap();
            let cost = if b == 16 {
                11.5
            } else if o.history().filter(|h| h.0 == 8).count() == 0 {
                10.0
            } else {
                12.0
            };
            o.report(b, cost, true).unwrap();
        }
        assert_eq!(o.history().filter(|h| h.0 == 8).count(), 2);
        // Decisions only draw from the stream; the posterior stays as it is.
        let n = 20_000;
        let wins = (0..n).filter(|_| o.thompson_pick() == 8).count();
        let share = wins as f64 / n as f64;
        // Binomial standard error ≈ 0.003.
        assert!((share - 0.7602).abs() < 0.015, "{share}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Under any outcomes: every batch size handed out is a listed one, pruning hands
        /// each out at most once per round, reports of what was handed out are accepted, and
        /// the cost limit is β × the cheapest recurrence (failed attempts included).
        #[test]
        fn any_outcomes_keep_the_invariants(
            n in 1usize..7,
            default_at in 0usize..7,
            outcomes in proptest::collection::vec((0.0f64..100.0, proptest::bool::weighted(0.7), proptest::bool::weighted(0.1)), 1..80),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let sizes: Vec<u32> = (0..n as u32).map(|i| 4 << i).collect();
            let mut p = BsoParams::new(sizes.clone(), sizes[default_at % n]);
            p.seed = seed;
            let mut o = BatchSizeOptimizer::new(p).unwrap();
            let (mut acc, mut best) = (0.0, f64::INFINITY);
            let mut seen: Vec<(u32, u32)> = Vec::new();
            for (cost, reached, never) in outcomes {
                let b = match o.next_batch_size() {
                    Ok(b) => b,
                    Err(ZeusError::NoSurvivors { .. }) => break,
                    Err(e) => { proptest::prop_assert!(false, "{e}"); unreachable!() }
                };
                proptest::prop_assert!(sizes.contains(&b));
                if let Stage::Pruning { round } = o.stage() {
                    proptest::prop_assert!(!seen.contains(&(round, b)), "{b} twice in round {round}");
                    seen.push((round, b));
                }
                if never && o.cost_limit().is_finite() {
                    o.report_never_ran(b).unwrap();
                } else {
                    o.report(b, cost, reached).unwrap();
                    acc += cost;
                    if reached {
                        best = best.min(acc);
                        acc = 0.0;
                    }
                }
                let want = if best.is_finite() { 2.0 * best } else { f64::INFINITY };
                proptest::prop_assert_eq!(o.cost_limit(), want);
            }
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn state_round_trips_through_json_and_resumes_the_same_stream() {
        let mut o = bso(&[8, 16, 32], 16);
        step(&mut o, 16, 10.0, true);
        step(&mut o, 8, 12.0, true);
        step(&mut o, 32, 9.0, true);
        // Round 2 from the cheapest, 32: down 32, 16, 8.
        step(&mut o, 32, 9.5, true);
        step(&mut o, 16, 11.0, true);
        step(&mut o, 8, 30.0, false);
        assert_eq!(o.next_batch_size().map(|_| ()), Ok(()));
        assert_eq!(o.stage(), Stage::Thompson { arms: &[16, 32] });
        let json = serde_json::to_string(&o).unwrap();
        let mut back: BatchSizeOptimizer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, o);
        for _ in 0..50 {
            let (a, b) = (o.thompson_pick(), back.thompson_pick());
            assert_eq!(a, b);
            o.report(a, 10.0, true).unwrap();
            back.report(b, 10.0, true).unwrap();
        }
        // β = ∞ survives JSON too (as null).
        let mut p = BsoParams::new(vec![8], 8);
        p.beta = f64::INFINITY;
        let o = BatchSizeOptimizer::new(p).unwrap();
        let back: BatchSizeOptimizer =
            serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
