#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Cost of crossing the C ABI: a trivial call (read one point of a solved frontier) through
//! the exported `extern "C"` function, panic boundary and handle checks included.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ergon::{
    ergon_perseus_frontier, ergon_perseus_frontier_free, ergon_perseus_frontier_from_instance_json,
    ergon_perseus_frontier_point, ergon_perseus_frontier_solve, ergon_perseus_point, ergon_status,
};

fn bench_abi(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/perseus/a100_s4_m8.instance.json"
    );
    let Ok(json) = std::fs::read_to_string(path) else {
        eprintln!("skipping: {path} not found");
        return;
    };
    let mut f: *mut ergon_perseus_frontier = std::ptr::null_mut();
    // SAFETY: valid pointers and lengths; the handle is freed below.
    unsafe {
        assert_eq!(
            ergon_perseus_frontier_from_instance_json(json.as_ptr().cast(), json.len(), &mut f),
            ergon_status::Ok
        );
        assert_eq!(ergon_perseus_frontier_solve(f), ergon_status::Ok);
    }
    let mut p = ergon_perseus_point::default();
    c.bench_function("abi/ergon_perseus_frontier_point", |b| {
        // SAFETY: `f` is a live solved handle, `p` is writable.
        b.iter(|| unsafe {
            black_box(ergon_perseus_frontier_point(
                black_box(f),
                black_box(10),
                &mut p,
            ))
        })
    });
    // SAFETY: made above, not used afterwards.
    unsafe { ergon_perseus_frontier_free(f) };
}

criterion_group!(benches, bench_abi);
criterion_main!(benches);
