//! Timers: `send_after` and `cancel_timer`.
//!
//! Each pending timer is a sleeping tokio task; the table decides the race
//! between firing and cancelling: whoever removes the entry first wins, so a
//! cancelled timer never delivers and a delivered one reports "not pending".
//! A timer belongs to the process that set it: its payload is charged to
//! that process until it fires, and it is cancelled when that process
//! exits, so no timer outlives its owner.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::AbortHandle;

use crate::process::{ITEM_OVERHEAD, TIMER_OVERHEAD};
use crate::{Error, Node, Pid, Ref};

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

impl Node {
    /// Deliver a data message to `to` after `delay`; returns the timer id.
    /// The timer belongs to `from`: its payload is charged to `from` until
    /// it fires (`Limit` past `max_queued`), and it is cancelled if `from`
    /// exits first.
    pub fn send_after(
        &self,
        from: Pid,
        to: Pid,
        tag: i64,
        data: Vec<u8>,
        delay: Duration,
    ) -> Result<Ref, Error> {
        if data.len() > self.inner.config.max_message_bytes {
            return Err(Error::Limit);
        }
        let id = self.make_ref();
        let charge = TIMER_OVERHEAD + ITEM_OVERHEAD + data.len();
        let owner = if from == Pid::NODE {
            None
        } else {
            let p = self.inner.table.get(from).ok_or(Error::NoProcess)?;
            {
                let mut st = p.lock();
                if !st.alive {
                    return Err(Error::NoProcess);
                }
                st.try_charge(charge, p.max_queued)?;
                st.extra().timers.insert(id);
            }
            Some(p)
        };
        let node = self.clone();
        let fire = async move {
            tokio::time::sleep(delay).await;
            if let Some((owner, charge)) = node.inner.timers.fire(id) {
                node.timer_done(owner, id, charge);
                // The target may be gone or full by now; a timer, like a
                // send, never fails its sender after the fact.
                let _ = node.send(from, to, tag, data);
            }
        };
        // Hold the timer table's lock while spawning so a timer that fires
        // at once still finds itself registered.
        self.inner.timers.start(id, from, charge, || {
            self.inner.runtime.spawn(fire).abort_handle()
        });
        // An owner that exited between its charge and the start above did
        // not see this timer to cancel it.
        if let Some(p) = owner
            && !p.lock().alive
        {
            self.inner.timers.cancel(id);
        }
        Ok(id)
    }

    /// Cancel a timer; true if it was still pending.
    pub fn cancel_timer(&self, id: Ref) -> bool {
        match self.inner.timers.cancel(id) {
            Some((owner, charge)) => {
                self.timer_done(owner, id, charge);
                true
            }
            None => false,
        }
    }

    /// A timer fired or was cancelled: its owner no longer pays for it.
    fn timer_done(&self, owner: Pid, id: Ref, charge: usize) {
        if owner == Pid::NODE {
            return;
        }
        if let Some(p) = self.inner.table.get(owner) {
            let mut st = p.lock();
            if let Some(extra) = st.extra.as_deref_mut()
                && extra.timers.remove(&id)
            {
                st.refund(charge);
            }
        }
    }
}
