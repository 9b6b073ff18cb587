//! `libergon.so` exports exactly the functions that `include/ergon.h` declares (listed with
//! `nm -D --defined-only`), each named by the rule of docs/abi.md
//! (`ergon_<system>_<object>_<verb>` or one of the few globals), and carries the SONAME
//! `libergon.so.<ERGON_ABI_VERSION>` (read with `readelf -d`).
//!
//! Allowed besides: nothing today. The parser skips, to be robust to other toolchains,
//! - symbols of type `U` (undefined), `w` and `v` (weak undefined objects/functions): imports,
//!   not exports (`--defined-only` normally leaves them out already);
//! - symbols of type `A` (absolute) whose name is a symbol-version node such as `ERGON_1`:
//!   `nm -D` lists a library's own version definitions that way when it is linked with a
//!   version script that names nodes. Rust's cdylib version script is anonymous, so none
//!   appear, and an absolute symbol of any other name fails the test.
//!
//! A versioned name (`name@@NODE`) is compared without its version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::naming::{self, Kind, check, header_names};

mod common;

/// This test run's `libergon.so`: `cargo test` builds the cdylib beside this executable, in
/// `target/<profile>/deps/` (only `cargo build` copies it up to `target/<profile>/`, the
/// fallback).
fn shared_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe
        .parent()
        .expect("test executable has no parent directory");
    let candidates = [
        deps.join("libergon.so"),
        deps.parent()
            .map_or_else(PathBuf::new, |p| p.join("libergon.so")),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "libergon.so not found at {candidates:?}: run this test through \
                 `cargo test -p ergon-ffi`, which builds the cdylib"
            )
        })
        .clone()
}

/// `(type, name)` of every defined dynamic symbol.
fn dynamic_symbols(lib: &Path) -> Vec<(char, String)> {
    tool_output("nm", &["-D", "--defined-only"], lib)
        .lines()
        .filter_map(|line| {
            // "ADDRESS TYPE NAME"; undefined symbols have no address.
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (kind, name) = match fields.as_slice() {
                [_, kind, name] | [kind, name] => (*kind, *name),
                _ => return None,
            };
            let kind = kind.chars().next()?;
            let name = name.split('@').next().unwrap_or(name).to_string();
            Some((kind, name))
        })
        .collect()
}

fn is_version_node(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

/// Names of the functions declared in the committed header.
fn header_functions() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/ergon.h");
    let header = std::fs::read_to_string(path).unwrap();
    header_names(&header).functions.into_iter().collect()
}

/// The output of a binutils tool run on `lib`.
fn tool_output(tool: &str, args: &[&str], lib: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(lib)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{tool}` ({e}): install binutils"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn only_ergon_symbols_are_exported() {
    let lib = shared_library();
    let symbols = dynamic_symbols(&lib);
    assert!(
        !symbols.is_empty(),
        "nm -D listed nothing for {}",
        lib.display()
    );
    let mut exported = BTreeSet::new();
    let mut foreign = Vec::new();
    for (kind, name) in symbols {
        match kind {
            'U' | 'w' | 'v' => continue,
            'A' if is_version_node(&name) => continue,
            _ => {}
        }
        if let Err(why) = check(Kind::Function, &name) {
            foreign.push(why);
        }
        assert!(
            kind == 'T',
            "{name} is exported as type {kind}; the ABI exports only functions"
        );
        exported.insert(name);
    }
    assert!(
        foreign.is_empty(),
        "{} exports names outside the naming rule (docs/abi.md):\n{}",
        lib.display(),
        foreign.join("\n")
    );
    let declared = header_functions();
    assert!(declared.len() >= 20, "header parse found only {declared:?}");
    let undeclared: Vec<_> = exported.difference(&declared).collect();
    let missing: Vec<_> = declared.difference(&exported).collect();
    assert!(
        undeclared.is_empty() && missing.is_empty(),
        "exports and include/ergon.h differ: exported but not declared {undeclared:?}, \
         declared but not exported {missing:?}"
    );
}

/// The SONAME is `libergon.so.<ABI version>` (ffi/build.rs), so that programs linked against
/// this ABI load `libergon.so.2` and never an incompatible library.
#[test]
fn the_shared_library_has_the_soname_of_its_abi_version() {
    let lib = shared_library();
    let dynamic = tool_output("readelf", &["-d"], &lib);
    let sonames: Vec<&str> = dynamic
        .lines()
        .filter(|l| l.contains("(SONAME)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    assert_eq!(
        sonames,
        [format!("libergon.so.{}", ergon::ERGON_ABI_VERSION)],
        "readelf -d {}:\n{dynamic}",
        lib.display()
    );
}

#[test]
fn the_naming_rule_refuses_what_it_must() {
    naming::self_check();
}

#[test]
fn version_nodes_are_recognized() {
    assert!(is_version_node("ERGON_1"));
    assert!(is_version_node("GLIBC_2.2.5"));
    assert!(!is_version_node("ergon_version"));
    assert!(!is_version_node("_ZN3std2rt"));
    assert!(!is_version_node("rust_eh_personality"));
}
