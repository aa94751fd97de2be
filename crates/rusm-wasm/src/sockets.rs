//! WebSocket pids (SERVING.md): a socket pid is a host process that owns
//! one client connection, and **only its connection process may write to
//! it**. The server records each socket's owner here; `Actor::send`
//! (`actor.rs`) asks before every send, so another process's send returns
//! `DENIED` and a tag other than text (1) or binary (2) `INVALID`.
//!
//! Most nodes have no sockets: a counter keeps the check to one atomic
//! load on every other send.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;
use rusm_core::Pid;

use crate::actor::AbiError;

#[derive(Default)]
pub(crate) struct Sockets {
    count: AtomicUsize,
    /// Socket pid to its connection process.
    owners: RwLock<HashMap<Pid, Pid>>,
}

impl Sockets {
    pub(crate) fn own(&self, socket: Pid, owner: Pid) {
        if self.owners.write().insert(socket, owner).is_none() {
            self.count.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub(crate) fn release(&self, socket: Pid) {
        if self.owners.write().remove(&socket).is_some() {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether `from` may send `tag` to `to`.
    #[inline]
    pub(crate) fn check(&self, from: Pid, to: Pid, tag: i64) -> Result<(), AbiError> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        match self.owners.read().get(&to) {
            None => Ok(()),
            Some(&owner) if owner != from => Err(AbiError::Denied),
            Some(_) if tag != 1 && tag != 2 => Err(AbiError::Invalid),
            Some(_) => Ok(()),
        }
    }
}
