//! Scheduling policies behind one trait: Orloj's batch-aware score over candidate batches
//! (reference notes B5, \[proposed\] concrete rule) and the baselines of B6, which see only a
//! point estimate of each application's time.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::batch::{RunningMax, grid_index, powi};
use super::{Distribution, ExecDistribution, MAX_APPS, MAX_BATCH_SIZE, Queued, TimeGrid, View};
use crate::names::{UnknownName, named_enum};

/// A batching policy. The [`Batcher`](super::Batcher) first drops, per application, the
/// queued requests whose slack (deadline − now) is below [`min_slack_s`](Self::min_slack_s)
/// (always those already past their deadline), then asks [`choose`](Self::choose) how many
/// requests to take from the front of each application's deadline-ordered queue.
pub trait Scheduler {
    /// Short name (`orloj`, `clockwork-p99`, …).
    fn name(&self) -> &str;

    /// Called once by the batcher with the grid and the largest batch size, to size scratch
    /// space (so that deciding does not allocate).
    fn prepare(&mut self, grid: TimeGrid, max_size: usize) {
        let _ = (grid, max_size);
    }

    /// Smallest slack, seconds, a request of `app` needs to stay queued.
    fn min_slack_s(&self, view: &View<'_>, app: usize) -> f64;

    /// Writes into `take[k]` how many requests to batch from the front of application `k`'s
    /// queue (at most the model's largest batch in all). Taking nothing means: wait.
    fn choose(&mut self, view: &View<'_>, take: &mut [usize]);

    /// Feedback after a batch of `batch_size` ran for `batch_time_s`; `slo_s` is the tightest
    /// SLO (deadline − arrival) among its members.
    fn observe_batch(&mut self, batch_size: usize, batch_time_s: f64, slo_s: f64) {
        let _ = (batch_size, batch_time_s, slo_s);
    }

    /// Feedback after each decision: how many requests it dropped and batched.
    fn observe_decision(&mut self, dropped: usize, batch_size: usize) {
        let _ = (dropped, batch_size);
    }
}

/// The batch sizes a policy may form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sizes {
    /// Every size from 1 to the largest.
    #[default]
    All,
    /// Powers of two, and the largest size.
    PowersOfTwo,
}

impl Sizes {
    #[inline]
    fn allows(self, b: usize, max: usize) -> bool {
        match self {
            Sizes::All => true,
            Sizes::PowersOfTwo => b.is_power_of_two() || b == max,
        }
    }
}

/// The point estimate a baseline uses for an application's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Estimate {
    /// The mean (optimistic for the maximum of several members).
    #[default]
    Mean,
    /// The 99th percentile (conservative).
    P99,
}

named_enum!(Estimate, "estimate" {
    Mean => "mean",
    P99 => "p99",
});

impl Estimate {
    fn of(self, d: &impl ExecDistribution) -> f64 {
        match self {
            Estimate::Mean => d.mean_s(),
            Estimate::P99 => d.quantile_s(0.99),
        }
    }
}

/// Order in which the per-application queues are merged.
#[derive(Clone, Copy)]
enum Order {
    Deadline,
    Arrival,
}

/// Visits queued requests across applications in `order` (each application's queue is in
/// deadline order), at most `limit` of them, until `visit` returns false.
fn merge(
    view: &View<'_>,
    order: Order,
    limit: usize,
    mut visit: impl FnMut(usize, &Queued) -> bool,
) {
    let queues = view.queues();
    let mut cursor = [0usize; MAX_APPS];
    for _ in 0..limit {
        let mut best: Option<(usize, &Queued)> = None;
        for (app, q) in queues.iter().enumerate() {
            let Some(r) = q.get(cursor[app]) else {
                continue;
            };
            let better = match best {
                None => true,
                Some((_, b)) => {
                    let (x, y) = match order {
                        Order::Deadline => (r.deadline_s, b.deadline_s),
                        Order::Arrival => (r.arrival_s, b.arrival_s),
                    };
                    x < y || (x == y && r.seq < b.seq)
                }
            };
            if better {
                best = Some((app, r));
            }
        }
        let Some((app, r)) = best else { return };
        cursor[app] += 1;
        if !visit(app, r) {
            return;
        }
    }
}

