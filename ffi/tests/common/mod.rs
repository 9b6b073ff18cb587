//! What the ABI tests share: reading text and arrays out ("ask the length, then fill"), the
//! calling thread's message, a constructor's outcome, and the Perseus fixtures.

#![allow(dead_code)] // each test file uses a part

pub mod naming;

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use ergon::*;

/// Calls `f(buf, cap, len)` first with no buffer to learn the length, then with a buffer of
/// that length plus the NUL, asserting both succeed; returns the text.
pub fn read_text(f: impl Fn(*mut c_char, usize, *mut usize) -> ergon_status) -> String {
    let mut len = 0;
    assert_eq!(f(null_mut(), 0, &mut len), ergon_status::Ok);
    let mut buf = vec![0u8; len + 1];
    assert_eq!(
        f(buf.as_mut_ptr().cast(), buf.len(), &mut len),
        ergon_status::Ok
    );
    CStr::from_bytes_until_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// [`read_text`] for arrays: asks the length, then fills a vector of exactly that length.
pub fn read_items<T: Copy + Default>(
    f: impl Fn(*mut T, usize, *mut usize) -> ergon_status,
) -> Vec<T> {
    let mut len = 0;
    assert_eq!(f(null_mut(), 0, &mut len), ergon_status::Ok);
    let mut items = vec![T::default(); len];
    assert_eq!(f(items.as_mut_ptr(), len, &mut len), ergon_status::Ok);
    assert_eq!(len, items.len());
    items
}

/// The calling thread's last error message (`ergon_last_error`).
pub fn thread_error() -> String {
    read_text(|buf, cap, len| unsafe { ergon_last_error(buf, cap, len) })
}

/// What a constructor gave: the handle, or its status and the thread's message (asserting that
/// the failed call left its output NULL).
pub fn created<T>(status: ergon_status, handle: *mut T) -> Result<*mut T, (ergon_status, String)> {
    if status == ergon_status::Ok {
        assert!(
            !handle.is_null(),
            "a successful constructor wrote no handle"
        );
        Ok(handle)
    } else {
        assert!(handle.is_null(), "a failed constructor wrote its output");
        Err((status, thread_error()))
    }
}

/// A shared Perseus instance document (`../shared/data/perseus/<name>.instance.json`).
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../shared/data/perseus/{name}.instance.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A frontier made from a fixture, not solved.
pub fn frontier(name: &str) -> *mut ergon_perseus_frontier {
    let json = fixture(name);
    let mut f = null_mut();
    let status = unsafe {
        ergon_perseus_frontier_from_instance_json(json.as_ptr().cast(), json.len(), &mut f)
    };
    created(status, f).unwrap()
}

/// A frontier made from a fixture and solved.
pub fn solved(name: &str) -> *mut ergon_perseus_frontier {
    let f = frontier(name);
    assert_eq!(unsafe { ergon_perseus_frontier_solve(f) }, ergon_status::Ok);
    f
}

/// The frontier's last error message.
pub fn frontier_error(f: *const ergon_perseus_frontier) -> String {
    read_text(|buf, cap, len| unsafe { ergon_perseus_frontier_last_error(f, buf, cap, len) })
}

/// One call of a table of calls: the status it must return, a text the calling thread's
/// message must contain after it ("" for any; not read on success), and the call.
pub type Call<'a> = (ergon_status, &'a str, &'a dyn Fn() -> ergon_status);

/// Makes every call in order, asserting its status and, when it failed, the thread's message.
#[track_caller]
pub fn check_calls(calls: &[Call<'_>]) {
    for (i, (status, needle, call)) in calls.iter().enumerate() {
        let got = call();
        let message = if got == ergon_status::Ok {
            String::new()
        } else {
            thread_error()
        };
        assert_eq!(got, *status, "call #{i}: {message}");
        assert!(
            message.contains(needle),
            "call #{i}: {message:?} does not contain {needle:?}"
        );
    }
}

/// Asserts a failed constructor's status and that its message names every needle.
#[track_caller]
pub fn fails<T>(
    got: Result<*mut T, (ergon_status, String)>,
    status: ergon_status,
    needles: &[&str],
) {
    let (s, message) = got.map(|_| ()).expect_err("should fail");
    assert_eq!(s, status, "{message}");
    for n in needles {
        assert!(message.contains(n), "{message:?} does not contain {n:?}");
    }
}

/// The output of a call that writes one value (`f(&mut value)`), asserting it succeeded.
#[track_caller]
pub fn read_value<T: Default>(f: impl FnOnce(*mut T) -> ergon_status) -> T {
    let mut value = T::default();
    let status = f(&mut value);
    assert_eq!(status, ergon_status::Ok, "{}", thread_error());
    value
}

/// One measurement of a profile.
pub fn option(freq_mhz: u32, time_s: f64, energy_j: f64) -> ergon_perseus_option {
    ergon_perseus_option {
        freq_mhz,
        time_s,
        energy_j,
    }
}

/// The forward and the backward profile of stage 0 (borrowing the options).
pub fn stage0_profiles(
    forward: &[ergon_perseus_option],
    backward: &[ergon_perseus_option],
) -> [ergon_perseus_profile; 2] {
    let profile = |kind, options: &[ergon_perseus_option]| ergon_perseus_profile {
        stage: 0,
        kind,
        options: options.as_ptr(),
        num_options: options.len(),
        fit: null(),
    };
    [
        profile(ERGON_PERSEUS_KIND_FORWARD, forward),
        profile(ERGON_PERSEUS_KIND_BACKWARD, backward),
    ]
}

/// A pipeline problem over `profiles` (borrowed): 1F1B on `num_stages` stages and
/// `num_microbatches` microbatches, τ = 1 ms, `p_blocking_w`, the default energy order.
pub fn pipeline_problem(
    profiles: &[ergon_perseus_profile],
    num_stages: u32,
    num_microbatches: u32,
    p_blocking_w: f64,
) -> ergon_perseus_problem {
    ergon_perseus_problem {
        unit_time_s: 0.001,
        p_blocking_w,
        effective_energy: ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER,
        profiles: profiles.as_ptr(),
        num_profiles: profiles.len(),
        pipeline: ergon_perseus_pipeline {
            schedule: ERGON_PERSEUS_SCHEDULE_1F1B,
            num_stages,
            num_microbatches,
            virtual_stages: 0,
        },
        nodes: null(),
        num_nodes: 0,
        edges: null(),
        num_edges: 0,
        num_stages: 0,
    }
}

/// Stage `stage` of a plan: the kinds and the clocks ("ask the length, then fill").
pub fn plan_stage(plan: *const ergon_perseus_plan, stage: usize) -> (Vec<u32>, Vec<u32>) {
    let mut len = 0usize;
    let ask = unsafe { ergon_perseus_plan_stage(plan, stage, null_mut(), null_mut(), 0, &mut len) };
    assert_eq!(ask, ergon_status::Ok, "{}", thread_error());
    let (mut kinds, mut freqs) = (vec![u32::MAX; len], vec![0; len]);
    let (k, f) = (kinds.as_mut_ptr(), freqs.as_mut_ptr());
    let fill = unsafe { ergon_perseus_plan_stage(plan, stage, k, f, len, &mut len) };
    assert_eq!(fill, ergon_status::Ok, "{}", thread_error());
    assert_eq!(len, kinds.len());
    (kinds, freqs)
}

/// `ergon_orloj_batcher_next_batch` with its buffers grouped: `(pointer, capacity)` of the batch
/// and of the dropped ids (NULL with any capacity is allowed here: the call must refuse it),
/// `(batch length, dropped length)` and the expected time (NULL: not asked).
///
/// # Safety
/// As `ergon_orloj_batcher_next_batch`.
pub unsafe fn next_batch(
    b: *mut ergon_orloj_batcher,
    now_s: f64,
    (batch, batch_cap): (*mut u64, usize),
    (dropped, dropped_cap): (*mut u64, usize),
    (batch_len, dropped_len): (*mut usize, *mut usize),
    expected_s: *mut f64,
) -> ergon_status {
    // SAFETY: forwarded contract.
    unsafe {
        ergon_orloj_batcher_next_batch(
            b,
            now_s,
            batch,
            batch_cap,
            batch_len,
            dropped,
            dropped_cap,
            dropped_len,
            expected_s,
        )
    }
}
