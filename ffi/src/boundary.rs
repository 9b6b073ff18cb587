//! The one boundary every exported function goes through ([`boundary!`]).
//!
//! An exported function keeps its C signature in the source (cbindgen reads it without
//! expanding macros) and its body is one `boundary!` invocation, which
//! - names the function itself (from the path of a nested item: no body types its own name);
//! - runs the body inside `catch_unwind`, with a thread-local depth counter raised, so that the
//!   panic hook installed here stays silent and a panic becomes `ERGON_STATUS_PANIC` with its
//!   message and location in the last-error slots instead of text on the host's stderr;
//! - records a failure's message, prefixed with the function's name, for the calling thread
//!   (`ergon_last_error`) and for the handle the call was made on (`ergon_<...>_last_error`);
//! - turns the outcome into an `ergon_status`.
//!
//! Bodies write their outputs last, so that a failure leaves them untouched.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind};
use std::sync::Once;

use crate::handle::{Opaque, handle, handle_mut};
use crate::status::{Failure, Result, ergon_status};

/// The body of an exported function. Forms (each a list of expressions, so that rustfmt
/// formats the bodies):
///
/// - `boundary!(|| body)`: a call without a handle (a constructor, a helper); `body` is a
///   `Result<()>`, and a failure's message goes to the thread's slot.
/// - `boundary!(ptr, |h| body)`: a call on the handle `ptr`, checked (NULL, alignment, type
///   tag) and lent to `body` as `&T` when `ptr` is `*const T`, as `&mut T` when it is
///   `*mut T`; a failure's message also goes to the handle.
/// - `boundary!(free, ptr)`, `boundary!(free, ptr, |h| teardown)`: releases a handle (NULL and
///   foreign pointers are ignored) after running `teardown` on it; a panic is recorded for the
///   thread and goes no further.
/// - `boundary!(last_error, ptr, buf, cap, len)`: copies the handle's last message out; its
///   own failure does not replace that message.
/// - `boundary!(name, CODES, code, buf, cap, len)`: copies the name of `code` in the
///   [`Codes`](crate::names::Codes) table `CODES` out ("ask the length, then fill";
///   `INVALID_ARGUMENT` for an unknown code).
/// - `boundary!(parse, CODES, name, name_len, out)`: writes the code of the value named by the
///   input string `name` to `out` (`INVALID_ARGUMENT` with core's message, which lists the
///   accepted names, for an unknown name).
/// - `boundary!(quiet, || body)`: like `|| body`, but a failure is not recorded (for
///   `ergon_last_error` itself).
/// - `boundary!(infallible, value)`: a function that cannot fail and returns a value, not a
///   status. It has no status to carry a panic, so there is no `catch_unwind`: Rust aborts the
///   process on a panic that would leave an `extern "C"` function, after the default hook has
///   said why.
macro_rules! boundary {
    (infallible, $value:expr) => {
        $value
    };
    (quiet, || $body:expr) => {
        $crate::boundary::guard(
            $crate::boundary::boundary!(@name),
            false,
            || -> $crate::status::Result<()> { $body },
            |_| {},
        )
    };
    (free, $ptr:ident) => {
        $crate::boundary::release($crate::boundary::boundary!(@name), $ptr, |_| {})
    };
    (free, $ptr:ident, |$h:ident| $teardown:expr) => {
        $crate::boundary::release($crate::boundary::boundary!(@name), $ptr, |$h| $teardown)
    };
    (last_error, $ptr:ident, $buf:ident, $cap:ident, $len:ident) => {
        $crate::boundary::boundary!(quiet, || {
            // SAFETY: the exported function's contract: NULL or a live handle.
            let h = unsafe { $crate::handle::handle($ptr)? };
            let message = $crate::handle::Opaque::header(h).message();
            $crate::handle::copy_text(&message, $buf, $cap, $len)
        })
    };
    (name, $codes:expr, $code:ident, $buf:ident, $cap:ident, $len:ident) => {
        $crate::boundary::boundary!(|| {
            let name = $codes.value($code)?.name();
            $crate::handle::copy_text(name, $buf, $cap, $len)
        })
    };
    (parse, $codes:expr, $name:ident, $name_len:ident, $out:ident) => {
        $crate::boundary::boundary!(|| {
            // SAFETY: the exported function's contract: `name` readable for `name_len` bytes.
            let name = unsafe { $crate::handle::text($name, $name_len, "name")? };
            $crate::handle::put_with($out, "out", || $codes.parse(name))
        })
    };
    (|| $body:expr) => {
        $crate::boundary::guard(
            $crate::boundary::boundary!(@name),
            true,
            || -> $crate::status::Result<()> { $body },
            |_| {},
        )
    };
    ($ptr:ident, |$h:ident| $body:expr) => {
        $crate::boundary::on_handle($crate::boundary::boundary!(@name), $ptr, |$h| $body)
    };
    // The exported function's name: the path of an item nested in its body is
    // `crate::module::<function>::here`. Evaluated only when a message needs it.
    (@name) => {{
        fn here() -> &'static str {
            $crate::boundary::function_name(::core::any::type_name_of_val(&here))
        }
        here
    }};
}
pub(crate) use boundary;

