//! References: numbers unique within a node that no process can predict.
//!
//! A reference tags a request so that only its reply matches a selective
//! receive (`make_ref`), names a monitor (a `down` carries it) and a timer.
//! A guest that could guess another process's next reference could answer
//! a request it never received, or cancel someone else's timer. So a
//! reference is a counter passed through a keyed permutation: a four-round
//! Feistel network over 62 bits whose round function is SipHash under a
//! key drawn at random per node. A permutation keeps every reference
//! unique for 2^62 draws; the key keeps the sequence unpredictable.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::Ref;

/// Every reference is at least this: references share the tag space with
/// the small constants protocols pick by hand (1, 2, 100, ...), and
/// staying past every 32-bit number keeps a reference from ever matching
/// such a constant in a selective receive.
pub const FIRST_REF: Ref = 1 << 32;

const HALF_BITS: u32 = 31;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;
const ROUNDS: u8 = 4;

pub(crate) struct References {
    next: CachePadded<AtomicU64>,
    /// SipHash keyed at random (std's `RandomState`): the round function.
    key: RandomState,
}

impl References {
    pub(crate) fn new() -> Self {
        References {
            next: CachePadded::new(AtomicU64::new(0)),
            key: RandomState::new(),
        }
    }

    /// A new reference: in `FIRST_REF..FIRST_REF + 2^62`, so always > 0.
    pub(crate) fn make(&self) -> Ref {
        let n = self.next.fetch_add(1, Ordering::Relaxed) & ((1 << (2 * HALF_BITS)) - 1);
        let (mut left, mut right) = (n >> HALF_BITS, n & HALF_MASK);
        for round in 0..ROUNDS {
            let f = self.key.hash_one((round, right)) & HALF_MASK;
            (left, right) = (right, left ^ f);
        }
        FIRST_REF + ((left << HALF_BITS) | right) as Ref
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn references_are_unique_positive_and_not_sequential() {
        let refs = References::new();
        let all: Vec<Ref> = (0..200_000).map(|_| refs.make()).collect();
        assert!(all.iter().all(|&r| r >= FIRST_REF));
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
        // Consecutive references differ in about half their bits, not by one.
        let close = all
            .windows(2)
            .filter(|w| (w[1] - w[0]).abs() < 1 << 20)
            .count();
        assert!(close < 10, "{close} consecutive references were close");
        // Two nodes draw different sequences.
        assert_ne!(References::new().make(), References::new().make());
    }
}
