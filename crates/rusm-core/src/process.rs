//! One process's shared state: its mailbox and its relations (links,
//! monitors, names), behind one lock.
//!
//! Every relation is recorded on both ends, so an exit can clean up both
//! sides and a dead process leaves nothing behind in anyone's state.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::{Error, ExitReason, Message, Pid, ProcessQuota, Ref};

/// Someone to tell when a process ends.
pub(crate) enum Watcher {
    /// A process's monitor: it gets a `down` message tagged `reference`.
    Process { reference: Ref, watcher: Pid },
    /// Host code awaiting the exit reason (`Node::wait`).
    Host(oneshot::Sender<ExitReason>),
}

pub(crate) struct Process {
    pub(crate) pid: Pid,
    /// The process that spawned this one (`Pid::NODE` for host spawns). A
    /// process may always manage its own children.
    pub(crate) parent: Pid,
    /// What it runs (a component name), for logs and introspection.
    pub(crate) name: Option<Arc<str>>,
    pub(crate) mailbox_capacity: Option<usize>,
    /// The quota it counts against, released at exit.
    pub(crate) quota: Option<Arc<ProcessQuota>>,
    /// Linear memory held, as reported by a backend (0 for native bodies).
    pub(crate) memory_bytes: AtomicU64,
    state: Mutex<State>,
}

pub(crate) struct State {
    pub(crate) alive: bool,
    pub(crate) trap_exit: bool,
    pub(crate) mailbox: VecDeque<Message>,
    /// The task to wake when a message arrives.
    pub(crate) waker: Option<Waker>,
    /// Set when an exit signal was accepted but the body has not stopped yet;
    /// it becomes the exit reason.
    pub(crate) pending_exit: Option<ExitReason>,
    /// How to stop the body's task; `None` until the task is spawned.
    pub(crate) abort: Option<AbortHandle>,
    pub(crate) links: Vec<Pid>,
    pub(crate) monitored_by: Vec<Watcher>,
    /// The exit watch of a watched spawn, apart from `monitored_by`: most
    /// host spawns have this one watcher and nothing else, and a slot of
    /// its own spares them the vector's allocation.
    pub(crate) spawn_watch: Option<oneshot::Sender<ExitReason>>,
    /// Rarely used relations live out of line to keep idle processes small.
    pub(crate) extra: Option<Box<Extra>>,
}

#[derive(Default)]
pub(crate) struct Extra {
    /// Monitors this process holds: (reference, target).
    pub(crate) monitors: Vec<(Ref, Pid)>,
    pub(crate) names: Vec<Arc<str>>,
    pub(crate) label: Option<String>,
}

impl State {
    pub(crate) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Accept an exit signal: remember the reason and stop the body. The
    /// first accepted signal wins.
    pub(crate) fn stop_with(&mut self, reason: ExitReason) {
        if self.pending_exit.is_none() {
            self.pending_exit = Some(reason);
        }
        if let Some(abort) = &self.abort {
            abort.abort();
        }
    }

    /// Queue a message and hand back the waker to call once the lock is gone.
    pub(crate) fn push(&mut self, message: Message) -> Option<Waker> {
        self.mailbox.push_back(message);
        self.waker.take()
    }
}

impl Process {
    pub(crate) fn new(
        pid: Pid,
        parent: Pid,
        name: Option<Arc<str>>,
        mailbox_capacity: Option<usize>,
        trap_exit: bool,
        quota: Option<Arc<ProcessQuota>>,
    ) -> Self {
        Process {
            pid,
            parent,
            name,
            mailbox_capacity,
            quota,
            memory_bytes: AtomicU64::new(0),
            state: Mutex::new(State {
                alive: true,
                trap_exit,
                mailbox: VecDeque::new(),
                waker: None,
                pending_exit: None,
                abort: None,
                links: Vec::new(),
                monitored_by: Vec::new(),
                spawn_watch: None,
                extra: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Enqueue a data message, honouring a bounded mailbox.
    pub(crate) fn deliver(&self, message: Message) -> Result<(), Error> {
        let waker = {
            let mut st = self.state.lock();
            if !st.alive {
                return Err(Error::NoProcess);
            }
            if let Some(cap) = self.mailbox_capacity
                && message.is_droppable()
                && st.mailbox.len() >= cap
            {
                return Err(Error::Limit);
            }
            st.push(message)
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Enqueue a system message (`exit`, `down`): never refused while the
    /// process lives.
    pub(crate) fn deliver_system(&self, message: Message) {
        let waker = {
            let mut st = self.state.lock();
            if !st.alive {
                return;
            }
            st.push(message)
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Take the first message whose tag is in `tags` (all, if empty).
    /// `scanned` counts messages already known not to match, so a long
    /// wait over a full mailbox does not rescan it at every wake-up: only
    /// this process removes messages, others only append.
    pub(crate) fn poll_take(
        &self,
        tags: &[i64],
        scanned: &mut usize,
        cx: Option<&mut Context<'_>>,
    ) -> Poll<Message> {
        let mut st = self.state.lock();
        let start = (*scanned).min(st.mailbox.len());
        let found = if tags.is_empty() {
            (start < st.mailbox.len()).then_some(start)
        } else {
            st.mailbox
                .iter()
                .skip(start)
                .position(|m| tags.contains(&m.tag))
                .map(|i| i + start)
        };
        if let Some(i) = found {
            *scanned = 0;
            // The head is by far the usual match: pop it without the
            // general removal's shifting.
            let m = if i == 0 {
                st.mailbox.pop_front()
            } else {
                st.mailbox.remove(i)
            };
            let m = m.expect("index found by the scan above");
            return Poll::Ready(m);
        }
        *scanned = st.mailbox.len();
        if let Some(cx) = cx {
            match &st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.waker = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }

    pub(crate) fn set_memory_bytes(&self, bytes: u64) {
        self.memory_bytes.store(bytes, Ordering::Relaxed);
    }
}
