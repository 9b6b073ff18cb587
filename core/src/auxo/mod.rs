//! **Auxo** (Liu et al., "Auxo: Efficient Federated Learning via Scalable Client Clustering",
//! SoCC'23): during cross-device federated training, find *cohorts* (groups of clients with
//! similar data) from nothing but the model updates the server already receives, and train one
//! model per cohort.
//!
//! The algorithm follows the reference prototype in FedScale (`examples/auxo`), as summarised in
//! the notes `oobleck-auxo.md` Part B; nothing was copied from it:
//!
//! - [`Entry`]: one cell of the client × cohort affinity table (main affinity R, the two
//!   sub-affinities of the halves a cohort would split into, the evidence count), with the
//!   reward, vote and split rules.
//! - [`Auxo`]: the table plus the per-cohort clustering step a server calls after each round of
//!   a cohort ([`Auxo::step`]): the bipartition (2-means the first time, then 1-NN from decided
//!   clients, or the ⌊n/4⌋ nearest neighbours of a decided client when only one side is
//!   represented), the main rewards from the distance to the known members' centroid, the split
//!   test ([`SplitRule`]), the split itself, the optional merge, and the ε-greedy re-mapping of
//!   clients to cohorts.
//! - [`playground`]: the reference's playground (clients at Gaussian-blob positions whose
//!   positions serve as updates) with the recovered cohorts scored by ARI and purity.
//!
//! Deviations from the reference, each because of scale or because the reference is a script:
//! the reference re-maps *every* client after every step (O(clients) per round); here only the
//! clients whose affinities changed are re-mapped (all of them after a split or merge), and
//! the per-cohort counts of preferred halves the split test needs are kept incrementally, so a
//! step costs O(participants² · dim) however large the population is. A client that has never
//! trained keeps the uniformly random cohort it was last given until it is re-mapped (the
//! reference redraws it every round; any one look at it is uniform either way). The
//! exploration ε decays by `decay^clients` once per step, which is what the reference's
//! per-client decay amounts to over one re-mapping pass. Client ids start at 0 (the reference
//! reserves row 0 as a dummy).

mod cluster;
mod engine;
#[cfg(feature = "serde")]
pub mod formats;
pub mod metrics;
pub mod playground;
pub mod sim;

mod table;

pub use engine::{Auxo, Split, StepOutcome, reference_split};
pub use table::{Entry, UNDECIDED, rewards_from_distances};

use alloc::vec::Vec;

/// Most cohorts an [`Auxo`] grows to (a split at the limit is not taken).
pub const MAX_COHORTS: usize = 1024;

/// How an update vector is turned into the clustering signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The FL default: rows centered by the round's mean drive the main rewards, and the
    /// centered rows scaled to unit L2 norm (cosine geometry) drive the bipartition.
    CenteredNormalized,
    /// The rows as given for both (the reference playground feeds positions this way).
    Raw,
}

/// When a cohort splits.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitRule {
    /// The reference's adaptive test (notes B4.3): at least `100 / train_ratio` members, both
    /// preferred halves above `known_clients · 0.9^(cohorts − 1)`, and after the first split a
    /// half ratio inside (0.5, 2).
    Reference,
    /// Split whenever the cohort's round counter is in the list (the reference's
    /// `split_round`); sub-clustering stops one round after the last entry.
    FixedRounds(Vec<u32>),
    /// Ergon's test: the reference's size floor, plus a significance test of the two
    /// sub-clusters against the null of one Gaussian, with the false-split rate per cohort
    /// held at `alpha` (see [`ImprovedTest`]).
    Improved(ImprovedTest),
}

