//! The machinery every exported function shares: the panic boundary, error messages, handle
//! and pointer checks, and caller-buffer copies.

use std::cell::RefCell;
use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use crate::ergon_status;

/// A failed call: its status and a message for the user.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: ergon_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: ergon_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_thread_error(message: &str) {
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            e.clear();
            e.push_str(message);
        }
    });
}

/// Name of an exported function that must panic, for the test of the panic boundary
/// (`ERGON_FFI_TEST_PANIC=ergon_perseus_frontier_solve`); read once.
fn test_panic(name: &str) -> bool {
    static HOOK: OnceLock<Option<String>> = OnceLock::new();
    HOOK.get_or_init(|| std::env::var("ERGON_FFI_TEST_PANIC").ok())
        .as_deref()
        == Some(name)
}

/// Runs an exported body: catches panics, records the message of a failure per thread (and per
/// handle through `on_error`) and turns the outcome into a status.
pub(crate) fn guard(
    name: &str,
    on_error: impl FnOnce(&str),
    body: impl FnOnce() -> Result<()>,
) -> ergon_status {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if test_panic(name) {
            panic!("panic requested through ERGON_FFI_TEST_PANIC");
        }
        body()
    }));
    let failure = match outcome {
        Ok(Ok(())) => return ergon_status::Ok,
        Ok(Err(f)) => f,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Failure::new(
                ergon_status::Panic,
                format!("internal error in {name}: {what}; please report it"),
            )
        }
    };
    let message = format!("{name}: {}", failure.message);
    set_thread_error(&message);
    // A panicking `on_error` must not escape either.
    let _ = catch_unwind(AssertUnwindSafe(|| on_error(&message)));
    failure.status
}

/// What every opaque handle starts with: a type tag and the last error message.
#[repr(C)] // the tag at offset 0
pub(crate) struct Header {
    tag: u64,
    last_error: RefCell<String>,
}

impl Header {
    pub fn new<T: Opaque>() -> Self {
        Header {
            tag: T::TAG,
            last_error: RefCell::new(String::new()),
        }
    }

    pub fn record(&self, message: &str) {
        if let Ok(mut e) = self.last_error.try_borrow_mut() {
            e.clear();
            e.push_str(message);
        }
    }

    pub fn message(&self) -> String {
        self.last_error
            .try_borrow()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

/// An opaque handle type.
pub(crate) trait Opaque: Sized {
    /// Tag that tells handle types apart (and catches some stale or foreign pointers).
    const TAG: u64;
    /// Name in messages.
    const NAME: &'static str;
    fn header(&self) -> &Header;
    fn header_mut(&mut self) -> &mut Header;
}

/// Implements [`Opaque`] for a handle struct whose first field is `header: Header`:
/// `opaque!(ergon_perseus_plan, 0x4552_474f_4e50_4c4e /* "ERGONPLN" */, "plan");`
macro_rules! opaque {
    ($ty:ty, $tag:expr, $name:expr) => {
        impl $crate::handle::Opaque for $ty {
            const TAG: u64 = $tag;
            const NAME: &'static str = $name;
            fn header(&self) -> &$crate::handle::Header {
                &self.header
            }
            fn header_mut(&mut self) -> &mut $crate::handle::Header {
                &mut self.header
            }
        }
    };
}
pub(crate) use opaque;

/// Checks a handle pointer: not NULL, aligned, and carrying the type's tag.
///
/// # Safety
/// `ptr` must be NULL or point to a live handle made by this library.
pub(crate) unsafe fn handle<'a, T: Opaque>(ptr: *const T) -> Result<&'a T> {
    let what = T::NAME;
    if ptr.is_null() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("the {what} handle is NULL"),
        ));
    }
    if !ptr.is_aligned() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("the {what} handle is misaligned"),
        ));
    }
    // SAFETY: non-null and aligned; the caller promises a live handle of this library. Every
    // handle type is repr(C) and starts with its repr(C) header, whose first field is the tag,
    // so reading a u64 at offset 0 is in bounds for any of them; no `&T` exists yet.
    let tag = unsafe { ptr.cast::<u64>().read() };
    if tag != T::TAG {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("the pointer is not a live {what} handle"),
        ));
    }
    // SAFETY: the tag says it is a T.
    Ok(unsafe { &*ptr })
}

