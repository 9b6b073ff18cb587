//! The batcher's hot path does not allocate: `ergon_orloj_batcher_next_batch` (without the expected
//! time) and `ergon_orloj_batcher_complete` are counted by a global allocator that tallies this
//! thread's allocations (its own test binary, so that no other test shares the allocator).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::{null, null_mut};

use common::next_batch;
use ergon::*;

mod common;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn app(kind: u32) -> ergon_orloj_app {
    ergon_orloj_app {
        name: "app".as_ptr().cast(),
        name_len: 3,
        slo_s: 0.05,
        kind,
        value_s: 0.012,
        low_s: 0.006,
        high_s: 0.020,
        p_low: 0.3,
        mean_s: 0.030,
        cv: 1.0,
        samples_s: null(),
        num_samples: 0,
    }
}

#[test]
fn deciding_and_completing_do_not_allocate() {
    let apps = [
        app(ERGON_ORLOJ_EXEC_BIMODAL),
        app(ERGON_ORLOJ_EXEC_LOGNORMAL),
        app(ERGON_ORLOJ_EXEC_CONSTANT),
    ];
    let mut verified = 0;
    for policy in [
        ERGON_ORLOJ_POLICY_ORLOJ,
        ERGON_ORLOJ_POLICY_CLOCKWORK,
        ERGON_ORLOJ_POLICY_NEXUS,
        ERGON_ORLOJ_POLICY_CLIPPER,
        ERGON_ORLOJ_POLICY_EDF,
        ERGON_ORLOJ_POLICY_FIFO,
    ] {
        let o = ergon_orloj_batcher_options {
            policy,
            ..ergon_orloj_batcher_options_default()
        };
        let mut b = null_mut();
        unsafe {
            assert_eq!(
                ergon_orloj_batcher_new(apps.as_ptr(), apps.len(), null(), 8, &o, &mut b),
                ergon_status::Ok
            );
        }
        let (mut batch, mut dropped) = ([0u64; 8], vec![0u64; 512]);
        let (mut nb, mut nd) = (0, 0);
        let mut decide = |b: *mut ergon_orloj_batcher, now_s: f64| unsafe {
            assert_eq!(
                next_batch(
                    b,
                    now_s,
                    (batch.as_mut_ptr(), batch.len()),
                    (dropped.as_mut_ptr(), dropped.len()),
                    (&mut nb, &mut nd),
                    null_mut(),
                ),
                ergon_status::Ok
            );
            nb + nd
        };
        let mut id = 0u64;
        let mut now = 0.0;
        // `count` requests spread over the three applications, due 50 ms after `now`.
        let mut arrive = |count: usize, now: f64| {
            for _ in 0..count {
                let app = (id % 3) as usize;
                let status = unsafe { ergon_orloj_batcher_enqueue(b, app, id, now, now + 0.05) };
                assert_eq!(status, ergon_status::Ok);
                id += 1;
            }
        };
        // Warm up: the first decision sizes the policy's caches.
        arrive(300, now);
        decide(b, now);
        let mut handled = 0;
        let mut counted = 0;
        for round in 0..50 {
            now += 0.004;
            arrive(6, now);
            let before = allocations();
            handled += decide(b, now);
            unsafe {
                assert_eq!(
                    ergon_orloj_batcher_complete(b, round % 3, 0.01),
                    ergon_status::Ok
                );
                assert_eq!(ergon_orloj_batcher_batch_done(b, 0.01), ergon_status::Ok);
            }
            counted += allocations() - before;
        }
        assert!(handled > 0, "policy {policy}: nothing decided");
        assert_eq!(counted, 0, "policy {policy}: the hot path allocated");
        // The counter sees the library's allocations: asking for the expected time of a batch
        // costs one (the batch distribution).
        unsafe {
            assert_eq!(
                ergon_orloj_batcher_enqueue(b, 0, id, now, now + 1.0),
                ergon_status::Ok
            );
            let (mut one, mut t) = ([0u64; 8], 0.0);
            let before = allocations();
            assert_eq!(
                next_batch(
                    b,
                    now,
                    (one.as_mut_ptr(), 8),
                    (null_mut(), 0),
                    (&mut nb, &mut nd),
                    &mut t
                ),
                ergon_status::Ok
            );
            if nb > 0 {
                assert!(
                    allocations() > before,
                    "policy {policy}: allocations not counted"
                );
                verified += 1;
            }
        }
        unsafe { ergon_orloj_batcher_free(b) };
    }
    assert!(verified > 0, "no policy ran the counted batch");
}
