//! The registry: unique names for processes, released when they exit.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::Pid;

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
