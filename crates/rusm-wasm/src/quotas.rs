//! The grants the actor core enforces for a Wasm process, set at spawn:
//! `max-processes` (a [`ProcessQuota`] shared by every process of a
//! profile), `mailbox-capacity` and `max-queued-mb`. rusm-core counts and
//! refuses; this module only hands it the numbers.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use rusm_caps::Capabilities;
use rusm_core::{ProcessQuota, SpawnOptions};
// Profile names come from the operator's manifest or the host, never from
// a guest, and every capped spawn hashes one: FxHash, not SipHash.
use rustc_hash::FxHashMap as HashMap;

/// The quotas of one profile, by cap.
type ByCap = Vec<(u64, Arc<ProcessQuota>)>;

/// Process quotas by profile name, then by cap.
pub(crate) struct Quotas {
    /// Tells this table's entries in a thread's [`LAST`] from another's.
    id: u64,
    by_profile: RwLock<HashMap<Box<str>, ByCap>>,
}

/// The ids of [`Quotas`]: unique in the process, never reused.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The last quota one thread looked up.
struct Last {
    quotas: u64,
    profile: Box<str>,
    max: u64,
    quota: Arc<ProcessQuota>,
}

thread_local! {
    /// Spawns come in runs of one profile (a storm, an HTTP route's
    /// requests), so a one-entry cache per thread answers almost all of
    /// them without the shared lock: taking even a read lock is a write
    /// to a cache line every spawning core touches, and the storms showed
    /// it. An entry of a dropped table is never matched again (ids are
    /// not reused) and holds one small quota until overwritten.
    static LAST: RefCell<Option<Last>> = const { RefCell::new(None) };
}

impl Quotas {
    pub(crate) fn new() -> Self {
        Quotas {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            by_profile: RwLock::new(HashMap::default()),
        }
    }

    /// `options` with the core-enforced grants of `caps`, for a process
    /// named `name`.
    #[inline]
    pub(crate) fn spawn_options(
        &self,
        caps: &Capabilities,
        name: Arc<str>,
        options: SpawnOptions,
    ) -> SpawnOptions {
        let quota = caps.max_processes.map(|max| self.quota(&caps.profile, max));
        let max_queued =
            usize::try_from(caps.max_queued_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        options
            .name(name)
            .mailbox_capacity(caps.mailbox_capacity)
            .max_queued(Some(max_queued))
            .quota(quota)
    }

    /// The process quota of a profile, shared by every spawn under it
    /// (a per-spawn override of `max_processes` under the same profile name
    /// is a quota of its own). Every spawn under a capped profile (all of
    /// `sandboxed`) comes here: the thread's last answer first, then the
    /// table under a read lock, without allocating.
    fn quota(&self, profile: &str, max: u64) -> Arc<ProcessQuota> {
        let cached = LAST.with_borrow(|last| {
            last.as_ref()
                .filter(|l| l.quotas == self.id && l.max == max && *l.profile == *profile)
                .map(|l| l.quota.clone())
        });
        if let Some(q) = cached {
            return q;
        }
        let q = self.lookup(profile, max);
        LAST.set(Some(Last {
            quotas: self.id,
            profile: profile.into(),
            max,
            quota: q.clone(),
        }));
        q
    }

    fn lookup(&self, profile: &str, max: u64) -> Arc<ProcessQuota> {
        let find = |quotas: &[(u64, Arc<ProcessQuota>)]| {
            quotas
                .iter()
                .find(|(m, _)| *m == max)
                .map(|(_, q)| q.clone())
        };
        if let Some(q) = self.by_profile.read().get(profile).and_then(|qs| find(qs)) {
            return q;
        }
        let mut quotas = self.by_profile.write();
        let of_profile = quotas.entry(profile.into()).or_default();
        if let Some(q) = find(of_profile) {
            return q;
        }
        let q = ProcessQuota::new(max);
        of_profile.push((max, q.clone()));
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-thread cache answers only for its own table, profile and
    /// cap: whatever order lookups come in, each (table, profile, cap) has
    /// one quota, shared by every spawn under it.
    #[test]
    fn the_thread_cache_never_mixes_tables_profiles_or_caps() {
        let (a, b) = (Quotas::new(), Quotas::new());
        let web = a.quota("web", 10);
        assert!(Arc::ptr_eq(&web, &a.quota("web", 10)), "a cache hit");
        let other_cap = a.quota("web", 20);
        assert!(!Arc::ptr_eq(&web, &other_cap));
        let other_profile = a.quota("api", 10);
        assert!(!Arc::ptr_eq(&web, &other_profile));
        let other_table = b.quota("web", 10);
        assert!(!Arc::ptr_eq(&web, &other_table));
        // Back to the first after misses: the table's, not a new one.
        assert!(Arc::ptr_eq(&web, &a.quota("web", 10)));
        assert!(Arc::ptr_eq(&other_cap, &a.quota("web", 20)));
        assert!(Arc::ptr_eq(&other_table, &b.quota("web", 10)));
        // Another thread, with a cold cache, finds the same quota.
        let from_another = std::thread::scope(|s| s.spawn(|| a.quota("web", 10)).join().unwrap());
        assert!(Arc::ptr_eq(&web, &from_another));
    }
}
