//! `Ctx`: what a running process sees of the node.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::process::Process;
use crate::receive::Receive;
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

    /// This process's pid: what others send to, link to and monitor.
    pub fn pid(&self) -> Pid {
        self.process.pid
    }

    /// The node this process runs on, for what `Ctx` does not wrap (the
    /// host-side operations, acting on any pid).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// What this process runs, as given by [`SpawnOptions::name`] (shown
    /// in logs and `info`), if it was given one.
    pub fn name(&self) -> Option<&Arc<str>> {
        self.process.name.as_ref()
    }

    /// The process that spawned this one ([`Pid::NODE`] if the host did).
    pub fn parent(&self) -> Pid {
        self.process.parent
    }

    /// Send a data message to `to`, from this process. Never blocks: a
    /// message that cannot be queued is refused at once, with `NoProcess`
    /// if `to` is not alive and `Limit` if the data is over the node's
    /// cap or `to`'s mailbox (or `max_queued`) is full.
    pub fn send(&self, to: Pid, tag: i64, data: Vec<u8>) -> Result<(), Error> {
        let sent = self.node.send(self.pid(), to, tag, data);
        if sent.is_ok() {
            self.process.count_sent();
        }
        sent
    }

    /// [`Ctx::send`], keeping `peer` (see [`Node::send_with`]): for a
    /// process that holds its `LastPeer` from send to send.
    // Inline across crates: a Wasm `send` is a call into this, this a
    // call into the node's, and each call level cost ~20 instructions a
    // message (callgrind).
    #[inline]
    pub fn send_with(
        &self,
        peer: &mut crate::LastPeer,
        to: Pid,
        tag: i64,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        let sent = self.node.send_with(peer, self.pid(), to, tag, data);
        if sent.is_ok() {
            self.process.count_sent();
        }
        sent
    }

    /// Wait for the first message, in arrival order, whose tag is in `tags`
    /// (any message if `tags` is empty); the others stay queued in order.
    /// `None` waits forever, `Some(ZERO)` only polls; `Timeout` when the
    /// deadline passes with no match. At most
    /// [`MAX_RECEIVE_TAGS`] tags (more: `Invalid`). However long the
    /// mailbox, the wait yields every few microseconds of scanning, so it
    /// never holds a worker thread and a kill ends it promptly.
    #[inline]
    pub fn receive<'a>(&'a self, tags: &'a [i64], timeout: Option<Duration>) -> Receive<'a> {
        Receive::new(&self.process, tags, timeout)
    }

    /// Any message, waiting forever.
    pub async fn receive_any(&self) -> Message {
        self.receive(&[], None)
            .await
            .expect("a receive of any message without a deadline ends with one")
    }

    /// A fresh reference, unique within the node and unpredictable: tag a
    /// request with it so that only its reply matches a selective receive.
    pub fn make_ref(&self) -> Ref {
        self.node.make_ref()
    }

    /// Send a data message to `to` after `delay`; returns the timer's id
    /// for [`cancel_timer`](Ctx::cancel_timer). The timer belongs to this
    /// process: its payload counts against its `max_queued` until it
    /// fires (`Limit` if it does not fit), and it is cancelled if this
    /// process ends first.
    pub fn send_after(
        &self,
        to: Pid,
        tag: i64,
        data: Vec<u8>,
        delay: Duration,
    ) -> Result<Ref, Error> {
        self.node.send_after(self.pid(), to, tag, data, delay)
    }

    /// Cancel a timer; `true` if it was still pending (it will not fire),
    /// `false` if it already fired or was cancelled.
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

    /// Link this process and `to` (both ways): if either ends abnormally,
    /// the other is stopped too, or gets an `exit` message if it traps
    /// exits. `NoProcess` if `to` is not alive; `Limit` if either side
    /// cannot reserve room for the `exit` message.
    pub fn link(&self, to: Pid) -> Result<(), Error> {
        self.node.link(self.pid(), to)
    }

    /// Undo a link with `to`. `NoProcess` if `to` is not alive; the link
    /// is gone either way.
    pub fn unlink(&self, to: Pid) -> Result<(), Error> {
        self.node.unlink(self.pid(), to)
    }

    /// Monitor `target`: when it ends, for any reason, this process gets
    /// one `down` message tagged with the returned reference (at once,
    /// with reason `noproc`, if it is not alive). `Limit` when this process
    /// cannot reserve room for the `down` message (`max_queued`).
    pub fn monitor(&self, target: Pid) -> Result<Ref, Error> {
        self.node.monitor(self.pid(), target)
    }

    /// Drop the monitor `reference`: once this returns `Ok`, no `down`
    /// comes for it. `NotFound` if this process holds no such monitor, or
    /// it already fired (its `down` is queued, and stays queued).
    pub fn demonitor(&self, reference: Ref) -> Result<(), Error> {
        self.node.demonitor(self.pid(), reference)
    }

    /// Trap exits (`on`) or not; returns the previous setting. A process
    /// that traps exits gets a linked process's abnormal end, or a
    /// `shutdown`, as an `exit` message instead of being stopped (`kill`
    /// is never trapped).
    pub fn trap_exit(&self, on: bool) -> bool {
        self.node.set_trap_exit(self.pid(), on)
    }

    /// Kill `target`: it stops with reason `killed`, trapping exits or not.
    /// `NoProcess` if it is not alive. Whether this process may kill
    /// `target` is the caller's to decide (see [`is_own`](Ctx::is_own)).
    pub fn kill(&self, target: Pid) -> Result<(), Error> {
        self.node.kill(target)
    }

    /// Whether `target` is alive. Pids are never reused, so `false` is
    /// final.
    pub fn is_alive(&self, target: Pid) -> bool {
        self.node.is_alive(target)
    }

    /// Whether this process spawned `target` (and may therefore manage it
    /// without the process-control grant).
    pub fn is_own(&self, target: Pid) -> bool {
        target == self.pid() || self.node.parent_of(target) == Some(self.pid())
    }

    /// Every live pid on the node, in order.
    pub fn processes(&self) -> Vec<Pid> {
        self.node.processes()
    }

    /// What `target` looks like from outside; `None` if it is not alive.
    pub fn info(&self, target: Pid) -> Option<ProcessInfo> {
        self.node.info(target)
    }

    /// Register this process under `name`, until it unregisters it or
    /// ends. `Exists` if the name is taken, `Invalid` if it is empty,
    /// `Limit` if it does not fit under `max_queued`.
    pub fn register(&self, name: &str) -> Result<(), Error> {
        self.node.register(name, self.pid())
    }

    /// Forget `name`, whoever holds it. `NotFound` if nobody does.
    pub fn unregister(&self, name: &str) -> Result<(), Error> {
        self.node.unregister(name)
    }

    /// The process registered under `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.node.whereis(name)
    }

    /// Label this process for people (`info`, the observer); at most
    /// [`MAX_LABEL_BYTES`](crate::MAX_LABEL_BYTES) are kept.
    pub fn set_label(&self, label: &str) {
        self.node.set_label(self.pid(), label)
    }

    /// Report the linear memory this process holds, for `info`: a backend
    /// calls it as its memory grows (a native body need not).
    pub fn set_memory_bytes(&self, bytes: u64) {
        self.process.set_memory_bytes(bytes)
    }

    /// Report the CPU time this process's body has used in all, for
    /// `info` and the observer: a backend that measures it calls this as
    /// the total grows (the Wasm backend, from its epoch ticks). Kept in
    /// whole milliseconds; a native body need not call it.
    pub fn set_cpu_time(&self, used: Duration) {
        self.process.set_cpu_time(used)
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
