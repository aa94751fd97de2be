//! Request deadlines (`request-timeout-seconds`): one sweeper task per
//! server instead of a timer per request.
//!
//! A tokio timer per request registered in the timer wheel when the
//! request was first polled and left it when it was answered: about 1,000
//! instructions a request (callgrind), for a timeout that almost never
//! fires. Here each connection has one [`Deadline`] (HTTP/1.1 has one
//! request in flight on a connection), set when its request's process is
//! spawned and cleared when it is answered: a lock of the connection's
//! own, which only its task and the sweeper take, so a request touches no
//! memory that other requests do. The server keeps its connections'
//! deadlines in a list ([`Deadlines`]), changed only when a connection
//! opens or closes; a task wakes every [`tick`] and kills the process of
//! every deadline past. The request then sees its process end without a
//! response, and its deadline says why: 504, not 500. A deadline is thus
//! met up to one tick late; the tick is a twentieth of the timeout, at
//! most 100 ms.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusm_core::{Node, Pid};
use slab::Slab;

struct Watch {
    at: Instant,
    pid: Pid,
    /// Past `at`: its process was killed.
    expired: bool,
}

/// The deadline of a connection's request in flight, if it has one.
#[derive(Default)]
pub(crate) struct Deadline(Mutex<Option<Watch>>);

/// The deadline of one request; dropping it (the request answered, or
/// dropped because its client went away) clears it.
pub(crate) struct Watched(Arc<Deadline>);

impl Deadline {
    /// Kill `pid` if its request is not answered by `at`.
    pub(crate) fn watch(self: &Arc<Self>, at: Instant, pid: Pid) -> Watched {
        *self.0.lock() = Some(Watch {
            at,
            pid,
            expired: false,
        });
        Watched(self.clone())
    }

    /// The pid to kill, if the deadline passed by `now` (once).
    fn expire(&self, now: Instant) -> Option<Pid> {
        let mut watch = self.0.lock();
        let w = watch.as_mut()?;
        if w.expired || w.at > now {
            return None;
        }
        w.expired = true;
        Some(w.pid)
    }
}

impl Watched {
    /// The request is answered: whether its deadline passed first (its
    /// process was killed for it).
    pub(crate) fn end(self) -> bool {
        let expired = self.0.0.lock().take().is_some_and(|w| w.expired);
        // Cleared here, not again by `drop`.
        std::mem::forget(self);
        expired
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        *self.0.0.lock() = None;
    }
}

/// The deadlines of a server's open connections.
#[derive(Default)]
pub(crate) struct Deadlines {
    connections: Mutex<Slab<Arc<Deadline>>>,
}

/// A connection's place in [`Deadlines`]; dropping it (the connection
/// ended) takes the connection out.
pub(crate) struct Listed<'a> {
    deadlines: &'a Deadlines,
    key: usize,
}

impl Deadlines {
    /// Sweep `deadline` while the returned guard lives.
    pub(crate) fn list(&self, deadline: Arc<Deadline>) -> Listed<'_> {
        let key = self.connections.lock().insert(deadline);
        Listed {
            deadlines: self,
            key,
        }
    }

    /// Kill the process of every request past its deadline.
    fn sweep(&self, now: Instant, node: &Node) {
        let late: Vec<Pid> = self
            .connections
            .lock()
            .iter()
            .filter_map(|(_, d)| d.expire(now))
            .collect();
        // Outside the lock: a kill runs the exit procedure.
        for pid in late {
            // Gone already is fine: it ended as the deadline passed.
            let _ = node.kill(pid);
        }
    }
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.deadlines.connections.lock().remove(self.key);
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
        let (first, second, idle) = (
            Arc::new(Deadline::default()),
            Arc::new(Deadline::default()),
            Arc::new(Deadline::default()),
        );
        let listed = [
            deadlines.list(first.clone()),
            deadlines.list(second.clone()),
            deadlines.list(idle),
        ];
        let now = Instant::now();
        let missed = first.watch(now, late);
        let kept = second.watch(now + Duration::from_secs(3600), early);
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
        // Ended deadlines are cleared: nothing left to kill.
        deadlines.sweep(now + Duration::from_secs(7200), &node);
        assert!(node.is_alive(early));
        // A request dropped unanswered clears its deadline too.
        let dropped = second.watch(now, early);
        drop(dropped);
        deadlines.sweep(now + Duration::from_secs(7200), &node);
        assert!(node.is_alive(early));
        drop(listed);
        assert!(deadlines.connections.lock().is_empty());
        node.kill(early).unwrap();
    }

    #[test]
    fn the_tick_is_a_twentieth_of_the_timeout_within_bounds() {
        assert_eq!(tick(Duration::from_secs(1)), Duration::from_millis(50));
        assert_eq!(tick(Duration::from_secs(30)), Duration::from_millis(100));
        assert_eq!(tick(Duration::from_millis(20)), Duration::from_millis(10));
    }
}
