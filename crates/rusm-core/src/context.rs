//! `Ctx`: what a running process sees of the node.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::process::{Process, Take};
use crate::{
    Error, ExitReason, IntoExitReason, Message, Node, Pid, ProcessInfo, Ref, SpawnOptions,
};

/// The most tags one selective receive may wait for.
pub const MAX_RECEIVE_TAGS: usize = 64;

/// A process's handle on itself and its node, given to its body.
///
/// Every operation acts *as* this process: messages are sent from it,
/// links and monitors attach to it, spawned processes are its children.
#[derive(Clone)]
pub struct Ctx {
    node: Node,
    process: Arc<Process>,
}

impl Ctx {
    pub(crate) fn new(node: Node, process: Arc<Process>) -> Self {
        Ctx { node, process }
    }

    pub fn pid(&self) -> Pid {
        self.process.pid
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The process that spawned this one.
    pub fn parent(&self) -> Pid {
        self.process.parent
    }

    /// Send a data message. Never blocks.
    pub fn send(&self, to: Pid, tag: i64, data: Vec<u8>) -> Result<(), Error> {
        self.node.send(self.pid(), to, tag, data)
    }

    /// Wait for the first message, in arrival order, whose tag is in `tags`
    /// (any message if `tags` is empty); the others stay queued in order.
    /// `None` waits forever, `Some(ZERO)` only polls. At most
    /// [`MAX_RECEIVE_TAGS`] tags (more: `Invalid`). However long the
    /// mailbox, the wait yields every few microseconds of scanning, so it
    /// never holds a worker thread and a kill ends it promptly.
    pub async fn receive(&self, tags: &[i64], timeout: Option<Duration>) -> Result<Message, Error> {
        if tags.len() > MAX_RECEIVE_TAGS {
            return Err(Error::Invalid);
        }
        let mut scanned = 0;
        let Some(d) = timeout else {
            // The first poll takes a queued message or registers the
            // waker, under one lock.
            return Ok(self.wait(tags, &mut scanned).await);
        };
        // A queued message needs no timer.
        if let Take::Taken(m) = self.process.poll_take(tags, &mut scanned, None) {
            return Ok(m);
        }
        if d.is_zero() {
            return self.poll_all(tags, &mut scanned).await;
        }
        // Boxed so that a process parked without a deadline does not
        // carry a timer's worth of bytes in its future.
        Box::pin(tokio::time::timeout(d, self.wait(tags, &mut scanned)))
            .await
            .map_err(|_| Error::Timeout)
    }

    /// Any message, waiting forever.
    pub async fn receive_any(&self) -> Message {
        self.wait(&[], &mut 0).await
    }

    /// Wait, without a deadline, for the first message matching `tags`.
    fn wait<'a>(
        &'a self,
        tags: &'a [i64],
        scanned: &'a mut usize,
    ) -> impl Future<Output = Message> + 'a {
        poll_fn(
            move |cx| match self.process.poll_take(tags, scanned, Some(cx)) {
                Take::Taken(m) => Poll::Ready(m),
                Take::Yield => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Take::Empty => Poll::Pending,
            },
        )
    }

    /// The first queued message matching `tags`, or `Timeout` once the
    /// whole mailbox was compared (yielding between budgets).
    fn poll_all<'a>(
        &'a self,
        tags: &'a [i64],
        scanned: &'a mut usize,
    ) -> impl Future<Output = Result<Message, Error>> + 'a {
        poll_fn(
            move |cx| match self.process.poll_take(tags, scanned, None) {
                Take::Taken(m) => Poll::Ready(Ok(m)),
                Take::Yield => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Take::Empty => Poll::Ready(Err(Error::Timeout)),
            },
        )
    }

    pub fn make_ref(&self) -> Ref {
        self.node.make_ref()
    }

    pub fn send_after(
        &self,
        to: Pid,
        tag: i64,
        data: Vec<u8>,
        delay: Duration,
    ) -> Result<Ref, Error> {
        self.node.send_after(self.pid(), to, tag, data, delay)
    }

    pub fn cancel_timer(&self, id: Ref) -> bool {
        self.node.cancel_timer(id)
    }

    /// Spawn a child of this process.
    pub fn spawn<F, Fut>(&self, options: SpawnOptions, body: F) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.node.spawn_from(self.pid(), options, body)
    }

    /// Spawn a child linked to this process before it runs.
    pub fn spawn_link<F, Fut>(&self, options: SpawnOptions, body: F) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn(options.link(true), body)
    }

    pub fn link(&self, to: Pid) -> Result<(), Error> {
        self.node.link(self.pid(), to)
    }

    pub fn unlink(&self, to: Pid) -> Result<(), Error> {
        self.node.unlink(self.pid(), to)
    }

    /// Monitor `target`; `Limit` when this process cannot reserve room
    /// for the `down` message (`max_queued`).
    pub fn monitor(&self, target: Pid) -> Result<Ref, Error> {
        self.node.monitor(self.pid(), target)
    }

    pub fn demonitor(&self, reference: Ref) -> Result<(), Error> {
        self.node.demonitor(self.pid(), reference)
    }

    /// Returns the previous setting.
    pub fn trap_exit(&self, on: bool) -> bool {
        self.node.set_trap_exit(self.pid(), on)
    }

    pub fn kill(&self, target: Pid) -> Result<(), Error> {
        self.node.kill(target)
    }

    pub fn is_alive(&self, target: Pid) -> bool {
        self.node.is_alive(target)
    }

    /// Whether this process spawned `target` (and may therefore manage it
    /// without the process-control grant).
    pub fn is_own(&self, target: Pid) -> bool {
        target == self.pid() || self.node.parent_of(target) == Some(self.pid())
    }

    pub fn processes(&self) -> Vec<Pid> {
        self.node.processes()
    }

    pub fn info(&self, target: Pid) -> Option<ProcessInfo> {
        self.node.info(target)
    }

    pub fn register(&self, name: &str) -> Result<(), Error> {
        self.node.register(name, self.pid())
    }

    pub fn unregister(&self, name: &str) -> Result<(), Error> {
        self.node.unregister(name)
    }

    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.node.whereis(name)
    }

    pub fn set_label(&self, label: &str) {
        self.node.set_label(self.pid(), label)
    }

    pub fn set_memory_bytes(&self, bytes: u64) {
        self.process.set_memory_bytes(bytes)
    }

    /// End this process now with `reason`: the caller's future never
    /// resumes. (An empty `Crashed` is not special here; use
    /// [`ExitReason::from_guest`] for guest-supplied text.)
    pub async fn exit(&self, reason: ExitReason) -> ! {
        self.process.lock().stop_with(reason);
        // The abort takes effect at this await: the task is dropped and
        // the exit procedure runs with the reason set above.
        std::future::pending::<()>().await;
        unreachable!("an aborted task is never polled again")
    }
}
