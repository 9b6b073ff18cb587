//! Auxo through the C ABI: the cohort clusterer (`ergon_auxo_clusterer_*`) a federated-learning
//! server (FedScale, Flower, a C++ aggregator) embeds: after each round of a cohort it passes
//! the reporting clients and their update vectors, and asks each client's cohort before the
//! next round (docs/auxo.md).

use std::ffi::c_char;

use ergon_core::auxo::{Auxo, AuxoConfig, AuxoError, ImprovedTest, Signal, SplitRule};

use crate::boundary::boundary;
use crate::handle::{Header, copy_items, in_ref, into_raw, opaque, out_ref, put, slice};
use crate::status::{Blame, Blamed, Result, argument, ergon_status, invalid_argument};

/// Split test: the reference's adaptive rule (size floor, half sizes, half-ratio window).
pub const ERGON_AUXO_SPLIT_TEST_REFERENCE: u32 = 0;
/// Split test: split at fixed cohort rounds (`ergon_auxo_options::split_rounds`).
pub const ERGON_AUXO_SPLIT_TEST_FIXED: u32 = 1;
/// Split test: Ergon's significance test with a controlled false-split rate.
pub const ERGON_AUXO_SPLIT_TEST_IMPROVED: u32 = 2;
/// Signal: rows centered by the round mean drive the rewards, their L2-normalised form the
/// bipartition (the FL default).
pub const ERGON_AUXO_SIGNAL_CENTERED_NORMALIZED: u32 = 0;
/// Signal: the rows as given (the reference playground's positions).
pub const ERGON_AUXO_SIGNAL_RAW: u32 = 1;
/// Most fixed split rounds an `ergon_auxo_options` may list.
pub const ERGON_AUXO_MAX_SPLIT_ROUNDS: usize = 4096;

/// How a clusterer is configured; start from `ergon_auxo_options_default()` and set at least
/// `clients` and `train_ratio`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ergon_auxo_options {
    /// Population size; client ids are `0..clients`.
    pub clients: u64,
    /// Participants per round over population (`K / N`), in (0, 1].
    pub train_ratio: f64,
    /// The reference split test's half-size floor `known_clt`; negative: `clients / 20`.
    pub known_clients: f64,
    /// `ERGON_AUXO_SPLIT_TEST_*`.
    pub split_test: u32,
    /// `ERGON_AUXO_SIGNAL_*`.
    pub signal: u32,
    /// `ERGON_AUXO_SPLIT_TEST_FIXED`: the cohort rounds at which to split (NULL when
    /// `num_split_rounds` is 0); read during `ergon_auxo_clusterer_new` only.
    pub split_rounds: *const u32,
    /// Entries of `split_rounds` (at most `ERGON_AUXO_MAX_SPLIT_ROUNDS`).
    pub num_split_rounds: usize,
    /// Sub-clustering stops after this cohort round; 0: never.
    pub sub_clustering_rounds: u32,
    /// Fewest reporting participants for a step to do anything (≥ 2).
    pub min_reporters: u32,
    /// Whether a cohort below `clients / 10` members is dropped.
    pub merge: bool,
    /// Base reward R0.
    pub base_reward: f64,
    /// Sub-vote step r0.
    pub vote_step: f64,
    /// Initial exploration ε in [0, 1].
    pub epsilon: f64,
    /// ε decay per client re-mapping, in [0, 1].
    pub epsilon_decay: f64,
    /// `ERGON_AUXO_SPLIT_TEST_IMPROVED`: family-wise false-split rate per cohort, in (0, 1).
    pub improved_alpha: f64,
    /// `ERGON_AUXO_SPLIT_TEST_IMPROVED`: rounds per evidence block (≥ 1).
    pub improved_block: u32,
    /// `ERGON_AUXO_SPLIT_TEST_IMPROVED`: samples of the null per round (≥ 3).
    pub improved_null_draws: u32,
    /// `ERGON_AUXO_SPLIT_TEST_IMPROVED`: fewest participants for a round to be tested (≥ 4).
    pub improved_min_rows: u32,
    /// `ERGON_AUXO_SPLIT_TEST_IMPROVED`: smallest share of decided members each half needs.
    pub improved_min_half_fraction: f64,
    /// Seed of every random choice.
    pub seed: u64,
}

