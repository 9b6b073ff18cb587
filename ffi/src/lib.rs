//! The C ABI of Ergon (`libergon.so`, `libergon.a`, `include/ergon.h`).
//!
//! The rules of the surface are written down in `docs/abi.md`: names are
//! `ergon_<system>_<object>_<verb>`; handles are opaque and released by `ergon_<...>_free`
//! (NULL is a no-op); every fallible call returns [`ergon_status`] and writes its outputs only
//! on success; messages are kept per handle (`ergon_<...>_last_error`) and per thread
//! ([`ergon_last_error`], for calls that fail before a handle exists); input strings are
//! pointer + length UTF-8; caller-owned buffers follow "ask the length, then fill".
//!
//! Every exported body is one `boundary!` invocation (`ffi/src/boundary.rs`): it names the
//! function, turns a panic into `ERGON_STATUS_PANIC` (silently: nothing reaches the host's
//! stderr) and records the message. The status codes, their text and the mapping from core
//! errors live in `status.rs`. Nothing here solves anything: values are validated, translated
//! and handed to `ergon-core`.

#![allow(non_camel_case_types)] // C names

mod status;

mod auxo;
mod boundary;
mod chase;
mod dpk;
mod gpu;
mod gpu_profiler;
mod handle;
mod names;
mod oobleck;
mod orloj;
mod perseus;
mod zeus;

use std::ffi::{c_char, c_int};

pub use auxo::*;
pub use chase::*;
pub use dpk::*;
pub use gpu::*;
pub use gpu_profiler::*;
pub use oobleck::*;
pub use orloj::*;
pub use perseus::*;
pub use status::ergon_status;
pub use zeus::*;

use boundary::boundary;
use handle::copy_text;

/// Version of the C ABI; raised on every incompatible change (and with it the SONAME,
/// `libergon.so.<ERGON_ABI_VERSION>`).
pub const ERGON_ABI_VERSION: u32 = 2;

/// The library version, e.g. `"0.1.0"`, as a static NUL-terminated string. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_version() -> *const c_char {
    boundary!(
        infallible,
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    )
}

/// The ABI version of the loaded library (`ERGON_ABI_VERSION` of its header), for bindings
/// that load the library at run time. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_abi_version() -> u32 {
    boundary!(infallible, ERGON_ABI_VERSION)
}

/// A static NUL-terminated description of a status code (any integer is accepted; unknown
/// codes get "unknown status"). Never fails; the string must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_status_str(status: c_int) -> *const c_char {
    boundary!(
        infallible,
        ergon_status::from_code(status)
            .map_or(status::UNKNOWN_STATUS, ergon_status::text)
            .as_ptr()
    )
}

/// Copies the message of the last failed call on this thread (empty if none) into `buf`
/// ("ask the length, then fill"; see the header's conventions). Use it when a call failed
/// without a handle to ask, e.g. a constructor.
///
/// Returns `ERGON_STATUS_OK`, `ERGON_STATUS_NULL_POINTER` (NULL `len`, or NULL `buf` with
/// `cap > 0`) or `ERGON_STATUS_BUFFER_TOO_SMALL`; it does not replace the recorded message.
///
/// # Safety
/// `buf` must be NULL or writable for `cap` bytes; `len` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_last_error(
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(quiet, || copy_text(
        &boundary::thread_error(),
        buf,
        cap,
        len
    ))
}
