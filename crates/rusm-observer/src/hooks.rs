//! What the observer learns as it happens: spawns, exits by class, the
//! final usage of each process, each process's grants, HTTP requests.
//!
//! [`Hooks`] is the node's [`Lifecycle`] (or part of it, when a node also
//! logs) and the Wasm backend's spawn observer. Its work on the spawn and
//! exit paths is a striped counter bump and, for a Wasm process, one entry
//! in a sharded map of grants: everything the views show beyond that is
//! read from the node when someone asks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rusm_caps::Capabilities;
use rusm_core::{ExitReason, Lifecycle, Node, Pid, Usage};
// Pids are chosen by the node, never by a guest: no need for a keyed hash.
use rustc_hash::FxHashMap as HashMap;

use crate::counters::Striped;

/// The class of an exit reason: the bounded label metrics and charts use
/// (a reason's text is the guest's, and unbounded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitClass {
    /// `normal`.
    Normal,
    /// `killed`.
    Killed,
    /// `crashed: ...`, including a non-zero `proc_exit` (which reads as
    /// `crashed: exit code N`).
    Crashed,
    /// `failed to start: ...`.
    FailedToStart,
    /// `linked <pid> ...`: a cascade from a linked process.
    Linked,
    /// `shutdown`.
    Shutdown,
}

impl ExitClass {
    /// Every class, in the order the page and `/metrics` list them.
    pub const ALL: [ExitClass; 6] = [
        ExitClass::Normal,
        ExitClass::Killed,
        ExitClass::Crashed,
        ExitClass::FailedToStart,
        ExitClass::Linked,
        ExitClass::Shutdown,
    ];

    /// The class of `reason`.
    pub fn of(reason: &ExitReason) -> ExitClass {
        match reason {
            ExitReason::Normal => ExitClass::Normal,
            ExitReason::Killed => ExitClass::Killed,
            ExitReason::Crashed(_) | ExitReason::ExitCode(_) => ExitClass::Crashed,
            ExitReason::FailedToStart(_) => ExitClass::FailedToStart,
            ExitReason::Linked(..) => ExitClass::Linked,
            ExitReason::Shutdown => ExitClass::Shutdown,
            // Only ever the cause inside a `linked` reason: a process is
            // not stopped with it directly.
            ExitReason::NoConnection | ExitReason::NoProc => ExitClass::Killed,
        }
    }

    /// Its label value (`normal`, `killed`, `crashed`, `failed_to_start`,
    /// `linked`, `shutdown`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExitClass::Normal => "normal",
            ExitClass::Killed => "killed",
            ExitClass::Crashed => "crashed",
            ExitClass::FailedToStart => "failed_to_start",
            ExitClass::Linked => "linked",
            ExitClass::Shutdown => "shutdown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const SHARDS: usize = 16;

/// The grants of each live Wasm process, by pid.
struct Grants {
    shards: [Mutex<HashMap<u64, Arc<Capabilities>>>; SHARDS],
}

impl Grants {
    fn shard(&self, pid: Pid) -> &Mutex<HashMap<u64, Arc<Capabilities>>> {
        &self.shards[(pid.get() as usize) % SHARDS]
    }
}

/// The HTTP requests a node served, by route and status (the serving
/// layer reports them through [`Hooks::record_request`]).
type Requests = HashMap<(Arc<str>, u16), u64>;

/// The observer's hooks into a node: give it to [`rusm_core::NodeConfig`]
/// as the lifecycle (or call it from yours), and to the Wasm backend as its
/// spawn observer ([`Hooks::record_grants`]). Cheap to clone.
pub struct Hooks {
    /// Exits by class, but for `normal` (index 0), which is derived (see
    /// [`Hooks::exits`]): the usual exit then costs the hooks no write.
    pub(crate) exits: [Striped; 6],
    /// The highest `normal` count reported so far: keeps the derived
    /// count monotonic (see [`Hooks::exits`]).
    normal_seen: AtomicU64,
    /// Messages sent by processes that have ended.
    pub(crate) retired_sent: Striped,
    /// CPU milliseconds of processes that have ended.
    pub(crate) retired_cpu_ms: Striped,
    grants: Grants,
    /// Entries in `grants`: an exit skips the map's lock while it is empty
    /// (a node of native processes only).
    grants_len: AtomicUsize,
    requests: Mutex<Requests>,
    node: OnceLock<Node>,
    /// Reachable cluster nodes, this one included; -1 outside a cluster.
    cluster_nodes: std::sync::atomic::AtomicI64,
    /// Messages from other nodes dropped on arrival, as the cluster counts
    /// them (read at each scrape).
    cluster_dropped: OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>,
}

impl Hooks {
    /// Hooks with every count at zero.
    pub fn new() -> Arc<Hooks> {
        Arc::new(Hooks {
            exits: std::array::from_fn(|_| Striped::new()),
            normal_seen: AtomicU64::new(0),
            retired_sent: Striped::new(),
            retired_cpu_ms: Striped::new(),
            grants: Grants {
                shards: std::array::from_fn(|_| Mutex::new(HashMap::default())),
            },
            grants_len: AtomicUsize::new(0),
            requests: Mutex::new(HashMap::default()),
            node: OnceLock::new(),
            cluster_nodes: std::sync::atomic::AtomicI64::new(-1),
            cluster_dropped: OnceLock::new(),
        })
    }

    /// Tell the hooks which node they watch (done by [`start`](crate::start);
    /// earlier if Wasm processes spawn before the observer starts): a grant
    /// recorded for a process that already ended is then dropped at once.
    pub fn attach(&self, node: &Node) {
        let _ = self.node.set(node.clone());
    }