/// The exported function's name in the path of the item `here` nested in it.
pub(crate) fn function_name(path: &'static str) -> &'static str {
    let function = path.strip_suffix("::here").unwrap_or(path);
    function.rsplit("::").next().unwrap_or(function)
}

/// How an exported function names itself (see [`boundary!`]).
pub(crate) type Name = fn() -> &'static str;

thread_local! {
    /// The message of the last failed call on this thread (`ergon_last_error`).
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// How many boundaries this thread is inside (they nest when one exported function calls
    /// another); the panic hook is silent while it is positive.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What the panic hook saw of the last panic inside a boundary: message and location.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the thread's last error message (not during thread teardown, when it is gone).
pub(crate) fn set_thread_error(message: &str) {
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            e.clear();
            e.push_str(message);
        }
    });
}

/// The thread's last error message (empty during thread teardown).
pub(crate) fn thread_error() -> String {
    LAST_ERROR
        .try_with(|e| e.try_borrow().map(|e| e.clone()).unwrap_or_default())
        .unwrap_or_default()
}

/// Installs, once per process, a panic hook that keeps panics inside a boundary off stderr
/// (recording their message and location for the boundary instead) and hands every other
/// panic to the hook that was installed before (the host's, or Rust's default).
///
/// A host that installs its own hook later replaces this one; panics in the library are then
/// still turned into `ERGON_STATUS_PANIC`, but the host's hook sees them.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if DEPTH.try_with(Cell::get).unwrap_or(0) > 0 {
                let _ = PANIC.try_with(|p| {
                    if let Ok(mut p) = p.try_borrow_mut() {
                        *p = Some(describe(info));
                    }
                });
            } else {
                previous(info);
            }
        }));
    });
}

/// "MESSAGE at FILE:LINE:COLUMN".
fn describe(info: &PanicHookInfo<'_>) -> String {
    let what = payload_text(info.payload());
    match info.location() {
        Some(l) => format!("{what} at {}:{}:{}", l.file(), l.line(), l.column()),
        None => what,
    }
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Raises the thread's boundary depth for its lifetime.
struct Inside;

impl Inside {
    fn enter() -> Inside {
        install_panic_hook();
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_add(1)));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `body` inside the boundary; a panic becomes a `PANIC` failure with the panic's
/// message and location.
fn run<T>(body: impl FnOnce() -> Result<T>) -> Result<T> {
    let inside = Inside::enter();
    let outcome = catch_unwind(AssertUnwindSafe(body));
    drop(inside);
    outcome.unwrap_or_else(|payload| {
        let what = PANIC
            .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take()))
            .ok()
            .flatten()
            // Another hook replaced ours: the payload still has the message.
            .unwrap_or_else(|| payload_text(payload.as_ref()));
        Err(Failure::new(
            ergon_status::Panic,
            format!("internal error: {what}; please report it"),
        ))
    })
}

