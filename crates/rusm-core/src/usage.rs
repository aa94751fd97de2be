//! Accounting: what each process costs, for the observer and operators.
//!
//! Three figures per process, each kept where it is cheapest to keep:
//!
//! - **Messages sent** are counted by the sending process itself (a load
//!   and a store on its own counter: only its task sends as it).
//! - **Messages received** are counted under the lock that a receive holds
//!   anyway, in bytes the process state had as padding.
//! - **CPU time** is *sampled*, not timed: with accounting on
//!   ([`NodeConfig::accounting`](crate::NodeConfig::accounting)), a thread
//!   advances a millisecond counter, and each poll of a body adds how far
//!   that counter moved while it ran. Two relaxed loads per poll instead of
//!   two clock reads (which would cost a ping-pong round trip a sixth of
//!   its time); a poll shorter than a millisecond counts 0 or 1 in
//!   proportion to its length, so the sum over many polls is the CPU time
//!   to within a millisecond per poll that crossed a tick.
//!
//! The counters are 32 bits (see `process.rs` for why): message counts
//! wrap at 2^32 and the CPU time saturates at 49 days. When a process
//! ends, its final figures go to [`Lifecycle::retired`](crate::Lifecycle::retired),
//! so that node-wide totals can stay monotonic.

use std::future::{Future, poll_fn};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::process::Process;

/// What one process used, in its lifetime so far (or in all of it, when
/// handed to [`Lifecycle::retired`](crate::Lifecycle::retired)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Milliseconds of CPU its body used (sampled; see the module docs).
    pub cpu_ms: u64,
    /// Data messages it sent (modulo 2^32).
    pub messages_sent: u64,
    /// Messages it took from its mailbox (modulo 2^32).
    pub messages_received: u64,
}

/// The coarse clock CPU time is sampled with: milliseconds since the
/// first node with accounting started it, advanced by a thread of its own.
/// One per host process, not per node: a spawn then reaches it without an
/// `Arc` (whose count every spawn on every core would write).
static MILLIS: AtomicU32 = AtomicU32::new(0);
static CLOCK: Once = Once::new();

/// How often the clock thread wakes.
const TICK: Duration = Duration::from_millis(1);

/// Start the clock thread, once per host process.
pub(crate) fn start_clock() {
    CLOCK.call_once(|| {
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("rusm-cpu-clock".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    // Elapsed time, not a count of wake-ups: a late
                    // wake-up must not make CPU time run slow.
                    let ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
                    MILLIS.store(ms, Ordering::Relaxed);
                }
            });
        if let Err(e) = spawned {
            // Without its thread the clock stands still: CPU time reads 0,
            // and nothing else changes.
            tracing::warn!(error = %e, "could not start the CPU-accounting clock");
        }
    });
}

#[inline]
fn now() -> u32 {
    MILLIS.load(Ordering::Relaxed)
}

/// Run `body` to completion, adding to `process`'s CPU time how far the
/// clock moved during each poll.
pub(crate) async fn metered<F: Future>(process: &Process, body: F) -> F::Output {
    let mut body = std::pin::pin!(body);
    poll_fn(move |cx| {
        let start = now();
        let outcome = body.as_mut().poll(cx);
        let spent = now().wrapping_sub(start);
        if spent != 0 {
            // Only this task polls the body: a load and a store suffice.
            let total = process.cpu_ms.load(Ordering::Relaxed).saturating_add(spent);
            process.cpu_ms.store(total, Ordering::Relaxed);
        }
        match outcome {
            Poll::Ready(v) => Poll::Ready(v),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
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
}
