//! The clustering engine: the affinity table of every client and cohort, the per-cohort
//! clustering step, the split and merge, and the ε-greedy client-to-cohort mapping.

use alloc::vec;
use alloc::vec::Vec;

use super::cluster::{
    Draw, Rows, lloyd_from, nearest, normal_upper_quantile, one_nn, separation_z, two_means,
};
use super::table::{Entry, UNDECIDED, rewards_from_distances};
use super::{AuxoConfig, AuxoError, ImprovedTest, MAX_COHORTS, Signal, SplitRule};

/// The improved rule's per-round z-score above which a round's 2-means casts sub votes.
pub const VOTE_Z: f64 = 2.0;

/// A split that a step performed: `child` (the new highest cohort id) was cut out of `parent`;
/// the caller gives the child a copy of the parent's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The cohort that split (keeps its id).
    pub parent: usize,
    /// The new cohort's id (the number of cohorts before the split).
    pub child: usize,
}

/// What one [`Auxo::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// Whether the step ran at all (it needs `min_reporters` participants).
    pub ran: bool,
    /// Whether main rewards were given (needs ≥ 2 cohorts and ≥ 2 known participants).
    pub rewarded: bool,
    /// The split, if the cohort split.
    pub split: Option<Split>,
    /// The cohort id dropped by a merge (ids above it shift down by one).
    pub merged: Option<usize>,
}

impl StepOutcome {
    /// Applies the step to the caller's per-cohort state (models, optimizer state, clocks):
    /// on a split the child gets a copy of the parent's, on a merge the dropped cohort's goes.
    /// `per_cohort` must hold one value per cohort before the step.
    pub fn apply_to<T: Clone>(&self, per_cohort: &mut Vec<T>) {
        if let Some(s) = self.split
            && let Some(parent) = per_cohort.get(s.parent).cloned()
        {
            per_cohort.push(parent);
        }
        if let Some(m) = self.merged
            && m < per_cohort.len()
        {
            per_cohort.remove(m);
        }
    }
}

/// Per-cohort state of the clustering step.
#[derive(Debug, Clone, Default)]
struct Cohort {
    /// The cohort's round counter (the reference's epoch), inherited by a child.
    round: u32,
    /// Whether the first bipartition (2-means) happened since the cohort was created or split.
    bipartitioned: bool,
    /// Clustering rounds since the last split (merge waits for 5).
    since_split: u32,
    /// Improved test: z-scores summed in the open block, their count, and blocks closed.
    z_sum: f64,
    z_count: u32,
    blocks: u32,
    /// Improved test: the last closed block rejected "one Gaussian"; until the next block
    /// closes, the cohort splits as soon as its halves are big enough (the votes that fill
    /// them often come a few rounds after the rejection).
    rejected: bool,
}

impl Cohort {
    fn fresh(round: u32) -> Self {
        Cohort {
            round,
            ..Cohort::default()
        }
    }
}

/// Auxo's cohort identification for one population: call [`Auxo::step`] after each round of a
/// cohort with that round's participants and their updates, read [`Auxo::cohort_of`] to know
/// where to send each client next.
///
/// A step costs O(n² · dim + n · cohorts) for n participants, independent of the population,
/// except on a split or merge (O(clients · cohorts), rare).
#[derive(Debug, Clone)]
pub struct Auxo {
    cfg: AuxoConfig,
    /// `columns[m][c]`: client c's entry for cohort m.
    columns: Vec<Vec<Entry>>,
    /// The cohort each client is currently mapped to.
    cohort_of: Vec<u32>,
    /// Per cohort, how many of its members prefer half 0, half 1, or neither.
    halves: Vec<[usize; 3]>,
    cohorts: Vec<Cohort>,
    epsilon: f64,
    rng: Draw,
}