/// Like [`handle`], mutable.
///
/// # Safety
/// As [`handle`], and no other reference to the handle may be live.
pub(crate) unsafe fn handle_mut<'a, T: Opaque>(ptr: *mut T) -> Result<&'a mut T> {
    // SAFETY: forwarded contract.
    unsafe { handle(ptr)? };
    // SAFETY: checked above; exclusivity is the caller's contract.
    Ok(unsafe { &mut *ptr })
}

/// Moves a value into a new handle.
pub(crate) fn into_raw<T: Opaque>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle made by [`into_raw`]; NULL and foreign pointers are ignored.
///
/// # Safety
/// `ptr` must be NULL or a live handle of this library that is not used afterwards.
pub(crate) unsafe fn free<T: Opaque>(ptr: *mut T) {
    // SAFETY: the caller's contract; `handle_mut` checks NULL, alignment and the tag.
    if let Ok(h) = unsafe { handle_mut(ptr) } {
        // Poison the tag so that a use after free is likelier to be caught than to succeed.
        h.header_mut().tag = 0;
        // SAFETY: made by `into_raw` (the tag matched) and not used afterwards.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Runs an exported body on a handle: the panic boundary of [`guard`], with a failure's message
/// also recorded in the handle.
pub(crate) fn with_handle<T: Opaque>(
    name: &str,
    ptr: *const T,
    body: impl FnOnce(&T) -> Result<()>,
) -> ergon_status {
    // SAFETY (both calls): the caller's contract on every exported function.
    let h = unsafe { handle(ptr) }.ok();
    guard(
        name,
        |m| {
            if let Some(h) = h {
                h.header().record(m)
            }
        },
        || body(unsafe { handle(ptr)? }),
    )
}

/// [`with_handle`] for calls that change the handle.
pub(crate) fn with_handle_mut<T: Opaque>(
    name: &str,
    ptr: *mut T,
    body: impl FnOnce(&mut T) -> Result<()>,
) -> ergon_status {
    guard(
        name,
        |m| {
            // SAFETY: the caller's contract; the body's borrow has ended.
            if let Ok(h) = unsafe { handle(ptr) } {
                h.header().record(m)
            }
        },
        // SAFETY: the caller's contract on every exported function.
        || body(unsafe { handle_mut(ptr)? }),
    )
}

/// Copies a handle's last error message ("ask the length, then fill").
pub(crate) fn last_error<T: Opaque>(
    ptr: *const T,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract.
        let h = unsafe { handle(ptr)? };
        copy_text(&h.header().message(), buf, cap, len)
    }));
    match result {
        Ok(Ok(())) => ergon_status::Ok,
        Ok(Err(f)) => f.status,
        Err(_) => ergon_status::Panic,
    }
}

/// Checks an output pointer.
pub(crate) fn out_ref<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("output pointer `{what}` is NULL or misaligned"),
        ));
    }
    // SAFETY: non-null and aligned; the caller provides writable storage for one T.
    Ok(unsafe { &mut *ptr })
}

/// Borrows one input struct.
///
/// # Safety
/// `ptr` must be NULL or point to one readable, initialized `T`.
pub(crate) unsafe fn in_ref<'a, T>(ptr: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: forwarded.
    unsafe { opt_ref(ptr, what) }?.ok_or_else(|| {
        Failure::new(
            ergon_status::NullPointer,
            format!("`{what}` is NULL or misaligned"),
        )
    })
}

/// Borrows one optional input struct: NULL gives `None`.
///
/// # Safety
/// `ptr` must be NULL or point to one readable, initialized `T`.
pub(crate) unsafe fn opt_ref<'a, T>(ptr: *const T, what: &str) -> Result<Option<&'a T>> {
    if ptr.is_null() {
        return Ok(None);
    }
    if !ptr.is_aligned() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("`{what}` is misaligned"),
        ));
    }
    // SAFETY: non-null and aligned; the caller's contract covers the rest.
    Ok(Some(unsafe { &*ptr }))
}

/// Borrows `len` elements at `ptr`; NULL is fine for an empty array.
///
/// # Safety
/// If `len > 0`, `ptr` must point to `len` readable, initialized elements.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("`{what}` is NULL or misaligned but its length is {len}"),
        ));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Failure::new(
            ergon_status::InvalidArgument,
            format!("`{what}` length {len} is impossibly large"),
        ));
    }
    // SAFETY: checked non-null, aligned and within isize; the caller guarantees the elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a UTF-8 string of `len` bytes.
