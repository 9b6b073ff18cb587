//! Reading the library's text outputs ("ask the length, then fill") in the ABI tests.

#![allow(dead_code)] // each test file uses a part

use std::ffi::{CStr, c_char};
use std::ptr::null_mut;

use ergon::{ergon_last_error, ergon_status};

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

/// The calling thread's last error message (`ergon_last_error`).
pub fn thread_error() -> String {
    read_text(|buf, cap, len| unsafe { ergon_last_error(buf, cap, len) })
}
