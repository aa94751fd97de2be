//! Admission control: how many requests may be in flight, node-wide and
//! per route. A request past a cap is answered 503 before any process is
//! spawned for it; a [`Pass`] holds its place until its process is done
//! with the client (its response body ended or was dropped).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A counter with a cap.
pub(crate) struct Gate {
    in_flight: AtomicUsize,
    max: usize,
}

/// A place taken at a [`Gate`]; given back on drop.
pub(crate) struct Pass(Arc<Gate>);

impl Gate {
    pub(crate) fn new(max: usize) -> Arc<Gate> {
        Arc::new(Gate {
            in_flight: AtomicUsize::new(0),
            max,
        })
    }

    /// A place, if one is free.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<Pass> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Pass(self.clone()))
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
