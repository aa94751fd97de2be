//! The node: the process table, the registry, timers, and the operations
//! that relate processes to each other (links, monitors, exit signals).

use crossbeam_utils::CachePadded;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};

use crate::process::{Extra, ITEM_OVERHEAD, Process, SIGNAL_RESERVE, TIMER_OVERHEAD, Watcher};
use crate::reference::References;
use crate::registry::Registry;
use crate::spawn::run_body;
use crate::table::ProcessTable;
use crate::timer::Timers;
use crate::{Ctx, Error, ExitReason, IntoExitReason, Message, Pid, Ref, SpawnOptions};

/// Told about every process that starts and ends; the lifecycle log hangs
/// off this.
pub trait Lifecycle: Send + Sync + 'static {
    fn spawned(&self, _pid: Pid, _name: Option<&str>) {}
    fn exited(&self, _pid: Pid, _name: Option<&str>, _reason: &ExitReason) {}
}

/// Node-wide limits.
#[derive(Clone)]
pub struct NodeConfig {
    /// Live processes at once; a spawn past it fails with `Limit`.
    pub max_processes: u64,
    /// Largest message data; a larger send fails with `Limit`.
    pub max_message_bytes: usize,
    pub lifecycle: Option<Arc<dyn Lifecycle>>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            max_processes: u64::MAX,
            max_message_bytes: 16 << 20,
            lifecycle: None,
        }
    }
}

/// A snapshot of the node's bookkeeping, for tests and operators: after
/// every process has gone, every count here is zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub processes: usize,
    pub names: usize,
    pub links: usize,
    pub monitors: usize,
    pub timers: usize,
    /// Bytes charged to live processes (`max_queued`).
    pub queued_bytes: usize,
    /// Slots the process table holds (memory kept after a storm).
    pub table_capacity: usize,
}

/// What `info` tells about a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: Pid,
    pub parent: Pid,
    /// What it runs (a component name), if the spawner named it.
    pub name: Option<String>,
    pub label: Option<String>,
    pub names: Vec<String>,
    pub links: Vec<Pid>,
    pub monitored_by: Vec<Pid>,
    pub mailbox_len: u32,
    pub trap_exit: bool,
    pub memory_bytes: u64,
    /// Bytes it makes the node hold (queued messages, timers, names, and
    /// the room its links and monitors reserve).
    pub queued_bytes: u64,
}

/// `info` lists at most this many names, links and watchers: the answer
/// is built in one call, and a process watched by a crowd must not make it
/// megabytes long.
pub const INFO_LIST_LIMIT: usize = 10_000;

/// The longest label a process keeps, in bytes.
pub const MAX_LABEL_BYTES: usize = 1024;

/// The exit reason of a process, once it ends (see [`Node::spawn_watched`]).
pub struct ExitWatch(oneshot::Receiver<ExitReason>);

impl Future for ExitWatch {
    type Output = ExitReason;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ExitReason> {
        // The sender lives in the process's watcher list and is always used
        // by the exit procedure; a dropped node is the only other way out.
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(ExitReason::Killed))
    }
}

/// A handle on a node. Cheap to clone; every clone is the same node.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

pub(crate) struct NodeInner {
    pub(crate) table: ProcessTable,
    pub(crate) registry: Registry,
    pub(crate) timers: Timers,
    // The counters every spawn and exit write, each on a cache line of its
    // own: sharing one with the read-mostly fields around them would make
    // every spawn on one core miss on what the other core just exited.
    next_pid: CachePadded<AtomicU64>,
    refs: References,
    live: CachePadded<AtomicU64>,
    all_gone: Notify,
    shutting_down: AtomicBool,
    config: NodeConfig,
    runtime: Handle,
}

