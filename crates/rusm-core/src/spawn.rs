//! How a process is started: options, quotas, `Node::spawn*`, and the task
//! that runs a body.
//!
//! A spawn with `link` or `monitor` attaches the relation on the child's
//! side before the child is in the table and on the parent's side right
//! after: the child can then never run, or die, unrelated to its parent.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use rustc_hash::FxHashMap;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::process::{Process, SIGNAL_RESERVE, Watcher};
use crate::{Ctx, Error, ExitReason, IntoExitReason, Message, Node, Pid, Ref};

/// A cap on how many processes of one kind (one capability profile, say)
/// may live at once. Shared by every spawn that names it.
#[derive(Debug)]
pub struct ProcessQuota {
    max: u64,
    live: AtomicU64,
}

impl ProcessQuota {
    /// A quota of `max` live processes, shared by handing the `Arc` to
    /// every spawn it bounds.
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
///
/// Kept within 128 bytes (the bounds are `usize::MAX` for "unbounded",
/// not `Option`s): the options move by value on every spawn, and past 128
/// bytes each move is a call to `memcpy` instead of a few register moves
/// (measured: the native spawn storm lost ~10%).
pub struct SpawnOptions {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) link: bool,
    pub(crate) monitor: Option<Ref>,
    pub(crate) mailbox_capacity: usize,
    pub(crate) max_queued: usize,
    pub(crate) quota: Option<Arc<ProcessQuota>>,
    pub(crate) trap_exit: bool,
    pub(crate) first_message: Option<Message>,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            name: None,
            link: false,
            monitor: None,
            mailbox_capacity: usize::MAX,
            max_queued: usize::MAX,
            quota: None,
            trap_exit: false,
            first_message: None,
        }
    }
}

impl SpawnOptions {
    /// Unnamed, unlinked, unmonitored, unbounded, not trapping exits.
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
        self.mailbox_capacity = capacity.unwrap_or(usize::MAX);
        self
    }

    /// Bound what the process may make the node hold, in bytes: queued
    /// messages, pending timers, names, and the room its links and
    /// monitors reserve (`max-queued-mb`). `None`: unbounded.
    pub fn max_queued(mut self, bytes: Option<usize>) -> Self {
        self.max_queued = bytes.unwrap_or(usize::MAX);
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

/// The exit reason of a process, once it ends (see [`Node::spawn_watched`]).
///
/// It holds the process's task and record: the task's end is the signal
/// (no channel of its own to allocate and fill), and the record, where
/// the exit procedure leaves the reason, holds it. The watcher thus frees
/// both, on its own thread, instead of the process's last core freeing
/// memory its spawner's allocated: a spawn storm measured that.
pub struct ExitWatch {
    task: JoinHandle<()>,
    process: Arc<Process>,
}

impl Future for ExitWatch {
    type Output = ExitReason;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ExitReason> {
        // The task ends after its exit procedure has run, whether the body
        // returned, panicked or was aborted (the exit guard runs it in
        // each case), so an ended task's reason is in its record. A task
        // that ended some other way (the runtime gone) was killed.
        let _ = std::task::ready!(std::pin::Pin::new(&mut self.task).poll(cx));
        std::task::Poll::Ready(reason_left(&self.process))
    }
}

/// The reason the exit procedure left in a watched process's record, once
/// its task has ended; none there means the task ended some other way
/// (the runtime gone), which is a kill.
fn reason_left(process: &Process) -> ExitReason {
    let reason = process.lock().pending_exit.take();
    reason.unwrap_or(ExitReason::Killed)
}

/// The exits of many processes, each given once, as they happen: what
/// [`JoinSet`] is to tasks, for watched spawns
/// ([`Node::spawn_watched_in`]).
///
/// Cheaper than a set of [`ExitWatch`]es in a `FuturesUnordered` when
/// hundreds are in flight: a process's end notifies the set through
/// tokio's own task list, with no waker of its own per watch (a spawn
/// storm of 1,000 processes alive measured the difference). Dropping the
/// set stops nothing: its processes run on, unwatched.
#[derive(Default)]
pub struct ExitSet {
    tasks: JoinSet<()>,
    /// Each task's process, whose record holds the reason once the task
    /// ends (an aborted task's `JoinError` tells its id, not its pid).
    processes: FxHashMap<tokio::task::Id, Arc<Process>>,
}

impl ExitSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Processes spawned into the set whose exit it has not yet given.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether every exit has been given.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    /// The next process to end and its reason; `None` once the set is
    /// empty.
    pub async fn next(&mut self) -> Option<(Pid, ExitReason)> {
        let id = match self.tasks.join_next_with_id().await? {
            Ok((id, ())) => id,
            // Aborted (a kill): its exit procedure still ran.
            Err(e) => e.id(),
        };
        let process = self
            .processes
            .remove(&id)
            .expect("every task of the set has its process");
        Some((process.pid, reason_left(&process)))
    }
}

impl Drop for ExitSet {
    fn drop(&mut self) {
        // A `JoinSet` aborts its tasks when dropped; a process outlives
        // its watcher.
        self.tasks.detach_all();
    }
}

