//! The registry: unique names for processes, released when they exit.
//!
//! A name is recorded in two places: here, name to pid, for `whereis`; and
//! on its holder, so that the exit procedure knows which names to release
//! and the name's bytes are charged to the process that registered it.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::process::ITEM_OVERHEAD;
use crate::{Error, Node, Pid};

/// Lock order: the registry lock is taken before a process's state lock,
/// never the other way round (the exit path drops the process lock before it
/// releases names here).
#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<HashMap<Arc<str>, Pid>>,
}

impl Registry {
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<Arc<str>, Pid>> {
        self.names.lock()
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.lock().get(name).copied()
    }

    /// Forget `name` if it still names `pid` (it may have been re-registered
    /// by another process after an `unregister`).
    pub(crate) fn release(&self, name: &str, pid: Pid) {
        let mut names = self.names.lock();
        if names.get(name) == Some(&pid) {
            names.remove(name);
        }
        if names.capacity() > 1024 && names.len() * 8 < names.capacity() {
            let keep = names.len() * 2;
            names.shrink_to(keep);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.lock().len()
    }
}

impl Node {
    /// Name `pid`. `Exists` if the name is taken, `Invalid` if it is empty,
    /// `Limit` if the name does not fit under `pid`'s `max_queued`.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::Invalid);
        }
        let mut names = self.inner.registry.lock();
        if names.contains_key(name) {
            return Err(Error::Exists);
        }
        let p = self.inner.table.get(pid).ok_or(Error::NoProcess)?;
        let mut st = p.lock();
        if !st.alive {
            return Err(Error::NoProcess);
        }
        st.try_charge(ITEM_OVERHEAD + name.len(), p.max_queued)?;
        let name: Arc<str> = name.into();
        st.extra().names.push(name.clone());
        names.insert(name, pid);
        Ok(())
    }

    /// Forget a name. `NotFound` if nobody has it.
    pub fn unregister(&self, name: &str) -> Result<(), Error> {
        let mut names = self.inner.registry.lock();
        let pid = names.remove(name).ok_or(Error::NotFound)?;
        if let Some(p) = self.inner.table.get(pid) {
            let mut st = p.lock();
            let had = st.extra.as_deref_mut().is_some_and(|extra| {
                let before = extra.names.len();
                extra.names.retain(|n| &**n != name);
                extra.names.len() < before
            });
            if had {
                st.refund(ITEM_OVERHEAD + name.len());
            }
        }
        Ok(())
    }

    /// The process registered under `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner.registry.whereis(name)
    }
}
