//! The online batcher a server embeds: per-application queues in deadline order, the early
//! drop, and one [`Scheduler`] deciding the next batch. Requests are identified by the
//! caller's `u64` ids; the hot path ([`Batcher::next_batch`]) does not allocate.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::{
    BatchModel, BatchingError, Distribution, ExecDistribution, MAX_APPS, MAX_BATCH_SIZE, Scheduler,
};

/// One queued request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Queued {
    /// The caller's id.
    pub id: u64,
    /// Arrival time, seconds.
    pub arrival_s: f64,
    /// Absolute deadline, seconds.
    pub deadline_s: f64,
    /// Enqueue order (breaks ties between equal deadlines or arrivals deterministically).
    pub seq: u64,
}

/// What a scheduler sees when it decides: the time, each application's law and queue (in
/// deadline order, hopeless requests already dropped) and the batch model.
pub struct View<'a> {
    /// The decision time, seconds.
    pub now_s: f64,
    pub(crate) dists: &'a [Distribution],
    pub(crate) queues: &'a [VecDeque<Queued>],
    pub(crate) slo_s: &'a [f64],
    pub(crate) versions: &'a [u64],
    pub(crate) model: &'a dyn BatchModel,
    pub(crate) queued: usize,
}

impl<'a> View<'a> {
    /// Number of applications.
    pub fn apps(&self) -> usize {
        self.dists.len()
    }
    /// Each application's execution-time law.
    pub fn dists(&self) -> &'a [Distribution] {
        self.dists
    }
    /// Each application's queue, earliest deadline first.
    pub fn queues(&self) -> &'a [VecDeque<Queued>] {
        self.queues
    }
    /// The batch model.
    pub fn model(&self) -> &'a dyn BatchModel {
        self.model
    }
    /// Requests queued over all applications.
    pub fn queued(&self) -> usize {
        self.queued
    }
    /// How many times `app`'s law has been updated (lets a policy cache what it derives
    /// from the law).
    pub fn law_version(&self, app: usize) -> u64 {
        self.versions.get(app).copied().unwrap_or(0)
    }
    /// The latest SLO (deadline − arrival) seen for `app`, seconds (0 before any request).
    pub fn slo_hint_s(&self, app: usize) -> f64 {
        self.slo_s.get(app).copied().unwrap_or(0.0)
    }

    /// Clips a policy's answer `take` (see [`Scheduler::choose`]) in place to the batch the
    /// [`Batcher`] forms from it, and returns that batch's size: application by application,
    /// in index order, each takes at most its queue's length and the room the earlier ones
    /// left under the model's largest batch. Entries beyond the number of applications are
    /// set to 0. Clipping a clipped `take` changes nothing, so a wrapper around a policy can
    /// call it to learn the batch's per-application counts.
    pub fn clip_take(&self, take: &mut [usize]) -> usize {
        let mut room = self.model.max_size();
        for (k, want) in take.iter_mut().enumerate() {
            let queued = self.queues.get(k).map_or(0, VecDeque::len);
            *want = (*want).min(queued).min(room);
            room -= *want;
        }
        self.model.max_size() - room
    }
}

/// What one [`Batcher::next_batch`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decision {
    /// Ids written to the batch buffer: run these now, as one batch.
    pub batch_len: usize,
    /// Ids written to the dropped buffer: hopeless or expired, answer them as missed.
    pub dropped_len: usize,
    /// The dropped buffer filled up before all hopeless requests were removed; no batch was
    /// formed. Call again at once.
    pub more_dropped: bool,
}

/// The online scheduler: applications' execution-time laws, a batch model and a policy.
///
/// ```
/// use ergon_core::orloj::{Batcher, BatchScale, Distribution, ExecSpec, Orloj, TimeGrid};
/// let grid = TimeGrid::covering(0.040, 1024).unwrap();
/// let app = Distribution::from_spec(
///     grid,
///     &ExecSpec::Bimodal { low_s: 0.006, high_s: 0.020, p_low: 0.3 },
///     "early-exit",
/// ).unwrap();
/// let mut b = Batcher::new(
///     vec![app],
///     Box::new(BatchScale::unit(8).unwrap()),
///     Box::new(Orloj::default()),
/// ).unwrap();
/// b.enqueue(0, 17, 0.0, 0.060).unwrap();
/// let (mut batch, mut dropped) = ([0u64; 8], [0u64; 8]);
/// let d = b.next_batch(0.0, &mut batch, &mut dropped).unwrap();
/// assert_eq!(&batch[..d.batch_len], &[17]);
/// ```
pub struct Batcher {
    dists: Vec<Distribution>,
    queues: Vec<VecDeque<Queued>>,
    slo_s: Vec<f64>,
    versions: Vec<u64>,
    model: Box<dyn BatchModel>,
    policy: Box<dyn Scheduler>,
    queued: usize,
    seq: u64,
    decay: f64,
    last_size: usize,
    last_slo_s: f64,
}

