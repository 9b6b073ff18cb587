//! The C ABI exercised from C and C++: compiles every program under `tests/c` (C11) and
//! `tests/cpp` (C++17, through `bindings/cpp/ergon.hpp`) with `-Wall -Wextra -Wpedantic
//! -Werror`, links each against both `libergon.a` and `libergon.so`, and runs them; where
//! `valgrind` is on the PATH, the dynamically linked builds run under it too
//! (`--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect`). It also
//! installs the library with `scripts/install.sh` into temporary prefixes and builds
//! `tests/consumer/consumer.c` through `pkg-config --cflags --libs ergon`, and the example
//! `examples/cpp` with CMake (`find_package(ergon 2 CONFIG REQUIRED)`, shared and static) and
//! with its Makefile (pkg-config), and checks that every version (crate, ABI, `ergon.pc`, CMake
//! package) agrees. The CMake tests need `cmake` (scripts/test.sh installs it): without it they
//! fail, unless `ERGON_SKIP_CMAKE=1`, with which they print that they were skipped.
//!
//! The libraries are the ones cargo built for this test run (`cargo test` builds the cdylib
//! and staticlib of the crate next to this test's executable, in `target/<profile>/deps/`). The
//! profiles of the shared fixtures reach C as arrays through a header this test generates
//! (`fixtures.h`), and as JSON through the fixture files themselves.
//!
//! The GPU programs (`tests/c/gpu.c`, `tests/cpp/gpu.cpp`) run against the fake NVML
//! (`tests/fake-nvml`, built by the harness of `hwctl/tests/support`), each run with its own
//! call log, fake state file and GPU state directory; the tests assert the exact NVML call
//! sequence and that the fake GPU ends as it started.
//!
//! Every program also runs a third time, built with AddressSanitizer and UndefinedBehaviorSanitizer
//! (`-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer`) against
//! `libergon.so`: the program carries the sanitizer runtime, so every allocation and free of the
//! (uninstrumented) Rust library goes through ASan's allocator too, and a mismatched or double
//! free, a buffer overflow in the C or C++ code, or a leak (LeakSanitizer) fails the run. The
//! sanitizer options are compiled into the program (`__asan_default_options`), not read from the
//! environment. Where the compiler has no sanitizer runtime, a warning is printed and that
//! variant is skipped.
//!
//! Compilers: `$CC` (default `cc`) and `$CXX` (default `c++`); a missing compiler fails the
//! test with a message that says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../hwctl/tests/support/mod.rs"]
mod support;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ergon_core::perseus::Kind;
use ergon_core::perseus::formats::parse_instance;

/// The instances the programs check (their expected values are in the programs).
const INSTANCES: [&str; 2] = ["a100_s2_m4", "a100_s4_m8"];

/// Every program under tests/c and tests/cpp, so that a new file cannot go unrun.
const PROGRAMS: &[&str] = &[
    "c/perseus.c",
    "c/dpk.c",
    "c/orloj.c",
    "c/bad_input.c",
    "c/panic.c",
    "c/gpu.c",
    "c/gpu_profiler.c",
    "c/zeus.c",
    "c/auxo.c",
    "cpp/wrapper.cpp",
    "cpp/gpu.cpp",
    "cpp/dpk.cpp",
    "cpp/orloj.cpp",
    "cpp/gpu_profiler.cpp",
    "cpp/zeus.cpp",
    "cpp/chase.cpp",
    "cpp/oobleck.cpp",
    "cpp/auxo.cpp",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn data_dir() -> PathBuf {
    let dir = repo().join("../shared/data/perseus");
    assert!(
        dir.is_dir(),
        "fixtures not found at {} (the shared folder must sit beside the repository)",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// Where this test run's `libergon.a` and `libergon.so` are. This executable is
/// `target/<profile>/deps/c_abi-HASH`; `cargo test` builds the crate's staticlib and cdylib
/// beside it in `deps/` (only `cargo build` copies them up to `target/<profile>/`, where they
/// may be older than the code under test, so that directory is only a fallback).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe
        .parent()
        .expect("test executable has no parent directory");
    let has_libs = |dir: &Path| {
        ["libergon.a", "libergon.so"]
            .iter()
            .all(|l| dir.join(l).is_file())
    };
    if has_libs(deps) {
        return deps.to_path_buf();
    }
    let profile = deps.parent().expect("no target/<profile> directory");
    assert!(
        has_libs(profile),
        "libergon.a and libergon.so not found in {} or {}: run this test through \
         `cargo test -p ergon-ffi`, which builds the staticlib and cdylib",
        deps.display(),
        profile.display()
    );
    eprintln!(
        "warning: using the libraries in {} (cargo build's copies)",
        profile.display()
    );
    profile.to_path_buf()
}

/// This run's libraries as an install lays them out: `libergon.so` (for `-lergon`) and
/// `libergon.so.<ABI>` (the SONAME a program linked against it asks the loader for), both
/// links to the library under test, and `libergon.a`.
fn installed_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = work_dir().join("lib");
        std::fs::create_dir_all(&dir).unwrap();
        let soname = format!("libergon.so.{}", ergon::ERGON_ABI_VERSION);
        for (link, target) in [
            ("libergon.so", "libergon.so"),
            (soname.as_str(), "libergon.so"),
            ("libergon.a", "libergon.a"),
        ] {
            let _ = std::fs::remove_file(dir.join(link));
            std::os::unix::fs::symlink(lib_dir().join(target), dir.join(link)).unwrap();
        }
        dir
    })
}

/// A scratch directory for this test binary (one per profile), emptied once per run, holding
/// `fixtures.h`, the programs and the install prefix.
fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .map_or_else(|| "default".into(), |p| p.to_string_lossy().into_owned());
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("c_abi-{profile}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("fixtures.h"), fixtures_header()).unwrap();
        dir
    })
}