/// What one `ergon_auxo_clusterer_step` did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ergon_auxo_step_result {
    /// Whether the step ran (it needs `min_reporters` participants).
    pub ran: bool,
    /// Whether main rewards were given.
    pub rewarded: bool,
    /// Whether the cohort split: cohort `split_child` (the new highest id) was cut out of
    /// `split_parent`; give the child a copy of the parent's model.
    pub split: bool,
    /// Whether a cohort was dropped by a merge: `merged_cohort` (ids above it shift down).
    pub merged: bool,
    /// The cohort that split (when `split`).
    pub split_parent: u32,
    /// The new cohort (when `split`).
    pub split_child: u32,
    /// The dropped cohort (when `merged`).
    pub merged_cohort: u32,
    /// Cohorts after the step.
    pub num_cohorts: u32,
}

/// A cohort clusterer: the client × cohort affinity table and the per-cohort clustering step.
/// Made by `ergon_auxo_clusterer_new`, released by `ergon_auxo_clusterer_free`. Not to be used
/// from two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_auxo_clusterer {
    header: Header,
    auxo: Auxo,
}

opaque!(
    ergon_auxo_clusterer,
    0x4552_474f_4155_584f,
    "Auxo clusterer"
); // "ERGOAUXO"

impl Blamed for AuxoError {
    fn status(&self, _blame: Blame) -> ergon_status {
        match self {
            // An id beyond the population or the cohorts: an index past the end.
            AuxoError::UnknownCohort { .. } | AuxoError::UnknownClient { .. } => {
                ergon_status::OutOfRange
            }
            // Every other Auxo error is about an argument of the call (an option, the updates).
            _ => ergon_status::InvalidArgument,
        }
    }
}

/// The default options: 0 clients (set them), train ratio 1, `known_clients` = clients / 20,
/// the reference split test, centered + normalised signal, R0 = 5, r0 = 1, ε = 0.01 decaying by
/// 0.99, 5 reporters, no merge, sub-clustering never stops, the improved test's defaults
/// (α = 0.05, blocks of 10 rounds, 40 null draws, 8 rows, 0.15 half share), seed 0. Never
/// fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_auxo_options_default() -> ergon_auxo_options {
    boundary!(infallible, {
        let c = AuxoConfig::new(0, 1.0);
        let t = ImprovedTest::default();
        ergon_auxo_options {
            clients: 0,
            train_ratio: c.train_ratio,
            known_clients: -1.0,
            split_test: ERGON_AUXO_SPLIT_TEST_REFERENCE,
            signal: ERGON_AUXO_SIGNAL_CENTERED_NORMALIZED,
            split_rounds: std::ptr::null(),
            num_split_rounds: 0,
            sub_clustering_rounds: 0,
            min_reporters: c.min_reporters as u32,
            merge: c.merge,
            base_reward: c.base_reward,
            vote_step: c.vote_step,
            epsilon: c.epsilon,
            epsilon_decay: c.epsilon_decay,
            improved_alpha: t.alpha,
            improved_block: t.block,
            improved_null_draws: t.null_draws as u32,
            improved_min_rows: t.min_rows as u32,
            improved_min_half_fraction: t.min_half_fraction,
            seed: c.seed,
        }
    })
}

