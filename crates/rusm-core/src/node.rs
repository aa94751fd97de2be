//! The node: the [`Node`] handle, the state every process shares, sending,
//! and stopping the whole node.
//!
//! `Node` is one handle; its operations live with the concept they belong
//! to, each in an `impl Node` block of its own module: spawning in
//! `spawn`, links, monitors and exit signals in `links`, the exit
//! procedure in `finish`, names in `registry`, timers in `timer`, and
//! introspection in `info`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::process::Process;
use crate::reference::References;
use crate::registry::Registry;
use crate::remote::Remote;
use crate::table::ProcessTable;
use crate::timer::Timers;
use crate::{Error, ExitReason, Message, Pid, Ref, Usage};

/// Told about every process that starts and ends: the hook a lifecycle log
/// (or a benchmark counting exits) hangs off, without the core knowing of
/// either.
pub trait Lifecycle: Send + Sync + 'static {
    /// `pid` was spawned, running `name` if its spawner named it. Called
    /// before its body first runs.
    fn spawned(&self, _pid: Pid, _name: Option<&str>) {}
    /// `pid` ended with `reason`. Called once, from the exit procedure,
    /// after its links and monitors were told.
    fn exited(&self, _pid: Pid, _name: Option<&str>, _reason: &ExitReason) {}
    /// What `pid` used in its lifetime, right after [`exited`](Lifecycle::exited).
    /// Called only on a node with [`NodeConfig::accounting`] on, and only
    /// for a process that used something (a zero usage adds nothing):
    /// node-wide totals add these up so that they never go back when a
    /// process ends.
    fn retired(&self, _pid: Pid, _usage: &Usage) {}
}

/// Node-wide limits.
#[derive(Clone)]
pub struct NodeConfig {
    /// Live processes at once; a spawn past it fails with `Limit`.
    pub max_processes: u64,
    /// Largest message data; a larger send fails with `Limit`.
    pub max_message_bytes: usize,
    /// Told of every spawn and exit (see [`Lifecycle`]); `None` skips the
    /// calls altogether.
    pub lifecycle: Option<Arc<dyn Lifecycle>>,
    /// Hand each process's final [`Usage`] to [`Lifecycle::retired`] when
    /// it ends, so that node-wide totals stay monotonic. The per-process
    /// figures themselves are kept on every node (see [`Usage`]: they cost
    /// the message path nothing); this costs one call per exit. Off by
    /// default.
    pub accounting: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            max_processes: u64::MAX,
            max_message_bytes: 16 << 20,
            lifecycle: None,
            accounting: false,
        }
    }
}

/// A handle on a node. Cheap to clone; every clone is the same node.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

/// What every clone of a [`Node`] shares. The modules that extend `Node`
/// reach these fields directly: an accessor would be one more call on the
/// spawn and exit paths for nothing.
pub(crate) struct NodeInner {
    pub(crate) table: ProcessTable,
    pub(crate) registry: Registry,
    pub(crate) timers: Timers,
    // The counters every spawn and exit write, each on a cache line of its
    // own: sharing one with the read-mostly fields around them would make
    // every spawn on one core miss on what the other core just exited.
    pub(crate) next_pid: CachePadded<AtomicU64>,
    pub(crate) refs: References,
    pub(crate) live: CachePadded<AtomicU64>,
    /// Woken when `live` drops to zero (`shutdown` waits on it).
    pub(crate) all_gone: Notify,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) config: NodeConfig,
    pub(crate) runtime: Handle,
    /// This node's id in a cluster, carried by its pids (`remote`).
    pub(crate) node_id: OnceLock<u32>,
    /// Where operations on other nodes' pids go, once in a cluster.
    pub(crate) remote: OnceLock<Arc<dyn Remote>>,
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
                node_id: OnceLock::new(),
                remote: OnceLock::new(),
            }),
        }
    }

    /// The limits the node was made with.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// A number unique within the node, always at least
    /// [`FIRST_REF`](crate::FIRST_REF), that no process can predict
    /// (monitor references and timer ids come from here too).
    pub fn make_ref(&self) -> Ref {
        self.inner.refs.make()
    }

    /// Send a data message from `from` (which may be [`Pid::NODE`]).
    pub fn send(&self, from: Pid, to: Pid, tag: i64, data: Vec<u8>) -> Result<(), Error> {
        if data.len() > self.inner.config.max_message_bytes {
            return Err(Error::Limit);
        }
        // The message moves into the closure only if `to` is found; a
        // miss keeps it for a remote node.
        let mut data = Some(data);
        match self.inner.table.with(to, |p| {
            p.deliver(Message::data(from, tag, data.take().unwrap_or_default()))
        }) {
            Some(delivered) => delivered,
            None => match (self.remote_for(to), data) {
                (Some(remote), Some(data)) => remote.send(from, to, tag, data),
                _ => Err(Error::NoProcess),
            },
        }
    }

    /// [`Node::send`] for a process that keeps a [`LastPeer`]: a second
    /// send in a row to the same local process keeps a reference to it,
    /// and the sends after go straight to its mailbox, past the process
    /// table's lock and lookup. The outcomes are `send`'s: a peer that
    /// has ended refuses with `NoProcess`, as a table miss would.
    #[inline]
    pub fn send_with(
        &self,
        peer: &mut LastPeer,
        from: Pid,
        to: Pid,
        tag: i64,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        if data.len() > self.inner.config.max_message_bytes {
            return Err(Error::Limit);
        }
        if let Some(p) = &peer.process
            && p.pid == to
        {
            let sent = p.deliver(Message::data(from, tag, data));
            if sent == Err(Error::NoProcess) {
                peer.process = None;
            }
            return sent;
        }
        if peer.pid != to {
            // A first send to `to`: nothing kept (a process that sends to
            // many in turn takes no reference to each).
            peer.pid = to;
            return self.send(from, to, tag, data);
        }
        match self.inner.table.get(to) {
            Some(p) => {
                let sent = p.deliver(Message::data(from, tag, data));
                peer.process = Some(p);
                sent
            }
            // Not here: another node's, or gone.
            None => self.send(from, to, tag, data),
        }
    }

    /// Whether `pid` is alive: spawned and not yet through its exit
    /// procedure. A pid is never reused, so `false` is final.
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

    /// How many processes this node has spawned in all: monotonic, exact,
    /// and free to read (each spawn takes the next pid, and only a spawn
    /// that succeeds takes one).
    pub fn spawned(&self) -> u64 {
        let base = u64::from(self.node_id()) << Pid::SERIAL_BITS;
        self.inner.next_pid.load(Ordering::Relaxed) - 1 - base
    }

    /// How many processes are alive (or being spawned).
    pub fn live(&self) -> u64 {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Whether [`shutdown`](Node::shutdown) has begun: spawns are refused
    /// from then on, so a supervisor stops its children instead of
    /// restarting them.
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
}

/// The process a process last sent to, for [`Node::send_with`]: its pid,
/// and after a second send in a row a reference to its record. Holds at
/// most one record (256 bytes; an ended process's mailbox is emptied), so
/// a peer that has ended costs nothing more than its record until the
/// next send goes elsewhere.
pub struct LastPeer {
    pid: Pid,
    process: Option<Arc<Process>>,
}

impl Default for LastPeer {
    fn default() -> Self {
        LastPeer {
            pid: Pid::NODE,
            process: None,
        }
    }
}