/// The priority score of a candidate batch — \[proposed\]; replaceable.
pub trait Score {
    /// Score of a batch of `batch_size` expected to finish `on_time` of its members by their
    /// deadlines and to take `mean_time_s` on average. Higher is better.
    fn score(&self, on_time: f64, mean_time_s: f64, batch_size: usize) -> f64;

    /// An upper bound on [`score`](Self::score) over every `on_time ≤ batch_size`, which
    /// lets the policy skip scoring candidates that cannot win. Default: no bound.
    fn upper_bound(&self, mean_time_s: f64, batch_size: usize) -> f64 {
        let _ = (mean_time_s, batch_size);
        f64::INFINITY
    }
}

/// Expected on-time finishes per unit of expected batch time (a Gittins-like index).
#[derive(Debug, Clone, Copy, Default)]
pub struct FinishesPerTime;

impl Score for FinishesPerTime {
    #[inline]
    fn score(&self, on_time: f64, mean_time_s: f64, _batch_size: usize) -> f64 {
        on_time / mean_time_s.max(f64::MIN_POSITIVE)
    }

    #[inline]
    fn upper_bound(&self, mean_time_s: f64, batch_size: usize) -> f64 {
        self.score(batch_size as f64, mean_time_s, batch_size)
    }
}

/// When a request is hopeless — \[proposed\]; replaceable.
pub trait DropRule {
    /// Smallest slack a request with execution-time law `d` needs to stay queued, when a
    /// batch of one takes `scale_1 · X`.
    fn min_slack_s(&self, d: &Distribution, scale_1: f64) -> f64;
}

/// Drop a request when even alone it finishes in time with probability below `p_min`:
/// `F_k((d − now) / s(1)) < p_min`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbabilityFloor {
    /// The floor, in [0, 1].
    pub p_min: f64,
}

impl Default for ProbabilityFloor {
    fn default() -> Self {
        ProbabilityFloor { p_min: 0.5 }
    }
}

impl DropRule for ProbabilityFloor {
    fn min_slack_s(&self, d: &Distribution, scale_1: f64) -> f64 {
        if self.p_min <= 0.0 {
            0.0
        } else {
            // F(t) ≥ p_min exactly from the p_min-quantile on.
            scale_1 * d.quantile_s(self.p_min)
        }
    }
}

/// The Orloj policy: drop hopeless requests; form candidate batches from the queue in
/// deadline order (the first `b` requests, for each allowed `b`) and, optionally, the first
/// `b` of each single application's queue; run the one with the highest [`Score`] of its
/// batch-time distribution. Ties go to the larger batch, then to the one whose latest deadline
/// is earlier.
///
/// Cost per decision: O(b_max · H) for the deadline-ordered prefixes (one fused
/// multiply-and-sum pass per member over the bins where the batch CDF is strictly between 0
/// and 1) plus O(A · b_max²) table look-ups for the single-application prefixes, whose
/// expected maxima `E[max of n]` are cached per application and recomputed only when its law
/// changes.
pub struct Orloj<S: Score = FinishesPerTime, D: DropRule = ProbabilityFloor> {
    /// The score.
    pub score: S,
    /// The drop rule.
    pub drop: D,
    /// Allowed batch sizes.
    pub sizes: Sizes,
    /// Also consider single-application batches (same-app batches that keep a
    /// high-variance application's long tail away from the others' deadlines).
    pub single_app: bool,
    /// Raise the drop floor to the recent fraction of requests dropped (an overload signal):
    /// under overload, keep only requests likely to finish.
    pub adaptive_floor: bool,
    /// Raise the drop floor with the offered load `ρ = Σ_k λ_k · s(1) · E[X_k]` (the arrival
    /// rates each application has shown, over the one-at-a-time capacity): above `ρ = 1` the
    /// floor is at least `1 − ρ^-LOAD_FLOOR_EXPONENT` (capped at [`LOAD_FLOOR_MAX`]). Only
    /// about `1/ρ` of the offered work can be served, so under overload the policy keeps the
    /// requests most likely to finish. Unlike the adaptive floor, this signal does not feed
    /// on the policy's own drops. The load floor never exceeds the application's SLO, so
    /// it never drops a request on arrival (which would also hide that arrival from the rate
    /// estimate).
    pub load_floor: bool,
    /// Per-application decayed arrival counts (time constant [`RATE_WINDOW_S`]).
    arrivals: [f64; MAX_APPS],
    /// Decayed observation time matching `arrivals`, seconds.
    observed_s: f64,
    /// Highest enqueue sequence number seen per application, and the last decision time.
    seen_seq: [Option<u64>; MAX_APPS],
    last_now_s: Option<f64>,
    /// Offered load estimated at the last decision (0 before any arrival was seen).
    rho: f64,
    dropped_ewma: f64,
    served_ewma: f64,
    g: Vec<f64>,
    members: Vec<(usize, f64)>,
    /// `emax[app · (b_max + 1) + n]`: unscaled E[max of n members of app], seconds.
    emax: Vec<f64>,
    /// Law version each row of `emax` was computed from.
    cached: Vec<Option<u64>>,
    max: usize,
}

