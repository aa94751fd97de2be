//! Links, monitors and exit signals: how one process's end reaches others.
//!
//! A *link* ties two processes both ways: when one ends abnormally, the
//! other is stopped with a `linked` reason, or, if it traps exits, gets an
//! `exit` message instead. A *monitor* is one way: the watcher gets a
//! `down` message whatever the reason. Both are recorded on both ends (see
//! `process`), and each reserves room on its holder for the one signal it
//! may deliver, so a signal is never refused. `kill` and `stop` are the
//! exit signals one process (or the host) sends another directly.
//!
//! The exit procedure (`finish`) delivers a dying process's signals
//! through `signal_link` and `signal_watcher`, kept here
//! beside the operations that set the relations up.

use std::future::Future;

use tokio::sync::oneshot;

use crate::process::{SIGNAL_RESERVE, Watcher};
use crate::{Error, ExitReason, Message, Node, Pid, Ref};

impl Node {
    /// Link two processes (both ways). Each side reserves room for the
    /// `exit` message the link may bring it; `Limit` if either cannot.
    pub fn link(&self, a: Pid, b: Pid) -> Result<(), Error> {
        if a == b {
            return Ok(());
        }
        let pa = self.inner.table.get(a).ok_or(Error::NoProcess)?;
        let Some(pb) = self.inner.table.get(b) else {
            return self.link_remote(&pa, b);
        };
        // Lock in pid order so two processes linking each other cannot
        // deadlock; holding both makes the link atomic against either exit.
        let (first, second) = if a < b { (&pa, &pb) } else { (&pb, &pa) };
        let mut s1 = first.lock();
        let mut s2 = second.lock();
        if !s1.alive || !s2.alive {
            return Err(Error::NoProcess);
        }
        if !s1.links.contains(&second.pid) {
            s1.try_charge(SIGNAL_RESERVE, first.max_queued)?;
            if let Err(e) = s2.try_charge(SIGNAL_RESERVE, second.max_queued) {
                s1.refund(SIGNAL_RESERVE);
                return Err(e);
            }
            s1.links.push(second.pid);
            s2.links.push(first.pid);
        }
        Ok(())
    }

    /// A link from `a` (local) to `b`, a pid of another node: recorded
    /// here with its reservation, then sent to `b`'s node, which links
    /// back or answers with an exit signal `noproc`. `NoProcess` if `b`
    /// is not another node's or that node is unreachable.
    #[inline(never)]
    fn link_remote(&self, pa: &crate::process::Process, b: Pid) -> Result<(), Error> {
        let remote = self.remote_for(b).ok_or(Error::NoProcess)?.clone();
        {
            let mut st = pa.lock();
            if !st.alive {
                return Err(Error::NoProcess);
            }
            if st.links.contains(&b) {
                return Ok(());
            }
            st.try_charge(SIGNAL_RESERVE, pa.max_queued)?;
            st.links.push(b);
        }
        if let Err(e) = remote.link(pa.pid, b) {
            pa.lock().remove_link(b);
            return Err(e);
        }
        Ok(())
    }

    /// Undo a link (both ways), refunding both reservations. `NoProcess`
    /// if `b` is not alive; the link is gone either way.
    pub fn unlink(&self, a: Pid, b: Pid) -> Result<(), Error> {
        if let Some(pa) = self.inner.table.get(a) {
            pa.lock().remove_link(b);
        }
        // (Another node's pid is never in this node's table.)
        if let Some(remote) = self.remote_for(b) {
            remote.unlink(a, b);
            return Ok(());
        }
        match self.inner.table.get(b) {
            Some(pb) => {
                let mut st = pb.lock();
                st.remove_link(a);
                if st.alive {
                    Ok(())
                } else {
                    Err(Error::NoProcess)
                }
            }
            None => Err(Error::NoProcess),
        }
    }

