//! What the end-to-end tests of `ergon` (cli/tests) and of `ergon-experiments`
//! (experiments/tests, which include this file by path) share: a scratch directory, running a
//! built binary, assertions on its exit status and output, and the checks of the output rules
//! (`ergon-cli-support`'s `output`) that every binary must pass.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses a part

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `ergon-<test file>-<pid>-<n>-<name>` under the temp dir, emptied first.
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "ergon-{}-{}-{n}-{name}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `name` in the directory; returns the file's path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    /// The contents of `name` in the directory.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file of the shared reference folder's `data/` (beside the repository).
pub fn shared_data(relative: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(relative);
    assert!(
        p.is_file(),
        "fixture not found at {} (the shared folder must sit beside the repository)",
        p.display()
    );
    p
}

/// The binaries under test; each test crate can run those of its own package.
#[derive(Clone, Copy, Debug)]
pub enum Bin {
    /// `ergon` (package ergon-cli).
    Ergon,
    /// `ergon-experiments` (package ergon-experiments).
    Experiments,
}

impl Bin {
    /// The built executable.
    pub fn path(self) -> &'static str {
        let path = match self {
            Bin::Ergon => option_env!("CARGO_BIN_EXE_ergon"),
            Bin::Experiments => option_env!("CARGO_BIN_EXE_ergon-experiments"),
        };
        path.unwrap_or_else(|| panic!("{self:?} is not a binary of this test's package"))
    }

    /// The command `BIN ARGS` in `dir`.
    pub fn command(self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(self.path());
        command.args(args).current_dir(dir);
        command
    }

    /// Runs `BIN ARGS` in `dir`.
    pub fn run(self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args)
            .output()
            .unwrap_or_else(|e| panic!("could not run {self:?}: {e}"))
    }
}

/// A command line written as one string, split at white space (for arguments without any).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs `ergon ARGS` in `dir`.
pub fn ergon(dir: &Path, args: &[&str]) -> Output {
    Bin::Ergon.run(dir, args)
}

/// Runs `ergon-experiments ARGS` in `dir`.
pub fn experiments(dir: &Path, args: &[&str]) -> Output {
    Bin::Experiments.run(dir, args)
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Asserts success; returns standard output.
#[track_caller]
pub fn assert_success(o: &Output) -> String {
    assert!(
        o.status.success(),
        "the command failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts failure with exit code 1 and a single `error: ...` line on stderr mentioning every
/// needle, and nothing on stdout; returns the line.
#[track_caller]
pub fn assert_one_line_error(o: &Output, needles: &[&str]) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit code 1\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{err}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line:?}");
    for needle in needles {
        assert!(
            line.contains(needle),
            "{line:?} does not mention {needle:?}"
        );
    }
    assert_eq!(stdout(o), "", "nothing should reach stdout on an error");
    line.to_owned()
}

/// Asserts a usage error from clap: a failure whose standard error starts with `error:` and
/// mentions every needle, with nothing on stdout.
#[track_caller]
pub fn assert_usage_error(o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "expected a failure");
    let err = stderr(o);
    assert!(err.starts_with("error:"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{err} does not mention {needle:?}");
    }
    assert_eq!(stdout(o), "", "nothing should reach stdout on an error");
}

/// Asserts success and parses standard output as JSON.
#[track_caller]
pub fn parse_json(o: &Output) -> Value {
    let text = assert_success(o);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{text}"))
}

/// `v` as a number.
#[track_caller]
pub fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// The output rules, checked on any binary and command.

/// Runs `BIN ARGS` in `dir` with standard output sent to `out`.
fn run_with_stdout(bin: Bin, dir: &Path, args: &[&str], out: impl Into<Stdio>) -> Output {
    bin.command(dir, args)
        .stdout(out)
        .output()
        .unwrap_or_else(|e| panic!("could not run {bin:?}: {e}"))
}

/// A full disk on standard output (`/dev/full`) ends the command with one error line and
/// status 1, without a panic.
#[track_caller]
pub fn assert_full_disk_is_one_error_line(bin: Bin, dir: &Path, args: &[&str]) {
    let full = File::options().write(true).open("/dev/full").unwrap();
    let o = run_with_stdout(bin, dir, args, full);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
    let last = err.lines().last().unwrap_or_default();
    assert_eq!(
        last, "error: writing to standard output: No space left on device (os error 28)",
        "{args:?}:\n{err}"
    );
    assert_eq!(err.matches("error:").count(), 1, "{args:?}:\n{err}");
}

/// A reader that closed standard output before the command wrote ends it quietly with the
/// status of a death by SIGPIPE (141).
#[track_caller]
pub fn assert_closed_pipe_is_quiet(bin: Bin, dir: &Path, args: &[&str]) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = run_with_stdout(bin, dir, args, writer);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert!(!err.contains("error"), "{args:?}:\n{err}");
    assert_eq!(
        o.status.code(),
        Some(141),
        "{args:?}: {:?}\n{err}",
        o.status
    );
}

/// A command writing `name` in a fresh directory with files limited to a few KiB (`ulimit -f
/// 8`: 4 KiB in dash's 512-byte blocks, 8 KiB in bash's; SIGXFSZ ignored, so a write past the
/// limit fails with EFBIG — a full disk that works as root, where permissions stop nothing)
/// fails naming `name` and leaves the old, larger file byte for byte, and no temporary file.
#[track_caller]
pub fn assert_cut_write_keeps_the_old_file(bin: Bin, name: &str, args: &[&str]) {
    let dir = Scratch::new("atomic");
    // Larger than the limit, so that an in-place write would visibly cut it.
    let old: Vec<u8> = (0..12_600u32)
        .map(|i| b"old output\n"[i as usize % 11])
        .collect();
    let target = dir.path().join(name);
    std::fs::write(&target, &old).unwrap();
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 8 && exec "$0" "$@""#)
        .arg(bin.path())
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("could not run /bin/sh");
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{args:?}:\n{err}");
    assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("error: writing {name}: ")) && last.contains("too large"),
        "{args:?}:\n{err}"
    );
    assert!(
        std::fs::read(&target).unwrap() == old,
        "{args:?} changed {name}"
    );
    assert_eq!(names_in(dir.path()), [name], "{args:?}");
}

/// Values after a numeric option's name that look like negative numbers reach the option's
/// own check: each command line (see [`words`]) fails with one error line naming the needles,
/// not with clap's "unexpected argument", and writes nothing.
#[track_caller]
pub fn assert_negative_values_reach_their_checks(bin: Bin, cases: &[(&str, &[&str])]) {
    let s = Scratch::new("negative");
    for (line, needles) in cases {
        let error = assert_one_line_error(&bin.run(s.path(), &words(line)), needles);
        assert!(!error.contains("unexpected argument"), "{line}: {error}");
    }
    assert_eq!(names_in(s.path()), Vec::<String>::new(), "nothing written");
}