impl core::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Batcher")
            .field("policy", &self.policy.name())
            .field("apps", &self.dists.len())
            .field("queued", &self.queued)
            .finish()
    }
}

/// Default weight of one completion in [`Batcher::complete`].
pub const DEFAULT_DECAY: f64 = 0.01;

impl Batcher {
    /// A batcher for `apps` (all on one grid; index = application id), batching under
    /// `model` with `policy`.
    pub fn new(
        apps: Vec<Distribution>,
        model: Box<dyn BatchModel>,
        mut policy: Box<dyn Scheduler>,
    ) -> Result<Self, BatchingError> {
        let grid = match apps.first() {
            Some(d) => d.grid(),
            None => return Err(BatchingError::NoApps),
        };
        if apps.len() > MAX_APPS {
            return Err(BatchingError::TooManyApps { apps: apps.len() });
        }
        if let Some(app) = apps.iter().position(|d| d.grid() != grid) {
            return Err(BatchingError::GridMismatch { app });
        }
        let max_size = model.max_size();
        if !(1..=MAX_BATCH_SIZE).contains(&max_size) {
            return Err(BatchingError::InvalidMaxBatch { max_size });
        }
        for size in 1..=max_size {
            let value = model.scale(size);
            if !(value.is_finite() && value > 0.0) {
                return Err(BatchingError::InvalidScale { size, value });
            }
        }
        policy.prepare(grid, max_size);
        let n = apps.len();
        Ok(Batcher {
            dists: apps,
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            slo_s: alloc::vec![0.0; n],
            versions: alloc::vec![0; n],
            model,
            policy,
            queued: 0,
            seq: 0,
            decay: DEFAULT_DECAY,
            last_size: 0,
            last_slo_s: 0.0,
        })
    }

