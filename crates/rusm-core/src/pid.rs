//! Identifiers handed out by a node: process ids and references.

use std::fmt;

/// A process identifier. Unique for the lifetime of a node and never reused:
/// a stale pid can only ever name a dead process, never a stranger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u64);

impl Pid {
    /// The sender of signals that come from the node itself (a graceful
    /// shutdown), not from a process. Real pids start at 1.
    pub const NODE: Pid = Pid(0);

    /// The raw number, as guests see it.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A node-wide unique reference (`make_ref`, monitor references, timer ids
/// all draw from one counter, so a reference never collides with another
/// kind of reference). Always greater than zero.
pub type Ref = i64;
