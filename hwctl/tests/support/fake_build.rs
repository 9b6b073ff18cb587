//! Compiling the fake NVML library (`tests/fake-nvml/fake_nvml.c`), with no dependency on
//! hwctl: the tests' `support` module and `benches/executor.rs` include this file, and any
//! other crate's tests can include it by path as well.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles the fake into `dir/libnvidia-ml.so.1` with `$CC` (default `cc`), adding `flags`
/// (optimisation, warnings, defines) to the shared-library ones. Other processes may be loading
/// a previous build, so the new one is written beside it and renamed over it. Says why when the
/// compiler cannot be run or fails.
pub fn compile_fake(dir: &Path, flags: &[&str]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let library = dir.join("libnvidia-ml.so.1");
    let partial = dir.join(format!("libnvidia-ml.so.1.{}", std::process::id()));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fake-nvml/fake_nvml.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .args([
            "-shared",
            "-fPIC",
            "-fvisibility=hidden",
            "-Wl,-soname,libnvidia-ml.so.1",
        ])
        .args(flags)
        .arg("-o")
        .arg(&partial)
        .arg(&source)
        .args(["-lpthread", "-lm"])
        .output()
        .map_err(|e| format!("cannot run the C compiler {cc:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the fake NVML failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::rename(&partial, &library)
        .map_err(|e| format!("cannot move the fake NVML into place: {e}"))?;
    Ok(library)
}
