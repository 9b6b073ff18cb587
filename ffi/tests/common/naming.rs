//! The naming rule of the C ABI (docs/abi.md), as the header and symbol tests check it:
//!
//! - functions are `ergon_<system>_<object>_<verb>` (two or more lowercase parts after the
//!   system), types `ergon_<system>_<object>` (one or more);
//! - constants and macros are `ERGON_<SYSTEM>_<...>` (one or more uppercase parts after it);
//! - `<system>` is one of [`SYSTEMS`];
//! - the globals of [`GLOBALS`] and the status codes `ERGON_STATUS_*` are the only exceptions.

/// The systems (and the `gpu` layer) a name may start with.
pub const SYSTEMS: [&str; 8] = [
    "perseus", "zeus", "chase", "dpk", "orloj", "oobleck", "auxo", "gpu",
];

/// The only names outside the rule: the global calls, the status type and its codes, the ABI
/// version and the include guard.
pub const GLOBALS: [&str; 7] = [
    "ergon_version",
    "ergon_abi_version",
    "ergon_status_str",
    "ergon_last_error",
    "ergon_status",
    "ERGON_ABI_VERSION",
    "ERGON_H",
];

/// The prefix of the status codes (enumerators of `ergon_status`).
pub const STATUS_PREFIX: &str = "ERGON_STATUS_";

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Function,
    Type,
    Constant,
}

