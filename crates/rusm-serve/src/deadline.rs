//! Request deadlines (`request-timeout-seconds`): one sweeper task per
//! server instead of a timer per request.
//!
//! A tokio timer per request registered in the timer wheel when the
//! request was first polled and left it when it was answered: about 1,000
//! instructions a request (callgrind), for a timeout that almost never
//! fires. Here a request's deadline is one entry in a slab, added after
//! its process is spawned and removed when it is answered; a task wakes
//! every [`tick`] and kills the process of every entry past its deadline.
//! The request then sees its process end without a response, and its
//! entry says why: 504, not 500. A deadline is thus met up to one tick
//! late; the tick is a twentieth of the timeout, at most 100 ms.

use std::sync::Weak;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusm_core::{Node, Pid};
use slab::Slab;

struct Entry {
    at: Instant,
    pid: Pid,
    /// Past `at`: its process was killed.
    expired: bool,
}

/// The deadlines of a server's requests in flight (at most
/// `max-concurrent-requests` of them: an entry is added only past the
/// admission gate).
#[derive(Default)]
pub(crate) struct Deadlines {
    entries: Mutex<Slab<Entry>>,
}

/// One request's deadline; dropping it (the request answered, or dropped
/// because its client went away) removes it.
pub(crate) struct Deadline<'a> {
    deadlines: &'a Deadlines,
    key: usize,
}

impl Deadlines {
    /// Kill `pid` if its request is not answered by `at`.
    pub(crate) fn watch(&self, at: Instant, pid: Pid) -> Deadline<'_> {
        let key = self.entries.lock().insert(Entry {
            at,
            pid,
            expired: false,
        });
        Deadline {
            deadlines: self,
            key,
        }
    }

    /// Kill the process of every request past its deadline.
    fn sweep(&self, now: Instant, node: &Node) {
        let mut late = Vec::new();
        for (_, entry) in self.entries.lock().iter_mut() {
            if !entry.expired && entry.at <= now {
                entry.expired = true;
                late.push(entry.pid);
            }
        }
        // Outside the lock: a kill runs the exit procedure.
        for pid in late {
            // Gone already is fine: it ended as the deadline passed.
            let _ = node.kill(pid);
        }
    }
}

impl Deadline<'_> {
    /// The request is answered: whether its deadline passed first (its
    /// process was killed for it).
    pub(crate) fn end(self) -> bool {
        let expired = self.deadlines.entries.lock().remove(self.key).expired;
        // Removed here, not again by `drop` (it holds nothing else).
        std::mem::forget(self);
        expired
    }
}

impl Drop for Deadline<'_> {
    fn drop(&mut self) {
        self.deadlines.entries.lock().remove(self.key);
    }
}

/// How often the sweeper looks: a twentieth of the timeout, between 10 ms
/// and 100 ms.
pub(crate) fn tick(timeout: Duration) -> Duration {
    (timeout / 20).clamp(Duration::from_millis(10), Duration::from_millis(100))
}

/// The sweeper of a server's deadlines; it ends with them (when the
/// server and its last connection are gone).
pub(crate) async fn sweeper(deadlines: Weak<Deadlines>, node: Node, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(deadlines) = deadlines.upgrade() else {
            return;
        };
        deadlines.sweep(Instant::now(), &node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusm_core::{NodeConfig, SpawnOptions};

    /// A sweep kills exactly the processes past their deadline, and each
    /// deadline tells its request whether it passed.
    #[tokio::test]
    async fn a_sweep_kills_the_late_and_only_them() {
        let node = Node::new(NodeConfig::default());
        let park = |ctx: rusm_core::Ctx| async move {
            let _ = ctx.receive(&[], None).await;
        };
        let (late, early) = (
            node.spawn(SpawnOptions::new(), park).unwrap(),
            node.spawn(SpawnOptions::new(), park).unwrap(),
        );
        let deadlines = Deadlines::default();
        let now = Instant::now();
        let missed = deadlines.watch(now, late);
        let kept = deadlines.watch(now + Duration::from_secs(3600), early);
        deadlines.sweep(now, &node);
        for _ in 0..200 {
            if !node.is_alive(late) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!node.is_alive(late), "killed past its deadline");
        assert!(node.is_alive(early), "not before its own");
        assert!(missed.end());
        assert!(!kept.end());
        // Ended deadlines are gone: nothing left to sweep or to kill.
        deadlines.sweep(now + Duration::from_secs(7200), &node);
        assert!(node.is_alive(early));
        assert!(deadlines.entries.lock().is_empty());
        node.kill(early).unwrap();
    }

    #[test]
    fn the_tick_is_a_twentieth_of_the_timeout_within_bounds() {
        assert_eq!(tick(Duration::from_secs(1)), Duration::from_millis(50));
        assert_eq!(tick(Duration::from_secs(30)), Duration::from_millis(100));
        assert_eq!(tick(Duration::from_millis(20)), Duration::from_millis(10));
    }
}