/// Parameters of [`SplitRule::Improved`].
///
/// Every round with at least `min_rows` participants, the cohort's centered updates get a
/// SigClust-style z-score: the 2-means cluster index (within / total sum of squares) against
/// `null_draws` samples of one Gaussian with the participants' own covariance. The z-scores of
/// `block` consecutive rounds are combined (Stouffer, `Σz/√block`), and the b-th block of a
/// cohort rejects "one Gaussian" when the combined z exceeds the normal quantile of
/// `alpha · 6/(π² b²)`. Those levels sum to `alpha`, so a homogeneous cohort splits falsely
/// with probability at most about `alpha` over its whole life, however many rounds it runs.
/// After a rejection, until the next block closes, the cohort splits along its accumulated
/// sub-affinities as soon as both halves hold at least `min_half_fraction` of its members.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImprovedTest {
    /// Family-wise false-split rate per cohort.
    pub alpha: f64,
    /// Rounds per evidence block.
    pub block: u32,
    /// Samples of the null per round.
    pub null_draws: usize,
    /// Fewest participants for a round to be tested.
    pub min_rows: usize,
    /// Smallest share of decided members each half needs.
    pub min_half_fraction: f64,
}

impl Default for ImprovedTest {
    fn default() -> Self {
        ImprovedTest {
            alpha: 0.05,
            block: 10,
            null_draws: 40,
            min_rows: 8,
            min_half_fraction: 0.15,
        }
    }
}

/// Configuration of an [`Auxo`] engine; [`AuxoConfig::new`] gives the reference's values
/// (notes B6).
#[derive(Debug, Clone, PartialEq)]
pub struct AuxoConfig {
    /// Population size; client ids are `0..clients`.
    pub clients: usize,
    /// Participants per round over population (`K / N`), in (0, 1]; sets the size floor
    /// `100 / train_ratio`.
    pub train_ratio: f64,
    /// `known_clt`: the half-size floor of the reference split test (reference: clients / 20).
    pub known_clients: f64,
    /// Base reward R0 (5).
    pub base_reward: f64,
    /// Sub-vote step r0 (1).
    pub vote_step: f64,
    /// Initial exploration ε (0.01).
    pub epsilon: f64,
    /// ε decay per client re-mapping (0.99).
    pub epsilon_decay: f64,
    /// Fewest reporting participants for a step to do anything (5).
    pub min_reporters: usize,
    /// Sub-clustering stops after this cohort round (`None`: never; the FedScale aggregator
    /// uses 500; ignored by [`SplitRule::FixedRounds`], which stops after its last round).
    pub sub_clustering_rounds: Option<u32>,
    /// The split test.
    pub split_rule: SplitRule,
    /// Whether a cohort below `clients / 10` members is dropped (off in the reference).
    pub merge: bool,
    /// The signal transform.
    pub signal: Signal,
    /// Seed of every random choice.
    pub seed: u64,
}