///
/// # Safety
/// As [`slice`] for bytes.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { slice(ptr.cast::<u8>(), len, what)? };
    std::str::from_utf8(bytes)
        .map_err(|e| Failure::new(ergon_status::Parse, format!("`{what}` is not UTF-8: {e}")))
}

/// Ask-the-length-then-fill for text: writes the length without the NUL to `*len_out`; copies
/// the text and a NUL into `buf` if `cap` exceeds it, else fails with `BufferTooSmall`
/// (`cap == 0` with a NULL `buf` is the plain length query and succeeds).
pub(crate) fn copy_text(s: &str, buf: *mut c_char, cap: usize, len_out: *mut usize) -> Result<()> {
    let len = out_ref(len_out, "len")?;
    if cap > 0 && buf.is_null() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            "`buf` is NULL but `cap` is not 0",
        ));
    }
    // The length is the answer to the query, so it is written even when the buffer is short.
    *len = s.len();
    if cap == 0 && buf.is_null() {
        return Ok(());
    }
    if cap <= s.len() {
        return Err(Failure::new(
            ergon_status::BufferTooSmall,
            format!(
                "buffer of {cap} bytes is too small for {} bytes and a NUL",
                s.len()
            ),
        ));
    }
    // SAFETY: buf is non-null with room for cap > s.len() bytes (caller's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
    Ok(())
}

/// Ask-the-length-then-fill for arrays: writes the length to `*len_out` and copies the items
/// if `cap` is large enough (a NULL `buf` with `cap == 0` only asks).
pub(crate) fn copy_items<T: Copy>(
    items: &[T],
    buf: *mut T,
    cap: usize,
    len_out: *mut usize,
) -> Result<()> {
    check_items_buffer(buf, cap)?;
    let len = out_ref(len_out, "len")?;
    // The length is the answer to the query, so it is written even when the buffer is short.
    *len = items.len();
    if cap == 0 && buf.is_null() {
        return Ok(());
    }
    if cap < items.len() {
        return Err(Failure::new(
            ergon_status::BufferTooSmall,
            format!("buffer of {cap} elements is too small for {}", items.len()),
        ));
    }
    // SAFETY: buf is non-null, aligned, with room for cap ≥ items.len() elements.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), buf, items.len()) };
    Ok(())
}

/// Checks a caller's array buffer: NULL only with `cap == 0`, aligned otherwise.
pub(crate) fn check_items_buffer<T>(buf: *mut T, cap: usize) -> Result<()> {
    if cap > 0 && (buf.is_null() || !buf.is_aligned()) {
        return Err(Failure::new(
            ergon_status::NullPointer,
            "`buf` is NULL or misaligned but `cap` is not 0",
        ));
    }
    Ok(())
}

/// The library version, e.g. `"0.1.0"`, as a static NUL-terminated string. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version of the loaded library (`ERGON_ABI_VERSION` of its header), for bindings
/// that load the library at run time. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_abi_version() -> u32 {
    crate::ERGON_ABI_VERSION
}

/// A static NUL-terminated description of a status code (any integer is accepted; unknown
/// codes get "unknown status"). Never fails; the string must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_status_str(status: c_int) -> *const c_char {
    let s: &'static str = match status {
        0 => "ok\0",
        1 => "invalid argument\0",
        2 => "NULL or invalid pointer\0",
        3 => "parse error\0",
        4 => "wrong schema\0",
        5 => "invalid problem\0",
        6 => "not solved\0",
        7 => "invalid state\0",
        8 => "index out of range\0",
        9 => "buffer too small\0",
        10 => "deadline cannot be met\0",
        11 => "numbers too large\0",
        12 => "internal error (panic)\0",
        13 => "NVML unavailable\0",
        14 => "GPU operation failed\0",
        _ => "unknown status\0",
    };
    s.as_ptr().cast()
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
    let result = catch_unwind(AssertUnwindSafe(|| {
        // During thread teardown the message is gone: report it as empty.
        let message = LAST_ERROR
            .try_with(|e| e.borrow().clone())
            .unwrap_or_default();
        copy_text(&message, buf, cap, len)
    }));
    match result {
        Ok(Ok(())) => ergon_status::Ok,
        Ok(Err(f)) => f.status,
        Err(_) => ergon_status::Panic,
    }
}
