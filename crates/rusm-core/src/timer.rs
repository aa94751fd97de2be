//! Timers: `send_after` and `cancel_timer`.
//!
//! Each pending timer is a sleeping tokio task; the table decides the race
//! between firing and cancelling: whoever removes the entry first wins, so a
//! cancelled timer never delivers and a delivered one reports "not pending".
//! A timer belongs to the process that set it: its payload is charged to
//! that process until it fires, and it is cancelled when that process
//! exits, so no timer outlives its owner.

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::task::AbortHandle;

use crate::{Pid, Ref};

/// One pending timer.
struct Pending {
    task: AbortHandle,
    /// Who set it ([`Pid::NODE`] for the host) and what it is charged.
    owner: Pid,
    charge: usize,
}

#[derive(Default)]
pub(crate) struct Timers {
    pending: Mutex<HashMap<Ref, Pending>>,
}

impl Timers {
    pub(crate) fn start(
        &self,
        id: Ref,
        owner: Pid,
        charge: usize,
        spawn: impl FnOnce() -> AbortHandle,
    ) {
        let mut pending = self.pending.lock();
        let task = spawn();
        pending.insert(
            id,
            Pending {
                task,
                owner,
                charge,
            },
        );
    }

    /// Called by the timer's own task when it wakes: the owner and its
    /// charge if this task still owns the delivery.
    pub(crate) fn fire(&self, id: Ref) -> Option<(Pid, usize)> {
        let mut pending = self.pending.lock();
        let fired = pending.remove(&id).map(|p| (p.owner, p.charge));
        if pending.capacity() > 1024 && pending.len() * 8 < pending.capacity() {
            let keep = pending.len() * 2;
            pending.shrink_to(keep);
        }
        fired
    }

    /// Cancel a pending timer: its owner and charge, or `None` if it had
    /// fired or was cancelled already.
    pub(crate) fn cancel(&self, id: Ref) -> Option<(Pid, usize)> {
        let p = self.pending.lock().remove(&id)?;
        p.task.abort();
        Some((p.owner, p.charge))
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.lock().len()
    }
}