impl Default for Orloj {
    fn default() -> Self {
        Orloj::new(FinishesPerTime, ProbabilityFloor::default())
    }
}

impl<S: Score, D: DropRule> Orloj<S, D> {
    /// Orloj with a score and a drop rule, every batch size, single-application candidates on.
    pub fn new(score: S, drop: D) -> Self {
        Orloj {
            score,
            drop,
            sizes: Sizes::All,
            single_app: true,
            adaptive_floor: true,
            load_floor: true,
            arrivals: [0.0; MAX_APPS],
            observed_s: 0.0,
            seen_seq: [None; MAX_APPS],
            last_now_s: None,
            rho: 0.0,
            dropped_ewma: 0.0,
            served_ewma: 0.0,
            g: Vec::new(),
            members: Vec::new(),
            emax: Vec::new(),
            cached: Vec::new(),
            max: 0,
        }
    }

    /// Counts the requests that joined each queue since the last decision into the decayed
    /// arrival counts. Queues are in deadline order, which is arrival order for a fixed SLO,
    /// so the new requests are found from the back.
    fn track_arrivals(&mut self, view: &View<'_>) {
        let now_s = view.now_s;
        let dt_s = self
            .last_now_s
            .map_or(0.0, |t| (now_s - t).max(0.0))
            .min(1e6);
        self.last_now_s = Some(self.last_now_s.map_or(now_s, |t| t.max(now_s)));
        let keep = libm::exp(-dt_s / RATE_WINDOW_S);
        self.observed_s = self.observed_s * keep + RATE_WINDOW_S * (1.0 - keep);
        for ((count, seen), queue) in self
            .arrivals
            .iter_mut()
            .zip(self.seen_seq.iter_mut())
            .zip(view.queues())
        {
            let mut new = 0usize;
            let mut top = *seen;
            for r in queue.iter().rev() {
                if seen.is_some_and(|s| r.seq <= s) {
                    break;
                }
                new += 1;
                top = Some(top.map_or(r.seq, |t: u64| t.max(r.seq)));
            }
            *seen = top;
            *count = *count * keep + new as f64;
        }
        let s1 = view.model().scale(1);
        self.rho = if self.observed_s > 0.0 {
            view.dists()
                .iter()
                .zip(&self.arrivals)
                .map(|(d, &c)| c / self.observed_s * s1 * d.mean_s())
                .sum()
        } else {
            0.0
        };
    }