impl Node {
    /// A node on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new(config: NodeConfig) -> Node {
        Node::with_runtime(config, Handle::current())
    }

    /// A node whose processes run on `runtime`.
    pub fn with_runtime(config: NodeConfig, runtime: Handle) -> Node {
        Node {
            inner: Arc::new(NodeInner {
                table: ProcessTable::new(),
                registry: Registry::default(),
                timers: Timers::default(),
                next_pid: CachePadded::new(AtomicU64::new(1)),
                refs: References::new(),
                live: CachePadded::new(AtomicU64::new(0)),
                all_gone: Notify::new(),
                shutting_down: AtomicBool::new(false),
                config,
                runtime,
            }),
        }
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// A number unique within the node, always at least
    /// [`FIRST_REF`](crate::FIRST_REF), that no process can predict
    /// (monitor references and timer ids come from here too).
    pub fn make_ref(&self) -> Ref {
        self.inner.refs.make()
    }

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
        mut options: SpawnOptions,
        body: F,
    ) -> Result<Pid, Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
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
            options.max_queued.unwrap_or(usize::MAX),
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
            st.spawn_watch = options.exit_watch.take();
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

        let task = inner
            .runtime
            .spawn(run_body(self.clone(), process.clone(), body));
        let mut st = process.lock();
        if st.pending_exit.is_some() {
            // An exit signal arrived before the task existed.
            task.abort();
        } else if st.alive {
            st.abort = Some(task.abort_handle());
        }
        Ok(pid)
    }

    /// Spawn from the host and get a future of the exit reason, attached
    /// before the body runs so that not even an instant exit is missed.
    pub fn spawn_watched<F, Fut>(
        &self,
        parent: Pid,
        mut options: SpawnOptions,
        body: F,
    ) -> Result<(Pid, ExitWatch), Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let (tx, rx) = oneshot::channel();
        options.exit_watch = Some(tx);
        let pid = self.spawn_from(parent, options, body)?;
        Ok((pid, ExitWatch(rx)))
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

    /// Send a data message from `from` (which may be [`Pid::NODE`]).
    pub fn send(&self, from: Pid, to: Pid, tag: i64, data: Vec<u8>) -> Result<(), Error> {
        if data.len() > self.inner.config.max_message_bytes {
            return Err(Error::Limit);
        }
        self.inner
            .table
            .with(to, |p| p.deliver(Message::data(from, tag, data)))
            .unwrap_or(Err(Error::NoProcess))
    }

    pub fn is_alive(&self, pid: Pid) -> bool {
        self.inner.table.contains(pid)
    }

    /// The parent of a live process.
    pub fn parent_of(&self, pid: Pid) -> Option<Pid> {
        self.inner.table.get(pid).map(|p| p.parent)
    }

    /// Every live pid, in order.
    pub fn processes(&self) -> Vec<Pid> {
        self.inner.table.pids()
    }

    /// How many processes are alive (or being spawned).
    pub fn live(&self) -> u64 {
        self.inner.live.load(Ordering::Acquire)
    }

    pub fn info(&self, pid: Pid) -> Option<ProcessInfo> {
        let p = self.inner.table.get(pid)?;
        let st = p.lock();
        if !st.alive {
            return None;
        }
        let extra = st.extra.as_deref();
        Some(ProcessInfo {
            pid,
            parent: p.parent,
            name: p.name.as_deref().map(str::to_string),
            label: extra.and_then(|e| e.label.clone()),
            names: extra
                .map(|e| {
                    e.names
                        .iter()
                        .take(INFO_LIST_LIMIT)
                        .map(|n| n.to_string())
                        .collect()
                })
                .unwrap_or_default(),
            links: st.links.iter().take(INFO_LIST_LIMIT).copied().collect(),
            monitored_by: st
                .monitored_by
                .iter()
                .filter_map(|w| match w {
                    Watcher::Process { watcher, .. } => Some(*watcher),
                    Watcher::Host(_) => None,
                })
                .take(INFO_LIST_LIMIT)
                .collect(),
            mailbox_len: u32::try_from(st.mailbox.len()).unwrap_or(u32::MAX),
            trap_exit: st.trap_exit,
            memory_bytes: p.memory_bytes.load(Ordering::Relaxed),
            queued_bytes: st.queued as u64,
        })
    }

    /// Kill a process: untrappable, reason `killed`.
    pub fn kill(&self, pid: Pid) -> Result<(), Error> {
        let p = self.inner.table.get(pid).ok_or(Error::NoProcess)?;
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
        let p = self.inner.table.get(pid).ok_or(Error::NoProcess)?;
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

    /// Wait for a process to end and get its reason (`None`: it was not
    /// alive). Registers before returning, so no exit is missed.
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

    /// Link two processes (both ways). Each side reserves room for the
    /// `exit` message the link may bring it; `Limit` if either cannot.
    pub fn link(&self, a: Pid, b: Pid) -> Result<(), Error> {
        if a == b {
            return Ok(());
        }
        let pa = self.inner.table.get(a).ok_or(Error::NoProcess)?;
        let pb = self.inner.table.get(b).ok_or(Error::NoProcess)?;
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

    pub fn unlink(&self, a: Pid, b: Pid) -> Result<(), Error> {
        if let Some(pa) = self.inner.table.get(a) {
            pa.lock().remove_link(b);
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
        let attached = match self.inner.table.get(target) {
            Some(t) => {
                let mut st = t.lock();
                if st.alive {
                    st.monitored_by
                        .push(Watcher::Process { reference, watcher });
                }
                st.alive
            }
            None => false,
        };
        if !attached {
            let waker = {
                let mut st = w.lock();
                let extra = st.extra();
                let before = extra.monitors.len();
                extra.monitors.retain(|&(r, _)| r != reference);
                // Unless the watcher died meanwhile (its exit dropped the
                // record), the reservation becomes the `noproc` down.
                if st.alive && st.extra().monitors.len() < before {
                    st.push_signal(Message::down(target, reference, "noproc"))
                } else {
                    None
                }
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        Ok(reference)
    }

    /// Drop a monitor; a `down` it already queued is flushed too.
    pub fn demonitor(&self, watcher: Pid, reference: Ref) -> Result<(), Error> {
        let w = self.inner.table.get(watcher).ok_or(Error::NoProcess)?;
        let target = {
            let mut st = w.lock();
            let Some(extra) = st.extra.as_deref_mut() else {
                return Err(Error::NotFound);
            };
            let Some(i) = extra.monitors.iter().position(|&(r, _)| r == reference) else {
                return Err(Error::NotFound);
            };
            let target = extra.monitors.swap_remove(i).1;
            st.refund(SIGNAL_RESERVE);
            target
        };
        if let Some(t) = self.inner.table.get(target) {
            t.lock()
                .monitored_by
                .retain(|m| !matches!(m, Watcher::Process { reference: r, .. } if *r == reference));
        }
        Ok(())
    }

    /// Set `trap_exit`; returns the previous setting.
    pub fn set_trap_exit(&self, pid: Pid, on: bool) -> bool {
        match self.inner.table.get(pid) {
            Some(p) => std::mem::replace(&mut p.lock().trap_exit, on),
            None => false,
        }
    }

    /// Name `pid`. `Exists` if the name is taken, `Invalid` if it is empty.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), Error> {
        if name.is_empty() {
            return Err(Error::Invalid);
        }
        let mut names = self.inner.registry.lock();
        if names.contains_key(name) {
            return Err(Error::Exists);
        }
        let p = self.inner.table.get(pid).ok_or(Error::NoProcess)?;
        let mut st = p.lock();
        if !st.alive {
            return Err(Error::NoProcess);
        }
        st.try_charge(ITEM_OVERHEAD + name.len(), p.max_queued)?;
        let name: Arc<str> = name.into();
        st.extra().names.push(name.clone());
        names.insert(name, pid);
        Ok(())
    }

    /// Forget a name. `NotFound` if nobody has it.
    pub fn unregister(&self, name: &str) -> Result<(), Error> {
        let mut names = self.inner.registry.lock();
        let pid = names.remove(name).ok_or(Error::NotFound)?;
        if let Some(p) = self.inner.table.get(pid) {
            let mut st = p.lock();
            let had = st.extra.as_deref_mut().is_some_and(|extra| {
                let before = extra.names.len();
                extra.names.retain(|n| &**n != name);
                extra.names.len() < before
            });
            if had {
                st.refund(ITEM_OVERHEAD + name.len());
            }
        }
        Ok(())
    }

    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner.registry.whereis(name)
    }

    /// Label a process for people (`info`, the observer). At most
    /// [`MAX_LABEL_BYTES`] are kept: a label is a name, not storage.
    pub fn set_label(&self, pid: Pid, label: &str) {
        let mut end = label.len().min(MAX_LABEL_BYTES);
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(p) = self.inner.table.get(pid) {
            p.lock().extra().label = Some(label[..end].to_string());
        }
    }

    /// Record the linear memory a backend's process holds (for `info`).
    pub fn set_memory_bytes(&self, pid: Pid, bytes: u64) {
        if let Some(p) = self.inner.table.get(pid) {
            p.set_memory_bytes(bytes);
        }
    }

    /// Deliver a data message to `to` after `delay`; returns the timer id.
    /// The timer belongs to `from`: its payload is charged to `from` until
    /// it fires (`Limit` past `max_queued`), and it is cancelled if `from`
    /// exits first.
    pub fn send_after(
        &self,
        from: Pid,
        to: Pid,
        tag: i64,
        data: Vec<u8>,
        delay: Duration,
    ) -> Result<Ref, Error> {
        if data.len() > self.inner.config.max_message_bytes {
            return Err(Error::Limit);
        }
        let id = self.make_ref();
        let charge = TIMER_OVERHEAD + ITEM_OVERHEAD + data.len();
        let owner = if from == Pid::NODE {
            None
        } else {
            let p = self.inner.table.get(from).ok_or(Error::NoProcess)?;
            {
                let mut st = p.lock();
                if !st.alive {
                    return Err(Error::NoProcess);
                }
                st.try_charge(charge, p.max_queued)?;
                st.extra().timers.insert(id);
            }
            Some(p)
        };
        let node = self.clone();
        let fire = async move {
            tokio::time::sleep(delay).await;
            if let Some((owner, charge)) = node.inner.timers.fire(id) {
                node.timer_done(owner, id, charge);
                // The target may be gone or full by now; a timer, like a
                // send, never fails its sender after the fact.
                let _ = node.send(from, to, tag, data);
            }
        };
        // Hold the timer table's lock while spawning so a timer that fires
        // at once still finds itself registered.
        self.inner.timers.start(id, from, charge, || {
            self.inner.runtime.spawn(fire).abort_handle()
        });
        // An owner that exited between its charge and the start above did
        // not see this timer to cancel it.
        if let Some(p) = owner
            && !p.lock().alive
        {
            self.inner.timers.cancel(id);
        }
        Ok(id)
    }

    /// Cancel a timer; true if it was still pending.
    pub fn cancel_timer(&self, id: Ref) -> bool {
        match self.inner.timers.cancel(id) {
            Some((owner, charge)) => {
                self.timer_done(owner, id, charge);
                true
            }
            None => false,
        }
    }

    /// A timer fired or was cancelled: its owner no longer pays for it.
    fn timer_done(&self, owner: Pid, id: Ref, charge: usize) {
        if owner == Pid::NODE {
            return;
        }
        if let Some(p) = self.inner.table.get(owner) {
            let mut st = p.lock();
            if let Some(extra) = st.extra.as_deref_mut()
                && extra.timers.remove(&id)
            {
                st.refund(charge);
            }
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Stop the whole node: no new spawns; every process is asked to stop
    /// with `shutdown` (newest first, so children go before the supervisors
    /// that started them); whatever is still alive at `deadline` is killed.
    /// Returns how many had to be killed.
    pub async fn shutdown(&self, deadline: Duration) -> usize {
        self.inner.shutting_down.store(true, Ordering::Release);
        for pid in self.processes().into_iter().rev() {
            let _ = self.stop(Pid::NODE, pid, ExitReason::Shutdown);
        }
        if self.wait_all_gone(deadline).await {
            return 0;
        }
        let rest = self.processes();
        for &pid in &rest {
            let _ = self.kill(pid);
        }
        // A body that never yields cannot be stopped by anyone; do not hang
        // the node on it forever.
        self.wait_all_gone(Duration::from_secs(1)).await;
        rest.len()
    }

    async fn wait_all_gone(&self, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        loop {
            let notified = self.inner.all_gone.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.live.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return self.inner.live.load(Ordering::Acquire) == 0;
            }
        }
    }

    pub fn stats(&self) -> NodeStats {
        let mut stats = NodeStats {
            processes: self.inner.table.len(),
            names: self.inner.registry.len(),
            timers: self.inner.timers.len(),
            table_capacity: self.inner.table.capacity(),
            ..NodeStats::default()
        };
        for p in self.inner.table.processes() {
            let st = p.lock();
            stats.links += st.links.len();
            stats.monitors += st.monitored_by.len();
            stats.queued_bytes += st.queued;
        }
        stats
    }

    /// The exit procedure: runs once, when a body's task ends for any
    /// reason. Marks the process dead under its lock (from then on links and
    /// monitors see `noproc`), then tells everyone related to it.
    pub(crate) fn finish(&self, process: &Arc<Process>, body_reason: Option<ExitReason>) {
        let inner = &self.inner;
        let pid = process.pid;
        let (reason, links, watchers, spawn_watch, extra) = {
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
            st.mailbox = Default::default();
            st.waker = None;
            st.abort = None;
            (
                reason,
                std::mem::take(&mut st.links),
                std::mem::take(&mut st.monitored_by),
                st.spawn_watch.take(),
                st.extra.take(),
            )
        };
        inner.table.remove(pid);
        // Most processes end with no links, monitors or names: keep the
        // signalling out of line, so their exit runs less code.
        if extra.is_some() || !links.is_empty() || !watchers.is_empty() {
            self.signal_exit(pid, &reason, extra, links, watchers);
        }
        if let Some(q) = &process.quota {
            q.release();
        }
        tracing::trace!(%pid, %reason, "exit");
        if let Some(l) = &inner.config.lifecycle {
            l.exited(pid, process.name.as_deref(), &reason);
        }
        if let Some(tx) = spawn_watch {
            let _ = tx.send(reason);
        }
        if inner.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            inner.all_gone.notify_waiters();
        }
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

    /// An exit's signals: names released, monitors this process held
    /// dropped, linked processes signalled, watchers told.
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
                if let Some(t) = inner.table.get(target) {
                    t.lock().monitored_by.retain(
                        |m| !matches!(m, Watcher::Process { reference: r, .. } if *r == reference),
                    );
                }
            }
        }
        for linked in links {
            let Some(p) = inner.table.get(linked) else {
                continue;
            };
            let waker = {
                let mut st = p.lock();
                if !st.alive || !st.remove_link(pid) {
                    None
                } else if reason.is_normal() {
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
        // Only monitoring processes need the text (a host watcher gets the
        // reason itself): made once, on the first such watcher.
        let mut reason_text: Option<String> = None;
        for w in watchers {
            match w {
                Watcher::Process { reference, watcher } => {
                    let Some(p) = inner.table.get(watcher) else {
                        continue;
                    };
                    let waker = {
                        let mut st = p.lock();
                        let held = st.extra.as_deref_mut().is_some_and(|e| {
                            let before = e.monitors.len();
                            e.monitors.retain(|&(r, _)| r != reference);
                            e.monitors.len() < before
                        });
                        if st.alive && held {
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
    }
}
