//! The process table: every live process by pid.
//!
//! Sharded so that sends on different cores rarely meet on one lock, and
//! read-locked on the hot path (every `send` looks its target up here).

use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::RwLock;
// Pids are sequential integers chosen by the node, never by a guest, so a
// fast non-keyed hash is safe here and SipHash showed in spawn profiles.
use rustc_hash::FxHashMap as HashMap;

use crate::Pid;
use crate::process::Process;

const SHARDS: usize = 64;

// Padded: spawns on one core and exits on another touch neighbouring
// shards (pids are sequential), which must not share a cache line.
type Shard = CachePadded<RwLock<HashMap<u64, Arc<Process>>>>;

pub(crate) struct ProcessTable {
    shards: Box<[Shard]>,
}

impl ProcessTable {
    pub(crate) fn new() -> Self {
        ProcessTable {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(RwLock::new(HashMap::default())))
                .collect(),
        }
    }

    fn shard(&self, pid: Pid) -> &Shard {
        // Pids are sequential, so the low bits spread them evenly.
        &self.shards[(pid.0 as usize) % SHARDS]
    }

    pub(crate) fn insert(&self, process: Arc<Process>) {
        self.shard(process.pid)
            .write()
            .insert(process.pid.0, process);
    }

    pub(crate) fn get(&self, pid: Pid) -> Option<Arc<Process>> {
        self.shard(pid).read().get(&pid.0).cloned()
    }

    /// Run `f` on a live process under the shard's read lock: the hot path
    /// (`send`) then needs no reference-count traffic on the process.
    pub(crate) fn with<R>(&self, pid: Pid, f: impl FnOnce(&Process) -> R) -> Option<R> {
        self.shard(pid).read().get(&pid.0).map(|p| f(p))
    }

    pub(crate) fn contains(&self, pid: Pid) -> bool {
        self.shard(pid).read().contains_key(&pid.0)
    }

    pub(crate) fn remove(&self, pid: Pid) {
        let mut shard = self.shard(pid).write();
        shard.remove(&pid.0);
        // Give memory back after a storm: a table that once held a million
        // processes should not keep their slots forever.
        if shard.capacity() > 256 && shard.len() * 8 < shard.capacity() {
            let keep = shard.len() * 2;
            shard.shrink_to(keep);
        }
    }

    pub(crate) fn pids(&self) -> Vec<Pid> {
        let mut pids: Vec<Pid> = Vec::new();
        for shard in self.shards.iter() {
            pids.extend(shard.read().keys().map(|&p| Pid(p)));
        }
        pids.sort_unstable();
        pids
    }

    pub(crate) fn processes(&self) -> Vec<Arc<Process>> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(shard.read().values().cloned());
        }
        all
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.shards.iter().map(|s| s.read().capacity()).sum()
    }
}
