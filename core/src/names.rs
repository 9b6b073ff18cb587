//! The names of core's enum values, as files, the command line and every binding spell them
//! (`dpk`, `tight`, `clockwork-p99`, `1f1b`, …), and the one error for a name that is none of
//! them.
//!
//! Each named enum has one table, written once where the enum is defined: a constant `ALL`
//! (every value) with `NAMES` (their names, in the same order), a `const fn name`, and the
//! [`Display`](core::fmt::Display) and [`FromStr`](core::str::FromStr) implementations that
//! both read it. Parsing fails with an [`UnknownName`] that lists the accepted names from the
//! same table, so a message can never name a value the parser refuses or miss one it accepts.

use alloc::string::String;
use core::fmt;

/// A name that no value of an enum has.
///
/// Its message names the bad value and lists the accepted ones:
/// `unknown scheduler "greedy" (expected dpk, dpf, fcfs, area or optimal)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} \"{name}\" (expected {})", Expected { accepted, note: *note })]
pub struct UnknownName {
    /// What the name was for (`scheduler`, `policy`, `conversion`, …).
    pub what: &'static str,
    /// The name that was given.
    pub name: String,
    /// Every accepted name, in the enum's order.
    pub accepted: &'static [&'static str],
    /// What else is accepted beyond the list (the policies' estimate suffixes), if anything.
    pub note: Option<&'static str>,
}

impl UnknownName {
    /// `name` is not one of `accepted`, the names of a `what`.
    pub fn new(what: &'static str, name: &str, accepted: &'static [&'static str]) -> Self {
        UnknownName {
            what,
            name: name.into(),
            accepted,
            note: None,
        }
    }
}

/// `a, b or c`, then `, <note>`.
struct Expected<'a> {
    accepted: &'a [&'a str],
    note: Option<&'a str>,
}

impl fmt::Display for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.accepted.len();
        for (i, name) in self.accepted.iter().enumerate() {
            let sep = match i {
                0 => "",
                i if i + 1 == n => " or ",
                _ => ", ",
            };
            write!(f, "{sep}{name}")?;
        }
        if let Some(note) = self.note {
            write!(f, ", {note}")?;
        }
        Ok(())
    }
}

/// Gives a fieldless enum its one name table: `ALL`, `NAMES`, `name()`, `Display` and
/// `FromStr` (with [`UnknownName`] naming `$what`), from one list of `Variant => "name"`.
macro_rules! named_enum {
    ($ty:ident, $what:literal { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in a fixed order (the order of
            /// [`NAMES`](Self::NAMES)).
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The name of each value of [`ALL`](Self::ALL), as files, the command line and
            /// every binding spell it.
            pub const NAMES: [&'static str; [$($name),+].len()] = [$($name),+];

            /// The value's name (see [`NAMES`](Self::NAMES)); [`Display`](core::fmt::Display)
            /// writes it and [`FromStr`](core::str::FromStr) reads it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl core::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            /// The value of that name, or an error listing [`NAMES`](Self::NAMES).
            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.name() == name)
                    .ok_or_else(|| $crate::names::UnknownName::new($what, name, &Self::NAMES))
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use alloc::string::ToString;

    use super::UnknownName;

    #[test]
    fn the_message_lists_every_accepted_name() {
        let cases: [(&'static [&'static str], Option<&'static str>, &str); 4] = [
            (&["a"], None, "unknown thing \"x\" (expected a)"),
            (&["a", "b"], None, "unknown thing \"x\" (expected a or b)"),
            (
                &["a", "b", "c"],
                None,
                "unknown thing \"x\" (expected a, b or c)",
            ),
            (
                &["a", "b"],
                Some("or more"),
                "unknown thing \"x\" (expected a or b, or more)",
            ),
        ];
        for (accepted, note, message) in cases {
            let e = UnknownName {
                note,
                ..UnknownName::new("thing", "x", accepted)
            };
            assert_eq!(e.to_string(), message);
        }
    }
}
