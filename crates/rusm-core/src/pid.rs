//! Identifiers handed out by a node: process ids and references.

use std::fmt;

/// A process identifier. Unique for the lifetime of a node and never reused:
/// a stale pid can only ever name a dead process, never a stranger.
///
/// On a node in a cluster a pid also names its node: the bits above
/// [`Pid::SERIAL_BITS`] hold the node's id (see [`Pid::node_id`]), which
/// is made of a hash of the node's name and its *creation*, a number that
/// changes each time the node starts, so that a pid from before a restart
/// never names a process after it. A node outside a cluster has id 0: its
/// pids are plain serial numbers, as they always were. Every pid fits an
/// `i64` above zero (the contract's type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u64);

impl Pid {
    /// The sender of signals that come from the node itself (a graceful
    /// shutdown), not from a process. Real pids start at 1.
    pub const NODE: Pid = Pid(0);

    /// The bits of a pid's serial number: about 5.5 × 10¹¹ spawns per run
    /// of a node. The 24 bits above them (63 in all, so the pid stays a
    /// positive `i64`) are the node id.
    pub const SERIAL_BITS: u32 = 39;

    /// The largest node id.
    pub const MAX_NODE_ID: u32 = (1 << (63 - Pid::SERIAL_BITS)) - 1;

    /// The raw number, as guests see it.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id of the node it names: 0 for a node outside a cluster.
    pub fn node_id(self) -> u32 {
        (self.0 >> Pid::SERIAL_BITS) as u32
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
