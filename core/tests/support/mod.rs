//! Helpers shared by core's integration tests. Every file under `tests/` is its own crate that
//! compiles this module with `mod support;` and uses only a part of it, hence `dead_code`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod perseus;
pub mod xorshift;

use std::fmt::Display;

/// Asserts that the message of `error` contains every needle (the messages are the interface a
/// user reads, so tests pin the facts they must name, not their whole wording).
#[track_caller]
pub fn assert_mentions(error: &impl Display, needles: &[&str]) {
    assert_row_mentions("", error, needles);
}

/// [`assert_mentions`] for one row of a table; a failure names the `row`.
#[track_caller]
pub fn assert_row_mentions(row: &str, error: &impl Display, needles: &[&str]) {
    let message = error.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "{row}: message {message:?} does not mention {needle:?}"
        );
    }
}

/// The message of the error `result` must be; panics, showing `input`, when it was accepted.
#[track_caller]
pub fn refusal<T, E: Display>(result: Result<T, E>, input: &str) -> String {
    match result {
        Ok(_) => panic!("accepted:\n{input}"),
        Err(error) => error.to_string(),
    }
}
