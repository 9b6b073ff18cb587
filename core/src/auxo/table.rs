//! One entry of the client × cohort affinity table (the reference's "QTable" entry) and its
//! update rules (notes B3).

/// Preferred half of a cohort that has not decided (the reference's sub id 2).
pub const UNDECIDED: u8 = 2;

/// The affinity of one client to one cohort.
///
/// `r` is the main affinity (how much the client belongs to the cohort), `sub` the affinities
/// to the two prospective halves the cohort would split into, and `n_trained` how many pieces
/// of evidence (sub votes and main rewards) the entry collected since it was last reset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// Main affinity R (a fresh entry has 1).
    pub r: f64,
    /// Affinities to the two halves (a fresh entry has `[r/2, r/2]`).
    pub sub: [f64; 2],
    /// Evidence collected since the last reset.
    pub n_trained: u32,
}

impl Default for Entry {
    fn default() -> Self {
        Entry::new(1.0, 0)
    }
}

impl Entry {
    /// An entry with main affinity `r`, undecided halves `[r/2, r/2]` and `n_trained` evidence.
    pub fn new(r: f64, n_trained: u32) -> Self {
        Entry {
            r,
            sub: [r / 2.0, r / 2.0],
            n_trained,
        }
    }

    /// A main reward: `R += reward` and each half gains `reward/2`; a negative reward means
    /// the client looked foreign, so the half preferences it had collected are forgotten
    /// (`sub = [R/2, R/2]`, `n_trained = 0`).
    pub fn reward(&mut self, reward: f64) {
        self.r += reward;
        self.sub[0] += reward / 2.0;
        self.sub[1] += reward / 2.0;
        if reward < 0.0 {
            self.sub = [self.r / 2.0, self.r / 2.0];
            self.n_trained = 0;
        }
    }

    /// A sub vote of size `step` for half `side` (0 or 1): that half gains `step`, the other
    /// loses it, and the entry counts one more piece of evidence.
    pub fn vote(&mut self, side: u8, step: f64) {
        let s = usize::from(side & 1);
        self.sub[s] += step;
        self.sub[1 - s] -= step;
        self.n_trained = self.n_trained.saturating_add(1);
    }

    /// The preferred half: 0 or 1, or [`UNDECIDED`] when both halves are equal or the client
    /// has a negative main affinity (it does not belong here at all).
    pub fn preferred_half(&self) -> u8 {
        if self.sub[0] == self.sub[1] || self.r < 0.0 {
            UNDECIDED
        } else {
            u8::from(self.sub[0] < self.sub[1])
        }
    }

    /// Whether the client is a known member of the cohort (`n_trained > 0` and `R > 1`): the
    /// clients whose updates define the cohort's centroid and that evaluate its model.
    pub fn is_known(&self) -> bool {
        self.n_trained > 0 && self.r > 1.0
    }

    /// The two entries a split of the cohort leaves (parent, child): the client keeps its
    /// evidence and gains one unit of affinity on the side of its preferred half; with equal
    /// halves both sides get `R` and no evidence.
    pub fn split(&self) -> (Entry, Entry) {
        let a = u32::from(self.sub[0] > self.sub[1]);
        let b = if self.sub[0] != self.sub[1] { 1 - a } else { 0 };
        (
            Entry::new(self.r + f64::from(a), self.n_trained * a),
            Entry::new(self.r + f64::from(b), self.n_trained * b),
        )
    }
}

/// Main rewards from distances to the known members' centroid (notes B4.2):
/// `r = (R0 − R0·d/(mean d + std d)) · known_ratio`, population standard deviation. A client
/// closer than mean + std gains, a farther one loses. When every distance is 0 the slope is
/// taken as 0 (every client sits on the centroid, so each gets the full `R0·known_ratio`).
pub fn rewards_from_distances(
    distances: &[f64],
    base_reward: f64,
    known_ratio: f64,
    out: &mut [f64],
) {
    let n = distances.len().max(1) as f64;
    let mean = distances.iter().sum::<f64>() / n;
    let var = distances
        .iter()
        .map(|d| (d - mean) * (d - mean))
        .sum::<f64>()
        / n;
    let scale = mean + libm::sqrt(var);
    let slope = if scale > 0.0 {
        base_reward / scale
    } else {
        0.0
    };
    for (o, d) in out.iter_mut().zip(distances) {
        *o = (base_reward - slope * d) * known_ratio;
    }
}