    /// Refreshes the cached `E[max of n]` of every application whose law changed.
    fn refresh(&mut self, view: &View<'_>) {
        let model = view.model();
        let stride = self.max + 1;
        let apps = view.apps();
        if self.cached.len() != apps || self.emax.len() != apps * stride {
            self.cached = vec![None; apps];
            self.emax = vec![0.0; apps * stride];
        }
        for (app, d) in view.dists().iter().enumerate() {
            let version = view.law_version(app);
            if self.cached[app] == Some(version) {
                continue;
            }
            let mut run = RunningMax::new();
            for n in 1..=self.max {
                run.add(&mut self.g, model, d);
                self.emax[app * stride + n] = run.mean_s(d.grid(), 1.0);
            }
            self.cached[app] = Some(version);
        }
    }
}

/// Whether a candidate whose score is at most `bound` can be skipped: it would lose even
/// its ties (a margin keeps ties, which the tie rules decide, out of the shortcut).
#[inline]
fn hopeless(best: &Option<Best>, bound: f64) -> bool {
    match best {
        Some(b) => bound < b.score - 1e-9 * b.score.abs(),
        None => false,
    }
}

/// Time constant of the arrival-rate estimate, seconds.
pub const RATE_WINDOW_S: f64 = 1.0;

/// Exponent of the load-driven drop floor `1 − ρ^-e` (chosen among 1, 2 and 3 by the sweep in
/// docs/orloj.md: 3 helped most under overload and changes nothing below `ρ = 1`).
pub const LOAD_FLOOR_EXPONENT: f64 = 3.0;

/// Cap of the load-driven drop floor.
pub const LOAD_FLOOR_MAX: f64 = 0.95;

/// The best candidate so far.
#[derive(Clone, Copy)]
struct Best {
    score: f64,
    size: usize,
    last_deadline_s: f64,
    take: [usize; MAX_APPS],
}

impl Best {
    /// Whether a candidate beats this one (ties within a relative 1e-12 go to the larger batch,
    /// then to the earlier latest deadline).
    fn beaten_by(&self, score: f64, size: usize, last_deadline_s: f64) -> bool {
        let tol = 1e-12 * self.score.abs().max(score.abs());
        if score > self.score + tol {
            return true;
        }
        if score < self.score - tol {
            return false;
        }
        size > self.size || (size == self.size && last_deadline_s < self.last_deadline_s)
    }
}

/// Keeps a candidate if it beats `best`; `take` fills the per-application counts.
fn offer(
    best: &mut Option<Best>,
    score: f64,
    size: usize,
    last_deadline_s: f64,
    take: impl FnOnce(&mut [usize; MAX_APPS]),
) {
    let wins = match best {
        None => true,
        Some(cur) => cur.beaten_by(score, size, last_deadline_s),
    };
    if wins {
        let mut counts = [0usize; MAX_APPS];
        take(&mut counts);
        *best = Some(Best {
            score,
            size,
            last_deadline_s,
            take: counts,
        });
    }
}

impl<S: Score, D: DropRule> Scheduler for Orloj<S, D> {
    fn name(&self) -> &str {
        PolicyKind::Orloj.name()
    }

    fn prepare(&mut self, grid: TimeGrid, max_size: usize) {
        self.g = vec![1.0; grid.bins()];
        self.members = Vec::with_capacity(max_size);
        self.max = max_size;
        self.cached.clear();
    }

    fn min_slack_s(&self, view: &View<'_>, app: usize) -> f64 {
        match view.dists().get(app) {
            Some(d) => {
                let s1 = view.model().scale(1);
                let base = self.drop.min_slack_s(d, s1);
                let total = self.dropped_ewma + self.served_ewma;
                let mut floor = if self.adaptive_floor && total > 0.0 {
                    base.max(s1 * d.quantile_s(self.dropped_ewma / total))
                } else {
                    base
                };
                if self.load_floor && self.rho > 1.0 {
                    let p = (1.0 - libm::pow(self.rho, -LOAD_FLOOR_EXPONENT)).min(LOAD_FLOOR_MAX);
                    // Never above the SLO: a fresh request always reaches the policy, so its
                    // arrival is counted and the rate estimate cannot lock in.
                    let cap_s = match view.slo_hint_s(app) {
                        slo if slo > 0.0 => slo,
                        _ => f64::INFINITY,
                    };
                    floor = floor.max((s1 * d.quantile_s(p)).min(cap_s));
                }
                floor
            }
            None => 0.0,
        }
    }