    /// Weight `decay ∈ (0, 1]` of one observed time in [`complete`](Self::complete).
    pub fn set_decay(&mut self, decay: f64) -> Result<(), BatchingError> {
        if !(decay > 0.0 && decay <= 1.0) {
            return Err(BatchingError::InvalidValue {
                field: "decay",
                value: decay,
                message: "not in (0, 1]",
            });
        }
        self.decay = decay;
        Ok(())
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    /// Number of applications.
    pub fn apps(&self) -> usize {
        self.dists.len()
    }

    /// Largest batch [`next_batch`](Self::next_batch) forms (the batch buffer's minimum length).
    pub fn max_batch_size(&self) -> usize {
        self.model.max_size()
    }

    /// Requests waiting.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The current law of `app`.
    pub fn distribution(&self, app: usize) -> Option<&Distribution> {
        self.dists.get(app)
    }

    /// Queues request `request_id` of application `app`, arrived at `arrival_s`, due by
    /// `deadline_s` (absolute seconds on the caller's clock). O(1) when deadlines of one
    /// application arrive in order; may allocate when the queue grows.
    pub fn enqueue(
        &mut self,
        app: usize,
        request_id: u64,
        arrival_s: f64,
        deadline_s: f64,
    ) -> Result<(), BatchingError> {
        let apps = self.dists.len();
        let (Some(queue), Some(slo)) = (self.queues.get_mut(app), self.slo_s.get_mut(app)) else {
            return Err(BatchingError::UnknownApp { app, apps });
        };
        for (field, value) in [("arrival_s", arrival_s), ("deadline_s", deadline_s)] {
            if !value.is_finite() {
                return Err(BatchingError::InvalidValue {
                    field,
                    value,
                    message: "not a finite time",
                });
            }
        }
        if deadline_s < arrival_s {
            return Err(BatchingError::DeadlineBeforeArrival {
                request_id,
                arrival_s,
                deadline_s,
            });
        }
        let r = Queued {
            id: request_id,
            arrival_s,
            deadline_s,
            seq: self.seq,
        };
        self.seq += 1;
        *slo = deadline_s - arrival_s;
        // Equal deadlines keep enqueue order: insert after them.
        let at = queue.partition_point(|q| q.deadline_s <= deadline_s);
        if at == queue.len() {
            queue.push_back(r);
        } else {
            queue.insert(at, r);
        }
        self.queued += 1;
        Ok(())
    }

    /// Decides at `now_s`: drops hopeless and expired requests into `dropped` and writes the
    /// next batch into `batch`, which must hold [`max_batch_size`](Self::max_batch_size) ids.
    /// An empty batch with an empty queue means: wait for the next arrival.
    pub fn next_batch(
        &mut self,
        now_s: f64,
        batch: &mut [u64],
        dropped: &mut [u64],
    ) -> Result<Decision, BatchingError> {
        if !now_s.is_finite() {
            return Err(BatchingError::InvalidValue {
                field: "now_s",
                value: now_s,
                message: "not a finite time",
            });
        }
        let max_size = self.model.max_size();
        if batch.len() < max_size {
            return Err(BatchingError::BufferTooSmall {
                buffer: "batch",
                got: batch.len(),
                needed: max_size,
            });
        }
        let mut decision = Decision::default();

        // Early drop: each application's threshold on the slack, applied to the front of its
        // deadline-ordered queue (the hopeless requests of an application are a prefix).
        let mut min_slack = [0.0f64; MAX_APPS];
        {
            let (view, policy) = self.view_and_policy(now_s);
            for (app, slot) in min_slack.iter_mut().enumerate().take(view.apps()) {
                *slot = policy.min_slack_s(&view, app).max(0.0);
            }
        }
        for (queue, &threshold) in self.queues.iter_mut().zip(&min_slack) {
            while let Some(front) = queue.front() {
                let slack = front.deadline_s - now_s;
                if slack >= threshold {
                    break;
                }
                let Some(slot) = dropped.get_mut(decision.dropped_len) else {
                    decision.more_dropped = true;
                    self.policy.observe_decision(decision.dropped_len, 0);
                    return Ok(decision);
                };
                *slot = front.id;
                decision.dropped_len += 1;
                queue.pop_front();
                self.queued -= 1;
            }
        }
        if self.queued == 0 {
            self.policy.observe_decision(decision.dropped_len, 0);
            return Ok(decision);
        }

        let mut take = [0usize; MAX_APPS];
        let apps = self.dists.len();
        {
            let (view, policy) = self.view_and_policy(now_s);
            policy.choose(&view, &mut take[..apps]);
            view.clip_take(&mut take[..apps]);
        }
        let mut slo = f64::INFINITY;
        for (queue, &n) in self.queues.iter_mut().zip(&take[..apps]) {
            for _ in 0..n {
                if let (Some(r), Some(slot)) =
                    (queue.pop_front(), batch.get_mut(decision.batch_len))
                {
                    *slot = r.id;
                    slo = slo.min(r.deadline_s - r.arrival_s);
                    decision.batch_len += 1;
                }
            }
        }
        self.queued -= decision.batch_len;
        self.last_size = decision.batch_len;
        self.policy
            .observe_decision(decision.dropped_len, decision.batch_len);
        self.last_slo_s = slo;
        Ok(decision)
    }

    /// Reports an observed execution time of one request of `app` (its time alone, as the
    /// application's law describes it) and updates that law with the current decay. O(bins).
    pub fn complete(&mut self, app: usize, observed_time_s: f64) -> Result<(), BatchingError> {
        let apps = self.dists.len();
        let d = self
            .dists
            .get_mut(app)
            .ok_or(BatchingError::UnknownApp { app, apps })?;
        d.observe(observed_time_s, self.decay)?;
        if let Some(v) = self.versions.get_mut(app) {
            *v += 1;
        }
        Ok(())
    }

    /// Reports how long the last batch took (feedback for adaptive policies such as
    /// Clipper's AIMD).
    pub fn batch_done(&mut self, batch_time_s: f64) -> Result<(), BatchingError> {
        super::non_negative("batch_time_s", batch_time_s)?;
        if self.last_size > 0 {
            self.policy
                .observe_batch(self.last_size, batch_time_s, self.last_slo_s);
        }
        Ok(())
    }

    /// What the policy sees at `now_s`, and the policy, borrowed apart so that it can decide
    /// on the view.
    fn view_and_policy(&mut self, now_s: f64) -> (View<'_>, &mut dyn Scheduler) {
        let view = View {
            now_s,
            dists: &self.dists,
            queues: &self.queues,
            slo_s: &self.slo_s,
            versions: &self.versions,
            model: self.model.as_ref(),
            queued: self.queued,
        };
        (view, self.policy.as_mut())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use alloc::rc::Rc;
    use alloc::vec;
    use core::cell::RefCell;

    use super::*;
    use crate::orloj::{BatchScale, ExecSpec, TimeGrid};

    /// Asks for fixed counts and records what [`View::clip_take`] makes of them.
    struct Wants {
        want: Vec<usize>,
        clipped: Rc<RefCell<(Vec<usize>, usize)>>,
    }

    impl Scheduler for Wants {
        fn name(&self) -> &str {
            "wants"
        }
        fn min_slack_s(&self, _: &View<'_>, _: usize) -> f64 {
            0.0
        }
        fn choose(&mut self, view: &View<'_>, take: &mut [usize]) {
            take.copy_from_slice(&self.want);
            let mut copy = self.want.clone();
            let size = view.clip_take(&mut copy);
            // Clipping twice changes nothing.
            let mut again = copy.clone();
            assert_eq!(view.clip_take(&mut again), size);
            assert_eq!(again, copy);
            *self.clipped.borrow_mut() = (copy, size);
        }
    }

    /// The batch the batcher forms is the clipped take: per application at most its queue,
    /// in index order, at most the largest batch in all.
    #[test]
    fn the_batcher_forms_the_clipped_take() {
        let grid = TimeGrid::covering(0.040, 64).unwrap();
        let spec = ExecSpec::Constant { value_s: 0.005 };
        // (queued per app, wanted per app, expected batch per app) with batches of at most 6.
        let cases: [([usize; 3], [usize; 3], [usize; 3]); 5] = [
            ([2, 2, 2], [1, 1, 1], [1, 1, 1]),
            ([2, 5, 1], [9, 9, 9], [2, 4, 0]),
            ([0, 3, 3], [4, 4, 4], [0, 3, 3]),
            ([1, 1, 8], [0, 0, 9], [0, 0, 6]),
            ([3, 3, 3], [0, 0, 0], [0, 0, 0]),
        ];
        for (queued, want, expected) in cases {
            let apps = (0..3)
                .map(|a| Distribution::from_spec(grid, &spec, &alloc::format!("app {a}")).unwrap())
                .collect();
            let clipped = Rc::new(RefCell::new((Vec::new(), 0)));
            let policy = Wants {
                want: want.to_vec(),
                clipped: Rc::clone(&clipped),
            };
            let model = Box::new(BatchScale::unit(6).unwrap());
            let mut b = Batcher::new(apps, model, Box::new(policy)).unwrap();
            let mut id = 0;
            for (app, &n) in queued.iter().enumerate() {
                for _ in 0..n {
                    b.enqueue(app, 100 * app as u64 + id, 0.0, 1.0).unwrap();
                    id += 1;
                }
            }
            let (mut batch, mut dropped) = ([0u64; 6], [0u64; 32]);
            let d = b.next_batch(0.0, &mut batch, &mut dropped).unwrap();
            let (take, size) = clipped.borrow().clone();
            assert_eq!(take, expected, "{queued:?} {want:?}");
            assert_eq!(size, expected.iter().sum::<usize>());
            assert_eq!(d.batch_len, size);
            let per_app: Vec<usize> = (0..3u64)
                .map(|a| {
                    batch[..d.batch_len]
                        .iter()
                        .filter(|&&id| id / 100 == a)
                        .count()
                })
                .collect();
            assert_eq!(per_app, expected.to_vec(), "{queued:?} {want:?}");
        }
    }

    /// Entries past the applications are cleared.
    #[test]
    fn clip_take_clears_entries_past_the_applications() {
        let grid = TimeGrid::covering(0.040, 64).unwrap();
        let app =
            Distribution::from_spec(grid, &ExecSpec::Constant { value_s: 0.005 }, "a").unwrap();
        let model = BatchScale::unit(4).unwrap();
        let request = Queued {
            id: 1,
            arrival_s: 0.0,
            deadline_s: 1.0,
            seq: 0,
        };
        let queues = [VecDeque::from(vec![request; 3])];
        let view = View {
            now_s: 0.0,
            dists: core::slice::from_ref(&app),
            queues: &queues,
            slo_s: &[1.0],
            versions: &[0],
            model: &model,
            queued: 3,
        };
        let mut take = vec![5, 7];
        assert_eq!(view.clip_take(&mut take), 3);
        assert_eq!(take, vec![3, 0]);
    }
}