impl Auxo {
    /// A population of `cfg.clients` clients, all in cohort 0 with fresh entries.
    pub fn new(cfg: AuxoConfig) -> Result<Self, AuxoError> {
        cfg.validate()?;
        let n = cfg.clients;
        Ok(Auxo {
            columns: vec![vec![Entry::default(); n]],
            cohort_of: vec![0; n],
            halves: vec![[0, 0, n]],
            cohorts: vec![Cohort::default()],
            epsilon: cfg.epsilon,
            rng: Draw::new(cfg.seed ^ 0x6175_786f_5f71_7462),
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AuxoConfig {
        &self.cfg
    }

    /// Number of cohorts.
    pub fn cohorts(&self) -> usize {
        self.columns.len()
    }

    /// Population size.
    pub fn clients(&self) -> usize {
        self.cfg.clients
    }

    /// The current exploration probability.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The cohort client `client` is mapped to (where its next round trains).
    pub fn cohort_of(&self, client: u32) -> Result<usize, AuxoError> {
        self.check_client(client)?;
        Ok(self.cohort_of[client as usize] as usize)
    }

    /// Every client's cohort, indexed by client id.
    pub fn assignment(&self) -> &[u32] {
        &self.cohort_of
    }

    /// The cohort a client is served by: the largest main affinity (first on ties), without
    /// exploration.
    pub fn best_cohort(&self, client: u32) -> Result<usize, AuxoError> {
        self.check_client(client)?;
        Ok(self.argmax(client as usize))
    }

    /// Client `client`'s entry for cohort `cohort`.
    pub fn entry(&self, client: u32, cohort: usize) -> Result<Entry, AuxoError> {
        self.check_client(client)?;
        self.check_cohort(cohort)?;
        Ok(self.columns[cohort][client as usize])
    }

    /// How many of the cohort's members prefer half 0, half 1, or neither.
    pub fn half_counts(&self, cohort: usize) -> Result<[usize; 3], AuxoError> {
        self.check_cohort(cohort)?;
        Ok(self.halves[cohort])
    }

    /// Number of clients mapped to `cohort`.
    pub fn members(&self, cohort: usize) -> Result<usize, AuxoError> {
        Ok(self.half_counts(cohort)?.iter().sum())
    }

    /// The cohort's round counter (clustering steps that ran on it, inherited at a split).
    pub fn round(&self, cohort: usize) -> Result<u32, AuxoError> {
        self.check_cohort(cohort)?;
        Ok(self.cohorts[cohort].round)
    }

    /// Whether `client` is a known member of `cohort` (`n_trained > 0`, `R > 1`).
    pub fn is_known(&self, client: u32, cohort: usize) -> Result<bool, AuxoError> {
        Ok(self.entry(client, cohort)?.is_known())
    }

    fn check_client(&self, client: u32) -> Result<(), AuxoError> {
        if (client as usize) < self.cfg.clients {
            Ok(())
        } else {
            Err(AuxoError::UnknownClient {
                client: u64::from(client),
                clients: self.cfg.clients,
            })
        }
    }

    fn check_cohort(&self, cohort: usize) -> Result<(), AuxoError> {
        if cohort < self.columns.len() {
            Ok(())
        } else {
            Err(AuxoError::UnknownCohort {
                cohort,
                cohorts: self.columns.len(),
            })
        }
    }

    /// Checks one step's input without changing anything.
    pub fn validate_step(
        &self,
        cohort: usize,
        participants: &[u32],
        updates: &[f32],
        dim: usize,
    ) -> Result<(), AuxoError> {
        self.check_cohort(cohort)?;
        if participants.is_empty() {
            return Err(AuxoError::NoParticipants { cohort });
        }
        if dim == 0 {
            return Err(AuxoError::ZeroDimension);
        }
        let expected = participants.len().saturating_mul(dim);
        if updates.len() != expected {
            return Err(AuxoError::RaggedUpdates {
                values: updates.len(),
                participants: participants.len(),
                dim,
                expected,
            });
        }
        for &c in participants {
            self.check_client(c)?;
        }
        let mut sorted = participants.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(AuxoError::DuplicateClient {
                client: u64::from(w[0]),
            });
        }
        for (row, &c) in updates.chunks_exact(dim).zip(participants) {
            if let Some((index, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(AuxoError::NonFinite {
                    client: u64::from(c),
                    index,
                    value,
                });
            }
        }
        Ok(())
    }

    /// The clustering step of cohort `cohort` after one of its rounds: `participants` are the
    /// clients that reported and `updates` their update vectors, row-major, `dim` values each
    /// (the slice of the update the caller wants clustered, e.g. the last 10 % of the
    /// flattened model). With fewer than `min_reporters` participants nothing happens.
    ///
    /// Bad input (unknown cohort or client, no participants, a duplicate, ragged or non-finite
    /// updates) is rejected before anything changes.
    pub fn step(
        &mut self,
        cohort: usize,
        participants: &[u32],
        updates: &[f32],
        dim: usize,
    ) -> Result<StepOutcome, AuxoError> {
        self.validate_step(cohort, participants, updates, dim)?;
        let mut outcome = StepOutcome::default();
        let n = participants.len();
        if n < self.cfg.min_reporters {
            return Ok(outcome);
        }
        outcome.ran = true;
        let m = cohort;
        self.cohorts[m].round += 1;
        let round = self.cohorts[m].round;
        let keep_split = match &self.cfg.split_rule {
            SplitRule::FixedRounds(list) => {
                round <= list.iter().copied().max().unwrap_or(0).saturating_add(1)
            }
            _ => self.cfg.sub_clustering_rounds.is_none_or(|r| round <= r),
        };
        let raw = Rows {
            data: updates.iter().map(|&v| f64::from(v)).collect(),
            dim,
        };
        let (main_rows, sub_rows) = match self.cfg.signal {
            Signal::Raw => (raw.clone(), raw),
            Signal::CenteredNormalized => {
                let c = raw.centered();
                let s = c.row_normalized();
                (c, s)
            }
        };

        self.sub_cluster(m, participants, &sub_rows, keep_split);
        let z = match self.cfg.split_rule.clone() {
            SplitRule::Improved(t) => {
                let centered = main_rows.centered();
                self.improved_round(m, participants, &centered, &t, keep_split)
            }
            _ => None,
        };
        let check = self.main_rewards(m, participants, &main_rows, &mut outcome);
        if !check {
            return Ok(outcome);
        }
        self.cohorts[m].since_split += 1;
        if self.split_test(m, z) && self.columns.len() < MAX_COHORTS {
            let child = self.columns.len();
            self.grow(m);
            outcome.split = Some(Split { parent: m, child });
        }
        let members = self.halves[m].iter().sum::<usize>();
        if self.cfg.merge
            && outcome.split.is_none()
            && self.columns.len() > 2
            && self.cohorts[m].since_split > 5
            && members < self.cfg.clients / 10
        {
            self.shrink(m);
            outcome.merged = Some(m);
        }
        if outcome.split.is_some() || outcome.merged.is_some() {
            self.remap_all();
        } else {
            self.decay_epsilon();
            for &c in participants {
                self.remap(c as usize);
            }
        }
        Ok(outcome)
    }

    /// Changes client c's entry for cohort m and keeps the half counts right.
    fn modify(&mut self, c: usize, m: usize, f: impl FnOnce(&mut Entry)) {
        let home = self.cohort_of[c] as usize;
        if home == m {
            let before = self.columns[m][c].preferred_half();
            f(&mut self.columns[m][c]);
            let after = self.columns[m][c].preferred_half();
            self.halves[m][usize::from(before)] -= 1;
            self.halves[m][usize::from(after)] += 1;
        } else {
            f(&mut self.columns[m][c]);
        }
    }

    fn vote(&mut self, c: u32, m: usize, side: u8) {
        let step = self.cfg.vote_step;
        self.modify(c as usize, m, |e| e.vote(side, step));
    }

    /// Sub-clustering (notes B4.1).
    fn sub_cluster(&mut self, m: usize, participants: &[u32], x: &Rows, keep_split: bool) {
        let n = participants.len();
        if matches!(self.cfg.split_rule, SplitRule::Improved(_)) {
            // The improved rule votes from its own test (see `improved_round`).
            return;
        }
        if !self.cohorts[m].bipartitioned {
            let idx: Vec<usize> = if self.columns.len() > 1 {
                (0..n)
                    .filter(|&i| self.columns[m][participants[i] as usize].is_known())
                    .collect()
            } else {
                (0..n).collect()
            };
            if idx.len() <= 1 {
                return;
            }
            let (labels, _) = two_means(&x.select(&idx), &mut self.rng, 3);
            for (&i, &l) in idx.iter().zip(&labels) {
                self.vote(participants[i], m, l);
            }
            self.cohorts[m].bipartitioned = true;
            return;
        }
        if !keep_split {
            return;
        }
        let prefs: Vec<u8> = participants
            .iter()
            .map(|&c| self.columns[m][c as usize].preferred_half())
            .collect();
        let decided: Vec<usize> = (0..n).filter(|&i| prefs[i] != UNDECIDED).collect();
        let Some(&first) = decided.first() else {
            return;
        };
        let one_sided = decided.iter().all(|&i| prefs[i] == prefs[first]);
        if one_sided {
            // Seed the empty side by locality: the decided client and its ⌊n/4⌋ − 1 nearest
            // neighbours vote for the decided client's side.
            let side = prefs[first];
            for i in nearest(x, first, n / 4) {
                self.vote(participants[i], m, side);
            }
        } else {
            let labels: Vec<u8> = decided.iter().map(|&i| prefs[i]).collect();
            for i in (0..n).filter(|&i| prefs[i] == UNDECIDED) {
                let side = one_nn(x, &decided, &labels, i);
                self.vote(participants[i], m, side);
            }
        }
    }

    /// One round of the improved rule on cohort m: the separation z-score of the
    /// participants' centered updates (see [`separation_z`]) and, when this round's 2-means
    /// shows two groups (z above [`VOTE_Z`] and both groups above the minimum share), one sub
    /// vote per participant for its 2-means side, the sides named to agree with the halves
    /// the participants already prefer. Rounds without visible structure cast no votes, so a
    /// homogeneous cohort's halves stay undecided instead of filling up with arbitrary cuts.
    /// Returns the z-score counted as evidence (0 when the round had too few participants or
    /// the 2-means only cut off outliers).
    fn improved_round(
        &mut self,
        m: usize,
        participants: &[u32],
        x: &Rows,
        t: &ImprovedTest,
        keep_split: bool,
    ) -> Option<f64> {
        if participants.len() < t.min_rows {
            return None;
        }
        let sep = separation_z(x, &mut self.rng, t.null_draws, t.min_half_fraction);
        if sep.minority < t.min_half_fraction {
            // Cutting off a few outliers (strays from another cohort) is no evidence of two
            // groups of useful size; this only lowers z, so the false-split bound holds.
            return Some(0.0);
        }
        if keep_split && sep.z > VOTE_Z {
            let mut labels = sep.labels;
            // Seed the cut from the halves this round's decided participants already prefer,
            // so rounds agree on one bipartition instead of alternating between near-equal cuts.
            let mut sums = [vec![0.0; x.dim], vec![0.0; x.dim]];
            let mut counts = [0usize; 2];
            for (i, &c) in participants.iter().enumerate() {
                let p = self.columns[m][c as usize].preferred_half();
                if p != UNDECIDED {
                    counts[usize::from(p)] += 1;
                    for (s, v) in sums[usize::from(p)].iter_mut().zip(x.row(i)) {
                        *s += v;
                    }
                }
            }
            if counts[0] > 0 && counts[1] > 0 {
                for (sum, &k) in sums.iter_mut().zip(&counts) {
                    sum.iter_mut().for_each(|v| *v /= k as f64);
                }
                labels = lloyd_from(x, sums);
            }
            let mut agree = 0i64;
            for (&c, &l) in participants.iter().zip(&labels) {
                let p = self.columns[m][c as usize].preferred_half();
                if p != UNDECIDED {
                    agree += if p == l { 1 } else { -1 };
                }
            }
            if agree < 0 {
                labels.iter_mut().for_each(|l| *l = 1 - *l);
            }
            for (&c, &l) in participants.iter().zip(&labels) {
                self.vote(c, m, l);
            }
        }
        Some(sep.z)
    }

    /// Main rewards (notes B4.2). Returns whether the split test may run this step.
    fn main_rewards(
        &mut self,
        m: usize,
        participants: &[u32],
        x: &Rows,
        outcome: &mut StepOutcome,
    ) -> bool {
        if self.columns.len() <= 1 {
            return true;
        }
        let n = participants.len();
        let known: Vec<usize> = (0..n)
            .filter(|&i| self.columns[m][participants[i] as usize].is_known())
            .collect();
        if known.len() < 2 && self.cfg.train_ratio < 1.0 {
            return false;
        }
        // With full participation the reference goes on with fewer than 2 known clients; the
        // centroid is then that of everyone who reported.
        let basis: Vec<usize> = if known.is_empty() {
            (0..n).collect()
        } else {
            known.clone()
        };
        let mut centroid = vec![0.0; x.dim];
        for &i in &basis {
            for (c, v) in centroid.iter_mut().zip(x.row(i)) {
                *c += v;
            }
        }
        centroid.iter_mut().for_each(|c| *c /= basis.len() as f64);
        let distances: Vec<f64> = (0..n)
            .map(|i| libm::sqrt(super::cluster::sq_dist(x.row(i), &centroid)))
            .collect();
        let mut rewards = vec![0.0; n];
        rewards_from_distances(
            &distances,
            self.cfg.base_reward,
            known.len() as f64 / n as f64,
            &mut rewards,
        );
        for (&c, &r) in participants.iter().zip(&rewards) {
            self.modify(c as usize, m, |e| {
                e.reward(r);
                e.n_trained = e.n_trained.saturating_add(1);
            });
        }
        outcome.rewarded = true;
        true
    }

    /// The split test of the configured rule.
    fn split_test(&mut self, m: usize, z: Option<f64>) -> bool {
        let cohorts = self.columns.len();
        let [n0, n1, _] = self.halves[m];
        let members: usize = self.halves[m].iter().sum();
        let floor = 100.0 / self.cfg.train_ratio;
        match self.cfg.split_rule.clone() {
            SplitRule::FixedRounds(list) => list.contains(&self.cohorts[m].round),
            SplitRule::Reference => {
                reference_split(members, n0, n1, floor, self.cfg.known_clients, cohorts)
            }
            SplitRule::Improved(t) => {
                let mut decided_now = false;
                if let Some(z) = z {
                    let st = &mut self.cohorts[m];
                    st.z_sum += z;
                    st.z_count += 1;
                    if st.z_count >= t.block {
                        st.blocks += 1;
                        let combined = st.z_sum / libm::sqrt(f64::from(st.z_count));
                        let b = f64::from(st.blocks);
                        let level =
                            t.alpha * 6.0 / (core::f64::consts::PI * core::f64::consts::PI * b * b);
                        decided_now = combined > normal_upper_quantile(level);
                        st.rejected = decided_now;
                        st.z_sum = 0.0;
                        st.z_count = 0;
                    }
                }
                let need = (t.min_half_fraction * members as f64).max(1.0);
                let decided_now = decided_now || self.cohorts[m].rejected;
                decided_now && members as f64 >= floor && n0 as f64 >= need && n1 as f64 >= need
            }
        }
    }

    /// Splits cohort m (notes B4.4): every client's entry is split by its preferred half; the
    /// child gets the next id and m's round counter, and both restart sub-clustering.
    fn grow(&mut self, m: usize) {
        let mut child = Vec::with_capacity(self.cfg.clients);
        for e in &mut self.columns[m] {
            let (p, c) = e.split();
            *e = p;
            child.push(c);
        }
        self.columns.push(child);
        let round = self.cohorts[m].round;
        self.cohorts[m] = Cohort::fresh(round);
        self.cohorts.push(Cohort::fresh(round));
        self.halves.push([0; 3]);
    }

    /// Drops cohort m (merge): its column goes, later ids shift down.
    fn shrink(&mut self, m: usize) {
        self.columns.remove(m);
        self.cohorts.remove(m);
        self.halves.remove(m);
    }

    /// The reference decays ε once per client in every re-mapping pass over the population.
    fn decay_epsilon(&mut self) {
        self.epsilon *= libm::pow(self.cfg.epsilon_decay, self.cfg.clients as f64);
    }

    fn argmax(&self, c: usize) -> usize {
        let mut best = 0;
        for m in 1..self.columns.len() {
            if self.columns[m][c].r > self.columns[best][c].r {
                best = m;
            }
        }
        best
    }

    /// ε-greedy choice of client c's cohort (notes B4.6).
    fn choose(&mut self, c: usize) -> usize {
        let trained = self.columns.iter().any(|col| col[c].n_trained > 0);
        if !trained || self.rng.uniform() < self.epsilon {
            self.rng.below(self.columns.len())
        } else {
            self.argmax(c)
        }
    }

    fn remap(&mut self, c: usize) {
        let old = self.cohort_of[c] as usize;
        let new = self.choose(c);
        if old != new {
            self.halves[old][usize::from(self.columns[old][c].preferred_half())] -= 1;
            self.halves[new][usize::from(self.columns[new][c].preferred_half())] += 1;
            self.cohort_of[c] = new as u32;
        }
    }

    fn remap_all(&mut self) {
        self.decay_epsilon();
        for h in &mut self.halves {
            *h = [0; 3];
        }
        for c in 0..self.cfg.clients {
            let m = self.choose(c);
            self.cohort_of[c] = m as u32;
            self.halves[m][usize::from(self.columns[m][c].preferred_half())] += 1;
        }
    }
}

/// The reference's adaptive split predicate (notes B4.3): the cohort has at least `floor`
/// (`100 / train_ratio`) members, both preferred halves exceed `known_clients · 0.9^(cohorts −
/// 1)`, and unless this is the first split the ratio `n0 / max(n1, 1)` lies in (0.5, 2).
pub fn reference_split(
    members: usize,
    n0: usize,
    n1: usize,
    floor: f64,
    known_clients: f64,
    cohorts: usize,
) -> bool {
    if (members as f64) < floor {
        return false;
    }
    let min_size = known_clients * libm::pow(0.9, cohorts.saturating_sub(1) as f64);
    let ratio = n0 as f64 / n1.max(1) as f64;
    let within = (ratio > 0.5 && ratio < 2.0) || cohorts == 1;
    n0 as f64 > min_size && n1 as f64 > min_size && within
}
