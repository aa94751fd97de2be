//! Timers: `send_after` and `cancel_timer`.
//!
//! Each pending timer is a sleeping tokio task; the table decides the race
//! between firing and cancelling: whoever removes the entry first wins, so a
//! cancelled timer never delivers and a delivered one reports "not pending".

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::task::AbortHandle;

use crate::Ref;

#[derive(Default)]
pub(crate) struct Timers {
    pending: Mutex<HashMap<Ref, AbortHandle>>,
}

impl Timers {
    pub(crate) fn start(&self, id: Ref, spawn: impl FnOnce() -> AbortHandle) {
        let mut pending = self.pending.lock();
        pending.insert(id, spawn());
    }

    /// Called by the timer's own task when it wakes: true if it still owns
    /// the delivery.
    pub(crate) fn fire(&self, id: Ref) -> bool {
        let mut pending = self.pending.lock();
        let fired = pending.remove(&id).is_some();
        if pending.capacity() > 1024 && pending.len() * 8 < pending.capacity() {
            let keep = pending.len() * 2;
            pending.shrink_to(keep);
        }
        fired
    }

    pub(crate) fn cancel(&self, id: Ref) -> bool {
        match self.pending.lock().remove(&id) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.lock().len()
    }
}
