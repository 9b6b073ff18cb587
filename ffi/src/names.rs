//! The C enumerations (`ERGON_<SYSTEM>_<ENUM>_*` codes) and the core values they stand for,
//! each written once as a [`Codes`] table next to its constants; every conversion either way
//! and the `ergon_<system>_<enum>_name` / `_parse` calls read that table.
//!
//! The names themselves are core's (`Display`/`FromStr` of the core enums): the library is the
//! one place a binding asks for them, so no binding keeps a table of its own.

use ergon_core::names::UnknownName;
use ergon_core::{dpk, orloj, perseus};

use crate::status::{Failure, Result, invalid_argument};

/// A core enum with a name table (see `ergon_core::names`).
pub(crate) trait Named: Copy + 'static {
    /// Every accepted name, in core's order.
    const NAMES: &'static [&'static str];
    /// The value's name.
    fn name(self) -> &'static str;
    /// The value of `name`, or core's error listing the accepted names.
    fn parse(name: &str) -> std::result::Result<Self, UnknownName>;
}

/// [`Named`] of core enums made by `named_enum!` (their `name`, `NAMES` and `FromStr`).
macro_rules! named {
    ($($ty:path),+ $(,)?) => {$(
        impl Named for $ty {
            const NAMES: &'static [&'static str] = &<$ty>::NAMES;
            fn name(self) -> &'static str {
                <$ty>::name(self)
            }
            fn parse(name: &str) -> std::result::Result<Self, UnknownName> {
                name.parse()
            }
        }
    )+};
}

named!(
    dpk::Scheduler,
    dpk::KnapsackMode,
    dpk::DpfCapacity,
    dpk::Conversion,
    orloj::Estimate,
    orloj::PolicyKind,
    perseus::Kind,
    perseus::EffectiveEnergy,
);

/// A schedule without its virtual stages (a pipeline gives those): core names schedules but
/// parses them only with the virtual stages of a `pipeline` section, so the name is looked up
/// in the C table, whose values are every schedule.
impl Named for perseus::Schedule {
    const NAMES: &'static [&'static str] = &perseus::Schedule::NAMES;
    fn name(self) -> &'static str {
        perseus::Schedule::name(self)
    }
    fn parse(name: &str) -> std::result::Result<Self, UnknownName> {
        crate::perseus::SCHEDULES
            .pairs
            .iter()
            .map(|&(_, s)| s)
            .find(|s| s.name() == name)
            .ok_or_else(|| UnknownName::new("schedule", name, <Self as Named>::NAMES))
    }
}

/// Declares a [`Codes`] table: `codes!(/// doc, NAME: Type, "what", [CODE => value, ...])`
/// (a macro so that each table stays as short as its list).
macro_rules! codes {
    ($(#[$doc:meta])* $name:ident: $ty:ty, $what:literal, [$($code:ident => $value:expr),+ $(,)?]) => {
        $(#[$doc])*
        pub(crate) const $name: $crate::names::Codes<$ty> = $crate::names::Codes {
            what: $what,
            pairs: &[$(($code, $value)),+],
        };
    };
}
pub(crate) use codes;

/// A C enumeration: its codes, each with the core value it stands for.
pub(crate) struct Codes<T: 'static> {
    /// What a code names, in messages (`scheduler`, `kind`, ...).
    pub what: &'static str,
    /// `(ERGON_..., value)` for every value of the core enum.
    pub pairs: &'static [(u32, T)],
}

impl<T: Named> Codes<T> {
    /// The value of `code`; `INVALID_ARGUMENT` naming every code for any other.
    pub fn value(&self, code: u32) -> Result<T> {
        self.pairs
            .iter()
            .find(|&&(c, _)| c == code)
            .map(|&(_, v)| v)
            .ok_or_else(|| {
                let codes: Vec<String> = self
                    .pairs
                    .iter()
                    .map(|&(c, v)| format!("{c} {}", v.name()))
                    .collect();
                invalid_argument(format!(
                    "unknown {} {code} (expected one of {})",
                    self.what,
                    codes.join(", ")
                ))
            })
    }

    /// [`value`](Self::value) of a field or argument: `what` starts the message.
    pub fn value_of(&self, code: u32, what: &str) -> Result<T> {
        self.value(code).map_err(|f| Failure {
            message: format!("{what}: {}", f.message),
            ..f
        })
    }

    /// The code of `value`. Every value has one (the tests check each table against core's
    /// names); `u32::MAX`, which every call refuses, would stand for a value without one.
    pub fn code(&self, value: T) -> u32 {
        self.pairs
            .iter()
            .find(|&&(_, v)| v.name() == value.name())
            .map_or(u32::MAX, |&(c, _)| c)
    }

    /// The code of the value named `name`; `INVALID_ARGUMENT` with core's message (which
    /// lists the accepted names) for any other name.
    pub fn parse(&self, name: &str) -> Result<u32> {
        T::parse(name)
            .map(|v| self.code(v))
            .map_err(|e| invalid_argument(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{Codes, Named};

    /// Every name of core's table has exactly one code, and the two ways agree.
    fn check<T: Named>(codes: &Codes<T>) {
        assert_eq!(codes.pairs.len(), T::NAMES.len(), "{}", codes.what);
        for &name in T::NAMES {
            let code = codes.parse(name).unwrap();
            assert_ne!(code, u32::MAX, "{name} has no code");
            assert_eq!(codes.value(code).unwrap().name(), name);
        }
        let unknown = codes.parse("no such name").unwrap_err().message;
        assert!(unknown.contains("\"no such name\""), "{unknown}");
    }

    #[test]
    fn every_value_has_one_code() {
        check(&crate::dpk::SCHEDULERS);
        check(&crate::dpk::KNAPSACKS);
        check(&crate::dpk::DPF_CAPACITIES);
        check(&crate::dpk::CONVERSIONS);
        check(&crate::orloj::POLICIES);
        check(&crate::orloj::ESTIMATES);
        check(&crate::perseus::SCHEDULES);
        check(&crate::perseus::KINDS);
        check(&crate::perseus::EFFECTIVE_ENERGIES);
    }
}