/// The core configuration of `o` (core validates the values).
///
/// # Safety
/// `o.split_rounds` NULL or readable for `o.num_split_rounds` values.
unsafe fn config_of(o: &ergon_auxo_options) -> Result<AuxoConfig> {
    let clients = usize::try_from(o.clients)
        .ok()
        .filter(|&c| c >= 1 && c <= u32::MAX as usize)
        .ok_or_else(|| {
            invalid_argument(format!(
                "options.clients = {}: need 1..=4294967295 clients",
                o.clients
            ))
        })?;
    if o.num_split_rounds > ERGON_AUXO_MAX_SPLIT_ROUNDS {
        return Err(invalid_argument(format!(
            "options.num_split_rounds = {}: at most {ERGON_AUXO_MAX_SPLIT_ROUNDS}",
            o.num_split_rounds
        )));
    }
    // SAFETY: the caller's contract.
    let rounds = unsafe { slice(o.split_rounds, o.num_split_rounds, "options.split_rounds")? };
    let split_rule = match o.split_test {
        ERGON_AUXO_SPLIT_TEST_REFERENCE => SplitRule::Reference,
        ERGON_AUXO_SPLIT_TEST_FIXED => {
            if rounds.is_empty() {
                return Err(invalid_argument(
                    "options.split_rounds: the fixed split test needs at least one round",
                ));
            }
            SplitRule::FixedRounds(rounds.to_vec())
        }
        ERGON_AUXO_SPLIT_TEST_IMPROVED => SplitRule::Improved(ImprovedTest {
            alpha: o.improved_alpha,
            block: o.improved_block,
            null_draws: o.improved_null_draws as usize,
            min_rows: o.improved_min_rows as usize,
            min_half_fraction: o.improved_min_half_fraction,
        }),
        other => {
            return Err(invalid_argument(format!(
                "options.split_test: unknown code {other} (0 = reference, 1 = fixed, 2 = improved)"
            )));
        }
    };
    let signal = match o.signal {
        ERGON_AUXO_SIGNAL_CENTERED_NORMALIZED => Signal::CenteredNormalized,
        ERGON_AUXO_SIGNAL_RAW => Signal::Raw,
        other => {
            return Err(invalid_argument(format!(
                "options.signal: unknown code {other} (0 = centered-normalized, 1 = raw)"
            )));
        }
    };
    let mut c = AuxoConfig::new(clients, o.train_ratio);
    // NaN is not "negative": it reaches core's check and is refused there.
    if o.known_clients >= 0.0 || o.known_clients.is_nan() {
        c.known_clients = o.known_clients;
    }
    c.base_reward = o.base_reward;
    c.vote_step = o.vote_step;
    c.epsilon = o.epsilon;
    c.epsilon_decay = o.epsilon_decay;
    c.min_reporters = o.min_reporters as usize;
    c.sub_clustering_rounds = (o.sub_clustering_rounds > 0).then_some(o.sub_clustering_rounds);
    c.split_rule = split_rule;
    c.merge = o.merge;
    c.signal = signal;
    c.seed = o.seed;
    Ok(c)
}

/// Makes a clusterer of `options->clients` clients, each in cohort 0 at first. On success
/// `*out` receives a handle to release with `ergon_auxo_clusterer_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (an option out of range; the
/// message names the field) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `options` NULL or readable, its `split_rounds` NULL or readable for `num_split_rounds`
/// values; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_new(
    options: *const ergon_auxo_options,
    out: *mut *mut ergon_auxo_clusterer,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let o = unsafe { in_ref(options, "options")? };
        let slot = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let cfg = unsafe { config_of(o)? };
        let auxo = Auxo::new(cfg).map_err(argument)?;
        *slot = into_raw(ergon_auxo_clusterer {
            header: Header::new::<ergon_auxo_clusterer>(),
            auxo,
        });
        Ok(())
    })
}