    fn observe_decision(&mut self, dropped: usize, batch_size: usize) {
        // About the last hundred requests.
        let keep = libm::pow(0.99, (dropped + batch_size) as f64);
        self.dropped_ewma = keep * self.dropped_ewma + dropped as f64;
        self.served_ewma = keep * self.served_ewma + batch_size as f64;
    }

    fn choose(&mut self, view: &View<'_>, take: &mut [usize]) {
        let model = view.model();
        let dists = view.dists();
        let Some(grid) = dists.first().map(|d| d.grid()) else {
            return;
        };
        if self.g.len() != grid.bins() || self.max != model.max_size() {
            self.prepare(grid, model.max_size());
        }
        if self.single_app && view.apps() > 1 {
            self.refresh(view);
        }
        if self.load_floor {
            self.track_arrivals(view);
        }
        let max = model.max_size().min(view.queued());
        let now_s = view.now_s;
        let mut best: Option<Best> = None;
        let mut counts = [0usize; MAX_APPS];
        let Orloj {
            score,
            sizes,
            single_app,
            g,
            members,
            emax,
            max: b_max,
            ..
        } = self;
        let sizes = *sizes;

        // Prefixes of the deadline-ordered queue: the batch CDF grows by one product per member.
        let mut run = RunningMax::new();
        members.clear();
        merge(view, Order::Deadline, max, |app, r| {
            let Some(d) = dists.get(app) else {
                return false;
            };
            run.add(g, model, d);
            members.push((app, r.deadline_s - now_s));
            counts[app] += 1;
            let b = run.size();
            if sizes.allows(b, max) {
                let scale = model.scale(b);
                let mean = run.mean_s(grid, scale);
                if hopeless(&best, score.upper_bound(mean, b)) {
                    return true;
                }
                let inv = 1.0 / (scale * grid.bin_s());
                let on_time: f64 = members
                    .iter()
                    .map(|&(_, slack)| run.cdf_scaled(g, slack, inv))
                    .sum();
                let sc = score.score(on_time, mean, b);
                offer(&mut best, sc, b, r.deadline_s, |t| *t = counts);
            }
            true
        });

        // Prefixes of each application's own queue: F_k^n pointwise, E[max] from the cache.
        if *single_app && view.apps() > 1 {
            let stride = *b_max + 1;
            let mut slack = [0.0f64; MAX_BATCH_SIZE];
            for (app, (queue, d)) in view.queues().iter().zip(dists).enumerate() {
                let cdf = d.cdf();
                let last_bin = cdf.len().saturating_sub(1);
                let n_max = queue.len().min(max);
                for (s, r) in slack.iter_mut().zip(queue.iter().take(n_max)) {
                    *s = r.deadline_s - now_s;
                }
                for n in 1..=n_max {
                    if !sizes.allows(n, max) {
                        continue;
                    }
                    let scale = model.scale(n);
                    let mean = scale * emax.get(app * stride + n).copied().unwrap_or(0.0);
                    if hopeless(&best, score.upper_bound(mean, n)) {
                        continue;
                    }
                    let inv = 1.0 / (scale * grid.bin_s());
                    let mut on_time = 0.0;
                    for &sl in slack.iter().take(n) {
                        if let Some(i) = grid_index(sl, inv) {
                            on_time += powi(cdf.get(i.min(last_bin)).copied().unwrap_or(1.0), n);
                        }
                    }
                    let last = queue.get(n - 1).map_or(f64::INFINITY, |r| r.deadline_s);
                    let sc = score.score(on_time, mean, n);
                    offer(&mut best, sc, n, last, |t| t[app] = n);
                }
            }
        }
        if let Some(best) = best {
            for (t, &c) in take.iter_mut().zip(&best.take) {
                *t = c;
            }
        }
    }
}

