//! What every exported function checks and copies: opaque handles (a type tag and the last
//! error message first), input pointers, slices and strings, output pointers, and caller
//! buffers ("ask the length, then fill").
//!
//! Every input string of the ABI is (`const char *ptr`, `size_t len`) UTF-8, not
//! NUL-terminated ([`text`], [`opt_text`]); every output string is copied into a caller buffer
//! with a NUL after it ([`copy_text`]).

use std::cell::RefCell;
use std::ffi::c_char;

use crate::status::{Failure, Result, ergon_status, invalid_argument};

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

/// Checks an output pointer.
pub(crate) fn out_ref<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    opt_out(ptr, what)?.ok_or_else(|| {
        Failure::new(
            ergon_status::NullPointer,
            format!("output pointer `{what}` is NULL or misaligned"),
        )
    })
}

/// Checks an optional output pointer: NULL gives `None` (the caller does not want it).
pub(crate) fn opt_out<'a, T>(ptr: *mut T, what: &str) -> Result<Option<&'a mut T>> {
    if ptr.is_null() {
        return Ok(None);
    }
    if !ptr.is_aligned() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("output pointer `{what}` is misaligned"),
        ));
    }
    // SAFETY: non-null and aligned; the caller provides writable storage for one T.
    Ok(Some(unsafe { &mut *ptr }))
}

/// Writes one output: `value` is computed before the pointer is checked and written, so the
/// output changes only when the call succeeds.
pub(crate) fn put<T>(ptr: *mut T, what: &str, value: T) -> Result<()> {
    *out_ref(ptr, what)? = value;
    Ok(())
}

/// Writes one output computed by `value` once the pointer is checked, so that a NULL output
/// fails before any work and the output changes only when the call succeeds.
pub(crate) fn put_with<T>(
    ptr: *mut T,
    what: &str,
    value: impl FnOnce() -> Result<T>,
) -> Result<()> {
    let slot = out_ref(ptr, what)?;
    *slot = value()?;
    Ok(())
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
        return Err(invalid_argument(format!(
            "`{what}` length {len} is impossibly large"
        )));
    }
    // SAFETY: checked non-null, aligned and within isize; the caller guarantees the elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows an optional array: NULL gives `None` (whatever `len` is).
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn opt_slice<'a, T>(
    ptr: *const T,
    len: usize,
    what: &str,
) -> Result<Option<&'a [T]>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { slice(ptr, len, what) }.map(Some)
}

/// Borrows a required input string: `len` bytes of UTF-8 at `ptr`, no NUL needed. NULL is
/// `NULL_POINTER` even with `len` 0; bytes that are not UTF-8 are `PARSE`.
///
/// # Safety
/// `ptr` must be NULL or readable for `len` bytes.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("`{what}` is NULL"),
        ));
    }
    // SAFETY: forwarded contract.
    let bytes = unsafe { slice(ptr.cast::<u8>(), len, what)? };
    std::str::from_utf8(bytes)
        .map_err(|e| Failure::new(ergon_status::Parse, format!("`{what}` is not UTF-8: {e}")))
}

/// Borrows an optional input string: a length of 0 (with any pointer, NULL included) gives
/// `None`; otherwise as [`text`].
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn opt_text<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<Option<&'a str>> {
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { text(ptr, len, what) }.map(Some)
}

/// Ask-the-length-then-fill for text: writes the length without the NUL to `*len_out`; copies
/// the text and a NUL into `buf` if `cap` exceeds it, else fails with `BufferTooSmall`
/// (`cap == 0` with a NULL `buf` is the plain length query and succeeds).
pub(crate) fn copy_text(s: &str, buf: *mut c_char, cap: usize, len_out: *mut usize) -> Result<()> {
    let len = out_ref(len_out, "len")?;
    check_buffer(buf, cap, "buf", "cap")?;
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
    check_buffer(buf, cap, "buf", "cap")?;
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

/// Checks a caller's buffer `buf` of capacity `cap` (named so in messages): NULL only with a
/// capacity of 0, aligned otherwise.
pub(crate) fn check_buffer<T>(
    buf: *mut T,
    cap: usize,
    buf_name: &str,
    cap_name: &str,
) -> Result<()> {
    if cap > 0 && (buf.is_null() || !buf.is_aligned()) {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("`{buf_name}` is NULL or misaligned but `{cap_name}` is not 0"),
        ));
    }
    Ok(())
}
