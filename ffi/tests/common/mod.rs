//! What the ABI tests share: reading text and arrays out ("ask the length, then fill"), the
//! calling thread's message, a constructor's outcome, and the Perseus fixtures.

#![allow(dead_code)] // each test file uses a part

pub mod naming;

use std::ffi::{CStr, c_char};
use std::ptr::null_mut;

use ergon::{
    ergon_last_error, ergon_perseus_frontier, ergon_perseus_frontier_from_instance_json,
    ergon_perseus_frontier_last_error, ergon_perseus_frontier_solve, ergon_status,
};

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
        assert!(!handle.is_null(), "a successful constructor wrote no handle");
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
