//! Counters written on every spawn and exit, from every worker thread.
//!
//! One atomic per figure would be one cache line that every core writes on
//! every spawn: on two cores that line would bounce at each spawn and exit.
//! Each figure is instead striped over a few padded slots chosen by pid
//! (consecutive pids land on different slots, so the spawns of one core and
//! the exits of another rarely meet), and reading sums the slots.

use std::sync::atomic::{AtomicU64, Ordering};

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
    pub(crate) fn add(&self, key: u64, n: u64) {
        self.slots[(key as usize) % STRIPES].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.slots
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.load(Ordering::Relaxed)))
    }
}
