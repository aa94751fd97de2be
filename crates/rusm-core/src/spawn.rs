//! How a process is started: options, quotas and the task that runs a body.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;

use crate::process::Process;
use crate::{Ctx, ExitReason, IntoExitReason, Message, Node, Pid, Ref};

/// A cap on how many processes of one kind (one capability profile, say)
/// may live at once. Shared by every spawn that names it.
#[derive(Debug)]
pub struct ProcessQuota {
    max: u64,
    live: AtomicU64,
}

impl ProcessQuota {
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(ProcessQuota {
            max,
            live: AtomicU64::new(0),
        })
    }

    /// Processes currently counted against this quota.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn try_acquire(&self) -> bool {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn release(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Everything about a new process except its body.
#[derive(Default)]
pub struct SpawnOptions {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) link: bool,
    pub(crate) monitor: Option<Ref>,
    pub(crate) mailbox_capacity: Option<usize>,
    pub(crate) max_queued: Option<usize>,
    pub(crate) quota: Option<Arc<ProcessQuota>>,
    pub(crate) trap_exit: bool,
    pub(crate) first_message: Option<Message>,
    pub(crate) exit_watch: Option<tokio::sync::oneshot::Sender<ExitReason>>,
}

impl SpawnOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// What the process runs (a component name): shown in logs and `info`.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Link the child to its spawner before it runs (`spawn_link`).
    pub fn link(mut self, on: bool) -> Self {
        self.link = on;
        self
    }

    /// Let the spawner monitor the child from birth, under `reference`
    /// (from [`Node::make_ref`]), so not even an instant exit is missed.
    pub fn monitor(mut self, reference: Ref) -> Self {
        self.monitor = Some(reference);
        self
    }

    /// Bound the mailbox: past `capacity` queued messages, data messages to
    /// it are refused with `Limit` (exit and down messages never are).
    pub fn mailbox_capacity(mut self, capacity: Option<usize>) -> Self {
        self.mailbox_capacity = capacity;
        self
    }

    /// Bound what the process may make the node hold, in bytes: queued
    /// messages, pending timers, names, and the room its links and
    /// monitors reserve (`max-queued-mb`). `None`: unbounded.
    pub fn max_queued(mut self, bytes: Option<usize>) -> Self {
        self.max_queued = bytes;
        self
    }

    /// Count the process against `quota`; a full quota refuses the spawn.
    pub fn quota(mut self, quota: Option<Arc<ProcessQuota>>) -> Self {
        self.quota = quota;
        self
    }

    /// Start with `trap_exit` on (supervisors do).
    pub fn trap_exit(mut self, on: bool) -> Self {
        self.trap_exit = on;
        self
    }

    /// The child's first message, queued before it runs. Its sender is
    /// the spawner.
    pub fn first_message(mut self, tag: i64, data: Vec<u8>) -> Self {
        self.first_message = Some(Message::data(Pid::NODE, tag, data));
        self
    }
}

/// Runs the exit procedure however the body's task ends: returned, panicked,
/// or dropped because an exit signal aborted it.
struct ExitGuard {
    node: Node,
    process: Arc<Process>,
    reason: Option<ExitReason>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.node.finish(&self.process, self.reason.take());
    }
}

pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// The future a process's tokio task runs. The exit guard is made before
/// the future is first polled: a process killed before it ever ran still
/// goes through the exit procedure when its unpolled future is dropped.
pub(crate) fn run_body<F, Fut>(
    node: Node,
    process: Arc<Process>,
    body: F,
) -> impl Future<Output = ()> + Send + 'static
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    let mut guard = ExitGuard {
        node: node.clone(),
        process: process.clone(),
        reason: None,
    };
    async move {
        let ctx = Ctx::new(node, process);
        let outcome = AssertUnwindSafe(async move { body(ctx).await.into_exit_reason() })
            .catch_unwind()
            .await;
        guard.reason = Some(match outcome {
            Ok(reason) => reason,
            Err(payload) => ExitReason::crashed(panic_text(payload.as_ref())),
        });
        drop(guard);
    }
}
