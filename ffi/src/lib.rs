//! The C ABI of Ergon (`libergon.so`, `libergon.a`, `include/ergon.h`).
//!
//! Conventions (ARCHITECTURE.md): every exported name starts with `ergon_`; handles are opaque
//! and released by `ergon_<noun>_free` (NULL is a no-op); every fallible call returns
//! [`ergon_status`] and writes its outputs only on success; messages are kept per handle
//! (`ergon_<noun>_last_error`) and per thread ([`ergon_last_error`], for calls that fail before a
//! handle exists); every exported body runs inside `catch_unwind`, so a bug becomes
//! `ERGON_STATUS_PANIC` instead of unwinding into C. Caller-owned buffers follow "ask the
//! length, then fill". Pointers are checked for NULL and alignment, handles for their type tag.
//! Nothing here solves anything: values are validated, translated and handed to `ergon-core`.

#![allow(non_camel_case_types)] // C names

mod dpk;
mod gpu;
mod handle;
mod orloj;
mod perseus;

pub use dpk::*;
pub use gpu::*;
pub use handle::{ergon_abi_version, ergon_last_error, ergon_status_str, ergon_version};
pub use orloj::*;
pub use perseus::*;

/// Version of the C ABI; raised on every incompatible change.
pub const ERGON_ABI_VERSION: u32 = 2;

/// Result of every fallible call. Codes are never reused.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ergon_status {
    /// Success.
    Ok = 0,
    /// An argument of the call itself is out of its domain (an unknown constant, a NaN
    /// deadline...); values inside a problem description are `INVALID_PROBLEM`.
    InvalidArgument = 1,
    /// A required pointer is NULL or misaligned, or a handle is not of the expected type.
    NullPointer = 2,
    /// A document could not be parsed (JSON syntax, CSV shape, not UTF-8).
    Parse = 3,
    /// A document names another schema.
    Schema = 4,
    /// The problem is invalid (a profile, row, node or edge is wrong; see the message).
    InvalidProblem = 5,
    /// The call needs a solved frontier and the frontier is not solved yet.
    NotSolved = 6,
    /// The call is not valid in the handle's state (e.g. solving twice).
    InvalidState = 7,
    /// An index is beyond the end.
    OutOfRange = 8,
    /// A caller buffer is too small; the needed length was written.
    BufferTooSmall = 9,
    /// No plan meets the deadline.
    Deadline = 10,
    /// The numbers are too large for the solver's fixed-point arithmetic.
    Overflow = 11,
    /// An internal error (a bug); the handle should be freed.
    Panic = 12,
    /// The NVML library could not be loaded (no NVIDIA driver, or `$ERGON_NVML_LIBRARY` is
    /// wrong); the message names every path tried.
    NvmlUnavailable = 13,
    /// A GPU operation failed: an NVML call (no permission, not supported, GPU lost...), the GPU
    /// state file, or a setting that could not be restored; see the message.
    Gpu = 14,
}