/// Largest prefix of the queue in `order`, among `sizes`, whose estimated time
/// `s(b) · max_k x̂_k` lets every member finish by its deadline; at least one request.
fn largest_feasible(
    view: &View<'_>,
    order: Order,
    estimate: Estimate,
    sizes: Sizes,
    take: &mut [usize],
) {
    let model = view.model();
    let dists = view.dists();
    let max = model.max_size().min(view.queued());
    let now_s = view.now_s;
    let mut counts = [0usize; MAX_APPS];
    let mut best = [0usize; MAX_APPS];
    let mut found = false;
    let (mut x_max, mut d_min, mut b) = (0.0f64, f64::INFINITY, 0usize);
    merge(view, order, max, |app, r| {
        let Some(d) = dists.get(app) else {
            return false;
        };
        x_max = x_max.max(estimate.of(d));
        d_min = d_min.min(r.deadline_s);
        b += 1;
        counts[app] += 1;
        if b == 1 && !found {
            best = counts;
        }
        if sizes.allows(b, max) && now_s + model.scale(b) * x_max <= d_min {
            best = counts;
            found = true;
        }
        true
    });
    for (t, &c) in take.iter_mut().zip(&best) {
        *t = c;
    }
}

/// Clockwork-like (OSDI'20 controller): deterministic per-size latency `ℓ(b) = s(b)·x̂`,
/// batch sizes in powers of two, the largest earliest-deadline-first batch whose latest start
/// time has not passed, and proactive cancellation of requests that cannot make their
/// deadline even alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clockwork {
    /// The point estimate.
    pub estimate: Estimate,
}

impl Scheduler for Clockwork {
    fn name(&self) -> &str {
        PolicySpec::new(PolicyKind::Clockwork, self.estimate).name()
    }
    fn min_slack_s(&self, view: &View<'_>, app: usize) -> f64 {
        view.dists()
            .get(app)
            .map_or(0.0, |d| view.model().scale(1) * self.estimate.of(d))
    }
    fn choose(&mut self, view: &View<'_>, take: &mut [usize]) {
        largest_feasible(
            view,
            Order::Deadline,
            self.estimate,
            Sizes::PowersOfTwo,
            take,
        );
    }
}

/// Defines a baseline that drops only expired requests and takes the largest batch, in
/// `$order`, estimated to meet every member's deadline: EDF and FIFO differ only in that order.
macro_rules! largest_feasible_baseline {
    ($(#[$doc:meta])* $ty:ident, $order:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty {
            /// The point estimate.
            pub estimate: Estimate,
        }

        impl Scheduler for $ty {
            fn name(&self) -> &str {
                PolicySpec::new(PolicyKind::$ty, self.estimate).name()
            }
            fn min_slack_s(&self, _view: &View<'_>, _app: usize) -> f64 {
                0.0
            }
            fn choose(&mut self, view: &View<'_>, take: &mut [usize]) {
                largest_feasible(view, Order::$order, self.estimate, Sizes::All, take);
            }
        }
    };
}

largest_feasible_baseline!(
    /// Earliest deadline first: the largest deadline-ordered batch estimated to meet every
    /// member's deadline; drops only expired requests.
    Edf,
    Deadline
);

largest_feasible_baseline!(
    /// First in, first out: the largest arrival-ordered batch estimated to meet every member's
    /// deadline; drops only expired requests.
    Fifo,
    Arrival
);

/// Nexus-like (SOSP'19, single node): per application the largest batch `b*` with
/// `2·ℓ(b*) ≤ SLO` (a request may wait one batch, then run in one); requests in arrival order;
/// early drop of requests that would miss their deadline in a batch of the target size; the
/// batch grows while every member still makes its deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nexus {
    /// The point estimate.
    pub estimate: Estimate,
}

