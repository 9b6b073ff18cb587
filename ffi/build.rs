//! Gives the shared library its SONAME, `libergon.so.<ABI version>`, so that a program linked
//! against ABI 2 asks the loader for `libergon.so.2` and never picks up an incompatible
//! `libergon.so.3` (docs/abi.md, "Versioning"). The number is read from `ERGON_ABI_VERSION` in
//! `src/lib.rs`, so that the two cannot disagree.

use std::path::Path;

fn main() -> Result<(), String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let lib_rs = Path::new(&dir).join("src/lib.rs");
    println!("cargo:rerun-if-changed={}", lib_rs.display());
    let source = std::fs::read_to_string(&lib_rs)
        .map_err(|e| format!("cannot read {}: {e}", lib_rs.display()))?;
    let abi = abi_version(&source)
        .ok_or("src/lib.rs does not define `pub const ERGON_ABI_VERSION: u32 = N;`")?;
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // ELF platforms whose linkers take -soname; macOS has install names, Windows neither.
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libergon.so.{abi}");
    }
    Ok(())
}

/// The value of `pub const ERGON_ABI_VERSION: u32 = N;`.
fn abi_version(source: &str) -> Option<u32> {
    source.lines().find_map(|line| {
        line.trim()
            .strip_prefix("pub const ERGON_ABI_VERSION: u32 =")?
            .trim()
            .strip_suffix(';')?
            .trim()
            .parse()
            .ok()
    })
}