    /// Remember the grants `pid` runs under (the Wasm backend's spawn
    /// observer calls this for every Wasm process).
    pub fn record_grants(&self, pid: Pid, caps: &Arc<Capabilities>) {
        if self
            .grants
            .shard(pid)
            .lock()
            .insert(pid.get(), caps.clone())
            .is_none()
        {
            self.grants_len.fetch_add(1, Ordering::Relaxed);
        }
        // The spawn hook runs after the process started, so it may already
        // have ended and been forgotten: forget it again.
        if let Some(node) = self.node.get()
            && !node.is_alive(pid)
        {
            self.forget(pid);
        }
    }

    /// The grants of a live Wasm process (`None` for a native one).
    pub fn grants(&self, pid: Pid) -> Option<Arc<Capabilities>> {
        self.grants.shard(pid).lock().get(&pid.get()).cloned()
    }

    /// Count one HTTP request served on `route` with `status` (for
    /// `/metrics` and the requests chart). Routes are the operator's, from
    /// the manifest: a bounded set.
    pub fn record_request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock();
        if let Some(n) = requests
            .iter_mut()
            .find_map(|((r, s), n)| (**r == *route && *s == status).then_some(n))
        {
            *n += 1;
        } else {
            requests.insert((route.into(), status), 1);
        }
    }

    /// Every (route, status) with its count.
    pub(crate) fn requests(&self) -> Vec<(Arc<str>, u16, u64)> {
        let mut all: Vec<_> = self
            .requests
            .lock()
            .iter()
            .map(|((r, s), n)| (r.clone(), *s, *n))
            .collect();
        all.sort();
        all
    }

    /// Requests served, all routes together.
    pub(crate) fn requests_total(&self) -> u64 {
        self.requests.lock().values().sum()
    }

    fn forget(&self, pid: Pid) {
        if self.grants.shard(pid).lock().remove(&pid.get()).is_some() {
            self.grants_len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Processes spawned since the node started (0 before
    /// [`attach`](Hooks::attach)): the node's own count, which a spawn
    /// keeps anyway (its next pid), so a spawn costs the hooks nothing.
    /// (Not "ended + alive": an exit is counted before the process leaves
    /// the live count, and that sum would go back by one, which a
    /// Prometheus counter must never do.)
    pub fn spawns(&self) -> u64 {
        self.node.get().map_or(0, Node::spawned)
    }

    /// The node is in a cluster whose reachable nodes, this one included,
    /// are now `n` (the node's membership calls this on every change).
    pub fn set_cluster_nodes(&self, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.cluster_nodes.store(n, Ordering::Relaxed);
    }

    /// Where the count of messages from other nodes dropped on arrival
    /// (a receiver over its `max-queued-mb` or its mailbox, or gone) is
    /// read: the node's cluster. Set once.
    pub fn set_cluster_dropped(&self, read: Box<dyn Fn() -> u64 + Send + Sync>) {
        let _ = self.cluster_dropped.set(read);
    }

    /// Messages from other nodes dropped on arrival; `None` outside a
    /// cluster.
    pub fn cluster_dropped(&self) -> Option<u64> {
        self.cluster_dropped.get().map(|read| read())
    }

    /// Reachable cluster nodes, `None` outside a cluster.
    pub fn cluster_nodes(&self) -> Option<u64> {
        u64::try_from(self.cluster_nodes.load(Ordering::Relaxed)).ok()
    }

    /// Processes that ended with a reason of `class` (0 for `normal`
    /// before [`attach`](Hooks::attach)).
    ///
    /// `normal` is not counted as exits happen: it is every process that
    /// was spawned and is no longer live, less the other classes. An exit
    /// is counted in its class a moment before it leaves the live count,
    /// so that difference can lag by the exits in flight; the highest
    /// value reported so far is kept, so the count never goes back (a
    /// Prometheus counter must not) and catches up once they are done.
    pub fn exits(&self, class: ExitClass) -> u64 {
        if class != ExitClass::Normal {
            return self.exits[class.index()].get();
        }
        let Some(node) = self.node.get() else {
            return 0;
        };
        // In this order, so that the figure can only lag, never lead: a
        // spawn enters `live` before it takes its pid, and an exit enters
        // its class before it leaves `live` (which it leaves with a
        // release that the acquire load of `live` pairs with).
        let spawned = node.spawned();
        let live = node.live();
        let others: u64 = ExitClass::ALL[1..]
            .iter()
            .map(|c| self.exits[c.index()].get())
            .sum();
        let normal = spawned.saturating_sub(live).saturating_sub(others);
        self.normal_seen
            .fetch_max(normal, Ordering::Relaxed)
            .max(normal)
    }
}

impl Lifecycle for Hooks {
    fn exited(&self, pid: Pid, _name: Option<&str>, reason: &ExitReason) {
        // `normal` is derived when read (see `exits`).
        if !matches!(reason, ExitReason::Normal) {
            self.exits[ExitClass::of(reason).index()].add(1);
        }
        if self.grants_len.load(Ordering::Relaxed) != 0 {
            self.forget(pid);
        }
    }

    fn retired(&self, _pid: Pid, usage: &Usage) {
        // Most short-lived processes sent nothing and used no measurable
        // CPU: no write for them.
        if usage.messages_sent != 0 {
            self.retired_sent.add(usage.messages_sent);
        }
        if usage.cpu_ms != 0 {
            self.retired_cpu_ms.add(usage.cpu_ms);
        }
    }
}