impl AuxoConfig {
    /// The reference configuration for `clients` clients at `train_ratio`: `known_clients =
    /// clients / 20`, R0 = 5, r0 = 1, ε = 0.01 × 0.99, 5 reporters, the reference split test,
    /// no merge, centered + normalised signal, seed 0.
    pub fn new(clients: usize, train_ratio: f64) -> Self {
        AuxoConfig {
            clients,
            train_ratio,
            known_clients: clients as f64 / 20.0,
            base_reward: 5.0,
            vote_step: 1.0,
            epsilon: 0.01,
            epsilon_decay: 0.99,
            min_reporters: 5,
            sub_clustering_rounds: None,
            split_rule: SplitRule::Reference,
            merge: false,
            signal: Signal::CenteredNormalized,
            seed: 0,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), AuxoError> {
        let bad = |field: &'static str, value: f64, message: &'static str| {
            Err(AuxoError::InvalidConfig {
                field,
                value,
                message,
            })
        };
        if self.clients == 0 || self.clients > u32::MAX as usize {
            return bad(
                "clients",
                self.clients as f64,
                "need 1..=4294967295 clients",
            );
        }
        if !(self.train_ratio > 0.0 && self.train_ratio <= 1.0) {
            return bad("train_ratio", self.train_ratio, "need a ratio in (0, 1]");
        }
        if !(self.known_clients.is_finite() && self.known_clients >= 0.0) {
            return bad(
                "known_clients",
                self.known_clients,
                "need a finite count ≥ 0",
            );
        }
        if !(self.base_reward.is_finite() && self.base_reward > 0.0) {
            return bad(
                "base_reward",
                self.base_reward,
                "need a positive finite reward",
            );
        }
        if !(self.vote_step.is_finite() && self.vote_step > 0.0) {
            return bad("vote_step", self.vote_step, "need a positive finite step");
        }
        if !(0.0..=1.0).contains(&self.epsilon) {
            return bad("epsilon", self.epsilon, "need a probability in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.epsilon_decay) {
            return bad(
                "epsilon_decay",
                self.epsilon_decay,
                "need a factor in [0, 1]",
            );
        }
        if self.min_reporters < 2 {
            return bad(
                "min_reporters",
                self.min_reporters as f64,
                "need at least 2 reporters to bipartition",
            );
        }
        if let SplitRule::Improved(t) = &self.split_rule {
            if !(t.alpha > 0.0 && t.alpha < 1.0) {
                return bad("split_rule.alpha", t.alpha, "need a level in (0, 1)");
            }
            if t.block == 0 {
                return bad("split_rule.block", 0.0, "need at least 1 round per block");
            }
            if t.null_draws < 3 {
                return bad(
                    "split_rule.null_draws",
                    t.null_draws as f64,
                    "need at least 3 draws",
                );
            }
            if t.min_rows < 4 {
                return bad(
                    "split_rule.min_rows",
                    t.min_rows as f64,
                    "need at least 4 rows",
                );
            }
            if !(0.0..0.5).contains(&t.min_half_fraction) {
                return bad(
                    "split_rule.min_half_fraction",
                    t.min_half_fraction,
                    "need a fraction in [0, 0.5)",
                );
            }
        }
        Ok(())
    }
}

/// Why an Auxo input was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuxoError {
    /// A configuration field is out of range.
    #[error("auxo config: {field} = {value}: {message}")]
    InvalidConfig {
        /// The field at fault.
        field: &'static str,
        /// Its value.
        value: f64,
        /// What is needed.
        message: &'static str,
    },
    /// A cohort id that does not exist.
    #[error("unknown cohort {cohort} (there are {cohorts} cohorts)")]
    UnknownCohort {
        /// The id given.
        cohort: usize,
        /// How many cohorts exist.
        cohorts: usize,
    },
    /// A step without participants.
    #[error("cohort {cohort}: a clustering step needs at least one participant, got none")]
    NoParticipants {
        /// The cohort.
        cohort: usize,
    },
    /// A client id outside the population.
    #[error("unknown client id {client} (the population has ids 0..{clients})")]
    UnknownClient {
        /// The id given.
        client: u64,
        /// The population size.
        clients: usize,
    },
    /// A client listed twice in one step.
    #[error("client {client} appears twice among the participants of one step")]
    DuplicateClient {
        /// The id.
        client: u64,
    },
    /// The update matrix does not have `participants × dim` values.
    #[error(
        "updates: {values} values for {participants} participants of dimension {dim} (need participants × dim = {expected}, every update the same length)"
    )]
    RaggedUpdates {
        /// Values given.
        values: usize,
        /// Participants given.
        participants: usize,
        /// Dimension given.
        dim: usize,
        /// Values expected.
        expected: usize,
    },
    /// A zero update dimension.
    #[error("updates: dimension 0 (need at least one value per update)")]
    ZeroDimension,
    /// A NaN or infinite update value.
    #[error("update of client {client}: value {index} is {value} (need finite numbers)")]
    NonFinite {
        /// The client.
        client: u64,
        /// Index inside its update.
        index: usize,
        /// The value.
        value: f32,
    },
}
