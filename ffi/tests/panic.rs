//! The panic boundary: a panic inside an exported function becomes `ERGON_STATUS_PANIC` with
//! its message and location in both last-error slots, and nothing reaches the host's stderr;
//! a panic of the host outside the library still reaches the host's hook.
//!
//! The panic is the test-only entry point (`ERGON_FFI_TEST_PANIC`, cargo feature
//! `test-panic`, which the library's tests enable). Stderr is a process-wide file, so the
//! calls run in a child process (this test binary again, selected by `ERGON_PANIC_CHILD`) whose
//! stderr the parent reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::ptr::null_mut;

use common::{fixture, read_text, thread_error};
use ergon::*;

mod common;

const CHILD: &str = "ERGON_PANIC_CHILD";
const HOST_PANIC: &str = "the host's own panic, outside the library";

/// The child's part: panicking calls, their messages on stdout, then a panic of the host.
fn child() {
    // libtest has written "test NAME ... " without a newline: start the lines after it.
    println!();
    let json = fixture("a100_s2_m4");
    let mut f = null_mut();
    // SAFETY: a document of `len` bytes and a local output.
    let status = unsafe {
        ergon_perseus_frontier_from_instance_json(json.as_ptr().cast(), json.len(), &mut f)
    };
    assert_eq!(status, ergon_status::Ok);
    for _ in 0..2 {
        // SAFETY: a live handle.
        let status = unsafe { ergon_perseus_frontier_solve(f) };
        let handle_message = read_text(|buf, cap, len| unsafe {
            ergon_perseus_frontier_last_error(f, buf, cap, len)
        });
        println!("status {status:?}");
        println!("handle {handle_message}");
        println!("thread {}", thread_error());
    }
    // SAFETY: a live handle, not used afterwards.
    unsafe { ergon_perseus_frontier_free(f) };
    // The hook delegates panics outside the library to the one installed before (Rust's).
    let outside = std::panic::catch_unwind(|| panic!("{HOST_PANIC}"));
    println!("host panic caught: {}", outside.is_err());
}

#[test]
fn a_panic_is_a_status_with_its_message_and_prints_nothing() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panic_is_a_status_with_its_message_and_prints_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("ERGON_FFI_TEST_PANIC", "ergon_perseus_frontier_solve")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let value = |prefix: &str| -> Vec<&str> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(prefix))
            .collect()
    };
    // Twice: the boundary is not worn out by the first panic.
    assert_eq!(value("status "), ["Panic", "Panic"], "{stdout}");
    for (handle, thread) in value("handle ").into_iter().zip(value("thread ")) {
        assert_eq!(handle, thread, "{stdout}");
        assert!(
            handle.starts_with("ergon_perseus_frontier_solve: internal error: ")
                && handle.contains("panic requested through ERGON_FFI_TEST_PANIC")
                && handle.contains("ffi/src/boundary.rs:")
                && handle.ends_with("; please report it"),
            "the message names the function, the panic and its location: {handle}"
        );
    }
    assert_eq!(value("host panic caught: "), ["true"], "{stdout}");
    // Only the host's own panic reached stderr, through the hook installed before ours.
    let panic_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("panicked")).collect();
    assert_eq!(panic_lines.len(), 1, "stderr:\n{stderr}");
    assert!(stderr.contains(HOST_PANIC), "stderr:\n{stderr}");
    assert!(
        !stderr.contains("ERGON_FFI_TEST_PANIC"),
        "stderr:\n{stderr}"
    );
}