/// How [`Node::start`] runs a body's task, and what it gives back for it.
trait Launch {
    type Task;
    fn launch<T>(self, runtime: &tokio::runtime::Handle, task: T) -> Self::Task
    where
        T: Future<Output = ()> + Send + 'static;
    fn abort_handle(task: &Self::Task) -> AbortHandle;
}

/// A task of its own, with its join handle.
struct Alone;

impl Launch for Alone {
    type Task = JoinHandle<()>;
    fn launch<T>(self, runtime: &tokio::runtime::Handle, task: T) -> JoinHandle<()>
    where
        T: Future<Output = ()> + Send + 'static,
    {
        runtime.spawn(task)
    }
    fn abort_handle(task: &JoinHandle<()>) -> AbortHandle {
        task.abort_handle()
    }
}

impl Launch for &mut JoinSet<()> {
    type Task = AbortHandle;
    fn launch<T>(self, runtime: &tokio::runtime::Handle, task: T) -> AbortHandle
    where
        T: Future<Output = ()> + Send + 'static,
    {
        self.spawn_on(task, runtime)
    }
    fn abort_handle(task: &AbortHandle) -> AbortHandle {
        task.clone()
    }
}

impl Node {
    /// Spawn a process from the host (its parent is [`Pid::NODE`]).
    pub fn spawn<F, Fut>(&self, options: SpawnOptions, body: F) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_from(Pid::NODE, options, body)
    }

    /// Spawn a process on behalf of `parent`: links and monitors in
    /// `options` attach to `parent`, and `parent` may manage the child.
    pub fn spawn_from<F, Fut>(
        &self,
        parent: Pid,
        options: SpawnOptions,
        body: F,
    ) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let (process, _task) = self.start(parent, options, false, body, Alone)?;
        Ok(process.pid)
    }

    /// Spawn from the host and get a future of the exit reason, attached
    /// before the body runs so that not even an instant exit is missed.
    pub fn spawn_watched<F, Fut>(
        &self,
        parent: Pid,
        options: SpawnOptions,
        body: F,
    ) -> Result<(Pid, ExitWatch), Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let (process, task) = self.start(parent, options, true, body, Alone)?;
        Ok((process.pid, ExitWatch { task, process }))
    }

    /// Like [`Node::spawn_watched`], with the exit given by `set` among
    /// the others it watches.
    pub fn spawn_watched_in<F, Fut>(
        &self,
        set: &mut ExitSet,
        parent: Pid,
        options: SpawnOptions,
        body: F,
    ) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let (process, task) = self.start(parent, options, true, body, &mut set.tasks)?;
        let pid = process.pid;
        set.processes.insert(task.id(), process);
        Ok(pid)
    }

    /// Every spawn: the process's record, in the table, and its task.
    fn start<F, Fut, L>(
        &self,
        parent: Pid,
        mut options: SpawnOptions,
        watched: bool,
        body: F,
        launch: L,
    ) -> Result<(Arc<Process>, L::Task), Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
        L: Launch,
    {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::Acquire) {
            return Err(Error::Limit);
        }
        if let Some(m) = &options.first_message
            && m.data.len() > inner.config.max_message_bytes
        {
            return Err(Error::Limit);
        }
        let max = inner.config.max_processes;
        if inner
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(Error::Limit);
        }
        if let Some(q) = &options.quota
            && !q.try_acquire()
        {
            inner.live.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Limit);
        }
        if parent != Pid::NODE
            && (options.link || options.monitor.is_some())
            && let Err(e) = self.reserve_for_child(parent, &options)
        {
            if let Some(q) = &options.quota {
                q.release();
            }
            inner.live.fetch_sub(1, Ordering::AcqRel);
            return Err(e);
        }

        let pid = Pid(inner.next_pid.fetch_add(1, Ordering::Relaxed));
        let process = Arc::new(Process::new(
            pid,
            parent,
            options.name.take(),
            options.mailbox_capacity,
            options.max_queued,
            options.trap_exit,
            options.quota.take(),
        ));
        {
            let mut st = process.lock();
            if let Some(mut m) = options.first_message.take() {
                m.sender = parent;
                st.push(m);
            }
            if options.link && parent != Pid::NODE {
                st.links.push(parent);
                st.queued += SIGNAL_RESERVE;
            }
            st.watched = watched;
            if let Some(reference) = options.monitor
                && parent != Pid::NODE
            {
                st.monitored_by.push(Watcher::Process {
                    reference,
                    watcher: parent,
                });
            }
        }
        inner.table.insert(process.clone());

        if parent != Pid::NODE && (options.link || options.monitor.is_some()) {
            self.attach_to_parent(&process, parent, options.link, options.monitor);
        }

        if let Some(l) = &inner.config.lifecycle {
            l.spawned(pid, process.name.as_deref());
        }
        tracing::trace!(%pid, name = process.name.as_deref(), "spawn");

        let task = launch.launch(
            &inner.runtime,
            run_body(self.clone(), process.clone(), body),
        );
        {
            let mut st = process.lock();
            if st.alive && st.pending_exit.is_some() {
                // An exit signal arrived before the task existed.
                L::abort_handle(&task).abort();
            } else if st.alive {
                st.abort = Some(L::abort_handle(&task));
            }
        }
        Ok((process, task))
    }

    /// The room a new child's link and monitor reserve on its parent,
    /// taken before the child exists so that a parent at its
    /// `max_queued` gets `Limit` and no child.
    fn reserve_for_child(&self, parent: Pid, options: &SpawnOptions) -> Result<(), Error> {
        let signals = usize::from(options.link) + usize::from(options.monitor.is_some());
        let Some(p) = self.inner.table.get(parent) else {
            return Ok(());
        };
        let mut st = p.lock();
        if !st.alive {
            // The child is stopped (or never attached) as it starts.
            return Ok(());
        }
        st.try_charge(signals * SIGNAL_RESERVE, p.max_queued)
    }

    /// Attach a new process's link and monitor on its parent's side. A
    /// parent that died meanwhile gets nothing attached; a linked child
    /// then follows it. Out of line: most spawns have neither.
    #[inline(never)]
    fn attach_to_parent(
        &self,
        process: &Arc<Process>,
        parent: Pid,
        link: bool,
        monitor: Option<Ref>,
    ) {
        let pid = process.pid;
        if self.is_remote(parent) {
            // Spawned for another node's process (`spawn_on`): that node
            // holds the parent's side of the link and the monitor.
            return;
        }
        let parent_alive = match self.inner.table.get(parent) {
            Some(p) => {
                let mut st = p.lock();
                if st.alive {
                    if link {
                        st.links.push(pid);
                    }
                    if let Some(reference) = monitor {
                        st.extra().monitors.push((reference, pid));
                    }
                }
                st.alive
            }
            None => false,
        };
        if !parent_alive && link {
            let mut st = process.lock();
            st.remove_link(parent);
            st.stop_with(ExitReason::linked(parent, ExitReason::Killed));
        }
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
    let guard = ExitGuard {
        node: node.clone(),
        process: process.clone(),
        reason: None,
    };
    RunBody {
        stage: Stage::Start {
            body,
            ctx: Ctx::new(node, process),
        },
        guard: Some(guard),
    }
}

