//! Chase through the C ABI: the carbon-intensity forecaster (`ergon_chase_forecaster_*`) a
//! carbon-aware controller embeds: train it on the intensities before a start slot, then ask
//! for each later slot's forecast from the slot before it (docs/chase.md).

use std::ffi::c_char;

use ergon_core::chase::{CarbonForecaster, ChaseError, ForecastMethod};

use crate::boundary::boundary;
use crate::handle::{Header, into_raw, opaque, out_ref, put, slice, text};
use crate::status::{Failure, ergon_status, invalid_argument};

/// A trained carbon-intensity forecaster. Made by `ergon_chase_forecaster_train`, released by
/// `ergon_chase_forecaster_free`.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_chase_forecaster {
    header: Header,
    forecaster: CarbonForecaster,
}

opaque!(ergon_chase_forecaster, 0x4552_474f_4e43_4853, "forecaster"); // "ERGONCHS"

impl From<ChaseError> for Failure {
    fn from(e: ChaseError) -> Self {
        // Every Chase error is about an argument of the call (a window, an intensity).
        invalid_argument(e.to_string())
    }
}

/// Trains a forecaster on `hist_g_per_kwh` (`len` intensities in gCO2/kWh, one per slot, in
/// order): the `history` slots before slot `start` (only those are read), with time-of-day
/// period `slots_per_day` (48 for 30-minute slots). `method` (`method_len` bytes of UTF-8) is
/// `ergon` (½ persistence + ½ the LS-SVM; the default of `ergon chase forecast`),
/// `persistence` or `svr-like`. On success `*out` receives a handle to release with
/// `ergon_chase_forecaster_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (a method that is not UTF-8),
/// `INVALID_ARGUMENT` (an unknown method, listing the accepted names; `history` under 2, over
/// 1024, not shorter than `len` or longer than `start`; `start` ≥ `len`; an intensity before
/// `start` outside 0..=1e5) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `hist_g_per_kwh` NULL or readable for `len` doubles; `method` NULL or readable for
/// `method_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the C signature
pub unsafe extern "C" fn ergon_chase_forecaster_train(
    hist_g_per_kwh: *const f64,
    len: usize,
    history: usize,
    start: usize,
    slots_per_day: usize,
    method: *const c_char,
    method_len: usize,
    out: *mut *mut ergon_chase_forecaster,
) -> ergon_status {
    boundary!(|| {
        let slot = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let hist = unsafe { slice(hist_g_per_kwh, len, "hist_g_per_kwh")? };
        // SAFETY: the caller's contract.
        let name = unsafe { text(method, method_len, "method")? };
        let method: ForecastMethod = name.parse().map_err(|e| invalid_argument(format!("{e}")))?;
        if slots_per_day == 0 {
            return Err(invalid_argument("slots_per_day must be at least 1"));
        }
        let forecaster = CarbonForecaster::train(hist, history, start, slots_per_day, method)?;
        *slot = into_raw(ergon_chase_forecaster {
            header: Header::new::<ergon_chase_forecaster>(),
            forecaster,
        });
        Ok(())
    })
}

/// Writes to `*out_g_per_kwh` the forecast for slot `slot` (the same slot numbering as the
/// training series) given the actual intensity of slot `slot − 1`, `prev_g_per_kwh`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (`prev_g_per_kwh` outside
/// 0..=1e5 or NaN) or `PANIC`.
///
/// # Safety
/// `forecaster` NULL or a live handle; `out_g_per_kwh` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_chase_forecaster_predict(
    forecaster: *const ergon_chase_forecaster,
    slot: usize,
    prev_g_per_kwh: f64,
    out_g_per_kwh: *mut f64,
) -> ergon_status {
    boundary!(forecaster, |h| {
        if !(0.0..=ergon_core::chase::MAX_INTENSITY_G_PER_KWH).contains(&prev_g_per_kwh) {
            return Err(invalid_argument(format!(
                "prev_g_per_kwh = {prev_g_per_kwh}: need a number in 0..=1e5 gCO2/kWh"
            )));
        }
        put(
            out_g_per_kwh,
            "out_g_per_kwh",
            h.forecaster.predict(slot, prev_g_per_kwh),
        )
    })
}

/// Releases a forecaster handle. NULL is a no-op.
///
/// # Safety
/// `forecaster` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_chase_forecaster_free(forecaster: *mut ergon_chase_forecaster) {
    boundary!(free, forecaster)
}

/// Copies the message of the last failed call on this forecaster (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `forecaster` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_chase_forecaster_last_error(
    forecaster: *const ergon_chase_forecaster,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, forecaster, buf, cap, len)
}
