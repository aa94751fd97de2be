//! Accounting: what each process costs, for the observer and operators.
//!
//! Three figures per process, each kept where it costs the message path
//! nothing it did not already pay:
//!
//! - **Messages sent** are counted by the sending process itself (a load
//!   and a store on its own counter: only its task sends as it).
//! - **Messages received** are counted under the lock that a receive holds
//!   anyway, in bytes the process state had as padding.
//! - **CPU time** is reported by the backend that runs the body, from a
//!   clock it already has: the Wasm backend counts the epoch ticks its
//!   guest was running through, in the epoch callback that interrupts a
//!   running guest at each tick anyway (see `rusm-wasm`'s `cpu.rs`). The
//!   core itself times nothing: an earlier design wrapped every poll of
//!   every body in a meter (two loads of a shared clock per poll), and on
//!   a ping-pong that alone cost a few per cent of the round trip, a cost
//!   paid by every message for a figure read once a second. A native body
//!   (a supervisor, host code) reports no CPU time and shows 0.
//!
//! The counters are 32 bits (see `process.rs` for why): message counts
//! wrap at 2^32 and the CPU time saturates at 49 days. When a process
//! ends, its final figures go to [`Lifecycle::retired`](crate::Lifecycle::retired),
//! so that node-wide totals can stay monotonic.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::process::Process;

/// What one process used, in its lifetime so far (or in all of it, when
/// handed to [`Lifecycle::retired`](crate::Lifecycle::retired)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Milliseconds of CPU its body used, as its backend reported it (see
    /// the module docs; 0 for a native body).
    pub cpu_ms: u64,
    /// Data messages it sent (modulo 2^32).
    pub messages_sent: u64,
    /// Messages it took from its mailbox (modulo 2^32).
    pub messages_received: u64,
}

impl Process {
    /// This process's usage so far; `received` is read under its lock by
    /// the caller.
    pub(crate) fn usage(&self, received: u32) -> Usage {
        Usage {
            cpu_ms: u64::from(self.cpu_ms.load(Ordering::Relaxed)),
            messages_sent: u64::from(self.sent.load(Ordering::Relaxed)),
            messages_received: u64::from(received),
        }
    }

    /// Record the CPU time the body has used in all, as its backend
    /// measured it. A store, not an add: only the process's own task
    /// reports, and the backend keeps the running total.
    pub(crate) fn set_cpu_time(&self, used: Duration) {
        let ms = u32::try_from(used.as_millis()).unwrap_or(u32::MAX);
        self.cpu_ms.store(ms, Ordering::Relaxed);
    }
}
