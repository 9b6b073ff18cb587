//! Replays a target's committed inputs through its body (used by the main workspace's
//! `fuzz_regressions` tests on stable; not part of the fuzz binaries).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"));
    out.sort();
    out
}

/// Runs `body` on every file of `fuzz/regressions/<target>/` and `fuzz/corpus/<target>/`;
/// fails naming each input that panicked, and fails when there is no input at all (so a
/// moved directory cannot make the test pass vacuously). Returns the number of inputs.
pub fn replay(target: &str, body: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = files(&root.join("regressions").join(target));
    let regressions = inputs.len();
    inputs.extend(files(&root.join("corpus").join(target)));
    let mut failures = Vec::new();
    for path in &inputs {
        let bytes = std::fs::read(path).expect("read a fuzz input");
        if catch_unwind(AssertUnwindSafe(|| body(&bytes))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs fail:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
    assert!(
        inputs.len() > regressions,
        "{target}: no seed corpus under fuzz/corpus/{target}"
    );
    eprintln!(
        "{target}: {regressions} regressions and {} seeds replayed",
        inputs.len() - regressions
    );
    inputs.len()
}

/// Writes one `#[test]` per fuzz target, named after the target, that [`replay`]s its inputs
/// through `module::target` (the function its fuzz binary calls): the list of targets is the
/// only thing a replaying test file has to say.
#[allow(unused_macros)] // ffi/tests/fuzz_regressions.rs compiles this file too
macro_rules! replay_tests {
    ($($module:ident :: $target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                $crate::replay::replay(stringify!($target), $module::$target);
            }
        )*
    };
}
