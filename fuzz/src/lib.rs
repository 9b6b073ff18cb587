//! The bodies of ergon's fuzz targets, one function per target (`fuzz_targets/<name>.rs` calls
//! `<module>::<name>`). The same files are compiled into the main workspace's
//! `core/tests/fuzz_regressions.rs` (readers, solvers) and `ffi/tests/fuzz_regressions.rs`
//! (abi), which replay every file of `fuzz/regressions/<target>/` and `fuzz/corpus/<target>/`
//! through the same function on stable. A body panics only when ergon breaks a promise.

pub mod abi;
pub mod readers;
pub mod solvers;