pin_project_lite::pin_project! {
    /// A process's body, its panics caught, then its exit procedure.
    ///
    /// Written out by hand rather than as an `async` block around
    /// `catch_unwind`: every poll of every process goes through it, and
    /// the block, the `CatchUnwind` and the block inside it were three
    /// state machines to pass through at each. callgrind counted about
    /// 75 instructions a poll in them; this one saves about 40 of those
    /// (a Wasm ping-pong's round trip, two polls, went down by 84).
    struct RunBody<F, Fut> {
        // Declared first, so dropped first: a killed process's body is
        // gone (its store, its locals) before its exit procedure runs, as
        // it is when the body returns.
        #[pin]
        stage: Stage<F, Fut>,
        // `None` once the exit procedure ran.
        guard: Option<ExitGuard>,
    }
}

pin_project_lite::pin_project! {
    #[project = StageProj]
    #[project_replace = StageOwn]
    enum Stage<F, Fut> {
        /// Not yet polled: the body is called at the first poll.
        Start { body: F, ctx: Ctx },
        Running { #[pin] future: Fut },
        Ended,
    }
}

impl<F, Fut> Future for RunBody<F, Fut>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future,
    Fut::Output: IntoExitReason,
{
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if let StageProj::Start { .. } = this.stage.as_mut().project() {
            let StageOwn::Start { body, ctx } = this.stage.as_mut().project_replace(Stage::Ended)
            else {
                unreachable!("matched just above")
            };
            // The body is called under the same catch as its polls: a
            // panic there crashes the process, not the worker.
            match std::panic::catch_unwind(AssertUnwindSafe(|| body(ctx))) {
                Ok(future) => this.stage.set(Stage::Running { future }),
                Err(payload) => {
                    return end(
                        this.guard,
                        ExitReason::crashed(panic_text(payload.as_ref())),
                    );
                }
            }
        }
        let StageProj::Running { future } = this.stage.as_mut().project() else {
            panic!("a process's task polled after it ended");
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            future.poll(cx).map(IntoExitReason::into_exit_reason)
        }));
        let reason = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(reason)) => reason,
            Err(payload) => ExitReason::crashed(panic_text(payload.as_ref())),
        };
        // The body's future goes before the exit procedure runs, whether
        // it returned or panicked.
        this.stage.set(Stage::Ended);
        end(this.guard, reason)
    }
}

/// Run the exit procedure with `reason`, now: the task's end then always
/// comes after it (what [`ExitWatch`] and [`ExitSet`] rely on).
fn end(guard: &mut Option<ExitGuard>, reason: ExitReason) -> Poll<()> {
    if let Some(mut guard) = guard.take() {
        guard.reason = Some(reason);
        drop(guard);
    }
    Poll::Ready(())
}

#[cfg(test)]
mod tests {
    /// See [`super::SpawnOptions`]: past 128 bytes every move is a `memcpy`.
    #[test]
    fn spawn_options_fit_in_128_bytes() {
        assert!(std::mem::size_of::<super::SpawnOptions>() <= 128);
    }
}