/// A C header with the profiles of every instance as `ergon_perseus_option` / `ergon_perseus_profile`
/// arrays, read from the same JSON files the programs also load. Doubles are written with
/// Rust's shortest round-trip form, which C compilers read back exactly.
fn fixtures_header() -> String {
    let mut h = String::from(
        "/* Generated by ffi/tests/c_abi.rs from ../shared/data/perseus; do not edit. */\n\
         #ifndef ERGON_TEST_FIXTURES_H\n#define ERGON_TEST_FIXTURES_H\n\n\
         #include <stddef.h>\n#include \"ergon.h\"\n\n\
         typedef struct fixture {\n  const char *name;\n  double unit_time_s;\n  \
         double p_blocking_w;\n  uint32_t num_stages;\n  uint32_t num_microbatches;\n  \
         const ergon_perseus_profile *profiles;\n  size_t num_profiles;\n} fixture;\n\n",
    );
    let mut table = String::from("static const fixture FIXTURES[] = {\n");
    for name in INSTANCES {
        let path = data_dir().join(format!("{name}.instance.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        let problem = parse_instance(&text).unwrap();
        let microbatches = problem
            .dag
            .nodes
            .iter()
            .map(|c| c.microbatch + 1)
            .max()
            .unwrap();
        let mut profiles = format!("static const ergon_perseus_profile {name}_profiles[] = {{\n");
        for (i, p) in problem.profiles.iter().enumerate() {
            assert!(p.fit.is_none(), "{name}: the fixtures have no fits");
            writeln!(
                h,
                "static const ergon_perseus_option {name}_options_{i}[] = {{"
            )
            .unwrap();
            for o in &p.options {
                writeln!(
                    h,
                    "  {{{}u, {:?}, {:?}}},",
                    o.freq_mhz, o.time_s, o.energy_j
                )
                .unwrap();
            }
            h.push_str("};\n");
            let kind = match p.kind {
                Kind::Forward => "ERGON_PERSEUS_KIND_FORWARD",
                Kind::Backward => "ERGON_PERSEUS_KIND_BACKWARD",
            };
            writeln!(
                profiles,
                "  {{{}u, {kind}, {name}_options_{i}, {}u, NULL}},",
                p.stage,
                p.options.len()
            )
            .unwrap();
        }
        profiles.push_str("};\n\n");
        h.push_str(&profiles);
        writeln!(
            table,
            "  {{\"{name}\", {:?}, {:?}, {}u, {microbatches}u, {name}_profiles, {}u}},",
            problem.unit_time_s,
            problem.p_blocking_w,
            problem.dag.num_stages,
            problem.profiles.len()
        )
        .unwrap();
    }
    table.push_str("};\n\n#endif\n");
    h.push_str(&table);
    h
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Link {
    Static,
    Shared,
    /// Shared, with the program built under ASan + UBSan.
    Sanitized,
}

const SANITIZE: [&str; 4] = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-g",
];

/// Compiled into every sanitized program, so that runs do not depend on the environment.
fn sanitizer_options_source(detect_leaks: bool) -> String {
    format!(
        "const char *__asan_default_options(void);\n\
         const char *__asan_default_options(void) {{ return \"detect_leaks={}:halt_on_error=1:\
         abort_on_error=0:exitcode=23:strict_string_checks=1:detect_stack_use_after_return=1\"; }}\n\
         const char *__ubsan_default_options(void);\n\
         const char *__ubsan_default_options(void) {{ return \"halt_on_error=1:print_stacktrace=1\"; }}\n",
        u8::from(detect_leaks)
    )
}

/// The sanitizer options object for this run, or `None` (with a warning) when `$CC` cannot
/// build and run a sanitized program. LeakSanitizer is dropped, with a warning, where it
/// cannot run (e.g. under ptrace).
fn sanitizer_object() -> Option<&'static Path> {
    static OBJ: OnceLock<Option<PathBuf>> = OnceLock::new();
    OBJ.get_or_init(|| {
        let cc = compiler(false);
        for leaks in [true, false] {
            let src = work_dir().join(format!("sanitizer_options_{leaks}.c"));
            let obj = src.with_extension("o");
            std::fs::write(&src, sanitizer_options_source(leaks)).unwrap();
            let probe = work_dir().join(format!("sanitizer_probe_{leaks}"));
            let probe_src = work_dir().join("sanitizer_probe.c");
            std::fs::write(
                &probe_src,
                "#include <stdlib.h>\nint main(void) { char *p = malloc(4); p[0] = 1; \
                 int r = p[0] - 1; free(p); return r; }\n",
            )
            .unwrap();
            let compiled = Command::new(&cc)
                .args(SANITIZE)
                .arg("-c")
                .arg(&src)
                .arg("-o")
                .arg(&obj)
                .status()
                .is_ok_and(|s| s.success())
                && Command::new(&cc)
                    .args(SANITIZE)
                    .arg(&probe_src)
                    .arg(&obj)
                    .arg("-o")
                    .arg(&probe)
                    .status()
                    .is_ok_and(|s| s.success());
            if !compiled {
                eprintln!(
                    "WARNING: {cc} cannot build with -fsanitize=address,undefined (no sanitizer \
                     runtime?): the ASan/UBSan variant of the C ABI tests is skipped"
                );
                return None;
            }
            if Command::new(&probe)
                .output()
                .is_ok_and(|o| o.status.success())
            {
                if !leaks {
                    eprintln!(
                        "WARNING: LeakSanitizer cannot run here: the sanitized C ABI tests run \
                         with ASan and UBSan but without leak detection"
                    );
                }
                return Some(obj);
            }
        }
        eprintln!("WARNING: a sanitized probe program does not run: ASan/UBSan variant skipped");
        None
    })
    .as_deref()
}

/// The links every program is tested with: static, shared and, where the compiler has the
/// sanitizer runtime, shared under ASan + UBSan.
fn links() -> Vec<Link> {
    let mut links = vec![Link::Static, Link::Shared];
    if sanitizer_object().is_some() {
        links.push(Link::Sanitized);
    }
    links
}

fn compiler(cxx: bool) -> String {
    let (var, default) = if cxx { ("CXX", "c++") } else { ("CC", "cc") };
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

fn spawn(cmd: &mut Command, what: &str) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{what}` ({e}): the C ABI tests need a C and a C++ compiler \
             (gcc/g++ or clang; set CC and CXX to choose), binutils and, for the install \
             tests, pkg-config, make and cmake"
        )
    })
}

fn check_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles `tests/<program>` into the work dir, linked against `link`; returns the binary.
fn build(program: &str, link: Link) -> PathBuf {
    let src = repo().join("tests").join(program);
    let cxx = program.ends_with(".cpp");
    let stem = program.replace(['/', '.'], "_");
    let exe = work_dir().join(format!("{stem}_{link:?}").to_lowercase());
    let lib = installed_lib_dir();
    let cc = compiler(cxx);
    let mut cmd = Command::new(&cc);
    cmd.arg(if cxx { "-std=c++17" } else { "-std=c11" })
        .args(["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(repo().join("include"))
        .arg("-I")
        .arg(work_dir());
    if cxx {
        cmd.arg("-I").arg(repo().join("bindings/cpp"));
    }
    if link == Link::Sanitized {
        cmd.args(SANITIZE);
        cmd.arg(sanitizer_object().expect("the sanitized variant runs only where it builds"));
    }
    cmd.arg(&src).arg("-o").arg(&exe);
    match link {
        Link::Static => {
            cmd.arg(lib.join("libergon.a"))
                .args(["-lpthread", "-ldl", "-lm"]);
        }
        Link::Shared | Link::Sanitized => {
            cmd.arg("-L")
                .arg(lib)
                .arg("-lergon")
                .arg("-lm") // the programs' own <math.h> calls
                .arg(format!("-Wl,-rpath,{}", lib.display()));
        }
    }
    let out = spawn(&mut cmd, &cc);
    check_ok(&out, &format!("{cc} {program} ({link:?})"));
    exe
}

fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a built program with `args` and `env`; returns its stdout. Whatever happens inside
/// the library, no Rust panic message may reach the program's stderr.
fn run(exe: &Path, args: &[&OsStr], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(exe);
    cmd.args(args).envs(env.iter().copied());
    let out = spawn(&mut cmd, &exe.display().to_string());
    check_ok(&out, &exe.display().to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("ERGON_FFI_TEST_PANIC"),
        "{} printed a panic to stderr:\n{stderr}",
        exe.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a built program under valgrind: any memory error or definite/indirect leak fails.
/// Prints valgrind's summary (visible with `--nocapture`).
fn run_valgrind(exe: &Path, args: &[&OsStr], env: &[(&str, &str)]) {
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--error-exitcode=1",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect",
    ])
    .arg(exe)
    .args(args)
    .envs(env.iter().copied());
    let out = spawn(&mut cmd, "valgrind");
    check_ok(&out, &format!("valgrind {}", exe.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            [
                "in use at exit",
                "total heap usage",
                "definitely lost",
                "indirectly lost",
                "possibly lost",
                "still reachable",
                "ERROR SUMMARY",
            ]
            .iter()
            .any(|k| l.contains(k))
        })
        .collect();
    eprintln!("valgrind {}:\n{}", exe.display(), summary.join("\n"));
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind reported errors:\n{stderr}"
    );
}

#[test]
fn every_program_is_run() {
    let mut found = Vec::new();
    for (dir, ext) in [("c", "c"), ("cpp", "cpp")] {
        for entry in std::fs::read_dir(repo().join("tests").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == ext) {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                found.push(format!("{dir}/{name}"));
            }
        }
    }
    found.sort();
    let mut known: Vec<String> = PROGRAMS.iter().map(|s| s.to_string()).collect();
    known.sort();
    assert_eq!(
        found, known,
        "add new programs to PROGRAMS and give them a test"
    );
}

/// Builds `program` for every link ([`links`]) and runs each build with `args`, and the shared
/// build under valgrind with `valgrind_args` (valgrind slows the debug library some 50 times:
/// there the programs solve only the small instance, and only once, through the same calls);
/// asserts that every run printed each of `lines` and "all checks passed".
fn program_prints(
    program: &str,
    args: &[&OsStr],
    valgrind_args: &[&OsStr],
    env: &[(&str, &str)],
    lines: &[&str],
) {
    for link in links() {
        let exe = build(program, link);
        let out = run(&exe, args, env);
        for line in lines.iter().chain(&["all checks passed"]) {
            assert!(
                out.contains(line),
                "{program} ({link:?}) did not print {line:?}:\n{out}"
            );
        }
        with_valgrind(link, program, || run_valgrind(&exe, valgrind_args, env));
    }
}

/// Runs `check` (the valgrind runs of `program`) once per program: for the shared build, where
/// valgrind is installed.
fn with_valgrind(link: Link, program: &str, check: impl FnOnce()) {
    if link == Link::Shared {
        if valgrind_available() {
            check();
        } else {
            eprintln!("valgrind not found: {program} ran without it");
        }
    }
}

/// The Perseus programs take the fixtures' directory; under valgrind they solve only the
/// small instance, once.
fn perseus_program_prints(program: &str, lines: &[&str]) {
    let data = data_dir();
    let data = data.as_os_str();
    let (once, small) = (OsStr::new("--solve-once"), OsStr::new("a100_s2_m4"));
    program_prints(program, &[data], &[once, data, small], &[], lines);
}

#[test]
fn c_frontier_from_arrays_json_and_csv() {
    perseus_program_prints(
        "c/perseus.c",
        &[
            "a100_s2_m4",
            "97 points, T_min 0.335 s",
            "174 points, T_min 0.723 s",
        ],
    );
}

#[test]
fn cpp_wrapper() {
    perseus_program_prints("cpp/wrapper.cpp", &[]);
}

#[test]
fn c_bad_input() {
    let data = data_dir();
    let data = [data.as_os_str()];
    program_prints("c/bad_input.c", &data, &data, &[], &[]);
}

/// The library reads `ERGON_FFI_TEST_PANIC` once per process, so this runs its own. The
/// panics are silent: [`run`] checks that nothing reached stderr.
#[test]
fn c_panic_boundary() {
    let data = data_dir();
    let data = [data.as_os_str()];
    let env = [("ERGON_FFI_TEST_PANIC", "ergon_perseus_frontier_solve")];
    program_prints(
        "c/panic.c",
        &data,
        &data,
        &env,
        &["[internal error (panic)] ergon_perseus_frontier_solve: internal error: panic requested"],
    );
}

/// What the programs that take no arguments print (besides "all checks passed").
const PRINTS: &[(&str, &[&str])] = &[
    (
        "c/dpk.c",
        &[
            "arrays: DPK {6, 5} profit 310, remaining [-0.35, -0.30, 0.35]",
            "json: DPK {6, 5} profit 310, remaining [-0.35, -0.30, 0.35]",
            "online: 3 of 4 tasks allocated",
        ],
    ),
    (
        "cpp/dpk.cpp",
        &[
            "arrays: DPK {6, 5} profit 310",
            "json: DPK {6, 5} profit 310",
        ],
    ),
    (
        "c/orloj.c",
        &[
            "oracle p_min 0.05: batch of 2, 0 dropped, E[T] 25.0 ms",
            "oracle p_min 0.60: batch of 2, 1 dropped, E[T] 25.0 ms",
        ],
    ),
    ("cpp/orloj.cpp", &[]),
    ("cpp/chase.cpp", &["chase: forecasts checked"]),
    (
        "cpp/oobleck.cpp",
        &["oracle C: 4 x 3 nodes, 1841.4 ms; after losing node 4: 2005.2 ms"],
    ),
    ("c/auxo.c", &["auxo: two groups of three split at round 1"]),
    (
        "cpp/auxo.cpp",
        &["auxo: two blobs split and fixed rounds {20, 40} give 4 cohorts"],
    ),
];

/// [`program_prints`] for a program of [`PRINTS`] (one test each, so that they run in
/// parallel).
fn prints_its_results(program: &str) {
    let (_, lines) = PRINTS.iter().find(|(p, _)| *p == program).unwrap();
    program_prints(program, &[], &[], &[], lines);
}

#[test]
fn c_dpk() {
    prints_its_results("c/dpk.c");
}

#[test]
fn cpp_dpk() {
    prints_its_results("cpp/dpk.cpp");
}

#[test]
fn c_batcher() {
    prints_its_results("c/orloj.c");
}

#[test]
fn cpp_batcher() {
    prints_its_results("cpp/orloj.cpp");
}

#[test]
fn cpp_chase_forecaster() {
    prints_its_results("cpp/chase.cpp");
}

#[test]
fn cpp_oobleck() {
    prints_its_results("cpp/oobleck.cpp");
}

#[test]
fn c_auxo() {
    prints_its_results("c/auxo.c");
}

#[test]
fn cpp_auxo() {
    prints_its_results("cpp/auxo.cpp");
}

// ---------------------------------------------------------------------------------------------
// GPU programs against the fake NVML

/// The fake GPU starts below its 400 W default power limit, so that the executor's startup
/// changes it and its restore must bring back 300 W (not the default).
const INITIAL_STATE: &str =
    "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0";

/// What one run of a GPU program left behind.
struct GpuRun {
    stdout: String,
    /// The fake's call log, one call per line (empty if NVML was never loaded).
    log: Vec<String>,
    /// The fake's state file (first line: GPU 0).
    state: String,
    /// The run's private directory (fake state and log, `ERGON_STATE_DIR`).
    dir: PathBuf,
}

/// A fresh directory for one run: the fake's state file at [`INITIAL_STATE`], an empty log, a
/// private `ERGON_STATE_DIR`.
fn gpu_run_dir(name: &str) -> PathBuf {
    let dir = work_dir().join("gpu").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ergon-state")).unwrap();
    std::fs::set_permissions(
        dir.join("ergon-state"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(dir.join("fake-state"), format!("{INITIAL_STATE}\n")).unwrap();
    dir
}

/// Runs `exe MODE` (under valgrind if `valgrind`) in `dir` against the fake NVML, or with
/// `ERGON_NVML_LIBRARY` pointing nowhere when `nvml` is false.
fn run_gpu(exe: &Path, mode: &str, dir: &Path, nvml: bool, valgrind: bool) -> GpuRun {
    run_gpu_with(exe, mode, dir, nvml, valgrind, &[])
}

/// [`run_gpu`] with more variables for the fake (its power model).
fn run_gpu_with(
    exe: &Path,
    mode: &str,
    dir: &Path,
    nvml: bool,
    valgrind: bool,
    extra_env: &[(&str, &str)],
) -> GpuRun {
    let library = if nvml {
        support::fake_library(support::Variant::Current)
            .to_str()
            .unwrap()
            .to_owned()
    } else {
        "/nonexistent/libnvidia-ml.so.1".to_owned()
    };
    let log = dir.join("fake-log");
    let state = dir.join("fake-state");
    let state_dir = dir.join("ergon-state");
    let env = [
        ("ERGON_NVML_LIBRARY", library.as_str()),
        ("FAKE_NVML_LOG", log.to_str().unwrap()),
        ("FAKE_NVML_STATE", state.to_str().unwrap()),
        ("ERGON_STATE_DIR", state_dir.to_str().unwrap()),
    ];
    let env: Vec<(&str, &str)> = env.iter().chain(extra_env).copied().collect();
    let args = [OsStr::new(mode)];
    let stdout = if valgrind {
        run_valgrind(exe, &args, &env);
        String::new()
    } else {
        run(exe, &args, &env)
    };
    GpuRun {
        stdout,
        log: std::fs::read_to_string(&log)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
        state: std::fs::read_to_string(&state)
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        dir: dir.to_path_buf(),
    }
}

fn calls(lines: &str) -> Vec<String> {
    lines
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn lock(mhz: u32) -> String {
    format!("nvmlDeviceSetGpuLockedClocks dev=0 min={mhz} max={mhz} -> SUCCESS")
}

/// Starting a plan executor through the C ABI: the clock ranges, the default power limit, the
/// originals read (twice: the state guard, then the GPU state file), then power limit to its
/// default, memory clock and graphics clock locked at their maxima.
const EXECUTOR_STARTUP: &str = "
    nvmlInit_v2 -> SUCCESS
    nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
    nvmlDeviceGetSupportedMemoryClocks dev=0 -> SUCCESS
    nvmlDeviceGetSupportedGraphicsClocks dev=0 mem=1215 -> SUCCESS
    nvmlDeviceGetPowerManagementDefaultLimit dev=0 -> SUCCESS
    nvmlDeviceGetUUID dev=0 -> SUCCESS
    nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS
    nvmlDeviceGetUUID dev=0 -> SUCCESS
    nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=400000 -> SUCCESS
    nvmlDeviceSetMemoryLockedClocks dev=0 min=1215 max=1215 -> SUCCESS
    nvmlDeviceSetGpuLockedClocks dev=0 min=1410 max=1410 -> SUCCESS";

/// Freeing it: the locks reset, the power limit back to the original 300 W.
const EXECUTOR_SHUTDOWN: &str = "
    nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS
    nvmlDeviceResetMemoryLockedClocks dev=0 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS
    nvmlShutdown -> SUCCESS";

/// The locks after startup: stage 0's plan is F F B B at 1200 1200 1005 1005 MHz, and every
/// iteration's end asks for the plan's highest clock (1200) for the work between iterations.
/// So the first iteration locks 1200 and 1005 (the second F and B are unchanged: no call) and
/// 1200 at its end; the second only 1005 and 1200 at its end; the refused instructions and the
/// one forward after them request nothing new; in the iteration after the rewind the first
/// backward locks 1005 and its end 1200 (applied before the executor restores).
const EXECUTOR_LOCKS: [u32; 7] = [1200, 1005, 1200, 1005, 1200, 1005, 1200];

/// The exact NVML calls of `executor run`.
fn executor_expected_log() -> Vec<String> {
    let mut log = calls(
        "
        nvmlInit_v2 -> SUCCESS
        nvmlDeviceGetCount_v2 -> SUCCESS
        nvmlShutdown -> SUCCESS
        nvmlInit_v2 -> SUCCESS
        nvmlDeviceGetCount_v2 -> SUCCESS
        nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
        nvmlDeviceGetUUID dev=0 -> SUCCESS
        nvmlDeviceGetName dev=0 -> SUCCESS
        nvmlDeviceGetArchitecture dev=0 -> SUCCESS
        nvmlDeviceGetPciInfo_v3 dev=0 -> SUCCESS
        nvmlDeviceGetMigMode dev=0 -> SUCCESS
        nvmlShutdown -> SUCCESS
        nvmlInit_v2 -> SUCCESS
        nvmlDeviceGetCount_v2 -> SUCCESS
        nvmlShutdown -> SUCCESS",
    );
    log.extend(calls(EXECUTOR_STARTUP));
    log.extend(EXECUTOR_LOCKS.into_iter().map(lock));
    log.extend(calls(EXECUTOR_SHUTDOWN));
    // An energy monitor for a UUID no GPU has (looked up exactly, then as a prefix), then one
    // for GPU 0: its architecture (Ampere: the energy counter), one counter read at start and
    // one per window begin/end (step, inner, inner, step; refused calls read nothing).
    log.extend(calls(
        "
        nvmlInit_v2 -> SUCCESS
        nvmlDeviceGetHandleByUUID uuid=GPU-ffffffff -> NOT_FOUND
        nvmlDeviceGetCount_v2 -> SUCCESS
        nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
        nvmlDeviceGetUUID dev=0 -> SUCCESS
        nvmlShutdown -> SUCCESS
        nvmlInit_v2 -> SUCCESS
        nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
        nvmlDeviceGetArchitecture dev=0 -> SUCCESS
        nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
        nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
        nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
        nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
        nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
        nvmlShutdown -> SUCCESS",
    ));
    log
}

/// `exe no-nvml` with `ERGON_NVML_LIBRARY` pointing nowhere: each of the `calls` GPU calls
/// reports "[NVML unavailable]", the program's checks pass, and the fake NVML is never loaded.
fn check_without_nvml(exe: &Path, name: &str, calls: usize) {
    let none = run_gpu(
        exe,
        "no-nvml",
        &gpu_run_dir(&format!("{name}-none")),
        false,
        false,
    );
    assert!(none.stdout.contains("all checks passed"), "{}", none.stdout);
    let reported = none.stdout.matches("[NVML unavailable]").count();
    assert_eq!(reported, calls, "{}", none.stdout);
    assert!(none.log.is_empty(), "{:#?}", none.log);
}

/// The lines `executor run` and `gpu run` print about the clock during each computation.
fn iteration_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            l.starts_with("iteration ") || l.starts_with("after ") || l.starts_with("before ")
        })
        .collect()
}

#[test]
fn c_executor_through_the_fake_nvml() {
    let expected = executor_expected_log();
    for link in links() {
        let exe = build("c/gpu.c", link);
        let name = format!("executor-{link:?}");
        let got = run_gpu(&exe, "run", &gpu_run_dir(&name), true, false);
        assert!(got.stdout.contains("all checks passed"), "{}", got.stdout);
        assert_eq!(
            iteration_lines(&got.stdout),
            [
                "after startup: 1410:1410",
                "iteration 1: F at 1200:1200",
                "iteration 1: F at 1200:1200",
                "iteration 1: B at 1005:1005",
                "iteration 1: B at 1005:1005",
                "iteration 2: F at 1200:1200",
                "iteration 2: F at 1200:1200",
                "iteration 2: B at 1005:1005",
                "iteration 2: B at 1005:1005",
                "after violations: F at 1200:1200",
                "iteration 3: F at 1200:1200",
                "iteration 3: F at 1200:1200",
                "iteration 3: B at 1005:1005",
                "iteration 3: B at 1005:1005",
                "after free: none",
            ],
            "{}",
            got.stdout
        );
        assert_eq!(got.log, expected, "{:#?}", got.log);
        assert_eq!(got.state, INITIAL_STATE);

        check_without_nvml(&exe, &name, 4);

        // A trainer killed with its executor running: the GPU state file lets
        // ergon_gpu_state_restore put back exactly what the executor changed.
        let dir = gpu_run_dir(&format!("{name}-abandon"));
        let abandoned = run_gpu(&exe, "abandon", &dir, true, false);
        assert!(
            abandoned.stdout.contains("abandoned at 1200:1200"),
            "{}",
            abandoned.stdout
        );
        assert_eq!(
            abandoned.state,
            "gpu=0 gpu_locked=1200:1200 mem_locked=1215:1215 power_limit_mw=400000 persistence=0"
        );
        assert!(
            abandoned
                .dir
                .join("ergon-state")
                .join(ergon_hwctl::STATE_FILE_NAME)
                .is_file()
        );
        let restored = run_gpu(&exe, "restore", &dir, true, false);
        assert!(
            restored.stdout.contains("restored 3"),
            "{}",
            restored.stdout
        );
        assert_eq!(restored.state, INITIAL_STATE);
        let tail: Vec<&String> = restored.log.iter().rev().take(7).rev().collect();
        let uuid = "nvmlDeviceGetHandleByUUID uuid=GPU-";
        assert!(
            tail[0].starts_with(uuid) && tail[2].starts_with(uuid),
            "{tail:#?}"
        );
        assert_eq!(tail[1], "nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS");
        assert_eq!(
            tail[3],
            "nvmlDeviceResetMemoryLockedClocks dev=0 -> SUCCESS"
        );
        assert_eq!(
            tail[5],
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS"
        );
        assert_eq!(tail[6], "nvmlShutdown -> SUCCESS");
        let again = run_gpu(&exe, "restore", &dir, true, false);
        assert!(again.stdout.contains("restored 0"), "{}", again.stdout);

        with_valgrind(link, "c/gpu.c", || {
            let dir = gpu_run_dir(&format!("{name}-valgrind"));
            let got = run_gpu(&exe, "run", &dir, true, true);
            assert_eq!(got.log, expected, "{:#?}", got.log);
            assert_eq!(got.state, INITIAL_STATE);
            let dir = gpu_run_dir(&format!("{name}-valgrind-none"));
            run_gpu(&exe, "no-nvml", &dir, false, true);
        });
    }
}

/// The fake's power model the profiler programs run under: 60 W idle, 300 W busy at the
/// maximum clock.
const POWER_MODEL: [(&str, &str); 2] = [("FAKE_NVML_IDLE_W", "60"), ("FAKE_NVML_POWER_W", "300")];

/// The fake's log lines that lock a graphics clock.
fn clock_locks(log: &[String]) -> Vec<&str> {
    log.iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("nvmlDeviceSetGpuLockedClocks"))
        .collect()
}

/// Runs a profiler program (`tests/c/gpu_profiler.c`, `tests/cpp/gpu_profiler.cpp`) in `mode`
/// under the power model, in a fresh directory `name`: it must pass its own checks (unless run
/// under valgrind, which prints nothing), lock 1410, 1110 and 810 MHz in that order, and leave
/// the fake GPU as it started.
fn profiler_run(exe: &Path, mode: &str, name: &str, valgrind: bool) -> GpuRun {
    let got = run_gpu_with(exe, mode, &gpu_run_dir(name), true, valgrind, &POWER_MODEL);
    if !valgrind {
        assert!(got.stdout.contains("all checks passed"), "{}", got.stdout);
    }
    assert_eq!(clock_locks(&got.log), [lock(1410), lock(1110), lock(810)]);
    assert_eq!(got.state, INITIAL_STATE);
    got
}

#[test]
fn c_profiler_through_the_fake_power_model() {
    let exe = build("c/gpu_profiler.c", Link::Shared);
    let got = profiler_run(&exe, "run", "profiler", false);
    // Every computation ran at the clock being profiled: 12 per clock.
    let runs: Vec<&str> = got
        .log
        .iter()
        .filter(|l| l.starts_with("fakeNvmlRun"))
        .map(|l| l.split(' ').nth(2).unwrap_or_default())
        .collect();
    assert_eq!(runs.len(), 36, "{:#?}", got.log);
    assert!(runs[12..24].iter().all(|m| *m == "mhz=1110"), "{runs:?}");
    with_valgrind(Link::Shared, "c/gpu_profiler.c", || {
        profiler_run(&exe, "valgrind", "profiler-valgrind", true);
    });
}

/// The fake's power-limit and persistence setters `tests/c/zeus.c` makes: persistence on, the
/// candidates 400, 250 and 100 W (the optimum, 100 W, already set), the restore; then the
/// optimizer whose aggregate fails: persistence on, 400 W, the restore after the failure.
const ZEUS_SETTERS: &str = "
    nvmlDeviceSetPersistenceMode dev=0 mode=1 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=400000 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=250000 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=100000 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS
    nvmlDeviceSetPersistenceMode dev=0 mode=0 -> SUCCESS
    nvmlDeviceSetPersistenceMode dev=0 mode=1 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=400000 -> SUCCESS
    nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS
    nvmlDeviceSetPersistenceMode dev=0 mode=0 -> SUCCESS";

/// The run made exactly the setters of [`ZEUS_SETTERS`] and left the fake GPU as it found it.
fn assert_zeus_setters(got: &GpuRun) {
    let setters: Vec<&String> = got
        .log
        .iter()
        .filter(|l| l.starts_with("nvmlDeviceSet"))
        .collect();
    assert_eq!(
        setters,
        calls(ZEUS_SETTERS).iter().collect::<Vec<_>>(),
        "{:#?}",
        got.log
    );
    assert_eq!(got.state, INITIAL_STATE);
}

#[test]
fn c_zeus_power_limit_optimizer_through_the_fake_nvml() {
    let exe = build("c/zeus.c", Link::Shared);
    let check = |mode: &str, name: &str, valgrind: bool| {
        let got = run_gpu_with(
            &exe,
            mode,
            &gpu_run_dir(name),
            true,
            valgrind,
            &[("FAKE_NVML_POWER_W", "250")],
        );
        if !valgrind {
            assert!(got.stdout.contains("all checks passed"), "{}", got.stdout);
        }
        assert_zeus_setters(&got);
    };
    check("run", "zeus", false);
    with_valgrind(Link::Shared, "c/zeus.c", || {
        check("valgrind", "zeus-valgrind", true)
    });
}

#[test]
fn cpp_zeus_power_limit_optimizer_through_the_fake_nvml() {
    let exe = build("cpp/zeus.cpp", Link::Shared);
    let got = run_gpu_with(
        &exe,
        "run",
        &gpu_run_dir("cpp-zeus"),
        true,
        false,
        &[("FAKE_NVML_POWER_W", "250")],
    );
    assert!(got.stdout.contains("all checks passed"), "{}", got.stdout);
    // The same setters as the C program's.
    assert_zeus_setters(&got);
}

#[test]
fn cpp_profiler_through_the_fake_power_model() {
    let exe = build("cpp/gpu_profiler.cpp", Link::Shared);
    profiler_run(&exe, "run", "cpp-profiler", false);
}

#[test]
fn cpp_gpu_classes_through_the_fake_nvml() {
    // Only the setters: the reads around them are those of the C program.
    let mut setters = vec![
        "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=400000 -> SUCCESS".to_owned(),
        "nvmlDeviceSetMemoryLockedClocks dev=0 min=1215 max=1215 -> SUCCESS".to_owned(),
        lock(1410),
    ];
    // Two iterations (by kind, then by name), then one forward after the violations.
    setters.extend([1200, 1005, 1200, 1005, 1200].into_iter().map(lock));
    setters.extend(
        calls(EXECUTOR_SHUTDOWN)
            .into_iter()
            .filter(|c| c != "nvmlShutdown -> SUCCESS"),
    );
    // The run changed exactly these settings and left the fake GPU as it found it.
    let check_setters = |got: &GpuRun| {
        let is_setter =
            |l: &&String| l.starts_with("nvmlDeviceSet") || l.starts_with("nvmlDeviceReset");
        let got_setters: Vec<&String> = got.log.iter().filter(is_setter).collect();
        assert_eq!(
            got_setters,
            setters.iter().collect::<Vec<_>>(),
            "{:#?}",
            got.log
        );
        assert_eq!(got.state, INITIAL_STATE);
    };
    for link in links() {
        let exe = build("cpp/gpu.cpp", link);
        let name = format!("gpu-cpp-{link:?}");
        let got = run_gpu(&exe, "run", &gpu_run_dir(&name), true, false);
        assert!(got.stdout.contains("all checks passed"), "{}", got.stdout);
        let mut expected_lines = vec!["after startup: 1410:1410".to_owned()];
        for iteration in 1..=2 {
            for (kind, mhz) in [
                ("forward", 1200),
                ("forward", 1200),
                ("backward", 1005),
                ("backward", 1005),
            ] {
                expected_lines.push(format!("iteration {iteration}: {kind} at {mhz}:{mhz}"));
            }
        }
        expected_lines.push("before close: 1200:1200".to_owned());
        expected_lines.push("after close: none".to_owned());
        assert_eq!(
            iteration_lines(&got.stdout),
            expected_lines,
            "{}",
            got.stdout
        );
        check_setters(&got);

        check_without_nvml(&exe, &name, 5);

        with_valgrind(link, "cpp/gpu.cpp", || {
            let dir = gpu_run_dir(&format!("{name}-valgrind"));
            let got = run_gpu(&exe, "run", &dir, true, true);
            check_setters(&got);
        });
    }
}

/// A C++ program compiled with this `ergon.hpp` (ABI 2) and linked against a library reporting
/// ABI version 1: `tests/cpp/abi_mismatch/fake_libergon_v1.c`, linked in as an object (no
/// search path can then substitute the real library, which cargo puts on LD_LIBRARY_PATH),
/// whose every other function aborts when called. Every constructor and free function of the
/// wrapper must throw `ergon::AbiMismatch`, naming both versions, before calling anything else
/// in the library. (The program sits in a subdirectory, so `every_program_is_run` does not
/// list it: it needs this fake, not the real library.)
#[test]
fn cpp_refuses_a_library_of_another_abi() {
    let dir = work_dir().join("abi-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let src = repo().join("tests/cpp/abi_mismatch");
    let fake = dir.join("fake_libergon_v1.o");
    let cc = compiler(false);
    let mut cmd = Command::new(&cc);
    cmd.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
        "-g",
        "-c",
    ])
    .arg(src.join("fake_libergon_v1.c"))
    .arg("-o")
    .arg(&fake);
    let out = spawn(&mut cmd, &cc);
    check_ok(&out, "fake_libergon_v1.c");
    let cxx = compiler(true);
    let exe = dir.join("abi_mismatch");
    let mut cmd = Command::new(&cxx);
    cmd.args([
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Werror",
        "-g",
        "-O1",
    ])
    .arg("-I")
    .arg(repo().join("include"))
    .arg("-I")
    .arg(repo().join("bindings/cpp"))
    .arg(src.join("abi_mismatch.cpp"))
    .arg(&fake)
    .arg("-o")
    .arg(&exe);
    let out = spawn(&mut cmd, &cxx);
    check_ok(&out, "abi_mismatch.cpp");
    let stdout = run(&exe, &[], &[]);
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert!(
        stdout.contains("implements ABI version 1")
            && stdout.contains(&format!("for ABI version {}", ergon::ERGON_ABI_VERSION)),
        "{stdout}"
    );
    if valgrind_available() {
        run_valgrind(&exe, &[], &[]);
    } else {
        eprintln!("valgrind not found: cpp/abi_mismatch ran without it");
    }
}

/// `scripts/install.sh` into `work_dir()/<name>`, copying this run's libraries instead of
/// building (each test its own prefix: the tests of this file run in parallel); returns the
/// prefix after checking that every file is there.
fn install(name: &str) -> PathBuf {
    let prefix = work_dir().join(name);
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/install.sh"))
        .arg(&prefix)
        .arg("--libs-from")
        .arg(lib_dir());
    let out = spawn(&mut cmd, "bash scripts/install.sh");
    check_ok(&out, "scripts/install.sh");
    for file in [
        "lib/libergon.so",
        "lib/libergon.a",
        "include/ergon.h",
        "include/ergon.hpp",
        "lib/pkgconfig/ergon.pc",
        "lib/cmake/ergon/ergonConfig.cmake",
        "lib/cmake/ergon/ergonConfigVersion.cmake",
    ] {
        assert!(prefix.join(file).is_file(), "{file} not installed");
    }
    prefix
}

/// `scripts/install.sh` into a temporary prefix, then a consumer built only through
/// `pkg-config --cflags --libs ergon`.
#[test]
fn install_and_pkg_config_consumer() {
    let prefix = install("prefix");
    // The real file is libergon.so.<ABI>.<minor>.<patch>; libergon.so.<ABI> (the SONAME) and
    // libergon.so link to it.
    let (minor, patch) = (
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    );
    let soname = format!("libergon.so.{}", ergon::ERGON_ABI_VERSION);
    let real = format!("{soname}.{minor}.{patch}");
    let lib = prefix.join("lib");
    assert!(
        !lib.join(&real).is_symlink() && lib.join(&real).is_file(),
        "{real}"
    );
    assert_eq!(
        std::fs::read_link(lib.join(&soname)).unwrap(),
        Path::new(&real)
    );
    assert_eq!(
        std::fs::read_link(lib.join("libergon.so")).unwrap(),
        Path::new(&soname)
    );
    assert_eq!(
        std::fs::read(prefix.join("include/ergon.h")).unwrap(),
        std::fs::read(repo().join("include/ergon.h")).unwrap()
    );

    let pkg_config = |args: &[&str]| {
        let mut cmd = Command::new("pkg-config");
        cmd.args(args)
            .arg("ergon")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"));
        let out = spawn(&mut cmd, "pkg-config");
        check_ok(&out, &format!("pkg-config {args:?} ergon"));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(pkg_config(&["--modversion"]), env!("CARGO_PKG_VERSION"));
    let flags = pkg_config(&["--cflags", "--libs"]);
    assert!(flags.contains("-lergon"), "{flags}");
    let static_libs = pkg_config(&["--static", "--libs"]);
    for lib in ["-lergon", "-lpthread", "-ldl", "-lm"] {
        assert!(
            static_libs.split_whitespace().any(|f| f == lib),
            "{static_libs}"
        );
    }

    let exe = work_dir().join("consumer");
    let cc = compiler(false);
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg(repo().join("tests/consumer/consumer.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace())
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
    let out = spawn(&mut cmd, &cc);
    check_ok(&out, "consumer build");
    let json = data_dir().join("a100_s2_m4.instance.json");
    let stdout = run(&exe, &[json.as_os_str()], &[]);
    assert!(stdout.contains("97 points"), "{stdout}");
    assert!(stdout.contains("T_min 0.335 s"), "{stdout}");

    // Statically: the installed archive and the private libraries the .pc file names.
    let exe = work_dir().join("consumer_static");
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg(repo().join("tests/consumer/consumer.c"))
        .arg("-o")
        .arg(&exe)
        .args(pkg_config(&["--cflags"]).split_whitespace())
        .arg(prefix.join("lib/libergon.a"))
        .args(
            static_libs
                .split_whitespace()
                .filter(|f| f.starts_with("-l") && *f != "-lergon"),
        );
    let out = spawn(&mut cmd, &cc);
    check_ok(&out, "static consumer build");
    let stdout = run(&exe, &[json.as_os_str()], &[]);
    assert!(stdout.contains("97 points"), "{stdout}");
}

/// The version of the installed CMake package: `<ABI>.<minor>.<patch>`, the numbers in the
/// installed library's file name (cmake/ergonConfigVersion.cmake.in says why).
fn cmake_package_version() -> String {
    format!(
        "{}.{}.{}",
        ergon::ERGON_ABI_VERSION,
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH")
    )
}

/// Whether `cmake` runs. Without it the CMake tests fail, saying how to install it, unless
/// `ERGON_SKIP_CMAKE=1` asks to skip them (scripts/test.sh sets it, with a warning, only where
/// it could not install cmake); a skip is printed, never silent.
fn cmake_or_skip(test: &str) -> bool {
    let found = Command::new("cmake")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return true;
    }
    assert!(
        std::env::var_os("ERGON_SKIP_CMAKE").is_some_and(|v| v == "1"),
        "cmake not found: {test} needs it (apt-get install cmake, or pip install cmake); \
         set ERGON_SKIP_CMAKE=1 to skip the CMake tests"
    );
    eprintln!("SKIPPED: {test}: cmake not found (ERGON_SKIP_CMAKE=1)");
    false
}

/// Runs `cmake args...`; returns its stdout and stderr (CMake prints messages on stderr).
fn cmake(args: &[&OsStr], what: &str) -> String {
    let mut cmd = Command::new("cmake");
    cmd.args(args);
    let out = spawn(&mut cmd, "cmake");
    check_ok(&out, what);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The values of the `tag` entries (`NEEDED`, `SONAME`) of an ELF file's dynamic section, as
/// `readelf -d` prints them in brackets.
fn dynamic_entries(file: &Path, tag: &str) -> Vec<String> {
    let mut cmd = Command::new("readelf");
    cmd.arg("-d").arg(file);
    let out = spawn(&mut cmd, "readelf");
    check_ok(&out, "readelf -d");
    let tag = format!("({tag})");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&tag))
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_string()))
        .collect()
}

/// Runs a build of examples/cpp/frontier.cpp on its built-in profile and on an instance file,
/// checks what it prints, and that it loads `libergon.so.<ABI>` exactly when `shared`.
fn check_cpp_example(exe: &Path, shared: bool) {
    let stdout = run(exe, &[], &[]);
    let banner = format!(
        "libergon {} (ABI {})\n",
        env!("CARGO_PKG_VERSION"),
        ergon::ERGON_ABI_VERSION
    );
    assert!(stdout.starts_with(&banner), "{stdout}");
    for line in [
        "frontier: 69 points, T_min 0.155 s, T* 0.200 s (58.3 J), T_max 0.224 s\n",
        "plan deadline 0.170 s, 65.6 J per iteration\n",
        "picked: the deadline plan (0.171 s = 1.10 T_min)\n",
        "stage 0: forward@1410 forward@1005 backward@1200 ",
        "DPK's default scheduler: dpk\n",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
    let json = data_dir().join("a100_s2_m4.instance.json");
    let stdout = run(exe, &[json.as_os_str()], &[]);
    assert!(
        stdout.contains("frontier: 97 points, T_min 0.335 s, T* 0.432 s"),
        "{stdout}"
    );
    let needed = dynamic_entries(exe, "NEEDED");
    let soname = format!("libergon.so.{}", ergon::ERGON_ABI_VERSION);
    assert_eq!(
        needed.contains(&soname),
        shared,
        "{}: NEEDED {needed:?}",
        exe.display()
    );
    assert!(
        needed
            .iter()
            .all(|l| !l.starts_with("libergon") || *l == soname),
        "{needed:?}"
    );
}

/// The warnings every build of the example is held to.
const EXAMPLE_CXXFLAGS: &str = "-O1 -Wall -Wextra -Wpedantic -Werror";

/// One source of truth, checked: the crate version (`CARGO_PKG_VERSION`), the ABI version
/// (`ERGON_ABI_VERSION`, the header's define, the loaded library's `ergon_abi_version()`, the
/// SONAME), the installed `ergon.pc`'s `Version`, and the CMake package as CMake itself reads
/// it (`ergon_VERSION`, `ergon_ABI_VERSION`, `ergon_CRATE_VERSION`, the imported targets'
/// properties) agree; `find_package` accepts the ABI's versions and refuses the others; and no
/// absolute prefix is written into the package (it is relocatable).
#[test]
fn install_cmake_package_versions_agree() {
    if !cmake_or_skip("install_cmake_package_versions_agree") {
        return;
    }
    let prefix = install("prefix-cmake-versions");
    let abi = ergon::ERGON_ABI_VERSION;
    let crate_version = env!("CARGO_PKG_VERSION");
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    let package_version = cmake_package_version();
    let soname = format!("libergon.so.{abi}");
    let library = prefix.join("lib").join(format!(
        "{soname}.{minor}.{}",
        env!("CARGO_PKG_VERSION_PATCH")
    ));

    assert_eq!(ergon::ergon_abi_version(), abi);
    // SAFETY: ergon_version returns a static NUL-terminated string.
    let loaded = unsafe { std::ffi::CStr::from_ptr(ergon::ergon_version()) };
    assert_eq!(loaded.to_str().unwrap(), crate_version);
    let header = std::fs::read_to_string(prefix.join("include/ergon.h")).unwrap();
    assert!(
        header.contains(&format!("\n#define ERGON_ABI_VERSION {abi}\n")),
        "installed ergon.h"
    );
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/ergon.pc")).unwrap();
    assert!(
        pc.contains(&format!("\nVersion: {crate_version}\n")),
        "{pc}"
    );
    assert!(pc.contains("\nLibs.private: -lpthread -ldl -lm\n"), "{pc}");
    assert_eq!(
        dynamic_entries(&library, "SONAME"),
        std::slice::from_ref(&soname)
    );
    for file in ["ergonConfig.cmake", "ergonConfigVersion.cmake"] {
        let text = std::fs::read_to_string(prefix.join("lib/cmake/ergon").join(file)).unwrap();
        assert!(
            !text.contains(prefix.to_str().unwrap()) && !text.contains("@ERGON_"),
            "{file} names the prefix or keeps a placeholder:\n{text}"
        );
    }

    // A project that enables no language (so configuring it is quick) and finds the package
    // only under this prefix, printing what CMake read.
    let probe = work_dir().join("cmake-probe");
    std::fs::create_dir_all(&probe).unwrap();
    std::fs::write(
        probe.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.19)\nproject(probe NONE)\n\
         find_package(ergon ${V} CONFIG QUIET NO_DEFAULT_PATH PATHS \"${PREFIX}\")\n\
         message(\"found=${ergon_FOUND}\")\n\
         if(ergon_FOUND)\n\
           get_target_property(loc ergon::ergon IMPORTED_LOCATION)\n\
           get_target_property(soname ergon::ergon IMPORTED_SONAME)\n\
           get_target_property(inc ergon::ergon INTERFACE_INCLUDE_DIRECTORIES)\n\
           get_target_property(static_loc ergon::ergon_static IMPORTED_LOCATION)\n\
           get_target_property(static_libs ergon::ergon_static INTERFACE_LINK_LIBRARIES)\n\
           get_target_property(features ergon::ergon INTERFACE_COMPILE_FEATURES)\n\
           get_target_property(static_features ergon::ergon_static INTERFACE_COMPILE_FEATURES)\n\
           message(\"version=${ergon_VERSION}\\nabi=${ergon_ABI_VERSION}\\n\
         crate=${ergon_CRATE_VERSION}\\nlocation=${loc}\\nsoname=${soname}\\n\
         include=${inc}\\nstatic=${static_loc}\\nstatic_libs=${static_libs}\\n\
         features=${features}\\nstatic_features=${static_features}\")\n\
         endif()\n",
    )
    .unwrap();
    let find = |version: &str| -> String {
        let build = probe.join(format!("build-{}", version.replace(['.', '<'], "_")));
        let _ = std::fs::remove_dir_all(&build);
        cmake(
            &[
                OsStr::new("-S"),
                probe.as_os_str(),
                OsStr::new("-B"),
                build.as_os_str(),
                OsStr::new(&format!("-DV={version}")),
                OsStr::new(&format!("-DPREFIX={}", prefix.display())),
            ],
            &format!("cmake probe find_package(ergon {version})"),
        )
    };
    let found = find(&abi.to_string());
    for line in [
        "found=1".to_string(),
        format!("version={package_version}"),
        format!("abi={abi}"),
        format!("crate={crate_version}"),
        format!("location={}", library.display()),
        format!("soname={soname}"),
        format!("include={}", prefix.join("include").display()),
        format!("static={}", prefix.join("lib/libergon.a").display()),
        "static_libs=pthread;dl;m".to_string(),
        "features=cxx_std_17".to_string(),
        "static_features=cxx_std_17".to_string(),
    ] {
        assert!(
            found.lines().any(|l| l == line),
            "{line:?} not in:\n{found}"
        );
    }
    assert!(package_version.starts_with(&format!("{abi}.")));
    // Any version of this ABI, up to the installed one, is accepted; the ABI before and after,
    // a crate version, and a later minor version are refused.
    for accepted in [
        String::new(),
        format!("{abi}.{minor}"),
        package_version.clone(),
        format!("{abi}...<{}", abi + 1),
    ] {
        let out = find(&accepted);
        assert!(
            out.contains("found=1"),
            "find_package(ergon {accepted}):\n{out}"
        );
    }
    for refused in [
        (abi - 1).to_string(),
        (abi + 1).to_string(),
        crate_version.to_string(),
        format!("{abi}.{}", minor + 1),
        format!("{}...<{}", abi - 1, abi + 1),
    ] {
        let out = find(&refused);
        assert!(
            out.contains("found=0"),
            "find_package(ergon {refused}):\n{out}"
        );
    }
}

/// examples/cpp configured with CMake against an installed prefix (find_package(ergon 2 CONFIG
/// REQUIRED), as its README says), built linked against `ergon::ergon` and, with
/// `-DERGON_STATIC=ON`, against `ergon::ergon_static`, and run.
#[test]
fn install_and_cmake_cpp_example() {
    if !cmake_or_skip("install_and_cmake_cpp_example") {
        return;
    }
    let prefix = install("prefix-cmake-example");
    let config_dir = prefix.join("lib/cmake/ergon");
    for (name, shared) in [("cmake-shared", true), ("cmake-static", false)] {
        let build = work_dir().join(name);
        let _ = std::fs::remove_dir_all(&build);
        let configured = cmake(
            &[
                OsStr::new("-S"),
                repo().join("examples/cpp").as_os_str(),
                OsStr::new("-B"),
                build.as_os_str(),
                OsStr::new(&format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
                OsStr::new(&format!("-DCMAKE_CXX_COMPILER={}", compiler(true))),
                OsStr::new(&format!("-DCMAKE_CXX_FLAGS={EXAMPLE_CXXFLAGS}")),
                OsStr::new(&format!(
                    "-DERGON_STATIC={}",
                    if shared { "OFF" } else { "ON" }
                )),
            ],
            &format!("cmake configure examples/cpp ({name})"),
        );
        let found = format!(
            "Found ergon {} (ABI {}, crate {}) in {}",
            cmake_package_version(),
            ergon::ERGON_ABI_VERSION,
            env!("CARGO_PKG_VERSION"),
            config_dir.display()
        );
        assert!(
            configured.contains(&found),
            "{found:?} not in:\n{configured}"
        );
        cmake(
            &[OsStr::new("--build"), build.as_os_str()],
            &format!("cmake --build examples/cpp ({name})"),
        );
        check_cpp_example(&build.join("ergon_frontier"), shared);
    }
}

/// examples/cpp copied as a user would and built with its Makefile, through pkg-config:
/// `make` (libergon.so) and `make static` (libergon.a), then run.
#[test]
fn install_and_pkg_config_cpp_example() {
    let prefix = install("prefix-make-example");
    let dir = work_dir().join("make-example");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["frontier.cpp", "Makefile"] {
        std::fs::copy(repo().join("examples/cpp").join(file), dir.join(file)).unwrap();
    }
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(&dir)
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("CXX={}", compiler(true)))
        .arg(format!("CXXFLAGS={EXAMPLE_CXXFLAGS}"))
        .args(["all", "static"]);
    let out = spawn(&mut cmd, "make");
    check_ok(&out, "make -C examples/cpp all static");
    check_cpp_example(&dir.join("ergon_frontier"), true);
    check_cpp_example(&dir.join("ergon_frontier_static"), false);
}

/// A C project (no C++ enabled) finds the package and builds `tests/consumer/consumer.c`
/// against both imported targets: what they carry for C++ users (the `cxx_std_17` compile
/// feature, for ergon.hpp) must not get in a C user's way.
#[test]
fn install_and_cmake_c_consumer() {
    if !cmake_or_skip("install_and_cmake_c_consumer") {
        return;
    }
    let prefix = install("prefix-cmake-c");
    let dir = work_dir().join("cmake-c");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("CMakeLists.txt"),
        format!(
            "cmake_minimum_required(VERSION 3.14)\nproject(c_consumer LANGUAGES C)\n\
             find_package(ergon {} CONFIG REQUIRED)\n\
             add_executable(consumer \"{src}\")\n\
             target_link_libraries(consumer PRIVATE ergon::ergon)\n\
             add_executable(consumer_static \"{src}\")\n\
             target_link_libraries(consumer_static PRIVATE ergon::ergon_static)\n",
            ergon::ERGON_ABI_VERSION,
            src = repo().join("tests/consumer/consumer.c").display()
        ),
    )
    .unwrap();
    let build = dir.join("build");
    cmake(
        &[
            OsStr::new("-S"),
            dir.as_os_str(),
            OsStr::new("-B"),
            build.as_os_str(),
            OsStr::new(&format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
            OsStr::new(&format!("-DCMAKE_C_COMPILER={}", compiler(false))),
            OsStr::new("-DCMAKE_C_FLAGS=-std=c11 -Wall -Wextra -Wpedantic -Werror"),
        ],
        "cmake configure of a C consumer",
    );
    cmake(
        &[OsStr::new("--build"), build.as_os_str()],
        "cmake --build of a C consumer",
    );
    let json = data_dir().join("a100_s2_m4.instance.json");
    for exe in ["consumer", "consumer_static"] {
        let stdout = run(&build.join(exe), &[json.as_os_str()], &[]);
        assert!(
            stdout.contains("97 points, T_min 0.335 s"),
            "{exe}: {stdout}"
        );
    }
}