impl Nexus {
    fn target(&self, view: &View<'_>, app: usize) -> usize {
        let model = view.model();
        let (Some(d), slo) = (view.dists().get(app), view.slo_hint_s(app)) else {
            return 1;
        };
        let x = self.estimate.of(d);
        (1..=model.max_size())
            .rev()
            .find(|&b| 2.0 * model.scale(b) * x <= slo)
            .unwrap_or(1)
    }
}

impl Scheduler for Nexus {
    fn name(&self) -> &str {
        PolicySpec::new(PolicyKind::Nexus, self.estimate).name()
    }
    fn min_slack_s(&self, view: &View<'_>, app: usize) -> f64 {
        let b = self.target(view, app).min(view.queued()).max(1);
        view.dists()
            .get(app)
            .map_or(0.0, |d| view.model().scale(b) * self.estimate.of(d))
    }
    fn choose(&mut self, view: &View<'_>, take: &mut [usize]) {
        let model = view.model();
        let dists = view.dists();
        let now_s = view.now_s;
        let mut target = 0usize;
        let (mut x_max, mut d_min, mut b) = (0.0f64, f64::INFINITY, 0usize);
        let mut counts = [0usize; MAX_APPS];
        merge(view, Order::Arrival, model.max_size(), |app, r| {
            let Some(d) = dists.get(app) else {
                return false;
            };
            if b == 0 {
                target = self.target(view, app);
            }
            let x = x_max.max(self.estimate.of(d));
            let dm = d_min.min(r.deadline_s);
            if b > 0 && (b >= target || now_s + model.scale(b + 1) * x > dm) {
                return false;
            }
            x_max = x;
            d_min = dm;
            b += 1;
            counts[app] += 1;
            true
        });
        for (t, &c) in take.iter_mut().zip(&counts) {
            *t = c;
        }
    }
}

/// Clipper-like (NSDI'17): arrival order, batch cap adapted by AIMD — +1 after a batch whose
/// time stayed within the tightest member SLO, −10 % after one that did not; drops only
/// expired requests.
#[derive(Debug, Clone, Copy)]
pub struct Clipper {
    cap: f64,
    max: usize,
}

impl Default for Clipper {
    fn default() -> Self {
        Clipper { cap: 1.0, max: 1 }
    }
}

impl Clipper {
    /// The current batch cap.
    pub fn cap(&self) -> usize {
        (self.cap as usize).clamp(1, self.max.max(1))
    }
}

impl Scheduler for Clipper {
    fn name(&self) -> &str {
        PolicyKind::Clipper.name()
    }
    fn prepare(&mut self, _grid: TimeGrid, max_size: usize) {
        self.max = max_size;
    }
    fn min_slack_s(&self, _view: &View<'_>, _app: usize) -> f64 {
        0.0
    }
    fn choose(&mut self, view: &View<'_>, take: &mut [usize]) {
        let cap = self.cap().min(view.model().max_size());
        merge(view, Order::Arrival, cap, |app, _| {
            if let Some(t) = take.get_mut(app) {
                *t += 1;
            }
            true
        });
    }
    fn observe_batch(&mut self, _batch_size: usize, batch_time_s: f64, slo_s: f64) {
        if batch_time_s <= slo_s {
            self.cap = (self.cap + 1.0).min(self.max as f64);
        } else {
            self.cap = (self.cap * 0.9).max(1.0);
        }
    }
}

/// A kind of policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// [`Orloj`].
    Orloj,
    /// [`Clockwork`].
    Clockwork,
    /// [`Nexus`].
    Nexus,
    /// [`Clipper`].
    Clipper,
    /// [`Edf`].
    Edf,
    /// [`Fifo`].
    Fifo,
}

named_enum!(PolicyKind, "policy" {
    Orloj => "orloj",
    Clockwork => "clockwork",
    Nexus => "nexus",
    Clipper => "clipper",
    Edf => "edf",
    Fifo => "fifo",
});

impl PolicyKind {
    /// Whether the policy decides on a point [`Estimate`] of each application's time: every
    /// baseline but Clipper (which adapts its batch cap instead); Orloj uses the whole law.
    pub const fn takes_estimate(self) -> bool {
        !matches!(self, PolicyKind::Orloj | PolicyKind::Clipper)
    }
}