/// The clustering step of cohort `cohort` after one of its rounds: `participants` are the `n`
/// clients that reported and `updates` their update vectors, row-major, `dim` floats each
/// (`n × dim` values: the slice of the update to cluster, e.g. the last layer). With fewer than
/// `min_reporters` participants nothing happens (`out->ran` is false). On a split, give cohort
/// `out->split_child` a copy of cohort `out->split_parent`'s model.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (no participants, `dim` 0,
/// `n × dim` too large, a NaN or infinite value (the message names the client and index), a
/// client listed twice), `OUT_OF_RANGE` (an unknown cohort or client id) or `PANIC`. Nothing
/// changes on an error.
///
/// # Safety
/// `clusterer` NULL or a live handle; `participants` NULL or readable for `n` values;
/// `updates` NULL or readable for `n × dim` floats; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_step(
    clusterer: *mut ergon_auxo_clusterer,
    cohort: u32,
    participants: *const u32,
    n: usize,
    updates: *const f32,
    dim: usize,
    out: *mut ergon_auxo_step_result,
) -> ergon_status {
    boundary!(clusterer, |h| {
        let slot = out_ref(out, "out")?;
        if n == 0 {
            return Err(argument(AuxoError::NoParticipants {
                cohort: cohort as usize,
            }));
        }
        if dim == 0 {
            return Err(argument(AuxoError::ZeroDimension));
        }
        let values = n.checked_mul(dim).ok_or_else(|| {
            invalid_argument(format!("n × dim = {n} × {dim} overflows the address space"))
        })?;
        // SAFETY: the caller's contract.
        let ids = unsafe { slice(participants, n, "participants")? };
        // SAFETY: the caller's contract.
        let rows = unsafe { slice(updates, values, "updates")? };
        let o = h
            .auxo
            .step(cohort as usize, ids, rows, dim)
            .map_err(argument)?;
        let mut r = ergon_auxo_step_result {
            ran: o.ran,
            rewarded: o.rewarded,
            num_cohorts: h.auxo.cohorts() as u32,
            ..Default::default()
        };
        if let Some(s) = o.split {
            r.split = true;
            r.split_parent = s.parent as u32;
            r.split_child = s.child as u32;
        }
        if let Some(m) = o.merged {
            r.merged = true;
            r.merged_cohort = m as u32;
        }
        *slot = r;
        Ok(())
    })
}

/// Writes to `*out` the cohort client `client` trains in next (the ε-greedy mapping).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (an unknown client id) or `PANIC`.
///
/// # Safety
/// `clusterer` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_cohort_of(
    clusterer: *const ergon_auxo_clusterer,
    client: u32,
    out: *mut u32,
) -> ergon_status {
    boundary!(clusterer, |h| {
        let m = h.auxo.cohort_of(client).map_err(argument)?;
        put(out, "out", m as u32)
    })
}

/// Writes to `*out` client `client`'s cohort of highest affinity (no exploration: the cohort
/// whose model should serve it).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (an unknown client id) or `PANIC`.
///
/// # Safety
/// `clusterer` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_best_cohort(
    clusterer: *const ergon_auxo_clusterer,
    client: u32,
    out: *mut u32,
) -> ergon_status {
    boundary!(clusterer, |h| {
        let m = h.auxo.best_cohort(client).map_err(argument)?;
        put(out, "out", m as u32)
    })
}

/// Writes the number of cohorts to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `clusterer` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_num_cohorts(
    clusterer: *const ergon_auxo_clusterer,
    out: *mut u32,
) -> ergon_status {
    boundary!(clusterer, |h| put(out, "out", h.auxo.cohorts() as u32))
}

/// Writes to `*out` how many clients cohort `cohort` has (clients mapped to it).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (an unknown cohort) or `PANIC`.
///
/// # Safety
/// `clusterer` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_members(
    clusterer: *const ergon_auxo_clusterer,
    cohort: u32,
    out: *mut u64,
) -> ergon_status {
    boundary!(clusterer, |h| {
        let m = h.auxo.members(cohort as usize).map_err(argument)?;
        put(out, "out", m as u64)
    })
}

/// Copies every client's cohort (index = client id) into `buf` ("ask the length, then fill":
/// `*len` receives the number of clients; a NULL `buf` with `cap` 0 only asks).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `clusterer` NULL or a live handle; `buf` NULL or writable for `cap` values; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_assignment(
    clusterer: *const ergon_auxo_clusterer,
    buf: *mut u32,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(clusterer, |h| copy_items(
        h.auxo.assignment(),
        buf,
        cap,
        len
    ))
}

/// Releases a clusterer handle. NULL is a no-op.
///
/// # Safety
/// `clusterer` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_free(clusterer: *mut ergon_auxo_clusterer) {
    boundary!(free, clusterer)
}

/// Copies the message of the last failed call on this clusterer (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `clusterer` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_auxo_clusterer_last_error(
    clusterer: *const ergon_auxo_clusterer,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, clusterer, buf, cap, len)
}
