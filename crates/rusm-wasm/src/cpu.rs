//! CPU time per process, from the epoch ticks the guest ran through.
//!
//! Every engine's epoch is bumped by one ticker thread (`engine.rs`), and
//! each store's epoch callback runs at the first epoch check (a function
//! entry or loop back-edge in the guest's code) after the epoch passes
//! the store's deadline; the callback makes the guest yield and sets the
//! deadline one tick ahead. That callback runs anyway, about once per tick
//! per *running* guest and never for an idle one, so counting there puts
//! nothing on the message path: no clock read, no counter per send,
//! receive or poll.
//!
//! The count has one subtlety. The callback fires at the first check
//! after the deadline, not at the tick itself: a guest that parked in a
//! host call (a receive, a sleep) for ten ticks meets its old deadline at
//! its first check after waking, and had used none of those ticks. So the
//! meter also reads the ticker's own tick count, and charges a tick only
//! when exactly one tick passed since the previous callback: the guest was
//! running Wasm (or in a short host call) from one tick to the next. A
//! wake-up after a longer wait charges nothing and starts a new run.
//!
//! What that measures, in the terms of a sampling profiler: the ticks at
//! which the guest was on a worker thread, each worth one tick period
//! (1 ms by default). A busy guest is charged its running time to within
//! a tick per run; a guest that runs for microseconds between long waits
//! is charged nothing. The error per run is at most one tick either way:
//! a guest that parks and wakes again just after one tick boundary is
//! charged that tick, one that starts running just before a boundary is
//! not. Time in a host call that does not park (a send, a storage read
//! from the cache) counts as the guest's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusm_core::Ctx;

/// The ticker's count of ticks, which the meters compare against. It
/// starts at 2, so a new meter (whose last tick is 0) never reads as one
/// tick behind.
pub(crate) struct EpochClock {
    ticks: AtomicU64,
    /// How long one tick is.
    pub(crate) tick: Duration,
}

impl EpochClock {
    pub(crate) fn new(tick: Duration) -> Self {
        EpochClock {
            ticks: AtomicU64::new(2),
            tick,
        }
    }

    /// Called by the ticker *before* it bumps the engines' epochs, so a
    /// callback that an epoch bump triggers finds the new count.
    pub(crate) fn advance(&self) {
        self.ticks.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn now(&self) -> u64 {
        self.ticks.load(Ordering::Acquire)
    }
}

/// One process's CPU meter, in its store data.
#[derive(Default)]
pub(crate) struct CpuMeter {
    /// The tick count at the previous epoch callback (0: none yet).
    last: u64,
    /// Ticks charged so far.
    charged: u32,
}

impl CpuMeter {
    /// The epoch callback ran at tick `now`: charge one tick if the guest
    /// ran from the previous tick to this one (see the module docs), and
    /// tell the process's context the new total.
    pub(crate) fn on_epoch(&mut self, now: u64, tick: Duration, ctx: &Ctx) {
        let ran_through = now.wrapping_sub(self.last) == 1;
        self.last = now;
        if ran_through {
            self.charged = self.charged.saturating_add(1);
            ctx.set_cpu_time(tick.saturating_mul(self.charged));
        }
    }
}