/// Checks `name` against the rule; the error says what is wrong with it.
pub fn check(kind: Kind, name: &str) -> Result<(), String> {
    if GLOBALS.contains(&name) {
        return Ok(());
    }
    if kind == Kind::Constant && is_status_code(name) {
        return Ok(());
    }
    let (prefix, min_parts, lower) = match kind {
        Kind::Function => ("ergon_", 2, true),
        Kind::Type => ("ergon_", 1, true),
        Kind::Constant => ("ERGON_", 1, false),
    };
    let shape = match kind {
        Kind::Function => "ergon_<system>_<object>_<verb>",
        Kind::Type => "ergon_<system>_<object>",
        Kind::Constant => "ERGON_<SYSTEM>_<NAME>",
    };
    let fail = |why: &str| Err(format!("{kind:?} `{name}` {why}; the rule is {shape}"));
    let Some(rest) = name.strip_prefix(prefix) else {
        return fail(&format!("does not start with `{prefix}`"));
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let system = parts[0].to_ascii_lowercase();
    if !SYSTEMS.contains(&system.as_str()) || parts[0] != cased(&system, lower) {
        return fail(&format!(
            "names no system (`{}` is not one of {SYSTEMS:?})",
            parts[0]
        ));
    }
    let well_formed = |p: &&str| {
        !p.is_empty()
            && p.chars().all(|c| {
                c.is_ascii_digit()
                    || if lower {
                        c.is_ascii_lowercase()
                    } else {
                        c.is_ascii_uppercase()
                    }
            })
    };
    if parts.len() - 1 < min_parts || !parts[1..].iter().all(well_formed) {
        return fail("has too few or malformed parts after the system");
    }
    Ok(())
}

fn is_status_code(name: &str) -> bool {
    name.strip_prefix(STATUS_PREFIX).is_some_and(|code| {
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

fn cased(s: &str, lower: bool) -> String {
    if lower {
        s.to_ascii_lowercase()
    } else {
        s.to_ascii_uppercase()
    }
}

/// Every name the header declares, by kind.
#[derive(Debug, Default)]
pub struct HeaderNames {
    pub functions: Vec<String>,
    pub types: Vec<String>,
    pub constants: Vec<String>,
    /// `(name, value)` of the enumerators of `enum ergon_status`.
    pub statuses: Vec<(String, i32)>,
}

impl HeaderNames {
    /// Every `(kind, name)`.
    pub fn all(&self) -> impl Iterator<Item = (Kind, &str)> {
        fn of(kind: Kind, names: &[String]) -> impl Iterator<Item = (Kind, &str)> {
            names.iter().map(move |n| (kind, n.as_str()))
        }
        of(Kind::Function, &self.functions)
            .chain(of(Kind::Type, &self.types))
            .chain(of(Kind::Constant, &self.constants))
    }
}

/// Reads the names a cbindgen header declares: functions (a declaration ending in `);` at the
/// top level), types (after `struct` / `enum` / `union`, and typedef names), macros
/// (`#define`, `#ifndef`) and enumerators.
pub fn header_names(header: &str) -> HeaderNames {
    let code = strip_comments(header);
    let mut names = HeaderNames::default();
    let mut in_status_enum = false;
    for line in code.lines() {
        let trimmed = line.trim();
        let words: Vec<&str> = trimmed
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(rest) = trimmed
            .strip_prefix("#define ")
            .or_else(|| trimmed.strip_prefix("#ifndef "))
        {
            let name = rest.split_whitespace().next().unwrap_or_default();
            if name.starts_with(['E', 'e']) {
                names.constants.push(name.to_owned());
            }
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with("enum ergon_status") {
            in_status_enum = true;
        }
        if in_status_enum {
            if let Some((name, value)) = trimmed.trim_end_matches(',').split_once(" = ") {
                names
                    .statuses
                    .push((name.to_owned(), value.parse().unwrap()));
                names.constants.push(name.to_owned());
            }
            if trimmed.starts_with("};") {
                in_status_enum = false;
            }
        }
        for pair in words.windows(2) {
            if ["struct", "enum", "union"].contains(&pair[0]) {
                names.types.push(pair[1].to_owned());
            }
        }
        let ends_typedef = trimmed.starts_with("typedef") || trimmed.starts_with('}');
        if ends_typedef
            && trimmed.ends_with(';')
            && !trimmed.ends_with(");")
            && let Some(last) = words.last()
        {
            names.types.push((*last).to_owned());
        }
        let top_level = !line.starts_with([' ', '\t', '}']);
        if top_level && trimmed.ends_with(");") && trimmed.contains('(') {
            let before = trimmed.split('(').next().unwrap_or_default();
            if let Some(name) = before.split_whitespace().last() {
                names
                    .functions
                    .push(name.trim_start_matches('*').to_owned());
            }
        }
    }
    for list in [&mut names.functions, &mut names.types, &mut names.constants] {
        list.sort();
        list.dedup();
    }
    names
}

/// The header without `/* */` and `//` comments (cbindgen writes no comment markers inside
/// strings).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |e| &rest[b + e + 2..]);
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |e| &rest[l + e..]);
            }
            _ => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out
}

/// The rule's own test cases: what it must accept and what it must refuse (so that the tests
/// that apply it can fail), as `(kind, names)`.
pub fn self_check() {
    let accepted: [(Kind, &[&str]); 3] = [
        (
            Kind::Function,
            &[
                "ergon_perseus_frontier_new",
                "ergon_gpu_energy_monitor_begin",
                "ergon_version",
            ],
        ),
        (Kind::Type, &["ergon_orloj_batcher", "ergon_status"]),
        (
            Kind::Constant,
            &[
                "ERGON_DPK_SCHEDULER_DPK",
                "ERGON_GPU_TEXT_CAP",
                "ERGON_STATUS_NULL_POINTER",
                "ERGON_PERSEUS_SCHEDULE_1F1B",
            ],
        ),
    ];
    // No system, the old Orloj name, no verb, no prefix, a capital in a function, no object.
    let refused: [(Kind, &[&str]); 3] = [
        (
            Kind::Function,
            &[
                "ergon_frontier_new",
                "ergon_batcher_next_batch",
                "ergon_perseus_frontier",
                "frontier_new",
                "ergon_Perseus_frontier_new",
            ],
        ),
        (Kind::Type, &["ergon_profile", "ergon_perseus"]),
        (
            Kind::Constant,
            &[
                "ERGON_POLICY_ORLOJ",
                "ERGON_KIND_FORWARD",
                "ERGON_DPK",
                "ERGON_dpk_x",
                "ERGON_STATUS",
            ],
        ),
    ];
    for (kind, names) in accepted {
        for name in names {
            assert_eq!(check(kind, name), Ok(()), "{name}");
        }
    }
    for (kind, names) in refused {
        for name in names {
            let why = check(kind, name).expect_err(name);
            assert!(why.contains(name), "the message names the offender: {why}");
        }
    }
}