    /// `watcher` monitors `target`. A dead target yields an immediate
    /// `down` with reason `noproc`. The watcher reserves room for the
    /// `down` message; `Limit` if it cannot.
    pub fn monitor(&self, watcher: Pid, target: Pid) -> Result<Ref, Error> {
        let reference = self.make_ref();
        let Some(w) = self.inner.table.get(watcher) else {
            return Ok(reference);
        };
        // Record the monitor on the watcher first: if the target dies right
        // after, its exit finds the record and removes it, so nothing stale
        // is left either way.
        {
            let mut st = w.lock();
            st.try_charge(SIGNAL_RESERVE, w.max_queued)?;
            st.extra().monitors.push((reference, target));
        }
        // The `down` due at once, if any: the target is gone, or its node
        // is unreachable.
        let down = match self.watch_local(target, watcher, reference) {
            Some(true) => None,
            Some(false) => Some(ExitReason::NoProc),
            // Another node's process: that node records the watcher.
            None => match self.remote_for(target) {
                None => Some(ExitReason::NoProc),
                Some(remote) => match remote.monitor(watcher, target, reference) {
                    Ok(()) => None,
                    // The node's queue is full: no monitor (the watcher's
                    // reservation back), as a send would be refused.
                    Err(Error::Limit) => {
                        let mut st = w.lock();
                        if st.take_monitor(reference).is_some() {
                            st.refund(SIGNAL_RESERVE);
                        }
                        return Err(Error::Limit);
                    }
                    Err(_) => Some(ExitReason::NoConnection),
                },
            },
        };
        if let Some(reason) = down {
            // Unless the watcher died meanwhile (its exit dropped the
            // record), the reservation becomes the `down`.
            self.push_down(watcher, target, reference, &reason.to_string());
        }
        Ok(reference)
    }

    /// Drop a monitor: once this returns `Ok`, no `down` comes for it.
    /// `NotFound` if `watcher` holds no such monitor, or it already fired
    /// (its `down` is queued, and stays queued: both are decided under the
    /// watcher's lock).
    pub fn demonitor(&self, watcher: Pid, reference: Ref) -> Result<(), Error> {
        let w = self.inner.table.get(watcher).ok_or(Error::NoProcess)?;
        let target = {
            let mut st = w.lock();
            let target = st.take_monitor(reference).ok_or(Error::NotFound)?;
            st.refund(SIGNAL_RESERVE);
            target
        };
        self.drop_watcher(watcher, target, reference);
        Ok(())
    }

