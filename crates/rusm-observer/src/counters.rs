//! Counters written on every spawn and exit, from every worker thread.
//!
//! One atomic per figure would be one cache line that every core writes on
//! every exit: on two cores that line would bounce at each one. Each
//! figure is instead striped over a few padded slots, one per thread (the
//! first eight threads that count get a slot of their own; past eight,
//! threads share), and reading sums the slots.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

const STRIPES: usize = 8;

/// A monotonic counter, striped.
pub(crate) struct Striped {
    slots: [CachePadded<AtomicU64>; STRIPES],
}

impl Striped {
    pub(crate) fn new() -> Self {
        Striped {
            slots: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.slots[stripe()].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.slots
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.load(Ordering::Relaxed)))
    }
}

/// This thread's slot.
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}