/// The boundary of one call: runs `body`, and on failure records `NAME: message` for the
/// thread (if `record`) and through `on_error`, and returns the status.
pub(crate) fn guard(
    name: Name,
    record: bool,
    body: impl FnOnce() -> Result<()>,
    on_error: impl FnOnce(&str),
) -> ergon_status {
    let Err(failure) = run(|| {
        test_panic(name);
        body()
    }) else {
        return ergon_status::Ok;
    };
    if record {
        let message = format!("{}: {}", name(), failure.message);
        set_thread_error(&message);
        // A panicking `on_error` must not escape either.
        let _ = run(|| {
            on_error(&message);
            Ok(())
        });
    }
    failure.status
}

/// A handle pointer of an exported function's signature: `*const T` lends `&T` to the body,
/// `*mut T` lends `&mut T`.
pub(crate) trait HandlePtr<'a>: Copy {
    /// The handle type.
    type Target: Opaque + 'a;
    /// What the body gets.
    type Borrow;
    /// Checks the pointer (NULL, alignment, type tag) and lends the handle.
    ///
    /// # Safety
    /// The pointer must be NULL or a live handle of this library, and for `*mut T` used by no
    /// one else while the borrow lives.
    unsafe fn borrow(self) -> Result<Self::Borrow>;
    /// The pointer, read-only.
    fn as_const(self) -> *const Self::Target;
}

impl<'a, T: Opaque + 'a> HandlePtr<'a> for *const T {
    type Target = T;
    type Borrow = &'a T;
    unsafe fn borrow(self) -> Result<&'a T> {
        // SAFETY: forwarded contract.
        unsafe { handle(self) }
    }
    fn as_const(self) -> *const T {
        self
    }
}

impl<'a, T: Opaque + 'a> HandlePtr<'a> for *mut T {
    type Target = T;
    type Borrow = &'a mut T;
    unsafe fn borrow(self) -> Result<&'a mut T> {
        // SAFETY: forwarded contract.
        unsafe { handle_mut(self) }
    }
    fn as_const(self) -> *const T {
        self
    }
}

/// [`guard`] for a call on a handle: the handle is checked and lent to `body`; a failure's
/// message is also recorded in the handle.
pub(crate) fn on_handle<'a, P: HandlePtr<'a>>(
    name: Name,
    ptr: P,
    body: impl FnOnce(P::Borrow) -> Result<()>,
) -> ergon_status {
    guard(
        name,
        true,
        // SAFETY: the exported function's contract: NULL or a live handle, used by no one
        // else during the call.
        || body(unsafe { ptr.borrow()? }),
        // Runs after the body, when its borrow is gone.
        |m| record_in(ptr.as_const(), m),
    )
}

/// Records `message` in the handle at `ptr`, if it is one.
fn record_in<T: Opaque>(ptr: *const T, message: &str) {
    // SAFETY: the exported function's contract: NULL or a live handle.
    if let Ok(h) = unsafe { handle(ptr) } {
        h.header().record(message);
    }
}

/// Releases the handle at `ptr` after `teardown` (NULL and foreign pointers: nothing).
pub(crate) fn release<T: Opaque>(name: Name, ptr: *mut T, teardown: impl FnOnce(&mut T)) {
    let status = guard(
        name,
        true,
        || {
            // SAFETY: the exported function's contract: NULL, or a handle of this library
            // that is not used afterwards.
            if let Ok(h) = unsafe { handle_mut(ptr) } {
                teardown(h);
                // SAFETY: as above.
                unsafe { crate::handle::free(ptr) };
            }
            Ok(())
        },
        |_| {},
    );
    // There is no status to return: the message stays in the thread's slot.
    let _ = status;
}

/// The test-only panic entry point (cargo feature `test-panic`, which release builds do not
/// enable): the exported function named by `$ERGON_FFI_TEST_PANIC` (read once) panics inside
/// the boundary, so that tests can see a panic become `ERGON_STATUS_PANIC`.
#[cfg(feature = "test-panic")]
fn test_panic(name: Name) {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let wanted = NAME.get_or_init(|| std::env::var("ERGON_FFI_TEST_PANIC").ok());
    if wanted.as_deref() == Some(name()) {
        panic!("panic requested through ERGON_FFI_TEST_PANIC");
    }
}

/// Without the `test-panic` feature nothing is compiled in.
#[cfg(not(feature = "test-panic"))]
#[inline(always)]
fn test_panic(_name: Name) {}