/// A policy and the point estimate it decides on, named as `orloj-sim/v1`'s `policies` and
/// every binding name it: the kind (`orloj`, `clockwork`, …), for a baseline that
/// [takes an estimate](PolicyKind::takes_estimate) followed by `-p99` for the 99th
/// percentile (or `-mean`, the default, when parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicySpec {
    /// The policy.
    pub kind: PolicyKind,
    /// Mean or p99 (ignored by the kinds that take no estimate).
    pub estimate: Estimate,
}

/// What [`PolicySpec`]'s parser accepts beyond the kinds' names.
const POLICY_SUFFIXES: &str = "baselines optionally with -mean or -p99";

impl PolicySpec {
    /// `kind` deciding on `estimate`; the kinds that take no estimate keep the mean, so that
    /// equal policies compare equal.
    pub const fn new(kind: PolicyKind, estimate: Estimate) -> Self {
        let estimate = if kind.takes_estimate() {
            estimate
        } else {
            Estimate::Mean
        };
        PolicySpec { kind, estimate }
    }

    /// Every policy with every estimate it takes, in the order of [`PolicyKind::ALL`] and
    /// [`Estimate::ALL`]: `orloj`, `clockwork`, `clockwork-p99`, `nexus`, `nexus-p99`,
    /// `clipper`, `edf`, `edf-p99`, `fifo`, `fifo-p99` (the default of `orloj-sim/v1`).
    pub fn all() -> Vec<PolicySpec> {
        PolicyKind::ALL
            .into_iter()
            .flat_map(|kind| {
                let estimates = if kind.takes_estimate() {
                    &Estimate::ALL[..]
                } else {
                    &Estimate::ALL[..1]
                };
                estimates.iter().map(move |&e| PolicySpec::new(kind, e))
            })
            .collect()
    }

    /// The canonical name: the kind's, with `-p99` for a baseline on the 99th percentile.
    pub fn name(&self) -> &'static str {
        match (self.kind, self.estimate) {
            (PolicyKind::Clockwork, Estimate::P99) => "clockwork-p99",
            (PolicyKind::Nexus, Estimate::P99) => "nexus-p99",
            (PolicyKind::Edf, Estimate::P99) => "edf-p99",
            (PolicyKind::Fifo, Estimate::P99) => "fifo-p99",
            (kind, _) => kind.name(),
        }
    }

    /// The scheduler (Orloj with drop floor `p_min`).
    pub fn build(&self, p_min: f64) -> Box<dyn Scheduler> {
        let estimate = self.estimate;
        match self.kind {
            PolicyKind::Orloj => Box::new(Orloj::new(FinishesPerTime, ProbabilityFloor { p_min })),
            PolicyKind::Clockwork => Box::new(Clockwork { estimate }),
            PolicyKind::Nexus => Box::new(Nexus { estimate }),
            PolicyKind::Clipper => Box::new(Clipper::default()),
            PolicyKind::Edf => Box::new(Edf { estimate }),
            PolicyKind::Fifo => Box::new(Fifo { estimate }),
        }
    }
}

impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicySpec {
    type Err = UnknownName;

    /// `kind` or `kind-estimate`, the estimate only `mean` for the kinds that take none; an
    /// error lists the kinds' names.
    fn from_str(name: &str) -> Result<Self, UnknownName> {
        let unknown = || UnknownName {
            note: Some(POLICY_SUFFIXES),
            ..UnknownName::new("policy", name, &PolicyKind::NAMES)
        };
        let (kind, estimate) = match name.rsplit_once('-') {
            Some((kind, estimate)) => (kind, estimate.parse().map_err(|_| unknown())?),
            None => (name, Estimate::Mean),
        };
        let kind: PolicyKind = kind.parse().map_err(|_| unknown())?;
        if estimate != Estimate::Mean && !kind.takes_estimate() {
            return Err(unknown());
        }
        Ok(PolicySpec::new(kind, estimate))
    }
}