    /// Wait for a process to end and get its reason (`None`: it was not
    /// alive). Registers before returning, so no exit is missed: a monitor
    /// held by the host rather than by a process.
    pub fn wait(&self, pid: Pid) -> impl Future<Output = Option<ExitReason>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let registered = match self.inner.table.get(pid) {
            Some(p) => {
                let mut st = p.lock();
                if st.alive {
                    st.monitored_by.push(Watcher::Host(tx));
                    true
                } else {
                    false
                }
            }
            None => false,
        };
        async move { if registered { rx.await.ok() } else { None } }
    }

    /// Set `trap_exit`; returns the previous setting.
    pub fn set_trap_exit(&self, pid: Pid, on: bool) -> bool {
        match self.inner.table.get(pid) {
            Some(p) => std::mem::replace(&mut p.lock().trap_exit, on),
            None => false,
        }
    }

    /// Kill a process: untrappable, reason `killed`.
    pub fn kill(&self, pid: Pid) -> Result<(), Error> {
        let Some(p) = self.inner.table.get(pid) else {
            return match self.remote_for(pid) {
                Some(remote) => remote.kill(Pid::NODE, pid),
                None => Err(Error::NoProcess),
            };
        };
        let mut st = p.lock();
        if !st.alive {
            return Err(Error::NoProcess);
        }
        st.stop_with(ExitReason::Killed);
        Ok(())
    }

    /// Ask a process to stop with `reason` (typically `shutdown`). A process
    /// that traps exits gets an `exit` message from `from` instead and
    /// decides itself; any other stops with `reason`.
    pub fn stop(&self, from: Pid, pid: Pid, reason: ExitReason) -> Result<(), Error> {
        let Some(p) = self.inner.table.get(pid) else {
            return match self.remote_for(pid) {
                Some(remote) => remote.stop(from, pid, &reason),
                None => Err(Error::NoProcess),
            };
        };
        let waker = {
            let mut st = p.lock();
            if !st.alive {
                return Err(Error::NoProcess);
            }
            if st.trap_exit {
                st.push(Message::exit(from, &reason))
            } else {
                st.stop_with(reason);
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// The link from `linked` to `pid`, which ended with `reason`, fires:
    /// a normal exit only undoes it; otherwise `linked` gets an `exit`
    /// message if it traps exits, or is stopped.
    #[inline]
    pub(crate) fn signal_link(&self, pid: Pid, reason: &ExitReason, linked: Pid) {
        let Some(p) = self.inner.table.get(linked) else {
            if let Some(remote) = self.remote_for(linked) {
                remote.exit(pid, linked, reason);
            }
            return;
        };
        let waker = {
            let mut st = p.lock();
            if !st.alive || !st.remove_link(pid) || reason.is_normal() {
                None
            } else if st.trap_exit {
                // The link's reservation (refunded as it was removed)
                // becomes the exit message.
                st.push(Message::exit(pid, reason))
            } else {
                st.stop_with(ExitReason::linked(pid, reason.clone()));
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Tell one watcher of `pid` that it ended with `reason`: a monitoring
    /// process gets a `down` (if it still holds the monitor), the host its
    /// reason. `reason_text` is the reason as text, made by the first
    /// `down` and shared by the rest.
    #[inline]
    pub(crate) fn signal_watcher(
        &self,
        pid: Pid,
        reason: &ExitReason,
        reason_text: &mut Option<String>,
        watcher: Watcher,
    ) {
        match watcher {
            Watcher::Process { reference, watcher } => {
                let Some(p) = self.inner.table.get(watcher) else {
                    if let Some(remote) = self.remote_for(watcher) {
                        remote.down(pid, watcher, reference, reason);
                    }
                    return;
                };
                let waker = {
                    let mut st = p.lock();
                    if st.take_monitor(reference).is_some() && st.alive {
                        let text = reason_text.get_or_insert_with(|| reason.to_string());
                        st.push_signal(Message::down(pid, reference, text))
                    } else {
                        None
                    }
                };
                if let Some(w) = waker {
                    w.wake();
                }
            }
            Watcher::Host(tx) => {
                let _ = tx.send(reason.clone());
            }
        }
    }

    /// The `down` a watcher's monitor `reference` of `target` brings, if
    /// the watcher still holds it (its reservation becomes the message).
    pub(crate) fn push_down(&self, watcher: Pid, target: Pid, reference: Ref, reason: &str) {
        let Some(p) = self.inner.table.get(watcher) else {
            return;
        };
        let waker = {
            let mut st = p.lock();
            if st.take_monitor(reference).is_some() && st.alive {
                st.push_signal(Message::down(target, reference, reason))
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Record `watcher`'s monitor `reference` on `target`, a process of
    /// this node, if it is alive: `Some(alive)`, or `None` if `target` is
    /// not in the table.
    pub(crate) fn watch_local(&self, target: Pid, watcher: Pid, reference: Ref) -> Option<bool> {
        let t = self.inner.table.get(target)?;
        let mut st = t.lock();
        if st.alive {
            st.monitored_by
                .push(Watcher::Process { reference, watcher });
        }
        Some(st.alive)
    }

    /// Forget `watcher`'s monitor `reference` on its target's side (the
    /// watcher dropped it, or the watcher ended); another node's target
    /// is told.
    #[inline]
    pub(crate) fn drop_watcher(&self, watcher: Pid, target: Pid, reference: Ref) {
        match self.inner.table.get(target) {
            Some(t) => t
                .lock()
                .monitored_by
                .retain(|m| !matches!(m, Watcher::Process { reference: r, .. } if *r == reference)),
            None => {
                if let Some(remote) = self.remote_for(target) {
                    remote.demonitor(watcher, target, reference);
                }
            }
        }
    }
}
