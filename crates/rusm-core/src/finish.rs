//! The exit procedure: what happens, once, when a process's body ends.
//!
//! Every way a body can end (it returns, it panics, an exit signal aborts
//! its task) comes here, through the exit guard in `spawn`. The procedure
//! marks the process dead under its lock, so from then on a link or
//! monitor attempt sees `noproc`, and only then tells everyone related to
//! it: nobody can attach in between and be left without a signal.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::process::{Extra, Process, Watcher};
use crate::{ExitReason, Node, Pid, Usage};

impl Node {
    /// The exit procedure: runs once, when a body's task ends for any
    /// reason. Marks the process dead under its lock (from then on links and
    /// monitors see `noproc`), then tells everyone related to it.
    pub(crate) fn finish(&self, process: &Arc<Process>, body_reason: Option<ExitReason>) {
        let inner = &self.inner;
        let pid = process.pid;
        let (reason, links, watchers, extra, received) = {
            let mut st = process.lock();
            if !st.alive {
                return;
            }
            st.alive = false;
            let reason = st
                .pending_exit
                .take()
                .or(body_reason)
                .unwrap_or(ExitReason::Killed);
            if st.watched {
                st.pending_exit = Some(reason.clone());
            }
            st.mailbox = Default::default();
            st.waker = None;
            st.abort = None;
            (
                reason,
                std::mem::take(&mut st.links),
                std::mem::take(&mut st.monitored_by),
                st.extra.take(),
                st.received,
            )
        };
        inner.table.remove(pid);
        // Logged and accounted before anyone is told: whoever learns of
        // the exit (a monitor, a waiting host, a supervisor that restarts
        // it) finds its exit line written and its usage retired.
        if let Some(l) = &inner.config.lifecycle {
            l.exited(pid, process.name.as_deref(), &reason);
            if inner.config.accounting {
                // A process that used nothing measurable (most short-lived
                // ones) adds nothing to any total: no call.
                let usage = process.usage(received);
                if usage != Usage::default() {
                    l.retired(pid, &usage);
                }
            }
        }
        // Most processes end with no links, monitors or names: keep the
        // signalling out of line, so their exit runs less code.
        if extra.is_some() || !links.is_empty() || !watchers.is_empty() {
            self.signal_exit(pid, &reason, extra, links, watchers);
        }
        if let Some(q) = &process.quota {
            q.release();
        }
        tracing::trace!(%pid, %reason, "exit");
        if inner.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            inner.all_gone.notify_waiters();
        }
    }

    /// An exit's signals: timers cancelled, names released, monitors this
    /// process held dropped, linked processes signalled, watchers told.
    #[inline(never)]
    fn signal_exit(
        &self,
        pid: Pid,
        reason: &ExitReason,
        extra: Option<Box<Extra>>,
        links: Vec<Pid>,
        watchers: Vec<Watcher>,
    ) {
        let inner = &self.inner;
        if let Some(extra) = extra {
            // No timer outlives the process that set it.
            for &id in &extra.timers {
                inner.timers.cancel(id);
            }
            for name in &extra.names {
                inner.registry.release(name, pid);
            }
            for (reference, target) in extra.monitors {
                self.drop_watcher(pid, target, reference);
            }
        }
        for linked in links {
            self.signal_link(pid, reason, linked);
        }
        // Only monitoring processes need the text (a host watcher gets the
        // reason itself): made once, on the first such watcher.
        let mut reason_text: Option<String> = None;
        for w in watchers {
            self.signal_watcher(pid, reason, &mut reason_text, w);
        }
    }
}
